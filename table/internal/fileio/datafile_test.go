package fileio_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/schema"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/table/internal/fileio"
)

const allTypesSchema = `{"type":"struct","fields":[` +
	`{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},` +
	`{"name":"ntz","type":"timestamp_ntz","nullable":true,"metadata":{}},` +
	`{"name":"day","type":"date","nullable":true,"metadata":{}},` +
	`{"name":"l","type":"long","nullable":true,"metadata":{}},` +
	`{"name":"i","type":"integer","nullable":true,"metadata":{}},` +
	`{"name":"sh","type":"short","nullable":true,"metadata":{}},` +
	`{"name":"by","type":"byte","nullable":true,"metadata":{}},` +
	`{"name":"fl","type":"float","nullable":true,"metadata":{}},` +
	`{"name":"db","type":"double","nullable":true,"metadata":{}},` +
	`{"name":"ok","type":"boolean","nullable":true,"metadata":{}},` +
	`{"name":"s","type":"string","nullable":true,"metadata":{}},` +
	`{"name":"raw","type":"binary","nullable":true,"metadata":{}},` +
	`{"name":"amount","type":"decimal(12,3)","nullable":true,"metadata":{}},` +
	`{"name":"st","type":{"type":"struct","fields":[{"name":"a","type":"integer","nullable":true,"metadata":{}},{"name":"b","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},` +
	`{"name":"tags","type":{"type":"array","elementType":"string","containsNull":true},"nullable":true,"metadata":{}},` +
	`{"name":"m","type":{"type":"map","keyType":"string","valueType":"long","valueContainsNull":true},"nullable":true,"metadata":{}}]}`

// allTypesRecord builds n pseudo-random rows of allTypesSchema; every
// column has nulls.
func allTypesRecord(t testing.TB, mem memory.Allocator, n int, seed uint64) arrow.Record {
	t.Helper()
	sch, err := fileio.ParseSchema(allTypesSchema)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	rb := array.NewRecordBuilder(mem, sch.Arrow())
	defer rb.Release()
	null := func() bool { return r.IntN(10) == 0 }
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := 0; i < n; i++ {
		for c, b := range rb.Fields() {
			if null() {
				b.AppendNull()
				continue
			}
			switch c {
			case 0, 1:
				b.(*array.TimestampBuilder).Append(arrow.Timestamp(base + r.Int64N(86400e6) - 43200e6))
			case 2:
				b.(*array.Date32Builder).Append(arrow.Date32(20000 + r.IntN(1000)))
			case 3:
				b.(*array.Int64Builder).Append(r.Int64() - 1<<62)
			case 4:
				b.(*array.Int32Builder).Append(int32(r.IntN(2000) - 1000))
			case 5:
				b.(*array.Int16Builder).Append(int16(r.IntN(60000) - 30000))
			case 6:
				b.(*array.Int8Builder).Append(int8(r.IntN(256) - 128))
			case 7:
				b.(*array.Float32Builder).Append(float32(r.NormFloat64()))
			case 8:
				b.(*array.Float64Builder).Append(r.NormFloat64() * 1e6)
			case 9:
				b.(*array.BooleanBuilder).Append(r.IntN(2) == 0)
			case 10:
				b.(*array.StringBuilder).Append([]string{"info", "warn", "error", "débogage ✓", ""}[r.IntN(5)] + strings.Repeat("x", r.IntN(50)))
			case 11:
				v := make([]byte, r.IntN(8))
				for k := range v {
					v[k] = byte(r.IntN(256))
				}
				b.(*array.BinaryBuilder).Append(v)
			case 12:
				b.(*array.Decimal128Builder).Append(decimal128.FromI64(r.Int64N(2e11) - 1e11))
			case 13:
				sb := b.(*array.StructBuilder)
				sb.Append(true)
				if null() {
					sb.FieldBuilder(0).AppendNull()
				} else {
					sb.FieldBuilder(0).(*array.Int32Builder).Append(int32(r.IntN(100)))
				}
				sb.FieldBuilder(1).(*array.StringBuilder).Append(fmt.Sprintf("b%d", r.IntN(10)))
			case 14:
				lb := b.(*array.ListBuilder)
				lb.Append(true)
				for k := r.IntN(4); k > 0; k-- {
					if null() {
						lb.ValueBuilder().AppendNull()
					} else {
						lb.ValueBuilder().(*array.StringBuilder).Append(fmt.Sprintf("t%d", r.IntN(5)))
					}
				}
			case 15:
				mb := b.(*array.MapBuilder)
				mb.Append(true)
				for k := r.IntN(3); k > 0; k-- {
					mb.KeyBuilder().(*array.StringBuilder).Append(fmt.Sprintf("k%d", k))
					if null() {
						mb.ItemBuilder().AppendNull()
					} else {
						mb.ItemBuilder().(*array.Int64Builder).Append(r.Int64N(1000))
					}
				}
			}
		}
	}
	return rb.NewRecordBatch()
}

// readAll reads every record of a data file and concatenates them.
func readAll(t testing.TB, r fileio.RecordReader) arrow.Record {
	t.Helper()
	defer r.Close()
	var recs []arrow.Record
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	var sch *arrow.Schema
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sch = rec.Schema()
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	cols := make([]arrow.Array, sch.NumFields())
	var n int64
	for _, rec := range recs {
		n += rec.NumRows()
	}
	for c := range cols {
		parts := make([]arrow.Array, len(recs))
		for k, rec := range recs {
			parts[k] = rec.Column(c)
		}
		a, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Release()
		cols[c] = a
	}
	return array.NewRecordBatch(sch, cols, n)
}

func readPath(t testing.TB, path string, opts *fileio.ReadOptions) arrow.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := fileio.ReadFile(context.Background(), f, st.Size(), opts)
	if err != nil {
		t.Fatalf("ReadFile(%s): %v", path, err)
	}
	return readAll(t, r)
}

func openDuckDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestFileRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const n = 2500
	rec := allTypesRecord(t, mem, n, 7)
	defer rec.Release()
	sch, _ := fileio.ParseSchema(allTypesSchema)

	path := filepath.Join(t.TempDir(), "part-0.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := fileio.NewFileWriter(f, rec.Schema(), &fileio.WriterOptions{RowGroupRows: 1000, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < n; off += 700 { // several writes, row groups across them
		part := rec.NewSlice(off, min(off+700, n))
		if err := w.Write(part); err != nil {
			t.Fatal(err)
		}
		part.Release()
	}
	stats, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if w.BytesWritten() != fi.Size() {
		t.Errorf("BytesWritten = %d, file size %d", w.BytesWritten(), fi.Size())
	}
	if stats.NumRecords != n {
		t.Errorf("stats.NumRecords = %d", stats.NumRecords)
	}

	// Parquet layout: row groups, INT64 TIMESTAMP_MICROS with the right UTC flag.
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRowGroups() != 3 {
		t.Errorf("row groups = %d, want 3", pf.NumRowGroups())
	}
	for _, c := range []struct {
		idx int
		utc bool
	}{{0, true}, {1, false}} {
		col := pf.MetaData().Schema.Column(c.idx)
		lt, ok := col.LogicalType().(schema.TimestampLogicalType)
		if !ok || col.PhysicalType().String() != "INT64" || lt.TimeUnit() != schema.TimeUnitMicros || lt.IsAdjustedToUTC() != c.utc {
			t.Errorf("column %s: physical %s logical %s, want INT64 TIMESTAMP(MICROS, utc=%v)", col.Name(), col.PhysicalType(), col.LogicalType(), c.utc)
		}
	}
	pf.Close()

	got := readPath(t, path, &fileio.ReadOptions{Schema: sch, BatchRows: 600})
	defer got.Release()
	if !got.Schema().Equal(rec.Schema()) {
		t.Fatalf("read schema\n%s\nwant\n%s", got.Schema(), rec.Schema())
	}
	for c := 0; c < int(rec.NumCols()); c++ {
		if !array.Equal(got.Column(c), rec.Column(c)) {
			t.Errorf("column %s differs after round trip", rec.Schema().Field(c).Name)
		}
	}

	// Projection, in another order, with a missing and a partition column.
	evolved := &fileio.Schema{Fields: append(append([]*fileio.Field(nil), sch.Fields...),
		&fileio.Field{Name: "added_later", Type: fileio.TypeString, Nullable: true},
		&fileio.Field{Name: "date", Type: fileio.TypeDate, Nullable: true})}
	proj := readPath(t, path, &fileio.ReadOptions{
		Schema: evolved, Columns: []string{"date", "s", "added_later", "l"},
		PartitionColumns: []string{"date"}, PartitionValues: map[string]*string{"date": strp("2026-11-24")},
	})
	defer proj.Release()
	if proj.NumCols() != 4 || proj.NumRows() != n {
		t.Fatalf("projection: %d cols %d rows", proj.NumCols(), proj.NumRows())
	}
	dates := proj.Column(0).(*array.Date32)
	if dates.NullN() != 0 || dates.Value(0) != 20781 || dates.Value(n-1) != 20781 {
		t.Errorf("partition column not materialized: %v", dates)
	}
	if !array.Equal(proj.Column(1), rec.Column(10)) || !array.Equal(proj.Column(3), rec.Column(3)) {
		t.Error("projected columns differ")
	}
	if proj.Column(2).NullN() != n {
		t.Errorf("added column has %d nulls, want %d", proj.Column(2).NullN(), n)
	}

	// DuckDB reads the file with the intended types and values.
	db := openDuckDB(t)
	var types string
	cols := []string{"ts", "ntz", "day", "l", "i", "sh", "by", "fl", "db", "ok", "s", "raw", "amount", "st", "tags", "m"}
	for k, c := range cols {
		cols[k] = fmt.Sprintf("typeof(%q)", c)
	}
	q := `SELECT ` + strings.Join(cols, "||','||") + ` FROM read_parquet(` + sqlQuote(path) + `) LIMIT 1`
	if err := db.QueryRow(q).Scan(&types); err != nil {
		t.Fatal(err)
	}
	wantTypes := "TIMESTAMP WITH TIME ZONE,TIMESTAMP,DATE,BIGINT,INTEGER,SMALLINT,TINYINT,FLOAT,DOUBLE,BOOLEAN,VARCHAR,BLOB,DECIMAL(12,3),STRUCT(a INTEGER, b VARCHAR),VARCHAR[],MAP(VARCHAR, BIGINT)"
	if types != wantTypes {
		t.Errorf("DuckDB types\n%s\nwant\n%s", types, wantTypes)
	}
	// Aggregates computed independently from the Arrow arrays.
	var (
		cnt, cntTS, minTS, maxTS, sumI, cntStA, nTags, sumM int64
		sumAmount                                           string
		minS                                                string
	)
	q = `SELECT count(*), count(ts), epoch_us(min(ts)), epoch_us(max(ntz)), sum(i), count(st.a), sum(len(tags)),
		coalesce(sum((SELECT sum(v) FROM (SELECT unnest(map_values(m)) AS v))), 0), sum(amount)::VARCHAR, min(s)
		FROM read_parquet(` + sqlQuote(path) + `)`
	if err := db.QueryRow(q).Scan(&cnt, &cntTS, &minTS, &maxTS, &sumI, &cntStA, &nTags, &sumM, &sumAmount, &minS); err != nil {
		t.Fatal(err)
	}
	tsA := rec.Column(0).(*array.Timestamp)
	ntzA := rec.Column(1).(*array.Timestamp)
	iA := rec.Column(4).(*array.Int32)
	sA := rec.Column(10).(*array.String)
	amtA := rec.Column(12).(*array.Decimal128)
	stA := rec.Column(13).(*array.Struct)
	tagsA := rec.Column(14).(*array.List)
	mA := rec.Column(15).(*array.Map)
	var wMinTS, wMaxNTZ, wSumI, wStA, wTags, wSumM int64 = 1 << 62, -1 << 62, 0, 0, 0, 0
	wMinS := "\xff"
	wSumAmt := decimal128.Num{}
	for k := 0; k < n; k++ {
		if tsA.IsValid(k) {
			wMinTS = min(wMinTS, int64(tsA.Value(k)))
		}
		if ntzA.IsValid(k) {
			wMaxNTZ = max(wMaxNTZ, int64(ntzA.Value(k)))
		}
		if iA.IsValid(k) {
			wSumI += int64(iA.Value(k))
		}
		if sA.IsValid(k) && sA.Value(k) < wMinS {
			wMinS = sA.Value(k)
		}
		if amtA.IsValid(k) {
			wSumAmt = wSumAmt.Add(amtA.Value(k))
		}
		if stA.IsValid(k) && stA.Field(0).IsValid(k) {
			wStA++
		}
		if tagsA.IsValid(k) {
			s, e := tagsA.ValueOffsets(k)
			wTags += e - s
		}
		if mA.IsValid(k) {
			s, e := mA.ValueOffsets(k)
			items := mA.Items().(*array.Int64)
			for j := s; j < e; j++ {
				if items.IsValid(int(j)) {
					wSumM += items.Value(int(j))
				}
			}
		}
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"count(*)", cnt, int64(n)},
		{"count(ts)", cntTS, int64(n - tsA.NullN())},
		{"min(ts)", minTS, wMinTS},
		{"max(ntz)", maxTS, wMaxNTZ},
		{"sum(i)", sumI, wSumI},
		{"count(st.a)", cntStA, wStA},
		{"sum(len(tags))", nTags, wTags},
		{"sum(map values)", sumM, wSumM},
		{"sum(amount)", sumAmount, wSumAmt.ToString(3)},
		{"min(s)", minS, wMinS},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("DuckDB %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// And the stats agree with DuckDB's view of the data.
	var dMinL, dMaxL, dNullDB int64
	if err := db.QueryRow(`SELECT min(l), max(l), count(*) - count("db") FROM read_parquet(`+sqlQuote(path)+`)`).Scan(&dMinL, &dMaxL, &dNullDB); err != nil {
		t.Fatal(err)
	}
	if v, _ := stats.Min("l"); fmt.Sprint(v) != fmt.Sprint(dMinL) {
		t.Errorf("stats min(l) = %v, DuckDB %d", v, dMinL)
	}
	if v, _ := stats.Max("l"); fmt.Sprint(v) != fmt.Sprint(dMaxL) {
		t.Errorf("stats max(l) = %v, DuckDB %d", v, dMaxL)
	}
	if v, _ := stats.Nulls("db"); v != dNullDB {
		t.Errorf("stats nullCount(db) = %d, DuckDB %d", v, dNullDB)
	}
}

// TestReadFileSchemaEvolution reads a file written with older, narrower
// types into a wider table schema.
func TestReadFileSchemaEvolution(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	old := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "st", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int16, Nullable: true}), Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, old)
	defer rb.Release()
	rb.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2, 3}, []bool{true, false, true})
	rb.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{1000, 2000, 3000}, nil)
	rb.Field(2).(*array.Float32Builder).AppendValues([]float32{0.5, 1.5, 2.5}, nil)
	sb := rb.Field(3).(*array.StructBuilder)
	for k := 0; k < 3; k++ {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.Int16Builder).Append(int16(10 * k))
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()

	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, old, &fileio.WriterOptions{Compression: "snappy", Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sch, err := fileio.ParseSchema(`{"type":"struct","fields":[
		{"name":"id","type":"long","nullable":true,"metadata":{}},
		{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
		{"name":"x","type":"double","nullable":true,"metadata":{}},
		{"name":"st","type":{"type":"struct","fields":[{"name":"a","type":"long","nullable":true,"metadata":{}},{"name":"b","type":"string","nullable":true,"metadata":{}}]},"nullable":true,"metadata":{}},
		{"name":"new","type":"string","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fileio.ReadFile(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), &fileio.ReadOptions{Schema: sch, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	defer got.Release()
	if !got.Schema().Equal(sch.Arrow()) {
		t.Fatalf("schema %s", got.Schema())
	}
	ids := got.Column(0).(*array.Int64)
	if ids.Value(0) != 1 || ids.IsValid(1) || ids.Value(2) != 3 {
		t.Errorf("id = %v", ids)
	}
	if ts := got.Column(1).(*array.Timestamp); ts.Value(2) != 3_000_000 {
		t.Errorf("ts[2] = %d µs, want 3000000", ts.Value(2))
	}
	if x := got.Column(2).(*array.Float64); x.Value(1) != 1.5 {
		t.Errorf("x = %v", x)
	}
	st := got.Column(3).(*array.Struct)
	if a := st.Field(0).(*array.Int64); a.Value(2) != 20 {
		t.Errorf("st.a = %v", a)
	}
	if st.Field(1).NullN() != 3 || got.Column(4).NullN() != 3 {
		t.Error("missing columns must read as nulls")
	}

	// Only partition and missing columns: rows still come from the footer.
	r, err = fileio.ReadFile(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), &fileio.ReadOptions{
		Schema:  &fileio.Schema{Fields: append(sch.Fields, &fileio.Field{Name: "p", Type: fileio.TypeInteger, Nullable: true})},
		Columns: []string{"p", "new"}, PartitionColumns: []string{"p"}, PartitionValues: map[string]*string{"p": strp("7")}, Allocator: mem,
	})
	if err != nil {
		t.Fatal(err)
	}
	pc := readAll(t, r)
	defer pc.Release()
	if pc.NumRows() != 3 || pc.Column(0).(*array.Int32).Value(2) != 7 {
		t.Errorf("partition-only read = %v", pc)
	}

	if _, err := fileio.ReadFile(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), &fileio.ReadOptions{Schema: sch, Columns: []string{"nope"}}); !errors.Is(err, fileio.ErrSchema) {
		t.Errorf("unknown column: err = %v, want ErrSchema", err)
	}
	if _, err := fileio.ReadFile(context.Background(), bytes.NewReader([]byte("not parquet at all")), 18, nil); !errors.Is(err, fileio.ErrCorrupt) {
		t.Errorf("garbage: err = %v, want ErrCorrupt", err)
	}
}

// A footer whose decimal scale is out of Parquet's range (here -64, one
// corrupt byte) must be refused as corrupt: arrow-go casting from it to the
// table's decimal(12,3) indexed its power-of-ten table by the scale gap and
// panicked in a goroutine of its own, taking the process down.
func TestReadFileCorruptDecimalScale(t *testing.T) {
	mem := memory.NewGoAllocator()
	rec := allTypesRecord(t, mem, 20, 3)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, rec.Schema(), &fileio.WriterOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// Thrift compact: scale (i32 field, zigzag 3 = 0x06) then precision
	// (zigzag 12 = 0x18), in both the legacy and the logical decimal
	// annotation of the footer's schema; zigzag 0x7f is -64.
	footer := len(data) - 8 - int(binary.LittleEndian.Uint32(data[len(data)-8:]))
	n := 0
	for i := footer; i+4 <= len(data); i++ {
		if bytes.Equal(data[i:i+4], []byte{0x15, 0x06, 0x15, 0x18}) {
			data[i+1] = 0x7f
			n++
		}
	}
	if n == 0 {
		t.Fatal("decimal(12,3) annotation not found in the footer")
	}
	sch, _ := fileio.ParseSchema(allTypesSchema)
	r, err := fileio.ReadFile(context.Background(), bytes.NewReader(data), int64(len(data)), &fileio.ReadOptions{Schema: sch})
	if err == nil {
		defer r.Close()
		_, err = r.Next()
	}
	if !errors.Is(err, fileio.ErrCorrupt) || !strings.Contains(err.Error(), "decimal") {
		t.Fatalf("err = %v, want ErrCorrupt naming the decimal", err)
	}
}

// Single-byte corruptions of a data file (0xff at every fourth byte of the
// pages, every third of the footer: negative varints, lengths and
// offsets) read as data or fail
// with ErrCorrupt or ErrSchema, never panics. Byte-flipping a file like this
// one found arrow-go panics both in the caller (nil pointers, makeslice,
// row count mismatches) and in pqarrow's own goroutines (a column chunk
// range outside the file), which only a check before reading can stop.
func TestReadFileCorruptBytes(t *testing.T) {
	mem := memory.NewGoAllocator()
	rec := allTypesRecord(t, mem, 10, 7)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, rec.Schema(), &fileio.WriterOptions{RowGroupRows: 5, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	sch, _ := fileio.ParseSchema(allTypesSchema)
	read := func(data []byte) error {
		r, err := fileio.ReadFile(context.Background(), bytes.NewReader(data), int64(len(data)), &fileio.ReadOptions{Schema: sch})
		if err != nil {
			return err
		}
		defer r.Close()
		for {
			rec, err := r.Next()
			if err != nil {
				return err
			}
			rec.Release()
		}
	}
	corrupt := 0
	footer := len(good) - 8 - int(binary.LittleEndian.Uint32(good[len(good)-8:]))
	var at []int
	for i := 4; i < footer; i += 4 {
		at = append(at, i)
	}
	for i := footer; i < len(good)-8; i += 3 {
		at = append(at, i)
	}
	for _, i := range at {
		data := bytes.Clone(good)
		data[i] = 0xff
		switch err := read(data); {
		case errors.Is(err, io.EOF):
		case errors.Is(err, fileio.ErrCorrupt):
			corrupt++
		case !errors.Is(err, fileio.ErrSchema):
			t.Fatalf("byte %d: %v, want ErrCorrupt or ErrSchema", i, err)
		}
	}
	t.Logf("%d bytes, %d corruptions refused as ErrCorrupt", len(good), corrupt)
	if corrupt == 0 {
		t.Fatal("no corruption was noticed")
	}
}

// corpusFile is a data file of the shared corpus with what we know of it.
type corpusFile struct {
	table      string
	glob       string // data files, relative to the table
	schema     string // the table's schemaString
	partCols   []string
	partValues map[string]*string
	check      func(t *testing.T, rec arrow.Record)
}

func TestReadCorpusFiles(t *testing.T) {
	dir := sharedCorpusDir(t)
	db := openDuckDB(t)
	const strSch = `{"type":"struct","fields":[{"name":"value","type":"string","nullable":true,"metadata":{}},{"name":"year","type":"string","nullable":true,"metadata":{}},{"name":"month","type":"string","nullable":true,"metadata":{}},{"name":"day","type":"string","nullable":true,"metadata":{}}]}`
	cases := []corpusFile{
		{table: "delta-0.8.0-partitioned", glob: "year=2021/month=12/day=4/*.parquet", schema: strSch,
			partCols: []string{"year", "month", "day"}, partValues: map[string]*string{"year": strp("2021"), "month": strp("12"), "day": strp("4")},
			check: func(t *testing.T, rec arrow.Record) {
				if v := rec.Column(2).(*array.String).Value(0); v != "12" {
					t.Errorf("month = %q", v)
				}
			}},
		{table: "delta-2.2.0-partitioned-types", glob: "c1=4/c2=c/*.parquet",
			schema:   `{"type":"struct","fields":[{"name":"c1","type":"integer","nullable":true,"metadata":{}},{"name":"c2","type":"string","nullable":true,"metadata":{}},{"name":"c3","type":"integer","nullable":true,"metadata":{}}]}`,
			partCols: []string{"c1", "c2"}, partValues: map[string]*string{"c1": strp("4"), "c2": strp("c")},
			check: func(t *testing.T, rec arrow.Record) {
				// add.stats: {"numRecords":1,"minValues":{"c3":5}}
				if c1, c3 := rec.Column(0).(*array.Int32).Value(0), rec.Column(2).(*array.Int32).Value(0); c1 != 4 || c3 != 5 {
					t.Errorf("c1, c3 = %d, %d; want 4, 5", c1, c3)
				}
			}},
		{table: "table_with_edge_timestamps", glob: "part-00000-*.parquet",
			schema: `{"type":"struct","fields":[{"name":"BIG_DATE","type":"timestamp","nullable":true,"metadata":{}},{"name":"NORMAL_DATE","type":"timestamp","nullable":true,"metadata":{}},{"name":"SOME_VALUE","type":"integer","nullable":true,"metadata":{}}]}`,
			check: func(t *testing.T, rec arrow.Record) {
				// add.stats: BIG_DATE 9999-12-31T00:00:00.000Z, NORMAL_DATE 2022-01-01T00:00:00.000Z (INT96 in the file).
				big := rec.Column(0).(*array.Timestamp).Value(0)
				normal := rec.Column(1).(*array.Timestamp).Value(0)
				if want := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMicro(); int64(big) != want {
					t.Errorf("BIG_DATE = %d, want %d", big, want)
				}
				if want := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(); int64(normal) != want {
					t.Errorf("NORMAL_DATE = %d, want %d", normal, want)
				}
			}},
		{table: "COVID-19_NYT", glob: "part-00000-*.parquet",
			schema: `{"type":"struct","fields":[{"name":"date","type":"string","nullable":true,"metadata":{}},{"name":"county","type":"string","nullable":true,"metadata":{}},{"name":"state","type":"string","nullable":true,"metadata":{}},{"name":"fips","type":"integer","nullable":true,"metadata":{}},{"name":"cases","type":"integer","nullable":true,"metadata":{}},{"name":"deaths","type":"integer","nullable":true,"metadata":{}}]}`},
		{table: "http_requests", glob: "date=2023-04-14/*.parquet",
			schema:   `{"type":"struct","fields":[{"name":"date","type":"string","nullable":true,"metadata":{}},{"name":"ClientIP","type":"string","nullable":true,"metadata":{}},{"name":"ClientRequestHost","type":"string","nullable":true,"metadata":{}},{"name":"ClientRequestMethod","type":"string","nullable":true,"metadata":{}},{"name":"ClientRequestURI","type":"string","nullable":true,"metadata":{}},{"name":"EdgeEndTimestamp","type":"timestamp","nullable":true,"metadata":{}},{"name":"EdgeResponseBytes","type":"long","nullable":true,"metadata":{}},{"name":"EdgeResponseStatus","type":"short","nullable":true,"metadata":{}},{"name":"EdgeStartTimestamp","type":"timestamp","nullable":true,"metadata":{}}]}`,
			partCols: []string{"date"}, partValues: map[string]*string{"date": strp("2023-04-14")},
			check: func(t *testing.T, rec arrow.Record) {
				// add.stats: numRecords 1437, EdgeStartTimestamp max 2023-04-14T00:00:45.000Z.
				if rec.NumRows() != 1437 {
					t.Errorf("rows = %d, want 1437", rec.NumRows())
				}
				start := rec.Column(8).(*array.Timestamp)
				var hi arrow.Timestamp
				for k := 0; k < start.Len(); k++ {
					hi = max(hi, start.Value(k))
				}
				if want := time.Date(2023, 4, 14, 0, 0, 45, 0, time.UTC).UnixMicro(); int64(hi) != want {
					t.Errorf("max EdgeStartTimestamp = %d, want %d", hi, want)
				}
			}},
		{table: "partition-type-primitives", glob: "year=2021.0/is_active=true/event_date=2023-01-02/category=A/*.parquet",
			schema:     `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"value","type":"string","nullable":true,"metadata":{}},{"name":"year","type":"string","nullable":true,"metadata":{}},{"name":"is_active","type":"string","nullable":true,"metadata":{}},{"name":"event_date","type":"string","nullable":true,"metadata":{}},{"name":"category","type":"string","nullable":true,"metadata":{}}]}`,
			partCols:   []string{"year", "is_active", "event_date", "category"},
			partValues: map[string]*string{"is_active": strp("true"), "event_date": strp("2023-01-02"), "category": strp("A"), "year": strp("2021.0")},
			check: func(t *testing.T, rec arrow.Record) {
				// add.stats: id 11, value "record_11".
				if id, v, y := rec.Column(0).(*array.Int64).Value(0), rec.Column(1).(*array.String).Value(0), rec.Column(2).(*array.String).Value(0); id != 11 || v != "record_11" || y != "2021.0" {
					t.Errorf("row = %d %q %q", id, v, y)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.table, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, tc.table, tc.glob))
			if len(files) == 0 {
				t.Fatalf("no files match %s", tc.glob)
			}
			sch, err := fileio.ParseSchema(tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec := readPath(t, files[0], &fileio.ReadOptions{Schema: sch, PartitionColumns: tc.partCols, PartitionValues: tc.partValues, BatchRows: 10000, Allocator: mem})
			defer rec.Release()
			if !rec.Schema().Equal(sch.Arrow()) {
				t.Errorf("schema %s", rec.Schema())
			}
			// Row count and per-column non-null counts against DuckDB.
			for c, f := range sch.Fields {
				if isIn(tc.partCols, f.Name) {
					continue
				}
				var total, nonNull int64
				q := fmt.Sprintf(`SELECT count(*), count(%q) FROM read_parquet(%s)`, f.Name, sqlQuote(files[0]))
				if err := db.QueryRow(q).Scan(&total, &nonNull); err != nil {
					t.Fatal(err)
				}
				if rec.NumRows() != total {
					t.Fatalf("rows = %d, DuckDB %d", rec.NumRows(), total)
				}
				if got := int64(rec.Column(c).Len() - rec.Column(c).NullN()); got != nonNull {
					t.Errorf("%s: %d non-null, DuckDB %d", f.Name, got, nonNull)
				}
			}
			// Integer sums and string extremes against DuckDB.
			for c, f := range sch.Fields {
				if isIn(tc.partCols, f.Name) {
					continue
				}
				switch f.Type {
				case fileio.TypeInteger, fileio.TypeLong, fileio.TypeShort:
					var want sql.NullInt64
					if err := db.QueryRow(fmt.Sprintf(`SELECT sum(%q)::BIGINT FROM read_parquet(%s)`, f.Name, sqlQuote(files[0]))).Scan(&want); err != nil {
						t.Fatal(err)
					}
					if got := sumInts(rec.Column(c)); got != want.Int64 {
						t.Errorf("sum(%s) = %d, DuckDB %d", f.Name, got, want.Int64)
					}
				case fileio.TypeString:
					var want sql.NullString
					if err := db.QueryRow(fmt.Sprintf(`SELECT max(%q) FROM read_parquet(%s)`, f.Name, sqlQuote(files[0]))).Scan(&want); err != nil {
						t.Fatal(err)
					}
					if got := maxString(rec.Column(c)); got != want.String {
						t.Errorf("max(%s) = %q, DuckDB %q", f.Name, got, want.String)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, rec)
			}
		})
	}
}

func isIn(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sumInts(a arrow.Array) int64 {
	var s int64
	for k := 0; k < a.Len(); k++ {
		if a.IsNull(k) {
			continue
		}
		switch a := a.(type) {
		case *array.Int16:
			s += int64(a.Value(k))
		case *array.Int32:
			s += int64(a.Value(k))
		case *array.Int64:
			s += a.Value(k)
		}
	}
	return s
}

func maxString(a arrow.Array) string {
	s := a.(*array.String)
	var m string
	for k := 0; k < s.Len(); k++ {
		if s.IsValid(k) && s.Value(k) > m {
			m = s.Value(k)
		}
	}
	return m
}

// logSchema is the shape of the tables loglake writes.
func logRecord(b testing.TB, mem memory.Allocator, n int, seed uint64) (arrow.Record, int64) {
	sch, err := fileio.ParseSchema(`{"type":"struct","fields":[
		{"name":"ts","type":"timestamp","nullable":false,"metadata":{}},
		{"name":"service","type":"string","nullable":true,"metadata":{}},
		{"name":"host","type":"string","nullable":true,"metadata":{}},
		{"name":"level","type":"string","nullable":true,"metadata":{}},
		{"name":"message","type":"string","nullable":true,"metadata":{}},
		{"name":"trace_id","type":"string","nullable":true,"metadata":{}},
		{"name":"org_id","type":"long","nullable":true,"metadata":{}},
		{"name":"attrs","type":"string","nullable":true,"metadata":{}},
		{"name":"egress_approved","type":"boolean","nullable":true,"metadata":{}}]}`)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 2))
	rb := array.NewRecordBuilder(mem, sch.Arrow())
	defer rb.Release()
	services := []string{"api", "auth", "billing", "search", "ingest", "egress", "web", "worker"}
	levels := []string{"debug", "info", "info", "info", "warn", "error"}
	words := strings.Fields("request completed user session cache miss upstream timeout retry payload bytes latency ms handler route status ok failed queue partition offset commit")
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixMicro()
	var raw int64
	var msg strings.Builder
	for i := 0; i < n; i++ {
		rb.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(base + int64(i)*1000 + r.Int64N(1000)))
		svc := services[r.IntN(len(services))]
		rb.Field(1).(*array.StringBuilder).Append(svc)
		host := fmt.Sprintf("%s-%d.eu-west-1.internal", svc, r.IntN(40))
		rb.Field(2).(*array.StringBuilder).Append(host)
		lvl := levels[r.IntN(len(levels))]
		rb.Field(3).(*array.StringBuilder).Append(lvl)
		msg.Reset()
		for msg.Len() < 200 {
			msg.WriteString(words[r.IntN(len(words))])
			msg.WriteByte(' ')
			if r.IntN(5) == 0 {
				fmt.Fprintf(&msg, "%d ", r.IntN(100000))
			}
		}
		rb.Field(4).(*array.StringBuilder).Append(msg.String())
		trace := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		rb.Field(5).(*array.StringBuilder).Append(trace)
		rb.Field(6).(*array.Int64Builder).Append(int64(1000 + r.IntN(200)))
		attrs := fmt.Sprintf(`{"http.status":%d,"duration_ms":%d,"region":"eu-west-1"}`, []int{200, 200, 200, 404, 500}[r.IntN(5)], r.IntN(3000))
		rb.Field(7).(*array.StringBuilder).Append(attrs)
		rb.Field(8).(*array.BooleanBuilder).Append(r.IntN(4) != 0)
		raw += 8 + int64(len(svc)+len(host)+len(lvl)+msg.Len()+len(trace)+len(attrs)) + 8 + 1
	}
	return rb.NewRecordBatch(), raw
}

func TestLogFileWriter(t *testing.T) {
	rec, _ := logRecord(t, memory.DefaultAllocator, 20_000, 3)
	defer rec.Release()
	var stats []string
	for _, opts := range []*fileio.WriterOptions{nil, {PlainDistinct: true}} {
		var buf bytes.Buffer
		w, err := fileio.NewFileWriter(&buf, rec.Schema(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if w.NumRows() != 20_000 || w.EstimatedSize() <= 0 {
			t.Errorf("NumRows %d EstimatedSize %d", w.NumRows(), w.EstimatedSize())
		}
		st, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := st.Nulls("service"); st.NumRecords != 20_000 || n != 0 {
			t.Errorf("stats %s", st.JSON())
		}
		if mx, _ := st.Max("level"); mx != "warn" {
			t.Errorf("max(level) = %v", mx)
		}
		stats = append(stats, st.JSON())
		// Low-cardinality columns are dictionary encoded; with
		// PlainDistinct the nearly unique messages are not.
		pf, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		for col, wantDict := range map[int]bool{1: true, 3: true, 4: opts == nil} {
			cc, err := pf.MetaData().RowGroup(0).ColumnChunk(col)
			if err != nil {
				t.Fatal(err)
			}
			if cc.HasDictionaryPage() != wantDict {
				t.Errorf("options %+v: column %d has a dictionary page: %v, want %v", opts, col, cc.HasDictionaryPage(), wantDict)
			}
		}
		sch, _ := fileio.SchemaFromArrow(rec.Schema())
		r, err := fileio.ReadFile(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), &fileio.ReadOptions{Schema: sch})
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		if !array.RecordEqual(got, rec) {
			t.Errorf("options %+v: log record differs after round trip", opts)
		}
		got.Release()
	}
	if stats[0] != stats[1] {
		t.Errorf("statistics differ with PlainDistinct:\n%s\n%s", stats[0], stats[1])
	}
}

// TestFileWriterPlainDistinctEmpty closes a PlainDistinct writer that never
// saw a record: the file must still be a valid, empty Parquet file.
func TestFileWriterPlainDistinctEmpty(t *testing.T) {
	rec, _ := logRecord(t, memory.DefaultAllocator, 10, 1)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, rec.Schema(), &fileio.WriterOptions{PlainDistinct: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if st.NumRecords != 0 || pf.NumRows() != 0 || pf.MetaData().Schema.NumColumns() != rec.Schema().NumFields() {
		t.Errorf("empty file: %d records, %d rows, %d columns", st.NumRecords, pf.NumRows(), pf.MetaData().Schema.NumColumns())
	}
}

func BenchmarkFileWriter(b *testing.B) {
	mem := memory.DefaultAllocator
	const n = 100_000
	rec, raw := logRecord(b, mem, n, 1)
	defer rec.Release()
	b.SetBytes(raw)
	b.ResetTimer()
	var size int64
	for i := 0; i < b.N; i++ {
		w, err := fileio.NewFileWriter(io.Discard, rec.Schema(), nil)
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < n; off += 10_000 {
			part := rec.NewSlice(off, off+10_000)
			if err := w.Write(part); err != nil {
				b.Fatal(err)
			}
			part.Release()
		}
		if _, err := w.Close(); err != nil {
			b.Fatal(err)
		}
		size = w.BytesWritten()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(raw)/float64(size), "ratio")
}

func BenchmarkReadFile(b *testing.B) {
	mem := memory.DefaultAllocator
	const n = 100_000
	rec, raw := logRecord(b, mem, n, 1)
	defer rec.Release()
	var buf bytes.Buffer
	w, err := fileio.NewFileWriter(&buf, rec.Schema(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		b.Fatal(err)
	}
	sch, _ := fileio.SchemaFromArrow(rec.Schema())
	b.SetBytes(raw)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := fileio.ReadFile(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), &fileio.ReadOptions{Schema: sch})
		if err != nil {
			b.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rec.Release()
		}
		r.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
