"""The one retrievability rule outside the artifact routes, through nginx, in a
fresh tenant of its own (the sweep runs with --tenant).

Covers: a signed export package is a retention item of kind export_package
from the transaction that created it, downloadable while retained and 410
`archived_past_retention` once the sweep archived it; after a deletion
approved by another user in the generic approvals API, a tombstone exists and
the evidence-room download and view of the artifact and a package build that
contains it are refused with 410 `deleted` — each attempt recorded
(retention.retrieval_blocked evidence naming the route, and for the room a
blocked access event whose reason is the verdict's code).
"""

import os

import pytest

from .conftest import audit_events
from .retention_helpers import ITEMS, REQUESTS, FreshTenant, item, render
from .test_evidence_rooms import API as ROOMS, HTML, Rooms

PACKAGES = "/enterprise/aispm/reports/packages"
APPROVALS = "/enterprise/aispm/reports/approvals"


def blocked(client, ref, route):
    return [e["event"] for e in audit_events(client)
            if e["event"]["action"] == "retention.retrieval_blocked" and e["event"]["object_ref"] == ref
            and e["event"]["details"]["route"] == route]


@pytest.fixture(scope="module")
def g(base_url, admin_cli, app_config):
    t = FreshTenant(base_url, admin_cli, ["tenant_admin", "approver"], "gate")
    admin = t["tenant_admin"].api
    t.x = render(admin, "control_coverage_export", "csv")
    t.artifacts_dir = app_config["artifacts_dir"]
    t.rooms = Rooms(base_url, admin, {"csv": t.x})
    return t


def test_packages_are_retention_items_gated_on_download(g):
    admin = g["tenant_admin"].api
    r = admin.post(PACKAGES, json_body={"type": "grc_upload", "artifact_refs": [g.x["artifact_ref"]]})
    assert r.status == 201, r.describe()
    ref = r.json()["package_ref"]
    it = item(admin, ref)
    assert it["object_kind"] == "export_package" and it["lifecycle_state"] == "retained", it
    assert it["digest"] == r.json()["digest"]
    assert admin.get(f"{PACKAGES}/{ref}/content").status == 200
    g.package = ref


def test_deleted_artifact_is_refused_by_rooms_and_package_builds(g):
    admin, approver = g["tenant_admin"].api, g["approver"].api
    x = g.x["artifact_ref"]
    room = g.rooms.create(formats=("csv",))["room"]["room_ref"]
    auditor = g.rooms.auditor(room)
    link = f"/portal/rooms/{room}/artifacts/{x}/download"
    assert auditor.get(link).status == 200, "downloadable while retained"

    counts = g.sweep(days_ahead=400)
    assert counts["archived"] >= 2, counts  # the artifact and the package
    assert item(admin, x)["lifecycle_state"] == "archived"
    admin.get(f"{PACKAGES}/{g.package}/content").problem(410, "archived_past_retention")
    assert blocked(admin, g.package, "package_content")
    assert auditor.get(link).status == 410, "archived content is not served from a room either"

    r = admin.post(REQUESTS, json_body={"action": "delete", "object_ref": x, "reason": "retention ended"})
    assert r.status == 202, r.describe()
    aref = r.json()["approval_ref"]
    d = approver.post(f"{APPROVALS}/{aref}/decision", json_body={"decision": "approve"})
    assert d.status == 200 and d.json()["state"] == "approved", d.describe()
    it = item(admin, x)
    assert it["lifecycle_state"] == "deleted"
    assert it["tombstone"] and it["tombstone"]["digest"] == g.x["digest"], it
    assert not os.path.exists(os.path.join(g.artifacts_dir, g.ulid, g.x["digest"]))

    # the evidence room: download and view refused with the verdict, each an access event
    r = auditor.get(link)
    assert r.status == 410 and "deleted" in r.text, r.describe()
    assert auditor.get(f"/portal/rooms/{room}/artifacts/{x}", headers=HTML).status == 410
    ev = g.rooms.events(room)
    tail = [(e["event"]["event_type"], e["event"]["outcome"], e["access_decision"]["reason"]) for e in ev[-2:]]
    assert tail == [("failed_policy", "blocked", "deleted"), ("failed_policy", "blocked", "deleted")], tail
    assert all(e["event"]["artifact_ref"] == x for e in ev[-2:] if "artifact_ref" in e["event"])
    assert blocked(admin, x, "evidence_room_download") and blocked(admin, x, "evidence_room_view")

    # a package build containing it
    p = admin.post(PACKAGES, json_body={"type": "grc_upload", "artifact_refs": [x]}).problem(410, "deleted")
    assert set(p["errors"]) == {"artifact_refs[0]"}, p
    attempts = blocked(admin, x, "package_build")
    assert attempts and attempts[0]["details"]["status"] == 410 and attempts[0]["outcome"] == "blocked"
    assert admin.get(f"{ITEMS}/{x}").json()["tombstone"]["tombstone_ref"].startswith("tombstone:")
    assert admin.get(f"{ROOMS}/{room}").status == 200
