/*
 * test_text.c: core/text.c validators — strict UTF-8, domains, e-mail
 * addresses, IANA time zones (against the system zoneinfo database) and
 * secret references, including that rejection reasons never echo the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/text.h"

static bool u8(const char *s) { return utf8_valid(s, strlen(s)); }

/* ---- UTF-8 ------------------------------------------------------------ */

static void test_utf8_valid_sequences(void **state) {
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid(NULL, 0));
    assert_true(u8("plain ASCII ~\x7f"));
    assert_true(u8("\xc2\x80"));                 /* U+0080, smallest 2-byte */
    assert_true(u8("\xc3\xb6\xc3\xa9"));         /* öé */
    assert_true(u8("\xdf\xbf"));                 /* U+07FF */
    assert_true(u8("\xe0\xa0\x80"));             /* U+0800, smallest 3-byte */
    assert_true(u8("\xe2\x82\xac"));             /* € */
    assert_true(u8("\xed\x9f\xbf"));             /* U+D7FF, just below surrogates */
    assert_true(u8("\xee\x80\x80"));             /* U+E000, just above */
    assert_true(u8("\xef\xbf\xbf"));             /* U+FFFF */
    assert_true(u8("\xf0\x90\x80\x80"));         /* U+10000, smallest 4-byte */
    assert_true(u8("\xf0\x9f\x98\x80"));         /* U+1F600 */
    assert_true(u8("\xf4\x8f\xbf\xbf"));         /* U+10FFFF, the maximum */
    assert_true(utf8_valid("a\0b", 3));          /* U+0000 is well-formed */
    assert_true(utf8_valid("\xe2\x82\xac\xff", 3)); /* only len bytes count */
}

static void test_utf8_rejects_overlong(void **state) {
    (void)state;
    assert_false(u8("\xc0\x80"));             /* NUL, 2 bytes */
    assert_false(u8("\xc0\xaf"));             /* '/', 2 bytes */
    assert_false(u8("\xc1\xbf"));             /* U+007F, 2 bytes */
    assert_false(u8("\xe0\x80\xaf"));         /* '/', 3 bytes */
    assert_false(u8("\xe0\x9f\xbf"));         /* U+07FF, 3 bytes */
    assert_false(u8("\xf0\x80\x80\xaf"));     /* '/', 4 bytes */
    assert_false(u8("\xf0\x8f\xbf\xbf"));     /* U+FFFF, 4 bytes */
}

static void test_utf8_rejects_surrogates(void **state) {
    (void)state;
    assert_false(u8("\xed\xa0\x80"));                 /* U+D800 */
    assert_false(u8("\xed\xaf\xbf"));                 /* U+DBFF */
    assert_false(u8("\xed\xb0\x80"));                 /* U+DC00 */
    assert_false(u8("\xed\xbf\xbf"));                 /* U+DFFF */
    assert_false(u8("\xed\xa0\xbd\xed\xb8\x80"));     /* CESU-8 pair for U+1F600 */
}

static void test_utf8_rejects_truncated(void **state) {
    (void)state;
    assert_false(u8("\xc3"));
    assert_false(u8("abc\xe2\x82"));
    assert_false(u8("\xf0\x9f\x98"));
    assert_false(utf8_valid("\xe2\x82\xac", 2)); /* cut by len */
    assert_false(u8("\xe2\x82x"));               /* continuation replaced */
    assert_false(u8("\xc3 "));
}

static void test_utf8_rejects_out_of_range_and_stray(void **state) {
    (void)state;
    assert_false(u8("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(u8("\xf5\x80\x80\x80"));
    assert_false(u8("\xf7\xbf\xbf\xbf"));
    assert_false(u8("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    assert_false(u8("\xfc\x84\x80\x80\x80\x80"));
    assert_false(u8("\xfe"));
    assert_false(u8("\xff"));
    assert_false(u8("\x80"));     /* lone continuation */
    assert_false(u8("a\xbf" "b"));
    assert_false(u8("\xc3\xb6\xb6")); /* extra continuation */
    assert_false(utf8_valid(NULL, 1));
}

/* ---- domains ---------------------------------------------------------- */

static void test_domain_valid(void **state) {
    (void)state;
    assert_true(domain_valid("example.com", true));
    assert_true(domain_valid("mail-1.eu.example.co.uk", true));
    assert_true(domain_valid("xn--bcher-kva.example", true));
    assert_true(domain_valid("localhost", false));
    assert_true(domain_valid("a", false));
    assert_true(domain_valid("A1.B2", true));
    assert_false(domain_valid("localhost", true)); /* needs a dot */

    assert_false(domain_valid(NULL, false));
    assert_false(domain_valid("", false));
    assert_false(domain_valid(".example.com", true));
    assert_false(domain_valid("example.com.", true));
    assert_false(domain_valid("example..com", true));
    assert_false(domain_valid("-example.com", true));
    assert_false(domain_valid("example-.com", true));
    assert_false(domain_valid("example.-com", true));
    assert_false(domain_valid("exa_mple.com", true));
    assert_false(domain_valid("exa mple.com", true));
    assert_false(domain_valid("example.com/", true));
    assert_false(domain_valid("b\xc3\xbc" "cher.example", true));
    assert_false(domain_valid("user@example.com", true));

    /* label length: 63 ok, 64 not */
    char d[300];
    memset(d, 'a', 63);
    strcpy(d + 63, ".com");
    assert_true(domain_valid(d, true));
    memset(d, 'a', 64);
    strcpy(d + 64, ".com");
    assert_false(domain_valid(d, true));

    /* total length: 253 ok, 254 not (labels of 49 + dot) */
    size_t n = 0;
    while (n < 253) {
        size_t take = 253 - n >= 50 ? 49 : 253 - n;
        memset(d + n, 'b', take);
        n += take;
        if (n < 253) d[n++] = '.';
    }
    d[n] = '\0';
    assert_int_equal(strlen(d), 253);
    assert_true(domain_valid(d, true));
    d[n] = 'c';
    d[n + 1] = '\0';
    assert_false(domain_valid(d, true));
}

/* ---- e-mail ----------------------------------------------------------- */

static void test_email_valid(void **state) {
    (void)state;
    assert_true(email_valid("alice@example.com"));
    assert_true(email_valid("first.last@sub.example.org"));
    assert_true(email_valid("o'brien+tag@example.ie"));
    assert_true(email_valid("!#$%&'*+-/=?^_`{|}~@example.com"));
    assert_true(email_valid("a@b.co"));

    assert_false(email_valid(NULL));
    assert_false(email_valid(""));
    assert_false(email_valid("alice"));
    assert_false(email_valid("alice@"));
    assert_false(email_valid("@example.com"));
    assert_false(email_valid("alice@localhost")); /* domain needs a dot */
    assert_false(email_valid("alice@@example.com"));
    assert_false(email_valid("al@ice@example.com"));
    assert_false(email_valid(".alice@example.com"));
    assert_false(email_valid("alice.@example.com"));
    assert_false(email_valid("al..ice@example.com"));
    assert_false(email_valid("al ice@example.com"));
    assert_false(email_valid("\"alice\"@example.com"));
    assert_false(email_valid("alice@exa_mple.com"));
    assert_false(email_valid("alice@example.com "));
    assert_false(email_valid("alice@example.com\n"));
    assert_false(email_valid("al(ice)@example.com"));
    assert_false(email_valid("j\xc3\xb6rg@example.com"));

    /* local part: 64 ok, 65 not */
    char e[400];
    memset(e, 'l', 64);
    strcpy(e + 64, "@example.com");
    assert_true(email_valid(e));
    memset(e, 'l', 65);
    strcpy(e + 65, "@example.com");
    assert_false(email_valid(e));

    /* total: 254 ok, 255 not (64 + '@' + domain) */
    memset(e, 'l', 64);
    e[64] = '@';
    size_t n = 65;
    while (n < 254) {
        size_t take = 254 - n >= 50 ? 49 : 254 - n;
        memset(e + n, 'd', take);
        n += take;
        if (n < 254) e[n++] = '.';
    }
    e[n] = '\0';
    assert_int_equal(strlen(e), 254);
    assert_true(email_valid(e));
    e[n] = 'x';
    e[n + 1] = '\0';
    assert_false(email_valid(e));
}

/* ---- time zones ------------------------------------------------------- */

static void test_timezone_valid(void **state) {
    (void)state;
    assert_true(timezone_valid("UTC"));
    assert_true(timezone_valid("Europe/Berlin"));
    assert_true(timezone_valid("America/Argentina/Buenos_Aires"));
    assert_true(timezone_valid("Etc/GMT+5"));
    assert_true(timezone_valid("Etc/GMT-14"));

    assert_false(timezone_valid(NULL));
    assert_false(timezone_valid(""));
    assert_false(timezone_valid("Mars/Base"));
    assert_false(timezone_valid("../etc/passwd"));
    assert_false(timezone_valid("/etc/passwd"));
    assert_false(timezone_valid("Europe/../../../etc/passwd"));
    assert_false(timezone_valid("Europe"));        /* a directory */
    assert_false(timezone_valid("Europe/"));
    assert_false(timezone_valid("Europe//Berlin"));
    assert_false(timezone_valid("europe/berlin")); /* names are case-sensitive */
    assert_false(timezone_valid("Europe/Berlin "));
    assert_false(timezone_valid("Europe/Berlin\n"));
    assert_false(timezone_valid("zone.tab"));      /* database metadata, not a zone */
    assert_false(timezone_valid("tzdata.zi"));
    assert_false(timezone_valid("leapseconds"));   /* regular file, but not TZif */
    assert_false(timezone_valid("Europe/Berlin\\x"));
    assert_false(timezone_valid("Europe/Berlin;rm"));
    char longname[300];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(timezone_valid(longname));
}

/* ---- secret references ------------------------------------------------ */

static void test_secretref_accepts(void **state) {
    (void)state;
    const char *why = "stale";
    assert_true(secretref_valid("env:SMTP_PASSWORD", &why));
    assert_null(why);
    assert_true(secretref_valid("file:/run/secrets/smtp", &why));
    assert_null(why);
    assert_true(secretref_valid("env:_X", NULL));
    assert_true(secretref_valid("env:A1_2", NULL));
    assert_true(secretref_valid("file:/a", NULL));
    assert_true(secretref_valid("file:/etc/aispm/.hidden-key", NULL)); /* dotfile, not "." */
    assert_true(secretref_valid("file:/opt/app..v2/key", NULL));        /* ".." inside a name */

    char s[700];
    strcpy(s, "env:");
    memset(s + 4, 'N', 128);
    s[132] = '\0';
    assert_true(secretref_valid(s, NULL)); /* 128-char name */
    strcpy(s, "file:/");
    memset(s + 6, 'p', 511);
    s[517] = '\0';
    assert_true(secretref_valid(s, NULL)); /* 512-char path */
}

static void test_secretref_rejects_without_echo(void **state) {
    (void)state;
    char long_env[200], long_file[700];
    strcpy(long_env, "env:");
    memset(long_env + 4, 'N', 129);
    long_env[133] = '\0';
    strcpy(long_file, "file:/");
    memset(long_file + 6, 'p', 512);
    long_file[518] = '\0';

    const char *const bad[] = {
        "hunter2",
        "correct horse battery staple",
        "env:lower",
        "env:Mixed",
        "env:1ABC",
        "env:SMTP-PASSWORD",
        "env:",
        "env: SMTP",
        "ENV:SMTP_PASSWORD",
        "file:relative",
        "file:",
        "file:./x",
        "file:/a/../b",
        "file:/a/./b",
        "file:/a/..",
        "file:/..",
        "file:/with space",
        "file:/tab\there",
        "file:/caf\xc3\xa9",
        "file:/x\x7f",
        "vault:secret/data/smtp",
        "",
        long_env,
        long_file,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        assert_false(secretref_valid(bad[i], &why));
        assert_non_null(why);
        assert_true(strlen(why) > 0);
        if (bad[i][0] != '\0') assert_null(strstr(why, bad[i]));
        /* also no distinctive fragment of the value */
        assert_null(strstr(why, "hunter2"));
        assert_null(strstr(why, "horse"));
        assert_null(strstr(why, "lower"));
        assert_null(strstr(why, "relative"));
        assert_null(strstr(why, "with space"));
        assert_null(strstr(why, "NNNN"));
        assert_null(strstr(why, "pppp"));
        /* NULL why pointer is allowed */
        assert_false(secretref_valid(bad[i], NULL));
    }
    const char *why = NULL;
    assert_false(secretref_valid(NULL, &why));
    assert_non_null(why);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_sequences),
        cmocka_unit_test(test_utf8_rejects_overlong),
        cmocka_unit_test(test_utf8_rejects_surrogates),
        cmocka_unit_test(test_utf8_rejects_truncated),
        cmocka_unit_test(test_utf8_rejects_out_of_range_and_stray),
        cmocka_unit_test(test_domain_valid),
        cmocka_unit_test(test_email_valid),
        cmocka_unit_test(test_timezone_valid),
        cmocka_unit_test(test_secretref_accepts),
        cmocka_unit_test(test_secretref_rejects_without_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
