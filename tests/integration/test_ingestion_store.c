/*
 * test_ingestion_store.c: integration tests of reports/ingestion.c against a
 * real MariaDB — acceptance, duplicates (also racing processes), batches
 * with per-envelope results, rejection counters, the posture projection, the
 * public event view without private members, evidence in the same
 * transaction, and the demo history loading idempotently.
 *
 * Needs AISPM_TEST_CONFIG (see it_common.h); every test works on tenants it
 * creates itself.
 */
#include "it_common.h"

#include <json-c/json.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "reports/ingestion.h"
#include "server/http.h"

static struct {
    config_t cfg;
    db_t *app;
} W;

static int setup(void **state) {
    (void)state;
    if (it_load_config(&W.cfg) || it_connect(&W.cfg, false, &W.app)) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    db_close(W.app);
    return 0;
}

static void actor_for(const it_tenant_t *t, actor_t *a) {
    memset(a, 0, sizeof *a);
    a->kind = ACTOR_SYSTEM;
    a->tenant_id = t->id;
    snprintf(a->tenant_ref, sizeof a->tenant_ref, "%s", t->ref);
    snprintf(a->user_ref, sizeof a->user_ref, "system:it");
    snprintf(a->role, sizeof a->role, "tenant_admin");
    a->licence_ok = true;
}

static json_object *envelope(const char *tenant_ref, const char *event_id, const char *decision, const char *severity) {
    char txt[4096];
    snprintf(
        txt, sizeof txt,
        "{\"schema_version\":\"" INGESTION_SCHEMA_VERSION "\",\"product\":\"CAVRA\",\"edition\":\"enterprise\","
        "\"contract_visibility\":\"public_contract\","
        "\"event\":{\"event_id\":\"%s\",\"event_type\":\"tool_call\",\"occurred_at\":\"2026-11-02T09:15:00Z\","
        "\"session_id\":\"s-1\",\"agent_id\":\"it-agent\",\"decision\":\"%s\",\"severity\":\"%s\","
        "\"risk_classification\":\"it_risk\",\"policy_pack\":\"it-pack\",\"evidence_refs\":[\"e://1\"],"
        "\"actor_ref\":\"role:it-private-actor\",\"payload_ref\":\"enterprise-private://it-private-payload\"},"
        "\"source\":{\"connector_type\":\"codex\",\"connector_id\":\"it-conn\"},"
        "\"tenant\":{\"tenant_ref\":\"%s\",\"environment\":\"production\"},"
        "\"redaction\":{\"payload_handling\":\"private_payload_ref\",\"raw_prompt_included\":false,"
        "\"reasoning_included\":false,\"tool_output_included\":false},"
        "\"integrity\":{\"signature_required\":false,\"hash_algorithm\":\"sha256\"},"
        "\"transport\":{\"ingress_mode\":\"https\",\"delivery_semantics\":\"at_least_once\","
        "\"idempotency_key\":\"idem-%s\"},"
        "\"enterprise_boundaries\":{\"collector_implementation\":\"requires_cavra_enterprise\","
        "\"tenant_persistence\":\"requires_cavra_enterprise\",\"streaming_transport\":\"requires_cavra_enterprise\","
        "\"raw_payload_storage\":\"requires_cavra_enterprise\",\"license_enforcement\":\"requires_cavra_enterprise\"}}",
        event_id, decision, severity, tenant_ref, event_id);
    json_object *o = json_tokener_parse(txt);
    assert_non_null(o);
    return o;
}

static long long rows(const it_tenant_t *t, const char *event_id) {
    return it_query_int(W.app, "SELECT COUNT(*) FROM ingestion_events WHERE tenant_id = ? AND event_id = ?",
                        DB_ARGS(DBI(t->id), DBS(event_id)));
}

static long long jint(json_object *o, const char *a, const char *b) {
    json_object *x = o, *y;
    if (a) assert_true(json_object_object_get_ex(x, a, &x));
    assert_true(json_object_object_get_ex(x, b, &y));
    return json_object_get_int64(y);
}

static void test_accept_then_duplicate(void **state) {
    (void)state;
    it_tenant_t t;
    it_tenant_new(W.app, "ingest", &t);
    actor_t a;
    actor_for(&t, &a);
    json_object *env = envelope(t.ref, "evt-1", "block", "critical");
    ingestion_outcome_t o1, o2;
    assert_int_equal(ingestion_ingest_one(W.app, &a, env, "rid-1", &o1), 0);
    assert_int_equal(o1.status, 201);
    assert_int_equal(ingestion_ingest_one(W.app, &a, env, "rid-2", &o2), 0);
    assert_int_equal(o2.status, 200);
    json_object *dup;
    assert_true(json_object_object_get_ex(o2.body, "duplicate", &dup) && json_object_get_boolean(dup));
    json_object_object_add(o2.body, "duplicate", json_object_new_boolean(0));
    assert_string_equal(json_object_to_json_string(o1.body), json_object_to_json_string(o2.body));
    assert_int_equal(rows(&t, "evt-1"), 1);
    /* one evidence event, in the tenant's chain */
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM evidence_events WHERE tenant_id = ? AND "
                                  "action = 'ingestion.event_accepted'",
                                  DB_ARGS(DBI(t.id))),
                     1);
    /* the public view has no private member, the private columns do */
    json_object *view;
    assert_int_equal(ingestion_event_get(W.app, &a, "evt-1", &view), 0);
    const char *txt = json_object_to_json_string(view);
    assert_null(strstr(txt, "it-private"));
    assert_non_null(strstr(txt, "it-agent"));
    json_object_put(view);
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM ingestion_events WHERE tenant_id = ? AND payload_ref = "
                                  "'enterprise-private://it-private-payload' AND actor_ref = 'role:it-private-actor'",
                                  DB_ARGS(DBI(t.id))),
                     1);
    /* posture and health */
    json_object *p, *h;
    assert_int_equal(ingestion_posture(W.app, &a, &p), 0);
    assert_int_equal(jint(p, "totals", "events"), 1);
    assert_int_equal(jint(p, "totals", "blocked"), 1);
    assert_int_equal(jint(p, "decisions", "block"), 1);
    assert_int_equal(jint(p, "findings", "total"), 1);
    json_object_put(p);
    assert_int_equal(ingestion_health(W.app, &a, &h), 0);
    assert_int_equal(jint(h, NULL, "accepted"), 1);
    assert_int_equal(jint(h, NULL, "duplicates"), 1);
    json_object_put(h);
    /* another tenant does not see it */
    it_tenant_t t2;
    it_tenant_new(W.app, "ingest-other", &t2);
    actor_t a2;
    actor_for(&t2, &a2);
    assert_int_equal(ingestion_event_get(W.app, &a2, "evt-1", &view), AISPM_ENOTFOUND);
    /* nor can it store into the first tenant */
    ingestion_outcome_t o3;
    json_object *env2 = envelope(t.ref, "evt-2", "allow", "none");
    assert_int_equal(ingestion_ingest_one(W.app, &a2, env2, NULL, &o3), 0);
    assert_int_equal(o3.status, 403);
    assert_string_equal(o3.code, INGESTION_TENANT_MISMATCH);
    assert_int_equal(rows(&t, "evt-2") + rows(&t2, "evt-2"), 0);
    ingestion_outcome_free(&o1);
    ingestion_outcome_free(&o2);
    ingestion_outcome_free(&o3);
    json_object_put(env);
    json_object_put(env2);
}

static void test_racing_processes_store_once(void **state) {
    (void)state;
    it_tenant_t t;
    it_tenant_new(W.app, "ingest-race", &t);
    enum { N = 8 };
    pid_t pids[N];
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            db_t *db;
            if (db_connect(&W.cfg, false, true, &db)) _exit(2);
            actor_t a;
            actor_for(&t, &a);
            json_object *env = envelope(t.ref, "race-1", "warn", "medium");
            char go;
            if (read(pipefd[0], &go, 1) != 1) _exit(3);
            ingestion_outcome_t o;
            int rc = ingestion_ingest_one(db, &a, env, NULL, &o);
            int status = rc ? 0 : o.status;
            ingestion_outcome_free(&o);
            json_object_put(env);
            db_close(db);
            _exit(status == 201 ? 10 : status == 200 ? 11 : 4);
        }
    }
    close(pipefd[0]);
    char go[N];
    memset(go, 'g', sizeof go);
    assert_int_equal(write(pipefd[1], go, N), N);
    close(pipefd[1]);
    int created = 0, duplicates = 0;
    for (int i = 0; i < N; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        created += WEXITSTATUS(st) == 10;
        duplicates += WEXITSTATUS(st) == 11;
    }
    assert_int_equal(created, 1);
    assert_int_equal(duplicates, N - 1);
    assert_int_equal(rows(&t, "race-1"), 1);
    assert_int_equal(it_query_int(W.app, "SELECT COALESCE(SUM(events), 0) FROM posture_agents WHERE tenant_id = ?",
                                  DB_ARGS(DBI(t.id))),
                     1);
}

static void test_batch_results_and_rejection_counters(void **state) {
    (void)state;
    it_tenant_t t;
    it_tenant_new(W.app, "ingest-batch", &t);
    actor_t a;
    actor_for(&t, &a);
    json_object *body = json_object_new_object(), *arr = json_object_new_array();
    json_object_array_add(arr, envelope(t.ref, "b-1", "allow", "low"));
    json_object_array_add(arr, envelope(t.ref, "b-2", "maybe", "low")); /* bad enum */
    json_object *raw = envelope(t.ref, "b-3", "allow", "low");
    json_object *red;
    json_object_object_get_ex(raw, "redaction", &red);
    json_object_object_add(red, "raw_prompt_included", json_object_new_boolean(1));
    json_object_array_add(arr, raw);
    json_object_array_add(arr, envelope("tenant:01JF3Q8YH6W9V1X2Z3A4B5C6D7", "b-4", "allow", "low"));
    json_object_array_add(arr, envelope(t.ref, "b-1", "allow", "low")); /* repeat inside the batch */
    json_object_array_add(arr, envelope(t.ref, "b-5", "block", "high"));
    json_object_object_add(body, "envelopes", arr);
    ingestion_outcome_t o;
    assert_int_equal(ingestion_ingest_batch(W.app, &a, body, NULL, &o), 0);
    assert_int_equal(o.status, 200);
    assert_int_equal(jint(o.body, NULL, "accepted"), 2);
    assert_int_equal(jint(o.body, NULL, "duplicates"), 1);
    assert_int_equal(jint(o.body, NULL, "rejected"), 3);
    json_object *results;
    assert_true(json_object_object_get_ex(o.body, "results", &results));
    const char *want[] = {"accepted", "rejected", "rejected", "rejected", "duplicate", "accepted"};
    for (int i = 0; i < 6; i++) {
        json_object *st;
        assert_true(json_object_object_get_ex(json_object_array_get_idx(results, (size_t)i), "status", &st));
        assert_string_equal(json_object_get_string(st), want[i]);
    }
    ingestion_outcome_free(&o);
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM evidence_events WHERE tenant_id = ? AND "
                                  "action = 'ingestion.batch_accepted'",
                                  DB_ARGS(DBI(t.id))),
                     1);
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM ingestion_events WHERE tenant_id = ? AND evidence_ref IS NULL",
                                  DB_ARGS(DBI(t.id))),
                     0);
    json_object *h, *rej, *by;
    assert_int_equal(ingestion_health(W.app, &a, &h), 0);
    assert_true(json_object_object_get_ex(h, "rejected", &rej));
    assert_true(json_object_object_get_ex(rej, "by_reason", &by));
    assert_int_equal(jint(by, NULL, INGESTION_VALIDATION_FAILED), 1);
    assert_int_equal(jint(by, NULL, INGESTION_RAW_CONTENT_REFUSED), 1);
    assert_int_equal(jint(by, NULL, INGESTION_TENANT_MISMATCH), 1);
    json_object_put(h);
    /* all rejected: 422 and nothing stored */
    json_object *arr2 = json_object_new_array();
    json_object_array_add(arr2, envelope(t.ref, "b-9", "nope", "low"));
    json_object_object_add(body, "envelopes", arr2);
    assert_int_equal(ingestion_ingest_batch(W.app, &a, body, NULL, &o), 0);
    assert_int_equal(o.status, 422);
    assert_string_equal(o.code, "batch_rejected");
    ingestion_outcome_free(&o);
    assert_int_equal(rows(&t, "b-9"), 0);
    json_object_put(body);
}

static void test_demo_history_loads_once(void **state) {
    (void)state;
    it_tenant_t t;
    it_tenant_new(W.app, "ingest-demo", &t);
    actor_t a;
    actor_for(&t, &a);
    json_object *all = ingestion_demo_envelopes(t.ref, now_ms(), 600, 56);
    for (int pass = 0; pass < 2; pass++) {
        int64_t t0 = monotonic_ms();
        long long accepted = 0, dup = 0;
        for (size_t off = 0; off < 600; off += 100) {
            json_object *body = json_object_new_object(), *arr = json_object_new_array();
            for (size_t i = off; i < off + 100; i++)
                json_object_array_add(arr, json_object_get(json_object_array_get_idx(all, i)));
            json_object_object_add(body, "envelopes", arr);
            ingestion_outcome_t o;
            assert_int_equal(ingestion_ingest_batch(W.app, &a, body, NULL, &o), 0);
            assert_int_equal(o.status, 200);
            accepted += jint(o.body, NULL, "accepted");
            dup += jint(o.body, NULL, "duplicates");
            ingestion_outcome_free(&o);
            json_object_put(body);
        }
        print_message("demo history pass %d: %lld accepted, %lld duplicates, %lld ms\n", pass + 1, accepted, dup,
                      (long long)(monotonic_ms() - t0));
        assert_int_equal(accepted, pass ? 0 : 600);
        assert_int_equal(dup, pass ? 600 : 0);
    }
    json_object_put(all);
    json_object *p;
    assert_int_equal(ingestion_posture(W.app, &a, &p), 0);
    assert_int_equal(jint(p, "totals", "events"), 600);
    assert_int_equal(jint(p, "totals", "agents"), 6);
    json_object_put(p);
    assert_int_equal(it_query_int(W.app, "SELECT COALESCE(SUM(events), 0) FROM posture_daily WHERE tenant_id = ?",
                                  DB_ARGS(DBI(t.id))),
                     600);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_then_duplicate),
        cmocka_unit_test(test_racing_processes_store_once),
        cmocka_unit_test(test_batch_results_and_rejection_counters),
        cmocka_unit_test(test_demo_history_loads_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
