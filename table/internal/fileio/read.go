package fileio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ReadOptions configure ReadFile.
type ReadOptions struct {
	// Schema is the table's logical schema. Records are returned in it,
	// whatever the file's own types. nil means the file's schema.
	Schema *Schema
	// Columns projects the output, in this order; nil means every column
	// of Schema. It may name partition columns.
	Columns []string
	// PartitionColumns and PartitionValues (add.partitionValues) give the
	// columns that are not in the file and their constant values.
	PartitionColumns []string
	PartitionValues  map[string]*string
	// BatchRows is the number of rows per record (default DefaultBatchRows).
	BatchRows int
	// Allocator for the records (default memory.DefaultAllocator).
	Allocator memory.Allocator
}

// RecordReader iterates the records of a data file.
type RecordReader interface {
	// Next returns the next record, which the caller owns and must
	// Release, or io.EOF after the last one.
	Next() (arrow.Record, error)
	// Close releases the reader's resources. It does not close the
	// file handle given to ReadFile.
	Close() error
}

type sourceKind int

const (
	srcFile      sourceKind = iota // a column of the pqarrow record
	srcInt96                       // a top-level INT96 column read directly
	srcPartition                   // constant partition value
	srcNull                        // missing from the file
)

type colSource struct {
	kind   sourceKind
	name   string // file column name (srcFile)
	target arrow.DataType
	value  any          // srcPartition
	int96  *int96Column // srcInt96
	cache  arrow.Array  // constant column of the last length used
}

type fileReader struct {
	ctx     context.Context
	mem     memory.Allocator
	schema  *arrow.Schema
	sources []*colSource
	rr      pqarrow.RecordReader
	left    int64 // rows not yet returned, for readers without rr
	batch   int64
	closed  bool
}

// ReadFile opens a Parquet data file for reading in the table schema.
// Columns of opts.Schema missing from the file read as nulls (the file
// predates a schema change); file types are converted to the table's
// (Spark's INT96 timestamps, narrower integers, other timestamp units,
// binary stored for string, …); partition columns are materialized from
// opts.PartitionValues. Only the projected columns are read from the file.
// size is the file's length, used to check it is a Parquet file.
//
// A data file is untrusted bytes (another engine wrote it, or storage
// damaged it): a panic of the Parquet reader on it becomes ErrCorrupt.
func ReadFile(ctx context.Context, r parquet.ReaderAtSeeker, size int64, opts *ReadOptions) (_ RecordReader, err error) {
	defer recoverCorrupt(&err)
	var o ReadOptions
	if opts != nil {
		o = *opts
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.BatchRows <= 0 {
		o.BatchRows = DefaultBatchRows
	}
	if size >= 0 && size < 12 {
		return nil, fmt.Errorf("%w: data file of %d bytes is not Parquet", ErrCorrupt, size)
	}
	pf, err := file.NewParquetReader(r, file.WithReadProps(parquet.NewReaderProperties(o.Allocator)))
	if err != nil {
		return nil, fmt.Errorf("%w: open parquet: %v", ErrCorrupt, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(o.BatchRows), PreAllocBinaryData: true}, o.Allocator)
	if err != nil {
		return nil, fmt.Errorf("%w: parquet schema: %v", ErrCorrupt, err)
	}
	sch := o.Schema
	if sch == nil {
		fs, err := fr.Schema()
		if err != nil {
			return nil, fmt.Errorf("%w: parquet schema: %v", ErrCorrupt, err)
		}
		if sch, err = SchemaFromArrow(fs); err != nil {
			return nil, err
		}
	}
	cols := o.Columns
	if cols == nil {
		for _, f := range sch.Fields {
			cols = append(cols, f.Name)
		}
	}

	rd := &fileReader{ctx: ctx, mem: o.Allocator, batch: int64(o.BatchRows), left: pf.NumRows()}
	var outFields []arrow.Field
	var leaves []int
	for _, name := range cols {
		tf := sch.Field(name)
		if tf == nil {
			return nil, fmt.Errorf("%w: column %q is not in the table schema", ErrSchema, name)
		}
		af := tf.Arrow()
		outFields = append(outFields, af)
		src := &colSource{target: af.Type}
		if isPartitionColumn(o.PartitionColumns, tf.Name) {
			src.kind = srcPartition
			pv, _ := PartitionValue(o.PartitionValues, partitionColumn(o.PartitionColumns, tf.Name))
			v, err := ParsePartitionValue(pv, tf.Type)
			if err != nil {
				return nil, err
			}
			src.value = v
		} else if sf := findFileField(fr.Manifest.Fields, tf.Name); sf == nil {
			src.kind = srcNull
		} else if sf.IsLeaf() && pf.MetaData().Schema.Column(sf.ColIndex).PhysicalType() == parquet.Types.Int96 {
			src.kind = srcInt96
			src.int96 = &int96Column{rdr: pf, col: sf.ColIndex, maxDef: pf.MetaData().Schema.Column(sf.ColIndex).MaxDefinitionLevel()}
		} else {
			src.kind = srcFile
			src.name = sf.Field.Name
			leaves = appendLeaves(leaves, sf)
		}
		rd.sources = append(rd.sources, src)
	}
	rd.schema = arrow.NewSchema(outFields, nil)
	if len(leaves) > 0 {
		if err := checkColumnChunks(pf, leaves); err != nil {
			return nil, err
		}
		rr, err := fr.GetRecordReader(ctx, leaves, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: parquet columns: %v", ErrCorrupt, err)
		}
		rd.rr = rr
	}
	return rd, nil
}

func isPartitionColumn(cols []string, name string) bool {
	for _, c := range cols {
		if c == name || strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// partitionColumn is the name metaData.partitionColumns gives the schema
// field `name` (the same name; partitionColumns are matched to the schema
// case-insensitively, like the schema's own column resolution).
func partitionColumn(cols []string, name string) string {
	for _, c := range cols {
		if c == name {
			return c
		}
	}
	for _, c := range cols {
		if strings.EqualFold(c, name) {
			return c
		}
	}
	return name
}

// PartitionValue is the one rule for a partition column's value in
// add.partitionValues, used to read partition columns and to prune: the key
// spelled exactly as metaData.partitionColumns names the column. The
// protocol defines the map that way and Spark reads it that way, by exact
// name; a key that differs only in case is another key, so the column reads
// as null (as in Spark) and nothing is pruned on it. ok is false when the
// key is absent.
func PartitionValue(values map[string]*string, column string) (value *string, ok bool) {
	value, ok = values[column]
	return value, ok
}

func findFileField(fields []pqarrow.SchemaField, name string) *pqarrow.SchemaField {
	for i := range fields {
		if fields[i].Field.Name == name {
			return &fields[i]
		}
	}
	for i := range fields {
		if strings.EqualFold(fields[i].Field.Name, name) {
			return &fields[i]
		}
	}
	return nil
}

func appendLeaves(dst []int, f *pqarrow.SchemaField) []int {
	if f.IsLeaf() {
		return append(dst, f.ColIndex)
	}
	for i := range f.Children {
		dst = appendLeaves(dst, &f.Children[i])
	}
	return dst
}

// recoverCorrupt turns a panic of the Parquet or Arrow code reading a data
// file, in the caller's goroutine, into ErrCorrupt.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: parquet reader failed: %v", ErrCorrupt, r)
	}
}

// checkColumnChunks checks that the byte range of every column chunk to be
// read lies inside the file, as arrow-go computes it. pqarrow opens the
// first row group's chunks of struct fields in goroutines of its own, where
// a corrupt range (a negative length) panics beyond any recover.
func checkColumnChunks(pf *file.Reader, leaves []int) error {
	size := pf.MetaData().GetSourceFileSize()
	for g := 0; g < pf.NumRowGroups(); g++ {
		rg := pf.MetaData().RowGroup(g)
		for _, i := range leaves {
			col, err := rg.ColumnChunk(i)
			if err != nil {
				return fmt.Errorf("%w: row group %d column %d: %v", ErrCorrupt, g, i, err)
			}
			start, n := col.DataPageOffset(), col.TotalCompressedSize()
			if col.HasDictionaryPage() && col.DictionaryPageOffset() > 0 && start > col.DictionaryPageOffset() {
				start = col.DictionaryPageOffset()
			}
			if start < 0 || n < 0 || start > size || n > size-start {
				return fmt.Errorf("%w: row group %d column %d: bytes %d+%d outside the file's %d", ErrCorrupt, g, i, start, n, size)
			}
		}
	}
	return nil
}

// Schema returns the Arrow schema of the records.
func (r *fileReader) Schema() *arrow.Schema { return r.schema }

func (r *fileReader) Next() (_ arrow.Record, err error) {
	defer recoverCorrupt(&err)
	if r.closed {
		return nil, errors.New("table: read on closed RecordReader")
	}
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	var (
		in arrow.Record
		n  int64
	)
	if r.rr != nil {
		if !r.rr.Next() {
			if err := r.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: read parquet: %v", ErrCorrupt, err)
			}
			return nil, io.EOF
		}
		in = r.rr.RecordBatch()
		n = in.NumRows()
	} else {
		if r.left <= 0 {
			return nil, io.EOF
		}
		n = min(r.left, r.batch)
		r.left -= n
	}

	cols := make([]arrow.Array, len(r.sources))
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	cctx := compute.WithAllocator(r.ctx, r.mem)
	for i, src := range r.sources {
		var err error
		switch src.kind {
		case srcFile:
			idx := in.Schema().FieldIndices(src.name)
			if len(idx) == 0 {
				err = fmt.Errorf("%w: column %q missing from parquet batch", ErrCorrupt, src.name)
				break
			}
			cols[i], err = conform(cctx, r.mem, in.Column(idx[0]), src.target)
		case srcInt96:
			var raw arrow.Array
			if raw, err = src.int96.read(r.mem, n); err == nil {
				cols[i], err = conform(cctx, r.mem, raw, src.target)
				raw.Release()
			}
		case srcPartition, srcNull:
			cols[i], err = src.constant(r.mem, int(n))
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("table: column %q: %w", r.schema.Field(i).Name, err)
		}
	}
	rec := array.NewRecordBatch(r.schema, cols, n)
	release()
	return rec, nil
}

func (r *fileReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.rr != nil {
		r.rr.Release()
	}
	for _, s := range r.sources {
		if s.cache != nil {
			s.cache.Release()
		}
		if s.int96 != nil {
			s.int96.close()
		}
	}
	return nil
}

// constant returns a column of n copies of the source's value (null for
// missing columns). The last one built is kept: batches mostly share n.
func (s *colSource) constant(mem memory.Allocator, n int) (arrow.Array, error) {
	if s.cache != nil && s.cache.Len() >= n {
		return array.NewSlice(s.cache, 0, int64(n)), nil
	}
	if s.cache != nil {
		s.cache.Release()
		s.cache = nil
	}
	var arr arrow.Array
	if s.kind == srcNull || s.value == nil {
		arr = array.MakeArrayOfNull(mem, s.target, n)
	} else {
		b := array.NewBuilder(mem, s.target)
		defer b.Release()
		b.Reserve(n)
		for i := 0; i < n; i++ {
			if err := appendScalar(b, s.value); err != nil {
				return nil, err
			}
		}
		arr = b.NewArray()
	}
	s.cache = arr
	arr.Retain()
	return arr, nil
}

// appendScalar appends a value of the Go types ParsePartitionValue returns.
func appendScalar(b array.Builder, v any) error {
	switch b := b.(type) {
	case *array.StringBuilder:
		if s, ok := v.(string); ok {
			b.Append(s)
			return nil
		}
	case *array.BinaryBuilder:
		if s, ok := v.([]byte); ok {
			b.Append(s)
			return nil
		}
	case *array.Int64Builder:
		if i, ok := v.(int64); ok {
			b.Append(i)
			return nil
		}
	case *array.Int32Builder:
		if i, ok := v.(int64); ok {
			b.Append(int32(i))
			return nil
		}
	case *array.Int16Builder:
		if i, ok := v.(int64); ok {
			b.Append(int16(i))
			return nil
		}
	case *array.Int8Builder:
		if i, ok := v.(int64); ok {
			b.Append(int8(i))
			return nil
		}
	case *array.Float64Builder:
		if f, ok := v.(float64); ok {
			b.Append(f)
			return nil
		}
	case *array.Float32Builder:
		if f, ok := v.(float64); ok {
			b.Append(float32(f))
			return nil
		}
	case *array.BooleanBuilder:
		if x, ok := v.(bool); ok {
			b.Append(x)
			return nil
		}
	case *array.Date32Builder:
		if t, ok := v.(time.Time); ok {
			b.Append(arrow.Date32(floorDiv(t.Unix(), 86400)))
			return nil
		}
	case *array.TimestampBuilder:
		if t, ok := v.(time.Time); ok {
			b.Append(arrow.Timestamp(t.Unix()*1e6 + int64(t.Nanosecond()/1e3)))
			return nil
		}
	case *array.Decimal128Builder:
		if d, ok := v.(decimal128.Num); ok {
			b.Append(d)
			return nil
		}
	}
	return fmt.Errorf("%w: cannot build a %s column from %T", ErrSchema, b.Type(), v)
}

// int96Column reads a top-level INT96 timestamp column (Spark's default
// timestamp encoding) as µs. pqarrow converts INT96 to nanoseconds, which
// overflows outside 1677-2262; Delta allows years 0001-9999.
type int96Column struct {
	rdr    *file.Reader
	col    int
	maxDef int16
	rg     int
	cur    *file.Int96ColumnChunkReader
	vals   []parquet.Int96
	defs   []int16
}

const julianEpochDay = 2440588 // Julian day number of 1970-01-01

func int96Micros(v parquet.Int96) int64 {
	nanos := binary.LittleEndian.Uint64(v[:8])
	day := int64(binary.LittleEndian.Uint32(v[8:]))
	return (day-julianEpochDay)*86400e6 + int64(nanos/1000)
}

// close releases the current column chunk's pages.
func (c *int96Column) close() {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
}

func (c *int96Column) read(mem memory.Allocator, n int64) (arrow.Array, error) {
	b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	defer b.Release()
	b.Reserve(int(n))
	for left := n; left > 0; {
		if c.cur == nil || !c.cur.HasNext() {
			if c.rg >= c.rdr.NumRowGroups() {
				return nil, fmt.Errorf("%w: INT96 column ended %d rows early", ErrCorrupt, left)
			}
			c.close()
			cr, err := c.rdr.RowGroup(c.rg).Column(c.col)
			if err != nil {
				return nil, err
			}
			c.rg++
			r, ok := cr.(*file.Int96ColumnChunkReader)
			if !ok {
				return nil, fmt.Errorf("%w: column %d is not INT96", ErrCorrupt, c.col)
			}
			c.cur = r
			continue
		}
		want := min(left, 4096)
		if len(c.vals) < int(want) {
			c.vals = make([]parquet.Int96, want)
			c.defs = make([]int16, want)
		}
		total, nv, err := c.cur.ReadBatch(want, c.vals, c.defs, nil)
		if err != nil {
			return nil, err
		}
		if c.maxDef == 0 {
			for _, v := range c.vals[:nv] {
				b.Append(arrow.Timestamp(int96Micros(v)))
			}
		} else {
			k := 0
			for _, d := range c.defs[:total] {
				if d == c.maxDef {
					b.Append(arrow.Timestamp(int96Micros(c.vals[k])))
					k++
				} else {
					b.AppendNull()
				}
			}
		}
		left -= total
	}
	return b.NewArray(), nil
}

// conform converts arr to type to. It retains arr when nothing changes.
func conform(ctx context.Context, mem memory.Allocator, arr arrow.Array, to arrow.DataType) (arrow.Array, error) {
	from := arr.DataType()
	if arrow.TypeEqual(from, to) {
		arr.Retain()
		return arr, nil
	}
	switch to := to.(type) {
	case *arrow.StructType:
		s, ok := arr.(*array.Struct)
		if !ok {
			break
		}
		return conformStruct(ctx, mem, s, to, false)
	case *arrow.ListType:
		l, ok := arr.(*array.List)
		if !ok {
			break
		}
		vals, err := conform(ctx, mem, l.ListValues(), to.Elem())
		if err != nil {
			return nil, err
		}
		defer vals.Release()
		d := array.NewData(to, l.Len(), l.Data().Buffers(), []arrow.ArrayData{vals.Data()}, l.NullN(), l.Data().Offset())
		defer d.Release()
		return array.MakeFromData(d), nil
	case *arrow.MapType:
		m, ok := arr.(*array.Map)
		if !ok {
			break
		}
		entries, ok := m.ListValues().(*array.Struct)
		if !ok {
			break
		}
		ents, err := conformStruct(ctx, mem, entries, to.Elem().(*arrow.StructType), true)
		if err != nil {
			return nil, err
		}
		defer ents.Release()
		d := array.NewData(to, m.Len(), m.Data().Buffers(), []arrow.ArrayData{ents.Data()}, m.NullN(), m.Data().Offset())
		defer d.Release()
		return array.MakeFromData(d), nil
	case *arrow.TimestampType:
		if ft, ok := from.(*arrow.TimestampType); ok {
			return convertTimestamp(mem, arr.(*array.Timestamp), ft.Unit, to)
		}
	case *arrow.StringType:
		if from.ID() == arrow.BINARY {
			d := array.NewData(to, arr.Len(), arr.Data().Buffers(), nil, arr.NullN(), arr.Data().Offset())
			defer d.Release()
			return array.MakeFromData(d), nil
		}
	case *arrow.BinaryType:
		if from.ID() == arrow.STRING {
			d := array.NewData(to, arr.Len(), arr.Data().Buffers(), nil, arr.NullN(), arr.Data().Offset())
			defer d.Release()
			return array.MakeFromData(d), nil
		}
	}
	if from.ID() == arrow.NULL {
		return array.MakeArrayOfNull(mem, to, arr.Len()), nil
	}
	if err := checkDecimal(from); err != nil {
		return nil, err
	}
	out, err := compute.CastArray(ctx, arr, compute.SafeCastOptions(to))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s as %s: %v", ErrSchema, from, to, err)
	}
	return out, nil
}

// checkDecimal refuses a decimal type outside Parquet's rules (precision
// 1 up to what the width holds, scale 0 to precision), which only a corrupt
// footer gives: arrow-go reads it as is, and casting from it indexes its
// power-of-ten tables by the scale and panics, in a goroutine of its own
// where no recover reaches.
func checkDecimal(t arrow.DataType) error {
	var p, s, maxP int32
	switch t := t.(type) {
	case *arrow.Decimal32Type:
		p, s, maxP = t.Precision, t.Scale, 9
	case *arrow.Decimal64Type:
		p, s, maxP = t.Precision, t.Scale, 18
	case *arrow.Decimal128Type:
		p, s, maxP = t.Precision, t.Scale, 38
	case *arrow.Decimal256Type:
		p, s, maxP = t.Precision, t.Scale, 76
	default:
		return nil
	}
	if p < 1 || p > maxP || s < 0 || s > p {
		return fmt.Errorf("%w: data file column type %s is not a valid decimal", ErrCorrupt, t)
	}
	return nil
}

// conformStruct rebuilds a struct array with to's fields, matched by name
// (or by position for map entries); absent fields become nulls.
func conformStruct(ctx context.Context, mem memory.Allocator, s *array.Struct, to *arrow.StructType, byPosition bool) (arrow.Array, error) {
	st := s.DataType().(*arrow.StructType)
	n := s.Len()
	children := make([]arrow.ArrayData, to.NumFields())
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	for j, tf := range to.Fields() {
		src := -1
		if byPosition {
			if j < st.NumFields() {
				src = j
			}
		} else if idx, ok := st.FieldIdx(tf.Name); ok {
			src = idx
		} else {
			for k, f := range st.Fields() {
				if strings.EqualFold(f.Name, tf.Name) {
					src = k
					break
				}
			}
		}
		var c arrow.Array
		if src < 0 {
			c = array.MakeArrayOfNull(mem, tf.Type, n)
		} else {
			var err error
			if c, err = conform(ctx, mem, s.Field(src), tf.Type); err != nil {
				return nil, fmt.Errorf("field %q: %w", tf.Name, err)
			}
		}
		children[j] = c.Data()
		children[j].Retain()
		c.Release()
	}
	// s.Field(j) is already sliced to s's window, so the new struct starts
	// at offset 0 and needs a validity bitmap aligned to it.
	var validity *memory.Buffer
	if s.NullN() > 0 {
		off := s.Data().Offset()
		bm := s.Data().Buffers()[0]
		if off == 0 {
			bm.Retain()
			validity = bm
		} else {
			validity = memory.NewResizableBuffer(mem)
			validity.Resize(int(bitutil.BytesForBits(int64(n))))
			bitutil.CopyBitmap(bm.Bytes(), off, n, validity.Bytes(), 0)
		}
		defer validity.Release()
	}
	d := array.NewData(to, n, []*memory.Buffer{validity}, children, s.NullN(), 0)
	defer d.Release()
	return array.MakeFromData(d), nil
}

func convertTimestamp(mem memory.Allocator, a *array.Timestamp, from arrow.TimeUnit, to *arrow.TimestampType) (arrow.Array, error) {
	if from == to.Unit {
		d := array.NewData(to, a.Len(), a.Data().Buffers(), nil, a.NullN(), a.Data().Offset())
		defer d.Release()
		return array.MakeFromData(d), nil
	}
	b := array.NewTimestampBuilder(mem, to)
	defer b.Release()
	b.Reserve(a.Len())
	for i, v := range a.TimestampValues() {
		if a.IsNull(i) {
			b.AppendNull()
			continue
		}
		us := unitToMicros(int64(v), from)
		switch to.Unit {
		case arrow.Second:
			us = floorDiv(us, 1e6)
		case arrow.Millisecond:
			us = floorDiv(us, 1e3)
		case arrow.Nanosecond:
			us *= 1e3
		}
		b.Append(arrow.Timestamp(us))
	}
	return b.NewArray(), nil
}
