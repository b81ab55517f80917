/* pdfw.c: A4 report PDFs on cairo + pango; see pdfw.h */
#include "render/pdfw.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <pango/pangocairo.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define PAGE_W 595.276
#define PAGE_H 841.890
#define MARGIN 50.0
#define TOP 60.0
#define BOTTOM (PAGE_H - 70.0)
#define CONTENT_W (PAGE_W - 2 * MARGIN)
#define MAX_SECTIONS 24
#define MAX_COLS 32
#define FONT "DejaVu Sans"

enum { LEFT, RIGHT, CENTER };

struct pdfw {
    const pdfw_opts_t *o;
    cairo_surface_t *s;
    cairo_surface_t *logo; /* decoded opts->logo_png, or NULL */
    PangoLayout *layout;   /* one per pass, reused by every text() call */
    PangoFontDescription *font[2]; /* regular, bold */
    cairo_t *cr;
    int page, total;
    double y;
    bool open;
    /* sections of this pass; the pages of the first pass for the contents */
    char sec[MAX_SECTIONS][128];
    int sec_page[MAX_SECTIONS], nsec, known_page[MAX_SECTIONS];
    /* the current table */
    rowsink_t sink;
    bool in_table;
    int cols[MAX_COLS], ncols, col;
    double widths[MAX_COLS];
    char *head[MAX_COLS];
    buf_t cell[MAX_COLS];
    long row;
};

static const double ink[3] = {0.13, 0.15, 0.18}, grey[3] = {0.45, 0.47, 0.5}, white[3] = {1, 1, 1};

static void rgb(pdfw_t *p, const double c[3]) { cairo_set_source_rgb(p->cr, c[0], c[1], c[2]); }

/* draws (or only measures, draw false) text at x,y in a box of width w;
 * returns its height */
static double text(pdfw_t *p, double x, double y, double w, const char *s, double size, bool bold,
                   const double c[3], int align, bool draw) {
    PangoLayout *l = p->layout;
    PangoFontDescription *fd = p->font[bold];
    pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
    pango_layout_set_font_description(l, fd);
    pango_layout_set_width(l, (int)(w * PANGO_SCALE));
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_alignment(l, align == RIGHT ? PANGO_ALIGN_RIGHT : align == CENTER ? PANGO_ALIGN_CENTER
                                                                                        : PANGO_ALIGN_LEFT);
    pango_layout_set_text(l, s ? s : "", -1);
    int lw, lh;
    pango_layout_get_size(l, &lw, &lh);
    if (draw) {
        rgb(p, c);
        cairo_move_to(p->cr, x, y);
        pango_cairo_show_layout(p->cr, l);
    }
    return (double)lh / PANGO_SCALE;
}

/* draws the logo scaled into the box (x, y, w, h), keeping its aspect ratio,
 * left-aligned (right = false) or right-aligned */
static void logo_at(pdfw_t *p, double x, double y, double w, double h, bool right) {
    if (!p->logo) return;
    double iw = cairo_image_surface_get_width(p->logo), ih = cairo_image_surface_get_height(p->logo);
    double sc = w / iw < h / ih ? w / iw : h / ih;
    if (right) x += w - iw * sc;
    cairo_save(p->cr);
    cairo_translate(p->cr, x, y);
    cairo_scale(p->cr, sc, sc);
    cairo_set_source_surface(p->cr, p->logo, 0, 0);
    cairo_paint(p->cr);
    cairo_restore(p->cr);
}

static void footer(pdfw_t *p) {
    cairo_t *cr = p->cr;
    rgb(p, p->o->brand);
    cairo_rectangle(cr, 0, 0, PAGE_W, 8);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.82);
    cairo_set_line_width(cr, 0.5);
    cairo_move_to(cr, MARGIN, PAGE_H - 52);
    cairo_line_to(cr, PAGE_W - MARGIN, PAGE_H - 52);
    cairo_stroke(cr);
    char pg[64];
    if (p->total)
        snprintf(pg, sizeof pg, "Page %d of %d", p->page, p->total);
    else
        snprintf(pg, sizeof pg, "Page %d of %d", p->page, p->page);
    text(p, MARGIN, PAGE_H - 46, CONTENT_W, pg, 8, false, grey, RIGHT, true);
    if (p->o->disclaimer) text(p, MARGIN, PAGE_H - 46, CONTENT_W - 90, p->o->disclaimer, 7, false, grey, LEFT, true);
    if (p->page > 1) logo_at(p, PAGE_W - MARGIN - 110, 16, 110, 30, true);
}

static void new_page(pdfw_t *p) {
    if (p->open) {
        footer(p);
        cairo_show_page(p->cr);
    }
    p->open = true;
    p->page++;
    p->y = TOP;
}

static void heading_at(pdfw_t *p, const char *t, double size) {
    p->y += text(p, MARGIN, p->y, CONTENT_W, t, size, true, p->o->brand, LEFT, true) + size * 0.6;
}

void pdfw_section(pdfw_t *p, const char *title) {
    new_page(p);
    if (p->nsec < MAX_SECTIONS) {
        snprintf(p->sec[p->nsec], sizeof p->sec[0], "%s", title);
        p->sec_page[p->nsec++] = p->page;
    }
    heading_at(p, title, 20);
}

static void need(pdfw_t *p, double h) {
    if (p->y + h > BOTTOM) new_page(p);
}

void pdfw_heading(pdfw_t *p, const char *t) {
    need(p, 60);
    p->y += 6;
    heading_at(p, t, 13);
}

void pdfw_paragraph(pdfw_t *p, const char *t) {
    double h = text(p, MARGIN, p->y, CONTENT_W, t, 10, false, ink, LEFT, false);
    need(p, h);
    p->y += text(p, MARGIN, p->y, CONTENT_W, t, 10, false, ink, LEFT, true) + 6;
}

void pdfw_tiles(pdfw_t *p, const char *const *labels, const long long *values, int n) {
    const int per = 4;
    const double gap = 10, w = (CONTENT_W - (per - 1) * gap) / per, h = 56;
    for (int i = 0; i < n; i += per) {
        need(p, h + gap);
        for (int j = 0; j < per && i + j < n; j++) {
            double x = MARGIN + j * (w + gap);
            cairo_set_source_rgb(p->cr, 0.95, 0.96, 0.97);
            cairo_rectangle(p->cr, x, p->y, w, h);
            cairo_fill(p->cr);
            rgb(p, p->o->accent);
            cairo_rectangle(p->cr, x, p->y, 3, h);
            cairo_fill(p->cr);
            char v[32];
            snprintf(v, sizeof v, "%lld", values[i + j]);
            text(p, x + 10, p->y + 6, w - 14, v, 20, true, ink, LEFT, true);
            text(p, x + 10, p->y + 34, w - 14, labels[i + j], 8, false, grey, LEFT, true);
        }
        p->y += h + gap;
    }
}

void pdfw_bar_chart(pdfw_t *p, const char *title, const char *const *labels, const long long *values, int n) {
    const double plot_h = 150, label_h = 30, axis_w = 40, h = 20 + plot_h + label_h + 12;
    need(p, h);
    cairo_t *cr = p->cr;
    p->y += text(p, MARGIN, p->y, CONTENT_W, title, 11, true, ink, LEFT, true) + 6;
    long long max = 0;
    for (int i = 0; i < n; i++)
        if (values[i] > max) max = values[i];
    /* a step of 1, 2 or 5 times a power of ten, four steps reaching max */
    long long step = 1, mag = 1;
    while (step * 4 < max) {
        if (step == mag)
            step = 2 * mag;
        else if (step == 2 * mag)
            step = 5 * mag;
        else
            step = mag *= 10;
    }
    long long top = step * 4;
    double x0 = MARGIN + axis_w, y0 = p->y + plot_h, pw = CONTENT_W - axis_w;
    /* gridlines and y labels */
    cairo_set_line_width(cr, 0.5);
    for (int t = 0; t <= 4; t++) {
        double yy = y0 - plot_h * t / 4.0;
        cairo_set_source_rgb(cr, 0.85, 0.86, 0.88);
        cairo_move_to(cr, x0, yy);
        cairo_line_to(cr, x0 + pw, yy);
        cairo_stroke(cr);
        char v[32];
        snprintf(v, sizeof v, "%lld", step * t);
        text(p, MARGIN, yy - 5, axis_w - 6, v, 7, false, grey, RIGHT, true);
    }
    /* axes */
    rgb(p, ink);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, x0, p->y);
    cairo_line_to(cr, x0, y0);
    cairo_line_to(cr, x0 + pw, y0);
    cairo_stroke(cr);
    double slot = n ? pw / n : pw;
    for (int i = 0; i < n; i++) {
        double bh = top ? plot_h * (double)values[i] / (double)top : 0, bx = x0 + i * slot + slot * 0.2;
        rgb(p, p->o->accent);
        cairo_rectangle(cr, bx, y0 - bh, slot * 0.6, bh);
        cairo_fill(cr);
        char v[32];
        snprintf(v, sizeof v, "%lld", values[i]);
        text(p, x0 + i * slot, y0 - bh - 11, slot, v, 7, true, ink, CENTER, true);
        text(p, x0 + i * slot + 1, y0 + 3, slot - 2, labels[i], 7, false, ink, CENTER, true);
    }
    p->y = y0 + label_h + 12;
}

/* --- tables ----------------------------------------------------------------- */

#define CELL_PAD 3.0
#define CELL_SIZE 7.0

static double col_x(pdfw_t *p, int i) {
    double x = MARGIN;
    for (int k = 0; k < i; k++) x += p->widths[k];
    return x;
}

static double row_height(pdfw_t *p, const char *const *cells, bool bold) {
    double h = 0;
    for (int i = 0; i < p->ncols; i++) {
        double t = text(p, 0, 0, p->widths[i] - 2 * CELL_PAD, cells[i], CELL_SIZE, bold, ink, LEFT, false);
        if (t > h) h = t;
    }
    return h + 2 * CELL_PAD;
}

static void draw_row(pdfw_t *p, const char *const *cells, bool head, double h) {
    if (head) {
        rgb(p, p->o->brand);
        cairo_rectangle(p->cr, MARGIN, p->y, CONTENT_W, h);
        cairo_fill(p->cr);
    } else if (p->row % 2) {
        cairo_set_source_rgb(p->cr, 0.95, 0.96, 0.97);
        cairo_rectangle(p->cr, MARGIN, p->y, CONTENT_W, h);
        cairo_fill(p->cr);
    }
    for (int i = 0; i < p->ncols; i++) {
        bool num = !head && cells[i][0] && strspn(cells[i], "0123456789.-") == strlen(cells[i]);
        text(p, col_x(p, i) + CELL_PAD, p->y + CELL_PAD, p->widths[i] - 2 * CELL_PAD, cells[i], CELL_SIZE, head,
             head ? white : ink, num ? RIGHT : LEFT, true);
    }
    p->y += h;
}

static void draw_head(pdfw_t *p) {
    double h = row_height(p, (const char *const *)p->head, true);
    draw_row(p, (const char *const *)p->head, true, h);
}

static int shown(pdfw_t *p, int builder_col) {
    for (int i = 0; i < p->ncols; i++)
        if (p->cols[i] == builder_col) return i;
    return -1;
}

static void tb_header(rowsink_t *s, const char *const *names) {
    pdfw_t *p = (pdfw_t *)((char *)s - offsetof(pdfw_t, sink));
    int n = 0;
    while (names[n]) n++;
    if (p->ncols < 0) { /* all columns */
        p->ncols = n < MAX_COLS ? n : MAX_COLS;
        for (int i = 0; i < p->ncols; i++) p->cols[i] = i, p->widths[i] = 1;
    }
    double sum = 0;
    for (int i = 0; i < p->ncols; i++) sum += p->widths[i];
    for (int i = 0; i < p->ncols; i++) {
        p->widths[i] = CONTENT_W * p->widths[i] / sum;
        p->head[i] = strdup(p->cols[i] < n ? names[p->cols[i]] : "");
        p->cell[i] = (buf_t)BUF_INIT;
    }
    need(p, 60);
    draw_head(p);
    p->col = 0;
}

static void tb_cell(pdfw_t *p, const char *v, size_t len) {
    int i = shown(p, p->col++);
    if (i >= 0 && v) buf_append(&p->cell[i], v, len);
}
static void tb_str(rowsink_t *s, const char *v, size_t len) {
    tb_cell((pdfw_t *)((char *)s - offsetof(pdfw_t, sink)), v, len);
}
static void tb_num(rowsink_t *s, long long v) {
    char b[32];
    tb_cell((pdfw_t *)((char *)s - offsetof(pdfw_t, sink)), b, (size_t)snprintf(b, sizeof b, "%lld", v));
}
static void tb_hundredths(rowsink_t *s, long long v) {
    char b[40];
    tb_cell((pdfw_t *)((char *)s - offsetof(pdfw_t, sink)), b,
            (size_t)snprintf(b, sizeof b, "%lld.%02lld", v / 100, v % 100));
}
static void tb_end_row(rowsink_t *s) {
    pdfw_t *p = (pdfw_t *)((char *)s - offsetof(pdfw_t, sink));
    const char *cells[MAX_COLS];
    for (int i = 0; i < p->ncols; i++) cells[i] = buf_cstr(&p->cell[i]);
    double h = row_height(p, cells, false);
    if (p->y + h > BOTTOM) {
        new_page(p);
        draw_head(p);
    }
    draw_row(p, cells, false, h);
    p->row++;
    for (int i = 0; i < p->ncols; i++) p->cell[i].len = 0;
    p->col = 0;
}

rowsink_t *pdfw_table(pdfw_t *p, const int *columns, const double *widths) {
    pdfw_table_end(p);
    p->in_table = true;
    p->row = 0;
    p->ncols = -1;
    if (columns) {
        p->ncols = 0;
        while (p->ncols < MAX_COLS && columns[p->ncols] >= 0) {
            p->cols[p->ncols] = columns[p->ncols];
            p->widths[p->ncols] = widths ? widths[p->ncols] : 1;
            p->ncols++;
        }
    }
    p->sink = (rowsink_t){tb_header, tb_str, tb_num, tb_hundredths, tb_end_row};
    return &p->sink;
}

void pdfw_table_end(pdfw_t *p) {
    if (!p->in_table) return;
    for (int i = 0; i < p->ncols; i++) {
        free(p->head[i]);
        p->head[i] = NULL;
        buf_free(&p->cell[i]);
    }
    p->in_table = false;
    p->y += 10;
}

/* --- the document --------------------------------------------------------------- */

static cairo_status_t to_buf(void *closure, const unsigned char *data, unsigned int len) {
    if (closure) buf_append(closure, data, len);
    return CAIRO_STATUS_SUCCESS;
}


static void cover(pdfw_t *p) {
    new_page(p);
    cairo_t *cr = p->cr;
    rgb(p, p->o->brand);
    cairo_rectangle(cr, 0, 0, PAGE_W, 220);
    cairo_fill(cr);
    double y = 120;
    y += text(p, MARGIN, y, CONTENT_W, p->o->title, 34, true, white, LEFT, true) + 80;
    if (p->o->subtitle) text(p, MARGIN, y, CONTENT_W, p->o->subtitle, 13, false, ink, LEFT, true);
    rgb(p, p->o->accent);
    cairo_rectangle(cr, MARGIN, PAGE_H - 140, 120, 6);
    cairo_fill(cr);
    if (p->logo) { /* on a white plate, so any logo reads on the brand band */
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_rectangle(cr, MARGIN - 8, 32, 196, 76);
        cairo_fill(cr);
        logo_at(p, MARGIN, 40, 180, 60, false);
    }
}

static void legal(pdfw_t *p) {
    if (!p->o->legal || !*p->o->legal) return;
    pdfw_table_end(p);
    pdfw_heading(p, "Legal disclaimer");
    pdfw_paragraph(p, p->o->legal);
}

typedef struct {
    const unsigned char *p;
    size_t len, off;
} png_src_t;

static cairo_status_t png_read(void *closure, unsigned char *data, unsigned int n) {
    png_src_t *r = closure;
    if (n > r->len - r->off) return CAIRO_STATUS_READ_ERROR;
    memcpy(data, r->p + r->off, n);
    r->off += n;
    return CAIRO_STATUS_SUCCESS;
}
cairo_surface_t *pdfw_png_load(const void *png, size_t len) {
    png_src_t src = {png, len, 0};
    cairo_surface_t *s = cairo_image_surface_create_from_png_stream(png_read, &src);
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) return s;
    cairo_surface_destroy(s);
    return NULL;
}


static void contents(pdfw_t *p) {
    new_page(p);
    heading_at(p, "Contents", 20);
    p->y += 6;
    for (int i = 0; i < MAX_SECTIONS && p->known_page[i]; i++) {
        char pg[16];
        snprintf(pg, sizeof pg, "%d", p->known_page[i]);
        text(p, MARGIN, p->y, CONTENT_W - 40, p->sec[i], 12, false, ink, LEFT, true);
        text(p, MARGIN, p->y, CONTENT_W, pg, 12, false, ink, RIGHT, true);
        cairo_set_source_rgb(p->cr, 0.85, 0.86, 0.88);
        cairo_set_line_width(p->cr, 0.5);
        cairo_move_to(p->cr, MARGIN, p->y + 19);
        cairo_line_to(p->cr, PAGE_W - MARGIN, p->y + 19);
        cairo_stroke(p->cr);
        p->y += 24;
    }
}

int pdfw_render(const pdfw_opts_t *opts, pdfw_build_fn build, void *ctx, buf_t *out) {
    pdfw_t *p = calloc(1, sizeof *p);
    if (!p) return AISPM_ERR;
    p->o = opts;
    char date[32] = "1970-01-01T00:00:00Z";
    struct tm tm;
    time_t t = opts->date > 0 ? opts->date : 1;
    if (gmtime_r(&t, &tm)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    size_t start = out->len;
    int rc = 0;
    for (int b = 0; b < 2; b++) {
        p->font[b] = pango_font_description_from_string(FONT);
        if (b) pango_font_description_set_weight(p->font[b], PANGO_WEIGHT_BOLD);
    }
    if (opts->logo_png && opts->logo_len) {
        p->logo = pdfw_png_load(opts->logo_png, opts->logo_len); /* checked when stored; a bad one is left out */
    }
    for (int pass = 0; pass < 2 && !rc; pass++) {
        p->s = cairo_pdf_surface_create_for_stream(to_buf, pass ? out : NULL, PAGE_W, PAGE_H);
        cairo_pdf_surface_set_metadata(p->s, CAIRO_PDF_METADATA_TITLE, opts->title);
        cairo_pdf_surface_set_metadata(p->s, CAIRO_PDF_METADATA_CREATOR, "AISPM Report Center");
        cairo_pdf_surface_set_metadata(p->s, CAIRO_PDF_METADATA_CREATE_DATE, date);
        cairo_pdf_surface_set_metadata(p->s, CAIRO_PDF_METADATA_MOD_DATE, date);
        if (opts->keywords) cairo_pdf_surface_set_metadata(p->s, CAIRO_PDF_METADATA_KEYWORDS, opts->keywords);
        p->cr = cairo_create(p->s);
        p->layout = pango_cairo_create_layout(p->cr);
        p->page = 0;
        p->open = false;
        p->nsec = 0;
        cover(p);
        contents(p);
        build(p, ctx);
        pdfw_table_end(p);
        legal(p);
        footer(p);
        cairo_show_page(p->cr);
        if (cairo_status(p->cr) != CAIRO_STATUS_SUCCESS) rc = AISPM_ERR;
        g_object_unref(p->layout);
        cairo_destroy(p->cr);
        cairo_surface_finish(p->s);
        if (cairo_surface_status(p->s) != CAIRO_STATUS_SUCCESS) rc = AISPM_ERR;
        cairo_surface_destroy(p->s);
        if (!pass) {
            p->total = p->page;
            for (int i = 0; i < p->nsec; i++) p->known_page[i] = p->sec_page[i];
        }
    }
    if (rc) out->len = start;
    if (p->logo) cairo_surface_destroy(p->logo);
    for (int b = 0; b < 2; b++) pango_font_description_free(p->font[b]);
    free(p);
    return rc;
}
