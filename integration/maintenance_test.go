package integration

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// kill -9 in the middle of `loglake optimize`, `delete` and `vacuum`: the
// table reads either as before or as after the operation, never anything
// else; a rerun finishes the job; VACUUM later leaves exactly the live
// files. Where the kill lands varies from run to run (it is timed, not
// staged); the invariants hold wherever it lands.
func TestMaintenanceKill9(t *testing.T) {
	bin := loglakeBinary(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"optimize", []string{"optimize"}},
		{"delete", []string{"delete", "--where", "id < 1000"}},
		{"vacuum", []string{"vacuum", "--retain", "0s", "--force"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			url := fileURL(dir)
			b, err := storage.Open(ctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			tbl := tabletest.Create(t, b, nil)
			tabletest.AppendBatches(t, tbl, 40, 200)
			if tc.name == "vacuum" {
				if _, err := tbl.Optimize(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			snap, err := tbl.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before := tabletest.IDs(t, snap, "")
			after := before
			if tc.name == "delete" {
				after = before[1000:]
			}
			args := append(append([]string{}, tc.args[0], url), tc.args[1:]...)
			for _, delay := range []time.Duration{30 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
				cmd := exec.Command(bin, args...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(delay)
				_ = cmd.Process.Signal(syscall.SIGKILL)
				_ = cmd.Wait()
				fresh, err := table.Open(ctx, b, nil)
				if err != nil {
					t.Fatalf("after kill at %s: %v", delay, err)
				}
				s, err := fresh.Snapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := tabletest.IDs(t, s, ""); !slices.Equal(got, before) && !slices.Equal(got, after) {
					t.Fatalf("after kill at %s: %d rows, want %d (before) or %d (after)", delay, len(got), len(before), len(after))
				}
			}
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("rerun: %v\n%s", err, out)
			}
			fresh, err := table.Open(ctx, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := fresh.Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := tabletest.IDs(t, s, ""); !slices.Equal(got, after) {
				t.Fatalf("after the rerun: %d rows, want %d", len(got), len(after))
			}
			later := time.Now().Add(8 * 24 * time.Hour)
			if _, err := fresh.Vacuum(ctx, &table.VacuumOptions{Now: func() time.Time { return later }}); err != nil {
				t.Fatal(err)
			}
			var data int
			it := b.List(ctx, "", "")
			for {
				o, err := it.Next(ctx)
				if err != nil {
					break
				}
				if !strings.HasPrefix(o.Key, "_") {
					data++
				}
			}
			if data != len(s.Files()) {
				t.Fatalf("%d data files stored, %d live", data, len(s.Files()))
			}
		})
	}
}
