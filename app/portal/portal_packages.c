/*
 * portal_packages.c: portal pages of signed export packages — the list with
 * a build form (package type, retention class and the artifacts of recent
 * renders as checkboxes, CSRF token and a per-page-view idempotency key), the
 * form's POST (POST-redirect-GET to the package page) and the package page
 * with its files, digests, downloads and verification instructions. Thin:
 * decode the form, call reports/export_packages, render a template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/hash.h"
#include "reports/export_packages.h"
#include "reports/renderer.h"

#define PORTAL_MAX_CHOICES 50

void portal_packages(req_t *r) {
    char cursor[32] = "";
    req_query(r, "cursor", cursor, sizeof cursor);
    json_object *o;
    int rc = packages_list(r->app->db, &r->actor, cursor, 25, &o);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the cursor is not valid", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    bool can = rbac_role_has(r->actor.role, PERM_REPORTS_RENDER);
    json_object_object_add(o, "can_build", json_object_new_boolean(can));
    if (can) {
        /* the artifacts of the newest succeeded renders, one checkbox each */
        json_object *h = NULL, *choices = json_object_new_array(), *renders;
        if (renderer_history(r->app->db, &r->actor, NULL, PORTAL_MAX_CHOICES, &h) == 0 &&
            json_object_object_get_ex(h, "renders", &renders)) {
            int n = 0;
            for (size_t i = 0; i < json_object_array_length(renders); i++) {
                json_object *x = json_object_array_get_idx(renders, i), *aref, *v;
                if (!json_object_object_get_ex(x, "artifact_ref", &aref)) continue;
                bool dup = false;
                for (size_t k = 0; k < json_object_array_length(choices) && !dup; k++) {
                    json_object *c = json_object_array_get_idx(choices, k);
                    dup = json_object_object_get_ex(c, "artifact_ref", &v) &&
                          !strcmp(json_object_get_string(v), json_object_get_string(aref));
                }
                if (dup) continue;
                json_object *c = json_object_new_object();
                char field[24];
                snprintf(field, sizeof field, "artifact_%d", ++n);
                json_object_object_add(c, "field", json_object_new_string(field));
                json_object_object_add(c, "artifact_ref", json_object_get(aref));
                if (json_object_object_get_ex(x, "report_id", &v)) json_object_object_add(c, "report_id", json_object_get(v));
                if (json_object_object_get_ex(x, "format", &v)) json_object_object_add(c, "format", json_object_get(v));
                if (json_object_object_get_ex(x, "finished_at", &v))
                    json_object_object_add(c, "finished_at", json_object_get(v));
                json_object_array_add(choices, c);
            }
        }
        json_object_put(h);
        json_object_object_add(o, "choices", choices);
        uint8_t raw[18];
        char key[40] = "portal-";
        random_bytes(raw, sizeof raw);
        b64url_encode(raw, sizeof raw, key + 7);
        json_object_object_add(o, "build_key", json_object_new_string(key));
    }
    resp_page(r, 200, "packages", "Packages", o);
}

void portal_packages_post(req_t *r) {
    char type[40] = "", retention[40] = "", key[64] = "";
    req_form(r, "type", type, sizeof type);
    req_form(r, "retention_class", retention, sizeof retention);
    req_form(r, "idempotency_key", key, sizeof key);
    json_object *body = json_object_new_object(), *refs = json_object_new_array();
    json_object_object_add(body, "type", json_object_new_string(type));
    if (*retention) json_object_object_add(body, "retention_class", json_object_new_string(retention));
    for (int i = 1; i <= PORTAL_MAX_CHOICES; i++) {
        char field[24], ref[80];
        snprintf(field, sizeof field, "artifact_%d", i);
        if (req_form(r, field, ref, sizeof ref) && *ref) json_object_array_add(refs, json_object_new_string(ref));
    }
    json_object_object_add(body, "artifact_refs", refs);
    package_outcome_t o;
    int rc = packages_create(r->app->db, &r->app->cfg, &r->actor, body, *key ? key : NULL, r->request_id, &o);
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
    json_object_object_get_ex(o.body, "package_ref", &ref);
    snprintf(loc, sizeof loc, "/portal/packages/%s", json_object_get_string(ref));
    package_outcome_free(&o);
    resp_redirect(r, loc);
}

void portal_package_get(req_t *r) {
    json_object *o;
    int rc = packages_get(r->app->db, &r->actor, req_param(r, "package_ref"), &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_page(r, 200, "package", "Package", o);
}
