#!/usr/bin/env bash
# bench/send.sh — governed sends through nginx and their delivery to a local
# SMTP server, against the same SMTP server fed by a plain libcurl loop (see
# bench/README.md).
#
# Usage: bench/send.sh
#
# Builds, brings up (or reuses) a local stack in BENCH_STATE with scripts/up,
# starts tests/e2e/smtp_sink.py (python3-aiosmtpd) on a free port, creates a
# tenant "bench-send-<time>" whose SMTP settings point at it and whose
# recipient policy allows bench.example, renders one board_kpi_pack (json)
# artifact, then in one run:
#   accept   K clients (bench/send_load.py, one keep-alive connection each)
#            POST /enterprise/aispm/reports/send (one recipient, smtp) for
#            BENCH_SECONDS: policy evaluated, delivery + job + evidence
#            committed; every answer must be 202 "queued";
#   deliver  the job workers send those messages (one SMTP connection each,
#            attachment included, evidence per attempt) while and after they
#            are accepted; delivered/s = messages the sink received / time from
#            the first accepted send to the last received message;
#   direct   build/smtp_direct sends messages of the same size to the same
#            sink in a plain libcurl loop for BENCH_SECONDS (one connection
#            each, no database).
# Prints accepted/s, delivered/s, direct/s and the ratios delivered/direct
# and accepted/direct. Writes the section "send" of bench/results/latest.txt.
#
# Environment (besides those of bench/common.sh):
#   BENCH_SECONDS   seconds of the accept and direct phases (default 10)
#   BENCH_CLIENTS   concurrent senders K (default 4)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) aispm_error "unknown argument: $1"; exit 2 ;;
esac

: "${BENCH_SECONDS:=10}"
: "${BENCH_CLIENTS:=4}"
for v in BENCH_SECONDS BENCH_CLIENTS; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_fail "$v must be a whole number"
done
((BENCH_SECONDS >= 1 && BENCH_SECONDS <= 600)) || bench_fail "BENCH_SECONDS must be 1..600"
((BENCH_CLIENTS >= 1 && BENCH_CLIENTS <= 64)) || bench_fail "BENCH_CLIENTS must be 1..64"
PY=/usr/bin/python3
SINK=$AISPM_REPO/tests/e2e/smtp_sink.py

bench_guard_state
bench_traps
bench_need_commands curl cmake timeout "$PY" "$NGINX_BIN" "$MARIADBD_BIN" mariadb
bench_build
run_logged "$BENCH_STATE/logs/bench-build.log" cmake --build "$BENCH_BUILD_DIR" --target smtp_direct ||
    bench_fail "could not build smtp_direct"
bench_stack_up
conf=$BENCH_STATE/aispm.conf
work=$BENCH_STATE/bench/send-$(date +%s)
mkdir -p "$work/sink"
port=$(awk '$1 == "listen" { sub(/;$/, "", $2); n = split($2, a, ":"); print a[n]; exit }' "$BENCH_STATE/nginx/aispm-site.conf")
[[ $port =~ ^[0-9]+$ ]] || bench_fail "cannot read the stack's nginx port"
base=http://127.0.0.1:$port

aispm_step "SMTP sink (python3-aiosmtpd)"
smtp_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" "$SINK" --port "$smtp_port" --dir "$work/sink" >"$work/sink.out" 2>"$work/sink.err" &
sink_pid=$!
_bench_pids+=("$sink_pid")
for _ in $(seq 50); do grep -q '^ready' "$work/sink.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/sink.out" || bench_fail "the SMTP sink did not start ($work/sink.err)"
aispm_info "127.0.0.1:$smtp_port, messages under $work/sink"

aispm_step "bench tenant"
slug=bench-send-$(date +%s)
"$AISPM_BIN" -c "$conf" admin create-tenant --slug "$slug" --name "Send benchmark" >>"$BENCH_STATE/logs/bench-admin.log" 2>&1 ||
    bench_fail "create-tenant failed"
AISPM_PASSWORD="Bench-$(head -c 12 /dev/urandom | base64 | tr -dc A-Za-z0-9)" \
    "$AISPM_BIN" -c "$conf" admin create-user --tenant "$slug" --email "admin@$slug.example" --role tenant_admin \
    >>"$BENCH_STATE/logs/bench-admin.log" 2>&1 || bench_fail "create-user failed"
token=$("$AISPM_BIN" -c "$conf" admin create-token --tenant "$slug" --user "admin@$slug.example" \
    --scopes reports:read,reports:write,admin --name bench-send --ttl-days 1 2>>"$BENCH_STATE/logs/bench-admin.log") ||
    bench_fail "create-token failed"
api() { # METHOD PATH [JSON]
    curl -sS --max-time 30 -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        ${3:+--data "$3"} "$base$2"
}
api PUT /enterprise/aispm/reports/setup/steps/organization_profile \
    "{\"settings\":{\"CAVRA_REPORT_FROM_ADDRESS\":\"reports@$slug.example\",\"CAVRA_REPORT_DEFAULT_TIMEZONE\":\"UTC\",\"CAVRA_REPORT_RETENTION_DAYS\":\"30\"}}" >/dev/null
api PUT /enterprise/aispm/reports/setup/steps/delivery_provider \
    "{\"settings\":{\"CAVRA_REPORT_DELIVERY_MODE\":\"smtp\",\"CAVRA_REPORT_SMTP_HOST\":\"127.0.0.1\",\"CAVRA_REPORT_SMTP_PORT\":\"$smtp_port\"}}" >/dev/null
api PUT /enterprise/aispm/reports/delivery-endpoints '{"smtp_tls":"none"}' >/dev/null
api PUT /enterprise/aispm/reports/recipient-policy \
    '{"policy":{"default_action":"deny","external_delivery_default":"deny"},"domain_rules":[{"domain":"bench.example","classification":"internal","allowed":true}],"approval_policy":{"recipient_group_change_approval_required":false}}' |
    grep -q '"bench.example"' || bench_fail "could not set the recipient policy"
render=$(api POST /enterprise/aispm/reports/render '{"report_id":"board_kpi_pack","format":"json"}' |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin)["render_ref"])') || bench_fail "render request failed"
artifact=""
for _ in $(seq 300); do
    artifact=$(api GET "/enterprise/aispm/reports/renders/$render" |
        "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("artifact_ref") or "")')
    [[ -n $artifact ]] && break
    sleep 0.2
done
[[ -n $artifact ]] || bench_fail "the render did not finish"
size=$(api GET "/enterprise/aispm/reports/artifacts/$artifact" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["size"])')
aispm_info "tenant $slug, artifact $artifact ($size bytes)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- accept (and deliver in the background) --------------------------------------------
aispm_step "accept: $BENCH_CLIENTS clients POST /reports/send for ${BENCH_SECONDS}s"
BENCH_TOKEN=$token timeout $((BENCH_SECONDS + 120)) "$PY" "$BENCH_DIR/send_load.py" 127.0.0.1 "$port" "$artifact" \
    bench.example "$BENCH_CLIENTS" "$BENCH_SECONDS" >"$work/accept.txt" 2>"$work/accept.err" ||
    { cat "$work/accept.err"; bench_fail "send_load.py failed"; }
read -r _ accepted a_secs p50 p99 pmax aerr t_first t_last < <(grep '^RESULT ' "$work/accept.txt")
accepted_s=$(awk -v n="$accepted" -v t="$a_secs" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
aispm_info "$accepted sends accepted in $a_secs s = $accepted_s /s; p50 $p50 ms, p99 $p99 ms; errors $aerr"

aispm_step "deliver: waiting for the job workers to drain the queue"
received() { [[ -f $work/sink/received.jsonl ]] && wc -l <"$work/sink/received.jsonl" || echo 0; }
deadline=$((SECONDS + 600))
last=-1
while (($(received) < accepted && SECONDS < deadline)); do
    n=$(received)
    [[ $n != "$last" ]] && aispm_info "$n / $accepted received"
    last=$n
    sleep 1
done
delivered=$(received)
read -r d_first d_last < <("$PY" -c '
import json, sys
ts = [json.loads(l)["t"] for l in open(sys.argv[1])]
print(min(ts), max(ts))' "$work/sink/received.jsonl")
d_secs=$(awk -v a="$t_first" -v b="$d_last" 'BEGIN { printf "%.3f", b - a }')
delivered_s=$(awk -v n="$delivered" -v t="$d_secs" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
dups=$("$PY" -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("duplicate")))' "$work/sink/received.jsonl")
lag=$(awk -v a="$t_last" -v b="$d_last" 'BEGIN { printf "%.2f", b - a }')
aispm_info "$delivered delivered in $d_secs s = $delivered_s /s (queue drained ${lag}s after the last accept); duplicates $dups"
queued_left=$(mariadb_client "$BENCH_STATE" -N -e "SELECT COUNT(*) FROM aispm.deliveries d JOIN aispm.tenants t ON t.id = d.tenant_id WHERE t.slug = '$slug' AND d.status <> 'delivered'")

# --- direct: a plain libcurl loop to the same sink ---------------------------------------
aispm_step "direct: libcurl loop to the same sink for ${BENCH_SECONDS}s"
msg_bytes=$(( size * 4 / 3 + 1200 ))
before_direct=$(received)
"$BENCH_BUILD_DIR/smtp_direct" "$smtp_port" "$BENCH_SECONDS" "$msg_bytes" >"$work/direct.txt" || bench_fail "smtp_direct failed"
read -r _ direct d2_secs derr < <(grep '^RESULT ' "$work/direct.txt")
direct_s=$(awk -v n="$direct" -v t="$d2_secs" 'BEGIN { printf "%.1f", (t > 0 ? n / t : 0) }')
aispm_info "$direct messages in $d2_secs s = $direct_s /s; errors $derr (sink got $(( $(received) - before_direct )))"

r_deliv=$(awk -v a="$delivered_s" -v b="$direct_s" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
r_acc=$(awk -v a="$accepted_s" -v b="$direct_s" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
valid=$([[ $aerr == 0 && $derr == 0 && $dups == 0 && $delivered == "$accepted" && $queued_left == 0 ]] && echo ok || echo INVALID)

results=$work/results.txt
{
    printf '=== send  (bench/send.sh, %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_machine "$load_before"
    printf 'stack nginx on 127.0.0.1:%s; app http_workers=%s job_workers=%s; sink python3-aiosmtpd on 127.0.0.1:%s\n' \
        "$port" "$(bench_conf http_workers 4)" "$(bench_conf job_workers 1)" "$smtp_port"
    printf '%s clients, %ss; artifact board_kpi_pack json %s bytes (attached, base64); one recipient per send\n\n' \
        "$BENCH_CLIENTS" "$BENCH_SECONDS" "$size"
    printf 'accept   POST /reports/send  %7d sends in %7.2f s = %8.1f sends/s   p50 %.2f ms, p99 %.2f ms, max %.2f ms; errors %d\n' \
        "$accepted" "$a_secs" "$accepted_s" "$p50" "$p99" "$pmax" "$aerr"
    printf 'deliver  job worker -> SMTP  %7d msgs  in %7.2f s = %8.1f msgs/s    (first accept to last receipt; drained %ss after the last accept; duplicates %d; not delivered %d)\n' \
        "$delivered" "$d_secs" "$delivered_s" "$lag" "$dups" "$queued_left"
    printf 'direct   libcurl loop -> SMTP %6d msgs  in %7.2f s = %8.1f msgs/s    (%s-byte messages, one connection each; errors %d)\n' \
        "$direct" "$d2_secs" "$direct_s" "$msg_bytes" "$derr"
    printf '\nRATIO  delivered/s / direct/s = %s;  accepted/s / direct/s = %s   (%s)\n\n' "$r_deliv" "$r_acc" "$valid"
} >"$results"
printf '\n'
cat "$results"
bench_write_results send "$results"
[[ $valid == ok ]] || exit 1
