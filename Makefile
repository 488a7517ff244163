# loglake's entry point. `make help` lists the targets.
#
# Storage emulators (versitygw, fake-gcs-server, Azurite) are installed at
# pinned versions into $(LOGLAKE_CACHE) (default ~/.cache/loglake) by
# scripts/emulators.sh; see that script for ports and settings.

GO        ?= go
BENCHTIME ?= 200ms
BENCH     ?= .
# Time per fuzz target for make fuzz (make test fuzzes 5s per target).
FUZZTIME  ?= 2m
# Extra flags for go test, e.g. make test GOTEST_FLAGS=-v or make test-unit GOTEST_FLAGS='-run TestCommit'.
GOTEST_FLAGS ?=
export GO GOTEST_FLAGS

.DEFAULT_GOAL := build
.PHONY: help build test test-unit test-integration lint bench fuzz demo deploy-tools check-deploy \
	emulators-install emulators-start emulators-stop emulators-status clean

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / { printf "  %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build bin/loglake
	$(GO) build -o bin/loglake ./cmd/loglake

test: ## everything CI runs: emulators, go vet, unit and integration tests; stops the emulators it started
	scripts/test.sh

test-unit: ## unit tests only, no emulators (integration skips itself)
	LOGLAKE_INTEGRATION= $(GO) test -count=1 -timeout 20m $(GOTEST_FLAGS) ./...

test-integration: emulators-start ## integration tests against running emulators (leaves them running)
	eval "$$(scripts/emulators.sh env)" && \
		$(GO) test -count=1 -timeout 30m $(GOTEST_FLAGS) ./integration/...

lint: ## gofmt, go vet, go mod tidy -diff, bash -n
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet scripts/emuctl.go
	$(GO) mod tidy -diff
	bash -n scripts/*.sh .ci/run

deploy-tools: ## install promtool (Debian's prometheus package) and build deploy/check
	scripts/install-deploy-tools.sh

check-deploy: ## validate deploy/: Dockerfile lint, strict Kubernetes decoding, promtool check/test rules, metrics vs a live scrape
	scripts/check-deploy.sh

bench: ## every benchmark, incl. ingest vs DuckDB and clone vs rclone (installs rclone, runs the emulators)
	scripts/install-rclone.sh
	scripts/bench.sh

fuzz: ## every fuzz target for FUZZTIME each (default 2m); new interesting inputs go to */testdata/fuzz to check in
	FUZZTIME=$(FUZZTIME) FUZZ_KEEP=1 scripts/fuzz.sh

demo: ## run scripts/demo.sh
	@if [ -f scripts/demo.sh ]; then bash scripts/demo.sh; \
	else echo "make demo: scripts/demo.sh does not exist yet"; exit 1; fi

emulators-install: ## install the pinned emulators into the cache
	scripts/emulators.sh install

emulators-start: ## start S3/GCS/Azure emulators on 127.0.0.1; then eval the output of scripts/emulators.sh env
	scripts/emulators.sh start

emulators-stop: ## stop the emulators and delete their data
	scripts/emulators.sh stop

emulators-status: ## show whether the emulators are running
	scripts/emulators.sh status

clean: emulators-stop ## stop emulators, remove bin/ and demo-out/ (the emulator cache stays)
	rm -rf bin demo-out
