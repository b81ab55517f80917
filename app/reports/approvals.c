/*
 * approvals.c: approval requests, decisions, expiry and the handler table
 * (see approvals.h).
 *
 * Invariants:
 *  - the four-eyes rule and the approver-role rule are checked here, under
 *    the row lock of the request (SELECT ... FOR UPDATE), so two deciders
 *    racing cannot both decide;
 *  - a request's digest, evidence ref and payload are written once; a
 *    decision's digest and evidence are written once (state pending -> x);
 *  - the decision reason and the payload are private columns: the
 *    projection and the evidence carry codes, refs and digests only.
 */
#include "reports/approvals.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/evidence.h"
#include "core/cursor.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"

#define DEFAULT_DUE_MS (72LL * 3600 * 1000)
#define DEFAULT_VALIDITY_MS (7LL * 24 * 3600 * 1000)
#define RETENTION_DUE_MS (7LL * 24 * 3600 * 1000)

/* The request types. To add one (e.g. a retention legal hold), add a row:
 * name, the public contract's request_type, default risk and due time. */
static const struct {
    const char *name;
    const char *public_name;
    const char *risk;
    int64_t due_ms;
} types[] = {
    {APPROVAL_REPORT_SEND, "report_send", "medium", DEFAULT_DUE_MS},
    {APPROVAL_SCHEDULE_CHANGE, "schedule_change", "medium", DEFAULT_DUE_MS},
    {APPROVAL_NEW_DOMAIN, "new_recipient_domain", "high", DEFAULT_DUE_MS},
    {APPROVAL_RECIPIENT_GROUP_CHANGE, "recipient_group_change", "medium", DEFAULT_DUE_MS},
    {APPROVAL_EXTERNAL_DELIVERY_EXCEPTION, "external_delivery_exception", "high", DEFAULT_DUE_MS},
    /* granting an outside address access to shared evidence is an exception
     * to the delivery policy; the contract has no narrower request type */
    {APPROVAL_AUDITOR_INVITATION, "external_delivery_exception", "high", DEFAULT_DUE_MS},
    /* retention: due when the retention request expires (7 days) */
    {APPROVAL_RETENTION_HOLD_PLACE, "external_delivery_exception", "medium", RETENTION_DUE_MS},
    {APPROVAL_RETENTION_HOLD_RELEASE, "external_delivery_exception", "high", RETENTION_DUE_MS},
    {APPROVAL_RETENTION_DELETE, "external_delivery_exception", "critical", RETENTION_DUE_MS},
};
#define NTYPES ((int)(sizeof types / sizeof types[0]))
static approval_handler_fn handlers[NTYPES];

static int type_index(const char *t) {
    for (int i = 0; t && i < NTYPES; i++)
        if (!strcmp(types[i].name, t)) return i;
    return -1;
}

bool approvals_type_valid(const char *type) { return type_index(type) >= 0; }

int approvals_register_handler(const char *type, approval_handler_fn fn) {
    int i = type_index(type);
    if (i < 0) return AISPM_EINVAL;
    handlers[i] = fn;
    return 0;
}

static void put_s(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void digest_of(json_object *o, char out[SHA256_HEX_LEN + 1]) {
    buf_t b = BUF_INIT;
    jcs_serialize(o, &b);
    sha256_hex(b.data ? b.data : "", b.len, out);
    buf_free(&b);
}

static bool risk_valid(const char *r) {
    return r && (!strcmp(r, "low") || !strcmp(r, "medium") || !strcmp(r, "high") || !strcmp(r, "critical"));
}

static bool code_valid(const char *s, size_t max) {
    if (!s || !*s || strlen(s) > max) return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '-')) return false;
    return true;
}

int approvals_request(db_t *db, long long tenant_id, const char *tenant_ref, const char *requester_ref,
                      long long requester_user_id, const approval_request_t *req, const char *request_id,
                      char ref_out[REF_MAX]) {
    int ti = type_index(req->type);
    if (ti < 0 || !req->subject_kind || !req->subject_ref || !code_valid(req->reason_code, 64)) return AISPM_EINVAL;
    const char *risk = req->risk_level ? req->risk_level : types[ti].risk;
    if (!risk_valid(risk)) return AISPM_EINVAL;
    const char *role = req->approver_role && *req->approver_role ? req->approver_role : "approver";
    int64_t now = now_ms(), due = req->due_at_ms ? req->due_at_ms : now + types[ti].due_ms;
    char ref[REF_MAX], now_s[RFC3339_MAX], due_s[RFC3339_MAX], now_sql[RFC3339_MAX], due_sql[RFC3339_MAX];
    ref_new("approval", ref);
    rfc3339_format(now, 1, now_s);
    rfc3339_format(due, 1, due_s);
    sql_datetime_format(now, now_sql);
    sql_datetime_format(due, due_sql);
    /* the requester's role (for the public projection, which names roles, not people) */
    char req_role[33] = "";
    if (requester_user_id) {
        db_res_t *res;
        if (!db_query(db, "SELECT role FROM users WHERE id = ? AND tenant_id = ?",
                      DB_ARGS(DBI(requester_user_id), DBI(tenant_id)), &res)) {
            if (db_res_next(res)) snprintf(req_role, sizeof req_role, "%s", db_res_str(res, 0));
            db_res_free(res);
        }
    }
    json_object *payload = req->payload ? json_object_get(req->payload) : json_object_new_object();
    char payload_digest[SHA256_HEX_LEN + 1], digest[SHA256_HEX_LEN + 1];
    digest_of(payload, payload_digest);
    json_object *canon = json_object_new_object();
    put_s(canon, "approval_ref", ref);
    put_s(canon, "type", req->type);
    put_s(canon, "subject_kind", req->subject_kind);
    put_s(canon, "subject_ref", req->subject_ref);
    put_s(canon, "approver_role", role);
    put_s(canon, "requested_by", requester_ref);
    put_s(canon, "requested_at", now_s);
    put_s(canon, "due_at", due_s);
    put_s(canon, "risk_level", risk);
    put_s(canon, "reason_code", req->reason_code);
    put_s(canon, "payload_digest", payload_digest);
    if (req->public_subject) json_object_object_add(canon, "subject", json_object_get(req->public_subject));
    digest_of(canon, digest);
    json_object_put(canon);
    json_object *det = json_object_new_object();
    put_s(det, "type", req->type);
    put_s(det, "subject_ref", req->subject_ref);
    put_s(det, "approver_role", role);
    put_s(det, "risk_level", risk);
    put_s(det, "reason_code", req->reason_code);
    put_s(det, "request_digest", digest);
    put_s(det, "due_at", due_s);
    evidence_event_t ev = {.tenant_id = tenant_id,
                           .tenant_ref = tenant_ref,
                           .actor_ref = requester_ref,
                           .actor_role = req_role[0] ? req_role : NULL,
                           .action = "approval.requested",
                           .object_ref = ref,
                           .outcome = "pending",
                           .request_id = request_id,
                           .details = det};
    char evref[EVIDENCE_REF_MAX];
    int rc = evidence_append(db, &ev, evref);
    json_object_put(det);
    json_object *subj = req->public_subject ? json_object_get(req->public_subject) : json_object_new_object();
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO approval_requests (ref, tenant_id, type, subject_kind, subject_ref, approver_role, "
                     "requested_by, requested_by_user, requested_by_role, requested_at, due_at, risk_level, "
                     "reason_code, public_subject, policy_ref, schedule_ref, payload, request_digest, "
                     "request_evidence_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(ref), DBI(tenant_id), DBS(req->type), DBS(req->subject_kind), DBS(req->subject_ref),
                             DBS(role), DBS(requester_ref), requester_user_id ? DBI(requester_user_id) : DBNULL,
                             DBS(req_role[0] ? req_role : NULL), DBS(now_sql), DBS(due_sql), DBS(risk),
                             DBS(req->reason_code), DBS(json_object_to_json_string(subj)), DBS(req->policy_ref),
                             DBS(req->schedule_ref), DBS(json_object_to_json_string(payload)), DBS(digest),
                             DBS(evref)),
                     NULL, NULL);
    json_object_put(subj);
    json_object_put(payload);
    if (!rc) snprintf(ref_out, REF_MAX, "%s", ref);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* loading a request (under lock when for_update)                            */

typedef struct {
    approval_t pub;
    char state[16], approver_role[33], requested_by[81], requested_at[RFC3339_MAX], due_at[RFC3339_MAX];
    long long requested_by_user;
    int64_t due_ms;
} row_t;

static int load_row(db_t *db, long long tenant_id, const char *ref, bool for_update, row_t *r) {
    db_res_t *res;
    int rc = for_update
                 ? db_query(db,
                            "SELECT a.id, a.type, a.subject_kind, a.subject_ref, a.payload, a.state, a.approver_role, "
                            "a.requested_by, COALESCE(a.requested_by_user, 0), a.due_at, t.ref FROM approval_requests "
                            "a JOIN tenants t ON t.id = a.tenant_id WHERE a.tenant_id = ? AND a.ref = ? FOR UPDATE",
                            DB_ARGS(DBI(tenant_id), DBS(ref)), &res)
                 : db_query(db,
                            "SELECT a.id, a.type, a.subject_kind, a.subject_ref, a.payload, a.state, a.approver_role, "
                            "a.requested_by, COALESCE(a.requested_by_user, 0), a.due_at, t.ref FROM approval_requests "
                            "a JOIN tenants t ON t.id = a.tenant_id WHERE a.tenant_id = ? AND a.ref = ?",
                            DB_ARGS(DBI(tenant_id), DBS(ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    memset(r, 0, sizeof *r);
    r->pub.id = db_res_int(res, 0);
    r->pub.tenant_id = tenant_id;
    snprintf(r->pub.ref, sizeof r->pub.ref, "%s", ref);
    snprintf(r->pub.type, sizeof r->pub.type, "%s", db_res_str(res, 1));
    snprintf(r->pub.subject_kind, sizeof r->pub.subject_kind, "%s", db_res_str(res, 2));
    snprintf(r->pub.subject_ref, sizeof r->pub.subject_ref, "%s", db_res_str(res, 3));
    r->pub.payload = json_tokener_parse(db_res_str(res, 4));
    snprintf(r->state, sizeof r->state, "%s", db_res_str(res, 5));
    snprintf(r->approver_role, sizeof r->approver_role, "%s", db_res_str(res, 6));
    snprintf(r->requested_by, sizeof r->requested_by, "%s", db_res_str(res, 7));
    r->requested_by_user = db_res_int(res, 8);
    sql_datetime_parse(db_res_str(res, 9), &r->due_ms);
    snprintf(r->pub.tenant_ref, sizeof r->pub.tenant_ref, "%s", db_res_str(res, 10));
    db_res_free(res);
    return 0;
}

static void row_free(row_t *r) {
    json_object_put(r->pub.payload);
    r->pub.payload = NULL;
}

static int run_handler(db_t *db, approval_t *a, approval_outcome_t outcome, const char *request_id) {
    int i = type_index(a->type);
    if (i < 0 || !handlers[i]) return 0;
    return handlers[i](db, a, outcome, request_id);
}

/* pending -> expired, evidence, handler; inside the caller's transaction */
static int expire_locked(db_t *db, row_t *r, const char *request_id) {
    char now[RFC3339_MAX], ref[REF_MAX + 16], digest[SHA256_HEX_LEN + 1], at[RFC3339_MAX];
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    rfc3339_format(t, 1, at);
    ref_new("approval-decision", ref);
    json_object *canon = json_object_new_object();
    put_s(canon, "approval_ref", r->pub.ref);
    put_s(canon, "decision_ref", ref);
    put_s(canon, "decision", "expired");
    put_s(canon, "decided_at", at);
    digest_of(canon, digest);
    json_object_put(canon);
    json_object *det = json_object_new_object();
    put_s(det, "type", r->pub.type);
    put_s(det, "subject_ref", r->pub.subject_ref);
    put_s(det, "decision_ref", ref);
    put_s(det, "decision_digest", digest);
    evidence_event_t ev = {.tenant_id = r->pub.tenant_id,
                           .tenant_ref = r->pub.tenant_ref,
                           .actor_ref = "system",
                           .action = "approval.expired",
                           .object_ref = r->pub.ref,
                           .outcome = "expired",
                           .request_id = request_id,
                           .details = det};
    int rc = evidence_append(db, &ev, r->pub.evidence_ref);
    json_object_put(det);
    if (!rc)
        rc = db_exec(db,
                     "UPDATE approval_requests SET state = 'expired', decision_ref = ?, decided_by = 'system', "
                     "decided_at = ?, conditions = '[]', decision_digest = ?, decision_evidence_ref = ? WHERE id = ? "
                     "AND tenant_id = ? AND state = 'pending'",
                     DB_ARGS(DBS(ref), DBS(now), DBS(digest), DBS(r->pub.evidence_ref), DBI(r->pub.id),
                             DBI(r->pub.tenant_id)),
                     NULL, NULL);
    r->pub.decided_by_ref = "system";
    if (!rc) rc = run_handler(db, &r->pub, APPROVAL_EXPIRED, request_id);
    return rc;
}

static bool may_decide(const actor_t *a, const char *approver_role) {
    if (!rbac_role_has(a->role, PERM_APPROVALS_DECIDE)) return false;
    return !strcmp(a->role, approver_role) || !strcmp(a->role, "tenant_admin");
}

int approvals_decide(db_t *db, const actor_t *a, const char *approval_ref, const approval_decision_t *d,
                     const char *request_id, const char **code_out, json_object **errors, json_object **out) {
    *code_out = NULL;
    *errors = NULL;
    *out = NULL;
    bool approve = d->decision && !strcmp(d->decision, "approve");
    if (!d->decision || (!approve && strcmp(d->decision, "reject"))) {
        *errors = json_object_new_object();
        json_object_object_add(*errors, "decision", json_object_new_string("must be approve or reject"));
    }
    if (d->reason && (strlen(d->reason) > 1000 || !utf8_valid(d->reason, strlen(d->reason)))) {
        if (!*errors) *errors = json_object_new_object();
        json_object_object_add(*errors, "reason", json_object_new_string("must be at most 1000 characters"));
    } else if (!approve && (!d->reason || !*d->reason)) {
        if (!*errors) *errors = json_object_new_object();
        json_object_object_add(*errors, "reason", json_object_new_string("is required to reject"));
    }
    if (d->conditions) {
        bool ok = json_object_is_type(d->conditions, json_type_array) && json_object_array_length(d->conditions) <= 20;
        for (size_t i = 0; ok && i < json_object_array_length(d->conditions); i++) {
            json_object *c = json_object_array_get_idx(d->conditions, i);
            ok = json_object_is_type(c, json_type_string) && code_valid(json_object_get_string(c), 64);
            for (size_t k = 0; ok && k < i; k++)
                ok = strcmp(json_object_get_string(c),
                            json_object_get_string(json_object_array_get_idx(d->conditions, k))) != 0;
        }
        if (!ok) {
            if (!*errors) *errors = json_object_new_object();
            json_object_object_add(*errors, "conditions",
                                   json_object_new_string("must be up to 20 distinct codes of [a-z0-9_-]"));
        }
    }
    int64_t now = now_ms();
    int64_t exp = d->expires_at_ms ? d->expires_at_ms : now + DEFAULT_VALIDITY_MS;
    if (exp <= now) {
        if (!*errors) *errors = json_object_new_object();
        json_object_object_add(*errors, "expires_at", json_object_new_string("must be in the future"));
    }
    if (*errors) return AISPM_EINVAL;
    int rc = db_begin(db);
    if (rc) return rc;
    row_t r;
    rc = load_row(db, a->tenant_id, approval_ref, true, &r);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    if ((r.requested_by_user && r.requested_by_user == a->user_id) || !strcmp(r.requested_by, a->user_ref)) {
        *code_out = "self_approval_forbidden";
        rc = AISPM_EFORBIDDEN;
    } else if (!may_decide(a, r.approver_role)) {
        *code_out = "not_an_approver";
        rc = AISPM_EFORBIDDEN;
    } else if (strcmp(r.state, "pending")) {
        *code_out = !strcmp(r.state, "expired") ? "approval_expired" : "already_decided";
        rc = AISPM_ECONFLICT;
    } else if (r.due_ms <= now) {
        /* past due: it expires now (committed), and the decision is refused */
        rc = expire_locked(db, &r, request_id);
        if (!rc) rc = db_commit(db);
        else db_rollback(db);
        row_free(&r);
        *code_out = "approval_expired";
        return rc ? rc : AISPM_ECONFLICT;
    }
    if (rc) {
        db_rollback(db);
        row_free(&r);
        return rc;
    }
    /* the decision */
    char dref[REF_MAX + 16], at[RFC3339_MAX], at_sql[RFC3339_MAX], exp_s[RFC3339_MAX], exp_sql[RFC3339_MAX];
    char digest[SHA256_HEX_LEN + 1], reason_digest[SHA256_HEX_LEN + 1];
    ref_new("approval-decision", dref);
    rfc3339_format(now, 1, at);
    sql_datetime_format(now, at_sql);
    rfc3339_format(exp, 1, exp_s);
    sql_datetime_format(exp, exp_sql);
    const char *reason = d->reason ? d->reason : "";
    sha256_hex(reason, strlen(reason), reason_digest);
    json_object *conds = d->conditions ? json_object_get(d->conditions) : json_object_new_array();
    json_object *canon = json_object_new_object();
    put_s(canon, "approval_ref", r.pub.ref);
    put_s(canon, "decision_ref", dref);
    put_s(canon, "decision", approve ? "approved" : "rejected");
    put_s(canon, "decided_by", a->user_ref);
    put_s(canon, "decided_at", at);
    put_s(canon, "expires_at", approve ? exp_s : NULL);
    put_s(canon, "reason_digest", reason_digest);
    json_object_object_add(canon, "conditions", json_object_get(conds));
    digest_of(canon, digest);
    json_object_put(canon);
    json_object *det = json_object_new_object();
    put_s(det, "type", r.pub.type);
    put_s(det, "subject_ref", r.pub.subject_ref);
    put_s(det, "decision_ref", dref);
    put_s(det, "decision_digest", digest);
    json_object_object_add(det, "conditions", json_object_get(conds));
    if (approve) put_s(det, "expires_at", exp_s);
    evidence_event_t ev = {.tenant_id = a->tenant_id,
                           .tenant_ref = a->tenant_ref,
                           .actor_ref = a->user_ref,
                           .actor_role = a->role,
                           .action = approve ? "approval.approved" : "approval.rejected",
                           .object_ref = r.pub.ref,
                           .outcome = approve ? "approved" : "rejected",
                           .request_id = request_id,
                           .details = det};
    rc = evidence_append(db, &ev, r.pub.evidence_ref);
    json_object_put(det);
    if (!rc)
        rc = db_exec(db,
                     "UPDATE approval_requests SET state = ?, decision_ref = ?, decided_by = ?, decided_by_role = ?, "
                     "decided_at = ?, decision_expires_at = ?, conditions = ?, decision_reason = ?, decision_digest = "
                     "?, decision_evidence_ref = ? WHERE id = ? AND tenant_id = ? AND state = 'pending'",
                     DB_ARGS(DBS(approve ? "approved" : "rejected"), DBS(dref), DBS(a->user_ref), DBS(a->role),
                             DBS(at_sql), approve ? DBS(exp_sql) : DBNULL, DBS(json_object_to_json_string(conds)),
                             DBS(reason), DBS(digest), DBS(r.pub.evidence_ref), DBI(r.pub.id), DBI(a->tenant_id)),
                     NULL, NULL);
    json_object_put(conds);
    r.pub.decided_by_ref = a->user_ref;
    if (!rc) rc = run_handler(db, &r.pub, approve ? APPROVAL_APPROVED : APPROVAL_REJECTED, request_id);
    row_free(&r);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    rc = db_commit(db);
    if (rc) return rc;
    return approvals_get(db, a, approval_ref, out);
}

int approvals_expire_one(db_t *db, long long tenant_id, const char *approval_ref) {
    int rc = db_begin(db);
    if (rc) return rc;
    row_t r;
    rc = load_row(db, tenant_id, approval_ref, true, &r);
    if (!rc) {
        if (!strcmp(r.state, "pending")) rc = expire_locked(db, &r, NULL);
        row_free(&r);
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

const char *approvals_code_detail(const char *code) {
    if (!code) return "the approval cannot be decided";
    if (!strcmp(code, "self_approval_forbidden")) return "the requester of an approval can never decide it";
    if (!strcmp(code, "not_an_approver")) return "your role is not the approver role of this request";
    if (!strcmp(code, "approval_expired")) return "the approval request expired before it was decided";
    return "the approval request has already been decided";
}

bool approvals_authorises(db_t *db, long long tenant_id, const char *approval_ref, int64_t at_ms) {
    db_res_t *res;
    if (!approval_ref || !*approval_ref ||
        db_query(db,
                 "SELECT state, decision_expires_at FROM approval_requests WHERE tenant_id = ? AND ref = ?",
                 DB_ARGS(DBI(tenant_id), DBS(approval_ref)), &res))
        return false;
    bool ok = false;
    if (db_res_next(res) && !strcmp(db_res_str(res, 0), "approved")) {
        int64_t exp = 0;
        ok = !sql_datetime_parse(db_res_str(res, 1), &exp) && exp > at_ms;
    }
    db_res_free(res);
    return ok;
}

int approvals_expire_due(db_t *db, int max, int *n) {
    int done = 0, rc = 0;
    for (int i = 0; i < max; i++) {
        char now[RFC3339_MAX];
        sql_datetime_format(now_ms(), now);
        if ((rc = db_begin(db))) break;
        db_res_t *res;
        rc = db_query(db,
                      "SELECT a.tenant_id, a.ref FROM approval_requests a WHERE a.state = 'pending' AND a.due_at <= ? "
                      "ORDER BY a.due_at LIMIT 1 FOR UPDATE SKIP LOCKED",
                      DB_ARGS(DBS(now)), &res);
        if (rc) {
            db_rollback(db);
            break;
        }
        long long tid = 0;
        char ref[REF_MAX] = "";
        if (db_res_next(res)) {
            tid = db_res_int(res, 0);
            snprintf(ref, sizeof ref, "%s", db_res_str(res, 1));
        }
        db_res_free(res);
        if (!tid) {
            db_rollback(db);
            break;
        }
        row_t r;
        rc = load_row(db, tid, ref, true, &r);
        if (!rc) {
            rc = expire_locked(db, &r, NULL);
            row_free(&r);
        }
        if (rc) {
            db_rollback(db);
            log_msg(LOG_WARN, "approval_expiry", "could not expire %s (%d)", ref, rc);
            break;
        }
        if ((rc = db_commit(db))) break;
        done++;
    }
    if (n) *n = done;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* projection                                                                */

static const char *public_type(const char *t) {
    int i = type_index(t);
    return i >= 0 ? types[i].public_name : t;
}

static void rfc_of(const char *sql, char out[RFC3339_MAX]) {
    int64_t ms = 0;
    out[0] = 0;
    if (sql && *sql && !sql_datetime_parse(sql, &ms)) rfc3339_format(ms, 0, out);
}

static void pub_ev(const char *full, char out[EVIDENCE_REF_MAX]) {
    if (!full || evidence_ref_public(full, out)) snprintf(out, EVIDENCE_REF_MAX, "cavra://evidence/redacted/none");
}

#define APPROVAL_COLS                                                                                                \
    "a.id, a.ref, a.type, a.subject_kind, a.subject_ref, a.approver_role, a.requested_by, "                           \
    "COALESCE(a.requested_by_role, ''), a.requested_at, a.due_at, a.risk_level, a.reason_code, a.public_subject, "    \
    "COALESCE(a.policy_ref, ''), COALESCE(a.schedule_ref, ''), a.request_digest, a.request_evidence_ref, a.state, "   \
    "COALESCE(a.decision_ref, ''), COALESCE(a.decided_by, ''), COALESCE(a.decided_by_role, ''), "                     \
    "COALESCE(a.decided_at, ''), COALESCE(a.decision_expires_at, ''), COALESCE(a.conditions, '[]'), "                 \
    "COALESCE(a.decision_digest, ''), COALESCE(a.decision_evidence_ref, ''), COALESCE(a.requested_by_user, 0)"

static json_object *row_json(const actor_t *a, db_res_t *res) {
    const char *state = db_res_str(res, 17), *approver_role = db_res_str(res, 5);
    char requested_at[RFC3339_MAX], due_at[RFC3339_MAX], decided_at[RFC3339_MAX], exp[RFC3339_MAX];
    rfc_of(db_res_str(res, 8), requested_at);
    rfc_of(db_res_str(res, 9), due_at);
    rfc_of(db_res_str(res, 21), decided_at);
    rfc_of(db_res_str(res, 22), exp);
    json_object *o = json_object_new_object();
    put_s(o, "approval_ref", db_res_str(res, 1));
    put_s(o, "type", db_res_str(res, 2));
    put_s(o, "state", state);
    put_s(o, "subject_kind", db_res_str(res, 3));
    put_s(o, "subject_ref", db_res_str(res, 4));
    put_s(o, "approver_role", approver_role);
    put_s(o, "risk_level", db_res_str(res, 10));
    put_s(o, "reason_code", db_res_str(res, 11));
    put_s(o, "requested_at", requested_at);
    put_s(o, "due_at", due_at);
    put_s(o, "request_digest", db_res_str(res, 15));
    bool own = db_res_int(res, 26) == a->user_id || !strcmp(db_res_str(res, 6), a->user_ref);
    json_object_object_add(o, "requested_by_me", json_object_new_boolean(own));
    json_object_object_add(o, "can_decide",
                           json_object_new_boolean(!strcmp(state, "pending") && !own && may_decide(a, approver_role)));
    if (!strcmp(state, "pending")) {
        json_object_object_add(o, "projection", NULL);
        return o;
    }
    json_object *p = json_object_new_object();
    char now[RFC3339_MAX];
    rfc3339_format(now_ms(), 0, now);
    put_s(p, "schema_version", "cavra.aispm.report_approval_decision.v1");
    put_s(p, "product", "CAVRA");
    put_s(p, "edition", "enterprise");
    put_s(p, "contract_visibility", "public_contract");
    put_s(p, "generated_at", now);
    put_s(p, "tenant_ref", a->tenant_ref);
    json_object *rq = json_object_new_object();
    char buf[128];
    put_s(rq, "approval_ref", db_res_str(res, 1));
    put_s(rq, "request_type", public_type(db_res_str(res, 2)));
    if (*db_res_str(res, 7)) snprintf(buf, sizeof buf, "role:%s", db_res_str(res, 7));
    else snprintf(buf, sizeof buf, "%s", db_res_str(res, 6)); /* an automatic origin (schedule ref) */
    put_s(rq, "requested_by", buf);
    put_s(rq, "requested_at", requested_at);
    put_s(rq, "resource_ref", db_res_str(res, 4));
    put_s(rq, "risk_level", db_res_str(res, 10));
    put_s(rq, "reason_code", db_res_str(res, 11));
    json_object_object_add(p, "approval_request", rq);
    json_object *dc = json_object_new_object();
    put_s(dc, "decision_ref", db_res_str(res, 18));
    put_s(dc, "decision", state);
    if (*db_res_str(res, 20)) snprintf(buf, sizeof buf, "role:%s", db_res_str(res, 20));
    else snprintf(buf, sizeof buf, "system");
    put_s(dc, "decided_by", buf);
    put_s(dc, "decided_at", decided_at);
    put_s(dc, "expires_at", exp[0] ? exp : NULL);
    json_object *conds = json_tokener_parse(db_res_str(res, 23));
    json_object_object_add(dc, "conditions", conds ? conds : json_object_new_array());
    json_object_object_add(p, "decision", dc);
    json_object *subj = json_tokener_parse(db_res_str(res, 12));
    if (!subj) subj = json_object_new_object();
    json_object *v;
    if (!json_object_object_get_ex(subj, "report_ids", &v)) {
        json_object *arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string(db_res_str(res, 3)));
        json_object_object_add(subj, "report_ids", arr);
    }
    if (!json_object_object_get_ex(subj, "formats", &v)) {
        json_object *arr = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("json"));
        json_object_object_add(subj, "formats", arr);
    }
    if (!json_object_object_get_ex(subj, "delivery_mode", &v)) put_s(subj, "delivery_mode", "smtp");
    if (!json_object_object_get_ex(subj, "recipient_scope", &v))
        put_s(subj, "recipient_scope", "approved_internal_domain");
    json_object_object_add(subj, "recipient_addresses_redacted", json_object_new_boolean(1));
    json_object_object_add(p, "subject", subj);
    json_object *pc = json_object_new_object();
    put_s(pc, "recipient_policy_ref", *db_res_str(res, 13) ? db_res_str(res, 13) : "recipient-policy:default");
    put_s(pc, "schedule_ref", *db_res_str(res, 14) ? db_res_str(res, 14) : "schedule:none");
    snprintf(buf, sizeof buf, "domain-rule:%s", db_res_str(res, 11));
    put_s(pc, "domain_rule_ref", buf);
    snprintf(buf, sizeof buf, "approval-policy:%s", db_res_str(res, 2));
    put_s(pc, "approval_policy_ref", buf);
    json_object_object_add(p, "policy_context", pc);
    json_object *evd = json_object_new_object(), *refs = json_object_new_array();
    char e1[EVIDENCE_REF_MAX], e2[EVIDENCE_REF_MAX];
    pub_ev(db_res_str(res, 16), e1);
    pub_ev(db_res_str(res, 25), e2);
    json_object_array_add(refs, json_object_new_string(e1));
    json_object_array_add(refs, json_object_new_string(e2));
    json_object_object_add(evd, "approval_evidence_refs", refs);
    snprintf(buf, sizeof buf, "sha256:%s", db_res_str(res, 15));
    put_s(evd, "request_digest_ref", buf);
    snprintf(buf, sizeof buf, "sha256:%s", db_res_str(res, 24));
    put_s(evd, "decision_digest_ref", buf);
    put_s(evd, "immutable_store_ref", e2);
    json_object_object_add(p, "evidence", evd);
    json_object *au = json_object_new_object();
    snprintf(buf, sizeof buf, "audit:%s", strrchr(e2, '/') + 1);
    put_s(au, "audit_event_ref", buf);
    put_s(au, "logged_at", decided_at);
    put_s(au, "review_required_by", exp[0] ? exp : NULL);
    json_object_object_add(p, "audit", au);
    json_object *red = json_object_new_object();
    const char *flags[] = {"approver_identity_included", "recipient_addresses_included", "raw_report_content_included",
                           "private_justification_included", "customer_records_included", "secrets_included"};
    for (int i = 0; i < 6; i++) json_object_object_add(red, flags[i], json_object_new_boolean(0));
    put_s(red, "payload_handling", "metadata_only");
    json_object_object_add(p, "redaction", red);
    json_object *eb = json_object_new_object();
    const char *bn[] = {"approval_workflow",        "approver_identity_resolution", "policy_exception_store",
                        "immutable_decision_audit", "notification_delivery",        "license_enforcement"};
    for (int i = 0; i < 6; i++) put_s(eb, bn[i], "requires_cavra_enterprise");
    json_object_object_add(p, "enterprise_boundaries", eb);
    json_object_object_add(o, "projection", p);
    return o;
}

int approvals_get(db_t *db, const actor_t *a, const char *approval_ref, json_object **out) {
    db_res_t *res;
    int rc = db_query(db, "SELECT " APPROVAL_COLS " FROM approval_requests a WHERE a.tenant_id = ? AND a.ref = ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(approval_ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    *out = row_json(a, res);
    db_res_free(res);
    return 0;
}

int approvals_list(db_t *db, const actor_t *a, const char *state, bool decidable_only, const char *cursor,
                   int limit, json_object **out) {
    if (limit < 1 || limit > 100) limit = 50;
    long long before = 0;
    if (cursor && *cursor) {
        char *end;
        before = strtoll(cursor, &end, 10);
        if (*end || before <= 0) return AISPM_EINVAL;
    }
    if (state && *state && strcmp(state, "pending") && strcmp(state, "approved") && strcmp(state, "rejected") &&
        strcmp(state, "expired"))
        return AISPM_EINVAL;
    const char *st = decidable_only ? "pending" : (state && *state ? state : NULL);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT " APPROVAL_COLS " FROM approval_requests a WHERE a.tenant_id = ? AND (? IS NULL OR "
                      "a.state = ?) AND (? = 0 OR a.id < ?) ORDER BY a.id DESC LIMIT ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(st), DBS(st), DBI(before), DBI(before), DBI(limit + 1)), &res);
    if (rc) return rc;
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    int n = 0;
    long long last = 0;
    bool more = false;
    while (db_res_next(res)) {
        if (n == limit) {
            more = true;
            break;
        }
        long long id = db_res_int(res, 0);
        json_object *it = row_json(a, res);
        json_object *cd;
        json_object_object_get_ex(it, "can_decide", &cd);
        if (decidable_only && !json_object_get_boolean(cd)) {
            json_object_put(it);
            last = id;
            continue;
        }
        json_object_array_add(arr, it);
        last = id;
        n++;
    }
    db_res_free(res);
    json_object_object_add(o, "approvals", arr);
    cursor_put_next(o, more, last);
    *out = o;
    return 0;
}

int approvals_pending_stats(db_t *db, long long tenant_id, long long *pending, int64_t *oldest_age_ms) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT COUNT(*), COALESCE(MIN(requested_at), '') FROM approval_requests WHERE tenant_id = ? AND "
                      "state = 'pending'",
                      DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    *pending = 0;
    *oldest_age_ms = 0;
    if (db_res_next(res)) {
        *pending = db_res_int(res, 0);
        int64_t ms;
        if (*db_res_str(res, 1) && !sql_datetime_parse(db_res_str(res, 1), &ms)) *oldest_age_ms = now_ms() - ms;
    }
    db_res_free(res);
    return 0;
}
