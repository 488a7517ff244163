#!/usr/bin/env bash
# `make bench`: every package's benchmarks, with the S3 emulator up so the
# clone benchmark can compare against rclone on S3 too, and the heavier
# benchmarks behind the `bench` build tag. Heavy
# benchmarks run once each (a first run longer than BENCHTIME ends them).
# Settings: BENCH (regexp, default .), BENCHTIME (default 200ms),
# LOGLAKE_BENCH_INGEST_* (below), LOGLAKE_BENCH_CLONE_MB and the others named in
# each benchmark's comment.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
EMU=scripts/emulators.sh

started_here=0
if ! "$EMU" status -q; then
	started_here=1
fi
trap '((started_here)) && "$EMU" stop' EXIT
"$EMU" start || exit 1
eval "$("$EMU" env)"

# Ingest vs DuckDB, each in its own process with 2 threads, on the shapes of
# internal/benchlogs (generated once into $TMPDIR/loglake-benchlogs):
# LOGLAKE_BENCH_INGEST_BYTES per shape (default 300 MB), _RUNS (default 3),
# _SHAPES (comma-separated, default all); LOGLAKE_BENCH_INGEST_1GIB=1 adds a
# 1 GiB round on iso-nested and epoch-short.
"$GO" build -o bin/loglake ./cmd/loglake || exit 1
"$GO" build -o bin/ingestbench ./internal/benchlogs/ingestbench || exit 1
bin/ingestbench -loglake bin/loglake -bytes "${LOGLAKE_BENCH_INGEST_BYTES:-300000000}" \
	-runs "${LOGLAKE_BENCH_INGEST_RUNS:-3}" -shapes "${LOGLAKE_BENCH_INGEST_SHAPES:-}" || exit 1
if [[ -n ${LOGLAKE_BENCH_INGEST_1GIB:-} ]]; then
	bin/ingestbench -loglake bin/loglake -bytes 1073741824 -runs "${LOGLAKE_BENCH_INGEST_RUNS:-3}" \
		-shapes iso-nested,epoch-short || exit 1
fi

# The ingested-files index at 10 M landed keys: stored size, restart time, heap, peak RSS (docs/ingest.md).
LOGLAKE_BENCH_INDEX=1 "$GO" test -run '^TestIndexAt10MKeys$' -v -timeout 30m ./ingest | grep -E 'keys|^(ok|FAIL|---)' || exit 1

"$GO" test -tags bench -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-200ms}" \
	-benchmem -count=1 -timeout 90m ./...
