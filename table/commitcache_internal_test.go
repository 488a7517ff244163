package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
)

// cacheTestTable creates a table of one long column on a fresh mem:// bucket
// and returns it with an append helper.
func cacheTestTable(t *testing.T) (*Table, func(tbl *Table, path string)) {
	t.Helper()
	ctx := context.Background()
	sch, err := ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Create(ctx, newMemBucket(t), CreateOptions{Schema: sch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tbl, func(tbl *Table, path string) {
		t.Helper()
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		add := Action{Add: &Add{Path: path, PartitionValues: map[string]*string{}, Size: 1, DataChange: true}}
		if _, err := tbl.Commit(ctx, snap, &Commit{Actions: []Action{add}}); err != nil {
			t.Fatal(err)
		}
	}
}

// Two handles on one table (two regions in one process) share the decoded
// adds of each commit instead of holding a copy each.
func TestCommitCacheSharesAdds(t *testing.T) {
	ctx := context.Background()
	w, appendFile := cacheTestTable(t)
	r, err := Open(ctx, w.bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendFile(w, "a.parquet")
	appendFile(w, "b.parquet")
	ws, err := w.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wf, rf := ws.Files(), rs.Files()
	if len(wf) != 2 || len(rf) != 2 {
		t.Fatalf("files: writer %d, reader %d, want 2", len(wf), len(rf))
	}
	for i := range wf {
		if wf[i] != rf[i] {
			t.Errorf("%s: the writer's and the reader's snapshots hold different *Add (decoded twice)", wf[i].Path)
		}
	}
}

// A table deleted and recreated at the same URL has different commits at
// the same versions: readers must see the new ones, never the cached old.
func TestCommitCacheRecreatedTable(t *testing.T) {
	ctx := context.Background()
	old, appendFile := cacheTestTable(t)
	b := old.bucket
	appendFile(old, "old.parquet")
	if _, err := Open(ctx, b, nil); err != nil { // decodes (and caches) version 1
		t.Fatal(err)
	}
	it := b.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, o.Key); err != nil {
			t.Fatal(err)
		}
	}
	sch, _ := ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}}]}`)
	fresh, err := Create(ctx, b, CreateOptions{Schema: sch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	appendFile(fresh, "new.parquet")
	// A handle opened after (a handle kept from before keeps its own
	// snapshot, cache or not).
	tbl, err := Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := snap.Files()
	if len(got) != 1 || got[0].Path != "new.parquet" {
		paths := []string{}
		for _, f := range got {
			paths = append(paths, f.Path)
		}
		t.Errorf("after recreation at version %d: files %v, want [new.parquet]", snap.Version(), paths)
	}
}

// cacheTestCommit is a distinct commit file per i.
func cacheTestCommit(t testing.TB, i int) []byte {
	data, err := encodeCommit([]Action{
		{CommitInfo: &CommitInfo{Timestamp: int64(1000 + i), Operation: "WRITE"}},
		{Add: &Add{Path: fmt.Sprintf("f%04d.parquet", i), PartitionValues: map[string]*string{}, Size: int64(i), DataChange: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCommitCacheBounds(t *testing.T) {
	one := len(cacheTestCommit(t, 0))
	c := newCommitCache(10*one, 2*one)
	for i := range 100 {
		if _, err := c.decode(cacheTestCommit(t, i)); err != nil {
			t.Fatal(err)
		}
		if c.bytes > c.maxBytes || len(c.entries) != c.lru.Len() {
			t.Fatalf("after %d commits: %d bytes cached (bound %d), %d keys, %d in LRU", i+1, c.bytes, c.maxBytes, len(c.entries), c.lru.Len())
		}
	}
	if n := len(c.entries); n < 9 || n > 10 {
		t.Errorf("%d entries cached, want the last 9-10", n)
	}
	// The most recent is kept, the oldest gone.
	if _, ok := c.entries[string(cacheTestCommit(t, 99))]; !ok {
		t.Error("the newest commit is not cached")
	}
	if _, ok := c.entries[string(cacheTestCommit(t, 0))]; ok {
		t.Error("the oldest commit is still cached")
	}
	// Too large for an entry: decoded, not cached.
	var big []byte
	for i := range 3 {
		big = append(big, cacheTestCommit(t, 1000+i)...)
	}
	got, err := c.decode(big)
	if err != nil || len(got) != 6 {
		t.Fatalf("big commit: %d actions, %v; want 6", len(got), err)
	}
	if _, ok := c.entries[string(big)]; ok {
		t.Error("a commit larger than maxEntry was cached")
	}
	// A corrupt commit is an error every time and never cached.
	bad := []byte(`{"add":{"path":"x.parquet","size":` + "\n")
	for range 2 {
		if _, err := c.decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("corrupt commit: %v, want ErrCorrupt", err)
		}
	}
	if _, ok := c.entries[string(bad)]; ok {
		t.Error("a corrupt commit was cached")
	}
}

// Many readers of overlapping commits, with evictions, all get what
// decodeCommit gives; a reader replacing its slice's elements changes no one
// else's. Run with -race.
func TestCommitCacheConcurrent(t *testing.T) {
	const commits, readers = 40, 16
	datas := make([][]byte, commits)
	want := make([][]Action, commits)
	for i := range datas {
		datas[i] = cacheTestCommit(t, i)
		var err error
		if want[i], err = decodeCommit(datas[i]); err != nil {
			t.Fatal(err)
		}
	}
	c := newCommitCache(8*len(datas[0]), len(datas[0])*2)
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 5 * commits {
				i := (r*7 + k) % commits
				got, err := c.decode(datas[i])
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(got, want[i]) {
					errs <- fmt.Errorf("commit %d: got %+v, want %+v", i, got, want[i])
					return
				}
				got[1] = Action{} // the reader's own slice
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
