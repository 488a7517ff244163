package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDocumentedMetricsExist scrapes /metrics of a running daemon that has
// ingested and forwarded rows, and checks that every loglake_* metric the
// README and docs/*.md name is exported (issue 9: a documented metric that
// does not exist is a dashboard that stays empty).
func TestDocumentedMetricsExist(t *testing.T) {
	documented := map[string]bool{}
	files, _ := filepath.Glob("../docs/*.md")
	for _, f := range append(files, "../README.md") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`\bloglake_[a-z0-9_]+[a-z0-9]`).FindAllString(string(data), -1) {
			documented[m] = true
		}
	}
	if len(documented) < 10 {
		t.Fatalf("found only %d documented metrics; is the pattern right?", len(documented))
	}

	bin := loglakeBinary(t)
	dir := t.TempDir()
	if out, err := exec.Command(bin, "gen", filepath.Join(dir, "landing"), "--files", "2", "--file-bytes", "32KiB").CombinedOutput(); err != nil {
		t.Fatalf("gen: %v %s", err, out)
	}
	cfg := filepath.Join(dir, "r.yaml")
	os.WriteFile(cfg, []byte("name: eu-west\nlanding: ./landing\ntable: ./regional\ncentral: ./central\n"+
		"metrics:\n  address: 127.0.0.1:0\n  lag_interval: 200ms\n"), 0o644)
	logFile := filepath.Join(dir, "d.log")
	lf, _ := os.Create(logFile)
	defer lf.Close()
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var addr string
	deadline := time.Now().Add(60 * time.Second)
	committed := false
	for time.Now().Before(deadline) && (addr == "" || !committed) {
		data, _ := os.ReadFile(logFile)
		for _, l := range strings.Split(string(data), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) != nil {
				continue
			}
			switch rec.Msg {
			case "metrics endpoint listening":
				addr = rec.Addr
			case "committed to the central table":
				committed = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr == "" || !committed {
		data, _ := os.ReadFile(logFile)
		t.Fatalf("daemon did not listen and forward rows in time:\n%s", data)
	}
	time.Sleep(500 * time.Millisecond) // a lag check and a latency observation
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	exported := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(l, "# TYPE "); ok {
			exported[strings.Fields(name)[0]] = true
		}
	}
	var missing []string
	for m := range documented {
		if !exported[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented but not exported by a running daemon: %v", missing)
	}

	// Issue 9 item 10: SIGTERM is logged, and the stop reports totals.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("daemon after SIGTERM: %v", err)
	}
	data, _ := os.ReadFile(logFile)
	var stopAsked bool
	var stopped struct {
		Msg                    string
		IngestRows, EgressRows int64
	}
	for _, l := range strings.Split(string(data), "\n") {
		var rec struct {
			Msg, Level             string
			IngestRows, EgressRows int64
		}
		if json.Unmarshal([]byte(l), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "stop requested; letting the current batches finish":
			stopAsked = true
		case "region stopped":
			stopped.Msg, stopped.IngestRows, stopped.EgressRows = rec.Msg, rec.IngestRows, rec.EgressRows
		case "committed to the central table":
			if rec.Level != "INFO" {
				t.Errorf("central commit logged at %s", rec.Level)
			}
		}
	}
	if !stopAsked || stopped.Msg == "" || stopped.IngestRows == 0 || stopped.EgressRows == 0 {
		t.Errorf("stop not logged with totals (stop requested %v, %+v):\n%s", stopAsked, stopped, data)
	}

	// Error chains name the loop once.
	os.WriteFile(cfg, []byte("name: eu-west\nlanding: ./landing\ntable: ./regional\ncentral: ./central\n"+
		"egress:\n  predicate: no_such_column = 1\n"), 0o644)
	out, err := exec.Command(bin, "run", "--config", cfg).CombinedOutput()
	if err == nil || strings.Contains(string(out), "egress: egress:") || !strings.Contains(string(out), "no_such_column") {
		t.Errorf("bad predicate: %v\n%s", err, out)
	}
}
