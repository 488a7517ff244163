package expr_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/loglake/loglake/table/expr"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical String form
		cols []string
	}{
		{"egress_approved = true", "egress_approved = TRUE", []string{"egress_approved"}},
		{"egress_approved", "egress_approved", []string{"egress_approved"}},
		{"a = 1 AND b = 'x' OR c", "a = 1 AND b = 'x' OR c", []string{"a", "b", "c"}},
		{"a = 1 and (b = 'x' or c)", "a = 1 AND (b = 'x' OR c)", []string{"a", "b", "c"}},
		{"a = 1 AND (b = 2 AND c = 3)", "a = 1 AND (b = 2 AND c = 3)", []string{"a", "b", "c"}},
		{"(a = 1 OR b = 2) OR c = 3", "a = 1 OR b = 2 OR c = 3", []string{"a", "b", "c"}},
		{"not a and b", "NOT a AND b", []string{"a", "b"}},
		{"NOT (a AND b)", "NOT (a AND b)", []string{"a", "b"}},
		{"NOT NOT a", "NOT NOT a", []string{"a"}},
		{"x <> 3", "x != 3", []string{"x"}},
		{"x>=-2.5e3", "x >= -2.5e3", []string{"x"}},
		{"5 < x", "x > 5", []string{"x"}},
		{"'2026-11-24' <= ts", "ts >= '2026-11-24'", []string{"ts"}},
		{"NULL = x", "x = NULL", []string{"x"}},
		{"s = 'it''s'", "s = 'it''s'", []string{"s"}},
		{`"my col" = 1`, `"my col" = 1`, []string{"my col"}},
		{`"select" = 1`, "select = 1", []string{"select"}},
		{`"and" = 1`, `"and" = 1`, []string{"and"}},
		{`"a""b" = 1`, `"a""b" = 1`, []string{`a"b`}},
		{"attrs.http.status = 500 AND attrs.user = 'x'", "attrs.http.status = 500 AND attrs.user = 'x'", []string{"attrs"}},
		{"level IN ('error', 'warn')", "level IN ('error', 'warn')", []string{"level"}},
		{"level not in (1, NULL, 2.5)", "level NOT IN (1, NULL, 2.5)", []string{"level"}},
		{"x is null or y IS NOT NULL", "x IS NULL OR y IS NOT NULL", []string{"x", "y"}},
		{"msg LIKE 'time%' AND msg NOT LIKE '%out'", "msg LIKE 'time%' AND msg NOT LIKE '%out'", []string{"msg"}},
		{"flag = FALSE", "flag = FALSE", []string{"flag"}},
		{"FALSE", "FALSE", nil},
		{"true", "TRUE", nil},
		{"NOT false AND (TRUE OR a)", "NOT FALSE AND (TRUE OR a)", []string{"a"}},
		{"  a\t=\n1 ", "a = 1", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := expr.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := expr.Columns(e); !reflect.DeepEqual(got, tt.cols) {
				t.Errorf("Columns() = %q, want %q", got, tt.cols)
			}
			e2, err := expr.Parse(e.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", e.String(), err)
			}
			if !reflect.DeepEqual(e, e2) {
				t.Errorf("round trip changed the tree: %#v vs %#v", e, e2)
			}
		})
	}
}

func TestParseTree(t *testing.T) {
	e, err := expr.Parse("a OR b AND NOT c = 1")
	if err != nil {
		t.Fatal(err)
	}
	want := expr.Or{
		L: expr.Column{Path: []string{"a"}},
		R: expr.And{
			L: expr.Column{Path: []string{"b"}},
			R: expr.Not{X: expr.Compare{Col: expr.Column{Path: []string{"c"}}, Op: expr.OpEq, Value: expr.Literal{Kind: expr.Number, Text: "1"}}},
		},
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got %#v\nwant %#v", e, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		pos  int
		want string
	}{
		{"", 1, "expr: syntax error at position 1: expected column name, found end of input"},
		{"a =", 4, "expr: syntax error at position 4: expected literal (string, number, TRUE, FALSE or NULL), found end of input"},
		{"a = b", 5, `expr: syntax error at position 5: expected literal (string, number, TRUE, FALSE or NULL), found "b"`},
		{"a = 1 b", 7, `expr: syntax error at position 7: expected AND, OR or end of input, found "b"`},
		{"(a = 1", 7, "expr: syntax error at position 7: expected ')', found end of input"},
		{"a = 'open", 5, "expr: syntax error at position 5: expected closing quote (') of string, found end of input"},
		{`"open = 1`, 1, `expr: syntax error at position 1: expected closing quote (") of name, found end of input`},
		{"a IS 1", 6, `expr: syntax error at position 6: expected NULL or NOT NULL after IS, found "1"`},
		{"a NOT 1", 7, `expr: syntax error at position 7: expected IN or LIKE after NOT, found "1"`},
		{"a IN 1", 6, `expr: syntax error at position 6: expected '(' after IN, found "1"`},
		{"a IN (1 2)", 9, `expr: syntax error at position 9: expected ',' or ')' in IN list, found "2"`},
		{"a IN ()", 7, `expr: syntax error at position 7: expected literal (string, number, TRUE, FALSE or NULL), found ")"`},
		{"a LIKE b", 8, `expr: syntax error at position 8: expected string pattern after LIKE, found "b"`},
		{"a ! 1", 3, `expr: syntax error at position 3: expected '!=', found "! "`},
		{"a = 1x", 6, `expr: syntax error at position 6: expected end of number, found "1x"`},
		{"a = 1 AND", 10, "expr: syntax error at position 10: expected column name, found end of input"},
		{"a. = 1", 4, `expr: syntax error at position 4: expected field name after '.', found "="`},
		{"1 = 2", 5, `expr: syntax error at position 5: expected column name, found "2"`},
		{"1", 2, "expr: syntax error at position 2: expected comparison operator, found end of input"},
		{"TRUE IS NULL", 6, `expr: syntax error at position 6: expected AND, OR or end of input, found "IS"`},
		{"a = 1 # c", 7, `expr: syntax error at position 7: expected a column, literal, operator or parenthesis, found "#"`},
		{"a == 1", 4, `expr: syntax error at position 4: expected literal (string, number, TRUE, FALSE or NULL), found "="`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := expr.Parse(tt.in)
			if !errors.Is(err, expr.ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
			var se *expr.SyntaxError
			if !errors.As(err, &se) || se.Pos != tt.pos {
				t.Errorf("position: %+v, want %d", se, tt.pos)
			}
			if err.Error() != tt.want {
				t.Errorf("message:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	deep := ""
	for range 1000 {
		deep += "("
	}
	_, err := expr.Parse(deep + "a")
	if !errors.Is(err, expr.ErrSyntax) {
		t.Fatalf("deep nesting: err = %v, want ErrSyntax", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"egress_approved = true", "a = 1 AND (b = 'x' OR NOT c)", "x NOT IN (1, NULL, 'a''b')",
		`"we""ird".f IS NOT NULL`, "s NOT LIKE '%a\\_b%'", "5 <= x", "x <> -1.5e-3", "((a))",
		"TRUE", "NOT FALSE OR a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := expr.Parse(s)
		if err != nil {
			if !errors.Is(err, expr.ErrSyntax) {
				t.Fatalf("Parse(%q) error does not wrap ErrSyntax: %v", s, err)
			}
			return
		}
		s1 := e.String()
		e2, err := expr.Parse(s1)
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, s1, err)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("round trip of %q via %q changed the tree", s, s1)
		}
	})
}
