/*
 * portal_rooms.c: portal pages of evidence rooms — the auditor's own rooms
 * (list, room page, artifact page, watermarked download, MFA enrolment and
 * verification), the public invitation page that sets an invited auditor's
 * password, and the managers' pages (list and create, a room with its
 * auditors, invitation link and access log, revocations). Thin: decode the
 * form, call reports/evidence_rooms, render a template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "core/err.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "reports/evidence_rooms.h"
#include "reports/renderer.h"

/* answers rc (an error) or the outcome's problem; true when it did */
static bool failed(req_t *r, int rc, room_outcome_t *o) {
    if (rc) {
        resp_error(r, rc);
        return true;
    }
    if (o->status >= 400) {
        resp_problem(r, o->status, o->code, o->detail, o->body);
        return true;
    }
    return false;
}

/* the page, or the error rc */
static void page_or_error(req_t *r, int rc, const char *tmpl, const char *title, json_object *o) {
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_page(r, 200, tmpl, title, o);
}

static void deny_page(req_t *r, room_outcome_t *d) {
    if (!strcmp(d->code, "mfa_required")) {
        /* the MFA prompt of the room, with the refusal status */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "room_ref", json_object_new_string(req_param(r, "room_ref")));
        room_outcome_free(d);
        resp_page(r, 403, "room_mfa", "Verification required", o);
        return;
    }
    resp_problem(r, d->status, d->code, d->detail, d->body);
}

void portal_rooms(req_t *r) {
    json_object *o = NULL;
    int rc = rooms_mine(r->app->db, &r->actor, &o);
    page_or_error(r, rc, "rooms", "My evidence rooms", o);
}

static void view(req_t *r, const char *artifact_ref, const char *tmpl, const char *title) {
    room_outcome_t d;
    json_object *o;
    int rc = rooms_view(r->app->db, &r->actor, req_param(r, "room_ref"), artifact_ref, r->request_id, &d, &o);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (d.status) {
        deny_page(r, &d);
        return;
    }
    resp_page(r, 200, tmpl, title, o);
}

void portal_room(req_t *r) { view(r, NULL, "room", "Evidence room"); }

void portal_room_artifact(req_t *r) {
    const char *a = req_param(r, "artifact_ref");
    if (!ref_parse(a, "artifact", NULL, NULL)) {
        resp_problem(r, 404, "not_found", "no such resource", NULL);
        return;
    }
    view(r, a, "room_artifact", "Artifact");
}

void portal_room_download(req_t *r) {
    room_outcome_t d;
    room_download_t c;
    int rc = rooms_download(r->app->db, &r->app->cfg, &r->actor, req_param(r, "room_ref"),
                            req_param(r, "artifact_ref"), r->request_id, &d, &c);
    if (rc == AISPM_EIO) {
        resp_problem(r, 500, "artifact_unavailable", "the artifact could not be read or marked", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (d.status) {
        deny_page(r, &d);
        return;
    }
    char disp[320];
    /* the filename is the renderer's [a-z0-9_.-] name plus the download id */
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", c.filename);
    resp_text(r, 200, c.content_type, c.bytes.data ? c.bytes.data : "", c.bytes.len);
    resp_header(r, "Content-Disposition", disp);
    resp_header(r, "X-Download-Id", c.download_id);
    resp_header(r, "X-Copy-SHA256", c.copy_digest);
    resp_header(r, "X-Artifact-SHA256", c.artifact_digest);
    resp_header(r, "Cache-Control", "private, no-store");
    room_download_free(&c);
}

static void mfa_check(req_t *r, const char *room_ref, const char *ok_location) {
    char code[16] = "";
    req_form(r, "code", code, sizeof code);
    bool ok;
    int rc = rooms_mfa_verify(r->app->db, &r->actor, code, room_ref, r->request_id, &ok);
    if (rc) {
        resp_error(r, rc);
        return;
    }
    if (!ok) {
        resp_problem(r, 403, "mfa_code_invalid", "the one-time code is not valid (or was already used)", NULL);
        return;
    }
    resp_redirect(r, ok_location);
}

void portal_room_mfa(req_t *r) {
    char loc[128];
    const char *ref = req_param(r, "room_ref");
    snprintf(loc, sizeof loc, "/portal/rooms/%s", ref);
    mfa_check(r, ref, loc);
}

void portal_mfa(req_t *r) {
    json_object *o = NULL;
    int rc = rooms_mfa_state(r->app->db, &r->actor, &o);
    page_or_error(r, rc, "mfa", "Two-factor authentication", o);
}

void portal_mfa_post(req_t *r) { mfa_check(r, NULL, "/portal/mfa"); }

void portal_invitation(req_t *r) {
    json_object *o;
    int rc = rooms_invitation_check(r->app->db, req_param(r, "token"), &o);
    if (rc == AISPM_ENOTFOUND) {
        resp_problem(r, 410, "invitation_invalid", "this invitation link is invalid, used or expired", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    json_object_object_add(o, "token", json_object_new_string(req_param(r, "token")));
    resp_page(r, 200, "invitation", "Accept invitation", o);
}

void portal_invitation_post(req_t *r) {
    char pw[300] = "", pw2[300] = "";
    req_form(r, "password", pw, sizeof pw);
    req_form(r, "password_confirm", pw2, sizeof pw2);
    if (strcmp(pw, pw2)) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "password_confirm", json_object_new_string("does not match the password"));
        resp_problem(r, 422, "validation_failed", "the passwords differ", e);
        return;
    }
    int rc = rooms_invitation_accept(r->app->db, req_param(r, "token"), pw, r->request_id);
    memset(pw, 0, sizeof pw);
    memset(pw2, 0, sizeof pw2);
    if (rc == AISPM_EINVAL) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "password", json_object_new_string("must be 12-256 characters"));
        resp_problem(r, 422, "validation_failed", "the password is not acceptable", e);
        return;
    }
    if (rc == AISPM_ENOTFOUND) {
        resp_problem(r, 410, "invitation_invalid", "this invitation link is invalid, used or expired", NULL);
        return;
    }
    if (rc) {
        resp_error(r, rc);
        return;
    }
    resp_redirect(r, "/portal/login");
}

/* ---- managers ---- */

static json_object *manage_list_data(req_t *r) {
    json_object *o = NULL, *renders = NULL;
    if (rooms_list(r->app->db, &r->actor, &o)) o = json_object_new_object();
    /* artifacts to choose from: the newest successful renders */
    if (renderer_history(r->app->db, &r->actor, NULL, 50, &renders) == 0) {
        json_object *arr, *pick = json_object_new_array();
        if (json_object_object_get_ex(renders, "renders", &arr))
            for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *x = json_object_array_get_idx(arr, i), *a;
                if (json_object_object_get_ex(x, "artifact_ref", &a) && a)
                    json_object_array_add(pick, json_object_get(x));
            }
        json_object_object_add(o, "artifacts", pick);
        json_object_put(renders);
    }
    return o;
}

void portal_rooms_manage(req_t *r) { resp_page(r, 200, "evidence_rooms", "Evidence rooms", manage_list_data(r)); }

/* comma/space/newline separated list -> JSON array of strings */
static json_object *split_list(const char *s) {
    json_object *arr = json_object_new_array();
    char copy[2100];
    snprintf(copy, sizeof copy, "%s", s);
    for (char *save = NULL, *t = strtok_r(copy, ", \r\n\t", &save); t; t = strtok_r(NULL, ", \r\n\t", &save))
        json_object_array_add(arr, json_object_new_string(t));
    return arr;
}

void portal_rooms_manage_create(req_t *r) {
    char title[256] = "", purpose[1100] = "", audience[40] = "", domains[2100] = "", days[8] = "", dl[8] = "",
         mfa[8] = "", arts[2100] = "";
    req_form(r, "title", title, sizeof title);
    req_form(r, "purpose", purpose, sizeof purpose);
    req_form(r, "audience", audience, sizeof audience);
    req_form(r, "allowed_domains", domains, sizeof domains);
    req_form(r, "expires_in_days", days, sizeof days);
    req_form(r, "download_allowed", dl, sizeof dl);
    req_form(r, "mfa_required", mfa, sizeof mfa);
    req_form(r, "artifact_refs", arts, sizeof arts);
    json_object *body = json_object_new_object(), *picked = split_list(arts);
    /* checkboxes: every artifact_ref field (req_form returns the first) */
    json_object_object_add(body, "title", json_object_new_string(title));
    json_object_object_add(body, "purpose", json_object_new_string(purpose));
    json_object_object_add(body, "audience", json_object_new_string(audience));
    json_object_object_add(body, "allowed_domains", split_list(domains));
    int d = atoi(days);
    char exp[RFC3339_MAX];
    rfc3339_format(now_ms() + (int64_t)(d > 0 && d <= 366 ? d : 0) * 86400000LL, 0, exp);
    json_object_object_add(body, "expires_at", json_object_new_string(exp));
    json_object_object_add(body, "download_allowed", json_object_new_boolean(*dl != 0));
    json_object_object_add(body, "mfa_required", json_object_new_boolean(*mfa != 0));
    json_object_object_add(body, "artifact_refs", picked);
    room_outcome_t o;
    int rc = rooms_create(r->app->db, &r->actor, body, r->request_id, &o);
    json_object_put(body);
    if (failed(r, rc, &o)) return;
    json_object *room, *ref;
    char loc[128];
    json_object_object_get_ex(o.body, "room", &room);
    json_object_object_get_ex(room, "room_ref", &ref);
    snprintf(loc, sizeof loc, "/portal/evidence-rooms/%s", json_object_get_string(ref));
    room_outcome_free(&o);
    resp_redirect(r, loc);
}

static void manage_room_page(req_t *r, int status, json_object *invitation) {
    const char *ref = req_param(r, "room_ref");
    json_object *room, *auds = NULL, *evs = NULL;
    int rc = rooms_get(r->app->db, &r->actor, ref, &room);
    if (rc) {
        if (invitation) json_object_put(invitation);
        resp_error(r, rc);
        return;
    }
    json_object *o = json_object_new_object(), *rm, *st;
    bool active = json_object_object_get_ex(room, "room", &rm) && json_object_object_get_ex(rm, "status", &st) &&
                  !strcmp(json_object_get_string(st), "active");
    json_object_object_add(o, "active", json_object_new_boolean(active));
    json_object_object_add(o, "projection", room);
    if (rooms_auditors(r->app->db, &r->actor, ref, &auds) == 0) json_object_object_add(o, "auditors", auds);
    if (rooms_access_events(r->app->db, &r->actor, ref, &evs) == 0) json_object_object_add(o, "access", evs);
    if (invitation) json_object_object_add(o, "invitation", invitation);
    resp_page(r, status, "evidence_room", "Evidence room", o);
}

void portal_rooms_manage_room(req_t *r) { manage_room_page(r, 200, NULL); }

void portal_rooms_manage_invite(req_t *r) {
    char email[300] = "";
    req_form(r, "email", email, sizeof email);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "email", json_object_new_string(email));
    room_outcome_t o;
    int rc = rooms_invite(r->app->db, &r->actor, req_param(r, "room_ref"), body, r->request_id, &o);
    json_object_put(body);
    if (failed(r, rc, &o)) return;
    /* the link is shown once, to the inviter, on this answer */
    manage_room_page(r, 201, o.body);
}

void portal_rooms_manage_revoke(req_t *r) {
    room_outcome_t o;
    int rc = rooms_revoke(r->app->db, &r->actor, req_param(r, "room_ref"), r->request_id, &o);
    if (failed(r, rc, &o)) return;
    room_outcome_free(&o);
    char loc[128];
    snprintf(loc, sizeof loc, "/portal/evidence-rooms/%s", req_param(r, "room_ref"));
    resp_redirect(r, loc);
}

void portal_rooms_manage_revoke_auditor(req_t *r) {
    room_outcome_t o;
    int rc = rooms_revoke_auditor(r->app->db, &r->actor, req_param(r, "room_ref"), req_param(r, "auditor_ref"),
                                  r->request_id, &o);
    if (failed(r, rc, &o)) return;
    room_outcome_free(&o);
    char loc[128];
    snprintf(loc, sizeof loc, "/portal/evidence-rooms/%s", req_param(r, "room_ref"));
    resp_redirect(r, loc);
}
