package replicate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/replicate"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// lastCheckpoint reads b's _last_checkpoint version (-1: none).
func lastCheckpoint(t *testing.T, b storage.Bucket) int64 {
	t.Helper()
	data, err := b.Get(context.Background(), "_delta_log/_last_checkpoint")
	if errors.Is(err, storage.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	var lc struct{ Version int64 }
	if err := json.Unmarshal(data, &lc); err != nil {
		t.Fatal(err)
	}
	return lc.Version
}

// sameVersions checks that every version in [from, to] of dst holds the
// rows of the same version of src, and that dst's latest is to.
func sameVersions(t *testing.T, src, dst *table.Table, from, to int64) {
	t.Helper()
	if v := rt.Latest(t, dst).Version(); v != to {
		t.Fatalf("destination at version %d, want %d", v, to)
	}
	for v := from; v <= to; v++ {
		rt.SameRows(t, rt.At(t, src, v), rt.At(t, dst, v))
	}
}

// removeFile commits the removal of one live file of tbl; withSize says
// whether the remove action records the file's size (optional in Delta).
func removeFile(t *testing.T, tbl *table.Table, withSize bool) {
	t.Helper()
	snap := rt.Latest(t, tbl)
	f := snap.Files()[0]
	now := time.Now().UnixMilli()
	r := &table.Remove{Path: f.Path, DeletionTimestamp: &now, DataChange: true, PartitionValues: f.PartitionValues}
	if withSize {
		size := f.Size
		r.Size = &size
	}
	if _, err := tbl.Commit(context.Background(), snap, &table.Commit{Operation: "DELETE", Actions: []table.Action{{Remove: r}}}); err != nil {
		t.Fatal(err)
	}
}

// TestCloneFastPath: an exact replica is brought up to date from the new
// commits alone — same versions, rows, txns, source totals and checkpoints
// as the full path gives — and every case the fast path cannot settle
// cheaply goes to the full path with the same outcome.
func TestCloneFastPath(t *testing.T) {
	ctx := context.Background()

	t.Run("appends deletes checkpoints", func(t *testing.T) {
		srcB, dstB := location(t, "mem"), location(t, "file")
		src := tabletest.Create(t, srcB, map[string]string{"delta.checkpointInterval": "3"})
		tabletest.Append(t, src, 0, 100, nil)
		if res := clone(t, srcB, dstB, nil); res.Mode != replicate.ModeInitial || res.Fast {
			t.Fatalf("first clone: %+v", res)
		}
		// Versions 2..7: appends with a writer's txn, a DELETE, and two
		// source checkpoints (3 and 6).
		tabletest.Append(t, src, 100, 100, &table.Commit{Operation: "STREAMING UPDATE", AppID: "ingest:s", AppVersion: 1})
		tabletest.Append(t, src, 200, 100, nil)
		removeFile(t, src, true)
		tabletest.Append(t, src, 300, 100, &table.Commit{Operation: "STREAMING UPDATE", AppID: "ingest:s", AppVersion: 2})
		tabletest.Append(t, src, 400, 100, nil)
		tabletest.Append(t, src, 500, 100, nil)
		_, wantBytes := rt.AddedBytes(t, src, 1, -1)
		srcSnap := rt.Latest(t, src)

		res := clone(t, srcB, dstB, nil)
		if !res.Fast || res.Mode != replicate.ModeReplica || res.CommitsWritten != 6 || res.PreviousSourceVersion != 1 ||
			res.SourceVersion != 7 || res.DestinationVersion != 7 {
			t.Fatalf("incremental clone: %+v", res)
		}
		m := res.Metrics
		if m.CopiedFilesSize != wantBytes || m.NumRemovedFiles != 1 ||
			m.SourceNumOfFiles != int64(len(srcSnap.Files())) || m.SourceTableSize != srcSnap.SizeBytes() {
			t.Fatalf("metrics %+v; want %d bytes copied, 1 removed, source %d files of %d bytes",
				m, wantBytes, len(srcSnap.Files()), srcSnap.SizeBytes())
		}
		// A fresh reader of the replica starts from its own checkpoint at
		// the source's, which must hold the clone txn and the writer's.
		if got, want := lastCheckpoint(t, dstB), lastCheckpoint(t, srcB); got != want || want != 6 {
			t.Fatalf("replica checkpoint %d, source checkpoint %d (want 6)", got, want)
		}
		dst := open(t, dstB)
		sameVersions(t, src, dst, 1, 7)
		d6 := rt.At(t, dst, 6)
		if v, ok := d6.AppVersion("clone:" + srcSnap.Metadata().ID); !ok || v != 6 {
			t.Fatalf("clone txn at replica version 6 = %d, %v", v, ok)
		}
		if v, _ := rt.Latest(t, dst).AppVersion("ingest:s"); v != 2 {
			t.Fatalf("writer txn on the replica = %d, want 2", v)
		}
		srcHist, dstHist := history(t, src), history(t, dst)
		for v := int64(2); v <= 7; v++ {
			s, d := srcHist[v], dstHist[v]
			if d == nil || d.Operation != s.Operation || d.Timestamp != s.Timestamp || d.Tags[replicate.TagSourceVersion] != fmt.Sprint(v) {
				t.Fatalf("version %d: destination commitInfo %+v, source %+v", v, d, s)
			}
		}

		// Up to date: fast, nothing written.
		if res := clone(t, srcB, dstB, nil); !res.Fast || res.CommitsWritten != 0 || res.Metrics.SourceNumOfFiles != int64(len(srcSnap.Files())) {
			t.Fatalf("clone of an up-to-date replica: %+v", res)
		}
	})

	t.Run("remove without size", func(t *testing.T) {
		// The running totals break; this run computes them from the
		// source's snapshot, the next run takes the full path once, and the
		// one after is fast again.
		srcB, dstB := location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, dstB, nil)
		tabletest.Append(t, src, 100, 100, nil)
		removeFile(t, src, false)
		want := rt.Latest(t, src)
		res := clone(t, srcB, dstB, nil)
		if !res.Fast || res.CommitsWritten != 2 || res.Metrics.SourceNumOfFiles != int64(len(want.Files())) || res.Metrics.SourceTableSize != want.SizeBytes() {
			t.Fatalf("clone over a remove without size: %+v; source has %d files of %d bytes", res, len(want.Files()), want.SizeBytes())
		}
		tabletest.Append(t, src, 200, 100, nil)
		if res := clone(t, srcB, dstB, nil); res.Fast || res.Mode != replicate.ModeReplica || res.CommitsWritten != 1 {
			t.Fatalf("clone after untagged commits: %+v, want one full-path replica run", res)
		}
		tabletest.Append(t, src, 300, 100, nil)
		if res := clone(t, srcB, dstB, nil); !res.Fast || res.CommitsWritten != 1 {
			t.Fatalf("clone after the full path retagged: %+v", res)
		}
		sameVersions(t, src, open(t, dstB), 1, 5)
	})

	t.Run("protocol change hands off", func(t *testing.T) {
		srcB, dstB := location(t, "mem"), location(t, "file")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, dstB, nil)
		tabletest.Append(t, src, 100, 100, nil)
		snap := rt.Latest(t, src)
		if _, err := src.Commit(ctx, snap, &table.Commit{Operation: "SET TBLPROPERTIES",
			Actions: []table.Action{{Protocol: &table.Protocol{MinReaderVersion: 1, MinWriterVersion: 2}}}}); err != nil {
			t.Fatal(err)
		}
		tabletest.Append(t, src, 200, 100, nil)
		res := clone(t, srcB, dstB, nil)
		if res.Fast || res.Mode != replicate.ModeReplica || res.CommitsWritten != 3 || res.PreviousSourceVersion != 1 || res.DestinationVersion != 4 {
			t.Fatalf("clone across a protocol change: %+v", res)
		}
		sameVersions(t, src, open(t, dstB), 1, 4)
	})

	t.Run("other source location", func(t *testing.T) {
		// A second location holding the same table (same id): the replica
		// is not provably its replica by its tags, so the full path checks.
		srcB, src2B, dstB := location(t, "mem"), location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, dstB, nil)
		clone(t, srcB, src2B, nil)
		tabletest.Append(t, src, 100, 100, nil)
		clone(t, srcB, src2B, nil)
		res := clone(t, src2B, dstB, nil)
		if res.Fast || res.Mode != replicate.ModeReplica || res.CommitsWritten != 1 {
			t.Fatalf("clone from another location of the same table: %+v", res)
		}
		sameVersions(t, src, open(t, dstB), 1, 2)
	})

	t.Run("recreated source", func(t *testing.T) {
		// The source location now holds another table with enough commits
		// to cover the replica's version: its commit there differs, so the
		// fast path declines and the full path refuses.
		srcB, dstB := location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, dstB, nil)
		for v := 0; v <= 1; v++ {
			if err := srcB.Delete(ctx, fmt.Sprintf("_delta_log/%020d.json", v)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
		other := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, other, 1000, 10, nil)
		tabletest.Append(t, other, 2000, 10, nil)
		if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, replicate.ErrNotClone) {
			t.Fatalf("clone from a recreated source: %v, want ErrNotClone", err)
		}
	})

	t.Run("own commit lands mid-replay", func(t *testing.T) {
		// Another writer takes version 3 just before the clone writes it:
		// the replica is a fork from there, and the full path replays the
		// rest as new versions.
		srcB, inner := location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, inner, nil)
		for i := 1; i <= 3; i++ {
			tabletest.Append(t, src, int64(i*100), 100, nil)
		}
		own := open(t, inner)
		dstB := &interloper{Bucket: inner, key: "_delta_log/00000000000000000003.json", before: func() {
			tabletest.Append(t, own, 10_000, 10, &table.Commit{Operation: "WRITE", AppID: "ingest:own", AppVersion: 1})
		}}
		res := clone(t, srcB, dstB, nil)
		if res.Fast || res.Mode != replicate.ModeFork || res.CommitsWritten != 3 || res.PreviousSourceVersion != 1 || res.DestinationVersion != 5 {
			t.Fatalf("clone interrupted by a commit of the destination's own: %+v", res)
		}
		d := rt.Latest(t, open(t, inner))
		if v, ok := d.AppVersion("ingest:own"); !ok || v != 1 {
			t.Fatalf("the destination's own commit is gone: %d, %v", v, ok)
		}
		if got, want := len(tabletest.IDs(t, d, "")), len(tabletest.IDs(t, rt.Latest(t, src), ""))+10; got != want {
			t.Fatalf("fork has %d rows, want the source's plus its own 10 (%d)", got, want)
		}
	})

	t.Run("lost commit response", func(t *testing.T) {
		// The commit lands but the clone sees a transient failure: it finds
		// its own commit there and goes on, writing nothing twice.
		srcB, inner := location(t, "mem"), location(t, "file")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, inner, nil)
		tabletest.Append(t, src, 100, 100, nil)
		tabletest.Append(t, src, 200, 100, nil)
		dstB := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpPutIfAbsent},
			KeyPrefix: "_delta_log/00000000000000000002.json", Nth: 1, After: true, Err: storage.ErrTransient})
		res := clone(t, srcB, dstB, nil)
		if !res.Fast || res.CommitsWritten != 2 || res.CommitsSkipped != 0 {
			t.Fatalf("clone with a lost commit response: %+v", res)
		}
		sameVersions(t, src, open(t, inner), 1, 3)
	})
}

// interloper runs before() once, just before the first PutIfAbsent of key.
type interloper struct {
	storage.Bucket
	key    string
	before func()
	once   sync.Once
}

func (b *interloper) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if key == b.key {
		b.once.Do(b.before)
	}
	return b.Bucket.PutIfAbsent(ctx, key, data)
}
