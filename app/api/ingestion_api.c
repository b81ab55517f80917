/*
 * ingestion_api.c: JSON routes of live AISPM ingestion and the posture
 * projection. Thin: decode, call reports/ingestion, encode.
 */
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/ingestion.h"

static void answer(req_t *r, int rc, ingestion_outcome_t *o) {
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o->status >= 400) {
        const char *detail = "the envelope was refused";
        if (o->status == 403)
            detail = "the envelope names another tenant than your credentials";
        else if (o->status == 413)
            detail = "a batch holds at most 500 envelopes";
        else if (o->code && !strcmp(o->code, INGESTION_RAW_CONTENT_REFUSED))
            detail = "raw prompts, reasoning and tool output are not accepted: send metadata only";
        else if (o->code && !strcmp(o->code, "batch_rejected"))
            detail = "every envelope of the batch was rejected; nothing was stored";
        else
            detail = "the envelope does not match the ingestion contract";
        resp_problem_ext(r, o->status, o->code, detail, o->body, o->extra);
        o->body = o->extra = NULL;
        return;
    }
    resp_json(r, o->status, o->body);
    o->body = NULL;
}

void api_ingest_event(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    ingestion_outcome_t o;
    int rc = ingestion_ingest_one(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    answer(r, rc, &o);
    ingestion_outcome_free(&o);
}

void api_ingest_batch(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    ingestion_outcome_t o;
    int rc = ingestion_ingest_batch(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    answer(r, rc, &o);
    ingestion_outcome_free(&o);
}

static void answer_json(req_t *r, int rc, json_object *o) {
    resp_result(r, rc, o);
}

void api_ingested_event_get(req_t *r) {
    json_object *o = NULL;
    int rc = ingestion_event_get(r->app->db, &r->actor, req_param(r, "event_id"), &o);
    answer_json(r, rc, o);
}

void api_ingestion_health(req_t *r) {
    json_object *o = NULL;
    int rc = ingestion_health(r->app->db, &r->actor, &o);
    answer_json(r, rc, o);
}

void api_posture(req_t *r) {
    json_object *o = NULL;
    int rc = ingestion_posture(r->app->db, &r->actor, &o);
    answer_json(r, rc, o);
}
