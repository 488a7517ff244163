package fileio

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// decodeStatsPlain decodes add.stats written in the plain shape writers
// produce (loglake, Spark, delta-rs): one object with each of numRecords,
// minValues, maxValues, nullCount and tightBounds at most once, strings
// without escapes, no arrays. It gives exactly what decodeStatsStd gives
// (maps of json.Number, string, bool, nil and nested maps) and reports
// ok=false for anything else, which then takes the general path. Pruning a
// statement over a snapshot of 10,000 files decodes every file's stats
// once per statement; validating and decoding them with general-purpose
// decoders was most of a selective query's fixed cost. Strings are
// substrings of s, so a file's stats cost one allocation per map entry.
// FuzzDecodeStatsPlain checks it against encoding/json.
//
// With part, only the statistics it asks for are built (see ParseStatsOf):
// the others are read by skip, which accepts exactly what value accepts.
func decodeStatsPlain(s string, part *StatsPart) (raw rawStats, ok bool) {
	p := plainParser{s: s}
	p.ws()
	if !p.eat('{') {
		return rawStats{}, false
	}
	var seen [5]bool
	p.ws()
	if p.eat('}') {
		return raw, p.end()
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return rawStats{}, false
		}
		p.ws()
		if !p.eat(':') {
			return rawStats{}, false
		}
		p.ws()
		var slot int
		switch key {
		case "numRecords":
			slot = 0
			if p.peek() == 'n' {
				if !p.lit("null") {
					return rawStats{}, false
				}
				raw.NumRecords = nil
			} else {
				n, ok := p.num()
				if !ok {
					return rawStats{}, false
				}
				num := json.Number(n)
				raw.NumRecords = &num
			}
		case "minValues", "maxValues", "nullCount":
			var m map[string]any
			if p.peek() == 'n' {
				if !p.lit("null") {
					return rawStats{}, false
				}
			} else {
				// Bounds left out are still read (an object is required).
				drop := part != nil && part.NoBounds && key != "nullCount"
				var keep func(string) bool
				switch {
				case drop:
					keep = func(string) bool { return false }
				case part != nil:
					keep = part.keep
				}
				if m, ok = p.object(0, keep); !ok {
					return rawStats{}, false
				}
				if drop {
					m = nil
				}
			}
			switch key {
			case "minValues":
				slot, raw.MinValues = 1, m
			case "maxValues":
				slot, raw.MaxValues = 2, m
			default:
				slot, raw.NullCount = 3, m
			}
		case "tightBounds":
			slot = 4
			switch {
			case p.lit("true"):
				b := true
				raw.TightBounds = &b
			case p.lit("false"):
				b := false
				raw.TightBounds = &b
			case p.lit("null"):
				raw.TightBounds = nil
			default:
				return rawStats{}, false
			}
		default:
			// encoding/json matches field names case-insensitively and
			// skips unknown ones: the general path decides.
			return rawStats{}, false
		}
		if seen[slot] {
			return rawStats{}, false // a repeated map merges in encoding/json
		}
		seen[slot] = true
		p.ws()
		if p.eat('}') {
			return raw, p.end()
		}
		if !p.eat(',') {
			return rawStats{}, false
		}
	}
}

// plainParser reads the JSON subset decodeStatsPlain accepts; every method
// reports false on anything outside it.
type plainParser struct {
	s string
	i int
}

const plainMaxDepth = 32

func (p *plainParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *plainParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *plainParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace follows.
func (p *plainParser) end() bool {
	p.ws()
	return p.i == len(p.s)
}

func (p *plainParser) lit(w string) bool {
	if len(p.s)-p.i >= len(w) && p.s[p.i:p.i+len(w)] == w {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a string without escapes or control characters, valid UTF-8.
// The closing quote is found with strings.IndexByte and the bytes before
// it checked eight at a time: a stats string is mostly such bytes, and a
// byte-at-a-time scan of them was half of decoding a file's stats.
func (p *plainParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	n := strings.IndexByte(p.s[p.i:], '"')
	if n < 0 {
		return "", false
	}
	out := p.s[p.i : p.i+n]
	if !plainASCII(out) {
		for i := 0; i < len(out); i++ {
			if c := out[i]; c == '\\' || c < 0x20 {
				return "", false
			}
		}
		if !utf8.ValidString(out) {
			return "", false
		}
	}
	p.i += n + 1
	return out, true
}

// plainASCII reports whether every byte of s is in 0x20–0x7f and not a
// backslash.
func plainASCII(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		bs := w ^ ('\\' * ones) // a zero byte where s has a backslash
		if w&highs != 0 || (w-0x20*ones)&^w&highs != 0 || (bs-ones)&^bs&highs != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// num reads a number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *plainParser) num() (string, bool) {
	start := p.i
	p.eat('-')
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return "", false
	}
	if p.eat('.') {
		if !p.digits() {
			return "", false
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return "", false
		}
	}
	return p.s[start:p.i], true
}

func (p *plainParser) digits() bool {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// object reads an object. keep, if not nil, says which keys' values are
// built: the others are only read (skip), and left out of the map.
func (p *plainParser) object(depth int, keep func(string) bool) (map[string]any, bool) {
	if depth >= plainMaxDepth || !p.eat('{') {
		return nil, false
	}
	m := map[string]any{}
	p.ws()
	if p.eat('}') {
		return m, true
	}
	for {
		p.ws()
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.ws()
		if !p.eat(':') {
			return nil, false
		}
		p.ws()
		if keep == nil || keep(k) {
			v, ok := p.value(depth + 1)
			if !ok {
				return nil, false
			}
			m[k] = v
		} else if !p.skip(depth + 1) {
			return nil, false
		}
		p.ws()
		if p.eat('}') {
			return m, true
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}

// skip reads what value reads without building it.
func (p *plainParser) skip(depth int) bool {
	switch c := p.peek(); {
	case c == '{':
		if depth >= plainMaxDepth {
			return false
		}
		p.i++
		p.ws()
		if p.eat('}') {
			return true
		}
		for {
			p.ws()
			if _, ok := p.str(); !ok {
				return false
			}
			p.ws()
			if !p.eat(':') {
				return false
			}
			p.ws()
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat('}') {
				return true
			}
			if !p.eat(',') {
				return false
			}
		}
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := p.num()
		return ok
	}
	return p.lit("true") || p.lit("false") || p.lit("null")
}

// value reads an object, string, number, true, false or null.
func (p *plainParser) value(depth int) (any, bool) {
	switch c := p.peek(); {
	case c == '{':
		return p.object(depth, nil)
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		n, ok := p.num()
		return json.Number(n), ok
	case p.lit("true"):
		return true, true
	case p.lit("false"):
		return false, true
	case p.lit("null"):
		return nil, true
	}
	return nil, false
}
