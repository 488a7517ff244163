package query_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// A view registered with a predicate holds exactly the rows loglake's own
// scan returns for that filter: the translation to SQL keeps expr's meaning
// (types, NULLs, timestamps against dates, LIKE escapes, IN with NULL).
func TestWhereMatchesScan(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, source(t, "file"), nil)
	for i := 0; i < 3; i++ {
		appendIDs(t, tbl, int64(i*400), 400)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, "")
	for i, filter := range []string{
		"level = 'ERROR'",
		"level != 'ERROR' AND id < 500",
		"date = '2026-11-23'",
		"date >= '2026-11-23' OR id = 5",
		"date > '2026-11-22T12:00:00Z'",
		"date < '2026-11-23 00:00:00.000001'",
		"ts >= '2026-11-23T00:00:00.5Z' AND ts < '2026-11-24'",
		"ts > '2026-11-24 01:00:00+02:00'",
		"msg IS NULL",
		"msg IS NOT NULL AND NOT (id > 100)",
		"msg LIKE 'message 1%'",
		"msg NOT LIKE '%5'",
		"msg LIKE 'message\\_1_'",
		"id IN (1, 2, 3, 700, NULL)",
		"id NOT IN (1, 2, NULL)",
		"id NOT IN (1, 2)",
		"id < 10.5",
		"id = 2.5",
		"id >= '1100'",
		"msg = NULL",
		"NOT (msg = 'message 3')",
		"level IN ('WARN') AND (date = '2026-11-22' OR date = '2026-11-24')",
	} {
		t.Run(filter, func(t *testing.T) {
			want := tabletest.IDs(t, snap, filter)
			name := fmt.Sprintf("w%d", i)
			if err := e.Register(ctx, name, tbl, snap, filter); err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range rowsOf(t, e, "SELECT id FROM "+name+" ORDER BY id") {
				var id int64
				fmt.Sscan(r, &id)
				got = append(got, id)
			}
			if !slices.Equal(got, want) {
				t.Errorf("view has %d rows, scan %d; first ids view %v, scan %v", len(got), len(want), head(got), head(want))
			}
		})
	}
}

func head(ids []int64) []int64 { return ids[:min(len(ids), 8)] }

// Files that the predicate rules out are not read at all: with the data
// files of two dates deleted from the store, a view restricted to the third
// date still answers.
func TestWherePrunesFiles(t *testing.T) {
	ctx := context.Background()
	b := source(t, "file")
	tbl := tabletest.Create(t, b, nil)
	appendIDs(t, tbl, 0, 300)
	appendIDs(t, tbl, 300, 300)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, "")
	root := strings.TrimPrefix(b.URL(), "file://")
	deleted := 0
	for _, f := range snap.Files() {
		if *f.PartitionValues["date"] == "2026-11-23" {
			continue
		}
		key, err := table.FileKey(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(key))); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if deleted != 4 {
		t.Fatalf("deleted %d files, want 4 (2 commits x 2 other dates)", deleted)
	}
	if err := e.Register(ctx, "t", tbl, snap, "date = '2026-11-23' AND level = 'WARN'"); err != nil {
		t.Fatalf("register with a pruning predicate: %v", err)
	}
	if got := rowsOf(t, e, "SELECT count(*), min(id), max(id) FROM t"); !slices.Equal(got, []string{"200|1|598"}) {
		t.Errorf("pruned view: %v, want 200 rows, ids 1..598", got)
	}
	// Without the predicate, registration needs the deleted files.
	if err := e.Register(ctx, "again", tbl, snap, ""); err == nil {
		t.Error("registering the whole table with files missing succeeded")
	}
}
