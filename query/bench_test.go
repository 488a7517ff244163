package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// benchRows is the size of the benchmark table.
const benchRows = 1 << 20

// benchTable writes a benchRows-row table (3 dates) into a file:// location.
func benchTable(b *testing.B) (*table.Table, string) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	bk, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bk.Close() })
	tbl := tabletest.Create(b, bk, nil)
	const chunk = 1 << 17
	var recs []arrow.Record
	for i := 0; i < benchRows/chunk; i++ {
		recs = append(recs, tabletest.Rows(int64(i*chunk), chunk))
	}
	if _, err := tbl.Append(ctx, recs, nil); err != nil {
		b.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	return tbl, dir
}

const benchSQL = "SELECT level, count(*) FROM %s GROUP BY 1 ORDER BY 1"

// BenchmarkGroupBy compares `SELECT level, count(*) ... GROUP BY 1` on a
// registered view with the same query run by DuckDB directly on the same
// files (hive_partitioning for the date column): the ratio of the two is
// loglake's overhead, which should be close to 1. "register" is the cost
// of resolving the snapshot and creating the view.
func BenchmarkGroupBy(b *testing.B) {
	ctx := context.Background()
	tbl, dir := benchTable(b)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var files []string
	for _, f := range snap.Files() {
		key, err := table.FileKey(f.Path)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, "'"+filepath.Join(dir, filepath.FromSlash(key))+"'")
	}
	threads := runtime.GOMAXPROCS(0)
	e, err := query.Open(ctx, &query.Options{CacheDir: b.TempDir(), Threads: threads})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := e.Register(ctx, "t", tbl, snap, ""); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("duckdb", fmt.Sprintf("?threads=%d&memory_limit=4GB", threads))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// Same footer caching as the engine, so that only the view differs.
	if _, err := db.ExecContext(ctx, "SET parquet_metadata_cache = true"); err != nil {
		b.Fatal(err)
	}
	direct := fmt.Sprintf("read_parquet([%s], hive_partitioning=true)", strings.Join(files, ", "))

	once := func(b *testing.B, q func() (*sql.Rows, error)) {
		rows, err := q()
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for rows.Next() {
			var level string
			var n int64
			if err := rows.Scan(&level, &n); err != nil {
				b.Fatal(err)
			}
			total += n
		}
		rows.Close()
		if total != benchRows {
			b.Fatalf("counted %d rows, want %d", total, benchRows)
		}
	}
	viewQ := func() (*sql.Rows, error) { return e.Query(ctx, fmt.Sprintf(benchSQL, "t")) }
	directQ := func() (*sql.Rows, error) { return db.QueryContext(ctx, fmt.Sprintf(benchSQL, direct)) }
	run := func(b *testing.B, q func() (*sql.Rows, error)) {
		for i := 0; i < b.N; i++ {
			rows, err := q()
			if err != nil {
				b.Fatal(err)
			}
			var total int64
			for rows.Next() {
				var level string
				var n int64
				if err := rows.Scan(&level, &n); err != nil {
					b.Fatal(err)
				}
				total += n
			}
			rows.Close()
			if total != benchRows {
				b.Fatalf("counted %d rows, want %d", total, benchRows)
			}
		}
		b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("view", func(b *testing.B) { run(b, viewQ) })
	b.Run("duckdb", func(b *testing.B) { run(b, directQ) })
	// ratio alternates the two and compares their fastest runs, which is
	// robust to other load on the machine: view/duckdb, ideally ~1.
	b.Run("ratio", func(b *testing.B) {
		var bestView, bestDirect time.Duration
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			once(b, viewQ)
			t1 := time.Now()
			once(b, directQ)
			t2 := time.Now()
			if d := t1.Sub(t0); bestView == 0 || d < bestView {
				bestView = d
			}
			if d := t2.Sub(t1); bestDirect == 0 || d < bestDirect {
				bestDirect = d
			}
		}
		b.ReportMetric(float64(bestView)/float64(bestDirect), "view/duckdb")
	})
	b.Run("register", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := e.Register(ctx, "r", tbl, snap, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	if testing.Verbose() {
		fi, _ := os.ReadDir(dir)
		b.Logf("%d rows in %d files under %d entries", benchRows, len(files), len(fi))
	}
}
