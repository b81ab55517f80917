#!/usr/bin/env bash
# bench/evidence.sh — evidence appends per second for one busy tenant with the
# hash chain kept, against plain single-row INSERTs into the same MariaDB
# (see bench/README.md and bench/evidence_bench.c).
#
# Usage: bench/evidence.sh
#
# Builds, brings up (or reuses) a local stack in BENCH_STATE with scripts/up,
# creates the scratch table aispm_bench.bench_plain (as the MariaDB admin user;
# the app user gets INSERT on it), and runs build/evidence_bench with the
# stack's configuration. Per round, W writers run three phases of
# BENCH_SECONDS each:
#   autocommit   evidence_append alone (one atomic INSERT, as the app writes
#                an evidence-only event), a sequencer linking meanwhile;
#   transaction  db_begin; evidence_append; db_commit, likewise;
#   plain        one autocommit INSERT of a body of the same size (reference);
# after each chain phase the link lag and evidence_verify of that mode's chain.
# Key: autocommit appends/plain >= 0.5 (the transaction ratio is reported too:
# in the app an append normally rides inside the transaction of the change it
# records, whose cost belongs to that change).
# Writes the section "evidence" of bench/results/latest.txt.
#
# Environment (besides those of bench/common.sh):
#   BENCH_SECONDS   seconds per phase (default 10)
#   BENCH_WRITERS   writer processes (default 8)
#   BENCH_ROUNDS    repeat the three phases this often (order rotated each
#                   round) and report the totals (default 1; 3 evens out a
#                   busy machine)
#   BENCH_SEQ_IDLE_MS  sequencer pause after a short round (default 100, as the
#                   app's job worker)
#
# The stack's own job worker links every tenant too; the output says how many
# events each sequencer linked. Each run leaves two tenants "bench-evidence-*"
# (one per mode) with their chains in the stack's database (evidence is
# append-only).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) aispm_error "unknown argument: $1"; exit 2 ;;
esac

: "${BENCH_SECONDS:=10}"
: "${BENCH_WRITERS:=8}"
: "${BENCH_SEQ_IDLE_MS:=100}"
: "${BENCH_ROUNDS:=1}"
for v in BENCH_SECONDS BENCH_WRITERS BENCH_SEQ_IDLE_MS BENCH_ROUNDS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_fail "$v must be a whole number"
done
((BENCH_SECONDS >= 1 && BENCH_SECONDS <= 600)) || bench_fail "BENCH_SECONDS must be 1..600"
((BENCH_ROUNDS >= 1 && BENCH_ROUNDS <= 20)) || bench_fail "BENCH_ROUNDS must be 1..20"

bench_guard_state
bench_traps
bench_need_commands cmake "$MARIADBD_BIN" mariadb
bench_build
bench_stack_up
conf=$BENCH_STATE/aispm.conf
work=$BENCH_STATE/bench
mkdir -p "$work"

aispm_step "scratch database $BENCH_SCRATCH_DB"
bench_scratch_db
aispm_info "bench_plain emptied; INSERT granted to $(bench_conf db_user aispm_app)"

aispm_step "evidence_bench: $BENCH_WRITERS writers, ${BENCH_SECONDS}s per phase, $BENCH_ROUNDS round(s)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
out=$work/evidence-bench.txt
lag_timeout=120
rc=0
# Bounded: per round three phases and two link lag allowances, plus a minute.
timeout $((BENCH_ROUNDS * (3 * BENCH_SECONDS + 2 * lag_timeout) + 60)) "$BENCH_BUILD_DIR/evidence_bench" -c "$conf" \
    --writers "$BENCH_WRITERS" --seconds "$BENCH_SECONDS" --rounds "$BENCH_ROUNDS" \
    --plain-table "$BENCH_SCRATCH_DB.bench_plain" \
    --seq-idle-ms "$BENCH_SEQ_IDLE_MS" --lag-timeout "$lag_timeout" >"$out" 2>"$work/evidence-bench.err" || rc=$?
if ((rc != 0)); then
    cat "$out"
    tail_log "$work/evidence-bench.err"
    bench_fail "evidence_bench failed (exit $rc)"
fi

results=$work/evidence-results.txt
{
    printf '=== evidence  (bench/evidence.sh, %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_machine "$load_before"
    printf 'MariaDB %s, innodb_flush_log_at_trx_commit=%s; every process on the unix socket as the app user\n' \
        "$(mariadb_client "$BENCH_STATE" -N -e 'SELECT VERSION()')" \
        "$(mariadb_client "$BENCH_STATE" -N -e 'SELECT @@innodb_flush_log_at_trx_commit')"
    printf '\n'
    grep -v '^RESULT ' "$out"
    printf '\n'
} >"$results"
printf '\n'
cat "$results"
bench_write_results evidence "$results"
