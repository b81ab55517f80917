/*
 * template.h: a small auto-escaping template engine over json-c values.
 *
 * Syntax (whitespace inside tags is allowed):
 *   {{ path }}              value, HTML-escaped (& < > " ' escaped; safe in
 *                           element content and in quoted attribute values)
 *   {{ path | attr }}       same escaping, spelled out for attributes
 *   {{ path | url }}        percent-encoded URL component (RFC 3986 unreserved
 *                           kept), then HTML-escaped
 *   {{ path | js }}         JSON string literal safe inside <script> (escapes
 *                           < > & ' " U+2028 U+2029)
 *   {{ path | raw }}        unescaped: the only way to emit markup; use only for
 *                           values the program built itself (e.g. rendered SVG)
 *   {{ path | json }}       json-c compact serialisation, HTML-escaped
 *   {{ path | md }}         Markdown-escaped (md_escape), not HTML-escaped: for
 *                           Markdown documents only, never for HTML output
 *   {{#if path}} … {{else}} … {{/if}}    truthy: non-null, true, non-zero,
 *                           non-empty string/array/object
 *   {{#unless path}} … {{/unless}}
 *   {{#each path}} … {{else}} … {{/each}} over arrays (or object values); inside,
 *                           `.` is the item, `@index` its 0-based index,
 *                           `@first`/`@last` booleans, and names resolve on the
 *                           item first, then outward through enclosing scopes
 *   {{> name}}              include another template of the same set with the
 *                           current scope
 *   {{! comment }}
 * Paths: `a.b.c`, `.` (current scope), `@root.a` (top-level data). A missing
 * value renders as the empty string. Unknown filters or unbalanced blocks are
 * compile errors reported with the template name and line.
 *
 * A template set is loaded from a directory of `*.html` (and any other
 * extension given) files, keyed by file name without extension, including
 * sub-folders ("reports/summary"). Sets are immutable once loaded, so a worker
 * reloading templates builds a new set and swaps the pointer.
 */
#ifndef AISPM_RENDER_TEMPLATE_H
#define AISPM_RENDER_TEMPLATE_H

#include <json-c/json.h>

#include "core/buf.h"

typedef struct tmpl_set tmpl_set_t;

/* loads and compiles every template below dir; on error returns AISPM_EINVAL
 * and writes "file:line: message" to err (errlen bytes) */
int tmpl_set_load(const char *dir, tmpl_set_t **out, char *err, size_t errlen);
/* compiles one template from memory into a (possibly new) set: for tests and
 * for templates embedded in code. *set may be NULL to create a set. */
int tmpl_set_add(tmpl_set_t **set, const char *name, const char *source, char *err, size_t errlen);
void tmpl_set_free(tmpl_set_t *set);
/* renders template `name` with `data` appended to out; AISPM_ENOTFOUND for an
 * unknown template */
int tmpl_render(const tmpl_set_t *set, const char *name, struct json_object *data, buf_t *out);

/* the escapers, exposed for code that builds markup by hand */
void html_escape(buf_t *out, const char *s, size_t len);
void url_escape(buf_t *out, const char *s, size_t len);
/* Markdown (CommonMark/GFM) inline escaping: backslash before every character
 * that could start markup, a link, an autolink, raw HTML, an entity or a table
 * cell break (\ ` * _ { } [ ] ( ) < > # | ! & ~ " '), before a leading - + =
 * and the '.' of a leading "12." (list markers); CR, LF and TAB become spaces,
 * so a value can never end a table row or start a block. Timestamps and
 * numbers pass unchanged (except a leading '-'). */
void md_escape(buf_t *out, const char *s, size_t len);

#endif
