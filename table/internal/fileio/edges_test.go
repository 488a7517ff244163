package fileio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/loglake/loglake/table/internal/fileio"
)

// Inputs at the edges of what FileWriter takes (found by a review of the
// column writer; each wrote a file whose statistics or values were wrong).

// writeRecords writes recs into a file of schema sch with opts and returns
// the file and its stats, or the first Write error.
func writeRecords(t *testing.T, sch *arrow.Schema, opts *fileio.WriterOptions, recs ...arrow.Record) ([]byte, *fileio.Stats, error) {
	t.Helper()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, sch, opts)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for _, rec := range recs {
		if werr = w.Write(rec); werr != nil {
			break
		}
	}
	st, cerr := w.Close()
	if werr != nil {
		return nil, nil, werr
	}
	if cerr != nil {
		t.Fatal(cerr)
	}
	return buf.Bytes(), st, nil
}

// A nanosecond timestamp is stored in µs truncated toward zero: the
// statistics must bound that, also below the epoch.
func TestStatsNanosecondsBoundStoredValues(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{{Name: "ns", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(-999500)) // stored: -999 µs
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, st, err := writeRecords(t, rec.Schema(), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	// Statistics are in ms: the floor and the ceiling of -0.999 ms.
	if lo, hi := st.MinValues["ns"], st.MaxValues["ns"]; lo != "1969-12-31T23:59:59.999Z" || hi != "1970-01-01T00:00:00.000Z" {
		t.Errorf("min %v max %v, want 1969-12-31T23:59:59.999Z and 1970-01-01T00:00:00.000Z (stored: -999 µs)", lo, hi)
	}
}

// A dictionary-encoded input whose dictionary holds a null: rows pointing
// at it are null, with or without the writer's own dictionaries.
func TestDictionaryInputWithNullEntry(t *testing.T) {
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	vb := array.NewStringBuilder(memory.DefaultAllocator)
	vb.AppendValues([]string{"a", "", "b"}, []bool{true, false, true})
	dict := vb.NewArray()
	vb.Release()
	defer dict.Release()
	ib := array.NewInt32Builder(memory.DefaultAllocator)
	for i := range 6000 {
		ib.Append(int32(i % 3))
	}
	idx := ib.NewArray()
	ib.Release()
	defer idx.Release()
	col := array.NewDictionaryArray(typ, idx, dict)
	defer col.Release()
	sch := arrow.NewSchema([]arrow.Field{{Name: "d", Type: typ, Nullable: true}}, nil)
	rec := array.NewRecordBatch(sch, []arrow.Array{col}, int64(col.Len()))
	defer rec.Release()
	want := arrow.NewSchema([]arrow.Field{{Name: "d", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	for _, opts := range []*fileio.WriterOptions{nil, {DictLowCardinality: true}} {
		data, st, err := writeRecords(t, want, opts, rec)
		if err != nil {
			t.Fatal(err)
		}
		if n := fmt.Sprint(st.NullCount["d"]); n != "2000" {
			t.Errorf("%+v: nullCount %v, want 2000", opts, st.NullCount["d"])
		}
		r, err := fileio.ReadFile(t.Context(), bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		if c := got.Column(0); c.NullN() != 2000 || !c.IsNull(1) || c.IsNull(0) {
			t.Errorf("%+v: read back %d nulls (row 1 null: %v), want 2000", opts, c.NullN(), c.IsNull(1))
		}
		got.Release()
	}
}

// A string column holding bytes that are not UTF-8 gets no min/max: JSON
// would carry U+FFFD for them, which sorts below 0xFF.
func TestStatsInvalidUTF8HasNoBounds(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "\xff", "b"}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, st, err := writeRecords(t, rec.Schema(), nil, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.MaxValues["s"]; ok {
		t.Errorf("max %q for a column holding \\xff", st.MaxValues["s"])
	}
}

// Nulls in a column the schema says is not nullable are refused, not
// written as values the statistics count as nulls.
func TestNullsInNonNullableColumnRefused(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{{Name: "i", Type: arrow.PrimitiveTypes.Int64}}, nil)
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues([]int64{1, 0, 3}, []bool{true, false, true})
	col := ib.NewArray()
	ib.Release()
	defer col.Release()
	rec := array.NewRecordBatch(sch, []arrow.Array{col}, 3)
	defer rec.Release()
	if _, _, err := writeRecords(t, rec.Schema(), nil, rec); !errors.Is(err, fileio.ErrSchema) {
		t.Fatalf("err %v, want ErrSchema", err)
	}
}

// Chunks whose column is all nulls (written as levels alone) between
// chunks with values and nulls, in a column of every flat type, with and
// without the writer's dictionaries: the values, the nulls and Parquet's
// own null counts read back as written.
func TestAllNullChunks(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "l", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "dec", Type: &arrow.Decimal128Type{Precision: 20, Scale: 2}, Nullable: true},
	}, nil)
	const rows = 1000
	// chunk k holds values in rows where present(k, row); chunks 0 and 2
	// are all nulls.
	present := func(k, row int) bool { return k == 1 && row%3 != 0 || k == 3 }
	var recs []arrow.Record
	for k := range 4 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
		for row := range rows {
			if !present(k, row) {
				for i := range sch.NumFields() {
					b.Field(i).AppendNull()
				}
				continue
			}
			v := k*rows + row
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprint("s", v%7))
			b.Field(1).(*array.Int64Builder).Append(int64(v))
			b.Field(2).(*array.Int32Builder).Append(int32(v))
			b.Field(3).(*array.BooleanBuilder).Append(v%2 == 0)
			b.Field(4).(*array.Float64Builder).Append(float64(v))
			b.Field(5).(*array.Float32Builder).Append(float32(v))
			b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(v))
			b.Field(7).(*array.Date32Builder).Append(arrow.Date32(v))
			b.Field(8).(*array.BinaryBuilder).Append([]byte{byte(v)})
			b.Field(9).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(v)))
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	wantNulls := int64(rows*2 + rows/3 + 1)
	// Row groups of 777 rows slice records at offsets off a bitmap byte.
	for _, opts := range []*fileio.WriterOptions{nil, {DictLowCardinality: true}, {RowGroupRows: 777}} {
		data, st, err := writeRecords(t, sch, opts, recs...)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range sch.Fields() {
			if n := fmt.Sprint(st.NullCount[f.Name]); n != fmt.Sprint(wantNulls) {
				t.Errorf("%+v: %s: Delta nullCount %s, want %d", opts, f.Name, n, wantNulls)
			}
			var nulls int64
			for g := range pf.NumRowGroups() {
				cs, err := pf.MetaData().RowGroup(g).ColumnChunk(i)
				if err != nil {
					t.Fatal(err)
				}
				s, err := cs.Statistics()
				if isFloat := f.Type.ID() == arrow.FLOAT64 || f.Type.ID() == arrow.FLOAT32; isFloat {
					if s != nil {
						t.Fatalf("%s: Parquet statistics on a float column (DuckDB trusts their NaN-less min/max)", f.Name)
					}
					nulls = wantNulls
					continue
				}
				if err != nil || s == nil {
					t.Fatalf("%s: no statistics (%v)", f.Name, err)
				}
				nulls += s.NullCount()
			}
			if nulls != wantNulls {
				t.Errorf("%+v: %s: Parquet null count %d, want %d", opts, f.Name, nulls, wantNulls)
			}
		}
		pf.Close()
		r, err := fileio.ReadFile(t.Context(), bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		if got.NumRows() != 4*rows {
			t.Fatalf("%+v: %d rows, want %d", opts, got.NumRows(), 4*rows)
		}
		for i := range sch.NumFields() {
			for k, want := range recs {
				for row := range rows {
					g, w := got.Column(i).ValueStr(k*rows+row), want.Column(i).ValueStr(row)
					if g != w {
						t.Fatalf("%+v: %s row %d of chunk %d: %s, want %s", opts, sch.Field(i).Name, row, k, g, w)
					}
				}
			}
		}
		got.Release()
	}
}

// String and binary columns with nulls in plain encoding are written as
// their values only (colWriter.writeDense), unless a null slot holds bytes:
// both must read back as written, with exact statistics, also when row
// groups slice the records off a bitmap byte.
func TestPlainColumnsWithNulls(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	}, nil)
	const rows = 5000
	value := func(rec, row int) (string, bool) {
		if (row*7+rec)%5 < 2 || row%97 == 0 {
			return "", false
		}
		if row%31 == 0 {
			return "", true // an empty value, not a null
		}
		return fmt.Sprintf("v%05d-%d", (row*7919+rec*13)%rows, rec), true
	}
	var recs []arrow.Record
	for rec := range 3 {
		offs := []int32{0}
		var data []byte
		valid := make([]byte, (rows+7)/8)
		nulls := 0
		for row := range rows {
			v, ok := value(rec, row)
			if ok {
				valid[row/8] |= 1 << (row % 8)
				data = append(data, v...)
			} else {
				nulls++
				if rec == 2 && row%3 == 0 {
					data = append(data, "junk"...) // bytes in a null slot: Arrow allows them
				}
			}
			offs = append(offs, int32(len(data)))
		}
		cols := make([]arrow.Array, 2)
		for i, typ := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary} {
			d := array.NewData(typ, rows, []*memory.Buffer{memory.NewBufferBytes(valid),
				memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offs)), memory.NewBufferBytes(data)}, nil, nulls, 0)
			cols[i] = array.MakeFromData(d)
			d.Release()
		}
		recs = append(recs, array.NewRecordBatch(sch, cols, rows))
		for _, c := range cols {
			c.Release()
		}
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var want []string
	var lo, hi string
	var found bool
	var wantNulls int64
	for rec := range recs {
		for row := range rows {
			v, ok := value(rec, row)
			if !ok {
				wantNulls++
				want = append(want, "<null>")
				continue
			}
			want = append(want, v)
			if !found || v < lo {
				lo = v
			}
			if !found || v > hi {
				hi = v
			}
			found = true
		}
	}
	readSch, err := fileio.ParseSchema(`{"type":"struct","fields":[
		{"name":"s","type":"string","nullable":true,"metadata":{}},
		{"name":"bin","type":"binary","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []*fileio.WriterOptions{{PlainDistinct: true}, {PlainDistinct: true, RowGroupRows: 777}} {
		data, st, err := writeRecords(t, sch, opts, recs...)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fileio.ReadFile(context.Background(), bytes.NewReader(data), int64(len(data)), &fileio.ReadOptions{Schema: readSch})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		for c := range 2 {
			col := got.Column(c)
			if col.Len() != len(want) {
				t.Fatalf("%+v: column %d: %d rows, want %d", opts, c, col.Len(), len(want))
			}
			for i, w := range want {
				g := "<null>"
				if col.IsValid(i) {
					g = col.ValueStr(i)
					if c == 1 {
						g = string(col.(*array.Binary).Value(i))
					}
				}
				if g != w {
					t.Fatalf("%+v: column %d row %d: %q, want %q", opts, c, i, g, w)
				}
			}
		}
		got.Release()
		if n := fmt.Sprint(st.NullCount["s"]); n != fmt.Sprint(wantNulls) {
			t.Errorf("%+v: nullCount %s, want %d", opts, n, wantNulls)
		}
		if fmt.Sprint(st.MinValues["s"]) != lo || fmt.Sprint(st.MaxValues["s"]) != hi {
			t.Errorf("%+v: min/max %v/%v, want %q/%q", opts, st.MinValues["s"], st.MaxValues["s"], lo, hi)
		}
	}
}
