package table_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
		w, err := tbl.NewWriter(snap, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
		adds, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
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
