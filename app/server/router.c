/*
 * router.c: pattern matching over the installed route table (see router.h).
 * The table is small (tens of routes), so matching is a linear scan over
 * pre-split patterns; no allocation happens per request.
 */
#include "server/router.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

#define MAX_ROUTES 256
#define MAX_SEGS 12

typedef struct {
    const route_t *route;
    int nseg;
    const char *seg[MAX_SEGS];
    size_t seglen[MAX_SEGS];
    bool is_param[MAX_SEGS];
} compiled_t;

static compiled_t g_routes[MAX_ROUTES];
static int g_nroutes;

static int split(const char *path, const char **seg, size_t *len, int max) {
    int n = 0;
    if (*path != '/') return -1;
    const char *p = path + 1;
    if (!*p) return 0;
    while (1) {
        if (n == max) return -1;
        size_t l = strcspn(p, "/");
        seg[n] = p;
        len[n] = l;
        n++;
        if (!p[l]) break;
        p += l + 1;
        if (!*p) { /* trailing slash: an empty final segment */
            if (n == max) return -1;
            seg[n] = p, len[n] = 0, n++;
            break;
        }
    }
    return n;
}

int router_init(const route_t *table, char *err, size_t errlen) {
    g_nroutes = 0;
    for (const route_t *rt = table; rt->method; rt++) {
        if (g_nroutes == MAX_ROUTES) {
            snprintf(err, errlen, "too many routes");
            return AISPM_EINVAL;
        }
        if (rt->perm <= PERM_NONE || rt->perm >= PERM__COUNT) {
            snprintf(err, errlen, "route %s %s declares no permission", rt->method, rt->pattern);
            return AISPM_EINVAL;
        }
        if (!rt->handler || !rt->name) {
            snprintf(err, errlen, "route %s %s has no handler or name", rt->method, rt->pattern);
            return AISPM_EINVAL;
        }
        compiled_t *c = &g_routes[g_nroutes];
        c->route = rt;
        c->nseg = split(rt->pattern, c->seg, c->seglen, MAX_SEGS);
        if (c->nseg < 0) {
            snprintf(err, errlen, "route pattern %s is invalid", rt->pattern);
            return AISPM_EINVAL;
        }
        int nparams = 0;
        for (int i = 0; i < c->nseg; i++) {
            c->is_param[i] = c->seglen[i] > 2 && c->seg[i][0] == '{' && c->seg[i][c->seglen[i] - 1] == '}';
            if (c->is_param[i] && ++nparams > ROUTE_MAX_PARAMS) {
                snprintf(err, errlen, "route pattern %s has too many parameters", rt->pattern);
                return AISPM_EINVAL;
            }
        }
        for (int j = 0; j < g_nroutes; j++)
            if (!strcmp(g_routes[j].route->pattern, rt->pattern) && !strcmp(g_routes[j].route->method, rt->method)) {
                snprintf(err, errlen, "duplicate route %s %s", rt->method, rt->pattern);
                return AISPM_EINVAL;
            }
        g_nroutes++;
    }
    return 0;
}

int router_count(void) { return g_nroutes; }
const route_t *router_at(int i) { return (i >= 0 && i < g_nroutes) ? g_routes[i].route : NULL; }

static bool seg_chars_ok(const char *s, size_t n) {
    if (n == 0 || n >= 160) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '~' || c == '-'))
            return false;
    }
    return true;
}

static bool match_one(const compiled_t *c, const char **seg, const size_t *len, int n, req_t *r) {
    if (c->nseg != n) return false;
    int np = 0;
    for (int i = 0; i < n; i++) {
        if (c->is_param[i]) {
            if (!seg_chars_ok(seg[i], len[i])) return false;
            if (r) {
                memcpy(r->params[np], seg[i], len[i]);
                r->params[np][len[i]] = 0;
                /* name without braces lives in the pattern; store a pointer+len via static copy */
                r->param_names[np] = c->seg[i] + 1;
            }
            np++;
        } else if (c->seglen[i] != len[i] || memcmp(c->seg[i], seg[i], len[i]) != 0) {
            return false;
        }
    }
    if (r) r->nparams = np;
    return true;
}

int router_match(req_t *r, const char *method, const char *path, char *allow, size_t allowlen) {
    const char *seg[MAX_SEGS];
    size_t len[MAX_SEGS];
    int n = split(path, seg, len, MAX_SEGS);
    if (n < 0) return AISPM_ENOTFOUND;
    bool path_known = false;
    if (allow && allowlen) allow[0] = 0;
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    for (int i = 0; i < g_nroutes; i++) {
        const compiled_t *c = &g_routes[i];
        if (!match_one(c, seg, len, n, NULL)) continue;
        if (strcmp(c->route->method, m) == 0) {
            match_one(c, seg, len, n, r);
            r->route = c->route;
            return 0;
        }
        path_known = true;
        if (allow && !strstr(allow, c->route->method)) {
            size_t cur = strlen(allow);
            snprintf(allow + cur, allowlen - cur, "%s%s", cur ? ", " : "", c->route->method);
        }
    }
    return path_known ? AISPM_ECONFLICT : AISPM_ENOTFOUND;
}

const char *req_param(const req_t *r, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < r->nparams; i++)
        if (strncmp(r->param_names[i], name, n) == 0 && r->param_names[i][n] == '}') return r->params[i];
    return NULL;
}
