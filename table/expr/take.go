package expr

import (
	"context"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// takeRecord keeps the rows whose bit is set in sel. Common column types are
// gathered here directly (arrow-go's take/filter kernels cost 50-80 ns per
// boolean or string value); others go through compute.TakeArray.
func takeRecord(rec arrow.RecordBatch, sel []uint64, count int) (arrow.RecordBatch, error) {
	idx := make([]int, 0, count)
	for w, word := range sel {
		for word != 0 {
			idx = append(idx, w*64+bits.TrailingZeros64(word))
			word &= word - 1
		}
	}
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var idxArr arrow.Array // for the compute fallback, built once
	defer func() {
		if idxArr != nil {
			idxArr.Release()
		}
	}()
	for i, c := range rec.Columns() {
		out := takeArray(c, idx)
		if out == nil {
			if idxArr == nil {
				b := array.NewInt64Builder(memory.DefaultAllocator)
				for _, j := range idx {
					b.Append(int64(j))
				}
				idxArr = b.NewArray()
				b.Release()
			}
			var err error
			if out, err = compute.TakeArray(context.Background(), c, idxArr); err != nil {
				return nil, err
			}
		}
		cols[i] = out
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

// takeArray gathers idx from arr, or returns nil for types it leaves to compute.
func takeArray(arr arrow.Array, idx []int) arrow.Array {
	switch a := arr.(type) {
	case *array.Int8:
		return takeFixed(a, a.Int8Values(), idx)
	case *array.Int16:
		return takeFixed(a, a.Int16Values(), idx)
	case *array.Int32:
		return takeFixed(a, a.Int32Values(), idx)
	case *array.Int64:
		return takeFixed(a, a.Int64Values(), idx)
	case *array.Uint8:
		return takeFixed(a, a.Uint8Values(), idx)
	case *array.Uint16:
		return takeFixed(a, a.Uint16Values(), idx)
	case *array.Uint32:
		return takeFixed(a, a.Uint32Values(), idx)
	case *array.Uint64:
		return takeFixed(a, a.Uint64Values(), idx)
	case *array.Float32:
		return takeFixed(a, a.Float32Values(), idx)
	case *array.Float64:
		return takeFixed(a, a.Float64Values(), idx)
	case *array.Date32:
		return takeFixed(a, a.Date32Values(), idx)
	case *array.Date64:
		return takeFixed(a, a.Date64Values(), idx)
	case *array.Timestamp:
		return takeFixed(a, a.TimestampValues(), idx)
	case *array.Boolean:
		vals := a.Data().Buffers()[1].Bytes()
		off := a.Data().Offset()
		out := make([]byte, bitutil.BytesForBits(int64(len(idx))))
		for k, i := range idx {
			if bitutil.BitIsSet(vals, off+i) {
				bitutil.SetBit(out, k)
			}
		}
		return build(a, len(idx), idx, memory.NewBufferBytes(out))
	case *array.String:
		return takeBinary(a, a.ValueOffsets(), a.ValueBytes(), idx)
	case *array.LargeString:
		return takeBinary(a, a.ValueOffsets(), a.ValueBytes(), idx)
	case *array.Binary:
		return takeBinary(a, a.ValueOffsets(), a.ValueBytes(), idx)
	case *array.Dictionary:
		ind := takeArray(a.Indices(), idx)
		if ind == nil {
			return nil
		}
		defer ind.Release()
		return array.NewDictionaryArray(a.DataType(), ind, a.Dictionary())
	}
	return nil
}

func takeFixed[T any](a arrow.Array, vals []T, idx []int) arrow.Array {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = vals[i]
	}
	var b []byte
	if len(out) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), len(out)*int(unsafe.Sizeof(out[0])))
	}
	return build(a, len(idx), idx, memory.NewBufferBytes(b))
}

func takeBinary[O int32 | int64](a arrow.Array, offs []O, data []byte, idx []int) arrow.Array {
	size := O(0)
	for _, i := range idx {
		size += offs[i+1] - offs[i]
	}
	base := offs[0]
	outOffs := make([]O, len(idx)+1)
	outData := make([]byte, 0, size)
	for k, i := range idx {
		outData = append(outData, data[offs[i]-base:offs[i+1]-base]...)
		outOffs[k+1] = O(len(outData))
	}
	ob := unsafe.Slice((*byte)(unsafe.Pointer(&outOffs[0])), len(outOffs)*int(unsafe.Sizeof(outOffs[0])))
	return build(a, len(idx), idx, memory.NewBufferBytes(ob), memory.NewBufferBytes(outData))
}

// build assembles an array of a's type from gathered buffers and a's
// validity at idx.
func build(a arrow.Array, n int, idx []int, bufs ...*memory.Buffer) arrow.Array {
	var valid *memory.Buffer
	nulls := 0
	if a.NullN() > 0 {
		vb := make([]byte, bitutil.BytesForBits(int64(n)))
		for k, i := range idx {
			if a.IsValid(i) {
				bitutil.SetBit(vb, k)
			} else {
				nulls++
			}
		}
		valid = memory.NewBufferBytes(vb)
	}
	data := array.NewData(a.DataType(), n, append([]*memory.Buffer{valid}, bufs...), nil, nulls, 0)
	defer data.Release()
	return array.MakeFromData(data)
}
