//go:build linux

package table_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/internal/rsstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// TestOptimizePeakRSS builds the loglake binary, builds a file:// table of
// LOGLAKE_TEST_OPTIMIZE_RSS_BYTES (default 2 GiB) of Parquet in ~1 MiB
// files of random log rows (one date partition), runs `loglake optimize` on it as
// a child process and checks the child's peak RSS (rusage maxrss) against
// 512 MiB and the row count before and after (the snapshot's stats, and
// DuckDB's count over the new files). It runs once plain and once with
// --sort-by service,ts (an external sort: runs of 64 MiB of decoded rows
// spilled to the temp dir and merged); the sorted run also checks that the
// new files cover non-overlapping service ranges.
//
// To keep the build to seconds, 64 distinct files are written with the
// table writer and each is hard-linked LOGLAKE_TEST_OPTIMIZE_RSS_BYTES /
// (64 × file size) times under new names (one Add per name), so the input
// holds every row that many times; OPTIMIZE still decodes and re-encodes
// every byte. The table is built once; each run gets its own copy of it
// (data files hard-linked, the log copied), so both compact the same bytes.
//
// The two runs are two child processes at once (subtests in parallel):
// each child's peak RSS and CPU time are its own (wait4's rusage), and
// neither saturates 2 cores alone, so together they take about 40% less
// wall time than one after the other (make bench's budget). Their wall
// times are then those of sharing the machine;
// LOGLAKE_TEST_OPTIMIZE_RSS_SERIAL=1 runs them one after the other. It
// takes minutes (docs/maintenance.md), so it runs only with
// LOGLAKE_TEST_OPTIMIZE_RSS=1:
//
//	LOGLAKE_TEST_OPTIMIZE_RSS=1 go test -run TestOptimizePeakRSS -v -timeout 60m ./table
func TestOptimizePeakRSS(t *testing.T) {
	if os.Getenv("LOGLAKE_TEST_OPTIMIZE_RSS") == "" {
		t.Skip("set LOGLAKE_TEST_OPTIMIZE_RSS=1 to compact 2 GiB with the loglake binary and check its peak RSS < 512 MiB (takes minutes)")
	}
	size := rsstest.Size(t, "LOGLAKE_TEST_OPTIMIZE_RSS_BYTES", 2<<30)
	ctx := context.Background()
	bin := rsstest.Build(t)
	base := t.TempDir()
	start := time.Now()
	files, rows, bytesIn := smallFileTable(t, base, size)
	t.Logf("built %d files, %d rows, %.1f MiB in %v", files, rows, float64(bytesIn)/(1<<20), time.Since(start).Round(time.Millisecond))
	serial := os.Getenv("LOGLAKE_TEST_OPTIMIZE_RSS_SERIAL") != ""
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"sorted", []string{"--sort-by", "service,ts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !serial {
				t.Parallel()
			}
			dir := t.TempDir()
			linkTable(t, base, dir)
			run := rsstest.Run(ctx, t, bin, append([]string{"optimize", "file://" + dir, "-o", "json"}, tc.args...)...)
			var res table.OptimizeResult
			if err := json.Unmarshal(run.Stdout, &res); err != nil {
				t.Fatalf("result: %v\n%s", err, run.Stdout)
			}
			if res.NumRemovedFiles != files || res.Rows != rows || res.NumRemovedBytes != bytesIn {
				t.Errorf("removed %d files, %d rows, %d bytes; want %d, %d, %d", res.NumRemovedFiles, res.Rows, res.NumRemovedBytes, files, rows, bytesIn)
			}
			bucket, err := storage.Open(ctx, "file://"+dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer bucket.Close()
			tbl, err := table.Open(ctx, bucket, nil)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := tbl.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			after := snap.Files()
			if n, ok := snap.NumRecords(); !ok || n != rows {
				t.Errorf("after OPTIMIZE the stats count %d rows (%v), want %d", n, ok, rows)
			}
			if len(after) != res.NumAddedFiles {
				t.Errorf("%d live files, want the %d OPTIMIZE added", len(after), res.NumAddedFiles)
			}
			if tc.args != nil {
				checkClustered(t, after, "service")
			}
			// An independent count: DuckDB reads the new files' footers.
			var paths []string
			for _, a := range after {
				p, err := localPath(dir, a.Path)
				if err != nil {
					t.Fatal(err)
				}
				paths = append(paths, "'"+strings.ReplaceAll(p, "'", "''")+"'")
			}
			db, err := sql.Open("duckdb", "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var counted int64
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM read_parquet(["+strings.Join(paths, ",")+"])").Scan(&counted); err != nil {
				t.Fatal(err)
			}
			if counted != rows {
				t.Errorf("DuckDB counts %d rows in the compacted files, want %d", counted, rows)
			}
			mib := rsstest.MiB
			t.Logf("optimize %s: %d files (%s) → %d files (%s), %d rows in %v (%.1f MB/s of input, %v CPU); peak RSS %s (budget %s); load %s",
				tc.name, res.NumRemovedFiles, mib(res.NumRemovedBytes), res.NumAddedFiles, mib(res.NumAddedBytes), rows,
				run.Elapsed.Round(time.Millisecond), float64(bytesIn)/1e6/run.Elapsed.Seconds(), run.CPU.Round(time.Millisecond),
				mib(run.PeakRSS), mib(rsstest.Budget), rsstest.LoadAvg())
			if run.PeakRSS >= rsstest.Budget {
				t.Errorf("peak RSS %s, want < %s", mib(run.PeakRSS), mib(rsstest.Budget))
			}
		})
	}
}

// checkClustered fails t unless files, ordered by their minimum of the
// string column col, cover ranges that do not overlap (each file's maximum
// is at most the next file's minimum: one key may span a file boundary).
func checkClustered(t *testing.T, files []*table.Add, col string) {
	t.Helper()
	type span struct{ lo, hi string }
	var spans []span
	for _, f := range files {
		st, err := table.ParseStats(f.Stats)
		if err != nil || st == nil {
			t.Fatalf("stats of %s: %v", f.Path, err)
		}
		lo, ok1 := st.Min(col)
		hi, ok2 := st.Max(col)
		if !ok1 || !ok2 {
			continue
		}
		spans = append(spans, span{lo.(string), hi.(string)})
	}
	slices.SortFunc(spans, func(a, b span) int { return strings.Compare(a.lo, b.lo) })
	var list []string
	for i, s := range spans {
		list = append(list, s.lo+".."+s.hi)
		if i > 0 && spans[i-1].hi > s.lo {
			t.Errorf("%s ranges overlap: [%s, %s] and [%s, %s]", col, spans[i-1].lo, spans[i-1].hi, s.lo, s.hi)
		}
	}
	t.Logf("%s ranges of the %d files: %s", col, len(spans), strings.Join(list, " "))
}

// smallFileTable creates a table of log rows in dir holding about size
// bytes of Parquet in ~1 MiB files: 64 distinct files written by the table
// writer, then hard links of them under new names committed as more adds.
// It returns the number of live files, rows and bytes.
func smallFileTable(t testing.TB, dir string, size int64) (files int, rows, bytes int64) {
	t.Helper()
	ctx := context.Background()
	sch, err := table.ParseSchema(logSchema)
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	tbl, err := table.Create(ctx, bucket, table.CreateOptions{Schema: sch, PartitionColumns: []string{"date"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const distinct, perFile = 64, 16_000
	for i := 0; i < distinct; i++ {
		rec := randomLogRecord(sch.Arrow(), perFile, uint64(i))
		_, err := tbl.Append(ctx, []arrow.Record{rec}, nil)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src := snap.Files()
	var srcBytes int64
	for _, a := range src {
		srcBytes += a.Size
	}
	copies := max(1, int((size+srcBytes/2)/srcBytes))
	var actions []table.Action
	for c := 1; c < copies; c++ {
		for _, a := range src {
			from, err := localPath(dir, a.Path)
			if err != nil {
				t.Fatal(err)
			}
			// The copy number leads the name so the files OPTIMIZE packs
			// together (ordered by path) come from different sources.
			name := path.Join(path.Dir(a.Path), fmt.Sprintf("c%04d-%s", c, path.Base(a.Path)))
			to, err := localPath(dir, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Link(from, to); err != nil {
				t.Fatal(err)
			}
			cp := *a
			cp.Path = name
			actions = append(actions, table.Action{Add: &cp})
		}
	}
	if len(actions) > 0 {
		if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: actions, Operation: "WRITE"}); err != nil {
			t.Fatal(err)
		}
	}
	return copies * len(src), int64(copies * distinct * perFile), int64(copies) * srcBytes
}

// linkTable makes the table in dir a copy of the one in from: data files
// hard-linked (immutable, and OPTIMIZE only adds files), everything else
// (the log, which OPTIMIZE appends to) copied.
func linkTable(t testing.TB, from, dir string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dir, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case strings.HasSuffix(p, ".parquet") && !strings.HasPrefix(rel, "_delta_log"):
			return os.Link(p, to)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// localPath is the file of a file:// table at dir that a log path names.
func localPath(dir, logPath string) (string, error) {
	key, err := table.FileKey(logPath)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(key)), nil
}
