package query_test

import (
	"slices"
	"testing"

	"github.com/loglake/loglake/query"
)

func TestSplitStatements(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{" ; ;SELECT 1;;", []string{"SELECT 1"}},
		{"SELECT ';'; SELECT 'it''s;'", []string{"SELECT ';'", "SELECT 'it''s;'"}},
		{`SELECT 1 AS "a;b"; SELECT 2`, []string{`SELECT 1 AS "a;b"`, "SELECT 2"}},
		{"SELECT 1 -- ; not here\n; SELECT 2", []string{"SELECT 1 -- ; not here", "SELECT 2"}},
		{"SELECT /* ; /* nested; */ */ 1; SELECT 2", []string{"SELECT /* ; /* nested; */ */ 1", "SELECT 2"}},
		{"SELECT $$a;b$$; SELECT $x$;$x$", []string{"SELECT $$a;b$$", "SELECT $x$;$x$"}},
		{`SELECT E'\';'; SELECT 2`, []string{`SELECT E'\';'`, "SELECT 2"}},
		{"-- only a comment\n; SELECT 1", []string{"SELECT 1"}},
		{"SELECT 'unterminated;", []string{"SELECT 'unterminated;"}},
		{"", nil},
	} {
		if got := query.SplitStatements(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SplitStatements(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
