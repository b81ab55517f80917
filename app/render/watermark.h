/*
 * watermark.h: marked copies of stored artifacts for evidence-room downloads.
 *
 * The stored artifact is never changed: every function reads the original
 * bytes and appends a new, marked copy to `out`. The mark names the room, the
 * auditor (opaque refs only, never an address), the download time and a
 * unique download id, so a leaked copy can be traced to one download.
 *
 *  pdf   an incremental update (PDF 1.7, 7.5.6) appended to the original:
 *        every page object is rewritten with its content wrapped in q/Q and a
 *        second content stream that draws the mark in Helvetica (a standard
 *        font: no embedding) at the top of the page; each page gets a copy of
 *        its resources with the font added. The original bytes stay a prefix
 *        of the copy. Classic cross-reference tables only (what cairo writes);
 *        a PDF with xref streams or encryption is refused (AISPM_EINVAL).
 *  csv   a first comment row "# <mark>"
 *  json  {"aispm_watermark": {...}, "content": <original>}
 *  jsonl a first line {"aispm_watermark": {...}}
 *  html  a visible banner right after <body>
 *  md    a first block-quote line
 *  xlsx, docx  dc:description of docProps/core.xml (read by Excel/Word as
 *        the document's comments/description)
 *  zip   an extra entry AISPM-WATERMARK.txt at the root
 */
#ifndef AISPM_RENDER_WATERMARK_H
#define AISPM_RENDER_WATERMARK_H

#include <stddef.h>

#include "core/buf.h"

typedef struct {
    const char *room_ref;
    const char *auditor_ref;
    const char *downloaded_at; /* RFC 3339 */
    const char *download_id;
} watermark_t;

/* "AISPM evidence room copy | room R | auditor A | downloaded T | download D" */
void watermark_text(const watermark_t *wm, buf_t *out);

/* 0, AISPM_EINVAL (input not understood / format without a mark) or AISPM_ERR */
int watermark_pdf(const char *in, size_t len, const watermark_t *wm, buf_t *out);
int watermark_apply(const char *format, const char *in, size_t len, const watermark_t *wm, buf_t *out);

#endif
