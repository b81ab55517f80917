/*
 * render_api.c: JSON routes of report rendering and artifacts. Thin: decode,
 * call reports/renderer, encode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/renderer.h"

void api_render_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    render_outcome_t o;
    int rc = renderer_request(r->app->db, &r->actor, body, r->idempotency_key, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400) {
        resp_problem(r, o.status, o.code, o.detail, o.body);
        return;
    }
    json_object *s;
    if (json_object_object_get_ex(o.body, "status_url", &s)) resp_header(r, "Location", json_object_get_string(s));
    resp_json(r, o.status, o.body);
}

void api_render_get(req_t *r) {
    json_object *o = NULL;
    int rc = renderer_status(r->app->db, &r->actor, req_param(r, "render_ref"), &o);
    resp_result(r, rc, o);
}

void api_render_list(req_t *r) {
    resp_list(r, renderer_history);
}

void api_artifact_get(req_t *r) {
    json_object *o = NULL;
    int rc = renderer_artifact(r->app->db, &r->actor, req_param(r, "artifact_ref"), &o);
    resp_result(r, rc, o);
}

/* the bytes of a render_content_t, as the artifact content route answers */
void api_send_content(req_t *r, render_content_t *c) {
    /* the filename is built by the renderer from [a-z0-9_.-] only */
    resp_attachment(r, c->content_type, &c->bytes, c->filename, c->digest, "X-Artifact-SHA256");
}

/* answers a content route from its module's result: the retention verdict's
 * problem (410 / 403), 500 <unavailable_code> when the stored bytes are
 * missing or altered, another error, or the bytes (filenames are built by the
 * modules from [A-Za-z0-9_.-] only); frees c */
void api_stored_content(req_t *r, int rc, const retention_verdict_t *v, render_content_t *c,
                        const char *unavailable_code, const char *noun, const char *digest_header) {
    if ((rc == AISPM_EGONE || rc == AISPM_EFORBIDDEN) && v->code) {
        resp_problem(r, v->status, v->code, v->detail, NULL);
        return;
    }
    if (rc == AISPM_EIO) {
        char detail[120];
        snprintf(detail, sizeof detail, "the %s's stored content is missing or damaged", noun);
        resp_problem(r, 500, unavailable_code, detail, NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_attachment(r, c->content_type, &c->bytes, c->filename, c->digest, digest_header);
    render_content_free(c);
}

void api_artifact_content(req_t *r) {
    render_content_t c;
    retention_verdict_t v;
    int rc = renderer_artifact_content_checked(r->app->db, &r->app->cfg, &r->actor, req_param(r, "artifact_ref"),
                                               "artifact_content", r->request_id, &c, &v);
    api_stored_content(r, rc, &v, &c, "artifact_unavailable", "artifact", "X-Artifact-SHA256");
}
