/*
 * ingestion.c: validation, idempotent storage and the posture projection of
 * live AISPM ingestion envelopes (see ingestion.h for the rules).
 *
 * Validation is table-driven: each object of the contract is a list of member
 * descriptors (type, required, const, enum, date-time, minLength, our own
 * bounds), and members not in the list are errors (additionalProperties:
 * false). Messages never include the submitted value.
 *
 * Storage: one transaction per request. The event rows are inserted first, so
 * a repeat meets the unique keys (tenant, event_id) and (tenant,
 * idempotency_key) before it touches anything shared; a racing repeat waits
 * for the first writer's row lock and then gets a duplicate-key error, and
 * is answered with the committed original. The posture and health counters
 * of all accepted envelopes are aggregated in memory and applied last, one
 * upsert per distinct row, in one fixed order (table, then key bytes) in
 * every transaction, so concurrent ingestions of one tenant queue on these
 * hot rows instead of deadlocking. A deadlock or lock timeout that happens
 * anyway (crossing event ids in two batches) is retried from scratch.
 *
 * Invariants: nothing of an envelope is stored unless it is valid and the
 * tenant is the actor's; payload_ref and actor_ref are written to their own
 * columns and never read back by any projection; every accepted envelope has
 * its evidence event in the same transaction.
 */
#include "reports/ingestion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/evidence.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "server/auth.h"

/* ------------------------------------------------------------ the contract */

enum { T_STR = 1, T_BOOL, T_INT, T_OBJ, T_STRARR, T_ANY };
enum {
    F_REQUIRED = 1 << 0,
    F_NONEMPTY = 1 << 1,    /* minLength: 1 */
    F_DATETIME = 1 << 2,    /* format: date-time */
    F_IDCHARS = 1 << 3,     /* our rule: addressable in a URL path segment */
    F_CONST_FALSE = 1 << 4, /* const: false */
    F_RAW_CLAIM = 1 << 5,   /* true means raw content is included: refused */
};

typedef struct obj_desc obj_desc_t;
typedef struct {
    const char *name;
    int type; /* T_ANY: the schema gives only const/enum */
    int flags;
    int maxlen; /* characters (strings) or items (arrays); 0 = no bound of ours */
    const char *const_str;
    const char *const *choices; /* NULL-terminated */
    const obj_desc_t *obj;
} member_t;

struct obj_desc {
    const member_t *members;
    int n;
};

static const char *const event_types[] = {"prompt",          "model_response",
                                          "reasoning_trace", "tool_call",
                                          "file_action",     "shell_command",
                                          "git_operation",   "mcp_activity",
                                          "ci_runner_event", "cloud_iac_event",
                                          "policy_decision", "approval_event",
                                          "evidence_event",  NULL};
static const char *const decisions[] = {
    "allow", "warn", "block", "require_approval", "allow_with_attestation", "audit_only", "not_applicable", NULL};
static const char *const severities[] = {"none", "low", "medium", "high", "critical", NULL};
static const char *const connector_types[] = {"codex",           "claude_code",    "github_copilot", "cursor",
                                              "gemini_cli",      "mcp_server",     "github_actions", "gitlab_ci",
                                              "azure_pipelines", "cloud_provider", "custom",         NULL};
static const char *const environments[] = {"dev", "test", "staging", "production", "sandbox", NULL};
static const char *const payload_handlings[] = {"metadata_only", "redacted_summary", "private_payload_ref", NULL};
static const char *const hash_algorithms[] = {"sha256", "sha384", "sha512", NULL};
static const char *const ingress_modes[] = {"https", "sse", "websocket", "queue", "batch", NULL};
static const char *const delivery_semantics[] = {"at_least_once", "exactly_once_private", "best_effort", NULL};

#define N_(a) ((int)(sizeof a / sizeof a[0]))
#define ENT "requires_cavra_enterprise"

static const member_t event_m[] = {
    {"event_id", T_STR, F_REQUIRED | F_NONEMPTY | F_IDCHARS, INGESTION_ID_MAX, 0, 0, 0},
    {"event_type", T_ANY, F_REQUIRED, 0, 0, event_types, 0},
    {"occurred_at", T_STR, F_REQUIRED | F_DATETIME, 64, 0, 0, 0},
    {"received_at", T_STR, F_DATETIME, 64, 0, 0, 0},
    {"session_id", T_STR, F_REQUIRED | F_NONEMPTY, INGESTION_ID_MAX, 0, 0, 0},
    {"agent_id", T_STR, F_REQUIRED | F_NONEMPTY, INGESTION_ID_MAX, 0, 0, 0},
    {"repository", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"actor_ref", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"tool_name", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"action_type", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"target_summary", T_STR, 0, INGESTION_SUMMARY_MAX, 0, 0, 0},
    {"decision", T_ANY, 0, 0, 0, decisions, 0},
    {"severity", T_ANY, 0, 0, 0, severities, 0},
    {"risk_classification", T_STR, 0, INGESTION_ID_MAX, 0, 0, 0},
    {"policy_pack", T_STR, 0, INGESTION_ID_MAX, 0, 0, 0},
    {"evidence_refs", T_STRARR, 0, INGESTION_EVIDENCE_REFS_MAX, 0, 0, 0},
    {"payload_ref", T_STR, 0, INGESTION_PAYLOAD_REF_MAX, 0, 0, 0},
};
static const member_t source_m[] = {
    {"connector_type", T_ANY, F_REQUIRED, 0, 0, connector_types, 0},
    {"connector_id", T_STR, F_REQUIRED | F_NONEMPTY, INGESTION_ID_MAX, 0, 0, 0},
    {"runtime_version", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"collector_version", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
};
static const member_t tenant_m[] = {
    {"tenant_ref", T_STR, F_REQUIRED, INGESTION_REF_MAX, 0, 0, 0},
    {"environment", T_ANY, F_REQUIRED, 0, 0, environments, 0},
    {"region", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"data_residency_ref", T_STR, 0, INGESTION_REF_MAX, 0, 0, 0},
};
static const member_t redaction_m[] = {
    {"payload_handling", T_ANY, F_REQUIRED, 0, 0, payload_handlings, 0},
    {"raw_prompt_included", T_ANY, F_REQUIRED | F_CONST_FALSE | F_RAW_CLAIM, 0, 0, 0, 0},
    {"reasoning_included", T_ANY, F_REQUIRED | F_CONST_FALSE | F_RAW_CLAIM, 0, 0, 0, 0},
    {"tool_output_included", T_ANY, F_REQUIRED | F_CONST_FALSE | F_RAW_CLAIM, 0, 0, 0, 0},
    {"redaction_profile", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"private_payload_required", T_BOOL, 0, 0, 0, 0, 0},
};
static const member_t integrity_m[] = {
    {"signature_required", T_BOOL, F_REQUIRED, 0, 0, 0, 0},
    {"signature_ref", T_STR, 0, INGESTION_REF_MAX, 0, 0, 0},
    {"hash_algorithm", T_ANY, F_REQUIRED, 0, 0, hash_algorithms, 0},
    {"payload_hash", T_STR, 0, INGESTION_NAME_MAX, 0, 0, 0},
    {"chain_ref", T_STR, 0, INGESTION_REF_MAX, 0, 0, 0},
};
static const member_t transport_m[] = {
    {"ingress_mode", T_ANY, F_REQUIRED, 0, 0, ingress_modes, 0},
    {"delivery_semantics", T_ANY, F_REQUIRED, 0, 0, delivery_semantics, 0},
    {"idempotency_key", T_STR, 0, INGESTION_KEY_MAX, 0, 0, 0},
    {"retry_count", T_INT, 0, 0, 0, 0, 0},
};
static const member_t boundaries_m[] = {
    {"collector_implementation", T_ANY, F_REQUIRED, 0, ENT, 0, 0},
    {"tenant_persistence", T_ANY, F_REQUIRED, 0, ENT, 0, 0},
    {"streaming_transport", T_ANY, F_REQUIRED, 0, ENT, 0, 0},
    {"raw_payload_storage", T_ANY, F_REQUIRED, 0, ENT, 0, 0},
    {"license_enforcement", T_ANY, F_REQUIRED, 0, ENT, 0, 0},
};
static const obj_desc_t event_d = {event_m, N_(event_m)}, source_d = {source_m, N_(source_m)},
                        tenant_d = {tenant_m, N_(tenant_m)}, redaction_d = {redaction_m, N_(redaction_m)},
                        integrity_d = {integrity_m, N_(integrity_m)}, transport_d = {transport_m, N_(transport_m)},
                        boundaries_d = {boundaries_m, N_(boundaries_m)};
static const member_t envelope_m[] = {
    {"schema_version", T_ANY, F_REQUIRED, 0, INGESTION_SCHEMA_VERSION, 0, 0},
    {"product", T_ANY, F_REQUIRED, 0, "CAVRA", 0, 0},
    {"edition", T_ANY, F_REQUIRED, 0, "enterprise", 0, 0},
    {"contract_visibility", T_ANY, F_REQUIRED, 0, "public_contract", 0, 0},
    {"event", T_OBJ, F_REQUIRED, 0, 0, 0, &event_d},
    {"source", T_OBJ, F_REQUIRED, 0, 0, 0, &source_d},
    {"tenant", T_OBJ, F_REQUIRED, 0, 0, 0, &tenant_d},
    {"redaction", T_OBJ, F_REQUIRED, 0, 0, 0, &redaction_d},
    {"integrity", T_OBJ, F_REQUIRED, 0, 0, 0, &integrity_d},
    {"transport", T_OBJ, F_REQUIRED, 0, 0, 0, &transport_d},
    {"enterprise_boundaries", T_OBJ, F_REQUIRED, 0, 0, 0, &boundaries_d},
};
static const obj_desc_t envelope_d = {envelope_m, N_(envelope_m)};

/* ------------------------------------------------------------- validation */

typedef struct {
    json_object *errors;
    int count;
    bool raw_claim;
} vctx_t;

static void add_error(vctx_t *c, const char *path, const char *msg) {
    if (c->count == INGESTION_ERRORS_MAX) {
        json_object_object_add(c->errors, "_truncated", json_object_new_string("more errors were found"));
        c->count++;
        return;
    }
    if (c->count > INGESTION_ERRORS_MAX) return;
    if (json_object_object_get_ex(c->errors, path, NULL)) return; /* first message per path */
    json_object_object_add(c->errors, path, json_object_new_string(msg));
    c->count++;
}

/* "prefix.name", with a member name from the request cut to 64 bytes at a
 * UTF-8 boundary (unknown members are named in errors, but bounded) */
static void join_path(char *out, size_t outlen, const char *prefix, const char *name) {
    size_t n = strlen(name);
    if (n > 64) {
        n = 64;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) n--;
    }
    snprintf(out, outlen, "%s%s%.*s%s", prefix, *prefix ? "." : "", (int)n, name, n < strlen(name) ? "..." : "");
}

/* checks a string's encoding and bounds; returns a message or NULL */
static const char *text_problem(const char *s, size_t len, int maxchars, bool nonempty) {
    if (!utf8_valid(s, len)) return "must be valid UTF-8";
    if (nonempty && len == 0) return "must not be empty";
    long chars = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return "must not contain control characters";
        if ((c & 0xC0) != 0x80) chars++;
    }
    if (maxchars > 0 && chars > maxchars) {
        static _Thread_local char msg[64];
        snprintf(msg, sizeof msg, "must be at most %d characters", maxchars);
        return msg;
    }
    return NULL;
}

static bool id_chars_ok(const char *s) {
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._:~-", c)))
            return false;
    }
    return true;
}

static void choices_message(const char *const *choices, char *out, size_t outlen) {
    size_t off = (size_t)snprintf(out, outlen, "must be one of: ");
    for (int i = 0; choices[i] && off < outlen; i++)
        off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? ", " : "", choices[i]);
}

static void validate_obj(vctx_t *c, json_object *o, const obj_desc_t *d, const char *prefix);

static void validate_member(vctx_t *c, const member_t *m, json_object *v, const char *path) {
    char msg[256];
    if (m->flags & F_CONST_FALSE) {
        if (json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v)) return;
        if ((m->flags & F_RAW_CLAIM) && json_object_is_type(v, json_type_boolean)) {
            c->raw_claim = true;
            add_error(c, path,
                      "raw prompts, reasoning and tool output are not accepted: send metadata only "
                      "(this must be false)");
            return;
        }
        add_error(c, path, "must be false");
        return;
    }
    if (m->const_str) {
        if (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), m->const_str) != 0 ||
            (size_t)json_object_get_string_len(v) != strlen(m->const_str)) {
            snprintf(msg, sizeof msg, "must be \"%s\"", m->const_str);
            add_error(c, path, msg);
        }
        return;
    }
    if (m->choices) {
        if (json_object_is_type(v, json_type_string) &&
            (size_t)json_object_get_string_len(v) == strlen(json_object_get_string(v)))
            for (int i = 0; m->choices[i]; i++)
                if (!strcmp(json_object_get_string(v), m->choices[i])) return;
        choices_message(m->choices, msg, sizeof msg);
        add_error(c, path, msg);
        return;
    }
    switch (m->type) {
    case T_STR: {
        if (!json_object_is_type(v, json_type_string)) {
            add_error(c, path, "must be a string");
            return;
        }
        const char *s = json_object_get_string(v);
        size_t len = (size_t)json_object_get_string_len(v);
        const char *why = text_problem(s, len, m->maxlen, m->flags & F_NONEMPTY);
        if (!why && strlen(s) != len) why = "must not contain control characters"; /* embedded NUL */
        if (why) {
            add_error(c, path, why);
            return;
        }
        if ((m->flags & F_IDCHARS) && !id_chars_ok(s)) {
            add_error(c, path, "may contain only letters, digits and . _ : ~ -");
            return;
        }
        int64_t ms;
        if ((m->flags & F_DATETIME) && (rfc3339_parse(s, &ms) != 0 || ms < 0 || ms > INT64_C(253402300799999)))
            add_error(c, path, "must be an RFC 3339 date-time from 1970 on, such as 2026-06-11T08:00:00Z");
        return;
    }
    case T_BOOL:
        if (!json_object_is_type(v, json_type_boolean)) add_error(c, path, "must be true or false");
        return;
    case T_INT: {
        bool ok = false;
        if (json_object_is_type(v, json_type_int)) {
            int64_t n = json_object_get_int64(v);
            ok = n >= 0 && n <= INGESTION_RETRY_MAX;
        } else if (json_object_is_type(v, json_type_double)) {
            /* JSON Schema: an integer is any number with a zero fraction */
            double d = json_object_get_double(v);
            ok = d >= 0 && d <= INGESTION_RETRY_MAX && d == (double)(int64_t)d;
        }
        if (!ok) {
            snprintf(msg, sizeof msg, "must be a whole number from 0 to %d", INGESTION_RETRY_MAX);
            add_error(c, path, msg);
        }
        return;
    }
    case T_STRARR: {
        if (!json_object_is_type(v, json_type_array)) {
            add_error(c, path, "must be an array of strings");
            return;
        }
        size_t n = json_object_array_length(v);
        if (m->maxlen && n > (size_t)m->maxlen) {
            snprintf(msg, sizeof msg, "must hold at most %d items", m->maxlen);
            add_error(c, path, msg);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            json_object *it = json_object_array_get_idx(v, i);
            char ipath[300];
            snprintf(ipath, sizeof ipath, "%.256s.%zu", path, i);
            if (!json_object_is_type(it, json_type_string)) {
                add_error(c, ipath, "must be a string");
                continue;
            }
            size_t len = (size_t)json_object_get_string_len(it);
            const char *why = text_problem(json_object_get_string(it), len, INGESTION_REF_MAX, false);
            if (!why && strlen(json_object_get_string(it)) != len) why = "must not contain control characters";
            if (why) add_error(c, ipath, why);
        }
        return;
    }
    case T_OBJ:
        if (!json_object_is_type(v, json_type_object)) {
            add_error(c, path, "must be an object");
            return;
        }
        validate_obj(c, v, m->obj, path);
        return;
    default: return;
    }
}

static void validate_obj(vctx_t *c, json_object *o, const obj_desc_t *d, const char *prefix) {
    char path[256];
    for (int i = 0; i < d->n; i++) {
        const member_t *m = &d->members[i];
        json_object *v;
        join_path(path, sizeof path, prefix, m->name);
        if (!json_object_object_get_ex(o, m->name, &v)) {
            if (m->flags & F_REQUIRED) add_error(c, path, "is required");
            continue;
        }
        validate_member(c, m, v, path);
    }
    json_object_object_foreach(o, key, val) {
        (void)val;
        bool known = false;
        for (int i = 0; i < d->n && !known; i++) known = !strcmp(key, d->members[i].name);
        if (known) continue;
        join_path(path, sizeof path, prefix, key);
        add_error(c, path, "is not a member of the contract (no additional members are allowed)");
    }
}

int ingestion_validate(json_object *env, json_object **errors, const char **code) {
    vctx_t c = {json_object_new_object(), 0, false};
    if (!json_object_is_type(env, json_type_object))
        add_error(&c, "envelope", "must be a JSON object");
    else
        validate_obj(&c, env, &envelope_d, "");
    if (code) *code = c.raw_claim ? INGESTION_RAW_CONTENT_REFUSED : INGESTION_VALIDATION_FAILED;
    if (c.count == 0) {
        json_object_put(c.errors);
        *errors = NULL;
        return 0;
    }
    *errors = c.errors;
    return AISPM_EINVAL;
}

/* ---------------------------------------------------------------- helpers */

static const char *str_at(json_object *o, const char *a, const char *b) {
    json_object *x, *y;
    if (!json_object_object_get_ex(o, a, &x)) return NULL;
    if (!json_object_object_get_ex(x, b, &y) || !json_object_is_type(y, json_type_string)) return NULL;
    return json_object_get_string(y);
}

static int severity_rank(const char *s) {
    if (!s) return 0;
    for (int i = 0; severities[i]; i++)
        if (!strcmp(s, severities[i])) return i;
    return 0;
}

static void sqlts(int64_t ms, char out[RFC3339_MAX]) { sql_datetime_format(ms, out); }

/* "YYYY-MM-DD HH:MM:SS.ffffff" -> RFC 3339 with milliseconds */
static json_object *ts_json(const char *sql) {
    int64_t ms;
    if (!sql || !*sql || sql_datetime_parse(sql, &ms)) return NULL;
    char out[RFC3339_MAX];
    rfc3339_format(ms, 1, out);
    return json_object_new_string(out);
}

static json_object *public_evidence_ref(const char *full) {
    char pub[EVIDENCE_REF_MAX];
    if (!full || !*full || evidence_ref_public(full, pub)) return NULL;
    return json_object_new_string(pub);
}

static bool retryable(db_t *db) {
    unsigned no = db_errno(db);
    return no == 1213 /* ER_LOCK_DEADLOCK */ || no == 1205 /* ER_LOCK_WAIT_TIMEOUT */;
}

/* ------------------------------------------------------------------ items */

enum { IT_REJECTED = 0, IT_VALID, IT_ACCEPTED, IT_DUPLICATE };

typedef struct {
    json_object *env; /* borrowed */
    int state;
    const char *reason;
    json_object *errors; /* owned, rejected only */
    /* fields of a valid envelope (borrowed from env) */
    const char *event_id, *idem, *event_type, *session_id, *agent_id, *decision, *severity, *risk, *pack, *ctype, *cid,
        *environment, *payload_ref, *actor_ref;
    int n_evidence_refs;
    int64_t occurred_ms;
    char *public_json; /* owned: canonical public view */
    size_t public_len;
    char digest[SHA256_HEX_LEN + 1];
    char ref[REF_MAX];
    json_object *result; /* owned: accepted/duplicate result */
} item_t;

static void item_free(item_t *it) {
    json_object_put(it->errors);
    json_object_put(it->result);
    free(it->public_json);
}

/* validates, checks the tenant and extracts the fields of one envelope */
static void item_prepare(const actor_t *a, item_t *it) {
    const char *code;
    if (ingestion_validate(it->env, &it->errors, &code)) {
        it->state = IT_REJECTED;
        it->reason = code;
        return;
    }
    json_object *env = it->env, *ev, *x;
    if (strcmp(str_at(env, "tenant", "tenant_ref"), a->tenant_ref) != 0) {
        it->state = IT_REJECTED;
        it->reason = INGESTION_TENANT_MISMATCH;
        it->errors = json_object_new_object();
        json_object_object_add(it->errors, "tenant.tenant_ref",
                               json_object_new_string("is not the tenant of your credentials"));
        return;
    }
    json_object_object_get_ex(env, "event", &ev);
    it->event_id = str_at(env, "event", "event_id");
    it->idem = str_at(env, "transport", "idempotency_key");
    if (it->idem && !*it->idem) it->idem = NULL; /* an empty key is no key: it would make every event a repeat */
    it->event_type = str_at(env, "event", "event_type");
    it->session_id = str_at(env, "event", "session_id");
    it->agent_id = str_at(env, "event", "agent_id");
    it->decision = str_at(env, "event", "decision");
    it->severity = str_at(env, "event", "severity");
    it->risk = str_at(env, "event", "risk_classification");
    it->pack = str_at(env, "event", "policy_pack");
    it->ctype = str_at(env, "source", "connector_type");
    it->cid = str_at(env, "source", "connector_id");
    it->environment = str_at(env, "tenant", "environment");
    it->payload_ref = str_at(env, "event", "payload_ref");
    it->actor_ref = str_at(env, "event", "actor_ref");
    if (!it->risk || !*it->risk) it->risk = "unclassified";
    if (!it->pack || !*it->pack) it->pack = "unassigned";
    it->n_evidence_refs = json_object_object_get_ex(ev, "evidence_refs", &x) ? (int)json_object_array_length(x) : 0;
    rfc3339_parse(str_at(env, "event", "occurred_at"), &it->occurred_ms);

    /* the public view: the envelope without its private members */
    json_object *pub = NULL, *pev;
    if (json_object_deep_copy(env, &pub, NULL) != 0) abort();
    json_object_object_get_ex(pub, "event", &pev);
    json_object_object_del(pev, "payload_ref");
    json_object_object_del(pev, "actor_ref");
    buf_t b = BUF_INIT;
    int rc = jcs_serialize(pub, &b);
    json_object_put(pub);
    if (rc) { /* cannot happen after validation (bounded integers, valid UTF-8) */
        buf_free(&b);
        it->state = IT_REJECTED;
        it->reason = INGESTION_VALIDATION_FAILED;
        it->errors = json_object_new_object();
        json_object_object_add(it->errors, "envelope", json_object_new_string("cannot be canonicalised"));
        return;
    }
    it->public_len = b.len;
    it->public_json = buf_steal(&b);
    sha256_hex(it->public_json, it->public_len, it->digest);
    it->state = IT_VALID;
}

static json_object *result_json(const char *event_id, const char *ref, json_object *accepted_at,
                                json_object *evidence_ref, bool duplicate) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", json_object_new_string("accepted"));
    json_object_object_add(o, "duplicate", json_object_new_boolean(duplicate));
    json_object_object_add(o, "event_id", json_object_new_string(event_id));
    json_object_object_add(o, "event_ref", json_object_new_string(ref));
    json_object_object_add(o, "accepted_at", accepted_at);
    json_object_object_add(o, "evidence_ref", evidence_ref);
    return o;
}

/* the stored original of a duplicate, as its first answer said it */
static int load_original(db_t *db, const actor_t *a, item_t *it) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT event_id, ref, accepted_at, evidence_ref FROM ingestion_events "
                      "WHERE tenant_id = ? AND (event_id = ? OR idempotency_key = ?) "
                      "ORDER BY event_id = ? DESC LIMIT 1",
                      DB_ARGS(DBI(a->tenant_id), DBS(it->event_id), DBS(it->idem), DBS(it->event_id)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ERR; /* a duplicate-key error without a committed original */
    }
    it->result = result_json(db_res_str(res, 0), db_res_str(res, 1), ts_json(db_res_str(res, 2)),
                             public_evidence_ref(db_res_str(res, 3)), true);
    db_res_free(res);
    return 0;
}

/* ------------------------------------------------- counters and projection */

/* Upsert targets, in the order every transaction applies them. */
enum {
    A_AGENT = 0,       /* k: agent;               n: events, max_severity, 7 decision kinds */
    A_AGENT_CONNECTOR, /* k: agent, type, id;     n: events */
    A_SESSION,         /* k: agent, session;      n: events */
    A_COUNT,           /* k: dim, name;           n: events */
    A_FINDING,         /* k: risk, severity;      n: findings */
    A_CONTROL,         /* k: pack;                n: events, blocked, approval, warned, evidence refs */
    A_FRESHNESS,       /* k: pack, risk;          n: events */
    A_DAILY,           /* day;                    n: events, blocked, high+critical */
    A_CONNECTOR,       /* k: type, id;            n: accepted */
    A_COUNTER,         /* k: name;                n: count */
};

typedef struct {
    int table;
    const char *k[3]; /* borrowed from the envelopes or literals */
    char day[11];     /* A_DAILY: YYYY-MM-DD */
    long long n[9];
    int64_t tmin, tmax, tmax2; /* INT64_MAX / INT64_MIN while unset */
} agg_t;

typedef struct {
    agg_t *v;
    int n, cap;
} aggs_t;

static agg_t *agg_get(aggs_t *s, int table, const char *k0, const char *k1, const char *k2, const char *day) {
    for (int i = 0; i < s->n; i++) {
        agg_t *g = &s->v[i];
        if (g->table == table && !strcmp(g->k[0], k0) && !strcmp(g->k[1], k1) && !strcmp(g->k[2], k2) &&
            !strcmp(g->day, day))
            return g;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    agg_t *g = &s->v[s->n++];
    memset(g, 0, sizeof *g);
    g->table = table;
    g->k[0] = k0, g->k[1] = k1, g->k[2] = k2;
    snprintf(g->day, sizeof g->day, "%s", day);
    g->tmin = INT64_MAX;
    g->tmax = g->tmax2 = INT64_MIN;
    return g;
}

static agg_t *agg_at(aggs_t *s, int table, const char *k0, const char *k1, const char *k2, int64_t t) {
    agg_t *g = agg_get(s, table, k0, k1, k2, "");
    if (t < g->tmin) g->tmin = t;
    if (t > g->tmax) g->tmax = t;
    g->n[0]++;
    return g;
}

static int agg_cmp(const void *pa, const void *pb) {
    const agg_t *a = pa, *b = pb;
    if (a->table != b->table) return a->table < b->table ? -1 : 1;
    for (int i = 0; i < 3; i++) {
        int c = strcmp(a->k[i], b->k[i]);
        if (c) return c;
    }
    return strcmp(a->day, b->day);
}

static int decision_index(const char *d) {
    for (int i = 0; d && decisions[i]; i++)
        if (!strcmp(d, decisions[i])) return i;
    return -1;
}

static void aggregate(aggs_t *s, const item_t *it, int64_t now) {
    int sev = severity_rank(it->severity), di = decision_index(it->decision);
    int64_t t = it->occurred_ms;
    bool blocked = di == 2, approval = di == 3, warned = di == 1;

    agg_t *g = agg_at(s, A_AGENT, it->agent_id, "", "", t);
    if (sev > g->n[1]) g->n[1] = sev;
    if (di >= 0) g->n[2 + di]++;
    agg_at(s, A_AGENT_CONNECTOR, it->agent_id, it->ctype, it->cid, t);
    agg_at(s, A_SESSION, it->agent_id, it->session_id, "", t);
    const char *dims[][2] = {{"connector_type", it->ctype},
                             {"decision", it->decision},
                             {"environment", it->environment},
                             {"event_type", it->event_type},
                             {"severity", it->severity}};
    for (int i = 0; i < 5; i++)
        if (dims[i][1]) agg_at(s, A_COUNT, dims[i][0], dims[i][1], "", t);
    if (sev >= 1) agg_at(s, A_FINDING, it->risk, it->severity, "", t);
    g = agg_at(s, A_CONTROL, it->pack, "", "", t);
    g->n[1] += blocked;
    g->n[2] += approval;
    g->n[3] += warned;
    g->n[4] += it->n_evidence_refs;
    if (it->n_evidence_refs && t > g->tmax2) g->tmax2 = t;
    agg_at(s, A_FRESHNESS, it->pack, it->risk, "", t);
    char day[RFC3339_MAX];
    rfc3339_format(t, 0, day);
    day[10] = 0;
    g = agg_get(s, A_DAILY, "", "", "", day);
    g->n[0]++;
    g->n[1] += blocked;
    g->n[2] += sev >= 3;
    g = agg_at(s, A_CONNECTOR, it->ctype, it->cid, "", t);
    g->tmax2 = now;
    g = agg_get(s, A_COUNTER, "accepted", "", "", "");
    g->n[0]++;
    g->tmax2 = now;
}

static int apply_one(db_t *db, long long tid, const agg_t *g) {
    char t1[RFC3339_MAX] = "", t2[RFC3339_MAX] = "", t3[RFC3339_MAX] = "";
    if (g->tmin != INT64_MAX) sqlts(g->tmin, t1);
    if (g->tmax != INT64_MIN) sqlts(g->tmax, t2);
    if (g->tmax2 != INT64_MIN) sqlts(g->tmax2, t3);
    const long long *n = g->n;
    switch (g->table) {
    case A_AGENT:
        return db_exec(db,
                       "INSERT INTO posture_agents (tenant_id, agent_id, first_seen_at, last_seen_at, events, "
                       "max_severity, d_allow, d_warn, d_block, d_require_approval, d_allow_with_attestation, "
                       "d_audit_only, d_not_applicable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                       "ON DUPLICATE KEY UPDATE first_seen_at = LEAST(first_seen_at, VALUES(first_seen_at)), "
                       "last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at)), events = events + VALUES(events), "
                       "max_severity = GREATEST(max_severity, VALUES(max_severity)), "
                       "d_allow = d_allow + VALUES(d_allow), d_warn = d_warn + VALUES(d_warn), "
                       "d_block = d_block + VALUES(d_block), "
                       "d_require_approval = d_require_approval + VALUES(d_require_approval), "
                       "d_allow_with_attestation = d_allow_with_attestation + VALUES(d_allow_with_attestation), "
                       "d_audit_only = d_audit_only + VALUES(d_audit_only), "
                       "d_not_applicable = d_not_applicable + VALUES(d_not_applicable)",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(t1), DBS(t2), DBI(n[0]), DBI(n[1]), DBI(n[2]), DBI(n[3]),
                               DBI(n[4]), DBI(n[5]), DBI(n[6]), DBI(n[7]), DBI(n[8])),
                       NULL, NULL);
    case A_AGENT_CONNECTOR:
        return db_exec(db,
                       "INSERT INTO posture_agent_connectors (tenant_id, agent_id, connector_type, connector_id, "
                       "events, last_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
                       "events = events + VALUES(events), last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(g->k[1]), DBS(g->k[2]), DBI(n[0]), DBS(t2)), NULL, NULL);
    case A_SESSION:
        return db_exec(db,
                       "INSERT INTO posture_sessions (tenant_id, agent_id, session_id, events, first_seen_at, "
                       "last_seen_at) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE events = events + "
                       "VALUES(events), first_seen_at = LEAST(first_seen_at, VALUES(first_seen_at)), "
                       "last_seen_at = GREATEST(last_seen_at, VALUES(last_seen_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(g->k[1]), DBI(n[0]), DBS(t1), DBS(t2)), NULL, NULL);
    case A_COUNT:
        return db_exec(db,
                       "INSERT INTO posture_counts (tenant_id, dim, name, events, last_at) VALUES (?, ?, ?, ?, ?) "
                       "ON DUPLICATE KEY UPDATE events = events + VALUES(events), "
                       "last_at = GREATEST(last_at, VALUES(last_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(g->k[1]), DBI(n[0]), DBS(t2)), NULL, NULL);
    case A_FINDING:
        return db_exec(db,
                       "INSERT INTO posture_findings (tenant_id, risk_classification, severity, findings, last_at) "
                       "VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE findings = findings + VALUES(findings), "
                       "last_at = GREATEST(last_at, VALUES(last_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(g->k[1]), DBI(n[0]), DBS(t2)), NULL, NULL);
    case A_CONTROL:
        return db_exec(db,
                       "INSERT INTO posture_controls (tenant_id, policy_pack, events, blocked, approval_required, "
                       "warned, evidence_refs, last_event_at, last_evidence_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                       "ON DUPLICATE KEY UPDATE events = events + VALUES(events), blocked = blocked + "
                       "VALUES(blocked), approval_required = approval_required + VALUES(approval_required), "
                       "warned = warned + VALUES(warned), evidence_refs = evidence_refs + VALUES(evidence_refs), "
                       "last_event_at = GREATEST(last_event_at, VALUES(last_event_at)), "
                       "last_evidence_at = GREATEST(COALESCE(last_evidence_at, VALUES(last_evidence_at)), "
                       "COALESCE(VALUES(last_evidence_at), last_evidence_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBI(n[0]), DBI(n[1]), DBI(n[2]), DBI(n[3]), DBI(n[4]), DBS(t2),
                               t3[0] ? DBS(t3) : DBNULL),
                       NULL, NULL);
    case A_FRESHNESS:
        return db_exec(db,
                       "INSERT INTO posture_freshness (tenant_id, policy_pack, risk_classification, events, "
                       "newest_event_at) VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE events = events + "
                       "VALUES(events), newest_event_at = GREATEST(newest_event_at, VALUES(newest_event_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(g->k[1]), DBI(n[0]), DBS(t2)), NULL, NULL);
    case A_DAILY:
        return db_exec(db,
                       "INSERT INTO posture_daily (tenant_id, day, events, blocked, high_critical) "
                       "VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE events = events + VALUES(events), "
                       "blocked = blocked + VALUES(blocked), high_critical = high_critical + VALUES(high_critical)",
                       DB_ARGS(DBI(tid), DBS(g->day), DBI(n[0]), DBI(n[1]), DBI(n[2])), NULL, NULL);
    case A_CONNECTOR:
        return db_exec(db,
                       "INSERT INTO ingestion_connectors (tenant_id, connector_type, connector_id, accepted, "
                       "last_occurred_at, last_accepted_at) VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
                       "accepted = accepted + VALUES(accepted), "
                       "last_occurred_at = GREATEST(last_occurred_at, VALUES(last_occurred_at)), "
                       "last_accepted_at = GREATEST(last_accepted_at, VALUES(last_accepted_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBS(g->k[1]), DBI(n[0]), DBS(t2), DBS(t3)), NULL, NULL);
    case A_COUNTER:
        return db_exec(db,
                       "INSERT INTO ingestion_counters (tenant_id, name, count, last_at) VALUES (?, ?, ?, ?) "
                       "ON DUPLICATE KEY UPDATE count = count + VALUES(count), "
                       "last_at = GREATEST(last_at, VALUES(last_at))",
                       DB_ARGS(DBI(tid), DBS(g->k[0]), DBI(n[0]), DBS(t3)), NULL, NULL);
    default: return AISPM_ERR;
    }
}

/* a health counter outside any transaction (rejections, duplicates) */
static int counter_add(db_t *db, long long tid, const char *name, long long k) {
    if (k <= 0) return 0;
    agg_t g;
    memset(&g, 0, sizeof g);
    g.table = A_COUNTER;
    g.k[0] = name, g.k[1] = g.k[2] = "";
    g.n[0] = k;
    g.tmin = INT64_MAX;
    g.tmax = INT64_MIN;
    g.tmax2 = now_ms();
    return apply_one(db, tid, &g);
}

static void count_rejections(db_t *db, long long tid, const item_t *items, int n) {
    static const char *const reasons[] = {INGESTION_VALIDATION_FAILED, INGESTION_RAW_CONTENT_REFUSED,
                                          INGESTION_TENANT_MISMATCH};
    for (int r = 0; r < 3; r++) {
        long long k = 0;
        for (int i = 0; i < n; i++) k += items[i].state == IT_REJECTED && !strcmp(items[i].reason, reasons[r]);
        char name[48];
        snprintf(name, sizeof name, "rejected.%s", reasons[r]);
        counter_add(db, tid, name, k); /* best effort: a lost count never blocks an answer */
    }
}

/* ------------------------------------------------------------------ store */

typedef struct {
    bool batch;
    int total, accepted, duplicates, rejected;
    int64_t accepted_ms;
    char batch_ref[REF_MAX];
    char evidence_ref[EVIDENCE_REF_MAX]; /* full form */
    char accepted_digest[SHA256_HEX_LEN + 1];
} run_t;

static json_object *single_details(const item_t *it) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "event_type", json_object_new_string(it->event_type));
    json_object_object_add(d, "connector_type", json_object_new_string(it->ctype));
    if (it->decision) json_object_object_add(d, "decision", json_object_new_string(it->decision));
    if (it->severity) json_object_object_add(d, "severity", json_object_new_string(it->severity));
    json_object_object_add(d, "envelope_digest", json_object_new_string(it->digest));
    json_object_object_add(d, "digest_alg", json_object_new_string("sha256"));
    json_object_object_add(d, "digest_input", json_object_new_string("rfc8785_public_envelope"));
    return d;
}

static json_object *batch_details(const run_t *run) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "envelopes", json_object_new_int(run->total));
    json_object_object_add(d, "accepted", json_object_new_int(run->accepted));
    json_object_object_add(d, "duplicates", json_object_new_int(run->duplicates));
    json_object_object_add(d, "rejected", json_object_new_int(run->rejected));
    json_object_object_add(d, "accepted_digest", json_object_new_string(run->accepted_digest));
    json_object_object_add(d, "digest_alg", json_object_new_string("sha256"));
    json_object_object_add(d, "digest_input",
                           json_object_new_string("rfc8785_public_envelopes_in_request_order_lf_joined"));
    return d;
}

static int item_order_cmp(const void *pa, const void *pb, void *ctx) {
    const item_t *items = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    int c = strcmp(items[a].event_id, items[b].event_id);
    return c ? c : (a > b) - (a < b);
}

/* One attempt at storing every IT_VALID item in one transaction. *retry is
 * set when the failure was a deadlock or lock timeout. */
static int store_attempt(db_t *db, const actor_t *a, item_t *items, int n, run_t *run, const char *request_id,
                         bool *retry) {
    *retry = false;
    int64_t now = now_ms();
    char acc[RFC3339_MAX];
    sqlts(now, acc);
    run->accepted_ms = now;
    run->accepted = run->duplicates = 0;
    run->evidence_ref[0] = run->batch_ref[0] = run->accepted_digest[0] = 0;
    for (int i = 0; i < n; i++)
        if (items[i].state == IT_ACCEPTED || items[i].state == IT_DUPLICATE) items[i].state = IT_VALID;

    int rc = db_begin(db);
    if (rc) return rc;
    if (run->batch) {
        ref_new("aispm-batch", run->batch_ref);
    } else {
        /* one envelope: its evidence first, so the row can name it */
        ref_new("aispm-event", items[0].ref);
        json_object *d = single_details(&items[0]);
        rc =
            auth_evidence(db, a, "ingestion.event_accepted", items[0].ref, "success", request_id, d, run->evidence_ref);
        json_object_put(d);
    }
    /* rows are inserted in event-id order (then request order), so two
     * batches sharing events wait for each other instead of deadlocking */
    int *order = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *order), m = 0;
    for (int i = 0; i < n; i++)
        if (items[i].state == IT_VALID) order[m++] = i;
    qsort_r(order, (size_t)m, sizeof *order, item_order_cmp, items);
    for (int j = 0; !rc && j < m; j++) {
        item_t *it = &items[order[j]];
        if (run->batch) ref_new("aispm-event", it->ref);
        char occ[RFC3339_MAX];
        sqlts(it->occurred_ms, occ);
        rc = db_exec(db,
                     "INSERT INTO ingestion_events (tenant_id, ref, event_id, idempotency_key, batch_ref, event_type, "
                     "occurred_at, accepted_at, agent_id, connector_type, connector_id, public_json, public_digest, "
                     "evidence_ref, payload_ref, actor_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBI(a->tenant_id), DBS(it->ref), DBS(it->event_id), DBS(it->idem),
                             run->batch ? DBS(run->batch_ref) : DBNULL, DBS(it->event_type), DBS(occ), DBS(acc),
                             DBS(it->agent_id), DBS(it->ctype), DBS(it->cid), DBSN(it->public_json, it->public_len),
                             DBS(it->digest), run->batch ? DBNULL : DBS(run->evidence_ref), DBS(it->payload_ref),
                             DBS(it->actor_ref)),
                     NULL, NULL);
        if (rc == AISPM_ECONFLICT) { /* the event id or idempotency key is taken: a repeat */
            it->state = IT_DUPLICATE;
            run->duplicates++;
            rc = 0;
            continue;
        }
        if (!rc) {
            it->state = IT_ACCEPTED;
            run->accepted++;
        }
    }
    free(order);
    if (!rc && run->accepted == 0) { /* only repeats: nothing to keep, not even evidence */
        db_rollback(db);
        return 0;
    }
    if (!rc && run->batch) {
        buf_t all = BUF_INIT;
        for (int i = 0; i < n; i++) {
            if (items[i].state != IT_ACCEPTED) continue;
            if (all.len) buf_putc(&all, '\n');
            buf_append(&all, items[i].public_json, items[i].public_len);
        }
        sha256_hex(all.data, all.len, run->accepted_digest);
        buf_free(&all);
        json_object *d = batch_details(run);
        rc = auth_evidence(db, a, "ingestion.batch_accepted", run->batch_ref, "success", request_id, d,
                           run->evidence_ref);
        json_object_put(d);
        if (!rc)
            rc = db_exec(db, "UPDATE ingestion_events SET evidence_ref = ? WHERE tenant_id = ? AND batch_ref = ?",
                         DB_ARGS(DBS(run->evidence_ref), DBI(a->tenant_id), DBS(run->batch_ref)), NULL, NULL);
    }
    if (!rc) {
        aggs_t s = {0};
        for (int i = 0; i < n; i++)
            if (items[i].state == IT_ACCEPTED) aggregate(&s, &items[i], now);
        qsort(s.v, (size_t)s.n, sizeof *s.v, agg_cmp);
        for (int i = 0; !rc && i < s.n; i++) rc = apply_one(db, a->tenant_id, &s.v[i]);
        free(s.v);
    }
    if (!rc) rc = db_commit(db);
    if (rc) {
        *retry = retryable(db);
        db_rollback(db);
    }
    return rc;
}

/* stores the valid items (retrying deadlocks) and fills every item's result */
static int store(db_t *db, const actor_t *a, item_t *items, int n, run_t *run, const char *request_id) {
    int rc;
    for (int attempt = 0;; attempt++) {
        bool retry;
        rc = store_attempt(db, a, items, n, run, request_id, &retry);
        if (!rc) break;
        if (!retry || attempt == 3) return rc;
    }
    char acc[RFC3339_MAX];
    rfc3339_format(run->accepted_ms, 1, acc);
    for (int i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (it->state == IT_ACCEPTED)
            it->result = result_json(it->event_id, it->ref, json_object_new_string(acc),
                                     public_evidence_ref(run->evidence_ref), false);
        else if (it->state == IT_DUPLICATE && (rc = load_original(db, a, it)) != 0)
            return rc;
    }
    counter_add(db, a->tenant_id, "duplicate", run->duplicates);
    return 0;
}

/* --------------------------------------------------------------- requests */

void ingestion_outcome_free(ingestion_outcome_t *o) {
    json_object_put(o->body);
    json_object_put(o->extra);
    o->body = o->extra = NULL;
}

int ingestion_ingest_one(db_t *db, const actor_t *a, json_object *env, const char *request_id,
                         ingestion_outcome_t *out) {
    memset(out, 0, sizeof *out);
    item_t it;
    memset(&it, 0, sizeof it);
    it.env = env;
    item_prepare(a, &it);
    if (it.state == IT_REJECTED) {
        count_rejections(db, a->tenant_id, &it, 1);
        out->status = strcmp(it.reason, INGESTION_TENANT_MISMATCH) ? 422 : 403;
        out->code = it.reason;
        out->body = it.errors;
        it.errors = NULL;
        item_free(&it);
        return 0;
    }
    run_t run = {.batch = false, .total = 1};
    int rc = store(db, a, &it, 1, &run, request_id);
    if (!rc) {
        out->status = it.state == IT_ACCEPTED ? 201 : 200;
        out->body = it.result;
        it.result = NULL;
    }
    item_free(&it);
    return rc;
}

static json_object *item_entry(const item_t *it, int index) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "index", json_object_new_int(index));
    if (it->state == IT_REJECTED) {
        json_object_object_add(o, "status", json_object_new_string("rejected"));
        json_object_object_add(o, "code", json_object_new_string(it->reason));
        json_object_object_add(o, "errors", json_object_get(it->errors));
        return o;
    }
    json_object_object_add(o, "status", json_object_new_string(it->state == IT_ACCEPTED ? "accepted" : "duplicate"));
    json_object_object_foreach(it->result, k, v) {
        if (strcmp(k, "status")) json_object_object_add(o, k, json_object_get(v));
    }
    return o;
}

static void refuse_batch(ingestion_outcome_t *out, int status, const char *code, const char *field, const char *msg) {
    out->status = status;
    out->code = code;
    out->body = json_object_new_object();
    json_object_object_add(out->body, field, json_object_new_string(msg));
}

int ingestion_ingest_batch(db_t *db, const actor_t *a, json_object *body, const char *request_id,
                           ingestion_outcome_t *out) {
    memset(out, 0, sizeof *out);
    json_object *arr = NULL;
    char msg[128];
    json_object_object_foreach(body, key, val) {
        (void)val;
        if (strcmp(key, "envelopes")) {
            char path[128];
            join_path(path, sizeof path, "", key);
            refuse_batch(out, 422, INGESTION_VALIDATION_FAILED, path,
                         "is not a member of a batch (only \"envelopes\" is)");
            counter_add(db, a->tenant_id, "rejected." INGESTION_VALIDATION_FAILED, 1);
            return 0;
        }
    }
    snprintf(msg, sizeof msg, "must be an array of 1 to %d envelopes", INGESTION_BATCH_MAX);
    if (!json_object_object_get_ex(body, "envelopes", &arr) || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) == 0) {
        refuse_batch(out, 422, INGESTION_VALIDATION_FAILED, "envelopes", msg);
        counter_add(db, a->tenant_id, "rejected." INGESTION_VALIDATION_FAILED, 1);
        return 0;
    }
    int n = (int)json_object_array_length(arr);
    if (n > INGESTION_BATCH_MAX) {
        refuse_batch(out, 413, INGESTION_BATCH_TOO_LARGE, "envelopes", msg);
        counter_add(db, a->tenant_id, "rejected." INGESTION_BATCH_TOO_LARGE, 1);
        return 0;
    }
    item_t *items = xcalloc((size_t)n, sizeof *items);
    run_t run = {.batch = true, .total = n};
    for (int i = 0; i < n; i++) {
        items[i].env = json_object_array_get_idx(arr, (size_t)i);
        item_prepare(a, &items[i]);
        run.rejected += items[i].state == IT_REJECTED;
    }
    count_rejections(db, a->tenant_id, items, n);
    int rc = 0;
    if (run.rejected == n) {
        /* nothing to store: 422 with the field errors of every envelope */
        json_object *errors = json_object_new_object(), *results = json_object_new_array();
        int shown = 0;
        for (int i = 0; i < n; i++) {
            json_object_array_add(results, item_entry(&items[i], i));
            json_object_object_foreach(items[i].errors, k, v) {
                if (shown++ == 100)
                    json_object_object_add(errors, "_truncated", json_object_new_string("more errors are in results"));
                if (shown > 100) break;
                char path[320];
                snprintf(path, sizeof path, "envelopes.%d.%s", i, k);
                json_object_object_add(errors, path, json_object_get(v));
            }
        }
        out->status = 422;
        out->code = "batch_rejected";
        out->body = errors;
        out->extra = json_object_new_object();
        json_object_object_add(out->extra, "results", results);
    } else if ((rc = store(db, a, items, n, &run, request_id)) == 0) {
        json_object *o = json_object_new_object(), *results = json_object_new_array();
        for (int i = 0; i < n; i++) json_object_array_add(results, item_entry(&items[i], i));
        json_object_object_add(o, "batch_ref", run.accepted ? json_object_new_string(run.batch_ref) : NULL);
        json_object_object_add(o, "envelopes", json_object_new_int(n));
        json_object_object_add(o, "accepted", json_object_new_int(run.accepted));
        json_object_object_add(o, "duplicates", json_object_new_int(run.duplicates));
        json_object_object_add(o, "rejected", json_object_new_int(run.rejected));
        json_object_object_add(o, "accepted_digest", run.accepted ? json_object_new_string(run.accepted_digest) : NULL);
        json_object_object_add(o, "evidence_ref", run.accepted ? public_evidence_ref(run.evidence_ref) : NULL);
        json_object_object_add(o, "results", results);
        out->status = 200;
        out->body = o;
    }
    for (int i = 0; i < n; i++) item_free(&items[i]);
    free(items);
    return rc;
}

/* ------------------------------------------------------------ projections */

int ingestion_event_get(db_t *db, const actor_t *a, const char *event_id, json_object **out) {
    *out = NULL;
    if (!event_id || !*event_id || strlen(event_id) > INGESTION_ID_MAX) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT ref, event_id, accepted_at, evidence_ref, batch_ref, public_digest, public_json, "
                      "payload_ref IS NOT NULL, actor_ref IS NOT NULL FROM ingestion_events "
                      "WHERE tenant_id = ? AND event_id = ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(event_id)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    json_object *env = json_tokener_parse(db_res_str(res, 6));
    if (!env) {
        db_res_free(res);
        return AISPM_ERR;
    }
    json_object *o = json_object_new_object(), *withheld = json_object_new_array();
    json_object_object_add(o, "event_ref", json_object_new_string(db_res_str(res, 0)));
    json_object_object_add(o, "event_id", json_object_new_string(db_res_str(res, 1)));
    json_object_object_add(o, "accepted_at", ts_json(db_res_str(res, 2)));
    json_object_object_add(o, "evidence_ref", public_evidence_ref(db_res_str(res, 3)));
    json_object_object_add(o, "batch_ref", db_res_isnull(res, 4) ? NULL : json_object_new_string(db_res_str(res, 4)));
    json_object_object_add(o, "envelope_digest", json_object_new_string(db_res_str(res, 5)));
    if (db_res_int(res, 7)) json_object_array_add(withheld, json_object_new_string("event.payload_ref"));
    if (db_res_int(res, 8)) json_object_array_add(withheld, json_object_new_string("event.actor_ref"));
    json_object_object_add(o, "withheld_members", withheld);
    json_object_object_add(o, "envelope", env);
    db_res_free(res);
    *out = o;
    return 0;
}

static void add_now(json_object *o) {
    char now[RFC3339_MAX];
    rfc3339_format(now_ms(), 1, now);
    json_object_object_add(o, "generated_at", json_object_new_string(now));
}

int ingestion_health(db_t *db, const actor_t *a, json_object **out) {
    *out = NULL;
    db_res_t *res;
    int rc = db_query(db, "SELECT name, count, last_at FROM ingestion_counters WHERE tenant_id = ? ORDER BY name",
                      DB_ARGS(DBI(a->tenant_id)), &res);
    if (rc) return rc;
    long long accepted = 0, duplicates = 0, rejected = 0;
    json_object *by_reason = json_object_new_object(), *last_acc = NULL, *last_rej = NULL;
    int64_t last_rej_ms = INT64_MIN;
    const char *reasons[] = {INGESTION_VALIDATION_FAILED, INGESTION_RAW_CONTENT_REFUSED, INGESTION_TENANT_MISMATCH,
                             INGESTION_BATCH_TOO_LARGE};
    for (int i = 0; i < 4; i++) json_object_object_add(by_reason, reasons[i], json_object_new_int64(0));
    while (db_res_next(res)) {
        const char *name = db_res_str(res, 0);
        long long k = db_res_int(res, 1);
        if (!strcmp(name, "accepted")) {
            accepted = k;
            json_object_put(last_acc);
            last_acc = ts_json(db_res_str(res, 2));
        } else if (!strcmp(name, "duplicate")) {
            duplicates = k;
        } else if (!strncmp(name, "rejected.", 9)) {
            rejected += k;
            json_object_object_add(by_reason, name + 9, json_object_new_int64(k));
            int64_t ms;
            if (!sql_datetime_parse(db_res_str(res, 2), &ms) && ms > last_rej_ms) {
                last_rej_ms = ms;
                json_object_put(last_rej);
                last_rej = ts_json(db_res_str(res, 2));
            }
        }
    }
    db_res_free(res);
    json_object *o = json_object_new_object(), *rej = json_object_new_object(), *conns = json_object_new_array();
    json_object_object_add(o, "tenant_ref", json_object_new_string(a->tenant_ref));
    add_now(o);
    json_object_object_add(o, "accepted", json_object_new_int64(accepted));
    json_object_object_add(o, "duplicates", json_object_new_int64(duplicates));
    json_object_object_add(rej, "total", json_object_new_int64(rejected));
    json_object_object_add(rej, "by_reason", by_reason);
    json_object_object_add(o, "rejected", rej);
    json_object_object_add(o, "last_accepted_at", last_acc);
    json_object_object_add(o, "last_rejected_at", last_rej);
    rc = db_query(db,
                  "SELECT connector_type, connector_id, accepted, last_occurred_at, last_accepted_at "
                  "FROM ingestion_connectors WHERE tenant_id = ? ORDER BY connector_type, connector_id LIMIT 1000",
                  DB_ARGS(DBI(a->tenant_id)), &res);
    if (rc) {
        json_object_put(o);
        json_object_put(conns);
        return rc;
    }
    while (db_res_next(res)) {
        json_object *c = json_object_new_object();
        json_object_object_add(c, "connector_type", json_object_new_string(db_res_str(res, 0)));
        json_object_object_add(c, "connector_id", json_object_new_string(db_res_str(res, 1)));
        json_object_object_add(c, "accepted", json_object_new_int64(db_res_int(res, 2)));
        json_object_object_add(c, "last_event_at", ts_json(db_res_str(res, 3)));
        json_object_object_add(c, "last_accepted_at", ts_json(db_res_str(res, 4)));
        json_object_array_add(conns, c);
    }
    db_res_free(res);
    json_object_object_add(o, "connectors", conns);
    *out = o;
    return 0;
}

static json_object *zero_map(const char *const *names, int skip_first) {
    json_object *m = json_object_new_object();
    for (int i = skip_first; names[i]; i++) json_object_object_add(m, names[i], json_object_new_int64(0));
    return m;
}

static void map_add(json_object *m, const char *k, long long n) {
    json_object *v;
    long long cur = json_object_object_get_ex(m, k, &v) ? json_object_get_int64(v) : 0;
    json_object_object_add(m, k, json_object_new_int64(cur + n));
}

static json_object *array_by_key(json_object *byname, const char *name) {
    json_object *v;
    if (json_object_object_get_ex(byname, name, &v)) return v;
    v = json_object_new_array();
    json_object_object_add(byname, name, v);
    return v;
}

int ingestion_posture(db_t *db, const actor_t *a, json_object **out) {
    *out = NULL;
    long long tid = a->tenant_id;
    db_res_t *res;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "tenant_ref", json_object_new_string(a->tenant_ref));
    add_now(o);
    json_object_object_add(o, "data_provenance", json_object_new_string("enterprise_live_ingestion"));
    int64_t now = now_ms();

    /* counts by dimension */
    json_object *dec = zero_map(decisions, 0), *types = zero_map(event_types, 0), *sevs = zero_map(severities, 0),
                *ctypes = json_object_new_object(), *envs = json_object_new_object();
    long long events = 0;
    int rc = db_query(db, "SELECT dim, name, events FROM posture_counts WHERE tenant_id = ? ORDER BY dim, name",
                      DB_ARGS(DBI(tid)), &res);
    if (!rc) {
        while (db_res_next(res)) {
            const char *dim = db_res_str(res, 0), *name = db_res_str(res, 1);
            long long k = db_res_int(res, 2);
            json_object *m = !strcmp(dim, "decision")         ? dec
                             : !strcmp(dim, "event_type")     ? types
                             : !strcmp(dim, "severity")       ? sevs
                             : !strcmp(dim, "connector_type") ? ctypes
                             : !strcmp(dim, "environment")    ? envs
                                                              : NULL;
            if (m) map_add(m, name, k);
            if (!strcmp(dim, "event_type")) events += k;
        }
        db_res_free(res);
    }

    /* agents, their connectors and sessions */
    json_object *agents = json_object_new_array(), *conn_by_agent = json_object_new_object();
    long long sessions = 0, nagents = 0;
    json_object *first = NULL, *last = NULL;
    if (!rc)
        rc = db_query(db,
                      "SELECT agent_id, connector_type, connector_id, events, last_seen_at FROM "
                      "posture_agent_connectors WHERE tenant_id = ? ORDER BY agent_id, events DESC, connector_type, "
                      "connector_id",
                      DB_ARGS(DBI(tid)), &res);
    if (!rc) {
        while (db_res_next(res)) {
            json_object *c = json_object_new_object();
            json_object_object_add(c, "connector_type", json_object_new_string(db_res_str(res, 1)));
            json_object_object_add(c, "connector_id", json_object_new_string(db_res_str(res, 2)));
            json_object_object_add(c, "events", json_object_new_int64(db_res_int(res, 3)));
            json_object_object_add(c, "last_seen_at", ts_json(db_res_str(res, 4)));
            json_object_array_add(array_by_key(conn_by_agent, db_res_str(res, 0)), c);
        }
        db_res_free(res);
        rc = db_query(db,
                      "SELECT (SELECT COUNT(*) FROM posture_sessions WHERE tenant_id = ?), COUNT(*), "
                      "MIN(first_seen_at), MAX(last_seen_at) FROM posture_agents WHERE tenant_id = ?",
                      DB_ARGS(DBI(tid), DBI(tid)), &res);
    }
    if (!rc) {
        if (db_res_next(res)) {
            sessions = db_res_int(res, 0);
            nagents = db_res_int(res, 1);
            first = ts_json(db_res_str(res, 2));
            last = ts_json(db_res_str(res, 3));
        }
        db_res_free(res);
        rc = db_query(db,
                      "SELECT a.agent_id, a.first_seen_at, a.last_seen_at, a.events, a.max_severity, a.d_allow, "
                      "a.d_warn, a.d_block, a.d_require_approval, a.d_allow_with_attestation, a.d_audit_only, "
                      "a.d_not_applicable, (SELECT COUNT(*) FROM posture_sessions s WHERE s.tenant_id = a.tenant_id "
                      "AND s.agent_id = a.agent_id) FROM posture_agents a WHERE a.tenant_id = ? "
                      "ORDER BY a.events DESC, a.agent_id LIMIT 500",
                      DB_ARGS(DBI(tid)), &res);
    }
    if (!rc) {
        while (db_res_next(res)) {
            json_object *g = json_object_new_object(), *d = json_object_new_object(), *cs;
            const char *id = db_res_str(res, 0);
            json_object_object_add(g, "agent_id", json_object_new_string(id));
            json_object_object_add(g, "first_seen_at", ts_json(db_res_str(res, 1)));
            json_object_object_add(g, "last_seen_at", ts_json(db_res_str(res, 2)));
            json_object_object_add(g, "events", json_object_new_int64(db_res_int(res, 3)));
            json_object_object_add(g, "sessions", json_object_new_int64(db_res_int(res, 12)));
            long long sev = db_res_int(res, 4);
            json_object_object_add(g, "highest_severity",
                                   json_object_new_string(severities[sev >= 0 && sev <= 4 ? sev : 0]));
            long long ndec = 0;
            for (int k = 0; decisions[k]; k++) {
                json_object_object_add(d, decisions[k], json_object_new_int64(db_res_int(res, 5 + k)));
                ndec += db_res_int(res, 5 + k);
            }
            json_object_object_add(g, "decision_count", json_object_new_int64(ndec));
            json_object_object_add(g, "decisions", d);
            json_object_object_add(g, "connectors",
                                   json_object_object_get_ex(conn_by_agent, id, &cs) ? json_object_get(cs)
                                                                                     : json_object_new_array());
            json_object_array_add(agents, g);
        }
        db_res_free(res);
    }
    json_object_put(conn_by_agent);

    /* findings by severity and risk classification */
    json_object *fsev = zero_map(severities, 1), *frisk = json_object_new_array();
    long long findings = 0;
    if (!rc)
        rc = db_query(db,
                      "SELECT risk_classification, severity, findings, last_at FROM posture_findings "
                      "WHERE tenant_id = ? ORDER BY risk_classification, severity",
                      DB_ARGS(DBI(tid)), &res);
    if (!rc) {
        json_object *cur = NULL;
        char cur_risk[INGESTION_ID_MAX * 4 + 1] = "";
        int64_t cur_last = INT64_MIN;
        while (db_res_next(res)) {
            const char *risk = db_res_str(res, 0), *sev = db_res_str(res, 1);
            long long k = db_res_int(res, 2);
            if (!cur || strcmp(risk, cur_risk)) {
                cur = json_object_new_object();
                json_object_object_add(cur, "risk_classification", json_object_new_string(risk));
                json_object_object_add(cur, "findings", json_object_new_int64(0));
                json_object_object_add(cur, "by_severity", zero_map(severities, 1));
                json_object_array_add(frisk, cur);
                snprintf(cur_risk, sizeof cur_risk, "%s", risk);
                cur_last = INT64_MIN;
            }
            json_object *bs;
            json_object_object_get_ex(cur, "by_severity", &bs);
            map_add(bs, sev, k);
            map_add(cur, "findings", k);
            map_add(fsev, sev, k);
            findings += k;
            int64_t ms;
            if (!sql_datetime_parse(db_res_str(res, 3), &ms) && ms > cur_last) {
                cur_last = ms;
                json_object_object_add(cur, "last_finding_at", ts_json(db_res_str(res, 3)));
            }
        }
        db_res_free(res);
    }

    /* control coverage by policy pack */
    json_object *controls = json_object_new_array();
    if (!rc)
        rc = db_query(db,
                      "SELECT policy_pack, events, blocked, approval_required, warned, evidence_refs, last_event_at, "
                      "last_evidence_at FROM posture_controls WHERE tenant_id = ? ORDER BY policy_pack LIMIT 1000",
                      DB_ARGS(DBI(tid)), &res);
    if (!rc) {
        while (db_res_next(res)) {
            json_object *c = json_object_new_object();
            json_object_object_add(c, "policy_pack", json_object_new_string(db_res_str(res, 0)));
            json_object_object_add(c, "events", json_object_new_int64(db_res_int(res, 1)));
            json_object_object_add(c, "blocked", json_object_new_int64(db_res_int(res, 2)));
            json_object_object_add(c, "approval_required", json_object_new_int64(db_res_int(res, 3)));
            json_object_object_add(c, "warned", json_object_new_int64(db_res_int(res, 4)));
            json_object_object_add(c, "evidence_refs", json_object_new_int64(db_res_int(res, 5)));
            json_object_object_add(c, "last_event_at", ts_json(db_res_str(res, 6)));
            json_object_object_add(c, "last_evidence_at", ts_json(db_res_str(res, 7)));
            json_object_array_add(controls, c);
        }
        db_res_free(res);
    }

    /* evidence freshness by policy pack and risk classification */
    json_object *fresh = json_object_new_array();
    if (!rc)
        rc = db_query(db,
                      "SELECT policy_pack, risk_classification, events, newest_event_at FROM posture_freshness "
                      "WHERE tenant_id = ? ORDER BY policy_pack, risk_classification LIMIT 5000",
                      DB_ARGS(DBI(tid)), &res);
    if (!rc) {
        while (db_res_next(res)) {
            json_object *f = json_object_new_object();
            json_object_object_add(f, "policy_pack", json_object_new_string(db_res_str(res, 0)));
            json_object_object_add(f, "risk_classification", json_object_new_string(db_res_str(res, 1)));
            json_object_object_add(f, "events", json_object_new_int64(db_res_int(res, 2)));
            json_object_object_add(f, "newest_event_at", ts_json(db_res_str(res, 3)));
            int64_t ms;
            if (!sql_datetime_parse(db_res_str(res, 3), &ms))
                json_object_object_add(f, "age_days", json_object_new_int64(ms <= now ? (now - ms) / 86400000 : 0));
            json_object_array_add(fresh, f);
        }
        db_res_free(res);
    }

    /* daily timeline (the newest 366 days with events), oldest first */
    json_object *days = json_object_new_array();
    long long blocked = 0, high_critical = 0;
    if (!rc)
        rc = db_query(db,
                      "SELECT DATE_FORMAT(day, '%Y-%m-%d'), events, blocked, high_critical FROM posture_daily "
                      "WHERE tenant_id = ? ORDER BY day DESC LIMIT 366",
                      DB_ARGS(DBI(tid)), &res);
    if (!rc) {
        json_object *rev = json_object_new_array();
        while (db_res_next(res)) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "date", json_object_new_string(db_res_str(res, 0)));
            json_object_object_add(d, "events", json_object_new_int64(db_res_int(res, 1)));
            json_object_object_add(d, "blocked", json_object_new_int64(db_res_int(res, 2)));
            json_object_object_add(d, "high_critical", json_object_new_int64(db_res_int(res, 3)));
            json_object_array_add(rev, d);
        }
        db_res_free(res);
        for (size_t i = json_object_array_length(rev); i > 0; i--)
            json_object_array_add(days, json_object_get(json_object_array_get_idx(rev, i - 1)));
        json_object_put(rev);
        rc = db_query(db,
                      "SELECT COALESCE(SUM(blocked), 0), COALESCE(SUM(high_critical), 0) FROM posture_daily "
                      "WHERE tenant_id = ?",
                      DB_ARGS(DBI(tid)), &res);
    }
    if (!rc) {
        if (db_res_next(res)) blocked = db_res_int(res, 0), high_critical = db_res_int(res, 1);
        db_res_free(res);
    }

    json_object *totals = json_object_new_object();
    json_object_object_add(totals, "events", json_object_new_int64(events));
    json_object_object_add(totals, "agents", json_object_new_int64(nagents));
    json_object_object_add(totals, "sessions", json_object_new_int64(sessions));
    json_object_object_add(totals, "findings", json_object_new_int64(findings));
    json_object_object_add(totals, "blocked", json_object_new_int64(blocked));
    json_object_object_add(totals, "high_critical", json_object_new_int64(high_critical));
    json_object_object_add(totals, "first_event_at", first);
    json_object_object_add(totals, "last_event_at", last);
    json_object_object_add(o, "totals", totals);
    json_object_object_add(o, "agents", agents);
    json_object_object_add(o, "decisions", dec);
    json_object_object_add(o, "event_types", types);
    json_object_object_add(o, "severities", sevs);
    json_object_object_add(o, "connector_types", ctypes);
    json_object_object_add(o, "environments", envs);
    json_object *f = json_object_new_object();
    json_object_object_add(f, "total", json_object_new_int64(findings));
    json_object_object_add(f, "by_severity", fsev);
    json_object_object_add(f, "by_risk_classification", frisk);
    json_object_object_add(o, "findings", f);
    json_object_object_add(o, "control_coverage", controls);
    json_object_object_add(o, "evidence_freshness", fresh);
    json_object_object_add(o, "timeline", days);
    if (rc) {
        json_object_put(o);
        return rc;
    }
    *out = o;
    return 0;
}
