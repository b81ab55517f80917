/*
 * retention_api.c: JSON routes of retention (lifecycle projection, classes,
 * items, approval-gated requests, revocation) and of search and retrieval
 * (search, single-use download refs). Thin: decode, call
 * reports/retention and reports/retrieval, encode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/retention.h"
#include "reports/retrieval.h"

/* answers an outcome: 2xx JSON or a problem (4xx bodies are field errors,
 * except extension members under "projection") */
static void answer(req_t *r, retention_outcome_t *o) {
    if (o->status >= 400) {
        json_object *proj = NULL;
        if (o->body && json_object_object_get_ex(o->body, "projection", &proj)) {
            resp_problem_ext(r, o->status, o->code, o->detail, NULL, o->body);
        } else {
            resp_problem(r, o->status, o->code, o->detail, o->body);
        }
        o->body = NULL;
        return;
    }
    resp_json(r, o->status, o->body);
    o->body = NULL;
}

void api_retention_lifecycle(req_t *r) {
    json_object *o = NULL;
    int rc = retention_lifecycle_projection(r->app->db, &r->actor, &o);
    if (rc == AISPM_ENOTFOUND) {
        resp_problem(r, 404, "nothing_retained", "the tenant retains no reports yet", NULL);
        return;
    }
    resp_result(r, rc, o);
}

void api_retention_classes(req_t *r) {
    json_object *o = NULL;
    int rc = retention_classes_json(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_retention_class_put(req_t *r) {
    json_object *body, *v = NULL;
    if (!req_json_body(r, &body)) return;
    int days = json_object_is_type(body, json_type_object) && json_object_object_get_ex(body, "days", &v) &&
                       json_object_is_type(v, json_type_int)
                   ? json_object_get_int(v)
                   : 0;
    json_object_put(body);
    int rc = retention_class_set(r->app->db, &r->actor, req_param(r, "object_kind"), days, r->request_id);
    if (rc == AISPM_EINVAL) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "days", json_object_new_string("an integer 1-3650 for a known object kind"));
        resp_problem(r, 422, "validation_failed", "the request is not valid", e);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    api_retention_classes(r);
}

void api_retention_item(req_t *r) {
    json_object *o = NULL;
    int rc = retention_item_json(r->app->db, &r->actor, req_param(r, "object_ref"), &o);
    resp_result(r, rc, o);
}

void api_retention_revoke(req_t *r) {
    int rc = retention_revoke(r->app->db, &r->actor, req_param(r, "object_ref"), r->request_id);
    if (rc == AISPM_ECONFLICT) {
        resp_problem(r, 409, "already_revoked_or_deleted", "the object is already revoked or deleted", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    api_retention_item(r);
}

void api_retention_requests(req_t *r) {
    json_object *o = NULL;
    char st[16] = "";
    req_query(r, "state", st, sizeof st);
    int rc = retention_requests_list(r->app->db, &r->actor, !strcmp(st, "pending"), &o);
    resp_result(r, rc, o);
}

void api_retention_request_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    retention_outcome_t o;
    int rc = retention_request_open(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    answer(r, &o);
}

void api_retention_request_get(req_t *r) {
    json_object *o = NULL;
    int rc = retention_request_json(r->app->db, &r->actor, req_param(r, "request_ref"), &o);
    resp_result(r, rc, o);
}

void api_search(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    retrieval_outcome_t o;
    int rc = retrieval_search(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    answer(r, &o);
}

void api_retrieval_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    retrieval_outcome_t o;
    int rc = retrieval_issue(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    answer(r, &o);
}

void api_download(req_t *r) {
    retrieval_outcome_t o;
    render_content_t c;
    int rc = retrieval_redeem(r->app->db, &r->app->cfg, &r->actor, req_param(r, "token"), r->request_id, &o, &c);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status != 200) {
        answer(r, &o);
        return;
    }
    api_send_content(r, &c);
    render_content_free(&c);
}
