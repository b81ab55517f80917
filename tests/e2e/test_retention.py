"""Retention lifecycle through nginx, in a fresh tenant of its own (the sweep
runs with --tenant, so no other test's artifacts are archived).

Covers: every rendered artifact is a retention item with the tenant's class
and expiry (and a changed class applies to later renders); a legal hold is
placed only after another user approves in the generic approvals API
(self-approval 403, a role without approvals.decide 403); `aispm admin retention-sweep --now` archives what
expired but not what is on legal hold, and an archived artifact answers 410
archived_past_retention on the content route and on a download ref issued
before; deletion is refused under a legal hold, while retention runs, while
another request is pending, and until an approver approves it (a rejected
request deletes nothing); after the approved deletion the content file is
gone, a tombstone keeps the digest, reason and evidence refs, and every
retrieval route (API content, portal content, retrieval refs, search) answers
410 `deleted`; a released hold lets the sweep archive; an undecided request
expires (its approval with it); a revoked artifact is 403 `revoked`; the portal's request
form and the approvals inbox decide it (and need their CSRF token); the lifecycle projection
validates against aispm-report-retention-lifecycle.schema.json and holds no
user address or reason text; every transition is evidence and the chain
verifies.
"""

import hashlib
import os
import re
from datetime import datetime

import pytest

from .conftest import Client, audit_events, hidden_inputs
from .retention_helpers import (ARTIFACTS, ITEMS, RENDER, REQUESTS, RETENTION, RETENTION_SCHEMA, RETRIEVALS, SEARCH,
                                SEARCH_SCHEMA, FreshTenant, assert_valid, item, render, wait_render)

REASON = "Litigation hold for matter 2026-CV-0042 (private note)"


def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def w(base_url, admin_cli, app_config):
    t = FreshTenant(base_url, admin_cli, ["tenant_admin", "approver", "auditor"], "ret")
    admin = t["tenant_admin"].api
    t.art = {}
    for key, rid, fmt in (("A", "control_coverage_export", "csv"), ("B", "evidence_freshness_export", "csv"),
                          ("C", "agent_risk_register", "csv"), ("D", "board_kpi_pack", "json"),
                          ("E", "soc2_audit_summary", "markdown")):
        t.art[key] = render(admin, rid, fmt)
    t.artifacts_dir = app_config["artifacts_dir"]
    return t


def content_path(w, art):
    return os.path.join(w.artifacts_dir, w.ulid, art["digest"])


def open_request(client, action, ref, reason=REASON):
    return client.post(REQUESTS, json_body={"action": action, "object_ref": ref, "reason": reason})


APPROVALS = "/enterprise/aispm/reports/approvals"


def approval_of(w, request_ref):
    """the generic approval a retention request opened (retention.c approval_open)"""
    req = w["tenant_admin"].api.get(f"{REQUESTS}/{request_ref}").json()
    assert re.fullmatch(r"approval:[0-9A-HJKMNP-TV-Z]{26}", req["approval_ref"]), req
    assert req["decision_url"] == f"{APPROVALS}/{req['approval_ref']}/decision"
    return req["approval_ref"]


def decide(w, client, request_ref, decision):
    """decides through the approvals API (the only decision route)"""
    return client.post(f"{APPROVALS}/{approval_of(w, request_ref)}/decision",
                       json_body={"decision": decision, "reason": "retention review"})


def request_of(w, request_ref):
    return w["tenant_admin"].api.get(f"{REQUESTS}/{request_ref}").json()


def actions_for(client, ref):
    return [e["event"]["action"] for e in audit_events(client) if e["event"].get("object_ref") == ref]


def test_items_carry_the_tenants_retention_class(w):
    admin = w["tenant_admin"].api
    classes = admin.get(f"{RETENTION}/classes")
    assert classes.status == 200, classes.describe()
    by_kind = {c["object_kind"]: c for c in classes.json()["classes"]}
    assert by_kind["artifact"] == {"object_kind": "artifact", "name": "report_365d", "days": 365, "source": "settings"}
    assert by_kind["delivery_audit_export"]["days"] == 2555
    a = w.art["A"]
    it = item(admin, a["artifact_ref"])
    assert it["lifecycle_state"] == "retained" and it["retrievable"] is True and it["tombstone"] is None
    assert a["lifecycle_state"] == "retained" and a["retrievable"] is True and a["not_retrievable_reason"] is None
    assert it["retention_class"] == a["retention_class"] == "report_365d"
    assert it["digest"] == a["digest"] and it["expires_at"] == a["expires_at"]
    assert (ts(it["expires_at"]) - ts(it["created_at"])).days == 365

    # a tenant class applies to what is rendered afterwards
    bad = admin.put(f"{RETENTION}/classes/artifact", json_body={"days": 0})
    assert bad.problem(422, "validation_failed")["errors"]["days"]
    r = admin.put(f"{RETENTION}/classes/artifact", json_body={"days": 30})
    assert r.status == 200, r.describe()
    assert {"object_kind": "artifact", "name": "report_30d", "days": 30, "source": "tenant"} in r.json()["classes"]
    f = render(admin, "executive_risk_brief", "markdown")
    w.art["F"] = f
    assert f["retention_class"] == "report_30d"
    it = item(admin, f["artifact_ref"])
    assert (ts(it["expires_at"]) - ts(it["created_at"])).days == 30
    assert "retention.class_set" in [e["event"]["action"] for e in audit_events(admin)]
    # an auditor cannot change classes
    w["auditor"].api.put(f"{RETENTION}/classes/artifact", json_body={"days": 5}).problem(403, "forbidden")


def test_legal_hold_is_placed_only_after_another_user_approves(w):
    admin, approver, auditor = w["tenant_admin"].api, w["approver"].api, w["auditor"].api
    b = w.art["B"]["artifact_ref"]
    bad = admin.post(REQUESTS, json_body={"action": "freeze", "object_ref": b, "reason": ""})
    errs = bad.problem(422, "validation_failed")["errors"]
    assert set(errs) == {"action", "reason"}
    auditor.post(REQUESTS, json_body={"action": "legal_hold_place", "object_ref": b, "reason": "x"}).problem(
        403, "forbidden")
    r = open_request(admin, "legal_hold_place", b)
    assert r.status == 202, r.describe()
    req = r.json()
    assert req["state"] == "pending" and req["action"] == "legal_hold_place" and req["object_ref"] == b
    assert req["requested_by"] == w["tenant_admin"].user_ref and req["decided_by"] is None
    it = item(admin, b)
    assert it["lifecycle_state"] == "pending_approval" and it["legal_hold_ref"] is None
    assert it["pending_request_ref"] == req["request_ref"]
    open_request(admin, "legal_hold_place", b).problem(409, "request_pending")

    aref = approval_of(w, req["request_ref"])
    pending = approver.get(f"{APPROVALS}/{aref}").json()
    assert pending["type"] == "retention_legal_hold_place" and pending["subject_ref"] == req["request_ref"]
    assert pending["state"] == "pending" and pending["can_decide"] is True and pending["approver_role"] == "approver"
    assert aref in [x["approval_ref"] for x in approver.get(f"{APPROVALS}?decidable=true").json()["approvals"]]
    decide(w, admin, req["request_ref"], "approve").problem(403, "self_approval_forbidden")
    decide(w, auditor, req["request_ref"], "approve").problem(403, "forbidden")
    decide(w, approver, req["request_ref"], "maybe").problem(422, "validation_failed")
    assert item(admin, b)["legal_hold_ref"] is None, "no hold without an approval"

    d = decide(w, approver, req["request_ref"], "approve")
    assert d.status == 200, d.describe()
    assert d.json()["state"] == "approved"
    assert d.json()["projection"]["approval_request"]["request_type"] == "external_delivery_exception"
    assert d.json()["projection"]["subject"]["report_ids"] == ["evidence_freshness_export"]
    done = request_of(w, req["request_ref"])
    assert done["state"] == "approved" and done["decided_by"] == w["approver"].user_ref
    assert len(done["evidence_refs"]) == 3  # opened, approved, placed
    it = item(admin, b)
    assert it["lifecycle_state"] == "legal_hold" and re.fullmatch(r"legal-hold:[0-9A-HJKMNP-TV-Z]{26}",
                                                                  it["legal_hold_ref"])
    decide(w, approver, req["request_ref"], "approve").problem(409, "already_decided")
    open_request(admin, "legal_hold_place", b).problem(409, "already_on_legal_hold")
    acts = actions_for(admin, b)
    assert "retention.legal_hold_placed" in acts
    assert "approval.approved" in actions_for(admin, aref)
    w.hold_request = req["request_ref"]


def test_sweep_archives_what_expired_unless_on_legal_hold(w):
    admin = w["tenant_admin"].api
    a, b = w.art["A"], w.art["B"]
    # a download ref issued while A is still retrievable
    issued = admin.post(RETRIEVALS, json_body={"report_ref": a["artifact_ref"]})
    assert issued.status == 201, issued.describe()

    assert w.sweep()["archived"] == 0, "nothing has expired yet"
    assert item(admin, a["artifact_ref"])["lifecycle_state"] == "retained"
    counts = w.sweep(days_ahead=400)
    assert counts["archived"] == len(w.art) - 1 and counts["on legal hold"] == 1, counts
    assert w.sweep(days_ahead=400)["archived"] == 0, "a second sweep changes nothing"

    assert item(admin, a["artifact_ref"])["lifecycle_state"] == "archived"
    r = admin.get(f"{ARTIFACTS}/{a['artifact_ref']}/content")
    assert r.problem(410, "archived_past_retention")
    admin.get(issued.json()["download_url"]).problem(410, "archived_past_retention")
    # the held artifact is kept and stays retrievable
    hb = item(admin, b["artifact_ref"])
    assert hb["lifecycle_state"] == "legal_hold" and hb["retrievable"] is True
    rb = admin.get(f"{ARTIFACTS}/{b['artifact_ref']}/content")
    assert rb.status == 200 and hashlib.sha256(rb.body).hexdigest() == b["digest"]

    events = audit_events(admin)
    archived = [e["event"] for e in events if e["event"]["action"] == "retention.archived"]
    assert {e["object_ref"] for e in archived} == {v["artifact_ref"] for k, v in w.art.items() if k != "B"}
    assert all(e["actor"]["ref"] == "system" and e["details"]["digest"] for e in archived)
    blocked = [e["event"] for e in events if e["event"]["action"] == "retention.retrieval_blocked"
               and e["event"]["object_ref"] == a["artifact_ref"]]
    assert {e["details"]["route"] for e in blocked} >= {"artifact_content", "download_ref"}
    assert all(e["details"]["code"] == "archived_past_retention" and e["outcome"] == "blocked" for e in blocked)


def test_deletion_needs_approval_and_leaves_a_tombstone(w, sql, base_url):
    admin, approver = w["tenant_admin"].api, w["approver"].api
    a, b = w.art["A"], w.art["B"]
    aref = a["artifact_ref"]
    open_request(admin, "delete", b["artifact_ref"]).problem(409, "legal_hold_active")
    g = render(admin, "siem_jsonl_export", "jsonl")  # retained for 30 days
    open_request(admin, "delete", g["artifact_ref"]).problem(409, "retention_not_ended")

    # a request alone deletes nothing; a rejected one neither
    r = open_request(admin, "delete", aref, reason="retention ended; purge")
    assert r.status == 202, r.describe()
    rej_ref = r.json()["request_ref"]
    assert item(admin, aref)["lifecycle_state"] == "pending_approval"
    decide(w, admin, rej_ref, "approve").problem(403, "self_approval_forbidden")
    assert os.path.exists(content_path(w, a)), "the content must stay until the deletion is approved"
    rej = decide(w, approver, rej_ref, "reject")
    assert rej.status == 200 and rej.json()["state"] == "rejected"
    assert request_of(w, rej_ref)["state"] == "rejected"
    it = item(admin, aref)
    assert it["lifecycle_state"] == "archived" and it["tombstone"] is None and it["deleted_at"] is None
    assert os.path.exists(content_path(w, a))

    r = open_request(admin, "delete", aref, reason="retention ended; purge")
    assert r.status == 202
    ok = decide(w, approver, r.json()["request_ref"], "approve")
    assert ok.status == 200, ok.describe()
    assert ok.json()["state"] == "approved" and ok.json()["type"] == "retention_delete"
    assert request_of(w, r.json()["request_ref"])["state"] == "approved"

    it = item(admin, aref)
    assert it["lifecycle_state"] == "deleted" and it["retrievable"] is False
    assert it["not_retrievable_reason"] == "deleted" and it["deleted_at"]
    t = it["tombstone"]
    assert t["digest"] == a["digest"] and t["digest_algorithm"] == "sha256"
    assert t["reason"] == "retention ended; purge"
    assert t["request_ref"] == r.json()["request_ref"]
    assert len(t["evidence_refs"]) == 3 and all(x.startswith("cavra://evidence/redacted/") for x in t["evidence_refs"])
    assert not os.path.exists(content_path(w, a)), "the content file must be removed"
    row = sql(f"SELECT digest, size, object_ref FROM aispm.retention_tombstones WHERE object_ref = '{aref}'").split()
    assert row == [a["digest"], str(a["size"]), aref]

    # every retrieval route answers 410 deleted
    admin.get(f"{ARTIFACTS}/{aref}/content").problem(410, "deleted")
    portal = w.portal("tenant_admin")
    pr = portal.get(f"{ARTIFACTS}/{aref}/content")
    assert pr.status == 410 and pr.json()["code"] == "deleted", pr.describe()
    rr = admin.post(RETRIEVALS, json_body={"report_ref": aref})
    p = rr.problem(410, "deleted")
    assert p["projection"]["retrieval"]["access_decision"] == "expired"
    assert p["projection"]["retrieval"]["download_url_ref"] is None
    assert_valid(SEARCH_SCHEMA, p["projection"])
    s = admin.post(SEARCH, json_body={"retention_mode": "include_expired_metadata"}).json()
    hit = [x for x in s["results"] if x["report_ref"] == aref]
    assert hit and hit[0]["lifecycle_state"] == "deleted" and hit[0]["download_allowed"] is False
    assert hit[0]["download_blocked_reason"] == "deleted"
    aware = admin.post(SEARCH, json_body={}).json()
    assert aref not in [x["report_ref"] for x in aware["results"]]
    open_request(admin, "delete", aref).problem(410, "deleted")
    # re-rendering the same data does not bring the deleted bytes back
    again = admin.post(RENDER, json_body={"report_id": a["report_id"], "format": a["format"], "period": a["period"]})
    assert again.status == 202, again.describe()
    done = wait_render(admin, again.json()["render_ref"])
    assert done["status"] == "failed" and done["error_code"] == "artifact_deleted", done
    assert not os.path.exists(content_path(w, a))
    # the metadata stays (with its lifecycle), the bytes do not
    meta = admin.get(f"{ARTIFACTS}/{aref}")
    assert meta.status == 200 and meta.json()["digest"] == a["digest"]
    assert meta.json()["lifecycle_state"] == "deleted" and meta.json()["retrievable"] is False
    assert meta.json()["not_retrievable_reason"] == "deleted"

    acts = actions_for(admin, aref)
    assert "retention.deleted" in acts and "retention.retrieval_blocked" in acts
    all_actions = [e["event"]["action"] for e in audit_events(admin)]
    for a_ in ("retention.request_opened", "retention.request_rejected", "retention.request_approved"):
        assert a_ in all_actions
    # evidence never holds the free-text reason
    assert not any("purge" in str(e["event"]) for e in audit_events(admin))


def test_released_hold_lets_the_sweep_archive(w):
    admin, approver = w["tenant_admin"].api, w["approver"].api
    b = w.art["B"]["artifact_ref"]
    r = open_request(admin, "legal_hold_release", b)
    assert r.status == 202
    assert decide(w, approver, r.json()["request_ref"], "approve").status == 200
    it = item(admin, b)
    assert it["legal_hold_ref"] is None and it["lifecycle_state"] == "retained"
    counts = w.sweep(days_ahead=400)
    assert counts["archived"] >= 1 and counts["on legal hold"] == 0
    assert item(admin, b)["lifecycle_state"] == "archived"
    admin.get(f"{ARTIFACTS}/{b}/content").problem(410, "archived_past_retention")
    assert "retention.legal_hold_released" in actions_for(admin, b)


def test_undecided_requests_expire_and_revocation_blocks(w):
    admin, approver = w["tenant_admin"].api, w["approver"].api
    c = w.art["C"]["artifact_ref"]
    r = open_request(admin, "legal_hold_place", c)
    assert r.status == 202
    assert w.sweep(days_ahead=8)["requests expired"] == 1
    req = admin.get(f"{REQUESTS}/{r.json()['request_ref']}").json()
    assert req["state"] == "expired" and req["decided_by"] == "system"
    assert item(admin, c)["pending_request_ref"] is None
    assert admin.get(f"{APPROVALS}/{req['approval_ref']}").json()["state"] == "expired"
    decide(w, approver, req["request_ref"], "approve").problem(409, "approval_expired")

    g = render(admin, "docx_audit_narrative", "docx")["artifact_ref"]  # retained for 30 days
    assert admin.get(f"{ARTIFACTS}/{g}/content").status == 200
    assert admin.post(f"{ITEMS}/{g}/revoke").status == 200
    admin.get(f"{ARTIFACTS}/{g}/content").problem(403, "revoked")
    admin.post(f"{ITEMS}/{g}/revoke").problem(409, "already_revoked_or_deleted")
    w["auditor"].api.post(f"{ITEMS}/{g}/revoke").problem(403, "forbidden")
    assert "retention.revoked" in actions_for(admin, g)


def test_portal_request_and_approval_forms(w):
    e = w.art["E"]["artifact_ref"]  # soc2 summary: archived by now
    admin = w.portal("tenant_admin")
    page = admin.get("/portal/search?mode=include_expired_metadata", headers={"Accept": "text/html"})
    assert page.status == 200, page.describe()
    assert "lifecycle-deleted" in page.text and "lifecycle-archived" in page.text
    assert e in hidden_inputs(page.text, "object_ref")
    form = {"action": "legal_hold_place", "object_ref": e, "reason": "audit request"}
    nocsrf = admin.post("/portal/retention/requests", form=form, headers={"Accept": "text/html"})
    assert nocsrf.status == 403
    ok = admin.post("/portal/retention/requests", form={**form, "_csrf": admin.csrf}, headers={"Accept": "text/html"})
    assert ok.status == 303 and ok.header("Location") == "/portal/search", ok.describe()
    req_ref = item(w["tenant_admin"].api, e)["pending_request_ref"]
    assert req_ref

    aref = approval_of(w, req_ref)
    approver = w.portal("approver")
    ap = approver.get("/portal/search", headers={"Accept": "text/html"})
    assert aref in ap.text and 'href="/portal/approvals"' in ap.text
    inbox = approver.get("/portal/approvals", headers={"Accept": "text/html"})
    assert f"/portal/approvals/{aref}/decision" in inbox.text
    nocsrf = approver.post(f"/portal/approvals/{aref}/decision", form={"decision": "approve"},
                           headers={"Accept": "text/html"})
    assert nocsrf.status == 403
    assert item(w["tenant_admin"].api, e)["lifecycle_state"] == "pending_approval"
    d = approver.post(f"/portal/approvals/{aref}/decision",
                      form={"decision": "approve", "_csrf": approver.csrf}, headers={"Accept": "text/html"})
    assert d.status == 303, d.describe()
    assert item(w["tenant_admin"].api, e)["lifecycle_state"] == "legal_hold"


def test_lifecycle_projection_validates_and_is_redacted(w):
    admin = w["tenant_admin"].api
    r = admin.get(RETENTION)
    assert r.status == 200, r.describe()
    doc = r.json()
    assert_valid(RETENTION_SCHEMA, doc)
    assert doc["tenant_ref"] == w.tenant_ref
    assert doc["policy"]["default_retention_days"] == 30 and doc["policy"]["deletion_requires_approval"] is True
    states = {x["report_ref"]: x["lifecycle_state"] for x in doc["report_lifecycle"]}
    assert states[w.art["A"]["artifact_ref"]] == "deleted"
    assert states[w.art["B"]["artifact_ref"]] == "archived"
    assert states[w.art["E"]["artifact_ref"]] == "legal_hold"
    held = [x for x in doc["report_lifecycle"] if x["lifecycle_state"] == "legal_hold"]
    assert held[0]["legal_hold_ref"].startswith("legal-hold:")
    assert doc["evidence"]["retention_evidence_refs"][0].startswith("cavra://evidence/redacted/")
    text = r.text
    for p in w.users.values():
        assert p.email not in text and p.user_ref not in text
    assert REASON not in text and "purge" not in text
    # a tenant without retained reports has nothing to project
    other = FreshTenant(w.base_url, w.admin_cli, ["tenant_admin"], "ret-empty")
    other["tenant_admin"].api.get(RETENTION).problem(404, "nothing_retained")
    other["tenant_admin"].api.get(f"{ITEMS}/{w.art['B']['artifact_ref']}").problem(404, "not_found")


def test_retention_evidence_chain_verifies(w, admin_cli):
    admin_cli.run("link-evidence")
    out = admin_cli.out("verify-audit", "--tenant", w.slug)
    assert "OK" in out, out
