/*
 * metrics.h: Prometheus counters shared by all worker processes.
 *
 * The master maps one anonymous shared region before forking; workers update
 * it with atomic adds, and any worker can render the whole picture for
 * /metrics. Per route (by table index, plus one slot for unmatched paths):
 * requests by status class, a latency histogram and its sum.
 */
#ifndef AISPM_SERVER_METRICS_H
#define AISPM_SERVER_METRICS_H

#include <stdint.h>

#include "core/buf.h"

#define METRICS_MAX_ROUTES 257 /* last slot: unmatched */
#define METRICS_BUCKETS 12

typedef struct metrics metrics_t;

metrics_t *metrics_create(void); /* mmap(MAP_SHARED|MAP_ANONYMOUS) */
void metrics_set_current(metrics_t *m); /* this process's region (may be NULL) */
void metrics_observe(int route_index, int status, int64_t duration_us);
void metrics_worker_restart(void);
void metrics_db_error(void);
void metrics_render(buf_t *out);

#endif
