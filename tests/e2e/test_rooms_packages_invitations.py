"""Evidence rooms, part 2, through nginx: signed export packages as room items
and auditor invitations e-mailed under the recipient policy.

Packages: a room holds artifacts and packages; the room projection and the
access events validate against the CAVRA schemas with the package as a zip
item (digest and type); the auditor's room page lists it; a download is a
watermarked copy — the package's signed files byte for byte, `sha256sum -c
SHA256SUMS` still passes, and one extra root entry AISPM-WATERMARK.txt names
the room, the auditor, the time and the download id — recorded as a download
access event whose copy digest is the SHA-256 of the bytes received.

Invitations: a fresh tenant whose SMTP provider is a real SMTP server
(tests/e2e/smtp_sink.py, python3-aiosmtpd) and whose recipient policy allows
one auditor domain, holds another for approval and blocks a third. An
allowed address gets an e-mail with a one-time link (built from public_url)
that sets the password; a blocked one is 403 invitation_blocked with reason
codes, nothing is created or sent, and the refusal is evidence; a held one
is e-mailed only after another user approves (the inviter cannot), and a
rejected one is never sent and its membership is revoked. The inviter never
sees the link when e-mail is configured. A canary address appears in no
projection, evidence body or file under the state directory.
"""

import email
import email.policy
import hashlib
import io
import os
import re
import subprocess
import time
import zipfile

import pytest

from .conftest import Client, audit_events, files_containing, login, rand, scrape_csrf, sql_str, strong_password
from .test_delivery import SmtpSink, render_json, validate, wait_for
from .test_evidence_rooms import API, in_seconds, rooms  # noqa: F401  (the demo tenant's rooms fixture)
from .test_packages import PACKAGES

APPROVALS = "/enterprise/aispm/reports/approvals"
DELIVERIES = "/enterprise/aispm/reports/deliveries"
HTML = {"Accept": "text/html"}


def evidence(client, limit=200):
    """the evidence events the client may read (newest first), bodies only"""
    return [e["event"] for e in audit_events(client, limit)]


# ---------------------------------------------------------------------------
# packages as room items (demo tenant: delivery disabled, links shown)

@pytest.fixture(scope="module")
def pkg(rooms):
    arts = [rooms.artifacts["json"]["artifact_ref"], rooms.artifacts["csv"]["artifact_ref"]]
    r = rooms.m.post(PACKAGES, json_body={"type": "board_pack", "artifact_refs": arts})
    assert r.status == 201, r.describe()
    meta = r.json()
    orig = rooms.m.get(f"{PACKAGES}/{meta['package_ref']}/content")
    assert orig.status == 200, orig.describe()
    assert hashlib.sha256(orig.body).hexdigest() == meta["digest"]
    return meta, orig.body


def test_room_with_package_validates_and_downloads_a_marked_copy(rooms, pkg, tmp_path):
    meta, original = pkg
    pref = meta["package_ref"]
    # validation: a package ref that is not one, or not this tenant's
    p = rooms.m.post(API, json_body={"title": "t", "purpose": "p", "audience": "external_auditor",
                                     "allowed_domains": [rooms.domain], "expires_at": in_seconds(3600),
                                     "package_refs": ["package:01ARZ3NDEKTSV4RRFFQ69G5FAV", "artifact:x"]})
    assert "package_refs" in p.problem(422, "validation_failed")["errors"]
    # a room with one artifact and the package; packages alone are enough too
    room = rooms.create(formats=("pdf",), package_refs=[pref])
    only = rooms.create(formats=(), artifact_refs=[], package_refs=[pref])
    assert [a["artifact_ref"] for a in only["artifacts"]] == [pref]
    validate("aispm-report-evidence-room.schema.json", room)
    items = {a["artifact_ref"]: a for a in room["artifacts"]}
    assert set(items) == {rooms.artifacts["pdf"]["artifact_ref"], pref}
    assert items[pref]["format"] == "zip" and items[pref]["digest_ref"] == f"sha256:{meta['digest']}"
    assert items[pref]["report_id"] == "export_package.board_pack" and items[pref]["manifest_ref"] == pref
    rref = room["room"]["room_ref"]

    auditor = rooms.auditor(rref)
    page = auditor.get(f"/portal/rooms/{rref}", headers=HTML)
    assert page.status == 200, page.describe()
    assert pref in page.text and meta["digest"] in page.text and "signed export package" in page.text
    assert "export_package.board_pack" in page.text

    r = auditor.get(f"/portal/rooms/{rref}/artifacts/{pref}/download")
    assert r.status == 200, r.describe()
    copy = r.body
    assert copy != original and hashlib.sha256(copy).hexdigest() != meta["digest"]
    zo, zc = zipfile.ZipFile(io.BytesIO(original)), zipfile.ZipFile(io.BytesIO(copy))
    # every signed file of the package is unchanged in the copy; one entry more
    assert set(zc.namelist()) == set(zo.namelist()) | {"AISPM-WATERMARK.txt"}
    for name in zo.namelist():
        assert zc.read(name) == zo.read(name), name
    mark = zc.read("AISPM-WATERMARK.txt").decode()
    assert rref in mark and auditor.auditor_ref in mark
    download_id = re.search(r"download:[0-9A-HJKMNP-TV-Z]{26}", mark).group(0)
    # the package still verifies from its own SHA256SUMS
    (tmp_path / "copy.zip").write_bytes(copy)
    subprocess.run(["unzip", "-q", "copy.zip", "-d", "x"], cwd=tmp_path, check=True)
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "x", capture_output=True, text=True)
    assert check.returncode == 0 and "FAILED" not in check.stdout, check.stdout + check.stderr
    assert "manifest.json: OK" in check.stdout
    # the download is an access event with the download id and the copy's digest
    evs = rooms.events(rref)
    for ev in evs:
        validate("aispm-report-evidence-room-access-event.schema.json", ev)
    dl = [e for e in evs if e["event"]["event_type"] == "download"]
    assert dl and dl[-1]["event"]["correlation_ref"] == f"correlation:{download_id}"
    assert dl[-1]["artifacts"] == [{"artifact_ref": pref, "report_id": "export_package.board_pack", "format": "zip",
                                    "digest_ref": f"sha256:{meta['digest']}", "watermark_applied": True}]
    ev = [e for e in evidence(rooms.m) if e.get("action") == "evidence_room.access"
          and (e.get("details") or {}).get("download_id") == download_id]
    assert ev and ev[0]["details"]["copy_digest"] == hashlib.sha256(copy).hexdigest(), ev[:1]
    assert ev[0]["details"]["artifact_ref"] == pref
    # a package of the room can be viewed; one that is not in the room cannot be downloaded
    assert auditor.get(f"/portal/rooms/{rref}/artifacts/{pref}", headers=HTML).status == 200
    other = rooms.create(formats=("pdf",))
    r = auditor.get(f"/portal/rooms/{other['room']['room_ref']}/artifacts/{pref}/download")
    assert r.status == 404
    # ... and that probe is recorded in the other room's chain as a contract-valid event about the room
    probe = rooms.events(other["room"]["room_ref"])[-1]
    validate("aispm-report-evidence-room-access-event.schema.json", probe)
    assert probe["event"]["event_type"] == "failed_policy" and probe["access_decision"]["reason"] == "not_a_member"
    assert [a["artifact_ref"] for a in probe["artifacts"]] == [rooms.artifacts["pdf"]["artifact_ref"]]


# ---------------------------------------------------------------------------
# invitations by e-mail under the recipient policy

class T:
    pass


def policy(t):
    rule = lambda d, cls, allowed, appr: {"domain": d, "classification": cls, "allowed": allowed,  # noqa: E731
                                          "approval_required": appr, "encryption_required": False}
    return {
        "policy": {"name": "Invitations", "status": "active", "default_action": "deny",
                   "external_delivery_default": "allow_with_audit"},
        "domain_rules": [rule(t.domain, "internal", True, False), rule(t.ok, "external_auditor", True, False),
                         rule(t.hold, "external_auditor", True, True), rule(t.blocked, "blocked", False, False)],
        "recipient_groups": [],
        "delivery_channel_eligibility": [{"channel": "smtp", "allowed": True}, {"channel": "portal", "allowed": True},
                                         {"channel": "webhook", "allowed": False},
                                         {"channel": "grc_upload", "allowed": False}],
        "approval_policy": {"external_recipient_approval_required": False, "new_domain_approval_required": True,
                            "recipient_group_change_approval_required": False, "approver_group": "approver",
                            "approval_evidence_required": True},
        "encryption_policy": {"attachment_encryption_required": False, "minimum_transport": "tls_1_2",
                              "kms_key_ref_required": False},
    }


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def it(base_url, admin_cli, sink, app_config):
    t = T()
    t.base_url = base_url
    t.slug = f"inv-{rand(8)}"
    t.domain, t.ok, t.hold, t.blocked = (f"{p}{t.slug}.example" for p in ("", "ok-", "hold-", "blocked-"))
    t.tenant_ref = admin_cli.create_tenant(t.slug, f"Invitation tenant {t.slug}").strip()
    t.logins = {}
    for role in ("tenant_admin", "approver"):
        em, pw = f"{role.replace('_', '.')}@{t.domain}", strong_password()
        admin_cli.create_user(t.slug, em, role, pw)
        t.logins[role] = (em, pw)
        setattr(t, role, Client(base_url, token=admin_cli.create_token(
            t.slug, em, "reports:read,reports:write" + (",admin" if role == "tenant_admin" else ""), name=f"e2e-{role}")))
    t.admin = t.tenant_admin
    steps = {"organization_profile": {"CAVRA_REPORT_FROM_ADDRESS": f"reports@{t.domain}",
                                      "CAVRA_REPORT_DEFAULT_TIMEZONE": "UTC", "CAVRA_REPORT_RETENTION_DAYS": "365"},
             "delivery_provider": {"CAVRA_REPORT_DELIVERY_MODE": "smtp", "CAVRA_REPORT_SMTP_HOST": "127.0.0.1",
                                   "CAVRA_REPORT_SMTP_PORT": str(sink.port)},
             "schedule_and_audit": {"CAVRA_REPORT_RETRY_POLICY": "exponential:3"}}
    for step, settings in steps.items():
        r = t.admin.put(f"/enterprise/aispm/reports/setup/steps/{step}", json_body={"settings": settings})
        assert r.status == 200, r.describe()
    assert t.admin.put("/enterprise/aispm/reports/delivery-endpoints", json_body={"smtp_tls": "none"}).status == 200
    r = t.admin.put("/enterprise/aispm/reports/recipient-policy", json_body=policy(t))
    assert r.status == 200, r.describe()
    t.artifact_ref = render_json(t.admin)
    t.public_url = app_config["public_url"]
    return t


def new_room(t):
    r = t.admin.post(API, json_body={"title": f"Audit {rand(6)}", "purpose": "External audit evidence",
                                     "audience": "external_auditor", "allowed_domains": [t.ok, t.hold, t.blocked],
                                     "expires_at": in_seconds(86400), "artifact_refs": [t.artifact_ref]})
    assert r.status == 201, r.describe()
    return r.json()["room"]["room_ref"]


def mails_about(sink, room_ref):
    """messages stored by the sink whose text names the room"""
    out = []
    d = os.path.join(sink.dir, "msgs")
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            m = email.message_from_bytes(fh.read(), policy=email.policy.default)
        body = m.get_body(("plain",)).get_content()
        if room_ref in body:
            out.append((m, body))
    return out


def link_in(t, body):
    m = re.search(re.escape(t.public_url) + r"(/portal/invitations/[A-Za-z0-9_-]{43})\r?\n", body)
    assert m, body
    return m.group(1)


def accept(t, path, address):
    password = strong_password()
    c = Client(t.base_url)
    page = c.get(path, headers=HTML)
    assert page.status == 200 and "Accept your invitation" in page.text, page.describe()
    r = c.post(path, form={"password": password, "password_confirm": password}, headers=HTML)
    assert r.status == 303 and r.header("Location") == "/portal/login", r.describe()
    return login(t.base_url, address, password)


def rcpt_of(t, address):
    """recipients.h: "rcpt:" + 32 hex of SHA-256(tenant ref ":" lower-cased address)"""
    return "rcpt:" + hashlib.sha256(f"{t.tenant_ref}:{address.lower()}".encode()).hexdigest()[:32]


def invite(t, room_ref, address):
    return t.admin.post(f"{API}/{room_ref}/auditors", json_body={"email": address})


def test_allowed_domain_gets_the_link_by_email(it, sink):
    room = new_room(it)
    address = f"canary-{rand(10)}@{it.ok}"
    r = invite(it, room, address)
    assert r.status == 201, r.describe()
    body = r.json()
    # e-mail configured: the inviter never sees the link
    assert body["invitation_url"] is None and body["invitation_expires_at"] is None
    assert body["invitation"]["channel"] == "email" and body["invitation"]["status"] == "queued"
    assert body["invitation"]["approval_ref"] is None
    mails = wait_for(lambda: mails_about(sink, room), 30, "the invitation e-mail")
    assert len(mails) == 1
    msg, text = mails[0]
    assert "evidence room" in msg["Subject"] and address not in text
    # one envelope recipient (the address itself is only on the envelope)
    assert [e["rcpt_count"] for e in sink.for_message(msg["Message-ID"])] == [1]
    path = link_in(it, text)
    auditor = accept(it, path, address)
    mine = auditor.get("/portal/rooms", headers=HTML)
    assert mine.status == 200 and room in mine.text, mine.describe()
    # the link is one-time
    assert Client(it.base_url).get(path, headers=HTML).status == 410
    # the send is an ordinary governed delivery: audited, contract-valid, delivered
    dl = it.admin.get(f"{DELIVERIES}?limit=50").json()["deliveries"]
    ours = [d for d in dl if d["send_ref"] == body["invitation"]["send_ref"]]
    assert ours and ours[0]["status"] == "delivered" and ours[0]["channel"] == "smtp", ours
    d = it.admin.get(f"{DELIVERIES}/{ours[0]['delivery_ref']}").json()
    statuses = []
    for ev in d["audit_events"]:
        validate("aispm-report-delivery-audit-event.schema.json", ev)
        statuses.append(ev["audit_event"]["status"])
        assert ev["audit_event"]["report_id"] == "auditor_invitation"
    assert statuses[:1] == ["accepted"] or "accepted" in statuses and "sent" in statuses, statuses
    assert msg["Message-ID"] == f"<{ours[0]['delivery_ref'].split(':', 1)[1]}@aispm.report-center>"
    # ... addressed to the invited address (by its recipient ref)
    assert [x["recipient_ref"] for x in d["recipients"]] == [rcpt_of(it, address)] and d["recipients"][0]["domain"] == it.ok


def test_blocked_domain_is_refused_and_nothing_is_sent(it, sink):
    room = new_room(it)
    address = f"canary-{rand(10)}@{it.blocked}"
    r = invite(it, room, address)
    p = r.problem(403, "invitation_blocked")
    assert p["reasons"] == ["domain_denied"] and p["recipient_ref"] == rcpt_of(it, address), p
    assert address not in r.text
    # nothing of the invitation exists: no auditor, no queued delivery, no mail
    assert it.admin.get(f"{API}/{room}/auditors").json()["auditors"] == []
    time.sleep(1.5)
    assert mails_about(sink, room) == []
    evs = [e for e in evidence(it.admin) if e.get("object_ref") == room]
    blocked = [e for e in evs if e["action"] == "evidence_room.invitation_blocked"]
    assert blocked and blocked[0]["details"]["reasons"] == ["domain_denied"], evs[:3]
    assert blocked[0]["details"]["recipient_ref"] == p["recipient_ref"]
    assert not [e for e in evs if e["action"] == "evidence_room.auditor_invited"]
    # an address outside the room's domains is refused before the policy
    invite(it, room, f"x@{it.domain}").problem(422, "domain_not_allowed")


def test_approval_required_domain_is_held_until_another_user_approves(it, sink):
    room = new_room(it)
    address = f"canary-{rand(10)}@{it.hold}"
    r = invite(it, room, address)
    assert r.status == 201, r.describe()
    inv = r.json()["invitation"]
    assert inv["status"] == "held_for_approval" and inv["approval_ref"].startswith("approval:"), inv
    assert r.json()["invitation_url"] is None
    time.sleep(1.5)
    assert mails_about(sink, room) == [], "a held invitation must not be sent"
    # the inviter may not approve their own request
    own = it.admin.post(f"{APPROVALS}/{inv['approval_ref']}/decision", json_body={"decision": "approve"})
    assert own.problem(403)["code"] == "self_approval_forbidden"
    a = it.approver.get(f"{APPROVALS}/{inv['approval_ref']}").json()
    assert a["type"] == "auditor_invitation" and a["subject_ref"] == r.json()["auditor_ref"], a
    ok = it.approver.post(f"{APPROVALS}/{inv['approval_ref']}/decision", json_body={"decision": "approve"})
    assert ok.status == 200, ok.describe()
    assert ok.json()["state"] == "approved"
    validate("aispm-report-approval-decision.schema.json", ok.json()["projection"])
    assert ok.json()["projection"]["approval_request"]["request_type"] == "external_delivery_exception"
    mails = wait_for(lambda: mails_about(sink, room), 30, "the released invitation e-mail")
    auditor = accept(it, link_in(it, mails[0][1]), address)
    assert room in auditor.get("/portal/rooms", headers=HTML).text
    acts = [e["action"] for e in evidence(it.admin) if e.get("object_ref") == room]
    assert "evidence_room.invitation_released" in acts


def test_rejected_invitation_is_dropped_and_revoked(it, sink):
    room = new_room(it)
    r = invite(it, room, f"canary-{rand(10)}@{it.hold}")
    assert r.status == 201, r.describe()
    inv, aref = r.json()["invitation"], r.json()["auditor_ref"]
    no = it.approver.post(f"{APPROVALS}/{inv['approval_ref']}/decision",
                          json_body={"decision": "reject", "reason": "not our auditor"})
    assert no.status == 200, no.describe()
    auds = {a["auditor_ref"]: a for a in it.admin.get(f"{API}/{room}/auditors").json()["auditors"]}
    assert auds[aref]["status"] == "revoked"
    time.sleep(1.5)
    assert mails_about(sink, room) == []
    dl = [d for d in it.admin.get(f"{DELIVERIES}?limit=50").json()["deliveries"] if d["send_ref"] == inv["send_ref"]]
    assert dl and dl[0]["status"] == "dropped", dl
    acts = [e["action"] for e in evidence(it.admin) if e.get("object_ref") == room]
    assert "evidence_room.invitation_dropped" in acts


def test_portal_invite_says_emailed_and_shows_no_link(it, sink):
    room = new_room(it)
    em, pw = it.logins["tenant_admin"]
    c = login(it.base_url, em, pw)
    page = c.get(f"/portal/evidence-rooms/{room}", headers=HTML)
    assert page.status == 200, page.describe()
    r = c.post(f"/portal/evidence-rooms/{room}/auditors",
               form={"email": f"canary-{rand(10)}@{it.ok}", "_csrf": scrape_csrf(page)}, headers=HTML)
    assert r.status == 201, r.describe()
    assert 'id="invitation-status"' in r.text and "queued" in r.text
    assert "invitation-url" not in r.text and "/portal/invitations/" not in r.text
    wait_for(lambda: mails_about(sink, room), 30, "the portal invitation e-mail")


def test_canary_address_never_leaks(it, sink, sql, state_dir):
    local = "canary-" + rand(12)
    room = new_room(it)
    sent = invite(it, room, f"{local}@{it.ok}")
    held = invite(it, room, f"{local}h@{it.hold}")
    blocked = invite(it, room, f"{local}b@{it.blocked}")
    assert sent.status == 201 and held.status == 201 and blocked.status == 403
    wait_for(lambda: mails_about(sink, room), 30, "the canary's e-mail")
    texts = [sent.text, held.text, blocked.text, it.admin.get(f"{API}/{room}").text,
             it.admin.get(f"{API}/{room}/auditors").text, it.admin.get(f"{API}/{room}/access-events").text,
             it.admin.get(APPROVALS).text, it.admin.get(f"{DELIVERIES}?limit=100").text,
             it.admin.get("/enterprise/aispm/reports/delivery-audit?limit=100").text,
             it.admin.get(f"{APPROVALS}/{held.json()['invitation']['approval_ref']}").text]
    for t in texts:
        assert local not in t
    like = sql_str("%" + local + "%")
    assert sql(f"SELECT COUNT(*) FROM aispm.evidence_events WHERE body LIKE {like}").strip() == "0"
    assert sql(f"SELECT COUNT(*) FROM aispm.evidence_room_access_events WHERE body LIKE {like}").strip() == "0"
    assert sql(f"SELECT COUNT(*) FROM aispm.approval_requests WHERE subject_ref LIKE {like} OR public_subject LIKE "
               f"{like}").strip() == "0"
    assert sql(f"SELECT COUNT(*) FROM aispm.deliveries WHERE subject_ref LIKE {like} OR domains LIKE {like}"
               ).strip() == "0"
    # stored privately (so the scan is not vacuous)
    assert sql(f"SELECT COUNT(*) FROM aispm.room_auditors WHERE email LIKE {like}").strip() == "2"
    hits = files_containing(state_dir, local)
    assert not hits, f"the canary address appears in {hits}"
