package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Tests of the region daemon (`loglake run`) as a real process: several
// regions feeding one central table, daemons killed with SIGKILL at random
// moments and restarted, two daemons of one region at once, a reader
// checking every central snapshot it sees, SIGTERM, `loglake egress
// --once`, and bad configurations.

// TestRegionDaemons builds loglake once and runs the daemon scenarios.
func TestRegionDaemons(t *testing.T) {
	bin := rgBuild(t)
	t.Run("bad configs", func(t *testing.T) { testRegionBadConfigs(t, bin) })
	t.Run("http and egress once", func(t *testing.T) { testRegionDaemonHTTPAndEgressOnce(t, bin) })
	t.Run("kill9", func(t *testing.T) { testRegionDaemonsKill9(t, bin) })
}

// rgBuild builds the loglake binary into a temporary directory.
func rgBuild(t *testing.T) string {
	t.Helper()
	return loglakeBinary(t)
}

// rgRegion is one region of a test: its locations, config file and the
// rows it was given.
type rgRegion struct {
	name                    string
	landing, table, central string
	config                  string
	seed                    uint64
	waves                   int
	lines, approved         int64
}

// rgSub returns the location elem under base (a file:// directory or a
// bucket URL with a prefix), keeping base's query.
func rgSub(base, elem string) string {
	b, q, _ := strings.Cut(base, "?")
	u := strings.TrimSuffix(b, "/") + "/" + elem
	if q != "" {
		u += "?" + q
	}
	return u
}

func rgNewRegions(t *testing.T, base string, names ...string) []*rgRegion {
	t.Helper()
	dir := t.TempDir()
	central := rgSub(base, "central")
	var out []*rgRegion
	for i, n := range names {
		r := &rgRegion{name: n, landing: rgSub(base, "landing/"+n), table: rgSub(base, "regions/"+n),
			central: central, seed: uint64(100 * (i + 1)), config: filepath.Join(dir, n+".yaml")}
		y := fmt.Sprintf(`name: %s
landing: %s
table: %s
central: %s
ingest:
  interval: 200ms
  backfill_interval: 1s
  max_files: 4
egress:
  interval: 200ms
metrics:
  address: 127.0.0.1:0
  lag_interval: 500ms
log:
  level: debug
shutdown_timeout: 30s
`, n, r.landing, r.table, r.central)
		if err := os.WriteFile(r.config, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// land writes one more wave of landing files and adds its lines and
// approved lines to the region's expectations. The approved count comes
// from the generated JSON itself, independently of ingest.
func (r *rgRegion) land(ctx context.Context, files int) error {
	o := loggen.Options{Seed: r.seed + uint64(r.waves), Files: files, FileBytes: 20_000,
		Prefix: fmt.Sprintf("w%03d/", r.waves)}
	g, err := loggen.New(o)
	if err != nil {
		return err
	}
	var lines, approved int64
	for i := range files {
		var buf bytes.Buffer
		if _, err := g.WriteFile(&buf, i); err != nil {
			return err
		}
		sc := bufio.NewScanner(&buf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row struct {
				Approved *bool `json:"egress_approved"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				return fmt.Errorf("generated line is not JSON: %v", err)
			}
			lines++
			if row.Approved != nil && *row.Approved {
				approved++
			}
		}
	}
	b, err := storage.Open(ctx, r.landing, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	if _, err := g.Generate(ctx, b, 2, nil); err != nil {
		return err
	}
	r.waves++
	r.lines += lines
	r.approved += approved
	return nil
}

// rgDaemon is one `loglake run` process.
type rgDaemon struct {
	region *rgRegion
	cmd    *exec.Cmd
	done   chan error
	log    string
}

func rgStart(t *testing.T, bin string, r *rgRegion, logDir string, n int) *rgDaemon {
	t.Helper()
	logFile := filepath.Join(logDir, fmt.Sprintf("%s-%03d.log", r.name, n))
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", r.config)
	cmd.Stderr = f
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &rgDaemon{region: r, cmd: cmd, done: make(chan error, 1), log: logFile}
	go func() {
		d.done <- cmd.Wait()
		f.Close()
	}()
	return d
}

// kill sends SIGKILL and waits for the process to end.
func (d *rgDaemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// term sends SIGTERM and returns the exit error (nil: exit status 0).
func (d *rgDaemon) term(timeout time.Duration) error {
	// A process signalled before main installs its handler dies of the
	// default action: wait until the daemon says it is running.
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(d.log); bytes.Contains(b, []byte(`"region starting"`)) {
			break
		}
		select {
		case err := <-d.done:
			return err // it exited on its own
		default:
		}
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		return err
	case <-time.After(timeout):
		d.kill()
		return fmt.Errorf("did not exit within %v of SIGTERM", timeout)
	}
}

// rgCentralState is what a reader saw in one central snapshot.
type rgCentralState struct {
	version   int64
	perRegion map[string]int64
}

// rgReadCentral scans the latest central snapshot and checks that it is
// consistent: every file it references is readable, the rows scanned
// equal the numRecords of its files' stats, no row appears twice, and no
// row is unapproved.
func rgReadCentral(ctx context.Context, central storage.Bucket) (*rgCentralState, error) {
	tb, err := table.Open(ctx, central, nil)
	if errors.Is(err, table.ErrNoTable) {
		return &rgCentralState{version: -1, perRegion: map[string]int64{}}, nil
	}
	if err != nil {
		return nil, err
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	st := &rgCentralState{version: snap.Version(), perRegion: map[string]int64{}}
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"region", "_source_file", "trace_id", "egress_approved"}})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	seen := map[string]bool{}
	var rows int64
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("version %d: %w", snap.Version(), err)
		}
		for i := range int(rec.NumRows()) {
			region, _ := table.Value(rec.Column(0), i).(string)
			key := fmt.Sprint(region, "|", table.Value(rec.Column(1), i), "|", table.Value(rec.Column(2), i))
			if seen[key] {
				rec.Release()
				return nil, fmt.Errorf("version %d: row %s appears twice", snap.Version(), key)
			}
			seen[key] = true
			if ok, _ := table.Value(rec.Column(3), i).(bool); !ok {
				rec.Release()
				return nil, fmt.Errorf("version %d: unapproved row %s in central", snap.Version(), key)
			}
			st.perRegion[region]++
		}
		rows += rec.NumRows()
		rec.Release()
	}
	if n, ok := snap.NumRecords(); !ok || n != rows {
		return nil, fmt.Errorf("version %d: scanned %d rows, file stats say %d (%v)", snap.Version(), rows, n, ok)
	}
	return st, nil
}

// rgRegionalRows counts the rows of a regional table.
func rgRegionalRows(ctx context.Context, url string) (int64, error) {
	b, err := storage.Open(ctx, url, nil)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	tb, err := table.Open(ctx, b, nil)
	if errors.Is(err, table.ErrNoTable) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		return 0, err
	}
	n, _ := snap.NumRecords()
	return n, nil
}

// rgReader scans central snapshots until stop, checking each is consistent
// and that no region's row count ever goes down.
func rgReader(ctx context.Context, stop <-chan struct{}, central storage.Bucket) (snapshots int, err error) {
	last := map[string]int64{}
	for {
		select {
		case <-stop:
			return snapshots, nil
		default:
		}
		st, err := rgReadCentral(ctx, central)
		if err != nil {
			return snapshots, err
		}
		for r, n := range st.perRegion {
			if n < last[r] {
				return snapshots, fmt.Errorf("version %d: region %s has %d rows, an earlier snapshot had %d", st.version, r, n, last[r])
			}
			last[r] = n
		}
		snapshots++
		time.Sleep(50 * time.Millisecond)
	}
}

// rgWaitConverged waits until every region's lines are in its regional
// table and exactly its approved lines are in central.
func rgWaitConverged(ctx context.Context, t *testing.T, central storage.Bucket, regs []*rgRegion, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for time.Now().Before(deadline) {
		st, err := rgReadCentral(ctx, central)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		state = fmt.Sprintf("central v%d:", st.version)
		for _, r := range regs {
			n, err := rgRegionalRows(ctx, r.table)
			if err != nil {
				t.Fatal(err)
			}
			state += fmt.Sprintf(" %s regional %d/%d central %d/%d;", r.name, n, r.lines, st.perRegion[r.name], r.approved)
			if n != r.lines || st.perRegion[r.name] != r.approved {
				ok = false
			}
			if n > r.lines || st.perRegion[r.name] > r.approved {
				t.Fatalf("more rows than landed (duplicates): %s", state)
			}
		}
		if ok {
			t.Logf("converged: %s", state)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("not converged after %v: %s", timeout, state)
}

// testRegionDaemonsKill9 runs three regions' daemons on each backend while
// files land in waves; a chaos loop SIGKILLs random daemons and restarts
// them, and at times runs two daemons of one region at once. A reader
// checks every central snapshot during all this. At the end every region's
// approved rows are in central exactly once and nothing else is.
func testRegionDaemonsKill9(t *testing.T, bin string) {
	backends := []Backend{{Name: "file", BaseURL: fileURL(t.TempDir())}}
	if u := os.Getenv(EnvS3URL); u != "" {
		backends = append(backends, Backend{Name: "s3", BaseURL: u})
	}
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			base := UniqueURL(t, be.BaseURL)
			regs := rgNewRegions(t, base, "eu-west", "us-east", "ap-south")
			logDir := t.TempDir()
			central, err := storage.Open(ctx, regs[0].central, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer central.Close()

			var mu sync.Mutex
			running := map[string][]*rgDaemon{}
			started := 0
			start := func(r *rgRegion) {
				mu.Lock()
				defer mu.Unlock()
				started++
				running[r.name] = append(running[r.name], rgStart(t, bin, r, logDir, started))
			}
			defer func() {
				mu.Lock()
				defer mu.Unlock()
				for _, ds := range running {
					for _, d := range ds {
						d.kill()
					}
				}
				if t.Failed() {
					rgDumpLogs(t, logDir)
				}
			}()
			for _, r := range regs {
				start(r)
			}
			start(regs[0]) // eu-west starts with two daemons
			doubles := 1

			stopReader := make(chan struct{})
			readerDone := make(chan error, 1)
			var snapshots int
			go func() {
				var err error
				snapshots, err = rgReader(ctx, stopReader, central)
				readerDone <- err
			}()

			rnd := rand.New(rand.NewPCG(1, 2))
			kills := 0
			const waves = 6
			for wave := range waves {
				for _, r := range regs {
					if err := r.land(ctx, 3); err != nil {
						t.Fatal(err)
					}
				}
				// Chaos: a few random actions between waves.
				for range 3 {
					time.Sleep(time.Duration(200+rnd.IntN(900)) * time.Millisecond)
					r := regs[rnd.IntN(len(regs))]
					mu.Lock()
					ds := running[r.name]
					mu.Unlock()
					switch {
					case len(ds) > 0 && rnd.IntN(3) > 0:
						i := rnd.IntN(len(ds))
						ds[i].kill()
						kills++
						mu.Lock()
						running[r.name] = append(ds[:i:i], ds[i+1:]...)
						mu.Unlock()
						if rnd.IntN(2) == 0 || len(running[r.name]) == 0 {
							start(r)
						}
					case len(ds) < 2:
						start(r) // two daemons of one region at once
						doubles++
					}
				}
				t.Logf("wave %d landed; %d kills, %d double starts so far", wave, kills, doubles)
			}
			// Make sure every region has a daemon, then wait.
			for _, r := range regs {
				mu.Lock()
				n := len(running[r.name])
				mu.Unlock()
				if n == 0 {
					start(r)
				}
			}
			rgWaitConverged(ctx, t, central, regs, 3*time.Minute)
			close(stopReader)
			if err := <-readerDone; err != nil {
				t.Fatalf("reader: %v", err)
			}
			if snapshots < 3 {
				t.Errorf("reader checked only %d snapshots", snapshots)
			}
			t.Logf("%d kills, %d double starts, %d daemons started, reader checked %d snapshots", kills, doubles, started, snapshots)
			if kills < 5 {
				t.Errorf("only %d kills: the chaos loop did not exercise restarts", kills)
			}

			// SIGTERM: every daemon drains and exits 0.
			mu.Lock()
			for name, ds := range running {
				for _, d := range ds {
					if err := d.term(60 * time.Second); err != nil {
						t.Errorf("%s daemon after SIGTERM: %v (log %s)", name, err, d.log)
					}
				}
				running[name] = nil
			}
			mu.Unlock()
		})
	}
}

func rgDumpLogs(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		var keep []string
		for _, l := range lines {
			if !strings.Contains(l, `"level":"DEBUG"`) {
				keep = append(keep, l)
			}
		}
		if len(keep) > 15 {
			keep = keep[len(keep)-15:]
		}
		t.Logf("--- %s (last lines)\n%s", filepath.Base(f), strings.Join(keep, "\n"))
	}
}

// testRegionDaemonHTTPAndEgressOnce checks the daemon's /healthz and
// /metrics as a process, `loglake egress --once` and its JSON summary.
func testRegionDaemonHTTPAndEgressOnce(t *testing.T, bin string) {
	ctx := context.Background()
	regs := rgNewRegions(t, fileURL(t.TempDir()), "eu-west")
	r := regs[0]
	if err := r.land(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Ingest only: egress is off in this daemon.
	cfg, _ := os.ReadFile(r.config)
	ingestOnly := filepath.Join(filepath.Dir(r.config), "ingest-only.yaml")
	if err := os.WriteFile(ingestOnly, bytes.Replace(cfg, []byte("egress:\n"), []byte("egress:\n  enabled: false\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "d.log")
	f, _ := os.Create(logFile)
	cmd := exec.Command(bin, "run", "--config", ingestOnly)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-done
		f.Close()
	}()
	// The daemon logs its address (port 0 picks one).
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		data, _ := os.ReadFile(logFile)
		for _, l := range strings.Split(string(data), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "metrics endpoint listening" {
				addr = rec.Addr
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr == "" {
		t.Fatal("no 'metrics endpoint listening' log record")
	}
	for {
		n, err := rgRegionalRows(ctx, r.table)
		if err != nil {
			t.Fatal(err)
		}
		if n == r.lines {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("regional table has %d rows, want %d", n, r.lines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status string
		Loops  map[string]string
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h.Status != "ok" || h.Loops["ingest"] != "running" || h.Loops["egress"] != "" {
		t.Errorf("/healthz = %d %+v, want 200 ok with only ingest running", resp.StatusCode, h)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf(`loglake_ingest_rows_total{region="eu-west",stream="default"} %d`, r.lines)
	if !strings.Contains(string(text), want) {
		t.Errorf("/metrics lacks %q", want)
	}

	// egress --once forwards everything and prints a JSON summary.
	out, err := exec.Command(bin, "egress", "--config", r.config, "--once").Output()
	if err != nil {
		t.Fatalf("egress --once: %v", err)
	}
	var sum struct {
		Region      string
		Rows        int64
		Commits     int
		LagVersions int64
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("egress --once output %q: %v", out, err)
	}
	if sum.Region != "eu-west" || sum.Rows != r.approved || sum.Commits < 1 || sum.LagVersions != 0 {
		t.Errorf("egress --once summary = %+v, want %d rows", sum, r.approved)
	}
	out, err = exec.Command(bin, "egress", "--config", r.config, "--once").Output()
	if err != nil {
		t.Fatalf("second egress --once: %v", err)
	}
	json.Unmarshal(out, &sum)
	if sum.Rows != 0 || sum.Commits != 0 {
		t.Errorf("second egress --once = %+v, want nothing new", sum)
	}
	central, err := storage.Open(ctx, r.central, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer central.Close()
	st, err := rgReadCentral(ctx, central)
	if err != nil {
		t.Fatal(err)
	}
	if st.perRegion["eu-west"] != r.approved {
		t.Errorf("central has %d eu-west rows, want %d", st.perRegion["eu-west"], r.approved)
	}

	// SIGTERM: exit status 0.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("daemon did not exit within 60s of SIGTERM")
	}
}

// testRegionBadConfigs checks that `loglake run` refuses bad configurations
// with exit status 2 and a message naming the file, line and field.
func testRegionBadConfigs(t *testing.T, bin string) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field", "name: x\ntable: file:///tmp/t\nlanding: file:///tmp/l\ncentral: file:///tmp/c\negress:\n  predicat: a = 1\n",
			[]string{"bad.yaml:6: egress.predicat: unknown field"}},
		{"missing table", "name: x\nlanding: file:///tmp/l\ncentral: file:///tmp/c\n", []string{"bad.yaml: table: required"}},
		{"bad predicate", "name: x\ntable: file:///tmp/t\nlanding: file:///tmp/l\ncentral: file:///tmp/c\negress:\n  predicate: a = = 1\n",
			[]string{"bad.yaml:6: egress.predicate: expr: syntax error"}},
		{"secret in URL", "name: x\ntable: s3://b/t?secret_access_key=abc\nlanding: s3://b/l\ncentral: s3://b/c\n",
			[]string{"bad.yaml:2: table: s3://b/t: query parameter \"secret_access_key\" looks like a credential"}},
		{"wrong cloud", "name: x\ncloud: azure\ntable: gs://b/t\nlanding: gs://b/l\ncentral: gs://b/c\n",
			[]string{"bad.yaml:3: table: a gs:// URL does not belong to cloud \"azure\""}},
		{"yaml syntax", "name: x\n  table: [\n", []string{"bad.yaml:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(f, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, sub := range [][]string{{"run"}, {"egress", "--once"}} {
				cmd := exec.Command(bin, append(sub, "--config", f)...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 2 {
					t.Errorf("loglake %s: err = %v, want exit status 2", sub[0], err)
				}
				msg := stderr.String()
				if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
					t.Errorf("loglake %s: error is not one line: %q", sub[0], msg)
				}
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						t.Errorf("loglake %s: stderr %q does not contain %q", sub[0], msg, w)
					}
				}
				if strings.Contains(msg, "abc") {
					t.Errorf("loglake %s: stderr repeats the secret: %q", sub[0], msg)
				}
			}
		})
	}
}
