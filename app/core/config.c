/*
 * config.c: parser for the `key = value` configuration file (see config.h).
 * Paths in path-valued keys are made absolute against the file's directory.
 */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/text.h"

void config_defaults(config_t *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "unix:run/aispm.sock");
    c->socket_mode = 0660;
    c->backlog = 1024;
    c->http_workers = 4;
    c->job_workers = 1;
    c->max_requests = 50000;
    c->drain_timeout_ms = 10000;
    snprintf(c->pid_file, sizeof c->pid_file, "run/aispm.pid");
    snprintf(c->db_name, sizeof c->db_name, "aispm");
    snprintf(c->db_user, sizeof c->db_user, "aispm_app");
    snprintf(c->db_admin_user, sizeof c->db_admin_user, "root");
    c->db_port = 3306;
    snprintf(c->templates_dir, sizeof c->templates_dir, "templates");
    snprintf(c->artifacts_dir, sizeof c->artifacts_dir, "artifacts");
    snprintf(c->evidence_key, sizeof c->evidence_key, "keys/evidence-ed25519.pem");
    snprintf(c->package_key, sizeof c->package_key, "keys/package-rsa.pem");
    snprintf(c->package_cert, sizeof c->package_cert, "keys/package-rsa.crt");
    c->max_body_bytes = 1048576;
    c->json_max_depth = 32;
    c->cookie_secure = true;
    c->session_idle_timeout_s = 1800;
    c->session_absolute_timeout_s = 43200;
    c->login_window_s = 900;
    c->login_max_failures_per_account = 5;
    c->login_max_failures_per_client = 20;
    c->evidence_max_link_delay_ms = 5000;
    c->checkpoint_interval_s = 60;
    c->delivery_retry_base_ms = 30000;
    c->delivery_lock_s = 120;
    snprintf(c->public_url, sizeof c->public_url, "https://localhost");
    snprintf(c->log_level, sizeof c->log_level, "info");
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = 0;
    return s;
}

static int set_str(char *dst, size_t n, const char *v) {
    if (strlen(v) >= n) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_path(const config_t *c, char *dst, size_t n, const char *v) {
    if (v[0] == '/' || v[0] == 0) return set_str(dst, n, v);
    int k = snprintf(dst, n, "%s/%s", c->base_dir, v);
    return (k < 0 || (size_t)k >= n) ? -1 : 0;
}

static int set_long(long *dst, const char *v, long lo, long hi, int base) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, base);
    if (errno || *end || end == v || x < lo || x > hi) return -1;
    *dst = x;
    return 0;
}
static int set_int(int *dst, const char *v, long lo, long hi) {
    long x;
    if (set_long(&x, v, lo, hi, 10)) return -1;
    *dst = (int)x;
    return 0;
}
static int set_bool(bool *dst, const char *v) {
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) return *dst = true, 0;
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) return *dst = false, 0;
    return -1;
}

static int apply(config_t *c, const char *k, const char *v) {
    long l;
    if (!strcmp(k, "listen")) {
        if (!strncmp(v, "unix:", 5)) {
            char tmp[1024];
            if (set_path(c, tmp, sizeof tmp, v + 5)) return -1;
            int n = snprintf(c->listen, sizeof c->listen, "unix:%s", tmp);
            return (n < 0 || (size_t)n >= sizeof c->listen) ? -1 : 0;
        }
        if (!strncmp(v, "tcp:", 4)) return set_str(c->listen, sizeof c->listen, v);
        return -1;
    }
    if (!strcmp(k, "socket_group")) return set_str(c->socket_group, sizeof c->socket_group, v);
    if (!strcmp(k, "socket_mode")) {
        if (set_long(&l, v, 0, 0777, 8)) return -1;
        c->socket_mode = (unsigned)l;
        return 0;
    }
    if (!strcmp(k, "backlog")) return set_int(&c->backlog, v, 1, 65535);
    if (!strcmp(k, "http_workers")) return set_int(&c->http_workers, v, 1, 256);
    if (!strcmp(k, "job_workers")) return set_int(&c->job_workers, v, 0, 64);
    if (!strcmp(k, "max_requests")) return set_long(&c->max_requests, v, 0, LONG_MAX, 10);
    if (!strcmp(k, "drain_timeout_ms")) return set_int(&c->drain_timeout_ms, v, 0, 600000);
    if (!strcmp(k, "pid_file")) return set_path(c, c->pid_file, sizeof c->pid_file, v);
    if (!strcmp(k, "db_socket")) return set_path(c, c->db_socket, sizeof c->db_socket, v);
    if (!strcmp(k, "db_host")) return set_str(c->db_host, sizeof c->db_host, v);
    if (!strcmp(k, "db_port")) return set_int(&c->db_port, v, 1, 65535);
    if (!strcmp(k, "db_name")) return set_str(c->db_name, sizeof c->db_name, v);
    if (!strcmp(k, "db_user")) return set_str(c->db_user, sizeof c->db_user, v);
    if (!strcmp(k, "db_password_ref")) {
        if (*v && !secretref_valid(v, NULL)) return -1;
        return set_str(c->db_password_ref, sizeof c->db_password_ref, v);
    }
    if (!strcmp(k, "db_admin_user")) return set_str(c->db_admin_user, sizeof c->db_admin_user, v);
    if (!strcmp(k, "db_admin_password_ref")) {
        if (*v && !secretref_valid(v, NULL)) return -1;
        return set_str(c->db_admin_password_ref, sizeof c->db_admin_password_ref, v);
    }
    if (!strcmp(k, "templates_dir")) return set_path(c, c->templates_dir, sizeof c->templates_dir, v);
    if (!strcmp(k, "evidence_key")) return set_path(c, c->evidence_key, sizeof c->evidence_key, v);
    if (!strcmp(k, "artifacts_dir")) return set_path(c, c->artifacts_dir, sizeof c->artifacts_dir, v);
    if (!strcmp(k, "package_key")) return set_path(c, c->package_key, sizeof c->package_key, v);
    if (!strcmp(k, "package_cert")) return set_path(c, c->package_cert, sizeof c->package_cert, v);
    if (!strcmp(k, "max_body_bytes")) {
        if (set_long(&l, v, 1024, 64L * 1024 * 1024, 10)) return -1;
        c->max_body_bytes = (size_t)l;
        return 0;
    }
    if (!strcmp(k, "json_max_depth")) return set_int(&c->json_max_depth, v, 2, 1000);
    if (!strcmp(k, "cookie_secure")) return set_bool(&c->cookie_secure, v);
    if (!strcmp(k, "session_idle_timeout_s")) return set_int(&c->session_idle_timeout_s, v, 60, 86400);
    if (!strcmp(k, "session_absolute_timeout_s"))
        return set_int(&c->session_absolute_timeout_s, v, 300, 30 * 86400);
    if (!strcmp(k, "login_window_s")) return set_int(&c->login_window_s, v, 10, 86400);
    if (!strcmp(k, "login_max_failures_per_account"))
        return set_int(&c->login_max_failures_per_account, v, 1, 1000);
    if (!strcmp(k, "login_max_failures_per_client"))
        return set_int(&c->login_max_failures_per_client, v, 1, 100000);
    if (!strcmp(k, "evidence_max_link_delay_ms"))
        return set_int(&c->evidence_max_link_delay_ms, v, 100, 3600000);
    if (!strcmp(k, "checkpoint_interval_s")) return set_int(&c->checkpoint_interval_s, v, 1, 86400);
    if (!strcmp(k, "delivery_retry_base_ms")) return set_int(&c->delivery_retry_base_ms, v, 10, 3600000);
    if (!strcmp(k, "delivery_lock_s")) return set_int(&c->delivery_lock_s, v, 3, 3600);
    if (!strcmp(k, "public_url")) {
        if (strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) return -1;
        return set_str(c->public_url, sizeof c->public_url, v);
    }
    if (!strcmp(k, "egress_private_networks")) return set_bool(&c->egress_private_networks, v);
    if (!strcmp(k, "smtp_ca_file")) return *v ? set_path(c, c->smtp_ca_file, sizeof c->smtp_ca_file, v) : 0;
    if (!strcmp(k, "log_level")) {
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error")) return -1;
        return set_str(c->log_level, sizeof c->log_level, v);
    }
    return -2;
}

int config_load(const char *path, config_t *c, char *err, size_t errlen) {
    config_defaults(c);
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return AISPM_EIO;
    }
    if (strlen(abs) >= sizeof c->path) {
        snprintf(err, errlen, "configuration path is too long");
        return AISPM_EINVAL;
    }
    memcpy(c->path, abs, strlen(abs) + 1);
    memcpy(c->base_dir, abs, strlen(abs) + 1);
    char *slash = strrchr(c->base_dir, '/');
    if (slash) *slash = 0;
    /* defaults with relative paths resolve against the file's directory too */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", c->listen);
    apply(c, "listen", tmp);
    snprintf(tmp, sizeof tmp, "%s", c->pid_file);
    apply(c, "pid_file", tmp);
    snprintf(tmp, sizeof tmp, "%s", c->templates_dir);
    apply(c, "templates_dir", tmp);
    snprintf(tmp, sizeof tmp, "%s", c->evidence_key);
    apply(c, "evidence_key", tmp);
    snprintf(tmp, sizeof tmp, "%s", c->artifacts_dir);
    apply(c, "artifacts_dir", tmp);
    snprintf(tmp, sizeof tmp, "%s", c->package_key);
    apply(c, "package_key", tmp);
    snprintf(tmp, sizeof tmp, "%s", c->package_cert);
    apply(c, "package_cert", tmp);

    FILE *f = fopen(abs, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", abs, strerror(errno));
        return AISPM_EIO;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected key = value", abs, lineno);
            rc = AISPM_EINVAL;
            break;
        }
        *eq = 0;
        char *k = trim(s), *v = trim(eq + 1);
        int r = apply(c, k, v);
        if (r == -2) {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", abs, lineno, k);
            rc = AISPM_EINVAL;
            break;
        }
        if (r) {
            snprintf(err, errlen, "%s:%d: invalid value for '%s'", abs, lineno, k);
            rc = AISPM_EINVAL;
            break;
        }
    }
    fclose(f);
    return rc;
}

int secret_resolve(const char *ref, char *out, size_t outlen) {
    if (!ref || !*ref) {
        if (outlen) out[0] = 0;
        return 0;
    }
    if (!secretref_valid(ref, NULL)) return AISPM_EINVAL;
    if (!strncmp(ref, "env:", 4)) {
        const char *v = getenv(ref + 4);
        if (!v) return AISPM_ENOTFOUND;
        if (strlen(v) >= outlen) return AISPM_EINVAL;
        memcpy(out, v, strlen(v) + 1);
        return 0;
    }
    FILE *f = fopen(ref + 5, "r");
    if (!f) return AISPM_ENOTFOUND;
    size_t n = fread(out, 1, outlen - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    if (more) return AISPM_EINVAL;
    out[n] = 0;
    if (n && out[n - 1] == '\n') out[--n] = 0;
    if (n && out[n - 1] == '\r') out[--n] = 0;
    return 0;
}
