//go:build linux

package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/internal/rsstest"
	"github.com/loglake/loglake/storage"
)

// TestIngestPeakRSS builds the loglake binary, ingests a 2 GiB landing
// batch (LOGLAKE_TEST_INGEST_RSS_BYTES overrides the size) with
// `loglake ingest --once` and checks the child's peak RSS (rusage maxrss),
// the row count, and that the data files are not tiny. It takes minutes, so
// it runs only with LOGLAKE_TEST_INGEST_RSS=1:
//
//	LOGLAKE_TEST_INGEST_RSS=1 go test -run TestIngestPeakRSS -v -timeout 30m ./ingest
func TestIngestPeakRSS(t *testing.T) {
	if os.Getenv("LOGLAKE_TEST_INGEST_RSS") == "" {
		t.Skip("set LOGLAKE_TEST_INGEST_RSS=1 to ingest 2 GiB with the loglake binary and check its peak RSS < 512 MiB (takes minutes)")
	}
	size := rsstest.Size(t, "LOGLAKE_TEST_INGEST_RSS_BYTES", 2<<30)
	ctx := context.Background()
	bin := rsstest.Build(t)
	landing, gen := rssLanding(t, size)

	tableDir := filepath.Join(t.TempDir(), "table")
	run := rsstest.Run(ctx, t, bin, "ingest", "--once", "--quiet",
		"--landing", "file://"+landing, "--table", "file://"+tableDir,
		"--max-bytes", strconv.FormatInt(2*size, 10), "--max-files", "100000")
	elapsed, peak := run.Elapsed, run.PeakRSS

	var sum ingest.Summary
	if err := json.Unmarshal(run.Stdout, &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, run.Stdout)
	}
	if sum.Files != gen.Files || sum.Rows != gen.Lines || sum.Bytes != gen.Stored || sum.Commits != 1 {
		t.Errorf("summary: %d files, %d rows, %d bytes, %d commits; want %d files, %d rows, %d bytes in 1 commit",
			sum.Files, sum.Rows, sum.Bytes, sum.Commits, gen.Files, gen.Lines, gen.Stored)
	}

	var sizes []int64
	var total int64
	err := filepath.WalkDir(tableDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sizes = append(sizes, fi.Size())
		total += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(sizes)
	mib := rsstest.MiB
	var list []string
	for _, s := range sizes {
		list = append(list, mib(s))
	}
	t.Logf("%s landing, %d rows in %v: %.1f MB/s, %.0f rows/s; peak RSS %s (budget %s); %d data files, %s in all: %s; load %s",
		mib(gen.Stored), sum.Rows, elapsed.Round(time.Millisecond), float64(gen.Stored)/1e6/elapsed.Seconds(),
		float64(sum.Rows)/elapsed.Seconds(), mib(peak), mib(rsstest.Budget), len(sizes), mib(total), strings.Join(list, ", "), rsstest.LoadAvg())

	if peak >= rsstest.Budget {
		t.Errorf("peak RSS %s, want < %s", mib(peak), mib(rsstest.Budget))
	}
	// Sensible files: every one at least 1 MiB, and on average a quarter of
	// the default target size at least (or the whole output in one file).
	if len(sizes) == 0 {
		t.Fatal("no data files written")
	}
	if sizes[0] < 1<<20 {
		t.Errorf("smallest data file %s: tiny files", mib(sizes[0]))
	}
	if mean := total / int64(len(sizes)); mean < min(ingest.DefaultTargetFileSize/4, total) {
		t.Errorf("mean data file %s over %d files: want at least %s", mib(mean), len(sizes), mib(ingest.DefaultTargetFileSize/4))
	}
}

// rssLanding returns a directory of size bytes of generated NDJSON in 64
// files, generating it once (cached in the temp dir with its stats).
func rssLanding(t *testing.T, size int64) (string, loggen.Stats) {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("loglake-rss-landing-%d", size))
	done := filepath.Join(dir, ".complete")
	var st loggen.Stats
	if data, err := os.ReadFile(done); err == nil && json.Unmarshal(data, &st) == nil && st.Files > 0 {
		return dir, st
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bk, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	const files = 64
	g, err := loggen.New(loggen.Options{Seed: 3, Files: files, FileBytes: size / files})
	if err != nil {
		t.Fatal(err)
	}
	if st, err = g.Generate(ctx, bk, runtime.GOMAXPROCS(0), nil); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, st
}
