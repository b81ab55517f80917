#!/usr/bin/env bash
# bench/pdf.sh — the PDF board pack (cairo + pango, in the job worker) against
# headless Chromium printing a report's HTML to PDF. Not run in CI.
#
# Usage: bench/pdf.sh [N]      (N renders of each, default 10)
#
# Builds, brings up (or reuses) a local stack in BENCH_STATE with scripts/up
# (bench/common.sh), creates a demo-tenant token (reports:read,reports:write),
# then:
#   job path   N times POST /reports/render {pdf_board_pack, pdf} and poll the
#              render until it succeeds (20 ms polls): wall time per render,
#              which includes queueing, the posture snapshot, storage and the
#              polling granularity, not only the PDF drawing;
#   chromium   renders executive_risk_brief as html once, downloads it, and
#              N times runs `chromium --headless --print-to-pdf` on that file
#              (process start included, as a render service would pay it);
# and prints ms per render of each, the ratio chromium/job, and the RSS
# (VmRSS, peak VmHWM) of the job workers (the aispm children that do not hold
# the FastCGI listening socket).
#
# Environment: those of bench/common.sh; CHROMIUM (default chromium).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
n=${1:-10}
if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 1000)); then bench_fail "N must be 1..1000"; fi
: "${CHROMIUM:=chromium}"

bench_guard_state
bench_traps
bench_need_commands curl python3 ss "$CHROMIUM"
bench_build
bench_stack_up

conf=$BENCH_STATE/aispm.conf
port=$(awk '$1 == "listen" { sub(/;.*/, "", $2); sub(/.*:/, "", $2); print $2; exit }' "$BENCH_STATE/nginx/aispm-site.conf")
[[ $port =~ ^[0-9]+$ ]] || bench_fail "no nginx port in $BENCH_STATE/nginx/aispm-site.conf"
base=http://127.0.0.1:$port
work=$BENCH_STATE/bench/pdf
mkdir -p "$work"

aispm_step "bearer token (reports:read,reports:write, demo tenant admin)"
token=$("$AISPM_BIN" -c "$conf" admin create-token --tenant acme --user tenant.admin@acme.example \
    --scopes reports:read,reports:write --name bench-pdf --ttl-days 1 2>>"$BENCH_STATE/logs/bench-admin.log") ||
    bench_fail "aispm admin create-token failed (log: $BENCH_STATE/logs/bench-admin.log)"
auth="Authorization: Bearer $token"

# render REPORT FORMAT: prints the artifact ref once the render succeeded
render() {
    local ref status body
    body=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
        -d "{\"report_id\":\"$1\",\"format\":\"$2\"}" "$base/enterprise/aispm/reports/render") ||
        bench_fail "render $1 $2 refused"
    ref=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["render_ref"])' <<<"$body")
    for _ in $(seq 1 3000); do
        body=$(curl -fsS -H "$auth" "$base/enterprise/aispm/reports/renders/$ref")
        status=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d.get("artifact_ref") or "")' <<<"$body")
        case $status in
        succeeded*) printf '%s\n' "${status#succeeded }"; return 0 ;;
        failed*) bench_fail "render $ref failed: $body" ;;
        esac
        sleep 0.02
    done
    bench_fail "render $ref did not finish"
}

ms() { echo $(($(date +%s%N) / 1000000)); }

aispm_step "job path: $n x pdf_board_pack"
art=$(render pdf_board_pack pdf) # warm-up
curl -fsS -H "$auth" -o "$work/board_pack.pdf" "$base/enterprise/aispm/reports/artifacts/$art/content"
t0=$(ms)
for _ in $(seq 1 "$n"); do render pdf_board_pack pdf >/dev/null; done
job_ms=$(($(ms) - t0))

aispm_step "chromium --print-to-pdf: $n x executive_risk_brief.html"
art=$(render executive_risk_brief html)
curl -fsS -H "$auth" -o "$work/brief.html" "$base/enterprise/aispm/reports/artifacts/$art/content"
chrome() {
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
        --user-data-dir="$work/chromium-profile" --print-to-pdf="$work/brief.pdf" "file://$work/brief.html" \
        >>"$BENCH_STATE/logs/bench-chromium.log" 2>&1
}
chrome || bench_fail "chromium failed (log: $BENCH_STATE/logs/bench-chromium.log)" # warm-up
t0=$(ms)
for _ in $(seq 1 "$n"); do chrome; done
chrome_ms=$(($(ms) - t0))

aispm_step "results"
master=$(live_pid "$BENCH_STATE/run/aispm.pid" "$conf") || bench_fail "aispm is not running"
listeners=$(ss -xlpn 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
python3 - "$n" "$job_ms" "$chrome_ms" <<'PY'
import sys
n, job, chrome = (int(x) for x in sys.argv[1:4])
print(f"    job path (pdf_board_pack):      {job / n:8.1f} ms/render")
print(f"    chromium --print-to-pdf (html): {chrome / n:8.1f} ms/render")
print(f"    ratio chromium/job:             {chrome / max(job, 1):8.2f}")
PY
for pid in $(pgrep -P "$master"); do
    grep -qx "$pid" <<<"$listeners" && continue
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    aispm_info "job worker pid $pid: VmRSS ${rss:-?} kB, VmHWM ${hwm:-?} kB"
done
aispm_info "PDFs: $work/board_pack.pdf, $work/brief.pdf"
