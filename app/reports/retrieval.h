/*
 * retrieval.h: search over retained report metadata and single-use download
 * refs.
 *
 *  POST .../reports/search {query, filters, retention_mode, cursor, limit}
 *      -> retrieval_search(): a bounded substring search (up to 4 terms, all
 *      must match) over each item's maintained search text (title, report
 *      id, format, period dates, tags, ref) plus filters (report_ids,
 *      formats, lifecycle_states, tags, from/to on created_at), newest first,
 *      cursor-paginated. Always within the actor's tenant and the report ids
 *      the actor's role may see (retention_role_may_see). retention_mode:
 *      retention_aware (default: everything but deleted items),
 *      include_expired_metadata (tombstones too), legal_hold_only. Each
 *      result says whether it is downloadable now and, if not, why (the
 *      retention_decide code). Evidence retrieval.searched per search.
 *  POST .../reports/retrievals {report_ref} -> retrieval_issue(): applies
 *      retention_gate; when allowed, issues a download ref valid for
 *      RETRIEVAL_TTL_S seconds and one use, bound to the actor; only the
 *      SHA-256 of its secret is stored. Evidence retrieval.issued.
 *  GET  .../reports/downloads/{token} -> retrieval_redeem(): marks the ref
 *      used (a second use is 410 download_ref_used, an old one 410
 *      download_ref_expired, another actor's 403 download_ref_not_yours —
 *      each refusal evidenced), re-applies the retention gate and answers
 *      the bytes like the artifact content route.
 * Both answers carry the public projection
 * (aispm-report-search-retrieval.schema.json) under "projection".
 */
#ifndef AISPM_REPORTS_RETRIEVAL_H
#define AISPM_REPORTS_RETRIEVAL_H

#include <json-c/json.h>

#include "db/db.h"
#include "reports/renderer.h"
#include "reports/retention.h"
#include "server/http.h"

#define RETRIEVAL_TTL_S 300
#define RETRIEVAL_API "/enterprise/aispm/reports"

/* status 200/201 with body, or a problem (status, code, detail, body =
 * field errors or extension members) */
typedef retention_outcome_t retrieval_outcome_t;

int retrieval_search(db_t *db, const actor_t *a, json_object *body, const char *request_id,
                     retrieval_outcome_t *out);
int retrieval_issue(db_t *db, const actor_t *a, json_object *body, const char *request_id, retrieval_outcome_t *out);
/* on success out->status 200 and content holds the bytes */
int retrieval_redeem(db_t *db, const config_t *cfg, const actor_t *a, const char *token, const char *request_id,
                     retrieval_outcome_t *out, render_content_t *content);

#endif
