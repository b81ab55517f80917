/*
 * config.h: the application's configuration (conf/aispm.conf.example documents
 * every key). Loaded once per process generation; the master re-reads it on
 * SIGHUP and hands the new copy to the workers it forks.
 */
#ifndef AISPM_CORE_CONFIG_H
#define AISPM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char path[1024];    /* absolute path of the file loaded */
    char base_dir[1024];/* its directory: relative paths resolve against it */

    char listen[1024];  /* "unix:/abs/path" or "tcp:host:port" */
    char socket_group[64];
    unsigned socket_mode;
    int backlog;

    int http_workers;
    int job_workers;
    long max_requests;
    int drain_timeout_ms;
    char pid_file[1024];

    char db_socket[1024];
    char db_host[256];
    int db_port;
    char db_name[64];
    char db_user[64];
    char db_password_ref[600];
    char db_admin_user[64];
    char db_admin_password_ref[600];

    char templates_dir[1024];
    char evidence_key[1024];
    char artifacts_dir[1024]; /* rendered report artifacts, content-addressed */
    char package_key[1024];   /* RSA key signing export package manifests (JWS, XML-DSig) */
    char package_cert[1024];  /* its self-signed X.509 certificate (public, PEM) */

    size_t max_body_bytes;
    int json_max_depth;
    bool cookie_secure;
    int session_idle_timeout_s;
    int session_absolute_timeout_s;

    int login_window_s;
    int login_max_failures_per_account;
    int login_max_failures_per_client;

    int evidence_max_link_delay_ms;
    int checkpoint_interval_s;

    /* delivery (reports/delivery.c) */
    int delivery_retry_base_ms; /* first retry delay; doubles per attempt, plus jitter */
    int delivery_lock_s;        /* a claimed delivery job is re-claimed after this (crashed worker) */
    char public_url[512];       /* portal base URL used in e-mailed links */
    bool egress_private_networks; /* providers may connect to loopback/private/link-local addresses */
    char smtp_ca_file[1024];    /* extra CA bundle for SMTP/webhook TLS; "" = system store */

    char log_level[16];
} config_t;

/* defaults, then the file; unknown keys and malformed values are errors
 * (message in err) so a typo never silently falls back to a default */
int config_load(const char *path, config_t *cfg, char *err, size_t errlen);
void config_defaults(config_t *cfg);

/* Resolves a secret reference (env:NAME / file:/abs) into out. The value is
 * never logged; file contents have one trailing newline stripped. */
int secret_resolve(const char *ref, char *out, size_t outlen);

#endif
