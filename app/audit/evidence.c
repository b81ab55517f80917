/*
 * evidence.c: append, link, checkpoint and verify the per-tenant evidence
 * chains (see evidence.h for the model and its invariants).
 */
#include "audit/evidence.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/log.h"
#include "core/timeutil.h"

static const char ZERO_DIGEST[] = "0000000000000000000000000000000000000000000000000000000000000000";

void evidence_digest(const char *body, size_t body_len, const char *prev_hex, char out_hex[65]) {
    gnutls_hash_hd_t h;
    uint8_t d[32];
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) abort();
    gnutls_hash(h, body, body_len);
    gnutls_hash(h, "\n", 1);
    gnutls_hash(h, prev_hex, 64);
    gnutls_hash_deinit(h, d);
    hex_encode(d, 32, out_hex);
}

static const char *ulid_of(const char *ref) {
    const char *c = ref ? strrchr(ref, ':') : NULL;
    return c ? c + 1 : (ref ? ref : "");
}

int evidence_append(db_t *db, const evidence_event_t *ev, char ref_out[EVIDENCE_REF_MAX]) {
    char ulid[ULID_LEN + 1], ref[EVIDENCE_REF_MAX], ts[RFC3339_MAX], sqlts[RFC3339_MAX];
    int64_t now = now_ms();
    if (ulid_new_at(now, ulid)) return AISPM_ERR;
    evidence_ref_format(ulid_of(ev->tenant_ref), ulid, ref);
    rfc3339_format(now, 1, ts);
    sql_datetime_format(now, sqlts);

    json_object *o = json_object_new_object();
    json_object_object_add(o, "schema", json_object_new_string("aispm.evidence.v1"));
    json_object_object_add(o, "evidence_ref", json_object_new_string(ref));
    json_object_object_add(o, "tenant_ref", json_object_new_string(ev->tenant_ref));
    json_object_object_add(o, "occurred_at", json_object_new_string(ts));
    json_object_object_add(o, "action", json_object_new_string(ev->action));
    json_object_object_add(o, "outcome", json_object_new_string(ev->outcome ? ev->outcome : "success"));
    json_object *actor = json_object_new_object();
    json_object_object_add(actor, "ref", json_object_new_string(ev->actor_ref ? ev->actor_ref : "system"));
    if (ev->actor_role) json_object_object_add(actor, "role", json_object_new_string(ev->actor_role));
    json_object_object_add(o, "actor", actor);
    if (ev->object_ref) json_object_object_add(o, "object_ref", json_object_new_string(ev->object_ref));
    if (ev->request_id && *ev->request_id)
        json_object_object_add(o, "request_id", json_object_new_string(ev->request_id));
    if (ev->details) json_object_object_add(o, "details", json_object_get(ev->details));

    buf_t body = BUF_INIT;
    int rc = jcs_serialize(o, &body);
    json_object_put(o);
    if (rc) {
        buf_free(&body);
        return AISPM_EINVAL;
    }
    rc = db_exec(db,
                 "INSERT INTO evidence_events (tenant_id, ulid, action, created_at, body) VALUES (?, ?, ?, ?, ?)",
                 DB_ARGS(DBI(ev->tenant_id), DBS(ulid), DBS(ev->action), DBS(sqlts), DBSN(body.data, body.len)),
                 NULL, NULL);
    buf_free(&body);
    if (rc) return rc; /* the chain_pending row is written by trigger evidence_events_pending */
    if (ref_out) memcpy(ref_out, ref, strlen(ref) + 1);
    return 0;
}

/* Links are written LINK_BATCH rows per statement (one multi-row INSERT and
 * one DELETE ... IN), so the sequencer costs a few statements per batch
 * instead of two per event. The SQL texts are built once per process and keep
 * their address, which is what the statement cache keys on. */
#define LINK_BATCH 64

typedef struct {
    long long tenant_id;
    char now[RFC3339_MAX];
    int n;
    long long event_id[LINK_BATCH], seq[LINK_BATCH];
    char prev[LINK_BATCH][65], digest[LINK_BATCH][65];
} link_batch_t;

static const char *link_sql(int rows, bool del) {
    static char *ins_sql[LINK_BATCH + 1], *del_sql[LINK_BATCH + 1];
    char **slot = del ? &del_sql[rows] : &ins_sql[rows];
    if (*slot) return *slot;
    buf_t b = BUF_INIT;
    if (del) {
        buf_puts(&b, "DELETE FROM chain_pending WHERE event_id IN (");
        for (int i = 0; i < rows; i++) buf_puts(&b, i ? ", ?" : "?");
        buf_puts(&b, ")");
    } else {
        buf_puts(&b, "INSERT INTO evidence_links (tenant_id, seq, event_id, prev_digest, digest, linked_at) VALUES ");
        for (int i = 0; i < rows; i++) buf_puts(&b, i ? ", (?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?)");
    }
    *slot = buf_steal(&b);
    return *slot;
}

static int link_flush(db_t *db, link_batch_t *b) {
    if (b->n == 0) return 0;
    dbv args[LINK_BATCH * 6];
    for (int i = 0; i < b->n; i++) {
        args[i * 6 + 0] = DBI(b->tenant_id);
        args[i * 6 + 1] = DBI(b->seq[i]);
        args[i * 6 + 2] = DBI(b->event_id[i]);
        args[i * 6 + 3] = DBS(b->prev[i]);
        args[i * 6 + 4] = DBS(b->digest[i]);
        args[i * 6 + 5] = DBS(b->now);
    }
    int rc = db_exec(db, link_sql(b->n, false), args, b->n * 6, NULL, NULL);
    for (int i = 0; !rc && i < b->n; i++) args[i] = DBI(b->event_id[i]);
    if (!rc) rc = db_exec(db, link_sql(b->n, true), args, b->n, NULL, NULL);
    b->n = 0;
    return rc;
}

static int link_tenant(db_t *db, long long tenant_id, int max_events, int *linked) {
    db_res_t *res;
    char lockname[64];
    snprintf(lockname, sizeof lockname, "aispm_chain_%lld", tenant_id);
    /* named locks are server-wide: qualify by database so stacks sharing a
     * server do not block each other */
    int rc = db_query(db, "SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), 0)", DB_ARGS(DBS(lockname)), &res);
    if (rc) return rc;
    int got = db_res_next(res) ? (int)db_res_int(res, 0) : 0;
    db_res_free(res);
    if (!got) return 0; /* another sequencer is linking this tenant */

    rc = db_begin(db);
    long long seq = 0;
    char prev[65];
    memcpy(prev, ZERO_DIGEST, 65);
    if (!rc) rc = db_query(db, "SELECT seq, digest FROM evidence_links WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1",
                           DB_ARGS(DBI(tenant_id)), &res);
    if (!rc) {
        if (db_res_next(res)) {
            seq = db_res_int(res, 0);
            snprintf(prev, sizeof prev, "%s", db_res_str(res, 1));
        }
        db_res_free(res);
        rc = db_query(db,
                      "SELECT p.event_id, e.body FROM chain_pending p JOIN evidence_events e ON e.id = p.event_id "
                      "WHERE p.tenant_id = ? ORDER BY p.event_id LIMIT ?",
                      DB_ARGS(DBI(tenant_id), DBI(max_events)), &res);
    }
    int n = 0;
    if (!rc) {
        link_batch_t b = {.tenant_id = tenant_id};
        sql_datetime_format(now_ms(), b.now);
        while (!rc && db_res_next(res)) {
            int k = b.n++;
            b.event_id[k] = db_res_int(res, 0);
            b.seq[k] = ++seq;
            memcpy(b.prev[k], prev, 65);
            evidence_digest(db_res_str(res, 1), db_res_len(res, 1), prev, b.digest[k]);
            memcpy(prev, b.digest[k], 65);
            n++;
            if (b.n == LINK_BATCH) rc = link_flush(db, &b);
        }
        if (!rc) rc = link_flush(db, &b);
        db_res_free(res);
    }
    if (rc)
        db_rollback(db);
    else
        rc = db_commit(db);
    if (db_query(db, "SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))", DB_ARGS(DBS(lockname)), &res) == 0) db_res_free(res);
    if (!rc && linked) *linked += n;
    /* a unique-key conflict means another sequencer (e.g. one without the
     * lock during a rolling upgrade) linked these first: the chain is intact */
    return rc == AISPM_ECONFLICT ? 0 : rc;
}

int evidence_link_pending(db_t *db, long long tenant_id, int max_events, int *linked_out) {
    int linked = 0, rc = 0;
    if (max_events <= 0) max_events = 1000;
    if (tenant_id) {
        rc = link_tenant(db, tenant_id, max_events, &linked);
    } else {
        db_res_t *res;
        rc = db_query(db, "SELECT DISTINCT tenant_id FROM chain_pending LIMIT 256", DB_NOARGS, &res);
        if (rc) return rc;
        long long ids[256];
        int n = 0;
        while (n < 256 && db_res_next(res)) ids[n++] = db_res_int(res, 0);
        db_res_free(res);
        for (int i = 0; i < n && !rc; i++) rc = link_tenant(db, ids[i], max_events, &linked);
    }
    if (linked_out) *linked_out = linked;
    return rc;
}

static int walk_chain(db_t *db, long long tenant_id, const char *tulid, long long start_seq,
                      const char start_digest[65], long long end_seq, evidence_verify_result_t *v);

static int checkpoint_payload(const char *tenant_ref, long long seq, const char *digest, const char *signed_at,
                              const char *kid, const char *alg, buf_t *out) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "schema", json_object_new_string("aispm.evidence.checkpoint.v1"));
    json_object_object_add(o, "tenant_ref", json_object_new_string(tenant_ref));
    json_object_object_add(o, "seq", json_object_new_int64(seq));
    json_object_object_add(o, "digest", json_object_new_string(digest));
    json_object_object_add(o, "signed_at", json_object_new_string(signed_at));
    json_object_object_add(o, "kid", json_object_new_string(kid));
    json_object_object_add(o, "alg", json_object_new_string(alg));
    int rc = jcs_serialize(o, out);
    json_object_put(o);
    return rc;
}

int evidence_register_key(db_t *db, const signing_key_t *key) {
    return evidence_register_key_purpose(db, key, "evidence_checkpoint");
}

int evidence_register_key_purpose(db_t *db, const signing_key_t *key, const char *purpose) {
    json_object *jwk;
    int rc = key_public_jwk(key, &jwk);
    if (rc) return rc;
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    const char *s = json_object_to_json_string_ext(jwk, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = db_exec(db,
                 "INSERT IGNORE INTO signing_keys (kid, alg, purpose, public_jwk, created_at) "
                 "VALUES (?, ?, ?, ?, ?)",
                 DB_ARGS(DBS(key_kid(key)), DBS(key_jws_alg(key)), DBS(purpose), DBS(s), DBS(now)), NULL, NULL);
    json_object_put(jwk);
    return rc;
}

int evidence_checkpoint(db_t *db, const signing_key_t *key, long long tenant_id, int min_interval_s,
                        int *signed_out) {
    int rc = evidence_register_key(db, key), nsigned = 0;
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT t.id, t.ref, h.seq, h.digest, "
                  "  COALESCE((SELECT c.seq FROM evidence_checkpoints c WHERE c.tenant_id = t.id "
                  "            ORDER BY c.seq DESC LIMIT 1), 0), "
                  "  (SELECT c.digest FROM evidence_checkpoints c WHERE c.tenant_id = t.id "
                  "   ORDER BY c.seq DESC LIMIT 1) FROM tenants t "
                  /* ORDER BY ... LIMIT 1 reads one index entry; MAX(seq) in this
                   * dependent subquery made MariaDB read every link of every
                   * tenant, every second */
                  "JOIN evidence_links h ON h.tenant_id = t.id AND h.seq = "
                  "  (SELECT l.seq FROM evidence_links l WHERE l.tenant_id = t.id ORDER BY l.seq DESC LIMIT 1) "
                  "WHERE (? = 0 OR t.id = ?) AND h.seq > COALESCE("
                  "  (SELECT MAX(seq) FROM evidence_checkpoints c WHERE c.tenant_id = t.id), 0) "
                  "AND COALESCE((SELECT MAX(signed_at) FROM evidence_checkpoints c WHERE c.tenant_id = t.id), "
                  "  '1970-01-01') <= UTC_TIMESTAMP(6) - INTERVAL ? SECOND",
                  DB_ARGS(DBI(tenant_id), DBI(tenant_id), DBI(min_interval_s)), &res);
    if (rc) return rc;
    int64_t now = now_ms();
    char signed_at[RFC3339_MAX], sqlts[RFC3339_MAX];
    rfc3339_format(now, 1, signed_at);
    sql_datetime_format(now, sqlts);
    typedef struct {
        long long tid, seq, cp_seq;
        char ref[REF_MAX], digest[65], cp_digest[65];
    } head_t;
    head_t *heads = NULL;
    size_t nheads = 0;
    while (db_res_next(res)) {
        heads = xrealloc(heads, (nheads + 1) * sizeof *heads);
        head_t *h = &heads[nheads++];
        h->tid = db_res_int(res, 0);
        h->seq = db_res_int(res, 2);
        h->cp_seq = db_res_int(res, 4);
        snprintf(h->ref, sizeof h->ref, "%s", db_res_str(res, 1));
        snprintf(h->digest, sizeof h->digest, "%s", db_res_str(res, 3));
        snprintf(h->cp_digest, sizeof h->cp_digest, "%s", db_res_isnull(res, 5) ? ZERO_DIGEST : db_res_str(res, 5));
    }
    db_res_free(res);
    for (size_t i = 0; i < nheads; i++) {
        head_t *h = &heads[i];
        long long tid = h->tid, seq = h->seq;
        /* never sign over a chain that does not verify since the last checkpoint */
        evidence_verify_result_t v = {.ok = true};
        const char *tulid = strrchr(h->ref, ':') ? strrchr(h->ref, ':') + 1 : h->ref;
        int wr = walk_chain(db, tid, tulid, h->cp_seq + 1, h->cp_digest, seq, &v);
        if (wr || !v.ok || v.head_seq != seq || strcmp(v.head_digest, h->digest) != 0) {
            json_object *f = json_object_new_object();
            json_object_object_add(f, "tenant_ref", json_object_new_string(h->ref));
            json_object_object_add(f, "problem", json_object_new_string(v.ok ? "walk_failed" : v.problem));
            json_object_object_add(f, "seq", json_object_new_int64(v.bad_seq));
            log_event(LOG_ERROR, "checkpoint_refused", f);
            rc = AISPM_ECRYPTO;
            continue;
        }
        buf_t payload = BUF_INIT, sig = BUF_INIT;
        int r2 = checkpoint_payload(h->ref, seq, h->digest, signed_at, key_kid(key), key_jws_alg(key), &payload);
        if (!r2) r2 = key_sign(key, payload.data, payload.len, &sig);
        if (!r2) {
            char *b64 = xmalloc(b64url_encoded_len(sig.len) + 1);
            b64url_encode((const uint8_t *)sig.data, sig.len, b64);
            r2 = db_exec(db,
                         "INSERT INTO evidence_checkpoints (tenant_id, seq, digest, signed_at, kid, alg, signature) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         DB_ARGS(DBI(tid), DBI(seq), DBS(h->digest), DBS(sqlts), DBS(key_kid(key)),
                                 DBS(key_jws_alg(key)), DBS(b64)),
                         NULL, NULL);
            free(b64);
            if (r2 == AISPM_ECONFLICT) r2 = 0; /* another worker signed this head */
            else if (!r2) nsigned++;
        }
        buf_free(&payload);
        buf_free(&sig);
        if (r2) rc = r2;
    }
    free(heads);
    if (signed_out) *signed_out = nsigned;
    return rc;
}

static void set_problem(evidence_verify_result_t *v, const char *problem, long long seq, const char *tenant_ulid,
                        const char *event_ulid, const char *msg) {
    v->ok = false;
    snprintf(v->problem, sizeof v->problem, "%s", problem);
    v->bad_seq = seq;
    if (event_ulid && *event_ulid) evidence_ref_format(tenant_ulid, event_ulid, v->bad_ref);
    snprintf(v->message, sizeof v->message, "%s", msg);
}

static int verify_checkpoints(db_t *db, long long tenant_id, const char *tenant_ref, evidence_verify_result_t *v) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT c.seq, c.digest, c.signed_at, c.kid, c.alg, "
                      "c.signature, k.public_jwk, l.digest FROM evidence_checkpoints c "
                      "LEFT JOIN signing_keys k ON k.kid = c.kid "
                      "LEFT JOIN evidence_links l ON l.tenant_id = c.tenant_id AND l.seq = c.seq "
                      "WHERE c.tenant_id = ? ORDER BY c.seq",
                      DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    while (v->ok && db_res_next(res)) {
        long long seq = db_res_int(res, 0);
        char msg[200];
        /* signed_at is stored with the millisecond precision it was signed with */
        char signed_at[RFC3339_MAX];
        int64_t ms;
        if (sql_datetime_parse(db_res_str(res, 2), &ms) == 0)
            rfc3339_format(ms, 1, signed_at);
        else
            signed_at[0] = 0;
        if (db_res_isnull(res, 7)) {
            snprintf(msg, sizeof msg, "checkpoint at seq %lld points past the chain head (chain truncated)", seq);
            set_problem(v, "checkpoint", seq, "", NULL, msg);
            break;
        }
        if (strcmp(db_res_str(res, 1), db_res_str(res, 7)) != 0) {
            snprintf(msg, sizeof msg, "checkpoint at seq %lld does not match the chain", seq);
            set_problem(v, "checkpoint", seq, "", NULL, msg);
            break;
        }
        if (db_res_isnull(res, 6)) {
            snprintf(msg, sizeof msg, "checkpoint at seq %lld was signed by an unknown key", seq);
            set_problem(v, "checkpoint", seq, "", NULL, msg);
            break;
        }
        buf_t payload = BUF_INIT;
        checkpoint_payload(tenant_ref, seq, db_res_str(res, 1), signed_at, db_res_str(res, 3), db_res_str(res, 4),
                           &payload);
        json_object *jwk = json_tokener_parse(db_res_str(res, 6));
        const char *sig64 = db_res_str(res, 5);
        uint8_t *sig = xmalloc(strlen(sig64) + 4);
        long siglen = b64url_decode(sig64, strlen(sig64), sig);
        int vr = (jwk && siglen > 0) ? key_verify_jwk(jwk, payload.data, payload.len, sig, (size_t)siglen) : AISPM_ECRYPTO;
        json_object_put(jwk);
        free(sig);
        buf_free(&payload);
        if (vr) {
            snprintf(msg, sizeof msg, "checkpoint at seq %lld has an invalid signature", seq);
            set_problem(v, "checkpoint", seq, "", NULL, msg);
            break;
        }
        v->checkpoints++;
    }
    db_res_free(res);
    return 0;
}

/* walks links start_seq..end_seq (0 = to the head), starting from the digest
 * of link start_seq-1, recomputing every digest; fills v (events, head_seq,
 * head_digest, first problem) */
static int walk_chain(db_t *db, long long tenant_id, const char *tulid, long long start_seq,
                      const char start_digest[65], long long end_seq, evidence_verify_result_t *v) {
    int rc;
    db_res_t *res;
    char running[65];
    memcpy(running, start_digest, 65);
    long long expect = start_seq;
    bool more = true;
    while (more && v->ok) {
        rc = db_query(db,
                      "SELECT l.seq, l.prev_digest, l.digest, e.id, e.tenant_id, e.ulid, e.body "
                      "FROM evidence_links l LEFT JOIN evidence_events e ON e.id = l.event_id "
                      "WHERE l.tenant_id = ? AND l.seq >= ? AND (? = 0 OR l.seq <= ?) ORDER BY l.seq LIMIT 2000",
                      DB_ARGS(DBI(tenant_id), DBI(expect), DBI(end_seq), DBI(end_seq)), &res);
        if (rc) return rc;
        int rows = 0;
        while (v->ok && db_res_next(res)) {
            rows++;
            long long seq = db_res_int(res, 0);
            const char *eulid = db_res_str(res, 5);
            char msg[200];
            if (seq != expect) {
                snprintf(msg, sizeof msg, "links %lld..%lld are missing (deleted from the chain)", expect, seq - 1);
                set_problem(v, "gap", expect, tulid, NULL, msg);
                break;
            }
            if (db_res_isnull(res, 3)) {
                snprintf(msg, sizeof msg, "the event linked at seq %lld was deleted", seq);
                set_problem(v, "deleted", seq, tulid, NULL, msg);
                break;
            }
            if (db_res_int(res, 4) != tenant_id) {
                snprintf(msg, sizeof msg, "the event at seq %lld belongs to another tenant", seq);
                set_problem(v, "foreign", seq, tulid, eulid, msg);
                break;
            }
            if (strcmp(db_res_str(res, 1), running) != 0) {
                snprintf(msg, sizeof msg, "the link at seq %lld does not follow its predecessor "
                                          "(inserted or reordered)", seq);
                set_problem(v, "inserted_or_reordered", seq, tulid, eulid, msg);
                break;
            }
            char digest[65], expect_ref[EVIDENCE_REF_MAX];
            evidence_digest(db_res_str(res, 6), db_res_len(res, 6), running, digest);
            evidence_ref_format(tulid, eulid, expect_ref);
            char needle[EVIDENCE_REF_MAX + 20];
            snprintf(needle, sizeof needle, "\"evidence_ref\":\"%s\"", expect_ref);
            if (strcmp(digest, db_res_str(res, 2)) != 0 || !strstr(db_res_str(res, 6), needle)) {
                snprintf(msg, sizeof msg, "the event at seq %lld was altered after it was recorded", seq);
                set_problem(v, "altered", seq, tulid, eulid, msg);
                break;
            }
            memcpy(running, digest, 65);
            v->events++;
            v->head_seq = seq;
            expect = seq + 1;
        }
        db_res_free(res);
        more = rows == 2000 && (end_seq == 0 || expect <= end_seq);
    }
    memcpy(v->head_digest, running, 65);
    return 0;
}

int evidence_verify(db_t *db, long long tenant_id, int max_link_delay_ms, evidence_verify_result_t *v) {
    memset(v, 0, sizeof *v);
    v->ok = true;
    db_res_t *res;
    int rc = db_query(db, "SELECT ref FROM tenants WHERE id = ?", DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    char tenant_ref[REF_MAX];
    snprintf(tenant_ref, sizeof tenant_ref, "%s", db_res_str(res, 0));
    db_res_free(res);
    const char *tulid = ulid_of(tenant_ref);

    rc = walk_chain(db, tenant_id, tulid, 1, ZERO_DIGEST, 0, v);
    if (rc) return rc;
    if (!v->ok) return 0;

    /* events that never made it into the chain */
    rc = db_query(db,
                  /* an event with neither link nor queue entry can never be linked: report it at once */
                  "SELECT e.ulid, p.event_id IS NULL OR e.created_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND "
                  "FROM evidence_events e LEFT JOIN evidence_links l ON l.event_id = e.id "
                  "LEFT JOIN chain_pending p ON p.event_id = e.id "
                  "WHERE e.tenant_id = ? AND l.event_id IS NULL ORDER BY e.id",
                  DB_ARGS(DBI((long long)max_link_delay_ms * 1000), DBI(tenant_id)), &res);
    if (rc) return rc;
    while (db_res_next(res)) {
        if (db_res_int(res, 1)) {
            if (v->ok)
                set_problem(v, "unlinked", 0, tulid, db_res_str(res, 0),
                            "an event was never linked into the chain (inserted outside the application, or "
                            "the sequencer is not running)");
        } else {
            v->pending++;
        }
    }
    db_res_free(res);
    if (!v->ok) return 0;
    return verify_checkpoints(db, tenant_id, tenant_ref, v);
}
