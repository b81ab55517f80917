/*
 * test_evidence_chain.c: integration tests of the hash-chained evidence store
 * (app/audit/evidence.c) against a real MariaDB.
 *
 * Needs AISPM_TEST_CONFIG (an aispm.conf for a migrated database whose socket
 * is running); fails, never skips, without it. Every test works on tenants it
 * creates itself (unique slugs), so the tests are independent of each other
 * and of demo data.
 *
 * The harness may run `aispm serve` against the same database: its job worker
 * is a second sequencer (it links every tenant's pending events every ~100 ms)
 * and signs checkpoints of new chain heads. The assertions below therefore
 * never rely on an event staying pending (unless the test holds the tenant's
 * chain lock itself, see chain_lock), or on which process linked it or signed
 * a checkpoint; they check the resulting chain.
 *
 * Every new evidence event is queued in chain_pending by the AFTER INSERT
 * trigger evidence_events_pending (002_pending_trigger.sql), also when it is
 * INSERTed directly: such an event is then linked at the chain's end like any
 * other. Tests that need an event which really bypassed the queue insert it
 * and delete its chain_pending row in one transaction, so no sequencer ever
 * sees it.
 *
 * Tamper tests drop the six append-only triggers (BEFORE UPDATE/DELETE ...
 * SIGNAL) as the admin user, tamper, and recreate them from the embedded
 * migrations in the test's teardown (which cmocka runs even when the test
 * fails). They never drop any other trigger: the teardown checks that all
 * evidence triggers, the queueing trigger included, are exactly as they were
 * before the tests. A server-wide named lock keeps two test processes from
 * dropping/checking the triggers at once.
 */
#include "it_common.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/jcs.h"
#include "crypto/keys.h"
#include "db/embedded.h"

#define MAX_CHAIN 64
#define APPEND_ONLY_COUNT 6
#define MAX_TRIGGERS 32

static const char ZERO64[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* the append-only triggers: the only ones tamper tests drop (and restore) */
static const char *const APPEND_ONLY[APPEND_ONLY_COUNT] = {
    "evidence_events_no_update",      "evidence_events_no_delete",      "evidence_links_no_update",
    "evidence_links_no_delete",       "evidence_checkpoints_no_update", "evidence_checkpoints_no_delete",
};

/* the trigger that queues every new event for the sequencer */
#define PENDING_TRIGGER "evidence_events_pending"

/* process-wide state: configuration, connections, checkpoint key */
static struct {
    config_t cfg;
    db_t *app;   /* application user: SELECT/INSERT only on evidence_* */
    db_t *admin; /* admin user: used only to tamper and to test triggers */
    char trigger_snapshot[8192]; /* every evidence_* trigger, before the tests */
    char kept_snapshot[8192];    /* the ones tamper tests never drop */
    it_trigger_def_t triggers[MAX_TRIGGERS]; /* evidence_* triggers of the embedded migrations */
    int ntriggers;
    char lockname[64];
    char keydir[64];
    char keypath[128];
    signing_key_t *key;
} W;

/* per-test state */
typedef struct {
    it_tenant_t t;
    int n; /* linked events, seq 1..n */
    long long event_id[MAX_CHAIN + 1];
    char event_ulid[MAX_CHAIN + 1][ULID_LEN + 1];
    char digest[MAX_CHAIN + 1][65];
    bool locked;         /* holds the trigger lock */
    bool triggers_down;  /* triggers were (possibly) dropped: teardown restores */
    long long purge[2];  /* tenants whose (tampered) evidence the teardown removes */
    int chain_locks;     /* times W.app holds the chain lock of t (released by the teardown) */
} chain_t;
static chain_t C;

/* ---------------------------------------------------------------- helpers */

static int verify(long long tenant_id, evidence_verify_result_t *v) {
    return evidence_verify(W.app, tenant_id, W.cfg.evidence_max_link_delay_ms, v);
}

static void print_verify(const char *what, const evidence_verify_result_t *v) {
    print_message("%s: ok=%d events=%lld pending=%lld checkpoints=%lld head_seq=%lld problem=%s bad_seq=%lld "
                  "bad_ref=%s message=%s\n",
                  what, v->ok, v->events, v->pending, v->checkpoints, v->head_seq, v->problem, v->bad_seq, v->bad_ref,
                  v->message);
}

/* appends one event (outcome "success" unless given) in its own transaction */
static void append_one(db_t *db, const it_tenant_t *t, const char *action, const char *outcome, int n,
                       char ref_out[EVIDENCE_REF_MAX]) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "n", json_object_new_int(n));
    json_object_object_add(d, "target", json_object_new_string(t->slug));
    evidence_event_t ev = {
        .tenant_id = t->id,
        .tenant_ref = t->ref,
        .actor_ref = "system",
        .actor_role = "integration_test",
        .action = action,
        .object_ref = t->ref,
        .outcome = outcome ? outcome : "success",
        .request_id = "it-request",
        .details = d,
    };
    assert_int_equal(db_begin(db), 0);
    int rc = evidence_append(db, &ev, ref_out);
    if (rc) {
        db_rollback(db);
        json_object_put(d);
        fail_msg("evidence_append failed (%d: %s)", rc, db_error(db));
    }
    json_object_put(d);
    assert_int_equal(db_commit(db), 0);
}

static long long count_pending(db_t *db, long long tid) {
    return it_query_int(db, "SELECT COUNT(*) FROM chain_pending WHERE tenant_id = ?", DB_ARGS(DBI(tid)));
}
static long long count_links(db_t *db, long long tid) {
    return it_query_int(db, "SELECT COUNT(*) FROM evidence_links WHERE tenant_id = ?", DB_ARGS(DBI(tid)));
}
static long long count_events(db_t *db, long long tid) {
    return it_query_int(db, "SELECT COUNT(*) FROM evidence_events WHERE tenant_id = ?", DB_ARGS(DBI(tid)));
}

/* Takes (or releases) the tenant's chain lock on W.app: the per-tenant named
 * lock evidence_link_pending takes with a zero timeout. MariaDB lets the
 * holding connection take it again, so evidence_link_pending on W.app still
 * links, while every other sequencer (the server's job worker) skips the
 * tenant: its events stay pending until W.app links them. The teardown
 * releases a lock a failed test still holds. */
static void chain_lock(long long tid, bool take) {
    char name[64];
    snprintf(name, sizeof name, "aispm_chain_%lld", tid);
    long long got = it_query_int(W.app,
                                 take ? "SELECT GET_LOCK(CONCAT(DATABASE(), '.', ?), 30)"
                                      : "SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))",
                                 DB_ARGS(DBS(name)));
    if (got != 1) fail_msg("cannot %s the chain lock of tenant %lld", take ? "take" : "release", tid);
    C.chain_locks += take ? 1 : -1;
}

/* Links everything pending for the tenant. Another sequencer (the server's job
 * worker) may hold the tenant's chain lock, in which case a call links 0, so
 * this loops until nothing is pending (or fails after 30 s). Returns the
 * number of events linked by these calls. */
static int link_all(db_t *db, long long tid) {
    int total = 0;
    for (int i = 0; i < 30000; i++) {
        int n = 0;
        int rc = evidence_link_pending(db, tid, 1000, &n);
        if (rc) fail_msg("evidence_link_pending failed (%d: %s)", rc, db_error(db));
        total += n;
        if (count_pending(db, tid) == 0) return total;
        if (n == 0) usleep(1000);
    }
    fail_msg("events of tenant %lld still pending after 30 s", tid);
    return total;
}

/* loads the tenant's chain (seq, event id, ulid, digest) into C */
static void load_chain(long long tid) {
    db_res_t *r;
    assert_int_equal(db_query(W.app,
                              "SELECT l.seq, l.event_id, e.ulid, l.digest FROM evidence_links l "
                              "JOIN evidence_events e ON e.id = l.event_id WHERE l.tenant_id = ? ORDER BY l.seq",
                              DB_ARGS(DBI(tid)), &r),
                     0);
    int n = 0;
    while (db_res_next(r)) {
        assert_true(n < MAX_CHAIN);
        n++;
        assert_int_equal(db_res_int(r, 0), n); /* contiguous from 1 */
        C.event_id[n] = db_res_int(r, 1);
        snprintf(C.event_ulid[n], sizeof C.event_ulid[n], "%s", db_res_str(r, 2));
        snprintf(C.digest[n], sizeof C.digest[n], "%s", db_res_str(r, 3));
    }
    db_res_free(r);
    C.n = n;
}

static const char *const ACTIONS[] = {"auth.login", "settings.updated", "report.generated", "user.created",
                                      "token.created"};

/* a fresh tenant with n linked events, verified ok */
static void make_chain(const char *prefix, int n) {
    it_tenant_new(W.app, prefix, &C.t);
    for (int i = 0; i < n; i++) append_one(W.app, &C.t, ACTIONS[i % 5], "success", i, NULL);
    link_all(W.app, C.t.id);
    load_chain(C.t.id);
    assert_int_equal(C.n, n);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("fresh chain", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, n);
}

static void event_ref_of(int seq, char out[EVIDENCE_REF_MAX]) {
    evidence_ref_format(C.t.ulid, C.event_ulid[seq], out);
}

static void expect_problem(const char *problem, long long bad_seq, const char *bad_ref) {
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    print_verify("after tampering", &v);
    assert_false(v.ok);
    assert_string_equal(v.problem, problem);
    assert_int_equal(v.bad_seq, bad_seq);
    if (bad_ref) assert_string_equal(v.bad_ref, bad_ref);
    assert_true(v.message[0] != 0);
}

/* admin statement during tampering: must succeed and touch exactly `rows` rows */
static void admin_exec(const char *sql, const dbv *args, int nargs, uint64_t rows) {
    uint64_t affected = 0;
    int rc = db_exec(W.admin, sql, args, nargs, &affected, NULL);
    if (rc) fail_msg("tampering statement failed (%d: %s): %s", rc, db_error(W.admin), sql);
    assert_int_equal(affected, rows);
}

/* INSERTs an event directly (not through evidence_append) and, in the same
 * transaction, deletes the chain_pending row trigger evidence_events_pending
 * gave it: an event that bypassed the queue, which no sequencer ever sees.
 * created_at is age_s seconds ago. Returns the event id. */
static long long insert_unqueued_event(db_t *db, long long tid, const char *ulid, const char *action, int age_s,
                                       const char *body, size_t body_len) {
    uint64_t id = 0, dequeued = 0;
    assert_int_equal(db_begin(db), 0);
    int rc = db_exec(db,
                     "INSERT INTO evidence_events (tenant_id, ulid, action, created_at, body) "
                     "VALUES (?, ?, ?, UTC_TIMESTAMP(6) - INTERVAL ? SECOND, ?)",
                     DB_ARGS(DBI(tid), DBS(ulid), DBS(action), DBI(age_s), DBSN(body, body_len)), NULL, &id);
    if (!rc)
        rc = db_exec(db, "DELETE FROM chain_pending WHERE event_id = ?", DB_ARGS(DBI((long long)id)), &dequeued,
                     NULL);
    if (rc) {
        db_rollback(db);
        fail_msg("inserting an unqueued event failed (%d: %s)", rc, db_error(db));
    }
    assert_int_equal(db_commit(db), 0);
    assert_true(id > 0);
    assert_int_equal(dequeued, 1); /* the trigger had queued it */
    return (long long)id;
}

/* ---------------------------------------------------------------- triggers */

static bool is_append_only(const char *name) {
    for (int i = 0; i < APPEND_ONLY_COUNT; i++)
        if (strcmp(name, APPEND_ONLY[i]) == 0) return true;
    return false;
}

/* "CREATE TRIGGER <name> ... ;" as written in the embedded migrations
 * (whichever of them creates it), without the ';' */
static int trigger_definition(const char *name, char *out, size_t outlen) {
    char needle[128];
    snprintf(needle, sizeof needle, "CREATE TRIGGER %s ", name);
    for (int i = 0; i < aispm_migrations_count; i++) {
        const char *p = strstr(aispm_migrations[i].sql, needle);
        if (!p) continue;
        const char *end = strchr(p, ';');
        if (!end || (size_t)(end - p) >= outlen) return -1;
        memcpy(out, p, (size_t)(end - p));
        out[end - p] = 0;
        return 0;
    }
    return -1;
}

/* drops (if present) and recreates one trigger from the embedded migrations */
static int recreate_trigger(const char *name) {
    char def[1024], sql[1200];
    if (trigger_definition(name, def, sizeof def)) {
        fprintf(stderr, "cannot find CREATE TRIGGER %s in the embedded migrations\n", name);
        return -1;
    }
    snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS %s; %s", name, def);
    if (db_exec_script(W.admin, sql)) {
        fprintf(stderr, "cannot recreate trigger %s: %s\n", name, db_error(W.admin));
        return -1;
    }
    return 0;
}

/* the evidence triggers as information_schema describes them, one line per
 * trigger; kept_only: only those tamper tests never drop. -1 on error */
static int trigger_snapshot(char *out, size_t outlen, int *count, bool kept_only) {
    db_res_t *r;
    if (db_query(W.admin,
                 "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_ORIENTATION, "
                 "ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
                 "AND EVENT_OBJECT_TABLE LIKE 'evidence\\_%' ORDER BY TRIGGER_NAME",
                 DB_NOARGS, &r))
        return -1;
    buf_t b = BUF_INIT;
    int n = 0;
    while (db_res_next(r)) {
        if (kept_only && is_append_only(db_res_str(r, 0))) continue;
        n++;
        for (int c = 0; c < 6; c++) buf_printf(&b, "%s%s", db_res_str(r, c), c < 5 ? "|" : "\n");
    }
    db_res_free(r);
    snprintf(out, outlen, "%s", buf_cstr(&b));
    buf_free(&b);
    if (count) *count = n;
    return 0;
}

/* whether a snapshot has a line starting "<name>|<rest>" */
static bool snapshot_has(const char *snap, const char *name, const char *rest) {
    char line[256];
    snprintf(line, sizeof line, "%s|%s", name, rest);
    for (const char *p = snap; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, line, strlen(line)) == 0) return true;
    return false;
}

/* all evidence triggers exactly as before the tests; 0 or -1 with a message
 * (no cmocka asserts: also used by teardowns) */
static int check_trigger_snapshot(const char *when) {
    char now[sizeof W.trigger_snapshot];
    int count = 0;
    if (trigger_snapshot(now, sizeof now, &count, false) || strcmp(now, W.trigger_snapshot) != 0) {
        fprintf(stderr, "the evidence triggers %s differ from before the tests:\n%s\nexpected:\n%s", when, now,
                W.trigger_snapshot);
        return -1;
    }
    return 0;
}

/* takes the server-wide test lock serialising trigger drops and checks;
 * 0 or -1 (no cmocka asserts: also used by teardowns) */
static int trigger_lock_raw(void) {
    if (C.locked) return 0;
    db_res_t *r;
    if (db_query(W.admin, "SELECT GET_LOCK(?, 300)", DB_ARGS(DBS(W.lockname)), &r)) return -1;
    long long got = db_res_next(r) ? db_res_int(r, 0) : 0;
    db_res_free(r);
    if (got != 1) {
        fprintf(stderr, "could not take the named lock %s within 300 s\n", W.lockname);
        return -1;
    }
    C.locked = true;
    return 0;
}

static void trigger_lock(void) {
    if (trigger_lock_raw()) fail_msg("cannot take the trigger lock %s", W.lockname);
}

/* drops the append-only triggers, and only those */
static int drop_triggers_raw(void) {
    C.triggers_down = true; /* before dropping: teardown restores even if a drop fails */
    int rc = 0;
    for (int i = 0; i < APPEND_ONLY_COUNT; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP TRIGGER IF EXISTS %s", APPEND_ONLY[i]);
        if (db_exec_script(W.admin, sql)) {
            fprintf(stderr, "%s failed: %s\n", sql, db_error(W.admin));
            rc = -1;
        }
    }
    return rc;
}

/* drops the append-only triggers for a tamper test; the tenant's evidence is
 * removed again by the teardown, so no broken chain outlives the test (an
 * `aispm admin verify-audit` of the whole database stays meaningful) */
static void drop_triggers(void) {
    trigger_lock();
    C.purge[0] = C.t.id;
    if (drop_triggers_raw()) fail_msg("cannot drop the evidence triggers");
}

/* removes a test tenant and all its evidence (triggers must be down) */
static int purge_tenant(long long tid) {
    static const char *const SQL[] = {
        "DELETE FROM tenants WHERE id = ?", /* first: no checkpointer picks it up meanwhile */
        "DELETE FROM evidence_checkpoints WHERE tenant_id = ?",
        "DELETE FROM evidence_links WHERE tenant_id = ?",
        "DELETE FROM chain_pending WHERE tenant_id = ?",
        "DELETE FROM evidence_events WHERE tenant_id = ?",
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof SQL / sizeof SQL[0]; i++)
        if (db_exec(W.admin, SQL[i], DB_ARGS(DBI(tid)), NULL, NULL)) {
            fprintf(stderr, "purging test tenant %lld: %s: %s\n", tid, SQL[i], db_error(W.admin));
            rc = -1;
        }
    return rc;
}

/* Recreates the append-only triggers exactly as the embedded migrations
 * define them and checks information_schema shows what it showed before the
 * tests. The other evidence triggers (the queueing trigger) must have
 * survived untouched: if one did not, that is reported as a failure first and
 * then repaired from the migrations, so the database is left usable.
 * Returns 0 or -1 (used from teardowns: no cmocka asserts here). */
static int restore_triggers(void) {
    int rc = 0;
    char kept[sizeof W.kept_snapshot];
    if (trigger_snapshot(kept, sizeof kept, NULL, true) || strcmp(kept, W.kept_snapshot) != 0) {
        fprintf(stderr, "a trigger that tamper tests must never drop was dropped or changed:\n%s\nexpected:\n%s", kept,
                W.kept_snapshot);
        rc = -1;
        for (int i = 0; i < W.ntriggers; i++)
            if (!is_append_only(W.triggers[i].name) && recreate_trigger(W.triggers[i].name)) rc = -1;
    }
    for (int i = 0; i < APPEND_ONLY_COUNT; i++)
        if (recreate_trigger(APPEND_ONLY[i])) rc = -1;
    if (check_trigger_snapshot("after restoring them")) rc = -1;
    return rc;
}

static void trigger_unlock(void) {
    if (!C.locked) return;
    db_res_t *r;
    if (db_query(W.admin, "SELECT RELEASE_LOCK(?)", DB_ARGS(DBS(W.lockname)), &r) == 0) db_res_free(r);
    C.locked = false;
}

/* ---------------------------------------------------------------- fixtures */

static int group_setup(void **state) {
    (void)state;
    if (it_load_config(&W.cfg)) return -1;
    if (it_connect(&W.cfg, false, &W.app) || it_connect(&W.cfg, true, &W.admin)) return -1;
    snprintf(W.lockname, sizeof W.lockname, "aispm_it_triggers_%.40s", W.cfg.db_name);
    /* the evidence triggers the embedded migrations create: the database
     * must have exactly these (the append-only ones BEFORE UPDATE/DELETE
     * SIGNAL, the queueing one AFTER INSERT) */
    W.ntriggers = it_embedded_triggers("evidence_", W.triggers, MAX_TRIGGERS);
    if (W.ntriggers < 0) return -1;
    int count = 0;
    if (trigger_snapshot(W.trigger_snapshot, sizeof W.trigger_snapshot, &count, false) ||
        trigger_snapshot(W.kept_snapshot, sizeof W.kept_snapshot, NULL, true))
        return -1;
    bool ok = count == W.ntriggers;
    for (int i = 0; i < W.ntriggers; i++) {
        const it_trigger_def_t *d = &W.triggers[i];
        char rest[160];
        snprintf(rest, sizeof rest, "%s|%s|%s|ROW|", d->event, d->table, d->timing);
        if (!snapshot_has(W.trigger_snapshot, d->name, rest)) {
            fprintf(stderr, "FAIL: trigger %s (%s %s ON %s, from %s) is missing or different\n", d->name, d->timing,
                    d->event, d->table, aispm_migrations[d->migration].name);
            ok = false;
        }
    }
    for (int i = 0; i < APPEND_ONLY_COUNT; i++)
        if (!snapshot_has(W.trigger_snapshot, APPEND_ONLY[i], "")) ok = false;
    if (!snapshot_has(W.trigger_snapshot, PENDING_TRIGGER, "INSERT|evidence_events|AFTER|ROW|INSERT INTO chain_pending"))
        ok = false;
    if (!ok) {
        fprintf(stderr,
                "FAIL: database %s has %d evidence_* triggers, the embedded migrations define %d, including the %d "
                "append-only ones and %s (not migrated, or a killed test run left them dropped):\n%s",
                W.cfg.db_name, count, W.ntriggers, APPEND_ONLY_COUNT, PENDING_TRIGGER, W.trigger_snapshot);
        return -1;
    }
    snprintf(W.keydir, sizeof W.keydir, "/tmp/aispm_it_evidence_XXXXXX");
    if (!mkdtemp(W.keydir)) return -1;
    snprintf(W.keypath, sizeof W.keypath, "%s/keys/evidence-ed25519.pem", W.keydir);
    if (key_generate(W.keypath, KEY_ED25519, 0) || key_load(W.keypath, &W.key)) {
        fprintf(stderr, "FAIL: cannot generate/load a checkpoint key in %s\n", W.keydir);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    key_free(W.key);
    if (W.keydir[0]) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", W.keydir);
        if (system(cmd) != 0) return -1;
    }
    db_close(W.app);
    db_close(W.admin);
    return 0;
}

static int test_setup(void **state) {
    (void)state;
    memset(&C, 0, sizeof C);
    return 0;
}

static int test_teardown(void **state) {
    (void)state;
    int rc = 0;
    for (; C.chain_locks > 0; C.chain_locks--) {
        char name[64];
        db_res_t *r;
        snprintf(name, sizeof name, "aispm_chain_%lld", C.t.id);
        if (db_query(W.app, "SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.', ?))", DB_ARGS(DBS(name)), &r) == 0)
            db_res_free(r);
        else
            rc = -1;
    }
    if (C.purge[0] || C.purge[1]) {
        if (trigger_lock_raw() || drop_triggers_raw()) rc = -1;
        for (int i = 0; i < 2; i++)
            if (C.purge[i] && purge_tenant(C.purge[i])) rc = -1;
    }
    if (C.triggers_down) {
        if (restore_triggers()) rc = -1;
        C.triggers_down = false;
    } else if (C.locked && check_trigger_snapshot("at the end of the test")) {
        rc = -1;
    }
    trigger_unlock();
    return rc;
}

/* ---------------------------------------------------------------- tests */

/* an appended event is a canonical-JSON body naming its tenant and ref,
 * written with its chain_pending row in the caller's transaction */
static void test_append_writes_canonical_event(void **state) {
    (void)state;
    it_tenant_new(W.app, "append", &C.t);
    char ref[EVIDENCE_REF_MAX] = "";
    append_one(W.app, &C.t, "settings.updated", "success", 7, ref);

    /* ref = cavra://evidence/<tenant-ulid>/<event-ulid> */
    char tulid[ULID_LEN + 1], eulid[ULID_LEN + 1];
    assert_true(evidence_ref_parse(ref, tulid, eulid));
    assert_string_equal(tulid, C.t.ulid);
    assert_true(ulid_valid(eulid));

    db_res_t *r;
    assert_int_equal(db_query(W.app, "SELECT tenant_id, action, body, id FROM evidence_events WHERE ulid = ?",
                              DB_ARGS(DBS(eulid)), &r),
                     0);
    assert_int_equal(db_res_next(r), 1);
    assert_int_equal(db_res_int(r, 0), C.t.id);
    assert_string_equal(db_res_str(r, 1), "settings.updated");
    char *body = xstrdup(db_res_str(r, 2));
    long long id = db_res_int(r, 3);
    db_res_free(r);

    /* pending row written in the same transaction (unless another sequencer
     * already linked it) */
    long long pend = it_query_int(W.app, "SELECT COUNT(*) FROM chain_pending WHERE event_id = ? AND tenant_id = ?",
                                  DB_ARGS(DBI(id), DBI(C.t.id)));
    long long linked = it_query_int(W.app, "SELECT COUNT(*) FROM evidence_links WHERE event_id = ?", DB_ARGS(DBI(id)));
    assert_int_equal(pend + linked, 1);

    /* body: canonical JSON (re-serialising gives the same bytes) with the
     * documented members */
    json_object *o = json_tokener_parse(body);
    assert_non_null(o);
    buf_t canon = BUF_INIT;
    assert_int_equal(jcs_serialize(o, &canon), 0);
    assert_string_equal(canon.data, body);
    buf_free(&canon);
    json_object *x;
    assert_true(json_object_object_get_ex(o, "schema", &x));
    assert_string_equal(json_object_get_string(x), "aispm.evidence.v1");
    assert_true(json_object_object_get_ex(o, "evidence_ref", &x));
    assert_string_equal(json_object_get_string(x), ref);
    assert_true(json_object_object_get_ex(o, "tenant_ref", &x));
    assert_string_equal(json_object_get_string(x), C.t.ref);
    assert_true(json_object_object_get_ex(o, "action", &x));
    assert_string_equal(json_object_get_string(x), "settings.updated");
    assert_true(json_object_object_get_ex(o, "outcome", &x));
    assert_string_equal(json_object_get_string(x), "success");
    assert_true(json_object_object_get_ex(o, "occurred_at", &x));
    assert_true(json_object_is_type(x, json_type_string));
    json_object *actor, *details;
    assert_true(json_object_object_get_ex(o, "actor", &actor));
    assert_true(json_object_object_get_ex(actor, "ref", &x));
    assert_string_equal(json_object_get_string(x), "system");
    assert_true(json_object_object_get_ex(o, "details", &details));
    assert_true(json_object_object_get_ex(details, "n", &x));
    assert_int_equal(json_object_get_int(x), 7);
    json_object_put(o);
    free(body);

    link_all(W.app, C.t.id);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 1);
    assert_int_equal(v.head_seq, 1);
    assert_int_equal(v.pending, 0);
}

/* "no evidence without a change": a rolled-back transaction leaves neither
 * the change, nor an event, nor a pending row; a committed one leaves all */
static void test_rollback_leaves_no_evidence(void **state) {
    (void)state;
    it_tenant_new(W.app, "rollback", &C.t);
    json_object *d = json_object_new_object();
    json_object_object_add(d, "name", json_object_new_string("Renamed"));
    evidence_event_t ev = {.tenant_id = C.t.id, .tenant_ref = C.t.ref, .actor_ref = "system",
                           .action = "tenant.renamed", .object_ref = C.t.ref, .outcome = "success", .details = d};

    assert_int_equal(db_begin(W.app), 0);
    uint64_t changed = 0;
    assert_int_equal(db_exec(W.app, "UPDATE tenants SET name = 'Renamed' WHERE id = ?", DB_ARGS(DBI(C.t.id)),
                             &changed, NULL),
                     0);
    assert_int_equal(changed, 1);
    char ref[EVIDENCE_REF_MAX];
    assert_int_equal(evidence_append(W.app, &ev, ref), 0);
    char eulid[ULID_LEN + 1], tulid[ULID_LEN + 1];
    assert_true(evidence_ref_parse(ref, tulid, eulid));
    /* visible inside the transaction */
    assert_int_equal(count_events(W.app, C.t.id), 1);
    assert_int_equal(count_pending(W.app, C.t.id), 1);
    assert_int_equal(db_rollback(W.app), 0);

    char name[256];
    it_query_str(W.app, "SELECT name FROM tenants WHERE id = ?", DB_ARGS(DBI(C.t.id)), name, sizeof name);
    assert_string_not_equal(name, "Renamed");
    assert_int_equal(count_events(W.app, C.t.id), 0);
    assert_int_equal(count_pending(W.app, C.t.id), 0);
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM evidence_events WHERE ulid = ?", DB_ARGS(DBS(eulid))),
                     0);
    int linked = -1;
    assert_int_equal(evidence_link_pending(W.app, C.t.id, 100, &linked), 0);
    assert_int_equal(linked, 0);
    assert_int_equal(count_links(W.app, C.t.id), 0);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 0);
    assert_int_equal(v.pending, 0);

    /* the same work committed: change, event and pending row all persist */
    assert_int_equal(db_begin(W.app), 0);
    assert_int_equal(db_exec(W.app, "UPDATE tenants SET name = 'Renamed' WHERE id = ?", DB_ARGS(DBI(C.t.id)), NULL,
                             NULL),
                     0);
    assert_int_equal(evidence_append(W.app, &ev, NULL), 0);
    assert_int_equal(db_commit(W.app), 0);
    json_object_put(d);
    it_query_str(W.app, "SELECT name FROM tenants WHERE id = ?", DB_ARGS(DBI(C.t.id)), name, sizeof name);
    assert_string_equal(name, "Renamed");
    assert_int_equal(count_events(W.app, C.t.id), 1);
    /* pending until a sequencer links it (the server's may already have) */
    assert_int_equal(count_pending(W.app, C.t.id) + count_links(W.app, C.t.id), 1);
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events + v.pending, 1);
    link_all(W.app, C.t.id);
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 1);
    assert_int_equal(v.pending, 0);
}

/* recomputes the chain from the stored bodies and compares every link */
static void check_chain_recomputes(long long tid, long long expect_n, const char *head_digest) {
    db_res_t *r;
    assert_int_equal(db_query(W.app,
                              "SELECT l.seq, l.prev_digest, l.digest, e.body FROM evidence_links l "
                              "JOIN evidence_events e ON e.id = l.event_id WHERE l.tenant_id = ? ORDER BY l.seq",
                              DB_ARGS(DBI(tid)), &r),
                     0);
    char prev[65];
    memcpy(prev, ZERO64, 65);
    long long n = 0;
    while (db_res_next(r)) {
        n++;
        assert_int_equal(db_res_int(r, 0), n); /* contiguous seq 1..n */
        assert_string_equal(db_res_str(r, 1), prev);
        char d[65];
        evidence_digest(db_res_str(r, 3), db_res_len(r, 3), prev, d);
        /* the documented formula, computed independently:
         * SHA-256(body || "\n" || prev_hex) as lower-case hex */
        buf_t m = BUF_INIT;
        buf_append(&m, db_res_str(r, 3), db_res_len(r, 3));
        buf_putc(&m, '\n');
        buf_append(&m, prev, 64);
        char d2[65];
        sha256_hex(m.data, m.len, d2);
        buf_free(&m);
        assert_string_equal(d, d2);
        assert_string_equal(db_res_str(r, 2), d);
        memcpy(prev, d, 65);
    }
    db_res_free(r);
    assert_int_equal(n, expect_n);
    assert_string_equal(head_digest, prev);
}

static void test_link_and_verify(void **state) {
    (void)state;
    it_tenant_new(W.app, "link", &C.t);
    it_tenant_t other;
    it_tenant_new(W.app, "link-other", &other);

    evidence_verify_result_t v;
    /* empty chain */
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 0);
    assert_string_equal(v.head_digest, ZERO64);

    for (int i = 0; i < 10; i++) append_one(W.app, &C.t, ACTIONS[i % 5], "success", i, NULL);
    append_one(W.app, &other, "auth.login", "success", 0, NULL);

    /* small batches: a call links at most max_events */
    int linked = 0;
    assert_int_equal(evidence_link_pending(W.app, C.t.id, 3, &linked), 0);
    assert_in_range(linked, 0, 3);
    link_all(W.app, C.t.id);

    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("chain of 10", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, 10);
    assert_int_equal(v.head_seq, 10);
    assert_int_equal(v.pending, 0);
    assert_int_equal(v.problem[0], 0);
    check_chain_recomputes(C.t.id, 10, v.head_digest);
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM evidence_links l JOIN evidence_events e "
                                         "ON e.id = l.event_id WHERE l.tenant_id = ? AND e.tenant_id <> l.tenant_id",
                                  DB_ARGS(DBI(C.t.id))),
                     0);
    /* linking one tenant never links another's events into it */
    assert_int_equal(count_links(W.app, C.t.id), 10);

    /* the chain continues from its head */
    char head10[65];
    memcpy(head10, v.head_digest, 65);
    for (int i = 10; i < 15; i++) append_one(W.app, &C.t, ACTIONS[i % 5], "success", i, NULL);
    link_all(W.app, C.t.id);
    char prev11[65];
    it_query_str(W.app, "SELECT prev_digest FROM evidence_links WHERE tenant_id = ? AND seq = 11",
                 DB_ARGS(DBI(C.t.id)), prev11, sizeof prev11);
    assert_string_equal(prev11, head10);
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 15);
    assert_int_equal(v.head_seq, 15);
    check_chain_recomputes(C.t.id, 15, v.head_digest);

    /* the other tenant has its own chain starting at seq 1 from the zero digest */
    link_all(W.app, other.id);
    assert_int_equal(verify(other.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 1);
    check_chain_recomputes(other.id, 1, v.head_digest);

    /* unknown tenant */
    assert_int_equal(verify(-1, &v), AISPM_ENOTFOUND);
}

/* --- concurrency (child processes: no cmocka calls, _exit only) --------- */

#define APPENDERS 4
#define PER_APPENDER 200

static void child_appender(long long tid, const char *tref, int writer) {
    db_t *db;
    if (db_connect(&W.cfg, false, true, &db)) _exit(10);
    int failures = 0;
    for (int j = 0; j < PER_APPENDER; j++) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "writer", json_object_new_int(writer));
        json_object_object_add(d, "n", json_object_new_int(j));
        evidence_event_t ev = {.tenant_id = tid, .tenant_ref = tref, .actor_ref = "system",
                               .action = "it.concurrent", .outcome = "success", .details = d};
        if (db_begin(db) || evidence_append(db, &ev, NULL)) {
            db_rollback(db);
            failures++;
        } else if (db_commit(db)) {
            failures++;
        }
        json_object_put(d);
    }
    db_close(db);
    _exit(failures ? 20 : 0);
}

/* links the tenant in a loop until stop_fd reaches EOF; writes the number of
 * events it linked to report_fd */
static void child_sequencer(long long tid, int stop_fd, int report_fd, int batch) {
    db_t *db;
    if (db_connect(&W.cfg, false, true, &db)) _exit(10);
    long long total = 0;
    for (;;) {
        int n = 0;
        if (evidence_link_pending(db, tid, batch, &n)) _exit(30);
        total += n;
        struct pollfd p = {.fd = stop_fd, .events = POLLIN};
        if (poll(&p, 1, n ? 0 : 2) > 0) break;
    }
    /* a last pass after the appenders finished */
    int n = 0;
    if (evidence_link_pending(db, tid, 100000, &n)) _exit(31);
    total += n;
    db_close(db);
    if (write(report_fd, &total, sizeof total) != (ssize_t)sizeof total) _exit(32);
    _exit(0);
}

/* links until nothing of the tenant is pending, racing whoever else does */
static void child_racing_sequencer(long long tid, int ready_fd, int go_fd, int report_fd, int batch) {
    db_t *db;
    if (db_connect(&W.cfg, false, true, &db)) _exit(10);
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1) _exit(11);
    if (read(go_fd, &c, 1) < 0) _exit(11); /* start barrier: EOF */
    long long total = 0;
    for (int i = 0; i < 200000; i++) {
        int n = 0;
        if (evidence_link_pending(db, tid, batch, &n)) _exit(30);
        total += n;
        if (n == 0) {
            db_res_t *r;
            if (db_query(db, "SELECT COUNT(*) FROM chain_pending WHERE tenant_id = ?", DB_ARGS(DBI(tid)), &r))
                _exit(33);
            long long left = db_res_next(r) ? db_res_int(r, 0) : -1;
            db_res_free(r);
            if (left == 0) break;
            usleep(200);
        }
    }
    db_close(db);
    if (write(report_fd, &total, sizeof total) != (ssize_t)sizeof total) _exit(32);
    _exit(0);
}

/* waits for a child of ours; SIGKILLs it after timeout_s. Returns its exit
 * status, or -1 if it did not exit normally. */
static int wait_child(pid_t pid, int timeout_s) {
    int st = 0;
    for (int i = 0; i < timeout_s * 100; i++) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (w < 0 && errno != EINTR) return -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "child %d killed after %d s\n", (int)pid, timeout_s);
    return -1;
}

static void test_concurrent_appenders_and_sequencer(void **state) {
    (void)state;
    it_tenant_new(W.app, "concurrent", &C.t);
    fflush(NULL);
    int stop[2], report[2];
    assert_int_equal(pipe(stop), 0);
    assert_int_equal(pipe(report), 0);

    pid_t seq = fork();
    assert_true(seq >= 0);
    if (seq == 0) {
        close(stop[1]);
        close(report[0]);
        child_sequencer(C.t.id, stop[0], report[1], 50);
    }
    close(report[1]);
    pid_t app[APPENDERS];
    for (int i = 0; i < APPENDERS; i++) {
        app[i] = fork();
        assert_true(app[i] >= 0);
        if (app[i] == 0) {
            close(stop[0]);
            close(stop[1]);
            close(report[0]);
            child_appender(C.t.id, C.t.ref, i);
        }
    }
    close(stop[0]);
    int failed = 0;
    for (int i = 0; i < APPENDERS; i++) {
        int st = wait_child(app[i], 300);
        if (st != 0) {
            fprintf(stderr, "appender %d exited with %d\n", i, st);
            failed++;
        }
    }
    close(stop[1]); /* EOF: the sequencer stops */
    int sst = wait_child(seq, 120);
    long long seq_linked = -1;
    if (read(report[0], &seq_linked, sizeof seq_linked) != (ssize_t)sizeof seq_linked) seq_linked = -1;
    close(report[0]);
    if (failed) fail_msg("%d of %d appenders failed (exit 20: an append or commit failed)", failed, APPENDERS);
    if (sst != 0) fail_msg("the sequencer exited with %d (30/31: evidence_link_pending failed)", sst);
    /* the sequencer really ran while the appenders were writing */
    print_message("sequencer linked %lld of %d events while they were appended\n", seq_linked,
                  APPENDERS * PER_APPENDER);
    assert_in_range(seq_linked, 1, APPENDERS * PER_APPENDER);

    link_all(W.app, C.t.id); /* final link */
    assert_int_equal(count_events(W.app, C.t.id), APPENDERS * PER_APPENDER);
    assert_int_equal(count_pending(W.app, C.t.id), 0);
    db_res_t *r;
    assert_int_equal(db_query(W.app,
                              "SELECT COUNT(*), COUNT(DISTINCT seq), COUNT(DISTINCT event_id), MIN(seq), MAX(seq), "
                              "COUNT(DISTINCT prev_digest) FROM evidence_links WHERE tenant_id = ?",
                              DB_ARGS(DBI(C.t.id)), &r),
                     0);
    assert_int_equal(db_res_next(r), 1);
    for (int c = 0; c < 3; c++) assert_int_equal(db_res_int(r, c), APPENDERS * PER_APPENDER);
    assert_int_equal(db_res_int(r, 3), 1);
    assert_int_equal(db_res_int(r, 4), APPENDERS * PER_APPENDER);
    assert_int_equal(db_res_int(r, 5), APPENDERS * PER_APPENDER); /* no two links share a predecessor */
    db_res_free(r);
    /* every writer's 200 events made it, each linked once */
    assert_int_equal(db_query(W.app,
                              "SELECT JSON_VALUE(e.body, '$.details.writer'), COUNT(*), COUNT(l.seq) "
                              "FROM evidence_events e LEFT JOIN evidence_links l ON l.event_id = e.id "
                              "WHERE e.tenant_id = ? GROUP BY 1 ORDER BY 1",
                              DB_ARGS(DBI(C.t.id)), &r),
                     0);
    int writers = 0;
    while (db_res_next(r)) {
        assert_int_equal(db_res_int(r, 0), writers);
        assert_int_equal(db_res_int(r, 1), PER_APPENDER);
        assert_int_equal(db_res_int(r, 2), PER_APPENDER);
        writers++;
    }
    db_res_free(r);
    assert_int_equal(writers, APPENDERS);

    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("concurrent chain", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, APPENDERS * PER_APPENDER);
    assert_int_equal(v.head_seq, APPENDERS * PER_APPENDER);
    assert_int_equal(v.pending, 0);
    check_chain_recomputes(C.t.id, APPENDERS * PER_APPENDER, v.head_digest);
}

/* One race: two sequencer processes, connected and waiting, are released
 * the moment N events of a fresh tenant commit. Sets *mine to the number of
 * events they linked (the server's job worker, if one runs, may take some). */
enum { RACE_N = 600 };
static void race_two_sequencers(long long *mine) {
    it_tenant_new(W.app, "two-seq", &C.t);
    fflush(NULL);
    int ready[2], go[2], report[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(report), 0);
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            close(ready[0]);
            close(go[1]);
            close(report[0]);
            child_racing_sequencer(C.t.id, ready[1], go[0], report[1], 7 + k * 6);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(report[1]);
    char c;
    int nready = 0;
    while (nready < 2 && read(ready[0], &c, 1) == 1) nready++;
    close(ready[0]);

    /* N pending events, committed at once, then the race starts */
    int rc = db_begin(W.app);
    for (int i = 0; i < RACE_N && !rc; i++) {
        evidence_event_t ev = {.tenant_id = C.t.id, .tenant_ref = C.t.ref, .actor_ref = "system",
                               .action = ACTIONS[i % 5], .outcome = "success"};
        rc = evidence_append(W.app, &ev, NULL);
    }
    if (!rc) rc = db_commit(W.app);
    close(go[1]); /* start (also when appending failed: the children end) */

    int st0 = wait_child(kids[0], 300), st1 = wait_child(kids[1], 300);
    long long t0 = -1, t1 = -1;
    if (read(report[0], &t0, sizeof t0) != (ssize_t)sizeof t0) t0 = -1;
    if (read(report[0], &t1, sizeof t1) != (ssize_t)sizeof t1) t1 = -1;
    close(report[0]);
    assert_int_equal(nready, 2);
    assert_int_equal(rc, 0);
    /* no sequencer hit a duplicate key or other error (exit 30: link failed) */
    if (st0 != 0 || st1 != 0)
        fail_msg("racing sequencers exited with %d and %d (30 = evidence_link_pending failed, e.g. a duplicate "
                 "seq: two sequencers linked the same chain position)",
                 st0, st1);
    print_message("racing sequencers linked %lld + %lld of %d\n", t0, t1, RACE_N);
    assert_true(t0 >= 0 && t1 >= 0);
    /* each event linked once */
    assert_true(t0 + t1 <= RACE_N);
    *mine = t0 + t1;
}

static void test_two_sequencers_never_fork(void **state) {
    (void)state;
    long long mine = 0;
    /* a server's job worker polling the same database may, rarely, grab the
     * whole batch first: race again on a fresh tenant then */
    for (int attempt = 0; attempt < 3 && mine == 0; attempt++) race_two_sequencers(&mine);
    assert_true(mine > 0);

    link_all(W.app, C.t.id);
    db_res_t *r;
    assert_int_equal(db_query(W.app,
                              "SELECT COUNT(*), COUNT(DISTINCT seq), COUNT(DISTINCT event_id), MIN(seq), MAX(seq), "
                              "COUNT(DISTINCT prev_digest), COUNT(DISTINCT digest) FROM evidence_links "
                              "WHERE tenant_id = ?",
                              DB_ARGS(DBI(C.t.id)), &r),
                     0);
    assert_int_equal(db_res_next(r), 1);
    assert_int_equal(db_res_int(r, 0), RACE_N);
    assert_int_equal(db_res_int(r, 1), RACE_N); /* no duplicate seq */
    assert_int_equal(db_res_int(r, 2), RACE_N); /* no event linked twice */
    assert_int_equal(db_res_int(r, 3), 1);
    assert_int_equal(db_res_int(r, 4), RACE_N); /* no hole */
    assert_int_equal(db_res_int(r, 5), RACE_N); /* no fork: every predecessor used once */
    assert_int_equal(db_res_int(r, 6), RACE_N);
    db_res_free(r);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("raced chain", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, RACE_N);
    assert_int_equal(v.pending, 0);
    check_chain_recomputes(C.t.id, RACE_N, v.head_digest);
}

/* --- tamper detection (admin user, triggers dropped) ------------------- */

static void test_tamper_altered_event(void **state) {
    (void)state;
    make_chain("tamper-alter", 10);
    drop_triggers();
    admin_exec("UPDATE evidence_events SET body = REPLACE(body, 'success', 'failure') WHERE id = ?",
               DB_ARGS(DBI(C.event_id[6])), 1);
    char ref[EVIDENCE_REF_MAX];
    event_ref_of(6, ref);
    expect_problem("altered", 6, ref);
}

static void test_tamper_deleted_event(void **state) {
    (void)state;
    make_chain("tamper-delev", 10);
    drop_triggers();
    admin_exec("DELETE FROM evidence_events WHERE id = ?", DB_ARGS(DBI(C.event_id[4])), 1);
    expect_problem("deleted", 4, NULL);
}

static void test_tamper_deleted_link_gap(void **state) {
    (void)state;
    make_chain("tamper-gap", 10);
    drop_triggers();
    admin_exec("DELETE FROM evidence_links WHERE tenant_id = ? AND seq = 5", DB_ARGS(DBI(C.t.id)), 1);
    expect_problem("gap", 5, NULL);
}

static void test_tamper_reordered_links(void **state) {
    (void)state;
    make_chain("tamper-swap", 10);
    drop_triggers();
    /* swap the seq of links 4 and 5 through a temporary seq */
    admin_exec("UPDATE evidence_links SET seq = 1000000 WHERE tenant_id = ? AND seq = 4", DB_ARGS(DBI(C.t.id)), 1);
    admin_exec("UPDATE evidence_links SET seq = 4 WHERE tenant_id = ? AND seq = 5", DB_ARGS(DBI(C.t.id)), 1);
    admin_exec("UPDATE evidence_links SET seq = 5 WHERE tenant_id = ? AND seq = 1000000", DB_ARGS(DBI(C.t.id)), 1);
    char ref[EVIDENCE_REF_MAX];
    event_ref_of(5, ref); /* the event now sitting at seq 4 */
    expect_problem("inserted_or_reordered", 4, ref);
}

/* an attacker inserts a well-formed event with a correctly computed link
 * after seq 5, shifting the rest: the link after it no longer follows */
static void test_tamper_inserted_link(void **state) {
    (void)state;
    make_chain("tamper-insert", 10);
    char body5[4096];
    it_query_str(W.app, "SELECT body FROM evidence_events WHERE id = ?", DB_ARGS(DBI(C.event_id[5])), body5,
                 sizeof body5);
    char xulid[ULID_LEN + 1];
    assert_int_equal(ulid_new(xulid), 0);
    /* forged body: event 5's body with its ULID replaced by the new one */
    buf_t forged = BUF_INIT;
    const char *p = body5, *hit;
    while ((hit = strstr(p, C.event_ulid[5]))) {
        buf_append(&forged, p, (size_t)(hit - p));
        buf_puts(&forged, xulid);
        p = hit + ULID_LEN;
    }
    buf_puts(&forged, p);
    char fdigest[65];
    evidence_digest(forged.data, forged.len, C.digest[5], fdigest);

    drop_triggers();
    /* unqueued: no sequencer may link it at the chain's end meanwhile */
    long long xid = insert_unqueued_event(W.admin, C.t.id, xulid, ACTIONS[4], 0, forged.data, forged.len);
    buf_free(&forged);
    admin_exec("UPDATE evidence_links SET seq = seq + 1 WHERE tenant_id = ? AND seq >= 6 ORDER BY seq DESC",
               DB_ARGS(DBI(C.t.id)), 5);
    admin_exec("INSERT INTO evidence_links (tenant_id, seq, event_id, prev_digest, digest, linked_at) "
               "VALUES (?, 6, ?, ?, ?, UTC_TIMESTAMP(6))",
               DB_ARGS(DBI(C.t.id), DBI(xid), DBS(C.digest[5]), DBS(fdigest)), 1);
    char ref[EVIDENCE_REF_MAX];
    event_ref_of(6, ref); /* the original event 6, now at seq 7 */
    expect_problem("inserted_or_reordered", 7, ref);
}

/* a link re-pointed at another tenant's event */
static void test_tamper_foreign_event(void **state) {
    (void)state;
    make_chain("tamper-foreign", 10);
    it_tenant_t other;
    it_tenant_new(W.app, "foreign-owner", &other);
    C.purge[1] = other.id;
    char oulid[ULID_LEN + 1];
    assert_int_equal(ulid_new(oulid), 0);
    /* the other tenant's event: inserted directly and taken out of the queue,
     * so no sequencer links it into the other tenant's chain meanwhile */
    long long oid = insert_unqueued_event(W.admin, other.id, oulid, "auth.login", 0, "{}", 2);
    drop_triggers();
    admin_exec("UPDATE evidence_links SET event_id = ? WHERE tenant_id = ? AND seq = 3",
               DB_ARGS(DBI(oid), DBI(C.t.id)), 1);
    char ref[EVIDENCE_REF_MAX];
    evidence_ref_format(C.t.ulid, oulid, ref);
    expect_problem("foreign", 3, ref);
}

/* A queued event not linked yet is tolerated (counted as pending). The real
 * bypass of the queue is an event inserted directly whose chain_pending row
 * is deleted with it (the application user may DELETE from chain_pending):
 * it is never linked, and once older than the link delay verify reports it
 * as "unlinked"; no sequencer launders it. */
static void test_unlinked_event(void **state) {
    (void)state;
    make_chain("unlinked", 10);
    C.purge[0] = C.t.id; /* its unlinked event would fail any later verify-audit */

    /* queued, and kept from every sequencer by holding the chain lock */
    chain_lock(C.t.id, true);
    append_one(W.app, &C.t, "auth.login", "success", 10, NULL);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("queued event", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, 10);
    assert_int_equal(v.pending, 1);
    chain_lock(C.t.id, false);
    link_all(W.app, C.t.id);
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 11);
    assert_int_equal(v.pending, 0);

    /* bypass: inserted an hour ago, taken out of the queue */
    char old[ULID_LEN + 1];
    assert_int_equal(ulid_new(old), 0);
    insert_unqueued_event(W.app, C.t.id, old, "auth.login", 3600, "{}", 2);
    char ref[EVIDENCE_REF_MAX];
    evidence_ref_format(C.t.ulid, old, ref);
    expect_problem("unlinked", 0, ref);
    /* the sequencer cannot launder it: it only links what is queued */
    link_all(W.app, C.t.id);
    assert_int_equal(count_links(W.app, C.t.id), 11);
    expect_problem("unlinked", 0, ref);
}

/* a well-formed event body (what walk_chain checks: it names its own ref) */
static void forge_body(const it_tenant_t *t, const char *eulid, buf_t *out) {
    char ref[EVIDENCE_REF_MAX];
    evidence_ref_format(t->ulid, eulid, ref);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "schema", json_object_new_string("aispm.evidence.v1"));
    json_object_object_add(o, "evidence_ref", json_object_new_string(ref));
    json_object_object_add(o, "tenant_ref", json_object_new_string(t->ref));
    json_object_object_add(o, "action", json_object_new_string("it.direct_insert"));
    json_object_object_add(o, "outcome", json_object_new_string("success"));
    json_object *actor = json_object_new_object();
    json_object_object_add(actor, "ref", json_object_new_string("system"));
    json_object_object_add(o, "actor", actor);
    assert_int_equal(jcs_serialize(o, out), 0);
    json_object_put(o);
}

/* Trigger evidence_events_pending queues every row INSERTed into
 * evidence_events in the same statement, however it is inserted: the pending
 * row is visible inside the inserting transaction before it commits (and to
 * nobody else), and goes away with a rollback. A committed direct INSERT is
 * then linked at the chain's end, like any appended event. */
static void test_direct_insert_queued_by_trigger(void **state) {
    (void)state;
    make_chain("trigger-pending", 3);
    char u1[ULID_LEN + 1], u2[ULID_LEN + 1];
    assert_int_equal(ulid_new(u1), 0);
    assert_int_equal(ulid_new(u2), 0);

    /* one multi-row INSERT, rolled back */
    assert_int_equal(db_begin(W.app), 0);
    uint64_t rows = 0;
    int rc = db_exec(W.app,
                     "INSERT INTO evidence_events (tenant_id, ulid, action, created_at, body) VALUES "
                     "(?, ?, 'it.direct_insert', UTC_TIMESTAMP(6), '{}'), "
                     "(?, ?, 'it.direct_insert', UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, '{}')",
                     DB_ARGS(DBI(C.t.id), DBS(u1), DBI(C.t.id), DBS(u2)), &rows, NULL);
    if (rc) {
        db_rollback(W.app);
        fail_msg("direct INSERT failed (%d: %s)", rc, db_error(W.app));
    }
    assert_int_equal(rows, 2);
    /* no other statement ran: the INSERT itself queued both rows, with the
     * event's id, tenant and created_at */
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM evidence_events e JOIN chain_pending p ON p.event_id = e.id "
                                  "AND p.tenant_id = e.tenant_id AND p.created_at = e.created_at "
                                  "WHERE e.ulid IN (?, ?)",
                                  DB_ARGS(DBS(u1), DBS(u2))),
                     2);
    assert_int_equal(count_pending(W.app, C.t.id), 2);
    /* uncommitted: another connection sees neither the events nor their
     * pending rows (so no sequencer can link them yet) */
    assert_int_equal(it_query_int(W.admin,
                                  "SELECT COUNT(*) FROM evidence_events e JOIN chain_pending p ON p.event_id = e.id "
                                  "WHERE e.ulid IN (?, ?)",
                                  DB_ARGS(DBS(u1), DBS(u2))),
                     0);
    assert_int_equal(count_pending(W.admin, C.t.id), 0);
    assert_int_equal(db_rollback(W.app), 0);
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM evidence_events WHERE ulid IN (?, ?)",
                                  DB_ARGS(DBS(u1), DBS(u2))),
                     0);
    assert_int_equal(count_pending(W.app, C.t.id), 0);
    assert_int_equal(count_events(W.app, C.t.id), 3);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 3);
    assert_int_equal(v.pending, 0);

    /* committed on its own (autocommit): queued, then linked as seq 4 by
     * whichever sequencer comes first; the chain verifies */
    char u3[ULID_LEN + 1];
    assert_int_equal(ulid_new(u3), 0);
    buf_t body = BUF_INIT;
    forge_body(&C.t, u3, &body);
    uint64_t id = 0;
    rc = db_exec(W.app,
                 "INSERT INTO evidence_events (tenant_id, ulid, action, created_at, body) "
                 "VALUES (?, ?, 'it.direct_insert', UTC_TIMESTAMP(6), ?)",
                 DB_ARGS(DBI(C.t.id), DBS(u3), DBSN(body.data, body.len)), NULL, &id);
    buf_free(&body);
    if (rc) fail_msg("direct INSERT failed (%d: %s)", rc, db_error(W.app));
    assert_true(id > 0);
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM chain_pending WHERE event_id = ?",
                                  DB_ARGS(DBI((long long)id))) +
                         it_query_int(W.app, "SELECT COUNT(*) FROM evidence_links WHERE event_id = ?",
                                      DB_ARGS(DBI((long long)id))),
                     1);
    link_all(W.app, C.t.id);
    assert_int_equal(it_query_int(W.app, "SELECT seq FROM evidence_links WHERE tenant_id = ? AND event_id = ?",
                                  DB_ARGS(DBI(C.t.id), DBI((long long)id))),
                     4);
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("chain with a directly inserted event", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, 4);
    assert_int_equal(v.head_seq, 4);
    assert_int_equal(v.pending, 0);
    check_chain_recomputes(C.t.id, 4, v.head_digest);
}

/* signs the chain head; the server's job worker may have signed it first */
static void checkpoint_head(long long tid, long long head_seq) {
    int n = -1;
    int rc = evidence_checkpoint(W.app, W.key, tid, 0, &n);
    if (rc) fail_msg("evidence_checkpoint failed (%d: %s)", rc, db_error(W.app));
    assert_in_range(n, 0, 1);
    db_res_t *r;
    assert_int_equal(db_query(W.app,
                              "SELECT c.kid, c.alg, c.digest = l.digest, k.purpose FROM evidence_checkpoints c "
                              "JOIN evidence_links l ON l.tenant_id = c.tenant_id AND l.seq = c.seq "
                              "LEFT JOIN signing_keys k ON k.kid = c.kid WHERE c.tenant_id = ? AND c.seq = ?",
                              DB_ARGS(DBI(tid), DBI(head_seq)), &r),
                     0);
    assert_int_equal(db_res_next(r), 1);
    if (n == 1) assert_string_equal(db_res_str(r, 0), key_kid(W.key));
    assert_string_equal(db_res_str(r, 1), "EdDSA");
    assert_int_equal(db_res_int(r, 2), 1);
    assert_string_equal(db_res_str(r, 3), "evidence_checkpoint");
    db_res_free(r);
    /* the head has not moved: nothing more to sign */
    assert_int_equal(evidence_checkpoint(W.app, W.key, tid, 0, &n), 0);
    assert_int_equal(n, 0);
}

static void test_checkpoint_signature_tampered(void **state) {
    (void)state;
    make_chain("cp-sig", 10);
    checkpoint_head(C.t.id, 10);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("checkpointed chain", &v);
    assert_true(v.ok);
    assert_true(v.checkpoints >= 1);

    /* a moved head is signed again, but not before min_interval_s */
    for (int i = 10; i < 12; i++) append_one(W.app, &C.t, "auth.login", "success", i, NULL);
    link_all(W.app, C.t.id);
    int n = -1;
    assert_int_equal(evidence_checkpoint(W.app, W.key, C.t.id, 3600, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM evidence_checkpoints WHERE tenant_id = ? AND seq = 12",
                                  DB_ARGS(DBI(C.t.id))),
                     0);
    checkpoint_head(C.t.id, 12);
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_true(v.checkpoints >= 2);
    assert_int_equal(v.events, 12);

    /* flip one character of the signature of the checkpoint at seq 10 */
    char sig[1100];
    it_query_str(W.app, "SELECT signature FROM evidence_checkpoints WHERE tenant_id = ? AND seq = 10",
                 DB_ARGS(DBI(C.t.id)), sig, sizeof sig);
    assert_true(strlen(sig) > 40);
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    drop_triggers();
    admin_exec("UPDATE evidence_checkpoints SET signature = ? WHERE tenant_id = ? AND seq = 10",
               DB_ARGS(DBS(sig), DBI(C.t.id)), 1);
    expect_problem("checkpoint", 10, NULL);
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_non_null(strstr(v.message, "signature"));
}

/* rewriting the head event AND its link digest keeps the chain itself
 * consistent; only the signed checkpoint catches it */
static void test_checkpoint_detects_rewritten_head(void **state) {
    (void)state;
    make_chain("cp-rewrite", 10);
    checkpoint_head(C.t.id, 10);
    drop_triggers();
    admin_exec("UPDATE evidence_events SET body = REPLACE(body, 'success', 'failure') WHERE id = ?",
               DB_ARGS(DBI(C.event_id[10])), 1);
    char body[4096], prev[65], d[65];
    it_query_str(W.app, "SELECT body FROM evidence_events WHERE id = ?", DB_ARGS(DBI(C.event_id[10])), body,
                 sizeof body);
    it_query_str(W.app, "SELECT prev_digest FROM evidence_links WHERE tenant_id = ? AND seq = 10",
                 DB_ARGS(DBI(C.t.id)), prev, sizeof prev);
    evidence_digest(body, strlen(body), prev, d);
    admin_exec("UPDATE evidence_links SET digest = ? WHERE tenant_id = ? AND seq = 10", DB_ARGS(DBS(d), DBI(C.t.id)),
               1);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    print_verify("rewritten head", &v);
    assert_false(v.ok);
    assert_string_equal(v.problem, "checkpoint");
    assert_int_equal(v.bad_seq, 10);
    assert_int_equal(v.events, 10); /* the chain alone looked fine */
}

/* deleting the head (link and event) is caught by the checkpoint past it */
static void test_checkpoint_detects_truncation(void **state) {
    (void)state;
    make_chain("cp-trunc", 10);
    checkpoint_head(C.t.id, 10);
    drop_triggers();
    admin_exec("DELETE FROM evidence_links WHERE tenant_id = ? AND seq = 10", DB_ARGS(DBI(C.t.id)), 1);
    admin_exec("DELETE FROM evidence_events WHERE id = ?", DB_ARGS(DBI(C.event_id[10])), 1);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    print_verify("truncated chain", &v);
    assert_false(v.ok);
    assert_string_equal(v.problem, "checkpoint");
    assert_int_equal(v.bad_seq, 10);
    assert_int_equal(v.events, 9);
}

/* appends events n0..n0+count-1 in ONE transaction, so a sequencer links
 * them in one batch: the chain head jumps straight to the last of them and no
 * checkpointer (the server's job worker) can sign a head in between */
static void append_batch(const it_tenant_t *t, int n0, int count) {
    assert_int_equal(db_begin(W.app), 0);
    for (int i = n0; i < n0 + count; i++) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "n", json_object_new_int(i));
        json_object_object_add(d, "target", json_object_new_string(t->slug));
        evidence_event_t ev = {.tenant_id = t->id, .tenant_ref = t->ref, .actor_ref = "system",
                               .actor_role = "integration_test", .action = ACTIONS[i % 5],
                               .object_ref = t->ref, .outcome = "success", .request_id = "it-request",
                               .details = d};
        int rc = evidence_append(W.app, &ev, NULL);
        json_object_put(d);
        if (rc) {
            db_rollback(W.app);
            fail_msg("evidence_append failed (%d: %s)", rc, db_error(W.app));
        }
    }
    assert_int_equal(db_commit(W.app), 0);
}

static long long count_checkpoints(long long tid) {
    return it_query_int(W.app, "SELECT COUNT(*) FROM evidence_checkpoints WHERE tenant_id = ?", DB_ARGS(DBI(tid)));
}

/* evidence_checkpoint() verifies the segment since the previous checkpoint
 * and refuses to sign over a tampered one; a tampered event before that
 * checkpoint is not its business, but evidence_verify still reports it.
 * (The server's job worker signs a head at most every checkpoint_interval_s
 * (>= 1 s, 60 s by default) after the last checkpoint, so it cannot sign seq
 * 10 between the link and the tampering below; it refuses too afterwards.) */
static void test_checkpoint_refused_over_tampered_chain(void **state) {
    (void)state;
    it_tenant_new(W.app, "cp-refused", &C.t);
    append_batch(&C.t, 0, 6);
    link_all(W.app, C.t.id);
    load_chain(C.t.id);
    assert_int_equal(C.n, 6);
    checkpoint_head(C.t.id, 6); /* signed by us, or by the server's worker first */
    assert_int_equal(count_checkpoints(C.t.id), 1);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    if (!v.ok) print_verify("checkpointed chain", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, 6);
    assert_int_equal(v.checkpoints, 1);

    append_batch(&C.t, 6, 4);
    link_all(W.app, C.t.id);
    load_chain(C.t.id);
    assert_int_equal(C.n, 10);
    assert_int_equal(count_checkpoints(C.t.id), 1);

    /* tamper one event after the checkpoint: no checkpoint over it */
    drop_triggers();
    admin_exec("UPDATE evidence_events SET body = REPLACE(body, 'success', 'failure') WHERE id = ?",
               DB_ARGS(DBI(C.event_id[8])), 1);
    int n = -1;
    int rc = evidence_checkpoint(W.app, W.key, C.t.id, 0, &n);
    assert_int_equal(rc, AISPM_ECRYPTO); /* non-zero: refused */
    assert_int_equal(n, 0);
    assert_int_equal(count_checkpoints(C.t.id), 1);
    assert_int_equal(it_query_int(W.app, "SELECT COUNT(*) FROM evidence_checkpoints WHERE tenant_id = ? AND seq > 6",
                                  DB_ARGS(DBI(C.t.id))),
                     0);
    char ref[EVIDENCE_REF_MAX];
    event_ref_of(8, ref);
    expect_problem("altered", 8, ref);

    /* tamper an event before the checkpoint too: verify reports the first */
    admin_exec("UPDATE evidence_events SET body = REPLACE(body, 'success', 'failure') WHERE id = ?",
               DB_ARGS(DBI(C.event_id[3])), 1);
    event_ref_of(3, ref);
    expect_problem("altered", 3, ref);
    /* and still nothing is signed */
    n = -1;
    assert_int_equal(evidence_checkpoint(W.app, W.key, C.t.id, 0, &n), AISPM_ECRYPTO);
    assert_int_equal(n, 0);
    assert_int_equal(count_checkpoints(C.t.id), 1);
}

/* --- batched linking ---------------------------------------------------- */

/* The sequencer writes links LINK_BATCH (64) at a time. To see what ONE
 * evidence_link_pending call does with a backlog, the test connection holds
 * the tenant's chain lock (chain_lock) while it appends and links. */
#define BACKLOG 150

/* one evidence_link_pending call (max_events) that must link `expect` events */
static void link_once(long long tid, int max_events, int expect) {
    int n = -1;
    int rc = evidence_link_pending(W.app, tid, max_events, &n);
    if (rc) fail_msg("evidence_link_pending failed (%d: %s)", rc, db_error(W.app));
    print_message("evidence_link_pending(max_events %d) linked %d\n", max_events, n);
    assert_int_equal(n, expect);
}

/* the chain links events in event-id order: each link's event id is above
 * its predecessor's, and every linked event belongs to the tenant */
static void check_link_order(long long tid) {
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM evidence_links a JOIN evidence_links b "
                                  "ON b.tenant_id = a.tenant_id AND b.seq = a.seq + 1 "
                                  "WHERE a.tenant_id = ? AND b.event_id <= a.event_id",
                                  DB_ARGS(DBI(tid))),
                     0);
    assert_int_equal(it_query_int(W.app,
                                  "SELECT COUNT(*) FROM evidence_links l JOIN evidence_events e ON e.id = l.event_id "
                                  "WHERE l.tenant_id = ? AND e.tenant_id <> l.tenant_id",
                                  DB_ARGS(DBI(tid))),
                     0);
}

static void verify_linked(long long tid, long long events, long long pending) {
    evidence_verify_result_t v;
    assert_int_equal(verify(tid, &v), 0);
    if (!v.ok) print_verify("batched chain", &v);
    assert_true(v.ok);
    assert_int_equal(v.events, events);
    assert_int_equal(v.head_seq, events);
    assert_int_equal(v.pending, pending);
    if (pending == 0) check_chain_recomputes(tid, events, v.head_digest);
    check_link_order(tid);
}

/* 150 pending events in one call: two full batches of 64 and one of 22;
 * then 128 more: exactly two full batches, nothing left for a last one */
static void test_link_backlog_in_one_call(void **state) {
    (void)state;
    it_tenant_new(W.app, "batch-one-call", &C.t);
    chain_lock(C.t.id, true);
    append_batch(&C.t, 0, BACKLOG);
    assert_int_equal(count_pending(W.app, C.t.id), BACKLOG);
    link_once(C.t.id, 1000, BACKLOG);
    assert_int_equal(count_pending(W.app, C.t.id), 0);
    assert_int_equal(count_links(W.app, C.t.id), BACKLOG);
    verify_linked(C.t.id, BACKLOG, 0);

    append_batch(&C.t, BACKLOG, 128);
    link_once(C.t.id, 1000, 128);
    chain_lock(C.t.id, false);
    assert_int_equal(count_pending(W.app, C.t.id), 0);
    assert_int_equal(count_links(W.app, C.t.id), BACKLOG + 128);
    char prev[65], head[65];
    it_query_str(W.app, "SELECT prev_digest FROM evidence_links WHERE tenant_id = ? AND seq = ?",
                 DB_ARGS(DBI(C.t.id), DBI(BACKLOG + 1)), prev, sizeof prev);
    it_query_str(W.app, "SELECT digest FROM evidence_links WHERE tenant_id = ? AND seq = ?",
                 DB_ARGS(DBI(C.t.id), DBI(BACKLOG)), head, sizeof head);
    assert_string_equal(prev, head); /* the second call continued from the head */
    verify_linked(C.t.id, BACKLOG + 128, 0);
}

/* max_events below the backlog: the first call links the 100 oldest events
 * (64 + 36), the rest stay queued and a second call links them (50) */
static void test_link_backlog_max_events(void **state) {
    (void)state;
    it_tenant_new(W.app, "batch-max", &C.t);
    chain_lock(C.t.id, true);
    append_batch(&C.t, 0, BACKLOG);
    link_once(C.t.id, 100, 100);
    assert_int_equal(count_links(W.app, C.t.id), 100);
    assert_int_equal(count_pending(W.app, C.t.id), BACKLOG - 100);
    /* the oldest were linked: every queued event is newer than every linked one */
    assert_int_equal(it_query_int(W.app,
                                  "SELECT (SELECT MAX(event_id) FROM evidence_links WHERE tenant_id = ?) < "
                                  "(SELECT MIN(event_id) FROM chain_pending WHERE tenant_id = ?)",
                                  DB_ARGS(DBI(C.t.id), DBI(C.t.id))),
                     1);
    verify_linked(C.t.id, 100, BACKLOG - 100); /* the rest: pending, not yet overdue */

    link_once(C.t.id, 1000, BACKLOG - 100);
    link_once(C.t.id, 1000, 0); /* nothing left */
    chain_lock(C.t.id, false);
    assert_int_equal(count_pending(W.app, C.t.id), 0);
    assert_int_equal(count_links(W.app, C.t.id), BACKLOG);
    verify_linked(C.t.id, BACKLOG, 0);
}

/* --- append-only enforcement ------------------------------------------- */

typedef struct {
    const char *what;
    const char *sql; /* one parameter: the tenant id */
} forbidden_t;

static const forbidden_t FORBIDDEN[] = {
    {"UPDATE evidence_events", "UPDATE evidence_events SET action = CONCAT(action, '.x') WHERE tenant_id = ?"},
    {"DELETE evidence_events", "DELETE FROM evidence_events WHERE tenant_id = ?"},
    {"upsert evidence_events",
     "INSERT INTO evidence_events (id, tenant_id, ulid, action, created_at, body) "
     "SELECT id, tenant_id, ulid, action, created_at, body FROM evidence_events WHERE tenant_id = ? "
     "ON DUPLICATE KEY UPDATE body = '{}'"},
    {"REPLACE evidence_events",
     "REPLACE INTO evidence_events (id, tenant_id, ulid, action, created_at, body) "
     "SELECT id, tenant_id, ulid, action, created_at, '{}' FROM evidence_events WHERE tenant_id = ?"},
    {"UPDATE evidence_links", "UPDATE evidence_links SET digest = REPEAT('f', 64) WHERE tenant_id = ?"},
    {"DELETE evidence_links", "DELETE FROM evidence_links WHERE tenant_id = ?"},
    {"REPLACE evidence_links",
     "REPLACE INTO evidence_links (tenant_id, seq, event_id, prev_digest, digest, linked_at) "
     "SELECT tenant_id, seq, event_id, prev_digest, REPEAT('f', 64), linked_at FROM evidence_links "
     "WHERE tenant_id = ?"},
    {"UPDATE evidence_checkpoints", "UPDATE evidence_checkpoints SET signature = 'x' WHERE tenant_id = ?"},
    {"DELETE evidence_checkpoints", "DELETE FROM evidence_checkpoints WHERE tenant_id = ?"},
};
#define NFORBIDDEN ((int)(sizeof FORBIDDEN / sizeof FORBIDDEN[0]))

/* fingerprint of everything the evidence tables hold for the tenant */
static void evidence_fingerprint(long long tid, char out[65]) {
    char s[200];
    it_query_str(W.admin,
                 "SELECT SHA2(CONCAT_WS('|', "
                 "(SELECT GROUP_CONCAT(id, ulid, action, created_at, body ORDER BY id) FROM evidence_events "
                 " WHERE tenant_id = ?), "
                 "(SELECT GROUP_CONCAT(seq, event_id, prev_digest, digest, linked_at ORDER BY seq) FROM evidence_links "
                 " WHERE tenant_id = ?), "
                 "(SELECT GROUP_CONCAT(seq, digest, signed_at, kid, signature ORDER BY seq) FROM evidence_checkpoints "
                 " WHERE tenant_id = ?)), 256)",
                 DB_ARGS(DBI(tid), DBI(tid), DBI(tid)), s, sizeof s);
    assert_int_equal(strlen(s), 64);
    memcpy(out, s, 65);
}

/* Each statement must fail through db_exec (the application's path). The
 * reason is then read from the same statement sent over the text protocol,
 * because db_errno() is 0 after a failed *prepare* (see the report on
 * app/db/db.c): "command denied" (1142) proves the grants refused it, a
 * trigger's SIGNAL (1644) proves the triggers did. */
static void check_all_refused(db_t *db, const char *who, unsigned expect_errno, const char *expect_text) {
    char before[65], after[65];
    evidence_fingerprint(C.t.id, before);
    for (int i = 0; i < NFORBIDDEN; i++) {
        uint64_t affected = 0;
        int rc = db_exec(db, FORBIDDEN[i].sql, DB_ARGS(DBI(C.t.id)), &affected, NULL);
        if (rc == 0)
            fail_msg("%s was allowed to run %s (%llu rows)", who, FORBIDDEN[i].what, (unsigned long long)affected);
        assert_int_equal(rc, AISPM_EDB);
        /* the same statement with the tenant id inlined (an integer) */
        char text[1024];
        const char *q = strchr(FORBIDDEN[i].sql, '?');
        assert_non_null(q);
        snprintf(text, sizeof text, "%.*s%lld%s", (int)(q - FORBIDDEN[i].sql), FORBIDDEN[i].sql, C.t.id, q + 1);
        assert_int_not_equal(db_exec_script(db, text), 0);
        unsigned no = db_errno(db);
        print_message("%s: %s -> refused, errno %u (%s)\n", who, FORBIDDEN[i].what, no, db_error(db));
        assert_int_equal(no, expect_errno);
        if (expect_text) assert_non_null(strstr(db_error(db), expect_text));
    }
    evidence_fingerprint(C.t.id, after);
    assert_string_equal(before, after);
    evidence_verify_result_t v;
    assert_int_equal(verify(C.t.id, &v), 0);
    assert_true(v.ok);
    assert_int_equal(v.events, 5);
    assert_true(v.checkpoints >= 1);
}

/* the application user has SELECT/INSERT only: the server refuses UPDATE and
 * DELETE on evidence tables with "command denied" (grants, not triggers) */
static void test_app_user_cannot_rewrite_evidence(void **state) {
    (void)state;
    make_chain("appendonly-app", 5);
    checkpoint_head(C.t.id, 5);
    trigger_lock(); /* triggers in place for the whole test */
    check_all_refused(W.app, "application user", IT_ER_TABLEACCESS_DENIED, "command denied");
    /* nor may it remove the triggers, the append-only ones or the one that
     * queues events (restored by the teardown if it could) */
    static const char *const DROPS[] = {"DROP TRIGGER evidence_events_no_update", "DROP TRIGGER " PENDING_TRIGGER};
    for (size_t i = 0; i < sizeof DROPS / sizeof DROPS[0]; i++) {
        int rc = db_exec_script(W.app, DROPS[i]);
        if (rc == 0) C.triggers_down = true;
        if (rc == 0) fail_msg("the application user was allowed to run %s", DROPS[i]);
        assert_int_equal(db_errno(W.app), IT_ER_TABLEACCESS_DENIED); /* no TRIGGER privilege */
    }
}

/* the admin user has every privilege: the triggers refuse it anyway */
static void test_admin_refused_by_triggers(void **state) {
    (void)state;
    make_chain("appendonly-admin", 5);
    checkpoint_head(C.t.id, 5);
    trigger_lock();
    char now[sizeof W.trigger_snapshot];
    int count = 0;
    assert_int_equal(trigger_snapshot(now, sizeof now, &count, false), 0);
    assert_int_equal(count, W.ntriggers);
    assert_string_equal(now, W.trigger_snapshot);
    check_all_refused(W.admin, "admin user", IT_ER_SIGNAL_EXCEPTION, "append-only");
}

int main(void) {
    if (!getenv("AISPM_TEST_CONFIG") || !*getenv("AISPM_TEST_CONFIG")) {
        config_t c;
        it_load_config(&c); /* prints why */
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_writes_canonical_event, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_no_evidence, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_link_and_verify, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_appenders_and_sequencer, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_two_sequencers_never_fork, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_link_backlog_in_one_call, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_link_backlog_max_events, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_direct_insert_queued_by_trigger, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_altered_event, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_deleted_event, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_deleted_link_gap, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_reordered_links, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_inserted_link, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_foreign_event, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_unlinked_event, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_signature_tampered, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_detects_rewritten_head, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_detects_truncation, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_refused_over_tampered_chain, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_app_user_cannot_rewrite_evidence, test_setup, test_teardown),
        cmocka_unit_test_setup_teardown(test_admin_refused_by_triggers, test_setup, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
