"""Signed export packages through nginx: POST /enterprise/aispm/reports/packages,
the package metadata, list, public manifest projection and content, the
public signing certificate and JWKS, key rotation and the portal pages.

Every package is verified with tools nobody on this project wrote: `unzip -t`,
`sha256sum -c SHA256SUMS`, Debian's `xmlsec1 --verify` (an OpenSSL build) on
the enveloped XML-DSig of manifest.xml with the published certificate, npm
jose on the detached JWS of manifest.json with the key from
/.well-known/jwks.json, node:crypto on the evidence-chain excerpt's
checkpoint signatures, npm ajv@8 (+ ajv-formats) against NIST's OSCAL 1.0.6
Assessment Results JSON schema and `xmllint --schema` against its XSD
and npm xml-crypto on manifest.xml again (tests/browser/verify-package.mjs
runs the node parts). Flipping one byte of
an artifact, of manifest.json, of the JWS signature, of manifest.xml or of a
chain body makes the matching verification fail. The projection validates
against aispm-report-export-package-manifest.schema.json and holds no
address, URL or content; another tenant's artifact or package is 404; an
Idempotency-Key repeat answers 200 with the same package, a reuse with other
parameters 409; after `aispm admin keygen --rotate-package-key` an old
package still verifies (JWKS by kid, certificate by kid) and new ones use the
new key; the chain still verifies with `aispm admin verify-audit`.
"""

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import zipfile

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from .conftest import REPO, Client, audit_events, hidden_inputs
from .test_render import render

PACKAGES = "/enterprise/aispm/reports/packages"
ARTIFACTS = "/enterprise/aispm/reports/artifacts"
JWKS = "/.well-known/jwks.json"
CERT = "/.well-known/aispm-signing-cert.pem"
VERIFY = os.path.join(REPO, "tests", "browser", "verify-package.mjs")
OSCAL_DIR = os.path.join(os.environ.get("AISPM_CONTRACTS", os.path.join(REPO, "..", "shared", "contracts")),
                         "oscal-1.0.6")
OSCAL_JSON = os.path.join(OSCAL_DIR, "oscal_assessment-results_schema.json")
OSCAL_XSD = os.path.join(OSCAL_DIR, "oscal_assessment-results_schema.xsd")
MANIFEST_SCHEMA = os.path.join(os.environ.get("AISPM_CONTRACTS", os.path.join(REPO, "..", "shared", "contracts")),
                               "cavra", "schemas", "aispm-report-export-package-manifest.schema.json")
TARGET = {"target_ref": "target:grc-connector-1", "target_type": "grc_upload", "recipient_scope": "system_connector",
          "delivery_mode": "webhook", "approval_required": True}
CANARY_EMAIL = "canary.recipient@pkg-canary.example"


def run(*args, cwd=None):
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def build(client, body, key=None, status=201):
    r = client.post(PACKAGES, json_body=body, headers={"Idempotency-Key": key} if key else None)
    assert r.status == status, r.describe()
    return r


def fetch(client, ref, dest):
    """downloads and extracts a package into dest; returns (metadata, zip bytes)"""
    meta = client.get(f"{PACKAGES}/{ref}")
    assert meta.status == 200, meta.describe()
    content = client.get(f"{PACKAGES}/{ref}/content")
    assert content.status == 200, content.describe()
    assert content.header("Content-Type") == "application/zip"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "package.zip").write_bytes(content.body)
    t = run("unzip", "-t", "package.zip", cwd=dest)
    assert t.returncode == 0 and "No errors detected" in t.stdout, t.stdout + t.stderr
    x = run("unzip", "-q", "-o", "package.zip", "-d", "pkg", cwd=dest)
    assert x.returncode == 0, x.stderr
    return meta.json(), content.body


def node_verify(base_url, d):
    r = run("node", VERIFY, base_url, str(d), OSCAL_JSON)
    try:
        out = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"verify-package.mjs: {r.returncode} {r.stdout} {r.stderr}")
    return r.returncode, out


def xmlsec_verify(d, cert):
    return run("xmlsec1", "--verify", "--pubkey-cert-pem", str(cert), str(d / "manifest.xml"))


def flip(path, offset=None):
    b = bytearray(path.read_bytes())
    i = len(b) // 2 if offset is None else offset
    b[i] ^= 0x01
    path.write_bytes(bytes(b))


@pytest.fixture(scope="module")
def pk(base_url, acme, admin_cli):
    """three rendered artifacts of the demo tenant and a grc_upload package of them"""
    w = type("Packages", (), {})()
    w.token = admin_cli.create_token("acme", acme.admin_email, "reports:read,reports:write", name="e2e-packages")
    w.client = Client(base_url, token=w.token)
    w.read = Client(base_url, token=acme.token_read)
    w.tenant_ref = acme.tenant_ref
    w.artifacts = [render(w.client, rid, fmt)["artifact_ref"]
                   for rid, fmt in (("control_coverage_export", "csv"), ("board_kpi_pack", "json"),
                                    ("pdf_board_pack", "pdf"))]
    w.body = {"type": "grc_upload", "artifact_refs": w.artifacts, "delivery_targets": [TARGET]}
    w.key = f"pkg-{os.urandom(6).hex()}"
    r = build(w.client, w.body, w.key)
    w.meta = r.json()
    w.ref = w.meta["package_ref"]
    assert r.header("Location") == f"{PACKAGES}/{w.ref}"
    return w


@pytest.fixture(scope="module")
def extracted(pk, base_url, tmp_path_factory):
    d = tmp_path_factory.mktemp("package")
    meta, body = fetch(pk.read, pk.ref, d)
    cert = d / "cert.pem"
    r = Client(base_url).get(f"{CERT}?kid={meta['kid']}")
    assert r.status == 200 and r.body.startswith(b"-----BEGIN CERTIFICATE-----"), r.describe()
    cert.write_bytes(r.body)
    return type("Extracted", (), {"dir": d / "pkg", "root": d, "meta": meta, "zip": body, "cert": cert})()


def test_package_holds_the_artifacts_and_sha256sums_verify(pk, extracted):
    d, meta = extracted.dir, extracted.meta
    assert hashlib.sha256(extracted.zip).hexdigest() == meta["digest"] and meta["size"] == len(extracted.zip)
    names = sorted(zipfile.ZipFile(extracted.root / "package.zip").namelist())
    assert {"manifest.json", "manifest.json.jws", "manifest.xml", "SHA256SUMS", "evidence-chain.json",
            "VERIFY.txt", "oscal/assessment-results.json", "oscal/assessment-results.xml"} <= set(names)
    r = run("sha256sum", "-c", "SHA256SUMS", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = {line.split("  ", 1)[1] for line in (d / "SHA256SUMS").read_text().splitlines()}
    assert listed == set(names) - {"SHA256SUMS"}
    m = json.loads((d / "manifest.json").read_bytes())
    assert m["package_ref"] == pk.ref and m["package_type"] == "grc_upload" and m["tenant_ref"] == pk.tenant_ref
    assert m["requester_role"] == "tenant_admin" and m["retention_class"] == "audit_record"
    assert m["signed_manifest_required"] is True and m["watermark_required"] is False
    assert m["delivery_targets"] == [TARGET]
    assert [a["artifact_ref"] for a in m["artifacts"]] == pk.artifacts
    for a in m["artifacts"]:
        art = pk.read.get(f"{ARTIFACTS}/{a['artifact_ref']}").json()
        data = (d / a["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == a["sha256"] == art["digest"]
        assert len(data) == a["size"] == art["size"] and a["report_id"] == art["report_id"]
        assert a["format"] == art["format"]
    # the package's own evidence and the artifacts' render evidence are listed
    assert len(m["evidence_refs"]) == 1 + len(pk.artifacts)
    assert m["evidence_chain"]["checkpoint_seq"] == meta["checkpoint_seq"] > 0
    assert m["evidence_chain"]["ref"].endswith(f"/checkpoint/{meta['checkpoint_seq']}")
    assert m["signing"]["kid"] == meta["kid"] and m["signing"]["alg"] == "RS256"
    assert hashlib.sha256((d / "manifest.json").read_bytes()).hexdigest() == meta["manifest_digest"]


def test_xmlsec1_verifies_the_xml_manifest(extracted):
    d = extracted.dir
    r = xmlsec_verify(d, extracted.cert)
    assert r.returncode == 0 and "OK" in r.stdout + r.stderr, r.stdout + r.stderr
    r = run("xmlsec1", "--verify", "--trusted-pem", str(extracted.cert), str(d / "manifest.xml"))
    assert r.returncode == 0, r.stdout + r.stderr
    xml = (d / "manifest.xml").read_text()
    assert "http://www.w3.org/2001/10/xml-exc-c14n#" in xml
    assert "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in xml
    assert f"<ds:KeyName>{extracted.meta['kid']}</ds:KeyName>" in xml and "<ds:X509Certificate>" in xml
    # the XML manifest binds the JSON manifest too
    digest = hashlib.sha256((d / "manifest.json").read_bytes()).hexdigest()
    assert f'sha256="{digest}"' in xml


def test_jose_chain_and_oscal_json_verify(base_url, extracted, pk):
    rc, out = node_verify(base_url, extracted.dir)
    assert rc == 0, out
    assert out["jws"]["result"] == extracted.meta["kid"] == out["xml"]["result"]
    assert out["chain"]["result"]["events"] == 1 + len(pk.artifacts)
    assert out["oscal"]["result"] == len(pk.artifacts)
    x = json.loads((extracted.dir / "evidence-chain.json").read_bytes())
    assert {e["action"] for e in x["events"]} == {"package.requested", "report.rendered"}
    assert x["segments"][-1]["checkpoint"]["seq"] == extracted.meta["checkpoint_seq"]


def test_oscal_documents_describe_the_artifacts(extracted, pk):
    d = extracted.dir
    r = run("xmllint", "--noout", "--schema", OSCAL_XSD, str(d / "oscal" / "assessment-results.xml"))
    assert r.returncode == 0 and "validates" in r.stderr, r.stderr
    ar = json.loads((d / "oscal" / "assessment-results.json").read_bytes())["assessment-results"]
    assert ar["metadata"]["oscal-version"] == "1.0.6"
    m = json.loads((d / "manifest.json").read_bytes())
    obs = ar["results"][0]["observations"]
    props = [{p["name"]: p["value"] for p in o["props"]} for o in obs]
    assert [p["artifact-ref"] for p in props] == pk.artifacts
    assert [p["sha256"] for p in props] == [a["sha256"] for a in m["artifacts"]]
    hashes = {r["rlinks"][0]["href"]: r["rlinks"][0]["hashes"][0]["value"]
              for r in ar["back-matter"]["resources"] if "rlinks" in r}
    assert hashes == {a["file"]: a["sha256"] for a in m["artifacts"]}
    xml = (d / "oscal" / "assessment-results.xml").read_text()
    for a in m["artifacts"]:
        assert a["sha256"] in xml and a["artifact_ref"] in xml


def test_flipped_bytes_fail_verification(base_url, extracted, tmp_path):
    def copy():
        dst = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(extracted.dir, dst)
        return dst

    m = json.loads((extracted.dir / "manifest.json").read_bytes())
    # an artifact: its checksum fails, the signatures (over the manifest) still hold
    d = copy()
    flip(d / m["artifacts"][0]["file"])
    r = run("sha256sum", "-c", "SHA256SUMS", cwd=d)
    assert r.returncode != 0 and f"{m['artifacts'][0]['file']}: FAILED" in r.stdout
    # the manifest: the JWS and the checksum fail
    d = copy()
    flip(d / "manifest.json", 20)
    rc, out = node_verify(base_url, d)
    assert rc == 1 and not out["jws"]["ok"] and out["chain"]["ok"], out
    assert run("sha256sum", "-c", "SHA256SUMS", cwd=d).returncode != 0
    # the JWS signature
    d = copy()
    jws = (d / "manifest.json.jws").read_text().strip()
    sig = jws.rsplit(".", 1)[1]
    bad = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    (d / "manifest.json.jws").write_text(jws[: -len(sig)] + bad)
    rc, out = node_verify(base_url, d)
    assert rc == 1 and not out["jws"]["ok"], out
    # the XML manifest: a fact, and the signature value
    d = copy()
    xml = (d / "manifest.xml").read_text()
    (d / "manifest.xml").write_text(xml.replace("<retention-class>audit_record<", "<retention-class>audit_recorc<"))
    assert xmlsec_verify(d, extracted.cert).returncode != 0
    rc, out = node_verify(base_url, d)
    assert rc == 1 and not out["xml"]["ok"] and out["jws"]["ok"], out
    d = copy()
    sv = re.search(r"<ds:SignatureValue>([^<]+)</ds:SignatureValue>", xml).group(1)
    forged = sv[:20] + ("A" if sv[20] != "A" else "B") + sv[21:]
    (d / "manifest.xml").write_text(xml.replace(sv, forged))
    assert xmlsec_verify(d, extracted.cert).returncode != 0
    # one byte of an evidence body in the chain excerpt
    d = copy()
    x = json.loads((d / "evidence-chain.json").read_bytes())
    body = x["segments"][0]["links"][0]["body"]
    x["segments"][0]["links"][0]["body"] = body.replace('"outcome":"success"', '"outcome":"successs"', 1)
    assert x["segments"][0]["links"][0]["body"] != body
    (d / "evidence-chain.json").write_text(json.dumps(x))
    rc, out = node_verify(base_url, d)
    assert rc == 1 and not out["chain"]["ok"] and out["jws"]["ok"], out


def test_public_manifest_projection_validates_and_holds_only_refs(pk, extracted):
    r = pk.read.get(f"{PACKAGES}/{pk.ref}/manifest")
    assert r.status == 200, r.describe()
    proj = r.json()
    with open(MANIFEST_SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    errors = sorted(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(proj), key=str)
    assert not errors, [e.message for e in errors]
    assert proj["package"]["package_ref"] == pk.ref and proj["package"]["package_type"] == "grc_upload_package"
    assert proj["package"]["requested_by"] == "role:tenant_admin"
    assert [a["artifact_ref"] for a in proj["artifacts"]] == pk.artifacts
    m = json.loads((extracted.dir / "manifest.json").read_bytes())
    assert [a["digest_ref"] for a in proj["artifacts"]] == [f"sha256:{a['sha256']}" for a in m["artifacts"]]
    assert proj["integrity"]["manifest_digest_ref"] == f"sha256:{extracted.meta['manifest_digest']}"
    assert proj["integrity"]["chain_ref"] == m["evidence_chain"]["ref"]
    assert all(e.startswith("cavra://evidence/redacted/") for e in proj["evidence"]["source_evidence_refs"])
    text = r.text
    assert "@" not in text and "http://" not in text and "https://" not in text
    assert pk.tenant_ref.split(":")[1] not in json.dumps(proj["evidence"])


def test_refusals(pk, base_url, admin_cli, demo_logins):
    c = pk.client
    r = build(c, {"type": "nope", "artifact_refs": []}, status=422)
    p = r.json()
    assert p["code"] == "validation_failed" and {"type", "artifact_refs"} <= set(p["errors"])
    r = build(c, {"type": "board_pack", "artifact_refs": pk.artifacts[:1], "retention_class": "legal_hold"},
              status=422)
    assert "retention_class" in r.json()["errors"]
    target = dict(TARGET, target_ref=f"mailto:{CANARY_EMAIL}")
    r = build(c, {"type": "board_pack", "artifact_refs": pk.artifacts[:1], "delivery_targets": [target]},
              status=422)
    assert "delivery_targets[0].target_ref" in r.json()["errors"] and CANARY_EMAIL not in r.text
    r = build(c, {"type": "board_pack", "artifact_refs": [pk.artifacts[0], pk.artifacts[0]]}, status=422)
    assert "artifact_refs[1]" in r.json()["errors"]
    # a role without reports.render
    email, _ = demo_logins["approver"]
    tok = admin_cli.create_token("acme", email, "reports:read", name="e2e-pkg-approver")
    assert Client(base_url, token=tok).post(PACKAGES, json_body=pk.body).status == 403
    # nothing of the refused requests was stored or evidenced with the canary
    assert CANARY_EMAIL not in json.dumps(audit_events(pk.read, limit=200))


def test_idempotency_key(pk):
    r = build(pk.client, pk.body, pk.key, status=200)
    assert r.json()["package_ref"] == pk.ref
    other = dict(pk.body, type="board_pack")
    r = build(pk.client, other, pk.key, status=409)
    assert r.json()["code"] == "idempotency_key_reused"


def test_other_tenant_sees_nothing(pk, base_url, tenant_b):
    b = Client(base_url, token=tenant_b.token_admin)
    r = b.post(PACKAGES, json_body={"type": "board_pack", "artifact_refs": pk.artifacts[:1]})
    assert r.status == 404 and r.json()["code"] == "artifact_not_found", r.describe()
    for path in (f"{PACKAGES}/{pk.ref}", f"{PACKAGES}/{pk.ref}/content", f"{PACKAGES}/{pk.ref}/manifest"):
        assert b.get(path).status == 404
    lst = b.get(PACKAGES)
    assert lst.status == 200 and pk.ref not in lst.text


def test_list_and_evidence(pk, extracted):
    lst = pk.read.get(f"{PACKAGES}?limit=100")
    assert lst.status == 200 and pk.ref in [p["package_ref"] for p in lst.json()["packages"]]
    events = [e["event"] for e in audit_events(pk.read) if e["event"].get("object_ref") == pk.ref]
    actions = {e["action"] for e in events}
    assert {"package.requested", "package.built", "package.downloaded"} <= actions, actions


def test_signing_key_files_and_published_keys(base_url, app_config, extracted, sql):
    for k in ("package_key", "evidence_key"):
        assert stat.S_IMODE(os.stat(app_config[k]).st_mode) == 0o600
    jwks = Client(base_url).get(JWKS).json()["keys"]
    rsa = [k for k in jwks if k["kid"] == extracted.meta["kid"]]
    assert len(rsa) == 1 and rsa[0]["kty"] == "RSA" and rsa[0]["alg"] == "RS256"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(rsa[0])
    with open(app_config["package_key"], encoding="ascii") as f:
        pem_body = "".join(line.strip() for line in f if not line.startswith("-----"))
    dump = sql("SELECT public_jwk FROM aispm.signing_keys; SELECT cert_pem FROM aispm.signing_certificates")
    assert pem_body[40:100] not in dump.replace("\\n", "")
    cur = Client(base_url).get(CERT)
    assert cur.status == 200 and cur.header("Content-Type").startswith("application/x-pem-file")
    assert Client(base_url).get(f"{CERT}?kid=0000000000000000").status == 404


def test_portal_build_form_and_package_page(base_url, acme, login_as, pk):
    html = {"Accept": "text/html"}
    c = login_as(acme.admin_email, acme.admin_password)
    page = c.get("/portal/packages", headers=html)
    assert page.status == 200 and 'action="/portal/packages"' in page.text and pk.ref in page.text
    key = hidden_inputs(page.text, "idempotency_key")[0]
    fields = re.findall(r'name="(artifact_\d+)" value="([^"]+)"', page.text)
    chosen = {f: v for f, v in fields if v in pk.artifacts[:2]}
    assert len(chosen) == 2, fields
    form = dict({"_csrf": c.csrf, "type": "board_pack", "retention_class": "", "idempotency_key": key}, **chosen)
    assert c.post("/portal/packages", form=dict(form, _csrf="x"), headers=html).status == 403
    r = c.post("/portal/packages", form=form, headers=html)
    assert r.status == 303, r.describe()
    loc = r.header("Location")
    assert loc.startswith("/portal/packages/package:")
    assert c.post("/portal/packages", form=form, headers=html).header("Location") == loc
    page = c.get(loc, headers=html)
    assert page.status == 200 and "How to verify" in page.text and "sha256sum -c SHA256SUMS" in page.text
    assert "/content" in page.text and CERT in page.text and "board_pack" in page.text
    meta = Client(base_url, token=acme.token_read).get(f"{PACKAGES}/{loc.rsplit('/', 1)[1]}").json()
    assert meta["watermark_required"] is True and meta["retention_class"] == "governance_record"
    assert sorted(a["artifact_ref"] for a in meta["artifacts"]) == sorted(chosen.values())
    assert "oscal" not in json.dumps(meta["files"])


def test_zz_rotation_keeps_old_packages_verifiable(pk, extracted, base_url, admin_cli, tmp_path):
    old_kid = extracted.meta["kid"]
    out = admin_cli.out("keygen", "--rotate-package-key")
    assert f"retired package signing key {old_kid}" in out
    r = build(pk.client, {"type": "siem_export", "artifact_refs": pk.artifacts[:1]})
    new = r.json()
    assert new["kid"] != old_kid
    kids = {k["kid"] for k in Client(base_url).get(JWKS).json()["keys"]}
    assert {old_kid, new["kid"]} <= kids
    # the old package still verifies: JWS with the JWKS key of its kid, XML with its certificate by kid
    rc, res = node_verify(base_url, extracted.dir)
    assert rc == 0, res
    old_cert = tmp_path / "old.pem"
    old_cert.write_bytes(Client(base_url).get(f"{CERT}?kid={old_kid}").body)
    assert xmlsec_verify(extracted.dir, old_cert).returncode == 0
    # the current certificate is the new key's, and it does not verify the old package
    cur = tmp_path / "cur.pem"
    cur.write_bytes(Client(base_url).get(CERT).body)
    assert cur.read_bytes() == Client(base_url).get(f"{CERT}?kid={new['kid']}").body
    assert xmlsec_verify(extracted.dir, cur).returncode != 0
    # the new package verifies with the new material
    meta, _ = fetch(pk.read, new["package_ref"], tmp_path / "new")
    rc, res = node_verify(base_url, tmp_path / "new" / "pkg")
    assert rc == 0 and res["jws"]["result"] == new["kid"], res
    assert xmlsec_verify(tmp_path / "new" / "pkg", cur).returncode == 0
    # and the evidence chain as a whole still verifies
    v = admin_cli.run("verify-audit", "--tenant", "acme")
    assert v.returncode == 0 and "OK" in v.stdout, v.stdout + v.stderr
