package fileio_test

import (
	"bytes"
	"context"
	"fmt"
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

func writeDictFile(t *testing.T, recs []arrow.Record, opts *fileio.WriterOptions) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, recs[0].Schema(), opts)
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
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	base := fileio.WriterOptions{PlainDistinct: true, CompressionLevel: 1, RowGroupRows: 10_000}
	dict := base
	dict.DictLowCardinality = true
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	dict.Allocator = mem
	_, wantStats := writeDictFile(t, recs, &base)
	data, gotStats := writeDictFile(t, recs, &dict)
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
