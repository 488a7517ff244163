package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A _last_checkpoint hint that lags behind a newer checkpoint, read while
// log cleanup deletes the commits after it, can end at a stray commit (one
// a writer slower than the log retention put into a cleaned version) whose
// timestamp is fresh. The snapshot built from it stopped short of the table
// and looked too recent for cleanup to matter, so the next append went into
// a cleaned version, returned success and was lost (BenchmarkFleet's
// missing batches). Opening must see the newer checkpoint and the append
// must land where every reader sees it.
func TestStaleHintStrayCommit(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket(t)
	now := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sch, err := ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	opts := &Options{Now: clock, NoLogCleanup: true}
	tbl, err := Create(ctx, b, CreateOptions{Schema: sch, Properties: map[string]string{
		"delta.checkpointInterval":   "10",
		"delta.logRetentionDuration": "interval 2 hours",
	}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	add := func(name string) Action {
		return Action{Add: &Add{Path: name, PartitionValues: map[string]*string{}, Size: 1, ModificationTime: now.UnixMilli(), DataChange: true}}
	}
	for i := 1; i <= 25; i++ {
		now = now.Add(time.Minute)
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tbl.Commit(ctx, snap, &Commit{Actions: []Action{add(fmt.Sprintf("f%02d.parquet", i))}, AppID: "writer", AppVersion: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Three hours on: cleanup (mid-way, as a reader racing it sees the log)
	// has deleted 15-19 below checkpoint 20; a slow writer's stray commit
	// stands at 15 with a fresh timestamp; the hint still names 10.
	now = now.Add(3 * time.Hour)
	for v := 15; v <= 19; v++ {
		if err := b.Delete(ctx, CommitKey(int64(v))); err != nil {
			t.Fatal(err)
		}
	}
	stray, err := encodeCommit([]Action{{CommitInfo: &CommitInfo{Timestamp: now.UnixMilli(), Operation: "WRITE"}},
		{Txn: &Txn{AppID: "slow", Version: 1}}, add("stray.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.PutIfAbsent(ctx, CommitKey(15), stray); err != nil {
		t.Fatal(err)
	}
	hint, _ := json.Marshal(lastCheckpoint{Version: 10, Size: 12})
	if err := b.Put(ctx, lastCheckpointKey, hint); err != nil {
		t.Fatal(err)
	}

	w, err := Open(ctx, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := w.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != 25 {
		t.Errorf("opened at version %d past a stale hint, want 25", snap.Version())
	}
	v, err := w.Commit(ctx, snap, &Commit{Actions: []Action{add("new.parquet")}, AppID: "egress", AppVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	// What every reader sees: the log listed from the newest checkpoint.
	seg, err := findSegment(ctx, b, -1)
	if err != nil {
		t.Fatal(err)
	}
	if seg.checkpoint[0].version != 20 {
		t.Fatalf("newest checkpoint %d, want 20", seg.checkpoint[0].version)
	}
	truth, err := loadSnapshot(ctx, b, seg, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := truth.AppVersion("egress"); !ok || got != 1 || truth.Version() < v {
		t.Fatalf("append reported committed at version %d; the table (version %d) has egress at %d, %v", v, truth.Version(), got, ok)
	}
}

// readCommitHeadTime finds the commitInfo within a commit's first 64 KiB
// without reading the rest (an OPTIMIZE's commit holds megabytes of
// removes), and says "unknown" when the commitInfo lies past the limit or
// is cut by it; readCommitTime then reads the whole commit.
func TestReadCommitHeadTime(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket(t)
	info := `{"commitInfo":{"timestamp":1767225600000,"operation":"OPTIMIZE"}}`
	remove := `{"remove":{"path":"part-0.parquet","deletionTimestamp":1,"dataChange":false}}`
	removes := strings.Repeat(remove+"\n", 2*commitHead/len(remove))
	for v, tc := range []struct {
		data      string
		head      int64
		whole     bool
		corrupt   bool
		wholeTime int64
	}{
		{info + "\n" + removes, 1767225600000, false, false, 1767225600000},         // first, then 128 KiB more
		{info, 1767225600000, true, false, 1767225600000},                           // the whole commit, no newline
		{removes + info + "\n", 0, false, false, 1767225600000},                     // past the limit
		{strings.Repeat(" ", commitHead-20) + info, 0, false, false, 1767225600000}, // cut by the limit
		{remove + "\n" + info + "\n", 1767225600000, true, false, 1767225600000},    // not first, within the limit
		{`{"commitInfo":{"timestamp":"x"}}` + "\n" + removes, 0, false, true, 0},    // undecodable, in the head
	} {
		if err := b.PutIfAbsent(ctx, CommitKey(int64(v)), []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		got, whole, err := readCommitHeadTime(ctx, b, int64(v))
		if tc.corrupt {
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("case %d: error %v, want ErrCorrupt", v, err)
			}
			if _, err := readCommitTime(ctx, b, int64(v)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("case %d: readCommitTime error %v, want ErrCorrupt", v, err)
			}
			continue
		}
		if err != nil || got != tc.head || whole != tc.whole {
			t.Errorf("case %d: %d, %t, %v; want %d, %t", v, got, whole, err, tc.head, tc.whole)
		}
		if got, err := readCommitTime(ctx, b, int64(v)); err != nil || got != tc.wholeTime {
			t.Errorf("case %d: readCommitTime %d, %v; want %d", v, got, err, tc.wholeTime)
		}
	}
	if _, _, err := readCommitHeadTime(ctx, b, 99); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("missing commit: %v, want ErrVersionNotFound", err)
	}
	if _, err := readCommitTime(ctx, b, 99); !errors.Is(err, ErrVersionNotFound) {
		t.Errorf("missing commit: readCommitTime %v, want ErrVersionNotFound", err)
	}
}
