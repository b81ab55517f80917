/*
 * brand_api.c: JSON routes of the tenant brand profile. Thin: decode, call
 * reports/brand, encode.
 */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/brand.h"

void api_brand_get(req_t *r) {
    brand_t b;
    int rc = brand_load(r->app->db, r->actor.tenant_id, &b);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_json(r, 200, brand_projection(&b));
    brand_free(&b);
}

/* PUT: the members given replace the stored ones (null or "" resets a field,
 * logo_png_base64 null removes the logo); others stay as they are */
void api_brand_put(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    if (!json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        resp_problem(r, 422, "validation_failed", "the request body must be a JSON object", NULL);
        return;
    }
    brand_t b;
    int rc = brand_load(r->app->db, r->actor.tenant_id, &b);
    if (rc) {
        json_object_put(body);
        resp_error(r, rc);
        return;
    }
    json_object *errors = json_object_new_object(), *changed = json_object_new_array();
    brand_apply(&b, body, errors, changed);
    json_object_put(body);
    if (json_object_object_length(errors)) {
        json_object_put(changed);
        brand_free(&b);
        resp_problem(r, 422, "validation_failed", "some brand fields are not valid", errors);
        return;
    }
    json_object_put(errors);
    rc = brand_save(r->app->db, &r->actor, &b, changed, r->request_id);
    json_object_put(changed);
    brand_free(&b);
    if (!rc) rc = brand_load(r->app->db, r->actor.tenant_id, &b);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_json(r, 200, brand_projection(&b));
    brand_free(&b);
}

void api_brand_logo(req_t *r) {
    brand_t b;
    int rc = brand_load(r->app->db, r->actor.tenant_id, &b);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (!b.logo.len) {
        brand_free(&b);
        resp_problem(r, 404, "not_found", "the brand profile has no logo", NULL);
        return;
    }
    char etag[70];
    snprintf(etag, sizeof etag, "\"%s\"", b.logo_sha256);
    resp_header(r, "ETag", etag);
    resp_text(r, 200, "image/png", b.logo.data, b.logo.len);
    brand_free(&b);
}
