/*
 * hash.h: SHA-256, HMAC-SHA256, secure random bytes and the text encodings
 * used for tokens and digests (lower-case hex, base64url without padding).
 * Backed by GnuTLS; no state.
 */
#ifndef AISPM_CORE_HASH_H
#define AISPM_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
/* out receives 64 hex chars + NUL */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                 uint8_t out[SHA256_LEN]);
/* 0 or AISPM_ECRYPTO; uses the GnuTLS key-grade RNG */
int random_bytes(void *out, size_t len);

void hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* returns decoded length or -1 on bad input; out must hold len/2 bytes */
long hex_decode(const char *in, size_t len, uint8_t *out);
/* base64url, no padding. out must hold b64url_encoded_len(len)+1 bytes */
size_t b64url_encoded_len(size_t len);
void b64url_encode(const uint8_t *in, size_t len, char *out);
/* returns decoded length or -1; out must hold (len*3)/4+3 bytes */
long b64url_decode(const char *in, size_t len, uint8_t *out);
/* standard base64 with padding (for PEM / XML-DSig); same buffer rules */
size_t b64_encoded_len(size_t len);
void b64_encode(const uint8_t *in, size_t len, char *out);
/* strict standard base64 (length a multiple of 4, '=' padding only at the
 * end, canonical trailing bits); out holds len/4*3 bytes; -1 when invalid */
long b64_decode(const char *in, size_t len, uint8_t *out);

/* constant-time comparison of two equal-length buffers: 1 equal, 0 not */
int ct_equal(const void *a, const void *b, size_t len);

#endif
