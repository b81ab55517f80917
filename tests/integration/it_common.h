/*
 * it_common.h: shared helpers of the integration tests (tests/integration/).
 *
 * The harness (scripts/check) exports AISPM_TEST_CONFIG, the path of an
 * aispm.conf for a migrated database whose MariaDB socket is running. Without
 * it the tests FAIL with a message saying so; they never skip.
 *
 * Tests create their own tenants (unique slug per test), so they are
 * independent of each other and may run against a database holding demo data.
 *
 * Everything here is `static inline` so that a test file that does not use a
 * helper does not trip -Werror=unused-function.
 */
#ifndef AISPM_TESTS_INTEGRATION_IT_COMMON_H
#define AISPM_TESTS_INTEGRATION_IT_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/ref.h"
#include "db/db.h"
#include "db/embedded.h"

/* MariaDB error numbers the tests expect (mysqld_error.h) */
#define IT_ER_TABLEACCESS_DENIED 1142 /* "<CMD> command denied to user" */
#define IT_ER_SIGNAL_EXCEPTION 1644   /* SIGNAL SQLSTATE '45000' from a trigger */
#define IT_ER_TABLE_EXISTS 1050
#define IT_ER_BAD_TABLE 1051

/* Loads AISPM_TEST_CONFIG into cfg. On any problem prints a clear message to
 * stderr and returns -1 (callers turn that into a failure, never a skip). */
static inline int it_load_config(config_t *cfg) {
    const char *path = getenv("AISPM_TEST_CONFIG");
    if (!path || !*path) {
        fprintf(stderr,
                "FAIL: AISPM_TEST_CONFIG is not set. Integration tests need the path of an aispm.conf for a "
                "migrated database whose MariaDB socket is running; scripts/check exports it (or start a "
                "private MariaDB, run `aispm -c CONF admin migrate` and export AISPM_TEST_CONFIG=CONF).\n");
        return -1;
    }
    char err[512] = "";
    if (config_load(path, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL: cannot load AISPM_TEST_CONFIG=%s: %s\n", path, err);
        return -1;
    }
    return 0;
}

/* connects as the application user (admin=false) or the admin user */
static inline int it_connect(const config_t *cfg, bool admin, db_t **out) {
    int rc = db_connect(cfg, admin, true, out);
    if (rc)
        fprintf(stderr, "FAIL: cannot connect to MariaDB as the %s user (%s) on %s%s, database %s\n",
                admin ? "admin" : "application", admin ? cfg->db_admin_user : cfg->db_user,
                cfg->db_socket[0] ? "socket " : "host ", cfg->db_socket[0] ? cfg->db_socket : cfg->db_host,
                cfg->db_name);
    return rc;
}

/* first column of the first row as an integer; fails the test on a DB error */
static inline long long it_query_int(db_t *db, const char *sql, const dbv *args, int nargs) {
    db_res_t *r = NULL;
    int rc = db_query(db, sql, args, nargs, &r);
    if (rc) fail_msg("query failed (%d: %s): %s", rc, db_error(db), sql);
    long long v = db_res_next(r) ? db_res_int(r, 0) : -1;
    db_res_free(r);
    return v;
}

/* first column of the first row as a string into out ("" when no row) */
static inline void it_query_str(db_t *db, const char *sql, const dbv *args, int nargs, char *out, size_t outlen) {
    db_res_t *r = NULL;
    int rc = db_query(db, sql, args, nargs, &r);
    if (rc) fail_msg("query failed (%d: %s): %s", rc, db_error(db), sql);
    out[0] = 0;
    if (db_res_next(r)) snprintf(out, outlen, "%s", db_res_str(r, 0));
    db_res_free(r);
}

typedef struct {
    long long id;
    char ref[REF_MAX];           /* tenant:ULID */
    char ulid[ULID_LEN + 1];     /* the ULID part of ref */
    char slug[64];
} it_tenant_t;

/* INSERTs a fresh tenant with a unique slug "it-<prefix>-<ulid lower-case>" */
static inline void it_tenant_new(db_t *db, const char *prefix, it_tenant_t *t) {
    memset(t, 0, sizeof *t);
    assert_int_equal(ref_new("tenant", t->ref), 0);
    assert_true(ref_parse(t->ref, "tenant", NULL, t->ulid));
    char low[ULID_LEN + 1];
    for (int i = 0; i <= ULID_LEN; i++) low[i] = (char)tolower((unsigned char)t->ulid[i]);
    snprintf(t->slug, sizeof t->slug, "it-%.20s-%s", prefix, low);
    char name[128];
    snprintf(name, sizeof name, "Integration test %s", prefix);
    uint64_t id = 0;
    int rc = db_exec(db, "INSERT INTO tenants (ref, slug, name) VALUES (?, ?, ?)",
                     DB_ARGS(DBS(t->ref), DBS(t->slug), DBS(name)), NULL, &id);
    if (rc) fail_msg("cannot insert a test tenant (%d: %s)", rc, db_error(db));
    assert_true(id > 0);
    t->id = (long long)id;
}

/* One "CREATE TRIGGER <name> <timing> <event> ON <table> ..." statement of the
 * embedded migrations (aispm_migrations[], in the order they are applied). */
typedef struct {
    char name[65];
    char timing[8]; /* BEFORE | AFTER */
    char event[8];  /* INSERT | UPDATE | DELETE */
    char table[65];
    int migration;  /* index into aispm_migrations[] */
} it_trigger_def_t;

/* Collects the triggers every embedded migration creates on tables whose name
 * starts with table_prefix ("" = all), in migration order. Only statements at
 * the start of a line count (not mentions in comments). Returns how many, or
 * -1 (with a message on stderr) if one cannot be parsed or there are more
 * than max. */
static inline int it_embedded_triggers(const char *table_prefix, it_trigger_def_t *out, int max) {
    static const char KW[] = "CREATE TRIGGER ";
    int n = 0;
    for (int m = 0; m < aispm_migrations_count; m++) {
        const char *sql = aispm_migrations[m].sql;
        for (const char *p = strstr(sql, KW); p; p = strstr(p + 1, KW)) {
            if (p != sql && p[-1] != '\n') continue;
            it_trigger_def_t d = {.migration = m};
            char on[8] = "";
            if (sscanf(p + sizeof KW - 1, "%64s %7s %7s %7s %64s", d.name, d.timing, d.event, on, d.table) != 5 ||
                strcmp(on, "ON") != 0 || (strcmp(d.timing, "BEFORE") != 0 && strcmp(d.timing, "AFTER") != 0)) {
                fprintf(stderr, "cannot parse \"%.60s\" in the embedded migration %s\n", p, aispm_migrations[m].name);
                return -1;
            }
            if (strncmp(d.table, table_prefix, strlen(table_prefix)) != 0) continue;
            if (n >= max) {
                fprintf(stderr, "more than %d triggers in the embedded migrations\n", max);
                return -1;
            }
            out[n++] = d;
        }
    }
    return n;
}

#endif
