/*
 * catalog.c: report catalog and per-tenant enablement (see catalog.h).
 *
 * Enablement is stored on the tenant row as a comma list of disabled report
 * ids, so the authenticated actor already carries it (one query per API
 * request); changes go through SELECT ... FOR UPDATE so concurrent toggles
 * never lose each other.
 */
#include "reports/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#include "core/err.h"
#include "server/auth.h"

static const catalog_report_t reports[] = {
    {"executive_risk_brief", "Executive Risk Brief",
     "One-page posture summary for security leadership: risk trend, top findings, decisions needed.", "community",
     {"markdown"}, {"markdown", "html"}, {"cso", "ciso"}},
    {"board_kpi_pack", "Board KPI Pack", "Headline AISPM KPIs with quarter-over-quarter movement for the board.",
     "community", {"json"}, {"json"}, {"board", "leadership"}},
    {"soc2_audit_summary", "SOC 2-Style Audit Summary",
     "Control objectives, tests and evidence references in an auditor-friendly layout.", "community",
     {"markdown"}, {"markdown", "html"}, {"audit", "grc"}},
    {"control_coverage_export", "Control Coverage Export", "Every control with its coverage across AI agents.",
     "community", {"csv"}, {"csv"}, {"security_engineering"}},
    {"evidence_freshness_export", "Evidence Freshness Export",
     "Age of the newest evidence for every control, with staleness flags.", "community", {"csv"}, {"csv"},
     {"audit", "grc"}},
    {"agent_risk_register", "Agent Risk Register", "Every AI agent with its risk class, findings and owner ref.",
     "community", {"csv"}, {"csv"}, {"platform_security"}},
    {"pdf_board_pack", "PDF Board Pack",
     "Branded board pack: cover, contents, KPI charts and findings tables.", "requires_cavra_enterprise", {"pdf"},
     {"pdf"}, {"board", "cso", "ciso"}},
    {"xlsx_evidence_workbook", "XLSX Evidence Workbook", "Evidence, controls and findings as workbook sheets.",
     "requires_cavra_enterprise", {"xlsx"}, {"xlsx"}, {"audit", "grc", "security_engineering"}},
    {"docx_audit_narrative", "DOCX Audit Narrative", "Editable audit narrative with control-by-control findings.",
     "requires_cavra_enterprise", {"docx"}, {"docx"}, {"audit", "risk_committee"}},
    {"signed_json_evidence_packet", "Signed JSON Evidence Packet",
     "Evidence references and digests as a JWS-signed JSON packet.", "requires_cavra_enterprise", {"json"},
     {"json"}, {"audit", "security_engineering"}},
    {"siem_jsonl_export", "SIEM JSONL Export", "One JSON object per AISPM event for SIEM ingestion.",
     "requires_cavra_enterprise", {"jsonl"}, {"jsonl"}, {"soc", "security_operations"}},
    {"grc_upload_package", "GRC Upload Package", "ZIP of artifacts, checksums and manifest for GRC tools.",
     "requires_cavra_enterprise", {"zip"}, {"zip"}, {"grc", "audit"}},
};
#define NREPORTS ((int)(sizeof reports / sizeof reports[0]))

int catalog_count(void) { return NREPORTS; }
const catalog_report_t *catalog_at(int i) { return (i >= 0 && i < NREPORTS) ? &reports[i] : NULL; }
const catalog_report_t *catalog_find(const char *id) {
    for (int i = 0; id && i < NREPORTS; i++)
        if (!strcmp(reports[i].report_id, id)) return &reports[i];
    return NULL;
}

static bool in_csv(const char *csv, const char *id) {
    size_t n = strlen(id);
    for (const char *p = csv; p && *p;) {
        size_t l = strcspn(p, ",");
        if (l == n && !strncmp(p, id, n)) return true;
        p += l;
        if (*p == ',') p++;
    }
    return false;
}

bool catalog_enabled(const actor_t *a, const char *id) {
    return catalog_find(id) && !in_csv(a->reports_disabled, id);
}

static json_object *str_array(const char *const *v, int max) {
    json_object *a = json_object_new_array();
    for (int i = 0; i < max && v[i]; i++) json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

json_object *catalog_projection(const actor_t *a, bool include_disabled) {
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    int enabled = 0;
    for (int i = 0; i < NREPORTS; i++) {
        const catalog_report_t *r = &reports[i];
        bool on = catalog_enabled(a, r->report_id);
        enabled += on;
        if (!on && !include_disabled) continue;
        json_object *e = json_object_new_object();
        json_object_object_add(e, "report_id", json_object_new_string(r->report_id));
        json_object_object_add(e, "title", json_object_new_string(r->title));
        json_object_object_add(e, "summary", json_object_new_string(r->summary));
        json_object_object_add(e, "availability", json_object_new_string(r->availability));
        json_object_object_add(e, "edition",
                               json_object_new_string(strcmp(r->availability, "community") ? "enterprise"
                                                                                          : "community"));
        json_object_object_add(e, "formats", str_array(r->formats, CATALOG_MAX_FORMATS));
        json_object_object_add(e, "audiences", str_array(r->audiences, CATALOG_MAX_AUDIENCES));
        json_object_object_add(e, "enabled", json_object_new_boolean(on));
        json_object_array_add(arr, e);
    }
    json_object_object_add(o, "tenant_ref", json_object_new_string(a->tenant_ref));
    json_object_object_add(o, "enabled_count", json_object_new_int(enabled));
    json_object_object_add(o, "total", json_object_new_int(NREPORTS));
    json_object_object_add(o, "reports", arr);
    return o;
}

#define CATALOG_CACHE_SLOTS 16

typedef struct {
    buf_t key; /* tenant_ref \n include flag \n disabled list */
    buf_t json;
} catalog_cache_slot_t;

struct catalog_cache {
    catalog_cache_slot_t slot[CATALOG_CACHE_SLOTS];
};

static unsigned fnv1a(const char *p, size_t n) {
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

const char *catalog_projection_json(catalog_cache_t **cache, const actor_t *a, bool include_disabled, size_t *len) {
    if (!*cache) *cache = xcalloc(1, sizeof **cache);
    buf_t k = BUF_INIT;
    buf_printf(&k, "%s\n%d\n%s", a->tenant_ref, include_disabled ? 1 : 0, a->reports_disabled);
    catalog_cache_slot_t *s = &(*cache)->slot[fnv1a(k.data, k.len) % CATALOG_CACHE_SLOTS];
    if (s->key.len != k.len || memcmp(s->key.data, k.data, k.len) != 0) {
        json_object *o = catalog_projection(a, include_disabled);
        const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        buf_reset(&s->json);
        buf_append(&s->json, txt, strlen(txt));
        json_object_put(o);
        buf_reset(&s->key);
        buf_append(&s->key, k.data, k.len);
    }
    buf_free(&k);
    *len = s->json.len;
    return buf_cstr(&s->json);
}

void catalog_cache_free(catalog_cache_t *cache) {
    if (!cache) return;
    for (int i = 0; i < CATALOG_CACHE_SLOTS; i++) {
        buf_free(&cache->slot[i].key);
        buf_free(&cache->slot[i].json);
    }
    free(cache);
}

int catalog_set_enabled(db_t *db, actor_t *a, const char *report_id, bool enabled, const char *request_id) {
    if (!catalog_find(report_id)) return AISPM_ENOTFOUND;
    int rc = db_begin(db);
    db_res_t *res;
    char cur[2049] = "";
    if (!rc) rc = db_query(db, "SELECT reports_disabled FROM tenants WHERE id = ? FOR UPDATE",
                           DB_ARGS(DBI(a->tenant_id)), &res);
    if (!rc) {
        if (db_res_next(res)) snprintf(cur, sizeof cur, "%s", db_res_str(res, 0));
        db_res_free(res);
    }
    bool was = !in_csv(cur, report_id);
    if (!rc && was != enabled) {
        /* rebuild the list in catalog order: no duplicates, no unknown ids */
        char next[2049] = "";
        size_t off = 0;
        for (int i = 0; i < NREPORTS; i++) {
            const char *id = reports[i].report_id;
            bool dis = !strcmp(id, report_id) ? !enabled : in_csv(cur, id);
            if (dis) off += (size_t)snprintf(next + off, sizeof next - off, "%s%s", off ? "," : "", id);
        }
        rc = db_exec(db, "UPDATE tenants SET reports_disabled = ? WHERE id = ?", DB_ARGS(DBS(next), DBI(a->tenant_id)),
                     NULL, NULL);
        if (!rc) {
            json_object *d = json_object_new_object();
            json_object_object_add(d, "report_id", json_object_new_string(report_id));
            json_object_object_add(d, "enabled", json_object_new_boolean(enabled));
            char obj[128];
            snprintf(obj, sizeof obj, "report:%s", report_id);
            rc = auth_evidence(db, a, enabled ? "catalog.report_enabled" : "catalog.report_disabled", obj, "success",
                               request_id, d, NULL);
            json_object_put(d);
        }
        if (!rc) snprintf(a->reports_disabled, sizeof a->reports_disabled, "%s", next);
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

static json_object *contract_report(const catalog_report_t *r) {
    json_object *e = json_object_new_object();
    json_object_object_add(e, "report_id", json_object_new_string(r->report_id));
    json_object_object_add(e, "title", json_object_new_string(r->title));
    json_object_object_add(e, "formats", str_array(r->formats, CATALOG_MAX_FORMATS));
    json_object_object_add(e, "audiences", str_array(r->audiences, CATALOG_MAX_AUDIENCES));
    json_object_object_add(e, "availability", json_object_new_string(r->availability));
    return e;
}

static json_object *strs(const char *const *v) {
    json_object *a = json_object_new_array();
    for (; *v; v++) json_object_array_add(a, json_object_new_string(*v));
    return a;
}

json_object *catalog_delivery_contract(void) {
    static const char *const modes[] = {"disabled", "smtp", "microsoft365", "google_workspace", "ses",
                                        "sendgrid", "webhook", NULL};
    static const char *const controls[] = {"domain_allowlist", "rbac", "approval_gate", "delivery_audit", NULL};
    static const char *const required[] = {"CAVRA_REPORT_DELIVERY_MODE", "CAVRA_REPORT_FROM_ADDRESS",
                                           "CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS", "CAVRA_REPORT_DEFAULT_TIMEZONE",
                                           "CAVRA_REPORT_RETENTION_DAYS", NULL};
    static const char *const secret_refs[] = {"CAVRA_REPORT_SMTP_USERNAME_REF", "CAVRA_REPORT_SMTP_PASSWORD_REF",
                                              "CAVRA_REPORT_PROVIDER_TOKEN_REF", "CAVRA_REPORT_AUDIT_EXPORT_REF",
                                              NULL};
    static const char *const security[] = {"tenant_scoped_rendering", "recipient_domain_allowlist",
                                           "rbac_authorization", "optional_external_delivery_approval",
                                           "immutable_delivery_audit", "secret_manager_references_only",
                                           "raw_prompt_and_reasoning_redaction", "hash_chained_evidence",
                                           "csrf_protected_portal", NULL};
    const char *E = "requires_cavra_enterprise";
    json_object *o = json_object_new_object();
    json_object_object_add(o, "schema_version", json_object_new_string("cavra.aispm.report_delivery_contract.v1"));
    json_object_object_add(o, "product", json_object_new_string("CAVRA"));
    json_object_object_add(o, "edition", json_object_new_string("enterprise"));
    json_object_object_add(o, "contract_visibility", json_object_new_string("public_contract"));
    json_object *community = json_object_new_array(), *enterprise = json_object_new_array();
    for (int i = 0; i < NREPORTS; i++)
        json_object_array_add(strcmp(reports[i].availability, "community") ? enterprise : community,
                              contract_report(&reports[i]));
    json_object_object_add(o, "community_reports", community);
    json_object_object_add(o, "enterprise_reports", enterprise);
    json_object *api = json_object_new_object();
    json_object_object_add(api, "catalog_endpoint", json_object_new_string("GET /enterprise/aispm/reports/catalog"));
    json_object_object_add(api, "render_endpoint", json_object_new_string("POST /enterprise/aispm/reports/render"));
    json_object_object_add(api, "send_endpoint", json_object_new_string("POST /enterprise/aispm/reports/send"));
    json_object_object_add(api, "deliveries_endpoint",
                           json_object_new_string("GET /enterprise/aispm/reports/deliveries"));
    json_object_object_add(api, "schedules_endpoint",
                           json_object_new_string("POST /enterprise/aispm/reports/schedules"));
    json_object_object_add(api, "implementation", json_object_new_string(E));
    json_object_object_add(o, "api", api);
    json_object *del = json_object_new_object();
    json_object_object_add(del, "supported_modes", strs(modes));
    json_object_object_add(del, "recipient_controls", strs(controls));
    json_object_object_add(del, "implementation", json_object_new_string(E));
    json_object_object_add(o, "delivery", del);
    json_object *setup = json_object_new_object();
    json_object_object_add(setup, "required_settings", strs(required));
    json_object_object_add(setup, "secret_reference_settings", strs(secret_refs));
    json_object_object_add(setup, "secret_values_allowed_in_public_repo", json_object_new_boolean(0));
    json_object_object_add(o, "setup", setup);
    json_object_object_add(o, "security_controls", strs(security));
    json_object *b = json_object_new_object();
    const char *names[] = {"renderer", "scheduler", "email_delivery", "tenant_persistence", "license_enforcement"};
    for (int i = 0; i < 5; i++) json_object_object_add(b, names[i], json_object_new_string(E));
    json_object_object_add(o, "enterprise_boundaries", b);
    return o;
}
