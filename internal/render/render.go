// Package render prints rows in loglake's output formats: an aligned table
// for people, CSV, NDJSON and a JSON array for scripts. It is the one row
// renderer: `loglake scan`, `loglake query` and every command that prints
// rows or a summary go through it, so a value prints the same everywhere.
//
// Callers hand it plain values (nil, bool, numbers, json.Number, string,
// []any, map[string]any); converting engine-specific values (Arrow,
// DuckDB) into plain ones is the caller's job.
package render

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// ErrFormat reports an unknown output format.
var ErrFormat = errors.New("unknown output format")

// Format is an output format.
type Format string

// The output formats.
const (
	// Table is aligned columns under a header line, for people.
	Table Format = "table"
	// CSV is RFC 4180 CSV with a header row.
	CSV Format = "csv"
	// NDJSON is one JSON object per row, keys in column order.
	NDJSON Format = "ndjson"
	// JSON is one JSON array of row objects.
	JSON Format = "json"
)

// Formats lists every format, in the order help texts show them.
var Formats = []Format{Table, JSON, NDJSON, CSV}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Table, CSV, NDJSON, JSON:
		return f, nil
	}
	return "", fmt.Errorf("%w %q: want table, json, ndjson or csv", ErrFormat, s)
}

// Writer writes rows in one format. Rows are buffered; Close flushes them
// (a table needs every row to align its columns).
type Writer struct {
	f     Format
	bw    *bufio.Writer
	cw    *csv.Writer
	tw    *tabwriter.Writer
	keys  [][]byte
	cells []string
	buf   []byte
	n     int64
	err   error
}

// NewWriter starts writing rows with the given column names to w.
func NewWriter(w io.Writer, f Format, columns []string) (*Writer, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return nil, err
	}
	rw := &Writer{f: f, bw: bufio.NewWriterSize(w, 1<<16), cells: make([]string, len(columns))}
	rw.keys = make([][]byte, len(columns))
	for i, c := range columns {
		rw.keys[i], _ = json.Marshal(c)
	}
	switch f {
	case CSV:
		rw.cw = csv.NewWriter(rw.bw)
		rw.err = rw.cw.Write(columns)
	case Table:
		rw.tw = tabwriter.NewWriter(rw.bw, 0, 4, 2, ' ', 0)
		_, rw.err = fmt.Fprintln(rw.tw, strings.Join(escapeCells(columns), "\t"))
	case JSON:
		_, rw.err = rw.bw.WriteString("[")
	}
	return rw, rw.err
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int64 { return w.n }

// Row writes one row; vals holds one plain value per column.
func (w *Writer) Row(vals []any) error {
	if w.err != nil {
		return w.err
	}
	if len(vals) != len(w.keys) {
		return fmt.Errorf("render: row has %d values for %d columns", len(vals), len(w.keys))
	}
	switch w.f {
	case NDJSON, JSON:
		w.buf = w.buf[:0]
		if w.f == JSON {
			if w.n > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, '\n')
		}
		w.buf = append(w.buf, '{')
		for i, v := range vals {
			v = finite(v)
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, w.keys[i]...)
			w.buf = append(w.buf, ':')
			b, err := Marshal(v)
			if err != nil {
				w.err = err
				return err
			}
			w.buf = append(w.buf, b...)
		}
		w.buf = append(w.buf, '}')
		if w.f == NDJSON {
			w.buf = append(w.buf, '\n')
		}
		_, w.err = w.bw.Write(w.buf)
	case CSV:
		for i, v := range vals {
			w.cells[i] = Cell(finite(v))
		}
		w.err = w.cw.Write(w.cells)
	case Table:
		for i, v := range vals {
			w.cells[i] = Cell(finite(v))
		}
		_, w.err = fmt.Fprintln(w.tw, strings.Join(escapeCells(w.cells), "\t"))
	}
	if w.err == nil {
		w.n++
	}
	return w.err
}

// Close finishes the output (the table's alignment, the JSON array's end)
// and flushes it. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	switch w.f {
	case CSV:
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return err
		}
	case Table:
		if err := w.tw.Flush(); err != nil {
			return err
		}
	case JSON:
		if w.n > 0 {
			w.bw.WriteString("\n")
		}
		w.bw.WriteString("]\n")
	}
	return w.bw.Flush()
}

// Marshal encodes v as JSON without HTML escaping (log lines are full of
// < and &, and escaping them would make output unreadable).
func Marshal(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// Cell renders a plain value for csv and table output: NULL is empty,
// strings as they are, lists and objects as JSON.
func Cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	case map[string]any, []any:
		b, _ := Marshal(v)
		return string(b)
	}
	return fmt.Sprint(v)
}

// finite keeps NaN and infinities, which JSON cannot hold, as strings
// (Spark's spelling).
func finite(v any) any {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		return v
	}
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return v
}

var cellEscaper = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`)

// escapeCells keeps tabs and newlines inside values from breaking the
// table layout.
func escapeCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = cellEscaper.Replace(c)
	}
	return out
}
