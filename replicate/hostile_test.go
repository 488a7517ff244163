package replicate_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loglake/loglake/replicate"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// rooted opens file://<parent>/table and returns the bucket and parent, so
// a test can check nothing is written beside the table root.
func rooted(t *testing.T) (storage.Bucket, string) {
	t.Helper()
	parent := t.TempDir()
	b, err := storage.Open(context.Background(), "file://"+filepath.ToSlash(filepath.Join(parent, "table")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, parent
}

func onlyRoot(t *testing.T, parent string) {
	t.Helper()
	es, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name() != "table" {
			t.Errorf("%s was written beside the table root", filepath.Join(parent, e.Name()))
		}
	}
}

// notLog allows new data files (unreferenced leftovers of a refused run)
// but nothing in the log or loglake's state.
func notLog(key string) bool {
	return !strings.HasPrefix(key, "_delta_log/") && !strings.HasPrefix(key, "_loglake/")
}

// The hostile corpus through clone: into an empty destination, and into an
// exact replica of the base when the damage arrives as a new source commit
// (issue 8 defects 1 and 5). A case the corpus marks writable clones to a
// destination with the source's rows; any other is refused with an error,
// with the destination's log untouched (nothing at all written for an
// initial clone of a table loglake cannot write) and nothing written
// outside either table root.
func TestCloneHostileCorpus(t *testing.T) {
	ctx := context.Background()
	for _, hc := range tabletest.HostileCorpus() {
		t.Run(hc.Name, func(t *testing.T) {
			src, srcParent := rooted(t)
			tabletest.HostileBase(t, src)

			replica, replicaParent := rooted(t)
			clone(t, src, replica, nil)
			before := tabletest.Objects(t, replica)

			if err := hc.Break(ctx, src); err != nil {
				t.Fatalf("break: %v", err)
			}
			srcBefore := tabletest.Objects(t, src)

			// Initial clone of the broken table.
			fresh, freshParent := rooted(t)
			_, err := replicate.Clone(ctx, src, fresh, nil)
			check := func(what string, err error, dst storage.Bucket) {
				t.Helper()
				if !hc.Writable {
					if err == nil {
						t.Errorf("%s: clone succeeded, want an error", what)
					}
					return
				}
				if err != nil {
					t.Errorf("%s: %v", what, err)
					return
				}
				ids, err := tabletest.ReadAll(ctx, dst)
				if err != nil || !slices.Equal(ids, hc.IDs) {
					t.Errorf("%s: destination reads %v, %v; want %v", what, ids, err, hc.IDs)
				}
			}
			check("initial clone", err, fresh)
			if !hc.Writable {
				for k := range tabletest.Objects(t, fresh) {
					if k == "_loglake/clone/initial" {
						continue // files were copied: a rerun resumes (see claimDestination)
					}
					if !notLog(k) || (hc.Want == nil && hc.IDs != nil) {
						// A readable table loglake cannot write (defect 5)
						// is refused before anything is written.
						t.Errorf("initial clone refused, but wrote %s", k)
					}
				}
			}

			// Incremental clone into the replica of the base. Damage the
			// replay never reaches (a broken checkpoint or an old commit
			// of the source, when the replica has every version) may leave
			// the replica up to date: a correct result.
			_, err = replicate.Clone(ctx, src, replica, nil)
			if hc.Writable {
				check("incremental clone", err, replica)
			} else {
				after := tabletest.Objects(t, replica)
				tabletest.Undamaged(t, before, after, notLog)
				if ids, rerr := tabletest.ReadAll(ctx, replica); rerr != nil || !slices.Equal(ids, tabletest.HostileBaseIDs) {
					t.Errorf("incremental clone (err %v): replica reads %v, %v; want the base rows", err, ids, rerr)
				}
			}
			// The source is only read.
			tabletest.Undamaged(t, srcBefore, tabletest.Objects(t, src), nil)
			for _, p := range []string{srcParent, replicaParent, freshParent} {
				onlyRoot(t, p)
			}
		})
	}
}

// A destination file its log references is never overwritten: when the
// source re-adds the same path with other bytes, the clone fails naming the
// file and leaves the destination as it was.
func TestCloneNeverOverwritesReferencedFile(t *testing.T) {
	ctx := context.Background()
	src, dst := location(t, "mem"), location(t, "mem")
	tabletest.HostileBase(t, src)
	clone(t, src, dst, nil)
	before := tabletest.Objects(t, dst)

	srcT := open(t, src)
	snap := rt.Latest(t, srcT)
	victim := *snap.Files()[0]
	key := mustKey(t, victim.Path)
	if err := src.Put(ctx, key, []byte("not the file the replica holds")); err != nil {
		t.Fatal(err)
	}
	victim.Size = int64(len("not the file the replica holds"))
	if _, err := srcT.Commit(ctx, snap, &table.Commit{Actions: []table.Action{{Add: &victim}}}); err != nil {
		t.Fatal(err)
	}
	_, err := replicate.Clone(ctx, src, dst, nil)
	if !errors.Is(err, replicate.ErrDestinationFile) || !strings.Contains(err.Error(), key) {
		t.Fatalf("clone = %v, want ErrDestinationFile naming %s", err, key)
	}
	tabletest.Undamaged(t, before, tabletest.Objects(t, dst), nil)
}

// A file left at the destination by an interrupted run (not referenced by
// its log) is replaced, so a rerun after kill -9 still finishes.
func TestCloneReplacesUnreferencedLeftover(t *testing.T) {
	ctx := context.Background()
	src, dst := location(t, "mem"), location(t, "mem")
	tabletest.HostileBase(t, src)
	clone(t, src, dst, nil)
	srcT := open(t, src)
	v := tabletest.Append(t, srcT, 100, 10, nil)
	chs, err := srcT.Changes(ctx, v-1, v, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range chs[0].Actions {
		if a.Add != nil {
			if err := dst.Put(ctx, mustKey(t, a.Add.Path), []byte("half a copy")); err != nil {
				t.Fatal(err)
			}
		}
	}
	res := clone(t, src, dst, nil)
	if res.Metrics.NumCopiedFiles == 0 {
		t.Errorf("no file copied: %+v", res)
	}
	rt.SameRows(t, rt.Latest(t, srcT), rt.Latest(t, open(t, dst)))
}

// A replay stops at the first commit loglake cannot write, after replaying
// the commits before it, and copies nothing for the refused one.
func TestCloneReplayStopsAtUnwritableCommit(t *testing.T) {
	ctx := context.Background()
	src, dst := location(t, "mem"), location(t, "mem")
	tabletest.HostileBase(t, src)
	clone(t, src, dst, nil)
	srcT := open(t, src)
	tabletest.Append(t, srcT, 100, 10, nil) // version 3
	data := `{"commitInfo":{"timestamp":1,"operation":"UPGRADE PROTOCOL"}}` + "\n" +
		`{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["domainMetadata"]}}` + "\n"
	if err := src.PutIfAbsent(ctx, table.CommitKey(4), []byte(data)); err != nil {
		t.Fatal(err)
	}
	// Version 5, by the engine that upgraded: a file that must not be copied.
	live := rt.At(t, srcT, 3).Files()[0]
	if err := src.Copy(ctx, "part-v5.zstd.parquet", src, mustKey(t, live.Path)); err != nil {
		t.Fatal(err)
	}
	v5 := *live
	v5.Path = "part-v5.zstd.parquet"
	line, _ := json.Marshal(table.Action{Add: &v5})
	if err := src.PutIfAbsent(ctx, table.CommitKey(5), []byte(`{"commitInfo":{"timestamp":2}}`+"\n"+string(line)+"\n")); err != nil {
		t.Fatal(err)
	}
	_, err := replicate.Clone(ctx, src, dst, nil)
	var fe *table.FeatureError
	if !errors.As(err, &fe) || fe.Feature != "domainMetadata" {
		t.Fatalf("clone = %v, want a FeatureError naming domainMetadata", err)
	}
	snap := rt.Latest(t, open(t, dst))
	if snap.Version() != 3 {
		t.Errorf("destination at version %d, want 3 (the commit before the refused one)", snap.Version())
	}
	rt.SameRows(t, rt.At(t, srcT, 3), snap)
	chs, err := srcT.Changes(ctx, 4, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range chs[0].Actions {
		if a.Add != nil {
			if _, err := dst.Stat(ctx, mustKey(t, a.Add.Path)); err == nil {
				t.Errorf("%s of version 5 was copied", a.Add.Path)
			}
		}
	}
}
