"""CSRF protection of cookie sessions, token scopes, role checks and the API
token lifecycle (shown once, stored as a hash, revocable, expiring)."""

import hashlib
import secrets

from .conftest import Client, audit_events, hidden_inputs, login, sql_str

HTML = {"Accept": "text/html"}
REPORT = "evidence_freshness_export"
CATALOG_PUT = f"/enterprise/aispm/reports/catalog/{REPORT}"


def enabled_in(client, report_id):
    r = client.get("/enterprise/aispm/reports/catalog")
    assert r.status == 200, r.describe()
    for rep in r.json()["reports"]:
        if rep["report_id"] == report_id:
            return rep["enabled"]
    raise AssertionError(f"{report_id} missing from the catalog")


def other_token(tok):
    """a well-formed token that is not tok"""
    while True:
        t = secrets.token_urlsafe(32)[:43]
        if t != tok and len(t) == 43:
            return t


def test_cookie_state_change_needs_the_session_csrf_token(base_url, demo_logins, acme):
    email, password = demo_logins["tenant_admin"]
    c = login(base_url, email, password)
    admin = Client(base_url, token=acme.token_admin)
    assert enabled_in(admin, REPORT) is True
    try:
        # no token
        c.put(CATALOG_PUT, json_body={"enabled": False}).problem(403, "csrf_failed")
        # a wrong token, in the header and in a form field
        c.put(CATALOG_PUT, json_body={"enabled": False}, headers={"X-CSRF-Token": other_token(c.csrf)}).problem(
            403, "csrf_failed")
        c.put(CATALOG_PUT, json_body={"enabled": False}, headers={"X-CSRF-Token": ""}).problem(403, "csrf_failed")
        c.put(CATALOG_PUT, json_body={"enabled": False}, headers={"X-CSRF-Token": c.csrf[:-2]}).problem(
            403, "csrf_failed")
        r = c.post(f"/portal/catalog/{REPORT}", form={"enabled": "0", "_csrf": other_token(c.csrf)}, headers=HTML)
        assert r.status == 403, r.describe()
        # another session's token does not work either
        other = login(base_url, email, password)
        assert other.csrf != c.csrf
        c.put(CATALOG_PUT, json_body={"enabled": False}, headers={"X-CSRF-Token": other.csrf}).problem(
            403, "csrf_failed")
        assert enabled_in(admin, REPORT) is True, "a refused request changed the catalog"

        # the right token in the header
        r = c.put(CATALOG_PUT, json_body={"enabled": False}, headers={"X-CSRF-Token": c.csrf})
        assert r.status == 200, r.describe()
        assert enabled_in(admin, REPORT) is False
        # the right token as the form field of a portal form
        r = c.post(f"/portal/catalog/{REPORT}", form={"enabled": "1", "_csrf": c.csrf}, headers=HTML)
        assert r.status == 303 and r.header("Location") == "/portal/catalog", r.describe()
        assert enabled_in(admin, REPORT) is True
    finally:
        admin.put(CATALOG_PUT, json_body={"enabled": True})


def test_portal_token_form_needs_csrf(base_url, demo_logins):
    email, password = demo_logins["report_operator"]
    c = login(base_url, email, password)
    name = f"csrf-{secrets.token_hex(4)}"
    form = {"name": name, "scope_reports_read": "1", "ttl_days": "7"}

    def names():
        r = c.get("/enterprise/aispm/tokens")
        assert r.status == 200, r.describe()
        return [t["name"] for t in r.json()["tokens"]]

    r = c.post("/portal/tokens", form=form, headers=HTML)
    assert r.status == 403, r.describe()
    r = c.post("/portal/tokens", form={**form, "_csrf": other_token(c.csrf)}, headers=HTML)
    assert r.status == 403, r.describe()
    assert name not in names(), "a token was created without a valid CSRF token"

    r = c.post("/portal/tokens", form={**form, "_csrf": c.csrf}, headers=HTML)
    assert r.status == 201, r.describe()
    assert names().count(name) == 1
    assert r.header("Cache-Control") == "no-store"
    # the page still carries the session's token for the next form
    csrf_inputs = hidden_inputs(r.text, "_csrf")
    assert csrf_inputs and set(csrf_inputs) == {c.csrf}


def test_bearer_tokens_need_no_csrf_but_a_scope(base_url, acme):
    admin = Client(base_url, token=acme.token_admin)
    r = admin.put(CATALOG_PUT, json_body={"enabled": True})
    assert r.status == 200, r.describe()

    read_only = Client(base_url, token=acme.token_read)
    assert read_only.get("/enterprise/aispm/reports/catalog").status == 200
    me = read_only.get("/enterprise/aispm/me").json()
    assert me["scopes"] == "reports:read" and me["auth"] == "token"
    read_only.put(CATALOG_PUT, json_body={"enabled": False}).problem(403, "insufficient_scope")
    read_only.put("/enterprise/aispm/reports/setup/steps/organization_profile",
                  json_body={"settings": {}}).problem(403, "insufficient_scope")
    read_only.get("/enterprise/aispm/tokens").problem(403, "insufficient_scope")
    read_only.post("/enterprise/aispm/tokens", json_body={"name": "x", "scopes": ["reports:read"]}).problem(
        403, "insufficient_scope")
    assert enabled_in(admin, REPORT) is True


def test_token_cannot_mint_wider_scopes(base_url, admin_cli, acme):
    admin_only = Client(base_url, token=admin_cli.create_token("acme", acme.admin_email, "admin", name="e2e-adm"))
    admin_only.post("/enterprise/aispm/tokens", json_body={"name": "wider", "scopes": ["admin", "reports:read"]}
                    ).problem(403, "insufficient_scope")
    r = admin_only.post("/enterprise/aispm/tokens", json_body={"name": "same", "scopes": ["admin"], "ttl_days": 1})
    assert r.status == 201, r.describe()


def test_role_is_checked_before_anything_else(base_url, admin_cli, demo_logins):
    email, password = demo_logins["approver"]
    # an approver cannot hold the admin scope: refused at creation
    p = admin_cli.run("create-token", "--tenant", "acme", "--user", email, "--scopes", "admin", check=False)
    assert p.returncode != 0 and not p.stdout.strip().startswith("aispm_")
    auditor = Client(base_url, token=admin_cli.create_token("acme", email, "reports:read", name="e2e-approver"))
    assert auditor.get("/enterprise/aispm/audit/verify").status == 200
    settings = {"CAVRA_REPORT_FROM_ADDRESS": "auditor@acme.example", "CAVRA_REPORT_DEFAULT_TIMEZONE": "UTC",
                "CAVRA_REPORT_RETENTION_DAYS": "30"}
    auditor.put("/enterprise/aispm/reports/setup/steps/organization_profile",
                json_body={"settings": settings}).problem(403, "forbidden")
    auditor.put(CATALOG_PUT, json_body={"enabled": False}).problem(403, "forbidden")
    auditor.get("/enterprise/aispm/reports/setup").problem(403, "forbidden")
    # the same role through a session, with a valid CSRF token
    s = login(base_url, email, password)
    s.put("/enterprise/aispm/reports/setup/steps/organization_profile", json_body={"settings": settings},
          headers={"X-CSRF-Token": s.csrf}).problem(403, "forbidden")
    r = s.post("/portal/setup/organization_profile", form={**settings, "_csrf": s.csrf}, headers=HTML)
    assert r.status == 403, r.describe()
    r = s.get("/portal/tokens", headers=HTML)
    assert r.status == 403, r.describe()


def test_api_token_lifecycle(base_url, acme, sql, state_dir):
    admin = Client(base_url, token=acme.token_admin)
    name = f"life-{secrets.token_hex(4)}"
    r = admin.post("/enterprise/aispm/tokens", json_body={"name": name, "scopes": ["reports:read"], "ttl_days": 5})
    assert r.status == 201, r.describe()
    assert r.header("Cache-Control") == "no-store"
    created = r.json()
    token, ref = created["token"], created["token_ref"]
    assert token.startswith("aispm_") and len(token) == 49
    assert ref.startswith("token:")

    # shown once: the list never contains the secret
    lst = admin.get("/enterprise/aispm/tokens")
    assert lst.status == 200
    assert token not in lst.text and token[6:] not in lst.text
    mine = [t for t in lst.json()["tokens"] if t["token_ref"] == ref]
    assert len(mine) == 1 and "token" not in mine[0]
    assert mine[0]["active"] is True and mine[0]["scopes"] == "reports:read" and mine[0]["name"] == name

    # the database holds its SHA-256, never the plaintext
    hashes = sql("select token_hash from aispm.api_tokens")
    assert token not in hashes and token[6:] not in hashes
    assert hashlib.sha256(token.encode()).hexdigest() in hashes.split()
    row = sql(f"select * from aispm.api_tokens where ref = {sql_str(ref)}")
    assert row.strip() and token[6:] not in row
    # nor does the evidence chain or the log
    assert token[6:] not in admin.get("/enterprise/aispm/audit/events?limit=500").text
    with open(f"{state_dir}/logs/aispm.log", "rb") as f:
        assert token[6:].encode() not in f.read()
    assert any(e["event"]["action"] == "token.created" and e["event"]["object_ref"] == ref
               for e in audit_events(admin))

    user = Client(base_url, token=token)
    me = user.get("/enterprise/aispm/me")
    assert me.status == 200 and me.json()["token_ref"] == ref

    # revoked: 401 from then on
    r = admin.delete(f"/enterprise/aispm/tokens/{ref}")
    assert r.status == 204, r.describe()
    assert r.body == b""
    user.get("/enterprise/aispm/me").problem(401, "unauthenticated")
    assert user.get("/enterprise/aispm/reports/catalog").status == 401
    assert admin.delete(f"/enterprise/aispm/tokens/{ref}").problem(404, "not_found")
    listed = [t for t in admin.get("/enterprise/aispm/tokens").json()["tokens"] if t["token_ref"] == ref]
    assert listed[0]["active"] is False and listed[0]["revoked_at"]
    assert any(e["event"]["action"] == "token.revoked" and e["event"]["object_ref"] == ref
               for e in audit_events(admin))


def test_expired_token_is_401(base_url, admin_cli, acme, sql):
    token = admin_cli.create_token("acme", acme.admin_email, "reports:read", name="e2e-expiring", ttl_days=1)
    c = Client(base_url, token=token)
    assert c.get("/enterprise/aispm/reports/catalog").status == 200
    digest = hashlib.sha256(token.encode()).hexdigest()
    sql("update aispm.api_tokens set expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
        f"where token_hash = {sql_str(digest)}")
    c.get("/enterprise/aispm/reports/catalog").problem(401, "unauthenticated")
    c.get("/enterprise/aispm/me").problem(401, "unauthenticated")


def test_malformed_credentials_are_401(base_url):
    c = Client(base_url)
    for auth in ("Bearer aispm_" + "A" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "):
        r = c.get("/enterprise/aispm/me", headers={"Authorization": auth})
        r.problem(401, "unauthenticated")
    # a forged session cookie is simply "not signed in"
    c.cookies["aispm_session"] = "A" * 43
    c.get("/enterprise/aispm/me").problem(401, "unauthenticated")
