/*
 * portal_search.c: the portal's search page (filters, results with lifecycle
 * badges and download state), single-use downloads, and the legal hold /
 * deletion requests and their decisions. Thin: decode the form, call
 * reports/retrieval and reports/retention, render templates/search.html.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/retention.h"
#include "reports/retrieval.h"

static void add_list(json_object *filters, const char *key, const char *value) {
    if (!*value) return;
    json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_new_string(value));
    json_object_object_add(filters, key, a);
}

static void problem_of(req_t *r, retention_outcome_t *o) {
    resp_problem(r, o->status, o->code, o->detail, NULL);
    retention_outcome_free(o);
}

void portal_search(req_t *r) {
    char q[201] = "", report_id[65] = "", format[17] = "", state[24] = "", tag[65] = "", mode[32] = "",
         cursor[32] = "";
    req_query(r, "q", q, sizeof q);
    req_query(r, "report_id", report_id, sizeof report_id);
    req_query(r, "format", format, sizeof format);
    req_query(r, "lifecycle_state", state, sizeof state);
    req_query(r, "tag", tag, sizeof tag);
    req_query(r, "mode", mode, sizeof mode);
    req_query(r, "cursor", cursor, sizeof cursor);
    json_object *body = json_object_new_object(), *filters = json_object_new_object();
    json_object_object_add(body, "query", json_object_new_string(q));
    add_list(filters, "report_ids", report_id);
    add_list(filters, "formats", format);
    add_list(filters, "lifecycle_states", state);
    add_list(filters, "tags", tag);
    json_object_object_add(body, "filters", filters);
    if (*mode) json_object_object_add(body, "retention_mode", json_object_new_string(mode));
    if (*cursor) json_object_object_add(body, "cursor", json_object_new_string(cursor));
    retrieval_outcome_t o;
    int rc = retrieval_search(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status != 200) {
        problem_of(r, &o);
        return;
    }
    bool manage = rbac_role_has(r->actor.role, PERM_RETENTION_MANAGE),
         decide = rbac_role_has(r->actor.role, PERM_APPROVALS_DECIDE);
    json_object *page = o.body, *results, *v;
    o.body = NULL;
    json_object_object_del(page, "projection");
    json_object_object_get_ex(page, "results", &results);
    for (size_t i = 0; i < json_object_array_length(results); i++) {
        json_object *e = json_object_array_get_idx(results, i);
        const char *lc = json_object_object_get_ex(e, "lifecycle_state", &v) ? json_object_get_string(v) : "";
        bool gone = !strcmp(lc, "deleted"), pending = !strcmp(lc, "pending_approval");
        bool held = json_object_object_get_ex(e, "legal_hold", &v) && json_object_get_boolean(v);
        json_object_object_add(e, "can_hold", json_object_new_boolean(manage && !gone && !pending && !held));
        json_object_object_add(e, "can_release", json_object_new_boolean(manage && held));
        json_object_object_add(e, "can_delete", json_object_new_boolean(manage && !held && !pending &&
                                                                         (!strcmp(lc, "archived") ||
                                                                          !strcmp(lc, "expired"))));
    }
    json_object *reqs = NULL;
    if (retention_requests_list(r->app->db, &r->actor, true, &reqs) == 0) {
        json_object *arr;
        json_object_object_get_ex(reqs, "requests", &arr);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            const char *by = json_object_object_get_ex(e, "requested_by", &v) ? json_object_get_string(v) : "";
            json_object_object_add(e, "can_decide", json_object_new_boolean(decide && strcmp(by, r->actor.user_ref)));
        }
        json_object_object_add(page, "requests", json_object_get(arr));
        json_object_put(reqs);
    }
    json_object *f = json_object_new_object();
    json_object_object_add(f, "q", json_object_new_string(q));
    json_object_object_add(f, "report_id", json_object_new_string(report_id));
    json_object_object_add(f, "format", json_object_new_string(format));
    json_object_object_add(f, "lifecycle_state", json_object_new_string(state));
    json_object_object_add(f, "tag", json_object_new_string(tag));
    json_object_object_add(f, "mode", json_object_new_string(mode));
    json_object_object_add(page, "filters", f);
    json_object_object_add(page, "can_manage", json_object_new_boolean(manage));
    resp_page(r, 200, "search", "Search", page);
}

void portal_search_retrieve(req_t *r) {
    char ref[65] = "";
    req_form(r, "report_ref", ref, sizeof ref);
    json_object *body = json_object_new_object(), *v;
    json_object_object_add(body, "report_ref", json_object_new_string(ref));
    retrieval_outcome_t o;
    int rc = retrieval_issue(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status != 201) {
        problem_of(r, &o);
        return;
    }
    char loc[200];
    json_object_object_get_ex(o.body, "download_url", &v);
    snprintf(loc, sizeof loc, "%s", json_object_get_string(v));
    retention_outcome_free(&o);
    resp_redirect(r, loc);
}

void portal_retention_request(req_t *r) {
    char action[32] = "", ref[65] = "", reason[501] = "";
    req_form(r, "action", action, sizeof action);
    req_form(r, "object_ref", ref, sizeof ref);
    req_form(r, "reason", reason, sizeof reason);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "action", json_object_new_string(action));
    json_object_object_add(body, "object_ref", json_object_new_string(ref));
    json_object_object_add(body, "reason", json_object_new_string(reason));
    retention_outcome_t o;
    int rc = retention_request_open(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400) {
        problem_of(r, &o);
        return;
    }
    retention_outcome_free(&o);
    resp_redirect(r, "/portal/search");
}
