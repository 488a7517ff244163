package table_test

import (
	"context"
	"testing"
	"time"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// Writers with skewed clocks still leave commit timestamps that grow with
// the version — also a writer that lost a race to one with a later clock —
// so time travel by timestamp never returns a snapshot holding a commit
// stamped after the time asked for (review: AS OF T0+2.5s returned a
// version that contained a commit stamped T0+5s).
func TestCommitTimestampsGrowWithVersions(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func(d time.Duration) *table.Options {
		return &table.Options{Now: func() time.Time { return t0.Add(d) }}
	}
	if _, err := table.Create(ctx, b, table.CreateOptions{Schema: tabletest.Schema(), PartitionColumns: []string{"date"}}, clock(0)); err != nil {
		t.Fatal(err)
	}
	open := func(d time.Duration) *table.Table {
		t.Helper()
		tbl, err := table.Open(ctx, b, clock(d))
		if err != nil {
			t.Fatal(err)
		}
		return tbl
	}
	ahead, behind := open(5*time.Second), open(2*time.Second)
	appendN(t, ahead, 0, 5) // version 1 at t0+5s
	// version 2 from the slow clock, through a snapshot that already saw 1
	appendN(t, behind, 10, 5)
	// Versions 4 and 6 from the slow clock again, each through a stale
	// snapshot, after a fast writer's commit (3, 5): one catches up before
	// its first attempt, the other loses the race for the version.
	for i, catchUp := range []bool{true, false} {
		stale := latest(t, behind)
		appendN(t, open(9*time.Second+time.Duration(i)*time.Second), int64(20+20*i), 5)
		rec := tabletest.Rows(int64(30+20*i), 5)
		adds := tabletest.WriteFiles(t, behind, stale, nil, rec)
		rec.Release()
		if v, err := behind.Commit(ctx, stale, &table.Commit{Actions: adds, Operation: "WRITE", CatchUp: catchUp}); err != nil || v != int64(4+2*i) {
			t.Fatalf("commit after a fast writer's (catch up %v): version %d, %v", catchUp, v, err)
		}
	}
	h, err := open(0).History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(h); i++ { // newest first
		if !h[i].Timestamp.After(h[i+1].Timestamp) {
			t.Errorf("version %d at %s, not after version %d at %s", h[i].Version, h[i].Timestamp.Format(time.RFC3339Nano), h[i+1].Version, h[i+1].Timestamp.Format(time.RFC3339Nano))
		}
	}
	// Time travel between the fast writer's commit and the slow one's
	// clock reading finds the version before the fast commit.
	v, err := open(0).VersionAsOf(ctx, t0.Add(2500*time.Millisecond))
	if err != nil || v != 0 {
		t.Fatalf("version as of t0+2.5s: %d, %v; want 0 (version 1 is stamped t0+5s)", v, err)
	}
}
