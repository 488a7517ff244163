package ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

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

// A batch resumed from a plan older than the clean retention starts its
// retention when it is committed, not when it was planned: its file was
// deleted in the very run that first committed it.
func TestCleanRetentionFromCommit(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	landing, tbl := plannedFile(t, now.Add(-8*24*time.Hour))
	in, err := New(landing, tbl, &Options{CleanSource: CleanDelete, CleanRetention: 7 * 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := landing.Stat(ctx, "a.json"); err != nil {
		t.Fatalf("deleted in the run that committed it (retention 7 days): %v", err)
	}
	now = now.Add(8 * 24 * time.Hour)
	if err := in.cleanSource(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := landing.Stat(ctx, "a.json"); err == nil {
		t.Fatal("not deleted 8 days after its commit")
	}
}

// A quarantined file (unreadable: none of its lines ingested) is never
// cleaned: clean_source delete removed it with its batch.
func TestCleanSkipsQuarantined(t *testing.T) {
	ctx := context.Background()
	landing, tbl := memTable(t), memTable(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"message":"A"}` + "\n"))
	zw.Close()
	data := buf.Bytes()
	data[len(data)-8] ^= 0xff // break the CRC-32
	if err := landing.Put(ctx, "a.json.gz", data); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	in, err := New(landing, tbl, &Options{CleanSource: CleanDelete, CleanRetention: 7 * 24 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if sum, err := in.RunOnce(ctx); err != nil || sum.Quarantined != 1 {
		t.Fatalf("first run: %+v, %v; want the file quarantined", sum, err)
	}
	now = now.Add(8 * 24 * time.Hour)
	if err := in.cleanSource(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := landing.Stat(ctx, "a.json.gz"); err != nil {
		t.Fatalf("a quarantined file was cleaned: %v", err)
	}
}

// plannedFile lands a.json (one line) and writes the stream's batch 1 plan
// of it, created at created, as a run that stopped before committing it
// leaves them.
func plannedFile(t *testing.T, created time.Time) (landing, tbl storage.Bucket) {
	t.Helper()
	ctx := context.Background()
	landing, tbl = memTable(t), memTable(t)
	if err := landing.Put(ctx, "a.json", []byte(`{"message":"A"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	obj, err := landing.Stat(ctx, "a.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeManifest(ctx, tbl, &Manifest{Stream: DefaultStream, Batch: 1, Created: created.UTC(),
		Landing: landing.URL(), Files: []ManifestFile{fileFromObject(obj)}}); err != nil {
		t.Fatal(err)
	}
	return landing, tbl
}
