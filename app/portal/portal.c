/*
 * portal.c: server-rendered portal pages. Thin: decode the form, call the
 * owning module, render a template; POST-redirect-GET on success, the same
 * page with field errors (422) on failure. Values of secret-reference fields
 * that failed validation are never echoed back into the form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "audit/evidence.h"
#include "core/err.h"
#include "core/hash.h"
#include "reports/catalog.h"
#include "reports/setup.h"
#include "server/auth.h"

json_object *audit_verify_json(const evidence_verify_result_t *v);

static bool safe_next(const char *next) {
    return next[0] == '/' && next[1] != '/' && next[1] != '\\' && !strchr(next, ':') && strlen(next) < 200;
}

void portal_root(req_t *r) { resp_redirect(r, r->actor.kind == ACTOR_SESSION ? "/portal/" : "/portal/login"); }

static void render_login(req_t *r, int status, const char *error, const char *notice, const char *email,
                         const char *next) {
    uint8_t raw[24];
    char tok[40];
    random_bytes(raw, sizeof raw);
    b64url_encode(raw, sizeof raw, tok);
    resp_cookie(r, LOGIN_CSRF_COOKIE, tok, 1800);
    json_object *d = json_object_new_object();
    json_object_object_add(d, "login_csrf", json_object_new_string(tok));
    if (error) json_object_object_add(d, "error", json_object_new_string(error));
    if (notice) json_object_object_add(d, "notice", json_object_new_string(notice));
    json_object_object_add(d, "email", json_object_new_string(email ? email : ""));
    json_object_object_add(d, "next", json_object_new_string(next && safe_next(next) ? next : "/portal/"));
    resp_page(r, status, "login", "Sign in", d);
}

void portal_login_get(req_t *r) {
    char next[256] = "";
    req_query(r, "next", next, sizeof next);
    if (r->actor.kind == ACTOR_SESSION) {
        resp_redirect(r, safe_next(next) ? next : "/portal/");
        return;
    }
    char flag[4];
    render_login(r, 200, NULL, req_query(r, "signed_out", flag, sizeof flag) ? "You have been signed out." : NULL,
                 NULL, next);
}

void portal_login_post(req_t *r) {
    char email[256] = "", password[1025] = "", next[256] = "", form_tok[64] = "", cookie_tok[64] = "";
    req_form(r, "email", email, sizeof email);
    req_form(r, "password", password, sizeof password);
    req_form(r, "next", next, sizeof next);
    bool tok_ok = req_form(r, "_csrf", form_tok, sizeof form_tok) &&
                  req_cookie(r, LOGIN_CSRF_COOKIE, cookie_tok, sizeof cookie_tok) && strlen(form_tok) == 32 &&
                  strlen(cookie_tok) == 32 && ct_equal(form_tok, cookie_tok, 32);
    if (!req_is_form(r) || !tok_ok) {
        memset(password, 0, sizeof password);
        render_login(r, 403, "Your sign-in form expired. Please try again.", NULL, email, next);
        return;
    }
    int rc = auth_login(r, email, password);
    memset(password, 0, sizeof password);
    if (rc == AISPM_ETOOMANY) {
        render_login(r, 429, "Too many failed attempts. Wait a few minutes and try again.", NULL, email, next);
        return;
    }
    if (rc == AISPM_EUNAUTH) {
        render_login(r, 401, "The email address or password is not correct.", NULL, email, next);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_cookie(r, LOGIN_CSRF_COOKIE, "", -1);
    resp_redirect(r, safe_next(next) ? next : "/portal/");
}

void portal_logout(req_t *r) {
    int rc = auth_logout(r);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_redirect(r, "/portal/login?signed_out=1");
}

static json_object *recent_events(req_t *r, int limit) {
    db_res_t *res;
    json_object *arr = json_object_new_array();
    if (db_query(r->app->db,
                 "SELECT e.body, l.seq, LEFT(l.digest, 16) FROM evidence_events e "
                 "LEFT JOIN evidence_links l ON l.event_id = e.id WHERE e.tenant_id = ? ORDER BY e.id DESC LIMIT ?",
                 DB_ARGS(DBI(r->actor.tenant_id), DBI(limit)), &res))
        return arr;
    while (db_res_next(res)) {
        json_object *ev = json_tokener_parse(db_res_str(res, 0));
        if (!ev) continue;
        json_object *o = json_object_new_object(), *v;
        const char *keys[] = {"action", "outcome", "occurred_at", "evidence_ref", "object_ref"};
        for (int i = 0; i < 5; i++)
            if (json_object_object_get_ex(ev, keys[i], &v)) json_object_object_add(o, keys[i], json_object_get(v));
        json_object *actor;
        if (json_object_object_get_ex(ev, "actor", &actor) && json_object_object_get_ex(actor, "role", &v))
            json_object_object_add(o, "actor_role", json_object_get(v));
        json_object_object_add(o, "seq", db_res_isnull(res, 1) ? NULL : json_object_new_int64(db_res_int(res, 1)));
        json_object_object_add(o, "digest", db_res_isnull(res, 2) ? NULL : json_object_new_string(db_res_str(res, 2)));
        const char *outcome = json_object_get_string(json_object_object_get(o, "outcome"));
        json_object_object_add(o, "failed", json_object_new_boolean(!outcome || strcmp(outcome, "success") != 0));
        json_object_array_add(arr, o);
        json_object_put(ev);
    }
    db_res_free(res);
    return arr;
}

void portal_home(req_t *r) {
    /* auditors see nothing but their evidence rooms: that list is their home */
    if (rbac_role_has(r->actor.role, PERM_EVIDENCE_ROOMS_ACCESS) && !rbac_role_has(r->actor.role, PERM_CATALOG_READ)) {
        portal_rooms(r);
        return;
    }
    json_object *d = json_object_new_object(), *setup = NULL;
    if (setup_state(r->app->db, &r->actor, &setup) == 0) {
        json_object *c, *t;
        json_object_object_get_ex(setup, "completed_steps", &c);
        json_object_object_get_ex(setup, "total_steps", &t);
        int pct = json_object_get_int(t) ? 100 * json_object_get_int(c) / json_object_get_int(t) : 0;
        json_object_object_add(setup, "percent", json_object_new_int(pct));
        json_object_object_add(d, "setup", setup);
    }
    json_object *cat = catalog_projection(&r->actor, false);
    json_object_object_add(d, "catalog", cat);
    json_object_object_add(d, "can_setup", json_object_new_boolean(rbac_role_has(r->actor.role, PERM_SETTINGS_WRITE)));
    json_object_object_add(d, "can_audit", json_object_new_boolean(rbac_role_has(r->actor.role, PERM_AUDIT_READ)));
    if (rbac_role_has(r->actor.role, PERM_AUDIT_READ)) json_object_object_add(d, "events", recent_events(r, 5));
    resp_page(r, 200, "home", "Home", d);
}

void portal_catalog(req_t *r) {
    bool manage = rbac_role_has(r->actor.role, PERM_CATALOG_MANAGE);
    json_object *d = catalog_projection(&r->actor, manage);
    json_object_object_add(d, "can_manage", json_object_new_boolean(manage));
    portal_render_decorate_catalog(r, d);
    char flag[8];
    if (req_query(r, "setup", flag, sizeof flag))
        json_object_object_add(d, "setup_done", json_object_new_boolean(1));
    resp_page(r, 200, "catalog", "Report catalog", d);
}

void portal_catalog_toggle(req_t *r) {
    char v[8] = "";
    req_form(r, "enabled", v, sizeof v);
    int rc = catalog_set_enabled(r->app->db, &r->actor, req_param(r, "report_id"), !strcmp(v, "1"), r->request_id);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_redirect(r, "/portal/catalog");
}

void portal_setup(req_t *r) {
    json_object *st;
    int rc = setup_state(r->app->db, &r->actor, &st);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *next;
    char loc[128];
    json_object_object_get_ex(st, "next_step", &next);
    snprintf(loc, sizeof loc, "/portal/setup/%s",
             next ? json_object_get_string(next) : setup_step_at(0)->step_id);
    json_object_put(st);
    resp_redirect(r, loc);
}

/* renders one step; values/errors override what is stored (after a failed POST) */
static void render_step(req_t *r, int status, const setup_step_t *step, json_object *values, json_object *errors) {
    json_object *st;
    int rc = setup_state(r->app->db, &r->actor, &st);
    if (rc) {
        json_object_put(errors);
        resp_error(r, rc);
        return;
    }
    json_object *steps, *cur = NULL;
    json_object_object_get_ex(st, "steps", &steps);
    for (size_t i = 0; i < json_object_array_length(steps); i++) {
        json_object *s = json_object_array_get_idx(steps, i), *id;
        json_object_object_get_ex(s, "step_id", &id);
        bool is_cur = !strcmp(json_object_get_string(id), step->step_id);
        json_object_object_add(s, "current", json_object_new_boolean(is_cur));
        if (is_cur) cur = s;
    }
    if (cur && (values || errors)) {
        json_object *fields;
        json_object_object_get_ex(cur, "fields", &fields);
        for (size_t i = 0; i < json_object_array_length(fields); i++) {
            json_object *f = json_object_array_get_idx(fields, i), *name, *e, *v, *is_ref;
            json_object_object_get_ex(f, "name", &name);
            json_object_object_get_ex(f, "is_secret_ref", &is_ref);
            const char *n = json_object_get_string(name);
            bool has_err = errors && json_object_object_get_ex(errors, n, &e);
            if (has_err) json_object_object_add(f, "error", json_object_get(e));
            if (values && json_object_object_get_ex(values, n, &v)) {
                /* never reflect a rejected secret-reference value: it may be the secret itself */
                const char *shown = (has_err && json_object_get_boolean(is_ref)) ? "" : json_object_get_string(v);
                json_object_object_add(f, "value", json_object_new_string(shown));
                json_object_object_add(f, "checked", json_object_new_boolean(!strcmp(shown, "true")));
                json_object *choices;
                if (json_object_object_get_ex(f, "choices", &choices))
                    for (size_t c = 0; c < json_object_array_length(choices); c++) {
                        json_object *co = json_object_array_get_idx(choices, c), *cv;
                        json_object_object_get_ex(co, "value", &cv);
                        json_object_object_add(co, "selected",
                                               json_object_new_boolean(!strcmp(json_object_get_string(cv), shown)));
                    }
            }
        }
    }
    json_object *d = json_object_new_object();
    json_object_object_add(d, "wizard", st);
    json_object_object_add(d, "step", cur ? json_object_get(cur) : NULL);
    json_object_object_add(d, "has_errors", json_object_new_boolean(errors != NULL));
    json_object_put(errors);
    char title[128];
    snprintf(title, sizeof title, "Setup: %s", step->title);
    resp_page(r, status, "setup", title, d);
}

void portal_setup_step_get(req_t *r) {
    const setup_step_t *step = setup_step_find(req_param(r, "step_id"));
    if (!step) {
        resp_problem(r, 404, "not_found", "no such setup step", NULL);
        return;
    }
    render_step(r, 200, step, NULL, NULL);
}

void portal_setup_step_post(req_t *r) {
    const setup_step_t *step = setup_step_find(req_param(r, "step_id"));
    if (!step) {
        resp_problem(r, 404, "not_found", "no such setup step", NULL);
        return;
    }
    json_object *values = json_object_new_object();
    for (int i = 0; i < step->nfields; i++) {
        char v[2048];
        if (req_form(r, step->fields[i].name, v, sizeof v))
            json_object_object_add(values, step->fields[i].name, json_object_new_string(v));
    }
    json_object *errors = NULL;
    int rc = setup_save_step(r->app->db, &r->actor, step, values, r->request_id, &errors);
    if (rc == AISPM_EINVAL) {
        render_step(r, 422, step, values, errors);
        json_object_put(values);
        return;
    }
    json_object_put(values);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    /* next incomplete step, or the catalog when the wizard is complete */
    json_object *st, *next;
    if (setup_state(r->app->db, &r->actor, &st) != 0) {
        resp_redirect(r, "/portal/setup");
        return;
    }
    json_object_object_get_ex(st, "next_step", &next);
    char loc[128];
    if (next)
        snprintf(loc, sizeof loc, "/portal/setup/%s", json_object_get_string(next));
    else
        snprintf(loc, sizeof loc, "/portal/catalog?setup=done");
    json_object_put(st);
    resp_redirect(r, loc);
}

static void render_tokens(req_t *r, int status, const token_created_t *created, json_object *errors) {
    json_object *list;
    int rc = tokens_list(r->app->db, &r->actor, &list);
    if (rc) {
        json_object_put(errors);
        resp_error(r, rc);
        return;
    }
    json_object *d = json_object_new_object();
    json_object_object_add(d, "tokens", list);
    if (created) {
        json_object *c = json_object_new_object();
        json_object_object_add(c, "token", json_object_new_string(created->token));
        json_object_object_add(c, "token_ref", json_object_new_string(created->ref));
        json_object_object_add(c, "expires_at", json_object_new_string(created->expires_at));
        json_object_object_add(d, "created", c);
    }
    if (errors) json_object_object_add(d, "errors", errors);
    json_object *scopes = json_object_new_array();
    const char *names[] = {"reports:read", "reports:write", "ingest", "admin"};
    const char *fields[] = {"scope_reports_read", "scope_reports_write", "scope_ingest", "scope_admin"};
    for (int i = 0; i < 4; i++) {
        if (!rbac_role_can_use_scope(r->actor.role, 1u << i)) continue;
        json_object *s = json_object_new_object();
        json_object_object_add(s, "name", json_object_new_string(names[i]));
        json_object_object_add(s, "field", json_object_new_string(fields[i]));
        json_object_array_add(scopes, s);
    }
    json_object_object_add(d, "scopes", scopes);
    resp_page(r, status, "tokens", "API tokens", d);
}

void portal_tokens(req_t *r) { render_tokens(r, 200, NULL, NULL); }

void portal_tokens_create(req_t *r) {
    char name[128] = "", ttl_s[8] = "90", v[8];
    req_form(r, "name", name, sizeof name);
    req_form(r, "ttl_days", ttl_s, sizeof ttl_s);
    unsigned scopes = 0;
    const char *fields[] = {"scope_reports_read", "scope_reports_write", "scope_ingest", "scope_admin"};
    for (int i = 0; i < 4; i++)
        if (req_form(r, fields[i], v, sizeof v) && !strcmp(v, "1")) scopes |= 1u << i;
    int ttl = atoi(ttl_s);
    json_object *errors = json_object_new_object();
    if (!*name || strlen(name) > 100) json_object_object_add(errors, "name", json_object_new_string("is required (1-100 characters)"));
    if (!scopes) json_object_object_add(errors, "scopes", json_object_new_string("choose at least one scope"));
    if (ttl < 1 || ttl > 366) json_object_object_add(errors, "ttl_days", json_object_new_string("must be 1 to 366 days"));
    if (json_object_object_length(errors)) {
        render_tokens(r, 422, NULL, errors);
        return;
    }
    json_object_put(errors);
    token_created_t tc;
    int rc = tokens_create(r->app->db, &r->actor, r->actor.user_id, r->actor.user_ref, r->actor.role, name, scopes, ttl,
                           r->request_id, &tc);
    if (rc == AISPM_EFORBIDDEN) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "scopes", json_object_new_string("your role cannot use one of these scopes"));
        render_tokens(r, 403, NULL, e);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    /* shown exactly once, in this response, which is never cached */
    render_tokens(r, 201, &tc, NULL);
    memset(tc.token, 0, sizeof tc.token);
}

void portal_tokens_revoke(req_t *r) {
    int rc = tokens_revoke(r->app->db, &r->actor, req_param(r, "token_ref"), false, r->request_id);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_redirect(r, "/portal/tokens");
}

void portal_audit(req_t *r) {
    json_object *d = json_object_new_object();
    evidence_verify_result_t v;
    if (evidence_verify(r->app->db, r->actor.tenant_id, r->app->cfg.evidence_max_link_delay_ms, &v) == 0)
        json_object_object_add(d, "verify", audit_verify_json(&v));
    json_object_object_add(d, "events", recent_events(r, 50));
    resp_page(r, 200, "audit", "Evidence chain", d);
}
