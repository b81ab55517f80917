/*
 * delivery_audit_export.c: delivery audit exports under retention (see
 * delivery_audit_export.h). The projections come from delivery.c
 * (delivery_audit_range); storage from renderer.c; the lifecycle from
 * retention.c.
 */
#include "reports/delivery_audit_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cursor.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/timeutil.h"
#include "render/csvw.h"
#include "reports/delivery.h"
#include "server/auth.h"

#define EXPORT_COLS                                                                                                    \
    "e.id, e.ref, e.format, COALESCE(e.action, ''), e.since_at, e.until_at, e.event_count, e.digest, e.size, "        \
    "e.filename, e.retention_class, COALESCE(i.expires_at, ''), e.evidence_ref, e.created_at, e.request_digest, "     \
    "COALESCE(" RETENTION_LIFECYCLE_SQL ", 'retained')"
#define EXPORT_FROM                                                                                                    \
    "delivery_audit_exports e LEFT JOIN retention_items i ON i.tenant_id = e.tenant_id AND i.object_ref = e.ref"

static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void rfc_of(const char *sql, char out[RFC3339_MAX]) {
    int64_t ms = 0;
    out[0] = 0;
    if (sql && *sql && !sql_datetime_parse(sql, &ms)) rfc3339_format(ms, 0, out);
}

static void refuse(audit_export_outcome_t *o, int status, const char *code, const char *detail, json_object *errors) {
    o->status = status, o->code = code, o->detail = detail, o->body = errors;
}

static json_object *export_json(db_res_t *res) {
    json_object *o = json_object_new_object();
    char t[RFC3339_MAX], url[160];
    put_str(o, "export_ref", db_res_str(res, 1));
    put_str(o, "format", db_res_str(res, 2));
    put_str(o, "action", *db_res_str(res, 3) ? db_res_str(res, 3) : NULL);
    rfc_of(db_res_str(res, 4), t);
    put_str(o, "since", t);
    rfc_of(db_res_str(res, 5), t);
    put_str(o, "until", t);
    json_object_object_add(o, "event_count", json_object_new_int64(db_res_int(res, 6)));
    put_str(o, "digest", db_res_str(res, 7));
    put_str(o, "digest_algorithm", "sha256");
    json_object_object_add(o, "size", json_object_new_int64(db_res_int(res, 8)));
    put_str(o, "filename", db_res_str(res, 9));
    put_str(o, "retention_class", db_res_str(res, 10));
    rfc_of(db_res_str(res, 11), t);
    put_str(o, "expires_at", t[0] ? t : NULL);
    put_str(o, "lifecycle_state", db_res_str(res, 15));
    char pub[EVIDENCE_REF_MAX];
    put_str(o, "evidence_ref", evidence_ref_public(db_res_str(res, 12), pub) ? NULL : pub);
    rfc_of(db_res_str(res, 13), t);
    put_str(o, "created_at", t);
    snprintf(url, sizeof url, "/enterprise/aispm/reports/delivery-audit/exports/%s/content", db_res_str(res, 1));
    put_str(o, "content_url", url);
    return o;
}

/* one export by ref or (by_key) by idempotency key; digest_out (65, may be
 * NULL) receives its request digest */
static int load(db_t *db, const actor_t *a, bool by_key, const char *v, json_object **out, char *digest_out) {
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    db_res_t *res;
    int rc = db_query(db,
                      by_key ? "SELECT " EXPORT_COLS " FROM " EXPORT_FROM " WHERE e.tenant_id = ? AND e.idempotency_key = ?"
                             : "SELECT " EXPORT_COLS " FROM " EXPORT_FROM " WHERE e.tenant_id = ? AND e.ref = ?",
                      DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(v)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    *out = export_json(res);
    if (digest_out) snprintf(digest_out, 65, "%s", db_res_str(res, 14));
    db_res_free(res);
    return 0;
}

int audit_export_get(db_t *db, const actor_t *a, const char *ref, json_object **out) {
    if (!ref || !ref_parse(ref, "audit-export", NULL, NULL)) return AISPM_ENOTFOUND;
    return load(db, a, false, ref, out, NULL);
}

int audit_export_list(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out) {
    long long before = 0;
    if (cursor_parse(cursor, &before)) return AISPM_EINVAL;
    limit = cursor_limit(limit);
    char now[RFC3339_MAX];
    sql_datetime_format(now_ms(), now);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT " EXPORT_COLS " FROM " EXPORT_FROM
                      " WHERE e.tenant_id = ? AND (? = 0 OR e.id < ?) ORDER BY e.id DESC LIMIT ?",
                      DB_ARGS(DBS(now), DBI(a->tenant_id), DBI(before), DBI(before), DBI(limit)), &res);
    if (rc) return rc;
    json_object *o = db_page(res, export_json, "exports", limit);
    *out = o;
    return 0;
}

/* ---- building ---- */

static const char *jget(json_object *o, const char *path) {
    /* path "a.b": nested string or number as text (static for numbers) */
    char k1[40];
    const char *dot = strchr(path, '.');
    json_object *v = o;
    if (dot) {
        snprintf(k1, sizeof k1, "%.*s", (int)(dot - path), path);
        if (!json_object_object_get_ex(v, k1, &v)) return NULL;
        path = dot + 1;
    }
    if (!json_object_object_get_ex(v, path, &v) || !v) return NULL;
    return json_object_get_string(v);
}

static const char *const csv_cols[] = {
    "audit_event.audit_event_id",       "audit_event.action",          "audit_event.occurred_at",
    "audit_event.tenant_ref",           "audit_event.actor_ref",       "audit_event.report_id",
    "audit_event.requested_format",     "audit_event.delivery_mode",   "audit_event.status",
    "recipient_summary.recipient_count", "recipient_summary.external_domain_count",
    "approval.approval_required",       "approval.approval_ref",       "approval.decision",
    "retry.attempt",                    "retry.max_attempts",          "retry.next_retry_at",
    "retry.terminal",                   "evidence.report_digest_ref",  "evidence.delivery_audit_ref",
    NULL};

static void csv_of(json_object *events, buf_t *out) {
    csvw_t w;
    csvw_init(&w, out);
    const char *hdr[32];
    int n = 0;
    for (; csv_cols[n]; n++) hdr[n] = strchr(csv_cols[n], '.') + 1;
    hdr[n++] = "allowed_domains";
    hdr[n++] = "evidence_refs";
    hdr[n] = NULL;
    csvw_header(&w, hdr);
    for (size_t i = 0; i < json_object_array_length(events); i++) {
        json_object *e = json_object_array_get_idx(events, i), *rs, *ev, *arr;
        for (int c = 0; csv_cols[c]; c++) csvw_str(&w, jget(e, csv_cols[c]));
        buf_t list = BUF_INIT;
        for (int k = 0; k < 2; k++) {
            buf_reset(&list);
            arr = NULL;
            if (k == 0 && json_object_object_get_ex(e, "recipient_summary", &rs))
                json_object_object_get_ex(rs, "allowed_domains", &arr);
            if (k == 1 && json_object_object_get_ex(e, "evidence", &ev)) json_object_object_get_ex(ev, "evidence_refs", &arr);
            for (size_t j = 0; arr && j < json_object_array_length(arr); j++) {
                if (j) buf_append(&list, " ", 1);
                const char *s = json_object_get_string(json_object_array_get_idx(arr, j));
                buf_append(&list, s, strlen(s));
            }
            csvw_strn(&w, list.data ? list.data : "", list.len);
        }
        buf_free(&list);
        csvw_end_row(&w);
    }
}

static void jsonl_of(json_object *events, buf_t *out) {
    for (size_t i = 0; i < json_object_array_length(events); i++) {
        const char *s = json_object_to_json_string_ext(json_object_array_get_idx(events, i), JSON_C_TO_STRING_PLAIN);
        buf_append(out, s, strlen(s));
        buf_append(out, "\n", 1);
    }
}

static bool idem_key_valid(const char *k) {
    size_t n = k ? strlen(k) : 0;
    if (n < 1 || n > 200) return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e) return false;
    return true;
}

static int repeat_of(db_t *db, const actor_t *a, const char *key, const char *digest, audit_export_outcome_t *out,
                     bool *found) {
    json_object *o;
    char stored[65] = "";
    *found = false;
    int rc = load(db, a, true, key, &o, stored);
    if (rc == AISPM_ENOTFOUND) return 0;
    if (rc) return rc;
    *found = true;
    if (strcmp(stored, digest)) {
        json_object_put(o);
        refuse(out, 409, "idempotency_key_reused", "this Idempotency-Key was used for a different export", NULL);
        return 0;
    }
    out->status = 200, out->body = o;
    return 0;
}

int audit_export_create(db_t *db, const config_t *cfg, const actor_t *a, json_object *body, const char *idem,
                        const char *request_id, audit_export_outcome_t *out) {
    static const char *const actions[] = {"catalog", "render", "send", "schedule", "test_delivery", NULL};
    memset(out, 0, sizeof *out);
    json_object *errors = json_object_new_object(), *v;
    if (idem && !idem_key_valid(idem))
        json_object_object_add(errors, "Idempotency-Key", json_object_new_string("1 to 200 printable ASCII characters"));
    int64_t since = 0, until = 0;
    const char *fmt = NULL, *action = NULL;
    if (!json_object_is_type(body, json_type_object)) {
        json_object_object_add(errors, "body", json_object_new_string("a JSON object"));
    } else {
        if (!json_object_object_get_ex(body, "since", &v) || !json_object_is_type(v, json_type_string) ||
            rfc3339_parse(json_object_get_string(v), &since))
            json_object_object_add(errors, "since", json_object_new_string("an RFC 3339 time"));
        if (!json_object_object_get_ex(body, "until", &v) || !json_object_is_type(v, json_type_string) ||
            rfc3339_parse(json_object_get_string(v), &until))
            json_object_object_add(errors, "until", json_object_new_string("an RFC 3339 time"));
        else if (since && until <= since)
            json_object_object_add(errors, "until", json_object_new_string("after since"));
        if (json_object_object_get_ex(body, "format", &v) && json_object_is_type(v, json_type_string) &&
            (!strcmp(json_object_get_string(v), "jsonl") || !strcmp(json_object_get_string(v), "csv")))
            fmt = json_object_get_string(v);
        else json_object_object_add(errors, "format", json_object_new_string("jsonl or csv"));
        if (json_object_object_get_ex(body, "action", &v) && v) {
            const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
            for (int i = 0; actions[i]; i++)
                if (!strcmp(s, actions[i])) action = actions[i];
            if (!action)
                json_object_object_add(errors, "action",
                                       json_object_new_string("catalog, render, send, schedule or test_delivery"));
        }
    }
    if (json_object_object_length(errors)) {
        refuse(out, 422, "validation_failed", "the request is not valid", errors);
        return 0;
    }
    json_object_put(errors);

    char since_sql[RFC3339_MAX], until_sql[RFC3339_MAX], canon[200], rdigest[65];
    sql_datetime_format(since, since_sql);
    sql_datetime_format(until, until_sql);
    snprintf(canon, sizeof canon, "%s|%s|%s|%s", since_sql, until_sql, fmt, action ? action : "");
    sha256_hex(canon, strlen(canon), rdigest);
    bool found = false;
    int rc = idem ? repeat_of(db, a, idem, rdigest, out, &found) : 0;
    if (rc || found) return rc;

    json_object *events = NULL;
    rc = delivery_audit_range(db, a, action, since_sql, until_sql, AUDIT_EXPORT_MAX_EVENTS, &events);
    if (rc == AISPM_ETOOMANY) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "until", json_object_new_string("the range holds more than 50000 events"));
        refuse(out, 422, "export_too_large", "the range holds too many events; export a shorter range", e);
        return 0;
    }
    if (rc) return rc;
    int count = (int)json_object_array_length(events);
    buf_t bytes = BUF_INIT;
    if (!strcmp(fmt, "csv")) csv_of(events, &bytes);
    else jsonl_of(events, &bytes);
    json_object_put(events);

    char ref[REF_MAX], tulid[ULID_LEN + 1], digest[65], storage[120], filename[120], created[RFC3339_MAX],
        expires[RFC3339_MAX], ev_ref[EVIDENCE_REF_MAX] = "";
    int64_t now = now_ms();
    ref_new("audit-export", ref);
    ref_parse(a->tenant_ref, "tenant", NULL, tulid);
    sha256_hex(bytes.data ? bytes.data : "", bytes.len, digest);
    snprintf(storage, sizeof storage, "%s/%s", tulid, digest);
    snprintf(filename, sizeof filename, "delivery_audit_%.26s.%s", ref + strlen("audit-export:"), fmt);
    rc = renderer_store_bytes(cfg, tulid, digest, &bytes);
    long long size = (long long)bytes.len;
    buf_free(&bytes);
    if (rc) {
        log_msg(LOG_ERROR, "audit_export", "export %s was not stored", ref);
        refuse(out, 500, "storage_failed", "the export could not be stored", NULL);
        return 0;
    }
    retention_class_t cls;
    sql_datetime_format(now, created);
    rc = db_begin(db);
    if (!rc) rc = retention_class_resolve(db, a->tenant_id, RETENTION_KIND_AUDIT_EXPORT, &cls);
    if (!rc) {
        sql_datetime_format(now + (int64_t)cls.days * DAY_MS, expires);
        json_object *d = json_object_new_object();
        put_str(d, "format", fmt);
        put_str(d, "action", action);
        put_str(d, "since", json_object_get_string(json_object_object_get(body, "since")));
        put_str(d, "until", json_object_get_string(json_object_object_get(body, "until")));
        json_object_object_add(d, "event_count", json_object_new_int(count));
        put_str(d, "digest", digest);
        json_object_object_add(d, "size", json_object_new_int64(size));
        put_str(d, "retention_class", cls.name);
        rc = auth_evidence(db, a, "delivery_audit.exported", ref, "success", request_id, d, ev_ref);
        json_object_put(d);
    }
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO delivery_audit_exports (ref, tenant_id, format, action, since_at, until_at, "
                     "event_count, digest, size, filename, storage_path, requested_by_ref, idempotency_key, "
                     "request_digest, retention_class, evidence_ref, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(ref), DBI(a->tenant_id), DBS(fmt), DBS(action), DBS(since_sql), DBS(until_sql),
                             DBI(count), DBS(digest), DBI(size), DBS(filename), DBS(storage),
                             DBS(retention_actor_ref(a)), idem ? DBS(idem) : DBNULL, DBS(rdigest), DBS(cls.name),
                             DBS(ev_ref), DBS(created)),
                     NULL, NULL);
    if (!rc) {
        retention_item_t it = {.tenant_id = a->tenant_id,
                               .object_kind = RETENTION_KIND_AUDIT_EXPORT,
                               .object_ref = ref,
                               .report_id = RETENTION_REPORT_DELIVERY_AUDIT,
                               .format = fmt,
                               .title = "Delivery audit export",
                               .tags = "delivery_audit,export",
                               .period_start = since_sql,
                               .period_end = until_sql,
                               .digest = digest,
                               .size = size,
                               .storage_path = storage,
                               .retention_class = cls.name,
                               .created_at = created,
                               .expires_at = expires,
                               .evidence_ref = ev_ref};
        rc = retention_register(db, &it);
    }
    if (!rc) rc = db_commit(db);
    if (rc) {
        db_rollback(db);
        if (rc == AISPM_ECONFLICT && idem) { /* a racing request with the key committed first */
            rc = repeat_of(db, a, idem, rdigest, out, &found);
            if (!rc && found) return 0;
        }
        return rc ? rc : AISPM_EDB;
    }
    rc = load(db, a, false, ref, &out->body, NULL);
    out->status = 201;
    return rc;
}

int audit_export_content(db_t *db, const config_t *cfg, const actor_t *a, const char *ref, const char *request_id,
                         render_content_t *out, retention_verdict_t *verdict) {
    memset(out, 0, sizeof *out);
    memset(verdict, 0, sizeof *verdict);
    if (!ref || !ref_parse(ref, "audit-export", NULL, NULL)) return AISPM_ENOTFOUND;
    /* the one retrievability rule (retention.h); a refusal is evidenced */
    int rc = retention_gate(db, a, ref, "delivery_audit_export_content", request_id, verdict, NULL);
    if (rc) return rc;
    if (verdict->status != 200) return renderer_verdict_rc(verdict);
    db_res_t *res;
    rc = db_query(db,
                  "SELECT digest, size, filename, storage_path, format FROM delivery_audit_exports WHERE tenant_id = ? "
                  "AND ref = ?",
                  DB_ARGS(DBI(a->tenant_id), DBS(ref)), &res);
    if (rc) return rc;
    if (!db_res_next(res)) {
        db_res_free(res);
        return AISPM_ENOTFOUND;
    }
    char storage[200];
    long long size = db_res_int(res, 1);
    snprintf(out->digest, sizeof out->digest, "%s", db_res_str(res, 0));
    snprintf(out->filename, sizeof out->filename, "%s", db_res_str(res, 2));
    snprintf(storage, sizeof storage, "%s", db_res_str(res, 3));
    snprintf(out->format, sizeof out->format, "%s", db_res_str(res, 4));
    snprintf(out->content_type, sizeof out->content_type, "%s",
             !strcmp(out->format, "csv") ? "text/csv; charset=utf-8" : "application/x-ndjson");
    snprintf(out->report_id, sizeof out->report_id, "%s", RETENTION_REPORT_DELIVERY_AUDIT);
    db_res_free(res);
    rc = renderer_read_stored(cfg, storage, size, out->digest, &out->bytes);
    if (rc) {
        log_msg(LOG_ERROR, "audit_export_integrity", "export %s is missing or does not match its digest", ref);
        return rc;
    }
    json_object *d = json_object_new_object();
    put_str(d, "digest", out->digest);
    json_object_object_add(d, "size", json_object_new_int64((long long)out->bytes.len));
    rc = auth_evidence(db, a, "delivery_audit.export_downloaded", ref, "success", request_id, d, NULL);
    json_object_put(d);
    if (rc) render_content_free(out);
    return rc;
}
