"""Evidence rooms through nginx: rooms, invitations, auditor accounts that see
only their own rooms, watermarked downloads of every format (the PDF read back
with pdftotext, page by page), revocation and expiry on the next request, TOTP
MFA computed here with hmac/hashlib, the per-room access-event chain
(verify-audit, tamper detection) and the public projections against the CAVRA
schemas with canary addresses that must appear nowhere."""

import base64
import hashlib
import hmac
import io
import json
import os
import re
import struct
import subprocess
import tempfile
import time
import urllib.parse
import zipfile

import docx
import openpyxl
import pytest
from jsonschema import Draft202012Validator

from .conftest import REPO, Client, audit_events, login, login_post, rand, sql_str, strong_password
from .test_render import ARTIFACTS, pdf_text, render

API = "/enterprise/aispm/reports/evidence-rooms"
HTML = {"Accept": "text/html"}
ROOM_SCHEMA = "aispm-report-evidence-room.schema.json"
EVENT_SCHEMA = "aispm-report-evidence-room-access-event.schema.json"
TRIGGER_SQL = ("CREATE TRIGGER aispm.evidence_room_access_events_no_update BEFORE UPDATE ON "
               "aispm.evidence_room_access_events FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = "
               "'evidence_room_access_events is append-only'")
FORMATS = [
    ("pdf_board_pack", "pdf"),
    ("agent_risk_register", "csv"),
    ("board_kpi_pack", "json"),
    ("siem_jsonl_export", "jsonl"),
    ("xlsx_evidence_workbook", "xlsx"),
    ("docx_audit_narrative", "docx"),
    ("executive_risk_brief", "html"),
    ("executive_risk_brief", "markdown"),
    ("grc_upload_package", "zip"),
]


def contracts():
    d = os.environ.get("AISPM_CONTRACTS") or os.path.join(REPO, "..", "shared", "contracts")
    assert os.path.isdir(os.path.join(d, "cavra", "schemas")), f"no public contracts at {d}"
    return d


def validator(name):
    with open(os.path.join(contracts(), "cavra", "schemas", name), encoding="utf-8") as f:
        schema = json.load(f)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def totp(secret, at=None, offset=0):
    """RFC 6238: HMAC-SHA-1 over the 30 s step, dynamic truncation, 6 digits"""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30) + offset
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


def in_seconds(s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + s))


class Rooms:
    """the demo tenant's manager (API token), rendered artifacts, and helpers
    to create rooms and auditors; remembers every canary address it used"""

    def __init__(self, base_url, manager, artifacts):
        self.base_url = base_url
        self.m = manager
        self.artifacts = artifacts  # format -> artifact json
        self.emails = []
        self.domain = f"audit-{rand(8)}.example"

    def create(self, formats=("pdf",), **over):
        body = {"title": "Q4 external audit", "purpose": "Scoped auditor access to the board pack",
                "audience": "external_auditor", "allowed_domains": [self.domain, "other-firm.example"],
                "expires_at": in_seconds(7 * 86400), "download_allowed": True, "mfa_required": False,
                "artifact_refs": [self.artifacts[f]["artifact_ref"] for f in formats]}
        body.update(over)
        r = self.m.post(API, json_body=body)
        assert r.status == 201, r.describe()
        assert r.header("Location") == f"{API}/{r.json()['room']['room_ref']}"
        return r.json()

    def auditor(self, room_ref, email=None):
        """invites a new address, accepts the invitation, signs in: a Client
        with .auditor_ref and .email"""
        email = email or f"canary-{rand(8)}@{self.domain}"
        self.emails.append(email)
        r = self.m.post(f"{API}/{room_ref}/auditors", json_body={"email": email})
        assert r.status == 201, r.describe()
        inv = r.json()
        assert inv["account"] == "created" and inv["auditor_ref"].startswith("auditor:")
        assert re.fullmatch(r"/portal/invitations/[A-Za-z0-9_-]{43}", inv["invitation_url"]), inv
        password = strong_password()
        c = Client(self.base_url)
        page = c.get(inv["invitation_url"], headers=HTML)
        assert page.status == 200 and "Accept your invitation" in page.text, page.describe()
        r = c.post(inv["invitation_url"], form={"password": password, "password_confirm": password}, headers=HTML)
        assert r.status == 303 and r.header("Location") == "/portal/login", r.describe()
        c = login(self.base_url, email, password)
        c.auditor_ref, c.email, c.password = inv["auditor_ref"], email, password
        return c

    def events(self, room_ref):
        r = self.m.get(f"{API}/{room_ref}/access-events")
        assert r.status == 200, r.describe()
        return r.json()["events"]


@pytest.fixture(scope="module")
def rooms(base_url, acme, admin_cli):
    token = admin_cli.create_token("acme", acme.admin_email, "reports:read,reports:write,ingest", name="e2e-rooms")
    m = Client(base_url, token=token)
    arts = {}
    for report_id, fmt in FORMATS:
        done = render(m, report_id, fmt)
        meta = m.get(f"{ARTIFACTS}/{done['artifact_ref']}")
        assert meta.status == 200, meta.describe()
        arts[fmt] = meta.json()
    return Rooms(base_url, m, arts)


def test_create_validates_and_projects(rooms):
    bad = rooms.m.post(API, json_body={"title": "", "audience": "everyone", "allowed_domains": ["not a domain"],
                                       "expires_at": "2001-01-01T00:00:00Z", "artifact_refs": ["artifact:nope"],
                                       "mfa_required": "yes"}).problem(422, "validation_failed")
    for field in ("title", "purpose", "audience", "allowed_domains", "expires_at", "artifact_refs", "mfa_required"):
        assert field in bad["errors"], bad
    room = rooms.create(formats=("pdf", "csv"))
    validator(ROOM_SCHEMA).validate(room)
    assert room["room"]["status"] == "active" and room["access_log"]["access_count"] == 0
    assert [a["artifact_ref"] for a in room["artifacts"]] == [rooms.artifacts["pdf"]["artifact_ref"],
                                                              rooms.artifacts["csv"]["artifact_ref"]]
    assert room["artifacts"][0]["digest_ref"] == "sha256:" + rooms.artifacts["pdf"]["digest"]
    # domains are shown as digests only
    assert rooms.domain not in json.dumps(room)
    listed = rooms.m.get(API).json()["rooms"]
    assert room["room"]["room_ref"] in [x["room"]["room_ref"] for x in listed]


def test_invitations_follow_the_domain_policy(rooms, base_url, tenant_b):
    room = rooms.create()["room"]["room_ref"]
    p = rooms.m.post(f"{API}/{room}/auditors", json_body={"email": "someone@elsewhere.example"})
    assert p.problem(422, "domain_not_allowed")["errors"]["email"]
    rooms.m.post(f"{API}/{room}/auditors", json_body={"email": "not-an-address"}).problem(422, "validation_failed")
    email = f"canary-{rand(8)}@{rooms.domain}"
    rooms.emails.append(email)
    r = rooms.m.post(f"{API}/{room}/auditors", json_body={"email": email})
    assert r.status == 201, r.describe()
    inv = r.json()
    assert email not in r.text  # the address is not echoed
    rooms.m.post(f"{API}/{room}/auditors", json_body={"email": email}).problem(409, "auditor_already_invited")
    # a pending account cannot sign in; a short password is refused; the link works once
    c = Client(base_url)
    assert login_post(c, email, "whatever-password-1").status != 303
    r = c.post(inv["invitation_url"], form={"password": "short", "password_confirm": "short"}, headers=HTML)
    assert r.status == 422, r.describe()
    pw = strong_password()
    r = c.post(inv["invitation_url"], form={"password": pw, "password_confirm": pw}, headers=HTML)
    assert r.status == 303, r.describe()
    assert c.get(inv["invitation_url"], headers=HTML).status == 410
    r = c.post(inv["invitation_url"], form={"password": pw, "password_confirm": pw}, headers=HTML)
    assert r.status == 410, r.describe()
    login(base_url, email, pw)
    # the same address in a second room links the existing account (no new link)
    room2 = rooms.create()["room"]["room_ref"]
    r = rooms.m.post(f"{API}/{room2}/auditors", json_body={"email": email})
    assert r.status == 201 and r.json()["account"] == "linked" and r.json()["invitation_url"] is None, r.describe()
    # another tenant does not see the room; an account of another role or
    # tenant cannot be invited even from an allowed domain
    b = Client(base_url, token=tenant_b.token_admin)
    b.get(f"{API}/{room}").problem(404, "not_found")
    b.post(f"{API}/{room}/auditors", json_body={"email": email}).problem(404, "not_found")
    b_domain = tenant_b.admin_email.split("@", 1)[1]
    room3 = rooms.create(allowed_domains=["acme.example", b_domain])["room"]["room_ref"]
    rooms.m.post(f"{API}/{room3}/auditors", json_body={"email": "cso@acme.example"}).problem(409, "account_conflict")
    rooms.m.post(f"{API}/{room3}/auditors", json_body={"email": tenant_b.admin_email}).problem(409, "account_conflict")


def test_auditor_sees_only_own_rooms(rooms, base_url):
    mine = rooms.create()["room"]["room_ref"]
    other = rooms.create()["room"]["room_ref"]
    a = rooms.auditor(mine)
    rooms.auditor(other)
    page = a.get("/portal/rooms", headers=HTML)
    assert page.status == 200 and mine in page.text and other not in page.text
    home = a.get("/portal/", headers=HTML)
    assert home.status == 200 and mine in home.text and 'href="/portal/catalog"' not in home.text
    assert a.get(f"/portal/rooms/{mine}", headers=HTML).status == 200
    # another room's ref is not found, and the attempt is recorded in that room's chain
    assert a.get(f"/portal/rooms/{other}", headers=HTML).status == 404
    art = rooms.artifacts["pdf"]["artifact_ref"]
    assert a.get(f"/portal/rooms/{other}/artifacts/{art}/download", headers=HTML).status == 404
    ev = rooms.events(other)
    assert [(e["event"]["event_type"], e["access_decision"]["reason"]) for e in ev][-2:] == [
        ("failed_policy", "not_a_member"), ("failed_policy", "not_a_member")]
    # every other portal area and API is forbidden
    for path in ("/portal/catalog", "/portal/audit", "/portal/renders", "/portal/evidence-rooms", "/portal/setup",
                 "/portal/tokens"):
        assert a.get(path, headers=HTML).status == 403, path
    for path in ("/enterprise/aispm/reports/catalog", "/enterprise/aispm/audit/events", API, f"{API}/{mine}",
                 f"{ARTIFACTS}/{art}", f"{ARTIFACTS}/{art}/content"):
        a.get(path).problem(403, "forbidden")


def test_pdf_download_is_watermarked_on_every_page(rooms):
    pdf = rooms.artifacts["pdf"]
    room = rooms.create(formats=("pdf",))["room"]["room_ref"]
    a = rooms.auditor(room)
    original = rooms.m.get(f"{ARTIFACTS}/{pdf['artifact_ref']}/content")
    assert hashlib.sha256(original.body).hexdigest() == pdf["digest"]
    r = a.get(f"/portal/rooms/{room}/artifacts/{pdf['artifact_ref']}/download")
    assert r.status == 200 and r.content_type == "application/pdf", r.describe()
    dl = r.header("X-Download-Id")
    assert re.fullmatch(r"download:[0-9A-HJKMNP-TV-Z]{26}", dl), dl
    copy_digest = hashlib.sha256(r.body).hexdigest()
    assert r.header("X-Copy-SHA256") == copy_digest != pdf["digest"]
    assert r.header("X-Artifact-SHA256") == pdf["digest"]
    assert r.body.startswith(original.body)  # an incremental update of the unchanged original
    pages = pdf_text(r.body, "-raw").split("\f")
    pages = [p for p in pages if p.strip()]
    n = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", "-"], input=r.body, capture_output=True,
                                                         timeout=30).stdout.decode()).group(1))
    assert n >= 5 and len(pages) == n
    for i, text in enumerate(pages):
        assert f"download id {dl}" in text, f"page {i + 1} lacks the download id"
        assert a.auditor_ref in text and room in text, f"page {i + 1} lacks the auditor or room ref"
        assert re.search(r"Downloaded \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    # the page content is still there, and an independent PDF library finds no error in the copy
    assert "Board Pack" in pages[0]
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(r.body)
        f.flush()
        chk = subprocess.run(["qpdf", "--check", f.name], capture_output=True, timeout=60)
    assert chk.returncode == 0 and b"No syntax or stream encoding errors" in chk.stdout, chk.stdout + chk.stderr
    # the stored artifact and its digest are unchanged
    after = rooms.m.get(f"{ARTIFACTS}/{pdf['artifact_ref']}").json()
    assert after["digest"] == pdf["digest"] and after["size"] == pdf["size"]
    again = rooms.m.get(f"{ARTIFACTS}/{pdf['artifact_ref']}/content")
    assert hashlib.sha256(again.body).hexdigest() == pdf["digest"]
    # the access event names the download; the evidence event holds the copy's digest
    last = rooms.events(room)[-1]
    assert last["event"]["event_type"] == "download" and last["event"]["outcome"] == "allowed"
    assert last["event"]["correlation_ref"] == f"correlation:{dl}"
    assert last["actor"]["actor_ref"] == a.auditor_ref and last["artifacts"][0]["watermark_applied"] is True
    evs = [e["event"] for e in audit_events(rooms.m, limit=100)
           if e["event"].get("action") == "evidence_room.access" and e["event"].get("object_ref") == room]
    d = next(e["details"] for e in evs if e["details"].get("download_id") == dl)
    assert d["copy_digest"] == copy_digest and d["auditor_ref"] == a.auditor_ref
    # a second download is another copy with another id
    r2 = a.get(f"/portal/rooms/{room}/artifacts/{pdf['artifact_ref']}/download")
    assert r2.status == 200 and r2.header("X-Download-Id") != dl and r2.body != r.body


def test_every_format_carries_the_mark(rooms):
    fmts = [f for _, f in FORMATS if f != "pdf"]
    room = rooms.create(formats=tuple(fmts))["room"]["room_ref"]
    a = rooms.auditor(room)
    for fmt in fmts:
        art = rooms.artifacts[fmt]
        r = a.get(f"/portal/rooms/{room}/artifacts/{art['artifact_ref']}/download")
        assert r.status == 200, r.describe()
        dl = r.header("X-Download-Id")
        assert hashlib.sha256(r.body).hexdigest() == r.header("X-Copy-SHA256") != art["digest"]
        if fmt == "csv":
            first = r.body.decode().split("\r\n", 1)[0]
            assert first.startswith('"# AISPM evidence room copy') and dl in first and a.auditor_ref in first
        elif fmt == "json":
            doc = json.loads(r.body)
            assert doc["aispm_watermark"]["download_id"] == dl and doc["aispm_watermark"]["auditor_ref"] == a.auditor_ref
            assert doc["content"]["report_id"] == "board_kpi_pack" if "report_id" in doc["content"] else True
        elif fmt == "jsonl":
            lines = r.body.decode().splitlines()
            assert json.loads(lines[0])["aispm_watermark"]["download_id"] == dl
            assert all(json.loads(x) for x in lines[1:])
        elif fmt == "xlsx":
            wb = openpyxl.load_workbook(io.BytesIO(r.body))
            assert dl in (wb.properties.description or "")
        elif fmt == "docx":
            d = docx.Document(io.BytesIO(r.body))
            assert dl in (d.core_properties.comments or "")
        elif fmt == "html":
            assert re.search(rf'<body[^>]*>\s*<p class="aispm-watermark"[^>]*><strong>[^<]*{dl}', r.text)
        elif fmt == "markdown":
            assert r.text.startswith("> **AISPM evidence room copy") and dl in r.text.split("\n", 1)[0]
        elif fmt == "zip":
            z = zipfile.ZipFile(io.BytesIO(r.body))
            assert z.testzip() is None
            assert dl in z.read("AISPM-WATERMARK.txt").decode()
        after = rooms.m.get(f"{ARTIFACTS}/{art['artifact_ref']}").json()
        assert after["digest"] == art["digest"]


def test_revocation_takes_effect_on_the_next_request(rooms):
    art = rooms.artifacts["pdf"]["artifact_ref"]
    room = rooms.create()["room"]["room_ref"]
    a, b = rooms.auditor(room), rooms.auditor(room)
    page = a.get(f"/portal/rooms/{room}", headers=HTML)
    link = f"/portal/rooms/{room}/artifacts/{art}/download"
    quoted = f"/portal/rooms/{urllib.parse.quote(room, safe='')}/artifacts/{urllib.parse.quote(art, safe='')}/download"
    assert page.status == 200 and quoted in page.text  # the old page's link
    r = rooms.m.post(f"{API}/{room}/auditors/{a.auditor_ref}/revoke")
    assert r.status == 200 and r.json()["status"] == "revoked", r.describe()
    rooms.m.post(f"{API}/{room}/auditors/{a.auditor_ref}/revoke").problem(404, "not_found")
    assert a.get(f"/portal/rooms/{room}", headers=HTML).status == 403
    assert a.get(link, headers=HTML).status == 403
    assert b.get(link).status == 200  # only that auditor is revoked
    ev = rooms.events(room)
    tail = [(e["event"]["event_type"], e["event"]["outcome"], e["access_decision"]["reason"]) for e in ev[-4:]]
    assert tail == [("revoke", "revoked", "auditor_revoked"), ("view", "revoked", "auditor_revoked"),
                    ("download", "revoked", "auditor_revoked"), ("download", "allowed", "member_of_active_room")]
    assert ev[-4]["access_decision"]["revocation_ref"] == a.auditor_ref
    # the whole room
    r = rooms.m.post(f"{API}/{room}/revoke")
    assert r.status == 200 and r.json()["room"]["status"] == "revoked", r.describe()
    rooms.m.post(f"{API}/{room}/revoke").problem(409, "room_already_revoked")
    assert b.get(f"/portal/rooms/{room}", headers=HTML).status == 410
    assert b.get(link).status == 410
    tail = [(e["event"]["event_type"], e["event"]["outcome"], e["access_decision"]["reason"])
            for e in rooms.events(room)[-3:]]
    assert tail == [("revoke", "revoked", "room_revoked"), ("view", "revoked", "room_revoked"),
                    ("download", "revoked", "room_revoked")]
    rooms.m.post(f"{API}/{room}/auditors", json_body={"email": f"x@{rooms.domain}"}).problem(409, "room_not_active")


def test_expiry_takes_effect_on_the_next_request(rooms):
    art = rooms.artifacts["pdf"]["artifact_ref"]
    room = rooms.create(expires_at=in_seconds(4))["room"]["room_ref"]
    a = rooms.auditor(room)
    assert a.get(f"/portal/rooms/{room}", headers=HTML).status == 200
    deadline = time.time() + 10
    while rooms.m.get(f"{API}/{room}").json()["room"]["status"] != "expired":
        assert time.time() < deadline, "the room did not expire"
        time.sleep(0.3)
    assert a.get(f"/portal/rooms/{room}", headers=HTML).status == 410
    assert a.get(f"/portal/rooms/{room}/artifacts/{art}/download").status == 410
    tail = [(e["event"]["event_type"], e["event"]["outcome"], e["access_decision"]["decision"])
            for e in rooms.events(room)[-3:]]
    assert tail == [("expire", "expired", "expire"), ("view", "expired", "expire"), ("download", "expired", "expire")]
    # the expiry itself is logged once
    assert a.get(f"/portal/rooms/{room}", headers=HTML).status == 410
    assert [e["event"]["event_type"] for e in rooms.events(room)].count("expire") == 1


def test_mfa_room_refuses_without_a_valid_code(rooms, base_url):
    art = rooms.artifacts["pdf"]["artifact_ref"]
    room = rooms.create(mfa_required=True)["room"]["room_ref"]
    a = rooms.auditor(room)
    link = f"/portal/rooms/{room}/artifacts/{art}/download"
    r = a.get(f"/portal/rooms/{room}", headers=HTML)
    assert r.status == 403 and "one-time code" in r.text, r.describe()
    assert a.get(link).status == 403
    # enrolment shows the secret and the otpauth URI
    page = a.get("/portal/mfa", headers=HTML)
    assert page.status == 200, page.describe()
    secret = re.search(r'id="totp-secret">([A-Z2-7]{32})<', page.text).group(1)
    assert re.search(r"otpauth://totp/AISPM:user:[0-9A-Z]{26}\?secret=" + secret, page.text)
    wrong = "%06d" % ((int(totp(secret)) + 1) % 1000000)
    if wrong in (totp(secret, offset=-1), totp(secret, offset=1)):
        wrong = "%06d" % ((int(wrong) + 7) % 1000000)
    r = a.post(f"/portal/rooms/{room}/mfa", form={"code": wrong, "_csrf": a.csrf}, headers=HTML)
    assert r.status == 403, r.describe()
    assert a.get(link).status == 403
    code = totp(secret)
    r = a.post("/portal/mfa", form={"code": code, "_csrf": a.csrf}, headers=HTML)
    assert r.status == 303, r.describe()
    assert a.get(f"/portal/rooms/{room}", headers=HTML).status == 200
    d = a.get(link)
    assert d.status == 200 and d.body.startswith(b"%PDF-")
    ev = rooms.events(room)
    kinds = [(e["event"]["event_type"], e["event"]["outcome"], e["access_decision"]["reason"]) for e in ev]
    assert kinds == [("failed_auth", "blocked", "mfa_required"), ("failed_auth", "blocked", "mfa_required"),
                     ("failed_auth", "failed", "mfa_code_invalid"), ("failed_auth", "blocked", "mfa_required"),
                     ("view", "allowed", "member_mfa_verified_active_room"),
                     ("download", "allowed", "member_mfa_verified_active_room")]
    assert ev[-1]["actor"]["mfa_verified"] is True and ev[0]["actor"]["mfa_verified"] is False
    # a new session must verify again, and the code already used is refused
    s2 = login(base_url, a.email, a.password)
    assert s2.get(f"/portal/rooms/{room}", headers=HTML).status == 403
    r = s2.post(f"/portal/rooms/{room}/mfa", form={"code": code, "_csrf": s2.csrf}, headers=HTML)
    assert r.status == 403, "a TOTP code was accepted twice"
    assert s2.get(link).status == 403
    # the secret is shown nowhere once enabled
    assert secret not in a.get("/portal/mfa", headers=HTML).text


def test_manager_portal_creates_invites_and_revokes(rooms, base_url, acme):
    m = login(base_url, acme.admin_email, acme.admin_password)
    page = m.get("/portal/evidence-rooms", headers=HTML)
    assert page.status == 200 and "New evidence room" in page.text, page.describe()
    assert 'href="/portal/evidence-rooms"' in page.text  # navigation item
    art = rooms.artifacts["pdf"]["artifact_ref"]
    form = {"_csrf": m.csrf, "title": "Portal room", "purpose": "Created in the portal", "audience": "internal_audit",
            "allowed_domains": f"{rooms.domain}, second.example", "expires_in_days": "3", "artifact_refs": art,
            "download_allowed": "1"}
    bad = m.post("/portal/evidence-rooms", form={**form, "artifact_refs": "artifact:nope"}, headers=HTML)
    assert bad.status == 422, bad.describe()
    r = m.post("/portal/evidence-rooms", form=form, headers=HTML)
    assert r.status == 303 and r.header("Location").startswith("/portal/evidence-rooms/evidence-room:"), r.describe()
    loc = r.header("Location")
    room = loc.rsplit("/", 1)[1]
    proj = rooms.m.get(f"{API}/{room}").json()
    validator(ROOM_SCHEMA).validate(proj)
    assert proj["access_scope"]["audience"] == "internal_audit" and proj["access_scope"]["mfa_required"] is False
    assert len(proj["access_scope"]["allowed_domain_refs"]) == 2
    email = f"canary-{rand(8)}@{rooms.domain}"
    rooms.emails.append(email)
    r = m.post(f"{loc}/auditors", form={"_csrf": m.csrf, "email": email}, headers=HTML)
    assert r.status == 201, r.describe()
    link = re.search(r'id="invitation-url">(/portal/invitations/[A-Za-z0-9_-]{43})<', r.text).group(1)
    assert email not in r.text
    aud = re.search(r"<code>(auditor:[0-9A-Z]{26})</code>", r.text).group(1)
    assert Client(base_url).get(link, headers=HTML).status == 200
    # the room page lists the auditor and, after revocation, the access log
    r = m.post(f"{loc}/auditors/{aud}/revoke", form={"_csrf": m.csrf}, headers=HTML)
    assert r.status == 303, r.describe()
    r = m.post(f"{loc}/revoke", form={"_csrf": m.csrf}, headers=HTML)
    assert r.status == 303, r.describe()
    page = m.get(loc, headers=HTML)
    assert page.status == 200 and "revoked" in page.text and "auditor_revoked" in page.text, page.describe()
    assert [e["event"]["event_type"] for e in rooms.events(room)] == ["revoke", "revoke"]
    # without the CSRF token the form is refused
    assert m.post("/portal/evidence-rooms", form={k: v for k, v in form.items() if k != "_csrf"},
                  headers=HTML).status == 403


def test_projections_validate_and_hold_no_private_value(rooms, sql):
    rv, ev = validator(ROOM_SCHEMA), validator(EVENT_SCHEMA)
    listed = rooms.m.get(API).json()["rooms"]
    assert len(listed) >= 8
    blobs = []
    for room in listed:
        rv.validate(room)
        blobs.append(json.dumps(room))
        for e in rooms.events(room["room"]["room_ref"]):
            ev.validate(e)
            blobs.append(json.dumps(e))
    assert any('"download"' in b for b in blobs)
    evid = json.dumps([e for e in audit_events(rooms.m, limit=200)
                       if e["event"].get("action", "").startswith(("evidence_room.", "auditor."))])
    chain = sql("SELECT body FROM aispm.evidence_room_access_events")
    assert rooms.emails
    for canary in rooms.emails + [rooms.domain, "127.0.0.1"]:
        for text in blobs + [evid, chain]:
            assert canary not in text, f"{canary} leaked"
    log = open(os.path.join(os.environ["AISPM_TEST_STATE"], "logs", "aispm.log"), encoding="utf-8",
               errors="replace").read()
    for canary in rooms.emails:
        assert canary not in log


def test_verify_audit_checks_room_chains_and_finds_tampering(rooms, admin_cli, sql, env):
    ok = admin_cli.run("verify-audit", "--tenant", "acme")
    assert re.search(r"acme: rooms OK \d+ rooms, \d+ access events verified", ok.stdout), ok.stdout
    # the table refuses UPDATE and DELETE even for the administrative user
    p = subprocess.run(["mariadb", "--no-defaults", f"--socket={env['AISPM_TEST_DB_SOCKET']}", "-N", "-B", "-e",
                        "UPDATE aispm.evidence_room_access_events SET outcome = 'x' LIMIT 1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "append-only" in p.stderr
    # acme's own event: other tests' tenants have rooms too
    row = sql("SELECT id, body FROM aispm.evidence_room_access_events WHERE event_type = 'download' AND tenant_id = "
              "(SELECT id FROM aispm.tenants WHERE slug = 'acme') ORDER BY id LIMIT 1").strip().split("\t", 1)
    ident, body = row[0], row[1]
    assert '"outcome":"allowed"' in body
    sql("DROP TRIGGER aispm.evidence_room_access_events_no_update")
    try:
        sql(f"UPDATE aispm.evidence_room_access_events SET body = REPLACE(body, '\"outcome\":\"allowed\"', "
            f"'\"outcome\":\"blocked\"') WHERE id = {ident}")
        bad = admin_cli.run("verify-audit", "--tenant", "acme", check=False)
        assert bad.returncode == 1 and "rooms FAILED altered" in bad.stdout, bad.stdout
    finally:
        sql(f"UPDATE aispm.evidence_room_access_events SET body = REPLACE(body, '\"outcome\":\"blocked\"', "
            f"'\"outcome\":\"allowed\"') WHERE id = {ident}")
        sql(TRIGGER_SQL)
    again = admin_cli.run("verify-audit", "--tenant", "acme")
    assert "rooms OK" in again.stdout

