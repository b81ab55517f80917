"""Delivery audit exports under retention, through nginx, in a fresh tenant
of its own (the retention sweep runs with --tenant).

Covers: POST /enterprise/aispm/reports/delivery-audit/exports builds a JSONL
export whose lines each validate against the public delivery-audit-event
schema and are exactly the tenant's events in [since, until) (count and ids,
also with an action filter); a CSV export parses with Python's csv module,
one row per event; an Idempotency-Key repeats the first export (200) and
refuses different parameters (409); the export is a retention item of kind
delivery_audit_export whose expiry is its class's days after creation, with
evidence delivery_audit.exported; once the sweep archived it the content
answers 410 archived_past_retention (blocked retrieval evidenced); the
recipient address of a send (a canary) appears in no export or metadata; a
GRC analyst may download it, a report operator (no audit.read) may not create
one;
invalid requests answer 422 with field errors; the deliveries page's
"Export delivery audit" form (CSRF-checked) creates a CSV export and redirects
to its download.
"""

import csv
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from .conftest import audit_events, rand, scrape_csrf
from .retention_helpers import API, FreshTenant, assert_valid, item, render

EXPORTS = f"{API}/delivery-audit/exports"
EVENT_SCHEMA = "aispm-report-delivery-audit-event.schema.json"


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(s):
    return datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def all_events(client):
    out, cursor = [], None
    while True:
        r = client.get(f"{API}/delivery-audit?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status == 200, r.describe()
        out += r.json()["audit_events"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


@pytest.fixture(scope="module")
def x(base_url, admin_cli):
    t = FreshTenant(base_url, admin_cli, ["tenant_admin", "grc_analyst", "report_operator"], "dax")
    admin = t["tenant_admin"].api
    t.since = datetime.now(timezone.utc) - timedelta(minutes=5)
    art = render(admin, "control_coverage_export", "csv")
    t.canary = f"canary-{rand(8)}@{t.slug}.example"
    r = admin.post(f"{API}/send", json_body={"artifact_ref": art["artifact_ref"], "recipients": [t.canary],
                                             "groups": [], "channels": ["portal"]})
    assert r.status in (202, 403), r.describe()
    t.until = datetime.now(timezone.utc) + timedelta(minutes=5)
    t.events = all_events(admin)
    assert len(t.events) >= 2, t.events  # the render and the send
    return t


def content(client, ref):
    r = client.get(f"{EXPORTS}/{ref}/content")
    assert r.status == 200, r.describe()
    assert hashlib.sha256(r.body).hexdigest() == r.header("X-Export-SHA256")
    return r


def test_jsonl_export_holds_the_range_as_public_projections(x):
    admin = x["tenant_admin"].api
    body = {"since": iso(x.since), "until": iso(x.until), "format": "jsonl"}
    r = admin.post(EXPORTS, json_body=body, headers={"Idempotency-Key": f"dax-{x.slug}"})
    assert r.status == 201, r.describe()
    meta = r.json()
    assert meta["export_ref"].startswith("audit-export:") and meta["format"] == "jsonl"
    got = content(admin, meta["export_ref"])
    assert meta["digest"] == hashlib.sha256(got.body).hexdigest() and meta["size"] == len(got.body)
    lines = got.text.splitlines()
    for line in lines:
        assert_valid(EVENT_SCHEMA, json.loads(line))
    expected = [e for e in x.events if x.since <= parse(e["audit_event"]["occurred_at"]) < x.until]
    assert len(lines) == len(expected) == meta["event_count"] == len(x.events)
    assert sorted(json.loads(s)["audit_event"]["audit_event_id"] for s in lines) == \
        sorted(e["audit_event"]["audit_event_id"] for e in expected)
    assert x.canary not in got.text and x.canary not in r.text
    # the same key and body repeats the export; other parameters conflict
    again = admin.post(EXPORTS, json_body=body, headers={"Idempotency-Key": f"dax-{x.slug}"})
    assert again.status == 200 and again.json()["export_ref"] == meta["export_ref"], again.describe()
    admin.post(EXPORTS, json_body={**body, "format": "csv"},
               headers={"Idempotency-Key": f"dax-{x.slug}"}).problem(409, "idempotency_key_reused")
    # an action filter, and a range before everything
    r = admin.post(EXPORTS, json_body={**body, "action": "render"})
    assert r.status == 201, r.describe()
    lines = content(admin, r.json()["export_ref"]).text.splitlines()
    renders = [e for e in x.events if e["audit_event"]["action"] == "render"]
    assert renders and len(lines) == len(renders) == r.json()["event_count"]
    assert all(json.loads(s)["audit_event"]["action"] == "render" for s in lines)
    r = admin.post(EXPORTS, json_body={**body, "until": iso(x.since - timedelta(minutes=1)),
                                       "since": iso(x.since - timedelta(hours=1))})
    assert r.status == 201 and r.json()["event_count"] == 0, r.describe()
    # a GRC analyst (retention audience restricted to audit/grc reports) may
    # read it; a role without audit.read may not even create one
    assert content(x["grc_analyst"].api, meta["export_ref"]).body == got.body
    x["report_operator"].api.post(EXPORTS, json_body=body).problem(403)
    x.jsonl = meta


def test_csv_export_parses_one_row_per_event(x):
    admin = x["tenant_admin"].api
    r = admin.post(EXPORTS, json_body={"since": iso(x.since), "until": iso(x.until), "format": "csv"})
    assert r.status == 201, r.describe()
    got = content(admin, r.json()["export_ref"])
    assert got.header("Content-Type").startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text, newline="")))
    assert len(rows) == len(x.events) == r.json()["event_count"]
    ids = {e["audit_event"]["audit_event_id"]: e for e in x.events}
    for row in rows:
        e = ids[row["audit_event_id"]]
        assert row["action"] == e["audit_event"]["action"] and row["status"] == e["audit_event"]["status"]
        assert int(row["recipient_count"]) == e["recipient_summary"]["recipient_count"]
    assert x.canary not in got.text


def test_invalid_requests_answer_422(x):
    admin = x["tenant_admin"].api
    p = admin.post(EXPORTS, json_body={"since": "yesterday", "until": iso(x.until), "format": "xml",
                                       "action": "nope"}).problem(422, "validation_failed")
    assert {"since", "format", "action"} <= set(p["errors"]), p
    p = admin.post(EXPORTS, json_body={"since": iso(x.until), "until": iso(x.since),
                                       "format": "csv"}).problem(422, "validation_failed")
    assert "until" in p["errors"], p


def test_portal_button_exports_and_downloads(x):
    p = x.portal("tenant_admin")
    html = {"Accept": "text/html"}
    r = p.get("/portal/deliveries", headers=html)
    assert r.status == 200 and "Export delivery audit" in r.text, r.describe()
    form = {"_csrf": scrape_csrf(r), "days": "7", "format": "csv"}
    assert p.post("/portal/deliveries/audit-export", form={"days": "7", "format": "csv"},
                  headers=html).status == 403, "a form without its CSRF token is refused"
    r = p.post("/portal/deliveries/audit-export", form=form, headers=html)
    assert r.status == 303, r.describe()
    loc = r.header("Location")
    assert loc.startswith(f"{EXPORTS}/audit-export:") and loc.endswith("/content"), loc
    got = p.get(loc)
    assert got.status == 200, got.describe()
    rows = list(csv.DictReader(io.StringIO(got.text, newline="")))
    assert len(rows) == len(all_events(x["tenant_admin"].api)) and x.canary not in got.text


def test_export_is_retained_and_410_once_archived(x):
    admin = x["tenant_admin"].api
    ref = x.jsonl["export_ref"]
    it = item(admin, ref)
    assert it["object_kind"] == "delivery_audit_export" and it["lifecycle_state"] == "retained", it
    classes = admin.get(f"{API}/retention/classes").json()["classes"]
    cls = [c for c in classes if c["object_kind"] == "delivery_audit_export"][0]
    assert it["retention_class"] == cls["name"] == x.jsonl["retention_class"]
    assert parse(it["expires_at"]) - parse(it["created_at"]) == timedelta(days=cls["days"])
    assert it["digest"] == x.jsonl["digest"]
    evs = [e["event"] for e in audit_events(admin) if e["event"]["object_ref"] == ref]
    assert [e["action"] for e in evs].count("delivery_audit.exported") == 1
    assert x.canary not in json.dumps(evs)
    listed = admin.get(EXPORTS).json()["exports"]
    assert ref in [e["export_ref"] for e in listed]

    counts = x.sweep(days_ahead=cls["days"] + 2)
    assert counts["archived"] >= 1, counts
    assert item(admin, ref)["lifecycle_state"] == "archived"
    admin.get(f"{EXPORTS}/{ref}/content").problem(410, "archived_past_retention")
    assert admin.get(f"{EXPORTS}/{ref}").json()["lifecycle_state"] == "archived"
    assert [e for e in audit_events(admin) if e["event"]["action"] == "retention.retrieval_blocked"
            and e["event"]["object_ref"] == ref
            and e["event"]["details"]["route"] == "delivery_audit_export_content"]
