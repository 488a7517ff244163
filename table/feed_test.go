package table_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// The feed returns the commits before one it cannot read, then refuses that
// one by name, every time, without moving past it; the state it tracks is
// the protocol and metadata after each commit.
func TestFeedStopsAtUnreadableCommit(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, feature string
		opts          *table.FeedOptions
	}{
		{"loaded", "columnMapping", nil},
		{"unloaded", "columnMapping", &table.FeedOptions{Unloaded: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openMem(t)
			tbl := tabletest.HostileBase(t, b)
			rec := tabletest.Rows(100, 5)
			defer rec.Release()
			if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
				t.Fatal(err)
			}
			var breaker tabletest.Hostile
			for _, hc := range tabletest.HostileCorpus() {
				if hc.Name == "column-mapping-switched-on" {
					breaker = hc
				}
			}
			// The corpus writes commit 3; this table already has it, so
			// move the break to version 4 by writing it elsewhere first.
			scratch := openMem(t)
			tabletest.HostileBase(t, scratch)
			if err := breaker.Break(ctx, scratch); err != nil {
				t.Fatal(err)
			}
			data, err := scratch.Get(ctx, table.CommitKey(3))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.PutIfAbsent(ctx, table.CommitKey(4), data); err != nil {
				t.Fatal(err)
			}

			f, err := table.Handle(b, nil).Feed(ctx, 1, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			chs, err := f.Next(ctx, -1, 0)
			if err != nil || len(chs) != 2 || chs[0].Version != 2 || chs[1].Version != 3 {
				t.Fatalf("first Next: %d changes, %v; want versions 2 and 3", len(chs), err)
			}
			if tc.opts != nil && chs[1].Metadata != nil {
				t.Errorf("unloaded feed knows metadata it never read")
			}
			if tc.opts == nil && (chs[1].Metadata == nil || chs[1].Metadata.Configuration["delta.checkpointInterval"] != "2") {
				t.Errorf("change 3 carries metadata %+v", chs[1].Metadata)
			}
			for range 2 {
				chs, err = f.Next(ctx, -1, 0)
				var fe *table.FeatureError
				if len(chs) != 0 || !errors.As(err, &fe) || fe.Feature != tc.feature || !strings.Contains(err.Error(), "version 4") {
					t.Fatalf("Next at the switch: %d changes, %v; want a FeatureError naming %s at version 4", len(chs), err, tc.feature)
				}
			}
			if f.Version() != 3 {
				t.Errorf("feed at version %d, want 3", f.Version())
			}
			// Starting past the switch is refused at once when the state is loaded.
			if tc.opts == nil {
				if _, err := table.Handle(b, nil).Feed(ctx, 4, nil); !errors.Is(err, table.ErrUnsupportedFeature) {
					t.Errorf("Feed after the switch: %v, want ErrUnsupportedFeature", err)
				}
			}
		})
	}
}
