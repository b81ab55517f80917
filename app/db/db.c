/*
 * db.c: MariaDB Connector/C wrapper (see db.h).
 *
 * Invariants: a cached statement is never used by two open result sets at
 * once (a busy statement makes the call prepare a private one); after a lost
 * connection outside a transaction the cache is dropped and the statement
 * retried once on a fresh connection.
 */
#include "db/db.h"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/cursor.h"
#include "core/err.h"
#include "core/log.h"

#define STMT_CACHE 64

typedef struct {
    const char *sql; /* key: pointer identity of a string literal */
    MYSQL_STMT *stmt;
    bool busy;
} stmt_slot;

struct db {
    MYSQL *conn;
    config_t cfg;
    bool admin, with_db;
    int in_tx;
    unsigned last_errno; /* of the last failed call: survives closing a private statement */
    char last_error[512];
    stmt_slot cache[STMT_CACHE];
};

struct db_res {
    db_t *db;
    MYSQL_STMT *stmt;
    bool owned; /* stmt not from cache: close on free */
    stmt_slot *slot;
    int ncols;
    MYSQL_BIND *bind;
    char **bufs;
    unsigned long *lens;
    my_bool *nulls;
    size_t *caps;
};

static unsigned long g_db_errors;
#include "server/metrics.h"
unsigned long db_error_count(void) { return g_db_errors; }

static void db_log_error(db_t *db, const char *what, const char *msg, unsigned no) {
    if (db) {
        db->last_errno = no;
        snprintf(db->last_error, sizeof db->last_error, "%s", msg ? msg : "");
    }
    g_db_errors++;
    metrics_db_error();
    json_object *f = json_object_new_object();
    json_object_object_add(f, "what", json_object_new_string(what));
    json_object_object_add(f, "errno", json_object_new_int((int)no));
    json_object_object_add(f, "error", json_object_new_string(msg ? msg : ""));
    log_event(LOG_ERROR, "db_error", f);
}
static void clear_error(db_t *db) {
    db->last_errno = 0;
    db->last_error[0] = 0;
}

static int db_open(db_t *db) {
    db->conn = mysql_init(NULL);
    if (!db->conn) return AISPM_EDB;
    unsigned timeout = 5;
    mysql_optionsv(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    char pw[512] = "";
    const char *ref = db->admin ? db->cfg.db_admin_password_ref : db->cfg.db_password_ref;
    if (secret_resolve(ref, pw, sizeof pw) != 0) {
        log_msg(LOG_ERROR, "db_connect", "cannot resolve the database password reference");
        mysql_close(db->conn);
        db->conn = NULL;
        return AISPM_EDB;
    }
    const char *user = db->admin ? db->cfg.db_admin_user : db->cfg.db_user;
    const char *sock = db->cfg.db_socket[0] ? db->cfg.db_socket : NULL;
    const char *host = sock ? "localhost" : (db->cfg.db_host[0] ? db->cfg.db_host : "127.0.0.1");
    MYSQL *ok = mysql_real_connect(db->conn, host, user, pw[0] ? pw : NULL, db->with_db ? db->cfg.db_name : NULL,
                                   (unsigned)db->cfg.db_port, sock, CLIENT_MULTI_STATEMENTS);
    memset(pw, 0, sizeof pw);
    if (!ok) {
        db_log_error(db, "connect", mysql_error(db->conn), mysql_errno(db->conn));
        mysql_close(db->conn);
        db->conn = NULL;
        return AISPM_EDB;
    }
    /* UTC everywhere; strict mode so bad data is an error, not a truncation */
    if (mysql_query(db->conn, "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,"
                              "NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO'")) {
        db_log_error(db, "session", mysql_error(db->conn), mysql_errno(db->conn));
        mysql_close(db->conn);
        db->conn = NULL;
        return AISPM_EDB;
    }
    return 0;
}

int db_connect(const config_t *cfg, bool admin, bool with_database, db_t **out) {
    db_t *db = xcalloc(1, sizeof *db);
    db->cfg = *cfg;
    db->admin = admin;
    db->with_db = with_database;
    int rc = db_open(db);
    if (rc) {
        free(db);
        return rc;
    }
    *out = db;
    return 0;
}

static void cache_clear(db_t *db) {
    for (int i = 0; i < STMT_CACHE; i++) {
        if (db->cache[i].stmt) mysql_stmt_close(db->cache[i].stmt);
        db->cache[i] = (stmt_slot){0};
    }
}

void db_close(db_t *db) {
    if (!db) return;
    cache_clear(db);
    if (db->conn) mysql_close(db->conn);
    free(db);
}

bool db_ping(db_t *db) { return db->conn && mysql_ping(db->conn) == 0; }
const char *db_error(db_t *db) {
    if (db->last_errno) return db->last_error;
    return db->conn ? mysql_error(db->conn) : "not connected";
}
unsigned db_errno(db_t *db) {
    if (db->last_errno) return db->last_errno;
    return db->conn ? mysql_errno(db->conn) : CR_SERVER_GONE_ERROR;
}

static bool lost(unsigned no) { return no == CR_SERVER_GONE_ERROR || no == CR_SERVER_LOST; }

static int reconnect(db_t *db) {
    cache_clear(db);
    if (db->conn) mysql_close(db->conn);
    db->conn = NULL;
    return db_open(db);
}

static int simple(db_t *db, const char *q) {
    clear_error(db);
    if (!db->conn && reconnect(db)) return AISPM_EDB;
    if (mysql_query(db->conn, q)) {
        db_log_error(db, q, mysql_error(db->conn), mysql_errno(db->conn));
        return AISPM_EDB;
    }
    return 0;
}

/* No ping before a transaction (it cost one round trip per transaction): a
 * connection lost while idle makes START TRANSACTION fail with a lost-
 * connection error, and since nothing of the transaction exists yet it is
 * retried once on a fresh connection. */
int db_begin(db_t *db) {
    if (!db->conn && reconnect(db)) return AISPM_EDB;
    if (mysql_query(db->conn, "START TRANSACTION") != 0) {
        if (!lost(mysql_errno(db->conn)) || reconnect(db) != 0 || mysql_query(db->conn, "START TRANSACTION") != 0) {
            db_log_error(db, "START TRANSACTION", db_error(db), db_errno(db));
            return AISPM_EDB;
        }
    }
    db->in_tx = 1;
    return 0;
}
int db_commit(db_t *db) {
    db->in_tx = 0;
    return simple(db, "COMMIT");
}
int db_rollback(db_t *db) {
    db->in_tx = 0;
    return simple(db, "ROLLBACK");
}

static uint64_t hash_ptr(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* returns a prepared statement for sql; *slot_out is NULL when the statement
 * is private (caller closes it) */
static MYSQL_STMT *get_stmt(db_t *db, const char *sql, stmt_slot **slot_out) {
    *slot_out = NULL;
    if (!db->conn && reconnect(db)) return NULL;
    size_t h = hash_ptr(sql) % STMT_CACHE;
    stmt_slot *s = &db->cache[h];
    if (s->stmt && s->sql == sql && !s->busy) {
        *slot_out = s;
        return s->stmt;
    }
    MYSQL_STMT *st = mysql_stmt_init(db->conn);
    if (!st) return NULL;
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
        db_log_error(db, "prepare", mysql_stmt_error(st), mysql_stmt_errno(st));
        mysql_stmt_close(st);
        return NULL;
    }
    if (!s->busy) {
        if (s->stmt) mysql_stmt_close(s->stmt);
        s->sql = sql;
        s->stmt = st;
        *slot_out = s;
    }
    return st;
}

static int bind_args(MYSQL_STMT *st, const dbv *args, int n, MYSQL_BIND *b) {
    if ((int)mysql_stmt_param_count(st) != n) return AISPM_ERR;
    for (int i = 0; i < n; i++) {
        memset(&b[i], 0, sizeof b[i]);
        switch (args[i].t) {
        case DBV_NULL: b[i].buffer_type = MYSQL_TYPE_NULL; break;
        case DBV_INT:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&args[i].i;
            break;
        case DBV_STR:
            b[i].buffer_type = MYSQL_TYPE_STRING;
            b[i].buffer = (void *)args[i].s;
            b[i].buffer_length = (unsigned long)args[i].n;
            break;
        }
    }
    return n ? (mysql_stmt_bind_param(st, b) ? AISPM_ERR : 0) : 0;
}

static int run_stmt(db_t *db, const char *sql, const dbv *args, int nargs, MYSQL_STMT **st_out,
                    stmt_slot **slot_out) {
    for (int attempt = 0; attempt < 2; attempt++) {
        clear_error(db);
        stmt_slot *slot;
        MYSQL_STMT *st = get_stmt(db, sql, &slot);
        if (!st) {
            if (attempt == 0 && !db->in_tx && lost(db_errno(db))) {
                reconnect(db);
                continue;
            }
            return AISPM_EDB;
        }
        MYSQL_BIND binds[nargs > 0 ? nargs : 1];
        if (bind_args(st, args, nargs, binds)) {
            db_log_error(db, "bind", "parameter count mismatch", 0);
            if (!slot) mysql_stmt_close(st);
            return AISPM_ERR;
        }
        if (mysql_stmt_execute(st)) {
            unsigned no = mysql_stmt_errno(st);
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mysql_stmt_error(st));
            if (!slot) mysql_stmt_close(st);
            if (attempt == 0 && !db->in_tx && lost(no)) {
                reconnect(db);
                continue;
            }
            if (no == ER_DUP_ENTRY) {
                db->last_errno = no;
                snprintf(db->last_error, sizeof db->last_error, "%s", msg);
                return AISPM_ECONFLICT;
            }
            db_log_error(db, "execute", msg, no);
            return AISPM_EDB;
        }
        *st_out = st;
        *slot_out = slot;
        return 0;
    }
    return AISPM_EDB;
}

int db_exec(db_t *db, const char *sql, const dbv *args, int nargs, uint64_t *affected, uint64_t *insert_id) {
    MYSQL_STMT *st;
    stmt_slot *slot;
    int rc = run_stmt(db, sql, args, nargs, &st, &slot);
    if (rc) return rc;
    if (affected) *affected = mysql_stmt_affected_rows(st);
    if (insert_id) *insert_id = mysql_stmt_insert_id(st);
    if (mysql_stmt_field_count(st)) mysql_stmt_free_result(st);
    if (!slot) mysql_stmt_close(st);
    return 0;
}

int db_query(db_t *db, const char *sql, const dbv *args, int nargs, db_res_t **out) {
    MYSQL_STMT *st;
    stmt_slot *slot;
    int rc = run_stmt(db, sql, args, nargs, &st, &slot);
    if (rc) return rc;
    if (mysql_stmt_store_result(st)) {
        db_log_error(db, "store_result", mysql_stmt_error(st), mysql_stmt_errno(st));
        if (!slot) mysql_stmt_close(st);
        return AISPM_EDB;
    }
    db_res_t *r = xcalloc(1, sizeof *r);
    r->db = db;
    r->stmt = st;
    r->slot = slot;
    r->owned = slot == NULL;
    if (slot) slot->busy = true;
    r->ncols = (int)mysql_stmt_field_count(st);
    int n = r->ncols ? r->ncols : 1;
    r->bind = xcalloc((size_t)n, sizeof *r->bind);
    r->bufs = xcalloc((size_t)n, sizeof *r->bufs);
    r->lens = xcalloc((size_t)n, sizeof *r->lens);
    r->nulls = xcalloc((size_t)n, sizeof *r->nulls);
    r->caps = xcalloc((size_t)n, sizeof *r->caps);
    for (int i = 0; i < r->ncols; i++) {
        r->caps[i] = 128;
        r->bufs[i] = xmalloc(r->caps[i]);
        r->bind[i].buffer_type = MYSQL_TYPE_STRING;
        r->bind[i].buffer = r->bufs[i];
        r->bind[i].buffer_length = (unsigned long)r->caps[i] - 1;
        r->bind[i].length = &r->lens[i];
        r->bind[i].is_null = &r->nulls[i];
    }
    if (r->ncols && mysql_stmt_bind_result(st, r->bind)) {
        db_log_error(db, "bind_result", mysql_stmt_error(st), mysql_stmt_errno(st));
        db_res_free(r);
        return AISPM_EDB;
    }
    *out = r;
    return 0;
}

int db_res_next(db_res_t *r) {
    int rc = mysql_stmt_fetch(r->stmt);
    if (rc == MYSQL_NO_DATA) return 0;
    if (rc == 1) {
        db_log_error(r->db, "fetch", mysql_stmt_error(r->stmt), mysql_stmt_errno(r->stmt));
        return 0;
    }
    /* every truncated column is re-fetched before the result is bound again:
     * mysql_stmt_bind_result resets the lengths of the other columns, so a
     * rebind in the middle of the row lost a second long column */
    bool rebind = false;
    for (int i = 0; i < r->ncols; i++) {
        if (r->nulls[i] || r->lens[i] + 1 <= r->caps[i]) continue;
        r->caps[i] = r->lens[i] + 1;
        r->bufs[i] = xrealloc(r->bufs[i], r->caps[i]);
        MYSQL_BIND b = r->bind[i];
        b.buffer = r->bufs[i];
        b.buffer_length = (unsigned long)r->caps[i] - 1;
        mysql_stmt_fetch_column(r->stmt, &b, (unsigned)i, 0);
        r->bind[i].buffer = r->bufs[i];
        r->bind[i].buffer_length = (unsigned long)r->caps[i] - 1;
        rebind = true;
    }
    for (int i = 0; i < r->ncols; i++) {
        if (r->nulls[i])
            r->bufs[i][0] = 0;
        else
            r->bufs[i][r->lens[i]] = 0;
    }
    if (rebind) mysql_stmt_bind_result(r->stmt, r->bind);
    return 1;
}

int db_res_ncols(const db_res_t *r) { return r->ncols; }
bool db_res_isnull(const db_res_t *r, int col) { return col >= r->ncols || r->nulls[col]; }
const char *db_res_str(const db_res_t *r, int col) {
    return (col >= r->ncols || r->nulls[col]) ? "" : r->bufs[col];
}
size_t db_res_len(const db_res_t *r, int col) { return (col >= r->ncols || r->nulls[col]) ? 0 : r->lens[col]; }
long long db_res_int(const db_res_t *r, int col) {
    return (col >= r->ncols || r->nulls[col]) ? 0 : strtoll(r->bufs[col], NULL, 10);
}

void db_res_free(db_res_t *r) {
    if (!r) return;
    mysql_stmt_free_result(r->stmt);
    if (r->owned)
        mysql_stmt_close(r->stmt);
    else if (r->slot)
        r->slot->busy = false;
    for (int i = 0; i < r->ncols; i++) free(r->bufs[i]);
    free(r->bind);
    free(r->bufs);
    free(r->lens);
    free(r->nulls);
    free(r->caps);
    free(r);
}

int db_exec_script(db_t *db, const char *sql) {
    clear_error(db);
    if (!db->conn && reconnect(db)) return AISPM_EDB;
    if (mysql_query(db->conn, sql)) {
        db_log_error(db, "script", mysql_error(db->conn), mysql_errno(db->conn));
        return AISPM_EDB;
    }
    int rc = 0;
    do {
        MYSQL_RES *res = mysql_store_result(db->conn);
        if (res) mysql_free_result(res);
        int st = mysql_next_result(db->conn);
        if (st > 0) {
            db_log_error(db, "script", mysql_error(db->conn), mysql_errno(db->conn));
            rc = AISPM_EDB;
            break;
        }
        if (st == -1) break;
    } while (1);
    return rc;
}

json_object *db_page(db_res_t *res, json_object *(*row)(db_res_t *), const char *key, int limit) {
    json_object *o = json_object_new_object(), *arr = json_object_new_array();
    long long last = 0;
    int n = 0;
    while (db_res_next(res)) {
        last = db_res_int(res, 0);
        json_object_array_add(arr, row(res));
        n++;
    }
    db_res_free(res);
    json_object_object_add(o, key, arr);
    cursor_set_next(o, n, limit, last);
    return o;
}
