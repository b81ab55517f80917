/*
 * test_ingestion.c: the ingestion envelope validator (reports/ingestion.c)
 * against the public contract — the public example passes; every required
 * member, const, enum, date-time, minLength, integer minimum, type and
 * unknown member is refused with an error naming its path; raw-content claims
 * are refused as raw_content_refused; this server's own bounds hold; messages
 * never echo values — and the demo history generator, every envelope of
 * which must validate.
 *
 * The public example is read from AISPM_CONTRACTS (or ../shared/contracts
 * beside AISPM_SOURCE_DIR); without it that test fails, it never skips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "reports/ingestion.h"

#define TENANT "tenant:01JF3Q8YH6W9V1X2Z3A4B5C6D7"

/* a complete envelope using every member of the contract */
static json_object *full_envelope(void) {
    const char *txt =
        "{\"schema_version\":\"" INGESTION_SCHEMA_VERSION "\",\"product\":\"CAVRA\",\"edition\":\"enterprise\","
        "\"contract_visibility\":\"public_contract\","
        "\"event\":{\"event_id\":\"evt-1\",\"event_type\":\"shell_command\",\"occurred_at\":\"2026-11-02T09:15:00Z\","
        "\"received_at\":\"2026-11-02T09:15:01.250+01:00\",\"session_id\":\"sess-1\",\"agent_id\":\"cursor-agent\","
        "\"repository\":\"web/storefront\",\"actor_ref\":\"role:developer\",\"tool_name\":\"shell.exec\","
        "\"action_type\":\"execute_command\",\"target_summary\":\"redacted:package-install\",\"decision\":\"warn\","
        "\"severity\":\"medium\",\"risk_classification\":\"supply_chain_risk\",\"policy_pack\":\"runtime-guardrails\","
        "\"evidence_refs\":[\"cavra://evidence/redacted/x\"],\"payload_ref\":\"enterprise-private://t/p\"},"
        "\"source\":{\"connector_type\":\"cursor\",\"connector_id\":\"c-1\",\"runtime_version\":\"1.7\","
        "\"collector_version\":\"1.8.2\"},"
        "\"tenant\":{\"tenant_ref\":\"" TENANT "\",\"environment\":\"staging\",\"region\":\"eu\","
        "\"data_residency_ref\":\"policy:r\"},"
        "\"redaction\":{\"payload_handling\":\"private_payload_ref\",\"raw_prompt_included\":false,"
        "\"reasoning_included\":false,\"tool_output_included\":false,\"redaction_profile\":\"p\","
        "\"private_payload_required\":true},"
        "\"integrity\":{\"signature_required\":true,\"signature_ref\":\"s\",\"hash_algorithm\":\"sha384\","
        "\"payload_hash\":\"h\",\"chain_ref\":\"c\"},"
        "\"transport\":{\"ingress_mode\":\"queue\",\"delivery_semantics\":\"at_least_once\","
        "\"idempotency_key\":\"k-1\",\"retry_count\":2},"
        "\"enterprise_boundaries\":{\"collector_implementation\":\"requires_cavra_enterprise\","
        "\"tenant_persistence\":\"requires_cavra_enterprise\",\"streaming_transport\":\"requires_cavra_enterprise\","
        "\"raw_payload_storage\":\"requires_cavra_enterprise\",\"license_enforcement\":\"requires_cavra_enterprise\"}}";
    json_object *o = json_tokener_parse(txt);
    assert_non_null(o);
    return o;
}

/* the object at a dotted path ("event"), or the root for "" */
static json_object *at(json_object *root, const char *path) {
    if (!*path) return root;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    json_object *cur = root;
    for (char *save, *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
        assert_true(json_object_object_get_ex(cur, tok, &cur));
    return cur;
}

/* sets (or with v == NULL deletes) member `name` of the object at `parent` */
static void set(json_object *env, const char *parent, const char *name, json_object *v) {
    json_object *p = at(env, parent);
    if (v)
        json_object_object_add(p, name, v);
    else
        json_object_object_del(p, name);
}

/* validates; returns the errors (caller frees) and the code */
static json_object *errors_of(json_object *env, const char **code) {
    json_object *errors = NULL;
    const char *c = NULL;
    int rc = ingestion_validate(env, &errors, &c);
    if (code) *code = c;
    if (rc == 0) {
        assert_null(errors);
        return NULL;
    }
    assert_int_equal(rc, AISPM_EINVAL);
    assert_non_null(errors);
    return errors;
}

/* expects exactly one error, at path, with the given code; returns nothing */
static void expect_error(json_object *env, const char *path, const char *want_code, const char *msg_part) {
    const char *code;
    json_object *e = errors_of(env, &code);
    if (!e) fail_msg("expected an error at %s, the envelope validated", path);
    json_object *m;
    if (!json_object_object_get_ex(e, path, &m))
        fail_msg("no error at %s: %s", path, json_object_to_json_string(e));
    if (json_object_object_length(e) != 1) fail_msg("more than one error: %s", json_object_to_json_string(e));
    assert_string_equal(code, want_code);
    if (msg_part && !strstr(json_object_get_string(m), msg_part))
        fail_msg("message at %s lacks \"%s\": %s", path, msg_part, json_object_get_string(m));
    json_object_put(e);
}

static char *repeat(const char *unit, int n) {
    size_t u = strlen(unit);
    char *s = malloc(u * (size_t)n + 1);
    for (int i = 0; i < n; i++) memcpy(s + u * (size_t)i, unit, u);
    s[u * (size_t)n] = 0;
    return s;
}

/* ---------------------------------------------------------------------- */

static void test_public_example_passes(void **state) {
    (void)state;
    const char *c = getenv("AISPM_CONTRACTS"), *src = getenv("AISPM_SOURCE_DIR");
    char path[1024];
    if (c && *c)
        snprintf(path, sizeof path, "%s/cavra/examples/enterprise-live-ingestion-envelope-public-contract.example.json",
                 c);
    else if (src)
        snprintf(path, sizeof path,
                 "%s/../shared/contracts/cavra/examples/enterprise-live-ingestion-envelope-public-contract.example.json",
                 src);
    else
        fail_msg("set AISPM_CONTRACTS (or AISPM_SOURCE_DIR) to find the public ingestion example");
    json_object *ex = json_object_from_file(path);
    if (!ex) fail_msg("cannot read the public example %s", path);
    assert_null(errors_of(ex, NULL));
    json_object_put(ex);
}

static void test_full_and_minimal_envelopes_pass(void **state) {
    (void)state;
    json_object *env = full_envelope();
    assert_null(errors_of(env, NULL));
    /* every optional member removed: still valid */
    const char *opt_event[] = {"received_at", "repository", "actor_ref", "tool_name", "action_type",
                               "target_summary", "decision", "severity", "risk_classification", "policy_pack",
                               "evidence_refs", "payload_ref"};
    for (size_t i = 0; i < sizeof opt_event / sizeof *opt_event; i++) set(env, "event", opt_event[i], NULL);
    set(env, "source", "runtime_version", NULL);
    set(env, "source", "collector_version", NULL);
    set(env, "tenant", "region", NULL);
    set(env, "tenant", "data_residency_ref", NULL);
    set(env, "redaction", "redaction_profile", NULL);
    set(env, "redaction", "private_payload_required", NULL);
    set(env, "integrity", "signature_ref", NULL);
    set(env, "integrity", "payload_hash", NULL);
    set(env, "integrity", "chain_ref", NULL);
    set(env, "transport", "idempotency_key", NULL);
    set(env, "transport", "retry_count", NULL);
    assert_null(errors_of(env, NULL));
    json_object_put(env);
}

static void test_each_required_member_missing_is_named(void **state) {
    (void)state;
    static const char *const required[] = {
        "schema_version", "product", "edition", "contract_visibility", "event", "source", "tenant", "redaction",
        "integrity", "transport", "enterprise_boundaries", "event.event_id", "event.event_type",
        "event.occurred_at", "event.session_id", "event.agent_id", "source.connector_type", "source.connector_id",
        "tenant.tenant_ref", "tenant.environment", "redaction.payload_handling", "redaction.raw_prompt_included",
        "redaction.reasoning_included", "redaction.tool_output_included", "integrity.signature_required",
        "integrity.hash_algorithm", "transport.ingress_mode", "transport.delivery_semantics",
        "enterprise_boundaries.collector_implementation", "enterprise_boundaries.tenant_persistence",
        "enterprise_boundaries.streaming_transport", "enterprise_boundaries.raw_payload_storage",
        "enterprise_boundaries.license_enforcement"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        json_object *env = full_envelope();
        char parent[64] = "";
        const char *dot = strrchr(required[i], '.');
        if (dot) snprintf(parent, sizeof parent, "%.*s", (int)(dot - required[i]), required[i]);
        set(env, parent, dot ? dot + 1 : required[i], NULL);
        expect_error(env, required[i], INGESTION_VALIDATION_FAILED, "is required");
        json_object_put(env);
    }
}

static void test_bad_enums_and_consts(void **state) {
    (void)state;
    static const char *const enums[] = {"event.event_type",      "event.decision",           "event.severity",
                                        "source.connector_type", "tenant.environment",       "redaction.payload_handling",
                                        "integrity.hash_algorithm", "transport.ingress_mode", "transport.delivery_semantics"};
    for (size_t i = 0; i < sizeof enums / sizeof *enums; i++) {
        for (int variant = 0; variant < 3; variant++) {
            json_object *env = full_envelope();
            const char *dot = strrchr(enums[i], '.');
            char parent[64];
            snprintf(parent, sizeof parent, "%.*s", (int)(dot - enums[i]), enums[i]);
            json_object *bad = variant == 0   ? json_object_new_string("telepathy")
                               : variant == 1 ? json_object_new_int(3)
                                              : json_object_new_string("ALLOW"); /* case matters */
            set(env, parent, dot + 1, bad);
            expect_error(env, enums[i], INGESTION_VALIDATION_FAILED, "must be one of: ");
            json_object_put(env);
        }
    }
    static const char *const consts[][2] = {{"", "schema_version"},
                                            {"", "product"},
                                            {"", "edition"},
                                            {"", "contract_visibility"},
                                            {"enterprise_boundaries", "raw_payload_storage"},
                                            {"enterprise_boundaries", "license_enforcement"}};
    for (size_t i = 0; i < sizeof consts / sizeof *consts; i++) {
        json_object *env = full_envelope();
        set(env, consts[i][0], consts[i][1], json_object_new_string("community"));
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", consts[i][0], *consts[i][0] ? "." : "", consts[i][1]);
        expect_error(env, path, INGESTION_VALIDATION_FAILED, "must be \"");
        json_object_put(env);
    }
}

static void test_bad_date_times(void **state) {
    (void)state;
    static const char *const bad[] = {"2026-06-11 08:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                                      "yesterday",            "2026-06-11T08:00:00",  "2026-06-11T25:00:00Z",
                                      "1969-12-31T23:59:59Z", "2026-06-11T08:00:00Zjunk", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (int field = 0; field < 2; field++) {
            json_object *env = full_envelope();
            const char *name = field ? "received_at" : "occurred_at";
            set(env, "event", name, json_object_new_string(bad[i]));
            char path[64];
            snprintf(path, sizeof path, "event.%s", name);
            expect_error(env, path, INGESTION_VALIDATION_FAILED, "RFC 3339");
            json_object_put(env);
        }
    }
    static const char *const good[] = {"2026-06-11T08:00:00Z", "2026-06-11T08:00:00.123456+05:30",
                                       "2026-06-11t08:00:00z", "1970-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        json_object *env = full_envelope();
        set(env, "event", "occurred_at", json_object_new_string(good[i]));
        assert_null(errors_of(env, NULL));
        json_object_put(env);
    }
}

static void test_unknown_members_are_named(void **state) {
    (void)state;
    static const char *const parents[] = {"", "event", "source", "tenant", "redaction", "integrity", "transport",
                                          "enterprise_boundaries"};
    for (size_t i = 0; i < sizeof parents / sizeof *parents; i++) {
        json_object *env = full_envelope();
        set(env, parents[i], "raw_prompt_text", json_object_new_string("x"));
        char path[128];
        snprintf(path, sizeof path, "%s%sraw_prompt_text", parents[i], *parents[i] ? "." : "");
        expect_error(env, path, INGESTION_VALIDATION_FAILED, "not a member");
        json_object_put(env);
    }
    /* a long member name is cut in the path, never reflected whole */
    json_object *env = full_envelope();
    char *longname = repeat("n", 500);
    set(env, "event", longname, json_object_new_int(1));
    json_object *e = errors_of(env, NULL);
    assert_non_null(e);
    json_object_object_foreach(e, k, v) {
        (void)v;
        assert_true(strlen(k) < 100);
        assert_non_null(strstr(k, "event.nnnn"));
    }
    json_object_put(e);
    free(longname);
    json_object_put(env);
}

static void test_raw_content_claims_are_refused(void **state) {
    (void)state;
    static const char *const claims[] = {"raw_prompt_included", "reasoning_included", "tool_output_included"};
    for (int i = 0; i < 3; i++) {
        json_object *env = full_envelope();
        set(env, "redaction", claims[i], json_object_new_boolean(1));
        char path[64];
        snprintf(path, sizeof path, "redaction.%s", claims[i]);
        expect_error(env, path, INGESTION_RAW_CONTENT_REFUSED, "not accepted");
        /* together with other errors the code stays raw_content_refused */
        set(env, "event", "event_type", json_object_new_string("bogus"));
        const char *code;
        json_object *e = errors_of(env, &code);
        assert_string_equal(code, INGESTION_RAW_CONTENT_REFUSED);
        assert_true(json_object_object_get_ex(e, path, NULL));
        assert_true(json_object_object_get_ex(e, "event.event_type", NULL));
        json_object_put(e);
        /* not a boolean: a plain validation error */
        set(env, "event", "event_type", json_object_new_string("prompt"));
        set(env, "redaction", claims[i], json_object_new_string("false"));
        expect_error(env, path, INGESTION_VALIDATION_FAILED, "must be false");
        json_object_put(env);
    }
}

static void test_own_bounds(void **state) {
    (void)state;
    static const struct {
        const char *parent, *name;
        int max;
    } b[] = {
        {"event", "event_id", INGESTION_ID_MAX},          {"event", "session_id", INGESTION_ID_MAX},
        {"event", "agent_id", INGESTION_ID_MAX},          {"event", "policy_pack", INGESTION_ID_MAX},
        {"event", "risk_classification", INGESTION_ID_MAX}, {"event", "repository", INGESTION_NAME_MAX},
        {"event", "actor_ref", INGESTION_NAME_MAX},       {"event", "tool_name", INGESTION_NAME_MAX},
        {"event", "target_summary", INGESTION_SUMMARY_MAX}, {"event", "payload_ref", INGESTION_PAYLOAD_REF_MAX},
        {"source", "connector_id", INGESTION_ID_MAX},     {"source", "runtime_version", INGESTION_NAME_MAX},
        {"tenant", "tenant_ref", INGESTION_REF_MAX},      {"tenant", "region", INGESTION_NAME_MAX},
        {"integrity", "payload_hash", INGESTION_NAME_MAX}, {"integrity", "chain_ref", INGESTION_REF_MAX},
        {"transport", "idempotency_key", INGESTION_KEY_MAX},
    };
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s.%s", b[i].parent, b[i].name);
        json_object *env = full_envelope();
        char *ok = repeat("a", b[i].max), *over = repeat("a", b[i].max + 1);
        set(env, b[i].parent, b[i].name, json_object_new_string(ok));
        assert_null(errors_of(env, NULL));
        set(env, b[i].parent, b[i].name, json_object_new_string(over));
        expect_error(env, path, INGESTION_VALIDATION_FAILED, "at most");
        free(ok);
        free(over);
        json_object_put(env);
    }
    /* characters, not bytes: 128 two-byte characters fit an id */
    json_object *env = full_envelope();
    char *u = repeat("\xc3\xa9", INGESTION_ID_MAX);
    set(env, "event", "agent_id", json_object_new_string(u));
    assert_null(errors_of(env, NULL));
    free(u);
    u = repeat("\xc3\xa9", INGESTION_ID_MAX + 1);
    set(env, "event", "agent_id", json_object_new_string(u));
    expect_error(env, "event.agent_id", INGESTION_VALIDATION_FAILED, "at most 128");
    free(u);
    /* evidence_refs: at most 50 items of at most 500 characters */
    json_object *refs = json_object_new_array();
    for (int i = 0; i < INGESTION_EVIDENCE_REFS_MAX; i++) json_object_array_add(refs, json_object_new_string("r"));
    set(env, "event", "agent_id", json_object_new_string("a"));
    set(env, "event", "evidence_refs", refs);
    assert_null(errors_of(env, NULL));
    json_object_array_add(refs, json_object_new_string("r"));
    expect_error(env, "event.evidence_refs", INGESTION_VALIDATION_FAILED, "at most 50");
    refs = json_object_new_array();
    char *longref = repeat("r", INGESTION_REF_MAX + 1);
    json_object_array_add(refs, json_object_new_string("ok"));
    json_object_array_add(refs, json_object_new_string(longref));
    set(env, "event", "evidence_refs", refs);
    expect_error(env, "event.evidence_refs.1", INGESTION_VALIDATION_FAILED, "at most 500");
    free(longref);
    json_object_put(env);
}

static void test_min_length_types_and_integers(void **state) {
    (void)state;
    static const char *const nonempty[][2] = {
        {"event", "event_id"}, {"event", "session_id"}, {"event", "agent_id"}, {"source", "connector_id"}};
    for (int i = 0; i < 4; i++) {
        json_object *env = full_envelope();
        set(env, nonempty[i][0], nonempty[i][1], json_object_new_string(""));
        char path[64];
        snprintf(path, sizeof path, "%s.%s", nonempty[i][0], nonempty[i][1]);
        expect_error(env, path, INGESTION_VALIDATION_FAILED, "must not be empty");
        json_object_put(env);
    }
    struct {
        const char *parent, *name, *json, *msg;
    } t[] = {
        {"", "event", "[]", "must be an object"},
        {"", "transport", "\"https\"", "must be an object"},
        {"event", "agent_id", "7", "must be a string"},
        {"event", "agent_id", "null", "must be a string"},
        {"event", "evidence_refs", "\"ref\"", "must be an array"},
        {"event", "evidence_refs", "[1]", "must be a string"},
        {"integrity", "signature_required", "\"yes\"", "true or false"},
        {"redaction", "private_payload_required", "1", "true or false"},
        {"transport", "retry_count", "-1", "whole number"},
        {"transport", "retry_count", "1.5", "whole number"},
        {"transport", "retry_count", "\"1\"", "whole number"},
        {"transport", "retry_count", "1000001", "whole number"},
        {"event", "event_id", "\"evt 1\"", "may contain only"},
        {"event", "event_id", "\"evt/1\"", "may contain only"},
        {"event", "target_summary", "\"line\\nbreak\"", "control characters"},
        {"event", "session_id", "\"nul\\u0000byte\"", "control characters"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        json_object *env = full_envelope();
        json_object *v = json_tokener_parse(t[i].json);
        if (!v && strcmp(t[i].json, "null")) fail_msg("bad test JSON %s", t[i].json);
        set(env, t[i].parent, t[i].name, v ? v : NULL);
        if (!v) json_object_object_add(at(env, t[i].parent), t[i].name, NULL);
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", t[i].parent, *t[i].parent ? "." : "", t[i].name);
        if (!strcmp(t[i].json, "[1]")) snprintf(path, sizeof path, "event.evidence_refs.0");
        expect_error(env, path, INGESTION_VALIDATION_FAILED, t[i].msg);
        json_object_put(env);
    }
    /* JSON Schema integers: 3.0 is an integer */
    json_object *env = full_envelope();
    set(env, "transport", "retry_count", json_object_new_double(3.0));
    assert_null(errors_of(env, NULL));
    json_object_put(env);
    /* not an object at all */
    json_object *arr = json_object_new_array();
    const char *code;
    json_object *e = errors_of(arr, &code);
    assert_true(json_object_object_get_ex(e, "envelope", NULL));
    json_object_put(e);
    json_object_put(arr);
}

static void test_errors_are_bounded_and_never_echo_values(void **state) {
    (void)state;
    json_object *env = full_envelope();
    for (int i = 0; i < 200; i++) {
        char k[32];
        snprintf(k, sizeof k, "extra_%03d", i);
        set(env, "event", k, json_object_new_string("CANARY-VALUE-1234"));
    }
    set(env, "event", "event_type", json_object_new_string("CANARY-VALUE-1234"));
    set(env, "event", "agent_id", json_object_new_int(42));
    json_object *e = errors_of(env, NULL);
    assert_int_equal(json_object_object_length(e), INGESTION_ERRORS_MAX + 1);
    assert_true(json_object_object_get_ex(e, "_truncated", NULL));
    assert_null(strstr(json_object_to_json_string(e), "CANARY-VALUE-1234"));
    json_object_put(e);
    json_object_put(env);
}

/* ------------------------------------------------------------- demo data */

static void test_demo_history_validates_and_is_deterministic(void **state) {
    (void)state;
    int64_t anchor;
    assert_int_equal(rfc3339_parse("2026-12-04T17:00:00Z", &anchor), 0);
    json_object *a = ingestion_demo_envelopes(TENANT, anchor, 600, 56);
    json_object *b = ingestion_demo_envelopes(TENANT, anchor, 600, 56);
    assert_int_equal(json_object_array_length(a), 600);
    assert_string_equal(json_object_to_json_string(a), json_object_to_json_string(b));
    int64_t lo, hi;
    assert_int_equal(rfc3339_parse("2026-10-09T00:00:00Z", &lo), 0); /* 56 days before the anchor day */
    assert_int_equal(rfc3339_parse("2026-12-04T00:00:00Z", &hi), 0);
    const char *types[] = {"prompt", "model_response", "reasoning_trace", "tool_call", "file_action",
                           "shell_command", "git_operation", "mcp_activity", "ci_runner_event", "cloud_iac_event",
                           "policy_decision", "approval_event", "evidence_event"};
    const char *connectors[] = {"codex", "claude_code", "github_copilot", "cursor", "gemini_cli", "mcp_server"};
    const char *decisions[] = {"allow", "warn", "block", "require_approval", "allow_with_attestation",
                               "audit_only", "not_applicable"};
    int seen_type[13] = {0}, seen_conn[6] = {0}, seen_dec[7] = {0};
    for (size_t i = 0; i < 600; i++) {
        json_object *env = json_object_array_get_idx(a, i), *errors;
        if (ingestion_validate(env, &errors, NULL)) fail_msg("demo envelope %zu: %s", i, json_object_to_json_string(errors));
        char want[32];
        snprintf(want, sizeof want, "demo-evt-%04zu", i + 1);
        assert_string_equal(json_object_get_string(at(env, "event.event_id")), want);
        int64_t t;
        assert_int_equal(rfc3339_parse(json_object_get_string(at(env, "event.occurred_at")), &t), 0);
        assert_true(t >= lo && t < hi);
        for (int k = 0; k < 13; k++) seen_type[k] += !strcmp(json_object_get_string(at(env, "event.event_type")), types[k]);
        for (int k = 0; k < 6; k++)
            seen_conn[k] += !strcmp(json_object_get_string(at(env, "source.connector_type")), connectors[k]);
        for (int k = 0; k < 7; k++) seen_dec[k] += !strcmp(json_object_get_string(at(env, "event.decision")), decisions[k]);
    }
    for (int k = 0; k < 13; k++) assert_true(seen_type[k] > 0);
    for (int k = 0; k < 6; k++) assert_true(seen_conn[k] >= 30);
    for (int k = 0; k < 7; k++) assert_true(seen_dec[k] > 0);
    assert_true(seen_dec[0] > seen_dec[2]); /* allowed is more common than blocked */
    json_object_put(a);
    json_object_put(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_example_passes),
        cmocka_unit_test(test_full_and_minimal_envelopes_pass),
        cmocka_unit_test(test_each_required_member_missing_is_named),
        cmocka_unit_test(test_bad_enums_and_consts),
        cmocka_unit_test(test_bad_date_times),
        cmocka_unit_test(test_unknown_members_are_named),
        cmocka_unit_test(test_raw_content_claims_are_refused),
        cmocka_unit_test(test_own_bounds),
        cmocka_unit_test(test_min_length_types_and_integers),
        cmocka_unit_test(test_errors_are_bounded_and_never_echo_values),
        cmocka_unit_test(test_demo_history_validates_and_is_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
