#!/usr/bin/env bash
# bench/watermark.sh — watermarked evidence-room downloads of a 20-page PDF
# through nginx against `qpdf --overlay` stamping the same mark onto the same
# file, in the same run (see bench/README.md).
#
# Usage: bench/watermark.sh
#
# Builds, brings up (or reuses) a local stack in BENCH_STATE with scripts/up,
# then:
#   fixture  build/watermark_fixture draws a 20-page A4 report PDF (pdfw, as the
#            board pack) and a one-page stamp with the app's two mark lines;
#            the PDF is stored as an artifact of the demo tenant (file under
#            artifacts_dir, row inserted as the MariaDB admin user: the render
#            pipeline draws at most a few pages from the demo data);
#   room     a tenant-admin token creates a room with it, invites an auditor
#            and accepts the invitation (POST /portal/invitations/{token});
#   app      bench/watermark_load.py signs in as the auditor and downloads it:
#            BENCH_SEQ downloads one after another (median/p90 latency), then
#            BENCH_CLIENTS sessions x BENCH_PER downloads at once (downloads/s);
#            every answer is a new copy (new download id, digest checked), and
#            one copy is read back with pdftotext: the mark on all 20 pages;
#   qpdf     BENCH_SEQ runs of `qpdf DOC --overlay STAMP --repeat=1 -- OUT`
#            (process start included, as a service shelling out would pay);
#   inproc   watermark_pdf() alone, in one process (build/watermark_fixture time).
# Prints the ratios qpdf/app (median latency) and writes the section
# "watermark" of bench/results/latest.txt.
#
# Environment (besides those of bench/common.sh):
#   BENCH_SEQ      sequential downloads and qpdf runs (default 50)
#   BENCH_CLIENTS  concurrent auditor sessions (default 4)
#   BENCH_PER      downloads per concurrent session (default 100)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
-h | --help) sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
"") ;;
*) aispm_error "unknown argument: $1"; exit 2 ;;
esac

: "${BENCH_SEQ:=50}"
: "${BENCH_CLIENTS:=4}"
: "${BENCH_PER:=100}"
for v in BENCH_SEQ BENCH_CLIENTS BENCH_PER; do
    [[ ${!v} =~ ^[0-9]+$ ]] || bench_fail "$v must be a whole number"
done
((BENCH_SEQ >= 5 && BENCH_SEQ <= 5000)) || bench_fail "BENCH_SEQ must be 5..5000"
((BENCH_CLIENTS >= 1 && BENCH_CLIENTS <= 32)) || bench_fail "BENCH_CLIENTS must be 1..32"
((BENCH_PER >= 1 && BENCH_PER <= 5000)) || bench_fail "BENCH_PER must be 1..5000"
PY=/usr/bin/python3
PAGES=20

bench_guard_state
bench_traps
bench_need_commands curl qpdf pdftotext pdfinfo sha256sum "$PY" mariadb
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
bench_build
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    run_logged "$BENCH_STATE/logs/bench-build.log" cmake --build "$BENCH_BUILD_DIR" --target watermark_fixture ||
        bench_fail "build of watermark_fixture failed"
fi
FIXTURE=$BENCH_BUILD_DIR/watermark_fixture
[[ -x $FIXTURE ]] || bench_fail "no $FIXTURE"
bench_stack_up
conf=$BENCH_STATE/aispm.conf
port=$(awk '$1 == "listen" { sub(/;.*/, "", $2); sub(/.*:/, "", $2); print $2; exit }' "$BENCH_STATE/nginx/aispm-site.conf")
[[ $port =~ ^[0-9]+$ ]] || bench_fail "no nginx port in $BENCH_STATE/nginx/aispm-site.conf"
base=http://127.0.0.1:$port
work=$BENCH_STATE/bench/watermark
mkdir -p "$work"
run=$(date +%s)-$$

aispm_step "fixture: a $PAGES-page PDF and the stamp page"
"$FIXTURE" doc "$PAGES" >"$work/doc.pdf" || bench_fail "fixture doc failed"
"$FIXTURE" stamp >"$work/stamp.pdf" || bench_fail "fixture stamp failed"
pages=$(pdfinfo "$work/doc.pdf" | awk '/^Pages:/ { print $2 }')
((pages == PAGES)) || bench_fail "the fixture has $pages pages, not $PAGES"
digest=$(sha256sum "$work/doc.pdf" | cut -d' ' -f1)
size=$(stat -c %s "$work/doc.pdf")
aispm_info "$pages pages, $size bytes, sha256 $digest"

aispm_step "artifact, room, auditor"
read -r tenant_id tenant_ulid < <(mariadb_client "$BENCH_STATE" -N -e \
    "SELECT id, SUBSTRING(ref, 8) FROM aispm.tenants WHERE slug = 'acme'")
[[ $tenant_id =~ ^[0-9]+$ && $tenant_ulid =~ ^[0-9A-Z]{26}$ ]] || bench_fail "no demo tenant acme"
art_dir=$(bench_conf artifacts_dir)
[[ -d $art_dir ]] || bench_fail "artifacts_dir $art_dir does not exist"
mkdir -p "$art_dir/$tenant_ulid"
cp "$work/doc.pdf" "$art_dir/$tenant_ulid/$digest"
art_ref=artifact:$("$PY" -c '
import os, time
a = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
n = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
print("".join(a[(n >> (5 * i)) & 31] for i in range(25, -1, -1)))')
mariadb_client "$BENCH_STATE" -e "INSERT IGNORE INTO aispm.artifacts (ref, tenant_id, report_id, format,
    period_start, period_end, digest, size, content_type, filename, retention_class, expires_at, as_of,
    evidence_ref, storage_path, created_at) VALUES ('$art_ref', $tenant_id, 'pdf_board_pack', 'pdf',
    NOW(6) - INTERVAL 30 DAY, NOW(6), '$digest', $size, 'application/pdf', 'bench-20-pages.pdf', 'standard',
    NOW(6) + INTERVAL 30 DAY, NOW(6), NULL, '$tenant_ulid/$digest', NOW(6))"
art_ref=$(mariadb_client "$BENCH_STATE" -N -e "SELECT ref FROM aispm.artifacts WHERE tenant_id = $tenant_id AND
    digest = '$digest' AND report_id = 'pdf_board_pack' AND format = 'pdf'")
[[ $art_ref == artifact:* ]] || bench_fail "the artifact row was not stored"
token=$("$AISPM_BIN" -c "$conf" admin create-token --tenant acme --user tenant.admin@acme.example \
    --scopes reports:read,reports:write --name bench-watermark --ttl-days 1 2>>"$BENCH_STATE/logs/bench-admin.log") ||
    bench_fail "aispm admin create-token failed"
auth="Authorization: Bearer $token"
json() { "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
expires=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
room=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' "$base/enterprise/aispm/reports/evidence-rooms" \
    -d "{\"title\":\"Watermark benchmark\",\"purpose\":\"bench/watermark.sh\",\"audience\":\"external_auditor\",
         \"allowed_domains\":[\"bench-audit.example\"],\"expires_at\":\"$expires\",\"download_allowed\":true,
         \"mfa_required\":false,\"artifact_refs\":[\"$art_ref\"]}" | json 'd["room"]["room_ref"]') ||
    bench_fail "room creation refused"
email="auditor-$run@bench-audit.example"
password="Bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
invite=$(curl -fsS -H "$auth" -H 'Content-Type: application/json' \
    "$base/enterprise/aispm/reports/evidence-rooms/$room/auditors" -d "{\"email\":\"$email\"}" |
    json 'd["invitation_url"]') || bench_fail "invitation refused"
code=$(curl -sS -o /dev/null -w '%{http_code}' --data-urlencode "password=$password" \
    --data-urlencode "password_confirm=$password" "$base$invite")
[[ $code == 303 ]] || bench_fail "accepting the invitation answered $code"
aispm_info "room $room, artifact $art_ref"

aispm_step "app: watermarked downloads through nginx"
path=/portal/rooms/$room/artifacts/$art_ref/download
out=$("$PY" "$BENCH_DIR/watermark_load.py" "$base" "$email" "$password" "$path" "$BENCH_SEQ" "$BENCH_CLIENTS" \
    "$BENCH_PER" "$work/copy.pdf") || bench_fail "the load generator failed"
get() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$out" "$1"; }
app_p50=$(get p50_ms) app_p90=$(get p90_ms) app_dps=$(get downloads_per_s) app_err=$(get errors)
app_n=$(get downloads) app_wall=$(get wall_s) dl=$(get first_download_id) copy_bytes=$(get copy_bytes)
marked=$(pdftotext -raw "$work/copy.pdf" - | "$PY" -c '
import sys
pages = [p for p in sys.stdin.read().split("\f") if p.strip()]
print(sum(1 for p in pages if ("download id " + sys.argv[1]) in p))' "$dl")
aispm_info "p50 $app_p50 ms, $app_dps downloads/s, errors $app_err, mark on $marked/$PAGES pages of $dl"

aispm_step "qpdf --overlay: the same stamp onto the same file"
qpdf_ms=()
for ((i = 0; i < BENCH_SEQ; i++)); do
    t0=$(date +%s%N)
    qpdf "$work/doc.pdf" --overlay "$work/stamp.pdf" --repeat=1 -- "$work/qpdf.pdf"
    t1=$(date +%s%N)
    qpdf_ms+=("$(( (t1 - t0) / 1000 ))")
done
read -r q_p50 q_p90 < <(printf '%s\n' "${qpdf_ms[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    printf "%.3f %.3f\n", v[int((NR + 1) / 2)] / 1000, v[int(NR * 0.9)] / 1000 }')
q_marked=$(pdftotext -raw "$work/qpdf.pdf" - | grep -c "download id download:01BENCHDOWNLOAD" || true)
aispm_info "p50 $q_p50 ms (mark on $q_marked pages)"

aispm_step "in-process watermark_pdf()"
read -r ip_p50 ip_p90 ip_marked < <("$FIXTURE" time "$work/doc.pdf" 1000)
aispm_info "p50 $ip_p50 ms, $ip_marked pages marked"

ratio=$(awk -v q="$q_p50" -v a="$app_p50" 'BEGIN { printf "%.2f", (a > 0 ? q / a : 0) }')
ratio_s=$(awk -v q="$q_p50" -v d="$app_dps" 'BEGIN { printf "%.2f", (q > 0 ? d / (1000 / q) : 0) }')
verdict=$(awk -v e="$app_err" -v m="$marked" -v p="$PAGES" -v qm="$q_marked" 'BEGIN {
    print (e > 0 || m != p || qm != p) ? "INVALID (errors, or a copy without the mark on every page)" : "OK" }')

results=$work/watermark-results.txt
{
    printf '=== watermark  (bench/watermark.sh, %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    bench_machine "$load_before"
    printf 'stack nginx on 127.0.0.1:%s; app http_workers=%s; %s (qpdf %s)\n' "$port" "$(bench_conf http_workers 4)" \
        "$(pdfinfo -v 2>&1 | head -1)" "$(qpdf --version | head -1 | awk '{ print $NF }')"
    printf 'input: %s-page A4 PDF, %s bytes; watermarked copy %s bytes\n\n' "$PAGES" "$size" "$copy_bytes"
    printf 'app     GET .../download through nginx, %4d sequential    p50 %8.3f ms  p90 %8.3f ms  (mark on %s/%s pages)\n' \
        "$BENCH_SEQ" "$app_p50" "$app_p90" "$marked" "$PAGES"
    printf 'app     %d sessions x %d downloads at once: %d in %.2f s = %.1f downloads/s; errors %s\n' \
        "$BENCH_CLIENTS" "$BENCH_PER" "$app_n" "$app_wall" "$app_dps" "$app_err"
    printf 'qpdf    --overlay --repeat=1, %4d runs (process start)   p50 %8.3f ms  p90 %8.3f ms  (mark on %s/%s pages)\n' \
        "$BENCH_SEQ" "$q_p50" "$q_p90" "$q_marked" "$PAGES"
    printf 'inproc  watermark_pdf() alone, 1000 runs                 p50 %8.3f ms  p90 %8.3f ms  (%s pages marked)\n' \
        "$ip_p50" "$ip_p90" "$ip_marked"
    printf '\nKEY    qpdf p50 / app download p50 = %s  (app downloads/s over sequential qpdf runs/s = %s): %s\n\n' \
        "$ratio" "$ratio_s" "$verdict"
} >"$results"
printf '\n'
cat "$results"
bench_write_results watermark "$results"
[[ $verdict != INVALID* ]] || exit 1
