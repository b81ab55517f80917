/*
 * test_ref.c: core/ref.c — ULID shape, timestamp encoding and ordering,
 * `kind:ULID` refs, and evidence refs with their public (redacted) form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/ref.h"
#include "core/timeutil.h"

#define CROCKFORD "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

static const char *const T1 = "01ARYZ6S41TSV4RRFFQ69G5FAV";
static const char *const T2 = "01JE97FR1G0000000000000000";

static void assert_ulid_shape(const char *u) {
    assert_int_equal(strlen(u), ULID_LEN);
    assert_int_equal(strspn(u, CROCKFORD), ULID_LEN);
    assert_true(u[0] >= '0' && u[0] <= '7');
    assert_true(ulid_valid(u));
}

/* ---- ULID ------------------------------------------------------------- */

static void test_ulid_new_shape(void **state) {
    (void)state;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    assert_int_equal(ulid_new(a), AISPM_OK);
    assert_int_equal(ulid_new(b), AISPM_OK);
    assert_ulid_shape(a);
    assert_ulid_shape(b);
    assert_string_not_equal(a, b); /* 80 random bits */
}

static void test_ulid_timestamp_encoding(void **state) {
    (void)state;
    char u[ULID_LEN + 1];
    /* the example timestamp from the ULID specification */
    assert_int_equal(ulid_new_at(INT64_C(1469918176385), u), AISPM_OK);
    assert_memory_equal(u, "01ARYZ6S41", 10);
    assert_ulid_shape(u);
    assert_int_equal(ulid_new_at(0, u), AISPM_OK);
    assert_memory_equal(u, "0000000000", 10);
    assert_int_equal(ulid_new_at(1, u), AISPM_OK);
    assert_memory_equal(u, "0000000001", 10);
    assert_int_equal(ulid_new_at((INT64_C(1) << 48) - 1, u), AISPM_OK);
    assert_memory_equal(u, "7ZZZZZZZZZ", 10);
    assert_ulid_shape(u);
    /* outside the 48-bit range */
    assert_int_equal(ulid_new_at(INT64_C(1) << 48, u), AISPM_EINVAL);
    assert_int_equal(ulid_new_at(-1, u), AISPM_EINVAL);
}

static void test_ulid_now_matches_clock(void **state) {
    (void)state;
    char u[ULID_LEN + 1], lo[ULID_LEN + 1], hi[ULID_LEN + 1];
    int64_t before = now_ms();
    assert_int_equal(ulid_new(u), AISPM_OK);
    int64_t after = now_ms();
    assert_int_equal(ulid_new_at(before, lo), AISPM_OK);
    assert_int_equal(ulid_new_at(after, hi), AISPM_OK);
    assert_true(memcmp(lo, u, 10) <= 0);
    assert_true(memcmp(u, hi, 10) <= 0);
}

static void test_ulid_time_ordering(void **state) {
    (void)state;
    int64_t base = INT64_C(1733329150000);
    char prev[ULID_LEN + 1], cur[ULID_LEN + 1];
    assert_int_equal(ulid_new_at(base, prev), AISPM_OK);
    /* each later millisecond sorts after, whatever the random part */
    static const int64_t steps[] = {1, 1, 31, 32, 1000, 86400000, INT64_C(1) << 40};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        base += steps[i];
        for (int r = 0; r < 20; r++) {
            assert_int_equal(ulid_new_at(base, cur), AISPM_OK);
            assert_true(strcmp(prev, cur) < 0);
        }
        memcpy(prev, cur, sizeof cur);
    }
}

static void test_ulid_valid_rejects(void **state) {
    (void)state;
    assert_true(ulid_valid(T1));
    assert_true(ulid_valid("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"));
    assert_false(ulid_valid(NULL));
    assert_false(ulid_valid(""));
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FA"));   /* 25 */
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FAVX")); /* 27 */
    assert_false(ulid_valid("01aryz6s41tsv4rrffq69g5fav"));  /* lower case */
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FAI"));  /* I */
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FAL"));  /* L */
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FAO"));  /* O */
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FAU"));  /* U */
    assert_false(ulid_valid("01ARYZ6S41TSV4RRFFQ69G5FA-"));
    assert_false(ulid_valid("8ZZZZZZZZZZZZZZZZZZZZZZZZZ")); /* > 128 bits */
    assert_false(ulid_valid(" 01ARYZ6S41TSV4RRFFQ69G5FAV"));
}

/* ---- kind:ULID refs --------------------------------------------------- */

static void test_ref_new(void **state) {
    (void)state;
    char r[REF_MAX], kind[REF_KIND_MAX + 1], ulid[ULID_LEN + 1];
    assert_int_equal(ref_new("approval", r), AISPM_OK);
    assert_int_equal(strlen(r), strlen("approval:") + ULID_LEN);
    assert_memory_equal(r, "approval:", 9);
    assert_ulid_shape(r + 9);
    assert_true(ref_parse(r, "approval", kind, ulid));
    assert_string_equal(kind, "approval");
    assert_string_equal(ulid, r + 9);

    /* 31-char kind is the maximum and fits REF_MAX */
    const char *k31 = "abcdefghijklmnopqrstuvwxyz01234";
    assert_int_equal(ref_new(k31, r), AISPM_OK);
    assert_int_equal(strlen(r), REF_MAX - 1);
    assert_true(ref_parse(r, k31, NULL, NULL));

    assert_int_equal(ref_new("abcdefghijklmnopqrstuvwxyz012345", r), AISPM_EINVAL); /* 32 */
    assert_int_equal(ref_new("", r), AISPM_EINVAL);
    assert_int_equal(ref_new("Approval", r), AISPM_EINVAL);
    assert_int_equal(ref_new("1kind", r), AISPM_EINVAL);
    assert_int_equal(ref_new("a:b", r), AISPM_EINVAL);
    assert_int_equal(ref_new(NULL, r), AISPM_EINVAL);
}

static void test_ref_parse_accepts(void **state) {
    (void)state;
    char kind[REF_KIND_MAX + 1], ulid[ULID_LEN + 1];
    assert_true(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, kind, ulid));
    assert_string_equal(kind, "approval");
    assert_string_equal(ulid, T1);
    assert_true(ref_parse("a:01ARYZ6S41TSV4RRFFQ69G5FAV", "a", NULL, NULL));
    assert_true(ref_parse("risk-item_2:01ARYZ6S41TSV4RRFFQ69G5FAV", "risk-item_2", kind, NULL));
    assert_string_equal(kind, "risk-item_2");
    assert_true(ref_parse("x:01JE97FR1G0000000000000000", NULL, NULL, ulid));
    assert_string_equal(ulid, T2);
}

static void test_ref_parse_rejects(void **state) {
    (void)state;
    const char *u = "01ARYZ6S41TSV4RRFFQ69G5FAV";
    char buf[128];
    /* wrong kind, including prefixes of the expected kind */
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAV", "tenant", NULL, NULL));
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAV", "approvals", NULL, NULL));
    assert_false(ref_parse("approvals:01ARYZ6S41TSV4RRFFQ69G5FAV", "approval", NULL, NULL));
    /* lower-case ULID */
    assert_false(ref_parse("approval:01aryz6s41tsv4rrffq69g5fav", NULL, NULL, NULL));
    /* bad characters */
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAI", NULL, NULL, NULL));
    assert_false(ref_parse("appr oval:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    assert_false(ref_parse("Approval:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    assert_false(ref_parse("1approval:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    assert_false(ref_parse("-a:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    assert_false(ref_parse("a.b:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    /* structure */
    assert_false(ref_parse(NULL, NULL, NULL, NULL));
    assert_false(ref_parse("", NULL, NULL, NULL));
    assert_false(ref_parse(u, NULL, NULL, NULL));                       /* no kind */
    assert_false(ref_parse(":01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    assert_false(ref_parse("approval:", NULL, NULL, NULL));
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FA", NULL, NULL, NULL));
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAVV", NULL, NULL, NULL));
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAV ", NULL, NULL, NULL));
    assert_false(ref_parse("a:b:01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, NULL, NULL));
    assert_false(ref_parse("approval:8ZZZZZZZZZZZZZZZZZZZZZZZZZ", NULL, NULL, NULL));
    /* kind too long: 32 chars */
    snprintf(buf, sizeof buf, "%s:%s", "abcdefghijklmnopqrstuvwxyz012345", u);
    assert_false(ref_parse(buf, NULL, NULL, NULL));
    snprintf(buf, sizeof buf, "%s:%s", "abcdefghijklmnopqrstuvwxyz01234", u);
    assert_true(ref_parse(buf, NULL, NULL, NULL));
}

static void test_ref_parse_failure_leaves_outputs(void **state) {
    (void)state;
    char kind[REF_KIND_MAX + 1] = "untouched", ulid[ULID_LEN + 1] = "untouched";
    assert_false(ref_parse("approval:01ARYZ6S41TSV4RRFFQ69G5FAV", "tenant", kind, ulid));
    assert_string_equal(kind, "untouched");
    assert_string_equal(ulid, "untouched");
}

/* ---- evidence refs ---------------------------------------------------- */

static void test_evidence_ref_format_parse(void **state) {
    (void)state;
    char ref[EVIDENCE_REF_MAX], t[ULID_LEN + 1], e[ULID_LEN + 1];
    evidence_ref_format(T1, T2, ref);
    assert_string_equal(ref,
                        "cavra://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV/01JE97FR1G0000000000000000");
    assert_true(evidence_ref_parse(ref, t, e));
    assert_string_equal(t, T1);
    assert_string_equal(e, T2);

    char nt[ULID_LEN + 1], ne[ULID_LEN + 1];
    assert_int_equal(ulid_new(nt), AISPM_OK);
    assert_int_equal(ulid_new(ne), AISPM_OK);
    evidence_ref_format(nt, ne, ref);
    assert_true(evidence_ref_parse(ref, t, e));
    assert_string_equal(t, nt);
    assert_string_equal(e, ne);
}

static void test_evidence_ref_parse_rejects(void **state) {
    (void)state;
    char t[ULID_LEN + 1], e[ULID_LEN + 1];
    static const char *const bad[] = {
        "",
        "cavra://evidence/",
        "cavra://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV",
        "cavra://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV/",
        "cavra://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV/01JE97FR1G0000000000000000/",
        "cavra://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV/01JE97FR1G000000000000000",
        "cavra://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV:01JE97FR1G0000000000000000",
        "cavra://evidence/redacted/01JE97FR1G0000000000000000",
        "cavra://evidence/01aryz6s41tsv4rrffq69g5fav/01JE97FR1G0000000000000000",
        "CAVRA://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV/01JE97FR1G0000000000000000",
        "https://evidence/01ARYZ6S41TSV4RRFFQ69G5FAV/01JE97FR1G0000000000000000",
        "approval:01ARYZ6S41TSV4RRFFQ69G5FAV",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(evidence_ref_parse(bad[i], t, e));
    assert_false(evidence_ref_parse(NULL, t, e));
}

static void test_evidence_ref_public(void **state) {
    (void)state;
    char ref[EVIDENCE_REF_MAX], pub[EVIDENCE_REF_MAX];
    evidence_ref_format(T1, T2, ref);
    assert_int_equal(evidence_ref_public(ref, pub), AISPM_OK);
    assert_string_equal(pub, "cavra://evidence/redacted/01JE97FR1G0000000000000000");
    /* the tenant never leaks into the public form */
    assert_null(strstr(pub, T1));

    assert_int_equal(evidence_ref_public("approval:01ARYZ6S41TSV4RRFFQ69G5FAV", pub),
                     AISPM_EINVAL);
    assert_int_equal(evidence_ref_public("cavra://evidence/nope", pub), AISPM_EINVAL);
    assert_int_equal(evidence_ref_public(pub, pub), AISPM_EINVAL); /* already redacted */
    assert_int_equal(evidence_ref_public(NULL, pub), AISPM_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ulid_new_shape),
        cmocka_unit_test(test_ulid_timestamp_encoding),
        cmocka_unit_test(test_ulid_now_matches_clock),
        cmocka_unit_test(test_ulid_time_ordering),
        cmocka_unit_test(test_ulid_valid_rejects),
        cmocka_unit_test(test_ref_new),
        cmocka_unit_test(test_ref_parse_accepts),
        cmocka_unit_test(test_ref_parse_rejects),
        cmocka_unit_test(test_ref_parse_failure_leaves_outputs),
        cmocka_unit_test(test_evidence_ref_format_parse),
        cmocka_unit_test(test_evidence_ref_parse_rejects),
        cmocka_unit_test(test_evidence_ref_public),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
