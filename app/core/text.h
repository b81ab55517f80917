/*
 * text.h: input validation helpers shared by the HTTP layer and the areas.
 */
#ifndef AISPM_CORE_TEXT_H
#define AISPM_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* strict UTF-8 (no overlongs, no surrogates, max U+10FFFF) */
bool utf8_valid(const char *s, size_t len);
/* RFC 1035-ish hostname/domain: labels 1-63 of [A-Za-z0-9-], not starting or
 * ending with '-', total <= 253, at least one dot when require_dot */
bool domain_valid(const char *s, bool require_dot);
/* pragmatic addr-spec: local@domain, local 1-64 chars of atext and dots (no
 * leading/trailing/double dot), domain_valid(domain, true), total <= 254 */
bool email_valid(const char *s);
/* IANA time zone exists in the system zoneinfo database (/usr/share/zoneinfo),
 * name made of [A-Za-z0-9_+-/] with no "..": "UTC", "Europe/Berlin" */
bool timezone_valid(const char *tz);

/*
 * Secret references: settings whose names end in _REF hold a reference to a
 * secret, never the secret itself. Accepted forms:
 *   env:NAME           NAME = [A-Z_][A-Z0-9_]{0,127}
 *   file:/abs/path     absolute, printable ASCII without spaces, no "/../" or
 *                      "/./" segments, <= 512 chars
 * On failure `why` (if non-NULL) receives a short reason safe to show to the
 * user: it never echoes the rejected value.
 */
bool secretref_valid(const char *s, const char **why);

#endif
