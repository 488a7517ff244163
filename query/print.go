package query

import (
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/internal/render"
)

// ErrFormat reports an unknown output format.
var ErrFormat = render.ErrFormat

// Format is a result output format; the formats are internal/render's,
// shared with every loglake command.
type Format = render.Format

// The output formats.
const (
	// FormatTable is aligned columns under a header line, for people.
	FormatTable = render.Table
	// FormatCSV is RFC 4180 CSV with a header row.
	FormatCSV = render.CSV
	// FormatNDJSON is one JSON object per row, keys in column order.
	FormatNDJSON = render.NDJSON
	// FormatJSON is one JSON array of row objects.
	FormatJSON = render.JSON
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) { return render.ParseFormat(s) }

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
	for i, ct := range cts {
		names[i] = ct.Name()
		types[i] = ct.DatabaseTypeName()
	}
	rw, err := render.NewWriter(w, f, names)
	if err != nil {
		return 0, err
	}
	vals := make([]any, len(cts))
	ptrs := make([]any, len(cts))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return rw.Rows(), err
		}
		for i := range vals {
			vals[i] = plain(vals[i], types[i])
		}
		if err := rw.Row(vals); err != nil {
			return rw.Rows(), err
		}
	}
	if err := rows.Err(); err != nil {
		return rw.Rows(), err
	}
	return rw.Rows(), rw.Close()
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
				ks = render.Cell(plain(k, ""))
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
