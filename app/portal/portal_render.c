/*
 * portal_render.c: portal pages of report rendering — the render form of the
 * catalog (POST /portal/reports/render), a render's status page with its
 * artifact, and the render history. Thin: decode the form, call
 * reports/renderer, render a template. The status page works without
 * JavaScript (a Refresh link); static/render.js polls the JSON status
 * endpoint and reloads the page when the render finishes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/hash.h"
#include "reports/catalog.h"
#include "reports/renderer.h"

/* adds, to every enabled report of a catalog projection, the formats this
 * release renders ("render_formats") and a fresh idempotency key for its
 * form, so a double-submitted form starts one render */
void portal_render_decorate_catalog(req_t *r, json_object *catalog) {
    bool can = rbac_role_has(r->actor.role, PERM_REPORTS_RENDER);
    json_object_object_add(catalog, "can_render", json_object_new_boolean(can));
    json_object *reports;
    if (!can || !json_object_object_get_ex(catalog, "reports", &reports)) return;
    for (size_t i = 0; i < json_object_array_length(reports); i++) {
        json_object *e = json_object_array_get_idx(reports, i), *id, *on;
        if (!json_object_object_get_ex(e, "report_id", &id) || !json_object_object_get_ex(e, "enabled", &on) ||
            !json_object_get_boolean(on))
            continue;
        const catalog_report_t *rep = catalog_find(json_object_get_string(id));
        json_object *fmts = json_object_new_array();
        for (int k = 0; rep && k < CATALOG_MAX_FORMATS && rep->formats[k]; k++)
            if (renderer_supported(rep->report_id, rep->formats[k]))
                json_object_array_add(fmts, json_object_new_string(rep->formats[k]));
        if (!json_object_array_length(fmts)) {
            json_object_put(fmts);
            continue;
        }
        json_object_object_add(e, "render_formats", fmts);
        uint8_t raw[18];
        char key[40] = "portal-";
        random_bytes(raw, sizeof raw);
        b64url_encode(raw, sizeof raw, key + 7);
        json_object_object_add(e, "render_key", json_object_new_string(key));
    }
}

void portal_render_post(req_t *r) {
    char report_id[80] = "", format[24] = "", start[40] = "", end[40] = "", key[64] = "";
    req_form(r, "report_id", report_id, sizeof report_id);
    req_form(r, "format", format, sizeof format);
    req_form(r, "start", start, sizeof start);
    req_form(r, "end", end, sizeof end);
    req_form(r, "idempotency_key", key, sizeof key);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "report_id", json_object_new_string(report_id));
    json_object_object_add(body, "format", json_object_new_string(format));
    if (*start || *end) {
        json_object *p = json_object_new_object();
        if (*start) json_object_object_add(p, "start", json_object_new_string(start));
        if (*end) json_object_object_add(p, "end", json_object_new_string(end));
        json_object_object_add(body, "period", p);
    }
    render_outcome_t o;
    int rc = renderer_request(r->app->db, &r->actor, body, *key ? key : NULL, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400) {
        resp_problem(r, o.status, o.code, o.detail, o.body);
        return;
    }
    json_object *ref;
    char loc[128];
    json_object_object_get_ex(o.body, "render_ref", &ref);
    snprintf(loc, sizeof loc, "/portal/renders/%s", json_object_get_string(ref));
    render_outcome_free(&o);
    resp_redirect(r, loc);
}

void portal_render_get(req_t *r) {
    json_object *st;
    int rc = renderer_status(r->app->db, &r->actor, req_param(r, "render_ref"), &st);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *v, *art = NULL;
    const char *status = json_object_object_get_ex(st, "status", &v) ? json_object_get_string(v) : "";
    bool finished = !strcmp(status, "succeeded") || !strcmp(status, "failed");
    json_object_object_add(st, "finished", json_object_new_boolean(finished));
    json_object_object_add(st, "succeeded", json_object_new_boolean(!strcmp(status, "succeeded")));
    if (json_object_object_get_ex(st, "artifact_ref", &v) &&
        renderer_artifact(r->app->db, &r->actor, json_object_get_string(v), &art) == 0) {
        json_object_object_add(st, "artifact", art);
        portal_delivery_decorate_artifact(r, st);
    }
    resp_page(r, 200, "render", "Render", st);
}

void portal_renders(req_t *r) {
    char cursor[32] = "";
    req_query(r, "cursor", cursor, sizeof cursor);
    json_object *o;
    int rc = renderer_history(r->app->db, &r->actor, cursor, 25, &o);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the cursor is not valid", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_page(r, 200, "renders", "Renders", o);
}
