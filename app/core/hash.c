/*
 * hash.c: digests, MACs, key-grade randomness and the text encodings used for
 * tokens and digests (see hash.h).
 *
 * Invariants:
 *  - All hashing and randomness goes through GnuTLS (gnutls_hash_fast,
 *    gnutls_hmac_fast, gnutls_rnd with GNUTLS_RND_KEY); there is no state here.
 *  - A SHA-256/HMAC failure means the crypto library itself is broken, which
 *    the void API cannot report: we abort() rather than hand back a digest
 *    that was never computed (same policy as xmalloc in buf.c).
 *  - Encoders always write a trailing NUL. Decoders are strict: hex accepts
 *    an even number of [0-9a-fA-F]; base64url accepts only the unpadded
 *    alphabet, rejects a length of 1 mod 4 and non-zero trailing bits, so
 *    every byte string has exactly one accepted encoding.
 *  - ct_equal's running time depends only on `len`.
 */
#include "core/hash.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>

#include "core/err.h"

static const char hash_hex_digits[] = "0123456789abcdef";
static const char hash_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char hash_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]) {
    if (!data) data = "";
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) < 0) abort();
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]) {
    uint8_t d[SHA256_LEN];
    sha256(data, len, d);
    hex_encode(d, sizeof d, out);
}

void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                 uint8_t out[SHA256_LEN]) {
    if (!key) key = "";
    if (!data) data = "";
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, keylen, data, len, out) < 0) abort();
}

int random_bytes(void *out, size_t len) {
    if (len == 0) return AISPM_OK;
    if (!out) return AISPM_ECRYPTO;
    return gnutls_rnd(GNUTLS_RND_KEY, out, len) == 0 ? AISPM_OK : AISPM_ECRYPTO;
}

void hex_encode(const uint8_t *in, size_t len, char *out) {
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hash_hex_digits[in[i] >> 4];
        out[2 * i + 1] = hash_hex_digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int hash_hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long hex_decode(const char *in, size_t len, uint8_t *out) {
    if (len % 2 != 0 || (len > 0 && !in)) return -1;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hash_hex_val(in[i]);
        int lo = hash_hex_val(in[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i / 2] = (uint8_t)((hi << 4) | lo);
    }
    return (long)(len / 2);
}

size_t b64url_encoded_len(size_t len) {
    static const size_t tail[3] = {0, 2, 3};
    return (len / 3) * 4 + tail[len % 3];
}

/* Shared encoder: `pad` selects standard base64 '=' padding. */
static void hash_b64_encode_with(const char *alphabet, int pad, const uint8_t *in,
                                 size_t len, char *out) {
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    size_t rest = len - i;
    if (rest == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (pad) out[o++] = '=', out[o++] = '=';
    } else if (rest == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        if (pad) out[o++] = '=';
    }
    out[o] = '\0';
}

void b64url_encode(const uint8_t *in, size_t len, char *out) {
    hash_b64_encode_with(hash_b64url_alphabet, 0, in, len, out);
}

static int hash_b64url_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

static int hash_b64_val(char c) {
    return c == '+' ? 62 : c == '/' ? 63 : (c == '-' || c == '_') ? -1 : hash_b64url_val(c);
}

/* decodes n characters of one alphabet; leftover bits (2 or 4) must be zero
 * for a canonical encoding */
static long hash_b64_decode_with(int (*val)(char), const char *in, size_t n, uint8_t *out) {
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = val(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc != 0 ? -1 : (long)o;
}

long b64url_decode(const char *in, size_t len, uint8_t *out) {
    if (len % 4 == 1 || (len > 0 && !in)) return -1;
    return hash_b64_decode_with(hash_b64url_val, in, len, out);
}

size_t b64_encoded_len(size_t len) { return ((len + 2) / 3) * 4; }

void b64_encode(const uint8_t *in, size_t len, char *out) {
    hash_b64_encode_with(hash_b64_alphabet, 1, in, len, out);
}

long b64_decode(const char *in, size_t len, uint8_t *out) {
    if (len % 4 || (len && !in)) return -1;
    size_t pad = 0;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=') pad++;
    return hash_b64_decode_with(hash_b64_val, in, len - pad, out);
}

int ct_equal(const void *a, const void *b, size_t len) {
    const volatile uint8_t *pa = a;
    const volatile uint8_t *pb = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++) diff |= (uint8_t)(pa[i] ^ pb[i]);
    /* map 0 -> 1 and 1..255 -> 0 without a data-dependent branch */
    return (int)(1 & (((unsigned)diff - 1) >> 8));
}
