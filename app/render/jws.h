/*
 * jws.h: RFC 7515 JWS compact serialization for signed report artifacts.
 *
 * jws_compact_sign() signs `payload` (the exact bytes, e.g. the RFC 8785
 * canonical JSON of an evidence packet) with an evidence signing key and
 * appends BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
 * to out. The protected header is
 *     {"alg":<key_jws_alg>,"cty":"json","kid":<key_kid>,"typ":"aispm-evidence-packet+jws"}
 * serialised with jcs, so the whole compact form is deterministic for a key
 * and a payload (Ed25519 signatures are deterministic). Verifiers fetch the
 * public key by kid from /.well-known/jwks.json.
 */
#ifndef AISPM_RENDER_JWS_H
#define AISPM_RENDER_JWS_H

#include <stddef.h>

#include "core/buf.h"
#include "crypto/keys.h"

#define JWS_TYP_EVIDENCE_PACKET "aispm-evidence-packet+jws"
#define JWS_CTY_EVIDENCE_PACKET "json"

/* 0, or AISPM_EINVAL (no key / payload) / AISPM_ECRYPTO (signing failed);
 * out is left unchanged on error */
int jws_compact_sign(const signing_key_t *k, const char *payload, size_t len, buf_t *out);

/* RFC 7515 Appendix F detached content: BASE64URL(header) ".." BASE64URL(sig),
 * the signature taken over BASE64URL(header) "." BASE64URL(payload) as for
 * the compact form; the header carries typ (e.g.
 * "aispm-package-manifest+jws"), cty "json", alg and kid. A verifier puts the
 * payload (the file it accompanies) back between the dots. */
int jws_detached_sign(const signing_key_t *k, const char *typ, const char *payload, size_t len, buf_t *out);

#endif
