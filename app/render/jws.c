/*
 * jws.c: JWS compact serialization (see jws.h).
 */
#include "render/jws.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"

static void append_b64url(buf_t *out, const void *data, size_t len) {
    char *s = xmalloc(b64url_encoded_len(len) + 1);
    b64url_encode((const uint8_t *)data, len, s);
    buf_puts(out, s);
    free(s);
}

/* header "." payload "." signature; detached leaves the payload part empty
 * (RFC 7515 Appendix F) while still signing over it */
static int jws_sign(const signing_key_t *k, const char *typ, const char *payload, size_t len, bool detached,
                    buf_t *out) {
    if (!k || !typ || (!payload && len)) return AISPM_EINVAL;
    json_object *h = json_object_new_object();
    json_object_object_add(h, "alg", json_object_new_string(key_jws_alg(k)));
    json_object_object_add(h, "kid", json_object_new_string(key_kid(k)));
    json_object_object_add(h, "typ", json_object_new_string(typ));
    json_object_object_add(h, "cty", json_object_new_string(JWS_CTY_EVIDENCE_PACKET));
    buf_t header = BUF_INIT, input = BUF_INIT, sig = BUF_INIT;
    int rc = jcs_serialize(h, &header);
    json_object_put(h);
    size_t header_end = 0;
    if (!rc) {
        append_b64url(&input, header.data, header.len);
        header_end = input.len;
        buf_putc(&input, '.');
        append_b64url(&input, payload ? payload : "", len);
        rc = key_sign(k, input.data, input.len, &sig);
        if (rc) rc = AISPM_ECRYPTO;
    }
    if (!rc && sig.len == 0) rc = AISPM_ECRYPTO;
    if (!rc) {
        buf_append(out, input.data, detached ? header_end + 1 : input.len);
        buf_putc(out, '.');
        append_b64url(out, sig.data, sig.len);
    }
    buf_free(&header);
    buf_free(&input);
    buf_free(&sig);
    return rc;
}

int jws_compact_sign(const signing_key_t *k, const char *payload, size_t len, buf_t *out) {
    return jws_sign(k, JWS_TYP_EVIDENCE_PACKET, payload, len, false, out);
}

int jws_detached_sign(const signing_key_t *k, const char *typ, const char *payload, size_t len, buf_t *out) {
    return jws_sign(k, typ, payload, len, true, out);
}
