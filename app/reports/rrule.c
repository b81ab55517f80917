/*
 * rrule.c: RFC 5545 RRULE subset — strict parser and expansion in a time
 * zone (see rrule.h for the accepted language and the DST rules).
 *
 * Invariants:
 *  - rrule_parse either fills a rule that rrule_expand can always expand or
 *    refuses; lists are sorted and free of duplicates after parsing.
 *  - Expansion walks periods (days, weeks, months) from DTSTART's period in
 *    steps of INTERVAL. Without COUNT it starts at the first period that can
 *    hold an instant after after_ms (UTC offsets are below one day), so the
 *    cost depends on how many occurrences are asked for, not on how old the
 *    anchor is. With COUNT every period from DTSTART is walked (bounded).
 */
#include "reports/rrule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define RRULE_MAX_PERIODS 40000 /* ~110 years of days */

static const char *const wd_names[7] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};

static int fail(char *err, size_t errlen, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s", msg);
    return AISPM_EINVAL;
}

/* a decimal integer (optional sign) filling exactly [s, s+n) */
static bool int_span(const char *s, size_t n, bool sign_ok, int *out) {
    size_t i = 0;
    int neg = 0;
    if (n && sign_ok && (s[0] == '+' || s[0] == '-')) neg = s[0] == '-', i = 1;
    if (i >= n || n - i > 5) return false;
    int v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* comma list of integers in [lo, hi] (0 excluded when no_zero), sorted and
 * de-duplicated into out (capacity cap) */
static bool int_list(const char *v, size_t n, int lo, int hi, bool no_zero, int *out, int *count, int cap) {
    *count = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        int x;
        if (j == i || !int_span(v + i, j - i, lo < 0, &x) || x < lo || x > hi || (no_zero && x == 0)) return false;
        bool dup = false;
        for (int k = 0; k < *count; k++) dup |= out[k] == x;
        if (!dup) {
            if (*count >= cap) return false;
            out[(*count)++] = x;
        }
        i = j + 1;
    }
    qsort(out, (size_t)*count, sizeof *out, cmp_int);
    return *count > 0;
}

/* YYYYMMDD or YYYYMMDDTHHMMSSZ */
static bool parse_until(const char *v, size_t n, int64_t *ms) {
    char tmp[32];
    if (n != 8 && n != 16) return false;
    for (size_t i = 0; i < n; i++) {
        bool digit = v[i] >= '0' && v[i] <= '9';
        if ((n == 16 && i == 8) ? v[i] != 'T' : (n == 16 && i == 15) ? v[i] != 'Z' : !digit) return false;
    }
    if (n == 8)
        snprintf(tmp, sizeof tmp, "%.4s-%.2s-%.2sT23:59:59Z", v, v + 4, v + 6);
    else
        snprintf(tmp, sizeof tmp, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", v, v + 4, v + 6, v + 9, v + 11, v + 13);
    return rfc3339_parse(tmp, ms) == 0;
}

static bool parse_byday(const char *v, size_t n, rrule_t *r) {
    r->nbyday = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t len = j - i;
        if (len < 2) return false;
        int wd = -1;
        for (int k = 0; k < 7; k++)
            if (!strncmp(v + j - 2, wd_names[k], 2)) wd = k;
        int ord = 0;
        if (wd < 0 || (len > 2 && (!int_span(v + i, len - 2, true, &ord) || ord == 0 || ord < -5 || ord > 5)))
            return false;
        if (len > 2 && (v[i] == '0' || ((v[i] == '+' || v[i] == '-') && v[i + 1] == '0'))) return false;
        bool dup = false;
        for (int k = 0; k < r->nbyday; k++) dup |= r->byday[k].wd == wd && r->byday[k].ord == ord;
        if (!dup) {
            if (r->nbyday >= (int)(sizeof r->byday / sizeof r->byday[0])) return false;
            r->byday[r->nbyday].wd = wd;
            r->byday[r->nbyday].ord = ord;
            r->nbyday++;
        }
        i = j + 1;
    }
    return r->nbyday > 0;
}

int rrule_parse(const char *text, rrule_t *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->interval = 1;
    if (!text || !*text) return fail(err, errlen, "must not be empty");
    size_t len = strnlen(text, RRULE_TEXT_MAX + 1);
    if (len > RRULE_TEXT_MAX) return fail(err, errlen, "must be at most 256 characters");
    if (!strncmp(text, "RRULE:", 6)) text += 6, len -= 6;
    unsigned seen = 0;
    enum { S_FREQ = 1, S_INTERVAL = 2, S_BYDAY = 4, S_BYMONTHDAY = 8, S_BYMONTH = 16, S_BYHOUR = 32,
           S_BYMINUTE = 64, S_COUNT = 128, S_UNTIL = 256 };
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != ';') j++;
        const char *part = text + i, *eq = memchr(part, '=', j - i);
        if (!eq || eq == part || eq + 1 == text + j)
            return fail(err, errlen, "each rule part must be NAME=VALUE, separated by ';'");
        size_t nlen = (size_t)(eq - part), vlen = (size_t)(text + j - eq - 1);
        const char *v = eq + 1;
        unsigned bit = 0;
#define NAME_IS(lit) (nlen == sizeof(lit) - 1 && !strncmp(part, lit, nlen))
        if (NAME_IS("FREQ")) {
            bit = S_FREQ;
            if (vlen == 5 && !strncmp(v, "DAILY", 5)) r->freq = RRULE_DAILY;
            else if (vlen == 6 && !strncmp(v, "WEEKLY", 6)) r->freq = RRULE_WEEKLY;
            else if (vlen == 7 && !strncmp(v, "MONTHLY", 7)) r->freq = RRULE_MONTHLY;
            else return fail(err, errlen, "FREQ must be DAILY, WEEKLY or MONTHLY");
        } else if (NAME_IS("INTERVAL")) {
            bit = S_INTERVAL;
            if (!int_span(v, vlen, false, &r->interval) || r->interval < 1 || r->interval > 1000)
                return fail(err, errlen, "INTERVAL must be a whole number from 1 to 1000");
        } else if (NAME_IS("COUNT")) {
            bit = S_COUNT;
            if (!int_span(v, vlen, false, &r->count) || r->count < 1 || r->count > 10000)
                return fail(err, errlen, "COUNT must be a whole number from 1 to 10000");
        } else if (NAME_IS("UNTIL")) {
            bit = S_UNTIL;
            if (!parse_until(v, vlen, &r->until_ms))
                return fail(err, errlen, "UNTIL must be a date YYYYMMDD or a UTC date-time YYYYMMDDTHHMMSSZ");
            r->has_until = true;
        } else if (NAME_IS("BYDAY")) {
            bit = S_BYDAY;
            if (!parse_byday(v, vlen, r))
                return fail(err, errlen, "BYDAY must list weekdays MO, TU, WE, TH, FR, SA, SU (MONTHLY: with an "
                                         "optional ordinal 1..5 or -1..-5, e.g. 1MO or -1FR)");
        } else if (NAME_IS("BYMONTHDAY")) {
            bit = S_BYMONTHDAY;
            if (!int_list(v, vlen, -31, 31, true, r->bymonthday, &r->nbymonthday, 62))
                return fail(err, errlen, "BYMONTHDAY must list days 1..31 or -31..-1");
        } else if (NAME_IS("BYMONTH")) {
            bit = S_BYMONTH;
            if (!int_list(v, vlen, 1, 12, false, r->bymonth, &r->nbymonth, 12))
                return fail(err, errlen, "BYMONTH must list months 1..12");
        } else if (NAME_IS("BYHOUR")) {
            bit = S_BYHOUR;
            if (!int_list(v, vlen, 0, 23, false, r->byhour, &r->nbyhour, 24))
                return fail(err, errlen, "BYHOUR must list hours 0..23");
        } else if (NAME_IS("BYMINUTE")) {
            bit = S_BYMINUTE;
            if (!int_list(v, vlen, 0, 59, false, r->byminute, &r->nbyminute, 60))
                return fail(err, errlen, "BYMINUTE must list minutes 0..59");
        } else {
            return fail(err, errlen,
                        "unsupported rule part (supported: FREQ, INTERVAL, BYDAY, BYMONTHDAY, BYMONTH, BYHOUR, "
                        "BYMINUTE, COUNT, UNTIL)");
        }
#undef NAME_IS
        if (seen & bit) return fail(err, errlen, "a rule part appears twice");
        seen |= bit;
        i = j + 1;
        if (j < len && i == len) return fail(err, errlen, "must not end with ';'");
    }
    if (!(seen & S_FREQ)) return fail(err, errlen, "FREQ is required");
    if ((seen & S_COUNT) && (seen & S_UNTIL)) return fail(err, errlen, "COUNT and UNTIL must not both be given");
    if (r->freq == RRULE_WEEKLY && (seen & S_BYMONTHDAY)) return fail(err, errlen, "BYMONTHDAY is not allowed with WEEKLY");
    if (r->freq != RRULE_MONTHLY)
        for (int k = 0; k < r->nbyday; k++)
            if (r->byday[k].ord) return fail(err, errlen, "BYDAY ordinals (e.g. 1MO) are allowed only with MONTHLY");
    return 0;
}

int rrule_preset(const char *cadence, int hour, int minute, char text[RRULE_TEXT_MAX]) {
    const char *base;
    if (!cadence) return AISPM_EINVAL;
    if (!strcmp(cadence, "daily")) base = "FREQ=DAILY";
    else if (!strcmp(cadence, "weekly")) base = "FREQ=WEEKLY;BYDAY=MO";
    else if (!strcmp(cadence, "monthly")) base = "FREQ=MONTHLY;BYMONTHDAY=1";
    else if (!strcmp(cadence, "quarterly")) base = "FREQ=MONTHLY;BYMONTH=1,4,7,10;BYMONTHDAY=1";
    else return AISPM_EINVAL;
    if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return AISPM_EINVAL;
    snprintf(text, RRULE_TEXT_MAX, "%s;BYHOUR=%d;BYMINUTE=%d", base, hour, minute);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* expansion                                                                 */

static bool in_list(const int *v, int n, int x) {
    for (int i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

static bool monthday_match(const rrule_t *r, int y, int m, int d) {
    int last = civil_month_days(y, m);
    for (int i = 0; i < r->nbymonthday; i++) {
        int md = r->bymonthday[i];
        if (md == d || (md < 0 && last + md + 1 == d)) return true;
    }
    return false;
}

/* does a day of a MONTHLY period match BYDAY (with ordinals)? */
static bool monthly_byday_match(const rrule_t *r, int y, int m, int d, int wd) {
    int last = civil_month_days(y, m);
    int nth = (d - 1) / 7 + 1, nth_back = (last - d) / 7 + 1;
    for (int i = 0; i < r->nbyday; i++) {
        if (r->byday[i].wd != wd) continue;
        int o = r->byday[i].ord;
        if (o == 0 || o == nth || (o < 0 && -o == nth_back)) return true;
    }
    return false;
}

static bool weekday_in(const rrule_t *r, int wd) {
    for (int i = 0; i < r->nbyday; i++)
        if (r->byday[i].wd == wd) return true;
    return false;
}

/* the days (days since epoch) of period k, ascending */
static int period_days(const rrule_t *r, const civil_t *ds, int64_t start_day, int64_t k, int64_t *days) {
    int n = 0;
    if (r->freq == RRULE_DAILY) {
        int64_t d = start_day + k * r->interval;
        int y, m, dd;
        civil_from_days(d, &y, &m, &dd);
        if (r->nbymonth && !in_list(r->bymonth, r->nbymonth, m)) return 0;
        if (r->nbymonthday && !monthday_match(r, y, m, dd)) return 0;
        if (r->nbyday && !weekday_in(r, civil_weekday(d))) return 0;
        days[n++] = d;
    } else if (r->freq == RRULE_WEEKLY) {
        int64_t monday = start_day - civil_weekday(start_day) + k * 7 * r->interval;
        for (int w = 0; w < 7; w++) {
            int64_t d = monday + w;
            int y, m, dd;
            civil_from_days(d, &y, &m, &dd);
            if (r->nbyday ? !weekday_in(r, w) : w != civil_weekday(start_day)) continue;
            if (r->nbymonth && !in_list(r->bymonth, r->nbymonth, m)) continue;
            days[n++] = d;
        }
    } else {
        int64_t mi = (int64_t)ds->year * 12 + (ds->mon - 1) + k * r->interval;
        int y = (int)(mi / 12), m = (int)(mi % 12) + 1;
        if (y > 9999) return 0;
        if (r->nbymonth && !in_list(r->bymonth, r->nbymonth, m)) return 0;
        int last = civil_month_days(y, m);
        int64_t first = civil_days(y, m, 1);
        for (int dd = 1; dd <= last; dd++) {
            int64_t d = first + dd - 1;
            bool ok;
            if (!r->nbymonthday && !r->nbyday) ok = dd == ds->day;
            else ok = (!r->nbymonthday || monthday_match(r, y, m, dd)) &&
                      (!r->nbyday || monthly_byday_match(r, y, m, dd, civil_weekday(d)));
            if (ok) days[n++] = d;
        }
    }
    return n;
}

/* first period index that can hold an instant after after_ms (no COUNT) */
static int64_t first_period(const rrule_t *r, const civil_t *ds, int64_t start_day, int64_t after_ms) {
    if (after_ms == INT64_MIN || r->count) return 0;
    int64_t after_day = after_ms / 86400000 - 2; /* offsets are < 1 day */
    int64_t k;
    if (r->freq == RRULE_DAILY) k = (after_day - start_day) / r->interval;
    else if (r->freq == RRULE_WEEKLY) k = (after_day - (start_day - civil_weekday(start_day))) / (7LL * r->interval);
    else {
        int y, m, d;
        civil_from_days(after_day, &y, &m, &d);
        k = (((int64_t)y * 12 + m - 1) - ((int64_t)ds->year * 12 + ds->mon - 1)) / r->interval;
    }
    return k > 0 ? k - 1 : 0;
}

int rrule_expand(const rrule_t *r, const char *tz, const civil_t *dtstart, int64_t after_ms, int max, int64_t *out,
                 int *n) {
    *n = 0;
    if (max <= 0) return 0;
    int64_t start_day = civil_days(dtstart->year, dtstart->mon, dtstart->day);
    int64_t start_naive = start_day * 86400 + dtstart->hour * 3600 + dtstart->min * 60;
    const int *hours = r->nbyhour ? r->byhour : &dtstart->hour;
    const int *mins = r->nbyminute ? r->byminute : &dtstart->min;
    int nh = r->nbyhour ? r->nbyhour : 1, nm = r->nbyminute ? r->nbyminute : 1;
    int counted = 0;
    int64_t last = INT64_MIN;
    int64_t k0 = first_period(r, dtstart, start_day, after_ms);
    for (int64_t k = k0; k < k0 + RRULE_MAX_PERIODS; k++) {
        int64_t days[31];
        int nd = period_days(r, dtstart, start_day, k, days);
        if (nd == 0 && r->freq == RRULE_MONTHLY) {
            int64_t mi = (int64_t)dtstart->year * 12 + (dtstart->mon - 1) + k * r->interval;
            if (mi / 12 > 9999) break;
        }
        for (int di = 0; di < nd; di++) {
            int y, m, d;
            civil_from_days(days[di], &y, &m, &d);
            if (y > 9999) return 0;
            /* a day's instants, sorted: a time shifted out of a gap can pass
             * a later wall time of the same day */
            int64_t inst[24 * 60];
            int ni = 0;
            for (int hi = 0; hi < nh; hi++)
                for (int mi = 0; mi < nm; mi++) {
                    int64_t naive = days[di] * 86400 + hours[hi] * 3600 + mins[mi] * 60;
                    if (naive < start_naive) continue;
                    civil_t c = {y, m, d, hours[hi], mins[mi], 0};
                    int rc = tz_local_to_utc(tz, &c, &inst[ni], NULL);
                    if (rc) return rc;
                    ni++;
                }
            qsort(inst, (size_t)ni, sizeof inst[0], cmp_i64);
            for (int x = 0; x < ni; x++) {
                int64_t t = inst[x];
                if (t <= last) continue; /* two wall times shifted onto one instant */
                last = t;
                if (r->has_until && t > r->until_ms) return 0;
                counted++;
                if (t > after_ms) {
                    out[(*n)++] = t;
                    if (*n >= max) return 0;
                }
                if (r->count && counted >= r->count) return 0;
            }
        }
    }
    return 0;
}
