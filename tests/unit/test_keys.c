/* test_keys.c: unit tests for crypto/keys.c (key files, signatures, JWK, PEM,
 * Argon2id password hashing). Keys are generated into a private mkdtemp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "crypto/keys.h"

static char tmpdir[64];
static char ed_path[128];
static char rsa_path[128];

static const char msg[] = "evidence checkpoint #42: 9f86d081884c7d659a2feaa0c55ad015";

static int group_setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/aispm_test_keys_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    /* keys go into a not-yet-existing subdirectory: key_generate makes it 0700 */
    snprintf(ed_path, sizeof ed_path, "%s/keys/ed25519.pem", tmpdir);
    snprintf(rsa_path, sizeof rsa_path, "%s/keys/rsa.pem", tmpdir);
    if (key_generate(ed_path, KEY_ED25519, 0) != 0) return -1;
    if (key_generate(rsa_path, KEY_RSA, 2048) != 0) return -1;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *const paths[2] = {ed_path, rsa_path};

static void test_file_modes(void **state) {
    (void)state;
    struct stat st;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(stat(paths[i], &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    char dir[160];
    snprintf(dir, sizeof dir, "%s/keys", tmpdir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* file content is an unencrypted PKCS#8 PEM */
    FILE *f = fopen(ed_path, "r");
    assert_non_null(f);
    char line[64] = {0};
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "-----BEGIN PRIVATE KEY-----\n");
}

static void test_generate_refuses_overwrite(void **state) {
    (void)state;
    struct stat before, after;
    assert_int_equal(stat(ed_path, &before), 0);
    assert_int_equal(key_generate(ed_path, KEY_ED25519, 0), AISPM_ECONFLICT);
    assert_int_equal(key_generate(rsa_path, KEY_RSA, 2048), AISPM_ECONFLICT);
    assert_int_equal(stat(ed_path, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_ino, after.st_ino);

    char p[160];
    snprintf(p, sizeof p, "%s/bad.pem", tmpdir);
    assert_int_equal(key_generate(p, KEY_RSA, 1024), AISPM_EINVAL);
    assert_int_equal(key_generate(p, (key_alg_t)7, 0), AISPM_EINVAL);
    assert_int_not_equal(access(p, F_OK), 0);
}

static void test_load(void **state) {
    (void)state;
    signing_key_t *k = NULL;
    assert_int_equal(key_load(ed_path, &k), 0);
    assert_non_null(k);
    assert_int_equal(key_alg(k), KEY_ED25519);
    assert_string_equal(key_jws_alg(k), "EdDSA");
    key_free(k);

    assert_int_equal(key_load(rsa_path, &k), 0);
    assert_int_equal(key_alg(k), KEY_RSA);
    assert_string_equal(key_jws_alg(k), "RS256");
    key_free(k);

    char p[160];
    snprintf(p, sizeof p, "%s/missing.pem", tmpdir);
    k = (signing_key_t *)1;
    assert_int_equal(key_load(p, &k), AISPM_ENOTFOUND);
    assert_null(k);

    /* a 0600 file that is not a key */
    snprintf(p, sizeof p, "%s/junk.pem", tmpdir);
    int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a key\n", 10), 10);
    close(fd);
    assert_int_equal(key_load(p, &k), AISPM_ECRYPTO);
    assert_null(k);
}

static void test_load_refuses_readable_file(void **state) {
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s/loose.pem", tmpdir);
    assert_int_equal(key_generate(p, KEY_ED25519, 0), 0);
    signing_key_t *k = NULL;
    assert_int_equal(key_load(p, &k), 0);
    key_free(k);
    k = NULL;

    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(key_load(p, &k), AISPM_ECRYPTO);
    assert_null(k);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(key_load(p, &k), AISPM_ECRYPTO);
    assert_int_equal(chmod(p, 0602), 0);
    assert_int_equal(key_load(p, &k), AISPM_ECRYPTO);
    assert_null(k);
}

static void sign_verify_roundtrip(const char *path, size_t expect_siglen) {
    signing_key_t *k = NULL;
    assert_int_equal(key_load(path, &k), 0);
    buf_t sig = BUF_INIT;
    assert_int_equal(key_sign(k, msg, strlen(msg), &sig), 0);
    assert_int_equal(sig.len, expect_siglen);
    assert_int_equal(key_verify(k, msg, strlen(msg), sig.data, sig.len), 0);

    /* flipped signature bit */
    unsigned char *s = (unsigned char *)sig.data;
    s[sig.len / 2] ^= 0x01;
    assert_int_equal(key_verify(k, msg, strlen(msg), sig.data, sig.len), AISPM_ECRYPTO);
    s[sig.len / 2] ^= 0x01;
    assert_int_equal(key_verify(k, msg, strlen(msg), sig.data, sig.len), 0);

    /* flipped data byte */
    char data[sizeof msg];
    memcpy(data, msg, sizeof msg);
    data[3] ^= 0x20;
    assert_int_equal(key_verify(k, data, strlen(data), sig.data, sig.len), AISPM_ECRYPTO);

    /* truncated signature, empty signature */
    assert_int_equal(key_verify(k, msg, strlen(msg), sig.data, sig.len - 1), AISPM_ECRYPTO);
    assert_int_equal(key_verify(k, msg, strlen(msg), sig.data, 0), AISPM_ECRYPTO);

    /* empty message signs and verifies too */
    assert_int_equal(key_sign(k, "", 0, &sig), 0);
    assert_int_equal(key_verify(k, "", 0, sig.data, sig.len), 0);
    assert_int_equal(key_verify(k, msg, strlen(msg), sig.data, sig.len), AISPM_ECRYPTO);

    buf_free(&sig);
    key_free(k);
}

static void test_sign_verify_ed25519(void **state) {
    (void)state;
    sign_verify_roundtrip(ed_path, 64);
}

static void test_sign_verify_rsa(void **state) {
    (void)state;
    sign_verify_roundtrip(rsa_path, 256);
}

static void test_ed25519_signature_deterministic(void **state) {
    (void)state;
    signing_key_t *k = NULL;
    assert_int_equal(key_load(ed_path, &k), 0);
    buf_t a = BUF_INIT, b = BUF_INIT;
    assert_int_equal(key_sign(k, msg, strlen(msg), &a), 0);
    assert_int_equal(key_sign(k, msg, strlen(msg), &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_free(&a);
    buf_free(&b);
    key_free(k);
}

static void test_cross_key_rejected(void **state) {
    (void)state;
    char p[160];
    snprintf(p, sizeof p, "%s/other.pem", tmpdir);
    assert_int_equal(key_generate(p, KEY_ED25519, 0), 0);
    signing_key_t *k1 = NULL, *k2 = NULL;
    assert_int_equal(key_load(ed_path, &k1), 0);
    assert_int_equal(key_load(p, &k2), 0);
    assert_string_not_equal(key_kid(k1), key_kid(k2));
    buf_t sig = BUF_INIT;
    assert_int_equal(key_sign(k1, msg, strlen(msg), &sig), 0);
    assert_int_equal(key_verify(k2, msg, strlen(msg), sig.data, sig.len), AISPM_ECRYPTO);
    buf_free(&sig);
    key_free(k1);
    key_free(k2);
}

static void test_kid(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) {
        signing_key_t *k = NULL;
        assert_int_equal(key_load(paths[i], &k), 0);
        char first[17];
        const char *kid = key_kid(k);
        assert_int_equal(strlen(kid), 16);
        for (int j = 0; j < 16; j++)
            assert_non_null(strchr("0123456789abcdef", kid[j]));
        strcpy(first, kid);
        key_free(k);

        assert_int_equal(key_load(paths[i], &k), 0);
        assert_string_equal(key_kid(k), first);
        key_free(k);
    }
}

static const char *jwk_get(struct json_object *jwk, const char *name) {
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(jwk, name, &v)) return NULL;
    return json_object_get_string(v);
}

static void check_jwk(const char *path, int is_ed) {
    signing_key_t *k = NULL;
    assert_int_equal(key_load(path, &k), 0);
    struct json_object *jwk = NULL;
    assert_int_equal(key_public_jwk(k, &jwk), 0);
    assert_non_null(jwk);
    assert_string_equal(jwk_get(jwk, "kid"), key_kid(k));
    assert_string_equal(jwk_get(jwk, "use"), "sig");
    assert_null(jwk_get(jwk, "d")); /* never any private member */
    if (is_ed) {
        assert_int_equal(json_object_object_length(jwk), 6);
        assert_string_equal(jwk_get(jwk, "kty"), "OKP");
        assert_string_equal(jwk_get(jwk, "crv"), "Ed25519");
        assert_string_equal(jwk_get(jwk, "alg"), "EdDSA");
        assert_int_equal(strlen(jwk_get(jwk, "x")), 43); /* 32 bytes, unpadded */
    } else {
        assert_int_equal(json_object_object_length(jwk), 6);
        assert_string_equal(jwk_get(jwk, "kty"), "RSA");
        assert_string_equal(jwk_get(jwk, "alg"), "RS256");
        assert_string_equal(jwk_get(jwk, "e"), "AQAB");
        assert_int_equal(strlen(jwk_get(jwk, "n")), 342); /* 256 bytes, no leading zero */
        assert_true(jwk_get(jwk, "n")[0] != 'A');
    }
    const char *x = jwk_get(jwk, is_ed ? "x" : "n");
    assert_null(strpbrk(x, "+/="));

    buf_t sig = BUF_INIT;
    assert_int_equal(key_sign(k, msg, strlen(msg), &sig), 0);
    assert_int_equal(key_verify_jwk(jwk, msg, strlen(msg), sig.data, sig.len), 0);
    ((unsigned char *)sig.data)[0] ^= 0x80;
    assert_int_equal(key_verify_jwk(jwk, msg, strlen(msg), sig.data, sig.len), AISPM_ECRYPTO);
    ((unsigned char *)sig.data)[0] ^= 0x80;
    assert_int_equal(key_verify_jwk(jwk, "x", 1, sig.data, sig.len), AISPM_ECRYPTO);

    /* a JWK round-tripped through its JSON text still verifies */
    struct json_object *copy = json_tokener_parse(json_object_to_json_string(jwk));
    assert_non_null(copy);
    assert_int_equal(key_verify_jwk(copy, msg, strlen(msg), sig.data, sig.len), 0);
    json_object_put(copy);

    /* alg that does not match kty is refused */
    json_object_object_add(jwk, "alg", json_object_new_string(is_ed ? "RS256" : "EdDSA"));
    assert_int_equal(key_verify_jwk(jwk, msg, strlen(msg), sig.data, sig.len), AISPM_EINVAL);

    buf_free(&sig);
    json_object_put(jwk);
    key_free(k);
}

static void test_jwk_ed25519(void **state) {
    (void)state;
    check_jwk(ed_path, 1);
}

static void test_jwk_rsa(void **state) {
    (void)state;
    check_jwk(rsa_path, 0);
}

static void test_jwk_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        "{}",
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"!!!not base64!!!\"}",
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":42}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"e\":\"AQAB\"}",
    };
    uint8_t sig[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct json_object *j = json_tokener_parse(bad[i]);
        assert_non_null(j);
        assert_int_equal(key_verify_jwk(j, msg, strlen(msg), sig, sizeof sig), AISPM_EINVAL);
        json_object_put(j);
    }
    assert_int_equal(key_verify_jwk(NULL, msg, strlen(msg), sig, sizeof sig), AISPM_EINVAL);
}

static void test_public_pem(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) {
        signing_key_t *k = NULL;
        assert_int_equal(key_load(paths[i], &k), 0);
        buf_t pem = BUF_INIT;
        assert_int_equal(key_public_pem(k, &pem), 0);
        assert_true(strncmp(pem.data, "-----BEGIN PUBLIC KEY-----", 26) == 0);
        assert_non_null(strstr(pem.data, "-----END PUBLIC KEY-----"));
        assert_null(strstr(pem.data, "PRIVATE"));
        buf_free(&pem);
        key_free(k);
    }
}

static void test_password_roundtrip(void **state) {
    (void)state;
    char h[128];
    assert_int_equal(password_hash("correct horse battery staple", h, sizeof h), 0);
    assert_true(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    assert_int_equal(password_verify(h, "correct horse battery staple"), 0);
    assert_int_equal(password_verify(h, "correct horse battery stapl"), AISPM_EUNAUTH);
    assert_int_equal(password_verify(h, ""), AISPM_EUNAUTH);

    /* salted: same password, different hash */
    char h2[128];
    assert_int_equal(password_hash("correct horse battery staple", h2, sizeof h2), 0);
    assert_string_not_equal(h, h2);

    /* too small an output buffer is refused */
    char small[32];
    assert_int_equal(password_hash("pw", small, sizeof small), AISPM_EINVAL);

    /* empty password is hashable and only matches itself */
    assert_int_equal(password_hash("", h2, sizeof h2), 0);
    assert_int_equal(password_verify(h2, ""), 0);
    assert_int_equal(password_verify(h2, "x"), AISPM_EUNAUTH);
}

static void test_password_malformed(void **state) {
    (void)state;
    assert_int_equal(password_verify("garbage", "pw"), AISPM_EINVAL);
    assert_int_equal(password_verify("", "pw"), AISPM_EINVAL);
    assert_int_equal(password_verify("$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!", "pw"), AISPM_EINVAL);
    assert_int_equal(password_verify("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA", "pw"),
                     AISPM_EINVAL);
    /* an argon2i hash is not accepted by the argon2id verifier */
    assert_int_equal(password_verify("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$"
                                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                     "pw"),
                     AISPM_EINVAL);
    assert_int_equal(password_verify(NULL, "pw"), AISPM_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_modes),
        cmocka_unit_test(test_generate_refuses_overwrite),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_refuses_readable_file),
        cmocka_unit_test(test_sign_verify_ed25519),
        cmocka_unit_test(test_sign_verify_rsa),
        cmocka_unit_test(test_ed25519_signature_deterministic),
        cmocka_unit_test(test_cross_key_rejected),
        cmocka_unit_test(test_kid),
        cmocka_unit_test(test_jwk_ed25519),
        cmocka_unit_test(test_jwk_rsa),
        cmocka_unit_test(test_jwk_malformed),
        cmocka_unit_test(test_public_pem),
        cmocka_unit_test(test_password_roundtrip),
        cmocka_unit_test(test_password_malformed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
