/*
 * jobs.h: the one background-work queue (table `jobs`, migration 001).
 *
 * A job is claimed with SELECT ... FOR UPDATE SKIP LOCKED when it is queued
 * and due, or when it is running but its lock expired (its worker crashed:
 * the job is simply claimed again and `attempts` counts claims). A worker
 * only finishes or re-queues a job it still owns (locked_by and attempts
 * match), so a worker that lost its lock can never overwrite the new owner.
 * Handlers must be idempotent: a crash at any point repeats the work.
 */
#ifndef AISPM_DB_JOBS_H
#define AISPM_DB_JOBS_H

#include <stdint.h>

#include "db/db.h"

typedef struct {
    long long id, tenant_id;
    int attempts, max_attempts;
    char worker[64];
    long long payload_id; /* the payload's integer member named by the claim */
} job_claim_t;

/* inserts a queued job due at run_at_ms (0 = now), inside the caller's
 * transaction; payload_json is a JSON object text */
int jobs_enqueue(db_t *db, long long tenant_id, const char *kind, const char *payload_json, int64_t run_at_ms,
                 int max_attempts, uint64_t *id_out);
/* claims one due job of `kind` (own transaction), locking it for lock_s.
 * id_member: the payload member returned in payload_id ("$.delivery_id").
 * on_claim (may be NULL) runs inside the claiming transaction, so the owner
 * can mark its own row (e.g. count an attempt) with the same commit; a
 * non-zero return rolls the claim back. Returns 1 claimed, 0 nothing due,
 * <0 error. */
typedef int (*jobs_on_claim_fn)(db_t *db, const job_claim_t *j, void *ctx);
int jobs_claim(db_t *db, const char *kind, const char *id_member, int lock_s, job_claim_t *j);
int jobs_claim_with(db_t *db, const char *kind, const char *id_member, int lock_s, jobs_on_claim_fn on_claim,
                    void *ctx, job_claim_t *j);
/* state done|failed|dead, if still owned; inside the caller's transaction;
 * AISPM_ECONFLICT when the job was lost */
int jobs_finish(db_t *db, const job_claim_t *j, const char *state, const char *err);
/* back to the queue, due at run_at_ms, if still owned */
int jobs_requeue(db_t *db, const job_claim_t *j, int64_t run_at_ms, const char *err);

#endif
