/*
 * rooms_api.c: JSON routes of evidence rooms for managers
 * (evidence_rooms.manage). Thin: decode, call reports/evidence_rooms, encode.
 */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "reports/evidence_rooms.h"

/* answers an outcome (2xx body or a problem) or an error code */
static void answer(req_t *r, int rc, room_outcome_t *o) {
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (o->status >= 400) {
        resp_problem(r, o->status, o->code, o->detail, o->body);
        return;
    }
    resp_json(r, o->status, o->body);
}

void api_rooms_create(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    room_outcome_t o;
    int rc = rooms_create(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (!rc && o.status == 201) {
        json_object *room, *ref;
        char loc[128];
        json_object_object_get_ex(o.body, "room", &room);
        json_object_object_get_ex(room, "room_ref", &ref);
        snprintf(loc, sizeof loc, "/enterprise/aispm/reports/evidence-rooms/%s", json_object_get_string(ref));
        resp_header(r, "Location", loc);
    }
    answer(r, rc, &o);
}

void api_rooms_list(req_t *r) {
    json_object *o = NULL;
    int rc = rooms_list(r->app->db, &r->actor, &o);
    resp_result(r, rc, o);
}

void api_rooms_get(req_t *r) {
    json_object *o = NULL;
    int rc = rooms_get(r->app->db, &r->actor, req_param(r, "room_ref"), &o);
    resp_result(r, rc, o);
}

void api_rooms_revoke(req_t *r) {
    room_outcome_t o;
    answer(r, rooms_revoke(r->app->db, &r->actor, req_param(r, "room_ref"), r->request_id, &o), &o);
}

void api_rooms_invite(req_t *r) {
    json_object *body;
    if (!req_json_body(r, &body)) return;
    room_outcome_t o;
    int rc = rooms_invite(r->app->db, &r->actor, req_param(r, "room_ref"), body, r->request_id, &o);
    json_object_put(body);
    answer(r, rc, &o);
}

void api_rooms_auditors(req_t *r) {
    json_object *o = NULL;
    int rc = rooms_auditors(r->app->db, &r->actor, req_param(r, "room_ref"), &o);
    resp_result(r, rc, o);
}

void api_rooms_revoke_auditor(req_t *r) {
    room_outcome_t o;
    answer(r,
           rooms_revoke_auditor(r->app->db, &r->actor, req_param(r, "room_ref"), req_param(r, "auditor_ref"),
                                r->request_id, &o),
           &o);
}

void api_rooms_access_events(req_t *r) {
    json_object *o = NULL;
    int rc = rooms_access_events(r->app->db, &r->actor, req_param(r, "room_ref"), &o);
    resp_result(r, rc, o);
}
