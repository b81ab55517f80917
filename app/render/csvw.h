/*
 * csvw.h: RFC 4180 CSV writer for report exports.
 *
 * Records end in CRLF; a field containing a comma, a double quote, CR or LF
 * is enclosed in double quotes with embedded quotes doubled. Spreadsheet
 * formula injection is neutralised: a text cell starting with = + - @ TAB or
 * CR gets a leading apostrophe (so it is shown as text, never evaluated).
 * Numbers written with csvw_int are never prefixed. Output is UTF-8 as given
 * (callers pass valid UTF-8; no BOM).
 */
#ifndef AISPM_RENDER_CSVW_H
#define AISPM_RENDER_CSVW_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "render/rowsink.h"

typedef struct {
    buf_t *out;
    bool row_open; /* a field has been written on the current record */
} csvw_t;

void csvw_init(csvw_t *w, buf_t *out);
/* one text field (NULL = empty) */
void csvw_str(csvw_t *w, const char *s);
void csvw_strn(csvw_t *w, const char *s, size_t len);
void csvw_int(csvw_t *w, long long v);
/* ends the current record with CRLF */
void csvw_end_row(csvw_t *w);
/* a header row from a NULL-terminated list of names */
void csvw_header(csvw_t *w, const char *const *names);

/* the CSV writer as a row sink (render/rowsink.h): text through csvw_strn,
 * integers through csvw_int, hundredths as "%lld.%02lld" text */
typedef struct {
    rowsink_t sink; /* first member: &s->sink is the sink */
    csvw_t w;
} csvw_sink_t;
void csvw_sink_init(csvw_sink_t *s, buf_t *out);

#endif
