/*
 * portal_schedules.c: portal pages of report schedules and the operations
 * dashboard. Thin: the form becomes the same JSON body the API takes and
 * goes through reports/scheduler (one validator); a refused form is shown
 * again with its values and the field errors. Recipients are write-only
 * here as everywhere: the edit form shows how many are stored and keeps
 * them when the field is left empty.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/timeutil.h"
#include "reports/catalog.h"
#include "reports/operations.h"
#include "reports/renderer.h"
#include "reports/scheduler.h"

#define WINDOW_ROWS 3
#define BIG_FIELD 16384

static const char *const formats[] = {"html", "markdown", "json", "csv", "jsonl", "xlsx", "docx", "pdf", "zip", NULL};
static const char *const cadences[] = {"daily", "weekly", "monthly", "quarterly", "custom", NULL};

static json_object *get(json_object *o, const char *k) {
    json_object *v = NULL;
    return (o && json_object_object_get_ex(o, k, &v)) ? v : NULL;
}

static const char *jstr(json_object *o, const char *k) {
    json_object *v = get(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static void put_str(json_object *o, const char *k, const char *v) { json_object_object_add(o, k, json_object_new_string(v)); }
static void put_bool(json_object *o, const char *k, bool v) { json_object_object_add(o, k, json_object_new_boolean(v)); }

static bool in_array(json_object *arr, const char *v) {
    for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr); i++)
        if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), v)) return true;
    return false;
}

static json_object *choices(const char *const *set, const char *selected) {
    json_object *a = json_object_new_array();
    for (int i = 0; set[i]; i++) {
        json_object *c = json_object_new_object();
        put_str(c, "value", set[i]);
        put_bool(c, "selected", !strcmp(set[i], selected));
        json_object_array_add(a, c);
    }
    return a;
}

/* the form's view model from values shaped like the API body / view */
static json_object *form_model(const req_t *r, json_object *v, json_object *errors, const char *action,
                               const char *ref, int recipient_count) {
    json_object *m = json_object_new_object();
    put_str(m, "action", action);
    put_bool(m, "editing", ref != NULL);
    if (ref) put_str(m, "schedule_ref", ref);
    put_str(m, "name", jstr(v, "name"));
    json_object *reps = json_object_new_array();
    json_object *cat = catalog_projection(&r->actor, false), *list = get(cat, "reports");
    for (size_t i = 0; list && i < json_object_array_length(list); i++) {
        json_object *e = json_object_array_get_idx(list, i), *x = json_object_new_object();
        const char *id = jstr(e, "report_id");
        json_object *fm = json_object_new_array();
        const catalog_report_t *rep = catalog_find(id);
        for (int k = 0; rep && k < CATALOG_MAX_FORMATS && rep->formats[k]; k++)
            if (renderer_supported(id, rep->formats[k])) json_object_array_add(fm, json_object_new_string(rep->formats[k]));
        if (!json_object_array_length(fm)) {
            json_object_put(fm);
            json_object_put(x);
            continue;
        }
        put_str(x, "report_id", id);
        put_str(x, "title", jstr(e, "title"));
        json_object_object_add(x, "formats", fm);
        put_bool(x, "checked", in_array(get(v, "report_ids"), id));
        json_object_array_add(reps, x);
    }
    json_object_put(cat);
    json_object_object_add(m, "reports", reps);
    json_object *fa = json_object_new_array();
    for (int i = 0; formats[i]; i++) {
        json_object *x = json_object_new_object();
        put_str(x, "format", formats[i]);
        put_bool(x, "checked", in_array(get(v, "formats"), formats[i]));
        json_object_array_add(fa, x);
    }
    json_object_object_add(m, "formats", fa);
    const char *cad = *jstr(v, "cadence") ? jstr(v, "cadence") : (*jstr(v, "rrule") ? "custom" : "weekly");
    json_object_object_add(m, "cadences", choices(cadences, cad));
    put_str(m, "rrule", strcmp(cad, "custom") ? "" : jstr(v, "rrule"));
    put_str(m, "time_of_day", *jstr(v, "time_of_day") ? jstr(v, "time_of_day") : "09:00");
    put_str(m, "timezone", jstr(v, "timezone"));
    put_str(m, "starts_at", jstr(v, "starts_at"));
    json_object_object_add(m, "recipient_count", json_object_new_int(recipient_count));
    put_str(m, "groups", "");
    json_object_object_add(m, "modes", choices(scheduler_delivery_modes, *jstr(v, "delivery_mode") ? jstr(v, "delivery_mode") : "download"));
    json_object *ap = get(v, "approval_policy"), *rp = get(v, "retry_policy");
    put_bool(m, "approval_required", get(ap, "approval_required") && json_object_get_boolean(get(ap, "approval_required")));
    put_bool(m, "change_requires_approval",
             get(ap, "change_requires_approval") && json_object_get_boolean(get(ap, "change_requires_approval")));
    put_str(m, "approver_group", *jstr(ap, "approver_group") ? jstr(ap, "approver_group") : "approvers");
    char num[24];
    snprintf(num, sizeof num, "%d", get(rp, "max_attempts") ? json_object_get_int(get(rp, "max_attempts")) : 3);
    put_str(m, "max_attempts", num);
    snprintf(num, sizeof num, "%d",
             get(rp, "retry_window_minutes") ? json_object_get_int(get(rp, "retry_window_minutes")) : 120);
    put_str(m, "retry_window_minutes", num);
    json_object_object_add(m, "backoffs", choices(scheduler_backoffs, *jstr(rp, "backoff") ? jstr(rp, "backoff") : "exponential"));
    put_bool(m, "dead_letter_required",
             !get(rp, "dead_letter_required") || json_object_get_boolean(get(rp, "dead_letter_required")));
    json_object_object_add(m, "missed", choices(scheduler_missed_policies, *jstr(v, "missed_policy") ? jstr(v, "missed_policy") : "latest"));
    json_object *wins = json_object_new_array(), *bw = get(v, "blackout_windows");
    for (int i = 0; i < WINDOW_ROWS; i++) {
        json_object *w = bw && (size_t)i < json_object_array_length(bw) ? json_object_array_get_idx(bw, i) : NULL;
        json_object *x = json_object_new_object();
        json_object_object_add(x, "i", json_object_new_int(i));
        put_str(x, "window_ref", jstr(w, "window_ref"));
        bool rec = *jstr(w, "rrule") != 0;
        put_str(x, "starts_at", rec ? "" : jstr(w, "starts_at"));
        put_str(x, "ends_at", rec ? "" : jstr(w, "ends_at"));
        put_str(x, "rrule", jstr(w, "rrule"));
        snprintf(num, sizeof num, "%d", get(w, "duration_minutes") ? json_object_get_int(get(w, "duration_minutes")) : 0);
        put_str(x, "duration_minutes", get(w, "duration_minutes") ? num : "");
        json_object *b = choices(scheduler_behaviors, jstr(w, "behavior"));
        json_object_object_add(x, "behaviors", b);
        json_object_array_add(wins, x);
    }
    json_object_object_add(m, "windows", wins);
    json_object *el = json_object_new_array();
    if (errors) {
        json_object_object_foreach(errors, k, e) {
            json_object *x = json_object_new_object();
            put_str(x, "field", *k ? k : "form");
            put_str(x, "message", json_object_get_string(e));
            json_object_array_add(el, x);
        }
    }
    put_bool(m, "has_errors", json_object_array_length(el) > 0);
    json_object_object_add(m, "errors", el);
    return m;
}

static void form_str(const req_t *r, json_object *body, const char *name) {
    char v[512] = "";
    if (req_form(r, name, v, sizeof v) && *v) put_str(body, name, v);
}

/* an integer field: the number, or the text (so the validator names it) */
static void form_int(const req_t *r, json_object *o, const char *form_name, const char *key) {
    char v[32] = "";
    if (!req_form(r, form_name, v, sizeof v) || !*v) return;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end) put_str(o, key, v);
    else json_object_object_add(o, key, json_object_new_int64(n));
}

static json_object *split_list(const char *s) {
    json_object *a = json_object_new_array();
    char *copy = strdup(s), *save = NULL;
    for (char *t = strtok_r(copy, " ,;\r\n\t", &save); t; t = strtok_r(NULL, " ,;\r\n\t", &save))
        json_object_array_add(a, json_object_new_string(t));
    free(copy);
    return a;
}

/* the API body of the posted form; recipients only when given (or creating) */
static json_object *form_body(const req_t *r, bool creating) {
    json_object *b = json_object_new_object();
    char v[512];
    form_str(r, b, "name");
    json_object *ids = json_object_new_array(), *fm = json_object_new_array();
    const catalog_report_t *rep;
    for (int i = 0; (rep = catalog_at(i)) != NULL; i++) {
        char f[96];
        snprintf(f, sizeof f, "report_%s", rep->report_id);
        if (req_form(r, f, v, sizeof v)) json_object_array_add(ids, json_object_new_string(rep->report_id));
    }
    for (int i = 0; formats[i]; i++) {
        char f[40];
        snprintf(f, sizeof f, "format_%s", formats[i]);
        if (req_form(r, f, v, sizeof v)) json_object_array_add(fm, json_object_new_string(formats[i]));
    }
    json_object_object_add(b, "report_ids", ids);
    json_object_object_add(b, "formats", fm);
    char cad[24] = "";
    req_form(r, "cadence", cad, sizeof cad);
    if (!strcmp(cad, "custom")) {
        v[0] = 0;
        req_form(r, "rrule", v, sizeof v);
        put_str(b, "rrule", v);
    } else {
        put_str(b, "cadence", cad);
        form_str(r, b, "time_of_day");
    }
    form_str(r, b, "timezone");
    form_str(r, b, "starts_at");
    char *big = malloc(BIG_FIELD);
    big[0] = 0;
    req_form(r, "recipients", big, BIG_FIELD);
    if (creating || *big) json_object_object_add(b, "recipients", split_list(big));
    big[0] = 0;
    req_form(r, "groups", big, BIG_FIELD);
    if (creating || *big) json_object_object_add(b, "groups", split_list(big));
    free(big);
    form_str(r, b, "delivery_mode");
    json_object *ap = json_object_new_object();
    put_bool(ap, "approval_required", req_form(r, "approval_required", v, sizeof v));
    put_bool(ap, "change_requires_approval", req_form(r, "change_requires_approval", v, sizeof v));
    form_str(r, ap, "approver_group");
    json_object_object_add(b, "approval_policy", ap);
    json_object *rp = json_object_new_object();
    form_int(r, rp, "max_attempts", "max_attempts");
    form_int(r, rp, "retry_window_minutes", "retry_window_minutes");
    form_str(r, rp, "backoff");
    put_bool(rp, "dead_letter_required", req_form(r, "dead_letter_required", v, sizeof v));
    json_object_object_add(b, "retry_policy", rp);
    form_str(r, b, "missed_policy");
    json_object *wins = json_object_new_array();
    for (int i = 0; i < WINDOW_ROWS; i++) {
        char f[40], beh[40] = "", st[64] = "", en[64] = "", rr[300] = "", ref[64] = "";
        snprintf(f, sizeof f, "w%d_behavior", i);
        req_form(r, f, beh, sizeof beh);
        snprintf(f, sizeof f, "w%d_starts_at", i);
        req_form(r, f, st, sizeof st);
        snprintf(f, sizeof f, "w%d_ends_at", i);
        req_form(r, f, en, sizeof en);
        snprintf(f, sizeof f, "w%d_rrule", i);
        req_form(r, f, rr, sizeof rr);
        snprintf(f, sizeof f, "w%d_window_ref", i);
        req_form(r, f, ref, sizeof ref);
        if (!*st && !*en && !*rr) continue;
        json_object *w = json_object_new_object();
        if (*ref) put_str(w, "window_ref", ref);
        put_str(w, "behavior", beh);
        if (*rr) {
            put_str(w, "rrule", rr);
            snprintf(f, sizeof f, "w%d_duration_minutes", i);
            form_int(r, w, f, "duration_minutes");
        } else {
            put_str(w, "starts_at", st);
            put_str(w, "ends_at", en);
        }
        json_object_array_add(wins, w);
    }
    json_object_object_add(b, "blackout_windows", wins);
    return b;
}

void portal_schedules(req_t *r) {
    json_object *o;
    int rc = scheduler_list(r->app->db, &r->actor, &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    put_bool(o, "can_manage", rbac_role_has(r->actor.role, PERM_REPORTS_SEND));
    resp_page(r, 200, "schedules", "Schedules", o);
}

void portal_schedule_new(req_t *r) {
    json_object *v = json_object_new_object();
    resp_page(r, 200, "schedule_form", "New schedule", form_model(r, v, NULL, "/portal/schedules", NULL, 0));
    json_object_put(v);
}

static void after_save(req_t *r, schedule_outcome_t *o, json_object *body, const char *action, const char *ref,
                       int recipient_count) {
    if (o->status == 422) {
        resp_page(r, 422, "schedule_form", ref ? "Edit schedule" : "New schedule",
                  form_model(r, body, o->body, action, ref, recipient_count));
        return;
    }
    if (o->status >= 400) {
        resp_problem(r, o->status, o->code, o->detail, o->body);
        o->body = NULL;
        return;
    }
    char loc[160];
    snprintf(loc, sizeof loc, "/portal/schedules/%s", jstr(o->body, "schedule_ref"));
    resp_redirect(r, loc);
}

void portal_schedule_create(req_t *r) {
    json_object *body = form_body(r, true);
    schedule_outcome_t o;
    int rc = scheduler_create(r->app->db, &r->actor, body, r->request_id, &o);
    if (rc) resp_error(r, rc);
    else after_save(r, &o, body, "/portal/schedules", NULL, 0);
    schedule_outcome_free(&o);
    json_object_put(body);
}

void portal_schedule_edit(req_t *r) {
    json_object *v;
    int rc = scheduler_get(r->app->db, &r->actor, req_param(r, "schedule_ref"), &v);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    char action[160];
    snprintf(action, sizeof action, "/portal/schedules/%s", jstr(v, "schedule_ref"));
    resp_page(r, 200, "schedule_form", "Edit schedule",
              form_model(r, v, NULL, action, jstr(v, "schedule_ref"), json_object_get_int(get(v, "recipient_count"))));
    json_object_put(v);
}

void portal_schedule_update(req_t *r) {
    json_object *cur;
    int rc = scheduler_get(r->app->db, &r->actor, req_param(r, "schedule_ref"), &cur);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *body = form_body(r, false);
    schedule_outcome_t o;
    char action[160];
    snprintf(action, sizeof action, "/portal/schedules/%s", jstr(cur, "schedule_ref"));
    rc = scheduler_update(r->app->db, &r->actor, jstr(cur, "schedule_ref"), body, r->request_id, &o);
    if (rc) resp_error(r, rc);
    else after_save(r, &o, body, action, jstr(cur, "schedule_ref"), json_object_get_int(get(cur, "recipient_count")));
    schedule_outcome_free(&o);
    json_object_put(body);
    json_object_put(cur);
}

static void pause_or_resume(req_t *r, bool pause) {
    schedule_outcome_t o;
    const char *ref = req_param(r, "schedule_ref");
    int rc = scheduler_pause(r->app->db, &r->actor, ref, pause, r->request_id, &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o.status >= 400) {
        resp_problem(r, o.status, o.code, o.detail, o.body);
        return;
    }
    char loc[160];
    snprintf(loc, sizeof loc, "/portal/schedules/%s", jstr(o.body, "schedule_ref"));
    schedule_outcome_free(&o);
    resp_redirect(r, loc);
}

void portal_schedule_pause(req_t *r) { pause_or_resume(r, true); }
void portal_schedule_resume(req_t *r) { pause_or_resume(r, false); }

void portal_schedule_delete(req_t *r) {
    int rc = scheduler_delete(r->app->db, &r->actor, req_param(r, "schedule_ref"), r->request_id);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_redirect(r, "/portal/schedules");
}

void portal_schedule_get(req_t *r) {
    const char *ref = req_param(r, "schedule_ref");
    json_object *v, *pv = NULL, *runs = NULL;
    int rc = scheduler_get(r->app->db, &r->actor, ref, &v);
    if (!rc) rc = scheduler_preview(r->app->db, &r->actor, ref, now_ms(), 10, &pv);
    if (!rc) rc = scheduler_runs(r->app->db, &r->actor, ref, 20, &runs);
    if (rc) {
        if (v) json_object_put(v);
        if (pv) json_object_put(pv);
        resp_error(r, rc);
        return;
    }
    json_object *page = json_object_new_object();
    const char *status = jstr(v, "status");
    put_bool(page, "is_active", !strcmp(status, "active"));
    put_bool(page, "is_paused", !strcmp(status, "paused"));
    put_bool(page, "can_manage", rbac_role_has(r->actor.role, PERM_REPORTS_SEND));
    json_object_object_add(page, "schedule", v);
    json_object_object_add(page, "preview", pv);
    json_object_object_add(page, "runs", runs);
    resp_page(r, 200, "schedule", "Schedule", page);
}

/* ---- operations dashboard: server-drawn SVG bars ---- */

static json_object *bars(json_object *items, const char *label_key, const char *value_key) {
    json_object *out = json_object_new_array();
    long long max = 1;
    size_t n = items ? json_object_array_length(items) : 0;
    for (size_t i = 0; i < n; i++) {
        long long v = json_object_get_int64(get(json_object_array_get_idx(items, i), value_key));
        if (v > max) max = v;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(items, i), *b = json_object_new_object();
        long long v = json_object_get_int64(get(it, value_key));
        put_str(b, "label", jstr(it, label_key));
        json_object_object_add(b, "value", json_object_new_int64(v));
        json_object_object_add(b, "y", json_object_new_int((int)(i * 28 + 4)));
        json_object_object_add(b, "ty", json_object_new_int((int)(i * 28 + 20)));
        json_object_object_add(b, "width", json_object_new_int64(v * 300 / max));
        put_str(b, "status", jstr(it, "status"));
        json_object_array_add(out, b);
    }
    return out;
}

void portal_operations(req_t *r) {
    json_object *d;
    int rc = operations_dashboard(r->app->db, &r->actor, now_ms(), &d);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *page = json_object_new_object();
    /* ?refresh=N (5..300 seconds, default 15): how often static/operations.js
     * looks for changes */
    char rs[16] = "";
    long refresh = 15;
    if (req_query(r, "refresh", rs, sizeof rs)) {
        char *end;
        long v = strtol(rs, &end, 10);
        if (!*end && v >= 1 && v <= 300) refresh = v < 5 ? 5 : v;
    }
    json_object_object_add(page, "refresh_seconds", json_object_new_int((int)refresh));
    json_object *queues = get(d, "queues");
    json_object_object_add(page, "queue_bars", bars(queues, "queue", "depth"));
    json_object_object_add(page, "queue_chart_height",
                           json_object_new_int((int)(json_object_array_length(queues) * 28 + 8)));
    json_object *ac = get(d, "audit_coverage");
    long long exp = json_object_get_int64(get(ac, "events_expected")),
              per = json_object_get_int64(get(ac, "events_persisted"));
    json_object_object_add(page, "coverage_width", json_object_new_int64(exp ? per * 300 / exp : 300));
    json_object_object_add(page, "dashboard", d);
    resp_page(r, 200, "operations", "Operations", page);
}
