"""Helpers shared by test_retention.py and test_search.py: a fresh tenant with
users of chosen roles, renders that wait for their artifact, the public
contract validators and the retention-sweep CLI."""

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from .conftest import Client, login, rand, strong_password

try:  # jsonschema >= 4.x names it on the validator class
    FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER
except AttributeError:  # pragma: no cover
    from jsonschema import draft202012_format_checker as FORMAT_CHECKER

API = "/enterprise/aispm/reports"
RENDER = f"{API}/render"
RENDERS = f"{API}/renders"
ARTIFACTS = f"{API}/artifacts"
RETENTION = f"{API}/retention"
REQUESTS = f"{RETENTION}/requests"
ITEMS = f"{RETENTION}/items"
SEARCH = f"{API}/search"
RETRIEVALS = f"{API}/retrievals"

RETENTION_SCHEMA = "aispm-report-retention-lifecycle.schema.json"
SEARCH_SCHEMA = "aispm-report-search-retrieval.schema.json"


def contracts_dir():
    raw = os.environ.get("AISPM_CONTRACTS", "")
    candidates = [Path(raw)] if raw else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "contracts")
    for c in candidates:
        if (c / "cavra" / "schemas" / RETENTION_SCHEMA).is_file():
            return c
    pytest.fail(f"the public contracts were not found (AISPM_CONTRACTS={raw!r})", pytrace=False)


def validator(name):
    import json
    with open(contracts_dir() / "cavra" / "schemas" / name, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def assert_valid(name, doc):
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
              for e in validator(name).iter_errors(doc)]
    assert not errors, f"{name}: {errors}"


class Party:
    """a user of a test tenant: token client, email, password, user ref"""


class FreshTenant:
    """a fresh tenant with one user per requested role"""

    def __init__(self, base_url, admin_cli, roles, prefix):
        self.base_url = base_url
        self.admin_cli = admin_cli
        self.slug = f"{prefix}-{rand(10)}"
        self.tenant_ref = admin_cli.create_tenant(self.slug, f"E2E {prefix} {self.slug}")
        assert self.tenant_ref.startswith("tenant:")
        self.ulid = self.tenant_ref.split(":", 1)[1]
        self.users = {}
        for role in roles:
            p = Party()
            p.email = f"{role.replace('_', '.')}@{self.slug}.example"
            p.password = strong_password()
            p.user_ref = admin_cli.create_user(self.slug, p.email, role, p.password)
            scopes = {"auditor": "reports:read", "evaluator": "reports:read", "trial_operator": "reports:read",
                      "tenant_admin": "reports:read,reports:write,admin"}.get(role, "reports:read,reports:write")
            p.token = admin_cli.create_token(self.slug, p.email, scopes, name=f"e2e-{role}")
            p.api = Client(base_url, token=p.token)
            self.users[role] = p

    def __getitem__(self, role):
        return self.users[role]

    def portal(self, role):
        p = self.users[role]
        return login(self.base_url, p.email, p.password)

    def sweep(self, now=None, days_ahead=None):
        """runs `aispm admin retention-sweep --tenant SLUG [--now T]`; returns
        the counters it prints"""
        args = ["retention-sweep", "--tenant", self.slug]
        if days_ahead is not None:
            now = datetime.now(timezone.utc) + timedelta(days=days_ahead)
        if now is not None:
            args += ["--now", now.strftime("%Y-%m-%dT%H:%M:%SZ")]
        out = self.admin_cli.out(*args)
        # "archived N, on legal hold N, requests expired N, purged N"
        counts = {}
        for part in out.split(","):
            words = part.strip().rsplit(" ", 1)
            counts[words[0]] = int(words[1])
        return counts


def wait_render(client, ref, timeout=60):
    """polls a render until it succeeded or failed; returns its status"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = client.get(f"{RENDERS}/{ref}")
        assert s.status == 200, s.describe()
        body = s.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"render {ref} did not finish")


def render(client, report_id, fmt):
    """renders and waits; returns the artifact metadata"""
    r = client.post(RENDER, json_body={"report_id": report_id, "format": fmt})
    assert r.status == 202, r.describe()
    body = wait_render(client, r.json()["render_ref"])
    assert body["status"] == "succeeded", body
    a = client.get(f"{ARTIFACTS}/{body['artifact_ref']}")
    assert a.status == 200, a.describe()
    return a.json()


def item(client, ref):
    r = client.get(f"{ITEMS}/{ref}")
    assert r.status == 200, r.describe()
    return r.json()
