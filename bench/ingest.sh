#!/usr/bin/env bash
# bench/ingest.sh — live ingestion batch throughput through nginx against plain
# single-row INSERTs into the same MariaDB (see bench/README.md).
#
# Usage: bench/ingest.sh
#
# Builds, brings up (or reuses) a local stack in BENCH_STATE with scripts/up,
# creates an `ingest` token for the demo tenant's admin, reads the tenant ref
# from GET /enterprise/aispm/me, then in one run:
#   batch  K clients (bench/ingest_load.py, one keep-alive connection each)
#          POST /enterprise/aispm/events/batch through the stack's nginx with
#          B unique envelopes (shaped like the public contract example) for
#          BENCH_SECONDS; every answer must be 200 with accepted == B;
#   plain  K `mariadb` clients (one connection each) send one autocommit
#          INSERT of one envelope's bytes into aispm_bench.bench_plain after
#          another for BENCH_SECONDS; rows counted afterwards.
# Key: events/s over inserts/s >= 0.5. Writes the section "ingest" of
# bench/results/latest.txt.
#
# Environment (besides those of bench/common.sh):
#   BENCH_SECONDS   seconds per phase (default 10)
#   BENCH_CLIENTS   concurrent clients K in both phases (default 4)
#   BENCH_BATCH     envelopes per batch B (default 100; the app takes 1..500)
#
# Each run leaves its events (unique ids "evt_bench_<run>_*") and batch
# evidence in the demo tenant of the stack's database.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) aispm_error "unknown argument: $1"; exit 2 ;;
esac

: "${BENCH_SECONDS:=10}"
: "${BENCH_CLIENTS:=4}"
: "${BENCH_BATCH:=100}"
for v in BENCH_SECONDS BENCH_CLIENTS BENCH_BATCH; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_fail "$v must be a whole number"
done
((BENCH_SECONDS >= 1 && BENCH_SECONDS <= 600)) || bench_fail "BENCH_SECONDS must be 1..600"
((BENCH_CLIENTS >= 1 && BENCH_CLIENTS <= 64)) || bench_fail "BENCH_CLIENTS must be 1..64"
((BENCH_BATCH >= 1 && BENCH_BATCH <= 500)) || bench_fail "BENCH_BATCH must be 1..500"

GOAL_RATIO=0.5 # accepted events/s over plain INSERTs/s
PY=/usr/bin/python3
LOAD=$BENCH_DIR/ingest_load.py
EXAMPLE=${BENCH_INGEST_EXAMPLE:-/work/shared/contracts/cavra/examples/enterprise-live-ingestion-envelope-public-contract.example.json}

bench_guard_state
bench_traps
bench_need_commands curl cmake timeout yes "$PY" "$NGINX_BIN" "$MARIADBD_BIN" mariadb
[[ -r $EXAMPLE ]] || bench_fail "no envelope example at $EXAMPLE (set BENCH_INGEST_EXAMPLE)"
bench_build
bench_stack_up
conf=$BENCH_STATE/aispm.conf
work=$BENCH_STATE/bench
mkdir -p "$work"

# The stack's own nginx (the batch route has no rate limit there).
live_pid "$BENCH_STATE/nginx/nginx.pid" "$BENCH_STATE/nginx/nginx.conf" >/dev/null ||
    bench_fail "the stack's nginx is not running in $BENCH_STATE (run scripts/up --state $BENCH_STATE)"
port=$(awk '$1 == "listen" { sub(/;$/, "", $2); n = split($2, a, ":"); print a[n]; exit }' "$BENCH_STATE/nginx/aispm-site.conf")
[[ $port =~ ^[0-9]+$ ]] || bench_fail "cannot read the stack's nginx port from $BENCH_STATE/nginx/aispm-site.conf"
base=http://127.0.0.1:$port

aispm_step "scratch database $BENCH_SCRATCH_DB"
bench_scratch_db
aispm_info "bench_plain emptied"

aispm_step "bearer token (ingest, demo tenant admin)"
token=$("$AISPM_BIN" -c "$conf" admin create-token --tenant acme --user tenant.admin@acme.example \
    --scopes ingest --name bench-ingest --ttl-days 1 2>>"$BENCH_STATE/logs/bench-admin.log") ||
    bench_fail "aispm admin create-token failed (log: $BENCH_STATE/logs/bench-admin.log)"
[[ -n $token ]] || bench_fail "create-token printed no token"
me=$(curl -s --max-time 5 -H "Authorization: Bearer $token" "$base/enterprise/aispm/me") || bench_fail "GET $base/enterprise/aispm/me failed"
tenant_ref=$(printf '%s' "$me" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["tenant_ref"])') ||
    bench_fail "no tenant_ref in /me: ${me:0:300}"
aispm_info "tenant $tenant_ref via $base (token valid one day, kept in memory only)"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- batch phase ---------------------------------------------------------------------
aispm_step "batch: $BENCH_CLIENTS clients x $BENCH_BATCH envelopes, ${BENCH_SECONDS}s"
bout=$work/ingest-batch.txt
BENCH_TOKEN=$token timeout $((BENCH_SECONDS + 120)) "$PY" "$LOAD" batch 127.0.0.1 "$port" "$tenant_ref" \
    "$BENCH_CLIENTS" "$BENCH_BATCH" "$BENCH_SECONDS" "$EXAMPLE" >"$bout" 2>"$work/ingest-batch.err" || {
    cat "$bout"; tail_log "$work/ingest-batch.err"; bench_fail "ingest_load.py failed"
}
read -r _ batches events b_secs p50 p99 pmax berr < <(grep '^RESULT ' "$bout")
envelope_line=$(grep '^envelope ' "$bout")
events_s=$(awk -v n="$events" -v t="$b_secs" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
aispm_info "$events events accepted in $b_secs s = $events_s /s; errors $berr"

# --- plain phase: K mariadb clients, one connection each, one INSERT after another ----
aispm_step "plain: $BENCH_CLIENTS mariadb clients, one autocommit INSERT each at a time, ${BENCH_SECONDS}s"
body=$("$PY" "$LOAD" sql-body "$tenant_ref" "$EXAMPLE")
pids=()
t0=$(date +%s.%N)
for ((i = 1; i <= BENCH_CLIENTS; i++)); do
    # `yes` repeats the statement; the client runs each one (autocommit, one
    # round trip) on its single connection until timeout ends it.
    (yes "INSERT INTO $BENCH_SCRATCH_DB.bench_plain (tenant_id, body) VALUES ($i, $body);" |
        timeout "$BENCH_SECONDS" mariadb --no-defaults --socket="$BENCH_STATE/run/mysqld.sock" \
            -u "$(mariadb_admin_user)" -B >/dev/null 2>>"$work/ingest-plain.err") &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
t1=$(date +%s.%N)
p_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
inserts=$(mariadb_client "$BENCH_STATE" -N -e "SELECT COUNT(*) FROM $BENCH_SCRATCH_DB.bench_plain")
inserts_s=$(awk -v n="$inserts" -v t="$p_secs" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
aispm_info "$inserts rows in $p_secs s = $inserts_s /s"

ratio=$(awk -v a="$events_s" -v b="$inserts_s" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
verdict=$(awk -v r="$ratio" -v g="$GOAL_RATIO" -v e="$berr" -v n="$events" 'BEGIN {
    print (e > 0 || n == 0) ? "INVALID (errors during the run)" : (r >= g ? "PASS" : "MISS") }')

results=$work/ingest-results.txt
{
    printf '=== ingest  (bench/ingest.sh, %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_machine "$load_before"
    printf 'MariaDB %s, innodb_flush_log_at_trx_commit=%s; stack nginx on 127.0.0.1:%s; app http_workers=%s\n' \
        "$(mariadb_client "$BENCH_STATE" -N -e 'SELECT VERSION()')" \
        "$(mariadb_client "$BENCH_STATE" -N -e 'SELECT @@innodb_flush_log_at_trx_commit')" \
        "$port" "$(bench_conf http_workers 4)"
    printf '%s clients, %ss per phase; batch %s envelopes (%s)\n\n' "$BENCH_CLIENTS" "$BENCH_SECONDS" "$BENCH_BATCH" "$envelope_line"
    printf 'batch  POST /events/batch  %8d batches %9d events in %7.2f s = %9.1f events/s   per batch p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors %d\n' \
        "$batches" "$events" "$b_secs" "$events_s" "$p50" "$p99" "$pmax" "$berr"
    printf 'plain  INSERT (mariadb CLI) %24d rows in %7.2f s = %9.1f inserts/s  (one envelope per row; latency not measured)\n' \
        "$inserts" "$p_secs" "$inserts_s"
    printf '\nKEY    events/s / plain inserts/s = %s (goal >= %s): %s\n\n' "$ratio" "$GOAL_RATIO" "$verdict"
} >"$results"
printf '\n'
cat "$results"
bench_write_results ingest "$results"
[[ $verdict != INVALID* ]] || exit 1
