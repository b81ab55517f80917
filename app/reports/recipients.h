/*
 * recipients.h: the tenant's recipient policy and the ONE evaluator that
 * decides, per recipient and channel, whether a report may go there.
 *
 * Policy (one per tenant, table recipient_policies + recipient_domain_rules +
 * recipient_groups; migration 006):
 *   - default_action for unknown domains (allow | deny | require_approval),
 *     external_delivery_default (deny | require_approval | allow_with_audit);
 *   - domain rules: domain, classification (internal, external_auditor,
 *     external_partner, blocked), allowed, approval_required,
 *     encryption_required. A rule for "example.com" also covers its
 *     subdomains; the longest matching rule wins;
 *   - recipient groups (group:ULID refs; member addresses are private rows,
 *     never projected, logged or put in evidence);
 *   - channel eligibility (smtp, portal, webhook, grc_upload);
 *   - approval policy (external recipient, new domain, group change, policy
 *     change, approver role) and encryption policy.
 *
 * recipient_evaluate() is the only place an allow / block / needs_approval
 * decision is made. Everything that sends (API, portal, setup wizard test
 * delivery, scheduler) goes through delivery_submit(), which calls it.
 *
 * Recipient addresses leave this module only as recipient refs:
 * "rcpt:" + 32 hex of SHA-256(tenant ULID ":" lower-cased address) — stable per
 * tenant, not reversible without guessing the address.
 */
#ifndef AISPM_REPORTS_RECIPIENTS_H
#define AISPM_REPORTS_RECIPIENTS_H

#include <json-c/json.h>
#include <stdbool.h>

#include "db/db.h"
#include "server/http.h"

#define RECIPIENT_REF_MAX 40 /* "rcpt:" + 32 hex + NUL */
#define RECIPIENT_DOMAIN_MAX 254

typedef enum {
    CHANNEL_SMTP = 0,   /* e-mail through the tenant's SMTP provider ("email" is accepted too) */
    CHANNEL_PORTAL,     /* portal inbox / download link ("download" is accepted too) */
    CHANNEL_WEBHOOK,    /* signed HTTP(S) POST */
    CHANNEL_GRC_UPLOAD, /* signed HTTP(S) POST of the artifact to a GRC tool */
    CHANNEL__COUNT
} delivery_channel_t;

const char *channel_name(delivery_channel_t ch);      /* "smtp", "portal", "webhook", "grc_upload" */
int channel_parse(const char *s, delivery_channel_t *out); /* 0 or AISPM_EINVAL */
/* channels addressed to people (smtp, portal) take recipient addresses;
 * the others deliver to the tenant's configured endpoint */
bool channel_has_recipients(delivery_channel_t ch);

typedef enum { RCPT_ALLOW = 0, RCPT_NEEDS_APPROVAL = 1, RCPT_BLOCK = 2 } rcpt_decision_t;
const char *rcpt_decision_name(rcpt_decision_t d); /* allow | needs_approval | block */

/* Reason codes (stable, public):
 *   allow:          internal_domain, approved_domain, external_allowed_with_audit,
 *                   default_allow, channel_endpoint
 *   needs_approval: external_recipient, domain_requires_approval, new_domain
 *   block:          domain_denied, domain_not_allowed, external_denied,
 *                   channel_not_allowed, invalid_address, unknown_group,
 *                   policy_disabled */

typedef struct recipient_policy recipient_policy_t; /* an immutable snapshot */

/* loads the tenant's policy (a tenant without one gets the built-in default:
 * deny unknown domains, external needs approval, smtp+portal allowed) */
int recipients_policy_load(db_t *db, long long tenant_id, const char *tenant_ref, recipient_policy_t **out);
void recipients_policy_free(recipient_policy_t *p);
/* a policy from a PUT document without storing it (validated: AISPM_EINVAL
 * with *errors) — for previews and unit tests of the evaluator */
int recipients_policy_from_doc(json_object *doc, const char *tenant_ref, recipient_policy_t **out,
                               json_object **errors);
const char *recipients_policy_ref(const recipient_policy_t *p);
/* approver role for approvals the policy requires (e.g. "approver") */
const char *recipients_policy_approver_role(const recipient_policy_t *p);

typedef struct {
    rcpt_decision_t decision;
    const char *reason;        /* static reason code (above) */
    const char *approval_type; /* when NEEDS_APPROVAL: approvals type name */
    delivery_channel_t channel;
    bool external;             /* domain is not classified internal */
    bool encryption_required;  /* send a portal link instead of the attachment */
    char domain[RECIPIENT_DOMAIN_MAX];             /* "" for endpoint channels */
    char recipient_ref[RECIPIENT_REF_MAX];         /* "" for endpoint channels */
    char group_ref[REF_MAX];   /* group the address came from, or "" */
} rcpt_verdict_t;

/* THE evaluator: one address (NULL for endpoint channels) on one channel.
 * Pure: no I/O, so it is unit-tested directly. */
void recipient_evaluate(const recipient_policy_t *p, const char *address, delivery_channel_t ch,
                        rcpt_verdict_t *out);

/* Evaluation of a whole request: each address and each member of each group
 * on each channel (endpoint channels once). `overall` is the strictest
 * decision. Addresses are kept (privately) in `addresses[i]` beside
 * `verdicts[i]` for the delivery module; free with recipients_eval_free. */
typedef struct {
    rcpt_decision_t overall;
    int n;
    rcpt_verdict_t *verdicts;
    char **addresses;          /* NULL entries for endpoint channels; PRIVATE */
} rcpt_evaluation_t;

int recipients_evaluate_request(db_t *db, long long tenant_id, const recipient_policy_t *p,
                                const char *const *addresses, int naddresses, const char *const *group_refs,
                                int ngroups, const delivery_channel_t *channels, int nchannels,
                                rcpt_evaluation_t *out);
void recipients_eval_free(rcpt_evaluation_t *e);

/* "rcpt:<32 hex>" for an address in a tenant (see above) */
void recipient_ref_of(const char *tenant_ref, const char *address, char out[RECIPIENT_REF_MAX]);

/* public projection (aispm-report-recipient-policy.schema.json) */
int recipients_policy_projection(db_t *db, const actor_t *a, json_object **out);

/* PUT: validates and applies a policy document {policy, domain_rules,
 * recipient_groups:[{group_ref?, display_name, role_scope, source, members:[addresses]}],
 * delivery_channel_eligibility, approval_policy, encryption_policy}. When
 * the current policy requires approval for policy / group changes, the change
 * is stored as a pending approval (recipient_group_change) and applied when
 * another user approves it: *approval_ref_out is set and 202 answered.
 * *errors receives {field: message} on AISPM_EINVAL. */
int recipients_policy_update(db_t *db, const actor_t *a, json_object *doc, const char *request_id,
                             char approval_ref_out[REF_MAX], json_object **errors);

/* the current policy as an editable document (the PUT shape, group members
 * omitted: a group listed without "members" keeps them) — the portal edits
 * it and passes it to recipients_policy_update */
int recipients_policy_document(db_t *db, const actor_t *a, json_object **out);

/* seed-demo default: internal domain allowed, external needs approval,
 * one denied domain, one group */
int recipients_seed_default(db_t *db, long long tenant_id, const char *tenant_ref, const char *internal_domain);

/* registers the approval handler that applies approved policy changes */
void recipients_init(void);

#endif
