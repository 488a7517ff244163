// Package fileio is the lower of table's two layers: Delta data files as
// Parquet and Arrow, with no knowledge of the log. It owns the Delta type
// system and its mapping to Arrow (schema.go), writing a Parquet data file
// and collecting its add.stats (write.go, stats.go; flat schemas column by
// column, colwrite.go, with file-wide dictionaries, dict.go; pages are
// compressed by the C zstd library, zstd_cgo.go), reading one back in the
// table's schema whatever the writer's types (read.go), Hive-style
// partition paths and partition values (partition.go), and Arrow values as
// plain Go values (values.go).
//
// Above it, package table holds the Delta log (actions, replay, snapshots,
// checkpoints, commits, protocol, the change feed and maintenance) and the
// pieces that tie the two layers: the table writer that rolls files and
// turns them into add actions (write.go), scans that prune a snapshot's adds
// by their stats and open them through ReadFile (scan.go), and checkpoints,
// which are Parquet but whose shape is the log's.
//
// Arrows point down: fileio imports neither table nor storage, so it can be
// read, tested and fuzzed alone (its stats, schema and partition-value
// parsers take untrusted bytes from the log). It is internal because nothing
// outside table needs it directly: table re-exports every exported name here
// as an alias (table/fileio.go), so callers keep writing table.Schema,
// table.NewFileWriter, table.ErrCorrupt and get the same types and error
// values. Errors keep their "table:" prefix for the same reason: to a caller
// they are the table's errors.
package fileio
