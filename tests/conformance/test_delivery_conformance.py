"""Conformance of the governed-delivery projections of the demo tenant
(seeded by `aispm admin seed-demo`) against the public CAVRA schemas
(python3-jsonschema Draft202012Validator):

  * aispm-report-recipient-policy: the seeded policy (acme.example internal,
    auditor.example needs approval, competitor.example blocked, one group);
  * aispm-report-delivery-audit-event: every audit event of a blocked and of
    an approved (portal) test delivery;
  * aispm-report-approval-decision: the approved request.

Each check has teeth: a projection edited to include recipient addresses
fails the schema, and the planted recipient address appears in none of the
projections.
"""

import json
import secrets
import subprocess

import pytest

from test_projections import call, contracts, get_json, schema_errors, stack, validator  # noqa: F401

TENANT = "acme"


def make_token(stack, email, scopes):
    cmd = [stack["AISPM_BIN"], "-c", stack["AISPM_TEST_CONFIG"], "admin", "create-token", "--tenant", TENANT,
           "--user", email, "--scopes", scopes, "--name", "conformance-delivery"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.fixture(scope="module")
def admin(stack):
    return make_token(stack, "tenant.admin@acme.example", "reports:read,reports:write,admin")


@pytest.fixture(scope="module")
def approver(stack):
    return make_token(stack, "approver@acme.example", "reports:read,reports:write")


def test_seeded_recipient_policy_validates(stack, contracts, admin):
    p = get_json(stack, admin, "/enterprise/aispm/reports/recipient-policy")
    v = validator(contracts, "aispm-report-recipient-policy.schema.json")
    assert schema_errors(v, p) == []
    domains = {r["domain"]: r for r in p["domain_rules"]}
    assert domains["acme.example"]["classification"] == "internal"
    assert domains["competitor.example"]["allowed"] is False
    assert p["recipient_groups"] and p["recipient_groups"][0]["member_count"] == 2
    assert "ciso@acme.example" not in json.dumps(p)
    broken = json.loads(json.dumps(p))
    broken["redaction"]["recipient_addresses_included"] = True
    assert schema_errors(v, broken)


def test_delivery_audit_and_approval_projections_validate(stack, contracts, admin, approver):
    canary = f"conformance-{secrets.token_hex(6)}"
    audit_v = validator(contracts, "aispm-report-delivery-audit-event.schema.json")
    appr_v = validator(contracts, "aispm-report-approval-decision.schema.json")
    # blocked: a denied domain
    r = call(stack, admin, "POST", "/enterprise/aispm/reports/setup/test-delivery",
             {"recipients": [f"{canary}@competitor.example"], "channels": ["portal"]})
    assert r.status == 403 and r.json()["code"] == "send_blocked", r.text
    blocked = r.json()["deliveries"][0]["delivery_ref"]
    # held, then approved by another user (portal channel: no provider needed)
    r = call(stack, admin, "POST", "/enterprise/aispm/reports/setup/test-delivery",
             {"recipients": [f"{canary}@auditor.example"], "channels": ["portal"]})
    assert r.status == 202 and r.json()["result"] == "held", r.text
    held = r.json()
    r = call(stack, approver, "POST", f"/enterprise/aispm/reports/approvals/{held['approval_ref']}/decision",
             {"decision": "approve", "reason": "conformance", "conditions": ["encrypted_attachment_required"]})
    assert r.status == 200, r.text
    proj = r.json()["projection"]
    assert schema_errors(appr_v, proj) == []
    assert canary not in json.dumps(r.json())
    for ref in (blocked, held["deliveries"][0]["delivery_ref"]):
        d = get_json(stack, admin, f"/enterprise/aispm/reports/deliveries/{ref}")
        assert d["audit_events"]
        for ev in d["audit_events"]:
            assert schema_errors(audit_v, ev) == [], ev
        assert canary not in json.dumps(d)
    statuses = [e["audit_event"]["status"] for e in
                get_json(stack, admin, f"/enterprise/aispm/reports/deliveries/{blocked}")["audit_events"]]
    assert statuses == ["blocked_policy"]
    broken = json.loads(json.dumps(d["audit_events"][0]))
    broken["recipient_summary"]["recipient_addresses_redacted"] = False
    assert schema_errors(audit_v, broken)
