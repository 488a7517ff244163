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
package table
