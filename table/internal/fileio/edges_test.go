package fileio_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table/internal/fileio"
)

// Inputs at the edges of what FileWriter takes (found by a review of the
// column writer; each wrote a file whose statistics or values were wrong).

// writeOne writes rec alone into a file of schema sch with opts and
// returns the file and its stats, or Write's error.
func writeOne(t *testing.T, sch *arrow.Schema, rec arrow.Record, opts *fileio.WriterOptions) ([]byte, *fileio.Stats, error) {
	t.Helper()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, sch, opts)
	if err != nil {
		t.Fatal(err)
	}
	werr := w.Write(rec)
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
	_, st, err := writeOne(t, rec.Schema(), rec, nil)
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
		data, st, err := writeOne(t, want, rec, opts)
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
	_, st, err := writeOne(t, rec.Schema(), rec, nil)
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
	if _, _, err := writeOne(t, rec.Schema(), rec, nil); !errors.Is(err, fileio.ErrSchema) {
		t.Fatalf("err %v, want ErrSchema", err)
	}
}
