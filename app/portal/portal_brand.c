/*
 * portal_brand.c: the brand profile page (GET/POST /portal/brand). Thin: the
 * form (multipart/form-data, for the logo upload) is decoded here and handed
 * to reports/brand, the same validation and store as the JSON API.
 */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/brand.h"

static const char *const text_fields[] = {"display_name", "primary_color", "accent_color", "footer_text",
                                          "legal_disclaimer", NULL};

static void render_brand(req_t *r, int status, brand_t *b, json_object *errors, bool saved) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "brand", brand_projection(b));
    json_object_object_add(d, "can_write", json_object_new_boolean(rbac_role_has(r->actor.role, PERM_SETTINGS_WRITE)));
    json_object_object_add(d, "saved", json_object_new_boolean(saved));
    if (errors && json_object_object_length(errors)) json_object_object_add(d, "errors", json_object_get(errors));
    json_object_object_add(d, "logo_max_kib", json_object_new_int(BRAND_LOGO_MAX / 1024));
    resp_page(r, status, "brand", "Brand profile", d);
}

void portal_brand(req_t *r) {
    brand_t b;
    int rc = brand_load(r->app->db, r->actor.tenant_id, &b);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    char v[8];
    render_brand(r, 200, &b, NULL, req_query(r, "saved", v, sizeof v));
    brand_free(&b);
}

void portal_brand_post(req_t *r) {
    brand_t b;
    int rc = brand_load(r->app->db, r->actor.tenant_id, &b);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *changes = json_object_new_object(), *errors = json_object_new_object(),
                *changed = json_object_new_array();
    char v[BRAND_DISCLAIMER_MAX * 4 + 8];
    for (int i = 0; text_fields[i]; i++) {
        if (req_form(r, text_fields[i], v, sizeof v)) {
            /* browsers send CRLF line ends in a textarea */
            size_t o = 0;
            for (size_t k = 0; v[k]; k++)
                if (!(v[k] == '\r' && v[k + 1] == '\n')) v[o++] = v[k];
            v[o] = 0;
            json_object_object_add(changes, text_fields[i], json_object_new_string(v));
        } else if (req_is_multipart(r) || req_is_form(r)) {
            json_object_object_add(errors, text_fields[i], json_object_new_string("is missing or not valid UTF-8 text"));
        }
    }
    brand_apply(&b, changes, errors, changed);
    json_object_put(changes);
    const char *png;
    size_t len;
    if (req_file(r, "logo", &png, &len) && len > 0) {
        json_object_array_add(changed, json_object_new_string("logo"));
        brand_set_logo(&b, png, len, "logo", errors);
    } else if (req_form(r, "remove_logo", v, sizeof v) && !strcmp(v, "1")) {
        json_object_array_add(changed, json_object_new_string("logo"));
        brand_set_logo(&b, NULL, 0, "logo", errors);
    }
    if (json_object_object_length(errors)) {
        render_brand(r, 422, &b, errors, false);
    } else {
        rc = brand_save(r->app->db, &r->actor, &b, changed, r->request_id);
        if (rc)
            resp_error(r, rc);
        else
            resp_redirect(r, "/portal/brand?saved=1");
    }
    json_object_put(errors);
    json_object_put(changed);
    brand_free(&b);
}
