package table_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// rowStrings scans every column of snap and renders each row, sorted: equal
// results mean the same multiset of rows.
func rowStrings(t testing.TB, snap *table.Snapshot) []string {
	t.Helper()
	ctx := context.Background()
	sc, err := snap.Scan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var out []string
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			var b strings.Builder
			for c := 0; c < int(rec.NumCols()); c++ {
				fmt.Fprintf(&b, "%v|", rec.Column(c).GetOneForMarshal(i))
			}
			out = append(out, b.String())
		}
		rec.Release()
	}
	slices.Sort(out)
	return out
}

func appendN(t testing.TB, tbl *table.Table, first int64, n int) {
	t.Helper()
	rec := tabletest.Rows(first, n)
	defer rec.Release()
	if _, err := tbl.Append(context.Background(), []arrow.Record{rec}, nil); err != nil {
		t.Fatal(err)
	}
}

func tombstones(t testing.TB, s *table.Snapshot) []*table.Remove {
	t.Helper()
	rs, err := s.Tombstones()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func latest(t testing.TB, tbl *table.Table) *table.Snapshot {
	t.Helper()
	s, err := tbl.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lastCommit(t testing.TB, tbl *table.Table) table.Change {
	t.Helper()
	ctx := context.Background()
	v, err := tbl.LatestVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := tbl.Changes(ctx, v-1, v, 1)
	if err != nil || len(ch) != 1 {
		t.Fatalf("changes at %d: %v", v, err)
	}
	return ch[0]
}

func TestOptimize(t *testing.T) {
	for name, open := range map[string]func(*testing.T) storage.Bucket{"mem": openMem, "file": openFile} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tbl := tabletest.Create(t, open(t), nil)
			for i := 0; i < 12; i++ {
				appendN(t, tbl, int64(i*50), 50)
			}
			before := latest(t, tbl)
			rows := rowStrings(t, before)
			if len(before.Files()) != 36 {
				t.Fatalf("%d files before, want 36 (12 appends x 3 dates)", len(before.Files()))
			}

			dry, err := tbl.Optimize(ctx, &table.OptimizeOptions{DryRun: true})
			if err != nil || dry.Version != -1 || dry.NumRemovedFiles != 36 || dry.Partitions != 3 || dry.Rows != 600 {
				t.Fatalf("dry run: %+v %v", dry, err)
			}
			if latest(t, tbl).Version() != before.Version() {
				t.Fatal("dry run committed")
			}

			res, err := tbl.Optimize(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			after := latest(t, tbl)
			if res.Version != after.Version() || res.NumRemovedFiles != 36 || res.NumAddedFiles != 3 || res.Attempts != 1 {
				t.Fatalf("result %+v at version %d", res, after.Version())
			}
			if len(after.Files()) != 3 {
				t.Fatalf("%d files after, want one per partition", len(after.Files()))
			}
			if got := rowStrings(t, after); !slices.Equal(got, rows) {
				t.Fatalf("rows changed: %d before, %d after", len(rows), len(got))
			}
			if n, ok := after.NumRecords(); !ok || n != 600 {
				t.Fatalf("stats: %d rows, ok=%v", n, ok)
			}
			// Stats keep pruning: one date reads one file.
			if ids := tabletest.IDs(t, after, "date = '2026-11-23'"); len(ids) != 200 {
				t.Fatalf("date filter: %d ids", len(ids))
			}
			c := lastCommit(t, tbl)
			var removes, adds int
			for _, a := range c.Actions {
				switch {
				case a.CommitInfo != nil:
					ci := a.CommitInfo
					if ci.Operation != "OPTIMIZE" || ci.OperationMetrics["numRemovedFiles"] != "36" ||
						ci.OperationMetrics["numAddedFiles"] != "3" || ci.OperationMetrics["maxFileSize"] == nil {
						t.Fatalf("commitInfo %+v", ci)
					}
				case a.Add != nil:
					adds++
					if a.Add.DataChange || a.Add.Stats == "" {
						t.Fatalf("add %+v", a.Add)
					}
				case a.Remove != nil:
					removes++
					if a.Remove.DataChange || a.Remove.DeletionTimestamp == nil {
						t.Fatalf("remove %+v", a.Remove)
					}
				}
			}
			if removes != 36 || adds != 3 {
				t.Fatalf("%d removes, %d adds", removes, adds)
			}
			// Nothing left to do: no commit.
			again, err := tbl.Optimize(ctx, nil)
			if err != nil || again.Version != -1 || again.NumRemovedFiles != 0 {
				t.Fatalf("second optimize: %+v %v", again, err)
			}
		})
	}
}

func TestOptimizeWhereAndMinFiles(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, openMem(t), nil)
	for i := 0; i < 4; i++ {
		appendN(t, tbl, int64(i*30), 30)
	}
	if _, err := tbl.Optimize(ctx, &table.OptimizeOptions{Where: "level = 'INFO'"}); err == nil || !strings.Contains(err.Error(), "not a partition column") {
		t.Fatalf("non-partition predicate: %v", err)
	}
	res, err := tbl.Optimize(ctx, &table.OptimizeOptions{Where: "date = '2026-11-22'"})
	if err != nil || res.Partitions != 1 || res.NumRemovedFiles != 4 {
		t.Fatalf("where: %+v %v", res, err)
	}
	res, err = tbl.Optimize(ctx, &table.OptimizeOptions{MinFiles: 5})
	if err != nil || res.Version != -1 {
		t.Fatalf("min files 5 with 4 per partition: %+v %v", res, err)
	}
}

// With SortBy the rewritten rows come out in key order (nulls last), so the
// new files' min/max ranges stay narrow.
func TestOptimizeSortBy(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, openMem(t), nil)
	for i := 9; i >= 0; i-- { // appended in descending id order
		appendN(t, tbl, int64(i*30), 30)
	}
	rows := rowStrings(t, latest(t, tbl))
	if _, err := tbl.Optimize(ctx, &table.OptimizeOptions{SortBy: []string{"nope"}}); err == nil {
		t.Fatal("unknown sort column accepted")
	}
	if _, err := tbl.Optimize(ctx, &table.OptimizeOptions{SortBy: []string{"id"}}); err != nil {
		t.Fatal(err)
	}
	snap := latest(t, tbl)
	if got := rowStrings(t, snap); !slices.Equal(got, rows) {
		t.Fatal("rows changed")
	}
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var ids []int64
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.Column(0).(*array.Int64).Int64Values()...)
		rec.Release()
	}
	// Files are scanned one after another; within each, ids ascend.
	sorted := 0
	for i := 1; i < len(ids); i++ {
		if ids[i] > ids[i-1] {
			sorted++
		}
	}
	if sorted != len(ids)-len(snap.Files()) {
		t.Fatalf("%d ascending steps in %d ids over %d files: rows not sorted within files", sorted, len(ids), len(snap.Files()))
	}
}

// Eight blind appenders keep committing while OPTIMIZE runs over and over:
// every row survives exactly once, and no OPTIMIZE ever has to re-plan
// (appends never conflict with a rearrangement).
func TestOptimizeDuringAppends(t *testing.T) {
	for name, open := range map[string]func(*testing.T) storage.Bucket{"mem": openMem, "file": openFile} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			tabletest.Create(t, b, nil)
			const writers, commits, rowsPer = 8, 12, 10
			var wg sync.WaitGroup
			var done atomic.Int32
			errs := make(chan error, writers+1)
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer done.Add(1)
					tbl, err := table.Open(ctx, b, nil)
					if err != nil {
						errs <- err
						return
					}
					for i := 0; i < commits; i++ {
						rec := tabletest.Rows(int64((w*commits+i)*rowsPer), rowsPer)
						_, err := tbl.Append(ctx, []arrow.Record{rec}, nil)
						rec.Release()
						if err != nil {
							errs <- fmt.Errorf("writer %d: %w", w, err)
							return
						}
					}
				}()
			}
			var optimized, replans int
			opt, err := table.Open(ctx, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			for done.Load() < writers {
				res, err := opt.Optimize(ctx, nil)
				if err != nil {
					t.Fatalf("optimize during appends: %v", err)
				}
				if res.Version >= 0 {
					optimized++
				}
				replans += res.Attempts - 1
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			snap := latest(t, opt)
			ids := tabletest.IDs(t, snap, "")
			if len(ids) != writers*commits*rowsPer || ids[0] != 0 || ids[len(ids)-1] != writers*commits*rowsPer-1 {
				t.Fatalf("%d rows after appends and optimizes, want %d", len(ids), writers*commits*rowsPer)
			}
			if len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Fatal("duplicate rows")
			}
			if optimized == 0 || replans != 0 {
				t.Fatalf("%d optimize commits, %d re-plans (want >0 and 0)", optimized, replans)
			}
			t.Logf("%d optimize commits during %d appends", optimized, writers*commits)
		})
	}
}

// gate blocks the first commit attempt through it until released, so a test
// can let another writer win that version first.
type gate struct {
	storage.Bucket
	once    sync.Once
	arrived chan struct{}
	release chan struct{}
}

func newGate(b storage.Bucket) *gate {
	return &gate{Bucket: b, arrived: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "_delta_log/") && strings.HasSuffix(key, ".json") {
		g.once.Do(func() {
			close(g.arrived)
			<-g.release
		})
	}
	return g.Bucket.PutIfAbsent(ctx, key, data)
}

// Two OPTIMIZEs over the same files: exactly one commits; the other loses
// the race, re-plans on the winner's snapshot and finds nothing left.
func TestOptimizeRace(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, nil)
	for i := 0; i < 6; i++ {
		appendN(t, tbl, int64(i*20), 20)
	}
	rows := rowStrings(t, latest(t, tbl))
	g := newGate(b)
	slow, err := table.Open(ctx, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	type out struct {
		res *table.OptimizeResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := slow.Optimize(ctx, nil)
		ch <- out{res, err}
	}()
	<-g.arrived
	won, err := tbl.Optimize(ctx, nil)
	if err != nil || won.Version < 0 {
		t.Fatalf("first optimize: %+v %v", won, err)
	}
	close(g.release)
	lost := <-ch
	if lost.err != nil || lost.res.Version != -1 || lost.res.Attempts != 2 {
		t.Fatalf("losing optimize: %+v %v", lost.res, lost.err)
	}
	snap := latest(t, tbl)
	if got := rowStrings(t, snap); !slices.Equal(got, rows) {
		t.Fatalf("rows: %d before, %d after", len(rows), len(got))
	}
	if len(snap.Files()) != 3 {
		t.Fatalf("%d files", len(snap.Files()))
	}
	// The loser's files were discarded: only live files and removed ones
	// remain under the partition directories.
	n := 0
	it := b.List(ctx, "date=", "")
	for {
		_, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 18+3 {
		t.Fatalf("%d data files stored, want 18 compacted + 3 new", n)
	}
}

// A partition larger than SortMemory is sorted in spilled runs and merged:
// its rows still come out as one sorted sequence, so the files OPTIMIZE
// rolls cover adjacent, non-overlapping ranges of the first sort key (a
// sort of each run alone would give every file the whole range), and the
// runs' temporary files are gone afterwards.
func TestOptimizeSortBySpills(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, openMem(t), nil)
	const per = 4000
	for _, i := range []int{7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 4, 6} { // ids out of order
		appendN(t, tbl, int64(i*per), per)
	}
	rows := rowStrings(t, latest(t, tbl))
	spill := t.TempDir()
	res, err := tbl.Optimize(ctx, &table.OptimizeOptions{
		SortBy: []string{"msg", "id"}, SortMemory: 32 << 10, SpillDir: spill, TargetSize: 64 << 10,
		// Row groups of 1,000 rows flush often, so files roll at the target.
		Writer: &table.WriterOptions{RowGroupRows: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.NumRemovedFiles != 36 {
		t.Fatalf("compacted %d files, want all 36", res.NumRemovedFiles)
	}
	snap := latest(t, tbl)
	if got := rowStrings(t, snap); !slices.Equal(got, rows) {
		t.Fatalf("rows changed: %d before, %d after", len(rows), len(got))
	}
	if left, err := os.ReadDir(spill); err != nil || len(left) != 0 {
		t.Fatalf("spill dir holds %d entries after OPTIMIZE (%v)", len(left), err)
	}
	// Per partition, the files ordered by their minimum message must not
	// overlap: each one's maximum is below the next one's minimum.
	type span struct{ min, max string }
	byDate := map[string][]span{}
	for _, f := range snap.Files() {
		st, err := table.ParseStats(f.Stats)
		if err != nil || st == nil {
			t.Fatalf("stats of %s: %v", f.Path, err)
		}
		lo, ok1 := st.Min("msg")
		hi, ok2 := st.Max("msg")
		if !ok1 || !ok2 {
			continue // a file of only the null messages (nulls sort last)
		}
		d := *f.PartitionValues["date"]
		byDate[d] = append(byDate[d], span{lo.(string), hi.(string)})
	}
	if len(byDate) != 3 {
		t.Fatalf("files of %d dates, want 3", len(byDate))
	}
	for d, spans := range byDate {
		if len(spans) < 2 {
			t.Fatalf("date %s: %d files with messages; want several to check their ranges (result %+v)", d, len(spans), res)
		}
		slices.SortFunc(spans, func(a, b span) int { return strings.Compare(a.min, b.min) })
		for i := 1; i < len(spans); i++ {
			if spans[i-1].max >= spans[i].min {
				t.Errorf("date %s: file ranges overlap: [%q, %q] and [%q, %q]", d, spans[i-1].min, spans[i-1].max, spans[i].min, spans[i].max)
			}
		}
	}
	t.Logf("%d files → %d files", res.NumRemovedFiles, res.NumAddedFiles)
}

// OPTIMIZE reports the rows it rewrote even when the files it compacts
// carry no stats (Spark's delta-0.2.0 table): it counts what it wrote.
func TestOptimizeCountsRowsWithoutStats(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(corpusDir, "delta-0.2.0")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("corpus not found: %v", err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	b, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := len(rowStrings(t, latest(t, tbl)))
	res, err := tbl.Optimize(ctx, &table.OptimizeOptions{MinFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.NumAddedFiles == 0 || res.Rows != int64(before) {
		t.Fatalf("OPTIMIZE of %d rows without stats: %+v", before, res)
	}
}
