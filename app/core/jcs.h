/*
 * jcs.h: RFC 8785 JSON Canonicalization Scheme over json-c values.
 *
 * Object members sorted by UTF-16 code units of their names, no whitespace,
 * strings escaped per RFC 8785 §3.2.2.2 and numbers serialised as ECMAScript
 * Number.prototype.toString (shortest round-trip double). Integers outside
 * ±2^53 are rejected (AISPM_EINVAL) since they cannot round-trip as I-JSON.
 */
#ifndef AISPM_CORE_JCS_H
#define AISPM_CORE_JCS_H

#include <json-c/json.h>

#include "core/buf.h"

/* appends the canonical form of v to out; 0 or AISPM_EINVAL (NaN/Inf, bad
 * UTF-8, out-of-range integer) */
int jcs_serialize(struct json_object *v, buf_t *out);
/* formats one double as ECMAScript would; out must hold 32 bytes */
int jcs_format_number(double d, char out[32]);

#endif
