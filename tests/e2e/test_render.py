"""Report rendering through nginx: POST /enterprise/aispm/reports/render, the
render status and history, artifact metadata and content.

Covers: every report/format of this release renders from the demo tenant's
data, is polled to completion and downloaded; the downloaded bytes hash to the
digest of the metadata and of the X-Artifact-SHA256 header; CSV (Python's csv
module), JSON and JSONL parse and their numbers equal GET /posture (cell by
cell for the agent risk register); an Idempotency-Key repeat answers 200 with
the same render ref; a disabled report is 403, an unoffered format 422
format_not_offered, an approver 403; another
tenant gets 404 for the render, the artifact and its content; a payload_ref
canary ingested before the renders appears in no artifact; every download is
evidenced; a render whose job lock expired (crashed worker) is claimed again
and yields the same artifact. The XLSX evidence workbook is opened with
python3-openpyxl (Debian's, an XLSX reader independent of libxlsxwriter): its
sheets, bold frozen headers, row counts and cells equal the posture and the
CSV exports, a formula-looking agent id stays text, and its document
properties carry as_of. The signed JSON evidence
packet verifies with jose (tests/browser/verify-jws.mjs) against
/.well-known/jwks.json, fails once one byte of its signature or payload is
flipped, holds only redacted evidence refs and re-renders to the same artifact.
The PDF board pack is read back with poppler-utils (pdfinfo, pdftotext): page
count, Title, headings, "Page N of M" footers, the posture's event count and
agent ids, the agents table header repeated on every page with agent rows; it
re-renders to the same artifact (same as_of, same bytes).
"""

import base64
import csv
import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import time
import zipfile
from datetime import datetime, timedelta, timezone

import docx
import openpyxl
import pytest

from .conftest import REPO, Client, audit_events, hidden_inputs, sql_str
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
    ("signed_json_evidence_packet", "json"),
    ("xlsx_evidence_workbook", "xlsx"),
    ("docx_audit_narrative", "docx"),
    ("grc_upload_package", "zip"),
    ("pdf_board_pack", "pdf"),
]
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "zip": "application/zip",
}


def readable(key, body):
    """the bytes to search for text: a workbook's, document's or package's zip
    parts uncompressed (a zip inside the package too), a PDF's text"""
    if key[1] == "pdf" or body[:5] == b"%PDF-":
        return pdf_text(body).encode() + b"\n" + pdf_text(body, "-raw").encode()
    if key[1] not in ("xlsx", "docx", "zip") and body[:4] != b"PK\x03\x04":
        return body
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return b"\n".join(readable((n, ""), z.read(n)) for n in z.namelist())


def pdf_text(body, mode="-layout"):
    """pdftotext (poppler-utils) of a PDF: pages separated by form feeds"""
    r = subprocess.run(["pdftotext", mode, "-", "-"], input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


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
def formula_agent(rc, example):  # noqa: F811
    """an agent whose id looks like a spreadsheet formula"""
    agent = f"=HYPERLINK(\"http://x.invalid\",\"{secrets.token_hex(4)}\")"
    now = datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = rc.admin.post(EVENTS, json_body=envelope(example, rc.tenant_ref, agent_id=agent, occurred_at=now))
    assert r.status == 201, r.describe()
    return agent


@pytest.fixture(scope="module")
def rendered(rc, canary, formula_agent):
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
        body = readable(key, rendered[key][2].body)
        assert canary.encode() not in body, key
        assert b"enterprise-private://tenant/opaque-event-ref" not in body, key  # the example payload_ref


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


# --------------------------------------------------------------------------
# XLSX evidence workbook

SHEETS = ["Summary", "Agents", "Controls", "Evidence freshness", "Findings"]
FORMULA_START = tuple("=+-@\t\r")


def csv_rows(rendered, report_id):
    text = rendered[(report_id, "csv")][2].body.decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def sheet_rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def same_cell(csv_value, xlsx_value):
    """a CSV cell (text, formula-looking text with the CSV writer's leading
    apostrophe) against the workbook cell (numbers as numbers, text as text,
    empty as None)"""
    if xlsx_value is None:
        return csv_value == ""
    if isinstance(xlsx_value, (int, float)) and not isinstance(xlsx_value, bool):
        return abs(float(csv_value) - xlsx_value) < 1e-9
    if xlsx_value.startswith(FORMULA_START):
        return csv_value == "'" + xlsx_value
    return csv_value == xlsx_value


@pytest.fixture(scope="module")
def workbook(rendered):
    _, meta, content = rendered[("xlsx_evidence_workbook", "xlsx")]
    assert content.body[:2] == b"PK"
    return openpyxl.load_workbook(io.BytesIO(content.body)), meta


def test_xlsx_sheets_headers_and_layout(workbook, rendered):
    wb, _ = workbook
    assert wb.sheetnames == SHEETS
    csv_of = {"Agents": "agent_risk_register", "Controls": "control_coverage_export",
              "Evidence freshness": "evidence_freshness_export"}
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        assert header and all(isinstance(h, str) and h for h in header), ws.title
        assert all(c.font.b for c in ws[1]), f"{ws.title}: header not bold"
        assert ws.freeze_panes == "A2", ws.title
        for i in range(1, len(header) + 1):
            width = ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width
            assert 8 <= width <= 61, (ws.title, i, width)  # libxlsxwriter adds ~0.71 padding
        if ws.title in csv_of:
            assert header == csv_rows(rendered, csv_of[ws.title])[0], ws.title
    assert [c.value for c in wb["Summary"][1]] == ["field", "value"]
    assert [c.value for c in wb["Findings"][1]] == ["risk_classification", "findings", "critical", "high", "medium",
                                                    "low", "none", "last_finding_at"]
    # no cell anywhere is a formula
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)


def test_xlsx_rows_equal_posture_and_csv(workbook, rendered, formula_agent):
    wb, _ = workbook
    posture = rendered["posture"]
    pairs = [("Agents", "agent_risk_register", posture["agents"]),
             ("Controls", "control_coverage_export", posture["control_coverage"]),
             ("Evidence freshness", "evidence_freshness_export", posture["evidence_freshness"])]
    for sheet, report_id, data in pairs:
        rows = sheet_rows(wb[sheet])[1:]
        csv_data = csv_rows(rendered, report_id)[1:]
        assert len(rows) == len(csv_data) == len(data) > 0, sheet
        for xr, cr in zip(rows, csv_data):
            assert len(xr) == len(cr), sheet
            for x, c in zip(xr, cr):
                assert same_cell(c, x), (sheet, c, x)
    # the agent register cell by cell against the posture too
    agents = sheet_rows(wb["Agents"])
    head = agents[0]
    for row, a in zip(agents[1:], posture["agents"]):
        r = dict(zip(head, row))
        assert r["agent_id"] == a["agent_id"]
        assert r["events"] == a["events"] and isinstance(r["events"], int)
        assert r["decision_block"] == a["decisions"]["block"]
        assert r["first_seen_at"] == a["first_seen_at"] and r["last_seen_at"] == a["last_seen_at"]
    # a formula-looking id is text in the workbook, and the same text
    assert formula_agent in [r[0] for r in agents[1:]]
    controls = wb["Controls"]
    col = [c.value for c in controls[1]].index("evidence_refs_per_event") + 1
    for r in range(2, controls.max_row + 1):
        cell = controls.cell(r, col)
        assert isinstance(cell.value, (int, float)) and cell.number_format == "0.00"
    findings = sheet_rows(wb["Findings"])
    fr = posture["findings"]["by_risk_classification"]
    assert len(findings) - 1 == len(fr)
    for row, f in zip(findings[1:], fr):
        r = dict(zip(findings[0], row))
        assert r["risk_classification"] == f["risk_classification"] and r["findings"] == f["findings"]
        for sev in ("critical", "high", "medium", "low", "none"):
            assert r[sev] == f["by_severity"].get(sev, 0), (f["risk_classification"], sev)
    assert sum(r[1] for r in findings[1:]) == posture["findings"]["total"]


def test_xlsx_summary_and_properties(workbook, rendered):
    wb, meta = workbook
    posture = rendered["posture"]
    summary = {k: v for k, v in sheet_rows(wb["Summary"])[1:]}
    assert summary["report_id"] == "xlsx_evidence_workbook"
    assert summary["tenant_ref"] == posture["tenant_ref"]
    assert summary["as_of"] == meta["as_of"]
    assert summary["period_start"] == meta["period"]["start"] and summary["period_end"] == meta["period"]["end"]
    sev = posture["findings"]["by_severity"]
    assert summary["events"] == posture["totals"]["events"]
    assert summary["agents"] == posture["totals"]["agents"]
    assert summary["sessions"] == posture["totals"]["sessions"]
    assert summary["findings"] == posture["findings"]["total"]
    assert summary["high_critical_findings"] == sev["high"] + sev["critical"]
    assert summary["blocks"] == posture["decisions"]["block"]
    assert summary["approvals_required"] == posture["decisions"]["require_approval"]
    assert summary["agent_rows"] == len(posture["agents"])
    assert summary["policy_packs"] == len(posture["control_coverage"])
    assert summary["evidence_freshness_rows"] == len(posture["evidence_freshness"])
    props = wb.properties
    assert props.title == "XLSX Evidence Workbook"
    assert posture["tenant_ref"] in props.subject
    assert meta["as_of"] in props.description  # the workbook's comments
    as_of = datetime.fromisoformat(meta["as_of"].replace("Z", "+00:00"))
    assert props.created == as_of.replace(microsecond=0, tzinfo=None)


def test_xlsx_render_is_deterministic(rc, rendered):
    """same data, same bytes: the workbook's zip entries carry a fixed date and
    its creation time is as_of, so a repeat finds the same artifact"""
    first = rendered[("xlsx_evidence_workbook", "xlsx")][0]
    again = render(rc.admin, "xlsx_evidence_workbook", "xlsx")
    assert again["artifact_ref"] == first["artifact_ref"]


# --------------------------------------------------------------------------
# pdf_board_pack: read back with poppler-utils

BOARD = ("pdf_board_pack", "pdf")


def test_pdf_board_pack_reads_back(rendered):
    _, meta, content = rendered[BOARD]
    posture = rendered["posture"]
    body = content.body
    assert body[:5] == b"%PDF-"
    info = subprocess.run(["pdfinfo", "-"], input=body, capture_output=True, timeout=60)
    assert info.returncode == 0, info.stderr
    fields = dict(line.split(":", 1) for line in info.stdout.decode().splitlines() if ":" in line)
    pages = int(fields["Pages"].strip())
    assert pages >= 4
    assert fields["Title"].strip() == "Board Pack"
    assert "A4" in fields["Page size"]
    text = pdf_text(body)
    page_texts = text.split("\f")
    for heading in ("Board Pack", "Contents", "Key indicators", "Findings", "Agents", "Findings by severity",
                    "Decisions by kind"):
        assert heading in text, heading
    for n in range(1, pages + 1):
        assert f"Page {n} of {pages}" in page_texts[n - 1], n
        assert "not legal, audit or compliance advice" in page_texts[n - 1], n
    assert re.search(rf"(?<!\d){posture['totals']['events']}(?!\d)", page_texts[2]), "events on the KPI page"
    # agent ids may wrap inside their cell: compare the raw text without whitespace
    raw = re.sub(r"\s", "", pdf_text(body, "-raw"))
    assert posture["agents"]
    for a in posture["agents"]:
        assert re.sub(r"\s", "", a["agent_id"]) in raw, a["agent_id"]
    # the agents table header row on every page holding agent rows
    first = posture["agents"][0]["agent_id"]
    agent_pages = [t for t in page_texts if "last_seen_at" in t or first in t]
    assert agent_pages
    raw_pages = [re.sub(r"\s", "", t) for t in pdf_text(body, "-raw").split("\f")]
    for rp in raw_pages:
        if any(re.sub(r"\s", "", a["agent_id"]) in rp for a in posture["agents"]):
            assert "agent_id" in rp and "last_seen_at" in rp
    assert sum(1 for rp in raw_pages if "last_seen_at" in rp) >= 1
    assert meta["as_of"] and meta["as_of"][:10] in text  # the cover


def test_pdf_render_is_deterministic(rc, rendered):
    """same as_of, same bytes: the PDF's dates are as_of, so a repeat finds the
    same artifact"""
    first = rendered[BOARD][0]
    again = render(rc.admin, "pdf_board_pack", "pdf")
    assert again["artifact_ref"] == first["artifact_ref"]


# --------------------------------------------------------------------------
# signed_json_evidence_packet: JWS verified with jose against the JWKS

PACKET = ("signed_json_evidence_packet", "json")
JWKS = "/.well-known/jwks.json"
VERIFY_JWS = os.path.join(REPO, "tests", "browser", "verify-jws.mjs")
PUBLIC_EVIDENCE_REF = re.compile(r"cavra://evidence/redacted/[0-9A-HJKMNP-TV-Z]{26}")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def canonical(obj):
    """RFC 8785 for the packet's JSON (strings, integers, null, objects, arrays)"""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify_jws(base_url, tmp_path, body, name="packet.json"):
    f = tmp_path / name
    f.write_bytes(body)
    return subprocess.run(["node", VERIFY_JWS, f"{base_url}{JWKS}", str(f)], capture_output=True, text=True,
                          timeout=60)


def test_signed_evidence_packet_verifies_with_jose(rendered, rc, base_url, tmp_path, sql):
    _, meta, content = rendered[PACKET]
    doc = json.loads(content.body)
    assert content.body == canonical(doc) + b"\n", "the artifact is canonical JSON"
    assert set(doc) == {"payload", "jws", "kid", "alg", "jwks_url"}
    assert doc["alg"] == "EdDSA" and doc["jwks_url"] == JWKS and re.fullmatch(r"[0-9a-f]{16}", doc["kid"])
    # the compact JWS: protected header, the payload's canonical bytes, a 64-byte Ed25519 signature
    header_b64, payload_b64, sig_b64 = doc["jws"].split(".")
    assert json.loads(b64url_decode(header_b64)) == {"alg": "EdDSA", "kid": doc["kid"], "cty": "json",
                                                     "typ": "aispm-evidence-packet+jws"}
    assert b64url_decode(payload_b64) == canonical(doc["payload"])
    assert len(b64url_decode(sig_b64)) == 64
    # the evidence key is published before the first packet
    jwks = Client(base_url).get(JWKS)
    assert jwks.status == 200, jwks.describe()
    keys = [k for k in jwks.json()["keys"] if k.get("kid") == doc["kid"]]
    assert len(keys) == 1 and keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519" and "d" not in keys[0]
    r = verify_jws(base_url, tmp_path, content.body)
    assert r.returncode == 0 and r.stdout.strip() == "OK", (r.returncode, r.stdout, r.stderr)

    p = doc["payload"]
    posture = rendered["posture"]
    assert p["schema_version"] == "aispm.signed_evidence_packet.v1"
    assert p["report_id"] == "signed_json_evidence_packet"
    assert p["tenant_ref"] == rc.tenant_ref and p["as_of"] == meta["as_of"] and p["period"] == meta["period"]
    s = p["evidence_summary"]
    assert s["events"] == posture["totals"]["events"]
    assert s["decisions"] == posture["decisions"]
    assert s["findings"]["total"] == posture["findings"]["total"]
    assert s["findings"]["by_severity"] == posture["findings"]["by_severity"]
    assert [(c["policy_pack"], c["events"], c["evidence_refs"], c["last_evidence_at"]) for c in s["controls"]] == \
        [(c["policy_pack"], c["events"], c["evidence_refs"], c["last_evidence_at"])
         for c in posture["control_coverage"]]
    # the chain head, its checkpoint and the recent events agree with the stored chain
    ch = p["evidence_chain"]
    tid = f"(SELECT id FROM aispm.tenants WHERE ref = {sql_str(rc.tenant_ref)})"
    head = ch["head"]
    assert head and head["seq"] > 0 and re.fullmatch(r"[0-9a-f]{64}", head["digest"])
    stored = sql(f"SELECT digest FROM aispm.evidence_links WHERE tenant_id = {tid} AND seq = {head['seq']}")
    assert stored.strip() == head["digest"]
    cp = ch["latest_checkpoint"]
    if cp is not None:
        assert cp["seq"] <= head["seq"] and cp["kid"] == doc["kid"] and cp["alg"] == "EdDSA"
        stored = sql(f"SELECT digest FROM aispm.evidence_checkpoints WHERE tenant_id = {tid} AND seq = {cp['seq']}")
        assert stored.strip() == cp["digest"]
    events = ch["recent_events"]
    assert 0 < len(events) <= ch["recent_events_limit"] == 100
    assert [e["seq"] for e in events] == list(range(head["seq"], head["seq"] - len(events), -1))
    for e in events:
        assert PUBLIC_EVIDENCE_REF.fullmatch(e["evidence_ref"]), e
        assert e["action"] and e["recorded_at"] <= p["as_of"]


def test_signed_evidence_packet_tampering_fails_verification(rendered, base_url, tmp_path):
    body = rendered[PACKET][2].body
    doc = json.loads(body)
    h, pl, sig = doc["jws"].split(".")
    # one character of the signature (mid-string: the last base64url character
    # also carries padding bits a decoder may ignore)
    i = len(sig) // 2
    bad_sig = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1:]
    bad = body.replace(doc["jws"].encode(), f"{h}.{pl}.{bad_sig}".encode())
    assert len(bad) == len(body) and bad != body
    r = verify_jws(base_url, tmp_path, bad, "bad-signature.json")
    assert r.returncode != 0 and "OK" not in r.stdout, (r.stdout, r.stderr)
    assert "signature verification failed" in r.stderr.lower(), r.stderr
    # one byte of the payload
    old = b'"schema_version":"aispm.signed_evidence_packet.v1"'
    assert body.count(old) == 1
    bad = body.replace(old, old[:-2] + b'2"')
    r = verify_jws(base_url, tmp_path, bad, "bad-payload.json")
    assert r.returncode != 0 and "OK" not in r.stdout, (r.stdout, r.stderr)
    assert "differs" in r.stderr, r.stderr
    # one character of the JWS payload segment (header and signature intact)
    j = len(pl) // 2
    bad_pl = pl[:j] + ("A" if pl[j] != "A" else "B") + pl[j + 1:]
    bad = body.replace(doc["jws"].encode(), f"{h}.{bad_pl}.{sig}".encode())
    r = verify_jws(base_url, tmp_path, bad, "bad-jws-payload.json")
    assert r.returncode != 0 and "OK" not in r.stdout, (r.stdout, r.stderr)


def test_signed_evidence_packet_holds_no_private_values(rendered, rc, canary):
    body = rendered[PACKET][2].body
    doc = json.loads(body)
    signed = b64url_decode(doc["jws"].split(".")[1])
    tenant_ulid = rc.tenant_ref.split(":", 1)[1].encode()
    for blob in (body, signed):
        assert canary.encode() not in blob
        assert b"enterprise-private://" not in blob and b"canary-render" not in blob
        assert b"payload_ref" not in blob and b"actor_ref" not in blob
        # full evidence refs name the tenant; only the redacted form may appear
        assert tenant_ulid not in blob.replace(rc.tenant_ref.encode(), b"")
        assert b"PRIVATE KEY" not in blob and b'"d":' not in blob
    refs = re.findall(rb"cavra://evidence/[^\"]*", body)
    assert refs and all(PUBLIC_EVIDENCE_REF.fullmatch(r.decode()) for r in refs)


def test_signed_evidence_packet_is_deterministic(rc, rendered):
    first = rendered[PACKET][0]
    again = render(rc.admin, *PACKET)
    assert again["render_ref"] != first["render_ref"]
    assert again["artifact_ref"] == first["artifact_ref"], "same data, same signed bytes, same artifact"


# --------------------------------------------------------------------------
# docx_audit_narrative: read back with python-docx

DOCX = ("docx_audit_narrative", "docx")
DOCX_HEADINGS = ["Scope and period", "Summary", "Control coverage", "Findings by severity and risk class",
                 "Evidence freshness", "Agents"]


@pytest.fixture(scope="module")
def narrative(rendered):
    _, meta, content = rendered[DOCX]
    assert content.body[:4] == b"PK\x03\x04"
    return docx.Document(io.BytesIO(content.body)), meta


def test_docx_headings_in_order_and_properties(narrative):
    d, meta = narrative
    heads = [(p.style.name, p.text) for p in d.paragraphs if p.style.name.startswith("Heading")]
    assert heads[0] == ("Heading 1", "DOCX Audit Narrative")  # the catalog title
    assert heads[1:] == [("Heading 2", h) for h in DOCX_HEADINGS]
    props = d.core_properties
    assert props.title == "DOCX Audit Narrative"
    as_of = datetime.fromisoformat(meta["as_of"].replace("Z", "+00:00"))
    assert props.created == as_of.replace(microsecond=0, tzinfo=None)


def test_docx_numbers_and_tables_equal_posture(narrative, rendered, formula_agent):
    d, _ = narrative
    posture = rendered["posture"]
    texts = [p.text for p in d.paragraphs]
    assert f"Events: {posture['totals']['events']}." in texts
    sev = posture["findings"]["by_severity"]
    assert f"Findings: {posture['findings']['total']}, of which high or critical: " \
           f"{sev['high'] + sev['critical']}." in texts
    tables = [[[c.text for c in r.cells] for r in t.rows] for t in d.tables]
    assert len(tables) == 4
    # Control coverage, Evidence freshness and Agents: the CSV exports' rows
    # (the CSV writer's apostrophe before formula-looking text aside)
    def plain(rows):
        return [[v[1:] if v.startswith("'") and v[1:2] in FORMULA_START else v for v in r] for r in rows]
    assert tables[0] == plain(csv_rows(rendered, "control_coverage_export"))
    assert [r[0] for r in tables[0][1:]] == [c["policy_pack"] for c in posture["control_coverage"]]
    for row, c in zip(tables[0][1:], posture["control_coverage"]):
        assert int(row[1]) == c["events"] and int(row[2]) == c["blocked"]
    assert tables[2] == plain(csv_rows(rendered, "evidence_freshness_export"))
    assert tables[3] == plain(csv_rows(rendered, "agent_risk_register"))
    assert formula_agent in [r[0] for r in tables[3]]
    assert [r[0] for r in tables[1][1:]] == \
        [f["risk_classification"] for f in posture["findings"]["by_risk_classification"]]


def test_docx_render_is_deterministic(rc, rendered):
    first = rendered[DOCX][0]
    again = render(rc.admin, *DOCX)
    assert again["artifact_ref"] == first["artifact_ref"]


# --------------------------------------------------------------------------
# grc_upload_package: a ZIP of the GRC artifacts, SHA256SUMS and manifest

GRC = ("grc_upload_package", "zip")
GRC_FILES = [
    ("control_coverage_export.csv", "control_coverage_export", "csv"),
    ("evidence_freshness_export.csv", "evidence_freshness_export", "csv"),
    ("agent_risk_register.csv", "agent_risk_register", "csv"),
    ("board_kpi_pack.json", "board_kpi_pack", "json"),
    ("xlsx_evidence_workbook.xlsx", "xlsx_evidence_workbook", "xlsx"),
]


@pytest.fixture(scope="module")
def grc_dir(rendered, tmp_path_factory):
    """the package downloaded, tested with `unzip -t` and extracted"""
    content = rendered[GRC][2]
    d = tmp_path_factory.mktemp("grc")
    pkg = d / "package.zip"
    pkg.write_bytes(content.body)
    t = subprocess.run(["unzip", "-t", str(pkg)], capture_output=True, text=True)
    assert t.returncode == 0, t.stdout + t.stderr
    out = d / "x"
    out.mkdir()
    x = subprocess.run(["unzip", "-q", str(pkg), "-d", str(out)], capture_output=True, text=True)
    assert x.returncode == 0, x.stdout + x.stderr
    with zipfile.ZipFile(io.BytesIO(content.body)) as z:
        assert z.namelist() == [f[0] for f in GRC_FILES] + ["manifest.json", "SHA256SUMS"]
    return out


def test_grc_package_checksums_verify(grc_dir):
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=grc_dir, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = [line.split("  ", 1)[1] for line in (grc_dir / "SHA256SUMS").read_text().splitlines()]
    assert listed == [f[0] for f in GRC_FILES] + ["manifest.json"]


def test_grc_package_manifest_matches_files(grc_dir, rendered):
    raw = (grc_dir / "manifest.json").read_bytes()
    m = json.loads(raw)
    assert raw == canonical(m), "manifest.json is canonical JSON"
    meta = rendered[GRC][1]
    assert m["package_type"] == "grc_upload"
    assert m["tenant_ref"] == rendered["posture"]["tenant_ref"]
    assert m["as_of"] == meta["as_of"] and m["period"] == meta["period"]
    assert [(f["name"], f["report_id"], f["format"]) for f in m["files"]] == GRC_FILES
    for f in m["files"]:
        body = (grc_dir / f["name"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(body).hexdigest() and f["size"] == len(body)


def test_grc_package_tampering_fails_checksums(grc_dir, tmp_path):
    import shutil
    t = tmp_path / "t"
    shutil.copytree(grc_dir, t)
    f = t / "agent_risk_register.csv"
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x01
    f.write_bytes(bytes(b))
    r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=t, capture_output=True, text=True)
    assert r.returncode != 0
    assert "agent_risk_register.csv: FAILED" in r.stdout


def test_grc_package_files_equal_standalone_renders(grc_dir, rendered):
    """same posture, same as_of: each file is the standalone report byte for byte"""
    as_of = rendered[GRC][1]["as_of"]
    for name, report_id, fmt in GRC_FILES:
        _, meta, content = rendered[(report_id, fmt)]
        assert meta["as_of"] == as_of, report_id
        assert (grc_dir / name).read_bytes() == content.body, name


def test_grc_package_is_deterministic(rc, rendered):
    first = rendered[GRC][0]
    again = render(rc.admin, *GRC)
    assert again["artifact_ref"] == first["artifact_ref"]
