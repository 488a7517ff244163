package ingest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

var bucketSeq atomic.Int64

// memBucket opens a fresh, process-unique mem:// bucket.
func memBucket(t testing.TB, name string) storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), fmt.Sprintf("mem://ingest-test-%d-%s", bucketSeq.Add(1), name), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// generate writes a loggen data set to b and returns its lines.
func generate(t testing.TB, b storage.Bucket, o loggen.Options) [][]byte {
	t.Helper()
	lines, err := loggen.GenerateLines(context.Background(), b, o, 2)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// lineKey identifies an input line: trace_id|message for a JSON object
// with valid UTF-8 (a row), else the raw bytes (a rescued bad line).
func lineKey(line []byte) string { return loggen.LineKey(line) }

// rowKey identifies a table row the way lineKey identifies its line.
func rowKey(t testing.TB, row map[string]any) string {
	t.Helper()
	if r, ok := row["_rescued_data"].(string); ok {
		var rd map[string]any
		if err := json.Unmarshal([]byte(r), &rd); err != nil {
			t.Fatalf("_rescued_data is not JSON: %v: %s", err, r)
		}
		if b64, ok := rd["_raw_base64"].(string); ok {
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			return "raw:" + string(raw)
		}
		if raw, ok := rd["_raw"].(string); ok {
			return "raw:" + raw
		}
	}
	return fmt.Sprintf("row:%v|%v", nilStr(row["trace_id"]), nilStr(row["message"]))
}

func nilStr(v any) any {
	if v == nil {
		return "<nil>"
	}
	return v
}

// readRows scans the latest snapshot of the table in b.
func readRows(t testing.TB, b storage.Bucket) []map[string]any {
	t.Helper()
	ctx := context.Background()
	tb, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := snap.Scan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var rows []map[string]any
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			row := map[string]any{}
			for c, f := range rec.Schema().Fields() {
				row[f.Name] = table.Value(rec.Column(c), i)
			}
			rows = append(rows, row)
		}
		rec.Release()
	}
	return rows
}

// checkMultiset asserts the table holds every input line exactly once.
func checkMultiset(t testing.TB, b storage.Bucket, lines [][]byte) {
	t.Helper()
	want := map[string]int{}
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		want[lineKey(l)]++
	}
	got := map[string]int{}
	for _, r := range readRows(t, b) {
		got[rowKey(t, r)]++
	}
	if maps.Equal(got, want) {
		return
	}
	var diffs []string
	for k, n := range want {
		if got[k] != n {
			diffs = append(diffs, fmt.Sprintf("%q: table has %d, input %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: table has %d, input 0", k, n))
		}
	}
	slices.Sort(diffs)
	t.Fatalf("table rows != input lines (%d differences), first: %s", len(diffs), strings.Join(diffs[:min(5, len(diffs))], "; "))
}

func gz(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func put(t testing.TB, b storage.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), key, data); err != nil {
		t.Fatal(err)
	}
}

// rescued decodes a row's _rescued_data (nil if none).
func rescued(t testing.TB, row map[string]any) map[string]any {
	t.Helper()
	s, ok := row["_rescued_data"].(string)
	if !ok {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("_rescued_data %q: %v", s, err)
	}
	return m
}

func slicesSort(s []string) { slices.Sort(s) }
