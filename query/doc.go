// Package query runs SQL over Delta table snapshots with embedded DuckDB.
//
// An [Engine] is one in-memory DuckDB database. [Engine.Register] resolves a
// snapshot of a table (any version), prunes its files with an optional
// predicate in the table/expr language, and creates a DuckDB VIEW over the
// surviving Parquet files. loglake, not DuckDB, reads the Delta log, so the
// view is exactly the snapshot: removed files are not in it, partition
// columns (which Delta does not store in data files) are added as typed
// constants per file group, columns missing from older files read as NULL,
// and every column has the type the Delta schema gives it.
//
// Files of file:// tables are read in place. Files of remote tables (s3, gs,
// azblob, mem) are first copied into a local [Cache] of immutable files:
// Delta data files are never rewritten under the same name, so a cached copy
// keyed by table URL, path and size never goes stale.
//
// DuckDB runs with extension autoloading and autoinstalling off: everything
// the engine needs (Parquet, ICU time zones, JSON) is linked into the binary,
// and a query never reaches the network.
package query
