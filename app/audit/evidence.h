/*
 * evidence.h: the append-only, per-tenant, hash-chained evidence store.
 *
 * Write path: evidence_append() is one INSERT of the event (its RFC 8785
 * canonical JSON body); trigger evidence_events_pending queues it in
 * chain_pending within the same statement. Inside the caller's transaction a
 * change and its evidence commit or roll back together; outside one, the
 * append is atomic on its own. It takes no chain lock, so concurrent writers
 * cost about what plain INSERTs cost.
 *
 * Linking: evidence_link_pending() (the sequencer, run by job workers every
 * ~100 ms and by admin commands) appends pending events of a tenant to its
 * chain in batches, in event-id order, under a per-tenant named lock:
 *     digest_n = SHA-256( body_n || "\n" || digest_(n-1) ),  digest_0 = "0"*64
 * (digests as lower-case hex). Links are unique per (tenant, seq) and per
 * event, so chains cannot fork even if two sequencers race.
 *
 * Checkpoints: evidence_checkpoint() signs {tenant, seq, digest, signed_at,
 * kid} (canonical JSON) with the Ed25519 evidence key.
 *
 * Verification: evidence_verify() recomputes every digest, checks sequence
 * continuity, event presence and ownership, flags events left unlinked past
 * the configured delay, and checks every checkpoint signature against the
 * published key; it reports the first bad event.
 *
 * Event bodies never contain secrets, passwords, tokens, recipient addresses
 * or report content: callers pass refs, codes and names only.
 */
#ifndef AISPM_AUDIT_EVIDENCE_H
#define AISPM_AUDIT_EVIDENCE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "core/ref.h"
#include "crypto/keys.h"
#include "db/db.h"

typedef struct {
    long long tenant_id;
    const char *tenant_ref; /* tenant:ULID */
    const char *actor_ref;  /* user:ULID, token:ULID, "system" */
    const char *actor_role; /* may be NULL */
    const char *action;     /* dotted verb: auth.login, settings.updated ... */
    const char *object_ref; /* may be NULL */
    const char *outcome;    /* success | failure | denied | blocked ... */
    const char *request_id; /* may be NULL */
    json_object *details;   /* borrowed; may be NULL */
} evidence_event_t;

/* appends inside the caller's transaction; ref_out (may be NULL) receives the
 * evidence ref cavra://evidence/<tenant-ulid>/<event-ulid> */
int evidence_append(db_t *db, const evidence_event_t *ev, char ref_out[EVIDENCE_REF_MAX]);

/* links up to max_events pending events (tenant_id 0 = every tenant with
 * pending events); linked_out may be NULL. Own transactions. */
int evidence_link_pending(db_t *db, long long tenant_id, int max_events, int *linked_out);

/* signs the head of every chain whose head moved since its last checkpoint
 * and at least min_interval_s ago (0 = always). Registers the key's public JWK
 * in signing_keys. */
int evidence_checkpoint(db_t *db, const signing_key_t *key, long long tenant_id, int min_interval_s,
                        int *signed_out);

/* registers the key's public JWK in signing_keys (INSERT IGNORE: idempotent)
 * so /.well-known/jwks.json serves it; evidence_checkpoint() and the signed
 * evidence packet render call it before signing. */
int evidence_register_key(db_t *db, const signing_key_t *key);
/* the same for another purpose (e.g. "export_package": the RSA key that
 * signs export package manifests) */
int evidence_register_key_purpose(db_t *db, const signing_key_t *key, const char *purpose);

typedef struct {
    bool ok;
    long long events;       /* linked events checked */
    long long pending;      /* unlinked, younger than the allowed delay */
    long long checkpoints;  /* checkpoints verified */
    long long head_seq;
    char head_digest[65];
    /* first problem found (when !ok) */
    char problem[64];       /* altered | deleted | inserted_or_reordered | gap | unlinked | foreign | checkpoint */
    long long bad_seq;
    char bad_ref[EVIDENCE_REF_MAX];
    char message[256];
} evidence_verify_result_t;

int evidence_verify(db_t *db, long long tenant_id, int max_link_delay_ms, evidence_verify_result_t *res);

/* digest of one link (exposed for tests and offline verifiers) */
void evidence_digest(const char *body, size_t body_len, const char *prev_hex, char out_hex[65]);

#endif
