package fileio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/loglake/loglake/table/internal/fileio"
)

// dictRecords are log-like records whose string columns exercise every
// path of DictLowCardinality: a small stable vocabulary with nulls (lvl), a
// constant (src), a vocabulary that grows by one value per record, more
// often than the writer cuts row groups for it (svc), one that is small in
// the first record and then overflows the dictionary (big), and distinct
// values (msg).
func dictRecords(t *testing.T, nrec, rows int) []arrow.Record {
	t.Helper()
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "lvl", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "src", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "svc", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "big", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "msg", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, nil)
	levels := []string{"DEBUG", "INFO", "WARN", "ERROR", "é-ünïcode-level-with-a-name-longer-than-32-code-points"}
	var out []arrow.Record
	row := 0
	for r := range nrec {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
		for i := range rows {
			if row%7 == 3 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.StringBuilder).Append(levels[(row*31)%len(levels)])
			}
			b.Field(1).(*array.StringBuilder).Append("landing/2026/12/02/file-0001.json")
			b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("svc-%d", (i%3)+r*(i%2)))
			if r == 0 {
				b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("b%d", i%4))
			} else {
				b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("big-%07d", row))
			}
			b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("message %d %x", row, row*7919))
			b.Field(5).(*array.Int64Builder).Append(int64(row))
			row++
		}
		out = append(out, b.NewRecordBatch())
		b.Release()
	}
	return out
}

func writeDictFile(t *testing.T, sch *arrow.Schema, recs []arrow.Record, opts *fileio.WriterOptions) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, sch, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		// Odd records go in as slices: arrays with offsets.
		if i%2 == 1 {
			a := rec.NewSlice(0, rec.NumRows()/2)
			b := rec.NewSlice(rec.NumRows()/2, rec.NumRows())
			err = w.Write(a)
			if err == nil {
				err = w.Write(b)
			}
			a.Release()
			b.Release()
		} else {
			err = w.Write(rec)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st.JSON()
}

func TestDictLowCardinality(t *testing.T) {
	recs := dictRecords(t, 24, 2000)
	defer releaseAll(recs)
	t.Run("strings", func(t *testing.T) { checkDictLowCardinality(t, recs, recs) })
	// The same rows with every string column dictionary-encoded by the
	// producer, as ingest's decoders hand them over: the file, its page
	// statistics and its Delta statistics are those of the plain rows.
	in := dictEncoded(t, recs)
	defer releaseAll(in)
	t.Run("dictionary input", func(t *testing.T) { checkDictLowCardinality(t, in, recs) })
}

func releaseAll(recs []arrow.Record) {
	for _, r := range recs {
		r.Release()
	}
}

// dictEncoded returns recs with their string columns as
// dictionary<int32, string>, each column's dictionary shared by the
// records and growing as a decoder's does, with an entry no row uses.
func dictEncoded(t *testing.T, recs []arrow.Record) []arrow.Record {
	t.Helper()
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	var fields []arrow.Field
	for _, f := range recs[0].Schema().Fields() {
		if f.Type.ID() == arrow.STRING {
			f.Type = typ
		}
		fields = append(fields, f)
	}
	sch := arrow.NewSchema(fields, nil)
	dicts := make([][]string, len(fields))
	memos := make([]map[string]int32, len(fields))
	var out []arrow.Record
	for _, rec := range recs {
		cols := slices.Clone(rec.Columns())
		for c, col := range cols {
			a, ok := col.(*array.String)
			if !ok {
				cols[c].Retain()
				continue
			}
			if memos[c] == nil {
				dicts[c], memos[c] = []string{"zz-unused"}, map[string]int32{"zz-unused": 0}
			}
			ib := array.NewInt32Builder(memory.DefaultAllocator)
			for i := range a.Len() {
				if a.IsNull(i) {
					ib.AppendNull()
					continue
				}
				k, ok := memos[c][a.Value(i)]
				if !ok {
					k = int32(len(dicts[c]))
					memos[c][a.Value(i)] = k
					dicts[c] = append(dicts[c], a.Value(i))
				}
				ib.Append(k)
			}
			idx := ib.NewArray()
			ib.Release()
			sb := array.NewStringBuilder(memory.DefaultAllocator)
			sb.AppendValues(dicts[c], nil)
			dict := sb.NewArray()
			sb.Release()
			cols[c] = array.NewDictionaryArray(typ, idx, dict)
			idx.Release()
			dict.Release()
		}
		out = append(out, array.NewRecordBatch(sch, cols, rec.NumRows()))
		for _, c := range cols {
			c.Release()
		}
	}
	return out
}

// checkDictLowCardinality writes recs (whose rows are those of plain, with
// string columns) with DictLowCardinality and checks the file against
// plain written without it.
func checkDictLowCardinality(t *testing.T, in, recs []arrow.Record) {
	base := fileio.WriterOptions{PlainDistinct: true, CompressionLevel: 1, RowGroupRows: 10_000}
	dict := base
	dict.DictLowCardinality = true
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	dict.Allocator = mem
	_, wantStats := writeDictFile(t, recs[0].Schema(), recs, &base)
	data, gotStats := writeDictFile(t, recs[0].Schema(), in, &dict)
	mem.AssertSize(t, 0)
	if gotStats != wantStats {
		t.Errorf("Delta statistics differ:\nDictLowCardinality %s\nwithout            %s", gotStats, wantStats)
	}

	// The file reads back as the records written.
	sch, err := fileio.SchemaFromArrow(recs[0].Schema())
	if err != nil {
		t.Fatal(err)
	}
	r, err := fileio.ReadFile(context.Background(), bytes.NewReader(data), int64(len(data)), &fileio.ReadOptions{Schema: sch})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	defer got.Release()
	tbl := array.NewTableFromRecords(recs[0].Schema(), recs)
	defer tbl.Release()
	if got.NumRows() != tbl.NumRows() {
		t.Fatalf("read %d rows, wrote %d", got.NumRows(), tbl.NumRows())
	}
	for c := range int(tbl.NumCols()) {
		want, err := array.Concatenate(tbl.Column(c).Data().Chunks(), memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(want, got.Column(c)) {
			t.Errorf("column %s differs after the round trip", tbl.Schema().Field(c).Name)
		}
		want.Release()
	}

	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	// svc grows in every record: the writer ends at most 16 row groups
	// early for it, so there are more row groups than 48,000/10,000 rows
	// would make, and the rest of its growth is written plain.
	if n := pf.NumRowGroups(); n <= 5 || n > 5+16+1 {
		t.Errorf("%d row groups, want 6..22", n)
	}
	for rg := range pf.NumRowGroups() {
		rgr := pf.MetaData().RowGroup(rg)
		part, err := fr.ReadRowGroups(context.Background(), []int{0, 1, 2, 3, 4, 5}, []int{rg})
		if err != nil {
			t.Fatal(err)
		}
		for c, name := range []string{"lvl", "src", "svc", "big", "msg"} {
			cc, err := rgr.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			// Page statistics stay exact: min, max and nulls of the row
			// group's own values, not of the file-wide dictionary.
			st, err := cc.Statistics()
			if err != nil || st == nil {
				t.Fatalf("row group %d column %s: no statistics (%v)", rg, name, err)
			}
			bs := st.(*metadata.ByteArrayStatistics)
			lo, hi, nulls := stringExtremes(part.Column(c).Data().Chunks())
			if !bs.HasMinMax() || string(bs.Min()) != lo || string(bs.Max()) != hi || bs.NullCount() != nulls {
				t.Errorf("row group %d column %s: statistics min %q max %q nulls %d, values have %q %q %d",
					rg, name, bs.Min(), bs.Max(), bs.NullCount(), lo, hi, nulls)
			}
			// The stable vocabularies are written as dictionary indices
			// only: no page fell back to plain.
			if name == "lvl" || name == "src" {
				for _, es := range cc.EncodingStats() {
					if fmt.Sprint(es.PageType) == "DATA_PAGE" && es.Encoding != parquet.Encodings.RLEDict && es.Encoding != parquet.Encodings.PlainDict {
						t.Errorf("row group %d column %s: a data page encoded %s", rg, name, es.Encoding)
					}
				}
				if !cc.HasDictionaryPage() {
					t.Errorf("row group %d column %s: no dictionary page", rg, name)
				}
			}
		}
		part.Release()
	}
}

func stringExtremes(chunks []arrow.Array) (lo, hi string, nulls int64) {
	seen := false
	for _, ch := range chunks {
		a := ch.(*array.String)
		for i := range a.Len() {
			if a.IsNull(i) {
				nulls++
				continue
			}
			v := a.Value(i)
			if !seen || v < lo {
				lo = v
			}
			if !seen || v > hi {
				hi = v
			}
			seen = true
		}
	}
	return lo, hi, nulls
}

// TestDictionaryInputRefused: a dictionary index outside its dictionary is
// an error of the write, not a panic.
func TestDictionaryInputRefused(t *testing.T) {
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	plain := arrow.NewSchema([]arrow.Field{{Name: "lvl", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	sch := arrow.NewSchema([]arrow.Field{{Name: "lvl", Type: typ, Nullable: true}}, nil)
	ib := array.NewInt32Builder(memory.DefaultAllocator)
	for i := range 5000 {
		ib.Append(int32(i % 2))
	}
	ib.Append(7)
	idx := ib.NewArray()
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	sb.AppendValues([]string{"INFO", "WARN"}, nil)
	dict := sb.NewArray()
	col := array.NewDictionaryArray(typ, idx, dict)
	rec := array.NewRecordBatch(sch, []arrow.Array{col}, int64(col.Len()))
	defer rec.Release()
	for _, a := range []arrow.Array{idx, dict, col} {
		a.Release()
	}
	for _, opts := range []*fileio.WriterOptions{{DictLowCardinality: true}, nil} {
		w, err := fileio.NewFileWriter(io.Discard, plain, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec); err == nil {
			t.Errorf("options %+v: index 7 of a 2-entry dictionary written without an error", opts)
		}
		w.Close()
	}
}
