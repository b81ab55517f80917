/* timeutil.h: wall-clock milliseconds and RFC 3339 UTC formatting/parsing. */
#ifndef AISPM_CORE_TIMEUTIL_H
#define AISPM_CORE_TIMEUTIL_H

#include <stdint.h>

#define RFC3339_MAX 40
#define DAY_MS 86400000LL /* one day in milliseconds */

int64_t now_ms(void);       /* CLOCK_REALTIME */
int64_t monotonic_ms(void); /* CLOCK_MONOTONIC */
/* "2026-12-04T16:19:10Z" (seconds precision) or with millis when with_ms */
void rfc3339_format(int64_t ms, int with_ms, char out[RFC3339_MAX]);
/* accepts Z or ±hh:mm offsets and optional fraction; 0 or AISPM_EINVAL */
int rfc3339_parse(const char *s, int64_t *ms_out);
/* MariaDB DATETIME(6) text "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) <-> ms */
void sql_datetime_format(int64_t ms, char out[RFC3339_MAX]);
int sql_datetime_parse(const char *s, int64_t *ms_out);

#endif
