//go:build bench

package table_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// BenchmarkLogGrowth: open time and checkpoint size as the history grows to
// LOGLAKE_BENCH_LOG_COMMITS (default 5,000, past the 3,600-commit retention window; the scale is 100,000) commits on file:// (tmpfs), with
// retention on (log and deleted files: 1 hour of a fake clock that moves 1 s
// per commit) and without (the 30/7-day defaults, so nothing expires). The
// workload is the central table's: one small file added per commit, and
// every 100th commit a compaction (dataChange=false) replaces the live
// files with one, leaving tombstones. Data files are never read by open or
// checkpoint, so they are not written; the log is real. Reported at 10%,
// 50% and 100%: live files, tombstones in the snapshot, the newest
// checkpoint's size, log objects, and a fresh handle's open time (best of
// 3).
func BenchmarkLogGrowth(b *testing.B) {
	n := 5_000
	if v, err := strconv.Atoi(os.Getenv("LOGLAKE_BENCH_LOG_COMMITS")); err == nil && v > 0 {
		n = v
	}
	for _, retention := range []bool{true, false} {
		b.Run(fmt.Sprintf("retention=%v", retention), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				logGrowth(b, n, retention)
			}
		})
	}
}

// benchDir is a fresh directory on tmpfs (/dev/shm) when there is one: these
// benchmarks measure loglake's log and commit path, and file:// on a disk
// would measure its fsyncs (one per commit) instead. Elsewhere, a temp dir.
func benchDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "loglake-bench-"); err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

func logGrowth(b *testing.B, n int, retention bool) {
	ctx := context.Background()
	bucket, err := storage.Open(ctx, "file://"+benchDir(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	props := map[string]string{}
	if retention {
		props["delta.logRetentionDuration"] = "interval 1 hour"
		props["delta.deletedFileRetentionDuration"] = "interval 1 hour"
	}
	if _, err := table.Create(ctx, bucket, table.CreateOptions{Schema: tabletest.Schema(),
		PartitionColumns: []string{"date"}, Properties: props}, &table.Options{Now: clock}); err != nil {
		b.Fatal(err)
	}
	tbl, err := table.Open(ctx, bucket, &table.Options{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	part := map[string]*string{"date": new("2026-11-01")}
	start := time.Now()
	for c := 1; c <= n; c++ {
		now = now.Add(time.Second)
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var actions []table.Action
		if c%100 == 0 {
			del := now.UnixMilli()
			for _, f := range snap.Files() {
				actions = append(actions, table.Action{Remove: &table.Remove{Path: f.Path, DeletionTimestamp: &del,
					PartitionValues: f.PartitionValues, Size: &f.Size, ExtendedFileMetadata: new(true)}})
			}
			actions = append(actions, table.Action{Add: &table.Add{Path: fmt.Sprintf("date=2026-11-01/compacted-%07d.parquet", c),
				PartitionValues: part, Size: 1 << 20, ModificationTime: del}})
		} else {
			actions = []table.Action{{Add: &table.Add{Path: fmt.Sprintf("date=2026-11-01/part-%07d.parquet", c),
				PartitionValues: part, Size: 3000, ModificationTime: now.UnixMilli(), DataChange: true}}}
		}
		if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: actions}); err != nil {
			b.Fatal(err)
		}
		if c == n/10 || c == n/2 || c == n {
			logGrowthReport(b, bucket, clock, c, time.Since(start))
		}
	}
}

func logGrowthReport(b *testing.B, bucket storage.Bucket, clock func() time.Time, commits int, took time.Duration) {
	ctx := context.Background()
	var open time.Duration
	var snap *table.Snapshot
	for k := 0; k < 3; k++ {
		t0 := time.Now()
		tbl, err := table.Open(ctx, bucket, &table.Options{Now: clock, NoLogCleanup: true})
		if err != nil {
			b.Fatal(err)
		}
		if snap, err = tbl.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
		if d := time.Since(t0); k == 0 || d < open {
			open = d
		}
	}
	var logObjects int
	cpVersion, cpBytes := int64(-1), int64(0)
	it := bucket.List(ctx, "_delta_log/", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		logObjects++
		name := strings.TrimPrefix(o.Key, "_delta_log/")
		if strings.Index(name, ".checkpoint") == 20 {
			v, _ := strconv.ParseInt(name[:20], 10, 64)
			if v > cpVersion {
				cpVersion, cpBytes = v, 0
			}
			if v == cpVersion {
				cpBytes += o.Size
			}
		}
	}
	b.Logf("%6d commits (%s): %d live files, %d tombstones, checkpoint %d of %.1f KiB, %d log objects, open %s",
		commits, took.Round(time.Second), len(snap.Files()), len(snap.Tombstones()), cpVersion, float64(cpBytes)/1024,
		logObjects, open.Round(100*time.Microsecond))
	b.ReportMetric(float64(cpBytes)/1024, fmt.Sprintf("checkpoint-KiB@%d", commits))
	b.ReportMetric(float64(open.Microseconds())/1000, fmt.Sprintf("open-ms@%d", commits))
}
