#!/usr/bin/env bash
# `make bench`: every benchmark, side by side in one run, with the S3, GCS
# and Azure emulators up (clone vs rclone on S3, the central commit rate on
# all three), the heavier benchmarks behind the `bench` build tag.
#
# The run is a list of parts, one line each below: `part NAME BUDGET CMD…`.
# A part runs under a wall-clock budget in seconds (about 20 minutes in all
# on the 2-core machine this project is built on when it is otherwise idle);
# a part that overruns is stopped and reported, and the run goes on. At the
# end a summary prints each part's time and status, then every ratio line
# (loglake vs DuckDB, vs rclone, before vs after) from the whole output.
# To add a benchmark: a Go benchmark in a package below runs in that
# package's part; anything else (or a heavy benchmark that needs its own
# budget, then excluded from its package's part with -skip) is one more
# `part` line, e.g. `part optimize 120 gobench -bench Optimize ./table` (a
# later -bench replaces gobench's `-bench .`).
#
# Settings: PARTS (comma-separated part names to run, default all),
# BENCH_BUDGET_SCALE (multiplies every budget, e.g. 3 on a loaded machine),
# BENCHTIME (default 200ms), BENCH_OUT (default bin/bench.log, the whole
# output), LOGLAKE_BENCH_INGEST_* (below), and the LOGLAKE_BENCH_*
# variables named in each benchmark's comment.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
EMU=scripts/emulators.sh
OUT=${BENCH_OUT:-bin/bench.log}
mkdir -p "$(dirname "$OUT")"
exec > >(tee "$OUT") 2>&1

started_here=0
if ! "$EMU" status -q; then
	started_here=1
fi
trap '((started_here)) && "$EMU" stop' EXIT
"$EMU" start || exit 1
eval "$("$EMU" env)"
"$GO" build -o bin/loglake ./cmd/loglake || exit 1
"$GO" build -o bin/ingestbench ./internal/benchlogs/ingestbench || exit 1

summary=()
# part NAME BUDGET CMD…: runs CMD as one part of the benchmark run.
part() {
	local name=$1 budget=$2
	shift 2
	if [[ -n ${PARTS:-} && ",$PARTS," != *",$name,"* ]]; then
		return
	fi
	budget=$((budget * ${BENCH_BUDGET_SCALE:-1}))
	echo
	echo "=== part $name (budget ${budget}s): $*"
	local t0=$SECONDS rc
	timeout -k 10 "$budget" bash -c '"$@"' part "$@"
	rc=$?
	local status=ok
	case $rc in
	0) ;;
	124 | 137) status="STOPPED at its budget" ;;
	*) status="FAILED (exit $rc)" ;;
	esac
	summary+=("$(printf '%-10s %5ss of %5ss  %s' "$name" $((SECONDS - t0)) "$budget" "$status")")
}

# gobench PKG… [flags]: the Go benchmarks of packages, once each (a first
# run longer than BENCHTIME ends a benchmark).
gobench() {
	"$GO" test -tags bench -run '^$' -bench . -benchtime "${BENCHTIME:-200ms}" -benchmem -count=1 -timeout 60m "$@"
}
export -f gobench
export GO

# Ingest vs DuckDB, each in its own process with 2 threads, on the shapes of
# internal/benchlogs (generated once into $TMPDIR/loglake-benchlogs):
# LOGLAKE_BENCH_INGEST_BYTES per shape (default 300 MB), _RUNS (default 3),
# _SHAPES (comma-separated, default all); LOGLAKE_BENCH_INGEST_1GIB=1 adds a
# 1 GiB round on iso-nested and epoch-short.
part ingest 300 bin/ingestbench -loglake bin/loglake -bytes "${LOGLAKE_BENCH_INGEST_BYTES:-300000000}" \
	-runs "${LOGLAKE_BENCH_INGEST_RUNS:-3}" -shapes "${LOGLAKE_BENCH_INGEST_SHAPES:-}"
if [[ -n ${LOGLAKE_BENCH_INGEST_1GIB:-} ]]; then
	part ingest1g 600 bin/ingestbench -loglake bin/loglake -bytes 1073741824 -runs "${LOGLAKE_BENCH_INGEST_RUNS:-3}" \
		-shapes iso-nested,epoch-short
fi
part table 240 gobench -skip LogGrowth ./table/...
# History growth to 100,000 commits, retention on and off (docs/maintenance.md;
# LOGLAKE_BENCH_LOG_COMMITS, LOGLAKE_BENCH_LOG_COMMITS_OFF scale it).
part history 240 gobench -bench LogGrowth ./table
# The central commit rate: 50 regions × 2 source versions on file://, S3,
# GCS and Azure (docs/benchmarks.md's figures: LOGLAKE_BENCH_COMMIT_VERSIONS=4).
export LOGLAKE_BENCH_COMMIT_VERSIONS=${LOGLAKE_BENCH_COMMIT_VERSIONS:-2}
part egress 300 gobench ./egress
part clone 150 gobench ./replicate
part query 180 gobench ./query
part e2e 60 gobench ./regions
part rest 90 gobench ./ingest ./storage ./internal/... ./cmd/...

# The ingested-files index at 10 M landed keys: stored size, restart time,
# heap, peak RSS (docs/ingest.md); LOGLAKE_BENCH_INDEX_KEYS scales it.
part index 240 env LOGLAKE_BENCH_INDEX=1 "$GO" test -run '^TestIndexAt10MKeys$' -v -timeout 30m ./ingest

echo
echo "=== summary (whole output in $OUT)"
printf '%s\n' "${summary[@]}"
echo
echo "=== ratios"
grep -E '×|[0-9.]+x\b|-x |/duckdb|/rclone|speedup' "$OUT" | grep -v '^=== ' || true
