//go:build bench && linux

package table_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/internal/rsstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// BenchmarkOptimizeVsDuckDB compares OPTIMIZE with DuckDB's
// `COPY (SELECT * FROM read_parquet([...])) TO … (FORMAT parquet,
// COMPRESSION zstd)` on the same small files: a file:// table of
// LOGLAKE_BENCH_OPTIMIZE_FILES (default 100) files of 4,000 random log rows
// (~250 KiB each, one partition). Each round copies the table afresh and
// runs OPTIMIZE on it (in this process, GOMAXPROCS 2), then DuckDB (threads
// 2) on the copy's files, alternating, LOGLAKE_BENCH_OPTIMIZE_RUNS (default
// 3) rounds; it reports the medians of wall and CPU time (process rusage)
// per side and their ratios loglake/duckdb (above 1: loglake slower), and
// checks both outputs hold every row. OPTIMIZE writes zstd level 1 by
// default (DefaultOptimizeCompressionLevel); each round also runs it with
// level 3, DuckDB's, on a second copy, for the like-for-like "-l3" metrics.
func BenchmarkOptimizeVsDuckDB(b *testing.B) {
	files, runs := 100, 3
	if v, err := strconv.Atoi(os.Getenv("LOGLAKE_BENCH_OPTIMIZE_FILES")); err == nil && v > 1 {
		files = v
	}
	if v, err := strconv.Atoi(os.Getenv("LOGLAKE_BENCH_OPTIMIZE_RUNS")); err == nil && v > 0 {
		runs = v
	}
	const perFile = 4000
	ctx := context.Background()
	base := filepath.Join(b.TempDir(), "base")
	inBytes := buildSmallFiles(b, base, files, perFile)
	rows := int64(files * perFile)

	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"SET threads=2", "SET preserve_insertion_order=true"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var llWall, ddWall, llCPU, ddCPU, l1Wall, l1CPU []float64
		for r := 0; r < runs; r++ {
			b.StopTimer()
			dir := filepath.Join(b.TempDir(), "t")
			if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
				b.Fatal(err)
			}
			bucket, err := storage.Open(ctx, "file://"+dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			tbl, err := table.Open(ctx, bucket, nil)
			if err != nil {
				b.Fatal(err)
			}
			snap, err := tbl.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			dir1 := filepath.Join(b.TempDir(), "t1")
			if err := os.CopyFS(dir1, os.DirFS(base)); err != nil {
				b.Fatal(err)
			}
			bucket1, err := storage.Open(ctx, "file://"+dir1, nil)
			if err != nil {
				b.Fatal(err)
			}
			tbl1, err := table.Open(ctx, bucket1, nil)
			if err != nil {
				b.Fatal(err)
			}
			var paths []string
			for _, a := range snap.Files() {
				p, err := localPath(dir, a.Path)
				if err != nil {
					b.Fatal(err)
				}
				paths = append(paths, sqlString(p))
			}
			slices.Sort(paths)
			b.StartTimer()

			w, c := time.Now(), cpuSeconds()
			res, err := tbl.Optimize(ctx, nil)
			llWall, llCPU = append(llWall, time.Since(w).Seconds()), append(llCPU, cpuSeconds()-c)
			if err != nil {
				b.Fatal(err)
			}
			w, c = time.Now(), cpuSeconds()
			res1, err := tbl1.Optimize(ctx, &table.OptimizeOptions{Writer: &table.WriterOptions{CompressionLevel: 3}})
			l1Wall, l1CPU = append(l1Wall, time.Since(w).Seconds()), append(l1CPU, cpuSeconds()-c)
			if err != nil {
				b.Fatal(err)
			}
			out := filepath.Join(dir, "duckdb.parquet")
			w, c = time.Now(), cpuSeconds()
			_, err = db.ExecContext(ctx, "COPY (SELECT * FROM read_parquet(["+strings.Join(paths, ",")+"])) TO "+
				sqlString(out)+" (FORMAT parquet, COMPRESSION zstd)")
			ddWall, ddCPU = append(ddWall, time.Since(w).Seconds()), append(ddCPU, cpuSeconds()-c)
			if err != nil {
				b.Fatal(err)
			}

			b.StopTimer()
			for _, r := range []*table.OptimizeResult{res, res1} {
				if r.NumRemovedFiles != files || r.Rows != rows {
					b.Fatalf("OPTIMIZE removed %d files, %d rows; want %d, %d", r.NumRemovedFiles, r.Rows, files, rows)
				}
			}
			after, err := tbl.Snapshot(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var newPaths []string
			for _, a := range after.Files() {
				p, err := localPath(dir, a.Path)
				if err != nil {
					b.Fatal(err)
				}
				newPaths = append(newPaths, sqlString(p))
			}
			for _, src := range []string{"[" + strings.Join(newPaths, ",") + "]", sqlString(out)} {
				var n int64
				if err := db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet("+src+")").Scan(&n); err != nil {
					b.Fatal(err)
				}
				if n != rows {
					b.Fatalf("%s holds %d rows, want %d", src, n, rows)
				}
			}
			if r == 0 {
				fi, err := os.Stat(out)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(res.NumAddedBytes)/(1<<20), "loglake-out-MiB")
				b.ReportMetric(float64(res1.NumAddedBytes)/(1<<20), "loglake-l3-out-MiB")
				b.ReportMetric(float64(fi.Size())/(1<<20), "duckdb-out-MiB")
			}
			bucket.Close()
			bucket1.Close()
			os.RemoveAll(dir)
			os.RemoveAll(dir1)
			b.StartTimer()
		}
		lw, dw, lc, dc := median(llWall), median(ddWall), median(llCPU), median(ddCPU)
		b.ReportMetric(float64(inBytes)/1e6/lw, "loglake-MB/s")
		b.ReportMetric(float64(inBytes)/1e6/dw, "duckdb-MB/s")
		b.ReportMetric(lw/dw, "loglake/duckdb")
		b.ReportMetric(lc/dc, "cpu-loglake/duckdb")
		l1w, l1c := median(l1Wall), median(l1CPU)
		b.ReportMetric(l1w/dw, "loglake-l3/duckdb")
		b.ReportMetric(l1c/dc, "cpu-loglake-l3/duckdb")
		b.Logf("%d files, %.1f MiB, %d rows: OPTIMIZE (zstd level 1) median %.2f s (%.2f CPU-s), with zstd level 3 %.2f s (%.2f CPU-s), DuckDB COPY median %.2f s (%.2f CPU-s), %d alternating runs; load %s",
			files, float64(inBytes)/(1<<20), rows, lw, lc, l1w, l1c, dw, dc, runs, rsstest.LoadAvg())
	}
}

// buildSmallFiles creates a table at dir with n files of perFile random
// log rows each, one append per file, and returns their bytes.
func buildSmallFiles(b *testing.B, dir string, n, perFile int) int64 {
	ctx := context.Background()
	sch, err := table.ParseSchema(logSchema)
	if err != nil {
		b.Fatal(err)
	}
	bucket, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bucket.Close()
	tbl, err := table.Create(ctx, bucket, table.CreateOptions{Schema: sch, PartitionColumns: []string{"date"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		rec := randomLogRecord(sch.Arrow(), perFile, uint64(i))
		_, err := tbl.Append(ctx, []arrow.Record{rec}, nil)
		rec.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, a := range snap.Files() {
		size += a.Size
	}
	if len(snap.Files()) != n {
		b.Fatalf("%d files, want %d", len(snap.Files()), n)
	}
	return size
}

// cpuSeconds is this process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(syscall.TimevalToNsec(ru.Utime)+syscall.TimevalToNsec(ru.Stime)) / 1e9
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
