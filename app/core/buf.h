/*
 * buf.h: growable byte buffer, always NUL-terminated.
 *
 * Ownership: the buffer owns `data`; buf_free releases it. Allocation failure
 * aborts the process (xalloc policy): a worker that cannot allocate is
 * restarted by the master, which is safer than half-handled OOM paths.
 */
#ifndef AISPM_CORE_BUF_H
#define AISPM_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated; NULL until first append */
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {0, 0, 0}

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b); /* len = 0, keeps capacity */
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
const char *buf_cstr(const buf_t *b); /* "" when empty */
char *buf_steal(buf_t *b);            /* caller frees; buffer reset to empty */
/* appends a whole file; 0 or AISPM_EIO */
int buf_read_file(buf_t *out, const char *path);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
