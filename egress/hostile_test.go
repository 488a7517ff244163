package egress_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// errorIDs are the ids of tabletest.Rows with level ERROR, the rows the
// corpus egress forwards.
func errorIDs(ids []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if id%3 == 2 {
			out = append(out, id)
		}
	}
	return out
}

// The hostile corpus through egress, from scratch and as a running egress
// that meets the damage as a new source commit: a clear error, or exactly
// the approved rows a correct reader gives; the central table's existing
// objects never change and nothing is written beside the source root.
func TestEgressHostileCorpus(t *testing.T) {
	ctx := context.Background()
	for _, hc := range tabletest.HostileCorpus() {
		t.Run(hc.Name, func(t *testing.T) {
			if hc.Refed {
				t.Skip("a re-added live path is new data to a change feed (as in Delta's streaming source); egress forwards its rows again")
			}
			parent := t.TempDir()
			src, err := storage.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(parent, "table")), nil)
			if err != nil {
				t.Fatal(err)
			}
			tabletest.HostileBase(t, src)
			opts := egress.Options{Region: "r", Predicate: "level = 'ERROR'"}

			// A running egress that forwarded the base.
			central := memBucket(t, "central")
			running, err := egress.New(ctx, src, central, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := running.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			before := tabletest.Objects(t, central)
			if err := hc.Break(ctx, src); err != nil {
				t.Fatalf("break: %v", err)
			}
			// check: the error the case demands, else exactly want; a case
			// with damage may also succeed when the damage is never read
			// (pruned, or past what is forwarded) with nothing of it
			// forwarded.
			check := func(what string, err error, central storage.Bucket, mustFail bool) {
				t.Helper()
				var got []int64
				if tbl, oerr := table.Open(ctx, central, nil); oerr == nil {
					snap, _ := tbl.Snapshot(ctx)
					c, rerr := egresstest.ReadCentral(ctx, snap)
					if rerr != nil {
						t.Fatal(rerr)
					}
					got = c["r"]
				}
				want := errorIDs(hc.IDs)
				if hc.Want != nil {
					want = errorIDs(tabletest.HostileBaseIDs)
				}
				switch {
				case mustFail && err == nil:
					t.Errorf("%s: no error, central has %v", what, got)
				case err != nil && hc.Want == nil && !mustFail:
					t.Errorf("%s: %v, want rows %v", what, err, want)
				case err != nil && strings.TrimSpace(err.Error()) == "":
					t.Errorf("%s: empty error", what)
				case err == nil && !slices.Equal(got, want):
					t.Errorf("%s: central has %v, want %v", what, got, want)
				}
			}
			_, err = running.RunOnce(ctx)
			check("running egress", err, central, hc.FeedErr != nil)
			tabletest.Undamaged(t, before, tabletest.Objects(t, central), func(k string) bool { return err == nil })

			// A fresh egress over the broken table.
			fresh := memBucket(t, "fresh")
			e, err := egress.New(ctx, src, fresh, opts)
			if err == nil {
				_, err = e.RunOnce(ctx)
			}
			check("fresh egress", err, fresh, false)
			if es, _ := os.ReadDir(parent); len(es) != 1 {
				t.Errorf("%d entries beside the source root", len(es))
			}
		})
	}
}
