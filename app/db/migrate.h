/*
 * migrate.h: versioned schema migrations (db/migrations/NNN_name.sql, embedded
 * in the binary) and the least-privilege application user.
 */
#ifndef AISPM_DB_MIGRATE_H
#define AISPM_DB_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "db/db.h"

/* creates the database if needed, applies pending migrations in order
 * (recording version, name and SHA-256 of each), refuses a database that has
 * a newer or a different version applied, then (re)creates the application
 * user: SELECT/INSERT/UPDATE/DELETE on ordinary tables, SELECT/INSERT only on
 * evidence_* tables, signing_keys and signing_certificates. applied_out (may be NULL) = migrations applied now. */
int db_migrate(const config_t *cfg, int *applied_out, char *err, size_t errlen);
/* true when every embedded migration is applied and none newer exists */
int db_schema_current(db_t *db, bool *current);
int db_latest_version(void);

#endif
