/*
 * cursor.c: keyset pagination cursors (see cursor.h).
 */
#include "core/cursor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"

int cursor_parse(const char *cursor, long long *before_out) {
    *before_out = 0;
    if (!cursor || !*cursor) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(cursor, &end, 10);
    if (errno || *end || v <= 0) return AISPM_EINVAL;
    *before_out = v;
    return 0;
}

int cursor_limit(int limit) { return limit < 1 || limit > 100 ? 25 : limit; }

void cursor_put_next(json_object *o, bool more, long long last_id) {
    char c[32];
    snprintf(c, sizeof c, "%lld", last_id);
    json_object_object_add(o, "next_cursor", more ? json_object_new_string(c) : NULL);
}

void cursor_set_next(json_object *o, int n, int limit, long long last_id) { cursor_put_next(o, n == limit, last_id); }
