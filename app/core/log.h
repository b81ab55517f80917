/*
 * log.h: JSON-lines logging to stderr.
 *
 * One object per line: {"ts","level","pid","proc","event", "request_id"?, ...}.
 * Never pass secrets, passwords, tokens, recipient addresses or report
 * content to the logger: callers log refs and codes only.
 */
#ifndef AISPM_CORE_LOG_H
#define AISPM_CORE_LOG_H

#include <json-c/json.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_set_level(log_level_t lvl);
int log_level_parse(const char *s, log_level_t *out);
/* "master", "http", "job", "admin" — set once per process after fork */
void log_set_proc(const char *proc);
/* request id of the request being served ("" clears); copied */
void log_set_request_id(const char *rid);
/* fields: extra members (ownership taken; may be NULL) */
void log_event(log_level_t lvl, const char *event, struct json_object *fields);
/* convenience: {"event": event, "msg": formatted} */
void log_msg(log_level_t lvl, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
