package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestRunOnceIngestsEveryLineOnce(t *testing.T) {
	for _, comp := range []string{"", "gzip", "zstd"} {
		t.Run("compression="+comp, func(t *testing.T) {
			ctx := ctxT(t)
			landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
			lines := generate(t, landing, loggen.Options{Seed: 7, Files: 5, FileBytes: 40 << 10, Compression: comp, Malformed: 0.05})
			reg := prometheus.NewRegistry()
			in, err := ingest.New(landing, tbl, &ingest.Options{MaxFiles: 2, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := in.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Files != 5 || sum.Commits != 3 || sum.Rows != int64(len(lines)) || sum.Version != 3 {
				t.Fatalf("summary %+v: want 5 files, 3 commits, %d rows, version 3", sum, len(lines))
			}
			if sum.Rescued == 0 {
				t.Fatal("no rescued rows from 5% malformed input")
			}
			checkMultiset(t, tbl, lines)
			if got := testutil.ToFloat64(counterOf(t, reg, "loglake_ingest_rows_total")); got != float64(len(lines)) {
				t.Fatalf("rows_total = %v, want %d", got, len(lines))
			}
			for _, b := range sum.Batches {
				if len(b.Latencies) != b.Files || b.MaxLatency <= 0 {
					t.Fatalf("batch %d: %d latencies for %d files, max %v", b.Batch, len(b.Latencies), b.Files, b.MaxLatency)
				}
			}
			// The txn records the last batch.
			tb, err := table.Open(ctx, tbl, nil)
			if err != nil {
				t.Fatal(err)
			}
			snap, _ := tb.Snapshot(ctx)
			if v, ok := snap.AppVersion(ingest.AppID("default")); !ok || v != 3 {
				t.Fatalf("txn = %d, %v; want 3", v, ok)
			}
			// A second run finds nothing; a new Ingester (restart) neither.
			for _, again := range []*ingest.Ingester{in, mustNew(t, landing, tbl, nil)} {
				sum, err = again.RunOnce(ctx)
				if err != nil || sum.Files != 0 || sum.Commits != 0 {
					t.Fatalf("rerun: %+v, %v; want nothing", sum, err)
				}
			}
			checkMultiset(t, tbl, lines)
		})
	}
}

func counterOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return mf.GetMetric()[0].GetCounter().GetValue() })
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

func mustNew(t testing.TB, landing, tbl storage.Bucket, o *ingest.Options) *ingest.Ingester {
	t.Helper()
	in, err := ingest.New(landing, tbl, o)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestCrashAtEveryStep fails each storage call of a clean run in turn
// (before it happens, and after it happened with the response lost), as if
// the process died there, then restarts with a new Ingester: the table
// must hold every line exactly once.
func TestCrashAtEveryStep(t *testing.T) {
	o := loggen.Options{Seed: 3, Files: 4, FileBytes: 8 << 10, Compression: "gzip", Malformed: 0.1}
	opts := func() *ingest.Options { return &ingest.Options{MaxFiles: 2, IndexEvery: 1} }

	// Count the table's storage calls in a clean run.
	landing, raw := memBucket(t, "landing"), memBucket(t, "table")
	generate(t, landing, o)
	f := storage.NewFaulty(raw, storage.Faults{})
	if _, err := mustNew(t, landing, f, opts()).RunOnce(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, op := range []string{storage.OpGet, storage.OpNewReader, storage.OpStat, storage.OpPut, storage.OpPutIfAbsent,
		storage.OpUpload, storage.OpList, storage.OpDelete, storage.OpCopy, storage.OpRead} {
		total += f.Calls(op)
	}
	if total < 10 {
		t.Fatalf("only %d storage calls in a clean run", total)
	}
	for _, after := range []bool{false, true} {
		for n := 1; n <= total; n++ {
			t.Run(fmt.Sprintf("after=%v/call=%d", after, n), func(t *testing.T) {
				ctx := ctxT(t)
				landing, raw := memBucket(t, "landing"), memBucket(t, "table")
				lines := generate(t, landing, o)
				f := storage.NewFaulty(raw, storage.Faults{Nth: n, After: after, Err: storage.ErrPermanent})
				_, err := mustNew(t, landing, f, opts()).RunOnce(ctx)
				if f.Injected(storage.OpGet)+f.Injected(storage.OpPutIfAbsent)+f.Injected(storage.OpUpload)+
					f.Injected(storage.OpList)+f.Injected(storage.OpPut)+f.Injected(storage.OpRead)+
					f.Injected(storage.OpNewReader)+f.Injected(storage.OpDelete)+f.Injected(storage.OpStat) == 0 {
					t.Skip("the run took another path and made fewer calls")
				}
				_ = err // a crash may or may not surface as an error (e.g. a failed cleanup)
				f.SetFaults(storage.Faults{})
				sum, err := mustNew(t, landing, f, opts()).RunOnce(ctx)
				if err != nil {
					t.Fatalf("restart: %v", err)
				}
				if sum.Version < 0 && sum.Commits > 0 {
					t.Fatalf("restart summary %+v", sum)
				}
				checkMultiset(t, raw, lines)
			})
		}
	}
}

// TestConcurrentInstances runs several Ingesters of one stream at once.
func TestConcurrentInstances(t *testing.T) {
	ctx := ctxT(t)
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	lines := generate(t, landing, loggen.Options{Seed: 11, Files: 12, FileBytes: 6 << 10, Malformed: 0.05})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	sums := make([]ingest.Summary, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := mustNew(t, landing, tbl, &ingest.Options{MaxFiles: 1, Workers: 2})
			sums[i], errs[i] = in.RunOnce(ctx)
		}()
	}
	wg.Wait()
	files := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		files += sums[i].Files
	}
	if files != 12 {
		t.Fatalf("instances committed %d files in total, want 12", files)
	}
	checkMultiset(t, tbl, lines)
}

// TestLateFiles: a file whose key sorts before the listing cursor is found
// by the backfill listing, not by the incremental one.
func TestLateFiles(t *testing.T) {
	ctx := ctxT(t)
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	put(t, landing, "b/2.json", []byte(`{"message":"two","trace_id":"t2"}`+"\n"))
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	in := mustNew(t, landing, tbl, &ingest.Options{Now: clock, BackfillInterval: time.Hour})
	if sum, err := in.RunOnce(ctx); err != nil || sum.Files != 1 {
		t.Fatalf("first run: %+v %v", sum, err)
	}
	put(t, landing, "a/1.json", []byte(`{"message":"one","trace_id":"t1"}`+"\n")) // late, old name
	put(t, landing, "c/3.json", []byte(`{"message":"three","trace_id":"t3"}`+"\n"))
	now = now.Add(time.Minute)
	sum, err := in.RunOnce(ctx)
	if err != nil || sum.Files != 1 {
		t.Fatalf("incremental run: %+v %v; want only c/3.json", sum, err)
	}
	now = now.Add(time.Hour)
	sum, err = in.RunOnce(ctx)
	if err != nil || sum.Files != 1 {
		t.Fatalf("backfill run: %+v %v; want a/1.json", sum, err)
	}
	checkMultiset(t, tbl, [][]byte{
		[]byte(`{"message":"one","trace_id":"t1"}`), []byte(`{"message":"two","trace_id":"t2"}`), []byte(`{"message":"three","trace_id":"t3"}`)})
}

func TestChangedFileRule(t *testing.T) {
	for _, tc := range []struct {
		rule      ingest.ChangeRule
		wantRows  int
		wantFiles int
	}{
		{ingest.ChangeIgnore, 1, 0},
		{ingest.ChangeReingest, 3, 1},
	} {
		t.Run(string(tc.rule), func(t *testing.T) {
			ctx := ctxT(t)
			landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
			put(t, landing, "x.json", []byte(`{"message":"a"}`+"\n"))
			in := mustNew(t, landing, tbl, &ingest.Options{OnChange: tc.rule})
			if _, err := in.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			put(t, landing, "x.json", []byte(`{"message":"a"}`+"\n"+`{"message":"b"}`+"\n"))
			// A restarted Ingester lists everything, so it sees the change.
			sum, err := mustNew(t, landing, tbl, &ingest.Options{OnChange: tc.rule}).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Files != tc.wantFiles {
				t.Fatalf("files = %d, want %d (%+v)", sum.Files, tc.wantFiles, sum)
			}
			if tc.rule == ingest.ChangeIgnore && sum.Skipped != 1 {
				t.Fatalf("skipped = %d, want 1", sum.Skipped)
			}
			if rows := readRows(t, tbl); len(rows) != tc.wantRows {
				t.Fatalf("%d rows, want %d", len(rows), tc.wantRows)
			}
		})
	}
}

func TestGlobs(t *testing.T) {
	ctx := ctxT(t)
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	for _, k := range []string{"svc=a/x.json", "svc=a/deep/y.json.gz", "svc=b/z.json", "svc=a/skip.tmp", "svc=a/_SUCCESS", "svc=a/.hidden.json", "_delta_log/0.json"} {
		data := []byte(`{"message":"` + k + `"}` + "\n")
		if strings.HasSuffix(k, ".gz") {
			data = gz(t, data)
		}
		put(t, landing, k, data)
	}
	in := mustNew(t, landing, tbl, &ingest.Options{Include: []string{"svc=a/**"}, Exclude: []string{"**/*.tmp"}})
	if _, err := in.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range readRows(t, tbl) {
		got = append(got, r["message"].(string))
	}
	slicesSort(got)
	if strings.Join(got, ",") != "svc=a/deep/y.json.gz,svc=a/x.json" {
		t.Fatalf("ingested %v", got)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	lines := generate(t, landing, loggen.Options{Seed: 5, Files: 3, FileBytes: 4 << 10})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	in := mustNew(t, landing, tbl, &ingest.Options{MaxFiles: 1})
	go func() { done <- in.Run(ctx, 20*time.Millisecond) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if tb, err := table.Open(context.Background(), tbl, nil); err == nil {
			snap, _ := tb.Snapshot(context.Background())
			if v, _ := snap.AppVersion(ingest.AppID("default")); v == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not ingest 3 batches")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	checkMultiset(t, tbl, lines)
}

func TestInvalidOptions(t *testing.T) {
	b := memBucket(t, "x")
	for _, o := range []ingest.Options{
		{Format: "xml"}, {SchemaMode: "merge"}, {OnChange: "panic"}, {Stream: "a/b"}, {Stream: ".."}, {Stream: "."}, {EpochUnit: "h"},
		{Include: []string{"{a,b"}},
		// A bad line's rescued copy of up to 7.4 times its size must fit
		// 32-bit string offsets.
		{MaxLineBytes: 256<<20 + 1},
	} {
		if _, err := ingest.New(b, b, &o); !errors.Is(err, ingest.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", o, err)
		}
	}
	if _, err := ingest.New(b, b, &ingest.Options{MaxLineBytes: 256 << 20}); err != nil {
		t.Errorf("MaxLineBytes 256 MiB: %v", err)
	}
}

// _source_file holds the landing key itself, not its JSON-escaped form
// (which _rescued_data's "_file" carries). (A key that is not valid UTF-8
// is not ingested: TestNonUTF8KeyLeftOut.)
func TestSourceFileIsTheKey(t *testing.T) {
	ctx := context.Background()
	for key, want := range map[string]string{
		"in/back\\slash \"q\".json": "in/back\\slash \"q\".json",
	} {
		dir := t.TempDir() // only a file system takes a key that is not UTF-8
		if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, key), []byte(`{"message":"m"}`+"\n"+`not json`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		land, err := storage.Open(ctx, "file://"+dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer land.Close()
		tbl := memBucket(t, "tbl")
		in, err := ingest.New(land, tbl, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		rows := readRows(t, tbl)
		if len(rows) != 2 {
			t.Fatalf("%d rows, want 2", len(rows))
		}
		for _, r := range rows {
			if r["_source_file"] != want {
				t.Errorf("_source_file = %q, want %q", r["_source_file"], want)
			}
			if r["_rescued_data"] != nil {
				if f := rescued(t, r)["_file"]; f != want {
					t.Errorf("_rescued_data._file = %q, want %q", f, want)
				}
			}
		}
	}
}

// A compressed file whose checksum fails at its end has had its wrong bytes
// decoded into rows already: the batch runs again without them, the file
// is one bad row and is quarantined, and the other files of the batch are
// ingested whole.
func TestChecksumFailureKeepsNoRow(t *testing.T) {
	ctx := context.Background()
	var lines []byte
	for i := range 1000 {
		lines = fmt.Appendf(lines, `{"message":"line-%04d"}`+"\n", i)
	}
	for _, comp := range []struct {
		ext  string
		data []byte
	}{{".gz", gz(t, lines)}, {".zst", zst(t, lines)}} {
		t.Run(comp.ext, func(t *testing.T) {
			land, tbl := memBucket(t, "land"), memBucket(t, "tbl")
			bad := bytes.Clone(comp.data)
			if comp.ext == ".gz" {
				bad[len(bad)-8] ^= 0xff // the CRC-32 in the trailer
			} else {
				bad[len(bad)-1] ^= 0xff // the frame's content checksum
			}
			put(t, land, "a/bad"+comp.ext, bad)
			put(t, land, "a/good"+comp.ext, comp.data)
			in, err := ingest.New(land, tbl, nil)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := in.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var good, badRows int
			for _, r := range readRows(t, tbl) {
				switch r["_source_file"] {
				case "a/good" + comp.ext:
					good++
				case "a/bad" + comp.ext:
					badRows++
					if e, _ := rescued(t, r)["_error"].(string); !strings.Contains(e, "checksum") {
						t.Errorf("bad file's row: %v", r["_rescued_data"])
					}
				}
			}
			if good != 1000 || badRows != 1 || sum.Commits != 1 {
				t.Fatalf("good file %d rows (want 1000), bad file %d rows (want 1), %d commits", good, badRows, sum.Commits)
			}
			if _, err := tbl.Stat(ctx, ingest.StatePrefix(ingest.DefaultStream)+"quarantine/a%2Fbad"+comp.ext+".json"); err != nil {
				t.Errorf("no quarantine record: %v", err)
			}
		})
	}
}

// A key repeated in a line, or a column named twice in a CSV header (in any
// case), keeps its first value; the others are rescued, never dropped.
func TestRepeatedKeysAreRescued(t *testing.T) {
	for _, c := range []struct {
		format ingest.Format
		data   string
	}{
		{ingest.FormatNDJSON, `{"message":"first","Message":"second","message":null}` + "\n"},
		{ingest.FormatCSV, "message,Message,message\nfirst,second,\n"},
	} {
		rows, _ := ingestOne(t, map[string][]byte{"a/f.data": []byte(c.data)}, &ingest.Options{Format: c.format})
		if len(rows) != 1 || rows[0]["message"] != "first" {
			t.Fatalf("%s: rows %v, want one with message \"first\"", c.format, rows)
		}
		if r := rescued(t, rows[0]); r["Message"] != "second" {
			t.Fatalf("%s: _rescued_data %v lacks the second value", c.format, rows[0]["_rescued_data"])
		}
	}
}

// On file:// a file rewritten at the same size shows only in its
// modification time: it counts as changed, also within the same second
// (file listings carry the time to the nanosecond as their ETag).
func TestChangedFileSameSizeOnFile(t *testing.T) {
	second := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, c := range []struct {
		name          string
		first, second time.Time
	}{
		{"later second", second, second.Add(10 * time.Second)},
		{"same second", second.Add(100 * time.Millisecond), second.Add(600 * time.Millisecond)},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctxT(t)
			dir := t.TempDir()
			landing, err := storage.Open(ctx, "file://"+dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer landing.Close()
			tbl := memBucket(t, "table")
			path := filepath.Join(dir, "x.json")
			write := func(msg string, mod time.Time) {
				if err := os.WriteFile(path, []byte(`{"message":"`+msg+`"}`+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(path, mod, mod); err != nil {
					t.Fatal(err)
				}
			}
			write("a", c.first)
			opts := &ingest.Options{OnChange: ingest.ChangeReingest}
			if _, err := mustNew(t, landing, tbl, opts).RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			write("b", c.second)
			sum, err := mustNew(t, landing, tbl, opts).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Files != 1 || len(readRows(t, tbl)) != 2 {
				t.Fatalf("rewrite at the same size: %+v, %d rows; want it re-ingested", sum, len(readRows(t, tbl)))
			}
		})
	}
}

// A UTF-8 byte order mark at the start of a file is dropped: the first
// NDJSON line and the CSV header read as without it.
func TestByteOrderMark(t *testing.T) {
	for _, c := range []struct {
		format ingest.Format
		data   string
	}{
		{ingest.FormatNDJSON, "\xef\xbb\xbf" + `{"message":"first"}` + "\n"},
		{ingest.FormatCSV, "\xef\xbb\xbfmessage\nfirst\n"},
	} {
		rows, _ := ingestOne(t, map[string][]byte{"a/f.data": []byte(c.data)}, &ingest.Options{Format: c.format})
		if len(rows) != 1 || rows[0]["message"] != "first" || rows[0]["_rescued_data"] != nil {
			t.Fatalf("%s with a BOM: rows %v", c.format, rows)
		}
	}
}
