/*
 * test_migrate.c: integration tests of db_migrate (app/db/migrate.c) against
 * the configured (already migrated) database: idempotence, refusal of a newer
 * or altered schema, and the least-privilege application user.
 *
 * Needs AISPM_TEST_CONFIG; fails, never skips, without it. Rows the tests add
 * to or change in schema_migrations are put back by the teardowns, which
 * cmocka runs even when a test fails.
 */
#include "it_common.h"

#include "core/hash.h"
#include "db/embedded.h"
#include "db/migrate.h"

static struct {
    config_t cfg;
    db_t *app;
    db_t *admin;
    char checksum1[65];    /* stored checksum of the first migration */
    int version1;
    char suffix[ULID_LEN + 1]; /* lower-case, for probe object names */
} W;

static struct {
    bool remove_9999;
    bool restore_checksum;
    bool drop_probes;
} C;

static int group_setup(void **state) {
    (void)state;
    if (it_load_config(&W.cfg)) return -1;
    if (it_connect(&W.cfg, false, &W.app) || it_connect(&W.cfg, true, &W.admin)) return -1;
    if (aispm_migrations_count < 1) {
        fprintf(stderr, "FAIL: no embedded migrations\n");
        return -1;
    }
    W.version1 = atoi(aispm_migrations[0].name);
    db_res_t *r;
    if (db_query(W.admin, "SELECT checksum FROM schema_migrations WHERE version = ?", DB_ARGS(DBI(W.version1)), &r))
        return -1;
    if (db_res_next(r)) snprintf(W.checksum1, sizeof W.checksum1, "%s", db_res_str(r, 0));
    db_res_free(r);
    if (strlen(W.checksum1) != 64) {
        fprintf(stderr, "FAIL: database %s is not migrated (no schema_migrations row for version %d)\n",
                W.cfg.db_name, W.version1);
        return -1;
    }
    char u[ULID_LEN + 1];
    if (ulid_new(u)) return -1;
    for (int i = 0; i <= ULID_LEN; i++) W.suffix[i] = (char)tolower((unsigned char)u[i]);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    db_close(W.app);
    db_close(W.admin);
    return 0;
}

static int test_setup(void **state) {
    (void)state;
    memset(&C, 0, sizeof C);
    return 0;
}

/* puts schema_migrations back; no cmocka asserts here */
static int test_teardown(void **state) {
    (void)state;
    int rc = 0;
    if (C.remove_9999 &&
        db_exec(W.admin, "DELETE FROM schema_migrations WHERE version = 9999", DB_NOARGS, NULL, NULL)) {
        fprintf(stderr, "cannot remove the schema_migrations row 9999: %s\n", db_error(W.admin));
        rc = -1;
    }
    if (C.restore_checksum && db_exec(W.admin, "UPDATE schema_migrations SET checksum = ? WHERE version = ?",
                                      DB_ARGS(DBS(W.checksum1), DBI(W.version1)), NULL, NULL)) {
        fprintf(stderr, "cannot restore the checksum of migration %d: %s\n", W.version1, db_error(W.admin));
        rc = -1;
    }
    if (C.drop_probes) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS it_probe_%s; DROP DATABASE IF EXISTS it_probe_%s", W.suffix,
                 W.suffix);
        if (db_exec_script(W.admin, sql)) rc = -1;
    }
    return rc;
}

/* the application user's table privileges, one "table:PRIV,PRIV\n" line per
 * table, sorted */
static void app_table_privileges(char *out, size_t outlen) {
    db_res_t *r;
    assert_int_equal(db_query(W.admin,
                              "SELECT TABLE_NAME, GRANTEE, GROUP_CONCAT(PRIVILEGE_TYPE ORDER BY PRIVILEGE_TYPE) "
                              "FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = ? AND "
                              "GRANTEE IN (CONCAT('''', ?, '''@''localhost'''), CONCAT('''', ?, '''@''127.0.0.1''')) "
                              "GROUP BY TABLE_NAME, GRANTEE ORDER BY TABLE_NAME, GRANTEE",
                              DB_ARGS(DBS(W.cfg.db_name), DBS(W.cfg.db_user), DBS(W.cfg.db_user)), &r),
                     0);
    size_t used = 0;
    out[0] = 0;
    while (db_res_next(r)) {
        int n = snprintf(out + used, outlen - used, "%s %s:%s\n", db_res_str(r, 0), db_res_str(r, 1),
                         db_res_str(r, 2));
        assert_true(n > 0 && (size_t)n < outlen - used);
        used += (size_t)n;
    }
    db_res_free(r);
}

static int count_evidence_triggers(void) {
    return (int)it_query_int(W.admin,
                             "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
                             "AND EVENT_OBJECT_TABLE LIKE 'evidence\\_%' AND ACTION_TIMING = 'BEFORE' "
                             "AND EVENT_MANIPULATION IN ('UPDATE', 'DELETE') AND ACTION_STATEMENT LIKE 'SIGNAL%'",
                             DB_NOARGS);
}

/* every trigger the embedded migrations create exists, on the table and with
 * the timing and event they give it */
static void check_embedded_triggers(void) {
    it_trigger_def_t defs[64];
    int n = it_embedded_triggers("", defs, 64);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        long long found = it_query_int(W.admin,
                                       "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = "
                                       "DATABASE() AND TRIGGER_NAME = ? AND EVENT_OBJECT_TABLE = ? "
                                       "AND ACTION_TIMING = ? AND EVENT_MANIPULATION = ?",
                                       DB_ARGS(DBS(defs[i].name), DBS(defs[i].table), DBS(defs[i].timing),
                                               DBS(defs[i].event)));
        if (found != 1)
            fail_msg("trigger %s (%s %s ON %s) of %s is missing", defs[i].name, defs[i].timing, defs[i].event,
                     defs[i].table, aispm_migrations[defs[i].migration].name);
    }
    print_message("%d triggers of %d embedded migrations present\n", n, aispm_migrations_count);
}

static void test_migrate_is_idempotent(void **state) {
    (void)state;
    char before[8192], after[8192];
    app_table_privileges(before, sizeof before);

    char err[512] = "";
    int applied = -1;
    int rc = db_migrate(&W.cfg, &applied, err, sizeof err);
    if (rc) fail_msg("db_migrate failed (%d): %s", rc, err);
    /* the harness migrated the database already, normally with this very
     * binary's migrations (then 0) */
    assert_in_range(applied, 0, aispm_migrations_count);
    applied = -1;
    rc = db_migrate(&W.cfg, &applied, err, sizeof err);
    if (rc) fail_msg("second db_migrate failed (%d): %s", rc, err);
    assert_int_equal(applied, 0);

    bool current = false;
    assert_int_equal(db_schema_current(W.app, &current), 0);
    assert_true(current);

    /* one row per embedded migration, with its name and SHA-256 */
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM schema_migrations", DB_NOARGS),
                     aispm_migrations_count);
    int latest = 0;
    for (int i = 0; i < aispm_migrations_count; i++) {
        int v = atoi(aispm_migrations[i].name);
        assert_true(v > 0);
        if (v > latest) latest = v;
        char sum[65], stored[65], name[256];
        sha256_hex(aispm_migrations[i].sql, strlen(aispm_migrations[i].sql), sum);
        it_query_str(W.app, "SELECT checksum FROM schema_migrations WHERE version = ?", DB_ARGS(DBI(v)), stored,
                     sizeof stored);
        assert_string_equal(stored, sum);
        it_query_str(W.app, "SELECT name FROM schema_migrations WHERE version = ?", DB_ARGS(DBI(v)), name,
                     sizeof name);
        assert_string_equal(name, aispm_migrations[i].name);
    }
    assert_int_equal(db_latest_version(), latest);
    assert_int_equal(it_query_int(W.app, "SELECT MAX(version) FROM schema_migrations", DB_NOARGS), latest);
    /* versions are unique and the list is applied in ascending order */
    for (int i = 1; i < aispm_migrations_count; i++)
        assert_true(atoi(aispm_migrations[i].name) > atoi(aispm_migrations[i - 1].name));

    /* re-running re-creates the same application user: same grants, the
     * configured password still works */
    app_table_privileges(after, sizeof after);
    assert_string_equal(before, after);
    db_t *fresh = NULL;
    assert_int_equal(it_connect(&W.cfg, false, &fresh), 0);
    assert_int_equal(it_query_int(fresh, "SELECT 1", DB_NOARGS), 1);
    db_close(fresh);
    /* the append-only set: every BEFORE UPDATE/DELETE trigger the embedded
     * migrations put on evidence_* tables (001: 6, 009: 2 more) */
    it_trigger_def_t defs[64];
    int n = it_embedded_triggers("evidence_", defs, 64), guards = 0;
    assert_true(n >= 0);
    for (int i = 0; i < n; i++)
        guards += !strcmp(defs[i].timing, "BEFORE") &&
                  (!strcmp(defs[i].event, "UPDATE") || !strcmp(defs[i].event, "DELETE"));
    assert_true(guards >= 8);
    assert_int_equal(count_evidence_triggers(), guards);
    check_embedded_triggers();
}

/* a database with a migration newer than this binary knows is refused */
static void test_migrate_refuses_newer_schema(void **state) {
    (void)state;
    C.remove_9999 = true;
    assert_int_equal(db_exec(W.admin,
                             "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                             "VALUES (9999, '9999_from_the_future.sql', REPEAT('0', 64), UTC_TIMESTAMP(6))",
                             DB_NOARGS, NULL, NULL),
                     0);
    bool current = true;
    assert_int_equal(db_schema_current(W.app, &current), 0);
    assert_false(current);

    char err[512] = "";
    int applied = -1;
    assert_int_equal(db_migrate(&W.cfg, &applied, err, sizeof err), AISPM_ECONFLICT);
    print_message("db_migrate: %s\n", err);
    assert_non_null(strstr(err, "9999"));
    assert_int_equal(applied, 0);
    /* nothing was recorded or removed */
    assert_int_equal(it_query_int(W.admin, "SELECT COUNT(*) FROM schema_migrations", DB_NOARGS),
                     aispm_migrations_count + 1);

    assert_int_equal(db_exec(W.admin, "DELETE FROM schema_migrations WHERE version = 9999", DB_NOARGS, NULL, NULL), 0);
    C.remove_9999 = false;
    assert_int_equal(db_schema_current(W.app, &current), 0);
    assert_true(current);
    assert_int_equal(db_migrate(&W.cfg, &applied, err, sizeof err), 0);
    assert_int_equal(applied, 0);
}

/* an applied migration whose embedded text changed is refused */
static void test_migrate_refuses_changed_migration(void **state) {
    (void)state;
    C.restore_checksum = true;
    uint64_t n = 0;
    assert_int_equal(db_exec(W.admin, "UPDATE schema_migrations SET checksum = REPEAT('0', 64) WHERE version = ?",
                             DB_ARGS(DBI(W.version1)), &n, NULL),
                     0);
    assert_int_equal(n, 1);
    char err[512] = "";
    int applied = -1;
    assert_int_equal(db_migrate(&W.cfg, &applied, err, sizeof err), AISPM_ECONFLICT);
    print_message("db_migrate: %s\n", err);
    assert_non_null(strstr(err, "checksum"));
    assert_non_null(strstr(err, aispm_migrations[0].name));
    assert_int_equal(applied, 0);
}

/* grants: evidence_*, signing_keys and signing_certificates SELECT/INSERT only, schema_migrations
 * SELECT only, other tables SELECT/INSERT/UPDATE/
 * DELETE, nothing at database or global level */
static void test_app_user_grants(void **state) {
    (void)state;
    char grants[8192];
    app_table_privileges(grants, sizeof grants);

    /* what migrate.h promises, for every table of the schema and both hosts */
    char expect[8192] = "";
    size_t used = 0;
    db_res_t *r;
    assert_int_equal(db_query(W.admin,
                              "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? "
                              "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                              DB_ARGS(DBS(W.cfg.db_name)), &r),
                     0);
    int tables = 0;
    while (db_res_next(r)) {
        const char *t = db_res_str(r, 0);
        if (strncmp(t, "it_probe_", 9) == 0) continue;
        const char *privs = "DELETE,INSERT,SELECT,UPDATE";
        if (strncmp(t, "evidence_", 9) == 0 || strcmp(t, "signing_keys") == 0 ||
            strcmp(t, "signing_certificates") == 0)
            privs = "INSERT,SELECT";
        if (strcmp(t, "schema_migrations") == 0) privs = "SELECT";
        /* GRANTEE sorts '127.0.0.1' before 'localhost' */
        int k = snprintf(expect + used, sizeof expect - used, "%s '%s'@'127.0.0.1':%s\n%s '%s'@'localhost':%s\n", t,
                         W.cfg.db_user, privs, t, W.cfg.db_user, privs);
        assert_true(k > 0 && (size_t)k < sizeof expect - used);
        used += (size_t)k;
        tables++;
    }
    db_res_free(r);
    assert_true(tables >= 3);
    assert_string_equal(grants, expect);

    const dbv users[] = {DBS(W.cfg.db_user), DBS(W.cfg.db_user)};
    assert_int_equal(it_query_int(W.admin,
                                  "SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE IN "
                                  "(CONCAT('''', ?, '''@''localhost'''), CONCAT('''', ?, '''@''127.0.0.1'''))",
                                  users, 2),
                     0);
    assert_int_equal(it_query_int(W.admin,
                                  "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE IN "
                                  "(CONCAT('''', ?, '''@''localhost'''), CONCAT('''', ?, '''@''127.0.0.1''')) "
                                  "AND PRIVILEGE_TYPE <> 'USAGE'",
                                  users, 2),
                     0);
    assert_int_equal(it_query_int(W.admin,
                                  "SELECT COUNT(*) FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE IN "
                                  "(CONCAT('''', ?, '''@''localhost'''), CONCAT('''', ?, '''@''127.0.0.1'''))",
                                  users, 2),
                     0);
}

/* DDL from the application user is refused by the server. Each probe is
 * harmless if it were allowed (an existing or missing table, or an object the
 * teardown drops); the error number tells "denied" from "allowed but failed". */
static void probe_denied(const char *sql, unsigned expect_errno) {
    int rc = db_exec_script(W.app, sql);
    unsigned no = db_errno(W.app);
    print_message("application user: %s -> rc %d errno %u (%s)\n", sql, rc, no, db_error(W.app));
    if (rc == 0) fail_msg("the application user was allowed to run: %s", sql);
    assert_int_equal(no, expect_errno);
}

static void test_app_user_cannot_run_ddl(void **state) {
    (void)state;
    C.drop_probes = true;
    char sql[256];
    /* CREATE: denied (1142), not "table exists" (1050) */
    probe_denied("CREATE TABLE tenants (id INT)", IT_ER_TABLEACCESS_DENIED);
    probe_denied("CREATE TABLE evidence_events (id INT)", IT_ER_TABLEACCESS_DENIED);
    snprintf(sql, sizeof sql, "CREATE TABLE it_probe_%s (id INT)", W.suffix);
    probe_denied(sql, IT_ER_TABLEACCESS_DENIED);
    /* DROP / ALTER / TRUNCATE / INDEX: denied (1142), not "unknown table" */
    snprintf(sql, sizeof sql, "DROP TABLE it_missing_%s", W.suffix);
    probe_denied(sql, IT_ER_TABLEACCESS_DENIED);
    snprintf(sql, sizeof sql, "ALTER TABLE it_missing_%s ADD COLUMN x INT", W.suffix);
    probe_denied(sql, IT_ER_TABLEACCESS_DENIED);
    snprintf(sql, sizeof sql, "TRUNCATE TABLE it_missing_%s", W.suffix);
    probe_denied(sql, IT_ER_TABLEACCESS_DENIED);
    snprintf(sql, sizeof sql, "CREATE INDEX it_ix ON it_missing_%s (x)", W.suffix);
    probe_denied(sql, IT_ER_TABLEACCESS_DENIED);
    /* no database-level rights either (1044 ER_DBACCESS_DENIED_ERROR) */
    snprintf(sql, sizeof sql, "CREATE DATABASE it_probe_%s", W.suffix);
    probe_denied(sql, 1044);

    /* and the schema is untouched: the probe table does not exist */
    snprintf(sql, sizeof sql, "it_probe_%s", W.suffix);
    assert_int_equal(it_query_int(W.admin,
                                  "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? "
                                  "AND TABLE_NAME = ?",
                                  DB_ARGS(DBS(W.cfg.db_name), DBS(sql))),
                     0);
    /* the same user may do ordinary DML (so the denials above are about DDL) */
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) >= 0 FROM tenants", DB_NOARGS), 1);
}

int main(void) {
    if (!getenv("AISPM_TEST_CONFIG") || !*getenv("AISPM_TEST_CONFIG")) {
        config_t c;
        it_load_config(&c); /* prints why */
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_is_idempotent, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_newer_schema, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_changed_migration, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_app_user_grants, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_app_user_cannot_run_ddl, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
