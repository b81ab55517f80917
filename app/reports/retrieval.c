/*
 * retrieval.c: search over retained report metadata and single-use download
 * refs (see retrieval.h).
 *
 * The search SQL is one literal: every optional filter is a parameter pair
 * "(? = '' OR condition)", so nothing of the request ever becomes SQL text.
 * Substring terms are matched with LIKE over the lower-cased search text,
 * with %, _ and ! escaped ('!' is the ESCAPE character).
 */
#include "reports/retrieval.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/evidence.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "reports/catalog.h"
#include "server/auth.h"

#define MAX_TERMS 4
#define MAX_TAGS 4
#define QUERY_MAX 200
#define DL_PREFIX "dl_"
#define DL_RAW 32

static const char *const formats[] = {"markdown", "json", "csv", "pdf", "xlsx", "docx", "html", "jsonl", "zip", NULL};
static const char *const states[] = {"retained", "archived", "expired", "legal_hold", "pending_approval", "deleted",
                                     NULL};
static const char *const modes[] = {"retention_aware", "include_expired_metadata", "legal_hold_only", NULL};

static void put_str(json_object *o, const char *k, const char *v) {
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}
static json_object *ts_json(const char *sql) {
    int64_t ms;
    if (!sql || !*sql || sql_datetime_parse(sql, &ms)) return NULL;
    char out[RFC3339_MAX];
    rfc3339_format(ms, 0, out);
    return json_object_new_string(out);
}
static bool in_list(const char *const *list, const char *s) {
    for (int i = 0; s && list[i]; i++)
        if (!strcmp(list[i], s)) return true;
    return false;
}
static bool ident_ok(const char *s, size_t max) {
    size_t n = strlen(s);
    if (!n || n > max) return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_' || *s == '-')) return false;
    return true;
}
static void set(retrieval_outcome_t *o, int status, const char *code, const char *detail, json_object *b) {
    o->status = status, o->code = code, o->detail = detail, o->body = b;
}

/* a JSON array of strings -> comma list; each must satisfy `allowed` (a list)
 * or be an identifier of at most 64 characters when allowed is NULL */
static bool list_csv(json_object *arr, const char *const *allowed, int max, char *out, size_t outlen,
                     json_object *norm) {
    out[0] = 0;
    if (!arr) return true;
    if (!json_object_is_type(arr, json_type_array) || (int)json_object_array_length(arr) > max) return false;
    size_t n = 0;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string)) return false;
        const char *s = json_object_get_string(v);
        if (allowed ? !in_list(allowed, s) : !ident_ok(s, 64)) return false;
        int w = snprintf(out + n, outlen - n, "%s%s", n ? "," : "", s);
        if (w < 0 || (size_t)w >= outlen - n) return false;
        n += (size_t)w;
        bool dup = false;
        for (size_t k = 0; k < json_object_array_length(norm); k++)
            dup |= !strcmp(json_object_get_string(json_object_array_get_idx(norm, k)), s);
        if (!dup) json_object_array_add(norm, json_object_new_string(s));
    }
    return true;
}

/* lower-cased, LIKE-escaped "%term%" */
static void like_pattern(const char *term, size_t len, char *out, size_t outlen) {
    size_t n = 0;
    out[n++] = '%';
    for (size_t i = 0; i < len && n + 4 < outlen; i++) {
        char c = (char)tolower((unsigned char)term[i]);
        if (c == '%' || c == '_' || c == '!') out[n++] = '!';
        out[n++] = c;
    }
    out[n++] = '%';
    out[n] = 0;
}

static const char *decision_of(const retention_verdict_t *v) {
    switch (v->status) {
    case 200: return "allow";
    case 404: return "not_found";
    case 410: return "expired";
    default: return "deny";
    }
}

static json_object *common_head(const actor_t *a, const char *generated) {
    json_object *o = json_object_new_object();
    put_str(o, "schema_version", "cavra.aispm.report_search_retrieval.v1");
    put_str(o, "product", "CAVRA");
    put_str(o, "edition", "enterprise");
    put_str(o, "contract_visibility", "public_contract");
    put_str(o, "generated_at", generated);
    put_str(o, "tenant_ref", a->tenant_ref);
    return o;
}

static void common_tail(json_object *o, bool approval_required) {
    json_object *ac = json_object_new_object();
    json_object_object_add(ac, "rbac_enforced", json_object_new_boolean(true));
    json_object_object_add(ac, "retention_checked", json_object_new_boolean(true));
    json_object_object_add(ac, "legal_hold_checked", json_object_new_boolean(true));
    json_object_object_add(ac, "download_audit_required", json_object_new_boolean(true));
    json_object_object_add(ac, "approval_required", json_object_new_boolean(approval_required));
    json_object_object_add(o, "access_controls", ac);
    json_object *red = json_object_new_object();
    const char *falses[] = {"raw_report_content_included", "download_url_included", "recipient_addresses_included",
                            "customer_records_included", "secrets_included"};
    for (size_t i = 0; i < sizeof falses / sizeof falses[0]; i++)
        json_object_object_add(red, falses[i], json_object_new_boolean(false));
    put_str(red, "payload_handling", "metadata_only");
    json_object_object_add(o, "redaction", red);
    json_object *eb = json_object_new_object();
    const char *b[] = {"search_index",           "rbac_authorization",    "immutable_ref_resolution",
                       "signed_download_urls",   "retrieval_audit_store", "license_enforcement"};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) put_str(eb, b[i], "requires_cavra_enterprise");
    json_object_object_add(o, "enterprise_boundaries", eb);
}

static json_object *audit_block(const char *ev_ref, const char *logged) {
    json_object *au = json_object_new_object(), *refs = json_object_new_array();
    char pub[EVIDENCE_REF_MAX], t[ULID_LEN + 1], e[ULID_LEN + 1], aref[64];
    evidence_ref_public(ev_ref, pub);
    evidence_ref_parse(ev_ref, t, e);
    snprintf(aref, sizeof aref, "audit:%s", e);
    put_str(au, "audit_event_ref", aref);
    put_str(au, "logged_at", logged);
    json_object_array_add(refs, json_object_new_string(pub));
    json_object_object_add(au, "evidence_refs", refs);
    return au;
}

/* columns of ITEM_SELECT */
#define ITEM_SELECT                                                                                              \
    "SELECT i.id, i.object_ref, i.report_id, i.format, i.title, i.tags, i.period_start, i.period_end, "          \
    "i.created_at, i.expires_at, i.state, i.legal_hold_ref, i.pending_request_ref IS NOT NULL, "                 \
    "i.expires_at <= ?, i.revoked_at IS NOT NULL, i.evidence_ref, i.object_kind FROM retention_items i "

/* one result: the rich form (results[]) and the contract form (public) */
static void item_rows(db_res_t *res, json_object **rich, json_object **pub) {
    const char *state = db_res_str(res, 10);
    bool held = !db_res_isnull(res, 11), pending = db_res_int(res, 12), expired = db_res_int(res, 13),
         revoked = db_res_int(res, 14);
    const char *lc = retention_lifecycle_state(state, held, pending, expired);
    retention_verdict_t v;
    retention_decide(true, true, state, held, revoked, expired, &v);
    const char *ref = db_res_str(res, 1);
    char evpub[EVIDENCE_REF_MAX] = "", url[200];
    const char *ev = db_res_str(res, 15);
    if (!*ev || evidence_ref_public(ev, evpub)) snprintf(evpub, sizeof evpub, "cavra://evidence/redacted/none");

    json_object *r = json_object_new_object();
    put_str(r, "report_ref", ref);
    put_str(r, "object_kind", db_res_str(res, 16));
    put_str(r, "report_id", db_res_str(res, 2));
    put_str(r, "title", db_res_str(res, 4));
    put_str(r, "format", db_res_str(res, 3));
    json_object *p = json_object_new_object();
    json_object_object_add(p, "start", ts_json(db_res_str(res, 6)));
    json_object_object_add(p, "end", ts_json(db_res_str(res, 7)));
    json_object_object_add(r, "period", p);
    json_object *tags = json_object_new_array();
    const char *t = db_res_str(res, 5);
    while (*t) {
        size_t l = strcspn(t, ",");
        if (l) json_object_array_add(tags, json_object_new_string_len(t, (int)l));
        t += l;
        if (*t == ',') t++;
    }
    json_object_object_add(r, "tags", tags);
    json_object_object_add(r, "created_at", ts_json(db_res_str(res, 8)));
    json_object_object_add(r, "expires_at", ts_json(db_res_str(res, 9)));
    put_str(r, "lifecycle_state", lc);
    json_object_object_add(r, "legal_hold", json_object_new_boolean(held));
    json_object_object_add(r, "download_allowed", json_object_new_boolean(v.status == 200));
    put_str(r, "download_blocked_reason", v.status == 200 ? NULL : v.code);
    put_str(r, "evidence_ref", evpub);
    snprintf(url, sizeof url, RETRIEVAL_API "/retention/items/%s", ref);
    put_str(r, "lifecycle_url", url);
    *rich = r;

    json_object *c = json_object_new_object();
    put_str(c, "report_ref", ref);
    put_str(c, "report_id", db_res_str(res, 2));
    put_str(c, "format", in_list(formats, db_res_str(res, 3)) ? db_res_str(res, 3) : "zip");
    json_object_object_add(c, "created_at", ts_json(db_res_str(res, 8)));
    put_str(c, "lifecycle_state", lc);
    json_object_object_add(c, "download_allowed", json_object_new_boolean(v.status == 200));
    put_str(c, "evidence_ref", evpub);
    json_object_object_add(c, "immutable_store_ref", retention_store_ref(ref));
    *pub = c;
}

int retrieval_search(db_t *db, const actor_t *a, json_object *body, const char *request_id,
                     retrieval_outcome_t *out) {
    memset(out, 0, sizeof *out);
    json_object *errors = json_object_new_object(), *v = NULL, *filters = NULL;
    if (!json_object_is_type(body, json_type_object)) {
        set(out, 422, "validation_failed", "the request is not valid", errors);
        put_str(errors, "body", "must be an object");
        return 0;
    }
    json_object_object_foreach(body, key, val) {
        (void)val;
        if (strcmp(key, "query") && strcmp(key, "filters") && strcmp(key, "retention_mode") &&
            strcmp(key, "cursor") && strcmp(key, "limit"))
            put_str(errors, key, "unknown member");
    }
    const char *query = "";
    if (json_object_object_get_ex(body, "query", &v) && v) {
        if (!json_object_is_type(v, json_type_string) || strlen(json_object_get_string(v)) > QUERY_MAX ||
            !utf8_valid(json_object_get_string(v), strlen(json_object_get_string(v))))
            put_str(errors, "query", "a string of at most 200 characters");
        else
            query = json_object_get_string(v);
    }
    /* terms: split on whitespace, at most MAX_TERMS */
    char pats[MAX_TERMS][2 * QUERY_MAX + 4];
    int nterms = 0;
    memset(pats, 0, sizeof pats);
    for (const char *s = query; *s;) {
        while (*s && isspace((unsigned char)*s)) s++;
        size_t l = 0;
        while (s[l] && !isspace((unsigned char)s[l])) l++;
        if (!l) break;
        if (nterms == MAX_TERMS) {
            put_str(errors, "query", "at most 4 terms");
            break;
        }
        like_pattern(s, l, pats[nterms++], sizeof pats[0]);
        s += l;
    }
    const char *mode = "retention_aware";
    if (json_object_object_get_ex(body, "retention_mode", &v) && v) {
        if (!json_object_is_type(v, json_type_string) || !in_list(modes, json_object_get_string(v)))
            put_str(errors, "retention_mode", "retention_aware, include_expired_metadata or legal_hold_only");
        else
            mode = json_object_get_string(v);
    }
    long long before = 0;
    if (json_object_object_get_ex(body, "cursor", &v) && v) {
        char *end;
        errno = 0;
        const char *c = json_object_get_string(v);
        before = json_object_is_type(v, json_type_string) ? strtoll(c, &end, 10) : -1;
        if (!json_object_is_type(v, json_type_string) || errno || *end || before <= 0)
            put_str(errors, "cursor", "must be a next_cursor of a previous page");
    }
    int limit = 25;
    if (json_object_object_get_ex(body, "limit", &v) && v) {
        limit = json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
        if (limit < 1 || limit > 100) put_str(errors, "limit", "an integer 1-100");
    }
    char ids[2048] = "", fmts[256] = "", lcs[256] = "", tagv[MAX_TAGS][65];
    char from[RFC3339_MAX] = "", to[RFC3339_MAX] = "", from_pub[RFC3339_MAX] = "1970-01-01T00:00:00Z",
         to_pub[RFC3339_MAX];
    int64_t t = now_ms();
    rfc3339_format(t, 0, to_pub);
    memset(tagv, 0, sizeof tagv);
    json_object *n_ids = json_object_new_array(), *n_fmts = json_object_new_array(),
                *n_lcs = json_object_new_array(), *n_tags = json_object_new_array();
    if (json_object_object_get_ex(body, "filters", &filters) && filters) {
        if (!json_object_is_type(filters, json_type_object)) {
            put_str(errors, "filters", "must be an object");
        } else {
            json_object_object_foreach(filters, fk, fv) {
                if (!strcmp(fk, "report_ids")) {
                    if (!list_csv(fv, NULL, 20, ids, sizeof ids, n_ids))
                        put_str(errors, "filters.report_ids", "up to 20 report ids");
                } else if (!strcmp(fk, "formats")) {
                    if (!list_csv(fv, formats, 9, fmts, sizeof fmts, n_fmts))
                        put_str(errors, "filters.formats", "formats of the contract");
                } else if (!strcmp(fk, "lifecycle_states")) {
                    if (!list_csv(fv, states, 6, lcs, sizeof lcs, n_lcs))
                        put_str(errors, "filters.lifecycle_states", "lifecycle states of the contract");
                } else if (!strcmp(fk, "tags")) {
                    char tmp[MAX_TAGS * 66];
                    if (!list_csv(fv, NULL, MAX_TAGS, tmp, sizeof tmp, n_tags))
                        put_str(errors, "filters.tags", "up to 4 tags of [a-z0-9_-]");
                    else
                        for (size_t k = 0; k < json_object_array_length(n_tags) && k < MAX_TAGS; k++)
                            snprintf(tagv[k], sizeof tagv[k], "%s",
                                     json_object_get_string(json_object_array_get_idx(n_tags, k)));
                } else if (!strcmp(fk, "from") || !strcmp(fk, "to")) {
                    int64_t ms;
                    const char *s = json_object_is_type(fv, json_type_string) ? json_object_get_string(fv) : "";
                    if (rfc3339_parse(s, &ms)) {
                        put_str(errors, !strcmp(fk, "from") ? "filters.from" : "filters.to", "an RFC 3339 date-time");
                    } else if (!strcmp(fk, "from")) {
                        sql_datetime_format(ms, from);
                        rfc3339_format(ms, 0, from_pub);
                    } else {
                        sql_datetime_format(ms, to);
                        rfc3339_format(ms, 0, to_pub);
                    }
                } else {
                    char f[80];
                    snprintf(f, sizeof f, "filters.%.60s", fk);
                    put_str(errors, f, "unknown filter");
                }
            }
        }
    }
    if (json_object_object_length(errors)) {
        json_object_put(n_ids), json_object_put(n_fmts), json_object_put(n_lcs), json_object_put(n_tags);
        set(out, 422, "validation_failed", "the request is not valid", errors);
        return 0;
    }
    json_object_put(errors);

    char scope[2048], now[RFC3339_MAX];
    retention_role_report_ids(a->role, scope, sizeof scope);
    sql_datetime_format(t, now);
    bool aware = !strcmp(mode, "retention_aware"), hold_only = !strcmp(mode, "legal_hold_only");
    db_res_t *res;
    int rc = db_query(
        db,
        /* rendered reports; packages are listed by /reports/packages */
        ITEM_SELECT "WHERE i.tenant_id = ? AND i.object_kind = 'artifact' AND (? = '' OR FIND_IN_SET(i.report_id, ?)) "
                    "AND (? = '' OR FIND_IN_SET(i.report_id, ?)) AND (? = '' OR FIND_IN_SET(i.format, ?)) "
                    "AND (? = '' OR i.created_at >= ?) AND (? = '' OR i.created_at <= ?) "
                    "AND (? = '' OR i.search_text LIKE ? ESCAPE '!') AND (? = '' OR i.search_text LIKE ? ESCAPE '!') "
                    "AND (? = '' OR i.search_text LIKE ? ESCAPE '!') AND (? = '' OR i.search_text LIKE ? ESCAPE '!') "
                    "AND (? = '' OR FIND_IN_SET(?, i.tags)) AND (? = '' OR FIND_IN_SET(?, i.tags)) "
                    "AND (? = '' OR FIND_IN_SET(?, i.tags)) AND (? = '' OR FIND_IN_SET(?, i.tags)) "
                    "AND (? = '' OR FIND_IN_SET(" RETENTION_LIFECYCLE_SQL ", ?)) "
                    "AND (? = 0 OR i.state <> 'deleted') AND (? = 0 OR i.legal_hold_ref IS NOT NULL) "
                    "AND (? = 0 OR i.id < ?) ORDER BY i.id DESC LIMIT ?",
        DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(scope), DBS(scope), DBS(ids), DBS(ids), DBS(fmts), DBS(fmts),
                DBS(from), DBS(from), DBS(to), DBS(to), DBS(pats[0]), DBS(pats[0]), DBS(pats[1]), DBS(pats[1]),
                DBS(pats[2]), DBS(pats[2]), DBS(pats[3]), DBS(pats[3]), DBS(tagv[0]), DBS(tagv[0]), DBS(tagv[1]),
                DBS(tagv[1]), DBS(tagv[2]), DBS(tagv[2]), DBS(tagv[3]), DBS(tagv[3]), DBS(lcs), DBS(now), DBS(lcs),
                DBI(aware), DBI(hold_only), DBI(before), DBI(before), DBI(limit)),
        &res);
    if (rc) {
        json_object_put(n_ids), json_object_put(n_fmts), json_object_put(n_lcs), json_object_put(n_tags);
        return rc;
    }
    json_object *rich = json_object_new_array(), *pub = json_object_new_array();
    long long last = 0;
    int n = 0;
    while (db_res_next(res)) {
        json_object *r, *p;
        item_rows(res, &r, &p);
        json_object_array_add(rich, r);
        json_object_array_add(pub, p);
        last = db_res_int(res, 0);
        n++;
    }
    db_res_free(res);

    /* evidence of the search: counts, the query's digest, never the text */
    char qd[SHA256_HEX_LEN + 1], ev[EVIDENCE_REF_MAX] = "", qref[REF_MAX], gen[RFC3339_MAX];
    sha256_hex(query, strlen(query), qd);
    ref_new("query", qref);
    rfc3339_format(t, 0, gen);
    json_object *d = json_object_new_object();
    put_str(d, "query_ref", qref);
    put_str(d, "query_sha256", qd);
    put_str(d, "retention_mode", mode);
    json_object_object_add(d, "results", json_object_new_int(n));
    rc = auth_evidence(db, a, "retrieval.searched", qref, "success", request_id, d, ev);
    json_object_put(d);
    if (rc) {
        json_object_put(rich), json_object_put(pub);
        json_object_put(n_ids), json_object_put(n_fmts), json_object_put(n_lcs), json_object_put(n_tags);
        return rc;
    }

    json_object *proj = common_head(a, gen), *q = json_object_new_object(), *f = json_object_new_object();
    char role_ref[64];
    snprintf(role_ref, sizeof role_ref, "role:%s", a->role[0] ? a->role : "system");
    put_str(q, "query_id", qref);
    put_str(q, "actor_ref", role_ref);
    json_object_object_add(f, "report_ids", n_ids);
    json_object_object_add(f, "formats", n_fmts);
    json_object_object_add(f, "lifecycle_states", n_lcs);
    put_str(f, "from", from_pub);
    put_str(f, "to", to_pub);
    json_object_object_add(q, "filters", f);
    put_str(q, "rbac_scope", *scope ? "catalog.read:audience_restricted" : "catalog.read:all_reports");
    put_str(q, "retention_mode", mode);
    json_object_object_add(proj, "query", q);
    json_object_object_add(proj, "results", pub);
    /* no download ref is issued by a search: the retrieval block states what
     * a retrieval of the first result would be decided now */
    json_object *rt = json_object_new_object();
    char rref[80];
    snprintf(rref, sizeof rref, "retrieval:not-issued:%s", qref + 6);
    put_str(rt, "retrieval_ref", rref);
    json_object *first = json_object_array_length(rich) ? json_object_array_get_idx(rich, 0) : NULL, *x;
    put_str(rt, "requested_report_ref",
            first && json_object_object_get_ex(first, "report_ref", &x) ? json_object_get_string(x) : "report:none");
    const char *dec = "not_found";
    if (first) {
        json_object_object_get_ex(first, "download_allowed", &x);
        json_object *why;
        json_object_object_get_ex(first, "download_blocked_reason", &why);
        const char *w = why ? json_object_get_string(why) : "";
        dec = json_object_get_boolean(x) ? "allow"
              : (!strcmp(w, "revoked") || !strcmp(w, "audience_restricted")) ? "deny" : "expired";
    }
    put_str(rt, "access_decision", dec);
    json_object_object_add(rt, "download_url_ref", NULL);
    json_object_object_add(rt, "expires_at", NULL);
    json_object_object_add(rt, "watermark_required", json_object_new_boolean(false));
    json_object_object_add(proj, "retrieval", rt);
    common_tail(proj, false);
    json_object_object_add(proj, "audit", audit_block(ev, gen));

    json_object *o = json_object_new_object();
    json_object_object_add(o, "results", rich);
    cursor_set_next(o, n, limit, last);
    json_object_object_add(o, "projection", proj);
    set(out, 200, NULL, NULL, o);
    return 0;
}

/* the projection of one retrieval decision */
static json_object *retrieval_projection(db_t *db, const actor_t *a, const char *object_ref,
                                         const retention_verdict_t *v, const char *retrieval_ref,
                                         const char *expires_pub, const char *ev, const char *gen) {
    json_object *proj = common_head(a, gen), *q = json_object_new_object(), *f = json_object_new_object(),
                *results = json_object_new_array();
    char qref[REF_MAX], role_ref[64], scope[2048];
    ref_new("query", qref);
    retention_role_report_ids(a->role, scope, sizeof scope);
    snprintf(role_ref, sizeof role_ref, "role:%s", a->role[0] ? a->role : "system");
    put_str(q, "query_id", qref);
    put_str(q, "actor_ref", role_ref);
    json_object *ids = json_object_new_array();
    if (v->report_id[0]) json_object_array_add(ids, json_object_new_string(v->report_id));
    json_object_object_add(f, "report_ids", ids);
    json_object_object_add(f, "formats", json_object_new_array());
    json_object_object_add(f, "lifecycle_states", json_object_new_array());
    put_str(f, "from", "1970-01-01T00:00:00Z");
    put_str(f, "to", gen);
    json_object_object_add(q, "filters", f);
    put_str(q, "rbac_scope", *scope ? "catalog.read:audience_restricted" : "catalog.read:all_reports");
    put_str(q, "retention_mode", "include_expired_metadata");
    json_object_object_add(proj, "query", q);
    if (v->status != 404 && v->status != 403) {
        char now[RFC3339_MAX];
        sql_datetime_format(now_ms(), now);
        db_res_t *res;
        if (!db_query(db, ITEM_SELECT "WHERE i.tenant_id = ? AND i.object_ref = ?",
                      DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(object_ref)), &res)) {
            if (db_res_next(res)) {
                json_object *r, *p;
                item_rows(res, &r, &p);
                json_object_put(r);
                json_object_array_add(results, p);
            }
            db_res_free(res);
        }
    }
    json_object_object_add(proj, "results", results);
    json_object *rt = json_object_new_object();
    put_str(rt, "retrieval_ref", retrieval_ref);
    put_str(rt, "requested_report_ref", object_ref);
    put_str(rt, "access_decision", decision_of(v));
    if (v->status == 200) {
        char u[ULID_LEN + 1] = "", dref[96];
        ref_parse(retrieval_ref, "retrieval", NULL, u);
        snprintf(dref, sizeof dref, "enterprise-private://download-url/%s", u);
        put_str(rt, "download_url_ref", dref);
    } else {
        json_object_object_add(rt, "download_url_ref", NULL);
    }
    put_str(rt, "expires_at", expires_pub);
    json_object_object_add(rt, "watermark_required", json_object_new_boolean(false));
    json_object_object_add(proj, "retrieval", rt);
    common_tail(proj, false);
    json_object_object_add(proj, "audit", audit_block(ev, gen));
    return proj;
}

int retrieval_issue(db_t *db, const actor_t *a, json_object *body, const char *request_id, retrieval_outcome_t *out) {
    memset(out, 0, sizeof *out);
    json_object *v = NULL;
    const char *ref = NULL;
    if (json_object_is_type(body, json_type_object) && json_object_object_get_ex(body, "report_ref", &v) &&
        json_object_is_type(v, json_type_string))
        ref = json_object_get_string(v);
    if (!ref || strlen(ref) > 64) {
        json_object *e = json_object_new_object();
        put_str(e, "report_ref", "the ref of a retained report");
        set(out, 422, "validation_failed", "the request is not valid", e);
        return 0;
    }
    int64_t t = now_ms();
    char gen[RFC3339_MAX], rref[REF_MAX], ev[EVIDENCE_REF_MAX] = "";
    rfc3339_format(t, 0, gen);
    if (ref_new("retrieval", rref)) return AISPM_ERR;
    retention_verdict_t verdict;
    int rc = retention_gate(db, a, ref, "retrievals", request_id, &verdict, ev);
    if (rc) return rc;
    if (verdict.status == 404) {
        set(out, 404, "not_found", "no such report in your tenant", NULL);
        return 0;
    }
    if (verdict.status != 200) {
        json_object *x = json_object_new_object();
        json_object_object_add(x, "projection", retrieval_projection(db, a, ref, &verdict, rref, NULL, ev, gen));
        put_str(x, "lifecycle_state", verdict.lifecycle_state);
        set(out, verdict.status, verdict.code, verdict.detail, x);
        return 0;
    }
    uint8_t raw[DL_RAW];
    char token[sizeof DL_PREFIX + 48] = DL_PREFIX, hash[SHA256_HEX_LEN + 1], now[RFC3339_MAX],
         exp[RFC3339_MAX], exp_pub[RFC3339_MAX];
    if (random_bytes(raw, sizeof raw)) return AISPM_ECRYPTO;
    b64url_encode(raw, sizeof raw, token + strlen(DL_PREFIX));
    sha256_hex(token, strlen(token), hash);
    sql_datetime_format(t, now);
    sql_datetime_format(t + RETRIEVAL_TTL_S * 1000LL, exp);
    rfc3339_format(t + RETRIEVAL_TTL_S * 1000LL, 0, exp_pub);
    rc = db_begin(db);
    if (rc) return rc;
    json_object *d = json_object_new_object();
    put_str(d, "retrieval_ref", rref);
    put_str(d, "report_id", verdict.report_id);
    put_str(d, "format", verdict.format);
    put_str(d, "digest", verdict.digest);
    put_str(d, "expires_at", exp_pub);
    rc = auth_evidence(db, a, "retrieval.issued", ref, "success", request_id, d, ev);
    json_object_put(d);
    if (!rc)
        rc = db_exec(db,
                     "INSERT INTO download_refs (ref, tenant_id, item_id, token_hash, issued_to_ref, issued_at, "
                     "expires_at, evidence_ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     DB_ARGS(DBS(rref), DBI(a->tenant_id), DBI(verdict.item_id), DBS(hash), DBS(retention_actor_ref(a)),
                             DBS(now), DBS(exp), DBS(ev)),
                     NULL, NULL);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    json_object *o = json_object_new_object();
    char url[200];
    snprintf(url, sizeof url, RETRIEVAL_API "/downloads/%s", token);
    put_str(o, "retrieval_ref", rref);
    put_str(o, "download_url", url);
    put_str(o, "expires_at", exp_pub);
    json_object_object_add(o, "single_use", json_object_new_boolean(true));
    json_object_object_add(o, "projection", retrieval_projection(db, a, ref, &verdict, rref, exp_pub, ev, gen));
    set(out, 201, NULL, NULL, o);
    return 0;
}

static int refuse_download(db_t *db, const actor_t *a, const char *rref, int status, const char *code,
                           const char *detail, const char *request_id, retrieval_outcome_t *out) {
    json_object *d = json_object_new_object();
    put_str(d, "code", code);
    int rc = auth_evidence(db, a, "retrieval.download_refused", rref, "blocked", request_id, d, NULL);
    json_object_put(d);
    if (rc) return rc;
    set(out, status, code, detail, NULL);
    return 0;
}

int retrieval_redeem(db_t *db, const config_t *cfg, const actor_t *a, const char *token, const char *request_id,
                     retrieval_outcome_t *out, render_content_t *content) {
    memset(out, 0, sizeof *out);
    memset(content, 0, sizeof *content);
    size_t pl = strlen(DL_PREFIX), tl = token ? strlen(token) : 0;
    bool ok = tl == pl + b64url_encoded_len(DL_RAW) && !strncmp(token, DL_PREFIX, pl);
    for (size_t i = pl; ok && i < tl; i++) ok = isalnum((unsigned char)token[i]) || token[i] == '-' || token[i] == '_';
    if (!ok) {
        set(out, 404, "not_found", "no such download ref", NULL);
        return 0;
    }
    char hash[SHA256_HEX_LEN + 1], now[RFC3339_MAX];
    sha256_hex(token, tl, hash);
    sql_datetime_format(now_ms(), now);
    int rc = db_begin(db);
    if (rc) return rc;
    db_res_t *res;
    rc = db_query(db,
                  "SELECT d.id, d.ref, d.issued_to_ref, d.used_at IS NOT NULL, d.expires_at <= ?, i.object_ref, "
                  "i.object_kind FROM download_refs d JOIN retention_items i ON i.id = d.item_id AND "
                  "i.tenant_id = d.tenant_id WHERE d.tenant_id = ? AND d.token_hash = ? FOR UPDATE",
                  DB_ARGS(DBS(now), DBI(a->tenant_id), DBS(hash)), &res);
    if (rc) {
        db_rollback(db);
        return rc;
    }
    if (!db_res_next(res)) {
        db_res_free(res);
        db_rollback(db);
        set(out, 404, "not_found", "no such download ref", NULL);
        return 0;
    }
    long long id = db_res_int(res, 0);
    char rref[REF_MAX], to[49], object_ref[65], kind[33];
    snprintf(rref, sizeof rref, "%s", db_res_str(res, 1));
    snprintf(to, sizeof to, "%s", db_res_str(res, 2));
    bool used = db_res_int(res, 3), expired = db_res_int(res, 4);
    snprintf(object_ref, sizeof object_ref, "%s", db_res_str(res, 5));
    snprintf(kind, sizeof kind, "%s", db_res_str(res, 6));
    db_res_free(res);
    if (strcmp(to, retention_actor_ref(a)) || used || expired) {
        db_rollback(db);
        if (strcmp(to, retention_actor_ref(a)))
            return refuse_download(db, a, rref, 403, "download_ref_not_yours", "the download ref was issued to "
                                   "someone else", request_id, out);
        if (used)
            return refuse_download(db, a, rref, 410, "download_ref_used", "the download ref was already used",
                                   request_id, out);
        return refuse_download(db, a, rref, 410, "download_ref_expired", "the download ref expired", request_id,
                               out);
    }
    rc = db_exec(db, "UPDATE download_refs SET used_at = ? WHERE id = ? AND tenant_id = ? AND used_at IS NULL",
                 DB_ARGS(DBS(now), DBI(id), DBI(a->tenant_id)), NULL, NULL);
    if (!rc) rc = auth_evidence(db, a, "retrieval.redeemed", rref, "success", request_id, NULL, NULL);
    if (rc || (rc = db_commit(db))) {
        db_rollback(db);
        return rc;
    }
    if (strcmp(kind, RETENTION_KIND_ARTIFACT)) {
        set(out, 404, "not_found", "this object is retrieved through its own route", NULL);
        return 0;
    }
    retention_verdict_t v;
    rc = renderer_artifact_content_checked(db, cfg, a, object_ref, "download_ref", request_id, content, &v);
    if ((rc == AISPM_EGONE || rc == AISPM_EFORBIDDEN) && v.code) {
        set(out, v.status, v.code, v.detail, NULL);
        return 0;
    }
    if (rc == AISPM_EIO) {
        set(out, 500, "artifact_unavailable", "the artifact's stored content is missing or damaged", NULL);
        return 0;
    }
    if (rc) return rc;
    set(out, 200, NULL, NULL, NULL);
    return 0;
}
