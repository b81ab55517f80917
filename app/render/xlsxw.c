/* xlsxw.c: XLSX workbook writer on libxlsxwriter (see xlsxw.h). */
#include "render/xlsxw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "core/err.h"

#define MAX_SHEETS 16
#define MAX_COLS 64
#define CELL_MAX 32767 /* Excel's limit of characters in a cell */
#define WIDTH_MIN 8
#define WIDTH_MAX 60

typedef struct {
    rowsink_t sink; /* first member */
    struct xlsxw *x;
    lxw_worksheet *ws;
    lxw_row_t row;
    lxw_col_t col, ncols;
    size_t width[MAX_COLS];
} sheet_t;

struct xlsxw {
    lxw_workbook *wb;
    lxw_format *bold, *hundredths;
    char path[1100];
    char *props[5];
    int nsheets;
    sheet_t sheets[MAX_SHEETS];
    bool failed;
};

/* characters (UTF-8 code points) of the first len bytes */
static size_t utf8_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

static void note_width(sheet_t *sh, size_t chars) {
    if (sh->col < MAX_COLS && chars > sh->width[sh->col]) sh->width[sh->col] = chars;
    sh->col++;
    if (sh->col > sh->ncols) sh->ncols = sh->col;
}

static void check(sheet_t *sh, lxw_error e) {
    if (e != LXW_NO_ERROR) sh->x->failed = true;
}

static void put_text(sheet_t *sh, const char *v, size_t len, lxw_format *fmt) {
    if (!sh->ws) {
        sh->col++;
        return;
    }
    if (!v) len = 0;
    if (len > CELL_MAX) { /* bytes >= characters: cut, then back to a boundary */
        len = CELL_MAX;
        while (len && ((unsigned char)v[len] & 0xC0) == 0x80) len--;
    }
    if (len) {
        char *t = strndup(v, len);
        if (!t) {
            sh->x->failed = true;
        } else {
            check(sh, worksheet_write_string(sh->ws, sh->row, sh->col, t, fmt));
            free(t);
        }
    }
    note_width(sh, len ? utf8_chars(v, len) : 0);
}

static void s_header(rowsink_t *s, const char *const *names) {
    sheet_t *sh = (sheet_t *)s;
    for (; *names; names++) put_text(sh, *names, strlen(*names), sh->x->bold);
    if (sh->ws) worksheet_freeze_panes(sh->ws, 1, 0);
    sh->row++, sh->col = 0;
}

static void s_str(rowsink_t *s, const char *v, size_t len) { put_text((sheet_t *)s, v, len, NULL); }

static void s_num(rowsink_t *s, long long v) {
    sheet_t *sh = (sheet_t *)s;
    char t[32];
    if (sh->ws) check(sh, worksheet_write_number(sh->ws, sh->row, sh->col, (double)v, NULL));
    note_width(sh, (size_t)snprintf(t, sizeof t, "%lld", v));
}

static void s_hundredths(rowsink_t *s, long long v) {
    sheet_t *sh = (sheet_t *)s;
    char t[48];
    if (v < 0) v = 0;
    if (sh->ws) check(sh, worksheet_write_number(sh->ws, sh->row, sh->col, (double)v / 100.0, sh->x->hundredths));
    note_width(sh, (size_t)snprintf(t, sizeof t, "%lld.%02lld", v / 100, v % 100));
}

static void s_end_row(rowsink_t *s) {
    sheet_t *sh = (sheet_t *)s;
    sh->row++, sh->col = 0;
}

int xlsxw_new(const char *tmpdir, const xlsxw_props_t *props, xlsxw_t **out) {
    *out = NULL;
    if (!tmpdir || !*tmpdir) tmpdir = getenv("TMPDIR");
    if (!tmpdir || !*tmpdir) tmpdir = "/tmp";
    xlsxw_t *x = calloc(1, sizeof *x);
    if (!x) return AISPM_ERR;
    if ((size_t)snprintf(x->path, sizeof x->path, "%s/aispm-xlsx-XXXXXX", tmpdir) >= sizeof x->path) {
        free(x);
        return AISPM_EIO;
    }
    int fd = mkostemp(x->path, O_CLOEXEC);
    if (fd < 0) {
        free(x);
        return AISPM_EIO;
    }
    close(fd); /* libxlsxwriter reopens the path; the file stays 0600 */
    lxw_workbook_options opt = {.constant_memory = 0, .tmpdir = (char *)tmpdir, .use_zip64 = 0};
    x->wb = workbook_new_opt(x->path, &opt);
    if (!x->wb) {
        unlink(x->path);
        free(x);
        return AISPM_ERR;
    }
    x->bold = workbook_add_format(x->wb);
    format_set_bold(x->bold);
    x->hundredths = workbook_add_format(x->wb);
    format_set_num_format(x->hundredths, "0.00");
    if (props) {
        const char *src[5] = {props->title, props->subject, props->author, props->company, props->comments};
        for (int i = 0; i < 5; i++) x->props[i] = src[i] ? strdup(src[i]) : NULL;
        lxw_doc_properties p = {
            .title = x->props[0],
            .subject = x->props[1],
            .author = x->props[2],
            .company = x->props[3],
            .comments = x->props[4],
            .created = props->created > 0 ? props->created : 1,
        };
        if (workbook_set_properties(x->wb, &p) != LXW_NO_ERROR) x->failed = true;
    }
    *out = x;
    return 0;
}

rowsink_t *xlsxw_sheet(xlsxw_t *x, const char *name) {
    static sheet_t spare; /* when MAX_SHEETS is exceeded: writes nothing */
    sheet_t *sh;
    if (x->nsheets >= MAX_SHEETS) {
        x->failed = true;
        sh = &spare;
        memset(sh, 0, sizeof *sh);
    } else {
        sh = &x->sheets[x->nsheets++];
        sh->ws = workbook_add_worksheet(x->wb, name);
        if (!sh->ws) x->failed = true;
    }
    sh->x = x;
    sh->sink = (rowsink_t){s_header, s_str, s_num, s_hundredths, s_end_row};
    return &sh->sink;
}

int xlsxw_finish(xlsxw_t *x, buf_t *out) {
    for (int i = 0; i < x->nsheets; i++) {
        sheet_t *sh = &x->sheets[i];
        if (!sh->ws) continue;
        for (lxw_col_t c = 0; c < sh->ncols && c < MAX_COLS; c++) {
            size_t w = sh->width[c] + 2;
            if (w < WIDTH_MIN) w = WIDTH_MIN;
            if (w > WIDTH_MAX) w = WIDTH_MAX;
            if (worksheet_set_column(sh->ws, c, c, (double)w, NULL) != LXW_NO_ERROR) x->failed = true;
        }
    }
    /* workbook_close also frees the workbook; it runs even after a failure */
    int rc = workbook_close(x->wb) == LXW_NO_ERROR && !x->failed ? 0 : AISPM_ERR;
    if (!rc) rc = buf_read_file(out, x->path);
    unlink(x->path);
    for (int i = 0; i < 5; i++) free(x->props[i]);
    free(x);
    return rc;
}
