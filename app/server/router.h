/*
 * router.h: the route table. Routes are matched by method and a path pattern
 * whose `{name}` segments capture one path segment ([A-Za-z0-9._:~-]+).
 * A path that matches no pattern is 404; one that matches with another
 * method is 405 with Allow. router_init refuses a table in which any route
 * lacks a permission, so a forgotten check cannot ship.
 */
#ifndef AISPM_SERVER_ROUTER_H
#define AISPM_SERVER_ROUTER_H

#include "server/http.h"

typedef void (*handler_fn)(req_t *r);

enum {
    ROUTE_PORTAL = 1u << 0, /* HTML page: errors render as pages, login redirects */
    ROUTE_NO_CSRF = 1u << 1 /* state change without session (login form has its own token) */
};

struct route {
    const char *method;
    const char *pattern;
    perm_t perm;
    handler_fn handler;
    unsigned flags;
    const char *name; /* metrics label */
};

/* validates and installs a table (terminated by a route with NULL method);
 * AISPM_EINVAL with a message in err for a route without permission, a bad
 * pattern or a duplicate */
int router_init(const route_t *table, char *err, size_t errlen);
/* 0 matched (r->route, params set); AISPM_ENOTFOUND; AISPM_ECONFLICT = path
 * known but method not allowed (allow receives "GET, POST") */
int router_match(req_t *r, const char *method, const char *path, char *allow, size_t allowlen);
int router_count(void);
const route_t *router_at(int i);

/* the application's route table (server/routes.c) */
extern const route_t aispm_routes[];

#endif
