/*
 * page.c: portal page rendering — the page template is rendered first, then
 * wrapped in templates/layout.html with role-aware navigation, the signed-in
 * user and the CSRF token every form needs.
 */
#include <string.h>

#include "core/log.h"
#include "server/http.h"
#include "server/rbac.h"

/* the navigation, in groups; a group without an item the role may use is
 * not shown */
static const struct {
    const char *group, *href, *label;
    perm_t perm;
} nav[] = {
    {"", "/portal/", "Home", PERM_SELF},
    {"Reports", "/portal/catalog", "Catalog", PERM_CATALOG_READ},
    {"Reports", "/portal/renders", "Renders", PERM_CATALOG_READ},
    {"Reports", "/portal/schedules", "Schedules", PERM_CATALOG_READ},
    {"Reports", "/portal/search", "Search", PERM_CATALOG_READ},
    {"Reports", "/portal/packages", "Packages", PERM_CATALOG_READ},
    {"Delivery", "/portal/inbox", "Inbox", PERM_CATALOG_READ},
    {"Delivery", "/portal/deliveries", "Deliveries", PERM_CATALOG_READ},
    {"Delivery", "/portal/approvals", "Approvals", PERM_CATALOG_READ},
    {"Delivery", "/portal/recipient-policy", "Recipient policy", PERM_SETTINGS_READ},
    {"Delivery", "/portal/operations", "Operations", PERM_AUDIT_READ},
    {"Evidence", "/portal/audit", "Evidence chain", PERM_AUDIT_READ},
    {"Evidence", "/portal/evidence-rooms", "Evidence rooms", PERM_EVIDENCE_ROOMS_MANAGE},
    {"Evidence rooms", "/portal/rooms", "My evidence rooms", PERM_EVIDENCE_ROOMS_ACCESS},
    {"Evidence rooms", "/portal/mfa", "Two-factor", PERM_EVIDENCE_ROOMS_ACCESS},
    {"Settings", "/portal/setup", "Setup wizard", PERM_SETTINGS_WRITE},
    {"Settings", "/portal/brand", "Brand", PERM_SETTINGS_READ},
    {"Settings", "/portal/tokens", "API tokens", PERM_TOKENS_MANAGE},
};

void resp_page(req_t *r, int status, const char *tmpl, const char *title, json_object *data) {
    if (!data) data = json_object_new_object();
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, "title", json_object_new_string(title));
    json_object_object_add(ctx, "request_id", json_object_new_string(r->request_id));
    bool signed_in = r->actor.kind == ACTOR_SESSION;
    json_object_object_add(ctx, "signed_in", json_object_new_boolean(signed_in));
    if (signed_in) {
        json_object *u = json_object_new_object();
        json_object_object_add(u, "display_name", json_object_new_string(r->actor.display_name));
        json_object_object_add(u, "role", json_object_new_string(r->actor.role));
        json_object_object_add(u, "ref", json_object_new_string(r->actor.user_ref));
        json_object_object_add(ctx, "user", u);
        json_object *t = json_object_new_object();
        json_object_object_add(t, "name", json_object_new_string(r->actor.tenant_name));
        json_object_object_add(t, "ref", json_object_new_string(r->actor.tenant_ref));
        json_object_object_add(ctx, "tenant", t);
        json_object_object_add(ctx, "csrf", json_object_new_string(r->actor.csrf));
        json_object *groups = json_object_new_array(), *items = NULL;
        const char *section = r->path ? r->path : "";
        const char *group = NULL;
        for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++) {
            if (!rbac_role_has(r->actor.role, nav[i].perm)) continue;
            if (!group || strcmp(group, nav[i].group)) {
                group = nav[i].group;
                json_object *g = json_object_new_object();
                json_object_object_add(g, "label", json_object_new_string(group));
                items = json_object_new_array();
                json_object_object_add(g, "items", items);
                json_object_array_add(groups, g);
            }
            json_object *n = json_object_new_object();
            json_object_object_add(n, "href", json_object_new_string(nav[i].href));
            json_object_object_add(n, "label", json_object_new_string(nav[i].label));
            size_t hl = strlen(nav[i].href);
            bool active = i == 0 ? !strcmp(section, "/portal/") : !strncmp(section, nav[i].href, hl);
            json_object_object_add(n, "active", json_object_new_boolean(active));
            json_object_array_add(items, n);
        }
        json_object_object_add(ctx, "nav", groups);
    }
    /* the page sees the same context plus its own data under "page" */
    json_object_object_add(ctx, "page", data);
    buf_t body = BUF_INIT, full = BUF_INIT;
    int rc = tmpl_render(r->app->tmpl, tmpl, ctx, &body);
    if (rc == 0) {
        json_object_object_add(ctx, "content", json_object_new_string(buf_cstr(&body)));
        rc = tmpl_render(r->app->tmpl, "layout", ctx, &full);
    }
    json_object_put(ctx);
    if (rc) {
        log_msg(LOG_ERROR, "template", "rendering %s failed (%d)", tmpl, rc);
        const char *msg = "<!doctype html><title>Error</title><p>The page could not be rendered.</p>";
        r->status = 500;
        buf_reset(&r->out);
        buf_puts(&r->out, msg);
        resp_header(r, "Content-Type", "text/html; charset=utf-8");
    } else {
        r->status = status;
        buf_reset(&r->out);
        buf_append(&r->out, full.data, full.len);
        resp_header(r, "Content-Type", "text/html; charset=utf-8");
    }
    buf_free(&body);
    buf_free(&full);
}
