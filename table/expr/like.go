package expr

import (
	"strings"
	"unicode/utf8"
)

type likeMode int

const (
	likeExact    likeMode = iota // no wildcards
	likePrefix                   // lit%
	likeSuffix                   // %lit
	likeContains                 // %lit%
	likeGeneral
)

type likeElem struct {
	r    rune
	kind byte // 0 literal rune, 1 '_', 2 '%'
}

// likePattern is a compiled LIKE pattern.
type likePattern struct {
	mode   likeMode
	lit    string     // the literal part for the fast modes
	prefix string     // literal text before the first wildcard, for pruning
	elems  []likeElem // for likeGeneral
}

func compileLike(p string) *likePattern {
	var elems []likeElem
	for i := 0; i < len(p); {
		r, w := utf8.DecodeRuneInString(p[i:])
		i += w
		switch {
		case r == '\\' && i < len(p):
			r, w = utf8.DecodeRuneInString(p[i:])
			i += w
			elems = append(elems, likeElem{r: r})
		case r == '%':
			if n := len(elems); n == 0 || elems[n-1].kind != 2 {
				elems = append(elems, likeElem{kind: 2})
			}
		case r == '_':
			elems = append(elems, likeElem{kind: 1})
		default:
			elems = append(elems, likeElem{r: r})
		}
	}
	lp := &likePattern{elems: elems}
	var pre strings.Builder
	for _, e := range elems {
		if e.kind != 0 {
			break
		}
		pre.WriteRune(e.r)
	}
	lp.prefix = pre.String()
	// Classify: literal runs bounded by at most one leading and one trailing %.
	lead := len(elems) > 0 && elems[0].kind == 2
	trail := len(elems) > 1 && elems[len(elems)-1].kind == 2
	inner := elems
	if lead {
		inner = inner[1:]
	}
	if trail && len(inner) > 0 {
		inner = inner[:len(inner)-1]
	}
	var lit strings.Builder
	for _, e := range inner {
		if e.kind != 0 {
			lp.mode = likeGeneral
			return lp
		}
		lit.WriteRune(e.r)
	}
	lp.lit = lit.String()
	switch {
	case lead && trail, lead && len(elems) == 1:
		lp.mode = likeContains
	case lead:
		lp.mode = likeSuffix
	case trail:
		lp.mode = likePrefix
	default:
		lp.mode = likeExact
	}
	return lp
}

func (lp *likePattern) match(s string) bool {
	switch lp.mode {
	case likeExact:
		return s == lp.lit
	case likePrefix:
		return strings.HasPrefix(s, lp.lit)
	case likeSuffix:
		return strings.HasSuffix(s, lp.lit)
	case likeContains:
		return strings.Contains(s, lp.lit)
	}
	return globMatch(lp.elems, s)
}

// globMatch matches with one backtracking point (the last '%'), which is
// enough because a later '%' subsumes every earlier choice.
func globMatch(p []likeElem, s string) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			e := p[pi]
			if e.kind == 2 {
				starP, starS = pi, si
				pi++
				continue
			}
			r, w := utf8.DecodeRuneInString(s[si:])
			if e.kind == 1 || r == e.r {
				si += w
				pi++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		si = starS
		pi = starP + 1
	}
	for pi < len(p) && p[pi].kind == 2 {
		pi++
	}
	return pi == len(p)
}
