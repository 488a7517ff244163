package fileio_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table/internal/fileio"
)

func strp(s string) *string { return &s }

func TestPartitionPath(t *testing.T) {
	tests := []struct {
		name   string
		cols   []string
		values map[string]*string
		want   string
	}{
		{"date", []string{"date"}, map[string]*string{"date": strp("2026-11-24")}, "date=2026-11-24/"},
		{"two columns in order", []string{"date", "region"}, map[string]*string{"region": strp("eu-west-1"), "date": strp("2026-11-24")}, "date=2026-11-24/region=eu-west-1/"},
		{"null", []string{"k"}, map[string]*string{"k": nil}, "k=__HIVE_DEFAULT_PARTITION__/"},
		{"missing is null", []string{"k"}, map[string]*string{}, "k=__HIVE_DEFAULT_PARTITION__/"},
		{"empty is null", []string{"k"}, map[string]*string{"k": strp("")}, "k=__HIVE_DEFAULT_PARTITION__/"},
		{"slash", []string{"x"}, map[string]*string{"x": strp("A/A")}, "x=A%2FA/"},
		{"space kept", []string{"x"}, map[string]*string{"x": strp("B B")}, "x=B B/"},
		{"specials", []string{"x"}, map[string]*string{"x": strp(`a:b=c%d?e#f"g'h*i\j{k[l]m^n`)}, "x=a%3Ab%3Dc%25d%3Fe%23f%22g%27h%2Ai%5Cj%7Bk%5Bl%5Dm%5En/"},
		{"control chars", []string{"x"}, map[string]*string{"x": strp("a\x01b\nc\x7f")}, "x=a%01b%0Ac%7F/"},
		{"unicode kept", []string{"x"}, map[string]*string{"x": strp("zürich")}, "x=zürich/"},
		{"timestamp", []string{"ts"}, map[string]*string{"ts": strp("2026-11-24 10:00:00")}, "ts=2026-11-24 10%3A00%3A00/"},
		{"column name escaped", []string{"a=b"}, map[string]*string{"a=b": strp("1")}, "a%3Db=1/"},
		{"no columns", nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fileio.PartitionPath(tc.cols, tc.values); got != tc.want {
				t.Errorf("PartitionPath = %q, want %q", got, tc.want)
			}
			for _, c := range tc.cols {
				v := tc.values[c]
				if v == nil || *v == "" {
					continue
				}
				seg := fileio.PartitionPath([]string{c}, tc.values)
				_, esc, _ := cutLast(seg[:len(seg)-1], "=")
				if back := fileio.UnescapePathName(esc); back != *v {
					t.Errorf("UnescapePathName(%q) = %q, want %q", esc, back, *v)
				}
			}
		})
	}
}

func cutLast(s, sep string) (string, string, bool) {
	for i := len(s) - len(sep); i >= 0; i-- {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func TestFormatPartitionValue(t *testing.T) {
	mem := memory.DefaultAllocator
	build := func(dt arrow.DataType, appendFn func(b array.Builder)) arrow.Array {
		b := array.NewBuilder(mem, dt)
		defer b.Release()
		appendFn(b)
		return b.NewArray()
	}
	tsUTC := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	dec := &arrow.Decimal128Type{Precision: 10, Scale: 3}
	tests := []struct {
		name string
		arr  arrow.Array
		want []*string
	}{
		{"string", build(arrow.BinaryTypes.String, func(b array.Builder) {
			b.(*array.StringBuilder).AppendValues([]string{"a/b", ""}, nil)
			b.AppendNull()
		}), []*string{strp("a/b"), nil, nil}},
		{"long", build(arrow.PrimitiveTypes.Int64, func(b array.Builder) {
			b.(*array.Int64Builder).AppendValues([]int64{-9223372036854775808, 42}, nil)
		}), []*string{strp("-9223372036854775808"), strp("42")}},
		{"integer", build(arrow.PrimitiveTypes.Int32, func(b array.Builder) { b.(*array.Int32Builder).Append(-7) }), []*string{strp("-7")}},
		{"short", build(arrow.PrimitiveTypes.Int16, func(b array.Builder) { b.(*array.Int16Builder).Append(300) }), []*string{strp("300")}},
		{"byte", build(arrow.PrimitiveTypes.Int8, func(b array.Builder) { b.(*array.Int8Builder).Append(-1) }), []*string{strp("-1")}},
		{"double like Java", build(arrow.PrimitiveTypes.Float64, func(b array.Builder) {
			b.(*array.Float64Builder).AppendValues([]float64{2021, 9.9, -0.5, 1e7, 1.5e-5, math.Inf(1)}, nil)
		}), []*string{strp("2021.0"), strp("9.9"), strp("-0.5"), strp("1.0E7"), strp("1.5E-5"), strp("Infinity")}},
		{"float", build(arrow.PrimitiveTypes.Float32, func(b array.Builder) { b.(*array.Float32Builder).Append(1.1) }), []*string{strp("1.1")}},
		{"boolean", build(arrow.FixedWidthTypes.Boolean, func(b array.Builder) {
			b.(*array.BooleanBuilder).AppendValues([]bool{true, false}, nil)
		}), []*string{strp("true"), strp("false")}},
		{"date", build(arrow.FixedWidthTypes.Date32, func(b array.Builder) {
			b.(*array.Date32Builder).AppendValues([]arrow.Date32{0, 20781, -719162}, nil)
		}), []*string{strp("1970-01-01"), strp("2026-11-24"), strp("0001-01-01")}},
		{"timestamp", build(tsUTC, func(b array.Builder) {
			b.(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{0, 1795514400123456, 1795514400000000, 253402214400000000}, nil)
		}), []*string{strp("1970-01-01T00:00:00.000000Z"), strp("2026-11-24T10:00:00.123456Z"), strp("2026-11-24T10:00:00.000000Z"), strp("9999-12-31T00:00:00.000000Z")}},
		{"timestamp_ntz keeps no zone", build(&arrow.TimestampType{Unit: arrow.Microsecond}, func(b array.Builder) {
			b.(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{0, 1795514400000500}, nil)
		}), []*string{strp("1970-01-01 00:00:00"), strp("2026-11-24 10:00:00.000500")}},
		{"decimal", build(dec, func(b array.Builder) {
			b.(*array.Decimal128Builder).AppendValues([]decimal128.Num{decimal128.FromI64(-5678), decimal128.FromI64(1000)}, nil)
		}), []*string{strp("-5.678"), strp("1.000")}},
		{"binary", build(arrow.BinaryTypes.Binary, func(b array.Builder) {
			b.(*array.BinaryBuilder).Append([]byte{1, 2, 3})
		}), []*string{strp("\x01\x02\x03")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.arr.Release()
			if tc.arr.Len() != len(tc.want) {
				t.Fatalf("fixture has %d rows, want %d", tc.arr.Len(), len(tc.want))
			}
			for i, w := range tc.want {
				got := fileio.FormatPartitionValue(tc.arr, i)
				if (got == nil) != (w == nil) || (got != nil && *got != *w) {
					t.Errorf("row %d = %v, want %v", i, show(got), show(w))
				}
			}
		})
	}
}

func show(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func TestParsePartitionValue(t *testing.T) {
	ts := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	tests := []struct {
		in   *string
		typ  fileio.DataType
		want any
	}{
		{nil, fileio.TypeLong, nil},
		{strp(""), fileio.TypeString, nil},
		{strp("a/b"), fileio.TypeString, "a/b"},
		{strp("42"), fileio.TypeLong, int64(42)},
		{strp("-7"), fileio.TypeInteger, int64(-7)},
		{strp("300"), fileio.TypeShort, int64(300)},
		{strp("-1"), fileio.TypeByte, int64(-1)},
		{strp("2021.0"), fileio.TypeDouble, 2021.0},
		{strp("9.9"), fileio.TypeFloat, 9.9},
		{strp("-Infinity"), fileio.TypeDouble, math.Inf(-1)},
		{strp("true"), fileio.TypeBoolean, true},
		{strp("FALSE"), fileio.TypeBoolean, false},
		{strp("2026-11-24"), fileio.TypeDate, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{strp("2026-11-24 10:00:00.123456"), fileio.TypeTimestamp, ts},
		{strp("2026-11-24T10:00:00.123456Z"), fileio.TypeTimestamp, ts},
		{strp("2026-11-24 10:00:00"), fileio.TypeTimestampNTZ, ts.Truncate(time.Second)},
		{strp("-5.678"), fileio.DecimalType{Precision: 10, Scale: 3}, decimal128.FromI64(-5678)},
		{strp("1.5"), fileio.DecimalType{Precision: 10, Scale: 3}, decimal128.FromI64(1500)},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.typ, show(tc.in)), func(t *testing.T) {
			got, err := fileio.ParsePartitionValue(tc.in, tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			if gt, ok := got.(time.Time); ok {
				if !gt.Equal(tc.want.(time.Time)) || gt.Location() != time.UTC {
					t.Errorf("got %v, want %v", gt, tc.want)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		in  string
		typ fileio.DataType
	}{{"x", fileio.TypeLong}, {"300", fileio.TypeByte}, {"2026-13-01", fileio.TypeDate}, {"yes", fileio.TypeBoolean}, {"1.2.3", fileio.TypeDouble}} {
		if _, err := fileio.ParsePartitionValue(strp(bad.in), bad.typ); !errors.Is(err, fileio.ErrPartitionValue) {
			t.Errorf("ParsePartitionValue(%q, %s) err = %v, want ErrPartitionValue", bad.in, bad.typ, err)
		}
	}
}

// TestFormatParseRoundTrip checks that what FormatPartitionValue writes,
// ParsePartitionValue reads back as the same value.
func TestFormatParseRoundTrip(t *testing.T) {
	mem := memory.DefaultAllocator
	b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	vals := []arrow.Timestamp{0, -1, 1795514400123456, -62135596800000000, 253402300799999999}
	b.AppendValues(vals, nil)
	arr := b.NewArray()
	defer arr.Release()
	b.Release()
	for i, v := range vals {
		s := fileio.FormatPartitionValue(arr, i)
		got, err := fileio.ParsePartitionValue(s, fileio.TypeTimestamp)
		if err != nil {
			t.Fatal(err)
		}
		us := got.(time.Time).UnixMicro()
		if us != int64(v) {
			t.Errorf("%d: %q parsed to %d", v, *s, us)
		}
	}
	// Tables written before the ISO-8601 form (and by other engines) hold
	// zone-less values, which mean UTC here: both read as the same instant.
	for _, s := range []string{"2026-11-24 10:30:00.000500", "2026-11-24T10:30:00.000500Z", "2026-11-24T11:30:00.000500+01:00"} {
		got, err := fileio.ParsePartitionValue(strp(s), fileio.TypeTimestamp)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := time.Date(2026, 11, 24, 10, 30, 0, 500000, time.UTC); !got.(time.Time).Equal(want) {
			t.Errorf("%q parsed to %v, want %v", s, got, want)
		}
	}
}

func TestSplitByPartition(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "msg", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "region", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, sch)
	defer rb.Release()
	const n = 1000
	regions := []string{"eu", "us", "", "ap"}
	for i := 0; i < n; i++ {
		rb.Field(0).(*array.Int64Builder).Append(int64(i))
		switch {
		case i < 400: // a contiguous first run
			rb.Field(1).(*array.Date32Builder).Append(20781)
		case i%7 == 0:
			rb.Field(1).AppendNull()
		default:
			rb.Field(1).(*array.Date32Builder).Append(arrow.Date32(20782 + i%3))
		}
		rb.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("m%d", i))
		if i >= 400 && i%11 == 0 {
			rb.Field(3).AppendNull() // null and "" are the same partition
		} else if i < 400 {
			rb.Field(3).(*array.StringBuilder).Append("eu")
		} else {
			rb.Field(3).(*array.StringBuilder).Append(regions[i%4])
		}
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()

	parts, err := fileio.SplitByPartition(rec, []string{"date", "region"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, p := range parts {
			p.Record.Release()
		}
	}()
	// Independently compute the expected grouping.
	dates := rec.Column(1)
	regs := rec.Column(3)
	want := map[string][]int64{}
	for i := 0; i < n; i++ {
		k := show(fileio.FormatPartitionValue(dates, i)) + "|" + show(fileio.FormatPartitionValue(regs, i))
		want[k] = append(want[k], int64(i))
	}
	if len(parts) != len(want) {
		t.Fatalf("got %d partitions, want %d", len(parts), len(want))
	}
	if k := show(parts[0].Values["date"]) + "|" + show(parts[0].Values["region"]); k != `"2026-11-24"|"eu"` {
		t.Errorf("first partition = %s, want the first rows' values", k)
	}
	total := 0
	for _, p := range parts {
		if got := p.Record.Schema().NumFields(); got != 2 {
			t.Fatalf("partition record has %d columns, want 2 (id, msg)", got)
		}
		if p.Record.Schema().Field(0).Name != "id" || p.Record.Schema().Field(1).Name != "msg" {
			t.Fatalf("partition record schema = %s", p.Record.Schema())
		}
		k := show(p.Values["date"]) + "|" + show(p.Values["region"])
		ids := want[k]
		if int(p.Record.NumRows()) != len(ids) {
			t.Fatalf("partition %s has %d rows, want %d", k, p.Record.NumRows(), len(ids))
		}
		idCol := p.Record.Column(0).(*array.Int64)
		msgCol := p.Record.Column(1).(*array.String)
		for j, id := range ids {
			if idCol.Value(j) != id || msgCol.Value(j) != fmt.Sprintf("m%d", id) {
				t.Fatalf("partition %s row %d = (%d,%q), want id %d", k, j, idCol.Value(j), msgCol.Value(j), id)
			}
		}
		total += len(ids)
	}
	if total != n {
		t.Errorf("rows across partitions = %d, want %d", total, n)
	}

	// No partition columns: one group, the whole record.
	one, err := fileio.SplitByPartition(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Record.NumRows() != n || one[0].Record.NumCols() != 4 || len(one[0].Values) != 0 {
		t.Errorf("no partition columns: got %d groups", len(one))
	}
	for _, p := range one {
		p.Record.Release()
	}

	if _, err := fileio.SplitByPartition(rec, []string{"nope"}); !errors.Is(err, fileio.ErrSchema) {
		t.Errorf("missing partition column: err = %v, want ErrSchema", err)
	}
}

func BenchmarkSplitByPartition(b *testing.B) {
	mem := memory.DefaultAllocator
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "date", Type: arrow.FixedWidthTypes.Date32},
		{Name: "msg", Type: arrow.BinaryTypes.String},
	}, nil)
	rb := array.NewRecordBuilder(mem, sch)
	const n = 100_000
	for i := 0; i < n; i++ {
		rb.Field(0).(*array.Date32Builder).Append(arrow.Date32(20781 + i%3)) // interleaved: worst case
		rb.Field(1).(*array.StringBuilder).Append("some log message text")
	}
	rec := rb.NewRecordBatch()
	rb.Release()
	defer rec.Release()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		parts, err := fileio.SplitByPartition(rec, []string{"date"})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range parts {
			p.Record.Release()
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// FuzzParsePartitionValue: partition values come from logs other engines
// wrote. Parsing any string as any type must not panic, must fail only with
// ErrPartitionValue, and a timestamp it accepts must survive a write and
// re-read unchanged (the form loglake writes is one it reads).
func FuzzParsePartitionValue(f *testing.F) {
	for _, s := range []string{"2026-11-24 10:30:00.000500", "2026-11-24T10:30:00.000500Z", "2026-11-24T11:30:00+01:00",
		"2026-11-24", "0001-01-01 00:00:00", "9999-12-31T23:59:59.999999Z", "-1", "1.0E7", "NaN", "-Infinity", "TRUE",
		"12345678901234567890.5", "__HIVE_DEFAULT_PARTITION__", "2026-02-30"} {
		f.Add(s)
	}
	types := []fileio.DataType{fileio.TypeString, fileio.TypeLong, fileio.TypeInteger, fileio.TypeShort, fileio.TypeByte,
		fileio.TypeFloat, fileio.TypeDouble, fileio.TypeBoolean, fileio.TypeBinary, fileio.TypeDate, fileio.TypeTimestamp,
		fileio.TypeTimestampNTZ, fileio.DecimalType{Precision: 10, Scale: 3}, fileio.DecimalType{Precision: 38, Scale: 0}}
	mem := memory.DefaultAllocator
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range types {
			v, err := fileio.ParsePartitionValue(&s, typ)
			if err != nil {
				if !errors.Is(err, fileio.ErrPartitionValue) {
					t.Fatalf("%q as %s: error %v is not ErrPartitionValue", s, typ, err)
				}
				continue
			}
			ts, ok := v.(time.Time)
			if !ok || typ == fileio.TypeDate || ts.Year() < 1 || ts.Year() > 9999 {
				continue
			}
			b := array.NewTimestampBuilder(mem, fileio.ArrowType(typ).(*arrow.TimestampType))
			b.Append(arrow.Timestamp(ts.UnixMicro()))
			arr := b.NewArray()
			b.Release()
			out := fileio.FormatPartitionValue(arr, 0)
			arr.Release()
			back, err := fileio.ParsePartitionValue(out, typ)
			if err != nil || !back.(time.Time).Equal(ts.Truncate(time.Microsecond)) {
				t.Fatalf("%q as %s: wrote %v, read back %v (%v)", s, typ, show(out), back, err)
			}
		}
	})
}

// A date or timestamp partition value outside years 0001-9999 is refused:
// "10000-01-01" was written as a directory that made every later read of
// the table fail.
func TestSplitByPartitionRefusesOutOfRangeDates(t *testing.T) {
	day := func(y, m, d int) arrow.Date32 {
		return arrow.Date32FromTime(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC))
	}
	sch := arrow.NewSchema([]arrow.Field{{Name: "date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, tc := range []struct {
		dates []arrow.Date32
		ok    bool
	}{
		{[]arrow.Date32{day(9999, 12, 31), day(1, 1, 1)}, true},
		{[]arrow.Date32{day(10000, 1, 1)}, false},
		{[]arrow.Date32{day(2026, 1, 1), day(10000, 1, 1)}, false},
		{[]arrow.Date32{day(0, 12, 31)}, false},
	} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
		for i, d := range tc.dates {
			b.Field(0).(*array.Date32Builder).Append(d)
			b.Field(1).(*array.Int64Builder).Append(int64(i))
		}
		rec := b.NewRecordBatch()
		parts, err := fileio.SplitByPartition(rec, []string{"date"})
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, fileio.ErrPartitionValue) {
			t.Errorf("%v: err = %v, want ok %v", tc.dates, err, tc.ok)
		}
		for _, p := range parts {
			p.Record.Release()
		}
		rec.Release()
		b.Release()
	}
}
