/*
 * rrule.h: the schedule cadence language — an RFC 5545 RRULE subset — and
 * its expansion into UTC instants in an IANA time zone.
 *
 * Accepted: FREQ (DAILY, WEEKLY, MONTHLY; required), INTERVAL (1..1000),
 * BYDAY (MO..SU; with MONTHLY also an ordinal 1..5 or -1..-5, e.g. -1FR),
 * BYMONTHDAY (1..31, -31..-1; not with WEEKLY), BYMONTH (1..12), BYHOUR
 * (0..23), BYMINUTE (0..59), COUNT (1..10000) or UNTIL (YYYYMMDD, or
 * YYYYMMDDTHHMMSSZ in UTC; a date means through 23:59:59 UTC of that day),
 * at most one of the two. An "RRULE:" prefix is allowed. Everything else —
 * other FREQs, BYSETPOS, WKST, lower case, a repeated part, spaces, empty
 * list items — is refused with a message that names the part and never
 * echoes the input.
 *
 * Expansion works in local wall-clock time from DTSTART (the schedule's
 * anchor: its date gives the first period, its time the default hour and
 * minute; seconds are always 0) and converts every candidate with
 * tz_local_to_utc: a time inside a spring-forward gap moves forward by the
 * gap, an ambiguous fall-back time is its first occurrence, and two
 * candidates that land on the same instant count once. COUNT counts
 * occurrences from DTSTART on. Weeks start on Monday.
 */
#ifndef AISPM_REPORTS_RRULE_H
#define AISPM_REPORTS_RRULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/timeutil.h"

#define RRULE_TEXT_MAX 256

typedef enum { RRULE_DAILY = 1, RRULE_WEEKLY, RRULE_MONTHLY } rrule_freq_t;

typedef struct {
    rrule_freq_t freq;
    int interval;
    int nbyday;
    struct {
        int wd;  /* 0 = Monday .. 6 = Sunday */
        int ord; /* 0 = every; 1..5 / -1..-5 (MONTHLY only) */
    } byday[35];
    int nbymonthday, bymonthday[62];
    int nbymonth, bymonth[12];
    int nbyhour, byhour[24];
    int nbyminute, byminute[60];
    int count;         /* 0 = unbounded */
    bool has_until;
    int64_t until_ms;  /* UTC, inclusive */
} rrule_t;

/* 0 or AISPM_EINVAL with a message in err (never containing the input) */
int rrule_parse(const char *text, rrule_t *out, char *err, size_t errlen);

/* the rule of a preset cadence (daily, weekly, monthly, quarterly) at
 * hour:minute, written into text (RRULE_TEXT_MAX); AISPM_EINVAL for another
 * name. weekly runs on Mondays, monthly on the 1st, quarterly on the 1st of
 * January, April, July and October. */
int rrule_preset(const char *cadence, int hour, int minute, char text[RRULE_TEXT_MAX]);

/* up to max occurrences strictly after after_ms (UTC ms; INT64_MIN for all),
 * ascending, into out; *n receives how many. Stops at UNTIL, COUNT, or after
 * a bounded number of periods (so a rule that never matches ends). */
int rrule_expand(const rrule_t *r, const char *tz, const civil_t *dtstart, int64_t after_ms, int max,
                 int64_t *out, int *n);

#endif
