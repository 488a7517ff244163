package egress_test

import (
	"context"
	"testing"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/table"
)

// Commits written by the real OPTIMIZE and DELETE: egress forwards nothing
// twice (OPTIMIZE is dataChange=false), skips and counts the DELETE like
// Delta's skipChangeCommits, and keeps forwarding new rows after both.
func TestSkipRealMaintenanceCommits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 3 {
		f.appendRows(t, 20) // v1-v3
	}
	e := f.egress(t, egress.Options{AdvanceEvery: 1})
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	opt, err := f.region.Optimize(ctx, nil) // v4
	if err != nil || opt.Version != 4 || opt.NumRemovedFiles < 3 {
		t.Fatalf("optimize: %+v %v", opt, err)
	}
	del, err := f.region.Delete(ctx, &table.DeleteOptions{Where: "id < 10"}) // v5
	if err != nil || del.Version != 5 || del.NumDeletedRows != 10 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	f.appendRows(t, 12) // v6
	sum, err := e.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.SkippedCommits != 1 || sum.FromVersion != 3 || sum.ToVersion != 6 ||
		sum.Rows != int64(len(egresstest.Approved(f.rows[60:]))) {
		t.Fatalf("summary = %+v", sum)
	}
	// Every approved row once, the deleted ones included: erasing rows in
	// central is its own DELETE (docs/maintenance.md).
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
}
