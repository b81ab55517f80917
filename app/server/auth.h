/*
 * auth.h: sessions, bearer tokens, login throttling and CSRF.
 *
 * Cookie sessions: the cookie holds 32 random bytes (base64url); the database
 * stores only their SHA-256. A session ends at its idle or absolute timeout or
 * at logout; login always creates a new session id (and ends any session the
 * browser presented). Bearer tokens: `aispm_` + 43 base64url chars, shown
 * once, stored as SHA-256, bound to a tenant and user, scoped, expiring and
 * revocable. Every lookup joins the tenant, so the actor's tenant comes from
 * the credential and never from the request.
 */
#ifndef AISPM_SERVER_AUTH_H
#define AISPM_SERVER_AUTH_H

#include "server/http.h"

#define SESSION_COOKIE "aispm_session"
#define LOGIN_CSRF_COOKIE "aispm_login"
#define TOKEN_PREFIX "aispm_"
#define TOKEN_TEXT_MAX 64

/* fills r->actor from Authorization: Bearer or the session cookie. Returns 0
 * (actor may still be ACTOR_NONE) or AISPM_EUNAUTH when a credential was
 * presented but is invalid/expired/revoked. */
int auth_resolve(req_t *r);
/* checks the CSRF token of a cookie-authenticated state change (form field
 * `_csrf` or header X-CSRF-Token) */
bool auth_csrf_ok(const req_t *r);

/* verifies credentials with throttling; on success creates a session, sets
 * the cookie and fills r->actor. AISPM_EUNAUTH, AISPM_ETOOMANY, AISPM_EDB. */
int auth_login(req_t *r, const char *email, const char *password);
int auth_logout(req_t *r);

typedef struct {
    char ref[REF_MAX];
    char token[TOKEN_TEXT_MAX]; /* plaintext, only right after creation */
    char expires_at[40];
} token_created_t;

/* creates a token for (tenant, user) with scopes; the plaintext is returned
 * once and never stored. Records evidence. */
int tokens_create(db_t *db, const actor_t *by, long long user_id, const char *user_ref, const char *role,
                  const char *name, unsigned scopes, int ttl_days, const char *request_id, token_created_t *out);
/* revokes a token of the actor's tenant (own tokens, or any when
 * any_user); AISPM_ENOTFOUND if it is not theirs */
int tokens_revoke(db_t *db, const actor_t *by, const char *ref, bool any_user, const char *request_id);
/* lists the actor's tokens (no secrets) */
int tokens_list(db_t *db, const actor_t *by, json_object **out);

/* evidence helper for an actor (tenant, actor ref and role filled in) */
int auth_evidence(db_t *db, const actor_t *a, const char *action, const char *object_ref, const char *outcome,
                  const char *request_id, json_object *details, char *ref_out);

#endif
