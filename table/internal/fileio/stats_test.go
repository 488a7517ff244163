package fileio_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table/internal/fileio"
)

// From delta-1.2.1-only-struct-stats (written by Spark).
const sparkStats = `{"numRecords":1,"minValues":{"integer":0,"double":1.234,"decimal":-5.67800,"string":"string","date":"2022-10-24","timestamp":"2022-10-24T22:59:32.846Z","struct":{"struct_element":"struct_value"},"nested_struct":{"struct_element":{"nested_struct_element":"nested_struct_value"}}},"maxValues":{"integer":0,"double":1.234,"decimal":-5.67800,"string":"string","date":"2022-10-24","timestamp":"2022-10-24T22:59:32.846Z","struct":{"struct_element":"struct_value"},"nested_struct":{"struct_element":{"nested_struct_element":"nested_struct_value"}}},"nullCount":{"integer":0,"double":0,"decimal":0,"string":0,"date":0,"timestamp":0,"struct":{"struct_element":0},"nested_struct":{"struct_element":{"nested_struct_element":0}},"array":1}}`

func TestParseStatsAbsent(t *testing.T) {
	for _, in := range []string{"", "  ", "null", `{"minValues":{}}`} {
		s, err := fileio.ParseStats(in)
		if err != nil || s != nil {
			t.Errorf("ParseStats(%q) = %v, %v; want nil, nil", in, s, err)
		}
	}
	for _, in := range []string{"{", `{"numRecords":"x"}`, `{"numRecords":-1}`, `[1]`} {
		if _, err := fileio.ParseStats(in); !errors.Is(err, fileio.ErrStats) {
			t.Errorf("ParseStats(%q) err = %v, want ErrStats", in, err)
		}
	}
}

func TestParseStatsSpark(t *testing.T) {
	s, err := fileio.ParseStats(sparkStats)
	if err != nil {
		t.Fatal(err)
	}
	if s.NumRecords != 1 {
		t.Errorf("NumRecords = %d", s.NumRecords)
	}
	tests := []struct {
		path []string
		typ  fileio.DataType
		want any
	}{
		{[]string{"integer"}, fileio.TypeInteger, int64(0)},
		{[]string{"double"}, fileio.TypeDouble, 1.234},
		{[]string{"decimal"}, fileio.DecimalType{Precision: 8, Scale: 5}, decimal128.FromI64(-567800)},
		{[]string{"string"}, fileio.TypeString, "string"},
		{[]string{"date"}, fileio.TypeDate, time.Date(2022, 10, 24, 0, 0, 0, 0, time.UTC)},
		{[]string{"timestamp"}, fileio.TypeTimestamp, time.Date(2022, 10, 24, 22, 59, 32, 846e6, time.UTC)},
		{[]string{"struct", "struct_element"}, fileio.TypeString, "struct_value"},
		{[]string{"nested_struct", "struct_element", "nested_struct_element"}, fileio.TypeString, "nested_struct_value"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.path, "."), func(t *testing.T) {
			for _, get := range []func(...string) (any, bool){s.Min, s.Max} {
				raw, ok := get(tc.path...)
				if !ok {
					t.Fatal("no value")
				}
				v, err := fileio.StatValue(raw, tc.typ)
				if err != nil {
					t.Fatal(err)
				}
				if tm, ok := v.(time.Time); ok {
					if !tm.Equal(tc.want.(time.Time)) {
						t.Errorf("got %v, want %v", tm, tc.want)
					}
				} else if v != tc.want {
					t.Errorf("got %#v, want %#v", v, tc.want)
				}
			}
			if n, ok := s.Nulls(tc.path...); !ok || n != 0 {
				t.Errorf("Nulls = %d, %v", n, ok)
			}
		})
	}
	if n, ok := s.Nulls("array"); !ok || n != 1 {
		t.Errorf(`Nulls("array") = %d, %v; want 1`, n, ok)
	}
	if _, ok := s.Min("struct"); ok {
		t.Error("Min of a struct must not be a leaf value")
	}
	if _, ok := s.Min("absent"); ok {
		t.Error("Min of an absent column")
	}
	// JSON() keeps the exact numbers (decimal scale included).
	back, err := fileio.ParseStats(s.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := back.Min("decimal"); raw != json.Number("-5.67800") {
		t.Errorf("decimal after round trip = %v", raw)
	}
	if back.JSON() != s.JSON() {
		t.Errorf("JSON round trip differs:\n%s\n%s", back.JSON(), s.JSON())
	}
}

// writeStats writes rec through a FileWriter and returns its statistics.
func writeStats(t *testing.T, rec arrow.Record) *fileio.Stats {
	t.Helper()
	_, st, err := writeRecords(t, rec.Schema(), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestWriterStats(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	inner := arrow.StructOf(
		arrow.Field{Name: "code", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "path", Type: arrow.BinaryTypes.String, Nullable: true},
	)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: ts, Nullable: true},
		{Name: "day", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "nanf", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "long", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 2}, Nullable: true},
		{Name: "raw", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "req", Type: inner, Nullable: true},
		{Name: "allnull", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, sch)
	defer rb.Release()

	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).UnixMicro()
	long1 := strings.Repeat("a", 40)
	long2 := strings.Repeat("b", 31) + "c" + "zzz" // longest, truncated to 32 chars
	rb.Field(0).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(base + 123456), arrow.Timestamp(base + 999), 0}, []bool{true, true, false})
	rb.Field(1).(*array.Date32Builder).AppendValues([]arrow.Date32{20781, 20700, 20800}, nil)
	rb.Field(2).(*array.Int64Builder).AppendValues([]int64{5, -3, 1 << 60}, []bool{true, true, true})
	rb.Field(3).(*array.Float64Builder).AppendValues([]float64{1.5, -2.25, 0}, []bool{true, true, false})
	rb.Field(4).(*array.Float64Builder).AppendValues([]float64{1, math.NaN(), 2}, nil)
	rb.Field(5).(*array.BooleanBuilder).AppendValues([]bool{false, false, true}, []bool{true, true, false})
	rb.Field(6).(*array.StringBuilder).AppendValues([]string{"info", "error", "warn"}, nil)
	rb.Field(7).(*array.StringBuilder).AppendValues([]string{long1, long2, "b"}, nil)
	rb.Field(8).(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(1999), decimal128.FromI64(-5), decimal128.FromI64(10)}, nil)
	rb.Field(9).(*array.BinaryBuilder).AppendValues([][]byte{{1}, nil, {3}}, []bool{true, false, true})
	lb := rb.Field(10).(*array.ListBuilder)
	lb.Append(true)
	lb.ValueBuilder().(*array.StringBuilder).Append("x")
	lb.AppendNull()
	lb.Append(true)
	// Column 11 is built by hand below: a builder would null the children of a
	// null struct row, and files from other writers may not.
	rb.Field(11).AppendNulls(3)
	rb.Field(12).AppendNulls(3)
	built := rb.NewRecordBatch()
	defer built.Release()
	codeB := array.NewInt32Builder(mem)
	codeB.AppendValues([]int32{200, -999, 503}, nil)
	code := codeB.NewArray()
	codeB.Release()
	defer code.Release()
	pathB := array.NewStringBuilder(mem)
	pathB.AppendValues([]string{"/a", "/zzz", ""}, []bool{true, true, false})
	path := pathB.NewArray()
	pathB.Release()
	defer path.Release()
	valid := memory.NewBufferBytes([]byte{0b101})
	req, err := array.NewStructArrayWithNulls([]arrow.Array{code, path}, []string{"code", "path"}, valid, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Release()
	cols := append([]arrow.Array(nil), built.Columns()...)
	cols[11] = req
	rec := array.NewRecordBatch(sch, cols, 3)
	defer rec.Release()

	st := writeStats(t, rec)
	if st.NumRecords != 3 {
		t.Errorf("NumRecords = %d", st.NumRecords)
	}
	tests := []struct {
		path     string
		min, max any // nil: absent
		nulls    int64
	}{
		{"ts", "2026-11-24T10:00:00.000Z", "2026-11-24T10:00:00.124Z", 1}, // min floored, max ceiled
		{"day", "2026-09-04", "2026-12-13", 0},
		{"n", json.Number("-3"), json.Number("1152921504606846976"), 0},
		{"f", json.Number("-2.25"), json.Number("1.5"), 1},
		{"nanf", nil, nil, 0},
		{"ok", false, false, 1},
		{"s", "error", "warn", 0},
		{"long", strings.Repeat("a", 32), strings.Repeat("b", 31) + "c" + "\U0010FFFF", 0},
		{"amount", json.Number("-0.05"), json.Number("19.99"), 0},
		{"raw", nil, nil, 1},
		{"tags", nil, nil, 1},
		{"req.code", json.Number("200"), json.Number("503"), 1},
		{"req.path", "/a", "/a", 2},
		{"allnull", nil, nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			p := strings.Split(tc.path, ".")
			mn, okMin := st.Min(p...)
			mx, okMax := st.Max(p...)
			if tc.min == nil {
				if okMin || okMax {
					t.Errorf("min/max = %v/%v, want absent", mn, mx)
				}
			} else if mn != tc.min || mx != tc.max {
				t.Errorf("min/max = %#v/%#v, want %#v/%#v", mn, mx, tc.min, tc.max)
			}
			if n, ok := st.Nulls(p...); !ok || n != tc.nulls {
				t.Errorf("nulls = %d (%v), want %d", n, ok, tc.nulls)
			}
		})
	}
	// The string bounds must bound the real values.
	for _, v := range []string{long1, long2, "b"} {
		mn, _ := st.Min("long")
		mx, _ := st.Max("long")
		if v < mn.(string) || v > mx.(string) {
			t.Errorf("%q outside [%q, %q]", v, mn, mx)
		}
	}
	// The JSON is what Delta readers parse.
	back, err := fileio.ParseStats(st.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if back.JSON() != st.JSON() {
		t.Errorf("stats JSON does not round-trip:\n%s\n%s", back.JSON(), st.JSON())
	}
	if !strings.Contains(st.JSON(), `"req":{"code":200,"path":"/a"}`) {
		t.Errorf("nested struct min missing from %s", st.JSON())
	}
}

func TestWriterStatsMaxRuneTieBreak(t *testing.T) {
	mem := memory.NewGoAllocator()
	sch := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	rb := array.NewRecordBuilder(mem, sch)
	defer rb.Release()
	// The 33rd character is U+10FFFF: appending it to the prefix would not
	// be an upper bound, so no max is written.
	rb.Field(0).(*array.StringBuilder).AppendValues([]string{strings.Repeat("x", 32) + "\U0010FFFF\U0010FFFF", "a"}, nil)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	st := writeStats(t, rec)
	if v, ok := st.Max("s"); ok {
		t.Errorf("max = %q, want absent", v)
	}
	if n, ok := st.Nulls("s"); !ok || n != 0 {
		t.Errorf("nulls = %d, %v", n, ok)
	}
}

func FuzzParseStats(f *testing.F) {
	f.Add(sparkStats)
	f.Add(`{"numRecords":0}`)
	f.Add(`{"numRecords":3,"minValues":{"a":{"b":1e400}},"nullCount":{"a":"x"},"tightBounds":true}`)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := fileio.ParseStats(in)
		if err != nil {
			if !errors.Is(err, fileio.ErrStats) {
				t.Fatalf("error %v is not ErrStats", err)
			}
			return
		}
		if s == nil {
			return
		}
		back, err := fileio.ParseStats(s.JSON())
		if err != nil || back == nil || back.NumRecords != s.NumRecords {
			t.Fatalf("JSON() %s does not parse back: %v", s.JSON(), err)
		}
		for k := range s.MinValues {
			s.Min(k)
			s.Nulls(k)
		}
	})
}
