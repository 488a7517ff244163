package expr

import (
	"strconv"
	"strings"
)

// Expr is a parsed, unbound predicate. Its String form parses back to an
// equal Expr.
type Expr interface {
	String() string
	expr()
}

// Op is a comparison operator.
type Op int

// Comparison operators. <> parses as OpNe.
const (
	OpEq Op = iota // =
	OpNe           // !=
	OpLt           // <
	OpLe           // <=
	OpGt           // >
	OpGe           // >=
)

var opText = [...]string{OpEq: "=", OpNe: "!=", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">="}

func (o Op) String() string {
	if o < 0 || int(o) >= len(opText) {
		return "?"
	}
	return opText[o]
}

// negate returns the operator of NOT (a o b); exact under a total order.
func (o Op) negate() Op {
	return [...]Op{OpEq: OpNe, OpNe: OpEq, OpLt: OpGe, OpLe: OpGt, OpGt: OpLe, OpGe: OpLt}[o]
}

// flip returns the operator o' such that (a o b) == (b o' a).
func (o Op) flip() Op {
	return [...]Op{OpEq: OpEq, OpNe: OpNe, OpLt: OpGt, OpLe: OpGe, OpGt: OpLt, OpGe: OpLe}[o]
}

// LiteralKind says what a Literal holds.
type LiteralKind int

// Literal kinds.
const (
	Null LiteralKind = iota
	String
	Number
	Bool
)

// Literal is a constant. Text holds the unescaped string, the number as
// written, or "true"/"false"; it is empty for NULL. Numbers keep their source
// text so that binding can convert them exactly to the column's type.
type Literal struct {
	Kind LiteralKind
	Text string
}

// String renders the literal in source form.
func (l Literal) String() string {
	switch l.Kind {
	case Null:
		return "NULL"
	case String:
		return "'" + strings.ReplaceAll(l.Text, "'", "''") + "'"
	case Bool:
		if l.Text == "true" {
			return "TRUE"
		}
		return "FALSE"
	default:
		return l.Text
	}
}

// Column names a column; a Path longer than one selects nested struct fields.
// Used as an Expr on its own, it means "column = TRUE".
type Column struct {
	Path []string
}

// Name returns the dotted path; it is what [FileInfo] methods are asked for.
func (c Column) Name() string { return strings.Join(c.Path, ".") }

// String renders the column, quoting names that are not plain identifiers.
func (c Column) String() string {
	var b strings.Builder
	for i, p := range c.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		if isPlainIdent(p) {
			b.WriteString(p)
		} else {
			b.WriteString(`"` + strings.ReplaceAll(p, `"`, `""`) + `"`)
		}
	}
	return b.String()
}

func isPlainIdent(s string) bool {
	if s == "" || keywords[strings.ToUpper(s)] {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

var keywords = map[string]bool{
	"AND": true, "OR": true, "NOT": true, "IN": true, "IS": true,
	"NULL": true, "LIKE": true, "TRUE": true, "FALSE": true,
}

// And is L AND R.
type And struct{ L, R Expr }

// Or is L OR R.
type Or struct{ L, R Expr }

// Not is NOT X.
type Not struct{ X Expr }

// Compare is Col Op Value.
type Compare struct {
	Col   Column
	Op    Op
	Value Literal
}

// In is Col IN (Values...), or NOT IN when Not is set.
type In struct {
	Col    Column
	Values []Literal
	Not    bool
}

// IsNull is Col IS NULL, or IS NOT NULL when Not is set.
type IsNull struct {
	Col Column
	Not bool
}

// Const is TRUE or FALSE on its own: every row, or none.
type Const struct{ Value bool }

// Like is Col LIKE Pattern, or NOT LIKE when Not is set.
type Like struct {
	Col     Column
	Pattern string
	Not     bool
}

func (Column) expr()  {}
func (And) expr()     {}
func (Or) expr()      {}
func (Not) expr()     {}
func (Compare) expr() {}
func (In) expr()      {}
func (IsNull) expr()  {}
func (Like) expr()    {}
func (Const) expr()   {}

// precedence: higher binds tighter.
func prec(e Expr) int {
	switch e.(type) {
	case Or:
		return 1
	case And:
		return 2
	case Not:
		return 3
	default:
		return 4
	}
}

func wrap(e Expr, min int) string {
	if prec(e) < min {
		return "(" + e.String() + ")"
	}
	return e.String()
}

// String renders L AND R; a right operand that is itself an AND keeps its
// parentheses so that the tree shape round-trips.
func (e And) String() string { return wrap(e.L, 2) + " AND " + wrap(e.R, 3) }

// String renders L OR R.
func (e Or) String() string { return wrap(e.L, 1) + " OR " + wrap(e.R, 2) }

// String renders NOT X.
func (e Not) String() string { return "NOT " + wrap(e.X, 3) }

// String renders the comparison.
func (e Compare) String() string {
	return e.Col.String() + " " + e.Op.String() + " " + e.Value.String()
}

// String renders the IN list.
func (e In) String() string {
	var b strings.Builder
	b.WriteString(e.Col.String())
	if e.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, v := range e.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteString(")")
	return b.String()
}

// String renders the null test.
func (e IsNull) String() string {
	if e.Not {
		return e.Col.String() + " IS NOT NULL"
	}
	return e.Col.String() + " IS NULL"
}

// String renders TRUE or FALSE.
func (e Const) String() string {
	return Literal{Kind: Bool, Text: strconv.FormatBool(e.Value)}.String()
}

// String renders the LIKE test.
func (e Like) String() string {
	s := e.Col.String()
	if e.Not {
		s += " NOT"
	}
	return s + " LIKE " + Literal{Kind: String, Text: e.Pattern}.String()
}

// Columns returns the distinct top-level columns e reads, in order of first
// appearance: what a scan must project to evaluate e.
func Columns(e Expr) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(Expr)
	add := func(c Column) {
		if len(c.Path) > 0 && !seen[c.Path[0]] {
			seen[c.Path[0]] = true
			out = append(out, c.Path[0])
		}
	}
	walk = func(e Expr) {
		switch e := e.(type) {
		case And:
			walk(e.L)
			walk(e.R)
		case Or:
			walk(e.L)
			walk(e.R)
		case Not:
			walk(e.X)
		case Column:
			add(e)
		case Compare:
			add(e.Col)
		case In:
			add(e.Col)
		case IsNull:
			add(e.Col)
		case Like:
			add(e.Col)
		}
	}
	walk(e)
	return out
}
