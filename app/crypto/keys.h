/*
 * keys.h: signing keys for evidence checkpoints and (later) JWS/XML-DSig.
 *
 * Keys live in PEM files referenced by configuration (mode 0600, created by
 * `aispm admin keygen`); they never enter the database or the logs. A key's
 * `kid` is the first 16 hex chars of SHA-256 over its DER SubjectPublicKeyInfo,
 * so old keys stay addressable after rotation.
 *
 * Supported algorithms: Ed25519 (JWS "EdDSA") for evidence checkpoints and JWS;
 * RSA-2048/3072 (JWS "RS256", XML-DSig RSA-SHA256) for XML signatures.
 */
#ifndef AISPM_CRYPTO_KEYS_H
#define AISPM_CRYPTO_KEYS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum { KEY_ED25519 = 1, KEY_RSA = 2 } key_alg_t;

typedef struct signing_key signing_key_t;

/* writes a new private key (PKCS#8 PEM) to path with mode 0600; refuses to
 * overwrite an existing file (AISPM_ECONFLICT) */
int key_generate(const char *path, key_alg_t alg, unsigned rsa_bits);
int key_load(const char *path, signing_key_t **out);
void key_free(signing_key_t *k);
key_alg_t key_alg(const signing_key_t *k);
const char *key_kid(const signing_key_t *k);     /* 16 hex chars */
const char *key_jws_alg(const signing_key_t *k); /* "EdDSA" or "RS256" */
/* raw signature over data (Ed25519: 64 bytes; RSA: PKCS#1 v1.5 SHA-256) */
int key_sign(const signing_key_t *k, const void *data, size_t len, buf_t *sig_out);
/* verifies with the key's public half: 0 valid, AISPM_ECRYPTO invalid */
int key_verify(const signing_key_t *k, const void *data, size_t len, const void *sig, size_t siglen);
/* public key as a JWK object (OKP/Ed25519 or RSA) with kid, alg, use="sig" */
int key_public_jwk(const signing_key_t *k, struct json_object **jwk_out);
/* public key as PEM SubjectPublicKeyInfo */
int key_public_pem(const signing_key_t *k, buf_t *pem_out);
/* a self-signed X.509 v3 certificate of the key (RSA only: XML-DSig
 * KeyInfo), subject and issuer CN=common_name, serial derived from the kid,
 * digitalSignature key usage, valid from not_before for days; PEM appended to
 * pem_out. 0, AISPM_EINVAL, AISPM_ECRYPTO. */
int key_certificate(const signing_key_t *k, const char *common_name, int64_t not_before_s, unsigned days,
                    buf_t *pem_out);
/* the DER bytes of a PEM certificate and the kid of its public key (the same
 * kid key_kid gives the private key), so a certificate is matched to its key.
 * 0 or AISPM_ECRYPTO (not a certificate). */
int key_cert_der(const char *pem, size_t len, buf_t *der_out, char kid_out[17]);
/* writes a public file (a certificate) with mode 0644; never overwrites
 * (AISPM_ECONFLICT) */
int key_write_public_file(const char *path, const void *data, size_t len);
/* verifies a signature with a public JWK (used by the offline verifier) */
int key_verify_jwk(struct json_object *jwk, const void *data, size_t len, const void *sig, size_t siglen);

/* Argon2id password hashing (libargon2), PHC string format. Parameters:
 * t=2, m=19 MiB, p=1 (OWASP minimum) unless overridden for tests. */
int password_hash(const char *password, char *out, size_t outlen);
/* 0 match, AISPM_EUNAUTH mismatch, AISPM_EINVAL malformed hash */
int password_verify(const char *encoded, const char *password);

#endif
