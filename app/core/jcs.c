/*
 * jcs.c: RFC 8785 JSON Canonicalization Scheme over json-c values (see jcs.h).
 *
 * The canonical form is what evidence hashes and signatures are computed
 * over, so it must match other JCS implementations byte for byte:
 *  - no insignificant whitespace;
 *  - object members sorted by the UTF-16 code units of their (unescaped)
 *    names, compared as unsigned 16-bit integers (§3.2.3). Names are UTF-8 in
 *    json-c, so each name is converted to UTF-16 for sorting; this differs
 *    from byte order when a supplementary-plane character (surrogate pair
 *    D800..DFFF) meets a BMP character in E000..FFFF;
 *  - strings escaped per §3.2.2.2: \b \t \n \f \r \" \\ as two-character
 *    escapes, other code points below U+0020 as \u00xx (lower-case hex),
 *    everything else (including '/', U+007F and all non-ASCII) as literal
 *    UTF-8. Invalid UTF-8 is rejected, never repaired;
 *  - numbers per §3.2.2.3, i.e. ECMAScript Number.prototype.toString:
 *    the shortest decimal digit string that reads back as the same double
 *    (ties broken by closeness), laid out by ECMA-262 Number::toString.
 *    json-c integers are emitted as integers when |n| <= 2^53 (they are
 *    exactly representable, and ECMAScript prints them without exponent);
 *    larger ones are rejected, as are NaN and the infinities.
 *
 * printf and strtod agree on LC_NUMERIC and only the digits of printf's
 * output are kept, so the result does not depend on the locale.
 *
 * Invariants: on failure nothing is appended to `out` (it is truncated back
 * to its length on entry). Nesting is limited to JCS_MAX_DEPTH so that a
 * cyclic or absurdly deep json-c graph fails cleanly instead of overflowing
 * the stack. No global state.
 */
#include "core/jcs.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/text.h"

#define JCS_MAX_DEPTH 512
#define JCS_INT_LIMIT (INT64_C(1) << 53)

/* ---- numbers ---------------------------------------------------------- */

/*
 * Shortest round-trip digits of finite, non-zero |d|: digits (no leading or
 * trailing zeros, NUL-terminated, <= 17) and n such that |d| reads back from
 * 0.<digits> x 10^n. Returns the digit count k.
 */
static int jcs_shortest_digits(double d, char digits[20], int *n_out) {
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        /* nearest p-digit decimal (printf rounds correctly), "D.DDDe±X" */
        snprintf(buf, sizeof buf, "%.*e", p - 1, d);
        char *e = strchr(buf, 'e');
        int exp10 = atoi(e + 1);
        uint64_t m = 0;
        for (char *c = buf; c < e; c++)
            if (*c >= '0' && *c <= '9') m = m * 10 + (uint64_t)(*c - '0');

        bool found = strtod(buf, NULL) == d;
        if (!found) {
            /*
             * When d is a power of two its rounding interval is twice as wide
             * above as below, so the p-digit neighbour on the far side of d
             * may read back as d although the nearest one does not (e.g.
             * 2^-1017: nearest 16 digits ...044e-307 fails, ...045e-307
             * works, and V8 prints the latter). Both neighbours are tried; at
             * most one can succeed, because the neighbour on the same side as
             * the nearest is farther away than the nearest.
             */
            for (int delta = -1; delta <= 1 && !found; delta += 2) {
                uint64_t cand = m + (uint64_t)(int64_t)delta;
                if (cand == 0) continue;
                char cb[48];
                snprintf(cb, sizeof cb, "%" PRIu64 "e%d", cand, exp10 - (p - 1));
                if (strtod(cb, NULL) == d) {
                    m = cand;
                    found = true;
                }
            }
        }
        if (!found) continue;

        /* m has p digits, or p+1 when a +1 carried (e.g. 99 -> 100) */
        char tmp[24];
        int k = snprintf(tmp, sizeof tmp, "%" PRIu64, m);
        int n = exp10 - (p - 1) + k; /* d ~ m x 10^(exp10-p+1) = 0.m x 10^n */
        while (k > 1 && tmp[k - 1] == '0') tmp[--k] = '\0';
        memcpy(digits, tmp, (size_t)k + 1);
        *n_out = n;
        return k;
    }
    /* unreachable: 17 significant digits always round-trip a double */
    abort();
}

int jcs_format_number(double d, char out[32]) {
    if (!isfinite(d)) return AISPM_EINVAL;
    if (d == 0) { /* +0 and -0 */
        memcpy(out, "0", 2);
        return AISPM_OK;
    }
    char digits[20];
    int n;
    char *o = out;
    if (d < 0) {
        *o++ = '-';
        d = -d;
    }
    int k = jcs_shortest_digits(d, digits, &n);

    /* ECMA-262 Number::toString(x), radix 10: value = digits x 10^(n-k) */
    if (k <= n && n <= 21) {
        memcpy(o, digits, (size_t)k);
        o += k;
        for (int i = 0; i < n - k; i++) *o++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(o, digits, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, digits + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++) *o++ = '0';
        memcpy(o, digits, (size_t)k);
        o += k;
    } else {
        *o++ = digits[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)(k - 1));
            o += k - 1;
        }
        int e = n - 1;
        o += snprintf(o, 8, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    *o = '\0';
    return AISPM_OK;
}

/* ---- strings ---------------------------------------------------------- */

static int jcs_string(const char *s, size_t len, buf_t *out) {
    static const char hex[] = "0123456789abcdef";
    if (!utf8_valid(s, len)) return AISPM_EINVAL;
    buf_putc(out, '"');
    size_t run = 0; /* start of the pending literal run */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_append(out, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '\b': buf_puts(out, "\\b"); break;
        case '\t': buf_puts(out, "\\t"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\f': buf_puts(out, "\\f"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '"': buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        default: {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], '\0'};
            buf_puts(out, esc);
        }
        }
    }
    buf_append(out, s + run, len - run);
    buf_putc(out, '"');
    return AISPM_OK;
}

/* ---- objects ---------------------------------------------------------- */

typedef struct {
    const char *name;
    struct json_object *val;
    uint16_t *u16; /* name as UTF-16 code units */
    size_t n16;
} jcs_member_t;

/* UTF-8 (already validated) to UTF-16; returns a malloc'd array */
static uint16_t *jcs_utf16(const char *s, size_t len, size_t *n_out) {
    uint16_t *u = xmalloc((len + 1) * sizeof *u); /* UTF-16 never needs more units */
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        if (p[i] < 0x80) {
            cp = p[i];
            i += 1;
        } else if (p[i] < 0xE0) {
            cp = ((uint32_t)(p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F);
            i += 2;
        } else if (p[i] < 0xF0) {
            cp = ((uint32_t)(p[i] & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) |
                 (p[i + 2] & 0x3F);
            i += 3;
        } else {
            cp = ((uint32_t)(p[i] & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3F) << 12) |
                 ((uint32_t)(p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
            i += 4;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[n++] = (uint16_t)(0xD800 | (cp >> 10));
            u[n++] = (uint16_t)(0xDC00 | (cp & 0x3FF));
        } else {
            u[n++] = (uint16_t)cp;
        }
    }
    *n_out = n;
    return u;
}

static int jcs_member_cmp(const void *a, const void *b) {
    const jcs_member_t *x = a, *y = b;
    size_t n = x->n16 < y->n16 ? x->n16 : y->n16;
    for (size_t i = 0; i < n; i++)
        if (x->u16[i] != y->u16[i]) return x->u16[i] < y->u16[i] ? -1 : 1;
    return (x->n16 > y->n16) - (x->n16 < y->n16);
}

static int jcs_value(struct json_object *v, buf_t *out, int depth);

static int jcs_object(struct json_object *v, buf_t *out, int depth) {
    size_t count = (size_t)json_object_object_length(v);
    jcs_member_t *m = xcalloc(count ? count : 1, sizeof *m);
    size_t n = 0;
    int rc = AISPM_OK;
    json_object_object_foreach(v, key, val) {
        if (n == count) break; /* defensive; cannot happen */
        size_t klen = strlen(key);
        if (!utf8_valid(key, klen)) {
            rc = AISPM_EINVAL;
            break;
        }
        m[n].name = key;
        m[n].val = val;
        m[n].u16 = jcs_utf16(key, klen, &m[n].n16);
        n++;
    }
    if (rc == AISPM_OK) {
        qsort(m, n, sizeof *m, jcs_member_cmp);
        buf_putc(out, '{');
        for (size_t i = 0; i < n && rc == AISPM_OK; i++) {
            if (i) buf_putc(out, ',');
            rc = jcs_string(m[i].name, strlen(m[i].name), out);
            if (rc == AISPM_OK) {
                buf_putc(out, ':');
                rc = jcs_value(m[i].val, out, depth + 1);
            }
        }
        buf_putc(out, '}');
    }
    for (size_t i = 0; i < n; i++) free(m[i].u16);
    free(m);
    return rc;
}

/* ---- values ----------------------------------------------------------- */

static int jcs_value(struct json_object *v, buf_t *out, int depth) {
    if (depth > JCS_MAX_DEPTH) return AISPM_EINVAL;
    switch (json_object_get_type(v)) {
    case json_type_null:
        buf_puts(out, "null");
        return AISPM_OK;
    case json_type_boolean:
        buf_puts(out, json_object_get_boolean(v) ? "true" : "false");
        return AISPM_OK;
    case json_type_int: {
        /* json-c saturates out-of-range literals at INT64/UINT64 limits,
         * which the 2^53 bound rejects as well */
        int64_t i = json_object_get_int64(v);
        if (i > JCS_INT_LIMIT || i < -JCS_INT_LIMIT) return AISPM_EINVAL;
        buf_printf(out, "%" PRId64, i);
        return AISPM_OK;
    }
    case json_type_double: {
        char num[32];
        int rc = jcs_format_number(json_object_get_double(v), num);
        if (rc == AISPM_OK) buf_puts(out, num);
        return rc;
    }
    case json_type_string:
        return jcs_string(json_object_get_string(v), (size_t)json_object_get_string_len(v), out);
    case json_type_array: {
        size_t n = json_object_array_length(v);
        buf_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) buf_putc(out, ',');
            int rc = jcs_value(json_object_array_get_idx(v, i), out, depth + 1);
            if (rc != AISPM_OK) return rc;
        }
        buf_putc(out, ']');
        return AISPM_OK;
    }
    case json_type_object:
        return jcs_object(v, out, depth);
    }
    return AISPM_EINVAL;
}

int jcs_serialize(struct json_object *v, buf_t *out) {
    size_t start = out->len;
    int rc = jcs_value(v, out, 0);
    if (rc != AISPM_OK && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}
