package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

// Pending's index keeps only the keys the landing listing holds, however
// many files the stream has ingested (the whole index took ≈15 CPU-s a
// status call at 10 M keys), and a listing past the limit ends before the
// index is read at all.
func TestPendingLoadsOnlyListedKeys(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tbl := storage.NewCounting(memTable(t), nil)
	const batches, perBatch = 40, 50
	x := newIndex()
	for b := int64(1); b <= batches; b++ {
		m := synthManifest(b, perBatch, t0)
		if _, err := writeManifest(ctx, tbl, m); err != nil {
			t.Fatal(err)
		}
		x.apply(m)
		if b == 30 { // batches 1-30 in a segment, 31-40 as manifests
			if err := x.compact(ctx, tbl, "s", t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	landing := memTable(t)
	// Three ingested files (one from the segment, two from manifests) and
	// four new ones.
	for _, f := range []ManifestFile{synthManifest(5, perBatch, t0).Files[7], synthManifest(35, perBatch, t0).Files[0],
		synthManifest(40, perBatch, t0).Files[49]} {
		if err := landing.Put(ctx, f.Key, make([]byte, f.Size)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		if err := landing.Put(ctx, fmt.Sprintf("new/%d.json", i), []byte(`{"msg":"x"}`+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	o, err := (&Options{Stream: "s"}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	bl, idx, err := pending(ctx, landing, tbl, batches, &o, 0)
	if err != nil {
		t.Fatal(err)
	}
	full := newIndex()
	if err := full.load(ctx, tbl, "s", batches, t0); err != nil {
		t.Fatal(err)
	}
	t.Logf("backlog %+v; index entries kept %d of %d", bl, len(idx.files), len(full.files))
	if bl.Files != 4 || bl.Batch != batches || bl.Bytes != 4*12 {
		t.Fatalf("backlog %+v, want the 4 new files", bl)
	}
	if len(full.files) != batches*perBatch || len(idx.files) != 3 || idx.batch != batches {
		t.Fatalf("index kept %d entries (batch %d), want the 3 listed ingested ones of %d", len(idx.files), idx.batch, len(full.files))
	}

	before := tbl.Counts()
	if _, _, err := pending(ctx, landing, tbl, batches, &o, 6); !errors.Is(err, ErrBacklogTooLarge) {
		t.Fatalf("7 objects with a limit of 6: %v", err)
	}
	if reads := tbl.Counts().Sub(before).Sum(storage.CountKey{}, true); reads != 0 {
		t.Fatalf("a listing past the limit made %d requests to the table, want 0", reads)
	}
}
