/*
 * delivery.h: governed sends and their deliveries.
 *
 * delivery_submit() is the one entry point for sending an artifact, used by
 * POST .../reports/send, the portal send form, the setup wizard's "send test
 * delivery" and the scheduler. In one transaction it:
 *   1. checks the artifact (tenant's, exists) and the Idempotency-Key
 *      (a repeat answers the original send, duplicate = true);
 *   2. evaluates every recipient and group member on every channel with
 *      recipient_evaluate() (recipients.h);
 *   3. blocked   -> delivery rows in state 'blocked', audit events
 *                   blocked_policy, evidence delivery.blocked; nothing is sent;
 *      needs approval -> rows 'held' + one report_send approval request
 *                   (approvals.h); released (queued) when approved, dropped
 *                   with evidence when rejected or expired;
 *      allowed   -> rows 'queued' + one `jobs` row (kind report.deliver) per
 *                   delivery.
 * The job worker (delivery_run_pending) sends through the provider of the
 * channel (providers/provider.h) with a stable Message-ID / delivery id per
 * delivery, retries transient failures with exponential backoff + jitter
 * within the tenant's retry policy, stops on permanent ones and dead-letters
 * after the last attempt; delivery_retry() lets an operator re-queue a
 * dead-lettered delivery. Every state change and attempt writes evidence and
 * a delivery audit event (projection: aispm-report-delivery-audit-event).
 *
 * Recipient addresses are stored only in delivery_recipients.address and
 * leave the module only towards the SMTP provider.
 */
#ifndef AISPM_REPORTS_DELIVERY_H
#define AISPM_REPORTS_DELIVERY_H

#include <json-c/json.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/config.h"
#include "db/db.h"
#include "reports/approvals.h"
#include "server/http.h"

#define DELIVERY_JOB_KIND "report.deliver"
#define DELIVERY_MAX_RECIPIENTS 100
#define DELIVERY_MAX_GROUPS 20

typedef enum {
    DELIVERY_ORIGIN_USER = 0, /* API or portal send by `actor` */
    DELIVERY_ORIGIN_SCHEDULE, /* scheduler: schedule_ref + occurrence_ref, no actor */
    DELIVERY_ORIGIN_TEST,     /* setup wizard "send test delivery" by `actor` */
} delivery_origin_t;

typedef struct {
    long long tenant_id;
    const char *tenant_ref;
    delivery_origin_t origin;
    const actor_t *actor;         /* USER / TEST; NULL for SCHEDULE */
    const char *schedule_ref;     /* SCHEDULE */
    const char *occurrence_ref;   /* SCHEDULE: unique per occurrence */
    const char *artifact_ref;     /* artifact:ULID (TEST: may be NULL -> a small test message) */
    const char *const *recipients; int nrecipients; /* addresses (PRIVATE) */
    const char *const *groups; int ngroups;         /* group:ULID */
    const char *const *channels; int nchannels;     /* smtp|email, portal|download, webhook, grc_upload */
    const char *idempotency_key;  /* NULL allowed (the scheduler passes the occurrence ref) */
    const char *approval_ref;     /* optional pre-granted approval (e.g. an approved schedule): must
                                     authorise at submit time, else the send is held as usual */
    const char *request_id;
    /* messages other than reports (NULL = a report / the test message): a
     * kind registered with delivery_register_message, whose text is built
     * at send time; artifact_ref must then be NULL. subject_ref is the
     * opaque ref the message is about (stored on the delivery, never an
     * address); approval_type the approvals type of a held message (NULL =
     * report_send; its handler must release or drop the send through
     * delivery_release_held). */
    const char *message_kind;
    const char *subject_ref;
    const char *approval_type;
    const char *approval_subject_kind; /* approval subject (NULL = "send" + the send ref) */
    /* true: run inside the caller's open transaction (the caller commits or
     * rolls back, so the send and the caller's rows are one unit) */
    bool in_caller_tx;
} delivery_request_t;

typedef enum { DELIVERY_RESULT_QUEUED = 0, DELIVERY_RESULT_HELD, DELIVERY_RESULT_BLOCKED } delivery_result_t;
const char *delivery_result_name(delivery_result_t r); /* queued | held | blocked */

typedef struct {
    int status;            /* 202 new send, 200 idempotent repeat, 403 blocked, 404/409/422 refused */
    const char *code;      /* problem code when status >= 400 (send_blocked, artifact_not_found,
                              idempotency_key_reused, validation_failed, delivery_disabled) */
    const char *detail;
    delivery_result_t result;
    bool duplicate;
    char send_ref[REF_MAX];      /* send:ULID */
    char approval_ref[REF_MAX];  /* when held */
    /* 2xx: {send_ref, result, approval_ref?, reasons[], deliveries:[{delivery_ref, channel,
     * status}], recipients:[{recipient_ref, channel, decision, reason}]};
     * 403: the same (blocked); 422: field errors */
    json_object *body;
} delivery_outcome_t;

int delivery_submit(db_t *db, const delivery_request_t *req, delivery_outcome_t *out);
void delivery_outcome_free(delivery_outcome_t *o);

/* job worker step: claims and runs up to max_jobs delivery jobs */
int delivery_run_pending(db_t *db, const config_t *cfg, int max_jobs, int *ran);

/* GET .../deliveries: filters status, report_id, channel, since/until
 * (RFC 3339), cursor, limit 1..100. Roles with audit.read see the tenant's
 * deliveries, others the ones they requested. */
typedef struct {
    const char *status, *report_id, *channel, *since, *until, *cursor;
    int limit;
} delivery_filter_t;
int delivery_list(db_t *db, const actor_t *a, const delivery_filter_t *f, json_object **out,
                  json_object **errors);
/* one delivery with its audit events (projections) */
int delivery_get(db_t *db, const actor_t *a, const char *delivery_ref, json_object **out);
/* operator retry of a dead-lettered (or failed) delivery: AISPM_ECONFLICT
 * when it is in another state */
int delivery_retry(db_t *db, const actor_t *a, const char *delivery_ref, const char *request_id,
                   json_object **out);

/* records a delivery audit event that is not a send (render / schedule
 * actions of other modules): action render|schedule, status
 * rendered|scheduled|failed... inside the caller's transaction. evidence_ref:
 * the evidence event the caller already wrote for the action (reused), or
 * NULL to append one (delivery_audit.<action>). object_ref: e.g. the
 * artifact ref (its digest becomes the event's report digest) */
int delivery_audit_record(db_t *db, long long tenant_id, const char *tenant_ref, const char *actor_ref,
                          const char *action, const char *status, const char *report_id, const char *format,
                          const char *object_ref, const char *evidence_ref);

/* every delivery audit event of the tenant (projections), newest first:
 * {"audit_events":[...], "next_cursor"}; action filter optional; limit
 * 1..100; AISPM_EINVAL for a bad action or cursor */
/* the public projections of the tenant's delivery audit events with
 * since <= created_at < until (SQL DATETIME text), oldest first, optionally
 * of one action (caller-validated): a JSON array; AISPM_ETOOMANY when there
 * are more than max (reports/delivery_audit_export.c) */
int delivery_audit_range(db_t *db, const actor_t *a, const char *action, const char *since_sql,
                         const char *until_sql, int max, json_object **out);
int delivery_audit_list(db_t *db, const actor_t *a, const char *action, const char *cursor, int limit,
                        json_object **out);

/* the portal inbox of the signed-in user: delivered portal deliveries whose
 * recipients include the user's own address (matched by recipient ref), newest
 * first, at most 100: {"inbox":[{delivery_ref, report_id, format,
 * artifact_ref, artifact_sha256, delivered_at, content_url}]} */
int delivery_inbox(db_t *db, const actor_t *a, json_object **out);

/* counts for the operations dashboard: by status, retry queue depth, oldest
 * queued age */
int delivery_stats(db_t *db, long long tenant_id, json_object **out);

/* channel endpoint settings (beside the setup wizard, whose fields are fixed
 * by the public contract): {smtp_tls: starttls|tls|none, webhook_url,
 * grc_upload_url, webhook_secret_ref (env:/file: reference), smtp_ca_ref
 * (file: reference of a PEM CA bundle trusted for this tenant's SMTP and
 * webhook TLS, e.g. a private relay)}; PUT sets the
 * members present (empty or null clears) and records settings.updated with
 * field names only */
int delivery_endpoints_get(db_t *db, const actor_t *a, json_object **out);
int delivery_endpoints_put(db_t *db, const actor_t *a, json_object *doc, const char *request_id,
                           json_object **errors);

/* registers the report_send approval handler; call once per process */
void delivery_init(void);

/* the approval handler's work for a held send (payload {send_ref}):
 * approved -> its held deliveries are queued (jobs), rejected / expired ->
 * dropped; delivery audit + evidence per delivery. For modules whose own
 * approval type holds a send (see delivery_request_t.approval_type). */
int delivery_release_held(db_t *db, const approval_t *ap, approval_outcome_t outcome, const char *request_id);
/* called by delivery_release_held, inside the decision's transaction, after
 * a held send whose origin is a schedule was released or dropped:
 * origin_ref is the occurrence (schedule run) ref. The scheduler registers
 * it (scheduler_init) so the run's state follows its send. */
typedef int (*delivery_held_hook_fn)(db_t *db, long long tenant_id, const char *origin_ref,
                                     approval_outcome_t outcome, const char *request_id);
void delivery_on_held_decided(delivery_held_hook_fn fn);

/* builds the subject and plain-text body of a message kind at send time
 * (job worker, no transaction open): 0, or an error code that fails the
 * delivery permanently (e.g. AISPM_ENOTFOUND: the subject was withdrawn).
 * Subject and text must not contain the recipient's address. */
typedef int (*delivery_message_fn)(db_t *db, const config_t *cfg, long long tenant_id, const char *subject_ref,
                                   buf_t *subject, buf_t *text);
/* 0, or AISPM_EINVAL when the table is full; call once per process */
int delivery_register_message(const char *kind, delivery_message_fn fn);

/* true when the tenant's delivery provider sends e-mail (mode smtp) */
bool delivery_email_enabled(db_t *db, long long tenant_id);

#endif
