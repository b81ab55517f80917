/*
 * brand.h: the tenant brand profile — display name, primary and accent
 * colours, logo, footer text and legal disclaimer — used by the PDF board
 * pack and the HTML/Markdown narratives (reports/renderer.c).
 *
 * Rules (brand_apply / brand_set_logo, pure, unit-tested):
 *  - colours are "#RRGGBB" (stored upper-case);
 *  - texts are strings of strict UTF-8 without control characters (the
 *    disclaimer may hold line feeds), at most BRAND_*_MAX characters;
 *    null or "" resets a field to its default;
 *  - the logo is a PNG: the signature and an IHDR of at most
 *    BRAND_LOGO_DIM_MAX pixels each way are checked before cairo decodes it
 *    (so a small file cannot claim a huge image), at most BRAND_LOGO_MAX
 *    bytes; the API takes it as standard base64 (logo_png_base64), the portal
 *    as a multipart file upload.
 * A tenant without a stored profile has the default brand (its own name,
 * navy). brand_save writes the row and evidence `brand.updated` (names of the
 * fields set and cleared, the logo's SHA-256 and the brand digest — never the
 * texts) in one transaction.
 *
 * brand_digest is SHA-256 over the RFC 8785 JSON of the fields and the logo
 * digest: renders record it, and a changed brand changes the rendered bytes.
 */
#ifndef AISPM_REPORTS_BRAND_H
#define AISPM_REPORTS_BRAND_H

#include <json-c/json.h>
#include <stdbool.h>

#include "core/buf.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "server/http.h"

#define BRAND_NAME_MAX 120        /* characters */
#define BRAND_FOOTER_MAX 200      /* characters */
#define BRAND_DISCLAIMER_MAX 2000 /* characters */
#define BRAND_LOGO_MAX (256 * 1024)
#define BRAND_LOGO_DIM_MAX 2048
#define BRAND_DEFAULT_PRIMARY "#10254E"
#define BRAND_DEFAULT_ACCENT "#2F6DB5"

typedef struct {
    char display_name[BRAND_NAME_MAX * 4 + 1]; /* "" = the tenant's name */
    char primary_color[8], accent_color[8];
    char footer_text[BRAND_FOOTER_MAX * 4 + 1];
    char legal_disclaimer[BRAND_DISCLAIMER_MAX * 4 + 1];
    buf_t logo; /* PNG bytes; len 0 = no logo */
    int logo_width, logo_height;
    char logo_sha256[65];
    bool customised; /* a stored profile exists */
    char updated_at[RFC3339_MAX];
} brand_t;

void brand_default(brand_t *b);
void brand_free(brand_t *b);
/* the tenant's brand (the default when none is stored) */
int brand_load(db_t *db, long long tenant_id, brand_t *out);

/* applies the members of changes ({display_name, primary_color,
 * accent_color, footer_text, legal_disclaimer, logo_png_base64}; any other
 * member is an error) to b; errors (an object) receives {field: message};
 * changed (an array, may be NULL) the names of the fields given */
void brand_apply(brand_t *b, json_object *changes, json_object *errors, json_object *changed);
/* checks and sets (len > 0) or removes (png NULL) the logo; an error is
 * reported under `field` */
void brand_set_logo(brand_t *b, const void *png, size_t len, const char *field, json_object *errors);
/* 0 and the dimensions when png is an acceptable logo; else AISPM_EINVAL and
 * a reason safe to show */
int brand_logo_check(const void *png, size_t len, int *w, int *h, const char **why);

/* stores b for the actor's tenant with evidence brand.updated */
int brand_save(db_t *db, const actor_t *a, const brand_t *b, json_object *changed, const char *request_id);

/* {display_name, primary_color, accent_color, footer_text, legal_disclaimer,
 *  logo: {sha256, size, width, height, content_type, url} | null,
 *  brand_digest, customised, updated_at} */
json_object *brand_projection(const brand_t *b);
void brand_digest(const brand_t *b, char out[65]);
/* "#RRGGBB" -> RGB 0..1 */
void brand_rgb(const char *hex, double out[3]);

#endif
