package egresstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Extra is a column a region adds to its table while egress runs, with the
// value it holds in row id.
type Extra struct {
	Name  string
	Type  table.DataType
	Value func(id int64) any // int64 or string
}

// DivergentRegion is one region of the diverging-schemas scenario.
type DivergentRegion struct {
	Name  string
	Mode  egress.SchemaMode
	Extra []Extra
}

// DivergentRegions are regions whose schemas diverge: some add new columns
// (in addNewColumns and rescue modes), two add the same column as long in
// one and string in the other (half of the strings are numbers, half are
// not), and plain+2 keep the base schema.
func DivergentRegions(plain int) []DivergentRegion {
	num := func(id int64) any { return id * 7 }
	var out []DivergentRegion
	for i := range plain {
		out = append(out, DivergentRegion{Name: fmt.Sprintf("plain-%02d", i), Mode: SchemaModes[i%len(SchemaModes)]})
	}
	return append(out, []DivergentRegion{
		{Name: "base-a", Mode: egress.SchemaRescue},
		{Name: "base-b", Mode: egress.SchemaAddNewColumns},
		{Name: "wide", Mode: egress.SchemaAddNewColumns, Extra: []Extra{
			{"new_col", table.TypeLong, num},
			{"obj", table.TypeString, func(id int64) any { return fmt.Sprintf(`{"k":%d}`, id) }}}},
		{Name: "code-long", Mode: egress.SchemaAddNewColumns, Extra: []Extra{
			{"code", table.TypeLong, func(id int64) any { return id }}}},
		{Name: "code-string", Mode: egress.SchemaAddNewColumns, Extra: []Extra{
			{"code", table.TypeString, func(id int64) any {
				if id%2 == 0 {
					return fmt.Sprint(id) // fits a long column losslessly
				}
				return fmt.Sprintf("E%d", id)
			}}}},
		{Name: "rescuer", Mode: egress.SchemaRescue, Extra: []Extra{
			{"extra", table.TypeString, func(id int64) any { return fmt.Sprintf("x%d", id) }}}},
	}...)
}

// SchemaModes are the modes that never stop egress.
var SchemaModes = []egress.SchemaMode{egress.SchemaRescue, egress.SchemaAddNewColumns}

// RunDiverging runs the scenario: every region's table is written (versions
// before and after it adds its extra columns) while all regions egress at
// once into the central table in central; then it checks that every
// approved row arrived exactly once, that every extra value arrived exactly
// once — in its central column or in _rescued_data — that no region's egress
// stopped, and that the central schema is the union the modes allow.
// source opens a fresh location for a regional table.
func RunDiverging(t testing.TB, source func(name string) storage.Bucket, central storage.Bucket, regions []DivergentRegion, versions, rowsPer int) {
	t.Helper()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	type region struct {
		DivergentRegion
		b    storage.Bucket
		tbl  *table.Table
		e    *egress.Egress
		rows []Row
		// from is the first id written with the extra columns.
		from int64
	}
	rs := make([]*region, len(regions))
	for i, r := range regions {
		b := source(r.Name)
		tbl, err := CreateRegion(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		e, err := egress.New(ctx, b, central, egress.Options{Region: r.Name, SchemaMode: r.Mode, MaxBatchTime: time.Second, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = &region{DivergentRegion: r, b: b, tbl: tbl, e: e, from: -1}
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runErrs := make([]error, len(rs))
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runErrs[i] = r.e.Run(runCtx, 5*time.Millisecond)
		}()
	}
	var writers sync.WaitGroup
	writeErrs := make([]error, len(rs))
	for i, r := range rs {
		writers.Add(1)
		go func() {
			defer writers.Done()
			writeErrs[i] = func() error {
				for v := range versions {
					if v == versions/2 && len(r.Extra) > 0 {
						snap, err := r.tbl.Snapshot(ctx)
						if err != nil {
							return err
						}
						if _, _, err := r.tbl.AddColumns(ctx, snap, func(*table.Schema) ([]*table.Field, error) {
							var fs []*table.Field
							for _, x := range r.Extra {
								fs = append(fs, &table.Field{Name: x.Name, Type: x.Type, Nullable: true})
							}
							return fs, nil
						}, nil); err != nil {
							return err
						}
						r.from = int64(len(r.rows))
					}
					rows := Rows(int64(len(r.rows)), rowsPer)
					if err := appendExtra(ctx, r.tbl, rows, r.Extra); err != nil {
						return err
					}
					r.rows = append(r.rows, rows...)
				}
				return nil
			}()
		}()
	}
	writers.Wait()
	for i, err := range writeErrs {
		if err != nil {
			t.Fatalf("region %s: writing: %v", rs[i].Name, err)
		}
	}
	// Let the daemons catch up for a moment, then stop them and drain.
	time.Sleep(100 * time.Millisecond)
	stop()
	wg.Wait()
	for i, err := range runErrs {
		if err != nil {
			t.Errorf("region %s: egress stopped: %v", rs[i].Name, err)
		}
	}
	for _, r := range rs {
		sum, err := r.e.RunOnce(ctx)
		if err != nil {
			t.Fatalf("region %s: draining: %v", r.Name, err)
		}
		if sum.LagVersions != 0 {
			t.Errorf("region %s: lag %d after draining", r.Name, sum.LagVersions)
		}
	}
	ct, err := table.Open(ctx, central, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ct.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadCentral(ctx, snap)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{}
	for _, r := range rs {
		want[r.Name] = Approved(r.rows)
	}
	if d := Diff(got, want); d != "" {
		t.Fatalf("central rows:\n%s", d)
	}

	// The central schema: the base columns, region, _rescued_data, and the
	// extra columns of addNewColumns regions — code with the type of
	// whichever region added it first — never those of rescue regions.
	sch, err := snap.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range sch.Fields {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	wantNames := []string{"_rescued_data", "code", "date", "egress_approved", "id", "level", "msg", "new_col", "obj", "region", "ts"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("central columns %v, want %v", names, wantNames)
	}
	for name, typ := range map[string]table.DataType{"new_col": table.TypeLong, "obj": table.TypeString} {
		if f := sch.Field(name); f.Type != typ || !f.Nullable {
			t.Errorf("central %s: %s nullable=%v, want nullable %s", name, f.Type, f.Nullable, typ)
		}
	}
	// How the run interleaved: ADD COLUMNS commits, and data commits that
	// were planned before one of them and landed after it.
	hist, err := ct.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var evolvedAt []int64
	crossed := 0
	for i := len(hist) - 1; i >= 0; i-- {
		ci := hist[i].CommitInfo
		if ci == nil || ci.ReadVersion == nil {
			continue
		}
		if ci.Operation == "ADD COLUMNS" {
			evolvedAt = append(evolvedAt, hist[i].Version)
			continue
		}
		for _, v := range evolvedAt {
			if v > *ci.ReadVersion {
				crossed++
				break
			}
		}
	}
	t.Logf("central version %d; code is %s; ADD COLUMNS at versions %v; %d data commits planned before one of them",
		snap.Version(), sch.Field("code").Type, evolvedAt, crossed)

	// Every extra value exactly once: in its column or in _rescued_data.
	extras := map[string]map[string]func(int64) any{}
	for _, r := range rs {
		extras[r.Name] = map[string]func(int64) any{}
		for _, x := range r.Extra {
			extras[r.Name][x.Name] = x.Value
		}
	}
	from := map[string]int64{}
	for _, r := range rs {
		from[r.Name] = r.from
	}
	cols := []string{"region", "id", "code", "new_col", "obj", "_rescued_data"}
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	inColumn, rescued := 0, 0
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			region := table.Value(rec.Column(0), i).(string)
			id := table.Value(rec.Column(1), i).(int64)
			var res map[string]any
			if s, ok := table.Value(rec.Column(5), i).(string); ok {
				dec := json.NewDecoder(strings.NewReader(s))
				dec.UseNumber()
				if err := dec.Decode(&res); err != nil {
					t.Fatalf("region %s id %d: _rescued_data %q: %v", region, id, s, err)
				}
			}
			for _, name := range []string{"code", "new_col", "obj", "extra"} {
				var col any
				if c := slices.Index(cols, name); c >= 0 {
					col = table.Value(rec.Column(c), i)
				}
				rv, inRes := res[name]
				var wantV any
				if fn := extras[region][name]; fn != nil && from[region] >= 0 && id >= from[region] {
					wantV = fn(id)
				}
				switch {
				case wantV == nil && (col != nil || inRes):
					t.Fatalf("region %s id %d: unexpected %s (column %v, rescued %v)", region, id, name, col, rv)
				case wantV == nil:
				case col != nil && inRes:
					t.Fatalf("region %s id %d: %s both in its column (%v) and rescued (%v)", region, id, name, col, rv)
				case col != nil:
					if fmt.Sprint(col) != fmt.Sprint(wantV) {
						t.Fatalf("region %s id %d: %s = %v, want %v", region, id, name, col, wantV)
					}
					inColumn++
				case inRes:
					if fmt.Sprint(rv) != fmt.Sprint(wantV) {
						t.Fatalf("region %s id %d: rescued %s = %v, want %v", region, id, name, rv, wantV)
					}
					rescued++
				default:
					t.Fatalf("region %s id %d: %s = %v lost (neither in its column nor rescued: %v)", region, id, name, wantV, res)
				}
			}
			if len(res) > 0 {
				for k := range res {
					if extras[region][k] == nil {
						t.Fatalf("region %s id %d: unexpected rescued key %q in %v", region, id, k, res)
					}
				}
			}
		}
		rec.Release()
	}
	t.Logf("%d extra values in their columns, %d rescued", inColumn, rescued)
	// No batch was thrown away: an append planned before an ADD COLUMNS
	// commits as it is, and nothing else changes the central metadata.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "loglake_egress_superseded_batches_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("region %s: %v batches superseded, want 0", m.GetLabel()[0].GetValue(), v)
			}
		}
	}
	if inColumn == 0 || rescued == 0 {
		t.Fatalf("the scenario should put values both in columns (%d) and in _rescued_data (%d)", inColumn, rescued)
	}
}

// appendExtra appends rows to t, with the extra columns (when the table
// has them) set from their Value functions.
func appendExtra(ctx context.Context, t *table.Table, rows []Row, extra []Extra) error {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return err
	}
	w, err := t.NewWriter(snap, nil)
	if err != nil {
		return err
	}
	rec := Record(w.Schema(), rows)
	w.Close()
	defer rec.Release()
	cols := slices.Clone(rec.Columns())
	for _, x := range extra {
		idx := rec.Schema().FieldIndices(x.Name)
		if len(idx) == 0 {
			continue
		}
		b := array.NewBuilder(memory.DefaultAllocator, rec.Schema().Field(idx[0]).Type)
		for _, r := range rows {
			switch v := x.Value(r.ID).(type) {
			case int64:
				b.(*array.Int64Builder).Append(v)
			case string:
				b.(*array.StringBuilder).Append(v)
			}
		}
		col := b.NewArray()
		b.Release()
		defer col.Release()
		cols[idx[0]] = col
	}
	out := array.NewRecord(rec.Schema(), cols, rec.NumRows())
	defer out.Release()
	_, err = t.Append(ctx, []arrow.Record{out}, nil)
	return err
}
