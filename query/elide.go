package query

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// Column elision: a column that a statement uses only in conjuncts that
// filter one table reference, where a file's statistics prove every one of
// those conjuncts TRUE for every row of the file, is not read from that
// file. The reference's SELECT projects it there as a typed constant that
// satisfies the conjuncts too, so DuckDB folds the filter away and opens
// only the other columns; files the proof does not cover read it as before.
// The rows that reach the rest of the statement are the same (every row of
// such a file passes the filter either way), and no other part of the
// statement can see the column's value.
//
// Soundness rules, all conservative (when unsure the column is read):
//   - only conjuncts of refFiles' reference list count (a WHERE or ON that
//     filters the reference directly, never a null-extended side), and only
//     the exact shapes "column op constant" (=, <, <=, >, >=, either side)
//     and "column BETWEEN constant AND constant", on a data column of type
//     date, timestamp, timestamp_ntz or an integer type: for these the set
//     of values satisfying a conjunction is an interval of integers (days,
//     microseconds, the value), computed with DuckDB's own literal casts;
//   - every other string in the statement's syntax tree equal to the
//     column's name, outside literals, forbids it (a second reference with
//     its own filter, a SELECT or ORDER BY of it, an alias named like it,
//     USING (…), a lambda parameter, …), and so does any construct that
//     reads columns without naming them: *, COLUMNS(…), #n, NATURAL joins,
//     USING, PIVOT/UNPIVOT, the reference's row as a whole value;
//   - a table --where that names the column forbids it (it filters the
//     view's output, which would hold the constant);
//   - a file is covered when its stats have a null count of 0 and a min and
//     max for the column with min >= the interval's start and max <= its
//     end, where a timestamp max is widened by 999 µs (Delta writers
//     truncate timestamp stats to milliseconds, so the true max may lie up
//     to 999 µs above it; the min is a lower bound, as pruning trusts it).
//     Strings (prefix-truncated stats) and floats (NaN) are never elided.
//   - the constant is one covered file's min.
//
// Why that is exact. In DuckDB, "column op k" compares the column's value
// with k cast to the column's type (or both widened, which keeps order), and
// ordinal maps that type's values to integers in the same order at DuckDB's
// resolution (µs, days, the integer), so the rows where all the column's
// conjuncts are TRUE are exactly those whose value is non-null with ordinal
// in [lo, hi] (v < k is v <= k-1 on integers). A covered file has no null
// and lo <= min <= v <= max' <= hi for every value v (max' the widened
// max): every one of its rows passes the conjuncts. The constant c is some
// covered file's min, so lo <= c <= hi and the conjuncts are TRUE for c as
// well: each row of a covered file passes the filter whether it carries its
// value or c, and nothing else in the statement reads the column.

// elision is, for the files of one reference, which columns each need not
// read and the constant that stands for each.
type elision struct {
	cols   []string // elided columns (schema spelling), sorted by lower-case name
	consts []string // per column: a typed SQL constant satisfying its conjuncts
	masks  []uint64 // per file of the reference, in order: bit i set when cols[i] is elided there
}

// maxElided bounds the columns considered for one reference (bits of a mask).
const maxElided = 64

// colRange is what a reference's conjuncts say about one column.
type colRange struct {
	field  *table.Field
	lo, hi int64 // inclusive interval of ordinal values satisfying every conjunct
	uses   int   // column references in those conjuncts
}

// elide returns the columns each of files (those the reference r reads
// from snap, a snapshot of a) need not read, or nil when none. stmts is
// the statement's syntax tree; tr translates r's conjuncts (the one
// refFiles used, so each constant is evaluated once).
func (e *Engine) elide(a *attached, snap *table.Snapshot, r *tableRef, stmts []node, files []*table.Add, tr *translator) (*elision, error) {
	if len(r.conjs) == 0 || len(files) == 0 {
		return nil, nil
	}
	ranges := exactRanges(tr, r.conjs, snap.Metadata().PartitionColumns, a.whereExpr)
	if len(ranges) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(ranges))
	for n := range ranges {
		names = append(names, n)
	}
	counts, ok := mentions(stmts, names, r)
	if !ok {
		return nil, nil
	}
	var cands []*colRange
	for _, n := range names {
		if cr := ranges[n]; counts[n] == cr.uses {
			cands = append(cands, cr)
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	slices.SortFunc(cands, func(x, y *colRange) int {
		return strings.Compare(strings.ToLower(x.field.Name), strings.ToLower(y.field.Name))
	})
	return proveFiles(snap, files, cands)
}

// exactRanges reads the conjuncts of a reference that bound a data column
// exactly (see exactRange) into one interval per column (by lower-cased
// name). Partition columns (already constants) and columns the table's
// --where names are left out.
func exactRanges(tr *translator, conjs []node, partCols []string, where expr.Expr) map[string]*colRange {
	skip := map[string]bool{}
	for _, p := range partCols {
		skip[strings.ToLower(p)] = true
	}
	if where != nil {
		for _, c := range expr.Columns(where) {
			skip[strings.ToLower(c)] = true
		}
	}
	out := map[string]*colRange{}
	for _, c := range conjs {
		f, lo, hi, ok := exactRange(tr, c)
		if !ok {
			continue
		}
		k := strings.ToLower(f.Name)
		if skip[k] {
			continue
		}
		cr := out[k]
		if cr == nil {
			if len(out) == maxElided {
				continue
			}
			cr = &colRange{field: f, lo: math.MinInt64, hi: math.MaxInt64}
			out[k] = cr
		}
		cr.lo, cr.hi, cr.uses = max(cr.lo, lo), min(cr.hi, hi), cr.uses+1
	}
	return out
}

// exactRange reads a conjunct "column op constant" (op =, <, <=, >, >=,
// either side) or "column BETWEEN constant AND constant" on an orderable
// column, and returns the column and the inclusive interval of ordinal
// values (see ordinal) for which it is TRUE. Anything else, or a bound that
// leaves the interval empty, gives ok false.
func exactRange(tr *translator, c node) (f *table.Field, lo, hi int64, ok bool) {
	lo, hi = math.MinInt64, math.MaxInt64
	switch c["class"] {
	case "COMPARISON":
		typ, _ := c["type"].(string)
		op, known := compareOps[typ]
		l, _ := c["left"].(node)
		r, _ := c["right"].(node)
		if !known || op == expr.OpNe || l == nil || r == nil {
			return nil, 0, 0, false
		}
		if r["class"] == "COLUMN_REF" && isConstant(l) {
			l, r, op = r, l, flipOp(op)
		}
		f, v, ok := columnBound(tr, l, r)
		if !ok {
			return nil, 0, 0, false
		}
		switch op {
		case expr.OpEq:
			lo, hi = v, v
		case expr.OpLt:
			if v == math.MinInt64 {
				return nil, 0, 0, false
			}
			hi = v - 1
		case expr.OpLe:
			hi = v
		case expr.OpGt:
			if v == math.MaxInt64 {
				return nil, 0, 0, false
			}
			lo = v + 1
		case expr.OpGe:
			lo = v
		}
		return f, lo, hi, true
	case "BETWEEN":
		in, _ := c["input"].(node)
		fl, l, okl := columnBound(tr, in, nodeOf(c["lower"]))
		fu, u, oku := columnBound(tr, in, nodeOf(c["upper"]))
		if !okl || !oku || fl != fu || l > u {
			return nil, 0, 0, false
		}
		return fl, l, u, true
	}
	return nil, 0, 0, false
}

func nodeOf(v any) node {
	n, _ := v.(node)
	return n
}

// columnBound resolves col (a COLUMN_REF of an orderable data column) and
// the constant k compared with it, as DuckDB casts it, to an ordinal.
func columnBound(tr *translator, col, k node) (*table.Field, int64, bool) {
	if col == nil || k == nil || col["class"] != "COLUMN_REF" || !isConstant(k) {
		return nil, 0, false
	}
	c, t, ok := tr.column(col)
	if !ok || !orderable(t) {
		return nil, 0, false
	}
	lit, ok := tr.literal(k, t)
	if !ok || lit.Kind == expr.Null {
		return nil, 0, false
	}
	if t == table.TypeDate && !isDate(lit.Text) {
		// A timestamp against a date column compares the day's
		// midnight: not a bound on the day number as written.
		return nil, 0, false
	}
	v, ok := ordinal(lit.Text, t)
	if !ok {
		return nil, 0, false
	}
	return tr.sch.Field(c.Path[0]), v, true
}

// orderable reports the types whose values ordinal maps to integers in
// order, and whose statistics bound every value.
func orderable(t table.DataType) bool {
	switch t {
	case table.TypeLong, table.TypeInteger, table.TypeShort, table.TypeByte,
		table.TypeDate, table.TypeTimestamp, table.TypeTimestampNTZ:
		return true
	}
	return false
}

// ordinal maps a value of an orderable type, serialized as in partition
// values and statistics, to an integer with the same order: the number
// itself, days or microseconds since the epoch (UTC). Years outside
// 1–9999, which a typed constant could not spell back, give false.
func ordinal(s string, t table.DataType) (int64, bool) {
	v, err := table.ParsePartitionValue(&s, t)
	if err != nil {
		return 0, false
	}
	switch x := v.(type) {
	case int64:
		return x, true
	case time.Time:
		if x.Year() < 1 || x.Year() > 9999 {
			return 0, false
		}
		if t == table.TypeDate {
			return x.Unix() / 86400, x.Unix()%86400 == 0
		}
		return x.UnixMicro(), true
	}
	return 0, false
}

// mentions counts, in a statement's syntax tree, the strings outside
// literals equal (case-insensitively) to each of names. ok is false when the
// tree reads columns without naming them: a star or COLUMNS(…), a
// positional reference, a NATURAL join or USING, PIVOT or UNPIVOT, or r's
// row as a whole value (a column reference naming its alias or table).
func mentions(v any, names []string, r *tableRef) (map[string]int, bool) {
	counts := map[string]int{}
	ok := true
	var walk func(v any)
	walk = func(v any) {
		if !ok {
			return
		}
		switch v := v.(type) {
		case node:
			switch {
			case v["class"] == "STAR", v["class"] == "POSITIONAL_REFERENCE", v["type"] == "PIVOT",
				v["type"] == "JOIN" && (v["ref_type"] == "NATURAL" || v["using_columns"] != nil && !isEmptyList(v["using_columns"])):
				ok = false
				return
			case v["class"] == "COLUMN_REF":
				if cn := strs(v["column_names"]); len(cn) > 0 {
					last := cn[len(cn)-1]
					if strings.EqualFold(last, r.name) || r.alias != "" && strings.EqualFold(last, r.alias) {
						ok = false
						return
					}
				}
			}
			for k, c := range v {
				if k == "value" && v["class"] == "CONSTANT" {
					continue // a literal: '…' is not a column
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case []node:
			for _, c := range v {
				walk(c)
			}
		case string:
			for _, n := range names {
				if strings.EqualFold(v, n) {
					counts[n]++
				}
			}
		}
	}
	walk(v)
	return counts, ok
}

func isEmptyList(v any) bool {
	a, ok := v.([]any)
	return ok && len(a) == 0
}

// proveFiles finds, for each file, which of cands its statistics prove
// every conjunct true for, and picks each column's constant: the min of
// the first file that proves it. nil when no file proves any.
func proveFiles(snap *table.Snapshot, files []*table.Add, cands []*colRange) (*elision, error) {
	part := &table.StatsPart{}
	for _, c := range cands {
		part.Columns = append(part.Columns, c.field.Name)
	}
	stats := snap.StatsOf(files, part)
	el := &elision{masks: make([]uint64, len(files))}
	firstMin := make([]string, len(cands))
	found := false
	for i, st := range stats {
		for j, c := range cands {
			raw, ok := provenMin(st, c)
			if !ok {
				continue
			}
			el.masks[i] |= 1 << j
			if firstMin[j] == "" {
				firstMin[j] = raw
			}
			found = true
		}
	}
	if !found {
		return nil, nil
	}
	// Keep only the columns some file elides, renumbering the bits.
	var keep []int
	for j := range cands {
		if firstMin[j] == "" {
			continue
		}
		lit, err := partitionLiteral(&firstMin[j], cands[j].field.Type)
		if err != nil {
			return nil, err
		}
		keep = append(keep, j)
		el.cols = append(el.cols, cands[j].field.Name)
		el.consts = append(el.consts, lit)
	}
	for i, m := range el.masks {
		var nm uint64
		for b, j := range keep {
			if m&(1<<j) != 0 {
				nm |= 1 << b
			}
		}
		el.masks[i] = nm
	}
	return el, nil
}

// provenMin reports whether a file's statistics prove every value of c's
// column inside c's interval, and returns its raw min.
func provenMin(st *table.Stats, c *colRange) (string, bool) {
	name := c.field.Name
	if n, ok := st.Nulls(name); !ok || n != 0 {
		return "", false
	}
	rawMin, okMin := st.Min(name)
	rawMax, okMax := st.Max(name)
	if !okMin || !okMax {
		return "", false
	}
	smin, ok1 := statText(rawMin)
	smax, ok2 := statText(rawMax)
	if !ok1 || !ok2 {
		return "", false
	}
	lo, ok1 := ordinal(smin, c.field.Type)
	hi, ok2 := ordinal(smax, c.field.Type)
	if !ok1 || !ok2 {
		return "", false
	}
	if c.field.Type == table.TypeTimestamp || c.field.Type == table.TypeTimestampNTZ {
		if hi > math.MaxInt64-999 {
			return "", false
		}
		hi += 999 // the true max may be up to 999 µs above a truncated max
	}
	return smin, c.lo <= lo && hi <= c.hi
}

// statText is a raw statistic as the text ParsePartitionValue reads.
func statText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

// constsOf returns the constants of the columns mask elides, by lower-cased
// name.
func (el *elision) constsOf(mask uint64) map[string]string {
	out := map[string]string{}
	for i, c := range el.cols {
		if mask&(1<<i) != 0 {
			out[strings.ToLower(c)] = el.consts[i]
		}
	}
	return out
}

// key identifies the elision in a cache key of a reference's SELECT.
func (el *elision) key() string {
	if el == nil {
		return ""
	}
	var b strings.Builder
	for i, c := range el.cols {
		b.WriteString(c + "=" + el.consts[i] + "\x00")
	}
	for _, m := range el.masks {
		b.WriteString(strconv.FormatUint(m, 36) + ",")
	}
	return b.String()
}

// elided counts the files that do not read each column.
func (el *elision) elided() map[string]int {
	out := map[string]int{}
	for i, c := range el.cols {
		for _, m := range el.masks {
			if m&(1<<i) != 0 {
				out[c]++
			}
		}
	}
	return out
}

// groupElided groups files (with their local paths) as groupFiles does,
// separately for each set of columns el elides (nil: none), and gives those
// groups the columns' constants.
func (e *Engine) groupElided(ctx context.Context, snap *table.Snapshot, sch *table.Schema, files []*table.Add, paths []string, el *elision) ([]*fileGroup, error) {
	if el == nil {
		return e.groupFiles(ctx, snap, sch, files, paths)
	}
	var order []uint64
	byMask := map[uint64][]int{}
	for i, m := range el.masks {
		if _, ok := byMask[m]; !ok {
			order = append(order, m)
		}
		byMask[m] = append(byMask[m], i)
	}
	var out []*fileGroup
	for _, m := range order {
		idx := byMask[m]
		fs := make([]*table.Add, len(idx))
		ps := make([]string, len(idx))
		for k, i := range idx {
			fs[k], ps[k] = files[i], paths[i]
		}
		gs, err := e.groupFiles(ctx, snap, sch, fs, ps)
		if err != nil {
			return nil, err
		}
		if m != 0 {
			consts := el.constsOf(m)
			for _, g := range gs {
				g.consts = consts
			}
		}
		out = append(out, gs...)
	}
	return out, nil
}
