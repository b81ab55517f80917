/*
 * routes.c: the route table. Each route names its permission (rbac.h); the
 * router refuses to start if one does not. Keep API and portal routes of an
 * area next to each other.
 */
#include "api/handlers.h"
#include "server/router.h"

#define P ROUTE_PORTAL

const route_t aispm_routes[] = {
    /* operations */
    {"GET", "/healthz", PERM_PUBLIC, api_healthz, 0, "healthz"},
    {"GET", "/readyz", PERM_PUBLIC, api_readyz, 0, "readyz"},
    {"GET", "/metrics", PERM_PUBLIC, api_metrics, 0, "metrics"},
    {"GET", "/.well-known/jwks.json", PERM_PUBLIC, api_jwks, 0, "jwks"},
    {"GET", "/.well-known/aispm-signing-cert.pem", PERM_PUBLIC, api_signing_cert, 0, "signing_cert"},

    /* identity and tokens */
    {"GET", "/enterprise/aispm/me", PERM_SELF, api_whoami, 0, "api_me"},
    {"GET", "/enterprise/aispm/tokens", PERM_TOKENS_MANAGE, api_tokens_list, 0, "api_tokens_list"},
    {"POST", "/enterprise/aispm/tokens", PERM_TOKENS_MANAGE, api_tokens_create, 0, "api_tokens_create"},
    {"DELETE", "/enterprise/aispm/tokens/{token_ref}", PERM_TOKENS_MANAGE, api_tokens_revoke, 0, "api_tokens_revoke"},

    /* evidence */
    {"GET", "/enterprise/aispm/audit/events", PERM_AUDIT_READ, api_audit_events, 0, "api_audit_events"},
    {"GET", "/enterprise/aispm/audit/verify", PERM_AUDIT_READ, api_audit_verify, 0, "api_audit_verify"},

    /* catalog */
    {"GET", "/enterprise/aispm/reports/catalog", PERM_CATALOG_READ, api_catalog_get, 0, "api_catalog"},
    {"PUT", "/enterprise/aispm/reports/catalog/{report_id}", PERM_CATALOG_MANAGE, api_catalog_set, 0,
     "api_catalog_set"},
    {"GET", "/enterprise/aispm/reports/delivery-contract", PERM_CATALOG_READ, api_delivery_contract, 0,
     "api_delivery_contract"},

    /* rendering and artifacts */
    {"POST", "/enterprise/aispm/reports/render", PERM_REPORTS_RENDER, api_render_create, 0, "api_render_create"},
    {"GET", "/enterprise/aispm/reports/renders", PERM_CATALOG_READ, api_render_list, 0, "api_render_list"},
    {"GET", "/enterprise/aispm/reports/renders/{render_ref}", PERM_CATALOG_READ, api_render_get, 0,
     "api_render_get"},
    {"GET", "/enterprise/aispm/reports/artifacts/{artifact_ref}", PERM_CATALOG_READ, api_artifact_get, 0,
     "api_artifact_get"},
    {"GET", "/enterprise/aispm/reports/artifacts/{artifact_ref}/content", PERM_CATALOG_READ, api_artifact_content, 0,
     "api_artifact_content"},

    /* schedules */
    {"POST", "/enterprise/aispm/reports/schedules", PERM_REPORTS_SEND, api_schedule_create, 0, "api_schedule_create"},
    {"GET", "/enterprise/aispm/reports/schedules", PERM_CATALOG_READ, api_schedule_list, 0, "api_schedule_list"},
    {"GET", "/enterprise/aispm/reports/schedules/{schedule_ref}", PERM_CATALOG_READ, api_schedule_get, 0,
     "api_schedule_get"},
    {"PUT", "/enterprise/aispm/reports/schedules/{schedule_ref}", PERM_REPORTS_SEND, api_schedule_update, 0,
     "api_schedule_update"},
    {"DELETE", "/enterprise/aispm/reports/schedules/{schedule_ref}", PERM_REPORTS_SEND, api_schedule_delete, 0,
     "api_schedule_delete"},
    {"POST", "/enterprise/aispm/reports/schedules/{schedule_ref}/pause", PERM_REPORTS_SEND, api_schedule_pause, 0,
     "api_schedule_pause"},
    {"POST", "/enterprise/aispm/reports/schedules/{schedule_ref}/resume", PERM_REPORTS_SEND, api_schedule_resume, 0,
     "api_schedule_resume"},
    {"GET", "/enterprise/aispm/reports/schedules/{schedule_ref}/policy", PERM_CATALOG_READ, api_schedule_policy, 0,
     "api_schedule_policy"},
    {"GET", "/enterprise/aispm/reports/schedules/{schedule_ref}/preview", PERM_CATALOG_READ, api_schedule_preview, 0,
     "api_schedule_preview"},
    {"GET", "/enterprise/aispm/reports/schedules/{schedule_ref}/runs", PERM_CATALOG_READ, api_schedule_runs, 0,
     "api_schedule_runs"},
    {"GET", "/enterprise/aispm/reports/operations/dashboard", PERM_AUDIT_READ, api_operations_dashboard, 0,
     "api_operations_dashboard"},

    /* signed export packages */
    {"POST", "/enterprise/aispm/reports/packages", PERM_REPORTS_RENDER, api_packages_create, 0, "api_packages_create"},
    {"GET", "/enterprise/aispm/reports/packages", PERM_CATALOG_READ, api_packages_list, 0, "api_packages_list"},
    {"GET", "/enterprise/aispm/reports/packages/{package_ref}", PERM_CATALOG_READ, api_package_get, 0,
     "api_package_get"},
    {"GET", "/enterprise/aispm/reports/packages/{package_ref}/manifest", PERM_CATALOG_READ, api_package_manifest, 0,
     "api_package_manifest"},
    {"GET", "/enterprise/aispm/reports/packages/{package_ref}/content", PERM_CATALOG_READ, api_package_content, 0,
     "api_package_content"},

    /* setup wizard */
    {"GET", "/enterprise/aispm/reports/setup", PERM_SETTINGS_READ, api_setup_get, 0, "api_setup"},
    {"PUT", "/enterprise/aispm/reports/setup/steps/{step_id}", PERM_SETTINGS_WRITE, api_setup_step_put, 0,
     "api_setup_step"},
    {"GET", "/enterprise/aispm/reports/setup/contract", PERM_SETTINGS_READ, api_setup_contract, 0,
     "api_setup_contract"},

    /* brand profile */
    {"GET", "/enterprise/aispm/reports/brand", PERM_SETTINGS_READ, api_brand_get, 0, "api_brand"},
    {"PUT", "/enterprise/aispm/reports/brand", PERM_SETTINGS_WRITE, api_brand_put, 0, "api_brand_put"},
    {"GET", "/enterprise/aispm/reports/brand/logo", PERM_SETTINGS_READ, api_brand_logo, 0, "api_brand_logo"},

    /* live ingestion and the posture projection */
    {"POST", "/enterprise/aispm/events", PERM_INGEST, api_ingest_event, 0, "api_ingest_event"},
    {"POST", "/enterprise/aispm/events/batch", PERM_INGEST, api_ingest_batch, 0, "api_ingest_batch"},
    {"GET", "/enterprise/aispm/events/{event_id}", PERM_AUDIT_READ, api_ingested_event_get, 0,
     "api_ingested_event"},
    {"GET", "/enterprise/aispm/ingestion/health", PERM_AUDIT_READ, api_ingestion_health, 0,
     "api_ingestion_health"},
    {"GET", "/enterprise/aispm/posture", PERM_CATALOG_READ, api_posture, 0, "api_posture"},

    /* portal */
    {"GET", "/", PERM_PUBLIC, portal_root, P, "root"},
    {"GET", "/portal/login", PERM_PUBLIC, portal_login_get, P, "portal_login"},
    {"POST", "/portal/login", PERM_PUBLIC, portal_login_post, P | ROUTE_NO_CSRF, "portal_login_post"},
    {"POST", "/portal/logout", PERM_SELF, portal_logout, P, "portal_logout"},
    {"GET", "/portal/", PERM_SELF, portal_home, P, "portal_home"},
    {"GET", "/portal/catalog", PERM_CATALOG_READ, portal_catalog, P, "portal_catalog"},
    {"POST", "/portal/catalog/{report_id}", PERM_CATALOG_MANAGE, portal_catalog_toggle, P, "portal_catalog_toggle"},
    {"POST", "/portal/reports/render", PERM_REPORTS_RENDER, portal_render_post, P, "portal_render_post"},
    {"GET", "/portal/renders", PERM_CATALOG_READ, portal_renders, P, "portal_renders"},
    {"GET", "/portal/renders/{render_ref}", PERM_CATALOG_READ, portal_render_get, P, "portal_render"},
    {"GET", "/portal/schedules", PERM_CATALOG_READ, portal_schedules, P, "portal_schedules"},
    {"GET", "/portal/schedules/new", PERM_REPORTS_SEND, portal_schedule_new, P, "portal_schedule_new"},
    {"POST", "/portal/schedules", PERM_REPORTS_SEND, portal_schedule_create, P, "portal_schedule_create"},
    {"GET", "/portal/schedules/{schedule_ref}", PERM_CATALOG_READ, portal_schedule_get, P, "portal_schedule"},
    {"GET", "/portal/schedules/{schedule_ref}/edit", PERM_REPORTS_SEND, portal_schedule_edit, P, "portal_schedule_edit"},
    {"POST", "/portal/schedules/{schedule_ref}", PERM_REPORTS_SEND, portal_schedule_update, P,
     "portal_schedule_update"},
    {"POST", "/portal/schedules/{schedule_ref}/pause", PERM_REPORTS_SEND, portal_schedule_pause, P,
     "portal_schedule_pause"},
    {"POST", "/portal/schedules/{schedule_ref}/resume", PERM_REPORTS_SEND, portal_schedule_resume, P,
     "portal_schedule_resume"},
    {"POST", "/portal/schedules/{schedule_ref}/delete", PERM_REPORTS_SEND, portal_schedule_delete, P,
     "portal_schedule_delete"},
    {"GET", "/portal/operations", PERM_AUDIT_READ, portal_operations, P, "portal_operations"},
    {"GET", "/portal/packages", PERM_CATALOG_READ, portal_packages, P, "portal_packages"},
    {"POST", "/portal/packages", PERM_REPORTS_RENDER, portal_packages_post, P, "portal_packages_post"},
    {"GET", "/portal/packages/{package_ref}", PERM_CATALOG_READ, portal_package_get, P, "portal_package"},
    {"GET", "/portal/setup", PERM_SETTINGS_WRITE, portal_setup, P, "portal_setup"},
    {"GET", "/portal/setup/{step_id}", PERM_SETTINGS_WRITE, portal_setup_step_get, P, "portal_setup_step"},
    {"POST", "/portal/setup/{step_id}", PERM_SETTINGS_WRITE, portal_setup_step_post, P, "portal_setup_step_post"},
    {"GET", "/portal/brand", PERM_SETTINGS_READ, portal_brand, P, "portal_brand"},
    {"POST", "/portal/brand", PERM_SETTINGS_WRITE, portal_brand_post, P, "portal_brand_post"},
    {"GET", "/portal/tokens", PERM_TOKENS_MANAGE, portal_tokens, P, "portal_tokens"},
    {"POST", "/portal/tokens", PERM_TOKENS_MANAGE, portal_tokens_create, P, "portal_tokens_create"},
    {"POST", "/portal/tokens/{token_ref}/revoke", PERM_TOKENS_MANAGE, portal_tokens_revoke, P,
     "portal_tokens_revoke"},
    {"GET", "/portal/audit", PERM_AUDIT_READ, portal_audit, P, "portal_audit"},
    {0, 0, PERM_NONE, 0, 0, 0},
};
