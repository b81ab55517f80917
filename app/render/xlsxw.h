/*
 * xlsxw.h: XLSX workbook writer for report exports, on libxlsxwriter.
 *
 * Each worksheet is a row sink (render/rowsink.h): its first row is the
 * header, in bold and frozen; text cells are written with
 * worksheet_write_string (shared strings — never formulas, so "=1+1" stays
 * the text "=1+1"; text longer than Excel's 32767-character cell limit is cut
 * at a UTF-8 boundary); integers are numbers; hundredths are numbers with the
 * format 0.00. Column widths follow the longest cell of each column (8..60).
 *
 * libxlsxwriter writes to a file: the workbook goes to a private temp file
 * (mkstemp, 0600) in tmpdir ($TMPDIR or /tmp when NULL), whose bytes
 * xlsxw_finish reads and which it always removes. With props->created set,
 * the same calls give the same bytes (libxlsxwriter stamps zip entries with a
 * fixed date and docProps/core.xml with `created`).
 */
#ifndef AISPM_RENDER_XLSXW_H
#define AISPM_RENDER_XLSXW_H

#include <time.h>

#include "core/buf.h"
#include "render/rowsink.h"

typedef struct xlsxw xlsxw_t;

/* document properties (NULL = not set); created must be > 0 (libxlsxwriter
 * takes 0 as "now", which would make the bytes depend on the clock) */
typedef struct {
    const char *title, *subject, *author, *company, *comments;
    time_t created;
} xlsxw_props_t;

/* 0 or AISPM_EIO (no temp file) / AISPM_ERR (libxlsxwriter refused) */
int xlsxw_new(const char *tmpdir, const xlsxw_props_t *props, xlsxw_t **out);
/* a new worksheet named name (<= 31 characters, unique); never NULL — a
 * failure is remembered and reported by xlsxw_finish */
rowsink_t *xlsxw_sheet(xlsxw_t *x, const char *name);
/* closes the workbook, appends its bytes to out, removes the temp file and
 * frees x (in every case). 0, AISPM_ERR or AISPM_EIO. */
int xlsxw_finish(xlsxw_t *x, buf_t *out);

#endif
