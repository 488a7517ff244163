package table_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table"
)

func longCols(names ...string) func(*table.Schema) ([]*table.Field, error) {
	return func(*table.Schema) ([]*table.Field, error) {
		var out []*table.Field
		for _, n := range names {
			out = append(out, &table.Field{Name: n, Type: table.TypeLong})
		}
		return out, nil
	}
}

// scanColumn returns every value of column col (nil for NULL), in no
// particular order.
func scanColumn(t *testing.T, tbl *table.Table, col string) []any {
	t.Helper()
	ctx := context.Background()
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{col}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var out []any
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			out = append(out, table.Value(rec.Column(0), i))
		}
		rec.Release()
	}
}

// TestAddColumnsWhileAppending: writers add columns at once (some the same)
// while others append under schemas that go stale: every ADD COLUMNS merges
// and lands, no append fails or is lost, and rows appended under an older
// schema read the newer columns as NULL.
func TestAddColumnsWhileAppending(t *testing.T) {
	ctx := context.Background()
	tbl, err := table.Create(ctx, openFile(t), table.CreateOptions{Schema: &table.Schema{Fields: []*table.Field{
		{Name: "id", Type: table.TypeLong, Nullable: true}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const evolvers, appenders, appends = 4, 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, evolvers+appenders*appends)
	for i := range evolvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, err := tbl.Snapshot(ctx)
			if err != nil {
				errs <- err
				return
			}
			added, after, err := tbl.AddColumns(ctx, snap, longCols("shared", fmt.Sprintf("c%d", i)), nil)
			if err != nil {
				errs <- fmt.Errorf("evolver %d: %w", i, err)
				return
			}
			if sch, _ := after.Schema(); sch.Field(fmt.Sprintf("c%d", i)) == nil {
				errs <- fmt.Errorf("evolver %d: snapshot after adding %v lacks its column", i, added)
			}
		}()
	}
	for i := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range appends {
				// Plan under the schema of the moment, commit later: the
				// table may have gained columns in between.
				snap, err := tbl.Snapshot(ctx)
				if err != nil {
					errs <- err
					return
				}
				w, err := tbl.NewWriter(snap, nil)
				if err != nil {
					errs <- err
					return
				}
				id := int64(i*100 + j)
				b := array.NewRecordBuilder(memory.DefaultAllocator, w.Schema())
				b.Field(0).(*array.Int64Builder).Append(id)
				for f := 1; f < len(b.Fields()); f++ {
					b.Field(f).AppendNull()
				}
				rec := b.NewRecord()
				b.Release()
				err = w.Write(ctx, rec)
				rec.Release()
				adds, cerr := w.Close()
				if err == nil {
					err = cerr
				}
				if err == nil {
					_, err = tbl.Commit(ctx, snap, &table.Commit{Actions: adds})
				}
				if err != nil {
					errs <- fmt.Errorf("append %d: %w", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sch, _ := snap.Schema()
	var names []string
	for _, f := range sch.Fields {
		names = append(names, f.Name)
		if !f.Nullable || f.Type != table.TypeLong {
			t.Errorf("column %s: %s nullable=%v", f.Name, f.Type, f.Nullable)
		}
	}
	slices.Sort(names)
	if want := []string{"c0", "c1", "c2", "c3", "id", "shared"}; !slices.Equal(names, want) {
		t.Fatalf("columns %v, want %v", names, want)
	}
	ids := scanColumn(t, tbl, "id")
	if len(ids) != appenders*appends {
		t.Fatalf("%d rows, want %d", len(ids), appenders*appends)
	}
	seen := map[int64]bool{}
	for _, v := range ids {
		seen[v.(int64)] = true
	}
	if len(seen) != appenders*appends {
		t.Fatalf("%d distinct ids, want %d", len(seen), appenders*appends)
	}
	// How much the run interleaved (informational: the deterministic cases
	// are in TestAppendAfterIncompatibleMetadata).
	hist, err := tbl.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var evolvedAt []int64
	crossed, adds := 0, 0
	for i := len(hist) - 1; i >= 0; i-- {
		e := hist[i]
		if e.CommitInfo == nil || e.CommitInfo.ReadVersion == nil {
			continue
		}
		if e.CommitInfo.Operation == "ADD COLUMNS" {
			evolvedAt = append(evolvedAt, e.Version)
			adds++
			continue
		}
		for _, v := range evolvedAt {
			if v > *e.CommitInfo.ReadVersion {
				crossed++
				break
			}
		}
	}
	t.Logf("%d ADD COLUMNS commits; %d appends committed across a schema change", adds, crossed)
	for _, v := range scanColumn(t, tbl, "shared") {
		if v != nil {
			t.Fatalf("shared = %v, want NULL (no append wrote it)", v)
		}
	}
}

// TestAppendAfterIncompatibleMetadata: an append planned before a metadata
// change that could make its rows invalid (a new CHECK constraint) is refused
// with ErrConflict, never committed; one planned before an ADD COLUMNS lands.
func TestAppendAfterIncompatibleMetadata(t *testing.T) {
	ctx := context.Background()
	tbl, err := table.Create(ctx, openMem(t), table.CreateOptions{Schema: &table.Schema{Fields: []*table.Field{
		{Name: "x", Type: table.TypeLong, Nullable: true}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stage := func() (*table.Snapshot, []table.Action) {
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sch, _ := snap.Schema()
		rec := jsonRecord(t, sch.Arrow(), `[{"x":-1}]`)
		defer rec.Release()
		w, err := tbl.NewWriter(snap, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
		adds, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		return snap, adds
	}
	old, adds := stage()
	if _, _, err := tbl.AddColumns(ctx, old, longCols("y"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(ctx, old, &table.Commit{Actions: adds}); err != nil {
		t.Fatalf("append planned before ADD COLUMNS: %v", err)
	}
	old, adds = stage()
	cur, _ := tbl.Snapshot(ctx)
	md := *cur.Metadata()
	md.Configuration = map[string]string{"delta.constraints.pos": "x > 0"}
	if _, err := tbl.Commit(ctx, cur, &table.Commit{Actions: []table.Action{{MetaData: &md}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(ctx, old, &table.Commit{Actions: adds}); !errors.Is(err, table.ErrConflict) {
		t.Fatalf("append planned before ADD CONSTRAINT: %v, want ErrConflict", err)
	}
	if got := scanColumn(t, tbl, "x"); len(got) != 1 {
		t.Fatalf("rows %v, want the one appended before the constraint", got)
	}
}

// TestAddColumnsRefuses: names Delta cannot store without column mapping
// and Delta field metadata are refused; existing names are skipped.
func TestAddColumnsRefuses(t *testing.T) {
	ctx := context.Background()
	tbl, err := table.Create(ctx, openMem(t), table.CreateOptions{Schema: &table.Schema{Fields: []*table.Field{
		{Name: "x", Type: table.TypeLong, Nullable: true}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := tbl.Snapshot(ctx)
	if _, _, err := tbl.AddColumns(ctx, snap, longCols("a b"), nil); !errors.Is(err, table.ErrSchema) {
		t.Errorf("name with a space: %v, want ErrSchema", err)
	}
	inv := func(*table.Schema) ([]*table.Field, error) {
		return []*table.Field{{Name: "y", Type: table.TypeLong, Metadata: map[string]any{"delta.invariants": "{}"}}}, nil
	}
	if _, _, err := tbl.AddColumns(ctx, snap, inv, nil); !errors.Is(err, table.ErrSchema) {
		t.Errorf("column with an invariant: %v, want ErrSchema", err)
	}
	added, after, err := tbl.AddColumns(ctx, snap, longCols("X"), nil)
	if err != nil || len(added) != 0 || after.Version() != snap.Version() {
		t.Errorf("existing column in another case: added %v at %d, err %v; want nothing", added, after.Version(), err)
	}
}
