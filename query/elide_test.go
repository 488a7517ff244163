package query_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/table"
)

var elideSchema = func() *table.Schema {
	s, err := table.ParseSchema(`{"type":"struct","fields":[
		{"name":"id","type":"long","nullable":false,"metadata":{}},
		{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
		{"name":"ntz","type":"timestamp_ntz","nullable":true,"metadata":{}},
		{"name":"d","type":"date","nullable":true,"metadata":{}},
		{"name":"n","type":"integer","nullable":true,"metadata":{}},
		{"name":"msg","type":"string","nullable":true,"metadata":{}},
		{"name":"p","type":"string","nullable":true,"metadata":{}}]}`)
	if err != nil {
		panic(err)
	}
	return s
}()

// elideRow is one row of the elision table: ntz holds ts's wall clock, d
// its date, n the id, msg "m<id>", p "x" (the partition); nullTS makes ts
// alone null.
type elideRow struct {
	id     int64
	ts     time.Time
	nullTS bool
}

// elideFile commits rows as one file; edit, if set, rewrites its stats
// (as another writer would have written them) before the commit.
func elideFile(t *testing.T, tbl *table.Table, rows []elideRow, edit func(stats string) string) {
	t.Helper()
	ctx := context.Background()
	b := array.NewRecordBuilder(memory.DefaultAllocator, elideSchema.Arrow())
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.id)
		if r.nullTS {
			b.Field(1).(*array.TimestampBuilder).AppendNull()
		} else {
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixMicro()))
		}
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts.UnixMicro()))
		b.Field(3).(*array.Date32Builder).Append(arrow.Date32FromTime(r.ts))
		b.Field(4).(*array.Int32Builder).Append(int32(r.id))
		b.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("m%d", r.id))
		b.Field(6).(*array.StringBuilder).Append("x")
	}
	rec := b.NewRecord()
	defer rec.Release()
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tbl.NewWriter(snap, nil)
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
	if edit != nil {
		for _, a := range adds {
			if a.Add != nil {
				a.Add.Stats = edit(a.Add.Stats)
			}
		}
	}
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: adds, Operation: "WRITE"}); err != nil {
		t.Fatal(err)
	}
}

// series returns n rows with ids from first, ts from start every step.
func series(first int64, n int, start time.Time, step time.Duration) []elideRow {
	out := make([]elideRow, n)
	for i := range out {
		out[i] = elideRow{id: first + int64(i), ts: start.Add(time.Duration(i) * step)}
	}
	return out
}

// elideTable holds seven files of 2026-11-06 (and one of 11-08) whose
// statistics do or do not prove the ranges the tests filter on.
func elideTable(t *testing.T) *table.Table {
	ctx := context.Background()
	tbl, err := table.Create(ctx, source(t, "file"), table.CreateOptions{Schema: elideSchema, PartitionColumns: []string{"p"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05.999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// f1: 10:00:00.000–10:00:00.900, starting exactly on the bound.
	elideFile(t, tbl, series(1, 10, at("2026-11-06 10:00:00"), 100*time.Millisecond), nil)
	// f2: 11:00–11:27.
	elideFile(t, tbl, series(11, 10, at("2026-11-06 11:00:00"), 3*time.Minute), nil)
	// f3: straddles 10:00 (09:59:59.5–10:00:00.499).
	elideFile(t, tbl, series(21, 10, at("2026-11-06 09:59:59.5"), 111*time.Millisecond), nil)
	// f4: inside, but one ts is null.
	nulls := series(31, 10, at("2026-11-06 10:30:00"), time.Second)
	nulls[4].nullTS = true
	elideFile(t, tbl, nulls, nil)
	// f5: its max, 12:00:00.0005, is within the millisecond a truncated
	// stat hides: stats written as Spark does (max truncated down to
	// 12:00:00.000) must not prove ts < 12:00:00.0005.
	trunc := []elideRow{{id: 41, ts: at("2026-11-06 11:59:59.9")}, {id: 42, ts: at("2026-11-06 12:00:00.0005")}}
	elideFile(t, tbl, trunc, func(s string) string {
		s = strings.Replace(s, `"ts":"2026-11-06T12:00:00.001Z"`, `"ts":"2026-11-06T12:00:00.000Z"`, 1)
		return strings.Replace(s, `"ntz":"2026-11-06T12:00:00.001"`, `"ntz":"2026-11-06T12:00:00.000"`, 1)
	})
	// f6: another day.
	elideFile(t, tbl, series(51, 5, at("2026-11-08 10:00:00"), time.Minute), nil)
	// f7: inside, without stats.
	elideFile(t, tbl, series(61, 5, at("2026-11-06 10:15:00"), time.Second), func(string) string { return "" })
	return tbl
}

// A column used only in conjuncts that a file's stats prove true is not
// read from that file; the results are those of a full read wherever it is
// and is not elided, and the files the log says were elided are exactly
// the ones whose stats prove the filter.
func TestSQLElisionMatchesUnpruned(t *testing.T) {
	ctx := context.Background()
	tbl := elideTable(t)
	// f5's stats must be the Spark-like ones the test relies on.
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.IndexFunc(snap.Files(), func(a *table.Add) bool {
		return strings.Contains(a.Stats, `"ts":"2026-11-06T12:00:00.000Z"`)
	}); n < 0 {
		t.Fatal("the truncated-max file's stats were not rewritten")
	}
	pruned, full, logs := pruneEngines(t)
	for _, e := range []*query.Engine{pruned, full} {
		if err := e.Attach(ctx, "t", tbl, nil, ""); err != nil {
			t.Fatal(err)
		}
		if err := e.Attach(ctx, "w", tbl, nil, "ts < '2026-11-06T11:10:00Z'"); err != nil {
			t.Fatal(err)
		}
	}
	const lo, hi = `'2026-11-06 10:00:00'`, `'2026-11-06 12:00:00.0005'`
	day := `ts >= ` + lo + ` AND ts < ` + hi
	for _, c := range []struct {
		name, sql string
		elided    int // files that do not read some column (summed over columns and references)
	}{
		// f1 and f2 only: f3 straddles, f4 has a null, f5's max may be
		// above the bound, f7 has no stats, f6 is pruned.
		{"timestamp range", `SELECT count(*), sum(id) FROM t WHERE ` + day, 2},
		{"GROUP BY another column", `SELECT msg, count(*) FROM t WHERE ` + day + ` GROUP BY msg`, 2},
		{"literal on the left, qualified", `SELECT count(*) FROM t WHERE ` + lo + ` <= t.ts AND ` + hi + ` > t.ts`, 2},
		{"BETWEEN", `SELECT count(*), sum(n) FROM t WHERE ts BETWEEN TIMESTAMPTZ '2026-11-06 10:00:00+00' AND '2026-11-06 11:30:00'`, 2},
		// f1 starts on the bound.
		{"strict lower bound", `SELECT count(*) FROM t WHERE ts > ` + lo + ` AND ts < ` + hi, 1},
		{"date literal", `SELECT count(*) FROM t WHERE ts >= DATE '2026-11-06' AND ts < DATE '2026-11-07'`, 4},
		// No file's timestamps are one instant (a max is only known to
		// the millisecond).
		{"equality", `SELECT count(*) FROM t WHERE ts = '2026-11-06 10:00:00.1'`, 0},
		// f4's ntz has no null.
		{"timestamp_ntz", `SELECT count(*) FROM t WHERE ntz >= TIMESTAMP '2026-11-06 10:00:00' AND ntz < ` + hi, 3},
		{"date column", `SELECT count(*), sum(id) FROM t WHERE d = '2026-11-06'`, 5},
		{"integer column", `SELECT count(*), sum(id) FROM t WHERE n BETWEEN 1 AND 30`, 3},
		{"integer bounds", `SELECT count(*) FROM t WHERE n >= 11 AND n < 21`, 1},
		{"two columns", `SELECT count(*) FROM t WHERE ` + day + ` AND n > 0`, 2 + 5},
		{"self join, one side filtered", `SELECT count(*) FROM t a JOIN t b ON a.id = b.id WHERE a.ts >= ` + lo + ` AND a.ts < ` + hi, 2},
		{"in a subquery", `SELECT count(*) FROM (SELECT id FROM t WHERE ` + day + `) s`, 2},
		{"in a CTE", `WITH x AS (SELECT id, msg FROM t WHERE ` + day + `) SELECT count(*), min(msg) FROM x`, 2},
		{"inner join ON", `SELECT count(*), sum(b.id) FROM t a JOIN t b ON a.id = b.id + 1 AND a.ts >= ` + lo + ` AND a.ts < ` + hi, 2},
		// The ON filter of a LEFT JOIN filters its right side; the left
		// rows it does not match are still there, null-extended.
		{"left join ON, right side", `SELECT count(*), count(b.id), sum(b.id) FROM t a LEFT JOIN t b ON a.id = b.id AND b.ts >= ` + lo + ` AND b.ts < ` + hi, 2},
		{"empty BETWEEN", `SELECT count(*) FROM t WHERE n BETWEEN 30 AND 1`, 0},
		{"partition column", `SELECT count(*) FROM t WHERE p = 'x'`, 0},

		{"column also selected", `SELECT ts FROM t WHERE ` + day, 0},
		{"column counted", `SELECT count(ts) FROM t WHERE ` + day, 0},
		{"ORDER BY it", `SELECT id FROM t WHERE ` + day + ` ORDER BY ts, id`, 0},
		{"window over it", `SELECT id, row_number() OVER (ORDER BY ts) FROM t WHERE ` + day, 0},
		{"join on it", `SELECT count(*) FROM t a JOIN t b ON a.ts = b.ts WHERE a.ts >= ` + lo + ` AND a.ts < ` + hi, 0},
		{"SELECT *", `SELECT * FROM t WHERE ` + day, 0},
		{"COLUMNS", `SELECT COLUMNS('^t') FROM t WHERE ` + day, 0},
		{"positional reference", `SELECT #2 FROM t WHERE ` + day, 0},
		{"row as a whole", `SELECT to_json(t) FROM t WHERE ` + day, 0},
		{"NATURAL join", `SELECT count(*) FROM t a NATURAL JOIN t b WHERE a.ts >= ` + lo + ` AND a.ts < ` + hi, 0},
		{"USING", `SELECT count(*) FROM t a JOIN t b USING (id) WHERE a.ts >= ` + lo + ` AND a.ts < ` + hi, 0},
		{"second reference, other filter", `SELECT (SELECT count(*) FROM t WHERE ts >= '2026-11-06 11:00:00'), count(*) FROM t WHERE ` + day, 0},
		{"alias named like it", `SELECT id AS ts FROM t WHERE ` + day, 0},
		{"OR", `SELECT count(*) FROM t WHERE ` + day + ` OR id < 3`, 0},
		{"not equal", `SELECT count(*) FROM t WHERE ts <> ` + lo, 0},
		{"function of it", `SELECT count(*) FROM t WHERE CAST(ts AS DATE) = '2026-11-06'`, 0},
		{"string column", `SELECT count(*) FROM t WHERE msg >= 'a'`, 0},
		{"left join null-extended side", `SELECT count(*) FROM t a LEFT JOIN t b ON a.id = b.id + 100 WHERE b.ts >= ` + lo, 0},
		{"table --where names it", `SELECT count(*) FROM w WHERE ` + day, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := sortedRows(t, full, c.sql)
			logs.takeAll(t)
			got := sortedRows(t, pruned, c.sql)
			if !slices.Equal(got, want) {
				t.Errorf("%s\n elided   %v\n full read %v", c.sql, got, want)
			}
			if _, _, elided := logs.takeAll(t); elided != c.elided {
				t.Errorf("%s: %d files elided a column, want %d", c.sql, elided, c.elided)
			}
		})
	}
}
