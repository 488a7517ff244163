package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/storage"
)

// ingestOne ingests files into a fresh table and returns its rows.
func ingestOne(t *testing.T, files map[string][]byte, o *ingest.Options) ([]map[string]any, ingest.Summary) {
	t.Helper()
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	for k, v := range files {
		put(t, landing, k, v)
	}
	sum, err := mustNew(t, landing, tbl, o).RunOnce(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return readRows(t, tbl), sum
}

// TestBadInput: every bad-input class becomes a row whose _rescued_data
// keeps the raw content with file and line; none is dropped, none panics.
func TestBadInput(t *testing.T) {
	good := `{"ts":"2026-11-24T10:00:00Z","message":"ok"}`
	long := `{"message":"` + strings.Repeat("x", 300) + `"}`
	truncGz := gz(t, []byte(good+"\n"+good+"\n"+`{"message":"cut here"}`+"\n"))
	truncGz = truncGz[:len(truncGz)-12]
	truncZst := zst(t, bytes.Repeat([]byte(good+"\n"), 50))
	truncZst = truncZst[:len(truncZst)-5]
	for _, tc := range []struct {
		name    string
		data    []byte
		key     string
		rows    int    // total rows
		line    int    // line of the rescued row
		errPart string // in _error
		raw     string // _raw prefix
		check   func(t *testing.T, rd map[string]any)
	}{
		{name: "broken JSON", data: []byte(good + "\n" + `{"message": "unterminated` + "\n"), rows: 2, line: 2, errPart: "invalid JSON", raw: `{"message": "unterminated`},
		{name: "not an object", data: []byte(`[1,2]` + "\n"), rows: 1, line: 1, errPart: "not a JSON object", raw: "[1,2]"},
		{name: "plain text", data: []byte("hello world\n"), rows: 1, line: 1, errPart: "invalid JSON", raw: "hello world"},
		{name: "trailing data", data: []byte(`{"message":"a"} {"b":1}` + "\n"), rows: 1, line: 1, errPart: "data after", raw: `{"message":"a"}`},
		{name: "invalid UTF-8", data: []byte("{\"message\":\"a\xffb\"}\n"), rows: 1, line: 1, errPart: "UTF-8",
			check: func(t *testing.T, rd map[string]any) {
				if rd["_raw_base64"] != "eyJtZXNzYWdlIjoiYf9iIn0=" {
					t.Fatalf("_raw_base64 = %v", rd["_raw_base64"])
				}
			}},
		{name: "line too long", data: []byte(good + "\n" + long + "\n" + good + "\n"), rows: 3, line: 2, errPart: "longer than", raw: `{"message":"xxx`,
			check: func(t *testing.T, rd map[string]any) {
				if rd["_size"] != float64(len(long)) || rd["_truncated"] != true || len(rd["_raw"].(string)) != 100 {
					t.Fatalf("size %v truncated %v raw len %d", rd["_size"], rd["_truncated"], len(rd["_raw"].(string)))
				}
			}},
		{name: "truncated gzip", key: "f.json.gz", data: truncGz, rows: 3, line: 3, errPart: "file ends"},
		{name: "truncated zstd", key: "f.json.zst", data: truncZst, rows: 0, errPart: "file ends"},
		{name: "not gzip at all", key: "f.json.gz", data: []byte("plain"), rows: 1, line: 1, errPart: "decompress"},
		{name: "nested too deep", data: []byte(`{"attrs":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + "}\n"), rows: 1, line: 1, errPart: "too deeply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" {
				key = "f.json"
			}
			o := &ingest.Options{}
			if tc.name == "line too long" {
				o.MaxLineBytes = 100
			}
			rows, sum := ingestOne(t, map[string][]byte{key: tc.data}, o)
			if tc.rows > 0 && len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d: %v", len(rows), tc.rows, rows)
			}
			var bad []map[string]any
			for _, r := range rows {
				if rd := rescued(t, r); rd != nil && rd["_error"] != nil {
					bad = append(bad, rd)
				}
			}
			if len(bad) != 1 || sum.Rescued < 1 {
				t.Fatalf("%d rescued bad rows (summary %d), want 1: %v", len(bad), sum.Rescued, rows)
			}
			rd := bad[0]
			if rd["_file"] != key || tc.line > 0 && rd["_line"] != float64(tc.line) {
				t.Fatalf("_file %v _line %v, want %s:%d", rd["_file"], rd["_line"], key, tc.line)
			}
			if !strings.Contains(rd["_error"].(string), tc.errPart) {
				t.Fatalf("_error %q does not mention %q", rd["_error"], tc.errPart)
			}
			if tc.raw != "" && !strings.HasPrefix(rd["_raw"].(string), tc.raw) {
				t.Fatalf("_raw %q, want prefix %q", rd["_raw"], tc.raw)
			}
			if tc.check != nil {
				tc.check(t, rd)
			}
		})
	}
}

// TestRescuedFields: unknown fields and values of the wrong type go to
// _rescued_data verbatim, the rest of the row is kept.
func TestRescuedFields(t *testing.T) {
	line := `{"ts":"2026-11-24T10:00:00Z","message":"m","egress_approved":"yes","extra":{"a":[1,"x"]},"ts2":1}`
	rows, sum := ingestOne(t, map[string][]byte{"f.json": []byte(line + "\n")}, nil)
	if len(rows) != 1 || sum.Rescued != 1 {
		t.Fatalf("%d rows, %d rescued", len(rows), sum.Rescued)
	}
	r := rows[0]
	if r["message"] != "m" || r["egress_approved"] != nil || r["ts"] != "2026-11-24T10:00:00Z" {
		t.Fatalf("row %v", r)
	}
	want := `{"egress_approved":"yes","extra":{"a":[1,"x"]},"ts2":1,"_file":"f.json","_line":1}`
	if r["_rescued_data"] != want {
		t.Fatalf("_rescued_data = %s, want %s", r["_rescued_data"], want)
	}
}

// TestRescuedEnvelopeNames: input fields named like the rescue's own
// _file and _line get one more leading underscore, so that no rescued
// field shares a key with the envelope (a JSON reader keeps one value of a
// repeated key: the input's were lost to every reader).
func TestRescuedEnvelopeNames(t *testing.T) {
	line := `{"message":"m","_file":"mine","_line":"x","__file":1,"\u005f_line":2,"file":3}`
	rows, _ := ingestOne(t, map[string][]byte{"f.json": []byte(line + "\n")}, nil)
	want := `{"__file":"mine","__line":"x","___file":1,"_\u005f_line":2,"file":3,"_file":"f.json","_line":1}`
	if len(rows) != 1 || rows[0]["_rescued_data"] != want {
		t.Fatalf("rows %v, want _rescued_data %s", rows, want)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(want), &got); err != nil || len(got) != 7 {
		t.Fatalf("%d distinct keys (%v), want 7", len(got), err)
	}
	csv := "message,_file,_line\nm,mine,x\n"
	rows, _ = ingestOne(t, map[string][]byte{"f.csv": []byte(csv)}, &ingest.Options{Format: ingest.FormatCSV})
	if want := `{"__file":"mine","__line":"x","_file":"f.csv","_line":2}`; len(rows) != 1 || rows[0]["_rescued_data"] != want {
		t.Fatalf("CSV rows %v, want _rescued_data %s", rows, want)
	}
}

// TestTimeOutOfRangeInUTC: a time in range in its own offset but not in
// UTC (year 10000 or year 0 there) is rescued, not stored: it was, and its
// date partition (date=10000-01-01) made every later read of the table
// fail.
func TestTimeOutOfRangeInUTC(t *testing.T) {
	lines := `{"ts":"9999-12-31T23:30:00-01:00","message":"late"}` + "\n" +
		`{"ts":"Fri, 31 Dec 9999 23:30:00 -0100","message":"rfc1123"}` + "\n" +
		`{"ts":"0001-01-01T00:30:00+01:00","message":"early"}` + "\n"
	rows, sum := ingestOne(t, map[string][]byte{"f.json": []byte(lines)}, nil)
	if len(rows) != 3 || sum.Rescued != 3 {
		t.Fatalf("%d rows, %d rescued", len(rows), sum.Rescued)
	}
	for _, r := range rows {
		if r["ts"] != nil || !strings.Contains(fmt.Sprint(r["_rescued_data"]), `"ts":`) {
			t.Fatalf("row %v: want ts null and rescued", r)
		}
	}
}

// TestFieldMapping covers timestamps, numbers, booleans, nested objects,
// escapes and case-insensitive names.
func TestFieldMapping(t *testing.T) {
	for _, tc := range []struct {
		name, line, col string
		want            any
		date            string
	}{
		{"rfc3339", `{"ts":"2026-11-24T10:00:00.123456Z"}`, "ts", "2026-11-24T10:00:00.123456Z", "2026-11-24"},
		{"rfc3339 offset", `{"ts":"2026-11-24T01:30:00+02:00"}`, "ts", "2026-11-23T23:30:00Z", "2026-11-23"},
		{"rfc3339 nanos", `{"ts":"2026-11-24T10:00:00.123456789Z"}`, "ts", "2026-11-24T10:00:00.123456Z", "2026-11-24"},
		{"space, no zone", `{"ts":"2026-11-24 10:00:00"}`, "ts", "2026-11-24T10:00:00Z", "2026-11-24"},
		{"epoch s", `{"ts":1795514400}`, "ts", "2026-11-24T10:00:00Z", "2026-11-24"},
		{"epoch s float", `{"ts":1795514400.5}`, "ts", "2026-11-24T10:00:00.5Z", "2026-11-24"},
		{"epoch ms", `{"ts":1795514400123}`, "ts", "2026-11-24T10:00:00.123Z", "2026-11-24"},
		{"epoch us", `{"ts":1795514400123456}`, "ts", "2026-11-24T10:00:00.123456Z", "2026-11-24"},
		{"epoch ns", `{"ts":1795514400123456789}`, "ts", "2026-11-24T10:00:00.123456Z", "2026-11-24"},
		{"epoch string", `{"ts":"1795514400"}`, "ts", "2026-11-24T10:00:00Z", "2026-11-24"},
		{"bool", `{"egress_approved":true}`, "egress_approved", true, ""},
		{"nested object to JSON string", `{"attrs":{"a":{"b":[1,2.5,null]},"c":"\u00e9"}}`, "attrs", `{"a":{"b":[1,2.5,null]},"c":"\u00e9"}`, ""},
		{"escapes", `{"message":"tab\tquote\" slash\/ uni\u00e9 pair\ud83d\ude80 nl\n"}`, "message", "tab\tquote\" slash/ unié pair🚀 nl\n", ""},
		{"lone surrogate", `{"message":"a\ud800b"}`, "message", "a\ufffdb", ""},
		{"case-insensitive name", `{"Message":"m"}`, "message", "m", ""},
		{"number into string column", `{"org_id":42}`, "org_id", "42", ""},
		{"null", `{"message":null}`, "message", nil, ""},
		{"path value fills service", `{"message":"m"}`, "service", "api", ""},
		{"value beats path", `{"service":"own"}`, "service", "own", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, _ := ingestOne(t, map[string][]byte{"service=api/f.json": []byte(tc.line + "\n")},
				&ingest.Options{Now: func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }})
			if len(rows) != 1 {
				t.Fatalf("%d rows", len(rows))
			}
			if got := rows[0][tc.col]; got != tc.want {
				t.Fatalf("%s = %#v, want %#v (row %v)", tc.col, got, tc.want, rows[0])
			}
			if rows[0]["_rescued_data"] != nil {
				t.Fatalf("unexpected _rescued_data %v", rows[0]["_rescued_data"])
			}
			wantDate := tc.date
			if wantDate == "" {
				wantDate = "2030-01-02" // no ts: the ingestion date
			}
			if rows[0]["date"] != wantDate {
				t.Fatalf("date = %v, want %s", rows[0]["date"], wantDate)
			}
		})
	}
}

func TestTextFormat(t *testing.T) {
	data := []byte("first line\r\n\nsecond \"line\"\nbad \xff\nlast without newline")
	rows, sum := ingestOne(t, map[string][]byte{"service=web/x.log": data}, &ingest.Options{Format: ingest.FormatText})
	var msgs []string
	for _, r := range rows {
		if r["message"] != nil {
			msgs = append(msgs, r["message"].(string))
			if r["service"] != "web" {
				t.Fatalf("service = %v", r["service"])
			}
		}
	}
	slicesSort(msgs)
	if strings.Join(msgs, "|") != `first line|last without newline|second "line"` || sum.Rows != 4 || sum.Rescued != 1 {
		t.Fatalf("messages %q, summary %+v", msgs, sum)
	}
}

func TestCSVFormat(t *testing.T) {
	data := []byte("ts,level,message,egress_approved,extra\n" +
		"2026-11-24T10:00:00Z,INFO,hello,true,x1\n" +
		"1795514400000,WARN,\"multi\nline, with comma\",false,\n" +
		"bad-time,ERROR,m,maybe,\n" +
		"too,few\n")
	rows, sum := ingestOne(t, map[string][]byte{"x.csv": data}, &ingest.Options{Format: ingest.FormatCSV})
	if len(rows) != 4 || sum.Rescued != 3 {
		t.Fatalf("%d rows, %d rescued: %v", len(rows), sum.Rescued, rows)
	}
	byLevel := map[any]map[string]any{}
	for _, r := range rows {
		byLevel[r["level"]] = r
	}
	if r := byLevel["INFO"]; r["message"] != "hello" || r["egress_approved"] != true || r["ts"] != "2026-11-24T10:00:00Z" ||
		r["_rescued_data"] != `{"extra":"x1","_file":"x.csv","_line":2}` {
		t.Fatalf("INFO row %v", r)
	}
	if r := byLevel["WARN"]; r["message"] != "multi\nline, with comma" || r["egress_approved"] != false || r["ts"] != "2026-11-24T10:00:00Z" {
		t.Fatalf("WARN row %v", r)
	}
	if r := byLevel["ERROR"]; r["ts"] != nil || r["_rescued_data"] != `{"ts":"bad-time","egress_approved":"maybe","_file":"x.csv","_line":5}` {
		t.Fatalf("ERROR row %v", r)
	}
	if rd := rescued(t, byLevel[nil]); rd["_line"] != float64(6) || rd["_raw"] != "too,few" {
		t.Fatalf("bad row %v", byLevel[nil])
	}
}

func TestCustomSchemaAndMap(t *testing.T) {
	sch, err := ingest.ParseSchema([]byte("ts timestamp, user string, n long, ratio double, ok boolean, tags map<string,string>  # custom\n"))
	if err != nil {
		t.Fatal(err)
	}
	line := `{"ts":"2026-11-24T10:00:00Z","user":"u","n":9007199254740993,"ratio":0.5,"ok":false,"tags":{"a":"x","b":2,"c":null}}`
	rows, _ := ingestOne(t, map[string][]byte{"f.json": []byte(line + "\n" + `{"n":1.5}` + "\n")}, &ingest.Options{Schema: sch})
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	var r, bad map[string]any
	for _, x := range rows {
		if x["user"] == "u" {
			r = x
		} else {
			bad = x
		}
	}
	if r["n"] != int64(9007199254740993) || r["ratio"] != 0.5 || r["ok"] != false {
		t.Fatalf("row %v", r)
	}
	tags, ok := r["tags"].(map[string]any)
	if !ok || tags["a"] != "x" || tags["b"] != "2" || tags["c"] != nil || len(tags) != 3 {
		t.Fatalf("tags = %#v", r["tags"])
	}
	if bad["n"] != nil || bad["_rescued_data"] != `{"n":1.5,"_file":"f.json","_line":2}` {
		t.Fatalf("a float into a long column must be rescued: %v", bad)
	}
}

// A map<string,string> holds each key once: an object naming a key twice
// (also through an escape, also past the few keys compared pairwise) is
// rescued whole, not written as an invalid map or cut to one value.
func TestMapDuplicateKeys(t *testing.T) {
	sch, err := ingest.ParseSchema([]byte("id long, tags map<string,string>"))
	if err != nil {
		t.Fatal(err)
	}
	many := func(dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 40 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		if dup {
			b.WriteString(`"k7":"again"}`)
		} else {
			b.WriteString(`"k40":"last"}`)
		}
		return b.String()
	}
	objs := []string{`{"a":"x","a":"y"}`, `{"a":"x","\u0061":"y"}`, many(true), many(false), `{"a":"x","A":"y"}`}
	var ndjson, csv strings.Builder
	csv.WriteString("id,tags\n")
	for i, o := range objs {
		fmt.Fprintf(&ndjson, `{"id":%d,"tags":%s}`+"\n", i, o)
		fmt.Fprintf(&csv, "%d,\"%s\"\n", i, strings.ReplaceAll(o, `"`, `""`))
	}
	for _, format := range []ingest.Format{ingest.FormatNDJSON, ingest.FormatCSV} {
		data, name := ndjson.String(), "f.json"
		if format == ingest.FormatCSV {
			data, name = csv.String(), "f.csv"
		}
		rows, _ := ingestOne(t, map[string][]byte{name: []byte(data)}, &ingest.Options{Schema: sch, Format: format})
		if len(rows) != len(objs) {
			t.Fatalf("%s: %d rows", format, len(rows))
		}
		for _, r := range rows {
			id := r["id"].(int64)
			unique := id >= 3
			tags, _ := r["tags"].(map[string]any)
			if unique {
				if tags == nil || r["_rescued_data"] != nil {
					t.Errorf("%s row %d: unique keys: tags %v, rescued %v", format, id, r["tags"], r["_rescued_data"])
				}
				continue
			}
			if r["tags"] != nil {
				t.Errorf("%s row %d: duplicate keys written as a map: %v", format, id, r["tags"])
			}
			// Verbatim: NDJSON keeps the object, CSV the field's text.
			want := objs[id]
			if format == ingest.FormatCSV {
				q, _ := json.Marshal(want)
				want = string(q)
			}
			if got, _ := r["_rescued_data"].(string); !strings.HasPrefix(got, `{"tags":`+want+`,"_file":`) {
				t.Errorf("%s row %d: _rescued_data %s, want the tags %s", format, id, got, want)
			}
		}
	}
}

func TestAddNewColumns(t *testing.T) {
	ctx := ctxT(t)
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	put(t, landing, "1.json", []byte(`{"message":"a","region":"eu","count":3,"ratio":1,"flag":true}`+"\n"+`{"message":"b","ratio":0.5}`+"\n"))
	sum, err := mustNew(t, landing, tbl, &ingest.Options{SchemaMode: ingest.SchemaAddNewColumns}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 2 || sum.Rescued != 0 {
		t.Fatalf("summary %+v", sum)
	}
	rows := readRows(t, tbl)
	for _, r := range rows {
		if r["message"] == "a" && (r["region"] != "eu" || r["count"] != int64(3) || r["ratio"] != 1.0 || r["flag"] != true) {
			t.Fatalf("row %v", r)
		}
		if r["message"] == "b" && r["ratio"] != 0.5 {
			t.Fatalf("row %v", r)
		}
	}
}

// New fields whose names differ only in case become one column, spelled
// in lower case when one spelling is, whatever the order they were seen
// in; the later occurrences in a row are rescued as for existing columns.
func TestAddNewColumnsCaseVariants(t *testing.T) {
	ctx := ctxT(t)
	for _, c := range []struct{ name, data string }{
		{"h.csv", "message,EXTRA,extra\nm,1,2.5\n"},
		{"a.json", `{"message":"m","Extra":1}` + "\n" + `{"message":"n","extra":2.5,"EXTRA":"x"}` + "\n"},
		// Case-insensitive as Delta field lookups are (strings.EqualFold):
		// the long s matches s; once lower-casing disagreed with it, and
		// the batch was sent back for a column AddColumns never added.
		{"s.json", `{"message":"m","extra":1,"meſſage":"x","eXtrA":2,"ſomething":1}` + "\n"},
	} {
		landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
		put(t, landing, c.name, []byte(c.data))
		format := ingest.FormatNDJSON
		if strings.HasSuffix(c.name, ".csv") {
			format = ingest.FormatCSV
		}
		if _, err := mustNew(t, landing, tbl, &ingest.Options{SchemaMode: ingest.SchemaAddNewColumns, Format: format}).RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		rows := readRows(t, tbl)
		var cols []string
		for k := range rows[0] {
			if strings.EqualFold(k, "extra") {
				cols = append(cols, k)
			}
		}
		if len(cols) != 1 || cols[0] != "extra" {
			t.Fatalf("%s: columns %v, want one named extra", c.name, cols)
		}
		for _, r := range rows {
			if r["extra"] == nil {
				t.Errorf("%s: row %v lost its value", c.name, r)
			}
		}
		if c.name == "s.json" {
			if _, ok := rows[0]["ſomething"]; !ok {
				t.Errorf("%s: want a column ſomething: %v", c.name, rows[0])
			}
			if r := rescued(t, rows[0]); r["meſſage"] != "x" || r["eXtrA"] != 2.0 {
				t.Errorf("%s: _rescued_data %v", c.name, rows[0]["_rescued_data"])
			}
		}
	}
}

// A field whose name no column can have (a dot, a blank, a leading '_')
// stays rescued in addNewColumns mode; it used to send the batch back for
// a schema change that never came, forever.
func TestAddNewColumnsInvalidName(t *testing.T) {
	ctx := ctxT(t)
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	put(t, landing, "1.json", []byte(`{"message":"a","x.y":1,"sp ace":2,"_priv":3,"ok":4}`+"\n"))
	sum, err := mustNew(t, landing, tbl, &ingest.Options{SchemaMode: ingest.SchemaAddNewColumns}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := readRows(t, tbl)
	if sum.Rows != 1 || len(rows) != 1 || rows[0]["ok"] != int64(4) {
		t.Fatalf("summary %+v, rows %v", sum, rows)
	}
	r := rescued(t, rows[0])
	if r["x.y"] != 1.0 || r["sp ace"] != 2.0 || r["_priv"] != 3.0 {
		t.Fatalf("_rescued_data %v", rows[0]["_rescued_data"])
	}
}

// TestQuarantine: a listed file that cannot be opened is retried, then
// recorded as a rescued row and a quarantine object; the batch commits.
func TestQuarantine(t *testing.T) {
	ctx := ctxT(t)
	raw, tbl := memBucket(t, "landing"), memBucket(t, "table")
	put(t, raw, "a.json", []byte(`{"message":"a"}`+"\n"))
	put(t, raw, "b.json", []byte(`{"message":"b"}`+"\n"))
	landing := storage.NewFaulty(raw, storage.Faults{Ops: []string{storage.OpNewReader}, KeyPrefix: "b.json", Rate: 1, Err: storage.ErrPermanent})
	sum, err := mustNew(t, landing, tbl, &ingest.Options{FileRetries: 2}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 2 || sum.Quarantined != 1 || sum.Rows != 2 || sum.Rescued != 1 || landing.Injected(storage.OpNewReader) != 2 {
		t.Fatalf("summary %+v, %d injected", sum, landing.Injected(storage.OpNewReader))
	}
	if _, err := tbl.Stat(ctx, ingest.StatePrefix("default")+"quarantine/b.json.json"); err != nil {
		t.Fatalf("no quarantine record: %v", err)
	}
	// A transient failure instead fails the batch, which is retried whole.
	raw2, tbl2 := memBucket(t, "landing"), memBucket(t, "table")
	put(t, raw2, "a.json", []byte(`{"message":"a"}`+"\n"))
	flaky := storage.NewFaulty(raw2, storage.Faults{Ops: []string{storage.OpNewReader}, Nth: 1, Err: storage.ErrTransient})
	if _, err := mustNew(t, flaky, tbl2, nil).RunOnce(ctx); !errors.Is(err, storage.ErrTransient) {
		t.Fatalf("transient open failure: %v, want ErrTransient", err)
	}
	sum, err = mustNew(t, flaky, tbl2, nil).RunOnce(ctx)
	if err != nil || sum.Files != 1 || sum.Quarantined != 0 {
		t.Fatalf("retry: %+v %v", sum, err)
	}
	_ = context.Background
}
