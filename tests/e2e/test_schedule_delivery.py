"""Scheduled runs through the governed send path (delivery_submit), against
the real SMTP sink of the delivery suite (python3-aiosmtpd) and its tenant
with a recipient policy.

Covers: an occurrence ticked with `scheduler-tick --now` renders and its
artifact reaches the SMTP server exactly once (a second tick and the job
workers' own passes add nothing), the attachment hashing to the artifact's
digest; a recipient the policy blocks fails the run (failure class
recipient_policy on the operations dashboard) and nothing reaches the
server; a recipient that needs an approval holds the run until another user
approves, then the message arrives and the run is delivered; a rejected or
expired held send skips the run (approval_rejected / approval_expired, with
run evidence). Recipient addresses appear in no run evidence or projection.
"""

import hashlib
import json
import time
from datetime import timedelta

from .conftest import audit_events, rand, sql_str
from .test_delivery import APPROVALS, dt, message_id_of, sink, wait_for  # noqa: F401  (fixtures)
from .test_schedules import API, DASHBOARD, assert_valid, base_day, body, rfc, runs, tick


def make(t, recipients, offset):
    day = base_day(offset)
    b = body(delivery_mode="smtp", channels=["email"], recipients=recipients, starts_at=day.strftime("%Y-%m-%dT00:00"))
    r = t.admin.post(API, json_body=b)
    assert r.status == 201, r.describe()
    return r.json()["schedule_ref"], day + timedelta(hours=9)


def settle(t, ref, states, timeout=60):
    return wait_for(lambda: (lambda rs: rs if rs and rs[0]["state"] in states else None)(runs(t.admin, ref)),
                    timeout, f"the run of {ref} to reach {states}")


def run_event(t, run_ref, action):
    evs = [e["event"] for e in audit_events(t.admin) if e["event"].get("object_ref") == run_ref
           and e["event"]["action"] == action]
    assert len(evs) == 1, [e["event"]["action"] for e in audit_events(t.admin)
                           if e["event"].get("object_ref") == run_ref]
    return evs[0]


def test_scheduled_run_is_delivered_once_by_smtp(dt, sink, env):
    rcpt = f"lead-{rand(6)}@{dt.domain}"
    ref, at = make(dt, [rcpt], 181)
    tick(env, at + timedelta(seconds=5))
    rs = settle(dt, ref, ("delivered", "failed", "pending_approval"))
    assert rs[0]["state"] == "delivered", rs[0]
    ev = run_event(dt, rs[0]["run_ref"], "schedule.run_delivered")
    sends = ev["details"]["sends"]
    assert len(sends) == 1 and sends[0]["result"] == "queued" and sends[0]["send_ref"].startswith("send:")
    dref = sends[0]["delivery_refs"][0]
    wait_for(lambda: sink.for_message(message_id_of(dref)), 30, "the scheduled message")
    msg = sink.stored(message_id_of(dref))
    att = list(msg.iter_attachments())
    data = att[0].get_content()
    data = data if isinstance(data, bytes) else data.encode()
    assert hashlib.sha256(data).hexdigest() == ev["details"]["artifacts"][0]["digest"]
    # exactly once: the same occurrence ticked again, and a while for the job workers
    tick(env, at + timedelta(seconds=30))
    time.sleep(2)
    assert len(runs(dt.admin, ref)) == 1
    assert len(sink.for_message(message_id_of(dref))) == 1
    assert sum(1 for e in sink.received() if rcpt in json.dumps(e)) == 1
    assert rcpt not in json.dumps(ev) and rcpt not in dt.admin.get(f"{API}/{ref}/policy").text
    dt.admin.delete(f"{API}/{ref}")


def test_blocked_recipient_fails_the_run(dt, sink, env):
    before = len(sink.received())
    ref, at = make(dt, [f"x-{rand(6)}@blocked.example"], 182)
    tick(env, at + timedelta(seconds=5))
    rs = settle(dt, ref, ("delivered", "failed", "pending_approval"))
    assert rs[0]["state"] == "failed" and rs[0]["reason"] == "recipient_policy_blocked", rs[0]
    ev = run_event(dt, rs[0]["run_ref"], "schedule.run_failed")
    assert ev["details"]["failure_class"] == "recipient_policy"
    time.sleep(1)
    assert len(sink.received()) == before, "a blocked scheduled send reached the SMTP server"
    dash = dt.admin.get(DASHBOARD).json()
    assert_valid(env, "aispm-report-operations-dashboard.schema.json", dash)
    mine = [f for f in dash["failed_deliveries"] if f["delivery_ref"] == rs[0]["run_ref"]]
    assert mine and mine[0]["failure_class"] == "recipient_policy" and mine[0]["delivery_mode"] == "smtp"
    dt.admin.delete(f"{API}/{ref}")


def test_held_recipient_waits_for_another_users_approval(dt, sink, env):
    rcpt = f"auditor-{rand(6)}@partner.example"
    ref, at = make(dt, [rcpt], 183)
    tick(env, at + timedelta(seconds=5))
    rs = settle(dt, ref, ("delivered", "failed", "pending_approval"))
    assert rs[0]["state"] == "pending_approval" and rs[0]["reason"] == "send_held_for_approval", rs[0]
    ev = run_event(dt, rs[0]["run_ref"], "schedule.run_blocked")
    s = ev["details"]["sends"][0]
    assert s["result"] == "held" and s["approval_ref"].startswith("approval:")
    dref = s["delivery_refs"][0]
    time.sleep(1)
    assert not sink.for_message(message_id_of(dref)), "a held scheduled send was sent"
    r = dt.approver.post(f"{APPROVALS}/{s['approval_ref']}/decision",
                         json_body={"decision": "approve", "reason": "quarterly auditor pack"})
    assert r.status == 200, r.describe()
    wait_for(lambda: sink.for_message(message_id_of(dref)), 30, "the approved scheduled message")
    assert len(sink.for_message(message_id_of(dref))) == 1
    assert rcpt not in json.dumps(ev)
    # the run follows its send: delivered once the approval released it
    rs = runs(dt.admin, ref)
    assert rs[0]["state"] == "delivered" and not rs[0].get("reason"), rs[0]
    done = run_event(dt, rs[0]["run_ref"], "schedule.run_delivered")
    assert done["details"]["resumed_from"] == "send_approval" and done["details"]["sends_released"] == 1
    assert rcpt not in json.dumps(done)
    dt.admin.delete(f"{API}/{ref}")


def test_rejected_held_send_skips_the_run(dt, sink, env):
    rcpt = f"auditor-{rand(6)}@partner.example"
    ref, at = make(dt, [rcpt], 184)
    tick(env, at + timedelta(seconds=5))
    rs = settle(dt, ref, ("delivered", "failed", "pending_approval"))
    assert rs[0]["state"] == "pending_approval", rs[0]
    s = run_event(dt, rs[0]["run_ref"], "schedule.run_blocked")["details"]["sends"][0]
    r = dt.approver.post(f"{APPROVALS}/{s['approval_ref']}/decision",
                         json_body={"decision": "reject", "reason": "not for this partner"})
    assert r.status == 200, r.describe()
    rs = runs(dt.admin, ref)
    assert rs[0]["state"] == "skipped" and rs[0]["reason"] == "approval_rejected", rs[0]
    ev = run_event(dt, rs[0]["run_ref"], "schedule.run_skipped")
    assert ev["details"]["sends_dropped"] == 1 and ev["details"]["reason"] == "approval_rejected"
    time.sleep(1)
    assert not sink.for_message(message_id_of(s["delivery_refs"][0])), "a rejected scheduled send was sent"
    dt.admin.delete(f"{API}/{ref}")


def test_expired_held_send_skips_the_run(dt, sink, env, sql):
    ref, at = make(dt, [f"auditor-{rand(6)}@partner.example"], 185)
    tick(env, at + timedelta(seconds=5))
    rs = settle(dt, ref, ("delivered", "failed", "pending_approval"))
    assert rs[0]["state"] == "pending_approval", rs[0]
    s = run_event(dt, rs[0]["run_ref"], "schedule.run_blocked")["details"]["sends"][0]
    # the approval request past its due time: the job worker expires it
    sql(f"UPDATE aispm.approval_requests SET due_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
        f"WHERE ref = {sql_str(s['approval_ref'])}")
    rs = settle(dt, ref, ("skipped", "delivered", "failed"), timeout=20)
    assert rs[0]["state"] == "skipped" and rs[0]["reason"] == "approval_expired", rs[0]
    ev = run_event(dt, rs[0]["run_ref"], "schedule.run_skipped")
    assert ev["details"]["reason"] == "approval_expired" and ev["details"]["resumed_from"] == "send_approval"
    dt.admin.delete(f"{API}/{ref}")
