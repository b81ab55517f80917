/*
 * http.h: one FastCGI request and its response, and the application context
 * a worker process serves it with.
 *
 * A request is read whole (bounded body) before routing; the response is
 * built in memory and written once, so a handler that fails half-way can
 * still answer with a clean problem+json instead of a torn page.
 */
#ifndef AISPM_SERVER_HTTP_H
#define AISPM_SERVER_HTTP_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/ref.h"
#include "db/db.h"
#include "render/template.h"
#include "server/rbac.h"

typedef struct metrics metrics_t;
typedef struct catalog_cache catalog_cache_t;
typedef struct auth_cache auth_cache_t;

/* per-process application context (one per worker) */
typedef struct app {
    config_t cfg;
    db_t *db;
    tmpl_set_t *tmpl;
    metrics_t *metrics; /* shared memory, owned by the master */
    int worker_index;
    catalog_cache_t *catalog_cache; /* serialized catalog projections (reports/catalog.c) */
    auth_cache_t *auth_cache;       /* recently resolved bearer tokens (server/auth.c) */
} app_t;

typedef enum { ACTOR_NONE = 0, ACTOR_SESSION, ACTOR_TOKEN, ACTOR_SYSTEM } actor_kind_t;

/* who is asking: always derived from a session cookie or a bearer token,
 * never from the request body */
typedef struct actor {
    actor_kind_t kind;
    long long tenant_id;
    char tenant_ref[REF_MAX];
    char tenant_slug[64];
    char tenant_name[201];
    char reports_disabled[2049];
    bool licence_ok;
    long long user_id;
    char user_ref[REF_MAX];
    char role[33];
    char display_name[201];
    unsigned scopes;      /* tokens only */
    long long session_id; /* sessions only */
    long long token_id;   /* tokens only */
    char token_ref[REF_MAX];
    char csrf[48];        /* sessions only */
} actor_t;

#define ROUTE_MAX_PARAMS 4

typedef struct route route_t;

typedef struct req {
    FCGX_Request *fx;
    app_t *app;
    /* request */
    const char *method;
    const char *path; /* decoded-free raw path, without query */
    char *path_buf;
    const char *query;
    const char *content_type;
    const char *cookie;
    const char *authorization;
    const char *remote_addr;
    const char *user_agent;
    const char *accept;
    const char *idempotency_key;
    const char *csrf_header;
    char request_id[64];
    char *body;
    size_t body_len;
    bool body_too_large;
    /* routing */
    const route_t *route;
    const char *param_names[ROUTE_MAX_PARAMS];
    char params[ROUTE_MAX_PARAMS][160];
    int nparams;
    /* auth */
    actor_t actor;
    /* response */
    int status;
    buf_t headers;
    buf_t out;
    int64_t start_us;
} req_t;

/* ---- request helpers ---- */
const char *req_param(const req_t *r, const char *name); /* path parameter or NULL */
/* query-string or form (application/x-www-form-urlencoded body) value,
 * percent-decoded into out; returns false when absent */
bool req_query(const req_t *r, const char *name, char *out, size_t outlen);
bool req_form(const req_t *r, const char *name, char *out, size_t outlen);
/* multipart/form-data (RFC 7578), parsed strictly: a boundary of 1-70
 * characters, no preamble, CRLF line ends, each part with exactly one
 * Content-Disposition "form-data; name=..." (optional filename) and at most a
 * Content-Type besides, headers <= 1 KiB, <= MULTIPART_MAX_PARTS parts, and
 * nothing but an optional CRLF after the closing delimiter. req_form also
 * reads the text (non-file) parts of such a body. */
#define MULTIPART_MAX_PARTS 16
typedef struct {
    char name[65];
    char filename[256];
    bool is_file;
    const char *data; /* points into the body */
    size_t len;
} multipart_part_t;
/* 0 and *n parts, or AISPM_EINVAL for a body that is not well-formed */
int multipart_parse(const char *content_type, const char *body, size_t len, multipart_part_t *parts, int max, int *n);
bool req_is_multipart(const req_t *r);
/* the file part `name` of a multipart body (data may be empty); false when absent */
bool req_file(const req_t *r, const char *name, const char **data, size_t *len);
bool req_cookie(const req_t *r, const char *name, char *out, size_t outlen);
bool req_is_json(const req_t *r);
bool req_is_form(const req_t *r);
bool req_wants_html(const req_t *r);
/* parses the body as JSON with the configured depth limit; on failure the
 * problem response has been written and false is returned */
bool req_json_body(req_t *r, json_object **out);

/* ---- response helpers ---- */
const char *http_reason(int status); /* RFC 9110 reason phrase */
void resp_header(req_t *r, const char *name, const char *value);
void resp_json(req_t *r, int status, json_object *body); /* takes ownership */
void resp_html(req_t *r, int status, const char *html, size_t len);
void resp_text(req_t *r, int status, const char *ctype, const char *body, size_t len);
void resp_redirect(req_t *r, const char *location); /* 303 See Other */
/* 200 with stored bytes as a download: Content-Disposition attachment with
 * filename (the caller guarantees [A-Za-z0-9_.-] only), ETag "sha256-<hex>",
 * <digest_header>: <hex> and Cache-Control private, no-store */
void resp_attachment(req_t *r, const char *ctype, const buf_t *bytes, const char *filename, const char *digest,
                     const char *digest_header);
/* renders templates/<name> inside templates/layout with the standard page
 * context (actor, nav, csrf, flash) merged into data; takes ownership */
void resp_page(req_t *r, int status, const char *tmpl, const char *title, json_object *data);
/* RFC 9457 problem+json (or an HTML error page for portal routes). `errors`
 * (field -> message object, may be NULL) is attached as "errors"; takes
 * ownership of errors. */
void resp_problem(req_t *r, int status, const char *code, const char *detail, json_object *errors);
/* the same with extra members (an object whose members are added to the
 * problem, e.g. per-item "results"); takes ownership of errors and extra */
void resp_problem_ext(req_t *r, int status, const char *code, const char *detail, json_object *errors,
                      json_object *extra);
/* maps an AISPM_E* code to a problem response */
void resp_error(req_t *r, int err);
/* the common end of a JSON read handler: 200 with o when rc is 0, else the
 * problem for rc (o, if any, is released); takes ownership of o */
void resp_result(req_t *r, int rc, json_object *o);
/* 422 validation_failed naming `cursor` (not a next_cursor of a previous page) */
void resp_bad_cursor(req_t *r);
/* a keyset-paginated list read: ?cursor&limit (default 25) passed to list(),
 * 422 for a cursor list() refuses (AISPM_EINVAL), else resp_result */
typedef int (*list_fn)(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out);
void resp_list(req_t *r, list_fn list);
/* Set-Cookie with the standard attributes (HttpOnly, SameSite=Strict, Path=/,
 * Secure unless cookie_secure=false); max_age < 0 deletes the cookie */
void resp_cookie(req_t *r, const char *name, const char *value, long max_age);

#endif
