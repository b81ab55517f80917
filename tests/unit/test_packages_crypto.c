/* test_packages_crypto.c: unit tests for the pieces of signed export packages:
 * the self-signed certificate (crypto/keys.c), enveloped XML-DSig
 * (crypto/xmldsig.c, checked by recomputing the reference digest and the
 * SignedInfo signature independently of the signer's code path), detached
 * JWS (render/jws.c), SHA256SUMS (render/pkgw.c) and the OSCAL writer
 * (render/oscal.c). The end-to-end checks with xmlsec1, jose and the NIST
 * schemas are in tests/e2e/test_packages.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/hash.h"
#include "crypto/keys.h"
#include "crypto/xmldsig.h"
#include "render/jws.h"
#include "render/oscal.h"
#include "render/pkgw.h"

static char tmpdir[64], rsa_path[128], ed_path[128];
static signing_key_t *rsa, *ed;

static int group_setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/aispm_test_pkg_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(rsa_path, sizeof rsa_path, "%s/rsa.pem", tmpdir);
    snprintf(ed_path, sizeof ed_path, "%s/ed.pem", tmpdir);
    if (key_generate(rsa_path, KEY_RSA, 2048) || key_load(rsa_path, &rsa)) return -1;
    if (key_generate(ed_path, KEY_ED25519, 0) || key_load(ed_path, &ed)) return -1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    key_free(rsa);
    key_free(ed);
    unlink(rsa_path);
    unlink(ed_path);
    rmdir(tmpdir);
    return 0;
}

static void test_certificate_matches_its_key(void **state) {
    (void)state;
    buf_t pem = BUF_INIT, der = BUF_INIT;
    assert_int_equal(key_certificate(rsa, "AISPM test", 1700000000, 30, &pem), 0);
    assert_non_null(strstr(buf_cstr(&pem), "-----BEGIN CERTIFICATE-----"));
    char kid[17];
    assert_int_equal(key_cert_der(pem.data, pem.len, &der, kid), 0);
    assert_string_equal(kid, key_kid(rsa));
    assert_true(der.len > 500 && (uint8_t)der.data[0] == 0x30); /* a DER SEQUENCE */
    /* XML-DSig here is RSA only */
    buf_t none = BUF_INIT;
    assert_int_equal(key_certificate(ed, "x", 1700000000, 30, &none), AISPM_EINVAL);
    assert_int_equal(key_cert_der("not a certificate", 17, &none, kid), AISPM_ECRYPTO);
    buf_free(&pem);
    buf_free(&der);
    buf_free(&none);
}

static xmlNodePtr find(xmlNodePtr n, const char *name) {
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name)) return n;
        xmlNodePtr c = find(n->children, name);
        if (c) return c;
    }
    return NULL;
}

static void c14n(xmlDocPtr d, buf_t *out) {
    xmlChar *mem = NULL;
    int n = xmlC14NDocDumpMemory(d, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &mem);
    assert_true(n > 0);
    buf_append(out, mem, (size_t)n);
    xmlFree(mem);
}

/* 0 when the signed document verifies: the reference digest over the
 * document without its Signature, and the RSA signature over SignedInfo
 * canonicalised on its own (exclusive c14n makes that the same bytes) */
static int verify_signed(const buf_t *signed_xml) {
    xmlDocPtr doc = xmlReadMemory(signed_xml->data, (int)signed_xml->len, "m.xml", NULL, 0);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr sig = find(root->children, "Signature");
    assert_non_null(sig);
    xmlNodePtr si = find(sig->children, "SignedInfo");
    char *digest64 = (char *)xmlNodeGetContent(find(si->children, "DigestValue"));
    char *sig64 = (char *)xmlNodeGetContent(find(sig->children, "SignatureValue"));
    /* SignedInfo alone */
    xmlDocPtr sd = xmlNewDoc(BAD_CAST "1.0");
    xmlDocSetRootElement(sd, xmlDocCopyNode(si, sd, 1));
    buf_t si_c14n = BUF_INIT, doc_c14n = BUF_INIT;
    c14n(sd, &si_c14n);
    assert_memory_equal(si_c14n.data, "<ds:SignedInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">", 61);
    /* the document without the signature */
    xmlUnlinkNode(sig);
    xmlFreeNode(sig);
    c14n(doc, &doc_c14n);
    uint8_t d[SHA256_LEN];
    sha256(doc_c14n.data, doc_c14n.len, d);
    char *want = malloc(b64_encoded_len(sizeof d) + 1);
    b64_encode(d, sizeof d, want);
    int rc = strcmp(want, digest64) ? AISPM_ECRYPTO : 0;
    if (!rc) {
        /* standard base64 -> bytes via base64url decoding of the translated text */
        size_t n = strlen(sig64);
        for (size_t i = 0; i < n; i++) sig64[i] = sig64[i] == '+' ? '-' : sig64[i] == '/' ? '_' : sig64[i];
        while (n && sig64[n - 1] == '=') sig64[--n] = 0;
        uint8_t *raw = malloc(n);
        long len = b64url_decode(sig64, n, raw);
        rc = len > 0 ? key_verify(rsa, si_c14n.data, si_c14n.len, raw, (size_t)len) : AISPM_ECRYPTO;
        free(raw);
    }
    free(want);
    xmlFree(digest64);
    xmlFree(sig64);
    buf_free(&si_c14n);
    buf_free(&doc_c14n);
    xmlFreeDoc(sd);
    xmlFreeDoc(doc);
    return rc;
}

static const char manifest[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                               "<m xmlns=\"urn:test\" a=\"1\"><x>caf\xc3\xa9 &amp; &lt;tea&gt;</x><y b=\"2\"/></m>\n";

static void test_xmldsig_enveloped_signature_verifies(void **state) {
    (void)state;
    buf_t pem = BUF_INIT, der = BUF_INIT, out = BUF_INIT;
    char kid[17];
    assert_int_equal(key_certificate(rsa, "AISPM test", 1700000000, 30, &pem), 0);
    assert_int_equal(key_cert_der(pem.data, pem.len, &der, kid), 0);
    assert_int_equal(xmldsig_sign_text(manifest, sizeof manifest - 1, rsa, der.data, der.len, &out), 0);
    const char *x = buf_cstr(&out);
    assert_non_null(strstr(x, "<ds:KeyName>"));
    assert_non_null(strstr(x, key_kid(rsa)));
    assert_non_null(strstr(x, "<ds:X509Certificate>"));
    assert_non_null(strstr(x, "xml-exc-c14n#"));
    assert_non_null(strstr(x, "enveloped-signature"));
    assert_int_equal(verify_signed(&out), 0);
    /* a changed fact breaks the reference digest */
    buf_t bad = BUF_INIT;
    buf_puts(&bad, x);
    char *p = strstr(bad.data, "<y b=\"2\"/>");
    assert_non_null(p);
    p[6] = '3';
    assert_int_equal(verify_signed(&bad), AISPM_ECRYPTO);
    /* Ed25519 is not offered for XML (xmlsec's GnuTLS backend signs RSA) */
    buf_t none = BUF_INIT;
    assert_int_equal(xmldsig_sign_text(manifest, sizeof manifest - 1, ed, NULL, 0, &none), AISPM_EINVAL);
    buf_free(&pem);
    buf_free(&der);
    buf_free(&out);
    buf_free(&bad);
    buf_free(&none);
}

static void test_jws_detached(void **state) {
    (void)state;
    const char payload[] = "{\"package_ref\":\"package:x\"}";
    buf_t jws = BUF_INIT;
    assert_int_equal(jws_detached_sign(rsa, "aispm-package-manifest+jws", payload, sizeof payload - 1, &jws), 0);
    char *s = jws.data, *dots = strstr(s, "..");
    assert_non_null(dots);
    assert_null(strchr(dots + 2, '.'));
    /* the signing input is header "." BASE64URL(payload) */
    buf_t input = BUF_INIT;
    buf_append(&input, s, (size_t)(dots - s) + 1);
    char *p64 = malloc(b64url_encoded_len(sizeof payload - 1) + 1);
    b64url_encode((const uint8_t *)payload, sizeof payload - 1, p64);
    buf_puts(&input, p64);
    const char *sig64 = dots + 2;
    uint8_t *sig = malloc(strlen(sig64));
    long n = b64url_decode(sig64, strlen(sig64), sig);
    assert_true(n == 256);
    assert_int_equal(key_verify(rsa, input.data, input.len, sig, (size_t)n), 0);
    input.data[input.len - 1] ^= 1;
    assert_int_equal(key_verify(rsa, input.data, input.len, sig, (size_t)n), AISPM_ECRYPTO);
    free(p64);
    free(sig);
    buf_free(&input);
    buf_free(&jws);
}

static void test_pkgw_sums(void **state) {
    (void)state;
    pkgw_t *p;
    assert_int_equal(pkgw_new(0, &p), 0);
    char d1[65];
    pkgw_add(p, "a.txt", "abc", 3, d1);
    pkgw_add(p, "dir/b.bin", "", 0, NULL);
    assert_string_equal(d1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(pkgw_sums(p), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.txt\n"
                                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  dir/b.bin\n");
    buf_t zip = BUF_INIT;
    assert_int_equal(pkgw_finish(p, &zip), 0);
    assert_memory_equal(zip.data, "PK\x03\x04", 4);
    assert_non_null(memmem(zip.data, zip.len, "SHA256SUMS", 10));
    buf_free(&zip);
}

static void test_oscal_documents(void **state) {
    (void)state;
    oscal_item_t items[] = {{.file = "artifacts/01_x.csv", .media_type = "text/csv", .artifact_ref = "artifact:A",
                             .report_id = "agent_risk_register", .format = "csv", .sha256 = "ab", .size = 7,
                             .evidence_ref = "cavra://evidence/T/E"}};
    oscal_input_t in = {.package_ref = "package:P", .tenant_ref = "tenant:T", .created_at = "2026-01-02T03:04:05Z",
                        .items = items, .nitems = 1};
    buf_t j = BUF_INIT, j2 = BUF_INIT, x = BUF_INIT;
    assert_int_equal(oscal_results_json(&in, &j), 0);
    assert_int_equal(oscal_results_json(&in, &j2), 0);
    assert_string_equal(buf_cstr(&j), buf_cstr(&j2)); /* uuids derive from the package ref */
    json_object *o = json_tokener_parse(buf_cstr(&j)), *ar, *md, *v;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "assessment-results", &ar));
    assert_true(json_object_object_get_ex(ar, "metadata", &md));
    assert_true(json_object_object_get_ex(md, "oscal-version", &v));
    assert_string_equal(json_object_get_string(v), "1.0.6");
    assert_true(json_object_object_get_ex(ar, "uuid", &v));
    const char *u = json_object_get_string(v);
    assert_int_equal(strlen(u), 36);
    assert_true(u[14] == '5' && strchr("89ab", u[19]));
    json_object_put(o);
    assert_int_equal(oscal_results_xml(&in, &x), 0);
    xmlDocPtr d = xmlReadMemory(x.data, (int)x.len, "ar.xml", NULL, 0);
    assert_non_null(d);
    assert_string_equal((const char *)xmlDocGetRootElement(d)->ns->href, OSCAL_XML_NS);
    xmlFreeDoc(d);
    oscal_input_t empty = {.package_ref = "p", .tenant_ref = "t", .created_at = "2026-01-02T03:04:05Z"};
    assert_int_equal(oscal_results_json(&empty, &j), AISPM_EINVAL);
    buf_free(&j);
    buf_free(&j2);
    buf_free(&x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificate_matches_its_key),
        cmocka_unit_test(test_xmldsig_enveloped_signature_verifies),
        cmocka_unit_test(test_jws_detached),
        cmocka_unit_test(test_pkgw_sums),
        cmocka_unit_test(test_oscal_documents),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
