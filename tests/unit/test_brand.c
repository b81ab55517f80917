/* test_brand.c: brand profile rules (colours, bounded texts, PNG logo checks
 * before decoding), the brand digest, the strict multipart/form-data parser
 * and standard base64 decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/err.h"
#include "core/hash.h"
#include "reports/brand.h"
#include "reports/renderer.h"
#include "server/http.h"

static void be32(unsigned char *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = (unsigned char)v; }

static size_t chunk(unsigned char *out, const char *kind, const unsigned char *data, uint32_t len) {
    be32(out, len);
    memcpy(out + 4, kind, 4);
    if (len) memcpy(out + 8, data, len);
    be32(out + 8 + len, (uint32_t)crc32(crc32(0, (const Bytef *)kind, 4), data, len));
    return 12 + len;
}

/* a w x h RGB PNG, one colour */
static size_t make_png(unsigned char *out, uint32_t w, uint32_t h) {
    static unsigned char raw[1 << 16], z[1 << 16];
    size_t rl = 0;
    for (uint32_t y = 0; y < h; y++) {
        raw[rl++] = 0;
        for (uint32_t x = 0; x < w; x++) raw[rl++] = 200, raw[rl++] = 30, raw[rl++] = 60;
    }
    uLongf zl = sizeof z;
    assert_int_equal(compress(z, &zl, raw, rl), Z_OK);
    unsigned char ihdr[13];
    be32(ihdr, w), be32(ihdr + 4, h);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = ihdr[11] = ihdr[12] = 0;
    size_t n = 0;
    memcpy(out, "\x89PNG\r\n\x1a\n", 8), n = 8;
    n += chunk(out + n, "IHDR", ihdr, 13);
    n += chunk(out + n, "IDAT", z, (uint32_t)zl);
    n += chunk(out + n, "IEND", (const unsigned char *)"", 0);
    return n;
}

static const char *err_of(json_object *errors, const char *field) {
    json_object *v;
    return json_object_object_get_ex(errors, field, &v) ? json_object_get_string(v) : NULL;
}

static void test_apply_valid_and_invalid(void **s) {
    (void)s;
    brand_t b;
    brand_default(&b);
    json_object *errors = json_object_new_object(), *changed = json_object_new_array();
    json_object *ch = json_tokener_parse("{\"primary_color\":\"#a1b2c3\",\"footer_text\":\"Footer ü\","
                                         "\"legal_disclaimer\":\"one\\ntwo\",\"display_name\":\"Acme\"}");
    brand_apply(&b, ch, errors, changed);
    assert_int_equal(json_object_object_length(errors), 0);
    assert_string_equal(b.primary_color, "#A1B2C3");
    assert_string_equal(b.footer_text, "Footer ü");
    assert_string_equal(b.legal_disclaimer, "one\ntwo");
    assert_int_equal(json_object_array_length(changed), 4);
    json_object_put(ch);
    char d1[65], d2[65];
    brand_digest(&b, d1);
    ch = json_tokener_parse("{\"primary_color\":\"blue\",\"accent_color\":7,\"footer_text\":\"a\\tb\","
                            "\"display_name\":null,\"nope\":1}");
    brand_apply(&b, ch, errors, NULL);
    assert_non_null(strstr(err_of(errors, "primary_color"), "#RRGGBB"));
    assert_non_null(err_of(errors, "accent_color"));
    assert_non_null(strstr(err_of(errors, "footer_text"), "control"));
    assert_non_null(strstr(err_of(errors, "nope"), "not a brand field"));
    assert_string_equal(b.display_name, ""); /* null resets */
    brand_digest(&b, d2);
    assert_string_not_equal(d1, d2);
    json_object_put(ch);
    /* 200 characters of 2 bytes each fit; 201 do not */
    char long_text[1000] = "{\"footer_text\":\"";
    for (int i = 0; i < 201; i++) strcat(long_text, "é");
    strcat(long_text, "\"}");
    json_object_put(errors);
    errors = json_object_new_object();
    ch = json_tokener_parse(long_text);
    brand_apply(&b, ch, errors, NULL);
    assert_non_null(strstr(err_of(errors, "footer_text"), "200 characters"));
    json_object_put(ch);
    json_object_put(errors);
    json_object_put(changed);
    brand_free(&b);
}

static void test_logo_checks(void **s) {
    (void)s;
    static unsigned char png[1 << 17];
    size_t n = make_png(png, 40, 20);
    int w = 0, h = 0;
    const char *why = NULL;
    assert_int_equal(brand_logo_check(png, n, &w, &h, &why), 0);
    assert_int_equal(w, 40);
    assert_int_equal(h, 20);
    /* not a PNG */
    assert_int_equal(brand_logo_check("GIF89a0123456789012345678901234567890", 38, &w, &h, &why), AISPM_EINVAL);
    assert_non_null(strstr(why, "PNG"));
    /* an IHDR claiming a huge image is refused before decoding */
    be32(png + 16, 100000);
    assert_int_equal(brand_logo_check(png, n, &w, &h, &why), AISPM_EINVAL);
    assert_non_null(strstr(why, "2048"));
    /* a truncated PNG does not decode */
    n = make_png(png, 40, 20);
    assert_int_equal(brand_logo_check(png, n - 20, &w, &h, &why), AISPM_EINVAL);
    /* too large */
    assert_int_equal(brand_logo_check(png, BRAND_LOGO_MAX + 1, &w, &h, &why), AISPM_EINVAL);
    assert_non_null(strstr(why, "256 KiB"));
}

static void test_logo_renders_into_the_pdf(void **s) {
    (void)s;
    static unsigned char png[1 << 17];
    size_t n = make_png(png, 64, 32);
    brand_t b;
    brand_default(&b);
    json_object *errors = json_object_new_object();
    brand_set_logo(&b, png, n, "logo", errors);
    assert_int_equal(json_object_object_length(errors), 0);
    json_object *posture = json_tokener_parse("{\"totals\":{\"events\":1},\"agents\":[],\"decisions\":{},"
                                              "\"findings\":{\"total\":0,\"by_severity\":{}}}");
    json_object *meta = json_tokener_parse("{\"as_of\":\"2026-11-03T10:00:00Z\",\"tenant_ref\":\"tenant:t1\","
                                           "\"period\":{\"start\":\"2026-10-01T00:00:00Z\",\"end\":\"2026-11-01T00:00:00Z\"}}");
    buf_t plain = BUF_INIT, branded = BUF_INIT, again = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "pdf", posture, meta, NULL, &plain), 0);
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "pdf", posture, meta, &b, &branded), 0);
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "pdf", posture, meta, &b, &again), 0);
    assert_true(branded.len != plain.len || memcmp(branded.data, plain.data, plain.len));
    assert_int_equal(branded.len, again.len);
    assert_memory_equal(branded.data, again.data, again.len);
    assert_non_null(memmem(branded.data, branded.len, "/Subtype /Image", 15));
    assert_null(memmem(plain.data, plain.len, "/Subtype /Image", 15));
    buf_free(&plain), buf_free(&branded), buf_free(&again);
    json_object_put(posture), json_object_put(meta), json_object_put(errors);
    brand_free(&b);
}

static void test_multipart(void **s) {
    (void)s;
    multipart_part_t parts[MULTIPART_MAX_PARTS];
    int n = 0;
    const char ct[] = "multipart/form-data; boundary=XyZ";
    const char ok[] = "--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok\r\n"
                      "--XyZ\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"a.png\"\r\n"
                      "Content-Type: image/png\r\n\r\n\x89PNG\r\n--X\r\n"
                      "--XyZ--\r\n";
    assert_int_equal(multipart_parse(ct, ok, sizeof ok - 1, parts, MULTIPART_MAX_PARTS, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0].name, "_csrf");
    assert_false(parts[0].is_file);
    assert_int_equal(parts[0].len, 3);
    assert_string_equal(parts[1].name, "logo");
    assert_string_equal(parts[1].filename, "a.png");
    assert_true(parts[1].is_file);
    assert_int_equal(parts[1].len, 9); /* "\x89PNG\r\n--X" kept whole */
    /* strictness */
    const char *bad[] = {
        "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--\r\nepilogue",
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv",                       /* no close */
        "--XyZ\r\nX-Other: 1\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ--", /* other header */
        "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--", /* unquoted */
        "--XyZ\r\n\r\nv\r\n--XyZ--",                                            /* no disposition */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(multipart_parse(ct, bad[i], strlen(bad[i]), parts, MULTIPART_MAX_PARTS, &n), AISPM_EINVAL);
    assert_int_equal(multipart_parse("multipart/form-data", ok, sizeof ok - 1, parts, 16, &n), AISPM_EINVAL);
    assert_int_equal(multipart_parse(ct, ok, sizeof ok - 1, parts, 1, &n), AISPM_EINVAL); /* too many parts */
}

static void test_b64_decode(void **s) {
    (void)s;
    uint8_t out[16];
    assert_int_equal(b64_decode("aGVsbG8=", 8, out), 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(b64_decode("+/8=", 4, out), 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(b64_decode("aGVsbG8", 7, out), -1);  /* length */
    assert_int_equal(b64_decode("aGV-bG8=", 8, out), -1); /* base64url alphabet */
    assert_int_equal(b64_decode("aGVsbG9=", 8, out), -1); /* non-canonical tail */
    assert_int_equal(b64_decode("aG=sbG8=", 8, out), -1); /* padding inside */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_valid_and_invalid), cmocka_unit_test(test_logo_checks),
        cmocka_unit_test(test_logo_renders_into_the_pdf), cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_b64_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
