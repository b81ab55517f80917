/* test_jws.c: unit tests for render/jws.c (RFC 7515 compact serialization
 * with the Ed25519 evidence key). A key is generated into a private mkdtemp
 * dir; the compact form is split, its header decoded and its signature
 * checked with key_verify over "header.payload". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "render/jws.h"

static char tmpdir[64];
static char ed_path[128];
static signing_key_t *key;

static const char payload[] =
    "{\"as_of\":\"2026-12-04T10:00:00.000Z\",\"schema_version\":\"aispm.signed_evidence_packet.v1\"}";

static int group_setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/aispm_test_jws_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(ed_path, sizeof ed_path, "%s/keys/ed25519.pem", tmpdir);
    if (key_generate(ed_path, KEY_ED25519, 0) != 0) return -1;
    return key_load(ed_path, &key) == 0 ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    key_free(key);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* splits "h.p.s" into its three parts (pointers into s, NUL-terminated) */
static void split3(char *s, char **h, char **p, char **sig) {
    char *d1 = strchr(s, '.');
    assert_non_null(d1);
    char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    *d1 = *d2 = 0;
    *h = s, *p = d1 + 1, *sig = d2 + 1;
}

static uint8_t *b64d(const char *s, long *len) {
    uint8_t *out = malloc(strlen(s) + 4);
    assert_non_null(out);
    *len = b64url_decode(s, strlen(s), out);
    assert_true(*len >= 0);
    return out;
}

static void test_compact_sign_verifies(void **state) {
    (void)state;
    buf_t jws = BUF_INIT;
    assert_int_equal(jws_compact_sign(key, payload, strlen(payload), &jws), 0);
    /* base64url only, no padding */
    for (size_t i = 0; i < jws.len; i++) {
        char c = jws.data[i];
        assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.');
    }
    char *copy = strdup(jws.data), *h, *p, *s;
    split3(copy, &h, &p, &s);

    /* header: canonical JSON with alg, kid, typ, cty */
    long hl;
    uint8_t *hdr = b64d(h, &hl);
    char *hj = calloc(1, (size_t)hl + 1);
    assert_non_null(hj);
    memcpy(hj, hdr, (size_t)hl);
    char expect[256];
    snprintf(expect, sizeof expect, "{\"alg\":\"EdDSA\",\"cty\":\"json\",\"kid\":\"%s\",\"typ\":\"%s\"}", key_kid(key),
             JWS_TYP_EVIDENCE_PACKET);
    assert_string_equal(hj, expect);
    json_object *ho = json_tokener_parse(hj), *v;
    assert_non_null(ho);
    assert_true(json_object_object_get_ex(ho, "kid", &v));
    assert_string_equal(json_object_get_string(v), key_kid(key));
    assert_true(json_object_object_get_ex(ho, "alg", &v));
    assert_string_equal(json_object_get_string(v), key_jws_alg(key));
    json_object_put(ho);

    /* payload: the exact bytes */
    long pl;
    uint8_t *pay = b64d(p, &pl);
    assert_int_equal(pl, (long)strlen(payload));
    assert_memory_equal(pay, payload, (size_t)pl);

    /* signature: Ed25519 (64 bytes) over ASCII(header "." payload) */
    long sl;
    uint8_t *sig = b64d(s, &sl);
    assert_int_equal(sl, 64);
    buf_t input = BUF_INIT;
    buf_printf(&input, "%s.%s", h, p);
    assert_int_equal(key_verify(key, input.data, input.len, sig, (size_t)sl), 0);

    /* one flipped bit of the signature, or of the signed input, fails */
    sig[10] ^= 0x01;
    assert_int_equal(key_verify(key, input.data, input.len, sig, (size_t)sl), AISPM_ECRYPTO);
    sig[10] ^= 0x01;
    input.data[input.len - 3] ^= 0x01;
    assert_int_equal(key_verify(key, input.data, input.len, sig, (size_t)sl), AISPM_ECRYPTO);

    buf_free(&input);
    free(sig);
    free(pay);
    free(hdr);
    free(hj);
    free(copy);
    buf_free(&jws);
}

static void test_deterministic_and_appends(void **state) {
    (void)state;
    buf_t a = BUF_INIT, b = BUF_INIT;
    buf_puts(&b, "prefix:");
    assert_int_equal(jws_compact_sign(key, payload, strlen(payload), &a), 0);
    assert_int_equal(jws_compact_sign(key, payload, strlen(payload), &b), 0);
    assert_int_equal(b.len, a.len + 7);
    assert_memory_equal(b.data, "prefix:", 7);
    assert_string_equal(b.data + 7, a.data);
    /* another payload, another signature */
    buf_t c = BUF_INIT;
    assert_int_equal(jws_compact_sign(key, "{}", 2, &c), 0);
    assert_string_not_equal(a.data, c.data);
    /* an empty payload is a valid JWS: "h..s" */
    buf_t e = BUF_INIT;
    assert_int_equal(jws_compact_sign(key, "", 0, &e), 0);
    assert_non_null(strstr(e.data, ".."));
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
    buf_free(&e);
}

static void test_refuses_without_key(void **state) {
    (void)state;
    buf_t out = BUF_INIT;
    assert_int_equal(jws_compact_sign(NULL, payload, strlen(payload), &out), AISPM_EINVAL);
    assert_int_equal(jws_compact_sign(key, NULL, 5, &out), AISPM_EINVAL);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_sign_verifies),
        cmocka_unit_test(test_deterministic_and_appends),
        cmocka_unit_test(test_refuses_without_key),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
