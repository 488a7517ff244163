package ingest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/table"
)

// Defects 3 and 7 on the ingest side: rows that break an invariant or lack
// a value for a NOT NULL column never reach the table. They are counted
// (summary, metric, commitInfo) and kept, with source file and line, in the
// rejected objects the batch's commit names.
func TestRejectedRows(t *testing.T) {
	ctx := ctxT(t)
	sch, err := table.ParseSchema(`{"type":"struct","fields":[
		{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
		{"name":"message","type":"string","nullable":false,"metadata":{}},
		{"name":"x","type":"long","nullable":true,"metadata":{"delta.invariants":"{\"expression\":{\"expression\":\"x > 0\"}}"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	put(t, landing, "a.json", []byte(strings.Join([]string{
		`{"message":"ok","x":1}`,
		`{"message":"neg","x":-5}`, // invariant
		`{"x":2}`,                  // message missing: NOT NULL
		`not json`,                 // malformed: rescued row, message NULL: rejected too
		`{"message":"ok2","x":7,"extra":1}`,
	}, "\n")+"\n"))
	reg := prometheus.NewRegistry()
	sum, err := mustNew(t, landing, tbl, &ingest.Options{Schema: sch, Registerer: reg}).RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 2 || sum.Rejected != 3 || sum.Rescued != 1 {
		t.Fatalf("summary rows=%d rejected=%d rescued=%d, want 2, 3, 1", sum.Rows, sum.Rejected, sum.Rescued)
	}
	rows := readRows(t, tbl)
	if len(rows) != 2 {
		t.Fatalf("table has %d rows, want 2: %v", len(rows), rows)
	}
	for _, r := range rows {
		if r["message"] == nil || r["message"] == "" || r["x"].(int64) <= 0 {
			t.Fatalf("a violating row reached the table: %v", r)
		}
	}
	if n := testutil.ToFloat64(mustCollector(t, reg, "loglake_ingest_rejected_rows_total")); n != 3 {
		t.Fatalf("rejected_rows_total = %v, want 3", n)
	}

	// The commit names the rejected objects and counts their rows.
	tb, err := table.Open(ctx, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := tb.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ci := hist[0].CommitInfo
	if ci.OperationMetrics["numRejectedRows"] != "3" {
		t.Fatalf("commitInfo metrics %v", ci.OperationMetrics)
	}
	files, _ := ci.OperationParameters["rejectedFiles"].([]any)
	if len(files) != 1 || !strings.HasPrefix(files[0].(string), ingest.StatePrefix("default")+"rejected/00000000000000000001/") {
		t.Fatalf("rejectedFiles = %v", ci.OperationParameters["rejectedFiles"])
	}
	data, err := tbl.Get(ctx, files[0].(string))
	if err != nil {
		t.Fatal(err)
	}
	got := map[float64]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r struct {
			File  string         `json:"_file"`
			Line  float64        `json:"_line"`
			Error string         `json:"_error"`
			Row   map[string]any `json:"row"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.File != "a.json" {
			t.Fatalf("rejected row without its file: %s", sc.Bytes())
		}
		got[r.Line] = r.Error
		if r.Line == 2 && r.Row["x"] != float64(-5) {
			t.Fatalf("line 2 lost its values: %v", r.Row)
		}
	}
	want := map[float64]string{2: "violates invariant x > 0 (column x)", 3: "violates NOT NULL column message", 4: "violates NOT NULL column message"}
	for l, e := range want {
		if got[l] != e {
			t.Errorf("line %v: %q, want %q (all: %v)", l, got[l], e, got)
		}
	}

	// A re-run finds nothing new: the rejected rows are not written twice.
	sum, err = mustNew(t, landing, tbl, &ingest.Options{Schema: sch}).RunOnce(ctx)
	if err != nil || sum.Rejected != 0 || sum.Commits != 0 {
		t.Fatalf("re-run: %+v %v", sum, err)
	}
}

func mustCollector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "copy"})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}
