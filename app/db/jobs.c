/*
 * jobs.c: claim / finish / re-queue over the `jobs` table (see jobs.h).
 */
#include "db/jobs.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/timeutil.h"

int jobs_enqueue(db_t *db, long long tenant_id, const char *kind, const char *payload_json, int64_t run_at_ms,
                 int max_attempts, uint64_t *id_out) {
    char now[RFC3339_MAX], at[RFC3339_MAX];
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    sql_datetime_format(run_at_ms ? run_at_ms : t, at);
    return db_exec(db,
                   "INSERT INTO jobs (tenant_id, kind, payload, state, max_attempts, run_at, created_at, updated_at) "
                   "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                   DB_ARGS(DBI(tenant_id), DBS(kind), DBS(payload_json), DBI(max_attempts > 0 ? max_attempts : 1),
                           DBS(at), DBS(now), DBS(now)),
                   NULL, id_out);
}

int jobs_claim(db_t *db, const char *kind, const char *id_member, int lock_s, job_claim_t *j) {
    return jobs_claim_with(db, kind, id_member, lock_s, NULL, NULL, j);
}

int jobs_claim_with(db_t *db, const char *kind, const char *id_member, int lock_s, jobs_on_claim_fn on_claim,
                    void *ctx, job_claim_t *j) {
    char now[RFC3339_MAX], until[RFC3339_MAX];
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    sql_datetime_format(t + lock_s * 1000LL, until);
    if (!j->worker[0]) snprintf(j->worker, sizeof j->worker, "pid:%ld", (long)getpid());
    int rc = db_begin(db);
    if (rc) return rc;
    /* two index range reads on (kind, state, run_at) instead of one OR that
     * would sort every due row: first a job whose worker died (its lock ran
     * out), then the oldest due queued one */
    db_res_t *res;
    rc = db_query(db,
                  "SELECT id, CAST(JSON_VALUE(payload, ?) AS UNSIGNED), tenant_id, attempts, max_attempts "
                  "FROM jobs WHERE kind = ? AND state = 'running' AND locked_until < ? ORDER BY run_at, id LIMIT 1 "
                  "FOR UPDATE SKIP LOCKED",
                  DB_ARGS(DBS(id_member), DBS(kind), DBS(now)), &res);
    if (!rc && !db_res_next(res)) {
        db_res_free(res);
        rc = db_query(db,
                      "SELECT id, CAST(JSON_VALUE(payload, ?) AS UNSIGNED), tenant_id, attempts, max_attempts "
                      "FROM jobs WHERE kind = ? AND state = 'queued' AND run_at <= ? ORDER BY run_at, id LIMIT 1 "
                      "FOR UPDATE SKIP LOCKED",
                      DB_ARGS(DBS(id_member), DBS(kind), DBS(now)), &res);
        if (!rc && !db_res_next(res)) {
            db_res_free(res);
            res = NULL;
        }
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    int found = 0;
    if (res) {
        j->id = db_res_int(res, 0);
        j->payload_id = db_res_int(res, 1);
        j->tenant_id = db_res_int(res, 2);
        j->attempts = (int)db_res_int(res, 3) + 1;
        j->max_attempts = (int)db_res_int(res, 4);
        found = 1;
        db_res_free(res);
    }
    if (found)
        rc = db_exec(db,
                     "UPDATE jobs SET state = 'running', attempts = ?, locked_by = ?, locked_until = ?, "
                     "updated_at = ? WHERE id = ?",
                     DB_ARGS(DBI(j->attempts), DBS(j->worker), DBS(until), DBS(now), DBI(j->id)), NULL, NULL);
    if (found && !rc && on_claim) rc = on_claim(db, j, ctx);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    rc = db_commit(db);
    return rc ? rc : found;
}

int jobs_finish(db_t *db, const job_claim_t *j, const char *state, const char *err) {
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    uint64_t n = 0;
    int rc = db_exec(db,
                     "UPDATE jobs SET state = ?, locked_by = NULL, locked_until = NULL, last_error = ?, updated_at = ? "
                     "WHERE id = ? AND locked_by = ? AND attempts = ? AND state = 'running'",
                     DB_ARGS(DBS(state), DBS(err), DBS(now), DBI(j->id), DBS(j->worker), DBI(j->attempts)), &n,
                     NULL);
    if (!rc && n == 0) rc = AISPM_ECONFLICT;
    return rc;
}

int jobs_requeue(db_t *db, const job_claim_t *j, int64_t run_at_ms, const char *err) {
    char now[RFC3339_MAX], at[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    sql_datetime_format(run_at_ms, at);
    uint64_t n = 0;
    int rc = db_exec(db,
                     "UPDATE jobs SET state = 'queued', run_at = ?, locked_by = NULL, locked_until = NULL, "
                     "last_error = ?, updated_at = ? WHERE id = ? AND locked_by = ? AND attempts = ?",
                     DB_ARGS(DBS(at), DBS(err), DBS(now), DBI(j->id), DBS(j->worker), DBI(j->attempts)), &n, NULL);
    if (!rc && n == 0) rc = AISPM_ECONFLICT;
    return rc;
}
