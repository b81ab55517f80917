/* embedded.h: SQL migration files compiled into the binary (see bin2c.c). */
#ifndef AISPM_DB_EMBEDDED_H
#define AISPM_DB_EMBEDDED_H

typedef struct {
    const char *name; /* "001_platform.sql" */
    const char *sql;
} aispm_embedded_file;

extern const aispm_embedded_file aispm_migrations[];
extern const int aispm_migrations_count;

#endif
