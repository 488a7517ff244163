#!/usr/bin/env bash
# Runs every fuzz target in the repository for FUZZTIME each, one after the
# other: `make test` runs it with 5s per target (the whole list in about a
# minute), `make fuzz` longer. The list below must name every `func Fuzz…`
# in the tree; the script fails if one is missing, so a new parser's target
# cannot be forgotten.
#
# Settings:
#   FUZZTIME      per target, as go test -fuzztime (default 5s)
#   FUZZ_PARALLEL fuzzing workers per target (default 2: this is a 2-core box)
#   FUZZ_KEEP=1   afterwards copy the new interesting inputs the fuzzer found
#                 (the Go fuzz cache) into <pkg>/testdata/fuzz/<target>/ to be
#                 checked in, at most FUZZ_KEEP_MAX (default 30) per target,
#                 smallest first. Those files are also run by every plain
#                 `go test`, as regression seeds.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
FUZZ_PARALLEL=${FUZZ_PARALLEL:-2}
FUZZ_KEEP=${FUZZ_KEEP:-0}
FUZZ_KEEP_MAX=${FUZZ_KEEP_MAX:-30}

# package:target — every parser of untrusted bytes.
targets=(
	./table:FuzzDecodeCommit          # commit JSON (actions)
	./table:FuzzReadCheckpoint        # Parquet checkpoints
	./table/internal/fileio:FuzzParseSchema # metaData.schemaString
	./table/internal/fileio:FuzzParseStats # add.stats JSON
	./table/internal/fileio:FuzzDecodeStats # the fast stats decoder agrees with encoding/json
	./table/internal/fileio:FuzzDecodeStatsPlain # the plain-shape stats decoder agrees with encoding/json
	./table/internal/fileio:FuzzParseStatsOf # the stats of some columns are exactly those of all, restricted
	./table/internal/fileio:FuzzParsePartitionValue # partitionValues strings
	./table/internal/fileio:FuzzFoldName # column-name folding agrees with strings.EqualFold
	./table/expr:FuzzParse            # predicates (--where, egress, invariants, CHECK)
	./ingest:FuzzNDJSONLine           # NDJSON lines against encoding/json
	./ingest:FuzzDecodeFile           # whole NDJSON / CSV landing files
	./ingest:FuzzTimeText             # timestamps in log lines
	./regions:FuzzParse               # region YAML
)

# Every Fuzz function in the tree must be listed.
missing=0
while IFS=: read -r file name; do
	pkg="./$(dirname "$file")"
	found=0
	for t in "${targets[@]}"; do
		[[ $t == "$pkg:$name" ]] && found=1
	done
	if ((!found)); then
		echo "fuzz.sh: $pkg:$name is not in the target list" >&2
		missing=1
	fi
done < <(grep -r -o -P --include='*_test.go' --exclude-dir='.?*' --exclude-dir=testdata '^func \KFuzz\w+' . | sed 's|^\./||')
((missing)) && exit 1

# fuzz_once PKG NAME fuzzes one target for FUZZTIME. Go's fuzzing engine
# sometimes ends a run that found nothing with "context deadline exceeded"
# (a worker still busy when -fuzztime runs out, more likely on a loaded
# machine): such a run, with no new failing input written, is repeated once;
# a second one fails.
fuzz_once() {
	local pkg=$1 name=$2 out try
	out=$(mktemp)
	for try in 1 2; do
		local before
		before=$(find "$pkg/testdata/fuzz/$name" -type f 2>/dev/null | wc -l)
		# -fuzzminimizetime 2s: shrinking each new interesting input takes up
		# to 60 s by default, which left FuzzReadCheckpoint (inputs of tens of
		# KB) almost no time to fuzz in a short run.
		"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 2s -parallel "$FUZZ_PARALLEL" "$pkg" 2>&1 | tee "$out"
		if ((PIPESTATUS[0] == 0)); then
			rm -f "$out"
			return 0
		fi
		if ((try == 1)) && grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out" &&
			(($(find "$pkg/testdata/fuzz/$name" -type f 2>/dev/null | wc -l) == before)); then
			echo "==> fuzz $pkg $name: the engine stopped with 'context deadline exceeded' and no failing input; once more"
			continue
		fi
		break
	done
	rm -f "$out"
	return 1
}

cache=$("$GO" env GOCACHE)/fuzz
failed=()
for t in "${targets[@]}"; do
	pkg=${t%%:*} name=${t##*:}
	echo "==> fuzz $pkg $name ($FUZZTIME)"
	if ! fuzz_once "$pkg" "$name"; then
		failed+=("$pkg:$name")
		echo "==> $pkg $name FAILED: a failing input is in $pkg/testdata/fuzz/$name/ — fix the bug, keep the file"
	fi
	if [[ $FUZZ_KEEP == 1 ]]; then
		src=$cache/$("$GO" list "$pkg")/$name
		dst=$pkg/testdata/fuzz/$name
		if [[ -d $src ]]; then
			mkdir -p "$dst"
			have=$(find "$dst" -type f | wc -l)
			# Smallest new inputs first: they are the readable ones.
			find "$src" -type f -printf '%s %p\n' | sort -n | while read -r _ f; do
				((have >= FUZZ_KEEP_MAX)) && break
				[[ -e $dst/$(basename "$f") ]] && continue
				cp "$f" "$dst/" && have=$((have + 1))
			done
		fi
	fi
done
if ((${#failed[@]} > 0)); then
	echo "==> fuzz FAILED: ${failed[*]}"
	exit 1
fi
echo "==> fuzz: ${#targets[@]} targets ok"
