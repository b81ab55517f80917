/*
 * delivery_api.c: JSON routes of governed delivery — send, recipient policy,
 * approvals, deliveries and the setup wizard's test delivery. Thin: decode,
 * call reports/{delivery,recipients,approvals}, encode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "reports/approvals.h"
#include "reports/retention.h"
#include "reports/delivery.h"
#include "reports/delivery_audit_export.h"
#include "reports/recipients.h"

/* a JSON array of strings -> borrowed C strings (at most max); false on a
 * wrong shape. Absent member: n = 0. */
static bool str_list(json_object *body, const char *key, const char **out, int max, int *n) {
    json_object *v;
    *n = 0;
    if (!json_object_object_get_ex(body, key, &v) || json_object_is_type(v, json_type_null)) return true;
    if (!json_object_is_type(v, json_type_array)) return false;
    size_t len = json_object_array_length(v);
    if ((int)len > max) {
        *n = (int)len; /* the module reports the bound */
        len = (size_t)max;
    }
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string)) return false;
        out[i] = json_object_get_string(e);
    }
    if (!*n) *n = (int)len;
    return true;
}

static bool only_members(req_t *r, json_object *body, const char *const *allowed) {
    json_object *errs = NULL;
    json_object_object_foreach(body, key, val) {
        (void)val;
        bool ok = false;
        for (int i = 0; allowed[i]; i++) ok = ok || !strcmp(key, allowed[i]);
        if (!ok) {
            if (!errs) errs = json_object_new_object();
            json_object_object_add(errs, key, json_object_new_string("is not a member of this request"));
        }
    }
    if (errs) resp_problem(r, 422, "validation_failed", "the request is not valid", errs);
    return !errs;
}

static void answer_submit(req_t *r, int rc, delivery_outcome_t *o) {
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o->status >= 400 && o->status != 403) {
        resp_problem(r, o->status, o->code, o->detail, o->body);
        o->body = NULL;
        return;
    }
    if (o->status == 403) { /* blocked: the reasons and recipient decisions travel with the problem */
        resp_problem_ext(r, 403, o->code, o->detail, NULL, o->body);
        o->body = NULL;
        return;
    }
    char loc[200];
    snprintf(loc, sizeof loc, "/enterprise/aispm/reports/deliveries?send_ref=%s", o->send_ref);
    resp_header(r, "Location", loc);
    resp_json(r, o->status, o->body);
    o->body = NULL;
}

static void submit(req_t *r, delivery_origin_t origin) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    static const char *const allowed[] = {"artifact_ref", "recipients", "groups", "channels", NULL};
    if (!json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        resp_problem(r, 422, "validation_failed", "the body must be a JSON object", NULL);
        return;
    }
    if (!only_members(r, body, allowed)) {
        json_object_put(body);
        return;
    }
    const char *rcpts[DELIVERY_MAX_RECIPIENTS], *groups[DELIVERY_MAX_GROUPS], *chans[8];
    int nr, ng, nc;
    json_object *art = NULL;
    json_object_object_get_ex(body, "artifact_ref", &art);
    if (!str_list(body, "recipients", rcpts, DELIVERY_MAX_RECIPIENTS, &nr) ||
        !str_list(body, "groups", groups, DELIVERY_MAX_GROUPS, &ng) || !str_list(body, "channels", chans, 8, &nc) ||
        (art && !json_object_is_type(art, json_type_string) && !json_object_is_type(art, json_type_null))) {
        json_object_put(body);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "body",
                               json_object_new_string("artifact_ref is a string; recipients, groups and channels are "
                                                      "arrays of strings"));
        resp_problem(r, 422, "validation_failed", "the request is not valid", e);
        return;
    }
    static const char *const dflt_channels[] = {"smtp"};
    delivery_request_t req = {.tenant_id = r->actor.tenant_id,
                              .tenant_ref = r->actor.tenant_ref,
                              .origin = origin,
                              .actor = &r->actor,
                              .artifact_ref = art ? json_object_get_string(art) : NULL,
                              .recipients = rcpts,
                              .nrecipients = nr,
                              .groups = groups,
                              .ngroups = ng,
                              .channels = nc || origin != DELIVERY_ORIGIN_TEST ? chans : dflt_channels,
                              .nchannels = nc || origin != DELIVERY_ORIGIN_TEST ? nc : 1,
                              .idempotency_key = r->idempotency_key,
                              .request_id = r->request_id};
    delivery_outcome_t o;
    int rc = delivery_submit(r->app->db, &req, &o);
    json_object_put(body);
    answer_submit(r, rc, &o);
    delivery_outcome_free(&o);
}

void api_send_create(req_t *r) { submit(r, DELIVERY_ORIGIN_USER); }
void api_setup_test_delivery(req_t *r) { submit(r, DELIVERY_ORIGIN_TEST); }

void api_recipient_policy_get(req_t *r) {
    json_object *o = NULL;
    int rc = recipients_policy_projection(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_recipient_policy_put(req_t *r) {
    json_object *body, *errors = NULL;
    if (!req_json_body(r, &body)) return;
    char approval[REF_MAX];
    int rc = recipients_policy_update(r->app->db, &r->actor, body, r->request_id, approval, &errors);
    json_object_put(body);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the recipient policy is not valid", errors);
        return;
    }
    if (rc) {
        json_object_put(errors);
        resp_error(r, rc);
        return;
    }
    if (approval[0]) { /* the current policy gates changes: pending approval */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "status", json_object_new_string("pending_approval"));
        json_object_object_add(o, "approval_ref", json_object_new_string(approval));
        resp_json(r, 202, o);
        return;
    }
    json_object *o = NULL;
    rc = recipients_policy_projection(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_approvals_list(req_t *r) {
    char state[16] = "", cursor[32] = "", lim[16] = "", mine[8] = "";
    req_query(r, "state", state, sizeof state);
    req_query(r, "cursor", cursor, sizeof cursor);
    req_query(r, "decidable", mine, sizeof mine);
    int limit = req_query(r, "limit", lim, sizeof lim) ? atoi(lim) : 50;
    json_object *o = NULL;
    int rc = approvals_list(r->app->db, &r->actor, state, !strcmp(mine, "true"), cursor, limit, &o);
    if (rc == AISPM_EINVAL) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "query", json_object_new_string("state must be pending, approved, rejected or "
                                                                  "expired; cursor from a previous page"));
        resp_problem(r, 422, "validation_failed", "the request is not valid", e);
        return;
    }
    resp_result(r, rc, o);
}

void api_approval_get(req_t *r) {
    json_object *o = NULL;
    int rc = approvals_get(r->app->db, &r->actor, req_param(r, "approval_ref"), &o);
    resp_result(r, rc, o);
}

void api_approval_decide(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    static const char *const allowed[] = {"decision", "reason", "conditions", "expires_at", NULL};
    if (!json_object_is_type(body, json_type_object) || !only_members(r, body, allowed)) {
        if (!json_object_is_type(body, json_type_object))
            resp_problem(r, 422, "validation_failed", "the body must be a JSON object", NULL);
        json_object_put(body);
        return;
    }
    json_object *v;
    approval_decision_t d = {0};
    if (json_object_object_get_ex(body, "decision", &v) && json_object_is_type(v, json_type_string))
        d.decision = json_object_get_string(v);
    if (json_object_object_get_ex(body, "reason", &v) && json_object_is_type(v, json_type_string))
        d.reason = json_object_get_string(v);
    if (json_object_object_get_ex(body, "conditions", &v)) d.conditions = v;
    if (json_object_object_get_ex(body, "expires_at", &v) && !json_object_is_type(v, json_type_null)) {
        int64_t ms;
        if (!json_object_is_type(v, json_type_string) || rfc3339_parse(json_object_get_string(v), &ms)) {
            json_object_put(body);
            json_object *e = json_object_new_object();
            json_object_object_add(e, "expires_at", json_object_new_string("must be an RFC 3339 date-time"));
            resp_problem(r, 422, "validation_failed", "the request is not valid", e);
            return;
        }
        d.expires_at_ms = ms;
    }
    const char *code = NULL;
    json_object *errors = NULL, *out = NULL;
    int rc = approvals_decide(r->app->db, &r->actor, req_param(r, "approval_ref"), &d, r->request_id, &code, &errors,
                              &out);
    json_object_put(body);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the decision is not valid", errors);
        return;
    }
    if ((rc == AISPM_EFORBIDDEN || rc == AISPM_ECONFLICT) && code) {
        resp_problem(r, rc == AISPM_EFORBIDDEN ? 403 : 409, code, approvals_code_detail(code), NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    /* an approved retention deletion: its content goes once the decision committed */
    retention_after_approval(r->app->db, &r->app->cfg, r->actor.tenant_id, out);
    resp_json(r, 200, out);
}

void api_deliveries_list(req_t *r) {
    char status[24] = "", report[80] = "", channel[24] = "", since[48] = "", until[48] = "", cursor[32] = "",
         lim[16] = "";
    req_query(r, "status", status, sizeof status);
    req_query(r, "report_id", report, sizeof report);
    req_query(r, "channel", channel, sizeof channel);
    req_query(r, "since", since, sizeof since);
    req_query(r, "until", until, sizeof until);
    req_query(r, "cursor", cursor, sizeof cursor);
    delivery_filter_t f = {status, report, channel, since, until, cursor,
                           req_query(r, "limit", lim, sizeof lim) ? atoi(lim) : 50};
    if (lim[0] && f.limit == 0) f.limit = -1;
    json_object *o, *errors = NULL;
    int rc = delivery_list(r->app->db, &r->actor, &f, &o, &errors);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the filters are not valid", errors);
        return;
    }
    resp_result(r, rc, o);
}

void api_delivery_get(req_t *r) {
    json_object *o = NULL;
    int rc = delivery_get(r->app->db, &r->actor, req_param(r, "delivery_ref"), &o);
    resp_result(r, rc, o);
}

void api_delivery_retry(req_t *r) {
    json_object *o = NULL;
    int rc = delivery_retry(r->app->db, &r->actor, req_param(r, "delivery_ref"), r->request_id, &o);
    if (rc == AISPM_ECONFLICT) {
        resp_problem(r, 409, "not_retryable", "only a dead-lettered or failed delivery can be retried", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_json(r, 202, o);
}

void api_delivery_endpoints_get(req_t *r) {
    json_object *o = NULL;
    int rc = delivery_endpoints_get(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_delivery_endpoints_put(req_t *r) {
    json_object *body, *errors = NULL;
    if (!req_json_body(r, &body)) return;
    int rc = delivery_endpoints_put(r->app->db, &r->actor, body, r->request_id, &errors);
    json_object_put(body);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "some endpoint settings are not valid", errors);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    api_delivery_endpoints_get(r);
}

void api_delivery_audit_list(req_t *r) {
    char action[24] = "", cursor[32] = "", lim[16] = "";
    req_query(r, "action", action, sizeof action);
    req_query(r, "cursor", cursor, sizeof cursor);
    int limit = req_query(r, "limit", lim, sizeof lim) ? atoi(lim) : 50;
    json_object *o = NULL;
    int rc = delivery_audit_list(r->app->db, &r->actor, action, cursor, limit, &o);
    if (rc == AISPM_EINVAL) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "query", json_object_new_string("action must be catalog, render, send, schedule or "
                                                                  "test_delivery; limit 1-100; cursor from a page"));
        resp_problem(r, 422, "validation_failed", "the request is not valid", e);
        return;
    }
    resp_result(r, rc, o);
}

/* ---- delivery audit exports (reports/delivery_audit_export.c) ---- */

void api_audit_export_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    audit_export_outcome_t o;
    int rc = audit_export_create(r->app->db, &r->app->cfg, &r->actor, body, r->idempotency_key, r->request_id, &o);
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
    if (json_object_object_get_ex(o.body, "export_ref", &ref)) {
        char loc[160];
        snprintf(loc, sizeof loc, "/enterprise/aispm/reports/delivery-audit/exports/%s", json_object_get_string(ref));
        resp_header(r, "Location", loc);
    }
    resp_json(r, o.status, o.body);
}

void api_audit_export_list(req_t *r) {
    resp_list(r, audit_export_list);
}

void api_audit_export_get(req_t *r) {
    json_object *o = NULL;
    int rc = audit_export_get(r->app->db, &r->actor, req_param(r, "export_ref"), &o);
    resp_result(r, rc, o);
}

void api_audit_export_content(req_t *r) {
    render_content_t c;
    retention_verdict_t v;
    int rc = audit_export_content(r->app->db, &r->app->cfg, &r->actor, req_param(r, "export_ref"), r->request_id, &c,
                                  &v);
    api_stored_content(r, rc, &v, &c, "export_unavailable", "export", "X-Export-SHA256");
}
