/*
 * template.c: compile-once, auto-escaping template engine (see template.h).
 *
 * Invariants:
 * - A template is compiled once into a flat, pre-order node array. A block
 *   node (if/unless/each) at index i owns the nodes [i+1, alt) as its main
 *   body and [alt, next) as its {{else}} body; every node's `next` is the
 *   index just past its subtree (i+1 for leaves). Rendering is therefore a
 *   linear walk, recursing only into block bodies and includes. Comments
 *   produce no node; adjacent text (e.g. around a comment) is merged.
 * - Every string needed at render time (literal text, path segments, include
 *   names) lives in one pool owned by the template; nodes refer to it by
 *   offset. Path segments and include names are NUL-terminated in the pool,
 *   so segments go straight to json_object_object_get_ex.
 * - Rendering never parses and never allocates except by appending to the
 *   output buffer. (json-c caches the serialisation of doubles, objects and
 *   arrays inside the json_object itself; ints, strings and booleans are
 *   formatted here without allocation.)
 * - Every value reaches the output through exactly one escaper, chosen at
 *   compile time from the tag's filter; only `raw` bypasses escaping.
 * - The scope stack is a fixed array of SCOPE_MAX frames. Frame 0 is the data
 *   passed to tmpl_render (`@root`); each {{#each}} pushes one frame holding
 *   the current item, its index and the item count (index -1 marks a frame
 *   that is not a loop item). A plain name is looked up on each frame from
 *   the innermost outward; the first object that has the key wins, even if
 *   the value there is null.
 * - Includes share the caller's scope stack and are resolved by name at
 *   render time (hash precomputed at compile time). At most INCLUDE_MAX
 *   includes nest, so a cycle fails with AISPM_ERR instead of overflowing
 *   the C stack; too many nested {{#each}} scopes also give AISPM_ERR; an
 *   include of an unknown template gives AISPM_ENOTFOUND.
 * - On any render error the output buffer is truncated back to its length on
 *   entry, so callers never emit half a page.
 * - A set is an open-addressing hash table (power-of-two capacity, load at
 *   most 1/2) mapping name -> compiled template; it owns its templates.
 */
#include "render/template.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"

#define SCOPE_MAX 32        /* scope frames: root + nested {{#each}} */
#define INCLUDE_MAX 16      /* nested {{> include}} */
#define BLOCK_MAX 64        /* nested block tags inside one template */
#define DIR_DEPTH_MAX 16    /* sub-folder depth for tmpl_set_load */
#define SOURCE_MAX (64u << 20)

/* node kinds */
enum { N_TEXT, N_VAR, N_IF, N_UNLESS, N_EACH, N_INCLUDE };
/* filters; `attr` compiles to F_HTML (identical escaping) */
enum { F_HTML, F_URL, F_JS, F_RAW, F_JSON, F_MD };
/* path kinds */
enum { P_NAME, P_DOT, P_ROOT, P_INDEX, P_FIRST, P_LAST };
/* value kinds seen while rendering */
enum { V_MISSING, V_JSON, V_INT, V_BOOL };

typedef struct {
    uint32_t off; /* pool offset of the NUL-terminated segment */
    int32_t idx;  /* array index when the segment is all digits, else -1 */
} seg_t;

typedef struct {
    uint8_t kind;
    uint8_t filter; /* N_VAR */
    uint8_t pkind;  /* N_VAR, N_IF, N_UNLESS, N_EACH */
    uint32_t line;
    uint32_t off, len;   /* N_TEXT: text; N_INCLUDE: name (NUL-terminated) */
    uint32_t seg0, nseg; /* path segments in tmpl_t.segs */
    uint32_t hash;       /* N_INCLUDE: hash of the name */
    uint32_t alt, next;  /* see the header comment */
} node_t;

typedef struct {
    node_t *nodes;
    uint32_t nnodes;
    seg_t *segs;
    char *pool;
} tmpl_t;

typedef struct {
    char *name; /* NULL marks a free slot */
    size_t len;
    uint32_t hash;
    tmpl_t *t;
} entry_t;

struct tmpl_set {
    entry_t *tab;
    size_t cap; /* 0 or a power of two */
    size_t count;
};

/* ------------------------------------------------------------------------ */
/* escapers                                                                  */

static const char HEX[] = "0123456789ABCDEF";

void html_escape(buf_t *out, const char *s, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        size_t rlen;
        switch (s[i]) {
        case '&': rep = "&amp;", rlen = 5; break;
        case '<': rep = "&lt;", rlen = 4; break;
        case '>': rep = "&gt;", rlen = 4; break;
        case '"': rep = "&quot;", rlen = 6; break;
        case '\'': rep = "&#39;", rlen = 5; break;
        default: continue;
        }
        if (i > start) buf_append(out, s + start, i - start);
        buf_append(out, rep, rlen);
        start = i + 1;
    }
    if (len > start) buf_append(out, s + start, len - start);
}

void md_escape(buf_t *out, const char *s, size_t len) {
    /* leading digits followed by '.' or ')' would start an ordered list */
    size_t digits = 0;
    while (digits < len && s[digits] >= '0' && s[digits] <= '9') digits++;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\': case '`': case '*': case '_': case '{': case '}': case '[': case ']': case '(': case ')':
        case '<': case '>': case '#': case '|': case '!': case '&': case '~': case '"': case '\'':
            buf_putc(out, '\\');
            buf_putc(out, (char)c);
            break;
        case '-': case '+': case '=':
            if (i == 0) buf_putc(out, '\\');
            buf_putc(out, (char)c);
            break;
        case '.':
            if (digits && i == digits) buf_putc(out, '\\');
            buf_putc(out, (char)c);
            break;
        case '\r': case '\n': case '\t': buf_putc(out, ' '); break;
        default: buf_putc(out, (char)c);
        }
    }
}

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

void url_escape(buf_t *out, const char *s, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c)) continue;
        if (i > start) buf_append(out, s + start, i - start);
        char e[3] = {'%', HEX[c >> 4], HEX[c & 15]};
        buf_append(out, e, 3);
        start = i + 1;
    }
    if (len > start) buf_append(out, s + start, len - start);
}

/* JSON string literal that is also safe inside <script> and HTML attributes:
 * < > & ' become \u escapes, as do U+2028/U+2029 (line terminators in older
 * JavaScript) and all control characters. */
static void js_quote(buf_t *out, const char *s, size_t len) {
    buf_putc(out, '"');
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[6];
        const char *rep = tmp;
        size_t rlen = 2, skip = 1;
        switch (c) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '<': rep = "\\u003c", rlen = 6; break;
        case '>': rep = "\\u003e", rlen = 6; break;
        case '&': rep = "\\u0026", rlen = 6; break;
        case '\'': rep = "\\u0027", rlen = 6; break;
        case 0xE2:
            if (i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
                ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
                rep = (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
                rlen = 6, skip = 3;
                break;
            }
            continue;
        default:
            if (c >= 0x20 && c != 0x7F) continue;
            memcpy(tmp, "\\u00", 4);
            tmp[4] = HEX[c >> 4], tmp[5] = HEX[c & 15];
            rlen = 6;
            break;
        }
        if (i > start) buf_append(out, s + start, i - start);
        buf_append(out, rep, rlen);
        i += skip - 1;
        start = i + 1;
    }
    if (len > start) buf_append(out, s + start, len - start);
    buf_putc(out, '"');
}

/* ------------------------------------------------------------------------ */
/* small helpers                                                             */

static uint32_t name_hash(const char *s, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n) {
    while (*n && is_ws(**s)) (*s)++, (*n)--;
    while (*n && is_ws((*s)[*n - 1])) (*n)--;
}

static uint32_t count_nl(const char *s, size_t n) {
    uint32_t k = 0;
    for (const char *p = s, *e = s + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) k++;
    return k;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *str_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_fmt(const char *fmt, ...) {
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return buf_steal(&b);
}

static void tmpl_free(tmpl_t *t) {
    if (!t) return;
    free(t->nodes);
    free(t->segs);
    free(t->pool);
    free(t);
}

/* ------------------------------------------------------------------------ */
/* template set (hash table)                                                 */

static const tmpl_t *set_find(const tmpl_set_t *set, const char *name, size_t len, uint32_t h) {
    if (!set || !set->cap) return NULL;
    for (size_t i = h & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        const entry_t *e = &set->tab[i];
        if (!e->name) return NULL;
        if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0) return e->t;
    }
}

/* takes ownership of t on success; AISPM_ECONFLICT if the name exists and
 * !replace (t is then left to the caller) */
static int set_put(tmpl_set_t *set, const char *name, size_t len, tmpl_t *t, bool replace) {
    uint32_t h = name_hash(name, len);
    if ((set->count + 1) * 2 > set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 16;
        entry_t *nt = xcalloc(ncap, sizeof *nt);
        for (size_t i = 0; i < set->cap; i++) {
            entry_t *e = &set->tab[i];
            if (!e->name) continue;
            size_t j = e->hash & (ncap - 1);
            while (nt[j].name) j = (j + 1) & (ncap - 1);
            nt[j] = *e;
        }
        free(set->tab);
        set->tab = nt, set->cap = ncap;
    }
    size_t i = h & (set->cap - 1);
    for (; set->tab[i].name; i = (i + 1) & (set->cap - 1)) {
        entry_t *e = &set->tab[i];
        if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0) {
            if (!replace) return AISPM_ECONFLICT;
            tmpl_free(e->t);
            e->t = t;
            return 0;
        }
    }
    set->tab[i] = (entry_t){xstrndup(name, len), len, h, t};
    set->count++;
    return 0;
}

void tmpl_set_free(tmpl_set_t *set) {
    if (!set) return;
    for (size_t i = 0; i < set->cap; i++) {
        if (!set->tab[i].name) continue;
        free(set->tab[i].name);
        tmpl_free(set->tab[i].t);
    }
    free(set->tab);
    free(set);
}

/* ------------------------------------------------------------------------ */
/* compiler                                                                  */

typedef struct {
    uint32_t node;
    uint32_t line;
    uint8_t kind;
    bool has_else;
} open_block_t;

typedef struct {
    const char *name; /* for messages */
    char *err;
    size_t errlen;
    node_t *nodes;
    uint32_t nnodes, capnodes;
    seg_t *segs;
    uint32_t nsegs, capsegs;
    buf_t pool;
    uint32_t merge; /* 1 + index of a text node later text may extend, or 0 */
    open_block_t open[BLOCK_MAX];
    int depth;
} comp_t;

static int cerr(comp_t *c, uint32_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cerr(comp_t *c, uint32_t line, const char *fmt, ...) {
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s:%" PRIu32 ": ", c->name, line);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return AISPM_EINVAL;
}

static const char *block_kw(uint8_t kind) {
    return kind == N_IF ? "if" : kind == N_UNLESS ? "unless" : "each";
}

static int block_kind(const char *s, size_t n) {
    if (n == 2 && memcmp(s, "if", 2) == 0) return N_IF;
    if (n == 6 && memcmp(s, "unless", 6) == 0) return N_UNLESS;
    if (n == 4 && memcmp(s, "each", 4) == 0) return N_EACH;
    return -1;
}

/* appends a node and returns its index (pointers into c->nodes are
 * invalidated) */
static uint32_t new_node(comp_t *c, uint8_t kind, uint32_t line) {
    if (c->nnodes == c->capnodes) {
        c->capnodes = c->capnodes ? c->capnodes * 2 : 32;
        c->nodes = xrealloc(c->nodes, c->capnodes * sizeof *c->nodes);
    }
    uint32_t i = c->nnodes++;
    c->nodes[i] = (node_t){.kind = kind, .line = line, .next = i + 1};
    return i;
}

static uint32_t pool_str(comp_t *c, const char *s, size_t n) {
    uint32_t off = (uint32_t)c->pool.len;
    buf_append(&c->pool, s, n);
    buf_putc(&c->pool, '\0');
    return off;
}

static void add_text(comp_t *c, const char *s, size_t n) {
    if (c->merge) {
        node_t *last = &c->nodes[c->merge - 1];
        if (last->off + last->len == c->pool.len) {
            buf_append(&c->pool, s, n);
            last->len += (uint32_t)n;
            return;
        }
    }
    uint32_t i = new_node(c, N_TEXT, 0);
    c->nodes[i].off = (uint32_t)c->pool.len;
    c->nodes[i].len = (uint32_t)n;
    buf_append(&c->pool, s, n);
    c->merge = i + 1;
}

static void add_seg(comp_t *c, const char *s, size_t n) {
    if (c->nsegs == c->capsegs) {
        c->capsegs = c->capsegs ? c->capsegs * 2 : 16;
        c->segs = xrealloc(c->segs, c->capsegs * sizeof *c->segs);
    }
    int32_t idx = n <= 9 ? 0 : -1; /* all-digit segments of <= 9 digits index arrays */
    for (size_t i = 0; i < n && idx >= 0; i++)
        idx = (s[i] >= '0' && s[i] <= '9') ? idx * 10 + (s[i] - '0') : -1;
    c->segs[c->nsegs++] = (seg_t){pool_str(c, s, n), idx};
}

static bool seg_char(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* parses `.`, `@index`, `@first`, `@last`, `@root[.a.b]` or `a[.b.c]` into
 * the path fields of *nd */
static int parse_path(comp_t *c, uint32_t line, const char *s, size_t n, node_t *nd) {
    if (n == 0) return cerr(c, line, "missing path");
    if (n == 1 && s[0] == '.') {
        nd->pkind = P_DOT;
        return 0;
    }
    nd->pkind = P_NAME;
    nd->seg0 = c->nsegs;
    size_t i = 0;
    if (s[0] == '@') {
        size_t j = 1;
        while (j < n && s[j] != '.') j++;
        const char *w = s + 1;
        size_t wl = j - 1;
        if (wl == 4 && memcmp(w, "root", 4) == 0) {
            nd->pkind = P_ROOT;
            if (j == n) return 0;
            i = j + 1;
            if (i == n) return cerr(c, line, "invalid path '%.*s'", (int)(n > 60 ? 60 : n), s);
        } else {
            if (wl == 5 && memcmp(w, "index", 5) == 0) nd->pkind = P_INDEX;
            else if (wl == 5 && memcmp(w, "first", 5) == 0) nd->pkind = P_FIRST;
            else if (wl == 4 && memcmp(w, "last", 4) == 0) nd->pkind = P_LAST;
            else return cerr(c, line, "unknown variable '@%.*s'", (int)(wl > 60 ? 60 : wl), w);
            if (j != n) return cerr(c, line, "'@%.*s' has no fields", (int)wl, w);
            return 0;
        }
    }
    for (;;) {
        size_t st = i;
        while (i < n && seg_char(s[i])) i++;
        if (i == st || (i < n && s[i] != '.') || (i < n && i + 1 == n))
            return cerr(c, line, "invalid path '%.*s'", (int)(n > 60 ? 60 : n), s);
        add_seg(c, s + st, i - st);
        nd->nseg++;
        if (i == n) return 0;
        i++;
    }
}

static int parse_filter(comp_t *c, uint32_t line, const char *s, size_t n, uint8_t *f) {
    static const struct {
        const char *name;
        uint8_t f;
    } filters[] = {{"attr", F_HTML}, {"url", F_URL}, {"js", F_JS}, {"raw", F_RAW}, {"json", F_JSON}, {"md", F_MD}};
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (strlen(filters[i].name) == n && memcmp(filters[i].name, s, n) == 0) {
            *f = filters[i].f;
            return 0;
        }
    }
    if (n == 0) return cerr(c, line, "missing filter after '|'");
    return cerr(c, line, "unknown filter '%.*s'", (int)(n > 60 ? 60 : n), s);
}

static size_t word_len(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) i++;
    return i;
}

static int tag_open(comp_t *c, uint32_t line, const char *s, size_t n) {
    size_t wl = word_len(s, n);
    int kind = block_kind(s, wl);
    if (kind < 0) return cerr(c, line, "unknown block '{{#%.*s}}'", (int)(wl > 60 ? 60 : wl), s);
    if (c->depth == BLOCK_MAX) return cerr(c, line, "blocks nested too deeply");
    const char *p = s + wl;
    size_t pl = n - wl;
    if (pl && !is_ws(*p)) return cerr(c, line, "invalid {{#%s}} tag", block_kw((uint8_t)kind));
    trim(&p, &pl);
    node_t nd = {0};
    if (!pl) return cerr(c, line, "{{#%s}} needs a path", block_kw((uint8_t)kind));
    int rc = parse_path(c, line, p, pl, &nd);
    if (rc) return rc;
    uint32_t i = new_node(c, (uint8_t)kind, line);
    c->nodes[i].pkind = nd.pkind, c->nodes[i].seg0 = nd.seg0, c->nodes[i].nseg = nd.nseg;
    c->open[c->depth++] = (open_block_t){i, line, (uint8_t)kind, false};
    return 0;
}

static int tag_close(comp_t *c, uint32_t line, const char *s, size_t n) {
    size_t wl = word_len(s, n);
    int kind = block_kind(s, wl);
    if (kind < 0 || wl != n) return cerr(c, line, "invalid closing tag '{{/%.*s}}'", (int)(n > 60 ? 60 : n), s);
    if (c->depth == 0) return cerr(c, line, "{{/%s}} without matching {{#%s}}", block_kw((uint8_t)kind), block_kw((uint8_t)kind));
    open_block_t *ob = &c->open[c->depth - 1];
    if (ob->kind != kind)
        return cerr(c, line, "{{/%s}} does not match {{#%s}} opened on line %" PRIu32,
                    block_kw((uint8_t)kind), block_kw(ob->kind), ob->line);
    node_t *nd = &c->nodes[ob->node];
    nd->next = c->nnodes;
    if (!ob->has_else) nd->alt = c->nnodes;
    c->depth--;
    return 0;
}

static int tag_include(comp_t *c, uint32_t line, const char *s, size_t n) {
    trim(&s, &n);
    if (!n) return cerr(c, line, "{{>}} needs a template name");
    for (size_t i = 0; i < n; i++)
        if (!seg_char(s[i]) && s[i] != '/' && s[i] != '.')
            return cerr(c, line, "invalid template name '%.*s'", (int)(n > 60 ? 60 : n), s);
    uint32_t i = new_node(c, N_INCLUDE, line);
    c->nodes[i].off = pool_str(c, s, n);
    c->nodes[i].len = (uint32_t)n;
    c->nodes[i].hash = name_hash(s, n);
    return 0;
}

static int tag_var(comp_t *c, uint32_t line, const char *s, size_t n) {
    const char *bar = memchr(s, '|', n);
    size_t pl = bar ? (size_t)(bar - s) : n;
    const char *p = s;
    trim(&p, &pl);
    node_t nd = {0};
    nd.filter = F_HTML;
    if (bar) {
        const char *f = bar + 1;
        size_t fl = n - (size_t)(f - s);
        trim(&f, &fl);
        int rc = parse_filter(c, line, f, fl, &nd.filter);
        if (rc) return rc;
    }
    int rc = parse_path(c, line, p, pl, &nd);
    if (rc) return rc;
    uint32_t i = new_node(c, N_VAR, line);
    c->nodes[i].filter = nd.filter;
    c->nodes[i].pkind = nd.pkind, c->nodes[i].seg0 = nd.seg0, c->nodes[i].nseg = nd.nseg;
    return 0;
}

/* one {{ ... }} tag other than a comment; s/n is the text between braces */
static int tag(comp_t *c, uint32_t line, const char *s, size_t n) {
    c->merge = 0; /* text after a tag never extends text before it */
    trim(&s, &n);
    if (!n) return cerr(c, line, "empty tag");
    switch (s[0]) {
    case '{': return cerr(c, line, "triple braces are not supported; use {{ path | raw }}");
    case '#': return tag_open(c, line, s + 1, n - 1);
    case '/': return tag_close(c, line, s + 1, n - 1);
    case '>': return tag_include(c, line, s + 1, n - 1);
    default: break;
    }
    if (n == 4 && memcmp(s, "else", 4) == 0) {
        if (c->depth == 0) return cerr(c, line, "{{else}} outside a block");
        open_block_t *ob = &c->open[c->depth - 1];
        if (ob->has_else) return cerr(c, line, "second {{else}} in {{#%s}}", block_kw(ob->kind));
        ob->has_else = true;
        c->nodes[ob->node].alt = c->nnodes;
        return 0;
    }
    return tag_var(c, line, s, n);
}

static int compile(const char *name, const char *src, size_t len, tmpl_t **out, char *err,
                   size_t errlen) {
    comp_t c = {.name = name, .err = err, .errlen = errlen};
    uint32_t line = 1;
    size_t pos = 0;
    int rc = 0;
    *out = NULL;
    if (len > SOURCE_MAX) {
        rc = cerr(&c, 1, "template too large");
        goto fail;
    }
    while (pos < len) {
        const char *open = memmem(src + pos, len - pos, "{{", 2);
        size_t tpos = open ? (size_t)(open - src) : len;
        if (tpos > pos) {
            add_text(&c, src + pos, tpos - pos);
            line += count_nl(src + pos, tpos - pos);
        }
        if (!open) break;
        uint32_t tline = line;
        size_t p = tpos + 2;
        if (p < len && src[p] == '!') {
            bool dashed = len - p >= 3 && src[p + 1] == '-' && src[p + 2] == '-';
            const char *term = dashed ? "--}}" : "}}";
            size_t tl = dashed ? 4 : 2, from = dashed ? p + 3 : p + 1;
            const char *e = memmem(src + from, len - from, term, tl);
            if (!e) {
                rc = cerr(&c, tline, "unterminated comment");
                goto fail;
            }
            line += count_nl(src + p, (size_t)(e - src) - p);
            pos = (size_t)(e - src) + tl;
            continue;
        }
        const char *e = memmem(src + p, len - p, "}}", 2);
        if (!e) {
            rc = cerr(&c, tline, "unterminated tag");
            goto fail;
        }
        size_t epos = (size_t)(e - src);
        line += count_nl(src + p, epos - p);
        pos = epos + 2;
        rc = tag(&c, tline, src + p, epos - p);
        if (rc) goto fail;
    }
    if (c.depth) {
        open_block_t *ob = &c.open[c.depth - 1];
        rc = cerr(&c, ob->line, "unclosed {{#%s}}", block_kw(ob->kind));
        goto fail;
    }
    tmpl_t *t = xcalloc(1, sizeof *t);
    t->nodes = c.nodes;
    t->nnodes = c.nnodes;
    t->segs = c.segs;
    t->pool = buf_steal(&c.pool);
    *out = t;
    return 0;
fail:
    free(c.nodes);
    free(c.segs);
    buf_free(&c.pool);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* renderer                                                                  */

typedef struct {
    struct json_object *v;
    int64_t index; /* -1: not a loop item */
    int64_t count;
} frame_t;

typedef struct {
    const tmpl_set_t *set;
    buf_t *out;
    int nfr;
    int incl;
    frame_t fr[SCOPE_MAX];
} rctx_t;

typedef struct {
    int k;
    struct json_object *j;
    int64_t n;
} val_t;

static val_t lookup(const rctx_t *r, const tmpl_t *t, const node_t *n) {
    val_t v = {V_MISSING, NULL, 0};
    const frame_t *top = &r->fr[r->nfr - 1];
    struct json_object *cur = NULL;
    uint32_t i = 0;
    switch (n->pkind) {
    case P_DOT:
        v.k = V_JSON, v.j = top->v;
        return v;
    case P_INDEX:
        if (top->index >= 0) v.k = V_INT, v.n = top->index;
        return v;
    case P_FIRST:
        if (top->index >= 0) v.k = V_BOOL, v.n = top->index == 0;
        return v;
    case P_LAST:
        if (top->index >= 0) v.k = V_BOOL, v.n = top->index == top->count - 1;
        return v;
    case P_ROOT:
        cur = r->fr[0].v;
        break;
    default: { /* P_NAME: first segment searched from the innermost scope out */
        const char *key = t->pool + t->segs[n->seg0].off;
        int f = r->nfr - 1;
        for (; f >= 0; f--) {
            struct json_object *o = r->fr[f].v;
            if (json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &cur))
                break;
        }
        if (f < 0) return v;
        i = 1;
        break;
    }
    }
    for (; i < n->nseg; i++) {
        const seg_t *sg = &t->segs[n->seg0 + i];
        if (json_object_is_type(cur, json_type_object)) {
            if (!json_object_object_get_ex(cur, t->pool + sg->off, &cur)) return v;
        } else if (json_object_is_type(cur, json_type_array) && sg->idx >= 0 &&
                   (size_t)sg->idx < json_object_array_length(cur)) {
            cur = json_object_array_get_idx(cur, (size_t)sg->idx);
        } else {
            return v;
        }
    }
    v.k = V_JSON, v.j = cur;
    return v;
}

static bool truthy(const val_t *v) {
    switch (v->k) {
    case V_MISSING: return false;
    case V_INT:
    case V_BOOL: return v->n != 0;
    default: break;
    }
    struct json_object *j = v->j;
    switch (json_object_get_type(j)) {
    case json_type_boolean: return json_object_get_boolean(j);
    case json_type_int: return json_object_get_int64(j) != 0;
    case json_type_double: {
        double d = json_object_get_double(j);
        return d == d && d != 0.0; /* NaN is falsy */
    }
    case json_type_string: return json_object_get_string_len(j) > 0;
    case json_type_array: return json_object_array_length(j) > 0;
    case json_type_object: return json_object_object_length(j) > 0;
    default: return false; /* null */
    }
}

static const char *fmt_int(struct json_object *j, char tmp[32], size_t *len) {
    int64_t i = json_object_get_int64(j);
    int n = i == INT64_MAX ? snprintf(tmp, 32, "%" PRIu64, json_object_get_uint64(j))
                           : snprintf(tmp, 32, "%" PRId64, i);
    *len = (size_t)n;
    return tmp;
}

/* the text form of a value, before escaping */
static const char *val_text(const val_t *v, char tmp[32], size_t *len) {
    switch (v->k) {
    case V_MISSING: *len = 0; return "";
    case V_INT: *len = (size_t)snprintf(tmp, 32, "%" PRId64, v->n); return tmp;
    case V_BOOL: *len = v->n ? 4 : 5; return v->n ? "true" : "false";
    default: break;
    }
    struct json_object *j = v->j;
    switch (json_object_get_type(j)) {
    case json_type_null: *len = 0; return "";
    case json_type_string:
        *len = (size_t)json_object_get_string_len(j);
        return json_object_get_string(j);
    case json_type_boolean:
        *len = json_object_get_boolean(j) ? 4 : 5;
        return json_object_get_boolean(j) ? "true" : "false";
    case json_type_int: return fmt_int(j, tmp, len);
    case json_type_double: return json_object_to_json_string_length(j, JSON_C_TO_STRING_PLAIN, len);
    default: /* object, array */
        return json_object_to_json_string_length(
            j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
    }
}

static void emit(buf_t *out, const val_t *v, uint8_t filter) {
    char tmp[32];
    size_t len;
    const char *s;
    if (filter == F_JSON) {
        if (v->k == V_MISSING) return;
        if (v->k == V_JSON && !json_object_is_type(v->j, json_type_int)) {
            s = json_object_to_json_string_length(
                v->j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
            html_escape(out, s, len);
            return;
        }
    }
    s = val_text(v, tmp, &len);
    switch (filter) {
    case F_URL:
        /* url_escape only emits [A-Za-z0-9._~%-], on which HTML escaping is
         * the identity, so the "then HTML-escaped" step is implicit */
        url_escape(out, s, len);
        break;
    case F_JS: js_quote(out, s, len); break;
    case F_RAW: buf_append(out, s, len); break;
    case F_MD: md_escape(out, s, len); break;
    default: html_escape(out, s, len); break;
    }
}

static int render_nodes(rctx_t *r, const tmpl_t *t, uint32_t i, uint32_t end);

static int render_each(rctx_t *r, const tmpl_t *t, const node_t *n, uint32_t i) {
    val_t v = lookup(r, t, n);
    struct json_object *c = v.k == V_JSON ? v.j : NULL;
    bool arr = json_object_is_type(c, json_type_array);
    size_t count = arr ? json_object_array_length(c)
                   : json_object_is_type(c, json_type_object) ? (size_t)json_object_object_length(c)
                                                              : 0;
    if (count == 0) return render_nodes(r, t, n->alt, n->next);
    if (r->nfr >= SCOPE_MAX) return AISPM_ERR;
    frame_t *f = &r->fr[r->nfr++];
    f->count = (int64_t)count;
    int rc = 0;
    if (arr) {
        for (size_t k = 0; k < count && !rc; k++) {
            f->v = json_object_array_get_idx(c, k);
            f->index = (int64_t)k;
            rc = render_nodes(r, t, i + 1, n->alt);
        }
    } else {
        int64_t k = 0;
        json_object_object_foreach(c, key, val) {
            (void)key;
            f->v = val;
            f->index = k++;
            rc = render_nodes(r, t, i + 1, n->alt);
            if (rc) break;
        }
    }
    r->nfr--;
    return rc;
}

static int render_nodes(rctx_t *r, const tmpl_t *t, uint32_t i, uint32_t end) {
    while (i < end) {
        const node_t *n = &t->nodes[i];
        int rc = 0;
        switch (n->kind) {
        case N_TEXT: buf_append(r->out, t->pool + n->off, n->len); break;
        case N_VAR: {
            val_t v = lookup(r, t, n);
            emit(r->out, &v, n->filter);
            break;
        }
        case N_IF:
        case N_UNLESS: {
            val_t v = lookup(r, t, n);
            if (truthy(&v) == (n->kind == N_IF)) rc = render_nodes(r, t, i + 1, n->alt);
            else rc = render_nodes(r, t, n->alt, n->next);
            break;
        }
        case N_EACH: rc = render_each(r, t, n, i); break;
        case N_INCLUDE: {
            if (r->incl >= INCLUDE_MAX) return AISPM_ERR;
            const tmpl_t *sub = set_find(r->set, t->pool + n->off, n->len, n->hash);
            if (!sub) return AISPM_ENOTFOUND;
            r->incl++;
            rc = render_nodes(r, sub, 0, sub->nnodes);
            r->incl--;
            break;
        }
        default: return AISPM_ERR;
        }
        if (rc) return rc;
        i = n->next;
    }
    return 0;
}

int tmpl_render(const tmpl_set_t *set, const char *name, struct json_object *data, buf_t *out) {
    if (!name || !out) return AISPM_EINVAL;
    size_t nl = strlen(name);
    const tmpl_t *t = set_find(set, name, nl, name_hash(name, nl));
    if (!t) return AISPM_ENOTFOUND;
    rctx_t r;
    r.set = set, r.out = out, r.nfr = 1, r.incl = 0;
    r.fr[0] = (frame_t){data, -1, 0};
    size_t start = out->len;
    int rc = render_nodes(&r, t, 0, t->nnodes);
    if (rc) {
        out->len = start;
        if (out->data) out->data[start] = '\0';
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* set construction                                                          */

int tmpl_set_add(tmpl_set_t **set, const char *name, const char *source, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (!set || !name || !*name || !source) {
        set_err(err, errlen, "%s: invalid arguments", name ? name : "(null)");
        return AISPM_EINVAL;
    }
    tmpl_t *t;
    int rc = compile(name, source, strlen(source), &t, err, errlen);
    if (rc) return rc;
    if (!*set) *set = xcalloc(1, sizeof **set);
    return set_put(*set, name, strlen(name), t, true);
}

/* length of the template extension ending `name`, or 0 if not a template */
static size_t template_ext(const char *name) {
    static const char *const exts[] = {".html", ".md", ".txt", ".svg", ".xml"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t el = strlen(exts[i]);
        if (n > el && strcmp(name + n - el, exts[i]) == 0) return el;
    }
    return 0;
}

static int load_file(tmpl_set_t *set, const char *path, const char *key, size_t keylen, char *err,
                     size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return AISPM_EIO;
    }
    buf_t b = BUF_INIT;
    char chunk[16384];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(&b, chunk, got);
        if (b.len > SOURCE_MAX) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        set_err(err, errlen, "%s: read error", path);
        return AISPM_EIO;
    }
    tmpl_t *t;
    int rc = compile(path, b.data ? b.data : "", b.len, &t, err, errlen);
    buf_free(&b);
    if (rc) return rc;
    if (set_put(set, key, keylen, t, false)) {
        tmpl_free(t);
        set_err(err, errlen, "%s:1: duplicate template name '%.*s'", path, (int)keylen, key);
        return AISPM_EINVAL;
    }
    return 0;
}

/* dir: the directory to read; prefix: its path relative to the set root,
 * "" or ending in '/' */
static int load_dir(tmpl_set_t *set, const char *dir, const char *prefix, int depth, char *err,
                    size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) {
        set_err(err, errlen, "%s: %s", dir, strerror(errno));
        return AISPM_EIO;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                set_err(err, errlen, "%s: %s", dir, strerror(errno));
                rc = AISPM_EIO;
            }
            break;
        }
        if (de->d_name[0] == '.') continue; /* ., .., hidden and editor files */
        char *path = str_fmt("%s/%s", dir, de->d_name);
        bool isdir = de->d_type == DT_DIR, isreg = de->d_type == DT_REG;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            struct stat st;
            if (stat(path, &st) == 0) isdir = S_ISDIR(st.st_mode), isreg = S_ISREG(st.st_mode);
        }
        if (isdir) {
            if (depth >= DIR_DEPTH_MAX) {
                set_err(err, errlen, "%s: directories nested too deeply", path);
                rc = AISPM_EINVAL;
            } else {
                char *sub = str_fmt("%s%s/", prefix, de->d_name);
                rc = load_dir(set, path, sub, depth + 1, err, errlen);
                free(sub);
            }
        } else if (isreg) {
            size_t el = template_ext(de->d_name);
            if (el) {
                char *key = str_fmt("%s%s", prefix, de->d_name);
                rc = load_file(set, path, key, strlen(key) - el, err, errlen);
                free(key);
            }
        }
        free(path);
        if (rc) break;
    }
    closedir(d);
    return rc;
}

int tmpl_set_load(const char *dir, tmpl_set_t **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = '\0';
    if (!out) return AISPM_EINVAL;
    *out = NULL;
    if (!dir || !*dir) {
        set_err(err, errlen, "template directory not set");
        return AISPM_EINVAL;
    }
    tmpl_set_t *set = xcalloc(1, sizeof *set);
    int rc = load_dir(set, dir, "", 0, err, errlen);
    if (rc) {
        tmpl_set_free(set);
        return rc;
    }
    *out = set;
    return 0;
}
