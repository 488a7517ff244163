package egress

import (
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Converting a source column into a central column of another type (the
// same column is long in one region and string in another). A value is
// written into the central column only when the conversion is lossless —
// converting it back gives the same value — and is rescued otherwise
// (docs/egress.md, "Type conflicts"). The central column's type never
// changes: widening it would need Delta's typeWidening feature, which
// loglake does not implement.

// alwaysConverts reports whether every value of type from converts
// losslessly to type to, so a column of type from never needs rescuing:
// integer widening, float to double, small integers to double, date to
// timestamp_ntz (Delta's own widening rules, applied to values).
func alwaysConverts(from, to arrow.DataType) bool {
	if arrow.TypeEqual(from, to) {
		return true
	}
	fw, fok := intWidth(from)
	if tw, tok := intWidth(to); fok && tok {
		return fw <= tw
	}
	switch to.ID() {
	case arrow.FLOAT64:
		return from.ID() == arrow.FLOAT32 || fok && fw <= 32
	case arrow.TIMESTAMP:
		return from.ID() == arrow.DATE32 && to.(*arrow.TimestampType).TimeZone == ""
	}
	return false
}

// intWidth returns the width of a signed integer type.
func intWidth(t arrow.DataType) (int, bool) {
	switch t.ID() {
	case arrow.INT8:
		return 8, true
	case arrow.INT16:
		return 16, true
	case arrow.INT32:
		return 32, true
	case arrow.INT64:
		return 64, true
	}
	return 0, false
}

// convertible reports whether some values of type from may convert to type
// to (convertArray tries them); other pairs (nested types, binary, decimals
// of another type, timestamps with and without zone) are rescued whole.
func convertible(from, to arrow.DataType) bool {
	k, ok := scalarKindOf(from)
	if !ok || k == kBinary {
		return false
	}
	switch to.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.FLOAT32, arrow.FLOAT64:
		return k == kInt || k == kFloat || k == kString
	case arrow.BOOL:
		return k == kBool || k == kString
	case arrow.STRING:
		return true
	case arrow.DATE32:
		return k == kDate || k == kString
	case arrow.TIMESTAMP:
		if to.(*arrow.TimestampType).TimeZone == "" {
			return k == kDate
		}
		return k == kTimestamp || k == kString
	}
	return false
}

type scalarKind int

const (
	kInt scalarKind = iota
	kFloat
	kBool
	kString
	kDate
	kTimestamp // with zone (UTC)
	kTimestampNTZ
	kDecimal
	kBinary
)

func scalarKindOf(t arrow.DataType) (scalarKind, bool) {
	if _, ok := intWidth(t); ok {
		return kInt, true
	}
	switch t.ID() {
	case arrow.FLOAT32, arrow.FLOAT64:
		return kFloat, true
	case arrow.BOOL:
		return kBool, true
	case arrow.STRING, arrow.LARGE_STRING:
		return kString, true
	case arrow.DATE32:
		return kDate, true
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).TimeZone == "" {
			return kTimestampNTZ, true
		}
		return kTimestamp, true
	case arrow.DECIMAL128:
		return kDecimal, true
	case arrow.BINARY, arrow.LARGE_BINARY:
		return kBinary, true
	}
	return 0, false
}

// scalar is one source value in a neutral form.
type scalar struct {
	kind scalarKind
	i    int64   // kInt; days for kDate; microseconds for timestamps
	f    float64 // kFloat
	b    bool
	s    string // kString; the decimal's text for kDecimal
	f32  bool   // kFloat: the source was float32
}

func scalarAt(arr arrow.Array, i int) scalar {
	switch a := arr.(type) {
	case *array.Int8:
		return scalar{kind: kInt, i: int64(a.Value(i))}
	case *array.Int16:
		return scalar{kind: kInt, i: int64(a.Value(i))}
	case *array.Int32:
		return scalar{kind: kInt, i: int64(a.Value(i))}
	case *array.Int64:
		return scalar{kind: kInt, i: a.Value(i)}
	case *array.Float32:
		return scalar{kind: kFloat, f: float64(a.Value(i)), f32: true}
	case *array.Float64:
		return scalar{kind: kFloat, f: a.Value(i)}
	case *array.Boolean:
		return scalar{kind: kBool, b: a.Value(i)}
	case *array.String:
		return scalar{kind: kString, s: a.Value(i)}
	case *array.LargeString:
		return scalar{kind: kString, s: a.Value(i)}
	case *array.Date32:
		return scalar{kind: kDate, i: int64(a.Value(i))}
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		us := a.Value(i).ToTime(t.Unit).UnixMicro()
		if t.TimeZone == "" {
			return scalar{kind: kTimestampNTZ, i: us}
		}
		return scalar{kind: kTimestamp, i: us}
	case *array.Decimal128:
		return scalar{kind: kDecimal, s: a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)}
	}
	return scalar{kind: kBinary}
}

// text is the canonical text of a value written into a string column.
func (v scalar) text() (string, bool) {
	switch v.kind {
	case kInt:
		return strconv.FormatInt(v.i, 10), true
	case kFloat:
		bits := 64
		if v.f32 {
			bits = 32
		}
		return strconv.FormatFloat(v.f, 'g', -1, bits), true
	case kBool:
		return strconv.FormatBool(v.b), true
	case kString, kDecimal:
		return v.s, true
	case kDate:
		return time.Unix(v.i*86400, 0).UTC().Format(time.DateOnly), true
	case kTimestamp:
		return time.UnixMicro(v.i).UTC().Format(time.RFC3339Nano), true
	case kTimestampNTZ:
		return time.UnixMicro(v.i).UTC().Format("2006-01-02T15:04:05.999999"), true
	}
	return "", false
}

// asInt returns v as an integer when that is exactly its value.
func (v scalar) asInt() (int64, bool) {
	switch v.kind {
	case kInt:
		return v.i, true
	case kFloat:
		if v.f != math.Trunc(v.f) || v.f < -(1<<63) || v.f >= 1<<63 {
			return 0, false
		}
		return int64(v.f), true
	case kString:
		n, err := strconv.ParseInt(v.s, 10, 64)
		return n, err == nil && strconv.FormatInt(n, 10) == v.s
	}
	return 0, false
}

// asFloat returns v as a float64 when that is exactly its value.
func (v scalar) asFloat() (float64, bool) {
	switch v.kind {
	case kFloat:
		return v.f, true
	case kInt:
		f := float64(v.i)
		return f, f >= -(1<<63) && f < 1<<63 && int64(f) == v.i
	case kString:
		f, err := strconv.ParseFloat(v.s, 64)
		return f, err == nil && strconv.FormatFloat(f, 'g', -1, 64) == v.s
	}
	return 0, false
}

// convertArray converts src to type to value by value. It returns the
// converted array (NULL where a value did not convert losslessly) and the
// rows whose non-null value did not convert, which the caller rescues.
func convertArray(src arrow.Array, to arrow.DataType) (arrow.Array, []int) {
	b := array.NewBuilder(memory.DefaultAllocator, to)
	defer b.Release()
	b.Reserve(src.Len())
	var failed []int
	for i := range src.Len() {
		if src.IsNull(i) {
			b.AppendNull()
			continue
		}
		if !appendConverted(b, scalarAt(src, i)) {
			b.AppendNull()
			failed = append(failed, i)
		}
	}
	return b.NewArray(), failed
}

// appendConverted appends v to b when it converts losslessly to b's type.
func appendConverted(b array.Builder, v scalar) bool {
	switch b := b.(type) {
	case *array.Int8Builder:
		return appendInt[int8](b, v)
	case *array.Int16Builder:
		return appendInt[int16](b, v)
	case *array.Int32Builder:
		return appendInt[int32](b, v)
	case *array.Int64Builder:
		return appendInt[int64](b, v)
	case *array.Float32Builder:
		f, ok := v.asFloat()
		if ok = ok && (float64(float32(f)) == f || math.IsNaN(f)); ok {
			b.Append(float32(f))
		}
		return ok
	case *array.Float64Builder:
		f, ok := v.asFloat()
		if ok {
			b.Append(f)
		}
		return ok
	case *array.BooleanBuilder:
		switch {
		case v.kind == kBool:
			b.Append(v.b)
		case v.kind == kString && (v.s == "true" || v.s == "false"):
			b.Append(v.s == "true")
		default:
			return false
		}
		return true
	case *array.StringBuilder:
		s, ok := v.text()
		if ok {
			b.Append(s)
		}
		return ok
	case *array.Date32Builder:
		switch v.kind {
		case kDate:
			b.Append(arrow.Date32(v.i))
		case kString:
			t, err := time.Parse(time.DateOnly, v.s)
			if err != nil || t.Format(time.DateOnly) != v.s {
				return false
			}
			b.Append(arrow.Date32FromTime(t))
		default:
			return false
		}
		return true
	case *array.TimestampBuilder:
		utc := b.Type().(*arrow.TimestampType).TimeZone != ""
		switch {
		case !utc && v.kind == kDate:
			b.Append(arrow.Timestamp(v.i * 86400 * 1_000_000))
		case utc && v.kind == kTimestamp:
			b.Append(arrow.Timestamp(v.i))
		case utc && v.kind == kString:
			t, err := time.Parse(time.RFC3339Nano, v.s)
			if err != nil || t.Nanosecond()%1000 != 0 || t.UTC().Format(time.RFC3339Nano) != v.s {
				return false
			}
			b.Append(arrow.Timestamp(t.UnixMicro()))
		default:
			return false
		}
		return true
	}
	return false
}

// appendInt appends v to b when it is an integer that T holds: converting
// it to T and back gives the same value, which is the range check of
// every width at once.
func appendInt[T int8 | int16 | int32 | int64](b interface{ Append(T) }, v scalar) bool {
	n, ok := v.asInt()
	if !ok || int64(T(n)) != n {
		return false
	}
	b.Append(T(n))
	return true
}
