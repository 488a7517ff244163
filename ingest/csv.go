// The line formats besides NDJSON: plain text (a whole line is the
// message) and CSV with a header record.

package ingest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

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
	if n := len(raw); n > 0 && raw[n-1] == '\r' {
		// The reader took the record's "\r\n" off; encoding/csv would
		// drop this '\r' too at the end of its input, which the line had not.
		raw = append(raw[:n:n], '\r', '\n')
	}
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
		// A column named twice in the header (or in two cases) keeps its
		// first value; the others are rescued, not lost.
		dup := col >= 0 && b.cells[col].set
		if col < 0 || dup || !b.setText(col, text) {
			if col >= 0 && !dup {
				b.cells[col] = cell{}
			}
			b.rescueField(h.names[i][1:len(h.names[i])-1], h.names[i], appendQuoted(nil, text))
		}
	}
	b.commitRow(f, line, -1)
}
