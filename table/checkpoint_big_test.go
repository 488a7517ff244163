package table_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// A commit of many actions is checkpointed at its own version when the
// checkpoint is not much larger than the commit (an OPTIMIZE of many small
// files), so readers stop decoding its JSON; a large append to a much
// larger table is not.
func TestCheckpointAfterBigCommit(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	defer b.Close()
	sch, err := table.ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Create(ctx, b, table.CreateOptions{Schema: sch}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	adds := func(n int) []table.Action {
		out := make([]table.Action, n)
		for i := range out {
			seq++
			out[i] = table.Action{Add: &table.Add{Path: fmt.Sprintf("part-%06d.parquet", seq), Size: 10, DataChange: true,
				Stats: `{"numRecords":1}`}}
		}
		return out
	}
	commit := func(actions []table.Action) int64 {
		t.Helper()
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tbl.Commit(ctx, snap, &table.Commit{Actions: actions, Operation: "WRITE"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	hasCheckpoint := func(v int64) bool {
		_, err := b.Stat(ctx, fmt.Sprintf("_delta_log/%020d.checkpoint.parquet", v))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	steps := []struct {
		name    string
		actions func() []table.Action
		want    bool
	}{
		{"small append", func() []table.Action { return adds(20) }, false},
		{"1,000 files into 20", func() []table.Action { return adds(999) }, true},
		{"2,000 more", func() []table.Action { return adds(2000) }, true},
		{"1,000 more into 3,019 (checkpoint 4× the commit)", func() []table.Action { return adds(999) }, false},
		{"OPTIMIZE-like: remove 3,000, add 1", func() []table.Action {
			snap, err := tbl.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var out []table.Action
			for _, f := range snap.Files()[:3000] {
				ts := time.Now().UnixMilli()
				out = append(out, table.Action{Remove: &table.Remove{Path: f.Path, DeletionTimestamp: &ts, DataChange: false, Size: &f.Size}})
			}
			return append(out, adds(1)...)
		}, true},
	}
	for _, s := range steps {
		v := commit(s.actions())
		if got := hasCheckpoint(v); got != s.want {
			t.Errorf("%s (version %d): checkpoint written %v, want %v", s.name, v, got, s.want)
		}
	}
	// A reader opening the table gets the same state from the newest
	// checkpoint and the commits after it.
	fresh, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := fresh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(snap.Files()), 20+999+2000+999-3000+1; got != want {
		t.Errorf("fresh snapshot has %d files, want %d", got, want)
	}
	if got := len(tombstones(t, snap)); got != 3000 {
		t.Errorf("fresh snapshot has %d tombstones, want 3000", got)
	}
	// Its version's state comes from the checkpoint alone; the commit is
	// read for its timestamp only, which must be the commit's own.
	mine, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != mine.Version() || !snap.Timestamp().Equal(mine.Timestamp()) {
		t.Errorf("fresh snapshot: version %d at %s, the writer's: version %d at %s",
			snap.Version(), snap.Timestamp(), mine.Version(), mine.Timestamp())
	}
}
