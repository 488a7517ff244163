package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

func fuzzBuilder(t testing.TB) *builder {
	m, err := newMapping(completeSchema(DefaultSchema()).Arrow(), "ts", []string{ColDate})
	if err != nil {
		t.Fatal(err)
	}
	return newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
}

// FuzzNDJSONLine checks the hand-written scanner against encoding/json: it
// accepts exactly the valid, UTF-8, object lines, and decodes the message
// field to the same value (its first occurrence: see firstMessage). It also drives rows into the Arrow builders, so
// any panic there is found too.
func FuzzNDJSONLine(f *testing.F) {
	var buf bytes.Buffer
	g, _ := loggen.New(loggen.Options{Seed: 1, FileBytes: 30 << 10, Malformed: 0.3})
	g.WriteFile(&buf, 0)
	for l := range bytes.Lines(buf.Bytes()) {
		f.Add(bytes.TrimSuffix(l, []byte{'\n'}))
	}
	for _, s := range []string{`{}`, `{"message":"\ud83d\ude80\u0000"}`, `{"message":1e400}`, `{"Message":"a","message":"b"}`,
		`{"message":{"x":[true,false,null]}}`, `{"a":"\x"}`, `{"ts":"9999-12-31T23:59:59.999999999Z"}`, `{"ts":-1e300}`,
		` {"message" : "x" } `, `{"message":"a"`, "{\"message\":\"\xed\xa0\x80\"}",
		`{"level0:{}}`, `{"levelx":1,"message":"api"}`, `{"message":"a\"}`, `{"message":"api\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.ContainsAny(line, "\n") || bytes.Count(line, []byte("["))+bytes.Count(line, []byte("{")) > 400 {
			return
		}
		// The line is decoded three times by one builder, as a batch's
		// lines are: after a line of common keys and values, and again
		// after itself, so that the caches of keys (knownKey) and of the
		// dictionary-encoded values (dictValue) are warm.
		b := fuzzBuilder(t)
		defer b.release()
		b.encodeDicts()
		warm := []byte(`{"ts":"2026-11-24T10:00:00Z","level":"info","service":"api","message":"a","Message":"b","trace_id":"t"}`)
		f := newFileCtx("k")
		for i, l := range [][]byte{warm, line, line} {
			b.startRow()
			err := b.ndjsonFields(l)
			if i > 0 {
				trimmed := bytes.TrimLeft(line, " \t\r")
				wantOK := json.Valid(line) && utf8.Valid(line) && len(trimmed) > 0 && trimmed[0] == '{'
				if (err == nil) != wantOK {
					t.Fatalf("pass %d: scanner ok=%v (err %v), encoding/json valid object=%v, line %q", i, err == nil, err, wantOK, line)
				}
			}
			if err != nil {
				b.badLine(f, int64(i+1), l, err.Error(), 0)
			} else {
				b.commitRow(f, int64(i+1), -1)
			}
		}
		rec := b.finish()
		defer rec.Release()
		if rec.NumRows() != 3 {
			t.Fatalf("%d rows", rec.NumRows())
		}
		for row := 1; row <= 2; row++ {
			if rd := rec.Column(b.m.rescued); rd.IsValid(row) {
				if s := rd.ValueStr(row); !json.Valid([]byte(s)) {
					t.Fatalf("_rescued_data is not valid JSON: %s", s)
				}
			}
			refMessage, ok := firstMessage(line)
			if !ok || !json.Valid(line) || !utf8.Valid(line) {
				continue // nothing to compare
			}
			msg, set := stringAt(rec.Column(b.m.message), row)
			raw := bytes.TrimSpace(refMessage)
			switch {
			case len(raw) == 0 || string(raw) == "null":
				if set {
					t.Fatalf("row %d: message set to %q, encoding/json has none", row, msg)
				}
			case raw[0] == '"':
				var s string
				if err := json.Unmarshal(raw, &s); err != nil {
					t.Fatal(err)
				}
				if !set || msg != s {
					t.Fatalf("row %d: message %q, encoding/json %q (line %q)", row, msg, s, line)
				}
			default:
				if !set || msg != string(raw) {
					t.Fatalf("row %d: message %q, encoding/json %s", row, msg, raw)
				}
			}
		}
	})
}

// stringAt returns row i of a string or dictionary<int32, string> column,
// and whether it is not null.
func stringAt(arr arrow.Array, i int) (string, bool) {
	if arr.IsNull(i) {
		return "", false
	}
	if d, ok := arr.(*array.Dictionary); ok {
		return d.Dictionary().(*array.String).Value(d.GetValueIndex(i)), true
	}
	return arr.(*array.String).Value(i), true
}

// firstMessage is encoding/json's reading of the line's message field, but
// of its first non-null occurrence (any case) where encoding/json keeps the
// last: a repeated key keeps its first value and rescues the others.
func firstMessage(line []byte) (json.RawMessage, bool) {
	var fields []struct {
		key string
		val json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		fields = append(fields, struct {
			key string
			val json.RawMessage
		}{k.(string), v})
	}
	for _, f := range fields {
		if strings.EqualFold(f.key, "message") && string(bytes.TrimSpace(f.val)) != "null" {
			return f.val, true
		}
	}
	return nil, true
}

// FuzzTimeText checks the fast RFC 3339 path against time.Parse, and that
// its hourCache, holding the date and hour of a timestamp before, changes
// nothing.
func FuzzTimeText(f *testing.F) {
	for _, s := range [][2]string{{"2026-11-24T10:00:00Z", "2026-11-24T10:59:59.5+01:00"},
		{"2026-11-24T10:00:00.123456789+05:30", "2026-11-24T10:00:00.123456789+05:30"},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00-00:01"}, {"2024-02-29T23:59:59-00:00", "2024-02-29T23:60:00Z"},
		{"2023-02-28T00:00:00Z", "2023-02-29T00:00:00Z"}, {"2026-11-24 10:00:00", "2026-11-24T10:00:00"},
		{"2026-13-01T00:00:00Z", "2026-13-01T00:00:00Z"}, {"2026-11-24T10:00:00Z", "2026-11-24T10:0a:00Z"},
		{"2026-11-20T02:00:00Z", "2026-11-20 02:59:59+02:00"}, {"2026-11-20 18:00:00Z", "2026-11-20T10:00:00Z"},
		{"2026-11-20T19:00:00Z", "2026-11-21T19:00:00Z"}, {"2026-11-20T19:00:00Z", "2026-11-20T1a:00:00Z"},
		{"2026-11-20T18:00:00Z", "2026-11-20T10:00:00Z"}, {"1026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"},
		{"2026-01-20T10:00:00Z", "2026-11-20T10:00:00Z"}} {
		f.Add(s[0], s[1])
	}
	f.Add("2026-11-24T10:00:00Z", "9999-12-31T23:30:00-01:00")
	f.Add("2026-11-24T10:00:00Z", "0001-01-01T00:30:00+01:00")
	f.Fuzz(func(t *testing.T, before, s string) {
		// Whatever path parses it, a time is one a date partition holds.
		if us, ok := parseTimeText([]byte(s), "ms", nil); ok && (us < minMicros || us > maxMicros) {
			t.Fatalf("%q parsed as %d µs, outside years 1-9999 in UTC", s, us)
		}
		us, ok := fastRFC3339([]byte(s), nil)
		var hc hourCache
		fastRFC3339([]byte(before), &hc)
		if us2, ok2 := fastRFC3339([]byte(s), &hc); us2 != us || ok2 != ok {
			t.Fatalf("%q after %q: %d %v with the hour cache, %d %v without", s, before, us2, ok2, us, ok)
		}
		if !ok {
			return
		}
		layout := "2006-01-02T15:04:05.999999999Z07:00"
		norm := strings.Replace(strings.Replace(s, " ", "T", 1), "t", "T", 1)
		if !strings.HasSuffix(norm, "Z") && !strings.HasSuffix(norm, "z") && !strings.ContainsAny(norm[19:], "+-") {
			norm += "Z"
		}
		norm = strings.Replace(norm, "z", "Z", 1)
		ref, err := time.Parse(layout, norm)
		if err != nil {
			t.Fatalf("fast path accepted %q, time.Parse rejects %q: %v", s, norm, err)
		}
		if want := ref.Truncate(time.Microsecond).UnixMicro(); want != us && ref.Year() > 0 {
			t.Fatalf("%q: fast %d, time.Parse %d", s, us, want)
		}
	})
}

// readDecode reads landing file key (lines of at most maxLine bytes) and
// decodes it with m into one record.
func readDecode(t testing.TB, landing storage.Bucket, m *mapping, key string, format Format, maxLine int) arrow.RecordBatch {
	t.Helper()
	fr := &fileReader{landing: landing, m: m, format: format, maxLine: maxLine, retries: 1, onBytes: func(int64) {},
		quarant: func(context.Context, string, error) { t.Fatal("quarantined a readable file") }}
	out := make(chan *chunk, 1024)
	if err := fr.read(context.Background(), newFileCtx(key), out); err != nil {
		t.Fatalf("read: %v", err)
	}
	close(out)
	b := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
	defer b.release()
	for c := range out {
		decodeChunk(b, c, format)
	}
	return b.finish()
}

// FuzzDecodeFile drives a whole landing file, NDJSON or CSV (header, quoted
// fields spanning lines, over-long lines), through the reader and the
// decoders. It must never panic, every NDJSON line that is not blank must
// become exactly one row, no CSV record more rows than it has lines, and
// every row must carry its source file and, when set, valid JSON in
// _rescued_data.
func FuzzDecodeFile(f *testing.F) {
	for _, s := range []string{
		"ts,message,level\n2026-11-24T10:00:00Z,hello,INFO\n,\"multi\nline\",WARN\n",
		"message,extra\n\"unterminated\n",
		"a,b\n1,2,3\n\"x\"\"y\",z\n",
		"message\n" + strings.Repeat("x", 300) + "\n",
		"\xff\xfe,\n\xed\xa0\x80\n",
	} {
		f.Add([]byte(s), true)
	}
	for _, s := range []string{
		`{"message":"a"}` + "\n" + `not json` + "\n\n" + `{"ts":1795514400,"x":[1,{"y":null}]}`,
		`{"message":"` + strings.Repeat("y", 300) + `"}` + "\r\n" + `{"level":"INFO"`,
		`{"tags":{"a":"1","b":2,"c":null}}` + "\n" + `{"tags":{"a":"1","\u0061":"2"}}`,
	} {
		f.Add([]byte(s), false)
	}
	bucket, err := storage.Open(context.Background(), fmt.Sprintf("mem://fuzz-decode-%d", os.Getpid()), nil)
	if err != nil {
		f.Fatal(err)
	}
	// The default schema and a map column, whose keys must come out unique.
	sch := DefaultSchema()
	sch.Fields = append(sch.Fields, &table.Field{Name: "tags", Nullable: true,
		Type: &table.MapType{KeyType: table.TypeString, ValueType: table.TypeString, ValueContainsNull: true}})
	m, err := newMapping(completeSchema(sch).Arrow(), "ts", []string{ColDate})
	if err != nil {
		f.Fatal(err)
	}
	tags := m.lookup([]byte("tags"))
	f.Fuzz(func(t *testing.T, data []byte, isCSV bool) {
		ctx := context.Background()
		key, format := "f.json", FormatNDJSON
		if isCSV {
			key, format = "f.csv", FormatCSV
		}
		if err := bucket.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		rec := readDecode(t, bucket, m, key, format, 256)
		defer rec.Release()
		lines := bytes.Count(data, []byte{'\n'}) + 1
		if isCSV {
			if int(rec.NumRows()) > lines {
				t.Fatalf("%d rows from %d lines", rec.NumRows(), lines)
			}
		} else {
			want := 0
			for l := range bytes.SplitSeq(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), []byte{'\n'}) { // a BOM is dropped
				if !isBlank(l) {
					want++
				}
			}
			if int(rec.NumRows()) != want {
				t.Fatalf("%d rows from %d non-blank lines", rec.NumRows(), want)
			}
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			if rec.Column(m.source).ValueStr(i) != key {
				t.Fatalf("row %d: _source_file %q", i, rec.Column(m.source).ValueStr(i))
			}
			if rd := rec.Column(m.rescued); rd.IsValid(i) && !json.Valid([]byte(rd.ValueStr(i))) {
				t.Fatalf("row %d: _rescued_data is not valid JSON: %s", i, rd.ValueStr(i))
			}
			if mp := rec.Column(tags).(*array.Map); mp.IsValid(i) {
				keys := mp.Keys().(*array.String)
				start, end := mp.ValueOffsets(i)
				seen := map[string]bool{}
				for k := start; k < end; k++ {
					if seen[keys.Value(int(k))] {
						t.Fatalf("row %d: map key %q twice", i, keys.Value(int(k)))
					}
					seen[keys.Value(int(k))] = true
				}
			}
		}
	})
}
