package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/internal/faultproxy"
	"github.com/loglake/loglake/storage"
)

// gdTranscript collects every byte the game day's processes and endpoints
// produced, labelled by source.
type gdTranscript struct {
	mu    sync.Mutex
	parts []gdOutput
}

type gdOutput struct {
	source string
	data   []byte
}

func (tr *gdTranscript) add(source string, data []byte) {
	tr.mu.Lock()
	tr.parts = append(tr.parts, gdOutput{source, append([]byte(nil), data...)})
	tr.mu.Unlock()
}

// run runs loglake with env, records stdout and stderr, and returns the
// exit code.
func (tr *gdTranscript) run(t *testing.T, bin string, env []string, args ...string) int {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	label := "loglake " + strings.Join(args[:min(2, len(args))], " ")
	tr.add(label+" (stdout)", stdout.Bytes())
	tr.add(label+" (stderr)", stderr.Bytes())
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	return 0
}

// scrape records an HTTP endpoint's body.
func (tr *gdTranscript) scrape(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tr.add("GET "+url, body)
}

// envWithout returns the environment without the named variables, plus extra.
func envWithout(drop []string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, d := range drop {
			if k == d {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// TestGameDaySecrets is the game day "secrets": a pipeline on the
// emulators, with the S3 credentials given by a shared-credentials profile
// (not the environment) and the Azure key by the environment, runs region
// daemons at debug log level behind 3 % network faults (so retry and error
// paths log too), one-shot commands (egress, ingest, clone, describe,
// history, scan, status, optimize, vacuum) and commands that fail. All of
// their stdout and stderr, the daemon logs, and /metrics and /healthz
// scrapes are collected; none may contain a credential or a part of one.
func TestGameDaySecrets(t *testing.T) {
	seed := gdSeed(t)
	bin := loglakeBinary(t)
	awsKeyID, awsSecret, azureKey := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AZURE_STORAGE_KEY")
	if awsKeyID == "" || awsSecret == "" || azureKey == "" {
		t.Fatal("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AZURE_STORAGE_KEY must be set (scripts/emulators.sh env)")
	}
	net := gdStartProxies(t, seed, faultproxy.Options{Rate: 0.03, Stall: 200 * time.Millisecond})
	began := time.Now()
	ctx := context.Background()

	// The S3 credentials move from the environment into a profile; this
	// process keeps the environment (it lands files and checks results).
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials")
	cred := fmt.Sprintf("[gameday]\naws_access_key_id = %s\naws_secret_access_key = %s\n", awsKeyID, awsSecret)
	if err := os.WriteFile(credFile, []byte(cred), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envWithout([]string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"},
		"AWS_SHARED_CREDENTIALS_FILE="+credFile, "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_PROFILE=gameday")

	central := rgSub(UniqueURL(t, net.base["s3"]), "central")
	regs := gdRegionsOn(t, net.base, central, []string{"eu-west", "ap-south"}, []string{"s3", "azure"})
	for _, r := range regs {
		if err := r.land(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	var tr gdTranscript
	type daemon struct {
		cmd  *exec.Cmd
		done chan error
		out  *lockedWriter
		addr string
	}
	var daemons []*daemon
	for _, r := range regs {
		cmd := exec.Command(bin, "run", "--config", r.config)
		cmd.Env = env
		d := &daemon{cmd: cmd, done: make(chan error, 1), out: &lockedWriter{}}
		cmd.Stdout, cmd.Stderr = d.out, d.out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { d.done <- cmd.Wait() }()
		daemons = append(daemons, d)
	}
	defer func() {
		for _, d := range daemons {
			d.cmd.Process.Kill()
		}
	}()
	centralB, err := storage.Open(ctx, central, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer centralB.Close()
	rgWaitConverged(ctx, t, centralB, regs, 3*time.Minute)
	t.Logf("pipeline converged after %v", time.Since(began).Round(time.Millisecond))

	for i, d := range daemons {
		for deadline := time.Now().Add(30 * time.Second); d.addr == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			d.addr = metricsAddrIn(d.out.String())
		}
		if d.addr == "" {
			t.Fatalf("daemon %d: no metrics address in its log", i)
		}
		tr.scrape(t, "http://"+d.addr+"/metrics")
		tr.scrape(t, "http://"+d.addr+"/healthz")
	}

	clone := rgSub(UniqueURL(t, net.base["azure"]), "clone")
	must := func(args ...string) {
		if code := tr.run(t, bin, env, args...); code != 0 {
			t.Errorf("loglake %s: exit %d", strings.Join(args, " "), code)
		}
	}
	must("egress", "--config", regs[0].config, "--once")
	must("ingest", "--landing", regs[1].landing, "--table", regs[1].table, "--once")
	must("clone", regs[0].table, clone)
	must("clone", "--json", regs[0].table, clone)
	must("describe", central)
	must("history", regs[1].table)
	must("scan", "--limit", "5", regs[0].table)
	must("status", regs[0].config, regs[1].config, "--replica", regs[0].table+"="+clone)
	must("status", "--json", regs[0].config, regs[1].config, central)
	must("optimize", regs[1].table)
	must("vacuum", "--dry-run", regs[0].table)
	// Failures print the storage error; it must not carry a credential.
	missingS3 := strings.Replace(net.base["s3"], "s3://loglake-test", "s3://loglake-gameday-missing", 1) + "/t"
	for _, args := range [][]string{
		{"describe", missingS3},
		{"describe", "azblob://loglake-gameday-missing/t"},
		{"clone", regs[0].table, "azblob://loglake-gameday-missing/t"},
	} {
		if code := tr.run(t, bin, env, args...); code == 0 {
			t.Errorf("loglake %s succeeded on a missing bucket", strings.Join(args, " "))
		}
	}
	for i, d := range daemons {
		d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			t.Errorf("daemon %d did not stop", i)
		}
		tr.add(fmt.Sprintf("daemon %s (stdout+stderr)", regs[i].name), []byte(d.out.String()))
	}
	daemons = nil

	// The transcript really holds the outputs.
	all := &bytes.Buffer{}
	for _, p := range tr.parts {
		all.Write(p.data)
	}
	for _, want := range []string{`"msg":"region starting"`, "loglake_region_storage_retries_total", "loglake_ingest_rows_total", "num_copied_files"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("the captured output lacks %q: the capture is broken", want)
		}
	}
	secrets := map[string]string{
		"AWS secret access key":      awsSecret,
		"AWS access key id":          awsKeyID,
		"Azure storage key":          azureKey,
		"Azure storage key (prefix)": azureKey[:16],
		"AWS secret (suffix)":        awsSecret[len(awsSecret)-16:],
	}
	for name, s := range secrets {
		for _, p := range tr.parts {
			if i := bytes.Index(p.data, []byte(s)); i >= 0 {
				lo, hi := max(0, i-80), min(len(p.data), i+len(s)+40)
				t.Errorf("%s appears in %s: …%s…", name, p.source, strings.ReplaceAll(string(p.data[lo:hi]), s, "<"+name+">"))
			}
		}
	}
	requests, faults := net.report(t)
	t.Logf("secrets game day: %d outputs, %d bytes scanned for %d credential strings; %d requests, %d faults injected; %v",
		len(tr.parts), all.Len(), len(secrets), requests, faults, time.Since(began).Round(time.Millisecond))
}

// lockedWriter collects a running process's stdout and stderr, readable
// while it writes.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// metricsAddrIn finds the address in a "metrics endpoint listening" record.
func metricsAddrIn(log string) string {
	const key = `"msg":"metrics endpoint listening"`
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, key) {
			continue
		}
		if _, rest, ok := strings.Cut(l, `"addr":"`); ok {
			addr, _, _ := strings.Cut(rest, `"`)
			return addr
		}
	}
	return ""
}
