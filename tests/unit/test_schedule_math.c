/*
 * test_schedule_math.c: wall-clock <-> UTC in IANA zones (core/timeutil.c)
 * and the RRULE subset (reports/rrule.c): strict parsing, expansion, and the
 * DST weeks of 2026 in America/New_York (03-08, 11-01) and Europe/Berlin
 * (03-29, 10-25).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/timeutil.h"
#include "reports/rrule.h"

static int64_t T(const char *s) {
    int64_t ms = 0;
    assert_int_equal(rfc3339_parse(s, &ms), 0);
    return ms;
}

static int64_t local(const char *tz, int y, int mo, int d, int h, int mi, int *kind) {
    civil_t c = {y, mo, d, h, mi, 0};
    int64_t ms = 0;
    assert_int_equal(tz_local_to_utc(tz, &c, &ms, kind), 0);
    return ms;
}

static void test_local_to_utc(void **state) {
    (void)state;
    int k;
    /* ordinary times either side of the transitions */
    assert_int_equal(local("America/New_York", 2026, 3, 7, 9, 0, &k), T("2026-03-07T14:00:00Z"));
    assert_int_equal(k, 0);
    assert_int_equal(local("America/New_York", 2026, 3, 8, 9, 0, &k), T("2026-03-08T13:00:00Z"));
    /* spring-forward gap: 02:30 does not exist, shifted forward to 03:30 EDT */
    assert_int_equal(local("America/New_York", 2026, 3, 8, 2, 30, &k), T("2026-03-08T07:30:00Z"));
    assert_int_equal(k, 1);
    /* fall-back: 01:30 happens twice, the first (EDT) is taken */
    assert_int_equal(local("America/New_York", 2026, 11, 1, 1, 30, &k), T("2026-11-01T05:30:00Z"));
    assert_int_equal(k, 2);
    assert_int_equal(local("America/New_York", 2026, 11, 1, 9, 0, &k), T("2026-11-01T14:00:00Z"));
    assert_int_equal(k, 0);
    assert_int_equal(local("Europe/Berlin", 2026, 3, 29, 2, 30, &k), T("2026-03-29T01:30:00Z"));
    assert_int_equal(k, 1);
    assert_int_equal(local("Europe/Berlin", 2026, 10, 25, 2, 30, &k), T("2026-10-25T00:30:00Z"));
    assert_int_equal(k, 2);
    assert_int_equal(local("Europe/Berlin", 2026, 10, 25, 3, 0, &k), T("2026-10-25T02:00:00Z"));
    assert_int_equal(local("UTC", 2026, 6, 1, 12, 0, NULL), T("2026-06-01T12:00:00Z"));
    /* unknown zones and bad fields are refused, not silently UTC */
    civil_t c = {2026, 2, 30, 9, 0, 0};
    int64_t ms;
    assert_int_equal(tz_local_to_utc("Europe/Berlin", &c, &ms, NULL), AISPM_EINVAL);
    civil_t ok = {2026, 2, 3, 9, 0, 0};
    assert_int_equal(tz_local_to_utc("Mars/Olympus", &ok, &ms, NULL), AISPM_EINVAL);
    assert_int_equal(tz_local_to_utc("../etc/passwd", &ok, &ms, NULL), AISPM_EINVAL);
    /* the process zone is restored */
    char out[RFC3339_MAX];
    assert_int_equal(tz_format_local("America/New_York", T("2026-11-01T05:30:00Z"), out), 0);
    assert_string_equal(out, "2026-11-01T01:30:00-04:00");
    assert_int_equal(tz_format_local("America/New_York", T("2026-11-01T06:30:00Z"), out), 0);
    assert_string_equal(out, "2026-11-01T01:30:00-05:00");
    assert_int_equal(tz_format_local("Asia/Kolkata", T("2026-11-01T06:30:00Z"), out), 0);
    assert_string_equal(out, "2026-11-01T12:00:00+05:30");
}

static void test_civil(void **state) {
    (void)state;
    assert_int_equal(civil_days(1970, 1, 1), 0);
    assert_int_equal(civil_weekday(civil_days(2026, 3, 8)), 6);  /* Sunday */
    assert_int_equal(civil_weekday(civil_days(2026, 12, 4)), 4); /* Friday */
    int y, m, d;
    civil_from_days(civil_days(2028, 2, 29), &y, &m, &d);
    assert_true(y == 2028 && m == 2 && d == 29);
    assert_int_equal(civil_month_days(2026, 2), 28);
}

static void parse_ok(const char *s, rrule_t *r) {
    char err[200] = "";
    int rc = rrule_parse(s, r, err, sizeof err);
    if (rc) fail_msg("%s: %s", s, err);
}

static void parse_bad(const char *s, const char *needle) {
    rrule_t r;
    char err[200] = "";
    assert_int_equal(rrule_parse(s, &r, err, sizeof err), AISPM_EINVAL);
    if (!strstr(err, needle)) fail_msg("%s: message '%s' lacks '%s'", s, err, needle);
}

static void test_parse(void **state) {
    (void)state;
    rrule_t r;
    parse_ok("FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=9;BYMINUTE=0,30", &r);
    assert_int_equal(r.freq, RRULE_WEEKLY);
    assert_int_equal(r.nbyday, 3);
    assert_int_equal(r.nbyminute, 2);
    parse_ok("RRULE:FREQ=MONTHLY;INTERVAL=3;BYDAY=-1FR;COUNT=4", &r);
    assert_int_equal(r.interval, 3);
    assert_int_equal(r.byday[0].ord, -1);
    assert_int_equal(r.byday[0].wd, 4);
    parse_ok("FREQ=DAILY;UNTIL=20261231T235959Z", &r);
    assert_true(r.has_until);
    assert_int_equal(r.until_ms, T("2026-12-31T23:59:59Z"));
    parse_ok("FREQ=MONTHLY;BYMONTHDAY=-1,1,1", &r);
    assert_int_equal(r.nbymonthday, 2);
    assert_int_equal(r.bymonthday[0], -1);

    parse_bad("", "empty");
    parse_bad("FREQ=HOURLY", "FREQ must be");
    parse_bad("FREQ=weekly", "FREQ must be");
    parse_bad("BYDAY=MO", "FREQ is required");
    parse_bad("FREQ=DAILY;FREQ=DAILY", "twice");
    parse_bad("FREQ=DAILY;INTERVAL=0", "INTERVAL");
    parse_bad("FREQ=DAILY;BYHOUR=24", "BYHOUR");
    parse_bad("FREQ=DAILY;BYMINUTE=60", "BYMINUTE");
    parse_bad("FREQ=DAILY;BYMONTHDAY=0", "BYMONTHDAY");
    parse_bad("FREQ=WEEKLY;BYDAY=XX", "BYDAY");
    parse_bad("FREQ=WEEKLY;BYDAY=1MO", "ordinals");
    parse_bad("FREQ=MONTHLY;BYDAY=6MO", "BYDAY");
    parse_bad("FREQ=WEEKLY;BYMONTHDAY=1", "not allowed with WEEKLY");
    parse_bad("FREQ=DAILY;COUNT=3;UNTIL=20270101", "COUNT and UNTIL");
    parse_bad("FREQ=DAILY;BYSETPOS=1", "unsupported rule part");
    parse_bad("FREQ=DAILY;", "must not end");
    parse_bad("FREQ=DAILY;BYHOUR=9,", "BYHOUR");
    parse_bad("FREQ=DAILY;BYHOUR", "NAME=VALUE");
    parse_bad("FREQ=DAILY;UNTIL=2026-12-31", "UNTIL");
    parse_bad("FREQ=DAILY; BYHOUR=9", "unsupported rule part");
    char big[400];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = 0;
    parse_bad(big, "256");
}

static void expect(const rrule_t *r, const char *tz, civil_t start, int64_t after, const char *const *want) {
    int64_t out[64];
    int n = 0, nwant = 0;
    while (want[nwant]) nwant++;
    /* a bounded rule must also end where expected */
    int max = (r->count || r->has_until || nwant == 0) ? nwant + 1 : nwant;
    assert_int_equal(rrule_expand(r, tz, &start, after, max, out, &n), 0);
    for (int i = 0; i < n && i < nwant; i++) {
        char got[RFC3339_MAX];
        tz_format_local(tz, out[i], got);
        if (strcmp(got, want[i])) fail_msg("occurrence %d: got %s, want %s", i, got, want[i]);
    }
    if (n != nwant) fail_msg("%d occurrences, want %d", n, nwant);
}

static void test_dst_weeks(void **state) {
    (void)state;
    rrule_t r;
    parse_ok("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", &r);
    const char *ny_spring[] = {"2026-03-06T09:00:00-05:00", "2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00",
                               "2026-03-09T09:00:00-04:00", NULL};
    /* expansion from an old anchor, asked for the week only */
    expect(&r, "America/New_York", (civil_t){2025, 1, 1, 0, 0, 0}, T("2026-03-05T15:00:00Z"), ny_spring);
    const char *ny_fall[] = {"2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00",
                             NULL};
    expect(&r, "America/New_York", (civil_t){2026, 10, 31, 0, 0, 0}, INT64_MIN, (const char *const[]){
        ny_fall[0], ny_fall[1], ny_fall[2], NULL});
    const char *be_spring[] = {"2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00", NULL};
    expect(&r, "Europe/Berlin", (civil_t){2026, 3, 28, 0, 0, 0}, INT64_MIN, be_spring);
    const char *be_fall[] = {"2026-10-24T09:00:00+02:00", "2026-10-25T09:00:00+01:00", "2026-10-26T09:00:00+01:00",
                             NULL};
    expect(&r, "Europe/Berlin", (civil_t){2026, 10, 24, 0, 0, 0}, INT64_MIN, be_fall);

    /* times inside the gap and the overlap */
    parse_ok("FREQ=DAILY;BYHOUR=2;BYMINUTE=30;COUNT=3", &r);
    const char *ny_gap[] = {"2026-03-07T02:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00",
                            NULL};
    expect(&r, "America/New_York", (civil_t){2026, 3, 7, 0, 0, 0}, INT64_MIN, ny_gap);
    const char *be_gap[] = {"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00",
                            NULL};
    expect(&r, "Europe/Berlin", (civil_t){2026, 3, 28, 0, 0, 0}, INT64_MIN, be_gap);
    const char *be_overlap[] = {"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00",
                                NULL};
    expect(&r, "Europe/Berlin", (civil_t){2026, 10, 24, 0, 0, 0}, INT64_MIN, be_overlap);
    parse_ok("FREQ=DAILY;BYHOUR=1;BYMINUTE=30;COUNT=3", &r);
    const char *ny_overlap[] = {"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00",
                                NULL};
    expect(&r, "America/New_York", (civil_t){2026, 10, 31, 0, 0, 0}, INT64_MIN, ny_overlap);
    /* 02:30 and 03:30 on the spring-forward day are one instant: counted once */
    parse_ok("FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30;COUNT=3", &r);
    const char *merged[] = {"2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-09T03:30:00-04:00",
                            NULL};
    expect(&r, "America/New_York", (civil_t){2026, 3, 8, 0, 0, 0}, INT64_MIN, merged);
}

static void test_expand_rules(void **state) {
    (void)state;
    rrule_t r;
    parse_ok("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;BYHOUR=8;BYMINUTE=15", &r);
    const char *w[] = {"2026-06-02T08:15:00+00:00", "2026-06-04T08:15:00+00:00", "2026-06-16T08:15:00+00:00", "2026-06-18T08:15:00+00:00",
                       NULL};
    expect(&r, "UTC", (civil_t){2026, 6, 1, 0, 0, 0}, INT64_MIN, w);
    parse_ok("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0;COUNT=3", &r);
    const char *m[] = {"2026-01-30T17:00:00+01:00", "2026-02-27T17:00:00+01:00", "2026-03-27T17:00:00+01:00", NULL};
    expect(&r, "Europe/Berlin", (civil_t){2026, 1, 1, 0, 0, 0}, INT64_MIN, m);
    parse_ok("FREQ=MONTHLY;BYMONTHDAY=31;UNTIL=20260801", &r);
    const char *m31[] = {"2026-05-31T10:00:00+00:00", "2026-07-31T10:00:00+00:00", NULL}; /* June has no 31st */
    expect(&r, "UTC", (civil_t){2026, 5, 1, 10, 0, 0}, INT64_MIN, m31);
    /* DTSTART's time is the default, earlier candidates are not occurrences */
    parse_ok("FREQ=DAILY;COUNT=2", &r);
    const char *d[] = {"2026-06-01T10:45:00+00:00", "2026-06-02T10:45:00+00:00", NULL};
    expect(&r, "UTC", (civil_t){2026, 6, 1, 10, 45, 0}, INT64_MIN, d);
    /* COUNT counts from DTSTART even when asked only for later ones */
    parse_ok("FREQ=DAILY;COUNT=3;BYHOUR=6;BYMINUTE=0", &r);
    const char *c[] = {"2026-06-03T06:00:00+00:00", NULL};
    expect(&r, "UTC", (civil_t){2026, 6, 1, 0, 0, 0}, T("2026-06-02T12:00:00Z"), c);
    /* a rule that never matches ends */
    parse_ok("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30", &r);
    const char *none[] = {NULL};
    expect(&r, "UTC", (civil_t){2026, 1, 1, 0, 0, 0}, INT64_MIN, none);

    char text[RRULE_TEXT_MAX];
    assert_int_equal(rrule_preset("quarterly", 9, 0, text), 0);
    assert_string_equal(text, "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYMONTHDAY=1;BYHOUR=9;BYMINUTE=0");
    parse_ok(text, &r);
    const char *q[] = {"2026-07-01T09:00:00+02:00", "2026-10-01T09:00:00+02:00", "2027-01-01T09:00:00+01:00", NULL};
    expect(&r, "Europe/Berlin", (civil_t){2026, 5, 1, 0, 0, 0}, INT64_MIN, q);
    assert_int_equal(rrule_preset("weekly", 7, 30, text), 0);
    assert_string_equal(text, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=7;BYMINUTE=30");
    assert_int_equal(rrule_preset("hourly", 7, 30, text), AISPM_EINVAL);
    assert_int_equal(rrule_preset("daily", 24, 0, text), AISPM_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_to_utc), cmocka_unit_test(test_civil),      cmocka_unit_test(test_parse),
        cmocka_unit_test(test_dst_weeks),    cmocka_unit_test(test_expand_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
