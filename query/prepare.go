package query

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// ErrSQL marks errors DuckDB reported for a statement (syntax, binding,
// execution). Their text is DuckDB's own, which may span several lines
// (a caret under the offending position).
var ErrSQL = errors.New("query: SQL error")

// sqlErr is a DuckDB error: its message is DuckDB's, verbatim unless msg
// replaces it.
type sqlErr struct {
	err error
	msg string
}

func (e sqlErr) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return e.err.Error()
}

func (e sqlErr) Unwrap() []error      { return []error{ErrSQL, e.err} }
func (e sqlErr) Is(target error) bool { return target == ErrSQL }

// sqlError wraps a DuckDB error. DuckDB suggests installing an extension
// for functions it does not have (delta_scan, read_csv_auto from httpfs,
// …): loglake has extensions off and reads Delta tables itself, so that
// advice is replaced by what to do instead.
//
// DuckDB quotes the line of the statement it ran (ran) where the error is,
// with a caret under it; the pruned views keep the lines of the user's
// statement (wrote), but a line naming an attached table reads the views'
// SQL instead: that line is quoted as the user wrote it, without the caret
// (whose column is the rewritten line's).
func sqlError(err error, ran, wrote string) error {
	msg := err.Error()
	if i := strings.Index(msg, "\n\nLINE "); i >= 0 && ran != wrote {
		num, _, _ := strings.Cut(msg[i+len("\n\nLINE "):], ":")
		n, perr := strconv.Atoi(num)
		ranLines, wroteLines := strings.Split(ran, "\n"), strings.Split(wrote, "\n")
		switch {
		case perr != nil || n < 1 || n > len(wroteLines):
			return sqlErr{err: err, msg: strings.TrimSpace(msg[:i])}
		case n > len(ranLines) || ranLines[n-1] != wroteLines[n-1]:
			return sqlErr{err: err, msg: fmt.Sprintf("%s\n\nLINE %d: %s", strings.TrimSpace(msg[:i]), n, wroteLines[n-1])}
		}
	}
	if i := strings.Index(msg, ", but it exists in the "); i >= 0 {
		ext := msg[i+len(", but it exists in the "):]
		ext, _, _ = strings.Cut(ext, " extension")
		hint := "DuckDB extensions are not available in loglake query"
		if ext == "delta" {
			hint = "loglake reads Delta tables itself: attach one with --table NAME=URL and query NAME"
		}
		return sqlErr{err: err, msg: fmt.Sprintf("%s (%s extension); %s", msg[:i], ext, hint)}
	}
	return sqlErr{err: err}
}

// prepare makes the views a statement reads and returns the statement to
// run (references to attached tables renamed to their pruned views) and
// the named parameters it adds; literal, it adds none (a statement given
// positional arguments cannot also take named ones).
func (e *Engine) prepare(ctx context.Context, q string, literal bool) (string, []any, error) {
	if len(e.tables) == 0 {
		return q, nil, nil
	}
	fallback := func() (string, []any, error) {
		for _, a := range e.tables {
			if !a.full {
				if err := e.buildFull(ctx, a); err != nil {
					return "", nil, err
				}
			}
		}
		return q, nil, nil
	}
	if e.opts.NoPrune || e.meaningChanged {
		return fallback()
	}
	var js string
	if err := e.db.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)", q).Scan(&js); err != nil {
		return fallback()
	}
	stmts, err := parseTree(js)
	if err != nil || len(stmts) != 1 {
		// Not a single SELECT (DuckDB serializes only those): no pruning.
		return fallback()
	}
	ps := analyze(stmts, func(n string) bool { return e.tables[n] != nil }, func(n string) *table.Schema {
		if a := e.tables[n]; a != nil {
			return a.sch
		}
		return nil
	})
	if ps.keepNames {
		return fallback()
	}
	for n := range ps.unreached {
		if a := e.tables[n]; !a.full {
			if err := e.buildFull(ctx, a); err != nil {
				return "", nil, err
			}
		}
	}
	type edit struct {
		from, to int
		text     string
	}
	var edits []edit
	var args []any
	bound := map[*prunedBody]bool{}
	for _, r := range ps.refs {
		a := e.tables[r.name]
		end, atText, atAlias, ok := scanRef(q, r.loc, r.name, r.at != nil)
		if !ok {
			if r.at != nil {
				return "", nil, fmt.Errorf("%w: cannot resolve the AT clause of %s", ErrSQL, a.name)
			}
			if !a.full {
				if err := e.buildFull(ctx, a); err != nil {
					return "", nil, err
				}
			}
			continue
		}
		snap := a.snap
		if r.at != nil {
			if snap, err = e.atSnapshot(ctx, a, atText); err != nil {
				return "", nil, err
			}
		}
		sch, err := snap.Schema()
		if err != nil {
			return "", nil, err
		}
		tr := e.translator(ctx, sch)
		files, desc, err := e.refFiles(a, snap, r, tr)
		if err != nil {
			return "", nil, err
		}
		el, err := e.elide(a, snap, r, stmts, files, tr)
		if err != nil {
			return "", nil, err
		}
		pv, err := e.prunedView(ctx, a, snap, files, el, literal)
		if err != nil {
			return "", nil, err
		}
		text := pv.text
		if !bound[pv] { // a body read twice binds its lists once
			bound[pv] = true
			args = append(args, pv.args...)
		}
		e.log.Debug("query: pruned", "table", a.name, "version", snap.Version(), "files", len(files),
			"of", len(snap.Files()), "predicate", desc)
		if el != nil {
			e.log.Debug("query: elided", "table", a.name, "columns", el.cols, "elided", el.elided())
		}
		if atAlias != "" {
			text += " " + atAlias
		} else if r.alias == "" {
			text += " AS " + quoteIdent(a.name)
		}
		edits = append(edits, edit{r.loc, end, text})
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].from > edits[j].from })
	for _, ed := range edits {
		q = q[:ed.from] + ed.text + q[ed.to:]
	}
	return q, args, nil
}

// refFiles returns the files of snap one reference can read: those its
// filters (and the table's --where) do not rule out.
func (e *Engine) refFiles(a *attached, snap *table.Snapshot, r *tableRef, tr *translator) ([]*table.Add, string, error) {
	sch := tr.sch
	var parts []expr.Expr
	if a.whereExpr != nil {
		parts = append(parts, a.whereExpr)
	}
	for _, c := range r.conjs {
		x := tr.implied(c)
		if x == nil {
			continue
		}
		// A conjunct table/expr cannot bind (a type it does not compare)
		// prunes nothing.
		if _, err := expr.Bind(x, sch.Arrow()); err != nil {
			continue
		}
		parts = append(parts, x)
	}
	if len(parts) == 0 {
		return snap.Files(), "", nil
	}
	all := parts[0]
	for _, p := range parts[1:] {
		all = expr.And{L: all, R: p}
	}
	pred, err := expr.Bind(all, sch.Arrow())
	if err != nil {
		return nil, "", err
	}
	return snap.PruneFiles(pred), all.String(), nil
}

// prunedBody is a table expression a statement reads in place of a
// reference, with the named parameters (file lists) it needs.
type prunedBody struct {
	text string
	args []any
}

// prunedView returns the table expression a statement reads in place of
// a reference to a: the view named after the table when that holds all of
// snap's files and elides no column, else a parenthesized SELECT over only
// files, not reading the columns el elides, with its file lists as named
// parameters unless literal. The SELECT is embedded rather than made a
// view: DuckDB would parse and bind a view's body once to create it and
// again in every statement that reads it, and over thousands of files that
// costs as much as the bind itself. Bodies are kept per file set (with
// their cache pins) for later statements.
func (e *Engine) prunedView(ctx context.Context, a *attached, snap *table.Snapshot, files []*table.Add, el *elision, literal bool) (*prunedBody, error) {
	if a.full && snap == a.snap && len(files) == len(snap.Files()) && a.whereExpr == nil && el == nil {
		return &prunedBody{text: quoteIdent(a.name)}, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s\x00%t\x00", strings.ToLower(a.name), a.t.Bucket().URL(), a.filter, snap.Version(), el.key(), literal)
	for _, f := range files {
		h.Write([]byte(f.Path))
		h.Write([]byte{0})
	}
	key := hex.EncodeToString(h.Sum(nil))
	if v, ok := e.pruned[key]; ok {
		return v, nil
	}
	list := fileList(literalList)
	params := &fileParams{prefix: "loglake_files_" + key[:16]}
	if !literal {
		list = params.list
	}
	body, pins, err := e.viewBody(ctx, a, snap, files, list, el)
	if err != nil {
		return nil, err
	}
	e.keepPins("\x00pruned:"+key, pins)
	v := &prunedBody{text: "(" + body + ")", args: params.args}
	e.pruned[key] = v
	return v, nil
}

// translator returns a translator to sch (a reference's schema) whose
// constants DuckDB evaluates once each, however many of the reference's
// readers (pruning, elision) translate them.
func (e *Engine) translator(ctx context.Context, sch *table.Schema) *translator {
	type result struct {
		text string
		ok   bool
	}
	memo := map[[2]string]result{}
	return &translator{sch: sch, eval: func(src, typ string) (string, bool) {
		k := [2]string{src, typ}
		r, seen := memo[k]
		if !seen {
			r.text, r.ok = e.evalConst(ctx, src, typ)
			memo[k] = r
		}
		return r.text, r.ok
	}}
}

// evalConst evaluates a constant expression cast to typ (DATE, TIMESTAMP
// or TIMESTAMPTZ) in DuckDB, and renders it as table/expr reads it.
func (e *Engine) evalConst(ctx context.Context, src, typ string) (string, bool) {
	var t time.Time
	if err := e.db.QueryRowContext(ctx, "SELECT CAST(("+src+") AS "+typ+")").Scan(&t); err != nil {
		return "", false
	}
	switch typ {
	case "DATE":
		return t.UTC().Format(time.DateOnly), true
	case "TIMESTAMP":
		return t.UTC().Format("2006-01-02 15:04:05.999999"), true
	}
	return t.UTC().Format(time.RFC3339Nano), true
}

// atSnapshot resolves an AT (VERSION => n) or AT (TIMESTAMP => t) clause,
// given the text between its parentheses.
func (e *Engine) atSnapshot(ctx context.Context, a *attached, inner string) (*table.Snapshot, error) {
	unit, val, ok := strings.Cut(inner, "=>")
	if !ok {
		return nil, fmt.Errorf("%w: AT (%s): want AT (VERSION => n) or AT (TIMESTAMP => t)", ErrSQL, inner)
	}
	switch strings.ToUpper(strings.TrimSpace(unit)) {
	case "VERSION":
		var v int64
		var whole bool
		// The cast to BIGINT rounds (0.6 and '0.6' would read version 1):
		// the value, as a number, must equal its cast.
		q := "SELECT CAST(v AS BIGINT), typeof(v) <> 'BOOLEAN' AND CAST(v AS DOUBLE) = CAST(v AS BIGINT) FROM (SELECT (" + val + ") AS v)"
		if err := e.db.QueryRowContext(ctx, q).Scan(&v, &whole); err != nil {
			return nil, fmt.Errorf("%w: AT (%s): %v", ErrSQL, inner, err)
		}
		if !whole {
			return nil, fmt.Errorf("%w: AT (%s): a version is a whole number", ErrSQL, inner)
		}
		snap, err := a.t.SnapshotAt(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("query: %s AT (VERSION => %d): %w", a.name, v, err)
		}
		return snap, nil
	case "TIMESTAMP":
		var ts time.Time
		if err := e.db.QueryRowContext(ctx, "SELECT CAST(("+val+") AS TIMESTAMPTZ)").Scan(&ts); err != nil {
			return nil, fmt.Errorf("%w: AT (%s): %v", ErrSQL, inner, err)
		}
		snap, err := SnapshotAsOf(ctx, a.t, ts)
		if err != nil {
			return nil, fmt.Errorf("query: %s AT (TIMESTAMP => %s): %w", a.name, ts.UTC().Format(time.RFC3339Nano), err)
		}
		return snap, nil
	}
	return nil, fmt.Errorf("%w: AT (%s): want VERSION or TIMESTAMP", ErrSQL, inner)
}

// scanRef checks that q names table name at byte offset loc (plain or
// quoted identifier) and returns where the reference ends; with at, the
// reference includes the AT (...) clause that follows, whose inner text is
// returned, and the alias written between the name and AT (`t x AT (…)`,
// DuckDB's order), if any, which the reference's replacement must keep.
func scanRef(q string, loc int, name string, at bool) (end int, inner, alias string, ok bool) {
	if loc < 0 || loc >= len(q) {
		return 0, "", "", false
	}
	ident, i, ok := scanIdent(q, loc)
	if !ok || !strings.EqualFold(ident, name) {
		return 0, "", "", false
	}
	if !at {
		return i, "", "", true
	}
	j := skipSpace(q, i)
	if !isWord(q, j, "AT") {
		// An alias first: [AS] name.
		a := j
		if isWord(q, j, "AS") {
			j = skipSpace(q, j+2)
		}
		_, k, ok := scanIdent(q, j)
		if !ok || k == j {
			return 0, "", "", false
		}
		alias = q[a:k]
		if j = skipSpace(q, k); !isWord(q, j, "AT") {
			return 0, "", "", false
		}
	}
	j = skipSpace(q, j+2)
	if j >= len(q) || q[j] != '(' {
		return 0, "", "", false
	}
	open := j
	depth := 0
	for ; j < len(q); j++ {
		switch q[j] {
		case '\'', '"':
			c := q[j]
			for j++; j < len(q) && q[j] != c; j++ {
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j + 1, q[open+1 : j], alias, true
			}
		}
	}
	return 0, "", "", false
}

// scanIdent reads the plain or quoted identifier at q[i:] and returns it
// (unquoted) and where it ends.
func scanIdent(q string, i int) (ident string, end int, ok bool) {
	if i < len(q) && q[i] == '"' {
		var b strings.Builder
		for i++; ; i++ {
			if i >= len(q) {
				return "", 0, false
			}
			if q[i] == '"' {
				if i+1 < len(q) && q[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				return b.String(), i + 1, true
			}
			b.WriteByte(q[i])
		}
	}
	start := i
	for i < len(q) && isIdentByte(q[i]) {
		i++
	}
	return q[start:i], i, true
}

// isWord reports whether keyword w (upper case) starts at q[i:] as a word.
func isWord(q string, i int, w string) bool {
	return i+len(w) <= len(q) && strings.EqualFold(q[i:i+len(w)], w) && (i+len(w) == len(q) || !isIdentByte(q[i+len(w)]))
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func skipSpace(q string, i int) int {
	for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r') {
		i++
	}
	return i
}
