package expr

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is returned (wrapped in a *SyntaxError) when Parse rejects its input.
var ErrSyntax = errors.New("expr: syntax error")

// SyntaxError says where parsing failed and what was expected there.
type SyntaxError struct {
	Pos      int    // 1-based byte offset of the offending token
	Expected string // what the parser wanted
	Found    string // the token it got, quoted, or "end of input"
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("expr: syntax error at position %d: expected %s, found %s", e.Pos, e.Expected, e.Found)
}

// Unwrap makes errors.Is(err, ErrSyntax) hold.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuotedIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
	tDot
	tKeyword // Text upper-cased
)

type token struct {
	kind tokKind
	text string // identifier/string value unescaped; keywords upper-case
	raw  string // source text, for error messages
	pos  int    // 0-based byte offset
}

func (t token) describe() string {
	if t.kind == tEOF {
		return "end of input"
	}
	r := t.raw
	if len(r) > 40 {
		r = r[:40] + "..."
	}
	return fmt.Sprintf("%q", r)
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '(':
			toks = append(toks, token{kind: tLParen, raw: "(", pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, raw: ")", pos: i})
			i++
		case c == ',':
			toks = append(toks, token{kind: tComma, raw: ",", pos: i})
			i++
		case c == '.':
			toks = append(toks, token{kind: tDot, raw: ".", pos: i})
			i++
		case c == '=':
			toks = append(toks, token{kind: tOp, text: "=", raw: "=", pos: i})
			i++
		case c == '!':
			if i+1 < len(s) && s[i+1] == '=' {
				toks = append(toks, token{kind: tOp, text: "!=", raw: "!=", pos: i})
				i += 2
			} else {
				return nil, &SyntaxError{Pos: i + 1, Expected: "'!='", Found: fmt.Sprintf("%q", s[i:min(i+2, len(s))])}
			}
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(s) && (s[i+1] == '=' || c == '<' && s[i+1] == '>') {
				op += string(s[i+1])
			}
			if op == "<>" {
				toks = append(toks, token{kind: tOp, text: "!=", raw: op, pos: i})
			} else {
				toks = append(toks, token{kind: tOp, text: op, raw: op, pos: i})
			}
			i += len(op)
		case c == '\'' || c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == c {
					if i+1 < len(s) && s[i+1] == c {
						b.WriteByte(c)
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				what := "closing quote (') of string"
				if c == '"' {
					what = `closing quote (") of name`
				}
				return nil, &SyntaxError{Pos: start + 1, Expected: what, Found: "end of input"}
			}
			k := tString
			if c == '"' {
				k = tQuotedIdent
			}
			toks = append(toks, token{kind: k, text: b.String(), raw: s[start:i], pos: start})
		case c >= '0' && c <= '9' || (c == '-' || c == '+') && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			i++
			digits(s, &i)
			if i < len(s) && s[i] == '.' {
				i++
				digits(s, &i)
			}
			if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
				j := i + 1
				if j < len(s) && (s[j] == '+' || s[j] == '-') {
					j++
				}
				if j < len(s) && s[j] >= '0' && s[j] <= '9' {
					i = j
					digits(s, &i)
				}
			}
			if i < len(s) && isIdentByte(s[i]) {
				return nil, &SyntaxError{Pos: i + 1, Expected: "end of number", Found: fmt.Sprintf("%q", s[start:i+1])}
			}
			toks = append(toks, token{kind: tNumber, text: s[start:i], raw: s[start:i], pos: start})
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			for i < len(s) && isIdentByte(s[i]) {
				i++
			}
			w := s[start:i]
			if up := strings.ToUpper(w); keywords[up] {
				toks = append(toks, token{kind: tKeyword, text: up, raw: w, pos: start})
			} else {
				toks = append(toks, token{kind: tIdent, text: w, raw: w, pos: start})
			}
		default:
			r := []rune(s[i:min(i+4, len(s))])
			return nil, &SyntaxError{Pos: i + 1, Expected: "a column, literal, operator or parenthesis", Found: fmt.Sprintf("%q", string(r[0]))}
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(s)})
	return toks, nil
}

func digits(s string, i *int) {
	for *i < len(s) && s[*i] >= '0' && s[*i] <= '9' {
		*i++
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	toks  []token
	i     int
	depth int
}

// Parse parses a predicate. Errors wrap ErrSyntax and are *SyntaxError values
// naming the position and what was expected.
func Parse(s string) (Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.fail("AND, OR or end of input")
	}
	return e, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *parser) fail(expected string) error {
	t := p.peek()
	return &SyntaxError{Pos: t.pos + 1, Expected: expected, Found: t.describe()}
}

func (p *parser) isKeyword(k string) bool {
	t := p.peek()
	return t.kind == tKeyword && t.text == k
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("OR") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = Or{L: l, R: r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("AND") {
		p.i++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = And{L: l, R: r}
	}
	return l, nil
}

func (p *parser) not() (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.fail(fmt.Sprintf("at most %d levels of nesting", maxDepth))
	}
	if p.isKeyword("NOT") {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	}
	if p.peek().kind == tLParen {
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek().kind != tRParen {
			return nil, p.fail("')'")
		}
		p.i++
		return e, nil
	}
	return p.cmp()
}

func (p *parser) cmp() (Expr, error) {
	t := p.peek()
	if lit, ok := p.literalToken(t); ok {
		// literal op column
		p.i++
		if p.peek().kind != tOp {
			if lit.Kind == Bool {
				return Const{Value: lit.Text == "true"}, nil // TRUE or FALSE on its own
			}
			return nil, p.fail("comparison operator")
		}
		op := parseOp(p.next().text)
		col, err := p.column()
		if err != nil {
			return nil, err
		}
		return Compare{Col: col, Op: op.flip(), Value: lit}, nil
	}
	col, err := p.column()
	if err != nil {
		return nil, err
	}
	t = p.peek()
	switch {
	case t.kind == tOp:
		p.i++
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		return Compare{Col: col, Op: parseOp(t.text), Value: lit}, nil
	case t.kind == tKeyword && t.text == "IS":
		p.i++
		not := false
		if p.isKeyword("NOT") {
			p.i++
			not = true
		}
		if !p.isKeyword("NULL") {
			return nil, p.fail("NULL or NOT NULL after IS")
		}
		p.i++
		return IsNull{Col: col, Not: not}, nil
	case t.kind == tKeyword && (t.text == "IN" || t.text == "LIKE" || t.text == "NOT"):
		not := false
		if t.text == "NOT" {
			p.i++
			not = true
			if !p.isKeyword("IN") && !p.isKeyword("LIKE") {
				return nil, p.fail("IN or LIKE after NOT")
			}
		}
		if p.isKeyword("LIKE") {
			p.i++
			s := p.peek()
			if s.kind != tString {
				return nil, p.fail("string pattern after LIKE")
			}
			p.i++
			return Like{Col: col, Pattern: s.text, Not: not}, nil
		}
		p.i++ // IN
		if p.peek().kind != tLParen {
			return nil, p.fail("'(' after IN")
		}
		p.i++
		var vals []Literal
		for {
			lit, err := p.literal()
			if err != nil {
				return nil, err
			}
			vals = append(vals, lit)
			if p.peek().kind == tComma {
				p.i++
				continue
			}
			if p.peek().kind != tRParen {
				return nil, p.fail("',' or ')' in IN list")
			}
			p.i++
			return In{Col: col, Values: vals, Not: not}, nil
		}
	default:
		return col, nil
	}
}

func parseOp(s string) Op {
	switch s {
	case "=":
		return OpEq
	case "!=":
		return OpNe
	case "<":
		return OpLt
	case "<=":
		return OpLe
	case ">":
		return OpGt
	default:
		return OpGe
	}
}

func (p *parser) literalToken(t token) (Literal, bool) {
	switch {
	case t.kind == tString:
		return Literal{Kind: String, Text: t.text}, true
	case t.kind == tNumber:
		return Literal{Kind: Number, Text: t.text}, true
	case t.kind == tKeyword && t.text == "TRUE":
		return Literal{Kind: Bool, Text: "true"}, true
	case t.kind == tKeyword && t.text == "FALSE":
		return Literal{Kind: Bool, Text: "false"}, true
	case t.kind == tKeyword && t.text == "NULL":
		return Literal{Kind: Null}, true
	}
	return Literal{}, false
}

func (p *parser) literal() (Literal, error) {
	if lit, ok := p.literalToken(p.peek()); ok {
		p.i++
		return lit, nil
	}
	return Literal{}, p.fail("literal (string, number, TRUE, FALSE or NULL)")
}

func (p *parser) column() (Column, error) {
	var path []string
	for {
		t := p.peek()
		if t.kind != tIdent && t.kind != tQuotedIdent {
			if len(path) == 0 {
				return Column{}, p.fail("column name")
			}
			return Column{}, p.fail("field name after '.'")
		}
		p.i++
		path = append(path, t.text)
		if p.peek().kind != tDot {
			return Column{Path: path}, nil
		}
		p.i++
	}
}
