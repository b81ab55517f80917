/*
 * rowsink.h: a table of rows written cell by cell, independent of the file
 * format. The report row builders (app/reports/renderer.c) write each table
 * once through this interface; the CSV writer (render/csvw.h, csvw_sink) and
 * the XLSX writer (render/xlsxw.h, one sink per worksheet), the DOCX narrative's
 * tables and the PDF writer's tables (render/pdfw.h, pdfw_table) implement it,
 * so a CSV export and the matching workbook sheet or PDF table hold the same rows.
 *
 * A table is one header row (rs_header) and then data rows: cells (rs_str,
 * rs_int, rs_hundredths) ended by rs_end_row. Text cells are always text —
 * a sink never turns one into a formula.
 */
#ifndef AISPM_RENDER_ROWSINK_H
#define AISPM_RENDER_ROWSINK_H

#include <stddef.h>
#include <string.h>

typedef struct rowsink rowsink_t;
struct rowsink {
    void (*header)(rowsink_t *s, const char *const *names); /* NULL-terminated */
    void (*str)(rowsink_t *s, const char *v, size_t len);   /* v NULL = empty */
    void (*num)(rowsink_t *s, long long v);
    /* a non-negative decimal with two places, given in hundredths (162 = 1.62) */
    void (*hundredths)(rowsink_t *s, long long v);
    void (*end_row)(rowsink_t *s);
};

static inline void rs_header(rowsink_t *s, const char *const *names) { s->header(s, names); }
static inline void rs_strn(rowsink_t *s, const char *v, size_t len) { s->str(s, v, len); }
static inline void rs_str(rowsink_t *s, const char *v) { s->str(s, v, v ? strlen(v) : 0); }
static inline void rs_int(rowsink_t *s, long long v) { s->num(s, v); }
static inline void rs_hundredths(rowsink_t *s, long long v) { s->hundredths(s, v); }
static inline void rs_end_row(rowsink_t *s) { s->end_row(s); }

#endif
