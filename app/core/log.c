/*
 * log.c: JSON-lines logger (see log.h). Each record is formatted into one
 * buffer and written with a single write(2) so lines from concurrent worker
 * processes sharing stderr never interleave (PIPE_BUF-sized records or less
 * are atomic on pipes; files opened O_APPEND are append-atomic per write).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/timeutil.h"

static log_level_t g_level = LOG_INFO;
static char g_proc[16] = "main";
static char g_rid[64];

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level_t lvl) { g_level = lvl; }
int log_level_parse(const char *s, log_level_t *out) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    return -1;
}
void log_set_proc(const char *proc) { snprintf(g_proc, sizeof g_proc, "%s", proc); }
void log_set_request_id(const char *rid) { snprintf(g_rid, sizeof g_rid, "%s", rid ? rid : ""); }

void log_event(log_level_t lvl, const char *event, struct json_object *fields) {
    if (lvl < g_level) {
        json_object_put(fields);
        return;
    }
    char ts[RFC3339_MAX];
    rfc3339_format(now_ms(), 1, ts);
    json_object *o = fields ? fields : json_object_new_object();
    json_object_object_add(o, "ts", json_object_new_string(ts));
    json_object_object_add(o, "level", json_object_new_string(level_names[lvl]));
    json_object_object_add(o, "pid", json_object_new_int(getpid()));
    json_object_object_add(o, "proc", json_object_new_string(g_proc));
    json_object_object_add(o, "event", json_object_new_string(event));
    if (g_rid[0]) json_object_object_add(o, "request_id", json_object_new_string(g_rid));
    buf_t b = BUF_INIT;
    buf_puts(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    buf_putc(&b, '\n');
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    buf_free(&b);
    json_object_put(o);
}

void log_msg(log_level_t lvl, const char *event, const char *fmt, ...) {
    if (lvl < g_level) return;
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "msg", json_object_new_string(buf_cstr(&b)));
    buf_free(&b);
    log_event(lvl, event, o);
}
