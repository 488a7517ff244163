package table_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// Every case of the hostile corpus, opened and scanned through the table
// API on mem:// and file://: the error class the case names, or exactly the
// rows it names; on file://, nothing appears beside the table root.
func TestHostileCorpus(t *testing.T) {
	ctx := context.Background()
	for _, hc := range tabletest.HostileCorpus() {
		t.Run(hc.Name, func(t *testing.T) {
			for _, backend := range []string{"mem", "file"} {
				var b storage.Bucket
				var parent string
				if backend == "mem" {
					b = openMem(t)
				} else {
					parent = t.TempDir()
					var err error
					if b, err = storage.Open(ctx, "file://"+filepath.Join(parent, "table"), nil); err != nil {
						t.Fatal(err)
					}
				}
				tabletest.HostileBase(t, b)
				if err := hc.Break(ctx, b); err != nil {
					t.Fatalf("break: %v", err)
				}
				ids, err := tabletest.ReadAll(ctx, b)
				switch {
				case hc.Want != nil && !errors.Is(err, hc.Want):
					t.Errorf("%s: got %v (%d rows), want an error wrapping %v", backend, err, len(ids), hc.Want)
				case hc.Want == nil && err != nil:
					t.Errorf("%s: %v, want %d rows", backend, err, len(hc.IDs))
				case hc.Want == nil && !slices.Equal(ids, hc.IDs):
					t.Errorf("%s: ids %v, want %v", backend, ids, hc.IDs)
				}
				if err != nil && strings.TrimSpace(err.Error()) == "" {
					t.Errorf("%s: empty error text", backend)
				}
				if parent != "" {
					if es, _ := os.ReadDir(parent); len(es) != 1 {
						t.Errorf("%s: %d entries beside the table root", backend, len(es))
					}
				}
			}
		})
	}
}

func TestFileKey(t *testing.T) {
	for _, tc := range []struct {
		path, key string
		abs       bool
	}{
		{path: "part-0.parquet", key: "part-0.parquet"},
		{path: "date=2026-11-22/part-0.parquet", key: "date=2026-11-22/part-0.parquet"},
		{path: "a%253Ab/part%20x.parquet", key: "a%3Ab/part x.parquet"},
		{path: "_delta_logs/x.parquet", key: "_delta_logs/x.parquet"},
		{path: "x/_delta_log/y.parquet", key: "x/_delta_log/y.parquet"},
		{path: ""},
		{path: "_delta_log/00000000000000000000.json"},
		{path: "_Delta_Log/00000000000000000000.json"},
		{path: "%5Fdelta_log/00000000000000000000.json"},
		{path: "_loglake/ingest/batch-1"},
		{path: "../x.parquet"},
		{path: "a/../../x.parquet"},
		{path: "a/%2e%2e/%2E%2E/x.parquet"},
		{path: "a%2F..%2F..%2Fx.parquet"},
		{path: "./x.parquet"},
		{path: "a//x.parquet"},
		{path: "a/"},
		{path: "bad%zzescape"},
		{path: "s3://bucket/x.parquet", abs: true},
		{path: "/etc/passwd", abs: true},
		{path: "%2Fetc/passwd", abs: true},
		{path: "file:/etc/passwd", abs: true},
	} {
		key, err := table.FileKey(tc.path)
		if tc.key != "" {
			if err != nil || key != tc.key {
				t.Errorf("FileKey(%q) = %q, %v; want %q", tc.path, key, err, tc.key)
			}
			continue
		}
		var pe *table.PathError
		if !errors.Is(err, table.ErrInvalidPath) || !errors.As(err, &pe) || pe.Path != tc.path {
			t.Errorf("FileKey(%q) = %q, %v; want a PathError", tc.path, key, err)
			continue
		}
		if got := errors.Is(err, table.ErrUnsupportedFeature); got != tc.abs {
			t.Errorf("FileKey(%q): ErrUnsupportedFeature %v, want %v", tc.path, got, tc.abs)
		}
		if !tc.abs && !errors.Is(err, table.ErrCorrupt) {
			t.Errorf("FileKey(%q): %v does not wrap ErrCorrupt", tc.path, err)
		}
	}
}

// Defect 6 and the feature gate: the refusals of the corpus name their
// feature, and a stale _last_checkpoint still gives every version.
func TestHostileNamesFeature(t *testing.T) {
	ctx := context.Background()
	want := map[string]string{"v2-checkpoint": "v2Checkpoint", "column-mapping-switched-on": "columnMapping"}
	for _, hc := range tabletest.HostileCorpus() {
		feature, ok := want[hc.Name]
		if !ok && hc.Name != "stale-last-checkpoint" {
			continue
		}
		b := openMem(t)
		tabletest.HostileBase(t, b)
		if err := hc.Break(ctx, b); err != nil {
			t.Fatal(err)
		}
		_, err := table.Open(ctx, b, nil)
		if !ok {
			if err != nil {
				t.Fatalf("%s: open: %v", hc.Name, err)
			}
			for v := int64(0); v <= 2; v++ {
				if _, err := table.Handle(b, nil).SnapshotAt(ctx, v); err != nil {
					t.Errorf("%s: version %d: %v", hc.Name, v, err)
				}
			}
			continue
		}
		var fe *table.FeatureError
		if !errors.As(err, &fe) || fe.Feature != feature {
			t.Errorf("%s: open: %v, want a FeatureError naming %s", hc.Name, err, feature)
		}
	}
}

// The one partition-value rule (table.PartitionValue), for reading and
// pruning alike: partitionValues are keyed by the partition column's exact
// name, as the protocol defines them and Spark reads them. A file whose key
// differs in case reads the column as null, and pruning on the column
// neither keeps its rows for a value nor drops them for IS NULL.
func TestPartitionValueExactName(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tabletest.HostileBase(t, b)
	chs, err := table.Handle(b, nil).Changes(ctx, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var moved *table.Add
	for _, a := range chs[0].Actions {
		if a.Add != nil && *a.Add.PartitionValues["date"] == "2026-11-22" {
			cp := *a.Add
			moved = &cp
		}
	}
	if moved == nil {
		t.Fatal("no 2026-11-22 file in commit 1")
	}
	d := "2026-11-22"
	moved.PartitionValues = map[string]*string{"DATE": &d}
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := tbl.Snapshot(ctx)
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: []table.Action{{Add: moved}}}); err != nil {
		t.Fatal(err)
	}
	snap, err = tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := table.PartitionValue(moved.PartitionValues, "date"); ok || v != nil {
		t.Fatalf("PartitionValue by another case = %v, %v", v, ok)
	}
	// The moved file holds ids 0, 3, 6, 9 (id%3 == 0 is 2026-11-22).
	if got := tabletest.IDs(t, snap, "date IS NULL"); fmt.Sprint(got) != "[0 3 6 9]" {
		t.Errorf("date IS NULL: %v, want [0 3 6 9]", got)
	}
	if got := tabletest.IDs(t, snap, "date = '2026-11-22'"); fmt.Sprint(got) != "[12 15 18]" {
		t.Errorf("date = 2026-11-22: %v, want [12 15 18]", got)
	}
}
