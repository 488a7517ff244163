package ingest

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// colBuf holds one column of the rows decoded since the last finish, in
// the layout of Arrow's buffers, as plain Go slices: appending a value is
// a slice append instead of an arrow-go builder call (Reserve, an offset
// callback and a bitmap update per value took about half of commitRow's
// time), and finish hands the slices to Arrow without copying. Map
// columns keep an arrow-go builder (mp): their layout is nested.
type colBuf struct {
	kind  kind
	typ   arrow.DataType
	n     int // rows
	nulls int // null rows
	// nullRows are the null rows' numbers, ascending: the validity bitmap
	// is built from them once per chunk (most columns have no null, and
	// a bit set per value was a third of appending it).
	nullRows []int32
	i64      []int64
	i32      []int32
	i16      []int16
	i8       []int8
	f64      []float64
	f32      []float32
	bits     []byte  // boolean values, a bitmap
	offs     []int32 // string and binary: len n+1, offs[0] = 0
	data     []byte  // string and binary values
	mp       *array.MapBuilder
	// dict, while not nil, holds the column's distinct values and i32 the
	// rows' indices into it (see valueDict); a column that outgrows it
	// leaves it for good.
	dict *valueDict
	// bytes and rows a string or binary column has held so far: reserve
	// sizes the next chunk's data buffer from them.
	bytes, rows int64
}

func newColBuf(mem memory.Allocator, k kind, t arrow.DataType) colBuf {
	c := colBuf{kind: k, typ: t}
	if k == kMap {
		c.mp = array.NewBuilder(mem, t).(*array.MapBuilder)
	}
	return c
}

// reserve makes room for n more rows; string and binary columns also get
// the bytes their previous rows took per row (growing by doubling copies
// the data again and again).
func (c *colBuf) reserve(n int) {
	if c.dict != nil {
		c.i32 = grow(c.i32, n)
		return
	}
	switch c.kind {
	case kString, kBinary:
		if c.offs == nil {
			c.offs = append(make([]int32, 0, n+1), 0)
		} else {
			c.offs = grow(c.offs, n)
		}
		if c.rows > 0 {
			per := c.bytes / c.rows
			c.data = grow(c.data, int(per*int64(n)+per*int64(n)/8))
		}
	case kLong, kTimestamp:
		c.i64 = grow(c.i64, n)
	case kInt, kDate:
		c.i32 = grow(c.i32, n)
	case kShort:
		c.i16 = grow(c.i16, n)
	case kByte:
		c.i8 = grow(c.i8, n)
	case kDouble:
		c.f64 = grow(c.f64, n)
	case kFloat:
		c.f32 = grow(c.f32, n)
	case kBool:
		c.bits = grow(c.bits, (c.n+n+7)/8-len(c.bits))
	case kMap:
		c.mp.Reserve(n)
	}
}

// grow returns s with room for n more elements.
func grow[T any](s []T, n int) []T {
	if n <= 0 || cap(s)-len(s) >= n {
		return s
	}
	out := make([]T, len(s), len(s)+n)
	copy(out, s)
	return out
}

// appendNull appends a null row.
func (c *colBuf) appendNull() {
	c.nullRows = append(c.nullRows, int32(c.n))
	c.nulls++
	if c.kind == kBool {
		c.appendBit(false)
	}
	c.n++
	if c.dict != nil {
		c.i32 = append(c.i32, 0)
		return
	}
	switch c.kind {
	case kString, kBinary:
		if c.offs == nil {
			c.offs = append(c.offs, 0)
		}
		c.offs = append(c.offs, int32(len(c.data)))
	case kLong, kTimestamp:
		c.i64 = append(c.i64, 0)
	case kInt, kDate:
		c.i32 = append(c.i32, 0)
	case kShort:
		c.i16 = append(c.i16, 0)
	case kByte:
		c.i8 = append(c.i8, 0)
	case kDouble:
		c.f64 = append(c.f64, 0)
	case kFloat:
		c.f32 = append(c.f32, 0)
	case kMap:
		c.mp.AppendNull()
	}
}

// appendBytes appends a string or binary value.
func (c *colBuf) appendBytes(v []byte) {
	if c.dict != nil {
		if k, ok := c.dict.index(v); ok {
			c.n++
			c.i32 = append(c.i32, k)
			return
		}
		c.leaveDict()
	}
	c.n++
	if c.offs == nil {
		c.offs = append(c.offs, 0)
	}
	c.data = append(c.data, v...)
	c.offs = append(c.offs, int32(len(c.data)))
}

// appendIndex appends entry k of the column's dictionary, which
// builder.dictValue found (and counted) while the column was
// dictionary-encoded: only this column's own appends leave the dictionary.
func (c *colBuf) appendIndex(k int32) {
	c.n++
	c.i32 = append(c.i32, k)
}

// appendInt appends an integer, timestamp, date or boolean (0/1) value.
func (c *colBuf) appendInt(v int64) {
	if c.kind == kBool {
		c.appendBit(v != 0)
	}
	c.n++
	switch c.kind {
	case kLong, kTimestamp:
		c.i64 = append(c.i64, v)
	case kInt, kDate:
		c.i32 = append(c.i32, int32(v))
	case kShort:
		c.i16 = append(c.i16, int16(v))
	case kByte:
		c.i8 = append(c.i8, int8(v))
	}
}

// appendBit sets a boolean column's value bit of row c.n.
func (c *colBuf) appendBit(v bool) {
	if c.n&7 == 0 {
		c.bits = append(c.bits, 0)
	}
	if v {
		c.bits[c.n>>3] |= 1 << (c.n & 7)
	}
}

// appendFloat appends a double or float value.
func (c *colBuf) appendFloat(v float64) {
	c.n++
	if c.kind == kDouble {
		c.f64 = append(c.f64, v)
	} else {
		c.f32 = append(c.f32, float32(v))
	}
}

// asBytes is the memory of s as bytes, for an Arrow buffer.
func asBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(z)))
}

// array returns the column as an Arrow array and starts a new one; the
// slices now belong to the array (the next rows get fresh ones).
func (c *colBuf) array() arrow.Array {
	if c.kind == kMap {
		// The builder keeps the validity; the row numbers here only counted.
		c.n, c.nulls, c.nullRows = 0, 0, c.nullRows[:0]
		return c.mp.NewArray()
	}
	n := c.n
	var valid *memory.Buffer
	if c.nulls > 0 {
		valid = memory.NewBufferBytes(c.validity())
	}
	if c.dict != nil {
		bufs := []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.i32))}
		values := c.dict.values()
		d := array.NewDataWithDictionary(dictString, n, bufs, c.nulls, 0, values)
		values.Release()
		a := array.MakeFromData(d)
		d.Release()
		*c = colBuf{kind: c.kind, typ: c.typ, dict: c.dict, nullRows: c.nullRows[:0]}
		return a
	}
	var bufs []*memory.Buffer
	switch c.kind {
	case kString, kBinary:
		if c.offs == nil {
			c.offs = []int32{0}
		}
		c.bytes, c.rows = c.bytes+int64(len(c.data)), c.rows+int64(n)
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.offs)), memory.NewBufferBytes(c.data)}
	case kLong, kTimestamp:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.i64))}
	case kInt, kDate:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.i32))}
	case kShort:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.i16))}
	case kByte:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.i8))}
	case kDouble:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.f64))}
	case kFloat:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(asBytes(c.f32))}
	case kBool:
		bufs = []*memory.Buffer{valid, memory.NewBufferBytes(c.bits)}
	}
	d := array.NewData(c.typ, n, bufs, nil, c.nulls, 0)
	a := array.MakeFromData(d)
	d.Release()
	*c = colBuf{kind: c.kind, typ: c.typ, bytes: c.bytes, rows: c.rows, nullRows: c.nullRows[:0]}
	return a
}

// validity returns the validity bitmap of the column's rows: bit i set
// when row i is not null.
func (c *colBuf) validity() []byte {
	bm := make([]byte, (c.n+7)/8)
	for i := range bm {
		bm[i] = 0xff
	}
	if r := c.n & 7; r != 0 {
		bm[len(bm)-1] = 1<<r - 1
	}
	for _, i := range c.nullRows {
		bm[i>>3] &^= 1 << (i & 7)
	}
	return bm
}

// dictString is the type of a column a decoder dictionary-encoded, which
// table.Writer takes in place of a string column.
var dictString = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// leaveDict turns the column's rows so far into plain values and ends its
// dictionary.
func (c *colBuf) leaveDict() {
	d := c.dict
	c.dict = nil
	idx := c.i32
	c.i32 = nil
	c.offs = append(make([]int32, 0, cap(idx)+1), 0)
	nulls := c.nullRows
	for i, k := range idx {
		if len(nulls) > 0 && int(nulls[0]) == i {
			nulls = nulls[1:]
		} else {
			c.data = append(c.data, d.value(k)...)
		}
		c.offs = append(c.offs, int32(len(c.data)))
	}
}
