package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/loglake/loglake/replicate"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

func openBucket(t *testing.T, url string) storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func openTable(t *testing.T, b storage.Bucket) *table.Table {
	t.Helper()
	tbl, err := table.Open(context.Background(), b, nil)
	if err != nil {
		t.Fatalf("open table %s: %v", b.URL(), err)
	}
	return tbl
}

func cloneOK(t *testing.T, src, dst storage.Bucket, opts *replicate.Options) *replicate.Result {
	t.Helper()
	res, err := replicate.Clone(context.Background(), src, dst, opts)
	if err != nil {
		t.Fatalf("clone %s -> %s: %v", src.URL(), dst.URL(), err)
	}
	return res
}

// cloudBackends returns the S3, GCS and Azure emulator backends.
func cloudBackends(t *testing.T) []Backend {
	var out []Backend
	for _, be := range Backends(t) {
		if be.Name != "mem" && be.Name != "file" {
			out = append(out, be)
		}
	}
	return out
}

// TestCloneChainAcrossClouds clones file:// -> S3 -> GCS -> Azure -> file://
// (each hop cloning the previous copy), then appends to the source and
// re-clones every hop: rows are equal at every hop, versions are the
// source's, and each incremental hop moves exactly the new commits' bytes.
func TestCloneChainAcrossClouds(t *testing.T) {
	var hops []storage.Bucket
	var names []string
	for _, be := range Backends(t) {
		switch be.Name {
		case "file", "s3", "gcs", "azure":
			hops = append(hops, openBucket(t, UniqueURL(t, be.BaseURL)))
			names = append(names, be.Name)
		}
	}
	back := openBucket(t, UniqueURL(t, fileURL(t.TempDir())))
	hops, names = append(hops, back), append(names, "file-back")
	if len(hops) != 5 {
		t.Fatalf("chain has %d hops (%v), want file, s3, gcs, azure, file-back", len(hops), names)
	}

	src := tabletest.Create(t, hops[0], nil)
	tabletest.Append(t, src, 0, 400, &table.Commit{Operation: "WRITE", AppID: "ingest:chain", AppVersion: 1})
	tabletest.Append(t, src, 400, 300, &table.Commit{Operation: "WRITE", AppID: "ingest:chain", AppVersion: 2})
	srcSnap := rt.Latest(t, src)
	for i := 1; i < len(hops); i++ {
		res := cloneOK(t, hops[i-1], hops[i], &replicate.Options{Parallel: 4})
		if res.Mode != replicate.ModeInitial || res.DestinationVersion != srcSnap.Version() ||
			res.Metrics.CopiedFilesSize != srcSnap.SizeBytes() || res.Metrics.NumCopiedFiles != int64(len(srcSnap.Files())) {
			t.Fatalf("hop %s -> %s: %+v; source %d files, %d bytes", names[i-1], names[i], res, len(srcSnap.Files()), srcSnap.SizeBytes())
		}
		hop := rt.Latest(t, openTable(t, hops[i]))
		rt.SameRows(t, srcSnap, hop)
		if v, _ := hop.AppVersion("ingest:chain"); v != 2 {
			t.Fatalf("hop %s: ingest txn %d, want 2", names[i], v)
		}
	}

	for round := range 2 {
		before := rt.Latest(t, src).Version()
		tabletest.Append(t, src, int64(1000+round*100), 100, &table.Commit{Operation: "WRITE", AppID: "ingest:chain", AppVersion: int64(3 + round)})
		tabletest.Append(t, src, int64(1050+round*100), 20, nil)
		_, want := rt.AddedBytes(t, src, before, -1)
		srcSnap = rt.Latest(t, src)
		for i := 1; i < len(hops); i++ {
			res := cloneOK(t, hops[i-1], hops[i], &replicate.Options{Parallel: 4})
			if res.Mode != replicate.ModeReplica || res.CommitsWritten != 2 || res.Metrics.CopiedFilesSize != want || res.FilesPresent != 0 {
				t.Fatalf("round %d hop %s -> %s: %+v; want 2 commits and exactly %d new bytes", round, names[i-1], names[i], res, want)
			}
			hopT := openTable(t, hops[i])
			hop := rt.Latest(t, hopT)
			if hop.Version() != srcSnap.Version() {
				t.Fatalf("hop %s at version %d, source at %d", names[i], hop.Version(), srcSnap.Version())
			}
			rt.SameRows(t, srcSnap, hop)
			rt.SameRows(t, rt.At(t, src, before+1), rt.At(t, hopT, before+1)) // time travel on the copy
		}
	}
}

// TestCloneSameBucket clones between two prefixes of one cloud bucket, where
// copies are server-side.
func TestCloneSameBucket(t *testing.T) {
	for _, be := range cloudBackends(t) {
		t.Run(be.Name, func(t *testing.T) {
			srcB, dstB := openBucket(t, UniqueURL(t, be.BaseURL)), openBucket(t, UniqueURL(t, be.BaseURL))
			src := tabletest.Create(t, srcB, nil)
			tabletest.Append(t, src, 0, 300, nil)
			cloneOK(t, srcB, dstB, nil)
			tabletest.Append(t, src, 300, 100, nil)
			_, want := rt.AddedBytes(t, src, 1, -1)
			res := cloneOK(t, srcB, dstB, nil)
			if res.Metrics.CopiedFilesSize != want {
				t.Fatalf("copied %d bytes, want %d", res.Metrics.CopiedFilesSize, want)
			}
			rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, openTable(t, dstB)))
		})
	}
}

// TestCloneCrashResumeClouds fails a clone into each cloud mid-copy and
// mid-replay, then reruns it.
func TestCloneCrashResumeClouds(t *testing.T) {
	for _, be := range cloudBackends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			srcB := openBucket(t, UniqueURL(t, fileURL(t.TempDir())))
			src := tabletest.Create(t, srcB, nil)
			for i := range 3 {
				tabletest.Append(t, src, int64(i*100), 100, nil)
			}
			inner := openBucket(t, UniqueURL(t, be.BaseURL))
			dstB := storage.NewFaulty(inner, storage.Faults{Ops: []string{storage.OpCopy}, Nth: 4, Err: storage.ErrPermanent})
			if _, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{Parallel: 1}); !errors.Is(err, storage.ErrInjected) {
				t.Fatalf("clone with a failing copy: %v", err)
			}
			if _, err := table.Open(ctx, inner, nil); !errors.Is(err, table.ErrNoTable) {
				t.Fatalf("failed first clone left a table: %v", err)
			}
			dstB.SetFaults(storage.Faults{})
			res := cloneOK(t, srcB, dstB, &replicate.Options{Parallel: 1})
			if res.FilesPresent != 3 || res.Metrics.NumCopiedFiles != int64(len(rt.Latest(t, src).Files()))-3 {
				t.Fatalf("resumed clone: %+v", res)
			}

			for i := 3; i < 6; i++ {
				tabletest.Append(t, src, int64(i*100), 100, nil)
			}
			dstB.SetFaults(storage.Faults{Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/", Nth: 2, After: true, Err: storage.ErrPermanent})
			if _, err := replicate.Clone(ctx, srcB, dstB, nil); !errors.Is(err, storage.ErrInjected) {
				t.Fatalf("clone with a lost commit response: %v", err)
			}
			dstB.SetFaults(storage.Faults{})
			res = cloneOK(t, srcB, dstB, nil)
			if res.CommitsWritten != 1 || res.Metrics.NumCopiedFiles != 0 {
				t.Fatalf("resumed replay: %+v", res)
			}
			s, d := rt.Latest(t, src), rt.Latest(t, openTable(t, inner))
			if d.Version() != s.Version() || len(d.Files()) != len(s.Files()) {
				t.Fatalf("destination version %d, %d files; source %d, %d files", d.Version(), len(d.Files()), s.Version(), len(s.Files()))
			}
			rt.SameRows(t, s, d)
		})
	}
}

// TestCloneRacingClouds runs three clones into each cloud at once.
func TestCloneRacingClouds(t *testing.T) {
	for _, be := range cloudBackends(t) {
		t.Run(be.Name, func(t *testing.T) {
			srcB := openBucket(t, UniqueURL(t, fileURL(t.TempDir())))
			dstB := openBucket(t, UniqueURL(t, be.BaseURL))
			src := tabletest.Create(t, srcB, nil)
			tabletest.Append(t, src, 0, 100, nil)
			race := func(wantCommits int) {
				var wg sync.WaitGroup
				results := make([]*replicate.Result, 3)
				errs := make([]error, 3)
				for i := range results {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i], errs[i] = replicate.Clone(context.Background(), srcB, dstB, &replicate.Options{Parallel: 2})
					}()
				}
				wg.Wait()
				written := 0
				for i, err := range errs {
					if err != nil {
						t.Fatalf("racing clone %d: %v", i, err)
					}
					written += results[i].CommitsWritten
				}
				if written != wantCommits {
					t.Fatalf("racing clones wrote %d commits, want %d", written, wantCommits)
				}
				s, d := rt.Latest(t, src), rt.Latest(t, openTable(t, dstB))
				if d.Version() != s.Version() || len(d.Files()) != len(s.Files()) {
					t.Fatalf("destination version %d, %d files; source %d, %d", d.Version(), len(d.Files()), s.Version(), len(s.Files()))
				}
				rt.SameRows(t, s, d)
			}
			race(1)
			for i := 1; i <= 3; i++ {
				tabletest.Append(t, src, int64(i*100), 100, nil)
			}
			race(3)
		})
	}
}

// TestCloneForkAndTimeTravelClouds: a time-travel clone of an older version
// into S3, turned into a live fork that keeps its own writes while the
// source's commits keep arriving.
func TestCloneForkAndTimeTravelClouds(t *testing.T) {
	var s3 Backend
	for _, be := range cloudBackends(t) {
		if be.Name == "s3" {
			s3 = be
		}
	}
	srcB := openBucket(t, UniqueURL(t, fileURL(t.TempDir())))
	dstB := openBucket(t, UniqueURL(t, s3.BaseURL))
	src := tabletest.Create(t, srcB, nil)
	for i := range 4 {
		tabletest.Append(t, src, int64(i*100), 100, nil)
	}
	res := cloneOK(t, srcB, dstB, &replicate.Options{Version: func() *int64 { v := int64(2); return &v }()})
	if res.DestinationVersion != 2 {
		t.Fatalf("time-travel clone: %+v", res)
	}
	dst := openTable(t, dstB)
	rt.SameRows(t, rt.At(t, src, 2), rt.Latest(t, dst))

	tabletest.Append(t, dst, 50_000, 40, &table.Commit{Operation: "WRITE", AppID: "ingest:fork", AppVersion: 1})
	res = cloneOK(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeFork || res.CommitsWritten != 2 || res.DestinationVersion != 5 {
		t.Fatalf("fork clone: %+v", res)
	}
	d := rt.Latest(t, dst)
	want := append(tabletest.IDs(t, rt.Latest(t, src), ""), seqIDs(50_000, 40)...)
	got := tabletest.IDs(t, d, "")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("fork has %d ids, want source's plus its own %d", len(got), len(want))
	}
	if v, ok := d.AppVersion("ingest:fork"); !ok || v != 1 {
		t.Fatalf("fork's own txn lost: %d %v", v, ok)
	}
}

func seqIDs(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}
