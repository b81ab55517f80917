/*
 * recipients.c: recipient policy storage, its projection, and the one
 * evaluator (see recipients.h).
 *
 * Invariants:
 *  - recipient_evaluate() is pure and the only decision point;
 *  - member addresses are read only by recipients_evaluate_request() (to
 *    hand them to the delivery module) and written only by policy updates;
 *    nothing here logs them or puts them into evidence or projections
 *    (groups show member_count);
 *  - a policy change is approval-gated when the current policy says so:
 *    the proposed document waits in the approval's private payload and is
 *    applied by the approval handler in the decision's transaction.
 */
#include "reports/recipients.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/evidence.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "reports/approvals.h"

#define MAX_RULES 200
#define MAX_GROUPS 100
#define MAX_MEMBERS 500

typedef struct {
    char domain[RECIPIENT_DOMAIN_MAX];
    char cls[24];
    bool allowed, approval, encryption;
} domain_rule_t;

struct recipient_policy {
    bool stored; /* false: the built-in default */
    char ref[REF_MAX + 16];
    char tenant_ref[REF_MAX];
    char name[201];
    char status[20];
    char owner_role[33];
    char default_action[20];
    char external_default[20];
    bool external_approval, new_domain_approval, group_change_approval;
    char approver_role[33];
    struct {
        bool allowed, verified_sender, encryption;
    } ch[CHANNEL__COUNT];
    bool attachment_encryption, kms;
    char min_transport[20];
    char change_evidence_ref[EVIDENCE_REF_MAX];
    char reviewed_at[RFC3339_MAX];
    int nrules;
    domain_rule_t rules[MAX_RULES];
};

static const char *const channel_names[CHANNEL__COUNT] = {"smtp", "portal", "webhook", "grc_upload"};

const char *channel_name(delivery_channel_t ch) {
    return (ch >= 0 && ch < CHANNEL__COUNT) ? channel_names[ch] : "unknown";
}

int channel_parse(const char *s, delivery_channel_t *out) {
    if (!s) return AISPM_EINVAL;
    if (!strcmp(s, "email")) s = "smtp";
    if (!strcmp(s, "download")) s = "portal";
    for (int i = 0; i < CHANNEL__COUNT; i++)
        if (!strcmp(s, channel_names[i])) {
            *out = (delivery_channel_t)i;
            return 0;
        }
    return AISPM_EINVAL;
}

bool channel_has_recipients(delivery_channel_t ch) { return ch == CHANNEL_SMTP || ch == CHANNEL_PORTAL; }

const char *rcpt_decision_name(rcpt_decision_t d) {
    return d == RCPT_ALLOW ? "allow" : d == RCPT_NEEDS_APPROVAL ? "needs_approval" : "block";
}

void recipient_ref_of(const char *tenant_ref, const char *address, char out[RECIPIENT_REF_MAX]) {
    buf_t b = BUF_INIT;
    buf_puts(&b, tenant_ref ? tenant_ref : "");
    buf_putc(&b, ':');
    for (const char *p = address ? address : ""; *p; p++) buf_putc(&b, (char)tolower((unsigned char)*p));
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(b.data ? b.data : "", b.len, hex);
    buf_free(&b);
    snprintf(out, RECIPIENT_REF_MAX, "rcpt:%.32s", hex);
}

/* ------------------------------------------------------------------------ */
/* loading                                                                   */

static void policy_defaults(recipient_policy_t *p) {
    snprintf(p->name, sizeof p->name, "Report Delivery Recipient Policy");
    snprintf(p->status, sizeof p->status, "active");
    snprintf(p->owner_role, sizeof p->owner_role, "security_admin");
    snprintf(p->default_action, sizeof p->default_action, "deny");
    snprintf(p->external_default, sizeof p->external_default, "require_approval");
    p->external_approval = p->new_domain_approval = p->group_change_approval = true;
    snprintf(p->approver_role, sizeof p->approver_role, "approver");
    p->ch[CHANNEL_SMTP].allowed = p->ch[CHANNEL_PORTAL].allowed = true;
    p->ch[CHANNEL_WEBHOOK].allowed = p->ch[CHANNEL_GRC_UPLOAD].allowed = true;
    p->ch[CHANNEL_SMTP].verified_sender = true;
    p->ch[CHANNEL_WEBHOOK].encryption = p->ch[CHANNEL_GRC_UPLOAD].encryption = true;
    snprintf(p->min_transport, sizeof p->min_transport, "tls_1_2");
}

static void lower_copy(char *dst, size_t n, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

static int load_setting(db_t *db, long long tenant_id, const char *name, char *out, size_t n) {
    db_res_t *res;
    out[0] = 0;
    int rc = db_query(db, "SELECT value FROM settings WHERE tenant_id = ? AND name = ?",
                      DB_ARGS(DBI(tenant_id), DBS(name)), &res);
    if (rc) return rc;
    if (db_res_next(res)) snprintf(out, n, "%s", db_res_str(res, 0));
    db_res_free(res);
    return 0;
}

/* a tenant without a stored policy: the setup wizard's allowed domains are
 * internal, everything else follows the defaults */
static int default_from_settings(db_t *db, long long tenant_id, recipient_policy_t *p) {
    char v[2049];
    int rc = load_setting(db, tenant_id, "CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS", v, sizeof v);
    if (rc) return rc;
    char *save = NULL;
    for (char *tok = strtok_r(v, ", ", &save); tok && p->nrules < MAX_RULES; tok = strtok_r(NULL, ", ", &save)) {
        domain_rule_t *r = &p->rules[p->nrules++];
        lower_copy(r->domain, sizeof r->domain, tok);
        snprintf(r->cls, sizeof r->cls, "internal");
        r->allowed = true;
    }
    rc = load_setting(db, tenant_id, "CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED", v, sizeof v);
    if (!rc && !strcmp(v, "false")) p->external_approval = false;
    snprintf(p->status, sizeof p->status, "requires_review");
    return rc;
}

static void channels_from_json(recipient_policy_t *p, const char *text) {
    json_object *arr = json_tokener_parse(text);
    if (!arr || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        return;
    }
    for (int i = 0; i < CHANNEL__COUNT; i++) p->ch[i].allowed = false;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *c = json_object_array_get_idx(arr, i), *v;
        delivery_channel_t ch;
        if (!json_object_object_get_ex(c, "channel", &v) || channel_parse(json_object_get_string(v), &ch)) continue;
        if (json_object_object_get_ex(c, "allowed", &v)) p->ch[ch].allowed = json_object_get_boolean(v);
        if (json_object_object_get_ex(c, "requires_verified_sender", &v))
            p->ch[ch].verified_sender = json_object_get_boolean(v);
        if (json_object_object_get_ex(c, "requires_encryption", &v)) p->ch[ch].encryption = json_object_get_boolean(v);
    }
    json_object_put(arr);
}

int recipients_policy_load(db_t *db, long long tenant_id, const char *tenant_ref, recipient_policy_t **out) {
    recipient_policy_t *p = xcalloc(1, sizeof *p);
    policy_defaults(p);
    snprintf(p->tenant_ref, sizeof p->tenant_ref, "%s", tenant_ref ? tenant_ref : "");
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT ref, name, status, owner_role, default_action, external_default, external_approval, "
                      "new_domain_approval, group_change_approval, approver_role, channels, attachment_encryption, "
                      "minimum_transport, kms_key_ref_required, COALESCE(change_evidence_ref, ''), reviewed_at "
                      "FROM recipient_policies WHERE tenant_id = ?",
                      DB_ARGS(DBI(tenant_id)), &res);
    if (rc) goto fail;
    if (db_res_next(res)) {
        p->stored = true;
        snprintf(p->ref, sizeof p->ref, "%s", db_res_str(res, 0));
        snprintf(p->name, sizeof p->name, "%s", db_res_str(res, 1));
        snprintf(p->status, sizeof p->status, "%s", db_res_str(res, 2));
        snprintf(p->owner_role, sizeof p->owner_role, "%s", db_res_str(res, 3));
        snprintf(p->default_action, sizeof p->default_action, "%s", db_res_str(res, 4));
        snprintf(p->external_default, sizeof p->external_default, "%s", db_res_str(res, 5));
        p->external_approval = db_res_int(res, 6);
        p->new_domain_approval = db_res_int(res, 7);
        p->group_change_approval = db_res_int(res, 8);
        snprintf(p->approver_role, sizeof p->approver_role, "%s", db_res_str(res, 9));
        channels_from_json(p, db_res_str(res, 10));
        p->attachment_encryption = db_res_int(res, 11);
        snprintf(p->min_transport, sizeof p->min_transport, "%s", db_res_str(res, 12));
        p->kms = db_res_int(res, 13);
        snprintf(p->change_evidence_ref, sizeof p->change_evidence_ref, "%s", db_res_str(res, 14));
        int64_t ms = 0;
        sql_datetime_parse(db_res_str(res, 15), &ms);
        rfc3339_format(ms, 0, p->reviewed_at);
    }
    db_res_free(res);
    if (!p->stored) {
        rc = default_from_settings(db, tenant_id, p);
        if (rc) goto fail;
        *out = p;
        return 0;
    }
    rc = db_query(db,
                  "SELECT domain, classification, allowed, approval_required, encryption_required "
                  "FROM recipient_domain_rules WHERE tenant_id = ? ORDER BY domain LIMIT 200",
                  DB_ARGS(DBI(tenant_id)), &res);
    if (rc) goto fail;
    while (db_res_next(res) && p->nrules < MAX_RULES) {
        domain_rule_t *r = &p->rules[p->nrules++];
        snprintf(r->domain, sizeof r->domain, "%s", db_res_str(res, 0));
        snprintf(r->cls, sizeof r->cls, "%s", db_res_str(res, 1));
        r->allowed = db_res_int(res, 2);
        r->approval = db_res_int(res, 3);
        r->encryption = db_res_int(res, 4);
    }
    db_res_free(res);
    *out = p;
    return 0;
fail:
    free(p);
    return rc;
}

void recipients_policy_free(recipient_policy_t *p) { free(p); }
const char *recipients_policy_ref(const recipient_policy_t *p) {
    return p->stored ? p->ref : "recipient-policy:default";
}
const char *recipients_policy_approver_role(const recipient_policy_t *p) { return p->approver_role; }

/* ------------------------------------------------------------------------ */
/* the evaluator                                                             */

static const domain_rule_t *match_rule(const recipient_policy_t *p, const char *domain) {
    const domain_rule_t *best = NULL;
    size_t dl = strlen(domain), bl = 0;
    for (int i = 0; i < p->nrules; i++) {
        const domain_rule_t *r = &p->rules[i];
        size_t rl = strlen(r->domain);
        bool hit = !strcmp(domain, r->domain) ||
                   (dl > rl + 1 && domain[dl - rl - 1] == '.' && !strcmp(domain + dl - rl, r->domain));
        if (hit && rl > bl) best = r, bl = rl;
    }
    return best;
}

static void verdict(rcpt_verdict_t *out, rcpt_decision_t d, const char *reason, const char *type) {
    out->decision = d;
    out->reason = reason;
    out->approval_type = d == RCPT_NEEDS_APPROVAL ? type : NULL;
}

void recipient_evaluate(const recipient_policy_t *p, const char *address, delivery_channel_t ch,
                        rcpt_verdict_t *out) {
    memset(out, 0, sizeof *out);
    out->channel = ch;
    if (!strcmp(p->status, "disabled")) return verdict(out, RCPT_BLOCK, "policy_disabled", NULL);
    if (ch < 0 || ch >= CHANNEL__COUNT || !p->ch[ch].allowed)
        return verdict(out, RCPT_BLOCK, "channel_not_allowed", NULL);
    if (!channel_has_recipients(ch)) return verdict(out, RCPT_ALLOW, "channel_endpoint", NULL);
    if (!address || !email_valid(address)) return verdict(out, RCPT_BLOCK, "invalid_address", NULL);
    recipient_ref_of(p->tenant_ref, address, out->recipient_ref);
    lower_copy(out->domain, sizeof out->domain, strrchr(address, '@') + 1);
    out->encryption_required = p->attachment_encryption || p->ch[ch].encryption;
    const domain_rule_t *r = match_rule(p, out->domain);
    if (!r) {
        out->external = true;
        if (!strcmp(p->default_action, "deny")) return verdict(out, RCPT_BLOCK, "domain_not_allowed", NULL);
        if (!strcmp(p->default_action, "require_approval") || p->new_domain_approval)
            return verdict(out, RCPT_NEEDS_APPROVAL, "new_domain", APPROVAL_NEW_DOMAIN);
        return verdict(out, RCPT_ALLOW, "default_allow", NULL);
    }
    out->encryption_required = out->encryption_required || r->encryption;
    if (!r->allowed || !strcmp(r->cls, "blocked")) return verdict(out, RCPT_BLOCK, "domain_denied", NULL);
    if (!strcmp(r->cls, "internal")) {
        if (r->approval)
            return verdict(out, RCPT_NEEDS_APPROVAL, "domain_requires_approval", APPROVAL_REPORT_SEND);
        return verdict(out, RCPT_ALLOW, "internal_domain", NULL);
    }
    out->external = true;
    if (!strcmp(p->external_default, "deny")) return verdict(out, RCPT_BLOCK, "external_denied", NULL);
    if (r->approval || p->external_approval || !strcmp(p->external_default, "require_approval"))
        return verdict(out, RCPT_NEEDS_APPROVAL, "external_recipient", APPROVAL_EXTERNAL_DELIVERY_EXCEPTION);
    return verdict(out, RCPT_ALLOW, "external_allowed_with_audit", NULL);
}

/* ------------------------------------------------------------------------ */
/* a whole request                                                           */

static void eval_add(rcpt_evaluation_t *e, const rcpt_verdict_t *v, const char *address) {
    e->verdicts = xrealloc(e->verdicts, (size_t)(e->n + 1) * sizeof *e->verdicts);
    e->addresses = xrealloc(e->addresses, (size_t)(e->n + 1) * sizeof *e->addresses);
    e->verdicts[e->n] = *v;
    e->addresses[e->n] = address ? xstrdup(address) : NULL;
    e->n++;
    if (v->decision > e->overall) e->overall = v->decision;
}

int recipients_evaluate_request(db_t *db, long long tenant_id, const recipient_policy_t *p,
                                const char *const *addresses, int naddresses, const char *const *group_refs,
                                int ngroups, const delivery_channel_t *channels, int nchannels,
                                rcpt_evaluation_t *out) {
    memset(out, 0, sizeof *out);
    for (int c = 0; c < nchannels; c++) {
        delivery_channel_t ch = channels[c];
        rcpt_verdict_t v;
        if (!channel_has_recipients(ch)) {
            recipient_evaluate(p, NULL, ch, &v);
            eval_add(out, &v, NULL);
            continue;
        }
        for (int i = 0; i < naddresses; i++) {
            recipient_evaluate(p, addresses[i], ch, &v);
            eval_add(out, &v, addresses[i]);
        }
        for (int g = 0; g < ngroups; g++) {
            db_res_t *res;
            int rc = db_query(db,
                              "SELECT m.address FROM recipient_groups g JOIN recipient_group_members m ON "
                              "m.group_id = g.id AND m.tenant_id = g.tenant_id WHERE g.tenant_id = ? AND g.ref = ? "
                              "ORDER BY m.address LIMIT 500",
                              DB_ARGS(DBI(tenant_id), DBS(group_refs[g])), &res);
            if (rc) {
                recipients_eval_free(out);
                return rc;
            }
            int members = 0;
            while (db_res_next(res)) {
                recipient_evaluate(p, db_res_str(res, 0), ch, &v);
                snprintf(v.group_ref, sizeof v.group_ref, "%s", group_refs[g]);
                eval_add(out, &v, db_res_str(res, 0));
                members++;
            }
            db_res_free(res);
            if (!members) {
                memset(&v, 0, sizeof v);
                v.channel = ch;
                verdict(&v, RCPT_BLOCK, "unknown_group", NULL);
                snprintf(v.group_ref, sizeof v.group_ref, "%s", group_refs[g]);
                eval_add(out, &v, NULL);
            }
        }
    }
    return 0;
}

void recipients_eval_free(rcpt_evaluation_t *e) {
    for (int i = 0; i < e->n; i++) free(e->addresses[i]);
    free(e->addresses);
    free(e->verdicts);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------------ */
/* projection                                                                */

static void put_s(json_object *o, const char *k, const char *v) { json_object_object_add(o, k, json_object_new_string(v)); }
static void put_b(json_object *o, const char *k, bool v) { json_object_object_add(o, k, json_object_new_boolean(v)); }

static json_object *rule_json(const domain_rule_t *d) {
    json_object *r = json_object_new_object();
    put_s(r, "domain", d->domain);
    put_s(r, "classification", d->cls);
    put_b(r, "allowed", d->allowed);
    put_b(r, "approval_required", d->approval);
    put_b(r, "encryption_required", d->encryption);
    return r;
}

static json_object *channel_json(const recipient_policy_t *p, delivery_channel_t ch, const char *name) {
    json_object *c = json_object_new_object();
    put_s(c, "channel", name);
    put_b(c, "allowed", p->ch[ch].allowed);
    put_b(c, "requires_verified_sender", p->ch[ch].verified_sender);
    put_b(c, "requires_encryption", p->ch[ch].encryption);
    return c;
}

int recipients_policy_projection(db_t *db, const actor_t *a, json_object **out) {
    recipient_policy_t *p;
    int rc = recipients_policy_load(db, a->tenant_id, a->tenant_ref, &p);
    if (rc) return rc;
    json_object *o = json_object_new_object();
    char now[RFC3339_MAX];
    rfc3339_format(now_ms(), 0, now);
    put_s(o, "schema_version", "cavra.aispm.report_recipient_policy.v1");
    put_s(o, "product", "CAVRA");
    put_s(o, "edition", "enterprise");
    put_s(o, "contract_visibility", "public_contract");
    put_s(o, "generated_at", now);
    put_s(o, "tenant_ref", a->tenant_ref);
    json_object *pol = json_object_new_object();
    put_s(pol, "policy_ref", recipients_policy_ref(p));
    put_s(pol, "name", p->name);
    put_s(pol, "status", p->status);
    char owner[64];
    snprintf(owner, sizeof owner, "role:%s", p->owner_role);
    put_s(pol, "owner_ref", owner);
    put_s(pol, "default_action", p->default_action);
    put_s(pol, "external_delivery_default", p->external_default);
    json_object_object_add(o, "policy", pol);
    json_object *rules = json_object_new_array();
    for (int i = 0; i < p->nrules; i++) json_object_array_add(rules, rule_json(&p->rules[i]));
    if (!p->nrules) { /* the default action, shown as the catch-all rule */
        json_object *r = json_object_new_object();
        put_s(r, "domain", "*");
        put_s(r, "classification", "unknown");
        put_b(r, "allowed", strcmp(p->default_action, "deny") != 0);
        put_b(r, "approval_required", !strcmp(p->default_action, "require_approval"));
        put_b(r, "encryption_required", p->attachment_encryption);
        json_object_array_add(rules, r);
    }
    json_object_object_add(o, "domain_rules", rules);
    json_object *groups = json_object_new_array();
    db_res_t *res;
    rc = db_query(db,
                  "SELECT g.ref, g.display_name, g.role_scope, g.source, (SELECT COUNT(*) FROM recipient_group_members "
                  "m WHERE m.group_id = g.id AND m.tenant_id = g.tenant_id) FROM recipient_groups g WHERE "
                  "g.tenant_id = ? ORDER BY g.id LIMIT 100",
                  DB_ARGS(DBI(a->tenant_id)), &res);
    if (!rc) {
        while (db_res_next(res)) {
            json_object *g = json_object_new_object();
            put_s(g, "group_ref", db_res_str(res, 0));
            put_s(g, "display_name", db_res_str(res, 1));
            put_s(g, "role_scope", db_res_str(res, 2));
            json_object_object_add(g, "member_count", json_object_new_int64(db_res_int(res, 4)));
            put_s(g, "source", db_res_str(res, 3));
            put_b(g, "addresses_redacted", true);
            json_object_array_add(groups, g);
        }
        db_res_free(res);
    }
    json_object_object_add(o, "recipient_groups", groups);
    json_object *chs = json_object_new_array();
    static const struct {
        delivery_channel_t ch;
        const char *public_name;
    } pub[] = {{CHANNEL_SMTP, "smtp"}, {CHANNEL_WEBHOOK, "webhook"}, {CHANNEL_PORTAL, "download"}};
    for (size_t i = 0; i < sizeof pub / sizeof pub[0]; i++) {
        json_object_array_add(chs, channel_json(p, pub[i].ch, pub[i].public_name));
    }
    json_object_object_add(o, "delivery_channel_eligibility", chs);
    json_object *ap = json_object_new_object();
    put_b(ap, "external_recipient_approval_required", p->external_approval);
    put_b(ap, "new_domain_approval_required", p->new_domain_approval);
    put_b(ap, "recipient_group_change_approval_required", p->group_change_approval);
    put_s(ap, "approver_group", p->approver_role);
    put_b(ap, "approval_evidence_required", true);
    json_object_object_add(o, "approval_policy", ap);
    json_object *enc = json_object_new_object();
    put_b(enc, "attachment_encryption_required", p->attachment_encryption);
    put_s(enc, "minimum_transport", p->min_transport);
    put_b(enc, "kms_key_ref_required", p->kms);
    put_b(enc, "customer_managed_key_supported", false);
    json_object_object_add(o, "encryption_policy", enc);
    json_object *au = json_object_new_object(), *revs = json_object_new_array();
    char pubref[EVIDENCE_REF_MAX];
    if (p->change_evidence_ref[0] && !evidence_ref_public(p->change_evidence_ref, pubref)) {
        char aref[EVIDENCE_REF_MAX + 8];
        snprintf(aref, sizeof aref, "audit:%s", strrchr(pubref, '/') + 1);
        put_s(au, "policy_change_audit_ref", aref);
        put_s(au, "last_reviewed_at", p->reviewed_at);
        json_object_array_add(revs, json_object_new_string(pubref));
    } else { /* the built-in default has never been reviewed */
        put_s(au, "policy_change_audit_ref", "audit:default-policy-not-reviewed");
        put_s(au, "last_reviewed_at", now);
        json_object_array_add(revs, json_object_new_string("cavra://evidence/redacted/default-policy"));
    }
    json_object_object_add(au, "review_evidence_refs", revs);
    json_object_object_add(o, "audit", au);
    json_object *red = json_object_new_object();
    put_b(red, "recipient_addresses_included", false);
    put_b(red, "idp_group_members_included", false);
    put_b(red, "provider_tokens_included", false);
    put_b(red, "customer_records_included", false);
    put_b(red, "secrets_included", false);
    put_s(red, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", red);
    json_object *eb = json_object_new_object();
    const char *names[] = {"recipient_directory_sync", "idp_group_resolution", "domain_verification",
                           "encryption_key_resolution", "approval_workflow", "license_enforcement"};
    for (int i = 0; i < 6; i++) put_s(eb, names[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
    recipients_policy_free(p);
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* updates                                                                   */

static void err_add(json_object **errors, const char *field, const char *msg) {
    if (!*errors) *errors = json_object_new_object();
    json_object_object_add(*errors, field, json_object_new_string(msg));
}

static const char *get_str(json_object *o, const char *k) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

static int get_bool(json_object *o, const char *k, bool dflt, bool *out) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v)) {
        *out = dflt;
        return 0;
    }
    if (!json_object_is_type(v, json_type_boolean)) return -1;
    *out = json_object_get_boolean(v);
    return 0;
}

static bool one_of(const char *s, const char *const *set) {
    for (; s && *set; set++)
        if (!strcmp(s, *set)) return true;
    return false;
}

static bool text_ok(const char *s, size_t max) {
    if (!s || !*s || strlen(s) > max || !utf8_valid(s, strlen(s))) return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

/* validates a policy document (pure). Normalises nothing: apply() reads the
 * same document. */
static int validate_doc(json_object *doc, json_object **errors) {
    static const char *const actions[] = {"allow", "deny", "require_approval", NULL};
    static const char *const ext[] = {"deny", "require_approval", "allow_with_audit", NULL};
    static const char *const statuses[] = {"draft", "active", "disabled", "requires_review", NULL};
    static const char *const classes[] = {"internal", "external_auditor", "external_partner", "blocked", NULL};
    static const char *const sources[] = {"idp_group", "manual_group", "grc_system", "static_ref", NULL};
    static const char *const transports[] = {"tls_1_2", "tls_1_3", "private_network", NULL};
    if (!json_object_is_type(doc, json_type_object)) {
        err_add(errors, "body", "must be a JSON object");
        return AISPM_EINVAL;
    }
    static const char *const known[] = {"policy", "domain_rules", "recipient_groups", "delivery_channel_eligibility",
                                        "approval_policy", "encryption_policy", NULL};
    json_object_object_foreach(doc, key, val) {
        (void)val;
        if (!one_of(key, known)) err_add(errors, key, "is not a member of a recipient policy");
    }
    json_object *pol, *v;
    if (!json_object_object_get_ex(doc, "policy", &pol) || !json_object_is_type(pol, json_type_object)) {
        err_add(errors, "policy", "is required (object)");
    } else {
        const char *s = get_str(pol, "name");
        if (s && !text_ok(s, 200)) err_add(errors, "policy.name", "must be 1-200 printable characters");
        if ((s = get_str(pol, "status")) && !one_of(s, statuses)) err_add(errors, "policy.status", "unknown status");
        if (!one_of(get_str(pol, "default_action"), actions))
            err_add(errors, "policy.default_action", "must be allow, deny or require_approval");
        if (!one_of(get_str(pol, "external_delivery_default"), ext))
            err_add(errors, "policy.external_delivery_default", "must be deny, require_approval or allow_with_audit");
    }
    if (json_object_object_get_ex(doc, "domain_rules", &v)) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > MAX_RULES) {
            err_add(errors, "domain_rules", "must be an array of at most 200 rules");
        } else {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *r = json_object_array_get_idx(v, i);
                char f[64];
                bool b;
                snprintf(f, sizeof f, "domain_rules[%zu]", i);
                const char *d = get_str(r, "domain");
                if (!d || !domain_valid(d, true)) err_add(errors, f, "domain must be a well-formed domain");
                else if (!one_of(get_str(r, "classification"), classes))
                    err_add(errors, f, "classification must be internal, external_auditor, external_partner or blocked");
                else if (get_bool(r, "allowed", true, &b) || get_bool(r, "approval_required", false, &b) ||
                         get_bool(r, "encryption_required", false, &b))
                    err_add(errors, f, "allowed, approval_required and encryption_required must be booleans");
            }
        }
    }
    if (json_object_object_get_ex(doc, "recipient_groups", &v)) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > MAX_GROUPS) {
            err_add(errors, "recipient_groups", "must be an array of at most 100 groups");
        } else {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *g = json_object_array_get_idx(v, i), *m;
                char f[64];
                snprintf(f, sizeof f, "recipient_groups[%zu]", i);
                const char *gr = get_str(g, "group_ref");
                if (gr && !ref_parse(gr, "group", NULL, NULL)) err_add(errors, f, "group_ref must be group:ULID");
                else if (!text_ok(get_str(g, "display_name"), 200))
                    err_add(errors, f, "display_name must be 1-200 printable characters");
                else if (!text_ok(get_str(g, "role_scope"), 64))
                    err_add(errors, f, "role_scope must be 1-64 printable characters");
                else if (get_str(g, "source") && !one_of(get_str(g, "source"), sources))
                    err_add(errors, f, "source must be idp_group, manual_group, grc_system or static_ref");
                else if (json_object_object_get_ex(g, "members", &m)) {
                    if (!json_object_is_type(m, json_type_array) || json_object_array_length(m) > MAX_MEMBERS) {
                        err_add(errors, f, "members must be an array of at most 500 addresses");
                    } else {
                        for (size_t k = 0; k < json_object_array_length(m); k++) {
                            json_object *e = json_object_array_get_idx(m, k);
                            if (!json_object_is_type(e, json_type_string) || !email_valid(json_object_get_string(e))) {
                                /* never echo the value: it is an address */
                                err_add(errors, f, "members must be valid e-mail addresses");
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    if (json_object_object_get_ex(doc, "delivery_channel_eligibility", &v)) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 16) {
            err_add(errors, "delivery_channel_eligibility", "must be an array of channels");
        } else {
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *c = json_object_array_get_idx(v, i);
                delivery_channel_t ch;
                bool b;
                char f[64];
                snprintf(f, sizeof f, "delivery_channel_eligibility[%zu]", i);
                if (channel_parse(get_str(c, "channel"), &ch))
                    err_add(errors, f, "channel must be smtp, portal (download), webhook or grc_upload");
                else if (get_bool(c, "allowed", true, &b) || get_bool(c, "requires_verified_sender", false, &b) ||
                         get_bool(c, "requires_encryption", false, &b))
                    err_add(errors, f, "allowed, requires_verified_sender and requires_encryption must be booleans");
            }
        }
    }
    if (json_object_object_get_ex(doc, "approval_policy", &v)) {
        bool b;
        const char *r = get_str(v, "approver_group");
        if (!json_object_is_type(v, json_type_object)) err_add(errors, "approval_policy", "must be an object");
        else if (get_bool(v, "external_recipient_approval_required", true, &b) ||
                 get_bool(v, "new_domain_approval_required", true, &b) ||
                 get_bool(v, "recipient_group_change_approval_required", true, &b))
            err_add(errors, "approval_policy", "flags must be booleans");
        else if (r && !rbac_role_valid(r))
            err_add(errors, "approval_policy.approver_group", "must name a role (e.g. approver)");
    }
    if (json_object_object_get_ex(doc, "encryption_policy", &v)) {
        bool b;
        const char *t = get_str(v, "minimum_transport");
        if (!json_object_is_type(v, json_type_object)) err_add(errors, "encryption_policy", "must be an object");
        else if (get_bool(v, "attachment_encryption_required", false, &b) ||
                 get_bool(v, "kms_key_ref_required", false, &b))
            err_add(errors, "encryption_policy", "flags must be booleans");
        else if (t && !one_of(t, transports))
            err_add(errors, "encryption_policy.minimum_transport", "must be tls_1_2, tls_1_3 or private_network");
    }
    return *errors ? AISPM_EINVAL : 0;
}

/* a validated document -> policy struct (pure); members not given keep the
 * built-in defaults */
static void policy_from_doc(json_object *doc, recipient_policy_t *d) {
    json_object *pol = NULL, *ap = NULL, *enc = NULL, *v;
    json_object_object_get_ex(doc, "policy", &pol);
    json_object_object_get_ex(doc, "approval_policy", &ap);
    json_object_object_get_ex(doc, "encryption_policy", &enc);
    policy_defaults(d);
    d->stored = true;
    const char *s;
    if ((s = get_str(pol, "name"))) snprintf(d->name, sizeof d->name, "%s", s);
    if ((s = get_str(pol, "status"))) snprintf(d->status, sizeof d->status, "%s", s);
    if ((s = get_str(pol, "default_action"))) snprintf(d->default_action, sizeof d->default_action, "%s", s);
    if ((s = get_str(pol, "external_delivery_default"))) snprintf(d->external_default, sizeof d->external_default, "%s", s);
    if ((s = get_str(ap, "approver_group"))) snprintf(d->approver_role, sizeof d->approver_role, "%s", s);
    if ((s = get_str(enc, "minimum_transport"))) snprintf(d->min_transport, sizeof d->min_transport, "%s", s);
    get_bool(ap, "external_recipient_approval_required", d->external_approval, &d->external_approval);
    get_bool(ap, "new_domain_approval_required", d->new_domain_approval, &d->new_domain_approval);
    get_bool(ap, "recipient_group_change_approval_required", d->group_change_approval, &d->group_change_approval);
    get_bool(enc, "attachment_encryption_required", false, &d->attachment_encryption);
    get_bool(enc, "kms_key_ref_required", false, &d->kms);
    if (json_object_object_get_ex(doc, "delivery_channel_eligibility", &v)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *c = json_object_array_get_idx(v, i);
            delivery_channel_t ch;
            if (channel_parse(get_str(c, "channel"), &ch)) continue;
            get_bool(c, "allowed", true, &d->ch[ch].allowed);
            get_bool(c, "requires_verified_sender", false, &d->ch[ch].verified_sender);
            get_bool(c, "requires_encryption", false, &d->ch[ch].encryption);
        }
    }
    if (json_object_object_get_ex(doc, "domain_rules", &v)) {
        for (size_t i = 0; i < json_object_array_length(v) && d->nrules < MAX_RULES; i++) {
            json_object *r = json_object_array_get_idx(v, i);
            domain_rule_t *x = &d->rules[d->nrules++];
            lower_copy(x->domain, sizeof x->domain, get_str(r, "domain"));
            snprintf(x->cls, sizeof x->cls, "%s", get_str(r, "classification"));
            get_bool(r, "allowed", true, &x->allowed);
            get_bool(r, "approval_required", false, &x->approval);
            get_bool(r, "encryption_required", false, &x->encryption);
        }
    }
}

int recipients_policy_from_doc(json_object *doc, const char *tenant_ref, recipient_policy_t **out,
                               json_object **errors) {
    *errors = NULL;
    int rc = validate_doc(doc, errors);
    if (rc) return rc;
    recipient_policy_t *p = xcalloc(1, sizeof *p);
    policy_from_doc(doc, p);
    snprintf(p->tenant_ref, sizeof p->tenant_ref, "%s", tenant_ref ? tenant_ref : "");
    snprintf(p->ref, sizeof p->ref, "recipient-policy:document");
    *out = p;
    return 0;
}

/* writes the document (validated) as the tenant's policy, inside the
 * caller's transaction, and appends evidence recipient_policy.updated */
static int apply_doc(db_t *db, long long tenant_id, const char *tenant_ref, const char *actor_ref,
                     const char *actor_role, const char *approval_ref, json_object *doc, const char *request_id) {
    json_object *v;
    recipient_policy_t *d = xcalloc(1, sizeof *d);
    policy_from_doc(doc, d);
    json_object *carr = json_object_new_array();
    for (int i = 0; i < CHANNEL__COUNT; i++)
        json_object_array_add(carr, channel_json(d, (delivery_channel_t)i, channel_names[i]));
    char ref[REF_MAX + 16], now[RFC3339_MAX];
    ref_new("recipient-policy", ref);
    sql_datetime_format(now_ms(), now);
    int rc = db_exec(
        db,
        "INSERT INTO recipient_policies (tenant_id, ref, name, status, owner_role, default_action, external_default, "
        "external_approval, new_domain_approval, group_change_approval, approver_role, channels, "
        "attachment_encryption, minimum_transport, kms_key_ref_required, reviewed_at, updated_at) VALUES (?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), status = "
        "VALUES(status), default_action = VALUES(default_action), external_default = VALUES(external_default), "
        "external_approval = VALUES(external_approval), new_domain_approval = VALUES(new_domain_approval), "
        "group_change_approval = VALUES(group_change_approval), approver_role = VALUES(approver_role), channels = "
        "VALUES(channels), attachment_encryption = VALUES(attachment_encryption), minimum_transport = "
        "VALUES(minimum_transport), kms_key_ref_required = VALUES(kms_key_ref_required), version = version + 1, "
        "reviewed_at = VALUES(reviewed_at), updated_at = VALUES(updated_at)",
        DB_ARGS(DBI(tenant_id), DBS(ref), DBS(d->name), DBS(d->status),
                DBS(actor_role && *actor_role ? actor_role : d->owner_role), DBS(d->default_action),
                DBS(d->external_default), DBI(d->external_approval), DBI(d->new_domain_approval),
                DBI(d->group_change_approval), DBS(d->approver_role), DBS(json_object_to_json_string(carr)),
                DBI(d->attachment_encryption), DBS(d->min_transport), DBI(d->kms), DBS(now), DBS(now)),
        NULL, NULL);
    json_object_put(carr);
    int nrules = 0, ngroups = 0;
    if (!rc && json_object_object_get_ex(doc, "domain_rules", &v)) {
        rc = db_exec(db, "DELETE FROM recipient_domain_rules WHERE tenant_id = ?", DB_ARGS(DBI(tenant_id)), NULL,
                     NULL);
        for (int i = 0; !rc && i < d->nrules; i++) {
            const domain_rule_t *r = &d->rules[i];
            rc = db_exec(db,
                         "INSERT INTO recipient_domain_rules (tenant_id, domain, classification, allowed, "
                         "approval_required, encryption_required) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
                         "classification = VALUES(classification), allowed = VALUES(allowed), approval_required = "
                         "VALUES(approval_required), encryption_required = VALUES(encryption_required)",
                         DB_ARGS(DBI(tenant_id), DBS(r->domain), DBS(r->cls), DBI(r->allowed), DBI(r->approval),
                                 DBI(r->encryption)),
                         NULL, NULL);
            nrules++;
        }
    }
    if (!rc && json_object_object_get_ex(doc, "recipient_groups", &v)) {
        /* groups not listed are removed; listed ones keep their ref */
        json_object *keep = json_object_new_array();
        for (size_t i = 0; !rc && i < json_object_array_length(v); i++) {
            json_object *g = json_object_array_get_idx(v, i), *m;
            const char *gr = get_str(g, "group_ref"), *src = get_str(g, "source");
            char newref[REF_MAX];
            uint64_t gid = 0;
            db_res_t *res;
            if (gr) {
                rc = db_query(db, "SELECT id FROM recipient_groups WHERE tenant_id = ? AND ref = ?",
                              DB_ARGS(DBI(tenant_id), DBS(gr)), &res);
                if (rc) break;
                if (db_res_next(res)) gid = (uint64_t)db_res_int(res, 0);
                db_res_free(res);
            }
            if (gid) {
                rc = db_exec(db,
                             "UPDATE recipient_groups SET display_name = ?, role_scope = ?, source = ? WHERE id = ? "
                             "AND tenant_id = ?",
                             DB_ARGS(DBS(get_str(g, "display_name")), DBS(get_str(g, "role_scope")),
                                     DBS(src ? src : "manual_group"), DBI(gid), DBI(tenant_id)),
                             NULL, NULL);
            } else {
                ref_new("group", newref);
                gr = newref;
                rc = db_exec(db,
                             "INSERT INTO recipient_groups (ref, tenant_id, display_name, role_scope, source) "
                             "VALUES (?, ?, ?, ?, ?)",
                             DB_ARGS(DBS(newref), DBI(tenant_id), DBS(get_str(g, "display_name")),
                                     DBS(get_str(g, "role_scope")), DBS(src ? src : "manual_group")),
                             NULL, &gid);
            }
            json_object_array_add(keep, json_object_new_int64((int64_t)gid));
            if (!rc && json_object_object_get_ex(g, "members", &m)) {
                rc = db_exec(db, "DELETE FROM recipient_group_members WHERE group_id = ? AND tenant_id = ?",
                             DB_ARGS(DBI(gid), DBI(tenant_id)), NULL, NULL);
                for (size_t k = 0; !rc && k < json_object_array_length(m); k++) {
                    char addr[255];
                    lower_copy(addr, sizeof addr, json_object_get_string(json_object_array_get_idx(m, k)));
                    rc = db_exec(db,
                                 "INSERT IGNORE INTO recipient_group_members (group_id, tenant_id, address) VALUES "
                                 "(?, ?, ?)",
                                 DB_ARGS(DBI(gid), DBI(tenant_id), DBS(addr)), NULL, NULL);
                }
            }
            ngroups++;
        }
        if (!rc) {
            /* delete groups not in `keep` */
            db_res_t *res;
            rc = db_query(db, "SELECT id FROM recipient_groups WHERE tenant_id = ?", DB_ARGS(DBI(tenant_id)), &res);
            if (!rc) {
                long long drop[MAX_GROUPS * 2];
                int nd2 = 0;
                while (db_res_next(res) && nd2 < MAX_GROUPS * 2) {
                    long long id = db_res_int(res, 0);
                    bool kept = false;
                    for (size_t k = 0; k < json_object_array_length(keep); k++)
                        if (json_object_get_int64(json_object_array_get_idx(keep, k)) == id) kept = true;
                    if (!kept) drop[nd2++] = id;
                }
                db_res_free(res);
                for (int k = 0; !rc && k < nd2; k++) {
                    rc = db_exec(db, "DELETE FROM recipient_group_members WHERE group_id = ? AND tenant_id = ?",
                                 DB_ARGS(DBI(drop[k]), DBI(tenant_id)), NULL, NULL);
                    if (!rc)
                        rc = db_exec(db, "DELETE FROM recipient_groups WHERE id = ? AND tenant_id = ?",
                                     DB_ARGS(DBI(drop[k]), DBI(tenant_id)), NULL, NULL);
                }
            }
        }
        json_object_put(keep);
    }
    free(d);
    if (rc) return rc;
    /* evidence: digest of the document (addresses inside are hashed in, never shown) */
    buf_t canon = BUF_INIT;
    jcs_serialize(doc, &canon);
    char digest[SHA256_HEX_LEN + 1];
    sha256_hex(canon.data ? canon.data : "", canon.len, digest);
    buf_free(&canon);
    json_object *det = json_object_new_object();
    put_s(det, "policy_digest", digest);
    json_object_object_add(det, "domain_rules", json_object_new_int(nrules));
    json_object_object_add(det, "recipient_groups", json_object_new_int(ngroups));
    if (approval_ref) put_s(det, "approval_ref", approval_ref);
    evidence_event_t ev = {.tenant_id = tenant_id,
                           .tenant_ref = tenant_ref,
                           .actor_ref = actor_ref,
                           .actor_role = actor_role,
                           .action = "recipient_policy.updated",
                           .object_ref = ref,
                           .outcome = "success",
                           .request_id = request_id,
                           .details = det};
    char evref[EVIDENCE_REF_MAX];
    rc = evidence_append(db, &ev, evref);
    json_object_put(det);
    if (!rc)
        rc = db_exec(db, "UPDATE recipient_policies SET change_evidence_ref = ? WHERE tenant_id = ?",
                     DB_ARGS(DBS(evref), DBI(tenant_id)), NULL, NULL);
    return rc;
}

int recipients_policy_update(db_t *db, const actor_t *a, json_object *doc, const char *request_id,
                             char approval_ref_out[REF_MAX], json_object **errors) {
    approval_ref_out[0] = 0;
    *errors = NULL;
    int rc = validate_doc(doc, errors);
    if (rc) return rc;
    recipient_policy_t *cur;
    rc = recipients_policy_load(db, a->tenant_id, a->tenant_ref, &cur);
    if (rc) return rc;
    bool gated = cur->stored && cur->group_change_approval;
    char policy_ref[REF_MAX + 16], approver[33];
    snprintf(policy_ref, sizeof policy_ref, "%s", recipients_policy_ref(cur));
    snprintf(approver, sizeof approver, "%s", cur->approver_role);
    recipients_policy_free(cur);
    rc = db_begin(db);
    if (rc) return rc;
    if (gated) {
        json_object *subj = json_object_new_object(), *arr = json_object_new_array(), *fm = json_object_new_array();
        json_object_array_add(arr, json_object_new_string("recipient_policy"));
        json_object_array_add(fm, json_object_new_string("json"));
        json_object_object_add(subj, "report_ids", arr);
        json_object_object_add(subj, "formats", fm);
        put_s(subj, "delivery_mode", "smtp");
        put_s(subj, "recipient_scope", "approved_internal_domain");
        approval_request_t req = {.type = APPROVAL_RECIPIENT_GROUP_CHANGE,
                                  .subject_kind = "recipient_policy",
                                  .subject_ref = policy_ref,
                                  .approver_role = approver,
                                  .risk_level = "medium",
                                  .reason_code = "recipient_policy_change",
                                  .payload = doc,
                                  .public_subject = subj,
                                  .policy_ref = policy_ref};
        rc = approvals_request(db, a->tenant_id, a->tenant_ref, a->user_ref, a->user_id, &req, request_id,
                               approval_ref_out);
        json_object_put(subj);
    } else {
        rc = apply_doc(db, a->tenant_id, a->tenant_ref, a->user_ref, a->role, NULL, doc, request_id);
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

static int on_policy_approval(db_t *db, const approval_t *req, approval_outcome_t outcome, const char *request_id) {
    if (outcome != APPROVAL_APPROVED) return 0; /* rejected / expired: the proposal is simply not applied */
    json_object *errors = NULL;
    if (validate_doc(req->payload, &errors)) {
        json_object_put(errors);
        return AISPM_EINVAL;
    }
    return apply_doc(db, req->tenant_id, req->tenant_ref, req->decided_by_ref, NULL, req->ref, req->payload,
                     request_id);
}

void recipients_init(void) { approvals_register_handler(APPROVAL_RECIPIENT_GROUP_CHANGE, on_policy_approval); }

int recipients_seed_default(db_t *db, long long tenant_id, const char *tenant_ref, const char *internal_domain) {
    db_res_t *res;
    int rc = db_query(db, "SELECT 1 FROM recipient_policies WHERE tenant_id = ?", DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    int exists = db_res_next(res);
    db_res_free(res);
    if (exists) return 0;
    char text[2048];
    snprintf(text, sizeof text,
             "{\"policy\":{\"name\":\"Report Delivery Recipient Policy\",\"status\":\"active\","
             "\"default_action\":\"require_approval\",\"external_delivery_default\":\"require_approval\"},"
             "\"domain_rules\":[{\"domain\":\"%s\",\"classification\":\"internal\",\"allowed\":true,"
             "\"approval_required\":false,\"encryption_required\":false},"
             "{\"domain\":\"auditor.example\",\"classification\":\"external_auditor\",\"allowed\":true,"
             "\"approval_required\":true,\"encryption_required\":true},"
             "{\"domain\":\"competitor.example\",\"classification\":\"blocked\",\"allowed\":false,"
             "\"approval_required\":false,\"encryption_required\":false}],"
             "\"recipient_groups\":[{\"display_name\":\"Security Leadership\",\"role_scope\":\"cso\","
             "\"source\":\"manual_group\",\"members\":[\"ciso@%s\",\"security-leads@%s\"]}],"
             "\"delivery_channel_eligibility\":[{\"channel\":\"smtp\",\"allowed\":true,"
             "\"requires_verified_sender\":true,\"requires_encryption\":false},{\"channel\":\"portal\","
             "\"allowed\":true},{\"channel\":\"webhook\",\"allowed\":true,\"requires_encryption\":true},"
             "{\"channel\":\"grc_upload\",\"allowed\":true,\"requires_encryption\":true}],"
             "\"approval_policy\":{\"external_recipient_approval_required\":true,"
             "\"new_domain_approval_required\":true,\"recipient_group_change_approval_required\":true,"
             "\"approver_group\":\"approver\",\"approval_evidence_required\":true},"
             "\"encryption_policy\":{\"attachment_encryption_required\":false,\"minimum_transport\":\"tls_1_2\","
             "\"kms_key_ref_required\":false}}",
             internal_domain, internal_domain, internal_domain);
    json_object *doc = json_tokener_parse(text), *errors = NULL;
    if (!doc) return AISPM_ERR;
    rc = validate_doc(doc, &errors);
    json_object_put(errors);
    if (!rc) rc = db_begin(db);
    if (!rc) {
        rc = apply_doc(db, tenant_id, tenant_ref, "system", NULL, NULL, doc, NULL);
        rc = rc ? (db_rollback(db), rc) : db_commit(db);
    }
    json_object_put(doc);
    return rc;
}

int recipients_policy_document(db_t *db, const actor_t *a, json_object **out) {
    recipient_policy_t *p;
    int rc = recipients_policy_load(db, a->tenant_id, a->tenant_ref, &p);
    if (rc) return rc;
    json_object *o = json_object_new_object(), *pol = json_object_new_object();
    put_s(pol, "name", p->name);
    put_s(pol, "status", !strcmp(p->status, "requires_review") ? "active" : p->status);
    put_s(pol, "default_action", p->default_action);
    put_s(pol, "external_delivery_default", p->external_default);
    json_object_object_add(o, "policy", pol);
    json_object *rules = json_object_new_array();
    for (int i = 0; i < p->nrules; i++) json_object_array_add(rules, rule_json(&p->rules[i]));
    json_object_object_add(o, "domain_rules", rules);
    json_object *groups = json_object_new_array();
    db_res_t *res;
    rc = db_query(db,
                  "SELECT ref, display_name, role_scope, source FROM recipient_groups WHERE tenant_id = ? ORDER BY id "
                  "LIMIT 100",
                  DB_ARGS(DBI(a->tenant_id)), &res);
    if (!rc) {
        while (db_res_next(res)) { /* members are kept when a group is listed without them */
            json_object *g = json_object_new_object();
            put_s(g, "group_ref", db_res_str(res, 0));
            put_s(g, "display_name", db_res_str(res, 1));
            put_s(g, "role_scope", db_res_str(res, 2));
            put_s(g, "source", db_res_str(res, 3));
            json_object_array_add(groups, g);
        }
        db_res_free(res);
    }
    json_object_object_add(o, "recipient_groups", groups);
    json_object *chs = json_object_new_array();
    for (int i = 0; i < CHANNEL__COUNT; i++) {
        json_object_array_add(chs, channel_json(p, (delivery_channel_t)i, channel_names[i]));
    }
    json_object_object_add(o, "delivery_channel_eligibility", chs);
    json_object *ap = json_object_new_object();
    put_b(ap, "external_recipient_approval_required", p->external_approval);
    put_b(ap, "new_domain_approval_required", p->new_domain_approval);
    put_b(ap, "recipient_group_change_approval_required", p->group_change_approval);
    put_s(ap, "approver_group", p->approver_role);
    json_object_object_add(o, "approval_policy", ap);
    json_object *enc = json_object_new_object();
    put_b(enc, "attachment_encryption_required", p->attachment_encryption);
    put_s(enc, "minimum_transport", p->min_transport);
    put_b(enc, "kms_key_ref_required", p->kms);
    json_object_object_add(o, "encryption_policy", enc);
    recipients_policy_free(p);
    *out = o;
    return rc;
}
