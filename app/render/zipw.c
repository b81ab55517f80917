/* zipw.c: in-memory ZIP writer on libzip (see zipw.h). */
#include "render/zipw.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "core/err.h"

#define DOS_EPOCH ((time_t)315532800) /* 1980-01-01T00:00:00Z */

struct zipw {
    zip_source_t *src; /* the archive's bytes, kept past zip_close */
    zip_t *za;
    time_t mtime;
    bool failed;
};

int zipw_new(time_t mtime, zipw_t **out) {
    *out = NULL;
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &err);
    if (!src) {
        zip_error_fini(&err);
        return AISPM_ERR;
    }
    zip_source_keep(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    zip_error_fini(&err);
    if (!za) {
        zip_source_free(src);
        zip_source_free(src);
        return AISPM_ERR;
    }
    zipw_t *z = xcalloc(1, sizeof *z);
    z->src = src;
    z->za = za;
    z->mtime = mtime > DOS_EPOCH ? mtime : DOS_EPOCH;
    *out = z;
    return 0;
}

void zipw_add(zipw_t *z, const char *name, const void *bytes, size_t len) {
    if (z->failed) return;
    /* libzip owns (and frees) a non-empty copy; an empty entry has no buffer */
    void *copy = len ? xmalloc(len) : NULL;
    if (len) memcpy(copy, bytes, len);
    zip_source_t *s = zip_source_buffer(z->za, copy, len, len ? 1 : 0);
    if (!s) {
        free(copy);
        z->failed = true;
        return;
    }
    zip_int64_t idx = zip_file_add(z->za, name, s, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(s);
        z->failed = true;
        return;
    }
    if (zip_file_set_mtime(z->za, (zip_uint64_t)idx, z->mtime, 0) ||
        zip_set_file_compression(z->za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 9))
        z->failed = true;
}

int zipw_finish(zipw_t *z, buf_t *out) {
    int rc = 0;
    if (z->failed) {
        zip_discard(z->za);
        rc = AISPM_ERR;
    } else if (zip_close(z->za) < 0) {
        zip_discard(z->za);
        rc = AISPM_ERR;
    } else if (zip_source_open(z->src) < 0) {
        rc = AISPM_ERR;
    } else {
        char chunk[16384];
        zip_int64_t n;
        while ((n = zip_source_read(z->src, chunk, sizeof chunk)) > 0) buf_append(out, chunk, (size_t)n);
        if (n < 0) rc = AISPM_ERR;
        zip_source_close(z->src);
    }
    zip_source_free(z->src);
    free(z);
    return rc;
}
