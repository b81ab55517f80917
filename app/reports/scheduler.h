/*
 * scheduler.h: report schedules — definition, projection, preview and the
 * exactly-once scheduler that runs them.
 *
 * A schedule names reports and formats, a cadence (preset or RRULE, see
 * rrule.h) in an IANA time zone (the schedule's, else the tenant's
 * CAVRA_REPORT_DEFAULT_TIMEZONE, else UTC), recipients and groups (stored
 * privately: projections, evidence and logs carry counts and an opaque
 * target_ref only), a delivery mode and channels, an approval policy, blackout
 * windows (one-off ranges or recurring RRULE windows with a duration, each
 * with behaviour defer | skip | require_manual_approval; the first window in
 * list order that contains an occurrence acts), a retry policy and a missed
 * occurrences policy.
 *
 * Scheduler (scheduler_tick, run by every job worker about once a second and
 * by `aispm admin scheduler-tick --now T`):
 *  1. For each active schedule whose cursor next_run_at <= now, every
 *     occurrence in [cursor, now] is claimed by INSERT into schedule_runs,
 *     unique (schedule, occurrence): whatever the number of processes or
 *     hosts, one claim wins; the loser rolls back and writes nothing. The
 *     claim, its first state and its evidence commit together. An occurrence
 *     older than SCHEDULER_GRACE_MS is *missed*: policy `latest` runs only the
 *     newest missed one, `all` runs each, `none` runs none; the others are
 *     recorded as skipped (reason missed). The cursor then moves forward by
 *     compare-and-set.
 *  2. A claimed occurrence inside a blackout window is skipped, deferred to
 *     the window's end, or held for a manual approval; otherwise it renders:
 *     one render request per report and format (renderer_enqueue, in the
 *     claim's transaction). Deferred runs whose time has come are taken by
 *     compare-and-set and render then.
 *  3. When all of a run's renders succeeded, one process takes the run
 *     (compare-and-set to delivering, with a lock that a crash lets expire)
 *     and delivers it through scheduler_deliver_occurrence(). Transient
 *     failures retry within the retry policy; the rest fail (dead-lettered
 *     when the policy says so).
 * Run evidence: schedule.run_scheduled, schedule.run_skipped,
 * schedule.run_deferred, schedule.run_blocked, schedule.run_retried,
 * schedule.run_delivered, schedule.run_failed.
 *
 * Every request-facing function filters by the actor's tenant: another
 * tenant's ref is AISPM_ENOTFOUND. json_object out-parameters belong to the
 * caller.
 */
#ifndef AISPM_REPORTS_SCHEDULER_H
#define AISPM_REPORTS_SCHEDULER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "server/http.h"

#define SCHEDULER_GRACE_MS (60LL * 60 * 1000) /* older occurrences are "missed" */
#define SCHEDULER_PREVIEW_MAX 100

/* the accepted values (NULL-terminated), for forms */
extern const char *const scheduler_delivery_modes[];
extern const char *const scheduler_behaviors[];
extern const char *const scheduler_backoffs[];
extern const char *const scheduler_missed_policies[];

/* result of a create/update/pause/resume: status 2xx with body, or a refusal
 * (404, 409, 422) with a problem code, detail and field errors (body) */
typedef struct {
    int status;
    const char *code;
    const char *detail;
    json_object *body;
} schedule_outcome_t;
void schedule_outcome_free(schedule_outcome_t *o);

int scheduler_create(db_t *db, const actor_t *a, json_object *body, const char *request_id, schedule_outcome_t *out);
/* full replacement; recipients/groups omitted keep the stored ones */
int scheduler_update(db_t *db, const actor_t *a, const char *ref, json_object *body, const char *request_id,
                     schedule_outcome_t *out);
int scheduler_pause(db_t *db, const actor_t *a, const char *ref, bool pause, const char *request_id,
                    schedule_outcome_t *out);
int scheduler_delete(db_t *db, const actor_t *a, const char *ref, const char *request_id);

/* the API view: definition without recipients (counts and target_ref only) */
int scheduler_get(db_t *db, const actor_t *a, const char *ref, json_object **out);
/* {"schedules": [...view...]} newest first */
int scheduler_list(db_t *db, const actor_t *a, json_object **out);
/* aispm-report-schedule-policy.schema.json */
int scheduler_policy_projection(db_t *db, const actor_t *a, const char *ref, json_object **out);
/* the next `count` occurrences after from_ms: UTC and local time, and the
 * blackout effect on each */
int scheduler_preview(db_t *db, const actor_t *a, const char *ref, int64_t from_ms, int count, json_object **out);
/* {"runs": [...]} newest first, at most limit */
int scheduler_runs(db_t *db, const actor_t *a, const char *ref, int limit, json_object **out);

/* daily | weekly | monthly | quarterly: the class of a stored cadence (a
 * preset's name; a custom rule's FREQ, with INTERVAL=3 or four BYMONTH
 * months read as quarterly); "custom" when the rule does not parse */
const char *scheduler_cadence_class(const char *cadence, const char *rrule);

/* registers the approval handler of schedule changes and of runs held for a
 * manual approval; call once per process (main, beside delivery_init) */
void scheduler_init(void);

typedef struct {
    int claimed, lost, skipped, deferred, blocked, rendering, delivered, retried, failed;
} scheduler_stats_t;
/* one scheduler pass as of now_ms (all tenants); stats may be NULL */
int scheduler_tick(db_t *db, int64_t now_ms, scheduler_stats_t *stats);

#endif
