/*
 * auth.c: credential resolution, login/logout, throttling, CSRF and API
 * token lifecycle (see auth.h). Secrets handled here (passwords, cookie and
 * token values) are compared in constant time where it matters, hashed before
 * they reach the database, and never logged or put into evidence.
 */
#include "server/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/evidence.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/keys.h"

#define LICENCE_OK                                                                                                   \
    "(t.status = 'active' AND t.licence_revoked_at IS NULL AND "                                                     \
    "(t.licence_expires_at IS NULL OR t.licence_expires_at > UTC_TIMESTAMP(6)))"
#define ACTOR_COLS                                                                                                   \
    "u.id, u.ref, u.role, u.display_name, u.disabled, t.id, t.ref, t.slug, t.name, t.reports_disabled, " LICENCE_OK

static void copy(char *dst, size_t n, const char *s) { snprintf(dst, n, "%s", s ? s : ""); }

static void fill_actor(actor_t *a, db_res_t *res, int base) {
    a->user_id = db_res_int(res, base + 0);
    copy(a->user_ref, sizeof a->user_ref, db_res_str(res, base + 1));
    copy(a->role, sizeof a->role, db_res_str(res, base + 2));
    copy(a->display_name, sizeof a->display_name, db_res_str(res, base + 3));
    a->tenant_id = db_res_int(res, base + 5);
    copy(a->tenant_ref, sizeof a->tenant_ref, db_res_str(res, base + 6));
    copy(a->tenant_slug, sizeof a->tenant_slug, db_res_str(res, base + 7));
    copy(a->tenant_name, sizeof a->tenant_name, db_res_str(res, base + 8));
    copy(a->reports_disabled, sizeof a->reports_disabled, db_res_str(res, base + 9));
    a->licence_ok = db_res_int(res, base + 10) != 0;
}

int auth_evidence(db_t *db, const actor_t *a, const char *action, const char *object_ref, const char *outcome,
                  const char *request_id, json_object *details, char *ref_out) {
    evidence_event_t ev = {
        .tenant_id = a->tenant_id,
        .tenant_ref = a->tenant_ref,
        .actor_ref = a->user_ref[0] ? a->user_ref : "system",
        .actor_role = a->role[0] ? a->role : NULL,
        .action = action,
        .object_ref = object_ref,
        .outcome = outcome,
        .request_id = request_id,
        .details = details,
    };
    return evidence_append(db, &ev, ref_out);
}

/* Bearer tokens resolved in the last AUTH_CACHE_TTL_MS are served from a
 * per-process cache (positive results only). A hit still reads the token row
 * and its tenant by primary key, so revocation, expiry, the tenant's licence
 * and its catalog choices apply at once; only the user's own row (role,
 * disabled, display name) may be up to the TTL old in each worker. The
 * three-table join of a miss costs MariaDB about twice a primary-key read
 * (bench/http.sh: catalog 0.52 -> 0.77 of the one-SELECT responder). */
#define AUTH_CACHE_SLOTS 16
#define AUTH_CACHE_TTL_MS 1000

struct auth_cache {
    struct {
        char hash[65];
        int64_t until_ms; /* monotonic */
        actor_t actor;
    } e[AUTH_CACHE_SLOTS];
};

static int hexval(char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; }

static int resolve_bearer(req_t *r, const char *tok) {
    size_t n = strlen(tok);
    if (n < 8 || n >= TOKEN_TEXT_MAX || strncmp(tok, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0) return AISPM_EUNAUTH;
    char hash[65];
    sha256_hex(tok, n, hash);
    if (!r->app->auth_cache) r->app->auth_cache = xcalloc(1, sizeof *r->app->auth_cache);
    __auto_type slot = &r->app->auth_cache->e[(hexval(hash[0]) * 16 + hexval(hash[1])) % AUTH_CACHE_SLOTS];
    int64_t now = monotonic_ms();
    if (now < slot->until_ms && strcmp(slot->hash, hash) == 0) {
        db_res_t *vr;
        int vrc = db_query(r->app->db,
                           "SELECT (k.revoked_at IS NULL AND k.expires_at > UTC_TIMESTAMP(6)), " LICENCE_OK
                           ", t.reports_disabled FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?",
                           DB_ARGS(DBI(slot->actor.token_id)), &vr);
        if (vrc) return vrc;
        bool valid = db_res_next(vr) && db_res_int(vr, 0);
        if (valid) {
            slot->actor.licence_ok = db_res_int(vr, 1) != 0;
            copy(slot->actor.reports_disabled, sizeof slot->actor.reports_disabled, db_res_str(vr, 2));
        }
        db_res_free(vr);
        if (!valid) {
            slot->until_ms = 0;
            return AISPM_EUNAUTH;
        }
        r->actor = slot->actor;
        return 0;
    }
    db_res_t *res;
    int rc = db_query(r->app->db,
                      "SELECT k.id, k.ref, (k.revoked_at IS NULL AND k.expires_at > UTC_TIMESTAMP(6)), "
                      "(k.last_used_at IS NULL OR k.last_used_at < UTC_TIMESTAMP(6) - INTERVAL 60 SECOND), "
                      "k.scopes, " ACTOR_COLS " FROM api_tokens k "
                      "JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id "
                      "JOIN tenants t ON t.id = k.tenant_id WHERE k.token_hash = ?",
                      DB_ARGS(DBS(hash)), &res);
    if (rc) return rc;
    if (!db_res_next(res) || !db_res_int(res, 2) || db_res_int(res, 9)) {
        db_res_free(res);
        return AISPM_EUNAUTH;
    }
    actor_t *a = &r->actor;
    a->kind = ACTOR_TOKEN;
    a->token_id = db_res_int(res, 0);
    copy(a->token_ref, sizeof a->token_ref, db_res_str(res, 1));
    bool stale = db_res_int(res, 3) != 0;
    if (rbac_scopes_parse(db_res_str(res, 4), &a->scopes)) a->scopes = 0;
    fill_actor(a, res, 5);
    db_res_free(res);
    if (stale) /* at most one write per token per minute */
        db_exec(r->app->db, "UPDATE api_tokens SET last_used_at = UTC_TIMESTAMP(6) WHERE id = ?",
                DB_ARGS(DBI(a->token_id)), NULL, NULL);
    memcpy(slot->hash, hash, sizeof hash);
    slot->actor = *a;
    slot->until_ms = now + AUTH_CACHE_TTL_MS;
    return 0;
}

static int resolve_session(req_t *r, const char *cookie) {
    if (strlen(cookie) != 43) return AISPM_EUNAUTH;
    char hash[65];
    sha256_hex(cookie, 43, hash);
    db_res_t *res;
    int rc = db_query(r->app->db,
                      "SELECT s.id, s.csrf_token, (s.ended_at IS NULL AND s.expires_at > UTC_TIMESTAMP(6) AND "
                      "s.last_seen_at > UTC_TIMESTAMP(6) - INTERVAL ? SECOND), "
                      "s.last_seen_at < UTC_TIMESTAMP(6) - INTERVAL 30 SECOND, NULL, " ACTOR_COLS
                      " FROM sessions s JOIN users u ON u.id = s.user_id "
                      "JOIN tenants t ON t.id = s.tenant_id AND t.id = u.tenant_id WHERE s.token_hash = ?",
                      DB_ARGS(DBI(r->app->cfg.session_idle_timeout_s), DBS(hash)), &res);
    if (rc) return rc;
    if (!db_res_next(res) || !db_res_int(res, 2) || db_res_int(res, 9)) {
        db_res_free(res);
        return AISPM_EUNAUTH;
    }
    actor_t *a = &r->actor;
    a->kind = ACTOR_SESSION;
    a->session_id = db_res_int(res, 0);
    copy(a->csrf, sizeof a->csrf, db_res_str(res, 1));
    bool stale = db_res_int(res, 3) != 0;
    fill_actor(a, res, 5);
    db_res_free(res);
    if (stale)
        db_exec(r->app->db, "UPDATE sessions SET last_seen_at = UTC_TIMESTAMP(6) WHERE id = ?",
                DB_ARGS(DBI(a->session_id)), NULL, NULL);
    return 0;
}

int auth_resolve(req_t *r) {
    memset(&r->actor, 0, sizeof r->actor);
    if (r->authorization && *r->authorization) {
        if (strncasecmp(r->authorization, "Bearer ", 7) != 0) return AISPM_EUNAUTH;
        int rc = resolve_bearer(r, r->authorization + 7);
        if (rc) memset(&r->actor, 0, sizeof r->actor);
        return rc;
    }
    char cookie[128];
    if (req_cookie(r, SESSION_COOKIE, cookie, sizeof cookie)) {
        int rc = resolve_session(r, cookie);
        if (rc) memset(&r->actor, 0, sizeof r->actor);
        /* a stale cookie on a page is not an error: the user is just signed out */
        return rc == AISPM_EUNAUTH ? 0 : rc;
    }
    return 0;
}

bool auth_csrf_ok(const req_t *r) {
    if (r->actor.kind != ACTOR_SESSION) return true; /* bearer tokens carry no ambient authority */
    char tok[64] = "";
    if (r->csrf_header && strlen(r->csrf_header) < sizeof tok)
        copy(tok, sizeof tok, r->csrf_header);
    else if (!req_form(r, "_csrf", tok, sizeof tok))
        return false;
    size_t n = strlen(r->actor.csrf);
    return n == 43 && strlen(tok) == n && ct_equal(tok, r->actor.csrf, n);
}

static const char *dummy_hash(void) {
    static char h[128];
    if (!h[0] && password_hash("aispm-timing-equaliser", h, sizeof h)) h[0] = 0;
    return h;
}

static void record_attempt(db_t *db, const char *account_key, const char *client_key, bool ok) {
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    db_exec(db, "INSERT INTO login_attempts (account_key, client_key, succeeded, created_at) VALUES (?, ?, ?, ?)",
            DB_ARGS(DBS(account_key), DBS(client_key), DBI(ok ? 1 : 0), DBS(now)), NULL, NULL);
}

static long long recent_failures(db_t *db, const char *sql, const char *key, int window) {
    db_res_t *res;
    if (db_query(db, sql, DB_ARGS(DBS(key), DBI(window)), &res)) return -1;
    long long n = db_res_next(res) ? db_res_int(res, 0) : 0;
    db_res_free(res);
    return n;
}

int auth_login(req_t *r, const char *email, const char *password) {
    db_t *db = r->app->db;
    const config_t *cfg = &r->app->cfg;
    char lower[256], account_key[65], client_key[65];
    size_t n = strlen(email);
    if (n == 0 || n >= sizeof lower || strlen(password) > 1024) return AISPM_EUNAUTH;
    for (size_t i = 0; i <= n; i++) lower[i] = (char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
    sha256_hex(lower, n, account_key);
    const char *ip = r->remote_addr ? r->remote_addr : "";
    sha256_hex(ip, strlen(ip), client_key);

    long long fa = recent_failures(db,
                                   "SELECT COUNT(*) FROM login_attempts WHERE account_key = ? AND succeeded = 0 "
                                   "AND created_at > UTC_TIMESTAMP(6) - INTERVAL ? SECOND",
                                   account_key, cfg->login_window_s);
    long long fc = recent_failures(db,
                                   "SELECT COUNT(*) FROM login_attempts WHERE client_key = ? AND succeeded = 0 "
                                   "AND created_at > UTC_TIMESTAMP(6) - INTERVAL ? SECOND",
                                   client_key, cfg->login_window_s);
    if (fa < 0 || fc < 0) return AISPM_EDB;

    db_res_t *res;
    int rc = db_query(db,
                      "SELECT u.password_hash, NULL, NULL, NULL, NULL, " ACTOR_COLS
                      " FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.email = ?",
                      DB_ARGS(DBS(lower)), &res);
    if (rc) return rc;
    actor_t a = {0};
    char hash[256] = "";
    bool found = db_res_next(res) != 0;
    bool disabled = false;
    if (found) {
        copy(hash, sizeof hash, db_res_str(res, 0));
        fill_actor(&a, res, 5);
        disabled = db_res_int(res, 9) != 0;
    }
    db_res_free(res);

    if (fa >= cfg->login_max_failures_per_account || fc >= cfg->login_max_failures_per_client) {
        if (found) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "reason", json_object_new_string(fa >= cfg->login_max_failures_per_account
                                                                           ? "account_throttled"
                                                                           : "client_throttled"));
            auth_evidence(db, &a, "auth.login_throttled", a.user_ref, "denied", r->request_id, d, NULL);
            json_object_put(d);
        }
        log_msg(LOG_WARN, "login_throttled", "login attempts throttled");
        return AISPM_ETOOMANY;
    }

    int pv = password_verify(found ? hash : dummy_hash(), password);
    if (!found || disabled || pv != 0) {
        record_attempt(db, account_key, client_key, false);
        if (found) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "reason", json_object_new_string(disabled ? "account_disabled"
                                                                                : "bad_credentials"));
            auth_evidence(db, &a, "auth.login_failed", a.user_ref, "failure", r->request_id, d, NULL);
            json_object_put(d);
        }
        return AISPM_EUNAUTH;
    }

    /* new session id on every login; the presented one (if any) is ended */
    uint8_t raw[32], craw[32];
    char cookie[44], csrf[44], chash[65], now[RFC3339_MAX], exp[RFC3339_MAX];
    if (random_bytes(raw, sizeof raw) || random_bytes(craw, sizeof craw)) return AISPM_ERR;
    b64url_encode(raw, 32, cookie);
    b64url_encode(craw, 32, csrf);
    sha256_hex(cookie, strlen(cookie), chash);
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    sql_datetime_format(t + (int64_t)cfg->session_absolute_timeout_s * 1000, exp);

    char old[128];
    rc = db_begin(db);
    if (!rc && req_cookie(r, SESSION_COOKIE, old, sizeof old) && strlen(old) == 43) {
        char ohash[65];
        sha256_hex(old, 43, ohash);
        rc = db_exec(db, "UPDATE sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
                     DB_ARGS(DBS(now), DBS(ohash)), NULL, NULL);
    }
    uint64_t sid = 0;
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO sessions (token_hash, tenant_id, user_id, csrf_token, created_at, last_seen_at, "
                     "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(chash), DBI(a.tenant_id), DBI(a.user_id), DBS(csrf), DBS(now), DBS(now), DBS(exp)),
                     NULL, &sid);
    if (!rc)
        rc = db_exec(db, "INSERT INTO login_attempts (account_key, client_key, succeeded, created_at) "
                         "VALUES (?, ?, 1, ?)",
                     DB_ARGS(DBS(account_key), DBS(client_key), DBS(now)), NULL, NULL);
    if (!rc) rc = auth_evidence(db, &a, "auth.login", a.user_ref, "success", r->request_id, NULL, NULL);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    if ((rc = db_commit(db))) return rc;
    a.kind = ACTOR_SESSION;
    a.session_id = (long long)sid;
    copy(a.csrf, sizeof a.csrf, csrf);
    r->actor = a;
    resp_cookie(r, SESSION_COOKIE, cookie, cfg->session_absolute_timeout_s);
    memset(raw, 0, sizeof raw);
    return 0;
}

int auth_logout(req_t *r) {
    if (r->actor.kind != ACTOR_SESSION) return 0;
    db_t *db = r->app->db;
    int rc = db_begin(db);
    if (!rc)
        rc = db_exec(db, "UPDATE sessions SET ended_at = UTC_TIMESTAMP(6) WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBI(r->actor.session_id), DBI(r->actor.tenant_id)), NULL, NULL);
    if (!rc) rc = auth_evidence(db, &r->actor, "auth.logout", r->actor.user_ref, "success", r->request_id, NULL, NULL);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    rc = db_commit(db);
    resp_cookie(r, SESSION_COOKIE, "", -1);
    return rc;
}

int tokens_create(db_t *db, const actor_t *by, long long user_id, const char *user_ref, const char *role,
                  const char *name, unsigned scopes, int ttl_days, const char *request_id, token_created_t *out) {
    if (!name || !*name || strlen(name) > 100 || scopes == 0 || ttl_days < 1 || ttl_days > 366) return AISPM_EINVAL;
    for (unsigned bit = 1; bit <= SCOPE_ADMIN; bit <<= 1)
        if ((scopes & bit) && !rbac_role_can_use_scope(role, bit)) return AISPM_EFORBIDDEN;
    uint8_t raw[32];
    char secret[44], hash[65], now[RFC3339_MAX], exp[RFC3339_MAX], sc[64];
    if (random_bytes(raw, sizeof raw)) return AISPM_ERR;
    b64url_encode(raw, 32, secret);
    memset(raw, 0, sizeof raw);
    snprintf(out->token, sizeof out->token, "%s%s", TOKEN_PREFIX, secret);
    memset(secret, 0, sizeof secret);
    sha256_hex(out->token, strlen(out->token), hash);
    if (ref_new("token", out->ref)) return AISPM_ERR;
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    sql_datetime_format(t + (int64_t)ttl_days * 86400000, exp);
    rfc3339_format(t + (int64_t)ttl_days * 86400000, 0, out->expires_at);
    rbac_scopes_format(scopes, sc, sizeof sc);
    int rc = db_begin(db);
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO api_tokens (ref, tenant_id, user_id, name, token_hash, scopes, created_at, "
                     "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(out->ref), DBI(by->tenant_id), DBI(user_id), DBS(name), DBS(hash), DBS(sc),
                             DBS(now), DBS(exp)),
                     NULL, NULL);
    if (!rc) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "token_ref", json_object_new_string(out->ref));
        json_object_object_add(d, "owner_ref", json_object_new_string(user_ref));
        json_object_object_add(d, "scopes", json_object_new_string(sc));
        json_object_object_add(d, "expires_at", json_object_new_string(out->expires_at));
        rc = auth_evidence(db, by, "token.created", out->ref, "success", request_id, d, NULL);
        json_object_put(d);
    }
    if (rc) {
        db_rollback(db);
        memset(out->token, 0, sizeof out->token);
        return rc;
    }
    return db_commit(db);
}

int tokens_revoke(db_t *db, const actor_t *by, const char *ref, bool any_user, const char *request_id) {
    if (!ref_parse(ref, "token", NULL, NULL)) return AISPM_ENOTFOUND;
    int rc = db_begin(db);
    uint64_t n = 0;
    if (!rc)
        rc = db_exec(db,
                     "UPDATE api_tokens SET revoked_at = UTC_TIMESTAMP(6) WHERE ref = ? AND tenant_id = ? "
                     "AND (? = 1 OR user_id = ?) AND revoked_at IS NULL",
                     DB_ARGS(DBS(ref), DBI(by->tenant_id), DBI(any_user ? 1 : 0), DBI(by->user_id)), &n, NULL);
    if (!rc && n == 0) rc = AISPM_ENOTFOUND;
    if (!rc) rc = auth_evidence(db, by, "token.revoked", ref, "success", request_id, NULL, NULL);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

int tokens_list(db_t *db, const actor_t *by, json_object **out) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT ref, name, scopes, DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%sZ'), "
                      "DATE_FORMAT(expires_at, '%Y-%m-%dT%H:%i:%sZ'), "
                      "DATE_FORMAT(revoked_at, '%Y-%m-%dT%H:%i:%sZ'), "
                      "DATE_FORMAT(last_used_at, '%Y-%m-%dT%H:%i:%sZ'), "
                      "(revoked_at IS NULL AND expires_at > UTC_TIMESTAMP(6)) "
                      "FROM api_tokens WHERE tenant_id = ? AND user_id = ? ORDER BY id DESC LIMIT 200",
                      DB_ARGS(DBI(by->tenant_id), DBI(by->user_id)), &res);
    if (rc) return rc;
    json_object *arr = json_object_new_array();
    while (db_res_next(res)) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "token_ref", json_object_new_string(db_res_str(res, 0)));
        json_object_object_add(o, "name", json_object_new_string(db_res_str(res, 1)));
        json_object_object_add(o, "scopes", json_object_new_string(db_res_str(res, 2)));
        json_object_object_add(o, "created_at", json_object_new_string(db_res_str(res, 3)));
        json_object_object_add(o, "expires_at", json_object_new_string(db_res_str(res, 4)));
        json_object_object_add(o, "revoked_at",
                               db_res_isnull(res, 5) ? NULL : json_object_new_string(db_res_str(res, 5)));
        json_object_object_add(o, "last_used_at",
                               db_res_isnull(res, 6) ? NULL : json_object_new_string(db_res_str(res, 6)));
        json_object_object_add(o, "active", json_object_new_boolean(db_res_int(res, 7) != 0));
        json_object_array_add(arr, o);
    }
    db_res_free(res);
    *out = arr;
    return 0;
}
