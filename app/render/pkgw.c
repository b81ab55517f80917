/*
 * pkgw.c: checksummed ZIP packages (see pkgw.h).
 */
#include "render/pkgw.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "render/zipw.h"

struct pkgw {
    zipw_t *zip;
    buf_t sums;
};

int pkgw_new(time_t mtime, pkgw_t **out) {
    *out = NULL;
    zipw_t *z;
    int rc = zipw_new(mtime, &z);
    if (rc) return rc;
    pkgw_t *p = xcalloc(1, sizeof *p);
    p->zip = z;
    *out = p;
    return 0;
}

void pkgw_add(pkgw_t *p, const char *name, const void *bytes, size_t len, char digest_out[65]) {
    char hex[SHA256_HEX_LEN + 1];
    if (!bytes) bytes = "";
    sha256_hex(bytes, len, hex);
    zipw_add(p->zip, name, bytes, len);
    buf_printf(&p->sums, "%s  %s\n", hex, name);
    if (digest_out) memcpy(digest_out, hex, sizeof hex);
}

const char *pkgw_sums(const pkgw_t *p) { return buf_cstr(&p->sums); }

int pkgw_finish(pkgw_t *p, buf_t *out) {
    zipw_add(p->zip, PKGW_SUMS_NAME, p->sums.data ? p->sums.data : "", p->sums.len);
    int rc = zipw_finish(p->zip, out);
    buf_free(&p->sums);
    free(p);
    return rc;
}

void pkgw_abort(pkgw_t *p) {
    if (!p) return;
    buf_t discard = BUF_INIT;
    zipw_finish(p->zip, &discard);
    buf_free(&discard);
    buf_free(&p->sums);
    free(p);
}
