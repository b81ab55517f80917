/*
 * portal_delivery.c: portal pages of governed delivery — deliveries list
 * and detail (with the operator's retry of a dead letter), the approvals
 * inbox (approve / reject with a reason, only what the user may decide),
 * the recipient policy page (domain rules added or removed through the same
 * gated update as the API), the send form of an artifact and the setup
 * wizard's test delivery. Thin: decode the form, call the reports modules, render a
 * template; every form carries the CSRF token and redirects (303) after POST.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "reports/approvals.h"
#include "reports/retention.h"
#include "reports/delivery.h"
#include "reports/delivery_audit_export.h"
#include "reports/recipients.h"

static void idem_key(json_object *o) {
    uint8_t raw[18];
    char key[40] = "portal-";
    random_bytes(raw, sizeof raw);
    b64url_encode(raw, sizeof raw, key + 7);
    json_object_object_add(o, "send_key", json_object_new_string(key));
}

void portal_delivery_decorate_artifact(req_t *r, json_object *page) {
    bool can = rbac_role_has(r->actor.role, PERM_REPORTS_SEND);
    json_object_object_add(page, "can_send", json_object_new_boolean(can));
    if (can) idem_key(page);
}

/* splits a free-text list (commas, spaces, new lines) into at most max
 * tokens, in place */
static int split_list(char *s, const char **out, int max) {
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, ", \t\r\n;", &save); t; t = strtok_r(NULL, ", \t\r\n;", &save)) {
        if (n == max) return max + 1;
        out[n++] = t;
    }
    return n;
}

static void submit_form(req_t *r, delivery_origin_t origin) {
    char rcpts_text[26000]; /* 100 addresses of up to 254 characters and separators */
    char artifact[64] = "", key[64] = "", group[64] = "";
    rcpts_text[0] = 0;
    req_form(r, "artifact_ref", artifact, sizeof artifact);
    req_form(r, "recipients", rcpts_text, sizeof rcpts_text);
    req_form(r, "group_ref", group, sizeof group);
    req_form(r, "idempotency_key", key, sizeof key);
    const char *rcpts[DELIVERY_MAX_RECIPIENTS + 1], *chans[CHANNEL__COUNT], *groups[1];
    int nr = split_list(rcpts_text, rcpts, DELIVERY_MAX_RECIPIENTS);
    int nc = 0;
    static const char *const names[] = {"smtp", "portal", "webhook", "grc_upload"};
    for (int i = 0; i < CHANNEL__COUNT; i++) {
        char field[32], v[8] = "";
        snprintf(field, sizeof field, "channel_%s", names[i]);
        if (req_form(r, field, v, sizeof v) && *v) chans[nc++] = names[i];
    }
    if (!nc) chans[nc++] = "smtp";
    if (*group) groups[0] = group;
    delivery_request_t req = {.tenant_id = r->actor.tenant_id,
                              .tenant_ref = r->actor.tenant_ref,
                              .origin = origin,
                              .actor = &r->actor,
                              .artifact_ref = *artifact ? artifact : NULL,
                              .recipients = rcpts,
                              .nrecipients = nr,
                              .groups = groups,
                              .ngroups = *group ? 1 : 0,
                              .channels = chans,
                              .nchannels = nc,
                              .idempotency_key = *key ? key : NULL,
                              .request_id = r->request_id};
    delivery_outcome_t o;
    int rc = delivery_submit(r->app->db, &req, &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400 && o.status != 403) {
        resp_problem(r, o.status, o.code, o.detail, o.body);
        o.body = NULL;
        return;
    }
    /* blocked sends are recorded too: show the delivery with its reasons */
    json_object *dl, *first, *ref;
    char loc[128] = "/portal/deliveries";
    if (json_object_object_get_ex(o.body, "deliveries", &dl) && json_object_array_length(dl) &&
        (first = json_object_array_get_idx(dl, 0)) && json_object_object_get_ex(first, "delivery_ref", &ref))
        snprintf(loc, sizeof loc, "/portal/deliveries/%s", json_object_get_string(ref));
    delivery_outcome_free(&o);
    resp_redirect(r, loc);
}

void portal_send_post(req_t *r) { submit_form(r, DELIVERY_ORIGIN_USER); }
void portal_test_delivery_post(req_t *r) { submit_form(r, DELIVERY_ORIGIN_TEST); }

void portal_test_delivery_get(req_t *r) {
    json_object *page = json_object_new_object(), *ep;
    if (delivery_endpoints_get(r->app->db, &r->actor, &ep) == 0) json_object_object_add(page, "endpoints", ep);
    idem_key(page);
    resp_page(r, 200, "test_delivery", "Test delivery", page);
}

void portal_deliveries(req_t *r) {
    char status[24] = "", channel[24] = "", cursor[32] = "";
    req_query(r, "status", status, sizeof status);
    req_query(r, "channel", channel, sizeof channel);
    req_query(r, "cursor", cursor, sizeof cursor);
    delivery_filter_t f = {status, NULL, channel, NULL, NULL, cursor, 25};
    json_object *o, *errors = NULL;
    int rc = delivery_list(r->app->db, &r->actor, &f, &o, &errors);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the filters are not valid", errors);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *flt = json_object_new_object();
    json_object_object_add(flt, "status", json_object_new_string(status));
    json_object_object_add(flt, "channel", json_object_new_string(channel));
    json_object_object_add(o, "filter", flt);
    json_object_object_add(o, "can_export", json_object_new_boolean(rbac_role_has(r->actor.role, PERM_AUDIT_READ)));
    resp_page(r, 200, "deliveries", "Deliveries", o);
}

/* "Export delivery audit": the last `days` (1..366) of the delivery audit as
 * JSONL or CSV through audit_export_create, then the download itself */
void portal_delivery_audit_export(req_t *r) {
    char fmt[8] = "", days_s[8] = "";
    req_form(r, "format", fmt, sizeof fmt);
    req_form(r, "days", days_s, sizeof days_s);
    int days = atoi(days_s);
    if (days < 1 || days > 366) days = 30;
    int64_t now = now_ms();
    char since[RFC3339_MAX], until[RFC3339_MAX];
    rfc3339_format(now - (int64_t)days * DAY_MS, 0, since);
    rfc3339_format(now + 1000, 0, until);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "since", json_object_new_string(since));
    json_object_object_add(body, "until", json_object_new_string(until));
    json_object_object_add(body, "format", json_object_new_string(fmt));
    audit_export_outcome_t o;
    int rc = audit_export_create(r->app->db, &r->app->cfg, &r->actor, body, NULL, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400) {
        resp_problem(r, o.status, o.code, o.detail, o.body);
        return;
    }
    json_object *url;
    char loc[200] = "/portal/deliveries";
    if (json_object_object_get_ex(o.body, "content_url", &url)) snprintf(loc, sizeof loc, "%s", json_object_get_string(url));
    json_object_put(o.body);
    resp_redirect(r, loc);
}

void portal_delivery_get(req_t *r) {
    json_object *o;
    int rc = delivery_get(r->app->db, &r->actor, req_param(r, "delivery_ref"), &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object_object_add(o, "can_retry", json_object_new_boolean(rbac_role_has(r->actor.role, PERM_REPORTS_SEND)));
    resp_page(r, 200, "delivery", "Delivery", o);
}

void portal_delivery_retry(req_t *r) {
    json_object *o;
    const char *ref = req_param(r, "delivery_ref");
    int rc = delivery_retry(r->app->db, &r->actor, ref, r->request_id, &o);
    if (rc == AISPM_ECONFLICT) {
        resp_problem(r, 409, "not_retryable", "only a dead-lettered or failed delivery can be retried", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object_put(o);
    char loc[128];
    snprintf(loc, sizeof loc, "/portal/deliveries/%s", ref);
    resp_redirect(r, loc);
}

void portal_approvals(req_t *r) {
    json_object *mine, *recent;
    int rc = approvals_list(r->app->db, &r->actor, "pending", true, NULL, 50, &mine);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    rc = approvals_list(r->app->db, &r->actor, NULL, false, NULL, 25, &recent);
    if (rc) {
        json_object_put(mine);
        resp_error(r, rc);
        return;
    }
    json_object *page = json_object_new_object(), *v;
    json_object_object_get_ex(mine, "approvals", &v);
    json_object_object_add(page, "decidable", json_object_get(v));
    json_object_object_get_ex(recent, "approvals", &v);
    json_object_object_add(page, "recent", json_object_get(v));
    json_object_put(mine);
    json_object_put(recent);
    resp_page(r, 200, "approvals", "Approvals", page);
}

void portal_approval_decide(req_t *r) {
    char decision[16] = "", reason[1100] = "";
    req_form(r, "decision", decision, sizeof decision);
    req_form(r, "reason", reason, sizeof reason);
    approval_decision_t d = {.decision = decision, .reason = *reason ? reason : NULL};
    const char *code = NULL;
    json_object *errors = NULL, *out = NULL;
    int rc = approvals_decide(r->app->db, &r->actor, req_param(r, "approval_ref"), &d, r->request_id, &code, &errors,
                              &out);
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
    json_object_put(out);
    resp_redirect(r, "/portal/approvals");
}

void portal_recipient_policy(req_t *r) {
    json_object *o;
    int rc = recipients_policy_projection(r->app->db, &r->actor, &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object_object_add(o, "can_edit", json_object_new_boolean(rbac_role_has(r->actor.role, PERM_SETTINGS_WRITE)));
    char pending[8] = "";
    if (req_query(r, "pending", pending, sizeof pending))
        json_object_object_add(o, "pending_approval", json_object_new_boolean(1));
    resp_page(r, 200, "recipient_policy", "Recipient policy", o);
}

/* POST /portal/recipient-policy/domains: add (or replace) or remove one
 * domain rule; everything else of the policy stays as it is */
void portal_recipient_policy_domain(req_t *r) {
    char action[16] = "", domain[254] = "", cls[32] = "", appr[8] = "", enc[8] = "";
    req_form(r, "action", action, sizeof action);
    req_form(r, "domain", domain, sizeof domain);
    req_form(r, "classification", cls, sizeof cls);
    req_form(r, "approval_required", appr, sizeof appr);
    req_form(r, "encryption_required", enc, sizeof enc);
    for (char *p = domain; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    json_object *doc;
    int rc = recipients_policy_document(r->app->db, &r->actor, &doc);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *rules, *kept = json_object_new_array();
    json_object_object_get_ex(doc, "domain_rules", &rules);
    for (size_t i = 0; i < json_object_array_length(rules); i++) {
        json_object *x = json_object_array_get_idx(rules, i), *d;
        json_object_object_get_ex(x, "domain", &d);
        if (strcmp(json_object_get_string(d), domain)) json_object_array_add(kept, json_object_get(x));
    }
    if (!strcmp(action, "add")) {
        json_object *x = json_object_new_object();
        json_object_object_add(x, "domain", json_object_new_string(domain));
        json_object_object_add(x, "classification", json_object_new_string(cls));
        json_object_object_add(x, "allowed", json_object_new_boolean(strcmp(cls, "blocked") != 0));
        json_object_object_add(x, "approval_required", json_object_new_boolean(*appr != 0));
        json_object_object_add(x, "encryption_required", json_object_new_boolean(*enc != 0));
        json_object_array_add(kept, x);
    }
    json_object_object_add(doc, "domain_rules", kept);
    char approval[REF_MAX];
    json_object *errors = NULL;
    rc = recipients_policy_update(r->app->db, &r->actor, doc, r->request_id, approval, &errors);
    json_object_put(doc);
    if (rc == AISPM_EINVAL) {
        resp_problem(r, 422, "validation_failed", "the domain rule is not valid", errors);
        return;
    }
    if (rc) {
        json_object_put(errors);
        resp_error(r, rc);
        return;
    }
    resp_redirect(r, approval[0] ? "/portal/recipient-policy?pending=1" : "/portal/recipient-policy");
}

void portal_inbox(req_t *r) {
    json_object *o;
    int rc = delivery_inbox(r->app->db, &r->actor, &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_page(r, 200, "inbox", "Inbox", o);
}
