package replicate_test

import (
	"context"
	"testing"
	"time"

	"github.com/loglake/loglake/replicate"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// A replica replays the source's OPTIMIZE and DELETE commits at the same
// versions, copying only their new files; it keeps working after the
// source's VACUUM, and can be vacuumed on its own.
func TestCloneReplaysMaintenance(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "file")
	src := tabletest.Create(t, srcB, nil)
	tabletest.AppendBatches(t, src, 4, 50)
	clone(t, srcB, dstB, nil)
	if _, err := src.Optimize(ctx, nil); err != nil { // v5
		t.Fatal(err)
	}
	if _, err := src.Delete(ctx, &table.DeleteOptions{Where: "id < 30"}); err != nil { // v6
		t.Fatal(err)
	}
	_, wantBytes := rt.AddedBytes(t, src, 4, -1)
	res := clone(t, srcB, dstB, nil)
	if res.CommitsWritten != 2 || res.DestinationVersion != 6 || res.Metrics.CopiedFilesSize != wantBytes {
		t.Fatalf("replaying OPTIMIZE and DELETE: %+v (want 2 commits, %d bytes)", res, wantBytes)
	}
	dst := open(t, dstB)
	rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, dst))
	h := history(t, dst)
	if h[5].Operation != "OPTIMIZE" || h[6].Operation != "DELETE" {
		t.Fatalf("replica history: %s, %s", h[5].Operation, h[6].Operation)
	}
	// The source's VACUUM does not disturb the replica's next run.
	if _, err := src.Vacuum(ctx, &table.VacuumOptions{Retain: new(time.Duration), Force: true}); err != nil {
		t.Fatal(err)
	}
	tabletest.Append(t, src, 300, 10, nil)
	if res = clone(t, srcB, dstB, nil); res.CommitsWritten != 1 || res.DestinationVersion != 7 {
		t.Fatalf("clone after the source's vacuum: %+v", res)
	}
	// The replica vacuums on its own, writing nothing to its log: it stays
	// an exact replica and the next clone still fast-forwards.
	vac, err := dst.Vacuum(ctx, &table.VacuumOptions{Retain: new(time.Duration), Force: true})
	if err != nil || vac.RemovedDeleted == 0 {
		t.Fatalf("replica vacuum: %+v %v", vac, err)
	}
	tabletest.Append(t, src, 200, 10, nil)
	res = clone(t, srcB, dstB, nil)
	if res.CommitsWritten != 1 || res.DestinationVersion != 8 {
		t.Fatalf("clone after the replica's vacuum: %+v", res)
	}
	rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, open(t, dstB)))
}

// The source's real log cleanup (Table.CleanupLog) behind the replica's
// position does not disturb it: the replica stays exact, keeps the
// source's version numbers and copies only the new files. A replica that
// lagged behind the cleanup falls back to sync (TestCloneLogCleaned).
func TestCloneAfterSourceLogCleanup(t *testing.T) {
	ctx := context.Background()
	srcB, dstB := location(t, "mem"), location(t, "file")
	src := tabletest.Create(t, srcB, map[string]string{"delta.checkpointInterval": "3"})
	tabletest.AppendBatches(t, src, 3, 40) // v1-v3, checkpoint 3
	clone(t, srcB, dstB, nil)
	if _, err := src.Optimize(ctx, nil); err != nil { // v4
		t.Fatal(err)
	}
	if _, err := src.Delete(ctx, &table.DeleteOptions{Where: "id < 15"}); err != nil { // v5
		t.Fatal(err)
	}
	tabletest.Append(t, src, 200, 10, nil) // v6, checkpoint 6
	if res := clone(t, srcB, dstB, nil); res.Mode != replicate.ModeReplica || res.DestinationVersion != 6 {
		t.Fatalf("replaying OPTIMIZE and DELETE: %+v", res)
	}
	// Clean every commit the retention allows: 0-5 go, checkpoint 6 stays.
	zero := time.Duration(0)
	lc, err := src.CleanupLog(ctx, &table.LogCleanupOptions{Retain: &zero})
	if err != nil || lc.CommitsDeleted != 6 || lc.OldestVersion != 6 {
		t.Fatalf("source log cleanup: %+v %v", lc, err)
	}
	if _, err := src.Vacuum(ctx, &table.VacuumOptions{Retain: &zero, Force: true}); err != nil {
		t.Fatal(err)
	}
	tabletest.Append(t, src, 300, 10, nil)                                                            // v7
	if _, err := src.Delete(ctx, &table.DeleteOptions{Where: "id >= 300 AND id < 303"}); err != nil { // v8
		t.Fatal(err)
	}
	_, wantBytes := rt.AddedBytes(t, src, 6, -1)
	res := clone(t, srcB, dstB, nil)
	if res.Mode != replicate.ModeReplica || res.CommitsWritten != 2 || res.DestinationVersion != 8 || res.Metrics.CopiedFilesSize != wantBytes {
		t.Fatalf("clone after the source's log cleanup: %+v (want 2 commits, %d bytes)", res, wantBytes)
	}
	dst := open(t, dstB)
	rt.SameRows(t, rt.Latest(t, src), rt.Latest(t, dst))
	if h := history(t, dst); h[4].Operation != "OPTIMIZE" || h[5].Operation != "DELETE" || h[8].Operation != "DELETE" {
		t.Fatalf("replica history: v4 %s, v5 %s, v8 %s", h[4].Operation, h[5].Operation, h[8].Operation)
	}
}
