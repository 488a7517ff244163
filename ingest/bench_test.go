//go:build bench

package ingest_test

// In-process ingest benchmarks over the shapes of internal/benchlogs, for
// profiling (the comparison with DuckDB is internal/benchlogs/ingestbench,
// run by `make bench`):
//
//	go test -tags bench -run '^$' -bench BenchmarkIngestShapes -benchtime 1x -cpuprofile cpu.out ./ingest
//
// LOGLAKE_BENCH_INGEST_PROFILE_BYTES sets the bytes per shape (default 64 MB).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/benchlogs"
	"github.com/loglake/loglake/storage"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

func benchBytes(b *testing.B) int64 {
	if s := os.Getenv("LOGLAKE_BENCH_INGEST_PROFILE_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("LOGLAKE_BENCH_INGEST_PROFILE_BYTES=%q: want a positive byte count", s)
		}
		return n
	}
	return 64e6
}

// shapeDir generates (once, cached in the temp dir) a shape's landing files.
func shapeDir(b *testing.B, s benchlogs.Shape, size int64) string {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("loglake-bench-ingest-%s-%d", s.Name, size))
	done := filepath.Join(dir, "_complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	if _, err := benchlogs.Generate(context.Background(), dir, s, size, 32<<20, 1, 2); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(done, nil, 0o644)
	return dir
}

func BenchmarkIngestShapes(b *testing.B) {
	ctx := context.Background()
	size := benchBytes(b)
	for _, s := range benchlogs.Shapes() {
		b.Run(s.Name, func(b *testing.B) {
			dir := shapeDir(b, s, size)
			b.SetBytes(size)
			for range b.N {
				landing, err := storage.Open(ctx, "file://"+dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				tbl, err := storage.Open(ctx, "file://"+filepath.Join(b.TempDir(), "table"), nil)
				if err != nil {
					b.Fatal(err)
				}
				in, err := ingest.New(landing, tbl, &ingest.Options{MaxBytes: 1 << 40, MaxFiles: 1 << 20})
				if err != nil {
					b.Fatal(err)
				}
				cpu0 := cpuTime()
				sum, err := in.RunOnce(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(sum.Rows), "rows")
				// CPU-seconds of the process: far steadier than wall time
				// on a shared machine.
				b.ReportMetric((cpuTime() - cpu0).Seconds(), "CPU-s")
			}
		})
	}
}
