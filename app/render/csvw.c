/* csvw.c: RFC 4180 CSV writer with formula neutralisation (see csvw.h). */
#include "render/csvw.h"

#include <stdio.h>
#include <string.h>

void csvw_init(csvw_t *w, buf_t *out) {
    w->out = out;
    w->row_open = false;
}

static void sep(csvw_t *w) {
    if (w->row_open) buf_putc(w->out, ',');
    w->row_open = true;
}

void csvw_strn(csvw_t *w, const char *s, size_t len) {
    sep(w);
    if (!s) len = 0;
    bool formula = len && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
    bool quote = false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') {
            quote = true;
            break;
        }
    if (quote) buf_putc(w->out, '"');
    if (formula) buf_putc(w->out, '\'');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            buf_append(w->out, s + start, i + 1 - start);
            buf_putc(w->out, '"');
            start = i + 1;
        }
    }
    if (len > start) buf_append(w->out, s + start, len - start);
    if (quote) buf_putc(w->out, '"');
}

void csvw_str(csvw_t *w, const char *s) { csvw_strn(w, s, s ? strlen(s) : 0); }

void csvw_int(csvw_t *w, long long v) {
    sep(w);
    buf_printf(w->out, "%lld", v);
}

void csvw_end_row(csvw_t *w) {
    buf_append(w->out, "\r\n", 2);
    w->row_open = false;
}

void csvw_header(csvw_t *w, const char *const *names) {
    for (; *names; names++) csvw_str(w, *names);
    csvw_end_row(w);
}

/* row sink */

static void sink_header(rowsink_t *s, const char *const *names) { csvw_header(&((csvw_sink_t *)s)->w, names); }
static void sink_str(rowsink_t *s, const char *v, size_t len) { csvw_strn(&((csvw_sink_t *)s)->w, v, len); }
static void sink_num(rowsink_t *s, long long v) { csvw_int(&((csvw_sink_t *)s)->w, v); }
static void sink_hundredths(rowsink_t *s, long long v) {
    char t[48];
    if (v < 0) v = 0;
    snprintf(t, sizeof t, "%lld.%02lld", v / 100, v % 100);
    csvw_str(&((csvw_sink_t *)s)->w, t);
}
static void sink_end_row(rowsink_t *s) { csvw_end_row(&((csvw_sink_t *)s)->w); }

void csvw_sink_init(csvw_sink_t *s, buf_t *out) {
    s->sink = (rowsink_t){sink_header, sink_str, sink_num, sink_hundredths, sink_end_row};
    csvw_init(&s->w, out);
}
