package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// whereSQL translates a bound table/expr predicate into a DuckDB boolean
// expression with the same meaning, so that a view registered with a
// predicate holds exactly the rows a loglake scan with that filter returns.
// Literals are cast to their column's type, as expr.Bind converts them.
func whereSQL(e expr.Expr, sch *table.Schema) (string, error) {
	switch e := e.(type) {
	case expr.And:
		return binarySQL(e.L, e.R, "AND", sch)
	case expr.Or:
		return binarySQL(e.L, e.R, "OR", sch)
	case expr.Not:
		x, err := whereSQL(e.X, sch)
		if err != nil {
			return "", err
		}
		return "(NOT " + x + ")", nil
	case expr.Const:
		return e.String(), nil
	case expr.Column:
		c, _, err := columnSQL(e, sch)
		if err != nil {
			return "", err
		}
		return "(" + c + " = TRUE)", nil
	case expr.Compare:
		c, t, err := columnSQL(e.Col, sch)
		if err != nil {
			return "", err
		}
		if e.Value.Kind == expr.String && t == table.TypeDate && !isDate(e.Value.Text) {
			// A timestamp against a date compares the day's midnight (UTC)
			// with the instant, exactly, as expr does.
			return "(CAST(" + c + " AS TIMESTAMPTZ) " + opSQL(e.Op) + " CAST(" + quoteString(e.Value.Text) + " AS TIMESTAMPTZ))", nil
		}
		lit, err := literalSQL(e.Value, t)
		if err != nil {
			return "", err
		}
		return "(" + c + " " + opSQL(e.Op) + " " + lit + ")", nil
	case expr.In:
		c, t, err := columnSQL(e.Col, sch)
		if err != nil {
			return "", err
		}
		lits := make([]string, len(e.Values))
		for i, v := range e.Values {
			if lits[i], err = literalSQL(v, t); err != nil {
				return "", err
			}
		}
		not := ""
		if e.Not {
			not = "NOT "
		}
		return "(" + c + " " + not + "IN (" + strings.Join(lits, ", ") + "))", nil
	case expr.IsNull:
		c, _, err := columnSQL(e.Col, sch)
		if err != nil {
			return "", err
		}
		if e.Not {
			return "(" + c + " IS NOT NULL)", nil
		}
		return "(" + c + " IS NULL)", nil
	case expr.Like:
		c, _, err := columnSQL(e.Col, sch)
		if err != nil {
			return "", err
		}
		not := ""
		if e.Not {
			not = "NOT "
		}
		return "(" + c + " " + not + "LIKE " + quoteString(e.Pattern) + ` ESCAPE '\')`, nil
	}
	return "", fmt.Errorf("query: cannot translate %T to SQL", e)
}

func binarySQL(l, r expr.Expr, op string, sch *table.Schema) (string, error) {
	ls, err := whereSQL(l, sch)
	if err != nil {
		return "", err
	}
	rs, err := whereSQL(r, sch)
	if err != nil {
		return "", err
	}
	return "(" + ls + " " + op + " " + rs + ")", nil
}

func opSQL(o expr.Op) string {
	if o == expr.OpNe {
		return "<>"
	}
	return o.String()
}

// columnSQL renders a column reference (struct fields with DuckDB's
// s['field'] syntax, which cannot be mistaken for a table alias) and
// returns its Delta type.
func columnSQL(c expr.Column, sch *table.Schema) (string, table.DataType, error) {
	if len(c.Path) == 0 {
		return "", nil, fmt.Errorf("query: empty column name")
	}
	f := sch.Field(c.Path[0])
	if f == nil {
		return "", nil, fmt.Errorf("query: unknown column %q", c.Path[0])
	}
	s, t := quoteIdent(f.Name), f.Type
	for _, p := range c.Path[1:] {
		st, ok := t.(*table.StructType)
		if !ok {
			return "", nil, fmt.Errorf("query: %s is not a struct", c.Name())
		}
		sf := st.Field(p)
		if sf == nil {
			return "", nil, fmt.Errorf("query: unknown field %s", c.Name())
		}
		s += "[" + quoteString(sf.Name) + "]"
		t = sf.Type
	}
	return s, t, nil
}

// literalSQL renders lit as a constant of the column type t.
func literalSQL(lit expr.Literal, t table.DataType) (string, error) {
	switch lit.Kind {
	case expr.Null:
		return "NULL", nil
	case expr.Bool:
		return strings.ToUpper(lit.Text), nil
	}
	typ, err := SQLType(t)
	if err != nil {
		return "", err
	}
	switch t {
	case table.TypeString:
		return quoteString(lit.Text), nil
	case table.TypeFloat, table.TypeDouble:
		// expr compares against a float32 column with the literal rounded
		// to float32; the cast does the same.
		return "CAST(" + quoteString(lit.Text) + " AS " + typ + ")", nil
	case table.TypeLong, table.TypeInteger, table.TypeShort, table.TypeByte:
		// Compared exactly (2.5 against an integer is not rounded): keep
		// the number as a numeric literal, not cast to the column type.
		if _, err := strconv.ParseFloat(lit.Text, 64); err != nil || strings.ContainsAny(lit.Text, "xXnN_") {
			return "", fmt.Errorf("query: %q is not a number", lit.Text)
		}
		return lit.Text, nil
	case table.TypeDate:
		return "CAST(" + quoteString(lit.Text) + " AS DATE)", nil
	case table.TypeTimestamp:
		return "CAST(" + quoteString(lit.Text) + " AS TIMESTAMPTZ)", nil
	case table.TypeTimestampNTZ:
		if hasZone(lit.Text) {
			return "CAST(CAST(" + quoteString(lit.Text) + " AS TIMESTAMPTZ) AS TIMESTAMP)", nil
		}
		return "CAST(" + quoteString(lit.Text) + " AS TIMESTAMP)", nil
	}
	return "CAST(" + quoteString(lit.Text) + " AS " + typ + ")", nil
}

func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

func hasZone(s string) bool {
	for _, l := range []string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00"} {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}
