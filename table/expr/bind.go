package expr

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// Bind errors. Both are wrapped with the column and literal at fault.
var (
	// ErrUnknownColumn means a column (or nested field) is not in the schema.
	ErrUnknownColumn = errors.New("expr: unknown column")
	// ErrType means a literal does not convert to its column's type, an
	// operator does not apply to it, or the column's type is unsupported.
	ErrType = errors.New("expr: type mismatch")
)

// valKind is the domain a column's values are compared in.
type valKind int

const (
	kInt    valKind = iota // signed integers, dates, timestamps (as int64)
	kUint                  // unsigned integers (as uint64)
	kFloat                 // float32 and float64 (as float64)
	kString                // string, large_string, string_view, dictionary of those
	kBool
	kAny // only tested for null
)

// timeKind says how an integer column encodes time.
type timeKind int

const (
	tkNone timeKind = iota
	tkDate32
	tkDate64
	tkTimestamp
)

// value is a scalar in a valKind domain; only the field of its kind is used.
type value struct {
	i int64
	u uint64
	f float64
	s string
	b bool
}

// col is a resolved column reference.
type col struct {
	path []string
	name string         // dotted path, for messages (FileInfo is asked by path)
	typ  arrow.DataType // leaf type as declared in the schema
	kind valKind
	// range of the column's storage type, for kInt/kUint
	minI, maxI int64
	maxU       uint64
	f32        bool
	tk         timeKind
	unit       arrow.TimeUnit
	loc        *time.Location // nil: timestamp zone unknown to this process
}

type leafKind int

const (
	lNever leafKind = iota // never TRUE (comparison with NULL, FALSE)
	lTrue                  // TRUE for every row (TRUE)
	lConst                 // b for non-null rows, unknown for null rows
	lCmp                   // col op lit
	lNull                  // IS NULL (not: IS NOT NULL)
	lIn                    // IN set (not: NOT IN)
	lLike                  // LIKE (not: NOT LIKE)
)

type leaf struct {
	kind    leafKind
	col     *col
	op      Op
	lit     value
	set     []value // non-null IN elements that can equal a column value
	hasNull bool    // IN list held NULL
	not     bool
	b       bool
	like    *likePattern
}

type nodeKind int

const (
	nAnd nodeKind = iota
	nOr
	nLeaf
)

// node is a bound predicate in negation normal form: NOT has been pushed
// into the leaves, which is exact under three-valued logic (De Morgan holds
// in Kleene logic, and NOT (a < b) is a >= b under a total order), so every
// node only needs to know where it is TRUE.
type node struct {
	kind nodeKind
	kids []*node
	leaf *leaf
}

// Predicate is an Expr bound to a schema: type-checked and ready to filter
// records and prune files. It is immutable and safe for concurrent use.
type Predicate struct {
	expr    Expr
	sch     *arrow.Schema
	root    *node
	missing map[string]bool // columns read as NULL (BindMissingNull)
}

// Expr returns the expression p was bound from.
func (p *Predicate) Expr() Expr { return p.expr }

// String renders the bound expression.
func (p *Predicate) String() string { return p.expr.String() }

// Columns returns the top-level columns whose statistics or partition
// values MayMatch may ask a FileInfo about, each once: a caller can then
// decode only those columns' statistics.
func (p *Predicate) Columns() []string {
	return slices.DeleteFunc(Columns(p.expr), func(c string) bool { return p.missing[c] })
}

// Bind resolves e's columns in sch and converts its literals to the columns'
// types. Supported column types: int8..int64, uint8..uint64, float32,
// float64, string, large_string, string_view, dictionaries of those, bool,
// date32, date64 and timestamp (any unit and zone), also inside structs.
func Bind(e Expr, sch *arrow.Schema) (*Predicate, error) {
	return bind(e, sch, false)
}

// BindMissingNull is Bind for a table read at an older version: a column
// (or nested field) sch lacks — one the table gained later — is NULL in
// every row, as the table's newer schema reads those rows, instead of an
// ErrUnknownColumn. Whether the column exists at all is the caller's to
// check, against the newest schema.
func BindMissingNull(e Expr, sch *arrow.Schema) (*Predicate, error) {
	return bind(e, sch, true)
}

func bind(e Expr, sch *arrow.Schema, missingNull bool) (*Predicate, error) {
	b := binder{sch: sch, cols: map[string]*col{}, missingNull: missingNull, missing: map[string]bool{}}
	root, err := b.bind(e, false)
	if err != nil {
		return nil, err
	}
	return &Predicate{expr: e, sch: sch, root: root, missing: b.missing}, nil
}

type binder struct {
	sch         *arrow.Schema
	cols        map[string]*col
	missingNull bool
	missing     map[string]bool // top-level columns read as NULL (missingNull)
}

// nullLeaf binds a test of a column the schema lacks, read as NULL in every
// row (missingNull): IS NULL holds everywhere, IS NOT NULL and every
// comparison nowhere (unknown, under NOT too). ok is false for other
// expressions and for columns the schema has.
func (b *binder) nullLeaf(e Expr, neg bool) (nd *node, ok bool) {
	var c Column
	isNull := false
	switch e := e.(type) {
	case Compare:
		c = e.Col
	case In:
		c = e.Col
	case Like:
		c = e.Col
	case IsNull:
		c, isNull = e.Col, e.Not == neg
	default:
		return nil, false
	}
	if !b.missingNull || len(c.Path) == 0 {
		return nil, false
	}
	if _, ok := lookup(b.sch, c.Path); ok {
		return nil, false
	}
	if _, ok := lookup(b.sch, c.Path[:1]); !ok {
		b.missing[c.Path[0]] = true
	}
	if isNull {
		return always(), true
	}
	return never(), true
}

// never is a leaf that holds for no row (a comparison with NULL, FALSE),
// always one that holds for every row (TRUE).
func never() *node  { return leafNode(&leaf{kind: lNever}) }
func always() *node { return leafNode(&leaf{kind: lTrue}) }

func (b *binder) bind(e Expr, neg bool) (*node, error) {
	if nd, ok := b.nullLeaf(e, neg); ok {
		return nd, nil
	}
	switch e := e.(type) {
	case And, Or:
		var l, r Expr
		isAnd := false
		if a, ok := e.(And); ok {
			l, r, isAnd = a.L, a.R, true
		} else {
			o := e.(Or)
			l, r = o.L, o.R
		}
		ln, err := b.bind(l, neg)
		if err != nil {
			return nil, err
		}
		rn, err := b.bind(r, neg)
		if err != nil {
			return nil, err
		}
		k := nOr
		if isAnd != neg {
			k = nAnd
		}
		return &node{kind: k, kids: []*node{ln, rn}}, nil
	case Not:
		return b.bind(e.X, !neg)
	case Const:
		if e.Value != neg {
			return always(), nil
		}
		return never(), nil
	case Column:
		return b.bind(Compare{Col: e, Op: OpEq, Value: Literal{Kind: Bool, Text: "true"}}, neg)
	case Compare:
		c, err := b.column(e.Col)
		if err != nil {
			return nil, err
		}
		op := e.Op
		if neg {
			op = op.negate()
		}
		if e.Value.Kind == Null {
			return leafNode(&leaf{kind: lNever, col: c}), nil
		}
		v, pos, err := convert(c, e.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", err, e)
		}
		return leafNode(cmpLeaf(c, op, v, pos)), nil
	case IsNull:
		c, err := b.columnAnyType(e.Col)
		if err != nil {
			return nil, err
		}
		return leafNode(&leaf{kind: lNull, col: c, not: e.Not != neg}), nil
	case In:
		c, err := b.column(e.Col)
		if err != nil {
			return nil, err
		}
		l := &leaf{kind: lIn, col: c, not: e.Not != neg}
		for _, lit := range e.Values {
			if lit.Kind == Null {
				l.hasNull = true
				continue
			}
			v, pos, err := convert(c, lit)
			if err != nil {
				return nil, fmt.Errorf("%w: %s", err, e)
			}
			if pos == exact {
				l.set = append(l.set, v)
			}
			// An element no column value can equal is FALSE for every
			// non-null row: it adds nothing to IN and removes nothing
			// from NOT IN.
		}
		return leafNode(l), nil
	case Like:
		c, err := b.column(e.Col)
		if err != nil {
			return nil, err
		}
		if c.kind != kString {
			return nil, fmt.Errorf("%w: LIKE needs a string column, %s is %s", ErrType, c.name, c.typ)
		}
		return leafNode(&leaf{kind: lLike, col: c, not: e.Not != neg, like: compileLike(e.Pattern)}), nil
	}
	return nil, fmt.Errorf("%w: unsupported expression %T", ErrType, e)
}

func leafNode(l *leaf) *node { return &node{kind: nLeaf, leaf: l} }

// position says where a literal lies relative to the column's values.
type position int

const (
	exact   position = iota // v is the literal
	between                 // literal lies strictly between v and the next value
	below                   // literal is below every value of the type
	above                   // literal is above every value of the type
)

// cmpLeaf builds "col op lit" for a literal at pos, rewriting comparisons with
// literals the column cannot hold into equivalent ones it can.
func cmpLeaf(c *col, op Op, v value, pos position) *leaf {
	konst := func(b bool) *leaf { return &leaf{kind: lConst, col: c, b: b} }
	switch pos {
	case between:
		switch op {
		case OpEq:
			return konst(false)
		case OpNe:
			return konst(true)
		case OpLt, OpLe:
			op = OpLe
		default:
			op = OpGt
		}
	case below:
		return konst(op == OpNe || op == OpGt || op == OpGe)
	case above:
		return konst(op == OpNe || op == OpLt || op == OpLe)
	}
	return &leaf{kind: lCmp, col: c, op: op, lit: v}
}

// columnAnyType resolves a column whose values are never compared, so any
// type will do.
func (b *binder) columnAnyType(c Column) (*col, error) {
	rc, err := b.column(c)
	if errors.Is(err, ErrType) {
		f, _ := lookup(b.sch, c.Path)
		return &col{path: c.Path, name: c.Name(), typ: f.Type, kind: kAny}, nil
	}
	return rc, err
}

func (b *binder) column(c Column) (*col, error) {
	name := c.Name()
	key := c.String() // quoted: a top-level "a.b" is not the field b of a
	if rc, ok := b.cols[key]; ok {
		return rc, nil
	}
	if len(c.Path) == 0 {
		return nil, fmt.Errorf("%w: empty column name", ErrUnknownColumn)
	}
	f, ok := lookup(b.sch, c.Path)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownColumn, c)
	}
	rc, err := newCol(c.Path, name, f.Type)
	if err != nil {
		return nil, err
	}
	b.cols[key] = rc
	return rc, nil
}

// lookup finds a field by path; names match exactly, else case-insensitively
// when that is unambiguous.
func lookup(sch *arrow.Schema, path []string) (arrow.Field, bool) {
	fields := sch.Fields()
	var f arrow.Field
	for depth, name := range path {
		i := fieldIndex(fields, name)
		if i < 0 {
			return arrow.Field{}, false
		}
		f = fields[i]
		if depth < len(path)-1 {
			st, ok := f.Type.(*arrow.StructType)
			if !ok {
				return arrow.Field{}, false
			}
			fields = st.Fields()
		}
	}
	return f, true
}

func fieldIndex(fields []arrow.Field, name string) int {
	for i, f := range fields {
		if f.Name == name {
			return i
		}
	}
	found := -1
	for i, f := range fields {
		if strings.EqualFold(f.Name, name) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

func newCol(path []string, name string, t arrow.DataType) (*col, error) {
	c := &col{path: path, name: name, typ: t}
	vt := t
	if d, ok := t.(*arrow.DictionaryType); ok {
		vt = d.ValueType
		switch vt.ID() {
		case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		default:
			return nil, fmt.Errorf("%w: column %s has unsupported type %s", ErrType, name, t)
		}
	}
	switch vt.ID() {
	case arrow.INT8:
		c.kind, c.minI, c.maxI = kInt, math.MinInt8, math.MaxInt8
	case arrow.INT16:
		c.kind, c.minI, c.maxI = kInt, math.MinInt16, math.MaxInt16
	case arrow.INT32:
		c.kind, c.minI, c.maxI = kInt, math.MinInt32, math.MaxInt32
	case arrow.INT64:
		c.kind, c.minI, c.maxI = kInt, math.MinInt64, math.MaxInt64
	case arrow.DATE32:
		c.kind, c.minI, c.maxI, c.tk = kInt, math.MinInt32, math.MaxInt32, tkDate32
	case arrow.DATE64:
		c.kind, c.minI, c.maxI, c.tk = kInt, math.MinInt64, math.MaxInt64, tkDate64
	case arrow.TIMESTAMP:
		ts := vt.(*arrow.TimestampType)
		c.kind, c.minI, c.maxI, c.tk, c.unit = kInt, math.MinInt64, math.MaxInt64, tkTimestamp, ts.Unit
		c.loc = zone(ts.TimeZone)
	case arrow.UINT8:
		c.kind, c.maxU = kUint, math.MaxUint8
	case arrow.UINT16:
		c.kind, c.maxU = kUint, math.MaxUint16
	case arrow.UINT32:
		c.kind, c.maxU = kUint, math.MaxUint32
	case arrow.UINT64:
		c.kind, c.maxU = kUint, math.MaxUint64
	case arrow.FLOAT32:
		c.kind, c.f32 = kFloat, true
	case arrow.FLOAT64:
		c.kind = kFloat
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		c.kind = kString
	case arrow.BOOL:
		c.kind = kBool
	default:
		return nil, fmt.Errorf("%w: column %s has unsupported type %s", ErrType, name, t)
	}
	return c, nil
}

// zone resolves an Arrow time zone: "" (naive, read as UTC), an IANA name
// or a fixed offset like "+02:00". It returns nil when the zone is unknown.
func zone(tz string) *time.Location {
	if tz == "" || strings.EqualFold(tz, "UTC") || tz == "Z" {
		return time.UTC
	}
	if t, err := time.Parse("-07:00", tz); err == nil {
		_, off := t.Zone()
		return time.FixedZone(tz, off)
	}
	if l, err := time.LoadLocation(tz); err == nil {
		return l
	}
	return nil
}

// convert converts lit to c's domain.
func convert(c *col, lit Literal) (value, position, error) {
	bad := func() (value, position, error) {
		return value{}, exact, fmt.Errorf("%w: %s does not convert to %s (column %s)", ErrType, lit, c.typ, c.name)
	}
	switch c.kind {
	case kBool:
		if lit.Kind != Bool {
			return bad()
		}
		return value{b: lit.Text == "true"}, exact, nil
	case kString:
		if lit.Kind != String {
			return bad()
		}
		return value{s: lit.Text}, exact, nil
	case kFloat:
		if lit.Kind != Number && lit.Kind != String {
			return bad()
		}
		f, err := strconv.ParseFloat(lit.Text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return bad()
		}
		if c.f32 {
			// Compare as the column stores values, as DuckDB does; a
			// finite literal beyond float32's range lies between the
			// largest float32 and the infinity it would round to.
			switch g := float64(float32(f)); {
			case math.IsInf(g, 1) && !math.IsInf(f, 1):
				return value{f: math.MaxFloat32}, between, nil
			case math.IsInf(g, -1) && !math.IsInf(f, -1):
				return value{f: math.Inf(-1)}, between, nil
			default:
				f = g
			}
		}
		return value{f: f}, exact, nil
	case kUint:
		if lit.Kind != Number && lit.Kind != String {
			return bad()
		}
		if u, err := strconv.ParseUint(strings.TrimPrefix(lit.Text, "+"), 10, 64); err == nil {
			if u > c.maxU {
				return value{}, above, nil
			}
			return value{u: u}, exact, nil
		}
		fl, isInt, ok := numberFloor(lit.Text)
		if !ok {
			return bad()
		}
		switch {
		case fl.Sign() < 0:
			return value{}, below, nil
		case !fl.IsUint64() || fl.Uint64() > c.maxU:
			return value{}, above, nil
		}
		pos := exact
		if !isInt {
			pos = between
		}
		return value{u: fl.Uint64()}, pos, nil
	case kInt:
		if c.tk != tkNone {
			if lit.Kind != String {
				return bad()
			}
			return convertTime(c, lit)
		}
		if lit.Kind != Number && lit.Kind != String {
			return bad()
		}
		if i, err := strconv.ParseInt(lit.Text, 10, 64); err == nil {
			switch {
			case i < c.minI:
				return value{}, below, nil
			case i > c.maxI:
				return value{}, above, nil
			}
			return value{i: i}, exact, nil
		}
		fl, isInt, ok := numberFloor(lit.Text)
		if !ok {
			return bad()
		}
		switch {
		case !fl.IsInt64() && fl.Sign() < 0 || fl.IsInt64() && fl.Int64() < c.minI:
			return value{}, below, nil
		case !fl.IsInt64() || fl.Int64() > c.maxI:
			return value{}, above, nil
		}
		pos := exact
		if !isInt {
			pos = between
		}
		return value{i: fl.Int64()}, pos, nil
	}
	return bad()
}

// numberFloor returns the floor of numeric literal s, exactly (a float64
// would read 9007199254740993.5 as 9007199254740994, an integer), and
// whether s is an integer. Infinities become ±2^64, beyond every integer
// column; NaN and non-numbers are not ok.
func numberFloor(s string) (floor *big.Int, isInt, ok bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(f) {
		return nil, false, false
	}
	if math.Abs(f) >= 1<<70 { // also ±Inf; no need to be exact out there
		b := new(big.Int).Lsh(big.NewInt(1), 64)
		if f < 0 {
			b.Neg(b)
		}
		return b, true, true
	}
	// Bound the text and its exponent so big.Rat's work stays small
	// (1e-100000000 is short, and 10^100000000 is not).
	small := len(s) <= 400
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		small = small && err == nil && e >= -400 && e <= 400
	}
	var r *big.Rat
	if small {
		r, ok = new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
	}
	if !small || !ok {
		fl := math.Floor(f) // a float64 is the best at hand
		b, _ := new(big.Float).SetFloat64(fl).Int(nil)
		return b, fl == f, true
	}
	return new(big.Int).Div(r.Num(), r.Denom()), r.IsInt(), true // Div floors: Denom > 0
}

// Layouts accepted for date and timestamp literals.
var (
	zonedLayouts = []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00"}
	localLayouts = []string{"2006-01-02", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}
)

// parseTime parses a date or timestamp; a value without a zone is read in loc
// (nil: refuse it).
func parseTime(s string, loc *time.Location) (time.Time, bool) {
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	if loc == nil {
		return time.Time{}, false
	}
	for _, l := range localLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func convertTime(c *col, lit Literal) (value, position, error) {
	loc := c.loc
	if c.tk != tkTimestamp {
		loc = time.UTC // dates are calendar days, not instants in a zone
	}
	t, ok := parseTime(lit.Text, loc)
	if !ok {
		what := "a date ('2006-01-02')"
		if c.tk == tkTimestamp {
			what = "a timestamp ('2006-01-02T15:04:05Z')"
			if c.loc == nil {
				what += fmt.Sprintf(" with an explicit zone, as zone %q is unknown here", c.typ.(*arrow.TimestampType).TimeZone)
			}
		}
		return value{}, exact, fmt.Errorf("%w: %s is not %s (column %s)", ErrType, lit, what, c.name)
	}
	v, ex, range_ := timeTo(t, c.tk, c.unit)
	switch {
	case range_ < 0:
		return value{}, below, nil
	case range_ > 0:
		return value{}, above, nil
	case v < c.minI:
		return value{}, below, nil
	case v > c.maxI:
		return value{}, above, nil
	case !ex:
		return value{i: v}, between, nil
	}
	return value{i: v}, exact, nil
}

// timeTo converts t to a date or timestamp column's integer, rounding down.
// exact says no rounding happened; rng is -1/+1 when t is out of int64 range.
func timeTo(t time.Time, tk timeKind, unit arrow.TimeUnit) (v int64, exact bool, rng int) {
	sec, ns := t.Unix(), int64(t.Nanosecond())
	var per, div int64 // units per second; nanoseconds per unit
	switch {
	case tk == tkDate32:
		d := sec / 86400
		if sec%86400 < 0 {
			d--
		}
		return d, sec-d*86400 == 0 && ns == 0, 0
	case tk == tkDate64, unit == arrow.Millisecond:
		per, div = 1000, 1e6
	case unit == arrow.Second:
		per, div = 1, 1e9
	case unit == arrow.Microsecond:
		per, div = 1e6, 1e3
	default:
		per, div = 1e9, 1
	}
	if sec > math.MaxInt64/per-1 {
		return 0, false, 1
	}
	if sec < math.MinInt64/per+1 {
		return 0, false, -1
	}
	return sec*per + ns/div, ns%div == 0, 0
}

// compareVal orders two values of kind k; floats use the total order with
// NaN greatest.
func compareVal(k valKind, a, b value) int {
	switch k {
	case kInt:
		return cmp.Compare(a.i, b.i)
	case kUint:
		return cmp.Compare(a.u, b.u)
	case kFloat:
		an, bn := math.IsNaN(a.f), math.IsNaN(b.f)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		case a.f < b.f:
			return -1
		case a.f > b.f:
			return 1
		}
		return 0
	case kString:
		return strings.Compare(a.s, b.s)
	default:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	}
}

func opHolds(op Op, c int) bool {
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	default:
		return c >= 0
	}
}
