/*
 * ingestion_demo.c: a deterministic, realistic AISPM event history for the
 * demo tenant (see ingestion.h). `aispm admin seed-demo` loads it through
 * ingestion_ingest_batch, the code path of the API.
 *
 * Shape (modelled on the public community dashboard sample): six agents, one
 * per connector (codex, claude_code, github_copilot, cursor, gemini_cli,
 * mcp_server), each with its own mix of event types; every event type occurs;
 * each risky activity ("scenario") carries its policy pack, risk
 * classification and plausible decision and severity frequencies (secret reads
 * are mostly blocked and critical, everyday edits allowed with no severity).
 *
 * Determinism: a fixed-seed splitmix64 drives every choice, in index order;
 * only timestamps depend on the anchor day. Event ids and idempotency keys are
 * "demo-evt-NNNN", so loading the history again stores nothing new.
 */
#include <stdio.h>
#include <string.h>

#include "core/hash.h"
#include "core/timeutil.h"
#include "reports/ingestion.h"

#define DEMO_SEED UINT64_C(0x5EED0A15B7C0FFEE)

typedef struct {
    uint64_t s;
} prng_t;

static uint64_t prng_next(prng_t *p) {
    uint64_t z = (p->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int prng_below(prng_t *p, int n) { return (int)(prng_next(p) % (uint64_t)n); }

/* weights: NULL-free array of ints summing to anything > 0 */
static int pick(prng_t *p, const int *w, int n) {
    int total = 0;
    for (int i = 0; i < n; i++) total += w[i];
    int r = prng_below(p, total);
    for (int i = 0; i < n; i++) {
        if (r < w[i]) return i;
        r -= w[i];
    }
    return n - 1;
}

enum {
    ET_PROMPT,
    ET_MODEL_RESPONSE,
    ET_REASONING_TRACE,
    ET_TOOL_CALL,
    ET_FILE_ACTION,
    ET_SHELL_COMMAND,
    ET_GIT_OPERATION,
    ET_MCP_ACTIVITY,
    ET_CI_RUNNER_EVENT,
    ET_CLOUD_IAC_EVENT,
    ET_POLICY_DECISION,
    ET_APPROVAL_EVENT,
    ET_EVIDENCE_EVENT,
    ET__COUNT
};
static const char *const et_names[ET__COUNT] = {
    "prompt",        "model_response", "reasoning_trace", "tool_call",         "file_action",
    "shell_command", "git_operation",  "mcp_activity",    "ci_runner_event",   "cloud_iac_event",
    "policy_decision", "approval_event", "evidence_event"};

typedef struct {
    const char *agent_id, *connector_type, *connector_id, *runtime_version, *short_name;
    int weight;
    int et_weights[ET__COUNT];
    const char *repos[3];
} demo_agent_t;

static const demo_agent_t agents[] = {
    {"codex-agent", "codex", "connector-codex-eng-01", "codex-cli 0.46.0", "codex", 24,
     {6, 8, 2, 14, 14, 12, 8, 2, 6, 5, 7, 4, 2}, {"payments/api", "platform/infra", "identity/auth-service"}},
    {"claude-code-agent", "claude_code", "connector-claude-code-platform", "claude-code 2.0.14", "claude", 21,
     {6, 7, 2, 14, 12, 10, 8, 8, 4, 6, 7, 4, 2}, {"platform/infra", "payments/api", "data/pipelines"}},
    {"copilot-agent", "github_copilot", "connector-copilot-org", "copilot-agent 1.112.0", "copilot", 19,
     {8, 10, 1, 10, 16, 4, 14, 1, 8, 1, 6, 3, 2}, {"web/storefront", "mobile/app", "payments/api"}},
    {"cursor-agent", "cursor", "connector-cursor-desktop", "cursor 1.7.44", "cursor", 14,
     {8, 9, 2, 12, 18, 8, 8, 3, 2, 1, 5, 2, 2}, {"web/storefront", "mobile/app", "identity/auth-service"}},
    {"gemini-cli-agent", "gemini_cli", "connector-gemini-cli-data", "gemini-cli 0.9.0", "gemini", 10,
     {7, 8, 2, 10, 8, 16, 4, 2, 6, 8, 6, 3, 2}, {"data/pipelines", "platform/infra", "payments/api"}},
    {"mcp-gateway-agent", "mcp_server", "connector-mcp-gateway-prod", "mcp-gateway 0.8.3", "mcp", 12,
     {1, 1, 0, 20, 2, 1, 0, 45, 1, 2, 8, 3, 2}, {"platform/infra", "data/pipelines", "payments/api"}},
};
#define NAGENTS ((int)(sizeof agents / sizeof agents[0]))

/* decisions: allow, warn, block, require_approval, allow_with_attestation, audit_only, not_applicable */
static const char *const dec_names[7] = {"allow",      "warn",           "block", "require_approval",
                                         "allow_with_attestation", "audit_only", "not_applicable"};
/* severities: none, low, medium, high, critical */
static const char *const sev_names[5] = {"none", "low", "medium", "high", "critical"};

typedef struct {
    const char *tool_name, *action_type, *target_summary, *policy_pack, *risk; /* risk NULL: unclassified */
    int dec[7];
    int sev[5];
    const char *evidence_slug;
} scenario_t;

enum { S_SECRET, S_IAC, S_MCP, S_GIT, S_CI, S_SUPPLY, S_EDIT, S_DATA, S_MODEL, S_EVIDENCE, S__COUNT };
static const scenario_t scenarios[S__COUNT] = {
    [S_SECRET] = {"filesystem.read", "read_file", "redacted:secret-file", "secrets-protection",
                  "credential_or_sensitive_data_exposure", {0, 20, 62, 18, 0, 0, 0}, {0, 0, 12, 46, 42},
                  "secret-read"},
    [S_IAC] = {"terraform", "execute_command", "redacted:terraform-apply", "cloud-iam-prod",
               "infrastructure_change_risk", {10, 5, 12, 53, 20, 0, 0}, {0, 5, 30, 55, 10}, "iac-production-change"},
    [S_MCP] = {"mcp.tool_call", "mcp_tool_call", "redacted:mcp-tool", "mcp-enterprise", "tool_or_mcp_governance_risk",
               {28, 45, 15, 12, 0, 0, 0}, {0, 30, 48, 20, 2}, "mcp-warning"},
    [S_GIT] = {"git.push", "push_branch", "redacted:protected-branch", "source-control-governance",
               "source_control_governance_risk", {52, 20, 8, 20, 0, 0, 0}, {10, 35, 40, 15, 0}, "protected-branch"},
    [S_CI] = {"filesystem.write", "modify_file", "redacted:ci-workflow", "cavra-ai-agent-baseline",
              "source_control_governance_risk", {35, 25, 0, 40, 0, 0, 0}, {0, 10, 50, 40, 0}, "ci-workflow-change"},
    [S_SUPPLY] = {"shell.exec", "execute_command", "redacted:package-install", "runtime-guardrails",
                  "supply_chain_risk", {55, 28, 12, 5, 0, 0, 0}, {15, 45, 28, 12, 0}, "package-install"},
    [S_EDIT] = {"filesystem.write", "modify_file", "redacted:source-file", "cavra-ai-agent-baseline", NULL,
                {82, 3, 0, 0, 0, 15, 0}, {85, 15, 0, 0, 0}, "source-edit"},
    [S_DATA] = {"sql.query", "query_data", "redacted:customer-table", "data-governance", "data_exfiltration_risk",
                {8, 30, 27, 35, 0, 0, 0}, {0, 5, 30, 45, 20}, "customer-data-query"},
    [S_MODEL] = {NULL, "generate_completion", "redacted:prompt-metadata", "cavra-ai-agent-baseline", NULL,
                 {0, 0, 0, 0, 0, 40, 60}, {92, 8, 0, 0, 0}, NULL},
    [S_EVIDENCE] = {"evidence.attach", "attach_evidence", "redacted:evidence-bundle", "cloud-iam-prod",
                    "infrastructure_change_risk", {0, 0, 0, 0, 0, 100, 0}, {100, 0, 0, 0, 0}, "evidence-bundle"},
};

/* which scenarios an event type draws from, with weights */
static int scenario_for(prng_t *p, int et) {
    static const int w[ET__COUNT][S__COUNT] = {
        /*                 SECRET IAC MCP GIT CI SUPPLY EDIT DATA MODEL EVID */
        [ET_PROMPT] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
        [ET_MODEL_RESPONSE] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
        [ET_REASONING_TRACE] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
        [ET_TOOL_CALL] = {18, 0, 20, 0, 0, 0, 47, 15, 0, 0},
        [ET_FILE_ACTION] = {22, 0, 0, 0, 18, 0, 60, 0, 0, 0},
        [ET_SHELL_COMMAND] = {6, 14, 0, 0, 0, 60, 20, 0, 0, 0},
        [ET_GIT_OPERATION] = {0, 0, 0, 100, 0, 0, 0, 0, 0, 0},
        [ET_MCP_ACTIVITY] = {6, 0, 80, 0, 0, 0, 0, 14, 0, 0},
        [ET_CI_RUNNER_EVENT] = {8, 0, 0, 0, 70, 22, 0, 0, 0, 0},
        [ET_CLOUD_IAC_EVENT] = {0, 100, 0, 0, 0, 0, 0, 0, 0, 0},
        [ET_POLICY_DECISION] = {25, 20, 20, 10, 5, 5, 0, 15, 0, 0},
        [ET_APPROVAL_EVENT] = {0, 55, 10, 10, 25, 0, 0, 0, 0, 0},
        [ET_EVIDENCE_EVENT] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
    };
    return pick(p, w[et], S__COUNT);
}

static json_object *jstr(const char *s) { return json_object_new_string(s); }

json_object *ingestion_demo_envelopes(const char *tenant_ref, int64_t anchor_ms, int count, int days) {
    prng_t p = {DEMO_SEED};
    json_object *arr = json_object_new_array();
    if (count <= 0 || days <= 0) return arr;
    int64_t day0 = anchor_ms - ((anchor_ms % 86400000) + 86400000) % 86400000; /* UTC midnight */
    int aw[NAGENTS];
    for (int i = 0; i < NAGENTS; i++) aw[i] = agents[i].weight;
    static const int hour_w[24] = {1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 7, 9, 10, 10, 9, 7, 5, 4, 3, 2, 1, 1};

    for (int i = 0; i < count; i++) {
        /* oldest first: day d of [0, days) before the anchor day, evenly spread */
        int d = (int)((long long)i * days / count);
        int64_t day_start = day0 - (int64_t)(days - d) * 86400000;
        int hour = pick(&p, hour_w, 24);
        int64_t occurred = day_start + (int64_t)hour * 3600000 + (int64_t)prng_below(&p, 3600) * 1000 +
                           prng_below(&p, 1000);
        const demo_agent_t *ag = &agents[pick(&p, aw, NAGENTS)];
        int et = i < ET__COUNT ? i : pick(&p, ag->et_weights, ET__COUNT); /* every type early on */
        int sc = scenario_for(&p, et);
        const scenario_t *s = &scenarios[sc];
        int dec = pick(&p, s->dec, 7), sev = pick(&p, s->sev, 5);
        if (et == ET_APPROVAL_EVENT && dec != 3 && dec != 4) dec = prng_below(&p, 2) ? 3 : 4;
        const char *repo = ag->repos[pick(&p, (const int[]){6, 3, 1}, 3)];

        char event_id[32], session[64], buf[160], day[RFC3339_MAX], occ[RFC3339_MAX], rec[RFC3339_MAX];
        snprintf(event_id, sizeof event_id, "demo-evt-%04d", i + 1);
        /* a few sessions per agent and week: several events each */
        int64_t week_start = day0 - (int64_t)(days - (d / 7) * 7) * 86400000;
        rfc3339_format(week_start, 0, day);
        snprintf(session, sizeof session, "demo-sess-%s-%.4s%.2s%.2s-%d", ag->short_name, day, day + 5, day + 8,
                 1 + prng_below(&p, 3));
        rfc3339_format(occurred, 0, occ);
        rfc3339_format(occurred + 1000 + prng_below(&p, 4000), 0, rec);

        json_object *env = json_object_new_object(), *ev = json_object_new_object();
        json_object_object_add(env, "schema_version", jstr(INGESTION_SCHEMA_VERSION));
        json_object_object_add(env, "product", jstr("CAVRA"));
        json_object_object_add(env, "edition", jstr("enterprise"));
        json_object_object_add(env, "contract_visibility", jstr("public_contract"));

        json_object_object_add(ev, "event_id", jstr(event_id));
        json_object_object_add(ev, "event_type", jstr(et_names[et]));
        json_object_object_add(ev, "occurred_at", jstr(occ));
        json_object_object_add(ev, "received_at", jstr(rec));
        json_object_object_add(ev, "session_id", jstr(session));
        json_object_object_add(ev, "agent_id", jstr(ag->agent_id));
        json_object_object_add(ev, "repository", jstr(repo));
        static const char *const actors[] = {"role:developer", "role:platform-engineer", "role:data-engineer",
                                             "automation:ci"};
        json_object_object_add(ev, "actor_ref", jstr(actors[prng_below(&p, 4)]));
        if (s->tool_name) json_object_object_add(ev, "tool_name", jstr(s->tool_name));
        json_object_object_add(ev, "action_type", jstr(s->action_type));
        json_object_object_add(ev, "target_summary", jstr(s->target_summary));
        json_object_object_add(ev, "decision", jstr(dec_names[dec]));
        json_object_object_add(ev, "severity", jstr(sev_names[sev]));
        if (s->risk) json_object_object_add(ev, "risk_classification", jstr(s->risk));
        json_object_object_add(ev, "policy_pack", jstr(s->policy_pack));
        bool notable = dec == 1 || dec == 2 || dec == 3 || dec == 4 || sev >= 3 || sc == S_EVIDENCE;
        if (notable && s->evidence_slug) {
            json_object *refs = json_object_new_array();
            snprintf(buf, sizeof buf, "cavra://evidence/redacted/%s-%04d", s->evidence_slug, i + 1);
            json_object_array_add(refs, jstr(buf));
            if (dec == 3 || dec == 4) {
                snprintf(buf, sizeof buf, "approval://demo-apr-%04d", i + 1);
                json_object_array_add(refs, jstr(buf));
            }
            json_object_object_add(ev, "evidence_refs", refs);
        }
        int handling = pick(&p, (const int[]){45, 25, 30}, 3);
        if (handling == 2) {
            snprintf(buf, sizeof buf, "enterprise-private://acme/payloads/%s", event_id);
            json_object_object_add(ev, "payload_ref", jstr(buf));
        }
        json_object_object_add(env, "event", ev);

        json_object *src = json_object_new_object();
        json_object_object_add(src, "connector_type", jstr(ag->connector_type));
        json_object_object_add(src, "connector_id", jstr(ag->connector_id));
        json_object_object_add(src, "runtime_version", jstr(ag->runtime_version));
        json_object_object_add(src, "collector_version", jstr("cavra-collector 1.8.2"));
        json_object_object_add(env, "source", src);

        static const char *const envs[] = {"production", "staging", "dev"};
        json_object *ten = json_object_new_object();
        json_object_object_add(ten, "tenant_ref", jstr(tenant_ref));
        json_object_object_add(ten, "environment", jstr(envs[pick(&p, (const int[]){70, 20, 10}, 3)]));
        json_object_object_add(ten, "region", jstr("eu"));
        json_object_object_add(ten, "data_residency_ref", jstr("policy:tenant-data-residency"));
        json_object_object_add(env, "tenant", ten);

        static const char *const handlings[] = {"metadata_only", "redacted_summary", "private_payload_ref"};
        json_object *red = json_object_new_object();
        json_object_object_add(red, "payload_handling", jstr(handlings[handling]));
        json_object_object_add(red, "raw_prompt_included", json_object_new_boolean(0));
        json_object_object_add(red, "reasoning_included", json_object_new_boolean(0));
        json_object_object_add(red, "tool_output_included", json_object_new_boolean(0));
        json_object_object_add(red, "redaction_profile", jstr("acme-metadata-only"));
        json_object_object_add(red, "private_payload_required", json_object_new_boolean(handling == 2));
        json_object_object_add(env, "redaction", red);

        json_object *integ = json_object_new_object();
        bool signed_ = prng_below(&p, 10) < 6;
        json_object_object_add(integ, "signature_required", json_object_new_boolean(signed_));
        if (signed_) {
            snprintf(buf, sizeof buf, "enterprise-private://acme/signatures/%s", event_id);
            json_object_object_add(integ, "signature_ref", jstr(buf));
        }
        json_object_object_add(integ, "hash_algorithm", jstr("sha256"));
        char h[SHA256_HEX_LEN + 1];
        sha256_hex(event_id, strlen(event_id), h);
        json_object_object_add(integ, "payload_hash", jstr(h));
        json_object_object_add(env, "integrity", integ);

        static const char *const modes[] = {"https", "queue", "batch"};
        json_object *tr = json_object_new_object();
        json_object_object_add(tr, "ingress_mode", jstr(modes[pick(&p, (const int[]){60, 25, 15}, 3)]));
        json_object_object_add(tr, "delivery_semantics", jstr("at_least_once"));
        json_object_object_add(tr, "idempotency_key", jstr(event_id));
        json_object_object_add(tr, "retry_count", json_object_new_int(pick(&p, (const int[]){90, 8, 2}, 3)));
        json_object_object_add(env, "transport", tr);

        json_object *eb = json_object_new_object();
        const char *bn[] = {"collector_implementation", "tenant_persistence", "streaming_transport",
                            "raw_payload_storage", "license_enforcement"};
        for (int k = 0; k < 5; k++) json_object_object_add(eb, bn[k], jstr("requires_cavra_enterprise"));
        json_object_object_add(env, "enterprise_boundaries", eb);
        json_object_array_add(arr, env);
    }
    return arr;
}
