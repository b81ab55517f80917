"""Report rendering through nginx: POST /enterprise/aispm/reports/render, the
render status and history, artifact metadata and content.

Covers: every report/format of this release renders from the demo tenant's
data, is polled to completion and downloaded; the downloaded bytes hash to the
digest of the metadata and of the X-Artifact-SHA256 header; CSV (Python's csv
module), JSON and JSONL parse and their numbers equal GET /posture (cell by
cell for the agent risk register); an Idempotency-Key repeat answers 200 with
the same render ref; a disabled report is 403, an unoffered format 422
format_not_offered, pdf 422 format_not_yet_available, an approver 403; another
tenant gets 404 for the render, the artifact and its content; a payload_ref
canary ingested before the renders appears in no artifact; every download is
evidenced; a render whose job lock expired (crashed worker) is claimed again
and yields the same artifact.
"""

import csv
import hashlib
import io
import json
import secrets
import time
from datetime import datetime, timedelta, timezone

import pytest

from .conftest import Client, audit_events, hidden_inputs, sql_str
from .test_ingestion import EVENTS, envelope, example  # noqa: F401  (fixture re-export)

RENDER = "/enterprise/aispm/reports/render"
RENDERS = "/enterprise/aispm/reports/renders"
ARTIFACTS = "/enterprise/aispm/reports/artifacts"
POSTURE = "/enterprise/aispm/posture"
CATALOG = "/enterprise/aispm/reports/catalog"

SUPPORTED = [
    ("executive_risk_brief", "html"),
    ("executive_risk_brief", "markdown"),
    ("soc2_audit_summary", "html"),
    ("soc2_audit_summary", "markdown"),
    ("board_kpi_pack", "json"),
    ("control_coverage_export", "csv"),
    ("evidence_freshness_export", "csv"),
    ("agent_risk_register", "csv"),
    ("siem_jsonl_export", "jsonl"),
]
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}


def wait_done(client, ref, timeout=60):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        r = client.get(f"{RENDERS}/{ref}")
        assert r.status == 200, r.describe()
        body = r.json()
        seen.append(body["progress"])
        assert 0 <= body["progress"] <= 100
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"render {ref} did not finish: progress {seen[-5:]}")


def render(client, report_id, fmt, **extra):
    body = {"report_id": report_id, "format": fmt}
    body.update(extra)
    r = client.post(RENDER, json_body=body)
    assert r.status == 202, r.describe()
    acc = r.json()
    assert acc["render_ref"].startswith("render:") and acc["status"] in ("queued", "running", "succeeded")
    assert acc["status_url"] == f"{RENDERS}/{acc['render_ref']}"
    done = wait_done(client, acc["render_ref"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == 100
    return done


@pytest.fixture(scope="module")
def rc(base_url, acme, admin_cli):
    """demo-tenant clients: `admin` (render + read + ingest), `read`"""
    w = type("Render", (), {})()
    w.token = admin_cli.create_token("acme", acme.admin_email, "reports:read,reports:write,ingest",
                                     name="e2e-render")
    w.admin = Client(base_url, token=w.token)
    w.read = Client(base_url, token=acme.token_read)
    w.tenant_ref = acme.tenant_ref
    return w


@pytest.fixture(scope="module")
def canary(rc, example):  # noqa: F811
    """an event of today carrying private payload/actor ref canaries"""
    tag = secrets.token_hex(8)
    now = datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = envelope(example, rc.tenant_ref, payload_ref=f"enterprise-private://canary-render-{tag}",
                   actor_ref=f"role:canary-render-actor-{tag}", occurred_at=now)
    r = rc.admin.post(EVENTS, json_body=env)
    assert r.status == 201, r.describe()
    return tag


@pytest.fixture(scope="module")
def rendered(rc, canary):
    """every supported report/format rendered once, with its download and the
    posture read right after (no ingestion in between)"""
    out = {}
    for report_id, fmt in SUPPORTED:
        done = render(rc.admin, report_id, fmt)
        meta = rc.read.get(f"{ARTIFACTS}/{done['artifact_ref']}")
        assert meta.status == 200, meta.describe()
        content = rc.read.get(f"{ARTIFACTS}/{done['artifact_ref']}/content")
        assert content.status == 200, content.describe()
        out[(report_id, fmt)] = (done, meta.json(), content)
    posture = rc.read.get(POSTURE)
    assert posture.status == 200
    out["posture"] = posture.json()
    return out


def test_every_supported_format_renders_and_digest_matches(rendered):
    for report_id, fmt in SUPPORTED:
        done, meta, content = rendered[(report_id, fmt)]
        digest = hashlib.sha256(content.body).hexdigest()
        assert meta["digest"] == digest and meta["digest_algorithm"] == "sha256"
        assert content.header("X-Artifact-SHA256") == digest
        assert meta["size"] == len(content.body) > 0
        assert meta["artifact_ref"] == done["artifact_ref"] and meta["report_id"] == report_id
        assert meta["format"] == fmt
        assert content.header("Content-Type") == CONTENT_TYPES[fmt]
        disp = content.header("Content-Disposition")
        assert disp.startswith('attachment; filename="') and disp.endswith('"')
        name = disp[len('attachment; filename="'):-1]
        assert name.startswith(report_id + "_") and all(c.isalnum() or c in "_.-" for c in name)
        assert meta["retention_class"] and meta["expires_at"] and meta["as_of"]
        assert meta["evidence_ref"].startswith("cavra://evidence/redacted/")
        assert meta["period"]["start"] < meta["period"]["end"]
        # expires_at: the tenant's retention (default 365 days) after creation
        exp = datetime.fromisoformat(meta["expires_at"].replace("Z", "+00:00"))
        assert exp > datetime.now(timezone.utc) + timedelta(days=1)


def test_agent_risk_register_equals_posture_cell_by_cell(rendered):
    _, _, content = rendered[("agent_risk_register", "csv")]
    text = content.body.decode("utf-8")
    assert "\r\n" in text and text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    agents = rendered["posture"]["agents"]
    assert len(rows) == len(agents) > 0
    decisions = ["allow", "warn", "block", "require_approval", "allow_with_attestation", "audit_only",
                 "not_applicable"]
    for row, a in zip(rows, agents):
        agent_id = row["agent_id"][1:] if row["agent_id"][:1] == "'" and a["agent_id"][:1] in "=+-@\t\r" \
            else row["agent_id"]
        assert agent_id == a["agent_id"]
        assert row["highest_severity"] == a["highest_severity"]
        assert int(row["events"]) == a["events"]
        assert int(row["sessions"]) == a["sessions"]
        assert int(row["decision_count"]) == a["decision_count"]
        for d in decisions:
            assert int(row[f"decision_{d}"]) == a["decisions"][d], (a["agent_id"], d)
        assert row["connectors"] == ";".join(f"{c['connector_type']}:{c['connector_id']}" for c in a["connectors"])
        assert row["first_seen_at"] == a["first_seen_at"] and row["last_seen_at"] == a["last_seen_at"]


def test_control_coverage_and_freshness_equal_posture(rendered):
    posture = rendered["posture"]
    _, _, content = rendered[("control_coverage_export", "csv")]
    rows = list(csv.DictReader(io.StringIO(content.body.decode("utf-8"), newline="")))
    cc = posture["control_coverage"]
    assert [r["policy_pack"] for r in rows] == [c["policy_pack"] for c in cc]
    for row, c in zip(rows, cc):
        for k in ("events", "blocked", "approval_required", "warned", "evidence_refs"):
            assert int(row[k]) == c[k], (c["policy_pack"], k)
        ratio = c["evidence_refs"] / c["events"] if c["events"] else 0.0
        assert abs(float(row["evidence_refs_per_event"]) - ratio) < 0.0051
        assert row["last_event_at"] == c["last_event_at"]
    _, meta, content = rendered[("evidence_freshness_export", "csv")]
    rows = list(csv.DictReader(io.StringIO(content.body.decode("utf-8"), newline="")))
    fr = posture["evidence_freshness"]
    as_of = datetime.fromisoformat(meta["as_of"].replace("Z", "+00:00"))
    assert len(rows) == len(fr) > 0
    for row, f in zip(rows, fr):
        assert (row["policy_pack"], row["risk_classification"]) == (f["policy_pack"], f["risk_classification"])
        assert int(row["events"]) == f["events"] and row["newest_event_at"] == f["newest_event_at"]
        newest = datetime.fromisoformat(f["newest_event_at"].replace("Z", "+00:00"))
        age = max(0, int((as_of - newest).total_seconds() // 86400))
        assert int(row["age_days"]) == age
        assert row["stale"] == ("yes" if age > 30 else "no")


def test_board_kpi_pack_equals_posture(rendered):
    posture = rendered["posture"]
    _, meta, content = rendered[("board_kpi_pack", "json")]
    doc = json.loads(content.body)
    k = doc["kpis"]
    sev = posture["findings"]["by_severity"]
    assert k["events"] == posture["totals"]["events"]
    assert k["blocks"] == posture["decisions"]["block"]
    assert k["approvals_required"] == posture["decisions"]["require_approval"]
    assert k["high_critical_findings"] == sev["high"] + sev["critical"]
    assert k["agents"] == posture["totals"]["agents"]
    assert k["findings"] == posture["findings"]["total"]
    assert [c["policy_pack"] for c in doc["coverage_by_policy_pack"]] == \
        [c["policy_pack"] for c in posture["control_coverage"]]
    assert sum(q["events"] for q in doc["quarters"]) == sum(d["events"] for d in posture["timeline"])
    assert doc["as_of"] == meta["as_of"] and doc["tenant_ref"] == posture["tenant_ref"]
    assert "available" in doc["quarter_over_quarter"]


def test_siem_jsonl_has_every_event_of_the_period_public_view_only(rendered, canary):
    posture = rendered["posture"]
    _, meta, content = rendered[("siem_jsonl_export", "jsonl")]
    text = content.body.decode("utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""
    objs = [json.loads(line) for line in lines[:-1]]
    start, end = meta["period"]["start"][:10], meta["period"]["end"][:10]
    expected = sum(d["events"] for d in posture["timeline"] if start <= d["date"] < end)
    assert len(objs) == expected > 0
    for o in objs:
        assert o["event_ref"].startswith("aispm-event:")
        assert "payload_ref" not in o["envelope"]["event"] and "actor_ref" not in o["envelope"]["event"]
    assert canary not in text


def test_documents_show_the_posture(rendered):
    posture = rendered["posture"]
    for report_id in ("executive_risk_brief", "soc2_audit_summary"):
        _, _, md = rendered[(report_id, "markdown")]
        _, _, html = rendered[(report_id, "html")]
        assert md.body.decode("utf-8").startswith("# ")
        assert html.body.decode("utf-8").startswith("<!DOCTYPE html>")
        for c in (md, html):
            assert str(posture["totals"]["events"]) in c.text
    md = rendered[("executive_risk_brief", "markdown")][2].text
    assert f"| blocked actions | {posture['decisions']['block']} |" in md
    assert f"| AI agents | {posture['totals']['agents']} |" in md


def test_no_artifact_holds_a_private_ref(rendered, canary, sql):
    stored = sql(f"SELECT COUNT(*) FROM aispm.ingestion_events WHERE payload_ref LIKE "
                 f"{sql_str('%canary-render-' + canary)}")
    assert stored.strip() == "1", "positive control: the canary is stored"
    for key in SUPPORTED:
        content = rendered[key][2]
        assert canary.encode() not in content.body, key
        assert b"enterprise-private://tenant/opaque-event-ref" not in content.body, key  # the example payload_ref


def test_downloads_are_evidenced(rc, rendered):
    events = [e["event"] for e in audit_events(rc.read, limit=500)[:2000]]
    downloaded = {e["object_ref"] for e in events if e["action"] == "report.artifact_downloaded"}
    rendered_refs = {e["object_ref"] for e in events if e["action"] == "report.rendered"}
    for report_id, fmt in SUPPORTED:
        done = rendered[(report_id, fmt)][0]
        assert done["artifact_ref"] in downloaded, (report_id, fmt)
        assert done["artifact_ref"] in rendered_refs, (report_id, fmt)
    assert any(e["action"] == "report.render_requested" for e in events)


def test_history_lists_renders_with_cursor(rc, rendered):
    r = rc.read.get(f"{RENDERS}?limit=2")
    assert r.status == 200, r.describe()
    page = r.json()
    assert len(page["renders"]) == 2 and page["next_cursor"]
    r2 = rc.read.get(f"{RENDERS}?limit=2&cursor={page['next_cursor']}")
    assert r2.status == 200
    refs1 = {x["render_ref"] for x in page["renders"]}
    refs2 = {x["render_ref"] for x in r2.json()["renders"]}
    assert refs1 and refs2 and not refs1 & refs2
    rc.read.get(f"{RENDERS}?cursor=bogus").problem(422, "validation_failed")


def test_idempotency_key_repeat_returns_same_ref(rc):
    key = f"e2e-render-{secrets.token_hex(6)}"
    body = {"report_id": "control_coverage_export", "format": "csv"}
    r1 = rc.admin.post(RENDER, json_body=body, headers={"Idempotency-Key": key})
    assert r1.status == 202, r1.describe()
    r2 = rc.admin.post(RENDER, json_body=body, headers={"Idempotency-Key": key})
    assert r2.status == 200, r2.describe()
    assert r2.json()["render_ref"] == r1.json()["render_ref"]
    other = rc.admin.post(RENDER, json_body={"report_id": "agent_risk_register", "format": "csv"},
                          headers={"Idempotency-Key": key})
    other.problem(409, "idempotency_key_reused")
    wait_done(rc.admin, r1.json()["render_ref"])


def test_refusals(rc, base_url, acme, admin_cli, demo_logins):
    rc.admin.post(RENDER, json_body={"report_id": "no_such_report", "format": "csv"}).problem(404,
                                                                                           "report_not_found")
    rc.admin.post(RENDER, json_body={"report_id": "agent_risk_register", "format": "json"}).problem(
        422, "format_not_offered")
    p = rc.admin.post(RENDER, json_body={"report_id": "pdf_board_pack", "format": "pdf"})
    assert "pdf" in p.problem(422, "format_not_yet_available")["detail"]
    rc.admin.post(RENDER, json_body={"report_id": "board_kpi_pack", "format": "html"}).problem(
        422, "format_not_offered")
    for bad in ({"format": "csv"}, {"report_id": "agent_risk_register"},
                {"report_id": "agent_risk_register", "format": "csv", "period": {"start": "yesterday"}},
                {"report_id": "agent_risk_register", "format": "csv",
                 "period": {"start": "2026-02-01", "end": "2026-01-01"}},
                {"report_id": "agent_risk_register", "format": "csv", "filters": {"x": 1}},
                {"report_id": "agent_risk_register", "format": "csv", "extra": 1}):
        rc.admin.post(RENDER, json_body=bad).problem(422, "validation_failed")
    # a role without reports.render
    email, _ = demo_logins["approver"]
    tok = admin_cli.create_token("acme", email, "reports:read,reports:write", name="e2e-approver")
    Client(base_url, token=tok).post(RENDER, json_body={"report_id": "agent_risk_register", "format": "csv"}) \
        .problem(403, "forbidden")
    # a token without reports:write
    rc.read.post(RENDER, json_body={"report_id": "agent_risk_register", "format": "csv"}).problem(
        403, "insufficient_scope")


def test_disabled_report_is_403_and_other_tenant_sees_nothing(rc, rendered, base_url, tenant_b):
    b = Client(base_url, token=tenant_b.token_admin)
    r = b.put(f"{CATALOG}/agent_risk_register", json_body={"enabled": False})
    assert r.status == 200, r.describe()
    try:
        b.post(RENDER, json_body={"report_id": "agent_risk_register", "format": "csv"}).problem(403,
                                                                                               "report_disabled")
    finally:
        assert b.put(f"{CATALOG}/agent_risk_register", json_body={"enabled": True}).status == 200
    done, meta, _ = rendered[("agent_risk_register", "csv")]
    b.get(f"{RENDERS}/{done['render_ref']}").problem(404)
    b.get(f"{ARTIFACTS}/{done['artifact_ref']}").problem(404)
    b.get(f"{ARTIFACTS}/{done['artifact_ref']}/content").problem(404)
    assert done["render_ref"] not in b.get(RENDERS).text
    # tenant B renders from its own (empty) data
    own = render(b, "agent_risk_register", "csv")
    c = b.get(f"{ARTIFACTS}/{own['artifact_ref']}/content")
    assert c.status == 200
    assert c.body.decode("utf-8").count("\r\n") == 1, "header row only: tenant B has no agents"
    assert own["artifact_ref"] != done["artifact_ref"]


def test_expired_lock_is_reclaimed_and_render_is_deterministic(rc, sql):
    first = render(rc.admin, "control_coverage_export", "csv")
    ref = first["render_ref"]
    # simulate a worker that crashed mid-render: request running, lock expired
    sql(f"UPDATE aispm.render_requests SET state = 'running', progress = 10, artifact_id = NULL, "
        f"finished_at = NULL WHERE ref = {sql_str(ref)}")
    sql(f"UPDATE aispm.jobs SET state = 'running', locked_by = 'pid:crashed', "
        f"locked_until = UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE WHERE kind = 'report.render' "
        f"AND idempotency_key = {sql_str(ref)}")
    again = wait_done(rc.admin, ref)
    assert again["status"] == "succeeded", again
    assert again["artifact_ref"] == first["artifact_ref"], "same data, same digest, same artifact row"
    attempts = sql(f"SELECT attempts, state FROM aispm.jobs WHERE idempotency_key = {sql_str(ref)}").split()
    assert attempts == ["2", "done"]


def test_portal_render_form_status_and_history(base_url, acme, login_as, rendered):
    html = {"Accept": "text/html"}
    c = login_as(acme.admin_email, acme.admin_password)
    cat = c.get("/portal/catalog", headers=html)
    assert cat.status == 200, cat.describe()
    assert 'action="/portal/reports/render"' in cat.text
    keys = hidden_inputs(cat.text, "idempotency_key")
    assert keys and len(set(keys)) == len(keys)
    form = {"_csrf": c.csrf, "report_id": "agent_risk_register", "format": "csv", "start": "", "end": "",
            "idempotency_key": keys[0]}
    # without the CSRF token the form is refused
    bad = dict(form, _csrf="x")
    assert c.post("/portal/reports/render", form=bad, headers=html).status == 403
    r = c.post("/portal/reports/render", form=form, headers=html)
    assert r.status == 303, r.describe()
    loc = r.header("Location")
    assert loc.startswith("/portal/renders/render:")
    # a double submit of the same form lands on the same render
    assert c.post("/portal/reports/render", form=form, headers=html).header("Location") == loc
    ref = loc.rsplit("/", 1)[1]
    page = c.get(loc, headers=html)
    assert page.status == 200 and "<progress" in page.text and "/static/render.js" in page.text
    wait_done(Client(base_url, token=acme.token_read), ref)
    page = c.get(loc, headers=html)
    assert page.status == 200
    assert "Download" in page.text and "/content" in page.text and "SHA-256" in page.text
    assert "cavra://evidence/redacted/" in page.text and "Refresh" not in page.text
    hist = c.get("/portal/renders", headers=html)
    assert hist.status == 200 and ref in hist.text
    # the session can download the artifact like a token
    art = Client(base_url, token=acme.token_read).get(f"{RENDERS}/{ref}").json()["artifact_ref"]
    dl = c.get(f"{ARTIFACTS}/{art}/content")
    assert dl.status == 200 and dl.body.startswith(b"agent_id,")
    # the script the page loads is served by nginx
    js = c.get("/static/render.js")
    assert js.status == 200 and b"fetch(" in js.body
