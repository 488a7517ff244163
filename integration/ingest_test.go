package integration

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// ingestLines generates a landing data set at landingURL and returns its lines.
func ingestLines(t *testing.T, landing storage.Bucket, o loggen.Options) [][]byte {
	t.Helper()
	lines, err := loggen.GenerateLines(context.Background(), landing, o, 4)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// ingestKey identifies a line: trace_id|message for a valid JSON object,
// else its raw bytes (a rescued line).
func ingestKey(line []byte) string { return loggen.LineKey(line) }

// tableKeys reads the table with loglake's Delta reader and returns the
// multiset of row identities (see ingestKey).
func tableKeys(t *testing.T, b storage.Bucket) map[string]int {
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
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"trace_id", "message", "_rescued_data"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	out := map[string]int{}
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			out[rowIdentity(t, table.Value(rec.Column(0), i), table.Value(rec.Column(1), i), table.Value(rec.Column(2), i))]++
		}
		rec.Release()
	}
}

func rowIdentity(t *testing.T, traceID, message, rescued any) string {
	if s, ok := rescued.(string); ok {
		var rd map[string]any
		if err := json.Unmarshal([]byte(s), &rd); err != nil {
			t.Fatalf("_rescued_data %q: %v", s, err)
		}
		if b64, ok := rd["_raw_base64"].(string); ok {
			raw, _ := base64.StdEncoding.DecodeString(b64)
			return "raw:" + string(raw)
		}
		if raw, ok := rd["_raw"].(string); ok {
			return "raw:" + raw
		}
	}
	if traceID == nil {
		traceID = "<nil>"
	}
	if message == nil {
		message = "<nil>"
	}
	return fmt.Sprintf("row:%v|%v", traceID, message)
}

func wantKeys(lines [][]byte) map[string]int {
	want := map[string]int{}
	for _, l := range lines {
		want[ingestKey(l)]++
	}
	return want
}

func assertSameMultiset(t *testing.T, got, want map[string]int) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	var diffs []string
	for k, n := range want {
		if got[k] != n {
			diffs = append(diffs, fmt.Sprintf("%.80q: table %d, input %d", k, got[k], n))
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%.80q: table %d, input 0", k, n))
		}
	}
	slices.Sort(diffs)
	t.Fatalf("table != input: %d differences, e.g. %s", len(diffs), strings.Join(diffs[:min(len(diffs), 5)], "; "))
}

// TestIngestBackends ingests generated logs on every backend and checks
// the table with loglake's Delta reader, exactly once, and a restarted
// ingester finding nothing new.
func TestIngestBackends(t *testing.T) {
	for _, be := range Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			landing, err := storage.Open(ctx, UniqueURL(t, be.BaseURL), nil)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := storage.Open(ctx, UniqueURL(t, be.BaseURL), nil)
			if err != nil {
				t.Fatal(err)
			}
			lines := ingestLines(t, landing, loggen.Options{Seed: 21, Files: 6, FileBytes: 64 << 10, Compression: "gzip", Malformed: 0.03})
			in, err := ingest.New(landing, tbl, &ingest.Options{MaxFiles: 4})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := in.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Files != 6 || sum.Commits != 2 || sum.Rows != int64(len(lines)) {
				t.Fatalf("summary %+v, want 6 files, 2 commits, %d rows", sum, len(lines))
			}
			assertSameMultiset(t, tableKeys(t, tbl), wantKeys(lines))
			in2, _ := ingest.New(landing, tbl, nil)
			if sum, err := in2.RunOnce(ctx); err != nil || sum.Files != 0 {
				t.Fatalf("restart: %+v %v", sum, err)
			}
		})
	}
}

// TestIngestDuckDBRoundTrip: DuckDB's read_parquet reads the data files
// ingest wrote with the same rows, values and rescued data.
func TestIngestDuckDBRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	landing, _ := storage.Open(ctx, fileURL(filepath.Join(dir, "landing")), nil)
	tbl, _ := storage.Open(ctx, fileURL(filepath.Join(dir, "table")), nil)
	lines := ingestLines(t, landing, loggen.Options{Seed: 4, Files: 4, FileBytes: 128 << 10, Compression: "zstd", Malformed: 0.05})
	in, _ := ingest.New(landing, tbl, nil)
	if _, err := in.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	tb, err := table.Open(ctx, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := tb.Snapshot(ctx)
	var paths []string
	for _, a := range snap.Files() {
		key, err := table.FileKey(a.Path)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, "'"+filepath.Join(dir, "table", filepath.FromSlash(key))+"'")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT trace_id, message, _rescued_data, ts, date FROM read_parquet([`+strings.Join(paths, ",")+`], hive_partitioning = true)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	n := 0
	for rows.Next() {
		var traceID, message, rescued sql.NullString
		var ts sql.NullTime
		var date any
		if err := rows.Scan(&traceID, &message, &rescued, &ts, &date); err != nil {
			t.Fatal(err)
		}
		var a, b, c any
		if traceID.Valid {
			a = traceID.String
		}
		if message.Valid {
			b = message.String
		}
		if rescued.Valid {
			c = rescued.String
		}
		if ts.Valid && date != nil && fmt.Sprint(date) != "" && !strings.HasPrefix(fmt.Sprint(date), ts.Time.UTC().Format("2006-01-02")) {
			t.Fatalf("row ts %v in partition date=%v", ts.Time, date)
		}
		got[rowIdentity(t, a, b, c)]++
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(lines) {
		t.Fatalf("DuckDB read %d rows, input has %d lines", n, len(lines))
	}
	assertSameMultiset(t, got, wantKeys(lines))
}

// TestIngestKill9 kills the loglake binary with SIGKILL at random points of
// an ingest, several times, then lets it finish: every line is in the
// table exactly once.
func TestIngestKill9(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin := loglakeBinary(t)
	landingURL, tableURL := fileURL(filepath.Join(dir, "landing")), fileURL(filepath.Join(dir, "table"))
	landing, _ := storage.Open(ctx, landingURL, nil)
	lines := ingestLines(t, landing, loggen.Options{Seed: 99, Files: 32, FileBytes: 192 << 10, Compression: "gzip", Malformed: 0.02})
	args := []string{"ingest", "--once", "--quiet", "--landing", landingURL, "--table", tableURL, "--max-files", "1"}
	logDir := filepath.Join(dir, "table", "_delta_log")
	r := rand.New(rand.NewPCG(1, 2))
	kills := 0
	for range 8 {
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill at a random point of the run's third batch: the first two
		// commits measure how long a batch takes on this machine, so the
		// kill lands mid-batch however fast or loaded the machine is.
		if !killMidBatch(t, cmd, done, logDir, r) {
			break // it finished: nothing left to interrupt
		}
		kills++
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("final run: %v", err)
	}
	var sum ingest.Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("summary %q: %v", out, err)
	}
	tbl, _ := storage.Open(ctx, tableURL, nil)
	t.Logf("%d kills; final run %d files", kills, sum.Files)
	assertSameMultiset(t, tableKeys(t, tbl), wantKeys(lines))
	if kills < 3 {
		t.Fatalf("only %d kills landed mid-ingest", kills)
	}
}

// killMidBatch waits for two new commits in logDir, then kills the process
// after a random part of the time between them. It reports false if the
// process finished first.
func killMidBatch(t *testing.T, cmd *exec.Cmd, done <-chan error, logDir string, r *rand.Rand) bool {
	t.Helper()
	var commits []time.Time
	seen := countCommits(logDir)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ingest exited early: %v", err)
			}
			return false
		case <-time.After(2 * time.Millisecond):
		}
		if n := countCommits(logDir); n > seen {
			seen = n
			commits = append(commits, time.Now())
		}
		if len(commits) == 2 {
			gap := commits[1].Sub(commits[0])
			time.Sleep(time.Duration(r.Int64N(int64(gap) + 1)))
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return true
		}
	}
	t.Fatal("ingest made no progress in a minute")
	return false
}

var commitName = regexp.MustCompile(`^\d{20}\.json$`)

// countCommits counts the commit files in a file:// table's log (not the
// temporary files a put-if-absent writes before linking a commit).
func countCommits(logDir string) int {
	ents, _ := os.ReadDir(logDir)
	n := 0
	for _, e := range ents {
		if commitName.MatchString(e.Name()) {
			n++
		}
	}
	return n
}
