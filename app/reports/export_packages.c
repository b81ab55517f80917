/*
 * export_packages.c: signed export packages (see export_packages.h).
 *
 * Invariants:
 *   - A package only ever holds artifacts of the actor's tenant, read through
 *     renderer_artifact_load (bytes re-hashed against the stored digest).
 *   - manifest.json is the single statement of what the package holds; the
 *     JWS signs exactly its bytes, manifest.xml carries the same facts plus
 *     manifest.json's SHA-256 under an enveloped XML-DSig, and SHA256SUMS
 *     covers every other file. Flipping a byte of any of them is detected.
 *   - The evidence-chain excerpt holds whole chain segments (every link from
 *     a package event up to the first signed checkpoint at or after it), so
 *     an offline verifier recomputes each digest from the bodies and checks
 *     the checkpoint signature with the JWKS key.
 *   - No recipient address, URL or report content enters the manifest, the
 *     evidence or the projection: delivery targets are opaque refs.
 *   - The build is synchronous: the artifacts are already rendered and
 *     stored, so a package costs reading, hashing, zipping, a checkpoint and
 *     two RSA signatures (~20 ms for three artifacts, ~45 ms for 18 through
 *     nginx), which the job queue would only delay.
 */
#include "reports/export_packages.h"

#include <errno.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/timeutil.h"
#include "crypto/keys.h"
#include "crypto/xmldsig.h"
#include "render/jws.h"
#include "render/oscal.h"
#include "render/pkgw.h"
#include "reports/retention.h"
#include "server/auth.h"

#define API "/enterprise/aispm/reports/packages"
#define JWKS_URL "/.well-known/jwks.json"
#define MANIFEST_SCHEMA "aispm.export_package_manifest.v1"
#define EXCERPT_SCHEMA "aispm.evidence_chain_excerpt.v1"
#define MANIFEST_XML_NS "urn:aispm:export-package-manifest:1"
#define EXCERPT_MAX_LINKS 20000
#define LINK_WAIT_TRIES 100
#define ZERO_DIGEST "0000000000000000000000000000000000000000000000000000000000000000"

static const struct {
    const char *type, *contract_type, *default_retention;
    bool watermark;
} package_types[] = {
    {"board_pack", "board_and_audit_bundle", "governance_record", true},
    {"grc_upload", "grc_upload_package", "audit_record", false},
    {"siem_export", "siem_export_bundle", "operational_record", false},
    {"evidence_room", "evidence_room_bundle", "audit_record", true},
    {"incident_review", "incident_review_packet", "audit_record", false},
};
#define NTYPES ((int)(sizeof package_types / sizeof package_types[0]))

static const char *const retention_classes[] = {"operational_record", "governance_record", "audit_record", NULL};
static const char *const target_types[] = {"download", "email", "grc_upload", "siem_export", "evidence_room", NULL};
static const char *const target_scopes[] = {"approved_internal_domain", "approved_external_domain", "system_connector",
                                            NULL};
static const char *const target_modes[] = {"download", "smtp",     "microsoft365", "google_workspace",
                                           "ses",      "sendgrid", "webhook",      NULL};

/* ---- small helpers ------------------------------------------------------- */

static json_object *get(json_object *o, const char *k) {
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}
static const char *jstr(json_object *o, const char *k) {
    json_object *v = get(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}
static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}
static void put_int(json_object *o, const char *k, long long v) { json_object_object_add(o, k, json_object_new_int64(v)); }
static void put_bool(json_object *o, const char *k, bool v) { json_object_object_add(o, k, json_object_new_boolean(v)); }

static int in_list(const char *v, const char *const *list) {
    for (int i = 0; v && list[i]; i++)
        if (!strcmp(v, list[i])) return i;
    return -1;
}

static int type_index(const char *t) {
    for (int i = 0; t && i < NTYPES; i++)
        if (!strcmp(t, package_types[i].type)) return i;
    return -1;
}

static void sql_to_rfc3339(const char *sql, int with_ms, char out[RFC3339_MAX]) {
    int64_t ms;
    if (sql && !sql_datetime_parse(sql, &ms))
        rfc3339_format(ms, with_ms, out);
    else
        out[0] = 0;
}

static void public_ref(const char *full, char out[EVIDENCE_REF_MAX]) {
    if (!full || evidence_ref_public(full, out)) out[0] = 0;
}

static void refuse(package_outcome_t *o, int status, const char *code, const char *detail, json_object *errors) {
    o->status = status;
    o->code = code;
    o->detail = detail;
    o->body = errors;
}

void package_outcome_free(package_outcome_t *o) {
    json_object_put(o->body);
    o->body = NULL;
}

/* an opaque target ref: kind:id of [A-Za-z0-9._:-], no address, no URL */
static bool opaque_ref_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < 3 || n > 120 || !strchr(s, ':') || strstr(s, "//")) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == ':' || c == '-'))
            return false;
    }
    return s[0] >= 'a' && s[0] <= 'z';
}

/* ---- request validation -------------------------------------------------- */

typedef struct {
    int type;
    const char *retention_class;
    json_object *artifact_refs; /* borrowed */
    json_object *targets;       /* owned: normalised delivery targets */
} package_request_t;

static void ferr(json_object *errors, const char *field, const char *msg) {
    json_object_object_add(errors, field, json_object_new_string(msg));
}

static void validate_targets(json_object *v, json_object *errors, json_object *out) {
    if (!json_object_is_type(v, json_type_array)) {
        ferr(errors, "delivery_targets", "must be an array of delivery target objects");
        return;
    }
    size_t n = json_object_array_length(v);
    if (n > PACKAGES_MAX_TARGETS) {
        ferr(errors, "delivery_targets", "at most 20 delivery targets");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(v, i);
        char f[64];
        if (!json_object_is_type(t, json_type_object)) {
            snprintf(f, sizeof f, "delivery_targets[%zu]", i);
            ferr(errors, f, "must be an object");
            continue;
        }
        json_object_object_foreach(t, key, val) {
            (void)val;
            if (strcmp(key, "target_ref") && strcmp(key, "target_type") && strcmp(key, "recipient_scope") &&
                strcmp(key, "delivery_mode") && strcmp(key, "approval_required")) {
                snprintf(f, sizeof f, "delivery_targets[%zu]", i);
                ferr(errors, f, "unknown member (only target_ref, target_type, recipient_scope, delivery_mode, "
                                "approval_required)");
            }
        }
        const char *ref = jstr(t, "target_ref"), *ty = jstr(t, "target_type"), *sc = jstr(t, "recipient_scope"),
                   *mo = jstr(t, "delivery_mode");
        json_object *ap = get(t, "approval_required");
        bool ok = true;
        if (!opaque_ref_ok(ref)) {
            snprintf(f, sizeof f, "delivery_targets[%zu].target_ref", i);
            ferr(errors, f, "must be an opaque ref such as target:01J... (no addresses or URLs)");
            ok = false;
        }
        if (in_list(ty, target_types) < 0) {
            snprintf(f, sizeof f, "delivery_targets[%zu].target_type", i);
            ferr(errors, f, "must be download, email, grc_upload, siem_export or evidence_room");
            ok = false;
        }
        if (in_list(sc, target_scopes) < 0) {
            snprintf(f, sizeof f, "delivery_targets[%zu].recipient_scope", i);
            ferr(errors, f, "must be approved_internal_domain, approved_external_domain or system_connector");
            ok = false;
        }
        if (in_list(mo, target_modes) < 0) {
            snprintf(f, sizeof f, "delivery_targets[%zu].delivery_mode", i);
            ferr(errors, f, "must be download, smtp, microsoft365, google_workspace, ses, sendgrid or webhook");
            ok = false;
        }
        if (!ap || !json_object_is_type(ap, json_type_boolean)) {
            snprintf(f, sizeof f, "delivery_targets[%zu].approval_required", i);
            ferr(errors, f, "must be a boolean");
            ok = false;
        }
        if (!ok) continue;
        json_object *o = json_object_new_object();
        put_str(o, "target_ref", ref);
        put_str(o, "target_type", ty);
        put_str(o, "recipient_scope", sc);
        put_str(o, "delivery_mode", mo);
        put_bool(o, "approval_required", json_object_get_boolean(ap));
        json_object_array_add(out, o);
    }
}

/* 0 valid (req filled), else the errors object (owned by the caller) */
static json_object *validate(json_object *body, package_request_t *req) {
    json_object *errors = json_object_new_object();
    memset(req, 0, sizeof *req);
    req->type = -1;
    req->targets = json_object_new_array();
    if (!json_object_is_type(body, json_type_object)) {
        ferr(errors, "body", "must be a JSON object");
        return errors;
    }
    json_object_object_foreach(body, key, val) {
        (void)val;
        if (strcmp(key, "type") && strcmp(key, "artifact_refs") && strcmp(key, "retention_class") &&
            strcmp(key, "delivery_targets"))
            ferr(errors, key, "unknown member");
    }
    req->type = type_index(jstr(body, "type"));
    if (req->type < 0)
        ferr(errors, "type", "must be board_pack, grc_upload, siem_export, evidence_room or incident_review");
    json_object *refs = get(body, "artifact_refs");
    size_t n = refs && json_object_is_type(refs, json_type_array) ? json_object_array_length(refs) : 0;
    if (!refs || !json_object_is_type(refs, json_type_array) || n < 1 || n > PACKAGES_MAX_ARTIFACTS) {
        ferr(errors, "artifact_refs", "must be an array of 1 to 50 artifact refs");
    } else {
        for (size_t i = 0; i < n; i++) {
            json_object *r = json_object_array_get_idx(refs, i);
            const char *s = json_object_is_type(r, json_type_string) ? json_object_get_string(r) : NULL;
            char f[40];
            snprintf(f, sizeof f, "artifact_refs[%zu]", i);
            if (!s || !ref_parse(s, "artifact", NULL, NULL)) {
                ferr(errors, f, "must be an artifact ref (artifact:ULID)");
                continue;
            }
            for (size_t k = 0; k < i; k++)
                if (!strcmp(s, json_object_get_string(json_object_array_get_idx(refs, k)))) {
                    ferr(errors, f, "listed twice");
                    break;
                }
        }
        req->artifact_refs = refs;
    }
    json_object *rc = get(body, "retention_class");
    if (rc) {
        const char *s = json_object_is_type(rc, json_type_string) ? json_object_get_string(rc) : NULL;
        if (s && !strcmp(s, "legal_hold"))
            ferr(errors, "retention_class", "legal hold is placed through the approval-gated retention workflow");
        else if (in_list(s, retention_classes) < 0)
            ferr(errors, "retention_class", "must be operational_record, governance_record or audit_record");
        else
            req->retention_class = retention_classes[in_list(s, retention_classes)];
    } else if (req->type >= 0) {
        req->retention_class = package_types[req->type].default_retention;
    }
    json_object *dt = get(body, "delivery_targets");
    if (dt) validate_targets(dt, errors, req->targets);
    if (json_object_object_length(errors) == 0) {
        json_object_put(errors);
        return NULL;
    }
    return errors;
}

static void request_digest(const package_request_t *req, char out[65]) {
    json_object *o = json_object_new_object();
    put_str(o, "type", package_types[req->type].type);
    json_object_object_add(o, "artifact_refs", json_object_get(req->artifact_refs));
    put_str(o, "retention_class", req->retention_class);
    json_object_object_add(o, "delivery_targets", json_object_get(req->targets));
    buf_t b = BUF_INIT;
    jcs_serialize(o, &b);
    sha256_hex(b.data ? b.data : "", b.len, out);
    buf_free(&b);
    json_object_put(o);
}

static bool idem_key_valid(const char *k) {
    size_t n = k ? strlen(k) : 0;
    if (n < 1 || n > 200) return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e) return false;
    return true;
}

/* ---- signing material ---------------------------------------------------- */

int packages_signing_material(db_t *db, const config_t *cfg, signing_key_t **key_out, buf_t *cert_der) {
    *key_out = NULL;
    signing_key_t *k = NULL;
    buf_t pem = BUF_INIT;
    char kid[17];
    int rc = key_load(cfg->package_key, &k);
    if (!rc && key_alg(k) != KEY_RSA) rc = AISPM_ECRYPTO;
    if (!rc) rc = buf_read_file(&pem, cfg->package_cert);
    if (!rc) rc = key_cert_der(pem.data, pem.len, cert_der, kid);
    if (!rc && strcmp(kid, key_kid(k))) rc = AISPM_ECRYPTO; /* certificate of another key */
    if (!rc && db) rc = evidence_register_key_purpose(db, k, "export_package");
    if (!rc && db) {
        char now[RFC3339_MAX];
        sql_datetime_format(now_ms(), now);
        rc = db_exec(db, "INSERT IGNORE INTO signing_certificates (kid, cert_pem, created_at) VALUES (?, ?, ?)",
                     DB_ARGS(DBS(kid), DBSN(pem.data, pem.len), DBS(now)), NULL, NULL);
    }
    buf_free(&pem);
    if (rc) {
        key_free(k);
        return rc;
    }
    *key_out = k;
    return 0;
}

int packages_certificate(db_t *db, const config_t *cfg, const char *kid, buf_t *pem_out) {
    if (!kid || !*kid) return buf_read_file(pem_out, cfg->package_cert) ? AISPM_ENOTFOUND : 0;
    if (strlen(kid) != 16) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db, "SELECT cert_pem FROM signing_certificates WHERE kid = ?", DB_ARGS(DBS(kid)), &res);
    if (rc) return rc;
    rc = AISPM_ENOTFOUND;
    if (db_res_next(res)) {
        buf_append(pem_out, db_res_str(res, 0), db_res_len(res, 0));
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

/* ---- the evidence-chain excerpt ----------------------------------------- */

typedef struct {
    long long seq, cp_seq;
    char ref[EVIDENCE_REF_MAX], action[64];
} chain_event_t;

static int cmp_events(const void *a, const void *b) {
    long long x = ((const chain_event_t *)a)->seq, y = ((const chain_event_t *)b)->seq;
    return x < y ? -1 : x > y;
}

/* seq of an evidence event and the first checkpoint at or after it; 0 / 0
 * when not linked or not yet covered */
static int event_position(db_t *db, long long tenant_id, chain_event_t *e) {
    char tulid[ULID_LEN + 1], eulid[ULID_LEN + 1];
    e->seq = e->cp_seq = 0;
    if (!evidence_ref_parse(e->ref, tulid, eulid)) return AISPM_EINVAL;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT l.seq, e.action FROM evidence_events e JOIN evidence_links l ON l.event_id = e.id "
                      "WHERE e.tenant_id = ? AND e.ulid = ?",
                      DB_ARGS(DBI(tenant_id), DBS(eulid)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        e->seq = db_res_int(res, 0);
        snprintf(e->action, sizeof e->action, "%s", db_res_str(res, 1));
    }
    db_res_free(res);
    if (!e->seq) return 0;
    rc = db_query(db, "SELECT seq FROM evidence_checkpoints WHERE tenant_id = ? AND seq >= ? ORDER BY seq LIMIT 1",
                  DB_ARGS(DBI(tenant_id), DBI(e->seq)), &res);
    if (rc) return rc;
    if (db_res_next(res)) e->cp_seq = db_res_int(res, 0);
    db_res_free(res);
    return 0;
}

/* one segment: links start..end with bodies, the digest before start and the
 * checkpoint at end; the digests are recomputed here too, so a package never
 * carries a chain that does not verify */
static int excerpt_segment(db_t *db, long long tenant_id, long long start, long long end, int *budget,
                           json_object **out) {
    db_res_t *res;
    char prev[65] = ZERO_DIGEST;
    int rc = 0;
    if (start > 1) {
        rc = db_query(db, "SELECT digest FROM evidence_links WHERE tenant_id = ? AND seq = ?",
                      DB_ARGS(DBI(tenant_id), DBI(start - 1)), &res);
        if (rc) return rc;
        rc = AISPM_ECRYPTO;
        if (db_res_next(res)) {
            snprintf(prev, sizeof prev, "%s", db_res_str(res, 0));
            rc = 0;
        }
        db_res_free(res);
        if (rc) return rc;
    }
    json_object *seg = json_object_new_object(), *links = json_object_new_array();
    put_int(seg, "start_seq", start);
    put_str(seg, "prev_digest", prev);
    rc = db_query(db,
                  "SELECT l.seq, l.digest, e.body FROM evidence_links l JOIN evidence_events e ON e.id = l.event_id "
                  "WHERE l.tenant_id = ? AND l.seq >= ? AND l.seq <= ? ORDER BY l.seq",
                  DB_ARGS(DBI(tenant_id), DBI(start), DBI(end)), &res);
    long long expect = start;
    char running[65];
    memcpy(running, prev, sizeof running);
    bool queried = !rc;
    while (queried && !rc && db_res_next(res)) {
        char d[65];
        evidence_digest(db_res_str(res, 2), db_res_len(res, 2), running, d);
        if (db_res_int(res, 0) != expect || strcmp(d, db_res_str(res, 1)) || --*budget < 0) {
            rc = *budget < 0 ? AISPM_ETOOMANY : AISPM_ECRYPTO;
            break;
        }
        json_object *l = json_object_new_object();
        put_int(l, "seq", expect);
        put_str(l, "digest", d);
        json_object_object_add(l, "body", json_object_new_string_len(db_res_str(res, 2), (int)db_res_len(res, 2)));
        json_object_array_add(links, l);
        memcpy(running, d, sizeof running);
        expect++;
    }
    if (queried) db_res_free(res);
    if (!rc && expect != end + 1) rc = AISPM_ECRYPTO;
    json_object_object_add(seg, "links", links);
    if (!rc) rc = db_query(db,
                           "SELECT seq, digest, signed_at, kid, alg, signature FROM evidence_checkpoints "
                           "WHERE tenant_id = ? AND seq = ?",
                           DB_ARGS(DBI(tenant_id), DBI(end)), &res);
    if (!rc) {
        rc = AISPM_ECRYPTO;
        if (db_res_next(res) && !strcmp(db_res_str(res, 1), running)) {
            json_object *cp = json_object_new_object();
            char at[RFC3339_MAX];
            sql_to_rfc3339(db_res_str(res, 2), 1, at);
            put_int(cp, "seq", end);
            put_str(cp, "digest", db_res_str(res, 1));
            put_str(cp, "signed_at", at);
            put_str(cp, "kid", db_res_str(res, 3));
            put_str(cp, "alg", db_res_str(res, 4));
            put_str(cp, "signature", db_res_str(res, 5));
            json_object_object_add(seg, "checkpoint", cp);
            rc = 0;
        }
        db_res_free(res);
    }
    if (rc) {
        json_object_put(seg);
        return rc;
    }
    *out = seg;
    return 0;
}

static int chain_excerpt(db_t *db, const actor_t *a, const char *package_ref, chain_event_t *ev, size_t n,
                         json_object **out, long long *cp_seq_out) {
    qsort(ev, n, sizeof *ev, cmp_events);
    json_object *x = json_object_new_object(), *events = json_object_new_array(), *segs = json_object_new_array();
    put_str(x, "schema", EXCERPT_SCHEMA);
    put_str(x, "tenant_ref", a->tenant_ref);
    put_str(x, "package_ref", package_ref);
    put_str(x, "digest_rule", "digest_n = lower-hex SHA-256(body_n || \"\\n\" || digest_(n-1)); digest_0 = 64 x \"0\"");
    put_str(x, "checkpoint_rule",
            "signature (base64url) over the RFC 8785 canonical JSON of {schema \"aispm.evidence.checkpoint.v1\", "
            "tenant_ref, seq, digest, signed_at, kid, alg}, verified with the key kid of " JWKS_URL);
    put_str(x, "jwks_url", JWKS_URL);
    int rc = 0, budget = EXCERPT_MAX_LINKS;
    long long covered = 0, max_cp = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        json_object *e = json_object_new_object();
        put_str(e, "evidence_ref", ev[i].ref);
        put_int(e, "seq", ev[i].seq);
        put_str(e, "action", ev[i].action);
        json_object_array_add(events, e);
        if (ev[i].seq <= covered) continue;
        json_object *seg = NULL;
        rc = excerpt_segment(db, a->tenant_id, ev[i].seq, ev[i].cp_seq, &budget, &seg);
        if (!rc) json_object_array_add(segs, seg);
        covered = ev[i].cp_seq;
        if (ev[i].cp_seq > max_cp) max_cp = ev[i].cp_seq;
    }
    json_object_object_add(x, "events", events);
    json_object_object_add(x, "segments", segs);
    if (rc) {
        json_object_put(x);
        return rc;
    }
    *out = x;
    *cp_seq_out = max_cp;
    return 0;
}

/* links the tenant's pending evidence until every event is in the chain,
 * then signs a checkpoint of the head so every event is covered */
static int ensure_covered(db_t *db, const config_t *cfg, const actor_t *a, chain_event_t *ev, size_t n) {
    int rc = 0;
    for (int t = 0; t < LINK_WAIT_TRIES; t++) {
        rc = evidence_link_pending(db, a->tenant_id, 100000, NULL);
        if (rc) return rc;
        bool all = true;
        for (size_t i = 0; i < n && !rc; i++) {
            rc = event_position(db, a->tenant_id, &ev[i]);
            if (!ev[i].seq) all = false;
        }
        if (rc) return rc;
        if (all) break;
        if (t == LINK_WAIT_TRIES - 1) return AISPM_EDB;
        usleep(20000); /* another sequencer holds the tenant's chain lock */
    }
    bool need = false;
    for (size_t i = 0; i < n; i++)
        if (!ev[i].cp_seq) need = true;
    if (!need) return 0;
    signing_key_t *ek = NULL;
    if (key_load(cfg->evidence_key, &ek)) return AISPM_ECRYPTO;
    rc = evidence_checkpoint(db, ek, a->tenant_id, 0, NULL);
    key_free(ek);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = event_position(db, a->tenant_id, &ev[i]);
        if (!rc && !ev[i].cp_seq) rc = AISPM_EDB; /* a newer head raced us; the caller may retry */
    }
    return rc;
}

/* ---- documents ------------------------------------------------------------ */

typedef struct {
    artifact_blob_t blob;
    char file[260];
} pkg_artifact_t;

typedef struct {
    char ref[REF_MAX], created_at[RFC3339_MAX], created_sql[RFC3339_MAX];
    int type;
    const char *retention_class;
    json_object *targets;
    pkg_artifact_t *arts;
    size_t nart;
    char request_evidence[EVIDENCE_REF_MAX];
    long long cp_seq;
    char cp_digest[65];
} pkg_t;

static void xml_text(xmlTextWriterPtr w, const char *name, const char *v) {
    xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST(v ? v : ""));
}
static void xml_attr(xmlTextWriterPtr w, const char *name, const char *v) {
    xmlTextWriterWriteAttribute(w, BAD_CAST name, BAD_CAST(v ? v : ""));
}
static void xml_attr_int(xmlTextWriterPtr w, const char *name, long long v) {
    char s[32];
    snprintf(s, sizeof s, "%lld", v);
    xml_attr(w, name, s);
}

/* manifest.xml (unsigned): the manifest's facts as XML, plus the SHA-256 of
 * manifest.json so the XML signature also covers the JSON manifest */
static int manifest_xml(json_object *m, const char *manifest_json_digest, buf_t *out) {
    xmlBufferPtr b = xmlBufferCreate();
    xmlTextWriterPtr w = b ? xmlNewTextWriterMemory(b, 0) : NULL;
    if (!w) {
        if (b) xmlBufferFree(b);
        return AISPM_ERR;
    }
    xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL);
    xmlTextWriterStartElementNS(w, NULL, BAD_CAST "export-package-manifest", BAD_CAST MANIFEST_XML_NS);
    xml_attr(w, "schema-version", jstr(m, "schema_version"));
    static const char *const scalars[] = {"package_ref",     "package_type",       "tenant_ref",
                                          "requester_role",  "created_at",         "retention_class", NULL};
    for (int i = 0; scalars[i]; i++) {
        char name[40];
        snprintf(name, sizeof name, "%s", scalars[i]);
        for (char *p = name; *p; p++)
            if (*p == '_') *p = '-';
        xml_text(w, name, jstr(m, scalars[i]));
    }
    xml_text(w, "watermark-required", json_object_get_boolean(get(m, "watermark_required")) ? "true" : "false");
    xml_text(w, "signed-manifest-required", "true");
    xmlTextWriterStartElement(w, BAD_CAST "artifacts");
    json_object *arts = get(m, "artifacts");
    for (size_t i = 0; i < json_object_array_length(arts); i++) {
        json_object *x = json_object_array_get_idx(arts, i);
        xmlTextWriterStartElement(w, BAD_CAST "artifact");
        xml_attr(w, "artifact-ref", jstr(x, "artifact_ref"));
        xml_attr(w, "report-id", jstr(x, "report_id"));
        xml_attr(w, "format", jstr(x, "format"));
        xml_attr(w, "file", jstr(x, "file"));
        xml_attr(w, "sha256", jstr(x, "sha256"));
        xml_attr_int(w, "size", json_object_get_int64(get(x, "size")));
        xml_attr(w, "evidence-ref", jstr(x, "evidence_ref"));
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "files");
    json_object *files = get(m, "files");
    for (size_t i = 0; i < json_object_array_length(files); i++) {
        json_object *x = json_object_array_get_idx(files, i);
        xmlTextWriterStartElement(w, BAD_CAST "file");
        xml_attr(w, "name", jstr(x, "name"));
        xml_attr(w, "role", jstr(x, "role"));
        xml_attr(w, "sha256", jstr(x, "sha256"));
        xml_attr_int(w, "size", json_object_get_int64(get(x, "size")));
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "delivery-targets");
    json_object *ts = get(m, "delivery_targets");
    for (size_t i = 0; i < json_object_array_length(ts); i++) {
        json_object *x = json_object_array_get_idx(ts, i);
        xmlTextWriterStartElement(w, BAD_CAST "target");
        xml_attr(w, "target-ref", jstr(x, "target_ref"));
        xml_attr(w, "target-type", jstr(x, "target_type"));
        xml_attr(w, "recipient-scope", jstr(x, "recipient_scope"));
        xml_attr(w, "delivery-mode", jstr(x, "delivery_mode"));
        xml_attr(w, "approval-required", json_object_get_boolean(get(x, "approval_required")) ? "true" : "false");
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "evidence-refs");
    json_object *er = get(m, "evidence_refs");
    for (size_t i = 0; i < json_object_array_length(er); i++)
        xml_text(w, "evidence-ref", json_object_get_string(json_object_array_get_idx(er, i)));
    xmlTextWriterEndElement(w);
    json_object *ch = get(m, "evidence_chain");
    xmlTextWriterStartElement(w, BAD_CAST "evidence-chain");
    xml_attr(w, "ref", jstr(ch, "ref"));
    xml_attr(w, "file", jstr(ch, "file"));
    xml_attr_int(w, "checkpoint-seq", json_object_get_int64(get(ch, "checkpoint_seq")));
    xml_attr(w, "checkpoint-digest", jstr(ch, "checkpoint_digest"));
    xmlTextWriterEndElement(w);
    json_object *sg = get(m, "signing");
    xmlTextWriterStartElement(w, BAD_CAST "signing");
    xml_attr(w, "kid", jstr(sg, "kid"));
    xml_attr(w, "alg", jstr(sg, "alg"));
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "manifest-json");
    xml_attr(w, "file", "manifest.json");
    xml_attr(w, "sha256", manifest_json_digest);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w); /* root */
    int rc = xmlTextWriterEndDocument(w) < 0 ? AISPM_ERR : 0;
    xmlFreeTextWriter(w);
    if (!rc) buf_append(out, xmlBufferContent(b), (size_t)xmlBufferLength(b));
    xmlBufferFree(b);
    return rc;
}

static const char verify_text[] =
    "How to verify this package (no trust in the sender needed)\n"
    "============================================================\n\n"
    "1. File digests:   sha256sum -c SHA256SUMS\n"
    "2. JSON manifest:  manifest.json.jws is a detached RFC 7515 JWS (RS256) over the exact bytes of\n"
    "                   manifest.json; its header names the kid. Fetch the public key with that kid from\n"
    "                   " JWKS_URL " and verify, e.g. with jose: flattenedVerify({protected,\n"
    "                   payload: base64url(manifest.json), signature}, key).\n"
    "3. XML manifest:   xmlsec1 --verify --pubkey-cert-pem aispm-signing-cert.pem manifest.xml\n"
    "                   (certificate: " PACKAGES_CERT_PATH "?kid=<kid>; manifest.xml also records the\n"
    "                   SHA-256 of manifest.json).\n"
    "4. Evidence chain: evidence-chain.json holds whole chain segments; recompute every digest from the\n"
    "                   bodies (digest_rule) and verify each checkpoint signature with the JWKS key\n"
    "                   (checkpoint_rule). The package's events are listed under \"events\".\n"
    "5. OSCAL (grc_upload): oscal/assessment-results.json and .xml validate against the NIST OSCAL 1.0.6\n"
    "                   Assessment Results schemas; each observation carries an artifact's SHA-256.\n";

static const char *media_type_of(const char *content_type, char out[100]) {
    snprintf(out, 100, "%s", content_type);
    char *semi = strchr(out, ';');
    if (semi) *semi = 0;
    return out;
}

/* assembles the ZIP; *manifest_out receives manifest.json (canonical) */
static int build_zip(const actor_t *a, pkg_t *p, json_object *excerpt, const signing_key_t *key, const buf_t *cert_der,
                     buf_t *zip, buf_t *manifest_out) {
    int64_t ms = 0;
    rfc3339_parse(p->created_at, &ms);
    pkgw_t *z;
    int rc = pkgw_new((time_t)(ms / 1000), &z);
    if (rc) return rc;
    json_object *m = json_object_new_object(), *arts = json_object_new_array(), *files = json_object_new_array();
    json_object *erefs = json_object_new_array();
    char digest[65];
    put_str(m, "schema_version", MANIFEST_SCHEMA);
    put_str(m, "package_ref", p->ref);
    put_str(m, "package_type", package_types[p->type].type);
    put_str(m, "tenant_ref", a->tenant_ref);
    put_str(m, "requester_role", a->role);
    put_str(m, "created_at", p->created_at);
    put_str(m, "retention_class", p->retention_class);
    put_bool(m, "watermark_required", package_types[p->type].watermark);
    put_bool(m, "signed_manifest_required", true);
    json_object_array_add(erefs, json_object_new_string(p->request_evidence));
    oscal_item_t *items = xcalloc(p->nart, sizeof *items);
    char (*mt)[100] = xcalloc(p->nart, sizeof *mt);
    for (size_t i = 0; i < p->nart; i++) {
        pkg_artifact_t *x = &p->arts[i];
        pkgw_add(z, x->file, x->blob.bytes.data, x->blob.bytes.len, digest);
        json_object *o = json_object_new_object();
        put_str(o, "artifact_ref", x->blob.ref);
        put_str(o, "report_id", x->blob.report_id);
        put_str(o, "format", x->blob.format);
        put_str(o, "file", x->file);
        put_str(o, "sha256", digest);
        put_int(o, "size", x->blob.size);
        put_str(o, "evidence_ref", x->blob.evidence_ref);
        json_object_array_add(arts, o);
        if (x->blob.evidence_ref[0]) json_object_array_add(erefs, json_object_new_string(x->blob.evidence_ref));
        items[i] = (oscal_item_t){.file = x->file,
                                  .media_type = media_type_of(x->blob.content_type, mt[i]),
                                  .artifact_ref = x->blob.ref,
                                  .report_id = x->blob.report_id,
                                  .format = x->blob.format,
                                  .sha256 = x->blob.digest,
                                  .size = x->blob.size,
                                  .evidence_ref = x->blob.evidence_ref};
    }
    buf_t part = BUF_INIT;
    struct {
        const char *name, *role;
    } extra[3] = {{"evidence-chain.json", "evidence_chain_excerpt"}};
    int nextra = 1;
    rc = jcs_serialize(excerpt, &part);
    if (!rc) {
        pkgw_add(z, extra[0].name, part.data, part.len, digest);
        json_object *f = json_object_new_object();
        put_str(f, "name", extra[0].name);
        put_str(f, "role", extra[0].role);
        put_str(f, "sha256", digest);
        put_int(f, "size", (long long)part.len);
        json_object_array_add(files, f);
    }
    if (!rc && !strcmp(package_types[p->type].type, "grc_upload")) {
        oscal_input_t in = {.package_ref = p->ref,
                            .tenant_ref = a->tenant_ref,
                            .created_at = p->created_at,
                            .items = items,
                            .nitems = p->nart};
        extra[nextra].name = "oscal/assessment-results.json";
        extra[nextra++].role = "oscal_assessment_results_json";
        extra[nextra].name = "oscal/assessment-results.xml";
        extra[nextra++].role = "oscal_assessment_results_xml";
        for (int k = 1; !rc && k < nextra; k++) {
            buf_reset(&part);
            rc = k == 1 ? oscal_results_json(&in, &part) : oscal_results_xml(&in, &part);
            if (rc) break;
            pkgw_add(z, extra[k].name, part.data, part.len, digest);
            json_object *f = json_object_new_object();
            put_str(f, "name", extra[k].name);
            put_str(f, "role", extra[k].role);
            put_str(f, "sha256", digest);
            put_int(f, "size", (long long)part.len);
            json_object_array_add(files, f);
        }
    }
    free(items);
    free(mt);
    json_object_object_add(m, "artifacts", arts);
    json_object_object_add(m, "files", files);
    json_object_object_add(m, "delivery_targets", json_object_get(p->targets));
    json_object_object_add(m, "evidence_refs", erefs);
    json_object *ch = json_object_new_object();
    char chain_ref[160], pulid[ULID_LEN + 1] = "";
    ref_parse(p->ref, "package", NULL, pulid);
    snprintf(chain_ref, sizeof chain_ref, "enterprise-private://evidence-chain/%s/checkpoint/%lld", pulid, p->cp_seq);
    put_str(ch, "ref", chain_ref);
    put_str(ch, "file", "evidence-chain.json");
    put_int(ch, "checkpoint_seq", p->cp_seq);
    put_str(ch, "checkpoint_digest", p->cp_digest);
    json_object_object_add(m, "evidence_chain", ch);
    json_object *sg = json_object_new_object();
    put_str(sg, "kid", key_kid(key));
    put_str(sg, "alg", key_jws_alg(key));
    put_str(sg, "jws", "manifest.json.jws");
    put_str(sg, "xml", "manifest.xml");
    put_str(sg, "jwks", JWKS_URL);
    put_str(sg, "certificate", PACKAGES_CERT_PATH);
    json_object_object_add(m, "signing", sg);

    buf_t jws = BUF_INIT, xml = BUF_INIT, signed_xml = BUF_INIT;
    if (!rc) rc = jcs_serialize(m, manifest_out);
    if (!rc) {
        pkgw_add(z, "manifest.json", manifest_out->data, manifest_out->len, digest);
        rc = jws_detached_sign(key, PACKAGES_JWS_TYP, manifest_out->data ? manifest_out->data : "",
                               manifest_out->len, &jws);
    }
    if (!rc) {
        pkgw_add(z, "manifest.json.jws", jws.data, jws.len, NULL);
        rc = manifest_xml(m, digest, &xml);
    }
    if (!rc) rc = xmldsig_sign_text(xml.data, xml.len, key, cert_der->data, cert_der->len, &signed_xml);
    if (!rc) {
        pkgw_add(z, "manifest.xml", signed_xml.data, signed_xml.len, NULL);
        pkgw_add(z, "VERIFY.txt", verify_text, sizeof verify_text - 1, NULL);
    }
    json_object_put(m);
    buf_free(&part);
    buf_free(&jws);
    buf_free(&xml);
    buf_free(&signed_xml);
    if (rc) {
        pkgw_abort(z);
        return rc;
    }
    return pkgw_finish(z, zip);
}

/* ---- reads ---------------------------------------------------------------- */

#define PKG_COLUMNS                                                                                            \
    "p.id, p.ref, p.package_type, p.retention_class, p.watermark_required, p.requester_role, p.created_at, "   \
    "p.digest, p.size, p.filename, p.manifest_digest, p.kid, p.checkpoint_seq, p.delivery_targets, "          \
    "p.evidence_ref, p.request_digest, p.storage_path, p.manifest_json "

static json_object *package_row(db_res_t *res) {
    json_object *o = json_object_new_object();
    const char *ref = db_res_str(res, 1);
    char at[RFC3339_MAX], url[200], pub[EVIDENCE_REF_MAX];
    put_str(o, "package_ref", ref);
    put_str(o, "package_type", db_res_str(res, 2));
    put_str(o, "retention_class", db_res_str(res, 3));
    put_bool(o, "watermark_required", db_res_int(res, 4) != 0);
    put_bool(o, "signed_manifest_required", true);
    put_str(o, "requester_role", db_res_str(res, 5));
    sql_to_rfc3339(db_res_str(res, 6), 1, at);
    put_str(o, "created_at", at);
    put_str(o, "digest", db_res_str(res, 7));
    put_str(o, "digest_algorithm", "sha256");
    put_int(o, "size", db_res_int(res, 8));
    put_str(o, "filename", db_res_str(res, 9));
    put_str(o, "manifest_digest", db_res_str(res, 10));
    put_str(o, "kid", db_res_str(res, 11));
    put_str(o, "alg", "RS256");
    put_int(o, "checkpoint_seq", db_res_int(res, 12));
    json_object *t = json_tokener_parse(db_res_str(res, 13));
    json_object_object_add(o, "delivery_targets", t ? t : json_object_new_array());
    public_ref(db_res_str(res, 14), pub);
    put_str(o, "evidence_ref", pub[0] ? pub : NULL);
    snprintf(url, sizeof url, API "/%s/content", ref);
    put_str(o, "content_url", url);
    snprintf(url, sizeof url, API "/%s/manifest", ref);
    put_str(o, "manifest_url", url);
    json_object *v = json_object_new_object();
    put_str(v, "jwks_url", JWKS_URL);
    snprintf(url, sizeof url, PACKAGES_CERT_PATH "?kid=%s", db_res_str(res, 11));
    put_str(v, "certificate_url", url);
    json_object *steps = json_object_new_array();
    json_object_array_add(steps, json_object_new_string("unzip the package and run: sha256sum -c SHA256SUMS"));
    json_object_array_add(steps, json_object_new_string(
                                     "verify manifest.json.jws (detached JWS, RS256) over manifest.json with the key "
                                     "of its kid from /.well-known/jwks.json"));
    json_object_array_add(steps, json_object_new_string(
                                     "xmlsec1 --verify --pubkey-cert-pem aispm-signing-cert.pem manifest.xml"));
    json_object_array_add(steps, json_object_new_string(
                                     "recompute the digests of evidence-chain.json and verify its checkpoint "
                                     "signatures with the JWKS key (see VERIFY.txt)"));
    json_object_object_add(v, "steps", steps);
    json_object_object_add(o, "verification", v);
    /* the artifacts, from the stored manifest */
    json_object *m = json_tokener_parse(db_res_str(res, 17)), *arts = json_object_new_array();
    json_object *ma = get(m, "artifacts");
    for (size_t i = 0; ma && i < json_object_array_length(ma); i++) {
        json_object *x = json_object_array_get_idx(ma, i), *y = json_object_new_object();
        put_str(y, "artifact_ref", jstr(x, "artifact_ref"));
        put_str(y, "report_id", jstr(x, "report_id"));
        put_str(y, "format", jstr(x, "format"));
        put_str(y, "file", jstr(x, "file"));
        put_str(y, "sha256", jstr(x, "sha256"));
        put_int(y, "size", json_object_get_int64(get(x, "size")));
        json_object_array_add(arts, y);
    }
    json_object *files = json_object_new_array();
    json_object *mf = get(m, "files");
    for (size_t i = 0; mf && i < json_object_array_length(mf); i++)
        json_object_array_add(files, json_object_get(json_object_array_get_idx(mf, i)));
    json_object_put(m);
    json_object_object_add(o, "artifacts", arts);
    put_int(o, "artifact_count", (long long)json_object_array_length(arts));
    json_object_object_add(o, "files", files);
    return o;
}

/* by ref or, when by_key, by idempotency key; digest_out (may be NULL)
 * receives the request digest */
static int load_row(db_t *db, long long tenant_id, bool by_key, const char *arg, json_object **out,
                    char digest_out[65]) {
    *out = NULL;
    db_res_t *res;
    int rc = db_query(db,
                      by_key ? "SELECT " PKG_COLUMNS "FROM export_packages p WHERE p.tenant_id = ? AND "
                               "p.idempotency_key = ?"
                             : "SELECT " PKG_COLUMNS "FROM export_packages p WHERE p.tenant_id = ? AND p.ref = ?",
                      DB_ARGS(DBI(tenant_id), DBS(arg)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        *out = package_row(res);
        if (digest_out) snprintf(digest_out, 65, "%s", db_res_str(res, 15));
    }
    db_res_free(res);
    return *out ? 0 : AISPM_ENOTFOUND;
}

int packages_get(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    *out = NULL;
    if (!ref || !ref_parse(ref, "package", NULL, NULL)) return AISPM_ENOTFOUND;
    return load_row(db, a->tenant_id, false, ref, out, NULL);
}

int packages_list(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out) {
    *out = NULL;
    limit = cursor_limit(limit);
    long long before;
    if (cursor_parse(cursor, &before)) return AISPM_EINVAL;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT " PKG_COLUMNS "FROM export_packages p WHERE p.tenant_id = ? AND (? = 0 OR p.id < ?) "
                      "ORDER BY p.id DESC LIMIT ?",
                      DB_ARGS(DBI(a->tenant_id), DBI(before), DBI(before), DBI(limit)), &res);
    if (rc) return rc;
    *out = db_page(res, package_row, "packages", limit);
    return 0;
}

int packages_public_manifest(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    *out = NULL;
    if (!ref || !ref_parse(ref, "package", NULL, NULL)) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db, "SELECT " PKG_COLUMNS "FROM export_packages p WHERE p.tenant_id = ? AND p.ref = ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    char pulid[ULID_LEN + 1], at[RFC3339_MAX], now[RFC3339_MAX], buf[200], pub[EVIDENCE_REF_MAX];
    ref_parse(ref, "package", NULL, pulid);
    rfc3339_format(now_ms(), 0, now);
    sql_to_rfc3339(db_res_str(res, 6), 0, at);
    int ti = type_index(db_res_str(res, 2));
    json_object *m = json_tokener_parse(db_res_str(res, 17));
    json_object *o = json_object_new_object(), *pk = json_object_new_object();
    put_str(o, "schema_version", "cavra.aispm.report_export_package_manifest.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_str(o, "generated_at", now);
    put_str(o, "tenant_ref", a->tenant_ref);
    put_str(pk, "package_ref", ref);
    put_str(pk, "package_type", ti >= 0 ? package_types[ti].contract_type : "board_and_audit_bundle");
    snprintf(buf, sizeof buf, "role:%s", db_res_str(res, 5));
    put_str(pk, "requested_by", buf);
    put_str(pk, "created_at", at);
    put_str(pk, "retention_class", db_res_str(res, 3));
    put_bool(pk, "watermark_required", db_res_int(res, 4) != 0);
    put_bool(pk, "signed_manifest_required", true);
    json_object_object_add(o, "package", pk);
    json_object *arts = json_object_new_array(), *ma = get(m, "artifacts");
    for (size_t i = 0; ma && i < json_object_array_length(ma); i++) {
        json_object *x = json_object_array_get_idx(ma, i), *y = json_object_new_object();
        const char *aref = jstr(x, "artifact_ref");
        char aulid[ULID_LEN + 1] = "";
        ref_parse(aref, "artifact", NULL, aulid);
        put_str(y, "artifact_ref", aref);
        put_str(y, "report_id", jstr(x, "report_id"));
        put_str(y, "format", jstr(x, "format"));
        snprintf(buf, sizeof buf, "enterprise-private://report-artifact/%s", aulid);
        put_str(y, "content_ref", buf);
        snprintf(buf, sizeof buf, "sha256:%s", jstr(x, "sha256"));
        put_str(y, "digest_ref", buf);
        put_int(y, "size_bytes", json_object_get_int64(get(x, "size")));
        json_object_array_add(arts, y);
    }
    json_object_object_add(o, "artifacts", arts);
    json_object *t = json_tokener_parse(db_res_str(res, 13));
    json_object_object_add(o, "delivery_targets", t ? t : json_object_new_array());
    json_object *in = json_object_new_object();
    snprintf(buf, sizeof buf, "sha256:%s", db_res_str(res, 10));
    put_str(in, "manifest_digest_ref", buf);
    snprintf(buf, sizeof buf, "jws-kid:%s", db_res_str(res, 11));
    put_str(in, "signature_ref", buf);
    snprintf(buf, sizeof buf, "enterprise-private://evidence-chain/%s/checkpoint/%lld", pulid, db_res_int(res, 12));
    put_str(in, "chain_ref", buf);
    put_bool(in, "checksums_required", true);
    json_object_object_add(o, "integrity", in);
    json_object *ev = json_object_new_object(), *src = json_object_new_array(), *er = get(m, "evidence_refs");
    for (size_t i = 0; er && i < json_object_array_length(er); i++) {
        public_ref(json_object_get_string(json_object_array_get_idx(er, i)), pub);
        if (pub[0]) json_object_array_add(src, json_object_new_string(pub));
    }
    json_object_object_add(ev, "source_evidence_refs", src);
    public_ref(db_res_str(res, 14), pub);
    put_str(ev, "export_audit_ref", pub[0] ? pub : "cavra://evidence/redacted/pending");
    snprintf(buf, sizeof buf, "enterprise-private://immutable-store/export-package/%s", pulid);
    put_str(ev, "immutable_store_ref", buf);
    json_object_object_add(o, "evidence", ev);
    json_object *rd = json_object_new_object();
    put_bool(rd, "raw_report_content_included", false);
    put_bool(rd, "recipient_addresses_included", false);
    put_bool(rd, "download_urls_included", false);
    put_bool(rd, "customer_records_included", false);
    put_bool(rd, "secrets_included", false);
    put_str(rd, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", rd);
    json_object *eb = json_object_new_object();
    static const char *const bounds[] = {"package_renderer", "artifact_storage", "manifest_signing",
                                         "grc_connector",    "siem_exporter",    "license_enforcement", NULL};
    for (int i = 0; bounds[i]; i++) put_str(eb, bounds[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
    json_object_put(m);
    db_res_free(res);
    *out = o;
    return 0;
}

int packages_bytes(db_t *db, const config_t *cfg, long long tenant_id, const char *ref, render_content_t *out,
                   char package_type[32]) {
    memset(out, 0, sizeof *out);
    if (!ref || !ref_parse(ref, "package", NULL, NULL)) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT digest, size, filename, storage_path, package_type FROM export_packages "
                      "WHERE tenant_id = ? AND ref = ?",
                      DB_ARGS(DBI(tenant_id), DBS(ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    char storage[1100];
    long long size = db_res_int(res, 1);
    snprintf(out->digest, sizeof out->digest, "%s", db_res_str(res, 0));
    snprintf(out->filename, sizeof out->filename, "%s", db_res_str(res, 2));
    snprintf(storage, sizeof storage, "%s", db_res_str(res, 3));
    if (package_type) snprintf(package_type, 32, "%s", db_res_str(res, 4));
    snprintf(out->content_type, sizeof out->content_type, "application/zip");
    snprintf(out->format, sizeof out->format, "zip");
    db_res_free(res);
    rc = renderer_read_stored(cfg, storage, size, out->digest, &out->bytes);
    if (rc) log_msg(LOG_ERROR, "package_integrity", "package %s is missing or does not match its digest", ref);
    return rc;
}

int packages_content(db_t *db, const config_t *cfg, const actor_t *a, const char *ref, const char *request_id,
                     render_content_t *out, retention_verdict_t *verdict) {
    memset(out, 0, sizeof *out);
    memset(verdict, 0, sizeof *verdict);
    if (!ref || !ref_parse(ref, "package", NULL, NULL)) return AISPM_ENOTFOUND;
    /* the one retrievability rule (retention.h); a refusal is evidenced.
     * Packages built before retention covered them have no item: 404 from
     * the rule means "not retained", not "absent" — the row decides. */
    int rc = retention_gate(db, a, ref, "package_content", request_id, verdict, NULL);
    if (rc) return rc;
    if (verdict->status != 200 && verdict->status != 404) return renderer_verdict_rc(verdict);
    char type[32] = "";
    if ((rc = packages_bytes(db, cfg, a->tenant_id, ref, out, type))) return rc;
    json_object *d = json_object_new_object();
    put_str(d, "package_type", type);
    put_str(d, "digest", out->digest);
    put_int(d, "size", (long long)out->bytes.len);
    rc = auth_evidence(db, a, "package.downloaded", ref, "success", request_id, d, NULL);
    json_object_put(d);
    if (rc) render_content_free(out);
    return rc;
}

/* ---- create ----------------------------------------------------------------- */

static void free_pkg(pkg_t *p) {
    for (size_t i = 0; i < p->nart; i++) buf_free(&p->arts[i].blob.bytes);
    free(p->arts);
    json_object_put(p->targets);
}

/* an existing package for the idempotency key: 200 when the parameters
 * match, 409 otherwise; 0 with *found false when there is none */
static int repeat_of(db_t *db, const actor_t *a, const char *key, const char *digest, package_outcome_t *out,
                     bool *found) {
    *found = false;
    json_object *o;
    char stored[65] = "";
    int rc = load_row(db, a->tenant_id, true, key, &o, stored);
    if (rc == AISPM_ENOTFOUND) return 0;
    if (rc) return rc;
    *found = true;
    if (strcmp(stored, digest)) {
        json_object_put(o);
        refuse(out, 409, "idempotency_key_reused", "this Idempotency-Key was used for a different package", NULL);
        return 0;
    }
    out->status = 200;
    out->body = o;
    return 0;
}

static int record_failure(db_t *db, const actor_t *a, const char *ref, const char *code, const char *request_id) {
    json_object *d = json_object_new_object();
    put_str(d, "error_code", code);
    int rc = auth_evidence(db, a, "package.build_failed", ref, "failure", request_id, d, NULL);
    json_object_put(d);
    return rc;
}

/* the package as a retention item (kind export_package) in its creating
 * transaction: the class of the tenant's export_package retention, the same
 * retrievability rule as artifacts on download. Its report id is its first
 * artifact's (the audience of restricted roles). */
static int register_retained(db_t *db, const actor_t *a, const pkg_t *p, const char *digest, long long size,
                             const char *storage, const char *evidence_ref) {
    retention_class_t cls;
    int rc = retention_class_resolve(db, a->tenant_id, RETENTION_KIND_PACKAGE, &cls);
    if (rc) return rc;
    char expires[RFC3339_MAX], title[120];
    int64_t created = 0;
    sql_datetime_parse(p->created_sql, &created);
    sql_datetime_format(created + (int64_t)cls.days * DAY_MS, expires);
    snprintf(title, sizeof title, "%s export package", package_types[p->type].type);
    retention_item_t it = {.tenant_id = a->tenant_id,
                           .object_kind = RETENTION_KIND_PACKAGE,
                           .object_ref = p->ref,
                           .report_id = p->nart ? p->arts[0].blob.report_id : package_types[p->type].type,
                           .format = "zip",
                           .title = title,
                           .tags = "package",
                           .digest = digest,
                           .size = size,
                           .storage_path = storage,
                           .retention_class = cls.name,
                           .created_at = p->created_sql,
                           .expires_at = expires,
                           .evidence_ref = evidence_ref};
    return retention_register(db, &it);
}

int packages_create(db_t *db, const config_t *cfg, const actor_t *a, json_object *body, const char *idem,
                    const char *request_id, package_outcome_t *out) {
    memset(out, 0, sizeof *out);
    if (idem && !idem_key_valid(idem)) {
        json_object *e = json_object_new_object();
        ferr(e, "Idempotency-Key", "1 to 200 printable ASCII characters");
        refuse(out, 422, "validation_failed", "the request is not valid", e);
        return 0;
    }
    package_request_t req;
    json_object *errors = validate(body, &req);
    if (errors) {
        json_object_put(req.targets);
        refuse(out, 422, "validation_failed", "the request is not valid", errors);
        return 0;
    }
    char rdigest[65];
    request_digest(&req, rdigest);
    bool found = false;
    int rc = idem ? repeat_of(db, a, idem, rdigest, out, &found) : 0;
    if (rc || found) {
        json_object_put(req.targets);
        return rc;
    }

    pkg_t p = {.type = req.type, .retention_class = req.retention_class, .targets = req.targets};
    p.nart = json_object_array_length(req.artifact_refs);
    p.arts = xcalloc(p.nart, sizeof *p.arts);
    for (size_t i = 0; i < p.nart; i++) {
        const char *aref = json_object_get_string(json_object_array_get_idx(req.artifact_refs, i));
        /* the one retrievability rule (retention.h): content that may not be
         * retrieved (deleted, archived past retention, expired, revoked, not
         * in the role's audience) cannot be packaged; the refusal is evidenced
         * (retention.retrieval_blocked) */
        retention_verdict_t v;
        rc = retention_gate(db, a, aref, "package_build", request_id, &v, NULL);
        if (!rc && v.status != 200 && v.status != 404) {
            json_object *e = json_object_new_object();
            char f[40];
            snprintf(f, sizeof f, "artifact_refs[%zu]", i);
            ferr(e, f, v.code);
            p.nart = i;
            free_pkg(&p);
            refuse(out, v.status, v.code, v.detail, e);
            return 0;
        }
        if (!rc) rc = renderer_artifact_load(db, cfg, a->tenant_id, aref, &p.arts[i].blob);
        if (rc == AISPM_ENOTFOUND) {
            json_object *e = json_object_new_object();
            char f[40];
            snprintf(f, sizeof f, "artifact_refs[%zu]", i);
            ferr(e, f, "no such artifact");
            p.nart = i;
            free_pkg(&p);
            refuse(out, 404, "artifact_not_found", "an artifact of the package does not exist", e);
            return 0;
        }
        if (rc) {
            p.nart = i;
            free_pkg(&p);
            if (rc == AISPM_EIO) {
                refuse(out, 500, "artifact_unavailable", "an artifact's stored content is missing or damaged", NULL);
                return 0;
            }
            return rc;
        }
        snprintf(p.arts[i].file, sizeof p.arts[i].file, "artifacts/%02zu_%s", i + 1, p.arts[i].blob.filename);
    }

    signing_key_t *key = NULL;
    buf_t cert_der = BUF_INIT;
    if (packages_signing_material(db, cfg, &key, &cert_der)) {
        log_msg(LOG_ERROR, "package_build", "the package signing key or certificate is not usable");
        free_pkg(&p);
        buf_free(&cert_der);
        refuse(out, 503, "signing_key_unavailable", "the package signing key is not available", NULL);
        return 0;
    }

    /* package.requested: committed first, so the chain (and a checkpoint)
     * can cover it before the package is assembled */
    int64_t now = now_ms();
    rfc3339_format(now, 1, p.created_at);
    sql_datetime_format(now, p.created_sql);
    ref_new("package", p.ref);
    json_object *d = json_object_new_object(), *refs = json_object_new_array();
    put_str(d, "package_type", package_types[p.type].type);
    put_str(d, "retention_class", p.retention_class);
    for (size_t i = 0; i < p.nart; i++) json_object_array_add(refs, json_object_new_string(p.arts[i].blob.ref));
    json_object_object_add(d, "artifact_refs", refs);
    put_int(d, "delivery_targets", (long long)json_object_array_length(p.targets));
    rc = auth_evidence(db, a, "package.requested", p.ref, "success", request_id, d, p.request_evidence);
    json_object_put(d);

    size_t nev = p.nart + 1;
    chain_event_t *ev = xcalloc(nev, sizeof *ev);
    json_object *excerpt = NULL;
    if (!rc) {
        snprintf(ev[0].ref, sizeof ev[0].ref, "%s", p.request_evidence);
        size_t k = 1;
        for (size_t i = 0; i < p.nart; i++) {
            bool dup = !p.arts[i].blob.evidence_ref[0];
            for (size_t j = 1; j < k && !dup; j++) dup = !strcmp(ev[j].ref, p.arts[i].blob.evidence_ref);
            if (!dup) snprintf(ev[k++].ref, sizeof ev[k - 1].ref, "%s", p.arts[i].blob.evidence_ref);
        }
        nev = k;
        rc = ensure_covered(db, cfg, a, ev, nev);
        if (rc == AISPM_EDB) rc = ensure_covered(db, cfg, a, ev, nev);
        if (!rc) rc = chain_excerpt(db, a, p.ref, ev, nev, &excerpt, &p.cp_seq);
    }
    free(ev);
    if (!rc) {
        db_res_t *res;
        rc = db_query(db, "SELECT digest FROM evidence_checkpoints WHERE tenant_id = ? AND seq = ?",
                      DB_ARGS(DBI(a->tenant_id), DBI(p.cp_seq)), &res);
        if (!rc) {
            if (db_res_next(res)) snprintf(p.cp_digest, sizeof p.cp_digest, "%s", db_res_str(res, 0));
            db_res_free(res);
        }
    }
    buf_t zip = BUF_INIT, manifest = BUF_INIT;
    if (!rc) rc = build_zip(a, &p, excerpt, key, &cert_der, &zip, &manifest);
    json_object_put(excerpt);
    char zdigest[65], mdigest[65], tulid[ULID_LEN + 1], storage[120], filename[120];
    if (!rc) {
        sha256_hex(zip.data ? zip.data : "", zip.len, zdigest);
        sha256_hex(manifest.data ? manifest.data : "", manifest.len, mdigest);
        ref_parse(a->tenant_ref, "tenant", NULL, tulid);
        rc = renderer_store_bytes(cfg, tulid, zdigest, &zip);
        snprintf(storage, sizeof storage, "%s/%s", tulid, zdigest);
        snprintf(filename, sizeof filename, "%.20s_%.26s.zip", package_types[p.type].type, p.ref + 8);
    }
    if (rc) {
        const char *code = rc == AISPM_ETOOMANY ? "chain_excerpt_too_large"
                           : rc == AISPM_ECRYPTO ? "evidence_chain_unverifiable"
                           : rc == AISPM_EIO     ? "storage_failed"
                                                 : "package_build_failed";
        log_msg(LOG_ERROR, "package_build", "package %s was not built: %s", p.ref, code);
        if (p.request_evidence[0]) record_failure(db, a, p.ref, code, request_id);
        key_free(key);
        buf_free(&cert_der);
        buf_free(&zip);
        buf_free(&manifest);
        free_pkg(&p);
        refuse(out, rc == AISPM_ETOOMANY ? 422 : 500, code, "the package could not be built", NULL);
        return 0;
    }

    /* the package row, its artifacts and package.built: one transaction */
    char built_ref[EVIDENCE_REF_MAX] = "";
    rc = db_begin(db);
    uint64_t pid = 0;
    if (!rc) {
        d = json_object_new_object();
        put_str(d, "package_type", package_types[p.type].type);
        put_str(d, "digest", zdigest);
        put_int(d, "size", (long long)zip.len);
        put_str(d, "manifest_digest", mdigest);
        put_str(d, "kid", key_kid(key));
        put_int(d, "checkpoint_seq", p.cp_seq);
        put_int(d, "artifacts", (long long)p.nart);
        rc = auth_evidence(db, a, "package.built", p.ref, "success", request_id, d, built_ref);
        json_object_put(d);
    }
    if (!rc) {
        const char *targets = json_object_to_json_string_ext(p.targets, JSON_C_TO_STRING_PLAIN);
        rc = db_exec(db,
                     "INSERT INTO export_packages (ref, tenant_id, package_type, retention_class, watermark_required, "
                     "requested_by, requester_role, idempotency_key, request_digest, delivery_targets, digest, size, "
                     "filename, storage_path, manifest_json, manifest_digest, kid, checkpoint_seq, "
                     "request_evidence_ref, evidence_ref, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(p.ref), DBI(a->tenant_id), DBS(package_types[p.type].type), DBS(p.retention_class),
                             DBI(package_types[p.type].watermark), a->user_id ? DBI(a->user_id) : DBNULL,
                             DBS(a->role), idem ? DBS(idem) : DBNULL, DBS(rdigest), DBS(targets), DBS(zdigest),
                             DBI((long long)zip.len), DBS(filename), DBS(storage), DBSN(manifest.data, manifest.len),
                             DBS(mdigest), DBS(key_kid(key)), DBI(p.cp_seq), DBS(p.request_evidence), DBS(built_ref),
                             DBS(p.created_sql)),
                     NULL, &pid);
    }
    if (!rc) rc = register_retained(db, a, &p, zdigest, (long long)zip.len, storage, built_ref);
    for (size_t i = 0; !rc && i < p.nart; i++)
        rc = db_exec(db,
                     "INSERT INTO export_package_artifacts (package_id, position, tenant_id, artifact_id) "
                     "VALUES (?, ?, ?, ?)",
                     DB_ARGS(DBI((long long)pid), DBI((long long)i + 1), DBI(a->tenant_id), DBI(p.arts[i].blob.id)),
                     NULL, NULL);
    if (!rc) rc = db_commit(db);
    key_free(key);
    buf_free(&cert_der);
    buf_free(&zip);
    buf_free(&manifest);
    free_pkg(&p);
    if (rc) {
        db_rollback(db);
        /* a racing request with the same key committed first: answer with it */
        if (rc == AISPM_ECONFLICT && idem) {
            rc = repeat_of(db, a, idem, rdigest, out, &found);
            if (!rc && found) return 0;
        }
        return rc ? rc : AISPM_EDB;
    }
    rc = packages_get(db, a, p.ref, &out->body);
    out->status = 201;
    return rc;
}
