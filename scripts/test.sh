#!/usr/bin/env bash
# The full test run behind `make test` and .ci/run:
#   1. install (pinned, cached) and start the storage emulators
#   2. go vet ./..., and scripts/check-deploy.sh (deploy/ files)
#   3. unit tests: go test ./... except integration, with the emulator env set
#      (packages may use LOGLAKE_TEST_*_URL for their conformance suites)
#   4. fuzz: every fuzz target really fuzzes for TEST_FUZZTIME each (default
#      15s: the slowest, FuzzDecodeCommit, spends ~11 s replaying its seeds
#      before it mutates) (scripts/fuzz.sh; `make fuzz` runs it longer)
#   5. integration tests: go test ./integration/... with LOGLAKE_INTEGRATION=1
#   6. stop the emulators it started, whatever happened
# Every step runs even if an earlier one failed; the exit status is non-zero
# if any failed. Emulators that were already running before (e.g. from
# `make emulators-start`) are reused and left running.
#
# Settings: GO (default go), GOTEST_FLAGS (extra flags for both go test runs),
# TEST_FUZZTIME (per fuzz target, default 15s),
# UNIT_TIMEOUT (default 20m), INTEGRATION_TIMEOUT (default 30m), and those of
# scripts/emulators.sh.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
EMU=scripts/emulators.sh
UNIT_TIMEOUT=${UNIT_TIMEOUT:-20m}
INTEGRATION_TIMEOUT=${INTEGRATION_TIMEOUT:-30m}
read -r -a extra <<<"${GOTEST_FLAGS:-}"

failed=()
step() { # name cmd...
	local name=$1 t0=$SECONDS
	shift
	echo "==> $name"
	if "$@"; then
		echo "==> $name: ok ($((SECONDS - t0))s)"
	else
		echo "==> $name: FAILED ($((SECONDS - t0))s)"
		failed+=("$name")
	fi
}

started_here=0
stop_emulators() {
	if ((started_here)); then
		echo "==> stopping emulators"
		"$EMU" stop || echo "==> WARNING: emulators.sh stop failed"
		started_here=0
	fi
}
trap stop_emulators EXIT
trap 'echo "==> interrupted"; exit 130' INT TERM

if "$EMU" status -q; then
	echo "==> emulators already running: reusing them and leaving them running"
else
	started_here=1
fi
step "emulators start" "$EMU" start
emulators_ok=$((${#failed[@]} == 0))
if ((emulators_ok)); then
	eval "$("$EMU" env)"
fi

step "go vet" "$GO" vet ./...

# One loglake binary for the steps that run it (linking DuckDB is slow):
# the deploy checks and the integration tests use it through LOGLAKE_BIN.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"; stop_emulators' EXIT
step "build" "$GO" build -o "$bindir/loglake" ./cmd/loglake
if [[ -x $bindir/loglake ]]; then
	export LOGLAKE_BIN=$bindir/loglake
fi

# Dockerfile, Kubernetes manifests, alert rules and dashboard (installs
# promtool and the deploy checker on first use).
step "deploy checks" scripts/check-deploy.sh

mapfile -t unit_pkgs < <("$GO" list ./... | grep -v '/integration$' | grep -v '/integration/')
if ((${#unit_pkgs[@]} > 0)); then
	step "unit tests" "$GO" test -count=1 -timeout "$UNIT_TIMEOUT" "${extra[@]}" "${unit_pkgs[@]}"
else
	step "unit tests" false
fi

step "fuzz" env FUZZTIME="${TEST_FUZZTIME:-15s}" GO="$GO" scripts/fuzz.sh

if ((emulators_ok)); then
	step "integration tests" "$GO" test -count=1 -timeout "$INTEGRATION_TIMEOUT" "${extra[@]}" ./integration/...
else
	echo "==> integration tests: not run, the emulators did not start"
	failed+=("integration tests (emulators down)")
fi

stop_emulators
if ((${#failed[@]} > 0)); then
	echo "==> make test FAILED: ${failed[*]}"
	exit 1
fi
echo "==> make test passed"
