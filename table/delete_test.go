package table_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// without returns ids minus drop (both sorted).
func without(ids, drop []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if _, found := slices.BinarySearch(drop, id); !found {
			out = append(out, id)
		}
	}
	return out
}

func TestDelete(t *testing.T) {
	for name, open := range map[string]func(*testing.T) storage.Bucket{"mem": openMem, "file": openFile} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tbl := tabletest.Create(t, open(t), nil)
			for i := 0; i < 6; i++ {
				appendN(t, tbl, int64(i*30), 30)
			}
			cases := []struct {
				where                   string
				wholeOnly, rewritesOnly bool
			}{
				{where: "date = '2026-11-22'", wholeOnly: true},           // partition values prove it
				{where: "id < 40 AND level = 'WARN'", rewritesOnly: true}, // some rows of some files
				{where: "msg = 'message 50' OR msg LIKE 'message 16%'"},   // NULL msgs stay
				{where: "level = 'ERROR' AND date = '2026-11-24'", wholeOnly: true},
			}
			for _, tc := range cases {
				before := latest(t, tbl)
				ids := tabletest.IDs(t, before, "")
				match := tabletest.IDs(t, before, tc.where)
				dry, err := tbl.Delete(ctx, &table.DeleteOptions{Where: tc.where, DryRun: true})
				if err != nil || dry.NumDeletedRows != int64(len(match)) || dry.Version != -1 {
					t.Fatalf("%s: dry run %+v %v, want %d rows", tc.where, dry, err, len(match))
				}
				res, err := tbl.Delete(ctx, &table.DeleteOptions{Where: tc.where})
				if err != nil {
					t.Fatalf("%s: %v", tc.where, err)
				}
				after := latest(t, tbl)
				if got := tabletest.IDs(t, after, ""); !slices.Equal(got, without(ids, match)) {
					t.Fatalf("%s: %d rows left, want %d", tc.where, len(got), len(ids)-len(match))
				}
				if res.NumDeletedRows != int64(len(match)) || res.Attempts != 1 {
					t.Fatalf("%s: result %+v, want %d deleted", tc.where, res, len(match))
				}
				if tc.wholeOnly && (res.NumAddedFiles != 0 || res.NumCopiedRows != 0 || res.NumRemovedFiles == 0) {
					t.Fatalf("%s: want whole-file removes only: %+v", tc.where, res)
				}
				if tc.rewritesOnly && (res.NumAddedFiles == 0 || res.NumCopiedRows == 0) {
					t.Fatalf("%s: want a copy-on-write: %+v", tc.where, res)
				}
				if n, ok := after.NumRecords(); !ok || n != int64(len(ids)-len(match)) {
					t.Fatalf("%s: stats say %d rows", tc.where, n)
				}
				c := lastCommit(t, tbl)
				for _, a := range c.Actions {
					if ci := a.CommitInfo; ci != nil && (ci.Operation != "DELETE" || ci.OperationMetrics["numDeletedRows"] == nil || ci.OperationMetrics["numCopiedRows"] == nil) {
						t.Fatalf("commitInfo %+v", ci)
					}
					if a.Remove != nil && !a.Remove.DataChange || a.Add != nil && !a.Add.DataChange {
						t.Fatal("DELETE actions must be dataChange=true")
					}
				}
			}
			// Nothing matches: no commit.
			v := latest(t, tbl).Version()
			res, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id > 100000"})
			if err != nil || res.Version != -1 || latest(t, tbl).Version() != v {
				t.Fatalf("empty delete: %+v %v", res, err)
			}
		})
	}
}

func TestDeleteRefused(t *testing.T) {
	ctx := context.Background()
	tbl := tabletest.Create(t, openMem(t), map[string]string{"delta.appendOnly": "true"})
	appendN(t, tbl, 0, 10)
	_, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id = 1"})
	if !errors.Is(err, table.ErrAppendOnly) || !strings.Contains(err.Error(), "delta.appendOnly") {
		t.Fatalf("delete on append-only table: %v", err)
	}
	// OPTIMIZE only rearranges (dataChange=false): allowed on append-only tables.
	appendN(t, tbl, 10, 10)
	if res, err := tbl.Optimize(ctx, nil); err != nil || res.Version < 0 {
		t.Fatalf("optimize on append-only table: %+v %v", res, err)
	}
	if _, err := tbl.Delete(ctx, &table.DeleteOptions{}); err == nil {
		t.Fatal("delete without predicate accepted")
	}
	if _, err := tabletest.Create(t, openMem(t), nil).Delete(ctx, &table.DeleteOptions{Where: "nope = 1"}); err == nil {
		t.Fatal("unknown column accepted")
	}
}

// Rows appended while a DELETE runs survive it, even when they match: the
// DELETE commits without a conflict (WriteSerializable).
func TestDeleteDuringAppend(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, nil)
	appendN(t, tbl, 0, 30)
	g := newGate(b)
	slow, err := table.Open(ctx, g, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var res *table.DeleteResult
	go func() {
		var err error
		res, err = slow.Delete(ctx, &table.DeleteOptions{Where: "level = 'INFO'"})
		done <- err
	}()
	<-g.arrived
	appendN(t, tbl, 100, 30) // 10 of these are INFO
	close(g.release)
	if err := <-done; err != nil || res.Attempts != 1 || res.NumDeletedRows != 10 {
		t.Fatalf("delete: %+v %v", res, err)
	}
	info := tabletest.IDs(t, latest(t, tbl), "level = 'INFO'")
	if len(info) != 10 || info[0] < 100 {
		t.Fatalf("INFO rows after delete: %v, want the 10 appended concurrently", info)
	}
}

// OPTIMIZE and DELETE over the same files: whichever commits second re-plans
// on the winner's snapshot; no row is resurrected or duplicated.
func TestOptimizeDeleteRace(t *testing.T) {
	for _, deleteFirst := range []bool{true, false} {
		name := "optimize wins"
		if deleteFirst {
			name = "delete wins"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := openMem(t)
			tbl := tabletest.Create(t, b, nil)
			for i := 0; i < 5; i++ {
				appendN(t, tbl, int64(i*30), 30)
			}
			ids := tabletest.IDs(t, latest(t, tbl), "")
			const where = "id < 45 OR level = 'WARN'"
			match := tabletest.IDs(t, latest(t, tbl), where)
			g := newGate(b)
			slow, err := table.Open(ctx, g, nil)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan int, 1)
			fail := make(chan error, 1)
			go func() {
				if deleteFirst {
					r, err := slow.Optimize(ctx, nil)
					if err != nil {
						fail <- err
						return
					}
					done <- r.Attempts
				} else {
					r, err := slow.Delete(ctx, &table.DeleteOptions{Where: where})
					if err != nil {
						fail <- err
						return
					}
					done <- r.Attempts
				}
			}()
			<-g.arrived
			if deleteFirst {
				_, err = tbl.Delete(ctx, &table.DeleteOptions{Where: where})
			} else {
				_, err = tbl.Optimize(ctx, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			close(g.release)
			select {
			case err := <-fail:
				t.Fatal(err)
			case attempts := <-done:
				if attempts != 2 {
					t.Fatalf("loser planned %d times, want 2 (conflict, then re-plan)", attempts)
				}
			}
			if got := tabletest.IDs(t, latest(t, tbl), ""); !slices.Equal(got, without(ids, match)) {
				t.Fatalf("%d rows, want %d", len(got), len(ids)-len(match))
			}
		})
	}
}

// racingBucket runs race once, the first time a data file is opened for
// reading: a concurrent writer acting between a snapshot and its read.
type racingBucket struct {
	storage.Bucket
	once sync.Once
	race func()
}

func (b *racingBucket) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasSuffix(key, ".parquet") && !strings.HasPrefix(key, "_delta_log/") {
		b.once.Do(b.race)
	}
	return b.Bucket.Get(ctx, key)
}

// A file DELETE is counting rows in can be removed by a concurrent DELETE
// and vacuumed before it is read: DELETE re-plans on the newer snapshot
// (it failed with "not found").
func TestDeleteReplansWhenACountedFileVanishes(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, nil)
	for i := range 4 {
		appendN(t, tbl, int64(i*10), 10)
	}
	other, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb := &racingBucket{Bucket: b, race: func() {
		if _, err := other.Delete(ctx, &table.DeleteOptions{Where: "id < 20 OR id >= 20"}); err != nil {
			t.Error(err)
		}
		zero := time.Duration(0)
		if _, err := other.Vacuum(ctx, &table.VacuumOptions{Retain: &zero, Force: true, Grace: time.Nanosecond}); err != nil {
			t.Error(err)
		}
	}}
	racer, err := table.Open(ctx, rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := racer.Delete(ctx, &table.DeleteOptions{Where: "msg = 'message 8'"})
	if err != nil {
		t.Fatalf("DELETE racing a DELETE and VACUUM of a file it counts: %v", err)
	}
	if res.Attempts < 2 {
		t.Fatalf("DELETE did not re-plan: %+v", res)
	}
	ids := tabletest.IDs(t, latest(t, tbl), "")
	if len(ids) != 0 || res.NumDeletedRows != 0 {
		t.Fatalf("after the concurrent DELETE of every row: %d rows left, %d deleted again", len(ids), res.NumDeletedRows)
	}
}
