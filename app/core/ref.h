/*
 * ref.h: opaque public identifiers.
 *
 * A ref is `kind:ULID` (e.g. `approval:01JF3Q8YH6W9V1X2Z3A4B5C6D7`): kind is
 * 1-31 chars of [a-z0-9_-] starting with a letter; the ULID is 26 chars of
 * Crockford base32 (upper case, no I L O U), 48-bit ms timestamp + 80 random
 * bits, so refs sort by creation time and reveal nothing else.
 * Evidence refs are `cavra://evidence/<tenant-ulid>/<event-ulid>`; public
 * projections show them as `cavra://evidence/redacted/<event-ulid>`.
 */
#ifndef AISPM_CORE_REF_H
#define AISPM_CORE_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ULID_LEN 26
#define REF_KIND_MAX 31
#define REF_MAX (REF_KIND_MAX + 1 + ULID_LEN + 1) /* incl. NUL */
#define EVIDENCE_REF_MAX 96

/* new ULID for time now (ms since epoch); out gets 26 chars + NUL */
int ulid_new(char out[ULID_LEN + 1]);
int ulid_new_at(int64_t ms, char out[ULID_LEN + 1]);
bool ulid_valid(const char *s);
/* out = "kind:ULID"; AISPM_EINVAL for a bad kind */
int ref_new(const char *kind, char out[REF_MAX]);
/* validates `kind:ULID`; when expect_kind is non-NULL the kind must equal it.
 * kind_out (REF_KIND_MAX+1) and ulid_out (ULID_LEN+1) may be NULL. */
bool ref_parse(const char *ref, const char *expect_kind, char *kind_out, char *ulid_out);
/* "cavra://evidence/<tenant_ulid>/<event_ulid>" */
void evidence_ref_format(const char *tenant_ulid, const char *event_ulid, char out[EVIDENCE_REF_MAX]);
/* "cavra://evidence/redacted/<event_ulid>" from a full evidence ref; returns
 * AISPM_EINVAL if `ref` is not an evidence ref. */
int evidence_ref_public(const char *ref, char out[EVIDENCE_REF_MAX]);
bool evidence_ref_parse(const char *ref, char tenant_ulid[ULID_LEN + 1], char event_ulid[ULID_LEN + 1]);

#endif
