#!/usr/bin/env bash
# `make bench`: every package's benchmarks, with the S3 emulator up so the
# clone benchmark can compare against rclone on S3 too, and the heavier
# benchmarks behind the `bench` build tag (ingest vs DuckDB). Heavy
# benchmarks run once each (a first run longer than BENCHTIME ends them).
# Settings: BENCH (regexp, default .), BENCHTIME (default 200ms),
# LOGLAKE_BENCH_INGEST_BYTES, LOGLAKE_BENCH_CLONE_MB and the others named in
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
export LOGLAKE_BENCH_INGEST_BYTES=${LOGLAKE_BENCH_INGEST_BYTES:-1073741824}
"$GO" test -tags bench -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-200ms}" \
	-benchmem -count=1 -timeout 90m ./...
