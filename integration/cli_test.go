package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/tabletest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// loglakeBinary builds cmd/loglake once per test run, or uses the binary
// named by LOGLAKE_BIN (scripts/test.sh builds one for all its steps).
func loglakeBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("LOGLAKE_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "loglake-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "loglake")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/loglake").CombinedOutput()
		if err != nil {
			binErr = &buildError{err, string(out)}
		}
	})
	if binErr != nil {
		t.Fatalf("go build ./cmd/loglake: %v", binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// run runs the binary and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(loglakeBinary(t), args...)
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

// TestCLIContracts checks the JSON and text contracts of describe, history
// and scan that other tools script against, and the one-line errors.
func TestCLIContracts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	url := fileURL(dir)
	b, err := storage.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	tbl := tabletest.Create(t, b, nil)
	tabletest.AppendBatches(t, tbl, 2, 30)

	var d struct {
		Version  int64 `json:"version"`
		Protocol struct {
			MinReaderVersion int      `json:"minReaderVersion"`
			MinWriterVersion int      `json:"minWriterVersion"`
			ReaderFeatures   []string `json:"readerFeatures"`
			WriterFeatures   []string `json:"writerFeatures"`
		} `json:"protocol"`
		Schema struct {
			Fields []map[string]any `json:"fields"`
		} `json:"schema"`
		PartitionColumns []string `json:"partitionColumns"`
		NumFiles         int      `json:"numFiles"`
		SizeBytes        int64    `json:"sizeBytes"`
		NumRecords       *int64   `json:"numRecords"`
		Files            []struct {
			Path            string             `json:"path"`
			Size            int64              `json:"size"`
			PartitionValues map[string]*string `json:"partitionValues"`
			NumRecords      *int64             `json:"numRecords"`
		} `json:"files"`
	}
	out, errOut, code := run(t, "describe", url, "--json", "--files")
	if code != 0 {
		t.Fatalf("describe: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("describe --json: %v\n%s", err, out)
	}
	var sum, size int64
	for _, f := range d.Files {
		if f.NumRecords == nil || f.PartitionValues["date"] == nil || f.Size <= 0 || f.Path == "" {
			t.Fatalf("describe file entry incomplete: %+v", f)
		}
		sum += *f.NumRecords
		size += f.Size
	}
	switch {
	case d.Version != 2, d.Protocol.MinReaderVersion != 1, d.Protocol.MinWriterVersion != 2,
		d.Protocol.ReaderFeatures == nil, len(d.Schema.Fields) != 5,
		len(d.PartitionColumns) != 1 || d.PartitionColumns[0] != "date",
		d.NumRecords == nil || *d.NumRecords != 60, d.NumFiles != len(d.Files) || d.NumFiles != 6,
		sum != 60, size != d.SizeBytes:
		t.Fatalf("describe --json = %s", out)
	}
	out, _, _ = run(t, "describe", url, "--json", "--version", "1")
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Version != 1 || *d.NumRecords != 30 {
		t.Fatalf("describe --version 1: %v %s", err, out)
	}

	out, errOut, code = run(t, "history", url, "--json")
	var hist []struct {
		Version          int64          `json:"version"`
		Timestamp        string         `json:"timestamp"`
		Operation        string         `json:"operation"`
		OperationMetrics map[string]any `json:"operationMetrics"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil || len(hist) != 3 {
		t.Fatalf("history --json: exit %d %s\n%s", code, errOut, out)
	}
	if hist[0].Version != 2 || hist[0].Operation != "WRITE" || hist[0].OperationMetrics["numOutputRows"] != "30" || hist[2].Operation != "CREATE TABLE" || hist[0].Timestamp == "" {
		t.Fatalf("history entries: %+v", hist)
	}

	out, errOut, code = run(t, "scan", url, "--where", "level = 'ERROR' AND id < 30", "--columns", "id,ts,level,date")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, errOut)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("scan ndjson line %q: %v", sc.Text(), err)
		}
		ts, _ := row["ts"].(string)
		if len(row) != 4 || row["level"] != "ERROR" || !strings.HasSuffix(ts, "Z") || row["date"] == nil {
			t.Fatalf("scan row %v", row)
		}
		n++
	}
	if n != 10 { // ids 2, 5, ..., 29
		t.Fatalf("scan returned %d rows, want 10", n)
	}
	out, _, code = run(t, "scan", url, "--format", "csv", "--limit", "3", "--columns", "id,level")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 || lines[0] != "id,level" {
		t.Fatalf("scan --format csv --limit 3: %q", out)
	}

	// A corrupt commit: non-zero exit and one line naming the problem.
	if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000003.json", []byte("{not json\n")); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, "describe", url)
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "corrupt") {
		t.Fatalf("describe of a corrupt table: exit %d, stderr %q", code, errOut)
	}
	dv, _ := filepath.Abs("../../shared/testdata/delta/table-with-dv-small")
	if _, err := os.Stat(dv); err != nil {
		t.Logf("skipping the deletion-vector check: %s is absent", dv)
		return
	}
	_, errOut, code = run(t, "scan", fileURL(dv))
	if code == 0 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "deletionVectors") {
		t.Fatalf("scan of a deletion-vector table: exit %d, stderr %q", code, errOut)
	}
}
