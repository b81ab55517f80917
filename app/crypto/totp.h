/*
 * totp.h: time-based one-time passwords (RFC 6238 over RFC 4226 HOTP):
 * HMAC-SHA-1, 30-second steps from the Unix epoch, 6 digits — what every
 * authenticator app uses by default. Secrets are 20 random bytes (GnuTLS
 * key-grade RNG), shown to the user once as RFC 4648 base32 and in an
 * otpauth:// URI.
 */
#ifndef AISPM_CRYPTO_TOTP_H
#define AISPM_CRYPTO_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRET_LEN 20
#define TOTP_B32_MAX 64
#define TOTP_STEP_S 30

/* HOTP value for the counter, reduced to `digits` decimal digits (6..8) */
uint32_t totp_hotp(const uint8_t *key, size_t keylen, uint64_t counter, int digits);
/* the time step of a Unix time in seconds */
int64_t totp_step(int64_t unix_s);
/* RFC 4648 base32 without padding; out holds TOTP_B32_MAX */
void totp_b32_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
/* decoded length, or -1 (bad character / too long) */
long totp_b32_decode(const char *in, uint8_t *out, size_t outlen);
/* new random secret, base32 encoded: 0 or AISPM_ECRYPTO */
int totp_new_secret(char out[TOTP_B32_MAX]);
/* checks a 6-digit code against the steps now-1 .. now+1 whose number is
 * greater than last_step (a code is accepted once); on success *matched
 * receives the step. */
bool totp_check(const char *secret_b32, const char *code, int64_t unix_s, int64_t last_step, int64_t *matched);
/* otpauth://totp/ISSUER:LABEL?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30 */
void totp_uri(const char *issuer, const char *label, const char *secret_b32, char *out, size_t outlen);

#endif
