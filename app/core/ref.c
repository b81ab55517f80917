/*
 * ref.c: ULIDs, `kind:ULID` refs and evidence refs (see ref.h).
 *
 * Invariants:
 *  - A ULID is 128 bits: 48-bit big-endian millisecond timestamp followed by
 *    80 bits from the key-grade RNG, written as 26 Crockford base32 digits
 *    (upper case, alphabet without I L O U). The first digit carries only
 *    the top 3 bits and is therefore always '0'..'7'; a ULID whose first digit
 *    is larger would overflow 128 bits and is rejected.
 *  - Because the timestamp comes first and the alphabet is in ASCII order,
 *    strcmp order on ULIDs is creation-time order (random within one ms).
 *  - Parsers accept exactly the canonical forms produced here: no lower case,
 *    no Crockford aliases (I/L/O), no surrounding whitespace.
 */
#include "core/ref.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/timeutil.h"

#define REF_EVIDENCE_PREFIX "cavra://evidence/"
#define REF_EVIDENCE_REDACTED REF_EVIDENCE_PREFIX "redacted/"
#define REF_ULID_TIME_MAX ((INT64_C(1) << 48) - 1)

static const char ref_crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int ulid_new(char out[ULID_LEN + 1]) { return ulid_new_at(now_ms(), out); }

int ulid_new_at(int64_t ms, char out[ULID_LEN + 1]) {
    if (ms < 0 || ms > REF_ULID_TIME_MAX) return AISPM_EINVAL;
    uint8_t rnd[10];
    if (random_bytes(rnd, sizeof rnd) != AISPM_OK) return AISPM_ECRYPTO;

    /* 10 chars of timestamp: 50 bits, the top 2 always zero */
    uint64_t t = (uint64_t)ms;
    for (int i = 9; i >= 0; i--) {
        out[i] = ref_crockford[t & 31];
        t >>= 5;
    }
    /* 16 chars of randomness: 80 bits, 5 bits per char, big-endian */
    uint64_t hi = 0, lo = 0; /* 40 bits each */
    for (int i = 0; i < 5; i++) hi = (hi << 8) | rnd[i];
    for (int i = 5; i < 10; i++) lo = (lo << 8) | rnd[i];
    for (int i = 7; i >= 0; i--) {
        out[10 + i] = ref_crockford[hi & 31];
        out[18 + i] = ref_crockford[lo & 31];
        hi >>= 5;
        lo >>= 5;
    }
    out[ULID_LEN] = '\0';
    return AISPM_OK;
}

static bool ref_is_crockford(char c) {
    return c != '\0' && strchr(ref_crockford, c) != NULL;
}

/* exactly ULID_LEN crockford chars at s (not necessarily NUL-terminated after) */
static bool ref_ulid_at(const char *s) {
    if (s[0] < '0' || s[0] > '7') return false;
    for (int i = 0; i < ULID_LEN; i++)
        if (!ref_is_crockford(s[i])) return false;
    return true;
}

bool ulid_valid(const char *s) {
    return s && strnlen(s, ULID_LEN + 1) == ULID_LEN && ref_ulid_at(s);
}

/* kind: 1-31 chars of [a-z0-9_-], first a letter; n = its length */
static bool ref_kind_valid_n(const char *k, size_t n) {
    if (n == 0 || n > REF_KIND_MAX) return false;
    if (k[0] < 'a' || k[0] > 'z') return false;
    for (size_t i = 1; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int ref_new(const char *kind, char out[REF_MAX]) {
    if (!kind || !ref_kind_valid_n(kind, strnlen(kind, REF_KIND_MAX + 1))) return AISPM_EINVAL;
    char ulid[ULID_LEN + 1];
    int rc = ulid_new(ulid);
    if (rc != AISPM_OK) return rc;
    snprintf(out, REF_MAX, "%s:%s", kind, ulid);
    return AISPM_OK;
}

bool ref_parse(const char *ref, const char *expect_kind, char *kind_out, char *ulid_out) {
    if (!ref) return false;
    size_t len = strnlen(ref, REF_MAX);
    if (len >= REF_MAX) return false;
    const char *colon = memchr(ref, ':', len);
    if (!colon) return false;
    size_t klen = (size_t)(colon - ref);
    if (!ref_kind_valid_n(ref, klen)) return false;
    if (len - klen - 1 != ULID_LEN || !ref_ulid_at(colon + 1)) return false;
    if (expect_kind && (strlen(expect_kind) != klen || memcmp(expect_kind, ref, klen) != 0))
        return false;
    if (kind_out) {
        memcpy(kind_out, ref, klen);
        kind_out[klen] = '\0';
    }
    if (ulid_out) {
        memcpy(ulid_out, colon + 1, ULID_LEN);
        ulid_out[ULID_LEN] = '\0';
    }
    return true;
}

void evidence_ref_format(const char *tenant_ulid, const char *event_ulid,
                         char out[EVIDENCE_REF_MAX]) {
    snprintf(out, EVIDENCE_REF_MAX, REF_EVIDENCE_PREFIX "%s/%s", tenant_ulid ? tenant_ulid : "",
             event_ulid ? event_ulid : "");
}

bool evidence_ref_parse(const char *ref, char tenant_ulid[ULID_LEN + 1],
                        char event_ulid[ULID_LEN + 1]) {
    static const size_t plen = sizeof REF_EVIDENCE_PREFIX - 1;
    if (!ref) return false;
    if (strnlen(ref, EVIDENCE_REF_MAX) != plen + ULID_LEN + 1 + ULID_LEN) return false;
    if (memcmp(ref, REF_EVIDENCE_PREFIX, plen) != 0) return false;
    const char *t = ref + plen;
    const char *e = t + ULID_LEN + 1;
    if (!ref_ulid_at(t) || t[ULID_LEN] != '/' || !ref_ulid_at(e)) return false;
    if (tenant_ulid) {
        memcpy(tenant_ulid, t, ULID_LEN);
        tenant_ulid[ULID_LEN] = '\0';
    }
    if (event_ulid) {
        memcpy(event_ulid, e, ULID_LEN);
        event_ulid[ULID_LEN] = '\0';
    }
    return true;
}

int evidence_ref_public(const char *ref, char out[EVIDENCE_REF_MAX]) {
    char event[ULID_LEN + 1];
    if (!evidence_ref_parse(ref, NULL, event)) return AISPM_EINVAL;
    snprintf(out, EVIDENCE_REF_MAX, REF_EVIDENCE_REDACTED "%s", event);
    return AISPM_OK;
}
