package table_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

var memSeq atomic.Int64

func openMem(t *testing.T) storage.Bucket {
	b, err := storage.Open(context.Background(), fmt.Sprintf("mem://table-test-%d", memSeq.Add(1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openFile(t *testing.T) storage.Bucket {
	b, err := storage.Open(context.Background(), "file://"+t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceMem(t *testing.T)  { tabletest.Run(t, openMem, nil) }
func TestConformanceFile(t *testing.T) { tabletest.Run(t, openFile, nil) }

// A commit whose response is lost (the write landed, the caller saw a
// transient error) must be recognised, not written twice or reported failed.
func TestCommitLostResponse(t *testing.T) {
	ctx := context.Background()
	inner := openMem(t)
	tabletest.Create(t, inner, nil)
	faulty := storage.NewFaulty(inner, storage.Faults{
		Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/", Nth: 1, After: true})
	tbl, err := table.Open(ctx, faulty, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := tabletest.Rows(0, 10)
	defer rec.Release()
	v, err := tbl.Append(ctx, []arrow.Record{rec}, nil)
	if err != nil || v != 1 {
		t.Fatalf("append with lost response: v=%d err=%v", v, err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != 1 || len(tabletest.IDs(t, snap, "")) != 10 {
		t.Fatalf("version %d", snap.Version())
	}
}

// Tables needing features loglake does not implement are refused by name.
func TestRefuseUnsupportedFeatures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, protocol, config, feature string
	}{
		{"deletion vectors", `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}}`, `{}`, "deletionVectors"},
		{"column mapping", `{"protocol":{"minReaderVersion":2,"minWriterVersion":5}}`, `{"delta.columnMapping.mode":"name"}`, "columnMapping"},
		{"future reader", `{"protocol":{"minReaderVersion":4,"minWriterVersion":7}}`, `{}`, "readerVersion 4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := openMem(t)
			commit := tc.protocol + "\n" + fmt.Sprintf(`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":%q,"partitionColumns":[],"configuration":%s}}`,
				tabletest.Schema().String(), tc.config) + "\n"
			if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte(commit)); err != nil {
				t.Fatal(err)
			}
			_, err := table.Open(ctx, b, nil)
			if !errors.Is(err, table.ErrUnsupportedFeature) || !strings.Contains(err.Error(), tc.feature) {
				t.Fatalf("open: %v, want ErrUnsupportedFeature naming %q", err, tc.feature)
			}
		})
	}
}

func TestCorruptCommit(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tabletest.Create(t, b, nil)
	if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("{\"add\":{\"path\":")); err != nil {
		t.Fatal(err)
	}
	if _, err := table.Open(ctx, b, nil); !errors.Is(err, table.ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := table.Open(context.Background(), openMem(t), nil); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("open empty location: %v, want ErrNoTable", err)
	}
}

// A Handle tails and replays the log without loading a snapshot.
func TestHandleExactVersionReplay(t *testing.T) {
	ctx := context.Background()
	src := openMem(t)
	tbl := tabletest.Create(t, src, map[string]string{"delta.checkpointInterval": "3"})
	for i := 0; i < 4; i++ {
		rec := tabletest.Rows(int64(i*10), 10)
		if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	h := table.Handle(src, nil)
	latest, err := h.LatestVersion(ctx)
	if err != nil || latest != 4 {
		t.Fatalf("LatestVersion = %d, %v; want 4", latest, err)
	}
	changes, err := h.Changes(ctx, 2, -1, 0)
	if err != nil || len(changes) != 2 {
		t.Fatalf("Changes after 2: %d, %v", len(changes), err)
	}
	// Replay version 4 again at exactly version 4: the slot is taken.
	var actions []table.Action
	for _, a := range changes[1].Actions {
		if a.CommitInfo == nil {
			actions = append(actions, a)
		}
	}
	_, err = h.Commit(ctx, nil, &table.Commit{Actions: actions, ExactVersion: true, Version: 4})
	if !errors.Is(err, table.ErrConflict) {
		t.Fatalf("replay onto a taken version: %v, want ErrConflict", err)
	}
	v, err := h.Commit(ctx, nil, &table.Commit{Actions: nil, ExactVersion: true, Version: 5, AppID: "clone:x", AppVersion: 5})
	if err != nil || v != 5 {
		t.Fatalf("exact commit at 5: %d, %v", v, err)
	}
	if _, err := h.Commit(ctx, nil, &table.Commit{}); err == nil {
		t.Fatal("Commit without snapshot or ExactVersion succeeded")
	}
	if _, err := table.Handle(openMem(t), nil).LatestVersion(ctx); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("LatestVersion of empty location: %v", err)
	}
}

// Two instances of one stream racing with overlapping batches: the one that
// loses learns it must re-plan, instead of landing duplicate data.
func TestCommitSameAppConflict(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, nil)
	snap0, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(ctx, snap0, &table.Commit{AppID: "egress:eu", AppVersion: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = tbl.Commit(ctx, snap0, &table.Commit{AppID: "egress:eu", AppVersion: 2})
	if !errors.Is(err, table.ErrConflict) {
		t.Fatalf("stale instance committing version 2 over version 1: %v, want ErrConflict", err)
	}
	_, err = tbl.Commit(ctx, snap0, &table.Commit{AppID: "egress:eu", AppVersion: 1})
	if !errors.Is(err, table.ErrAlreadyCommitted) {
		t.Fatalf("stale instance replaying version 1: %v, want ErrAlreadyCommitted", err)
	}
}

// A stale _last_checkpoint whose successors were cleaned up must not yield
// an old version: opening falls back to listing the log.
func TestOpenStaleHintAfterCleanup(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{"delta.checkpointInterval": "5"})
	for i := 0; i < 12; i++ {
		rec := tabletest.Rows(int64(i*10), 10)
		if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := b.Put(ctx, "_delta_log/_last_checkpoint", []byte(`{"version":5,"size":10}`)); err != nil {
		t.Fatal(err)
	}
	for v := int64(0); v < 10; v++ {
		if err := b.Delete(ctx, table.CommitKey(v)); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := fresh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := tabletest.IDs(t, snap, ""); snap.Version() != 12 || len(got) != 120 {
		t.Fatalf("stale hint: version %d with %d rows, want 12 with 120", snap.Version(), len(got))
	}
}

// A _last_checkpoint hint naming an absurd number of parts (corrupt, or
// written by a hostile tool) must not be trusted: opening from it would
// build one key per part before reading the first. The table opens by
// listing instead.
func TestOpenHintWithHugePartCount(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{"delta.checkpointInterval": "2"})
	for i := 0; i < 3; i++ {
		rec := tabletest.Rows(int64(i*10), 10)
		if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := b.Put(ctx, "_delta_log/_last_checkpoint", []byte(`{"version":2,"size":10,"parts":4000000000000}`)); err != nil {
		t.Fatal(err)
	}
	fresh, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := fresh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := tabletest.IDs(t, snap, ""); snap.Version() != 3 || len(got) != 30 {
		t.Fatalf("version %d with %d rows, want 3 with 30", snap.Version(), len(got))
	}
}
