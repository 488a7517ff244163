package expr

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// FileInfo is what MayMatch knows about a data file: its Delta partition
// values and statistics. A method answers ok=false when it does not know.
//
// Column names are dotted paths for nested fields ("a.b"); Partition is only
// asked about top-level columns.
type FileInfo interface {
	// Partition returns the Delta-serialized partition value of col, nil
	// for a null partition value; ok=false when col is not a partition
	// column of the file.
	Partition(col string) (value *string, ok bool)
	// Min and Max return the stats bounds of the column at path (a
	// top-level name may hold a dot: "a.b" is not the field b of a) as
	// decoded by encoding/json: float64 for numbers, string for strings,
	// dates ('2006-01-02') and timestamps (ISO-8601, millisecond
	// precision, truncated), bool.
	Min(path []string) (any, bool)
	Max(path []string) (any, bool)
	// NullCount returns how many values of the column at path are null.
	NullCount(path []string) (int64, bool)
	// NumRecords returns the file's row count.
	NumRecords() (int64, bool)
}

// MayMatch reports whether some row of the file f describes could satisfy p.
// It answers false only when that is certain, so a file it rejects can be
// skipped: AND prunes when either side does, OR when both do, NOT is pushed
// into the leaves exactly. Missing statistics never prune.
//
// Bounds are treated conservatively: string maxima may be truncated prefixes
// (as Spark writes them), timestamp bounds have millisecond granularity, and
// float maxima are ignored because a writer may leave NaN (which sorts above
// every number) out of them.
func (p *Predicate) MayMatch(f FileInfo) bool {
	if n, ok := f.NumRecords(); ok && n == 0 {
		return false
	}
	return mayNode(p.root, f)
}

func mayNode(nd *node, f FileInfo) bool {
	switch nd.kind {
	case nAnd:
		for _, k := range nd.kids {
			if !mayNode(k, f) {
				return false
			}
		}
		return true
	case nOr:
		for _, k := range nd.kids {
			if mayNode(k, f) {
				return true
			}
		}
		return false
	}
	return mayLeaf(nd.leaf, f)
}

func mayLeaf(l *leaf, f FileInfo) bool {
	switch l.kind {
	case lNever:
		return false
	case lTrue:
		return true
	}
	c := l.col
	if len(c.path) == 1 {
		if pv, ok := f.Partition(c.path[0]); ok {
			if pv == nil || *pv == "" { // "" is NULL, as readers take it (fileio.ParsePartitionValue)
				return l.kind == lNull && !l.not
			}
			if l.kind == lNull {
				return l.not
			}
			v, ok := parsePartition(c, *pv)
			if !ok {
				return true
			}
			return l.holds(v)
		}
	}
	nr, nrOK := f.NumRecords()
	nc, ncOK := f.NullCount(c.path)
	allNull := nrOK && ncOK && nc >= nr
	if l.kind == lNull {
		if l.not {
			return !allNull
		}
		return !(ncOK && nc == 0)
	}
	if allNull {
		return false // every other leaf needs a non-null value
	}
	b := statBounds(c, f)
	switch l.kind {
	case lConst:
		return l.b
	case lCmp:
		return b.may(c.kind, l.op, l.lit)
	case lIn:
		if l.not {
			if l.hasNull {
				return false
			}
			for _, e := range l.set {
				if !b.may(c.kind, OpNe, e) {
					return false
				}
			}
			return true
		}
		for _, e := range l.set {
			if b.may(c.kind, OpEq, e) {
				return true
			}
		}
		return false
	case lLike:
		if l.not || l.like.prefix == "" {
			return true
		}
		pre := l.like.prefix
		if b.hasLo && b.lo.s > pre && !strings.HasPrefix(b.lo.s, pre) {
			return false // every value sorts after every string starting with pre
		}
		return b.upper(kString, value{s: pre}) >= 0
	}
	return true
}

// holds evaluates a leaf on one non-null value exactly, as Filter would.
func (l *leaf) holds(v value) bool {
	k := l.col.kind
	switch l.kind {
	case lConst:
		return l.b
	case lNull:
		return l.not
	case lCmp:
		return opHolds(l.op, compareVal(k, v, l.lit))
	case lIn:
		in := false
		for _, e := range l.set {
			if compareVal(k, v, e) == 0 {
				in = true
				break
			}
		}
		if l.not {
			return !in && !l.hasNull
		}
		return in
	case lLike:
		return l.like.match(v.s) != l.not
	}
	return false
}

// bounds are what stats say about a column's non-null values: lo <= every
// value, and every value <= the supremum described by hi and hiPrefix.
type bounds struct {
	lo, hi       value
	hasLo, hasHi bool
	hiPrefix     bool // hi may be a truncated prefix of the true maximum
}

// lower compares the lower bound with x (missing: -infinity).
func (b bounds) lower(k valKind, x value) int {
	if !b.hasLo {
		return -1
	}
	return compareVal(k, b.lo, x)
}

// upper compares the supremum of the values with x (missing: +infinity).
func (b bounds) upper(k valKind, x value) int {
	if !b.hasHi {
		return 1
	}
	if b.hiPrefix && strings.HasPrefix(x.s, b.hi.s) {
		return 1 // the true maximum may be hi followed by anything
	}
	return compareVal(k, b.hi, x)
}

// may reports whether some value within b could satisfy "value op x".
func (b bounds) may(k valKind, op Op, x value) bool {
	switch op {
	case OpEq:
		return b.lower(k, x) <= 0 && b.upper(k, x) >= 0
	case OpNe:
		return !(b.lower(k, x) == 0 && b.upper(k, x) == 0)
	case OpLt:
		return b.lower(k, x) < 0
	case OpLe:
		return b.lower(k, x) <= 0
	case OpGt:
		return b.upper(k, x) > 0
	default:
		return b.upper(k, x) >= 0
	}
}

func statBounds(c *col, f FileInfo) bounds {
	var b bounds
	if v, ok := f.Min(c.path); ok {
		b.lo, b.hasLo = statValue(c, v, false)
	}
	if v, ok := f.Max(c.path); ok {
		b.hi, b.hasHi = statValue(c, v, true)
	}
	if c.kind == kString {
		b.hiPrefix = true
	}
	if c.kind == kFloat {
		b.hasHi = false
	}
	return b
}

// statValue converts a JSON-decoded stats bound. Upper bounds of timestamps
// are widened to the end of their millisecond.
func statValue(c *col, v any, upper bool) (value, bool) {
	switch c.kind {
	case kBool:
		b, ok := v.(bool)
		return value{b: b}, ok
	case kString:
		s, ok := v.(string)
		return value{s: s}, ok
	case kFloat:
		x, ok := jsonNumber(v)
		if !ok || math.IsNaN(x) {
			return value{}, false
		}
		if c.f32 {
			x = float64(float32(x))
		}
		return value{f: x}, true
	case kUint:
		x, ok := jsonNumber(v)
		// From 2^53 on, a float64 stands for several integers: 2^53+1
		// reads as 2^53, a bound below the true one.
		if !ok || x < 0 || x >= 1<<53 || x != math.Trunc(x) {
			return value{}, false
		}
		return value{u: uint64(x)}, true
	}
	if c.tk == tkNone {
		x, ok := jsonNumber(v)
		if !ok || math.Abs(x) >= 1<<53 || x != math.Trunc(x) {
			return value{}, false
		}
		return value{i: int64(x)}, true
	}
	s, ok := v.(string)
	if !ok {
		return value{}, false
	}
	t, ok := parseTime(s, time.UTC)
	if !ok {
		return value{}, false
	}
	if upper && c.tk == tkTimestamp {
		t = t.Add(time.Millisecond - time.Nanosecond)
	}
	i, _, rng := timeTo(t, c.tk, c.unit)
	if rng != 0 {
		return value{}, false
	}
	return value{i: i}, true
}

func jsonNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// parsePartition decodes a Delta-serialized partition value.
func parsePartition(c *col, s string) (value, bool) {
	switch c.kind {
	case kString:
		return value{s: s}, true
	case kBool:
		switch strings.ToLower(s) {
		case "true":
			return value{b: true}, true
		case "false":
			return value{b: false}, true
		}
		return value{}, false
	case kFloat:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return value{}, false
		}
		if c.f32 {
			x = float64(float32(x))
		}
		return value{f: x}, true
	case kUint:
		u, err := strconv.ParseUint(s, 10, 64)
		return value{u: u}, err == nil
	}
	if c.tk == tkNone {
		i, err := strconv.ParseInt(s, 10, 64)
		return value{i: i}, err == nil
	}
	if (c.tk == tkDate32 || c.tk == tkDate64) && len(s) > 10 && (s[10] == ' ' || s[10] == 'T') {
		s = s[:10] // the date as written, as readers take it (a zone is not applied)
	}
	t, ok := parseTime(s, time.UTC)
	if !ok {
		return value{}, false
	}
	i, _, rng := timeTo(t, c.tk, c.unit)
	return value{i: i}, rng == 0
}
