/*
 * keys.c: signing keys (Ed25519, RSA) and Argon2id password hashing.
 *
 * Job: generate, store and load the private keys that sign evidence
 * checkpoints, JWS and XML-DSig; produce raw signatures and verify them with
 * either a loaded key or a public JWK (offline verifier); hash and verify user
 * passwords with Argon2id.
 *
 * Invariants:
 *   - Private key material is never logged, never stored in the database and
 *     never returned to callers: it lives only in the 0600 PKCS#8 PEM file and
 *     inside the GnuTLS objects of a signing_key_t. Every transient copy (the
 *     exported PEM, the bytes read from disk) is wiped before it is freed.
 *   - key_generate never overwrites a file (O_EXCL -> AISPM_ECONFLICT) and
 *     creates missing parent directories with mode 0700.
 *   - key_load refuses key files that are not regular files or that are
 *     readable/writable by group or others (AISPM_ECRYPTO), and refuses
 *     algorithms other than Ed25519 and RSA >= 2048 bits.
 *   - kid = first 16 lower-case hex chars of SHA-256(DER SubjectPublicKeyInfo).
 *   - Every GnuTLS object and datum is released on every path.
 *   - Errors are reported only through return codes (core/err.h); nothing in
 *     this file logs, so no key-related detail can leak into logs from here.
 */
#include "crypto/keys.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/hash.h"

#define KEY_KID_LEN 16
#define KEY_FILE_MAX (64 * 1024) /* a 4096-bit RSA PKCS#8 PEM is ~3.3 KiB */
#define KEY_RSA_MIN_BITS 2048
#define KEY_RSA_MAX_BITS 4096
#define KEY_RSA_DEFAULT_BITS 3072
#define KEY_ED25519_RAW_LEN 32

/* Argon2id production parameters (OWASP minimum). */
#define PW_T_COST 2
#define PW_M_COST 19456 /* KiB = 19 MiB */
#define PW_PARALLELISM 1
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32

struct signing_key {
    key_alg_t alg;
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
    char kid[KEY_KID_LEN + 1];
};

/* ---- helpers ------------------------------------------------------------ */

static void keys_wipe_datum(gnutls_datum_t *d) {
    if (d->data) {
        explicit_bzero(d->data, d->size);
        gnutls_free(d->data);
    }
    d->data = NULL;
    d->size = 0;
}

/* creates every missing component of path's parent directory with mode 0700 */
static int keys_make_parent_dirs(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) { /* relative file in cwd, or in "/" */
        free(dir);
        return AISPM_OK;
    }
    *slash = 0;
    struct stat st;
    if (stat(dir, &st) == 0) {
        int rc = S_ISDIR(st.st_mode) ? AISPM_OK : AISPM_EIO;
        free(dir);
        return rc;
    }
    int rc = AISPM_OK;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char saved = *p;
        *p = 0;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rc = AISPM_EIO;
            break;
        }
        *p = saved;
        if (!saved) break;
    }
    free(dir);
    return rc;
}

static int keys_write_new_file(const char *path, const void *data, size_t len, mode_t mode) {
    int rc = keys_make_parent_dirs(path);
    if (rc) return rc;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) return errno == EEXIST ? AISPM_ECONFLICT : AISPM_EIO;
    /* the umask can only narrow the mode, but make it exact regardless */
    if (fchmod(fd, mode) != 0) goto fail;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        unlink(path);
        return AISPM_EIO;
    }
    return AISPM_OK;
fail:
    close(fd);
    unlink(path);
    return AISPM_EIO;
}

/* reads a private key file; the caller wipes and frees *out */
static int keys_read_private_file(const char *path, char **out, size_t *outlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? AISPM_ENOTFOUND : AISPM_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return AISPM_EIO;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        close(fd);
        return AISPM_ECRYPTO;
    }
    if (st.st_size <= 0 || st.st_size > KEY_FILE_MAX) {
        close(fd);
        return AISPM_ECRYPTO;
    }
    size_t cap = (size_t)st.st_size;
    char *buf = xmalloc(cap + 1);
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    int io_failed = len != cap;
    close(fd);
    if (io_failed) {
        explicit_bzero(buf, cap + 1);
        free(buf);
        return AISPM_EIO;
    }
    buf[len] = 0;
    *out = buf;
    *outlen = len;
    return AISPM_OK;
}

static int keys_compute_kid(gnutls_pubkey_t pub, char kid[KEY_KID_LEN + 1]) {
    gnutls_datum_t der = {NULL, 0};
    if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der) < 0) return AISPM_ECRYPTO;
    uint8_t digest[SHA256_LEN];
    sha256(der.data, der.size, digest);
    gnutls_free(der.data);
    char hex[SHA256_HEX_LEN + 1];
    hex_encode(digest, sizeof digest, hex);
    memcpy(kid, hex, KEY_KID_LEN);
    kid[KEY_KID_LEN] = 0;
    return AISPM_OK;
}

static gnutls_sign_algorithm_t keys_sign_algo(key_alg_t alg) {
    return alg == KEY_ED25519 ? GNUTLS_SIGN_EDDSA_ED25519 : GNUTLS_SIGN_RSA_SHA256;
}

static int keys_pubkey_verify(gnutls_pubkey_t pub, key_alg_t alg, const void *data, size_t len,
                              const void *sig, size_t siglen) {
    if ((!data && len) || !sig || siglen == 0 || len > UINT32_MAX || siglen > UINT32_MAX)
        return AISPM_ECRYPTO;
    if (alg == KEY_ED25519 && siglen != 64) return AISPM_ECRYPTO;
    gnutls_datum_t d = {(unsigned char *)(data ? data : ""), (unsigned)len};
    gnutls_datum_t s = {(unsigned char *)sig, (unsigned)siglen};
    int ret = gnutls_pubkey_verify_data2(pub, keys_sign_algo(alg), 0, &d, &s);
    return ret >= 0 ? AISPM_OK : AISPM_ECRYPTO;
}

/* strips leading zero bytes (JWK integers are minimal big-endian) */
static void keys_strip_lz(const gnutls_datum_t *d, const uint8_t **p, size_t *n) {
    *p = d->data;
    *n = d->size;
    while (*n > 1 && (*p)[0] == 0) (*p)++, (*n)--;
}

static struct json_object *keys_b64url_string(const uint8_t *p, size_t n) {
    char *s = xmalloc(b64url_encoded_len(n) + 1);
    b64url_encode(p, n, s);
    struct json_object *o = json_object_new_string(s);
    free(s);
    if (!o) abort(); /* xalloc policy */
    return o;
}

/* decodes a base64url JWK member into a freshly allocated buffer */
static int keys_jwk_member(struct json_object *jwk, const char *name, uint8_t **out,
                           size_t *outlen) {
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(jwk, name, &v) || !json_object_is_type(v, json_type_string))
        return AISPM_EINVAL;
    const char *s = json_object_get_string(v);
    size_t slen = (size_t)json_object_get_string_len(v);
    if (slen == 0 || slen > 4096) return AISPM_EINVAL;
    uint8_t *buf = xmalloc((slen * 3) / 4 + 3);
    long n = b64url_decode(s, slen, buf);
    if (n <= 0) {
        free(buf);
        return AISPM_EINVAL;
    }
    *out = buf;
    *outlen = (size_t)n;
    return AISPM_OK;
}

static const char *keys_jwk_str(struct json_object *jwk, const char *name) {
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(jwk, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* ---- generation and loading -------------------------------------------- */

int key_generate(const char *path, key_alg_t alg, unsigned rsa_bits) {
    if (!path || !*path) return AISPM_EINVAL;
    gnutls_pk_algorithm_t pk;
    unsigned bits;
    if (alg == KEY_ED25519) {
        pk = GNUTLS_PK_EDDSA_ED25519;
        bits = 256;
    } else if (alg == KEY_RSA) {
        pk = GNUTLS_PK_RSA;
        bits = rsa_bits ? rsa_bits : KEY_RSA_DEFAULT_BITS;
        if (bits != 2048 && bits != 3072 && bits != 4096) return AISPM_EINVAL;
    } else {
        return AISPM_EINVAL;
    }
    /* fail early (before the expensive generation) if the file exists */
    struct stat st;
    if (lstat(path, &st) == 0) return AISPM_ECONFLICT;

    gnutls_privkey_t priv = NULL;
    gnutls_x509_privkey_t x509 = NULL;
    gnutls_datum_t pem = {NULL, 0};
    int rc = AISPM_ECRYPTO;
    if (gnutls_privkey_init(&priv) < 0) goto out;
    if (gnutls_privkey_generate2(priv, pk, bits, 0, NULL, 0) < 0) goto out;
    if (gnutls_privkey_export_x509(priv, &x509) < 0) goto out;
    if (gnutls_x509_privkey_export2_pkcs8(x509, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                          &pem) < 0)
        goto out;
    rc = keys_write_new_file(path, pem.data, pem.size, 0600);
out:
    keys_wipe_datum(&pem);
    if (x509) gnutls_x509_privkey_deinit(x509);
    if (priv) gnutls_privkey_deinit(priv);
    return rc;
}

int key_load(const char *path, signing_key_t **out) {
    if (!path || !out) return AISPM_EINVAL;
    *out = NULL;
    char *pem = NULL;
    size_t pemlen = 0;
    int rc = keys_read_private_file(path, &pem, &pemlen);
    if (rc) return rc;

    signing_key_t *k = xcalloc(1, sizeof *k);
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)pemlen};
    rc = AISPM_ECRYPTO;
    if (gnutls_privkey_init(&k->priv) < 0) {
        k->priv = NULL;
        goto out;
    }
    if (gnutls_privkey_import_x509_raw(k->priv, &d, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) goto out;
    unsigned bits = 0;
    int pk = gnutls_privkey_get_pk_algorithm(k->priv, &bits);
    if (pk == GNUTLS_PK_EDDSA_ED25519) {
        k->alg = KEY_ED25519;
    } else if (pk == GNUTLS_PK_RSA && bits >= KEY_RSA_MIN_BITS && bits <= KEY_RSA_MAX_BITS) {
        k->alg = KEY_RSA;
    } else {
        goto out;
    }
    if (gnutls_pubkey_init(&k->pub) < 0) {
        k->pub = NULL;
        goto out;
    }
    if (gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0) < 0) goto out;
    rc = keys_compute_kid(k->pub, k->kid);
out:
    explicit_bzero(pem, pemlen);
    free(pem);
    if (rc) {
        key_free(k);
        return rc;
    }
    *out = k;
    return AISPM_OK;
}

void key_free(signing_key_t *k) {
    if (!k) return;
    if (k->pub) gnutls_pubkey_deinit(k->pub);
    if (k->priv) gnutls_privkey_deinit(k->priv);
    explicit_bzero(k, sizeof *k);
    free(k);
}

key_alg_t key_alg(const signing_key_t *k) { return k->alg; }

const char *key_kid(const signing_key_t *k) { return k->kid; }

const char *key_jws_alg(const signing_key_t *k) {
    return k->alg == KEY_ED25519 ? "EdDSA" : "RS256";
}

/* ---- signing and verification ------------------------------------------- */

int key_sign(const signing_key_t *k, const void *data, size_t len, buf_t *sig_out) {
    if (!k || !sig_out || (!data && len) || len > UINT32_MAX) return AISPM_EINVAL;
    gnutls_datum_t d = {(unsigned char *)(data ? data : ""), (unsigned)len};
    gnutls_datum_t sig = {NULL, 0};
    if (gnutls_privkey_sign_data2(k->priv, keys_sign_algo(k->alg), 0, &d, &sig) < 0) {
        gnutls_free(sig.data);
        return AISPM_ECRYPTO;
    }
    buf_reset(sig_out);
    buf_append(sig_out, sig.data, sig.size);
    gnutls_free(sig.data);
    return AISPM_OK;
}

int key_verify(const signing_key_t *k, const void *data, size_t len, const void *sig,
               size_t siglen) {
    if (!k) return AISPM_ECRYPTO;
    return keys_pubkey_verify(k->pub, k->alg, data, len, sig, siglen);
}

/* ---- public key export ------------------------------------------------- */

int key_public_jwk(const signing_key_t *k, struct json_object **jwk_out) {
    if (!k || !jwk_out) return AISPM_EINVAL;
    *jwk_out = NULL;
    struct json_object *jwk = json_object_new_object();
    if (!jwk) abort();
    int rc = AISPM_ECRYPTO;
    if (k->alg == KEY_ED25519) {
        gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
        gnutls_datum_t x = {NULL, 0};
        int ret = gnutls_pubkey_export_ecc_raw2(k->pub, &curve, &x, NULL, GNUTLS_EXPORT_FLAG_NO_LZ);
        if (ret >= 0 && curve == GNUTLS_ECC_CURVE_ED25519 && x.size == KEY_ED25519_RAW_LEN) {
            json_object_object_add(jwk, "kty", json_object_new_string("OKP"));
            json_object_object_add(jwk, "crv", json_object_new_string("Ed25519"));
            json_object_object_add(jwk, "x", keys_b64url_string(x.data, x.size));
            rc = AISPM_OK;
        }
        gnutls_free(x.data);
    } else {
        gnutls_datum_t n = {NULL, 0}, e = {NULL, 0};
        int ret = gnutls_pubkey_export_rsa_raw2(k->pub, &n, &e, GNUTLS_EXPORT_FLAG_NO_LZ);
        if (ret >= 0 && n.size && e.size) {
            const uint8_t *p;
            size_t plen;
            json_object_object_add(jwk, "kty", json_object_new_string("RSA"));
            keys_strip_lz(&n, &p, &plen);
            json_object_object_add(jwk, "n", keys_b64url_string(p, plen));
            keys_strip_lz(&e, &p, &plen);
            json_object_object_add(jwk, "e", keys_b64url_string(p, plen));
            rc = AISPM_OK;
        }
        gnutls_free(n.data);
        gnutls_free(e.data);
    }
    if (rc) {
        json_object_put(jwk);
        return rc;
    }
    json_object_object_add(jwk, "kid", json_object_new_string(k->kid));
    json_object_object_add(jwk, "alg", json_object_new_string(key_jws_alg(k)));
    json_object_object_add(jwk, "use", json_object_new_string("sig"));
    *jwk_out = jwk;
    return AISPM_OK;
}

int key_public_pem(const signing_key_t *k, buf_t *pem_out) {
    if (!k || !pem_out) return AISPM_EINVAL;
    gnutls_datum_t pem = {NULL, 0};
    if (gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_PEM, &pem) < 0) {
        gnutls_free(pem.data);
        return AISPM_ECRYPTO;
    }
    buf_reset(pem_out);
    buf_append(pem_out, pem.data, pem.size);
    gnutls_free(pem.data);
    return AISPM_OK;
}

/* ---- X.509 certificates (public) -------------------------------------- */

int key_write_public_file(const char *path, const void *data, size_t len) {
    if (!path || !*path || (!data && len)) return AISPM_EINVAL;
    return keys_write_new_file(path, data, len, 0644);
}

int key_certificate(const signing_key_t *k, const char *common_name, int64_t not_before_s, unsigned days,
                    buf_t *pem_out) {
    if (!k || !common_name || !*common_name || !pem_out || days == 0 || k->alg != KEY_RSA) return AISPM_EINVAL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t pem = {NULL, 0};
    int rc = AISPM_ECRYPTO;
    if (gnutls_x509_crt_init(&crt) < 0) return AISPM_ECRYPTO;
    /* a positive serial: 0x01 followed by the 8 bytes of the kid */
    uint8_t serial[1 + KEY_KID_LEN / 2];
    serial[0] = 1;
    if (hex_decode(k->kid, KEY_KID_LEN, serial + 1) != KEY_KID_LEN / 2) goto out;
    if (gnutls_x509_crt_set_version(crt, 3) < 0) goto out;
    if (gnutls_x509_crt_set_serial(crt, serial, sizeof serial) < 0) goto out;
    if (gnutls_x509_crt_set_activation_time(crt, (time_t)not_before_s) < 0) goto out;
    if (gnutls_x509_crt_set_expiration_time(crt, (time_t)(not_before_s + (int64_t)days * 86400)) < 0) goto out;
    if (gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, common_name,
                                      (unsigned)strlen(common_name)) < 0)
        goto out;
    if (gnutls_x509_crt_set_pubkey(crt, k->pub) < 0) goto out;
    if (gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0) goto out;
    if (gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0) goto out;
    if (gnutls_x509_crt_set_subject_key_id(crt, serial + 1, KEY_KID_LEN / 2) < 0) goto out;
    if (gnutls_x509_crt_privkey_sign(crt, crt, k->priv, GNUTLS_DIG_SHA256, 0) < 0) goto out;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem) < 0) goto out;
    buf_append(pem_out, pem.data, pem.size);
    rc = AISPM_OK;
out:
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

int key_cert_der(const char *pem, size_t len, buf_t *der_out, char kid_out[KEY_KID_LEN + 1]) {
    if (!pem || !len || len > UINT32_MAX || !der_out) return AISPM_ECRYPTO;
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t in = {(unsigned char *)pem, (unsigned)len}, der = {NULL, 0};
    int rc = AISPM_ECRYPTO;
    if (gnutls_x509_crt_init(&crt) < 0) return AISPM_ECRYPTO;
    if (gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM) < 0) goto out;
    if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der) < 0) goto out;
    if (kid_out) {
        if (gnutls_pubkey_init(&pub) < 0) {
            pub = NULL;
            goto out;
        }
        if (gnutls_pubkey_import_x509(pub, crt, 0) < 0) goto out;
        if (keys_compute_kid(pub, kid_out)) goto out;
    }
    buf_reset(der_out);
    buf_append(der_out, der.data, der.size);
    rc = AISPM_OK;
out:
    gnutls_free(der.data);
    if (pub) gnutls_pubkey_deinit(pub);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

/*
 * Malformed or unsupported JWK (wrong kty/crv, alg not matching kty, bad
 * base64url, RSA modulus outside 2048..4096 bits) -> AISPM_EINVAL;
 * a well-formed key whose signature does not verify -> AISPM_ECRYPTO.
 */
int key_verify_jwk(struct json_object *jwk, const void *data, size_t len, const void *sig,
                   size_t siglen) {
    if (!jwk || !json_object_is_type(jwk, json_type_object)) return AISPM_EINVAL;
    const char *kty = keys_jwk_str(jwk, "kty");
    const char *alg = keys_jwk_str(jwk, "alg");
    const char *use = keys_jwk_str(jwk, "use");
    if (!kty) return AISPM_EINVAL;
    if (use && strcmp(use, "sig") != 0) return AISPM_EINVAL;

    gnutls_pubkey_t pub = NULL;
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    key_alg_t kalg;
    int rc = AISPM_EINVAL;
    if (strcmp(kty, "OKP") == 0) {
        const char *crv = keys_jwk_str(jwk, "crv");
        if (!crv || strcmp(crv, "Ed25519") != 0) goto out;
        if (alg && strcmp(alg, "EdDSA") != 0) goto out;
        if (keys_jwk_member(jwk, "x", &a, &alen) || alen != KEY_ED25519_RAW_LEN) goto out;
        kalg = KEY_ED25519;
        if (gnutls_pubkey_init(&pub) < 0) {
            pub = NULL;
            rc = AISPM_ECRYPTO;
            goto out;
        }
        gnutls_datum_t x = {a, (unsigned)alen};
        if (gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_ED25519, &x, NULL) < 0) goto out;
    } else if (strcmp(kty, "RSA") == 0) {
        if (alg && strcmp(alg, "RS256") != 0) goto out;
        if (keys_jwk_member(jwk, "n", &a, &alen) || keys_jwk_member(jwk, "e", &b, &blen)) goto out;
        if (a[0] == 0 || alen * 8 < KEY_RSA_MIN_BITS || alen * 8 > KEY_RSA_MAX_BITS || blen > 8)
            goto out;
        kalg = KEY_RSA;
        if (gnutls_pubkey_init(&pub) < 0) {
            pub = NULL;
            rc = AISPM_ECRYPTO;
            goto out;
        }
        gnutls_datum_t n = {a, (unsigned)alen}, e = {b, (unsigned)blen};
        if (gnutls_pubkey_import_rsa_raw(pub, &n, &e) < 0) goto out;
    } else {
        goto out;
    }
    rc = keys_pubkey_verify(pub, kalg, data, len, sig, siglen);
out:
    if (pub) gnutls_pubkey_deinit(pub);
    free(a);
    free(b);
    return rc;
}

/* ---- passwords ---------------------------------------------------------- */

int password_hash(const char *password, char *out, size_t outlen) {
    if (!password || !out) return AISPM_EINVAL;
    size_t need = argon2_encodedlen(PW_T_COST, PW_M_COST, PW_PARALLELISM, PW_SALT_LEN, PW_HASH_LEN,
                                    Argon2_id);
    if (outlen < need) return AISPM_EINVAL;
    size_t pwlen = strlen(password);
    if (pwlen > UINT32_MAX) return AISPM_EINVAL;
    uint8_t salt[PW_SALT_LEN];
    if (random_bytes(salt, sizeof salt) != 0) return AISPM_ECRYPTO;
    /* the password is passed by pointer, never copied here */
    int ret = argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_PARALLELISM, password, pwlen, salt,
                                    sizeof salt, PW_HASH_LEN, out, outlen);
    if (ret != ARGON2_OK) {
        explicit_bzero(out, outlen);
        return ret == ARGON2_MEMORY_ALLOCATION_ERROR ? AISPM_ERR : AISPM_ECRYPTO;
    }
    return AISPM_OK;
}

int password_verify(const char *encoded, const char *password) {
    if (!encoded || !password) return AISPM_EINVAL;
    if (strncmp(encoded, "$argon2id$", 10) != 0) return AISPM_EINVAL;
    size_t pwlen = strlen(password);
    if (pwlen > UINT32_MAX) return AISPM_EINVAL;
    int ret = argon2id_verify(encoded, password, pwlen);
    switch (ret) {
    case ARGON2_OK: return AISPM_OK;
    case ARGON2_VERIFY_MISMATCH: return AISPM_EUNAUTH;
    case ARGON2_MEMORY_ALLOCATION_ERROR:
    case ARGON2_THREAD_FAIL: return AISPM_ERR;
    default: return AISPM_EINVAL; /* undecodable or out-of-range parameters */
    }
}
