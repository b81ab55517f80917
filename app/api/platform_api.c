/*
 * platform_api.c: JSON routes for operations, identity, API tokens and the
 * evidence chain. Thin: decode, call the owning module, encode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "audit/evidence.h"
#include "core/err.h"
#include "db/migrate.h"
#include "server/auth.h"
#include "server/metrics.h"

void api_healthz(req_t *r) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string("ok"));
    resp_json(r, 200, o);
}

void api_readyz(req_t *r) {
    json_object *o = json_object_new_object();
    bool db_ok = db_ping(r->app->db);
    bool current = false;
    if (db_ok && db_schema_current(r->app->db, &current) != 0) db_ok = false;
    json_object_object_add(o, "status", json_object_new_string(db_ok && current ? "ready" : "not_ready"));
    json_object_object_add(o, "database", json_object_new_boolean(db_ok));
    json_object_object_add(o, "migrations_current", json_object_new_boolean(current));
    resp_json(r, db_ok && current ? 200 : 503, o);
}

void api_metrics(req_t *r) {
    buf_t b = BUF_INIT;
    metrics_render(&b);
    resp_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf_cstr(&b), b.len);
    buf_free(&b);
}

void api_jwks(req_t *r) {
    db_res_t *res;
    if (db_query(r->app->db, "SELECT public_jwk FROM signing_keys ORDER BY created_at", DB_NOARGS, &res)) {
        resp_error(r, AISPM_EDB);
        return;
    }
    json_object *keys = json_object_new_array();
    while (db_res_next(res)) {
        json_object *k = json_tokener_parse(db_res_str(res, 0));
        if (k) json_object_array_add(keys, k);
    }
    db_res_free(res);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "keys", keys);
    resp_header(r, "Cache-Control", "public, max-age=300");
    resp_json(r, 200, o);
}

void api_whoami(req_t *r) {
    const actor_t *a = &r->actor;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "user_ref", json_object_new_string(a->user_ref));
    json_object_object_add(o, "display_name", json_object_new_string(a->display_name));
    json_object_object_add(o, "role", json_object_new_string(a->role));
    json_object_object_add(o, "tenant_ref", json_object_new_string(a->tenant_ref));
    json_object_object_add(o, "tenant_name", json_object_new_string(a->tenant_name));
    json_object_object_add(o, "auth", json_object_new_string(a->kind == ACTOR_TOKEN ? "token" : "session"));
    json_object *perms = json_object_new_array();
    for (int p = PERM_CATALOG_READ; p < PERM__COUNT; p++)
        if (rbac_role_has(a->role, (perm_t)p) &&
            (a->kind != ACTOR_TOKEN || (a->scopes & rbac_perm_scope((perm_t)p))))
            json_object_array_add(perms, json_object_new_string(perm_name((perm_t)p)));
    json_object_object_add(o, "permissions", perms);
    if (a->kind == ACTOR_TOKEN) {
        char sc[64];
        rbac_scopes_format(a->scopes, sc, sizeof sc);
        json_object_object_add(o, "token_ref", json_object_new_string(a->token_ref));
        json_object_object_add(o, "scopes", json_object_new_string(sc));
    }
    resp_json(r, 200, o);
}

void api_tokens_list(req_t *r) {
    json_object *arr;
    int rc = tokens_list(r->app->db, &r->actor, &arr);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tokens", arr);
    resp_json(r, 200, o);
}

void api_tokens_create(req_t *r) {
    json_object *body, *v;
    if (!req_json_body(r, &body)) return;
    json_object *errors = json_object_new_object();
    const char *name = json_object_object_get_ex(body, "name", &v) && json_object_is_type(v, json_type_string)
                           ? json_object_get_string(v)
                           : NULL;
    if (!name || !*name || strlen(name) > 100) json_object_object_add(errors, "name", json_object_new_string("is required (1-100 characters)"));
    unsigned scopes = 0;
    if (!json_object_object_get_ex(body, "scopes", &v) || !json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) == 0) {
        json_object_object_add(errors, "scopes", json_object_new_string("must be a non-empty array of scopes"));
    } else {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            unsigned bit;
            json_object *s = json_object_array_get_idx(v, i);
            if (!json_object_is_type(s, json_type_string) || rbac_scopes_parse(json_object_get_string(s), &bit)) {
                json_object_object_add(errors, "scopes", json_object_new_string(
                                                             "unknown scope (reports:read, reports:write, ingest, admin)"));
                break;
            }
            scopes |= bit;
        }
    }
    int ttl = 90;
    if (json_object_object_get_ex(body, "ttl_days", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1 || json_object_get_int(v) > 366)
            json_object_object_add(errors, "ttl_days", json_object_new_string("must be an integer from 1 to 366"));
        else
            ttl = json_object_get_int(v);
    }
    if (json_object_object_length(errors)) {
        json_object_put(body);
        resp_problem(r, 422, "validation_failed", "the token request is not valid", errors);
        return;
    }
    json_object_put(errors);
    /* a token can never carry more than its creator's token scopes */
    if (r->actor.kind == ACTOR_TOKEN && (scopes & ~r->actor.scopes)) {
        json_object_put(body);
        resp_problem(r, 403, "insufficient_scope", "a token cannot create a token with wider scopes", NULL);
        return;
    }
    token_created_t tc;
    int rc = tokens_create(r->app->db, &r->actor, r->actor.user_id, r->actor.user_ref, r->actor.role, name, scopes,
                           ttl, r->request_id, &tc);
    json_object_put(body);
    if (rc == AISPM_EFORBIDDEN) {
        resp_problem(r, 403, "forbidden", "your role cannot use one of the requested scopes", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "token_ref", json_object_new_string(tc.ref));
    json_object_object_add(o, "token", json_object_new_string(tc.token));
    json_object_object_add(o, "expires_at", json_object_new_string(tc.expires_at));
    json_object_object_add(o, "notice", json_object_new_string("store this token now: it is shown only once"));
    memset(tc.token, 0, sizeof tc.token);
    resp_json(r, 201, o);
}

void api_tokens_revoke(req_t *r) {
    int rc = tokens_revoke(r->app->db, &r->actor, req_param(r, "token_ref"), false, r->request_id);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    r->status = 204;
    resp_header(r, "Content-Type", "application/json");
}

void api_audit_events(req_t *r) {
    char lim[16], before[32];
    long limit = req_query(r, "limit", lim, sizeof lim) ? strtol(lim, NULL, 10) : 50;
    if (limit < 1 || limit > 500) limit = 50;
    long long cursor = req_query(r, "cursor", before, sizeof before) ? strtoll(before, NULL, 10) : 0;
    db_res_t *res;
    int rc = db_query(r->app->db,
                      "SELECT e.id, e.body, l.seq, l.digest FROM evidence_events e "
                      "LEFT JOIN evidence_links l ON l.event_id = e.id "
                      "WHERE e.tenant_id = ? AND (? = 0 OR e.id < ?) ORDER BY e.id DESC LIMIT ?",
                      DB_ARGS(DBI(r->actor.tenant_id), DBI(cursor), DBI(cursor), DBI(limit)), &res);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object *arr = json_object_new_array();
    long long last = 0;
    int n = 0;
    while (db_res_next(res)) {
        json_object *ev = json_tokener_parse(db_res_str(res, 1));
        if (!ev) continue;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "event", ev);
        json_object_object_add(o, "seq", db_res_isnull(res, 2) ? NULL : json_object_new_int64(db_res_int(res, 2)));
        json_object_object_add(o, "digest", db_res_isnull(res, 3) ? NULL : json_object_new_string(db_res_str(res, 3)));
        json_object_object_add(o, "linked", json_object_new_boolean(!db_res_isnull(res, 2)));
        json_object_array_add(arr, o);
        last = db_res_int(res, 0);
        n++;
    }
    db_res_free(res);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "events", arr);
    char cur[32];
    snprintf(cur, sizeof cur, "%lld", last);
    json_object_object_add(o, "next_cursor", n == limit ? json_object_new_string(cur) : NULL);
    resp_json(r, 200, o);
}

json_object *audit_verify_json(const evidence_verify_result_t *v);
json_object *audit_verify_json(const evidence_verify_result_t *v) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(v->ok));
    json_object_object_add(o, "events_verified", json_object_new_int64(v->events));
    json_object_object_add(o, "events_pending", json_object_new_int64(v->pending));
    json_object_object_add(o, "checkpoints_verified", json_object_new_int64(v->checkpoints));
    json_object_object_add(o, "head_seq", json_object_new_int64(v->head_seq));
    json_object_object_add(o, "head_digest", json_object_new_string(v->head_digest));
    if (!v->ok) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "kind", json_object_new_string(v->problem));
        json_object_object_add(p, "seq", json_object_new_int64(v->bad_seq));
        if (v->bad_ref[0]) json_object_object_add(p, "evidence_ref", json_object_new_string(v->bad_ref));
        json_object_object_add(p, "message", json_object_new_string(v->message));
        json_object_object_add(o, "first_problem", p);
    }
    return o;
}

void api_audit_verify(req_t *r) {
    evidence_verify_result_t v;
    int rc = evidence_verify(r->app->db, r->actor.tenant_id, r->app->cfg.evidence_max_link_delay_ms, &v);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_json(r, 200, audit_verify_json(&v));
}
