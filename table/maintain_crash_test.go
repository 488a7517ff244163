package table_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// A maintenance run that dies midway (the storage call it was making fails
// for good, as when the process is killed) leaves a correct table; a rerun
// finishes the job, and VACUUM later deletes what the dead run left.
func TestMaintenanceCrashRerun(t *testing.T) {
	cases := []struct {
		name   string
		faults storage.Faults
		run    func(ctx context.Context, tbl *table.Table) error
	}{
		{"optimize dies before its commit", storage.Faults{Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/", Nth: 1, Err: storage.ErrPermanent},
			func(ctx context.Context, tbl *table.Table) error { _, err := tbl.Optimize(ctx, nil); return err }},
		{"optimize dies writing its second file", storage.Faults{Ops: []string{storage.OpUpload}, Nth: 2, Err: storage.ErrPermanent},
			func(ctx context.Context, tbl *table.Table) error { _, err := tbl.Optimize(ctx, nil); return err }},
		{"delete dies before its commit", storage.Faults{Ops: []string{storage.OpPutIfAbsent}, KeyPrefix: "_delta_log/", Nth: 1, Err: storage.ErrPermanent},
			func(ctx context.Context, tbl *table.Table) error {
				_, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id < 35"})
				return err
			}},
		{"vacuum dies midway", storage.Faults{Ops: []string{storage.OpDelete}, Nth: 3, Err: storage.ErrPermanent},
			func(ctx context.Context, tbl *table.Table) error {
				_, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(0), Force: true, Parallel: 1})
				return err
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := openFile(t)
			tbl := tabletest.Create(t, b, nil)
			for i := 0; i < 5; i++ {
				appendN(t, tbl, int64(i*20), 20)
			}
			if strings.HasPrefix(tc.name, "vacuum") {
				if _, err := tbl.Optimize(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			before := latest(t, tbl)
			rows := rowStrings(t, before)

			dying, err := table.Open(ctx, storage.NewFaulty(b, tc.faults), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.run(ctx, dying); err == nil {
				t.Fatal("the injected failure did not stop the run")
			}
			// The table is as before: same version, same rows.
			fresh, err := table.Open(ctx, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s := latest(t, fresh); s.Version() != before.Version() || !slices.Equal(rowStrings(t, s), rows) {
				t.Fatalf("after the dead run: version %d, want %d, or rows changed", s.Version(), before.Version())
			}
			// The rerun finishes the job.
			if err := tc.run(ctx, fresh); err != nil {
				t.Fatalf("rerun: %v", err)
			}
			after := latest(t, fresh)
			if strings.HasPrefix(tc.name, "delete") {
				if ids := tabletest.IDs(t, after, ""); len(ids) != 65 || ids[0] != 35 {
					t.Fatalf("after delete rerun: %d rows from %d", len(ids), ids[0])
				}
			} else if !slices.Equal(rowStrings(t, after), rows) {
				t.Fatal("rows changed by the rerun")
			}
			// Eight days on, VACUUM leaves exactly the live files.
			later := time.Now().Add(8 * 24 * time.Hour)
			if _, err := fresh.Vacuum(ctx, &table.VacuumOptions{Now: func() time.Time { return later }}); err != nil {
				t.Fatal(err)
			}
			var data []string
			for _, k := range keys(t, b) {
				if !strings.HasPrefix(k, "_") {
					data = append(data, k)
				}
			}
			if len(data) != len(after.Files()) {
				t.Fatalf("%d data files stored, %d live", len(data), len(after.Files()))
			}
			if !slices.Equal(rowStrings(t, latest(t, fresh)), rowStrings(t, after)) {
				t.Fatal("vacuum changed the rows")
			}
		})
	}
}
