"""Governed delivery through nginx with a real SMTP server (python3-aiosmtpd,
tests/e2e/smtp_sink.py) and a real webhook receiver.

A fresh tenant per module (so the demo tenant's settings stay as they are),
with a report operator who sends, an approver, and a tenant admin; the
tenant's SMTP settings point at the sink (plain SMTP on loopback), its
recipient policy: <slug>.example internal, partner.example external with
approval, blocked.example denied, anything else denied by default.

Covers: the recipient policy projection; policy-blocked sends (external
domain denied, unknown domain) are 403 send_blocked with reasons, reach
nothing, and have a blocked_policy audit event; a send that needs approval is
held (blocked_requires_approval, nothing sent), the requester cannot approve
it (self_approval_forbidden), another user's approval releases it and the
message arrives with the artifact attached (bytes hash to the artifact
digest); an expired approval request drops the send and can no longer be
decided; SMTP down -> retries with growing delays -> dead letter -> operator
retry after the server is back -> delivered once; a job worker SIGKILLed
while the receiver holds the message -> re-sent with the same Message-ID and
stored once; webhook 500 then 200 -> delivered once with a valid HMAC
signature; STARTTLS is attempted and an untrusted certificate fails the
attempt; idempotent sends; gated policy changes; the setup wizard's test
delivery; disabled mode; list filters, cursor pagination and tenant
isolation; every projection validates against the public schemas; and a
canary address never appears in any projection, evidence body or log under
the state directory.
"""

import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from .conftest import REPO, Client, audit_events, files_containing, rand, sql_str, strong_password
from .test_zz_process_model import children, http_workers, master_pid, socket_path

SEND = "/enterprise/aispm/reports/send"
DELIVERIES = "/enterprise/aispm/reports/deliveries"
APPROVALS = "/enterprise/aispm/reports/approvals"
POLICY = "/enterprise/aispm/reports/recipient-policy"
ENDPOINTS = "/enterprise/aispm/reports/delivery-endpoints"
SINK = os.path.join(REPO, "tests", "e2e", "smtp_sink.py")

try:
    FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
except AttributeError:  # pragma: no cover
    from jsonschema import draft202012_format_checker as FORMAT_CHECKER


def contracts_dir():
    return Path(os.environ.get("AISPM_CONTRACTS") or os.path.join(REPO, "..", "shared", "contracts"))


def validate(name, doc):
    with open(contracts_dir() / "cavra" / "schemas" / name) as f:
        schema = json.load(f)
    v = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]
    assert not errors, f"{name}: {errors}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=20, what="condition", interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class SmtpSink:
    """the SMTP server subprocess and what it received"""

    def __init__(self, tls=None):
        self.dir = tempfile.mkdtemp(prefix="aispm-sink-")
        self.port = free_port()
        self.tls = tls
        self.proc = None
        self.start()

    def start(self):
        args = [sys.executable, SINK, "--port", str(self.port), "--dir", self.dir]
        if self.tls:
            args += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"smtp sink did not start: {line!r}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def set_mode(self, mode):
        with open(os.path.join(self.dir, "mode"), "w") as f:
            f.write(mode)

    def received(self):
        try:
            with open(os.path.join(self.dir, "received.jsonl")) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def for_message(self, message_id):
        return [e for e in self.received() if e.get("message_id") == message_id]

    def stored(self, message_id):
        path = os.path.join(self.dir, "msgs", hashlib.sha256(message_id.encode()).hexdigest() + ".eml")
        with open(path, "rb") as f:
            return email.message_from_bytes(f.read(), policy=email.policy.default)


@pytest.fixture(scope="module")
def sink():
    s = SmtpSink()
    yield s
    s.stop()


class T:
    pass


def render_json(client):
    """renders board_kpi_pack as JSON for the client's tenant; the artifact ref"""
    r = client.post("/enterprise/aispm/reports/render", json_body={"report_id": "board_kpi_pack", "format": "json"})
    assert r.status == 202, r.describe()
    ref = r.json()["render_ref"]
    done = wait_for(lambda: (lambda s: s if s["status"] in ("succeeded", "failed") else None)(
        client.get(f"/enterprise/aispm/reports/renders/{ref}").json()), 60, "the render")
    assert done["status"] == "succeeded", done
    return done["artifact_ref"]


@pytest.fixture(scope="module")
def dt(base_url, admin_cli, sink):
    """a delivery tenant: users, tokens, SMTP settings, a recipient policy and one artifact"""
    t = T()
    t.slug = f"deliv-{rand(8)}"
    t.domain = f"{t.slug}.example"
    t.tenant_ref = admin_cli.create_tenant(t.slug, f"Delivery tenant {t.slug}")
    users = {}
    for role in ("tenant_admin", "report_operator", "approver"):
        em = f"{role.replace('_', '.')}@{t.domain}"
        pw = strong_password()
        ref = admin_cli.create_user(t.slug, em, role, pw)
        tok = admin_cli.create_token(t.slug, em, "reports:read,reports:write" + (",admin" if role == "tenant_admin" else ""),
                                     name=f"e2e-{role}")
        users[role] = (em, pw, ref, Client(base_url, token=tok))
    t.admin, t.operator, t.approver = (users[r][3] for r in ("tenant_admin", "report_operator", "approver"))
    t.operator_ref, t.approver_ref = users["report_operator"][2], users["approver"][2]
    t.logins = {role: (u[0], u[1]) for role, u in users.items()}
    t.secret_dir = tempfile.mkdtemp(prefix="aispm-secret-")
    t.secret = "whsec-" + rand(16)
    t.secret_path = os.path.join(t.secret_dir, "webhook_key")
    with open(t.secret_path, "w") as f:
        f.write(t.secret + "\n")
    os.chmod(t.secret_dir, 0o755)
    os.chmod(t.secret_path, 0o644)
    steps = {
        "organization_profile": {"CAVRA_REPORT_FROM_ADDRESS": f"reports@{t.domain}",
                                 "CAVRA_REPORT_DEFAULT_TIMEZONE": "UTC", "CAVRA_REPORT_RETENTION_DAYS": "365"},
        "delivery_provider": {"CAVRA_REPORT_DELIVERY_MODE": "smtp", "CAVRA_REPORT_SMTP_HOST": "127.0.0.1",
                              "CAVRA_REPORT_SMTP_PORT": str(sink.port)},
        "schedule_and_audit": {"CAVRA_REPORT_RETRY_POLICY": "exponential:3"},
    }
    for step, settings in steps.items():
        r = t.admin.put(f"/enterprise/aispm/reports/setup/steps/{step}", json_body={"settings": settings})
        assert r.status == 200, r.describe()
    r = t.admin.put(ENDPOINTS, json_body={"smtp_tls": "none", "webhook_secret_ref": f"file:{t.secret_path}"})
    assert r.status == 200, r.describe()
    r = t.admin.put(POLICY, json_body=policy_doc(t, group_change_approval=False))
    assert r.status == 200, r.describe()
    # one artifact to send
    t.artifact_ref = render_json(t.admin)
    meta = t.admin.get(f"/enterprise/aispm/reports/artifacts/{t.artifact_ref}").json()
    t.artifact_digest = meta["digest"]
    return t


def policy_doc(t, group_change_approval):
    return {
        "policy": {"name": "E2E policy", "status": "active", "default_action": "deny",
                   "external_delivery_default": "require_approval"},
        "domain_rules": [
            {"domain": t.domain, "classification": "internal", "allowed": True, "approval_required": False,
             "encryption_required": False},
            {"domain": "partner.example", "classification": "external_partner", "allowed": True,
             "approval_required": True, "encryption_required": False},
            {"domain": "vault.example", "classification": "external_auditor", "allowed": True,
             "approval_required": True, "encryption_required": True},
            {"domain": "blocked.example", "classification": "blocked", "allowed": False, "approval_required": False,
             "encryption_required": False},
        ],
        "recipient_groups": [{"display_name": "Leads", "role_scope": "cso", "source": "manual_group",
                              "members": [f"lead1@{t.domain}", f"lead2@{t.domain}"]}],
        "delivery_channel_eligibility": [
            {"channel": "smtp", "allowed": True, "requires_verified_sender": True, "requires_encryption": False},
            {"channel": "portal", "allowed": True},
            {"channel": "webhook", "allowed": True, "requires_encryption": True},
            {"channel": "grc_upload", "allowed": False},
        ],
        "approval_policy": {"external_recipient_approval_required": True, "new_domain_approval_required": True,
                            "recipient_group_change_approval_required": group_change_approval,
                            "approver_group": "approver", "approval_evidence_required": True},
        "encryption_policy": {"attachment_encryption_required": False, "minimum_transport": "tls_1_2",
                              "kms_key_ref_required": False},
    }


def send(client, t, recipients, channels=("smtp",), groups=(), key=None, artifact=None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(SEND, json_body={"artifact_ref": artifact or t.artifact_ref, "recipients": list(recipients),
                                        "groups": list(groups), "channels": list(channels)}, headers=headers)


def delivery(t, ref):
    r = t.admin.get(f"{DELIVERIES}/{ref}")
    assert r.status == 200, r.describe()
    return r.json()


def wait_status(t, ref, statuses, timeout=30):
    return wait_for(lambda: (lambda d: d if d["status"] in statuses else None)(delivery(t, ref)), timeout,
                    f"delivery {ref} to reach {statuses}")


def message_id_of(ref):
    return f"<{ref.split(':', 1)[1]}@aispm.report-center>"


def check_audit(d):
    assert d["audit_events"], d
    for ev in d["audit_events"]:
        validate("aispm-report-delivery-audit-event.schema.json", ev)
    return [e["audit_event"]["status"] for e in d["audit_events"]]


# --------------------------------------------------------------------------


def test_recipient_policy_projection(dt):
    r = dt.admin.get(POLICY)
    assert r.status == 200, r.describe()
    p = r.json()
    validate("aispm-report-recipient-policy.schema.json", p)
    assert p["tenant_ref"] == dt.tenant_ref
    rules = {x["domain"]: x for x in p["domain_rules"]}
    assert rules["blocked.example"]["allowed"] is False and rules[dt.domain]["classification"] == "internal"
    assert p["recipient_groups"][0]["member_count"] == 2 and p["recipient_groups"][0]["addresses_redacted"] is True
    assert "lead1@" not in r.text
    # invalid documents are refused field by field, never echoing an address
    bad = policy_doc(dt, False)
    bad["recipient_groups"][0]["members"] = ["not-an-address-canary"]
    r = dt.admin.put(POLICY, json_body=bad)
    r.problem(422, "validation_failed")
    assert "not-an-address-canary" not in r.text


def test_render_is_a_delivery_audit_event(dt):
    r = dt.admin.get("/enterprise/aispm/reports/delivery-audit?action=render&limit=10")
    assert r.status == 200, r.describe()
    evs = r.json()["audit_events"]
    assert evs, r.json()
    for ev in evs:
        validate("aispm-report-delivery-audit-event.schema.json", ev)
    ours = [e for e in evs if e["evidence"]["report_digest_ref"] == f"sha256:{dt.artifact_digest}"]
    assert ours and ours[0]["audit_event"]["status"] == "rendered" and ours[0]["audit_event"]["action"] == "render"
    dt.admin.get("/enterprise/aispm/reports/delivery-audit?action=bogus").problem(422, "validation_failed")
    # the operator role (no audit.read) may not list the tenant's audit
    assert dt.operator.get("/enterprise/aispm/reports/delivery-audit").status == 403


def test_blocked_sends_reach_nothing(dt, sink):
    before = len(sink.received())
    for addr, reason in ((f"x-{rand(6)}@blocked.example", "domain_denied"),
                         (f"y-{rand(6)}@unknown-{rand(6)}.example", "domain_not_allowed")):
        r = send(dt.operator, dt, [addr])
        p = r.problem(403, "send_blocked")
        assert reason in p["reasons"], p
        assert p["result"] == "blocked" and p["deliveries"][0]["status"] == "blocked"
        assert all(x["recipient_ref"].startswith("rcpt:") for x in p["recipients"])
        assert addr not in r.text
        d = delivery(dt, p["deliveries"][0]["delivery_ref"])
        statuses = check_audit(d)
        assert statuses == ["blocked_policy"], statuses
        assert d["audit_events"][0]["retry"]["terminal"] is True
    time.sleep(1.5)  # a job worker turn or ten
    assert len(sink.received()) == before, "a blocked send reached the SMTP server"
    lst = dt.admin.get(f"{DELIVERIES}?status=blocked").json()["deliveries"]
    assert len(lst) >= 2 and all(x["status"] == "blocked" for x in lst)


def test_held_send_needs_another_user(dt, sink):
    before = len(sink.received())
    r = send(dt.operator, dt, [f"auditor-{rand(6)}@partner.example"])
    assert r.status == 202, r.describe()
    body = r.json()
    assert body["result"] == "held" and body["approval_ref"].startswith("approval:"), body
    dref = body["deliveries"][0]["delivery_ref"]
    time.sleep(1.5)
    assert len(sink.received()) == before, "a held send reached the SMTP server"
    d = delivery(dt, dref)
    assert d["status"] == "held" and check_audit(d) == ["blocked_requires_approval"]
    assert d["audit_events"][0]["approval"]["decision"] == "pending"
    # four eyes: the requester cannot decide, even when the role could
    r = dt.operator.post(f"{APPROVALS}/{body['approval_ref']}/decision", json_body={"decision": "approve"})
    assert r.status == 403, r.describe()
    r = dt.admin.get(f"{APPROVALS}/{body['approval_ref']}")
    assert r.json()["state"] == "pending" and r.json()["projection"] is None
    # the approver approves: released, sent, the artifact attached
    r = dt.approver.post(f"{APPROVALS}/{body['approval_ref']}/decision",
                         json_body={"decision": "approve", "reason": "auditor engagement 2026",
                                    "conditions": ["recipient_domain_must_match_auditor_allowlist"]})
    assert r.status == 200, r.describe()
    a = r.json()
    assert a["state"] == "approved"
    validate("aispm-report-approval-decision.schema.json", a["projection"])
    assert a["projection"]["decision"]["decided_by"] == "role:approver"
    assert "auditor engagement" not in r.text, "the private justification leaked"
    d = wait_status(dt, dref, ("delivered", "dead", "failed"))
    assert d["status"] == "delivered", d
    assert check_audit(d) == ["blocked_requires_approval", "accepted", "sent"]
    assert d["audit_events"][-1]["approval"]["decision"] == "approved"
    msg = sink.stored(message_id_of(dref))
    att = [p for p in msg.iter_attachments()]
    assert len(att) == 1
    data = att[0].get_content()
    data = data if isinstance(data, bytes) else data.encode()
    assert hashlib.sha256(data).hexdigest() == dt.artifact_digest
    assert len(sink.for_message(message_id_of(dref))) == 1
    # decided once
    r = dt.approver.post(f"{APPROVALS}/{body['approval_ref']}/decision", json_body={"decision": "reject", "reason": "x"})
    r.problem(409, "already_decided")


def test_racing_deciders_decide_once(dt, sink, sql):
    r = send(dt.operator, dt, [f"race-{rand(6)}@partner.example"])
    held = r.json()
    results = []
    barrier = threading.Barrier(2)

    def decide(client, decision):
        barrier.wait()
        results.append(client.post(f"{APPROVALS}/{held['approval_ref']}/decision",
                                   json_body={"decision": decision, "reason": "race"}))

    ts = [threading.Thread(target=decide, args=(dt.approver, "approve")),
          threading.Thread(target=decide, args=(dt.admin, "reject"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    statuses = sorted(x.status for x in results)
    assert statuses == [200, 409], [x.describe() for x in results]
    loser = next(x for x in results if x.status == 409)
    assert loser.json()["code"] == "already_decided"
    winner = next(x for x in results if x.status == 200).json()["state"]
    dref = held["deliveries"][0]["delivery_ref"]
    d = wait_status(dt, dref, ("delivered", "dropped", "dead", "failed"))
    assert d["status"] == ("delivered" if winner == "approved" else "dropped"), (winner, d)
    n = sql(f"SELECT COUNT(*) FROM aispm.jobs j JOIN aispm.deliveries d ON d.id = "
            f"CAST(JSON_VALUE(j.payload, '$.delivery_id') AS UNSIGNED) WHERE d.ref = {sql_str(dref)}").strip()
    assert n == ("1" if winner == "approved" else "0")


def test_rejected_and_expired_approvals_do_not_release(dt, sink, sql, state_dir, app_config):
    before = len(sink.received())
    r = send(dt.operator, dt, [f"a-{rand(6)}@partner.example"])
    rejected = r.json()
    r = dt.approver.post(f"{APPROVALS}/{rejected['approval_ref']}/decision", json_body={"decision": "reject"})
    r.problem(422, "validation_failed")  # a rejection needs a reason
    r = dt.approver.post(f"{APPROVALS}/{rejected['approval_ref']}/decision",
                         json_body={"decision": "reject", "reason": "not this quarter"})
    assert r.status == 200 and r.json()["state"] == "rejected", r.describe()
    validate("aispm-report-approval-decision.schema.json", r.json()["projection"])
    d = delivery(dt, rejected["deliveries"][0]["delivery_ref"])
    assert d["status"] == "dropped" and d["audit_events"][-1]["approval"]["decision"] == "denied"
    # an approval request past its due time: the job worker expires it
    r = send(dt.operator, dt, [f"b-{rand(6)}@partner.example"])
    held = r.json()
    sql(f"UPDATE aispm.approval_requests SET due_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
        f"WHERE ref = {sql_str(held['approval_ref'])}")
    wait_for(lambda: dt.admin.get(f"{APPROVALS}/{held['approval_ref']}").json()["state"] == "expired", 15,
             "the approval to expire")
    a = dt.admin.get(f"{APPROVALS}/{held['approval_ref']}").json()
    validate("aispm-report-approval-decision.schema.json", a["projection"])
    assert a["projection"]["decision"]["decision"] == "expired"
    r = dt.approver.post(f"{APPROVALS}/{held['approval_ref']}/decision", json_body={"decision": "approve"})
    r.problem(409, "approval_expired")
    d = delivery(dt, held["deliveries"][0]["delivery_ref"])
    assert d["status"] == "dropped" and d["audit_events"][-1]["approval"]["decision"] == "expired", d
    # an approval whose own validity has run out no longer authorises the send:
    # the job workers are stopped (SIGSTOP) so that the job the approval queues
    # cannot run before the approval has run out
    r = send(dt.operator, dt, [f"c-{rand(6)}@partner.example"])
    late = r.json()
    workers = job_workers(state_dir, app_config)
    assert workers, "no job worker found"
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        r = dt.approver.post(f"{APPROVALS}/{late['approval_ref']}/decision",
                             json_body={"decision": "approve", "reason": "ok"})
        assert r.status == 200, r.describe()
        sql(f"UPDATE aispm.approval_requests SET decision_expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
            f"WHERE ref = {sql_str(late['approval_ref'])}")
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    d = wait_status(dt, late["deliveries"][0]["delivery_ref"], ("dropped", "delivered"))
    assert d["status"] == "dropped" and d["last_error"] == "approval_expired", d
    time.sleep(0.5)
    assert len(sink.received()) == before, "a rejected or expired approval released a send"


def test_smtp_down_retries_dead_letter_and_operator_retry(dt, sink, sql):
    sink.stop()
    try:
        r = send(dt.operator, dt, [f"ops-{rand(6)}@{dt.domain}"])
        assert r.status == 202 and r.json()["result"] == "queued", r.describe()
        dref = r.json()["deliveries"][0]["delivery_ref"]
        d = wait_status(dt, dref, ("dead",), 30)
        assert d["attempts"] == 3 and d["max_attempts"] == 3 and d["last_error"] == "connect_failed", d
        statuses = check_audit(d)
        assert statuses == ["accepted", "retry_scheduled", "retry_scheduled", "failed"], statuses
        # growing delays: next_retry_at - occurred_at doubles (plus <= 25 % jitter)
        rows = sql(f"SELECT TIMESTAMPDIFF(MICROSECOND, x.created_at, x.next_retry_at) FROM aispm.delivery_audit x "
                   f"JOIN aispm.deliveries d ON d.id = x.delivery_id WHERE d.ref = {sql_str(dref)} AND "
                   f"x.status = 'retry_scheduled' ORDER BY x.id").split()
        gaps = [int(g) for g in rows]
        assert len(gaps) == 2 and gaps[1] > gaps[0] * 1.5, gaps
        assert d["audit_events"][-1]["retry"]["terminal"] is True and d["retryable"] is True
    finally:
        sink.start()
    assert not sink.for_message(message_id_of(dref))
    # only a dead-lettered (or failed) delivery can be retried; the operator retries it
    r = dt.operator.post(f"{DELIVERIES}/{dref}/retry")
    assert r.status == 202, r.describe()
    d = wait_status(dt, dref, ("delivered", "dead", "failed"))
    assert d["status"] == "delivered" and d["attempts"] == 4, d
    r = dt.operator.post(f"{DELIVERIES}/{dref}/retry")
    r.problem(409, "not_retryable")
    time.sleep(0.5)
    got = sink.for_message(message_id_of(dref))
    assert len(got) == 1 and got[0]["stored"], got


def job_workers(state_dir, app_config):
    master = master_pid(state_dir)
    return children(master) - http_workers(master, socket_path(app_config))


def test_job_worker_killed_mid_delivery_delivers_once(dt, sink, state_dir, app_config):
    sink.set_mode("delay:8")
    try:
        r = send(dt.operator, dt, [f"crash-{rand(6)}@{dt.domain}"])
        dref = r.json()["deliveries"][0]["delivery_ref"]
        mid = message_id_of(dref)
        # the receiver has the message; the worker waits for the answer
        wait_for(lambda: sink.for_message(mid), 15, "the message to reach the sink")
        victims = job_workers(state_dir, app_config)
        assert victims, "no job worker found"
        sink.set_mode("accept")
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
    finally:
        sink.set_mode("accept")
    d = wait_status(dt, dref, ("delivered", "dead", "failed"), 40)
    assert d["status"] == "delivered" and d["attempts"] == 2, d
    got = sink.for_message(mid)
    assert len(got) == 2, got  # sent again after the crash ...
    assert [g["stored"] for g in got] == [True, False], got  # ... and kept once by the deduplicating receiver
    assert sink.stored(mid)["Message-ID"] == mid


class Receiver(BaseHTTPRequestHandler):
    plan = []
    seen = []
    secret = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ts = self.headers["X-AISPM-Timestamp"]
        want = "sha256=" + hmac.new(Receiver.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-AISPM-Signature", ""))
        status = Receiver.plan.pop(0) if Receiver.plan else 200
        Receiver.seen.append({"id": self.headers["X-AISPM-Delivery-Id"], "verified": ok, "status": status,
                              "body": json.loads(body)})
        self.send_response(status if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhook_500_then_200_delivered_once_signed(dt):
    port = free_port()
    srv = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Receiver.plan, Receiver.seen, Receiver.secret = [500], [], dt.secret
    try:
        r = dt.admin.put(ENDPOINTS, json_body={"webhook_url": f"http://127.0.0.1:{port}/hook"})
        assert r.status == 200 and r.json()["webhook_url"].endswith("/hook"), r.describe()
        r = send(dt.operator, dt, [], channels=["webhook"])
        assert r.status == 202 and r.json()["result"] == "queued", r.describe()
        dref = r.json()["deliveries"][0]["delivery_ref"]
        d = wait_status(dt, dref, ("delivered", "dead", "failed"))
        assert d["status"] == "delivered" and d["attempts"] == 2, d
        assert check_audit(d) == ["accepted", "retry_scheduled", "sent"]
        assert [s["status"] for s in Receiver.seen] == [500, 200]
        assert all(s["verified"] and s["id"] == dref for s in Receiver.seen), Receiver.seen
        assert Receiver.seen[1]["body"]["artifact_sha256"] == dt.artifact_digest
        accepted = {s["id"] for s in Receiver.seen if s["status"] == 200}
        assert accepted == {dref}
    finally:
        srv.shutdown()


def test_starttls_is_required_and_certificates_verified(dt, tmp_path, sink):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(cert, 0o644)
    tls_sink = SmtpSink(tls=(str(cert), str(key)))
    try:
        r = dt.admin.put("/enterprise/aispm/reports/setup/steps/delivery_provider", json_body={"settings": {
            "CAVRA_REPORT_DELIVERY_MODE": "smtp", "CAVRA_REPORT_SMTP_HOST": "127.0.0.1",
            "CAVRA_REPORT_SMTP_PORT": str(tls_sink.port)}})
        assert r.status == 200, r.describe()
        assert dt.admin.put(ENDPOINTS, json_body={"smtp_tls": "starttls"}).status == 200
        r = send(dt.operator, dt, [f"tls-{rand(6)}@{dt.domain}"])
        dref = r.json()["deliveries"][0]["delivery_ref"]
        d = wait_for(lambda: (lambda x: x if x["attempts"] >= 1 and x["status"] != "sending" else None)(
            delivery(dt, dref)), 20, "the first attempt")
        # the self-signed certificate is not trusted: TLS fails, nothing is sent in clear
        assert d["last_error"] == "tls_failed", d
        assert not tls_sink.for_message(message_id_of(dref))
        # the tenant trusts the relay's certificate: the retry goes through STARTTLS
        dt.admin.put(ENDPOINTS, json_body={"smtp_ca_ref": "relative/path"}).problem(422, "validation_failed")
        r = dt.admin.put(ENDPOINTS, json_body={"smtp_ca_ref": f"file:{cert}"})
        assert r.status == 200 and r.json()["smtp_ca_ref"] == f"file:{cert}", r.describe()
        d = wait_status(dt, dref, ("delivered", "dead", "failed"), 30)
        assert d["status"] == "delivered", d
        got = tls_sink.for_message(message_id_of(dref))
        assert len(got) == 1 and got[0]["stored"], got
    finally:
        tls_sink.stop()
        dt.admin.put(ENDPOINTS, json_body={"smtp_tls": "none", "smtp_ca_ref": None})
        dt.admin.put("/enterprise/aispm/reports/setup/steps/delivery_provider", json_body={"settings": {
            "CAVRA_REPORT_DELIVERY_MODE": "smtp", "CAVRA_REPORT_SMTP_HOST": "127.0.0.1",
            "CAVRA_REPORT_SMTP_PORT": str(sink.port)}})


def test_idempotent_send(dt, sink):
    # (the SMTP settings may point at the TLS sink of the previous test: restore them)
    r = dt.admin.put("/enterprise/aispm/reports/setup/steps/delivery_provider", json_body={"settings": {
        "CAVRA_REPORT_DELIVERY_MODE": "smtp", "CAVRA_REPORT_SMTP_HOST": "127.0.0.1",
        "CAVRA_REPORT_SMTP_PORT": str(sink.port)}})
    assert r.status == 200
    key = "idem-" + rand(10)
    addr = f"idem-{rand(6)}@{dt.domain}"
    r1 = send(dt.operator, dt, [addr], key=key)
    r2 = send(dt.operator, dt, [addr], key=key)
    assert r1.status == 202 and r2.status == 200, (r1.describe(), r2.describe())
    assert r1.json()["send_ref"] == r2.json()["send_ref"] and r2.json()["duplicate"] is True
    send(dt.operator, dt, [f"other-{rand(6)}@{dt.domain}"], key=key).problem(409, "idempotency_key_reused")
    dref = r1.json()["deliveries"][0]["delivery_ref"]
    assert wait_status(dt, dref, ("delivered", "dead", "failed"))["status"] == "delivered"
    assert len(sink.for_message(message_id_of(dref))) == 1


def test_groups_and_encrypted_domains(dt, sink):
    grp = dt.admin.get(POLICY).json()["recipient_groups"][0]["group_ref"]
    r = send(dt.operator, dt, [], groups=[grp])
    assert r.status == 202, r.describe()
    body = r.json()
    assert len(body["recipients"]) == 2 and all(x["group_ref"] == grp for x in body["recipients"])
    dref = body["deliveries"][0]["delivery_ref"]
    assert wait_status(dt, dref, ("delivered", "dead", "failed"))["status"] == "delivered"
    got = sink.for_message(message_id_of(dref))
    assert got[0]["rcpt_count"] == 2
    # an unknown group blocks
    send(dt.operator, dt, [], groups=["group:01ARZ3NDEKTSV4RRFFQ69G5FAV"]).problem(403, "send_blocked")
    # an encryption-required domain gets a portal link, not the attachment
    r = send(dt.operator, dt, [f"enc-{rand(6)}@vault.example"])
    held = r.json()
    assert dt.approver.post(f"{APPROVALS}/{held['approval_ref']}/decision",
                            json_body={"decision": "approve", "reason": "ok"}).status == 200
    dref = held["deliveries"][0]["delivery_ref"]
    d = wait_status(dt, dref, ("delivered", "dead", "failed"))
    assert d["status"] == "delivered" and d["portal_link_instead_of_attachment"] is True
    msg = sink.stored(message_id_of(dref))
    assert not list(msg.iter_attachments())
    assert f"/enterprise/aispm/reports/artifacts/{dt.artifact_ref}/content" in msg.get_body().get_content()


def test_policy_changes_are_approval_gated(dt):
    # turn the gate on (not gated yet: applies at once) ...
    r = dt.admin.put(POLICY, json_body=policy_doc(dt, group_change_approval=True))
    assert r.status == 200, r.describe()
    # ... now a change waits for another user's approval
    doc = policy_doc(dt, group_change_approval=True)
    doc["domain_rules"].append({"domain": "newpartner.example", "classification": "external_partner",
                                "allowed": True, "approval_required": True, "encryption_required": False})
    r = dt.admin.put(POLICY, json_body=doc)
    assert r.status == 202 and r.json()["status"] == "pending_approval", r.describe()
    aref = r.json()["approval_ref"]
    assert "newpartner.example" not in dt.admin.get(POLICY).text
    dt.admin.post(f"{APPROVALS}/{aref}/decision", json_body={"decision": "approve"}).problem(
        403, "self_approval_forbidden")
    r = dt.approver.post(f"{APPROVALS}/{aref}/decision", json_body={"decision": "approve", "reason": "ok"})
    assert r.status == 200, r.describe()
    validate("aispm-report-approval-decision.schema.json", r.json()["projection"])
    assert r.json()["projection"]["approval_request"]["request_type"] == "recipient_group_change"
    p = dt.admin.get(POLICY).json()
    validate("aispm-report-recipient-policy.schema.json", p)
    assert "newpartner.example" in {x["domain"] for x in p["domain_rules"]}


def test_setup_wizard_test_delivery(dt, sink):
    r = dt.admin.post("/enterprise/aispm/reports/setup/test-delivery",
                      json_body={"recipients": [f"setup-{rand(6)}@{dt.domain}"]})
    assert r.status == 202, r.describe()
    dref = r.json()["deliveries"][0]["delivery_ref"]
    d = wait_status(dt, dref, ("delivered", "dead", "failed"))
    assert d["status"] == "delivered" and d["origin"] == "test"
    statuses = check_audit(d)
    assert statuses == ["accepted", "test_passed"]
    assert {e["audit_event"]["action"] for e in d["audit_events"]} == {"test_delivery"}
    msg = sink.stored(message_id_of(dref))
    assert "test delivery" in msg["Subject"]


def test_disabled_mode_refuses(tenant_b):
    c = Client(os.environ["AISPM_TEST_BASE_URL"], token=tenant_b.token_admin)
    r = c.post("/enterprise/aispm/reports/setup/test-delivery", json_body={"recipients": ["x@example.com"]})
    p = r.problem(409, "delivery_disabled")
    assert "disabled" in p["detail"]


def test_list_filters_pagination_and_isolation(dt, tenant_b):
    page1 = dt.admin.get(f"{DELIVERIES}?limit=2")
    assert page1.status == 200
    b = page1.json()
    assert len(b["deliveries"]) == 2 and b["next_cursor"]
    page2 = dt.admin.get(f"{DELIVERIES}?limit=2&cursor={b['next_cursor']}").json()
    assert not {x["delivery_ref"] for x in b["deliveries"]} & {x["delivery_ref"] for x in page2["deliveries"]}
    wh = dt.admin.get(f"{DELIVERIES}?channel=webhook").json()["deliveries"]
    assert wh and all(x["channel"] == "webhook" for x in wh)
    since = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert dt.admin.get(f"{DELIVERIES}?since={since}").json()["deliveries"] == []
    assert dt.admin.get(f"{DELIVERIES}?report_id=board_kpi_pack").json()["deliveries"]
    dt.admin.get(f"{DELIVERIES}?status=bogus").problem(422, "validation_failed")
    # another tenant sees none of it
    other = Client(os.environ["AISPM_TEST_BASE_URL"], token=tenant_b.token_admin)
    ref = b["deliveries"][0]["delivery_ref"]
    other.get(f"{DELIVERIES}/{ref}").problem(404)
    assert ref not in other.get(DELIVERIES).text
    other.post(f"{DELIVERIES}/{ref}/retry").problem(404)
    # a role without reports.send cannot send
    approver_send = send(dt.approver, dt, [f"z@{dt.domain}"])
    assert approver_send.status == 403 and approver_send.json()["code"] == "forbidden"


def test_canary_address_never_leaks(dt, sink, sql, state_dir):
    canary_local = "canary-" + rand(12)
    canary = f"{canary_local}@{dt.domain}"
    blocked_canary = f"{canary_local}-b@blocked.example"
    r = send(dt.operator, dt, [canary])
    assert r.status == 202, r.describe()
    dref = r.json()["deliveries"][0]["delivery_ref"]
    assert wait_status(dt, dref, ("delivered", "dead", "failed"))["status"] == "delivered"
    rb = send(dt.operator, dt, [blocked_canary])
    rb.problem(403, "send_blocked")
    texts = [r.text, rb.text, dt.admin.get(f"{DELIVERIES}/{dref}").text, dt.admin.get(DELIVERIES).text,
             dt.admin.get(APPROVALS).text, dt.admin.get(POLICY).text]
    for t in texts:
        assert canary_local not in t
    # evidence bodies (all of them, straight from the database)
    assert sql(f"SELECT COUNT(*) FROM aispm.evidence_events WHERE body LIKE {sql_str('%' + canary_local + '%')}"
               ).strip() == "0"
    assert sql(f"SELECT COUNT(*) FROM aispm.delivery_audit WHERE CONCAT_WS(' ', object_ref, actor_ref, status) LIKE "
               f"{sql_str('%' + canary_local + '%')}").strip() == "0"
    # ... but the address is stored privately, so the test is not vacuous
    assert sql(f"SELECT COUNT(*) FROM aispm.delivery_recipients WHERE address = {sql_str(canary)}").strip() == "1"
    assert sink.stored(message_id_of(dref)) is not None
    # logs and every other file under the state dir except the database files
    hits = files_containing(state_dir, canary_local)
    assert not hits, f"the canary address appears in {hits}"
