"""The portal side of governed delivery, through nginx with session cookies
and CSRF tokens: the artifact page's send form (held for approval), the
approvals inbox (the requester sees no decision form for their own request,
the approver approves with a reason), the deliveries list and detail with
the operator's retry button for a dead letter, the recipient policy page
(adding a domain rule, and a gated change waiting for approval), and the
setup wizard's test delivery. A form without the CSRF token is refused.
"""

import re
import time

from .conftest import hidden_inputs, login, rand, scrape_csrf
from .test_delivery import (APPROVALS, DELIVERIES, POLICY, dt, message_id_of, policy_doc, sink,  # noqa: F401
                            wait_for, wait_status)

HTML = {"Accept": "text/html"}


def page(c, path):
    r = c.get(path, headers=HTML)
    assert r.status == 200, r.describe()
    return r


def test_portal_send_approve_and_deliver(dt, sink, base_url):
    op = login(base_url, *dt.logins["report_operator"])
    ap = login(base_url, *dt.logins["approver"])
    # the render page of the artifact offers the send form
    renders = dt.admin.get("/enterprise/aispm/reports/renders").json()["renders"]
    rref = next(x["render_ref"] for x in renders if x.get("artifact_ref") == dt.artifact_ref)
    r = page(op, f"/portal/renders/{rref}")
    assert 'action="/portal/reports/send"' in r.text
    key = hidden_inputs(r.text, "idempotency_key")[0]
    form = {"_csrf": scrape_csrf(r), "artifact_ref": dt.artifact_ref, "idempotency_key": key,
            "recipients": f"p-{rand(6)}@partner.example", "channel_smtp": "1"}
    bad = dict(form)
    del bad["_csrf"]
    assert op.post("/portal/reports/send", form=bad, headers=HTML).status == 403
    r = op.post("/portal/reports/send", form=form, headers=HTML)
    assert r.status == 303, r.describe()
    loc = r.header("Location")
    assert loc.startswith("/portal/deliveries/delivery:"), loc
    dref = loc.rsplit("/", 1)[1]
    r = page(op, loc)
    assert "held" in r.text and "blocked_requires_approval" in r.text
    # a double submit of the same form is the same send
    r = op.post("/portal/reports/send", form=form, headers=HTML)
    assert r.header("Location") == loc
    # the requester's inbox offers no decision on their own request
    aref = dt.admin.get(f"{DELIVERIES}/{dref}").json()["approval_ref"]
    r = page(op, "/portal/approvals")
    assert f"/portal/approvals/{aref}/decision" not in r.text and aref in r.text
    # the approver's does
    r = page(ap, "/portal/approvals")
    assert f'action="/portal/approvals/{aref}/decision"' in r.text
    r = ap.post(f"/portal/approvals/{aref}/decision", form={"_csrf": scrape_csrf(r), "decision": "approve",
                                                             "reason": "quarterly audit"}, headers=HTML)
    assert r.status == 303 and r.header("Location") == "/portal/approvals", r.describe()
    d = wait_status(dt, dref, ("delivered", "dead", "failed"))
    assert d["status"] == "delivered"
    assert sink.stored(message_id_of(dref)) is not None
    r = page(op, "/portal/deliveries?status=delivered")
    assert dref in r.text


def test_portal_retry_of_a_dead_letter(dt, sink, base_url):
    op = login(base_url, *dt.logins["report_operator"])
    sink.set_mode("permfail")
    try:
        r = dt.operator.post("/enterprise/aispm/reports/send", json_body={
            "artifact_ref": dt.artifact_ref, "recipients": [f"pf-{rand(6)}@{dt.domain}"], "channels": ["smtp"]})
        dref = r.json()["deliveries"][0]["delivery_ref"]
        d = wait_status(dt, dref, ("failed", "dead", "delivered"))
        assert d["status"] == "failed" and d["last_error"] == "smtp_5xx" and d["attempts"] == 1, d
    finally:
        sink.set_mode("accept")
    r = page(op, f"/portal/deliveries/{dref}")
    assert f'action="/portal/deliveries/{dref}/retry"' in r.text
    r = op.post(f"/portal/deliveries/{dref}/retry", form={"_csrf": scrape_csrf(r)}, headers=HTML)
    assert r.status == 303, r.describe()
    assert wait_status(dt, dref, ("delivered", "failed", "dead"))["status"] == "delivered"
    assert len([e for e in sink.for_message(message_id_of(dref)) if e.get("stored")]) == 1


def test_portal_recipient_policy_and_test_delivery(dt, sink, base_url):
    adm = login(base_url, *dt.logins["tenant_admin"])
    # make sure changes apply directly first
    dt.admin.put(POLICY, json_body=policy_doc(dt, group_change_approval=False))
    r = page(adm, "/portal/recipient-policy")
    assert "blocked.example" in r.text and "lead1@" not in r.text
    dom = f"portal-{rand(6)}.example"
    r = adm.post("/portal/recipient-policy/domains", form={"_csrf": scrape_csrf(r), "action": "add", "domain": dom,
                                                           "classification": "external_auditor",
                                                           "approval_required": "1"}, headers=HTML)
    assert r.status == 303 and r.header("Location") == "/portal/recipient-policy", r.describe()
    rules = {x["domain"]: x for x in dt.admin.get(POLICY).json()["domain_rules"]}
    assert rules[dom]["classification"] == "external_auditor" and rules[dom]["approval_required"] is True
    assert len(dt.admin.get(POLICY).json()["recipient_groups"][0]) and \
        dt.admin.get(POLICY).json()["recipient_groups"][0]["member_count"] == 2, "group members kept"
    # gated: the change waits
    dt.admin.put(POLICY, json_body=policy_doc(dt, group_change_approval=True))
    r = page(adm, "/portal/recipient-policy")
    r = adm.post("/portal/recipient-policy/domains", form={"_csrf": scrape_csrf(r), "action": "remove",
                                                           "domain": "vault.example"}, headers=HTML)
    assert r.header("Location") == "/portal/recipient-policy?pending=1", r.describe()
    assert "vault.example" in dt.admin.get(POLICY).text
    # the wizard's test delivery
    r = page(adm, "/portal/test-delivery")
    r = adm.post("/portal/test-delivery", form={"_csrf": scrape_csrf(r), "recipients": f"t-{rand(6)}@{dt.domain}",
                                                 "idempotency_key": hidden_inputs(r.text, "idempotency_key")[0]},
                 headers=HTML)
    assert r.status == 303, r.describe()
    dref = r.header("Location").rsplit("/", 1)[1]
    d = wait_status(dt, dref, ("delivered", "failed", "dead"))
    assert d["status"] == "delivered" and d["origin"] == "test"
    r = page(adm, f"/portal/deliveries/{dref}")
    assert "test_passed" in r.text


def test_portal_inbox_shows_what_was_sent_to_me(dt, base_url):
    ap_email, ap_pw = dt.logins["approver"]
    r = dt.operator.post("/enterprise/aispm/reports/send", json_body={
        "artifact_ref": dt.artifact_ref, "recipients": [ap_email], "channels": ["portal"]})
    assert r.status == 202 and r.json()["result"] == "queued", r.describe()
    dref = r.json()["deliveries"][0]["delivery_ref"]
    assert wait_status(dt, dref, ("delivered", "failed", "dead"))["status"] == "delivered"
    ap = login(base_url, ap_email, ap_pw)
    r = page(ap, "/portal/inbox")
    assert f"/enterprise/aispm/reports/artifacts/{dt.artifact_ref}/content" in r.text
    op = login(base_url, *dt.logins["report_operator"])
    assert f"/enterprise/aispm/reports/artifacts/{dt.artifact_ref}/content" not in page(op, "/portal/inbox").text
    # the recipient downloads it with the session
    got = ap.get(f"/enterprise/aispm/reports/artifacts/{dt.artifact_ref}/content")
    assert got.status == 200 and got.header("X-Artifact-SHA256") == dt.artifact_digest
