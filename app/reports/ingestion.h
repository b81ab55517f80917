/*
 * ingestion.h: live AISPM event ingestion — envelopes of the public contract
 * aispm-enterprise-live-ingestion-envelope.schema.json — and the per-tenant
 * posture projection built from them.
 *
 * Rules (each enforced here, for the API and the admin CLI alike):
 *  - an envelope is validated whole in C against the contract (required
 *    members, consts, enums, RFC 3339 date-times, minLength, integer minimum,
 *    no unknown members, types) plus this server's own bounds on every string
 *    and array; errors name JSON paths ("event.event_type") and never echo the
 *    submitted value;
 *  - an envelope claiming to carry raw prompts, reasoning or tool output
 *    (redaction.*_included true) is refused (raw_content_refused);
 *  - tenant.tenant_ref must be the actor's tenant (tenant_mismatch), and the
 *    tenant stored is always the actor's;
 *  - event.event_id and transport.idempotency_key are each unique per tenant:
 *    a repeat stores nothing and is answered with the original result
 *    ("duplicate": true), also when repeats race (the unique keys decide);
 *  - event.payload_ref and event.actor_ref are private: stored in their own
 *    columns, never dereferenced, never projected nor put in evidence;
 *  - an accepted envelope, its posture counters and its evidence event
 *    (ingestion.event_accepted, or one ingestion.batch_accepted per batch with
 *    the SHA-256 of the accepted envelopes' canonical public JSON) commit in
 *    one transaction; rejections are counted (health) but not chained.
 *
 * Ownership: every json_object returned through an out-parameter belongs to
 * the caller (json_object_put).
 */
#ifndef AISPM_REPORTS_INGESTION_H
#define AISPM_REPORTS_INGESTION_H

#include <json-c/json.h>
#include <stdint.h>

#include "db/db.h"
#include "server/http.h"

#define INGESTION_SCHEMA_VERSION "cavra.aispm.enterprise_live_ingestion_envelope.v1"
#define INGESTION_BATCH_MAX 500
#define INGESTION_ID_MAX 128   /* event_id, session_id, agent_id, connector_id, policy_pack, risk class */
#define INGESTION_KEY_MAX 200  /* transport.idempotency_key */
#define INGESTION_NAME_MAX 200 /* repository, tool_name, action_type, versions, region, ... */
#define INGESTION_REF_MAX 500  /* tenant/actor/residency/signature/chain refs, evidence_refs items */
#define INGESTION_PAYLOAD_REF_MAX 1000
#define INGESTION_SUMMARY_MAX 1000 /* target_summary */
#define INGESTION_EVIDENCE_REFS_MAX 50
#define INGESTION_RETRY_MAX 1000000
#define INGESTION_ERRORS_MAX 50 /* field errors reported per envelope */

/* rejection reason codes (problem `code`, health counters) */
#define INGESTION_VALIDATION_FAILED "validation_failed"
#define INGESTION_RAW_CONTENT_REFUSED "raw_content_refused"
#define INGESTION_TENANT_MISMATCH "tenant_mismatch"
#define INGESTION_BATCH_TOO_LARGE "batch_too_large"

/* Validates one envelope against the contract and this server's bounds. Pure:
 * no database, no clock. Returns 0 when valid (*errors = NULL) or AISPM_EINVAL
 * with *errors = {"path": "message", ...} (at most INGESTION_ERRORS_MAX, then
 * "_truncated") and *code (may be NULL) = INGESTION_RAW_CONTENT_REFUSED when a
 * raw-content claim is among the errors, else INGESTION_VALIDATION_FAILED. */
int ingestion_validate(json_object *env, json_object **errors, const char **code);

typedef struct {
    int status;         /* 201 accepted, 200 duplicate / batch, 403, 413 or 422 refused */
    const char *code;   /* problem code when refused (status >= 400), else NULL */
    json_object *body;  /* result (2xx) or field errors (4xx, may be NULL); owned by caller */
    json_object *extra; /* 4xx only: extra problem members (batch "results"), may be NULL */
} ingestion_outcome_t;

/* Ingests one envelope for the actor's tenant. Returns 0 with *out filled
 * (accepted, duplicate or refused) or a negative AISPM_E* on an internal or
 * database failure (nothing stored). 201/200 body:
 * {"status":"accepted","duplicate":bool,"event_id","event_ref","accepted_at",
 *  "evidence_ref"} — a duplicate's body is the original's with "duplicate":true. */
int ingestion_ingest_one(db_t *db, const actor_t *a, json_object *env, const char *request_id,
                         ingestion_outcome_t *out);
/* Ingests {"envelopes":[...]} (1..INGESTION_BATCH_MAX): every valid envelope
 * of the batch in one transaction with one batch evidence event. 200 with
 * {"batch_ref","accepted","duplicates","rejected","accepted_digest",
 * "evidence_ref","results":[{"index","status":"accepted|duplicate|rejected",
 * ...}]}, or 422 batch_rejected when every envelope was rejected, 413
 * batch_too_large above the maximum. */
int ingestion_ingest_batch(db_t *db, const actor_t *a, json_object *body, const char *request_id,
                           ingestion_outcome_t *out);
void ingestion_outcome_free(ingestion_outcome_t *o);

/* public view of one stored event of the actor's tenant (AISPM_ENOTFOUND
 * otherwise): {"event_ref","event_id","accepted_at","evidence_ref",
 * "batch_ref","envelope_digest","withheld_members","envelope"} */
int ingestion_event_get(db_t *db, const actor_t *a, const char *event_id, json_object **out);
/* accepted, duplicates, rejected by reason, connectors with last event time */
int ingestion_health(db_t *db, const actor_t *a, json_object **out);
/* the tenant's posture projection: totals, agents, decisions, findings,
 * control coverage, evidence freshness, daily timeline */
int ingestion_posture(db_t *db, const actor_t *a, json_object **out);

/* ---- demo history (reports/ingestion_demo.c) ----
 * A deterministic, realistic history: `count` envelopes over the `days` days
 * before the UTC day of anchor_ms (six agents on six connectors, every event
 * type, plausible decision and severity frequencies, several policy packs and
 * risk classes). Event ids depend only on the index, so loading it twice adds
 * nothing. Returns a new array of envelopes for tenant_ref. */
json_object *ingestion_demo_envelopes(const char *tenant_ref, int64_t anchor_ms, int count, int days);

#endif
