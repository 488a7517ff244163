//go:build linux

package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/loglake/loglake/storage"
)

// TestIndexAt10MKeys measures the ingested-files index at 10 M landed keys
// (LOGLAKE_BENCH_INDEX_KEYS overrides) on file://: the stored size, and a
// restart — a fresh process loading the index — its time, Go heap and peak
// RSS. Cases:
//
//   - segments: the index as this code stores it (one merged segment);
//   - maxFileAge: the same landing history with a horizon keeping the
//     newest 10% of the files (MaxFileAge at a tenth of the history);
//   - legacy (LOGLAKE_BENCH_INDEX_BEFORE=1): the full JSON snapshot loglake
//     wrote before segments, loaded as it loaded it (keys as strings).
//
// It takes about a minute (more with the legacy case), so it runs only with
// LOGLAKE_BENCH_INDEX=1 (scripts/bench.sh sets it):
//
//	LOGLAKE_BENCH_INDEX=1 go test -run TestIndexAt10MKeys -v -timeout 30m ./ingest
func TestIndexAt10MKeys(t *testing.T) {
	if dir := os.Getenv("LOGLAKE_INDEX_CHILD_DIR"); dir != "" {
		indexChild(t, dir)
		return
	}
	if os.Getenv("LOGLAKE_BENCH_INDEX") == "" {
		t.Skip("set LOGLAKE_BENCH_INDEX=1 to measure the index at 10 M keys (about a minute)")
	}
	keys := int64(10_000_000)
	if s := os.Getenv("LOGLAKE_BENCH_INDEX_KEYS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1000 {
			t.Fatalf("LOGLAKE_BENCH_INDEX_KEYS=%q", s)
		}
		keys = n
	}
	ctx := context.Background()
	dir := t.TempDir()
	tbl, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	const perBatch = 1000
	batches := keys / perBatch
	// One batch a minute: the history spans batches minutes.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := newIndex()
	start := time.Now()
	for b := int64(1); b <= batches; b++ {
		x.apply(synthManifest(b, perBatch, t0))
	}
	t.Logf("built %d keys in memory in %v", len(x.files), time.Since(start).Round(time.Millisecond))
	end := t0.Add(time.Duration(batches) * time.Minute)

	// segments: everything live, one segment (0, batches].
	start = time.Now()
	if err := x.compact(ctx, tbl, "all", end); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored the segment in %v", time.Since(start).Round(time.Millisecond))
	report(t, "segments", tbl, "all", batches, keys)

	// maxFileAge: a horizon at 90% of the history.
	x.expire(t0.Add(time.Duration(batches*9/10) * time.Minute).Unix())
	x.segs = nil
	if err := x.compact(ctx, tbl, "aged", end); err != nil {
		t.Fatal(err)
	}
	report(t, "maxFileAge (newest 10% kept)", tbl, "aged", batches, int64(len(x.files)))

	if os.Getenv("LOGLAKE_BENCH_INDEX_BEFORE") == "" {
		return
	}
	// legacy: the full snapshot, as IndexEvery wrote it every 50 batches.
	x = nil
	runtime.GC()
	start = time.Now()
	if err := writeLegacy(ctx, tbl, "legacy", batches, perBatch, t0); err != nil {
		t.Fatal(err)
	}
	t.Logf("stored the legacy snapshot in %v", time.Since(start).Round(time.Millisecond))
	report(t, "legacy full snapshot", tbl, "legacy", batches, keys)
}

// report measures one stream's stored index and a child process loading it.
func report(t *testing.T, name string, tbl storage.Bucket, stream string, batches, keys int64) {
	t.Helper()
	size, objects := storedBytes(t, tbl, StatePrefix(stream)+"index/")
	cmd := exec.Command(os.Args[0], "-test.run=^TestIndexAt10MKeys$", "-test.v")
	cmd.Env = append(os.Environ(), "LOGLAKE_INDEX_CHILD_DIR="+tbl.URL(), "LOGLAKE_INDEX_CHILD_STREAM="+stream,
		"LOGLAKE_INDEX_CHILD_BATCH="+strconv.FormatInt(batches, 10))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	var res childResult
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if b, ok := bytes.CutPrefix(bytes.TrimSpace(sc.Bytes()), []byte("INDEXRESULT ")); ok {
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
		}
	}
	if res.Files == 0 {
		t.Fatalf("child reported nothing:\n%s", out.String())
	}
	// The child's own VmHWM: rusage's maxrss of a child started with
	// vfork counts the parent's pages too.
	rss := res.PeakRSS
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	t.Logf("%-30s %10d keys: stored %6.1f MiB in %d object(s) (%.1f B/key); restart: load %6.2f s (process CPU %5.2f s), heap %6.1f MiB (%.1f B/key), peak RSS %6.1f MiB",
		name, res.Files, float64(size)/(1<<20), objects, float64(size)/float64(keys), res.LoadSeconds, cpu.Seconds(),
		float64(res.Heap)/(1<<20), float64(res.Heap)/float64(res.Files), float64(rss)/(1<<20))
}

type childResult struct {
	Files       int     `json:"files"`
	LoadSeconds float64 `json:"loadSeconds"`
	Heap        uint64  `json:"heap"`
	PeakRSS     int64   `json:"peakRSS"`
}

// vmHWM returns this process's peak resident set size.
func vmHWM() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// indexChild loads a stream's index as a restarting ingester would and
// prints what it measured.
func indexChild(t *testing.T, url string) {
	ctx := context.Background()
	tbl, err := storage.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := os.Getenv("LOGLAKE_INDEX_CHILD_STREAM")
	batch, _ := strconv.ParseInt(os.Getenv("LOGLAKE_INDEX_CHILD_BATCH"), 10, 64)
	var files int
	var keep any
	start := time.Now()
	if stream == "legacy" {
		old, err := loadLegacyAsBefore(ctx, tbl, stream, batch)
		if err != nil {
			t.Fatal(err)
		}
		files, keep = len(old), old
	} else {
		x := newIndex()
		if err := x.load(ctx, tbl, stream, batch, time.Now()); err != nil {
			t.Fatal(err)
		}
		files, keep = len(x.files), x
	}
	took := time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(keep)
	b, _ := json.Marshal(childResult{Files: files, LoadSeconds: took.Seconds(), Heap: ms.HeapAlloc, PeakRSS: vmHWM()})
	fmt.Printf("INDEXRESULT %s\n", b)
}

// writeLegacy stores the full snapshot of batches 1..batches in the format
// loglake wrote before segments (gzip JSON, default level).
func writeLegacy(ctx context.Context, tbl storage.Bucket, stream string, batches int64, perBatch int, t0 time.Time) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := bufio.NewWriter(zw)
	fmt.Fprintf(w, `{"stream":%q,"batch":%d,"files":[`, stream, batches)
	for b := int64(1); b <= batches; b++ {
		for i, f := range synthManifest(b, perBatch, t0).Files {
			if b > 1 || i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, `[%q,"%d",%q,%q]`, f.Key, f.Size, f.ETag, f.MD5)
		}
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return tbl.PutIfAbsent(ctx, legacyIndexKey(stream, batches), buf.Bytes())
}

// oldRef is what the index kept per file before segments.
type oldRef struct {
	Size      int64
	ETag, MD5 string
}

// loadLegacyAsBefore loads a legacy snapshot the way loglake did before
// segments (keys as strings): the "before" of the measurement.
func loadLegacyAsBefore(ctx context.Context, tbl storage.Bucket, stream string, batch int64) (map[string]oldRef, error) {
	data, err := tbl.Get(ctx, legacyIndexKey(stream, batch))
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var ij legacyIndex
	if err := json.NewDecoder(zr).Decode(&ij); err != nil {
		return nil, err
	}
	files := map[string]oldRef{}
	for _, f := range ij.Files {
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, err
		}
		files[f[0]] = oldRef{Size: size, ETag: f[2], MD5: f[3]}
	}
	return files, nil
}
