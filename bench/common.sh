# shellcheck shell=bash
# bench/common.sh — shared part of bench/http.sh and bench/evidence.sh. Sourced,
# never executed. Builds the binaries, brings up (or reuses) a local stack with
# scripts/up in a state directory of its own, creates the scratch database the
# reference programs use, and on exit stops exactly what this run started.
#
# Environment (all optional):
#   BENCH_STATE        state directory of the stack (default /tmp/aispm-bench)
#   BENCH_BUILD_DIR    CMake build directory (default build/ in the repository)
#   BENCH_SKIP_BUILD=1 use the binaries as they are
#   BENCH_SKIP_PACKAGES=1  do not check/install wrk
#   BENCH_RESULTS      results file (default bench/results/latest.txt)
#
# Results are appended section by section to a scratch file and moved into
# BENCH_RESULTS at the end, so a run that fails half-way never leaves a file
# that looks complete. Each script replaces only its own section of the file.

# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BENCH_DIR=$AISPM_REPO/bench
: "${BENCH_STATE:=/tmp/aispm-bench}"
: "${BENCH_BUILD_DIR:=$AISPM_REPO/build}"
: "${BENCH_RESULTS:=$BENCH_DIR/results/latest.txt}"
export AISPM_BIN=$BENCH_BUILD_DIR/aispm # scripts/up --skip-build runs this binary
BENCH_SCRATCH_DB=aispm_bench            # fcgi_min's bench_kv and evidence_bench's bench_plain

# What this run started, stopped again by bench_cleanup (in reverse order).
_bench_pids=()       # our own processes (fcgi_min masters)
_bench_nginx_conf="" # our own nginx, found again through its pid file
_bench_stack_started=() # parts of the stack scripts/up started for us: mariadb app nginx

bench_fail() {
    aispm_error "$*"
    exit 1
}

# bench_guard_state: never touch somebody else's stack by accident.
bench_guard_state() {
    mkdir -p "$BENCH_STATE"
    BENCH_STATE=$(cd "$BENCH_STATE" && pwd -P)
    case $BENCH_STATE in
    /tmp/aispm-dev | /tmp/aispm-dev/*) bench_fail "BENCH_STATE=$BENCH_STATE belongs to the development stack; pick another" ;;
    esac
    mkdir -p "$BENCH_STATE/logs" "$BENCH_STATE/run" "$BENCH_STATE/bench"
}

# bench_need_commands CMD...: the tools a benchmark drives; wrk is installed
# from Debian if missing (unless BENCH_SKIP_PACKAGES=1).
bench_need_commands() {
    local cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null && continue
        if [[ $cmd == wrk && ${BENCH_SKIP_PACKAGES:-0} != 1 ]]; then
            aispm_info "installing the Debian package wrk"
            # shellcheck disable=SC2034 # ensure_packages reads this list
            local AISPM_PACKAGES=(wrk)
            ensure_packages || bench_fail "could not install wrk"
            continue
        fi
        bench_fail "$cmd is not installed"
    done
}

bench_build() {
    aispm_step "build ($BENCH_BUILD_DIR)"
    if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
        aispm_info "skipped"
    else
        local log=$BENCH_STATE/logs/bench-build.log
        if [[ ! -f $BENCH_BUILD_DIR/CMakeCache.txt ]]; then
            run_logged "$log" cmake -S "$AISPM_REPO" -B "$BENCH_BUILD_DIR" || bench_fail "cmake configure failed"
        fi
        run_logged "$log" cmake --build "$BENCH_BUILD_DIR" -j "$(nproc)" --target aispm fcgi_min evidence_bench ||
            bench_fail "build failed"
        aispm_info "aispm, fcgi_min and evidence_bench up to date"
    fi
    local bin
    for bin in aispm fcgi_min evidence_bench; do
        [[ -x $BENCH_BUILD_DIR/$bin ]] || bench_fail "no executable $BENCH_BUILD_DIR/$bin"
    done
}

# bench_stack_up: reuse the stack in BENCH_STATE if its MariaDB and aispm run;
# otherwise start what is missing with scripts/up (on a free port) and note
# which parts we started, so that bench_cleanup stops only those.
bench_stack_up() {
    local conf=$BENCH_STATE/aispm.conf db=0 app=0 web=0 pid
    aispm_step "stack ($BENCH_STATE)"
    live_pid "$BENCH_STATE/run/mysqld.pid" "--datadir=$BENCH_STATE/mysql" >/dev/null && db=1
    live_pid "$BENCH_STATE/run/aispm.pid" "$conf" >/dev/null && app=1
    live_pid "$BENCH_STATE/nginx/nginx.pid" "$BENCH_STATE/nginx/nginx.conf" >/dev/null && web=1
    if ((db && app)) && [[ -s $conf ]]; then
        pid=$(live_pid "$BENCH_STATE/run/aispm.pid" "$conf")
        aispm_info "reusing the running stack (aispm pid $pid); it is left running afterwards"
        if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == *" (deleted)" ]]; then
            aispm_warn "aispm (pid $pid) runs a binary that has since been rebuilt; restart it to measure the new one"
        fi
        return 0
    fi
    local port log=$BENCH_STATE/logs/bench-up.log
    port=$(free_port) || bench_fail "no free port"
    ((db)) || _bench_stack_started+=(mariadb)
    ((app)) || _bench_stack_started+=(app)
    ((web)) || _bench_stack_started+=(nginx)
    aispm_info "scripts/up --port $port --state $BENCH_STATE --skip-packages --skip-build (log: $log)"
    run_logged "$log" "$AISPM_REPO/scripts/up" --port "$port" --state "$BENCH_STATE" --skip-packages --skip-build ||
        bench_fail "scripts/up failed"
    [[ -s $conf ]] || bench_fail "scripts/up wrote no $conf"
    aispm_info "stack up; it is stopped again at the end (started here: ${_bench_stack_started[*]})"
}

# bench_conf KEY [DEFAULT]: a value of the stack's aispm.conf.
bench_conf() {
    local v
    v=$(awk -v k="$1" '
        /^[ \t]*#/ { next }
        { line = $0; sub(/^[ \t]*/, "", line) }
        index(line, k) == 1 { rest = substr(line, length(k) + 1); if (rest ~ /^[ \t]*=/) { sub(/^[ \t]*=[ \t]*/, "", rest); sub(/[ \t]+$/, "", rest); val = rest } }
        END { print val }' "$BENCH_STATE/aispm.conf")
    printf '%s\n' "${v:-${2:-}}"
}

# bench_scratch_db: the database the reference programs use, kept apart from
# the app's schema (`aispm admin migrate` grants the app user every table of
# its own database and revokes everything else, so nothing here leaks into
# the app). bench_plain is emptied on every run.
bench_scratch_db() {
    local app_user
    app_user=$(bench_conf db_user aispm_app)
    [[ $app_user =~ ^[a-z0-9_]+$ ]] || bench_fail "unexpected db_user '$app_user'"
    mariadb_client "$BENCH_STATE" -e "
        CREATE DATABASE IF NOT EXISTS \`$BENCH_SCRATCH_DB\` CHARACTER SET utf8mb4;
        CREATE TABLE IF NOT EXISTS \`$BENCH_SCRATCH_DB\`.bench_plain (
          id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
          tenant_id BIGINT UNSIGNED NOT NULL,
          body MEDIUMTEXT NOT NULL,
          KEY (tenant_id, id)
        ) ENGINE=InnoDB;
        TRUNCATE TABLE \`$BENCH_SCRATCH_DB\`.bench_plain;
        GRANT INSERT ON \`$BENCH_SCRATCH_DB\`.bench_plain TO '$app_user'@'localhost';
        GRANT INSERT ON \`$BENCH_SCRATCH_DB\`.bench_plain TO '$app_user'@'127.0.0.1';" ||
        bench_fail "cannot prepare the scratch database $BENCH_SCRATCH_DB"
}

# bench_start_bg LOG CMD...: start a process of ours in the background and
# remember it for bench_cleanup. Sets BENCH_LAST_PID.
bench_start_bg() {
    local log=$1
    shift
    "$@" </dev/null >>"$log" 2>&1 &
    BENCH_LAST_PID=$!
    _bench_pids+=("$BENCH_LAST_PID")
}

# bench_nginx_start CONF: start our own nginx (it daemonizes and writes the
# pid file named in CONF's directory as nginx.pid).
bench_nginx_start() {
    local conf=$1 dir out
    dir=$(dirname "$conf")
    if ! out=$("$NGINX_BIN" -q -t -p "$dir/" -c "$conf" 2>&1); then
        printf '%s\n' "$out" >&2
        bench_fail "nginx configuration test failed: $conf"
    fi
    _bench_nginx_conf=$conf
    out=$("$NGINX_BIN" -p "$dir/" -c "$conf" 2>&1 </dev/null) || bench_fail "nginx failed to start: $out"
    live_pid "$dir/nginx.pid" "$conf" >/dev/null || bench_fail "nginx did not stay up"
}

bench_cleanup() {
    local rc=$? pid i
    trap - EXIT INT TERM
    set +e
    if [[ -n $_bench_nginx_conf ]]; then
        pid=$(live_pid "$(dirname "$_bench_nginx_conf")/nginx.pid" "$_bench_nginx_conf") &&
            stop_pid "bench nginx" "$pid" 15 QUIT
    fi
    for pid in "${_bench_pids[@]}"; do
        pid_running "$pid" && stop_pid "bench process" "$pid" 15 TERM
        wait "$pid" 2>/dev/null
    done
    for ((i = ${#_bench_stack_started[@]} - 1; i >= 0; i--)); do
        case ${_bench_stack_started[i]} in
        nginx) nginx_stop "$BENCH_STATE" >/dev/null ;;
        app) app_stop "$BENCH_STATE" >/dev/null ;;
        mariadb) mariadb_stop "$BENCH_STATE" >/dev/null ;;
        esac
    done
    ((${#_bench_stack_started[@]})) && aispm_info "stopped what this run started: ${_bench_stack_started[*]}"
    exit "$rc"
}

# bench_on_signal: a signal ends the run (through the EXIT trap's cleanup).
bench_on_signal() { exit 130; }

bench_traps() {
    trap bench_cleanup EXIT
    trap bench_on_signal INT TERM
}

# bench_machine [LOAD]: one line about where the numbers come from; LOAD is
# the load average noted before the measurements (default: now).
bench_machine() {
    printf 'host %s: %s cores (%s), %s; load average before the run: %s\n' \
        "$(hostname)" "$(nproc)" "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
        "$(awk -F= '$1 == "PRETTY_NAME" { gsub(/"/, "", $2); print $2 }' /etc/os-release)" "${1:-$(cut -d' ' -f1-3 /proc/loadavg)}"
}

# bench_write_results SECTION FILE: replace SECTION (between its
# "=== SECTION" header and the next "=== " header) in BENCH_RESULTS with FILE.
bench_write_results() {
    local section=$1 body=$2 out=$BENCH_RESULTS
    mkdir -p "$(dirname "$out")"
    {
        if [[ -s $out ]]; then
            awk -v s="=== $section" '
                /^=== / { skip = (index($0, s) == 1) }
                !skip { print }' "$out"
        else
            printf '# AISPM Report Center benchmark results (bench/README.md explains them).\n'
            printf '# Each run of bench/http.sh or bench/evidence.sh replaces its own section.\n\n'
        fi
        cat "$body"
    } >"$out.new" && mv "$out.new" "$out"
    aispm_info "results written to ${out#"$AISPM_REPO"/}"
}
