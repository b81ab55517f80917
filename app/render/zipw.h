/*
 * zipw.h: a ZIP container built in memory with libzip, for the DOCX document
 * and the GRC upload package.
 *
 * Entries are stored deflated, in the order added, each stamped with the
 * fixed mtime given to zipw_new (the report's as_of; <= 315532800, i.e.
 * before 1980-01-01, means 1980-01-01 00:00:00 UTC, the earliest DOS time),
 * so the same calls give the same bytes: nothing depends on the clock.
 */
#ifndef AISPM_RENDER_ZIPW_H
#define AISPM_RENDER_ZIPW_H

#include <stddef.h>
#include <time.h>

#include "core/buf.h"

typedef struct zipw zipw_t;

/* 0, or AISPM_ERR (libzip refused) */
int zipw_new(time_t mtime, zipw_t **out);
/* adds the entry name with a copy of bytes[0..len); a failure is remembered
 * and reported by zipw_finish */
void zipw_add(zipw_t *z, const char *name, const void *bytes, size_t len);
/* closes the archive, appends its bytes to out and frees z (in every case).
 * 0 or AISPM_ERR. */
int zipw_finish(zipw_t *z, buf_t *out);

#endif
