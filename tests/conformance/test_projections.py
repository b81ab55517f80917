"""Conformance of the public contract projections, and a redaction canary.

Runs against a live stack (scripts/check starts a fresh one and exports the
variables below):

  AISPM_TEST_BASE_URL   nginx front, e.g. http://127.0.0.1:18181
  AISPM_TEST_STATE      the stack's state directory (logs in STATE/logs/)
  AISPM_TEST_CONFIG     the stack's aispm.conf (for the admin CLI)
  AISPM_TEST_DB_SOCKET  the stack's MariaDB socket
  AISPM_BIN             build/aispm
  AISPM_CONTRACTS       the public contracts folder (cavra/schemas, cavra/examples)

Checks:
  * GET /enterprise/aispm/reports/setup/contract and .../delivery-contract
    validate against the public JSON Schemas (2020-12, with format checking),
    agree with the live wizard, with each other and with the public example;
    the delivery contract and the catalog API list the same 12 report ids as
    the public example (6 community, 6 enterprise).
  * Redaction canary: a raw secret typed into CAVRA_REPORT_SMTP_PASSWORD_REF is
    rejected (422 naming the field) and then appears nowhere: not in any API
    answer, audit event, log file or database row. A private canary sender
    address is stored (positive control) but appears in no evidence event and
    in neither public contract projection.

Run: /usr/bin/python3 -m pytest -q tests/conformance
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

try:  # jsonschema >= 4.x names it on the validator class; older 4.x as a module global
    FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
except AttributeError:  # pragma: no cover
    from jsonschema import draft202012_format_checker as FORMAT_CHECKER

STACK_ENV = ("AISPM_TEST_BASE_URL", "AISPM_TEST_STATE", "AISPM_TEST_CONFIG", "AISPM_TEST_DB_SOCKET", "AISPM_BIN")
TENANT = "acme"
ADMIN_EMAIL = "tenant.admin@acme.example"
STEP_IDS = ["organization_profile", "delivery_provider", "recipient_governance", "schedule_and_audit"]
SETUP_SCHEMA = "aispm-report-setup-wizard-contract.schema.json"
DELIVERY_SCHEMA = "aispm-report-delivery-contract.schema.json"
DELIVERY_EXAMPLE = "enterprise-report-delivery-contract-public.example.json"
SETUP_EXAMPLE = "enterprise-report-setup-wizard-contract-public.example.json"


# --- environment -------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack():
    missing = [k for k in STACK_ENV if not os.environ.get(k)]
    if missing:
        pytest.fail(
            "missing environment: " + ", ".join(missing) + ". These tests need a live stack: run scripts/check, "
            "or start one with scripts/up --port N --state DIR --skip-packages and export AISPM_TEST_BASE_URL, "
            "AISPM_TEST_STATE=DIR, AISPM_TEST_CONFIG=DIR/aispm.conf, AISPM_TEST_DB_SOCKET=DIR/run/mysqld.sock "
            "and AISPM_BIN=build/aispm",
            pytrace=False,
        )
    env = {k: os.environ[k] for k in STACK_ENV}
    env["AISPM_TEST_BASE_URL"] = env["AISPM_TEST_BASE_URL"].rstrip("/")
    for k in ("AISPM_TEST_STATE",):
        if not Path(env[k]).is_dir():
            pytest.fail(f"{k}={env[k]} is not a directory", pytrace=False)
    for k in ("AISPM_TEST_CONFIG", "AISPM_BIN"):
        if not Path(env[k]).is_file():
            pytest.fail(f"{k}={env[k]} is not a file", pytrace=False)
    return env


@pytest.fixture(scope="module")
def contracts() -> Path:
    """The public contracts folder: required in CI; outside CI a missing one is a plain failure too."""
    raw = os.environ.get("AISPM_CONTRACTS", "")
    root = Path(raw) if raw else None
    ok = root is not None and (root / "cavra" / "schemas" / SETUP_SCHEMA).is_file()
    if not ok:
        where = f"AISPM_CONTRACTS={raw}" if raw else "AISPM_CONTRACTS is not set"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the public contracts are required in CI but were not found ({where})", pytrace=False)
        pytest.fail(
            f"the public contracts were not found ({where}): these conformance tests cannot run without them. "
            "Point AISPM_CONTRACTS at the contracts folder that holds cavra/schemas/ and cavra/examples/ "
            "(scripts/check uses ../shared/contracts beside the repository when it exists).",
            pytrace=False,
        )
    return root


def load_json(path: Path):
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def validator(contracts: Path, name: str) -> Draft202012Validator:
    schema = load_json(contracts / "cavra" / "schemas" / name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def schema_errors(v: Draft202012Validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in v.iter_errors(doc)]


# --- HTTP --------------------------------------------------------------------------

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Resp:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def call(stack, token: str | None, method: str, path: str, body=None) -> Resp:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(stack["AISPM_TEST_BASE_URL"] + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener.open(req, timeout=20) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def get_json(stack, token, path):
    r = call(stack, token, "GET", path)
    assert r.status == 200, f"GET {path} answered {r.status}: {r.text[:500]}"
    ctype = r.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"GET {path} Content-Type {ctype!r}"
    return r.json()


@pytest.fixture(scope="module")
def token(stack) -> str:
    """An API token of the demo tenant admin, made with the admin CLI."""
    cmd = [stack["AISPM_BIN"], "-c", stack["AISPM_TEST_CONFIG"], "admin", "create-token", "--tenant", TENANT,
           "--user", ADMIN_EMAIL, "--scopes", "reports:read,admin", "--name", "conformance-tests"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}"
    tok = p.stdout.strip()
    assert tok and "\n" not in tok and " " not in tok, f"create-token printed {p.stdout!r}"
    me = get_json(stack, tok, "/enterprise/aispm/me")
    assert me["auth"] == "token" and me["role"] == "tenant_admin", me
    return tok


@pytest.fixture(scope="module")
def setup_contract(stack, token):
    return get_json(stack, token, "/enterprise/aispm/reports/setup/contract")


@pytest.fixture(scope="module")
def delivery_contract(stack, token):
    return get_json(stack, token, "/enterprise/aispm/reports/delivery-contract")


# --- contract projections ------------------------------------------------------------


def test_projections_require_authentication(stack):
    for path in ("/enterprise/aispm/reports/setup/contract", "/enterprise/aispm/reports/delivery-contract"):
        r = call(stack, None, "GET", path)
        assert r.status == 401, f"anonymous GET {path} answered {r.status}"


def test_setup_wizard_contract_validates(contracts, setup_contract):
    v = validator(contracts, SETUP_SCHEMA)
    assert schema_errors(v, setup_contract) == []
    # the check has teeth: the same projection claiming secret values are allowed is rejected
    broken = json.loads(json.dumps(setup_contract))
    broken["admin_settings"]["secret_values_allowed"] = True
    assert schema_errors(v, broken), "the schema must reject secret_values_allowed: true"


def test_delivery_contract_validates(contracts, delivery_contract):
    v = validator(contracts, DELIVERY_SCHEMA)
    assert schema_errors(v, delivery_contract) == []
    broken = json.loads(json.dumps(delivery_contract))
    broken["community_reports"][0]["raw_value"] = "x"
    assert schema_errors(v, broken), "the schema must reject unknown report properties"


def test_setup_contract_matches_public_example_steps(contracts, setup_contract):
    example = load_json(contracts / "cavra" / "examples" / SETUP_EXAMPLE)
    got = [(s["step_id"], s["fields"]) for s in setup_contract["steps"]]
    want = [(s["step_id"], s["fields"]) for s in example["steps"]]
    assert [s for s, _ in got] == STEP_IDS
    assert got == want, "steps and their fields, in order, as in the public example"
    assert setup_contract["delivery_modes"] == example["delivery_modes"]
    assert sorted(setup_contract["admin_settings"]["required_public_settings"]) == sorted(
        example["admin_settings"]["required_public_settings"]
    )


def test_setup_contract_matches_live_wizard(stack, token, setup_contract):
    """The public projection describes the wizard the portal actually runs."""
    state = get_json(stack, token, "/enterprise/aispm/reports/setup")
    live = {s["step_id"]: s["fields"] for s in state["steps"]}
    assert [s["step_id"] for s in state["steps"]] == STEP_IDS
    assert state["total_steps"] == 4
    fields = {f["name"]: f for s in state["steps"] for f in s["fields"]}
    for step in setup_contract["steps"]:
        assert step["fields"] == [f["name"] for f in live[step["step_id"]]], step["step_id"]
    adm = setup_contract["admin_settings"]
    req, opt, refs = adm["required_public_settings"], adm["optional_public_settings"], adm["secret_reference_settings"]
    # every setting in exactly one class, and the classes are the wizard's
    assert sorted(req + opt + refs) == sorted(fields), "each wizard field appears in exactly one settings class"
    assert sorted(refs) == sorted(n for n, f in fields.items() if f["kind"] == "secret_ref")
    assert all(n.endswith("_REF") for n in refs) and all(not n.endswith("_REF") for n in req + opt)
    assert sorted(req) == sorted(n for n, f in fields.items() if f["required"] and f["kind"] != "secret_ref")
    assert adm["secret_values_allowed"] is False
    # the contract's modes are the ones the form offers
    mode = fields["CAVRA_REPORT_DELIVERY_MODE"]
    assert [c["value"] for c in mode["choices"]] == setup_contract["delivery_modes"]


def test_projections_agree_with_each_other(setup_contract, delivery_contract):
    adm, setup = setup_contract["admin_settings"], delivery_contract["setup"]
    assert sorted(setup["required_settings"]) == sorted(adm["required_public_settings"])
    assert sorted(setup["secret_reference_settings"]) == sorted(adm["secret_reference_settings"])
    assert setup["secret_values_allowed_in_public_repo"] is False
    assert delivery_contract["delivery"]["supported_modes"] == setup_contract["delivery_modes"]


def test_delivery_contract_lists_the_public_example_reports(contracts, delivery_contract):
    example = load_json(contracts / "cavra" / "examples" / DELIVERY_EXAMPLE)
    for group, availability in (("community_reports", "community"), ("enterprise_reports", "requires_cavra_enterprise")):
        want = [r["report_id"] for r in example[group]]
        got = [r["report_id"] for r in delivery_contract[group]]
        assert len(want) == 6, f"the public example lists {len(want)} {group}"
        assert len(got) == len(set(got)), f"duplicate ids in {group}: {got}"
        assert sorted(got) == sorted(want), f"{group}: exactly the public example's ids"
        assert {r["availability"] for r in delivery_contract[group]} == {availability}, group


def test_catalog_api_lists_the_same_reports(stack, token, delivery_contract):
    catalog = get_json(stack, token, "/enterprise/aispm/reports/catalog")
    contract = {r["report_id"]: r for g in ("community_reports", "enterprise_reports") for r in delivery_contract[g]}
    ids = [r["report_id"] for r in catalog["reports"]]
    # a tenant admin manages the catalog, so disabled reports are listed too
    assert len(ids) == 12 == len(set(ids)) == catalog["total"], ids
    assert sorted(ids) == sorted(contract)
    for r in catalog["reports"]:
        c = contract[r["report_id"]]
        assert r["availability"] == c["availability"], r["report_id"]
        assert r["title"] == c["title"] and r["formats"] == c["formats"], r["report_id"]
        assert r["edition"] == ("community" if c["availability"] == "community" else "enterprise"), r["report_id"]


# --- redaction canary ------------------------------------------------------------------


def mariadb(stack, sql: str) -> str:
    cmd = ["mariadb", "--no-defaults", f"--socket={stack['AISPM_TEST_DB_SOCKET']}", "-u", getpass.getuser(),
           "-N", "-B", "-e", sql]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"mariadb -e {sql!r} exited {p.returncode}: {p.stderr.strip()}"
    return p.stdout


def all_tables_text(stack) -> str:
    tables = mariadb(stack, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'aispm'").split()
    assert "settings" in tables and "evidence_events" in tables, tables
    return "\n".join(mariadb(stack, f"SELECT * FROM aispm.`{t}`") for t in tables)


def logs_text(stack) -> str:
    logs = Path(stack["AISPM_TEST_STATE"]) / "logs"
    files = sorted(p for p in logs.iterdir() if p.is_file())
    assert any(p.suffix == ".log" for p in files), f"no *.log in {logs}"
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files)


def audit_events(stack, token) -> list:
    body = get_json(stack, token, "/enterprise/aispm/audit/events?limit=500")
    return body["events"]


@pytest.fixture(scope="module")
def canary(stack, token):
    """Submits the canaries through the API; returns what the checks need."""
    tag = secrets.token_hex(10)
    c = {
        "secret": f"CANARY-SECRET-{tag}",
        "email": f"canary-{tag}@acme.example",
    }
    # a private value that is accepted and stored
    r = call(stack, token, "PUT", "/enterprise/aispm/reports/setup/steps/organization_profile", {
        "settings": {
            "CAVRA_REPORT_FROM_ADDRESS": c["email"],
            "CAVRA_REPORT_DEFAULT_TIMEZONE": "Europe/Berlin",
            "CAVRA_REPORT_RETENTION_DAYS": 365,
        }
    })
    assert r.status == 200, f"saving organization_profile answered {r.status}: {r.text[:500]}"
    c["org_request_id"] = r.headers.get("X-Request-Id")
    # a raw secret where only a reference belongs
    r = call(stack, token, "PUT", "/enterprise/aispm/reports/setup/steps/delivery_provider", {
        "settings": {
            "CAVRA_REPORT_DELIVERY_MODE": "smtp",
            "CAVRA_REPORT_SMTP_HOST": "smtp.acme.example",
            "CAVRA_REPORT_SMTP_PORT": "587",
            "CAVRA_REPORT_SMTP_PASSWORD_REF": c["secret"],
        }
    })
    c["reject"] = r
    c["reject_request_id"] = r.headers.get("X-Request-Id")
    return c


def test_raw_secret_is_rejected_naming_the_field(canary):
    r = canary["reject"]
    assert r.status == 422, f"a raw secret in a *_REF field answered {r.status}: {r.text[:500]}"
    assert r.headers.get("Content-Type", "").startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "validation_failed"
    assert list(problem["errors"]) == ["CAVRA_REPORT_SMTP_PASSWORD_REF"], problem["errors"]
    assert "secret reference" in problem["errors"]["CAVRA_REPORT_SMTP_PASSWORD_REF"]
    assert canary["secret"] not in r.text, "the 422 answer echoes the raw secret"


def test_raw_secret_is_not_stored_or_served(stack, token, canary):
    state = get_json(stack, token, "/enterprise/aispm/reports/setup")
    assert canary["secret"] not in json.dumps(state), "the rejected secret was stored in the settings"
    for path in ("/enterprise/aispm/reports/setup/contract", "/enterprise/aispm/reports/delivery-contract",
                 "/enterprise/aispm/reports/catalog", "/enterprise/aispm/me", "/enterprise/aispm/tokens"):
        assert canary["secret"] not in call(stack, token, "GET", path).text, f"GET {path} shows the raw secret"


def test_raw_secret_is_in_no_audit_event(stack, token, canary):
    events = audit_events(stack, token)
    assert events, "the audit API returned no events"
    assert canary["secret"] not in json.dumps(events)


def test_raw_secret_is_in_no_log(stack, canary):
    # positive control: the rejected request itself was logged, so these are the live logs
    rid = canary["reject_request_id"]
    assert rid, "the 422 answer carries no X-Request-Id"
    deadline = time.monotonic() + 5
    text = logs_text(stack)
    while rid not in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = logs_text(stack)
    assert rid in text, f"request {rid} is in no file of {stack['AISPM_TEST_STATE']}/logs"
    assert canary["secret"] not in text, "a log file contains the raw secret"


def test_raw_secret_is_not_in_the_database(stack, canary):
    settings = mariadb(stack, "SELECT * FROM aispm.settings")
    bodies = mariadb(stack, "SELECT body FROM aispm.evidence_events")
    assert canary["email"] in settings, "positive control: the accepted canary address is in aispm.settings"
    assert canary["secret"] not in settings, "aispm.settings holds the raw secret"
    assert canary["secret"] not in bodies, "an evidence event body holds the raw secret"
    assert canary["secret"] not in all_tables_text(stack), "some aispm table holds the raw secret"


def test_private_email_is_stored_but_not_in_evidence(stack, token, canary):
    state = get_json(stack, token, "/enterprise/aispm/reports/setup")
    values = {f["name"]: f["value"] for s in state["steps"] for f in s["fields"]}
    assert values["CAVRA_REPORT_FROM_ADDRESS"] == canary["email"], "positive control: the address was saved"
    # the save is evidenced by field name, never by value
    events = [e["event"] for e in audit_events(stack, token)]
    saved = [e for e in events if e["action"] == "settings.updated" and e["object_ref"] == "setup:organization_profile"]
    assert saved, "saving organization_profile recorded no settings.updated evidence"
    assert canary["email"] not in json.dumps(events), "an audit event shows the private address"
    details = saved[0]["details"]
    assert "CAVRA_REPORT_FROM_ADDRESS" in details["fields_set"] and details["raw_values_recorded"] is False, details
    bodies = mariadb(stack, "SELECT body FROM aispm.evidence_events")
    assert "setup:organization_profile" in bodies, "positive control: the evidence body is searchable"
    assert canary["email"] not in bodies, "an evidence event body holds the private address"
    local = canary["email"].split("@")[0]
    assert local not in bodies, "an evidence event body holds the address's local part"


def test_private_email_is_in_neither_public_projection(stack, token, canary):
    for path in ("/enterprise/aispm/reports/setup/contract", "/enterprise/aispm/reports/delivery-contract"):
        text = call(stack, token, "GET", path).text
        assert canary["email"] not in text and canary["email"].split("@")[0] not in text, f"GET {path} shows it"


# --- retention lifecycle, search and retrieval ----------------------------------------


@pytest.fixture(scope="module")
def rendered_ref(stack) -> str:
    """An artifact of the demo tenant, rendered through the API (reports:write)."""
    cmd = [stack["AISPM_BIN"], "-c", stack["AISPM_TEST_CONFIG"], "admin", "create-token", "--tenant", TENANT,
           "--user", ADMIN_EMAIL, "--scopes", "reports:read,reports:write", "--name", "conformance-render"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    tok = p.stdout.strip()
    r = call(stack, tok, "POST", "/enterprise/aispm/reports/render",
             {"report_id": "evidence_freshness_export", "format": "csv"})
    assert r.status in (200, 202), r.text[:500]
    status_url = r.json()["status_url"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = get_json(stack, tok, status_url)
        if st["status"] == "succeeded":
            return st["artifact_ref"]
        assert st["status"] != "failed", st
        time.sleep(0.2)
    raise AssertionError("the conformance render did not finish")


def test_retention_lifecycle_projection_validates(stack, contracts, token, rendered_ref, canary):
    doc = get_json(stack, token, "/enterprise/aispm/reports/retention")
    assert schema_errors(validator(contracts, "aispm-report-retention-lifecycle.schema.json"), doc) == []
    assert rendered_ref in [x["report_ref"] for x in doc["report_lifecycle"]]
    text = json.dumps(doc)
    assert canary["email"] not in text and ADMIN_EMAIL not in text


def test_search_and_retrieval_projections_validate(stack, contracts, token, rendered_ref, canary):
    v = validator(contracts, "aispm-report-search-retrieval.schema.json")
    r = call(stack, token, "POST", "/enterprise/aispm/reports/search",
             {"query": "evidence freshness", "filters": {"formats": ["csv"]}})
    assert r.status == 200, r.text[:500]
    doc = r.json()["projection"]
    assert schema_errors(v, doc) == []
    assert rendered_ref in [x["report_ref"] for x in doc["results"]]
    r = call(stack, token, "POST", "/enterprise/aispm/reports/retrievals", {"report_ref": rendered_ref})
    assert r.status == 201, r.text[:500]
    body = r.json()
    assert schema_errors(v, body["projection"]) == []
    assert body["projection"]["retrieval"]["access_decision"] == "allow"
    for text in (json.dumps(doc), json.dumps(body["projection"])):
        assert canary["email"] not in text and ADMIN_EMAIL not in text
        assert body["download_url"] not in text, "the projection holds the download URL"
