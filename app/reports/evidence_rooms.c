/*
 * evidence_rooms.c: evidence rooms (see evidence_rooms.h).
 *
 * Invariants:
 *  - every query filters by the actor's tenant;
 *  - auditor addresses live only in room_auditors.email and users.email: no
 *    projection, evidence body, access-event body or log line carries them
 *    (domains appear only as SHA-256 digests);
 *  - an access event and its evidence event commit together; the room row is
 *    locked FOR UPDATE first, so one room's chain grows one event at a time;
 *  - the stored artifact is only read: a download is a watermarked copy whose
 *    digest and download id are in the access event.
 */
#include "reports/evidence_rooms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/evidence.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/log.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "crypto/keys.h"
#include "crypto/totp.h"
#include "render/watermark.h"
#include "reports/renderer.h"
#include "reports/retention.h"
#include "server/auth.h"

#define MAX_ITEMS 50
#define MAX_DOMAINS 20
#define MAX_EXPIRY_DAYS 366
#define INVITE_TTL_MS (72LL * 3600 * 1000)
#define NO_PASSWORD "!" /* users.password_hash of an account whose invitation is pending */
static const char ZERO_DIGEST[] = "0000000000000000000000000000000000000000000000000000000000000000";

static const char *const AUDIENCES[] = {"external_auditor", "internal_audit", "board", "grc", "regulator", NULL};

void room_outcome_free(room_outcome_t *o) {
    if (o->body) json_object_put(o->body);
    o->body = NULL;
}

static void refuse(room_outcome_t *o, int status, const char *code, const char *detail, json_object *errors) {
    o->status = status;
    o->code = code;
    o->detail = detail;
    o->body = errors;
}

static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static const char *jstr(json_object *o, const char *k) {
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                          : NULL;
}

/* "2026-12-04 19:00:00.123456" -> RFC 3339 (NULL for "") */
static json_object *ts_json(const char *sql) {
    int64_t ms;
    char out[RFC3339_MAX];
    if (!sql || !*sql || sql_datetime_parse(sql, &ms)) return NULL;
    rfc3339_format(ms, 0, out);
    return json_object_new_string(out);
}

static void now_texts(char rfc[RFC3339_MAX], char sql[RFC3339_MAX]) {
    int64_t now = now_ms();
    if (rfc) rfc3339_format(now, 0, rfc);
    if (sql) sql_datetime_format(now, sql);
}

static void domain_ref(const char *domain, char out[64]) {
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(domain, strlen(domain), hex);
    snprintf(out, 64, "domain-rule:%.24s", hex);
}

static const char *public_format(const char *f) { return !strcmp(f, "md") ? "markdown" : f; }

static const char *actor_type_of(const actor_t *a) {
    if (!strcmp(a->role, "auditor")) return "external_auditor";
    if (!strcmp(a->role, "cso")) return "cso";
    return "grc_admin";
}

/* ------------------------------------------------------------------------ */
/* rooms                                                                     */

typedef struct {
    long long id;
    char ref[REF_MAX];
    char title[201];
    char purpose[1001];
    char audience[33];
    char domains[2049];
    bool download_allowed, mfa_required, revoked, expired, expiry_logged;
    char expires_at[RFC3339_MAX]; /* RFC 3339 */
    char revoked_at[RFC3339_MAX];
    char created_at[RFC3339_MAX];
    char created_by_ref[REF_MAX];
    char evidence_ref[EVIDENCE_REF_MAX];
} room_t;

#define ROOM_COLS                                                                                                \
    "SELECT id, ref, title, purpose, audience, allowed_domains, download_allowed, mfa_required, status, "       \
    "expires_at <= NOW(6), expiry_logged, expires_at, revoked_at, created_at, created_by_ref, evidence_ref "     \
    "FROM rooms "

static void sql_to_rfc(const char *sql, char out[RFC3339_MAX]) {
    int64_t ms;
    out[0] = 0;
    if (sql && *sql && !sql_datetime_parse(sql, &ms)) rfc3339_format(ms, 0, out);
}

static void room_from_row(db_res_t *res, room_t *r) {
    memset(r, 0, sizeof *r);
    r->id = db_res_int(res, 0);
    snprintf(r->ref, sizeof r->ref, "%s", db_res_str(res, 1));
    snprintf(r->title, sizeof r->title, "%s", db_res_str(res, 2));
    snprintf(r->purpose, sizeof r->purpose, "%s", db_res_str(res, 3));
    snprintf(r->audience, sizeof r->audience, "%s", db_res_str(res, 4));
    snprintf(r->domains, sizeof r->domains, "%s", db_res_str(res, 5));
    r->download_allowed = db_res_int(res, 6) != 0;
    r->mfa_required = db_res_int(res, 7) != 0;
    r->revoked = !strcmp(db_res_str(res, 8), "revoked");
    r->expired = db_res_int(res, 9) != 0;
    r->expiry_logged = db_res_int(res, 10) != 0;
    sql_to_rfc(db_res_str(res, 11), r->expires_at);
    sql_to_rfc(db_res_str(res, 12), r->revoked_at);
    sql_to_rfc(db_res_str(res, 13), r->created_at);
    snprintf(r->created_by_ref, sizeof r->created_by_ref, "%s", db_res_str(res, 14));
    snprintf(r->evidence_ref, sizeof r->evidence_ref, "%s", db_res_str(res, 15));
}

/* the room of the actor's tenant; lock = FOR UPDATE (inside a transaction) */
static int room_load(db_t *db, const actor_t *a, const char *ref, bool lock, room_t *r) {
    if (!ref || !ref_parse(ref, "evidence-room", NULL, NULL)) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = lock ? db_query(db, ROOM_COLS "WHERE tenant_id = ? AND ref = ? FOR UPDATE",
                             DB_ARGS(DBI(a->tenant_id), DBS(ref)), &res)
                  : db_query(db, ROOM_COLS "WHERE tenant_id = ? AND ref = ?", DB_ARGS(DBI(a->tenant_id), DBS(ref)),
                             &res);
    if (rc) return rc;
    rc = AISPM_ENOTFOUND;
    if (db_res_next(res)) {
        room_from_row(res, r);
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

static const char *room_status(const room_t *r) { return r->revoked ? "revoked" : r->expired ? "expired" : "active"; }

/* the room's artifacts: [{artifact_ref, report_id, format, digest, size,
 * content_type, filename, expired}] */
static int room_artifacts(db_t *db, const actor_t *a, long long room_id, json_object **out) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT ar.ref, ar.report_id, ar.format, ar.digest, ar.size, ar.content_type, ar.filename, "
                      "ar.expires_at <= NOW(6), ar.created_at FROM room_items i JOIN artifacts ar ON ar.id = "
                      "i.artifact_id AND ar.tenant_id = i.tenant_id WHERE i.tenant_id = ? AND i.room_id = ? AND "
                      "i.item_kind = 'artifact' ORDER BY i.position",
                      DB_ARGS(DBI(a->tenant_id), DBI(room_id)), &res);
    if (rc) return rc;
    json_object *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *o = json_object_new_object();
        put_str(o, "artifact_ref", db_res_str(res, 0));
        put_str(o, "report_id", db_res_str(res, 1));
        put_str(o, "format", db_res_str(res, 2));
        put_str(o, "digest", db_res_str(res, 3));
        json_object_object_add(o, "size", json_object_new_int64(db_res_int(res, 4)));
        put_str(o, "content_type", db_res_str(res, 5));
        put_str(o, "filename", db_res_str(res, 6));
        json_object_object_add(o, "retention_expired", json_object_new_boolean(db_res_int(res, 7) != 0));
        json_object_object_add(o, "created_at", ts_json(db_res_str(res, 8)));
        json_object_array_add(arr, o);
    }
    db_res_free(res);
    *out = arr;
    return 0;
}

static json_object *boundaries(const char *const *keys) {
    json_object *o = json_object_new_object();
    for (; *keys; keys++) put_str(o, *keys, "requires_cavra_enterprise");
    return o;
}

static json_object *redaction(bool with_ip) {
    json_object *o = json_object_new_object();
    const char *k[] = {"recipient_addresses_included", "auditor_identity_included", "raw_report_content_included",
                       "download_urls_included",       "customer_records_included", "secrets_included"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) json_object_object_add(o, k[i], json_object_new_boolean(0));
    if (with_ip) json_object_object_add(o, "ip_address_included", json_object_new_boolean(0));
    put_str(o, "payload_handling", "metadata_only");
    return o;
}

static json_object *room_projection(db_t *db, const actor_t *a, const room_t *r) {
    char now[RFC3339_MAX], ulid[ULID_LEN + 1], tmp[128], pub[EVIDENCE_REF_MAX];
    now_texts(now, NULL);
    ref_parse(r->ref, NULL, NULL, ulid);
    json_object *o = json_object_new_object();
    put_str(o, "schema_version", "cavra.aispm.report_evidence_room.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_str(o, "generated_at", now);
    put_str(o, "tenant_ref", a->tenant_ref);
    json_object *room = json_object_new_object();
    put_str(room, "room_ref", r->ref);
    put_str(room, "title", r->title);
    put_str(room, "purpose", r->purpose);
    put_str(room, "status", room_status(r));
    put_str(room, "created_by", r->created_by_ref);
    put_str(room, "created_at", r->created_at);
    put_str(room, "expires_at", r->expires_at);
    json_object_object_add(o, "room", room);
    json_object *scope = json_object_new_object();
    put_str(scope, "audience", r->audience);
    put_str(scope, "recipient_scope",
            !strcmp(r->audience, "internal_audit") || !strcmp(r->audience, "board") ? "approved_internal_domain"
                                                                                      : "approved_external_domain");
    json_object *doms = json_object_new_array();
    char copy[2049];
    snprintf(copy, sizeof copy, "%s", r->domains);
    for (char *save = NULL, *d = strtok_r(copy, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        domain_ref(d, tmp);
        json_object_array_add(doms, json_object_new_string(tmp));
    }
    json_object_object_add(scope, "allowed_domain_refs", doms);
    put_str(scope, "rbac_scope", "evidence_room:read");
    json_object_object_add(scope, "mfa_required", json_object_new_boolean(r->mfa_required));
    json_object_object_add(scope, "download_allowed", json_object_new_boolean(r->download_allowed));
    json_object_object_add(o, "access_scope", scope);
    json_object *arts = json_object_new_array(), *rows = NULL;
    if (room_artifacts(db, a, r->id, &rows) == 0) {
        for (size_t i = 0; i < json_object_array_length(rows); i++) {
            json_object *x = json_object_array_get_idx(rows, i), *p = json_object_new_object();
            put_str(p, "artifact_ref", jstr(x, "artifact_ref"));
            put_str(p, "report_id", jstr(x, "report_id"));
            put_str(p, "format", public_format(jstr(x, "format")));
            put_str(p, "manifest_ref", r->ref);
            snprintf(tmp, sizeof tmp, "sha256:%s", jstr(x, "digest"));
            put_str(p, "digest_ref", tmp);
            json_object_object_add(p, "watermark_required", json_object_new_boolean(1));
            json_object_array_add(arts, p);
        }
        json_object_put(rows);
    }
    json_object_object_add(o, "artifacts", arts);
    json_object *c = json_object_new_object();
    json_object_object_add(c, "signed_manifest_required", json_object_new_boolean(0));
    json_object_object_add(c, "time_limited_links", json_object_new_boolean(1));
    json_object_object_add(c, "access_log_required", json_object_new_boolean(1));
    json_object_object_add(c, "download_watermark_required", json_object_new_boolean(1));
    json_object_object_add(c, "revocation_supported", json_object_new_boolean(1));
    json_object_object_add(o, "controls", c);
    json_object *log = json_object_new_object();
    snprintf(tmp, sizeof tmp, "evidence-room-access-log:%s", ulid);
    put_str(log, "access_log_ref", tmp);
    long long count = 0;
    json_object *last = NULL;
    db_res_t *res;
    if (db_query(db,
                 "SELECT COUNT(*), MAX(created_at) FROM evidence_room_access_events WHERE tenant_id = ? AND "
                 "room_id = ? AND outcome = 'allowed'",
                 DB_ARGS(DBI(a->tenant_id), DBI(r->id)), &res) == 0) {
        if (db_res_next(res)) {
            count = db_res_int(res, 0);
            last = ts_json(db_res_str(res, 1));
        }
        db_res_free(res);
    }
    json_object_object_add(log, "last_accessed_at", last);
    json_object_object_add(log, "access_count", json_object_new_int64(count));
    snprintf(tmp, sizeof tmp, "aispm://evidence-room-access-events/%s", ulid);
    put_str(log, "immutable_store_ref", tmp);
    json_object *evs = json_object_new_array();
    if (!evidence_ref_public(r->evidence_ref, pub)) json_object_array_add(evs, json_object_new_string(pub));
    json_object_object_add(log, "evidence_refs", evs);
    json_object_object_add(o, "access_log", log);
    json_object_object_add(o, "redaction", redaction(false));
    const char *b[] = {"evidence_room_portal",    "auditor_identity_resolution", "signed_download_links",
                       "watermarking_service",    "immutable_access_log",        "license_enforcement", NULL};
    json_object_object_add(o, "enterprise_boundaries", boundaries(b));
    return o;
}

/* ------------------------------------------------------------------------ */
/* the access chain                                                          */

typedef struct {
    const char *event_type; /* view download revoke expire failed_auth failed_policy */
    const char *outcome;    /* allowed blocked revoked expired failed logged */
    const char *decision;   /* allow block revoke expire */
    const char *reason;
    const char *source;     /* evidence_room_portal download_service revocation_worker scheduler api */
    const char *actor_ref;
    const char *actor_type;
    bool mfa_verified;
    const char *revocation_ref;
    const char *artifact_ref; /* NULL: every artifact of the room */
    bool watermark_applied;
    const char *download_id;
    const char *copy_digest;
} access_t;

/* appends one event to the room's chain and to the evidence chain. The
 * caller holds the room row FOR UPDATE in its transaction. */
static int access_append(db_t *db, const actor_t *a, const room_t *r, const access_t *e, const char *request_id,
                         char ref_out[REF_MAX]) {
    char ref[REF_MAX], ev_ref[EVIDENCE_REF_MAX], now[RFC3339_MAX], nowsql[RFC3339_MAX], prev[65] = "";
    long long seq = 1;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT seq, digest FROM evidence_room_access_events WHERE tenant_id = ? AND room_id = ? "
                      "ORDER BY seq DESC LIMIT 1",
                      DB_ARGS(DBI(a->tenant_id), DBI(r->id)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        seq = db_res_int(res, 0) + 1;
        snprintf(prev, sizeof prev, "%s", db_res_str(res, 1));
    }
    db_res_free(res);
    if (!*prev) memcpy(prev, ZERO_DIGEST, sizeof ZERO_DIGEST);
    json_object *arts = NULL, *chosen = json_object_new_array();
    if ((rc = room_artifacts(db, a, r->id, &arts))) {
        json_object_put(chosen);
        return rc;
    }
    for (size_t i = 0; i < json_object_array_length(arts); i++) {
        json_object *x = json_object_array_get_idx(arts, i), *p;
        if (e->artifact_ref && strcmp(e->artifact_ref, jstr(x, "artifact_ref"))) continue;
        p = json_object_new_object();
        put_str(p, "artifact_ref", jstr(x, "artifact_ref"));
        put_str(p, "report_id", jstr(x, "report_id"));
        put_str(p, "format", jstr(x, "format"));
        put_str(p, "digest", jstr(x, "digest"));
        json_object_array_add(chosen, p);
    }
    json_object_put(arts);
    ref_new("room-access-event", ref);
    now_texts(now, nowsql);

    json_object *d = json_object_new_object();
    put_str(d, "access_event_ref", ref);
    put_str(d, "event_type", e->event_type);
    put_str(d, "access_outcome", e->outcome);
    put_str(d, "reason", e->reason);
    if (e->actor_ref && !strncmp(e->actor_ref, "auditor:", 8)) put_str(d, "auditor_ref", e->actor_ref);
    if (e->artifact_ref) put_str(d, "artifact_ref", e->artifact_ref);
    if (e->download_id) put_str(d, "download_id", e->download_id);
    if (e->copy_digest) put_str(d, "copy_digest", e->copy_digest);
    evidence_event_t ev = {
        .tenant_id = a->tenant_id,
        .tenant_ref = a->tenant_ref,
        .actor_ref = e->actor_ref ? e->actor_ref : "system",
        .actor_role = a->role[0] ? a->role : NULL,
        .action = "evidence_room.access",
        .object_ref = r->ref,
        .outcome = !strcmp(e->outcome, "allowed") ? "success" : !strcmp(e->outcome, "revoked") ? "revoked" : "denied",
        .request_id = request_id,
        .details = d,
    };
    rc = evidence_append(db, &ev, ev_ref);
    json_object_put(d);
    if (rc) {
        json_object_put(chosen);
        return rc;
    }

    json_object *b = json_object_new_object();
    put_str(b, "schema", "aispm.evidence_room_access_event.v1");
    put_str(b, "event_ref", ref);
    put_str(b, "room_ref", r->ref);
    put_str(b, "tenant_ref", a->tenant_ref);
    json_object_object_add(b, "seq", json_object_new_int64(seq));
    put_str(b, "occurred_at", now);
    put_str(b, "event_type", e->event_type);
    put_str(b, "outcome", e->outcome);
    put_str(b, "decision", e->decision);
    put_str(b, "reason", e->reason);
    put_str(b, "source", e->source);
    put_str(b, "actor_ref", e->actor_ref ? e->actor_ref : "system");
    put_str(b, "actor_type", e->actor_type ? e->actor_type : "system");
    json_object_object_add(b, "mfa_verified", json_object_new_boolean(e->mfa_verified));
    put_str(b, "revocation_ref", e->revocation_ref);
    put_str(b, "room_expires_at", r->expires_at);
    json_object_object_add(b, "artifacts", chosen);
    json_object_object_add(b, "watermark_applied", json_object_new_boolean(e->watermark_applied));
    put_str(b, "download_id", e->download_id);
    put_str(b, "copy_digest", e->copy_digest);
    put_str(b, "evidence_ref", ev_ref);
    buf_t body = BUF_INIT;
    rc = jcs_serialize(b, &body);
    json_object_put(b);
    if (rc) {
        buf_free(&body);
        return AISPM_ERR;
    }
    char digest[65];
    evidence_digest(body.data, body.len, prev, digest);
    rc = db_exec(db,
                 "INSERT INTO evidence_room_access_events (tenant_id, room_id, seq, ref, event_type, outcome, "
                 "download_id, created_at, body, prev_digest, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 DB_ARGS(DBI(a->tenant_id), DBI(r->id), DBI(seq), DBS(ref), DBS(e->event_type), DBS(e->outcome),
                         DBS(e->download_id), DBS(nowsql), DBSN(body.data, body.len), DBS(prev), DBS(digest)),
                 NULL, NULL);
    buf_free(&body);
    if (!rc && ref_out) snprintf(ref_out, REF_MAX, "%s", ref);
    return rc;
}

static json_object *access_projection(const actor_t *a, const char *body, const char *prev, const char *digest,
                                      const char *room_ref) {
    json_object *b = json_tokener_parse(body);
    if (!b) return NULL;
    char now[RFC3339_MAX], tmp[160], ulid[ULID_LEN + 1] = "", pub[EVIDENCE_REF_MAX];
    now_texts(now, NULL);
    ref_parse(room_ref, NULL, NULL, ulid);
    json_object *o = json_object_new_object(), *v;
    put_str(o, "schema_version", "cavra.aispm.report_evidence_room_access_event.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_str(o, "generated_at", now);
    put_str(o, "tenant_ref", a->tenant_ref);
    json_object *ev = json_object_new_object();
    put_str(ev, "event_ref", jstr(b, "event_ref"));
    put_str(ev, "room_ref", room_ref);
    put_str(ev, "event_type", jstr(b, "event_type"));
    put_str(ev, "outcome", jstr(b, "outcome"));
    put_str(ev, "occurred_at", jstr(b, "occurred_at"));
    put_str(ev, "source", jstr(b, "source"));
    const char *dl = jstr(b, "download_id");
    char ev_ulid[ULID_LEN + 1] = "";
    ref_parse(jstr(b, "event_ref"), NULL, NULL, ev_ulid);
    snprintf(tmp, sizeof tmp, "correlation:%s", dl ? dl : ev_ulid);
    put_str(ev, "correlation_ref", tmp);
    json_object_object_add(o, "event", ev);
    json_object *ac = json_object_new_object();
    put_str(ac, "actor_ref", jstr(b, "actor_ref"));
    put_str(ac, "actor_type", jstr(b, "actor_type"));
    json_object_object_add(ac, "identity_redacted", json_object_new_boolean(1));
    snprintf(tmp, sizeof tmp, "organization:%s", !strcmp(jstr(b, "actor_type"), "external_auditor")
                                                     ? "external-audit-firm"
                                                     : a->tenant_ref);
    put_str(ac, "organization_ref", tmp);
    json_object_object_add(ac, "mfa_verified", json_object_new_boolean(json_object_object_get_ex(b, "mfa_verified", &v) &&
                                                                       json_object_get_boolean(v)));
    json_object_object_add(ac, "ip_address_redacted", json_object_new_boolean(1));
    json_object_object_add(o, "actor", ac);
    json_object *dec = json_object_new_object();
    put_str(dec, "decision", jstr(b, "decision"));
    put_str(dec, "reason", jstr(b, "reason"));
    json_object *pol = json_object_new_array();
    snprintf(tmp, sizeof tmp, "evidence-room-policy:%s", ulid);
    json_object_array_add(pol, json_object_new_string(tmp));
    json_object_array_add(pol, json_object_new_string("retention-policy:artifact-retention-class"));
    json_object_object_add(dec, "policy_refs", pol);
    put_str(dec, "expires_at", jstr(b, "room_expires_at"));
    put_str(dec, "revocation_ref", jstr(b, "revocation_ref"));
    json_object_object_add(o, "access_decision", dec);
    json_object *arts = json_object_new_array(), *src;
    bool wm = json_object_object_get_ex(b, "watermark_applied", &v) && json_object_get_boolean(v);
    if (json_object_object_get_ex(b, "artifacts", &src))
        for (size_t i = 0; i < json_object_array_length(src); i++) {
            json_object *x = json_object_array_get_idx(src, i), *p = json_object_new_object();
            put_str(p, "artifact_ref", jstr(x, "artifact_ref"));
            put_str(p, "report_id", jstr(x, "report_id"));
            put_str(p, "format", public_format(jstr(x, "format")));
            snprintf(tmp, sizeof tmp, "sha256:%s", jstr(x, "digest"));
            put_str(p, "digest_ref", tmp);
            json_object_object_add(p, "watermark_applied", json_object_new_boolean(wm));
            json_object_array_add(arts, p);
        }
    json_object_object_add(o, "artifacts", arts);
    json_object *c = json_object_new_object();
    json_object_object_add(c, "signed_link_used", json_object_new_boolean(0));
    json_object_object_add(c, "watermark_required", json_object_new_boolean(1));
    json_object_object_add(c, "access_logged", json_object_new_boolean(1));
    json_object_object_add(c, "immutable_audit_required", json_object_new_boolean(1));
    json_object_object_add(c, "retention_checked", json_object_new_boolean(1));
    json_object_object_add(c, "license_checked", json_object_new_boolean(1));
    json_object_object_add(o, "controls", c);
    json_object *in = json_object_new_object();
    snprintf(tmp, sizeof tmp, "sha256:%s", digest);
    put_str(in, "event_digest_ref", tmp);
    snprintf(tmp, sizeof tmp, "sha256:%s", prev);
    put_str(in, "previous_event_digest_ref", strcmp(prev, ZERO_DIGEST) ? tmp : NULL);
    put_str(in, "manifest_ref", room_ref);
    snprintf(tmp, sizeof tmp, "aispm://evidence-room-access-events/%s", ulid);
    put_str(in, "audit_store_ref", tmp);
    json_object *evs = json_object_new_array();
    const char *er = jstr(b, "evidence_ref");
    if (er && !evidence_ref_public(er, pub)) json_object_array_add(evs, json_object_new_string(pub));
    json_object_object_add(in, "evidence_refs", evs);
    json_object_object_add(o, "integrity", in);
    json_object_object_add(o, "redaction", redaction(true));
    const char *bk[] = {"identity_resolution",          "signed_download_links", "watermarking_service",
                        "immutable_access_event_store", "revocation_workflow",   "license_enforcement", NULL};
    json_object_object_add(o, "enterprise_boundaries", boundaries(bk));
    json_object_put(b);
    return o;
}

/* ------------------------------------------------------------------------ */
/* managers                                                                  */

static bool bool_field(json_object *body, const char *k, bool dflt, bool *out) {
    json_object *v;
    if (!json_object_object_get_ex(body, k, &v)) {
        *out = dflt;
        return true;
    }
    if (!json_object_is_type(v, json_type_boolean)) return false;
    *out = json_object_get_boolean(v);
    return true;
}

static void field_err(json_object *errors, const char *k, const char *msg) {
    if (!json_object_object_get_ex(errors, k, NULL)) put_str(errors, k, msg);
}

int rooms_create(db_t *db, const actor_t *a, json_object *body, const char *request_id, room_outcome_t *out) {
    memset(out, 0, sizeof *out);
    json_object *errors = json_object_new_object(), *v;
    const char *title = jstr(body, "title"), *purpose = jstr(body, "purpose"), *aud = jstr(body, "audience");
    const char *exp = jstr(body, "expires_at");
    if (!json_object_is_type(body, json_type_object)) field_err(errors, "body", "must be a JSON object");
    if (!title || !*title || strlen(title) > 200 || !utf8_valid(title, strlen(title)))
        field_err(errors, "title", "is required (1-200 characters)");
    if (!purpose || !*purpose || strlen(purpose) > 1000) field_err(errors, "purpose", "is required (1-1000 characters)");
    bool aud_ok = false;
    for (int i = 0; aud && AUDIENCES[i]; i++) aud_ok |= !strcmp(aud, AUDIENCES[i]);
    if (!aud_ok)
        field_err(errors, "audience", "must be one of external_auditor, internal_audit, board, grc, regulator");
    int64_t exp_ms = 0, now = now_ms();
    if (!exp || rfc3339_parse(exp, &exp_ms) || exp_ms <= now || exp_ms > now + MAX_EXPIRY_DAYS * 86400000LL)
        field_err(errors, "expires_at", "must be an RFC 3339 date-time in the future, at most 366 days ahead");
    bool download = true, mfa = false;
    if (!bool_field(body, "download_allowed", true, &download))
        field_err(errors, "download_allowed", "must be a boolean");
    if (!bool_field(body, "mfa_required", false, &mfa)) field_err(errors, "mfa_required", "must be a boolean");
    buf_t domains = BUF_INIT;
    if (!json_object_object_get_ex(body, "allowed_domains", &v) || !json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) < 1 || json_object_array_length(v) > MAX_DOMAINS) {
        field_err(errors, "allowed_domains", "must be an array of 1-20 domains");
    } else {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *d = json_object_array_get_idx(v, i);
            char low[254];
            const char *s = json_object_is_type(d, json_type_string) ? json_object_get_string(d) : NULL;
            if (!s || strlen(s) > 253 || !domain_valid(s, true)) {
                field_err(errors, "allowed_domains", "every entry must be a domain name such as audit.example");
                break;
            }
            size_t k = 0;
            for (; s[k]; k++) low[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
            low[k] = 0;
            char probe[260];
            snprintf(probe, sizeof probe, ",%s,", low);
            char hay[2100];
            snprintf(hay, sizeof hay, ",%s,", buf_cstr(&domains));
            if (strstr(hay, probe)) continue;
            if (domains.len + k + 1 > 2048) {
                field_err(errors, "allowed_domains", "too long");
                break;
            }
            if (domains.len) buf_putc(&domains, ',');
            buf_puts(&domains, low);
        }
    }
    json_object *items = NULL;
    if (!json_object_object_get_ex(body, "artifact_refs", &items) || !json_object_is_type(items, json_type_array) ||
        json_object_array_length(items) < 1 || json_object_array_length(items) > MAX_ITEMS) {
        field_err(errors, "artifact_refs", "must be an array of 1-50 artifact refs");
        items = NULL;
    }
    long long art_ids[MAX_ITEMS];
    const char *art_refs[MAX_ITEMS];
    size_t n_items = 0;
    for (size_t i = 0; items && i < json_object_array_length(items); i++) {
        json_object *x = json_object_array_get_idx(items, i);
        const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
        if (!s || !ref_parse(s, "artifact", NULL, NULL)) {
            field_err(errors, "artifact_refs", "every entry must be an artifact ref (artifact:ULID)");
            break;
        }
        bool dup = false;
        for (size_t k = 0; k < n_items; k++) dup |= !strcmp(art_refs[k], s);
        if (dup) {
            field_err(errors, "artifact_refs", "an artifact is listed twice");
            break;
        }
        db_res_t *res;
        int rc = db_query(db, "SELECT id FROM artifacts WHERE tenant_id = ? AND ref = ?",
                          DB_ARGS(DBI(a->tenant_id), DBS(s)), &res);
        if (rc) {
            json_object_put(errors);
            buf_free(&domains);
            return rc;
        }
        long long id = db_res_next(res) ? db_res_int(res, 0) : 0;
        db_res_free(res);
        if (!id) {
            field_err(errors, "artifact_refs", "an artifact ref does not name an artifact of this tenant");
            break;
        }
        art_ids[n_items] = id;
        art_refs[n_items++] = s;
    }
    if (json_object_object_length(errors)) {
        buf_free(&domains);
        refuse(out, 422, "validation_failed", "the evidence room request is not valid", errors);
        return 0;
    }
    json_object_put(errors);

    room_t r;
    memset(&r, 0, sizeof r);
    char nowsql[RFC3339_MAX], expsql[RFC3339_MAX], ev_ref[EVIDENCE_REF_MAX];
    ref_new("evidence-room", r.ref);
    now_texts(NULL, nowsql);
    sql_datetime_format(exp_ms, expsql);
    int rc = db_begin(db);
    if (rc) {
        buf_free(&domains);
        return rc;
    }
    json_object *d = json_object_new_object();
    put_str(d, "audience", aud);
    json_object_object_add(d, "artifact_count", json_object_new_int((int)n_items));
    json_object_object_add(d, "domain_count", json_object_new_int((int)json_object_array_length(
                                                  json_object_object_get_ex(body, "allowed_domains", &v) ? v : NULL)));
    json_object_object_add(d, "mfa_required", json_object_new_boolean(mfa));
    json_object_object_add(d, "download_allowed", json_object_new_boolean(download));
    put_str(d, "expires_at", exp);
    rc = auth_evidence(db, a, "evidence_room.created", r.ref, "success", request_id, d, ev_ref);
    json_object_put(d);
    uint64_t id = 0;
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO rooms (ref, tenant_id, title, purpose, audience, allowed_domains, "
                     "download_allowed, mfa_required, expires_at, created_by, created_by_ref, evidence_ref, "
                     "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(r.ref), DBI(a->tenant_id), DBS(title), DBS(purpose), DBS(aud),
                             DBS(buf_cstr(&domains)), DBI(download), DBI(mfa), DBS(expsql), DBI(a->user_id),
                             DBS(a->user_ref), DBS(ev_ref), DBS(nowsql)),
                     NULL, &id);
    buf_free(&domains);
    for (size_t i = 0; !rc && i < n_items; i++)
        rc = db_exec(db,
                     "INSERT INTO room_items (tenant_id, room_id, position, item_kind, item_ref, artifact_id) "
                     "VALUES (?, ?, ?, 'artifact', ?, ?)",
                     DB_ARGS(DBI(a->tenant_id), DBI(id), DBI(i), DBS(art_refs[i]), DBI(art_ids[i])), NULL, NULL);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    if ((rc = room_load(db, a, r.ref, false, &r))) return rc;
    out->status = 201;
    out->body = room_projection(db, a, &r);
    return 0;
}

int rooms_list(db_t *db, const actor_t *a, json_object **out) {
    db_res_t *res;
    int rc = db_query(db, ROOM_COLS "WHERE tenant_id = ? ORDER BY id DESC LIMIT 200", DB_ARGS(DBI(a->tenant_id)),
                      &res);
    if (rc) return rc;
    room_t rooms[1];
    json_object *arr = json_object_new_array();
    /* rows are buffered; projections run further queries after the scan */
    room_t *all = NULL;
    size_t n = 0;
    while (db_res_next(res)) {
        room_from_row(res, rooms);
        all = xrealloc(all, (n + 1) * sizeof *all);
        all[n++] = rooms[0];
    }
    db_res_free(res);
    for (size_t i = 0; i < n; i++) json_object_array_add(arr, room_projection(db, a, &all[i]));
    free(all);
    *out = json_object_new_object();
    json_object_object_add(*out, "rooms", arr);
    return 0;
}

int rooms_get(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    room_t r;
    int rc = room_load(db, a, ref, false, &r);
    if (rc) return rc;
    *out = room_projection(db, a, &r);
    return 0;
}

int rooms_revoke(db_t *db, const actor_t *a, const char *ref, const char *request_id, room_outcome_t *out) {
    memset(out, 0, sizeof *out);
    room_t r;
    int rc = db_begin(db);
    if (rc) return rc;
    if ((rc = room_load(db, a, ref, true, &r))) {
        db_rollback(db);
        return rc;
    }
    if (r.revoked) {
        db_rollback(db);
        refuse(out, 409, "room_already_revoked", "the evidence room is already revoked", NULL);
        return 0;
    }
    char nowsql[RFC3339_MAX], ev[REF_MAX];
    now_texts(NULL, nowsql);
    rc = db_exec(db, "UPDATE rooms SET status = 'revoked', revoked_at = ? WHERE tenant_id = ? AND id = ?",
                 DB_ARGS(DBS(nowsql), DBI(a->tenant_id), DBI(r.id)), NULL, NULL);
    access_t e = {.event_type = "revoke", .outcome = "revoked", .decision = "revoke", .reason = "room_revoked",
                  .source = "revocation_worker", .actor_ref = a->user_ref, .actor_type = actor_type_of(a),
                  .revocation_ref = r.ref};
    if (!rc) rc = access_append(db, a, &r, &e, request_id, ev);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    room_load(db, a, ref, false, &r);
    out->status = 200;
    out->body = room_projection(db, a, &r);
    return 0;
}

/* an invitation token: 32 random bytes, base64url; only its SHA-256 is kept */
static int invitation_new(db_t *db, const actor_t *a, long long user_id, long long membership_id, char token[64],
                          char expires[RFC3339_MAX]) {
    uint8_t raw[32];
    if (random_bytes(raw, sizeof raw)) return AISPM_ECRYPTO;
    b64url_encode(raw, sizeof raw, token);
    char hash[SHA256_HEX_LEN + 1], nowsql[RFC3339_MAX], expsql[RFC3339_MAX];
    sha256_hex(token, strlen(token), hash);
    int64_t now = now_ms();
    sql_datetime_format(now, nowsql);
    sql_datetime_format(now + INVITE_TTL_MS, expsql);
    rfc3339_format(now + INVITE_TTL_MS, 0, expires);
    return db_exec(db,
                   "INSERT INTO auditor_invitations (tenant_id, user_id, room_auditor_id, token_hash, expires_at, "
                   "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                   DB_ARGS(DBI(a->tenant_id), DBI(user_id), DBI(membership_id), DBS(hash), DBS(expsql), DBS(nowsql)),
                   NULL, NULL);
}

int rooms_invite(db_t *db, const actor_t *a, const char *ref, json_object *body, const char *request_id,
                 room_outcome_t *out) {
    memset(out, 0, sizeof *out);
    const char *email = jstr(body, "email");
    if (!email || strlen(email) > 254 || !email_valid(email)) {
        json_object *e = json_object_new_object();
        put_str(e, "email", "must be an email address");
        refuse(out, 422, "validation_failed", "the invitation is not valid", e);
        return 0;
    }
    char low[255];
    size_t k = 0;
    for (; email[k]; k++) low[k] = (char)(email[k] >= 'A' && email[k] <= 'Z' ? email[k] + 32 : email[k]);
    low[k] = 0;
    const char *domain = strchr(low, '@') + 1;
    room_t r;
    int rc = db_begin(db);
    if (rc) return rc;
    if ((rc = room_load(db, a, ref, true, &r))) {
        db_rollback(db);
        return rc;
    }
    if (r.revoked || r.expired) {
        db_rollback(db);
        refuse(out, 409, "room_not_active", "the evidence room is revoked or expired", NULL);
        return 0;
    }
    char hay[2100], probe[260];
    snprintf(hay, sizeof hay, ",%s,", r.domains);
    snprintf(probe, sizeof probe, ",%s,", domain);
    if (!strstr(hay, probe)) {
        db_rollback(db);
        json_object *e = json_object_new_object();
        put_str(e, "email", "the address is not in one of the room's allowed auditor domains");
        refuse(out, 422, "domain_not_allowed", "the address is not in an allowed auditor domain", e);
        return 0;
    }
    /* the account: an auditor of this tenant is linked; any other is refused */
    db_res_t *res;
    if ((rc = db_query(db, "SELECT id, tenant_id, role, password_hash = ? FROM users WHERE email = ?",
                       DB_ARGS(DBS(NO_PASSWORD), DBS(low)), &res))) {
        db_rollback(db);
        return rc;
    }
    long long user_id = 0;
    bool pending = true, other = false;
    if (db_res_next(res)) {
        user_id = db_res_int(res, 0);
        other = db_res_int(res, 1) != a->tenant_id || strcmp(db_res_str(res, 2), "auditor");
        pending = db_res_int(res, 3) != 0;
    }
    db_res_free(res);
    if (other) {
        db_rollback(db);
        refuse(out, 409, "account_conflict", "this address cannot be invited as an auditor", NULL);
        return 0;
    }
    char nowsql[RFC3339_MAX], aud_ref[REF_MAX], user_ref[REF_MAX], dref[64];
    now_texts(NULL, nowsql);
    const char *account = user_id ? "linked" : "created";
    if (!user_id) {
        uint64_t id;
        ref_new("user", user_ref);
        rc = db_exec(db,
                     "INSERT INTO users (ref, tenant_id, email, display_name, role, password_hash, created_at) "
                     "VALUES (?, ?, ?, 'Invited auditor', 'auditor', ?, ?)",
                     DB_ARGS(DBS(user_ref), DBI(a->tenant_id), DBS(low), DBS(NO_PASSWORD), DBS(nowsql)), NULL, &id);
        if (rc == AISPM_ECONFLICT) { /* a concurrent invitation created it */
            db_rollback(db);
            refuse(out, 409, "account_conflict", "this address cannot be invited as an auditor", NULL);
            return 0;
        }
        user_id = (long long)id;
    }
    uint64_t mid = 0;
    ref_new("auditor", aud_ref);
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO room_auditors (ref, tenant_id, room_id, user_id, email, invited_by, invited_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(aud_ref), DBI(a->tenant_id), DBI(r.id), DBI(user_id), DBS(low), DBI(a->user_id),
                             DBS(nowsql)),
                     NULL, &mid);
    if (rc == AISPM_ECONFLICT) {
        db_rollback(db);
        refuse(out, 409, "auditor_already_invited", "this auditor is already a member of the room", NULL);
        return 0;
    }
    char token[64] = "", expires[RFC3339_MAX] = "";
    if (!rc && pending) rc = invitation_new(db, a, user_id, (long long)mid, token, expires);
    json_object *d = json_object_new_object();
    put_str(d, "auditor_ref", aud_ref);
    put_str(d, "account", account);
    domain_ref(domain, dref);
    put_str(d, "domain_ref", dref);
    json_object_object_add(d, "invitation_issued", json_object_new_boolean(pending));
    if (!rc) rc = auth_evidence(db, a, "evidence_room.auditor_invited", r.ref, "success", request_id, d, NULL);
    json_object_put(d);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    json_object *o = json_object_new_object();
    put_str(o, "auditor_ref", aud_ref);
    put_str(o, "room_ref", r.ref);
    put_str(o, "account", account);
    char url[128];
    snprintf(url, sizeof url, "/portal/invitations/%s", token);
    put_str(o, "invitation_url", pending ? url : NULL);
    put_str(o, "invitation_expires_at", pending ? expires : NULL);
    out->status = 201;
    out->body = o;
    return 0;
}

int rooms_auditors(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    room_t r;
    int rc = room_load(db, a, ref, false, &r);
    if (rc) return rc;
    db_res_t *res;
    if ((rc = db_query(db,
                       "SELECT ref, invited_at, revoked_at FROM room_auditors WHERE tenant_id = ? AND room_id = ? "
                       "ORDER BY id",
                       DB_ARGS(DBI(a->tenant_id), DBI(r.id)), &res)))
        return rc;
    json_object *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *o = json_object_new_object();
        put_str(o, "auditor_ref", db_res_str(res, 0));
        put_str(o, "status", db_res_isnull(res, 2) ? "active" : "revoked");
        json_object_object_add(o, "invited_at", ts_json(db_res_str(res, 1)));
        json_object_object_add(o, "revoked_at", ts_json(db_res_str(res, 2)));
        json_object_array_add(arr, o);
    }
    db_res_free(res);
    *out = json_object_new_object();
    json_object_object_add(*out, "auditors", arr);
    return 0;
}

int rooms_revoke_auditor(db_t *db, const actor_t *a, const char *ref, const char *auditor_ref,
                         const char *request_id, room_outcome_t *out) {
    memset(out, 0, sizeof *out);
    room_t r;
    int rc = db_begin(db);
    if (rc) return rc;
    if ((rc = room_load(db, a, ref, true, &r))) {
        db_rollback(db);
        return rc;
    }
    char nowsql[RFC3339_MAX];
    now_texts(NULL, nowsql);
    uint64_t n = 0;
    rc = db_exec(db,
                 "UPDATE room_auditors SET revoked_at = ? WHERE tenant_id = ? AND room_id = ? AND ref = ? AND "
                 "revoked_at IS NULL",
                 DB_ARGS(DBS(nowsql), DBI(a->tenant_id), DBI(r.id), DBS(auditor_ref)), &n, NULL);
    if (!rc && n == 0) {
        db_rollback(db);
        return AISPM_ENOTFOUND;
    }
    access_t e = {.event_type = "revoke", .outcome = "revoked", .decision = "revoke", .reason = "auditor_revoked",
                  .source = "revocation_worker", .actor_ref = a->user_ref, .actor_type = actor_type_of(a),
                  .revocation_ref = auditor_ref};
    if (!rc) rc = access_append(db, a, &r, &e, request_id, NULL);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    json_object *o = json_object_new_object();
    put_str(o, "auditor_ref", auditor_ref);
    put_str(o, "status", "revoked");
    out->status = 200;
    out->body = o;
    return 0;
}

int rooms_access_events(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    room_t r;
    int rc = room_load(db, a, ref, false, &r);
    if (rc) return rc;
    db_res_t *res;
    if ((rc = db_query(db,
                       "SELECT body, prev_digest, digest FROM evidence_room_access_events WHERE tenant_id = ? AND "
                       "room_id = ? ORDER BY seq LIMIT 1000",
                       DB_ARGS(DBI(a->tenant_id), DBI(r.id)), &res)))
        return rc;
    json_object *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *p = access_projection(a, db_res_str(res, 0), db_res_str(res, 1), db_res_str(res, 2), r.ref);
        if (p) json_object_array_add(arr, p);
    }
    db_res_free(res);
    *out = json_object_new_object();
    json_object_object_add(*out, "events", arr);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* auditors                                                                  */

int rooms_mine(db_t *db, const actor_t *a, json_object **out) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT r.ref, r.title, r.purpose, r.status, r.expires_at <= NOW(6), r.expires_at, "
                      "r.mfa_required, r.download_allowed, m.ref, m.revoked_at IS NULL FROM room_auditors m JOIN "
                      "rooms r ON r.id = m.room_id AND r.tenant_id = m.tenant_id WHERE m.tenant_id = ? AND "
                      "m.user_id = ? ORDER BY r.id DESC LIMIT 200",
                      DB_ARGS(DBI(a->tenant_id), DBI(a->user_id)), &res);
    if (rc) return rc;
    json_object *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *o = json_object_new_object();
        put_str(o, "room_ref", db_res_str(res, 0));
        put_str(o, "title", db_res_str(res, 1));
        put_str(o, "purpose", db_res_str(res, 2));
        bool revoked = !strcmp(db_res_str(res, 3), "revoked");
        put_str(o, "status", revoked ? "revoked" : db_res_int(res, 4) ? "expired" : "active");
        json_object_object_add(o, "expires_at", ts_json(db_res_str(res, 5)));
        json_object_object_add(o, "mfa_required", json_object_new_boolean(db_res_int(res, 6) != 0));
        json_object_object_add(o, "download_allowed", json_object_new_boolean(db_res_int(res, 7) != 0));
        put_str(o, "auditor_ref", db_res_str(res, 8));
        put_str(o, "auditor_status", db_res_int(res, 9) ? "active" : "revoked");
        json_object_array_add(arr, o);
    }
    db_res_free(res);
    *out = json_object_new_object();
    json_object_object_add(*out, "rooms", arr);
    return 0;
}

static bool session_mfa_verified(db_t *db, const actor_t *a) {
    if (a->kind != ACTOR_SESSION) return false;
    db_res_t *res;
    if (db_query(db, "SELECT 1 FROM auditor_mfa_sessions WHERE session_id = ? AND user_id = ?",
                 DB_ARGS(DBI(a->session_id), DBI(a->user_id)), &res))
        return false;
    bool ok = db_res_next(res) == 1;
    db_res_free(res);
    return ok;
}

typedef struct {
    room_t room;
    char auditor_ref[REF_MAX];
    bool mfa;
} gate_t;

/* the policy decision of one access, inside the caller's transaction (room
 * locked). Returns 0 and leaves deny->status 0 when allowed; a refusal is
 * recorded in the chain and described in deny (the caller commits). */
static int gate(db_t *db, const actor_t *a, const char *ref, const char *kind, const char *artifact_ref,
                const char *request_id, room_outcome_t *deny, gate_t *g) {
    memset(g, 0, sizeof *g);
    room_t *r = &g->room;
    int rc = room_load(db, a, ref, true, r);
    if (rc) return rc;
    db_res_t *res;
    if ((rc = db_query(db, "SELECT ref, revoked_at IS NOT NULL FROM room_auditors WHERE tenant_id = ? AND "
                           "room_id = ? AND user_id = ?",
                       DB_ARGS(DBI(a->tenant_id), DBI(r->id), DBI(a->user_id)), &res)))
        return rc;
    bool member = false, revoked = false;
    if (db_res_next(res)) {
        member = true;
        snprintf(g->auditor_ref, sizeof g->auditor_ref, "%s", db_res_str(res, 0));
        revoked = db_res_int(res, 1) != 0;
    }
    db_res_free(res);
    g->mfa = session_mfa_verified(db, a);
    access_t e = {.event_type = kind, .source = !strcmp(kind, "download") ? "download_service"
                                                                          : "evidence_room_portal",
                  .actor_ref = member ? g->auditor_ref : a->user_ref, .actor_type = actor_type_of(a),
                  .mfa_verified = g->mfa, .artifact_ref = artifact_ref};
    int status = 0;
    const char *code = NULL, *detail = NULL;
    if (!member) {
        /* another room: recorded in its chain, answered as if it did not exist */
        e.event_type = "failed_policy", e.outcome = "blocked", e.decision = "block", e.reason = "not_a_member";
        status = 404, code = "not_found", detail = "no such resource";
    } else if (r->revoked) {
        e.outcome = "revoked", e.decision = "block", e.reason = "room_revoked", e.revocation_ref = r->ref;
        status = 410, code = "room_revoked", detail = "the evidence room has been revoked";
    } else if (r->expired) {
        if (!r->expiry_logged) {
            access_t x = {.event_type = "expire", .outcome = "expired", .decision = "expire",
                          .reason = "room_expired", .source = "scheduler", .actor_ref = "system",
                          .actor_type = "system"};
            if ((rc = access_append(db, a, r, &x, request_id, NULL)) ||
                (rc = db_exec(db, "UPDATE rooms SET expiry_logged = 1 WHERE tenant_id = ? AND id = ?",
                              DB_ARGS(DBI(a->tenant_id), DBI(r->id)), NULL, NULL)))
                return rc;
        }
        e.outcome = "expired", e.decision = "expire", e.reason = "room_expired";
        status = 410, code = "room_expired", detail = "the evidence room has expired";
    } else if (revoked) {
        e.outcome = "revoked", e.decision = "block", e.reason = "auditor_revoked", e.revocation_ref = g->auditor_ref;
        status = 403, code = "access_revoked", detail = "your access to this evidence room has been revoked";
    } else if (r->mfa_required && !g->mfa) {
        e.event_type = "failed_auth", e.outcome = "blocked", e.decision = "block", e.reason = "mfa_required";
        status = 403, code = "mfa_required", detail = "this evidence room requires a verified one-time code (MFA)";
    } else if (!strcmp(kind, "download") && !r->download_allowed) {
        e.event_type = "failed_policy", e.outcome = "blocked", e.decision = "block";
        e.reason = "download_not_permitted";
        status = 403, code = "download_not_permitted", detail = "this evidence room does not permit downloads";
    } else if (artifact_ref) {
        json_object *arts;
        if ((rc = room_artifacts(db, a, r->id, &arts))) return rc;
        bool found = false;
        for (size_t i = 0; i < json_object_array_length(arts); i++)
            found |= !strcmp(jstr(json_object_array_get_idx(arts, i), "artifact_ref"), artifact_ref);
        json_object_put(arts);
        /* the one retrievability rule (retention.h): deleted, archived past
         * retention, expired or revoked content is refused with the verdict's
         * status and code (the refusal also evidenced as
         * retention.retrieval_blocked) */
        retention_verdict_t v;
        if (found && (rc = retention_gate(db, a, artifact_ref, !strcmp(kind, "download") ? "evidence_room_download"
                                                                                          : "evidence_room_view",
                                          request_id, &v, NULL)))
            return rc;
        if (!found || v.status == 404) {
            e.event_type = "failed_policy", e.outcome = "blocked", e.decision = "block", e.reason = "not_in_room";
            e.artifact_ref = NULL;
            status = 404, code = "not_found", detail = "no such resource";
        } else if (v.status != 200) {
            e.event_type = "failed_policy", e.outcome = "blocked", e.decision = "block";
            e.reason = v.code;
            status = v.status, code = v.code, detail = v.detail;
        }
    }
    if (!status) return 0;
    if ((rc = access_append(db, a, r, &e, request_id, NULL))) return rc;
    refuse(deny, status, code, detail, NULL);
    return 0;
}

static json_object *room_page(db_t *db, const actor_t *a, const gate_t *g, const char *artifact_ref) {
    json_object *o = json_object_new_object(), *arts = NULL;
    const room_t *r = &g->room;
    put_str(o, "room_ref", r->ref);
    put_str(o, "title", r->title);
    put_str(o, "purpose", r->purpose);
    put_str(o, "status", room_status(r));
    put_str(o, "expires_at", r->expires_at);
    put_str(o, "auditor_ref", g->auditor_ref);
    json_object_object_add(o, "download_allowed", json_object_new_boolean(r->download_allowed));
    json_object_object_add(o, "mfa_required", json_object_new_boolean(r->mfa_required));
    json_object_object_add(o, "mfa_verified", json_object_new_boolean(g->mfa));
    if (room_artifacts(db, a, r->id, &arts) == 0) {
        if (artifact_ref) {
            for (size_t i = 0; i < json_object_array_length(arts); i++) {
                json_object *x = json_object_array_get_idx(arts, i);
                if (!strcmp(jstr(x, "artifact_ref"), artifact_ref))
                    json_object_object_add(o, "artifact", json_object_get(x));
            }
        }
        json_object_object_add(o, "artifacts", arts);
    }
    return o;
}

int rooms_view(db_t *db, const actor_t *a, const char *ref, const char *artifact_ref, const char *request_id,
               room_outcome_t *deny, json_object **out) {
    memset(deny, 0, sizeof *deny);
    *out = NULL;
    gate_t g;
    int rc = db_begin(db);
    if (rc) return rc;
    rc = gate(db, a, ref, "view", artifact_ref, request_id, deny, &g);
    if (!rc && !deny->status) {
        access_t e = {.event_type = "view", .outcome = "allowed", .decision = "allow",
                      .reason = g.room.mfa_required ? "member_mfa_verified_active_room" : "member_of_active_room",
                      .source = "evidence_room_portal", .actor_ref = g.auditor_ref, .actor_type = actor_type_of(a),
                      .mfa_verified = g.mfa, .artifact_ref = artifact_ref};
        rc = access_append(db, a, &g.room, &e, request_id, NULL);
    }
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        room_outcome_free(deny);
        memset(deny, 0, sizeof *deny);
        return rc;
    }
    if (!deny->status) *out = room_page(db, a, &g, artifact_ref);
    return 0;
}

void room_download_free(room_download_t *d) { buf_free(&d->bytes); }

int rooms_download(db_t *db, const config_t *cfg, const actor_t *a, const char *ref, const char *artifact_ref,
                   const char *request_id, room_outcome_t *deny, room_download_t *out) {
    memset(deny, 0, sizeof *deny);
    memset(out, 0, sizeof *out);
    if (!artifact_ref || !ref_parse(artifact_ref, "artifact", NULL, NULL)) return AISPM_ENOTFOUND;
    gate_t g;
    int rc = db_begin(db);
    if (rc) return rc;
    rc = gate(db, a, ref, "download", artifact_ref, request_id, deny, &g);
    render_content_t c;
    memset(&c, 0, sizeof c);
    if (!rc && !deny->status) {
        rc = renderer_artifact_bytes(db, cfg, a->tenant_id, artifact_ref, &c);
        char now[RFC3339_MAX];
        now_texts(now, NULL);
        if (!rc) rc = ref_new("download", out->download_id);
        watermark_t wm = {g.room.ref, g.auditor_ref, now, out->download_id};
        if (!rc) rc = watermark_apply(c.format, c.bytes.data ? c.bytes.data : "", c.bytes.len, &wm, &out->bytes);
        if (!rc) {
            sha256_hex(out->bytes.data ? out->bytes.data : "", out->bytes.len, out->copy_digest);
            snprintf(out->artifact_digest, sizeof out->artifact_digest, "%s", c.digest);
            snprintf(out->content_type, sizeof out->content_type, "%s", c.content_type);
            const char *dot = strrchr(c.filename, '.');
            snprintf(out->filename, sizeof out->filename, "%.*s-%s%s", (int)(dot ? dot - c.filename : 120),
                     c.filename, out->download_id + 9, dot ? dot : "");
            access_t e = {.event_type = "download", .outcome = "allowed", .decision = "allow",
                          .reason = g.room.mfa_required ? "member_mfa_verified_active_room" : "member_of_active_room",
                          .source = "download_service", .actor_ref = g.auditor_ref, .actor_type = actor_type_of(a),
                          .mfa_verified = g.mfa, .artifact_ref = artifact_ref, .watermark_applied = true,
                          .download_id = out->download_id, .copy_digest = out->copy_digest};
            rc = access_append(db, a, &g.room, &e, request_id, NULL);
        } else if (rc == AISPM_EINVAL) {
            log_msg(LOG_ERROR, "watermark_failed", "artifact %s (%s) could not be watermarked", artifact_ref,
                    c.format);
            rc = AISPM_EIO;
        }
    }
    render_content_free(&c);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        room_download_free(out);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* MFA                                                                       */

int rooms_mfa_state(db_t *db, const actor_t *a, json_object **out) {
    db_res_t *res;
    int rc = db_query(db, "SELECT secret, enabled_at IS NOT NULL FROM auditor_mfa WHERE user_id = ? AND tenant_id = ?",
                      DB_ARGS(DBI(a->user_id), DBI(a->tenant_id)), &res);
    if (rc) return rc;
    char secret[TOTP_B32_MAX] = "";
    bool have = false, enabled = false;
    if (db_res_next(res)) {
        have = true;
        snprintf(secret, sizeof secret, "%s", db_res_str(res, 0));
        enabled = db_res_int(res, 1) != 0;
    }
    db_res_free(res);
    if (!have) {
        char nowsql[RFC3339_MAX];
        now_texts(NULL, nowsql);
        if ((rc = totp_new_secret(secret))) return rc;
        rc = db_exec(db, "INSERT IGNORE INTO auditor_mfa (user_id, tenant_id, secret, created_at) VALUES (?, ?, ?, ?)",
                     DB_ARGS(DBI(a->user_id), DBI(a->tenant_id), DBS(secret), DBS(nowsql)), NULL, NULL);
        if (rc) return rc;
        return rooms_mfa_state(db, a, out); /* a concurrent request may have won */
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "enabled", json_object_new_boolean(enabled));
    json_object_object_add(o, "verified", json_object_new_boolean(session_mfa_verified(db, a)));
    if (!enabled) {
        char uri[300];
        totp_uri("AISPM", a->user_ref, secret, uri, sizeof uri);
        put_str(o, "secret", secret);
        put_str(o, "otpauth_uri", uri);
    }
    memset(secret, 0, sizeof secret);
    *out = o;
    return 0;
}

int rooms_mfa_verify(db_t *db, const actor_t *a, const char *code, const char *room_ref, const char *request_id,
                     bool *ok) {
    *ok = false;
    int rc = db_begin(db);
    if (rc) return rc;
    db_res_t *res;
    if ((rc = db_query(db,
                       "SELECT secret, last_step, enabled_at IS NOT NULL FROM auditor_mfa WHERE user_id = ? AND "
                       "tenant_id = ? FOR UPDATE",
                       DB_ARGS(DBI(a->user_id), DBI(a->tenant_id)), &res))) {
        db_rollback(db);
        return rc;
    }
    char secret[TOTP_B32_MAX] = "";
    long long last = 0;
    bool have = false, enabled = false;
    if (db_res_next(res)) {
        have = true;
        snprintf(secret, sizeof secret, "%s", db_res_str(res, 0));
        last = db_res_int(res, 1);
        enabled = db_res_int(res, 2) != 0;
    }
    db_res_free(res);
    int64_t step = 0;
    *ok = have && a->kind == ACTOR_SESSION && totp_check(secret, code, now_ms() / 1000, last, &step);
    memset(secret, 0, sizeof secret);
    char nowsql[RFC3339_MAX];
    now_texts(NULL, nowsql);
    uint64_t used = 0;
    if (*ok) {
        rc = db_exec(db,
                     "UPDATE auditor_mfa SET last_step = ?, enabled_at = COALESCE(enabled_at, ?) WHERE user_id = ? "
                     "AND tenant_id = ? AND last_step < ?",
                     DB_ARGS(DBI(step), DBS(nowsql), DBI(a->user_id), DBI(a->tenant_id), DBI(step)), &used, NULL);
        if (!rc && used != 1) *ok = false; /* the step was taken meanwhile: a reuse */
        if (!rc && *ok)
            rc = db_exec(db,
                         "INSERT INTO auditor_mfa_sessions (session_id, user_id, verified_at) VALUES (?, ?, ?) ON "
                         "DUPLICATE KEY UPDATE verified_at = VALUES(verified_at)",
                         DB_ARGS(DBI(a->session_id), DBI(a->user_id), DBS(nowsql)), NULL, NULL);
    }
    if (!rc)
        rc = auth_evidence(db, a, *ok ? (enabled ? "auditor.mfa_verified" : "auditor.mfa_enabled") : "auditor.mfa_failed",
                           a->user_ref, *ok ? "success" : "failure", request_id, NULL, NULL);
    /* a failed code is a failed authentication in the room it was meant for */
    room_t r;
    if (!rc && !*ok && room_ref && room_load(db, a, room_ref, true, &r) == 0) {
        if ((rc = db_query(db, "SELECT ref FROM room_auditors WHERE tenant_id = ? AND room_id = ? AND user_id = ?",
                           DB_ARGS(DBI(a->tenant_id), DBI(r.id), DBI(a->user_id)), &res)) == 0) {
            char aref[REF_MAX] = "";
            if (db_res_next(res)) snprintf(aref, sizeof aref, "%s", db_res_str(res, 0));
            db_res_free(res);
            access_t e = {.event_type = "failed_auth", .outcome = "failed", .decision = "block",
                          .reason = have ? "mfa_code_invalid" : "mfa_not_enrolled", .source = "evidence_room_portal",
                          .actor_ref = *aref ? aref : a->user_ref, .actor_type = actor_type_of(a)};
            if (*aref) rc = access_append(db, a, &r, &e, request_id, NULL);
        }
    }
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        *ok = false;
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* invitations                                                               */

static int invitation_find(db_t *db, const char *token, long long *id, long long *user_id, long long *tenant_id,
                           char expires[RFC3339_MAX]) {
    if (!token || strlen(token) != 43) return AISPM_ENOTFOUND;
    char hash[SHA256_HEX_LEN + 1];
    sha256_hex(token, strlen(token), hash);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT id, user_id, tenant_id, expires_at FROM auditor_invitations WHERE token_hash = ? AND "
                      "used_at IS NULL AND expires_at > NOW(6)",
                      DB_ARGS(DBS(hash)), &res);
    if (rc) return rc;
    rc = AISPM_ENOTFOUND;
    if (db_res_next(res)) {
        *id = db_res_int(res, 0);
        *user_id = db_res_int(res, 1);
        *tenant_id = db_res_int(res, 2);
        sql_to_rfc(db_res_str(res, 3), expires);
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

int rooms_invitation_check(db_t *db, const char *token, json_object **out) {
    long long id, uid, tid;
    char exp[RFC3339_MAX];
    int rc = invitation_find(db, token, &id, &uid, &tid, exp);
    if (rc) return rc;
    *out = json_object_new_object();
    put_str(*out, "expires_at", exp);
    return 0;
}

int rooms_invitation_accept(db_t *db, const char *token, const char *password, const char *request_id) {
    size_t pl = password ? strlen(password) : 0;
    if (pl < 12 || pl > 256) return AISPM_EINVAL;
    long long id, uid, tid;
    char exp[RFC3339_MAX], hash[256];
    int rc = invitation_find(db, token, &id, &uid, &tid, exp);
    if (rc) return rc;
    if (password_hash(password, hash, sizeof hash)) return AISPM_ERR;
    if ((rc = db_begin(db))) return rc;
    char nowsql[RFC3339_MAX];
    now_texts(NULL, nowsql);
    uint64_t n = 0;
    rc = db_exec(db, "UPDATE auditor_invitations SET used_at = ? WHERE id = ? AND tenant_id = ? AND used_at IS NULL",
                 DB_ARGS(DBS(nowsql), DBI(id), DBI(tid)), &n, NULL);
    if (!rc && n != 1) rc = AISPM_ENOTFOUND; /* a concurrent use won */
    if (!rc)
        rc = db_exec(db, "UPDATE users SET password_hash = ? WHERE id = ? AND tenant_id = ? AND role = 'auditor'",
                     DB_ARGS(DBS(hash), DBI(uid), DBI(tid)), NULL, NULL);
    db_res_t *res;
    actor_t who;
    memset(&who, 0, sizeof who);
    if (!rc && !(rc = db_query(db,
                               "SELECT u.ref, t.ref FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = ? "
                               "AND u.tenant_id = ?",
                               DB_ARGS(DBI(uid), DBI(tid)), &res))) {
        if (db_res_next(res)) {
            snprintf(who.user_ref, sizeof who.user_ref, "%s", db_res_str(res, 0));
            snprintf(who.tenant_ref, sizeof who.tenant_ref, "%s", db_res_str(res, 1));
        }
        db_res_free(res);
        who.tenant_id = tid;
        snprintf(who.role, sizeof who.role, "auditor");
        rc = auth_evidence(db, &who, "auditor.invitation_accepted", who.user_ref, "success", request_id, NULL, NULL);
    }
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* verification                                                              */

int rooms_verify(db_t *db, long long tenant_id, rooms_verify_result_t *v) {
    memset(v, 0, sizeof *v);
    v->ok = true;
    db_res_t *res;
    int rc = db_query(db, "SELECT id, ref FROM rooms WHERE tenant_id = ? ORDER BY id", DB_ARGS(DBI(tenant_id)),
                      &res);
    if (rc) return rc;
    long long *ids = NULL;
    char (*refs)[REF_MAX] = NULL;
    size_t n = 0;
    while (db_res_next(res)) {
        ids = xrealloc(ids, (n + 1) * sizeof *ids);
        refs = xrealloc(refs, (n + 1) * sizeof *refs);
        ids[n] = db_res_int(res, 0);
        snprintf(refs[n], REF_MAX, "%s", db_res_str(res, 1));
        n++;
    }
    db_res_free(res);
    for (size_t i = 0; i < n && v->ok && !rc; i++) {
        v->rooms++;
        rc = db_query(db,
                      "SELECT seq, ref, body, prev_digest, digest, tenant_id FROM evidence_room_access_events WHERE "
                      "room_id = ? ORDER BY seq",
                      DB_ARGS(DBI(ids[i])), &res);
        if (rc) break;
        char prev[65];
        memcpy(prev, ZERO_DIGEST, sizeof ZERO_DIGEST);
        long long want = 1;
        while (v->ok && db_res_next(res)) {
            long long seq = db_res_int(res, 0);
            const char *body = db_res_str(res, 2);
            char d[65];
            evidence_digest(body, db_res_len(res, 2), prev, d);
            json_object *b = json_tokener_parse(body), *x;
            bool fields = b && jstr(b, "event_ref") && !strcmp(jstr(b, "event_ref"), db_res_str(res, 1)) &&
                          jstr(b, "room_ref") && !strcmp(jstr(b, "room_ref"), refs[i]) &&
                          json_object_object_get_ex(b, "seq", &x) && json_object_get_int64(x) == seq;
            if (b) json_object_put(b);
            const char *problem = NULL;
            if (db_res_int(res, 5) != tenant_id) problem = "foreign";
            else if (seq != want) problem = "gap";
            else if (strcmp(db_res_str(res, 3), prev)) problem = "inserted_or_reordered";
            else if (strcmp(db_res_str(res, 4), d) || !fields) problem = "altered";
            if (problem) {
                v->ok = false;
                snprintf(v->problem, sizeof v->problem, "%s", problem);
                snprintf(v->room_ref, sizeof v->room_ref, "%s", refs[i]);
                v->bad_seq = seq;
                snprintf(v->message, sizeof v->message, "access event %s of %s does not verify (%s)",
                         db_res_str(res, 1), refs[i], problem);
                break;
            }
            snprintf(prev, sizeof prev, "%s", db_res_str(res, 4));
            want++;
            v->events++;
        }
        db_res_free(res);
    }
    free(ids);
    free(refs);
    return rc;
}
