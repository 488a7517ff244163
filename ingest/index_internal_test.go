package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

// countingBucket counts the bytes written with PutIfAbsent.
type countingBucket struct {
	storage.Bucket
	mu      sync.Mutex
	written int64
}

func (c *countingBucket) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	c.mu.Lock()
	c.written += int64(len(data))
	c.mu.Unlock()
	return c.Bucket.PutIfAbsent(ctx, key, data)
}

func memTable(t testing.TB) storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), fmt.Sprintf("mem://index-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// synthManifest is batch b of a stream that lands one file per batch per
// perBatch, arriving one minute apart.
func synthManifest(b int64, perBatch int, t0 time.Time) *Manifest {
	m := &Manifest{Stream: "s", Batch: b, Created: t0.Add(time.Duration(b) * time.Minute)}
	for i := range perBatch {
		m.Files = append(m.Files, ManifestFile{Key: fmt.Sprintf("svc=api/date=2026-11-24/part-%08d-%03d.json.gz", b, i),
			Size: 1000 + b, ETag: fmt.Sprintf("%x", b*7919+int64(i)), ModTime: t0.Add(time.Duration(b) * time.Minute)})
	}
	return m
}

func storedBytes(t testing.TB, b storage.Bucket, prefix string) (n int64, objects int) {
	t.Helper()
	it := b.List(context.Background(), prefix, "")
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return n, objects
		}
		if err != nil {
			t.Fatal(err)
		}
		n += o.Size
		objects++
	}
}

// TestIndexSegmentsStayBounded replays issue 10's case — 10,000 one-file
// batches, a segment every 50 — through the segment writer and checks that
// the stored index is linear in the files (not 200 full snapshots), that
// the bytes written grow like n log n, that the chain stays short, and
// that loading the chain (after superseded state is deleted) gives exactly
// the index built from the manifests.
func TestIndexSegmentsStayBounded(t *testing.T) {
	ctx := context.Background()
	cb := &countingBucket{Bucket: memTable(t)}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const batches, every = 10000, 50
	x := newIndex()
	var lastSegBytes int64
	for b := int64(1); b <= batches; b++ {
		m := synthManifest(b, 1, t0)
		if _, err := writeManifest(ctx, cb, m); err != nil {
			t.Fatal(err)
		}
		x.apply(m)
		if b%every == 0 {
			now := t0.Add(time.Duration(b) * time.Minute)
			if err := x.compact(ctx, cb, "s", now); err != nil {
				t.Fatal(err)
			}
			// Grace 0 against the storage clock: superseded state goes at once.
			if err := x.gc(ctx, cb, "s", time.Now(), 0, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	idxBytes, idxObjects := storedBytes(t, cb, StatePrefix("s")+"index/")
	_, manifests := storedBytes(t, cb, StatePrefix("s")+"batches/")
	var manifestBytes int64
	for b := int64(1); b <= batches; b++ {
		data, _ := json.MarshalIndent(synthManifest(b, 1, t0), "", " ")
		manifestBytes += int64(len(data))
	}
	indexWritten := cb.written - manifestBytes
	lastSegBytes = idxBytes
	t.Logf("%d batches: %d index objects, %d bytes stored (%.1f B/file); %d bytes written in all (%.1fx the stored size); chain %d segments; %d manifests left",
		batches, idxObjects, idxBytes, float64(idxBytes)/batches, indexWritten, float64(indexWritten)/float64(lastSegBytes), len(x.segs), manifests)
	// Linear: the records are ~32 bytes.
	if idxBytes > 60*batches {
		t.Errorf("stored index is %d bytes for %d files", idxBytes, batches)
	}
	// n log n: each file is rewritten at most ~log2(batches/every) times.
	if limit := float64(lastSegBytes) * (math.Log2(batches/every) + 2); float64(indexWritten) > limit {
		t.Errorf("wrote %d index bytes, more than %.0f (n log n)", indexWritten, limit)
	}
	if len(x.segs) > 2*int(math.Log2(batches/every))+2 {
		t.Errorf("chain of %d segments", len(x.segs))
	}
	// Every batch is covered by a segment: no manifest is left, and no
	// segment inside another.
	if manifests != 0 || idxObjects != len(x.segs) {
		t.Errorf("%d manifests and %d index objects left; chain %d", manifests, idxObjects, len(x.segs))
	}
	// A fresh load sees exactly the same index.
	want := newIndex()
	for b := int64(1); b <= batches; b++ {
		want.apply(synthManifest(b, 1, t0))
	}
	got := newIndex()
	if err := got.load(ctx, cb, "s", batches, t0); err != nil {
		t.Fatal(err)
	}
	if got.batch != batches || got.cursor != want.cursor || !maps.Equal(got.files, want.files) {
		t.Fatalf("loaded index: batch %d, %d files, cursor %q; want %d, %d, %q", got.batch, len(got.files), got.cursor, batches, len(want.files), want.cursor)
	}
	// Ten more batches and a segment for them, with a grace of an hour: the
	// new segment is young, so the manifests it covers and the segments it
	// supersedes stay, and a reader a few batches behind (an older table
	// snapshot) still loads.
	for b := int64(batches + 1); b <= batches+10; b++ {
		m := synthManifest(b, 1, t0)
		if _, err := writeManifest(ctx, cb, m); err != nil {
			t.Fatal(err)
		}
		x.apply(m)
	}
	if err := x.compact(ctx, cb, "s", t0); err != nil {
		t.Fatal(err)
	}
	if err := x.gc(ctx, cb, "s", time.Now(), time.Hour, batches+10); err != nil {
		t.Fatal(err)
	}
	behind := newIndex()
	if err := behind.load(ctx, cb, "s", batches+5, t0); err != nil {
		t.Fatal(err)
	}
	if behind.batch != batches+5 || len(behind.files) != batches+5 {
		t.Fatalf("reader behind: batch %d, %d files", behind.batch, len(behind.files))
	}
}

// TestIndexHorizon: with a horizon, the index forgets old files, stored
// segments shrink to the live files, and a load keeps the horizon.
func TestIndexHorizon(t *testing.T) {
	ctx := context.Background()
	tbl := memTable(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	x := newIndex()
	for b := int64(1); b <= 400; b++ {
		m := synthManifest(b, 10, t0)
		if _, err := writeManifest(ctx, tbl, m); err != nil {
			t.Fatal(err)
		}
		x.apply(m)
		now := t0.Add(time.Duration(b) * time.Minute)
		// Keep the last 100 minutes of files.
		x.expire(now.Add(-100 * time.Minute).Unix())
		if b%10 == 0 {
			if err := x.compact(ctx, tbl, "s", now); err != nil {
				t.Fatal(err)
			}
			if err := x.gc(ctx, tbl, "s", time.Now(), 0, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(x.files); n != 1010 { // batches 300..400, 10 files each
		t.Fatalf("index holds %d files, want 1010", n)
	}
	var stored int64
	for _, s := range x.segs {
		stored += s.Count
	}
	if stored > 3*1010 {
		t.Fatalf("the chain stores %d files for 1010 live ones", stored)
	}
	got := newIndex()
	if err := got.load(ctx, tbl, "s", 400, t0); err != nil {
		t.Fatal(err)
	}
	old := synthManifest(5, 1, t0).Files[0]
	if _, ok := got.get(old.Key); ok || !got.expired(old) {
		t.Fatalf("a file older than the horizon is still known (or not expired)")
	}
	fresh := synthManifest(399, 1, t0).Files[0]
	if _, ok := got.get(fresh.Key); !ok {
		t.Fatalf("a live file was lost")
	}
	if got.horizon < t0.Add(280*time.Minute).Unix() {
		t.Fatalf("loaded horizon %v is behind what was dropped", time.Unix(got.horizon, 0))
	}
}

// TestSegmentCorruption: a damaged segment is reported as corrupt state.
func TestSegmentCorruption(t *testing.T) {
	ctx := context.Background()
	tbl := memTable(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	x := newIndex()
	for b := int64(1); b <= 3; b++ {
		x.apply(synthManifest(b, 3, t0))
	}
	if err := x.compact(ctx, tbl, "s", t0); err != nil {
		t.Fatal(err)
	}
	key := segmentKey("s", 0, 3)
	data, err := tbl.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{data[:len(data)-1], append(append([]byte{}, data[:len(data)-5]...), data[len(data)-4]^1, 0, 0, 0, 0)} {
		tbl.Delete(ctx, key)
		if err := tbl.PutIfAbsent(ctx, key, bad); err != nil {
			t.Fatal(err)
		}
		err := newIndex().load(ctx, tbl, "s", 3, t0)
		if err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("damaged segment: %v", err)
		}
	}
}
