"""Live AISPM ingestion through nginx: POST /enterprise/aispm/events and
/events/batch, GET /events/{event_id}, /ingestion/health and /posture.

Covers: the public contract example is accepted and a repeat is a duplicate
with the same body and one stored row (also for ten racing repeats and for a
repeated idempotency key); every required member missing, a bad enum, a raw
content claim, a wrong tenant and a token without the ingest scope are refused
and store nothing; a 501-envelope batch is refused; a mixed batch answers per
envelope, is evidenced once with a digest anyone can recompute from the
stored public views; the posture and the health counters move by exactly what
was sent; private payload and actor refs are stored but appear in no answer;
another tenant cannot read an event.

The public example is read from AISPM_CONTRACTS (scripts/check exports it) or
../shared/contracts beside the repository; without it these tests fail.
"""

import copy
import hashlib
import json
import os
import secrets
import threading

import pytest

from .conftest import REPO, Client, audit_events, sql_str

EVENTS = "/enterprise/aispm/events"
BATCH = "/enterprise/aispm/events/batch"
HEALTH = "/enterprise/aispm/ingestion/health"
POSTURE = "/enterprise/aispm/posture"
EXAMPLE = "enterprise-live-ingestion-envelope-public-contract.example.json"

REQUIRED = [
    "schema_version", "product", "edition", "contract_visibility", "event", "source", "tenant", "redaction",
    "integrity", "transport", "enterprise_boundaries",
    "event.event_id", "event.event_type", "event.occurred_at", "event.session_id", "event.agent_id",
    "source.connector_type", "source.connector_id",
    "tenant.tenant_ref", "tenant.environment",
    "redaction.payload_handling", "redaction.raw_prompt_included", "redaction.reasoning_included",
    "redaction.tool_output_included",
    "integrity.signature_required", "integrity.hash_algorithm",
    "transport.ingress_mode", "transport.delivery_semantics",
    "enterprise_boundaries.collector_implementation", "enterprise_boundaries.tenant_persistence",
    "enterprise_boundaries.streaming_transport", "enterprise_boundaries.raw_payload_storage",
    "enterprise_boundaries.license_enforcement",
]


def contracts_dir():
    raw = os.environ.get("AISPM_CONTRACTS") or os.path.join(REPO, "..", "shared", "contracts")
    path = os.path.join(raw, "cavra", "examples", EXAMPLE)
    if not os.path.isfile(path):
        pytest.fail(f"the public ingestion example is missing ({path}); set AISPM_CONTRACTS", pytrace=False)
    return raw


@pytest.fixture(scope="module")
def example():
    with open(os.path.join(contracts_dir(), "cavra", "examples", EXAMPLE), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def ing(base_url, acme, admin_cli):
    """clients of the demo tenant: `post` has the ingest scope (and reports:read
    to read back), `noscope` lacks ingest"""
    w = type("Ingest", (), {})()
    w.token = admin_cli.create_token("acme", acme.admin_email, "ingest,reports:read", name="e2e-ingest")
    w.post = Client(base_url, token=w.token)
    w.noscope = Client(base_url, token=acme.token_admin)
    w.tenant_ref = acme.tenant_ref
    return w


def envelope(example, tenant_ref, **event):
    """the public example for tenant_ref with a fresh event id / idempotency key
    (unless given) and the event members given"""
    env = copy.deepcopy(example)
    env["tenant"]["tenant_ref"] = tenant_ref
    eid = event.pop("event_id", None) or f"e2e-{secrets.token_hex(8)}"
    env["event"]["event_id"] = eid
    env["transport"]["idempotency_key"] = f"idem-{eid}"
    env["event"].update(event)
    for k in [k for k, v in env["event"].items() if v is None]:
        del env["event"][k]
    return env


def minimal_envelope(example, tenant_ref, event_id):
    """the example without its optional event members (small, for big batches)"""
    env = envelope(example, tenant_ref, event_id=event_id)
    for k in ("received_at", "repository", "actor_ref", "tool_name", "action_type", "target_summary",
              "evidence_refs", "payload_ref"):
        del env["event"][k]
    return env


def without(env, path):
    env = copy.deepcopy(env)
    *parents, last = path.split(".")
    obj = env
    for p in parents:
        obj = obj[p]
    del obj[last]
    return env


def jcs(obj):
    """RFC 8785 for the documents of these tests (ASCII strings, integers, booleans)"""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_rows(sql, event_id):
    return int(sql(f"SELECT COUNT(*) FROM aispm.ingestion_events WHERE event_id = {sql_str(event_id)}").strip())


def strip_dup(body):
    return {k: v for k, v in body.items() if k != "duplicate"}


def public_view(env):
    pub = copy.deepcopy(env)
    pub["event"].pop("payload_ref", None)
    pub["event"].pop("actor_ref", None)
    return pub


# --------------------------------------------------------------------------
# the public example, repeats and races


def test_public_example_accepted_once_and_repeat_is_duplicate(ing, example, sql):
    env = copy.deepcopy(example)
    env["tenant"]["tenant_ref"] = ing.tenant_ref
    eid = env["event"]["event_id"]
    before = stored_rows(sql, eid)  # 0 on a fresh stack; 1 when this suite already ran against it
    r = ing.post.post(EVENTS, json_body=env)
    assert r.status == (201 if before == 0 else 200), r.describe()
    first = r.json()
    assert first["status"] == "accepted" and first["event_id"] == eid
    assert first["duplicate"] is (before != 0)
    assert first["event_ref"].startswith("aispm-event:")
    assert first["evidence_ref"].startswith("cavra://evidence/redacted/")

    r2 = ing.post.post(EVENTS, json_body=env)
    assert r2.status == 200, r2.describe()
    again = r2.json()
    assert again["duplicate"] is True
    assert strip_dup(again) == strip_dup(first), "a repeat answers with the original result"
    assert stored_rows(sql, eid) == 1

    got = ing.post.get(f"{EVENTS}/{eid}")
    assert got.status == 200, got.describe()
    view = got.json()
    assert view["event_ref"] == first["event_ref"] and view["accepted_at"] == first["accepted_at"]
    assert view["envelope"] == public_view(env), "the stored public view is the envelope without private members"
    assert sorted(view["withheld_members"]) == ["event.actor_ref", "event.payload_ref"]
    assert view["envelope_digest"] == hashlib.sha256(jcs(view["envelope"]).encode()).hexdigest()


def test_same_idempotency_key_with_another_event_id_is_a_duplicate(ing, example, sql):
    env = envelope(example, ing.tenant_ref)
    r = ing.post.post(EVENTS, json_body=env)
    assert r.status == 201, r.describe()
    other = copy.deepcopy(env)
    other["event"]["event_id"] = env["event"]["event_id"] + "-retry"
    r2 = ing.post.post(EVENTS, json_body=other)
    assert r2.status == 200, r2.describe()
    assert r2.json()["duplicate"] is True and strip_dup(r2.json()) == strip_dup(r.json())
    assert stored_rows(sql, other["event"]["event_id"]) == 0
    assert stored_rows(sql, env["event"]["event_id"]) == 1


def test_ten_concurrent_repeats_store_exactly_one(ing, example, sql):
    env = envelope(example, ing.tenant_ref)
    eid = env["event"]["event_id"]
    barrier = threading.Barrier(10)
    results = [None] * 10

    def send(i):
        c = Client(ing.post.base_url, token=ing.token)
        barrier.wait()
        results[i] = c.post(EVENTS, json_body=env)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status for r in results)
    assert statuses == [200] * 9 + [201], [r.describe() for r in results]
    bodies = [strip_dup(r.json()) for r in results]
    assert all(b == bodies[0] for b in bodies), "every racer gets the original result"
    assert sum(r.json()["duplicate"] for r in results) == 9
    assert stored_rows(sql, eid) == 1
    ref = bodies[0]["event_ref"]
    n = sql(f"SELECT COUNT(*) FROM aispm.evidence_events WHERE action = 'ingestion.event_accepted' "
            f"AND body LIKE {sql_str('%' + ref + '%')}").strip()
    assert n == "1", "exactly one evidence event for the one stored event"


# --------------------------------------------------------------------------
# refusals


def test_each_required_member_missing_is_named(ing, example, sql):
    base = envelope(example, ing.tenant_ref)
    for path in REQUIRED:
        env = without(base, path)
        r = ing.post.post(EVENTS, json_body=env)
        p = r.problem(422, "validation_failed")
        assert path in p["errors"], f"missing {path}: {p}"
        assert "required" in p["errors"][path]
    assert stored_rows(sql, base["event"]["event_id"]) == 0


def test_bad_enum_and_unknown_member(ing, example, sql):
    env = envelope(example, ing.tenant_ref, event_type="telepathy")
    p = ing.post.post(EVENTS, json_body=env).problem(422, "validation_failed")
    assert list(p["errors"]) == ["event.event_type"], p
    assert "telepathy" not in json.dumps(p), "the refused value is not echoed"
    env = envelope(example, ing.tenant_ref)
    env["source"]["connector_type"] = "carrier_pigeon"
    env["event"]["raw_prompt_text"] = "please summarise"
    p = ing.post.post(EVENTS, json_body=env).problem(422, "validation_failed")
    assert set(p["errors"]) == {"source.connector_type", "event.raw_prompt_text"}, p
    env = envelope(example, ing.tenant_ref, occurred_at="2026-06-11 08:00")
    p = ing.post.post(EVENTS, json_body=env).problem(422, "validation_failed")
    assert list(p["errors"]) == ["event.occurred_at"], p
    assert stored_rows(sql, env["event"]["event_id"]) == 0


def test_raw_content_claims_are_refused(ing, example, sql):
    for field in ("raw_prompt_included", "reasoning_included", "tool_output_included"):
        env = envelope(example, ing.tenant_ref)
        env["redaction"][field] = True
        p = ing.post.post(EVENTS, json_body=env).problem(422, "raw_content_refused")
        assert f"redaction.{field}" in p["errors"], p
        assert stored_rows(sql, env["event"]["event_id"]) == 0


def test_wrong_tenant_is_refused(ing, example, tenant_b, sql):
    env = envelope(example, tenant_b.tenant_ref)
    p = ing.post.post(EVENTS, json_body=env).problem(403, "tenant_mismatch")
    assert "tenant.tenant_ref" in p["errors"]
    assert stored_rows(sql, env["event"]["event_id"]) == 0
    env = envelope(example, "tenant:opaque-public-contract-sample")
    ing.post.post(EVENTS, json_body=env).problem(403, "tenant_mismatch")


def test_token_without_ingest_scope_is_refused(ing, example, sql):
    env = envelope(example, ing.tenant_ref)
    for path, body in ((EVENTS, env), (BATCH, {"envelopes": [env]})):
        ing.noscope.post(path, json_body=body).problem(403, "insufficient_scope")
    assert stored_rows(sql, env["event"]["event_id"]) == 0


def test_roles_without_ingest_are_refused(base_url, demo_logins, example, ing, login_as, sql):
    email, password = demo_logins["auditor"]
    c = login_as(email, password)
    env = envelope(example, ing.tenant_ref)
    c.post(EVENTS, json_body=env, headers={"X-CSRF-Token": c.csrf}).problem(403, "forbidden")
    assert stored_rows(sql, env["event"]["event_id"]) == 0


def test_batch_of_501_is_refused(ing, example, sql):
    prefix = f"e2e-big-{secrets.token_hex(4)}"
    envs = [minimal_envelope(example, ing.tenant_ref, f"{prefix}-{i}") for i in range(501)]
    r = ing.post.post(BATCH, json_body={"envelopes": envs})
    assert r.status in (413, 422), r.describe()
    r.problem(code="batch_too_large")
    assert len(r.body) < 4096
    n = sql(f"SELECT COUNT(*) FROM aispm.ingestion_events WHERE event_id LIKE {sql_str(prefix + '%')}").strip()
    assert n == "0"
    # 500 is the limit, not 499
    r = ing.post.post(BATCH, json_body={"envelopes": envs[:500]})
    assert r.status == 200, r.describe()
    assert r.json()["accepted"] == 500


def test_mixed_batch_answers_per_envelope_with_one_evidence_event(ing, example, sql):
    ok1 = envelope(example, ing.tenant_ref)
    ok2 = envelope(example, ing.tenant_ref, decision="block", severity="critical")
    bad = envelope(example, ing.tenant_ref, severity="apocalyptic")
    raw = envelope(example, ing.tenant_ref)
    raw["redaction"]["tool_output_included"] = True
    old = envelope(example, ing.tenant_ref)
    r = ing.post.post(EVENTS, json_body=old)
    assert r.status == 201, r.describe()
    original = r.json()
    body = {"envelopes": [ok1, bad, old, ok2, raw, ok1]}
    r = ing.post.post(BATCH, json_body=body)
    assert r.status == 200, r.describe()
    b = r.json()
    assert (b["envelopes"], b["accepted"], b["duplicates"], b["rejected"]) == (6, 2, 2, 2), b
    res = b["results"]
    assert [x["status"] for x in res] == ["accepted", "rejected", "duplicate", "accepted", "rejected", "duplicate"]
    assert [x["index"] for x in res] == list(range(6))
    assert res[1]["code"] == "validation_failed" and "event.severity" in res[1]["errors"]
    assert res[4]["code"] == "raw_content_refused" and "redaction.tool_output_included" in res[4]["errors"]
    assert res[2]["event_ref"] == original["event_ref"] and res[2]["evidence_ref"] == original["evidence_ref"]
    assert res[5]["event_ref"] == res[0]["event_ref"], "a repeat inside the batch is the first one's duplicate"
    assert res[0]["evidence_ref"] == res[3]["evidence_ref"] == b["evidence_ref"]
    for e in (ok1, ok2):
        assert stored_rows(sql, e["event"]["event_id"]) == 1
    for e in (bad, raw):
        assert stored_rows(sql, e["event"]["event_id"]) == 0
    # the batch digest is recomputable from the stored public views, in request order
    views = [ing.post.get(f"{EVENTS}/{e['event']['event_id']}").json() for e in (ok1, ok2)]
    assert all(v["batch_ref"] == b["batch_ref"] for v in views)
    digest = hashlib.sha256("\n".join(jcs(v["envelope"]) for v in views).encode()).hexdigest()
    assert b["accepted_digest"] == digest
    events = [e["event"] for e in audit_events(ing.post, limit=200)[:200]]
    batch_ev = [e for e in events if e["action"] == "ingestion.batch_accepted" and e["object_ref"] == b["batch_ref"]]
    assert len(batch_ev) == 1, "one evidence event per batch"
    d = batch_ev[0]["details"]
    assert (d["envelopes"], d["accepted"], d["duplicates"], d["rejected"]) == (6, 2, 2, 2)
    assert d["accepted_digest"] == digest
    assert batch_ev[0]["evidence_ref"].rsplit("/", 1)[1] == b["evidence_ref"].rsplit("/", 1)[1]


def test_batch_where_everything_is_rejected_is_422(ing, example, tenant_b):
    a = envelope(example, ing.tenant_ref, event_type="nope")
    c = envelope(example, tenant_b.tenant_ref)
    p = ing.post.post(BATCH, json_body={"envelopes": [a, c]}).problem(422, "batch_rejected")
    assert "envelopes.0.event.event_type" in p["errors"] and "envelopes.1.tenant.tenant_ref" in p["errors"], p
    assert [x["code"] for x in p["results"]] == ["validation_failed", "tenant_mismatch"]
    for body in ({"envelopes": []}, {"envelopes": {}}, {"events": [a]}, {}):
        ing.post.post(BATCH, json_body=body).problem(422, "validation_failed")


# --------------------------------------------------------------------------
# evidence, projections, health, privacy, isolation


def test_evidence_event_for_an_accepted_event(ing, example):
    env = envelope(example, ing.tenant_ref)
    r = ing.post.post(EVENTS, json_body=env)
    assert r.status == 201, r.describe()
    res = r.json()
    view = ing.post.get(f"{EVENTS}/{env['event']['event_id']}").json()
    events = [e["event"] for e in audit_events(ing.post, limit=100)[:100]]
    mine = [e for e in events if e["action"] == "ingestion.event_accepted" and e["object_ref"] == res["event_ref"]]
    assert len(mine) == 1, "one ingestion.event_accepted evidence event names the stored event"
    ev = mine[0]
    assert ev["evidence_ref"].rsplit("/", 1)[1] == res["evidence_ref"].rsplit("/", 1)[1]
    assert ev["outcome"] == "success" and ev["details"]["envelope_digest"] == view["envelope_digest"]
    text = json.dumps(ev)
    for private in (env["event"]["payload_ref"], env["event"]["actor_ref"]):
        assert private not in text


def test_private_refs_are_stored_but_never_answered(ing, example, sql, acme):
    tag = secrets.token_hex(8)
    payload = f"enterprise-private://canary-payload-{tag}"
    actor = f"role:canary-actor-{tag}"
    env = envelope(example, ing.tenant_ref, payload_ref=payload, actor_ref=actor)
    single = ing.post.post(EVENTS, json_body=env)
    assert single.status == 201, single.describe()
    env2 = envelope(example, ing.tenant_ref, payload_ref=payload + "-b", actor_ref=actor)
    batch = ing.post.post(BATCH, json_body={"envelopes": [env2]})
    assert batch.status == 200, batch.describe()
    dup = ing.post.post(EVENTS, json_body=env)
    stored = sql(f"SELECT payload_ref, actor_ref FROM aispm.ingestion_events WHERE event_id = "
                 f"{sql_str(env['event']['event_id'])}")
    assert payload in stored and actor in stored, "positive control: the private refs are stored"
    answers = [single, batch, dup]
    reader = Client(ing.post.base_url, token=acme.token_read)
    for c in (ing.post, reader):
        for path in (f"{EVENTS}/{env['event']['event_id']}", f"{EVENTS}/{env2['event']['event_id']}", HEALTH,
                     POSTURE, "/enterprise/aispm/audit/events?limit=500"):
            answers.append(c.get(path))
    for r in answers:
        assert r.status in (200, 201), r.describe()
        assert tag not in r.text, f"{r.method} {r.path} shows a private ref"
    bodies = sql("SELECT body FROM aispm.evidence_events")
    assert tag not in bodies, "an evidence event holds a private ref"


def test_posture_moves_by_exactly_what_was_ingested(ing, example, acme, base_url):
    reader = Client(base_url, token=acme.token_read)
    before = reader.get(POSTURE)
    assert before.status == 200, before.describe()
    p0 = before.json()
    tag = secrets.token_hex(4)
    agent, pack, risk = f"e2e-agent-{tag}", f"e2e-pack-{tag}", f"e2e_risk_{tag}"
    day = "2026-11-20"
    sent = [
        envelope(example, ing.tenant_ref, agent_id=agent, policy_pack=pack, risk_classification=risk,
                 decision="block", severity="critical", occurred_at=f"{day}T10:00:00Z", session_id=f"s1-{tag}"),
        envelope(example, ing.tenant_ref, agent_id=agent, policy_pack=pack, risk_classification=risk,
                 decision="warn", severity="medium", occurred_at=f"{day}T11:00:00Z", session_id=f"s1-{tag}"),
        envelope(example, ing.tenant_ref, agent_id=agent, policy_pack=pack, decision="allow", severity="none",
                 occurred_at=f"{day}T12:30:00+01:00", session_id=f"s2-{tag}", evidence_refs=[],
                 risk_classification=None),
    ]
    for e in sent:
        e["source"]["connector_type"] = "cursor"
        e["source"]["connector_id"] = f"conn-{tag}"
    r = ing.post.post(BATCH, json_body={"envelopes": sent})
    assert r.status == 200 and r.json()["accepted"] == 3, r.describe()
    # a rejected envelope and a duplicate move nothing
    ing.post.post(EVENTS, json_body=dict(sent[0], product="X"))
    ing.post.post(EVENTS, json_body=sent[1])
    p1 = reader.get(POSTURE).json()

    t0, t1 = p0["totals"], p1["totals"]
    assert t1["events"] - t0["events"] == 3
    assert t1["agents"] - t0["agents"] == 1
    assert t1["sessions"] - t0["sessions"] == 2
    assert t1["blocked"] - t0["blocked"] == 1
    assert t1["high_critical"] - t0["high_critical"] == 1
    assert t1["findings"] - t0["findings"] == 2  # severity none is not a finding
    for kind in p1["decisions"]:
        want = {"block": 1, "warn": 1, "allow": 1}.get(kind, 0)
        assert p1["decisions"][kind] - p0["decisions"][kind] == want, kind
    assert p1["event_types"]["tool_call"] - p0["event_types"]["tool_call"] == 3
    assert p1["connector_types"].get("cursor", 0) - p0["connector_types"].get("cursor", 0) == 3
    a = next(x for x in p1["agents"] if x["agent_id"] == agent)
    assert (a["events"], a["sessions"], a["highest_severity"], a["decision_count"]) == (3, 2, "critical", 3)
    assert a["first_seen_at"] == f"{day}T10:00:00.000Z" and a["last_seen_at"] == f"{day}T11:30:00.000Z"
    assert a["decisions"]["block"] == 1 and a["decisions"]["require_approval"] == 0
    assert a["connectors"] == [{"connector_type": "cursor", "connector_id": f"conn-{tag}", "events": 3,
                                "last_seen_at": f"{day}T11:30:00.000Z"}]
    fr = {x["risk_classification"]: x for x in p1["findings"]["by_risk_classification"]}
    assert fr[risk]["findings"] == 2 and fr[risk]["by_severity"] == {"low": 0, "medium": 1, "high": 0, "critical": 1}
    sev0, sev1 = p0["findings"]["by_severity"], p1["findings"]["by_severity"]
    assert {k: sev1[k] - sev0[k] for k in sev1} == {"low": 0, "medium": 1, "high": 0, "critical": 1}
    cc = next(x for x in p1["control_coverage"] if x["policy_pack"] == pack)
    assert (cc["events"], cc["blocked"], cc["warned"], cc["approval_required"], cc["evidence_refs"]) == (3, 1, 1, 0, 2)
    assert cc["last_event_at"] == f"{day}T11:30:00.000Z" and cc["last_evidence_at"] == f"{day}T11:00:00.000Z"
    fresh = {(x["policy_pack"], x["risk_classification"]): x for x in p1["evidence_freshness"]}
    assert fresh[(pack, risk)]["events"] == 2 and fresh[(pack, risk)]["newest_event_at"] == f"{day}T11:00:00.000Z"
    assert fresh[(pack, "unclassified")]["events"] == 1

    def day_row(p):
        return next((x for x in p["timeline"] if x["date"] == day), {"events": 0, "blocked": 0, "high_critical": 0})

    d0, d1 = day_row(p0), day_row(p1)
    assert (d1["events"] - d0["events"], d1["blocked"] - d0["blocked"],
            d1["high_critical"] - d0["high_critical"]) == (3, 1, 1)


def test_health_counts_by_reason(ing, example, tenant_b):
    h0 = ing.post.get(HEALTH).json()
    good = envelope(example, ing.tenant_ref)
    good["source"]["connector_id"] = f"health-{secrets.token_hex(4)}"
    assert ing.post.post(EVENTS, json_body=good).status == 201
    assert ing.post.post(EVENTS, json_body=good).status == 200
    ing.post.post(EVENTS, json_body=envelope(example, ing.tenant_ref, decision="maybe")).problem(422)
    raw = envelope(example, ing.tenant_ref)
    raw["redaction"]["reasoning_included"] = True
    ing.post.post(EVENTS, json_body=raw).problem(422, "raw_content_refused")
    ing.post.post(EVENTS, json_body=envelope(example, tenant_b.tenant_ref)).problem(403, "tenant_mismatch")
    big = [minimal_envelope(example, ing.tenant_ref, f"h-{i}") for i in range(501)]
    ing.post.post(BATCH, json_body={"envelopes": big}).problem(code="batch_too_large")
    h1 = ing.post.get(HEALTH).json()
    assert h1["accepted"] - h0["accepted"] == 1
    assert h1["duplicates"] - h0["duplicates"] == 1
    r0, r1 = h0["rejected"]["by_reason"], h1["rejected"]["by_reason"]
    assert {k: r1[k] - r0.get(k, 0) for k in r1} == {"validation_failed": 1, "raw_content_refused": 1,
                                                      "tenant_mismatch": 1, "batch_too_large": 1}
    assert h1["rejected"]["total"] - h0["rejected"]["total"] == 4
    conn = [c for c in h1["connectors"] if c["connector_id"] == good["source"]["connector_id"]]
    assert conn == [{"connector_type": "codex", "connector_id": good["source"]["connector_id"], "accepted": 1,
                     "last_event_at": "2026-06-11T08:00:00.000Z", "last_accepted_at": conn[0]["last_accepted_at"]}]
    assert h1["last_accepted_at"] == conn[0]["last_accepted_at"]


def test_other_tenants_cannot_read_events(ing, example, tenant_b, base_url):
    env = envelope(example, ing.tenant_ref)
    assert ing.post.post(EVENTS, json_body=env).status == 201
    b = Client(base_url, token=tenant_b.token_read)
    b.get(f"{EVENTS}/{env['event']['event_id']}").problem(404, "not_found")
    assert ing.post.get(f"{EVENTS}/no-such-event-{secrets.token_hex(4)}").problem(404, "not_found")
    hb = b.get(HEALTH).json()
    assert hb["tenant_ref"] == tenant_b.tenant_ref and env["source"]["connector_id"] not in json.dumps(hb)
    pb = b.get(POSTURE).json()
    assert env["event"]["agent_id"] not in json.dumps(pb)


def test_read_routes_need_their_permissions(ing, acme, base_url, admin_cli):
    ingest_only = Client(base_url, token=admin_cli.create_token("acme", acme.admin_email, "ingest", name="ing-only"))
    for path in (HEALTH, POSTURE, f"{EVENTS}/evt_01jz_public_contract_sample"):
        ingest_only.get(path).problem(403, "insufficient_scope")
        Client(base_url).get(path).problem(401, "unauthenticated")
