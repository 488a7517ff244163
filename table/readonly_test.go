package table_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// A table opened read-only reads the same files, versions and txns as one
// opened for writing — from a checkpoint full of tombstones, from commits
// removing files after it, by refresh and by time travel — and refuses
// everything that needs the tombstones it skipped or writes.
func TestReadOnlyTable(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{"delta.checkpointInterval": "5"})
	for i := range 12 {
		appendN(t, tbl, int64(i*10), 10)
	}
	if _, err := tbl.Optimize(ctx, nil); err != nil { // version 13: 12 removes
		t.Fatal(err)
	}
	for i := 12; i < 14; i++ { // versions 14, 15 (checkpoint 15 with the tombstones)
		appendN(t, tbl, int64(i*10), 10)
	}
	if _, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id < 5"}); err != nil { // version 16: removes after the checkpoint
		t.Fatal(err)
	}

	ro, err := table.Open(ctx, b, &table.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	same := func(v int64) {
		t.Helper()
		want, err := tbl.SnapshotAt(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ro.SnapshotAt(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version() != want.Version() || !slices.Equal(paths(got), paths(want)) {
			t.Fatalf("version %d read-only: version %d, files %v; want %v", v, got.Version(), paths(got), paths(want))
		}
		if !slices.Equal(tabletest.IDs(t, got, ""), tabletest.IDs(t, want, "")) {
			t.Fatalf("version %d: read-only rows differ", v)
		}
		if len(tombstones(t, want)) == 0 && v >= 13 {
			t.Fatalf("version %d: the writable snapshot has no tombstones: the test proves nothing", v)
		}
		if _, err := got.Tombstones(); !errors.Is(err, table.ErrReadOnly) {
			t.Fatalf("version %d: Tombstones of a read-only snapshot: %v, want ErrReadOnly", v, err)
		}
	}
	for _, v := range []int64{16, 15, 14, 13, 12} {
		same(v)
	}
	// Refresh past the opening version, across removes.
	if _, err := tbl.Optimize(ctx, nil); err != nil {
		t.Fatal(err)
	}
	appendN(t, tbl, 500, 10)
	snap := latest(t, ro)
	if snap.Version() != 18 {
		t.Fatalf("read-only refresh to version %d, want 18", snap.Version())
	}
	same(18)

	refusals := map[string]error{}
	_, refusals["Commit"] = ro.Commit(ctx, snap, &table.Commit{})
	_, refusals["Commit through a writable table with a read-only snapshot"] = tbl.Commit(ctx, snap, &table.Commit{})
	rec := tabletest.Rows(900, 1)
	defer rec.Release()
	_, refusals["Append"] = ro.Append(ctx, []arrow.Record{rec}, nil)
	_, refusals["NewWriter"] = ro.NewWriter(snap, nil)
	_, refusals["Optimize"] = ro.Optimize(ctx, nil)
	_, refusals["Delete"] = ro.Delete(ctx, &table.DeleteOptions{Where: "id = 1"})
	_, refusals["Vacuum"] = ro.Vacuum(ctx, &table.VacuumOptions{DryRun: true})
	_, refusals["CleanupLog"] = ro.CleanupLog(ctx, nil)
	refusals["WriteCheckpoint"] = snap.WriteCheckpoint(ctx)
	for op, err := range refusals {
		if !errors.Is(err, table.ErrReadOnly) {
			t.Errorf("%s on a read-only table: %v, want ErrReadOnly", op, err)
		}
	}
	if v := latest(t, tbl).Version(); v != 18 {
		t.Fatalf("the refused operations moved the table to version %d", v)
	}
	// Nothing was written either: every data file is one the log knows.
	known := map[string]bool{}
	for _, k := range keys(t, b) {
		known[k] = true
	}
	for _, p := range paths(latest(t, tbl)) {
		delete(known, p)
	}
	for _, r := range tombstones(t, latest(t, tbl)) {
		delete(known, r.Path)
	}
	for k := range known {
		if !strings.HasPrefix(k, "_") {
			t.Errorf("%s: written by a refused operation", k)
		}
	}
}
