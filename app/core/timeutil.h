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

/*
 * Civil (wall-clock) time in an IANA time zone, via the system tzdata
 * (/usr/share/zoneinfo). The process runs with TZ=UTC; these functions switch
 * TZ for the duration of one call and restore it (processes are
 * single-threaded).
 */
typedef struct {
    int year, mon, day;  /* mon 1..12, day 1..31 */
    int hour, min, sec;
} civil_t;

/* local wall clock -> UTC ms. A nonexistent time (spring-forward gap) is
 * read with the offset in force before the gap, i.e. shifted forward by the
 * gap's length (02:30 -> 03:30 in a one-hour gap, as RFC 5545 3.3.5 says); an
 * ambiguous time (fall-back) is its first occurrence. *kind_out (may be NULL)
 * receives 0 normal, 1 shifted out of a gap, 2 ambiguous (first taken).
 * AISPM_EINVAL for an unknown zone or fields out of range. */
int tz_local_to_utc(const char *tz, const civil_t *local, int64_t *utc_ms, int *kind_out);
/* UTC ms -> local wall clock and its UTC offset in seconds */
int tz_utc_to_local(const char *tz, int64_t utc_ms, civil_t *local, int *offset_s);
/* "2026-03-08T03:30:00-04:00" (RFC 3339 with the zone's offset) */
int tz_format_local(const char *tz, int64_t utc_ms, char out[RFC3339_MAX]);
/* days since 1970-01-01 of a civil date and back; weekday 0 = Monday */
int64_t civil_days(int year, int mon, int day);
void civil_from_days(int64_t days, int *year, int *mon, int *day);
int civil_weekday(int64_t days);
int civil_month_days(int year, int mon);

#endif
