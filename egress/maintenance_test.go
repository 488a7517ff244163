package egress_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
	reg := prometheus.NewRegistry()
	e := f.egress(t, egress.Options{AdvanceEvery: 1, Registerer: reg})
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
	// A DELETE that removes whole files (v7), rows appended after it (v8)
	// and an OPTIMIZE that compacts the DELETE's rewrites with them (v9):
	// only v8's rows are new.
	whole, err := f.region.Delete(ctx, &table.DeleteOptions{Where: "id >= 60"}) // v7
	if err != nil || whole.Version != 7 || whole.NumAddedFiles != 0 || whole.NumRemovedFiles == 0 {
		t.Fatalf("whole-file delete: %+v %v", whole, err)
	}
	f.appendRows(t, 8)                       // v8
	opt2, err := f.region.Optimize(ctx, nil) // v9
	if err != nil || opt2.Version != 9 || opt2.NumRemovedFiles < 2 {
		t.Fatalf("second optimize: %+v %v", opt2, err)
	}
	sum, err = e.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.SkippedCommits != 1 || sum.FromVersion != 6 || sum.ToVersion != 9 ||
		sum.Rows != int64(len(egresstest.Approved(f.rows[72:]))) {
		t.Fatalf("second summary = %+v", sum)
	}
	// Every approved row once, the deleted ones included: erasing rows in
	// central is its own DELETE (docs/erasure.md, regions.Erase).
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
	// Both skips are counted in the metric the alert rules read.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	skipped := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "loglake_egress_skipped_commits_total" {
			skipped = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if skipped != 2 {
		t.Fatalf("loglake_egress_skipped_commits_total = %v, want 2", skipped)
	}
}
