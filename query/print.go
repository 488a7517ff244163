package query

import (
	"bufio"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrFormat reports an unknown output format.
var ErrFormat = errors.New("query: unknown output format")

// Format is a result output format.
type Format string

// The output formats.
const (
	// FormatTable is aligned columns under a header line, for people.
	FormatTable Format = "table"
	// FormatCSV is RFC 4180 CSV with a header row.
	FormatCSV Format = "csv"
	// FormatNDJSON is one JSON object per row, keys in column order.
	FormatNDJSON Format = "ndjson"
	// FormatJSON is one JSON array of row objects.
	FormatJSON Format = "json"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatTable, FormatCSV, FormatNDJSON, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("%w %q: want table, csv, ndjson or json", ErrFormat, s)
}

// WriteRows prints every row of rows to w in format f and returns the number
// of rows. Values are rendered as in `loglake scan`: NULL as JSON null (an
// empty cell in csv and table), timestamps as RFC 3339 in UTC, dates as
// 2006-01-02, BLOBs as base64, lists and structs as JSON. It does not close
// rows.
func WriteRows(w io.Writer, rows *sql.Rows, f Format) (int64, error) {
	if _, err := ParseFormat(string(f)); err != nil {
		return 0, err
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cts))
	types := make([]string, len(cts))
	keys := make([][]byte, len(cts))
	for i, ct := range cts {
		names[i] = ct.Name()
		types[i] = ct.DatabaseTypeName()
		keys[i], _ = json.Marshal(names[i])
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var (
		cw  *csv.Writer
		tw  *tabwriter.Writer
		buf []byte
	)
	switch f {
	case FormatCSV:
		cw = csv.NewWriter(bw)
		if err := cw.Write(names); err != nil {
			return 0, err
		}
	case FormatTable:
		tw = tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(cellsEscaped(names), "\t"))
	case FormatJSON:
		bw.WriteString("[")
	}
	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	cells := make([]string, len(cts))
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i := range vals {
			vals[i] = plain(vals[i], types[i])
		}
		switch f {
		case FormatNDJSON, FormatJSON:
			buf = buf[:0]
			if f == FormatJSON {
				if n > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, "\n"...)
			}
			buf = append(buf, '{')
			for i, v := range vals {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, keys[i]...)
				buf = append(buf, ':')
				b, err := marshal(v)
				if err != nil {
					return n, err
				}
				buf = append(buf, b...)
			}
			buf = append(buf, '}')
			if f == FormatNDJSON {
				buf = append(buf, '\n')
			}
			if _, err := bw.Write(buf); err != nil {
				return n, err
			}
		default:
			for i, v := range vals {
				cells[i] = cellString(v)
			}
			if cw != nil {
				if err := cw.Write(cells); err != nil {
					return n, err
				}
			} else {
				fmt.Fprintln(tw, strings.Join(cellsEscaped(cells), "\t"))
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	switch f {
	case FormatCSV:
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	case FormatTable:
		if err := tw.Flush(); err != nil {
			return n, err
		}
	case FormatJSON:
		if n > 0 {
			bw.WriteString("\n")
		}
		bw.WriteString("]\n")
	}
	return n, bw.Flush()
}

func marshal(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// cellsEscaped keeps tabs and newlines inside values from breaking the
// table layout.
func cellsEscaped(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(c)
	}
	return out
}

// cellString renders a plain value for csv and table output.
func cellString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	case map[string]any, []any:
		b, _ := marshal(v)
		return string(b)
	}
	return fmt.Sprint(v)
}

// plain converts a value scanned from DuckDB into a JSON-ready one. typ is
// the column's DuckDB type name; nested values carry no type, so times
// inside lists and structs print as timestamps.
func plain(v any, typ string) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return x
	case float32:
		return plainFloat(float64(x), 32)
	case float64:
		return plainFloat(x, 64)
	case *big.Int:
		return json.Number(x.String())
	case duckdb.Decimal:
		return json.Number(x.String())
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case duckdb.UUID:
		h := hex.EncodeToString(x[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case time.Time:
		switch typ {
		case "DATE":
			return x.Format(time.DateOnly)
		case "TIME":
			return x.Format("15:04:05.999999")
		case "TIMETZ":
			return x.Format("15:04:05.999999Z07:00")
		}
		return x.UTC().Format(time.RFC3339Nano)
	case duckdb.Interval:
		return map[string]any{"months": x.Months, "days": x.Days, "micros": x.Micros}
	case duckdb.Union:
		return plain(x.Value, "")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e, "")
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e, "")
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := plain(k, "").(string)
			if !ok {
				ks = cellString(plain(k, ""))
			}
			out[ks] = plain(e, "")
		}
		return out
	}
	return fmt.Sprint(v)
}

// plainFloat keeps NaN and infinities, which JSON cannot hold, as strings
// (Spark's spelling).
func plainFloat(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}
