package fileio

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrPartitionValue reports a partition value string that does not parse as
// its column's type.
var ErrPartitionValue = errors.New("table: invalid partition value")

// HiveDefaultPartition is the directory name Hive and Spark use for a null
// (or empty) partition value.
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// PartitionPath returns the Hive-style directory of a partition, one
// "col=value/" segment per column in cols order, with a trailing slash:
// "date=2026-11-24/region=eu/". Names and values are escaped as Spark's
// ExternalCatalogUtils.escapePathName does; a nil or empty value is
// HiveDefaultPartition. The result is a relative path on storage; the add
// action's path is its URL-encoded form.
func PartitionPath(cols []string, values map[string]*string) string {
	var b strings.Builder
	for _, c := range cols {
		escapePathName(&b, c)
		b.WriteByte('=')
		if v := values[c]; v == nil || *v == "" {
			b.WriteString(HiveDefaultPartition)
		} else {
			escapePathName(&b, *v)
		}
		b.WriteByte('/')
	}
	return b.String()
}

func needsEscape(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	switch c {
	case '"', '#', '%', '\'', '*', '/', ':', '=', '?', '\\', '{', '[', ']', '^':
		return true
	}
	return false
}

func escapePathName(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		} else {
			b.WriteByte(c)
		}
	}
}

// UnescapePathName reverses the escaping of PartitionPath for one name or
// value; malformed escapes are kept literally, as Spark does.
func UnescapePathName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FormatPartitionValue serializes row i of arr the way Delta stores partition
// values: dates "YYYY-MM-DD", timestamps "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC),
// timestamp_ntz "YYYY-MM-DD HH:MM:SS[.ffffff]", numbers and booleans as Spark prints them, strings and binary
// unchanged. It returns nil for null and for the empty string, which Delta
// cannot tell apart from null.
func FormatPartitionValue(arr arrow.Array, i int) *string {
	if arr.IsNull(i) {
		return nil
	}
	var s string
	switch a := arr.(type) {
	case *array.String:
		s = a.Value(i)
	case *array.LargeString:
		s = a.Value(i)
	case *array.StringView:
		s = a.Value(i)
	case *array.Binary:
		s = string(a.Value(i))
	case *array.LargeBinary:
		s = string(a.Value(i))
	case *array.Int8:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int16:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int32:
		s = strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Int64:
		s = strconv.FormatInt(a.Value(i), 10)
	case *array.Uint8:
		s = strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint16:
		s = strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint32:
		s = strconv.FormatUint(uint64(a.Value(i)), 10)
	case *array.Uint64:
		s = strconv.FormatUint(a.Value(i), 10)
	case *array.Float32:
		s = javaFloat(float64(a.Value(i)), 32)
	case *array.Float64:
		s = javaFloat(a.Value(i), 64)
	case *array.Boolean:
		s = strconv.FormatBool(a.Value(i))
	case *array.Date32:
		s = a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Date64:
		s = a.Value(i).ToTime().Format(time.DateOnly)
	case *array.Timestamp:
		tt := a.DataType().(*arrow.TimestampType)
		s = formatPartitionTime(timeFromMicros(unitToMicros(int64(a.Value(i)), tt.Unit)), tt.TimeZone != "")
	case *array.Decimal128:
		s = a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Dictionary:
		return FormatPartitionValue(a.Dictionary(), a.GetValueIndex(i))
	default:
		s = arr.ValueStr(i)
	}
	if s == "" {
		return nil
	}
	return &s
}

func unitToMicros(v int64, unit arrow.TimeUnit) int64 {
	switch unit {
	case arrow.Second:
		return v * 1e6
	case arrow.Millisecond:
		return v * 1e3
	case arrow.Nanosecond:
		return floorDiv(v, 1e3)
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// timeFromMicros converts µs since the epoch to a UTC time, valid over
// Delta's whole timestamp range (years 0001-9999), beyond time.Duration's.
func timeFromMicros(us int64) time.Time {
	sec := floorDiv(us, 1e6)
	return time.Unix(sec, (us-sec*1e6)*1e3).UTC()
}

// formatPartitionTime writes a timestamp partition value as the protocol
// recommends: ISO-8601 in UTC with microseconds ("2026-11-24T10:30:00.000500Z"),
// which every engine reads as the same instant. A zone-less form would be
// read in each reader's own session time zone. timestamp_ntz values have no
// zone by definition and keep the protocol's "2026-11-24 10:30:00[.000500]".
// ParsePartitionValue reads both forms.
func formatPartitionTime(t time.Time, utc bool) string {
	switch {
	case utc:
		return t.Format("2006-01-02T15:04:05.000000Z")
	case t.Nanosecond() == 0:
		return t.Format(time.DateTime)
	}
	return t.Format("2006-01-02 15:04:05.000000")
}

// javaFloat prints f the way Java's Double.toString / Float.toString do,
// which is what Spark writes for float and double partition values.
func javaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, bits)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	if strings.HasPrefix(exp, "-") {
		exp = "-" + strings.TrimLeft(exp[1:], "0")
	} else {
		exp = strings.TrimLeft(exp, "0")
	}
	return mant + "E" + exp
}

// ParsePartitionValue parses a serialized partition value as type t. nil and
// "" are null and give (nil, nil). Go types of the result: string for
// string, int64 for long/integer/short/byte, float64 for float/double, bool,
// []byte for binary, time.Time (UTC) for date/timestamp/timestamp_ntz and
// decimal128.Num (unscaled, at the type's scale) for decimal. StatValue uses
// the same types.
func ParsePartitionValue(s *string, t DataType) (any, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	v, err := parseScalar(*s, t)
	if err != nil {
		return nil, fmt.Errorf("%w: %q as %s: %v", ErrPartitionValue, *s, t, err)
	}
	return v, nil
}

func parseScalar(s string, t DataType) (any, error) {
	switch t := t.(type) {
	case PrimitiveType:
		switch t {
		case TypeString:
			return s, nil
		case TypeBinary:
			return []byte(s), nil
		case TypeLong:
			return strconv.ParseInt(s, 10, 64)
		case TypeInteger:
			return strconv.ParseInt(s, 10, 32)
		case TypeShort:
			return strconv.ParseInt(s, 10, 16)
		case TypeByte:
			return strconv.ParseInt(s, 10, 8)
		case TypeFloat, TypeDouble:
			switch s {
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
			return strconv.ParseFloat(s, 64)
		case TypeBoolean:
			return strconv.ParseBool(strings.ToLower(s))
		case TypeDate:
			return parseDate(s)
		case TypeTimestamp, TypeTimestampNTZ:
			return parseTimestamp(s)
		}
	case DecimalType:
		// arrow-go parses with big.Float, which accepts "Inf", hex and
		// exponents that overflow to ±Inf, and then panics converting
		// them: only a plain decimal with a short exponent gets there.
		if !isPlainDecimal(s) {
			return nil, fmt.Errorf("%q is not a decimal", s)
		}
		return decimal128.FromString(s, int32(t.Precision), int32(t.Scale))
	}
	return nil, fmt.Errorf("type %s cannot be a partition or stats value", t)
}

// isPlainDecimal reports whether s is [+-]digits[.digits][e[+-]digits]
// with at least one digit and an exponent of at most four digits, which
// is every decimal Delta writers produce (partition values and JSON
// stats) and keeps big.Float far from overflow.
func isPlainDecimal(s string) bool {
	mantissa, exponent, hasExp := strings.Cut(strings.ToLower(trimSign(s)), "e")
	whole, frac, _ := strings.Cut(mantissa, ".")
	if whole+frac == "" || !allDigits(whole) || !allDigits(frac) {
		return false
	}
	if !hasExp {
		return true
	}
	exponent = trimSign(exponent)
	return exponent != "" && len(exponent) <= 4 && allDigits(exponent)
}

func trimSign(s string) string {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		return s[1:]
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseDate(s string) (time.Time, error) {
	if len(s) > 10 && (s[10] == ' ' || s[10] == 'T') {
		s = s[:10] // "2024-01-01 00:00:00" is accepted by Spark for dates
	}
	return time.ParseInLocation(time.DateOnly, s, time.UTC)
}

var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02",
}

func parseTimestamp(s string) (time.Time, error) {
	var err error
	for _, l := range timestampLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// PartitionedRecord is the part of a record that belongs to one partition.
type PartitionedRecord struct {
	// Values are the serialized partition values (nil for null), keyed by
	// partition column name.
	Values map[string]*string
	// Record holds the rows of this partition without the partition
	// columns, which Delta does not store in data files. The caller owns it
	// and must Release it.
	Record arrow.Record
}

// SplitByPartition groups the rows of rec by the values of partCols, in order
// of first appearance. With no partition columns it returns rec (retained)
// as one group. Rows of one partition that are contiguous in rec are sliced
// without copying; otherwise they are gathered with one Take per column.
func SplitByPartition(rec arrow.Record, partCols []string) ([]PartitionedRecord, error) {
	sch := rec.Schema()
	isPart := make([]bool, sch.NumFields())
	partIdx := make([]int, len(partCols))
	for j, c := range partCols {
		idx := sch.FieldIndices(c)
		if len(idx) != 1 {
			return nil, fmt.Errorf("%w: partition column %q: found %d times in record", ErrSchema, c, len(idx))
		}
		partIdx[j] = idx[0]
		isPart[idx[0]] = true
	}
	var dataFields []arrow.Field
	var dataCols []arrow.Array
	for i, f := range sch.Fields() {
		if !isPart[i] {
			dataFields = append(dataFields, f)
			dataCols = append(dataCols, rec.Column(i))
		}
	}
	md := sch.Metadata()
	dataSchema := arrow.NewSchema(dataFields, &md)
	n := int(rec.NumRows())
	if n > 0 && allUniform(rec, partIdx) {
		// One partition, the usual case of a chunk of logs: no grouping.
		vals, err := partitionValues(rec, partCols, partIdx, 0)
		if err != nil {
			return nil, err
		}
		return []PartitionedRecord{{Values: vals, Record: array.NewRecordBatch(dataSchema, dataCols, int64(n))}}, nil
	}

	// Group id per row: fold the columns' codes pairwise.
	group := make([]int32, n)
	ngroups := int32(1)
	if n == 0 {
		ngroups = 0
	}
	for _, ci := range partIdx {
		codes, _ := columnCodes(rec.Column(ci))
		pairs := make(map[[2]int32]int32)
		next := int32(0)
		lastK, lastG := [2]int32{-1, -1}, int32(0) // rows come in runs of one partition
		for r := 0; r < n; r++ {
			k := [2]int32{group[r], codes[r]}
			if k == lastK {
				group[r] = lastG
				continue
			}
			g, ok := pairs[k]
			if !ok {
				g = next
				pairs[k] = g
				next++
			}
			group[r], lastK, lastG = g, k, g
		}
		ngroups = next
	}

	// Merge groups whose serialized values coincide (null vs "").
	first := make([]int, ngroups)
	for g := range first {
		first[g] = -1
	}
	for r := 0; r < n; r++ {
		if first[group[r]] < 0 {
			first[group[r]] = r
		}
	}
	merged := make([]int32, ngroups)
	keyToGroup := make(map[string]int32)
	var values []map[string]*string
	var key strings.Builder
	for g := int32(0); g < ngroups; g++ {
		vals, err := partitionValues(rec, partCols, partIdx, first[g])
		if err != nil {
			return nil, err
		}
		key.Reset()
		for _, c := range partCols {
			if v := vals[c]; v == nil {
				key.WriteString("\x00N")
			} else {
				key.WriteString(strconv.Itoa(len(*v)))
				key.WriteByte(':')
				key.WriteString(*v)
			}
		}
		m, ok := keyToGroup[key.String()]
		if !ok {
			m = int32(len(values))
			keyToGroup[key.String()] = m
			values = append(values, vals)
		}
		merged[g] = m
	}

	// Counting sort of row indices by merged group.
	ng := len(values)
	counts := make([]int, ng+1)
	for r := 0; r < n; r++ {
		counts[merged[group[r]]+1]++
	}
	for g := 1; g <= ng; g++ {
		counts[g] += counts[g-1]
	}
	indices := make([]int32, n)
	pos := append([]int(nil), counts[:ng]...)
	for r := 0; r < n; r++ {
		g := merged[group[r]]
		indices[pos[g]] = int32(r)
		pos[g]++
	}

	out := make([]PartitionedRecord, 0, ng)
	release := func() {
		for _, p := range out {
			p.Record.Release()
		}
	}
	whole := array.NewRecordBatch(dataSchema, dataCols, int64(n))
	defer whole.Release()
	mem := memory.DefaultAllocator
	ctx := compute.WithAllocator(context.Background(), mem)
	for g := 0; g < ng; g++ {
		idx := indices[counts[g]:counts[g+1]]
		var part arrow.Record
		if len(idx) > 0 && int(idx[len(idx)-1]-idx[0]) == len(idx)-1 {
			part = whole.NewSlice(int64(idx[0]), int64(idx[0])+int64(len(idx)))
		} else {
			b := array.NewInt32Builder(mem)
			b.AppendValues(idx, nil)
			ia := b.NewArray()
			b.Release()
			cols := make([]arrow.Array, len(dataCols))
			var err error
			for c, col := range dataCols {
				if cols[c], err = compute.TakeArray(ctx, col, ia); err != nil {
					break
				}
			}
			ia.Release()
			if err != nil {
				for _, c := range cols {
					if c != nil {
						c.Release()
					}
				}
				release()
				return nil, fmt.Errorf("table: split by partition: %w", err)
			}
			part = array.NewRecordBatch(dataSchema, cols, int64(len(idx)))
			for _, c := range cols {
				c.Release()
			}
		}
		out = append(out, PartitionedRecord{Values: values[g], Record: part})
	}
	return out, nil
}

// partitionValues returns row r's values of the partition columns
// partCols, at partIdx in rec. A date or timestamp outside years 0001-9999
// is refused: its value ("10000-01-01") would be a directory no reader
// parses, and every later read of the table would fail on it.
func partitionValues(rec arrow.Record, partCols []string, partIdx []int, r int) (map[string]*string, error) {
	vals := make(map[string]*string, len(partCols))
	for j, c := range partCols {
		arr := rec.Column(partIdx[j])
		v := FormatPartitionValue(arr, r)
		switch arr.DataType().ID() {
		case arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
			if v != nil && (len(*v) < 10 || (*v)[4] != '-' || (*v)[0] == '-' || (*v)[:4] == "0000") {
				return nil, fmt.Errorf("%w: %q for column %s: outside years 0001-9999", ErrPartitionValue, *v, c)
			}
		}
		vals[c] = v
	}
	return vals, nil
}

// allUniform reports whether each column at idx holds one value in every
// row (false when that is not cheap to tell).
func allUniform(rec arrow.Record, idx []int) bool {
	for _, i := range idx {
		if !uniform(rec.Column(i)) {
			return false
		}
	}
	return true
}

func uniform(arr arrow.Array) bool {
	if nulls := arr.NullN(); nulls > 0 {
		return nulls == arr.Len()
	}
	switch a := arr.(type) {
	case *array.Date32:
		return allEqual(a.Date32Values())
	case *array.Int64:
		return allEqual(a.Int64Values())
	case *array.Int32:
		return allEqual(a.Int32Values())
	case *array.String:
		for i := 1; i < a.Len(); i++ {
			if a.Value(i) != a.Value(0) {
				return false
			}
		}
		return true
	}
	return false
}

func allEqual[T comparable](vals []T) bool {
	for _, v := range vals {
		if v != vals[0] {
			return false
		}
	}
	return true
}

// columnCodes assigns each row of arr a small code, equal for equal values;
// nulls share one code. It avoids formatting every row.
func columnCodes(arr arrow.Array) ([]int32, int32) {
	n := arr.Len()
	codes := make([]int32, n)
	next := int32(1) // 0 is null
	switch a := arr.(type) {
	case *array.String:
		m := make(map[string]int32)
		for r := 0; r < n; r++ {
			if a.IsNull(r) {
				continue
			}
			v := a.Value(r)
			c, ok := m[v]
			if !ok {
				c = next
				next++
				m[v] = c
			}
			codes[r] = c
		}
		return codes, next
	case *array.Date32:
		return intCodes(a, a.Values(), codes)
	case *array.Int64:
		return intCodes(a, a.Values(), codes)
	case *array.Int32:
		return intCodes(a, a.Values(), codes)
	case *array.Int16:
		return intCodes(a, a.Values(), codes)
	case *array.Int8:
		return intCodes(a, a.Values(), codes)
	case *array.Timestamp:
		return intCodes(a, a.Values(), codes)
	}
	m := make(map[string]int32)
	for r := 0; r < n; r++ {
		v := FormatPartitionValue(arr, r)
		if v == nil {
			continue
		}
		c, ok := m[*v]
		if !ok {
			c = next
			next++
			m[*v] = c
		}
		codes[r] = c
	}
	return codes, next
}

func intCodes[T ~int8 | ~int16 | ~int32 | ~int64](a arrow.Array, vals []T, codes []int32) ([]int32, int32) {
	m := make(map[T]int32)
	next := int32(1)
	var last T
	lastCode := int32(-1)
	for r := range codes {
		if a.IsNull(r) {
			continue
		}
		v := vals[r]
		if lastCode >= 0 && v == last {
			codes[r] = lastCode
			continue
		}
		c, ok := m[v]
		if !ok {
			c = next
			next++
			m[v] = c
		}
		codes[r], last, lastCode = c, v, c
	}
	return codes, next
}
