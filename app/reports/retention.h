/*
 * retention.h: the retention lifecycle of everything the Report Center keeps
 * (rendered artifacts, export packages, delivery audit exports): retention
 * classes, the archiving sweep, legal holds, approved deletion with
 * tombstones, and the ONE decision whether an object may be retrieved.
 *
 * Items. Every module that creates a retained object calls
 * retention_class_resolve() for its class and expiry and retention_register()
 * in the transaction that creates it. The lifecycle state users see is
 * derived (retention_lifecycle_state): deleted > legal_hold >
 * pending_approval > archived > expired (expiry passed, not yet swept) >
 * retained.
 *
 * Retrieval. retention_check_retrievable() is the single rule every route
 * that hands out stored content must apply (artifact content, single-use
 * downloads, evidence rooms, package rebuilds); retention_gate() applies it
 * and records a blocked attempt as evidence `retention.retrieval_blocked`:
 *     404 not_found                 no such object in the actor's tenant
 *     403 audience_restricted       the actor's role may not see this report
 *     410 deleted                   deleted after an approved request (tombstone)
 *     403 revoked                   revoked
 *     410 archived_past_retention   archived by the sweep
 *     410 expired                   expiry passed (the sweep has not run yet)
 * A legal hold keeps a retained object retrievable past its expiry.
 *
 * Approvals. Legal hold placement and release and deletion are requests that
 * wait for an approval (retention_request_open opens a generic four-eyes
 * approval, reports/approvals.c, in the same transaction: types
 * retention_legal_hold_place / _release / retention_delete, approver role
 * "approver", due with the request after 7 days). The approval's handler
 * (registered by retention_init) calls retention_request_resolve() in the
 * decision's transaction with approved / rejected / expired; that applies
 * the change. Decisions happen in the approvals inbox and API only; the
 * requester can never approve their own request. Deletion is allowed only from archived or
 * expired, never under a legal hold; it keeps the digest and evidence refs in
 * a tombstone and removes the content file (retention_purge, after commit;
 * the sweep repeats it, so a crash in between only delays it).
 *
 * Every transition writes evidence in the transaction of the change. Evidence
 * bodies hold refs, codes, digests and counts, never the free-text reason
 * (only its SHA-256).
 */
#ifndef AISPM_REPORTS_RETENTION_H
#define AISPM_REPORTS_RETENTION_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "server/http.h"

#define RETENTION_KIND_ARTIFACT "artifact"
#define RETENTION_KIND_PACKAGE "export_package"
#define RETENTION_KIND_AUDIT_EXPORT "delivery_audit_export"
#define RETENTION_REQUEST_TTL_DAYS 7
/* the report id of delivery audit export items: not a catalog report; its
 * audience is "audit" (roles restricted to catalog audiences see it when
 * theirs include audit) */
#define RETENTION_REPORT_DELIVERY_AUDIT "delivery_audit"

/* ---- classes ---- */
typedef struct {
    char name[32]; /* e.g. report_365d */
    int days;
} retention_class_t;

/* the tenant's class for an object kind: its retention_classes row, else from
 * the tenant's settings (artifact and export_package:
 * CAVRA_REPORT_RETENTION_DAYS, default 365; delivery_audit_export:
 * CAVRA_REPORT_DELIVERY_AUDIT_RETENTION_DAYS, default 2555).
 * AISPM_EINVAL for an unknown kind. */
int retention_class_resolve(db_t *db, long long tenant_id, const char *kind, retention_class_t *out);
/* sets a tenant's class for a kind (1..3650 days), with evidence
 * retention.class_set. AISPM_EINVAL for an unknown kind or days. */
int retention_class_set(db_t *db, const actor_t *a, const char *kind, int days, const char *request_id);
/* {"classes":[{object_kind, name, days, source: "tenant"|"settings"}]} */
int retention_classes_json(db_t *db, const actor_t *a, json_object **out);

/* ---- items ---- */
typedef struct {
    long long tenant_id;
    const char *object_kind, *object_ref, *report_id, *format;
    const char *title, *tags;              /* may be NULL; tags a comma list */
    const char *period_start, *period_end; /* SQL DATETIME text or NULL */
    const char *digest;
    long long size;
    const char *storage_path; /* relative to artifacts_dir, may be NULL */
    const char *retention_class;
    const char *created_at, *expires_at; /* SQL DATETIME text */
    const char *evidence_ref;            /* creation evidence, may be NULL */
} retention_item_t;

/* registers an item inside the caller's transaction (a repeat for the same
 * object ref is a no-op) */
int retention_register(db_t *db, const retention_item_t *it);

/* the same rule in SQL over retention_items aliased `i` (one parameter: now),
 * for filters; it must agree with retention_lifecycle_state() */
#define RETENTION_LIFECYCLE_SQL                                                                                   \
    "CASE WHEN i.state = 'deleted' THEN 'deleted' WHEN i.legal_hold_ref IS NOT NULL THEN 'legal_hold' "          \
    "WHEN i.pending_request_ref IS NOT NULL THEN 'pending_approval' WHEN i.state = 'archived' THEN 'archived' " \
    "WHEN i.expires_at <= ? THEN 'expired' ELSE 'retained' END"

/* *deleted = true when an artifact with these bytes (tenant, digest, report,
 * format) was deleted: a re-render of the same data must not bring its
 * content back (the renderer then fails the render with artifact_deleted) */
int retention_artifact_deleted(db_t *db, long long tenant_id, const char *digest, const char *report_id,
                               const char *format, bool *deleted);

/* the state users see, from the stored columns (pure) */
const char *retention_lifecycle_state(const char *state, bool held, bool pending, bool expired);

/* ---- retrieval decision ---- */
typedef struct {
    int status;         /* 200 allowed, else 403 / 404 / 410 */
    const char *code;   /* problem code when status != 200 */
    const char *detail; /* problem detail */
    char lifecycle_state[24];
    long long item_id;
    char report_id[65], format[17], digest[65];
} retention_verdict_t;

/* the pure rule (exposed for unit tests); found=false gives 404 */
void retention_decide(bool found, bool role_ok, const char *state, bool held, bool revoked, bool expired,
                      retention_verdict_t *v);
/* true when the role may see a report id (catalog audiences: auditors see
 * audit/grc reports, GRC analysts audit/grc/risk committee ones, evaluators
 * and trial operators community reports; other roles every report; the
 * delivery audit (RETENTION_REPORT_DELIVERY_AUDIT) has audience audit) */
bool retention_role_may_see(const char *role, const char *report_id);
/* comma list of the report ids the role may see, "" when unrestricted */
void retention_role_report_ids(const char *role, char *out, size_t outlen);

/* decides whether the actor may retrieve object_ref now (no evidence) */
int retention_check_retrievable(db_t *db, const actor_t *a, const char *object_ref, retention_verdict_t *v);
/* the same, recording a refusal as evidence retention.retrieval_blocked
 * (details: route, code, lifecycle state). Returns 0 with v filled either
 * way (or a negative error for database failures). */
int retention_gate(db_t *db, const actor_t *a, const char *object_ref, const char *route, const char *request_id,
                   retention_verdict_t *v, char *evidence_ref_out);
/* evidence_ref_out (EVIDENCE_REF_MAX bytes, may be NULL) receives the
 * refusal's evidence ref ("" when nothing was recorded) */

/* the ref an actor is recorded under: user ref, else token ref, else "system" */
const char *retention_actor_ref(const actor_t *a);
/* the opaque public name of an object's immutable copy:
 * enterprise-private://immutable-store/<object_ref> */
json_object *retention_store_ref(const char *object_ref);

/* ---- requests (approval-gated) ---- */
typedef struct {
    int status;          /* 2xx or 4xx */
    const char *code;    /* problem code when status >= 400 */
    const char *detail;
    json_object *body;   /* 2xx: the request; 4xx: field errors or NULL */
} retention_outcome_t;
void retention_outcome_free(retention_outcome_t *o);

/* body {action: legal_hold_place|legal_hold_release|delete, object_ref,
 * reason}: 202 with the pending request */
int retention_request_open(db_t *db, const actor_t *a, json_object *body, const char *request_id,
                           retention_outcome_t *out);
/* registers the approval handler of the three retention approval types;
 * once per process, next to delivery_init() */
void retention_init(void);
/* after an approval decision committed (approval = approvals_decide's
 * projection): for a retention type, purges the tenant's deleted content
 * (retention_purge; the sweep repeats it, so a failure only delays it) */
void retention_after_approval(db_t *db, const config_t *cfg, long long tenant_id, json_object *approval);
/* the handler an approval calls in its own transaction, the request row not
 * yet decided: outcome "approved" | "rejected" | "expired". decider is the
 * deciding actor (NULL for the system). AISPM_ECONFLICT when the request is
 * not pending or the item no longer allows the change (the request is then
 * marked rejected by the caller's rollback, not here). */
int retention_request_resolve(db_t *db, long long tenant_id, const char *tenant_ref, const char *request_ref,
                              const char *outcome, const actor_t *decider, const char *request_id);
/* {request_ref, action, object_ref, state, requested_by, decided_by,
 * created_at, expires_at, decided_at, evidence_refs, approval_ref,
 * decision_url (the approval's decision route)} */
int retention_request_json(db_t *db, const actor_t *a, const char *request_ref, json_object **out);

/* {"requests":[...retention_request_json...]}: newest 50, pending only when
 * pending_only, of items the actor's role may see */
int retention_requests_list(db_t *db, const actor_t *a, bool pending_only, json_object **out);

/* revokes an object (it is no longer retrievable: 403 revoked), with evidence */
int retention_revoke(db_t *db, const actor_t *a, const char *object_ref, const char *request_id);

/* ---- sweep ---- */
typedef struct {
    int archived, held_skipped, requests_expired, purged;
} retention_sweep_stats_t;
/* expires pending requests whose time passed, archives every retained item
 * whose expiry is <= now_ms unless on legal hold, and purges the content of
 * deleted items. tenant_id 0 = every tenant. Own transactions. */
int retention_sweep(db_t *db, const config_t *cfg, long long tenant_id, int64_t now_ms, retention_sweep_stats_t *st);
/* removes content files of deleted items (unless another live item of the
 * tenant shares the content-addressed file) */
int retention_purge(db_t *db, const config_t *cfg, long long tenant_id, int *purged);

/* ---- projections ---- */
/* aispm-report-retention-lifecycle.schema.json (newest 100 items);
 * AISPM_ENOTFOUND when the tenant retains nothing yet */
int retention_lifecycle_projection(db_t *db, const actor_t *a, json_object **out);
/* one item: lifecycle, hold, pending request, tombstone (digest, reason
 * digest, evidence refs) */
int retention_item_json(db_t *db, const actor_t *a, const char *object_ref, json_object **out);

#endif
