/*
 * delivery.c: governed sends, the delivery job, retries, dead letters and
 * the delivery audit (see delivery.h).
 *
 * States of a delivery (one row per send and channel):
 *
 *   blocked                      policy refused (terminal, nothing sent)
 *   held -> queued | dropped     waiting for an approval (report_send)
 *   queued -> sending -> delivered
 *                     -> retry_scheduled -> sending ...   transient failure
 *                     -> dead        transient failures exhausted (operator retry -> queued)
 *                     -> failed      permanent failure (operator retry -> queued)
 *
 * Exactly-once towards deduplicating receivers: a delivery has one
 * message id (Message-ID "<delivery-ULID@aispm>", webhook X-AISPM-Delivery-Id)
 * that every attempt reuses. A worker killed after the receiver accepted but
 * before the commit leaves the job 'running'; its lock expires
 * (delivery_lock_s), another worker re-sends the same message id, and the
 * receiver discards the copy. Provider timeouts are kept below the lock, so
 * a live attempt is never claimed twice.
 *
 * Privacy: addresses exist only in delivery_recipients.address and in the
 * RCPT list handed to the SMTP provider. Audit rows, evidence and logs carry
 * recipient refs, domains and counts.
 */
#include "reports/delivery.h"

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
#include "db/jobs.h"
#include "providers/provider.h"
#include "reports/approvals.h"
#include "reports/recipients.h"

static void put_s(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

const char *delivery_result_name(delivery_result_t r) {
    return r == DELIVERY_RESULT_QUEUED ? "queued" : r == DELIVERY_RESULT_HELD ? "held" : "blocked";
}

static const char *origin_name(delivery_origin_t o) {
    return o == DELIVERY_ORIGIN_SCHEDULE ? "schedule" : o == DELIVERY_ORIGIN_TEST ? "test" : "user";
}
static const char *origin_action(const char *origin) {
    return !strcmp(origin, "schedule") ? "schedule" : !strcmp(origin, "test") ? "test_delivery" : "send";
}

/* ------------------------------------------------------------------------ */
/* the delivery audit (projection rows) + evidence                           */

typedef struct {
    long long tenant_id;
    const char *tenant_ref;
    long long delivery_id;    /* 0 for events without a delivery */
    const char *object_ref;   /* delivery ref (or other object) */
    const char *action;       /* send | test_delivery | schedule | render | catalog */
    const char *status;       /* contract status */
    const char *actor_ref, *actor_role;
    const char *report_id, *format, *mode;
    int attempt, max_attempts;
    int64_t next_retry_ms;    /* 0 = none */
    bool terminal;
    const char *approval_decision; /* not_required | pending | approved | denied | expired */
    const char *evidence_action;   /* delivery.* */
    const char *outcome;
    json_object *details;     /* borrowed: evidence details (refs and codes only) */
    const char *request_id;
    const char *evidence_ref; /* an existing evidence event of the action: reused, none appended */
} audit_t;

static int audit_write(db_t *db, const audit_t *a) {
    char evref[EVIDENCE_REF_MAX], aref[REF_MAX + 8], now[RFC3339_MAX], nxt[RFC3339_MAX];
    evidence_event_t ev = {.tenant_id = a->tenant_id,
                           .tenant_ref = a->tenant_ref,
                           .actor_ref = a->actor_ref,
                           .actor_role = a->actor_role,
                           .action = a->evidence_action,
                           .object_ref = a->object_ref,
                           .outcome = a->outcome,
                           .request_id = a->request_id,
                           .details = a->details};
    int rc = 0;
    if (a->evidence_ref && *a->evidence_ref) snprintf(evref, sizeof evref, "%s", a->evidence_ref);
    else rc = evidence_append(db, &ev, evref);
    if (rc) return rc;
    ref_new("audit-event", aref);
    sql_datetime_format(now_ms(), now);
    if (a->next_retry_ms) sql_datetime_format(a->next_retry_ms, nxt);
    return db_exec(db,
                   "INSERT INTO delivery_audit (ref, tenant_id, delivery_id, object_ref, action, status, actor_ref, "
                   "report_id, format, delivery_mode, attempt, max_attempts, next_retry_at, terminal, "
                   "approval_decision, evidence_ref, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                   "?, ?)",
                   DB_ARGS(DBS(aref), DBI(a->tenant_id), a->delivery_id ? DBI(a->delivery_id) : DBNULL,
                           DBS(a->object_ref), DBS(a->action), DBS(a->status),
                           DBS(a->actor_role && *a->actor_role ? a->actor_role : a->actor_ref), DBS(a->report_id),
                           DBS(a->format), DBS(a->mode), DBI(a->attempt), DBI(a->max_attempts),
                           a->next_retry_ms ? DBS(nxt) : DBNULL, DBI(a->terminal),
                           DBS(a->approval_decision ? a->approval_decision : "not_required"), DBS(evref), DBS(now)),
                   NULL, NULL);
}

int delivery_audit_record(db_t *db, long long tenant_id, const char *tenant_ref, const char *actor_ref,
                          const char *action, const char *status, const char *report_id, const char *format,
                          const char *object_ref, const char *evidence_ref) {
    json_object *d = json_object_new_object();
    put_s(d, "status", status);
    put_s(d, "report_id", report_id);
    put_s(d, "format", format);
    char act[48];
    snprintf(act, sizeof act, "delivery_audit.%s", action);
    audit_t a = {.tenant_id = tenant_id,
                 .tenant_ref = tenant_ref,
                 .object_ref = object_ref,
                 .action = action,
                 .status = status,
                 .actor_ref = actor_ref,
                 .report_id = report_id,
                 .format = format,
                 .mode = "disabled",
                 .terminal = true,
                 .evidence_action = act,
                 .outcome = !strcmp(status, "failed") ? "failure" : "success",
                 .details = d,
                 .evidence_ref = evidence_ref};
    int rc = audit_write(db, &a);
    json_object_put(d);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* settings                                                                  */

static int provider_settings_load(db_t *db, const config_t *cfg, long long tenant_id, provider_settings_t *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->mode, sizeof s->mode, "disabled");
    db_res_t *res;
    int rc = db_query(db, "SELECT name, value FROM settings WHERE tenant_id = ?", DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    char token_ref[520] = "", ca_ref[520] = "";
    while (db_res_next(res)) {
        const char *n = db_res_str(res, 0), *v = db_res_str(res, 1);
#define SET(name, field)                                                                                               \
    if (!strcmp(n, name)) snprintf(field, sizeof field, "%s", v)
        SET("CAVRA_REPORT_DELIVERY_MODE", s->mode);
        SET("CAVRA_REPORT_SMTP_HOST", s->smtp_host);
        SET("CAVRA_REPORT_SMTP_TLS", s->smtp_tls);
        SET("CAVRA_REPORT_SMTP_USERNAME_REF", s->smtp_username_ref);
        SET("CAVRA_REPORT_SMTP_PASSWORD_REF", s->smtp_password_ref);
        SET("CAVRA_REPORT_FROM_ADDRESS", s->from);
        SET("CAVRA_REPORT_REPLY_TO", s->reply_to);
        SET("CAVRA_REPORT_WEBHOOK_URL", s->webhook_url);
        SET("CAVRA_REPORT_GRC_UPLOAD_URL", s->grc_upload_url);
        SET("CAVRA_REPORT_WEBHOOK_SECRET_REF", s->signing_secret_ref);
        SET("CAVRA_REPORT_PROVIDER_TOKEN_REF", token_ref);
        SET("CAVRA_REPORT_SMTP_CA_REF", ca_ref);
#undef SET
        if (!strcmp(n, "CAVRA_REPORT_SMTP_PORT")) s->smtp_port = atoi(v);
    }
    db_res_free(res);
    if (!s->signing_secret_ref[0]) snprintf(s->signing_secret_ref, sizeof s->signing_secret_ref, "%s", token_ref);
    /* a tenant's own CA bundle (a private relay's certificate) before the
     * process-wide one; only file: references name a bundle */
    if (!strncmp(ca_ref, "file:", 5)) snprintf(s->ca_file, sizeof s->ca_file, "%s", ca_ref + 5);
    if (cfg) {
        if (!s->ca_file[0]) snprintf(s->ca_file, sizeof s->ca_file, "%s", cfg->smtp_ca_file);
        s->allow_private = cfg->egress_private_networks;
        s->timeout_ms = cfg->delivery_lock_s * 1000L - 1000L;
        if (s->timeout_ms > 60000) s->timeout_ms = 60000;
    }
    return 0;
}

/* max attempts of the tenant's retry policy (none | fixed:N | exponential:N) */
static void retry_policy(db_t *db, long long tenant_id, int *max_attempts, bool *exponential) {
    *max_attempts = 5;
    *exponential = true;
    db_res_t *res;
    if (db_query(db, "SELECT value FROM settings WHERE tenant_id = ? AND name = 'CAVRA_REPORT_RETRY_POLICY'",
                 DB_ARGS(DBI(tenant_id)), &res))
        return;
    if (db_res_next(res)) {
        const char *v = db_res_str(res, 0);
        if (!strcmp(v, "none")) *max_attempts = 1;
        else if (!strncmp(v, "fixed:", 6)) *max_attempts = atoi(v + 6), *exponential = false;
        else if (!strncmp(v, "exponential:", 12)) *max_attempts = atoi(v + 12);
        if (*max_attempts < 1 || *max_attempts > 10) *max_attempts = 5;
    }
    db_res_free(res);
}

/* ------------------------------------------------------------------------ */
/* submit                                                                    */

static void outcome_fail(delivery_outcome_t *o, int status, const char *code, const char *detail, json_object *errs) {
    o->status = status;
    o->code = code;
    o->detail = detail;
    o->body = errs;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* the canonical digest of a request: artifact, recipient refs, groups, channels (sorted) */
static void request_digest(const delivery_request_t *r, const char *tenant_ref, char out[SHA256_HEX_LEN + 1]) {
    json_object *o = json_object_new_object(), *rc = json_object_new_array(), *gr = json_object_new_array(),
                *ch = json_object_new_array();
    char **refs = xcalloc((size_t)r->nrecipients + 1, sizeof *refs);
    for (int i = 0; i < r->nrecipients; i++) {
        refs[i] = xmalloc(RECIPIENT_REF_MAX);
        recipient_ref_of(tenant_ref, r->recipients[i], refs[i]);
    }
    qsort(refs, (size_t)r->nrecipients, sizeof *refs, cmp_str);
    for (int i = 0; i < r->nrecipients; i++) {
        json_object_array_add(rc, json_object_new_string(refs[i]));
        free(refs[i]);
    }
    free(refs);
    const char **g = xcalloc((size_t)r->ngroups + 1, sizeof *g);
    for (int i = 0; i < r->ngroups; i++) g[i] = r->groups[i];
    qsort(g, (size_t)r->ngroups, sizeof *g, cmp_str);
    for (int i = 0; i < r->ngroups; i++) json_object_array_add(gr, json_object_new_string(g[i]));
    free(g);
    int chs[CHANNEL__COUNT] = {0};
    for (int i = 0; i < r->nchannels; i++) {
        delivery_channel_t c;
        if (!channel_parse(r->channels[i], &c)) chs[c] = 1;
    }
    for (int i = 0; i < CHANNEL__COUNT; i++)
        if (chs[i]) json_object_array_add(ch, json_object_new_string(channel_name((delivery_channel_t)i)));
    put_s(o, "artifact_ref", r->artifact_ref ? r->artifact_ref : "");
    put_s(o, "origin", origin_name(r->origin));
    put_s(o, "origin_ref", r->occurrence_ref);
    json_object_object_add(o, "recipients", rc);
    json_object_object_add(o, "groups", gr);
    json_object_object_add(o, "channels", ch);
    buf_t b = BUF_INIT;
    jcs_serialize(o, &b);
    sha256_hex(b.data, b.len, out);
    buf_free(&b);
    json_object_put(o);
}

/* one delivery_recipients row: recipient_ref, <second>, decision, reason, group_ref */
static json_object *recipient_json(db_res_t *res, const char *second) {
    json_object *r = json_object_new_object();
    put_s(r, "recipient_ref", db_res_str(res, 0));
    put_s(r, second, db_res_str(res, 1));
    put_s(r, "decision", db_res_str(res, 2));
    put_s(r, "reason", db_res_str(res, 3));
    if (*db_res_str(res, 4)) put_s(r, "group_ref", db_res_str(res, 4));
    return r;
}

/* the answer for an existing send (idempotent repeat or after submit) */
static json_object *send_body(db_t *db, long long tenant_id, const char *send_ref) {
    json_object *o = json_object_new_object(), *dl = json_object_new_array(), *rc = json_object_new_array(),
                *reasons = json_object_new_array();
    put_s(o, "send_ref", send_ref);
    db_res_t *res;
    const char *result = "queued";
    char approval[REF_MAX] = "";
    if (!db_query(db,
                  "SELECT d.id, d.ref, d.channel, d.status, d.reasons, COALESCE(a.ref, '') FROM deliveries d LEFT "
                  "JOIN approval_requests a ON a.id = d.approval_id AND a.tenant_id = d.tenant_id WHERE d.tenant_id "
                  "= ? AND d.send_ref = ? ORDER BY d.id",
                  DB_ARGS(DBI(tenant_id), DBS(send_ref)), &res)) {
        while (db_res_next(res)) {
            json_object *d = json_object_new_object();
            put_s(d, "delivery_ref", db_res_str(res, 1));
            put_s(d, "channel", db_res_str(res, 2));
            put_s(d, "status", db_res_str(res, 3));
            json_object_array_add(dl, d);
            if (!strcmp(db_res_str(res, 3), "blocked")) result = "blocked";
            else if (!strcmp(db_res_str(res, 3), "held") && strcmp(result, "blocked")) result = "held";
            if (*db_res_str(res, 5)) snprintf(approval, sizeof approval, "%s", db_res_str(res, 5));
            json_object *rs = json_tokener_parse(db_res_str(res, 4));
            for (size_t i = 0; rs && i < json_object_array_length(rs); i++) {
                const char *code = json_object_get_string(json_object_array_get_idx(rs, i));
                bool seen = false;
                for (size_t k = 0; k < json_object_array_length(reasons); k++)
                    if (!strcmp(code, json_object_get_string(json_object_array_get_idx(reasons, k)))) seen = true;
                if (!seen) json_object_array_add(reasons, json_object_new_string(code));
            }
            json_object_put(rs);
        }
        db_res_free(res);
    }
    if (!db_query(db,
                  "SELECT r.recipient_ref, d.channel, r.decision, r.reason, COALESCE(r.group_ref, '') FROM "
                  "delivery_recipients r JOIN deliveries d ON d.id = r.delivery_id AND d.tenant_id = r.tenant_id "
                  "WHERE d.tenant_id = ? AND d.send_ref = ? ORDER BY d.id, r.recipient_ref",
                  DB_ARGS(DBI(tenant_id), DBS(send_ref)), &res)) {
        while (db_res_next(res)) json_object_array_add(rc, recipient_json(res, "channel"));
        db_res_free(res);
    }
    put_s(o, "result", result);
    put_s(o, "approval_ref", approval[0] ? approval : NULL);
    json_object_object_add(o, "reasons", reasons);
    json_object_object_add(o, "deliveries", dl);
    json_object_object_add(o, "recipients", rc);
    return o;
}

typedef struct {
    long long id;
    char ref[REF_MAX], report_id[80], format[24], digest[65];
} artifact_info_t;

static int artifact_lookup(db_t *db, long long tenant_id, const char *ref, artifact_info_t *a) {
    db_res_t *res;
    int rc = db_query(db, "SELECT id, report_id, format, digest FROM artifacts WHERE tenant_id = ? AND ref = ?",
                      DB_ARGS(DBI(tenant_id), DBS(ref)), &res);
    if (rc) return rc;
    rc = AISPM_ENOTFOUND;
    if (db_res_next(res)) {
        a->id = db_res_int(res, 0);
        snprintf(a->ref, sizeof a->ref, "%s", ref);
        snprintf(a->report_id, sizeof a->report_id, "%s", db_res_str(res, 1));
        snprintf(a->format, sizeof a->format, "%s", db_res_str(res, 2));
        snprintf(a->digest, sizeof a->digest, "%s", db_res_str(res, 3));
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

static const char *mode_of(delivery_channel_t ch) {
    /* the contract's delivery_mode: portal delivery uses no outbound provider */
    return ch == CHANNEL_SMTP ? "smtp" : (ch == CHANNEL_WEBHOOK || ch == CHANNEL_GRC_UPLOAD) ? "webhook" : "disabled";
}

static int find_existing(db_t *db, long long tenant_id, const char *key, char send_ref[REF_MAX],
                         char digest[SHA256_HEX_LEN + 1]) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT send_ref, request_digest FROM deliveries WHERE tenant_id = ? AND idempotency_key = ? "
                      "ORDER BY id LIMIT 1",
                      DB_ARGS(DBI(tenant_id), DBS(key)), &res);
    if (rc) return rc;
    rc = AISPM_ENOTFOUND;
    if (db_res_next(res)) {
        snprintf(send_ref, REF_MAX, "%s", db_res_str(res, 0));
        snprintf(digest, SHA256_HEX_LEN + 1, "%s", db_res_str(res, 1));
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

static int enqueue_delivery(db_t *db, long long tenant_id, long long delivery_id, int max_attempts) {
    char payload[64];
    snprintf(payload, sizeof payload, "{\"delivery_id\": %lld}", delivery_id);
    /* the job outlives the delivery's own attempts: a crashed claim is re-tried
     * by the lock expiry, so allow a few more claims than attempts */
    return jobs_enqueue(db, tenant_id, DELIVERY_JOB_KIND, payload, 0, max_attempts + 5, NULL);
}

static int validate_request(const delivery_request_t *r, delivery_channel_t *chs, int *nch, json_object **errs) {
    json_object *e = NULL;
#define ERR(f, m)                                                                                                      \
    do {                                                                                                               \
        if (!e) e = json_object_new_object();                                                                          \
        json_object_object_add(e, f, json_object_new_string(m));                                                       \
    } while (0)
    *nch = 0;
    if (r->nchannels < 1 || r->nchannels > CHANNEL__COUNT) ERR("channels", "must list 1 to 4 channels");
    bool people = false;
    for (int i = 0; i < r->nchannels && i < CHANNEL__COUNT; i++) {
        delivery_channel_t c;
        if (channel_parse(r->channels[i], &c)) {
            ERR("channels", "each must be email (smtp), portal (download), webhook or grc_upload");
            break;
        }
        for (int k = 0; k < *nch; k++)
            if (chs[k] == c) ERR("channels", "must not repeat a channel");
        chs[(*nch)++] = c;
        people = people || channel_has_recipients(c);
    }
    if (r->nrecipients > DELIVERY_MAX_RECIPIENTS) ERR("recipients", "at most 100 recipients");
    for (int i = 0; i < r->nrecipients && i < DELIVERY_MAX_RECIPIENTS; i++)
        if (!r->recipients[i] || strlen(r->recipients[i]) > 254 || !utf8_valid(r->recipients[i], strlen(r->recipients[i]))) {
            ERR("recipients", "each must be an e-mail address of at most 254 characters");
            break;
        }
    if (r->ngroups > DELIVERY_MAX_GROUPS) ERR("groups", "at most 20 groups");
    for (int i = 0; i < r->ngroups && i < DELIVERY_MAX_GROUPS; i++)
        if (!r->groups[i] || !ref_parse(r->groups[i], "group", NULL, NULL)) {
            ERR("groups", "each must be a group ref (group:ULID)");
            break;
        }
    if (people && r->nrecipients + r->ngroups == 0)
        ERR("recipients", "e-mail and portal delivery need at least one recipient or group");
    if (r->message_kind) {
        if (r->artifact_ref || !r->subject_ref || strlen(r->subject_ref) > 80)
            ERR("message", "a message kind takes a subject ref and no artifact");
        for (int i = 0; i < *nch; i++)
            if (chs[i] != CHANNEL_SMTP) ERR("channels", "a message kind is sent by e-mail only");
    } else if (r->origin != DELIVERY_ORIGIN_TEST &&
               (!r->artifact_ref || !ref_parse(r->artifact_ref, "artifact", NULL, NULL)))
        ERR("artifact_ref", "must be an artifact ref (artifact:ULID)");
    if (r->origin == DELIVERY_ORIGIN_TEST && r->artifact_ref && *r->artifact_ref &&
        !ref_parse(r->artifact_ref, "artifact", NULL, NULL))
        ERR("artifact_ref", "must be an artifact ref (artifact:ULID)");
    if (r->idempotency_key && (strlen(r->idempotency_key) < 1 || strlen(r->idempotency_key) > 200))
        ERR("Idempotency-Key", "must be 1-200 printable characters");
#undef ERR
    *errs = e;
    return e ? AISPM_EINVAL : 0;
}

int delivery_submit(db_t *db, const delivery_request_t *req, delivery_outcome_t *out) {
    memset(out, 0, sizeof *out);
    delivery_channel_t chs[CHANNEL__COUNT];
    int nch = 0;
    json_object *errs = NULL;
    if (validate_request(req, chs, &nch, &errs)) {
        outcome_fail(out, 422, "validation_failed", "the send request is not valid", errs);
        return 0;
    }
    artifact_info_t art = {0};
    /* the audit contract's report_id: the message kind for messages */
    snprintf(art.report_id, sizeof art.report_id, "%s", req->message_kind ? req->message_kind : "test_delivery");
    snprintf(art.format, sizeof art.format, "json");
    bool has_art = req->artifact_ref && *req->artifact_ref;
    if (has_art) {
        int rc = artifact_lookup(db, req->tenant_id, req->artifact_ref, &art);
        if (rc == AISPM_ENOTFOUND) {
            outcome_fail(out, 404, "artifact_not_found", "no such artifact in this tenant", NULL);
            return 0;
        }
        if (rc) return rc;
    }
    char digest[SHA256_HEX_LEN + 1];
    request_digest(req, req->tenant_ref, digest);
    const char *key = req->idempotency_key && *req->idempotency_key ? req->idempotency_key : req->occurrence_ref;
    if (key) {
        char ex_ref[REF_MAX], ex_digest[SHA256_HEX_LEN + 1];
        int rc = find_existing(db, req->tenant_id, key, ex_ref, ex_digest);
        if (!rc) {
            if (strcmp(ex_digest, digest)) {
                outcome_fail(out, 409, "idempotency_key_reused",
                             "this Idempotency-Key was used for a different send", NULL);
                return 0;
            }
            out->duplicate = true;
            snprintf(out->send_ref, sizeof out->send_ref, "%s", ex_ref);
            out->body = send_body(db, req->tenant_id, ex_ref);
            json_object *v;
            json_object_object_get_ex(out->body, "result", &v);
            const char *res = json_object_get_string(v);
            out->result = !strcmp(res, "blocked") ? DELIVERY_RESULT_BLOCKED
                          : !strcmp(res, "held")  ? DELIVERY_RESULT_HELD
                                                  : DELIVERY_RESULT_QUEUED;
            out->status = out->result == DELIVERY_RESULT_BLOCKED ? 403 : 200;
            if (out->status == 403) out->code = "send_blocked", out->detail = "recipient policy blocks this send";
            json_object_object_add(out->body, "duplicate", json_object_new_boolean(1));
            return 0;
        }
        if (rc != AISPM_ENOTFOUND) return rc;
    }
    provider_settings_t ps;
    int rc = provider_settings_load(db, NULL, req->tenant_id, &ps);
    if (rc) return rc;
    for (int i = 0; i < nch; i++)
        if (chs[i] != CHANNEL_PORTAL && !strcmp(ps.mode, "disabled")) {
            outcome_fail(out, 409, "delivery_disabled",
                         "delivery is disabled for this tenant (setup wizard: delivery provider); only portal "
                         "delivery is available",
                         NULL);
            return 0;
        }
    recipient_policy_t *pol;
    rc = recipients_policy_load(db, req->tenant_id, req->tenant_ref, &pol);
    if (rc) return rc;
    rcpt_evaluation_t ev;
    rc = recipients_evaluate_request(db, req->tenant_id, pol, req->recipients, req->nrecipients, req->groups,
                                     req->ngroups, chs, nch, &ev);
    if (rc) {
        recipients_policy_free(pol);
        return rc;
    }
    rcpt_decision_t overall = ev.overall;
    /* a pre-granted approval (e.g. an approved schedule) releases a send that only needs approval */
    bool pre_approved = overall == RCPT_NEEDS_APPROVAL && req->approval_ref &&
                        approvals_authorises(db, req->tenant_id, req->approval_ref, now_ms());
    const char *status = overall == RCPT_BLOCK ? "blocked"
                         : (overall == RCPT_NEEDS_APPROVAL && !pre_approved) ? "held"
                                                                             : "queued";
    const char *audit_status = overall == RCPT_BLOCK ? "blocked_policy"
                               : !strcmp(status, "held") ? "blocked_requires_approval"
                                                         : "accepted";
    const char *action = origin_action(origin_name(req->origin));
    const char *actor_ref = req->actor ? req->actor->user_ref : (req->schedule_ref ? req->schedule_ref : "system");
    const char *actor_role = req->actor ? req->actor->role : NULL;
    int max_attempts;
    bool expo;
    retry_policy(db, req->tenant_id, &max_attempts, &expo);
    char send_ref[REF_MAX];
    ref_new("send", send_ref);
    rc = req->in_caller_tx ? 0 : db_begin(db);
    if (rc) goto done;
    long long approval_id = 0;
    char approval_ref[REF_MAX] = "";
    if (!strcmp(status, "held")) {
        const char *reason = "external_recipient", *risk = "medium";
        bool ext = false;
        for (int i = 0; i < ev.n; i++)
            if (ev.verdicts[i].decision == RCPT_NEEDS_APPROVAL) {
                reason = ev.verdicts[i].reason;
                if (ev.verdicts[i].external) ext = true;
                if (!strcmp(reason, "new_domain")) risk = "high";
            }
        if (ext && strcmp(risk, "high")) risk = "high";
        json_object *subj = json_object_new_object(), *ids = json_object_new_array(), *fm = json_object_new_array();
        json_object_array_add(ids, json_object_new_string(art.report_id));
        json_object_array_add(fm, json_object_new_string(art.format));
        json_object_object_add(subj, "report_ids", ids);
        json_object_object_add(subj, "formats", fm);
        /* the approval contract names portal delivery "download" */
        put_s(subj, "delivery_mode", chs[0] == CHANNEL_PORTAL ? "download" : mode_of(chs[0]));
        put_s(subj, "recipient_scope", ext ? "approved_external_domain" : "approved_internal_domain");
        json_object *payload = json_object_new_object();
        put_s(payload, "send_ref", send_ref);
        bool own_subject = req->approval_subject_kind && req->subject_ref;
        approval_request_t ar = {.type = req->approval_type ? req->approval_type : APPROVAL_REPORT_SEND,
                                 .subject_kind = own_subject ? req->approval_subject_kind : "send",
                                 .subject_ref = own_subject ? req->subject_ref : send_ref,
                                 .approver_role = recipients_policy_approver_role(pol),
                                 .risk_level = risk,
                                 .reason_code = reason,
                                 .payload = payload,
                                 .public_subject = subj,
                                 .policy_ref = recipients_policy_ref(pol),
                                 .schedule_ref = req->schedule_ref};
        rc = approvals_request(db, req->tenant_id, req->tenant_ref, actor_ref, req->actor ? req->actor->user_id : 0,
                               &ar, req->request_id, approval_ref);
        json_object_put(subj);
        json_object_put(payload);
        if (!rc) {
            db_res_t *res;
            rc = db_query(db, "SELECT id FROM approval_requests WHERE tenant_id = ? AND ref = ?",
                          DB_ARGS(DBI(req->tenant_id), DBS(approval_ref)), &res);
            if (!rc) {
                if (db_res_next(res)) approval_id = db_res_int(res, 0);
                db_res_free(res);
            }
        }
    } else if (pre_approved) {
        db_res_t *res;
        rc = db_query(db, "SELECT id FROM approval_requests WHERE tenant_id = ? AND ref = ?",
                      DB_ARGS(DBI(req->tenant_id), DBS(req->approval_ref)), &res);
        if (!rc) {
            if (db_res_next(res)) approval_id = db_res_int(res, 0);
            db_res_free(res);
        }
        snprintf(approval_ref, sizeof approval_ref, "%s", req->approval_ref);
    }
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    for (int c = 0; !rc && c < nch; c++) {
        char dref[REF_MAX], msgid[120];
        ref_new("delivery", dref);
        snprintf(msgid, sizeof msgid, "<%s@aispm.report-center>", dref + 9);
        json_object *reasons = json_object_new_array(), *domains = json_object_new_array();
        int count = 0, external = 0;
        bool link = false;
        for (int i = 0; i < ev.n; i++) {
            rcpt_verdict_t *v = &ev.verdicts[i];
            if (v->channel != chs[c]) continue;
            if (v->decision != RCPT_ALLOW || overall == RCPT_ALLOW) {
                bool seen = false;
                for (size_t k = 0; k < json_object_array_length(reasons); k++)
                    if (!strcmp(v->reason, json_object_get_string(json_object_array_get_idx(reasons, k)))) seen = true;
                if (!seen && (v->decision != RCPT_ALLOW || overall != RCPT_BLOCK))
                    json_object_array_add(reasons, json_object_new_string(v->reason));
            }
            if (!v->recipient_ref[0]) continue;
            count++;
            if (v->encryption_required) link = true;
            bool seen = false;
            for (size_t k = 0; k < json_object_array_length(domains); k++)
                if (!strcmp(v->domain, json_object_get_string(json_object_array_get_idx(domains, k)))) seen = true;
            if (!seen) {
                json_object_array_add(domains, json_object_new_string(v->domain));
                if (v->external) external++;
            }
        }
        uint64_t did = 0;
        rc = db_exec(db,
                     "INSERT INTO deliveries (ref, send_ref, tenant_id, origin, origin_ref, requested_by, actor_ref, "
                     "actor_role, artifact_id, report_id, format, artifact_digest, channel, status, reasons, "
                     "approval_id, message_id, idempotency_key, request_digest, max_attempts, recipient_count, "
                     "domains, external_count, link_instead_of_attachment, created_at, updated_at, message_kind, "
                     "subject_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                     "?, ?)",
                     DB_ARGS(DBS(dref), DBS(send_ref), DBI(req->tenant_id), DBS(origin_name(req->origin)),
                             DBS(req->occurrence_ref ? req->occurrence_ref : req->schedule_ref),
                             req->actor ? DBI(req->actor->user_id) : DBNULL, DBS(actor_ref), DBS(actor_role),
                             has_art ? DBI(art.id) : DBNULL, DBS(art.report_id), DBS(art.format),
                             DBS(has_art ? art.digest : NULL), DBS(channel_name(chs[c])), DBS(status),
                             DBS(json_object_to_json_string(reasons)), approval_id ? DBI(approval_id) : DBNULL,
                             DBS(msgid), DBS(key), DBS(digest), DBI(max_attempts), DBI(count),
                             DBS(json_object_to_json_string(domains)), DBI(external), DBI(link), DBS(now), DBS(now),
                             DBS(req->message_kind ? req->message_kind : "report"), DBS(req->subject_ref)),
                     NULL, &did);
        for (int i = 0; !rc && i < ev.n; i++) {
            rcpt_verdict_t *v = &ev.verdicts[i];
            if (v->channel != chs[c] || !v->recipient_ref[0]) continue;
            rc = db_exec(db,
                         "INSERT IGNORE INTO delivery_recipients (delivery_id, tenant_id, recipient_ref, address, "
                         "domain, group_ref, decision, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         DB_ARGS(DBI(did), DBI(req->tenant_id), DBS(v->recipient_ref), DBS(ev.addresses[i]),
                                 DBS(v->domain), DBS(v->group_ref[0] ? v->group_ref : NULL),
                                 DBS(rcpt_decision_name(v->decision)), DBS(v->reason)),
                         NULL, NULL);
        }
        if (!rc) {
            json_object *d = json_object_new_object();
            put_s(d, "send_ref", send_ref);
            put_s(d, "channel", channel_name(chs[c]));
            put_s(d, "artifact_ref", has_art ? art.ref : NULL);
            put_s(d, "artifact_digest", has_art ? art.digest : NULL);
            put_s(d, "request_digest", digest);
            json_object_object_add(d, "reasons", json_object_get(reasons));
            json_object_object_add(d, "recipient_count", json_object_new_int(count));
            json_object_object_add(d, "domains", json_object_get(domains));
            if (approval_ref[0]) put_s(d, "approval_ref", approval_ref);
            if (req->occurrence_ref) put_s(d, "occurrence_ref", req->occurrence_ref);
            if (req->message_kind) {
                put_s(d, "message_kind", req->message_kind);
                put_s(d, "subject_ref", req->subject_ref);
            }
            char evact[40];
            snprintf(evact, sizeof evact, "delivery.%s", status);
            audit_t a = {.tenant_id = req->tenant_id,
                         .tenant_ref = req->tenant_ref,
                         .delivery_id = (long long)did,
                         .object_ref = dref,
                         .action = action,
                         .status = audit_status,
                         .actor_ref = actor_ref,
                         .actor_role = actor_role,
                         .report_id = art.report_id,
                         .format = art.format,
                         .mode = mode_of(chs[c]),
                         .max_attempts = max_attempts,
                         .terminal = overall == RCPT_BLOCK,
                         .approval_decision = !strcmp(status, "held") ? "pending"
                                              : pre_approved         ? "approved"
                                                                     : "not_required",
                         .evidence_action = evact,
                         .outcome = overall == RCPT_BLOCK ? "blocked" : !strcmp(status, "held") ? "pending" : "success",
                         .details = d,
                         .request_id = req->request_id};
            rc = audit_write(db, &a);
            json_object_put(d);
        }
        if (!rc && !strcmp(status, "queued")) rc = enqueue_delivery(db, req->tenant_id, (long long)did, max_attempts);
        json_object_put(reasons);
        json_object_put(domains);
    }
    if (rc) {
        if (req->in_caller_tx) goto done; /* the caller rolls back */
        db_rollback(db);
        if (rc == AISPM_ECONFLICT && key) { /* a concurrent repeat won the key: answer it */
            recipients_eval_free(&ev);
            recipients_policy_free(pol);
            return delivery_submit(db, req, out);
        }
        goto done;
    }
    rc = req->in_caller_tx ? 0 : db_commit(db);
    if (rc) goto done;
    snprintf(out->send_ref, sizeof out->send_ref, "%s", send_ref);
    snprintf(out->approval_ref, sizeof out->approval_ref, "%s", approval_ref);
    out->body = send_body(db, req->tenant_id, send_ref);
    out->result = overall == RCPT_BLOCK ? DELIVERY_RESULT_BLOCKED
                  : !strcmp(status, "held") ? DELIVERY_RESULT_HELD
                                            : DELIVERY_RESULT_QUEUED;
    out->status = overall == RCPT_BLOCK ? 403 : 202;
    if (overall == RCPT_BLOCK) out->code = "send_blocked", out->detail = "recipient policy blocks this send";
    json_object_object_add(out->body, "duplicate", json_object_new_boolean(0));
done:
    recipients_eval_free(&ev);
    recipients_policy_free(pol);
    return rc;
}

void delivery_outcome_free(delivery_outcome_t *o) {
    json_object_put(o->body);
    o->body = NULL;
}

/* ------------------------------------------------------------------------ */
/* approval handler: release or drop a held send                             */

static delivery_held_hook_fn held_hook;
void delivery_on_held_decided(delivery_held_hook_fn fn) { held_hook = fn; }

int delivery_release_held(db_t *db, const approval_t *ap, approval_outcome_t outcome, const char *request_id) {
    json_object *v;
    if (!ap->payload || !json_object_object_get_ex(ap->payload, "send_ref", &v)) return AISPM_EINVAL;
    const char *send_ref = json_object_get_string(v);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT id, ref, channel, report_id, format, max_attempts, origin, COALESCE(origin_ref, '') FROM deliveries WHERE "
                      "tenant_id = ? AND send_ref = ? AND status = 'held' ORDER BY id FOR UPDATE",
                      DB_ARGS(DBI(ap->tenant_id), DBS(send_ref)), &res);
    if (rc) return rc;
    struct {
        long long id;
        char ref[REF_MAX], channel[16], report_id[80], format[24], origin[12], origin_ref[80];
        int max;
    } rows[CHANNEL__COUNT];
    int n = 0;
    while (db_res_next(res) && n < CHANNEL__COUNT) {
        rows[n].id = db_res_int(res, 0);
        snprintf(rows[n].ref, sizeof rows[n].ref, "%s", db_res_str(res, 1));
        snprintf(rows[n].channel, sizeof rows[n].channel, "%s", db_res_str(res, 2));
        snprintf(rows[n].report_id, sizeof rows[n].report_id, "%s", db_res_str(res, 3));
        snprintf(rows[n].format, sizeof rows[n].format, "%s", db_res_str(res, 4));
        rows[n].max = (int)db_res_int(res, 5);
        snprintf(rows[n].origin, sizeof rows[n].origin, "%s", db_res_str(res, 6));
        snprintf(rows[n].origin_ref, sizeof rows[n].origin_ref, "%s", db_res_str(res, 7));
        n++;
    }
    db_res_free(res);
    bool release = outcome == APPROVAL_APPROVED;
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    for (int i = 0; !rc && i < n; i++) {
        rc = db_exec(db, "UPDATE deliveries SET status = ?, updated_at = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(release ? "queued" : "dropped"), DBS(now), DBI(rows[i].id), DBI(ap->tenant_id)),
                     NULL, NULL);
        delivery_channel_t ch = CHANNEL_SMTP;
        channel_parse(rows[i].channel, &ch);
        json_object *d = json_object_new_object();
        put_s(d, "send_ref", send_ref);
        put_s(d, "approval_ref", ap->ref);
        put_s(d, "approval_evidence_ref", ap->evidence_ref);
        const char *decision = release ? "approved" : outcome == APPROVAL_REJECTED ? "denied" : "expired";
        audit_t a = {.tenant_id = ap->tenant_id,
                     .tenant_ref = ap->tenant_ref,
                     .delivery_id = rows[i].id,
                     .object_ref = rows[i].ref,
                     .action = origin_action(rows[i].origin),
                     .status = release ? "accepted" : "blocked_requires_approval",
                     .actor_ref = ap->decided_by_ref ? ap->decided_by_ref : "system",
                     .report_id = rows[i].report_id,
                     .format = rows[i].format,
                     .mode = mode_of(ch),
                     .max_attempts = rows[i].max,
                     .terminal = !release,
                     .approval_decision = decision,
                     .evidence_action = release ? "delivery.released" : "delivery.dropped",
                     .outcome = release ? "success" : decision,
                     .details = d,
                     .request_id = request_id};
        if (!rc) rc = audit_write(db, &a);
        json_object_put(d);
        if (!rc && release) rc = enqueue_delivery(db, ap->tenant_id, rows[i].id, rows[i].max);
    }
    /* a scheduled run held by this send follows its decision (scheduler.c),
     * in the same transaction; one send belongs to one occurrence */
    if (!rc && n > 0 && held_hook && !strcmp(rows[0].origin, "schedule") && rows[0].origin_ref[0])
        rc = held_hook(db, ap->tenant_id, rows[0].origin_ref, outcome, request_id);
    return rc;
}

void delivery_init(void) {
    approvals_register_handler(APPROVAL_REPORT_SEND, delivery_release_held);
    recipients_init();
}

/* ------------------------------------------------------------------------ */
/* message kinds other than reports                                          */

#define MAX_MESSAGE_KINDS 8
static struct {
    const char *kind;
    delivery_message_fn fn;
} message_kinds[MAX_MESSAGE_KINDS];

int delivery_register_message(const char *kind, delivery_message_fn fn) {
    for (int i = 0; i < MAX_MESSAGE_KINDS; i++)
        if (!message_kinds[i].kind || !strcmp(message_kinds[i].kind, kind)) {
            message_kinds[i].kind = kind;
            message_kinds[i].fn = fn;
            return 0;
        }
    return AISPM_EINVAL;
}

static delivery_message_fn message_builder(const char *kind) {
    for (int i = 0; i < MAX_MESSAGE_KINDS && message_kinds[i].kind; i++)
        if (!strcmp(message_kinds[i].kind, kind)) return message_kinds[i].fn;
    return NULL;
}

bool delivery_email_enabled(db_t *db, long long tenant_id) {
    provider_settings_t ps;
    return provider_settings_load(db, NULL, tenant_id, &ps) == 0 && !strcmp(ps.mode, "smtp");
}

/* ------------------------------------------------------------------------ */
/* the delivery job                                                          */

typedef struct {
    long long id, tenant_id, artifact_id, approval_id;
    char ref[REF_MAX], send_ref[REF_MAX], tenant_ref[REF_MAX], channel[16], status[20], report_id[80], format[24];
    char digest[65], message_id[120], origin[12], actor_ref[81], approval_ref[REF_MAX];
    int attempts, max_attempts;
    bool link;
    char storage_path[1024], filename[200], content_type[100], artifact_ref[REF_MAX];
    char message_kind[33], subject_ref[81];
} dl_t;

static int load_delivery(db_t *db, long long tenant_id, long long id, dl_t *d) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT d.id, d.ref, d.send_ref, t.ref, d.channel, d.status, d.report_id, d.format, "
                      "COALESCE(d.artifact_digest, ''), d.message_id, d.origin, d.actor_ref, d.attempts, "
                      "d.max_attempts, d.link_instead_of_attachment, COALESCE(d.artifact_id, 0), "
                      "COALESCE(d.approval_id, 0), COALESCE(a.storage_path, ''), COALESCE(a.filename, ''), "
                      "COALESCE(a.content_type, ''), COALESCE(a.ref, ''), COALESCE(ap.ref, ''), d.message_kind, "
                      "COALESCE(d.subject_ref, '') FROM deliveries d JOIN "
                      "tenants t ON t.id = d.tenant_id LEFT JOIN artifacts a ON a.id = d.artifact_id AND a.tenant_id "
                      "= d.tenant_id LEFT JOIN approval_requests ap ON ap.id = d.approval_id AND ap.tenant_id = "
                      "d.tenant_id WHERE d.tenant_id = ? AND d.id = ?",
                      DB_ARGS(DBI(tenant_id), DBI(id)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    memset(d, 0, sizeof *d);
    d->id = db_res_int(res, 0);
    d->tenant_id = tenant_id;
    snprintf(d->ref, sizeof d->ref, "%s", db_res_str(res, 1));
    snprintf(d->send_ref, sizeof d->send_ref, "%s", db_res_str(res, 2));
    snprintf(d->tenant_ref, sizeof d->tenant_ref, "%s", db_res_str(res, 3));
    snprintf(d->channel, sizeof d->channel, "%s", db_res_str(res, 4));
    snprintf(d->status, sizeof d->status, "%s", db_res_str(res, 5));
    snprintf(d->report_id, sizeof d->report_id, "%s", db_res_str(res, 6));
    snprintf(d->format, sizeof d->format, "%s", db_res_str(res, 7));
    snprintf(d->digest, sizeof d->digest, "%s", db_res_str(res, 8));
    snprintf(d->message_id, sizeof d->message_id, "%s", db_res_str(res, 9));
    snprintf(d->origin, sizeof d->origin, "%s", db_res_str(res, 10));
    snprintf(d->actor_ref, sizeof d->actor_ref, "%s", db_res_str(res, 11));
    d->attempts = (int)db_res_int(res, 12);
    d->max_attempts = (int)db_res_int(res, 13);
    d->link = db_res_int(res, 14);
    d->artifact_id = db_res_int(res, 15);
    d->approval_id = db_res_int(res, 16);
    snprintf(d->storage_path, sizeof d->storage_path, "%s", db_res_str(res, 17));
    snprintf(d->filename, sizeof d->filename, "%s", db_res_str(res, 18));
    snprintf(d->content_type, sizeof d->content_type, "%s", db_res_str(res, 19));
    snprintf(d->artifact_ref, sizeof d->artifact_ref, "%s", db_res_str(res, 20));
    snprintf(d->approval_ref, sizeof d->approval_ref, "%s", db_res_str(res, 21));
    snprintf(d->message_kind, sizeof d->message_kind, "%s", db_res_str(res, 22));
    snprintf(d->subject_ref, sizeof d->subject_ref, "%s", db_res_str(res, 23));
    db_res_free(res);
    return 0;
}

static int load_addresses(db_t *db, const dl_t *d, char ***out, int *n) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT address FROM delivery_recipients WHERE delivery_id = ? AND tenant_id = ? AND decision "
                      "<> 'block' ORDER BY recipient_ref",
                      DB_ARGS(DBI(d->id), DBI(d->tenant_id)), &res);
    if (rc) return rc;
    *n = 0;
    *out = NULL;
    while (db_res_next(res)) {
        *out = xrealloc(*out, (size_t)(*n + 1) * sizeof **out);
        (*out)[(*n)++] = xstrdup(db_res_str(res, 0));
    }
    db_res_free(res);
    return 0;
}

static void free_addresses(char **a, int n) {
    for (int i = 0; i < n; i++) free(a[i]);
    free(a);
}

/* next delay: base * 2^(attempt-1) (or base for fixed), plus 0-25 % jitter */
static int64_t backoff_ms(int base_ms, int attempt, bool exponential) {
    int64_t d = base_ms;
    if (exponential)
        for (int i = 1; i < attempt && d < 3600000; i++) d *= 2;
    uint32_t r = 0;
    random_bytes(&r, sizeof r);
    return d + (int64_t)((double)d * 0.25 * ((double)r / 4294967296.0));
}

/* records the outcome of an attempt: delivery row, audit event + evidence,
 * job state — one transaction, only while this worker still owns the job */
static void finish_attempt(db_t *db, const config_t *cfg, job_claim_t *j, const dl_t *d, const provider_outcome_t *po,
                           bool exponential) {
    delivery_channel_t ch = CHANNEL_SMTP;
    channel_parse(d->channel, &ch);
    bool ok = po->result == PROVIDER_OK;
    bool transient = po->result == PROVIDER_TRANSIENT;
    bool more = transient && d->attempts < d->max_attempts;
    int64_t next = more ? now_ms() + backoff_ms(cfg->delivery_retry_base_ms, d->attempts, exponential) : 0;
    const char *st = ok ? "delivered" : more ? "retry_scheduled" : transient ? "dead" : "failed";
    bool test = !strcmp(d->origin, "test");
    const char *audit_status = ok ? (test ? "test_passed" : "sent") : more ? "retry_scheduled" : "failed";
    char now[RFC3339_MAX], nxt[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    if (next) sql_datetime_format(next, nxt);
    int rc = db_begin(db);
    if (rc) return;
    rc = db_exec(db,
                 "UPDATE deliveries SET status = ?, last_error = ?, next_attempt_at = ?, delivered_at = ?, "
                 "updated_at = ? WHERE id = ? AND tenant_id = ?",
                 DB_ARGS(DBS(st), DBS(ok ? NULL : po->code), next ? DBS(nxt) : DBNULL, ok ? DBS(now) : DBNULL,
                         DBS(now), DBI(d->id), DBI(d->tenant_id)),
                 NULL, NULL);
    json_object *det = json_object_new_object();
    put_s(det, "send_ref", d->send_ref);
    put_s(det, "channel", d->channel);
    put_s(det, "result_code", po->code);
    json_object_object_add(det, "provider_status", json_object_new_int(po->status));
    json_object_object_add(det, "attempt", json_object_new_int(d->attempts));
    json_object_object_add(det, "max_attempts", json_object_new_int(d->max_attempts));
    char mid[SHA256_HEX_LEN + 1];
    sha256_hex(d->message_id, strlen(d->message_id), mid);
    put_s(det, "message_id_digest", mid);
    if (next) {
        char n3339[RFC3339_MAX];
        rfc3339_format(next, 1, n3339);
        put_s(det, "next_attempt_at", n3339);
    }
    char evact[40];
    snprintf(evact, sizeof evact, "delivery.%s", ok ? "delivered" : more ? "retry_scheduled" : transient ? "dead_lettered" : "failed");
    audit_t a = {.tenant_id = d->tenant_id,
                 .tenant_ref = d->tenant_ref,
                 .delivery_id = d->id,
                 .object_ref = d->ref,
                 .action = origin_action(d->origin),
                 .status = audit_status,
                 .actor_ref = "system",
                 .report_id = d->report_id,
                 .format = d->format,
                 .mode = mode_of(ch),
                 .attempt = d->attempts,
                 .max_attempts = d->max_attempts,
                 .next_retry_ms = next,
                 .terminal = !more,
                 .approval_decision = d->approval_id ? "approved" : "not_required",
                 .evidence_action = evact,
                 .outcome = ok ? "success" : "failure",
                 .details = det};
    if (!rc) rc = audit_write(db, &a);
    json_object_put(det);
    if (!rc) rc = more ? jobs_requeue(db, j, next, po->code) : jobs_finish(db, j, ok ? "done" : transient ? "dead" : "failed", ok ? NULL : po->code);
    if (rc) {
        db_rollback(db);
        log_msg(LOG_WARN, "delivery_job", "could not record the attempt of %s (%d)", d->ref, rc);
        return;
    }
    db_commit(db);
    log_msg(ok ? LOG_INFO : LOG_WARN, "delivery_attempt", "%s %s attempt %d/%d: %s", d->ref, d->channel, d->attempts,
            d->max_attempts, po->code);
}

static void drop_unauthorised(db_t *db, job_claim_t *j, const dl_t *d) {
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    if (db_begin(db)) return;
    int rc = db_exec(db, "UPDATE deliveries SET status = 'dropped', last_error = 'approval_expired', updated_at = ? "
                         "WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(now), DBI(d->id), DBI(d->tenant_id)), NULL, NULL);
    delivery_channel_t ch = CHANNEL_SMTP;
    channel_parse(d->channel, &ch);
    json_object *det = json_object_new_object();
    put_s(det, "approval_ref", d->approval_ref);
    put_s(det, "reason", "approval_expired");
    audit_t a = {.tenant_id = d->tenant_id,
                 .tenant_ref = d->tenant_ref,
                 .delivery_id = d->id,
                 .object_ref = d->ref,
                 .action = origin_action(d->origin),
                 .status = "blocked_requires_approval",
                 .actor_ref = "system",
                 .report_id = d->report_id,
                 .format = d->format,
                 .mode = mode_of(ch),
                 .attempt = d->attempts,
                 .max_attempts = d->max_attempts,
                 .terminal = true,
                 .approval_decision = "expired",
                 .evidence_action = "delivery.dropped",
                 .outcome = "expired",
                 .details = det};
    if (!rc) rc = audit_write(db, &a);
    json_object_put(det);
    if (!rc) rc = jobs_finish(db, j, "done", "approval_expired");
    if (rc) db_rollback(db);
    else db_commit(db);
}

static void build_message(const config_t *cfg, const dl_t *d, const buf_t *bytes, provider_message_t *m, buf_t *text,
                          buf_t *json, char subject[200]) {
    snprintf(subject, 200, "%s: %s (%s)", !strcmp(d->origin, "test") ? "AISPM Report Center test delivery" : "AISPM report",
             d->report_id, d->format);
    m->delivery_ref = d->ref;
    m->message_id = d->message_id;
    m->subject = subject;
    if (strcmp(d->message_kind, "report")) { /* text already built by the kind's builder */
        m->text = text->data;
        return;
    }
    buf_printf(text, "AISPM Report Center delivery %s.\r\nReport: %s (%s)\r\n", d->ref, d->report_id, d->format);
    if (d->digest[0]) buf_printf(text, "SHA-256: %s\r\n", d->digest);
    if (d->artifact_ref[0] && d->link)
        buf_printf(text, "\r\nThe recipient domain requires encryption, so the report is not attached.\r\n"
                         "Download it from the portal: %s/enterprise/aispm/reports/artifacts/%s/content\r\n",
                   cfg->public_url, d->artifact_ref);
    else if (d->artifact_ref[0])
        buf_puts(text, "\r\nThe report is attached.\r\n");
    else
        buf_puts(text, "\r\nThis is a test delivery from the setup wizard; no report is attached.\r\n");
    m->text = text->data;
    if (d->artifact_ref[0] && !d->link && bytes->len) {
        m->attachment = (const uint8_t *)bytes->data;
        m->attachment_len = bytes->len;
        m->attachment_name = d->filename;
        m->attachment_type = d->content_type;
    }
    /* webhook / GRC document: metadata; the GRC upload carries the artifact */
    json_object *o = json_object_new_object();
    put_s(o, "delivery_id", d->ref);
    put_s(o, "send_ref", d->send_ref);
    put_s(o, "tenant_ref", d->tenant_ref);
    put_s(o, "report_id", d->report_id);
    put_s(o, "format", d->format);
    put_s(o, "artifact_ref", d->artifact_ref[0] ? d->artifact_ref : NULL);
    put_s(o, "artifact_sha256", d->digest[0] ? d->digest : NULL);
    put_s(o, "filename", d->filename[0] ? d->filename : NULL);
    if (!strcmp(d->channel, "grc_upload") && bytes->len) {
        char *b64 = xmalloc(b64_encoded_len(bytes->len) + 1);
        b64_encode((const uint8_t *)bytes->data, bytes->len, b64);
        put_s(o, "content_base64", b64);
        free(b64);
    }
    jcs_serialize(o, json);
    json_object_put(o);
    m->json = json->data;
    m->json_len = json->len;
}

static void run_delivery(db_t *db, const config_t *cfg, job_claim_t *j) {
    dl_t d;
    int rc = load_delivery(db, j->tenant_id, j->payload_id, &d);
    /* count_attempt marked a deliverable row 'sending'; any other state is
     * final (delivered, dropped, ...) or not ours to send */
    if (rc == AISPM_ENOTFOUND || (!rc && strcmp(d.status, "sending"))) {
        if (!db_begin(db)) {
            if (jobs_finish(db, j, "done", rc ? "delivery_missing" : NULL)) db_rollback(db);
            else db_commit(db);
        }
        return;
    }
    if (rc) {
        jobs_requeue(db, j, now_ms() + 1000, "data_unavailable");
        return;
    }
    /* a delivery whose job keeps being re-claimed (a worker dying on it every
     * time) is dead-lettered instead of looping forever */
    if (j->attempts > j->max_attempts) {
        provider_outcome_t dead = {.result = PROVIDER_TRANSIENT};
        snprintf(dead.code, sizeof dead.code, "claims_exhausted");
        d.max_attempts = d.attempts;
        finish_attempt(db, cfg, j, &d, &dead, true);
        return;
    }
    /* an approval that has expired since it released the send no longer authorises it */
    if (d.approval_id && !approvals_authorises(db, d.tenant_id, d.approval_ref, now_ms())) {
        drop_unauthorised(db, j, &d);
        return;
    }
    int max_attempts;
    bool expo;
    retry_policy(db, d.tenant_id, &max_attempts, &expo);
    provider_settings_t ps;
    provider_outcome_t po;
    memset(&po, 0, sizeof po);
    buf_t bytes = BUF_INIT, text = BUF_INIT, json = BUF_INIT;
    if ((rc = provider_settings_load(db, cfg, d.tenant_id, &ps))) {
        po.result = PROVIDER_TRANSIENT;
        snprintf(po.code, sizeof po.code, "data_unavailable");
    } else if (d.artifact_ref[0]) {
        char path[2200];
        snprintf(path, sizeof path, "%s/%s", cfg->artifacts_dir, d.storage_path);
        char hex[SHA256_HEX_LEN + 1];
        if (buf_read_file(&bytes, path) || (sha256_hex(bytes.data ? bytes.data : "", bytes.len, hex), strcmp(hex, d.digest))) {
            po.result = PROVIDER_PERMANENT;
            snprintf(po.code, sizeof po.code, "artifact_unavailable");
        }
    }
    buf_t msg_subject = BUF_INIT;
    if (!po.code[0] && strcmp(d.message_kind, "report")) {
        /* a registered message kind builds its own subject and text now */
        delivery_message_fn fn = message_builder(d.message_kind);
        if (!fn || fn(db, cfg, d.tenant_id, d.subject_ref, &msg_subject, &text)) {
            po.result = PROVIDER_PERMANENT;
            snprintf(po.code, sizeof po.code, "message_unavailable");
        }
    }
    if (!po.code[0]) {
        char subject[200];
        provider_message_t m;
        memset(&m, 0, sizeof m);
        build_message(cfg, &d, &bytes, &m, &text, &json, subject);
        if (msg_subject.len) m.subject = buf_cstr(&msg_subject);
        delivery_channel_t ch = CHANNEL_SMTP;
        channel_parse(d.channel, &ch);
        if (ch == CHANNEL_PORTAL) {
            po.result = PROVIDER_OK; /* the portal inbox is the deliveries list itself */
            snprintf(po.code, sizeof po.code, "sent");
        } else if (!strcmp(ps.mode, "disabled")) {
            po.result = PROVIDER_REFUSED;
            snprintf(po.code, sizeof po.code, "delivery_disabled");
        } else if (ch == CHANNEL_SMTP) {
            char **to = NULL;
            int nto = 0;
            if (strcmp(ps.mode, "smtp")) {
                po.result = PROVIDER_REFUSED;
                snprintf(po.code, sizeof po.code, "provider_not_supported");
            } else if (load_addresses(db, &d, &to, &nto) || nto == 0) {
                po.result = PROVIDER_PERMANENT;
                snprintf(po.code, sizeof po.code, "no_recipients");
            } else {
                m.to = (const char *const *)to;
                m.nto = nto;
                provider_smtp_send(&ps, &m, &po);
            }
            free_addresses(to, nto);
        } else {
            provider_http_post(&ps, ch == CHANNEL_WEBHOOK ? ps.webhook_url : ps.grc_upload_url, &m, &po);
        }
    }
    if (po.result == PROVIDER_REFUSED) po.result = PROVIDER_PERMANENT;
    buf_free(&msg_subject);
    buf_free(&bytes);
    buf_free(&text);
    buf_free(&json);
    finish_attempt(db, cfg, j, &d, &po, expo);
}

/* inside the claim's transaction: the attempt is counted (and the delivery
 * marked sending) with the claim's commit, before the provider is called, so
 * a crash is visible as an attempt */
static int count_attempt(db_t *db, const job_claim_t *j, void *ctx) {
    (void)ctx;
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    return db_exec(db,
                   "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ? AND "
                   "tenant_id = ? AND status IN ('queued', 'retry_scheduled', 'sending')",
                   DB_ARGS(DBS(now), DBI(j->payload_id), DBI(j->tenant_id)), NULL, NULL);
}

int delivery_run_pending(db_t *db, const config_t *cfg, int max_jobs, int *ran) {
    int n = 0, rc = 0;
    for (int i = 0; i < max_jobs; i++) {
        job_claim_t j;
        memset(&j, 0, sizeof j);
        rc = jobs_claim_with(db, DELIVERY_JOB_KIND, "$.delivery_id", cfg->delivery_lock_s, count_attempt, NULL, &j);
        if (rc <= 0) break;
        run_delivery(db, cfg, &j);
        n++;
        rc = 0;
    }
    if (ran) *ran = n;
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------------ */
/* reads                                                                     */

static const char *public_format(const char *f) {
    static const char *const ok[] = {"markdown", "json", "csv", "pdf", "xlsx", "docx", "html", "jsonl", "zip", NULL};
    for (int i = 0; ok[i]; i++)
        if (!strcmp(f, ok[i])) return f;
    return "json";
}

static void rfc_of(const char *sql, char out[RFC3339_MAX]) {
    int64_t ms = 0;
    out[0] = 0;
    if (sql && *sql && !sql_datetime_parse(sql, &ms)) rfc3339_format(ms, 0, out);
}

/* one delivery_audit row (columns AUDIT_COLS) -> contract projection */
#define AUDIT_COLS                                                                                                     \
    "x.ref, x.action, x.created_at, x.actor_ref, x.report_id, x.format, x.delivery_mode, x.status, x.attempt, "       \
    "x.max_attempts, COALESCE(x.next_retry_at, ''), x.terminal, x.approval_decision, x.evidence_ref, "                \
    "COALESCE(d.recipient_count, 0), COALESCE(d.domains, '[]'), COALESCE(d.external_count, 0), "                      \
    "COALESCE(ap.ref, ''), COALESCE(d.artifact_digest, ar.digest, ''), COALESCE(d.ref, x.object_ref, '')"

#define AUDIT_FROM                                                                                                     \
    "delivery_audit x LEFT JOIN deliveries d ON d.id = x.delivery_id AND d.tenant_id = x.tenant_id LEFT JOIN "        \
    "approval_requests ap ON ap.id = d.approval_id AND ap.tenant_id = d.tenant_id LEFT JOIN artifacts ar ON "          \
    "ar.ref = x.object_ref AND ar.tenant_id = x.tenant_id"

static json_object *audit_projection(const char *tenant_ref, db_res_t *res) {
    json_object *o = json_object_new_object();
    put_s(o, "schema_version", "cavra.aispm.report_delivery_audit_event.v1");
    put_s(o, "product", "CAVRA");
    put_s(o, "edition", "enterprise");
    put_s(o, "contract_visibility", "public_contract");
    json_object *e = json_object_new_object();
    char at[RFC3339_MAX], nxt[RFC3339_MAX], buf[160];
    rfc_of(db_res_str(res, 2), at);
    rfc_of(db_res_str(res, 10), nxt);
    put_s(e, "audit_event_id", db_res_str(res, 0));
    put_s(e, "action", db_res_str(res, 1));
    put_s(e, "occurred_at", at);
    put_s(e, "tenant_ref", tenant_ref);
    const char *actor = db_res_str(res, 3);
    if (rbac_role_valid(actor)) snprintf(buf, sizeof buf, "role:%s", actor);
    else snprintf(buf, sizeof buf, "%s", actor);
    put_s(e, "actor_ref", buf);
    put_s(e, "report_id", db_res_str(res, 4));
    put_s(e, "requested_format", public_format(db_res_str(res, 5)));
    put_s(e, "delivery_mode", db_res_str(res, 6));
    put_s(e, "status", db_res_str(res, 7));
    json_object_object_add(o, "audit_event", e);
    json_object *rs = json_object_new_object();
    json_object_object_add(rs, "recipient_count", json_object_new_int64(db_res_int(res, 14)));
    json_object *doms = json_tokener_parse(db_res_str(res, 15));
    json_object_object_add(rs, "allowed_domains", doms ? doms : json_object_new_array());
    json_object_object_add(rs, "external_domain_count", json_object_new_int64(db_res_int(res, 16)));
    json_object_object_add(rs, "recipient_addresses_redacted", json_object_new_boolean(1));
    json_object_object_add(o, "recipient_summary", rs);
    json_object *ap = json_object_new_object();
    const char *dec = db_res_str(res, 12);
    json_object_object_add(ap, "approval_required", json_object_new_boolean(strcmp(dec, "not_required") != 0));
    put_s(ap, "approval_ref", *db_res_str(res, 17) ? db_res_str(res, 17) : NULL);
    put_s(ap, "decision", dec);
    json_object_object_add(o, "approval", ap);
    json_object *rt = json_object_new_object();
    json_object_object_add(rt, "attempt", json_object_new_int64(db_res_int(res, 8)));
    json_object_object_add(rt, "max_attempts", json_object_new_int64(db_res_int(res, 9)));
    put_s(rt, "next_retry_at", nxt[0] ? nxt : NULL);
    json_object_object_add(rt, "terminal", json_object_new_boolean(db_res_int(res, 11)));
    json_object_object_add(o, "retry", rt);
    json_object *ev = json_object_new_object(), *refs = json_object_new_array();
    char pub[EVIDENCE_REF_MAX];
    if (evidence_ref_public(db_res_str(res, 13), pub)) snprintf(pub, sizeof pub, "cavra://evidence/redacted/none");
    json_object_array_add(refs, json_object_new_string(pub));
    json_object_object_add(ev, "evidence_refs", refs);
    snprintf(buf, sizeof buf, "sha256:%s", *db_res_str(res, 18) ? db_res_str(res, 18) : "none");
    put_s(ev, "report_digest_ref", buf);
    snprintf(buf, sizeof buf, "delivery-audit:%s", *db_res_str(res, 19) ? db_res_str(res, 19) : db_res_str(res, 0));
    put_s(ev, "delivery_audit_ref", buf);
    put_s(ev, "immutable_store_ref", pub);
    json_object_object_add(o, "evidence", ev);
    json_object *red = json_object_new_object();
    const char *flags[] = {"raw_report_content_included", "provider_response_included", "recipient_addresses_included",
                           "secrets_included"};
    for (int i = 0; i < 4; i++) json_object_object_add(red, flags[i], json_object_new_boolean(0));
    put_s(red, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", red);
    json_object *eb = json_object_new_object();
    const char *bn[] = {"audit_store", "provider_response_storage", "retry_worker", "immutable_evidence_store",
                        "license_enforcement"};
    for (int i = 0; i < 5; i++) put_s(eb, bn[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
    return o;
}

#define DELIVERY_COLS                                                                                                  \
    "d.id, d.ref, d.send_ref, d.origin, d.channel, d.status, d.reasons, d.report_id, d.format, "                      \
    "COALESCE(a.ref, ''), d.attempts, d.max_attempts, COALESCE(d.next_attempt_at, ''), COALESCE(d.last_error, ''), "  \
    "d.recipient_count, d.domains, d.external_count, COALESCE(ap.ref, ''), COALESCE(ap.state, ''), d.created_at, "    \
    "d.updated_at, COALESCE(d.delivered_at, ''), d.link_instead_of_attachment"

static json_object *delivery_json(db_res_t *res) {
    json_object *o = json_object_new_object();
    char t1[RFC3339_MAX], t2[RFC3339_MAX], t3[RFC3339_MAX], t4[RFC3339_MAX];
    rfc_of(db_res_str(res, 12), t1);
    rfc_of(db_res_str(res, 19), t2);
    rfc_of(db_res_str(res, 20), t3);
    rfc_of(db_res_str(res, 21), t4);
    put_s(o, "delivery_ref", db_res_str(res, 1));
    put_s(o, "send_ref", db_res_str(res, 2));
    put_s(o, "origin", db_res_str(res, 3));
    put_s(o, "channel", db_res_str(res, 4));
    put_s(o, "status", db_res_str(res, 5));
    json_object *r = json_tokener_parse(db_res_str(res, 6));
    json_object_object_add(o, "reasons", r ? r : json_object_new_array());
    put_s(o, "report_id", db_res_str(res, 7));
    put_s(o, "format", db_res_str(res, 8));
    put_s(o, "artifact_ref", *db_res_str(res, 9) ? db_res_str(res, 9) : NULL);
    json_object_object_add(o, "attempts", json_object_new_int64(db_res_int(res, 10)));
    json_object_object_add(o, "max_attempts", json_object_new_int64(db_res_int(res, 11)));
    put_s(o, "next_attempt_at", t1[0] ? t1 : NULL);
    put_s(o, "last_error", *db_res_str(res, 13) ? db_res_str(res, 13) : NULL);
    json_object_object_add(o, "recipient_count", json_object_new_int64(db_res_int(res, 14)));
    json_object *dm = json_tokener_parse(db_res_str(res, 15));
    json_object_object_add(o, "domains", dm ? dm : json_object_new_array());
    json_object_object_add(o, "external_domain_count", json_object_new_int64(db_res_int(res, 16)));
    put_s(o, "approval_ref", *db_res_str(res, 17) ? db_res_str(res, 17) : NULL);
    put_s(o, "approval_state", *db_res_str(res, 18) ? db_res_str(res, 18) : NULL);
    put_s(o, "created_at", t2);
    put_s(o, "updated_at", t3);
    put_s(o, "delivered_at", t4[0] ? t4 : NULL);
    json_object_object_add(o, "portal_link_instead_of_attachment", json_object_new_boolean(db_res_int(res, 22)));
    json_object_object_add(o, "retryable", json_object_new_boolean(!strcmp(db_res_str(res, 5), "dead") ||
                                                                   !strcmp(db_res_str(res, 5), "failed")));
    return o;
}

static bool sees_all(const actor_t *a) { return rbac_role_has(a->role, PERM_AUDIT_READ); }

int delivery_list(db_t *db, const actor_t *a, const delivery_filter_t *f, json_object **out, json_object **errors) {
    *errors = NULL;
    static const char *const statuses[] = {"blocked", "held", "queued", "sending", "retry_scheduled", "delivered",
                                           "failed", "dead", "dropped", NULL};
    int limit = f->limit ? f->limit : 50;
    long long before = 0;
    int64_t since = 0, until = 0;
    char since_s[RFC3339_MAX] = "", until_s[RFC3339_MAX] = "";
#define ERR(k, m)                                                                                                      \
    do {                                                                                                               \
        if (!*errors) *errors = json_object_new_object();                                                              \
        json_object_object_add(*errors, k, json_object_new_string(m));                                                 \
    } while (0)
    if (limit < 1 || limit > 100) ERR("limit", "must be 1-100");
    if (f->status && *f->status) {
        bool ok = false;
        for (int i = 0; statuses[i]; i++) ok = ok || !strcmp(statuses[i], f->status);
        if (!ok) ERR("status", "unknown delivery status");
    }
    delivery_channel_t ch;
    if (f->channel && *f->channel && channel_parse(f->channel, &ch)) ERR("channel", "unknown channel");
    if (f->since && *f->since && rfc3339_parse(f->since, &since)) ERR("since", "must be an RFC 3339 date-time");
    if (f->until && *f->until && rfc3339_parse(f->until, &until)) ERR("until", "must be an RFC 3339 date-time");
    if (f->report_id && strlen(f->report_id) > 64) ERR("report_id", "at most 64 characters");
    if (f->cursor && *f->cursor) {
        char *end;
        before = strtoll(f->cursor, &end, 10);
        if (*end || before <= 0) ERR("cursor", "not a cursor of this list");
    }
#undef ERR
    if (*errors) return AISPM_EINVAL;
    if (since) sql_datetime_format(since, since_s);
    if (until) sql_datetime_format(until, until_s);
    const char *chn = f->channel && *f->channel ? channel_name(ch) : NULL;
    const char *st = f->status && *f->status ? f->status : NULL;
    const char *rid = f->report_id && *f->report_id ? f->report_id : NULL;
    db_res_t *res;
    int rc = db_query(
        db,
        "SELECT " DELIVERY_COLS " FROM deliveries d LEFT JOIN artifacts a ON a.id = d.artifact_id AND a.tenant_id = "
        "d.tenant_id LEFT JOIN approval_requests ap ON ap.id = d.approval_id AND ap.tenant_id = d.tenant_id WHERE "
        "d.tenant_id = ? AND (? = 1 OR d.requested_by = ?) AND (? IS NULL OR d.status = ?) AND (? IS NULL OR "
        "d.channel = ?) AND (? IS NULL OR d.report_id = ?) AND (? IS NULL OR d.created_at >= ?) AND (? IS NULL OR "
        "d.created_at < ?) AND (? = 0 OR d.id < ?) ORDER BY d.id DESC LIMIT ?",
        DB_ARGS(DBI(a->tenant_id), DBI(sees_all(a)), DBI(a->user_id), DBS(st), DBS(st), DBS(chn), DBS(chn), DBS(rid),
                DBS(rid), DBS(since ? since_s : NULL), DBS(since ? since_s : NULL), DBS(until ? until_s : NULL),
                DBS(until ? until_s : NULL), DBI(before), DBI(before), DBI(limit + 1)),
        &res);
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
        last = db_res_int(res, 0);
        json_object_array_add(arr, delivery_json(res));
        n++;
    }
    db_res_free(res);
    json_object_object_add(o, "deliveries", arr);
    cursor_put_next(o, more, last);
    *out = o;
    return 0;
}

int delivery_get(db_t *db, const actor_t *a, const char *delivery_ref, json_object **out) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT " DELIVERY_COLS " FROM deliveries d LEFT JOIN artifacts a ON a.id = d.artifact_id AND "
                      "a.tenant_id = d.tenant_id LEFT JOIN approval_requests ap ON ap.id = d.approval_id AND "
                      "ap.tenant_id = d.tenant_id WHERE d.tenant_id = ? AND d.ref = ? AND (? = 1 OR d.requested_by = ?)",
                      DB_ARGS(DBI(a->tenant_id), DBS(delivery_ref), DBI(sees_all(a)), DBI(a->user_id)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    long long id = db_res_int(res, 0);
    json_object *o = delivery_json(res);
    db_res_free(res);
    json_object *rc_arr = json_object_new_array(), *events = json_object_new_array();
    if (!db_query(db,
                  "SELECT recipient_ref, domain, decision, reason, COALESCE(group_ref, '') FROM delivery_recipients "
                  "WHERE delivery_id = ? AND tenant_id = ? ORDER BY recipient_ref",
                  DB_ARGS(DBI(id), DBI(a->tenant_id)), &res)) {
        while (db_res_next(res)) json_object_array_add(rc_arr, recipient_json(res, "domain"));
        db_res_free(res);
    }
    json_object_object_add(o, "recipients", rc_arr);
    rc = db_query(db,
                  "SELECT " AUDIT_COLS " FROM " AUDIT_FROM " WHERE x.tenant_id = ? AND x.delivery_id = ? ORDER BY x.id",
                  DB_ARGS(DBI(a->tenant_id), DBI(id)), &res);
    if (!rc) {
        while (db_res_next(res)) json_object_array_add(events, audit_projection(a->tenant_ref, res));
        db_res_free(res);
    }
    json_object_object_add(o, "audit_events", events);
    *out = o;
    return rc;
}

int delivery_retry(db_t *db, const actor_t *a, const char *delivery_ref, const char *request_id,
                   json_object **out) {
    int rc = db_begin(db);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT id, status, channel, report_id, format, attempts, max_attempts FROM deliveries WHERE "
                  "tenant_id = ? AND ref = ? FOR UPDATE",
                  DB_ARGS(DBI(a->tenant_id), DBS(delivery_ref)), &res);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    if (!db_res_next(res)) {
        db_res_free(res);
        db_rollback(db);
        return AISPM_ENOTFOUND;
    }
    long long id = db_res_int(res, 0);
    char status[20], channel[16], report_id[80], format[24];
    snprintf(status, sizeof status, "%s", db_res_str(res, 1));
    snprintf(channel, sizeof channel, "%s", db_res_str(res, 2));
    snprintf(report_id, sizeof report_id, "%s", db_res_str(res, 3));
    snprintf(format, sizeof format, "%s", db_res_str(res, 4));
    int attempts = (int)db_res_int(res, 5), max = (int)db_res_int(res, 6);
    db_res_free(res);
    if (strcmp(status, "dead") && strcmp(status, "failed")) {
        db_rollback(db);
        return AISPM_ECONFLICT;
    }
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    /* the operator grants a fresh set of attempts on top of those used */
    rc = db_exec(db,
                 "UPDATE deliveries SET status = 'queued', max_attempts = ?, next_attempt_at = NULL, updated_at = ? "
                 "WHERE id = ? AND tenant_id = ?",
                 DB_ARGS(DBI(attempts + (max > 0 ? max : 1)), DBS(now), DBI(id), DBI(a->tenant_id)), NULL, NULL);
    delivery_channel_t ch = CHANNEL_SMTP;
    channel_parse(channel, &ch);
    json_object *det = json_object_new_object();
    put_s(det, "previous_status", status);
    json_object_object_add(det, "attempts_used", json_object_new_int(attempts));
    audit_t au = {.tenant_id = a->tenant_id,
                  .tenant_ref = a->tenant_ref,
                  .delivery_id = id,
                  .object_ref = delivery_ref,
                  .action = "send",
                  .status = "retry_scheduled",
                  .actor_ref = a->user_ref,
                  .actor_role = a->role,
                  .report_id = report_id,
                  .format = format,
                  .mode = mode_of(ch),
                  .attempt = attempts,
                  .max_attempts = attempts + max,
                  .next_retry_ms = now_ms(),
                  .approval_decision = "not_required",
                  .evidence_action = "delivery.operator_retry",
                  .outcome = "success",
                  .details = det,
                  .request_id = request_id};
    if (!rc) rc = audit_write(db, &au);
    json_object_put(det);
    if (!rc) rc = enqueue_delivery(db, a->tenant_id, id, max);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    rc = db_commit(db);
    return rc ? rc : delivery_get(db, a, delivery_ref, out);
}

int delivery_stats(db_t *db, long long tenant_id, json_object **out) {
    db_res_t *res;
    int rc = db_query(db, "SELECT status, COUNT(*), COALESCE(MIN(updated_at), '') FROM deliveries WHERE tenant_id = ? "
                          "GROUP BY status",
                      DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    json_object *o = json_object_new_object(), *by = json_object_new_object();
    long long retry = 0;
    int64_t oldest = 0;
    while (db_res_next(res)) {
        const char *s = db_res_str(res, 0);
        json_object_object_add(by, s, json_object_new_int64(db_res_int(res, 1)));
        if (!strcmp(s, "retry_scheduled")) retry = db_res_int(res, 1);
        int64_t ms;
        if ((!strcmp(s, "queued") || !strcmp(s, "retry_scheduled")) && !sql_datetime_parse(db_res_str(res, 2), &ms) &&
            (!oldest || ms < oldest))
            oldest = ms;
    }
    db_res_free(res);
    json_object_object_add(o, "by_status", by);
    json_object_object_add(o, "retry_queue_depth", json_object_new_int64(retry));
    json_object_object_add(o, "oldest_queued_age_ms", json_object_new_int64(oldest ? now_ms() - oldest : 0));
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* channel endpoints: settings beside the setup wizard's (whose field list is
 * fixed by the public setup contract) — SMTP transport security and the
 * webhook / GRC endpoints with their signing-secret reference            */

static const struct {
    const char *key;     /* member of the JSON document */
    const char *setting; /* settings row */
    int kind;            /* 0 enum smtp_tls, 1 url, 2 secret ref, 3 file: ref of a CA bundle */
} endpoint_fields[] = {
    {"smtp_tls", "CAVRA_REPORT_SMTP_TLS", 0},
    {"webhook_url", "CAVRA_REPORT_WEBHOOK_URL", 1},
    {"grc_upload_url", "CAVRA_REPORT_GRC_UPLOAD_URL", 1},
    {"webhook_secret_ref", "CAVRA_REPORT_WEBHOOK_SECRET_REF", 2},
    {"smtp_ca_ref", "CAVRA_REPORT_SMTP_CA_REF", 3},
};
#define NENDPOINT ((int)(sizeof endpoint_fields / sizeof endpoint_fields[0]))

static const char *endpoint_error(int kind, const char *v) {
    if (!*v) return NULL; /* empty clears */
    if (kind == 0)
        return (!strcmp(v, "starttls") || !strcmp(v, "tls") || !strcmp(v, "none")) ? NULL
                                                                                      : "must be starttls, tls or none";
    if (kind == 2) return secretref_valid(v, NULL) ? NULL : "accepts only a secret reference (env:NAME or file:/absolute/path)";
    if (kind == 3)
        return (!strncmp(v, "file:", 5) && secretref_valid(v, NULL)) ? NULL
                                                                      : "must be file:/absolute/path of a PEM CA bundle";
    size_t n = strlen(v);
    if ((strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) || n > 1000) return "must be an http(s) URL";
    for (const char *p = v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f) return "must be an http(s) URL without spaces";
    return NULL;
}

int delivery_endpoints_get(db_t *db, const actor_t *a, json_object **out) {
    provider_settings_t s;
    int rc = provider_settings_load(db, NULL, a->tenant_id, &s);
    if (rc) return rc;
    json_object *o = json_object_new_object();
    put_s(o, "delivery_mode", s.mode);
    put_s(o, "smtp_tls", s.smtp_tls[0] ? s.smtp_tls : (s.smtp_port == 465 ? "tls" : "starttls"));
    put_s(o, "webhook_url", s.webhook_url[0] ? s.webhook_url : NULL);
    put_s(o, "grc_upload_url", s.grc_upload_url[0] ? s.grc_upload_url : NULL);
    db_res_t *res;
    rc = db_query(db, "SELECT value FROM settings WHERE tenant_id = ? AND name = 'CAVRA_REPORT_WEBHOOK_SECRET_REF'",
                  DB_ARGS(DBI(a->tenant_id)), &res);
    if (rc) {
        json_object_put(o);
        return rc;
    }
    put_s(o, "webhook_secret_ref", db_res_next(res) ? db_res_str(res, 0) : NULL);
    db_res_free(res);
    rc = db_query(db, "SELECT value FROM settings WHERE tenant_id = ? AND name = 'CAVRA_REPORT_SMTP_CA_REF'",
                  DB_ARGS(DBI(a->tenant_id)), &res);
    if (rc) {
        json_object_put(o);
        return rc;
    }
    put_s(o, "smtp_ca_ref", db_res_next(res) ? db_res_str(res, 0) : NULL);
    db_res_free(res);
    *out = o;
    return 0;
}

int delivery_endpoints_put(db_t *db, const actor_t *a, json_object *doc, const char *request_id,
                           json_object **errors) {
    *errors = NULL;
    if (!json_object_is_type(doc, json_type_object)) {
        *errors = json_object_new_object();
        json_object_object_add(*errors, "body", json_object_new_string("must be a JSON object"));
        return AISPM_EINVAL;
    }
    json_object_object_foreach(doc, key, val) {
        int k = -1;
        for (int i = 0; i < NENDPOINT; i++)
            if (!strcmp(key, endpoint_fields[i].key)) k = i;
        const char *err = k < 0 ? "is not an endpoint setting"
                          : !json_object_is_type(val, json_type_string) && !json_object_is_type(val, json_type_null)
                              ? "must be a string or null"
                              : endpoint_error(endpoint_fields[k].kind, json_object_get_string(val) ? json_object_get_string(val) : "");
        if (err) {
            if (!*errors) *errors = json_object_new_object();
            json_object_object_add(*errors, key, json_object_new_string(err)); /* never the value */
        }
    }
    if (*errors) return AISPM_EINVAL;
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    int rc = db_begin(db);
    if (rc) return rc;
    json_object *set = json_object_new_array(), *cleared = json_object_new_array();
    for (int i = 0; !rc && i < NENDPOINT; i++) {
        json_object *v;
        if (!json_object_object_get_ex(doc, endpoint_fields[i].key, &v)) continue;
        const char *s = json_object_get_string(v);
        if (!s || !*s) {
            rc = db_exec(db, "DELETE FROM settings WHERE tenant_id = ? AND name = ?",
                         DB_ARGS(DBI(a->tenant_id), DBS(endpoint_fields[i].setting)), NULL, NULL);
            json_object_array_add(cleared, json_object_new_string(endpoint_fields[i].setting));
        } else {
            rc = db_exec(db,
                         "INSERT INTO settings (tenant_id, name, value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) "
                         "ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at), "
                         "updated_by = VALUES(updated_by)",
                         DB_ARGS(DBI(a->tenant_id), DBS(endpoint_fields[i].setting), DBS(s), DBS(now),
                                 DBI(a->user_id)),
                         NULL, NULL);
            json_object_array_add(set, json_object_new_string(endpoint_fields[i].setting));
        }
    }
    json_object *d = json_object_new_object();
    json_object_object_add(d, "fields_set", set);
    json_object_object_add(d, "fields_cleared", cleared);
    json_object_object_add(d, "raw_values_recorded", json_object_new_boolean(0));
    evidence_event_t ev = {.tenant_id = a->tenant_id,
                           .tenant_ref = a->tenant_ref,
                           .actor_ref = a->user_ref,
                           .actor_role = a->role,
                           .action = "settings.updated",
                           .object_ref = "settings:delivery_endpoints",
                           .outcome = "success",
                           .request_id = request_id,
                           .details = d};
    if (!rc) rc = evidence_append(db, &ev, NULL);
    json_object_put(d);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

int delivery_audit_list(db_t *db, const actor_t *a, const char *action, const char *cursor, int limit,
                        json_object **out) {
    static const char *const actions[] = {"catalog", "render", "send", "schedule", "test_delivery", NULL};
    long long before = 0;
    if (limit < 1 || limit > 100) return AISPM_EINVAL;
    const char *act = action && *action ? action : NULL;
    bool ok = !act;
    for (int i = 0; act && actions[i]; i++) ok = ok || !strcmp(act, actions[i]);
    if (!ok) return AISPM_EINVAL;
    if (cursor && *cursor) {
        char *end;
        before = strtoll(cursor, &end, 10);
        if (*end || before <= 0) return AISPM_EINVAL;
    }
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT " AUDIT_COLS ", x.id FROM " AUDIT_FROM " WHERE x.tenant_id = ? AND (? IS NULL OR "
                      "x.action = ?) AND (? = 0 OR x.id < ?) ORDER BY x.id DESC LIMIT ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(act), DBS(act), DBI(before), DBI(before), DBI(limit + 1)), &res);
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
        last = db_res_int(res, 20);
        json_object_array_add(arr, audit_projection(a->tenant_ref, res));
        n++;
    }
    db_res_free(res);
    json_object_object_add(o, "audit_events", arr);
    cursor_put_next(o, more, last);
    *out = o;
    return 0;
}

int delivery_audit_range(db_t *db, const actor_t *a, const char *action, const char *since_sql,
                         const char *until_sql, int max, json_object **out) {
    db_res_t *res;
    const char *act = action && *action ? action : NULL;
    int rc = db_query(db,
                      "SELECT " AUDIT_COLS " FROM " AUDIT_FROM " WHERE x.tenant_id = ? AND (? IS NULL OR x.action = ?) "
                      "AND x.created_at >= ? AND x.created_at < ? ORDER BY x.id LIMIT ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(act), DBS(act), DBS(since_sql), DBS(until_sql), DBI(max + 1)),
                      &res);
    if (rc) return rc;
    json_object *arr = json_object_new_array();
    int n = 0;
    while (db_res_next(res) && n <= max) {
        json_object_array_add(arr, audit_projection(a->tenant_ref, res));
        n++;
    }
    db_res_free(res);
    if (n > max) {
        json_object_put(arr);
        return AISPM_ETOOMANY;
    }
    *out = arr;
    return 0;
}

int delivery_inbox(db_t *db, const actor_t *a, json_object **out) {
    /* the signed-in user's own address, hashed the way recipient refs are */
    db_res_t *res;
    int rc = db_query(db, "SELECT email FROM users WHERE id = ? AND tenant_id = ?",
                      DB_ARGS(DBI(a->user_id), DBI(a->tenant_id)), &res);
    if (rc) return rc;
    char rref[RECIPIENT_REF_MAX] = "";
    if (db_res_next(res)) recipient_ref_of(a->tenant_ref, db_res_str(res, 0), rref);
    db_res_free(res);
    rc = db_query(db,
                  "SELECT d.ref, d.report_id, d.format, COALESCE(ar.ref, ''), COALESCE(d.delivered_at, ''), "
                  "d.artifact_digest FROM deliveries d JOIN delivery_recipients r ON r.delivery_id = d.id AND "
                  "r.tenant_id = d.tenant_id LEFT JOIN artifacts ar ON ar.id = d.artifact_id AND ar.tenant_id = "
                  "d.tenant_id WHERE d.tenant_id = ? AND d.channel = 'portal' AND d.status = 'delivered' AND "
                  "r.recipient_ref = ? ORDER BY d.id DESC LIMIT 100",
                  DB_ARGS(DBI(a->tenant_id), DBS(rref)), &res);
    if (rc) return rc;
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *e = json_object_new_object();
        char t[RFC3339_MAX], url[160];
        rfc_of(db_res_str(res, 4), t);
        put_s(e, "delivery_ref", db_res_str(res, 0));
        put_s(e, "report_id", db_res_str(res, 1));
        put_s(e, "format", db_res_str(res, 2));
        put_s(e, "artifact_ref", *db_res_str(res, 3) ? db_res_str(res, 3) : NULL);
        put_s(e, "artifact_sha256", *db_res_str(res, 5) ? db_res_str(res, 5) : NULL);
        put_s(e, "delivered_at", t);
        if (*db_res_str(res, 3)) {
            snprintf(url, sizeof url, "/enterprise/aispm/reports/artifacts/%s/content", db_res_str(res, 3));
            put_s(e, "content_url", url);
        }
        json_object_array_add(arr, e);
    }
    db_res_free(res);
    json_object_object_add(o, "inbox", arr);
    *out = o;
    return 0;
}
