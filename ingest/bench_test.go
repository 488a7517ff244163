//go:build bench

package ingest_test

// The ingest benchmark against DuckDB. It links DuckDB, so it is behind the
// "bench" build tag:
//
//	LOGLAKE_BENCH_INGEST_BYTES=1073741824 go test -tags bench -run '^$' -bench BenchmarkIngestVsDuckDB -benchtime 1x ./ingest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
)

// benchBytes is the landing size: LOGLAKE_BENCH_INGEST_BYTES, default 1 GiB.
func benchBytes(b *testing.B) int64 {
	if s := os.Getenv("LOGLAKE_BENCH_INGEST_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("LOGLAKE_BENCH_INGEST_BYTES=%q: want a positive byte count", s)
		}
		return n
	}
	return 1 << 30
}

// peakRSS returns VmHWM in bytes; resetPeakRSS restarts it (Linux).
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// benchLanding generates (once, cached in the temp dir) uncompressed NDJSON
// logs of about size bytes in 64 MiB files.
func benchLanding(b *testing.B, size int64) string {
	const fileBytes = 64 << 20
	files := int(max(size/fileBytes, 1))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("loglake-bench-ingest-%d", size))
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	bk, err := storage.Open(context.Background(), "file://"+dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := loggen.New(loggen.Options{Seed: 42, Files: files, FileBytes: min(size, fileBytes)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := g.Generate(context.Background(), bk, runtime.GOMAXPROCS(0), nil); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(done, nil, 0o644)
	return dir
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func BenchmarkIngestVsDuckDB(b *testing.B) {
	ctx := context.Background()
	size := benchLanding(b, benchBytes(b))
	landingDir := size
	inBytes := dirSize(landingDir)
	threads := runtime.GOMAXPROCS(0)
	for range b.N {
		out := b.TempDir()
		landing, err := storage.Open(ctx, "file://"+landingDir, nil)
		if err != nil {
			b.Fatal(err)
		}
		tbl, err := storage.Open(ctx, "file://"+filepath.Join(out, "table"), nil)
		if err != nil {
			b.Fatal(err)
		}
		in, err := ingest.New(landing, tbl, &ingest.Options{MaxBytes: 1 << 40, MaxFiles: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		resetPeakRSS()
		start := time.Now()
		sum, err := in.RunOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		ours := time.Since(start)
		rss := peakRSS()

		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(fmt.Sprintf("SET threads = %d", threads)); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		q := fmt.Sprintf(`COPY (FROM read_json('%s/**/*.json', format = 'newline_delimited')) TO '%s' (FORMAT parquet, COMPRESSION zstd)`,
			landingDir, filepath.Join(out, "duckdb.parquet"))
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
		theirs := time.Since(start)
		db.Close()

		mb := float64(inBytes) / (1 << 20)
		b.ReportMetric(float64(sum.Rows)/ours.Seconds(), "rows/s")
		b.ReportMetric(mb/ours.Seconds(), "MB/s")
		b.ReportMetric(float64(rss)/(1<<20), "peakRSS_MiB")
		b.ReportMetric(mb/theirs.Seconds(), "duckdb_MB/s")
		b.ReportMetric(theirs.Seconds()/ours.Seconds(), "ratio_vs_duckdb")
		b.Logf("input %.0f MiB, %d rows, %d threads: loglake %v (%d commits, table %.0f MiB), DuckDB %v (%.0f MiB); ratio %.2f; peak RSS %.0f MiB",
			mb, sum.Rows, threads, ours.Round(time.Millisecond), sum.Commits, float64(dirSize(filepath.Join(out, "table")))/(1<<20),
			theirs.Round(time.Millisecond), float64(dirSize(filepath.Join(out, "duckdb.parquet")))/(1<<20), theirs.Seconds()/ours.Seconds(), float64(rss)/(1<<20))
	}
}
