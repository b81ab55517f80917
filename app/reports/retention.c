/*
 * retention.c: retention classes, items, the retrieval decision, approval-
 * gated legal holds and deletions with tombstones, the sweep, and the
 * retention-lifecycle projection (see retention.h).
 *
 * Invariants: an item's row is locked (SELECT ... FOR UPDATE) before any
 * transition, so a sweep and a decision never both change it; at most one
 * request per item is open (pending_request_ref); a deleted item never
 * changes again; content files are removed only after the deletion
 * committed.
 */
#include "reports/retention.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "reports/approvals.h"
#include "reports/catalog.h"
#include "server/auth.h"

#define SWEEP_BATCH 500
#define REASON_MAX 500

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}
static json_object *ts_json(const char *sql) {
    int64_t ms;
    if (!sql || !*sql || sql_datetime_parse(sql, &ms)) return NULL;
    char out[RFC3339_MAX];
    rfc3339_format(ms, 0, out);
    return json_object_new_string(out);
}
static const char *jstr(json_object *o, const char *k) {
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}
static void now_sql(char out[RFC3339_MAX]) { sql_datetime_format(now_ms(), out); }
const char *retention_actor_ref(const actor_t *a) {
    return a->user_ref[0] ? a->user_ref : a->token_ref[0] ? a->token_ref : "system";
}
static void outcome_set(retention_outcome_t *o, int status, const char *code, const char *detail, json_object *b) {
    o->status = status;
    o->code = code;
    o->detail = detail;
    o->body = b;
}
void retention_outcome_free(retention_outcome_t *o) {
    json_object_put(o->body);
    o->body = NULL;
}
/* the public form of an evidence ref, or NULL */
static json_object *public_ev(const char *ref) {
    char pub[EVIDENCE_REF_MAX];
    return ref && *ref && !evidence_ref_public(ref, pub) ? json_object_new_string(pub) : NULL;
}

/* ------------------------------------------------------------------------ */
/* classes                                                                   */

static const struct {
    const char *kind, *setting, *prefix;
    int def;
} kinds[] = {
    {RETENTION_KIND_ARTIFACT, "CAVRA_REPORT_RETENTION_DAYS", "report", 365},
    {RETENTION_KIND_PACKAGE, "CAVRA_REPORT_RETENTION_DAYS", "package", 365},
    {RETENTION_KIND_AUDIT_EXPORT, "CAVRA_REPORT_DELIVERY_AUDIT_RETENTION_DAYS", "delivery_audit", 2555},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

static int kind_index(const char *kind) {
    for (int i = 0; kind && i < NKINDS; i++)
        if (!strcmp(kinds[i].kind, kind)) return i;
    return -1;
}

/* class of kind k: out->name empty when no tenant row (then from settings) */
static int class_lookup(db_t *db, long long tenant_id, int k, retention_class_t *out, bool *from_tenant) {
    db_res_t *res;
    memset(out, 0, sizeof *out);
    *from_tenant = false;
    int rc = db_query(db, "SELECT name, days FROM retention_classes WHERE tenant_id = ? AND object_kind = ?",
                      DB_ARGS(DBI(tenant_id), DBS(kinds[k].kind)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        snprintf(out->name, sizeof out->name, "%s", db_res_str(res, 0));
        out->days = (int)db_res_int(res, 1);
        *from_tenant = true;
    }
    db_res_free(res);
    if (*from_tenant) return 0;
    out->days = kinds[k].def;
    rc = db_query(db, "SELECT value FROM settings WHERE tenant_id = ? AND name = ?",
                  DB_ARGS(DBI(tenant_id), DBS(kinds[k].setting)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        char *end;
        long d = strtol(db_res_str(res, 0), &end, 10);
        if (!*end && d >= 1 && d <= 3650) out->days = (int)d;
    }
    db_res_free(res);
    snprintf(out->name, sizeof out->name, "%s_%dd", kinds[k].prefix, out->days);
    return 0;
}

int retention_class_resolve(db_t *db, long long tenant_id, const char *kind, retention_class_t *out) {
    int k = kind_index(kind);
    if (k < 0) return AISPM_EINVAL;
    bool t;
    return class_lookup(db, tenant_id, k, out, &t);
}

int retention_class_set(db_t *db, const actor_t *a, const char *kind, int days, const char *request_id) {
    int k = kind_index(kind);
    if (k < 0 || days < 1 || days > 3650) return AISPM_EINVAL;
    char name[32], now[RFC3339_MAX];
    snprintf(name, sizeof name, "%s_%dd", kinds[k].prefix, days);
    now_sql(now);
    int rc = db_begin(db);
    if (rc) return rc;
    rc = db_exec(db,
                 "INSERT INTO retention_classes (tenant_id, object_kind, name, days, updated_at) VALUES (?, ?, ?, ?, ?) "
                 "ON DUPLICATE KEY UPDATE name = VALUES(name), days = VALUES(days), updated_at = VALUES(updated_at)",
                 DB_ARGS(DBI(a->tenant_id), DBS(kind), DBS(name), DBI(days), DBS(now)), NULL, NULL);
    if (!rc) {
        json_object *d = json_object_new_object();
        put_str(d, "object_kind", kind);
        put_str(d, "retention_class", name);
        json_object_object_add(d, "days", json_object_new_int(days));
        rc = auth_evidence(db, a, "retention.class_set", NULL, "success", request_id, d, NULL);
        json_object_put(d);
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

int retention_classes_json(db_t *db, const actor_t *a, json_object **out) {
    *out = NULL;
    json_object *arr = json_object_new_array();
    for (int k = 0; k < NKINDS; k++) {
        retention_class_t c;
        bool t;
        int rc = class_lookup(db, a->tenant_id, k, &c, &t);
        if (rc) {
            json_object_put(arr);
            return rc;
        }
        json_object *e = json_object_new_object();
        put_str(e, "object_kind", kinds[k].kind);
        put_str(e, "name", c.name);
        json_object_object_add(e, "days", json_object_new_int(c.days));
        put_str(e, "source", t ? "tenant" : "settings");
        json_object_array_add(arr, e);
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "classes", arr);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* items                                                                     */

static void append_lower(char *dst, size_t cap, const char *s) {
    if (!s || !*s) return;
    size_t n = strlen(dst);
    if (n && n + 1 < cap) dst[n++] = ' ';
    for (; *s && n + 1 < cap; s++) dst[n++] = (char)tolower((unsigned char)*s);
    dst[n] = 0;
}

int retention_register(db_t *db, const retention_item_t *it) {
    if (kind_index(it->object_kind) < 0) return AISPM_EINVAL;
    char text[2000] = "", spaced[80], ps[11] = "", pe[11] = "";
    snprintf(spaced, sizeof spaced, "%s", it->report_id);
    for (char *p = spaced; *p; p++)
        if (*p == '_') *p = ' ';
    if (it->period_start) snprintf(ps, sizeof ps, "%.10s", it->period_start);
    if (it->period_end) snprintf(pe, sizeof pe, "%.10s", it->period_end);
    append_lower(text, sizeof text, it->object_ref);
    append_lower(text, sizeof text, it->report_id);
    append_lower(text, sizeof text, spaced);
    append_lower(text, sizeof text, it->title);
    append_lower(text, sizeof text, it->format);
    append_lower(text, sizeof text, ps);
    append_lower(text, sizeof text, pe);
    append_lower(text, sizeof text, it->tags);
    return db_exec(db,
                   "INSERT INTO retention_items (tenant_id, object_kind, object_ref, report_id, format, title, tags, "
                   "period_start, period_end, digest, size, storage_path, retention_class, created_at, expires_at, "
                   "evidence_ref, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON DUPLICATE KEY UPDATE id = id",
                   DB_ARGS(DBI(it->tenant_id), DBS(it->object_kind), DBS(it->object_ref), DBS(it->report_id),
                           DBS(it->format), DBS(it->title ? it->title : ""), DBS(it->tags ? it->tags : ""),
                           DBS(it->period_start), DBS(it->period_end), DBS(it->digest), DBI(it->size),
                           DBS(it->storage_path), DBS(it->retention_class), DBS(it->created_at),
                           DBS(it->expires_at), DBS(it->evidence_ref), DBS(text)),
                   NULL, NULL);
}

int retention_artifact_deleted(db_t *db, long long tenant_id, const char *digest, const char *report_id,
                               const char *format, bool *deleted) {
    *deleted = false;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT COUNT(*) FROM retention_items WHERE tenant_id = ? AND object_kind = 'artifact' AND "
                      "digest = ? AND report_id = ? AND format = ? AND state = 'deleted'",
                      DB_ARGS(DBI(tenant_id), DBS(digest), DBS(report_id), DBS(format)), &res);
    if (rc) return rc;
    if (db_res_next(res)) *deleted = db_res_int(res, 0) > 0;
    db_res_free(res);
    return 0;
}

const char *retention_lifecycle_state(const char *state, bool held, bool pending, bool expired) {
    if (state && !strcmp(state, "deleted")) return "deleted";
    if (held) return "legal_hold";
    if (pending) return "pending_approval";
    if (state && !strcmp(state, "archived")) return "archived";
    if (expired) return "expired";
    return "retained";
}

/* ------------------------------------------------------------------------ */
/* the retrieval decision                                                    */

void retention_decide(bool found, bool role_ok, const char *state, bool held, bool revoked, bool expired,
                      retention_verdict_t *v) {
    v->status = 200;
    v->code = NULL;
    v->detail = NULL;
    if (!found) {
        v->status = 404, v->code = "not_found", v->detail = "no such report in your tenant";
    } else if (!role_ok) {
        v->status = 403, v->code = "audience_restricted", v->detail = "your role is not in this report's audience";
    } else if (state && !strcmp(state, "deleted")) {
        v->status = 410, v->code = "deleted", v->detail = "the report was deleted after an approved request";
    } else if (revoked) {
        v->status = 403, v->code = "revoked", v->detail = "the report was revoked";
    } else if (held) {
        /* a legal hold preserves the object: retrievable past its expiry */
    } else if (state && !strcmp(state, "archived")) {
        v->status = 410, v->code = "archived_past_retention", v->detail = "the report's retention ended; it is archived";
    } else if (expired) {
        v->status = 410, v->code = "expired", v->detail = "the report's retention period has ended";
    }
}

/* catalog audiences each restricted role may see (auditors are not here:
 * they reach only the artifacts of their evidence rooms, and the room is the
 * audience) */
static const struct {
    const char *role;
    const char *audiences[4]; /* NULL: community reports only */
    bool community_only;
} restricted[] = {
    {"grc_analyst", {"audit", "grc", "risk_committee"}, false},
    {"evaluator", {NULL}, true},
    {"trial_operator", {NULL}, true},
};

bool retention_role_may_see(const char *role, const char *report_id) {
    int r = -1;
    for (int i = 0; role && i < (int)(sizeof restricted / sizeof restricted[0]); i++)
        if (!strcmp(restricted[i].role, role)) r = i;
    if (r < 0) return true;
    if (report_id && !strcmp(report_id, RETENTION_REPORT_DELIVERY_AUDIT)) { /* not a catalog report */
        for (int k = 0; k < 4 && restricted[r].audiences[k]; k++)
            if (!strcmp(restricted[r].audiences[k], "audit")) return true;
        return false;
    }
    const catalog_report_t *rep = catalog_find(report_id);
    if (!rep) return false;
    if (restricted[r].community_only) return !strcmp(rep->availability, "community");
    for (int i = 0; i < CATALOG_MAX_AUDIENCES && rep->audiences[i]; i++)
        for (int k = 0; k < 4 && restricted[r].audiences[k]; k++)
            if (!strcmp(rep->audiences[i], restricted[r].audiences[k])) return true;
    return false;
}

void retention_role_report_ids(const char *role, char *out, size_t outlen) {
    out[0] = 0;
    if (retention_role_may_see(role, "__no_such_report__")) return; /* unrestricted */
    size_t n = 0;
    for (int i = 0; i < catalog_count(); i++) {
        const catalog_report_t *rep = catalog_at(i);
        if (!retention_role_may_see(role, rep->report_id)) continue;
        int w = snprintf(out + n, outlen - n, "%s%s", n ? "," : "", rep->report_id);
        if (w < 0 || (size_t)w >= outlen - n) break;
        n += (size_t)w;
    }
    if (retention_role_may_see(role, RETENTION_REPORT_DELIVERY_AUDIT)) {
        int w = snprintf(out + n, outlen - n, "%s%s", n ? "," : "", RETENTION_REPORT_DELIVERY_AUDIT);
        if (w > 0 && (size_t)w < outlen - n) n += (size_t)w;
    }
    if (!n) snprintf(out, outlen, "-"); /* restricted to nothing: matches no report id */
}

int retention_check_retrievable(db_t *db, const actor_t *a, const char *object_ref, retention_verdict_t *v) {
    memset(v, 0, sizeof *v);
    char now[RFC3339_MAX];
    now_sql(now);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT id, report_id, format, digest, state, legal_hold_ref IS NOT NULL, "
                      "pending_request_ref IS NOT NULL, revoked_at IS NOT NULL, expires_at <= ? FROM retention_items "
                      "WHERE tenant_id = ? AND object_ref = ?",
                      DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(object_ref ? object_ref : "")), &res);
    if (rc) return rc;
    bool found = db_res_next(res);
    if (!found) {
        db_res_free(res);
        retention_decide(false, false, NULL, false, false, false, v);
        return 0;
    }
    v->item_id = db_res_int(res, 0);
    snprintf(v->report_id, sizeof v->report_id, "%s", db_res_str(res, 1));
    snprintf(v->format, sizeof v->format, "%s", db_res_str(res, 2));
    snprintf(v->digest, sizeof v->digest, "%s", db_res_str(res, 3));
    char state[16];
    snprintf(state, sizeof state, "%s", db_res_str(res, 4));
    bool held = db_res_int(res, 5), pending = db_res_int(res, 6), revoked = db_res_int(res, 7),
         expired = db_res_int(res, 8);
    db_res_free(res);
    snprintf(v->lifecycle_state, sizeof v->lifecycle_state, "%s",
             retention_lifecycle_state(state, held, pending, expired));
    bool role_ok = a->kind == ACTOR_SYSTEM || retention_role_may_see(a->role, v->report_id);
    retention_decide(true, role_ok, state, held, revoked, expired, v);
    return 0;
}

int retention_gate(db_t *db, const actor_t *a, const char *object_ref, const char *route, const char *request_id,
                   retention_verdict_t *v, char *evidence_ref_out) {
    if (evidence_ref_out) evidence_ref_out[0] = 0;
    int rc = retention_check_retrievable(db, a, object_ref, v);
    if (rc || v->status == 200 || v->status == 404) return rc;
    json_object *d = json_object_new_object();
    put_str(d, "route", route);
    put_str(d, "code", v->code);
    put_str(d, "lifecycle_state", v->lifecycle_state);
    json_object_object_add(d, "status", json_object_new_int(v->status));
    rc = auth_evidence(db, a, "retention.retrieval_blocked", object_ref, "blocked", request_id, d, evidence_ref_out);
    json_object_put(d);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* requests                                                                  */

static const char *const actions[] = {"legal_hold_place", "legal_hold_release", "delete", NULL};

/* the approval type of each request action (approvals.c's type table) */
static const char *approval_type(const char *action) {
    if (!strcmp(action, "legal_hold_place")) return APPROVAL_RETENTION_HOLD_PLACE;
    if (!strcmp(action, "legal_hold_release")) return APPROVAL_RETENTION_HOLD_RELEASE;
    return APPROVAL_RETENTION_DELETE;
}

/* The approval step: a generic four-eyes approval (reports/approvals.c)
 * opened in the request's transaction, due when the request expires; its
 * handler (retention_on_approval) applies the outcome. */
static int approval_open(db_t *db, const actor_t *a, const char *request_ref, const char *action,
                         const char *report_id, const char *format, int64_t due_ms, const char *request_id) {
    json_object *payload = json_object_new_object(), *subj = json_object_new_object();
    put_str(payload, "request_ref", request_ref);
    json_object *ids = json_object_new_array(), *fmts = json_object_new_array();
    json_object_array_add(ids, json_object_new_string(report_id));
    json_object_array_add(fmts, json_object_new_string(format));
    json_object_object_add(subj, "report_ids", ids);
    json_object_object_add(subj, "formats", fmts);
    put_str(subj, "delivery_mode", "download");
    put_str(subj, "recipient_scope", "approved_internal_domain");
    approval_request_t req = {.type = approval_type(action),
                              .subject_kind = "retention_request",
                              .subject_ref = request_ref,
                              .due_at_ms = due_ms,
                              .reason_code = action,
                              .payload = payload,
                              .public_subject = subj};
    char aref[REF_MAX];
    int rc = approvals_request(db, a->tenant_id, a->tenant_ref, retention_actor_ref(a), a->user_id, &req, request_id,
                               aref);
    json_object_put(payload);
    json_object_put(subj);
    if (!rc)
        rc = db_exec(db, "UPDATE retention_requests SET approval_ref = ? WHERE tenant_id = ? AND ref = ?",
                     DB_ARGS(DBS(aref), DBI(a->tenant_id), DBS(request_ref)), NULL, NULL);
    return rc;
}

/* an approval's outcome applied to its retention request (inside the
 * approval's transaction; a non-zero return rolls the decision back) */
static int on_approval(db_t *db, const approval_t *req, approval_outcome_t outcome, const char *request_id) {
    if (strcmp(req->subject_kind, "retention_request")) return AISPM_EINVAL;
    const char *o = outcome == APPROVAL_APPROVED ? "approved" : outcome == APPROVAL_REJECTED ? "rejected" : "expired";
    actor_t decider;
    memset(&decider, 0, sizeof decider);
    decider.kind = ACTOR_SYSTEM;
    decider.tenant_id = req->tenant_id;
    snprintf(decider.tenant_ref, sizeof decider.tenant_ref, "%s", req->tenant_ref);
    if (req->decided_by_ref && strcmp(req->decided_by_ref, "system"))
        snprintf(decider.user_ref, sizeof decider.user_ref, "%s", req->decided_by_ref);
    int rc = retention_request_resolve(db, req->tenant_id, req->tenant_ref, req->subject_ref, o, &decider, request_id);
    /* a rejection or expiry of a request that is no longer pending changes nothing */
    if (rc == AISPM_ECONFLICT && outcome != APPROVAL_APPROVED) rc = 0;
    return rc;
}

void retention_init(void) {
    approvals_register_handler(APPROVAL_RETENTION_HOLD_PLACE, on_approval);
    approvals_register_handler(APPROVAL_RETENTION_HOLD_RELEASE, on_approval);
    approvals_register_handler(APPROVAL_RETENTION_DELETE, on_approval);
}

void retention_after_approval(db_t *db, const config_t *cfg, long long tenant_id, json_object *approval) {
    const char *type = jstr(approval, "type");
    if (type && !strcmp(type, APPROVAL_RETENTION_DELETE)) retention_purge(db, cfg, tenant_id, NULL);
}

int retention_request_open(db_t *db, const actor_t *a, json_object *body, const char *request_id,
                           retention_outcome_t *out) {
    memset(out, 0, sizeof *out);
    const char *action = jstr(body, "action"), *object_ref = jstr(body, "object_ref"), *reason = jstr(body, "reason");
    json_object *errors = json_object_new_object();
    bool known = false;
    for (int i = 0; action && actions[i]; i++) known |= !strcmp(action, actions[i]);
    if (!known) put_str(errors, "action", "must be legal_hold_place, legal_hold_release or delete");
    if (!object_ref || strlen(object_ref) > 64) put_str(errors, "object_ref", "must be the ref of a retained object");
    size_t rl = reason ? strlen(reason) : 0;
    bool reason_ok = rl >= 1 && rl <= REASON_MAX && utf8_valid(reason, rl);
    for (size_t i = 0; reason_ok && i < rl; i++)
        if ((unsigned char)reason[i] < 0x20) reason_ok = false;
    if (!reason_ok) put_str(errors, "reason", "1-500 characters without control characters");
    if (json_object_object_length(errors)) {
        outcome_set(out, 422, "validation_failed", "the request is not valid", errors);
        return 0;
    }
    json_object_put(errors);

    char now[RFC3339_MAX], expires[RFC3339_MAX], rref[REF_MAX];
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    sql_datetime_format(t + RETENTION_REQUEST_TTL_DAYS * DAY_MS, expires);
    int rc = db_begin(db);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT id, report_id, state, legal_hold_ref IS NOT NULL, pending_request_ref IS NOT NULL, "
                  "expires_at <= ?, format FROM retention_items WHERE tenant_id = ? AND object_ref = ? FOR UPDATE",
                  DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(object_ref)), &res);
    if (rc) goto fail;
    if (!db_res_next(res) || !retention_role_may_see(a->role, db_res_str(res, 1))) {
        db_res_free(res);
        db_rollback(db);
        outcome_set(out, 404, "not_found", "no such report in your tenant", NULL);
        return 0;
    }
    long long item_id = db_res_int(res, 0);
    char state[16], report_id[65], format[17];
    snprintf(state, sizeof state, "%s", db_res_str(res, 2));
    snprintf(report_id, sizeof report_id, "%s", db_res_str(res, 1));
    snprintf(format, sizeof format, "%s", db_res_str(res, 6));
    bool held = db_res_int(res, 3), pending = db_res_int(res, 4), expired = db_res_int(res, 5);
    db_res_free(res);
    const char *code = NULL, *detail = NULL;
    if (!strcmp(state, "deleted"))
        code = "deleted", detail = "the object is already deleted";
    else if (pending)
        code = "request_pending", detail = "another request for this object waits for approval";
    else if (!strcmp(action, "delete") && held)
        code = "legal_hold_active", detail = "an object on legal hold cannot be deleted";
    else if (!strcmp(action, "delete") && strcmp(state, "archived") && !expired)
        code = "retention_not_ended", detail = "only expired or archived objects can be deleted";
    else if (!strcmp(action, "legal_hold_place") && held)
        code = "already_on_legal_hold", detail = "the object is already on legal hold";
    else if (!strcmp(action, "legal_hold_release") && !held)
        code = "not_on_legal_hold", detail = "the object is not on legal hold";
    if (code) {
        db_rollback(db);
        outcome_set(out, !strcmp(code, "deleted") ? 410 : 409, code, detail, NULL);
        return 0;
    }
    rc = ref_new("retention-request", rref);
    char ev[EVIDENCE_REF_MAX] = "", reason_digest[SHA256_HEX_LEN + 1];
    sha256_hex(reason, rl, reason_digest);
    if (!rc) {
        json_object *d = json_object_new_object();
        put_str(d, "action", action);
        put_str(d, "object_ref", object_ref);
        put_str(d, "reason_sha256", reason_digest);
        put_str(d, "lifecycle_state", retention_lifecycle_state(state, held, false, expired));
        rc = auth_evidence(db, a, "retention.request_opened", rref, "pending", request_id, d, ev);
        json_object_put(d);
    }
    if (!rc) {
        json_object *refs = json_object_new_array();
        json_object_array_add(refs, json_object_new_string(ev));
        rc = db_exec(db,
                     "INSERT INTO retention_requests (ref, tenant_id, item_id, action, reason, requested_by_ref, "
                     "expires_at, created_at, evidence_refs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(rref), DBI(a->tenant_id), DBI(item_id), DBS(action), DBS(reason),
                             DBS(retention_actor_ref(a)), DBS(expires), DBS(now), DBS(json_object_to_json_string(refs))),
                     NULL, NULL);
        json_object_put(refs);
    }
    if (!rc)
        rc = db_exec(db, "UPDATE retention_items SET pending_request_ref = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(rref), DBI(item_id), DBI(a->tenant_id)), NULL, NULL);
    if (!rc) rc = approval_open(db, a, rref, action, report_id, format, t + RETENTION_REQUEST_TTL_DAYS * DAY_MS, request_id);
    if (rc) goto fail;
    rc = db_commit(db);
    if (rc) return rc;
    json_object *o;
    rc = retention_request_json(db, a, rref, &o);
    if (rc) return rc;
    outcome_set(out, 202, NULL, NULL, o);
    return 0;
fail:
    db_rollback(db);
    return rc;
}

static int append_request_evidence(db_t *db, long long tenant_id, long long request_id_row, const char *ev) {
    return db_exec(db,
                   "UPDATE retention_requests SET evidence_refs = JSON_ARRAY_APPEND(evidence_refs, '$', ?) "
                   "WHERE id = ? AND tenant_id = ?",
                   DB_ARGS(DBS(ev), DBI(request_id_row), DBI(tenant_id)), NULL, NULL);
}

int retention_request_resolve(db_t *db, long long tenant_id, const char *tenant_ref, const char *request_ref,
                              const char *outcome, const actor_t *decider, const char *request_id) {
    bool approve = !strcmp(outcome, "approved");
    if (!approve && strcmp(outcome, "rejected") && strcmp(outcome, "expired")) return AISPM_EINVAL;
    actor_t sys;
    if (!decider) {
        memset(&sys, 0, sizeof sys);
        sys.kind = ACTOR_SYSTEM;
        sys.tenant_id = tenant_id;
        snprintf(sys.tenant_ref, sizeof sys.tenant_ref, "%s", tenant_ref);
        decider = &sys;
    }
    char now[RFC3339_MAX];
    now_sql(now);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT r.id, r.action, r.state, r.reason, r.evidence_refs, i.id, i.object_ref, i.object_kind, "
                      "i.state, i.legal_hold_ref, i.expires_at <= ?, i.report_id, i.format, i.digest, i.size "
                      "FROM retention_requests r JOIN retention_items i ON i.id = r.item_id AND i.tenant_id = r.tenant_id "
                      "WHERE r.tenant_id = ? AND r.ref = ? FOR UPDATE",
                      DB_ARGS(DBS(now), DBI(tenant_id), DBS(request_ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    long long rid = db_res_int(res, 0), item_id = db_res_int(res, 5), size = db_res_int(res, 14);
    char action[24], rstate[16], reason[REASON_MAX + 1], object_ref[65], kind[33], istate[16], hold[49],
        report_id[65], format[17], digest[65];
    snprintf(action, sizeof action, "%s", db_res_str(res, 1));
    snprintf(rstate, sizeof rstate, "%s", db_res_str(res, 2));
    snprintf(reason, sizeof reason, "%s", db_res_str(res, 3));
    json_object *refs = json_tokener_parse(db_res_str(res, 4));
    snprintf(object_ref, sizeof object_ref, "%s", db_res_str(res, 6));
    snprintf(kind, sizeof kind, "%s", db_res_str(res, 7));
    snprintf(istate, sizeof istate, "%s", db_res_str(res, 8));
    snprintf(hold, sizeof hold, "%s", db_res_str(res, 9));
    bool held = !db_res_isnull(res, 9), expired = db_res_int(res, 10);
    snprintf(report_id, sizeof report_id, "%s", db_res_str(res, 11));
    snprintf(format, sizeof format, "%s", db_res_str(res, 12));
    snprintf(digest, sizeof digest, "%s", db_res_str(res, 13));
    db_res_free(res);
    if (!refs || !json_object_is_type(refs, json_type_array)) {
        json_object_put(refs);
        refs = json_object_new_array();
    }
    if (strcmp(rstate, "pending")) {
        json_object_put(refs);
        return AISPM_ECONFLICT;
    }
    if (approve) {
        bool ok = strcmp(istate, "deleted") != 0;
        if (!strcmp(action, "legal_hold_place")) ok = ok && !held;
        if (!strcmp(action, "legal_hold_release")) ok = ok && held;
        if (!strcmp(action, "delete")) ok = ok && !held && (!strcmp(istate, "archived") || expired);
        if (!ok) {
            json_object_put(refs);
            return AISPM_ECONFLICT;
        }
    }
    char ev[EVIDENCE_REF_MAX] = "", verb[48];
    snprintf(verb, sizeof verb, "retention.request_%s", outcome);
    json_object *d = json_object_new_object();
    put_str(d, "action", action);
    put_str(d, "object_ref", object_ref);
    rc = auth_evidence(db, decider, verb, request_ref, outcome, request_id, d, ev);
    json_object_put(d);
    if (!rc)
        rc = db_exec(db,
                     "UPDATE retention_requests SET state = ?, decided_by_ref = ?, decided_at = ? WHERE id = ? AND "
                     "tenant_id = ?",
                     DB_ARGS(DBS(outcome), DBS(retention_actor_ref(decider)), DBS(now), DBI(rid), DBI(tenant_id)), NULL, NULL);
    if (!rc) rc = append_request_evidence(db, tenant_id, rid, ev);
    if (!rc) json_object_array_add(refs, json_object_new_string(ev));
    if (!rc)
        rc = db_exec(db,
                     "UPDATE retention_items SET pending_request_ref = NULL WHERE id = ? AND tenant_id = ? AND "
                     "pending_request_ref = ?",
                     DB_ARGS(DBI(item_id), DBI(tenant_id), DBS(request_ref)), NULL, NULL);
    if (rc || !approve) {
        json_object_put(refs);
        return rc;
    }

    /* apply the approved change */
    char ev2[EVIDENCE_REF_MAX] = "";
    d = json_object_new_object();
    put_str(d, "request_ref", request_ref);
    if (!strcmp(action, "legal_hold_place")) {
        char hold_ref[REF_MAX];
        rc = ref_new("legal-hold", hold_ref);
        put_str(d, "legal_hold_ref", hold_ref);
        if (!rc) rc = auth_evidence(db, decider, "retention.legal_hold_placed", object_ref, "success", request_id, d, ev2);
        if (!rc)
            rc = db_exec(db, "UPDATE retention_items SET legal_hold_ref = ? WHERE id = ? AND tenant_id = ?",
                         DB_ARGS(DBS(hold_ref), DBI(item_id), DBI(tenant_id)), NULL, NULL);
    } else if (!strcmp(action, "legal_hold_release")) {
        put_str(d, "legal_hold_ref", hold);
        rc = auth_evidence(db, decider, "retention.legal_hold_released", object_ref, "success", request_id, d, ev2);
        if (!rc)
            rc = db_exec(db, "UPDATE retention_items SET legal_hold_ref = NULL WHERE id = ? AND tenant_id = ?",
                         DB_ARGS(DBI(item_id), DBI(tenant_id)), NULL, NULL);
    } else {
        char tref[REF_MAX], reason_digest[SHA256_HEX_LEN + 1];
        rc = ref_new("tombstone", tref);
        sha256_hex(reason, strlen(reason), reason_digest);
        put_str(d, "tombstone_ref", tref);
        put_str(d, "report_id", report_id);
        put_str(d, "format", format);
        put_str(d, "digest", digest);
        json_object_object_add(d, "size", json_object_new_int64(size));
        put_str(d, "reason_sha256", reason_digest);
        if (!rc) rc = auth_evidence(db, decider, "retention.deleted", object_ref, "success", request_id, d, ev2);
        if (!rc) {
            json_object_array_add(refs, json_object_new_string(ev2));
            rc = db_exec(db,
                         "INSERT INTO retention_tombstones (ref, tenant_id, item_id, object_kind, object_ref, "
                         "report_id, format, digest, size, reason, request_ref, evidence_refs, deleted_at) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         DB_ARGS(DBS(tref), DBI(tenant_id), DBI(item_id), DBS(kind), DBS(object_ref),
                                 DBS(report_id), DBS(format), DBS(digest), DBI(size), DBS(reason), DBS(request_ref),
                                 DBS(json_object_to_json_string(refs)), DBS(now)),
                         NULL, NULL);
        }
        if (!rc)
            rc = db_exec(db,
                         "UPDATE retention_items SET state = 'deleted', deleted_at = ? WHERE id = ? AND tenant_id = ?",
                         DB_ARGS(DBS(now), DBI(item_id), DBI(tenant_id)), NULL, NULL);
    }
    json_object_put(d);
    json_object_put(refs);
    if (!rc) rc = append_request_evidence(db, tenant_id, rid, ev2);
    return rc;
}

int retention_request_json(db_t *db, const actor_t *a, const char *request_ref, json_object **out) {
    *out = NULL;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT r.ref, r.action, i.object_ref, r.state, r.requested_by_ref, r.decided_by_ref, "
                      "r.created_at, r.expires_at, r.decided_at, r.evidence_refs, r.approval_ref "
                      "FROM retention_requests r JOIN retention_items i ON i.id = r.item_id AND i.tenant_id = r.tenant_id "
                      "WHERE r.tenant_id = ? AND r.ref = ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(request_ref)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        json_object *o = json_object_new_object();
        put_str(o, "request_ref", db_res_str(res, 0));
        put_str(o, "action", db_res_str(res, 1));
        put_str(o, "object_ref", db_res_str(res, 2));
        put_str(o, "state", db_res_str(res, 3));
        put_str(o, "requested_by", db_res_str(res, 4));
        put_str(o, "decided_by", db_res_isnull(res, 5) ? NULL : db_res_str(res, 5));
        json_object_object_add(o, "created_at", ts_json(db_res_str(res, 6)));
        json_object_object_add(o, "expires_at", ts_json(db_res_str(res, 7)));
        json_object_object_add(o, "decided_at", ts_json(db_res_str(res, 8)));
        json_object *refs = json_tokener_parse(db_res_str(res, 9)), *pub = json_object_new_array();
        for (size_t i = 0; refs && i < json_object_array_length(refs); i++) {
            json_object *p = public_ev(json_object_get_string(json_object_array_get_idx(refs, i)));
            if (p) json_object_array_add(pub, p);
        }
        json_object_put(refs);
        json_object_object_add(o, "evidence_refs", pub);
        /* decided in the approvals inbox / API (reports/approvals.c) */
        const char *aref = db_res_isnull(res, 10) ? NULL : db_res_str(res, 10);
        put_str(o, "approval_ref", aref);
        char url[160];
        snprintf(url, sizeof url, "/enterprise/aispm/reports/approvals/%s/decision", aref ? aref : "");
        put_str(o, "decision_url", aref ? url : NULL);
        *out = o;
    }
    db_res_free(res);
    return *out ? 0 : AISPM_ENOTFOUND;
}

int retention_requests_list(db_t *db, const actor_t *a, bool pending_only, json_object **out) {
    *out = NULL;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT r.ref, i.report_id FROM retention_requests r JOIN retention_items i ON i.id = r.item_id "
                      "AND i.tenant_id = r.tenant_id WHERE r.tenant_id = ? AND (? = 0 OR r.state = 'pending') "
                      "ORDER BY r.id DESC LIMIT 50",
                      DB_ARGS(DBI(a->tenant_id), DBI(pending_only)), &res);
    if (rc) return rc;
    char refs[50][REF_MAX];
    int n = 0;
    while (db_res_next(res) && n < 50)
        if (retention_role_may_see(a->role, db_res_str(res, 1))) snprintf(refs[n++], REF_MAX, "%s", db_res_str(res, 0));
    db_res_free(res);
    json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++) {
        json_object *o;
        rc = retention_request_json(db, a, refs[i], &o);
        if (rc) {
            json_object_put(arr);
            return rc;
        }
        json_object_array_add(arr, o);
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "requests", arr);
    return 0;
}

int retention_revoke(db_t *db, const actor_t *a, const char *object_ref, const char *request_id) {
    char now[RFC3339_MAX];
    now_sql(now);
    int rc = db_begin(db);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT id, state, revoked_at IS NOT NULL FROM retention_items WHERE tenant_id = ? AND "
                  "object_ref = ? FOR UPDATE",
                  DB_ARGS(DBI(a->tenant_id), DBS(object_ref ? object_ref : "")), &res);
    if (rc) goto fail;
    if (!db_res_next(res)) {
        db_res_free(res);
        rc = AISPM_ENOTFOUND;
        goto fail;
    }
    long long id = db_res_int(res, 0);
    bool gone = !strcmp(db_res_str(res, 1), "deleted") || db_res_int(res, 2);
    db_res_free(res);
    if (gone) {
        rc = AISPM_ECONFLICT;
        goto fail;
    }
    rc = db_exec(db, "UPDATE retention_items SET revoked_at = ? WHERE id = ? AND tenant_id = ?",
                 DB_ARGS(DBS(now), DBI(id), DBI(a->tenant_id)), NULL, NULL);
    if (!rc) rc = auth_evidence(db, a, "retention.revoked", object_ref, "success", request_id, NULL, NULL);
    if (rc) goto fail;
    return db_commit(db);
fail:
    db_rollback(db);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* sweep                                                                     */

int retention_purge(db_t *db, const config_t *cfg, long long tenant_id, int *purged) {
    int n = 0;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT id, tenant_id, storage_path FROM retention_items WHERE state = 'deleted' AND "
                      "storage_path IS NOT NULL AND (? = 0 OR tenant_id = ?) ORDER BY id LIMIT 200",
                      DB_ARGS(DBI(tenant_id), DBI(tenant_id)), &res);
    if (rc) return rc;
    struct {
        long long id, tenant;
        char path[1025];
    } *rows = NULL;
    size_t nrows = 0;
    while (db_res_next(res)) {
        rows = realloc(rows, (nrows + 1) * sizeof *rows);
        if (!rows) abort();
        rows[nrows].id = db_res_int(res, 0);
        rows[nrows].tenant = db_res_int(res, 1);
        snprintf(rows[nrows].path, sizeof rows[nrows].path, "%s", db_res_str(res, 2));
        nrows++;
    }
    db_res_free(res);
    for (size_t i = 0; !rc && i < nrows; i++) {
        long long shared = 0;
        rc = db_query(db,
                      "SELECT COUNT(*) FROM retention_items WHERE tenant_id = ? AND storage_path = ? AND "
                      "state <> 'deleted'",
                      DB_ARGS(DBI(rows[i].tenant), DBS(rows[i].path)), &res);
        if (rc) break;
        if (db_res_next(res)) shared = db_res_int(res, 0);
        db_res_free(res);
        if (!shared && !strstr(rows[i].path, "..") && rows[i].path[0] != '/') {
            char full[2200];
            snprintf(full, sizeof full, "%s/%s", cfg->artifacts_dir, rows[i].path);
            if (unlink(full) != 0 && errno != ENOENT) {
                log_msg(LOG_ERROR, "retention_purge", "could not remove a deleted item's content: %s",
                        strerror(errno));
                continue;
            }
        }
        rc = db_exec(db, "UPDATE retention_items SET storage_path = NULL WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBI(rows[i].id), DBI(rows[i].tenant)), NULL, NULL);
        if (!rc) n++;
    }
    free(rows);
    if (purged) *purged = n;
    return rc;
}

typedef struct {
    long long id, tenant_id;
    char tenant_ref[REF_MAX], ref[65];
} sweep_row_t;

/* rows of a sweep query: (id, tenant_id, tenant_ref, ref) */
static int sweep_rows(db_t *db, const char *sql, const dbv *args, int nargs, sweep_row_t **out, size_t *n) {
    db_res_t *res;
    *out = NULL;
    *n = 0;
    int rc = db_query(db, sql, args, nargs, &res);
    if (rc) return rc;
    while (db_res_next(res)) {
        *out = realloc(*out, (*n + 1) * sizeof **out);
        if (!*out) abort();
        sweep_row_t *r = &(*out)[(*n)++];
        r->id = db_res_int(res, 0);
        r->tenant_id = db_res_int(res, 1);
        snprintf(r->tenant_ref, sizeof r->tenant_ref, "%s", db_res_str(res, 2));
        snprintf(r->ref, sizeof r->ref, "%s", db_res_str(res, 3));
    }
    db_res_free(res);
    return 0;
}

static int archive_one(db_t *db, const sweep_row_t *r, const char *now, bool *archived) {
    *archived = false;
    int rc = db_begin(db);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT report_id, format, digest, retention_class, expires_at FROM retention_items WHERE id = ? "
                  "AND tenant_id = ? AND state = 'retained' AND legal_hold_ref IS NULL AND expires_at <= ? FOR UPDATE",
                  DB_ARGS(DBI(r->id), DBI(r->tenant_id), DBS(now)), &res);
    if (rc) goto fail;
    if (!db_res_next(res)) { /* held or changed meanwhile */
        db_res_free(res);
        db_rollback(db);
        return 0;
    }
    json_object *d = json_object_new_object();
    put_str(d, "report_id", db_res_str(res, 0));
    put_str(d, "format", db_res_str(res, 1));
    put_str(d, "digest", db_res_str(res, 2));
    put_str(d, "retention_class", db_res_str(res, 3));
    json_object_object_add(d, "expires_at", ts_json(db_res_str(res, 4)));
    json_object_object_add(d, "swept_at", ts_json(now));
    db_res_free(res);
    rc = db_exec(db, "UPDATE retention_items SET state = 'archived', archived_at = ? WHERE id = ? AND tenant_id = ?",
                 DB_ARGS(DBS(now), DBI(r->id), DBI(r->tenant_id)), NULL, NULL);
    if (!rc) {
        evidence_event_t ev = {.tenant_id = r->tenant_id,
                               .tenant_ref = r->tenant_ref,
                               .actor_ref = "system",
                               .action = "retention.archived",
                               .object_ref = r->ref,
                               .outcome = "success",
                               .details = d};
        rc = evidence_append(db, &ev, NULL);
    }
    json_object_put(d);
    if (rc) goto fail;
    rc = db_commit(db);
    *archived = rc == 0;
    return rc;
fail:
    db_rollback(db);
    return rc;
}

int retention_sweep(db_t *db, const config_t *cfg, long long tenant_id, int64_t at_ms, retention_sweep_stats_t *st) {
    retention_sweep_stats_t s = {0};
    char now[RFC3339_MAX];
    sql_datetime_format(at_ms, now);
    sweep_row_t *rows;
    size_t n;
    /* 1. requests nobody decided in time: their approval expires (the job
     * worker does this at the real due time; a sweep run with --now ahead
     * does it here), and its handler resolves the request as expired */
    int rc = sweep_rows(db,
                        "SELECT r.id, r.tenant_id, t.ref, r.approval_ref FROM retention_requests r JOIN tenants t ON "
                        "t.id = r.tenant_id WHERE r.state = 'pending' AND r.expires_at <= ? AND r.approval_ref IS NOT "
                        "NULL AND (? = 0 OR r.tenant_id = ?) ORDER BY r.id LIMIT 500",
                        DB_ARGS(DBS(now), DBI(tenant_id), DBI(tenant_id)), &rows, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = approvals_expire_one(db, rows[i].tenant_id, rows[i].ref);
        if (!rc) s.requests_expired++;
    }
    free(rows);
    /* 2. archive what expired, unless on legal hold */
    while (!rc) {
        rc = sweep_rows(db,
                        "SELECT i.id, i.tenant_id, t.ref, i.object_ref FROM retention_items i JOIN tenants t ON "
                        "t.id = i.tenant_id WHERE i.state = 'retained' AND i.legal_hold_ref IS NULL AND "
                        "i.expires_at <= ? AND (? = 0 OR i.tenant_id = ?) ORDER BY i.id LIMIT 500",
                        DB_ARGS(DBS(now), DBI(tenant_id), DBI(tenant_id)), &rows, &n);
        int done = 0;
        for (size_t i = 0; !rc && i < n; i++) {
            bool a;
            rc = archive_one(db, &rows[i], now, &a);
            done += a;
        }
        free(rows);
        s.archived += done;
        if (n < SWEEP_BATCH || !done) break;
    }
    if (!rc) {
        db_res_t *res;
        rc = db_query(db,
                      "SELECT COUNT(*) FROM retention_items WHERE state = 'retained' AND legal_hold_ref IS NOT NULL "
                      "AND expires_at <= ? AND (? = 0 OR tenant_id = ?)",
                      DB_ARGS(DBS(now), DBI(tenant_id), DBI(tenant_id)), &res);
        if (!rc) {
            if (db_res_next(res)) s.held_skipped = (int)db_res_int(res, 0);
            db_res_free(res);
        }
    }
    /* 3. content of deleted items */
    if (!rc) rc = retention_purge(db, cfg, tenant_id, &s.purged);
    if (st) *st = s;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* projections                                                               */

json_object *retention_store_ref(const char *object_ref) {
    char s[160];
    snprintf(s, sizeof s, "enterprise-private://immutable-store/%s", object_ref);
    return json_object_new_string(s);
}

int retention_lifecycle_projection(db_t *db, const actor_t *a, json_object **out) {
    *out = NULL;
    char now[RFC3339_MAX], gen[RFC3339_MAX], tenant_ulid[ULID_LEN + 1] = "";
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    rfc3339_format(t, 0, gen);
    ref_parse(a->tenant_ref, "tenant", NULL, tenant_ulid);
    retention_class_t rep, aud;
    int rc = retention_class_resolve(db, a->tenant_id, RETENTION_KIND_ARTIFACT, &rep);
    if (!rc) rc = retention_class_resolve(db, a->tenant_id, RETENTION_KIND_AUDIT_EXPORT, &aud);
    if (rc) return rc;

    db_res_t *res;
    rc = db_query(db,
                  "SELECT object_ref, report_id, created_at, expires_at, state, legal_hold_ref, "
                  "pending_request_ref IS NOT NULL, expires_at <= ?, evidence_ref, object_kind FROM retention_items "
                  "WHERE tenant_id = ? ORDER BY id DESC LIMIT 100",
                  DB_ARGS(DBS(now), DBI(a->tenant_id)), &res);
    if (rc) return rc;
    json_object *items = json_object_new_array(), *created_refs = json_object_new_array(), *audit_export = NULL;
    while (db_res_next(res)) {
        if (!retention_role_may_see(a->role, db_res_str(res, 1))) continue;
        bool held = !db_res_isnull(res, 5);
        const char *lc = retention_lifecycle_state(db_res_str(res, 4), held, db_res_int(res, 6), db_res_int(res, 7));
        if (!strcmp(db_res_str(res, 9), RETENTION_KIND_AUDIT_EXPORT)) {
            if (!audit_export) {
                audit_export = json_object_new_object();
                put_str(audit_export, "export_ref", db_res_str(res, 0));
                json_object_object_add(audit_export, "created_at", ts_json(db_res_str(res, 2)));
                json_object_object_add(audit_export, "expires_at", ts_json(db_res_str(res, 3)));
                put_str(audit_export, "archive_state",
                        held ? "legal_hold" : !strcmp(lc, "archived") ? "archived"
                                          : !strcmp(lc, "expired") ? "expired" : "pending");
            }
            continue;
        }
        json_object *e = json_object_new_object();
        put_str(e, "report_ref", db_res_str(res, 0));
        put_str(e, "report_id", db_res_str(res, 1));
        json_object_object_add(e, "created_at", ts_json(db_res_str(res, 2)));
        json_object_object_add(e, "expires_at", ts_json(db_res_str(res, 3)));
        put_str(e, "lifecycle_state", lc);
        json_object_object_add(e, "immutable_store_ref", retention_store_ref(db_res_str(res, 0)));
        put_str(e, "legal_hold_ref", held ? db_res_str(res, 5) : NULL);
        json_object_array_add(items, e);
        json_object *p = public_ev(db_res_str(res, 8));
        if (p && json_object_array_length(created_refs) < 20) json_object_array_add(created_refs, p);
        else json_object_put(p);
    }
    db_res_free(res);
    if (!json_object_array_length(items)) {
        json_object_put(items);
        json_object_put(created_refs);
        json_object_put(audit_export);
        return AISPM_ENOTFOUND;
    }
    /* retention evidence: the tenant's newest retention.* events, else the
     * creation evidence of the items listed */
    json_object *ev_refs = json_object_new_array();
    rc = db_query(db,
                  "SELECT ulid FROM evidence_events WHERE tenant_id = ? AND action LIKE 'retention.%' "
                  "ORDER BY id DESC LIMIT 20",
                  DB_ARGS(DBI(a->tenant_id)), &res);
    if (!rc) {
        while (db_res_next(res)) {
            char pub[EVIDENCE_REF_MAX];
            snprintf(pub, sizeof pub, "cavra://evidence/redacted/%s", db_res_str(res, 0));
            json_object_array_add(ev_refs, json_object_new_string(pub));
        }
        db_res_free(res);
    }
    if (!json_object_array_length(ev_refs)) {
        json_object_put(ev_refs);
        ev_refs = created_refs;
    } else {
        json_object_put(created_refs);
    }
    if (!audit_export) {
        /* no delivery audit export yet: the evidence chain is the audit store */
        char eref[64], first[RFC3339_MAX] = "";
        snprintf(eref, sizeof eref, "evidence-chain:%s", tenant_ulid);
        if (!db_query(db, "SELECT MIN(created_at) FROM evidence_events WHERE tenant_id = ?",
                      DB_ARGS(DBI(a->tenant_id)), &res)) {
            if (db_res_next(res)) snprintf(first, sizeof first, "%s", db_res_str(res, 0));
            db_res_free(res);
        }
        int64_t c = t;
        if (*first) sql_datetime_parse(first, &c);
        char cs[RFC3339_MAX], es[RFC3339_MAX];
        rfc3339_format(c, 0, cs);
        rfc3339_format(c + (int64_t)aud.days * DAY_MS, 0, es);
        audit_export = json_object_new_object();
        put_str(audit_export, "export_ref", eref);
        put_str(audit_export, "created_at", cs);
        put_str(audit_export, "expires_at", es);
        put_str(audit_export, "archive_state", c + (int64_t)aud.days * DAY_MS <= t ? "expired" : "pending");
    }
    /* evidence tables refuse UPDATE and DELETE (triggers): an object lock */
    put_str(audit_export, "object_lock", "enabled");
    put_str(audit_export, "kms_key_ref", "enterprise-private://kms/evidence-signing-key");

    json_object *o = json_object_new_object();
    put_str(o, "schema_version", "cavra.aispm.report_retention_lifecycle.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_str(o, "generated_at", gen);
    put_str(o, "tenant_ref", a->tenant_ref);
    json_object *pol = json_object_new_object();
    put_str(pol, "policy_id", rep.name);
    json_object_object_add(pol, "default_retention_days", json_object_new_int(rep.days));
    json_object_object_add(pol, "audit_event_retention_days", json_object_new_int(aud.days));
    json_object_object_add(pol, "immutable_storage_required", json_object_new_boolean(true));
    json_object_object_add(pol, "legal_hold_supported", json_object_new_boolean(true));
    json_object_object_add(pol, "deletion_requires_approval", json_object_new_boolean(true));
    json_object_object_add(o, "policy", pol);
    json_object_object_add(o, "report_lifecycle", items);
    json_object_object_add(o, "audit_export_lifecycle", audit_export);
    json_object *dp = json_object_new_object(), *al = json_object_new_array(), *bl = json_object_new_array();
    json_object_array_add(al, json_object_new_string("expired"));
    json_object_array_add(al, json_object_new_string("archived"));
    json_object_array_add(bl, json_object_new_string("retained"));
    json_object_array_add(bl, json_object_new_string("legal_hold"));
    json_object_array_add(bl, json_object_new_string("pending_approval"));
    json_object_object_add(dp, "allowed_states", al);
    json_object_object_add(dp, "blocked_states", bl);
    json_object_object_add(dp, "approval_required", json_object_new_boolean(true));
    json_object_object_add(dp, "tombstone_required", json_object_new_boolean(true));
    json_object_object_add(o, "deletion_policy", dp);
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "retention_evidence_refs", ev_refs);
    char mref[96], cref[96];
    snprintf(mref, sizeof mref, "enterprise-private://archive-manifest/%s", tenant_ulid);
    snprintf(cref, sizeof cref, "enterprise-private://evidence-chain/%s", tenant_ulid);
    put_str(ev, "archive_manifest_ref", mref);
    put_str(ev, "chain_ref", cref);
    json_object_object_add(o, "evidence", ev);
    json_object *red = json_object_new_object();
    json_object_object_add(red, "raw_report_content_included", json_object_new_boolean(false));
    json_object_object_add(red, "recipient_addresses_included", json_object_new_boolean(false));
    json_object_object_add(red, "customer_records_included", json_object_new_boolean(false));
    json_object_object_add(red, "secrets_included", json_object_new_boolean(false));
    put_str(red, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", red);
    json_object *eb = json_object_new_object();
    const char *bounds[] = {"retention_worker",           "legal_hold_store", "immutable_archive", "kms_integration",
                            "deletion_approval_workflow", "license_enforcement"};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) put_str(eb, bounds[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
    *out = o;
    return 0;
}

int retention_item_json(db_t *db, const actor_t *a, const char *object_ref, json_object **out) {
    *out = NULL;
    char now[RFC3339_MAX];
    now_sql(now);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT i.object_ref, i.object_kind, i.report_id, i.format, i.title, i.digest, i.size, "
                      "i.retention_class, i.created_at, i.expires_at, i.state, i.legal_hold_ref, "
                      "i.pending_request_ref, i.expires_at <= ?, i.archived_at, i.deleted_at, i.revoked_at, "
                      "t.ref, t.digest, t.reason, t.request_ref, t.evidence_refs, t.deleted_at, i.evidence_ref "
                      "FROM retention_items i LEFT JOIN retention_tombstones t ON t.item_id = i.id AND "
                      "t.tenant_id = i.tenant_id WHERE i.tenant_id = ? AND i.object_ref = ?",
                      DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(object_ref ? object_ref : "")), &res);
    if (rc) return rc;
    if (!db_res_next(res) || !retention_role_may_see(a->role, db_res_str(res, 2))) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    json_object *o = json_object_new_object();
    bool held = !db_res_isnull(res, 11), pending = !db_res_isnull(res, 12);
    put_str(o, "object_ref", db_res_str(res, 0));
    put_str(o, "object_kind", db_res_str(res, 1));
    put_str(o, "report_id", db_res_str(res, 2));
    put_str(o, "format", db_res_str(res, 3));
    put_str(o, "title", db_res_str(res, 4));
    put_str(o, "digest", db_res_str(res, 5));
    json_object_object_add(o, "size", json_object_new_int64(db_res_int(res, 6)));
    put_str(o, "retention_class", db_res_str(res, 7));
    json_object_object_add(o, "created_at", ts_json(db_res_str(res, 8)));
    json_object_object_add(o, "expires_at", ts_json(db_res_str(res, 9)));
    put_str(o, "lifecycle_state",
            retention_lifecycle_state(db_res_str(res, 10), held, pending, db_res_int(res, 13)));
    put_str(o, "legal_hold_ref", held ? db_res_str(res, 11) : NULL);
    put_str(o, "pending_request_ref", pending ? db_res_str(res, 12) : NULL);
    json_object_object_add(o, "archived_at", ts_json(db_res_str(res, 14)));
    json_object_object_add(o, "deleted_at", ts_json(db_res_str(res, 15)));
    json_object_object_add(o, "revoked", json_object_new_boolean(!db_res_isnull(res, 16)));
    json_object_object_add(o, "evidence_ref", public_ev(db_res_str(res, 23)));
    if (!db_res_isnull(res, 17)) {
        json_object *t = json_object_new_object();
        char rd[SHA256_HEX_LEN + 1];
        const char *reason = db_res_str(res, 19);
        sha256_hex(reason, strlen(reason), rd);
        put_str(t, "tombstone_ref", db_res_str(res, 17));
        put_str(t, "digest", db_res_str(res, 18));
        put_str(t, "digest_algorithm", "sha256");
        put_str(t, "reason", reason);
        put_str(t, "reason_sha256", rd);
        put_str(t, "request_ref", db_res_str(res, 20));
        json_object *refs = json_tokener_parse(db_res_str(res, 21)), *pub = json_object_new_array();
        for (size_t i = 0; refs && i < json_object_array_length(refs); i++) {
            json_object *p = public_ev(json_object_get_string(json_object_array_get_idx(refs, i)));
            if (p) json_object_array_add(pub, p);
        }
        json_object_put(refs);
        json_object_object_add(t, "evidence_refs", pub);
        json_object_object_add(t, "deleted_at", ts_json(db_res_str(res, 22)));
        json_object_object_add(o, "tombstone", t);
    } else {
        json_object_object_add(o, "tombstone", NULL);
    }
    db_res_free(res);
    retention_verdict_t v;
    rc = retention_check_retrievable(db, a, object_ref, &v);
    if (rc) {
        json_object_put(o);
        return rc;
    }
    json_object_object_add(o, "retrievable", json_object_new_boolean(v.status == 200));
    put_str(o, "not_retrievable_reason", v.status == 200 ? NULL : v.code);
    *out = o;
    return 0;
}
