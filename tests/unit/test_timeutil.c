/*
 * test_timeutil.c: core/timeutil.c — RFC 3339 and MariaDB DATETIME(6) text
 * forms, strict parsing, offsets, fractions, leap years, pre-epoch values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/timeutil.h"

static int64_t parse_ok(const char *s) {
    int64_t ms = -12345;
    assert_int_equal(rfc3339_parse(s, &ms), AISPM_OK);
    return ms;
}

static void test_clocks(void **state) {
    (void)state;
    int64_t a = now_ms(), m1 = monotonic_ms();
    assert_true(a > INT64_C(1700000000000)); /* after 2023 */
    int64_t m2 = monotonic_ms();
    assert_true(m2 >= m1);
}

static void test_rfc3339_format(void **state) {
    (void)state;
    char out[RFC3339_MAX];
    rfc3339_format(0, 0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    rfc3339_format(INT64_C(1796401150000), 0, out);
    assert_string_equal(out, "2026-12-04T16:19:10Z");
    rfc3339_format(INT64_C(1796401150123), 1, out);
    assert_string_equal(out, "2026-12-04T16:19:10.123Z");
    rfc3339_format(INT64_C(1796401150999), 0, out); /* truncates, no rounding */
    assert_string_equal(out, "2026-12-04T16:19:10Z");
    rfc3339_format(-1, 1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    rfc3339_format(INT64_C(-2208988800000), 0, out);
    assert_string_equal(out, "1900-01-01T00:00:00Z");
    rfc3339_format(INT64_C(1709164800000), 0, out);
    assert_string_equal(out, "2024-02-29T00:00:00Z");
    rfc3339_format(INT64_MAX, 1, out); /* clamped */
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    rfc3339_format(INT64_MIN, 1, out);
    assert_string_equal(out, "0000-01-01T00:00:00.000Z");
}

static void test_rfc3339_parse_accepts(void **state) {
    (void)state;
    assert_int_equal(parse_ok("2026-12-04T16:19:10Z"), INT64_C(1796401150000));
    assert_int_equal(parse_ok("2026-12-04t16:19:10z"), INT64_C(1796401150000));
    assert_int_equal(parse_ok("2026-12-04T16:19:10+00:00"), INT64_C(1796401150000));
    assert_int_equal(parse_ok("2026-12-04T16:19:10-00:00"), INT64_C(1796401150000));
    assert_int_equal(parse_ok("2026-12-04T16:19:10+02:00"), INT64_C(1796393950000));
    assert_int_equal(parse_ok("2026-12-04T16:19:10-05:30"), INT64_C(1796420950000));
    assert_int_equal(parse_ok("2026-12-04T16:19:10.5Z"), INT64_C(1796401150500));
    assert_int_equal(parse_ok("2026-12-04T16:19:10.05Z"), INT64_C(1796401150050));
    assert_int_equal(parse_ok("2026-12-04T16:19:10.123Z"), INT64_C(1796401150123));
    assert_int_equal(parse_ok("2026-12-04T16:19:10.123999999Z"), INT64_C(1796401150123));
    assert_int_equal(parse_ok("2026-12-04T16:19:10.250+02:00"), INT64_C(1796393950250));
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), INT64_C(1709164800000));
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), INT64_C(951782400000));
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.999Z"), -1);
    assert_int_equal(parse_ok("1970-01-01T00:59:59+01:00"), -1000);
    /* leap second: lands on the next second */
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), parse_ok("2017-01-01T00:00:00Z"));
}

static void test_rfc3339_parse_rejects(void **state) {
    (void)state;
    static const char *const bad[] = {
        "",
        "garbage",
        "2026-12-04",
        "2026-12-04T16:19:10",      /* no offset */
        "2026-12-04T16:19Z",        /* no seconds */
        "2026-12-04 16:19:10Z",     /* space separator */
        "2026-12-04T16:19:10Z ",    /* trailing */
        " 2026-12-04T16:19:10Z",    /* leading */
        "2026-12-04T16:19:10ZZ",
        "2026-12-04T16:19:10.Z",    /* empty fraction */
        "2026-12-04T16:19:10,5Z",
        "2026-12-04T16:19:10+2:00",
        "2026-12-04T16:19:10+0200",
        "2026-12-04T16:19:10+02",
        "2026-12-04T16:19:10+24:00",
        "2026-12-04T16:19:10+02:60",
        "2026-13-04T16:19:10Z",
        "2026-00-04T16:19:10Z",
        "2026-12-00T16:19:10Z",
        "2026-12-32T16:19:10Z",
        "2026-04-31T16:19:10Z",
        "2023-02-29T00:00:00Z",     /* not a leap year */
        "1900-02-29T00:00:00Z",
        "2026-12-04T24:00:00Z",
        "2026-12-04T16:60:10Z",
        "2026-12-04T16:19:61Z",
        "26-12-04T16:19:10Z",
        "20261-12-04T16:19:10Z",
        "2026-1-04T16:19:10Z",
        "2026/12/04T16:19:10Z",
        "+2026-12-04T16:19:10Z",
        "2026-12-04T16:19:1aZ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 777;
        assert_int_equal(rfc3339_parse(bad[i], &ms), AISPM_EINVAL);
        assert_int_equal(ms, 777);
    }
    int64_t ms;
    assert_int_equal(rfc3339_parse(NULL, &ms), AISPM_EINVAL);
}

static void test_rfc3339_round_trip(void **state) {
    (void)state;
    char out[RFC3339_MAX];
    static const int64_t samples[] = {0, 1, 999, 1000, -1, -999, -1000, -1001,
                                      INT64_C(1796401150123), INT64_C(253402300799999),
                                      INT64_C(-62167219200000), INT64_C(951782400000)};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        rfc3339_format(samples[i], 1, out);
        assert_int_equal(parse_ok(out), samples[i]);
        sql_datetime_format(samples[i], out);
        int64_t ms;
        assert_int_equal(sql_datetime_parse(out, &ms), AISPM_OK);
        assert_int_equal(ms, samples[i]);
    }
}

static void test_sql_datetime(void **state) {
    (void)state;
    char out[RFC3339_MAX];
    sql_datetime_format(INT64_C(1796401150123), out);
    assert_string_equal(out, "2026-12-04 16:19:10.123000");
    sql_datetime_format(0, out);
    assert_string_equal(out, "1970-01-01 00:00:00.000000");

    int64_t ms;
    assert_int_equal(sql_datetime_parse("2026-12-04 16:19:10", &ms), AISPM_OK);
    assert_int_equal(ms, INT64_C(1796401150000));
    assert_int_equal(sql_datetime_parse("2026-12-04 16:19:10.123456", &ms), AISPM_OK);
    assert_int_equal(ms, INT64_C(1796401150123));
    assert_int_equal(sql_datetime_parse("2026-12-04 16:19:10.1", &ms), AISPM_OK);
    assert_int_equal(ms, INT64_C(1796401150100));

    static const char *const bad[] = {
        "", "2026-12-04", "2026-12-04T16:19:10", "2026-12-04 16:19:10Z",
        "2026-12-04 16:19:10.1234567", "2026-12-04 16:19:10.", "0000-00-00 00:00:00",
        "2026-02-30 00:00:00", "2026-12-04 16:19:10 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sql_datetime_parse(bad[i], &ms), AISPM_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_rfc3339_parse_accepts),
        cmocka_unit_test(test_rfc3339_parse_rejects),
        cmocka_unit_test(test_rfc3339_round_trip),
        cmocka_unit_test(test_sql_datetime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
