package replicate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/loglake/loglake/replicate"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// corpusDir holds the Delta tables written by Spark and delta-rs that the
// project reads (../shared/testdata/delta).
const corpusDir = "../../shared/testdata/delta"

// TestCloneCorpus: every corpus table loglake can write clones, to a copy
// with the source's version and live files; one it cannot is refused by
// name before anything is written. (delta-rs writes "deletionVector":null
// on adds, which the clone's checkpoint once took for a deletion vector.)
func TestCloneCorpus(t *testing.T) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Skipf("corpus absent: %v", err)
	}
	ctx := context.Background()
	cloned := 0
	for _, e := range entries {
		dir, _ := filepath.Abs(filepath.Join(corpusDir, e.Name()))
		if _, err := os.Stat(filepath.Join(dir, "_delta_log")); err != nil {
			continue
		}
		t.Run(e.Name(), func(t *testing.T) {
			src, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			st, err := table.Open(ctx, src, nil)
			if err != nil {
				t.Skipf("not readable: %v", err)
			}
			snap, err := st.Snapshot(ctx)
			if err != nil {
				t.Skipf("not readable: %v", err)
			}
			dst := location(t, "mem")
			_, err = replicate.Clone(ctx, src, dst, nil)
			var fe *table.FeatureError
			if errors.As(err, &fe) {
				if table.CheckWrite(snap.Protocol(), snap.Metadata()) == nil {
					t.Fatalf("refused although the table is writable: %v", err)
				}
				return
			}
			if errors.Is(err, replicate.ErrMissingFile) {
				t.Skipf("a log-only corpus table (its data files are not in the corpus): %v", err)
			}
			if err != nil {
				t.Fatalf("clone: %v", err)
			}
			got, err := open(t, dst).Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version() != snap.Version() || !slices.Equal(paths(got), paths(snap)) {
				t.Fatalf("clone at version %d with %v, source at %d with %v", got.Version(), paths(got), snap.Version(), paths(snap))
			}
			cloned++
		})
	}
	if cloned == 0 {
		t.Fatal("no corpus table cloned")
	}
}

func paths(s *table.Snapshot) []string {
	var out []string
	for _, f := range s.Files() {
		out = append(out, f.Path)
	}
	slices.Sort(out)
	return out
}

// TestCloneSparkCommitTime: Spark writes a commit's commitInfo after its
// adds; the initial clone's commit still carries the source's commit time
// (it once took the commit file's modification time), so time travel by
// timestamp agrees on both sides.
func TestCloneSparkCommitTime(t *testing.T) {
	ctx := context.Background()
	dir, _ := filepath.Abs(filepath.Join(corpusDir, "table_with_edge_timestamps"))
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("corpus absent: %v", err)
	}
	srcB, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srcB.Close()
	dstB := location(t, "mem")
	clone(t, srcB, dstB, nil)
	src, dst := open(t, srcB), open(t, dstB)
	want, got := history(t, src)[0], history(t, dst)[0]
	if want == nil || got == nil || got.Timestamp != want.Timestamp {
		t.Fatalf("version 0: source's commit time %+v, clone's %+v", want, got)
	}
	at := time.UnixMilli(want.Timestamp)
	if v, err := dst.VersionAsOf(ctx, at); err != nil || v != 0 {
		t.Fatalf("clone's version as of the source's commit time: %d, %v", v, err)
	}
}
