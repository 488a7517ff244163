package replicate

import (
	"context"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Which CLONE commits prove the destination held the source's files alone
// from them on: those that say so, and older initial clones (written at
// their source version). An older sync into a fork kept the fork's own
// files and proves nothing; nor does another source's CLONE replayed here.
func TestSetsWholeState(t *testing.T) {
	src, err := storage.Open(context.Background(), "mem://whole-src", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &cloner{src: src}
	change := func(version int64, op string, params map[string]any) table.Change {
		return table.Change{Version: version, Actions: []table.Action{{CommitInfo: &table.CommitInfo{Operation: op, OperationParameters: params}}}}
	}
	for _, tc := range []struct {
		name string
		ch   table.Change
		want bool
	}{
		{"marked", change(9, "CLONE", map[string]any{"source": src.URL(), "sourceVersion": float64(4), paramWholeState: true}), true},
		{"older initial clone", change(4, "CLONE", map[string]any{"source": src.URL(), "sourceVersion": float64(4)}), true},
		{"older sync", change(9, "CLONE", map[string]any{"source": src.URL(), "sourceVersion": float64(4)}), false},
		{"another source's clone", change(4, "CLONE", map[string]any{"source": "mem://other", "sourceVersion": float64(4), paramWholeState: true}), false},
		{"not a clone", change(4, "WRITE", map[string]any{"source": src.URL()}), false},
	} {
		if got := c.setsWholeState(tc.ch); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
