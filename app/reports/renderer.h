/*
 * renderer.h: the report render pipeline — render requests, the job that
 * renders them from the tenant's posture, and the immutable artifacts.
 *
 *  POST .../reports/render  -> renderer_request(): validates the report (known,
 *      enabled for the tenant, format offered by the catalog and renderable in
 *      this release), honours the Idempotency-Key header (unique per tenant:
 *      a repeat answers 200 with the same render ref), stores a
 *      render_requests row, a `jobs` row (kind report.render) and evidence
 *      report.render_requested in one transaction.
 *  job workers -> renderer_run_pending(): claim a job (SELECT ... FOR UPDATE
 *      SKIP LOCKED; a job whose lock expired is claimed again), read the
 *      tenant's data in one consistent snapshot (as_of = newest accepted
 *      ingestion event), render deterministically (the bytes depend only on
 *      the data, the report, the format, the period and tenant settings —
 *      never on the render ref or the clock), store the bytes content-
 *      addressed as <artifacts_dir>/<tenant-ulid>/<sha256> (temp file, fsync,
 *      rename), then in one transaction: the artifact row (unique per tenant,
 *      digest, report and format, so a repeat finds the same row), the
 *      request's final state and evidence report.rendered (or
 *      report.render_failed with an error code).
 *  GET  .../artifacts/{ref}/content -> renderer_artifact_content(): the bytes,
 *      checked against the stored digest, with evidence
 *      report.artifact_downloaded.
 *
 * Every query filters by the actor's tenant: another tenant's ref is
 * AISPM_ENOTFOUND. Ownership: json_object out-parameters belong to the caller.
 */
#ifndef AISPM_REPORTS_RENDERER_H
#define AISPM_REPORTS_RENDERER_H

#include <json-c/json.h>
#include <stdbool.h>

#include "core/buf.h"
#include "db/db.h"
#include "render/template.h"
#include "reports/retention.h"
#include "reports/brand.h"
#include "server/http.h"

#define RENDER_JOB_KIND "report.render"

/* result of renderer_request: status 202 (queued), 200 (idempotent repeat) or
 * a refusal (404, 403, 409, 422) with a problem code and detail */
typedef struct {
    int status;
    const char *code;    /* problem code when status >= 400 */
    const char *detail;  /* problem detail when status >= 400 */
    json_object *body;   /* 2xx: render status; 4xx: field errors or NULL */
} render_outcome_t;

/* true when this release renders report_id in format (a subset of what the
 * catalog offers) */
bool renderer_supported(const char *report_id, const char *format);

int renderer_request(db_t *db, const actor_t *a, json_object *body, const char *idempotency_key,
                     const char *request_id, render_outcome_t *out);
void render_outcome_free(render_outcome_t *o);

/* queues one render inside the caller's transaction (renderer_request and
 * the scheduler): the render_requests row, its job and evidence
 * report.render_requested by actor `a` (a system actor for schedules). The
 * report, format and period must already be valid; idem may be NULL.
 * render_id (may be NULL) and ref receive the new request's id and ref. */
int renderer_enqueue(db_t *db, const actor_t *a, const char *report_id, const char *format, int64_t start,
                     int64_t end, const char *idem, const char *request_id, long long *render_id, char ref[REF_MAX]);

/* {render_ref, report_id, format, status, progress, period, filters,
 *  requested_at, updated_at, finished_at, status_url, artifact_ref?,
 *  artifact_url?, error_code?} */
int renderer_status(db_t *db, const actor_t *a, const char *render_ref, json_object **out);
/* {"renders":[...status...], "next_cursor"}: newest first; cursor from a
 * previous page ("" or NULL for the first), limit 1..100 */
int renderer_history(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out);
/* {artifact_ref, report_id, format, digest, digest_algorithm, size,
 *  content_type, filename, retention_class, expires_at, as_of, evidence_ref,
 *  period, created_at, content_url, lifecycle_state, retrievable,
 *  not_retrievable_reason} — the last three from retention_check_retrievable */
int renderer_artifact(db_t *db, const actor_t *a, const char *artifact_ref, json_object **out);

typedef struct {
    buf_t bytes;
    char content_type[100];
    char filename[200];
    char digest[65];
    char report_id[80];
    char format[24];
} render_content_t;
/* reads the artifact's bytes (verified against the digest: AISPM_EIO when the
 * file is missing or altered) and records report.artifact_downloaded */
int renderer_artifact_content(db_t *db, const config_t *cfg, const actor_t *a, const char *artifact_ref,
                              const char *request_id, render_content_t *out);
/* the same with the route name recorded in a refusal's evidence and the
 * retention verdict (retention_check_retrievable) returned: a blocked
 * retrieval answers AISPM_EGONE (410: deleted, archived past retention,
 * expired) or AISPM_EFORBIDDEN (403: revoked, audience restricted) with the
 * reason code in verdict->code. renderer_artifact_content() is this with
 * route "artifact_content". */
int renderer_artifact_content_checked(db_t *db, const config_t *cfg, const actor_t *a, const char *artifact_ref,
                                      const char *route, const char *request_id, render_content_t *out,
                                      retention_verdict_t *verdict);
/* the status a retention verdict maps to: 0 (200), AISPM_ENOTFOUND (404),
 * AISPM_EGONE (410) or AISPM_EFORBIDDEN (403) */
int renderer_verdict_rc(const retention_verdict_t *v);
void render_content_free(render_content_t *c);
/* the same bytes and checks for a tenant, without evidence: for callers that
 * record their own (evidence-room downloads) */
int renderer_artifact_bytes(db_t *db, const config_t *cfg, long long tenant_id, const char *artifact_ref,
                            render_content_t *out);

/* an artifact's row and its bytes, verified against the stored digest
 * (AISPM_EIO when missing or altered), without evidence: for modules that
 * bundle artifacts (reports/export_packages.c) and record their own. The
 * caller frees bytes. */
typedef struct {
    long long id, size;
    char ref[REF_MAX], report_id[80], format[24], digest[65], content_type[100], filename[200];
    char evidence_ref[EVIDENCE_REF_MAX]; /* report.rendered, full form */
    buf_t bytes;
} artifact_blob_t;
int renderer_artifact_load(db_t *db, const config_t *cfg, long long tenant_id, const char *artifact_ref,
                           artifact_blob_t *out);

/* reads <artifacts_dir>/<storage_path> into out (reset first) and checks
 * its size and SHA-256; AISPM_EIO when missing or altered (out freed) */
int renderer_read_stored(const config_t *cfg, const char *storage_path, long long size, const char *digest,
                         buf_t *out);

/* stores bytes content-addressed and immutable as
 * <artifacts_dir>/<tenant_ulid>/<digest> (temp file, fsync, mode 0440,
 * rename, directory fsync; an existing file of the right size is kept).
 * 0 or AISPM_EIO. */
int renderer_store_bytes(const config_t *cfg, const char *tenant_ulid, const char *digest, const buf_t *b);

/* job worker step: claims and runs up to max_jobs render jobs; *ran (may be
 * NULL) receives how many were run. tmpl may be NULL (html/markdown renders
 * then fail with template_unavailable). */
int renderer_run_pending(db_t *db, const config_t *cfg, const tmpl_set_t *tmpl, int max_jobs, int *ran);

/* renders a report in-process, without the queue and without storing an
 * artifact (aispm admin render, bench/pdf.sh): the same snapshot and render
 * code as the job; the data is read once, then rendered `repeat` times
 * (1..RENDER_DIRECT_MAX), each timed; out holds the last render. Not for the
 * signed packet (needs the evidence key) or the SIEM export (AISPM_EINVAL).
 * Besides the catalog's formats it renders pdf_board_pack as html: the board
 * pack's content for headless Chromium to print (the benchmark's reference). */
#define RENDER_DIRECT_MAX 1000
typedef struct {
    double load_ms;                /* the snapshot */
    double ms[RENDER_DIRECT_MAX];  /* each render */
    int n;
    char brand_digest[65];         /* "" for reports without a brand */
} render_direct_stats_t;
int renderer_render_direct(db_t *db, const tmpl_set_t *tmpl, const actor_t *tenant, const char *report_id,
                           const char *format, const char *ps_sql, const char *pe_sql, int repeat,
                           render_direct_stats_t *st, buf_t *out);

/* ---- pure rendering (exposed for tests) ----
 * posture: an ingestion_posture() projection; meta: {report_id, title,
 * tenant_ref, tenant_name, as_of, period:{start,end}, timezone}; brand the
 * tenant's brand profile (NULL = the default brand). Appends the
 * document to out. AISPM_EINVAL for an unsupported report/format,
 * AISPM_ENOTFOUND for a missing template. (siem_jsonl_export reads events
 * and is rendered by the job itself.) */
int renderer_render_posture(const tmpl_set_t *tmpl, const char *report_id, const char *format, json_object *posture,
                            json_object *meta, const brand_t *brand, buf_t *out);
/* true when the report's bytes depend on the tenant's brand profile (the PDF
 * board pack and the html/markdown narratives) */
bool renderer_uses_brand(const char *report_id);

#endif
