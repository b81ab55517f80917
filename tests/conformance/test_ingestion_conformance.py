"""Conformance of AISPM ingestion with the public live-ingestion envelope
contract (aispm-enterprise-live-ingestion-envelope.schema.json).

  * Every envelope the demo history generator produces (exported with the
    hidden `aispm admin seed-demo --dry-run-json`) validates against the public
    schema, with an explicit RFC 3339 check of date-time members (Debian's
    python3-jsonschema checks "date-time" only when rfc3339-validator is
    installed; it is not, so the test checks them itself).
  * What the stack stored from that generator (seed-demo ran when the stack
    came up) is the same history: GET /enterprise/aispm/events/{event_id} of
    every demo event returns a public view that validates too and equals the
    exported envelope without its private members. Timestamps and session ids
    depend on the day the history was anchored to, so they are compared up to
    one whole-day shift common to all events.
  * The public example validates (the check has teeth: a raw-content claim in
    it does not).

Environment: as test_projections.py (scripts/check exports it).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
import subprocess

import pytest

from test_projections import call, contracts, get_json, load_json, schema_errors, stack, token, validator  # noqa: F401

SCHEMA = "aispm-enterprise-live-ingestion-envelope.schema.json"
EXAMPLE = "enterprise-live-ingestion-envelope-public-contract.example.json"
DEMO_EVENTS = 600
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")
DATE_TIME_MEMBERS = ("occurred_at", "received_at")


def rfc3339(s: str) -> datetime.datetime | None:
    m = RFC3339.match(s) if isinstance(s, str) else None
    if not m:
        return None
    try:
        y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
        tz = datetime.timezone.utc
        if m.group(8) not in ("Z", "z"):
            sign = 1 if m.group(8)[0] == "+" else -1
            tz = datetime.timezone(sign * datetime.timedelta(hours=int(m.group(9)), minutes=int(m.group(10))))
        frac = int((m.group(7) or ".0")[1:7].ljust(6, "0"))
        return datetime.datetime(y, mo, d, h, mi, sec, frac, tzinfo=tz)
    except ValueError:
        return None


def envelope_errors(v, env) -> list[str]:
    errors = schema_errors(v, env)
    for k in DATE_TIME_MEMBERS:
        if k in env.get("event", {}) and rfc3339(env["event"][k]) is None:
            errors.append(f"event/{k}: not an RFC 3339 date-time")
    return errors


@pytest.fixture(scope="module")
def schema(contracts):  # noqa: F811
    return validator(contracts, SCHEMA)


@pytest.fixture(scope="module")
def generated(stack):  # noqa: F811
    cmd = [stack["AISPM_BIN"], "-c", stack["AISPM_TEST_CONFIG"], "admin", "seed-demo", "--dry-run-json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}"
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_rfc3339_check_has_teeth():
    assert rfc3339("2026-06-11T08:00:00Z") and rfc3339("2026-06-11T08:00:00.5+05:30")
    for bad in ("2026-06-11 08:00:00Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "yesterday",
                "2026-06-11T08:00:00"):
        assert rfc3339(bad) is None, bad


def test_public_example_validates(contracts, schema):  # noqa: F811
    example = load_json(contracts / "cavra" / "examples" / EXAMPLE)
    assert envelope_errors(schema, example) == []
    broken = copy.deepcopy(example)
    broken["redaction"]["raw_prompt_included"] = True
    assert schema_errors(schema, broken), "the schema must refuse a raw prompt claim"


def test_every_generated_envelope_validates(schema, generated, stack, token):  # noqa: F811
    assert len(generated) == DEMO_EVENTS
    me = get_json(stack, token, "/enterprise/aispm/me")
    problems = {}
    for env in generated:
        errs = envelope_errors(schema, env)
        if errs:
            problems[env.get("event", {}).get("event_id", "?")] = errs
    assert not problems, f"{len(problems)} generated envelopes do not validate: {dict(list(problems.items())[:5])}"
    ids = [e["event"]["event_id"] for e in generated]
    assert len(set(ids)) == DEMO_EVENTS, "event ids are unique"
    assert {e["tenant"]["tenant_ref"] for e in generated} == {me["tenant_ref"]}, "generated for the demo tenant"
    assert len({e["event"]["event_type"] for e in generated}) == 13, "every event type occurs"
    assert {e["source"]["connector_type"] for e in generated} == {
        "codex", "claude_code", "github_copilot", "cursor", "gemini_cli", "mcp_server"}
    assert all(not e["redaction"][k] for e in generated
               for k in ("raw_prompt_included", "reasoning_included", "tool_output_included"))


def comparable(env):
    env = copy.deepcopy(env)
    for k in ("payload_ref", "actor_ref", "occurred_at", "received_at", "session_id"):
        env["event"].pop(k, None)
    return env


def test_stored_demo_history_is_the_generated_one(schema, generated, stack, token):  # noqa: F811
    shifts = set()
    for env in generated:
        eid = env["event"]["event_id"]
        r = call(stack, token, "GET", f"/enterprise/aispm/events/{eid}")
        assert r.status == 200, f"demo event {eid} is not stored: {r.status} {r.text[:300]}"
        view = r.json()
        stored = view["envelope"]
        assert envelope_errors(schema, stored) == [], eid
        assert "payload_ref" not in stored["event"] and "actor_ref" not in stored["event"]
        assert comparable(stored) == comparable(env), f"{eid}: stored view differs from the generator's"
        for k in DATE_TIME_MEMBERS:
            delta = rfc3339(env["event"][k]) - rfc3339(stored["event"][k])
            assert delta.seconds == 0 and delta.microseconds == 0, f"{eid}: {k} differs by {delta}"
            shifts.add(delta.days)
        assert view["batch_ref"] and view["batch_ref"].startswith("aispm-batch:"), "loaded through the batch path"
    assert len(shifts) == 1, f"one common day shift, not {shifts}"
