/*
 * totp.c: RFC 6238 TOTP (see totp.h). HMAC-SHA-1 from GnuTLS.
 */
#include "crypto/totp.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint32_t totp_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits) {
    uint8_t msg[8], mac[20];
    for (int i = 7; i >= 0; i--, counter >>= 8) msg[i] = (uint8_t)(counter & 0xff);
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA1, key, keylen, msg, sizeof msg, mac)) return UINT32_MAX;
    int off = mac[19] & 0x0f; /* dynamic truncation, RFC 4226 5.3 */
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
    uint32_t mod = 1;
    for (int i = 0; i < digits; i++) mod *= 10;
    return bin % mod;
}

int64_t totp_step(int64_t unix_s) { return unix_s / TOTP_STEP_S; }

void totp_b32_encode(const uint8_t *in, size_t len, char *out, size_t outlen) {
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5 && o + 1 < outlen) {
            out[o++] = B32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0 && o + 1 < outlen) out[o++] = B32[(acc << (5 - bits)) & 31];
    out[o] = 0;
}

long totp_b32_decode(const char *in, uint8_t *out, size_t outlen) {
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(B32, *in >= 'a' && *in <= 'z' ? *in - 32 : *in);
        if (!p || !*in) return -1;
        acc = (acc << 5) | (uint32_t)(p - B32);
        bits += 5;
        if (bits >= 8) {
            if (o >= outlen) return -1;
            out[o++] = (uint8_t)((acc >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return (long)o;
}

int totp_new_secret(char out[TOTP_B32_MAX]) {
    uint8_t raw[TOTP_SECRET_LEN];
    if (random_bytes(raw, sizeof raw)) return AISPM_ECRYPTO;
    totp_b32_encode(raw, sizeof raw, out, TOTP_B32_MAX);
    memset(raw, 0, sizeof raw);
    return 0;
}

bool totp_check(const char *secret_b32, const char *code, int64_t unix_s, int64_t last_step, int64_t *matched) {
    if (!code || strlen(code) != 6 || strspn(code, "0123456789") != 6) return false;
    uint8_t key[64];
    long kl = totp_b32_decode(secret_b32, key, sizeof key);
    if (kl <= 0) return false;
    unsigned want = (unsigned)strtoul(code, NULL, 10);
    int64_t now = totp_step(unix_s);
    bool ok = false;
    for (int64_t s = now - 1; s <= now + 1; s++) {
        if (s <= last_step) continue;
        /* every candidate is computed, so timing does not tell which matched */
        if (totp_hotp(key, (size_t)kl, (uint64_t)s, 6) == want && !ok) {
            ok = true;
            *matched = s;
        }
    }
    memset(key, 0, sizeof key);
    return ok;
}

void totp_uri(const char *issuer, const char *label, const char *secret_b32, char *out, size_t outlen) {
    snprintf(out, outlen, "otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=%d", issuer,
             label, secret_b32, issuer, TOTP_STEP_S);
}
