// Package replicatetest has helpers shared by the clone tests (package
// replicate's unit tests and the integration tests): row-level table
// comparison and the byte counts a clone must have moved.
package replicatetest

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"

	"github.com/loglake/loglake/table"
)

// Rows scans snap and returns every row as a JSON object (all columns,
// partition columns included), sorted, so two tables compare row by row.
func Rows(t testing.TB, snap *table.Snapshot) []string {
	t.Helper()
	ctx := context.Background()
	sc, err := snap.Scan(ctx, nil)
	if err != nil {
		t.Fatalf("scan version %d: %v", snap.Version(), err)
	}
	defer sc.Close()
	var rows []string
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("scan version %d: %v", snap.Version(), err)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make(map[string]any, rec.NumCols())
			for c := 0; c < int(rec.NumCols()); c++ {
				row[rec.ColumnName(c)] = table.Value(rec.Column(c), i)
			}
			b, err := json.Marshal(row)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, string(b))
		}
		rec.Release()
	}
	slices.Sort(rows)
	return rows
}

// SameRows fails t unless src and dst hold exactly the same rows.
func SameRows(t testing.TB, src, dst *table.Snapshot) {
	t.Helper()
	a, b := Rows(t, src), Rows(t, dst)
	if !slices.Equal(a, b) {
		t.Fatalf("source version %d has %d rows, destination version %d has %d rows, and they differ",
			src.Version(), len(a), dst.Version(), len(b))
	}
	if len(a) == 0 {
		t.Fatalf("compared empty tables: the test proves nothing")
	}
}

// AddedBytes sums the sizes of the files added by tbl's commits after
// version `after` up to and including upTo: what an incremental clone of
// those commits must copy.
func AddedBytes(t testing.TB, tbl *table.Table, after, upTo int64) (files int64, bytes int64) {
	t.Helper()
	changes, err := tbl.Changes(context.Background(), after, upTo, 0)
	if err != nil {
		t.Fatalf("changes after %d: %v", after, err)
	}
	seen := map[string]bool{}
	for _, ch := range changes {
		for _, a := range ch.Actions {
			if a.Add != nil && !seen[a.Add.Path] {
				seen[a.Add.Path] = true
				files++
				bytes += a.Add.Size
			}
		}
	}
	return files, bytes
}

// Latest returns tbl's latest snapshot, refreshed.
func Latest(t testing.TB, tbl *table.Table) *table.Snapshot {
	t.Helper()
	s, err := tbl.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// At returns tbl's snapshot at version v.
func At(t testing.TB, tbl *table.Table, v int64) *table.Snapshot {
	t.Helper()
	s, err := tbl.SnapshotAt(context.Background(), v)
	if err != nil {
		t.Fatalf("snapshot at %d: %v", v, err)
	}
	return s
}
