/*
 * schedule_api.c: JSON routes of report schedules and the operations
 * dashboard. Thin: decode, call reports/scheduler and reports/operations,
 * encode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "reports/operations.h"
#include "reports/scheduler.h"

static void answer(req_t *r, int rc, schedule_outcome_t *o) {
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o->status >= 400) {
        resp_problem(r, o->status, o->code, o->detail, o->body);
        return;
    }
    if (o->status == 201) {
        json_object *ref;
        if (json_object_object_get_ex(o->body, "schedule_ref", &ref)) {
            char loc[200];
            snprintf(loc, sizeof loc, "/enterprise/aispm/reports/schedules/%s", json_object_get_string(ref));
            resp_header(r, "Location", loc);
        }
    }
    resp_json(r, o->status, o->body);
}

void api_schedule_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    schedule_outcome_t o;
    int rc = scheduler_create(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    answer(r, rc, &o);
}

void api_schedule_update(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    schedule_outcome_t o;
    int rc = scheduler_update(r->app->db, &r->actor, req_param(r, "schedule_ref"), body, r->request_id, &o);
    json_object_put(body);
    answer(r, rc, &o);
}

void api_schedule_pause(req_t *r) {
    schedule_outcome_t o;
    int rc = scheduler_pause(r->app->db, &r->actor, req_param(r, "schedule_ref"), true, r->request_id, &o);
    answer(r, rc, &o);
}

void api_schedule_resume(req_t *r) {
    schedule_outcome_t o;
    int rc = scheduler_pause(r->app->db, &r->actor, req_param(r, "schedule_ref"), false, r->request_id, &o);
    answer(r, rc, &o);
}

void api_schedule_delete(req_t *r) {
    int rc = scheduler_delete(r->app->db, &r->actor, req_param(r, "schedule_ref"), r->request_id);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_text(r, 204, "text/plain", "", 0);
}

void api_schedule_list(req_t *r) {
    json_object *o = NULL;
    int rc = scheduler_list(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_schedule_get(req_t *r) {
    json_object *o = NULL;
    int rc = scheduler_get(r->app->db, &r->actor, req_param(r, "schedule_ref"), &o);
    resp_result(r, rc, o);
}

void api_schedule_policy(req_t *r) {
    json_object *o = NULL;
    int rc = scheduler_policy_projection(r->app->db, &r->actor, req_param(r, "schedule_ref"), &o);
    resp_result(r, rc, o);
}

void api_schedule_runs(req_t *r) {
    json_object *o = NULL;
    char lim[16] = "";
    int limit = req_query(r, "limit", lim, sizeof lim) ? atoi(lim) : 50;
    int rc = scheduler_runs(r->app->db, &r->actor, req_param(r, "schedule_ref"), limit, &o);
    resp_result(r, rc, o);
}

void api_schedule_preview(req_t *r) {
    char from[48] = "", cnt[16] = "";
    int64_t from_ms = now_ms();
    int count = 10;
    json_object *errors = json_object_new_object();
    if (req_query(r, "from", from, sizeof from) && rfc3339_parse(from, &from_ms))
        json_object_object_add(errors, "from", json_object_new_string("must be an RFC 3339 date-time"));
    if (req_query(r, "count", cnt, sizeof cnt)) {
        char *end;
        long v = strtol(cnt, &end, 10);
        if (*end || v < 1 || v > SCHEDULER_PREVIEW_MAX)
            json_object_object_add(errors, "count", json_object_new_string("must be a whole number from 1 to 100"));
        else
            count = (int)v;
    }
    if (json_object_object_length(errors)) {
        resp_problem(r, 422, "validation_failed", "the request is not valid", errors);
        return;
    }
    json_object_put(errors);
    json_object *o = NULL;
    int rc = scheduler_preview(r->app->db, &r->actor, req_param(r, "schedule_ref"), from_ms, count, &o);
    resp_result(r, rc, o);
}

void api_operations_dashboard(req_t *r) {
    json_object *o = NULL;
    int rc = operations_dashboard(r->app->db, &r->actor, now_ms(), &o);
    resp_result(r, rc, o);
}
