/*
 * rbac.c: the role/permission matrix (see rbac.h). The matrix is data, kept
 * in one table so the documentation and the enforcement cannot drift.
 */
#include "server/rbac.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

const char *const rbac_roles[ROLE_COUNT] = {
    "tenant_admin", "cso",         "security_admin", "report_operator", "approver",
    "auditor",      "grc_analyst", "platform_owner", "trial_operator",  "evaluator",
};

static const struct {
    perm_t perm;
    const char *name;
    unsigned scope;
    const char *desc;
} perms[PERM__COUNT] = {
    [PERM_NONE] = {PERM_NONE, "none", 0, "invalid"},
    [PERM_PUBLIC] = {PERM_PUBLIC, "public", 0, "no authentication (health, login, public keys)"},
    [PERM_SELF] = {PERM_SELF, "self", 0, "any signed-in user: home, own profile, logout"},
    [PERM_CATALOG_READ] = {PERM_CATALOG_READ, "catalog.read", SCOPE_REPORTS_READ, "see the report catalog"},
    [PERM_CATALOG_MANAGE] = {PERM_CATALOG_MANAGE, "catalog.manage", SCOPE_ADMIN, "enable or disable report types"},
    [PERM_SETTINGS_READ] = {PERM_SETTINGS_READ, "settings.read", SCOPE_REPORTS_READ, "read delivery settings"},
    [PERM_SETTINGS_WRITE] = {PERM_SETTINGS_WRITE, "settings.write", SCOPE_ADMIN, "run the setup wizard"},
    [PERM_TOKENS_MANAGE] = {PERM_TOKENS_MANAGE, "tokens.manage", SCOPE_ADMIN, "create and revoke own API tokens"},
    [PERM_AUDIT_READ] = {PERM_AUDIT_READ, "audit.read", SCOPE_REPORTS_READ, "read and verify the evidence chain"},
    [PERM_REPORTS_RENDER] = {PERM_REPORTS_RENDER, "reports.render", SCOPE_REPORTS_WRITE, "render reports"},
    [PERM_REPORTS_SEND] = {PERM_REPORTS_SEND, "reports.send", SCOPE_REPORTS_WRITE, "send reports"},
    [PERM_APPROVALS_DECIDE] = {PERM_APPROVALS_DECIDE, "approvals.decide", SCOPE_REPORTS_WRITE, "approve or reject"},
    [PERM_INGEST] = {PERM_INGEST, "ingest", SCOPE_INGEST, "post AISPM events"},
    [PERM_USERS_MANAGE] = {PERM_USERS_MANAGE, "users.manage", SCOPE_ADMIN, "manage users and roles"},
    [PERM_EVIDENCE_ROOMS_MANAGE] = {PERM_EVIDENCE_ROOMS_MANAGE, "evidence_rooms.manage", SCOPE_REPORTS_WRITE,
                                    "create and revoke evidence rooms"},
    [PERM_EVIDENCE_ROOMS_ACCESS] = {PERM_EVIDENCE_ROOMS_ACCESS, "evidence_rooms.access", SCOPE_REPORTS_READ,
                                    "an auditor's own evidence rooms (nothing else)"},
    [PERM_TRIAL_OPERATE] = {PERM_TRIAL_OPERATE, "trial.operate", SCOPE_ADMIN, "run the trial validation"},
    [PERM_RETENTION_MANAGE] = {PERM_RETENTION_MANAGE, "retention.manage", SCOPE_REPORTS_WRITE,
                               "request legal holds and deletions, revoke reports"},
};

#define P(x) (1u << (x))
/* role -> permission bitmask (PERM_PUBLIC and PERM_SELF are implicit) */
static const unsigned role_perms[ROLE_COUNT] = {
    /* tenant_admin */
    P(PERM_CATALOG_READ) | P(PERM_CATALOG_MANAGE) | P(PERM_SETTINGS_READ) | P(PERM_SETTINGS_WRITE) |
        P(PERM_TOKENS_MANAGE) | P(PERM_AUDIT_READ) | P(PERM_REPORTS_RENDER) | P(PERM_REPORTS_SEND) |
        P(PERM_APPROVALS_DECIDE) | P(PERM_INGEST) | P(PERM_USERS_MANAGE) | P(PERM_EVIDENCE_ROOMS_MANAGE) |
        P(PERM_RETENTION_MANAGE),
    /* cso */
    P(PERM_CATALOG_READ) | P(PERM_SETTINGS_READ) | P(PERM_TOKENS_MANAGE) | P(PERM_AUDIT_READ) |
        P(PERM_REPORTS_RENDER) | P(PERM_REPORTS_SEND) | P(PERM_APPROVALS_DECIDE) | P(PERM_RETENTION_MANAGE),
    /* security_admin */
    P(PERM_CATALOG_READ) | P(PERM_CATALOG_MANAGE) | P(PERM_SETTINGS_READ) | P(PERM_SETTINGS_WRITE) |
        P(PERM_TOKENS_MANAGE) | P(PERM_AUDIT_READ) | P(PERM_REPORTS_RENDER) | P(PERM_INGEST) |
        P(PERM_EVIDENCE_ROOMS_MANAGE) | P(PERM_RETENTION_MANAGE),
    /* report_operator */
    P(PERM_CATALOG_READ) | P(PERM_SETTINGS_READ) | P(PERM_TOKENS_MANAGE) | P(PERM_REPORTS_RENDER) |
        P(PERM_REPORTS_SEND),
    /* approver */
    P(PERM_CATALOG_READ) | P(PERM_AUDIT_READ) | P(PERM_APPROVALS_DECIDE),
    /* auditor: invited accounts that see their own evidence rooms only */
    P(PERM_EVIDENCE_ROOMS_ACCESS),
    /* grc_analyst */
    P(PERM_CATALOG_READ) | P(PERM_SETTINGS_READ) | P(PERM_TOKENS_MANAGE) | P(PERM_AUDIT_READ) |
        P(PERM_REPORTS_RENDER) | P(PERM_EVIDENCE_ROOMS_MANAGE) | P(PERM_RETENTION_MANAGE),
    /* platform_owner */
    P(PERM_CATALOG_READ) | P(PERM_CATALOG_MANAGE) | P(PERM_SETTINGS_READ) | P(PERM_SETTINGS_WRITE) |
        P(PERM_TOKENS_MANAGE) | P(PERM_AUDIT_READ) | P(PERM_INGEST) | P(PERM_USERS_MANAGE),
    /* trial_operator */
    P(PERM_CATALOG_READ) | P(PERM_SETTINGS_READ) | P(PERM_AUDIT_READ) | P(PERM_TRIAL_OPERATE),
    /* evaluator */
    P(PERM_CATALOG_READ) | P(PERM_SETTINGS_READ) | P(PERM_REPORTS_RENDER),
};

static const struct {
    const char *name;
    unsigned bit;
} scopes[] = {
    {"reports:read", SCOPE_REPORTS_READ},
    {"reports:write", SCOPE_REPORTS_WRITE},
    {"ingest", SCOPE_INGEST},
    {"admin", SCOPE_ADMIN},
};
#define NSCOPES (sizeof scopes / sizeof scopes[0])

const char *perm_name(perm_t p) { return (p > PERM_NONE && p < PERM__COUNT) ? perms[p].name : "none"; }

static int role_index(const char *role) {
    for (int i = 0; i < ROLE_COUNT; i++)
        if (role && strcmp(role, rbac_roles[i]) == 0) return i;
    return -1;
}

bool rbac_role_valid(const char *role) { return role_index(role) >= 0; }

bool rbac_role_has(const char *role, perm_t p) {
    if (p == PERM_PUBLIC) return true;
    int i = role_index(role);
    if (i < 0 || p <= PERM_NONE || p >= PERM__COUNT) return false;
    if (p == PERM_SELF) return true;
    return (role_perms[i] & P(p)) != 0;
}

unsigned rbac_perm_scope(perm_t p) { return (p > PERM_NONE && p < PERM__COUNT) ? perms[p].scope : 0; }

int rbac_scopes_parse(const char *csv, unsigned *out) {
    *out = 0;
    const char *s = csv;
    while (*s) {
        while (*s == ' ' || *s == ',') s++;
        if (!*s) break;
        size_t n = strcspn(s, ", ");
        unsigned bit = 0;
        for (size_t i = 0; i < NSCOPES; i++)
            if (strlen(scopes[i].name) == n && strncmp(s, scopes[i].name, n) == 0) bit = scopes[i].bit;
        if (!bit) return AISPM_EINVAL;
        *out |= bit;
        s += n;
    }
    return *out ? 0 : AISPM_EINVAL;
}

void rbac_scopes_format(unsigned v, char *out, size_t outlen) {
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < NSCOPES; i++)
        if (v & scopes[i].bit) {
            int n = snprintf(out + off, outlen - off, "%s%s", off ? "," : "", scopes[i].name);
            if (n < 0 || (size_t)n >= outlen - off) return;
            off += (size_t)n;
        }
}

bool rbac_role_can_use_scope(const char *role, unsigned scope_bit) {
    int i = role_index(role);
    if (i < 0) return false;
    for (int p = PERM_CATALOG_READ; p < PERM__COUNT; p++)
        if ((perms[p].scope & scope_bit) && (role_perms[i] & P(p))) return true;
    return false;
}

void rbac_matrix_markdown(void (*emit)(const char *line, void *ctx), void *ctx) {
    char line[1024];
    int off = snprintf(line, sizeof line, "| permission | token scope |");
    for (int r = 0; r < ROLE_COUNT; r++) off += snprintf(line + off, sizeof line - (size_t)off, " %s |", rbac_roles[r]);
    emit(line, ctx);
    off = snprintf(line, sizeof line, "|---|---|");
    for (int r = 0; r < ROLE_COUNT; r++) off += snprintf(line + off, sizeof line - (size_t)off, "---|");
    emit(line, ctx);
    for (int p = PERM_PUBLIC; p < PERM__COUNT; p++) {
        char sc[64] = "—";
        if (perms[p].scope) rbac_scopes_format(perms[p].scope, sc, sizeof sc);
        off = snprintf(line, sizeof line, "| `%s` (%s) | %s |", perms[p].name, perms[p].desc, sc);
        for (int r = 0; r < ROLE_COUNT; r++)
            off += snprintf(line + off, sizeof line - (size_t)off, " %s |",
                            rbac_role_has(rbac_roles[r], (perm_t)p) ? "✓" : "");
        emit(line, ctx);
    }
}
