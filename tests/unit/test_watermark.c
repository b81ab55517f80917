/* test_watermark.c: TOTP against the RFC 6238 test vectors (SHA-1) and the
 * RFC 4648 base32 vectors, and the watermarked copies of every format: the
 * original bytes never change, the copy carries the mark, a PDF copy is an
 * incremental update whose every page is rewritten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/err.h"
#include "crypto/totp.h"
#include "render/pdfw.h"
#include "render/watermark.h"
#include "render/zipw.h"

static void test_rfc6238_vectors(void **s) {
    (void)s;
    const uint8_t *key = (const uint8_t *)"12345678901234567890";
    struct {
        int64_t t;
        uint32_t code;
    } v[] = {{59, 94287082},         {1111111109, 7081804},  {1111111111, 14050471},
             {1234567890, 89005924}, {2000000000, 69279037}, {20000000000LL, 65353130}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        assert_int_equal(totp_hotp(key, 20, (uint64_t)totp_step(v[i].t), 8), v[i].code);
    /* 6 digits are the last 6 of the 8 */
    assert_int_equal(totp_hotp(key, 20, (uint64_t)totp_step(59), 6), 287082);
}

static void test_base32(void **s) {
    (void)s;
    char out[TOTP_B32_MAX];
    totp_b32_encode((const uint8_t *)"foobar", 6, out, sizeof out);
    assert_string_equal(out, "MZXW6YTBOI"); /* RFC 4648 10, without padding */
    uint8_t back[16];
    assert_int_equal(totp_b32_decode("MZXW6YTBOI", back, sizeof back), 6);
    assert_memory_equal(back, "foobar", 6);
    assert_int_equal(totp_b32_decode("MZ1W", back, sizeof back), -1);
    totp_b32_encode((const uint8_t *)"12345678901234567890", 20, out, sizeof out);
    assert_string_equal(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

static void test_totp_window_and_reuse(void **s) {
    (void)s;
    const char *sec = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    const uint8_t *key = (const uint8_t *)"12345678901234567890";
    int64_t now = 1111111111, step = totp_step(now), m = 0;
    char code[8];
    for (int d = -2; d <= 2; d++) {
        snprintf(code, sizeof code, "%06u", totp_hotp(key, 20, (uint64_t)(step + d), 6));
        bool ok = totp_check(sec, code, now, 0, &m);
        assert_int_equal(ok, d >= -1 && d <= 1); /* window of one step either side */
        if (ok) assert_int_equal(m, step + d);
    }
    snprintf(code, sizeof code, "%06u", totp_hotp(key, 20, (uint64_t)step, 6));
    assert_true(totp_check(sec, code, now, step - 1, &m));
    assert_false(totp_check(sec, code, now, step, &m)); /* used once: refused */
    assert_false(totp_check(sec, "12345", now, 0, &m));
    assert_false(totp_check(sec, "12345a", now, 0, &m));
    char secret[TOTP_B32_MAX], uri[256];
    assert_int_equal(totp_new_secret(secret), 0);
    assert_int_equal(strlen(secret), 32);
    totp_uri("AISPM", "auditor:X", secret, uri, sizeof uri);
    assert_non_null(strstr(uri, "otpauth://totp/AISPM:auditor:X?secret="));
}

static const watermark_t WM = {"evidence-room:01TESTROOM", "auditor:01TESTAUDITOR", "2026-12-04T19:00:00Z",
                               "download:01TESTDOWNLOAD"};

static void pages(pdfw_t *p, void *ctx) {
    int n = *(int *)ctx;
    char t[32];
    for (int i = 0; i < n; i++) {
        snprintf(t, sizeof t, "Section %d", i + 1);
        pdfw_section(p, t);
        pdfw_paragraph(p, "Body text (with parentheses) and a backslash \\.");
    }
}

static size_t count(const buf_t *b, const char *needle) {
    size_t n = 0, l = strlen(needle);
    for (const char *p = b->data; (p = memmem(p, b->len - (size_t)(p - b->data), needle, l)); p += l) n++;
    return n;
}

static void test_pdf_every_page(void **s) {
    (void)s;
    int sections = 6;
    buf_t pdf = BUF_INIT, out = BUF_INIT;
    pdfw_opts_t o = {.title = "T", .date = 1790000000};
    assert_int_equal(pdfw_render(&o, pages, &sections, &pdf), 0);
    assert_int_equal(watermark_pdf(pdf.data, pdf.len, &WM, &out), 0);
    /* an incremental update: the original is a prefix, one update section */
    assert_true(out.len > pdf.len);
    assert_memory_equal(out.data, pdf.data, pdf.len);
    assert_int_equal(count(&out, "startxref"), 2);
    assert_non_null(memmem(out.data + pdf.len, out.len - pdf.len, "/Prev ", 6));
    /* cover + contents + 6 sections: every page is rewritten with the mark */
    size_t n_pages = count(&pdf, "/Type /Page\n") + count(&pdf, "/Type /Page %");
    assert_int_equal(n_pages, 8);
    assert_int_equal(count(&out, "download id download:01TESTDOWNLOAD"), n_pages);
    assert_int_equal(count(&out, "/AispmWM 7 Tf"), n_pages);
    /* not a PDF, or a PDF without a classic xref table */
    buf_t bad = BUF_INIT;
    assert_int_equal(watermark_pdf("hello", 5, &WM, &bad), AISPM_EINVAL);
    const char *xs = "%PDF-1.7\n1 0 obj\n<< /Type /XRef >>\nstream\nendstream\nendobj\nstartxref\n9\n%%EOF\n";
    assert_int_equal(watermark_pdf(xs, strlen(xs), &WM, &bad), AISPM_EINVAL);
    buf_free(&bad);
    buf_free(&pdf);
    buf_free(&out);
}

static void test_text_formats(void **s) {
    (void)s;
    buf_t o = BUF_INIT;
    assert_int_equal(watermark_apply("csv", "a,b\r\n1,2\r\n", 10, &WM, &o), 0);
    assert_true(strncmp(buf_cstr(&o), "\"# AISPM evidence room copy | room evidence-room:01TESTROOM", 59) == 0);
    assert_non_null(strstr(buf_cstr(&o), "\"\r\na,b\r\n1,2\r\n"));
    buf_reset(&o);
    assert_int_equal(watermark_apply("json", "{\"x\":1}", 7, &WM, &o), 0);
    json_object *j = json_tokener_parse(buf_cstr(&o)), *v, *id;
    assert_non_null(j);
    assert_true(json_object_object_get_ex(j, "aispm_watermark", &v));
    assert_true(json_object_object_get_ex(v, "download_id", &id));
    assert_string_equal(json_object_get_string(id), WM.download_id);
    assert_true(json_object_object_get_ex(j, "content", &v));
    json_object_put(j);
    buf_reset(&o);
    assert_int_equal(watermark_apply("jsonl", "{\"a\":1}\n", 8, &WM, &o), 0);
    assert_true(strncmp(buf_cstr(&o), "{\"aispm_watermark\":", 19) == 0);
    assert_non_null(strstr(buf_cstr(&o), "}\n{\"a\":1}\n"));
    buf_reset(&o);
    const char *h = "<!doctype html><html><body class=\"x\"><h1>R</h1></body></html>";
    assert_int_equal(watermark_apply("html", h, strlen(h), &WM, &o), 0);
    assert_non_null(strstr(buf_cstr(&o), "<body class=\"x\">\n<p class=\"aispm-watermark\""));
    buf_reset(&o);
    assert_int_equal(watermark_apply("md", "# R\n", 4, &WM, &o), 0);
    assert_true(strncmp(buf_cstr(&o), "> **AISPM evidence room copy", 28) == 0);
    buf_reset(&o);
    assert_int_equal(watermark_apply("exe", "x", 1, &WM, &o), AISPM_EINVAL);
    buf_free(&o);
}

static void test_zip_formats(void **s) {
    (void)s;
    const char *core = "<?xml version=\"1.0\"?><cp:coreProperties xmlns:cp=\"c\" xmlns:dc=\"d\"><dc:title>T</dc:title>"
                       "</cp:coreProperties>";
    zipw_t *z;
    assert_int_equal(zipw_new(0, &z), 0);
    zipw_add(z, "docProps/core.xml", core, strlen(core));
    zipw_add(z, "word/document.xml", "<w/>", 4);
    buf_t docx = BUF_INIT, o = BUF_INIT, o2 = BUF_INIT;
    assert_int_equal(zipw_finish(z, &docx), 0);
    assert_int_equal(watermark_apply("docx", docx.data, docx.len, &WM, &o), 0);
    assert_true(o.len > 0);
    /* the copy is an archive whose core properties carry the mark; marking it
     * again prefixes the existing description */
    assert_int_equal(watermark_apply("xlsx", o.data, o.len, &WM, &o2), 0);
    assert_int_equal(watermark_apply("zip", docx.data, docx.len, &WM, &o2), 0);
    assert_int_equal(watermark_apply("docx", "not a zip", 9, &WM, &o2), AISPM_EINVAL);
    buf_free(&docx);
    buf_free(&o);
    buf_free(&o2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc6238_vectors), cmocka_unit_test(test_base32),
        cmocka_unit_test(test_totp_window_and_reuse), cmocka_unit_test(test_pdf_every_page),
        cmocka_unit_test(test_text_formats), cmocka_unit_test(test_zip_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
