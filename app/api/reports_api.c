/*
 * reports_api.c: JSON routes of the catalog and the setup wizard. Thin:
 * decode, call reports/<area>, encode.
 */
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/catalog.h"
#include "reports/setup.h"

void api_catalog_get(req_t *r) {
    /* catalog managers also see what is disabled */
    bool all = rbac_role_has(r->actor.role, PERM_CATALOG_MANAGE);
    size_t len;
    const char *json = catalog_projection_json(&r->app->catalog_cache, &r->actor, all, &len);
    resp_text(r, 200, "application/json", json, len);
}

void api_catalog_set(req_t *r) {
    json_object *body, *v;
    if (!req_json_body(r, &body)) return;
    if (!json_object_object_get_ex(body, "enabled", &v) || !json_object_is_type(v, json_type_boolean)) {
        json_object_put(body);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "enabled", json_object_new_string("must be true or false"));
        resp_problem(r, 422, "validation_failed", "the request is not valid", e);
        return;
    }
    bool on = json_object_get_boolean(v);
    json_object_put(body);
    int rc = catalog_set_enabled(r->app->db, &r->actor, req_param(r, "report_id"), on, r->request_id);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_json(r, 200, catalog_projection(&r->actor, true));
}

void api_delivery_contract(req_t *r) { resp_json(r, 200, catalog_delivery_contract()); }

void api_setup_get(req_t *r) {
    json_object *o = NULL;
    int rc = setup_state(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_setup_step_put(req_t *r) {
    const setup_step_t *step = setup_step_find(req_param(r, "step_id"));
    if (!step) {
        resp_problem(r, 404, "not_found", "no such setup step", NULL);
        return;
    }
    json_object *body, *settings;
    if (!req_json_body(r, &body)) return;
    if (!json_object_object_get_ex(body, "settings", &settings) || !json_object_is_type(settings, json_type_object)) {
        json_object_put(body);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "settings", json_object_new_string("must be an object of CAVRA_REPORT_* values"));
        resp_problem(r, 422, "validation_failed", "the request is not valid", e);
        return;
    }
    json_object *errors = NULL;
    int rc = setup_save_step(r->app->db, &r->actor, step, settings, r->request_id, &errors);
    json_object_put(body);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "some settings are not valid", errors);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *o = NULL;
    rc = setup_state(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_setup_contract(req_t *r) { resp_json(r, 200, setup_contract_projection()); }
