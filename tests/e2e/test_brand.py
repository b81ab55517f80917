"""Tenant brand profiles through nginx: GET/PUT /enterprise/aispm/reports/brand,
GET .../brand/logo and the portal page /portal/brand (multipart upload, CSRF).

A fresh tenant (so other suites' renders of the demo tenant keep the default
brand) sets a display name, colours, a distinctive footer and legal
disclaimer and a PNG logo, through the API and through the portal form; the
PDF board pack rendered afterwards is read back with poppler-utils: the footer
on every page (pdftotext), the disclaimer present, the logo embedded with its
dimensions (pdfimages -list), the brand digest in the PDF's Keywords (pdfinfo).
The same brand renders to the same artifact; a changed brand to a new digest.
The HTML and Markdown narratives show the display name and the disclaimer. A
bad colour, a non-PNG, an oversized or too large logo are 422 with the field
named and change nothing; a role without settings.write and a token without the
admin scope are 403; every change writes evidence brand.updated without the texts.
"""

import base64
import hashlib
import os
import re
import secrets
import struct
import subprocess
import zlib

import pytest

from .conftest import Client, audit_events, hidden_inputs, rand, strong_password
from .test_render import ARTIFACTS, pdf_text, render

BRAND = "/enterprise/aispm/reports/brand"


def png(width, height, pixel=None, noise=False):
    """a truecolour PNG written here (zlib + CRC, no image library)"""
    rows = []
    for y in range(height):
        if noise:
            rows.append(b"\x00" + os.urandom(width * 3))
        else:
            rows.append(b"\x00" + bytes(pixel or (200, 30, 60)) * width)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


def multipart(fields, files):
    """(body, content type) of a multipart/form-data form"""
    boundary = "----e2e" + secrets.token_hex(12)
    out = []
    for k, v in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode()
                   + b"\r\n")
    for k, (name, data, ctype) in files.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                   f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


def pdf_pages(body):
    info = subprocess.run(["pdfinfo", "-"], input=body, capture_output=True, timeout=60)
    assert info.returncode == 0, info.stderr
    fields = dict(line.split(":", 1) for line in info.stdout.decode().splitlines() if ":" in line)
    return int(fields["Pages"].strip()), {k: v.strip() for k, v in fields.items()}


def pdf_images(body, tmp_path):
    path = tmp_path / "pack.pdf"
    path.write_bytes(body)
    r = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[2:] if line.strip()]
    return [{"page": int(c[0]), "type": c[2], "width": int(c[3]), "height": int(c[4])} for c in rows]


def download(client, artifact_ref):
    r = client.get(f"{ARTIFACTS}/{artifact_ref}/content")
    assert r.status == 200, r.describe()
    return r.body


@pytest.fixture(scope="module")
def bt(base_url, admin_cli):
    """a fresh tenant: tenant_admin (login + admin token), a report_operator and an auditor"""
    t = type("BrandTenant", (), {})()
    t.slug = f"brand-{rand(10)}"
    t.tenant_ref = admin_cli.create_tenant(t.slug, f"Brand Test {t.slug}")
    t.admin_email, t.admin_password = f"admin@{t.slug}.example", strong_password()
    admin_cli.create_user(t.slug, t.admin_email, "tenant_admin", t.admin_password)
    t.admin = Client(base_url, token=admin_cli.create_token(t.slug, t.admin_email, "reports:read,reports:write,admin"))
    t.no_admin_scope = Client(base_url, token=admin_cli.create_token(t.slug, t.admin_email, "reports:read,reports:write"))
    t.op_email, t.op_password = f"op@{t.slug}.example", strong_password()
    admin_cli.create_user(t.slug, t.op_email, "report_operator", t.op_password)
    t.operator = Client(base_url, token=admin_cli.create_token(t.slug, t.op_email, "reports:read,reports:write"))
    aud = f"aud@{t.slug}.example"
    admin_cli.create_user(t.slug, aud, "auditor", strong_password())
    t.auditor = Client(base_url, token=admin_cli.create_token(t.slug, aud, "reports:read"))
    t.logo = png(160, 48, (12, 120, 200))
    t.footer = f"ZQ-FOOTER-{secrets.token_hex(4)} Internal use only"
    t.disclaimer = f"ZQ-LEGAL-{secrets.token_hex(4)}: this pack is not an audit opinion.\nSecond line of the notice."
    t.name = f"Brandwell Holdings {secrets.token_hex(3)}"
    return t


@pytest.fixture(scope="module")
def branded(bt):
    """the brand set through the API, and the board pack rendered with it"""
    before = bt.admin.get(BRAND)
    assert before.status == 200, before.describe()
    assert before.json()["customised"] is False and before.json()["logo"] is None
    r = bt.admin.put(BRAND, json_body={
        "display_name": bt.name, "primary_color": "#7a1f5c", "accent_color": "#E08A00",
        "footer_text": bt.footer, "legal_disclaimer": bt.disclaimer,
        "logo_png_base64": base64.b64encode(bt.logo).decode()})
    assert r.status == 200, r.describe()
    done = render(bt.admin, "pdf_board_pack", "pdf")
    return {"brand": r.json(), "render": done, "pdf": download(bt.admin, done["artifact_ref"])}


def test_api_stores_and_projects_the_brand(bt, branded):
    b = branded["brand"]
    assert b["display_name"] == bt.name
    assert b["primary_color"] == "#7A1F5C" and b["accent_color"] == "#E08A00"
    assert b["footer_text"] == bt.footer and b["legal_disclaimer"] == bt.disclaimer
    assert b["logo"] == {"sha256": hashlib.sha256(bt.logo).hexdigest(), "size": len(bt.logo), "width": 160,
                         "height": 48, "content_type": "image/png", "url": BRAND + "/logo"}
    assert b["customised"] is True and re.fullmatch(r"[0-9a-f]{64}", b["brand_digest"])
    again = bt.admin.get(BRAND).json()
    assert again == b
    logo = bt.admin.get(BRAND + "/logo")
    assert logo.status == 200 and logo.content_type == "image/png" and logo.body == bt.logo
    # evidence: brand.updated with the field names and digests, never the texts
    ev = [e["event"] for e in audit_events(bt.admin) if e["event"]["action"] == "brand.updated"]
    assert ev, "no brand.updated evidence"
    d = ev[0]["details"]
    assert d["brand_digest"] == b["brand_digest"] and d["logo_sha256"] == b["logo"]["sha256"]
    assert set(d["fields"]) == {"display_name", "primary_color", "accent_color", "footer_text", "legal_disclaimer",
                                "logo_png_base64"}
    blob = repr(ev)
    assert bt.footer not in blob and "ZQ-LEGAL" not in blob and bt.name not in blob


def test_pdf_has_footer_on_every_page_disclaimer_and_logo(bt, branded, tmp_path):
    body = branded["pdf"]
    pages, info = pdf_pages(body)
    assert pages >= 5
    assert info["Keywords"] == f"brand-digest:{branded['brand']['brand_digest']}"
    page_texts = pdf_text(body).split("\f")
    for n in range(1, pages + 1):
        flat = re.sub(r"\s+", " ", page_texts[n - 1])
        assert bt.footer in flat, f"footer missing on page {n}"
        assert f"Page {n} of {pages}" in flat
        # the default footer line is replaced by the tenant's
        assert "not legal, audit or compliance advice" not in flat
    raw = re.sub(r"\s+", " ", pdf_text(body, "-raw"))
    assert "Legal disclaimer" in raw and bt.disclaimer.split("\n")[0] in raw and "Second line of the notice." in raw
    last = re.sub(r"\s+", " ", page_texts[pages - 1])
    assert "ZQ-LEGAL" in last, "the disclaimer closes the document"
    assert bt.name in page_texts[0], "display name on the cover"
    images = pdf_images(body, tmp_path)
    logos = [i for i in images if i["type"] == "image" and (i["width"], i["height"]) == (160, 48)]
    assert {i["page"] for i in logos} == set(range(1, pages + 1)), images  # cover + every page header


def test_same_brand_same_bytes_changed_brand_new_digest(bt, branded):
    again = render(bt.admin, "pdf_board_pack", "pdf")
    assert again["artifact_ref"] == branded["render"]["artifact_ref"], "same data and brand: same artifact"
    r = bt.admin.put(BRAND, json_body={"accent_color": "#00AA55"})
    assert r.status == 200, r.describe()
    assert r.json()["brand_digest"] != branded["brand"]["brand_digest"]
    assert r.json()["footer_text"] == bt.footer, "fields not given are kept"
    changed = render(bt.admin, "pdf_board_pack", "pdf")
    assert changed["artifact_ref"] != branded["render"]["artifact_ref"]
    meta = bt.admin.get(f"{ARTIFACTS}/{changed['artifact_ref']}").json()
    first = bt.admin.get(f"{ARTIFACTS}/{branded['render']['artifact_ref']}").json()
    assert meta["digest"] != first["digest"]
    ev = [e["event"] for e in audit_events(bt.admin) if e["event"]["action"] == "report.rendered"
          and e["event"]["details"].get("render_ref") == changed["render_ref"]]
    assert ev and ev[0]["details"]["brand_digest"] == r.json()["brand_digest"]
    # back to the first brand: the first artifact again
    r = bt.admin.put(BRAND, json_body={"accent_color": "#E08A00"})
    assert r.json()["brand_digest"] == branded["brand"]["brand_digest"]
    assert render(bt.admin, "pdf_board_pack", "pdf")["artifact_ref"] == branded["render"]["artifact_ref"]


@pytest.mark.parametrize("fmt", ["html", "markdown"])
def test_narratives_show_display_name_and_disclaimer(bt, branded, fmt):
    for report in ("executive_risk_brief", "soc2_audit_summary"):
        text = download(bt.admin, render(bt.admin, report, fmt)["artifact_ref"]).decode()
        assert bt.name in text, (report, fmt)
        assert "ZQ-LEGAL" in text and "not an audit opinion" in text, (report, fmt)
        if fmt == "html":
            assert f'<meta name="brand-digest" content="{bt.admin.get(BRAND).json()["brand_digest"]}">' in text


@pytest.mark.parametrize("body,field,message", [
    ({"primary_color": "blue"}, "primary_color", "#RRGGBB"),
    ({"accent_color": "#12345"}, "accent_color", "#RRGGBB"),
    ({"logo_png_base64": base64.b64encode(b"GIF89a" + b"\0" * 64).decode()}, "logo_png_base64", "PNG"),
    ({"logo_png_base64": "not base64!"}, "logo_png_base64", "base64"),
    ({"logo_png_base64": base64.b64encode(png(3000, 4)).decode()}, "logo_png_base64", "2048"),
    ({"footer_text": "x" * 201}, "footer_text", "200 characters"),
    ({"display_name": "tab\there"}, "display_name", "control characters"),
    ({"legal_disclaimer": "y" * 2001}, "legal_disclaimer", "2000 characters"),
    ({"colour": "#FFFFFF"}, "colour", "not a brand field"),
])
def test_invalid_fields_are_422_with_the_field_named(bt, branded, body, field, message):
    before = bt.admin.get(BRAND).json()
    r = bt.admin.put(BRAND, json_body=body)
    r.problem(422, "validation_failed")
    assert message in r.json()["errors"][field], r.json()
    assert bt.admin.get(BRAND).json() == before, "nothing stored"


def test_oversized_logo_is_422(bt, branded):
    big = png(420, 240, noise=True)  # random pixels do not compress: > 256 KiB
    assert len(big) > 256 * 1024
    r = bt.admin.put(BRAND, json_body={"logo_png_base64": base64.b64encode(big).decode()})
    r.problem(422, "validation_failed")
    assert "256 KiB" in r.json()["errors"]["logo_png_base64"]


def test_roles_and_scopes_without_settings_write_are_403(bt, branded):
    bt.operator.put(BRAND, json_body={"footer_text": "nope"}).problem(403, "forbidden")
    assert bt.operator.get(BRAND).status == 200  # settings.read
    bt.no_admin_scope.put(BRAND, json_body={"footer_text": "nope"}).problem(403, "insufficient_scope")
    bt.auditor.get(BRAND).problem(403, "forbidden")
    assert bt.admin.get(BRAND).json()["footer_text"] == bt.footer


def test_portal_form_uploads_logo_with_csrf(bt, branded, login_as, tmp_path):
    c = login_as(bt.admin_email, bt.admin_password)
    home = c.get("/portal/", headers={"Accept": "text/html"})
    assert 'href="/portal/brand"' in home.text, "Brand in the navigation"
    page = c.get("/portal/brand", headers={"Accept": "text/html"})
    assert page.status == 200 and 'enctype="multipart/form-data"' in page.text
    csrf = hidden_inputs(page.text, "_csrf")[0]
    logo = png(96, 96, (250, 200, 0))
    fields = {"display_name": "Portal Brand Ltd", "primary_color": "#203040", "accent_color": "#405060",
              "footer_text": "ZP-PORTAL-FOOTER", "legal_disclaimer": "ZP-PORTAL-LEGAL line one\r\nline two"}
    # without the CSRF token: refused, nothing stored
    body, ctype = multipart(fields, {"logo": ("logo.png", logo, "image/png")})
    r = c.post("/portal/brand", body=body, content_type=ctype, headers={"Accept": "text/html"})
    assert r.status == 403, r.describe()
    assert bt.admin.get(BRAND).json()["footer_text"] == bt.footer
    # a non-PNG upload: 422 page naming the logo field, nothing stored
    body, ctype = multipart({**fields, "_csrf": csrf}, {"logo": ("logo.gif", b"GIF89a" + b"\0" * 40, "image/gif")})
    r = c.post("/portal/brand", body=body, content_type=ctype, headers={"Accept": "text/html"})
    assert r.status == 422 and "Logo must be a PNG image" in r.text, r.describe()
    assert bt.admin.get(BRAND).json()["footer_text"] == bt.footer
    big = png(420, 240, noise=True)
    body, ctype = multipart({**fields, "_csrf": csrf}, {"logo": ("big.png", big, "image/png")})
    r = c.post("/portal/brand", body=body, content_type=ctype, headers={"Accept": "text/html"})
    assert r.status == 422 and "256 KiB" in r.text, r.describe()
    # a malformed multipart body never stores anything
    r = c.post("/portal/brand", body=b"--x\r\nnonsense", content_type="multipart/form-data; boundary=x",
               headers={"Accept": "text/html"})
    assert r.status in (403, 422), r.describe()
    # the real thing
    body, ctype = multipart({**fields, "_csrf": csrf}, {"logo": ("logo.png", logo, "image/png")})
    r = c.post("/portal/brand", body=body, content_type=ctype, headers={"Accept": "text/html"})
    assert r.status == 303 and r.header("Location").endswith("/portal/brand?saved=1"), r.describe()
    b = bt.admin.get(BRAND).json()
    assert b["display_name"] == "Portal Brand Ltd" and b["primary_color"] == "#203040"
    assert b["footer_text"] == "ZP-PORTAL-FOOTER" and b["legal_disclaimer"] == "ZP-PORTAL-LEGAL line one\nline two"
    assert b["logo"]["sha256"] == hashlib.sha256(logo).hexdigest() and b["logo"]["width"] == 96
    shown = c.get("/portal/brand?saved=1", headers={"Accept": "text/html"})
    assert "was saved" in shown.text and b["brand_digest"] in shown.text
    assert c.get(BRAND + "/logo").body == logo
    pdf = download(bt.admin, render(bt.admin, "pdf_board_pack", "pdf")["artifact_ref"])
    pages, _ = pdf_pages(pdf)
    texts = pdf_text(pdf).split("\f")
    assert all("ZP-PORTAL-FOOTER" in texts[n] for n in range(pages))
    assert "ZP-PORTAL-LEGAL" in pdf_text(pdf, "-raw")
    assert any((i["width"], i["height"]) == (96, 96) for i in pdf_images(pdf, tmp_path))
    # removing the logo through the form
    body, ctype = multipart({**fields, "_csrf": csrf, "remove_logo": "1"}, {})
    r = c.post("/portal/brand", body=body, content_type=ctype, headers={"Accept": "text/html"})
    assert r.status == 303, r.describe()
    assert bt.admin.get(BRAND).json()["logo"] is None
    assert bt.admin.get(BRAND + "/logo").status == 404
