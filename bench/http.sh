#!/usr/bin/env bash
# bench/http.sh — HTTP throughput and latency of the Report Center next to its
# reference points, all measured in one run on loopback (see bench/README.md).
#
# Usage: bench/http.sh
#
# Brings up (or reuses) a local stack in BENCH_STATE with scripts/up, then
# starts its own nginx on a free 127.0.0.1 port with four locations:
#   = /ref200      nginx `return 200 "ok"`             (the ceiling)
#   = /min         fcgi_min, N workers, no database     (a libfcgi responder)
#   = /min-select  fcgi_min --select, N workers         (+ one primary-key SELECT)
#   /              the app's FastCGI socket             (/healthz, the catalog API)
# where N is the app's http_workers, so both sides have the same processes.
# wrk (2 threads, 64 connections, --latency) drives each target for
# BENCH_SECONDS; the table shows req/s, p50/p99 and the ratio to nginx's own
# `return 200`, and the verdict on the key ratio
#   catalog / one-SELECT responder  >= 0.75  with catalog p99 <= 10 ms.
# Writes the section "http" of bench/results/latest.txt.
#
# Environment (besides those of bench/common.sh):
#   BENCH_SECONDS      seconds per target (default 10)
#   BENCH_WARMUP       warm-up seconds per target, not measured (default 2)
#   BENCH_CONNECTIONS  wrk connections (default 64); BENCH_THREADS (default 2)
#
# Everything this run starts (its nginx, two fcgi_min, and the stack parts it
# had to start) is stopped on exit, also on Ctrl-C.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) aispm_error "unknown argument: $1"; exit 2 ;;
esac

: "${BENCH_SECONDS:=10}"
: "${BENCH_WARMUP:=2}"
: "${BENCH_CONNECTIONS:=64}"
: "${BENCH_THREADS:=2}"
for v in BENCH_SECONDS BENCH_WARMUP BENCH_CONNECTIONS BENCH_THREADS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_fail "$v must be a whole number"
done
((BENCH_SECONDS >= 1 && BENCH_SECONDS <= 600)) || bench_fail "BENCH_SECONDS must be 1..600"

GOAL_RATIO=0.75 # catalog req/s over fcgi_min --select req/s
GOAL_P99_MS=10  # catalog p99 at BENCH_CONNECTIONS connections

bench_guard_state
bench_traps
bench_need_commands wrk curl cmake "$NGINX_BIN" "$MARIADBD_BIN" mariadb
bench_build
bench_stack_up
conf=$BENCH_STATE/aispm.conf
app_socket=$(bench_conf listen)
app_socket=${app_socket#unix:}
[[ $app_socket == /* && -S $app_socket ]] || bench_fail "the app does not listen on a unix socket ($app_socket)"
workers=$(bench_conf http_workers 4)
[[ $workers =~ ^[0-9]+$ ]] || bench_fail "unexpected http_workers '$workers'"
work=$BENCH_STATE/bench
mkdir -p "$work"

aispm_step "scratch database $BENCH_SCRATCH_DB"
bench_scratch_db
aispm_info "ok"

# --- fcgi_min, the reference responders ----------------------------------------
aispm_step "fcgi_min x2 ($workers workers each, as the app's http_workers)"
min_sock=$BENCH_STATE/run/bench-min.sock
sel_sock=$BENCH_STATE/run/bench-min-select.sock
check_socket_path "$sel_sock" || exit 1
rm -f "$min_sock" "$sel_sock"
bench_start_bg "$BENCH_STATE/logs/bench-fcgi_min.log" \
    "$BENCH_BUILD_DIR/fcgi_min" --socket "$min_sock" --workers "$workers"
min_pid=$BENCH_LAST_PID
bench_start_bg "$BENCH_STATE/logs/bench-fcgi_min-select.log" \
    "$BENCH_BUILD_DIR/fcgi_min" --socket "$sel_sock" --workers "$workers" \
    --db-socket "$BENCH_STATE/run/mysqld.sock" --db-user "$(mariadb_admin_user)" \
    --db-name "$BENCH_SCRATCH_DB" --select
sel_pid=$BENCH_LAST_PID
wait_for_socket "$min_sock" 15 "$BENCH_STATE/logs/bench-fcgi_min.log" "$min_pid" || exit 1
wait_for_socket "$sel_sock" 30 "$BENCH_STATE/logs/bench-fcgi_min-select.log" "$sel_pid" || exit 1
aispm_info "pids $min_pid (plain) and $sel_pid (--select)"

# --- our own nginx ------------------------------------------------------------------
aispm_step "bench nginx"
ndir=$BENCH_STATE/bench-nginx
nconf=$ndir/nginx.conf
port=$(free_port) || bench_fail "no free port"
for p in "$BENCH_STATE" "$app_socket"; do
    [[ $p =~ [[:space:]\;\'\"\{\}\$\\] ]] && bench_fail "path unusable in nginx configuration: $p"
done
mkdir -p "$ndir"/{client_body,fastcgi,proxy,uwsgi,scgi}_temp
cp /etc/nginx/fastcgi_params "$ndir/"
user_line="# not started by root: workers run as the invoking user anyway"
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
cat >"$nconf.new" <<EOF
# Written by bench/http.sh on every run; see bench/README.md.
$user_line
worker_processes auto;
worker_rlimit_nofile 8192;
pid $ndir/nginx.pid;
lock_file $ndir/nginx.lock;
error_log $BENCH_STATE/logs/bench-nginx-error.log warn;
events { worker_connections 4096; }
http {
    default_type application/octet-stream;
    access_log off;          # the same for every target; measures the upstreams
    keepalive_timeout 65s;
    keepalive_requests 100000;
    server_tokens off;
    client_body_temp_path $ndir/client_body_temp;
    fastcgi_temp_path     $ndir/fastcgi_temp;
    proxy_temp_path       $ndir/proxy_temp;
    uwsgi_temp_path       $ndir/uwsgi_temp;
    scgi_temp_path        $ndir/scgi_temp;
    server {
        listen 127.0.0.1:$port;
        server_name localhost;
        # As conf/nginx/aispm-site.conf.template: plain fastcgi_pass to a unix
        # socket, no fastcgi_keep_conn (a libfcgi worker serves one connection
        # at a time; kept idle connections starve new ones).
        include fastcgi_params;
        fastcgi_param HTTP_X_REQUEST_ID \$request_id;
        fastcgi_param HTTP_PROXY "";
        location = /ref200     { return 200 "ok"; }
        location = /min        { fastcgi_pass unix:$min_sock; }
        location = /min-select { fastcgi_pass unix:$sel_sock; }
        location /             { fastcgi_pass unix:$app_socket; }
    }
}
EOF
mv "$nconf.new" "$nconf"
bench_nginx_start "$nconf"
base=http://127.0.0.1:$port
aispm_info "$base/ (config: $nconf)"

# --- a read-only token of the demo tenant's admin -----------------------------------
aispm_step "bearer token (reports:read, demo tenant admin)"
token=$("$AISPM_BIN" -c "$conf" admin create-token --tenant acme --user tenant.admin@acme.example \
    --scopes reports:read --name bench-http --ttl-days 1 2>>"$BENCH_STATE/logs/bench-admin.log") ||
    bench_fail "aispm admin create-token failed (log: $BENCH_STATE/logs/bench-admin.log)"
[[ -n $token ]] || bench_fail "create-token printed no token"
auth_header="Authorization: Bearer $token"
aispm_info "created (valid one day; kept in memory only, passed to wrk on its command line)"

# --- targets -----------------------------------------------------------------------------
names=(ref200 min min_select healthz catalog)
declare -A label url hdr
label[ref200]="nginx return 200"
label[min]="fcgi_min ($workers workers)"
label[min_select]="fcgi_min + SELECT ($workers w.)"
label[healthz]="app /healthz"
label[catalog]="app GET catalog (bearer)"
url[ref200]=$base/ref200
url[min]=$base/min
url[min_select]=$base/min-select
url[healthz]=$base/healthz
url[catalog]=$base/enterprise/aispm/reports/catalog
hdr[catalog]=$auth_header

aispm_step "preflight: every target answers 200"
for n in "${names[@]}"; do
    args=(-s -o "$work/preflight-$n.body" -w '%{http_code}' --max-time 5)
    [[ -n ${hdr[$n]:-} ]] && args+=(-H "${hdr[$n]}")
    code=$(curl "${args[@]}" "${url[$n]}") || code=000
    if [[ $code != 200 ]]; then
        head -c 400 "$work/preflight-$n.body" >&2 2>/dev/null
        bench_fail "${url[$n]} answered $code"
    fi
done
grep -q '"reports"' "$work/preflight-catalog.body" || bench_fail "the catalog answer holds no reports"
aispm_info "ok"

# run_wrk NAME SECONDS OUT: one wrk run against target NAME.
run_wrk() {
    local n=$1 secs=$2 out=$3 args
    args=(-t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${secs}s" --timeout 5s --latency)
    [[ -n ${hdr[$n]:-} ]] && args+=(-H "${hdr[$n]}")
    timeout $((secs + 30)) wrk "${args[@]}" "${url[$n]}" >"$out" 2>&1
}

# parse_wrk FILE: "req_per_s p50_ms p99_ms requests bad" (bad = non-2xx/3xx
# responses plus socket errors).
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v + 0
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        $2 == "requests" && $3 == "in" { reqs = $1 }
        /Non-2xx or 3xx responses:/ { bad += $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) bad += $i + 0 }
        END { printf "%s %s %s %s %d\n", rps ? rps : 0, p50 ? p50 : 0, p99 ? p99 : 0, reqs ? reqs : 0, bad }' "$1"
}

# --- CPU accounting ------------------------------------------------------------------
# Where the CPU goes per request: ticks of our nginx, of the target's upstream
# processes and of mariadbd, read from /proc before and after each run; the
# rest of the machine's busy time ("other") is wrk plus anything else running.
clk=$(getconf CLK_TCK)
bench_nginx_pid=$(live_pid "$ndir/nginx.pid" "$nconf") || bench_fail "bench nginx is not running"
mariadbd_pid=$(live_pid "$BENCH_STATE/run/mysqld.pid" "--datadir=$BENCH_STATE/mysql") || bench_fail "MariaDB is not running"
app_pid=$(live_pid "$BENCH_STATE/run/aispm.pid" "$conf") || bench_fail "aispm is not running"
declare -A upstream=([ref200]="" [min]=$min_pid [min_select]=$sel_pid [healthz]=$app_pid [catalog]=$app_pid)

# tree_ticks PID: CPU ticks of PID (with its reaped children) and its live children.
tree_ticks() {
    local p=$1 sum c t
    [[ -n $p ]] || { echo 0; return; }
    sum=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || sum=0
    for c in $(ps -o pid= --ppid "$p"); do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$c/stat" 2>/dev/null) || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "${sum:-0}"
}
# machine_busy: busy ticks of all CPUs together.
machine_busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# cpu_snapshot NAME: "nginx upstream mariadb busy"
cpu_snapshot() {
    echo "$(tree_ticks "$bench_nginx_pid") $(tree_ticks "${upstream[$1]}") $(tree_ticks "$mariadbd_pid") $(machine_busy)"
}
# us_per_req TICKS REQUESTS
us_per_req() { awk -v t="$1" -v n="$2" -v hz="$clk" 'BEGIN { printf "%.0f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }

declare -A rps p50 p99 reqs bad cpu_ngx cpu_up cpu_db cpu_other
aispm_step "wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS, ${BENCH_SECONDS}s per target (+${BENCH_WARMUP}s warm-up)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for n in "${names[@]}"; do
    if ((BENCH_WARMUP > 0)); then
        run_wrk "$n" "$BENCH_WARMUP" "$work/wrk-$n.warmup.txt" || bench_fail "wrk warm-up failed for ${url[$n]}"
    fi
    read -r n0 u0 d0 b0 < <(cpu_snapshot "$n")
    run_wrk "$n" "$BENCH_SECONDS" "$work/wrk-$n.txt" || {
        cat "$work/wrk-$n.txt" >&2
        bench_fail "wrk failed for ${url[$n]}"
    }
    read -r n1 u1 d1 b1 < <(cpu_snapshot "$n")
    read -r "rps[$n]" "p50[$n]" "p99[$n]" "reqs[$n]" "bad[$n]" < <(parse_wrk "$work/wrk-$n.txt")
    cpu_ngx[$n]=$(us_per_req $((n1 - n0)) "${reqs[$n]}")
    cpu_up[$n]=$(us_per_req $((u1 - u0)) "${reqs[$n]}")
    cpu_db[$n]=$(us_per_req $((d1 - d0)) "${reqs[$n]}")
    cpu_other[$n]=$(us_per_req $(((b1 - b0) - (n1 - n0) - (u1 - u0) - (d1 - d0))) "${reqs[$n]}")
    aispm_info "$(printf '%-30s %10.1f req/s  p99 %7.2f ms' "${label[$n]}" "${rps[$n]}" "${p99[$n]}")"
done

# --- memory --------------------------------------------------------------------------------
# vm_rss_kb PID: resident set size in kB.
vm_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# listening_inode SOCKET_PATH: the inode of the unix socket listening there.
listening_inode() { awk -v p="$1" '$NF == p && $6 == "01" { print $7; exit }' /proc/net/unix; }

# children_holding PARENT INODE: children of PARENT that hold socket INODE
# (the app's HTTP workers hold the listener; its job workers close it).
children_holding() {
    local parent=$1 inode=$2 c fd
    for c in $(ps -o pid= --ppid "$parent"); do
        for fd in "/proc/$c/fd/"*; do
            if [[ $(readlink "$fd" 2>/dev/null) == "socket:[$inode]" ]]; then
                printf '%s\n' "$c"
                break
            fi
        done
    done
    return 0
}

pid_running "$app_pid" || bench_fail "aispm is no longer running"
inode=$(listening_inode "$app_socket")
mapfile -t app_workers < <(children_holding "$app_pid" "${inode:-none}")
mapfile -t min_workers < <(ps -o pid= --ppid "$min_pid" | tr -d ' ')
rss_line() { # rss_line NAME PID...: "NAME: pid P VmRSS X kB (all N: min..max kB)"
    local name=$1 first=$2 lo="" hi="" r p
    shift
    for p in "$@"; do
        r=$(vm_rss_kb "$p") || continue
        [[ -n $r ]] || continue
        [[ -z $lo || $r -lt $lo ]] && lo=$r
        [[ -z $hi || $r -gt $hi ]] && hi=$r
    done
    printf '%s: pid %s VmRSS %s kB (all %d: %s..%s kB)\n' "$name" "$first" "$(vm_rss_kb "$first")" "$#" "$lo" "$hi"
}

# The app's job worker looks for chain heads every second (checkpoints). Before
# 5caecb1 that query read every link of every tenant, so a database filled by
# earlier evidence benchmarks cost MariaDB CPU here too; the count says how
# full it is when measuring such a commit.
evidence_links=$(mariadb_client "$BENCH_STATE" -N -e "SELECT COUNT(*) FROM \`$(bench_conf db_name aispm)\`.evidence_links" 2>/dev/null) ||
    evidence_links="?"

# --- report --------------------------------------------------------------------------------
results=$work/http-results.txt
ok=1
for n in "${names[@]}"; do ((bad[$n] == 0)) || ok=0; done
# div A B: A / B with three decimals (0 when B is 0).
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
ratio=$(div "${rps[catalog]}" "${rps[min_select]}")
verdict=$(awk -v r="$ratio" -v g="$GOAL_RATIO" -v p="${p99[catalog]}" -v gp="$GOAL_P99_MS" -v ok="$ok" '
    BEGIN { print (!ok ? "INVALID (errors during the run)" : (r >= g && p <= gp) ? "PASS" : "MISS") }')
{
    printf '=== http  (bench/http.sh, %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_machine "$load_before"
    printf 'wrk -t%s -c%s -d%ss --latency (+%ss warm-up) through one nginx (access_log off) on 127.0.0.1\n' \
        "$BENCH_THREADS" "$BENCH_CONNECTIONS" "$BENCH_SECONDS" "$BENCH_WARMUP"
    printf 'workers: app http_workers=%s (job_workers=%s), fcgi_min --workers %s; nginx worker_processes auto (%s)\n' \
        "$workers" "$(bench_conf job_workers 1)" "$workers" "$(nproc)"
    printf 'evidence links in the stack database: %s\n' "$evidence_links"
    printf '\n%-30s %10s %7s %7s %9s %6s | %-26s\n' target req/s "p50 ms" "p99 ms" "vs ret200" errors \
        "CPU us/request: nginx upstream mariadb other"
    for n in "${names[@]}"; do
        printf '%-30s %10.1f %7.2f %7.2f %9.3f %6s | %21s %8s %7s %5s\n' "${label[$n]}" "${rps[$n]}" "${p50[$n]}" \
            "${p99[$n]}" "$(div "${rps[$n]}" "${rps[ref200]}")" "${bad[$n]}" \
            "${cpu_ngx[$n]}" "${cpu_up[$n]}" "${cpu_db[$n]}" "${cpu_other[$n]}"
    done
    printf '\nother ratios: fcgi_min+SELECT / fcgi_min %s; app /healthz / fcgi_min %s; catalog / app /healthz %s\n' \
        "$(div "${rps[min_select]}" "${rps[min]}")" \
        "$(div "${rps[healthz]}" "${rps[min]}")" \
        "$(div "${rps[catalog]}" "${rps[healthz]}")"
    printf 'KEY    catalog / one-SELECT responder = %s (goal >= %s), catalog p99 %.2f ms (goal <= %s ms): %s\n' \
        "$ratio" "$GOAL_RATIO" "${p99[catalog]}" "$GOAL_P99_MS" "$verdict"
    if ((${#app_workers[@]})); then
        rss_line "RSS    app HTTP worker after the run" "${app_workers[@]}"
    else
        printf 'RSS    app HTTP worker: not found (listener inode %s)\n' "${inode:-?}"
    fi
    ((${#min_workers[@]})) && rss_line "       fcgi_min worker (reference)" "${min_workers[@]}"
    printf 'raw wrk output: %s/wrk-*.txt\n\n' "$work"
} >"$results"
printf '\n'
cat "$results"
bench_write_results http "$results"
