// NDJSON lines into the staged row: one pass over the line with the
// scanner of jsonscan.go, keys mapped to columns through a small cache.

package ingest

import "encoding/binary"

// ndjsonLine decodes one NDJSON line (without its newline).
func (b *builder) ndjsonLine(f *fileCtx, line int64, data []byte) {
	b.startRow()
	if err := b.ndjsonFields(data); err != nil {
		b.badLine(f, line, data, err.Error(), 0)
		return
	}
	b.commitRow(f, line, -1)
}

// ndjsonFields stages the fields of one NDJSON object line; unknown fields
// and values a column cannot hold are rescued.
func (b *builder) ndjsonFields(data []byte) error {
	b.line = data
	s := scanner{b: data}
	s.ws()
	if s.pos >= len(s.b) || s.b[s.pos] != '{' {
		if err := s.skip(0); err != nil {
			return err
		}
		return errNotObj
	}
	s.pos++
	s.ws()
	field := 0
	if s.pos < len(s.b) && s.b[s.pos] == '}' {
		s.pos++
	} else {
		for {
			keyStart := s.pos
			var name []byte
			var col int
			if k := b.knownKey(s.b, s.pos); k != nil {
				name, col = k.name, k.col
				s.pos += len(k.name) + 2
			} else {
				kraw, kesc, err := s.str()
				if err != nil {
					return err
				}
				name = kraw
				if kesc {
					off := len(b.scratch)
					b.scratch = unescape(b.scratch, kraw)
					name = b.scratch[off:]
				}
				col = b.lookup(field, name)
			}
			field++
			keyEnd := s.pos
			if err := s.colon(); err != nil {
				return err
			}
			s.ws()
			if col < 0 || b.cells[col].set || b.cols[col].dict == nil || !b.dictValue(col, &s) {
				valStart := s.pos
				vk, vraw, vesc, isInt, err := s.valueHere(1)
				if err != nil {
					return err
				}
				// The key's and value's JSON text are sliced only for a
				// rescue: slicing every field cost about 3 % of decoding.
				switch {
				case col < 0:
					b.noteNewCol(name, vk, isInt)
					b.rescueField(name, s.b[keyStart:keyEnd], s.b[valStart:s.pos])
				case b.cells[col].set:
					// A key repeated (or repeated in another case) keeps
					// its first value; the later ones are rescued, not lost.
					b.rescueField(name, s.b[keyStart:keyEnd], s.b[valStart:s.pos])
				case vk == vNull:
					b.cells[col] = cell{}
				default:
					if !b.setJSON(col, vk, vraw, vesc, isInt) {
						b.cells[col] = cell{}
						b.rescueField(name, s.b[keyStart:keyEnd], s.b[valStart:s.pos])
					}
				}
			}
			// Compact JSON goes on with a comma and the next key's quote.
			if p := s.pos; p+1 < len(s.b) && s.b[p] == ',' && s.b[p+1] == '"' {
				s.pos = p + 1
				continue
			}
			more, err := s.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
			s.ws()
		}
	}
	s.ws()
	if s.pos != len(s.b) {
		return errTrailer
	}
	return nil
}

// dictValue stages the value at s.pos, when it is a plain ASCII string
// (no escape, control or non-ASCII byte: nothing to validate or decode), as
// its index in column col's dictionary, and moves past it. Any other value,
// or one the dictionary refuses, is left to setJSON (false).
func (b *builder) dictValue(col int, s *scanner) bool {
	if s.pos >= len(s.b) || s.b[s.pos] != '"' {
		return false
	}
	end := skipPlain(s.b, s.pos+1)
	if end >= len(s.b) || s.b[end] != '"' {
		return false
	}
	k, ok := b.cols[col].dict.index(s.b[s.pos+1 : end])
	if !ok {
		return false
	}
	b.cells[col] = cell{set: true, src: srcDict, i: int64(k)}
	s.pos = end + 1
	return true
}

// knownKey returns the cached key that the key of line at pos (its opening
// quote) repeats byte for byte, closing quote included, or nil. Such a key
// needs neither scanning nor hashing: its bytes were validated when it was
// cached, and a plain key (no byte a JSON string must escape) is its own
// raw text. The candidate is the last plain key cached with the same first
// two bytes: a few dozen keys rarely share them, whatever their order.
func (b *builder) knownKey(line []byte, pos int) *cachedKey {
	if len(line)-pos < 3 || line[pos] != '"' || b.keyCache == nil {
		return nil
	}
	rest := line[pos+1:]
	k := &b.keyCache[b.keyByStart[startHash(rest[0], rest[1])]&(keyCacheSize-1)]
	n := len(k.name)
	if !k.plain || len(rest) <= n || rest[n] != '"' {
		return nil
	}
	// edgeKey.same, spelled out: it costs 7 % more of this hot path.
	if k.edge.whole() {
		if edgeKeyOf(rest[:n]) != k.edge {
			return nil
		}
	} else if string(rest[:n]) != string(k.name) {
		return nil
	}
	return k
}

// startHash spreads keys over keyByStart by their first two bytes (a
// one-byte key's second is its closing quote).
func startHash(c0, c1 byte) uint8 { return c0*7 ^ c1 }

// lookup is mapping.lookup through a small cache of the keys seen last,
// indexed by a hash of the key's bytes: comparing a short key with the
// cached one is far cheaper than a Go map lookup (and, for keys that are
// not columns, than the lower-cased retry that allocates), and unlike a
// cache by field position it holds when lines order their fields
// differently. Keys longer than maxCachedKey go to the mapping directly.
//
// field is the key's position in its line: the slot the key at that
// position used last is tried first, which spares the hash when lines
// keep their order.
func (b *builder) lookup(field int, name []byte) int {
	if len(name) > maxCachedKey {
		return b.m.lookup(name)
	}
	if b.keyCache == nil {
		b.keyCache = make([]cachedKey, keyCacheSize)
		b.posSlot = make([]uint16, maxPosSlot)
	}
	e := edgeKeyOf(name)
	if field < maxPosSlot {
		if k := &b.keyCache[b.posSlot[field]]; e.same(k.edge, name, k.name) {
			return k.col
		}
	}
	slot := e.hash() & (keyCacheSize - 1)
	if field < maxPosSlot {
		b.posSlot[field] = uint16(slot)
	}
	k := &b.keyCache[slot]
	if e.same(k.edge, name, k.name) {
		return k.col
	}
	k.col = b.m.lookup(name)
	k.name = append(k.name[:0], name...)
	k.edge = e
	k.plain = plainKey(name)
	if k.plain {
		second := byte('"')
		if len(name) > 1 {
			second = name[1]
		}
		b.keyByStart[startHash(name[0], second)] = uint16(slot)
	}
	return k.col
}

// plainKey reports whether a key is not empty and is its own JSON text:
// no quote, backslash or control character.
func plainKey(name []byte) bool {
	for _, c := range name {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return len(name) > 0
}

const (
	keyCacheSize = 512 // a power of two
	maxCachedKey = 64
	maxPosSlot   = 64 // fields per line with a remembered slot
)

type cachedKey struct {
	name  []byte
	edge  edgeKey // of name; zero for an empty slot
	col   int
	plain bool // plainKey(name): knownKey may match it
}

// edgeKey is a byte string's length and its first and last 8 bytes as
// words (one shorter than 8 bytes all in lo): all of it when it is at most
// 16 bytes long, so short keys and values are compared as three words,
// and enough to spread the few dozen keys of a log source, or a column's
// few distinct values, over a small cache.
type edgeKey struct {
	lo, hi uint64
	n      int // length + 1; 0 for none
}

func edgeKeyOf(b []byte) edgeKey {
	n := len(b)
	if n >= 8 {
		return edgeKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:]), n + 1}
	}
	if cap(b) >= 8 {
		// A key or value is a slice of its line: the word load may read
		// past it (not past the buffer), and the mask drops those bytes.
		w := binary.LittleEndian.Uint64(b[:8])
		return edgeKey{w & (1<<(8*n) - 1), 0, n + 1}
	}
	var lo uint64
	for i, c := range b {
		lo |= uint64(c) << (8 * i)
	}
	return edgeKey{lo, 0, n + 1}
}

func (e edgeKey) hash() uint64 {
	h := (e.lo ^ uint64(e.n)) * 0x9E3779B97F4A7C15
	h ^= e.hi * 0xC2B2AE3D27D4EB4F
	return h ^ h>>29 ^ h>>47
}

// whole reports whether e is all of its string: two strings with the same
// such edgeKey are equal without comparing their bytes.
func (e edgeKey) whole() bool { return e.n <= 17 }

// same reports whether a, whose edgeKey is e, and b, whose edgeKey is f,
// hold the same bytes: up to 16 bytes by three words, no call to compare.
func (e edgeKey) same(f edgeKey, a, b []byte) bool {
	return e == f && (e.whole() || string(a) == string(b))
}
