/*
 * delivery_audit_export.h: exports of the delivery audit (issue 5: "each
 * artifact, delivery audit export and package carries a retention class").
 *
 * An export holds the public projections of the tenant's delivery audit
 * events (aispm-report-delivery-audit-event, the same projection as GET
 * /enterprise/aispm/reports/delivery-audit) whose time is in [since, until),
 * optionally of one action, as JSONL (one projection per line) or CSV
 * (render/csvw.c, formula neutralisation). Projections carry no recipient
 * address, so neither does an export. The bytes are stored content-addressed
 * and immutable like artifacts (renderer_store_bytes); the export row, its
 * retention item (kind delivery_audit_export, class from
 * retention_class_resolve) and evidence delivery_audit.exported commit in one
 * transaction. Content is handed out only through retention_gate() (410 once
 * the sweep archived it) and each download is evidenced
 * (delivery_audit.export_downloaded). An Idempotency-Key repeats the first
 * export (200) for the same parameters and answers 409 for others.
 */
#ifndef AISPM_REPORTS_DELIVERY_AUDIT_EXPORT_H
#define AISPM_REPORTS_DELIVERY_AUDIT_EXPORT_H

#include <json-c/json.h>

#include "core/config.h"
#include "db/db.h"
#include "reports/renderer.h"
#include "reports/retention.h"
#include "server/http.h"

#define AUDIT_EXPORT_MAX_EVENTS 50000

typedef struct {
    int status;         /* 200 / 201, else 4xx */
    const char *code;   /* problem code when status >= 400 */
    const char *detail;
    json_object *body;  /* 2xx: the export; 4xx: field errors or NULL */
} audit_export_outcome_t;

/* body {since, until (RFC 3339), format: jsonl|csv, action?} */
int audit_export_create(db_t *db, const config_t *cfg, const actor_t *a, json_object *body, const char *idem,
                        const char *request_id, audit_export_outcome_t *out);
/* {export_ref, format, action, since, until, event_count, digest, size,
 *  filename, retention_class, expires_at, lifecycle_state, evidence_ref,
 *  created_at, content_url} */
int audit_export_get(db_t *db, const actor_t *a, const char *ref, json_object **out);
/* {"exports":[...], next_cursor}; AISPM_EINVAL for a bad cursor */
int audit_export_list(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out);
/* the bytes after retention_gate (AISPM_EGONE / AISPM_EFORBIDDEN with the
 * verdict's code), verified against the digest (AISPM_EIO), evidenced */
int audit_export_content(db_t *db, const config_t *cfg, const actor_t *a, const char *ref, const char *request_id,
                         render_content_t *out, retention_verdict_t *verdict);

#endif
