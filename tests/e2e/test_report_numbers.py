"""The numbers of rendered reports against figures computed independently.

A fresh tenant (admin CLI: create-tenant, create-user, create-token with the
ingest and reports scopes) ingests a fixture built here: several agents,
sessions and connectors, every severity (and none given), decisions of every
kind (and none given), several risk classes and policy packs (and missing
ones), 0-3 evidence refs, spread over three calendar quarters. The expected
figures are computed in Python from the fixture alone (never from GET
/posture), then the agent risk register CSV, the control coverage and
evidence freshness CSVs, the XLSX evidence workbook (Summary, Agents,
Controls, Evidence freshness, Findings; python3-openpyxl) and the board KPI
JSON (KPIs, coverage, quarters and quarter-over-quarter) are rendered through
nginx and compared cell by cell / value by value. Any aggregation in C that
is wrong (a count, a maximum, an order, a rounding, a grouping) fails here.
"""

import copy
import csv
import io
import json
import random
import secrets
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import openpyxl
import pytest

from .conftest import Client, rand, strong_password
from .test_ingestion import example  # noqa: F401  (fixture re-export)
from .test_render import ARTIFACTS, render

SEVERITIES = ["none", "low", "medium", "high", "critical"]
DECISIONS = ["allow", "warn", "block", "require_approval", "allow_with_attestation", "audit_only", "not_applicable"]
DAY = 86400000


def ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def ms(s):
    return int(datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000)


def c_div(a, b):
    """C integer division (truncates toward zero)"""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def hundredths(num, den):
    t = 0 if den <= 0 or num < 0 else (num * 100 + den // 2) // den
    return f"{t // 100}.{t % 100:02d}"


def fixture_events(tenant_ref, run):
    """the fixture: a list of dicts (one per event), deterministic"""
    rng = random.Random(20261204)
    agents = {
        "num-agent-alpha": [("codex", "conn-a1"), ("claude_code", "conn-a2")],
        "num-agent-beta": [("cursor", "conn-b1")],
        "num-agent-gamma": [("github_actions", "conn-g1"), ("mcp_server", "conn-g2"), ("custom", "conn-g3")],
        "num-agent-delta": [("gemini_cli", "conn-d1")],
    }
    weights = {"num-agent-alpha": 14, "num-agent-beta": 9, "num-agent-gamma": 14, "num-agent-delta": 5}
    risks = ["data_exfiltration_risk", "source_control_governance_risk", "secrets_exposure_risk", None]
    packs = ["pack-baseline", "pack-cicd", "pack-secrets", None]
    start = datetime(2026, 5, 3, 9, 0, 0, tzinfo=timezone.utc)
    events, n = [], 0
    for agent, count in weights.items():
        for i in range(count):
            n += 1
            ctype, cid = agents[agent][rng.randrange(len(agents[agent]))] if i else agents[agent][0]
            when = start + timedelta(days=rng.randrange(0, 200), hours=rng.randrange(0, 23), minutes=rng.randrange(60))
            events.append({
                "event_id": f"num-{run}-{n:03d}",
                "agent_id": agent,
                "session_id": f"{agent}-s{rng.randrange(3)}",
                "connector_type": ctype, "connector_id": cid,
                "severity": rng.choice(SEVERITIES + [None]),
                "decision": rng.choice(DECISIONS + [None]),
                "risk_classification": rng.choice(risks),
                "policy_pack": rng.choice(packs),
                "evidence_refs": rng.randrange(4),
                "event_type": rng.choice(["tool_call", "shell_command", "git_operation", "policy_decision"]),
                "environment": rng.choice(["production", "staging"]),
                "occurred_at": when,
            })
    # every severity and decision at least once, whatever the draw
    for k, sev in enumerate(SEVERITIES):
        events[k]["severity"] = sev
    for k, dec in enumerate(DECISIONS):
        events[10 + k]["decision"] = dec
    return events


def to_envelope(example, tenant_ref, e):  # noqa: F811
    env = copy.deepcopy(example)
    env["tenant"]["tenant_ref"] = tenant_ref
    env["tenant"]["environment"] = e["environment"]
    env["source"]["connector_type"] = e["connector_type"]
    env["source"]["connector_id"] = e["connector_id"]
    env["transport"]["idempotency_key"] = "idem-" + e["event_id"]
    ev = {"event_id": e["event_id"], "event_type": e["event_type"],
          "occurred_at": e["occurred_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
          "session_id": e["session_id"], "agent_id": e["agent_id"]}
    for k in ("severity", "decision", "risk_classification", "policy_pack"):
        if e[k] is not None:
            ev[k] = e[k]
    if e["evidence_refs"]:
        ev["evidence_refs"] = [f"cavra://evidence/redacted/{e['event_id']}-{i}" for i in range(e["evidence_refs"])]
    env["event"] = ev
    return env


# ------------------------------------------------------------------ expected


def rank(e):
    return SEVERITIES.index(e["severity"]) if e["severity"] else 0


def expected(events, as_of_ms):
    x = {}
    by_agent = defaultdict(list)
    for e in events:
        by_agent[e["agent_id"]].append(e)
    agents = []
    for a, evs in by_agent.items():
        dec = Counter(e["decision"] for e in evs if e["decision"])
        conns = Counter((e["connector_type"], e["connector_id"]) for e in evs)
        conn_order = sorted(conns, key=lambda c: (-conns[c], c[0], c[1]))
        agents.append({
            "agent_id": a,
            "highest_severity": SEVERITIES[max(rank(e) for e in evs)],
            "events": len(evs),
            "sessions": len({e["session_id"] for e in evs}),
            "decision_count": sum(dec.values()),
            **{f"decision_{d}": dec.get(d, 0) for d in DECISIONS},
            "connectors": ";".join(f"{t}:{i}" for t, i in conn_order),
            "first_seen_at": ts(min(e["occurred_at"] for e in evs)),
            "last_seen_at": ts(max(e["occurred_at"] for e in evs)),
        })
    agents.sort(key=lambda g: (-g["events"], g["agent_id"]))
    x["agents"] = agents

    by_pack = defaultdict(list)
    for e in events:
        by_pack[e["policy_pack"] or "unassigned"].append(e)
    controls = []
    for p in sorted(by_pack):
        evs = by_pack[p]
        refs = sum(e["evidence_refs"] for e in evs)
        with_refs = [e["occurred_at"] for e in evs if e["evidence_refs"]]
        controls.append({
            "policy_pack": p, "events": len(evs),
            "blocked": sum(e["decision"] == "block" for e in evs),
            "approval_required": sum(e["decision"] == "require_approval" for e in evs),
            "warned": sum(e["decision"] == "warn" for e in evs),
            "evidence_refs": refs,
            "evidence_refs_per_event": hundredths(refs, len(evs)),
            "last_event_at": ts(max(e["occurred_at"] for e in evs)),
            "last_evidence_at": ts(max(with_refs)) if with_refs else None,
        })
    x["controls"] = controls

    by_pr = defaultdict(list)
    for e in events:
        by_pr[(e["policy_pack"] or "unassigned", e["risk_classification"] or "unclassified")].append(e)
    fresh = []
    for (p, r) in sorted(by_pr):
        newest = max(e["occurred_at"] for e in by_pr[(p, r)])
        age = (as_of_ms - ms(ts(newest))) // DAY
        fresh.append({"policy_pack": p, "risk_classification": r, "events": len(by_pr[(p, r)]),
                      "newest_event_at": ts(newest), "age_days": age, "stale": "yes" if age > 30 else "no"})
    x["freshness"] = fresh

    findings = [e for e in events if rank(e) >= 1]
    by_risk = defaultdict(list)
    for e in findings:
        by_risk[e["risk_classification"] or "unclassified"].append(e)
    x["findings"] = [{
        "risk_classification": r, "findings": len(by_risk[r]),
        **{s: sum(e["severity"] == s for e in by_risk[r]) for s in ("critical", "high", "medium", "low")},
        "none": 0, "last_finding_at": ts(max(e["occurred_at"] for e in by_risk[r])),
    } for r in sorted(by_risk)]

    dec = Counter(e["decision"] for e in events if e["decision"])
    sev = Counter(e["severity"] for e in findings)
    x["kpis"] = {
        "events": len(events), "blocks": dec["block"], "approvals_required": dec["require_approval"],
        "warnings": dec["warn"], "high_critical_findings": sev["high"] + sev["critical"],
        "findings": len(findings), "agents": len(by_agent),
        "sessions": len({(e["agent_id"], e["session_id"]) for e in events}),
    }
    quarters = {}
    for e in sorted(events, key=lambda e: e["occurred_at"]):
        d = e["occurred_at"]
        q = f"{d.year}-Q{(d.month - 1) // 3 + 1}"
        quarters.setdefault(q, {"quarter": q, "events": 0, "blocked": 0, "high_critical": 0})
        quarters[q]["events"] += 1
        quarters[q]["blocked"] += e["decision"] == "block"
        quarters[q]["high_critical"] += rank(e) >= 3
    x["quarters"] = [quarters[q] for q in sorted(quarters)]
    return x


# ------------------------------------------------------------------ the run


@pytest.fixture(scope="module")
def numbers(base_url, admin_cli, example):  # noqa: F811
    slug = f"numbers-{rand(10)}"
    tenant_ref = admin_cli.create_tenant(slug, f"Numbers {slug}")
    email = f"admin@{slug}.example"
    admin_cli.create_user(slug, email, "tenant_admin", strong_password())
    token = admin_cli.create_token(slug, email, "ingest,reports:read,reports:write", name="numbers")
    c = Client(base_url, token=token)
    events = fixture_events(tenant_ref, secrets.token_hex(4))
    r = c.post("/enterprise/aispm/events/batch",
               json_body={"envelopes": [to_envelope(example, tenant_ref, e) for e in events]})
    assert r.status == 200, r.describe()
    assert r.json()["accepted"] == len(events), r.json()
    out = {"events": events, "client": c}
    for report, fmt in (("agent_risk_register", "csv"), ("control_coverage_export", "csv"),
                        ("evidence_freshness_export", "csv"), ("xlsx_evidence_workbook", "xlsx"),
                        ("board_kpi_pack", "json")):
        done = render(c, report, fmt)
        meta = c.get(f"{ARTIFACTS}/{done['artifact_ref']}").json()
        body = c.get(f"{ARTIFACTS}/{done['artifact_ref']}/content")
        assert body.status == 200, body.describe()
        out[report] = (meta, body.body)
    as_of = out["board_kpi_pack"][0]["as_of"]
    assert as_of, "as_of of a tenant with events"
    out["as_of"] = as_of
    out["expected"] = expected(events, ms(as_of))
    return out


def csv_table(body):
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert body.endswith(b"\r\n")
    return rows[0], rows[1:]


def as_csv(v):
    return "" if v is None else str(v)


def test_fixture_is_varied(numbers):
    events = numbers["events"]
    assert len({e["agent_id"] for e in events}) == 4
    assert {e["severity"] for e in events} >= set(SEVERITIES) | {None}
    assert {e["decision"] for e in events} >= set(DECISIONS) | {None}
    assert None in {e["policy_pack"] for e in events} and None in {e["risk_classification"] for e in events}
    assert len(numbers["expected"]["quarters"]) >= 3


def test_agent_risk_register_csv_cell_by_cell(numbers):
    head, rows = csv_table(numbers["agent_risk_register"][1])
    exp = numbers["expected"]["agents"]
    assert head == list(exp[0].keys())
    assert len(rows) == len(exp)
    for row, e in zip(rows, exp):
        assert row == [as_csv(v) for v in e.values()], (row, e)


def test_control_coverage_and_freshness_csv(numbers):
    head, rows = csv_table(numbers["control_coverage_export"][1])
    exp = numbers["expected"]["controls"]
    assert head == list(exp[0].keys())
    assert rows == [[as_csv(v) for v in e.values()] for e in exp]
    head, rows = csv_table(numbers["evidence_freshness_export"][1])
    exp = numbers["expected"]["freshness"]
    assert head == list(exp[0].keys())
    assert rows == [[as_csv(v) for v in e.values()] for e in exp]


def sheet(wb, name):
    return [[c.value for c in r] for r in wb[name].iter_rows()]


def test_xlsx_evidence_workbook_cell_by_cell(numbers):
    wb = openpyxl.load_workbook(io.BytesIO(numbers["xlsx_evidence_workbook"][1]))
    x = numbers["expected"]
    assert wb.sheetnames == ["Summary", "Agents", "Controls", "Evidence freshness", "Findings"]
    agents = sheet(wb, "Agents")
    assert agents[0] == list(x["agents"][0].keys())
    assert agents[1:] == [list(e.values()) for e in x["agents"]]
    controls = sheet(wb, "Controls")
    assert controls[0] == list(x["controls"][0].keys())
    for row, e in zip(controls[1:], x["controls"]):
        want = list(e.values())
        assert row[:6] == want[:6] and row[7:] == [v for v in want[7:]], (row, e)
        assert abs(row[6] - float(e["evidence_refs_per_event"])) < 1e-9
    assert len(controls) - 1 == len(x["controls"])
    fresh = sheet(wb, "Evidence freshness")
    assert fresh[1:] == [list(e.values()) for e in x["freshness"]]
    findings = sheet(wb, "Findings")
    assert findings[0] == ["risk_classification", "findings", "critical", "high", "medium", "low", "none",
                           "last_finding_at"]
    assert findings[1:] == [list(e.values()) for e in x["findings"]]
    summary = {r[0]: r[1] for r in sheet(wb, "Summary")[1:]}
    k = x["kpis"]
    want = {"events": k["events"], "agents": k["agents"], "sessions": k["sessions"], "findings": k["findings"],
            "high_critical_findings": k["high_critical_findings"], "blocks": k["blocks"],
            "approvals_required": k["approvals_required"], "warnings": k["warnings"],
            "agent_rows": len(x["agents"]), "policy_packs": len(x["controls"]),
            "evidence_freshness_rows": len(x["freshness"]),
            "stale_evidence_rows": sum(f["stale"] == "yes" for f in x["freshness"]),
            "risk_classifications": len(x["findings"])}
    for key, v in want.items():
        assert summary[key] == v, (key, summary[key], v)
    assert summary["as_of"] == numbers["as_of"]


def test_board_kpi_pack_value_by_value(numbers):
    kpi = json.loads(numbers["board_kpi_pack"][1])
    x = numbers["expected"]
    assert kpi["kpis"] == x["kpis"]
    assert kpi["coverage_by_policy_pack"] == x["controls"]
    assert kpi["quarters"] == x["quarters"]
    q = kpi["quarter_over_quarter"]
    prev, cur = x["quarters"][-2], x["quarters"][-1]
    assert q["available"] is True and q["previous"] == prev and q["current"] == cur
    for m in ("events", "blocked", "high_critical"):
        a, b = prev[m], cur[m]
        assert q["change"][m] == b - a
        want = None if a == 0 else c_div((b - a) * 1000 + a // 2, a) / 10.0
        assert q["change_pct"][m] == want, (m, q["change_pct"][m], want)
    assert kpi["as_of"] == numbers["as_of"]
