/*
 * rbac.h: permissions, roles and token scopes.
 *
 * Every route names exactly one permission (router.c refuses a route without
 * one). A request is allowed when the actor's role grants the permission and,
 * for bearer tokens, one of the token's scopes covers it. PERM_PUBLIC is an
 * explicit "no authentication" marker, never a default.
 * docs/rbac.md is generated from this table (`aispm admin rbac-matrix`).
 */
#ifndef AISPM_SERVER_RBAC_H
#define AISPM_SERVER_RBAC_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    PERM_NONE = 0, /* invalid: a route with PERM_NONE is refused */
    PERM_PUBLIC,   /* no authentication required */
    PERM_SELF,     /* any authenticated actor (own profile, logout) */
    PERM_CATALOG_READ,
    PERM_CATALOG_MANAGE,
    PERM_SETTINGS_READ,
    PERM_SETTINGS_WRITE,
    PERM_TOKENS_MANAGE,
    PERM_AUDIT_READ,
    PERM_REPORTS_RENDER,
    PERM_REPORTS_SEND,
    PERM_APPROVALS_DECIDE,
    PERM_INGEST,
    PERM_USERS_MANAGE,
    PERM_EVIDENCE_ROOMS_MANAGE,
    PERM_EVIDENCE_ROOMS_ACCESS,
    PERM_TRIAL_OPERATE,
    PERM_RETENTION_MANAGE,
    PERM__COUNT
} perm_t;

typedef enum {
    SCOPE_REPORTS_READ = 1u << 0,  /* reports:read */
    SCOPE_REPORTS_WRITE = 1u << 1, /* reports:write */
    SCOPE_INGEST = 1u << 2,        /* ingest */
    SCOPE_ADMIN = 1u << 3,         /* admin */
} scope_t;

#define ROLE_COUNT 10
extern const char *const rbac_roles[ROLE_COUNT];

const char *perm_name(perm_t p);
bool rbac_role_valid(const char *role);
bool rbac_role_has(const char *role, perm_t p);
/* the scope a token needs for p (0 for PERM_PUBLIC / PERM_SELF) */
unsigned rbac_perm_scope(perm_t p);
/* "reports:read,ingest" -> bitmask; AISPM_EINVAL on an unknown scope */
int rbac_scopes_parse(const char *csv, unsigned *out);
void rbac_scopes_format(unsigned scopes, char *out, size_t outlen);
/* true when role holds at least one permission that scope covers */
bool rbac_role_can_use_scope(const char *role, unsigned scope_bit);
/* Markdown table of the matrix (docs/rbac.md) */
void rbac_matrix_markdown(void (*emit)(const char *line, void *ctx), void *ctx);

#endif
