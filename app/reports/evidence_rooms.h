/*
 * evidence_rooms.h: evidence rooms — curated artifacts shared with invited
 * auditors, with watermarked downloads, optional TOTP MFA, revocation, expiry
 * and an immutable, per-room hash-chained access log.
 *
 * Managers (evidence_rooms.manage) create rooms, invite auditors by address
 * (the address must be in one of the room's allowed domains; it is stored in
 * a private column and shown nowhere: the auditor is known by an opaque
 * auditor ref), revoke auditors or whole rooms, and read the projections.
 * An invitation creates (or links) an account with role auditor and a
 * one-time, expiring set-password link.
 *
 * Auditors (evidence_rooms.access) see only rooms they are members of: any
 * other room ref is AISPM_ENOTFOUND. Every decision about their access —
 * allowed views and downloads, and every refusal (room revoked or expired,
 * auditor revoked, MFA missing or wrong, download not permitted, artifact not
 * in the room or past retention) — is appended to the room's access chain
 * and to the evidence chain in one transaction, and a refusal is committed
 * before it is answered. The room row is locked (FOR UPDATE) while its chain
 * grows, so revocation and expiry apply to the very next request, including
 * a download started from an old page.
 *
 * Ownership: json_object out-parameters belong to the caller.
 */
#ifndef AISPM_REPORTS_EVIDENCE_ROOMS_H
#define AISPM_REPORTS_EVIDENCE_ROOMS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "core/buf.h"
#include "db/db.h"
#include "server/http.h"

/* an answer that is not a plain error code: status, problem code and detail,
 * and a body (2xx: the result; 4xx: field errors or NULL) */
typedef struct {
    int status;
    const char *code;
    const char *detail;
    json_object *body;
} room_outcome_t;
void room_outcome_free(room_outcome_t *o);

/* ---- managers ---- */
/* body: {title, purpose, audience, allowed_domains[], expires_at,
 * download_allowed, mfa_required, artifact_refs[]} -> 201 room projection */
int rooms_create(db_t *db, const actor_t *a, json_object *body, const char *request_id, room_outcome_t *out);
/* {"rooms": [projection...]} newest first (at most 200) */
int rooms_list(db_t *db, const actor_t *a, json_object **out);
/* the public projection (aispm-report-evidence-room.schema.json) */
int rooms_get(db_t *db, const actor_t *a, const char *room_ref, json_object **out);
int rooms_revoke(db_t *db, const actor_t *a, const char *room_ref, const char *request_id, room_outcome_t *out);
/* body {email} -> 201 {auditor_ref, room_ref, account: created|linked,
 * invitation_url|null, invitation_expires_at|null} */
int rooms_invite(db_t *db, const actor_t *a, const char *room_ref, json_object *body, const char *request_id,
                 room_outcome_t *out);
/* {"auditors": [{auditor_ref, status, invited_at, revoked_at}]} */
int rooms_auditors(db_t *db, const actor_t *a, const char *room_ref, json_object **out);
int rooms_revoke_auditor(db_t *db, const actor_t *a, const char *room_ref, const char *auditor_ref,
                         const char *request_id, room_outcome_t *out);
/* {"events": [projection...]} in chain order
 * (aispm-report-evidence-room-access-event.schema.json) */
int rooms_access_events(db_t *db, const actor_t *a, const char *room_ref, json_object **out);

/* ---- auditors ---- */
/* {"rooms": [{room_ref, title, purpose, status, expires_at, mfa_required,
 * download_allowed, auditor_ref, auditor_status}]} */
int rooms_mine(db_t *db, const actor_t *a, json_object **out);
/* a room page: records a view (artifact_ref NULL: the room; else that
 * artifact's metadata). 0 with out = page data, or 0 with deny->status set */
int rooms_view(db_t *db, const actor_t *a, const char *room_ref, const char *artifact_ref, const char *request_id,
               room_outcome_t *deny, json_object **out);

typedef struct {
    buf_t bytes; /* the watermarked copy */
    char content_type[100];
    char filename[240];
    char download_id[REF_MAX];
    char copy_digest[65];
    char artifact_digest[65];
} room_download_t;
void room_download_free(room_download_t *d);
int rooms_download(db_t *db, const config_t *cfg, const actor_t *a, const char *room_ref, const char *artifact_ref,
                   const char *request_id, room_outcome_t *deny, room_download_t *out);

/* MFA: the enrolment page data {enabled, verified, secret?, otpauth_uri?}
 * (a secret is generated on first use and shown until confirmed) */
int rooms_mfa_state(db_t *db, const actor_t *a, json_object **out);
/* checks a TOTP code (±1 step, each step accepted once), enables MFA on the
 * first success and marks the session verified. room_ref (may be NULL) names
 * the room whose chain records a failure. *ok tells the result. */
int rooms_mfa_verify(db_t *db, const actor_t *a, const char *code, const char *room_ref, const char *request_id,
                     bool *ok);

/* ---- invitations (public, the token is the credential) ---- */
/* 0 when the token is valid and unused (out: {expires_at}), AISPM_ENOTFOUND */
int rooms_invitation_check(db_t *db, const char *token, json_object **out);
/* sets the account's password: 0, AISPM_ENOTFOUND (invalid/used/expired),
 * AISPM_EINVAL (password too short/long) */
int rooms_invitation_accept(db_t *db, const char *token, const char *password, const char *request_id);

/* ---- verification (aispm admin verify-audit) ---- */
typedef struct {
    bool ok;
    long long rooms, events;
    char problem[32]; /* altered | gap | inserted_or_reordered | foreign */
    char room_ref[REF_MAX];
    long long bad_seq;
    char message[200];
} rooms_verify_result_t;
int rooms_verify(db_t *db, long long tenant_id, rooms_verify_result_t *res);

#endif
