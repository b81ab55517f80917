/*
 * page.c: portal page rendering — the page template is rendered first, then
 * wrapped in templates/layout.html with role-aware navigation, the signed-in
 * user and the CSRF token every form needs.
 */
#include <string.h>

#include "core/log.h"
#include "server/http.h"
#include "server/rbac.h"

static const struct {
    const char *href, *label, *section;
    perm_t perm;
} nav[] = {
    {"/portal/", "Home", "home", PERM_SELF},
    {"/portal/catalog", "Report catalog", "catalog", PERM_CATALOG_READ},
    {"/portal/renders", "Renders", "renders", PERM_CATALOG_READ},
    {"/portal/schedules", "Schedules", "schedules", PERM_CATALOG_READ},
    {"/portal/operations", "Operations", "operations", PERM_AUDIT_READ},
    {"/portal/packages", "Packages", "packages", PERM_CATALOG_READ},
    {"/portal/inbox", "Inbox", "inbox", PERM_CATALOG_READ},
    {"/portal/deliveries", "Deliveries", "deliveries", PERM_CATALOG_READ},
    {"/portal/approvals", "Approvals", "approvals", PERM_CATALOG_READ},
    {"/portal/recipient-policy", "Recipient policy", "recipient-policy", PERM_SETTINGS_READ},
    {"/portal/setup", "Setup wizard", "setup", PERM_SETTINGS_WRITE},
    {"/portal/brand", "Brand", "brand", PERM_SETTINGS_READ},
    {"/portal/audit", "Evidence chain", "audit", PERM_AUDIT_READ},
    {"/portal/tokens", "API tokens", "tokens", PERM_TOKENS_MANAGE},
    {"/portal/evidence-rooms", "Evidence rooms", "evidence-rooms", PERM_EVIDENCE_ROOMS_MANAGE},
    {"/portal/rooms", "My evidence rooms", "rooms", PERM_EVIDENCE_ROOMS_ACCESS},
    {"/portal/mfa", "Two-factor", "mfa", PERM_EVIDENCE_ROOMS_ACCESS},
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
        json_object *items = json_object_new_array();
        const char *section = r->path ? r->path : "";
        for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++) {
            if (!rbac_role_has(r->actor.role, nav[i].perm)) continue;
            json_object *n = json_object_new_object();
            json_object_object_add(n, "href", json_object_new_string(nav[i].href));
            json_object_object_add(n, "label", json_object_new_string(nav[i].label));
            size_t hl = strlen(nav[i].href);
            bool active = i == 0 ? !strcmp(section, "/portal/") : !strncmp(section, nav[i].href, hl);
            json_object_object_add(n, "active", json_object_new_boolean(active));
            json_object_array_add(items, n);
        }
        json_object_object_add(ctx, "nav", items);
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
