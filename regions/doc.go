// Package regions owns a region's configuration and its daemon.
//
// A region is one regional Delta table fed from a landing location by an
// ingest loop, and an egress loop that forwards the table's approved rows to
// the central table. Its configuration is one YAML file (see
// docs/regions.md): Load reads and validates it, naming the field and line of
// every problem; Daemon runs the region's loops concurrently with a
// Prometheus /metrics and a /healthz endpoint, and drains both loops when its
// context is cancelled (SIGTERM in `loglake run`).
//
// Several daemons of the same region may run at once: ingest and egress both
// commit their progress in the same commit as their data (txn actions), so a
// second instance never duplicates rows; it only does some wasted work.
package regions
