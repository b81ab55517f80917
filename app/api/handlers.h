/* handlers.h: every route handler (api/ and portal/), listed for routes.c. */
#ifndef AISPM_API_HANDLERS_H
#define AISPM_API_HANDLERS_H

#include "reports/renderer.h"
#include "server/http.h"

/* api/platform_api.c */
void api_healthz(req_t *r);
void api_readyz(req_t *r);
void api_metrics(req_t *r);
void api_jwks(req_t *r);
void api_whoami(req_t *r);
void api_tokens_list(req_t *r);
void api_tokens_create(req_t *r);
void api_tokens_revoke(req_t *r);
void api_audit_events(req_t *r);
void api_audit_verify(req_t *r);

/* api/reports_api.c */
void api_catalog_get(req_t *r);
void api_catalog_set(req_t *r);
void api_setup_get(req_t *r);
void api_setup_step_put(req_t *r);
void api_setup_contract(req_t *r);
void api_delivery_contract(req_t *r);

/* api/brand_api.c */
void api_brand_get(req_t *r);
void api_brand_put(req_t *r);
void api_brand_logo(req_t *r);

/* api/ingestion_api.c */
void api_ingest_event(req_t *r);
void api_ingest_batch(req_t *r);
void api_ingested_event_get(req_t *r);
void api_ingestion_health(req_t *r);
void api_posture(req_t *r);

/* api/render_api.c */
void api_render_create(req_t *r);
void api_render_get(req_t *r);
void api_render_list(req_t *r);
void api_artifact_get(req_t *r);
void api_artifact_content(req_t *r);
/* answers stored artifact bytes with their headers (content type,
 * attachment filename, X-Artifact-SHA256, ETag, no-store) */
void api_send_content(req_t *r, render_content_t *c);
/* a content route's answer from its module's result (render_api.c): the
 * retention verdict's problem, 500 unavailable_code when the bytes are missing
 * or altered, another error, or the bytes as an attachment; frees c */
void api_stored_content(req_t *r, int rc, const retention_verdict_t *v, render_content_t *c,
                        const char *unavailable_code, const char *noun, const char *digest_header);

/* api/retention_api.c */
void api_retention_lifecycle(req_t *r);
void api_retention_classes(req_t *r);
void api_retention_class_put(req_t *r);
void api_retention_item(req_t *r);
void api_retention_revoke(req_t *r);
void api_retention_requests(req_t *r);
void api_retention_request_create(req_t *r);
void api_retention_request_get(req_t *r);
void api_search(req_t *r);
void api_retrieval_create(req_t *r);
void api_download(req_t *r);

/* api/schedule_api.c */
void api_schedule_create(req_t *r);
void api_schedule_list(req_t *r);
void api_schedule_get(req_t *r);
void api_schedule_update(req_t *r);
void api_schedule_delete(req_t *r);
void api_schedule_pause(req_t *r);
void api_schedule_resume(req_t *r);
void api_schedule_policy(req_t *r);
void api_schedule_preview(req_t *r);
void api_schedule_runs(req_t *r);
void api_operations_dashboard(req_t *r);

/* api/packages_api.c */
void api_packages_create(req_t *r);
void api_packages_list(req_t *r);
void api_package_get(req_t *r);
void api_package_manifest(req_t *r);
void api_package_content(req_t *r);
void api_signing_cert(req_t *r);
/* api/rooms_api.c */
void api_rooms_create(req_t *r);
void api_rooms_list(req_t *r);
void api_rooms_get(req_t *r);
void api_rooms_revoke(req_t *r);
void api_rooms_invite(req_t *r);
void api_rooms_auditors(req_t *r);
void api_rooms_revoke_auditor(req_t *r);
void api_rooms_access_events(req_t *r);
/* api/delivery_api.c */
void api_send_create(req_t *r);
void api_setup_test_delivery(req_t *r);
void api_recipient_policy_get(req_t *r);
void api_recipient_policy_put(req_t *r);
void api_approvals_list(req_t *r);
void api_approval_get(req_t *r);
void api_approval_decide(req_t *r);
void api_deliveries_list(req_t *r);
void api_delivery_get(req_t *r);
void api_delivery_retry(req_t *r);
void api_delivery_endpoints_get(req_t *r);
void api_delivery_audit_list(req_t *r);
void api_audit_export_create(req_t *r);
void api_audit_export_list(req_t *r);
void api_audit_export_get(req_t *r);
void api_audit_export_content(req_t *r);
void api_delivery_endpoints_put(req_t *r);

/* portal/portal.c */
void portal_root(req_t *r);
void portal_login_get(req_t *r);
void portal_login_post(req_t *r);
void portal_logout(req_t *r);
void portal_home(req_t *r);
void portal_catalog(req_t *r);
void portal_catalog_toggle(req_t *r);
void portal_setup(req_t *r);
void portal_setup_step_get(req_t *r);
void portal_setup_step_post(req_t *r);
void portal_tokens(req_t *r);
void portal_tokens_create(req_t *r);
void portal_tokens_revoke(req_t *r);
void portal_audit(req_t *r);

/* portal/portal_render.c */
void portal_render_decorate_catalog(req_t *r, json_object *catalog);
void portal_render_post(req_t *r);
void portal_render_get(req_t *r);
void portal_renders(req_t *r);

/* portal/portal_schedules.c */
void portal_schedules(req_t *r);
void portal_schedule_new(req_t *r);
void portal_schedule_create(req_t *r);
void portal_schedule_get(req_t *r);
void portal_schedule_edit(req_t *r);
void portal_schedule_update(req_t *r);
void portal_schedule_pause(req_t *r);
void portal_schedule_resume(req_t *r);
void portal_schedule_delete(req_t *r);
void portal_operations(req_t *r);

/* portal/portal_search.c */
void portal_search(req_t *r);
void portal_search_retrieve(req_t *r);
void portal_retention_request(req_t *r);

/* portal/portal_brand.c */
void portal_brand(req_t *r);
void portal_brand_post(req_t *r);
/* portal/portal_packages.c */
void portal_packages(req_t *r);
void portal_packages_post(req_t *r);
void portal_package_get(req_t *r);
/* portal/portal_rooms.c */
void portal_rooms(req_t *r);
void portal_room(req_t *r);
void portal_room_artifact(req_t *r);
void portal_room_download(req_t *r);
void portal_room_mfa(req_t *r);
void portal_mfa(req_t *r);
void portal_mfa_post(req_t *r);
void portal_invitation(req_t *r);
void portal_invitation_post(req_t *r);
void portal_rooms_manage(req_t *r);
void portal_rooms_manage_create(req_t *r);
void portal_rooms_manage_room(req_t *r);
void portal_rooms_manage_invite(req_t *r);
void portal_rooms_manage_revoke(req_t *r);
void portal_rooms_manage_revoke_auditor(req_t *r);
/* portal/portal_delivery.c */
void portal_delivery_decorate_artifact(req_t *r, json_object *page);
void portal_send_post(req_t *r);
void portal_test_delivery_get(req_t *r);
void portal_test_delivery_post(req_t *r);
void portal_delivery_audit_export(req_t *r);
void portal_deliveries(req_t *r);
void portal_delivery_get(req_t *r);
void portal_delivery_retry(req_t *r);
void portal_approvals(req_t *r);
void portal_approval_decide(req_t *r);
void portal_recipient_policy(req_t *r);
void portal_recipient_policy_domain(req_t *r);
void portal_inbox(req_t *r);

#endif
