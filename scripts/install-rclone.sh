#!/usr/bin/env bash
# Installs rclone (Debian's package) if it is not on PATH. The clone
# benchmark (make bench, package replicate) runs `rclone copy` on the same
# files as `loglake clone` to report a ratio; without rclone that half is
# skipped with a message.
set -euo pipefail

if command -v rclone >/dev/null 2>&1; then
	exit 0
fi
SUDO=
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-rclone: not root and no sudo; install rclone by hand" >&2; exit 1; }
	SUDO=sudo
fi
echo "install-rclone: installing rclone with apt-get" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rclone >/dev/null
rclone version | head -1 >&2
