// Package integration holds loglake's end-to-end tests: the whole pipeline
// (ingest, egress, replicate, query over Delta tables) and the storage layer,
// run against mem://, file:// and real storage emulators for S3 (versitygw),
// GCS (fake-gcs-server) and Azure Blob (Azurite).
//
// The tests run only when LOGLAKE_INTEGRATION=1; they then require every
// emulator URL to be set and reachable and fail loudly otherwise. `make test`
// starts the emulators and sets the environment; by hand:
//
//	scripts/emulators.sh start
//	eval "$(scripts/emulators.sh env)"
//	go test -count=1 ./integration/...
//	scripts/emulators.sh stop
//
// The package has no non-test code; nothing imports it.
package integration
