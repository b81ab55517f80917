/*
 * operations.c: the operations dashboard (see operations.h). Every query of
 * the dashboard is in this file and filters by the actor's tenant. It reads
 * refs, states, counts and times only — never recipients (the schedules'
 * private columns are not selected) nor provider responses.
 *
 * Queue status: empty or oldest item younger than 10 minutes = healthy,
 * younger than 60 minutes = degraded, older = action_required.
 */
#include "reports/operations.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "reports/scheduler.h"

#define FAILED_WINDOW_DAYS 30
#define LIST_MAX 50

static void put_str(json_object *o, const char *k, const char *v) { json_object_object_add(o, k, json_object_new_string(v)); }
static void put_int(json_object *o, const char *k, long long v) { json_object_object_add(o, k, json_object_new_int64(v)); }

static void put_ts(json_object *o, const char *k, int64_t ms) {
    char t[RFC3339_MAX];
    rfc3339_format(ms, 0, t);
    put_str(o, k, t);
}

static int64_t sql_ms(const char *s) {
    int64_t ms = 0;
    sql_datetime_parse(s, &ms);
    return ms;
}

static long long minutes_since(int64_t now, int64_t then) { return then && now > then ? (now - then) / 60000 : 0; }

static const char *age_status(long long depth, long long age_min) {
    if (depth == 0 || age_min < 10) return "healthy";
    return age_min < 60 ? "degraded" : "action_required";
}

/* one queue: depth and the oldest item's time from a COUNT(*), MIN(t) query */
static int queue(db_t *db, json_object *arr, const char *name, const char *sql, const dbv *args, int nargs,
                 int64_t now, long long *depth_out) {
    db_res_t *res;
    int rc = db_query(db, sql, args, nargs, &res);
    if (rc) return rc;
    long long depth = 0, age = 0;
    if (db_res_next(res)) {
        depth = db_res_int(res, 0);
        if (!db_res_isnull(res, 1)) age = minutes_since(now, sql_ms(db_res_str(res, 1)));
    }
    db_res_free(res);
    json_object *q = json_object_new_object();
    put_str(q, "queue", name);
    put_int(q, "depth", depth);
    put_int(q, "oldest_age_minutes", age);
    put_str(q, "status", age_status(depth, age));
    json_object_array_add(arr, q);
    if (depth_out) *depth_out = depth;
    return 0;
}

static const char *first_report(json_object *ids) {
    json_object *x = json_object_array_length(ids) ? json_object_array_get_idx(ids, 0) : NULL;
    return x ? json_object_get_string(x) : "unknown";
}

static const char *failure_class(const char *reason) {
    static const char *const render[] = {"render_failed", "report_disabled", "no_renderable_format",
                                         "licence_inactive", NULL};
    for (int i = 0; render[i]; i++)
        if (!strcmp(reason, render[i])) return "render_error";
    if (!strcmp(reason, "recipient_policy_blocked")) return "recipient_policy";
    return "unknown";
}

static const char *delivery_mode(const char *mode) {
    /* portal download has no outbound provider: the contract calls that
     * "disabled" */
    return !strcmp(mode, "download") ? "disabled" : mode;
}

int operations_dashboard(db_t *db, const actor_t *a, int64_t now, json_object **out) {
    *out = NULL;
    char nows[RFC3339_MAX], since[RFC3339_MAX];
    sql_datetime_format(now, nows);
    sql_datetime_format(now - FAILED_WINDOW_DAYS * 86400000LL, since);
    long long t = a->tenant_id;
    int rc;
    json_object *o = json_object_new_object(), *queues = json_object_new_array();
    long long render_depth = 0, retry_depth = 0, delivery_depth = 0, schedule_depth = 0, audit_depth = 0;

    rc = queue(db, queues, "render",
               "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE tenant_id = ? AND kind = 'report.render' AND state IN "
               "('queued', 'running')",
               DB_ARGS(DBI(t)), now, &render_depth);
    if (!rc)
        rc = queue(db, queues, "schedule",
                   "SELECT COUNT(*), MIN(next_run_at) FROM schedules WHERE tenant_id = ? AND status = 'active' AND "
                   "deleted_at IS NULL AND next_run_at <= ?",
                   DB_ARGS(DBI(t), DBS(nows)), now, &schedule_depth);
    if (!rc)
        rc = queue(db, queues, "delivery",
                   "SELECT COUNT(*), MIN(x.t) FROM (SELECT created_at AS t FROM schedule_runs WHERE tenant_id = ? AND "
                   "state IN ('rendering', 'delivering') UNION ALL SELECT created_at FROM deliveries WHERE tenant_id = "
                   "? AND status IN ('queued', 'sending')) x",
                   DB_ARGS(DBI(t), DBI(t)), now, &delivery_depth);
    if (!rc)
        rc = queue(db, queues, "retry",
                   "SELECT COUNT(*), MIN(x.t) FROM (SELECT updated_at AS t FROM schedule_runs WHERE tenant_id = ? AND "
                   "state = 'retry_wait' UNION ALL SELECT updated_at FROM deliveries WHERE tenant_id = ? AND status = "
                   "'retry_scheduled') x",
                   DB_ARGS(DBI(t), DBI(t)), now, &retry_depth);
    if (!rc)
        rc = queue(db, queues, "audit_export",
                   "SELECT COUNT(*), MIN(created_at) FROM chain_pending WHERE tenant_id = ?", DB_ARGS(DBI(t)), now,
                   &audit_depth);
    (void)schedule_depth, (void)delivery_depth, (void)audit_depth;

    /* scheduled reports and approvals waiting */
    json_object *sched = json_object_new_array(), *approvals = json_object_new_array(), *failed = json_object_new_array();
    long long active = 0, pending = 0, failed_n = 0, retry_jobs = 0, renders_total = 0;
    db_res_t *res = NULL;
    if (!rc)
        rc = db_query(db,
                      "SELECT s.ref, s.report_ids, s.cadence, s.rrule, s.next_run_at, s.status, s.updated_at, "
                      "JSON_VALUE(s.approval_policy, '$.approver_group'), s.approval_ref, s.approval_policy_ref, "
                      "(SELECT r.state FROM schedule_runs r WHERE r.tenant_id = s.tenant_id AND r.schedule_id = s.id "
                      "AND r.state IN ('delivered', 'failed') ORDER BY r.occurrence_at DESC, r.id DESC LIMIT 1) "
                      "FROM schedules s WHERE s.tenant_id = ? AND s.deleted_at IS NULL ORDER BY s.next_run_at IS NULL, "
                      "s.next_run_at, s.id LIMIT 200",
                      DB_ARGS(DBI(t)), &res);
    while (!rc && db_res_next(res)) {
        json_object *ids = json_tokener_parse(db_res_str(res, 1));
        const char *status = db_res_str(res, 5), *last = db_res_str(res, 10);
        if (!strcmp(status, "active")) active++;
        const char *st = !strcmp(status, "paused")              ? "paused"
                         : !strcmp(status, "requires_approval") ? "requires_review"
                         : !strcmp(last, "failed")              ? "failed"
                                                                : "active";
        if (!db_res_isnull(res, 4) && strcmp(status, "disabled")) {
            size_t n = ids ? json_object_array_length(ids) : 0;
            for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_new_object();
                put_str(e, "schedule_id", db_res_str(res, 0));
                put_str(e, "report_id", json_object_get_string(json_object_array_get_idx(ids, i)));
                put_str(e, "cadence", scheduler_cadence_class(db_res_str(res, 2), db_res_str(res, 3)));
                put_ts(e, "next_run_at", sql_ms(db_res_str(res, 4)));
                put_str(e, "status", st);
                json_object_array_add(sched, e);
            }
        }
        if (ids) json_object_put(ids);
    }
    db_res_free(res);
    res = NULL;

    /* approvals waiting: every pending request of the tenant (schedule
     * changes, runs held by a blackout window, held sends, policy changes) */
    if (!rc)
        rc = db_query(db,
                      "SELECT ref, COALESCE(JSON_VALUE(public_subject, '$.report_ids[0]'), ''), requested_at, "
                      "approver_role FROM approval_requests WHERE tenant_id = ? AND state = 'pending' ORDER BY "
                      "requested_at, id LIMIT 50",
                      DB_ARGS(DBI(t)), &res);
    while (!rc && db_res_next(res)) {
        json_object *b = json_object_new_object();
        pending++;
        put_str(b, "approval_ref", db_res_str(res, 0));
        put_str(b, "report_id", *db_res_str(res, 1) ? db_res_str(res, 1) : "unknown");
        put_int(b, "pending_minutes", minutes_since(now, sql_ms(db_res_str(res, 2))));
        put_str(b, "approver_group", db_res_str(res, 3));
        put_str(b, "status", "pending");
        json_object_array_add(approvals, b);
    }
    db_res_free(res);
    res = NULL;

    /* failed and retrying runs */
    if (!rc)
        rc = db_query(db,
                      "SELECT r.ref, s.report_ids, s.delivery_mode, COALESCE(r.reason, ''), r.state, r.updated_at FROM "
                      "schedule_runs r JOIN schedules s ON s.id = r.schedule_id AND s.tenant_id = r.tenant_id WHERE "
                      "r.tenant_id = ? AND ((r.state = 'failed' AND r.updated_at >= ?) OR r.state = 'retry_wait') "
                      "ORDER BY r.updated_at DESC, r.id DESC LIMIT 50",
                      DB_ARGS(DBI(t), DBS(since)), &res);
    while (!rc && db_res_next(res)) {
        json_object *ids = json_tokener_parse(db_res_str(res, 1)), *f = json_object_new_object();
        bool retrying = !strcmp(db_res_str(res, 4), "retry_wait");
        if (!retrying) failed_n++;
        put_str(f, "delivery_ref", db_res_str(res, 0));
        put_str(f, "report_id", ids ? first_report(ids) : "unknown");
        put_str(f, "delivery_mode", delivery_mode(db_res_str(res, 2)));
        put_str(f, "failure_class", failure_class(db_res_str(res, 3)));
        put_str(f, "retry_status", retrying ? "retrying" : "exhausted");
        put_ts(f, "last_attempt_at", sql_ms(db_res_str(res, 5)));
        json_object_array_add(failed, f);
        if (ids) json_object_put(ids);
    }
    db_res_free(res);
    res = NULL;

    /* failed, dead-lettered, blocked and retrying deliveries of the governed
     * send path */
    if (!rc)
        rc = db_query(db,
                      "SELECT ref, report_id, channel, status, COALESCE(last_error, ''), updated_at FROM deliveries "
                      "WHERE tenant_id = ? AND status IN ('failed', 'dead', 'blocked', 'retry_scheduled') AND "
                      "updated_at >= ? ORDER BY updated_at DESC, id DESC LIMIT 50",
                      DB_ARGS(DBI(t), DBS(since)), &res);
    while (!rc && db_res_next(res)) {
        json_object *f = json_object_new_object();
        const char *st = db_res_str(res, 3), *err = db_res_str(res, 4), *ch = db_res_str(res, 2);
        put_str(f, "delivery_ref", db_res_str(res, 0));
        put_str(f, "report_id", db_res_str(res, 1));
        put_str(f, "delivery_mode", !strcmp(ch, "smtp") ? "smtp" : !strcmp(ch, "portal") ? "disabled" : "webhook");
        put_str(f, "failure_class", !strcmp(st, "blocked")                          ? "recipient_policy"
                                    : strstr(err, "auth") || strstr(err, "535")     ? "provider_auth"
                                    : strstr(err, "429") || strstr(err, "rate")     ? "provider_rate_limit"
                                                                                    : "unknown");
        put_str(f, "retry_status", !strcmp(st, "retry_scheduled") ? "retrying" : !strcmp(st, "blocked") ? "blocked"
                                                                                                         : "exhausted");
        put_ts(f, "last_attempt_at", sql_ms(db_res_str(res, 5)));
        json_object_array_add(failed, f);
    }
    db_res_free(res);
    res = NULL;

    /* render jobs waiting for another attempt count as retries too */
    if (!rc)
        rc = db_query(db,
                      "SELECT (SELECT COUNT(*) FROM jobs WHERE tenant_id = ? AND kind = 'report.render' AND state = "
                      "'queued' AND attempts > 0), (SELECT COUNT(*) FROM render_requests WHERE tenant_id = ?), "
                      "(SELECT COUNT(*) FROM schedule_runs WHERE tenant_id = ? AND state = 'failed' AND updated_at >= ?) + "
                      "(SELECT COUNT(*) FROM deliveries WHERE tenant_id = ? AND status IN ('failed', 'dead') AND "
                      "updated_at >= ?)",
                      DB_ARGS(DBI(t), DBI(t), DBI(t), DBS(since), DBI(t), DBS(since)), &res);
    if (!rc && db_res_next(res)) {
        retry_jobs = db_res_int(res, 0);
        renders_total = db_res_int(res, 1);
        failed_n = db_res_int(res, 2);
    }
    db_res_free(res);
    res = NULL;

    /* audit coverage: every evidence ref recorded by artifacts, schedules and
     * runs must name an event that exists and is linked into the chain */
    long long expected = 0, persisted = 0;
    if (!rc)
        rc = db_query(db,
                      "SELECT COUNT(*), COALESCE(SUM(l.event_id IS NOT NULL), 0) FROM (SELECT evidence_ref AS r FROM "
                      "artifacts WHERE tenant_id = ? UNION ALL SELECT evidence_ref FROM schedules WHERE tenant_id = ? "
                      "UNION ALL SELECT evidence_ref FROM schedule_runs WHERE tenant_id = ?) x LEFT JOIN "
                      "evidence_events e ON e.tenant_id = ? AND e.ulid = CONVERT(SUBSTRING_INDEX(x.r, '/', -1) USING "
                      "ascii) LEFT JOIN evidence_links l ON l.event_id = e.id",
                      DB_ARGS(DBI(t), DBI(t), DBI(t), DBI(t)), &res);
    if (!rc && db_res_next(res)) {
        expected = db_res_int(res, 0);
        persisted = db_res_int(res, 1);
    }
    db_res_free(res);
    if (rc) {
        json_object_put(o);
        json_object_put(queues);
        json_object_put(sched);
        json_object_put(approvals);
        json_object_put(failed);
        return rc;
    }
    long long missing = expected - persisted;
    double pct = expected ? (double)(persisted * 1000 / expected) / 10.0 : 100.0;

    put_str(o, "schema_version", "cavra.aispm.report_operations_dashboard.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_ts(o, "generated_at", now);
    put_str(o, "tenant_ref", a->tenant_ref);
    json_object *s = json_object_new_object();
    const char *health = "healthy";
    bool degraded_queue = false;
    for (size_t i = 0; i < json_object_array_length(queues); i++) {
        json_object *q = json_object_array_get_idx(queues, i), *v;
        json_object_object_get_ex(q, "status", &v);
        if (strcmp(json_object_get_string(v), "healthy")) degraded_queue = true;
    }
    if (failed_n > 0) health = "action_required";
    else if (retry_depth + retry_jobs > 0 || degraded_queue) health = "degraded";
    else if (active == 0 && renders_total == 0) health = "unknown";
    put_str(s, "delivery_health", health);
    put_int(s, "scheduled_reports", active);
    put_int(s, "pending_approvals", pending);
    put_int(s, "retry_queue_depth", retry_depth + retry_jobs);
    put_int(s, "failed_deliveries", failed_n);
    json_object_object_add(s, "immutable_audit_coverage_percent", json_object_new_double(pct));
    json_object_object_add(o, "summary", s);
    json_object_object_add(o, "queues", queues);
    json_object_object_add(o, "scheduled_reports", sched);
    json_object_object_add(o, "approval_bottlenecks", approvals);
    json_object_object_add(o, "failed_deliveries", failed);
    json_object *ac = json_object_new_object();
    put_int(ac, "events_expected", expected);
    put_int(ac, "events_persisted", persisted);
    put_int(ac, "immutable_refs_missing", missing);
    put_str(ac, "coverage_status", missing == 0 ? "complete" : pct >= 90.0 ? "partial" : "action_required");
    json_object_object_add(o, "audit_coverage", ac);
    json_object *rd = json_object_new_object();
    static const char *const red[] = {"recipient_addresses_included", "provider_responses_included",
                                      "raw_report_content_included", "secrets_included", NULL};
    for (int i = 0; red[i]; i++) json_object_object_add(rd, red[i], json_object_new_boolean(0));
    put_str(rd, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", rd);
    json_object *eb = json_object_new_object();
    static const char *const bnd[] = {"dashboard_persistence", "live_queue_inspection", "provider_health_probe",
                                      "retry_control",         "audit_search",          "license_enforcement",
                                      NULL};
    for (int i = 0; bnd[i]; i++) put_str(eb, bnd[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
    *out = o;
    return 0;
}
