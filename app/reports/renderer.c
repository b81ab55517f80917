/*
 * renderer.c: render requests, the render job and artifacts (see renderer.h).
 */
#include "reports/renderer.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/timeutil.h"
#include "db/jobs.h"
#include "render/csvw.h"
#include "render/xlsxw.h"
#include "render/jws.h"
#include "render/pdfw.h"
#include "render/pkgw.h"
#include "render/zipw.h"
#include "reports/catalog.h"
#include "reports/delivery.h"
#include "reports/ingestion.h"
#include "reports/setup.h"
#include "reports/retention.h"
#include "server/auth.h"

#include <libxml/xmlwriter.h>

#define DEFAULT_PERIOD_DAYS 30
#define MAX_PERIOD_DAYS 3660
#define STALE_AFTER_DAYS 30
#define JOB_LOCK_S 120
#define SIEM_MAX_EVENTS 200000
#define API "/enterprise/aispm/reports"

static const struct {
    const char *report_id, *format, *content_type, *ext;
} supported[] = {
    {"executive_risk_brief", "html", "text/html; charset=utf-8", "html"},
    {"executive_risk_brief", "markdown", "text/markdown; charset=utf-8", "md"},
    {"soc2_audit_summary", "html", "text/html; charset=utf-8", "html"},
    {"soc2_audit_summary", "markdown", "text/markdown; charset=utf-8", "md"},
    {"board_kpi_pack", "json", "application/json", "json"},
    {"control_coverage_export", "csv", "text/csv; charset=utf-8", "csv"},
    {"evidence_freshness_export", "csv", "text/csv; charset=utf-8", "csv"},
    {"agent_risk_register", "csv", "text/csv; charset=utf-8", "csv"},
    {"siem_jsonl_export", "jsonl", "application/x-ndjson", "jsonl"},
    {"xlsx_evidence_workbook", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
    {"signed_json_evidence_packet", "json", "application/json", "json"},
    {"docx_audit_narrative", "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
    {"grc_upload_package", "zip", "application/zip", "zip"},
    {"pdf_board_pack", "pdf", "application/pdf", "pdf"},
};
#define NSUPPORTED ((int)(sizeof supported / sizeof supported[0]))

static int support_index(const char *report_id, const char *format) {
    for (int i = 0; report_id && format && i < NSUPPORTED; i++)
        if (!strcmp(supported[i].report_id, report_id) && !strcmp(supported[i].format, format)) return i;
    return -1;
}

bool renderer_supported(const char *report_id, const char *format) { return support_index(report_id, format) >= 0; }

static const char *const decision_names[] = {
    "allow", "warn", "block", "require_approval", "allow_with_attestation", "audit_only", "not_applicable", NULL};

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static json_object *get(json_object *o, const char *k) {
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object)) json_object_object_get_ex(o, k, &v);
    return v;
}
static const char *jstr(json_object *o, const char *k) {
    json_object *v = get(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}
static long long jint(json_object *o, const char *k) {
    json_object *v = get(o, k);
    return v ? (long long)json_object_get_int64(v) : 0;
}
static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}
static void put_int(json_object *o, const char *k, long long v) { json_object_object_add(o, k, json_object_new_int64(v)); }

/* SQL DATETIME text -> RFC 3339 (NULL json for NULL/empty) */
static json_object *ts_json(const char *sql, int with_ms) {
    int64_t ms;
    if (!sql || !*sql || sql_datetime_parse(sql, &ms)) return NULL;
    char out[RFC3339_MAX];
    rfc3339_format(ms, with_ms, out);
    return json_object_new_string(out);
}

/* "1.62" for num/den with two decimals (integer math, so the text is the
 * same on every platform); "0.00" when den is 0 */
static long long ratio_hundredths(long long num, long long den) {
    return den <= 0 || num < 0 ? 0 : (num * 100 + den / 2) / den;
}
static void ratio_text(long long num, long long den, char out[32]) {
    long long t = ratio_hundredths(num, den);
    snprintf(out, 32, "%lld.%02lld", t / 100, t % 100);
}

static double pct_num(long long num, long long den) {
    if (den <= 0) return 0;
    long long t = (num * 1000 + den / 2) / den;
    return (double)t / 10.0;
}

/* ------------------------------------------------------------------------ */
/* projections                                                               */

#define RENDER_SELECT                                                                                             \
    "SELECT r.id, r.ref, r.report_id, r.format, r.period_start, r.period_end, r.filters, r.state, r.progress, "   \
    "r.error_code, r.created_at, r.updated_at, r.finished_at, a.ref FROM render_requests r LEFT JOIN artifacts a " \
    "ON a.id = r.artifact_id AND a.tenant_id = r.tenant_id "

static json_object *render_row(db_res_t *res) {
    json_object *o = json_object_new_object();
    const char *ref = db_res_str(res, 1);
    char url[160];
    put_str(o, "render_ref", ref);
    put_str(o, "report_id", db_res_str(res, 2));
    put_str(o, "format", db_res_str(res, 3));
    put_str(o, "status", db_res_str(res, 7));
    put_int(o, "progress", db_res_int(res, 8));
    json_object *p = json_object_new_object();
    json_object_object_add(p, "start", ts_json(db_res_str(res, 4), 0));
    json_object_object_add(p, "end", ts_json(db_res_str(res, 5), 0));
    json_object_object_add(o, "period", p);
    json_object *f = json_tokener_parse(db_res_str(res, 6));
    json_object_object_add(o, "filters", f ? f : json_object_new_object());
    json_object_object_add(o, "requested_at", ts_json(db_res_str(res, 10), 1));
    json_object_object_add(o, "updated_at", ts_json(db_res_str(res, 11), 1));
    json_object_object_add(o, "finished_at", ts_json(db_res_str(res, 12), 1));
    snprintf(url, sizeof url, API "/renders/%s", ref);
    put_str(o, "status_url", url);
    if (!db_res_isnull(res, 13)) {
        const char *aref = db_res_str(res, 13);
        put_str(o, "artifact_ref", aref);
        snprintf(url, sizeof url, API "/artifacts/%s", aref);
        put_str(o, "artifact_url", url);
        snprintf(url, sizeof url, API "/artifacts/%s/content", aref);
        put_str(o, "content_url", url);
    }
    if (!db_res_isnull(res, 9)) put_str(o, "error_code", db_res_str(res, 9));
    return o;
}

int renderer_status(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    *out = NULL;
    if (!ref || !ref_parse(ref, "render", NULL, NULL)) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db, RENDER_SELECT "WHERE r.tenant_id = ? AND r.ref = ?", DB_ARGS(DBI(a->tenant_id), DBS(ref)),
                      &res);
    if (rc) return rc;
    if (db_res_next(res)) *out = render_row(res);
    db_res_free(res);
    return *out ? 0 : AISPM_ENOTFOUND;
}

int renderer_history(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out) {
    *out = NULL;
    limit = cursor_limit(limit);
    long long before;
    if (cursor_parse(cursor, &before)) return AISPM_EINVAL;
    db_res_t *res;
    int rc = db_query(db, RENDER_SELECT "WHERE r.tenant_id = ? AND (? = 0 OR r.id < ?) ORDER BY r.id DESC LIMIT ?",
                      DB_ARGS(DBI(a->tenant_id), DBI(before), DBI(before), DBI(limit)), &res);
    if (rc) return rc;
    *out = db_page(res, render_row, "renders", limit);
    return 0;
}

#define ARTIFACT_COLUMNS                                                                                 \
    "ref, report_id, format, period_start, period_end, digest, size, content_type, filename, "            \
    "retention_class, expires_at, as_of, evidence_ref, created_at, storage_path"
#define ARTIFACT_SELECT "SELECT " ARTIFACT_COLUMNS " FROM artifacts "

static json_object *artifact_row(db_res_t *res) {
    json_object *o = json_object_new_object();
    const char *ref = db_res_str(res, 0);
    char url[160], pub[EVIDENCE_REF_MAX];
    put_str(o, "artifact_ref", ref);
    put_str(o, "report_id", db_res_str(res, 1));
    put_str(o, "format", db_res_str(res, 2));
    json_object *p = json_object_new_object();
    json_object_object_add(p, "start", ts_json(db_res_str(res, 3), 0));
    json_object_object_add(p, "end", ts_json(db_res_str(res, 4), 0));
    json_object_object_add(o, "period", p);
    put_str(o, "digest", db_res_str(res, 5));
    put_str(o, "digest_algorithm", "sha256");
    put_int(o, "size", db_res_int(res, 6));
    put_str(o, "content_type", db_res_str(res, 7));
    put_str(o, "filename", db_res_str(res, 8));
    put_str(o, "retention_class", db_res_str(res, 9));
    json_object_object_add(o, "expires_at", ts_json(db_res_str(res, 10), 0));
    json_object_object_add(o, "as_of", ts_json(db_res_str(res, 11), 1));
    const char *ev = db_res_str(res, 12);
    put_str(o, "evidence_ref", *ev && !evidence_ref_public(ev, pub) ? pub : NULL);
    json_object_object_add(o, "created_at", ts_json(db_res_str(res, 13), 1));
    snprintf(url, sizeof url, API "/artifacts/%s/content", ref);
    put_str(o, "content_url", url);
    return o;
}

int renderer_artifact(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    *out = NULL;
    if (!ref || !ref_parse(ref, "artifact", NULL, NULL)) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db, ARTIFACT_SELECT "WHERE tenant_id = ? AND ref = ?", DB_ARGS(DBI(a->tenant_id), DBS(ref)),
                      &res);
    if (rc) return rc;
    if (db_res_next(res)) *out = artifact_row(res);
    db_res_free(res);
    if (!*out) return AISPM_ENOTFOUND;
    /* where the artifact stands in its retention lifecycle, and whether its
     * content may be retrieved now (retention.h) */
    retention_verdict_t v;
    rc = retention_check_retrievable(db, a, ref, &v);
    if (rc) {
        json_object_put(*out);
        *out = NULL;
        return rc;
    }
    put_str(*out, "lifecycle_state", v.lifecycle_state[0] ? v.lifecycle_state : NULL);
    json_object_object_add(*out, "retrievable", json_object_new_boolean(v.status == 200));
    put_str(*out, "not_retrievable_reason", v.status == 200 ? NULL : v.code);
    return 0;
}

int renderer_artifact_load(db_t *db, const config_t *cfg, long long tenant_id, const char *ref,
                           artifact_blob_t *out) {
    memset(out, 0, sizeof *out);
    if (!ref || !ref_parse(ref, "artifact", NULL, NULL)) return AISPM_ENOTFOUND;
    db_res_t *res;
    int rc = db_query(db, "SELECT id, " ARTIFACT_COLUMNS " FROM artifacts WHERE tenant_id = ? AND ref = ?",
                      DB_ARGS(DBI(tenant_id), DBS(ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    char storage[1100];
    out->id = db_res_int(res, 0);
    snprintf(out->ref, sizeof out->ref, "%s", db_res_str(res, 1));
    snprintf(out->report_id, sizeof out->report_id, "%s", db_res_str(res, 2));
    snprintf(out->format, sizeof out->format, "%s", db_res_str(res, 3));
    snprintf(out->digest, sizeof out->digest, "%s", db_res_str(res, 6));
    out->size = db_res_int(res, 7);
    snprintf(out->content_type, sizeof out->content_type, "%s", db_res_str(res, 8));
    snprintf(out->filename, sizeof out->filename, "%s", db_res_str(res, 9));
    snprintf(out->evidence_ref, sizeof out->evidence_ref, "%s", db_res_str(res, 13));
    snprintf(storage, sizeof storage, "%s", db_res_str(res, 15));
    db_res_free(res);
    rc = renderer_read_stored(cfg, storage, out->size, out->digest, &out->bytes);
    if (rc) log_msg(LOG_ERROR, "artifact_integrity", "artifact %s is missing or does not match its digest", ref);
    return rc;
}

int renderer_artifact_bytes(db_t *db, const config_t *cfg, long long tenant_id, const char *ref,
                            render_content_t *out) {
    memset(out, 0, sizeof *out);
    artifact_blob_t blob;
    int rc = renderer_artifact_load(db, cfg, tenant_id, ref, &blob);
    if (rc) return rc;
    out->bytes = blob.bytes;
    snprintf(out->digest, sizeof out->digest, "%s", blob.digest);
    snprintf(out->content_type, sizeof out->content_type, "%s", blob.content_type);
    snprintf(out->filename, sizeof out->filename, "%s", blob.filename);
    snprintf(out->report_id, sizeof out->report_id, "%s", blob.report_id);
    snprintf(out->format, sizeof out->format, "%s", blob.format);
    return 0;
}

int renderer_read_stored(const config_t *cfg, const char *storage_path, long long size, const char *digest,
                         buf_t *out) {
    char path[2200], hex[SHA256_HEX_LEN + 1];
    snprintf(path, sizeof path, "%s/%s", cfg->artifacts_dir, storage_path);
    buf_reset(out);
    int rc = buf_read_file(out, path);
    if (!rc) sha256_hex(out->data ? out->data : "", out->len, hex);
    if (rc || (long long)out->len != size || strcmp(hex, digest)) {
        buf_free(out);
        return AISPM_EIO;
    }
    return 0;
}

int renderer_artifact_content(db_t *db, const config_t *cfg, const actor_t *a, const char *ref,
                              const char *request_id, render_content_t *out) {
    retention_verdict_t v;
    return renderer_artifact_content_checked(db, cfg, a, ref, "artifact_content", request_id, out, &v);
}

int renderer_verdict_rc(const retention_verdict_t *v) {
    if (v->status == 200) return 0;
    if (v->status == 404) return AISPM_ENOTFOUND;
    if (v->status == 410) return AISPM_EGONE;
    return AISPM_EFORBIDDEN;
}

int renderer_artifact_content_checked(db_t *db, const config_t *cfg, const actor_t *a, const char *ref,
                                      const char *route, const char *request_id, render_content_t *out,
                                      retention_verdict_t *verdict) {
    memset(out, 0, sizeof *out);
    memset(verdict, 0, sizeof *verdict);
    if (!ref || !ref_parse(ref, "artifact", NULL, NULL)) return AISPM_ENOTFOUND;
    /* the one retrievability rule (retention.h); a refusal is evidenced */
    int rc = retention_gate(db, a, ref, route, request_id, verdict, NULL);
    if (rc) return rc;
    rc = renderer_verdict_rc(verdict);
    if (rc) return rc;
    rc = renderer_artifact_bytes(db, cfg, a->tenant_id, ref, out);
    if (rc) return rc;
    json_object *d = json_object_new_object();
    put_str(d, "report_id", out->report_id);
    put_str(d, "format", out->format);
    put_str(d, "digest", out->digest);
    put_int(d, "size", (long long)out->bytes.len);
    rc = auth_evidence(db, a, "report.artifact_downloaded", ref, "success", request_id, d, NULL);
    json_object_put(d);
    if (rc) render_content_free(out);
    return rc;
}

void render_content_free(render_content_t *c) { buf_free(&c->bytes); }

/* ------------------------------------------------------------------------ */
/* render requests                                                           */

static void refuse(render_outcome_t *o, int status, const char *code, const char *detail, json_object *errors) {
    o->status = status;
    o->code = code;
    o->detail = detail;
    o->body = errors;
}

static json_object *field_error(const char *field, const char *msg) {
    json_object *e = json_object_new_object();
    put_str(e, field, msg);
    return e;
}

/* a period bound: "YYYY-MM-DD" (an end date is inclusive: the day after, at
 * 00:00Z) or an RFC 3339 date-time */
static int parse_bound(const char *s, bool is_end, int64_t *ms) {
    size_t n = strlen(s);
    if (n == 10) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%sT00:00:00Z", s);
        if (rfc3339_parse(tmp, ms)) return AISPM_EINVAL;
        if (is_end) *ms += DAY_MS;
        return 0;
    }
    if (n > 40) return AISPM_EINVAL;
    return rfc3339_parse(s, ms);
}

void render_outcome_free(render_outcome_t *o) {
    if (o->body) json_object_put(o->body);
    o->body = NULL;
}

static bool idem_key_valid(const char *k) {
    size_t n = strlen(k);
    if (n < 1 || n > 200) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e) return false;
    return true;
}

/* the existing request for an idempotency key: 1 found (same parameters),
 * 2 found with other parameters, 0 none, <0 error. ps/pe NULL: the request
 * named no period (its default moves with the day), so only report and
 * format are compared. */
static int find_by_key(db_t *db, const actor_t *a, const char *key, const char *report_id, const char *format,
                       const char *ps, const char *pe, json_object **out) {
    db_res_t *res;
    int rc = db_query(db, RENDER_SELECT "WHERE r.tenant_id = ? AND r.idempotency_key = ?",
                      DB_ARGS(DBI(a->tenant_id), DBS(key)), &res);
    if (rc) return rc;
    int found = 0;
    if (db_res_next(res)) {
        int64_t s1 = 0, s2 = 0, e1 = 0, e2 = 0;
        sql_datetime_parse(db_res_str(res, 4), &s1);
        sql_datetime_parse(db_res_str(res, 5), &e1);
        if (ps && pe) {
            sql_datetime_parse(ps, &s2);
            sql_datetime_parse(pe, &e2);
        } else {
            s2 = s1, e2 = e1;
        }
        bool same = !strcmp(db_res_str(res, 2), report_id) && !strcmp(db_res_str(res, 3), format) && s1 == s2 &&
                    e1 == e2;
        found = same ? 1 : 2;
        if (same) *out = render_row(res);
    }
    db_res_free(res);
    return found;
}

int renderer_enqueue(db_t *db, const actor_t *a, const char *report_id, const char *format, int64_t start,
                     int64_t end, const char *idem, const char *request_id, long long *render_id,
                     char ref[REF_MAX]) {
    char ps[RFC3339_MAX], pe[RFC3339_MAX], nows[RFC3339_MAX];
    sql_datetime_format(start, ps);
    sql_datetime_format(end, pe);
    sql_datetime_format(now_ms(), nows);
    int rc = ref_new("render", ref);
    if (rc) return rc;
    uint64_t rid = 0;
    rc = db_exec(db,
                 "INSERT INTO render_requests (ref, tenant_id, report_id, format, period_start, period_end, filters, "
                 "state, progress, idempotency_key, requested_by, created_at, updated_at) "
                 "VALUES (?, ?, ?, ?, ?, ?, '{}', 'queued', 0, ?, ?, ?, ?)",
                 DB_ARGS(DBS(ref), DBI(a->tenant_id), DBS(report_id), DBS(format), DBS(ps), DBS(pe), DBS(idem),
                         a->user_id ? DBI(a->user_id) : DBNULL, DBS(nows), DBS(nows)),
                 NULL, &rid);
    if (!rc) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"render_id\":%llu}", (unsigned long long)rid);
        rc = db_exec(db,
                     "INSERT INTO jobs (tenant_id, kind, payload, state, run_at, idempotency_key, created_at, "
                     "updated_at) VALUES (?, '" RENDER_JOB_KIND "', ?, 'queued', ?, ?, ?, ?)",
                     DB_ARGS(DBI(a->tenant_id), DBS(payload), DBS(nows), DBS(ref), DBS(nows), DBS(nows)), NULL, NULL);
    }
    if (!rc) {
        json_object *d = json_object_new_object();
        put_str(d, "report_id", report_id);
        put_str(d, "format", format);
        json_object *p = json_object_new_object();
        char t[RFC3339_MAX];
        rfc3339_format(start, 0, t);
        put_str(p, "start", t);
        rfc3339_format(end, 0, t);
        put_str(p, "end", t);
        json_object_object_add(d, "period", p);
        rc = auth_evidence(db, a, "report.render_requested", ref, "success", request_id, d, NULL);
        json_object_put(d);
    }
    if (!rc && render_id) *render_id = (long long)rid;
    return rc;
}

int renderer_request(db_t *db, const actor_t *a, json_object *body, const char *idem, const char *request_id,
                     render_outcome_t *out) {
    memset(out, 0, sizeof *out);
    if (!json_object_is_type(body, json_type_object)) {
        refuse(out, 422, "validation_failed", "the request is not valid", field_error("", "must be a JSON object"));
        return 0;
    }
    json_object *v;
    json_object *errors = json_object_new_object();
    const char *report_id = NULL, *format = NULL;
    if (!json_object_object_get_ex(body, "report_id", &v) || !json_object_is_type(v, json_type_string) ||
        !json_object_get_string_len(v))
        put_str(errors, "report_id", "must be a report id of the catalog");
    else
        report_id = json_object_get_string(v);
    if (!json_object_object_get_ex(body, "format", &v) || !json_object_is_type(v, json_type_string) ||
        !json_object_get_string_len(v))
        put_str(errors, "format", "must be one of the report's formats");
    else
        format = json_object_get_string(v);
    json_object_object_foreach(body, key, val) {
        (void)val;
        if (strcmp(key, "report_id") && strcmp(key, "format") && strcmp(key, "period") && strcmp(key, "filters"))
            put_str(errors, key, "unknown member");
    }
    if (json_object_object_length(errors)) {
        refuse(out, 422, "validation_failed", "the request is not valid", errors);
        return 0;
    }
    const catalog_report_t *rep = catalog_find(report_id);
    if (!rep) {
        json_object_put(errors);
        refuse(out, 404, "report_not_found", "no such report in the catalog", NULL);
        return 0;
    }
    if (!catalog_enabled(a, report_id)) {
        json_object_put(errors);
        refuse(out, 403, "report_disabled", "this report is disabled for your tenant", NULL);
        return 0;
    }
    bool offered = false;
    for (int i = 0; i < CATALOG_MAX_FORMATS && rep->formats[i]; i++)
        if (!strcmp(rep->formats[i], format)) offered = true;
    if (!offered) {
        json_object_put(errors);
        refuse(out, 422, "format_not_offered", "the catalog does not offer this report in that format", NULL);
        return 0;
    }
    if (!renderer_supported(report_id, format)) {
        json_object_put(errors);
        refuse(out, 422, "format_not_yet_available",
               "this report/format is not rendered in this release (available now: html and markdown for "
               "executive_risk_brief and soc2_audit_summary, json for board_kpi_pack, csv for the exports, jsonl "
               "for siem_jsonl_export, xlsx for xlsx_evidence_workbook, signed json for "
               "signed_json_evidence_packet, docx for docx_audit_narrative, zip for grc_upload_package, pdf for "
               "pdf_board_pack)",
               NULL);
        return 0;
    }

    /* period: default the 30 days up to and including today (UTC) */
    int64_t now = now_ms();
    int64_t end = (now / DAY_MS + 1) * DAY_MS, start = end - DEFAULT_PERIOD_DAYS * DAY_MS;
    bool period_given = false;
    if (json_object_object_get_ex(body, "period", &v) && v) {
        period_given = true;
        if (!json_object_is_type(v, json_type_object)) {
            put_str(errors, "period", "must be an object {start, end}");
        } else {
            json_object *s = get(v, "start"), *e = get(v, "end");
            json_object_object_foreach(v, pk, pv) {
                (void)pv;
                if (strcmp(pk, "start") && strcmp(pk, "end")) {
                    char f[80];
                    snprintf(f, sizeof f, "period.%.60s", pk);
                    put_str(errors, f, "unknown member");
                }
            }
            int64_t ms;
            if (s && (!json_object_is_type(s, json_type_string) || parse_bound(json_object_get_string(s), false, &ms)))
                put_str(errors, "period.start", "must be an RFC 3339 date (YYYY-MM-DD) or date-time");
            else if (s)
                start = ms;
            if (e && (!json_object_is_type(e, json_type_string) || parse_bound(json_object_get_string(e), true, &ms)))
                put_str(errors, "period.end", "must be an RFC 3339 date (YYYY-MM-DD, inclusive) or date-time");
            else if (e)
                end = ms;
            if (!json_object_object_length(errors)) {
                if (s && !e) end = start + DEFAULT_PERIOD_DAYS * DAY_MS;
                if (e && !s) start = end - DEFAULT_PERIOD_DAYS * DAY_MS;
                if (end <= start)
                    put_str(errors, "period", "end must be after start");
                else if (end - start > MAX_PERIOD_DAYS * DAY_MS)
                    put_str(errors, "period", "must not be longer than 3660 days");
                else if (start < 0)
                    put_str(errors, "period.start", "must not be before 1970");
            }
        }
    }
    if (json_object_object_get_ex(body, "filters", &v) && v) {
        if (!json_object_is_type(v, json_type_object)) {
            put_str(errors, "filters", "must be an object");
        } else {
            json_object_object_foreach(v, fk, fv) {
                (void)fv;
                char f[80];
                snprintf(f, sizeof f, "filters.%.60s", fk);
                put_str(errors, f, "no filters are supported for this report yet");
            }
        }
    }
    if (idem && !idem_key_valid(idem)) put_str(errors, "Idempotency-Key", "must be 1-200 printable ASCII characters");
    if (json_object_object_length(errors)) {
        refuse(out, 422, "validation_failed", "the request is not valid", errors);
        return 0;
    }
    json_object_put(errors);

    char ps[RFC3339_MAX], pe[RFC3339_MAX];
    sql_datetime_format(start, ps);
    sql_datetime_format(end, pe);
    if (idem) {
        json_object *o = NULL;
        int f = find_by_key(db, a, idem, report_id, format, period_given ? ps : NULL, period_given ? pe : NULL, &o);
        if (f < 0) return f;
        if (f == 1) {
            out->status = 200;
            out->body = o;
            return 0;
        }
        if (f == 2) {
            refuse(out, 409, "idempotency_key_reused",
                   "this Idempotency-Key was used for a render with other parameters", NULL);
            return 0;
        }
    }

    char ref[REF_MAX];
    int rc = db_begin(db);
    if (rc) return rc;
    rc = renderer_enqueue(db, a, report_id, format, start, end, idem, request_id, NULL, ref);
    if (rc) {
        db_rollback(db);
        if (rc == AISPM_ECONFLICT && idem) { /* a racing repeat of the same key won */
            json_object *o = NULL;
            int f = find_by_key(db, a, idem, report_id, format, period_given ? ps : NULL, period_given ? pe : NULL,
                                &o);
            if (f == 1) {
                out->status = 200;
                out->body = o;
                return 0;
            }
            if (f == 2) {
                refuse(out, 409, "idempotency_key_reused",
                       "this Idempotency-Key was used for a render with other parameters", NULL);
                return 0;
            }
        }
        return rc == AISPM_ECONFLICT ? AISPM_EDB : rc;
    }
    rc = db_commit(db);
    if (rc) return rc;
    rc = renderer_status(db, a, ref, &out->body);
    if (rc) return rc;
    out->status = 202;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* rendering                                                                 */

/* The tables of the exports, written once through a row sink
 * (render/rowsink.h): the CSV exports and the sheets of the XLSX evidence
 * workbook are the same rows. */

static void agents_rows(json_object *posture, rowsink_t *w) {
    static const char *const head[] = {"agent_id",
                                       "highest_severity",
                                       "events",
                                       "sessions",
                                       "decision_count",
                                       "decision_allow",
                                       "decision_warn",
                                       "decision_block",
                                       "decision_require_approval",
                                       "decision_allow_with_attestation",
                                       "decision_audit_only",
                                       "decision_not_applicable",
                                       "connectors",
                                       "first_seen_at",
                                       "last_seen_at",
                                       NULL};
    rs_header(w, head);
    json_object *agents = get(posture, "agents");
    size_t n = agents ? json_object_array_length(agents) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *g = json_object_array_get_idx(agents, i), *d = get(g, "decisions"), *cs = get(g, "connectors");
        rs_str(w, jstr(g, "agent_id"));
        rs_str(w, jstr(g, "highest_severity"));
        rs_int(w, jint(g, "events"));
        rs_int(w, jint(g, "sessions"));
        rs_int(w, jint(g, "decision_count"));
        for (int k = 0; decision_names[k]; k++) rs_int(w, jint(d, decision_names[k]));
        buf_t c = BUF_INIT;
        size_t nc = cs ? json_object_array_length(cs) : 0;
        for (size_t j = 0; j < nc; j++) {
            json_object *x = json_object_array_get_idx(cs, j);
            buf_printf(&c, "%s%s:%s", j ? ";" : "", jstr(x, "connector_type"), jstr(x, "connector_id"));
        }
        rs_strn(w, c.data, c.len);
        buf_free(&c);
        rs_str(w, jstr(g, "first_seen_at"));
        rs_str(w, jstr(g, "last_seen_at"));
        rs_end_row(w);
    }
}

static void coverage_rows(json_object *posture, rowsink_t *w) {
    static const char *const head[] = {"policy_pack",   "events",          "blocked",         "approval_required",
                                       "warned",        "evidence_refs",   "evidence_refs_per_event",
                                       "last_event_at", "last_evidence_at", NULL};
    rs_header(w, head);
    json_object *cc = get(posture, "control_coverage");
    size_t n = cc ? json_object_array_length(cc) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cc, i);
        rs_str(w, jstr(c, "policy_pack"));
        rs_int(w, jint(c, "events"));
        rs_int(w, jint(c, "blocked"));
        rs_int(w, jint(c, "approval_required"));
        rs_int(w, jint(c, "warned"));
        rs_int(w, jint(c, "evidence_refs"));
        rs_hundredths(w, ratio_hundredths(jint(c, "evidence_refs"), jint(c, "events")));
        rs_str(w, jstr(c, "last_event_at"));
        rs_str(w, jstr(c, "last_evidence_at"));
        rs_end_row(w);
    }
}

static void freshness_rows(json_object *posture, rowsink_t *w) {
    static const char *const head[] = {"policy_pack", "risk_classification", "events", "newest_event_at",
                                       "age_days",    "stale",               NULL};
    rs_header(w, head);
    json_object *fr = get(posture, "evidence_freshness");
    size_t n = fr ? json_object_array_length(fr) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *f = json_object_array_get_idx(fr, i);
        rs_str(w, jstr(f, "policy_pack"));
        rs_str(w, jstr(f, "risk_classification"));
        rs_int(w, jint(f, "events"));
        rs_str(w, jstr(f, "newest_event_at"));
        rs_int(w, jint(f, "age_days"));
        rs_str(w, jint(f, "age_days") > STALE_AFTER_DAYS ? "yes" : "no");
        rs_end_row(w);
    }
}

/* findings of the projection by risk class (its order) and severity */
static const char *const finding_severities[] = {"critical", "high", "medium", "low", "none", NULL};

static void findings_rows(json_object *posture, rowsink_t *w) {
    static const char *const head[] = {"risk_classification", "findings", "critical", "high", "medium", "low", "none",
                                       "last_finding_at",     NULL};
    rs_header(w, head);
    json_object *fr = get(get(posture, "findings"), "by_risk_classification");
    size_t n = fr ? json_object_array_length(fr) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *f = json_object_array_get_idx(fr, i), *bs = get(f, "by_severity");
        rs_str(w, jstr(f, "risk_classification"));
        rs_int(w, jint(f, "findings"));
        for (int k = 0; finding_severities[k]; k++) rs_int(w, jint(bs, finding_severities[k]));
        rs_str(w, jstr(f, "last_finding_at"));
        rs_end_row(w);
    }
}

static void summary_text(rowsink_t *w, const char *field, const char *value) {
    rs_str(w, field);
    rs_str(w, value);
    rs_end_row(w);
}
static void summary_int(rowsink_t *w, const char *field, long long value) {
    rs_str(w, field);
    rs_int(w, value);
    rs_end_row(w);
}

/* the workbook's first sheet: what, whose, as of when, and the headline counts */
static void summary_rows(json_object *posture, json_object *meta, rowsink_t *w) {
    static const char *const head[] = {"field", "value", NULL};
    json_object *totals = get(posture, "totals"), *dec = get(posture, "decisions"), *f = get(posture, "findings"),
                *sev = get(f, "by_severity"), *period = get(meta, "period"), *fr = get(posture, "evidence_freshness"),
                *cc = get(posture, "control_coverage"), *rk = get(f, "by_risk_classification"),
                *ag = get(posture, "agents");
    long long stale = 0;
    size_t nf = fr ? json_object_array_length(fr) : 0;
    for (size_t i = 0; i < nf; i++) stale += jint(json_object_array_get_idx(fr, i), "age_days") > STALE_AFTER_DAYS;
    rs_header(w, head);
    summary_text(w, "report", jstr(meta, "title"));
    summary_text(w, "report_id", jstr(meta, "report_id"));
    summary_text(w, "tenant_ref", jstr(meta, "tenant_ref"));
    summary_text(w, "tenant_name", jstr(meta, "tenant_name"));
    summary_text(w, "as_of", jstr(meta, "as_of"));
    summary_text(w, "period_start", jstr(period, "start"));
    summary_text(w, "period_end", jstr(period, "end"));
    summary_text(w, "timezone", jstr(meta, "timezone"));
    summary_text(w, "data_provenance", "enterprise_live_ingestion");
    summary_int(w, "events", jint(totals, "events"));
    summary_int(w, "agents", jint(totals, "agents"));
    summary_int(w, "sessions", jint(totals, "sessions"));
    summary_int(w, "findings", jint(f, "total"));
    summary_int(w, "high_critical_findings", jint(sev, "high") + jint(sev, "critical"));
    summary_int(w, "blocks", jint(dec, "block"));
    summary_int(w, "approvals_required", jint(dec, "require_approval"));
    summary_int(w, "warnings", jint(dec, "warn"));
    summary_int(w, "agent_rows", ag ? (long long)json_object_array_length(ag) : 0);
    summary_int(w, "policy_packs", cc ? (long long)json_object_array_length(cc) : 0);
    summary_int(w, "evidence_freshness_rows", (long long)nf);
    summary_int(w, "stale_evidence_rows", stale);
    summary_int(w, "stale_after_days", STALE_AFTER_DAYS);
    summary_int(w, "risk_classifications", rk ? (long long)json_object_array_length(rk) : 0);
}

static void csv_table(void (*rows)(json_object *, rowsink_t *), json_object *posture, buf_t *out) {
    csvw_sink_t w;
    csvw_sink_init(&w, out);
    rows(posture, &w.sink);
}

/* the XLSX evidence workbook: Summary, Agents, Controls, Evidence freshness,
 * Findings. Its creation time is as_of (else the period start), so the bytes
 * depend only on the data. */
static int workbook_xlsx(json_object *posture, json_object *meta, buf_t *out) {
    int64_t ms = 0;
    if (rfc3339_parse(jstr(meta, "as_of"), &ms) && rfc3339_parse(jstr(get(meta, "period"), "start"), &ms)) ms = 0;
    char subject[300], comments[400];
    snprintf(subject, sizeof subject, "AISPM evidence workbook for %s", jstr(meta, "tenant_ref"));
    snprintf(comments, sizeof comments, "as_of %s; period %s to %s; source: enterprise live ingestion",
             *jstr(meta, "as_of") ? jstr(meta, "as_of") : "(no ingested events)", jstr(get(meta, "period"), "start"),
             jstr(get(meta, "period"), "end"));
    const char *title = jstr(meta, "title");
    xlsxw_props_t props = {
        .title = *title ? title : "XLSX Evidence Workbook",
        .subject = subject,
        .author = "AISPM Report Center",
        .comments = comments,
        .created = ms > 1000 ? (time_t)(ms / 1000) : 1,
    };
    xlsxw_t *x;
    int rc = xlsxw_new(NULL, &props, &x);
    if (rc) return rc;
    summary_rows(posture, meta, xlsxw_sheet(x, "Summary"));
    agents_rows(posture, xlsxw_sheet(x, "Agents"));
    coverage_rows(posture, xlsxw_sheet(x, "Controls"));
    freshness_rows(posture, xlsxw_sheet(x, "Evidence freshness"));
    findings_rows(posture, xlsxw_sheet(x, "Findings"));
    return xlsxw_finish(x, out);
}

/* ------------------------------------------------------------------------ */
/* the DOCX audit narrative: WordprocessingML built with libxml2's
 * xmlTextWriter (every text escaped by the writer; characters XML 1.0 cannot
 * hold become '?'), packed by render/zipw.h with as_of as the entries' time.
 * Its numbers are the posture's, as in the SOC 2-style summary; its tables
 * are written by the same row builders as the CSV exports and the workbook. */

#define W_NS "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#define BC (const xmlChar *)

/* text safe for XML 1.0: C0 controls other than tab/newline/CR become '?' */
static void dx_text(xmlTextWriterPtr w, const char *v, size_t len) {
    char *s = xstrndup(v ? v : "", v ? len : 0);
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') *p = '?';
    xmlTextWriterWriteString(w, BC s);
    free(s);
}

static void dx_run(xmlTextWriterPtr w, const char *v, size_t len, int bold) {
    xmlTextWriterStartElement(w, BC "w:r");
    if (bold) {
        xmlTextWriterStartElement(w, BC "w:rPr");
        xmlTextWriterWriteElement(w, BC "w:b", BC "");
        xmlTextWriterEndElement(w);
    }
    xmlTextWriterStartElement(w, BC "w:t");
    xmlTextWriterWriteAttribute(w, BC "xml:space", BC "preserve");
    dx_text(w, v, len);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w);
}

static void dx_para(xmlTextWriterPtr w, const char *style, const char *text) {
    xmlTextWriterStartElement(w, BC "w:p");
    xmlTextWriterStartElement(w, BC "w:pPr");
    xmlTextWriterStartElement(w, BC "w:pStyle");
    xmlTextWriterWriteAttribute(w, BC "w:val", BC style);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w);
    dx_run(w, text, strlen(text), 0);
    xmlTextWriterEndElement(w);
}

static void dx_paraf(xmlTextWriterPtr w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dx_paraf(xmlTextWriterPtr w, const char *fmt, ...) {
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    dx_para(w, "Normal", buf_cstr(&b));
    buf_free(&b);
}

/* a table as a row sink: the header row in bold, then the data rows */
typedef struct {
    rowsink_t sink; /* first member */
    xmlTextWriterPtr w;
    int in_row, header;
} dx_table_t;

static void dx_cell(dx_table_t *t, const char *v, size_t len) {
    if (!t->in_row) {
        xmlTextWriterStartElement(t->w, BC "w:tr");
        t->in_row = 1;
    }
    xmlTextWriterStartElement(t->w, BC "w:tc");
    xmlTextWriterStartElement(t->w, BC "w:p");
    dx_run(t->w, v, len, t->header);
    xmlTextWriterEndElement(t->w);
    xmlTextWriterEndElement(t->w);
}
static void dx_end_row(rowsink_t *s) {
    dx_table_t *t = (dx_table_t *)s;
    if (t->in_row) xmlTextWriterEndElement(t->w);
    t->in_row = 0;
    t->header = 0;
}
static void dx_header(rowsink_t *s, const char *const *names) {
    dx_table_t *t = (dx_table_t *)s;
    int n = 0;
    while (names[n]) n++;
    char width[24];
    snprintf(width, sizeof width, "%d", n ? 14000 / n : 14000);
    xmlTextWriterStartElement(t->w, BC "w:tblGrid"); /* one column per header name */
    for (int i = 0; i < n; i++) {
        xmlTextWriterStartElement(t->w, BC "w:gridCol");
        xmlTextWriterWriteAttribute(t->w, BC "w:w", BC width);
        xmlTextWriterEndElement(t->w);
    }
    xmlTextWriterEndElement(t->w);
    t->header = 1;
    for (int i = 0; names[i]; i++) dx_cell(t, names[i], strlen(names[i]));
    dx_end_row(s);
}
static void dx_str(rowsink_t *s, const char *v, size_t len) { dx_cell((dx_table_t *)s, v, len); }
static void dx_num(rowsink_t *s, long long v) {
    char n[32];
    dx_cell((dx_table_t *)s, n, (size_t)snprintf(n, sizeof n, "%lld", v));
}
static void dx_hundredths(rowsink_t *s, long long v) {
    char n[48];
    dx_cell((dx_table_t *)s, n, (size_t)snprintf(n, sizeof n, "%lld.%02lld", v / 100, v % 100));
}

static void dx_table(xmlTextWriterPtr w, void (*rows)(json_object *, rowsink_t *), json_object *posture) {
    dx_table_t t = {{dx_header, dx_str, dx_num, dx_hundredths, dx_end_row}, w, 0, 0};
    xmlTextWriterStartElement(w, BC "w:tbl");
    xmlTextWriterStartElement(w, BC "w:tblPr");
    xmlTextWriterStartElement(w, BC "w:tblStyle");
    xmlTextWriterWriteAttribute(w, BC "w:val", BC "TableGrid");
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BC "w:tblW");
    xmlTextWriterWriteAttribute(w, BC "w:w", BC "0");
    xmlTextWriterWriteAttribute(w, BC "w:type", BC "auto");
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w);
    rows(posture, &t.sink);
    dx_end_row(&t.sink);
    xmlTextWriterEndElement(w);
}

/* the XML document written by body(w, ...) appended to the zip as name */
static int dx_part(zipw_t *z, const char *name, void (*body)(xmlTextWriterPtr, json_object *, json_object *),
                   json_object *posture, json_object *meta) {
    xmlBufferPtr b = xmlBufferCreate();
    xmlTextWriterPtr w = b ? xmlNewTextWriterMemory(b, 0) : NULL;
    if (!w) {
        if (b) xmlBufferFree(b);
        return AISPM_ERR;
    }
    xmlTextWriterStartDocument(w, NULL, "UTF-8", "yes");
    body(w, posture, meta);
    int rc = xmlTextWriterEndDocument(w) < 0 ? AISPM_ERR : 0;
    xmlFreeTextWriter(w);
    if (!rc) zipw_add(z, name, xmlBufferContent(b), (size_t)xmlBufferLength(b));
    xmlBufferFree(b);
    return rc;
}

static void dx_document(xmlTextWriterPtr w, json_object *posture, json_object *meta) {
    json_object *totals = get(posture, "totals"), *dec = get(posture, "decisions"), *f = get(posture, "findings"),
                *sev = get(f, "by_severity"), *period = get(meta, "period"), *fr = get(posture, "evidence_freshness"),
                *cc = get(posture, "control_coverage"), *ag = get(posture, "agents");
    long long stale = 0;
    size_t nf = fr ? json_object_array_length(fr) : 0;
    for (size_t i = 0; i < nf; i++) stale += jint(json_object_array_get_idx(fr, i), "age_days") > STALE_AFTER_DAYS;
    const char *title = *jstr(meta, "title") ? jstr(meta, "title") : "DOCX Audit Narrative";
    const char *as_of = *jstr(meta, "as_of") ? jstr(meta, "as_of") : "(no ingested events)";

    xmlTextWriterStartElement(w, BC "w:document");
    xmlTextWriterWriteAttribute(w, BC "xmlns:w", BC W_NS);
    xmlTextWriterStartElement(w, BC "w:body");
    dx_para(w, "Heading1", title);
    dx_paraf(w, "Tenant %s (%s).", jstr(meta, "tenant_name"), jstr(meta, "tenant_ref"));

    dx_para(w, "Heading2", "Scope and period");
    dx_paraf(w, "Period: %s to %s (timezone %s). Data as of %s. Source: enterprise live ingestion.",
             jstr(period, "start"), jstr(period, "end"), jstr(meta, "timezone"), as_of);

    dx_para(w, "Heading2", "Summary");
    dx_paraf(w, "Events: %lld.", jint(totals, "events"));
    dx_paraf(w, "Agents: %lld. Sessions: %lld.", jint(totals, "agents"), jint(totals, "sessions"));
    dx_paraf(w, "Findings: %lld, of which high or critical: %lld.", jint(f, "total"),
             jint(sev, "high") + jint(sev, "critical"));
    dx_paraf(w, "Blocks: %lld. Approvals required: %lld. Warnings: %lld.", jint(dec, "block"),
             jint(dec, "require_approval"), jint(dec, "warn"));

    dx_para(w, "Heading2", "Control coverage");
    dx_paraf(w, "Policy packs: %zu.", cc ? json_object_array_length(cc) : 0);
    dx_table(w, coverage_rows, posture);

    dx_para(w, "Heading2", "Findings by severity and risk class");
    dx_paraf(w, "Critical: %lld. High: %lld. Medium: %lld. Low: %lld.", jint(sev, "critical"), jint(sev, "high"),
             jint(sev, "medium"), jint(sev, "low"));
    dx_table(w, findings_rows, posture);

    dx_para(w, "Heading2", "Evidence freshness");
    dx_paraf(w, "Rows: %zu, stale (older than %d days): %lld.", nf, STALE_AFTER_DAYS, stale);
    dx_table(w, freshness_rows, posture);

    dx_para(w, "Heading2", "Agents");
    dx_paraf(w, "Agent rows: %zu.", ag ? json_object_array_length(ag) : 0);
    dx_table(w, agents_rows, posture);

    xmlTextWriterStartElement(w, BC "w:sectPr");
    xmlTextWriterStartElement(w, BC "w:pgSz");
    xmlTextWriterWriteAttribute(w, BC "w:w", BC "16838");
    xmlTextWriterWriteAttribute(w, BC "w:h", BC "11906");
    xmlTextWriterWriteAttribute(w, BC "w:orient", BC "landscape");
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w); /* body */
    xmlTextWriterEndElement(w); /* document */
}

static void dx_core(xmlTextWriterPtr w, json_object *posture, json_object *meta) {
    const char *title = *jstr(meta, "title") ? jstr(meta, "title") : "DOCX Audit Narrative";
    const char *created = *jstr(meta, "as_of") ? jstr(meta, "as_of") : jstr(get(meta, "period"), "start");
    char subject[300];
    snprintf(subject, sizeof subject, "AISPM audit narrative for %s", jstr(meta, "tenant_ref"));
    xmlTextWriterStartElement(w, BC "cp:coreProperties");
    xmlTextWriterWriteAttribute(w, BC "xmlns:cp",
                                BC "http://schemas.openxmlformats.org/package/2006/metadata/core-properties");
    xmlTextWriterWriteAttribute(w, BC "xmlns:dc", BC "http://purl.org/dc/elements/1.1/");
    xmlTextWriterWriteAttribute(w, BC "xmlns:dcterms", BC "http://purl.org/dc/terms/");
    xmlTextWriterWriteAttribute(w, BC "xmlns:xsi", BC "http://www.w3.org/2001/XMLSchema-instance");
    xmlTextWriterStartElement(w, BC "dc:title");
    dx_text(w, title, strlen(title));
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BC "dc:subject");
    dx_text(w, subject, strlen(subject));
    xmlTextWriterEndElement(w);
    xmlTextWriterWriteElement(w, BC "dc:creator", BC "AISPM Report Center");
    xmlTextWriterStartElement(w, BC "dcterms:created");
    xmlTextWriterWriteAttribute(w, BC "xsi:type", BC "dcterms:W3CDTF");
    dx_text(w, created, strlen(created));
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w);
}

static const char dx_content_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
    "<Override PartName=\"/word/document.xml\" "
    "ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>"
    "<Override PartName=\"/word/styles.xml\" "
    "ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>"
    "<Override PartName=\"/docProps/core.xml\" "
    "ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>"
    "</Types>\n";

static const char dx_rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
    "Target=\"word/document.xml\"/>"
    "<Relationship Id=\"rId2\" "
    "Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" "
    "Target=\"docProps/core.xml\"/>"
    "</Relationships>\n";

static const char dx_doc_rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>"
    "</Relationships>\n";

static const char dx_styles[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<w:styles xmlns:w=\"" W_NS "\">"
    "<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii=\"Calibri\" w:hAnsi=\"Calibri\" w:cs=\"Calibri\"/>"
    "<w:sz w:val=\"20\"/></w:rPr></w:rPrDefault></w:docDefaults>"
    "<w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/>"
    "<w:qFormat/><w:pPr><w:spacing w:after=\"120\"/></w:pPr></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/>"
    "<w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>"
    "<w:pPr><w:keepNext/><w:spacing w:before=\"240\" w:after=\"120\"/><w:outlineLvl w:val=\"0\"/></w:pPr>"
    "<w:rPr><w:b/><w:sz w:val=\"36\"/></w:rPr></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Heading2\"><w:name w:val=\"heading 2\"/>"
    "<w:basedOn w:val=\"Normal\"/><w:next w:val=\"Normal\"/><w:qFormat/>"
    "<w:pPr><w:keepNext/><w:spacing w:before=\"200\" w:after=\"80\"/><w:outlineLvl w:val=\"1\"/></w:pPr>"
    "<w:rPr><w:b/><w:sz w:val=\"28\"/></w:rPr></w:style>"
    "<w:style w:type=\"table\" w:styleId=\"TableGrid\"><w:name w:val=\"Table Grid\"/>"
    "<w:tblPr><w:tblBorders>"
    "<w:top w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"auto\"/>"
    "<w:left w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"auto\"/>"
    "<w:bottom w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"auto\"/>"
    "<w:right w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"auto\"/>"
    "<w:insideH w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"auto\"/>"
    "<w:insideV w:val=\"single\" w:sz=\"4\" w:space=\"0\" w:color=\"auto\"/>"
    "</w:tblBorders></w:tblPr></w:style>"
    "</w:styles>\n";

static int narrative_docx(json_object *posture, json_object *meta, buf_t *out) {
    int64_t ms = 0;
    if (rfc3339_parse(jstr(meta, "as_of"), &ms)) ms = 0;
    zipw_t *z;
    int rc = zipw_new((time_t)(ms / 1000), &z);
    if (rc) return rc;
    zipw_add(z, "[Content_Types].xml", dx_content_types, sizeof dx_content_types - 1);
    zipw_add(z, "_rels/.rels", dx_rels, sizeof dx_rels - 1);
    rc = dx_part(z, "word/document.xml", dx_document, posture, meta);
    zipw_add(z, "word/_rels/document.xml.rels", dx_doc_rels, sizeof dx_doc_rels - 1);
    zipw_add(z, "word/styles.xml", dx_styles, sizeof dx_styles - 1);
    if (!rc) rc = dx_part(z, "docProps/core.xml", dx_core, posture, meta);
    int frc = zipw_finish(z, out);
    return rc ? rc : frc;
}

/* ------------------------------------------------------------------------ */
/* the PDF board pack (render/pdfw.h): cover, contents, key indicators with
 * two bar charts drawn with cairo, and the findings and agents tables from the
 * same row builders as the CSV/XLSX exports. Its dates are as_of (else the
 * period start), so the bytes depend only on the data. */

static void board_pdf_content(pdfw_t *p, void *ctx) {
    json_object *posture = ctx, *totals = get(posture, "totals"), *dec = get(posture, "decisions"),
                *f = get(posture, "findings"), *sev = get(f, "by_severity");
    pdfw_section(p, "Key indicators");
    static const char *const labels[] = {"events",   "agents", "sessions",          "findings",
                                         "high/critical findings", "blocked actions", "approvals required",
                                         "warnings"};
    long long vals[] = {jint(totals, "events"), jint(totals, "agents"), jint(totals, "sessions"), jint(f, "total"),
                        jint(sev, "high") + jint(sev, "critical"), jint(dec, "block"),
                        jint(dec, "require_approval"), jint(dec, "warn")};
    pdfw_tiles(p, labels, vals, 8);
    long long dv[8], sv[8];
    int nd = 0, ns = 0;
    for (; decision_names[nd]; nd++) dv[nd] = jint(dec, decision_names[nd]);
    pdfw_bar_chart(p, "Decisions by kind", decision_names, dv, nd);
    for (; finding_severities[ns]; ns++) sv[ns] = jint(sev, finding_severities[ns]);
    pdfw_bar_chart(p, "Findings by severity", finding_severities, sv, ns);

    pdfw_section(p, "Findings");
    pdfw_paragraph(p, "Findings by risk classification and severity.");
    findings_rows(posture, pdfw_table(p, (const int[]){0, 1, 2, 3, 4, 5, 6, 7, -1},
                                      (const double[]){2.8, 1.1, 1, 1, 1.1, 1, 1, 2.6}));
    pdfw_table_end(p);

    pdfw_section(p, "Agents");
    pdfw_paragraph(p, "Every agent seen in the period: severity, activity and the decisions that stopped or held it.");
    agents_rows(posture, pdfw_table(p, (const int[]){0, 1, 2, 4, 7, 8, 14, -1},
                                    (const double[]){3.6, 1.2, 0.9, 1.2, 1.2, 1.5, 2.4}));
    pdfw_table_end(p);
}

static const char *brand_name(const brand_t *b, json_object *meta) {
    if (b && *b->display_name) return b->display_name;
    return *jstr(meta, "tenant_name") ? jstr(meta, "tenant_name") : jstr(meta, "tenant_ref");
}

static int board_pdf(json_object *posture, json_object *meta, const brand_t *brand, buf_t *out) {
    brand_t def;
    if (!brand) brand_default(&def), brand = &def;
    int64_t ms = 0;
    if (rfc3339_parse(jstr(meta, "as_of"), &ms) && rfc3339_parse(jstr(get(meta, "period"), "start"), &ms)) ms = 0;
    char sub[1200], digest[65], keywords[100];
    snprintf(sub, sizeof sub, "%s (%s)\nPeriod %s to %s\nAs of %s\nSource: enterprise live ingestion",
             brand_name(brand, meta), jstr(meta, "tenant_ref"), jstr(get(meta, "period"), "start"),
             jstr(get(meta, "period"), "end"), *jstr(meta, "as_of") ? jstr(meta, "as_of") : "(no ingested events)");
    brand_digest(brand, digest);
    snprintf(keywords, sizeof keywords, "brand-digest:%s", digest);
    pdfw_opts_t o = {
        .title = "Board Pack",
        .subtitle = sub,
        .disclaimer = *brand->footer_text ? brand->footer_text
                                          : "Prepared from ingested AISPM telemetry for board information only; not "
                                            "legal, audit or compliance advice.",
        .legal = brand->legal_disclaimer,
        .keywords = keywords,
        .date = ms > 1000 ? (time_t)(ms / 1000) : 1,
        .logo_png = brand->logo.len ? brand->logo.data : NULL,
        .logo_len = brand->logo.len,
    };
    brand_rgb(brand->primary_color, o.brand);
    brand_rgb(brand->accent_color, o.accent);
    return pdfw_render(&o, board_pdf_content, posture, out);
}

/* the board pack as HTML (not offered by the catalog): the same sections,
 * numbers and tables as the PDF, for the benchmark that prints it with
 * headless Chromium (bench/pdf.sh) — same data, other engine. Tables come
 * from the same row builders through a sink that collects JSON rows. */
typedef struct {
    rowsink_t sink;
    const int *cols;
    json_object *head, *rows, *cur;
    int col;
} jrows_t;

static bool jr_shown(jrows_t *j, int c) {
    for (int i = 0; j->cols[i] >= 0; i++)
        if (j->cols[i] == c) return true;
    return false;
}
static void jr_header(rowsink_t *s, const char *const *names) {
    jrows_t *j = (jrows_t *)s;
    for (int i = 0; names[i]; i++)
        if (jr_shown(j, i)) json_object_array_add(j->head, json_object_new_string(names[i]));
    j->col = 0;
}
static void jr_cell(jrows_t *j, const char *v, size_t len) {
    if (!j->cur) j->cur = json_object_new_array();
    if (jr_shown(j, j->col)) json_object_array_add(j->cur, json_object_new_string_len(v ? v : "", (int)len));
    j->col++;
}
static void jr_str(rowsink_t *s, const char *v, size_t len) { jr_cell((jrows_t *)s, v, len); }
static void jr_num(rowsink_t *s, long long v) {
    char b[32];
    jr_cell((jrows_t *)s, b, (size_t)snprintf(b, sizeof b, "%lld", v));
}
static void jr_hundredths(rowsink_t *s, long long v) {
    char b[40];
    jr_cell((jrows_t *)s, b, (size_t)snprintf(b, sizeof b, "%lld.%02lld", v / 100, v % 100));
}
static void jr_end_row(rowsink_t *s) {
    jrows_t *j = (jrows_t *)s;
    json_object_array_add(j->rows, j->cur ? j->cur : json_object_new_array());
    j->cur = NULL;
    j->col = 0;
}

static json_object *rows_json(void (*rows)(json_object *, rowsink_t *), json_object *posture, const int *cols) {
    jrows_t j = {{jr_header, jr_str, jr_num, jr_hundredths, jr_end_row}, cols, json_object_new_array(),
                 json_object_new_array(), NULL, 0};
    rows(posture, &j.sink);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "head", j.head);
    json_object_object_add(o, "rows", j.rows);
    return o;
}

static json_object *bars(const char *const *names, json_object *counts) {
    long long max = 0;
    for (int i = 0; names[i]; i++)
        if (jint(counts, names[i]) > max) max = jint(counts, names[i]);
    json_object *a = json_object_new_array();
    for (int i = 0; names[i]; i++) {
        json_object *x = json_object_new_object();
        put_str(x, "name", names[i]);
        put_int(x, "count", jint(counts, names[i]));
        put_int(x, "pct", max ? jint(counts, names[i]) * 100 / max : 0);
        json_object_array_add(a, x);
    }
    return a;
}

static int board_html(const tmpl_set_t *tmpl, json_object *posture, json_object *meta, const brand_t *brand,
                      buf_t *out) {
    if (!tmpl) return AISPM_ENOTFOUND;
    brand_t def;
    if (!brand) brand_default(&def), brand = &def;
    json_object *m = json_object_new_object(), *totals = get(posture, "totals"), *dec = get(posture, "decisions"),
                *f = get(posture, "findings"), *sev = get(f, "by_severity");
    json_object_object_foreach(meta, mk, mv) json_object_object_add(m, mk, json_object_get(mv));
    static const char *const labels[] = {"events", "agents", "sessions", "findings", "high/critical findings",
                                         "blocked actions", "approvals required", "warnings"};
    long long vals[] = {jint(totals, "events"), jint(totals, "agents"), jint(totals, "sessions"), jint(f, "total"),
                        jint(sev, "high") + jint(sev, "critical"), jint(dec, "block"),
                        jint(dec, "require_approval"), jint(dec, "warn")};
    json_object *tiles = json_object_new_array();
    for (int i = 0; i < 8; i++) {
        json_object *t = json_object_new_object();
        put_str(t, "label", labels[i]);
        put_int(t, "value", vals[i]);
        json_object_array_add(tiles, t);
    }
    json_object_object_add(m, "tiles", tiles);
    json_object_object_add(m, "decision_bars", bars(decision_names, dec));
    json_object_object_add(m, "severity_bars", bars(finding_severities, sev));
    json_object_object_add(m, "findings_table", rows_json(findings_rows, posture, (const int[]){0, 1, 2, 3, 4, 5, 6, 7, -1}));
    json_object_object_add(m, "agents_table", rows_json(agents_rows, posture, (const int[]){0, 1, 2, 4, 7, 8, 14, -1}));
    json_object *bo = json_object_new_object();
    put_str(bo, "display_name", brand_name(brand, meta));
    put_str(bo, "primary_color", brand->primary_color);
    put_str(bo, "accent_color", brand->accent_color);
    put_str(bo, "footer_text", *brand->footer_text ? brand->footer_text
                                                   : "Prepared from ingested AISPM telemetry for board information "
                                                     "only; not legal, audit or compliance advice.");
    put_str(bo, "legal_disclaimer", brand->legal_disclaimer);
    if (brand->logo.len) {
        char *b64 = xmalloc(b64_encoded_len(brand->logo.len) + 1);
        b64_encode((const uint8_t *)brand->logo.data, brand->logo.len, b64);
        put_str(bo, "logo_base64", b64);
        free(b64);
    }
    json_object_object_add(m, "brand", bo);
    int rc = tmpl_render(tmpl, "reports/html/pdf_board_pack", m, out);
    json_object_put(m);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* the GRC upload package: the tenant's current artifacts for GRC tools,
 * rendered from the same posture in the same job by the same writers as the
 * standalone reports (so each file equals a standalone render with the same
 * as_of byte for byte), with manifest.json (RFC 8785 canonical JSON) and
 * SHA256SUMS (`sha256sum -c` format, covering the files and the manifest),
 * packed by render/zipw.h with as_of as the entries' time. */

static const struct {
    const char *report_id, *format, *name;
} grc_files[] = {
    {"control_coverage_export", "csv", "control_coverage_export.csv"},
    {"evidence_freshness_export", "csv", "evidence_freshness_export.csv"},
    {"agent_risk_register", "csv", "agent_risk_register.csv"},
    {"board_kpi_pack", "json", "board_kpi_pack.json"},
    {"xlsx_evidence_workbook", "xlsx", "xlsx_evidence_workbook.xlsx"},
};
#define NGRC_FILES ((int)(sizeof grc_files / sizeof grc_files[0]))

/* meta as the standalone render of report_id/format would have it */
static json_object *grc_meta(json_object *meta, const char *report_id, const char *format) {
    json_object *m = json_object_new_object();
    json_object_object_foreach(meta, mk, mv) json_object_object_add(m, mk, json_object_get(mv));
    const catalog_report_t *rep = catalog_find(report_id);
    put_str(m, "report_id", report_id);
    put_str(m, "title", rep ? rep->title : report_id);
    put_str(m, "format", format);
    return m;
}

static int grc_package(json_object *posture, json_object *meta, buf_t *out) {
    int64_t ms = 0;
    if (rfc3339_parse(jstr(meta, "as_of"), &ms)) ms = 0;
    pkgw_t *z;
    int rc = pkgw_new((time_t)(ms / 1000), &z);
    if (rc) return rc;
    json_object *manifest = json_object_new_object(), *files = json_object_new_array();
    put_str(manifest, "package_type", "grc_upload");
    put_str(manifest, "tenant_ref", jstr(meta, "tenant_ref"));
    json_object_object_add(manifest, "as_of", json_object_get(get(meta, "as_of")));
    json_object_object_add(manifest, "period", json_object_get(get(meta, "period")));
    buf_t part = BUF_INIT;
    char digest[SHA256_HEX_LEN + 1];
    for (int i = 0; !rc && i < NGRC_FILES; i++) {
        buf_reset(&part);
        json_object *m = grc_meta(meta, grc_files[i].report_id, grc_files[i].format);
        rc = renderer_render_posture(NULL, grc_files[i].report_id, grc_files[i].format, posture, m, NULL, &part);
        json_object_put(m);
        if (rc) break;
        pkgw_add(z, grc_files[i].name, part.data, part.len, digest);
        json_object *f = json_object_new_object();
        put_str(f, "name", grc_files[i].name);
        put_str(f, "report_id", grc_files[i].report_id);
        put_str(f, "format", grc_files[i].format);
        put_str(f, "sha256", digest);
        put_int(f, "size", (long long)part.len);
        json_object_array_add(files, f);
    }
    json_object_object_add(manifest, "files", files);
    if (!rc) {
        buf_reset(&part);
        rc = jcs_serialize(manifest, &part);
    }
    if (!rc) pkgw_add(z, "manifest.json", part.data, part.len, NULL);
    json_object_put(manifest);
    buf_free(&part);
    if (rc) {
        pkgw_abort(z);
        return rc;
    }
    return pkgw_finish(z, out);
}

static json_object *coverage_list(json_object *posture) {
    json_object *arr = json_object_new_array(), *cc = get(posture, "control_coverage");
    size_t n = cc ? json_object_array_length(cc) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cc, i), *o = json_object_new_object();
        char pct[32];
        ratio_text(jint(c, "evidence_refs"), jint(c, "events"), pct);
        put_str(o, "policy_pack", jstr(c, "policy_pack"));
        put_int(o, "events", jint(c, "events"));
        put_int(o, "blocked", jint(c, "blocked"));
        put_int(o, "approval_required", jint(c, "approval_required"));
        put_int(o, "warned", jint(c, "warned"));
        put_int(o, "evidence_refs", jint(c, "evidence_refs"));
        put_str(o, "evidence_refs_per_event", pct);
        put_str(o, "last_event_at", jstr(c, "last_event_at"));
        put_str(o, "last_evidence_at", get(c, "last_evidence_at") ? jstr(c, "last_evidence_at") : NULL);
        json_object_array_add(arr, o);
    }
    return arr;
}

/* quarters of the daily timeline: [{quarter:"2026-Q4", events, blocked,
 * high_critical}] oldest first */
static json_object *quarters(json_object *posture) {
    json_object *arr = json_object_new_array(), *tl = get(posture, "timeline"), *cur = NULL;
    size_t n = tl ? json_object_array_length(tl) : 0;
    char curq[32] = "";
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(tl, i);
        const char *date = jstr(d, "date");
        if (strlen(date) < 7) continue;
        int month = atoi(date + 5);
        char q[32];
        snprintf(q, sizeof q, "%.4s-Q%d", date, (month - 1) / 3 + 1);
        if (!cur || strcmp(q, curq)) {
            cur = json_object_new_object();
            put_str(cur, "quarter", q);
            put_int(cur, "events", 0);
            put_int(cur, "blocked", 0);
            put_int(cur, "high_critical", 0);
            json_object_array_add(arr, cur);
            snprintf(curq, sizeof curq, "%s", q);
        }
        put_int(cur, "events", jint(cur, "events") + jint(d, "events"));
        put_int(cur, "blocked", jint(cur, "blocked") + jint(d, "blocked"));
        put_int(cur, "high_critical", jint(cur, "high_critical") + jint(d, "high_critical"));
    }
    return arr;
}

static int kpi_json(json_object *posture, json_object *meta, buf_t *out) {
    json_object *o = json_object_new_object(), *k = json_object_new_object();
    json_object *totals = get(posture, "totals"), *dec = get(posture, "decisions"),
                *sev = get(get(posture, "findings"), "by_severity");
    put_str(o, "schema_version", "aispm.board_kpi_pack.v1");
    put_str(o, "report_id", "board_kpi_pack");
    put_str(o, "tenant_ref", jstr(meta, "tenant_ref"));
    json_object_object_add(o, "as_of", json_object_get(get(meta, "as_of")));
    json_object_object_add(o, "period", json_object_get(get(meta, "period")));
    put_str(o, "data_provenance", "enterprise_live_ingestion");
    put_int(k, "events", jint(totals, "events"));
    put_int(k, "blocks", jint(dec, "block"));
    put_int(k, "approvals_required", jint(dec, "require_approval"));
    put_int(k, "warnings", jint(dec, "warn"));
    put_int(k, "high_critical_findings", jint(sev, "high") + jint(sev, "critical"));
    put_int(k, "findings", jint(get(posture, "findings"), "total"));
    put_int(k, "agents", jint(totals, "agents"));
    put_int(k, "sessions", jint(totals, "sessions"));
    json_object_object_add(o, "kpis", k);
    json_object_object_add(o, "coverage_by_policy_pack", coverage_list(posture));
    json_object *qs = quarters(posture), *qoq = json_object_new_object();
    size_t nq = json_object_array_length(qs);
    if (nq >= 2) {
        json_object *prev = json_object_array_get_idx(qs, nq - 2), *cur = json_object_array_get_idx(qs, nq - 1);
        json_object_object_add(qoq, "available", json_object_new_boolean(1));
        json_object_object_add(qoq, "previous", json_object_get(prev));
        json_object_object_add(qoq, "current", json_object_get(cur));
        json_object *ch = json_object_new_object(), *chp = json_object_new_object();
        static const char *const m[] = {"events", "blocked", "high_critical", NULL};
        for (int i = 0; m[i]; i++) {
            long long a = jint(prev, m[i]), b = jint(cur, m[i]);
            put_int(ch, m[i], b - a);
            json_object_object_add(chp, m[i], a ? json_object_new_double(pct_num(b - a, a)) : NULL);
        }
        json_object_object_add(qoq, "change", ch);
        json_object_object_add(qoq, "change_pct", chp);
    } else {
        json_object_object_add(qoq, "available", json_object_new_boolean(0));
        put_str(qoq, "reason", "the ingested history covers fewer than two calendar quarters");
    }
    json_object_object_add(o, "quarters", qs);
    json_object_object_add(o, "quarter_over_quarter", qoq);
    int rc = jcs_serialize(o, out);
    if (!rc) buf_putc(out, '\n');
    json_object_put(o);
    return rc;
}

static int cmp_findings(const void *a, const void *b) {
    json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
    long long fx = jint(x, "findings"), fy = jint(y, "findings");
    if (fx != fy) return fx > fy ? -1 : 1;
    return strcmp(jstr(x, "risk_classification"), jstr(y, "risk_classification"));
}

/* the view model of the document reports (templates/reports/...) */
static json_object *doc_model(json_object *posture, json_object *meta) {
    json_object *m = json_object_new_object();
    json_object_object_foreach(meta, mk, mv) json_object_object_add(m, mk, json_object_get(mv));
    json_object *totals = get(posture, "totals"), *dec = get(posture, "decisions"),
                *fsev = get(get(posture, "findings"), "by_severity");
    json_object_object_add(m, "totals", json_object_get(totals));
    put_int(m, "findings_total", jint(get(posture, "findings"), "total"));
    put_int(m, "high_critical", jint(fsev, "high") + jint(fsev, "critical"));
    put_int(m, "approvals_required", jint(dec, "require_approval"));
    put_int(m, "blocks", jint(dec, "block"));
    json_object *dl = json_object_new_array();
    for (int k = 0; decision_names[k]; k++) {
        json_object *x = json_object_new_object();
        put_str(x, "name", decision_names[k]);
        put_int(x, "count", jint(dec, decision_names[k]));
        json_object_array_add(dl, x);
    }
    json_object_object_add(m, "decisions", dl);
    static const char *const sv[] = {"critical", "high", "medium", "low", NULL};
    json_object *sl = json_object_new_array();
    for (int k = 0; sv[k]; k++) {
        json_object *x = json_object_new_object();
        put_str(x, "name", sv[k]);
        put_int(x, "count", jint(fsev, sv[k]));
        json_object_array_add(sl, x);
    }
    json_object_object_add(m, "severities", sl);
    /* top five risk classes by findings */
    json_object *fr = get(get(posture, "findings"), "by_risk_classification"), *top = json_object_new_array();
    size_t nr = fr ? json_object_array_length(fr) : 0;
    if (nr) {
        json_object **v = xcalloc(nr, sizeof *v);
        for (size_t i = 0; i < nr; i++) v[i] = json_object_array_get_idx(fr, i);
        qsort(v, nr, sizeof *v, cmp_findings);
        for (size_t i = 0; i < nr && i < 5; i++) {
            json_object *x = json_object_new_object(), *bs = get(v[i], "by_severity");
            put_str(x, "risk_classification", jstr(v[i], "risk_classification"));
            put_int(x, "findings", jint(v[i], "findings"));
            put_int(x, "high_critical", jint(bs, "high") + jint(bs, "critical"));
            json_object_array_add(top, x);
        }
        free(v);
    }
    json_object_object_add(m, "top_risks", top);
    /* top five agents by events (the projection's order) */
    json_object *ag = get(posture, "agents"), *ta = json_object_new_array();
    size_t na = ag ? json_object_array_length(ag) : 0;
    for (size_t i = 0; i < na && i < 5; i++) {
        json_object *g = json_object_array_get_idx(ag, i), *x = json_object_new_object(), *d = get(g, "decisions");
        put_str(x, "agent_id", jstr(g, "agent_id"));
        put_str(x, "highest_severity", jstr(g, "highest_severity"));
        put_int(x, "events", jint(g, "events"));
        put_int(x, "blocked", jint(d, "block"));
        put_int(x, "approvals_required", jint(d, "require_approval"));
        json_object_array_add(ta, x);
    }
    json_object_object_add(m, "top_agents", ta);
    json_object_object_add(m, "controls", coverage_list(posture));
    /* freshness with staleness against as_of */
    json_object *fa = get(posture, "evidence_freshness"), *fl = json_object_new_array();
    size_t nf = fa ? json_object_array_length(fa) : 0;
    long long stale = 0;
    for (size_t i = 0; i < nf; i++) {
        json_object *f = json_object_array_get_idx(fa, i), *x = json_object_new_object();
        put_str(x, "policy_pack", jstr(f, "policy_pack"));
        put_str(x, "risk_classification", jstr(f, "risk_classification"));
        put_int(x, "events", jint(f, "events"));
        put_str(x, "newest_event_at", jstr(f, "newest_event_at"));
        put_int(x, "age_days", jint(f, "age_days"));
        bool st = jint(f, "age_days") > STALE_AFTER_DAYS;
        stale += st;
        json_object_object_add(x, "stale", json_object_new_boolean(st));
        json_object_array_add(fl, x);
    }
    json_object_object_add(m, "freshness", fl);
    put_int(m, "stale_count", stale);
    put_int(m, "stale_after_days", STALE_AFTER_DAYS);
    /* the period's days of the timeline, with its sums and a trend of high and
     * critical findings (second half of the period against the first) */
    json_object *tl = get(posture, "timeline"), *days = json_object_new_array();
    const char *ps = jstr(get(meta, "period"), "start"), *pe = jstr(get(meta, "period"), "end");
    long long pev = 0, pbl = 0, phc = 0;
    size_t nt = tl ? json_object_array_length(tl) : 0;
    for (size_t i = 0; i < nt; i++) {
        json_object *d = json_object_array_get_idx(tl, i);
        const char *date = jstr(d, "date");
        if (strncmp(date, ps, 10) < 0 || strncmp(date, pe, 10) >= 0) continue;
        json_object_array_add(days, json_object_get(d));
        pev += jint(d, "events"), pbl += jint(d, "blocked"), phc += jint(d, "high_critical");
    }
    size_t nd = json_object_array_length(days);
    long long h1 = 0, h2 = 0;
    for (size_t i = 0; i < nd; i++) {
        long long hc = jint(json_object_array_get_idx(days, i), "high_critical");
        if (i < nd / 2)
            h1 += hc;
        else
            h2 += hc;
    }
    json_object_object_add(m, "period_days", days);
    put_int(m, "period_events", pev);
    put_int(m, "period_blocked", pbl);
    put_int(m, "period_high_critical", phc);
    put_str(m, "risk_trend", nd < 2 ? "insufficient data" : h2 > h1 ? "rising" : h2 < h1 ? "falling" : "flat");
    return m;
}

bool renderer_uses_brand(const char *report_id) {
    return !strcmp(report_id, "pdf_board_pack") || !strcmp(report_id, "executive_risk_brief") ||
           !strcmp(report_id, "soc2_audit_summary");
}

int renderer_render_posture(const tmpl_set_t *tmpl, const char *report_id, const char *format, json_object *posture,
                            json_object *meta, const brand_t *brand, buf_t *out) {
    if (!renderer_supported(report_id, format)) return AISPM_EINVAL;
    if (!strcmp(report_id, "agent_risk_register")) return csv_table(agents_rows, posture, out), 0;
    if (!strcmp(report_id, "control_coverage_export")) return csv_table(coverage_rows, posture, out), 0;
    if (!strcmp(report_id, "evidence_freshness_export")) return csv_table(freshness_rows, posture, out), 0;
    if (!strcmp(report_id, "xlsx_evidence_workbook")) return workbook_xlsx(posture, meta, out);
    if (!strcmp(report_id, "docx_audit_narrative")) return narrative_docx(posture, meta, out);
    if (!strcmp(report_id, "grc_upload_package")) return grc_package(posture, meta, out);
    if (!strcmp(report_id, "board_kpi_pack")) return kpi_json(posture, meta, out);
    if (!strcmp(report_id, "pdf_board_pack")) return board_pdf(posture, meta, brand, out);
    if (strcmp(report_id, "executive_risk_brief") && strcmp(report_id, "soc2_audit_summary")) return AISPM_EINVAL;
    if (!tmpl) return AISPM_ENOTFOUND;
    char name[128];
    snprintf(name, sizeof name, "reports/%s/%s", !strcmp(format, "html") ? "html" : "md", report_id);
    json_object *m = doc_model(posture, meta);
    /* the brand's display name and legal disclaimer (and its digest, so a
     * changed brand is a new document) */
    json_object *bo = json_object_new_object();
    char digest[65];
    brand_t def;
    if (!brand) brand_default(&def), brand = &def;
    brand_digest(brand, digest);
    put_str(bo, "display_name", brand_name(brand, meta));
    put_str(bo, "legal_disclaimer", brand->legal_disclaimer);
    put_str(bo, "primary_color", brand->primary_color);
    put_str(bo, "digest", digest);
    json_object_object_add(m, "brand", bo);
    int rc = tmpl_render(tmpl, name, m, out);
    json_object_put(m);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* the render job                                                            */

typedef struct {
    job_claim_t q; /* the claimed `jobs` row */
    long long render_id, tenant_id;
    /* request */
    char render_ref[REF_MAX], report_id[80], format[24], ps[RFC3339_MAX], pe[RFC3339_MAX], state[16];
    char tenant_ref[REF_MAX], tenant_name[201], requested_by[REF_MAX];
} job_t;

static void set_progress(db_t *db, const job_t *j, int progress) {
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    db_exec(db,
            "UPDATE render_requests SET state = 'running', progress = ?, updated_at = ? WHERE id = ? AND "
            "tenant_id = ? AND state IN ('queued', 'running')",
            DB_ARGS(DBI(progress), DBS(now), DBI(j->render_id), DBI(j->tenant_id)), NULL, NULL);
}

/* 1 claimed, 0 nothing to do, <0 error (the queue: db/jobs.c) */
static int claim(db_t *db, job_t *j) {
    int rc = jobs_claim(db, RENDER_JOB_KIND, "$.render_id", JOB_LOCK_S, &j->q);
    if (rc == 1) {
        j->render_id = j->q.payload_id;
        j->tenant_id = j->q.tenant_id;
    }
    return rc;
}

/* marks the job finished (state done|failed|dead) if this worker still owns
 * it; inside the caller's transaction. AISPM_ECONFLICT when it lost the job. */
static int job_finish(db_t *db, const job_t *j, const char *state, const char *err) {
    return jobs_finish(db, &j->q, state, err);
}

static int job_evidence(db_t *db, const job_t *j, const char *action, const char *object_ref, const char *outcome,
                        json_object *details, char ref_out[EVIDENCE_REF_MAX]) {
    evidence_event_t ev = {
        .tenant_id = j->tenant_id,
        .tenant_ref = j->tenant_ref,
        .actor_ref = "system",
        .action = action,
        .object_ref = object_ref,
        .outcome = outcome,
        .details = details,
    };
    return evidence_append(db, &ev, ref_out);
}

static void fail_request(db_t *db, const job_t *j, const char *code, bool dead) {
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    int rc = db_begin(db);
    if (!rc) rc = job_finish(db, j, dead ? "dead" : "failed", code);
    if (!rc) {
        json_object *d = json_object_new_object();
        put_str(d, "render_ref", j->render_ref);
        put_str(d, "report_id", j->report_id);
        put_str(d, "format", j->format);
        put_str(d, "error_code", code);
        if (j->requested_by[0]) put_str(d, "requested_by", j->requested_by);
        char fref[EVIDENCE_REF_MAX];
        rc = job_evidence(db, j, "report.render_failed", j->render_ref, "failure", d, fref);
        json_object_put(d);
        if (!rc)
            rc = delivery_audit_record(db, j->tenant_id, j->tenant_ref,
                                       j->requested_by[0] ? j->requested_by : "system", "render", "failed",
                                       j->report_id, j->format, j->render_ref, fref);
    }
    if (!rc)
        rc = db_exec(db,
                     "UPDATE render_requests SET state = 'failed', error_code = ?, updated_at = ?, finished_at = ? "
                     "WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(code), DBS(now), DBS(now), DBI(j->render_id), DBI(j->tenant_id)), NULL, NULL);
    if (rc) {
        db_rollback(db);
        log_msg(LOG_WARN, "render_job", "could not record the failure of %s (%d)", j->render_ref, rc);
        return;
    }
    db_commit(db);
}

/* a transient failure: back to the queue with a backoff, or failed for good
 * after max_attempts */
static void retry_or_fail(db_t *db, const job_t *j, const char *code) {
    if (j->q.attempts >= j->q.max_attempts) {
        fail_request(db, j, code, true);
        return;
    }
    jobs_requeue(db, &j->q, now_ms() + (1000LL << (j->q.attempts < 8 ? j->q.attempts : 8)), code);
}

static int load_request(db_t *db, job_t *j) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT r.ref, r.report_id, r.format, r.period_start, r.period_end, r.state, t.ref, t.name, "
                      "u.ref FROM render_requests r JOIN tenants t ON t.id = r.tenant_id LEFT JOIN users u ON "
                      "u.id = r.requested_by AND u.tenant_id = r.tenant_id WHERE r.id = ? AND r.tenant_id = ?",
                      DB_ARGS(DBI(j->render_id), DBI(j->tenant_id)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    snprintf(j->render_ref, sizeof j->render_ref, "%s", db_res_str(res, 0));
    snprintf(j->report_id, sizeof j->report_id, "%s", db_res_str(res, 1));
    snprintf(j->format, sizeof j->format, "%s", db_res_str(res, 2));
    snprintf(j->ps, sizeof j->ps, "%s", db_res_str(res, 3));
    snprintf(j->pe, sizeof j->pe, "%s", db_res_str(res, 4));
    snprintf(j->state, sizeof j->state, "%s", db_res_str(res, 5));
    snprintf(j->tenant_ref, sizeof j->tenant_ref, "%s", db_res_str(res, 6));
    snprintf(j->tenant_name, sizeof j->tenant_name, "%s", db_res_str(res, 7));
    snprintf(j->requested_by, sizeof j->requested_by, "%s", db_res_str(res, 8));
    db_res_free(res);
    return 0;
}


/* the SIEM export: one canonical line per ingested event of the period, built
 * from the stored public view only (never payload_ref / actor_ref) */
static int siem_jsonl(db_t *db, const job_t *j, const char *as_of, buf_t *out) {
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT ref, event_id, accepted_at, public_json FROM ingestion_events WHERE tenant_id = ? AND "
                      "occurred_at >= ? AND occurred_at < ? AND accepted_at <= ? ORDER BY occurred_at, id LIMIT ?",
                      DB_ARGS(DBI(j->tenant_id), DBS(j->ps), DBS(j->pe), DBS(as_of), DBI(SIEM_MAX_EVENTS)), &res);
    if (rc) return rc;
    while (db_res_next(res)) {
        json_object *line = json_object_new_object();
        json_object *env = json_tokener_parse(db_res_str(res, 3));
        if (!env) {
            json_object_put(line);
            rc = AISPM_ERR;
            break;
        }
        put_str(line, "event_ref", db_res_str(res, 0));
        put_str(line, "event_id", db_res_str(res, 1));
        json_object_object_add(line, "accepted_at", ts_json(db_res_str(res, 2), 1));
        json_object_object_add(line, "envelope", env);
        rc = jcs_serialize(line, out);
        json_object_put(line);
        if (rc) break;
        buf_putc(out, '\n');
    }
    db_res_free(res);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* the signed evidence packet (rendered by the job: it reads the evidence
 * chain and signs with the evidence key)                                    */

#define PACKET_REPORT "signed_json_evidence_packet"
#define PACKET_MAX_EVENTS 100
#define PACKET_JWKS_URL "/.well-known/jwks.json"

/* the tenant's evidence chain as of as_of, read inside the render snapshot:
 * the head is the newest link whose event was recorded at or before as_of,
 * the checkpoint the newest one signed by then at or below the head, and the
 * events the newest <= 100 links up to the head, in public form only.
 * Bounded by as_of (never by the clock), so the same data gives the same
 * packet however often it is rendered. */
static int packet_chain(db_t *db, const job_t *j, const char *as_of, json_object **out) {
    *out = NULL;
    char tenant_ulid[ULID_LEN + 1];
    if (!ref_parse(j->tenant_ref, "tenant", NULL, tenant_ulid)) return AISPM_EINVAL;
    db_res_t *res;
    long long head_seq = 0;
    json_object *head = NULL, *cp = NULL, *events = json_object_new_array();
    int rc = db_query(db,
                      "SELECT l.seq, l.digest FROM evidence_links l JOIN evidence_events e ON e.id = l.event_id "
                      "WHERE l.tenant_id = ? AND e.created_at <= ? ORDER BY l.seq DESC LIMIT 1",
                      DB_ARGS(DBI(j->tenant_id), DBS(as_of)), &res);
    if (!rc) {
        if (db_res_next(res)) {
            head_seq = db_res_int(res, 0);
            head = json_object_new_object();
            put_int(head, "seq", head_seq);
            put_str(head, "digest", db_res_str(res, 1));
        }
        db_res_free(res);
    }
    if (!rc && head_seq) {
        rc = db_query(db,
                      "SELECT seq, digest, kid, alg, signed_at FROM evidence_checkpoints WHERE tenant_id = ? AND "
                      "seq <= ? AND signed_at <= ? ORDER BY seq DESC LIMIT 1",
                      DB_ARGS(DBI(j->tenant_id), DBI(head_seq), DBS(as_of)), &res);
        if (!rc) {
            if (db_res_next(res)) {
                cp = json_object_new_object();
                put_int(cp, "seq", db_res_int(res, 0));
                put_str(cp, "digest", db_res_str(res, 1));
                put_str(cp, "kid", db_res_str(res, 2));
                put_str(cp, "alg", db_res_str(res, 3));
                json_object_object_add(cp, "signed_at", ts_json(db_res_str(res, 4), 1));
            }
            db_res_free(res);
        }
    }
    if (!rc && head_seq) {
        rc = db_query(db,
                      "SELECT l.seq, e.ulid, e.action, e.created_at FROM evidence_links l JOIN evidence_events e "
                      "ON e.id = l.event_id WHERE l.tenant_id = ? AND l.seq <= ? ORDER BY l.seq DESC LIMIT ?",
                      DB_ARGS(DBI(j->tenant_id), DBI(head_seq), DBI(PACKET_MAX_EVENTS)), &res);
        if (!rc) {
            while (db_res_next(res)) {
                char full[EVIDENCE_REF_MAX], pub[EVIDENCE_REF_MAX];
                evidence_ref_format(tenant_ulid, db_res_str(res, 1), full);
                if (evidence_ref_public(full, pub)) {
                    rc = AISPM_ERR;
                    break;
                }
                json_object *e = json_object_new_object();
                put_int(e, "seq", db_res_int(res, 0));
                put_str(e, "evidence_ref", pub);
                put_str(e, "action", db_res_str(res, 2));
                json_object_object_add(e, "recorded_at", ts_json(db_res_str(res, 3), 1));
                json_object_array_add(events, e);
            }
            db_res_free(res);
        }
    }
    if (rc) {
        json_object_put(head);
        json_object_put(cp);
        json_object_put(events);
        return rc;
    }
    json_object *chain = json_object_new_object();
    json_object_object_add(chain, "head", head);
    json_object_object_add(chain, "latest_checkpoint", cp);
    json_object_object_add(chain, "recent_events", events);
    put_int(chain, "recent_events_limit", PACKET_MAX_EVENTS);
    *out = chain;
    return 0;
}

/* the artifact: {"payload": <packet>, "jws": <compact JWS over the canonical
 * bytes of the packet>, "kid", "alg", "jwks_url"}, itself canonical JSON, so
 * the "payload" member's text is exactly the signed bytes */
static int packet_render(const signing_key_t *key, json_object *posture, json_object *meta, json_object *chain,
                         buf_t *out) {
    json_object *p = json_object_new_object(), *sum = json_object_new_object(), *dec = json_object_new_object();
    json_object *totals = get(posture, "totals"), *pd = get(posture, "decisions"), *pf = get(posture, "findings");
    put_str(p, "schema_version", "aispm.signed_evidence_packet.v1");
    put_str(p, "report_id", PACKET_REPORT);
    put_str(p, "tenant_ref", jstr(meta, "tenant_ref"));
    json_object_object_add(p, "as_of", json_object_get(get(meta, "as_of")));
    json_object_object_add(p, "period", json_object_get(get(meta, "period")));
    put_str(p, "data_provenance", "enterprise_live_ingestion");
    put_int(sum, "events", jint(totals, "events"));
    put_int(sum, "agents", jint(totals, "agents"));
    for (int k = 0; decision_names[k]; k++) put_int(dec, decision_names[k], jint(pd, decision_names[k]));
    json_object_object_add(sum, "decisions", dec);
    json_object *fs = json_object_new_object(), *bs = get(pf, "by_severity");
    put_int(fs, "total", jint(pf, "total"));
    json_object *sev = json_object_new_object();
    if (bs && json_object_is_type(bs, json_type_object)) {
        json_object_object_foreach(bs, sk, sv) put_int(sev, sk, (long long)json_object_get_int64(sv));
    }
    json_object_object_add(fs, "by_severity", sev);
    json_object_object_add(sum, "findings", fs);
    json_object *controls = json_object_new_array(), *cc = get(posture, "control_coverage");
    size_t n = cc ? json_object_array_length(cc) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(cc, i), *o = json_object_new_object();
        put_str(o, "policy_pack", jstr(c, "policy_pack"));
        put_int(o, "events", jint(c, "events"));
        put_int(o, "evidence_refs", jint(c, "evidence_refs"));
        json_object_object_add(o, "last_event_at", json_object_get(get(c, "last_event_at")));
        json_object_object_add(o, "last_evidence_at", json_object_get(get(c, "last_evidence_at")));
        json_object_array_add(controls, o);
    }
    json_object_object_add(sum, "controls", controls);
    json_object_object_add(p, "evidence_summary", sum);
    json_object_object_add(p, "evidence_chain", json_object_get(chain));

    buf_t canon = BUF_INIT, jws = BUF_INIT;
    int rc = jcs_serialize(p, &canon);
    if (!rc) rc = jws_compact_sign(key, canon.data ? canon.data : "", canon.len, &jws);
    if (!rc) {
        json_object *doc = json_object_new_object();
        json_object_object_add(doc, "payload", json_object_get(p));
        put_str(doc, "jws", buf_cstr(&jws));
        put_str(doc, "kid", key_kid(key));
        put_str(doc, "alg", key_jws_alg(key));
        put_str(doc, "jwks_url", PACKET_JWKS_URL);
        rc = jcs_serialize(doc, out);
        if (!rc) buf_putc(out, '\n');
        json_object_put(doc);
    }
    json_object_put(p);
    buf_free(&canon);
    buf_free(&jws);
    return rc;
}

static int mkdir_p(const char *dir) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0750) && errno != EEXIST) return AISPM_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0750) && errno != EEXIST) return AISPM_EIO;
    return 0;
}

/* <dir>/<tenant-ulid>/<digest>: written once via temp file + fsync + rename;
 * an existing file of the right size is kept (content-addressed) */
int renderer_store_bytes(const config_t *cfg, const char *tenant_ulid, const char *digest, const buf_t *b) {
    char dir[1100], path[1200], tmp[1250];
    snprintf(dir, sizeof dir, "%s/%s", cfg->artifacts_dir, tenant_ulid);
    snprintf(path, sizeof path, "%s/%s", dir, digest);
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == b->len) return 0;
    if (mkdir_p(dir)) return AISPM_EIO;
    snprintf(tmp, sizeof tmp, "%s/.tmp-%s-XXXXXX", dir, digest);
    int fd = mkstemp(tmp);
    if (fd < 0) return AISPM_EIO;
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        off += (size_t)n;
    }
    bool ok = off == b->len && fchmod(fd, 0440) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return AISPM_EIO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static json_object *make_meta(const job_t *j, const char *as_of_sql, const char *timezone) {
    json_object *meta = json_object_new_object();
    const catalog_report_t *rep = catalog_find(j->report_id);
    put_str(meta, "report_id", j->report_id);
    put_str(meta, "title", rep ? rep->title : j->report_id);
    put_str(meta, "format", j->format);
    put_str(meta, "tenant_ref", j->tenant_ref);
    put_str(meta, "tenant_name", j->tenant_name);
    json_object_object_add(meta, "as_of", ts_json(as_of_sql, 1));
    json_object *p = json_object_new_object();
    json_object_object_add(p, "start", ts_json(j->ps, 0));
    json_object_object_add(p, "end", ts_json(j->pe, 0));
    json_object_object_add(meta, "period", p);
    put_str(meta, "timezone", timezone);
    return meta;
}

/* ages of the freshness rows against as_of (not the clock), and no
 * generation time: the document depends only on the data */
static void normalise_posture(json_object *posture, int64_t as_of_ms) {
    json_object_object_del(posture, "generated_at");
    json_object *fr = get(posture, "evidence_freshness");
    size_t n = fr ? json_object_array_length(fr) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *f = json_object_array_get_idx(fr, i);
        int64_t ms;
        long long age = 0;
        if (!rfc3339_parse(jstr(f, "newest_event_at"), &ms) && ms <= as_of_ms) age = (as_of_ms - ms) / DAY_MS;
        put_int(f, "age_days", age);
    }
}

/* the render input, read in one transaction (one consistent InnoDB
 * snapshot): as_of, settings, posture, the brand (reports that use it), the
 * SIEM export's events and the packet's chain */
static int snapshot(db_t *db, const job_t *j, bool packet, char as_of[RFC3339_MAX], char retention[32], char tz[80],
                    json_object **posture, brand_t *brand, buf_t *bytes, json_object **chain) {
    actor_t act;
    memset(&act, 0, sizeof act);
    act.kind = ACTOR_SYSTEM;
    act.tenant_id = j->tenant_id;
    snprintf(act.tenant_ref, sizeof act.tenant_ref, "%s", j->tenant_ref);
    as_of[0] = retention[0] = tz[0] = 0;
    brand_default(brand);
    int rc = db_begin(db);
    if (!rc) {
        db_res_t *res;
        rc = db_query(db, "SELECT MAX(accepted_at) FROM ingestion_events WHERE tenant_id = ?",
                      DB_ARGS(DBI(j->tenant_id)), &res);
        if (!rc) {
            if (db_res_next(res)) snprintf(as_of, RFC3339_MAX, "%s", db_res_str(res, 0));
            db_res_free(res);
        }
        if (!rc) rc = setup_setting(db, j->tenant_id, "CAVRA_REPORT_RETENTION_DAYS", retention, 32);
        if (!rc) rc = setup_setting(db, j->tenant_id, "CAVRA_REPORT_DEFAULT_TIMEZONE", tz, 80);
        if (!rc) rc = ingestion_posture(db, &act, posture);
        if (!rc && renderer_uses_brand(j->report_id)) rc = brand_load(db, j->tenant_id, brand);
        if (!rc && !strcmp(j->report_id, "siem_jsonl_export"))
            rc = siem_jsonl(db, j, *as_of ? as_of : "1970-01-01 00:00:00", bytes);
        if (!rc && packet) rc = packet_chain(db, j, *as_of ? as_of : "1970-01-01 00:00:00", chain);
        db_commit(db);
    }
    return rc;
}

static void run_job(db_t *db, const config_t *cfg, const tmpl_set_t *tmpl, job_t *j) {
    int rc = load_request(db, j);
    if (rc == AISPM_ENOTFOUND) { /* nothing to render: drop the job */
        if (!db_begin(db)) {
            if (job_finish(db, j, "dead", "render_request_missing"))
                db_rollback(db);
            else
                db_commit(db);
        }
        return;
    }
    if (rc) {
        retry_or_fail(db, j, "data_unavailable");
        return;
    }
    if (j->q.attempts > j->q.max_attempts) {
        fail_request(db, j, "render_attempts_exhausted", true);
        return;
    }
    set_progress(db, j, 5);
    int idx = support_index(j->report_id, j->format);
    if (idx < 0) {
        fail_request(db, j, "format_not_yet_available", false);
        return;
    }
    /* the signed evidence packet: the evidence key (its public JWK registered
     * first, so /.well-known/jwks.json serves it before any packet exists) and
     * the tenant's pending evidence linked, so the chain head is complete */
    bool packet = !strcmp(j->report_id, PACKET_REPORT);
    signing_key_t *key = NULL;
    json_object *chain = NULL;
    if (packet) {
        if (key_load(cfg->evidence_key, &key)) {
            log_msg(LOG_ERROR, "render_job", "the evidence key is not loadable; %s cannot be signed", j->render_ref);
            fail_request(db, j, "signing_key_unavailable", false);
            return;
        }
        rc = evidence_register_key(db, key);
        if (!rc) rc = evidence_link_pending(db, j->tenant_id, 1000, NULL);
        if (rc) {
            key_free(key);
            retry_or_fail(db, j, "data_unavailable");
            return;
        }
    }

    /* one consistent snapshot: as_of, posture, settings and events */
    char as_of[RFC3339_MAX] = "", retention[32], tz[80];
    json_object *posture = NULL;
    buf_t bytes = BUF_INIT;
    brand_t brand;
    rc = snapshot(db, j, packet, as_of, retention, tz, &posture, &brand, &bytes, &chain);
    char brand_dg[65] = "";
    if (!rc && renderer_uses_brand(j->report_id)) brand_digest(&brand, brand_dg);
    if (rc) {
        json_object_put(posture);
        json_object_put(chain);
        key_free(key);
        buf_free(&bytes);
        brand_free(&brand);
        retry_or_fail(db, j, "data_unavailable");
        return;
    }
    set_progress(db, j, 10);
    int64_t as_of_ms = 0;
    if (*as_of) sql_datetime_parse(as_of, &as_of_ms);
    normalise_posture(posture, as_of_ms);
    json_object *meta = make_meta(j, as_of, *tz ? tz : "UTC");
    if (packet)
        rc = packet_render(key, posture, meta, chain, &bytes);
    else if (strcmp(j->report_id, "siem_jsonl_export"))
        rc = renderer_render_posture(tmpl, j->report_id, j->format, posture, meta, &brand, &bytes);
    brand_free(&brand);
    json_object_put(meta);
    json_object_put(posture);
    json_object_put(chain);
    key_free(key);
    if (rc) {
        buf_free(&bytes);
        fail_request(db, j, rc == AISPM_ENOTFOUND ? "template_unavailable" : "render_failed", false);
        return;
    }
    set_progress(db, j, 60);

    char digest[SHA256_HEX_LEN + 1], tenant_ulid[ULID_LEN + 1];
    sha256_hex(bytes.data ? bytes.data : "", bytes.len, digest);
    if (!ref_parse(j->tenant_ref, "tenant", NULL, tenant_ulid)) {
        buf_free(&bytes);
        fail_request(db, j, "render_failed", false);
        return;
    }
    /* the same bytes were deleted after an approved request: never store
     * them again under the tombstoned artifact */
    bool deleted = false;
    if (retention_artifact_deleted(db, j->tenant_id, digest, j->report_id, j->format, &deleted) || deleted) {
        buf_free(&bytes);
        if (deleted)
            fail_request(db, j, "artifact_deleted", false);
        else
            retry_or_fail(db, j, "data_unavailable");
        return;
    }
    rc = renderer_store_bytes(cfg, tenant_ulid, digest, &bytes);
    size_t size = bytes.len;
    buf_free(&bytes);
    if (rc) {
        log_msg(LOG_ERROR, "render_job", "could not store the artifact of %s: %s", j->render_ref, strerror(errno));
        retry_or_fail(db, j, "storage_failed");
        return;
    }
    set_progress(db, j, 90);

    /* artifact row, its retention item, request state, job state and
     * evidence: one transaction. The class comes from the retention module
     * (the tenant's class, else CAVRA_REPORT_RETENTION_DAYS). */
    retention_class_t rcls;
    if (retention_class_resolve(db, j->tenant_id, RETENTION_KIND_ARTIFACT, &rcls)) {
        retry_or_fail(db, j, "data_unavailable");
        return;
    }
    long days = rcls.days;
    char now[RFC3339_MAX], expires[RFC3339_MAX], storage[120], filename[200], rclass[32], aref[REF_MAX] = "";
    int64_t t = now_ms();
    sql_datetime_format(t, now);
    sql_datetime_format(t + days * DAY_MS, expires);
    snprintf(storage, sizeof storage, "%s/%s", tenant_ulid, digest);
    snprintf(rclass, sizeof rclass, "%s", rcls.name);
    snprintf(filename, sizeof filename, "%s_%.4s%.2s%.2s-%.4s%.2s%.2s.%s", j->report_id, j->ps, j->ps + 5, j->ps + 8,
             j->pe, j->pe + 5, j->pe + 8, supported[idx].ext);
    long long artifact_id = 0;
    rc = db_begin(db);
    if (rc) {
        retry_or_fail(db, j, "data_unavailable");
        return;
    }
    db_res_t *res;
    rc = db_query(db,
                  "SELECT id, ref FROM artifacts WHERE tenant_id = ? AND digest = ? AND report_id = ? AND format = ? "
                  "FOR UPDATE",
                  DB_ARGS(DBI(j->tenant_id), DBS(digest), DBS(j->report_id), DBS(j->format)), &res);
    if (!rc) {
        if (db_res_next(res)) {
            artifact_id = db_res_int(res, 0);
            snprintf(aref, sizeof aref, "%s", db_res_str(res, 1));
        }
        db_res_free(res);
    }
    bool created = false;
    if (!rc && !artifact_id) rc = ref_new("artifact", aref), created = true;
    char ev_ref[EVIDENCE_REF_MAX] = "";
    if (!rc) {
        json_object *d = json_object_new_object();
        put_str(d, "render_ref", j->render_ref);
        put_str(d, "report_id", j->report_id);
        put_str(d, "format", j->format);
        put_str(d, "digest", digest);
        put_int(d, "size", (long long)size);
        json_object_object_add(d, "as_of", ts_json(as_of, 1));
        json_object_object_add(d, "new_artifact", json_object_new_boolean(created));
        if (*brand_dg) put_str(d, "brand_digest", brand_dg);
        if (j->requested_by[0]) put_str(d, "requested_by", j->requested_by);
        rc = job_evidence(db, j, "report.rendered", aref, "success", d, ev_ref);
        json_object_put(d);
        /* the render as a delivery audit event (action render), same evidence */
        if (!rc)
            rc = delivery_audit_record(db, j->tenant_id, j->tenant_ref,
                                       j->requested_by[0] ? j->requested_by : "system", "render", "rendered",
                                       j->report_id, j->format, aref, ev_ref);
    }
    if (!rc && created) {
        uint64_t id = 0;
        rc = db_exec(db,
                     "INSERT INTO artifacts (ref, tenant_id, report_id, format, period_start, period_end, digest, "
                     "size, content_type, filename, retention_class, expires_at, as_of, evidence_ref, storage_path, "
                     "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(aref), DBI(j->tenant_id), DBS(j->report_id), DBS(j->format), DBS(j->ps), DBS(j->pe),
                             DBS(digest), DBI(size), DBS(supported[idx].content_type), DBS(filename), DBS(rclass),
                             DBS(expires), *as_of ? DBS(as_of) : DBNULL, DBS(ev_ref), DBS(storage), DBS(now)),
                     NULL, &id);
        artifact_id = (long long)id;
    }
    if (!rc && created) {
        /* searchable metadata: the catalog title, audiences and edition as tags */
        const catalog_report_t *cr = catalog_find(j->report_id);
        char tags[300] = "";
        size_t tl = 0;
        for (int k = 0; cr && k < CATALOG_MAX_AUDIENCES && cr->audiences[k]; k++)
            tl += (size_t)snprintf(tags + tl, sizeof tags - tl, "%s,", cr->audiences[k]);
        snprintf(tags + tl, sizeof tags - tl, "%s",
                 cr && !strcmp(cr->availability, "community") ? "community" : "enterprise");
        retention_item_t it = {.tenant_id = j->tenant_id,
                               .object_kind = RETENTION_KIND_ARTIFACT,
                               .object_ref = aref,
                               .report_id = j->report_id,
                               .format = j->format,
                               .title = cr ? cr->title : NULL,
                               .tags = tags,
                               .period_start = j->ps,
                               .period_end = j->pe,
                               .digest = digest,
                               .size = (long long)size,
                               .storage_path = storage,
                               .retention_class = rclass,
                               .created_at = now,
                               .expires_at = expires,
                               .evidence_ref = ev_ref};
        rc = retention_register(db, &it);
    }
    if (!rc)
        rc = db_exec(db,
                     "UPDATE render_requests SET state = 'succeeded', progress = 100, artifact_id = ?, "
                     "error_code = NULL, updated_at = ?, finished_at = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBI(artifact_id), DBS(now), DBS(now), DBI(j->render_id), DBI(j->tenant_id)), NULL, NULL);
    if (!rc) rc = job_finish(db, j, "done", NULL);
    if (rc) {
        db_rollback(db);
        /* ECONFLICT: a racing render stored the same artifact, or another
         * worker re-claimed the job after our lock expired; either way the
         * next attempt (if the job is still ours) finds the row */
        if (rc != AISPM_ECONFLICT || j->q.attempts < j->q.max_attempts) retry_or_fail(db, j, "data_unavailable");
        return;
    }
    db_commit(db);
}

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int renderer_render_direct(db_t *db, const tmpl_set_t *tmpl, const actor_t *tenant, const char *report_id,
                           const char *format, const char *ps_sql, const char *pe_sql, int repeat,
                           render_direct_stats_t *st, buf_t *out) {
    bool board_html_bench = !strcmp(report_id, "pdf_board_pack") && !strcmp(format, "html");
    if ((!renderer_supported(report_id, format) && !board_html_bench) || !strcmp(report_id, PACKET_REPORT) ||
        !strcmp(report_id, "siem_jsonl_export") || repeat < 1)
        return AISPM_EINVAL;
    job_t j;
    memset(&j, 0, sizeof j);
    j.tenant_id = tenant->tenant_id;
    snprintf(j.tenant_ref, sizeof j.tenant_ref, "%s", tenant->tenant_ref);
    snprintf(j.tenant_name, sizeof j.tenant_name, "%s", tenant->tenant_name);
    snprintf(j.report_id, sizeof j.report_id, "%s", report_id);
    snprintf(j.format, sizeof j.format, "%s", format);
    snprintf(j.ps, sizeof j.ps, "%s", ps_sql);
    snprintf(j.pe, sizeof j.pe, "%s", pe_sql);
    memset(st, 0, sizeof *st);
    char as_of[RFC3339_MAX], retention[32], tz[80];
    json_object *posture = NULL, *chain = NULL;
    brand_t brand;
    buf_t unused = BUF_INIT;
    int64_t t0 = mono_us();
    int rc = snapshot(db, &j, false, as_of, retention, tz, &posture, &brand, &unused, &chain);
    buf_free(&unused);
    if (!rc) {
        int64_t as_of_ms = 0;
        if (*as_of) sql_datetime_parse(as_of, &as_of_ms);
        normalise_posture(posture, as_of_ms);
    }
    st->load_ms = (double)(mono_us() - t0) / 1000.0;
    json_object *meta = rc ? NULL : make_meta(&j, as_of, *tz ? tz : "UTC");
    for (int i = 0; !rc && i < repeat && i < RENDER_DIRECT_MAX; i++) {
        buf_reset(out);
        t0 = mono_us();
        rc = board_html_bench ? board_html(tmpl, posture, meta, &brand, out)
                              : renderer_render_posture(tmpl, report_id, format, posture, meta, &brand, out);
        st->ms[i] = (double)(mono_us() - t0) / 1000.0;
        st->n = i + 1;
    }
    if (!rc && renderer_uses_brand(report_id)) brand_digest(&brand, st->brand_digest);
    json_object_put(meta);
    json_object_put(posture);
    json_object_put(chain);
    brand_free(&brand);
    return rc;
}

int renderer_run_pending(db_t *db, const config_t *cfg, const tmpl_set_t *tmpl, int max_jobs, int *ran) {
    int n = 0, rc = 0;
    for (int i = 0; i < max_jobs; i++) {
        job_t j;
        memset(&j, 0, sizeof j);
        rc = claim(db, &j);
        if (rc <= 0) break;
        run_job(db, cfg, tmpl, &j);
        n++;
        rc = 0;
    }
    if (ran) *ran = n;
    return rc < 0 ? rc : 0;
}
