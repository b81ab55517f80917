"""Malformed and refused requests, sent through nginx: each is answered with
its 4xx, application/problem+json and the stable code, never a 5xx.

Writes go to tenant B (its admin token) so the demo tenant is not changed."""

import http.client
import json
import os
import re
import secrets
import urllib.parse

import pytest

from .conftest import PROBLEM_JSON, Client, Response, audit_events, hidden_inputs, login, read_file_bytes

CATALOG = "/enterprise/aispm/reports/catalog"
CATALOG_PUT = f"{CATALOG}/executive_risk_brief"
ORG_STEP = "/enterprise/aispm/reports/setup/steps/organization_profile"
PROVIDER_STEP = "/enterprise/aispm/reports/setup/steps/delivery_provider"
HTML = {"Accept": "text/html"}

RESPONSES = []  # every response of this module, checked for 5xx at the end


@pytest.fixture
def b_admin(base_url, tenant_b):
    return Client(base_url, token=tenant_b.token_admin, recorder=RESPONSES)


@pytest.fixture
def anon(base_url):
    return Client(base_url, recorder=RESPONSES)


def raw_request(base_url, method, path, body, headers, chunked=False):
    """sends a (large) body, tolerating a server that answers before reading it all"""
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        try:
            if chunked:
                chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
                conn.request(method, path, body=chunks, headers=headers, encode_chunked=True)
            else:
                conn.request(method, path, body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the refusal may arrive before the body is sent; read it below
        r = conn.getresponse()
        resp = Response(method, path, r.status, r.reason, r.headers, r.read())
    finally:
        conn.close()
    RESPONSES.append(resp)
    return resp


def nginx_body_limit(state_dir):
    """client_max_body_size of the rendered site configuration, in bytes"""
    path = os.path.join(state_dir, "nginx", "aispm-site.conf")
    text = read_file_bytes(path).decode()
    assert text, f"no rendered nginx site at {path}"
    m = re.search(r"^\s*client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", text, re.M)
    assert m, "client_max_body_size is not set in the nginx site"
    mult = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2).lower()]
    return int(m.group(1)) * mult


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize("body", [
    b'{"enabled": tru',
    b'{"enabled": true} trailing',
    b'{"enabled": true,}',
    b"{'enabled': true}",
    b'{"enabled": true}{"enabled": false}',
    b'[1, 2',
    b'',
    b'{"enabled": NaN}',
    b'{"enabled": true, "n": -Infinity}',
    b'{"enabled": true, "n": 1.}',
    b'{"enabled": true, "s": "tab\there"}',
], ids=["truncated", "trailing", "trailing-comma", "single-quotes", "two-values", "open-array", "empty", "nan",
        "infinity", "trailing-dot", "raw-control-char"])
def test_malformed_json_is_400(b_admin, body):
    r = b_admin.put(CATALOG_PUT, body=body, content_type="application/json")
    r.problem(400, "malformed_json")


def test_malformed_json_on_every_json_route(b_admin):
    b_admin.post("/enterprise/aispm/tokens", body=b'{"name":', content_type="application/json").problem(
        400, "malformed_json")
    b_admin.put(ORG_STEP, body=b'{"settings": {', content_type="application/json").problem(400, "malformed_json")


@pytest.mark.parametrize("body", [
    b'{"enabled": true}',
    b' \r\n\t{ "enabled" : true } \n',
    b'{"enabled": true, "x": [1, -0, -0.5e+3, 2E-2, 10e1, "a\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00", {"k": null},'
    b' false, [], {}], "y": {"": ""}}',
    '{"enabled": true, "note": "gr\u00fc\u00dfe \u2603 \U0001F600"}'.encode("utf-8"),
], ids=["plain", "whitespace", "every-token", "utf8"])
def test_well_formed_json_is_accepted(b_admin, body):
    r = b_admin.put(CATALOG_PUT, body=body, content_type="application/json")
    assert r.status == 200, r.describe()


def test_json_that_is_not_an_object_is_422(b_admin):
    p = b_admin.put(CATALOG_PUT, body=b"[true]", content_type="application/json").problem(422, "validation_failed")
    assert p["code"] == "validation_failed"


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                                   "multipart/form-data; boundary=x"])
def test_wrong_content_type_is_415(b_admin, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = b_admin.put(CATALOG_PUT, body=b'{"enabled": true}', headers=headers)
    r.problem(415, "unsupported_media_type")


def test_json_with_charset_parameter_is_accepted(b_admin):
    r = b_admin.put(CATALOG_PUT, body=b'{"enabled": true}', content_type="application/json; charset=utf-8")
    assert r.status == 200, r.describe()


def test_nginx_and_app_body_limits_agree(state_dir, app_config):
    assert nginx_body_limit(state_dir) == int(app_config["max_body_bytes"]), \
        "nginx's client_max_body_size and the app's max_body_bytes must be the same limit"


def test_body_over_limit_is_413(base_url, tenant_b, app_config, state_dir):
    limit = int(app_config["max_body_bytes"])
    assert limit == 1024 * 1024
    big = b'{"enabled": true, "pad": "' + b"x" * (limit + limit // 2) + b'"}'
    hdrs = {"Content-Type": "application/json", "Authorization": f"Bearer {tenant_b.token_admin}"}
    for chunked in (False, True):
        r = raw_request(base_url, "PUT", CATALOG_PUT, big, hdrs, chunked=chunked)
        assert r.status == 413, r.describe()
        assert r.content_type == PROBLEM_JSON, r.describe()
        assert r.json()["status"] == 413
    # without credentials the size is refused just the same (nothing is parsed)
    r = raw_request(base_url, "POST", "/enterprise/aispm/tokens", big, {"Content-Type": "application/json"})
    assert r.status == 413, r.describe()


def test_body_over_limit_uses_the_apps_stable_code(base_url, tenant_b, app_config):
    """whichever layer refuses it, a too-large body has one stable code"""
    limit = int(app_config["max_body_bytes"])
    big = b" " * (limit + limit // 2)
    r = raw_request(base_url, "PUT", CATALOG_PUT, big,
                    {"Content-Type": "application/json", "Authorization": f"Bearer {tenant_b.token_admin}"})
    assert r.status == 413
    assert r.content_type == PROBLEM_JSON
    assert r.json().get("code") == "payload_too_large", r.describe()


def test_body_at_the_limit_is_accepted(base_url, tenant_b, app_config):
    """exactly max_body_bytes passes both nginx and the app"""
    limit = int(app_config["max_body_bytes"])
    doc = b'{"enabled": true}'
    body = doc + b" " * (limit - len(doc))
    assert len(body) == limit
    r = raw_request(base_url, "PUT", CATALOG_PUT, body,
                    {"Content-Type": "application/json", "Authorization": f"Bearer {tenant_b.token_admin}"})
    assert r.status == 200, r.describe()
    assert r.json()["tenant_ref"] == tenant_b.tenant_ref


@pytest.mark.parametrize("bad", [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"],
                         ids=["ff-fe", "overlong", "surrogate", "truncated", "above-max"])
def test_invalid_utf8_json_is_400(b_admin, bad):
    body = b'{"enabled": true, "note": "' + bad + b'"}'
    b_admin.put(CATALOG_PUT, body=body, content_type="application/json").problem(400, "invalid_utf8")


def test_invalid_utf8_request_target_is_400(anon):
    r = anon.get("/enterprise/aispm/%FF")
    assert r.status == 400, r.describe()
    assert r.content_type == PROBLEM_JSON


def test_invalid_utf8_request_target_gets_valid_json(anon):
    """the problem document itself must be UTF-8 JSON (it may not echo the bytes)"""
    r = anon.get("/enterprise/aispm/%FF%FE")
    assert r.status == 400
    p = r.json()  # fails on a body that is not UTF-8
    assert p["code"] == "invalid_utf8"


def test_nesting_100_levels_is_400(b_admin):
    deep_arrays = b'{"enabled": ' + b"[" * 99 + b"]" * 99 + b"}"
    b_admin.put(CATALOG_PUT, body=deep_arrays, content_type="application/json").problem(400, "nesting_too_deep")
    deep_objects = b'{"a":' * 100 + b"1" + b"}" * 100
    b_admin.put(CATALOG_PUT, body=deep_objects, content_type="application/json").problem(400, "nesting_too_deep")
    b_admin.put(ORG_STEP, body=b'{"settings": ' + b"[" * 120 + b"]" * 120 + b"}",
                content_type="application/json").problem(400, "nesting_too_deep")


def test_moderate_nesting_is_parsed(b_admin):
    """below json_max_depth the body is parsed and validated normally"""
    body = b'{"enabled": ' + b"[" * 10 + b"]" * 10 + b"}"
    p = b_admin.put(CATALOG_PUT, body=body, content_type="application/json").problem(422, "validation_failed")
    assert "enabled" in p["errors"]


# ------------------------------------------------------- routing and auth


@pytest.mark.parametrize("path", ["/enterprise/aispm/nope", "/enterprise/aispm/reports/catalog/x/y", "/nope",
                                  "/enterprise/aispm/tokens/a/b/c", "/portal/nope"])
def test_unknown_route_is_404(anon, b_admin, path):
    anon.get(path).problem(404, "not_found")
    b_admin.get(path).problem(404, "not_found")


def test_unknown_resources_are_404(b_admin):
    b_admin.put(f"{CATALOG}/no_such_report", json_body={"enabled": False}).problem(404, "not_found")
    b_admin.put("/enterprise/aispm/reports/setup/steps/no_such_step", json_body={"settings": {}}).problem(
        404, "not_found")
    b_admin.delete("/enterprise/aispm/tokens/token:01ARZ3NDEKTSV4RRFFQ69G5FAV").problem(404, "not_found")
    b_admin.delete("/enterprise/aispm/tokens/not-a-ref").problem(404, "not_found")


WRONG_METHODS = [
    ("DELETE", CATALOG, "GET"),
    ("POST", "/healthz", "GET"),
    ("PATCH", "/enterprise/aispm/tokens", "GET, POST"),
    ("GET", CATALOG_PUT, "PUT"),
    ("PUT", "/enterprise/aispm/me", "GET"),
    ("DELETE", "/portal/login", "GET, POST"),
]


@pytest.mark.parametrize("method,path,allowed", WRONG_METHODS)
def test_wrong_method_is_405(anon, method, path, allowed):
    anon.request(method, path, body=b"" if method != "GET" else None).problem(405, "method_not_allowed")


@pytest.mark.parametrize("method,path,allowed", WRONG_METHODS)
def test_405_carries_allow_header(anon, method, path, allowed):
    r = anon.request(method, path, body=b"" if method != "GET" else None)
    assert r.status == 405
    allow = r.header("Allow")
    assert allow is not None, f"405 without an Allow header: {r.describe()}"
    assert {m.strip() for m in allow.split(",")} == {m.strip() for m in allowed.split(",")}, allow


API_ROUTES = [
    ("GET", "/enterprise/aispm/me"),
    ("GET", "/enterprise/aispm/tokens"),
    ("POST", "/enterprise/aispm/tokens"),
    ("DELETE", "/enterprise/aispm/tokens/token:01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    ("GET", "/enterprise/aispm/audit/events"),
    ("GET", "/enterprise/aispm/audit/verify"),
    ("GET", CATALOG),
    ("PUT", CATALOG_PUT),
    ("GET", "/enterprise/aispm/reports/delivery-contract"),
    ("GET", "/enterprise/aispm/reports/setup"),
    ("PUT", ORG_STEP),
    ("GET", "/enterprise/aispm/reports/setup/contract"),
]


@pytest.mark.parametrize("method,path", API_ROUTES)
def test_no_credentials_is_401(anon, method, path):
    body = b'{"enabled": true}' if method in ("POST", "PUT") else None
    r = anon.request(method, path, body=body, content_type="application/json" if body else None)
    r.problem(401, "unauthenticated")


def test_401_names_the_bearer_scheme(anon):
    r = anon.get(CATALOG)
    assert r.status == 401
    assert (r.header("WWW-Authenticate") or "").startswith("Bearer"), f"401 without WWW-Authenticate: {r.describe()}"


PORTAL_ROUTES = [("GET", "/portal/"), ("GET", "/portal/catalog"), ("GET", "/portal/setup"),
                 ("GET", "/portal/setup/organization_profile"), ("GET", "/portal/tokens"), ("GET", "/portal/audit"),
                 ("POST", "/portal/logout"), ("POST", "/portal/tokens"), ("POST", "/portal/catalog/board_kpi_pack")]


@pytest.mark.parametrize("method,path", PORTAL_ROUTES)
def test_portal_without_session_redirects_to_login(anon, method, path):
    r = anon.request(method, path, form={} if method == "POST" else None, headers=HTML)
    assert r.status == 303, r.describe()
    want = f"/portal/login?next={path}" if method == "GET" else "/portal/login?next=/portal/"
    assert r.header("Location") == want


def test_forbidden_role_is_403(base_url, admin_cli, demo_logins):
    auditor = Client(base_url, recorder=RESPONSES,
                     token=admin_cli.create_token("acme", demo_logins["auditor"][0], "reports:read", name="e2e-m"))
    auditor.put(ORG_STEP, json_body={"settings": {}}).problem(403, "forbidden")
    auditor.put(CATALOG_PUT, json_body={"enabled": True}).problem(403, "forbidden")
    auditor.get("/enterprise/aispm/tokens").problem(403, "forbidden")
    evaluator = Client(base_url, recorder=RESPONSES,
                       token=admin_cli.create_token("acme", demo_logins["evaluator"][0], "reports:read", name="e2e-m"))
    evaluator.get("/enterprise/aispm/audit/events").problem(403, "forbidden")
    # the role is checked before the body is even parsed
    evaluator.put(ORG_STEP, body=b"{not json", content_type="application/json").problem(403, "forbidden")


# ------------------------------------------------------------ validation


def test_validation_errors_name_the_field(b_admin):
    p = b_admin.put(ORG_STEP, json_body={"settings": {
        "CAVRA_REPORT_FROM_ADDRESS": "not-an-email",
        "CAVRA_REPORT_DEFAULT_TIMEZONE": "Mars/Olympus_Mons",
        "CAVRA_REPORT_RETENTION_DAYS": "0",
        "CAVRA_REPORT_BRAND_PROFILE": "<script>",
        "CAVRA_REPORT_UNKNOWN": "x",
    }}).problem(422, "validation_failed")
    assert set(p["errors"]) == {"CAVRA_REPORT_FROM_ADDRESS", "CAVRA_REPORT_DEFAULT_TIMEZONE",
                                "CAVRA_REPORT_RETENTION_DAYS", "CAVRA_REPORT_BRAND_PROFILE",
                                "CAVRA_REPORT_UNKNOWN"}, p
    assert all(isinstance(v, str) and v for v in p["errors"].values())
    assert "not-an-email" not in json.dumps(p) and "Mars/Olympus_Mons" not in json.dumps(p)

    p = b_admin.put(ORG_STEP, json_body={"settings": {}}).problem(422, "validation_failed")
    assert {"CAVRA_REPORT_FROM_ADDRESS", "CAVRA_REPORT_DEFAULT_TIMEZONE", "CAVRA_REPORT_RETENTION_DAYS"} <= set(
        p["errors"])
    p = b_admin.put(ORG_STEP, json_body={"settings": "x"}).problem(422, "validation_failed")
    assert "settings" in p["errors"]
    p = b_admin.put(PROVIDER_STEP, json_body={"settings": {"CAVRA_REPORT_DELIVERY_MODE": "smtp"}}).problem(
        422, "validation_failed")
    assert {"CAVRA_REPORT_SMTP_HOST", "CAVRA_REPORT_SMTP_PORT"} <= set(p["errors"]), p
    p = b_admin.put(PROVIDER_STEP, json_body={"settings": {"CAVRA_REPORT_DELIVERY_MODE": "carrier_pigeon"}}).problem(
        422, "validation_failed")
    assert "CAVRA_REPORT_DELIVERY_MODE" in p["errors"]
    p = b_admin.put(CATALOG_PUT, json_body={"enabled": "yes"}).problem(422, "validation_failed")
    assert "enabled" in p["errors"]
    p = b_admin.post("/enterprise/aispm/tokens", json_body={}).problem(422, "validation_failed")
    assert {"name", "scopes"} <= set(p["errors"])
    p = b_admin.post("/enterprise/aispm/tokens",
                     json_body={"name": "x", "scopes": ["root"], "ttl_days": 0}).problem(422, "validation_failed")
    assert {"scopes", "ttl_days"} <= set(p["errors"])


SECRET_REF_FIELDS = ["CAVRA_REPORT_SMTP_PASSWORD_REF", "CAVRA_REPORT_SMTP_USERNAME_REF",
                     "CAVRA_REPORT_PROVIDER_TOKEN_REF"]


def test_raw_secret_in_ref_field_is_rejected_and_never_echoed(base_url, b_admin, tenant_b, state_dir):
    raws = [f"S3cr3t-{secrets.token_hex(8)}-Passw0rd!", f"env:not a name {secrets.token_hex(6)}",
            f"file:relative/{secrets.token_hex(6)}"]
    base = {"CAVRA_REPORT_DELIVERY_MODE": "smtp", "CAVRA_REPORT_SMTP_HOST": "smtp.example.com",
            "CAVRA_REPORT_SMTP_PORT": "587"}
    seen = []
    for raw in raws:
        for field in SECRET_REF_FIELDS:
            r = b_admin.put(PROVIDER_STEP, json_body={"settings": {**base, field: raw}})
            seen.append(r)
            p = r.problem(422, "validation_failed")
            assert field in p["errors"], p
            assert raw not in r.body.decode("utf-8", "replace")
    r = b_admin.put("/enterprise/aispm/reports/setup/steps/schedule_and_audit",
                    json_body={"settings": {"CAVRA_REPORT_AUDIT_EXPORT_REF": raws[0]}})
    seen.append(r)
    assert "CAVRA_REPORT_AUDIT_EXPORT_REF" in r.problem(422, "validation_failed")["errors"]

    # the portal form does not reflect it into the re-rendered page either
    s = login(base_url, tenant_b.admin_email, tenant_b.admin_password, client=Client(base_url, recorder=RESPONSES))
    form = {**base, "CAVRA_REPORT_SMTP_PASSWORD_REF": raws[0], "_csrf": s.csrf}
    r = s.post("/portal/setup/delivery_provider", form=form, headers=HTML)
    seen.append(r)
    assert r.status == 422, r.describe()
    assert "name=\"_csrf\"" in r.text
    assert raws[0] not in r.body.decode("utf-8", "replace")
    assert hidden_inputs(r.text, "CAVRA_REPORT_SMTP_HOST") == ["smtp.example.com"], "valid values are kept"

    # a reference is accepted, and stored as given
    ok = b_admin.put(PROVIDER_STEP, json_body={"settings": {**base, "CAVRA_REPORT_SMTP_PASSWORD_REF":
                                                            "env:SMTP_PASSWORD"}})
    assert ok.status == 200, ok.describe()

    # nowhere afterwards: settings, evidence, logs
    state = b_admin.get("/enterprise/aispm/reports/setup")
    seen.append(state)
    events = json.dumps(audit_events(b_admin))
    logs = b"".join(read_file_bytes(os.path.join(state_dir, "logs", name))
                    for name in ("aispm.log", "nginx-access.log", "nginx-error.log"))
    for raw in raws:
        for r in seen:
            assert raw not in r.body.decode("utf-8", "replace"), r.describe()
        assert raw not in events, "a rejected secret value reached the evidence chain"
        assert raw.encode() not in logs, "a rejected secret value reached the logs"
    assert "env:SMTP_PASSWORD" in state.text


def test_zz_nothing_in_this_module_was_a_server_error():
    assert len(RESPONSES) > 50
    bad = [r.describe() for r in RESPONSES if r.status >= 500]
    assert not bad, bad
