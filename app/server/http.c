/*
 * http.c: request accessors and response builders (see http.h).
 *
 * Invariants: every response carries Content-Type and Cache-Control; error
 * responses are RFC 9457 problem+json with a stable `code` (HTML pages for
 * portal routes) and never include internal details; request values are
 * bounded before use.
 */
#include "server/http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/text.h"
#include "server/router.h"

/* ---------------------------------------------------------------- request */

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* finds name in an &-separated list and percent-decodes its value */
static bool kv_lookup(const char *s, size_t slen, const char *name, char *out, size_t outlen) {
    size_t nlen = strlen(name);
    const char *p = s, *end = s + slen;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *k_end = eq ? eq : e;
        if ((size_t)(k_end - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : e; v < e; v++) {
                int c = (unsigned char)*v;
                if (c == '+') c = ' ';
                else if (c == '%' && v + 2 < e && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    c = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                }
                if (o + 1 >= outlen) return false; /* too long: treat as absent */
                out[o++] = (char)c;
            }
            out[o] = 0;
            return utf8_valid(out, o) && strlen(out) == o;
        }
        p = e + 1;
    }
    return false;
}

bool req_query(const req_t *r, const char *name, char *out, size_t outlen) {
    return r->query && kv_lookup(r->query, strlen(r->query), name, out, outlen);
}

static bool ctype_is(const req_t *r, const char *t);

/* the boundary parameter of a multipart content type */
static bool mp_boundary(const char *ct, char out[71]) {
    const char *p = ct ? strcasestr(ct, "boundary=") : NULL;
    if (!p) return false;
    p += 9;
    bool quoted = *p == '"';
    if (quoted) p++;
    size_t n = 0;
    static const char bchars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";
    while (p[n] && p[n] != (quoted ? '"' : ';') && n < 71) {
        if (!strchr(bchars, p[n]) || (!quoted && p[n] == ' ')) return false;
        n++;
    }
    if (n < 1 || n > 70 || (quoted && p[n] != '"')) return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

/* a quoted parameter value `key="..."` of a Content-Disposition header */
static bool mp_param(const char *h, size_t hl, const char *key, char *out, size_t outlen, bool *present) {
    size_t kl = strlen(key);
    *present = false;
    for (size_t i = 0; i + kl + 2 <= hl; i++) {
        if ((i == 0 || h[i - 1] == ' ' || h[i - 1] == ';') && !strncasecmp(h + i, key, kl) && h[i + kl] == '=') {
            const char *v = h + i + kl + 1, *end = h + hl;
            if (v >= end || *v != '"') return false;
            size_t o = 0;
            for (v++; v < end && *v != '"'; v++) {
                if ((unsigned char)*v < 0x20 || *v == '\\' || o + 1 >= outlen) return false;
                out[o++] = *v;
            }
            if (v >= end) return false;
            out[o] = 0;
            *present = true;
            return true;
        }
    }
    return true;
}

int multipart_parse(const char *content_type, const char *body, size_t len, multipart_part_t *parts, int max,
                    int *n) {
    char b[71], delim[80];
    *n = 0;
    if (!body || !mp_boundary(content_type, b)) return AISPM_EINVAL;
    size_t dl = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", b);
    /* the first delimiter has no CRLF before it */
    if (len < dl - 2 || memcmp(body, delim + 2, dl - 2)) return AISPM_EINVAL;
    size_t pos = dl - 2;
    for (;;) {
        if (len - pos >= 2 && !memcmp(body + pos, "--", 2)) { /* close delimiter */
            pos += 2;
            if (len - pos == 2 && !memcmp(body + pos, "\r\n", 2)) pos += 2;
            return pos == len ? 0 : AISPM_EINVAL;
        }
        if (len - pos < 2 || memcmp(body + pos, "\r\n", 2) || *n >= max) return AISPM_EINVAL;
        pos += 2;
        const char *hend = memmem(body + pos, len - pos < 1024 ? len - pos : 1024, "\r\n\r\n", 4);
        if (!hend) return AISPM_EINVAL;
        multipart_part_t *pt = &parts[*n];
        memset(pt, 0, sizeof *pt);
        bool have_cd = false;
        for (const char *h = body + pos; h < hend + 2;) {
            const char *eol = memmem(h, (size_t)(hend + 2 - h), "\r\n", 2);
            size_t hl = (size_t)(eol - h);
            if (hl > 21 && !strncasecmp(h, "Content-Disposition: ", 21)) {
                bool fn, nm;
                const char *v = h + 21;
                size_t vl = hl - 21;
                if (have_cd || vl < 10 || strncmp(v, "form-data;", 10)) return AISPM_EINVAL;
                if (!mp_param(v, vl, "name", pt->name, sizeof pt->name, &nm) || !nm || !*pt->name) return AISPM_EINVAL;
                if (!mp_param(v, vl, "filename", pt->filename, sizeof pt->filename, &fn)) return AISPM_EINVAL;
                pt->is_file = fn;
                have_cd = true;
            } else if (hl < 14 || strncasecmp(h, "Content-Type: ", 14)) {
                return AISPM_EINVAL;
            }
            h = eol + 2;
        }
        if (!have_cd) return AISPM_EINVAL;
        pos = (size_t)(hend + 4 - body);
        const char *next = memmem(body + pos, len - pos, delim, dl);
        if (!next) return AISPM_EINVAL;
        pt->data = body + pos;
        pt->len = (size_t)(next - (body + pos));
        (*n)++;
        pos = (size_t)(next - body) + dl;
    }
}

bool req_is_multipart(const req_t *r) { return ctype_is(r, "multipart/form-data"); }

static const multipart_part_t *mp_find(const req_t *r, const char *name, bool file, multipart_part_t *parts) {
    int n;
    if (!req_is_multipart(r) || multipart_parse(r->content_type, r->body, r->body_len, parts, MULTIPART_MAX_PARTS, &n))
        return NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(parts[i].name, name) && parts[i].is_file == file) return &parts[i];
    return NULL;
}

bool req_file(const req_t *r, const char *name, const char **data, size_t *len) {
    multipart_part_t parts[MULTIPART_MAX_PARTS];
    const multipart_part_t *p = mp_find(r, name, true, parts);
    if (!p) return false;
    *data = p->data, *len = p->len;
    return true;
}

bool req_form(const req_t *r, const char *name, char *out, size_t outlen) {
    if (req_is_multipart(r)) {
        multipart_part_t parts[MULTIPART_MAX_PARTS];
        const multipart_part_t *p = mp_find(r, name, false, parts);
        if (!p || p->len + 1 > outlen || memchr(p->data, 0, p->len) || !utf8_valid(p->data, p->len)) return false;
        memcpy(out, p->data, p->len);
        out[p->len] = 0;
        return true;
    }
    return req_is_form(r) && r->body && kv_lookup(r->body, r->body_len, name, out, outlen);
}

bool req_cookie(const req_t *r, const char *name, char *out, size_t outlen) {
    if (!r->cookie) return false;
    size_t nlen = strlen(name);
    const char *p = r->cookie;
    while (*p) {
        while (*p == ' ' || *p == ';') p++;
        const char *e = p + strcspn(p, ";");
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            size_t vl = (size_t)(e - eq - 1);
            if (vl + 1 > outlen) return false;
            memcpy(out, eq + 1, vl);
            out[vl] = 0;
            return true;
        }
        p = e;
    }
    return false;
}

static bool ctype_is(const req_t *r, const char *t) {
    if (!r->content_type) return false;
    size_t n = strlen(t);
    return strncasecmp(r->content_type, t, n) == 0 && (r->content_type[n] == 0 || r->content_type[n] == ';' ||
                                                       r->content_type[n] == ' ');
}
bool req_is_json(const req_t *r) { return ctype_is(r, "application/json") || ctype_is(r, "application/merge-patch+json"); }
bool req_is_form(const req_t *r) { return ctype_is(r, "application/x-www-form-urlencoded"); }
bool req_wants_html(const req_t *r) {
    return (r->route && (r->route->flags & ROUTE_PORTAL)) || (r->accept && strstr(r->accept, "text/html") &&
                                                            strncmp(r->path, "/enterprise/", 12) != 0);
}

/* RFC 8259 grammar check of a document json-c has accepted. json-c's strict
 * mode still takes single-quoted member names, NaN, Infinity, -Infinity,
 * numbers like "1." and raw control characters inside strings; none of them
 * is JSON. Iterative; the container stack is bounded by max_depth. */
static bool json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool json_string_ok(const char *s, size_t n, size_t *i) {
    for (++*i; *i < n; ++*i) {
        unsigned char c = (unsigned char)s[*i];
        if (c == '"') {
            ++*i;
            return true;
        }
        if (c < 0x20) return false;
        if (c != '\\') continue;
        if (++*i >= n) return false;
        c = (unsigned char)s[*i];
        if (c == 'u') {
            for (int k = 0; k < 4; k++)
                if (++*i >= n || !isxdigit((unsigned char)s[*i])) return false;
        } else if (!c || !strchr("\"\\/bfnrt", c)) {
            return false;
        }
    }
    return false;
}

static bool json_number_ok(const char *s, size_t n, size_t *i) {
    size_t j = *i;
    if (j < n && s[j] == '-') j++;
    if (j >= n || !isdigit((unsigned char)s[j])) return false;
    if (s[j] == '0') j++;
    else
        while (j < n && isdigit((unsigned char)s[j])) j++;
    if (j < n && s[j] == '.') {
        if (++j >= n || !isdigit((unsigned char)s[j])) return false;
        while (j < n && isdigit((unsigned char)s[j])) j++;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        j++;
        if (j < n && (s[j] == '+' || s[j] == '-')) j++;
        if (j >= n || !isdigit((unsigned char)s[j])) return false;
        while (j < n && isdigit((unsigned char)s[j])) j++;
    }
    *i = j;
    return true;
}

static bool json_grammar_ok(const char *s, size_t n, int max_depth) {
    char *stack = xmalloc((size_t)(max_depth > 0 ? max_depth : 1));
    int depth = 0;
    size_t i = 0;
    bool ok = false;
    for (;;) {
        /* a value */
        while (i < n && json_ws(s[i])) i++;
        if (i >= n) goto done;
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth >= max_depth) goto done;
            stack[depth++] = c;
            i++;
            while (i < n && json_ws(s[i])) i++;
            if (i < n && s[i] == (c == '{' ? '}' : ']')) {
                depth--;
                i++;
            } else if (c == '{') {
                goto member;
            } else {
                continue;
            }
        } else if (c == '"') {
            if (!json_string_ok(s, n, &i)) goto done;
        } else if (c == '-' || isdigit((unsigned char)c)) {
            if (!json_number_ok(s, n, &i)) goto done;
        } else if (n - i >= 4 && !memcmp(s + i, "true", 4)) {
            i += 4;
        } else if (n - i >= 5 && !memcmp(s + i, "false", 5)) {
            i += 5;
        } else if (n - i >= 4 && !memcmp(s + i, "null", 4)) {
            i += 4;
        } else {
            goto done;
        }
        /* after a value: close containers, or a separator */
        for (;;) {
            while (i < n && json_ws(s[i])) i++;
            if (depth == 0) {
                ok = i == n;
                goto done;
            }
            if (i >= n) goto done;
            char open = stack[depth - 1];
            if (s[i] == (open == '{' ? '}' : ']')) {
                depth--;
                i++;
                continue;
            }
            if (s[i] != ',') goto done;
            i++;
            break;
        }
        if (stack[depth - 1] == '[') continue;
    member:
        while (i < n && json_ws(s[i])) i++;
        if (i >= n || s[i] != '"' || !json_string_ok(s, n, &i)) goto done;
        while (i < n && json_ws(s[i])) i++;
        if (i >= n || s[i] != ':') goto done;
        i++;
    }
done:
    free(stack);
    return ok;
}

bool req_json_body(req_t *r, json_object **out) {
    *out = NULL;
    if (!req_is_json(r)) {
        resp_problem(r, 415, "unsupported_media_type", "this endpoint accepts application/json", NULL);
        return false;
    }
    if (!r->body || r->body_len == 0) {
        resp_problem(r, 400, "malformed_json", "the request body is empty", NULL);
        return false;
    }
    if (!utf8_valid(r->body, r->body_len)) {
        resp_problem(r, 400, "invalid_utf8", "the request body is not valid UTF-8", NULL);
        return false;
    }
    struct json_tokener *tok = json_tokener_new_ex(r->app->cfg.json_max_depth);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *v = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t consumed = (size_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e == json_tokener_error_depth) {
        json_object_put(v);
        char msg[96];
        snprintf(msg, sizeof msg, "JSON nesting deeper than %d levels", r->app->cfg.json_max_depth);
        resp_problem(r, 400, "nesting_too_deep", msg, NULL);
        return false;
    }
    /* trailing whitespace is fine, anything else is not */
    bool trailing = false;
    for (size_t i = consumed; v && i < r->body_len; i++)
        if (!isspace((unsigned char)r->body[i])) trailing = true;
    if (e != json_tokener_success || !v || trailing ||
        !json_grammar_ok(r->body, r->body_len, r->app->cfg.json_max_depth + 1)) {
        json_object_put(v);
        resp_problem(r, 400, "malformed_json", "the request body is not well-formed JSON", NULL);
        return false;
    }
    if (!json_object_is_type(v, json_type_object)) {
        json_object_put(v);
        resp_problem(r, 422, "validation_failed", "the request body must be a JSON object", NULL);
        return false;
    }
    *out = v;
    return true;
}

/* --------------------------------------------------------------- response */

void resp_header(req_t *r, const char *name, const char *value) {
    /* header values are program-built; refuse CR/LF outright (response splitting) */
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n:")) return;
    buf_printf(&r->headers, "%s: %s\r\n", name, value);
}

static void set_body(req_t *r, int status, const char *ctype, const char *body, size_t len) {
    r->status = status;
    buf_reset(&r->out);
    buf_append(&r->out, body, len);
    resp_header(r, "Content-Type", ctype);
}

void resp_text(req_t *r, int status, const char *ctype, const char *body, size_t len) {
    set_body(r, status, ctype, body, len);
}

void resp_json(req_t *r, int status, json_object *body) {
    const char *s = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    set_body(r, status, "application/json", s, strlen(s));
    json_object_put(body);
}

void resp_html(req_t *r, int status, const char *html, size_t len) {
    set_body(r, status, "text/html; charset=utf-8", html, len);
}

void resp_attachment(req_t *r, const char *ctype, const buf_t *bytes, const char *filename, const char *digest,
                     const char *digest_header) {
    char disp[300], etag[80];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", filename);
    snprintf(etag, sizeof etag, "\"sha256-%s\"", digest);
    set_body(r, 200, ctype, bytes->data ? bytes->data : "", bytes->len);
    resp_header(r, "Content-Disposition", disp);
    resp_header(r, digest_header, digest);
    resp_header(r, "ETag", etag);
    resp_header(r, "Cache-Control", "private, no-store");
}

void resp_redirect(req_t *r, const char *location) {
    /* only local paths: never an open redirect */
    if (location[0] != '/' || location[1] == '/' || location[1] == '\\') location = "/portal/";
    r->status = 303;
    buf_reset(&r->out);
    resp_header(r, "Location", location);
    resp_header(r, "Content-Type", "text/plain; charset=utf-8");
}

void resp_cookie(req_t *r, const char *name, const char *value, long max_age) {
    char line[512];
    snprintf(line, sizeof line, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=%ld", name,
             max_age < 0 ? "" : value, r->app->cfg.cookie_secure ? "; Secure" : "", max_age < 0 ? 0L : max_age);
    resp_header(r, "Set-Cookie", line);
}

const char *http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 500: return "Internal Server Error";
    default: return status >= 500 ? "Server Error" : "Error";
    }
}

void resp_problem(req_t *r, int status, const char *code, const char *detail, json_object *errors) {
    resp_problem_ext(r, status, code, detail, errors, NULL);
}

void resp_problem_ext(req_t *r, int status, const char *code, const char *detail, json_object *errors,
                      json_object *extra) {
    buf_reset(&r->headers);
    if (req_wants_html(r)) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "status", json_object_new_int(status));
        json_object_object_add(d, "code", json_object_new_string(code));
        json_object_object_add(d, "detail", json_object_new_string(detail ? detail : ""));
        json_object_object_add(d, "request_id", json_object_new_string(r->request_id));
        if (errors) json_object_object_add(d, "errors", errors);
        json_object_put(extra);
        resp_page(r, status, "error", http_reason(status), d);
        return;
    }
    json_object *p = json_object_new_object();
    char type[128];
    snprintf(type, sizeof type, "https://aispm.example/problems/%s", code);
    json_object_object_add(p, "type", json_object_new_string(type));
    json_object_object_add(p, "title", json_object_new_string(http_reason(status)));
    json_object_object_add(p, "status", json_object_new_int(status));
    json_object_object_add(p, "code", json_object_new_string(code));
    if (detail) json_object_object_add(p, "detail", json_object_new_string(detail));
    /* a request target that is not UTF-8 is not echoed: the document must stay valid JSON */
    bool path_ok = r->path && utf8_valid(r->path, strlen(r->path));
    json_object_object_add(p, "instance", json_object_new_string(path_ok ? r->path : "/"));
    json_object_object_add(p, "request_id", json_object_new_string(r->request_id));
    if (errors) json_object_object_add(p, "errors", errors);
    if (extra) {
        json_object_object_foreach(extra, k, v) {
            if (!json_object_object_get_ex(p, k, NULL)) json_object_object_add(p, k, json_object_get(v));
        }
        json_object_put(extra);
    }
    const char *s = json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    set_body(r, status, "application/problem+json", s, strlen(s));
    json_object_put(p);
}

void resp_result(req_t *r, int rc, json_object *o) {
    if (rc) {
        json_object_put(o);
        resp_error(r, rc);
        return;
    }
    resp_json(r, 200, o);
}

void resp_list(req_t *r, list_fn list) {
    char cursor[32] = "", lim[16] = "";
    req_query(r, "cursor", cursor, sizeof cursor);
    int limit = req_query(r, "limit", lim, sizeof lim) ? atoi(lim) : 25;
    json_object *o = NULL;
    int rc = list(r->app->db, &r->actor, cursor, limit, &o);
    if (rc == AISPM_EINVAL) {
        json_object_put(o);
        resp_bad_cursor(r);
        return;
    }
    resp_result(r, rc, o);
}

void resp_bad_cursor(req_t *r) {
    json_object *e = json_object_new_object();
    json_object_object_add(e, "cursor", json_object_new_string("must be a next_cursor of a previous page"));
    resp_problem(r, 422, "validation_failed", "the request is not valid", e);
}

void resp_error(req_t *r, int err) {
    switch (err) {
    case AISPM_ENOTFOUND: resp_problem(r, 404, "not_found", "no such resource", NULL); break;
    case AISPM_ECONFLICT: resp_problem(r, 409, "conflict", "the resource changed or already exists", NULL); break;
    case AISPM_EINVAL: resp_problem(r, 422, "validation_failed", "the request is not valid", NULL); break;
    case AISPM_EFORBIDDEN: resp_problem(r, 403, "forbidden", "you are not allowed to do this", NULL); break;
    case AISPM_EGONE: resp_problem(r, 410, "gone", "the resource is no longer available", NULL); break;
    case AISPM_EUNAUTH: resp_problem(r, 401, "unauthenticated", "sign in or present a valid token", NULL); break;
    case AISPM_ETOOMANY: resp_problem(r, 429, "rate_limited", "too many attempts; try again later", NULL); break;
    case AISPM_EDB: resp_problem(r, 503, "unavailable", "the service is temporarily unavailable", NULL); break;
    default: resp_problem(r, 500, "internal_error", "an internal error occurred", NULL); break;
    }
}
