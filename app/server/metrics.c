/* metrics.c: shared-memory Prometheus counters (see metrics.h). */
#include "server/metrics.h"

#include <sys/mman.h>

#include "server/router.h"

static const double bucket_ms[METRICS_BUCKETS] = {0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};

typedef struct {
    uint64_t status[6]; /* index = status / 100 */
    uint64_t buckets[METRICS_BUCKETS];
    uint64_t count;
    uint64_t sum_us;
} route_stats;

struct metrics {
    route_stats routes[METRICS_MAX_ROUTES];
    uint64_t worker_restarts;
    uint64_t db_errors;
};

static metrics_t *g_cur;

metrics_t *metrics_create(void) {
    void *p = mmap(NULL, sizeof(metrics_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : (metrics_t *)p;
}
void metrics_set_current(metrics_t *m) { g_cur = m; }

#define ADD(x, v) __atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void metrics_observe(int route_index, int status, int64_t duration_us) {
    if (!g_cur) return;
    if (route_index < 0 || route_index >= METRICS_MAX_ROUTES - 1) route_index = METRICS_MAX_ROUTES - 1;
    route_stats *s = &g_cur->routes[route_index];
    int cls = status / 100;
    if (cls < 0 || cls > 5) cls = 5;
    ADD(s->status[cls], 1);
    double ms = (double)duration_us / 1000.0;
    for (int i = 0; i < METRICS_BUCKETS; i++)
        if (ms <= bucket_ms[i]) ADD(s->buckets[i], 1);
    ADD(s->count, 1);
    ADD(s->sum_us, (uint64_t)(duration_us > 0 ? duration_us : 0));
}
void metrics_worker_restart(void) {
    if (g_cur) ADD(g_cur->worker_restarts, 1);
}
void metrics_db_error(void) {
    if (g_cur) ADD(g_cur->db_errors, 1);
}

void metrics_render(buf_t *o) {
    if (!g_cur) return;
    buf_puts(o, "# HELP aispm_http_requests_total HTTP requests by route and status class.\n"
                "# TYPE aispm_http_requests_total counter\n");
    int n = router_count();
    for (int i = 0; i < METRICS_MAX_ROUTES; i++) {
        const route_t *rt = i == METRICS_MAX_ROUTES - 1 ? NULL : router_at(i);
        if (i < METRICS_MAX_ROUTES - 1 && i >= n) continue;
        const char *name = rt ? rt->name : "unmatched";
        route_stats *s = &g_cur->routes[i];
        for (int c = 1; c <= 5; c++) {
            uint64_t v = LOAD(s->status[c]);
            if (v) buf_printf(o, "aispm_http_requests_total{route=\"%s\",status=\"%dxx\"} %lu\n", name, c, (unsigned long)v);
        }
    }
    buf_puts(o, "# HELP aispm_http_request_duration_seconds Request latency by route.\n"
                "# TYPE aispm_http_request_duration_seconds histogram\n");
    for (int i = 0; i < METRICS_MAX_ROUTES; i++) {
        const route_t *rt = i == METRICS_MAX_ROUTES - 1 ? NULL : router_at(i);
        if (i < METRICS_MAX_ROUTES - 1 && i >= n) continue;
        route_stats *s = &g_cur->routes[i];
        uint64_t count = LOAD(s->count);
        if (!count) continue;
        const char *name = rt ? rt->name : "unmatched";
        for (int b = 0; b < METRICS_BUCKETS; b++)
            buf_printf(o, "aispm_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n", name,
                       bucket_ms[b] / 1000.0, (unsigned long)LOAD(s->buckets[b]));
        buf_printf(o, "aispm_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n", name,
                   (unsigned long)count);
        buf_printf(o, "aispm_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
                   (double)LOAD(s->sum_us) / 1e6);
        buf_printf(o, "aispm_http_request_duration_seconds_count{route=\"%s\"} %lu\n", name, (unsigned long)count);
    }
    buf_printf(o,
               "# HELP aispm_worker_restarts_total Worker processes replaced after a crash.\n"
               "# TYPE aispm_worker_restarts_total counter\naispm_worker_restarts_total %lu\n"
               "# HELP aispm_db_errors_total Database errors seen by any process.\n"
               "# TYPE aispm_db_errors_total counter\naispm_db_errors_total %lu\n",
               (unsigned long)LOAD(g_cur->worker_restarts), (unsigned long)LOAD(g_cur->db_errors));
}
