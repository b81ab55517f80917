/*
 * master.c: prefork supervisor.
 *
 * Opens the FastCGI socket, forks N HTTP workers and M job workers, and keeps
 * that many alive: a child that exits abnormally is replaced after a backoff
 * that grows with consecutive crashes (100 ms .. 10 s, reset after 10 s of
 * good health); a child that exits normally (request-count recycling) is
 * replaced at once.
 *   SIGHUP  re-read the configuration, then replace workers one generation at
 *           a time: new workers are forked first, old ones are told to retire
 *           after their current request; the listening socket never closes,
 *           so no request is dropped.
 *   SIGTERM unlink the socket path (new connections fail fast at nginx), tell
 *           workers to drain the backlog and exit, wait drain_timeout_ms, kill
 *           stragglers, exit 0.
 * The master holds no database connection and serves no request.
 */
#include "server/master.h"

#include <errno.h>
#include <fcgiapp.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/migrate.h"
#include "reports/catalog.h"
#include "server/metrics.h"
#include "server/router.h"
#include "server/worker.h"

#define MAX_CHILDREN 320

typedef struct {
    pid_t pid;
    int kind; /* 0 http, 1 job */
    int crashes;
    int64_t started_ms;
    int64_t respawn_at_ms; /* 0 = not waiting */
} slot_t;

static volatile sig_atomic_t g_term, g_hup, g_chld;
static void on_sig(int s) {
    if (s == SIGTERM || s == SIGINT) g_term = 1;
    else if (s == SIGHUP) g_hup = 1;
    else if (s == SIGCHLD) g_chld = 1;
}

static config_t g_cfg;
static metrics_t *g_metrics;
static int g_listen_fd = -1;
static slot_t g_slots[MAX_CHILDREN];
static int g_nslots;
static pid_t g_retired[MAX_CHILDREN]; /* older generations still finishing */

static int open_listener(const config_t *cfg) {
    if (!strncmp(cfg->listen, "unix:", 5)) {
        const char *path = cfg->listen + 5;
        unlink(path);
        mode_t old = umask(0077);
        int fd = FCGX_OpenSocket(path, cfg->backlog);
        umask(old);
        if (fd < 0) return -1;
        if (chmod(path, cfg->socket_mode) != 0) log_msg(LOG_WARN, "listen", "chmod %s failed", path);
        if (cfg->socket_group[0]) {
            struct group *g = getgrnam(cfg->socket_group);
            if (!g || chown(path, (uid_t)-1, g->gr_gid) != 0)
                log_msg(LOG_WARN, "listen", "cannot give the socket to group %s", cfg->socket_group);
        }
        return fd;
    }
    return FCGX_OpenSocket(cfg->listen + 4, cfg->backlog); /* "tcp:host:port" -> "host:port" */
}

static void child_main(int kind) {
    /* restore default dispositions; the worker installs its own */
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    log_set_proc(kind == 0 ? "http" : "job");
    metrics_set_current(g_metrics);
    app_t app = {0};
    app.cfg = g_cfg;
    app.metrics = g_metrics;
    if (db_connect(&app.cfg, false, true, &app.db) != 0) {
        log_msg(LOG_ERROR, "worker_start", "database connection failed");
        _exit(3);
    }
    /* code and schema move together (e.g. evidence queueing by trigger since
     * migration 002): a worker never serves against another schema version */
    bool current = false;
    if (db_schema_current(app.db, &current) != 0 || !current) {
        log_msg(LOG_ERROR, "worker_start", "database schema is not at version %d: run `aispm admin migrate`",
                db_latest_version());
        db_close(app.db);
        _exit(3);
    }
    int rc;
    if (kind == 0) {
        char err[512];
        if (tmpl_set_load(app.cfg.templates_dir, &app.tmpl, err, sizeof err) != 0) {
            log_msg(LOG_ERROR, "worker_start", "templates: %s", err);
            _exit(4);
        }
        rc = http_worker_run(&app, g_listen_fd);
        tmpl_set_free(app.tmpl);
        catalog_cache_free(app.catalog_cache);
        free(app.auth_cache);
    } else {
        close(g_listen_fd);
        rc = job_worker_run(&app);
    }
    db_close(app.db);
    _exit(rc);
}

static pid_t spawn(int kind) {
    pid_t pid = fork();
    if (pid == 0) child_main(kind);
    return pid;
}

static void start_slot(slot_t *s) {
    s->pid = spawn(s->kind);
    s->started_ms = monotonic_ms();
    s->respawn_at_ms = 0;
    if (s->pid < 0) {
        s->pid = 0;
        s->respawn_at_ms = monotonic_ms() + 1000;
    }
}

static void reap(bool stopping) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < g_nslots; i++) {
            slot_t *s = &g_slots[i];
            if (s->pid != pid) continue;
            s->pid = 0;
            if (stopping) break;
            bool crashed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
            int64_t now = monotonic_ms();
            if (crashed) {
                metrics_worker_restart();
                if (now - s->started_ms > 10000) s->crashes = 0;
                int64_t delay = 100LL << (s->crashes < 7 ? s->crashes : 7);
                if (delay > 10000) delay = 10000;
                s->crashes++;
                s->respawn_at_ms = now + delay;
                json_object *f = json_object_new_object();
                json_object_object_add(f, "child_pid", json_object_new_int(pid));
                json_object_object_add(f, "kind", json_object_new_string(s->kind ? "job" : "http"));
                if (WIFSIGNALED(status)) json_object_object_add(f, "signal", json_object_new_int(WTERMSIG(status)));
                else json_object_object_add(f, "exit_status", json_object_new_int(WEXITSTATUS(status)));
                json_object_object_add(f, "respawn_in_ms", json_object_new_int64(delay));
                log_event(LOG_WARN, "worker_crashed", f);
            } else {
                s->respawn_at_ms = now; /* recycled: replace at once */
            }
            break;
        }
        for (int i = 0; i < MAX_CHILDREN; i++)
            if (g_retired[i] == pid) g_retired[i] = 0;
    }
}

static void write_pid_file(const char *path) {
    if (!path[0]) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "%d\n", getpid());
    fclose(f);
}

static void reload(const char *config_path) {
    config_t next;
    char err[512];
    if (config_load(config_path, &next, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "reload_failed", "%s; keeping the running configuration", err);
        return;
    }
    /* the listener and the process counts stay as they are until restart */
    snprintf(next.listen, sizeof next.listen, "%s", g_cfg.listen);
    next.http_workers = g_cfg.http_workers;
    next.job_workers = g_cfg.job_workers;
    g_cfg = next;
    log_level_t lvl;
    if (log_level_parse(g_cfg.log_level, &lvl) == 0) log_set_level(lvl);
    /* new generation first, then retire the old one */
    pid_t old[MAX_CHILDREN];
    for (int i = 0; i < g_nslots; i++) {
        old[i] = g_slots[i].pid;
        start_slot(&g_slots[i]);
    }
    for (int i = 0; i < g_nslots; i++) {
        if (old[i] <= 0) continue;
        kill(old[i], SIGUSR1);
        for (int j = 0; j < MAX_CHILDREN; j++)
            if (!g_retired[j]) {
                g_retired[j] = old[i];
                break;
            }
    }
    log_msg(LOG_INFO, "reloaded", "configuration and templates reloaded; %d workers replaced", g_nslots);
}

int master_run(const char *config_path) {
    char err[512];
    log_set_proc("master");
    if (config_load(config_path, &g_cfg, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "config", "%s", err);
        return 2;
    }
    log_level_t lvl;
    if (log_level_parse(g_cfg.log_level, &lvl) == 0) log_set_level(lvl);
    if (router_init(aispm_routes, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "routes", "%s", err);
        return 2;
    }
    /* fail before forking if templates do not compile */
    tmpl_set_t *probe = NULL;
    if (tmpl_set_load(g_cfg.templates_dir, &probe, err, sizeof err) != 0) {
        log_msg(LOG_ERROR, "templates", "%s", err);
        return 2;
    }
    tmpl_set_free(probe);
    if (!g_cfg.cookie_secure)
        log_msg(LOG_WARN, "insecure_cookies",
                "cookie_secure = false: session cookies lack the Secure flag; allowed only for a plain-HTTP "
                "loopback development stack");
    g_metrics = metrics_create();
    metrics_set_current(g_metrics);
    FCGX_Init();
    g_listen_fd = open_listener(&g_cfg);
    if (g_listen_fd < 0) {
        log_msg(LOG_ERROR, "listen", "cannot listen on %s", g_cfg.listen);
        return 1;
    }
    write_pid_file(g_cfg.pid_file);

    struct sigaction sa = {0};
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &orig);

    g_nslots = g_cfg.http_workers + g_cfg.job_workers;
    if (g_nslots > MAX_CHILDREN) g_nslots = MAX_CHILDREN;
    for (int i = 0; i < g_nslots; i++) {
        g_slots[i].kind = i < g_cfg.http_workers ? 0 : 1;
        start_slot(&g_slots[i]);
    }
    json_object *f = json_object_new_object();
    json_object_object_add(f, "listen", json_object_new_string(g_cfg.listen));
    json_object_object_add(f, "http_workers", json_object_new_int(g_cfg.http_workers));
    json_object_object_add(f, "job_workers", json_object_new_int(g_cfg.job_workers));
    log_event(LOG_INFO, "started", f);

    while (!g_term) {
        struct timespec ts = {0, 100 * 1000000L};
        sigset_t waitmask = orig;
        pselect(0, NULL, NULL, NULL, &ts, &waitmask);
        if (g_chld) {
            g_chld = 0;
            reap(false);
        }
        if (g_hup) {
            g_hup = 0;
            reload(config_path);
        }
        int64_t now = monotonic_ms();
        for (int i = 0; i < g_nslots; i++)
            if (!g_slots[i].pid && g_slots[i].respawn_at_ms && now >= g_slots[i].respawn_at_ms)
                start_slot(&g_slots[i]);
    }

    /* graceful stop */
    log_msg(LOG_INFO, "stopping", "draining workers (up to %d ms)", g_cfg.drain_timeout_ms);
    if (!strncmp(g_cfg.listen, "unix:", 5)) unlink(g_cfg.listen + 5);
    close(g_listen_fd);
    for (int i = 0; i < g_nslots; i++)
        if (g_slots[i].pid > 0) kill(g_slots[i].pid, SIGTERM);
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_retired[i] > 0) kill(g_retired[i], SIGTERM);
    int64_t deadline = monotonic_ms() + g_cfg.drain_timeout_ms;
    bool killed = false;
    for (;;) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p < 0 && errno == ECHILD) break;
        if (p > 0) {
            for (int i = 0; i < g_nslots; i++)
                if (g_slots[i].pid == p) g_slots[i].pid = 0;
            for (int i = 0; i < MAX_CHILDREN; i++)
                if (g_retired[i] == p) g_retired[i] = 0;
            continue;
        }
        if (!killed && monotonic_ms() >= deadline) {
            log_msg(LOG_WARN, "drain_timeout", "killing workers still running after the drain timeout");
            for (int i = 0; i < g_nslots; i++)
                if (g_slots[i].pid > 0) kill(g_slots[i].pid, SIGKILL);
            for (int i = 0; i < MAX_CHILDREN; i++)
                if (g_retired[i] > 0) kill(g_retired[i], SIGKILL);
            killed = true;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (g_cfg.pid_file[0]) unlink(g_cfg.pid_file);
    log_msg(LOG_INFO, "stopped", "all workers exited");
    return 0;
}
