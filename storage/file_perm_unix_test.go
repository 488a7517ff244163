//go:build unix

package storage_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Files written to file:// get the umask's permissions, not
// os.CreateTemp's 0600: other users' Spark or Trino must read the table.
func TestFilePermissions(t *testing.T) {
	ctx := context.Background()
	b, dir := openFileT(t)
	if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "data/x.parquet", []byte("x")); err != nil {
		t.Fatal(err)
	}
	u := syscall.Umask(0)
	syscall.Umask(u)
	want := fs.FileMode(0o666 &^ u)
	for _, k := range []string{"_delta_log/00000000000000000000.json", "data/x.parquet"} {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(k)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", k, fi.Mode().Perm(), want)
		}
	}
}
