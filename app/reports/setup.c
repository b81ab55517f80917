/*
 * setup.c: setup wizard steps, validation, persistence and projection (see
 * setup.h). Validation messages never include the submitted value, so a
 * secret pasted into the wrong field is not reflected anywhere.
 */
#include "reports/setup.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "server/auth.h"
#include "server/rbac.h"

static const char *const delivery_modes[] = {"disabled", "smtp", "microsoft365", "google_workspace",
                                             "ses",      "sendgrid", "webhook", NULL};

static const setup_field_t org_fields[] = {
    {"CAVRA_REPORT_FROM_ADDRESS", "Sender address", "Verified address reports are sent from.", FIELD_EMAIL, true,
     0, 0, NULL, "reports@example.com"},
    {"CAVRA_REPORT_REPLY_TO", "Reply-to address", "Where replies to report mail go (optional).", FIELD_EMAIL, false,
     0, 0, NULL, "security@example.com"},
    {"CAVRA_REPORT_DEFAULT_TIMEZONE", "Time zone", "IANA time zone for schedules and report periods.",
     FIELD_TIMEZONE, true, 0, 0, NULL, "Europe/Berlin"},
    {"CAVRA_REPORT_RETENTION_DAYS", "Artifact retention (days)", "How long rendered artifacts are kept (1-3650).",
     FIELD_INT, true, 1, 3650, NULL, "365"},
    {"CAVRA_REPORT_BRAND_PROFILE", "Brand profile", "Name of the branding profile used on reports (optional).",
     FIELD_TEXT, false, 0, 0, NULL, "default"},
};
static const setup_field_t provider_fields[] = {
    {"CAVRA_REPORT_DELIVERY_MODE", "Delivery mode", "How reports leave the Report Center.", FIELD_ENUM, true, 0, 0,
     delivery_modes, NULL},
    {"CAVRA_REPORT_SMTP_HOST", "SMTP host", "Required for SMTP delivery.", FIELD_HOST, false, 0, 0, NULL,
     "smtp.example.com"},
    {"CAVRA_REPORT_SMTP_PORT", "SMTP port", "Required for SMTP delivery (587 STARTTLS, 465 TLS).", FIELD_PORT,
     false, 0, 0, NULL, "587"},
    {"CAVRA_REPORT_SMTP_USERNAME_REF", "SMTP username reference", "env:NAME or file:/absolute/path — never the value.",
     FIELD_SECRET_REF, false, 0, 0, NULL, "env:SMTP_USERNAME"},
    {"CAVRA_REPORT_SMTP_PASSWORD_REF", "SMTP password reference", "env:NAME or file:/absolute/path — never the value.",
     FIELD_SECRET_REF, false, 0, 0, NULL, "file:/run/secrets/smtp_password"},
    {"CAVRA_REPORT_PROVIDER_TOKEN_REF", "Provider token reference",
     "API token reference for SES, SendGrid, Microsoft 365, Google Workspace or webhook signing.", FIELD_SECRET_REF,
     false, 0, 0, NULL, "env:PROVIDER_TOKEN"},
};
static const setup_field_t governance_fields[] = {
    {"CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS", "Allowed recipient domains",
     "Comma-separated domains reports may be sent to; at least one.", FIELD_DOMAINS, true, 0, 0, NULL,
     "example.com, audit.example.net"},
    {"CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED", "Approval for external delivery",
     "Require an approval before a report leaves for an external domain.", FIELD_BOOL, false, 0, 0, NULL, NULL},
    {"CAVRA_REPORT_ALLOWED_RBAC_ROLES", "Roles allowed to send",
     "Comma-separated roles allowed to send reports (empty: the role matrix decides).", FIELD_ROLES, false, 0, 0,
     NULL, "cso, report_operator"},
};
static const setup_field_t schedule_fields[] = {
    {"CAVRA_REPORT_DEFAULT_SCHEDULE", "Default schedule",
     "daily, weekly, monthly, quarterly, or an RRULE such as FREQ=WEEKLY;BYDAY=MO.", FIELD_SCHEDULE, false, 0, 0,
     NULL, "weekly"},
    {"CAVRA_REPORT_RETRY_POLICY", "Delivery retry policy", "none, fixed:N or exponential:N (N = 1..10 attempts).",
     FIELD_RETRY, false, 0, 0, NULL, "exponential:5"},
    {"CAVRA_REPORT_DELIVERY_AUDIT_RETENTION_DAYS", "Delivery audit retention (days)",
     "How long delivery audit exports are kept (30-3650).", FIELD_INT, false, 30, 3650, NULL, "2555"},
    {"CAVRA_REPORT_AUDIT_EXPORT_REF", "Audit export reference",
     "Where audit exports are delivered: env:NAME or file:/absolute/path.", FIELD_SECRET_REF, false, 0, 0, NULL,
     "file:/var/lib/aispm/audit-exports"},
};

#define N(a) ((int)(sizeof a / sizeof a[0]))
static const setup_step_t steps[] = {
    {"organization_profile", "Organization Profile",
     "Collect public report identity, timezone, retention, and branding references.", org_fields, N(org_fields)},
    {"delivery_provider", "Delivery Provider",
     "Select SMTP, Microsoft 365, Google Workspace, AWS SES, SendGrid, webhook, or disabled mode.", provider_fields,
     N(provider_fields)},
    {"recipient_governance", "Recipient Governance",
     "Define recipient domain allowlists, approval requirements, and RBAC scopes.", governance_fields,
     N(governance_fields)},
    {"schedule_and_audit", "Schedule And Audit",
     "Configure schedule presets, delivery retry policy, evidence retention, and audit export references.",
     schedule_fields, N(schedule_fields)},
};

int setup_step_count(void) { return N(steps); }
const setup_step_t *setup_step_at(int i) { return (i >= 0 && i < N(steps)) ? &steps[i] : NULL; }
const setup_step_t *setup_step_find(const char *id) {
    for (int i = 0; id && i < N(steps); i++)
        if (!strcmp(steps[i].step_id, id)) return &steps[i];
    return NULL;
}

static const char *kind_name(field_kind_t k) {
    switch (k) {
    case FIELD_EMAIL: return "email";
    case FIELD_TIMEZONE: return "timezone";
    case FIELD_INT: return "integer";
    case FIELD_ENUM: return "enum";
    case FIELD_HOST: return "host";
    case FIELD_PORT: return "port";
    case FIELD_SECRET_REF: return "secret_ref";
    case FIELD_DOMAINS: return "domains";
    case FIELD_BOOL: return "boolean";
    case FIELD_ROLES: return "roles";
    case FIELD_SCHEDULE: return "schedule";
    case FIELD_RETRY: return "retry_policy";
    default: return "text";
    }
}

static bool parse_long(const char *s, long *out) {
    char *end;
    if (!*s || strlen(s) > 10) return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return false;
    *out = strtol(s, &end, 10);
    return *end == 0;
}

/* splits a comma list, trimming spaces; calls fn for each item; returns the
 * number of items or -1 if fn rejected one */
static int each_item(const char *csv, bool (*fn)(const char *item, void *ctx), void *ctx) {
    int n = 0;
    char item[256];
    const char *p = csv;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t l = strcspn(p, ",");
        size_t e = l;
        while (e > 0 && p[e - 1] == ' ') e--;
        if (e >= sizeof item) return -1;
        memcpy(item, p, e);
        item[e] = 0;
        if (!fn(item, ctx)) return -1;
        n++;
        p += l;
    }
    return n;
}
static bool domain_item(const char *s, void *ctx) {
    (void)ctx;
    return domain_valid(s, true);
}
static bool role_item(const char *s, void *ctx) {
    (void)ctx;
    return rbac_role_valid(s);
}

static bool schedule_valid(const char *s) {
    static const char *const presets[] = {"daily", "weekly", "monthly", "quarterly", NULL};
    for (int i = 0; presets[i]; i++)
        if (!strcmp(s, presets[i])) return true;
    if (strncmp(s, "FREQ=", 5) != 0 || strlen(s) > 256) return false;
    for (const char *p = s; *p; p++)
        if (!(isupper((unsigned char)*p) || isdigit((unsigned char)*p) || strchr("=;,-+:", *p))) return false;
    return true;
}

static bool retry_valid(const char *s) {
    if (!strcmp(s, "none")) return true;
    const char *c = strchr(s, ':');
    if (!c) return false;
    if (!((c - s == 5 && !strncmp(s, "fixed", 5)) || (c - s == 11 && !strncmp(s, "exponential", 11)))) return false;
    long n;
    return parse_long(c + 1, &n) && n >= 1 && n <= 10;
}

static const char *check_field(const setup_field_t *f, const char *v) {
    long n;
    const char *why = NULL;
    switch (f->kind) {
    case FIELD_EMAIL: return email_valid(v) ? NULL : "must be an email address such as reports@example.com";
    case FIELD_TIMEZONE: return timezone_valid(v) ? NULL : "must be an IANA time zone such as Europe/Berlin or UTC";
    case FIELD_INT:
        if (!parse_long(v, &n) || n < f->min || n > f->max) {
            static char msg[96];
            snprintf(msg, sizeof msg, "must be a whole number from %ld to %ld", f->min, f->max);
            return msg;
        }
        return NULL;
    case FIELD_TEXT:
        if (strlen(v) > 64) return "must be at most 64 characters";
        for (const char *p = v; *p; p++)
            if (!(isalnum((unsigned char)*p) || strchr(" _.:-", *p))) return "may contain letters, digits, space and _ . : -";
        return NULL;
    case FIELD_ENUM:
        for (int i = 0; f->choices[i]; i++)
            if (!strcmp(v, f->choices[i])) return NULL;
        return "is not one of the offered choices";
    case FIELD_HOST: return domain_valid(v, false) ? NULL : "must be a host name such as smtp.example.com";
    case FIELD_PORT: return (parse_long(v, &n) && n >= 1 && n <= 65535) ? NULL : "must be a port from 1 to 65535";
    case FIELD_SECRET_REF:
        if (secretref_valid(v, &why)) return NULL;
        return "accepts only a secret reference (env:NAME or file:/absolute/path), never a secret value";
    case FIELD_DOMAINS: {
        int k = each_item(v, domain_item, NULL);
        if (k < 0) return "must be a comma-separated list of domains such as example.com";
        if (k == 0) return "must name at least one domain";
        return NULL;
    }
    case FIELD_BOOL: return (!strcmp(v, "true") || !strcmp(v, "false")) ? NULL : "must be true or false";
    case FIELD_ROLES: return each_item(v, role_item, NULL) < 0 ? "must be a comma-separated list of known roles" : NULL;
    case FIELD_SCHEDULE: return schedule_valid(v) ? NULL : "must be daily, weekly, monthly, quarterly or an RRULE (FREQ=...)";
    case FIELD_RETRY: return retry_valid(v) ? NULL : "must be none, fixed:N or exponential:N with N from 1 to 10";
    }
    return "is not valid";
}

static void add_err(json_object **errors, const char *field, const char *msg) {
    if (!*errors) *errors = json_object_new_object();
    json_object_object_add(*errors, field, json_object_new_string(msg));
}

int setup_validate_step(const setup_step_t *step, json_object *values, json_object **errors) {
    *errors = NULL;
    /* unknown fields are an error, not silently dropped */
    json_object_object_foreach(values, key, val) {
        (void)val;
        bool known = false;
        for (int i = 0; i < step->nfields; i++)
            if (!strcmp(step->fields[i].name, key)) known = true;
        if (!known) add_err(errors, key, "is not a field of this step");
    }
    for (int i = 0; i < step->nfields; i++) {
        const setup_field_t *f = &step->fields[i];
        json_object *v = NULL;
        json_object_object_get_ex(values, f->name, &v);
        char tmp[64];
        const char *s = NULL;
        if (v && json_object_is_type(v, json_type_string)) s = json_object_get_string(v);
        else if (v && json_object_is_type(v, json_type_boolean)) s = json_object_get_boolean(v) ? "true" : "false";
        else if (v && json_object_is_type(v, json_type_int)) {
            snprintf(tmp, sizeof tmp, "%lld", (long long)json_object_get_int64(v));
            s = tmp;
        } else if (v && !json_object_is_type(v, json_type_null)) {
            add_err(errors, f->name, "must be a string");
            continue;
        }
        /* trim surrounding whitespace */
        char trimmed[2048];
        if (s) {
            while (isspace((unsigned char)*s)) s++;
            size_t l = strlen(s);
            while (l && isspace((unsigned char)s[l - 1])) l--;
            if (l >= sizeof trimmed) {
                add_err(errors, f->name, "is too long");
                continue;
            }
            memcpy(trimmed, s, l);
            trimmed[l] = 0;
            s = trimmed;
        }
        if (f->kind == FIELD_BOOL && (!s || !*s)) s = "false"; /* unchecked checkbox */
        if (!s || !*s) {
            if (f->required) add_err(errors, f->name, "is required");
            json_object_object_add(values, f->name, json_object_new_string(""));
            continue;
        }
        const char *msg = check_field(f, s);
        if (msg) add_err(errors, f->name, msg);
        json_object_object_add(values, f->name, json_object_new_string(s));
    }
    /* cross-field rules */
    if (!strcmp(step->step_id, "delivery_provider") && !*errors) {
        json_object *mode, *host, *port, *token;
        json_object_object_get_ex(values, "CAVRA_REPORT_DELIVERY_MODE", &mode);
        json_object_object_get_ex(values, "CAVRA_REPORT_SMTP_HOST", &host);
        json_object_object_get_ex(values, "CAVRA_REPORT_SMTP_PORT", &port);
        json_object_object_get_ex(values, "CAVRA_REPORT_PROVIDER_TOKEN_REF", &token);
        const char *m = json_object_get_string(mode);
        if (!strcmp(m, "smtp")) {
            if (!*json_object_get_string(host)) add_err(errors, "CAVRA_REPORT_SMTP_HOST", "is required for SMTP delivery");
            if (!*json_object_get_string(port)) add_err(errors, "CAVRA_REPORT_SMTP_PORT", "is required for SMTP delivery");
        } else if (strcmp(m, "disabled") && !*json_object_get_string(token)) {
            add_err(errors, "CAVRA_REPORT_PROVIDER_TOKEN_REF", "is required for this delivery mode");
        }
    }
    return *errors ? AISPM_EINVAL : 0;
}

int setup_save_step(db_t *db, const actor_t *a, const setup_step_t *step, json_object *values,
                    const char *request_id, json_object **errors) {
    int rc = setup_validate_step(step, values, errors);
    if (rc) return rc;
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    rc = db_begin(db);
    json_object *set = json_object_new_array(), *cleared = json_object_new_array();
    for (int i = 0; !rc && i < step->nfields; i++) {
        const char *name = step->fields[i].name;
        json_object *v;
        json_object_object_get_ex(values, name, &v);
        const char *s = json_object_get_string(v);
        if (*s) {
            rc = db_exec(db,
                         "INSERT INTO settings (tenant_id, name, value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) "
                         "ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at), "
                         "updated_by = VALUES(updated_by)",
                         DB_ARGS(DBI(a->tenant_id), DBS(name), DBS(s), DBS(now), DBI(a->user_id)), NULL, NULL);
            json_object_array_add(set, json_object_new_string(name));
        } else {
            rc = db_exec(db, "DELETE FROM settings WHERE tenant_id = ? AND name = ?",
                         DB_ARGS(DBI(a->tenant_id), DBS(name)), NULL, NULL);
            json_object_array_add(cleared, json_object_new_string(name));
        }
    }
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO setup_steps (tenant_id, step_id, completed_at, completed_by) VALUES (?, ?, ?, ?) "
                     "ON DUPLICATE KEY UPDATE completed_at = VALUES(completed_at), completed_by = VALUES(completed_by)",
                     DB_ARGS(DBI(a->tenant_id), DBS(step->step_id), DBS(now), DBI(a->user_id)), NULL, NULL);
    if (!rc) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "step_id", json_object_new_string(step->step_id));
        json_object_object_add(d, "fields_set", set);
        json_object_object_add(d, "fields_cleared", cleared);
        json_object_object_add(d, "raw_values_recorded", json_object_new_boolean(0));
        set = cleared = NULL;
        char obj[64];
        snprintf(obj, sizeof obj, "setup:%s", step->step_id);
        rc = auth_evidence(db, a, "settings.updated", obj, "success", request_id, d, NULL);
        json_object_put(d);
    }
    json_object_put(set);
    json_object_put(cleared);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

int setup_state(db_t *db, const actor_t *a, json_object **out) {
    db_res_t *res;
    json_object *vals = json_object_new_object(), *done = json_object_new_object();
    int rc = db_query(db, "SELECT name, value FROM settings WHERE tenant_id = ?", DB_ARGS(DBI(a->tenant_id)), &res);
    if (!rc) {
        while (db_res_next(res))
            json_object_object_add(vals, db_res_str(res, 0), json_object_new_string(db_res_str(res, 1)));
        db_res_free(res);
        rc = db_query(db, "SELECT step_id, DATE_FORMAT(completed_at, '%Y-%m-%dT%H:%i:%sZ') FROM setup_steps "
                          "WHERE tenant_id = ?",
                      DB_ARGS(DBI(a->tenant_id)), &res);
    }
    if (!rc) {
        while (db_res_next(res))
            json_object_object_add(done, db_res_str(res, 0), json_object_new_string(db_res_str(res, 1)));
        db_res_free(res);
    }
    if (rc) {
        json_object_put(vals);
        json_object_put(done);
        return rc;
    }
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    int ncomplete = 0;
    const char *next = NULL;
    for (int i = 0; i < N(steps); i++) {
        const setup_step_t *s = &steps[i];
        json_object *st = json_object_new_object(), *fields = json_object_new_array(), *when;
        bool completed = json_object_object_get_ex(done, s->step_id, &when);
        ncomplete += completed;
        if (!completed && !next) next = s->step_id;
        json_object_object_add(st, "step_id", json_object_new_string(s->step_id));
        json_object_object_add(st, "number", json_object_new_int(i + 1));
        json_object_object_add(st, "title", json_object_new_string(s->title));
        json_object_object_add(st, "description", json_object_new_string(s->description));
        json_object_object_add(st, "completed", json_object_new_boolean(completed));
        json_object_object_add(st, "completed_at", completed ? json_object_get(when) : NULL);
        for (int k = 0; k < s->nfields; k++) {
            const setup_field_t *f = &s->fields[k];
            json_object *fo = json_object_new_object(), *v;
            json_object_object_add(fo, "name", json_object_new_string(f->name));
            json_object_object_add(fo, "label", json_object_new_string(f->label));
            json_object_object_add(fo, "help", json_object_new_string(f->help));
            json_object_object_add(fo, "kind", json_object_new_string(kind_name(f->kind)));
            json_object_object_add(fo, "required", json_object_new_boolean(f->required));
            json_object_object_add(fo, "is_secret_ref", json_object_new_boolean(f->kind == FIELD_SECRET_REF));
            json_object_object_add(fo, "is_bool", json_object_new_boolean(f->kind == FIELD_BOOL));
            json_object_object_add(fo, "is_enum", json_object_new_boolean(f->kind == FIELD_ENUM));
            if (f->placeholder) json_object_object_add(fo, "placeholder", json_object_new_string(f->placeholder));
            const char *cur = json_object_object_get_ex(vals, f->name, &v) ? json_object_get_string(v) : "";
            json_object_object_add(fo, "value", json_object_new_string(cur));
            if (f->kind == FIELD_BOOL) json_object_object_add(fo, "checked", json_object_new_boolean(!strcmp(cur, "true")));
            if (f->choices) {
                json_object *ch = json_object_new_array();
                for (int c = 0; f->choices[c]; c++) {
                    json_object *co = json_object_new_object();
                    json_object_object_add(co, "value", json_object_new_string(f->choices[c]));
                    json_object_object_add(co, "selected", json_object_new_boolean(!strcmp(cur, f->choices[c])));
                    json_object_array_add(ch, co);
                }
                json_object_object_add(fo, "choices", ch);
            }
            json_object_array_add(fields, fo);
        }
        json_object_object_add(st, "fields", fields);
        json_object_array_add(arr, st);
    }
    json_object_object_add(o, "tenant_ref", json_object_new_string(a->tenant_ref));
    json_object_object_add(o, "steps", arr);
    json_object_object_add(o, "completed_steps", json_object_new_int(ncomplete));
    json_object_object_add(o, "total_steps", json_object_new_int(N(steps)));
    json_object_object_add(o, "complete", json_object_new_boolean(ncomplete == N(steps)));
    json_object_object_add(o, "next_step", next ? json_object_new_string(next) : NULL);
    json_object_put(vals);
    json_object_put(done);
    *out = o;
    return 0;
}

json_object *setup_contract_projection(void) {
    const char *E = "requires_cavra_enterprise";
    json_object *o = json_object_new_object();
    json_object_object_add(o, "schema_version", json_object_new_string("cavra.aispm.report_setup_wizard_contract.v1"));
    json_object_object_add(o, "product", json_object_new_string("CAVRA"));
    json_object_object_add(o, "edition", json_object_new_string("enterprise"));
    json_object_object_add(o, "contract_visibility", json_object_new_string("public_contract"));
    json_object *w = json_object_new_object();
    json_object_object_add(w, "wizard_id", json_object_new_string("aispm_report_delivery_setup"));
    json_object_object_add(w, "title", json_object_new_string("AISPM Report Delivery Setup"));
    json_object_object_add(w, "purpose", json_object_new_string(
                                             "Collect tenant-specific report delivery settings without storing "
                                             "secret values."));
    json_object_object_add(w, "implementation", json_object_new_string(E));
    json_object_object_add(o, "wizard", w);
    json_object *arr = json_object_new_array(), *req = json_object_new_array(), *opt = json_object_new_array(),
                *refs = json_object_new_array();
    for (int i = 0; i < N(steps); i++) {
        json_object *st = json_object_new_object(), *fields = json_object_new_array();
        json_object_object_add(st, "step_id", json_object_new_string(steps[i].step_id));
        json_object_object_add(st, "title", json_object_new_string(steps[i].title));
        json_object_object_add(st, "description", json_object_new_string(steps[i].description));
        for (int k = 0; k < steps[i].nfields; k++) {
            const setup_field_t *f = &steps[i].fields[k];
            json_object_array_add(fields, json_object_new_string(f->name));
            json_object_array_add(f->kind == FIELD_SECRET_REF ? refs : f->required ? req : opt,
                                  json_object_new_string(f->name));
        }
        json_object_object_add(st, "fields", fields);
        json_object_object_add(st, "availability", json_object_new_string(E));
        json_object_array_add(arr, st);
    }
    json_object_object_add(o, "steps", arr);
    json_object *modes = json_object_new_array();
    for (int i = 0; delivery_modes[i]; i++) json_object_array_add(modes, json_object_new_string(delivery_modes[i]));
    json_object_object_add(o, "delivery_modes", modes);
    static const char *const rules[][3] = {
        {"sender-address-required", "CAVRA_REPORT_FROM_ADDRESS", "must be a valid sender address"},
        {"timezone-must-exist", "CAVRA_REPORT_DEFAULT_TIMEZONE", "must name an IANA time zone known to the system"},
        {"retention-days-in-range", "CAVRA_REPORT_RETENTION_DAYS", "must be between 1 and 3650 days"},
        {"smtp-host-and-port-required", "CAVRA_REPORT_SMTP_HOST", "SMTP mode requires a valid host and port"},
        {"recipient-domain-allowlist-required", "CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS",
         "must contain at least one well-formed domain"},
        {"secret-values-not-accepted", "*_REF",
         "accepts secret references (env:NAME, file:/absolute/path) only, never raw credential values"},
        {"external-delivery-approval", "CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED",
         "external-domain report delivery may require an approval gate"},
    };
    json_object *vr = json_object_new_array();
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        json_object *r = json_object_new_object();
        json_object_object_add(r, "rule_id", json_object_new_string(rules[i][0]));
        json_object_object_add(r, "field", json_object_new_string(rules[i][1]));
        json_object_object_add(r, "requirement", json_object_new_string(rules[i][2]));
        json_object_object_add(r, "enforcement", json_object_new_string(E));
        json_object_array_add(vr, r);
    }
    json_object_object_add(o, "validation_rules", vr);
    json_object *adm = json_object_new_object();
    json_object_object_add(adm, "required_public_settings", req);
    json_object_object_add(adm, "optional_public_settings", opt);
    json_object_object_add(adm, "secret_reference_settings", refs);
    json_object_object_add(adm, "secret_values_allowed", json_object_new_boolean(0));
    json_object_object_add(o, "admin_settings", adm);
    json_object *b = json_object_new_object();
    const char *names[] = {"wizard_ui", "settings_persistence", "secret_resolution", "provider_validation",
                           "test_delivery", "license_enforcement"};
    for (int i = 0; i < 6; i++) json_object_object_add(b, names[i], json_object_new_string(E));
    json_object_object_add(o, "enterprise_boundaries", b);
    return o;
}

int setup_setting(db_t *db, long long tenant_id, const char *name, char *out, size_t outlen) {
    db_res_t *res;
    out[0] = 0;
    int rc = db_query(db, "SELECT value FROM settings WHERE tenant_id = ? AND name = ?",
                      DB_ARGS(DBI(tenant_id), DBS(name)), &res);
    if (rc) return rc;
    if (db_res_next(res)) snprintf(out, outlen, "%s", db_res_str(res, 0));
    db_res_free(res);
    return 0;
}
