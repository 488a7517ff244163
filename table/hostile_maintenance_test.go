package table_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// The maintenance commands over every case of the hostile corpus, on
// file:// so that anything written beside the root shows: OPTIMIZE, DELETE
// and VACUUM (zero retention, forced, with the clock far ahead) each give a
// clear error or a correct result. Never a panic, nothing beside the root,
// the log and _loglake/ state never deleted or overwritten, and a table
// they refused reads exactly as before.
func TestHostileCorpusMaintenance(t *testing.T) {
	ctx := context.Background()
	later := func() time.Time { return time.Now().Add(1000 * time.Hour) }
	ops := []struct {
		name   string
		writes bool // commits to the log (a table loglake may not write must refuse)
		run    func(*table.Table) error
		// rows are the ids a readable table holds after a successful run.
		rows func(ids []int64) []int64
	}{
		{"optimize", true, func(tbl *table.Table) error {
			_, err := tbl.Optimize(ctx, &table.OptimizeOptions{MinFiles: 1, SortBy: []string{"id"}})
			return err
		}, func(ids []int64) []int64 { return ids }},
		{"delete", true, func(tbl *table.Table) error {
			_, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id < 5"})
			return err
		}, func(ids []int64) []int64 {
			return slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return id < 5 })
		}},
		{"vacuum", false, func(tbl *table.Table) error {
			_, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(0), Force: true, Grace: time.Nanosecond, Now: later})
			return err
		}, func(ids []int64) []int64 { return ids }},
	}
	for _, hc := range tabletest.HostileCorpus() {
		for _, op := range ops {
			t.Run(hc.Name+"/"+op.name, func(t *testing.T) {
				parent := t.TempDir()
				b, err := storage.Open(ctx, "file://"+filepath.Join(parent, "table"), nil)
				if err != nil {
					t.Fatal(err)
				}
				tabletest.HostileBase(t, b)
				if err := hc.Break(ctx, b); err != nil {
					t.Fatalf("break: %v", err)
				}
				before := tabletest.Objects(t, b)
				opErr := op.run(table.Handle(b, nil))
				if opErr != nil && strings.TrimSpace(opErr.Error()) == "" {
					t.Errorf("empty error text")
				}
				if es, _ := os.ReadDir(parent); len(es) != 1 {
					t.Errorf("%d entries beside the table root", len(es))
				}
				after := tabletest.Objects(t, b)
				for k, v := range before {
					// _last_checkpoint is the one object the log rewrites.
					if k == "_delta_log/_last_checkpoint" ||
						!strings.HasPrefix(k, "_delta_log/") && !strings.HasPrefix(k, "_loglake/") {
						continue
					}
					if w, ok := after[k]; !ok || w != v {
						t.Errorf("%s deleted or overwritten", k)
					}
				}
				ids, readErr := tabletest.ReadAll(ctx, b)
				switch {
				case hc.Want != nil:
					// Unreadable: a command that commits refuses; VACUUM
					// may run on a log it can read (the damage is in a data
					// file) but deletes nothing. The table is left as it was.
					if opErr == nil && op.writes {
						t.Errorf("%s succeeded on a table that reads as %v", op.name, hc.Want)
					}
					tabletest.Undamaged(t, before, after, func(k string) bool {
						return opErr == nil && strings.HasPrefix(k, "_loglake/maintenance/")
					})
					if !errors.Is(readErr, hc.Want) {
						t.Errorf("after %s: read %v, want %v", op.name, readErr, hc.Want)
					}
				case opErr != nil:
					if !hc.Writable && op.writes {
						break // refused, as a table loglake may not write must be
					}
					if readErr != nil || !slices.Equal(ids, hc.IDs) {
						t.Errorf("%s refused (%v) and the table changed: %v, %d rows", op.name, opErr, readErr, len(ids))
					}
				default:
					if op.writes && !hc.Writable {
						t.Errorf("%s wrote a table loglake may not write", op.name)
					}
					if want := op.rows(hc.IDs); readErr != nil || !slices.Equal(ids, want) {
						t.Errorf("after %s: %v, ids %v, want %v", op.name, readErr, ids, want)
					}
				}
			})
		}
	}
}
