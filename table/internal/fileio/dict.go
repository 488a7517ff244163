package fileio

import (
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// dictColumn is the file-wide dictionary of one DictLowCardinality column.
type dictColumn struct {
	col    int              // column of the record
	memo   map[string]int32 // value → index into values
	values []string
	bytes  int         // sum of len(values)
	dict   arrow.Array // values as an Arrow array (nil until built)
	idx    []int32     // indices of the last chunk encoded, by position in its buffers
	extra  []string    // values of this chunk past a full dictionary
	extraM map[string]int32
	remap  []int32 // scratch of remapIndices
	used   []bool  // scratch of extremes
	// The last chunk encoded: its length, and the extremes of its valid
	// rows (page and Delta statistics both need them).
	n      int
	lo, hi string
	found  bool
}

// encode sets d.idx to the dictionary indices of arr's values (a string or a
// dictionary<int32, string> column), adding new values to the dictionary
// (or, once it is full, to this chunk's extra values), and the chunk's
// extremes.
func (d *dictColumn) encode(arr arrow.Array) error {
	d.extra, d.extraM = d.extra[:0], nil
	off, n := arr.Data().Offset(), arr.Len()
	d.idx = slices.Grow(d.idx[:0], off+n)[:off+n]
	switch a := arr.(type) {
	case *array.String:
		d.lookupValues(a, d.idx[off:])
	case *array.Dictionary:
		if err := d.remapIndices(a, d.idx[off:]); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: column of %s where a string column is expected", ErrSchema, arr.DataType())
	}
	d.n = n
	d.lo, d.hi, d.found = d.extremes(arr)
	return nil
}

// chunkExtremes returns the extremes of arr, the chunk d.encode saw last
// or a slice of it.
func (d *dictColumn) chunkExtremes(arr arrow.Array) (lo, hi string, found bool) {
	if arr.Len() == d.n {
		return d.lo, d.hi, d.found
	}
	return d.extremes(arr)
}

// indices returns the dictionary indices of arr, the chunk d.encode saw
// last or a slice of it, as an int32 array with arr's validity.
func (d *dictColumn) indices(arr arrow.Array) arrow.Array {
	bufs := []*memory.Buffer{arr.Data().Buffers()[0], memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(d.idx))}
	data := array.NewData(arrow.PrimitiveTypes.Int32, arr.Len(), bufs, nil, arr.NullN(), arr.Data().Offset())
	defer data.Release()
	return array.MakeFromData(data)
}

// extremes returns the least and greatest values of arr's valid rows (arr
// as in indices), found among the distinct values they use rather than by
// comparing every row.
func (d *dictColumn) extremes(arr arrow.Array) (lo, hi string, found bool) {
	off, n := arr.Data().Offset(), arr.Len()
	idx := d.idx[off : off+n]
	values := d.values
	if len(d.extra) > 0 {
		values = append(slices.Clip(values), d.extra...)
	}
	d.used = slices.Grow(d.used[:0], len(values))[:len(values)]
	clear(d.used)
	if arr.NullN() == 0 {
		for _, k := range idx {
			d.used[k] = true
		}
	} else {
		bits := arr.NullBitmapBytes()
		for i, k := range idx {
			if bitutil.BitIsSet(bits, off+i) {
				d.used[k] = true
			}
		}
	}
	for k, u := range d.used {
		if !u {
			continue
		}
		if v := values[k]; !found || v < lo {
			lo = v
		}
		if v := values[k]; !found || v > hi {
			hi = v
		}
		found = true
	}
	return lo, hi, found
}

// lookupValues sets idx[i] to the dictionary index of row i of arr (0 for
// null rows).
func (d *dictColumn) lookupValues(arr *array.String, idx []int32) {
	// The value bytes are read through the offsets directly, and a row
	// equal to the row before it takes that row's index without a map
	// lookup: log fields repeat (a file's constant _source_file, runs of
	// one level or service), and comparing with the previous value costs
	// a fraction of hashing it.
	offs := arr.ValueOffsets() // absolute positions in the data buffer
	var vals []byte
	if b := arr.Data().Buffers()[2]; b != nil {
		vals = b.Bytes()
	}
	valid := arr.NullN() == 0
	var prev []byte
	prevK := int32(-1)
	for i := range arr.Len() {
		if !valid && arr.IsNull(i) {
			idx[i] = 0
			continue
		}
		b := vals[offs[i]:offs[i+1]]
		if prevK >= 0 && string(b) == string(prev) {
			idx[i] = prevK
			continue
		}
		k := d.index(b)
		idx[i] = k
		prev, prevK = b, k
	}
}

// index returns v's index in the dictionary, adding it (or, once the
// dictionary is full, to this chunk's extra values) when it is new.
func (d *dictColumn) index(b []byte) int32 {
	if k, ok := d.memo[string(b)]; ok {
		return k
	}
	v := string(b)
	if len(d.values) < maxDictEntries && d.bytes+len(v) <= maxDictBytes {
		k := int32(len(d.values))
		d.memo[v] = k
		d.values = append(d.values, v)
		d.bytes += len(v)
		return k
	}
	if d.extraM == nil {
		d.extraM = map[string]int32{}
	}
	k, ok := d.extraM[v]
	if !ok {
		k = int32(len(d.values) + len(d.extra))
		d.extraM[v] = k
		d.extra = append(d.extra, v)
	}
	return k
}

func stringArray(vals []string, mem memory.Allocator) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}
