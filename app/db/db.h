/*
 * db.h: one MariaDB connection per process, parameterised statements only.
 *
 * Every statement goes through mysql_stmt with bound parameters; SQL text is
 * always a string literal of the program, never built from input. Prepared
 * statements are cached per connection, keyed by the SQL text pointer, so a
 * hot query is prepared once per worker.
 *
 * Results are read as text (NULL-aware), which keeps call sites short; the
 * helpers db_res_int/db_res_str convert.
 */
#ifndef AISPM_DB_DB_H
#define AISPM_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"

typedef struct db db_t;
typedef struct db_res db_res_t;

typedef enum { DBV_NULL = 0, DBV_INT, DBV_STR } dbv_type;
typedef struct {
    dbv_type t;
    long long i;
    const char *s;
    size_t n;
} dbv;

#define DBI(x) ((dbv){.t = DBV_INT, .i = (long long)(x)})
static inline dbv dbv_str(const char *s) {
    dbv v = {.t = s ? DBV_STR : DBV_NULL, .s = s, .n = s ? strlen(s) : 0};
    return v;
}
#define DBS(x) dbv_str(x)
#define DBSN(x, len) ((dbv){.t = DBV_STR, .s = (x), .n = (len)})
#define DBNULL ((dbv){.t = DBV_NULL})
#define DB_ARGS(...) ((const dbv[]){__VA_ARGS__}), (int)(sizeof((const dbv[]){__VA_ARGS__}) / sizeof(dbv))
#define DB_NOARGS NULL, 0

/* connects as the application user (admin=false) or the admin user */
int db_connect(const config_t *cfg, bool admin, bool with_database, db_t **out);
void db_close(db_t *db);
bool db_ping(db_t *db);
const char *db_error(db_t *db);
unsigned db_errno(db_t *db);

int db_begin(db_t *db);
int db_commit(db_t *db);
int db_rollback(db_t *db);

/* executes a statement; affected / insert_id may be NULL. AISPM_ECONFLICT on
 * duplicate key, AISPM_EDB otherwise (logged). */
int db_exec(db_t *db, const char *sql, const dbv *args, int nargs, uint64_t *affected, uint64_t *insert_id);
/* runs a query and buffers its result set; caller frees with db_res_free */
int db_query(db_t *db, const char *sql, const dbv *args, int nargs, db_res_t **out);
/* one keyset page of a list read: every row of res (column 0 = the row id,
 * newest first) built by row() into an array under key of a new object, plus
 * next_cursor (core/cursor.h) when the page is full; frees res */
struct json_object;
struct json_object *db_page(db_res_t *res, struct json_object *(*row)(db_res_t *), const char *key, int limit);
/* 1 = row available, 0 = end */
int db_res_next(db_res_t *r);
int db_res_ncols(const db_res_t *r);
bool db_res_isnull(const db_res_t *r, int col);
const char *db_res_str(const db_res_t *r, int col); /* "" for NULL */
long long db_res_int(const db_res_t *r, int col);   /* 0 for NULL */
size_t db_res_len(const db_res_t *r, int col);
void db_res_free(db_res_t *r);

/* plain text protocol, for migrations and DDL (multi-statement script) */
int db_exec_script(db_t *db, const char *sql);
/* counter of database errors in this process (exported in /metrics) */
unsigned long db_error_count(void);

#endif
