//go:build bench

package table_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// BenchmarkVacuum: VACUUM of a file:// table holding
// LOGLAKE_BENCH_VACUUM_FILES (default 100,000) data files, half of them
// removed by one commit long ago; reports wall time per run and storage
// calls (lists are counted per listing started, not per page).
func BenchmarkVacuum(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("LOGLAKE_BENCH_VACUUM_FILES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		inner, err := storage.Open(ctx, "file://"+dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		// The table's history is a month old: its commits (and the
		// removes, stamped with their commit's time) carry that clock.
		removedAt := time.Now().Add(-30 * 24 * time.Hour)
		tbl, err := table.Create(ctx, inner, table.CreateOptions{Schema: tabletest.Schema(), PartitionColumns: []string{"date"}},
			&table.Options{Now: func() time.Time { return removedAt }})
		if err != nil {
			b.Fatal(err)
		}
		// n one-byte files stand in for data files: VACUUM never reads
		// them. They are written directly, not through the bucket's Put,
		// which syncs each file and its directory: building the table
		// cost 100,000 fsync pairs, more than the VACUUM it sets up.
		written := time.Now().Add(-31 * 24 * time.Hour)
		adds := make([]table.Action, n)
		for d := 1; d <= 28; d++ {
			if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("date=2026-11-%02d", d)), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		for j := range n {
			key := fmt.Sprintf("date=2026-11-%02d/part-%07d.zstd.parquet", 1+j%28, j)
			adds[j] = table.Action{Add: &table.Add{Path: key, PartitionValues: map[string]*string{}, Size: 1, DataChange: true}}
			file := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
			// As old as their removal: the checkpoint after a commit this
			// large drops tombstones past the retention, and VACUUM then
			// judges the files by their modification time, as orphans.
			if err := os.Chtimes(file, written, written); err != nil {
				b.Fatal(err)
			}
		}
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: adds}); err != nil {
			b.Fatal(err)
		}
		snap, _ = tbl.Snapshot(ctx)
		removes := make([]table.Action, n/2)
		for j := range removes {
			removes[j] = table.Action{Remove: &table.Remove{Path: adds[j].Add.Path, DataChange: true}}
		}
		if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: removes}); err != nil {
			b.Fatal(err)
		}
		counted := storage.NewFaulty(inner, storage.Faults{})
		vt, err := table.Open(ctx, counted, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := vt.Vacuum(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res.FilesDeleted != int64(n/2) {
			b.Fatalf("deleted %d, want %d: %+v", res.FilesDeleted, n/2, *res)
		}
		b.ReportMetric(float64(n), "files")
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "vacuum-ms")
		b.ReportMetric(float64(counted.Calls(storage.OpDelete)), "deletes")
		b.ReportMetric(float64(counted.Calls(storage.OpList)), "lists")
		b.ReportMetric(float64(counted.Calls(storage.OpGet)), "gets")
	}
}
