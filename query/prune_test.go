package query_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// prunedLog collects the engine's "query: pruned" records: how many files
// each reference of a statement kept.
type prunedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *prunedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// take returns (kept, of) summed over the references logged since the last
// call.
func (l *prunedLog) take(t testing.TB) (kept, of int) {
	kept, of, _ = l.takeAll(t)
	return kept, of
}

// takeAll is take that also returns how many files do not read a column
// ("query: elided"), summed over columns and references.
func (l *prunedLog) takeAll(t testing.TB) (kept, of, elided int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r struct {
			Msg    string
			Files  int
			Of     int
			Elided map[string]int
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			panic(err)
		}
		switch r.Msg {
		case "query: pruned":
			kept += r.Files
			of += r.Of
		case "query: elided":
			for _, n := range r.Elided {
				elided += n
			}
		}
	}
	l.buf.Reset()
	return kept, of, elided
}

// pruneTables makes t (600 ids in 12 commits: 36 files over 3 dates) and u
// (300 ids in 6 commits), both with tabletest's schema.
func pruneTables(t *testing.T) (*table.Table, *table.Table) {
	tt := tabletest.Create(t, source(t, "file"), nil)
	for i := 0; i < 12; i++ {
		appendIDs(t, tt, int64(i*50), 50)
	}
	u := tabletest.Create(t, source(t, "mem"), nil)
	for i := 0; i < 6; i++ {
		appendIDs(t, u, int64(i*50), 50)
	}
	return tt, u
}

// pruneEngines opens an engine that prunes, logging what it read to logs,
// and one that reads every file (NoPrune), closed with the test.
func pruneEngines(t *testing.T) (pruned, full *query.Engine, logs *prunedLog) {
	ctx := context.Background()
	logs = &prunedLog{}
	pruned, err := query.Open(ctx, &query.Options{CacheDir: t.TempDir(), Threads: 2, MemoryLimit: "1GB",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pruned.Close() })
	full, err = query.Open(ctx, &query.Options{CacheDir: t.TempDir(), Threads: 2, MemoryLimit: "1GB", NoPrune: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { full.Close() })
	return pruned, full, logs
}

// attach attaches the tables to each engine under their names.
func attach(t *testing.T, engines []*query.Engine, tables map[string]*table.Table) {
	t.Helper()
	for _, e := range engines {
		for name, tbl := range tables {
			if err := e.Attach(context.Background(), name, tbl, nil, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// comparePruned runs q on both engines, fails the test when the rows
// differ, and returns how many files the pruned run read of how many.
func comparePruned(t *testing.T, pruned, full *query.Engine, logs *prunedLog, q string) (kept, of int) {
	t.Helper()
	want := sortedRows(t, full, q)
	logs.take(t)
	if got := sortedRows(t, pruned, q); !slices.Equal(got, want) {
		t.Errorf("%s\n pruned   %v\n unpruned %v", q, got, want)
	}
	if len(want) == 0 || want[0] == "0" {
		t.Logf("%s: empty result", q)
	}
	return logs.take(t)
}

// Every pruning rule gives the same rows as the same statement over all
// files; the cases marked prune must also read fewer files.
func TestSQLPruningMatchesUnpruned(t *testing.T) {
	tt, u := pruneTables(t)
	pruned, full, logs := pruneEngines(t)
	attach(t, []*query.Engine{pruned, full}, map[string]*table.Table{"t": tt, "u": u})
	for _, c := range []struct {
		name, sql string
		prune     bool // fewer files must be read
	}{
		{"partition equality", `SELECT count(*), sum(id) FROM t WHERE date = '2026-11-23'`, true},
		{"date literal and BETWEEN", `SELECT count(*), sum(id) FROM t WHERE date = DATE '2026-11-23' AND id BETWEEN 100 AND 200`, true},
		{"IN", `SELECT id FROM t WHERE id IN (5, 77, 400)`, true},
		{"NOT IN", `SELECT count(*) FROM t WHERE id NOT IN (5, 77, 400)`, false},
		{"OR of ranges", `SELECT count(*), sum(id) FROM t WHERE id < 50 OR id > 550`, true},
		{"OR with an unknown side", `SELECT count(*) FROM t WHERE id < 50 OR length(msg) > 11`, false},
		{"IS NULL", `SELECT count(*) FROM t WHERE msg IS NULL AND id >= 300`, true},
		{"IS NOT NULL", `SELECT count(*) FROM t WHERE msg IS NOT NULL`, false},
		{"not equal", `SELECT count(*) FROM t WHERE id <> 3`, false},
		{"literal on the left", `SELECT count(*) FROM t WHERE 100 > id`, true},
		{"timestamptz vs date literal", `SELECT count(*), min(id) FROM t WHERE ts >= DATE '2026-11-24'`, true},
		{"timestamptz vs timestamp literal", `SELECT count(*), max(id) FROM t WHERE ts < TIMESTAMP '2026-11-22 00:00:00.2'`, true},
		{"timestamptz vs zoned string", `SELECT count(*) FROM t WHERE ts > '2026-11-24 02:00:00.5+02'`, true},
		{"cast of the column to date", `SELECT count(*), sum(id) FROM t WHERE CAST(ts AS DATE) = '2026-11-24'`, true},
		{"::DATE range", `SELECT count(*) FROM t WHERE ts::DATE BETWEEN DATE '2026-11-22' AND '2026-11-23'`, true},
		{"::DATE strict", `SELECT count(*) FROM t WHERE ts::DATE > '2026-11-23' AND ts::DATE < '2026-11-25'`, true},
		// DuckDB compares the DATE as midnight with the timestamp: no day range.
		{"::DATE vs timestamp literal", `SELECT count(*), sum(id) FROM t WHERE CAST(ts AS DATE) < TIMESTAMP '2026-11-23 00:00:00.3'`, false},
		{"::DATE vs timestamp literal, greater", `SELECT count(*), sum(id) FROM t WHERE ts::DATE >= TIMESTAMP '2026-11-23 00:00:01'`, false},
		{"date vs timestamp literal", `SELECT count(*) FROM t WHERE date >= TIMESTAMPTZ '2026-11-23 12:00:00+00'`, true},
		{"date vs timestamp equal", `SELECT count(*) FROM t WHERE date = TIMESTAMP '2026-11-23 00:00:00'`, true},
		{"string and range", `SELECT count(*) FROM t WHERE level = 'WARN' AND id > 500`, true},
		{"NULL literal", `SELECT count(*) FROM t WHERE id = NULL`, false},
		{"upper case names", `SELECT count(*) FROM T WHERE ID < 5`, true},
		{"quoted names", `SELECT count(*) FROM "t" WHERE "id" < 5`, true},
		{"qualified by table name", `SELECT count(*) FROM t WHERE t.id < 5`, true},
		{"inner join", `SELECT count(*), sum(t.id) FROM t JOIN u ON t.id = u.id WHERE t.id < 100 AND u.date = '2026-11-22'`, true},
		{"inner join ON filter", `SELECT count(*) FROM t JOIN u ON t.id = u.id AND u.id > 250 AND t.id < 280`, true},
		{"comma join", `SELECT count(*) FROM t, u WHERE t.id = u.id AND u.id < 20`, true},
		{"left join ON filter", `SELECT count(*), count(u.id) FROM t LEFT JOIN u ON t.id = u.id AND u.id < 30 WHERE t.id < 120`, true},
		{"left join left ON filter", `SELECT count(*), count(u.id) FROM t LEFT JOIN u ON t.id = u.id AND t.id < 30 WHERE u.id < 100 OR u.id IS NULL`, false},
		{"left join WHERE IS NULL", `SELECT count(*) FROM t LEFT JOIN u ON t.id = u.id WHERE u.msg IS NULL AND t.id < 200`, true},
		{"left join WHERE right", `SELECT count(*) FROM t LEFT JOIN u ON t.id = u.id WHERE u.id > 200`, false},
		{"right join", `SELECT count(*), count(t.id) FROM t RIGHT JOIN u ON t.id = u.id AND t.id < 100 WHERE u.id >= 50`, true},
		{"full join", `SELECT count(*), count(t.id), count(u.id) FROM t FULL JOIN u ON t.id = u.id AND t.id < 10 WHERE u.id < 20 OR u.id IS NULL`, false},
		{"nested outer join", `SELECT count(*) FROM u JOIN (t LEFT JOIN u AS v ON t.id = v.id) ON u.id = t.id AND v.msg IS NULL`, false},
		{"self join", `SELECT count(*), sum(a.id) FROM t a JOIN t b ON a.id = b.id + 1 WHERE a.id < 60 AND b.id > 40`, true},
		{"self join, same filter on both sides", `SELECT count(*), sum(a.id) FROM t a JOIN t b ON a.id = b.id WHERE a.id < 60 AND b.id < 60`, true},
		{"self join other dates", `SELECT count(*) FROM t AS a JOIN t AS b ON a.level = b.level WHERE a.date = '2026-11-22' AND b.date = '2026-11-22' AND a.id < 10 AND b.id > 590`, true},
		{"CTE", `WITH x AS (SELECT * FROM t WHERE id >= 500) SELECT count(*), min(id) FROM x WHERE date = '2026-11-22'`, true},
		{"CTE shadowing a table", `WITH t AS (SELECT * FROM u WHERE id < 5) SELECT count(*) FROM t WHERE id < 3`, true},
		{"subquery in FROM", `SELECT count(*) FROM (SELECT id FROM t WHERE id < 10) s`, true},
		{"filter outside a subquery", `SELECT count(*) FROM (SELECT id FROM t) s WHERE id < 10`, false},
		{"IN subquery", `SELECT count(*) FROM t WHERE id IN (SELECT id FROM u WHERE id > 280)`, true},
		{"correlated EXISTS", `SELECT count(*) FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id AND id < 20)`, true},
		{"outer column in a subquery", `SELECT count(*) FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.id = u.id + 500)`, false},
		{"scalar subquery", `SELECT (SELECT max(id) FROM t WHERE id < 100), count(*) FROM u WHERE id > 10`, true},
		{"UNION ALL", `SELECT id FROM t WHERE id < 5 UNION ALL SELECT id FROM t WHERE id > 595`, true},
		{"OR across tables", `SELECT count(*) FROM t, u WHERE t.id = u.id AND (t.id < 10 OR u.id > 290)`, false},
		{"group by having", `SELECT level, count(*) FROM t WHERE id < 100 GROUP BY level HAVING count(*) > 1`, true},
		{"window", `SELECT id, row_number() OVER (ORDER BY id) FROM t WHERE id >= 590`, true},
		{"no filter", `SELECT count(*) FROM t`, false},
		// DuckDB casts a BETWEEN's or IN's operands to one type: beside a
		// timestamp, a string is a timestamp too, not the column's date.
		{"date BETWEEN timestamp AND string", `SELECT count(*) FROM t WHERE date BETWEEN TIMESTAMPTZ '2026-11-22 00:00:00+00' AND '2026-11-23T23:00:00-01'`, false},
		{"date IN timestamp and string", `SELECT count(*) FROM t WHERE date IN (TIMESTAMPTZ '2000-01-01 00:00:00+00', '2026-11-23T23:00:00-01')`, false},
		{"date IN string past midnight", `SELECT count(*) FROM t WHERE date IN (TIMESTAMP '2000-01-01', '2026-11-23 24:00:00')`, false},
		{"date BETWEEN dates", `SELECT count(*) FROM t WHERE date BETWEEN DATE '2026-11-22' AND '2026-11-22'`, true},
		{"non-ASCII text before the table", `SELECT 'é☃' AS x, count(*) FROM t WHERE id < 5`, true},
		{"column aliases", `SELECT count(*) FROM t AS x(level, id) WHERE level < 5`, false},
		{"DESCRIBE", `DESCRIBE t`, false},
		{"SUMMARIZE", `SELECT count(*) FROM (SUMMARIZE t)`, false},
		{"ASOF join, partition filter", `SELECT count(*), sum(t.id) FROM u ASOF JOIN t ON u.id >= t.id WHERE t.date = '2026-11-23'`, false},
		{"ASOF join, stats filter", `SELECT count(*), sum(t.id) FROM u ASOF JOIN t ON u.id >= t.id WHERE t.id < 100`, false},
		{"table function", `SELECT count(*) FROM range(5) r, t WHERE t.id < 3 AND r.range < 2`, true},
		// Names the walk cannot resolve keep the view of all files.
		{"qualified by schema", `SELECT count(*) FROM main.t WHERE id < 5`, false},
		{"qualified by catalog", `SELECT count(*) FROM memory.main.t WHERE id < 5`, false},
		{"one qualified, one not", `SELECT count(*) FROM t, main.u WHERE t.id = u.id AND t.id < 5`, true},
		{"column qualified by schema", `SELECT count(*) FROM t WHERE t.id < 3 AND main.t.id < 3`, false},
		{"query_table", `SELECT count(*) FROM query_table('t') WHERE id < 5`, false},
		{"query", `SELECT count(*) FROM query('SELECT * FROM t WHERE id < 5')`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if kept, of := comparePruned(t, pruned, full, logs, c.sql); c.prune && kept >= of {
				t.Errorf("%s read %d of %d files: nothing pruned", c.sql, kept, of)
			}
		})
	}
}

// A SET of the time zone or of the collation changes what a filter means
// (UTC days, byte-wise order): later statements are not pruned. Settings
// that change only how a statement runs keep pruning on.
func TestSQLPruningAfterSettings(t *testing.T) {
	tt, _ := pruneTables(t)
	pruned, full, logs := pruneEngines(t)
	attach(t, []*query.Engine{pruned, full}, map[string]*table.Table{"t": tt})
	check := func(q string, wantPruned bool) {
		t.Helper()
		if kept, of := comparePruned(t, pruned, full, logs, q); wantPruned != (kept < of) {
			t.Errorf("%s read %d of %d files, want pruning %v", q, kept, of, wantPruned)
		}
	}
	day := `SELECT count(*), sum(id) FROM t WHERE ts::DATE = '2026-11-23'`
	check(day, true)
	for _, e := range []*query.Engine{pruned, full} {
		for _, set := range []string{"SET threads = 2", "PRAGMA enable_progress_bar"} {
			mustRun(t, e, set)
		}
	}
	check(day, true)
	for _, e := range []*query.Engine{pruned, full} {
		mustRun(t, e, "SET TimeZone = 'Pacific/Kiritimati'")
	}
	check(day, false)
	check(`SELECT count(*), sum(id) FROM t WHERE date >= TIMESTAMPTZ '2026-11-23 03:00:00+00'`, false)
	for _, e := range []*query.Engine{pruned, full} {
		mustRun(t, e, "SET default_collation = 'nocase'")
	}
	check(`SELECT count(*) FROM t WHERE level = 'warn'`, false)
}

// A temporary table named like an attached one shadows it in DuckDB: a
// filter on that name must not be pruned (it read the Delta table's files
// then, and the unfiltered statement the temporary table). Statements run
// through DB are not seen: pruning stops once it is taken.
func TestSQLPruningAfterShadowingOrDB(t *testing.T) {
	tt, _ := pruneTables(t)
	pruned, full, logs := pruneEngines(t)
	attach(t, []*query.Engine{pruned, full}, map[string]*table.Table{"t": tt})
	for _, e := range []*query.Engine{pruned, full} {
		mustRun(t, e, "CREATE TEMP TABLE t AS SELECT 42::BIGINT AS id")
	}
	comparePruned(t, pruned, full, logs, `SELECT count(*), sum(id) FROM t WHERE id < 100`)
	if got := rowsOf(t, pruned, `SELECT count(*), sum(id) FROM t WHERE id < 100`); !slices.Equal(got, []string{"1|42"}) {
		t.Fatalf("filter on the shadowed name: %v, want the temporary table's 1|42", got)
	}
	tt2, _ := pruneTables(t)
	pruned2, full2, logs2 := pruneEngines(t)
	attach(t, []*query.Engine{pruned2, full2}, map[string]*table.Table{"t": tt2})
	day := `SELECT count(*), sum(id) FROM t WHERE date = '2026-11-23'`
	if kept, of := comparePruned(t, pruned2, full2, logs2, day); kept >= of {
		t.Fatalf("read %d of %d files before DB was taken: nothing pruned", kept, of)
	}
	pruned2.DB()
	if kept, of := comparePruned(t, pruned2, full2, logs2, day); kept < of {
		t.Fatalf("read %d of %d files after DB was taken: still pruned", kept, of)
	}
}

// On a timestamp_ntz column too, CAST(col AS DATE) prunes as a day range
// against a date, and not at all against a timestamp, which DuckDB compares
// with the date's midnight.
func TestSQLPruningNTZDates(t *testing.T) {
	ctx := context.Background()
	sch := &table.Schema{Fields: []*table.Field{{Name: "id", Type: table.TypeLong, Nullable: true},
		{Name: "tn", Type: table.TypeTimestampNTZ, Nullable: true}}}
	tbl, err := table.Create(ctx, source(t, "mem"), table.CreateOptions{Schema: sch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int, hour int) int64 {
		return time.Date(2026, 1, d, hour, 0, 0, 0, time.UTC).UnixMicro()
	}
	for i, tns := range [][]int64{{day(2, 20), day(2, 21)}, {day(1, 10)}, {day(3, 1)}} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
		for j, tn := range tns {
			b.Field(0).(*array.Int64Builder).Append(int64(10*i + j))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(tn))
		}
		rec := b.NewRecordBatch()
		if _, err := tbl.Append(ctx, []arrow.RecordBatch{rec}, nil); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	pruned, full, logs := pruneEngines(t)
	attach(t, []*query.Engine{pruned, full}, map[string]*table.Table{"n": tbl})
	for q, wantPruned := range map[string]bool{
		`SELECT id FROM n WHERE CAST(tn AS DATE) = DATE '2026-01-02'`:            true,
		`SELECT id FROM n WHERE tn::DATE < '2026-01-02'`:                         true,
		`SELECT id FROM n WHERE CAST(tn AS DATE) < TIMESTAMP '2026-01-02 13:00'`: false,
		`SELECT id FROM n WHERE CAST(tn AS DATE) > TIMESTAMP '2026-01-02 13:00'`: false,
	} {
		if kept, of := comparePruned(t, pruned, full, logs, q); wantPruned != (kept < of) {
			t.Errorf("%s read %d of %d files, want pruning %v", q, kept, of, wantPruned)
		}
	}
}

func mustRun(t *testing.T, e *query.Engine, q string) {
	t.Helper()
	rows, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
}

func TestChangesMeaning(t *testing.T) {
	for q, want := range map[string]bool{
		"SET TimeZone = 'America/New_York'":              true,
		"set global timezone to 'UTC'":                   true,
		"  -- c\n/* x */ SET default_collation='nocase'": true,
		"RESET ALL":                           true,
		"PRAGMA default_collation = 'nocase'": true,
		"SET threads = 4":                     false,
		"SET SESSION memory_limit = '1GB'":    false,
		"PRAGMA threads=2":                    false,
		"SET VARIABLE x = 1":                  false,
		"SELECT 1":                            false,
		"settings":                            false,
		`SET "TimeZone" = 'UTC'`:              true,
		// DuckDB nests block comments, and runs every statement of a query.
		"/* a /* nested */ comment */ SET TimeZone = 'UTC'": true,
		"SELECT 1; SET TimeZone = 'UTC'":                    true,
		"; SET TimeZone = 'UTC'":                            true,
		// Objects that can shadow an attached table's name.
		"CREATE TEMP TABLE t AS SELECT 1":                true,
		"create or replace temporary view v as select 1": true,
		"USE memory.s2":                                   true,
		"CREATE TABLE temp.t AS SELECT 1":                 true,
		"CREATE OR REPLACE VIEW t AS SELECT 1":            true,
		"/* a /* nested */ comment */ SELECT 1; SELECT 2": false,
	} {
		if got := query.ChangesMeaning(q); got != want {
			t.Errorf("changesMeaning(%q) = %v, want %v", q, got, want)
		}
	}
}

func sortedRows(t *testing.T, e *query.Engine, q string) []string {
	t.Helper()
	r := rowsOf(t, e, q)
	sort.Strings(r)
	return r
}

// A statement's pruned tables are embedded in it as one-line SELECTs over
// several partitions: DuckDB's errors still name the line of the user's
// text.
func TestPrunedStatementErrorLine(t *testing.T) {
	ctx := context.Background()
	tt, _ := pruneTables(t)
	e := newEngine(t, "")
	if err := e.Attach(ctx, "t", tt, nil, ""); err != nil {
		t.Fatal(err)
	}
	_, err := e.Query(ctx, "SELECT count(*) FROM t\nWHERE id >= 100\n  AND nosuch = 1")
	if !errors.Is(err, query.ErrSQL) {
		t.Fatalf("got %v, want a DuckDB error", err)
	}
	if !strings.Contains(err.Error(), "LINE 3:") || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("error does not point at line 3 of the statement:\n%v", err)
	}
}

// A statement given positional arguments gets its pruned file lists as
// literals (DuckDB takes positional or named parameters, not both), and
// the same rows as without arguments.
func TestPrunedStatementWithArgs(t *testing.T) {
	ctx := context.Background()
	tt, _ := pruneTables(t)
	e := newEngine(t, "")
	if err := e.Attach(ctx, "t", tt, nil, ""); err != nil {
		t.Fatal(err)
	}
	want := rowsOf(t, e, "SELECT count(*), sum(id) FROM t WHERE id < 100 AND date = '2026-11-22'")
	rows, err := e.Query(ctx, "SELECT count(*), sum(id) FROM t WHERE id < ? AND date = ?", 100, "2026-11-22")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n, sum int64
	if !rows.Next() {
		t.Fatal("no row")
	}
	if err := rows.Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if got := []string{fmt.Sprintf("%d|%d", n, sum)}; !slices.Equal(got, want) || n == 0 {
		t.Errorf("with arguments %v, without %v", got, want)
	}
}

// A POSITIONAL join pairs rows by position: a WHERE filter on one side
// must not prune either (the pairs would shift). Its result depends on
// DuckDB's scan order, so this checks what was read, not the rows.
func TestPositionalJoinNotPruned(t *testing.T) {
	ctx := context.Background()
	tt, u := pruneTables(t)
	pruned, _, logs := pruneEngines(t)
	for n, tbl := range map[string]*table.Table{"t": tt, "u": u} {
		if err := pruned.Attach(ctx, n, tbl, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	logs.take(t)
	rowsOf(t, pruned, `SELECT count(*) FROM t POSITIONAL JOIN u WHERE t.id >= 550 AND u.date = '2026-11-22'`)
	if kept, of := logs.take(t); kept != of || of == 0 {
		t.Errorf("read %d of %d files, want all", kept, of)
	}
}
