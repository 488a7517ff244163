package fileio

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	gojson "github.com/goccy/go-json"
)

// ErrStats reports add.stats JSON that cannot be decoded.
var ErrStats = errors.New("table: invalid file statistics")

// StatsStringPrefix is how many characters of a string column the min/max
// statistics keep (Delta's default, delta.dataSkippingStringPrefixLength).
const StatsStringPrefix = 32

// maxRune sorts after every other valid code point in UTF-8 byte order; it
// is appended to a truncated maximum so that it stays an upper bound.
const maxRune = "\U0010FFFF"

// Stats are the per-file statistics of an add action (add.stats). Column
// statistics mirror the schema: nested structs are nested maps. Leaf values
// are JSON-decoded: json.Number for numbers, string for strings, dates and
// timestamps, bool for booleans; StatValue converts them to typed values.
type Stats struct {
	NumRecords  int64          `json:"numRecords"`
	MinValues   map[string]any `json:"minValues,omitempty"`
	MaxValues   map[string]any `json:"maxValues,omitempty"`
	NullCount   map[string]any `json:"nullCount,omitempty"`
	TightBounds *bool          `json:"tightBounds,omitempty"`
}

// ParseStats decodes add.stats. Absent statistics ("" or "null") give
// (nil, nil): the caller must then treat every column as unknown.
func ParseStats(s string) (*Stats, error) { return ParseStatsOf(s, nil) }

// StatsPart names the part of add.stats a reader needs: the statistics of
// the top-level columns Columns (matched case-insensitively; a nested
// column's statistics come with its top-level column), and with
// NoBounds, only their null counts. Pruning a statement reads the columns
// its filter names, and a check that files store every column only null
// counts: over 10,000 files, building every column's bounds was most of
// the decoding.
type StatsPart struct {
	Columns  []string
	NoBounds bool
}

// keep reports whether the statistics of top-level column k are wanted.
func (p *StatsPart) keep(k string) bool {
	return slices.ContainsFunc(p.Columns, func(c string) bool { return strings.EqualFold(c, k) })
}

// ParseStatsOf is ParseStats keeping only part of the statistics (nil:
// all): the result is exactly ParseStats's with the other columns' entries
// (and, with NoBounds, minValues and maxValues) left out, and the same
// error. Values it leaves out are still validated, not built.
func ParseStatsOf(s string, part *StatsPart) (*Stats, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "null" {
		return nil, nil
	}
	raw, err := decodeStats(s, part)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStats, err)
	}
	if raw.NumRecords == nil {
		// Without numRecords the column counts carry no meaning either.
		return nil, nil
	}
	n, err := raw.NumRecords.Int64()
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w: numRecords %q", ErrStats, raw.NumRecords.String())
	}
	return &Stats{NumRecords: n, MinValues: raw.MinValues, MaxValues: raw.MaxValues,
		NullCount: raw.NullCount, TightBounds: raw.TightBounds}, nil
}

// rawStats is add.stats as decoded, before validation.
type rawStats struct {
	NumRecords  *json.Number   `json:"numRecords"`
	MinValues   map[string]any `json:"minValues"`
	MaxValues   map[string]any `json:"maxValues"`
	NullCount   map[string]any `json:"nullCount"`
	TightBounds *bool          `json:"tightBounds"`
}

// decodeStats decodes add.stats JSON. Pruning a statement over a large
// snapshot decodes every file's stats, and encoding/json into maps was most
// of a selective query's CPU; goccy/go-json (already used by arrow-go) is
// about 3.5× faster on them. encoding/json stays the reference: it decodes
// what goccy refuses (so errors read the same) and strings that are not
// valid UTF-8, which encoding/json replaces with U+FFFD and goccy may not.
// goccy is lenient with malformed JSON (a truncated literal decodes), so
// only text encoding/json's own scanner accepts reaches it (validating costs
// a fraction of decoding). FuzzDecodeStats checks that both agree.
func decodeStats(s string, part *StatsPart) (raw rawStats, err error) {
	if raw, ok := decodeStatsPlain(s, part); ok {
		return raw, nil
	}
	if utf8.ValidString(s) && json.Valid([]byte(s)) {
		if raw, ok := decodeStatsFast(s); ok {
			return raw.only(part), nil
		}
	}
	raw, err = decodeStatsStd(s)
	return raw.only(part), err
}

// only drops the statistics part does not ask for (nil: keeps all), as
// decodeStatsPlain leaves them out.
func (r rawStats) only(part *StatsPart) rawStats {
	if part == nil {
		return r
	}
	if part.NoBounds {
		r.MinValues, r.MaxValues = nil, nil
	}
	for _, m := range []map[string]any{r.MinValues, r.MaxValues, r.NullCount} {
		for k := range m {
			if !part.keep(k) {
				delete(m, k)
			}
		}
	}
	return r
}

func decodeStatsFast(s string) (raw rawStats, ok bool) {
	defer func() {
		// A decoder bug on hostile input must cost speed, not the process:
		// the reference decoder then answers.
		if recover() != nil {
			raw, ok = rawStats{}, false
		}
	}()
	dec := gojson.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return rawStats{}, false
	}
	// go-json takes any quoted text as a json.Number ("0000"); encoding/json
	// only a valid number literal: such input takes the reference path.
	if raw.NumRecords != nil && !json.Valid([]byte(*raw.NumRecords)) {
		return rawStats{}, false
	}
	return raw, true
}

func decodeStatsStd(s string) (raw rawStats, err error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	err = dec.Decode(&raw)
	return raw, err
}

// JSON returns the statistics as the compact JSON string stored in add.stats.
func (s *Stats) JSON() string {
	if s == nil {
		return ""
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		// Only values put there by hand can fail (NaN floats); fall back
		// to the counts, which are always encodable.
		return fmt.Sprintf(`{"numRecords":%d}`, s.NumRecords)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func lookupPath(m map[string]any, path []string) (any, bool) {
	if len(path) == 0 {
		return nil, false
	}
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	if cur == nil {
		return nil, false
	}
	if _, nested := cur.(map[string]any); nested {
		return nil, false
	}
	return cur, true
}

// Min returns the raw minimum of the column at path (one name per nesting
// level), or false when the file has none.
func (s *Stats) Min(path ...string) (any, bool) {
	if s == nil {
		return nil, false
	}
	return lookupPath(s.MinValues, path)
}

// Max returns the raw maximum of the column at path, or false.
func (s *Stats) Max(path ...string) (any, bool) {
	if s == nil {
		return nil, false
	}
	return lookupPath(s.MaxValues, path)
}

// Nulls returns the null count of the column at path, or false.
func (s *Stats) Nulls(path ...string) (int64, bool) {
	if s == nil {
		return 0, false
	}
	v, ok := lookupPath(s.NullCount, path)
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), n == math.Trunc(n)
	}
	return 0, false
}

// StatValue converts a raw statistics value of a column of type t to the Go
// type ParsePartitionValue documents (int64, float64, bool, string, []byte,
// time.Time, decimal128.Num).
func StatValue(raw any, t DataType) (any, error) {
	switch v := raw.(type) {
	case nil:
		return nil, nil
	case json.Number:
		return parseScalar(v.String(), t)
	case string:
		if p, ok := t.(PrimitiveType); ok && (p == TypeTimestamp || p == TypeTimestampNTZ) {
			return parseTimestamp(v)
		}
		return parseScalar(v, t)
	case bool:
		if t != TypeBoolean {
			return nil, fmt.Errorf("%w: boolean statistic for a %s column", ErrStats, t)
		}
		return v, nil
	case float64:
		return parseScalar(strconv.FormatFloat(v, 'g', -1, 64), t)
	case int64:
		return parseScalar(strconv.FormatInt(v, 10), t)
	}
	return nil, fmt.Errorf("%w: statistic of type %T", ErrStats, raw)
}

// statsCollector accumulates Delta statistics over the records written to
// one file.
type statsCollector struct {
	numRecords int64
	cols       []*colStats
}

type statKind int

const (
	statNone    statKind = iota // null count only (binary, list, map, …)
	statInt                     // integers
	statFloat                   // float, double
	statBool                    // boolean
	statDate                    // date32, as days
	statTS                      // timestamp, as µs
	statString                  // string
	statDecimal                 // decimal128
	statStruct                  // nested struct
)

type colStats struct {
	name     string
	kind     statKind
	ntz      bool  // timestamp without zone
	scale    int32 // decimal
	children []*colStats

	nulls   int64
	seen    bool // a non-null value was seen
	invalid bool // min/max cannot be represented (NaN, Inf, bad max)

	minI, maxI int64
	minF, maxF float64
	minD, maxD decimal128.Num
	minS, maxS string // already truncated prefixes
	maxTrunc   bool   // some value with prefix maxS was longer than it
}

func newStatsCollector(sch *arrow.Schema) *statsCollector {
	c := &statsCollector{}
	for _, f := range sch.Fields() {
		c.cols = append(c.cols, newColStats(f))
	}
	return c
}

func newColStats(f arrow.Field) *colStats {
	cs := &colStats{name: f.Name}
	dt := f.Type
	if d, ok := dt.(*arrow.DictionaryType); ok {
		dt = d.ValueType
	}
	switch t := dt.(type) {
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Int32Type, *arrow.Int64Type,
		*arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type:
		cs.kind = statInt
	case *arrow.Float32Type, *arrow.Float64Type:
		cs.kind = statFloat
	case *arrow.BooleanType:
		cs.kind = statBool
	case *arrow.Date32Type:
		cs.kind = statDate
	case *arrow.TimestampType:
		cs.kind = statTS
		cs.ntz = t.TimeZone == ""
	case *arrow.StringType, *arrow.LargeStringType:
		cs.kind = statString
	case *arrow.Decimal128Type:
		cs.kind = statDecimal
		cs.scale = t.Scale
	case *arrow.StructType:
		cs.kind = statStruct
		for _, cf := range t.Fields() {
			cs.children = append(cs.children, newColStats(cf))
		}
	}
	return cs
}

// addExcept folds rec into the statistics, except the columns skip marks
// (nil: none), which the caller folds in itself (observeUsed).
func (c *statsCollector) addExcept(rec arrow.Record, skip []bool) {
	c.numRecords += rec.NumRows()
	for i, cs := range c.cols {
		if skip == nil || !skip[i] {
			cs.update(rec.Column(i), nil)
		}
	}
}

// observeUsed folds in a top-level string column of nulls null rows whose
// other rows' least and greatest values are lo and hi (found: there are
// such rows).
func (cs *colStats) observeUsed(nulls int, lo, hi string, found bool) {
	cs.nulls += int64(nulls)
	if found && !cs.invalid && cs.kind == statString {
		cs.observeStrings(lo, hi)
	}
}

// update folds arr into the statistics. valid, when not nil, marks rows whose
// ancestors are all non-null; other rows count as null whatever arr holds.
func (cs *colStats) update(arr arrow.Array, valid []bool) {
	n := arr.Len()
	if d, ok := arr.(*array.Dictionary); ok {
		// Rare for writes; materialize the values through the dictionary.
		cs.updateDict(d, valid)
		return
	}
	isValid := func(i int) bool { return (valid == nil || valid[i]) && arr.IsValid(i) }
	if valid == nil {
		cs.nulls += int64(arr.NullN())
	} else {
		for i := 0; i < n; i++ {
			if !isValid(i) {
				cs.nulls++
			}
		}
	}
	if cs.invalid {
		return
	}
	allValid := valid == nil && arr.NullN() == 0
	switch cs.kind {
	case statStruct:
		var child []bool
		if !allValid {
			child = make([]bool, n)
			for i := range child {
				child[i] = isValid(i)
			}
		}
		s := arr.(*array.Struct)
		for j, cc := range cs.children {
			cc.update(s.Field(j), child)
		}
	case statInt:
		switch a := arr.(type) {
		case *array.Int8:
			intMinMax(cs, a.Int8Values(), allValid, isValid)
		case *array.Int16:
			intMinMax(cs, a.Int16Values(), allValid, isValid)
		case *array.Int32:
			intMinMax(cs, a.Int32Values(), allValid, isValid)
		case *array.Int64:
			intMinMax(cs, a.Int64Values(), allValid, isValid)
		case *array.Uint8:
			intMinMax(cs, a.Uint8Values(), allValid, isValid)
		case *array.Uint16:
			intMinMax(cs, a.Uint16Values(), allValid, isValid)
		case *array.Uint32:
			intMinMax(cs, a.Uint32Values(), allValid, isValid)
		}
	case statDate:
		intMinMax(cs, arr.(*array.Date32).Date32Values(), allValid, isValid)
	case statTS:
		a := arr.(*array.Timestamp)
		unit := a.DataType().(*arrow.TimestampType).Unit
		if unit == arrow.Microsecond {
			intMinMax(cs, a.TimestampValues(), allValid, isValid)
			break
		}
		for i, v := range a.TimestampValues() {
			if allValid || isValid(i) {
				cs.observeInt(storedMicros(int64(v), unit))
			}
		}
	case statBool:
		a := arr.(*array.Boolean)
		for i := 0; i < n; i++ {
			if allValid || isValid(i) {
				v := int64(0)
				if a.Value(i) {
					v = 1
				}
				cs.observeInt(v)
			}
		}
	case statFloat:
		switch a := arr.(type) {
		case *array.Float32:
			for i, v := range a.Float32Values() {
				if allValid || isValid(i) {
					cs.observeFloat(float64(v))
				}
			}
		case *array.Float64:
			for i, v := range a.Float64Values() {
				if allValid || isValid(i) {
					cs.observeFloat(v)
				}
			}
		}
	case statDecimal:
		a := arr.(*array.Decimal128)
		for i := 0; i < n; i++ {
			if allValid || isValid(i) {
				v := a.Value(i)
				if !cs.seen || v.Less(cs.minD) {
					cs.minD = v
				}
				if !cs.seen || v.Greater(cs.maxD) {
					cs.maxD = v
				}
				cs.seen = true
			}
		}
	case statString:
		switch a := arr.(type) {
		case *array.String:
			stringMinMax(cs, a.ValueOffsets(), a.ValueBytes(), allValid, isValid)
		case *array.LargeString:
			stringMinMax(cs, a.ValueOffsets(), a.ValueBytes(), allValid, isValid)
		}
	}
}

// stringMinMax folds the smallest and largest of n string values into the
// statistics. Cutting to StatsStringPrefix code points keeps order (a <= b
// gives prefix(a) <= prefix(b)), so observing only the extremes yields the
// same bounds as observing every value; and the largest value is the one
// whose truncation matters (if any value sharing the max prefix is longer
// than it, the largest is too, and continues with U+10FFFF if any does).
// Most values differ from both extremes in their first eight bytes: a
// test of those as one word spares them the full comparisons (measured:
// a third of the collector's CPU on log columns; host names and JSON
// objects share their first byte).
func stringMinMax[O int32 | int64](cs *colStats, offs []O, data []byte, allValid bool, isValid func(int) bool) {
	if len(offs) < 2 {
		return
	}
	base := offs[0] // offsets are into the whole buffer, data starts at offs[0]
	var lo, hi []byte
	var loW, hiW uint64 // prefixWord of lo and hi
	found := false
	for i := range len(offs) - 1 {
		if !allValid && !isValid(i) {
			continue
		}
		a, b := offs[i]-base, offs[i+1]-base
		w := prefixWord(data, int(a), int(b))
		if found && loW < w && w < hiW {
			continue
		}
		v := data[a:b]
		if !found {
			lo, hi, found = v, v, true
		} else if bytes.Compare(v, lo) < 0 {
			lo = v
		} else if bytes.Compare(v, hi) > 0 {
			hi = v
		}
		loW, hiW = prefixWord(lo, 0, len(lo)), prefixWord(hi, 0, len(hi))
	}
	if found {
		cs.observeStrings(string(lo), string(hi))
	}
}

// prefixWord is the first eight bytes of data[a:b] as a big-endian word,
// zero-padded: a word strictly between two others' is a string strictly
// between theirs. (Equal words say nothing: padding is not a zero byte.)
func prefixWord(data []byte, a, b int) uint64 {
	if a+8 <= len(data) {
		w := binary.BigEndian.Uint64(data[a:])
		if n := b - a; n < 8 {
			w &^= 1<<(8*(8-n)) - 1
		}
		return w
	}
	var w uint64
	for i := range 8 {
		w <<= 8
		if a+i < b {
			w |= uint64(data[a+i])
		}
	}
	return w
}

func (cs *colStats) updateDict(d *array.Dictionary, valid []bool) {
	n := d.Len()
	for i := 0; i < n; i++ {
		if (valid != nil && !valid[i]) || d.IsNull(i) {
			cs.nulls++
		}
	}
	if cs.kind == statNone || cs.kind == statStruct || cs.invalid {
		return
	}
	// Fold in the dictionary entries actually referenced by valid rows.
	used := make([]bool, d.Dictionary().Len())
	for i := 0; i < n; i++ {
		if (valid == nil || valid[i]) && d.IsValid(i) {
			used[d.GetValueIndex(i)] = true
		}
	}
	saved := cs.nulls
	cs.update(d.Dictionary(), used)
	cs.nulls = saved
}

func intMinMax[T ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32](cs *colStats, vals []T, allValid bool, isValid func(int) bool) {
	if len(vals) == 0 {
		return
	}
	var lo, hi T
	found := false
	for i, v := range vals {
		if !allValid && !isValid(i) {
			continue
		}
		if !found {
			lo, hi, found = v, v, true
			continue
		}
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if found {
		cs.observeInt(int64(lo))
		cs.observeInt(int64(hi))
	}
}

func (cs *colStats) observeInt(v int64) {
	if !cs.seen || v < cs.minI {
		cs.minI = v
	}
	if !cs.seen || v > cs.maxI {
		cs.maxI = v
	}
	cs.seen = true
}

func (cs *colStats) observeFloat(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// JSON has no spelling for these and Spark's skipping treats NaN
		// specially; leave the bounds out rather than risk a wrong skip.
		cs.invalid = true
		return
	}
	if !cs.seen || v < cs.minF {
		cs.minF = v
	}
	if !cs.seen || v > cs.maxF {
		cs.maxF = v
	}
	cs.seen = true
}

// stringPrefix returns the first StatsStringPrefix code points of s and
// whether s was longer.
func stringPrefix(s string) (string, bool) {
	if len(s) <= StatsStringPrefix {
		return s, false
	}
	n := 0
	for i := range s {
		if n == StatsStringPrefix {
			return s[:i], true
		}
		n++
	}
	return s, false
}

// storedMicros is timestamp v as the Parquet writer stores it: in µs, a
// finer unit truncated toward zero (pqarrow's WithTruncatedTimestamps), so
// that the statistics bound the stored values.
func storedMicros(v int64, unit arrow.TimeUnit) int64 {
	if unit == arrow.Nanosecond {
		return v / 1e3
	}
	return unitToMicros(v, unit)
}

func (cs *colStats) observeString(v string) { cs.observeStrings(v, v) }

// observeStrings folds in lo as a candidate minimum and hi as a candidate
// maximum.
func (cs *colStats) observeStrings(lo, hi string) {
	if p, _ := stringPrefix(lo); !cs.seen || p < cs.minS {
		cs.minS = strings.Clone(p)
	}
	p, long := stringPrefix(hi)
	switch {
	case !cs.seen || p > cs.maxS:
		cs.maxS = strings.Clone(p)
		cs.maxTrunc = long
	case p == cs.maxS && long:
		cs.maxTrunc = true
	}
	if long && p == cs.maxS {
		// The appended maxRune bounds the value unless the value goes on
		// with maxRune itself; then no truncated max is valid.
		if r, _ := utf8.DecodeRuneInString(hi[len(p):]); r == utf8.MaxRune {
			cs.invalid = true
		}
	}
	if !utf8.ValidString(cs.minS) || !utf8.ValidString(cs.maxS) {
		// JSON would carry U+FFFD for the bad bytes, which sorts below
		// some of them: the max would no longer bound the values.
		cs.invalid = true
	}
	cs.seen = true
}

// stats returns the collected statistics as a Stats value.
func (c *statsCollector) stats() *Stats {
	s := &Stats{NumRecords: c.numRecords, MinValues: map[string]any{}, MaxValues: map[string]any{}, NullCount: map[string]any{}}
	tight := true
	for _, cs := range c.cols {
		if cs.emit(s.MinValues, s.MaxValues, s.NullCount) {
			tight = false
		}
	}
	_ = tight
	if len(s.MinValues) == 0 {
		s.MinValues = nil
	}
	if len(s.MaxValues) == 0 {
		s.MaxValues = nil
	}
	if len(s.NullCount) == 0 {
		s.NullCount = nil
	}
	return s
}

// emit writes cs into the three maps and reports whether a bound was
// widened (truncated string, rounded timestamp).
func (cs *colStats) emit(mins, maxs, nulls map[string]any) (wide bool) {
	if cs.kind == statStruct {
		cmin, cmax, cnull := map[string]any{}, map[string]any{}, map[string]any{}
		for _, cc := range cs.children {
			if cc.emit(cmin, cmax, cnull) {
				wide = true
			}
		}
		if len(cmin) > 0 {
			mins[cs.name] = cmin
		}
		if len(cmax) > 0 {
			maxs[cs.name] = cmax
		}
		nulls[cs.name] = cnull
		return wide
	}
	nulls[cs.name] = json.Number(strconv.FormatInt(cs.nulls, 10))
	if !cs.seen || cs.invalid || cs.kind == statNone {
		return false
	}
	switch cs.kind {
	case statInt:
		mins[cs.name] = json.Number(strconv.FormatInt(cs.minI, 10))
		maxs[cs.name] = json.Number(strconv.FormatInt(cs.maxI, 10))
	case statBool:
		mins[cs.name] = cs.minI == 1
		maxs[cs.name] = cs.maxI == 1
	case statFloat:
		mins[cs.name] = json.Number(strconv.FormatFloat(cs.minF, 'g', -1, 64))
		maxs[cs.name] = json.Number(strconv.FormatFloat(cs.maxF, 'g', -1, 64))
	case statDate:
		mins[cs.name] = timeFromMicros(cs.minI * 86400e6).Format(time.DateOnly)
		maxs[cs.name] = timeFromMicros(cs.maxI * 86400e6).Format(time.DateOnly)
	case statTS:
		lo := floorDiv(cs.minI, 1000)
		hi := -floorDiv(-cs.maxI, 1000) // ceiling
		wide = lo*1000 != cs.minI || hi*1000 != cs.maxI
		mins[cs.name] = formatStatsTime(lo, cs.ntz)
		maxs[cs.name] = formatStatsTime(hi, cs.ntz)
	case statDecimal:
		mins[cs.name] = json.Number(cs.minD.ToString(cs.scale))
		maxs[cs.name] = json.Number(cs.maxD.ToString(cs.scale))
	case statString:
		mins[cs.name] = cs.minS
		if cs.maxTrunc {
			maxs[cs.name] = cs.maxS + maxRune
			wide = true
		} else {
			maxs[cs.name] = cs.maxS
		}
	}
	return wide
}

// formatStatsTime formats ms since the epoch as Delta statistics do:
// ISO-8601 UTC with milliseconds ("2026-11-24T10:00:00.123Z"); without the
// zone suffix for timestamp_ntz.
func formatStatsTime(ms int64, ntz bool) string {
	t := timeFromMicros(ms * 1000)
	if ntz {
		return t.Format("2006-01-02T15:04:05.000")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}
