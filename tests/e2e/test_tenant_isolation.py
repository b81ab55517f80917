"""Tenant isolation: tenant B's credentials (token and session) see and touch
only tenant B's data, whatever the request says about tenants.

Tenant A is the demo tenant "acme"; tenant B is created by the tenant_b
fixture. Every response B receives is recorded and finally searched for A's
tenant reference (and its ULID, which evidence refs embed)."""

import json
import secrets

import pytest

from .conftest import Client, audit_events, login, sql_str

HTML = {"Accept": "text/html"}
ORG_STEP = "/enterprise/aispm/reports/setup/steps/organization_profile"
REPORT = "agent_risk_register"


def org_settings(from_address):
    return {"CAVRA_REPORT_FROM_ADDRESS": from_address, "CAVRA_REPORT_DEFAULT_TIMEZONE": "UTC",
            "CAVRA_REPORT_RETENTION_DAYS": "365"}


def setup_values(state):
    return {f["name"]: f["value"] for s in state["steps"] for f in s["fields"]}


def catalog_enabled(client, report_id):
    r = client.get("/enterprise/aispm/reports/catalog")
    assert r.status == 200, r.describe()
    return {x["report_id"]: x["enabled"] for x in r.json()["reports"]}[report_id]


@pytest.fixture(scope="module")
def world(base_url, acme, tenant_b, sql):
    """A with a distinctive FROM_ADDRESS saved, and recorded B clients. A's
    organization step is put back as it was afterwards, so later suites (the
    browser tests walk the wizard) find the demo tenant unchanged."""
    w = type("World", (), {})()
    w.a = Client(base_url, token=acme.token_admin)
    before = w.a.get("/enterprise/aispm/reports/setup").json()
    org_before = next(s for s in before["steps"] if s["step_id"] == "organization_profile")
    w.a_address = f"iso-{secrets.token_hex(6)}@tenant-a.example"
    r = w.a.put(ORG_STEP, json_body={"settings": org_settings(w.a_address)})
    assert r.status == 200, r.describe()
    assert setup_values(r.json())["CAVRA_REPORT_FROM_ADDRESS"] == w.a_address
    w.a_ref = acme.tenant_ref
    w.a_ulid = acme.tenant_ref.split(":", 1)[1]
    w.b_ref = tenant_b.tenant_ref
    w.recorded = []
    w.b = Client(base_url, token=tenant_b.token_admin, recorder=w.recorded)
    w.b_session = login(base_url, tenant_b.admin_email, tenant_b.admin_password,
                        client=Client(base_url, recorder=w.recorded))
    yield w
    if org_before["completed"]:
        r = w.a.put(ORG_STEP, json_body={"settings": {f["name"]: f["value"] for f in org_before["fields"]}})
        assert r.status == 200, r.describe()
    else:
        names = ", ".join(sql_str(f["name"]) for f in org_before["fields"])
        sql(f"DELETE FROM aispm.settings WHERE name IN ({names}) AND tenant_id = "
            f"(SELECT id FROM aispm.tenants WHERE slug = 'acme')")
        sql("DELETE FROM aispm.setup_steps WHERE step_id = 'organization_profile' AND tenant_id = "
            "(SELECT id FROM aispm.tenants WHERE slug = 'acme')")


def assert_no_tenant_a(world, responses):
    for r in responses:
        blob = r.body.decode("utf-8", "replace") + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
        assert world.a_ulid not in blob, f"tenant A's ref leaked to tenant B: {r.describe()}"
        assert world.a_address not in blob, f"tenant A's setting leaked to tenant B: {r.describe()}"


def test_identity_is_b(world):
    for c in (world.b, world.b_session):
        me = c.get("/enterprise/aispm/me")
        assert me.status == 200, me.describe()
        assert me.json()["tenant_ref"] == world.b_ref


def test_catalog_is_per_tenant(world):
    r = world.b.get("/enterprise/aispm/reports/catalog")
    assert r.status == 200 and r.json()["tenant_ref"] == world.b_ref
    assert catalog_enabled(world.a, REPORT) is True
    try:
        # B disables a report with its token: only B's catalog changes
        r = world.b.put(f"/enterprise/aispm/reports/catalog/{REPORT}", json_body={"enabled": False})
        assert r.status == 200 and r.json()["tenant_ref"] == world.b_ref, r.describe()
        assert catalog_enabled(world.b, REPORT) is False
        assert catalog_enabled(world.a, REPORT) is True, "B's change reached A's catalog"
        a_all = world.a.get("/enterprise/aispm/reports/catalog").json()
        assert a_all["tenant_ref"] == world.a_ref and a_all["enabled_count"] == a_all["total"]
        # and with its session, through the portal form
        s = world.b_session
        r = s.post("/portal/catalog/board_kpi_pack", form={"enabled": "0", "_csrf": s.csrf}, headers=HTML)
        assert r.status == 303, r.describe()
        assert catalog_enabled(world.b, "board_kpi_pack") is False
        assert catalog_enabled(world.a, "board_kpi_pack") is True
        # B's session pages
        for path in ("/portal/", "/portal/catalog"):
            p = s.get(path, headers=HTML)
            assert p.status == 200, p.describe()
    finally:
        world.b.put(f"/enterprise/aispm/reports/catalog/{REPORT}", json_body={"enabled": True})
        world.b.put("/enterprise/aispm/reports/catalog/board_kpi_pack", json_body={"enabled": True})


def test_setup_state_is_per_tenant(world):
    r = world.b.get("/enterprise/aispm/reports/setup")
    assert r.status == 200, r.describe()
    st = r.json()
    assert st["tenant_ref"] == world.b_ref
    assert world.a_address not in r.text
    b_address = f"b-{secrets.token_hex(6)}@tenant-b.example"
    r = world.b.put(ORG_STEP, json_body={"settings": org_settings(b_address)})
    assert r.status == 200, r.describe()
    assert setup_values(r.json())["CAVRA_REPORT_FROM_ADDRESS"] == b_address
    # A keeps its own value
    a_state = world.a.get("/enterprise/aispm/reports/setup").json()
    assert a_state["tenant_ref"] == world.a_ref
    assert setup_values(a_state)["CAVRA_REPORT_FROM_ADDRESS"] == world.a_address
    assert b_address not in json.dumps(a_state)
    # the portal wizard of B
    s = world.b_session
    for path in ("/portal/setup/organization_profile", "/portal/setup/delivery_provider"):
        p = s.get(path, headers=HTML)
        assert p.status == 200, p.describe()
    p = s.get("/portal/setup", headers=HTML)
    assert p.status == 303 and p.header("Location").startswith("/portal/setup/"), p.describe()


def test_body_cannot_choose_the_tenant(world, acme, base_url, sql):
    a_id = int(sql("select id from aispm.tenants where slug = 'acme'").strip())
    b_address = f"body-{secrets.token_hex(6)}@tenant-b.example"
    for tenant_id in (a_id, str(a_id)):
        body = {"tenant_id": tenant_id, "tenant_ref": world.a_ref, "tenant": "acme", "tenant_slug": "acme",
                "settings": org_settings(b_address)}
        r = world.b.put(ORG_STEP, json_body=body)
        assert r.status == 200, r.describe()
        assert r.json()["tenant_ref"] == world.b_ref
    assert setup_values(world.b.get("/enterprise/aispm/reports/setup").json())[
        "CAVRA_REPORT_FROM_ADDRESS"] == b_address
    assert setup_values(world.a.get("/enterprise/aispm/reports/setup").json())[
        "CAVRA_REPORT_FROM_ADDRESS"] == world.a_address
    # tenant fields inside the settings object are not fields of the step
    r = world.b.put(ORG_STEP, json_body={"settings": {**org_settings(b_address), "tenant_ref": world.a_ref}})
    p = r.problem(422, "validation_failed")
    assert "tenant_ref" in p["errors"]

    # catalog toggle with A's tenant in the body changes B only
    try:
        r = world.b.put(f"/enterprise/aispm/reports/catalog/{REPORT}",
                        json_body={"enabled": False, "tenant_ref": world.a_ref, "tenant_id": a_id})
        assert r.status == 200 and r.json()["tenant_ref"] == world.b_ref, r.describe()
        assert catalog_enabled(world.a, REPORT) is True
        assert catalog_enabled(world.b, REPORT) is False
    finally:
        world.b.put(f"/enterprise/aispm/reports/catalog/{REPORT}", json_body={"enabled": True})

    # a token created with A's tenant in the body belongs to B
    r = world.b.post("/enterprise/aispm/tokens", json_body={"name": "tenant-in-body", "scopes": ["reports:read"],
                                                             "tenant_ref": world.a_ref, "tenant_id": a_id,
                                                             "user_ref": acme.user_ref})
    assert r.status == 201, r.describe()
    tok = r.json()["token"]
    me = Client(base_url, token=tok).get("/enterprise/aispm/me")
    assert me.status == 200 and me.json()["tenant_ref"] == world.b_ref
    assert me.json()["user_ref"] != acme.user_ref


def test_tokens_of_a_cannot_be_seen_or_revoked_by_b(world, base_url):
    a_tokens = world.a.get("/enterprise/aispm/tokens").json()["tokens"]
    a_refs = [t["token_ref"] for t in a_tokens if t["active"]]
    assert a_refs, "tenant A has no active token to attack"
    me_a = world.a.get("/enterprise/aispm/me").json()
    own_ref = me_a["token_ref"]
    assert own_ref in a_refs

    b_list = world.b.get("/enterprise/aispm/tokens")
    assert b_list.status == 200
    assert not set(a_refs) & {t["token_ref"] for t in b_list.json()["tokens"]}
    for ref in (own_ref, a_refs[-1]):
        world.b.delete(f"/enterprise/aispm/tokens/{ref}").problem(404, "not_found")
        s = world.b_session
        r = s.post(f"/portal/tokens/{ref}/revoke", form={"_csrf": s.csrf}, headers=HTML)
        assert r.status == 404, r.describe()
    # A's token still works and is still active
    assert world.a.get("/enterprise/aispm/me").status == 200
    after = {t["token_ref"]: t for t in world.a.get("/enterprise/aispm/tokens").json()["tokens"]}
    assert after[own_ref]["active"] is True and after[own_ref]["revoked_at"] is None
    assert world.b_session.get("/portal/tokens", headers=HTML).status == 200


def test_evidence_is_per_tenant(world, admin_cli, tenant_b):
    events = audit_events(world.b)
    assert events, "tenant B has no evidence at all"
    assert {e["event"]["tenant_ref"] for e in events} == {world.b_ref}
    actions = {e["event"]["action"] for e in events}
    assert {"tenant.created", "user.created", "token.created", "auth.login"} <= actions, actions
    for e in events:
        assert world.a_ulid not in e["event"]["evidence_ref"]
    v = world.b.get("/enterprise/aispm/audit/verify")
    assert v.status == 200, v.describe()
    assert v.json()["ok"] is True, v.json()
    a_v = world.a.get("/enterprise/aispm/audit/verify")
    assert a_v.status == 200 and a_v.json()["ok"] is True, a_v.describe()
    assert a_v.json()["head_digest"] != v.json()["head_digest"]
    p = world.b_session.get("/portal/audit", headers=HTML)
    assert p.status == 200, p.describe()
    # the CLI verifies B's chain on its own
    out = admin_cli.out("verify-audit", "--tenant", tenant_b.slug)
    assert out.startswith(f"{tenant_b.slug}: OK"), out


def test_nothing_of_a_reached_b(world):
    """runs last in this module: every response B received so far"""
    assert len(world.recorded) > 20, "the isolation tests did not run through the recorded clients"
    assert_no_tenant_a(world, world.recorded)
