//go:build unix

package storage

import "syscall"

// filePerm is the mode of files written to file:// buckets: 0666 less the
// process umask, as os.Create would give them (os.CreateTemp's 0600 would
// keep the table from other users' Spark, Trino or DuckDB). The umask can
// only be read by setting it, so it is read once, before anything runs.
var filePerm = func() uint32 {
	u := syscall.Umask(0)
	syscall.Umask(u)
	return 0o666 &^ uint32(u)
}()
