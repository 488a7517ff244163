// Package table is loglake's Delta Lake table: actions, log replay,
// snapshots, checkpoints, commits with optimistic concurrency over
// put-if-absent, Parquet data files with statistics, scans with pruning, time
// travel, history and the change feed.
//
// A table is a storage.Bucket whose _delta_log/ holds commits N as
// %020d.json, written put-if-absent so exactly one writer wins each version.
// loglake writes the lowest protocol a table's columns and properties need
// (reader 1 / writer 2 by default) and reads any
// table whose protocol and features it implements; anything else is refused
// with ErrUnsupportedFeature naming the feature, never misread.
//
// Only this package reads _delta_log/. Above it, the log is seen through
// snapshots and the gated change feed (Feed), which applies each commit's
// protocol and metaData in order and stops with a FeatureError at the first
// commit loglake cannot read. Every file path a log names (add, remove, cdc,
// deletion vector) is validated once, by FileKey, as the log is decoded:
// never under _delta_log/ or _loglake/, never escaping the table root, never
// absolute.
//
// The package is the upper of two layers. Parquet and Arrow file I/O (the
// Delta type system, data file writing and reading, statistics, partition
// paths and values) lives below it in table/internal/fileio, which knows
// nothing of the log; its names are re-exported here (fileio.go) so callers
// see one package. What needs both layers stays here: the table writer that
// turns files into add actions (write.go) and scans that prune a snapshot's
// adds and read them (scan.go).
package table
