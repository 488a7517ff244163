package expr_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table/expr"
)

var attrsType = arrow.StructOf(
	arrow.Field{Name: "status", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	arrow.Field{Name: "user", Type: arrow.BinaryTypes.String, Nullable: true},
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "ds", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "tss", Type: &arrow.TimestampType{Unit: arrow.Second}, Nullable: true},
	{Name: "attrs", Type: attrsType, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
}, nil)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func day(s string) arrow.Date32 { return arrow.Date32FromTime(mustTime(s + "T00:00:00Z")) }

// testRecord builds six rows; row 2 is null in every nullable column.
func testRecord(t testing.TB) arrow.RecordBatch {
	mem := memory.NewGoAllocator()
	rb := array.NewRecordBuilder(mem, testSchema)
	t.Cleanup(rb.Release)
	const null = "NULL"
	rb.Field(0).(*array.Int64Builder).AppendValues([]int64{0, 1, 2, 3, 4, 5}, nil)
	valid := []bool{true, true, false, true, true, true}
	rb.Field(1).(*array.Int64Builder).AppendValues([]int64{1, 2, 0, 4, 5, -1}, valid)
	rb.Field(2).(*array.Int8Builder).AppendValues([]int8{-128, 0, 5, 127, 0, 3}, []bool{true, true, true, true, false, true})
	rb.Field(3).(*array.Uint32Builder).AppendValues([]uint32{0, 10, 4000000000, 0, 7, 10}, []bool{true, true, true, false, true, true})
	rb.Field(4).(*array.Float64Builder).AppendValues([]float64{1.5, math.NaN(), 0, math.Copysign(0, -1), 2, math.Inf(1)}, valid)
	rb.Field(5).(*array.Float32Builder).AppendValues([]float32{0.1, 0.5, 0, 1, 2, 3}, valid)
	strs := []string{"apple", "banana", "", "cherry", "apple pie", ""}
	rb.Field(6).(*array.StringBuilder).AppendValues(strs, valid)
	rb.Field(7).(*array.LargeStringBuilder).AppendValues(strs, valid)
	db := rb.Field(8).(*array.BinaryDictionaryBuilder)
	for _, v := range []string{"x", "y", null, "x", "z", "y"} {
		if v == null {
			db.AppendNull()
		} else if err := db.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	rb.Field(9).(*array.BooleanBuilder).AppendValues([]bool{true, false, false, true, true, false}, valid)
	rb.Field(10).(*array.Date32Builder).AppendValues([]arrow.Date32{
		day("2026-11-23"), day("2026-11-24"), 0, day("2026-11-25"), day("2026-11-24"), day("1970-01-01")}, valid)
	var ts []arrow.Timestamp
	for _, s := range []string{"2026-11-24T09:59:59.999999Z", "2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z",
		"2026-11-24T10:00:00.000001Z", "2026-11-25T00:00:00Z", "2026-11-23T23:59:59Z"} {
		ts = append(ts, arrow.Timestamp(mustTime(s).UnixMicro()))
	}
	rb.Field(11).(*array.TimestampBuilder).AppendValues(ts, valid)
	var tss []arrow.Timestamp
	for _, s := range []string{"10:00:00", "10:00:01", "10:00:00", "10:00:02", "10:00:03", "09:59:59"} {
		tss = append(tss, arrow.Timestamp(mustTime("2026-11-24T"+s+"Z").Unix()))
	}
	rb.Field(12).(*array.TimestampBuilder).AppendValues(tss, valid)
	sb := rb.Field(13).(*array.StructBuilder)
	status := sb.FieldBuilder(0).(*array.Int32Builder)
	user := sb.FieldBuilder(1).(*array.StringBuilder)
	for _, r := range []struct {
		null     bool
		status   int32
		user     string
		noStatus bool
		noUser   bool
	}{{status: 500, user: "bob"}, {status: 200, user: "amy"}, {null: true}, {noStatus: true, user: "x"}, {status: 404, noUser: true}, {status: 500, user: "amy"}} {
		if r.null {
			sb.AppendNull()
			continue
		}
		sb.Append(true)
		if r.noStatus {
			status.AppendNull()
		} else {
			status.Append(r.status)
		}
		if r.noUser {
			user.AppendNull()
		} else {
			user.Append(r.user)
		}
	}
	rb.Field(14).(*array.BinaryBuilder).AppendValues([][]byte{{1}, {2}, nil, {3}, {4}, {5}}, valid)
	rec := rb.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}

func ids(rec arrow.RecordBatch) []int64 {
	out := []int64{}
	for _, v := range rec.Column(0).(*array.Int64).Int64Values() {
		out = append(out, v)
	}
	return out
}

func TestFilter(t *testing.T) {
	rec := testRecord(t)
	tests := []struct {
		where string
		want  []int64
	}{
		{"i > 1", []int64{1, 3, 4}},
		{"NOT i > 1", []int64{0, 5}},
		{"TRUE", []int64{0, 1, 2, 3, 4, 5}},
		{"FALSE", nil},
		{"NOT FALSE", []int64{0, 1, 2, 3, 4, 5}},
		{"NOT TRUE OR i = 1", []int64{0}},
		{"TRUE AND i IS NULL", []int64{2}},
		{"1 < i", []int64{1, 3, 4}},
		{"i = NULL", nil},
		{"NOT (i = NULL)", nil},
		{"i IS NULL", []int64{2}},
		{"i IS NOT NULL", []int64{0, 1, 3, 4, 5}},
		{"NOT i IS NULL", []int64{0, 1, 3, 4, 5}},
		{"i IN (1, 4)", []int64{0, 3}},
		{"i NOT IN (1, 4)", []int64{1, 4, 5}},
		{"NOT i IN (1, 4)", []int64{1, 4, 5}},
		{"i IN (1, NULL)", []int64{0}},
		{"i NOT IN (1, NULL)", nil},
		{"i IN (0, 1, 2, 3, 4, 6, 7, 8, 9, 10)", []int64{0, 1, 3}},
		{"i < 2.5", []int64{0, 1, 5}},
		{"i > 2.5", []int64{3, 4}},
		{"i = 2.0", []int64{1}},
		{"i = 2.5", nil},
		{"i != 2.5", []int64{0, 1, 3, 4, 5}},
		{"i = '4'", []int64{3}},
		{"i >= -9223372036854775808", []int64{0, 1, 3, 4, 5}},
		{"i < 1e300", []int64{0, 1, 3, 4, 5}},
		{"i8 < 1000", []int64{0, 1, 2, 3, 5}},
		{"i8 >= -200", []int64{0, 1, 2, 3, 5}},
		{"i8 > 127", nil},
		{"i8 = 127", []int64{3}},
		{"i8 <= -128", []int64{0}},
		{"u > 5", []int64{1, 2, 4, 5}},
		{"u > -1", []int64{0, 1, 2, 4, 5}},
		{"u < 0", nil},
		{"u = 4000000000", []int64{2}},
		{"u < 4294967296", []int64{0, 1, 2, 4, 5}},
		{"u IN (10, 7)", []int64{1, 4, 5}},
		{"f > 1", []int64{0, 1, 4, 5}},
		{"f < 100", []int64{0, 3, 4}},
		{"NOT f < 100", []int64{1, 5}},
		{"f = 0", []int64{3}},
		{"f = 'NaN'", []int64{1}},
		{"f >= 'NaN'", []int64{1}},
		{"f < 'NaN'", []int64{0, 3, 4, 5}},
		{"f != 1.5", []int64{1, 3, 4, 5}},
		{"f IN (2, 'NaN')", []int64{1, 4}},
		{"f32 = 0.1", []int64{0}},
		{"f32 > 0.1", []int64{1, 3, 4, 5}},
		{"f32 <= 0.1", []int64{0}},
		{"f32 < 0.5", []int64{0}},
		{"s = 'apple'", []int64{0}},
		{"s >= 'b'", []int64{1, 3}},
		{"s = ''", []int64{5}},
		{"s LIKE 'apple%'", []int64{0, 4}},
		{"s NOT LIKE 'apple%'", []int64{1, 3, 5}},
		{"s LIKE '%an%'", []int64{1}},
		{"s LIKE '%ie'", []int64{4}},
		{"s LIKE '_pple'", []int64{0}},
		{"s LIKE 'a%e'", []int64{0, 4}},
		{"s LIKE 'b%n%a'", []int64{1}},
		{"s LIKE ''", []int64{5}},
		{"s LIKE '%'", []int64{0, 1, 3, 4, 5}},
		{"s IN ('apple', 'cherry')", []int64{0, 3}},
		{"ls = 'apple' OR ls > 'c'", []int64{0, 3}},
		{"ls LIKE '%p%'", []int64{0, 4}},
		{"ds = 'x'", []int64{0, 3}},
		{"ds != 'x'", []int64{1, 4, 5}},
		{"ds IS NULL", []int64{2}},
		{"ds IN ('y', 'z')", []int64{1, 4, 5}},
		{"ds NOT IN ('y', 'z')", []int64{0, 3}},
		{"ds LIKE 'y'", []int64{1, 5}},
		{"b", []int64{0, 3, 4}},
		{"NOT b", []int64{1, 5}},
		{"b = false", []int64{1, 5}},
		{"b != true", []int64{1, 5}},
		{"b IS NULL", []int64{2}},
		{"b IN (TRUE)", []int64{0, 3, 4}},
		{"d = '2026-11-24'", []int64{1, 4}},
		{"d > '2026-11-24'", []int64{3}},
		{"d < '2026-11-24T12:00:00Z'", []int64{0, 1, 4, 5}},
		{"d = '2026-11-24T12:00:00Z'", nil},
		{"d >= '2026-11-24T12:00:00Z'", []int64{3}},
		{"ts >= '2026-11-24T10:00:00Z'", []int64{1, 3, 4}},
		{"ts < '2026-11-24 10:00:00'", []int64{0, 5}},
		{"ts > '2026-11-24T11:00:00+01:00'", []int64{3, 4}},
		{"ts >= '2026-11-24'", []int64{0, 1, 3, 4}},
		{"ts = '2026-11-24T10:00:00.0000005Z'", nil},
		{"ts < '2026-11-24T10:00:00.0000005Z'", []int64{0, 1, 5}},
		{"tss > '2026-11-24T10:00:01.5Z'", []int64{3, 4}},
		{"tss <= '2026-11-24T10:00:01.5Z'", []int64{0, 1, 5}},
		{"tss = '2026-11-24 10:00:01'", []int64{1}},
		{"attrs.status = 500", []int64{0, 5}},
		{"attrs.status IS NULL", []int64{2, 3}},
		{"attrs.user = 'amy'", []int64{1, 5}},
		{"attrs.user IS NOT NULL", []int64{0, 1, 3, 5}},
		{"i > 1 OR i IS NULL", []int64{1, 2, 3, 4}},
		{"NOT (i > 1 AND s LIKE 'b%')", []int64{0, 3, 4, 5}},
		{"i > 1 OR s = 'x'", []int64{1, 3, 4}},
		{"b OR i IS NULL", []int64{0, 2, 3, 4}},
		{"NOT (b OR i > 3)", []int64{1, 5}},
		{"(i > 0 AND i < 5) AND NOT ds = 'y'", []int64{0, 3}},
		{"id >= 0", []int64{0, 1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			e, err := expr.Parse(tt.where)
			if err != nil {
				t.Fatal(err)
			}
			p, err := expr.Bind(e, testSchema)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Filter(rec)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			want := tt.want
			if want == nil {
				want = []int64{}
			}
			if got := ids(out); !reflect.DeepEqual(got, want) {
				t.Errorf("rows = %v, want %v", got, want)
			}
			if !out.Schema().Equal(rec.Schema()) || out.NumCols() != rec.NumCols() {
				t.Errorf("schema changed: %v", out.Schema())
			}
			mask, err := p.Mask(rec)
			if err != nil {
				t.Fatal(err)
			}
			var fromMask []int64 = []int64{}
			for i, m := range mask {
				if m {
					fromMask = append(fromMask, int64(i))
				}
			}
			if !reflect.DeepEqual(fromMask, want) {
				t.Errorf("Mask rows = %v, want %v", fromMask, want)
			}
		})
	}
}

func TestFilterSliced(t *testing.T) {
	rec := testRecord(t).NewSlice(1, 6)
	defer rec.Release()
	for _, tt := range []struct {
		where string
		want  []int64
	}{
		{"i > 1", []int64{1, 3, 4}},
		{"i IS NULL", []int64{2}},
		{"ds = 'y'", []int64{1, 5}},
		{"attrs.status IS NULL", []int64{2, 3}},
		{"s LIKE '%e%'", []int64{3, 4}},
	} {
		p := mustBind(t, tt.where, testSchema)
		out, err := p.Filter(rec)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(out); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s on slice: rows = %v, want %v", tt.where, got, tt.want)
		}
		out.Release()
	}
}

func mustBind(t testing.TB, where string, sch *arrow.Schema) *expr.Predicate {
	t.Helper()
	e, err := expr.Parse(where)
	if err != nil {
		t.Fatal(err)
	}
	p, err := expr.Bind(e, sch)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFilterRecordMismatch(t *testing.T) {
	p := mustBind(t, "i > 1", testSchema)
	other := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewStringBuilder(memory.NewGoAllocator())
	b.Append("x")
	arr := b.NewArray()
	rec := array.NewRecordBatch(other, []arrow.Array{arr}, 1)
	defer rec.Release()
	arr.Release()
	if _, err := p.Filter(rec); !errors.Is(err, expr.ErrType) {
		t.Errorf("Filter on a record with another type: err = %v, want ErrType", err)
	}
	missing := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)
	if _, err := p.Filter(missing); !errors.Is(err, expr.ErrUnknownColumn) {
		t.Errorf("Filter on a record without the column: err = %v, want ErrUnknownColumn", err)
	}
}

func TestBindErrors(t *testing.T) {
	tests := []struct {
		where string
		want  error
	}{
		{"nope = 1", expr.ErrUnknownColumn},
		{"attrs.nope = 1", expr.ErrUnknownColumn},
		{"i.x = 1", expr.ErrUnknownColumn},
		{"nope IS NULL", expr.ErrUnknownColumn},
		{"i = 'abc'", expr.ErrType},
		{"i = true", expr.ErrType},
		{"i", expr.ErrType},
		{"s", expr.ErrType},
		{"s = 1", expr.ErrType},
		{"b = 1", expr.ErrType},
		{"b = 'true'", expr.ErrType},
		{"d = 5", expr.ErrType},
		{"d = 'yesterday'", expr.ErrType},
		{"ts = 'x'", expr.ErrType},
		{"ts = 1700000000", expr.ErrType},
		{"i LIKE 'a%'", expr.ErrType},
		{"f = true", expr.ErrType},
		{"u = 'x'", expr.ErrType},
		{"s IN ('a', 1)", expr.ErrType},
		{"bin = 'x'", expr.ErrType},
		{"attrs = 1", expr.ErrType},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			e, err := expr.Parse(tt.where)
			if err != nil {
				t.Fatal(err)
			}
			_, err = expr.Bind(e, testSchema)
			if !errors.Is(err, tt.want) {
				t.Errorf("Bind err = %v, want %v", err, tt.want)
			}
		})
	}
	for _, ok := range []string{"i = '5'", "ts = NULL", "s = NULL", "I > 1", "f = 'Infinity'", "bin IS NULL"} {
		e, err := expr.Parse(ok)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := expr.Bind(e, testSchema); err != nil {
			t.Errorf("Bind(%q): %v", ok, err)
		}
	}
}

func TestBindErrorMessage(t *testing.T) {
	e, _ := expr.Parse("d = 'yesterday'")
	_, err := expr.Bind(e, testSchema)
	want := "expr: type mismatch: 'yesterday' is not a date ('2006-01-02') (column d): d = 'yesterday'"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// benchRecord builds n log-like rows.
func benchRecord(b *testing.B, n int) arrow.RecordBatch {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "level", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}},
		{Name: "status", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "egress_approved", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "msg", Type: arrow.BinaryTypes.String},
	}, nil)
	rb := array.NewRecordBuilder(memory.NewGoAllocator(), sch)
	defer rb.Release()
	levels := []string{"debug", "info", "warn", "error"}
	base := mustTime("2026-11-24T00:00:00Z").UnixMicro()
	for i := range n {
		rb.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000))
		_ = rb.Field(1).(*array.BinaryDictionaryBuilder).AppendString(levels[(i*7)%4])
		if i%10 == 0 {
			rb.Field(2).AppendNull()
		} else {
			rb.Field(2).(*array.Int32Builder).Append(int32(200 + (i*31)%400))
		}
		rb.Field(3).(*array.BooleanBuilder).Append(i%3 != 0)
		rb.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("request %d done", i%1000))
	}
	return rb.NewRecordBatch()
}

func BenchmarkFilter(b *testing.B) {
	const n = 1 << 20
	rec := benchRecord(b, n)
	defer rec.Release()
	for _, where := range []string{
		"egress_approved = true",
		"egress_approved AND status >= 500 AND level IN ('warn', 'error')",
		"ts >= '2026-11-24T00:10:00Z' AND msg LIKE 'request 1%'",
	} {
		p := mustBind(b, where, rec.Schema())
		b.Run(where, func(b *testing.B) {
			var kept int64
			for b.Loop() {
				out, err := p.Filter(rec)
				if err != nil {
					b.Fatal(err)
				}
				kept = out.NumRows()
				out.Release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
			b.ReportMetric(float64(kept), "kept")
		})
		b.Run("mask/"+where, func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Count(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/row")
		})
	}
}

// TestFilterMatchesCompute checks the hand-written gather against arrow's
// filter kernel on every column type of the test record, sliced and not.
func TestFilterMatchesCompute(t *testing.T) {
	full := testRecord(t)
	sliced := full.NewSlice(1, 6)
	defer sliced.Release()
	for _, rec := range []arrow.RecordBatch{full, sliced} {
		for _, where := range []string{"i > 1", "i IS NULL OR b", "ds != 'x'", "s LIKE '%'", "id < 0"} {
			p := mustBind(t, where, testSchema)
			got, err := p.Filter(rec)
			if err != nil {
				t.Fatal(err)
			}
			mask, _ := p.Mask(rec)
			mb := array.NewBooleanBuilder(memory.NewGoAllocator())
			mb.AppendValues(mask, nil)
			marr := mb.NewBooleanArray()
			want, err := compute.FilterRecordBatch(context.Background(), rec, marr, compute.DefaultFilterOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got.NumRows() != want.NumRows() {
				t.Fatalf("%s: %d rows, compute kept %d", where, got.NumRows(), want.NumRows())
			}
			for c := range int(got.NumCols()) {
				if !array.ApproxEqual(got.Column(c), want.Column(c), array.WithNaNsEqual(true)) {
					t.Errorf("%s (offset %d): column %s differs: %v vs %v", where,
						rec.Column(0).Data().Offset(), got.ColumnName(c), got.Column(c), want.Column(c))
				}
			}
			got.Release()
			want.Release()
			marr.Release()
		}
	}
}

// Literals compare exactly with integer columns (a float64 reads
// 9007199254740993.5 as an integer, -9223372036854775809 as MinInt64), a
// float32 column's +Inf stays above any finite literal, and statistics
// past 2^53, which a float64 cannot hold exactly, do not prune.
func TestLiteralPrecision(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "u", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{9007199254740993, 9007199254740994, math.MaxInt64, math.MinInt64}, nil)
	b.Field(1).(*array.Uint64Builder).AppendValues([]uint64{1 << 53, 1<<53 + 1, math.MaxUint64, 0}, nil)
	b.Field(2).(*array.Float32Builder).AppendValues([]float32{float32(math.Inf(1)), math.MaxFloat32, 0.1, float32(math.Inf(-1))}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	stats := `{"numRecords": 4, "minValues": {"i": -9223372036854775808, "u": 0, "f": "-Infinity"},
		"maxValues": {"i": 9223372036854775807, "u": 18446744073709551615, "f": "Infinity"},
		"nullCount": {"i": 0, "u": 0, "f": 0}}`
	oneRow := `{"numRecords": 1, "minValues": {"i": 9007199254740993, "u": 9007199254740993},
		"maxValues": {"i": 9007199254740993, "u": 9007199254740993}, "nullCount": {"i": 0, "u": 0}}`
	for _, c := range []struct {
		where string
		want  int
	}{
		{"i = 9007199254740993.5", 0},
		{"i <= 9007199254740993.5", 2}, // 9007199254740993 and MinInt64
		{"i > 9223372036854775806.5", 1},
		{"i = -9223372036854775809", 0},
		{"i > -9223372036854775809", 4},
		{"i < 1e30", 4},
		{"i > -1e-500", 3},
		{"u > 18446744073709551614.5", 1},
		{"u = 9007199254740992.5", 0},
		{"u >= 9007199254740992.5", 2},
		{"f > 3.5e38", 1},
		{"f > 1e300", 1},
		{"f = 1e39", 0},
		{"f != 1e39", 4},
		{"f < -1e300", 1},
		{"f = 0.1", 1},
	} {
		e, err := expr.Parse(c.where)
		if err != nil {
			t.Fatalf("%s: %v", c.where, err)
		}
		p, err := expr.Bind(e, sch)
		if err != nil {
			t.Fatalf("%s: %v", c.where, err)
		}
		if n, err := p.Count(rec); err != nil || n != c.want {
			t.Errorf("%s: %d rows (%v), want %d", c.where, n, err, c.want)
		}
		if c.want > 0 && !p.MayMatch(statsFile(t, nil, stats)) {
			t.Errorf("%s: pruned a file with %d matching rows", c.where, c.want)
		}
	}
	for _, where := range []string{"i = 9007199254740993", "i > 9007199254740992", "i >= 9007199254740993",
		"u = 9007199254740993", "u > 9007199254740992"} {
		e, _ := expr.Parse(where)
		p, err := expr.Bind(e, sch)
		if err != nil {
			t.Fatal(err)
		}
		if !p.MayMatch(statsFile(t, nil, oneRow)) {
			t.Errorf("%s: pruned the file whose only row is 9007199254740993", where)
		}
	}
}

// A column the schema lacks (one the table gained later) is NULL in every
// row under BindMissingNull, with SQL's three-valued logic; Bind refuses it.
func TestBindMissingNull(t *testing.T) {
	rec := testRecord(t)
	all := []int64{0, 1, 2, 3, 4, 5}
	for _, tt := range []struct {
		where string
		want  []int64
	}{
		{"tenant = 'a'", nil},
		{"NOT tenant = 'a'", nil},
		{"tenant != 'a'", nil},
		{"tenant IN ('a', 'b')", nil},
		{"tenant NOT IN ('a')", nil},
		{"tenant LIKE 'a%'", nil},
		{"tenant NOT LIKE 'a%'", nil},
		{"tenant", nil},
		{"NOT tenant", nil},
		{"tenant IS NULL", all},
		{"tenant IS NOT NULL", nil},
		{"NOT tenant IS NULL", nil},
		{"tenant = 'a' OR i = 1", []int64{0}},
		{"NOT (tenant = 'a' AND i = 1)", []int64{1, 3, 4, 5}}, // NULL AND FALSE is FALSE
		{"tenant.deep.field = 1 OR s = 'apple'", []int64{0}},
		{"i > 1 AND tenant IS NULL", []int64{1, 3, 4}},
	} {
		e, err := expr.Parse(tt.where)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := expr.Bind(e, testSchema); !errors.Is(err, expr.ErrUnknownColumn) {
			t.Errorf("Bind(%s): %v, want ErrUnknownColumn", tt.where, err)
		}
		p, err := expr.BindMissingNull(e, testSchema)
		if err != nil {
			t.Fatalf("BindMissingNull(%s): %v", tt.where, err)
		}
		mask, err := p.Mask(rec)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i, m := range mask {
			if m {
				got = append(got, int64(i))
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: rows %v, want %v", tt.where, got, tt.want)
		}
		if slices.Contains(p.Columns(), "tenant") {
			t.Errorf("%s: Columns() = %v lists the missing column", tt.where, p.Columns())
		}
	}
}
