"""Report schedules and the operations dashboard, through nginx, with the
scheduler driven by `aispm admin scheduler-tick --config F --now T`.

Covers: CRUD (create 201 + Location, get, list, full update with version,
pause/resume, delete 204 then 404), validation (bad RRULE, unknown zone,
unknown report, bad blackout behaviour, bad recipient address -> 422 with the
field named), roles and tenants (an approver may not create, another tenant
gets 404); blackout windows: an occurrence in a skip window is skipped, one in
a defer window waits until the window ends and then renders, one in a
require_manual_approval window is blocked — in the preview API and in real
runs, each with its run evidence; several scheduler-tick processes started
together on the same due occurrence produce one run row, one render, one
artifact and one evidence set; the DST weeks of America/New_York and
Europe/Berlin give 09:00 local (and 02:30 in the gap becomes 03:30) in the
preview and in real runs, checked against Python's zoneinfo; the schedule
policy and operations dashboard projections validate against the public
schemas (python3-jsonschema Draft202012Validator); a canary recipient
address appears in no projection, evidence body or log line; the portal
creates, previews and pauses a schedule and shows the dashboard with its SVG
charts.

Dates are chosen after the real clock, so the job workers' own scheduler
passes (real time) never reach the occurrences the tests tick through.
"""

import glob
import json
import os
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from .conftest import Client, audit_events, hidden_inputs, rand, scrape_csrf

API = "/enterprise/aispm/reports/schedules"
DASHBOARD = "/enterprise/aispm/reports/operations/dashboard"
UTC = timezone.utc


def schema(env, name):
    base = env.get("AISPM_CONTRACTS") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared",
                                                      "contracts")
    with open(os.path.join(base, "cavra", "schemas", name)) as f:
        return json.load(f)


def assert_valid(env, name, doc):
    v = Draft202012Validator(schema(env, name), format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{e.json_path}: {e.message}" for e in v.iter_errors(doc)]
    assert not errors, errors


def rfc(dt):
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tick(env, now, check=True):
    p = subprocess.run([env["AISPM_BIN"], "admin", "scheduler-tick", "--config", env["AISPM_TEST_CONFIG"], "--now",
                        now if isinstance(now, str) else rfc(now)], capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def base_day(offset_days):
    """a UTC midnight offset_days after today (after the real clock)"""
    d = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return d + timedelta(days=offset_days)


def body(**kw):
    b = {"name": f"e2e schedule {rand(6)}", "report_ids": ["board_kpi_pack"], "formats": ["json"],
         "cadence": "daily", "time_of_day": "09:00", "timezone": "UTC"}
    b.update(kw)
    return b


CREATED = []


@pytest.fixture(scope="module")
def admin(acme, base_url):
    c = Client(base_url, token=acme.token_admin)
    yield c
    for ref in CREATED:  # a failed test must not leave a schedule behind
        c.delete(f"{API}/{ref}")


def create(admin, **kw):
    b = body(**kw)
    for k in [k for k, v in kw.items() if v is None]:
        b.pop(k)
    r = admin.post(API, json_body=b)
    assert r.status == 201, r.describe()
    s = r.json()
    CREATED.append(s["schedule_ref"])
    assert r.header("Location") == f"{API}/{s['schedule_ref']}"
    return s


def runs(admin, ref):
    r = admin.get(f"{API}/{ref}/runs")
    assert r.status == 200, r.describe()
    return r.json()["runs"]


def wait_runs(admin, ref, pred, timeout=60):
    deadline = time.time() + timeout
    while True:
        rs = runs(admin, ref)
        if pred(rs):
            return rs
        assert time.time() < deadline, f"runs did not settle: {rs}"
        time.sleep(0.3)


def tick_runs(admin, env, ref, at):
    """one scheduler pass at `at`; this schedule's runs by occurrence time"""
    assert tick(env, at)["ok"]
    return {r["occurrence_at"]: r for r in runs(admin, ref)}


def events_of(admin, object_ref):
    return [e["event"] for e in audit_events(admin) if e["event"].get("object_ref") == object_ref]


# --------------------------------------------------------------------------


def test_crud_roles_and_tenants(admin, acme, tenant_b, base_url, login_as, demo_logins):
    s = create(admin, recipients=["board@acme.example"], groups=["grp:leadership"])
    ref = s["schedule_ref"]
    assert re.fullmatch(r"schedule:[0-9A-HJKMNP-TV-Z]{26}", ref)
    assert s["status"] == "active" and s["cadence"] == "daily"
    assert s["rrule"] == "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"
    assert s["recipient_count"] == 1 and s["group_count"] == 1
    assert s["next_run_at"].endswith("T09:00:00Z")
    got = admin.get(f"{API}/{ref}")
    assert got.status == 200 and got.json()["name"] == s["name"]
    assert ref in [x["schedule_ref"] for x in admin.get(API).json()["schedules"]]

    upd = admin.put(f"{API}/{ref}", json_body=body(name="renamed", cadence="weekly", time_of_day="07:30",
                                                   timezone="Europe/Berlin"))
    assert upd.status == 200, upd.describe()
    u = upd.json()
    assert u["name"] == "renamed" and u["version"] == 2 and u["timezone"] == "Europe/Berlin"
    assert u["rrule"] == "FREQ=WEEKLY;BYDAY=MO;BYHOUR=7;BYMINUTE=30"
    assert u["recipient_count"] == 1, "recipients omitted from an update are kept"
    assert u["next_run_local"].endswith(("07:30:00+01:00", "07:30:00+02:00"))
    assert datetime.fromisoformat(u["next_run_local"]).weekday() == 0

    p = admin.post(f"{API}/{ref}/pause")
    assert p.status == 200 and p.json()["status"] == "paused"
    assert admin.post(f"{API}/{ref}/pause").json()["status"] == "paused"  # idempotent
    r = admin.post(f"{API}/{ref}/resume")
    assert r.status == 200 and r.json()["status"] == "active"

    # roles: an approver may read but not create; tenant B sees nothing
    approver = login_as(*demo_logins["approver"])
    assert approver.get(API).status == 200
    denied = approver.post(API, json_body=body(), headers={"X-CSRF-Token": approver.csrf})
    denied.problem(403, "forbidden")
    other = Client(base_url, token=tenant_b.token_admin)
    other.get(f"{API}/{ref}").problem(404)
    other.put(f"{API}/{ref}", json_body=body()).problem(404)
    assert ref not in [x["schedule_ref"] for x in other.get(API).json()["schedules"]]

    d = admin.delete(f"{API}/{ref}")
    assert d.status == 204, d.describe()
    admin.get(f"{API}/{ref}").problem(404)
    admin.delete(f"{API}/{ref}").problem(404)
    actions = [e["action"] for e in events_of(admin, ref)]
    for a in ("schedule.created", "schedule.updated", "schedule.paused", "schedule.resumed", "schedule.deleted"):
        assert a in actions, actions


@pytest.mark.parametrize("patch,field", [
    ({"rrule": "FREQ=HOURLY;BYMINUTE=5", "cadence": None, "time_of_day": None}, "rrule"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=3", "cadence": None, "time_of_day": None}, "rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=2;UNTIL=20300101", "cadence": None, "time_of_day": None}, "rrule"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"cadence": "hourly"}, "cadence"),
    ({"time_of_day": "25:00"}, "time_of_day"),
    ({"report_ids": ["no_such_report"]}, "report_ids"),
    ({"formats": ["pdf"]}, "formats"),
    ({"blackout_windows": [{"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-02T00:00:00Z",
                            "behavior": "postpone"}]}, "blackout_windows[0].behavior"),
    ({"blackout_windows": [{"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z",
                            "behavior": "skip"}]}, "blackout_windows[0].ends_at"),
    ({"blackout_windows": [{"rrule": "FREQ=WEEKLY;BYDAY=SA", "behavior": "skip"}]},
     "blackout_windows[0].duration_minutes"),
    ({"recipients": ["not-an-address"]}, "recipients[0]"),
    ({"retry_policy": {"max_attempts": 99}}, "retry_policy.max_attempts"),
    ({"missed_policy": "sometimes"}, "missed_policy"),
    ({"surprise": 1}, "surprise"),
])
def test_validation_names_the_field(admin, patch, field):
    b = body(**patch)
    for k in [k for k, v in patch.items() if v is None]:
        b.pop(k)
    assert all(v is not None for v in b.values())
    r = admin.post(API, json_body=b)
    p = r.problem(422, "validation_failed")
    assert field in p["errors"], p
    if "recipients" in b:
        assert "not-an-address" not in r.text, "a refused value is never echoed"


def test_blackout_skip_defer_manual_approval(admin, env, login_as, demo_logins):
    approver = login_as(*demo_logins["approver"])
    d0 = base_day(61)
    d = [d0 + timedelta(days=i) for i in range(5)]
    windows = [
        {"starts_at": rfc(d[1]), "ends_at": rfc(d[2]), "behavior": "skip"},
        {"starts_at": rfc(d[2] + timedelta(hours=8)), "ends_at": rfc(d[2] + timedelta(hours=12)), "behavior": "defer"},
        {"rrule": f"FREQ=DAILY;BYMONTHDAY={d[3].day};BYHOUR=8;BYMINUTE=0", "duration_minutes": 120,
         "behavior": "require_manual_approval"},
    ]
    s = create(admin, starts_at=d0.strftime("%Y-%m-%dT00:00"), blackout_windows=windows)
    ref = s["schedule_ref"]
    assert s["next_run_at"] == rfc(d[0] + timedelta(hours=9))
    w = s["blackout_windows"]
    assert [x["behavior"] for x in w] == ["skip", "defer", "require_manual_approval"]

    pv = admin.get(f"{API}/{ref}/preview?count=5&from={rfc(d0)}")
    assert pv.status == 200, pv.describe()
    occ = pv.json()["occurrences"]
    assert [o["occurrence_at"] for o in occ] == [rfc(x + timedelta(hours=9)) for x in d]
    assert [o["effect"] for o in occ] == ["runs", "skipped", "deferred", "requires_manual_approval", "runs"]
    assert occ[2]["runs_at"] == rfc(d[2] + timedelta(hours=12))
    assert occ[1]["blackout"]["window_ref"] == w[0]["window_ref"]
    assert occ[1]["runs_at"] is None

    occ_at = [rfc(x + timedelta(hours=9)) for x in d]
    rs = tick_runs(admin, env, ref, d[0] + timedelta(hours=9, seconds=30))
    assert list(rs) == [occ_at[0]] and rs[occ_at[0]]["state"] in ("rendering", "delivering", "delivered")
    rs = tick_runs(admin, env, ref, d[1] + timedelta(hours=9, seconds=30))
    assert rs[occ_at[1]]["state"] == "skipped"
    rs = tick_runs(admin, env, ref, d[2] + timedelta(hours=9, seconds=30))
    assert rs[occ_at[2]]["state"] == "deferred" and rs[occ_at[2]]["due_at"] == rfc(d[2] + timedelta(hours=12))
    rs = tick_runs(admin, env, ref, d[2] + timedelta(hours=11))  # window still on
    assert rs[occ_at[2]]["state"] == "deferred" and len(rs) == 3
    rs = tick_runs(admin, env, ref, d[2] + timedelta(hours=12, seconds=5))
    assert rs[occ_at[2]]["state"] != "deferred" and len(rs[occ_at[2]]["render_refs"]) == 1
    rs = tick_runs(admin, env, ref, d[3] + timedelta(hours=9, seconds=30))
    assert rs[occ_at[3]]["state"] == "pending_approval"
    rs = tick_runs(admin, env, ref, d[4] + timedelta(hours=8))  # d[4] is not due yet
    assert len(rs) == 4

    rs = wait_runs(admin, ref, lambda rs: sum(r["state"] == "delivered" for r in rs) == 2)
    by = {r["occurrence_at"]: r for r in rs}
    assert len(rs) == 4
    r0, r1, r2, r3 = (by[rfc(x + timedelta(hours=9))] for x in d[:4])
    assert r0["state"] == "delivered" and len(r0["render_refs"]) == 1
    assert r1["state"] == "skipped" and r1["reason"] == "blackout" and r1["window_ref"] == w[0]["window_ref"]
    assert r1["render_refs"] == []
    assert r2["state"] == "delivered" and r2["window_ref"] == w[1]["window_ref"] and len(r2["render_refs"]) == 1
    assert r3["state"] == "pending_approval" and r3["window_ref"] == w[2]["window_ref"]

    ev = {r["run_ref"]: [e["action"] for e in events_of(admin, r["run_ref"])] for r in (r0, r1, r2, r3)}
    assert sorted(ev[r0["run_ref"]]) == ["schedule.run_delivered", "schedule.run_scheduled"]
    assert ev[r1["run_ref"]] == ["schedule.run_skipped"]
    assert sorted(ev[r2["run_ref"]]) == ["schedule.run_deferred", "schedule.run_delivered", "schedule.run_scheduled"]
    assert ev[r3["run_ref"]] == ["schedule.run_blocked"]
    deferred = [e for e in events_of(admin, r2["run_ref"]) if e["action"] == "schedule.run_deferred"][0]
    assert deferred["outcome"] == "deferred"
    assert deferred["details"]["deferred_until"] == rfc(d[2] + timedelta(hours=12))
    delivered = [e for e in events_of(admin, r2["run_ref"]) if e["action"] == "schedule.run_delivered"][0]
    art = delivered["details"]["artifacts"][0]
    meta = admin.get(f"/enterprise/aispm/reports/artifacts/{art['artifact_ref']}")
    assert meta.status == 200 and meta.json()["digest"] == art["digest"]
    render = admin.get(f"/enterprise/aispm/reports/renders/{r2['render_refs'][0]}").json()
    # the deferred run reports on the period up to its occurrence, not its late start
    assert render["period"]["end"] == rfc(d[2] + timedelta(hours=9))

    pol = admin.get(f"{API}/{ref}/policy")
    assert pol.status == 200
    assert_valid(env, "aispm-report-schedule-policy.schema.json", pol.json())
    assert pol.json()["run_evidence"]["last_run_status"] == "pending_approval"
    assert pol.json()["run_evidence"]["last_run_ref"] == r3["run_ref"]

    blocked = [e for e in events_of(admin, r3["run_ref"]) if e["action"] == "schedule.run_blocked"][0]
    approval_ref = blocked["details"]["approval_ref"]
    dash = admin.get(DASHBOARD).json()
    assert_valid(env, "aispm-report-operations-dashboard.schema.json", dash)
    assert approval_ref in [b["approval_ref"] for b in dash["approval_bottlenecks"]]
    assert any(x["schedule_id"] == ref for x in dash["scheduled_reports"])
    # the manual approval releases the held run: it renders and is delivered
    r = decide(approver, approval_ref, "approve")
    assert r.status == 200, r.describe()
    rs = wait_runs(admin, ref, lambda rs: {r["run_ref"]: r for r in rs}[r3["run_ref"]]["state"] == "delivered")
    acts = sorted(e["action"] for e in events_of(admin, r3["run_ref"]))
    assert acts == ["schedule.run_blocked", "schedule.run_delivered", "schedule.run_scheduled"], acts
    admin.delete(f"{API}/{ref}")


def test_racing_ticks_run_an_occurrence_once(admin, env, sql):
    day = base_day(75)
    s = create(admin, starts_at=day.strftime("%Y-%m-%dT00:00"), time_of_day="06:15")
    ref = s["schedule_ref"]
    for i in range(3):
        at = rfc(day + timedelta(days=i, hours=6, minutes=15, seconds=1))
        cmd = [env["AISPM_BIN"], "admin", "scheduler-tick", "--config", env["AISPM_TEST_CONFIG"], "--now", at]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
        assert all(o["ok"] for o in outs), outs
        assert len(runs(admin, ref)) == i + 1
    rs = wait_runs(admin, ref, lambda rs: len(rs) == 3 and all(r["state"] == "delivered" for r in rs))
    assert sorted(r["occurrence_at"] for r in rs) == [rfc(day + timedelta(days=i, hours=6, minutes=15))
                                                      for i in range(3)]
    sid = sql(f"SELECT id FROM aispm.schedules WHERE ref = '{ref}'").strip()
    assert sql(f"SELECT COUNT(*), COUNT(DISTINCT occurrence_at) FROM aispm.schedule_runs WHERE schedule_id = {sid}"
               ).split() == ["3", "3"]
    assert sql(f"SELECT COUNT(*) FROM aispm.schedule_run_renders j JOIN aispm.schedule_runs r ON r.id = j.run_id "
               f"WHERE r.schedule_id = {sid}").strip() == "3"
    for r in rs:
        assert len(r["render_refs"]) == 1
        acts = sorted(e["action"] for e in events_of(admin, r["run_ref"]))
        assert acts == ["schedule.run_delivered", "schedule.run_scheduled"], acts
        requested = events_of(admin, r["render_refs"][0])
        assert [e["action"] for e in requested] == ["report.render_requested"]
    rendered = [e["event"] for e in audit_events(admin) if e["event"]["action"] == "report.rendered"
                and e["event"]["details"].get("render_ref") in {r["render_refs"][0] for r in rs}]
    assert len(rendered) == 3, "one render (and one artifact) per occurrence"
    # the same occurrences ticked again claim nothing
    assert len(tick_runs(admin, env, ref, day + timedelta(days=2, hours=6, minutes=16))) == 3
    admin.delete(f"{API}/{ref}")


def next_transition(tz, after):
    """the first UTC day after `after` on which tz's offset changes"""
    z = ZoneInfo(tz)
    d = after
    for _ in range(400):
        a = datetime(d.year, d.month, d.day, 0, 0, tzinfo=z).utcoffset()
        n = d + timedelta(days=1)
        b = datetime(n.year, n.month, n.day, 0, 0, tzinfo=z).utcoffset()
        if a != b:
            return d  # the local date of the transition (it happens at night)
        d = n
    raise AssertionError("no transition within 400 days")


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Berlin"])
def test_dst_week_local_times(admin, env, tz):
    z = ZoneInfo(tz)
    trans = next_transition(tz, base_day(90).date())
    start = trans - timedelta(days=3)
    s = create(admin, timezone=tz, starts_at=f"{start.isoformat()}T00:00")
    ref = s["schedule_ref"]
    want = [datetime(x.year, x.month, x.day, 9, 0, tzinfo=z) for x in (start + timedelta(days=i) for i in range(7))]
    pv = admin.get(f"{API}/{ref}/preview?count=7&from={rfc(datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1))}")
    assert pv.status == 200, pv.describe()
    occ = pv.json()["occurrences"]
    assert [o["occurrence_at"] for o in occ] == [rfc(w) for w in want]
    assert [o["local_time"] for o in occ] == [w.isoformat() for w in want]
    assert len({o["local_time"][-6:] for o in occ}) == 2, "the offset changes within the week"
    assert all(o["local_time"][11:19] == "09:00:00" for o in occ)

    # real runs across the transition
    for i, w in enumerate(want[:6]):
        assert len(tick_runs(admin, env, ref, w + timedelta(seconds=20))) == i + 1
    rs = runs(admin, ref)
    assert sorted(r["occurrence_at"] for r in rs) == [rfc(w) for w in want[:6]]
    assert all(r["state"] != "skipped" for r in rs)
    assert all(r["occurrence_local"][11:19] == "09:00:00" for r in rs)
    admin.delete(f"{API}/{ref}")

    # a wall time inside the spring-forward gap moves forward by the gap
    spring = next_transition(tz, base_day(90).date())
    while datetime(spring.year, spring.month, spring.day, 12, tzinfo=z).dst() == timedelta(0):
        spring = next_transition(tz, spring)
    gap_hour = 2
    g = create(admin, timezone=tz, rrule=f"FREQ=DAILY;BYHOUR={gap_hour};BYMINUTE=30;COUNT=3", cadence=None,
               time_of_day=None, starts_at=f"{(spring - timedelta(days=1)).isoformat()}T00:00")
    occ = admin.get(f"{API}/{g['schedule_ref']}/preview?count=3&from={rfc(datetime(spring.year, spring.month, spring.day, tzinfo=UTC) - timedelta(days=2))}").json()["occurrences"]
    # Python's zoneinfo reads a nonexistent time with the pre-gap offset (fold=0): the same rule
    exp = [datetime(x.year, x.month, x.day, gap_hour, 30, tzinfo=z).astimezone(UTC)
           for x in (spring - timedelta(days=1), spring, spring + timedelta(days=1))]
    assert [o["occurrence_at"] for o in occ] == [rfc(e) for e in exp]
    assert occ[1]["local_time"][11:16] == "03:30"
    admin.delete(f"{API}/{g['schedule_ref']}")


APPROVALS = "/enterprise/aispm/reports/approvals"


def decide(client, approval_ref, decision):
    return client.post(f"{APPROVALS}/{approval_ref}/decision",
                       json_body={"decision": decision, "reason": "e2e schedule review"},
                       headers={"X-CSRF-Token": client.csrf} if getattr(client, "csrf", None) else {})


def test_change_approval_policy_holds_the_schedule(admin, env, login_as, demo_logins):
    s = create(admin, approval_policy={"change_requires_approval": True, "approver_group": "approver"})
    ref = s["schedule_ref"]
    assert s["status"] == "requires_approval" and s["approval_ref"].startswith("approval:")
    admin.post(f"{API}/{ref}/resume").problem(409, "approval_pending")
    dash = admin.get(DASHBOARD).json()
    assert_valid(env, "aispm-report-operations-dashboard.schema.json", dash)
    mine = [b for b in dash["approval_bottlenecks"] if b["approval_ref"] == s["approval_ref"]]
    assert mine and mine[0]["status"] == "pending" and mine[0]["approver_group"] == "approver"
    assert any(x["schedule_id"] == ref and x["status"] == "requires_review" for x in dash["scheduled_reports"])
    pol = admin.get(f"{API}/{ref}/policy").json()
    assert_valid(env, "aispm-report-schedule-policy.schema.json", pol)
    assert pol["schedule"]["status"] == "requires_approval"
    assert pol["approval_policy"]["change_requires_approval"] is True
    assert pol["approval_policy"]["approval_ref"] == s["approval_ref"]
    assert pol["run_evidence"]["last_run_status"] == "never_run"
    # four eyes: the requester (tenant admin) cannot approve its own change
    assert decide(admin, s["approval_ref"], "approve").status == 403
    approver = login_as(*demo_logins["approver"])
    r = decide(approver, s["approval_ref"], "approve")
    assert r.status == 200, r.describe()
    got = admin.get(f"{API}/{ref}").json()
    assert got["status"] == "active" and got["next_run_at"]
    assert "schedule.activated" in [e["action"] for e in events_of(admin, ref)]

    # a rejected change disables the schedule; it cannot simply be resumed
    s2 = create(admin, approval_policy={"change_requires_approval": True, "approver_group": "approver"})
    r = decide(approver, s2["approval_ref"], "reject")
    assert r.status == 200, r.describe()
    assert admin.get(f"{API}/{s2['schedule_ref']}").json()["status"] == "disabled"
    admin.post(f"{API}/{s2['schedule_ref']}/resume").problem(409, "schedule_disabled")
    assert "schedule.change_rejected" in [e["action"] for e in events_of(admin, s2["schedule_ref"])]
    # an update of a gated schedule waits for a new approval
    u = admin.put(f"{API}/{ref}", json_body=body(name="changed again", approval_policy={
        "change_requires_approval": True, "approver_group": "approver"}))
    assert u.status == 200 and u.json()["status"] == "requires_approval"
    assert u.json()["approval_ref"] not in (None, s["approval_ref"])
    admin.delete(f"{API}/{ref}")
    admin.delete(f"{API}/{s2['schedule_ref']}")


def test_recipients_never_appear(admin, env, state_dir):
    canary = f"canary-{rand(12)}@acme.example"
    group = f"grp-canary-{rand(8)}"
    day = base_day(120)
    s = create(admin, recipients=[canary], groups=[group], starts_at=day.strftime("%Y-%m-%dT00:00"),
               delivery_mode="download")
    ref = s["schedule_ref"]
    tick(env, day + timedelta(hours=9, seconds=10))
    wait_runs(admin, ref, lambda rs: rs and rs[0]["state"] == "delivered")
    upd = body(name="canary renamed", recipients=[canary, "second@acme.example"], starts_at=day.strftime("%Y-%m-%dT00:00"))
    assert admin.put(f"{API}/{ref}", json_body=upd).status == 200
    texts = [admin.get(p).text for p in (API, f"{API}/{ref}", f"{API}/{ref}/policy", f"{API}/{ref}/preview",
                                         f"{API}/{ref}/runs", DASHBOARD)]
    texts.append(json.dumps(audit_events(admin)))
    for t in texts:
        assert canary not in t and group not in t
    assert admin.get(f"{API}/{ref}").json()["recipient_count"] == 2
    pol = admin.get(f"{API}/{ref}/policy").json()
    assert_valid(env, "aispm-report-schedule-policy.schema.json", pol)
    assert pol["recipient_governance"]["recipient_addresses_redacted"] is True
    assert pol["redaction"]["recipient_addresses_included"] is False
    for path in glob.glob(os.path.join(state_dir, "logs", "*")):
        with open(path, "rb") as f:
            data = f.read()
        assert canary.encode() not in data and group.encode() not in data, path
    admin.delete(f"{API}/{ref}")


def test_portal_schedule_pages(base_url, login_as, demo_logins, env):
    c = login_as(*demo_logins["tenant_admin"])
    page = c.get("/portal/schedules/new", headers={"Accept": "text/html"})
    assert page.status == 200, page.describe()
    csrf = scrape_csrf(page)
    day = base_day(140)
    form = {"_csrf": csrf, "name": "portal weekly", "report_board_kpi_pack": "1", "format_json": "1",
            "cadence": "weekly", "time_of_day": "08:00", "timezone": "Europe/Berlin",
            "starts_at": day.strftime("%Y-%m-%dT00:00"), "recipients": "portal-canary@acme.example",
            "delivery_mode": "download", "max_attempts": "3", "retry_window_minutes": "60", "backoff": "linear",
            "missed_policy": "latest", "w0_starts_at": rfc(day + timedelta(days=7)),
            "w0_ends_at": rfc(day + timedelta(days=14)), "w0_behavior": "skip"}
    r = c.post("/portal/schedules", form=form)
    assert r.status == 303, r.describe()
    loc = r.header("Location")
    assert re.fullmatch(r"/portal/schedules/schedule:[0-9A-Z]{26}", loc)
    detail = c.get(loc)
    assert detail.status == 200
    assert 'id="schedule-preview"' in detail.text and "skipped" in detail.text
    assert "08:00:00+0" in detail.text  # local times in the preview
    assert "portal-canary@acme.example" not in detail.text
    edit = c.get(f"{loc}/edit", headers={"Accept": "text/html"})
    assert edit.status == 200 and 'value="portal weekly"' in edit.text
    assert "1 stored privately" in edit.text and "portal-canary@acme.example" not in edit.text
    assert hidden_inputs(edit.text, "w0_window_ref")[0].startswith("blackout:")
    upd = dict(form, name="portal weekly renamed", recipients="",
               w0_window_ref=hidden_inputs(edit.text, "w0_window_ref")[0])
    r = c.post(loc, form=upd)
    assert r.status == 303 and r.header("Location") == loc
    detail = c.get(loc)
    assert "portal weekly renamed" in detail.text and "1 addresses" in detail.text
    assert hidden_inputs(c.get(f"{loc}/edit").text, "w0_window_ref") == [upd["w0_window_ref"]], "window refs survive edits"
    bad = dict(form, cadence="custom", rrule="FREQ=SOMETIMES")
    r = c.post("/portal/schedules", form=bad)
    assert r.status == 422 and "rrule" in r.text and 'id="schedule-errors"' in r.text
    p = c.post(f"{loc}/pause", form={"_csrf": csrf})
    assert p.status == 303
    assert "Resume" in c.get(loc).text
    # a form without the CSRF token is refused
    assert c.post(f"{loc}/resume", form={}).status == 403
    assert "Resume" in c.get(loc).text
    ops = c.get("/portal/operations")
    assert ops.status == 200
    assert "<svg" in ops.text and 'src="/static/operations.js"' in ops.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", ops.text), "no inline script"
    assert not re.search(r"\sstyle=", ops.text), "no inline style"
    d = c.post(f"{loc}/delete", form={"_csrf": csrf})
    assert d.status == 303


def test_recipient_scope_from_the_tenant_allow_list(base_url, admin_cli, env):
    slug = f"sched-scope-{rand(8)}"
    admin_cli.create_tenant(slug, f"scope {slug}")
    email = f"admin@{slug}.example"
    admin_cli.create_user(slug, email, "tenant_admin", "Pw-" + rand(24))
    c = Client(base_url, token=admin_cli.create_token(slug, email, "reports:read,reports:write,admin"))
    r = c.put("/enterprise/aispm/reports/setup/steps/recipient_governance",
              json_body={"settings": {"CAVRA_REPORT_ALLOWED_RECIPIENT_DOMAINS": "corp.example"}})
    assert r.status == 200, r.describe()
    s = create(c, recipients=["a@corp.example", "b@eu.corp.example"])
    assert s["recipient_scope"] == "approved_internal_domain"
    pol = c.get(f"{API}/{s['schedule_ref']}/policy").json()
    assert_valid(env, "aispm-report-schedule-policy.schema.json", pol)
    assert pol["recipient_governance"]["recipient_scope"] == "approved_internal_domain"
    assert pol["recipient_governance"]["allowed_domains"] == ["corp.example"]
    u = c.put(f"{API}/{s['schedule_ref']}", json_body=body(recipients=["x@notcorp.example"])).json()
    assert u["recipient_scope"] == "approved_external_domain"
    w = c.put(f"{API}/{s['schedule_ref']}", json_body=body(delivery_mode="webhook")).json()
    assert w["recipient_scope"] == "system_connector" and w["channels"] == ["webhook"]
    assert c.delete(f"{API}/{s['schedule_ref']}").status == 204


def test_deferred_run_of_a_paused_schedule_is_skipped(admin, env):
    day = base_day(160)
    s = create(admin, starts_at=day.strftime("%Y-%m-%dT00:00"), blackout_windows=[
        {"starts_at": rfc(day + timedelta(hours=8)), "ends_at": rfc(day + timedelta(hours=10)), "behavior": "defer"}])
    ref = s["schedule_ref"]
    occ = rfc(day + timedelta(hours=9))
    assert tick_runs(admin, env, ref, day + timedelta(hours=9, seconds=5))[occ]["state"] == "deferred"
    assert admin.post(f"{API}/{ref}/pause").status == 200
    run = tick_runs(admin, env, ref, day + timedelta(hours=10, seconds=5))[occ]
    assert run["state"] == "skipped" and run["reason"] == "schedule_paused" and run["render_refs"] == []
    assert sorted(e["action"] for e in events_of(admin, run["run_ref"])) == ["schedule.run_deferred",
                                                                             "schedule.run_skipped"]


def test_failed_run_is_evidenced_and_on_the_dashboard(tenant_b, base_url, env):
    """a run whose send the governed path refuses (tenant B has no delivery
    set up) fails for good, dead-lettered per policy, with evidence, and
    the dashboard reports it"""
    b = Client(base_url, token=tenant_b.token_admin)
    day = base_day(170)
    s = create(b, starts_at=day.strftime("%Y-%m-%dT00:00"), delivery_mode="smtp",
               recipients=["ops@acme.example"], retry_policy={"max_attempts": 2, "dead_letter_required": True})
    ref = s["schedule_ref"]
    tick(env, day + timedelta(hours=9, seconds=5))
    rs = wait_runs(b, ref, lambda rs: rs and rs[0]["state"] in ("failed", "delivered"))
    run = rs[0]
    # refused by the governed send path: delivery disabled, or (once another
    # suite gave tenant B a recipient policy) the policy's default deny
    assert run["state"] == "failed" and run["reason"] in ("delivery_disabled", "recipient_policy_blocked"), run
    cls = "recipient_policy" if run["reason"] == "recipient_policy_blocked" else "unknown"
    failed = [e for e in events_of(b, run["run_ref"]) if e["action"] == "schedule.run_failed"]
    assert len(failed) == 1 and failed[0]["outcome"] == "failure"
    assert failed[0]["details"]["dead_lettered"] is True
    assert "ops@acme.example" not in json.dumps(failed[0])
    dash = b.get(DASHBOARD).json()
    assert_valid(env, "aispm-report-operations-dashboard.schema.json", dash)
    mine = [f for f in dash["failed_deliveries"] if f["delivery_ref"] == run["run_ref"]]
    assert mine == [{"delivery_ref": run["run_ref"], "report_id": "board_kpi_pack", "delivery_mode": "smtp",
                     "failure_class": cls, "retry_status": "exhausted",
                     "last_attempt_at": mine[0]["last_attempt_at"]}]
    assert dash["summary"]["failed_deliveries"] >= 1
    assert dash["summary"]["delivery_health"] == "action_required"
    pol = b.get(f"{API}/{ref}/policy").json()
    assert pol["run_evidence"]["last_run_status"] == "failed"
    assert pol["delivery"]["delivery_mode"] == "smtp"
    b.delete(f"{API}/{ref}")
