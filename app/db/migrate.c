/*
 * migrate.c: applies embedded migrations as the admin user and sets up the
 * least-privilege application user (see migrate.h).
 *
 * Identifiers used in DDL here (database, user, table names) come from the
 * configuration or information_schema, never from requests, and are checked
 * against [a-z0-9_] before use.
 */
#include "db/migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "db/embedded.h"

static bool ident_ok(const char *s) {
    if (!*s || strlen(s) > 64) return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')) return false;
    return true;
}

int db_latest_version(void) {
    int v = 0;
    for (int i = 0; i < aispm_migrations_count; i++) {
        int x = atoi(aispm_migrations[i].name);
        if (x > v) v = x;
    }
    return v;
}

int db_schema_current(db_t *db, bool *current) {
    db_res_t *res;
    *current = false;
    int rc = db_query(db, "SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations", DB_NOARGS, &res);
    if (rc) return rc;
    if (db_res_next(res))
        *current = db_res_int(res, 0) == db_latest_version() && db_res_int(res, 1) == aispm_migrations_count;
    db_res_free(res);
    return 0;
}

static int grant_app_user(db_t *db, const config_t *cfg, char *err, size_t errlen) {
    char pw[256];
    if (!cfg->db_password_ref[0] || secret_resolve(cfg->db_password_ref, pw, sizeof pw) != 0 || !pw[0]) {
        snprintf(err, errlen, "db_password_ref does not resolve to a password");
        return AISPM_EINVAL;
    }
    for (const char *p = pw; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("+/=_-.", *p))) {
            snprintf(err, errlen, "the application password may only contain [A-Za-z0-9+/=_.-]");
            memset(pw, 0, sizeof pw);
            return AISPM_EINVAL;
        }
    const char *hosts[] = {"localhost", "127.0.0.1"};
    buf_t sql = BUF_INIT;
    int rc = 0;
    for (int h = 0; h < 2 && !rc; h++) {
        buf_reset(&sql);
        buf_printf(&sql, "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'; ALTER USER '%s'@'%s' IDENTIFIED BY '%s';",
                   cfg->db_user, hosts[h], pw, cfg->db_user, hosts[h], pw);
        rc = db_exec_script(db, sql.data);
        /* revoke only privileges beyond the intended set: a blanket REVOKE
         * would briefly deny a running server while migrate re-grants */
        if (!rc) {
            char grantee[160];
            snprintf(grantee, sizeof grantee, "'%s'@'%s'", cfg->db_user, hosts[h]);
            db_res_t *res;
            rc = db_query(db,
                          "SELECT (SELECT COUNT(*) FROM information_schema.user_privileges WHERE grantee = ? "
                          "        AND privilege_type <> 'USAGE') + "
                          "(SELECT COUNT(*) FROM information_schema.schema_privileges WHERE grantee = ?) + "
                          "(SELECT COUNT(*) FROM information_schema.column_privileges WHERE grantee = ?) + "
                          "(SELECT COUNT(*) FROM information_schema.table_privileges WHERE grantee = ? AND ("
                          "   privilege_type NOT IN ('SELECT','INSERT','UPDATE','DELETE') OR table_schema <> ? OR "
                          "   (privilege_type IN ('UPDATE','DELETE') AND (table_name LIKE 'evidence\\_%' OR "
                          "    table_name IN ('signing_keys','signing_certificates','schema_migrations'))) OR "
                          "   (privilege_type = 'INSERT' AND table_name = 'schema_migrations')))",
                          DB_ARGS(DBS(grantee), DBS(grantee), DBS(grantee), DBS(grantee), DBS(cfg->db_name)), &res);
            long long excess = 0;
            if (!rc && db_res_next(res)) excess = db_res_int(res, 0);
            if (!rc) db_res_free(res);
            if (!rc && excess) {
                buf_reset(&sql);
                buf_printf(&sql, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s", grantee);
                rc = db_exec_script(db, sql.data);
            }
        }
    }
    memset(pw, 0, sizeof pw);
    if (sql.data) memset(sql.data, 0, sql.len);
    buf_free(&sql);
    if (rc) {
        snprintf(err, errlen, "cannot create the application user");
        return rc;
    }
    db_res_t *res;
    rc = db_query(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
                  DB_ARGS(DBS(cfg->db_name)), &res);
    if (rc) return rc;
    buf_t g = BUF_INIT;
    while (db_res_next(res)) {
        const char *t = db_res_str(res, 0);
        if (!ident_ok(t)) continue;
        /* append-only: evidence_* and the public keys and certificates
         * signatures verify against; read-only: the migration record */
        const char *privs = "SELECT, INSERT, UPDATE, DELETE";
        if (!strncmp(t, "evidence_", 9) || !strcmp(t, "signing_keys") || !strcmp(t, "signing_certificates"))
            privs = "SELECT, INSERT";
        if (!strcmp(t, "schema_migrations")) privs = "SELECT";
        for (int h = 0; h < 2; h++)
            buf_printf(&g, "GRANT %s ON `%s`.`%s` TO '%s'@'%s';", privs, cfg->db_name, t, cfg->db_user, hosts[h]);
    }
    db_res_free(res);
    rc = g.len ? db_exec_script(db, g.data) : 0;
    buf_free(&g);
    if (rc) snprintf(err, errlen, "granting privileges failed");
    return rc;
}

int db_migrate(const config_t *cfg, int *applied_out, char *err, size_t errlen) {
    if (applied_out) *applied_out = 0;
    if (!ident_ok(cfg->db_name) || !ident_ok(cfg->db_user)) {
        snprintf(err, errlen, "db_name and db_user must match [a-z0-9_]+");
        return AISPM_EINVAL;
    }
    db_t *db;
    if (db_connect(cfg, true, false, &db) != 0) {
        snprintf(err, errlen, "cannot connect to MariaDB as %s", cfg->db_admin_user);
        return AISPM_EDB;
    }
    buf_t sql = BUF_INIT;
    buf_printf(&sql, "CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; USE `%s`;",
               cfg->db_name, cfg->db_name);
    int rc = db_exec_script(db, sql.data);
    buf_free(&sql);
    if (!rc)
        rc = db_exec_script(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                "version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                                "checksum CHAR(64) NOT NULL, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB");
    if (rc) {
        snprintf(err, errlen, "cannot prepare database %s", cfg->db_name);
        db_close(db);
        return rc;
    }
    /* what is applied already */
    db_res_t *res;
    rc = db_query(db, "SELECT version, name, checksum FROM schema_migrations ORDER BY version", DB_NOARGS, &res);
    if (rc) {
        db_close(db);
        return rc;
    }
    int latest = db_latest_version();
    int napplied = 0;
    struct {
        int version;
        char checksum[65];
    } applied[512];
    while (db_res_next(res) && napplied < 512) {
        applied[napplied].version = (int)db_res_int(res, 0);
        snprintf(applied[napplied].checksum, 65, "%s", db_res_str(res, 2));
        if (applied[napplied].version > latest) {
            snprintf(err, errlen,
                     "the database has migration %d applied but this binary knows only up to %d: refusing to run an "
                     "older binary against a newer schema",
                     applied[napplied].version, latest);
            db_res_free(res);
            db_close(db);
            return AISPM_ECONFLICT;
        }
        napplied++;
    }
    db_res_free(res);
    int count = 0;
    for (int i = 0; i < aispm_migrations_count; i++) {
        const aispm_embedded_file *m = &aispm_migrations[i];
        int version = atoi(m->name);
        char sum[65];
        sha256_hex(m->sql, strlen(m->sql), sum);
        bool done = false;
        for (int k = 0; k < napplied; k++)
            if (applied[k].version == version) {
                done = true;
                if (strcmp(applied[k].checksum, sum) != 0) {
                    snprintf(err, errlen, "migration %s was changed after it was applied (checksum mismatch)",
                             m->name);
                    db_close(db);
                    return AISPM_ECONFLICT;
                }
            }
        if (done) continue;
        if (db_exec_script(db, m->sql) != 0) {
            snprintf(err, errlen, "migration %s failed: %s", m->name, db_error(db));
            db_close(db);
            return AISPM_EDB;
        }
        rc = db_exec(db,
                     "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                     "VALUES (?, ?, ?, UTC_TIMESTAMP(6))",
                     DB_ARGS(DBI(version), DBS(m->name), DBS(sum)), NULL, NULL);
        if (rc) {
            snprintf(err, errlen, "cannot record migration %s", m->name);
            db_close(db);
            return rc;
        }
        log_msg(LOG_INFO, "migration_applied", "%s", m->name);
        count++;
    }
    rc = grant_app_user(db, cfg, err, errlen);
    db_close(db);
    if (applied_out) *applied_out = count;
    return rc;
}
