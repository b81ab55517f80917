/*
 * worker.c: request pipeline and worker loops.
 *
 * Pipeline: read params and bounded body -> route -> resolve actor -> licence
 * -> RBAC permission (+ token scope) -> CSRF for cookie-authenticated state
 * changes -> handler -> one write of the buffered response. Every failure is a
 * problem response with a stable code; nothing reaches the client unbuffered.
 *
 * Signals: the HTTP worker blocks SIGTERM/SIGUSR1/SIGHUP except inside
 * ppoll(), so a signal can never interrupt libfcgi half-way through reading or
 * writing a request. On SIGTERM the master has already unlinked the socket
 * path (no new connections can arrive); the worker finishes its request,
 * serves whatever is still queued in the listen backlog, then exits 0.
 */
#include "server/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "core/err.h"
#include "core/log.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "reports/approvals.h"
#include "reports/delivery.h"
#include "reports/renderer.h"
#include "reports/scheduler.h"
#include "reports/retention.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/router.h"

static volatile sig_atomic_t g_stop;   /* SIGTERM: drain and exit */
static volatile sig_atomic_t g_retire; /* SIGUSR1/SIGHUP: exit after current request */

static void on_term(int sig) { (void)sig, g_stop = 1; }
static void on_retire(int sig) { (void)sig, g_retire = 1; }

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *param(FCGX_Request *fx, const char *name) { return FCGX_GetParam(name, fx->envp); }

static void write_response(req_t *r) {
    FCGX_Stream *o = r->fx->out;
    char line[96];
    /* libfcgi's FCGX_FPrintF lacks C99 length modifiers: format here */
    snprintf(line, sizeof line, "Status: %d %s\r\n", r->status, http_reason(r->status));
    FCGX_PutS(line, o);
    if (!strstr(buf_cstr(&r->headers), "Cache-Control:")) FCGX_PutS("Cache-Control: no-store\r\n", o);
    if (r->headers.len) FCGX_PutStr(r->headers.data, (int)r->headers.len, o);
    snprintf(line, sizeof line, "Content-Length: %zu\r\n\r\n", strcmp(r->method, "HEAD") ? r->out.len : (size_t)0);
    FCGX_PutS(line, o);
    if (r->out.len && strcmp(r->method, "HEAD")) FCGX_PutStr(r->out.data, (int)r->out.len, o);
}

static bool read_body(req_t *r) {
    const char *cl = param(r->fx, "CONTENT_LENGTH");
    long long n = cl && *cl ? strtoll(cl, NULL, 10) : 0;
    if (n <= 0) return true;
    if ((size_t)n > r->app->cfg.max_body_bytes) {
        r->body_too_large = true;
        return true;
    }
    r->body = xmalloc((size_t)n + 1);
    int got = FCGX_GetStr(r->body, (int)n, r->fx->in);
    if (got != n) return false;
    r->body[n] = 0;
    r->body_len = (size_t)n;
    return true;
}

static bool is_state_change(const char *m) { return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS"); }

static void dispatch(req_t *r) {
    if (!read_body(r)) {
        resp_problem(r, 400, "bad_request", "the request body could not be read", NULL);
        return;
    }
    if (!utf8_valid(r->path, strlen(r->path)) || (r->query && !utf8_valid(r->query, strlen(r->query)))) {
        resp_problem(r, 400, "invalid_utf8", "the request target is not valid UTF-8", NULL);
        return;
    }
    char allow[64];
    int m = router_match(r, r->method, r->path, allow, sizeof allow);
    if (m == AISPM_ENOTFOUND) {
        resp_problem(r, 404, "not_found", "no such resource", NULL);
        return;
    }
    if (m == AISPM_ECONFLICT) {
        /* after resp_problem, which starts the response's headers afresh */
        resp_problem(r, 405, "method_not_allowed", "this method is not allowed on this resource", NULL);
        resp_header(r, "Allow", allow);
        return;
    }
    if (r->body_too_large) {
        resp_problem(r, 413, "payload_too_large", "the request body is too large", NULL);
        return;
    }
    const route_t *rt = r->route;
    if (rt->perm == PERM_PUBLIC) {
        /* public routes still learn who is asking (login page, home redirect) */
        auth_resolve(r);
        rt->handler(r);
        return;
    }
    int rc = auth_resolve(r);
    if (rc == AISPM_EDB) {
        resp_error(r, rc);
        return;
    }
    if (rc || r->actor.kind == ACTOR_NONE) {
        if (rt->flags & ROUTE_PORTAL) {
            char next[600];
            snprintf(next, sizeof next, "/portal/login?next=%s", strcmp(r->method, "GET") ? "/portal/" : r->path);
            resp_redirect(r, next);
            return;
        }
        resp_problem(r, 401, "unauthenticated",
                     rc ? "the presented credential is invalid, expired or revoked"
                        : "sign in or present a bearer token",
                     NULL);
        resp_header(r, "WWW-Authenticate", "Bearer realm=\"aispm\"");
        return;
    }
    if (!r->actor.licence_ok) {
        resp_problem(r, 403, "licence_inactive", "the tenant's licence or trial is revoked, expired or suspended",
                     NULL);
        return;
    }
    if (!rbac_role_has(r->actor.role, rt->perm)) {
        resp_problem(r, 403, "forbidden", "your role does not allow this action", NULL);
        return;
    }
    if (r->actor.kind == ACTOR_TOKEN) {
        unsigned need = rbac_perm_scope(rt->perm);
        if (need && !(r->actor.scopes & need)) {
            resp_problem(r, 403, "insufficient_scope", "the token's scopes do not cover this action", NULL);
            return;
        }
    }
    if (is_state_change(r->method) && !(rt->flags & ROUTE_NO_CSRF) && !auth_csrf_ok(r)) {
        resp_problem(r, 403, "csrf_failed", "the form is missing its CSRF token or it has expired; reload and retry",
                     NULL);
        return;
    }
    rt->handler(r);
}

static int route_index(const route_t *rt) {
    if (!rt) return -1;
    for (int i = 0; i < router_count(); i++)
        if (router_at(i) == rt) return i;
    return -1;
}

void http_handle(app_t *app, FCGX_Request *fx) {
    req_t r;
    memset(&r, 0, sizeof r);
    r.fx = fx;
    r.app = app;
    r.start_us = now_us();
    r.status = 200;
    r.method = param(fx, "REQUEST_METHOD");
    if (!r.method) r.method = "GET";
    const char *uri = param(fx, "DOCUMENT_URI");
    if (!uri) uri = param(fx, "REQUEST_URI");
    if (!uri) uri = "/";
    r.path_buf = xstrndup(uri, strcspn(uri, "?"));
    r.path = r.path_buf;
    r.query = param(fx, "QUERY_STRING");
    r.content_type = param(fx, "CONTENT_TYPE");
    r.cookie = param(fx, "HTTP_COOKIE");
    r.authorization = param(fx, "HTTP_AUTHORIZATION");
    r.remote_addr = param(fx, "REMOTE_ADDR");
    r.user_agent = param(fx, "HTTP_USER_AGENT");
    r.accept = param(fx, "HTTP_ACCEPT");
    r.idempotency_key = param(fx, "HTTP_IDEMPOTENCY_KEY");
    r.csrf_header = param(fx, "HTTP_X_CSRF_TOKEN");
    const char *rid = param(fx, "HTTP_X_REQUEST_ID");
    snprintf(r.request_id, sizeof r.request_id, "%s", rid && strlen(rid) < 64 ? rid : "");
    for (char *p = r.request_id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-'))
            *p = '_';
    log_set_request_id(r.request_id);

    dispatch(&r);
    write_response(&r);

    int64_t dur = now_us() - r.start_us;
    metrics_observe(route_index(r.route), r.status, dur);
    if (r.status >= 500 || app->cfg.log_level[0] == 'd') {
        json_object *f = json_object_new_object();
        json_object_object_add(f, "method", json_object_new_string(r.method));
        json_object_object_add(f, "route", json_object_new_string(r.route ? r.route->name : "unmatched"));
        json_object_object_add(f, "status", json_object_new_int(r.status));
        json_object_object_add(f, "duration_us", json_object_new_int64(dur));
        log_event(r.status >= 500 ? LOG_ERROR : LOG_DEBUG, "request", f);
    }
    log_set_request_id("");
    free(r.body);
    free(r.path_buf);
    buf_free(&r.headers);
    buf_free(&r.out);
}

int http_worker_run(app_t *app, int listen_fd) {
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_retire;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t waitmask = orig;
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGHUP);
    sigdelset(&waitmask, SIGINT);

    /* non-blocking listener: several workers wake for one connection; the
     * losers get EAGAIN from accept and go back to waiting */
    fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    FCGX_Request fx;
    FCGX_InitRequest(&fx, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
    long served = 0;
    int ppid = getppid();
    while (!g_retire) {
        if (!g_stop) {
            struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
            struct timespec ts = {1, 0};
            int pr = ppoll(&pfd, 1, &ts, &waitmask);
            if (getppid() != ppid) break; /* master died: do not linger */
            if (pr <= 0) continue;        /* timeout or signal: re-check flags */
        }
        int rc = FCGX_Accept_r(&fx);
        if (rc < 0) {
            if (g_stop) break; /* backlog drained */
            continue;          /* EAGAIN: another worker took it */
        }
        http_handle(app, &fx);
        FCGX_Finish_r(&fx);
        if (app->cfg.max_requests && ++served >= app->cfg.max_requests) {
            log_msg(LOG_INFO, "worker_recycle", "served %ld requests; exiting to be replaced", served);
            break;
        }
    }
    FCGX_Free(&fx, 1);
    return 0;
}

#define RETENTION_SWEEP_INTERVAL_MS 60000

static volatile sig_atomic_t g_job_stop;
static void on_job_stop(int sig) { (void)sig, g_job_stop = 1; }

int job_worker_run(app_t *app) {
    struct sigaction sa = {0};
    sa.sa_handler = on_job_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signing_key_t *key = NULL;
    if (key_load(app->cfg.evidence_key, &key) != 0) {
        log_msg(LOG_WARN, "job_worker", "evidence key not loadable; checkpoints are not signed until it exists");
        key = NULL;
    }
    /* report templates (templates/reports/) for the render jobs; SIGHUP
     * replaces job workers, so a reload reaches them too */
    char terr[512];
    if (!app->tmpl && tmpl_set_load(app->cfg.templates_dir, &app->tmpl, terr, sizeof terr) != 0) {
        log_msg(LOG_ERROR, "job_worker", "templates: %s; html and markdown renders fail until fixed", terr);
        app->tmpl = NULL;
    }
    int ppid = getppid();
    int64_t last_cp = 0, last_sched = 0, last_sweep = 0;
    while (!g_job_stop && getppid() == ppid) {
        int rendered = 0;
        if (renderer_run_pending(app->db, &app->cfg, app->tmpl, 4, &rendered) != 0) rendered = 0;
        int delivered = 0, expired = 0;
        if (delivery_run_pending(app->db, &app->cfg, 8, &delivered) != 0) delivered = 0;
        if (approvals_expire_due(app->db, 16, &expired) != 0) expired = 0;
        int linked = 0;
        if (evidence_link_pending(app->db, 0, 1000, &linked) != 0) linked = 0;
        int64_t now = monotonic_ms();
        /* report schedules: due occurrences, deferred runs, finished renders,
         * retries (exactly once across workers: see reports/scheduler.h) */
        if (now - last_sched >= 1000) {
            scheduler_tick(app->db, now_ms(), NULL);
            last_sched = now;
        }
        if (key && now - last_cp >= 1000) {
            evidence_checkpoint(app->db, key, 0, app->cfg.checkpoint_interval_s, NULL);
            last_cp = now;
        }
        /* retention: archive what expired (unless on legal hold), expire
         * undecided requests, purge deleted content — once a minute */
        if (now - last_sweep >= RETENTION_SWEEP_INTERVAL_MS) {
            retention_sweep_stats_t st;
            if (retention_sweep(app->db, &app->cfg, 0, now_ms(), &st) == 0 &&
                (st.archived || st.requests_expired || st.purged))
                log_msg(LOG_INFO, "retention_sweep", "archived %d, requests expired %d, purged %d", st.archived,
                        st.requests_expired, st.purged);
            last_sweep = now;
        }
        if (linked < 1000 && rendered == 0 && delivered == 0) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    key_free(key);
    tmpl_set_free(app->tmpl);
    app->tmpl = NULL;
    return 0;
}
