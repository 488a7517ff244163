package egress_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// centralValues scans the given central columns and returns, per id, the
// values of the other columns (table.Value form).
func centralValues(t *testing.T, b storage.Bucket, cols ...string) map[int64][]any {
	t.Helper()
	ctx := context.Background()
	sc, err := centralSnap(t, b).Scan(ctx, &table.ScanOptions{Columns: append([]string{"id"}, cols...)})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	out := map[int64][]any{}
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			id := table.Value(rec.Column(0), i).(int64)
			if _, dup := out[id]; dup {
				t.Fatalf("id %d twice", id)
			}
			for c := range cols {
				out[id] = append(out[id], table.Value(rec.Column(c+1), i))
			}
		}
		rec.Release()
	}
}

func columnNames(t *testing.T, b storage.Bucket) []string {
	t.Helper()
	sch, err := centralSnap(t, b).Schema()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range sch.Fields {
		out = append(out, f.Name)
	}
	return out
}

// TestSchemaModes: the region has level and msg, the central table lacks
// them (and has no _rescued_data).
func TestSchemaModes(t *testing.T) {
	ctx := context.Background()
	level := func(id int64) string { return []string{"DEBUG", "INFO", "WARN", "ERROR"}[id%4] }
	for _, tc := range []struct {
		name     string
		opts     egress.Options
		added    []string
		inColumn []string // source columns that land in their own column
		rescued  []string // and those that land in _rescued_data
	}{
		{"rescue (default)", egress.Options{}, []string{"_rescued_data"}, nil, []string{"level", "msg"}},
		{"addNewColumns", egress.Options{SchemaMode: egress.SchemaAddNewColumns}, []string{"level", "msg"}, []string{"level", "msg"}, nil},
		{"addNewColumns beyond MaxNewColumns", egress.Options{SchemaMode: egress.SchemaAddNewColumns, MaxNewColumns: 1},
			[]string{"level", "_rescued_data"}, []string{"level"}, []string{"msg"}},
		{"addNewColumns beyond MaxColumns", egress.Options{SchemaMode: egress.SchemaAddNewColumns, MaxColumns: 5},
			[]string{"_rescued_data"}, nil, []string{"level", "msg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.appendRows(t, 30)
			cs := egress.CentralSchema(egresstest.Schema()).Without("msg", "level") // id ts egress_approved date region
			if _, err := table.Create(ctx, f.dst, table.CreateOptions{Schema: cs, PartitionColumns: []string{"date"}}, nil); err != nil {
				t.Fatal(err)
			}
			sum, err := f.egress(t, tc.opts).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			approved := egresstest.Approved(f.rows)
			checkCentral(t, f.dst, map[string][]int64{"eu-1": approved})
			if !slices.Equal(sum.ColumnsAdded, tc.added) {
				t.Errorf("ColumnsAdded = %v, want %v", sum.ColumnsAdded, tc.added)
			}
			if got := columnNames(t, f.dst); len(got) != len(cs.Fields)+len(tc.added) {
				t.Errorf("central columns %v, want %v and %v", got, cs.Fields, tc.added)
			}
			wantRescued := int64(0)
			if len(tc.rescued) > 0 {
				wantRescued = int64(len(approved))
			}
			if sum.Rescued != wantRescued {
				t.Errorf("Rescued = %d, want %d", sum.Rescued, wantRescued)
			}
			want := map[string]func(int64) string{"level": level, "msg": func(id int64) string { return fmt.Sprintf("message %d", id) }}
			cols := slices.Clone(tc.inColumn)
			if len(tc.rescued) > 0 {
				cols = append(cols, "_rescued_data")
			}
			for id, vals := range centralValues(t, f.dst, cols...) {
				for i, c := range tc.inColumn {
					if vals[i] != want[c](id) {
						t.Fatalf("id %d: %s = %v, want %q", id, c, vals[i], want[c](id))
					}
				}
				if len(tc.rescued) == 0 {
					continue
				}
				var res map[string]string
				if err := json.Unmarshal([]byte(vals[len(vals)-1].(string)), &res); err != nil {
					t.Fatalf("id %d: _rescued_data %v: %v", id, vals[len(vals)-1], err)
				}
				if len(res) != len(tc.rescued) {
					t.Fatalf("id %d: _rescued_data %v, want keys %v", id, res, tc.rescued)
				}
				for _, c := range tc.rescued {
					if res[c] != want[c](id) {
						t.Fatalf("id %d: rescued %s = %q, want %q", id, c, res[c], want[c](id))
					}
				}
			}
		})
	}
}

// TestTypeConflicts: the central table holds level as long (the region has
// it as string): level strings cannot become longs and are rescued, in both
// modes, nothing is lost, and the central column keeps its type (changing
// it would need typeWidening). Value conversions are in
// TestConvert (convert_internal_test.go).
func TestTypeConflicts(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []egress.SchemaMode{egress.SchemaRescue, egress.SchemaAddNewColumns} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t)
			f.appendRows(t, 30)
			cs := egress.CentralSchema(egresstest.Schema())
			cs.Field("level").Type = table.TypeLong
			if _, err := table.Create(ctx, f.dst, table.CreateOptions{Schema: cs, PartitionColumns: []string{"date"}}, nil); err != nil {
				t.Fatal(err)
			}
			sum, err := f.egress(t, egress.Options{SchemaMode: mode}).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := int64(len(egresstest.Approved(f.rows)))
			if sum.Rows != n || sum.Rescued != n || !slices.Equal(sum.ColumnsAdded, []string{"_rescued_data"}) {
				t.Fatalf("summary %+v, want %d rows all rescued, _rescued_data added", sum, n)
			}
			sch, _ := centralSnap(t, f.dst).Schema()
			if typ := sch.Field("level").Type; typ != table.TypeLong {
				t.Fatalf("central level is %s, want long still", typ)
			}
			vals := centralValues(t, f.dst, "level", "_rescued_data")
			if int64(len(vals)) != n {
				t.Fatalf("%d rows, want %d", len(vals), n)
			}
			for id, v := range vals {
				if v[0] != nil {
					t.Fatalf("id %d: level %v, want NULL", id, v[0])
				}
				if want := fmt.Sprintf(`{"level":%q}`, []string{"DEBUG", "INFO", "WARN", "ERROR"}[id%4]); v[1] != want {
					t.Fatalf("id %d: _rescued_data %v, want %s", id, v[1], want)
				}
			}
		})
	}
}

// TestDivergingRegionsEgressAtOnce: regions egress at once into one central
// table while four of them gain columns (new columns; the same column as
// long and as string) and the others keep appending
// (egresstest.RunDiverging). 12 regions by default;
// LOGLAKE_SCHEMA_REGIONS=50 runs the fleet size (~25 s on 2 busy cores).
func TestDivergingRegionsEgressAtOnce(t *testing.T) {
	n := 12
	if s := os.Getenv("LOGLAKE_SCHEMA_REGIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 6 {
			t.Fatalf("LOGLAKE_SCHEMA_REGIONS=%q: want a number of regions, at least 6", s)
		}
	}
	egresstest.RunDiverging(t, func(name string) storage.Bucket { return memBucket(t, name) }, memBucket(t, "central"),
		egresstest.DivergentRegions(n-6), 6, 12)
}
