package fileio

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A record handed to a FileWriter (and to table.Writer) may carry a string
// column dictionary-encoded, as dictionary<int32, string>: a producer that
// already knows a column's few distinct values (ingest's decoders) then
// neither copies every value nor has the writer hash it again. The column
// means the same as the plain string column.

// isDictString reports whether t is dictionary<int32, string>.
func isDictString(t arrow.DataType) bool {
	d, ok := t.(*arrow.DictionaryType)
	return ok && d.IndexType.ID() == arrow.INT32 && d.ValueType.ID() == arrow.STRING
}

// SchemaMatches reports whether records of schema got may be written where
// schema want is expected: the same fields, except that a string column may
// be dictionary<int32, string>.
func SchemaMatches(got, want *arrow.Schema) bool {
	if got.Equal(want) {
		return true
	}
	if got.NumFields() != want.NumFields() {
		return false
	}
	for i, g := range got.Fields() {
		w := want.Field(i)
		if g.Name != w.Name || g.Nullable != w.Nullable || !g.Metadata.Equal(w.Metadata) {
			return false
		}
		if !arrow.TypeEqual(g.Type, w.Type) && !(w.Type.ID() == arrow.STRING && isDictString(g.Type)) {
			return false
		}
	}
	return true
}

// DenseStrings returns rec with its dictionary-encoded string columns as
// plain string columns, except those keep marks (nil: none) whose
// dictionary holds no null; rec itself, retained, when there are none. The
// caller releases the result.
func DenseStrings(rec arrow.Record, keep []bool) (arrow.Record, error) {
	sch := rec.Schema()
	var cols []arrow.Array
	var fields []arrow.Field
	for i, f := range sch.Fields() {
		if !isDictString(f.Type) || keep != nil && keep[i] && rec.Column(i).(*array.Dictionary).Dictionary().NullN() == 0 {
			continue
		}
		if cols == nil {
			cols, fields = slices.Clone(rec.Columns()), sch.Fields()
		}
		dense, err := denseString(rec.Column(i))
		if err != nil {
			for j := range i {
				if cols[j] != rec.Column(j) {
					cols[j].Release()
				}
			}
			return nil, fmt.Errorf("%w: column %q: %v", ErrSchema, f.Name, err)
		}
		cols[i] = dense
		fields[i].Type = arrow.BinaryTypes.String
	}
	if cols == nil {
		rec.Retain()
		return rec, nil
	}
	md := sch.Metadata()
	out := array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, rec.NumRows())
	for i, c := range cols {
		if c != rec.Column(i) {
			c.Release()
		}
	}
	return out, nil
}

// denseString returns a string or dictionary<int32, string> column as a
// plain string column; the caller releases it.
func denseString(arr arrow.Array) (arrow.Array, error) {
	if _, ok := arr.(*array.Dictionary); !ok {
		arr.Retain()
		return arr, nil
	}
	ctx := compute.WithAllocator(context.Background(), memory.DefaultAllocator)
	return compute.CastArray(ctx, arr, compute.SafeCastOptions(arrow.BinaryTypes.String))
}

// remapIndices sets idx[i] to the file dictionary's index of row i of a,
// a dictionary-encoded column: each of a's dictionary entries is looked up
// once, however many rows use it. Null rows get 0.
func (d *dictColumn) remapIndices(a *array.Dictionary, idx []int32) error {
	vals, ok := a.Dictionary().(*array.String)
	in, ok2 := a.Indices().(*array.Int32)
	if !ok || !ok2 {
		return fmt.Errorf("%w: dictionary column of %s", ErrSchema, a.DataType())
	}
	n := vals.Len()
	offs := vals.ValueOffsets() // absolute positions in the data buffer
	var data []byte
	if b := vals.Data().Buffers()[2]; b != nil {
		data = b.Bytes()
	}
	d.remap = slices.Grow(d.remap[:0], n)[:n]
	for i := range d.remap {
		d.remap[i] = -1
	}
	valid := a.NullN() == 0
	for i, k := range in.Int32Values() {
		if !valid && a.IsNull(i) {
			idx[i] = 0
			continue
		}
		if k < 0 || int(k) >= n {
			return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrSchema, k, n)
		}
		r := d.remap[k]
		if r < 0 {
			r = d.index(data[offs[k]:offs[k+1]])
			d.remap[k] = r
		}
		idx[i] = r
	}
	return nil
}
