package egress

// Internal test: convertArray, alwaysConverts and the _rescued_data merge
// are unexported; their effect on whole tables is in schema_test.go.

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table"
)

func fromJSON(t *testing.T, typ arrow.DataType, js string) arrow.Array {
	t.Helper()
	a, _, err := array.FromJSON(memory.DefaultAllocator, typ, strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConvert(t *testing.T) {
	i8, i32, i64 := arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64
	f32, f64 := arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64
	str, boolean, date := arrow.BinaryTypes.String, arrow.FixedWidthTypes.Boolean, arrow.FixedWidthTypes.Date32
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	ntz := &arrow.TimestampType{Unit: arrow.Microsecond}
	for _, tc := range []struct {
		name     string
		from, to arrow.DataType
		in       string
		want     string // table.Value of each output row, fmt'd
		failed   []int
	}{
		{"long to string", i64, str, `[1, -42, null, 9223372036854775807]`, `[1 -42 <nil> 9223372036854775807]`, nil},
		{"string to long: canonical integers only", str, i64, `["7", "-3", "007", "1e3", "abc", "9223372036854775808", null]`,
			`[7 -3 <nil> <nil> <nil> <nil> <nil>]`, []int{2, 3, 4, 5}},
		{"long to int: in range only", i64, i32, `[5, 2147483648, -2147483648]`, `[5 <nil> -2147483648]`, []int{1}},
		{"int to byte", i32, i8, `[127, 128]`, `[127 <nil>]`, []int{1}},
		{"long to double: exact only", i64, f64, `[3, 9007199254740993]`, `[3 <nil>]`, []int{1}},
		{"double to long: integral only", f64, i64, `[2, 2.5]`, `[2 <nil>]`, []int{1}},
		{"double to float: exact only", f64, f32, `[0.5, 0.1]`, `[0.5 <nil>]`, []int{1}},
		{"double to string", f64, str, `[0.1, 1e21]`, `[0.1 1e+21]`, nil},
		{"string to double: canonical only", str, f64, `["0.25", "0.250", "x"]`, `[0.25 <nil> <nil>]`, []int{1, 2}},
		{"string to boolean", str, boolean, `["true", "false", "TRUE", "1"]`, `[true false <nil> <nil>]`, []int{2, 3}},
		{"boolean to string", boolean, str, `[true, false]`, `[true false]`, nil},
		{"string to date", str, date, `["2026-11-24", "2026-11-24T00:00:00Z", "24/11/2026"]`, `[2026-11-24 <nil> <nil>]`, []int{1, 2}},
		{"date to string", date, str, `["2026-11-24"]`, `[2026-11-24]`, nil},
		{"string to timestamp: RFC 3339 UTC, µs", str, ts,
			`["2026-11-24T10:00:00.123456Z", "2026-11-24T10:00:00+01:00", "2026-11-24T10:00:00.1234567Z", "2026-11-24 10:00:00"]`,
			`[2026-11-24T10:00:00.123456Z <nil> <nil> <nil>]`, []int{1, 2, 3}},
		{"timestamp to string", ts, str, `["2026-11-24T10:00:00.5Z"]`, `[2026-11-24T10:00:00.5Z]`, nil},
		{"date to timestamp_ntz (Delta's widening)", date, ntz, `["2026-11-24"]`, `[2026-11-24T00:00:00Z]`, nil},
		{"timestamp_ntz to timestamp: never", ntz, ts, `["2026-11-24T10:00:00"]`, `[<nil>]`, []int{0}},
		{"string to binary: never", str, arrow.BinaryTypes.Binary, `["x"]`, `[<nil>]`, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fromJSON(t, tc.from, tc.in)
			defer src.Release()
			out, failed := convertArray(src, tc.to)
			defer out.Release()
			if !arrow.TypeEqual(out.DataType(), tc.to) {
				t.Fatalf("type %s, want %s", out.DataType(), tc.to)
			}
			var got []any
			for i := range out.Len() {
				got = append(got, table.Value(out, i))
			}
			if fmt.Sprint(got) != tc.want || !slices.Equal(failed, tc.failed) {
				t.Fatalf("got %v failed %v, want %s failed %v", got, failed, tc.want, tc.failed)
			}
			if alwaysConverts(tc.from, tc.to) && len(failed) > 0 {
				t.Fatalf("alwaysConverts(%s, %s) but values failed", tc.from, tc.to)
			}
		})
	}
	for _, c := range []struct {
		from, to arrow.DataType
		want     bool
	}{
		{i32, i64, true}, {i64, i32, false}, {f32, f64, true}, {i32, f64, true}, {i64, f64, false},
		{date, ntz, true}, {date, ts, false}, {str, i64, false}, {i64, str, false},
	} {
		if got := alwaysConverts(c.from, c.to); got != c.want {
			t.Errorf("alwaysConverts(%s, %s) = %v", c.from, c.to, got)
		}
	}
}

// TestRescuedMerge: rescued values join the source's own _rescued_data
// object; a clash of keys or a value that is no object keeps the source's
// whole under "_rescued_data"; nothing is overwritten.
func TestRescuedMerge(t *testing.T) {
	code := fromJSON(t, arrow.PrimitiveTypes.Float64, `[1.5, 2, null, 4]`)
	defer code.Release()
	src := fromJSON(t, arrow.BinaryTypes.String, `["{\"x\":1,\"_file\":\"a.json\"}", "{\"code\":\"bad\"}", null, "not json"]`).(*array.String)
	defer src.Release()
	var r rescuer
	for _, row := range []int{0, 1, 3} {
		r.add(row, "code", code)
	}
	out, n := r.build(4, src)
	defer out.Release()
	want := []any{`{"x":1,"_file":"a.json","code":1.5}`, `{"_rescued_data":{"code":"bad"},"code":2}`, nil,
		`{"_rescued_data":"not json","code":4}`}
	for i := range 4 {
		if got := table.Value(out, i); got != want[i] {
			t.Errorf("row %d: %v, want %v", i, got, want[i])
		}
	}
	if n != 3 {
		t.Errorf("rescued rows %d, want 3", n)
	}
}

// TestRescuedValuesAsJSON: values JSON lacks (NaN, infinities) are kept as
// text; nested values as objects and arrays.
func TestRescuedValuesAsJSON(t *testing.T) {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.AppendValues([]float64{math.NaN(), math.Inf(-1)}, nil)
	special := b.NewArray()
	b.Release()
	defer special.Release()
	st := fromJSON(t, arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "l", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true}), `[{"a": 1, "l": ["x"]}, null]`)
	defer st.Release()
	var r rescuer
	r.add(0, "f", special)
	r.add(0, "s", st)
	r.add(1, "f", special)
	out, _ := r.build(2, nil)
	defer out.Release()
	for i, want := range []string{`{"f":"NaN","s":{"a":1,"l":["x"]}}`, `{"f":"-Inf"}`} {
		if got := table.Value(out, i); got != want {
			t.Errorf("row %d: %v, want %s", i, got, want)
		}
	}
}
