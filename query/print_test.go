package query_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/loglake/loglake/query"
)

const printSQL = `SELECT * FROM (VALUES
	(1, 'plain', TIMESTAMPTZ '2026-11-24 10:00:00.5+02', DATE '2026-11-24', CAST(1.25 AS DECIMAL(10,2)), [1, 2], {'x': 1, 'y': 'q'}, CAST('ab' AS BLOB), CAST('nan' AS DOUBLE), 2.5::DOUBLE, true, CAST(170141183460469231731687303715884105727 AS HUGEINT)),
	(2, 'a"b,c' || chr(10) || 'tab' || chr(9), NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1e20::DOUBLE, false, NULL)
) v(id, s, ts, d, dec, l, st, bl, f, g, b, h) ORDER BY id`

func TestWriteRows(t *testing.T) {
	e := newEngine(t, "")
	for _, c := range []struct {
		format query.Format
		want   string
	}{
		{query.FormatNDJSON, `{"id":1,"s":"plain","ts":"2026-11-24T08:00:00.5Z","d":"2026-11-24","dec":1.25,"l":[1,2],"st":{"x":1,"y":"q"},"bl":"YWI=","f":"NaN","g":2.5,"b":true,"h":170141183460469231731687303715884105727}
{"id":2,"s":"a\"b,c\ntab\t","ts":null,"d":null,"dec":null,"l":null,"st":null,"bl":null,"f":null,"g":1e+20,"b":false,"h":null}
`},
		{query.FormatJSON, `[
{"id":1,"s":"plain","ts":"2026-11-24T08:00:00.5Z","d":"2026-11-24","dec":1.25,"l":[1,2],"st":{"x":1,"y":"q"},"bl":"YWI=","f":"NaN","g":2.5,"b":true,"h":170141183460469231731687303715884105727},
{"id":2,"s":"a\"b,c\ntab\t","ts":null,"d":null,"dec":null,"l":null,"st":null,"bl":null,"f":null,"g":1e+20,"b":false,"h":null}
]
`},
		{query.FormatCSV, `id,s,ts,d,dec,l,st,bl,f,g,b,h
1,plain,2026-11-24T08:00:00.5Z,2026-11-24,1.25,"[1,2]","{""x"":1,""y"":""q""}",YWI=,NaN,2.5,true,170141183460469231731687303715884105727
2,"a""b,c
tab	",,,,,,,,1e+20,false,
`},
		{query.FormatTable, `id  s             ts                      d           dec   l      st               bl    f    g      b      h
1   plain         2026-11-24T08:00:00.5Z  2026-11-24  1.25  [1,2]  {"x":1,"y":"q"}  YWI=  NaN  2.5    true   170141183460469231731687303715884105727
2   a"b,c\ntab\t                                                                               1e+20  false  
`},
	} {
		t.Run(string(c.format), func(t *testing.T) {
			rows, err := e.Query(context.Background(), printSQL)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var buf bytes.Buffer
			n, err := query.WriteRows(&buf, rows, c.format)
			if err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Errorf("wrote %d rows, want 2", n)
			}
			if got := buf.String(); got != c.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

func TestWriteRowsEmpty(t *testing.T) {
	e := newEngine(t, "")
	for _, c := range []struct {
		format query.Format
		want   string
	}{
		{query.FormatNDJSON, ""},
		{query.FormatJSON, "[]\n"},
		{query.FormatCSV, "a,b\n"},
		{query.FormatTable, "a  b\n"},
	} {
		rows, err := e.Query(context.Background(), "SELECT 1 AS a, 2 AS b WHERE false")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		n, err := query.WriteRows(&buf, rows, c.format)
		rows.Close()
		if err != nil || n != 0 || buf.String() != c.want {
			t.Errorf("%s: %q, %d rows, %v; want %q", c.format, buf.String(), n, err, c.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"table", "csv", "ndjson", "json"} {
		if f, err := query.ParseFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseFormat(%q) = %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "JSON", "xml"} {
		if _, err := query.ParseFormat(s); !errors.Is(err, query.ErrFormat) {
			t.Errorf("ParseFormat(%q): %v, want ErrFormat", s, err)
		}
	}
}
