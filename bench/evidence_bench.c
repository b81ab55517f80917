/*
 * evidence_bench.c — evidence appends per second for one busy tenant, with the
 * hash chain kept, against plain single-row INSERTs into the same MariaDB
 * (see bench/README.md; bench/evidence.sh runs it against a local stack).
 *
 *   evidence_bench -c STATE/aispm.conf [--writers W] [--seconds T]
 *                  [--plain-table DB.TABLE] [--batch N] [--seq-idle-ms MS]
 *                  [--lag-timeout S] [--rounds R]
 *
 * The master creates two fresh tenant rows as the application user, one per
 * append mode, so that each chain holds exactly the events of its mode. Each
 * round runs three phases of T seconds, each with W writer processes on their
 * own connections (db_connect with the app's configuration):
 *
 * autocommit: writers loop on
 *     evidence_append(one small event)
 * alone: since migration 002 that is one INSERT (trigger
 * evidence_events_pending queues the event in chain_pending within the same
 * statement), atomic on its own, which is how the app writes an evidence-only
 * event (auth.login_failed, auth.login_throttled). This is the append's own
 * cost and the mode the key ratio uses.
 *
 * transaction: writers loop on
 *     db_begin; evidence_append(one small event); db_commit
 * the loop of a state-changing request that writes nothing besides its
 * evidence. In the app an append normally rides inside the transaction of the
 * change it records, so START TRANSACTION and COMMIT are that change's cost,
 * paid once whether or not it writes evidence.
 *
 * In both chain phases one sequencer process loops evidence_link_pending(
 * tenant, N) and sleeps --seq-idle-ms (default 100, as the app's job worker
 * does) whenever a round linked fewer than N events. When the writers are
 * done the master measures the link lag: the time until no event of the
 * tenant is left in chain_pending. Then evidence_verify() must report the
 * mode's chain ok and holding exactly the events appended in that mode.
 *
 * plain (the reference): writers loop on one autocommit
 *     INSERT INTO DB.TABLE (tenant_id, body) VALUES (?, ?)
 * with a body copied from one of the events of the first chain phase (same
 * size, same bytes). DB.TABLE (default aispm_bench.bench_plain) must exist and
 * the application user must hold INSERT on it; bench/evidence.sh creates it.
 *
 * --rounds R repeats the three phases R times and reports the totals, so slow
 * drifts of background load hit every side alike; the order of the phases
 * rotates by one each round (autocommit, transaction, plain; then
 * transaction, plain, autocommit; ...), so what one phase leaves behind
 * (InnoDB purge of chain_pending) does not always fall on the same next one.
 * The chains keep growing across rounds and are verified after each chain
 * phase.
 *
 * Every measured process runs against the same MariaDB, the same way, so the
 * ratio appends/plain says what the chain costs over a bare INSERT. A running
 * `aispm serve` on the same database links the bench tenants too (its job
 * worker links every tenant); the named lock in evidence_link_pending makes
 * the two sequencers take turns, and the output says who linked how much.
 *
 * Exit status: 0 when every phase ran and both chains verified (whether or
 * not the ratios met their goal), 1 on any failure, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "core/config.h"
#include "core/log.h"
#include "core/ref.h"
#include "db/db.h"

#define MAX_WRITERS 64
#define HIST_BUCKETS 20000 /* latency histogram: 10 us buckets up to 200 ms */
#define HIST_US 10
#define RATIO_GOAL 0.5

struct options {
    const char *config;
    int writers;
    int seconds;
    const char *plain_table;
    int batch;
    int seq_idle_ms;
    int lag_timeout_s;
    int rounds;
};

/* One writer's results, written by the writer, read by the master after it
 * exited. */
struct writer_stat {
    long long ops;
    long long errors;
    long long end_ns; /* CLOCK_MONOTONIC at the end of its last operation */
    long long max_us;
    long long hist[HIST_BUCKETS + 1]; /* last bucket: everything slower */
};

/* Shared between the master and its children (MAP_SHARED, anonymous). */
struct shared {
    int ready;               /* children connected and waiting (atomic) */
    int stop_sequencer;      /* master -> sequencer */
    long long go_ns;         /* CLOCK_MONOTONIC when the phase started */
    long long seq_linked;    /* events linked by the bench sequencer */
    long long seq_rounds;
    long long seq_errors;
    struct writer_stat w[MAX_WRITERS];
};

static struct options opt;
static config_t cfg;
static struct shared *shm;
/* The three kinds of phase; the two chain modes have a tenant each. */
enum kind { K_AUTO, K_TX, K_PLAIN, K_COUNT };
static const char *const kind_name[K_COUNT] = {"autocommit", "transaction", "plain"};
static long long tenant_id[2];      /* by mode: K_AUTO, K_TX */
static char tenant_ref[2][REF_MAX];
static char plain_sql[256];   /* built once: db.c caches statements by pointer */
static char *plain_body;      /* copy of one event body of the first chain phase */
static size_t plain_body_len;

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void usage(FILE *out) {
    fprintf(out, "usage: evidence_bench -c CONFIG [--writers W] [--seconds T] [--plain-table DB.TABLE]\n"
                 "                      [--batch N] [--seq-idle-ms MS] [--lag-timeout S] [--rounds R]\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int ident_ok(const char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

static int parse_options(int argc, char **argv) {
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},      {"writers", required_argument, NULL, 'w'},
        {"seconds", required_argument, NULL, 't'},     {"plain-table", required_argument, NULL, 'p'},
        {"batch", required_argument, NULL, 'b'},       {"seq-idle-ms", required_argument, NULL, 'i'},
        {"lag-timeout", required_argument, NULL, 'l'}, {"rounds", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    opt.writers = 8;
    opt.seconds = 10;
    opt.plain_table = "aispm_bench.bench_plain";
    opt.batch = 1000;
    opt.seq_idle_ms = 100;
    opt.lag_timeout_s = 120;
    opt.rounds = 1;
    while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': opt.config = optarg; break;
        case 'w': bad |= parse_int(optarg, 1, MAX_WRITERS, &opt.writers); break;
        case 't': bad |= parse_int(optarg, 1, 3600, &opt.seconds); break;
        case 'p': opt.plain_table = optarg; break;
        case 'b': bad |= parse_int(optarg, 1, 100000, &opt.batch); break;
        case 'i': bad |= parse_int(optarg, 0, 10000, &opt.seq_idle_ms); break;
        case 'l': bad |= parse_int(optarg, 1, 3600, &opt.lag_timeout_s); break;
        case 'r': bad |= parse_int(optarg, 1, 100, &opt.rounds); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (bad || optind != argc || !opt.config) {
        usage(stderr);
        return -1;
    }
    const char *dot = strchr(opt.plain_table, '.');
    if (!dot || !ident_ok(opt.plain_table, (size_t)(dot - opt.plain_table)) || !ident_ok(dot + 1, strlen(dot + 1))) {
        fprintf(stderr, "evidence_bench: --plain-table must be DB.TABLE (letters, digits, _)\n");
        return -1;
    }
    snprintf(plain_sql, sizeof plain_sql, "INSERT INTO `%.*s`.`%s` (tenant_id, body) VALUES (?, ?)",
             (int)(dot - opt.plain_table), opt.plain_table, dot + 1);
    return 0;
}

static int connect_app(db_t **db) {
    if (db_connect(&cfg, false, true, db) != 0) {
        fprintf(stderr, "evidence_bench: cannot connect to MariaDB as %s\n", cfg.db_user);
        return -1;
    }
    return 0;
}

/* A fresh tenant per mode and run: its chain starts empty and holds only
 * this run's appends of that mode. */
static int create_tenant(db_t *db, int mode) {
    char ulid[ULID_LEN + 1], slug[64], name[96];
    uint64_t id = 0;
    if (ref_new("tenant", tenant_ref[mode]) || ulid_new(ulid)) return -1;
    snprintf(slug, sizeof slug, "bench-evidence-%s", ulid);
    for (char *p = slug; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    snprintf(name, sizeof name, "Evidence benchmark %s (%s)", ulid, kind_name[mode]);
    if (db_exec(db, "INSERT INTO tenants (ref, slug, name) VALUES (?, ?, ?)",
                DB_ARGS(DBS(tenant_ref[mode]), DBS(slug), DBS(name)), NULL, &id) != 0) {
        fprintf(stderr, "evidence_bench: cannot create the bench tenant: %s\n", db_error(db));
        return -1;
    }
    tenant_id[mode] = (long long)id;
    return 0;
}

/* --- children ---------------------------------------------------------------- */

/* Connected and counted as ready; returns once the master says go. */
static void wait_for_go(int go_fd) {
    char c;
    __atomic_add_fetch(&shm->ready, 1, __ATOMIC_SEQ_CST);
    while (read(go_fd, &c, 1) < 0 && errno == EINTR) {
    }
    close(go_fd);
}

static void record(struct writer_stat *ws, long long t0, long long t1) {
    long long us = (t1 - t0) / 1000;
    long long b = us / HIST_US;
    ws->hist[b < HIST_BUCKETS ? b : HIST_BUCKETS]++;
    if (us > ws->max_us) ws->max_us = us;
}

/* One event in MODE: K_AUTO is evidence_append alone (one INSERT, atomic on
 * its own); K_TX wraps it in db_begin/db_commit as a request's change does. */
static int one_append(db_t *db, int mode, long long n) {
    json_object *d = json_object_new_object();
    json_object_object_add(d, "report_id", json_object_new_string("executive_risk_brief"));
    json_object_object_add(d, "enabled", json_object_new_boolean(1));
    json_object_object_add(d, "n", json_object_new_int64(n));
    evidence_event_t ev = {
        .tenant_id = tenant_id[mode],
        .tenant_ref = tenant_ref[mode],
        .actor_ref = "system:bench",
        .actor_role = "platform_operator",
        .action = "bench.append",
        .object_ref = "report:executive_risk_brief",
        .outcome = "success",
        .request_id = "bench-evidence",
        .details = d,
    };
    int rc;
    if (mode == K_AUTO) {
        rc = evidence_append(db, &ev, NULL);
    } else {
        rc = db_begin(db);
        if (!rc) rc = evidence_append(db, &ev, NULL);
        if (!rc)
            rc = db_commit(db);
        else
            db_rollback(db);
    }
    json_object_put(d);
    return rc;
}

static int one_plain(db_t *db) {
    return db_exec(db, plain_sql, DB_ARGS(DBI(tenant_id[K_AUTO]), DBSN(plain_body, plain_body_len)), NULL, NULL);
}

static int writer_main(int index, int kind, int go_fd) {
    struct writer_stat *ws = &shm->w[index];
    db_t *db;
    if (connect_app(&db)) return 1;
    wait_for_go(go_fd);
    long long deadline = shm->go_ns + (long long)opt.seconds * 1000000000LL;
    long long t = mono_ns();
    int failing = 0; /* consecutive errors: a broken setup must not spin */
    while (t < deadline && failing < 20) {
        int rc = kind == K_PLAIN ? one_plain(db) : one_append(db, kind, ws->ops);
        long long t1 = mono_ns();
        if (rc) {
            failing++;
            if (++ws->errors <= 3)
                fprintf(stderr, "evidence_bench: writer %d (%s): %s failed: %s\n", index, kind_name[kind],
                        kind == K_PLAIN ? "insert" : "append", db_error(db));
        } else {
            failing = 0;
            ws->ops++;
            record(ws, t, t1);
        }
        t = t1;
    }
    ws->end_ns = mono_ns();
    db_close(db);
    return failing ? 1 : 0;
}

static int sequencer_main(int mode, int go_fd) {
    db_t *db;
    if (connect_app(&db)) return 1;
    wait_for_go(go_fd);
    while (!__atomic_load_n(&shm->stop_sequencer, __ATOMIC_SEQ_CST)) {
        int n = 0;
        if (evidence_link_pending(db, tenant_id[mode], opt.batch, &n) != 0) {
            shm->seq_errors++;
            sleep_ms(10);
            continue;
        }
        shm->seq_linked += n;
        shm->seq_rounds++;
        if (n < opt.batch && opt.seq_idle_ms) sleep_ms(opt.seq_idle_ms);
    }
    db_close(db);
    return 0;
}

/* --- master ------------------------------------------------------------------ */

struct phase {
    pid_t writers[MAX_WRITERS];
    pid_t sequencer;
    long long ops, errors, end_ns;
    double seconds;
    double p50_ms, p99_ms, max_ms;
    int failed;
};

/* Totals of one kind of phase over all rounds. */
struct total {
    long long ops, errors;
    double seconds, max_ms;
    int failed;
    long long hist[HIST_BUCKETS + 1];
};

/* role 0: writer INDEX of phase KIND; role 1: the sequencer of mode KIND. */
static pid_t spawn(int role, int index, int kind, int go_pipe[2]) {
    pid_t pid = fork();
    if (pid == 0) {
        close(go_pipe[1]);
        signal(SIGPIPE, SIG_IGN);
        _exit(role ? sequencer_main(kind, go_pipe[0]) : writer_main(index, kind, go_pipe[0]));
    }
    if (pid < 0) fprintf(stderr, "evidence_bench: fork: %s\n", strerror(errno));
    return pid;
}

static double percentile_ms(const long long *hist, long long total, double q) {
    long long want = (long long)(q * (double)total + 0.5), seen = 0;
    if (total <= 0) return 0;
    if (want < 1) want = 1;
    for (int b = 0; b <= HIST_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= want) return (double)((b + 1) * HIST_US) / 1000.0;
    }
    return (double)(HIST_BUCKETS * HIST_US) / 1000.0;
}

static void kill_all(struct phase *ph) {
    for (int i = 0; i < opt.writers; i++)
        if (ph->writers[i] > 0) kill(ph->writers[i], SIGKILL);
    if (ph->sequencer > 0) kill(ph->sequencer, SIGKILL);
}

/* Forks the writers (and, for a chain phase, the sequencer), waits until
 * all are connected, starts them together and waits for the writers. The
 * sequencer keeps running; the caller stops it. */
static int run_phase(int kind, struct phase *ph, struct total *tot) {
    int plain = kind == K_PLAIN;
    int go_pipe[2];
    memset(ph, 0, sizeof *ph);
    memset(shm, 0, sizeof *shm);
    if (pipe(go_pipe) != 0) return -1;
    int children = opt.writers + (plain ? 0 : 1);
    for (int i = 0; i < opt.writers; i++)
        if ((ph->writers[i] = spawn(0, i, kind, go_pipe)) < 0) goto fail;
    if (!plain && (ph->sequencer = spawn(1, 0, kind, go_pipe)) < 0) goto fail;
    close(go_pipe[0]);
    go_pipe[0] = -1;

    long long wait_until = mono_ns() + 30 * 1000000000LL;
    while (__atomic_load_n(&shm->ready, __ATOMIC_SEQ_CST) < children) {
        int status;
        pid_t dead = waitpid(-1, &status, WNOHANG);
        if (dead > 0 || mono_ns() > wait_until) {
            fprintf(stderr, "evidence_bench: a child %s before the start\n", dead > 0 ? "exited" : "hung");
            goto fail;
        }
        sleep_ms(5);
    }
    shm->go_ns = mono_ns();
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    close(go_pipe[1]); /* EOF: everyone starts */
    go_pipe[1] = -1;

    for (int i = 0; i < opt.writers; i++) {
        int status;
        while (waitpid(ph->writers[i], &status, 0) < 0 && errno == EINTR) {
        }
        ph->writers[i] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ph->failed = 1;
    }

    static long long hist[HIST_BUCKETS + 1];
    memset(hist, 0, sizeof hist);
    long long max_us = 0;
    for (int i = 0; i < opt.writers; i++) {
        struct writer_stat *ws = &shm->w[i];
        ph->ops += ws->ops;
        ph->errors += ws->errors;
        if (ws->end_ns > ph->end_ns) ph->end_ns = ws->end_ns;
        if (ws->max_us > max_us) max_us = ws->max_us;
        for (int b = 0; b <= HIST_BUCKETS; b++) hist[b] += ws->hist[b];
    }
    ph->seconds = (double)(ph->end_ns - shm->go_ns) / 1e9;
    ph->p50_ms = percentile_ms(hist, ph->ops, 0.50);
    ph->p99_ms = percentile_ms(hist, ph->ops, 0.99);
    ph->max_ms = (double)max_us / 1000.0;
    tot->ops += ph->ops;
    tot->errors += ph->errors;
    tot->seconds += ph->seconds;
    tot->failed |= ph->failed;
    if (ph->max_ms > tot->max_ms) tot->max_ms = ph->max_ms;
    for (int b = 0; b <= HIST_BUCKETS; b++) tot->hist[b] += hist[b];
    return 0;
fail:
    if (go_pipe[0] >= 0) close(go_pipe[0]);
    if (go_pipe[1] >= 0) close(go_pipe[1]);
    kill_all(ph);
    while (waitpid(-1, NULL, 0) > 0) {
    }
    return -1;
}

static void stop_sequencer(struct phase *ph) {
    if (ph->sequencer <= 0) return;
    __atomic_store_n(&shm->stop_sequencer, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 200; i++) { /* a round is short; 10 s is plenty */
        if (waitpid(ph->sequencer, NULL, WNOHANG) == ph->sequencer) {
            ph->sequencer = 0;
            return;
        }
        sleep_ms(50);
    }
    kill(ph->sequencer, SIGKILL);
    waitpid(ph->sequencer, NULL, 0);
    ph->sequencer = 0;
}

static long long count_pending(db_t *db, long long tenant) {
    db_res_t *res;
    if (db_query(db, "SELECT COUNT(*) FROM chain_pending WHERE tenant_id = ?", DB_ARGS(DBI(tenant)), &res))
        return -1;
    long long n = db_res_next(res) ? db_res_int(res, 0) : -1;
    db_res_free(res);
    return n;
}

static int load_sample_body(db_t *db, long long tenant, double *avg_len) {
    db_res_t *res;
    if (db_query(db,
                 "SELECT body, (SELECT AVG(LENGTH(body)) FROM evidence_events WHERE tenant_id = ?) "
                 "FROM evidence_events WHERE tenant_id = ? ORDER BY id LIMIT 1",
                 DB_ARGS(DBI(tenant), DBI(tenant)), &res))
        return -1;
    int rc = -1;
    if (db_res_next(res)) {
        plain_body_len = db_res_len(res, 0);
        plain_body = malloc(plain_body_len + 1);
        if (plain_body) {
            memcpy(plain_body, db_res_str(res, 0), plain_body_len + 1);
            *avg_len = strtod(db_res_str(res, 1), NULL);
            rc = 0;
        }
    }
    db_res_free(res);
    return rc;
}

static void print_phase(const char *label, const char *what, const struct phase *ph) {
    printf("%-14s %-7s %9lld in %6.2f s = %9.1f /s   latency p50 %.2f ms, p99 %.2f ms, max %.1f ms; errors %lld\n",
           label, what, ph->ops, ph->seconds, ph->seconds > 0 ? (double)ph->ops / ph->seconds : 0.0, ph->p50_ms,
           ph->p99_ms, ph->max_ms, ph->errors);
}

static void print_total(const char *label, const char *what, const struct total *t) {
    struct phase ph = {.ops = t->ops, .errors = t->errors, .seconds = t->seconds, .max_ms = t->max_ms};
    ph.p50_ms = percentile_ms(t->hist, t->ops, 0.50);
    ph.p99_ms = percentile_ms(t->hist, t->ops, 0.99);
    print_phase(label, what, &ph);
}

/* After a chain phase of MODE: waits until the sequencers linked everything,
 * stops ours, verifies the mode's chain, which must hold exactly the
 * APPENDED_TOTAL events of all its phases so far. Returns 0 when all was
 * linked and verified. */
static int settle_chain(db_t *db, int mode, struct phase *ph, long long appended_total, double *lag_out,
                        long long *backlog_out) {
    long long tenant = tenant_id[mode];
    long long backlog = count_pending(db, tenant), left = backlog;
    long long linked_ns = mono_ns(), give_up = ph->end_ns + (long long)opt.lag_timeout_s * 1000000000LL;
    while (left != 0 && linked_ns < give_up) {
        sleep_ms(2);
        left = count_pending(db, tenant);
        linked_ns = mono_ns();
    }
    stop_sequencer(ph);
    double lag_s = (double)(linked_ns - ph->end_ns) / 1e9;
    long long by_bench = shm->seq_linked;
    if (left == 0)
        printf("%14s link    backlog at end of writes %lld events; all linked %.3f s after the last commit\n", "",
               backlog, lag_s);
    else
        printf("%14s link    NOT all linked %d s after the last commit (%lld of %lld still pending)\n", "",
               opt.lag_timeout_s, left, backlog);
    printf("%14s         linked by the bench sequencer %lld, by another sequencer (the stack's job worker) "
           "%lld; sequencer errors %lld\n", "",
           by_bench, ph->ops - by_bench > 0 ? ph->ops - by_bench : 0, shm->seq_errors);

    evidence_verify_result_t v;
    int vrc = evidence_verify(db, tenant, cfg.evidence_max_link_delay_ms, &v);
    int verified = vrc == 0 && v.ok && v.events == appended_total && v.pending == 0;
    if (vrc != 0)
        printf("%14s verify  ERROR (evidence_verify returned %d)\n", "", vrc);
    else
        printf("%14s verify  %s: %lld events linked (appended %lld), %lld pending, head seq %lld, "
               "%lld checkpoints%s%s\n", "",
               verified ? "ok" : "FAILED", v.events, appended_total, v.pending, v.head_seq, v.checkpoints,
               v.ok ? "" : "; ", v.ok ? "" : v.message);
    fflush(stdout);
    *lag_out = left == 0 ? lag_s : -1.0;
    *backlog_out = backlog;
    return left == 0 && verified ? 0 : -1;
}

static double per_s(const struct total *t) { return t->seconds > 0 ? (double)t->ops / t->seconds : 0; }

int main(int argc, char **argv) {
    char err[512], label[32];
    static struct total tot[K_COUNT];
    struct phase ph;
    db_t *db = NULL;
    double lag_max[2] = {0, 0}, avg_len = 0;
    long long backlog_max[2] = {0, 0};
    int rc = 1, bad[2] = {0, 0};

    if (parse_options(argc, argv) != 0) return 2;
    if (config_load(opt.config, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "evidence_bench: %s\n", err);
        return 1;
    }
    log_set_proc("evidence_bench");
    log_set_level(LOG_WARN);
    shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED) {
        fprintf(stderr, "evidence_bench: mmap: %s\n", strerror(errno));
        return 1;
    }

    if (connect_app(&db) || create_tenant(db, K_AUTO) || create_tenant(db, K_TX)) goto out;
    db_close(db); /* children open their own connections */
    db = NULL;
    printf("evidence_bench: %d writers, %d s per phase, %d round(s)%s; sequencer batch %d, idle %d ms\n",
           opt.writers, opt.seconds, opt.rounds, opt.rounds > 1 ? " (phase order rotated each round)" : "",
           opt.batch, opt.seq_idle_ms);
    printf("  autocommit   evidence_append alone: one INSERT, atomic on its own (trigger queues it), as the app\n"
           "               writes an evidence-only event; tenant %s (id %lld)\n",
           tenant_ref[K_AUTO], tenant_id[K_AUTO]);
    printf("  transaction  db_begin; evidence_append; db_commit; tenant %s (id %lld)\n", tenant_ref[K_TX],
           tenant_id[K_TX]);
    printf("  plain        one autocommit INSERT into %s (the reference)\n\n", opt.plain_table);
    fflush(stdout);

    for (int r = 0; r < opt.rounds; r++) {
        for (int step = 0; step < K_COUNT; step++) {
            int kind = (r + step) % K_COUNT;
            if (opt.rounds > 1)
                snprintf(label, sizeof label, "r%d %s", r + 1, kind_name[kind]);
            else
                snprintf(label, sizeof label, "%s", kind_name[kind]);
            if (kind == K_PLAIN && !plain_body) { /* cannot happen: a chain phase runs first in round 1 */
                fprintf(stderr, "evidence_bench: no event body to copy\n");
                goto out;
            }
            if (run_phase(kind, &ph, &tot[kind]) != 0) goto out;
            print_phase(label, kind == K_PLAIN ? "inserts" : "appends", &ph);
            fflush(stdout);
            if (kind == K_PLAIN) continue;

            if (connect_app(&db)) {
                stop_sequencer(&ph);
                goto out;
            }
            double lag;
            long long backlog;
            if (settle_chain(db, kind, &ph, tot[kind].ops, &lag, &backlog) != 0) bad[kind] = 1;
            if (lag < 0)
                lag_max[kind] = -1.0; /* not all linked in time: stays reported */
            else if (lag_max[kind] >= 0 && lag > lag_max[kind])
                lag_max[kind] = lag;
            if (backlog > backlog_max[kind]) backlog_max[kind] = backlog;
            if (!plain_body) {
                /* the plain phase copies a body of this first chain phase */
                if (load_sample_body(db, tenant_id[kind], &avg_len) != 0) {
                    fprintf(stderr, "evidence_bench: no event body to copy\n");
                    goto out;
                }
                /* fail fast, with the reason, if the plain table is unusable */
                if (one_plain(db) != 0) {
                    fprintf(stderr, "evidence_bench: cannot INSERT into %s as %s: %s\n", opt.plain_table,
                            cfg.db_user, db_error(db));
                    goto out;
                }
            }
            db_close(db);
            db = NULL;
        }
    }
    printf("%14s         plain rows into %s, body %zu bytes (chain events average %.0f)\n", "", opt.plain_table,
           plain_body_len, avg_len);
    if (opt.rounds > 1) {
        printf("\ntotals over %d rounds:\n", opt.rounds);
        print_total(kind_name[K_AUTO], "appends", &tot[K_AUTO]);
        print_total(kind_name[K_TX], "appends", &tot[K_TX]);
        print_total(kind_name[K_PLAIN], "inserts", &tot[K_PLAIN]);
    }

    double a = per_s(&tot[K_AUTO]), x = per_s(&tot[K_TX]), p = per_s(&tot[K_PLAIN]);
    double ratio = p > 0 ? a / p : 0, ratio_tx = p > 0 ? x / p : 0;
    const char *verify = bad[K_AUTO] || bad[K_TX] ? "FAILED" : "ok";
    printf("\nratio  autocommit appends/plain %.2f; transaction appends/plain %.2f (transaction/autocommit %.2f)\n",
           ratio, ratio_tx, a > 0 ? x / a : 0);
    printf("link   lag%s: autocommit %.3f s, transaction %.3f s; verify: autocommit %s, transaction %s\n",
           opt.rounds > 1 ? " max" : "", lag_max[K_AUTO], lag_max[K_TX], bad[K_AUTO] ? "FAILED" : "ok",
           bad[K_TX] ? "FAILED" : "ok");
    printf("note   In the application an append normally rides inside the transaction of the change it records\n"
           "       (db_begin; the change; evidence_append; db_commit), so START TRANSACTION and COMMIT are that\n"
           "       change's own cost, paid whether or not it writes evidence. The transaction mode is that whole\n"
           "       loop for a change that writes nothing else; the key ratio uses the autocommit mode, the\n"
           "       append's own cost (and how the app writes an evidence-only event).\n");
    printf("KEY    autocommit appends/plain %.2f (goal >= %.2f): %s; link lag %s%.3f s; verify %s\n", ratio,
           RATIO_GOAL, ratio >= RATIO_GOAL ? "PASS" : "MISS", opt.rounds > 1 ? "max " : "",
           lag_max[K_AUTO] < 0 || lag_max[K_TX] < 0 ? -1.0
                                                    : (lag_max[K_AUTO] > lag_max[K_TX] ? lag_max[K_AUTO] : lag_max[K_TX]),
           verify);
    printf("RESULT appends_per_s=%.1f appends_tx_per_s=%.1f plain_per_s=%.1f ratio=%.3f ratio_tx=%.3f "
           "link_lag_s=%.3f link_lag_tx_s=%.3f backlog=%lld backlog_tx=%lld verify=%s append_p99_ms=%.2f "
           "append_tx_p99_ms=%.2f plain_p99_ms=%.2f writers=%d seconds=%d rounds=%d\n",
           a, x, p, ratio, ratio_tx, lag_max[K_AUTO], lag_max[K_TX], backlog_max[K_AUTO], backlog_max[K_TX],
           bad[K_AUTO] || bad[K_TX] ? "failed" : "ok", percentile_ms(tot[K_AUTO].hist, tot[K_AUTO].ops, 0.99),
           percentile_ms(tot[K_TX].hist, tot[K_TX].ops, 0.99), percentile_ms(tot[K_PLAIN].hist, tot[K_PLAIN].ops, 0.99),
           opt.writers, opt.seconds, opt.rounds);
    rc = (!bad[K_AUTO] && !bad[K_TX] && !tot[K_AUTO].failed && !tot[K_TX].failed && !tot[K_PLAIN].failed) ? 0 : 1;
out:
    if (db) db_close(db);
    free(plain_body);
    return rc;
}
