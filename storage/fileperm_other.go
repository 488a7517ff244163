//go:build !unix

package storage

// filePerm is the mode of files written to file:// buckets (see
// fileperm_unix.go).
var filePerm uint32 = 0o644
