/*
 * pkgw.h: a checksummed ZIP package — the files added to a render/zipw.h
 * archive plus a SHA256SUMS file (`sha256sum -c` format: "<hex>  <name>\n"
 * per file, in the order added) written last. Used by the GRC upload package
 * (reports/renderer.c) and the signed export packages
 * (reports/export_packages.c), so both list their digests the same way.
 */
#ifndef AISPM_RENDER_PKGW_H
#define AISPM_RENDER_PKGW_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

#define PKGW_SUMS_NAME "SHA256SUMS"

typedef struct pkgw pkgw_t;

/* 0, or AISPM_ERR (libzip refused); mtime as for zipw_new */
int pkgw_new(time_t mtime, pkgw_t **out);
/* adds name with bytes[0..len) and its SHA256SUMS line; digest_out (may be
 * NULL) receives the lower-case hex SHA-256 */
void pkgw_add(pkgw_t *p, const char *name, const void *bytes, size_t len, char digest_out[65]);
/* the SHA256SUMS text so far (for callers that sign or list it) */
const char *pkgw_sums(const pkgw_t *p);
/* adds SHA256SUMS, closes the archive, appends its bytes to out and frees p
 * (in every case). 0 or AISPM_ERR. */
int pkgw_finish(pkgw_t *p, buf_t *out);
/* frees p without writing anything (error paths) */
void pkgw_abort(pkgw_t *p);

#endif
