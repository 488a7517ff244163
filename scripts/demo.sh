#!/usr/bin/env bash
# `make demo`: three regions on local storage feeding one central table.
#
#   1. build bin/loglake
#   2. generate service logs for eu-west, us-east and ap-south into
#      demo-out/landing/<region>/ (a second wave lands while the daemons run)
#   3. run the three region daemons (configs/demo/<region>.yaml): ingest into
#      demo-out/regions/<region>, egress of approved rows into demo-out/central
#   4. wait until the central table has every approved row of every region
#   5. print the central table's description and a per-region/level summary
#   6. stop the daemons with SIGTERM (they drain and exit 0)
#   7. clone the central table to demo-out/dr/central and show that it matches
#
# Local storage only, no credentials. Settings: DEMO_FILES (files per region
# and wave, default 6), DEMO_FILE_BYTES (default 1000000), DEMO_TIMEOUT
# (seconds to wait for the central table, default 120).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$ROOT/demo-out
BIN=$ROOT/bin/loglake
REGIONS=(eu-west us-east ap-south)
FILES=${DEMO_FILES:-6}
FILE_BYTES=${DEMO_FILE_BYTES:-1000000}
TIMEOUT=${DEMO_TIMEOUT:-120}
GO=${GO:-go}
T0=$SECONDS

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
url() { echo "file://$OUT/$1"; }

pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# count URL [WHERE]: rows of a table (matching WHERE).
count() {
	local args=("$1" --columns date --format csv)
	if [[ -n ${2:-} ]]; then
		args+=(--where "$2")
	fi
	"$BIN" scan "${args[@]}" 2>/dev/null | tail -n +2 | wc -l
}

# field NAME URL: a line of `loglake describe` ("version", "records").
field() {
	"$BIN" describe "$2" | awk -v k="$1:" '$1 == k { print $2 }'
}

say "building bin/loglake"
"$GO" build -o "$BIN" ./cmd/loglake

say "generating logs for ${REGIONS[*]} (wave 1: $FILES files of ~$FILE_BYTES bytes each)"
rm -rf "$OUT"
mkdir -p "$OUT/logs"
declare -A lines
seed=1
for r in "${REGIONS[@]}"; do
	n=$("$BIN" gen "$(url "landing/$r")" --seed $seed --files "$FILES" --file-bytes "$FILE_BYTES" \
		--malformed 0.01 --prefix wave1/ | awk -F'[:,]' '/"lines"/ { gsub(/ /, "", $2); print $2 }')
	lines[$r]=$n
	echo "  $r: $n lines"
	seed=$((seed + 1))
done

say "starting the region daemons (logs in demo-out/logs/)"
for r in "${REGIONS[@]}"; do
	"$BIN" run --config "configs/demo/$r.yaml" 2>"$OUT/logs/$r.log" &
	pids+=($!)
	echo "  $r: pid $!, $(grep -o 'address: .*' "configs/demo/$r.yaml" | head -1)"
done

sleep 2
say "wave 2 lands while the daemons run"
for r in "${REGIONS[@]}"; do
	n=$("$BIN" gen "$(url "landing/$r")" --seed $seed --files "$FILES" --file-bytes "$FILE_BYTES" \
		--malformed 0.01 --prefix wave2/ --start 2026-11-26T00:00:00Z | awk -F'[:,]' '/"lines"/ { gsub(/ /, "", $2); print $2 }')
	lines[$r]=$((lines[$r] + n))
	echo "  $r: +$n lines"
	seed=$((seed + 1))
done

say "waiting until every line is in its regional table and every approved row in central"
deadline=$((SECONDS + TIMEOUT))
declare -A approved
while :; do
	done_all=1
	status=""
	for r in "${REGIONS[@]}"; do
		got=$(field records "$(url "regions/$r")" 2>/dev/null || echo 0)
		status+=" $r ${got:-0}/${lines[$r]}"
		[[ ${got:-0} == "${lines[$r]}" ]] || done_all=0
	done
	if ((done_all)); then
		expected=0
		for r in "${REGIONS[@]}"; do
			approved[$r]=$(count "$(url "regions/$r")" "egress_approved = true")
			expected=$((expected + approved[$r]))
		done
		central=$(field records "$(url central)" 2>/dev/null || echo 0)
		status+=" | central ${central:-0}/$expected"
		if [[ ${central:-0} == "$expected" ]]; then
			echo "  $status"
			break
		fi
	fi
	echo "  $status"
	if ((SECONDS > deadline)); then
		echo "demo: timed out after ${TIMEOUT}s; see demo-out/logs/" >&2
		exit 1
	fi
	sleep 1
done

say "per region: approved rows in the region vs rows in central (no unapproved row may leave)"
for r in "${REGIONS[@]}"; do
	in_central=$(count "$(url central)" "region = '$r'")
	leaked=$(count "$(url central)" "region = '$r' AND (NOT egress_approved = true OR egress_approved IS NULL)")
	printf '  %-9s regional %6d rows, approved %6d, central %6d, unapproved in central %d\n' \
		"$r" "${lines[$r]}" "${approved[$r]}" "$in_central" "$leaked"
	if [[ $in_central != "${approved[$r]}" || $leaked != 0 ]]; then
		echo "demo: central does not hold exactly the approved rows of $r" >&2
		exit 1
	fi
done

say "metrics and health of eu-west (http://127.0.0.1:9101)"
curl -fsS http://127.0.0.1:9101/healthz || true
echo
curl -fsS http://127.0.0.1:9101/metrics | grep -E '^loglake_(ingest_(files|rows|rescued_rows)_total|egress_rows_total|egress_commits_total|region_lag_versions|region_end_to_end_latency_seconds_(count|sum))' || true

say "stopping the daemons (SIGTERM: each drains its current batch)"
for i in "${!pids[@]}"; do
	kill -TERM "${pids[$i]}"
done
for i in "${!pids[@]}"; do
	if wait "${pids[$i]}"; then
		echo "  ${REGIONS[$i]}: exited cleanly"
	else
		echo "demo: ${REGIONS[$i]} exited with status $?" >&2
		exit 1
	fi
done
pids=()

say "the central table: loglake describe demo-out/central"
"$BIN" describe "$(url central)"

say "rows per region and level in central"
"$BIN" scan "$(url central)" --columns region,level --format csv | tail -n +2 |
	awk -F, '{ n[$1","$2]++; t[$1]++ } END {
		printf "  %-10s %-8s %8s\n", "REGION", "LEVEL", "ROWS"
		for (k in n) { split(k, p, ","); printf "  %-10s %-8s %8d\n", p[1], (p[2] == "" ? "(null)" : p[2]), n[k] }
		for (r in t) printf "  %-10s %-8s %8d\n", r, "total", t[r]
	}' | sort

say "clone the central table to a DR location: demo-out/dr/central"
"$BIN" clone "$(url central)" "$(url dr/central)"

say "the DR copy matches"
src_v=$(field version "$(url central)")
dst_v=$(field version "$(url dr/central)")
src_n=$(field records "$(url central)")
dst_n=$(field records "$(url dr/central)")
printf '  %-8s version %s, %s records\n  %-8s version %s, %s records\n' central "$src_v" "$src_n" dr "$dst_v" "$dst_n"
dr_rows=$(count "$(url dr/central)")
echo "  rows scanned from the DR copy: $dr_rows"
if [[ $src_v != "$dst_v" || $src_n != "$dst_n" || $dr_rows != "$src_n" ]]; then
	echo "demo: the DR copy does not match" >&2
	exit 1
fi

say "demo finished in $((SECONDS - T0))s: three regions, one central table, one DR copy, all under demo-out/"
