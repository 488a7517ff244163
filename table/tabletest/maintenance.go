package tabletest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// testMaintenance: OPTIMIZE, DELETE, VACUUM and log cleanup on this
// backend. OPTIMIZE keeps the rows and leaves one file per partition; DELETE
// removes exactly the matching rows; a forced zero-retention VACUUM deletes
// exactly the removed files, keeps the log and _loglake/, and every live
// file still reads; log cleanup with zero retention deletes the commits and
// checkpoints before the newest checkpoint and the table reads the same.
func testMaintenance(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	tbl := Create(t, b, map[string]string{"delta.checkpointInterval": "3"})
	for i := 0; i < 4; i++ {
		Append(t, tbl, int64(i*25), 25, nil)
	}
	if err := b.Put(ctx, "_loglake/state", []byte("x")); err != nil {
		t.Fatal(err)
	}
	res, err := tbl.Optimize(ctx, nil)
	if err != nil || res.NumRemovedFiles != 12 || res.NumAddedFiles != 3 {
		t.Fatalf("optimize: %+v %v", res, err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := IDs(t, snap, ""); !slices.Equal(got, seq(0, 100)) || len(snap.Files()) != 3 {
		t.Fatalf("after optimize: %d rows in %d files", len(got), len(snap.Files()))
	}
	del, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id >= 50 AND level = 'INFO'"})
	if err != nil || del.NumDeletedRows != 17 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if snap, err = tbl.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(IDs(t, snap, "")); n != 83 {
		t.Fatalf("after delete: %d rows, want 83", n)
	}
	vac, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: new(time.Duration), Force: true})
	if err != nil || vac.RemovedDeleted != 12+int64(del.NumRemovedFiles) || vac.OrphansDeleted != 0 {
		t.Fatalf("vacuum: %+v %v", vac, err)
	}
	var data int
	it := b.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(o.Key, "_") {
			data++
		}
	}
	if data != len(snap.Files()) {
		t.Fatalf("%d data files stored after vacuum, %d live", data, len(snap.Files()))
	}
	if _, err := b.Stat(ctx, "_loglake/state"); err != nil {
		t.Fatalf("vacuum touched _loglake/: %v", err)
	}
	// Versions: 0 create, 1-4 appends, 5 OPTIMIZE, 6 DELETE (checkpoints
	// 3 and 6). Zero retention keeps checkpoint 6 and deletes the rest.
	later := time.Now().Add(time.Hour)
	lc, err := tbl.CleanupLog(ctx, &table.LogCleanupOptions{Retain: new(time.Duration), Now: func() time.Time { return later }})
	if err != nil || lc.CommitsDeleted != 6 || lc.CheckpointsDeleted != 1 || lc.OldestVersion != 6 {
		t.Fatalf("log cleanup: %+v %v", lc, err)
	}
	if _, err := tbl.SnapshotAt(ctx, 5); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("cleaned version 5: %v, want ErrVersionNotFound", err)
	}
	fresh, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap, err = fresh.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(IDs(t, snap, "")); n != 83 {
		t.Fatalf("reopened after vacuum: %d rows", n)
	}
}
