/*
 * setup.h: the report-delivery setup wizard — the four steps of the public
 * setup-wizard contract (organization profile, delivery provider, recipient
 * governance, schedule and audit), their validation, persistence as tenant
 * settings, and the contract projection.
 *
 * Settings whose names end in _REF hold secret references (env:NAME,
 * file:/abs/path) and never secret values: a value that is not a valid
 * reference is rejected with a field-level error and is not stored, logged
 * or echoed back. Evidence of a saved step names the fields, never values.
 */
#ifndef AISPM_REPORTS_SETUP_H
#define AISPM_REPORTS_SETUP_H

#include <json-c/json.h>
#include <stdbool.h>

#include "db/db.h"
#include "server/http.h"

typedef enum {
    FIELD_EMAIL = 1,
    FIELD_TIMEZONE,
    FIELD_INT,
    FIELD_TEXT,
    FIELD_ENUM,
    FIELD_HOST,
    FIELD_PORT,
    FIELD_SECRET_REF,
    FIELD_DOMAINS,
    FIELD_BOOL,
    FIELD_ROLES,
    FIELD_SCHEDULE,
    FIELD_RETRY,
} field_kind_t;

typedef struct {
    const char *name;  /* CAVRA_REPORT_* */
    const char *label;
    const char *help;
    field_kind_t kind;
    bool required;
    long min, max;              /* FIELD_INT */
    const char *const *choices; /* FIELD_ENUM, NULL-terminated */
    const char *placeholder;
} setup_field_t;

typedef struct {
    const char *step_id;
    const char *title;
    const char *description;
    const setup_field_t *fields;
    int nfields;
} setup_step_t;

int setup_step_count(void);
const setup_step_t *setup_step_at(int i);
const setup_step_t *setup_step_find(const char *step_id);

/* validates one step's values (object name -> string/number/bool). Values are
 * normalised in place to strings. *errors receives {field: message} when
 * AISPM_EINVAL is returned. */
int setup_validate_step(const setup_step_t *step, json_object *values, json_object **errors);
/* validates, stores, marks the step complete and records evidence */
int setup_save_step(db_t *db, const actor_t *a, const setup_step_t *step, json_object *values,
                    const char *request_id, json_object **errors);
/* {"steps":[{step_id,title,description,completed,fields:[{name,label,help,
 * kind,required,value,choices?}]}], "completed_steps", "complete",
 * "next_step"} */
int setup_state(db_t *db, const actor_t *a, json_object **out);
/* public setup-wizard contract projection
 * (aispm-report-setup-wizard-contract.schema.json) */
json_object *setup_contract_projection(void);

/* one stored setting of a tenant ("" when unset) */
int setup_setting(db_t *db, long long tenant_id, const char *name, char *out, size_t outlen);

#endif
