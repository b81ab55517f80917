/*
 * test_jcs.c: RFC 8785 conformance of core/jcs.c.
 *
 * Covers every row of RFC 8785 Appendix B (number serialisation, given as
 * IEEE 754 bit patterns), the §3.2.2 sample (numbers, string escaping,
 * literals), the §3.2.3 member-sorting sample (UTF-16 order), and the
 * module's own rules: integer range, invalid UTF-8, NaN/Inf, depth, and that
 * a failed serialisation leaves the output buffer untouched.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/jcs.h"

static double bits_to_double(uint64_t bits) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* canonicalises JSON text; returns the canonical form (caller frees) or NULL */
static char *canon(const char *json_text, int *rc_out) {
    /* the verbose form tells "null" (a NULL object) apart from a parse error */
    enum json_tokener_error jerr;
    struct json_object *v = json_tokener_parse_verbose(json_text, &jerr);
    assert_int_equal(jerr, json_tokener_success);
    buf_t b = BUF_INIT;
    int rc = jcs_serialize(v, &b);
    json_object_put(v);
    if (rc_out) *rc_out = rc;
    if (rc != AISPM_OK) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static void assert_canon(const char *json_text, const char *expected) {
    int rc;
    char *got = canon(json_text, &rc);
    assert_int_equal(rc, AISPM_OK);
    assert_string_equal(got, expected);
    free(got);
}

/* ---- RFC 8785 Appendix B ---------------------------------------------- */

static const struct {
    uint64_t bits;
    const char *json;
} appendix_b[] = {
    {0x0000000000000000ULL, "0"},                        /* zero */
    {0x8000000000000000ULL, "0"},                        /* minus zero */
    {0x0000000000000001ULL, "5e-324"},                   /* min pos number */
    {0x8000000000000001ULL, "-5e-324"},                  /* min neg number */
    {0x7fefffffffffffffULL, "1.7976931348623157e+308"},  /* max pos number */
    {0xffefffffffffffffULL, "-1.7976931348623157e+308"}, /* max neg number */
    {0x4340000000000000ULL, "9007199254740992"},         /* max pos int */
    {0xc340000000000000ULL, "-9007199254740992"},        /* max neg int */
    {0x4430000000000000ULL, "295147905179352830000"},    /* ~2**68 */
    {0x44b52d02c7e14af5ULL, "9.999999999999997e+22"},
    {0x44b52d02c7e14af6ULL, "1e+23"},
    {0x44b52d02c7e14af7ULL, "1.0000000000000001e+23"},
    {0x444b1ae4d6e2ef4eULL, "999999999999999700000"},
    {0x444b1ae4d6e2ef4fULL, "999999999999999900000"},
    {0x444b1ae4d6e2ef50ULL, "1e+21"},
    {0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8dULL, "0.000001"},
    {0x41b3de4355555553ULL, "333333333.3333332"},
    {0x41b3de4355555554ULL, "333333333.33333325"},
    {0x41b3de4355555555ULL, "333333333.3333333"},
    {0x41b3de4355555556ULL, "333333333.3333334"},
    {0x41b3de4355555557ULL, "333333333.33333343"},
    {0xbecbf647612f3696ULL, "-0.0000033333333333333333"},
    {0x43143ff3c1cb0959ULL, "1424953923781206.2"}, /* round to even */
    /* not in the table, but from the same family (checked against V8) */
    {0x4430000000000001ULL, "295147905179352900000"},
};

static void test_appendix_b_numbers(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof appendix_b / sizeof appendix_b[0]; i++) {
        char out[32];
        double d = bits_to_double(appendix_b[i].bits);
        assert_int_equal(jcs_format_number(d, out), AISPM_OK);
        assert_string_equal(out, appendix_b[i].json);
        /* the same value inside a document goes through the same path */
        struct json_object *v = json_object_new_double(d);
        buf_t b = BUF_INIT;
        assert_int_equal(jcs_serialize(v, &b), AISPM_OK);
        assert_string_equal(buf_cstr(&b), appendix_b[i].json);
        buf_free(&b);
        json_object_put(v);
    }
}

static void test_appendix_b_nan_infinity_rejected(void **state) {
    (void)state;
    static const uint64_t bad[] = {
        0x7fffffffffffffffULL, /* NaN */
        0x7ff8000000000000ULL, /* quiet NaN */
        0x7ff0000000000000ULL, /* Infinity */
        0xfff0000000000000ULL, /* -Infinity */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[32];
        assert_int_equal(jcs_format_number(bits_to_double(bad[i]), out), AISPM_EINVAL);
        struct json_object *v = json_object_new_double(bits_to_double(bad[i]));
        buf_t b = BUF_INIT;
        assert_int_equal(jcs_serialize(v, &b), AISPM_EINVAL);
        assert_string_equal(buf_cstr(&b), "");
        buf_free(&b);
        json_object_put(v);
    }
}

static void test_number_layout_boundaries(void **state) {
    (void)state;
    static const struct {
        double d;
        const char *json;
    } cases[] = {
        {1.0, "1"},
        {-1.0, "-1"},
        {0.5, "0.5"},
        {100.0, "100"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {1.5e21, "1.5e+21"},
        {1e-6, "0.000001"},
        {1e-7, "1e-7"},
        {1.25e-7, "1.25e-7"},
        {123.456, "123.456"},
        {0.1, "0.1"},
        {0.1 + 0.2, "0.30000000000000004"},
        {2.5e-3, "0.0025"},
        {-1e300, "-1e+300"},
        {5e-324 * 3, "1.5e-323"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"}, /* min normal */
        {4294967296.0, "4294967296"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        assert_int_equal(jcs_format_number(cases[i].d, out), AISPM_OK);
        assert_string_equal(out, cases[i].json);
    }
}

/* every output must read back as the identical double and stay < 32 bytes */
/*
 * Powers of two have a rounding interval twice as wide above as below; for
 * these the nearest 16-digit decimal does not round-trip but the next one up
 * does, and ECMAScript (V8) prints the shorter string. Outputs from node.
 */
static void test_number_power_of_two_interval(void **state) {
    (void)state;
    static const struct {
        uint64_t bits;
        const char *json;
    } cases[] = {
        {0x0060000000000000ULL, "7.120236347223045e-307"},
        {0x0100000000000000ULL, "7.291122019556398e-304"},
        {0x0f50000000000000ULL, "6.290184345309701e-235"},
        {0xf220000000000000ULL, "-5.334411546303884e+241"},
        {0x7cf0000000000000ULL, "6.386688990511104e+293"},
        {0x4330000000000000ULL, "4503599627370496"}, /* 2^52 */
        {0x3ff0000000000000ULL, "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        assert_int_equal(jcs_format_number(bits_to_double(cases[i].bits), out), AISPM_OK);
        assert_string_equal(out, cases[i].json);
    }
}

static void test_number_round_trip(void **state) {
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL; /* xorshift64 with a fixed seed */
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d = bits_to_double(x);
        char out[32];
        if (!isfinite(d)) {
            assert_int_equal(jcs_format_number(d, out), AISPM_EINVAL);
            continue;
        }
        assert_int_equal(jcs_format_number(d, out), AISPM_OK);
        assert_true(strlen(out) < 32);
        double back = strtod(out, NULL);
        if (d == 0) {
            assert_string_equal(out, "0");
        } else {
            assert_memory_equal(&back, &d, sizeof d);
        }
    }
}

/* ---- RFC 8785 §3.2.2 sample ------------------------------------------- */

static void test_rfc_sample_3_2_2(void **state) {
    (void)state;
    const char *input =
        "{\n"
        "  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
        "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
        "  \"literals\": [null, true, false]\n"
        "}";
    const char *expected = "{\"literals\":[null,true,false],"
                           "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
                           "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_canon(input, expected);
}

static void test_rfc_sample_numbers_individually(void **state) {
    (void)state;
    assert_canon("[333333333.33333329]", "[333333333.3333333]");
    assert_canon("[1E30]", "[1e+30]");
    assert_canon("[4.50]", "[4.5]");
    assert_canon("[2e-3]", "[0.002]");
    assert_canon("[0.000000000000000000000000001]", "[1e-27]");
}

/* ---- RFC 8785 §3.2.3 sorting sample ----------------------------------- */

static void test_rfc_sample_3_2_3_sorting(void **state) {
    (void)state;
    const char *input = "{\n"
                        "  \"\\u20ac\": \"Euro Sign\",\n"
                        "  \"\\r\": \"Carriage Return\",\n"
                        "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
                        "  \"1\": \"One\",\n"
                        "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
                        "  \"\\u0080\": \"Control\",\n"
                        "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
                        "}";
    const char *expected = "{\"\\r\":\"Carriage Return\","
                           "\"1\":\"One\","
                           "\"\xc2\x80\":\"Control\","
                           "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
                           "\"\xe2\x82\xac\":\"Euro Sign\","
                           "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
                           "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_canon(input, expected);
}

/* U+1F600 (D83D DE00) sorts before U+FB33 in UTF-16 but after it in UTF-8 */
static void test_sorting_utf16_not_bytes(void **state) {
    (void)state;
    assert_canon("{\"\\ufb33\":1,\"\\ud83d\\ude00\":2}",
                 "{\"\xf0\x9f\x98\x80\":2,\"\xef\xac\xb3\":1}");
    /* prefix sorts first; plain ASCII order otherwise */
    assert_canon("{\"ab\":1,\"a\":2,\"B\":3,\"\":4}", "{\"\":4,\"B\":3,\"a\":2,\"ab\":1}");
}

static void test_nested_and_whitespace(void **state) {
    (void)state;
    assert_canon(" { \"b\" : [ 1 , { \"z\" : null , \"y\" : [ ] } ] , \"a\" : { } } ",
                 "{\"a\":{},\"b\":[1,{\"y\":[],\"z\":null}]}");
    assert_canon("[]", "[]");
    assert_canon("{}", "{}");
    assert_canon("\"top\"", "\"top\"");
    assert_canon("true", "true");
    assert_canon("null", "null");
}

/* ---- strings ---------------------------------------------------------- */

static void test_string_escaping(void **state) {
    (void)state;
    /* every control character, plus the ones with short escapes */
    assert_canon("\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\"",
                 "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\"");
    /* '/', DEL and non-ASCII stay literal; quote and backslash escaped */
    assert_canon("\"\\/\\u007f\\u00e9\\\"\\\\\"", "\"/\x7f\xc3\xa9\\\"\\\\\"");
    /* lower-case hex in \u00xx */
    assert_canon("\"\\u001A\"", "\"\\u001a\"");
}

static void test_string_invalid_utf8_rejected(void **state) {
    (void)state;
    static const char *const bad[] = {
        "\xc3",             /* truncated */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate D800 */
        "\xf4\x90\x80\x80", /* > U+10FFFF */
        "ok\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json_object *v = json_object_new_string(bad[i]);
        buf_t b = BUF_INIT;
        assert_int_equal(jcs_serialize(v, &b), AISPM_EINVAL);
        json_object_put(v);
        /* also as an object member name */
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, bad[i], json_object_new_int(1));
        assert_int_equal(jcs_serialize(o, &b), AISPM_EINVAL);
        assert_int_equal(b.len, 0);
        json_object_put(o);
        buf_free(&b);
    }
}

static void test_string_with_embedded_nul(void **state) {
    (void)state;
    struct json_object *v = json_object_new_string_len("a\0b", 3);
    buf_t b = BUF_INIT;
    assert_int_equal(jcs_serialize(v, &b), AISPM_OK);
    assert_string_equal(buf_cstr(&b), "\"a\\u0000b\"");
    buf_free(&b);
    json_object_put(v);
}

/* ---- integers --------------------------------------------------------- */

static void test_integers(void **state) {
    (void)state;
    assert_canon("[0,-0,1,-1,42,9007199254740992,-9007199254740992]",
                 "[0,0,1,-1,42,9007199254740992,-9007199254740992]");
    int rc;
    assert_null(canon("[9007199254740993]", &rc));
    assert_int_equal(rc, AISPM_EINVAL);
    assert_null(canon("[-9007199254740993]", &rc));
    assert_int_equal(rc, AISPM_EINVAL);
    assert_null(canon("[18446744073709551615]", &rc)); /* json-c uint64 */
    assert_int_equal(rc, AISPM_EINVAL);
    assert_null(canon("[99999999999999999999999]", &rc)); /* saturated by json-c */
    assert_int_equal(rc, AISPM_EINVAL);

    struct json_object *v = json_object_new_int64(INT64_MIN);
    buf_t b = BUF_INIT;
    assert_int_equal(jcs_serialize(v, &b), AISPM_EINVAL);
    json_object_put(v);
    v = json_object_new_int64(INT64_C(1) << 53);
    assert_int_equal(jcs_serialize(v, &b), AISPM_OK);
    assert_string_equal(buf_cstr(&b), "9007199254740992");
    json_object_put(v);
    buf_free(&b);
}

/* ---- buffer / error behaviour ----------------------------------------- */

static void test_appends_and_rolls_back_on_error(void **state) {
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "prefix:");
    struct json_object *ok = json_tokener_parse("{\"b\":1,\"a\":2}");
    assert_int_equal(jcs_serialize(ok, &b), AISPM_OK);
    assert_string_equal(buf_cstr(&b), "prefix:{\"a\":2,\"b\":1}");
    json_object_put(ok);

    /* failure deep inside: output must be exactly as before the call */
    struct json_object *bad = json_tokener_parse("{\"a\":[1,2,{\"x\":\"y\"}],\"b\":0}");
    struct json_object *arr = json_object_object_get(bad, "a");
    json_object_array_add(arr, json_object_new_double(NAN));
    assert_int_equal(jcs_serialize(bad, &b), AISPM_EINVAL);
    assert_string_equal(buf_cstr(&b), "prefix:{\"a\":2,\"b\":1}");
    json_object_put(bad);
    buf_free(&b);
}

static void test_null_pointer_is_json_null(void **state) {
    (void)state;
    buf_t b = BUF_INIT;
    assert_int_equal(jcs_serialize(NULL, &b), AISPM_OK);
    assert_string_equal(buf_cstr(&b), "null");
    buf_free(&b);
}

static void test_depth_limit(void **state) {
    (void)state;
    /* 100 levels is fine */
    struct json_object *root = json_object_new_array();
    struct json_object *cur = root;
    for (int i = 0; i < 100; i++) {
        struct json_object *next = json_object_new_array();
        json_object_array_add(cur, next);
        cur = next;
    }
    buf_t b = BUF_INIT;
    assert_int_equal(jcs_serialize(root, &b), AISPM_OK);
    assert_int_equal(b.len, 202);
    buf_free(&b);
    /* 10000 levels is rejected, not a stack overflow */
    for (int i = 0; i < 10000; i++) {
        struct json_object *obj = json_object_new_object();
        struct json_object *arr = json_object_new_array();
        json_object_array_add(cur, obj);
        json_object_object_add(obj, "k", arr);
        cur = arr;
    }
    assert_int_equal(jcs_serialize(root, &b), AISPM_EINVAL);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    json_object_put(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appendix_b_numbers),
        cmocka_unit_test(test_appendix_b_nan_infinity_rejected),
        cmocka_unit_test(test_number_layout_boundaries),
        cmocka_unit_test(test_number_power_of_two_interval),
        cmocka_unit_test(test_number_round_trip),
        cmocka_unit_test(test_rfc_sample_3_2_2),
        cmocka_unit_test(test_rfc_sample_numbers_individually),
        cmocka_unit_test(test_rfc_sample_3_2_3_sorting),
        cmocka_unit_test(test_sorting_utf16_not_bytes),
        cmocka_unit_test(test_nested_and_whitespace),
        cmocka_unit_test(test_string_escaping),
        cmocka_unit_test(test_string_invalid_utf8_rejected),
        cmocka_unit_test(test_string_with_embedded_nul),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_appends_and_rolls_back_on_error),
        cmocka_unit_test(test_null_pointer_is_json_null),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
