package query_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// Time travel by version and by timestamp, in --table specs and in SQL's
// AT clause; a timestamp after the last commit is an error.
func TestTimeTravelSpecAndAT(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	u := "file://" + filepath.ToSlash(dir)
	b, err := storage.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tbl := tabletest.Create(t, b, nil)
	var stamps []time.Time // commit time of versions 1..3
	for i := 0; i < 3; i++ {
		v := appendIDs(t, tbl, int64(i*10), 10)
		snap, err := tbl.SnapshotAt(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, snap.Timestamp())
		time.Sleep(20 * time.Millisecond) // distinct commit milliseconds
	}
	ts := func(i int) string { return stamps[i].Format(time.RFC3339Nano) }
	e := newEngine(t, "")
	for _, c := range []struct{ spec, want string }{
		{"t=" + u, "30"},
		{"t=" + u + "@1", "10"},
		{"t=" + u + "@" + ts(1), "20"},
		{"t=" + u + "@" + stamps[1].Add(10*time.Millisecond).Format(time.RFC3339Nano), "20"},
		{"t=" + u + "@" + ts(2), "30"},
	} {
		sp, err := query.ParseSpec(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterSpec(ctx, sp, ""); err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		if got := rowsOf(t, e, "SELECT count(*) FROM t"); !slices.Equal(got, []string{c.want}) {
			t.Errorf("%s: count %v, want %s", c.spec, got, c.want)
		}
	}
	for _, spec := range []string{
		"t=" + u + "@" + stamps[2].Add(time.Second).Format(time.RFC3339Nano), // after the last commit
		"t=" + u + "@2000-01-01", // before the first
	} {
		sp, err := query.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterSpec(ctx, sp, ""); !errors.Is(err, query.ErrTimestamp) {
			t.Errorf("%s: %v, want ErrTimestamp", spec, err)
		}
	}
	if err := e.RegisterSpec(ctx, query.Spec{Name: "t", URL: u, Version: -1}, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sql, want string }{
		{"SELECT count(*) FROM t AT (VERSION => 1)", "10"},
		{"SELECT count(*) FROM t AT (VERSION => 1.0)", "10"},
		{"SELECT count(*) FROM t AT (VERSION => '1')", "10"},
		{"SELECT count(*) FROM t AT (version => 1 + 1) WHERE id < 15", "15"},
		{"SELECT count(*) FROM t AT (TIMESTAMP => '" + ts(0) + "')", "10"},
		{"SELECT count(*) FROM t AT (TIMESTAMP => TIMESTAMPTZ '" + ts(1) + "')", "20"},
		{"SELECT (SELECT count(*) FROM t) - (SELECT count(*) FROM t AT (VERSION => 1))", "20"},
		{"SELECT count(*) FROM t AT (VERSION => 1) JOIN t AT (VERSION => 2) USING (id)", "10"},
		// An alias comes before AT, as DuckDB's grammar has it.
		{"SELECT count(*) FROM t x AT (VERSION => 1) WHERE x.id < 5", "5"},
		{`SELECT count(*), max(b.id) FROM t AS a AT (VERSION => 1) JOIN t "b" AT (VERSION => 2) ON a.id + 10 = "b".id`, "10|19"},
	} {
		if got := rowsOf(t, e, c.sql); !slices.Equal(got, []string{c.want}) {
			t.Errorf("%s: %v, want %s", c.sql, got, c.want)
		}
	}
	for _, c := range []struct {
		sql  string
		want error
	}{
		{"SELECT count(*) FROM t AT (TIMESTAMP => '" + stamps[2].Add(time.Hour).Format(time.RFC3339Nano) + "')", query.ErrTimestamp},
		{"SELECT count(*) FROM t AT (VERSION => 9)", table.ErrVersionNotFound},
		{"SELECT count(*) FROM t AT (VERSION => 0.6)", query.ErrSQL}, // not rounded to 1 (review)
		{"SELECT count(*) FROM t AT (VERSION => 1.5)", query.ErrSQL},
		{"SELECT count(*) FROM t AT (VERSION => '0.6')", query.ErrSQL},
		{"SELECT count(*) FROM t AT (VERSION => true)", query.ErrSQL},
	} {
		rows, err := e.Query(ctx, c.sql)
		if err == nil {
			rows.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.sql, err, c.want)
		}
	}
}

// Attaching reads no data file: a statement needs only the files it can
// read, so one whose filter prunes the missing files works.
func TestAttachReadsOnlyNeededFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tbl := tabletest.Create(t, b, nil)
	appendIDs(t, tbl, 0, 30)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range snap.Files() {
		if f.PartitionValues["date"] != nil && *f.PartitionValues["date"] != "2026-11-23" {
			key, _ := table.FileKey(f.Path)
			if err := b.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := newEngine(t, "")
	if err := e.Attach(ctx, "t", tbl, nil, ""); err != nil {
		t.Fatalf("attach with files missing: %v", err)
	}
	if got := rowsOf(t, e, "SELECT count(*) FROM t WHERE date = '2026-11-23'"); !slices.Equal(got, []string{"10"}) {
		t.Errorf("pruned to the present partition: %v, want 10", got)
	}
	if rows, err := e.Query(ctx, "SELECT count(*) FROM t"); err == nil {
		rows.Close()
		t.Error("reading the whole table with files missing succeeded")
	}
}

// DuckDB's errors are marked ErrSQL and keep their lines; its advice to
// install an extension is replaced.
func TestSQLErrors(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, "")
	_, err := e.Query(ctx, "SELECT * FROM delta_scan('file:///x')")
	if !errors.Is(err, query.ErrSQL) || strings.Contains(err.Error(), "INSTALL") || !strings.Contains(err.Error(), "--table NAME=URL") {
		t.Errorf("delta_scan: %v", err)
	}
	_, err = e.Query(ctx, "SELEC 1")
	if !errors.Is(err, query.ErrSQL) || !strings.Contains(err.Error(), "\n") {
		t.Errorf("syntax error: %q, want DuckDB's multi-line message", err)
	}
	// An error in a statement over an attached table does not quote the
	// statement DuckDB ran, which reads pruned views the user never wrote.
	tbl := tabletest.Create(t, source(t, "file"), nil)
	appendIDs(t, tbl, 0, 10)
	if err := e.Attach(ctx, "logs", tbl, nil, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.Query(ctx, "SELECT idd FROM logs WHERE id > 3")
	if !errors.Is(err, query.ErrSQL) || !strings.Contains(err.Error(), `"idd"`) || strings.Contains(err.Error(), "CAST") ||
		!strings.HasSuffix(err.Error(), "\n\nLINE 1: SELECT idd FROM logs WHERE id > 3") {
		t.Errorf("binder error: %q, want DuckDB's message quoting the user's line", err)
	}
}
