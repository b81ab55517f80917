#!/usr/bin/env bash
# bench/pdf.sh — the PDF board pack's pure render time (cairo + pango,
# in-process) against headless Chromium printing the HTML rendition of the same
# report from the same data, measured in the same run. Not run in CI.
#
# Usage: bench/pdf.sh [N]      (N renders of each, default 20)
#
# Builds, brings up (or reuses) a local stack in BENCH_STATE with scripts/up
# (bench/common.sh; the demo tenant "acme" and its seeded history), then:
#   render     `aispm admin render --report pdf_board_pack --format pdf
#              --repeat N`: the render snapshot is read once, then the PDF is
#              drawn N times in one process; per-render ms (the first, cold,
#              apart), and the process's peak RSS (getrusage ru_maxrss);
#   chromium   `aispm admin render --report pdf_board_pack --format html`
#              (the board pack's sections, numbers and tables as HTML, from
#              the same snapshot code and data), then N times
#              `chromium --headless --print-to-pdf` of that file (process start
#              included, as a render service would pay it); per-run ms and the
#              peak RSS of the Chromium process tree (RUSAGE_CHILDREN);
#   job path   (context only) N x POST /reports/render pdf_board_pack through
#              nginx and the job queue, polled every 20 ms, and the job
#              workers' VmRSS / VmHWM afterwards;
# and prints the KEY ratio chromium / in-process median (goal >= 20) and the
# render RSS (goal < 64 MiB). Results go to BENCH_RESULTS (section "pdf").
#
# Environment: those of bench/common.sh; CHROMIUM (default chromium);
# BENCH_PDF_JOBS=0 skips the job path.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
n=${1:-20}
if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 1000)); then bench_fail "N must be 1..1000"; fi
: "${CHROMIUM:=chromium}"
: "${BENCH_PDF_JOBS:=1}"
GOAL_RATIO=20
GOAL_RSS_KIB=$((64 * 1024))

bench_guard_state
bench_traps
bench_need_commands curl python3 ss pdfinfo "$CHROMIUM"
bench_build
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_stack_up

conf=$BENCH_STATE/aispm.conf
work=$BENCH_STATE/bench/pdf
mkdir -p "$work"

aispm_step "in-process: $n x pdf_board_pack (aispm admin render --repeat $n)"
"$AISPM_BIN" -c "$conf" admin render --tenant acme --report pdf_board_pack --format pdf \
    --out "$work/board_pack.pdf" --repeat "$n" >"$work/render.txt" 2>>"$BENCH_STATE/logs/bench-admin.log" ||
    bench_fail "aispm admin render failed (log: $BENCH_STATE/logs/bench-admin.log)"
"$AISPM_BIN" -c "$conf" admin render --tenant acme --report pdf_board_pack --format html \
    --out "$work/board_pack.html" >"$work/render-html.txt" 2>>"$BENCH_STATE/logs/bench-admin.log" ||
    bench_fail "aispm admin render (html) failed"

aispm_step "chromium --print-to-pdf: $n x board_pack.html"
python3 - "$CHROMIUM" "$work" "$n" >"$work/chromium.txt" 2>>"$BENCH_STATE/logs/bench-chromium.log" <<'PY'
import resource, subprocess, sys, time
chrome, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
cmd = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
       f"--user-data-dir={work}/chromium-profile", f"--print-to-pdf={work}/chromium.pdf",
       f"file://{work}/board_pack.html"]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=sys.stderr)  # warm-up (profile, caches)
ms = []
for _ in range(n):
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    ms.append((time.monotonic() - t) * 1000)
s = sorted(ms)
print(f"RESULT n={n} median_ms={s[n // 2]:.3f} mean_ms={sum(ms) / n:.3f} min_ms={s[0]:.3f} max_ms={s[-1]:.3f} "
      f"maxrss_kib={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY

job_line="job path skipped (BENCH_PDF_JOBS=0)"
worker_lines=""
if [[ $BENCH_PDF_JOBS == 1 ]]; then
    aispm_step "job path (context): $n x POST /reports/render pdf_board_pack"
    port=$(awk '$1 == "listen" { sub(/;.*/, "", $2); sub(/.*:/, "", $2); print $2; exit }' "$BENCH_STATE/nginx/aispm-site.conf")
    [[ $port =~ ^[0-9]+$ ]] || bench_fail "no nginx port in $BENCH_STATE/nginx/aispm-site.conf"
    base=http://127.0.0.1:$port
    token=$("$AISPM_BIN" -c "$conf" admin create-token --tenant acme --user tenant.admin@acme.example \
        --scopes reports:read,reports:write --name bench-pdf --ttl-days 1 2>>"$BENCH_STATE/logs/bench-admin.log") ||
        bench_fail "aispm admin create-token failed"
    job_ms=$(BASE=$base TOKEN=$token python3 - "$n" <<'PY'
import json, os, sys, time, urllib.request
base, tok, n = os.environ["BASE"], os.environ["TOKEN"], int(sys.argv[1])
def call(path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
def one():
    ref = call("/enterprise/aispm/reports/render", {"report_id": "pdf_board_pack", "format": "pdf"})["render_ref"]
    for _ in range(3000):
        s = call(f"/enterprise/aispm/reports/renders/{ref}")
        if s["status"] == "succeeded":
            return
        if s["status"] == "failed":
            sys.exit(f"render failed: {s}")
        time.sleep(0.02)
    sys.exit("render did not finish")
one()
t = time.monotonic()
for _ in range(n):
    one()
print(f"{(time.monotonic() - t) * 1000 / n:.1f}")
PY
) || bench_fail "job path failed"
    job_line="job path (POST + queue + poll, context only): $job_ms ms/render"
    master=$(live_pid "$BENCH_STATE/run/aispm.pid" "$conf") || bench_fail "aispm is not running"
    listeners=$(ss -xlpn 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
    for pid in $(pgrep -P "$master"); do
        grep -qx "$pid" <<<"$listeners" && continue
        rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        worker_lines+="job worker pid $pid: VmRSS ${rss:-?} kB, peak VmHWM ${hwm:-?} kB"$'\n'
    done
fi

kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$(grep '^RESULT' "$1")"; }
r_med=$(kv "$work/render.txt" median_ms)
r_rss=$(kv "$work/render.txt" maxrss_kib)
r_first=$(awk '$1 == "render" && $2 == 1 { print $3 }' "$work/render.txt")
c_med=$(kv "$work/chromium.txt" median_ms)
c_rss=$(kv "$work/chromium.txt" maxrss_kib)
pages=$(pdfinfo "$work/board_pack.pdf" | awk '/^Pages:/ { print $2 }')
cpages=$(pdfinfo "$work/chromium.pdf" | awk '/^Pages:/ { print $2 }')
ratio=$(awk -v c="$c_med" -v r="$r_med" 'BEGIN { printf "%.1f", (r > 0 ? c / r : 0) }')
verdict=$(awk -v x="$ratio" -v g="$GOAL_RATIO" -v m="$r_rss" -v gm="$GOAL_RSS_KIB" 'BEGIN {
    print (x >= g && m < gm) ? "PASS" : "MISS" }')

results=$work/pdf-results.txt
{
    printf '=== pdf  (bench/pdf.sh, %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_machine "$load_before"
    printf '%s; cairo + pango (%s); demo tenant acme, %s renders of each\n\n' \
        "$("$CHROMIUM" --version 2>/dev/null | head -1)" "$(pkg-config --modversion cairo 2>/dev/null || echo '?')" "$n"
    printf 'render    aispm admin render pdf_board_pack pdf: %s pages, %s bytes; snapshot %s ms (once)\n' \
        "$pages" "$(kv "$work/render.txt" bytes)" "$(kv "$work/render.txt" load_ms)"
    printf '          per render median %s ms (first, cold: %s ms; min %s, max %s); peak RSS %s KiB\n' \
        "$r_med" "$r_first" "$(kv "$work/render.txt" min_ms)" "$(kv "$work/render.txt" max_ms)" "$r_rss"
    printf 'chromium  --print-to-pdf of the same report as HTML (%s bytes): %s pages\n' \
        "$(kv "$work/render-html.txt" bytes)" "$cpages"
    printf '          per run median %s ms (min %s, max %s); peak RSS of the Chromium processes %s KiB\n' \
        "$c_med" "$(kv "$work/chromium.txt" min_ms)" "$(kv "$work/chromium.txt" max_ms)" "$c_rss"
    printf '%s\n%s' "$job_line" "$worker_lines"
    printf '\nKEY    chromium median / in-process median = %s (goal >= %s); render peak RSS %s KiB (goal < %s): %s\n\n' \
        "$ratio" "$GOAL_RATIO" "$r_rss" "$GOAL_RSS_KIB" "$verdict"
} >"$results"
printf '\n'
cat "$results"
bench_write_results pdf "$results"
