/*
 * pdfw.h: A4 PDF documents for reports, drawn with cairo (PDF surface written
 * into a buf_t through cairo_pdf_surface_create_for_stream) and laid out with
 * pango (font "DejaVu Sans").
 *
 * pdfw_render draws the document twice: the first pass counts the pages and
 * notes the page of each section (pdfw_section), the second draws it for real
 * with a cover page, a contents page listing the sections with their page
 * numbers, the caller's content (build), an optional legal disclaimer at
 * the end, and on every page a footer "Page N of M" with a footer line and,
 * when a logo is given, the logo in the page header (decoded once per
 * document; cairo embeds it once). Tables are row sinks
 * (render/rowsink.h): rows that do not fit start a new page, which repeats the
 * header row. Charts are bars and axis labels drawn with cairo.
 *
 * Determinism: the creation and modification dates are set from opts->date, so
 * the same calls give the same bytes.
 */
#ifndef AISPM_RENDER_PDFW_H
#define AISPM_RENDER_PDFW_H

#include <cairo.h>
#include <time.h>

#include "core/buf.h"
#include "render/rowsink.h"

typedef struct pdfw pdfw_t;

typedef struct {
    const char *title;      /* document Title metadata and cover heading */
    const char *subtitle;   /* cover lines (NULL = none), '\n'-separated */
    const char *disclaimer; /* footer line on every page (NULL = none) */
    const char *legal;      /* legal disclaimer closing the last page (NULL = none) */
    const char *keywords;   /* Keywords metadata (NULL = none) */
    time_t date;            /* CreationDate / ModDate (> 0) */
    double brand[3];        /* primary colour (RGB 0..1): cover, headings, table headers */
    double accent[3];       /* accent colour: KPI tiles, chart bars */
    const void *logo_png;   /* PNG drawn on the cover and in every page header (NULL = none) */
    size_t logo_len;
} pdfw_opts_t;

/* decodes a PNG held in memory into an image surface (the caller destroys
 * it); NULL when it does not decode */
cairo_surface_t *pdfw_png_load(const void *png, size_t len);

/* the content: called once per pass */
typedef void (*pdfw_build_fn)(pdfw_t *p, void *ctx);

/* 0, or AISPM_ERR (cairo failed) */
int pdfw_render(const pdfw_opts_t *opts, pdfw_build_fn build, void *ctx, buf_t *out);

/* starts a section on a new page with a heading; listed on the contents page */
void pdfw_section(pdfw_t *p, const char *title);
/* a sub-heading / a paragraph (wrapped to the page width) */
void pdfw_heading(pdfw_t *p, const char *text);
void pdfw_paragraph(pdfw_t *p, const char *text);
/* a row of headline numbers: n labels and values, drawn as tiles */
void pdfw_tiles(pdfw_t *p, const char *const *labels, const long long *values, int n);
/* a vertical bar chart with a title, axis, value labels and category labels */
void pdfw_bar_chart(pdfw_t *p, const char *title, const char *const *labels, const long long *values, int n);
/* a table: returns a row sink that draws the rows. columns lists the indexes
 * of the builder's columns to show (-1 ends; NULL = all), widths their
 * relative widths (NULL = equal). Valid until the next pdfw_ call but
 * pdfw_table_end. */
rowsink_t *pdfw_table(pdfw_t *p, const int *columns, const double *widths);
void pdfw_table_end(pdfw_t *p);

#endif
