#!/usr/bin/env bash
# Validates deploy/ with the checkers of the tools that consume each file
# (make check-deploy; a step of make test). Installs them first if missing
# (scripts/install-deploy-tools.sh):
#   deploy/Dockerfile              BuildKit's linter (`docker build --check` rules) + image policy
#   deploy/k8s/*.yaml              strict decoding into the Kubernetes API types + cross-references
#   deploy/prometheus/alerts.yaml  promtool check rules, promtool test rules (alerts_test.yaml)
#   dashboard and rules            PromQL parsed by Prometheus' parser; every metric they name
#                                  must be in a real /metrics scrape of a running `loglake run`
#   deploy/check itself            go vet, gofmt, go mod tidy -diff (it is its own module)
# The region config inside the ConfigMap is validated by regions' unit
# tests (TestDeployConfigMap). Settings: GO, LOGLAKE_CACHE, LOGLAKE_BIN.
# Every check runs; the exit status is non-zero
# if any failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
CACHE=${LOGLAKE_CACHE:-$HOME/.cache/loglake}
CHECK=$CACHE/bin/loglake-deploy-check

scripts/install-deploy-tools.sh || { echo "check-deploy: installing the tools failed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=()
check() { # name cmd...
	local name=$1
	shift
	if "$@"; then
		echo "check-deploy: $name: ok"
	else
		echo "check-deploy: $name: FAILED"
		failed+=("$name")
	fi
}

check "Dockerfile lint" "$CHECK" dockerfile deploy/Dockerfile
check "Kubernetes manifests" "$CHECK" manifests deploy/k8s
check "promtool check rules" promtool check rules deploy/prometheus/alerts.yaml
check "promtool test rules" promtool test rules deploy/prometheus/alerts_test.yaml
# LOGLAKE_BIN: a loglake binary built from this tree (saves a link of
# DuckDB); default: build one.
bin=${LOGLAKE_BIN:-}
if [[ -z $bin ]]; then
	bin=$tmp/loglake
	"$GO" build -o "$bin" ./cmd/loglake || { failed+=("go build ./cmd/loglake"); bin=; }
fi
if [[ -n $bin ]]; then
	check "metrics in a live scrape" "$CHECK" metrics -loglake "$bin" deploy/grafana/*.json deploy/prometheus/alerts.yaml
fi
check "deploy/check go vet" bash -c "cd deploy/check && '$GO' vet ./..."
check "deploy/check gofmt" bash -c 'out=$(gofmt -l deploy/check); [[ -z $out ]] || { echo "gofmt -l: $out"; false; }'
check "deploy/check go mod tidy" bash -c "cd deploy/check && '$GO' mod tidy -diff"

if ((${#failed[@]} > 0)); then
	echo "check-deploy: FAILED: ${failed[*]}"
	exit 1
fi
echo "check-deploy: all passed"
