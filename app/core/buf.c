/* buf.c: growable buffer and abort-on-OOM allocation helpers (see buf.h). */
#include "core/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}
void *xcalloc(size_t n, size_t m) {
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) abort();
    return p;
}
void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) abort();
    return q;
}
char *xstrdup(const char *s) {
    char *p = strdup(s ? s : "");
    if (!p) abort();
    return p;
}
char *xstrndup(const char *s, size_t n) {
    char *p = strndup(s, n);
    if (!p) abort();
    return p;
}

void buf_init(buf_t *b) { b->data = NULL, b->len = 0, b->cap = 0; }
void buf_free(buf_t *b) {
    free(b->data);
    buf_init(b);
}
void buf_reset(buf_t *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}
static void buf_grow(buf_t *b, size_t extra) {
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}
void buf_append(buf_t *b, const void *p, size_t n) {
    buf_grow(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}
void buf_puts(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }
void buf_putc(buf_t *b, char c) { buf_append(b, &c, 1); }
void buf_vprintf(buf_t *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    buf_grow(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}
void buf_printf(buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}
const char *buf_cstr(const buf_t *b) { return b->data ? b->data : ""; }
char *buf_steal(buf_t *b) {
    char *p = b->data ? b->data : xstrdup("");
    buf_init(b);
    return p;
}

int buf_read_file(buf_t *out, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return AISPM_EIO;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            close(fd);
            return AISPM_EIO;
        }
        if (n == 0) break;
        buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    return 0;
}
