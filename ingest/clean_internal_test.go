package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

// TestCleanSourceSkipsPlannedBatch runs a cleanSource pass while batch 2 is
// planned (its manifest written) but not committed, long after both
// batches' retention: batch 1's file goes, batch 2's stays.
func TestCleanSourceSkipsPlannedBatch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	landing, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer landing.Close()
	raw := memTable(t)
	for _, k := range []string{"1.json", "2.json"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(`{"ts":"2026-11-24T10:00:00Z","message":"`+k+`"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	tbl := storage.NewFaulty(raw, storage.Faults{Ops: []string{storage.OpPutIfAbsent},
		KeyPrefix: "_delta_log/00000000000000000002.json", Nth: 1, Count: 1 << 20, Err: storage.ErrPermanent})
	in, err := New(landing, tbl, &Options{CleanSource: CleanMove, CleanDestination: memTable(t), CleanRetention: -1,
		MaxFiles: 1, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.RunOnce(ctx); err == nil {
		t.Fatal("batch 2 committed")
	}
	if _, err := ReadManifest(ctx, raw, "default", 2); err != nil || in.idx.batch != 1 {
		t.Fatalf("batch 2 is not planned-only (manifest: %v; committed %d)", err, in.idx.batch)
	}
	now = now.Add(90 * 24 * time.Hour)
	if err := in.cleanSource(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := landing.Stat(ctx, "1.json"); err == nil {
		t.Error("the committed batch's file was not cleaned")
	}
	if _, err := landing.Stat(ctx, "2.json"); err != nil {
		t.Errorf("the planned batch's file was cleaned: %v", err)
	}
	if in.cleaned != 1 {
		t.Errorf("clean progress %d, want 1", in.cleaned)
	}
}
