/*
 * timeutil.c: wall-clock / monotonic milliseconds and the two timestamp text
 * forms the application speaks (see timeutil.h):
 *   - RFC 3339 in UTC for APIs and documents ("2026-12-04T16:19:10Z"),
 *   - MariaDB DATETIME(6) text for the database ("2026-12-04 16:19:10.123000").
 *
 * Invariants:
 *  - All instants are int64 milliseconds since the Unix epoch, UTC. Negative
 *    values are handled with floor division so sub-second parts stay in
 *    [0, 999]. Formatting clamps to years 0000..9999 (the only years the
 *    two text forms can express), so output is always a well-formed
 *    timestamp.
 *  - Conversion uses timegm/gmtime_r only; the process TZ never matters —
 *    except in the tz_* functions, which set TZ to the named zone for one
 *    call (validated with timezone_valid first, because glibc silently falls
 *    back to UTC for an unknown zone) and restore the previous value before
 *    returning. Job and HTTP workers are single-threaded, so nothing else can
 *    observe the switch.
 *  - Parsers are strict and whole-string: fixed-width fields, range-checked
 *    calendar values (including leap years), nothing trailing. Fractions are
 *    truncated to milliseconds. A leap second (":60") is accepted as RFC 3339
 *    allows and, as in POSIX time, lands on the following second.
 */
#include "core/timeutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/text.h"

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 / DATETIME years are 0000..9999; formatting clamps to that span */
#define TIMEUTIL_MS_MIN INT64_C(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define TIMEUTIL_MS_MAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

typedef struct {
    unsigned year, mon, day, hour, min, sec, milli;
} timeutil_fields_t;

/* breaks ms (clamped to years 0000..9999) into calendar fields, UTC */
static void timeutil_fields(int64_t ms, timeutil_fields_t *f) {
    if (ms < TIMEUTIL_MS_MIN) ms = TIMEUTIL_MS_MIN;
    if (ms > TIMEUTIL_MS_MAX) ms = TIMEUTIL_MS_MAX;
    int64_t s = ms / 1000, r = ms % 1000;
    if (r < 0) r += 1000, s -= 1; /* floor division */
    time_t sec = (time_t)s;
    struct tm tm = {0};
    gmtime_r(&sec, &tm); /* cannot fail inside the clamped range */
    /* the modulo keeps the compiler's field-width analysis honest */
    f->year = (unsigned)(tm.tm_year + 1900) % 10000u;
    f->mon = (unsigned)(tm.tm_mon + 1) % 100u;
    f->day = (unsigned)tm.tm_mday % 100u;
    f->hour = (unsigned)tm.tm_hour % 100u;
    f->min = (unsigned)tm.tm_min % 100u;
    f->sec = (unsigned)tm.tm_sec % 100u;
    f->milli = (unsigned)r % 1000u;
}

void rfc3339_format(int64_t ms, int with_ms, char out[RFC3339_MAX]) {
    timeutil_fields_t f;
    timeutil_fields(ms, &f);
    if (with_ms)
        snprintf(out, RFC3339_MAX, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", f.year, f.mon, f.day,
                 f.hour, f.min, f.sec, f.milli);
    else
        snprintf(out, RFC3339_MAX, "%04u-%02u-%02uT%02u:%02u:%02uZ", f.year, f.mon, f.day, f.hour,
                 f.min, f.sec);
}

void sql_datetime_format(int64_t ms, char out[RFC3339_MAX]) {
    timeutil_fields_t f;
    timeutil_fields(ms, &f);
    snprintf(out, RFC3339_MAX, "%04u-%02u-%02u %02u:%02u:%02u.%03u000", f.year, f.mon, f.day,
             f.hour, f.min, f.sec, f.milli);
}

/* reads exactly n ASCII digits; false if any is not a digit */
static bool timeutil_digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool timeutil_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int timeutil_mdays(int y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && timeutil_leap(y)) ? 29 : days[m - 1];
}

/*
 * Parses "YYYY-MM-DD<sep>HH:MM:SS" at s (sep given), range-checks it and
 * stores seconds since the epoch of that wall time read as UTC. Returns the
 * number of characters consumed (19) or 0.
 */
static size_t timeutil_parse_datetime(const char *s, const char *seps, time_t *sec) {
    int y, mo, d, h, mi, se;
    if (strnlen(s, 19) < 19) return 0;
    if (!timeutil_digits(s, 4, &y) || s[4] != '-' || !timeutil_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !timeutil_digits(s + 8, 2, &d) || !strchr(seps, s[10]) || s[10] == '\0' ||
        !timeutil_digits(s + 11, 2, &h) || s[13] != ':' || !timeutil_digits(s + 14, 2, &mi) ||
        s[16] != ':' || !timeutil_digits(s + 17, 2, &se))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > timeutil_mdays(y, mo)) return 0;
    if (h > 23 || mi > 59 || se > 60) return 0;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *sec = timegm(&tm);
    return 19;
}

/* optional ".d+" fraction: at most max_digits digits (0 = unlimited); adds ms */
static size_t timeutil_parse_fraction(const char *s, int max_digits, int *milli) {
    *milli = 0;
    if (s[0] != '.') return 0;
    size_t n = 0;
    int ms = 0;
    while (s[1 + n] >= '0' && s[1 + n] <= '9') {
        if (n < 3) ms = ms * 10 + (s[1 + n] - '0');
        n++;
    }
    if (n == 0 || (max_digits > 0 && n > (size_t)max_digits)) return (size_t)-1;
    for (size_t k = n; k < 3; k++) ms *= 10;
    *milli = ms;
    return 1 + n;
}

int rfc3339_parse(const char *s, int64_t *ms_out) {
    time_t sec;
    int milli;
    if (!s || !ms_out) return AISPM_EINVAL;
    size_t p = timeutil_parse_datetime(s, "Tt", &sec);
    if (p == 0) return AISPM_EINVAL;
    size_t f = timeutil_parse_fraction(s + p, 0, &milli);
    if (f == (size_t)-1) return AISPM_EINVAL;
    p += f;
    int64_t offset_s = 0;
    if (s[p] == 'Z' || s[p] == 'z') {
        p++;
    } else if (s[p] == '+' || s[p] == '-') {
        int oh, om;
        if (!timeutil_digits(s + p + 1, 2, &oh) || s[p + 3] != ':' ||
            !timeutil_digits(s + p + 4, 2, &om) || oh > 23 || om > 59)
            return AISPM_EINVAL;
        offset_s = (int64_t)oh * 3600 + om * 60;
        if (s[p] == '-') offset_s = -offset_s;
        p += 6;
    } else {
        return AISPM_EINVAL;
    }
    if (s[p] != '\0') return AISPM_EINVAL;
    /* local time = UTC + offset, so UTC = local - offset */
    *ms_out = ((int64_t)sec - offset_s) * 1000 + milli;
    return AISPM_OK;
}

int sql_datetime_parse(const char *s, int64_t *ms_out) {
    time_t sec;
    int milli;
    if (!s || !ms_out) return AISPM_EINVAL;
    size_t p = timeutil_parse_datetime(s, " ", &sec);
    if (p == 0) return AISPM_EINVAL;
    size_t f = timeutil_parse_fraction(s + p, 6, &milli);
    if (f == (size_t)-1) return AISPM_EINVAL;
    p += f;
    if (s[p] != '\0') return AISPM_EINVAL;
    *ms_out = (int64_t)sec * 1000 + milli;
    return AISPM_OK;
}

/* ------------------------------------------------------------------------ */
/* civil calendar (proleptic Gregorian, Howard Hinnant's days_from_civil)    */

int64_t civil_days(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int *year, int *mon, int *day) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (m <= 2));
    *mon = m;
    *day = d;
}

int civil_weekday(int64_t days) { /* 1970-01-01 was a Thursday (3) */
    int64_t w = (days + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

int civil_month_days(int year, int mon) { return timeutil_mdays(year, mon); }

/* ------------------------------------------------------------------------ */
/* time zones                                                                */

typedef struct {
    bool had;
    char prev[160];
} tz_saved_t;

static int tz_enter(const char *tz, tz_saved_t *sv) {
    if (!timezone_valid(tz)) return AISPM_EINVAL;
    const char *p = getenv("TZ");
    sv->had = p != NULL;
    snprintf(sv->prev, sizeof sv->prev, "%s", p ? p : "");
    char v[160];
    snprintf(v, sizeof v, ":%s", tz);
    setenv("TZ", v, 1);
    tzset();
    return AISPM_OK;
}

static void tz_leave(const tz_saved_t *sv) {
    if (sv->had) setenv("TZ", sv->prev, 1);
    else unsetenv("TZ");
    tzset();
}

/* offset (seconds east of UTC) in force at t under the current TZ */
static long tz_offset_at(time_t t) {
    struct tm tm;
    if (!localtime_r(&t, &tm)) return 0;
    return tm.tm_gmtoff;
}

static bool civil_valid(const civil_t *c) {
    return c->year >= 1 && c->year <= 9999 && c->mon >= 1 && c->mon <= 12 && c->day >= 1 &&
           c->day <= timeutil_mdays(c->year, c->mon) && c->hour >= 0 && c->hour <= 23 && c->min >= 0 &&
           c->min <= 59 && c->sec >= 0 && c->sec <= 59;
}

int tz_local_to_utc(const char *tz, const civil_t *local, int64_t *utc_ms, int *kind_out) {
    if (!local || !utc_ms || !civil_valid(local)) return AISPM_EINVAL;
    tz_saved_t sv;
    int rc = tz_enter(tz, &sv);
    if (rc) return rc;
    /* the wall time read as if it were UTC; the real instant is naive - offset
     * for an offset in force at that instant. Transitions are far more than a
     * day apart, so the offsets a day either side are the only candidates. */
    int64_t naive = civil_days(local->year, local->mon, local->day) * 86400 + local->hour * 3600 + local->min * 60 +
                    local->sec;
    long before = tz_offset_at((time_t)(naive - 86400)), after = tz_offset_at((time_t)(naive + 86400));
    int64_t c1 = naive - before, c2 = naive - after;
    bool ok1 = tz_offset_at((time_t)c1) == before, ok2 = tz_offset_at((time_t)c2) == after;
    int64_t t;
    int kind = 0;
    if (ok1 && ok2 && c1 != c2) {
        t = c1 < c2 ? c1 : c2; /* fall-back: the first occurrence */
        kind = 2;
    } else if (ok1) {
        t = c1;
    } else if (ok2) {
        t = c2;
    } else {
        t = c1; /* spring-forward gap: the pre-gap offset shifts it forward */
        kind = 1;
    }
    tz_leave(&sv);
    *utc_ms = t * 1000;
    if (kind_out) *kind_out = kind;
    return AISPM_OK;
}

int tz_utc_to_local(const char *tz, int64_t utc_ms, civil_t *local, int *offset_s) {
    tz_saved_t sv;
    int rc = tz_enter(tz, &sv);
    if (rc) return rc;
    int64_t s = utc_ms / 1000;
    if (utc_ms % 1000 < 0) s--;
    time_t t = (time_t)s;
    struct tm tm;
    bool ok = localtime_r(&t, &tm) != NULL;
    tz_leave(&sv);
    if (!ok) return AISPM_EINVAL;
    local->year = tm.tm_year + 1900;
    local->mon = tm.tm_mon + 1;
    local->day = tm.tm_mday;
    local->hour = tm.tm_hour;
    local->min = tm.tm_min;
    local->sec = tm.tm_sec;
    if (offset_s) *offset_s = (int)tm.tm_gmtoff;
    return AISPM_OK;
}

int tz_format_local(const char *tz, int64_t utc_ms, char out[RFC3339_MAX]) {
    civil_t c;
    int off;
    int rc = tz_utc_to_local(tz, utc_ms, &c, &off);
    if (rc) return rc;
    int a = off < 0 ? -off : off;
    snprintf(out, RFC3339_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", c.year % 10000, c.mon % 100, c.day % 100,
             c.hour % 100, c.min % 100, c.sec % 100, off < 0 ? '-' : '+', (a / 3600) % 100, (a / 60) % 60);
    return AISPM_OK;
}
