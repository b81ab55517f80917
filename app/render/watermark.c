/*
 * watermark.c: marked copies for evidence-room downloads (see watermark.h).
 *
 * The PDF mark is an incremental update written here rather than through a
 * PDF library: the only PDF library in Debian with a C API that rewrites
 * files (qpdf) is C++, and re-rendering pages through poppler + cairo costs a
 * full rasterless re-layout per page. An incremental update only appends
 * (about 1 KiB per page), so its cost is a scan of the cross-reference table
 * and the page dictionaries: the original bytes are copied, never parsed as
 * content. The small tokenizer below understands exactly the PDF object
 * syntax it needs (ISO 32000-1 7.3): names, numbers, indirect references,
 * strings, arrays, dictionaries and comments.
 */
#include "render/watermark.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <zip.h>

#include "core/err.h"

#define WM_FONT "AispmWM"
#define MAX_XREF_SECTIONS 64
#define MAX_OBJECTS 2000000
#define MAX_PARENT_DEPTH 16

void watermark_text(const watermark_t *wm, buf_t *out) {
    buf_printf(out, "AISPM evidence room copy | room %s | auditor %s | downloaded %s | download %s", wm->room_ref,
               wm->auditor_ref, wm->downloaded_at, wm->download_id);
}

/* ------------------------------------------------------------------------ */
/* PDF tokenizer                                                             */

typedef struct {
    const char *s;
    size_t n;
} pdf_t;

static bool is_ws(char c) { return c == 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
static bool is_delim(char c) { return strchr("()<>[]{}/%", c) != NULL && c != 0; }

static size_t skip_ws(const pdf_t *p, size_t i) {
    while (i < p->n) {
        if (is_ws(p->s[i])) {
            i++;
        } else if (p->s[i] == '%') {
            while (i < p->n && p->s[i] != '\n' && p->s[i] != '\r') i++;
        } else {
            break;
        }
    }
    return i;
}

static bool read_int(const pdf_t *p, size_t *i, long long *v) {
    size_t j = *i;
    if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') return false;
    long long x = 0;
    while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') {
        if (x > 1000000000000LL) return false;
        x = x * 10 + (p->s[j] - '0');
        j++;
    }
    *v = x;
    *i = j;
    return true;
}

static bool starts(const pdf_t *p, size_t i, const char *lit) {
    size_t l = strlen(lit);
    return i + l <= p->n && memcmp(p->s + i, lit, l) == 0;
}

/* end (exclusive) of the value starting at i (after whitespace), 0 on error */
static size_t value_end(const pdf_t *p, size_t i, int depth) {
    if (depth > 64 || i >= p->n) return 0;
    char c = p->s[i];
    if (c == '<' && starts(p, i, "<<")) {
        i += 2;
        for (;;) {
            i = skip_ws(p, i);
            if (i >= p->n) return 0;
            if (starts(p, i, ">>")) return i + 2;
            size_t e = value_end(p, i, depth + 1);
            if (!e) return 0;
            i = e;
        }
    }
    if (c == '<') {
        const char *e = memchr(p->s + i, '>', p->n - i);
        return e ? (size_t)(e - p->s) + 1 : 0;
    }
    if (c == '[') {
        i++;
        for (;;) {
            i = skip_ws(p, i);
            if (i >= p->n) return 0;
            if (p->s[i] == ']') return i + 1;
            size_t e = value_end(p, i, depth + 1);
            if (!e) return 0;
            i = e;
        }
    }
    if (c == '(') {
        int nest = 0;
        for (i++; i < p->n; i++) {
            if (p->s[i] == '\\') i++;
            else if (p->s[i] == '(') nest++;
            else if (p->s[i] == ')' && nest-- == 0) return i + 1;
        }
        return 0;
    }
    if (c == '/') {
        for (i++; i < p->n && !is_ws(p->s[i]) && !is_delim(p->s[i]); i++) {
        }
        return i;
    }
    if (c == ']' || c == '>' || c == ')' || c == '{' || c == '}') return 0;
    /* number or keyword; "a b R" is one value */
    size_t j = i;
    long long a, b;
    if (read_int(p, &j, &a) && (j >= p->n || is_ws(p->s[j]) || is_delim(p->s[j]))) {
        size_t k = skip_ws(p, j);
        if (read_int(p, &k, &b)) {
            k = skip_ws(p, k);
            if (k < p->n && p->s[k] == 'R' && (k + 1 >= p->n || is_ws(p->s[k + 1]) || is_delim(p->s[k + 1])))
                return k + 1;
        }
    }
    for (; i < p->n && !is_ws(p->s[i]) && !is_delim(p->s[i]); i++) {
    }
    return i;
}

/* finds key (with its slash) in the dictionary at [d, dend): value span */
static bool dict_get(const pdf_t *p, size_t d, const char *key, size_t *vs, size_t *ve) {
    if (!starts(p, d, "<<")) return false;
    size_t i = d + 2, kl = strlen(key);
    for (;;) {
        i = skip_ws(p, i);
        if (i >= p->n || starts(p, i, ">>") || p->s[i] != '/') return false;
        size_t ke = value_end(p, i, 1);
        if (!ke) return false;
        size_t v = skip_ws(p, ke);
        size_t e = value_end(p, v, 1);
        if (!e) return false;
        if (ke - i == kl && memcmp(p->s + i, key, kl) == 0) {
            *vs = v;
            *ve = e;
            return true;
        }
        i = e;
    }
}

static bool parse_ref(const pdf_t *p, size_t vs, size_t ve, long long *num) {
    size_t i = vs;
    long long g;
    if (!read_int(p, &i, num)) return false;
    i = skip_ws(p, i);
    if (!read_int(p, &i, &g)) return false;
    i = skip_ws(p, i);
    return i + 1 == ve && p->s[i] == 'R';
}

typedef struct {
    long long size;
    long long *off; /* per object number: byte offset, -1 = none */
    long long *gen;
} xref_t;

/* the dictionary of object num: [*ds, *de); false when absent or not a dict */
static bool object_dict(const pdf_t *p, const xref_t *x, long long num, size_t *ds, size_t *de) {
    if (num <= 0 || num >= x->size || x->off[num] < 0) return false;
    size_t i = (size_t)x->off[num];
    long long n, g;
    if (!read_int(p, &i, &n) || n != num) return false;
    i = skip_ws(p, i);
    if (!read_int(p, &i, &g)) return false;
    i = skip_ws(p, i);
    if (!starts(p, i, "obj")) return false;
    i = skip_ws(p, i + 3);
    if (!starts(p, i, "<<")) return false;
    size_t e = value_end(p, i, 0);
    if (!e) return false;
    *ds = i;
    *de = e;
    return true;
}

/* the value of key in the dictionary at d, following /Parent links when the
 * key is inheritable (Resources, MediaBox) */
static bool inherited(const pdf_t *p, const xref_t *x, size_t d, const char *key, size_t *vs, size_t *ve) {
    for (int depth = 0; depth < MAX_PARENT_DEPTH; depth++) {
        if (dict_get(p, d, key, vs, ve)) return true;
        size_t ps, pe, de;
        long long parent;
        if (!dict_get(p, d, "/Parent", &ps, &pe) || !parse_ref(p, ps, pe, &parent) ||
            !object_dict(p, x, parent, &d, &de))
            return false;
    }
    return false;
}

static int parse_xref(const pdf_t *p, size_t at, xref_t *x, size_t *trailer) {
    size_t i = skip_ws(p, at);
    if (!starts(p, i, "xref")) return AISPM_EINVAL; /* a cross-reference stream */
    i += 4;
    for (;;) {
        i = skip_ws(p, i);
        if (starts(p, i, "trailer")) break;
        long long first, count;
        if (!read_int(p, &i, &first)) return AISPM_EINVAL;
        i = skip_ws(p, i);
        if (!read_int(p, &i, &count) || first < 0 || count < 0 || first + count > MAX_OBJECTS) return AISPM_EINVAL;
        for (long long k = 0; k < count; k++) {
            long long off, gen;
            i = skip_ws(p, i);
            if (!read_int(p, &i, &off)) return AISPM_EINVAL;
            i = skip_ws(p, i);
            if (!read_int(p, &i, &gen)) return AISPM_EINVAL;
            i = skip_ws(p, i);
            if (i >= p->n || (p->s[i] != 'n' && p->s[i] != 'f')) return AISPM_EINVAL;
            long long num = first + k;
            if (num < x->size && x->off[num] == -2) { /* newer sections win */
                x->off[num] = p->s[i] == 'n' && off < (long long)p->n ? off : -1;
                x->gen[num] = gen;
            }
            i++;
        }
    }
    *trailer = skip_ws(p, i + 7);
    return starts(p, *trailer, "<<") ? 0 : AISPM_EINVAL;
}

static void append_span(buf_t *b, const pdf_t *p, size_t s, size_t e) { buf_append(b, p->s + s, e - s); }

/* the resources dictionary of a page with our font added, as text */
static void resources_with_font(const pdf_t *p, const xref_t *x, size_t page, long long font_obj, buf_t *out) {
    size_t vs, ve, rs = 0, re = 0;
    long long ref;
    bool have = inherited(p, x, page, "/Resources", &vs, &ve);
    if (have && parse_ref(p, vs, ve, &ref)) have = object_dict(p, x, ref, &rs, &re);
    else if (have) rs = vs, re = ve, have = starts(p, rs, "<<");
    if (!have) {
        buf_printf(out, "<< /Font << /%s %lld 0 R >> >>", WM_FONT, font_obj);
        return;
    }
    size_t fs, fe, ds, de;
    if (!dict_get(p, rs, "/Font", &fs, &fe)) {
        buf_printf(out, "<< /Font << /%s %lld 0 R >> ", WM_FONT, font_obj);
        append_span(out, p, rs + 2, re);
        return;
    }
    if (parse_ref(p, fs, fe, &ref) && object_dict(p, x, ref, &ds, &de)) {
        append_span(out, p, rs, fs);
        buf_printf(out, "<< /%s %lld 0 R ", WM_FONT, font_obj);
        append_span(out, p, ds + 2, de);
        append_span(out, p, fe, re);
    } else if (starts(p, fs, "<<")) {
        append_span(out, p, rs, fs + 2);
        buf_printf(out, " /%s %lld 0 R ", WM_FONT, font_obj);
        append_span(out, p, fs + 2, re);
    } else {
        buf_printf(out, "<< /Font << /%s %lld 0 R >> >>", WM_FONT, font_obj);
    }
}

static void media_box(const pdf_t *p, const xref_t *x, size_t page, double box[4]) {
    double a4[4] = {0, 0, 595.276, 841.89};
    memcpy(box, a4, sizeof a4);
    size_t vs, ve;
    if (!inherited(p, x, page, "/MediaBox", &vs, &ve) || p->s[vs] != '[' || ve - vs > 200) return;
    char tmp[256];
    memcpy(tmp, p->s + vs + 1, ve - vs - 2);
    tmp[ve - vs - 2] = 0;
    double v[4];
    if (sscanf(tmp, "%lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3]) == 4 && v[2] > v[0] && v[3] > v[1])
        memcpy(box, v, sizeof v);
}

static void pdf_string(buf_t *b, const char *t) {
    buf_putc(b, '(');
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (c == '(' || c == ')' || c == '\\') buf_putc(b, '\\');
        buf_putc(b, c >= 32 && c < 127 ? (char)c : '?');
    }
    buf_putc(b, ')');
}

typedef struct {
    long long num, gen;
    size_t off;
} written_t;

static int cmp_written(const void *a, const void *b) {
    long long x = ((const written_t *)a)->num, y = ((const written_t *)b)->num;
    return x < y ? -1 : x > y;
}

typedef struct {
    buf_t *out;
    written_t *w;
    size_t nw, cap;
} writer_t;

static void obj_begin(writer_t *wr, long long num, long long gen) {
    if (wr->nw == wr->cap) {
        wr->cap = wr->cap ? wr->cap * 2 : 64;
        wr->w = xrealloc(wr->w, wr->cap * sizeof *wr->w);
    }
    wr->w[wr->nw++] = (written_t){num, gen, wr->out->len};
    buf_printf(wr->out, "%lld %lld obj\n", num, gen);
}

static void stream_obj(writer_t *wr, long long num, const buf_t *data) {
    obj_begin(wr, num, 0);
    buf_printf(wr->out, "<< /Length %zu >>\nstream\n", data->len);
    buf_append(wr->out, data->data ? data->data : "", data->len);
    buf_puts(wr->out, "\nendstream\nendobj\n");
}

int watermark_pdf(const char *in, size_t len, const watermark_t *wm, buf_t *out) {
    pdf_t P = {in, len}, *p = &P;
    if (len < 32 || memcmp(in, "%PDF-", 5)) return AISPM_EINVAL;
    /* startxref in the last KiB */
    size_t tail = len > 1024 ? len - 1024 : 0, sx = 0;
    for (size_t i = len - 9; i > tail; i--)
        if (memcmp(in + i, "startxref", 9) == 0) {
            sx = i;
            break;
        }
    if (!sx) return AISPM_EINVAL;
    size_t i = skip_ws(p, sx + 9);
    long long xref_at;
    if (!read_int(p, &i, &xref_at) || xref_at <= 0 || xref_at >= (long long)len) return AISPM_EINVAL;

    /* the newest trailer gives Size, Root, Info, ID */
    size_t tr, vs, ve;
    xref_t X = {0}, *x = &X;
    X.size = 1; /* parse_xref only fills numbers < size: a first pass finds the trailer */
    long long dummy_off = -2, dummy_gen = 0;
    X.off = &dummy_off, X.gen = &dummy_gen;
    int rc = parse_xref(p, (size_t)xref_at, x, &tr);
    if (rc) return rc;
    long long size;
    size_t t2 = 0;
    if (!dict_get(p, tr, "/Size", &vs, &ve) || !(t2 = vs, read_int(p, &t2, &size)) || size < 1 || size > MAX_OBJECTS)
        return AISPM_EINVAL;
    if (dict_get(p, tr, "/Encrypt", &vs, &ve)) return AISPM_EINVAL;
    size_t root_s, root_e;
    if (!dict_get(p, tr, "/Root", &root_s, &root_e)) return AISPM_EINVAL;
    size_t newest_trailer = tr;

    X.size = size;
    X.off = xmalloc((size_t)size * sizeof *X.off);
    X.gen = xcalloc((size_t)size, sizeof *X.gen);
    for (long long k = 0; k < size; k++) X.off[k] = -2;
    long long at = xref_at;
    for (int sec = 0; sec < MAX_XREF_SECTIONS && at > 0; sec++) {
        if (at >= (long long)len || (rc = parse_xref(p, (size_t)at, x, &tr))) break;
        at = 0;
        if (dict_get(p, tr, "/Prev", &vs, &ve)) {
            size_t k = vs;
            long long prev;
            if (read_int(p, &k, &prev)) at = prev;
        }
    }
    if (rc) goto done;

    buf_t text = BUF_INIT, line1 = BUF_INIT, line2 = BUF_INIT;
    buf_printf(&line1, "AISPM evidence room copy - room %s - auditor %s", wm->room_ref, wm->auditor_ref);
    buf_printf(&line2, "Downloaded %s - download id %s - do not redistribute", wm->downloaded_at, wm->download_id);

    buf_append(out, in, len);
    if (in[len - 1] != '\n' && in[len - 1] != '\r') buf_putc(out, '\n');
    writer_t wr = {out, NULL, 0, 0};
    long long next = size;
    long long font_obj = next++, open_obj = next++;
    obj_begin(&wr, font_obj, 0);
    buf_puts(out, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>\nendobj\n");
    buf_t q = BUF_INIT;
    buf_puts(&q, "q");
    stream_obj(&wr, open_obj, &q);
    buf_free(&q);

    int pages = 0;
    for (long long num = 1; num < size; num++) {
        size_t ds, de, ts, te;
        if (X.off[num] < 0 || !object_dict(p, x, num, &ds, &de)) continue;
        if (!dict_get(p, ds, "/Type", &ts, &te) || te - ts != 5 || memcmp(in + ts, "/Page", 5)) continue;
        pages++;
        double box[4];
        media_box(p, x, ds, box);
        long long mark_obj = next++, res_obj = next++;
        buf_t m = BUF_INIT;
        buf_puts(&m, "Q\nq 0.62 0.12 0.12 rg BT /" WM_FONT " 7 Tf ");
        buf_printf(&m, "1 0 0 1 %.2f %.2f Tm ", box[0] + 24, box[3] - 20);
        pdf_string(&m, buf_cstr(&line1));
        buf_printf(&m, " Tj 1 0 0 1 %.2f %.2f Tm ", box[0] + 24, box[3] - 29);
        pdf_string(&m, buf_cstr(&line2));
        buf_puts(&m, " Tj ET Q");
        stream_obj(&wr, mark_obj, &m);
        buf_free(&m);
        buf_reset(&text);
        resources_with_font(p, x, ds, font_obj, &text);
        obj_begin(&wr, res_obj, 0);
        buf_append(out, text.data, text.len);
        buf_puts(out, "\nendobj\n");
        /* the page, rewritten: Contents wrapped, Resources replaced */
        size_t cs = 0, ce = 0, rs = 0, re = 0;
        bool has_c = dict_get(p, ds, "/Contents", &cs, &ce);
        bool has_r = dict_get(p, ds, "/Resources", &rs, &re);
        buf_reset(&text);
        buf_printf(&text, "[%lld 0 R ", open_obj);
        if (has_c && in[cs] == '[') buf_append(&text, in + cs + 1, ce - cs - 2);
        else if (has_c) buf_append(&text, in + cs, ce - cs);
        buf_printf(&text, " %lld 0 R]", mark_obj);
        char resref[40];
        snprintf(resref, sizeof resref, "%lld 0 R", res_obj);
        struct {
            size_t s, e;
            const char *v;
        } ed[2];
        int ne = 0;
        if (has_c) ed[ne++] = (typeof(ed[0])){cs, ce, buf_cstr(&text)};
        if (has_r) ed[ne++] = (typeof(ed[0])){rs, re, resref};
        if (ne == 2 && ed[0].s > ed[1].s) {
            typeof(ed[0]) t = ed[0];
            ed[0] = ed[1], ed[1] = t;
        }
        obj_begin(&wr, num, X.gen[num]);
        size_t pos = ds;
        for (int k = 0; k < ne; k++) {
            append_span(out, p, pos, ed[k].s);
            buf_puts(out, ed[k].v);
            pos = ed[k].e;
        }
        append_span(out, p, pos, de - 2);
        if (!has_c) buf_printf(out, " /Contents %s", buf_cstr(&text));
        if (!has_r) buf_printf(out, " /Resources %s", resref);
        buf_puts(out, " >>\nendobj\n");
    }
    buf_free(&text);
    buf_free(&line1);
    buf_free(&line2);
    if (!pages) {
        free(wr.w);
        rc = AISPM_EINVAL;
        goto done;
    }
    /* cross-reference section of the update, in runs of consecutive numbers */
    qsort(wr.w, wr.nw, sizeof *wr.w, cmp_written);
    size_t xref_off = out->len;
    buf_puts(out, "xref\n");
    for (size_t k = 0; k < wr.nw;) {
        size_t run = 1;
        while (k + run < wr.nw && wr.w[k + run].num == wr.w[k].num + (long long)run) run++;
        buf_printf(out, "%lld %zu\n", wr.w[k].num, run);
        for (size_t j = k; j < k + run; j++) buf_printf(out, "%010zu %05lld n \n", wr.w[j].off, wr.w[j].gen);
        k += run;
    }
    free(wr.w);
    buf_printf(out, "trailer\n<< /Size %lld /Root ", next);
    append_span(out, p, root_s, root_e);
    if (dict_get(p, newest_trailer, "/Info", &vs, &ve)) {
        buf_puts(out, " /Info ");
        append_span(out, p, vs, ve);
    }
    if (dict_get(p, newest_trailer, "/ID", &vs, &ve)) {
        buf_puts(out, " /ID ");
        append_span(out, p, vs, ve);
    }
    buf_printf(out, " /Prev %lld >>\nstartxref\n%zu\n%%%%EOF\n", xref_at, xref_off);
    rc = 0;
done:
    free(X.off);
    free(X.gen);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* other formats                                                             */

static json_object *mark_json(const watermark_t *wm) {
    json_object *o = json_object_new_object();
    buf_t t = BUF_INIT;
    watermark_text(wm, &t);
    json_object_object_add(o, "text", json_object_new_string(buf_cstr(&t)));
    json_object_object_add(o, "room_ref", json_object_new_string(wm->room_ref));
    json_object_object_add(o, "auditor_ref", json_object_new_string(wm->auditor_ref));
    json_object_object_add(o, "downloaded_at", json_object_new_string(wm->downloaded_at));
    json_object_object_add(o, "download_id", json_object_new_string(wm->download_id));
    buf_free(&t);
    return o;
}

static void xml_escape(buf_t *b, const char *s) {
    for (; *s; s++) {
        if (*s == '&') buf_puts(b, "&amp;");
        else if (*s == '<') buf_puts(b, "&lt;");
        else if (*s == '>') buf_puts(b, "&gt;");
        else buf_putc(b, *s);
    }
}

/* reads the whole entry name of an archive; NULL when absent */
static char *zip_read_entry(zip_t *za, const char *name, zip_int64_t *idx, size_t *len) {
    *idx = zip_name_locate(za, name, 0);
    zip_stat_t st;
    if (*idx < 0 || zip_stat_index(za, (zip_uint64_t)*idx, 0, &st) || !(st.valid & ZIP_STAT_SIZE) ||
        st.size > 16 * 1024 * 1024)
        return NULL;
    zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)*idx, 0);
    if (!f) return NULL;
    char *data = xmalloc(st.size + 1);
    zip_int64_t got = zip_fread(f, data, st.size);
    zip_fclose(f);
    if (got != (zip_int64_t)st.size) {
        free(data);
        return NULL;
    }
    data[st.size] = 0;
    *len = st.size;
    return data;
}

/* opens a copy of the archive bytes, lets edit() change it, appends the
 * rewritten archive to out */
static int zip_edit(const char *in, size_t len, int (*edit)(zip_t *, const watermark_t *), const watermark_t *wm,
                    buf_t *out) {
    zip_error_t err;
    zip_error_init(&err);
    void *copy = xmalloc(len ? len : 1);
    memcpy(copy, in, len);
    zip_source_t *src = zip_source_buffer_create(copy, len, 1, &err);
    if (!src) {
        free(copy);
        zip_error_fini(&err);
        return AISPM_ERR;
    }
    zip_source_keep(src);
    zip_t *za = zip_open_from_source(src, 0, &err);
    zip_error_fini(&err);
    if (!za) {
        zip_source_free(src);
        zip_source_free(src);
        return AISPM_EINVAL;
    }
    int rc = edit(za, wm);
    if (rc) {
        zip_discard(za);
        zip_source_free(src);
        return rc;
    }
    if (zip_close(za) < 0) {
        zip_discard(za);
        zip_source_free(src);
        return AISPM_ERR;
    }
    rc = AISPM_ERR;
    if (zip_source_open(src) == 0) {
        char chunk[65536];
        zip_int64_t n;
        while ((n = zip_source_read(src, chunk, sizeof chunk)) > 0) buf_append(out, chunk, (size_t)n);
        rc = n < 0 ? AISPM_ERR : 0;
        zip_source_close(src);
    }
    zip_source_free(src);
    return rc;
}

static int replace_entry(zip_t *za, zip_int64_t idx, buf_t *data) {
    size_t n = data->len;
    char *bytes = buf_steal(data);
    zip_source_t *s = zip_source_buffer(za, bytes, n, 1);
    if (!s) {
        free(bytes);
        return AISPM_ERR;
    }
    if (zip_file_replace(za, (zip_uint64_t)idx, s, 0) < 0) {
        zip_source_free(s);
        return AISPM_ERR;
    }
    return 0;
}

static int edit_core_props(zip_t *za, const watermark_t *wm) {
    zip_int64_t idx;
    size_t n;
    char *xml = zip_read_entry(za, "docProps/core.xml", &idx, &n);
    if (!xml) return AISPM_EINVAL;
    buf_t mark = BUF_INIT, b = BUF_INIT;
    watermark_text(wm, &mark);
    const char *open = strstr(xml, "<dc:description>"), *close = strstr(xml, "</cp:coreProperties>");
    int rc = AISPM_EINVAL;
    if (open) {
        size_t at = (size_t)(open - xml) + strlen("<dc:description>");
        buf_append(&b, xml, at);
        xml_escape(&b, buf_cstr(&mark));
        buf_puts(&b, " | ");
        buf_puts(&b, xml + at);
        rc = 0;
    } else if (close && strstr(xml, "xmlns:dc=")) {
        buf_append(&b, xml, (size_t)(close - xml));
        buf_puts(&b, "<dc:description>");
        xml_escape(&b, buf_cstr(&mark));
        buf_puts(&b, "</dc:description>");
        buf_puts(&b, close);
        rc = 0;
    }
    free(xml);
    buf_free(&mark);
    if (!rc) rc = replace_entry(za, idx, &b);
    buf_free(&b);
    return rc;
}

static int edit_add_entry(zip_t *za, const watermark_t *wm) {
    buf_t b = BUF_INIT;
    watermark_text(wm, &b);
    buf_putc(&b, '\n');
    size_t n = b.len;
    char *bytes = buf_steal(&b);
    zip_source_t *s = zip_source_buffer(za, bytes, n, 1);
    if (!s) {
        free(bytes);
        return AISPM_ERR;
    }
    if (zip_file_add(za, "AISPM-WATERMARK.txt", s, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) < 0) {
        zip_source_free(s);
        return AISPM_ERR;
    }
    return 0;
}

int watermark_apply(const char *format, const char *in, size_t len, const watermark_t *wm, buf_t *out) {
    buf_t mark = BUF_INIT;
    int rc = 0;
    watermark_text(wm, &mark);
    if (!strcmp(format, "pdf")) {
        rc = watermark_pdf(in, len, wm, out);
    } else if (!strcmp(format, "csv")) {
        /* a comment row; its one field is quoted so it stays one cell */
        buf_puts(out, "\"# ");
        buf_puts(out, buf_cstr(&mark));
        buf_puts(out, "\"\r\n");
        buf_append(out, in, len);
    } else if (!strcmp(format, "json")) {
        /* the original text is kept byte for byte as the value of "content" */
        json_object *o = mark_json(wm);
        buf_puts(out, "{\"aispm_watermark\":");
        buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        buf_puts(out, ",\"content\":");
        buf_append(out, in, len);
        buf_puts(out, "}\n");
        json_object_put(o);
    } else if (!strcmp(format, "jsonl")) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "aispm_watermark", mark_json(wm));
        buf_puts(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        buf_putc(out, '\n');
        json_object_put(o);
        buf_append(out, in, len);
    } else if (!strcmp(format, "html")) {
        const char *body = strstr(in, "<body");
        const char *gt = body ? strchr(body, '>') : NULL;
        size_t at = gt ? (size_t)(gt - in) + 1 : 0;
        buf_append(out, in, at);
        buf_puts(out, "\n<p class=\"aispm-watermark\" role=\"note\"><strong>");
        xml_escape(out, buf_cstr(&mark));
        buf_puts(out, "</strong></p>\n");
        buf_append(out, in + at, len - at);
    } else if (!strcmp(format, "md") || !strcmp(format, "markdown")) {
        buf_puts(out, "> **");
        buf_puts(out, buf_cstr(&mark));
        buf_puts(out, "**\n\n");
        buf_append(out, in, len);
    } else if (!strcmp(format, "xlsx") || !strcmp(format, "docx")) {
        rc = zip_edit(in, len, edit_core_props, wm, out);
    } else if (!strcmp(format, "zip")) {
        rc = zip_edit(in, len, edit_add_entry, wm, out);
    } else {
        rc = AISPM_EINVAL;
    }
    buf_free(&mark);
    return rc;
}
