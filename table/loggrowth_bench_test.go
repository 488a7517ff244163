//go:build bench

package table_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// BenchmarkLogGrowth: open time and checkpoint size as the history grows to
// LOGLAKE_BENCH_LOG_COMMITS commits (default 25,000; the scale is
// 100,000 with LOGLAKE_BENCH_LOG_STEP=1m; without retention
// LOGLAKE_BENCH_LOG_COMMITS_OFF, default the same but at most 50,000) on
// file:// (tmpfs). One writer, one handle, the table's own clock
// (Options.Now) moving LOGLAKE_BENCH_LOG_STEP per commit (default 4m: the
// default run spans the same 69 days as 100,000 commits a minute apart, in
// a quarter of the commits, to fit make bench). Retention on is the table's
// defaults: delta.logRetentionDuration 30 days (10,800 commits at 4m,
// 43,200 at 1m) and delta.deletedFileRetentionDuration 7 days (2,520 /
// 10,080 commits), with the cleanup after each checkpoint (every 100
// commits). Retention off: delta.enableExpiredLogCleanup=false and a
// 100-year deleted-file retention, so every commit and tombstone stays.
// The workload is the central table's: one small file added per commit and
// every 100th commit a compaction (dataChange=false) replacing the live
// files with one, leaving tombstones. Data files are never read by open or
// checkpoint, so they are not written; the log is real. Reported at 10%,
// 50% and 100%: a fresh handle's open time (table.Open + Snapshot, median
// of 5), the newest checkpoint's size, log objects, tombstones of the fresh
// snapshot and of the writer's own, and the writer's commit rate since the
// last report.
func BenchmarkLogGrowth(b *testing.B) {
	n := 25_000
	if v, err := strconv.Atoi(os.Getenv("LOGLAKE_BENCH_LOG_COMMITS")); err == nil && v > 0 {
		n = v
	}
	step := 4 * time.Minute
	if v, err := time.ParseDuration(os.Getenv("LOGLAKE_BENCH_LOG_STEP")); err == nil && v > 0 {
		step = v
	}
	// Without retention each checkpoint (every 100 commits) rewrites every
	// tombstone of the history: 100,000 commits take too long.
	nOff := min(n, 50_000)
	if v, err := strconv.Atoi(os.Getenv("LOGLAKE_BENCH_LOG_COMMITS_OFF")); err == nil && v > 0 {
		nOff = v
	}
	for _, retention := range []bool{true, false} {
		b.Run(fmt.Sprintf("retention=%v", retention), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if retention {
					logGrowth(b, n, step, true)
				} else {
					logGrowth(b, nOff, step, false)
				}
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

func logGrowth(b *testing.B, n int, step time.Duration, retention bool) {
	ctx := context.Background()
	bucket, err := storage.Open(ctx, "file://"+benchDir(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	props := map[string]string{}
	if !retention {
		props["delta.enableExpiredLogCleanup"] = "false"
		props["delta.deletedFileRetentionDuration"] = "interval 36500 days"
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
	start, last, lastC := time.Now(), time.Now(), 0
	for c := 1; c <= n; c++ {
		now = now.Add(step)
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
			rate := float64(c-lastC) / time.Since(last).Seconds()
			writer, err := tbl.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			logGrowthReport(b, bucket, clock, c, time.Since(start), rate, len(tombstones(b, writer)))
			last, lastC = time.Now(), c
		}
	}
}

func logGrowthReport(b *testing.B, bucket storage.Bucket, clock func() time.Time, commits int, took time.Duration,
	rate float64, writerTombstones int) {
	ctx := context.Background()
	var opens []time.Duration
	var snap *table.Snapshot
	for k := 0; k < 5; k++ {
		t0 := time.Now()
		tbl, err := table.Open(ctx, bucket, &table.Options{Now: clock, NoLogCleanup: true})
		if err != nil {
			b.Fatal(err)
		}
		if snap, err = tbl.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
		opens = append(opens, time.Since(t0))
	}
	slices.Sort(opens)
	open := opens[len(opens)/2]
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
	b.Logf("%6d commits (%s, %.0f commits/s since the last line): %d live files, %d tombstones (writer's handle: %d), "+
		"checkpoint %d of %.1f KiB, %d log objects, open %s (median of 5)",
		commits, took.Round(time.Second), rate, len(snap.Files()), len(tombstones(b, snap)), writerTombstones, cpVersion,
		float64(cpBytes)/1024, logObjects, open.Round(100*time.Microsecond))
	b.ReportMetric(float64(cpBytes)/1024, fmt.Sprintf("checkpoint-KiB@%d", commits))
	b.ReportMetric(float64(open.Microseconds())/1000, fmt.Sprintf("open-ms@%d", commits))
}
