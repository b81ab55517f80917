/*
 * operations.h: the operations dashboard of a tenant — every query it needs
 * lives in operations.c — projected as
 * aispm-report-operations-dashboard.schema.json.
 *
 * Sources: schedules and schedule_runs (scheduled reports, next runs, retries,
 * failed runs), deliveries (queued, retrying, failed, dead-lettered and
 * blocked sends), approval_requests (pending approvals and their age), jobs
 * (render queue depth and age), render_requests, chain_pending (evidence not
 * yet linked into the chain) and the evidence refs recorded by artifacts, schedules and
 * runs (audit coverage: refs expected versus events persisted and linked).
 */
#ifndef AISPM_REPORTS_OPERATIONS_H
#define AISPM_REPORTS_OPERATIONS_H

#include <json-c/json.h>
#include <stdint.h>

#include "db/db.h"
#include "server/http.h"

int operations_dashboard(db_t *db, const actor_t *a, int64_t now_ms, json_object **out);

#endif
