package table

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/loglake/loglake/table/expr"
)

// Constraints are the row rules of a table that every write must keep:
// NOT NULL columns (nullable=false, nested ones inside non-null parents,
// array elements and map values with containsNull=false), column invariants
// (the legacy writer feature "invariants": delta.invariants in a field's
// metadata) and CHECK constraints (writer feature "checkConstraints":
// delta.constraints.<name> properties). Expressions are in loglake's
// predicate language (package expr). As in Delta, a row satisfies an
// invariant or CHECK constraint only when its expression is TRUE: FALSE and
// NULL both violate it.
type Constraints struct {
	schema   *Schema
	notNull  bool // some column, nested included, is NOT NULL
	checks   []check
	describe []string
}

type check struct {
	name string
	pred *expr.Predicate
}

// Violation is a row that breaks a constraint.
type Violation struct {
	Row        int    // index in the record
	Constraint string // the first constraint it breaks, by name
}

// Constraints returns the snapshot's constraints, or an error naming an
// invariant or CHECK constraint loglake cannot evaluate.
func (s *Snapshot) Constraints() (*Constraints, error) {
	sch, err := s.Schema()
	if err != nil {
		return nil, err
	}
	return compileConstraints(s.metadata, sch)
}

// compileConstraints parses and binds md's invariants and CHECK
// constraints against sch. An expression that does not parse or bind is
// refused by name: accepting the table and not checking it would let
// violating rows in.
func compileConstraints(md *Metadata, sch *Schema) (*Constraints, error) {
	c := &Constraints{schema: sch, notNull: hasNotNull(sch.Fields)}
	asch := sch.Arrow()
	add := func(feature, name, text string) error {
		e, err := expr.Parse(text)
		if err == nil {
			var p *expr.Predicate
			if p, err = expr.Bind(e, asch); err == nil {
				c.checks = append(c.checks, check{name: name, pred: p})
				return nil
			}
		}
		return &FeatureError{Feature: feature, Op: "write",
			Detail: fmt.Sprintf("%s cannot be evaluated by loglake's predicate language: %v", name, err)}
	}
	var invErr error
	walkFields(sch.Fields, "", func(path string, f *Field) {
		raw, ok := f.Metadata["delta.invariants"]
		if !ok || invErr != nil {
			return
		}
		text, err := invariantExpression(raw)
		if err != nil {
			invErr = &FeatureError{Feature: "invariants", Op: "write",
				Detail: fmt.Sprintf("column %s: unreadable delta.invariants %v: %v", path, raw, err)}
			return
		}
		invErr = add("invariants", fmt.Sprintf("invariant %s (column %s)", text, path), text)
	})
	if invErr != nil {
		return nil, invErr
	}
	if md != nil {
		var names []string
		for k := range md.Configuration {
			if strings.HasPrefix(k, "delta.constraints.") {
				names = append(names, k)
			}
		}
		slices.Sort(names)
		for _, k := range names {
			name := strings.TrimPrefix(k, "delta.constraints.")
			text := md.Configuration[k]
			if err := add("checkConstraints", fmt.Sprintf("CHECK constraint %s: %s", name, text), text); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// invariantExpression extracts the SQL text of a delta.invariants value,
// which Delta stores as the JSON string {"expression":{"expression":"…"}}.
func invariantExpression(raw any) (string, error) {
	s, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("value is %T, want a JSON string", raw)
	}
	var v struct {
		Expression struct {
			Expression *string `json:"expression"`
		} `json:"expression"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", err
	}
	if v.Expression.Expression == nil {
		return "", fmt.Errorf("no expression.expression")
	}
	return *v.Expression.Expression, nil
}

func walkFields(fields []*Field, prefix string, fn func(path string, f *Field)) {
	for _, f := range fields {
		fn(prefix+f.Name, f)
		if st, ok := f.Type.(*StructType); ok {
			walkFields(st.Fields, prefix+f.Name+".", fn)
		}
	}
}

// Empty reports whether there is nothing to check: the common case, which
// then costs nothing per row.
func (c *Constraints) Empty() bool { return c == nil || !c.notNull && len(c.checks) == 0 }

// Names lists the constraints, NOT NULL columns first.
func (c *Constraints) Names() []string {
	if c == nil {
		return nil
	}
	var out []string
	walkNotNull(c.schema.Fields, "", func(name string) { out = append(out, "NOT NULL column "+name) })
	for _, k := range c.checks {
		out = append(out, k.name)
	}
	return out
}

// Check returns the rows of rec that violate a constraint, in row order,
// each with the first constraint it violates; nil when every row passes.
// rec must have the table's full schema (partition columns included).
func (c *Constraints) Check(rec arrow.Record) ([]Violation, error) {
	if c.Empty() {
		return nil, nil
	}
	n := int(rec.NumRows())
	var first []string // per row: first violated constraint, "" for none
	mark := func(row int, name string) {
		if first == nil {
			first = make([]string, n)
		}
		if first[row] == "" {
			first[row] = name
		}
	}
	if c.notNull {
		sch := rec.Schema()
		for _, f := range c.schema.Fields {
			if !hasNotNull([]*Field{f}) {
				continue
			}
			idx := sch.FieldIndices(f.Name)
			if len(idx) != 1 {
				return nil, fmt.Errorf("%w: column %q: found %d times in record", ErrSchema, f.Name, len(idx))
			}
			checkNulls(rec.Column(idx[0]), f.Type, f.Nullable, f.Name, nil, nil, mark)
		}
	}
	for _, k := range c.checks {
		ok, err := k.pred.Mask(rec)
		if err != nil {
			return nil, fmt.Errorf("table: evaluating %s: %w", k.name, err)
		}
		for i, pass := range ok {
			if !pass {
				mark(i, k.name)
			}
		}
	}
	if first == nil {
		return nil, nil
	}
	var out []Violation
	for i, name := range first {
		if name != "" {
			out = append(out, Violation{Row: i, Constraint: name})
		}
	}
	return out, nil
}

// ViolationError returns a ConstraintError for vs (nil when vs is empty), naming the
// constraint of the first violating row.
func ViolationError(vs []Violation) error {
	if len(vs) == 0 {
		return nil
	}
	n := 0
	for _, v := range vs {
		if v.Constraint == vs[0].Constraint {
			n++
		}
	}
	return &ConstraintError{Constraint: vs[0].Constraint, Rows: n, Row: vs[0].Row}
}

// hasNotNull reports whether any field, nested included, is NOT NULL.
func hasNotNull(fields []*Field) bool {
	found := false
	walkNotNull(fields, "", func(string) { found = true })
	return found
}

func walkNotNull(fields []*Field, prefix string, fn func(name string)) {
	for _, f := range fields {
		if !f.Nullable {
			fn(prefix + f.Name)
		}
		walkTypeNotNull(f.Type, prefix+f.Name, fn)
	}
}

func walkTypeNotNull(t DataType, name string, fn func(name string)) {
	switch t := t.(type) {
	case *StructType:
		walkNotNull(t.Fields, name+".", fn)
	case *ArrayType:
		if !t.ContainsNull {
			fn(name + ".element")
		}
		walkTypeNotNull(t.ElementType, name+".element", fn)
	case *MapType:
		if !t.ValueContainsNull {
			fn(name + ".value")
		}
		walkTypeNotNull(t.KeyType, name+".key", fn)
		walkTypeNotNull(t.ValueType, name+".value", fn)
	}
}

// checkNulls marks the rows with a null where t or its nested fields
// forbid one. rows maps an index of arr to its row (nil: the same); live,
// when not nil, says which entries of arr are inside non-null parents.
func checkNulls(arr arrow.Array, t DataType, nullable bool, name string, rows []int, live []bool,
	mark func(row int, name string)) {
	row := func(i int) int {
		if rows == nil {
			return i
		}
		return rows[i]
	}
	alive := func(i int) bool { return (live == nil || live[i]) && arr.IsValid(i) }
	if !nullable && arr.NullN() > 0 {
		for i := 0; i < arr.Len(); i++ {
			if (live == nil || live[i]) && arr.IsNull(i) {
				mark(row(i), "NOT NULL column "+name)
			}
		}
	}
	switch t := t.(type) {
	case *StructType:
		sa, ok := arr.(*array.Struct)
		if !ok {
			return
		}
		var childLive []bool
		if sa.NullN() > 0 || live != nil {
			childLive = make([]bool, sa.Len())
			for i := range childLive {
				childLive[i] = alive(i)
			}
		}
		for j, f := range t.Fields {
			if j < sa.NumField() && (hasNotNull([]*Field{f})) {
				checkNulls(sa.Field(j), f.Type, f.Nullable, name+"."+f.Name, rows, childLive, mark)
			}
		}
	case *ArrayType:
		la, ok := arr.(array.ListLike)
		if !ok || t.ContainsNull && !typeHasNotNull(t.ElementType) {
			return
		}
		elemRows, elemLive := expand(la, arr.Len(), row, alive)
		checkNulls(la.ListValues(), t.ElementType, t.ContainsNull, name+".element", elemRows, elemLive, mark)
	case *MapType:
		ma, ok := arr.(*array.Map)
		if !ok {
			return
		}
		elemRows, elemLive := expand(ma, arr.Len(), row, alive)
		if typeHasNotNull(t.KeyType) {
			checkNulls(ma.Keys(), t.KeyType, false, name+".key", elemRows, elemLive, mark)
		}
		if !t.ValueContainsNull || typeHasNotNull(t.ValueType) {
			checkNulls(ma.Items(), t.ValueType, t.ValueContainsNull, name+".value", elemRows, elemLive, mark)
		}
	}
}

// expand maps the child values of a list-like array to their rows.
func expand(la array.ListLike, n int, row func(int) int, alive func(int) bool) ([]int, []bool) {
	vals := la.ListValues().Len()
	rows := make([]int, vals)
	live := make([]bool, vals)
	for i := 0; i < n; i++ {
		if !alive(i) {
			continue
		}
		start, end := la.ValueOffsets(i)
		for j := start; j < end && int(j) < vals; j++ {
			rows[j], live[j] = row(i), true
		}
	}
	return rows, live
}

func typeHasNotNull(t DataType) bool {
	found := false
	walkTypeNotNull(t, "", func(string) { found = true })
	return found
}
