package expr

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Filter returns the rows of rec for which p is TRUE. Rows where it is FALSE
// or unknown (NULL) are dropped. The result is a new record the caller must
// Release; when every row matches it is rec itself, retained. rec must have
// the bound columns, with the bound types.
//
// Evaluation is vectorized over selection bitmaps (one bit per row per
// predicate node), so memory beyond the output is O(rows/8) per node.
func (p *Predicate) Filter(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	sel, count, err := p.selection(rec)
	if err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	switch count {
	case n:
		rec.Retain()
		return rec, nil
	case 0:
		return rec.NewSlice(0, 0), nil
	}
	return takeRecord(rec, sel, count)
}

// Mask reports, row by row, whether p is TRUE for rec.
func (p *Predicate) Mask(rec arrow.RecordBatch) ([]bool, error) {
	sel, _, err := p.selection(rec)
	if err != nil {
		return nil, err
	}
	out := make([]bool, rec.NumRows())
	for i := range out {
		out[i] = sel[i>>6]&(1<<(i&63)) != 0
	}
	return out, nil
}

// Count returns how many rows of rec p is TRUE for.
func (p *Predicate) Count(rec arrow.RecordBatch) (int, error) {
	_, c, err := p.selection(rec)
	return c, err
}

func (p *Predicate) selection(rec arrow.RecordBatch) ([]uint64, int, error) {
	n := int(rec.NumRows())
	ev := &evaluator{rec: rec, n: n, nw: (n + 63) / 64, cols: map[*col]resolved{}}
	if r := n & 63; r != 0 {
		ev.tail = 1<<r - 1
	} else {
		ev.tail = ^uint64(0)
	}
	sel, err := ev.eval(p.root)
	if err != nil {
		return nil, 0, err
	}
	c := 0
	for _, w := range sel {
		c += bits.OnesCount64(w)
	}
	return sel, c, nil
}

type resolved struct {
	arr   arrow.Array
	valid []uint64 // nil: no nulls
}

type evaluator struct {
	rec  arrow.RecordBatch
	n    int
	nw   int
	tail uint64 // valid bits of the last word
	cols map[*col]resolved
}

func (ev *evaluator) eval(nd *node) ([]uint64, error) {
	switch nd.kind {
	case nLeaf:
		return ev.leaf(nd.leaf)
	case nAnd:
		acc, err := ev.eval(nd.kids[0])
		if err != nil {
			return nil, err
		}
		for _, k := range nd.kids[1:] {
			if allZero(acc) {
				return acc, nil
			}
			o, err := ev.eval(k)
			if err != nil {
				return nil, err
			}
			for i := range acc {
				acc[i] &= o[i]
			}
		}
		return acc, nil
	default:
		acc, err := ev.eval(nd.kids[0])
		if err != nil {
			return nil, err
		}
		for _, k := range nd.kids[1:] {
			o, err := ev.eval(k)
			if err != nil {
				return nil, err
			}
			for i := range acc {
				acc[i] |= o[i]
			}
		}
		return acc, nil
	}
}

func allZero(w []uint64) bool {
	for _, x := range w {
		if x != 0 {
			return false
		}
	}
	return true
}

func (ev *evaluator) resolve(c *col) (resolved, error) {
	if r, ok := ev.cols[c]; ok {
		return r, nil
	}
	fields := ev.rec.Schema().Fields()
	var arr arrow.Array
	var valid []uint64
	for depth, name := range c.path {
		i := fieldIndex(fields, name)
		if i < 0 {
			return resolved{}, fmt.Errorf("%w: record has no column %s", ErrUnknownColumn, c.name)
		}
		if depth == 0 {
			arr = ev.rec.Column(i)
		} else {
			arr = arr.(*array.Struct).Field(i)
		}
		if depth < len(c.path)-1 {
			st, ok := arr.DataType().(*arrow.StructType)
			if !ok {
				return resolved{}, fmt.Errorf("%w: record column %s is %s, not a struct", ErrType, c.name, arr.DataType())
			}
			fields = st.Fields()
		}
		valid = andValid(valid, ev.validity(arr))
	}
	if !arrow.TypeEqual(arr.DataType(), c.typ) {
		return resolved{}, fmt.Errorf("%w: record column %s is %s, bound as %s", ErrType, c.name, arr.DataType(), c.typ)
	}
	r := resolved{arr: arr, valid: valid}
	ev.cols[c] = r
	return r, nil
}

func andValid(a, b []uint64) []uint64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := make([]uint64, len(a))
	for i := range a {
		out[i] = a[i] & b[i]
	}
	return out
}

// validity returns arr's validity bitmap as words, or nil when no value is
// null. A dictionary entry that is null makes its rows null.
func (ev *evaluator) validity(arr arrow.Array) []uint64 {
	if d, ok := arr.(*array.Dictionary); ok && d.Dictionary().NullN() > 0 {
		dict := d.Dictionary()
		out := make([]uint64, ev.nw)
		for i := 0; i < ev.n; i++ {
			if d.IsValid(i) && dict.IsValid(d.GetValueIndex(i)) {
				out[i>>6] |= 1 << (i & 63)
			}
		}
		return out
	}
	if arr.NullN() == 0 {
		return nil
	}
	buf := make([]byte, ev.nw*8)
	bitutil.CopyBitmap(arr.NullBitmapBytes(), arr.Data().Offset(), ev.n, buf, 0)
	out := make([]uint64, ev.nw)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	return out
}

func (ev *evaluator) leaf(l *leaf) ([]uint64, error) {
	out := make([]uint64, ev.nw)
	if l.kind == lNever || ev.n == 0 {
		return out, nil
	}
	if l.kind == lTrue {
		fillOnes(out, ev.tail)
		return out, nil
	}
	r, err := ev.resolve(l.col)
	if err != nil {
		return nil, err
	}
	invert := false
	switch l.kind {
	case lConst:
		invert = l.b
	case lNull:
		invert = !l.not // IS NULL is the complement of validity
		if r.valid == nil {
			if !l.not {
				return out, nil
			}
			fillOnes(out, ev.tail)
			return out, nil
		}
		for i, v := range r.valid {
			out[i] = v
		}
		if invert {
			for i := range out {
				out[i] = ^out[i]
			}
		}
		out[len(out)-1] &= ev.tail
		return out, nil
	case lCmp, lIn, lLike:
		if l.kind == lIn && l.not && l.hasNull {
			return out, nil // x NOT IN (..., NULL) is never TRUE
		}
		if err := rawBits(r.arr, l, out); err != nil {
			return nil, err
		}
		invert = l.kind != lCmp && l.not
	}
	if invert {
		for i := range out {
			out[i] = ^out[i]
		}
	}
	if r.valid != nil {
		for i := range out {
			out[i] &= r.valid[i]
		}
	}
	out[len(out)-1] &= ev.tail
	return out, nil
}

func fillOnes(out []uint64, tail uint64) {
	for i := range out {
		out[i] = ^uint64(0)
	}
	out[len(out)-1] &= tail
}

// rawBits sets out's bit i when value i satisfies l's comparison, IN set
// (ignoring NOT) or LIKE pattern (ignoring NOT). Bits of null slots are
// arbitrary; the caller masks them.
func rawBits(arr arrow.Array, l *leaf, out []uint64) error {
	if d, ok := arr.(*array.Dictionary); ok {
		dict := d.Dictionary()
		dbits := make([]uint64, (dict.Len()+63)/64)
		if err := rawBits(dict, l, dbits); err != nil {
			return err
		}
		switch idx := d.Indices().(type) {
		case *array.Int8:
			gather(idx.Int8Values(), dbits, out)
		case *array.Int16:
			gather(idx.Int16Values(), dbits, out)
		case *array.Int32:
			gather(idx.Int32Values(), dbits, out)
		case *array.Int64:
			gather(idx.Int64Values(), dbits, out)
		default:
			hasNulls := d.NullN() > 0
			for i := 0; i < d.Len(); i++ {
				if hasNulls && d.IsNull(i) {
					continue
				}
				j := d.GetValueIndex(i)
				if dbits[j>>6]&(1<<(j&63)) != 0 {
					out[i>>6] |= 1 << (i & 63)
				}
			}
		}
		return nil
	}
	switch a := arr.(type) {
	case *array.Int8:
		numBits(a.Int8Values(), l, out)
	case *array.Int16:
		numBits(a.Int16Values(), l, out)
	case *array.Int32:
		numBits(a.Int32Values(), l, out)
	case *array.Int64:
		numBits(a.Int64Values(), l, out)
	case *array.Date32:
		numBits(a.Date32Values(), l, out)
	case *array.Date64:
		numBits(a.Date64Values(), l, out)
	case *array.Timestamp:
		numBits(a.TimestampValues(), l, out)
	case *array.Uint8:
		numBits(a.Uint8Values(), l, out)
	case *array.Uint16:
		numBits(a.Uint16Values(), l, out)
	case *array.Uint32:
		numBits(a.Uint32Values(), l, out)
	case *array.Uint64:
		numBits(a.Uint64Values(), l, out)
	case *array.Float32:
		numBits(a.Float32Values(), l, out)
		floatNaN(a.Float32Values(), l, out)
	case *array.Float64:
		numBits(a.Float64Values(), l, out)
		floatNaN(a.Float64Values(), l, out)
	case *array.String:
		strBits(a, a.Len(), l, out)
	case *array.LargeString:
		strBits(a, a.Len(), l, out)
	case *array.StringView:
		strBits(a, a.Len(), l, out)
	case *array.Boolean:
		// Work on the value bitmap: a leaf on a bool is a function of one
		// bit, so it is one of V, ^V, all or none.
		onFalse, onTrue := l.boolHolds(false), l.boolHolds(true)
		buf := make([]byte, len(out)*8)
		bitutil.CopyBitmap(a.Data().Buffers()[1].Bytes(), a.Data().Offset(), a.Len(), buf, 0)
		for i := range out {
			v := binary.LittleEndian.Uint64(buf[i*8:])
			var w uint64
			if onTrue {
				w |= v
			}
			if onFalse {
				w |= ^v
			}
			out[i] = w
		}
	default:
		return fmt.Errorf("%w: cannot evaluate %s", ErrType, arr.DataType())
	}
	return nil
}

// gather sets out's bit i to dbits' bit idx[i]. Indices under null slots
// may be anything, so they are bounds-checked rather than trusted; their
// bits are masked by the caller.
func gather[T ~int8 | ~int16 | ~int32 | ~int64](idx []T, dbits, out []uint64) {
	n := uint64(len(dbits)) * 64
	for w := range out {
		chunk := idx[w*64 : min(w*64+64, len(idx))]
		var word uint64
		for k, j := range chunk {
			if u := uint64(j); u < n && dbits[u>>6]&(1<<(u&63)) != 0 {
				word |= 1 << k
			}
		}
		out[w] = word
	}
}

func (l *leaf) boolHolds(v bool) bool {
	if l.kind == lIn {
		for _, e := range l.set {
			if e.b == v {
				return true
			}
		}
		return false
	}
	return opHolds(l.op, compareVal(kBool, value{b: v}, l.lit))
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

// litAs converts a bound literal to the column's storage type; binding
// guarantees it is representable.
func litAs[T number](k valKind, v value) T {
	switch k {
	case kInt:
		return T(v.i)
	case kUint:
		return T(v.u)
	}
	return T(v.f)
}

func numBits[T number](vals []T, l *leaf, out []uint64) {
	k := l.col.kind
	if l.kind == lIn {
		if len(l.set) > 8 {
			set := make(map[T]struct{}, len(l.set))
			for _, e := range l.set {
				set[litAs[T](k, e)] = struct{}{}
			}
			for i, v := range vals {
				if _, ok := set[v]; ok {
					out[i>>6] |= 1 << (i & 63)
				}
			}
			return
		}
		for _, e := range l.set {
			eqOr(vals, litAs[T](k, e), out)
		}
		return
	}
	cmpLoop(vals, l.op, litAs[T](k, l.lit), out)
}

func eqOr[T number](vals []T, lit T, out []uint64) {
	for w := range out {
		chunk := vals[w*64 : min(w*64+64, len(vals))]
		var word uint64
		for j, v := range chunk {
			if v == lit {
				word |= 1 << j
			}
		}
		out[w] |= word
	}
}

// cmpLoop writes whole words, one loop per operator so that the compiler
// keeps the comparison out of the loop's control flow.
func cmpLoop[T number](vals []T, op Op, lit T, out []uint64) {
	for w := range out {
		chunk := vals[w*64 : min(w*64+64, len(vals))]
		var word uint64
		switch op {
		case OpEq:
			for j, v := range chunk {
				if v == lit {
					word |= 1 << j
				}
			}
		case OpNe:
			for j, v := range chunk {
				if v != lit {
					word |= 1 << j
				}
			}
		case OpLt:
			for j, v := range chunk {
				if v < lit {
					word |= 1 << j
				}
			}
		case OpLe:
			for j, v := range chunk {
				if v <= lit {
					word |= 1 << j
				}
			}
		case OpGt:
			for j, v := range chunk {
				if v > lit {
					word |= 1 << j
				}
			}
		case OpGe:
			for j, v := range chunk {
				if v >= lit {
					word |= 1 << j
				}
			}
		}
		out[w] = word
	}
}

// floatNaN corrects IEEE comparison results to the total order in which NaN
// equals NaN and exceeds every number.
func floatNaN[T ~float32 | ~float64](vals []T, l *leaf, out []uint64) {
	nan := func() []uint64 {
		nb := make([]uint64, len(out))
		for i, v := range vals {
			if v != v {
				nb[i>>6] |= 1 << (i & 63)
			}
		}
		return nb
	}
	if l.kind == lIn {
		for _, e := range l.set {
			if math.IsNaN(e.f) {
				for i, w := range nan() {
					out[i] |= w
				}
				return
			}
		}
		return
	}
	if !math.IsNaN(l.lit.f) {
		if l.op == OpGt || l.op == OpGe {
			for i, w := range nan() {
				out[i] |= w
			}
		}
		return
	}
	nb := nan()
	for i, w := range nb {
		switch l.op {
		case OpEq, OpGe:
			out[i] = w
		case OpNe, OpLt:
			out[i] = ^w
		case OpLe:
			out[i] = ^uint64(0)
		case OpGt:
			out[i] = 0
		}
	}
}

type stringValues interface{ Value(int) string }

func strBits[A stringValues](a A, n int, l *leaf, out []uint64) {
	switch l.kind {
	case lLike:
		for i := 0; i < n; i++ {
			if l.like.match(a.Value(i)) {
				out[i>>6] |= 1 << (i & 63)
			}
		}
	case lIn:
		set := make(map[string]struct{}, len(l.set))
		for _, e := range l.set {
			set[e.s] = struct{}{}
		}
		for i := 0; i < n; i++ {
			if _, ok := set[a.Value(i)]; ok {
				out[i>>6] |= 1 << (i & 63)
			}
		}
	default:
		lit, op := l.lit.s, l.op
		for i := 0; i < n; i++ {
			v := a.Value(i)
			var ok bool
			switch op {
			case OpEq:
				ok = v == lit
			case OpNe:
				ok = v != lit
			case OpLt:
				ok = v < lit
			case OpLe:
				ok = v <= lit
			case OpGt:
				ok = v > lit
			default:
				ok = v >= lit
			}
			if ok {
				out[i>>6] |= 1 << (i & 63)
			}
		}
	}
}
