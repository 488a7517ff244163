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
# Braces: bash reads the whole script before it runs any of it, so editing
# this file during a run (it lasts ~20 minutes) cannot change the run.
{
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
total_budget=0 total_cpu=0 total_cpu_bound=
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
	local t0=$SECONDS rc cpu=? rus u s
	# CPU-seconds (user+sys of the part's whole process tree) predict its
	# time on an idle machine; wall time on a shared one does not. At its
	# budget a part gets SIGINT, on which `go test` waits for its test
	# binary, so the CPU of what ran is still counted (a lower bound then).
	rus=$(mktemp)
	/usr/bin/time -o "$rus" -f '%U %S' timeout -s INT -k 10 "$budget" bash -c '"$@"' part "$@"
	rc=$?
	# The last line: /usr/bin/time prefixes "Command exited with non-zero status".
	read -r u s _ < <(tail -n 1 "$rus") && cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", u + s }')
	rm -f "$rus"
	local status=ok
	case $rc in
	0) ;;
	124 | 137) status="STOPPED at its budget" cpu=">=$cpu" ;;
	*) status="FAILED (exit $rc)" ;;
	esac
	total_budget=$((total_budget + budget))
	[[ ${cpu#>=} =~ ^[0-9]+$ ]] && total_cpu=$((total_cpu + ${cpu#>=}))
	[[ $cpu == ">="* ]] && total_cpu_bound=">="
	summary+=("$(printf '%-10s %5ss of %5ss  %6s CPU-s  %s' "$name" $((SECONDS - t0)) "$budget" "$cpu" "$status")")
}

# gobench PKG… [flags]: the Go benchmarks of packages, once each (a first
# run longer than BENCHTIME ends a benchmark).
gobench() {
	"$GO" test -vet=off -tags bench -run '^$' -bench . -benchtime "${BENCHTIME:-200ms}" -benchmem -count=1 -timeout 60m "$@"
}
# gotest PKG FLAGS…: PKG's tests (bench tag included) from a test binary
# under bin/bench/, run in PKG's directory as `go test` runs it; FLAGS are
# the binary's own (-test.run …). For packages that several parts run:
# `go test` links a new binary on every call (≈10 CPU-s with DuckDB in
# it), `go test -c` only when a source changed, so the first part using
# PKG links it and the others reuse it.
gotest() {
	local pkg=$1 bin
	shift
	bin=$PWD/bin/bench/${pkg//\//-}.test
	"$GO" test -vet=off -tags bench -c -o "$bin" "./$pkg" || return
	(cd "$pkg" && "$bin" -test.count=1 -test.timeout=60m "$@")
}
# binbench PKG FLAGS…: gobench through gotest, for one package.
binbench() {
	local pkg=$1
	shift
	gotest "$pkg" -test.run '^$' -test.bench . -test.benchtime "${BENCHTIME:-200ms}" -test.benchmem "$@"
}
export -f gobench gotest binbench
# Test binaries ask runtime.GOROOT() for the go command (rsstest.Build);
# `go test` sets GOROOT for them, a binary run directly needs it set.
GOROOT=$("$GO" env GOROOT)
export GO GOROOT

# Fixtures that cost minutes to build (generated logs, the central-like
# table) are kept between runs under CACHE, each in a directory named by
# srckey of the code that builds it: a change to that code (or to go.mod,
# which pins the encoders) builds a fresh one, an unchanged tree reuses it.
CACHE=${LOGLAKE_BENCH_CACHE:-${LOGLAKE_CACHE:-$HOME/.cache/loglake}/bench}
mkdir -p "$CACHE"
# Every temporary directory of the run (Go's t.TempDir, b.TempDir) goes
# under a directory of its own, removed at the end. A run that was killed
# cannot remove its own, so each run holds a lock on its directory while it
# lives, and a new run removes the directories whose lock nobody holds: a
# killed run's leftovers (once 34 GB in /tmp) never accumulate, and a run
# beside this one keeps its files.
for d in "$CACHE"/tmp.*/; do
	[[ -d $d ]] && flock -n "$d.lock" rm -rf "$d"
done
export TMPDIR
TMPDIR=$(mktemp -d "$CACHE/tmp.XXXXXX")
exec {tmplock}>"$TMPDIR/.lock"
flock -n "$tmplock"
trap '((started_here)) && "$EMU" stop; rm -rf "$TMPDIR"' EXIT
# srckey PATH…: 12 hex digits of the SHA-256 of the files named, and of the
# non-test .go files under each directory named, in a fixed order.
srckey() {
	local p
	for p in "$@"; do
		if [[ -d $p ]]; then
			find "$p" -name '*.go' ! -name '*_test.go' | LC_ALL=C sort
		else
			echo "$p"
		fi
	done | xargs cat | sha256sum | cut -c1-12
}
# cached NAME KEY: prints CACHE/NAME-KEY (its time stamp renewed) and
# deletes the other NAME-* directories unused for a day (fixtures of older
# code, up to gigabytes each; a day, so that runs of two trees at once do
# not delete each other's).
cached() {
	local d=$CACHE/$1-$2
	mkdir -p "$d" && touch "$d"
	find "$CACHE" -mindepth 1 -maxdepth 1 -name "$1-*" ! -path "$d" -mtime +0 -exec rm -rf {} +
	echo "$d"
}

# Budgets are for a run whose fixtures are cached; a part that must first
# build its fixture (the first run on a clean clone, or after its generator
# changed) gets the extra seconds named below, shown in its budget.
#
# Ingest vs DuckDB, each in its own process with 2 threads, on the shapes of
# internal/benchlogs (generated once per generator version under CACHE):
# LOGLAKE_BENCH_INGEST_BYTES per shape (default 300 MB), _RUNS (default 5),
# _SHAPES (comma-separated, default all); LOGLAKE_BENCH_INGEST_1GIB=1 adds a
# 1 GiB round on iso-nested and epoch-short.
benchlogs=$(cached benchlogs "$(srckey internal/benchlogs/benchlogs.go go.mod)")
ingest_bytes=${LOGLAKE_BENCH_INGEST_BYTES:-300000000}
cold=0
compgen -G "$benchlogs/*-$ingest_bytes/_complete" >/dev/null || cold=60
part ingest $((300 + cold)) bin/ingestbench -loglake bin/loglake -data "$benchlogs" -bytes "$ingest_bytes" \
	-runs "${LOGLAKE_BENCH_INGEST_RUNS:-5}" -shapes "${LOGLAKE_BENCH_INGEST_SHAPES:-}"
if [[ -n ${LOGLAKE_BENCH_INGEST_1GIB:-} ]]; then
	part ingest1g 600 bin/ingestbench -loglake bin/loglake -data "$benchlogs" -bytes 1073741824 \
		-runs "${LOGLAKE_BENCH_INGEST_RUNS:-3}" -shapes iso-nested,epoch-short
fi
# Peak RSS of `loglake ingest --once` on one 2 GiB landing batch (budget
# 512 MiB); the batch (internal/loggen; the test keeps it in TMPDIR) is
# generated once under CACHE.
rsslanding=$(cached ingestrss "$(srckey internal/loggen go.mod)")
cold=0
compgen -G "$rsslanding/loglake-rss-landing-*/.complete" >/dev/null || cold=60
part ingestrss $((70 + cold)) env LOGLAKE_TEST_INGEST_RSS=1 TMPDIR="$rsslanding" \
	bash -c "gotest ingest -test.run '^TestIngestPeakRSS$' -test.v"
# The ingested-files index at 10 M landed keys (stored size, restart time,
# heap, peak RSS; LOGLAKE_BENCH_INDEX_KEYS scales it) and at 10,000 one-file
# batches (objects and bytes stored), docs/ingest.md.
part index 70 env LOGLAKE_BENCH_INDEX=1 \
	bash -c "gotest ingest -test.run '^(TestIndexAt10MKeys|TestIndexSegmentsStayBounded)$' -test.v"
# BenchmarkOpen's tables (1,000 and 10,000 commits) are kept under CACHE:
# built through table.Commit, one fsynced commit at a time, they cost more
# than the benchmark.
opentables=$(cached opentables "$(srckey table/bench_test.go table storage go.mod)")
cold=0
[[ -e $opentables/history-10000-1000/_delta_log/00000000000000010000.json ]] || cold=60
part table $((100 + cold)) env LOGLAKE_BENCH_OPEN_DIR="$opentables" bash -c \
	"binbench table -test.skip 'LogGrowth|OptimizeVsDuckDB'; rc=\$?; gobench ./table/expr ./table/internal/fileio && exit \$rc"
# OPTIMIZE vs DuckDB's COPY on 100 small files (LOGLAKE_BENCH_OPTIMIZE_FILES,
# _RUNS), and the peak RSS of `loglake optimize` compacting 2 GiB, plain and
# with --sort-by, two processes at once on one fixture
# (LOGLAKE_TEST_OPTIMIZE_RSS_BYTES scales it).
part optimize 120 binbench table -test.bench OptimizeVsDuckDB
part optimizerss 420 env LOGLAKE_TEST_OPTIMIZE_RSS=1 bash -c "gotest table -test.run '^TestOptimizePeakRSS$' -test.v"
# History growth, one writer, retention on and off (docs/maintenance.md):
# 12,500 commits 8 minutes apart span the same 69 days as the issue's
# 100,000 a minute apart, so the 30-day log and 7-day tombstone retention
# act as there, at an eighth of the commits (the run without retention
# costs the square of the commits: every checkpoint rewrites every
# tombstone). LOGLAKE_BENCH_LOG_COMMITS, _STEP, _COMMITS_OFF override.
part history 50 env LOGLAKE_BENCH_LOG_COMMITS="${LOGLAKE_BENCH_LOG_COMMITS:-12500}" \
	LOGLAKE_BENCH_LOG_STEP="${LOGLAKE_BENCH_LOG_STEP:-8m}" bash -c 'binbench table -test.bench LogGrowth'
# The central commit rate: 50 regions × LOGLAKE_BENCH_COMMIT_VERSIONS source
# versions on file://, S3, GCS and Azure; source → central latency.
export LOGLAKE_BENCH_COMMIT_VERSIONS=${LOGLAKE_BENCH_COMMIT_VERSIONS:-2}
part egress 90 gobench ./egress
# The full clone's source (1 GiB of incompressible Parquet) is kept under
# CACHE; clones only read it.
clonesrc=$(cached clonesrc "$(srckey replicate/bench_test.go table storage go.mod)")
cold=0
compgen -G "$clonesrc/*.complete" >/dev/null || cold=30
part clone $((150 + cold)) env LOGLAKE_BENCH_CLONE_DIR="$clonesrc" bash -c 'gobench ./replicate'
# The central-like table (20 regions × 500 commits = 10,000 files) is built
# once per version of its generator and of the table writer, under CACHE,
# with its OPTIMIZEd copies beside it.
central=$(cached central "$(srckey query/central_bench_test.go table storage go.mod)")/table
cold=0
[[ -e $central/_loglake_bench_done ]] || cold=240
part query $((200 + cold)) env LOGLAKE_BENCH_CENTRAL_DIR="$central" bash -c 'gobench ./query'
part e2e 60 binbench regions -test.bench EndToEnd
# The fleet runs 50 regions × 20 commits by default; the issue's day
# (LOGLAKE_BENCH_FLEET_COMMITS=2000, 100,000 commits per mode, ~35 min on
# an idle machine) gets a budget of its own:
#   LOGLAKE_BENCH_FLEET_COMMITS=2000 PARTS=fleet make bench
fleetbudget=30
[[ -n ${LOGLAKE_BENCH_FLEET_COMMITS:-} ]] && fleetbudget=$((120 + 3 * ${LOGLAKE_BENCH_FLEET_COMMITS}))
part fleet $fleetbudget binbench regions -test.bench Fleet -test.timeout 6h
# The live fork runbook on the emulators (freshness per step).
part livefork 90 env LOGLAKE_INTEGRATION=1 "$GO" test -run '^TestLiveFork$' -v -count=1 -timeout 30m ./integration
# The packages not named above that hold benchmarks (linking a test binary
# for each of the others cost seconds for nothing); ingest's binary is the
# one ingestrss and index linked.
mapfile -t rest < <(grep -rlE --include='*_test.go' '^func Benchmark' storage internal cmd |
	xargs -r -n1 dirname | LC_ALL=C sort -u | sed 's|^|./|')
part rest 40 bash -c 'binbench ingest -test.skip IngestShapes && { (($# == 0)) || gobench "$@"; }' rest "${rest[@]}"

echo
echo "=== summary (whole output in $OUT; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"
printf '%-10s %5ss of %5ss  %6s CPU-s\n' total "$SECONDS" "$total_budget" "$total_cpu_bound$total_cpu"
echo
echo "=== ratios"
grep -E '×|[0-9.]+x\b|-x |/duckdb|/rclone|speedup' "$OUT" | grep -v '^=== ' || true
exit
}
