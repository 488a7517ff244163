package query_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

func TestCacheFetch(t *testing.T) {
	ctx := context.Background()
	b := source(t, "mem")
	data := bytes.Repeat([]byte("parquet!"), 128) // 1 KiB
	if err := b.Put(ctx, "a/f1.parquet", data); err != nil {
		t.Fatal(err)
	}
	c, err := query.NewCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, hit, err := c.Fetch(ctx, b, "a/f1.parquet", int64(len(data)))
	if err != nil || hit {
		t.Fatalf("first fetch: hit %v, err %v", hit, err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("cached copy differs (%d bytes, err %v)", len(got), err)
	}
	p2, hit, err := c.Fetch(ctx, b, "a/f1.parquet", int64(len(data)))
	if err != nil || !hit || p2 != p {
		t.Fatalf("second fetch: path %s (first %s), hit %v, err %v", p2, p, hit, err)
	}
	// Unknown size (< 0) is asked of the store and finds the same entry.
	if p3, hit, err := c.Fetch(ctx, b, "a/f1.parquet", -1); err != nil || !hit || p3 != p {
		t.Errorf("fetch with unknown size: path %s, hit %v, err %v", p3, hit, err)
	}
	// The same key in another location is another entry.
	other := source(t, "mem")
	if err := other.Put(ctx, "a/f1.parquet", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if p4, _, err := c.Fetch(ctx, other, "a/f1.parquet", 5); err != nil || p4 == p {
		t.Errorf("other location: path %s (first %s), err %v", p4, p, err)
	}

	// A size that differs from the log's is an error and leaves no entry.
	_, _, err = c.Fetch(ctx, b, "a/f1.parquet", int64(len(data))+1)
	if !errors.Is(err, query.ErrCache) {
		t.Errorf("size mismatch: %v, want ErrCache", err)
	}
	_, _, err = c.Fetch(ctx, b, "a/missing.parquet", 10)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing file: %v, want storage.ErrNotFound", err)
	}
	// Two downloads (1 KiB and 5 bytes) and two hits; failed fetches count
	// as neither.
	if st := c.Stats(); st != (query.CacheStats{Hits: 2, Downloads: 2, DownloadedBytes: int64(len(data)) + 5}) {
		t.Errorf("stats %+v", st)
	}
	ents, _ := os.ReadDir(c.Dir())
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Errorf("cache entries %v, want the two good files only", names)
	}
}

// Eviction removes the least recently used entries first, never pinned
// ones, and abandoned downloads.
func TestCacheEvict(t *testing.T) {
	ctx := context.Background()
	b := source(t, "mem")
	dir := t.TempDir()
	c, err := query.NewCache(dir, &query.CacheOptions{MaxBytes: 3000})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	base := time.Now().Add(-time.Hour)
	for i, name := range []string{"f0", "f1", "f2", "f3", "f4"} {
		if err := b.Put(ctx, name, bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
			t.Fatal(err)
		}
		p, _, err := c.Fetch(ctx, b, name, 1000)
		if err != nil {
			t.Fatal(err)
		}
		paths[name] = p
		// Last use: f0 oldest ... f4 newest, except that f1 is used last.
		when := base.Add(time.Duration(i) * time.Minute)
		if name == "f1" {
			when = base.Add(time.Hour)
		}
		if err := os.Chtimes(p, when, when); err != nil {
			t.Fatal(err)
		}
	}
	// f0 stays pinned; f2, f3, f4 and f1 are released.
	for _, n := range []string{"f1", "f2", "f3", "f4"} {
		c.Unpin(paths[n])
	}
	stale := filepath.Join(dir, ".tmp-crashed")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	fresh := filepath.Join(dir, ".tmp-inflight")
	if err := os.WriteFile(fresh, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}

	freed, err := c.Evict()
	if err != nil {
		t.Fatal(err)
	}
	if freed != 2000 {
		t.Errorf("freed %d bytes, want 2000", freed)
	}
	var left []string
	for _, n := range []string{"f0", "f1", "f2", "f3", "f4"} {
		if _, err := os.Stat(paths[n]); err == nil {
			left = append(left, n)
		}
	}
	if got := strings.Join(left, ","); got != "f0,f1,f4" {
		t.Errorf("entries left %s, want f0,f1,f4 (f0 pinned, f1 and f4 most recent)", got)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("abandoned download not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("in-flight download removed: %v", err)
	}
	// A hit refreshes the entry's last use, so it survives the next round.
	if _, hit, err := c.Fetch(ctx, b, "f4", 1000); err != nil || !hit {
		t.Fatalf("refetch f4: hit %v, err %v", hit, err)
	}
	c.Unpin(paths["f4"])
	c.Unpin(paths["f0"])
	c2, err := query.NewCache(dir, &query.CacheOptions{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Evict(); err != nil {
		t.Fatal(err)
	}
	left = left[:0]
	for _, n := range []string{"f0", "f1", "f4"} {
		if _, err := os.Stat(paths[n]); err == nil {
			left = append(left, n)
		}
	}
	if got := strings.Join(left, ","); got != "f4" {
		t.Errorf("after a hit on f4 and a 1000-byte bound: left %s, want f4", got)
	}
}

// Register keeps the cache within its bound across registrations while the
// files of registered views stay.
func TestEngineCacheBound(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := query.Open(ctx, &query.Options{CacheDir: dir, CacheMaxBytes: 1, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var tables []string
	for i := 0; i < 2; i++ {
		tbl := tablesWithRows(t, i)
		name := fmt.Sprintf("t%d", i)
		if err := e.Register(ctx, name, tbl, nil, ""); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	// Both views' files are pinned: nothing was evicted, both still answer.
	for i, name := range tables {
		want := fmt.Sprint(100 * (i + 1))
		if got := rowsOf(t, e, "SELECT count(*) FROM "+name); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %v, want %s", name, got, want)
		}
	}
	// Replacing t0 by a view of t1's table releases t0's files, which the
	// bound then evicts.
	before, _ := os.ReadDir(dir)
	if len(before) != 6 {
		t.Fatalf("cache holds %d entries, want 6 (3 dates x 2 tables)", len(before))
	}
	if err := e.Register(ctx, "t0", tablesWithRows(t, 2), nil, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != 6 {
		t.Errorf("cache entries %d -> %d, want 6: t0's old files should be evicted, the new ones kept", len(before), len(after))
	}
	if got := rowsOf(t, e, "SELECT count(*) FROM t0"); len(got) != 1 || got[0] != "300" {
		t.Errorf("replaced t0: %v, want 300", got)
	}
}

// tablesWithRows makes a mem:// table of 100*(i+1) rows over 3 dates.
func tablesWithRows(t *testing.T, i int) *table.Table {
	tbl := tabletest.Create(t, source(t, "mem"), nil)
	appendIDs(t, tbl, 0, 100*(i+1))
	return tbl
}
