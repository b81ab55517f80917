/*
 * fcgi_min.c — a minimal prefork FastCGI responder, the reference point the
 * Report Center's endpoints are measured against (see bench/README.md). It is
 * not part of the application and shares no code with it.
 *
 *   fcgi_min --socket PATH --workers N
 *            [--db-socket S --db-user U [--db-password-file F] --db-name D --select]
 *
 * The master opens the unix socket, gives it mode 0660 (an nginx whose workers
 * run as the same user or group may connect), forks N workers and supervises
 * them: a worker that dies is replaced; SIGTERM or SIGINT stop the workers and
 * remove the socket. Each worker runs an FCGX_Accept_r loop, one request at a
 * time, and answers 200 "ok\n" as text/plain without reading the request.
 *
 * With --select each request first runs one primary-key SELECT on
 * bench_kv(id INT PRIMARY KEY, v VARCHAR(64)) through a statement the worker
 * prepared once on its own connection: the cost of one indexed read. Before
 * forking, the master creates database D and bench_kv if missing and fills
 * the table with BENCH_ROWS rows. Without --db-password-file the connection
 * uses unix-socket authentication (the OS user's name as U).
 */
#include <errno.h>
#include <fcgiapp.h>
#include <getopt.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_ROWS 10000
#define MAX_WORKERS 512
#define BACKLOG 1024

struct options {
    const char *socket_path;
    int workers;
    const char *db_socket;
    const char *db_user;
    const char *db_password_file;
    const char *db_name;
    int select;
};

/* Per-worker database state: one connection, one prepared statement. */
struct bench_db {
    MYSQL *conn;
    MYSQL_STMT *stmt;
    MYSQL_BIND param;
    MYSQL_BIND result;
    int id;
    char value[65];
    unsigned long value_len;
    unsigned int rng;
};

/* Set by the signal handlers; the only state shared with them. */
static volatile sig_atomic_t stop_requested;

static void on_master_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void on_worker_signal(int sig) {
    (void)sig;
    stop_requested = 1;
    FCGX_ShutdownPending(); /* makes a blocked FCGX_Accept_r return */
}

static void usage(FILE *out) {
    fprintf(out, "usage: fcgi_min --socket PATH --workers N\n"
                 "                [--db-socket S --db-user U [--db-password-file F] --db-name D "
                 "--select]\n");
}

static int parse_options(int argc, char **argv, struct options *opt) {
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"workers", required_argument, NULL, 'w'},
        {"db-socket", required_argument, NULL, 'S'},
        {"db-user", required_argument, NULL, 'u'},
        {"db-password-file", required_argument, NULL, 'p'},
        {"db-name", required_argument, NULL, 'd'},
        {"select", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    memset(opt, 0, sizeof(*opt));
    opt->workers = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's': opt->socket_path = optarg; break;
        case 'w':
            errno = 0;
            opt->workers = (int)strtol(optarg, &end, 10);
            if (errno || *end || opt->workers < 1 || opt->workers > MAX_WORKERS) {
                fprintf(stderr, "fcgi_min: --workers must be 1..%d\n", MAX_WORKERS);
                return -1;
            }
            break;
        case 'S': opt->db_socket = optarg; break;
        case 'u': opt->db_user = optarg; break;
        case 'p': opt->db_password_file = optarg; break;
        case 'd': opt->db_name = optarg; break;
        case 'q': opt->select = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc || !opt->socket_path) {
        usage(stderr);
        return -1;
    }
    if (opt->select && (!opt->db_socket || !opt->db_user || !opt->db_name)) {
        fprintf(stderr, "fcgi_min: --select needs --db-socket, --db-user and --db-name\n");
        return -1;
    }
    if (opt->db_name && strspn(opt->db_name, "abcdefghijklmnopqrstuvwxyz"
                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
                            strlen(opt->db_name)) {
        fprintf(stderr, "fcgi_min: --db-name may hold only letters, digits and _\n");
        return -1;
    }
    return 0;
}

/* Reads the password file into buf, without trailing whitespace. */
static int read_password(const char *path, char *buf, size_t size) {
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        fprintf(stderr, "fcgi_min: %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

static MYSQL *db_connect(const struct options *opt) {
    char password[256] = "";
    MYSQL *conn = mysql_init(NULL);

    if (!conn)
        return NULL;
    if (opt->db_password_file && read_password(opt->db_password_file, password,
                                               sizeof(password)) != 0) {
        mysql_close(conn);
        return NULL;
    }
    mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(conn, NULL, opt->db_user, opt->db_password_file ? password : NULL,
                            NULL, 0, opt->db_socket, 0)) {
        fprintf(stderr, "fcgi_min: connect: %s\n", mysql_error(conn));
        mysql_close(conn);
        return NULL;
    }
    return conn;
}

static int db_exec(MYSQL *conn, const char *sql) {
    if (mysql_query(conn, sql) != 0) {
        fprintf(stderr, "fcgi_min: %s: %s\n", sql, mysql_error(conn));
        return -1;
    }
    return 0;
}

/* Master, once: database and table exist and hold BENCH_ROWS rows. Creates
 * only what is missing, so a user with just SELECT on a filled table works. */
static int db_prepare_table(const struct options *opt) {
    char sql[256];
    MYSQL *conn = db_connect(opt);
    MYSQL_RES *res;
    MYSQL_ROW row;
    long rows = 0;
    int rc = -1;

    if (!conn)
        return -1;
    if (mysql_select_db(conn, opt->db_name) != 0) {
        snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS `%s`", opt->db_name);
        if (db_exec(conn, sql) != 0)
            goto out;
        if (mysql_select_db(conn, opt->db_name) != 0) {
            fprintf(stderr, "fcgi_min: use %s: %s\n", opt->db_name, mysql_error(conn));
            goto out;
        }
    }
    if (mysql_query(conn, "SELECT COUNT(*) FROM bench_kv") != 0) {
        if (mysql_errno(conn) != 1146 /* ER_NO_SUCH_TABLE */) {
            fprintf(stderr, "fcgi_min: count bench_kv: %s\n", mysql_error(conn));
            goto out;
        }
        if (db_exec(conn, "CREATE TABLE bench_kv (id INT PRIMARY KEY, "
                          "v VARCHAR(64) NOT NULL) ENGINE=InnoDB") != 0)
            goto out;
    } else {
        res = mysql_store_result(conn);
        if (res && (row = mysql_fetch_row(res)) && row[0])
            rows = strtol(row[0], NULL, 10);
        mysql_free_result(res);
    }
    if (rows < BENCH_ROWS) {
        /* seq_1_to_N is MariaDB's built-in Sequence engine. */
        snprintf(sql, sizeof(sql),
                 "INSERT IGNORE INTO bench_kv (id, v) SELECT seq, CONCAT('value-', seq) "
                 "FROM seq_1_to_%d",
                 BENCH_ROWS);
        if (db_exec(conn, sql) != 0)
            goto out;
    }
    rc = 0;
out:
    mysql_close(conn);
    return rc;
}

/* Worker: own connection and prepared statement. */
static int bench_db_open(const struct options *opt, struct bench_db *db) {
    static const char sql[] = "SELECT v FROM bench_kv WHERE id = ?";

    memset(db, 0, sizeof(*db));
    db->rng = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
    if (db->rng == 0)
        db->rng = 1;
    db->conn = db_connect(opt);
    if (!db->conn)
        return -1;
    if (mysql_select_db(db->conn, opt->db_name) != 0) {
        fprintf(stderr, "fcgi_min: use %s: %s\n", opt->db_name, mysql_error(db->conn));
        return -1;
    }
    db->stmt = mysql_stmt_init(db->conn);
    if (!db->stmt || mysql_stmt_prepare(db->stmt, sql, sizeof(sql) - 1) != 0) {
        fprintf(stderr, "fcgi_min: prepare: %s\n", mysql_error(db->conn));
        return -1;
    }
    db->param.buffer_type = MYSQL_TYPE_LONG;
    db->param.buffer = &db->id;
    db->result.buffer_type = MYSQL_TYPE_STRING;
    db->result.buffer = db->value;
    db->result.buffer_length = sizeof(db->value) - 1;
    db->result.length = &db->value_len;
    if (mysql_stmt_bind_param(db->stmt, &db->param) != 0 ||
        mysql_stmt_bind_result(db->stmt, &db->result) != 0) {
        fprintf(stderr, "fcgi_min: bind: %s\n", mysql_stmt_error(db->stmt));
        return -1;
    }
    return 0;
}

static void bench_db_close(struct bench_db *db) {
    if (db->stmt)
        mysql_stmt_close(db->stmt);
    if (db->conn)
        mysql_close(db->conn);
    memset(db, 0, sizeof(*db));
}

/* One primary-key read of a random existing row; 0 when the row was found. */
static int bench_db_select(struct bench_db *db) {
    int rc, found = 0;

    db->rng ^= db->rng << 13; /* xorshift32 */
    db->rng ^= db->rng >> 17;
    db->rng ^= db->rng << 5;
    db->id = (int)(db->rng % BENCH_ROWS) + 1;
    if (mysql_stmt_execute(db->stmt) != 0) {
        fprintf(stderr, "fcgi_min: execute: %s\n", mysql_stmt_error(db->stmt));
        return -1;
    }
    while ((rc = mysql_stmt_fetch(db->stmt)) == 0 || rc == MYSQL_DATA_TRUNCATED)
        found = 1;
    mysql_stmt_free_result(db->stmt);
    if (rc == 1) {
        fprintf(stderr, "fcgi_min: fetch: %s\n", mysql_stmt_error(db->stmt));
        return -1;
    }
    return found ? 0 : -1;
}

/* The worker's life: accept, answer, repeat; returns its exit status. */
static int worker_run(const struct options *opt, int listen_fd) {
    struct sigaction sa;
    struct bench_db db;
    FCGX_Request req;
    int status = 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_worker_signal; /* no SA_RESTART: accept must return */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-response is not fatal */

    memset(&db, 0, sizeof(db));
    if (opt->select && bench_db_open(opt, &db) != 0) {
        bench_db_close(&db);
        return 1;
    }
    if (FCGX_InitRequest(&req, listen_fd, 0) != 0)
        return 1;
    while (!stop_requested && FCGX_Accept_r(&req) == 0) {
        if (opt->select && bench_db_select(&db) != 0) {
            FCGX_FPrintF(req.out, "Status: 500 Internal Server Error\r\n"
                                  "Content-Type: text/plain\r\n\r\ndb error\n");
            FCGX_Finish_r(&req);
            status = 1; /* the master starts a fresh worker */
            break;
        }
        FCGX_FPrintF(req.out, "Status: 200 OK\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 3\r\n\r\nok\n");
        FCGX_Finish_r(&req);
    }
    bench_db_close(&db);
    return status;
}

static pid_t spawn_worker(const struct options *opt, int listen_fd) {
    pid_t pid = fork();

    if (pid == 0)
        _exit(worker_run(opt, listen_fd));
    if (pid < 0)
        fprintf(stderr, "fcgi_min: fork: %s\n", strerror(errno));
    return pid;
}

/* Stops every live worker: SIGTERM, then SIGKILL after five seconds. */
static void stop_workers(pid_t *pids, int n) {
    struct timespec tick = {0, 50 * 1000 * 1000};
    int live = 0;

    for (int i = 0; i < n; i++)
        if (pids[i] > 0 && kill(pids[i], SIGTERM) == 0)
            live++;
    for (int waited = 0; live > 0; waited++) {
        for (int i = 0; i < n; i++) {
            if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == pids[i]) {
                pids[i] = 0;
                live--;
            }
        }
        if (live == 0)
            break;
        if (waited == 100)
            for (int i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
        nanosleep(&tick, NULL);
    }
}

int main(int argc, char **argv) {
    struct options opt;
    struct sigaction sa;
    struct stat st;
    pid_t pids[MAX_WORKERS];
    int listen_fd;

    if (parse_options(argc, argv, &opt) != 0)
        return 2;
    if (opt.select && db_prepare_table(&opt) != 0)
        return 1;

    if (FCGX_Init() != 0) {
        fprintf(stderr, "fcgi_min: FCGX_Init failed\n");
        return 1;
    }
    /* A socket left by an earlier run would make bind fail; never remove
     * anything that is not a socket. */
    if (lstat(opt.socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(opt.socket_path);
    listen_fd = FCGX_OpenSocket(opt.socket_path, BACKLOG);
    if (listen_fd < 0) {
        fprintf(stderr, "fcgi_min: cannot listen on %s: %s\n", opt.socket_path, strerror(errno));
        return 1;
    }
    if (chmod(opt.socket_path, 0660) != 0) {
        fprintf(stderr, "fcgi_min: chmod %s: %s\n", opt.socket_path, strerror(errno));
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_master_signal; /* no SA_RESTART: waitpid must return */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    for (int i = 0; i < opt.workers; i++)
        pids[i] = spawn_worker(&opt, listen_fd);
    fprintf(stderr, "fcgi_min: listening on %s with %d worker(s)%s\n", opt.socket_path,
            opt.workers, opt.select ? ", one SELECT per request" : "");

    while (!stop_requested) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);

        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break; /* no children left: fork keeps failing */
        }
        for (int i = 0; i < opt.workers; i++) {
            if (pids[i] != pid)
                continue;
            pids[i] = 0;
            if (!stop_requested) {
                struct timespec pause = {0, 100 * 1000 * 1000}; /* no fork storm */
                fprintf(stderr, "fcgi_min: worker %d exited (status %d), replacing it\n",
                        (int)pid, status);
                nanosleep(&pause, NULL);
                pids[i] = spawn_worker(&opt, listen_fd);
            }
        }
    }
    stop_workers(pids, opt.workers);
    close(listen_fd);
    unlink(opt.socket_path);
    return 0;
}
