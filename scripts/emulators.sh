#!/usr/bin/env bash
# Storage emulators for loglake's integration tests: versitygw (S3),
# fake-gcs-server (GCS) and Azurite (Azure Blob), all on 127.0.0.1 only.
#
#   scripts/emulators.sh install   build/install the pinned versions into the cache
#   scripts/emulators.sh start     install if needed, start all three, create the
#                                  test bucket in each and verify it end to end
#   scripts/emulators.sh env       print `export` lines for the tests
#   scripts/emulators.sh status    exit 0 iff all three are running (-q: silent)
#   scripts/emulators.sh stop      stop them and delete their data
#
# Typical use:  scripts/emulators.sh start && eval "$(scripts/emulators.sh env)"
#
# Settings (environment):
#   LOGLAKE_CACHE        cache root (default ~/.cache/loglake): bin/, node/, run/
#   LOGLAKE_EMU_STATE    pids, logs and data of running emulators (default $LOGLAKE_CACHE/run)
#   LOGLAKE_S3_PORT      versitygw port        (default 7070)
#   LOGLAKE_GCS_PORT     fake-gcs-server port  (default 4443)
#   LOGLAKE_AZURE_PORT   Azurite blob port     (default 10000)
#   LOGLAKE_TEST_BUCKET  bucket/container name (default loglake-test)
#   LOGLAKE_EMU_WAIT     seconds to wait for each emulator to listen (default 60)
#
# The credentials below are fixed, test-only values: versitygw's root user is
# whatever we pass it, and Azurite's account key is its public well-known key.
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
FAKE_GCS_VERSION=v1.56.1
AZURITE_VERSION=3.35.0

CACHE=${LOGLAKE_CACHE:-$HOME/.cache/loglake}
BIN=$CACHE/bin
NODE_PREFIX=$CACHE/node
STATE=${LOGLAKE_EMU_STATE:-$CACHE/run}
S3_PORT=${LOGLAKE_S3_PORT:-7070}
GCS_PORT=${LOGLAKE_GCS_PORT:-4443}
AZURE_PORT=${LOGLAKE_AZURE_PORT:-10000}
BUCKET=${LOGLAKE_TEST_BUCKET:-loglake-test}
WAIT_SECS=${LOGLAKE_EMU_WAIT:-60}
HOST=127.0.0.1

S3_ACCESS_KEY=loglaketestaccess
S3_SECRET_KEY=loglake-test-secret-not-for-production
S3_REGION=us-east-1
AZURE_ACCOUNT=devstoreaccount1
AZURE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

EMULATORS=(s3 gcs azure)
for p in "$S3_PORT" "$GCS_PORT" "$AZURE_PORT"; do
	[[ $p =~ ^[0-9]+$ ]] && ((p >= 1 && p <= 65535)) || { echo "emulators: ERROR: invalid port $p" >&2; exit 1; }
done
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

log() { printf 'emulators: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_of() {
	case $1 in
	s3) echo "$S3_PORT" ;;
	gcs) echo "$GCS_PORT" ;;
	azure) echo "$AZURE_PORT" ;;
	esac
}

# ---------------------------------------------------------------- install

# go_bin_version prints the main module version embedded in a Go binary.
go_bin_version() {
	[[ -x $1 ]] || return 0
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

install_go_tool() { # name module/path@version version
	local name=$1 pkg=$2 want=$3
	if [[ $(go_bin_version "$BIN/$name") == "$want" ]]; then
		log "$name $want already installed"
		return 0
	fi
	log "installing $name $want (go install, takes minutes on a cold cache)"
	mkdir -p "$BIN"
	# Run outside the repo so loglake's go.mod does not take part; never let the
	# go command switch toolchains behind our back.
	(cd "$CACHE" && GOBIN=$BIN GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go install "$pkg@$want") ||
		{ log "ERROR: go install $pkg@$want failed"; return 1; }
	[[ $(go_bin_version "$BIN/$name") == "$want" ]] || { log "ERROR: $BIN/$name is not $want after install"; return 1; }
}

azurite_version() {
	local pj=$NODE_PREFIX/node_modules/azurite/package.json
	[[ -f $pj && -x $NODE_PREFIX/node_modules/.bin/azurite-blob ]] || return 0
	node -p "require(process.argv[1]).version" "$pj" 2>/dev/null || true
}

install_azurite() {
	if [[ $(azurite_version) == "$AZURITE_VERSION" ]]; then
		log "azurite $AZURITE_VERSION already installed"
		return 0
	fi
	command -v npm >/dev/null || die "npm not found: Azurite needs Node.js and npm"
	log "installing azurite $AZURITE_VERSION (npm)"
	mkdir -p "$NODE_PREFIX"
	npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-save --loglevel=error \
		"azurite@$AZURITE_VERSION" >"$CACHE/npm-install.log" 2>&1 ||
		{ tail -n 30 "$CACHE/npm-install.log" >&2; log "ERROR: npm install azurite@$AZURITE_VERSION failed"; return 1; }
	[[ $(azurite_version) == "$AZURITE_VERSION" ]] || { log "ERROR: azurite is not $AZURITE_VERSION after install"; return 1; }
}

cmd_install() {
	command -v go >/dev/null || die "go not found"
	mkdir -p "$CACHE"
	local t0=$SECONDS npm_pid="" rc=0
	# npm is network-bound and go install CPU-bound: overlap them.
	install_azurite &
	npm_pid=$!
	install_go_tool versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION" || rc=1
	install_go_tool fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION" || rc=1
	wait "$npm_pid" || rc=1
	((rc == 0)) || die "install failed"
	log "install done in $((SECONDS - t0))s (cache: $CACHE)"
}

# ---------------------------------------------------------------- processes

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# read_pid prints the recorded pid of emulator $1, or nothing when there is
# none or it now belongs to some other program (a stale file after a reboot).
read_pid() {
	local pid marker
	pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 0
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	case $1 in
	s3) marker=$BIN/versitygw ;;
	gcs) marker=$BIN/fake-gcs-server ;;
	azure) marker=azurite-blob ;;
	esac
	if [[ -r /proc/$pid/cmdline ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"; then
		return 0
	fi
	echo "$pid"
}

# port_open succeeds when something accepts TCP connections on HOST:$1.
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

running() { # name: our process for it is alive and its port answers
	local pid
	pid=$(read_pid "$1")
	pid_alive "$pid" && port_open "$(port_of "$1")"
}

log_tail() {
	log "---- last lines of $STATE/$1.log ----"
	tail -n 40 "$STATE/$1.log" >&2 2>/dev/null || true
	log "---- end of $1.log ----"
}

launch() { # name cmd...: start cmd detached, stdout/stderr to its log
	local name=$1
	shift
	: >"$STATE/$name.log"
	# setsid puts the emulator in its own session so it outlives this shell and
	# a terminal's Ctrl-C; stdin/stdout/stderr are detached so that make and CI
	# do not wait on its pipes.
	if command -v setsid >/dev/null; then
		setsid "$@" </dev/null >>"$STATE/$name.log" 2>&1 &
	else
		nohup "$@" </dev/null >>"$STATE/$name.log" 2>&1 &
	fi
	echo $! >"$STATE/$name.pid"
}

start_one() {
	local name=$1 port
	port=$(port_of "$name")
	if running "$name"; then
		log "$name already running (pid $(read_pid "$name"), port $port)"
		return 0
	fi
	stop_many --quiet "$name" # leftovers of a crashed run
	if port_open "$port"; then
		die "$HOST:$port ($name) is already in use by another process; stop it or set LOGLAKE_$(tr a-z A-Z <<<"$name")_PORT"
	fi
	STARTED+=("$name")
	local data=$STATE/data/$name
	rm -rf "$data"
	mkdir -p "$data"
	case $name in
	s3)
		ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY VGW_REGION=$S3_REGION \
			launch s3 "$BIN/versitygw" --port "$HOST:$port" --health /health posix "$data"
		;;
	gcs)
		launch gcs "$BIN/fake-gcs-server" -host "$HOST" -port "$port" -scheme http \
			-public-host "$HOST:$port" -external-url "http://$HOST:$port" \
			-backend filesystem -filesystem-root "$data" -log-level warn
		;;
	azure)
		launch azure "$NODE_PREFIX/node_modules/.bin/azurite-blob" --blobHost "$HOST" --blobPort "$port" \
			--location "$data" --silent --skipApiVersionCheck --loose --disableTelemetry
		;;
	esac
}

wait_one() {
	local name=$1 port pid deadline
	port=$(port_of "$name")
	pid=$(read_pid "$name")
	deadline=$((SECONDS + WAIT_SECS))
	until port_open "$port"; do
		if ! pid_alive "$pid"; then
			log_tail "$name"
			die "$name exited before listening on $HOST:$port"
		fi
		if ((SECONDS >= deadline)); then
			log_tail "$name"
			die "$name did not listen on $HOST:$port within ${WAIT_SECS}s"
		fi
		sleep 0.2
	done
}

cmd_start() {
	mkdir -p "$STATE"
	local all_up=1 name
	for name in "${EMULATORS[@]}"; do running "$name" || all_up=0; done
	if ((all_up)); then
		log "all emulators already running; nothing to do"
		return 0
	fi
	cmd_install
	local t0=$SECONDS
	# On any failure below, stop what this invocation launched so that a
	# failed start leaves nothing behind.
	STARTED=()
	trap 'if ((${#STARTED[@]})); then log "start failed; stopping ${STARTED[*]}"; stop_many --quiet "${STARTED[@]}"; fi' EXIT
	for name in "${EMULATORS[@]}"; do start_one "$name"; done
	for name in "${EMULATORS[@]}"; do wait_one "$name"; done
	log "listening after $((SECONDS - t0))s; creating bucket $BUCKET and verifying"
	eval "$(cmd_env)"
	if ! (cd "$REPO_ROOT" && go run scripts/emuctl.go setup verify); then
		for name in "${EMULATORS[@]}"; do log_tail "$name"; done
		die "emulators started but the bucket setup/verify failed"
	fi
	trap - EXIT
	log "started in $((SECONDS - t0))s: s3 $HOST:$S3_PORT, gcs $HOST:$GCS_PORT, azure $HOST:$AZURE_PORT"
}

# stop_many stops the named emulators: SIGTERM to all at once, up to 10s for
# them to exit, then SIGKILL; their pid files and data are removed.
stop_many() { # [--quiet] name...
	local quiet=0 name pid i
	[[ ${1:-} == --quiet ]] && { quiet=1; shift; }
	local -A pids=()
	for name in "$@"; do
		pid=$(read_pid "$name")
		if pid_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids[$name]=$pid
		fi
	done
	for ((i = 0; i < 100; i++)); do
		local left=0
		for name in "${!pids[@]}"; do pid_alive "${pids[$name]}" && left=1; done
		((left)) || break
		sleep 0.1
	done
	for name in "${!pids[@]}"; do
		if pid_alive "${pids[$name]}"; then
			log "$name (pid ${pids[$name]}) ignored SIGTERM for 10s; killing it"
			kill -KILL "${pids[$name]}" 2>/dev/null || true
		fi
		((quiet)) || log "stopped $name (pid ${pids[$name]})"
	done
	for name in "$@"; do
		rm -f "$STATE/$name.pid"
		rm -rf "$STATE/data/$name"
	done
}

cmd_stop() {
	stop_many "${EMULATORS[@]}"
	rm -rf "$STATE/data"
}

cmd_status() {
	local quiet=0 rc=0 name
	[[ ${1:-} == -q ]] && quiet=1
	for name in "${EMULATORS[@]}"; do
		if running "$name"; then
			((quiet)) || echo "$name: running (pid $(read_pid "$name"), $HOST:$(port_of "$name"))"
		else
			((quiet)) || echo "$name: not running"
			rc=1
		fi
	done
	return $rc
}

cmd_env() {
	cat <<EOF
export LOGLAKE_INTEGRATION=1
export LOGLAKE_TEST_S3_URL='s3://$BUCKET?endpoint=http://$HOST:$S3_PORT&region=$S3_REGION&use_path_style=true'
export AWS_ACCESS_KEY_ID='$S3_ACCESS_KEY'
export AWS_SECRET_ACCESS_KEY='$S3_SECRET_KEY'
export AWS_REGION='$S3_REGION'
export AWS_EC2_METADATA_DISABLED=true
export LOGLAKE_TEST_GCS_URL='gs://$BUCKET'
export STORAGE_EMULATOR_HOST='$HOST:$GCS_PORT'
export LOGLAKE_TEST_AZURE_URL='azblob://$BUCKET'
export AZURE_STORAGE_ACCOUNT='$AZURE_ACCOUNT'
export AZURE_STORAGE_KEY='$AZURE_KEY'
export AZURE_STORAGE_DOMAIN='$HOST:$AZURE_PORT'
export AZURE_STORAGE_PROTOCOL=http
export AZURE_STORAGE_IS_LOCAL_EMULATOR=true
EOF
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status "${2:-}" ;;
*)
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
