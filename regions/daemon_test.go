package regions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// regionEnv is one region's locations in a temporary directory.
type regionEnv struct {
	dir                     string
	landing, table, central string
}

func newRegionEnv(t *testing.T, central string) regionEnv {
	dir := t.TempDir()
	e := regionEnv{dir: dir, landing: "file://" + filepath.ToSlash(filepath.Join(dir, "landing")),
		table: "file://" + filepath.ToSlash(filepath.Join(dir, "regional")), central: central}
	if e.central == "" {
		e.central = "file://" + filepath.ToSlash(filepath.Join(dir, "central"))
	}
	return e
}

func (e regionEnv) config(t *testing.T, name, extra string) *regions.Config {
	t.Helper()
	y := fmt.Sprintf(`name: %s
landing: %s
table: %s
central: %s
ingest:
  interval: 100ms
  backfill_interval: 500ms
metrics:
  address: 127.0.0.1:0
  lag_interval: 100ms
shutdown_timeout: 20s
%s`, name, e.landing, e.table, e.central, extra)
	if !strings.Contains(extra, "egress:") {
		y += "egress:\n  interval: 100ms\n"
	} else {
		y = strings.Replace(y, "egress:\n", "egress:\n  interval: 100ms\n", 1)
	}
	c, err := regions.Parse([]byte(y), filepath.Join(e.dir, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// generate writes files landing files starting at file index first
// (distinct seeds per call keep keys and rows distinct).
func generate(t *testing.T, ctx context.Context, url string, seed uint64, files int) loggen.Stats {
	t.Helper()
	g, err := loggen.New(loggen.Options{Seed: seed, Files: files, FileBytes: 30_000, Prefix: fmt.Sprintf("s%d/", seed)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := storage.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := g.Generate(ctx, b, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// scanCount counts the rows of the table at url matching filter, and
// returns how many (region, _source_file, trace_id) keys occur more than once.
func scanCount(t *testing.T, ctx context.Context, url, filter string) (rows int64, dups int) {
	t.Helper()
	b, err := storage.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tb, err := table.Open(ctx, b, nil)
	if errors.Is(err, table.ErrNoTable) {
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sch, _ := snap.Schema()
	cols := []string{"_source_file", "trace_id"}
	if sch.Field("region") != nil {
		cols = append(cols, "region")
	}
	sc, err := snap.Scan(ctx, &table.ScanOptions{Filter: filter, Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	seen := map[string]int{}
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range int(rec.NumRows()) {
			var k strings.Builder
			for c := range cols {
				fmt.Fprint(&k, table.Value(rec.Column(c), i), "|")
			}
			seen[k.String()]++
		}
		rows += rec.NumRows()
		rec.Release()
	}
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	return rows, dups
}

// waitFor polls cond every 100ms until it is true or the timeout expires.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var state string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, state = cond(); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s (last state: %s)", timeout, what, state)
}

// metricValue returns the value of the first sample of name with the given
// label fragment in a Prometheus text exposition.
func metricValue(t *testing.T, text, name, labels string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{([^}]*)\} (\S+)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if strings.Contains(m[1], labels) {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("metric %s{%s} not found", name, labels)
	return 0
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

type runningDaemon struct {
	d    *regions.Daemon
	stop context.CancelFunc
	done chan error
}

func startDaemon(t *testing.T, cfg *regions.Config, opts *regions.DaemonOptions) *runningDaemon {
	t.Helper()
	if opts == nil {
		opts = &regions.DaemonOptions{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := regions.NewDaemon(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningDaemon{d: d, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *runningDaemon) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err // for Cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s of its context being cancelled")
		return nil
	}
}

func TestDaemonEndToEnd(t *testing.T) {
	ctx := context.Background()
	env := newRegionEnv(t, "")
	st := generate(t, ctx, env.landing, 1, 6)
	cfg := env.config(t, "eu-west", "")
	r := startDaemon(t, cfg, nil)

	waitFor(t, 60*time.Second, "all rows ingested and approved rows in central", func() (bool, string) {
		regional, _ := scanCount(t, ctx, env.table, "")
		approved, _ := scanCount(t, ctx, env.table, "egress_approved = true")
		central, _ := scanCount(t, ctx, env.central, "")
		return regional == st.Lines && approved > 0 && central == approved,
			fmt.Sprintf("regional %d/%d, central %d/%d", regional, st.Lines, central, approved)
	})
	// More files while it runs.
	st2 := generate(t, ctx, env.landing, 2, 4)
	total := st.Lines + st2.Lines
	var approved int64
	waitFor(t, 60*time.Second, "the second wave in central", func() (bool, string) {
		regional, _ := scanCount(t, ctx, env.table, "")
		approved, _ = scanCount(t, ctx, env.table, "egress_approved = true")
		central, _ := scanCount(t, ctx, env.central, "")
		return regional == total && central == approved, fmt.Sprintf("regional %d/%d, central %d/%d", regional, total, central, approved)
	})
	if n, dups := scanCount(t, ctx, env.central, "region = 'eu-west' AND egress_approved = true"); n != approved || dups != 0 {
		t.Errorf("central: %d approved rows stamped eu-west (%d duplicated keys), want %d and 0", n, dups, approved)
	}
	if n, _ := scanCount(t, ctx, env.central, "NOT egress_approved = true OR egress_approved IS NULL"); n != 0 {
		t.Errorf("central has %d unapproved rows", n)
	}

	base := "http://" + r.d.Addr()
	waitFor(t, 10*time.Second, "healthz ok and lag 0", func() (bool, string) {
		code, body := httpGet(t, base+"/healthz")
		var h regions.Health
		json.Unmarshal([]byte(body), &h)
		return code == 200 && h.Status == "ok" && h.LagVersions == 0 && h.Loops["ingest"] == "running" && h.Loops["egress"] == "running", body
	})
	code, text := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	for _, m := range []struct {
		name, labels string
		want         float64
	}{
		{"loglake_ingest_files_total", `region="eu-west"`, 10},
		{"loglake_ingest_rows_total", `region="eu-west"`, float64(total)},
		{"loglake_egress_rows_total", `region="eu-west"`, float64(approved)},
		{"loglake_region_lag_versions", `region="eu-west"`, 0},
		{"loglake_region_loop_up", `loop="egress"`, 1},
		{"loglake_region_loop_up", `loop="ingest"`, 1},
		// Every landing file's rows reached central in a commit this
		// daemon wrote: one latency observation per file.
		{"loglake_region_end_to_end_latency_seconds_count", `region="eu-west"`, 10},
	} {
		if got := metricValue(t, text, m.name, m.labels); got != m.want {
			t.Errorf("%s{%s} = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	if got := metricValue(t, text, "loglake_region_regional_commits_total", `region="eu-west"`); got < 2 {
		t.Errorf("regional commits = %v, want >= 2", got)
	}
	// The files of the second wave landed at most a minute ago: their
	// latencies are below 60s, and none is negative.
	if sum := metricValue(t, text, "loglake_region_end_to_end_latency_seconds_sum", `region="eu-west"`); sum <= 0 || sum > 10*120 {
		t.Errorf("latency sum = %v s over 10 files, want in (0, 1200]", sum)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("Run returned %v after cancel, want nil", err)
	}
	if h := r.d.Health(); h.Status != "stopping" || h.Loops["ingest"] != "stopped" || h.Loops["egress"] != "stopped" {
		t.Errorf("health after stop = %+v", h)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Errorf("HTTP endpoint still answers after Run returned")
	}
}

// TestDaemonsSameRegion runs two daemons of one region at once, with a
// third region writing to the same central table: no row is duplicated.
func TestDaemonsSameRegion(t *testing.T) {
	ctx := context.Background()
	a := newRegionEnv(t, "")
	b := newRegionEnv(t, a.central)
	cfgA := a.config(t, "eu-west", "")
	cfgB := b.config(t, "us-east", "")
	for range 2 {
		startDaemon(t, cfgA, nil)
	}
	startDaemon(t, cfgB, nil)
	var lines = map[string]int64{}
	for wave := range 3 {
		lines["a"] += generate(t, ctx, a.landing, uint64(10+wave), 3).Lines
		lines["b"] += generate(t, ctx, b.landing, uint64(20+wave), 2).Lines
		time.Sleep(300 * time.Millisecond)
	}
	waitFor(t, 90*time.Second, "both regions forwarded", func() (bool, string) {
		ra, _ := scanCount(t, ctx, a.table, "")
		rb, _ := scanCount(t, ctx, b.table, "")
		aa, _ := scanCount(t, ctx, a.table, "egress_approved = true")
		ab, _ := scanCount(t, ctx, b.table, "egress_approved = true")
		ca, _ := scanCount(t, ctx, a.central, "region = 'eu-west'")
		cb, _ := scanCount(t, ctx, a.central, "region = 'us-east'")
		return ra == lines["a"] && rb == lines["b"] && ca == aa && cb == ab,
			fmt.Sprintf("regional %d/%d %d/%d; central eu-west %d/%d us-east %d/%d", ra, lines["a"], rb, lines["b"], ca, aa, cb, ab)
	})
	for _, tb := range []string{a.table, b.table, a.central} {
		if _, dups := scanCount(t, ctx, tb, ""); dups != 0 {
			t.Errorf("%s: %d duplicated rows", tb, dups)
		}
	}
}

func TestDaemonErrors(t *testing.T) {
	ctx := context.Background()
	env := newRegionEnv(t, "")

	t.Run("nothing to run", func(t *testing.T) {
		cfg := env.config(t, "r1", "")
		_, err := regions.NewDaemon(cfg, &regions.DaemonOptions{NoIngest: true, NoEgress: true})
		if !errors.Is(err, regions.ErrConfig) {
			t.Errorf("NewDaemon = %v, want ErrConfig", err)
		}
	})
	t.Run("metrics registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := env.config(t, "r2", "")
		if _, err := regions.NewDaemon(cfg, &regions.DaemonOptions{Registry: reg}); err != nil {
			t.Fatal(err)
		}
		if _, err := regions.NewDaemon(cfg, &regions.DaemonOptions{Registry: reg}); err == nil {
			t.Error("second NewDaemon of one region in one registry succeeded")
		}
	})
	t.Run("port in use", func(t *testing.T) {
		r := startDaemon(t, env.config(t, "r3", "egress:\n  enabled: false\n"), nil)
		waitFor(t, 10*time.Second, "listening", func() (bool, string) { return r.d.Addr() != "", "" })
		cfg := env.config(t, "r3", "egress:\n  enabled: false\n")
		cfg.Metrics.Address = r.d.Addr()
		d, err := regions.NewDaemon(cfg, &regions.DaemonOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Run(ctx); err == nil || !strings.Contains(err.Error(), "metrics endpoint") {
			t.Errorf("Run on a used port = %v, want a metrics endpoint error", err)
		}
	})
	t.Run("predicate on a missing column stops the daemon", func(t *testing.T) {
		e := newRegionEnv(t, "")
		generate(t, ctx, e.landing, 5, 1)
		cfg := e.config(t, "r4", "egress:\n  predicate: no_such_column = 1\n")
		d, err := regions.NewDaemon(cfg, &regions.DaemonOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		err = d.Run(runCtx)
		if !errors.Is(err, egress.ErrPredicate) {
			t.Fatalf("Run = %v, want egress.ErrPredicate", err)
		}
		if runCtx.Err() != nil {
			t.Fatal("Run only returned at the test's timeout")
		}
		if h := d.Health(); h.Loops["egress"] != "failed" || !strings.Contains(h.Error, "no_such_column") {
			t.Errorf("health = %+v, want egress failed naming the column", h)
		}
	})
	t.Run("a table ingest cannot write stops the daemon", func(t *testing.T) {
		e := newRegionEnv(t, "")
		generate(t, ctx, e.landing, 5, 1)
		tb, err := storage.Open(ctx, e.table, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tb.Close()
		sch := &table.Schema{Fields: []*table.Field{{Name: "message", Type: table.TypeString, Nullable: true},
			{Name: "part", Type: table.TypeString, Nullable: true}}}
		if _, err := table.Create(ctx, tb, table.CreateOptions{Schema: sch, PartitionColumns: []string{"part"}}, nil); err != nil {
			t.Fatal(err)
		}
		d, err := regions.NewDaemon(e.config(t, "r5", "egress:\n  enabled: false\n"), &regions.DaemonOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := d.Run(runCtx); !errors.Is(err, ingest.ErrConfig) || runCtx.Err() != nil {
			t.Fatalf("Run = %v (timed out: %v), want ingest.ErrConfig at once", err, runCtx.Err() != nil)
		}
		if h := d.Health(); h.Loops["ingest"] != "failed" {
			t.Errorf("health = %+v, want ingest failed", h)
		}
	})
}

func TestEgressOnce(t *testing.T) {
	ctx := context.Background()
	env := newRegionEnv(t, "")
	st := generate(t, ctx, env.landing, 7, 3)
	cfg := env.config(t, "ap-south", "")
	// Ingest only, then forward with EgressOnce.
	r := startDaemon(t, cfg, &regions.DaemonOptions{NoEgress: true})
	var approved int64
	waitFor(t, 60*time.Second, "ingest", func() (bool, string) {
		n, _ := scanCount(t, ctx, env.table, "")
		approved, _ = scanCount(t, ctx, env.table, "egress_approved = true")
		return n == st.Lines, fmt.Sprintf("%d/%d rows", n, st.Lines)
	})
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}
	sum, err := regions.EgressOnce(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Region != "ap-south" || sum.Rows != approved || sum.Commits < 1 || sum.LagVersions != 0 {
		t.Errorf("EgressOnce = %+v, want %d rows", sum, approved)
	}
	again, err := regions.EgressOnce(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Rows != 0 || again.Commits != 0 {
		t.Errorf("second EgressOnce = %+v, want nothing forwarded", again)
	}
	if n, dups := scanCount(t, ctx, env.central, ""); n != approved || dups != 0 {
		t.Errorf("central has %d rows (%d dups), want %d", n, dups, approved)
	}
}

// A stop is logged before Run returns, and before "region stopped", however
// fast the loops drain (the watcher once logged from its own goroutine, which
// the process could exit before).
func TestDaemonLogsStop(t *testing.T) {
	env := newRegionEnv(t, "")
	for i := range 50 { // the old race lost about one run in 70
		logs, err := os.CreateTemp(t.TempDir(), "log") // safe for the daemon's goroutines
		if err != nil {
			t.Fatal(err)
		}
		defer logs.Close()
		d, err := regions.NewDaemon(env.config(t, "eu-west", ""),
			&regions.DaemonOptions{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Registry: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 0 {
			cancel() // asked to stop before it starts
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(logs.Name())
		if err != nil {
			t.Fatal(err)
		}
		out := string(data)
		starting := strings.Index(out, `"msg":"region starting"`)
		asked := strings.Index(out, `"msg":"stop requested`)
		stopped := strings.Index(out, `"msg":"region stopped"`)
		if starting < 0 || asked < starting || stopped < asked || strings.Count(out, `"msg":"stop requested`) != 1 {
			t.Fatalf("run %d: want one stop request logged between the start and the stop:\n%s", i, out)
		}
	}
}

// An ingest-only region (no egress, no central table) runs no lag monitor,
// so health does not wait for a lag check: it stayed "starting" (HTTP 503)
// forever, and a readiness probe never passed.
func TestIngestOnlyRegionHealthy(t *testing.T) {
	env := newRegionEnv(t, "")
	generate(t, context.Background(), env.landing, 1, 1)
	cfg := env.config(t, "ing-only", "egress:\n  enabled: false\n")
	cfg.Central = ""
	r := startDaemon(t, cfg, nil)
	waitFor(t, 10*time.Second, "healthz ok", func() (bool, string) {
		h := r.d.Health()
		return h.Status == "ok", fmt.Sprintf("%+v", h)
	})
}

// EgressOnce refuses a region whose egress is disabled, as the daemon
// does: it forwarded rows, and created a stream maintenance does not guard.
func TestEgressOnceRefusesDisabledEgress(t *testing.T) {
	env := newRegionEnv(t, "")
	cfg := env.config(t, "off", "egress:\n  enabled: false\n")
	_, err := regions.EgressOnce(context.Background(), cfg, nil)
	var ce *regions.ConfigError
	if !errors.As(err, &ce) || ce.Field != "egress.enabled" {
		t.Fatalf("EgressOnce with egress disabled: %v, want a ConfigError on egress.enabled", err)
	}
}
