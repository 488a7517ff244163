package ingest

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// allKinds is a schema with a column of every kind the decoder fills.
func allKinds(t *testing.T) *mapping {
	t.Helper()
	sch, err := ParseSchema([]byte("ts timestamp, s string, l long, i int, sh short, by byte, d double, f float, b boolean, dt date, bin binary, m map<string,string>"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMapping(completeSchema(sch).Arrow(), "ts", []string{ColDate})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestColumnBuffers decodes rows into every column kind, with nulls in
// varying places and key orders that change from line to line, over
// several records from one builder, and checks every value and null of
// the Arrow arrays the column buffers hand out: with string columns
// plain, and dictionary-encoded (the distinct strings of column s make it
// leave its dictionary in the last record, after nulls).
func TestColumnBuffers(t *testing.T) {
	for _, dicts := range []bool{false, true} {
		t.Run(fmt.Sprint("dictionaries=", dicts), func(t *testing.T) { testColumnBuffers(t, dicts) })
	}
}

func testColumnBuffers(t *testing.T, dicts bool) {
	m := allKinds(t)
	b := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
	defer b.release()
	if dicts {
		b.encodeDicts()
	}
	f := newFileCtx("k")
	names := []string{"ts", "s", "l", "i", "sh", "by", "d", "f", "b", "dt", "bin", "m"}
	present := func(k, col int) bool { return (k+col)%3 != 0 && (k*7+col)%5 != 0 }
	value := func(k, col int) string {
		switch names[col] {
		case "ts":
			return fmt.Sprint(1795514400 + k)
		case "s":
			return fmt.Sprintf(`"s-%d\t\u00e9"`, k)
		case "l":
			return fmt.Sprint(int64(k) * 1e12)
		case "i":
			return fmt.Sprint(-k * 100000)
		case "sh":
			return fmt.Sprint(k % 300 * 100)
		case "by":
			return fmt.Sprint(-(k % 100))
		case "d":
			return fmt.Sprint(float64(k) + 0.5)
		case "f":
			return fmt.Sprint(float64(k) + 0.25)
		case "b":
			return fmt.Sprint(k%2 == 0)
		case "dt":
			return fmt.Sprintf(`"2026-11-%02d"`, k%28+1)
		case "bin":
			return `"` + base64.StdEncoding.EncodeToString([]byte(fmt.Sprint("bin-", k))) + `"`
		default:
			return fmt.Sprintf(`{"k":"v-%d","n":%d}`, k, k)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	row := 0
	for _, n := range []int{1, 7, 8, 9, 30, 2 * minDistinctRule} { // rows per record: around the bitmap's bytes
		b.reserve(n)
		for k := row; k < row+n; k++ {
			var fields []string
			for _, col := range r.Perm(len(names)) {
				if present(k, col) {
					name := names[col]
					if k%4 == 0 {
						name = strings.ToUpper(name) // case-insensitive match
					}
					fields = append(fields, fmt.Sprintf("%q:%s", name, value(k, col)))
				} else if k%2 == 0 {
					fields = append(fields, fmt.Sprintf("%q:null", names[col]))
				}
			}
			b.ndjsonLine(f, int64(k+1), []byte("{"+strings.Join(fields, ",")+"}"))
		}
		rec := b.finish()
		if rec.NumRows() != int64(n) {
			t.Fatalf("%d rows, want %d", rec.NumRows(), n)
		}
		for j := range n {
			k := row + j
			if rd := rec.Column(m.rescued); rd.IsValid(j) {
				t.Fatalf("row %d rescued %s", k, rd.ValueStr(j))
			}
			for col, name := range names {
				a := rec.Column(col)
				if !present(k, col) {
					if a.IsValid(j) {
						t.Fatalf("row %d %s = %s, want null", k, name, a.ValueStr(j))
					}
					continue
				}
				if !a.IsValid(j) {
					t.Fatalf("row %d %s is null, want %s", k, name, value(k, col))
				}
				var got, want any
				switch a := a.(type) {
				case *array.Timestamp:
					got, want = int64(a.Value(j)), int64(1795514400+k)*1e6
				case *array.String, *array.Dictionary:
					got, _ = stringAt(a, j)
					want = fmt.Sprintf("s-%d\té", k)
				case *array.Int64:
					got, want = a.Value(j), int64(k)*1e12
				case *array.Int32:
					got, want = a.Value(j), int32(-k*100000)
				case *array.Int16:
					got, want = a.Value(j), int16(k%300*100)
				case *array.Int8:
					got, want = a.Value(j), int8(-(k % 100))
				case *array.Float64:
					got, want = a.Value(j), float64(k)+0.5
				case *array.Float32:
					got, want = a.Value(j), float32(k)+0.25
				case *array.Boolean:
					got, want = a.Value(j), k%2 == 0
				case *array.Date32:
					got, want = a.Value(j).FormattedString(), fmt.Sprintf("2026-11-%02d", k%28+1)
				case *array.Binary:
					got, want = string(a.Value(j)), fmt.Sprint("bin-", k)
				case *array.Map:
					got, want = a.ValueStr(j), fmt.Sprintf(`[{"key":"k","value":"v-%d"},{"key":"n","value":"%d"}]`, k, k)
				default:
					t.Fatalf("column %s: unexpected array %T", name, a)
				}
				if got != want {
					t.Fatalf("row %d %s = %v, want %v", k, name, got, want)
				}
			}
			if got, _ := stringAt(rec.Column(m.source), j); got != "k" {
				t.Fatalf("row %d _source_file = %q", k, got)
			}
		}
		for col := range rec.NumCols() {
			if v, ok := rec.Column(int(col)).(interface{ ValidateFull() error }); ok {
				if err := v.ValidateFull(); err != nil {
					t.Fatalf("column %d: %v", col, err)
				}
			}
		}
		rec.Release()
		for i, c := range b.cols { // nothing carried into the next record
			if c.n != 0 || c.nulls != 0 || len(c.nullRows) != 0 || len(c.data) != 0 {
				t.Fatalf("column %d keeps %d rows, %d nulls, %d null row numbers, %d data bytes", i, c.n, c.nulls, len(c.nullRows), len(c.data))
			}
		}
		row += n
	}
}

// TestKeyCache checks the builder's key cache (knownKey, then lookup)
// against mapping.lookup on keys in every order, of every case, unknown,
// too long to cache, and enough of them to collide in the cache.
func TestKeyCache(t *testing.T) {
	m := allKinds(t)
	b := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
	defer b.release()
	names := []string{"ts", "s", "l", "i", "sh", "by", "d", "f", "b", "dt", "bin", "m", "TS", "Bin", "tS",
		"_rescued_data", "date", "unknown", strings.Repeat("x", maxCachedKey), strings.Repeat("x", maxCachedKey+1), ""}
	for i := range 3 * keyCacheSize {
		names = append(names, fmt.Sprintf("k%d", i))
	}
	r := rand.New(rand.NewPCG(3, 4))
	// Lines of fields: some keep the previous line's order, some reorder
	// it, some bring other keys; positions run past maxPosSlot.
	var line []string
	for range 2000 {
		switch r.IntN(3) {
		case 0:
			line = line[:0]
			for range r.IntN(maxPosSlot + 10) {
				name := names[r.IntN(len(names))]
				if r.IntN(2) == 0 {
					name = names[r.IntN(15)] // the columns, often
				}
				line = append(line, name)
			}
		case 1:
			r.Shuffle(len(line), func(i, j int) { line[i], line[j] = line[j], line[i] })
		}
		for field, name := range line {
			// As ndjsonFields does: knownKey on the key's JSON text (and
			// what follows it in a line), lookup when it finds nothing.
			text := []byte(`"` + name + `":1,"x":2}`)
			if k := b.knownKey(text, 0); k != nil {
				if string(k.name) != name || k.col != m.lookup([]byte(name)) {
					t.Fatalf("knownKey(%q) = %q (column %d), want column %d", text, k.name, k.col, m.lookup([]byte(name)))
				}
				continue
			}
			if got, want := b.lookup(field, []byte(name)), m.lookup([]byte(name)); got != want {
				t.Fatalf("lookup(%d, %q) = %d, want %d", field, name, got, want)
			}
		}
	}
}

// TestSkipPlain checks the word-at-a-time scan against the byte table, on
// strings that put every kind of byte at every offset of a word.
func TestSkipPlain(t *testing.T) {
	slow := func(b []byte, i int) int {
		for i < len(b) && plain[b[i]] {
			i++
		}
		return i
	}
	r := rand.New(rand.NewPCG(5, 6))
	for c := range 256 {
		for n := range 24 {
			for at := range n + 1 {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(0x20 + r.IntN(0x5f)) // printable ASCII
					if !plain[b[i]] {
						b[i] = 'a'
					}
				}
				if at < n {
					b[at] = byte(c)
				}
				for start := range n + 1 {
					if got, want := skipPlain(b, start), slow(b, start); got != want {
						t.Fatalf("skipPlain(%q, %d) = %d, want %d", b, start, got, want)
					}
				}
			}
		}
	}
}

// TestDecodeFallbacks runs lines through one builder, so its key cache
// holds the earlier lines' keys and order, and checks the cases the fast
// paths must hand back: reordered keys, duplicates (the last wins, as in
// encoding/json), escaped keys, case variants, values out of a column's
// range, bad UTF-8.
func TestDecodeFallbacks(t *testing.T) {
	m := allKinds(t)
	b := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
	defer b.release()
	f := newFileCtx("k")
	type want struct{ s, by, ts, rescued string }
	cases := []struct {
		line string
		want want
	}{
		{`{"ts":1795514400000,"s":"a","by":1}`, want{"a", "1", "1795514400000000", ""}},
		{`{"by":2,"ts":1795514400001,"s":"b"}`, want{"b", "2", "1795514400001000", ""}},
		{`{"s":"c","s":"d","by":3}`, want{"c", "3", "", `{"s":"d","_file":"k","_line":3}`}},
		{`{"\u0073":"e","B\u0059":4}`, want{"e", "4", "", ""}},
		{`{"S":"f","xA":1,"x\u0041":2}`, want{"f", "", "", `{"xA":1,"x\u0041":2,"_file":"k","_line":5}`}},
		{`{"s":"g","by":300,"ts":1e300}`, want{"g", "", "", `{"by":300,"ts":1e300,"_file":"k","_line":6}`}},
		{`{"s":"h","by":-129,"ts":-99999999999999999999}`, want{"h", "", "", `{"by":-129,"ts":-99999999999999999999,"_file":"k","_line":7}`}},
		{"{\"s\":\"i\",\"b\xffy\":1}", want{"", "", "", `{"_file":"k","_line":8,"_error":"invalid UTF-8","_raw":"{\"s\":\"i\",\"b\ufffdy\":1}","_raw_base64":"eyJzIjoiaSIsImL/eSI6MX0="}`}},
		{`{"ts":"2026-11-24 10:00:00+05:30","s":"j\u00e9","by":null}`, want{"jé", "", "1795494600000000", ""}},
	}
	b.reserve(len(cases))
	for i, c := range cases {
		b.ndjsonLine(f, int64(i+1), []byte(c.line))
	}
	rec := b.finish()
	defer rec.Release()
	str := func(col, row int) string {
		a := rec.Column(col)
		if a.IsNull(row) {
			return ""
		}
		switch a := a.(type) {
		case *array.String:
			return a.Value(row)
		case *array.Int8:
			return fmt.Sprint(a.Value(row))
		case *array.Timestamp:
			return fmt.Sprint(int64(a.Value(row)))
		}
		t.Fatalf("column %d: %T", col, a)
		return ""
	}
	for i, c := range cases {
		got := want{str(m.byName["s"], i), str(m.byName["by"], i), str(m.ts, i), str(m.rescued, i)}
		if got != c.want {
			t.Errorf("line %s:\n got %+v\nwant %+v", c.line, got, c.want)
		}
	}
}

// TestParseIntBytes checks parseIntBytes against strconv.ParseInt on JSON
// integers of every length around the 18-digit fast path and the int64
// limits, and that anything else is refused.
func TestParseIntBytes(t *testing.T) {
	cases := []string{"", "-", "0", "-0", "7", "-7", "00012", "+1", "1a", " 1", "1 ", "--1", "1-",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"99999999999999999999", "123456789012345678", "1234567890123456789"}
	r := rand.New(rand.NewPCG(7, 8))
	for range 5000 {
		n := 1 + r.IntN(21)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if n > 1 && b[0] == '0' {
			b[0] = '1' // a JSON integer has no leading zero
		}
		if r.IntN(3) == 0 {
			b = append([]byte{'-'}, b...)
		}
		if r.IntN(20) == 0 {
			b[r.IntN(len(b))] = "/:a+-."[r.IntN(6)]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		got, ok := parseIntBytes([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		wantOK := err == nil && s != "" && s[0] != '+'
		if ok != wantOK || ok && got != want {
			t.Fatalf("parseIntBytes(%q) = %d, %v; strconv: %d, %v", s, got, ok, want, err)
		}
	}
}
