package ingest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// cell stages one column value of the row being decoded: the row is only
// appended to the Arrow builders once the whole line has parsed. A cell
// holds no pointer (a string is a range of a buffer named by src), so
// clearing and setting cells, once per field and row, costs the collector
// no write barriers.
type cell struct {
	set      bool
	src      uint8 // of a string, binary (decoded) or map object JSON: see cellBytes
	off, end int   // its range in src
	i        int64 // integers, bool (0/1), timestamp µs, date days
	f        float64
}

// Where a cell's bytes are.
const (
	srcLine    = iota // the line being decoded (builder.line)
	srcScratch        // builder.scratch
	srcFile           // the landing file's key
	srcPath           // the column's value from the file's path (fileCtx.pathVals)
	srcOther          // builder.others[off]
)

// lineCell is a cell of raw, a part of the line being decoded.
func (b *builder) lineCell(raw []byte) cell {
	off := cap(b.line) - cap(raw) // raw is b.line[off:off+len(raw)]
	return cell{set: true, src: srcLine, off: off, end: off + len(raw)}
}

// scratchCell is a cell of b.scratch[off:].
func (b *builder) scratchCell(off int) cell {
	return cell{set: true, src: srcScratch, off: off, end: len(b.scratch)}
}

// cellBytes returns the bytes of column col's cell c.
func (b *builder) cellBytes(f *fileCtx, col int, c *cell) []byte {
	switch c.src {
	case srcLine:
		return b.line[c.off:c.end]
	case srcScratch:
		return b.scratch[c.off:c.end]
	case srcFile:
		return f.keyJSON[1 : len(f.keyJSON)-1]
	case srcPath:
		return f.pathVals[col]
	}
	return b.others[c.off]
}

// fileCtx is what rows of one landing file share.
type fileCtx struct {
	key      string
	keyJSON  []byte         // key as a quoted JSON string
	pathVals map[int][]byte // string columns filled from key=value path segments
}

// lineStats counts what a builder produced.
type lineStats struct {
	rows, rescued, bad int64
}

// builder decodes lines into one Arrow record.
type builder struct {
	m          *mapping
	mem        memory.Allocator
	cols       []colBuf
	cells      []cell
	line       []byte   // the line being decoded
	others     [][]byte // values of the row's srcOther cells
	scratch    []byte
	rescue     []byte // rescued fields of the current row: `"k":v,` pairs
	ingestedAt int64  // µs
	ingestDay  int32
	epochUnit  string
	stats      lineStats
	mapScan    scanner
	// lines, when trackLines is set, holds each row's line number since
	// the last finish, so rows refused by the table's constraints can be
	// reported with their source line.
	lines      []int64
	trackLines bool
	keyCache   []cachedKey // see lookup
	posSlot    []uint16    // keyCache slot by field position, see lookup
	// newCols, when not nil, collects unknown fields and the JSON kinds of
	// their values, for SchemaAddNewColumns.
	newCols map[string]valueKind
	// recSchema is the schema of finish's records: m.schema with the
	// columns that are dictionary-encoded (recDict) as dictString.
	recSchema *arrow.Schema
	recDict   []bool
}

// noteNewCol records an unknown field for schema evolution.
func (b *builder) noteNewCol(name []byte, vk valueKind, isInt bool) {
	if b.newCols == nil || vk == vNull {
		return
	}
	if vk == vNumber && !isInt {
		vk = vNumberFloat
	}
	prev, ok := b.newCols[string(name)]
	switch {
	case !ok:
		b.newCols[string(name)] = vk
	case prev == vk:
	case prev == vNumber && vk == vNumberFloat || prev == vNumberFloat && vk == vNumber:
		b.newCols[string(name)] = vNumberFloat
	default:
		b.newCols[string(name)] = vString
	}
}

func newBuilder(m *mapping, mem memory.Allocator, ingestedAt time.Time, epochUnit string) *builder {
	b := &builder{m: m, mem: mem, cells: make([]cell, len(m.cols)), epochUnit: epochUnit}
	b.ingestedAt = ingestedAt.UnixMicro()
	b.ingestDay = int32(floorDiv(b.ingestedAt, 86400e6))
	b.cols = make([]colBuf, len(m.cols))
	for i, f := range m.schema.Fields() {
		b.cols[i] = newColBuf(mem, m.cols[i].kind, f.Type)
	}
	return b
}

// reserve makes room for n more rows.
func (b *builder) reserve(n int) {
	for i := range b.cols {
		b.cols[i].reserve(n)
	}
}

// release frees the builders (after finish or on abort).
func (b *builder) release() {
	for _, c := range b.cols {
		if c.mp != nil {
			c.mp.Release()
		}
	}
}

// encodeDicts dictionary-encodes the string columns while they are
// decoded (see valueDict), except _rescued_data, whose values are all
// distinct. The records then have dictionary columns, which table.Writer
// takes in place of string ones.
func (b *builder) encodeDicts() {
	for i := range b.cols {
		if c := &b.cols[i]; c.kind == kString && i != b.m.rescued && c.n == 0 {
			c.dict = newValueDict()
		}
	}
}

// finish returns the decoded rows as a record; the builder is reusable.
func (b *builder) finish() arrow.Record {
	arrs := make([]arrow.Array, len(b.cols))
	sch := b.schema()
	for i := range b.cols {
		arrs[i] = b.cols[i].array()
	}
	n := int64(0)
	if len(arrs) > 0 {
		n = int64(arrs[0].Len())
	}
	rec := array.NewRecord(sch, arrs, n)
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

// schema returns the schema of the record the columns make now.
func (b *builder) schema() *arrow.Schema {
	same := b.recSchema != nil
	for i := range b.cols {
		same = same && b.recDict[i] == (b.cols[i].dict != nil)
	}
	if same {
		return b.recSchema
	}
	b.recDict = make([]bool, len(b.cols))
	fields := b.m.schema.Fields()
	for i := range b.cols {
		if b.recDict[i] = b.cols[i].dict != nil; b.recDict[i] {
			fields[i].Type = dictString
		}
	}
	md := b.m.schema.Metadata()
	b.recSchema = arrow.NewSchema(fields, &md)
	return b.recSchema
}

func (b *builder) startRow() {
	clear(b.cells)
	clear(b.others)
	b.others = b.others[:0]
	b.scratch = b.scratch[:0]
	b.rescue = b.rescue[:0]
}

// rescueField records an input field the row could not hold, verbatim:
// rawKey is the key's JSON text with quotes, rawVal the value's JSON text.
func (b *builder) rescueField(rawKey, rawVal []byte) {
	b.rescue = append(b.rescue, rawKey...)
	b.rescue = append(b.rescue, ':')
	b.rescue = append(b.rescue, rawVal...)
	b.rescue = append(b.rescue, ',')
}

// commitRow appends the staged row. rescued, when not negative, is where
// in b.scratch the complete _rescued_data value starts (bad lines; it ends
// with b.scratch); otherwise the rescued fields collected in b.rescue, if
// any, are wrapped with file and line.
func (b *builder) commitRow(f *fileCtx, line int64, rescued int) {
	m := b.m
	if rescued < 0 && len(b.rescue) > 0 {
		rescued = len(b.scratch)
		r := append(b.scratch, '{')
		r = append(r, b.rescue...)
		r = append(r, `"_file":`...)
		r = append(r, f.keyJSON...)
		r = append(r, `,"_line":`...)
		r = strconv.AppendInt(r, line, 10)
		r = append(r, '}')
		b.scratch = r
	}
	b.stats.rows++
	if b.trackLines {
		b.lines = append(b.lines, line)
	}
	if rescued >= 0 {
		b.stats.rescued++
		b.cells[m.rescued] = b.scratchCell(rescued)
	}
	b.cells[m.source] = cell{set: true, src: srcFile}
	b.cells[m.ingest] = cell{set: true, i: b.ingestedAt}
	day := b.ingestDay
	if m.ts >= 0 && b.cells[m.ts].set {
		day = int32(floorDiv(b.cells[m.ts].i, 86400e6))
	}
	b.cells[m.date] = cell{set: true, i: int64(day)}
	if len(f.pathVals) > 0 { // ranging over an empty map still costs a call per row
		for col := range f.pathVals {
			if !b.cells[col].set {
				b.cells[col] = cell{set: true, src: srcPath}
			}
		}
	}
	for i := range b.cols {
		c := &b.cols[i]
		v := &b.cells[i]
		if !v.set {
			c.appendNull()
			continue
		}
		switch c.kind {
		case kString, kBinary:
			c.appendBytes(b.cellBytes(f, i, v))
		case kDouble, kFloat:
			c.appendFloat(v.f)
		case kMap:
			c.row(true)
			b.appendMap(c.mp, b.cellBytes(f, i, v))
		default:
			c.appendInt(v.i)
		}
	}
}

// appendMap appends a validated JSON object as map<string,string>: string
// values unescaped, other values as their JSON text, null values null.
func (b *builder) appendMap(mb *array.MapBuilder, obj []byte) {
	kb := mb.KeyBuilder().(*array.StringBuilder)
	ib := mb.ItemBuilder().(*array.StringBuilder)
	mb.Append(true)
	s := &b.mapScan
	*s = scanner{b: obj}
	s.ws()
	s.pos++ // '{'
	var tmp []byte
	for {
		s.ws()
		if s.pos >= len(s.b) || s.b[s.pos] == '}' {
			return
		}
		if s.b[s.pos] == ',' {
			s.pos++
			s.ws()
		}
		raw, esc, err := s.str()
		if err != nil {
			return // cannot happen: obj was validated
		}
		tmp = tmp[:0]
		if esc {
			tmp = unescape(tmp, raw)
			kb.BinaryBuilder.Append(tmp)
		} else {
			kb.BinaryBuilder.Append(raw)
		}
		s.ws()
		s.pos++ // ':'
		vk, vraw, vesc, _, err := s.value(1)
		if err != nil {
			return
		}
		switch {
		case vk == vNull:
			ib.AppendNull()
		case vk == vString && vesc:
			tmp = unescape(tmp[:0], vraw)
			ib.BinaryBuilder.Append(tmp)
		default:
			ib.BinaryBuilder.Append(vraw)
		}
	}
}

// badLine appends a row for input that could not be decoded at all: every
// data column null, _rescued_data {"_file","_line","_error","_raw"} and,
// when the raw bytes are not valid UTF-8, "_raw_base64" with them exactly.
// size is the line's real length when it was cut at the size limit (else 0).
func (b *builder) badLine(f *fileCtx, line int64, raw []byte, errText string, size int64) {
	b.startRow()
	b.stats.bad++
	off := len(b.scratch)
	r := append(b.scratch, `{"_file":`...)
	r = append(r, f.keyJSON...)
	r = append(r, `,"_line":`...)
	r = strconv.AppendInt(r, line, 10)
	r = append(r, `,"_error":`...)
	r = appendQuotedString(r, errText)
	r = append(r, `,"_raw":`...)
	r = appendQuoted(r, raw)
	if !utf8.Valid(raw) {
		r = append(r, `,"_raw_base64":"`...)
		r = base64.StdEncoding.AppendEncode(r, raw)
		r = append(r, '"')
	}
	if size > 0 {
		r = append(r, `,"_size":`...)
		r = strconv.AppendInt(r, size, 10)
		r = append(r, `,"_truncated":true`...)
	}
	r = append(r, '}')
	b.scratch = r
	b.commitRow(f, line, off)
}

// ndjsonLine decodes one NDJSON line (without its newline).
func (b *builder) ndjsonLine(f *fileCtx, line int64, data []byte) {
	b.startRow()
	if err := b.ndjsonFields(data); err != nil {
		b.badLine(f, line, data, err.Error(), 0)
		return
	}
	b.commitRow(f, line, -1)
}

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
			s.ws()
			keyStart := s.pos
			kraw, kesc, err := s.str()
			if err != nil {
				return err
			}
			rawKey := s.b[keyStart:s.pos]
			s.ws()
			if s.pos >= len(s.b) || s.b[s.pos] != ':' {
				return errSyntax
			}
			s.pos++
			s.ws()
			valStart := s.pos
			name := kraw
			if kesc {
				off := len(b.scratch)
				b.scratch = unescape(b.scratch, kraw)
				name = b.scratch[off:]
			}
			col := b.lookup(field, name)
			field++
			vk, vraw, vesc, isInt, err := s.value(1)
			if err != nil {
				return err
			}
			rawVal := s.b[valStart:s.pos]
			switch {
			case col < 0:
				b.noteNewCol(name, vk, isInt)
				b.rescueField(rawKey, rawVal)
			case vk == vNull:
				b.cells[col] = cell{}
			default:
				if !b.setJSON(col, vk, vraw, vesc, isInt) {
					b.cells[col] = cell{}
					b.rescueField(rawKey, rawVal)
				}
			}
			s.ws()
			if s.pos >= len(s.b) {
				return errSyntax
			}
			if s.b[s.pos] == ',' {
				s.pos++
				continue
			}
			if s.b[s.pos] == '}' {
				s.pos++
				break
			}
			return errSyntax
		}
	}
	s.ws()
	if s.pos != len(s.b) {
		return errTrailer
	}
	return nil
}

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
		if k := &b.keyCache[b.posSlot[field]]; k.edge == e && (e.whole() || string(k.name) == string(name)) {
			return k.col
		}
	}
	slot := e.hash() & (keyCacheSize - 1)
	if field < maxPosSlot {
		b.posSlot[field] = uint16(slot)
	}
	k := &b.keyCache[slot]
	if k.edge == e && (e.whole() || string(k.name) == string(name)) {
		return k.col
	}
	k.col = b.m.lookup(name)
	k.name = append(k.name[:0], name...)
	k.edge = e
	return k.col
}

const (
	keyCacheSize = 512 // a power of two
	maxCachedKey = 64
	maxPosSlot   = 64 // fields per line with a remembered slot
)

type cachedKey struct {
	name []byte
	edge edgeKey // of name; zero for an empty slot
	col  int
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

// setJSON stages a JSON value into column col; false if its type does not fit.
func (b *builder) setJSON(col int, vk valueKind, raw []byte, escaped, isInt bool) bool {
	c := &b.cells[col]
	switch b.m.cols[col].kind {
	case kString:
		switch vk {
		case vString:
			if escaped {
				off := len(b.scratch)
				b.scratch = unescape(b.scratch, raw)
				*c = b.scratchCell(off)
				return true
			}
		case vObject, vArray, vNumber, vBool:
			// Nested values keep their JSON text; numbers and booleans
			// their literal text.
		default:
			return false
		}
		*c = b.lineCell(raw)
		return true
	case kMap:
		if vk != vObject {
			return false
		}
		*c = b.lineCell(raw)
		return true
	case kTimestamp:
		switch vk {
		case vString:
			if escaped {
				off := len(b.scratch)
				b.scratch = unescape(b.scratch, raw)
				raw = b.scratch[off:]
			}
			us, ok := parseTimeText(raw, b.epochUnit)
			if !ok {
				return false
			}
			*c = cell{set: true, i: us}
			return true
		case vNumber:
			us, ok := epochMicros(raw, isInt, b.epochUnit)
			if !ok {
				return false
			}
			*c = cell{set: true, i: us}
			return true
		}
		return false
	case kBool:
		if vk != vBool {
			return false
		}
		v := int64(0)
		if raw[0] == 't' {
			v = 1
		}
		*c = cell{set: true, i: v}
		return true
	case kDate:
		if vk != vString || escaped {
			return false
		}
		d, ok := parseDate(raw)
		if !ok {
			return false
		}
		*c = cell{set: true, i: int64(d)}
		return true
	case kBinary:
		if vk != vString || escaped {
			return false
		}
		return b.setText(col, raw)
	default: // numbers
		if vk != vNumber {
			return false
		}
		return b.setNumber(col, raw, isInt)
	}
}

func (b *builder) setNumber(col int, raw []byte, isInt bool) bool {
	c := &b.cells[col]
	k := b.m.cols[col].kind
	if k == kDouble || k == kFloat {
		f, ok := parseFloatBytes(raw)
		if !ok || k == kFloat && math.Abs(f) > math.MaxFloat32 {
			return false
		}
		*c = cell{set: true, f: f}
		return true
	}
	if !isInt {
		return false
	}
	v, ok := parseIntBytes(raw)
	if !ok {
		return false
	}
	var lo, hi int64
	switch k {
	case kLong:
		lo, hi = math.MinInt64, math.MaxInt64
	case kInt:
		lo, hi = math.MinInt32, math.MaxInt32
	case kShort:
		lo, hi = math.MinInt16, math.MaxInt16
	case kByte:
		lo, hi = math.MinInt8, math.MaxInt8
	default:
		return false
	}
	if v < lo || v > hi {
		return false
	}
	*c = cell{set: true, i: v}
	return true
}

// setText stages a value given as text (CSV fields, JSON strings for
// binary) into column col; false if it does not parse as the column's type.
func (b *builder) setText(col int, text []byte) bool {
	c := &b.cells[col]
	switch b.m.cols[col].kind {
	case kString:
		*c = b.otherCell(text)
		return true
	case kBinary:
		off := len(b.scratch)
		out, err := base64.StdEncoding.AppendDecode(b.scratch, text)
		if err != nil {
			return false
		}
		b.scratch = out
		*c = b.scratchCell(off)
		return true
	case kMap:
		s := scanner{b: text}
		s.ws()
		if s.pos >= len(text) || text[s.pos] != '{' || s.skip(1) != nil {
			return false
		}
		s.ws()
		if s.pos != len(text) {
			return false
		}
		*c = b.otherCell(text)
		return true
	case kTimestamp:
		us, ok := parseTimeText(text, b.epochUnit)
		if !ok {
			return false
		}
		*c = cell{set: true, i: us}
		return true
	case kDate:
		d, ok := parseDate(text)
		if !ok {
			return false
		}
		*c = cell{set: true, i: int64(d)}
		return true
	case kBool:
		switch string(text) {
		case "true", "TRUE", "True", "t", "1":
			*c = cell{set: true, i: 1}
		case "false", "FALSE", "False", "f", "0":
			*c = cell{set: true, i: 0}
		default:
			return false
		}
		return true
	default:
		s := scanner{b: text}
		raw, isInt, err := s.number()
		if err != nil || s.pos != len(text) {
			return false
		}
		return b.setNumber(col, raw, isInt)
	}
}

// otherCell is a cell of text, which is kept in b.others until the row is
// committed.
func (b *builder) otherCell(text []byte) cell {
	b.others = append(b.others, text)
	return cell{set: true, src: srcOther, off: len(b.others) - 1}
}

// textLine puts a whole line into the message column.
func (b *builder) textLine(f *fileCtx, line int64, data []byte) {
	data = bytes.TrimSuffix(data, []byte{'\r'})
	if !utf8.Valid(data) {
		b.badLine(f, line, data, errUTF8.Error(), 0)
		return
	}
	b.startRow()
	b.line = data
	b.cells[b.m.message] = b.lineCell(data)
	b.commitRow(f, line, -1)
}

// csvHeader maps a CSV header record to columns (-1: unknown).
type csvHeader struct {
	cols  []int
	names [][]byte // quoted JSON names, for rescue
}

func newCSVHeader(m *mapping, fields []string) *csvHeader {
	h := &csvHeader{}
	for _, name := range fields {
		h.cols = append(h.cols, m.lookup([]byte(name)))
		h.names = append(h.names, appendQuotedString(nil, name))
	}
	return h
}

// parseCSVRecord parses one CSV record (possibly spanning lines).
func parseCSVRecord(raw []byte) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	rec, err := r.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := r.Read(); err != io.EOF {
		return nil, errors.New("more than one CSV record")
	}
	return rec, nil
}

// csvLine decodes one CSV record with header h. Empty fields are null.
func (b *builder) csvLine(f *fileCtx, line int64, raw []byte, h *csvHeader) {
	rec, err := parseCSVRecord(raw)
	if err != nil {
		b.badLine(f, line, raw, "invalid CSV: "+err.Error(), 0)
		return
	}
	if len(rec) != len(h.cols) {
		b.badLine(f, line, raw, "CSV record has "+strconv.Itoa(len(rec))+" fields, header has "+strconv.Itoa(len(h.cols)), 0)
		return
	}
	b.startRow()
	for i, v := range rec {
		if v == "" {
			continue
		}
		text := []byte(v)
		if !utf8.Valid(text) {
			b.badLine(f, line, raw, errUTF8.Error(), 0)
			return
		}
		col := h.cols[i]
		if col < 0 {
			b.noteNewCol(h.names[i][1:len(h.names[i])-1], vString, false)
		}
		if col < 0 || !b.setText(col, text) {
			if col >= 0 {
				b.cells[col] = cell{}
			}
			b.rescueField(h.names[i], appendQuoted(nil, text))
		}
	}
	b.commitRow(f, line, -1)
}

// Time parsing.

const (
	minMicros int64 = -62135596800_000000 // 0001-01-01T00:00:00Z
	maxMicros int64 = 253402300799_999999 // 9999-12-31T23:59:59.999999Z
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, len(b) > 0
}

// parseDate parses YYYY-MM-DD to days since the epoch.
func parseDate(b []byte) (int32, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(b[0:4])
	m, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return int32(daysFromCivil(y, m, d)), true
}

// parseTimeText parses an RFC 3339 timestamp (also with a space for 'T',
// and without a zone, which means UTC) or a numeric epoch, to µs UTC.
func parseTimeText(b []byte, unit string) (int64, bool) {
	if us, ok := fastRFC3339(b); ok {
		return us, true
	}
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		s := scanner{b: b}
		if raw, isInt, err := s.number(); err == nil && s.pos == len(b) {
			return epochMicros(raw, isInt, unit)
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02 15:04:05.999999999Z07:00", time.RFC1123Z} {
		if t, err := time.Parse(layout, string(b)); err == nil {
			us := t.UnixMicro()
			if t.Year() < 1 || t.Year() > 9999 {
				return 0, false
			}
			return us, true
		}
	}
	return 0, false
}

// fastRFC3339 parses YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH:MM] without
// allocating; anything else is left to the slow path.
func fastRFC3339(b []byte) (int64, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	y, ok1 := digits(b[0:4])
	mo, ok2 := digits(b[5:7])
	d, ok3 := digits(b[8:10])
	h, ok4 := digits(b[11:13])
	mi, ok5 := digits(b[14:16])
	s, ok6 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59 {
		return 0, false
	}
	rest := b[19:]
	var frac int64
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := int64(100000)
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			if i <= 6 {
				frac += int64(rest[i]-'0') * scale
				scale /= 10
			}
			i++
		}
		if i == 1 || i > 10 {
			return 0, false
		}
		rest = rest[i:]
	}
	var off int64
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return 0, false
		}
		off = (oh*60 + om) * 60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	sec := daysFromCivil(y, mo, d)*86400 + h*3600 + mi*60 + s - off
	us := sec*1e6 + frac
	if us < minMicros || us > maxMicros {
		return 0, false
	}
	return us, true
}

// epochMicros converts a numeric epoch to µs. unit "s", "ms", "us", "ns"
// fixes the unit; otherwise it is inferred from the magnitude: below 1e11
// seconds, below 1e14 milliseconds, below 1e17 microseconds, else
// nanoseconds.
func epochMicros(raw []byte, isInt bool, unit string) (int64, bool) {
	var f float64
	var v int64
	if isInt {
		var ok bool
		if v, ok = parseIntBytes(raw); !ok {
			return 0, false
		}
		f = float64(v)
	} else {
		var ok bool
		if f, ok = parseFloatBytes(raw); !ok || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
	}
	if unit == "" || unit == "auto" {
		switch a := math.Abs(f); {
		case a < 1e11:
			unit = "s"
		case a < 1e14:
			unit = "ms"
		case a < 1e17:
			unit = "us"
		default:
			unit = "ns"
		}
	}
	var us int64
	if isInt {
		switch unit {
		case "s":
			if v > maxMicros/1e6 || v < minMicros/1e6 {
				return 0, false
			}
			us = v * 1e6
		case "ms":
			if v > maxMicros/1e3 || v < minMicros/1e3 {
				return 0, false
			}
			us = v * 1e3
		case "us":
			us = v
		case "ns":
			us = floorDiv(v, 1e3)
		}
	} else {
		var mul float64
		switch unit {
		case "s":
			mul = 1e6
		case "ms":
			mul = 1e3
		case "us":
			mul = 1
		case "ns":
			mul = 1e-3
		}
		x := math.Floor(f*mul + 0.5)
		if x > float64(maxMicros) || x < float64(minMicros) {
			return 0, false
		}
		us = int64(x)
	}
	if us < minMicros || us > maxMicros {
		return 0, false
	}
	return us, true
}
