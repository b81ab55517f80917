/*
 * packages_api.c: JSON routes of signed export packages and the public
 * signing certificate. Thin: decode, call reports/export_packages, encode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/export_packages.h"

void api_packages_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    package_outcome_t o;
    int rc = packages_create(r->app->db, &r->app->cfg, &r->actor, body, r->idempotency_key, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400) {
        resp_problem(r, o.status, o.code, o.detail, o.body);
        return;
    }
    char loc[160];
    json_object *ref;
    if (json_object_object_get_ex(o.body, "package_ref", &ref)) {
        snprintf(loc, sizeof loc, "/enterprise/aispm/reports/packages/%s", json_object_get_string(ref));
        resp_header(r, "Location", loc);
    }
    resp_json(r, o.status, o.body);
}

void api_packages_list(req_t *r) {
    resp_list(r, packages_list);
}

void api_package_get(req_t *r) {
    json_object *o = NULL;
    int rc = packages_get(r->app->db, &r->actor, req_param(r, "package_ref"), &o);
    resp_result(r, rc, o);
}

void api_package_manifest(req_t *r) {
    json_object *o = NULL;
    int rc = packages_public_manifest(r->app->db, &r->actor, req_param(r, "package_ref"), &o);
    resp_result(r, rc, o);
}

void api_package_content(req_t *r) {
    render_content_t c;
    retention_verdict_t v;
    int rc =
        packages_content(r->app->db, &r->app->cfg, &r->actor, req_param(r, "package_ref"), r->request_id, &c, &v);
    api_stored_content(r, rc, &v, &c, "package_unavailable", "package", "X-Package-SHA256");
}

/* GET /.well-known/aispm-signing-cert.pem[?kid=K]: the current package
 * signing certificate, or the one of an older (rotated) key */
void api_signing_cert(req_t *r) {
    char kid[40] = "";
    req_query(r, "kid", kid, sizeof kid);
    buf_t pem = BUF_INIT;
    int rc = packages_certificate(r->app->db, &r->app->cfg, kid, &pem);
    if (rc) {
        buf_free(&pem);
        resp_error(r, rc);
        return;
    }
    resp_text(r, 200, "application/x-pem-file", pem.data ? pem.data : "", pem.len);
    resp_header(r, "Cache-Control", "public, max-age=300");
    buf_free(&pem);
}
