/*
 * test_hash.c: core/hash.c against published vectors (FIPS 180-2 SHA-256,
 * RFC 4231 HMAC-SHA256, RFC 4648 base64) plus the module's strict decoding
 * rules, hex round trips, ct_equal and the RNG wrapper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/hash.h"

static void assert_digest_hex(const uint8_t d[SHA256_LEN], const char *hex) {
    char got[SHA256_HEX_LEN + 1];
    hex_encode(d, SHA256_LEN, got);
    assert_string_equal(got, hex);
}

/* ---- SHA-256 (FIPS 180-2 appendix B) ---------------------------------- */

static void test_sha256_vectors(void **state) {
    (void)state;
    uint8_t d[SHA256_LEN];
    sha256("", 0, d);
    assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256(NULL, 0, d);
    assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256("abc", 3, d);
    assert_digest_hex(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_block = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256(two_block, strlen(two_block), d);
    assert_digest_hex(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    char *million = malloc(1000000);
    assert_non_null(million);
    memset(million, 'a', 1000000);
    sha256(million, 1000000, d);
    assert_digest_hex(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

static void test_sha256_hex(void **state) {
    (void)state;
    char hex[SHA256_HEX_LEN + 1];
    memset(hex, 'X', sizeof hex);
    sha256_hex("abc", 3, hex);
    assert_int_equal(strlen(hex), SHA256_HEX_LEN);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- HMAC-SHA256 (RFC 4231) ------------------------------------------- */

static void test_hmac_rfc4231_case1(void **state) {
    (void)state;
    uint8_t key[20], d[SHA256_LEN];
    memset(key, 0x0b, sizeof key);
    hmac_sha256(key, sizeof key, "Hi There", 8, d);
    assert_digest_hex(d, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_hmac_rfc4231_case2(void **state) {
    (void)state;
    uint8_t d[SHA256_LEN];
    const char *data = "what do ya want for nothing?";
    hmac_sha256("Jefe", 4, data, strlen(data), d);
    assert_digest_hex(d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* key longer than the block size is hashed first */
static void test_hmac_rfc4231_case6(void **state) {
    (void)state;
    uint8_t key[131], d[SHA256_LEN];
    memset(key, 0xaa, sizeof key);
    const char *data = "Test Using Larger Than Block-Size Key - Hash Key First";
    hmac_sha256(key, sizeof key, data, strlen(data), d);
    assert_digest_hex(d, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* ---- random ----------------------------------------------------------- */

static void test_random_bytes(void **state) {
    (void)state;
    uint8_t a[32], b[32], zero[32] = {0};
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    assert_int_equal(random_bytes(a, sizeof a), AISPM_OK);
    assert_int_equal(random_bytes(b, sizeof b), AISPM_OK);
    /* 2^-256 chance of a false failure */
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_int_equal(random_bytes(a, 0), AISPM_OK);
}

/* ---- hex -------------------------------------------------------------- */

static void test_hex_round_trip(void **state) {
    (void)state;
    uint8_t in[256], back[256];
    char hex[2 * sizeof in + 1];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)i;
    hex_encode(in, sizeof in, hex);
    assert_int_equal(strlen(hex), 2 * sizeof in);
    assert_memory_equal(hex, "000102030405060708090a0b0c0d0e0f10", 34);
    assert_string_equal(hex + 2 * 250, "fafbfcfdfeff");
    assert_int_equal(hex_decode(hex, strlen(hex), back), (long)sizeof in);
    assert_memory_equal(in, back, sizeof in);

    hex_encode(in, 0, hex);
    assert_string_equal(hex, "");
    assert_int_equal(hex_decode("", 0, back), 0);
}

static void test_hex_decode_rules(void **state) {
    (void)state;
    uint8_t out[8];
    assert_int_equal(hex_decode("DEADbeef", 8, out), 4);
    static const uint8_t expect[4] = {0xde, 0xad, 0xbe, 0xef};
    assert_memory_equal(out, expect, 4);
    assert_int_equal(hex_decode("abc", 3, out), -1);  /* odd length */
    assert_int_equal(hex_decode("zz", 2, out), -1);   /* not hex */
    assert_int_equal(hex_decode("0g", 2, out), -1);
    assert_int_equal(hex_decode(" 0", 2, out), -1);   /* no whitespace */
    assert_int_equal(hex_decode("0x12", 4, out), -1); /* no prefix */
    /* only `len` characters are read */
    assert_int_equal(hex_decode("12zz", 2, out), 1);
    assert_int_equal(out[0], 0x12);
}

/* ---- base64 / base64url (RFC 4648 §10) -------------------------------- */

static const struct {
    const char *raw, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_b64_rfc4648_vectors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        const uint8_t *raw = (const uint8_t *)rfc4648[i].raw;
        size_t n = strlen(rfc4648[i].raw);
        char enc[16];

        assert_int_equal(b64_encoded_len(n), strlen(rfc4648[i].b64));
        b64_encode(raw, n, enc);
        assert_string_equal(enc, rfc4648[i].b64);

        assert_int_equal(b64url_encoded_len(n), strlen(rfc4648[i].b64url));
        b64url_encode(raw, n, enc);
        assert_string_equal(enc, rfc4648[i].b64url);

        uint8_t dec[16];
        assert_int_equal(b64url_decode(enc, strlen(enc), dec), (long)n);
        assert_memory_equal(dec, raw, n);
    }
}

static void test_b64_url_alphabet(void **state) {
    (void)state;
    static const uint8_t raw[] = {0xfb, 0xff, 0xbf};
    char enc[8];
    b64_encode(raw, sizeof raw, enc);
    assert_string_equal(enc, "+/+/");
    b64url_encode(raw, sizeof raw, enc);
    assert_string_equal(enc, "-_-_");
    b64url_encode(raw, 2, enc);
    assert_string_equal(enc, "-_8");
    uint8_t dec[8];
    assert_int_equal(b64url_decode("-_-_", 4, dec), 3);
    assert_memory_equal(dec, raw, 3);
}

static void test_b64url_round_trip(void **state) {
    (void)state;
    uint8_t in[300], dec[300 * 3 / 4 + 3 + 100];
    char enc[sizeof in * 4 / 3 + 4];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof in; n++) {
        b64url_encode(in, n, enc);
        assert_int_equal(strlen(enc), b64url_encoded_len(n));
        assert_null(strchr(enc, '='));
        assert_null(strchr(enc, '+'));
        assert_null(strchr(enc, '/'));
        assert_int_equal(b64url_decode(enc, strlen(enc), dec), (long)n);
        assert_memory_equal(dec, in, n);
    }
}

static void test_b64url_decode_rejects(void **state) {
    (void)state;
    uint8_t out[16];
    assert_int_equal(b64url_decode("Zg==", 4, out), -1);  /* padding */
    assert_int_equal(b64url_decode("Z", 1, out), -1);     /* 1 mod 4 */
    assert_int_equal(b64url_decode("Zm9vY", 5, out), -1); /* 1 mod 4 */
    assert_int_equal(b64url_decode("Zh", 2, out), -1);    /* non-zero trailing bits */
    assert_int_equal(b64url_decode("Zm9", 3, out), -1);   /* non-zero trailing bits */
    assert_int_equal(b64url_decode("+/8", 3, out), -1);   /* standard alphabet */
    assert_int_equal(b64url_decode("Zm 9v", 5, out), -1); /* whitespace */
    assert_int_equal(b64url_decode("Zm9v\n", 5, out), -1);
}

/* ---- ct_equal --------------------------------------------------------- */

static void test_ct_equal(void **state) {
    (void)state;
    uint8_t a[64], b[64];
    for (size_t i = 0; i < sizeof a; i++) a[i] = b[i] = (uint8_t)(i * 13);
    assert_int_equal(ct_equal(a, b, sizeof a), 1);
    assert_int_equal(ct_equal(a, b, 0), 1);
    for (size_t i = 0; i < sizeof a; i++) {
        for (unsigned bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            assert_int_equal(ct_equal(a, b, sizeof a), 0);
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(ct_equal(a, b, sizeof a), 1);
    assert_int_equal(ct_equal("token-a", "token-b", 7), 0);
    assert_int_equal(ct_equal("token-a", "token-b", 6), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_hmac_rfc4231_case1),
        cmocka_unit_test(test_hmac_rfc4231_case2),
        cmocka_unit_test(test_hmac_rfc4231_case6),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_decode_rules),
        cmocka_unit_test(test_b64_rfc4648_vectors),
        cmocka_unit_test(test_b64_url_alphabet),
        cmocka_unit_test(test_b64url_round_trip),
        cmocka_unit_test(test_b64url_decode_rejects),
        cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
