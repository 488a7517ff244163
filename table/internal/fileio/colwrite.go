package fileio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetWriter is what FileWriter needs of the Parquet writer underneath:
// pqarrow's, for any schema, or colWriter, for a flat one.
type parquetWriter interface {
	WriteBuffered(rec arrow.RecordBatch) error
	NewBufferedRowGroupChecked() error
	RowGroupNumRows() (int, error)
	RowGroupTotalCompressedBytes() int64
	Close() error
}

// colWriter writes the buffered row groups of a file whose columns are all
// top-level primitives, column by column through arrow-go's column chunk
// writers, which pqarrow.FileWriter keeps to itself. Two costs of pqarrow go:
// a DictLowCardinality column's indices reach the encoder as they are, with
// page statistics from the dictionary values the chunk uses (pqarrow hashes
// every index of every chunk to find those: 7 % of ingest's CPU on short
// lines), and definition levels are filled into one reused buffer rather
// than built per column and chunk. The Parquet written is the same.
type colWriter struct {
	fw      *file.Writer
	rgw     file.BufferedRowGroupWriter // nil before the first row group
	ctx     context.Context             // pqarrow's write context (timestamp coercion)
	fields  []arrow.Field
	dicts   []*dictColumn // by column: its file-wide dictionary, or nil
	maxRows int64
	cuts    int     // row groups ended early because a dictionary grew
	defs    []int16 // definition levels of the column being written
	ones    []int16 // all present: the levels of a column without nulls
	dense   []int32 // the value offsets writeDense passes
	// extremes are, by column, the least and greatest string value of the
	// rows WriteBuffered wrote last: for a dictionary column those
	// d.encode found, for another string column those arrow-go's page
	// statistics found. The file's statistics take them instead of
	// comparing every value a second time (string min/max was 5 % of
	// ingesting short lines, half of it twice).
	extremes []stringExtremes
}

// stringExtremes are the least and greatest values of a string column's
// rows (found: there are non-null ones), when known (ok).
type stringExtremes struct {
	lo, hi    []byte
	found, ok bool
}

// isFlat reports whether every column of sch is a top-level primitive (no
// struct, list or map), the schemas colWriter writes.
func isFlat(sch *arrow.Schema) bool {
	for _, f := range sch.Fields() {
		if _, nested := f.Type.(arrow.NestedType); nested {
			return false
		}
	}
	return true
}

func newColWriter(sink io.Writer, sch *arrow.Schema, props *parquet.WriterProperties, aprops pqarrow.ArrowWriterProperties, dicts []*dictColumn) (*colWriter, error) {
	pqsch, err := pqarrow.ToParquet(sch, props, aprops)
	if err != nil {
		return nil, err
	}
	md := sch.Metadata()
	kv := make(metadata.KeyValueMetadata, 0, md.Len())
	for i, k := range md.Keys() {
		kv.Append(k, md.Values()[i])
	}
	fw, err := file.NewParquetWriterWithError(sink, pqsch.Root(), file.WithWriterProps(props), file.WithWriteMetadata(kv))
	if err != nil {
		return nil, err
	}
	c := &colWriter{fw: fw, ctx: pqarrow.NewArrowWriteContext(context.Background(), &aprops),
		fields: sch.Fields(), dicts: make([]*dictColumn, sch.NumFields()), maxRows: props.MaxRowGroupLength(),
		extremes: make([]stringExtremes, sch.NumFields())}
	for _, d := range dicts {
		c.dicts[d.col] = d
	}
	return c, nil
}

func (c *colWriter) NewBufferedRowGroupChecked() error {
	if c.rgw != nil {
		if err := c.rgw.Close(); err != nil {
			return err
		}
	}
	rgw, err := c.fw.AppendBufferedRowGroupChecked()
	if err != nil {
		return err
	}
	c.rgw = rgw
	return nil
}

func (c *colWriter) RowGroupNumRows() (int, error) {
	if c.rgw == nil {
		return 0, nil
	}
	return c.rgw.NumRows()
}

func (c *colWriter) RowGroupTotalCompressedBytes() int64 {
	if c.rgw == nil {
		return 0
	}
	return c.rgw.TotalCompressedBytes()
}

func (c *colWriter) Close() error {
	var err error
	if c.rgw != nil {
		err = c.rgw.Close()
	}
	return errors.Join(err, c.fw.Close())
}

// WriteBuffered appends rec to the buffered row group, starting new ones at
// the row group length (as pqarrow does) and when a dictionary grew.
func (c *colWriter) WriteBuffered(rec arrow.RecordBatch) error {
	for i := range c.extremes {
		e := &c.extremes[i]
		e.found, e.ok = false, true
	}
	grew, err := c.encodeDicts(rec)
	if err != nil {
		return err
	}
	rows, err := c.RowGroupNumRows()
	if err != nil {
		return err
	}
	if c.rgw == nil || grew && rows > 0 && c.cuts < maxDictCuts {
		// The encoder keeps the dictionary a row group started with; a
		// grown one starts a new row group (else the column would be
		// written plain to the end of this one).
		if c.rgw != nil {
			c.cuts++
		}
		if err := c.NewBufferedRowGroupChecked(); err != nil {
			return err
		}
		rows = 0
	}
	for off, n := int64(0), rec.NumRows(); off < n; {
		if int64(rows) >= c.maxRows {
			if err := c.NewBufferedRowGroupChecked(); err != nil {
				return err
			}
			rows = 0
		}
		end := min(n, off+c.maxRows-int64(rows))
		if err := c.writeRows(rec, off, end); err != nil {
			return err
		}
		rows += int(end - off)
		off = end
	}
	return nil
}

// encodeDicts computes the dictionary indices of rec's dictionary columns
// and reports whether a file-wide dictionary grew.
func (c *colWriter) encodeDicts(rec arrow.RecordBatch) (grew bool, err error) {
	for i, d := range c.dicts {
		if d == nil {
			continue
		}
		if err := d.encode(rec.Column(i)); err != nil {
			return false, err
		}
		e := &c.extremes[i]
		e.lo, e.hi, e.found = append(e.lo[:0], d.lo...), append(e.hi[:0], d.hi...), d.found
		if d.dict == nil || len(d.values) != d.dict.Len() {
			grew = grew || d.dict != nil
			if d.dict != nil {
				d.dict.Release()
			}
			d.dict = stringArray(d.values, c.fw.Properties().Allocator())
		}
	}
	return grew, nil
}

// writeRows writes rows [off, end) of rec.
func (c *colWriter) writeRows(rec arrow.RecordBatch, off, end int64) error {
	for i, f := range c.fields {
		cw, err := c.rgw.Column(i)
		if err != nil {
			return err
		}
		arr := rec.Column(i)
		if off != 0 || end != int64(arr.Len()) {
			arr = array.NewSlice(arr, off, end)
			defer arr.Release()
		}
		if v, ok := withValueBytes(arr); ok {
			arr = v
			defer arr.Release()
		}
		defs := c.defLevels(f, arr)
		if d := c.dicts[i]; f.Nullable && arr.Len() > 0 && arr.NullN() == arr.Len() {
			err = writeNulls(cw, defs)
		} else if d != nil {
			err = c.writeDict(cw, d, arr, defs, f.Nullable)
		} else {
			st, _ := cw.PageStatistics().(*metadata.ByteArrayStatistics)
			var before int64
			if st != nil {
				before = st.NumValues()
			}
			var dense bool
			if dense, err = c.writeDense(cw, arr, defs); !dense {
				err = pqarrow.WriteArrowToColumn(c.ctx, cw, arr, defs, nil, f.Nullable)
			}
			c.extremes[i].note(st, before, arr)
		}
		if err != nil {
			return fmt.Errorf("column %q: %w", f.Name, err)
		}
	}
	return nil
}

// defLevels returns arr's definition levels: none for a required column, 1
// for a value and 0 for a null otherwise.
func (c *colWriter) defLevels(f arrow.Field, arr arrow.Array) []int16 {
	n := arr.Len()
	if !f.Nullable {
		return nil
	}
	if arr.NullN() == 0 {
		if len(c.ones) < n {
			c.ones = slices.Repeat([]int16{1}, n)
		}
		return c.ones[:n]
	}
	c.defs = slices.Grow(c.defs[:0], n)[:n]
	bits, off := arr.NullBitmapBytes(), arr.Data().Offset()
	i := 0
	if off&7 == 0 {
		// A bitmap byte at a time: its eight levels from a table.
		for bits := bits[off>>3:]; i+8 <= n; i += 8 {
			*(*[8]int16)(c.defs[i:]) = byteLevels[bits[i>>3]]
		}
	}
	for ; i < n; i++ { // the validity bit itself: no branch to mispredict
		c.defs[i] = int16(bits[(off+i)>>3] >> ((off + i) & 7) & 1)
	}
	return c.defs
}

// writeDense writes a string or binary column with nulls to a plain
// (not dictionary) encoder as its values only, one offset each, beside the
// definition levels: pqarrow hands such a column to the "spaced" writer,
// which walks the validity bitmap run by run (5 % of ingesting sparse
// logs, whose columns alternate value and null every row or two). The
// values' bytes are already contiguous when every null slot is empty, as
// the decoders and the Parquet reader leave them; otherwise, or for any
// other column, it writes nothing and reports false.
func (c *colWriter) writeDense(cw file.ColumnChunkWriter, arr arrow.Array, defs []int16) (bool, error) {
	w, ok := cw.(*file.ByteArrayColumnChunkWriter)
	if !ok || arr.NullN() == 0 || len(defs) != arr.Len() || !w.SupportsArrowOffsets() {
		return false, nil
	}
	var offs []int32
	switch a := arr.(type) {
	case *array.String:
		offs = a.ValueOffsets()
	case *array.Binary:
		offs = a.ValueOffsets()
	default:
		return false, nil
	}
	dense := append(c.dense[:0], offs[0])
	for i, d := range defs {
		switch {
		case d != 0:
			dense = append(dense, offs[i+1])
		case offs[i+1] != offs[i]:
			return false, nil // a null slot with bytes: the values are not contiguous
		}
	}
	c.dense = dense
	values := []byte{}
	if b := arr.Data().Buffers()[2]; b != nil && b.Bytes() != nil {
		values = b.Bytes()
	}
	_, err := w.WriteBatchArrow(values, dense, defs, nil)
	return true, err
}

// withValueBytes returns arr, a string or binary array whose value buffer
// holds a nil byte slice (every value empty: an Arrow writer may leave it
// so), with an empty one instead (ok), else arr itself. arrow-go slices
// each value out of that buffer, and its statistics skip a nil value as
// absent: "" would be missing from the page's min and max.
func withValueBytes(arr arrow.Array) (arrow.Array, bool) {
	switch arr.DataType().ID() {
	case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
	default:
		return arr, false
	}
	bufs := arr.Data().Buffers()
	if len(bufs) < 3 || bufs[2] == nil || bufs[2].Bytes() != nil {
		return arr, false
	}
	bufs = slices.Clone(bufs)
	bufs[2] = memory.NewBufferBytes([]byte{})
	d := array.NewData(arr.DataType(), arr.Len(), bufs, nil, arr.NullN(), arr.Data().Offset())
	defer d.Release()
	return array.MakeFromData(d), true
}

// byteLevels are the definition levels of the eight rows of a validity
// bitmap byte.
var byteLevels = func() (t [256][8]int16) {
	for b := range t {
		for i := range 8 {
			t[b][i] = int16(b >> i & 1)
		}
	}
	return t
}()

// note folds in the extremes of arr, a string column just written, from
// st, its page statistics (nil: none kept), which counted before values
// before. When a page was flushed while writing arr, st restarted and no
// longer holds all of arr's values: the extremes are then not known.
func (e *stringExtremes) note(st *metadata.ByteArrayStatistics, before int64, arr arrow.Array) {
	if arr.DataType().ID() != arrow.STRING {
		e.ok = false
	}
	if !e.ok {
		return
	}
	n := int64(arr.Len() - arr.NullN())
	switch {
	case st == nil || st.NumValues()-before != n:
		e.ok = false
		return
	case n == 0:
		return
	case !st.HasMinMax():
		e.ok = false
		return
	}
	// The page's extremes may be those of the column's earlier rows in the
	// same page: rows of this file too, which bound them anyway.
	if lo := st.Min(); !e.found || bytes.Compare(lo, e.lo) < 0 {
		e.lo = append(e.lo[:0], lo...)
	}
	if hi := st.Max(); !e.found || bytes.Compare(hi, e.hi) > 0 {
		e.hi = append(e.hi[:0], hi...)
	}
	e.found = true
}

// writeNulls writes a run of nulls (defs all 0) to cw: levels and the
// null count only. pqarrow would still hand the encoder a value slot per
// row (for a string column, a []parquet.ByteArray it allocates and walks),
// and a column a source never fills, _rescued_data most of all, is all
// nulls.
func writeNulls(cw file.ColumnChunkWriter, defs []int16) error {
	switch w := cw.(type) {
	case *file.ByteArrayColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.Int64ColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.Int32ColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.BooleanColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.Float64ColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.Float32ColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.FixedLenByteArrayColumnChunkWriter:
		return writeNullBatch(w, defs)
	case *file.Int96ColumnChunkWriter:
		return writeNullBatch(w, defs)
	}
	return fmt.Errorf("%w: no null writer for %T", ErrSchema, cw)
}

// batchWriter is arrow-go's typed column chunk writer of values of type T.
type batchWriter[T any] interface {
	WriteBatch(values []T, defLevels, repLevels []int16) (int64, error)
}

func writeNullBatch[T any](w batchWriter[T], defs []int16) error {
	_, err := w.WriteBatch(nil, defs, nil)
	return err
}

// dictEncoder is the part of arrow-go's dictionary encoder (an internal
// type) that writing dictionary indices directly needs.
type dictEncoder interface {
	PutDictionary(arrow.Array) error
	PreservedDictionary() arrow.Array
	NumEntries() int
}

// writeDict writes arr, rows of the chunk d.encode saw last, as indices into
// d's dictionary: the row group's dictionary page is d's dictionary when
// the row group started with it. Otherwise (values past a full dictionary, a dictionary that grew after
// the row group started, an encoder that fell back to plain) the values go
// to the encoder as strings, which hashes them into its own dictionary or
// stores them plain.
func (c *colWriter) writeDict(cw file.ColumnChunkWriter, d *dictColumn, arr arrow.Array, defs []int16, nullable bool) error {
	enc, ok := cw.CurrentEncoder().(dictEncoder)
	ok = ok && len(d.extra) == 0
	if ok {
		switch prev := enc.PreservedDictionary(); {
		case prev == nil && enc.NumEntries() == 0:
			if err := enc.PutDictionary(d.dict); err != nil {
				return err
			}
			ok = enc.NumEntries() == d.dict.Len()
			if !ok {
				cw.FallbackToPlain() // duplicate values: indices would not match
			}
		case prev == nil:
			ok = false
		default:
			ok = prev == d.dict
		}
	}
	if !ok {
		dense, err := denseString(arr)
		if err != nil {
			return err
		}
		defer dense.Release()
		return pqarrow.WriteArrowToColumn(c.ctx, cw, dense, defs, nil, nullable)
	}
	idx := d.indices(arr)
	defer idx.Release()
	if st, ok := cw.PageStatistics().(*metadata.ByteArrayStatistics); ok {
		st.IncNulls(int64(arr.NullN()))
		st.IncNumValues(int64(arr.Len() - arr.NullN()))
		if lo, hi, found := d.chunkExtremes(arr); found {
			st.SetMinMax(parquet.ByteArray(lo), parquet.ByteArray(hi))
		}
	}
	return cw.WriteDictIndices(idx, defs, nil)
}
