package query

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// SQL pruning: DuckDB's own parser (json_serialize_sql) turns a statement
// into a syntax tree; this file finds in it each reference to an attached
// table and the filters that apply to that reference directly, and turns
// them into a table/expr predicate that prunes the reference's files before
// DuckDB opens any.
//
// Soundness rule: a predicate derived for a reference must hold for every
// row of that reference that can influence the result. Anything not
// understood is dropped, which only weakens the predicate (fewer files
// pruned, never wrong results):
//   - a WHERE conjunct applies to the tables of the FROM clause that no
//     outer join can null-extend;
//   - an INNER JOIN's ON conjunct applies to both sides, a LEFT JOIN's to its
//     right side, a RIGHT JOIN's to its left side, other joins' to none;
//   - a conjunct applies to a reference only if every column in it resolves,
//     by DuckDB's binding rules, to that reference;
//   - OR needs both sides understood; AND keeps whichever sides are;
//   - a reference whose name a CTE may shadow, or one the walk does not
//     reach through a construct it knows, is not pruned at all.

// tableRef is one reference to an attached table in a statement.
type tableRef struct {
	name  string // attached table name (lower case)
	alias string // alias as written, "" if none
	loc   int    // byte offset of the table name in the statement
	at    *atClause
	conjs []node // conjuncts that apply to this reference
}

type atClause struct {
	unit string // VERSION or TIMESTAMP
	expr node
}

// node is a JSON object of DuckDB's serialized syntax tree.
type node = map[string]any

// parsedStmt is the result of analysing one statement.
type parsedStmt struct {
	refs []*tableRef
	// unreached counts references to each attached name the walk did not
	// resolve (shadowed by a CTE, qualified, or in a construct not
	// understood): those keep the name, which then must be a view of all
	// files.
	unreached map[string]int
	// keepNames is set when every attached name must stay a view of all
	// files (see countTables).
	keepNames bool
}

// parseTree decodes json_serialize_sql's output for one statement, or
// reports why it cannot be used.
func parseTree(js string) ([]node, error) {
	var out struct {
		Error        bool   `json:"error"`
		ErrorMessage string `json:"error_message"`
		Statements   []node `json:"statements"`
	}
	d := json.NewDecoder(strings.NewReader(js))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	if out.Error {
		return nil, fmt.Errorf("%s", out.ErrorMessage)
	}
	return out.Statements, nil
}

// analyze walks the statements of a syntax tree. attached tells whether a
// name (lower case) is an attached table.
func analyze(stmts []node, attached func(string) bool, schema func(string) *table.Schema) *parsedStmt {
	ps := &parsedStmt{unreached: map[string]int{}}
	total := map[string]int{}
	ps.keepNames = countTables(stmts, attached, total)
	w := &walker{attached: attached, schema: schema, ps: ps}
	for _, s := range stmts {
		w.visit(s, nil)
	}
	reached := map[string]int{}
	for _, r := range ps.refs {
		reached[r.name]++
	}
	for n, c := range total {
		if c != reached[n] {
			ps.unreached[n] = c - reached[n]
		}
	}
	return ps
}

// countTables counts every BASE_TABLE node naming an attached table,
// wherever it is in the tree, qualified (main.t: the same view, which the
// walk does not resolve) or not. It reports whether the statement needs
// every attached name to stay the table itself: a function names tables in
// strings (query_table('t'), query('… FROM t')), which no walk of the tree
// can see, or a column is qualified by schema (main.t.id), which a pruned
// view in t's place cannot answer to.
func countTables(v any, attached func(string) bool, total map[string]int) (keepNames bool) {
	switch v := v.(type) {
	case node:
		if v["type"] == "BASE_TABLE" {
			if n, _ := v["table_name"].(string); attached(strings.ToLower(n)) {
				total[strings.ToLower(n)]++
			}
		}
		switch v["class"] {
		case "FUNCTION":
			switch f, _ := v["function_name"].(string); strings.ToLower(f) {
			case "query", "query_table":
				keepNames = true
			}
		case "COLUMN_REF":
			keepNames = keepNames || len(strs(v["column_names"])) > 2
		}
		for _, c := range v {
			keepNames = countTables(c, attached, total) || keepNames
		}
	case []node:
		for _, c := range v {
			keepNames = countTables(c, attached, total) || keepNames
		}
	case []any:
		for _, c := range v {
			keepNames = countTables(c, attached, total) || keepNames
		}
	}
	return keepNames
}

// baseName is the lower-cased table name of a BASE_TABLE node, or "" when
// it is qualified by a schema or catalog (not one of the engine's views).
func baseName(v node) string {
	if s, _ := v["schema_name"].(string); s != "" {
		return ""
	}
	if s, _ := v["catalog_name"].(string); s != "" {
		return ""
	}
	n, _ := v["table_name"].(string)
	return strings.ToLower(n)
}

type walker struct {
	attached func(string) bool
	schema   func(string) *table.Schema
	ps       *parsedStmt
}

// visit finds SELECT nodes anywhere below v (subqueries in FROM, in
// expressions, in CTEs, in set operations). ctes are the CTE names in scope.
func (w *walker) visit(v any, ctes map[string]bool) {
	switch v := v.(type) {
	case node:
		if cm, ok := v["cte_map"].(node); ok {
			if m, ok := cm["map"].([]any); ok && len(m) > 0 {
				inner := map[string]bool{}
				for k := range ctes {
					inner[k] = true
				}
				for _, e := range m {
					if e, ok := e.(node); ok {
						if k, ok := e["key"].(string); ok {
							inner[strings.ToLower(k)] = true
						}
					}
				}
				ctes = inner
			}
		}
		if v["type"] == "SHOW_REF" {
			return // DESCRIBE and SUMMARIZE: a generated SELECT, not in the text
		}
		if v["type"] == "SELECT_NODE" {
			w.selectNode(v, ctes)
		}
		for _, c := range v {
			w.visit(c, ctes)
		}
	case []any:
		for _, c := range v {
			w.visit(c, ctes)
		}
	}
}

// fromItem is a table reference in a FROM clause: an attached table (ref
// set) or something whose columns are unknown here (subquery, function,
// CTE, other table).
type fromItem struct {
	ref   *tableRef
	alias string // the name columns are qualified with
	sch   *table.Schema
}

// selectNode records the attached tables of one SELECT's FROM clause with
// the conjuncts that apply to each.
func (w *walker) selectNode(sel node, ctes map[string]bool) {
	if sel["sample"] != nil {
		return // a sample after the filter: pruning would not change it, but keep it simple
	}
	var items []*fromItem
	var conds []condition
	top := w.from(sel["from_table"], ctes, &items, &conds)
	var preserved []*fromItem
	for _, en := range top {
		if en.it.ref != nil {
			w.ps.refs = append(w.ps.refs, en.it.ref)
			if !en.nullable {
				preserved = append(preserved, en.it)
			}
		}
	}
	apply := func(expr any, to []*fromItem) {
		for _, c := range conjuncts(expr) {
			owner := resolveOwner(c, items)
			if owner == nil {
				continue
			}
			for _, t := range to {
				if t == owner {
					owner.ref.conjs = append(owner.ref.conjs, c)
				}
			}
		}
	}
	apply(sel["where_clause"], preserved)
	for _, c := range conds {
		apply(c.expr, c.to)
	}
}

// condition is a join's ON clause and the items its conjuncts may prune.
type condition struct {
	expr any
	to   []*fromItem
}

// entry is an item of a FROM subtree; nullable says a join inside that
// subtree can null-extend it.
type entry struct {
	it       *fromItem
	nullable bool
}

// from flattens a FROM tree into items and returns the subtree's entries;
// conds collects ON clauses with the items they apply to.
func (w *walker) from(v any, ctes map[string]bool, items *[]*fromItem, conds *[]condition) []entry {
	t, ok := v.(node)
	if !ok || t == nil {
		return nil
	}
	switch t["type"] {
	case "EMPTY":
		return nil
	case "BASE_TABLE":
		alias, _ := t["alias"].(string)
		name := baseName(t)
		it := &fromItem{alias: strings.ToLower(alias)}
		if it.alias == "" {
			n, _ := t["table_name"].(string)
			it.alias = strings.ToLower(n)
		}
		if name != "" && w.attached(name) && !ctes[name] && t["sample"] == nil {
			if loc, ok := intField(t, "query_location"); ok {
				it.ref = &tableRef{name: name, alias: alias, loc: loc}
				if at, ok := t["at_clause"].(node); ok {
					unit, _ := at["unit"].(string)
					ex, _ := at["expr"].(node)
					it.ref.at = &atClause{unit: strings.ToUpper(unit), expr: ex}
				} else if len(strs(t["column_name_alias"])) == 0 {
					// A reference at another version may have other
					// columns, one with column aliases other names: it
					// is left without a schema, so no column binds to
					// it and nothing prunes it.
					it.sch = w.schema(name)
				}
			}
		}
		*items = append(*items, it)
		return []entry{{it: it}}
	case "JOIN":
		jt, _ := t["join_type"].(string)
		rt, _ := t["ref_type"].(string)
		left := w.from(t["left"], ctes, items, conds)
		right := w.from(t["right"], ctes, items, conds)
		if rt == "POSITIONAL" || rt == "ASOF" {
			// Rows pair by position or by the nearest key: dropping rows
			// of one side changes the partners of the other's rows, so a
			// filter prunes neither.
			return append(nullAll(left), nullAll(right)...)
		}
		plain := rt == "REGULAR" || rt == "NATURAL" || rt == "CROSS"
		var to []*fromItem
		switch {
		case !plain: // LATERAL: conditions are not plain filters
		case jt == "INNER":
			to = append(preservedOf(left), preservedOf(right)...)
		case jt == "LEFT":
			to = preservedOf(right)
		case jt == "RIGHT":
			to = preservedOf(left)
		}
		if c := t["condition"]; c != nil && len(to) > 0 {
			*conds = append(*conds, condition{expr: c, to: to})
		}
		switch jt {
		case "INNER":
		case "LEFT":
			right = nullAll(right)
		case "RIGHT":
			left = nullAll(left)
		default: // OUTER (full), SEMI, ANTI, MARK, ...: be conservative on both sides
			left, right = nullAll(left), nullAll(right)
		}
		return append(left, right...)
	default: // SUBQUERY, TABLE_FUNCTION, PIVOT, ...: columns unknown here
		alias, _ := t["alias"].(string)
		it := &fromItem{alias: strings.ToLower(alias)}
		*items = append(*items, it)
		return []entry{{it: it}}
	}
}

func nullAll(es []entry) []entry {
	out := make([]entry, len(es))
	for i, e := range es {
		out[i] = entry{it: e.it, nullable: true}
	}
	return out
}

// preservedOf keeps the attached items a join subtree does not
// null-extend: the ones an ON clause of the join above filters directly.
func preservedOf(es []entry) []*fromItem {
	var out []*fromItem
	for _, e := range es {
		if e.it.ref != nil && !e.nullable {
			out = append(out, e.it)
		}
	}
	return out
}

// conjuncts splits an AND tree.
func conjuncts(v any) []node {
	n, ok := v.(node)
	if !ok || n == nil {
		return nil
	}
	if n["class"] == "CONJUNCTION" && n["type"] == "CONJUNCTION_AND" {
		var out []node
		for _, c := range children(n) {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []node{n}
}

func children(n node) []any {
	c, _ := n["children"].([]any)
	return c
}

// resolveOwner returns the single attached item all column references of
// e bind to, or nil. It follows DuckDB's binding: a qualified column
// names an item by alias; an unqualified one the only item having it. When
// any item's columns are unknown, unqualified names cannot be resolved.
func resolveOwner(e node, items []*fromItem) *fromItem {
	var owner *fromItem
	ok := true
	var walk func(v any)
	walk = func(v any) {
		if !ok {
			return
		}
		switch v := v.(type) {
		case node:
			switch v["class"] {
			case "SUBQUERY", "WINDOW", "LAMBDA", "PARAMETER", "FUNCTION":
				if v["class"] == "FUNCTION" {
					break // functions are not translated anyway
				}
				ok = false
				return
			case "COLUMN_REF":
				it := bindColumn(v, items)
				if it == nil || owner != nil && owner != it {
					ok = false
					return
				}
				owner = it
				return
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(e)
	if !ok || owner == nil || owner.ref == nil {
		return nil
	}
	return owner
}

// bindColumn finds the item a COLUMN_REF binds to.
func bindColumn(c node, items []*fromItem) *fromItem {
	names := strs(c["column_names"])
	switch len(names) {
	case 1:
		var found *fromItem
		for _, it := range items {
			if it.ref == nil || it.sch == nil {
				return nil // a subquery, function or other version might have it
			}
			if it.sch != nil && it.sch.Field(names[0]) != nil {
				if found != nil {
					return nil // ambiguous: DuckDB refuses it
				}
				found = it
			}
		}
		return found
	case 2:
		var found *fromItem
		for _, it := range items {
			if it.alias == strings.ToLower(names[0]) {
				if found != nil {
					return nil
				}
				found = it
			}
		}
		if found == nil || found.ref == nil || found.sch == nil || found.sch.Field(names[1]) == nil {
			return nil
		}
		return found
	}
	return nil
}

func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, ok := x.(string)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

func intField(n node, k string) (int, bool) {
	num, ok := n[k].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || i < 0 || i > 1<<40 {
		return 0, false
	}
	return int(i), true
}

// constEval evaluates a constant SQL expression in DuckDB, cast to typ,
// and returns it as text in a form table/expr parses; ok is false when the
// expression is not a constant the translator accepts.
type constEval func(sqlExpr, typ string) (string, bool)

// translator turns conjuncts of one reference into a table/expr predicate.
type translator struct {
	sch  *table.Schema
	eval constEval
}

// conjunction translates conjuncts into one predicate that every row
// satisfying all of them satisfies (nil: nothing understood).
func (tr *translator) conjunction(cs []node) expr.Expr {
	var out expr.Expr
	for _, c := range cs {
		x := tr.implied(c)
		if x == nil {
			continue
		}
		if out == nil {
			out = x
		} else {
			out = expr.And{L: out, R: x}
		}
	}
	return out
}

// implied returns a predicate implied by e, or nil.
func (tr *translator) implied(e node) expr.Expr {
	switch e["class"] {
	case "CONJUNCTION":
		switch e["type"] {
		case "CONJUNCTION_AND":
			var cs []node
			for _, c := range children(e) {
				if c, ok := c.(node); ok {
					cs = append(cs, c)
				}
			}
			return tr.conjunction(cs)
		case "CONJUNCTION_OR":
			var out expr.Expr
			for _, c := range children(e) {
				cn, ok := c.(node)
				if !ok {
					return nil
				}
				x := tr.implied(cn)
				if x == nil {
					return nil
				}
				if out == nil {
					out = x
				} else {
					out = expr.Or{L: out, R: x}
				}
			}
			return out
		}
	case "COMPARISON":
		op, ok := compareOps[e["type"].(string)]
		if !ok {
			return nil
		}
		l, _ := e["left"].(node)
		r, _ := e["right"].(node)
		if l == nil || r == nil {
			return nil
		}
		if l["class"] != "COLUMN_REF" && l["class"] != "CAST" || isConstant(l) {
			l, r, op = r, l, flipOp(op)
		}
		return tr.compare(l, op, r)
	case "BETWEEN":
		in, _ := e["input"].(node)
		lo, _ := e["lower"].(node)
		hi, _ := e["upper"].(node)
		if in == nil || lo == nil || hi == nil || stringsWithTimestamps(lo, hi) {
			return nil
		}
		a, b := tr.compare(in, expr.OpGe, lo), tr.compare(in, expr.OpLe, hi)
		if a == nil || b == nil {
			return nil
		}
		return expr.And{L: a, R: b}
	case "OPERATOR":
		cs := children(e)
		switch e["type"] {
		case "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL":
			if len(cs) != 1 {
				return nil
			}
			col, _, ok := tr.column(cs[0])
			if !ok {
				return nil
			}
			return expr.IsNull{Col: col, Not: e["type"] == "OPERATOR_IS_NOT_NULL"}
		case "COMPARE_IN", "COMPARE_NOT_IN":
			if len(cs) < 2 {
				return nil
			}
			col, t, ok := tr.column(cs[0])
			if !ok || stringsWithTimestamps(cs[1:]...) {
				return nil
			}
			var vals []expr.Literal
			for _, c := range cs[1:] {
				cn, _ := c.(node)
				lit, ok := tr.literal(cn, t)
				if !ok {
					return nil
				}
				vals = append(vals, lit)
			}
			return expr.In{Col: col, Values: vals, Not: e["type"] == "COMPARE_NOT_IN"}
		}
	}
	return nil
}

var compareOps = map[string]expr.Op{
	"COMPARE_EQUAL": expr.OpEq, "COMPARE_NOTEQUAL": expr.OpNe,
	"COMPARE_LESSTHAN": expr.OpLt, "COMPARE_LESSTHANOREQUALTO": expr.OpLe,
	"COMPARE_GREATERTHAN": expr.OpGt, "COMPARE_GREATERTHANOREQUALTO": expr.OpGe,
}

func flipOp(o expr.Op) expr.Op {
	switch o {
	case expr.OpLt:
		return expr.OpGt
	case expr.OpLe:
		return expr.OpGe
	case expr.OpGt:
		return expr.OpLt
	case expr.OpGe:
		return expr.OpLe
	}
	return o
}

// isConstant reports a CONSTANT, or a CAST of one.
func isConstant(n node) bool {
	switch n["class"] {
	case "CONSTANT":
		return true
	case "CAST":
		c, _ := n["child"].(node)
		return c != nil && isConstant(c)
	}
	return false
}

// compare translates "lhs op rhs" where lhs is a column (or a timestamp
// column cast to DATE) and rhs a constant.
func (tr *translator) compare(lhs node, op expr.Op, rhs node) expr.Expr {
	if rhs == nil || !isConstant(rhs) {
		return nil
	}
	if lhs["class"] == "CAST" {
		return tr.castDate(lhs, op, rhs)
	}
	col, t, ok := tr.column(lhs)
	if !ok {
		return nil
	}
	lit, ok := tr.literal(rhs, t)
	if !ok {
		return nil
	}
	return expr.Compare{Col: col, Op: op, Value: lit}
}

// castDate translates CAST(ts AS DATE) op d for a timestamp column into a
// range on ts (the session time zone is UTC, so the day is a UTC day).
func (tr *translator) castDate(c node, op expr.Op, rhs node) expr.Expr {
	ct, _ := c["cast_type"].(node)
	if try, _ := c["try_cast"].(bool); try || ct == nil || ct["id"] != "DATE" {
		return nil
	}
	col, t, ok := tr.column(c["child"])
	if !ok || t != table.TypeTimestamp && t != table.TypeTimestampNTZ {
		return nil
	}
	// Only a date: DuckDB compares a DATE with a timestamp literal as
	// midnight of that date, which is no day range on the column.
	if _, srcType, ok := constSQL(rhs); !ok || srcType != "VARCHAR" && srcType != "DATE" {
		return nil
	}
	d, ok := tr.literal(rhs, table.TypeDate)
	if !ok {
		return nil
	}
	next, ok := tr.eval("CAST("+quoteString(d.Text)+" AS DATE) + 1", "DATE")
	if !ok {
		return nil
	}
	day := expr.Literal{Kind: expr.String, Text: d.Text}
	nextDay := expr.Literal{Kind: expr.String, Text: next}
	if t == table.TypeTimestamp {
		day.Text += "T00:00:00Z"
		nextDay.Text += "T00:00:00Z"
	}
	ge := func(l expr.Literal) expr.Expr { return expr.Compare{Col: col, Op: expr.OpGe, Value: l} }
	lt := func(l expr.Literal) expr.Expr { return expr.Compare{Col: col, Op: expr.OpLt, Value: l} }
	switch op {
	case expr.OpEq:
		return expr.And{L: ge(day), R: lt(nextDay)}
	case expr.OpGe:
		return ge(day)
	case expr.OpGt:
		return ge(nextDay)
	case expr.OpLe:
		return lt(nextDay)
	case expr.OpLt:
		return lt(day)
	}
	return nil
}

// column resolves a COLUMN_REF (qualified or not; the owner was checked by
// resolveOwner) to a top-level column of the schema.
func (tr *translator) column(v any) (expr.Column, table.DataType, bool) {
	n, ok := v.(node)
	if !ok || n["class"] != "COLUMN_REF" {
		return expr.Column{}, nil, false
	}
	names := strs(n["column_names"])
	if len(names) == 0 || len(names) > 2 {
		return expr.Column{}, nil, false
	}
	f := tr.sch.Field(names[len(names)-1])
	if f == nil {
		return expr.Column{}, nil, false
	}
	return expr.Column{Path: []string{f.Name}}, f.Type, true
}

// literal converts a constant (or a cast of one) compared with a column of
// type t into a table/expr literal with DuckDB's meaning: DuckDB casts a
// string literal to the column's type, and a date or timestamp literal and
// a date or timestamp column to the wider of the two, in UTC.
func (tr *translator) literal(n node, t table.DataType) (expr.Literal, bool) {
	if n == nil {
		return expr.Literal{}, false
	}
	src, srcType, ok := constSQL(n)
	if !ok {
		return expr.Literal{}, false
	}
	switch t {
	case table.TypeString:
		if n["class"] != "CONSTANT" || srcType != "VARCHAR" {
			return expr.Literal{}, false
		}
		s, _ := constValue(n)
		return expr.Literal{Kind: expr.String, Text: s}, true
	case table.TypeLong, table.TypeInteger, table.TypeShort, table.TypeByte:
		switch srcType {
		case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT":
			s, _ := constValue(n)
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				return expr.Literal{}, false
			}
			return expr.Literal{Kind: expr.Number, Text: s}, true
		}
	case table.TypeBoolean:
		if srcType == "BOOLEAN" {
			s, _ := constValue(n)
			return expr.Literal{Kind: expr.Bool, Text: s}, true
		}
	case table.TypeDate:
		switch srcType {
		case "VARCHAR", "DATE":
			if s, ok := tr.eval(src, "DATE"); ok {
				return expr.Literal{Kind: expr.String, Text: s}, true
			}
		case "TIMESTAMP", "TIMESTAMP WITH TIME ZONE":
			// The date is widened to midnight UTC; table/expr compares a
			// timestamp literal with a date column the same way.
			if s, ok := tr.eval(src, "TIMESTAMPTZ"); ok {
				return expr.Literal{Kind: expr.String, Text: s}, true
			}
		}
	case table.TypeTimestamp:
		switch srcType {
		case "VARCHAR", "DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE":
			if s, ok := tr.eval(src, "TIMESTAMPTZ"); ok {
				return expr.Literal{Kind: expr.String, Text: s}, true
			}
		}
	case table.TypeTimestampNTZ:
		switch srcType {
		case "VARCHAR", "DATE", "TIMESTAMP":
			if s, ok := tr.eval(src, "TIMESTAMP"); ok {
				return expr.Literal{Kind: expr.String, Text: s}, true
			}
		}
	}
	return expr.Literal{}, false
}

// stringsWithTimestamps reports whether the operands of a BETWEEN or IN
// mix string literals with timestamp ones. DuckDB casts all the operands to
// one type, so the strings become timestamps there, while literal casts
// each to the column's type: on a date column '2026-11-23T23:00:00-01'
// would be the 23rd here and the 24th in DuckDB, and pruning would lose the
// 24th's rows. Such a filter is left to DuckDB.
func stringsWithTimestamps(operands ...any) bool {
	var str, ts bool
	for _, o := range operands {
		n, _ := o.(node)
		_, typ, ok := constSQL(n)
		if !ok {
			continue
		}
		str = str || typ == "VARCHAR"
		ts = ts || typ == "TIMESTAMP" || typ == "TIMESTAMP WITH TIME ZONE"
	}
	return str && ts
}

// constSQL renders a constant or a cast of a string constant as SQL, with
// its type.
func constSQL(n node) (sql, typ string, ok bool) {
	switch n["class"] {
	case "CONSTANT":
		v, _ := n["value"].(node)
		if v == nil {
			return "", "", false
		}
		if isNull, _ := v["is_null"].(bool); isNull {
			return "", "", false
		}
		vt, _ := v["type"].(node)
		id, _ := vt["id"].(string)
		s, ok := constValue(n)
		if !ok {
			return "", "", false
		}
		if id == "VARCHAR" {
			return quoteString(s), id, true
		}
		return s, id, true
	case "CAST":
		if try, _ := n["try_cast"].(bool); try {
			return "", "", false
		}
		ct, _ := n["cast_type"].(node)
		c, _ := n["child"].(node)
		if ct == nil || c == nil || c["class"] != "CONSTANT" {
			return "", "", false
		}
		inner, it, ok := constSQL(c)
		if !ok || it != "VARCHAR" {
			return "", "", false
		}
		var typ string
		switch ct["id"] {
		case "DATE":
			typ = "DATE"
		case "TIMESTAMP":
			typ = "TIMESTAMP"
		case "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_TZ":
			typ = "TIMESTAMP WITH TIME ZONE"
		case "VARCHAR":
			typ = "VARCHAR"
		default:
			return "", "", false
		}
		if typ == "VARCHAR" {
			return inner, typ, true
		}
		return "CAST(" + inner + " AS " + typ + ")", typ, true
	}
	return "", "", false
}

// constValue is a CONSTANT's value as text.
func constValue(n node) (string, bool) {
	v, _ := n["value"].(node)
	if v == nil {
		return "", false
	}
	switch x := v["value"].(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
