package replicate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/replicate"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

var memSeq int

// location opens a fresh location of the given kind: "mem", "file", or
// "memshared" (a new prefix in one shared mem bucket, so copies between two
// such locations are server-side).
func location(t *testing.T, kind string) storage.Bucket {
	t.Helper()
	memSeq++
	var url string
	switch kind {
	case "mem":
		url = fmt.Sprintf("mem://replicate-%s-%d", t.Name(), memSeq)
	case "memshared":
		url = fmt.Sprintf("mem://replicate-shared/%d-%d", time.Now().UnixNano(), memSeq)
	case "file":
		url = "file://" + filepath.ToSlash(t.TempDir())
	default:
		t.Fatalf("unknown location kind %q", kind)
	}
	b, err := storage.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func open(t testing.TB, b storage.Bucket) *table.Table {
	t.Helper()
	tbl, err := table.Open(context.Background(), b, nil)
	if err != nil {
		t.Fatalf("open %s: %v", b.URL(), err)
	}
	return tbl
}

func clone(t testing.TB, src, dst storage.Bucket, opts *replicate.Options) *replicate.Result {
	t.Helper()
	res, err := replicate.Clone(context.Background(), src, dst, opts)
	if err != nil {
		t.Fatalf("clone %s -> %s: %v", src.URL(), dst.URL(), err)
	}
	return res
}

func ptr[T any](v T) *T { return &v }

// history returns version -> operation of tbl's log.
func history(t testing.TB, tbl *table.Table) map[int64]*table.CommitInfo {
	t.Helper()
	h, err := tbl.History(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]*table.CommitInfo{}
	for _, e := range h {
		out[e.Version] = e.CommitInfo
	}
	return out
}

// TestCloneInitialThenIncremental covers the first clone and commit-by-commit
// replay between every pair of local backends, including a same-bucket pair
// (server-side copies).
func TestCloneInitialThenIncremental(t *testing.T) {
	for _, tc := range []struct{ src, dst string }{
		{"mem", "file"}, {"file", "mem"}, {"file", "file"}, {"memshared", "memshared"},
	} {
		t.Run(tc.src+"-"+tc.dst, func(t *testing.T) {
			ctx := context.Background()
			srcB, dstB := location(t, tc.src), location(t, tc.dst)
			src := tabletest.Create(t, srcB, map[string]string{"owner": "team-a"})
			tabletest.Append(t, src, 0, 300, nil)
			tabletest.Append(t, src, 300, 200, &table.Commit{Operation: "WRITE", AppID: "ingest:s1", AppVersion: 7})
			tabletest.Append(t, src, 500, 100, nil)
			srcSnap := rt.Latest(t, src)

			res := clone(t, srcB, dstB, nil)
			if res.Mode != replicate.ModeInitial || res.SourceVersion != 3 || res.DestinationVersion != 3 {
				t.Fatalf("first clone: mode %s, source version %d, destination version %d; want initial 3 3", res.Mode, res.SourceVersion, res.DestinationVersion)
			}
			m := res.Metrics
			if m.NumCopiedFiles != int64(len(srcSnap.Files())) || m.CopiedFilesSize != srcSnap.SizeBytes() ||
				m.SourceNumOfFiles != int64(len(srcSnap.Files())) || m.SourceTableSize != srcSnap.SizeBytes() || m.NumRemovedFiles != 0 {
				t.Fatalf("first clone metrics %+v, source has %d files of %d bytes", m, len(srcSnap.Files()), srcSnap.SizeBytes())
			}
			dst := open(t, dstB)
			dstSnap := rt.Latest(t, dst)
			rt.SameRows(t, srcSnap, dstSnap)
			if dstSnap.Version() != 3 || dstSnap.Metadata().ID != srcSnap.Metadata().ID ||
				dstSnap.Metadata().Configuration["owner"] != "team-a" || !slices.Equal(dstSnap.Metadata().PartitionColumns, []string{"date"}) {
				t.Fatalf("destination version %d metadata %+v", dstSnap.Version(), dstSnap.Metadata())
			}
			if v, ok := dstSnap.AppVersion("clone:" + srcSnap.Metadata().ID); !ok || v != 3 {
				t.Fatalf("clone txn = %d, %v; want 3", v, ok)
			}
			if v, ok := dstSnap.AppVersion("ingest:s1"); !ok || v != 7 {
				t.Fatalf("source's ingest txn on the clone = %d, %v; want 7", v, ok)
			}
			ci := history(t, dst)[3]
			if ci == nil || ci.Operation != "CLONE" || ci.OperationMetrics["numCopiedFiles"] != fmt.Sprint(len(srcSnap.Files())) ||
				ci.OperationMetrics["copiedFilesSize"] != fmt.Sprint(srcSnap.SizeBytes()) {
				t.Fatalf("destination commit 3 commitInfo %+v", ci)
			}

			// Incremental: only the new commits, as the same versions.
			tabletest.Append(t, src, 600, 150, nil)
			tabletest.Append(t, src, 750, 50, &table.Commit{Operation: "STREAMING UPDATE", AppID: "ingest:s1", AppVersion: 8})
			_, wantBytes := rt.AddedBytes(t, src, 3, -1)
			res = clone(t, srcB, dstB, nil)
			if !res.Fast || res.Mode != replicate.ModeReplica || res.CommitsWritten != 2 || res.PreviousSourceVersion != 3 || res.DestinationVersion != 5 {
				t.Fatalf("incremental clone: %+v", res)
			}
			if res.Metrics.CopiedFilesSize != wantBytes || res.FilesPresent != 0 {
				t.Fatalf("incremental clone copied %d bytes (%d files present), want exactly the %d new bytes",
					res.Metrics.CopiedFilesSize, res.FilesPresent, wantBytes)
			}
			srcSnap, dstSnap = rt.Latest(t, src), rt.Latest(t, dst)
			rt.SameRows(t, srcSnap, dstSnap)
			rt.SameRows(t, rt.At(t, src, 4), rt.At(t, dst, 4))
			if v, _ := dstSnap.AppVersion("ingest:s1"); v != 8 {
				t.Fatalf("ingest txn on the replica = %d, want 8", v)
			}
			srcHist, dstHist := history(t, src), history(t, dst)
			for v := int64(4); v <= 5; v++ {
				s, d := srcHist[v], dstHist[v]
				if d == nil || d.Operation != s.Operation || d.Timestamp != s.Timestamp || d.Tags[replicate.TagSourceVersion] != fmt.Sprint(v) {
					t.Fatalf("version %d: destination commitInfo %+v, source %+v", v, d, s)
				}
			}
			// Time travel by timestamp agrees.
			ts := srcHist[4].Timestamp
			sv, err := src.VersionAsOf(ctx, time.UnixMilli(ts))
			if err != nil {
				t.Fatal(err)
			}
			dv, err := dst.VersionAsOf(ctx, time.UnixMilli(ts))
			if err != nil || dv != sv {
				t.Fatalf("VersionAsOf(%d): source %d, destination %d (%v)", ts, sv, dv, err)
			}

			// Up to date: nothing moves.
			res = clone(t, srcB, dstB, nil)
			if !res.Fast || res.CommitsWritten != 0 || res.Metrics.NumCopiedFiles != 0 || res.Mode != replicate.ModeReplica {
				t.Fatalf("clone of an up-to-date replica: %+v", res)
			}
		})
	}
}

// TestCloneVersionZero clones a table that has only its CREATE commit.
func TestCloneVersionZero(t *testing.T) {
	srcB, dstB := location(t, "mem"), location(t, "file")
	src := tabletest.Create(t, srcB, nil)
	res := clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeInitial || res.DestinationVersion != 0 || res.Metrics.NumCopiedFiles != 0 {
		t.Fatalf("clone of an empty table: %+v", res)
	}
	tabletest.Append(t, src, 0, 100, nil)
	res = clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeReplica || res.DestinationVersion != 1 {
		t.Fatalf("incremental: %+v", res)
	}
	rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, open(t, dstB)))
}

// TestCloneTimeTravel clones older versions, by number and by timestamp, and
// refuses to move a destination back.
func TestCloneTimeTravel(t *testing.T) {
	srcB := location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	for i := range 5 {
		tabletest.Append(t, src, int64(i*100), 100, nil)
		time.Sleep(3 * time.Millisecond) // distinct commit timestamps
	}
	dstB := location(t, "file")
	res := clone(t, srcB, dstB, &replicate.Options{Version: ptr(int64(2))})
	if res.SourceVersion != 2 || res.DestinationVersion != 2 {
		t.Fatalf("clone of version 2: %+v", res)
	}
	dst := open(t, dstB)
	rt.SameRows(t, rt.At(t, src, 2), rt.Latest(t, dst))
	if _, err := dst.SnapshotAt(context.Background(), 1); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("replica cloned at 2 has version 1? err = %v", err)
	}

	// Catch up to 4 commit by commit; then 3 and 4 time travel like the source.
	res = clone(t, srcB, dstB, &replicate.Options{Version: ptr(int64(4))})
	if res.Mode != replicate.ModeReplica || res.CommitsWritten != 2 || res.DestinationVersion != 4 {
		t.Fatalf("catch up to 4: %+v", res)
	}
	for v := int64(2); v <= 4; v++ {
		rt.SameRows(t, rt.At(t, src, v), rt.At(t, dst, v))
	}
	if _, err := replicate.Clone(context.Background(), srcB, dstB, &replicate.Options{Version: ptr(int64(3))}); !errors.Is(err, replicate.ErrAhead) {
		t.Fatalf("clone back to 3: %v, want ErrAhead", err)
	}
	if _, err := replicate.Clone(context.Background(), srcB, dstB, &replicate.Options{Version: ptr(int64(9))}); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("clone of version 9: %v, want ErrVersionNotFound", err)
	}

	// By timestamp: the version committed at or before the source's v3 time.
	ts := rt.At(t, src, 3).Timestamp()
	dst2 := location(t, "mem")
	res = clone(t, srcB, dst2, &replicate.Options{Timestamp: &ts})
	if res.SourceVersion != 3 {
		t.Fatalf("clone as of %s: source version %d, want 3", ts, res.SourceVersion)
	}
	rt.SameRows(t, rt.At(t, src, 3), rt.Latest(t, open(t, dst2)))
}

// TestCloneFailover is the DR guarantee: a pipeline that recorded source
// versions (as egress does, in its own target's txn) resumes on the replica
// after a failover, and a writer that recorded its progress in the source
// (as ingest does) resumes on the replica too — nothing lost or duplicated.
func TestCloneFailover(t *testing.T) {
	ctx := context.Background()
	regionB, replicaB, centralB := location(t, "mem"), location(t, "file"), location(t, "mem")
	region := tabletest.Create(t, regionB, nil)
	central := tabletest.Create(t, centralB, nil)

	// ingest writes batches into the regional table, exactly once per batch.
	ingest := func(tbl *table.Table, batch int64) {
		snap := rt.Latest(t, tbl)
		if v, ok := snap.AppVersion("ingest:stream"); ok && v >= batch {
			return
		}
		tabletest.Append(t, tbl, batch*100, 100, &table.Commit{Operation: "STREAMING UPDATE", AppID: "ingest:stream", AppVersion: batch})
	}
	// forward copies the rows of every regional commit after the central
	// table's egress txn into central, recording the regional version.
	forward := func(from *table.Table) {
		after := int64(0)
		if v, ok := rt.Latest(t, central).AppVersion("egress:r1"); ok {
			after = v
		}
		changes, err := from.Changes(ctx, after, -1, 0)
		if err != nil {
			t.Fatalf("egress change feed after %d: %v", after, err)
		}
		for _, ch := range changes {
			snap := rt.At(t, from, ch.Version)
			var ids []int64
			// The rows a commit added are the snapshot's ids minus the
			// previous version's.
			prev := map[int64]bool{}
			for _, id := range tabletest.IDs(t, rt.At(t, from, ch.Version-1), "") {
				prev[id] = true
			}
			for _, id := range tabletest.IDs(t, snap, "") {
				if !prev[id] {
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				continue
			}
			first := ids[0]
			if int64(len(ids)) != ids[len(ids)-1]-first+1 {
				t.Fatalf("commit %d added non-contiguous ids", ch.Version)
			}
			tabletest.Append(t, central, first, len(ids), &table.Commit{Operation: "STREAMING UPDATE", AppID: "egress:r1", AppVersion: ch.Version})
		}
	}

	for b := int64(1); b <= 3; b++ {
		ingest(region, b)
	}
	forward(region) // central has regional versions 1..3
	clone(t, regionB, replicaB, nil)
	for b := int64(4); b <= 5; b++ {
		ingest(region, b)
	}
	clone(t, regionB, replicaB, nil) // replica at 5; egress has not seen 4..5 yet

	// The region's compute is gone: ingest and egress move to the replica.
	replica := open(t, replicaB)
	ingest(replica, 5) // a retried batch: already there, must not duplicate
	ingest(replica, 6)
	forward(replica)

	want := make([]int64, 0, 600)
	for id := int64(100); id < 700; id++ {
		want = append(want, id)
	}
	if got := tabletest.IDs(t, rt.Latest(t, central), ""); !slices.Equal(got, want) {
		t.Fatalf("central has %d ids after failover, want ids 100..699 exactly once (%d)", len(got), len(want))
	}
	if v, _ := rt.Latest(t, central).AppVersion("egress:r1"); v != rt.Latest(t, replica).Version() {
		t.Fatalf("egress txn %d, replica version %d", v, rt.Latest(t, replica).Version())
	}
}

// TestCloneCrashResume interrupts clones at every stage and checks that a
// rerun finishes the job without copying twice or committing twice.
func TestCloneCrashResume(t *testing.T) {
	ctx := context.Background()
	t.Run("mid-copy", func(t *testing.T) {
		srcB := location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.AppendBatches(t, src, 4, 100) // 3 files per commit
		srcSnap := rt.Latest(t, src)
		inner := location(t, "file")
		dstB := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpCopy}, Nth: 5, Err: storage.ErrPermanent})
		_, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{Parallel: 1})
		if !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("clone with a failing copy: %v", err)
		}
		if _, err := table.Open(ctx, inner, nil); !errors.Is(err, table.ErrNoTable) {
			t.Fatalf("a failed first clone left a table behind: %v", err)
		}
		dstB.SetFaults(storage.Faults{})
		res := clone(t, srcB, dstB, &replicate.Options{Parallel: 1})
		total := int64(len(srcSnap.Files()))
		if res.FilesPresent != 4 || res.Metrics.NumCopiedFiles != total-4 {
			t.Fatalf("resumed clone: %d present, %d copied; want 4 present and %d copied", res.FilesPresent, res.Metrics.NumCopiedFiles, total-4)
		}
		rt.SameRows(t, srcSnap, rt.Latest(t, open(t, inner)))
	})

	// The files of an interrupted first clone are the clone's to resume;
	// anything else in a destination without a table is refused before a
	// file is copied.
	t.Run("not-empty", func(t *testing.T) {
		srcB := location(t, "mem")
		tabletest.Append(t, tabletest.Create(t, srcB, nil), 0, 100, nil)
		landing := location(t, "file")
		if err := landing.Put(ctx, "2026/11/24/app.log", []byte("{}\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := replicate.Clone(ctx, srcB, landing, nil); !errors.Is(err, replicate.ErrNotEmpty) {
			t.Fatalf("clone into a landing folder: %v, want ErrNotEmpty", err)
		}
		if _, err := landing.Stat(ctx, "_loglake/clone/initial"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a refused clone marked the destination: %v", err)
		}
		inner := location(t, "file")
		dstB := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/", Nth: 1, Err: storage.ErrPermanent})
		if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("clone failing at its commit: %v", err)
		}
		otherB := location(t, "mem")
		tabletest.Append(t, tabletest.Create(t, otherB, nil), 0, 100, nil)
		if _, err := replicate.Clone(ctx, otherB, inner, nil); !errors.Is(err, replicate.ErrNotEmpty) {
			t.Fatalf("clone of another table into an interrupted clone: %v, want ErrNotEmpty", err)
		}
		// A racing clone of the same source claims the destination between
		// this clone's first look (no marker yet) and its listing.
		racing := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpGet}, KeyPrefix: "_loglake/clone/initial", Nth: 1, Err: storage.ErrNotFound})
		res := clone(t, srcB, racing, nil)
		if res.FilesPresent == 0 || res.Metrics.NumCopiedFiles != 0 {
			t.Fatalf("resumed clone: %d present, %d copied", res.FilesPresent, res.Metrics.NumCopiedFiles)
		}
		rt.SameRows(t, rt.Latest(t, open(t, srcB)), rt.Latest(t, open(t, inner)))
	})

	t.Run("mid-replay", func(t *testing.T) {
		srcB := location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		inner := location(t, "mem")
		clone(t, srcB, inner, nil)
		for i := 1; i <= 5; i++ {
			tabletest.Append(t, src, int64(i*100), 100, nil)
		}
		// The third replayed commit (version 4) lands but its response is
		// lost; the clone fails there.
		dstB := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/", Nth: 3, After: true, Err: storage.ErrPermanent})
		if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("clone with a lost commit response: %v", err)
		}
		if v := rt.Latest(t, open(t, inner)).Version(); v != 4 {
			t.Fatalf("after the crash the destination is at %d, want 4", v)
		}
		dstB.SetFaults(storage.Faults{})
		res := clone(t, srcB, dstB, nil)
		if res.CommitsWritten != 2 || res.PreviousSourceVersion != 4 || res.Metrics.NumCopiedFiles != 0 || res.FilesPresent != 6 {
			t.Fatalf("resumed replay: %+v", res)
		}
		dst := open(t, inner)
		dstSnap := rt.Latest(t, dst)
		if dstSnap.Version() != 6 || len(dstSnap.Files()) != len(rt.Latest(t, src).Files()) {
			t.Fatalf("destination version %d with %d files", dstSnap.Version(), len(dstSnap.Files()))
		}
		rt.SameRows(t, rt.Latest(t, src), dstSnap)
		for v := int64(2); v <= 6; v++ {
			if ci := history(t, dst)[v]; ci == nil || ci.Tags[replicate.TagSourceVersion] != fmt.Sprint(v) {
				t.Fatalf("destination version %d does not replay source version %d: %+v", v, v, ci)
			}
		}
	})

	t.Run("between-checkpoint-and-commit", func(t *testing.T) {
		srcB := location(t, "mem")
		src := tabletest.Create(t, srcB, nil)
		tabletest.Append(t, src, 0, 100, nil)
		tabletest.Append(t, src, 100, 100, nil)
		inner := location(t, "file")
		dstB := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/00000000000000000002.json", Nth: 1, Err: storage.ErrPermanent})
		if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("clone failing at its commit: %v", err)
		}
		dstB.SetFaults(storage.Faults{})
		res := clone(t, srcB, dstB, nil)
		if res.Mode != replicate.ModeReplica || res.CommitsWritten != 1 {
			t.Fatalf("rerun after a crash before the CLONE commit: %+v", res)
		}
		if ci := history(t, open(t, inner))[2]; ci == nil || ci.Operation != "CLONE" {
			t.Fatalf("commit 2 after the rerun: %+v", ci)
		}
		rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, open(t, inner)))
	})
}

// TestCloneRacing runs several clones into one destination at once, for the
// first clone and for the incremental one.
func TestCloneRacing(t *testing.T) {
	for _, kind := range []string{"mem", "file"} {
		t.Run(kind, func(t *testing.T) {
			srcB, dstB := location(t, "mem"), location(t, kind)
			src := tabletest.Create(t, srcB, nil)
			tabletest.Append(t, src, 0, 100, nil)
			tabletest.Append(t, src, 100, 100, nil)
			race := func() []*replicate.Result {
				var wg sync.WaitGroup
				results := make([]*replicate.Result, 4)
				errs := make([]error, 4)
				for i := range results {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i], errs[i] = replicate.Clone(context.Background(), srcB, dstB, &replicate.Options{Parallel: 2})
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("racing clone %d: %v", i, err)
					}
				}
				return results
			}
			check := func(results []*replicate.Result, commits int) {
				written := 0
				for _, r := range results {
					written += r.CommitsWritten
				}
				if written != commits {
					t.Fatalf("racing clones wrote %d commits in total, want %d", written, commits)
				}
				dst := open(t, dstB)
				s, d := rt.Latest(t, src), rt.Latest(t, dst)
				if d.Version() != s.Version() || len(d.Files()) != len(s.Files()) {
					t.Fatalf("destination version %d with %d files; source %d with %d", d.Version(), len(d.Files()), s.Version(), len(s.Files()))
				}
				rt.SameRows(t, s, d)
			}
			check(race(), 1)
			for i := 2; i <= 6; i++ {
				tabletest.Append(t, src, int64(i*100), 100, nil)
			}
			check(race(), 5)
		})
	}
}

// TestCloneFork: a destination with commits of its own keeps them; the
// source's commits are replayed as new versions; only source files are added
// or removed; a stream re-routed to the fork is never moved back.
func TestCloneFork(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "file")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 100, &table.Commit{Operation: "WRITE", AppID: "ingest:a", AppVersion: 1})
	tabletest.Append(t, src, 100, 100, &table.Commit{Operation: "WRITE", AppID: "ingest:b", AppVersion: 1})
	clone(t, srcB, dstB, nil) // replica at 2

	// Fork: stream b is re-routed to the destination and writes batch 2..3 there.
	dst := open(t, dstB)
	tabletest.Append(t, dst, 10_000, 50, &table.Commit{Operation: "WRITE", AppID: "ingest:b", AppVersion: 2})
	tabletest.Append(t, dst, 10_050, 50, &table.Commit{Operation: "WRITE", AppID: "ingest:b", AppVersion: 3})
	forkFiles := map[string]bool{}
	for _, f := range rt.Latest(t, dst).Files() {
		forkFiles[f.Path] = true
	}
	for _, f := range rt.At(t, src, 2).Files() {
		delete(forkFiles, f.Path)
	}

	// The source keeps writing stream a (and an old retry of stream b at 2).
	tabletest.Append(t, src, 200, 100, &table.Commit{Operation: "WRITE", AppID: "ingest:a", AppVersion: 2})
	tabletest.Append(t, src, 300, 100, &table.Commit{Operation: "WRITE", AppID: "ingest:b", AppVersion: 2})
	// ... and deletes a file it wrote in version 1.
	srcSnap := rt.Latest(t, src)
	var victim *table.Add
	for _, f := range rt.At(t, src, 1).Files() {
		victim = f
		break
	}
	now := time.Now().UnixMilli()
	size := victim.Size
	if _, err := src.Commit(ctx, srcSnap, &table.Commit{Operation: "DELETE", Actions: []table.Action{{Remove: &table.Remove{
		Path: victim.Path, DeletionTimestamp: &now, DataChange: true, PartitionValues: victim.PartitionValues, Size: &size}}}}); err != nil {
		t.Fatal(err)
	}
	_, wantBytes := rt.AddedBytes(t, src, 2, -1)

	res := clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeFork || res.CommitsWritten != 3 || res.PreviousSourceVersion != 2 || res.SourceVersion != 5 {
		t.Fatalf("fork clone: %+v", res)
	}
	if res.Metrics.CopiedFilesSize != wantBytes || res.Metrics.NumRemovedFiles != 1 || res.Metrics.RemovedFilesSize != size {
		t.Fatalf("fork clone metrics %+v, want %d bytes copied and 1 file (%d bytes) removed", res.Metrics, wantBytes, size)
	}
	d := rt.Latest(t, dst)
	if d.Version() != 7 {
		t.Fatalf("fork at version %d, want 4 (own) + 3 replayed = 7", d.Version())
	}
	live := map[string]bool{}
	for _, f := range d.Files() {
		live[f.Path] = true
	}
	for p := range forkFiles {
		if !live[p] {
			t.Fatalf("the fork's own file %s was dropped", p)
		}
	}
	if live[victim.Path] {
		t.Fatalf("file %s removed by the source is still live in the fork", victim.Path)
	}
	if len(d.Files()) != len(rt.Latest(t, src).Files())+len(forkFiles) {
		t.Fatalf("fork has %d files, want source's %d + own %d", len(d.Files()), len(rt.Latest(t, src).Files()), len(forkFiles))
	}
	// Rows: the source's plus the fork's own.
	want := tabletest.IDs(t, rt.Latest(t, src), "")
	for id := int64(10_000); id < 10_100; id++ {
		want = append(want, id)
	}
	slices.Sort(want)
	if got := tabletest.IDs(t, d, ""); !slices.Equal(got, want) {
		t.Fatalf("fork has %d ids, want %d", len(got), len(want))
	}
	if v, _ := d.AppVersion("ingest:a"); v != 2 {
		t.Fatalf("stream a on the fork at %d, want the source's 2", v)
	}
	if v, _ := d.AppVersion("ingest:b"); v != 3 {
		t.Fatalf("stream b on the fork at %d, want its own 3 (never moved back to the source's 2)", v)
	}
	// Fork timestamps stay monotonic; the source's time is in a tag.
	h := history(t, dst)
	for v := int64(1); v <= 7; v++ {
		if h[v] != nil && h[v-1] != nil && h[v].Timestamp < h[v-1].Timestamp {
			t.Fatalf("fork commit %d has an earlier timestamp than %d", v, v-1)
		}
	}
	if h[7].Tags[replicate.TagSourceVersion] != "5" || h[7].Tags[replicate.TagSourceTimestamp] == "" || h[7].Operation != "DELETE" {
		t.Fatalf("fork commit 7 commitInfo %+v", h[7])
	}
	// Up to date now.
	if res := clone(t, srcB, dstB, nil); res.CommitsWritten != 0 || res.Mode != replicate.ModeFork {
		t.Fatalf("second fork clone: %+v", res)
	}
}

// TestCloneLogCleaned falls back to comparing live files when the source's
// log no longer has the commits after the recorded version.
func TestCloneLogCleaned(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, map[string]string{"delta.checkpointInterval": "2"})
	tabletest.Append(t, src, 0, 100, nil)
	clone(t, srcB, dstB, nil) // replica at 1
	keep := rt.Latest(t, src).Files()[0]
	for i := 1; i <= 4; i++ {
		tabletest.Append(t, src, int64(i*100), 100, nil)
	}
	srcSnap := rt.Latest(t, src)
	var victim *table.Add
	for _, f := range srcSnap.Files() {
		if f.Path != keep.Path {
			victim = f
			break
		}
	}
	now := time.Now().UnixMilli()
	if _, err := src.Commit(ctx, srcSnap, &table.Commit{Operation: "DELETE", Actions: []table.Action{{Remove: &table.Remove{
		Path: victim.Path, DeletionTimestamp: &now, DataChange: true}}}}); err != nil {
		t.Fatal(err)
	}
	// Versions 0..6 with checkpoints at 2, 4, 6; clean commits 0..5.
	for v := 0; v <= 5; v++ {
		if err := srcB.Delete(ctx, fmt.Sprintf("_delta_log/%020d.json", v)); err != nil {
			t.Fatal(err)
		}
	}
	srcSnap = rt.Latest(t, open(t, srcB))
	if srcSnap.Version() != 6 {
		t.Fatalf("source at %d after cleanup", srcSnap.Version())
	}
	dstBefore := rt.Latest(t, open(t, dstB)).Files()
	missing := int64(0)
	had := map[string]bool{}
	for _, f := range dstBefore {
		had[f.Path] = true
	}
	for _, f := range srcSnap.Files() {
		if !had[f.Path] {
			missing += f.Size
		}
	}
	res := clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeSync || res.CommitsWritten != 1 || res.SourceVersion != 6 || res.Metrics.CopiedFilesSize != missing {
		t.Fatalf("clone after log cleanup: %+v (want %d bytes copied)", res, missing)
	}
	dst := open(t, dstB)
	rt.SameRows(t, srcSnap, rt.Latest(t, dst))
	if ci := history(t, dst)[2]; ci == nil || ci.Operation != "CLONE" {
		t.Fatalf("sync commit: %+v", ci)
	}
	// From here the destination has its own numbering: later runs replay as a fork.
	tabletest.Append(t, src, 1000, 10, nil)
	res = clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeFork || res.CommitsWritten != 1 {
		t.Fatalf("clone after the sync: %+v", res)
	}
	rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, open(t, dstB)))
}

// TestCloneDryRun plans without writing.
func TestCloneDryRun(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "file")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 100, nil)
	res := clone(t, srcB, dstB, &replicate.Options{DryRun: true})
	snap := rt.Latest(t, src)
	if len(res.Planned) != len(snap.Files()) || res.Metrics.NumCopiedFiles != 0 || !res.DryRun {
		t.Fatalf("dry run planned %d files, source has %d: %+v", len(res.Planned), len(snap.Files()), res)
	}
	if _, err := table.Open(ctx, dstB, nil); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("dry run wrote a table: %v", err)
	}
	if _, err := dstB.Stat(ctx, mustKey(t, res.Planned[0].Path)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("dry run copied a file: %v", err)
	}
	clone(t, srcB, dstB, nil)
	tabletest.Append(t, src, 100, 100, nil)
	files, bytes := rt.AddedBytes(t, src, 1, -1)
	res = clone(t, srcB, dstB, &replicate.Options{DryRun: true})
	var planned int64
	for _, p := range res.Planned {
		planned += p.Size
	}
	if int64(len(res.Planned)) != files || planned != bytes || res.CommitsWritten != 1 || res.Mode != replicate.ModeReplica {
		t.Fatalf("incremental dry run: %+v, want %d files of %d bytes", res, files, bytes)
	}
	if v := rt.Latest(t, open(t, dstB)).Version(); v != 1 {
		t.Fatalf("dry run moved the destination to %d", v)
	}
}

func mustKey(t *testing.T, path string) string {
	key, err := table.FileKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestCloneRefusals covers the errors callers branch on.
func TestCloneRefusals(t *testing.T) {
	ctx := context.Background()
	srcB := location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 100, nil)

	if _, err := replicate.Clone(ctx, srcB, srcB, nil); !errors.Is(err, replicate.ErrSameLocation) {
		t.Fatalf("clone onto itself: %v", err)
	}
	other := location(t, "mem")
	tabletest.Create(t, other, nil)
	if _, err := replicate.Clone(ctx, srcB, other, nil); !errors.Is(err, replicate.ErrNotClone) {
		t.Fatalf("clone onto an unrelated table: %v", err)
	}
	if _, err := replicate.Clone(ctx, location(t, "mem"), location(t, "mem"), nil); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("clone of nothing: %v", err)
	}

	// A source file whose size disagrees with its log entry is caught, and
	// the destination gets no commit referencing it.
	f := rt.Latest(t, src).Files()[0]
	if err := srcB.Put(ctx, mustKey(t, f.Path), []byte("not the file the log describes")); err != nil {
		t.Fatal(err)
	}
	dstB := location(t, "file")
	if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, replicate.ErrVerify) {
		t.Fatalf("clone of a damaged source: %v, want ErrVerify", err)
	}
	if _, err := table.Open(ctx, dstB, nil); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("destination after a failed verification: %v", err)
	}
	if _, err := dstB.Stat(ctx, mustKey(t, f.Path)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the unverified copy was left behind: %v", err)
	}
}

// TestCloneProgress checks the progress callback's counts.
func TestCloneProgress(t *testing.T) {
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 300, nil)
	snap := rt.Latest(t, src)
	var last replicate.Progress
	calls := 0
	clone(t, srcB, dstB, &replicate.Options{Progress: func(p replicate.Progress) {
		if p.Bytes < last.Bytes || p.Files < last.Files {
			t.Errorf("progress went backwards: %+v after %+v", p, last)
		}
		last = p
		calls++
	}})
	if calls != len(snap.Files()) || last.Bytes != snap.SizeBytes() || last.TotalBytes != snap.SizeBytes() || last.Files != last.TotalFiles {
		t.Fatalf("%d progress calls, last %+v; source %d files of %d bytes", calls, last, len(snap.Files()), snap.SizeBytes())
	}
}

// TestCloneDivergedFork: a fork that deleted rows on its own (step 4 of a
// live fork) is not cloned into again: a replay would bring back, or
// delete, what the fork decided. Its own appends alone do not count.
func TestCloneDivergedFork(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 100, nil)
	clone(t, srcB, dstB, nil)
	dst := open(t, dstB)
	tabletest.Append(t, dst, 10_000, 50, nil) // the fork's own rows (its egress route)
	tabletest.Append(t, src, 100, 100, nil)
	if res := clone(t, srcB, dstB, nil); res.Mode != replicate.ModeFork || res.CommitsWritten != 1 {
		t.Fatalf("backfill clone into a fork with appends of its own: %+v", res)
	}
	// Step 4: the fork deletes what is not its subset; the source goes on.
	del, err := dst.Delete(ctx, &table.DeleteOptions{Where: "id < 10000"})
	if err != nil {
		t.Fatal(err)
	}
	tabletest.Append(t, src, 200, 100, nil)
	before := rt.Latest(t, dst).Version()
	wantDiverged(t, srcB, dstB, fmt.Sprintf("version %d", del.Version))
	if v := rt.Latest(t, dst).Version(); v != before {
		t.Fatalf("refused clone wrote to the fork: version %d -> %d", before, v)
	}
	// Still only the fork's own rows.
	if got := tabletest.IDs(t, rt.Latest(t, dst), ""); len(got) != 50 || got[0] != 10_000 {
		t.Fatalf("fork rows after the refusal: %d rows from %v", len(got), got[:min(len(got), 3)])
	}
}

// TestCloneForkDryRunInOrder: a dry run into a fork checks each planned
// source commit against the fork as the commits planned before it would
// leave it: a source DELETE of rows the same run appends is no divergence.
func TestCloneForkDryRunInOrder(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 100, nil)
	clone(t, srcB, dstB, nil)
	tabletest.Append(t, open(t, dstB), 10_000, 50, nil) // the fork's own rows
	tabletest.Append(t, src, 100, 100, nil)
	if _, err := src.Delete(ctx, &table.DeleteOptions{Where: "id >= 150 AND id < 200"}); err != nil {
		t.Fatal(err)
	}
	if res := clone(t, srcB, dstB, &replicate.Options{DryRun: true}); res.CommitsWritten != 2 {
		t.Fatalf("dry run: %+v, want 2 commits planned", res)
	}
	clone(t, srcB, dstB, nil)
	if got := tabletest.IDs(t, rt.Latest(t, open(t, dstB)), ""); len(got) != 200 {
		t.Fatalf("fork after the clone: %d rows, want 150 of the source and 50 of its own", len(got))
	}
}

// TestCloneForkDryRunSchema: a dry run checks a planned schema against the
// fork's schema as the planned commits before it leave it: a source that
// adds a column and then sets a schema without it is refused in the dry
// run as in the real one (the fork holds the column's values by then).
func TestCloneForkDryRunSchema(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 10, nil)
	clone(t, srcB, dstB, nil)
	tabletest.Append(t, open(t, dstB), 10_000, 5, nil) // the fork's own rows
	without := *rt.Latest(t, src).Metadata()
	if _, _, err := src.AddColumns(ctx, rt.Latest(t, src), func(*table.Schema) ([]*table.Field, error) {
		return []*table.Field{{Name: "src_col", Type: table.TypeLong, Nullable: true}}, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Commit(ctx, rt.Latest(t, src), &table.Commit{Actions: []table.Action{{MetaData: &without}}}); err != nil {
		t.Fatal(err)
	}
	wantDiverged(t, srcB, dstB, "src_col")
}

// TestCloneForkThatOptimized: a fork (or replica) that ran OPTIMIZE of its
// own no longer holds the files a later source rewrite removes. Replaying
// a source DELETE there would add the kept rows a second time and leave
// the deleted ones in the fork's compacted file: refused, nothing written.
// A source OPTIMIZE of the very files the fork compacted holds no new row
// and is skipped.
func TestCloneForkThatOptimized(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.AppendBatches(t, src, 4, 100)
	clone(t, srcB, dstB, nil)
	dst := open(t, dstB)
	if _, err := dst.Optimize(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Both sides compact the same four files: the source's OPTIMIZE is
	// skipped, the fork keeps its own compacted file, no row twice.
	if _, err := src.Optimize(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if res := clone(t, srcB, dstB, &replicate.Options{DryRun: true}); res.CommitsWritten != 1 {
		t.Fatalf("dry run of a source OPTIMIZE the fork also ran: %+v, want 1 commit planned", res)
	}
	clone(t, srcB, dstB, nil)
	if got := tabletest.IDs(t, rt.Latest(t, dst), ""); len(got) != 400 || got[0] != 0 || got[399] != 399 {
		t.Fatalf("fork after both sides optimized: %d rows, want ids 0..399 once each", len(got))
	}
	// A source DELETE of rows in the compacted file: refused.
	tabletest.Append(t, src, 400, 100, nil)
	clone(t, srcB, dstB, nil)
	if _, err := dst.Optimize(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Delete(ctx, &table.DeleteOptions{Where: "id >= 390 AND id < 410"}); err != nil {
		t.Fatal(err)
	}
	before := rt.Latest(t, dst).Version()
	wantDiverged(t, srcB, dstB, "")
	if v := rt.Latest(t, dst).Version(); v != before {
		t.Fatalf("refused clone wrote to the fork: version %d -> %d", before, v)
	}
	if got := tabletest.IDs(t, rt.Latest(t, dst), ""); len(got) != 500 {
		t.Fatalf("fork after the refusal: %d rows, want 500", len(got))
	}
}

// TestCloneForkOwnColumn: a source schema change replayed into a fork that
// added a column of its own would drop that column: refused.
func TestCloneForkOwnColumn(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 10, nil)
	clone(t, srcB, dstB, nil)
	dst := open(t, dstB)
	long := func(name string) func(*table.Schema) ([]*table.Field, error) {
		return func(*table.Schema) ([]*table.Field, error) {
			return []*table.Field{{Name: name, Type: table.TypeLong, Nullable: true}}, nil
		}
	}
	if _, _, err := dst.AddColumns(ctx, rt.Latest(t, dst), long("fork_col"), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.AddColumns(ctx, rt.Latest(t, src), long("src_col"), nil); err != nil {
		t.Fatal(err)
	}
	before := rt.Latest(t, dst).Version()
	wantDiverged(t, srcB, dstB, "fork_col")
	if v := rt.Latest(t, dst).Version(); v != before {
		t.Fatalf("refused clone wrote to the fork: version %d -> %d", before, v)
	}
}

// A replica's log starts at the version it was first cloned at, with one
// commit holding every live file. A change-feed reader (egress) that has
// read the source up to the version before must not take that commit for
// new rows: it would forward the whole table again.
func TestReplicaFirstCommitIsNoChange(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.AppendBatches(t, src, 3, 10)
	res := clone(t, srcB, dstB, nil)
	dst := open(t, dstB)
	if _, err := dst.Changes(ctx, res.SourceVersion-1, -1, 0); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("change feed from the version before the replica's first: %v, want ErrVersionNotFound", err)
	}
	tabletest.Append(t, src, 30, 10, nil)
	clone(t, srcB, dstB, nil)
	chs, err := dst.Changes(ctx, res.SourceVersion, -1, 0)
	if err != nil || len(chs) != 1 {
		t.Fatalf("change feed after the replica's first version: %d changes, %v", len(chs), err)
	}
}

// Initial clones of different versions racing into one empty destination
// (or a rerun at another version after a killed one) build one log: the
// destination's versions stay contiguous, every one readable, and it ends
// equal to the source. Each initial clone at another version than the
// claim's clones the claimed version, then replays up to its own.
func TestCloneRacingInitialVersions(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.AppendBatches(t, src, 6, 10)
	latest := rt.Latest(t, src)
	// A killed initial clone at version 2 left only its claim.
	claim := fmt.Sprintf("%s@2", latest.Metadata().ID)
	if err := dstB.Put(ctx, "_loglake/clone/initial", []byte(claim)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, v := range []int64{4, 5, latest.Version()} {
		wg.Go(func() {
			// A clone that finds the destination past its version (a
			// racing one got further) is refused with ErrAhead.
			if _, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{Version: &v}); err != nil && !errors.Is(err, replicate.ErrAhead) {
				t.Errorf("clone at version %d: %v", v, err)
			}
		})
	}
	wg.Wait()
	dst := open(t, dstB)
	hist, err := dst.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].Version != hist[i-1].Version-1 {
			t.Fatalf("destination log has a gap between versions %d and %d", hist[i].Version, hist[i-1].Version)
		}
	}
	if first := hist[len(hist)-1].Version; first != 2 {
		t.Fatalf("destination log starts at version %d, want the claimed 2", first)
	}
	for v := int64(2); v <= latest.Version(); v++ {
		rt.SameRows(t, rt.At(t, src, v), rt.At(t, dst, v))
	}
}

// wantDiverged checks that a dry run and then a real clone of srcB into the
// fork dstB both refuse with ErrDiverged, the error naming what.
func wantDiverged(t *testing.T, srcB, dstB storage.Bucket, what string) {
	t.Helper()
	for _, dry := range []bool{true, false} {
		_, err := replicate.Clone(context.Background(), srcB, dstB, &replicate.Options{DryRun: dry})
		if !errors.Is(err, replicate.ErrDiverged) || !strings.Contains(err.Error(), what) {
			t.Fatalf("clone into a diverged fork (dry run %v): err = %v, want ErrDiverged naming %q", dry, err, what)
		}
	}
}

// TestCloneResumedCommitTime: an initial clone killed between its
// checkpoint and its commit is completed by the next run with the source's
// commit time (it once took the checkpoint's time, later by the whole copy).
func TestCloneResumedCommitTime(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.AppendBatches(t, src, 3, 10)
	clone(t, srcB, dstB, nil)
	if err := dstB.Delete(ctx, "_delta_log/00000000000000000003.json"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if res := clone(t, srcB, dstB, nil); res.CommitsWritten != 1 {
		t.Fatalf("rerun: %+v", res)
	}
	want, got := history(t, src)[3], history(t, open(t, dstB))[3]
	if got == nil || got.Timestamp != want.Timestamp {
		t.Fatalf("version 3: source's commit time %d, the completed clone commit's %+v", want.Timestamp, got)
	}
}

// cleanLog deletes the source's commits 0..upTo (its checkpoints stay), as
// log cleanup past a clone's recorded version leaves it.
func cleanLog(t *testing.T, b storage.Bucket, upTo int) {
	t.Helper()
	for v := 0; v <= upTo; v++ {
		if err := b.Delete(context.Background(), fmt.Sprintf("_delta_log/%020d.json", v)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCloneSyncRefusesFork: when the source's log no longer holds the
// commits after a fork's recorded version, comparing live files cannot tell
// what the fork compacted or deleted from what the source added, nor the
// fork's own files from source files whose tombstones expired. Both used to
// double the rows; a fork is now refused, and a destination with clone
// commits only (after a sync: a fork by its numbering alone) is synced.
func TestCloneSyncRefusesFork(t *testing.T) {
	ctx := context.Background()
	t.Run("fork compacted", func(t *testing.T) {
		srcB, dstB := location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, map[string]string{"delta.checkpointInterval": "2"})
		tabletest.AppendBatches(t, src, 4, 100)
		clone(t, srcB, dstB, nil)
		if _, err := open(t, dstB).Optimize(ctx, nil); err != nil {
			t.Fatal(err)
		}
		tabletest.Append(t, src, 400, 10, nil)
		tabletest.Append(t, src, 410, 10, nil) // checkpoint 6
		cleanLog(t, srcB, 5)
		before := rt.Latest(t, open(t, dstB)).Version()
		wantDiverged(t, srcB, dstB, "(version 5, OPTIMIZE)")
		if v := rt.Latest(t, open(t, dstB)).Version(); v != before {
			t.Fatalf("a refused sync committed: version %d, was %d", v, before)
		}
	})
	t.Run("source tombstones expired", func(t *testing.T) {
		srcB, dstB := location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, map[string]string{"delta.checkpointInterval": "2",
			"delta.deletedFileRetentionDuration": "interval 1 millisecond"})
		tabletest.AppendBatches(t, src, 4, 100)
		clone(t, srcB, dstB, nil)
		tabletest.Append(t, open(t, dstB), 9000, 10, nil) // the fork's own
		if _, err := src.Optimize(ctx, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		tabletest.Append(t, src, 400, 10, nil) // checkpoint 6, without the expired tombstones
		cleanLog(t, srcB, 5)
		wantDiverged(t, srcB, dstB, "(version 5, WRITE)")
	})
	t.Run("clone commits only", func(t *testing.T) {
		srcB, dstB := location(t, "mem"), location(t, "mem")
		src := tabletest.Create(t, srcB, map[string]string{"delta.checkpointInterval": "2",
			"delta.deletedFileRetentionDuration": "interval 1 millisecond"})
		tabletest.Append(t, src, 0, 100, nil)
		clone(t, srcB, dstB, nil) // replica at 1
		tabletest.AppendBatches(t, src, 3, 10)
		tabletest.Append(t, src, 1000, 10, nil) // 5, then 6 below: checkpoint 6
		tabletest.Append(t, src, 1010, 10, nil)
		cleanLog(t, srcB, 5)
		if res := clone(t, srcB, dstB, nil); res.Mode != replicate.ModeSync {
			t.Fatalf("first sync: %+v", res)
		}
		tabletest.Append(t, src, 2000, 10, nil) // replayed as a fork (7 → 3)
		clone(t, srcB, dstB, nil)
		if _, err := src.Optimize(ctx, nil); err != nil { // 8: its tombstones expire
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		tabletest.Append(t, src, 3000, 10, nil)
		tabletest.Append(t, src, 3010, 10, nil) // 10: checkpoint
		cleanLog(t, srcB, 9)
		if res := clone(t, srcB, dstB, nil); res.Mode != replicate.ModeSync {
			t.Fatalf("second sync: %+v", res)
		}
		rt.SameRows(t, rt.Latest(t, open(t, srcB)), rt.Latest(t, open(t, dstB)))
	})
}

// TestCloneOwnDeleteDuringReplay: a DELETE of the destination's own that
// takes the version a replica replay was about to write turns it into a
// fork, and that fork is refused at once, as the next run would refuse it
// (which did not, once a clone commit followed the DELETE).
func TestCloneOwnDeleteDuringReplay(t *testing.T) {
	ctx := context.Background()
	srcB, inner := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.Append(t, src, 0, 100, nil)
	clone(t, srcB, inner, nil)
	removeFile(t, src, false) // a remove without size: the next run takes the full path
	tabletest.Append(t, src, 100, 100, nil)
	clone(t, srcB, inner, nil)
	for i := 2; i <= 4; i++ {
		tabletest.Append(t, src, int64(i*100), 100, nil) // 4..6
	}
	own := open(t, inner)
	dstB := &interloper{Bucket: inner, key: "_delta_log/00000000000000000005.json", before: func() {
		removeFile(t, own, true) // the destination's own DELETE takes version 5
	}}
	if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, replicate.ErrDiverged) {
		t.Fatalf("replay that lost version 5 to a DELETE of the destination's own: %v, want ErrDiverged", err)
	}
	tabletest.Append(t, src, 1000, 10, nil)
	wantDiverged(t, srcB, inner, "removes data on its own")
}

// TestCloneResumeAfterSourceVacuum: an initial clone interrupted mid-copy,
// then the source compacts and vacuums the files it was copying. The
// claimed version can never complete; a rerun that wants a later version
// moves the claim there (every rerun failed with ErrMissingFile), while a
// rerun pinned to the claimed version still fails, naming the file.
func TestCloneResumeAfterSourceVacuum(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "mem")
	src := tabletest.Create(t, srcB, nil)
	tabletest.AppendBatches(t, src, 6, 50)
	claimed := rt.Latest(t, src).Version()
	cctx, cancel := context.WithCancel(ctx)
	_, err := replicate.Clone(cctx, srcB, dstB, &replicate.Options{Parallel: 1, Progress: func(p replicate.Progress) {
		if p.Files == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted clone: %v", err)
	}
	if _, err := src.Optimize(ctx, nil); err != nil {
		t.Fatal(err)
	}
	zero := time.Duration(0)
	if _, err := src.Vacuum(ctx, &table.VacuumOptions{Retain: &zero, Force: true, Grace: time.Nanosecond,
		Now: func() time.Time { return time.Now().Add(time.Minute) }}); err != nil {
		t.Fatal(err)
	}
	if _, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{Version: &claimed}); !errors.Is(err, replicate.ErrMissingFile) {
		t.Fatalf("rerun pinned to the claimed version %d: %v, want ErrMissingFile", claimed, err)
	}
	claim := func() string {
		data, err := dstB.Get(ctx, "_loglake/clone/initial")
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	before := claim()
	if res, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{DryRun: true}); err != nil || res.CommitsWritten != 1 {
		t.Fatalf("dry run of the rerun: %+v, %v; want the later version planned", res, err)
	}
	if after := claim(); after != before {
		t.Fatalf("the dry run moved the claim: %q, was %q", after, before)
	}
	res := clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeInitial || res.DestinationVersion != claimed+1 {
		t.Fatalf("rerun at the latest version: %+v", res)
	}
	rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, open(t, dstB)))
}
