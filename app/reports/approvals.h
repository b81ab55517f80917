/*
 * approvals.h: generic approval requests and decisions (four eyes).
 *
 * A request has a type (see the table below; adding one is one line in
 * approvals.c's type table), a subject (kind + opaque ref, e.g.
 * "send" + "send:ULID"), an approver role, a due time, a risk level, a reason
 * code, a private payload the owning module needs to act on the decision,
 * and an immutable request digest (SHA-256 of the RFC 8785 canonical request)
 * with its evidence ref.
 *
 * Decisions: approve or reject, with a reason (private: never projected),
 * conditions (public codes) and an expiry. Rules enforced here, nowhere else:
 *   - four eyes: the requester can never decide their own request, whatever
 *     their role (AISPM_EFORBIDDEN, code self_approval_forbidden);
 *   - only a user whose role is the request's approver role, or who holds
 *     approvals.decide and the role tenant_admin, may decide;
 *   - a request past its due time is expired: it cannot be decided, and the
 *     job worker marks it expired (approvals_expire_due) and runs the type's
 *     handler with APPROVAL_EXPIRED;
 *   - an approval whose decision expiry has passed no longer authorises
 *     anything (approvals_authorises() is false).
 * The decision row, its digest, its evidence and the type handler's work run
 * in ONE transaction: a held send is released (or dropped) atomically with
 * the decision that released it.
 *
 * Handlers: a module registers what happens when a request of its type is
 * approved / rejected / expires:
 *     approvals_register_handler("report_send", delivery_on_approval);
 * The handler runs inside the decision transaction; a non-zero return rolls
 * the decision back.
 */
#ifndef AISPM_REPORTS_APPROVALS_H
#define AISPM_REPORTS_APPROVALS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "server/http.h"

/* request types (the public projection's request_type in brackets) */
#define APPROVAL_REPORT_SEND "report_send"
#define APPROVAL_SCHEDULE_CHANGE "schedule_change"
#define APPROVAL_NEW_DOMAIN "new_domain" /* [new_recipient_domain] */
#define APPROVAL_RECIPIENT_GROUP_CHANGE "recipient_group_change"
#define APPROVAL_EXTERNAL_DELIVERY_EXCEPTION "external_delivery_exception"
/* retention (reports/retention.c; subject retention_request + its ref). The
 * contract's request_type has no retention value: they project as
 * [external_delivery_exception], an exception to the standard lifecycle
 * decided by an approver; the precise type stays in the API's "type". */
#define APPROVAL_RETENTION_HOLD_PLACE "retention_legal_hold_place"
#define APPROVAL_RETENTION_HOLD_RELEASE "retention_legal_hold_release"
#define APPROVAL_RETENTION_DELETE "retention_delete"

typedef enum { APPROVAL_APPROVED = 1, APPROVAL_REJECTED, APPROVAL_EXPIRED } approval_outcome_t;

/* what a handler sees of the request */
typedef struct {
    long long id;
    long long tenant_id;
    char tenant_ref[REF_MAX];
    char ref[REF_MAX];          /* approval:ULID */
    char type[48];
    char subject_kind[32];
    char subject_ref[REF_MAX + 32];
    json_object *payload;       /* private payload given at request time (borrowed) */
    const char *decided_by_ref; /* user:ULID or "system" (expiry) */
    char evidence_ref[EVIDENCE_REF_MAX]; /* of the decision / expiry event */
} approval_t;

typedef int (*approval_handler_fn)(db_t *db, const approval_t *req, approval_outcome_t outcome,
                                   const char *request_id);

/* 0, or AISPM_EINVAL for an unknown type / full table. Call once per process
 * before serving (delivery_init, recipients_init, ...). */
int approvals_register_handler(const char *type, approval_handler_fn fn);
bool approvals_type_valid(const char *type);

typedef struct {
    const char *type;          /* APPROVAL_* */
    const char *subject_kind;  /* "send", "schedule", "recipient_policy", ... */
    const char *subject_ref;   /* opaque ref */
    const char *approver_role; /* NULL: the type's default ("approver") */
    int64_t due_at_ms;         /* 0: now + the type's default (72 h) */
    const char *risk_level;    /* low | medium | high | critical; NULL: the type's default */
    const char *reason_code;   /* public code, e.g. external_recipient */
    json_object *payload;      /* private; borrowed; may be NULL */
    /* public subject for the projection: {report_ids:[...], formats:[...],
     * delivery_mode, recipient_scope}; borrowed; may be NULL */
    json_object *public_subject;
    const char *policy_ref;    /* recipient policy ref; may be NULL */
    const char *schedule_ref;  /* may be NULL */
} approval_request_t;

/* Creates a pending request inside the CALLER's transaction and appends
 * evidence approval.requested. requester_ref: user:ULID, or a schedule ref
 * for automatic requests (requester_user_id 0). */
int approvals_request(db_t *db, long long tenant_id, const char *tenant_ref, const char *requester_ref,
                      long long requester_user_id, const approval_request_t *req, const char *request_id,
                      char ref_out[REF_MAX]);

typedef struct {
    const char *decision;      /* "approve" | "reject" */
    const char *reason;        /* private, required for reject, <= 1000 chars */
    json_object *conditions;   /* array of condition codes; borrowed; may be NULL */
    int64_t expires_at_ms;     /* approval validity; 0 = 7 days from now */
} approval_decision_t;

/* Decides (own transaction). Errors: AISPM_ENOTFOUND, AISPM_EFORBIDDEN
 * (*code_out "self_approval_forbidden" or "not_an_approver"),
 * AISPM_ECONFLICT ("already_decided" / "approval_expired"), AISPM_EINVAL
 * (field errors in *errors). *out receives the projection. */
int approvals_decide(db_t *db, const actor_t *a, const char *approval_ref, const approval_decision_t *d,
                     const char *request_id, const char **code_out, json_object **errors, json_object **out);

/* the human-readable detail of a code_out of approvals_decide */
const char *approvals_code_detail(const char *code);

/* true when approval_ref (of the tenant) is approved and its decision has
 * not expired at now_ms */
bool approvals_authorises(db_t *db, long long tenant_id, const char *approval_ref, int64_t now_ms);

/* job worker: expires pending requests past due (each in its own
 * transaction, handler included); *n (may be NULL) = how many */
int approvals_expire_due(db_t *db, int max, int *n);

/* expires one pending request now (own transaction, evidence, handler),
 * whatever its due time: for owners whose own clock decides (the retention
 * sweep run with --now). 0 also when it was no longer pending. */
int approvals_expire_one(db_t *db, long long tenant_id, const char *approval_ref);

/* one request: {approval_ref, type, state, subject_kind, subject_ref,
 * approver_role, risk_level, reason_code, requested_at, due_at, can_decide,
 * request_digest, projection} where projection is the public contract object
 * (aispm-report-approval-decision.schema.json) once the request has a
 * decision (approved, rejected or expired), else null */
int approvals_get(db_t *db, const actor_t *a, const char *approval_ref, json_object **out);
/* {"approvals":[projection...], "next_cursor"}; state "" = any
 * (pending|approved|rejected|expired); decidable_only: only what this
 * actor may decide */
int approvals_list(db_t *db, const actor_t *a, const char *state, bool decidable_only, const char *cursor,
                   int limit, json_object **out);
/* pending requests and the age of the oldest, for the operations dashboard */
int approvals_pending_stats(db_t *db, long long tenant_id, long long *pending, int64_t *oldest_age_ms);

#endif
