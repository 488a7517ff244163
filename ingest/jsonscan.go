package ingest

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written JSON scanner for the hot path: it validates the whole line
// (RFC 8259 grammar, string escapes, UTF-8) while locating top-level values,
// without allocating. Values are returned as byte ranges of the line.

var (
	errSyntax  = errors.New("invalid JSON")
	errUTF8    = errors.New("invalid UTF-8")
	errDepth   = errors.New("JSON nested too deeply")
	errNotObj  = errors.New("not a JSON object")
	errTrailer = errors.New("data after the JSON object")
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

type scanner struct {
	b   []byte
	pos int
}

func (s *scanner) ws() {
	// Most calls find no blank: one compare (every blank is <= ' ')
	// instead of the switch.
	if s.pos < len(s.b) && s.b[s.pos] > ' ' {
		return
	}
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// colon consumes the ':' after an object key (and the blanks before it).
func (s *scanner) colon() error {
	if s.pos < len(s.b) && s.b[s.pos] == ':' { // no blanks: the common case
		s.pos++
		return nil
	}
	s.ws()
	if s.pos >= len(s.b) || s.b[s.pos] != ':' {
		return errSyntax
	}
	s.pos++
	return nil
}

// next consumes what follows a member of an object or array closed by
// end: a ',' (more members: true) or end itself (false, nil).
func (s *scanner) next(end byte) (more bool, err error) {
	s.ws()
	if s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ',':
			s.pos++
			return true, nil
		case end:
			s.pos++
			return false, nil
		}
	}
	return false, errSyntax
}

// str scans a string starting at its opening quote and returns the raw
// content between the quotes and whether it has escapes.
func (s *scanner) str() (raw []byte, escaped bool, err error) {
	if s.pos >= len(s.b) || s.b[s.pos] != '"' {
		return nil, false, errSyntax
	}
	start := s.pos + 1
	ascii := true
	for i := start; i < len(s.b); i++ {
		i = skipPlain(s.b, i)
		if i >= len(s.b) {
			break
		}
		c := s.b[i]
		switch {
		case c == '"':
			raw = s.b[start:i]
			if !ascii && !utf8.Valid(raw) {
				return nil, false, errUTF8
			}
			s.pos = i + 1
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(s.b) {
				return nil, false, errSyntax
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(s.b) {
					return nil, false, errSyntax
				}
				for _, h := range s.b[i+2 : i+6] {
					if !isHex(h) {
						return nil, false, errSyntax
					}
				}
				i += 5
			default:
				return nil, false, errSyntax
			}
		case c < 0x20:
			return nil, false, errSyntax
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false, errSyntax
}

// skipPlain returns the index of the first byte of b at or after i that is
// not plain (see plain), or len(b). Most bytes of a string are plain: it
// tests eight at a time with word arithmetic, then one at a time.
func skipPlain(b []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for i+8 <= len(b) {
		w := binary.LittleEndian.Uint64(b[i:])
		q := w ^ ('"' * ones)
		bs := w ^ ('\\' * ones)
		// A byte's high bit ends up set when it is zero in q ('"') or
		// bs ('\\'), below 0x20 in w, or has its own high bit set. Below
		// the lowest such byte every byte is plain, in 0x20–0x7f: no
		// subtraction borrows or sets a high bit there, so the lowest
		// flag is exact (bytes above it may be flagged by a borrow or
		// by their high bit; they are not looked at).
		m := ((q - ones) | (bs - ones) | (w - 0x20*ones) | w) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// plain marks the bytes a string may hold that need no attention: not '"',
// '\\', a control character or part of a multi-byte UTF-8 sequence.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// unescape appends the decoded form of a validated raw string to dst.
// Lone surrogates become U+FFFD, as encoding/json does.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hexVal(raw[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 := hexVal(raw[i+3 : i+7])
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

// number scans a JSON number and returns its text and whether it is an
// integer (no fraction or exponent).
func (s *scanner) number() (raw []byte, isInt bool, err error) {
	start := s.pos
	i := s.pos
	if i < len(s.b) && s.b[i] == '-' {
		i++
	}
	switch {
	case i < len(s.b) && s.b[i] == '0':
		i++
	case i < len(s.b) && s.b[i] >= '1' && s.b[i] <= '9':
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
	default:
		return nil, false, errSyntax
	}
	isInt = true
	if i < len(s.b) && s.b[i] == '.' {
		isInt = false
		i++
		d := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, errSyntax
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		isInt = false
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		d := i
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, errSyntax
		}
	}
	s.pos = i
	return s.b[start:i], isInt, nil
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.pos < len(lit) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		return errSyntax
	}
	s.pos += len(lit)
	return nil
}

// skip scans any value, validating it.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errDepth
	}
	s.ws()
	if s.pos >= len(s.b) {
		return errSyntax
	}
	switch c := s.b[s.pos]; {
	case c == '"':
		_, _, err := s.str()
		return err
	case c == '{':
		s.pos++
		s.ws()
		if s.pos < len(s.b) && s.b[s.pos] == '}' {
			s.pos++
			return nil
		}
		for {
			s.ws()
			if _, _, err := s.str(); err != nil {
				return err
			}
			if err := s.colon(); err != nil {
				return err
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if more, err := s.next('}'); !more {
				return err
			}
		}
	case c == '[':
		s.pos++
		s.ws()
		if s.pos < len(s.b) && s.b[s.pos] == ']' {
			s.pos++
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if more, err := s.next(']'); !more {
				return err
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, _, err := s.number()
		return err
	}
}

// jsonValueKind classifies the value starting at s.pos (after whitespace).
type valueKind int

const (
	vString valueKind = iota
	vNumber
	vBool
	vNull
	vObject
	vArray
	vNumberFloat // only in schema inference: a number with fraction or exponent
)

// value scans one value and returns its kind and raw text (for strings,
// the content without quotes).
func (s *scanner) value(depth int) (vk valueKind, raw []byte, escaped, isInt bool, err error) {
	s.ws()
	return s.valueHere(depth)
}

// valueHere is value when the blanks before it are consumed already.
func (s *scanner) valueHere(depth int) (vk valueKind, raw []byte, escaped, isInt bool, err error) {
	if s.pos >= len(s.b) {
		return 0, nil, false, false, errSyntax
	}
	start := s.pos
	switch c := s.b[s.pos]; {
	case c == '"':
		raw, escaped, err = s.str()
		return vString, raw, escaped, false, err
	case c == '{' || c == '[':
		err = s.skip(depth)
		vk = vObject
		if c == '[' {
			vk = vArray
		}
		return vk, s.b[start:s.pos], false, false, err
	case c == 't' || c == 'f':
		if c == 't' {
			err = s.literal("true")
		} else {
			err = s.literal("false")
		}
		return vBool, s.b[start:s.pos], false, false, err
	case c == 'n':
		err = s.literal("null")
		return vNull, nil, false, false, err
	default:
		raw, isInt, err = s.number()
		return vNumber, raw, false, isInt, err
	}
}

// appendQuoted appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (callers keep exact bytes elsewhere when that matters).
func appendQuoted(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func appendQuotedString(dst []byte, s string) []byte {
	return appendQuoted(dst, []byte(s))
}

// parseIntBytes parses a decimal integer without allocating.
func parseIntBytes(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if len(b) <= 18 {
		// At most 18 digits cannot overflow: no check but the digit's.
		var n int64
		for _, c := range b {
			d := c - '0'
			if d > 9 {
				return 0, false
			}
			n = n*10 + int64(d)
		}
		if neg {
			return -n, true
		}
		return n, true
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<63-1)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

func parseFloatBytes(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}
