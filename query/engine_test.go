package query_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

var memSeq atomic.Int64

// source opens a fresh, empty location of the given kind.
func source(t *testing.T, kind string) storage.Bucket {
	t.Helper()
	var u string
	switch kind {
	case "file":
		u = "file://" + filepath.ToSlash(t.TempDir())
	case "file-glob":
		// A directory name DuckDB would expand as a glob pattern.
		dir := filepath.Join(t.TempDir(), "tables*?[1]{a,b}")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		u = (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
	case "mem":
		u = fmt.Sprintf("mem://querytest-%d-%d/tbl", time.Now().UnixNano(), memSeq.Add(1))
	default:
		t.Fatalf("unknown source kind %q", kind)
	}
	b, err := storage.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newEngine(t testing.TB, cacheDir string) *query.Engine {
	t.Helper()
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	e, err := query.Open(context.Background(), &query.Options{CacheDir: cacheDir, Threads: 2, MemoryLimit: "1GB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rowsOf runs q and renders each row as its values joined by "|" (NULL for
// null, times in RFC 3339 UTC).
func rowsOf(t testing.TB, e *query.Engine, q string) []string {
	t.Helper()
	rows, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				parts[i] = "NULL"
			case time.Time:
				parts[i] = v.UTC().Format(time.RFC3339Nano)
			default:
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// appendIDs appends tabletest.Rows(first, n) in one commit.
func appendIDs(t testing.TB, tbl *table.Table, first int64, n int) int64 {
	t.Helper()
	rec := tabletest.Rows(first, n)
	defer rec.Release()
	v, err := tbl.Append(context.Background(), []arrow.Record{rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scanStats computes, with loglake's own scan, per date: rows, sum(id), null
// msgs; and the min/max ts over the table.
func scanStats(t *testing.T, snap *table.Snapshot) (perDate []string, minTS, maxTS string) {
	t.Helper()
	ctx := context.Background()
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"date", "id", "msg", "ts"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	type agg struct{ n, sum, nulls int64 }
	m := map[string]*agg{}
	var tss []time.Time
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			d := table.Value(rec.Column(0), i).(string)
			a := m[d]
			if a == nil {
				a = &agg{}
				m[d] = a
			}
			a.n++
			a.sum += table.Value(rec.Column(1), i).(int64)
			if rec.Column(2).IsNull(i) {
				a.nulls++
			}
			ts, err := time.Parse(time.RFC3339Nano, table.Value(rec.Column(3), i).(string))
			if err != nil {
				t.Fatal(err)
			}
			tss = append(tss, ts)
		}
		rec.Release()
	}
	for d, a := range m {
		perDate = append(perDate, fmt.Sprintf("%s|%d|%d|%d", d, a.n, a.sum, a.nulls))
	}
	sort.Strings(perDate)
	if len(tss) > 0 {
		slices.SortFunc(tss, func(a, b time.Time) int { return a.Compare(b) })
		minTS, maxTS = tss[0].Format(time.RFC3339Nano), tss[len(tss)-1].Format(time.RFC3339Nano)
	}
	return perDate, minTS, maxTS
}

const perDateSQL = `SELECT CAST(date AS VARCHAR), count(*), sum(id), count(*) FILTER (WHERE msg IS NULL) FROM t GROUP BY 1 ORDER BY 1`

// The view must hold exactly what loglake's own scan reads, on local
// (in place) and remote (through the cache) tables.
func TestRegisterMatchesScan(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"file", "mem"} {
		t.Run(kind, func(t *testing.T) {
			b := source(t, kind)
			tbl := tabletest.Create(t, b, nil)
			for i := 0; i < 4; i++ {
				appendIDs(t, tbl, int64(i*2500), 2500)
			}
			snap, err := tbl.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantDates, minTS, maxTS := scanStats(t, snap)
			if len(wantDates) != 3 {
				t.Fatalf("scan found %d dates, want 3: %v", len(wantDates), wantDates)
			}
			cache := t.TempDir()
			e := newEngine(t, cache)
			if err := e.Register(ctx, "t", tbl, nil, ""); err != nil {
				t.Fatal(err)
			}
			if got := rowsOf(t, e, perDateSQL); !slices.Equal(got, wantDates) {
				t.Errorf("per date (rows, sum id, null msg):\n got  %v\n want %v", got, wantDates)
			}
			if got, want := rowsOf(t, e, `SELECT min(ts), max(ts), count(DISTINCT id), min(id), max(id) FROM t`),
				[]string{minTS + "|" + maxTS + "|10000|0|9999"}; !slices.Equal(got, want) {
				t.Errorf("ts range and ids: got %v, want %v", got, want)
			}
			// Column types follow the Delta schema, in schema order.
			if got, want := rowsOf(t, e, `SELECT column_name, column_type FROM (DESCRIBE t)`), []string{
				"id|BIGINT", "ts|TIMESTAMP WITH TIME ZONE", "level|VARCHAR", "msg|VARCHAR", "date|DATE",
			}; !slices.Equal(got, want) {
				t.Errorf("DESCRIBE t: got %v, want %v", got, want)
			}
			// A row's values survive exactly (id 7: null msg; id 8: ts on day 2).
			if got, want := rowsOf(t, e, `SELECT id, ts, level, msg, date FROM t WHERE id IN (7, 8) ORDER BY id`), []string{
				"7|2026-11-23T00:00:00.007Z|WARN|NULL|2026-11-23T00:00:00Z",
				"8|2026-11-24T00:00:00.008Z|ERROR|message 8|2026-11-24T00:00:00Z",
			}; !slices.Equal(got, want) {
				t.Errorf("rows 7, 8: got %v, want %v", got, want)
			}
			entries, err := os.ReadDir(cache)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			switch kind {
			case "file":
				if len(entries) != 0 {
					t.Errorf("file:// table was copied into the cache: %d entries", len(entries))
				}
			case "mem":
				if len(entries) != len(snap.Files()) {
					t.Errorf("cache holds %d entries, want one per data file (%d)", len(entries), len(snap.Files()))
				}
				// A second engine on the same cache needs no download: with
				// the data files gone from the store it still answers.
				for _, f := range snap.Files() {
					key, _ := table.FileKey(f.Path)
					if err := b.Delete(ctx, key); err != nil {
						t.Fatal(err)
					}
				}
				e2 := newEngine(t, cache)
				if err := e2.Register(ctx, "t", tbl, snap, ""); err != nil {
					t.Fatalf("register from a warm cache: %v", err)
				}
				if got := rowsOf(t, e2, perDateSQL); !slices.Equal(got, wantDates) {
					t.Errorf("warm cache per date: got %v, want %v", got, wantDates)
				}
			}
		})
	}
}

// Each version of the table is its own view: files added later are absent,
// files removed later are present.
func TestTimeTravel(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"file", "mem"} {
		t.Run(kind, func(t *testing.T) {
			tbl := tabletest.Create(t, source(t, kind), nil)
			v1 := appendIDs(t, tbl, 0, 300)
			v2 := appendIDs(t, tbl, 300, 300)
			// v3 removes the files of v1.
			s2, err := tbl.SnapshotAt(ctx, v2)
			if err != nil {
				t.Fatal(err)
			}
			s1, err := tbl.SnapshotAt(ctx, v1)
			if err != nil {
				t.Fatal(err)
			}
			var removes []table.Action
			now := time.Now().UnixMilli()
			for _, f := range s1.Files() {
				size := f.Size
				removes = append(removes, table.Action{Remove: &table.Remove{Path: f.Path, DeletionTimestamp: &now,
					DataChange: true, PartitionValues: f.PartitionValues, Size: &size}})
			}
			v3, err := tbl.Commit(ctx, s2, &table.Commit{Actions: removes, Operation: "DELETE"})
			if err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, "")
			for _, c := range []struct {
				version       int64
				count, minID  int64
				maxID, sumIDs int64
			}{
				{0, 0, -1, -1, -1},
				{v1, 300, 0, 299, 299 * 300 / 2},
				{v2, 600, 0, 599, 599 * 600 / 2},
				{v3, 300, 300, 599, 599*600/2 - 299*300/2},
			} {
				snap, err := tbl.SnapshotAt(ctx, c.version)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("t_v%d", c.version)
				if err := e.Register(ctx, name, tbl, snap, ""); err != nil {
					t.Fatalf("v%d: %v", c.version, err)
				}
				want := fmt.Sprintf("%d|%d|%d|%d", c.count, c.minID, c.maxID, c.sumIDs)
				if c.count == 0 {
					want = "0|NULL|NULL|NULL"
				}
				got := rowsOf(t, e, fmt.Sprintf("SELECT count(*), min(id), max(id), sum(id) FROM %s", name))
				if len(got) != 1 || got[0] != want {
					t.Errorf("version %d: got %v, want %s", c.version, got, want)
				}
			}
		})
	}
}

// evolveSchema commits a metaData action that adds a nullable long column
// "extra".
func evolveSchema(t *testing.T, tbl *table.Table) {
	t.Helper()
	ctx := context.Background()
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := snap.Schema()
	if err != nil {
		t.Fatal(err)
	}
	fields := append(slices.Clone(sch.Fields), &table.Field{Name: "extra", Type: table.TypeLong, Nullable: true})
	md := *snap.Metadata()
	md.SchemaString = (&table.Schema{Fields: fields}).String()
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: []table.Action{{MetaData: &md}}, Operation: "ADD COLUMNS"}); err != nil {
		t.Fatal(err)
	}
}

// rowsWithExtra builds n rows with ids [first, first+n) on date day, extra =
// id*10 except every fifth row, which is null.
func rowsWithExtra(t *testing.T, snap *table.Snapshot, first int64, n int, day time.Time) arrow.Record {
	t.Helper()
	sch, err := snap.Schema()
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
	defer b.Release()
	for i := 0; i < n; i++ {
		id := first + int64(i)
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(day.Add(time.Duration(id) * time.Second).UnixMicro()))
		b.Field(2).(*array.StringBuilder).Append("INFO")
		b.Field(3).(*array.StringBuilder).Append("m")
		b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(day))
		if id%5 == 0 {
			b.Field(5).(*array.Int64Builder).AppendNull()
		} else {
			b.Field(5).(*array.Int64Builder).Append(id * 10)
		}
	}
	return b.NewRecord()
}

// Files written before a column was added read it as NULL, both in
// partitions where only old files exist and where old and new files mix.
func TestSchemaEvolution(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, source(t, "file"), nil)
	appendIDs(t, tbl, 0, 300) // dates 2026-11-22..24, no "extra"
	evolveSchema(t, tbl)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// New rows on 2026-11-24 (mixes with old files) and 2026-11-30 (new only).
	var recs []arrow.Record
	for i, day := range []time.Time{time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)} {
		recs = append(recs, rowsWithExtra(t, snap, int64(1000*(i+1)), 100, day))
	}
	if _, err := tbl.Append(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		r.Release()
	}
	e := newEngine(t, "")
	if err := e.Register(ctx, "t", tbl, nil, ""); err != nil {
		t.Fatal(err)
	}
	// Per date: rows, rows with extra NULL, sum(extra).
	// ids 1000..1099 and 2000..2099: 20 of each hundred are multiples of 5.
	sum := func(first int64) int64 {
		var s int64
		for id := first; id < first+100; id++ {
			if id%5 != 0 {
				s += id * 10
			}
		}
		return s
	}
	want := []string{
		"2026-11-22|100|100|NULL",
		"2026-11-23|100|100|NULL",
		fmt.Sprintf("2026-11-24|200|120|%d", sum(1000)),
		fmt.Sprintf("2026-11-30|100|20|%d", sum(2000)),
	}
	got := rowsOf(t, e, `SELECT CAST(date AS VARCHAR), count(*), count(*) FILTER (WHERE extra IS NULL), sum(extra) FROM t GROUP BY 1 ORDER BY 1`)
	if !slices.Equal(got, want) {
		t.Errorf("per date (rows, null extra, sum extra):\n got  %v\n want %v", got, want)
	}
	// The old version has no "extra" column at all.
	old, err := tbl.SnapshotAt(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Register(ctx, "old", tbl, old, ""); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, e, `SELECT count(*) FROM (DESCRIBE old) WHERE column_name = 'extra'`); !slices.Equal(got, []string{"0"}) {
		t.Errorf("version 1 has an extra column: %v", got)
	}
}

// A table without files is an empty view with the table's columns and types.
func TestEmptyTable(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, source(t, "mem"), nil)
	e := newEngine(t, "")
	if err := e.Register(ctx, "t", tbl, nil, ""); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, e, `SELECT count(*), sum(id), max(ts) FROM t`); !slices.Equal(got, []string{"0|NULL|NULL"}) {
		t.Errorf("empty table aggregates: %v", got)
	}
	if got, want := rowsOf(t, e, `SELECT column_name, column_type FROM (DESCRIBE t)`), []string{
		"id|BIGINT", "ts|TIMESTAMP WITH TIME ZONE", "level|VARCHAR", "msg|VARCHAR", "date|DATE",
	}; !slices.Equal(got, want) {
		t.Errorf("DESCRIBE of the empty table: got %v, want %v", got, want)
	}
	// A predicate that prunes every file gives an empty view too.
	appendIDs(t, tbl, 0, 30)
	if err := e.Register(ctx, "none", tbl, nil, "date = '2030-01-01'"); err != nil {
		t.Fatal(err)
	}
	if got := rowsOf(t, e, `SELECT count(*) FROM none`); !slices.Equal(got, []string{"0"}) {
		t.Errorf("fully pruned view: %v", got)
	}
}

func TestRegisterErrors(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, source(t, "mem"), nil)
	e := newEngine(t, "")
	for _, c := range []struct {
		name, where string
		want        error
	}{
		{"bad name", "", query.ErrName},
		{"t;drop", "", query.ErrName},
		{"", "", query.ErrName},
		{"ok", "nosuch = 1", nil},
		{"ok", "id = 'abc'", nil},
		{"ok", "id = ", nil},
	} {
		err := e.Register(ctx, c.name, tbl, nil, c.where)
		if err == nil {
			t.Errorf("Register(%q, where %q) succeeded", c.name, c.where)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Register(%q): %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want query.Spec
		err  bool
	}{
		{"logs=file:///data/logs", query.Spec{Name: "logs", URL: "file:///data/logs", Version: -1}, false},
		{"logs=s3://b/t/logs@42", query.Spec{Name: "logs", URL: "s3://b/t/logs", Version: 42}, false},
		{"a_1=mem://x@0", query.Spec{Name: "a_1", URL: "mem://x", Version: 0}, false},
		{"u=s3://b/p@x/t", query.Spec{Name: "u", URL: "s3://b/p@x/t", Version: -1}, false},
		{"t=file:///d/t@2026-11-24T10:00:00Z", query.Spec{Name: "t", URL: "file:///d/t", Version: -1, At: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}, false},
		{"t=file:///d/t@2026-11-24", query.Spec{Name: "t", URL: "file:///d/t", Version: -1, At: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)}, false},
		{"t=file:///d/t@2026-11-24T10:00:00+02:00", query.Spec{Name: "t", URL: "file:///d/t", Version: -1, At: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}, false},
		{"t=file:///d/t@0001-01-01", query.Spec{}, true}, // the zero time: not "no timestamp" (review: read the latest)
		{"t=file:///d/t@-1", query.Spec{}, true},         // not a path ending in "@-1" (review)
		{"t=file:///d/t@+1", query.Spec{}, true},
		{"t=file:///d/t@ 3", query.Spec{}, true},
		{"t=file:///d/t@0001-01-01T01:00:00+01:00", query.Spec{}, true},
		{"t=file:///d/t@2026-13-45", query.Spec{}, true},
		{"u=gs://b/p?x=1=2", query.Spec{Name: "u", URL: "gs://b/p?x=1=2", Version: -1}, false},
		{"noequals", query.Spec{}, true},
		{"=file:///x", query.Spec{}, true},
		{"x=", query.Spec{}, true},
		{"bad-name=file:///x", query.Spec{}, true},
	} {
		got, err := query.ParseSpec(c.in)
		if (err != nil) != c.err || got.Name != c.want.Name || got.URL != c.want.URL || got.Version != c.want.Version || !got.At.Equal(c.want.At) {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, query.ErrName) {
			t.Errorf("ParseSpec(%q) error %v is not ErrName", c.in, err)
		}
	}
}

// DuckDB's Parquet footer cache is off for an engine's first statement
// (nothing would read it again) and on from the second.
func TestMetadataCacheFromSecondStatement(t *testing.T) {
	e := newEngine(t, t.TempDir())
	setting := func() string {
		t.Helper()
		var v string
		if err := e.DB().QueryRowContext(context.Background(), "SELECT CAST(current_setting('parquet_metadata_cache') AS VARCHAR)").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i, want := range []string{"false", "true", "true"} {
		rowsOf(t, e, "SELECT 1")
		if got := setting(); got != want {
			t.Errorf("after %d statements: parquet_metadata_cache = %s, want %s", i+1, got, want)
		}
	}
}
