#!/usr/bin/env bash
# Installs what `scripts/check-deploy.sh` needs, if it is missing:
#   promtool   from Debian's prometheus package (check rules, test rules);
#              the package's service is not started (policy-rc.d), only the
#              tool is used
#   deploy/check  built from its own Go module (BuildKit's Dockerfile
#              linter, the Kubernetes API types, Prometheus' parsers) into
#              $LOGLAKE_CACHE/bin (default ~/.cache/loglake/bin)
# Idempotent and quiet when everything is there.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
CACHE=${LOGLAKE_CACHE:-$HOME/.cache/loglake}

if ! command -v promtool >/dev/null 2>&1; then
	SUDO=
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null 2>&1 || { echo "install-deploy-tools: not root and no sudo; install Debian's prometheus package by hand" >&2; exit 1; }
		SUDO=sudo
	fi
	echo "install-deploy-tools: installing promtool (Debian package prometheus) with apt-get" >&2
	$SUDO apt-get update -qq
	# Keep dpkg from starting the Prometheus server: only promtool is wanted.
	policy=/usr/sbin/policy-rc.d
	restore=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod +x "$policy"
		restore=1
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	if [[ -n $restore ]]; then
		$SUDO rm -f "$policy"
	fi
	promtool --version 2>&1 | head -1 >&2
fi

# The checker is rebuilt whenever its sources change (go build is a no-op
# on a warm cache).
mkdir -p "$CACHE/bin"
(cd deploy/check && "$GO" build -o "$CACHE/bin/loglake-deploy-check" .)
