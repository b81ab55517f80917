/*
 * scheduler.c: report schedules and the exactly-once scheduler (see
 * scheduler.h for the workflow and its invariants).
 *
 * Privacy: recipients_private and groups_private are written by
 * create/update and read by exactly one function, scheduler_deliver_occurrence
 * (the delivery step). Every other SELECT of this file names its columns and
 * reads only JSON_LENGTH() of them, so no view, projection, evidence body or
 * log line can carry an address.
 */
#include "reports/scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/evidence.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "reports/approvals.h"
#include "reports/catalog.h"
#include "reports/delivery.h"
#include "reports/renderer.h"
#include "reports/rrule.h"
#include "reports/setup.h"
#include "server/auth.h"
#include "server/rbac.h"

#define API "/enterprise/aispm/reports/schedules"
#define MAX_REPORTS 12
#define MAX_RECIPIENTS 50
#define MAX_GROUPS 20
#define MAX_WINDOWS 20
#define MAX_OCC_PER_TICK 100
#define DELIVER_LOCK_MS (120LL * 1000)
#define DAY_MS 86400000LL

static const char *const contract_formats[] = {"markdown", "json", "csv", "pdf", "xlsx",
                                               "docx",     "html", "jsonl", "zip", NULL};
const char *const scheduler_delivery_modes[] = {"download", "smtp", "microsoft365", "google_workspace",
                                                "ses",      "sendgrid", "webhook", NULL};
static const char *const channel_names[] = {"email", "portal", "webhook", "grc_upload", NULL};
const char *const scheduler_behaviors[] = {"defer", "skip", "require_manual_approval", NULL};
const char *const scheduler_backoffs[] = {"none", "linear", "exponential", NULL};
const char *const scheduler_missed_policies[] = {"latest", "all", "none", NULL};
static const char *const presets[] = {"daily", "weekly", "monthly", "quarterly", NULL};

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static bool one_of(const char *v, const char *const *set) {
    for (int i = 0; v && set[i]; i++)
        if (!strcmp(v, set[i])) return true;
    return false;
}

static json_object *get(json_object *o, const char *k) {
    json_object *v = NULL;
    return (o && json_object_object_get_ex(o, k, &v)) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k) {
    json_object *v = get(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void put_ts(json_object *o, const char *k, int64_t ms) {
    char t[RFC3339_MAX];
    rfc3339_format(ms, 0, t);
    put_str(o, k, t);
}

static void put_local(json_object *o, const char *k, const char *tz, int64_t ms) {
    char t[RFC3339_MAX];
    if (tz_format_local(tz, ms, t)) t[0] = 0;
    put_str(o, k, t);
}

static int64_t sql_ms(const char *s) {
    int64_t ms = 0;
    sql_datetime_parse(s, &ms);
    return ms;
}

static void err_add(json_object *errors, const char *field, const char *msg) {
    if (!get(errors, field)) put_str(errors, field, msg);
}

static void refuse(schedule_outcome_t *o, int status, const char *code, const char *detail, json_object *errors) {
    o->status = status;
    o->code = code;
    o->detail = detail;
    o->body = errors;
}

void schedule_outcome_free(schedule_outcome_t *o) {
    if (o->body) json_object_put(o->body);
    o->body = NULL;
}

static const char *json_text(json_object *o) {
    return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* "YYYY-MM-DDTHH:MM[:SS]" wall clock */
static bool parse_local(const char *s, civil_t *c) {
    int64_t ms;
    char tmp[40];
    size_t n = strlen(s);
    if (n == 16) snprintf(tmp, sizeof tmp, "%s:00Z", s);
    else if (n == 19) snprintf(tmp, sizeof tmp, "%sZ", s);
    else return false;
    if (rfc3339_parse(tmp, &ms)) return false;
    int64_t days = ms / DAY_MS, rem = (ms % DAY_MS) / 1000;
    civil_from_days(days, &c->year, &c->mon, &c->day);
    c->hour = (int)(rem / 3600);
    c->min = (int)(rem / 60 % 60);
    c->sec = 0;
    return c->year >= 1970 && c->year <= 9999;
}

static void format_local(const civil_t *c, char out[17]) {
    snprintf(out, 17, "%04u-%02u-%02uT%02u:%02u", (unsigned)c->year % 10000u, (unsigned)c->mon % 100u,
             (unsigned)c->day % 100u, (unsigned)c->hour % 100u, (unsigned)c->min % 100u);
}

/* ------------------------------------------------------------------------ */
/* validation of a definition                                                */

typedef struct {
    json_object *norm;        /* normalised columns (owned) */
    json_object *recipients;  /* private; NULL = not given */
    json_object *groups;      /* private; NULL = not given */
    char rrule[RRULE_TEXT_MAX + 1];
    char tz[129];
    char dtstart[17];
    const char *scope; /* derived from the recipients' domains; NULL when recipients were not given */
    bool requires_approval;
} sched_def_t;

static void def_free(sched_def_t *d) {
    if (d->norm) json_object_put(d->norm);
    if (d->recipients) json_object_put(d->recipients);
    if (d->groups) json_object_put(d->groups);
    memset(d, 0, sizeof *d);
}

/* a string-array member: unique items from `allowed` (NULL = any non-empty
 * string up to maxlen), 1..max items */
static json_object *str_list(json_object *v, const char *field, const char *const *allowed, int max, size_t maxlen,
                             const char *msg, json_object *errors) {
    if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) < 1 ||
        (int)json_object_array_length(v) > max) {
        err_add(errors, field, msg);
        return NULL;
    }
    json_object *out = json_object_new_array();
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        json_object *x = json_object_array_get_idx(v, i);
        const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x) : NULL;
        bool ok = s && *s && strlen(s) <= maxlen && (!allowed || one_of(s, allowed));
        for (size_t k = 0; ok && k < json_object_array_length(out); k++)
            if (!strcmp(json_object_get_string(json_object_array_get_idx(out, k)), s)) ok = false;
        if (!ok) {
            err_add(errors, field, msg);
            json_object_put(out);
            return NULL;
        }
        json_object_array_add(out, json_object_new_string(s));
    }
    return out;
}

static bool get_bool(json_object *o, const char *k, bool dflt, const char *field, json_object *errors) {
    json_object *v = get(o, k);
    if (!v) return dflt;
    if (!json_object_is_type(v, json_type_boolean)) {
        err_add(errors, field, "must be true or false");
        return dflt;
    }
    return json_object_get_boolean(v);
}

static int get_int(json_object *o, const char *k, int dflt, int lo, int hi, const char *field, json_object *errors) {
    json_object *v = get(o, k);
    if (!v) return dflt;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < lo || json_object_get_int64(v) > hi) {
        char msg[80];
        snprintf(msg, sizeof msg, "must be a whole number from %d to %d", lo, hi);
        err_add(errors, field, msg);
        return dflt;
    }
    return (int)json_object_get_int64(v);
}

static void unknown_members(json_object *o, const char *prefix, const char *const *known, json_object *errors) {
    json_object_object_foreach(o, k, v) {
        (void)v;
        if (!one_of(k, known)) {
            char f[120];
            snprintf(f, sizeof f, "%s%.80s", prefix, k);
            err_add(errors, f, "unknown member");
        }
    }
}

static json_object *validate_windows(json_object *v, const char *tz, json_object *errors) {
    json_object *out = json_object_new_array();
    if (!v) return out;
    if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > MAX_WINDOWS) {
        err_add(errors, "blackout_windows", "must be a list of at most 20 windows");
        return out;
    }
    static const char *const known[] = {"window_ref", "starts_at", "ends_at", "rrule", "duration_minutes", "behavior",
                                        NULL};
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *w = json_object_array_get_idx(v, i);
        char f[64], pre[48];
        snprintf(pre, sizeof pre, "blackout_windows[%zu].", i);
        if (!json_object_is_type(w, json_type_object)) {
            snprintf(f, sizeof f, "blackout_windows[%zu]", i);
            err_add(errors, f, "must be an object");
            continue;
        }
        unknown_members(w, pre, known, errors);
        json_object *n = json_object_new_object();
        const char *wr = jstr(w, "window_ref");
        char ref[REF_MAX];
        if (*wr && ref_parse(wr, "blackout", NULL, NULL)) snprintf(ref, sizeof ref, "%s", wr);
        else ref_new("blackout", ref);
        put_str(n, "window_ref", ref);
        const char *b = jstr(w, "behavior");
        snprintf(f, sizeof f, "%sbehavior", pre);
        if (!one_of(b, scheduler_behaviors)) err_add(errors, f, "must be defer, skip or require_manual_approval");
        put_str(n, "behavior", b);
        if (get(w, "rrule")) {
            rrule_t r;
            char msg[200];
            snprintf(f, sizeof f, "%srrule", pre);
            if (get(w, "starts_at") || get(w, "ends_at")) err_add(errors, f, "give either rrule or starts_at/ends_at");
            else if (rrule_parse(jstr(w, "rrule"), &r, msg, sizeof msg)) err_add(errors, f, msg);
            snprintf(f, sizeof f, "%sduration_minutes", pre);
            int dur = get_int(w, "duration_minutes", 0, 1, 10080, f, errors);
            if (!get(w, "duration_minutes")) err_add(errors, f, "is required for a recurring window (1..10080)");
            put_str(n, "kind", "recurring");
            put_str(n, "rrule", jstr(w, "rrule"));
            json_object_object_add(n, "duration_minutes", json_object_new_int(dur));
        } else {
            int64_t s = 0, e = 0;
            snprintf(f, sizeof f, "%sstarts_at", pre);
            bool ok = true;
            if (rfc3339_parse(jstr(w, "starts_at"), &s)) err_add(errors, f, "must be an RFC 3339 date-time"), ok = false;
            snprintf(f, sizeof f, "%sends_at", pre);
            if (rfc3339_parse(jstr(w, "ends_at"), &e)) err_add(errors, f, "must be an RFC 3339 date-time"), ok = false;
            else if (ok && e <= s) err_add(errors, f, "must be after starts_at");
            else if (ok && e - s > 366 * DAY_MS) err_add(errors, f, "a window lasts at most 366 days");
            put_str(n, "kind", "once");
            put_ts(n, "starts_at", s);
            put_ts(n, "ends_at", e);
        }
        (void)tz;
        json_object_array_add(out, n);
    }
    return out;
}

/* internal when every recipient's domain is (a subdomain of) a domain of the
 * tenant's allow-list; the addresses themselves go nowhere */
static const char *recipients_scope(db_t *db, long long tenant_id, json_object *recipients) {
    char allowed[1024] = "";
    setup_setting(db, tenant_id, "CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS", allowed, sizeof allowed);
    for (size_t i = 0; i < json_object_array_length(recipients); i++) {
        const char *at = strrchr(json_object_get_string(json_object_array_get_idx(recipients, i)), '@');
        bool ok = false;
        char list[1024];
        snprintf(list, sizeof list, "%s", allowed);
        for (char *save = NULL, *d = strtok_r(list, ", ", &save); at && d && !ok; d = strtok_r(NULL, ", ", &save)) {
            size_t dl = strlen(d), hl = strlen(at + 1);
            ok = !strcasecmp(at + 1, d) || (hl > dl && at[1 + hl - dl - 1] == '.' && !strcasecmp(at + 1 + hl - dl, d));
        }
        if (!ok) return "approved_external_domain";
    }
    return "approved_internal_domain";
}

/* validates a create/update body into d; field errors go to errors */
static void validate(db_t *db, const actor_t *a, json_object *body, sched_def_t *d, json_object *errors) {
    memset(d, 0, sizeof *d);
    d->norm = json_object_new_object();
    if (!json_object_is_type(body, json_type_object)) {
        err_add(errors, "", "must be a JSON object");
        return;
    }
    static const char *const known[] = {"name",          "report_ids",      "formats",          "cadence",
                                        "rrule",         "time_of_day",     "timezone",         "starts_at",
                                        "recipients",    "groups",          "delivery_mode",    "channels",
                                        "delivery_options", "approval_policy", "blackout_windows", "retry_policy",
                                        "missed_policy", NULL};
    unknown_members(body, "", known, errors);

    const char *name = jstr(body, "name");
    size_t nl = strlen(name);
    bool name_ok = nl >= 1 && nl <= 200;
    for (size_t i = 0; name_ok && i < nl; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) name_ok = false;
    if (!name_ok) err_add(errors, "name", "must be 1-200 characters without control characters");
    put_str(d->norm, "name", name);

    json_object *reports = str_list(get(body, "report_ids"), "report_ids", NULL, MAX_REPORTS, 64,
                                    "must list 1-12 different report ids of the catalog", errors);
    json_object *formats = str_list(get(body, "formats"), "formats", contract_formats, 9, 16,
                                    "must list different formats: markdown, json, csv, pdf, xlsx, docx, html, jsonl, zip",
                                    errors);
    if (reports) {
        for (size_t i = 0; i < json_object_array_length(reports); i++) {
            const char *id = json_object_get_string(json_object_array_get_idx(reports, i));
            const catalog_report_t *rep = catalog_find(id);
            if (!rep) {
                err_add(errors, "report_ids", "names a report that is not in the catalog");
                continue;
            }
            if (!catalog_enabled(a, id)) err_add(errors, "report_ids", "names a report disabled for your tenant");
            bool any = false;
            for (size_t k = 0; formats && k < json_object_array_length(formats); k++) {
                const char *f = json_object_get_string(json_object_array_get_idx(formats, k));
                for (int m = 0; m < CATALOG_MAX_FORMATS && rep->formats[m]; m++)
                    if (!strcmp(rep->formats[m], f) && renderer_supported(id, f)) any = true;
            }
            if (formats && !any) err_add(errors, "formats", "include no format that every listed report renders in");
        }
    }
    json_object_object_add(d->norm, "report_ids", reports ? reports : json_object_new_array());
    json_object_object_add(d->norm, "formats", formats ? formats : json_object_new_array());

    /* cadence */
    const char *cadence = jstr(body, "cadence");
    json_object *rr = get(body, "rrule");
    int hh = 9, mm = 0;
    if (get(body, "time_of_day")) {
        const char *t = jstr(body, "time_of_day");
        if (strlen(t) != 5 || t[2] != ':' || sscanf(t, "%2d:%2d", &hh, &mm) != 2 || hh < 0 || hh > 23 || mm < 0 ||
            mm > 59)
            err_add(errors, "time_of_day", "must be HH:MM (24-hour)");
        if (rr) err_add(errors, "time_of_day", "applies to a preset cadence only; an RRULE sets BYHOUR/BYMINUTE");
    }
    if (rr) {
        if (*cadence && strcmp(cadence, "custom")) err_add(errors, "cadence", "must be custom (or omitted) with an rrule");
        rrule_t r;
        char msg[200];
        if (!json_object_is_type(rr, json_type_string)) err_add(errors, "rrule", "must be a string");
        else if (rrule_parse(json_object_get_string(rr), &r, msg, sizeof msg)) err_add(errors, "rrule", msg);
        else snprintf(d->rrule, sizeof d->rrule, "%s", json_object_get_string(rr));
        cadence = "custom";
    } else if (one_of(cadence, presets)) {
        rrule_preset(cadence, hh, mm, d->rrule);
        char tod[8];
        snprintf(tod, sizeof tod, "%02d:%02d", hh % 100, mm % 100);
        put_str(d->norm, "time_of_day", tod);
    } else {
        err_add(errors, "cadence", "must be daily, weekly, monthly, quarterly, or custom with an rrule");
    }
    put_str(d->norm, "cadence", cadence);
    put_str(d->norm, "rrule", d->rrule);

    /* time zone: the schedule's, the tenant's default, UTC */
    if (get(body, "timezone")) {
        const char *tz = jstr(body, "timezone");
        if (!timezone_valid(tz)) err_add(errors, "timezone", "must be an IANA time zone such as Europe/Berlin or UTC");
        else snprintf(d->tz, sizeof d->tz, "%s", tz);
    } else {
        char tz[129] = "";
        setup_setting(db, a->tenant_id, "CAVRA_REPORT_DEFAULT_TIMEZONE", tz, sizeof tz);
        snprintf(d->tz, sizeof d->tz, "%s", timezone_valid(tz) ? tz : "UTC");
    }
    if (!d->tz[0]) snprintf(d->tz, sizeof d->tz, "UTC");
    put_str(d->norm, "timezone", d->tz);

    civil_t c;
    if (get(body, "starts_at")) {
        if (!parse_local(jstr(body, "starts_at"), &c))
            err_add(errors, "starts_at", "must be a local date-time YYYY-MM-DDTHH:MM in the schedule's time zone");
        else format_local(&c, d->dtstart);
    } else if (!tz_utc_to_local(d->tz, now_ms(), &c, NULL)) {
        format_local(&c, d->dtstart);
    }
    put_str(d->norm, "starts_at", d->dtstart);

    /* recipients and groups: private */
    json_object *v = get(body, "recipients");
    if (v) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > MAX_RECIPIENTS) {
            err_add(errors, "recipients", "must be a list of at most 50 email addresses");
        } else {
            d->recipients = json_object_new_array();
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *x = json_object_array_get_idx(v, i);
                char f[40];
                snprintf(f, sizeof f, "recipients[%zu]", i);
                if (!json_object_is_type(x, json_type_string) || !email_valid(json_object_get_string(x)))
                    err_add(errors, f, "must be an email address");
                else
                    json_object_array_add(d->recipients, json_object_new_string(json_object_get_string(x)));
            }
        }
    }
    v = get(body, "groups");
    if (v) {
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > MAX_GROUPS) {
            err_add(errors, "groups", "must be a list of at most 20 recipient group refs");
        } else {
            d->groups = json_object_new_array();
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *x = json_object_array_get_idx(v, i);
                const char *s = json_object_is_type(x, json_type_string) ? json_object_get_string(x) : "";
                bool ok = *s && strlen(s) <= 64;
                for (const char *p = s; ok && *p; p++)
                    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                         strchr("._:-", *p);
                char f[40];
                snprintf(f, sizeof f, "groups[%zu]", i);
                if (!ok) err_add(errors, f, "must be a group ref of 1-64 characters [A-Za-z0-9._:-]");
                else json_object_array_add(d->groups, json_object_new_string(s));
            }
        }
    }

    /* delivery */
    const char *mode = get(body, "delivery_mode") ? jstr(body, "delivery_mode") : "download";
    if (!strcmp(mode, "webhook")) d->scope = "system_connector";
    else if (d->recipients) d->scope = recipients_scope(db, a->tenant_id, d->recipients);
    if (!one_of(mode, scheduler_delivery_modes))
        err_add(errors, "delivery_mode", "must be download, smtp, microsoft365, google_workspace, ses, sendgrid or webhook");
    put_str(d->norm, "delivery_mode", mode);
    json_object *channels;
    if (get(body, "channels")) {
        channels = str_list(get(body, "channels"), "channels", channel_names, 4, 16,
                            "must list different channels: email, portal, webhook, grc_upload", errors);
        if (!channels) channels = json_object_new_array();
    } else {
        channels = json_object_new_array();
        json_object_array_add(channels, json_object_new_string(!strcmp(mode, "download") ? "portal"
                                                               : !strcmp(mode, "webhook") ? "webhook"
                                                                                          : "email"));
    }
    json_object_object_add(d->norm, "channels", channels);
    json_object *opts = get(body, "delivery_options"), *no = json_object_new_object();
    if (opts && !json_object_is_type(opts, json_type_object)) err_add(errors, "delivery_options", "must be an object");
    static const char *const opt_known[] = {"package_manifest_required", "watermark_required",
                                            "encrypted_attachment_required", NULL};
    if (opts && json_object_is_type(opts, json_type_object)) unknown_members(opts, "delivery_options.", opt_known, errors);
    for (int i = 0; opt_known[i]; i++) {
        char f[80];
        snprintf(f, sizeof f, "delivery_options.%s", opt_known[i]);
        json_object_object_add(no, opt_known[i], json_object_new_boolean(get_bool(opts, opt_known[i], false, f, errors)));
    }
    json_object_object_add(d->norm, "delivery_options", no);

    /* approval policy */
    json_object *ap = get(body, "approval_policy"), *na = json_object_new_object();
    if (ap && !json_object_is_type(ap, json_type_object)) err_add(errors, "approval_policy", "must be an object");
    static const char *const ap_known[] = {"approval_required", "approver_group", "change_requires_approval",
                                           "external_recipient_requires_approval", NULL};
    if (ap && json_object_is_type(ap, json_type_object)) unknown_members(ap, "approval_policy.", ap_known, errors);
    char ext[8] = "";
    setup_setting(db, a->tenant_id, "CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED", ext, sizeof ext);
    json_object_object_add(na, "approval_required",
                           json_object_new_boolean(get_bool(ap, "approval_required", false,
                                                            "approval_policy.approval_required", errors)));
    const char *grp = get(ap, "approver_group") ? jstr(ap, "approver_group") : "approvers";
    if (!*grp || strlen(grp) > 64) err_add(errors, "approval_policy.approver_group", "must be 1-64 characters");
    put_str(na, "approver_group", grp);
    d->requires_approval = get_bool(ap, "change_requires_approval", false, "approval_policy.change_requires_approval",
                                    errors);
    json_object_object_add(na, "change_requires_approval", json_object_new_boolean(d->requires_approval));
    json_object_object_add(na, "external_recipient_requires_approval",
                           json_object_new_boolean(get_bool(ap, "external_recipient_requires_approval",
                                                            !strcmp(ext, "true"),
                                                            "approval_policy.external_recipient_requires_approval",
                                                            errors)));
    json_object_object_add(d->norm, "approval_policy", na);

    json_object_object_add(d->norm, "blackout_windows", validate_windows(get(body, "blackout_windows"), d->tz, errors));

    /* retry policy */
    json_object *rp = get(body, "retry_policy"), *nr2 = json_object_new_object();
    if (rp && !json_object_is_type(rp, json_type_object)) err_add(errors, "retry_policy", "must be an object");
    static const char *const rp_known[] = {"max_attempts", "backoff", "retry_window_minutes", "dead_letter_required",
                                           NULL};
    if (rp && json_object_is_type(rp, json_type_object)) unknown_members(rp, "retry_policy.", rp_known, errors);
    json_object_object_add(nr2, "max_attempts",
                           json_object_new_int(get_int(rp, "max_attempts", 3, 0, 10, "retry_policy.max_attempts", errors)));
    const char *bo = get(rp, "backoff") ? jstr(rp, "backoff") : "exponential";
    if (!one_of(bo, scheduler_backoffs)) err_add(errors, "retry_policy.backoff", "must be none, linear or exponential");
    put_str(nr2, "backoff", bo);
    json_object_object_add(nr2, "retry_window_minutes",
                           json_object_new_int(get_int(rp, "retry_window_minutes", 120, 0, 10080,
                                                       "retry_policy.retry_window_minutes", errors)));
    json_object_object_add(nr2, "dead_letter_required",
                           json_object_new_boolean(get_bool(rp, "dead_letter_required", true,
                                                            "retry_policy.dead_letter_required", errors)));
    json_object_object_add(d->norm, "retry_policy", nr2);

    const char *mp = get(body, "missed_policy") ? jstr(body, "missed_policy") : "latest";
    if (!one_of(mp, scheduler_missed_policies)) err_add(errors, "missed_policy", "must be latest, all or none");
    put_str(d->norm, "missed_policy", mp);
}

/* first occurrence at or after from_ms (*has = false when the rule ended) */
static int first_at_or_after(const char *rrule_text, const char *tz, const char *dtstart, int64_t from_ms,
                             int64_t *at, bool *has) {
    rrule_t r;
    civil_t c;
    *has = false;
    if (rrule_parse(rrule_text, &r, NULL, 0) || !parse_local(dtstart, &c)) return AISPM_EINVAL;
    int n = 0;
    int rc = rrule_expand(&r, tz, &c, from_ms - 1, 1, at, &n);
    *has = n == 1;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* loading a schedule                                                        */

typedef struct {
    long long id, tenant_id;
    char ref[REF_MAX], tenant_ref[REF_MAX], name[201], status[24], cadence[16], rrule[RRULE_TEXT_MAX + 1];
    char tz[129], dtstart[17], mode[32], missed[8], target_ref[64], approval_policy_ref[64], approval_ref[64];
    char evidence_ref[EVIDENCE_REF_MAX], created_by_role[33], time_of_day[8], scope[32];
    bool has_next;
    int64_t next_run_at, created_at, updated_at;
    int recipients_n, groups_n, version;
    json_object *report_ids, *formats, *channels, *options, *approval, *blackouts, *retry;
} sched_t;

static void sched_free(sched_t *s) {
    json_object *v[] = {s->report_ids, s->formats, s->channels, s->options, s->approval, s->blackouts, s->retry};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i]) json_object_put(v[i]);
    memset(s, 0, sizeof *s);
}

#define SCHED_SELECT                                                                                                 \
    "SELECT s.id, s.tenant_id, s.ref, t.ref, s.name, s.status, s.cadence, s.rrule, s.timezone, s.dtstart_local, "    \
    "s.next_run_at, s.delivery_mode, s.missed_policy, s.target_ref, s.approval_policy_ref, s.approval_ref, "         \
    "s.evidence_ref, s.created_by_role, s.created_at, s.updated_at, JSON_LENGTH(s.recipients_private), "             \
    "JSON_LENGTH(s.groups_private), s.version, s.report_ids, s.formats, s.channels, s.delivery_options, "            \
    "s.approval_policy, s.blackouts, s.retry_policy, s.time_of_day, s.recipient_scope FROM schedules s JOIN "        \
    "tenants t ON t.id = s.tenant_id "

static json_object *parse_col(const char *s) {
    json_object *o = json_tokener_parse(s);
    return o ? o : json_object_new_array();
}

static void sched_row(db_res_t *res, sched_t *s) {
    memset(s, 0, sizeof *s);
    s->id = db_res_int(res, 0);
    s->tenant_id = db_res_int(res, 1);
    snprintf(s->ref, sizeof s->ref, "%s", db_res_str(res, 2));
    snprintf(s->tenant_ref, sizeof s->tenant_ref, "%s", db_res_str(res, 3));
    snprintf(s->name, sizeof s->name, "%s", db_res_str(res, 4));
    snprintf(s->status, sizeof s->status, "%s", db_res_str(res, 5));
    snprintf(s->cadence, sizeof s->cadence, "%s", db_res_str(res, 6));
    snprintf(s->rrule, sizeof s->rrule, "%s", db_res_str(res, 7));
    snprintf(s->tz, sizeof s->tz, "%s", db_res_str(res, 8));
    snprintf(s->dtstart, sizeof s->dtstart, "%s", db_res_str(res, 9));
    s->has_next = !db_res_isnull(res, 10);
    if (s->has_next) s->next_run_at = sql_ms(db_res_str(res, 10));
    snprintf(s->mode, sizeof s->mode, "%s", db_res_str(res, 11));
    snprintf(s->missed, sizeof s->missed, "%s", db_res_str(res, 12));
    snprintf(s->target_ref, sizeof s->target_ref, "%s", db_res_str(res, 13));
    snprintf(s->approval_policy_ref, sizeof s->approval_policy_ref, "%s", db_res_str(res, 14));
    snprintf(s->approval_ref, sizeof s->approval_ref, "%s", db_res_str(res, 15));
    snprintf(s->evidence_ref, sizeof s->evidence_ref, "%s", db_res_str(res, 16));
    snprintf(s->created_by_role, sizeof s->created_by_role, "%s", db_res_str(res, 17));
    s->created_at = sql_ms(db_res_str(res, 18));
    s->updated_at = sql_ms(db_res_str(res, 19));
    s->recipients_n = (int)db_res_int(res, 20);
    s->groups_n = (int)db_res_int(res, 21);
    s->version = (int)db_res_int(res, 22);
    s->report_ids = parse_col(db_res_str(res, 23));
    s->formats = parse_col(db_res_str(res, 24));
    s->channels = parse_col(db_res_str(res, 25));
    s->options = parse_col(db_res_str(res, 26));
    s->approval = parse_col(db_res_str(res, 27));
    s->blackouts = parse_col(db_res_str(res, 28));
    s->retry = parse_col(db_res_str(res, 29));
    snprintf(s->time_of_day, sizeof s->time_of_day, "%s", db_res_str(res, 30));
    snprintf(s->scope, sizeof s->scope, "%s", db_res_str(res, 31));
}

/* loads a live (not deleted) schedule of tenant_id by ref (or by id when ref
 * is NULL); AISPM_ENOTFOUND when absent */
static int sched_load(db_t *db, long long tenant_id, const char *ref, long long id, sched_t *s) {
    db_res_t *res;
    int rc;
    if (ref) {
        if (!ref_parse(ref, "schedule", NULL, NULL)) return AISPM_ENOTFOUND;
        rc = db_query(db, SCHED_SELECT "WHERE s.tenant_id = ? AND s.ref = ? AND s.deleted_at IS NULL",
                      DB_ARGS(DBI(tenant_id), DBS(ref)), &res);
    } else {
        rc = db_query(db, SCHED_SELECT "WHERE s.tenant_id = ? AND s.id = ? AND s.deleted_at IS NULL",
                      DB_ARGS(DBI(tenant_id), DBI(id)), &res);
    }
    if (rc) return rc;
    bool found = db_res_next(res);
    if (found) sched_row(res, s);
    db_res_free(res);
    return found ? 0 : AISPM_ENOTFOUND;
}

/* ------------------------------------------------------------------------ */
/* blackout windows                                                          */

typedef struct {
    const char *window_ref, *behavior;
    int64_t starts_at, ends_at;
} window_hit_t;

/* the first window (list order) containing t; false when none */
static bool blackout_at(const sched_t *s, int64_t t, window_hit_t *hit) {
    size_t n = s->blackouts ? json_object_array_length(s->blackouts) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *w = json_object_array_get_idx(s->blackouts, i);
        int64_t ws = 0, we = 0;
        if (!strcmp(jstr(w, "kind"), "recurring")) {
            rrule_t r;
            civil_t c;
            if (rrule_parse(jstr(w, "rrule"), &r, NULL, 0) || !parse_local(s->dtstart, &c)) continue;
            c.hour = c.min = 0; /* the window rule's own BYHOUR/BYMINUTE set its time */
            int64_t dur = json_object_get_int64(get(w, "duration_minutes")) * 60000;
            int k = 0;
            if (rrule_expand(&r, s->tz, &c, t - dur, 1, &ws, &k) || k == 0 || ws > t) continue;
            we = ws + dur;
        } else {
            if (rfc3339_parse(jstr(w, "starts_at"), &ws) || rfc3339_parse(jstr(w, "ends_at"), &we)) continue;
            if (t < ws || t >= we) continue;
        }
        hit->window_ref = jstr(w, "window_ref");
        hit->behavior = jstr(w, "behavior");
        hit->starts_at = ws;
        hit->ends_at = we;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------ */
/* views and projections                                                     */

static json_object *windows_view(const sched_t *s, int64_t now, bool contract) {
    json_object *out = json_object_new_array();
    size_t n = s->blackouts ? json_object_array_length(s->blackouts) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *w = json_object_array_get_idx(s->blackouts, i), *o = json_object_new_object();
        put_str(o, "window_ref", jstr(w, "window_ref"));
        bool rec = !strcmp(jstr(w, "kind"), "recurring");
        int64_t ws = 0, we = 0;
        if (rec) {
            /* the current or next instance of the recurring window */
            rrule_t r;
            civil_t c;
            int k = 0;
            int64_t dur = json_object_get_int64(get(w, "duration_minutes")) * 60000;
            if (!rrule_parse(jstr(w, "rrule"), &r, NULL, 0) && parse_local(s->dtstart, &c)) {
                c.hour = c.min = 0;
                rrule_expand(&r, s->tz, &c, now - dur, 1, &ws, &k);
            }
            if (k == 0) ws = now; /* a rule that has ended: an empty instant */
            we = k ? ws + dur : now;
        } else {
            rfc3339_parse(jstr(w, "starts_at"), &ws);
            rfc3339_parse(jstr(w, "ends_at"), &we);
        }
        put_ts(o, "starts_at", ws);
        put_ts(o, "ends_at", we);
        put_str(o, "behavior", jstr(w, "behavior"));
        if (!contract) {
            put_str(o, "kind", rec ? "recurring" : "once");
            if (rec) {
                put_str(o, "rrule", jstr(w, "rrule"));
                json_object_object_add(o, "duration_minutes", json_object_get(get(w, "duration_minutes")));
            }
        }
        json_object_array_add(out, o);
    }
    return out;
}

static json_object *sched_view(const sched_t *s) {
    json_object *o = json_object_new_object();
    char url[200];
    put_str(o, "schedule_ref", s->ref);
    put_str(o, "name", s->name);
    put_str(o, "status", s->status);
    json_object_object_add(o, "report_ids", json_object_get(s->report_ids));
    json_object_object_add(o, "formats", json_object_get(s->formats));
    put_str(o, "cadence", s->cadence);
    put_str(o, "rrule", s->rrule);
    put_str(o, "time_of_day", s->time_of_day[0] ? s->time_of_day : NULL);
    put_str(o, "timezone", s->tz);
    put_str(o, "starts_at", s->dtstart);
    if (s->has_next) {
        put_ts(o, "next_run_at", s->next_run_at);
        put_local(o, "next_run_local", s->tz, s->next_run_at);
    } else {
        put_str(o, "next_run_at", NULL);
        put_str(o, "next_run_local", NULL);
    }
    put_str(o, "delivery_mode", s->mode);
    json_object_object_add(o, "channels", json_object_get(s->channels));
    put_str(o, "target_ref", s->target_ref);
    json_object_object_add(o, "recipient_count", json_object_new_int(s->recipients_n));
    json_object_object_add(o, "group_count", json_object_new_int(s->groups_n));
    put_str(o, "recipient_scope", s->scope);
    json_object_object_add(o, "delivery_options", json_object_get(s->options));
    json_object_object_add(o, "approval_policy", json_object_get(s->approval));
    put_str(o, "approval_ref", s->approval_ref[0] ? s->approval_ref : NULL);
    json_object_object_add(o, "blackout_windows", windows_view(s, now_ms(), false));
    json_object_object_add(o, "retry_policy", json_object_get(s->retry));
    put_str(o, "missed_policy", s->missed);
    json_object_object_add(o, "version", json_object_new_int(s->version));
    put_ts(o, "created_at", s->created_at);
    put_ts(o, "updated_at", s->updated_at);
    snprintf(url, sizeof url, API "/%s/policy", s->ref);
    put_str(o, "policy_url", url);
    snprintf(url, sizeof url, API "/%s/preview", s->ref);
    put_str(o, "preview_url", url);
    return o;
}

int scheduler_get(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    sched_t s;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    *out = sched_view(&s);
    sched_free(&s);
    return 0;
}

int scheduler_list(db_t *db, const actor_t *a, json_object **out) {
    db_res_t *res;
    int rc = db_query(db, SCHED_SELECT "WHERE s.tenant_id = ? AND s.deleted_at IS NULL ORDER BY s.id DESC LIMIT 200",
                      DB_ARGS(DBI(a->tenant_id)), &res);
    if (rc) return rc;
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    while (db_res_next(res)) {
        sched_t s;
        sched_row(res, &s);
        json_object_array_add(arr, sched_view(&s));
        sched_free(&s);
    }
    db_res_free(res);
    json_object_object_add(o, "schedules", arr);
    *out = o;
    return 0;
}

const char *scheduler_cadence_class(const char *cadence, const char *rrule) {
    if (one_of(cadence, presets)) return cadence;
    rrule_t r;
    if (rrule_parse(rrule, &r, NULL, 0)) return "custom";
    if (r.freq == RRULE_DAILY) return "daily";
    if (r.freq == RRULE_WEEKLY) return "weekly";
    return r.interval == 3 || r.nbymonth == 4 ? "quarterly" : "monthly";
}

/* contract cadence of a schedule (the policy contract says "cron" for a rule
 * it cannot class) */
static const char *contract_cadence(const sched_t *s) {
    const char *c = scheduler_cadence_class(s->cadence, s->rrule);
    return strcmp(c, "custom") ? c : "cron";
}

static const char *run_status_contract(const char *state) {
    if (!strcmp(state, "delivered")) return "sent";
    if (!strcmp(state, "failed")) return "failed";
    if (!strcmp(state, "deferred")) return "deferred";
    if (!strcmp(state, "skipped")) return "skipped";
    if (!strcmp(state, "pending_approval")) return "pending_approval";
    return NULL;
}

int scheduler_policy_projection(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    sched_t s;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    int64_t now = now_ms();
    json_object *o = json_object_new_object();
    put_str(o, "schema_version", "cavra.aispm.report_schedule_policy.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_ts(o, "generated_at", now);
    put_str(o, "tenant_ref", s.tenant_ref);

    json_object *sc = json_object_new_object();
    put_str(sc, "schedule_ref", s.ref);
    put_str(sc, "name", s.name);
    put_str(sc, "status", s.status);
    json_object_object_add(sc, "report_ids", json_object_get(s.report_ids));
    json_object_object_add(sc, "formats", json_object_get(s.formats));
    put_str(sc, "cadence", contract_cadence(&s));
    put_str(sc, "timezone", s.tz);
    if (s.has_next) put_ts(sc, "next_run_at", s.next_run_at);
    else put_str(sc, "next_run_at", NULL);
    char role[48];
    snprintf(role, sizeof role, "role:%s", s.created_by_role[0] ? s.created_by_role : "system");
    put_str(sc, "created_by", role);
    json_object_object_add(o, "schedule", sc);

    /* recipient governance: domains come from the tenant's allow-list, never
     * from the (private) recipients */
    char domains[1024] = "", ext[8] = "";
    setup_setting(db, s.tenant_id, "CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS", domains, sizeof domains);
    setup_setting(db, s.tenant_id, "CAVRA_REPORT_EXTERNAL_APPROVAL_REQUIRED", ext, sizeof ext);
    json_object *rg = json_object_new_object(), *dl = json_object_new_array();
    for (char *save = NULL, *tok = strtok_r(domains, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        bool dup = false;
        for (size_t i = 0; i < json_object_array_length(dl); i++)
            dup |= !strcmp(json_object_get_string(json_object_array_get_idx(dl, i)), tok);
        if (!dup) json_object_array_add(dl, json_object_new_string(tok));
    }
    put_str(rg, "recipient_scope", s.scope);
    json_object_object_add(rg, "allowed_domains", dl);
    put_str(rg, "rbac_scope", "reports.send");
    /* external recipients are delivered only through an approval */
    (void)ext;
    json_object_object_add(rg, "external_delivery_allowed",
                           json_object_new_boolean(json_object_get_boolean(get(s.approval,
                                                                               "external_recipient_requires_approval"))));
    json_object_object_add(rg, "recipient_addresses_redacted", json_object_new_boolean(1));
    json_object_object_add(o, "recipient_governance", rg);

    json_object *dv = json_object_new_object();
    put_str(dv, "delivery_mode", s.mode);
    put_str(dv, "target_ref", s.target_ref);
    static const char *const opt_known[] = {"package_manifest_required", "watermark_required",
                                            "encrypted_attachment_required", NULL};
    for (int i = 0; opt_known[i]; i++)
        json_object_object_add(dv, opt_known[i], json_object_new_boolean(json_object_get_boolean(get(s.options, opt_known[i]))));
    json_object_object_add(o, "delivery", dv);

    json_object *ap = json_object_new_object();
    json_object_object_add(ap, "approval_required", json_object_get(get(s.approval, "approval_required")));
    put_str(ap, "approver_group", jstr(s.approval, "approver_group"));
    put_str(ap, "approval_ref", s.approval_ref[0] ? s.approval_ref : s.approval_policy_ref);
    json_object_object_add(ap, "change_requires_approval", json_object_get(get(s.approval, "change_requires_approval")));
    json_object_object_add(ap, "external_recipient_requires_approval",
                           json_object_get(get(s.approval, "external_recipient_requires_approval")));
    json_object_object_add(o, "approval_policy", ap);
    json_object_object_add(o, "blackout_windows", windows_view(&s, now, true));
    json_object_object_add(o, "retry_policy", json_object_get(s.retry));

    /* run evidence: the newest run whose state the contract names */
    json_object *re = json_object_new_object(), *refs = json_object_new_array();
    char pub[EVIDENCE_REF_MAX];
    db_res_t *res;
    rc = db_query(db,
                  "SELECT ref, state, occurrence_at, evidence_ref FROM schedule_runs WHERE tenant_id = ? AND "
                  "schedule_id = ? AND state IN ('delivered','failed','deferred','skipped','pending_approval') "
                  "ORDER BY occurrence_at DESC, id DESC LIMIT 1",
                  DB_ARGS(DBI(s.tenant_id), DBI(s.id)), &res);
    if (rc) {
        json_object_put(o);
        json_object_put(re);
        json_object_put(refs);
        sched_free(&s);
        return rc;
    }
    if (db_res_next(res)) {
        put_str(re, "last_run_ref", db_res_str(res, 0));
        put_str(re, "last_run_status", run_status_contract(db_res_str(res, 1)));
        put_ts(re, "last_run_at", sql_ms(db_res_str(res, 2)));
        if (!evidence_ref_public(db_res_str(res, 3), pub)) json_object_array_add(refs, json_object_new_string(pub));
    } else {
        put_str(re, "last_run_ref", NULL);
        put_str(re, "last_run_status", "never_run");
        put_str(re, "last_run_at", NULL);
    }
    db_res_free(res);
    if (!evidence_ref_public(s.evidence_ref, pub)) {
        json_object_array_add(refs, json_object_new_string(pub));
        put_str(re, "audit_event_ref", pub);
    } else {
        put_str(re, "audit_event_ref", s.ref);
    }
    json_object_object_add(re, "evidence_refs", refs);
    json_object_object_add(o, "run_evidence", re);

    json_object *rd = json_object_new_object();
    static const char *const red[] = {"recipient_addresses_included", "raw_report_content_included",
                                      "provider_response_included", "customer_records_included", "secrets_included",
                                      NULL};
    for (int i = 0; red[i]; i++) json_object_object_add(rd, red[i], json_object_new_boolean(0));
    put_str(rd, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", rd);
    json_object *eb = json_object_new_object();
    static const char *const bnd[] = {"scheduler_worker",    "calendar_blackout_engine", "recipient_resolution",
                                      "provider_delivery",   "schedule_persistence",     "license_enforcement",
                                      NULL};
    for (int i = 0; bnd[i]; i++) put_str(eb, bnd[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
    sched_free(&s);
    *out = o;
    return 0;
}

int scheduler_preview(db_t *db, const actor_t *a, const char *ref, int64_t from_ms, int count, json_object **out) {
    if (count < 1 || count > SCHEDULER_PREVIEW_MAX) return AISPM_EINVAL;
    sched_t s;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    rrule_t r;
    civil_t c;
    if (rrule_parse(s.rrule, &r, NULL, 0) || !parse_local(s.dtstart, &c)) {
        sched_free(&s);
        return AISPM_ERR;
    }
    int64_t occ[SCHEDULER_PREVIEW_MAX];
    int n = 0;
    rc = rrule_expand(&r, s.tz, &c, from_ms - 1, count, occ, &n);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    put_str(o, "schedule_ref", s.ref);
    put_str(o, "timezone", s.tz);
    put_str(o, "rrule", s.rrule);
    put_ts(o, "from", from_ms);
    for (int i = 0; i < n; i++) {
        json_object *e = json_object_new_object();
        put_ts(e, "occurrence_at", occ[i]);
        put_local(e, "local_time", s.tz, occ[i]);
        window_hit_t h;
        if (blackout_at(&s, occ[i], &h)) {
            json_object *b = json_object_new_object();
            put_str(b, "window_ref", h.window_ref);
            put_str(b, "behavior", h.behavior);
            put_ts(b, "window_ends_at", h.ends_at);
            json_object_object_add(e, "blackout", b);
            if (!strcmp(h.behavior, "defer")) {
                put_str(e, "effect", "deferred");
                put_ts(e, "runs_at", h.ends_at);
                put_local(e, "runs_at_local", s.tz, h.ends_at);
            } else {
                put_str(e, "effect", !strcmp(h.behavior, "skip") ? "skipped" : "requires_manual_approval");
                put_str(e, "runs_at", NULL);
                put_str(e, "runs_at_local", NULL);
            }
        } else {
            json_object_object_add(e, "blackout", NULL);
            put_str(e, "effect", "runs");
            put_ts(e, "runs_at", occ[i]);
            put_local(e, "runs_at_local", s.tz, occ[i]);
        }
        json_object_array_add(arr, e);
    }
    json_object_object_add(o, "occurrences", arr);
    sched_free(&s);
    *out = o;
    return 0;
}

int scheduler_runs(db_t *db, const actor_t *a, const char *ref, int limit, json_object **out) {
    sched_t s;
    if (limit < 1 || limit > 200) limit = 50;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT r.ref, r.state, r.reason, r.window_ref, r.occurrence_at, r.due_at, r.attempts, "
                  "r.evidence_ref, r.created_at, r.updated_at, (SELECT GROUP_CONCAT(q.ref ORDER BY q.id) FROM "
                  "schedule_run_renders j JOIN render_requests q ON q.id = j.render_id AND q.tenant_id = j.tenant_id "
                  "WHERE j.run_id = r.id AND j.tenant_id = r.tenant_id) FROM schedule_runs r WHERE r.tenant_id = ? AND "
                  "r.schedule_id = ? ORDER BY r.occurrence_at DESC, r.id DESC LIMIT ?",
                  DB_ARGS(DBI(a->tenant_id), DBI(s.id), DBI(limit)), &res);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *e = json_object_new_object();
        char pub[EVIDENCE_REF_MAX];
        put_str(e, "run_ref", db_res_str(res, 0));
        put_str(e, "state", db_res_str(res, 1));
        put_str(e, "reason", db_res_isnull(res, 2) ? NULL : db_res_str(res, 2));
        put_str(e, "window_ref", db_res_isnull(res, 3) ? NULL : db_res_str(res, 3));
        int64_t occ = sql_ms(db_res_str(res, 4));
        put_ts(e, "occurrence_at", occ);
        put_local(e, "occurrence_local", s.tz, occ);
        if (db_res_isnull(res, 5)) put_str(e, "due_at", NULL);
        else put_ts(e, "due_at", sql_ms(db_res_str(res, 5)));
        json_object_object_add(e, "attempts", json_object_new_int((int)db_res_int(res, 6)));
        put_str(e, "evidence_ref", evidence_ref_public(db_res_str(res, 7), pub) ? NULL : pub);
        json_object *renders = json_object_new_array();
        char list[2048];
        snprintf(list, sizeof list, "%s", db_res_str(res, 10));
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            json_object_array_add(renders, json_object_new_string(tok));
        json_object_object_add(e, "render_refs", renders);
        put_ts(e, "created_at", sql_ms(db_res_str(res, 8)));
        put_ts(e, "updated_at", sql_ms(db_res_str(res, 9)));
        json_object_array_add(arr, e);
    }
    db_res_free(res);
    put_str(o, "schedule_ref", s.ref);
    json_object_object_add(o, "runs", arr);
    sched_free(&s);
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* create, update, pause, delete                                             */

static json_object *change_details(const sched_t *s, const char *status) {
    json_object *d = json_object_new_object();
    put_str(d, "schedule_ref", s ? s->ref : NULL);
    put_str(d, "status", status);
    return d;
}

/* details of a definition for evidence: never recipients, only counts */
static json_object *def_details(const sched_def_t *d, const char *status, int recipients, int groups) {
    json_object *o = json_object_new_object();
    put_str(o, "name", jstr(d->norm, "name"));
    put_str(o, "status", status);
    json_object_object_add(o, "report_ids", json_object_get(get(d->norm, "report_ids")));
    json_object_object_add(o, "formats", json_object_get(get(d->norm, "formats")));
    put_str(o, "cadence", jstr(d->norm, "cadence"));
    put_str(o, "rrule", d->rrule);
    put_str(o, "timezone", d->tz);
    put_str(o, "delivery_mode", jstr(d->norm, "delivery_mode"));
    json_object_object_add(o, "recipient_count", json_object_new_int(recipients));
    json_object_object_add(o, "group_count", json_object_new_int(groups));
    json_object_object_add(o, "blackout_windows",
                           json_object_new_int((int)json_object_array_length(get(d->norm, "blackout_windows"))));
    return o;
}

static int validate_or_refuse(db_t *db, const actor_t *a, json_object *body, sched_def_t *d, schedule_outcome_t *out) {
    json_object *errors = json_object_new_object();
    validate(db, a, body, d, errors);
    if (json_object_object_length(errors)) {
        def_free(d);
        refuse(out, 422, "validation_failed", "the schedule is not valid", errors);
        return 1;
    }
    json_object_put(errors);
    return 0;
}

/* asks for the approval of a schedule's change (inside the caller's
 * transaction) and records its ref on the schedule */
static int request_change_approval(db_t *db, const actor_t *a, const char *ref, const sched_def_t *d, int version,
                                   const char *scope, const char *request_id) {
    json_object *ap = get(d->norm, "approval_policy"), *subj = json_object_new_object(),
                *payload = json_object_new_object();
    const char *grp = jstr(ap, "approver_group");
    json_object_object_add(subj, "report_ids", json_object_get(get(d->norm, "report_ids")));
    json_object_object_add(subj, "formats", json_object_get(get(d->norm, "formats")));
    put_str(subj, "delivery_mode", jstr(d->norm, "delivery_mode"));
    put_str(subj, "recipient_scope", scope);
    json_object_object_add(payload, "version", json_object_new_int(version));
    approval_request_t req = {.type = APPROVAL_SCHEDULE_CHANGE,
                              .subject_kind = "schedule",
                              .subject_ref = ref,
                              .approver_role = rbac_role_valid(grp) ? grp : NULL,
                              .risk_level = "medium",
                              .reason_code = "schedule_change",
                              .payload = payload,
                              .public_subject = subj,
                              .schedule_ref = ref};
    char aref[REF_MAX];
    int rc = approvals_request(db, a->tenant_id, a->tenant_ref, a->user_ref[0] ? a->user_ref : ref, a->user_id, &req,
                               request_id, aref);
    json_object_put(subj);
    json_object_put(payload);
    if (!rc)
        rc = db_exec(db, "UPDATE schedules SET approval_ref = ? WHERE tenant_id = ? AND ref = ?",
                     DB_ARGS(DBS(aref), DBI(a->tenant_id), DBS(ref)), NULL, NULL);
    return rc;
}

int scheduler_create(db_t *db, const actor_t *a, json_object *body, const char *request_id, schedule_outcome_t *out) {
    memset(out, 0, sizeof *out);
    sched_def_t d;
    if (validate_or_refuse(db, a, body, &d, out)) return 0;
    int64_t now = now_ms(), next = 0;
    bool has_next;
    /* an anchor in the past does not replay the past: the cursor starts at
     * the first occurrence that is not yet missed */
    int rc = first_at_or_after(d.rrule, d.tz, d.dtstart, now - SCHEDULER_GRACE_MS, &next, &has_next);
    if (rc) {
        def_free(&d);
        return rc;
    }
    char ref[REF_MAX], target[REF_MAX], apref[REF_MAX], nows[RFC3339_MAX], nexts[RFC3339_MAX], ev[EVIDENCE_REF_MAX];
    ref_new("schedule", ref);
    ref_new("delivery-target", target);
    ref_new("approval-policy", apref);
    sql_datetime_format(now, nows);
    sql_datetime_format(next, nexts);
    const char *status = d.requires_approval ? "requires_approval" : "active";
    if (!d.recipients) d.recipients = json_object_new_array();
    if (!d.groups) d.groups = json_object_new_array();
    json_object *n = d.norm;
    rc = db_begin(db);
    if (rc) {
        def_free(&d);
        return rc;
    }
    json_object *det = def_details(&d, status, (int)json_object_array_length(d.recipients),
                                   (int)json_object_array_length(d.groups));
    rc = auth_evidence(db, a, "schedule.created", ref, "success", request_id, det, ev);
    json_object_put(det);
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO schedules (ref, tenant_id, name, status, report_ids, formats, cadence, rrule, "
                     "time_of_day, timezone, dtstart_local, next_run_at, delivery_mode, channels, target_ref, "
                     "recipients_private, groups_private, recipient_scope, delivery_options, approval_policy, "
                     "approval_policy_ref, blackouts, retry_policy, missed_policy, created_by_role, created_by, "
                     "evidence_ref, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                     "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(ref), DBI(a->tenant_id), DBS(jstr(n, "name")), DBS(status),
                             DBS(json_text(get(n, "report_ids"))), DBS(json_text(get(n, "formats"))),
                             DBS(jstr(n, "cadence")), DBS(d.rrule),
                             get(n, "time_of_day") ? DBS(jstr(n, "time_of_day")) : DBNULL, DBS(d.tz), DBS(d.dtstart),
                             has_next ? DBS(nexts) : DBNULL, DBS(jstr(n, "delivery_mode")),
                             DBS(json_text(get(n, "channels"))), DBS(target), DBS(json_text(d.recipients)),
                             DBS(json_text(d.groups)), DBS(d.scope ? d.scope : "approved_internal_domain"),
                             DBS(json_text(get(n, "delivery_options"))), DBS(json_text(get(n, "approval_policy"))),
                             DBS(apref),
                             DBS(json_text(get(n, "blackout_windows"))), DBS(json_text(get(n, "retry_policy"))),
                             DBS(jstr(n, "missed_policy")), DBS(a->role[0] ? a->role : "system"),
                             a->user_id ? DBI(a->user_id) : DBNULL, DBS(ev), DBS(nows), DBS(nows)),
                     NULL, NULL);
    if (!rc && d.requires_approval)
        rc = request_change_approval(db, a, ref, &d, 1, d.scope ? d.scope : "approved_internal_domain", request_id);
    def_free(&d);
    if (rc) {
        db_rollback(db);
        return rc == AISPM_ECONFLICT ? AISPM_EDB : rc;
    }
    rc = db_commit(db);
    if (rc) return rc;
    rc = scheduler_get(db, a, ref, &out->body);
    if (!rc) out->status = 201;
    return rc;
}

int scheduler_update(db_t *db, const actor_t *a, const char *ref, json_object *body, const char *request_id,
                     schedule_outcome_t *out) {
    memset(out, 0, sizeof *out);
    sched_t s;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    sched_def_t d;
    if (validate_or_refuse(db, a, body, &d, out)) {
        sched_free(&s);
        return 0;
    }
    int64_t now = now_ms(), next = 0;
    bool has_next;
    /* the cursor restarts at now (occurrences before the change are not run
     * again), or at the anchor when it lies in the future */
    rc = first_at_or_after(d.rrule, d.tz, d.dtstart, now, &next, &has_next);
    if (rc) {
        sched_free(&s);
        def_free(&d);
        return rc;
    }
    bool gated = d.requires_approval || json_object_get_boolean(get(s.approval, "change_requires_approval"));
    const char *status = gated ? "requires_approval" : (!strcmp(s.status, "paused") ? "paused" : "active");
    char nows[RFC3339_MAX], nexts[RFC3339_MAX], ev[EVIDENCE_REF_MAX], target[64];
    sql_datetime_format(now, nows);
    sql_datetime_format(next, nexts);
    bool new_target = d.recipients || d.groups;
    if (new_target) ref_new("delivery-target", target);
    else snprintf(target, sizeof target, "%s", s.target_ref);
    json_object *n = d.norm;
    rc = db_begin(db);
    if (rc) goto done;
    json_object *det = def_details(&d, status, d.recipients ? (int)json_object_array_length(d.recipients) : s.recipients_n,
                                   d.groups ? (int)json_object_array_length(d.groups) : s.groups_n);
    json_object_object_add(det, "version", json_object_new_int(s.version + 1));
    json_object_object_add(det, "recipients_changed", json_object_new_boolean(new_target));
    rc = auth_evidence(db, a, "schedule.updated", s.ref, "success", request_id, det, ev);
    json_object_put(det);
    uint64_t affected = 0;
    if (!rc)
        rc = db_exec(db,
                     "UPDATE schedules SET name = ?, status = ?, report_ids = ?, formats = ?, cadence = ?, rrule = ?, "
                     "time_of_day = ?, timezone = ?, dtstart_local = ?, next_run_at = ?, delivery_mode = ?, "
                     "channels = ?, target_ref = ?, recipients_private = COALESCE(?, recipients_private), "
                     "groups_private = COALESCE(?, groups_private), recipient_scope = COALESCE(?, recipient_scope), "
                     "delivery_options = ?, approval_policy = ?, "
                     "blackouts = ?, retry_policy = ?, missed_policy = ?, evidence_ref = ?, version = version + 1, "
                     "updated_at = ? WHERE tenant_id = ? AND id = ? AND version = ? AND deleted_at IS NULL",
                     DB_ARGS(DBS(jstr(n, "name")), DBS(status), DBS(json_text(get(n, "report_ids"))),
                             DBS(json_text(get(n, "formats"))), DBS(jstr(n, "cadence")), DBS(d.rrule),
                             get(n, "time_of_day") ? DBS(jstr(n, "time_of_day")) : DBNULL, DBS(d.tz), DBS(d.dtstart),
                             has_next ? DBS(nexts) : DBNULL, DBS(jstr(n, "delivery_mode")),
                             DBS(json_text(get(n, "channels"))), DBS(target),
                             d.recipients ? DBS(json_text(d.recipients)) : DBNULL,
                             d.groups ? DBS(json_text(d.groups)) : DBNULL, DBS(d.scope),
                             DBS(json_text(get(n, "delivery_options"))),
                             DBS(json_text(get(n, "approval_policy"))), DBS(json_text(get(n, "blackout_windows"))),
                             DBS(json_text(get(n, "retry_policy"))), DBS(jstr(n, "missed_policy")), DBS(ev),
                             DBS(nows), DBI(a->tenant_id), DBI(s.id), DBI(s.version)),
                     &affected, NULL);
    if (!rc && affected == 0) rc = AISPM_ECONFLICT;
    if (!rc && gated)
        rc = request_change_approval(db, a, s.ref, &d, s.version + 1, d.scope ? d.scope : s.scope, request_id);
    if (rc) {
        db_rollback(db);
        if (rc == AISPM_ECONFLICT) {
            refuse(out, 409, "schedule_changed", "the schedule was changed concurrently; reload and retry", NULL);
            rc = 0;
        }
        goto done;
    }
    rc = db_commit(db);
    if (!rc) rc = scheduler_get(db, a, s.ref, &out->body);
    if (!rc) out->status = 200;
done:
    sched_free(&s);
    def_free(&d);
    return rc;
}

int scheduler_pause(db_t *db, const actor_t *a, const char *ref, bool pause, const char *request_id,
                    schedule_outcome_t *out) {
    memset(out, 0, sizeof *out);
    sched_t s;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    if (!strcmp(s.status, "requires_approval")) {
        sched_free(&s);
        refuse(out, 409, "approval_pending", "the schedule's last change waits for an approval", NULL);
        return 0;
    }
    const char *to = pause ? "paused" : "active";
    if (!strcmp(s.status, "disabled")) {
        sched_free(&s);
        refuse(out, 409, "schedule_disabled", "the schedule's change was rejected; submit a new change", NULL);
        return 0;
    }
    if (!strcmp(s.status, to)) { /* idempotent */
        sched_free(&s);
        rc = scheduler_get(db, a, ref, &out->body);
        if (!rc) out->status = 200;
        return rc;
    }
    int64_t now = now_ms(), next = 0;
    bool has_next = s.has_next;
    next = s.next_run_at;
    /* resuming does not replay the paused time: the cursor restarts at now */
    if (!pause) rc = first_at_or_after(s.rrule, s.tz, s.dtstart, now, &next, &has_next);
    char nows[RFC3339_MAX], nexts[RFC3339_MAX], ev[EVIDENCE_REF_MAX];
    sql_datetime_format(now, nows);
    sql_datetime_format(next, nexts);
    if (!rc) rc = db_begin(db);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    json_object *det = change_details(&s, to);
    rc = auth_evidence(db, a, pause ? "schedule.paused" : "schedule.resumed", s.ref, "success", request_id, det, ev);
    json_object_put(det);
    uint64_t affected = 0;
    if (!rc)
        rc = db_exec(db,
                     "UPDATE schedules SET status = ?, next_run_at = ?, evidence_ref = ?, updated_at = ? WHERE "
                     "tenant_id = ? AND id = ? AND status = ? AND deleted_at IS NULL",
                     DB_ARGS(DBS(to), has_next ? DBS(nexts) : DBNULL, DBS(ev), DBS(nows), DBI(a->tenant_id),
                             DBI(s.id), DBS(s.status)),
                     &affected, NULL);
    if (!rc && affected == 0) rc = AISPM_ECONFLICT;
    if (rc) {
        db_rollback(db);
        sched_free(&s);
        if (rc == AISPM_ECONFLICT) {
            refuse(out, 409, "schedule_changed", "the schedule was changed concurrently; reload and retry", NULL);
            return 0;
        }
        return rc;
    }
    rc = db_commit(db);
    if (!rc) rc = scheduler_get(db, a, s.ref, &out->body);
    if (!rc) out->status = 200;
    sched_free(&s);
    return rc;
}

int scheduler_delete(db_t *db, const actor_t *a, const char *ref, const char *request_id) {
    sched_t s;
    int rc = sched_load(db, a->tenant_id, ref, 0, &s);
    if (rc) return rc;
    char nows[RFC3339_MAX], ev[EVIDENCE_REF_MAX];
    sql_datetime_format(now_ms(), nows);
    rc = db_begin(db);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    json_object *det = change_details(&s, "deleted");
    rc = auth_evidence(db, a, "schedule.deleted", s.ref, "success", request_id, det, ev);
    json_object_put(det);
    uint64_t affected = 0;
    /* the row stays (runs and evidence refer to it); its private recipients
     * are erased */
    if (!rc)
        rc = db_exec(db,
                     "UPDATE schedules SET status = 'disabled', deleted_at = ?, next_run_at = NULL, "
                     "recipients_private = '[]', groups_private = '[]', evidence_ref = ?, updated_at = ? WHERE "
                     "tenant_id = ? AND id = ? AND deleted_at IS NULL",
                     DB_ARGS(DBS(nows), DBS(ev), DBS(nows), DBI(a->tenant_id), DBI(s.id)), &affected, NULL);
    if (!rc && affected == 0) rc = AISPM_ENOTFOUND;
    sched_free(&s);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

/* ------------------------------------------------------------------------ */
/* the scheduler                                                             */

typedef struct {
    long long id, tenant_id, schedule_id;
    char ref[REF_MAX], state[20];
    int64_t occurrence_at;
    int attempts;
} run_t;

/* the system actor of a tenant (catalog enablement and licence as now) */
static int system_actor(db_t *db, long long tenant_id, actor_t *sys) {
    memset(sys, 0, sizeof *sys);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT ref, reports_disabled, (status = 'active' AND licence_revoked_at IS NULL AND "
                      "(licence_expires_at IS NULL OR licence_expires_at > UTC_TIMESTAMP(6))) FROM tenants WHERE id = ?",
                      DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    bool found = db_res_next(res);
    if (found) {
        sys->kind = ACTOR_SYSTEM;
        sys->tenant_id = tenant_id;
        snprintf(sys->tenant_ref, sizeof sys->tenant_ref, "%s", db_res_str(res, 0));
        snprintf(sys->reports_disabled, sizeof sys->reports_disabled, "%s", db_res_str(res, 1));
        sys->licence_ok = db_res_int(res, 2) != 0;
        snprintf(sys->user_ref, sizeof sys->user_ref, "system:scheduler");
    }
    db_res_free(res);
    return found ? 0 : AISPM_ENOTFOUND;
}

static json_object *run_details(const sched_t *s, const char *run_ref, int64_t occ) {
    json_object *d = json_object_new_object();
    put_str(d, "schedule_ref", s->ref);
    put_str(d, "run_ref", run_ref);
    put_ts(d, "occurrence_at", occ);
    put_local(d, "occurrence_local", s->tz, occ);
    return d;
}

static int run_evidence(db_t *db, const actor_t *sys, const char *action, const char *run_ref, const char *outcome,
                        json_object *details, long long run_id) {
    char ev[EVIDENCE_REF_MAX];
    int rc = auth_evidence(db, sys, action, run_ref, outcome, NULL, details, ev);
    if (!rc)
        rc = db_exec(db, "UPDATE schedule_runs SET evidence_ref = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(ev), DBI(run_id), DBI(sys->tenant_id)), NULL, NULL);
    return rc;
}

/* report period of an occurrence: the cadence's span up to the occurrence */
static int64_t lookback_ms(const sched_t *s) {
    const char *c = contract_cadence(s);
    int days = !strcmp(c, "daily") ? 1 : !strcmp(c, "weekly") ? 7 : !strcmp(c, "quarterly") ? 91 : 30;
    return days * DAY_MS;
}

/* queues the run's renders (inside the caller's transaction); *why receives
 * a failure reason when the run cannot render (report disabled, licence) */
static int start_renders(db_t *db, const actor_t *sys, const sched_t *s, long long run_id, const char *run_ulid,
                         int64_t occ, const char **why, int *queued) {
    *why = NULL;
    *queued = 0;
    if (!sys->licence_ok) {
        *why = "licence_inactive";
        return 0;
    }
    int64_t end = occ, start = occ - lookback_ms(s);
    int k = 0;
    for (size_t i = 0; i < json_object_array_length(s->report_ids); i++) {
        const char *id = json_object_get_string(json_object_array_get_idx(s->report_ids, i));
        const catalog_report_t *rep = catalog_find(id);
        if (!rep || !catalog_enabled(sys, id)) {
            *why = "report_disabled";
            return 0;
        }
        for (size_t f = 0; f < json_object_array_length(s->formats); f++) {
            const char *fmt = json_object_get_string(json_object_array_get_idx(s->formats, f));
            bool offered = false;
            for (int m = 0; m < CATALOG_MAX_FORMATS && rep->formats[m]; m++) offered |= !strcmp(rep->formats[m], fmt);
            if (!offered || !renderer_supported(id, fmt)) continue;
            char idem[80], rref[REF_MAX];
            long long rid = 0;
            snprintf(idem, sizeof idem, "schedule-run:%s:%d", run_ulid, k++);
            int rc = renderer_enqueue(db, sys, id, fmt, start, end, idem, NULL, &rid, rref);
            if (!rc)
                rc = db_exec(db, "INSERT INTO schedule_run_renders (run_id, tenant_id, render_id) VALUES (?, ?, ?)",
                             DB_ARGS(DBI(run_id), DBI(sys->tenant_id), DBI(rid)), NULL, NULL);
            if (rc) return rc;
            (*queued)++;
        }
    }
    if (*queued == 0) *why = "no_renderable_format";
    return 0;
}

/* records a run that cannot render as failed (inside the transaction) */
static int fail_in_tx(db_t *db, const actor_t *sys, const sched_t *s, const run_t *run, const char *why,
                      const char *failure_class) {
    char nows[RFC3339_MAX];
    sql_datetime_format(now_ms(), nows);
    int rc = db_exec(db, "UPDATE schedule_runs SET state = 'failed', reason = ?, updated_at = ? WHERE id = ? AND "
                         "tenant_id = ?",
                     DB_ARGS(DBS(why), DBS(nows), DBI(run->id), DBI(run->tenant_id)), NULL, NULL);
    if (rc) return rc;
    json_object *d = run_details(s, run->ref, run->occurrence_at);
    put_str(d, "error_code", why);
    put_str(d, "failure_class", failure_class);
    json_object_object_add(d, "dead_lettered", json_object_get(get(s->retry, "dead_letter_required")));
    rc = run_evidence(db, sys, "schedule.run_failed", run->ref, "failure", d, run->id);
    json_object_put(d);
    return rc;
}

/* claims one occurrence; 1 claimed, 0 lost the race, <0 error */
static int claim_occurrence(db_t *db, const sched_t *s, int64_t occ, bool missed_skip, scheduler_stats_t *st) {
    actor_t sys;
    int rc = system_actor(db, s->tenant_id, &sys);
    if (rc) return rc;
    run_t run = {.tenant_id = s->tenant_id, .schedule_id = s->id, .occurrence_at = occ};
    char ulid[ULID_LEN + 1], nows[RFC3339_MAX], occs[RFC3339_MAX], dues[RFC3339_MAX];
    ref_new("report-run", run.ref);
    ref_parse(run.ref, "report-run", NULL, ulid);
    sql_datetime_format(now_ms(), nows);
    sql_datetime_format(occ, occs);
    window_hit_t hit;
    bool in_window = !missed_skip && blackout_at(s, occ, &hit);
    const char *state = "rendering", *reason = NULL, *window = NULL;
    bool has_due = false;
    if (missed_skip) {
        state = "skipped";
        reason = "missed";
    } else if (in_window) {
        window = hit.window_ref;
        reason = "blackout";
        if (!strcmp(hit.behavior, "skip")) state = "skipped";
        else if (!strcmp(hit.behavior, "defer")) state = "deferred", has_due = true;
        else state = "pending_approval";
        sql_datetime_format(hit.ends_at, dues);
    }
    rc = db_begin(db);
    if (rc) return rc;
    uint64_t id = 0;
    rc = db_exec(db,
                 "INSERT INTO schedule_runs (ref, tenant_id, schedule_id, occurrence_at, state, reason, window_ref, "
                 "due_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 DB_ARGS(DBS(run.ref), DBI(s->tenant_id), DBI(s->id), DBS(occs), DBS(state), DBS(reason),
                         DBS(window), has_due ? DBS(dues) : DBNULL, DBS(nows), DBS(nows)),
                 NULL, &id);
    if (rc == AISPM_ECONFLICT) { /* another process claimed this occurrence */
        db_rollback(db);
        if (st) st->lost++;
        return 0;
    }
    run.id = (long long)id;
    json_object *d = run_details(s, run.ref, occ);
    if (!rc && !strcmp(state, "rendering")) {
        const char *why;
        int queued = 0;
        rc = start_renders(db, &sys, s, run.id, ulid, occ, &why, &queued);
        if (!rc && why) {
            rc = fail_in_tx(db, &sys, s, &run, why, "render_error");
            state = "failed";
        } else if (!rc) {
            json_object_object_add(d, "renders", json_object_new_int(queued));
            json_object_object_add(d, "report_ids", json_object_get(s->report_ids));
            rc = run_evidence(db, &sys, "schedule.run_scheduled", run.ref, "success", d, run.id);
        }
    } else if (!rc) {
        put_str(d, "reason", reason);
        if (window) put_str(d, "window_ref", window);
        if (has_due) put_ts(d, "deferred_until", hit.ends_at);
        const char *action = !strcmp(state, "skipped")  ? "schedule.run_skipped"
                             : !strcmp(state, "deferred") ? "schedule.run_deferred"
                                                          : "schedule.run_blocked";
        const char *outcome = !strcmp(state, "skipped") ? "skipped" : !strcmp(state, "deferred") ? "deferred" : "blocked";
        if (!strcmp(state, "pending_approval")) {
            /* held for a manual approval: released or dropped by
             * on_schedule_approval inside the decision's transaction */
            put_str(d, "requires", "manual_approval");
            json_object *subj = json_object_new_object();
            json_object_object_add(subj, "report_ids", json_object_get(s->report_ids));
            json_object_object_add(subj, "formats", json_object_get(s->formats));
            put_str(subj, "delivery_mode", s->mode);
            put_str(subj, "recipient_scope", s->scope);
            const char *grp = jstr(s->approval, "approver_group");
            approval_request_t req = {.type = APPROVAL_SCHEDULE_CHANGE,
                                      .subject_kind = "report-run",
                                      .subject_ref = run.ref,
                                      .approver_role = rbac_role_valid(grp) ? grp : NULL,
                                      .risk_level = "medium",
                                      .reason_code = "blackout_manual_approval",
                                      .public_subject = subj,
                                      .schedule_ref = s->ref};
            char aref[REF_MAX];
            rc = approvals_request(db, s->tenant_id, s->tenant_ref, s->ref, 0, &req, NULL, aref);
            json_object_put(subj);
            if (!rc) put_str(d, "approval_ref", aref);
        }
        if (!rc) rc = run_evidence(db, &sys, action, run.ref, outcome, d, run.id);
    }
    json_object_put(d);
    if (rc) {
        db_rollback(db);
        return rc == AISPM_ECONFLICT ? 0 : rc;
    }
    rc = db_commit(db);
    if (rc) return rc;
    if (st) {
        st->claimed++;
        if (!strcmp(state, "skipped")) st->skipped++;
        else if (!strcmp(state, "deferred")) st->deferred++;
        else if (!strcmp(state, "pending_approval")) st->blocked++;
        else if (!strcmp(state, "failed")) st->failed++;
        else st->rendering++;
    }
    return 1;
}

/* claims the schedule's due occurrences and moves its cursor */
static int advance_schedule(db_t *db, long long tenant_id, long long id, int64_t now, scheduler_stats_t *st) {
    sched_t s;
    int rc = sched_load(db, tenant_id, NULL, id, &s);
    if (rc) return rc == AISPM_ENOTFOUND ? 0 : rc;
    rrule_t r;
    civil_t c;
    if (!s.has_next || strcmp(s.status, "active") || rrule_parse(s.rrule, &r, NULL, 0) || !parse_local(s.dtstart, &c)) {
        sched_free(&s);
        return 0;
    }
    int64_t occ[MAX_OCC_PER_TICK + 1];
    int n = 0;
    rc = rrule_expand(&r, s.tz, &c, s.next_run_at - 1, MAX_OCC_PER_TICK + 1, occ, &n);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    int due = 0;
    while (due < n && due < MAX_OCC_PER_TICK && occ[due] <= now) due++;
    for (int i = 0; i < due; i++) {
        bool missed = occ[i] < now - SCHEDULER_GRACE_MS;
        bool newest = i == due - 1;
        bool skip = missed && (!strcmp(s.missed, "none") || (!strcmp(s.missed, "latest") && !newest));
        rc = claim_occurrence(db, &s, occ[i], skip, st);
        if (rc < 0) break;
    }
    if (rc >= 0) {
        /* compare-and-set: only moves forward from what this pass read */
        char nexts[RFC3339_MAX], olds[RFC3339_MAX];
        sql_datetime_format(s.next_run_at, olds);
        bool has = due < n;
        if (has) sql_datetime_format(occ[due], nexts);
        rc = db_exec(db, "UPDATE schedules SET next_run_at = ? WHERE tenant_id = ? AND id = ? AND next_run_at = ?",
                     DB_ARGS(has ? DBS(nexts) : DBNULL, DBI(tenant_id), DBI(id), DBS(olds)), NULL, NULL);
    }
    sched_free(&s);
    return rc < 0 ? rc : 0;
}

static int load_run(db_t *db, long long run_id, run_t *run) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT id, tenant_id, schedule_id, ref, state, occurrence_at, attempts FROM schedule_runs "
                      "WHERE id = ?",
                      DB_ARGS(DBI(run_id)), &res);
    if (rc) return rc;
    bool found = db_res_next(res);
    if (found) {
        run->id = db_res_int(res, 0);
        run->tenant_id = db_res_int(res, 1);
        run->schedule_id = db_res_int(res, 2);
        snprintf(run->ref, sizeof run->ref, "%s", db_res_str(res, 3));
        snprintf(run->state, sizeof run->state, "%s", db_res_str(res, 4));
        run->occurrence_at = sql_ms(db_res_str(res, 5));
        run->attempts = (int)db_res_int(res, 6);
    }
    db_res_free(res);
    return found ? 0 : AISPM_ENOTFOUND;
}

/* loads a schedule by id even when deleted (its runs still finish) */
static int sched_load_any(db_t *db, long long tenant_id, long long id, sched_t *s) {
    db_res_t *res;
    int rc = db_query(db, SCHED_SELECT "WHERE s.tenant_id = ? AND s.id = ?", DB_ARGS(DBI(tenant_id), DBI(id)), &res);
    if (rc) return rc;
    bool found = db_res_next(res);
    if (found) sched_row(res, s);
    db_res_free(res);
    return found ? 0 : AISPM_ENOTFOUND;
}

/* compare-and-set of a run's state; 1 when this process moved it */
static int run_cas(db_t *db, const run_t *run, const char *from, const char *to, int64_t lock_until, bool count_attempt) {
    char nows[RFC3339_MAX], lock[RFC3339_MAX];
    int64_t now = now_ms();
    sql_datetime_format(now, nows);
    sql_datetime_format(lock_until, lock);
    uint64_t n = 0;
    int rc = db_exec(db,
                     "UPDATE schedule_runs SET state = ?, locked_until = ?, attempts = attempts + ?, updated_at = ? "
                     "WHERE id = ? AND tenant_id = ? AND state = ? AND attempts = ?",
                     DB_ARGS(DBS(to), lock_until ? DBS(lock) : DBNULL, DBI(count_attempt ? 1 : 0), DBS(nows),
                             DBI(run->id), DBI(run->tenant_id), DBS(from), DBI(run->attempts)),
                     &n, NULL);
    return rc ? rc : (int)n;
}

static int run_follow_send(db_t *db, long long tenant_id, const char *run_ref, approval_outcome_t outcome);

/* what the delivery step did with a run */
typedef enum { DELIVER_OK = 0, DELIVER_HELD, DELIVER_TRANSIENT, DELIVER_FAILED } deliver_result_t;

typedef struct {
    deliver_result_t result;
    const char *code;          /* error / hold code (static text) */
    const char *failure_class; /* operations dashboard class when failed */
    json_object *sends;        /* [{send_ref, artifact_ref, result, approval_ref?}] */
} deliver_outcome_t;

/* a JSON array column as a vector of borrowed strings (at most max) */
static int str_vec(json_object *arr, const char **v, int max) {
    int n = 0;
    for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr) && n < max;
         i++)
        v[n++] = json_object_get_string(json_object_array_get_idx(arr, i));
    return n;
}

/*
 * Deliver this occurrence's artifacts: the one place a scheduled run leaves
 * the Report Center, and the only reader of the private recipients.
 * `download` (portal) delivery is complete once the artifacts exist: they are
 * listed in the tenant's portal and API. Every other mode goes through the
 * governed send path, delivery_submit() (recipient policy, approvals,
 * providers, retries and dead letter are its business), once per artifact
 * with the idempotency key <run ref>:<n>, so a repeat after a crash or a
 * retry finds the same send instead of sending twice. A blocked send fails
 * the run (recipient_policy); a send held for an approval holds the run.
 */
static void scheduler_deliver_occurrence(db_t *db, const sched_t *s, const run_t *run, json_object *artifacts,
                                         deliver_outcome_t *out) {
    memset(out, 0, sizeof *out);
    out->sends = json_object_new_array();
    if (!strcmp(s->mode, "download")) return;
    db_res_t *res;
    int rc = db_query(db, "SELECT recipients_private, groups_private FROM schedules WHERE tenant_id = ? AND id = ?",
                      DB_ARGS(DBI(s->tenant_id), DBI(s->id)), &res);
    if (rc) {
        out->result = DELIVER_TRANSIENT, out->code = "database_unavailable";
        return;
    }
    json_object *rj = NULL, *gj = NULL;
    if (db_res_next(res)) {
        rj = json_tokener_parse(db_res_str(res, 0));
        gj = json_tokener_parse(db_res_str(res, 1));
    }
    db_res_free(res);
    const char *rcpt[MAX_RECIPIENTS], *grp[MAX_GROUPS], *chs[8];
    int nr = str_vec(rj, rcpt, MAX_RECIPIENTS), ng = str_vec(gj, grp, MAX_GROUPS), nc = str_vec(s->channels, chs, 8);
    bool held = false;
    for (size_t i = 0; i < json_object_array_length(artifacts) && out->result != DELIVER_FAILED; i++) {
        json_object *art = json_object_array_get_idx(artifacts, i);
        char key[80];
        snprintf(key, sizeof key, "%s:%zu", run->ref, i);
        delivery_request_t req = {
            .tenant_id = s->tenant_id,
            .tenant_ref = s->tenant_ref,
            .origin = DELIVERY_ORIGIN_SCHEDULE,
            .schedule_ref = s->ref,
            .occurrence_ref = run->ref,
            .artifact_ref = jstr(art, "artifact_ref"),
            .recipients = rcpt,
            .nrecipients = nr,
            .groups = grp,
            .ngroups = ng,
            .channels = chs,
            .nchannels = nc,
            .idempotency_key = key,
        };
        delivery_outcome_t o;
        rc = delivery_submit(db, &req, &o);
        if (rc) {
            out->result = DELIVER_TRANSIENT, out->code = "delivery_submit_failed";
            break;
        }
        json_object *e = json_object_new_object(), *dl = json_object_new_array(), *ds = get(o.body, "deliveries");
        put_str(e, "artifact_ref", jstr(art, "artifact_ref"));
        if (o.send_ref[0]) put_str(e, "send_ref", o.send_ref);
        for (size_t k = 0; ds && json_object_is_type(ds, json_type_array) && k < json_object_array_length(ds); k++)
            json_object_array_add(dl, json_object_new_string(jstr(json_object_array_get_idx(ds, k), "delivery_ref")));
        json_object_object_add(e, "delivery_refs", dl);
        if (o.status == 403 && o.result == DELIVERY_RESULT_BLOCKED) {
            out->result = DELIVER_FAILED, out->code = "recipient_policy_blocked", out->failure_class = "recipient_policy";
            put_str(e, "result", "blocked");
        } else if (o.status >= 400) {
            out->result = DELIVER_FAILED, out->code = o.code ? o.code : "send_refused";
            out->failure_class = "unknown";
            put_str(e, "result", "refused");
            put_str(e, "code", out->code);
        } else {
            put_str(e, "result", delivery_result_name(o.result));
            if (o.result == DELIVERY_RESULT_HELD) {
                held = true;
                put_str(e, "approval_ref", o.approval_ref);
            }
        }
        json_object_array_add(out->sends, e);
        delivery_outcome_free(&o);
    }
    if (out->result == DELIVER_OK && held) out->result = DELIVER_HELD, out->code = "send_held_for_approval";
    if (rj) json_object_put(rj);
    if (gj) json_object_put(gj);
}

static int64_t backoff_ms(const sched_t *s, int attempt) {
    const char *b = jstr(s->retry, "backoff");
    if (!strcmp(b, "none")) return 0;
    if (!strcmp(b, "linear")) return attempt * 60000LL;
    return (60000LL << (attempt < 10 ? attempt - 1 : 9));
}

/* a run whose renders succeeded, taken (state delivering) by this process */
static int deliver_run(db_t *db, run_t *run, scheduler_stats_t *st, int64_t now) {
    sched_t s;
    actor_t sys;
    int rc = sched_load_any(db, run->tenant_id, run->schedule_id, &s);
    if (rc) return rc;
    rc = system_actor(db, run->tenant_id, &sys);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    db_res_t *res;
    rc = db_query(db,
                  "SELECT a.ref, a.digest, a.report_id, a.format FROM schedule_run_renders j JOIN render_requests q ON "
                  "q.id = j.render_id AND q.tenant_id = j.tenant_id JOIN artifacts a ON a.id = q.artifact_id AND "
                  "a.tenant_id = q.tenant_id WHERE j.run_id = ? AND j.tenant_id = ? ORDER BY q.id",
                  DB_ARGS(DBI(run->id), DBI(run->tenant_id)), &res);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    json_object *arts = json_object_new_array();
    while (db_res_next(res)) {
        json_object *x = json_object_new_object();
        put_str(x, "artifact_ref", db_res_str(res, 0));
        put_str(x, "digest", db_res_str(res, 1));
        put_str(x, "report_id", db_res_str(res, 2));
        put_str(x, "format", db_res_str(res, 3));
        json_object_array_add(arts, x);
    }
    db_res_free(res);
    deliver_outcome_t dv;
    scheduler_deliver_occurrence(db, &s, run, arts, &dv);
    const char *code = dv.code;
    int max_attempts = (int)json_object_get_int64(get(s.retry, "max_attempts"));
    int64_t window = json_object_get_int64(get(s.retry, "retry_window_minutes")) * 60000;
    char nows[RFC3339_MAX], dues[RFC3339_MAX];
    sql_datetime_format(now_ms(), nows);
    rc = db_begin(db);
    if (!rc) {
        json_object *d = run_details(&s, run->ref, run->occurrence_at);
        json_object_object_add(d, "attempt", json_object_new_int(run->attempts));
        put_str(d, "delivery_mode", s.mode);
        json_object_object_add(d, "channels", json_object_get(s.channels));
        put_str(d, "target_ref", s.target_ref);
        json_object_object_add(d, "recipient_count", json_object_new_int(s.recipients_n));
        json_object_object_add(d, "group_count", json_object_new_int(s.groups_n));
        const char *to, *action, *outcome;
        int64_t next = now + backoff_ms(&s, run->attempts);
        if (dv.result == DELIVER_OK) {
            to = "delivered", action = "schedule.run_delivered", outcome = "success";
            json_object_object_add(d, "artifacts", json_object_get(arts));
            json_object_object_add(d, "sends", json_object_get(dv.sends));
        } else if (dv.result == DELIVER_HELD) {
            to = "pending_approval", action = "schedule.run_blocked", outcome = "held";
            json_object_object_add(d, "artifacts", json_object_get(arts));
            json_object_object_add(d, "sends", json_object_get(dv.sends));
            put_str(d, "reason", code);
        } else if (dv.result == DELIVER_TRANSIENT && run->attempts < max_attempts &&
                   next - run->occurrence_at <= window) {
            to = "retry_wait", action = "schedule.run_retried", outcome = "retry";
            put_str(d, "error_code", code);
            put_ts(d, "next_attempt_at", next);
        } else {
            to = "failed", action = "schedule.run_failed", outcome = "failure";
            put_str(d, "error_code", code);
            put_str(d, "failure_class", dv.failure_class ? dv.failure_class : "unknown");
            json_object_object_add(d, "sends", json_object_get(dv.sends));
            json_object_object_add(d, "dead_lettered", json_object_get(get(s.retry, "dead_letter_required")));
        }
        sql_datetime_format(next, dues);
        uint64_t n = 0;
        rc = db_exec(db,
                     "UPDATE schedule_runs SET state = ?, reason = ?, due_at = ?, locked_until = NULL, updated_at = ? "
                     "WHERE id = ? AND tenant_id = ? AND state = 'delivering' AND attempts = ?",
                     DB_ARGS(DBS(to), DBS(code), !strcmp(to, "retry_wait") ? DBS(dues) : DBNULL, DBS(nows),
                             DBI(run->id), DBI(run->tenant_id), DBI(run->attempts)),
                     &n, NULL);
        if (!rc && n == 0) rc = AISPM_ECONFLICT; /* our lock expired and another process took over */
        if (!rc) rc = run_evidence(db, &sys, action, run->ref, outcome, d, run->id);
        json_object_put(d);
        if (rc) db_rollback(db);
        else rc = db_commit(db);
        /* the send's approval may have been decided before the run was
         * marked held: then nothing else would move it */
        if (!rc && !strcmp(to, "pending_approval") && !db_begin(db)) {
            if (run_follow_send(db, run->tenant_id, run->ref, 0)) db_rollback(db);
            else if (db_commit(db)) db_rollback(db);
        }
        if (!rc && st) {
            if (!strcmp(to, "delivered")) st->delivered++;
            else if (!strcmp(to, "retry_wait")) st->retried++;
            else if (!strcmp(to, "pending_approval")) st->blocked++;
            else st->failed++;
        }
    }
    json_object_put(dv.sends);
    json_object_put(arts);
    sched_free(&s);
    return rc == AISPM_ECONFLICT ? 0 : rc;
}

/* a rendering run: fails when a render failed, delivers when all succeeded */
static int check_rendering(db_t *db, long long run_id, scheduler_stats_t *st, int64_t now) {
    run_t run;
    int rc = load_run(db, run_id, &run);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT COUNT(*), COALESCE(SUM(q.state = 'succeeded'), 0), COALESCE(SUM(q.state = 'failed'), 0) "
                  "FROM schedule_run_renders j JOIN render_requests q ON q.id = j.render_id AND q.tenant_id = "
                  "j.tenant_id WHERE j.run_id = ? AND j.tenant_id = ?",
                  DB_ARGS(DBI(run.id), DBI(run.tenant_id)), &res);
    if (rc) return rc;
    long long total = 0, ok = 0, failed = 0;
    if (db_res_next(res)) total = db_res_int(res, 0), ok = db_res_int(res, 1), failed = db_res_int(res, 2);
    db_res_free(res);
    if (failed > 0) {
        sched_t s;
        actor_t sys;
        rc = sched_load_any(db, run.tenant_id, run.schedule_id, &s);
        if (rc) return rc;
        rc = system_actor(db, run.tenant_id, &sys);
        if (!rc) rc = db_begin(db);
        if (!rc) {
            int moved = run_cas(db, &run, "rendering", "failed", 0, false);
            if (moved == 1) rc = fail_in_tx(db, &sys, &s, &run, "render_failed", "render_error");
            else rc = moved < 0 ? moved : 0;
            if (rc || moved != 1) db_rollback(db);
            else rc = db_commit(db);
            if (!rc && moved == 1 && st) st->failed++;
        }
        sched_free(&s);
        return rc;
    }
    if (total == 0 || ok < total) return 0;
    int moved = run_cas(db, &run, "rendering", "delivering", now_ms() + DELIVER_LOCK_MS, true);
    if (moved != 1) return moved < 0 ? moved : 0;
    run.attempts++;
    snprintf(run.state, sizeof run.state, "delivering");
    return deliver_run(db, &run, st, now);
}

/* a deferred run whose window ended: render now */
static int resume_deferred(db_t *db, long long run_id, scheduler_stats_t *st) {
    run_t run;
    int rc = load_run(db, run_id, &run);
    if (rc) return rc;
    sched_t s;
    actor_t sys;
    rc = sched_load_any(db, run.tenant_id, run.schedule_id, &s);
    if (rc) return rc;
    rc = system_actor(db, run.tenant_id, &sys);
    if (!rc) rc = db_begin(db);
    if (rc) {
        sched_free(&s);
        return rc;
    }
    /* a schedule paused or deleted meanwhile does not run its deferred runs */
    bool live = !strcmp(s.status, "active");
    int moved = run_cas(db, &run, "deferred", live ? "rendering" : "skipped", 0, false);
    if (moved != 1) {
        db_rollback(db);
        sched_free(&s);
        return moved < 0 ? moved : 0;
    }
    if (!live) {
        const char *why = !strcmp(s.status, "paused") ? "schedule_paused" : "schedule_inactive";
        rc = db_exec(db, "UPDATE schedule_runs SET reason = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(why), DBI(run.id), DBI(run.tenant_id)), NULL, NULL);
        json_object *d = run_details(&s, run.ref, run.occurrence_at);
        put_str(d, "reason", why);
        put_str(d, "resumed_from", "deferred");
        if (!rc) rc = run_evidence(db, &sys, "schedule.run_skipped", run.ref, "skipped", d, run.id);
        json_object_put(d);
        if (rc) db_rollback(db);
        else rc = db_commit(db);
        if (!rc && st) st->skipped++;
        sched_free(&s);
        return rc;
    }
    char ulid[ULID_LEN + 1];
    ref_parse(run.ref, "report-run", NULL, ulid);
    const char *why;
    int queued = 0;
    rc = start_renders(db, &sys, &s, run.id, ulid, run.occurrence_at, &why, &queued);
    if (!rc && why) rc = fail_in_tx(db, &sys, &s, &run, why, "render_error");
    else if (!rc) {
        json_object *d = run_details(&s, run.ref, run.occurrence_at);
        json_object_object_add(d, "renders", json_object_new_int(queued));
        put_str(d, "resumed_from", "deferred");
        rc = run_evidence(db, &sys, "schedule.run_scheduled", run.ref, "success", d, run.id);
        json_object_put(d);
    }
    if (rc) db_rollback(db);
    else rc = db_commit(db);
    if (!rc && st) {
        if (why) st->failed++;
        else st->rendering++;
    }
    sched_free(&s);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* approvals of schedule changes and of runs held by a blackout window       */

static int schedule_decided(db_t *db, const approval_t *req, approval_outcome_t outcome, const char *request_id) {
    sched_t s;
    int rc = sched_load(db, req->tenant_id, req->subject_ref, 0, &s);
    if (rc) return rc == AISPM_ENOTFOUND ? 0 : rc; /* deleted meanwhile */
    json_object *v = get(req->payload, "version");
    if (strcmp(s.status, "requires_approval") || strcmp(s.approval_ref, req->ref) ||
        (v && json_object_get_int(v) != s.version)) { /* a newer change has its own approval */
        sched_free(&s);
        return 0;
    }
    bool ok = outcome == APPROVAL_APPROVED;
    int64_t next = 0;
    bool has_next = false;
    if (ok) rc = first_at_or_after(s.rrule, s.tz, s.dtstart, now_ms(), &next, &has_next);
    char nows[RFC3339_MAX], nexts[RFC3339_MAX], ev[EVIDENCE_REF_MAX];
    sql_datetime_format(now_ms(), nows);
    sql_datetime_format(next, nexts);
    json_object *d = change_details(&s, ok ? "active" : "disabled");
    put_str(d, "approval_ref", req->ref);
    put_str(d, "outcome", outcome == APPROVAL_APPROVED ? "approved" : outcome == APPROVAL_REJECTED ? "rejected" : "expired");
    evidence_event_t e = {.tenant_id = s.tenant_id,
                          .tenant_ref = s.tenant_ref,
                          .actor_ref = req->decided_by_ref ? req->decided_by_ref : "system",
                          .action = ok ? "schedule.activated" : "schedule.change_rejected",
                          .object_ref = s.ref,
                          .outcome = ok ? "success" : "rejected",
                          .request_id = request_id,
                          .details = d};
    if (!rc) rc = evidence_append(db, &e, ev);
    json_object_put(d);
    if (!rc)
        rc = db_exec(db,
                     "UPDATE schedules SET status = ?, next_run_at = ?, evidence_ref = ?, updated_at = ? WHERE "
                     "tenant_id = ? AND id = ? AND status = 'requires_approval' AND approval_ref = ?",
                     DB_ARGS(DBS(ok ? "active" : "disabled"), ok && has_next ? DBS(nexts) : DBNULL, DBS(ev), DBS(nows),
                             DBI(s.tenant_id), DBI(s.id), DBS(req->ref)),
                     NULL, NULL);
    sched_free(&s);
    return rc;
}

static int run_decided(db_t *db, const approval_t *req, approval_outcome_t outcome) {
    db_res_t *res;
    int rc = db_query(db, "SELECT id FROM schedule_runs WHERE tenant_id = ? AND ref = ?",
                      DB_ARGS(DBI(req->tenant_id), DBS(req->subject_ref)), &res);
    if (rc) return rc;
    long long id = db_res_next(res) ? db_res_int(res, 0) : 0;
    db_res_free(res);
    run_t run;
    if (!id || (rc = load_run(db, id, &run)) != 0) return rc;
    if (strcmp(run.state, "pending_approval")) return 0;
    sched_t s;
    actor_t sys;
    rc = sched_load_any(db, run.tenant_id, run.schedule_id, &s);
    if (rc) return rc;
    rc = system_actor(db, run.tenant_id, &sys);
    bool go = outcome == APPROVAL_APPROVED && !strcmp(s.status, "active");
    int moved = rc ? rc : run_cas(db, &run, "pending_approval", go ? "rendering" : "skipped", 0, false);
    if (moved != 1) {
        sched_free(&s);
        return moved < 0 ? moved : 0;
    }
    json_object *d = run_details(&s, run.ref, run.occurrence_at);
    put_str(d, "approval_ref", req->ref);
    if (go) {
        char ulid[ULID_LEN + 1];
        const char *why;
        int queued = 0;
        ref_parse(run.ref, "report-run", NULL, ulid);
        rc = start_renders(db, &sys, &s, run.id, ulid, run.occurrence_at, &why, &queued);
        if (!rc && why) rc = fail_in_tx(db, &sys, &s, &run, why, "render_error");
        else if (!rc) {
            json_object_object_add(d, "renders", json_object_new_int(queued));
            put_str(d, "resumed_from", "manual_approval");
            rc = run_evidence(db, &sys, "schedule.run_scheduled", run.ref, "success", d, run.id);
        }
    } else {
        const char *why = outcome == APPROVAL_APPROVED   ? "schedule_inactive"
                          : outcome == APPROVAL_REJECTED ? "approval_rejected"
                                                         : "approval_expired";
        rc = db_exec(db, "UPDATE schedule_runs SET reason = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(why), DBI(run.id), DBI(run.tenant_id)), NULL, NULL);
        put_str(d, "reason", why);
        if (!rc) rc = run_evidence(db, &sys, "schedule.run_skipped", run.ref, "skipped", d, run.id);
    }
    json_object_put(d);
    sched_free(&s);
    return rc;
}

/* a run held because its send waited for an approval (reason
 * send_held_for_approval) follows its sends once none is held any more:
 * every held send released -> delivered (schedule.run_delivered, as when the
 * send was queued at once); every one dropped -> skipped (reason
 * approval_rejected | approval_expired, schedule.run_skipped); some released
 * and some dropped -> failed (approval_partially_denied, schedule.run_failed).
 * outcome 0: the decision already committed (the approval was decided while
 * the run was still being delivered); the drop reason then comes from the
 * approval rows. Inside the caller's transaction. */
static int run_follow_send(db_t *db, long long tenant_id, const char *run_ref, approval_outcome_t outcome) {
    db_res_t *res;
    int rc = db_query(db, "SELECT id FROM schedule_runs WHERE tenant_id = ? AND ref = ? FOR UPDATE",
                      DB_ARGS(DBI(tenant_id), DBS(run_ref)), &res);
    if (rc) return rc;
    long long id = db_res_next(res) ? db_res_int(res, 0) : 0;
    db_res_free(res);
    run_t run;
    if (!id || (rc = load_run(db, id, &run)) != 0) return rc == AISPM_ENOTFOUND ? 0 : rc;
    if (strcmp(run.state, "pending_approval")) return 0;
    rc = db_query(db,
                  "SELECT COALESCE(SUM(d.status = 'held'), 0), COALESCE(SUM(d.status = 'dropped'), 0), COUNT(*), "
                  "COALESCE(SUM(ap.state = 'expired'), 0) FROM deliveries d LEFT JOIN approval_requests ap ON ap.id = "
                  "d.approval_id AND ap.tenant_id = d.tenant_id WHERE d.tenant_id = ? AND d.origin = 'schedule' AND "
                  "d.origin_ref = ?",
                  DB_ARGS(DBI(tenant_id), DBS(run_ref)), &res);
    if (rc) return rc;
    long long held = 0, dropped = 0, total = 0, expired = 0;
    if (db_res_next(res)) {
        held = db_res_int(res, 0), dropped = db_res_int(res, 1), total = db_res_int(res, 2);
        expired = db_res_int(res, 3);
    }
    db_res_free(res);
    if (held || !total) return 0; /* another send of the run still waits */
    const char *to, *action, *ev_outcome, *why = NULL;
    if (!dropped) to = "delivered", action = "schedule.run_delivered", ev_outcome = "success";
    else if (dropped == total) {
        to = "skipped", action = "schedule.run_skipped", ev_outcome = "skipped";
        bool exp = outcome ? outcome == APPROVAL_EXPIRED : expired > 0;
        why = exp ? "approval_expired" : "approval_rejected";
    } else to = "failed", action = "schedule.run_failed", ev_outcome = "failure", why = "approval_partially_denied";
    sched_t sc;
    actor_t sys;
    if ((rc = sched_load_any(db, run.tenant_id, run.schedule_id, &sc))) return rc;
    rc = system_actor(db, run.tenant_id, &sys);
    int moved = rc ? rc : run_cas(db, &run, "pending_approval", to, 0, false);
    if (moved != 1) {
        sched_free(&sc);
        return moved < 0 ? moved : 0;
    }
    rc = db_exec(db, "UPDATE schedule_runs SET reason = ? WHERE id = ? AND tenant_id = ?",
                 DB_ARGS(why ? DBS(why) : DBNULL, DBI(run.id), DBI(run.tenant_id)), NULL, NULL);
    json_object *d = run_details(&sc, run.ref, run.occurrence_at);
    put_str(d, "resumed_from", "send_approval");
    json_object_object_add(d, "sends_released", json_object_new_int64(total - dropped));
    json_object_object_add(d, "sends_dropped", json_object_new_int64(dropped));
    if (why) put_str(d, "reason", why);
    if (!rc) rc = run_evidence(db, &sys, action, run.ref, ev_outcome, d, run.id);
    json_object_put(d);
    sched_free(&sc);
    return rc;
}

static int on_held_send_decided(db_t *db, long long tenant_id, const char *origin_ref, approval_outcome_t outcome,
                                const char *request_id) {
    (void)request_id;
    return run_follow_send(db, tenant_id, origin_ref, outcome);
}

/* the approval handler of APPROVAL_SCHEDULE_CHANGE (runs inside the
 * decision's transaction: the schedule or run changes with the decision) */
static int on_schedule_approval(db_t *db, const approval_t *req, approval_outcome_t outcome, const char *request_id) {
    if (!strcmp(req->subject_kind, "schedule")) return schedule_decided(db, req, outcome, request_id);
    if (!strcmp(req->subject_kind, "report-run")) return run_decided(db, req, outcome);
    return 0;
}

void scheduler_init(void) {
    approvals_register_handler(APPROVAL_SCHEDULE_CHANGE, on_schedule_approval);
    delivery_on_held_decided(on_held_send_decided);
}

/* ids from a query of one id column */
static int ids(db_t *db, const char *sql, const dbv *args, int nargs, long long *out, long long *tenants, int max,
               int *n) {
    db_res_t *res;
    *n = 0;
    int rc = db_query(db, sql, args, nargs, &res);
    if (rc) return rc;
    while (*n < max && db_res_next(res)) {
        out[*n] = db_res_int(res, 0);
        if (tenants) tenants[*n] = db_res_int(res, 1);
        (*n)++;
    }
    db_res_free(res);
    return 0;
}

int scheduler_tick(db_t *db, int64_t now, scheduler_stats_t *stats) {
    scheduler_stats_t local = {0};
    scheduler_stats_t *st = stats ? stats : &local;
    char nows[RFC3339_MAX], reals[RFC3339_MAX];
    sql_datetime_format(now, nows);
    sql_datetime_format(now_ms(), reals);
    long long id[50], tn[50];
    int n = 0, rc;
    /* 1. due schedules */
    rc = ids(db,
             "SELECT id, tenant_id FROM schedules WHERE status = 'active' AND deleted_at IS NULL AND next_run_at IS "
             "NOT NULL AND next_run_at <= ? ORDER BY next_run_at LIMIT 50",
             DB_ARGS(DBS(nows)), id, tn, 50, &n);
    for (int i = 0; !rc && i < n; i++) rc = advance_schedule(db, tn[i], id[i], now, st);
    /* 2. deferred runs whose window has ended */
    if (!rc)
        rc = ids(db, "SELECT id, tenant_id FROM schedule_runs WHERE state = 'deferred' AND due_at <= ? LIMIT 50",
                 DB_ARGS(DBS(nows)), id, tn, 50, &n);
    for (int i = 0; !rc && i < n; i++) rc = resume_deferred(db, id[i], st);
    /* 3. rendering runs (render jobs finish on real time) */
    if (!rc)
        rc = ids(db, "SELECT id, tenant_id FROM schedule_runs WHERE state = 'rendering' ORDER BY id LIMIT 50", DB_NOARGS,
                 id, tn, 50, &n);
    for (int i = 0; !rc && i < n; i++) rc = check_rendering(db, id[i], st, now);
    /* 4. retries that are due, and deliveries whose process died */
    if (!rc)
        rc = ids(db,
                 "SELECT id, tenant_id FROM schedule_runs WHERE (state = 'retry_wait' AND due_at <= ?) OR (state = "
                 "'delivering' AND locked_until < ?) ORDER BY id LIMIT 50",
                 DB_ARGS(DBS(nows), DBS(reals)), id, tn, 50, &n);
    for (int i = 0; !rc && i < n; i++) {
        run_t run;
        rc = load_run(db, id[i], &run);
        if (rc) break;
        int moved = run_cas(db, &run, run.state, "delivering", now_ms() + DELIVER_LOCK_MS, true);
        if (moved < 0) rc = moved;
        if (moved != 1) continue;
        run.attempts++;
        rc = deliver_run(db, &run, st, now);
    }
    if (rc) log_msg(LOG_WARN, "scheduler", "scheduler pass stopped early (%d)", rc);
    return rc;
}
