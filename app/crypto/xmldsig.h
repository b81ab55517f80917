/*
 * xmldsig.h: enveloped XML signatures (W3C XML-DSig 1.0 / 1.1) over a whole
 * document, written with libxml2 (exclusive canonicalisation) and GnuTLS
 * (RSA-SHA256 PKCS#1 v1.5 through crypto/keys.h).
 *
 * The signature is the profile every XML-DSig verifier implements and that
 * Debian's `xmlsec1 --verify` checks:
 *   <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
 *     <ds:SignedInfo> exc-c14n, rsa-sha256,
 *       <ds:Reference URI=""> enveloped-signature + exc-c14n, sha256 </ds:Reference>
 *     </ds:SignedInfo>
 *     <ds:SignatureValue/>
 *     <ds:KeyInfo><ds:KeyName>kid</ds:KeyName>
 *       <ds:X509Data><ds:X509Certificate>…</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
 *   </ds:Signature>
 * appended as the last child of the root element.
 *
 * Invariant: the tree passed in must be exactly what a verifier will parse
 * back (parse the document from its serialised text first, and serialise the
 * result without reformatting), since the digest is computed over the tree.
 */
#ifndef AISPM_CRYPTO_XMLDSIG_H
#define AISPM_CRYPTO_XMLDSIG_H

#include <libxml/tree.h>
#include <stddef.h>

#include "core/buf.h"
#include "crypto/keys.h"

#define XMLDSIG_NS "http://www.w3.org/2000/09/xmldsig#"

/* 0, AISPM_EINVAL (no root, not an RSA key), AISPM_ECRYPTO (c14n or signing
 * failed). cert_der may be NULL (then KeyInfo holds only the KeyName). */
int xmldsig_sign_enveloped(xmlDocPtr doc, const signing_key_t *k, const void *cert_der, size_t cert_len);

/* parses xml (no network, no entities), signs it and appends the serialised
 * signed document to out */
int xmldsig_sign_text(const char *xml, size_t len, const signing_key_t *k, const void *cert_der, size_t cert_len,
                      buf_t *out);

#endif
