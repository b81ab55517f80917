/*
 * xmldsig.c: enveloped XML-DSig signatures (see xmldsig.h).
 *
 * The Reference digest is taken before the Signature element exists: the
 * exclusive canonical form of the whole document then equals what a verifier
 * computes after the enveloped-signature transform removed the Signature
 * (the Signature is appended with no surrounding whitespace). SignedInfo is
 * canonicalised in place with a visibility callback restricted to its
 * subtree — the node-set libxml2's exclusive c14n (which xmlsec itself uses)
 * renders with the namespace declarations SignedInfo visibly uses.
 */
#include "crypto/xmldsig.h"

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/xmlsave.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"

#define ALG_EXC_C14N "http://www.w3.org/2001/10/xml-exc-c14n#"
#define ALG_RSA_SHA256 "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define ALG_ENVELOPED XMLDSIG_NS "enveloped-signature"
#define ALG_SHA256 "http://www.w3.org/2001/04/xmlenc#sha256"

static char *xmldsig_b64(const void *data, size_t len) {
    char *s = xmalloc(b64_encoded_len(len) + 1);
    b64_encode((const uint8_t *)data, len, s);
    return s;
}

/* c14n visibility: nodes inside the subtree rooted at user_data */
static int xmldsig_in_subtree(void *user_data, xmlNodePtr node, xmlNodePtr parent) {
    xmlNodePtr top = user_data, n = node;
    if (!node) return 0;
    if (node->type == XML_NAMESPACE_DECL || node->type == XML_ATTRIBUTE_NODE) n = parent;
    for (; n; n = n->parent)
        if (n == top) return 1;
    return 0;
}

/* exclusive c14n without comments of the doc (subtree == NULL) or of one
 * element's subtree */
static int xmldsig_c14n(xmlDocPtr doc, xmlNodePtr subtree, buf_t *out) {
    xmlBufferPtr b = xmlBufferCreate();
    if (!b) abort();
    xmlOutputBufferPtr ob = xmlOutputBufferCreateBuffer(b, NULL);
    if (!ob) abort();
    int n = xmlC14NExecute(doc, subtree ? xmldsig_in_subtree : NULL, subtree, XML_C14N_EXCLUSIVE_1_0, NULL, 0, ob);
    int closed = xmlOutputBufferClose(ob);
    int rc = (n < 0 || closed < 0) ? AISPM_ECRYPTO : 0;
    if (!rc) buf_append(out, xmlBufferContent(b), (size_t)xmlBufferLength(b));
    xmlBufferFree(b);
    return rc;
}

static xmlNodePtr xmldsig_child(xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *alg) {
    xmlNodePtr n = xmlNewChild(parent, ns, BAD_CAST name, NULL);
    if (!n) abort();
    if (alg) xmlNewProp(n, BAD_CAST "Algorithm", BAD_CAST alg);
    return n;
}

int xmldsig_sign_enveloped(xmlDocPtr doc, const signing_key_t *k, const void *cert_der, size_t cert_len) {
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || !k || key_alg(k) != KEY_RSA) return AISPM_EINVAL;
    buf_t canon = BUF_INIT, sig = BUF_INIT;
    int rc = xmldsig_c14n(doc, NULL, &canon);
    if (rc) {
        buf_free(&canon);
        return rc;
    }
    uint8_t digest[SHA256_LEN];
    sha256(canon.data ? canon.data : "", canon.len, digest);
    char *digest64 = xmldsig_b64(digest, sizeof digest);

    xmlNodePtr s = xmlNewChild(root, NULL, BAD_CAST "Signature", NULL);
    if (!s) abort();
    xmlNsPtr ns = xmlNewNs(s, BAD_CAST XMLDSIG_NS, BAD_CAST "ds");
    xmlSetNs(s, ns);
    xmlNodePtr si = xmldsig_child(s, ns, "SignedInfo", NULL);
    xmldsig_child(si, ns, "CanonicalizationMethod", ALG_EXC_C14N);
    xmldsig_child(si, ns, "SignatureMethod", ALG_RSA_SHA256);
    xmlNodePtr ref = xmldsig_child(si, ns, "Reference", NULL);
    xmlNewProp(ref, BAD_CAST "URI", BAD_CAST "");
    xmlNodePtr tr = xmldsig_child(ref, ns, "Transforms", NULL);
    xmldsig_child(tr, ns, "Transform", ALG_ENVELOPED);
    xmldsig_child(tr, ns, "Transform", ALG_EXC_C14N);
    xmldsig_child(ref, ns, "DigestMethod", ALG_SHA256);
    xmlNewTextChild(ref, ns, BAD_CAST "DigestValue", BAD_CAST digest64);
    free(digest64);
    xmlNodePtr sv = xmldsig_child(s, ns, "SignatureValue", NULL);
    xmlNodePtr ki = xmldsig_child(s, ns, "KeyInfo", NULL);
    xmlNewTextChild(ki, ns, BAD_CAST "KeyName", BAD_CAST key_kid(k));
    if (cert_der && cert_len) {
        xmlNodePtr xd = xmldsig_child(ki, ns, "X509Data", NULL);
        char *c64 = xmldsig_b64(cert_der, cert_len);
        xmlNewTextChild(xd, ns, BAD_CAST "X509Certificate", BAD_CAST c64);
        free(c64);
    }

    buf_reset(&canon);
    rc = xmldsig_c14n(doc, si, &canon);
    if (!rc) rc = key_sign(k, canon.data ? canon.data : "", canon.len, &sig) ? AISPM_ECRYPTO : 0;
    if (!rc) {
        char *v64 = xmldsig_b64(sig.data, sig.len);
        xmlNodeSetContent(sv, BAD_CAST v64);
        free(v64);
    } else {
        xmlUnlinkNode(s);
        xmlFreeNode(s);
    }
    buf_free(&canon);
    buf_free(&sig);
    return rc;
}

int xmldsig_sign_text(const char *xml, size_t len, const signing_key_t *k, const void *cert_der, size_t cert_len,
                      buf_t *out) {
    if (!xml || len > INT32_MAX) return AISPM_EINVAL;
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, "manifest.xml", "UTF-8", XML_PARSE_NONET);
    if (!doc) return AISPM_EINVAL;
    int rc = xmldsig_sign_enveloped(doc, k, cert_der, cert_len);
    if (!rc) {
        xmlChar *mem = NULL;
        int n = 0;
        xmlDocDumpMemoryEnc(doc, &mem, &n, "UTF-8");
        if (mem && n > 0)
            buf_append(out, mem, (size_t)n);
        else
            rc = AISPM_ECRYPTO;
        xmlFree(mem);
    }
    xmlFreeDoc(doc);
    return rc;
}
