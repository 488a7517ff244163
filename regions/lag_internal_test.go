package regions

import (
	"context"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// An idle region is caught up: commits that add no data (CREATE, OPTIMIZE)
// are not egress lag, while a replica must still apply them.
func TestStreamLagDataOnly(t *testing.T) {
	ctx := context.Background()
	b, err := storage.Open(ctx, "mem://", nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl := tabletest.Create(t, b, nil)
	now := time.Now().Add(time.Hour)
	check := func(head, done int64, dataOnly bool, wantLag int64, wantAge bool) {
		t.Helper()
		lag, age, err := streamLag(ctx, tbl, head, done, now, dataOnly)
		if err != nil {
			t.Fatal(err)
		}
		if lag != wantLag || (age > 0) != wantAge {
			t.Errorf("head %d done %d dataOnly %v: lag %d age %v, want lag %d (age > 0: %v)", head, done, dataOnly, lag, age, wantLag, wantAge)
		}
	}
	check(0, -1, true, 0, false) // only CREATE: nothing to forward
	check(0, -1, false, 1, true) // a replica still has to apply it
	tabletest.AppendBatches(t, tbl, 2, 10)
	if _, err := tbl.Optimize(ctx, &table.OptimizeOptions{MinFiles: 2}); err != nil {
		t.Fatal(err)
	}
	check(3, -1, true, 3, true) // data at 1 and 2 not forwarded
	check(3, 1, true, 2, true)  // data at 2
	check(3, 2, true, 0, false) // only the OPTIMIZE left
	check(3, 2, false, 1, true)
	// A copy-on-write DELETE adds the rewritten files, and egress skips it
	// (review: status showed it as lag that never went away).
	res, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id < 3"})
	if err != nil || res.Version != 4 {
		t.Fatalf("delete: %+v, %v", res, err)
	}
	check(4, 2, true, 0, false)
	check(4, 2, false, 2, true)
}
