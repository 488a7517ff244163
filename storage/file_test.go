package storage_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loglake/loglake/storage"
)

func openFileT(t *testing.T) (storage.Bucket, string) {
	dir := t.TempDir()
	return openT(t, "file://"+filepath.ToSlash(dir), nil), dir
}

// Keys map to the natural paths, so Spark, DuckDB or delta-rs can read a
// table written to file:// directly.
func TestFileLayout(t *testing.T) {
	ctx := context.Background()
	b, dir := openFileT(t)
	for _, k := range []string{"_delta_log/00000000000000000000.json", "date=2024-01-01/part-0.parquet"} {
		if err := b.PutIfAbsent(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(k)))
		if err != nil || string(got) != k {
			t.Errorf("file for %q = %q, %v", k, got, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "_delta_log"))
	if len(entries) != 1 {
		t.Errorf("_delta_log holds %d entries, want 1 (temporary files must be gone)", len(entries))
	}
	if want := "file://" + filepath.ToSlash(dir); b.URL() != want {
		t.Errorf("URL() = %q, want %q", b.URL(), want)
	}
}

func TestFileInvalidKeys(t *testing.T) {
	ctx := context.Background()
	b, _ := openFileT(t)
	for _, k := range []string{"", "/abs", "a//b", "../x", "a/../../x", "a/./b", "a/", ".loglake-tmp-x", "d/.loglake-tmp-y"} {
		if err := b.Put(ctx, k, []byte("v")); !errors.Is(err, storage.ErrPermanent) {
			t.Errorf("Put(%q) = %v, want ErrPermanent", k, err)
		}
		if _, err := b.Get(ctx, k); !errors.Is(err, storage.ErrPermanent) {
			t.Errorf("Get(%q) = %v, want ErrPermanent", k, err)
		}
	}
}

// A key cannot be both an object and a prefix of other keys on a file
// system; the second write is refused and the first object survives.
func TestFileObjectAndPrefix(t *testing.T) {
	ctx := context.Background()
	b, _ := openFileT(t)
	if err := b.Put(ctx, "a", []byte("obj")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "a/b", []byte("x")); !errors.Is(err, storage.ErrPermanent) {
		t.Errorf("Put(a/b) over object a = %v, want ErrPermanent", err)
	}
	if err := b.Put(ctx, "c/d", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(ctx, "c", []byte("x")); err == nil {
		t.Errorf("PutIfAbsent(c) over directory c succeeded")
	}
	if err := b.Put(ctx, "c", []byte("x")); !errors.Is(err, storage.ErrPermanent) {
		t.Errorf("Put(c) over directory c = %v, want ErrPermanent", err)
	}
	if got, err := b.Get(ctx, "a"); err != nil || string(got) != "obj" {
		t.Errorf("Get(a) = %q, %v", got, err)
	}
	if err := b.Delete(ctx, "c"); err != nil {
		t.Errorf("Delete of a directory name = %v, want nil (no such object)", err)
	}
	if _, err := b.Get(ctx, "c/d"); err != nil {
		t.Errorf("Delete(c) removed c/d: %v", err)
	}
}

// Leftover temporary files (a crash mid-write) and in-flight ones are never listed.
func TestFileListHidesTemporaries(t *testing.T) {
	ctx := context.Background()
	b, dir := openFileT(t)
	os.MkdirAll(filepath.Join(dir, "d"), 0o755)
	for _, p := range []string{".loglake-tmp-123", "d/.loglake-tmp-456"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const writers, perWriter = 4, 50
	written := sync.Map{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := fmt.Sprintf("d/w%d/%03d", w, i)
				if err := b.Upload(ctx, k, strings.NewReader(strings.Repeat("x", 10000))); err != nil {
					t.Error(err)
					return
				}
				written.Store(k, true)
			}
		})
	}
	listed := 0
	for range 20 {
		it := b.List(ctx, "", "")
		for {
			o, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			listed++
			if strings.Contains(o.Key, ".loglake-tmp-") {
				t.Fatalf("List shows temporary file %q", o.Key)
			}
			if o.Size != 10000 {
				t.Fatalf("List shows %q with size %d: a partial write is visible", o.Key, o.Size)
			}
		}
	}
	wg.Wait()
	n := 0
	it := b.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if _, ok := written.Load(o.Key); !ok {
			t.Errorf("listed %q, never written", o.Key)
		}
		n++
	}
	if n != writers*perWriter {
		t.Errorf("final listing has %d keys, want %d", n, writers*perWriter)
	}
}

// Racing writers through separate handles (as separate processes would be)
// still get exactly one winner: the file system decides, not a lock of ours.
func TestFilePutIfAbsentAcrossHandles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	handles := make([]storage.Bucket, 4)
	for i := range handles {
		handles[i] = openT(t, "file://"+filepath.ToSlash(dir), nil)
	}
	for round := range 50 {
		key := fmt.Sprintf("_delta_log/%020d.json", round)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, winner := 0, ""
		for w := range 12 {
			wg.Go(func() {
				data := fmt.Sprintf("writer %d", w)
				err := handles[w%len(handles)].PutIfAbsent(ctx, key, []byte(data))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
					winner = data
				case !errors.Is(err, storage.ErrExists):
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		wg.Wait()
		got, err := handles[0].Get(ctx, key)
		if wins != 1 || err != nil || string(got) != winner {
			t.Fatalf("round %d: %d winners, stored %q (%v), winner wrote %q", round, wins, got, err, winner)
		}
	}
}

func TestFileCopyLinks(t *testing.T) {
	ctx := context.Background()
	b, dir := openFileT(t)
	other, odir := openFileT(t)
	if err := b.Put(ctx, "src", []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := other.Copy(ctx, "x/dst", b, "src"); err != nil {
		t.Fatal(err)
	}
	s1, _ := os.Stat(filepath.Join(dir, "src"))
	s2, err := os.Stat(filepath.Join(odir, "x", "dst"))
	if err != nil || !os.SameFile(s1, s2) {
		t.Errorf("Copy within one file system did not hard-link (err %v)", err)
	}
	// Overwriting the source replaces its inode; the copy keeps the old data.
	if err := b.Put(ctx, "src", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := other.Get(ctx, "x/dst"); string(got) != "data" {
		t.Errorf("copy = %q after the source changed", got)
	}
}

// A symbolic link that leads out of the bucket's directory is not read
// through, nor copied as a link: a hostile table cannot make a clone upload
// a file from elsewhere on the machine. Relative links inside it work (an
// absolute link counts as leading out, as os.Root has it).
func TestFileSymlinkOutsideRefused(t *testing.T) {
	ctx := context.Background()
	b, dir := openFileT(t)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "data/inside.parquet", []byte("INSIDE")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "data", "out.parquet")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside.parquet", filepath.Join(dir, "data", "in.parquet")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "data/out.parquet"); !errors.Is(err, storage.ErrPermanent) {
		t.Fatalf("Get through a link out of the bucket: %v, want ErrPermanent", err)
	}
	if _, err := b.NewReader(ctx, "data/out.parquet", 0, -1); !errors.Is(err, storage.ErrPermanent) {
		t.Fatalf("NewReader through a link out of the bucket: %v, want ErrPermanent", err)
	}
	if data, err := b.Get(ctx, "data/in.parquet"); err != nil || string(data) != "INSIDE" {
		t.Fatalf("Get through a link inside the bucket: %q, %v", data, err)
	}
	dst, ddir := openFileT(t)
	if err := dst.Copy(ctx, "x.parquet", b, "data/out.parquet"); err == nil {
		t.Fatal("Copy of a link out of the source bucket succeeded")
	}
	if err := dst.Copy(ctx, "y.parquet", b, "data/in.parquet"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(ddir, "y.parquet"))
	if err != nil || fi.Mode()&os.ModeSymlink != 0 {
		t.Fatalf("copy of a link inside the source: %v, mode %v; want a regular file", err, fi.Mode())
	}
}

// A directory link inside the source that leads out of it does not let a
// file-to-file Copy hard-link a file from outside.
func TestFileCopyThroughLinkedDirRefused(t *testing.T) {
	ctx := context.Background()
	b, dir := openFileT(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "f.parquet"), []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "date=x")); err != nil {
		t.Fatal(err)
	}
	dst, _ := openFileT(t)
	if err := dst.Copy(ctx, "date=x/f.parquet", b, "date=x/f.parquet"); err == nil {
		t.Fatal("Copy through a directory link out of the source succeeded")
	}
}
