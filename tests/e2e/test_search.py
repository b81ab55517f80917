"""Search and retrieval through nginx: POST /enterprise/aispm/reports/search,
POST .../retrievals and GET .../downloads/{token}, in two fresh tenants.

Covers: text search (title, report id, format, period date, tag; several
terms all match; LIKE wildcards in the query are literal) and filters
(report ids, formats, lifecycle states, tags, created_at range), newest
first with a cursor; a search never returns another tenant's items, and a
role sees only its audience (GRC analysts audit/GRC/risk-committee reports, evaluators community
reports) — the content route and retrievals refuse the others with 403
audience_restricted; results say whether they are downloadable and why not
(legal_hold_only mode, archived items); validation errors are field-level
422s; each search is evidence. A retrieval issues a download ref that works
once (second use 410 download_ref_used; of six racing requests exactly one
gets the bytes), only for the user it was issued to
(403), not after it expired (410), is stored only as a SHA-256, and whose
bytes hash to the artifact digest; issuing, redeeming and refusals are
evidence. The portal search page lists results with lifecycle badges and its
Download form redirects to a working single-use link. Every search and
retrieval projection validates against
aispm-report-search-retrieval.schema.json and holds no user address.
"""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import audit_events, hidden_inputs
from .retention_helpers import ARTIFACTS, RETRIEVALS, SEARCH, SEARCH_SCHEMA, FreshTenant, assert_valid, render


@pytest.fixture(scope="module")
def s(base_url, admin_cli):
    t = FreshTenant(base_url, admin_cli, ["tenant_admin", "grc_analyst", "evaluator"], "srch")
    admin = t["tenant_admin"].api
    t.art = {
        "brief": render(admin, "executive_risk_brief", "markdown"),   # cso/ciso, community
        "soc2": render(admin, "soc2_audit_summary", "markdown"),      # audit/grc, community
        "soc2html": render(admin, "soc2_audit_summary", "html"),      # audit/grc, community
        "workbook": render(admin, "xlsx_evidence_workbook", "xlsx"),  # audit/grc/..., enterprise
        "kpi": render(admin, "board_kpi_pack", "json"),               # board, community
    }
    other = FreshTenant(base_url, admin_cli, ["tenant_admin"], "srch-b")
    other.soc2 = render(other["tenant_admin"].api, "soc2_audit_summary", "markdown")
    t.other = other
    return t


def search(client, status=200, **body):
    r = client.post(SEARCH, json_body=body)
    assert r.status == status, r.describe()
    return r.json()


def refs(doc):
    return [x["report_ref"] for x in doc["results"]]


def validated(doc):
    assert_valid(SEARCH_SCHEMA, doc["projection"])
    assert [x["report_ref"] for x in doc["projection"]["results"]] == refs(doc)
    return doc


def test_search_finds_by_text_and_filters(s):
    admin = s["tenant_admin"].api
    a = s.art
    everything = validated(search(admin))
    assert set(refs(everything)) == {x["artifact_ref"] for x in a.values()}
    assert refs(everything) == sorted(refs(everything), reverse=True), "newest first"
    r0 = everything["results"][0]
    assert r0["download_allowed"] is True and r0["download_blocked_reason"] is None
    assert r0["lifecycle_state"] == "retained" and r0["evidence_ref"].startswith("cavra://evidence/redacted/")

    assert refs(search(admin, query="SOC 2-Style")) == [a["soc2html"]["artifact_ref"], a["soc2"]["artifact_ref"]]
    assert refs(search(admin, query="audit summary markdown")) == [a["soc2"]["artifact_ref"]]
    assert refs(search(admin, query="xlsx_evidence_workbook")) == [a["workbook"]["artifact_ref"]]
    day = a["kpi"]["period"]["end"][:10]
    assert set(refs(search(admin, query=day))) == set(refs(everything)), "period dates are searchable"
    assert refs(search(admin, query="exec%brief")) == [], "% is literal, not a wildcard"
    assert refs(search(admin, query="exec_tive")) == [], "_ is literal, not a wildcard"
    assert refs(search(admin, query="executive_risk")) == [a["brief"]["artifact_ref"]]

    f = search(admin, filters={"formats": ["markdown"]})
    assert set(refs(f)) == {a["brief"]["artifact_ref"], a["soc2"]["artifact_ref"]}
    f = validated(search(admin, filters={"report_ids": ["board_kpi_pack", "xlsx_evidence_workbook"],
                                         "lifecycle_states": ["retained"]}))
    assert set(refs(f)) == {a["kpi"]["artifact_ref"], a["workbook"]["artifact_ref"]}
    assert f["projection"]["query"]["filters"]["report_ids"] == ["board_kpi_pack", "xlsx_evidence_workbook"]
    assert set(refs(search(admin, filters={"tags": ["grc", "enterprise"]}))) == {a["workbook"]["artifact_ref"]}
    assert refs(search(admin, filters={"lifecycle_states": ["archived"]})) == []
    assert refs(search(admin, filters={"from": "2000-01-01T00:00:00Z", "to": "2000-12-31T00:00:00Z"})) == []


def test_search_pages_with_a_cursor(s):
    admin = s["tenant_admin"].api
    seen, body, pages = [], {"limit": 2}, 0
    while True:
        page = search(admin, **body)
        pages += 1
        seen += refs(page)
        if not page["next_cursor"]:
            break
        body = {"limit": 2, "cursor": page["next_cursor"]}
    assert pages == 3 and len(seen) == len(set(seen)) == len(s.art)


def test_search_never_crosses_tenants_or_audiences(s, base_url):
    a = s.art
    other = s.other["tenant_admin"].api
    theirs = refs(search(other))
    assert theirs == [s.other.soc2["artifact_ref"]]
    assert not set(theirs) & {x["artifact_ref"] for x in a.values()}
    assert refs(search(s["tenant_admin"].api, query="soc2_audit_summary markdown")) == [a["soc2"]["artifact_ref"]]
    other.get(f"{ARTIFACTS}/{a['soc2']['artifact_ref']}/content").problem(404, "not_found")
    other.post(RETRIEVALS, json_body={"report_ref": a["soc2"]["artifact_ref"]}).problem(404, "not_found")

    analyst = s["grc_analyst"].api
    seen = validated(search(analyst))
    assert set(refs(seen)) == {a["soc2"]["artifact_ref"], a["soc2html"]["artifact_ref"],
                               a["workbook"]["artifact_ref"]}
    assert seen["projection"]["query"]["rbac_scope"] == "catalog.read:audience_restricted"
    assert seen["projection"]["query"]["actor_ref"] == "role:grc_analyst"
    assert refs(search(analyst, query="Executive Risk Brief")) == []
    assert refs(search(analyst, filters={"report_ids": ["board_kpi_pack"]})) == []
    evaluator = s["evaluator"].api
    assert set(refs(search(evaluator))) == {a["brief"]["artifact_ref"], a["soc2"]["artifact_ref"],
                                            a["soc2html"]["artifact_ref"], a["kpi"]["artifact_ref"]}

    brief = a["brief"]["artifact_ref"]
    analyst.get(f"{ARTIFACTS}/{brief}/content").problem(403, "audience_restricted")
    p = analyst.post(RETRIEVALS, json_body={"report_ref": brief}).problem(403, "audience_restricted")
    assert p["projection"]["retrieval"]["access_decision"] == "deny"
    assert_valid(SEARCH_SCHEMA, p["projection"])
    assert analyst.get(f"{ARTIFACTS}/{a['soc2']['artifact_ref']}/content").status == 200
    blocked = [e["event"] for e in audit_events(s["tenant_admin"].api)
               if e["event"]["action"] == "retention.retrieval_blocked" and e["event"]["object_ref"] == brief]
    assert blocked and all(e["details"]["code"] == "audience_restricted" and e["actor"]["role"] == "grc_analyst"
                           for e in blocked)


def test_search_validation_is_field_level(s):
    admin = s["tenant_admin"].api
    cases = [
        ({"filters": {"colour": ["red"]}}, "filters.colour"),
        ({"filters": {"formats": ["exe"]}}, "filters.formats"),
        ({"filters": {"lifecycle_states": ["gone"]}}, "filters.lifecycle_states"),
        ({"filters": {"from": "yesterday"}}, "filters.from"),
        ({"query": "a b c d e"}, "query"),
        ({"query": "x" * 201}, "query"),
        ({"retention_mode": "all"}, "retention_mode"),
        ({"limit": 0}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"tenant_ref": s.other.tenant_ref}, "tenant_ref"),
    ]
    for body, field in cases:
        p = admin.post(SEARCH, json_body=body).problem(422, "validation_failed")
        assert field in p["errors"], (body, p)


def test_results_say_why_they_cannot_be_downloaded(s, sql):
    admin = s["tenant_admin"].api
    assert refs(search(admin, retention_mode="legal_hold_only")) == []
    # the other tenant's artifact is archived by a sweep of that tenant only
    out = s.other.sweep(days_ahead=400)
    assert out["archived"] == 1
    o = s.other["tenant_admin"].api
    doc = validated(search(o, retention_mode="include_expired_metadata"))
    assert doc["results"][0]["lifecycle_state"] == "archived"
    assert doc["results"][0]["download_allowed"] is False
    assert doc["results"][0]["download_blocked_reason"] == "archived_past_retention"
    assert doc["projection"]["retrieval"]["access_decision"] == "expired"
    assert search(admin)["results"][0]["download_allowed"] is True, "the first tenant is untouched"
    assert refs(search(o, filters={"lifecycle_states": ["archived"]})) == [s.other.soc2["artifact_ref"]]
    assert refs(search(o, filters={"lifecycle_states": ["retained", "expired"]})) == []

    # expiry passed but no sweep yet: "expired", and not retrievable. The job
    # worker's own sweep (once a minute, real clock) may archive it in
    # between; then it must say so.
    reg = render(admin, "agent_risk_register", "csv")["artifact_ref"]
    sql(f"UPDATE aispm.retention_items SET expires_at = '2001-01-01 00:00:00' WHERE object_ref = '{reg}'")
    hit = search(admin, filters={"lifecycle_states": ["expired", "archived"]})
    assert refs(hit) == [reg]
    state = hit["results"][0]["lifecycle_state"]
    code = {"expired": "expired", "archived": "archived_past_retention"}[state]
    assert hit["results"][0]["download_blocked_reason"] == code
    c = admin.get(f"{ARTIFACTS}/{reg}/content")
    assert c.status == 410 and c.json()["code"] in ("expired", "archived_past_retention"), c.describe()
    assert refs(search(admin, filters={"lifecycle_states": ["retained"]})) == refs(search(admin))[1:]


def test_download_ref_works_once_for_its_owner(s, sql):
    admin, analyst = s["tenant_admin"].api, s["grc_analyst"].api
    soc2 = s.art["soc2"]
    r = admin.post(RETRIEVALS, json_body={"report_ref": soc2["artifact_ref"]})
    assert r.status == 201, r.describe()
    body = r.json()
    assert body["single_use"] is True and body["download_url"].startswith("/enterprise/aispm/reports/downloads/dl_")
    proj = body["projection"]
    assert_valid(SEARCH_SCHEMA, proj)
    assert proj["retrieval"]["access_decision"] == "allow"
    assert proj["retrieval"]["retrieval_ref"] == body["retrieval_ref"]
    assert proj["retrieval"]["download_url_ref"].startswith("enterprise-private://download-url/")
    assert body["download_url"].rsplit("/", 1)[1] not in str(proj), "the projection never holds the URL"
    token = body["download_url"].rsplit("/", 1)[1]
    stored = sql(f"SELECT token_hash FROM aispm.download_refs WHERE ref = '{body['retrieval_ref']}'").strip()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert sql(f"SELECT COUNT(*) FROM aispm.download_refs WHERE token_hash = '{token}'").strip() == "0"

    analyst.get(body["download_url"]).problem(403, "download_ref_not_yours")
    d = admin.get(body["download_url"])
    assert d.status == 200, d.describe()
    assert hashlib.sha256(d.body).hexdigest() == soc2["digest"] == d.header("X-Artifact-SHA256")
    assert "attachment" in d.header("Content-Disposition")
    admin.get(body["download_url"]).problem(410, "download_ref_used")
    admin.get("/enterprise/aispm/reports/downloads/dl_" + "A" * 43).problem(404, "not_found")
    admin.get("/enterprise/aispm/reports/downloads/nonsense").problem(404, "not_found")

    r2 = admin.post(RETRIEVALS, json_body={"report_ref": soc2["artifact_ref"]}).json()
    sql(f"UPDATE aispm.download_refs SET expires_at = '2000-01-01 00:00:00' WHERE ref = '{r2['retrieval_ref']}'")
    admin.get(r2["download_url"]).problem(410, "download_ref_expired")
    admin.post(RETRIEVALS, json_body={}).problem(422, "validation_failed")

    events = audit_events(admin)
    by_action = {}
    for e in events:
        by_action.setdefault(e["event"]["action"], []).append(e["event"])
    assert any(e["object_ref"] == soc2["artifact_ref"] for e in by_action["retrieval.issued"])
    assert any(e["object_ref"] == body["retrieval_ref"] for e in by_action["retrieval.redeemed"])
    codes = {e["details"]["code"] for e in by_action["retrieval.download_refused"]}
    assert codes >= {"download_ref_not_yours", "download_ref_used", "download_ref_expired"}
    assert any(e["object_ref"] == soc2["artifact_ref"] for e in by_action["report.artifact_downloaded"])
    assert by_action["retrieval.searched"][0]["details"]["query_sha256"]


def test_racing_redemptions_succeed_once(s):
    admin = s["tenant_admin"].api
    url = admin.post(RETRIEVALS, json_body={"report_ref": s.art["workbook"]["artifact_ref"]}).json()["download_url"]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(lambda _: admin.get(url).status, range(6)))
    assert statuses == [200, 410, 410, 410, 410, 410], statuses


def test_portal_search_page_and_download(s):
    c = s.portal("tenant_admin")
    page = c.get("/portal/search?q=audit&format=markdown", headers={"Accept": "text/html"})
    assert page.status == 200, page.describe()
    soc2 = s.art["soc2"]["artifact_ref"]
    assert soc2 in page.text and s.art["brief"]["artifact_ref"] not in page.text
    assert "lifecycle-retained" in page.text
    assert hidden_inputs(page.text, "report_ref") == [soc2]
    assert 'href="/portal/search"' in page.text, "navigation item"
    nocsrf = c.post("/portal/search/retrieve", form={"report_ref": soc2}, headers={"Accept": "text/html"})
    assert nocsrf.status == 403
    r = c.post("/portal/search/retrieve", form={"report_ref": soc2, "_csrf": c.csrf}, headers={"Accept": "text/html"})
    assert r.status == 303 and r.header("Location").startswith("/enterprise/aispm/reports/downloads/dl_"), r.describe()
    d = c.get(r.header("Location"))
    assert d.status == 200 and hashlib.sha256(d.body).hexdigest() == s.art["soc2"]["digest"]
    assert c.get(r.header("Location")).status == 410
    bad = c.get("/portal/search?format=exe", headers={"Accept": "text/html"})
    assert bad.status == 422 and "text/html" in bad.header("Content-Type")


def test_search_projections_hold_no_private_values(s):
    for role in ("tenant_admin", "grc_analyst", "evaluator"):
        p = s[role]
        r = p.api.post(SEARCH, json_body={"query": "audit"})
        assert r.status == 200
        text = str(r.json()["projection"])
        for q in s.users.values():
            assert q.email not in text and q.user_ref not in text
