/*
 * catalog.h: the report catalog — the six Community and six Enterprise
 * report types of the public delivery contract, the formats this Report
 * Center renders them in and their audiences — and each tenant's choice of
 * which are enabled.
 */
#ifndef AISPM_REPORTS_CATALOG_H
#define AISPM_REPORTS_CATALOG_H

#include <json-c/json.h>
#include <stdbool.h>

#include "db/db.h"
#include "server/http.h"

#define CATALOG_MAX_FORMATS 6
#define CATALOG_MAX_AUDIENCES 4

typedef struct {
    const char *report_id;
    const char *title;
    const char *summary;
    const char *availability; /* community | requires_cavra_enterprise */
    const char *contract_formats[CATALOG_MAX_FORMATS]; /* as published in the contract */
    const char *formats[CATALOG_MAX_FORMATS];          /* what we render (superset) */
    const char *audiences[CATALOG_MAX_AUDIENCES];
} catalog_report_t;

int catalog_count(void);
const catalog_report_t *catalog_at(int i);
const catalog_report_t *catalog_find(const char *report_id);
bool catalog_enabled(const actor_t *a, const char *report_id);

/* {"tenant_ref", "reports":[{report_id,title,summary,availability,formats,
 * audiences,enabled}], "enabled_count", "total"}; include_disabled shows the
 * disabled ones too (for catalog managers) */
json_object *catalog_projection(const actor_t *a, bool include_disabled);
/* the same projection serialized (compact JSON), from a small per-process
 * cache: the catalog is compiled in, so a projection depends only on the
 * tenant, its disabled list and include_disabled. The returned text stays
 * valid until the next call; *cache is created on first use and freed with
 * catalog_cache_free. */
const char *catalog_projection_json(catalog_cache_t **cache, const actor_t *a, bool include_disabled, size_t *len);
void catalog_cache_free(catalog_cache_t *cache);
/* enables/disables a report for the actor's tenant, with evidence.
 * AISPM_ENOTFOUND for an unknown report id. */
int catalog_set_enabled(db_t *db, actor_t *a, const char *report_id, bool enabled, const char *request_id);
/* the public delivery-contract projection
 * (aispm-report-delivery-contract.schema.json) */
json_object *catalog_delivery_contract(void);

#endif
