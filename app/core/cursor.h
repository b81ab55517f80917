/*
 * cursor.h: keyset pagination shared by the list endpoints (renders,
 * packages): the cursor is the decimal row id of the last item of a page;
 * the next page lists rows with a smaller id, newest first.
 */
#ifndef AISPM_CORE_CURSOR_H
#define AISPM_CORE_CURSOR_H

#include <json-c/json.h>
#include <stdbool.h>

/* "" or NULL -> 0 (first page); a positive decimal id -> that id;
 * anything else AISPM_EINVAL */
int cursor_parse(const char *cursor, long long *before_out);
/* limit outside 1..100 -> 25 */
int cursor_limit(int limit);
/* sets o.next_cursor: the last id when there is a next page, else null */
void cursor_put_next(json_object *o, bool more, long long last_id);
/* the same for a page that is full (n == limit) */
void cursor_set_next(json_object *o, int n, int limit, long long last_id);

#endif
