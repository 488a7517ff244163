// The row builder every line format decodes into: a line's fields are
// staged as cells, converted to the column's type (setJSON, setText), and
// appended to the column buffers only once the whole line has parsed;
// fields that do not fit, and lines that do not parse, are rescued.

package ingest

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
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
//
// A cell is 16 bytes, one word of value: every row clears and copies each
// column's cell, so its size is paid per column and row (a 40-byte cell was
// 1 % of ingesting short lines in clearing alone).
type cell struct {
	// i is the value: integers, bool (0/1), timestamp µs, date days, a
	// float's bits (float), a dictionary index (srcDict), an index into
	// builder.others (srcOther), or a byte range of src (span): start in
	// the low 32 bits, end in the high. Lines are at most maxLineLimit
	// bytes, so ranges of a line or of the row's scratch fit.
	i   int64
	set bool
	src uint8 // of a string, binary (decoded) or map object JSON: see cellBytes
}

// spanCell is a cell of bytes [off, end) of src.
func spanCell(src uint8, off, end int) cell {
	return cell{set: true, src: src, i: int64(uint64(uint32(off)) | uint64(uint32(end))<<32)}
}

// span returns the byte range of a spanCell.
func (c *cell) span() (off, end int) {
	return int(uint32(c.i)), int(uint32(uint64(c.i) >> 32))
}

// floatCell is a cell holding f.
func floatCell(f float64) cell { return cell{set: true, i: int64(math.Float64bits(f))} }

// float returns the value of a floatCell.
func (c *cell) float() float64 { return math.Float64frombits(uint64(c.i)) }

// Where a cell's bytes are.
const (
	srcLine    = iota // the line being decoded (builder.line)
	srcScratch        // builder.scratch
	srcFile           // the landing file's key
	srcPath           // the column's value from the file's path (fileCtx.pathVals)
	srcOther          // builder.others[off]
	srcDict           // entry i of the column's valueDict (see dictValue)
)

// lineCell is a cell of raw, a part of the line being decoded.
func (b *builder) lineCell(raw []byte) cell {
	off := cap(b.line) - cap(raw) // raw is b.line[off:off+len(raw)]
	return spanCell(srcLine, off, off+len(raw))
}

// scratchCell is a cell of b.scratch[off:].
func (b *builder) scratchCell(off int) cell {
	return spanCell(srcScratch, off, len(b.scratch))
}

// cellBytes returns the bytes of column col's cell c.
func (b *builder) cellBytes(f *fileCtx, col int, c *cell) []byte {
	switch c.src {
	case srcLine:
		off, end := c.span()
		return b.line[off:end]
	case srcScratch:
		off, end := c.span()
		return b.scratch[off:end]
	case srcFile:
		return f.keyBytes
	case srcPath:
		return f.pathVals[col]
	}
	return b.others[c.i]
}

// newFileCtx returns the context of the landing file key (no path values).
func newFileCtx(key string) *fileCtx {
	// A key that is not valid UTF-8 cannot be a string value (DuckDB
	// refuses the column): its bad bytes become U+FFFD, as in keyJSON.
	return &fileCtx{key: key, keyBytes: []byte(strings.ToValidUTF8(key, "\uFFFD")), keyJSON: appendQuotedString(nil, key)}
}

// fileCtx is what rows of one landing file share.
type fileCtx struct {
	key      string
	listed   ManifestFile   // the file as its batch listed it (zero in tests that build one alone)
	keyBytes []byte         // key, for _source_file
	keyJSON  []byte         // key as a quoted JSON string, for _rescued_data
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
	hours      hourCache // of parseTimeText
	stats      lineStats
	mapEntries entries  // appendMap and uniqueKeys walk map objects with it
	mapKeys    [][]byte // uniqueKeys' keys seen
	// lines, when trackLines is set, holds each row's line number since
	// the last finish, so rows refused by the table's constraints can be
	// reported with their source line.
	lines      []int64
	trackLines bool
	keyCache   []cachedKey // see lookup
	posSlot    []uint16    // keyCache slot by field position, see lookup
	keyByStart [256]uint16 // keyCache slot by startHash, see knownKey
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
	if b.newCols == nil || vk == vNull || !validColumnName(string(name)) {
		return // a name no column can have stays rescued (a new column would loop the batch)
	}
	if vk == vNumber && !isInt {
		vk = vNumberFloat
	}
	if prev, ok := b.newCols[string(name)]; ok {
		vk = widen(prev, vk)
	}
	b.newCols[string(name)] = vk
}

// widen returns the kind of a new column seen with values of kinds a and
// b: double for integers and floats, else string unless they agree.
func widen(a, b valueKind) valueKind {
	switch {
	case a == b:
		return a
	case (a == vNumber || a == vNumberFloat) && (b == vNumber || b == vNumberFloat):
		return vNumberFloat
	}
	return vString
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
// name is its key, rawKey the key's JSON text with quotes, rawVal the
// value's JSON text. A key the rescue's envelope uses itself (_file, _line),
// or such a name with more leading underscores, gets one more: a JSON
// reader keeps one value of a repeated key, and would lose the field.
func (b *builder) rescueField(name, rawKey, rawVal []byte) {
	if envelopeName(name) {
		b.rescue = append(b.rescue, '"', '_')
		rawKey = rawKey[1:]
	}
	b.rescue = append(b.rescue, rawKey...)
	b.rescue = append(b.rescue, ':')
	b.rescue = append(b.rescue, rawVal...)
	b.rescue = append(b.rescue, ',')
}

// envelopeName reports whether name is _file or _line after any number of
// leading underscores.
func envelopeName(name []byte) bool {
	i := 0
	for i < len(name) && name[i] == '_' {
		i++
	}
	return i > 0 && (string(name[i:]) == "file" || string(name[i:]) == "line")
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
	cells := b.cells[:len(b.cols)]
	for i := range b.cols {
		c, v := &b.cols[i], &cells[i]
		if !v.set {
			c.appendNull()
			continue
		}
		switch c.kind {
		case kString, kBinary:
			if v.src == srcDict {
				c.appendIndex(int32(v.i))
				continue
			}
			c.appendBytes(b.cellBytes(f, i, v))
		case kDouble, kFloat:
			c.appendFloat(v.float())
		case kMap:
			c.n++
			b.appendMap(c.mp, b.cellBytes(f, i, v))
		default:
			c.appendInt(v.i)
		}
	}
}

// entries walks the entries of a JSON object validated before.
type entries struct{ s scanner }

func (e *entries) start(obj []byte) {
	e.s = scanner{b: obj}
	e.s.ws()
	e.s.pos++ // '{'
}

// next returns the next entry's raw key and value; ok is false at the end.
func (e *entries) next() (key []byte, keyEsc bool, vk valueKind, val []byte, valEsc, ok bool) {
	s := &e.s
	s.ws()
	if s.pos >= len(s.b) || s.b[s.pos] == '}' {
		return
	}
	if s.b[s.pos] == ',' {
		s.pos++
		s.ws()
	}
	key, keyEsc, err := s.str()
	if err != nil {
		return // cannot happen: the object was validated
	}
	s.ws()
	s.pos++ // ':'
	vk, val, valEsc, _, err = s.value(1)
	return key, keyEsc, vk, val, valEsc, err == nil
}

// uniqueKeys reports whether a validated JSON object names each key once
// (after unescaping): a map<string,string> cannot hold it otherwise, so
// the object is rescued whole rather than losing a value.
func (b *builder) uniqueKeys(obj []byte) bool {
	e := &b.mapEntries
	e.start(obj)
	keys := b.mapKeys[:0]
	defer func() { b.mapKeys = keys[:0] }()
	var set map[string]bool // past a few keys, so a hostile object costs linear time
	for {
		k, esc, _, _, _, ok := e.next()
		if !ok {
			return true
		}
		if esc {
			k = unescape(nil, k)
		}
		if set != nil {
			if set[string(k)] {
				return false
			}
			set[string(k)] = true
			continue
		}
		for _, seen := range keys {
			if string(seen) == string(k) {
				return false
			}
		}
		if keys = append(keys, k); len(keys) == 16 {
			set = make(map[string]bool, 64)
			for _, k := range keys {
				set[string(k)] = true
			}
		}
	}
}

// appendMap appends a validated JSON object with unique keys as
// map<string,string>: string values unescaped, other values as their JSON
// text, null values null.
func (b *builder) appendMap(mb *array.MapBuilder, obj []byte) {
	kb := mb.KeyBuilder().(*array.StringBuilder)
	ib := mb.ItemBuilder().(*array.StringBuilder)
	mb.Append(true)
	e := &b.mapEntries
	e.start(obj)
	var tmp []byte
	for {
		key, keyEsc, vk, val, valEsc, ok := e.next()
		if !ok {
			return
		}
		if keyEsc {
			tmp = unescape(tmp[:0], key)
			kb.BinaryBuilder.Append(tmp)
		} else {
			kb.BinaryBuilder.Append(key)
		}
		switch {
		case vk == vNull:
			ib.AppendNull()
		case vk == vString && valEsc:
			tmp = unescape(tmp[:0], val)
			ib.BinaryBuilder.Append(tmp)
		default:
			ib.BinaryBuilder.Append(val)
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
		if vk != vObject || !b.uniqueKeys(raw) {
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
			us, ok := parseTimeText(raw, b.epochUnit, &b.hours)
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
		*c = floatCell(f)
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
		if s.pos != len(text) || !b.uniqueKeys(text) {
			return false
		}
		*c = b.otherCell(text)
		return true
	case kTimestamp:
		us, ok := parseTimeText(text, b.epochUnit, &b.hours)
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
	return cell{set: true, src: srcOther, i: int64(len(b.others) - 1)}
}
