package table_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// A table loglake writes must read back identically through our own reader
// and through DuckDB's read_parquet over its live files (an independent
// Parquet implementation).
// It runs with the default writer and with the options ingest uses.
func TestRoundTripDuckDB(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *table.WriteOptions
	}{
		{"default", nil},
		{"ingest", &table.WriteOptions{Writer: &table.WriterOptions{CompressionLevel: 1, DeltaTimestamps: true, PlainDistinct: true, DictLowCardinality: true, RowGroupRows: 1000}}},
	} {
		t.Run(tc.name, func(t *testing.T) { roundTripDuckDB(t, tc.opts) })
	}
}

func roundTripDuckDB(t *testing.T, opts *table.WriteOptions) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl := tabletest.Create(t, b, nil)
	for i := 0; i < 3; i++ {
		rec := tabletest.Rows(int64(i*2000), 2000)
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		adds := tabletest.WriteFiles(t, tbl, snap, opts, rec)
		if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: adds, Operation: "WRITE"}); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}

	ours := scanRows(t, snap)
	var files []string
	for _, f := range snap.Files() {
		key, err := table.FileKey(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, "'"+filepath.Join(dir, key)+"'")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := fmt.Sprintf(`SELECT id, strftime(ts AT TIME ZONE 'UTC', '%%Y-%%m-%%dT%%H:%%M:%%S.%%fZ'), level, msg, CAST(date AS VARCHAR)
		FROM read_parquet([%s], hive_partitioning=true) ORDER BY id`, strings.Join(files, ","))
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var theirs []string
	for rows.Next() {
		var id int64
		var ts, level, date string
		var msg sql.NullString
		if err := rows.Scan(&id, &ts, &level, &msg, &date); err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, rowString(id, ts, level, msg, date))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ours) != 6000 || !slices.Equal(ours, theirs) {
		n := min(len(ours), len(theirs), 3)
		t.Fatalf("ours %d rows, DuckDB %d rows; first rows:\n ours   %q\n duckdb %q", len(ours), len(theirs), ours[:n], theirs[:n])
	}
}

func rowString(id int64, ts, level string, msg sql.NullString, date string) string {
	m := "NULL"
	if msg.Valid {
		m = msg.String
	}
	return fmt.Sprintf("%d|%s|%s|%s|%s", id, ts, level, m, date)
}

func scanRows(t *testing.T, snap *table.Snapshot) []string {
	t.Helper()
	ctx := context.Background()
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"id", "ts", "level", "msg", "date"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var out []string
	type row struct {
		id int64
		s  string
	}
	var rs []row
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			id := table.Value(rec.Column(0), i).(int64)
			ts, _ := time.Parse(time.RFC3339Nano, table.Value(rec.Column(1), i).(string))
			var msg sql.NullString
			if v := table.Value(rec.Column(3), i); v != nil {
				msg = sql.NullString{String: v.(string), Valid: true}
			}
			rs = append(rs, row{id, rowString(id, ts.Format("2006-01-02T15:04:05.000000Z"), table.Value(rec.Column(2), i).(string), msg, table.Value(rec.Column(4), i).(string))})
		}
		rec.Release()
	}
	slices.SortFunc(rs, func(a, b row) int { return int(a.id - b.id) })
	for _, r := range rs {
		out = append(out, r.s)
	}
	return out
}

// DuckDB filters a float column holding NaN in our files as it filters the
// same rows in memory: the Parquet min/max (which leave NaN out) are not
// written for floats, as DuckDB 1.5 would trust them ("score = 0" returned
// the NaN row of a file whose min and max were -0 and 0).
func TestDuckDBFiltersFloatsWithNaN(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	sch := &table.Schema{Fields: []*table.Field{
		{Name: "id", Type: table.TypeLong, Nullable: true},
		{Name: "score", Type: table.TypeDouble, Nullable: true},
		{Name: "f", Type: table.TypeFloat, Nullable: true},
	}}
	tbl, err := table.Create(ctx, b, table.CreateOptions{Schema: sch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := func(q string) []int64 {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	// Files whose non-NaN values are all zero, or all at most 1: their
	// NaN-less min and max would say "every row is 0", "no row is over 1".
	for _, values := range [][]float64{{math.NaN(), math.Copysign(0, -1), 0}, {math.NaN(), 0.5, 1}} {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
		for i, v := range values {
			rb.Field(0).(*array.Int64Builder).Append(int64(i + 1))
			rb.Field(1).(*array.Float64Builder).Append(v)
			rb.Field(2).(*array.Float32Builder).Append(float32(v))
		}
		rec := rb.NewRecordBatch()
		rb.Release()
		for _, opts := range []*table.WriteOptions{nil, {Writer: &table.WriterOptions{CompressionLevel: 1, PlainDistinct: true, DictLowCardinality: true}}} {
			adds := tabletest.WriteFiles(t, tbl, snap, opts, rec)
			key, err := table.FileKey(adds[0].Add.Path)
			if err != nil {
				t.Fatal(err)
			}
			src := "read_parquet('" + filepath.Join(dir, key) + "')"
			// The same rows in a DuckDB table: no Parquet statistics.
			if _, err := db.ExecContext(ctx, "CREATE OR REPLACE TABLE mem AS SELECT * FROM "+src); err != nil {
				t.Fatal(err)
			}
			for _, cond := range []string{"score = 0", "score > 1", "score > 0.9", "score != 0", "f = 0", "f > 1", "f > 0.9"} {
				filtered := ids("SELECT id FROM " + src + " WHERE " + cond + " ORDER BY id")
				want := ids("SELECT id FROM mem WHERE " + cond + " ORDER BY id")
				if !slices.Equal(filtered, want) {
					t.Errorf("%v, %+v: WHERE %s: DuckDB kept %v from the file, %v from the same rows in memory", values, opts, cond, filtered, want)
				}
			}
		}
		rec.Release()
	}
}
