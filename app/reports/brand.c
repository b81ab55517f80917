/* brand.c: tenant brand profiles (see brand.h) */
#include "reports/brand.h"

#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "core/text.h"
#include "render/pdfw.h"
#include "server/auth.h"

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

void brand_default(brand_t *b) {
    memset(b, 0, sizeof *b);
    b->logo = (buf_t)BUF_INIT;
    snprintf(b->primary_color, sizeof b->primary_color, "%s", BRAND_DEFAULT_PRIMARY);
    snprintf(b->accent_color, sizeof b->accent_color, "%s", BRAND_DEFAULT_ACCENT);
}

void brand_free(brand_t *b) { buf_free(&b->logo); }

int brand_load(db_t *db, long long tenant_id, brand_t *out) {
    brand_default(out);
    db_res_t *res;
    int rc = db_query(db,
                      "SELECT display_name, primary_color, accent_color, footer_text, legal_disclaimer, logo_png, "
                      "logo_sha256, logo_width, logo_height, updated_at FROM brand_profiles WHERE tenant_id = ?",
                      DB_ARGS(DBI(tenant_id)), &res);
    if (rc) return rc;
    if (db_res_next(res)) {
        out->customised = true;
        snprintf(out->display_name, sizeof out->display_name, "%s", db_res_str(res, 0));
        snprintf(out->primary_color, sizeof out->primary_color, "%s", db_res_str(res, 1));
        snprintf(out->accent_color, sizeof out->accent_color, "%s", db_res_str(res, 2));
        snprintf(out->footer_text, sizeof out->footer_text, "%s", db_res_str(res, 3));
        snprintf(out->legal_disclaimer, sizeof out->legal_disclaimer, "%s", db_res_str(res, 4));
        if (!db_res_isnull(res, 5) && db_res_len(res, 5)) {
            buf_append(&out->logo, db_res_str(res, 5), db_res_len(res, 5));
            snprintf(out->logo_sha256, sizeof out->logo_sha256, "%s", db_res_str(res, 6));
            out->logo_width = (int)db_res_int(res, 7);
            out->logo_height = (int)db_res_int(res, 8);
        }
        int64_t ms;
        if (!sql_datetime_parse(db_res_str(res, 9), &ms)) rfc3339_format(ms, 1, out->updated_at);
    }
    db_res_free(res);
    return 0;
}

/* ---- validation ---------------------------------------------------------- */

static void err(json_object *errors, const char *field, const char *msg) {
    if (!json_object_object_get_ex(errors, field, NULL))
        json_object_object_add(errors, field, json_object_new_string(msg));
}

/* characters of valid UTF-8 */
static size_t u8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void set_text(json_object *v, const char *field, char *dst, size_t dstlen, size_t max_chars, bool lines,
                     json_object *errors) {
    if (!v) { /* null: default */
        dst[0] = 0;
        return;
    }
    if (!json_object_is_type(v, json_type_string)) {
        err(errors, field, "must be a string or null");
        return;
    }
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (strlen(s) != len || !utf8_valid(s, len)) {
        err(errors, field, "must be valid UTF-8 text");
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && !(lines && *p == '\n')) || *p == 0x7f) {
            err(errors, field, lines ? "must not contain control characters other than line feeds"
                                     : "must not contain control characters");
            return;
        }
    if (u8_chars(s) > max_chars || len >= dstlen) {
        char m[64];
        snprintf(m, sizeof m, "must be at most %zu characters", max_chars);
        err(errors, field, m);
        return;
    }
    memcpy(dst, s, len + 1);
}

static void set_color(json_object *v, const char *field, char dst[8], const char *def, json_object *errors) {
    if (!v) {
        snprintf(dst, 8, "%s", def);
        return;
    }
    const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    if (s && !*s) {
        snprintf(dst, 8, "%s", def);
        return;
    }
    bool ok = s && strlen(s) == 7 && s[0] == '#' && strspn(s + 1, "0123456789abcdefABCDEF") == 6;
    if (!ok) {
        err(errors, field, "must be a colour #RRGGBB");
        return;
    }
    for (int i = 0; i < 7; i++) dst[i] = (char)(s[i] >= 'a' && s[i] <= 'f' ? s[i] - 32 : s[i]);
    dst[7] = 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int brand_logo_check(const void *png, size_t len, int *w, int *h, const char **why) {
    const unsigned char *p = png;
    if (len > BRAND_LOGO_MAX) return *why = "must be at most 262144 bytes (256 KiB)", AISPM_EINVAL;
    if (len < 33 || memcmp(p, png_sig, 8)) return *why = "must be a PNG image", AISPM_EINVAL;
    /* IHDR first: length 13, then width and height */
    if (be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4)) return *why = "must be a PNG image", AISPM_EINVAL;
    uint32_t iw = be32(p + 16), ih = be32(p + 20);
    if (!iw || !ih || iw > BRAND_LOGO_DIM_MAX || ih > BRAND_LOGO_DIM_MAX)
        return *why = "must be at most 2048 x 2048 pixels", AISPM_EINVAL;
    cairo_surface_t *s = pdfw_png_load(p, len);
    bool ok = s && cairo_image_surface_get_width(s) == (int)iw && cairo_image_surface_get_height(s) == (int)ih;
    if (s) cairo_surface_destroy(s);
    if (!ok) return *why = "is not a PNG image that can be decoded", AISPM_EINVAL;
    *w = (int)iw, *h = (int)ih;
    return 0;
}

void brand_set_logo(brand_t *b, const void *png, size_t len, const char *field, json_object *errors) {
    if (!png) {
        buf_reset(&b->logo);
        b->logo_width = b->logo_height = 0;
        b->logo_sha256[0] = 0;
        return;
    }
    int w, h;
    const char *why;
    if (brand_logo_check(png, len, &w, &h, &why)) {
        err(errors, field, why);
        return;
    }
    buf_reset(&b->logo);
    buf_append(&b->logo, png, len);
    b->logo_width = w, b->logo_height = h;
    sha256_hex(png, len, b->logo_sha256);
}

void brand_apply(brand_t *b, json_object *changes, json_object *errors, json_object *changed) {
    json_object_object_foreach(changes, k, v) {
        if (changed) json_object_array_add(changed, json_object_new_string(k));
        if (!strcmp(k, "display_name"))
            set_text(v, k, b->display_name, sizeof b->display_name, BRAND_NAME_MAX, false, errors);
        else if (!strcmp(k, "footer_text"))
            set_text(v, k, b->footer_text, sizeof b->footer_text, BRAND_FOOTER_MAX, false, errors);
        else if (!strcmp(k, "legal_disclaimer"))
            set_text(v, k, b->legal_disclaimer, sizeof b->legal_disclaimer, BRAND_DISCLAIMER_MAX, true, errors);
        else if (!strcmp(k, "primary_color"))
            set_color(v, k, b->primary_color, BRAND_DEFAULT_PRIMARY, errors);
        else if (!strcmp(k, "accent_color"))
            set_color(v, k, b->accent_color, BRAND_DEFAULT_ACCENT, errors);
        else if (!strcmp(k, "logo_png_base64")) {
            if (!v) {
                brand_set_logo(b, NULL, 0, k, errors);
                continue;
            }
            if (!json_object_is_type(v, json_type_string)) {
                err(errors, k, "must be a base64 string or null");
                continue;
            }
            size_t n = (size_t)json_object_get_string_len(v);
            if (n > (BRAND_LOGO_MAX / 3 + 1) * 4) {
                err(errors, k, "must be at most 262144 bytes (256 KiB)");
                continue;
            }
            uint8_t *png = xmalloc(n / 4 * 3 + 3);
            long plen = b64_decode(json_object_get_string(v), n, png);
            if (plen <= 0)
                err(errors, k, "must be standard base64");
            else
                brand_set_logo(b, png, (size_t)plen, k, errors);
            free(png);
        } else
            err(errors, k, "is not a brand field");
    }
}

/* ---- persistence ----------------------------------------------------------- */

int brand_save(db_t *db, const actor_t *a, const brand_t *b, json_object *changed, const char *request_id) {
    char now[RFC3339_MAX], digest[65];
    sql_datetime_format(now_ms(), now);
    brand_digest(b, digest);
    int rc = db_begin(db);
    if (rc) return rc;
    bool logo = b->logo.len > 0;
    rc = db_exec(db,
                 "INSERT INTO brand_profiles (tenant_id, display_name, primary_color, accent_color, footer_text, "
                 "legal_disclaimer, logo_png, logo_sha256, logo_width, logo_height, updated_at, updated_by) VALUES "
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE display_name = VALUES(display_name), "
                 "primary_color = VALUES(primary_color), accent_color = VALUES(accent_color), footer_text = "
                 "VALUES(footer_text), legal_disclaimer = VALUES(legal_disclaimer), logo_png = VALUES(logo_png), "
                 "logo_sha256 = VALUES(logo_sha256), logo_width = VALUES(logo_width), logo_height = "
                 "VALUES(logo_height), updated_at = VALUES(updated_at), updated_by = VALUES(updated_by)",
                 DB_ARGS(DBI(a->tenant_id), DBS(b->display_name), DBS(b->primary_color), DBS(b->accent_color),
                         DBS(b->footer_text), DBS(b->legal_disclaimer),
                         logo ? DBSN(b->logo.data, b->logo.len) : DBNULL, logo ? DBS(b->logo_sha256) : DBNULL,
                         logo ? DBI(b->logo_width) : DBNULL, logo ? DBI(b->logo_height) : DBNULL, DBS(now),
                         a->user_id ? DBI(a->user_id) : DBNULL),
                 NULL, NULL);
    if (!rc) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "fields", json_object_get(changed));
        json_object_object_add(d, "logo_sha256", logo ? json_object_new_string(b->logo_sha256) : NULL);
        json_object_object_add(d, "brand_digest", json_object_new_string(digest));
        json_object_object_add(d, "raw_values_recorded", json_object_new_boolean(0));
        char obj[REF_MAX + 8];
        snprintf(obj, sizeof obj, "brand:%s", a->tenant_ref);
        rc = auth_evidence(db, a, "brand.updated", obj, "success", request_id, d, NULL);
        json_object_put(d);
    }
    if (rc) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db);
}

/* ---- projections ------------------------------------------------------------ */

static json_object *fields_json(const brand_t *b) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "display_name", json_object_new_string(b->display_name));
    json_object_object_add(o, "primary_color", json_object_new_string(b->primary_color));
    json_object_object_add(o, "accent_color", json_object_new_string(b->accent_color));
    json_object_object_add(o, "footer_text", json_object_new_string(b->footer_text));
    json_object_object_add(o, "legal_disclaimer", json_object_new_string(b->legal_disclaimer));
    json_object_object_add(o, "logo_sha256", b->logo.len ? json_object_new_string(b->logo_sha256) : NULL);
    return o;
}

void brand_digest(const brand_t *b, char out[65]) {
    json_object *o = fields_json(b);
    buf_t c = BUF_INIT;
    jcs_serialize(o, &c);
    sha256_hex(c.data ? c.data : "", c.len, out);
    buf_free(&c);
    json_object_put(o);
}

json_object *brand_projection(const brand_t *b) {
    json_object *o = fields_json(b);
    json_object_object_del(o, "logo_sha256");
    json_object *logo = NULL;
    if (b->logo.len) {
        logo = json_object_new_object();
        json_object_object_add(logo, "sha256", json_object_new_string(b->logo_sha256));
        json_object_object_add(logo, "size", json_object_new_int64((int64_t)b->logo.len));
        json_object_object_add(logo, "width", json_object_new_int(b->logo_width));
        json_object_object_add(logo, "height", json_object_new_int(b->logo_height));
        json_object_object_add(logo, "content_type", json_object_new_string("image/png"));
        json_object_object_add(logo, "url", json_object_new_string("/enterprise/aispm/reports/brand/logo"));
    }
    json_object_object_add(o, "logo", logo);
    char d[65];
    brand_digest(b, d);
    json_object_object_add(o, "brand_digest", json_object_new_string(d));
    json_object_object_add(o, "customised", json_object_new_boolean(b->customised));
    json_object_object_add(o, "updated_at", b->customised ? json_object_new_string(b->updated_at) : NULL);
    return o;
}

void brand_rgb(const char *hex, double out[3]) {
    unsigned v = 0;
    if (!hex || sscanf(hex, "#%6x", &v) != 1) v = 0x10254E;
    out[0] = ((v >> 16) & 255) / 255.0, out[1] = ((v >> 8) & 255) / 255.0, out[2] = (v & 255) / 255.0;
}
