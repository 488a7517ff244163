package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

// ll runs the binary in dir with extra environment variables and returns
// stdout, stderr and the exit code.
func ll(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(loglakeBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// want checks an exit code and that stderr holds one line containing every
// fragment and none of the forbidden strings.
func want(t *testing.T, name string, code, wantCode int, stderr string, contains []string, forbidden ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d; stderr: %s", name, code, wantCode, stderr)
	}
	first, _, _ := strings.Cut(stderr, "\n")
	for _, c := range contains {
		if !strings.Contains(first, c) {
			t.Errorf("%s: stderr %q lacks %q", name, stderr, c)
		}
	}
	for _, f := range forbidden {
		if strings.Contains(stderr, f) {
			t.Errorf("%s: stderr %q shows %q", name, stderr, f)
		}
	}
}

// TestCLIFirstHour checks every finding of issue 9 (docs/first-hour.md)
// through the real binary.
func TestCLIFirstHour(t *testing.T) {
	dir := t.TempDir()
	// A landing folder and a table to read.
	if _, se, c := ll(t, dir, nil, "gen", "landing", "--files", "3", "--file-bytes", "64KiB"); c != 0 {
		t.Fatalf("gen: %s", se)
	}
	out, se, c := ll(t, dir, nil, "ingest", "--landing", "./landing", "--table", "t", "--once",
		"--max-bytes", "10GiB", "--target-file-size", "128MiB", "--memory-limit", "512MiB", "--interval", "30s")
	if c != 0 {
		t.Fatalf("ingest with sizes: %s", se)
	}
	var sum struct {
		Files, Commits int
		Version        int64
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Files != 3 || sum.Version != 1 {
		t.Fatalf("ingest summary %s: %+v %v", out, sum, err)
	}

	t.Run("1 reads create nothing", func(t *testing.T) {
		for _, args := range [][]string{
			{"describe", "typo"}, {"scan", "./typo"}, {"history", "file://" + filepath.Join(dir, "typo")},
		} {
			_, se, c := ll(t, dir, nil, args...)
			want(t, args[0], c, 1, se, []string{"typo", "no Delta table"})
		}
		// ingest --once from a missing landing: nothing to do, nothing created.
		out, se, c := ll(t, dir, nil, "ingest", "--landing", "nope", "--table", "newtable", "--once")
		if c != 0 || !strings.Contains(out, `"version": -1`) {
			t.Errorf("ingest from a missing landing: %d %s %s", c, out, se)
		}
		for _, name := range []string{"typo", "nope", "newtable"} {
			if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
				t.Errorf("%s was created (%v)", name, err)
			}
		}
		// The same on S3: no object appears under a mistyped prefix.
		base := UniqueURL(t, os.Getenv(EnvS3URL))
		_, se, c = ll(t, dir, nil, "describe", base)
		want(t, "describe s3", c, 1, se, []string{"no Delta table"})
		ctx := context.Background()
		b, err := storage.Open(ctx, base, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if o, err := b.List(ctx, "", "").Next(ctx); err != io.EOF {
			t.Errorf("describe on S3 left %v (%v)", o.Key, err)
		}
	})

	t.Run("2 overlapping locations", func(t *testing.T) {
		_, se, c := ll(t, dir, nil, "ingest", "--landing", "landing", "--table", "landing/t", "--once")
		want(t, "table inside landing", c, 2, se, []string{"overlap"})
		_, se, c = ll(t, dir, nil, "clone", "t", "landing")
		want(t, "clone into landing", c, 2, se, []string{"not empty", "not a Delta table"})
	})

	t.Run("3 exit codes", func(t *testing.T) {
		for _, c := range []struct {
			name string
			args []string
			env  []string
		}{
			{"unknown command", []string{"bogus"}, nil},
			{"unknown flag", []string{"scan", "t", "--nope"}, nil},
			{"argument count", []string{"scan", "t", "u"}, nil},
			{"bad flag value", []string{"scan", "t", "--limit", "x"}, nil},
			{"bad size", []string{"ingest", "--landing", "landing", "--table", "t", "--max-bytes", "10XB"}, nil},
			{"bad env value", []string{"scan", "t"}, []string{"LOGLAKE_SCAN_LIMIT=many"}},
			{"where syntax", []string{"scan", "t", "--where", "level ="}, nil},
			{"where syntax of delete", []string{"delete", "t", "--where", "level = = 'x'"}, nil},
			{"negative threshold", []string{"status", "t", "--max-lag", "-1s"}, nil},
			{"negative version", []string{"scan", "t", "--version", "-2"}, nil},
			{"zero max-files", []string{"ingest", "--landing", "landing", "--table", "t", "--once", "--max-files", "0"}, nil},
			{"duplicate column", []string{"scan", "t", "--columns", "level,LEVEL"}, nil},
			{"vacuum below retention", []string{"vacuum", "t", "--retain", "0", "--dry-run"}, nil},
			{"missing flag", []string{"ingest", "--table", "t"}, nil},
			{"outputs disagree", []string{"describe", "t", "--json", "-o", "csv"}, nil},
		} {
			_, se, code := ll(t, dir, c.env, c.args...)
			want(t, c.name, code, 2, se, []string{"loglake: "})
			if strings.Count(strings.TrimSpace(se), "\n") > 1 {
				t.Errorf("%s: more than an error and a hint: %q", c.name, se)
			}
		}
		// Found only once the table is read: a table the arguments do not fit.
		sub := t.TempDir()
		os.Mkdir(filepath.Join(sub, "l"), 0o755)
		os.WriteFile(filepath.Join(sub, "l", "a.json"), []byte(`{"msg":"x"}`+"\n"), 0o644)
		os.WriteFile(filepath.Join(sub, "s"), []byte("ts timestamp, msg string"), 0o644)
		if _, se, c := ll(t, sub, nil, "ingest", "--landing", "l", "--table", "t", "--schema", "s", "--once"); c != 0 {
			t.Fatalf("ingest with a schema: %s", se)
		}
		os.WriteFile(filepath.Join(sub, "l", "b.log"), []byte("a text line\n"), 0o644)
		_, se, code := ll(t, sub, nil, "ingest", "--landing", "l", "--table", "t", "--format", "text", "--once")
		want(t, "text into a table without message", code, 2, se, []string{"loglake: ", "message"})
	})

	t.Run("3 Ctrl-C", func(t *testing.T) {
		sub := t.TempDir()
		if _, se, c := ll(t, sub, nil, "gen", "l", "--files", "120", "--file-bytes", "4KiB"); c != 0 {
			t.Fatal(se)
		}
		cmd := exec.Command(loglakeBinary(t), "ingest", "--landing", "l", "--table", "t", "--once", "--max-files", "1")
		cmd.Dir = sub
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Interrupt once the first batch is committed.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(sub, "t", "_delta_log", "00000000000000000002.json")); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code == 0 {
			t.Skipf("ingest finished before the interrupt (machine too fast for 120 batches): %s", stderr.String())
		}
		want(t, "ingest --once interrupted", code, 130, stderr.String(),
			[]string{"interrupted; ", "committed", "rerun to continue"}, "context canceled")
	})

	t.Run("5 versions are never -1 for an existing table", func(t *testing.T) {
		out, _, _ := ll(t, dir, nil, "ingest", "--landing", "landing", "--table", "t", "--once")
		if !strings.Contains(out, `"version": 1`) {
			t.Errorf("idle ingest: %s", out)
		}
		out, se, c := ll(t, dir, nil, "clone", "t", "fresh", "--dry-run")
		if c != 0 || !strings.Contains(out, "source version none -> 1") {
			t.Errorf("clone --dry-run: %d %s %s", c, out, se)
		}
	})

	t.Run("6 secrets", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			env  []string
		}{
			{[]string{"describe", "s3://bucket/p?region=x&secret=abc123"}, nil},
			{[]string{"describe", "s3://AKIAEXAMPLE:abc123@bucket/p"}, nil},
			{[]string{"ingest", "--landing", "landing", "--once"}, []string{"LOGLAKE_INGEST_TABLE=s3://AKIAEXAMPLE:abc123@bucket/t"}},
		} {
			_, se, code := ll(t, dir, c.env, c.args...)
			want(t, strings.Join(c.args, " "), code, 2, se, []string{"credential"}, "abc123", "AKIAEXAMPLE")
		}
	})

	t.Run("8 gen", func(t *testing.T) {
		sub := t.TempDir()
		out, se, c := ll(t, sub, nil, "gen", "l", "--prefix", "a/b", "--files", "1", "--file-bytes", "8KiB", "--compress", "none")
		if c != 0 {
			t.Fatalf("gen: %s", se)
		}
		var st struct {
			Files, Lines int
			Bytes        int64
		}
		json.Unmarshal([]byte(out), &st)
		if avg := st.Bytes / int64(max(st.Lines, 1)); avg < 300 || avg > 500 {
			t.Errorf("average line %d bytes; docs say ~415", avg)
		}
		matches, _ := filepath.Glob(filepath.Join(sub, "l", "a", "b", "service=*"))
		if len(matches) != 1 {
			t.Errorf("--prefix a/b: %v", matches)
		}
		for _, n := range []string{"0", "-1"} {
			_, se, c := ll(t, sub, nil, "gen", "l2", "--files", n)
			want(t, "--files "+n, c, 2, se, []string{"--files"})
		}
		_, se, c = ll(t, sub, nil, "gen", "l", "--prefix", "a/b", "--files", "1", "--file-bytes", "8KiB", "--seed", "2")
		want(t, "second gen", c, 2, se, []string{"already exists", "--prefix"})
		_, se, c = ll(t, dir, nil, "gen", "t", "--files", "1", "--file-bytes", "8KiB")
		want(t, "gen into a table", c, 2, se, []string{"is a Delta table"})
	})

	t.Run("11 smaller", func(t *testing.T) {
		out, _, c := ll(t, dir, nil, "scan", "t", "--limit", "0")
		if c != 0 || out != "" {
			t.Errorf("--limit 0: %d %q", c, out)
		}
		_, se, c := ll(t, dir, nil, "scan", "t", "--limit", "-5")
		want(t, "--limit -5", c, 2, se, []string{"--limit"})
		out, se, c = ll(t, dir, nil, "scan", "t", "--columns", "level, service", "--limit", "2", "--format", "json")
		var rows []map[string]any
		if c != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || len(rows[0]) != 2 {
			t.Errorf("scan --columns with a space, --format json: %d %s %s", c, out, se)
		}
		out, _, _ = ll(t, dir, nil, "describe", "t")
		if strings.Contains(out, `"string"`) || !strings.Contains(out, "string") {
			t.Errorf("describe prints quoted types:\n%s", out)
		}
		// A damaged newer commit does not stop reading an older version.
		ll(t, dir, nil, "clone", "t", "damaged")
		os.WriteFile(filepath.Join(dir, "damaged", "_delta_log", "00000000000000000002.json"), []byte("garbage{\n"), 0o644)
		out, se, c = ll(t, dir, nil, "scan", "damaged", "--version", "1", "--limit", "1")
		if c != 0 || !strings.HasPrefix(out, "{") {
			t.Errorf("scan --version 1 under a damaged commit 2: %d %s %s", c, out, se)
		}
		_, se, c = ll(t, dir, nil, "scan", "damaged")
		want(t, "scan of the damaged latest", c, 1, se, []string{"commit 2", "corrupt"})
		_, se, c = ll(t, dir, nil, "describe", "typo", "--version", "1")
		want(t, "describe --version of no table", c, 1, se, []string{"typo", "no Delta table"})
		out, _, _ = ll(t, dir, nil, "clone", "t", "c1")
		if !strings.Contains(out, "1 commit written") {
			t.Errorf("clone: %s", out)
		}
		out, _, _ = ll(t, dir, nil, "clone", "t", "c2", "-o", "json")
		if strings.Contains(out, "duration_ms") || !strings.Contains(out, "durationMs") || !strings.Contains(out, "source_table_size") {
			t.Errorf("clone JSON keys: camelCase except Delta's clone metrics:\n%s", out)
		}
	})

	t.Run("conventions", func(t *testing.T) {
		out, _, _ := ll(t, dir, []string{"LOGLAKE_OUTPUT=json"}, "describe", "t")
		if !json.Valid([]byte(out)) {
			t.Errorf("LOGLAKE_OUTPUT=json: %s", out)
		}
		out, _, _ = ll(t, dir, []string{"LOGLAKE_OUTPUT=json"}, "describe", "t", "-o", "csv")
		if !strings.HasPrefix(out, "version,timestamp,id,") {
			t.Errorf("flag over env: %s", out)
		}
		// A command's own flags read LOGLAKE_<COMMAND>_<FLAG> only: a
		// variable set for one command never changes another.
		all, _, _ := ll(t, dir, nil, "scan", "t", "-o", "ndjson")
		out, _, _ = ll(t, dir, []string{"LOGLAKE_LIMIT=1", "LOGLAKE_FORMAT=csv"}, "scan", "t", "-o", "ndjson")
		if n := strings.Count(all, "\n"); n < 2 || out != all {
			t.Errorf("LOGLAKE_LIMIT/LOGLAKE_FORMAT changed scan (%d rows without):\n%s", n, out)
		}
		out, _, _ = ll(t, dir, []string{"LOGLAKE_SCAN_LIMIT=1"}, "scan", "t", "-o", "ndjson")
		if n := strings.Count(out, "\n"); n != 1 {
			t.Errorf("LOGLAKE_SCAN_LIMIT=1: %d rows", n)
		}
		out, _, _ = ll(t, dir, nil, "scan", "t", "--where", "level = 'none such'", "--columns", "level,ts", "-o", "csv")
		if out != "level,ts\n" {
			t.Errorf("scan -o csv of no rows: %q, want the header", out)
		}
		out, _, _ = ll(t, dir, nil, "history", "t", "-o", "ndjson")
		if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"operation":"STREAMING UPDATE"`) {
			t.Errorf("history -o ndjson: %s", out)
		}
		out, _, _ = ll(t, dir, nil, "ingest", "--landing", "landing", "--table", "t", "--dry-run", "-o", "csv")
		if !strings.HasPrefix(out, "key,size,reason,batch\n") || strings.Count(out, ",ingested,") != 3 {
			t.Errorf("ingest --dry-run: %s", out)
		}
		out, _, c := ll(t, dir, nil, "version", "-o", "json")
		var v map[string]any
		if c != 0 || json.Unmarshal([]byte(out), &v) != nil || !strings.HasPrefix(v["arrowGo"].(string), "v18") || v["duckdb"] == "unknown" {
			t.Errorf("version: %s", out)
		}
		out, _, c = ll(t, dir, nil, "--version")
		if c != 0 || !strings.HasPrefix(out, "loglake ") || !strings.Contains(out, "duckdb") {
			t.Errorf("--version: %s", out)
		}
		out, _, c = ll(t, dir, nil, "completion", "bash")
		if c != 0 || !strings.Contains(out, "__start_loglake") {
			t.Errorf("completion bash: %d", c)
		}
	})
}

// -q and -v on a long-running command, through the binary: a warning (a
// landing file changed after ingestion) reaches stderr by default and not
// with -q; -vv logs at debug level (JSON lines).
func TestCLIQuietVerbose(t *testing.T) {
	dir := t.TempDir()
	if _, se, c := ll(t, dir, nil, "gen", "landing", "--files", "2", "--file-bytes", "16KiB"); c != 0 {
		t.Fatalf("gen: %s", se)
	}
	_, se, c := ll(t, dir, nil, "ingest", "--landing", "landing", "--table", "t", "--once", "-vv")
	if c != 0 || !strings.Contains(se, `"level":"DEBUG"`) {
		t.Errorf("ingest -vv: exit %d, stderr lacks debug lines: %q", c, se)
	}
	var file string
	filepath.WalkDir(filepath.Join(dir, "landing"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && file == "" {
			file = p
		}
		return err
	})
	if file == "" {
		t.Fatal("gen wrote no files")
	}
	if err := os.WriteFile(file, []byte(`{"msg":"changed"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, se, c = ll(t, dir, nil, "ingest", "--landing", "landing", "--table", "t", "--once")
	if c != 0 || !strings.Contains(se, "changed") {
		t.Errorf("ingest of a changed file: exit %d, no warning: %q", c, se)
	}
	_, se, c = ll(t, dir, nil, "ingest", "--landing", "landing", "--table", "t", "--once", "-q")
	if c != 0 || se != "" {
		t.Errorf("ingest -q: exit %d, stderr %q", c, se)
	}
}
