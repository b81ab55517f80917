/*
 * watermark_fixture.c: inputs and an in-process reference for
 * bench/watermark.sh.
 *
 *   watermark_fixture doc N      an N-page A4 report PDF (pdfw, as the board
 *                                pack is drawn: cover, contents, N-2 sections
 *                                of paragraphs) on stdout
 *   watermark_fixture stamp      a one-page A4 PDF with the same two mark lines
 *                                the app draws (cairo, same position and size),
 *                                for `qpdf --overlay`
 *   watermark_fixture time F N   watermark_pdf() of file F, N times in this
 *                                process: prints "median_ms p90_ms pages_marked"
 */
#include <cairo-pdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "render/pdfw.h"
#include "render/watermark.h"

#define MARK1 "AISPM evidence room copy - room evidence-room:01BENCHROOM0000000000000000 - auditor auditor:01BENCHAUDITOR00000000000000"
#define MARK2 "Downloaded 2026-12-04T19:00:00Z - download id download:01BENCHDOWNLOAD0000000000000 - do not redistribute"

static void doc(pdfw_t *p, void *ctx) {
    int sections = *(int *)ctx;
    char t[64];
    for (int i = 0; i < sections; i++) {
        snprintf(t, sizeof t, "Section %d", i + 1);
        pdfw_section(p, t);
        for (int k = 0; k < 6; k++)
            pdfw_paragraph(p, "Agents, findings, control coverage and evidence freshness of the period: a paragraph "
                              "of report text that wraps over several lines of the page, drawn with pango as the "
                              "board pack is, so the page carries real fonts and text runs.");
    }
}

static cairo_status_t to_stdout(void *c, const unsigned char *d, unsigned int n) {
    (void)c;
    return fwrite(d, 1, n, stdout) == n ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "doc")) {
        int n = atoi(argv[2]);
        if (n < 3 || n > 500) return 2;
        int sections = n - 2;
        buf_t out = BUF_INIT;
        pdfw_opts_t o = {.title = "Watermark benchmark", .date = 1790000000, .disclaimer = "benchmark fixture"};
        if (pdfw_render(&o, doc, &sections, &out)) return 1;
        fwrite(out.data, 1, out.len, stdout);
        buf_free(&out);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "stamp")) {
        cairo_surface_t *s = cairo_pdf_surface_create_for_stream(to_stdout, NULL, 595.276, 841.89);
        cairo_t *cr = cairo_create(s);
        cairo_set_source_rgb(cr, 0.62, 0.12, 0.12);
        cairo_select_font_face(cr, "Helvetica", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 7);
        cairo_move_to(cr, 24, 20);
        cairo_show_text(cr, MARK1);
        cairo_move_to(cr, 24, 29);
        cairo_show_text(cr, MARK2);
        cairo_destroy(cr);
        cairo_surface_finish(s);
        cairo_surface_destroy(s);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "time")) {
        buf_t in = BUF_INIT;
        int n = atoi(argv[3]);
        if (buf_read_file(&in, argv[2]) || n < 1 || n > 100000) return 2;
        watermark_t wm = {"evidence-room:01BENCHROOM0000000000000000", "auditor:01BENCHAUDITOR00000000000000",
                          "2026-12-04T19:00:00Z", "download:01BENCHDOWNLOAD0000000000000"};
        double *ms = calloc((size_t)n, sizeof *ms);
        size_t marked = 0;
        for (int i = 0; i < n; i++) {
            buf_t out = BUF_INIT;
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (watermark_pdf(in.data, in.len, &wm, &out)) return 1;
            clock_gettime(CLOCK_MONOTONIC, &b);
            ms[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
            if (i == 0)
                for (const char *p = out.data; (p = memmem(p, out.len - (size_t)(p - out.data), "/AispmWM 7 Tf", 13));
                     p++)
                    marked++;
            buf_free(&out);
        }
        qsort(ms, (size_t)n, sizeof *ms, cmp);
        printf("%.3f %.3f %zu\n", ms[n / 2], ms[(n * 9) / 10], marked);
        free(ms);
        buf_free(&in);
        return 0;
    }
    fprintf(stderr, "usage: watermark_fixture doc N | stamp | time FILE N\n");
    return 2;
}
