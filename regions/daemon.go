package regions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// DaemonOptions configure a Daemon. The zero value (and nil) is the default.
type DaemonOptions struct {
	// Logger receives the daemon's and its loops' logs (default: NewLogger
	// of the configuration's log settings, on stderr).
	Logger *slog.Logger
	// Registry holds the metrics served on /metrics (default: a new
	// registry with the Go runtime and process collectors).
	Registry *prometheus.Registry
	// NoIngest and NoEgress leave a loop out whatever the configuration
	// says (`loglake egress` runs egress only).
	NoIngest, NoEgress bool
	// Listening, if set, is called with the HTTP endpoint's address once it
	// accepts connections.
	Listening func(addr string)
}

// Daemon runs one region: its ingest loop, its egress loop, the lag
// monitor and the HTTP endpoint. Use NewDaemon, then Run once.
type Daemon struct {
	cfg     *Config
	log     *slog.Logger // with the region
	base    *slog.Logger // without: egress adds the region itself
	reg     *prometheus.Registry
	m       *metrics
	ingest  bool
	egress  bool
	listen  func(string)
	latency chan latencyEvent

	mu     sync.Mutex
	health Health
	// totals are logged when the region stops.
	totals struct {
		ingestBatches, ingestFiles, ingestRows, egressCommits, egressRows int64
	}
	addr    string
	router  *egress.Router // set while the egress loop runs
	reload  chan struct{}
	loopErr string // the last loop failure
	lagErr  string // the last lag check's failure ("" after a success)
	// lagWatched is set when the lag monitor runs (egress, or a central
	// table to measure against): health then waits for its first check.
	lagWatched bool
}

// Health is the JSON body of /healthz.
type Health struct {
	// Status is "ok" (HTTP 200), or "starting", "failing" or "stopping"
	// (HTTP 503).
	Status string `json:"status"`
	Region string `json:"region"`
	// Loops maps each loop (ingest, egress) to "starting", "waiting" (for
	// the regional table to exist), "running", "stopped" or "failed".
	Loops map[string]string `json:"loops"`
	// LagVersions and LagSeconds are the last lag measurement.
	LagVersions int64   `json:"lagVersions"`
	LagSeconds  float64 `json:"lagSeconds"`
	// LastCheck is when the tables were last read successfully.
	LastCheck time.Time `json:"lastCheck,omitzero"`
	// Error is the last lag measurement's or loop's error ("" when none).
	Error string `json:"error,omitempty"`
}

// NewLogger returns the JSON (or text) slog logger described by c, writing to w.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, ho))
	}
	return slog.New(slog.NewJSONHandler(w, ho))
}

// NewDaemon prepares the daemon of the region cfg describes (as returned
// by Load). Nothing is read, written or listened on until Run.
func NewDaemon(cfg *Config, opts *DaemonOptions) (*Daemon, error) {
	var o DaemonOptions
	if opts != nil {
		o = *opts
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.Logger == nil {
		o.Logger = NewLogger(cfg.Log, stderr)
	}
	d := &Daemon{
		cfg:     cfg,
		log:     o.Logger.With("region", cfg.Name),
		base:    o.Logger,
		reg:     o.Registry,
		ingest:  cfg.IngestEnabled() && !o.NoIngest,
		egress:  cfg.EgressEnabled() && !o.NoEgress,
		listen:  o.Listening,
		latency: make(chan latencyEvent, 256),
		reload:  make(chan struct{}, 1),
	}
	if !d.ingest && !d.egress {
		return nil, fmt.Errorf("%w: region %s: both ingest and egress are disabled; nothing to run", ErrConfig, cfg.Name)
	}
	if d.egress && len(cfg.Routes()) == 0 {
		return nil, &ConfigError{File: cfg.File, Field: "central", Msg: "required to run egress (or egress.routes)"}
	}
	if d.ingest && cfg.Landing == "" {
		return nil, &ConfigError{File: cfg.File, Field: "landing", Msg: "required to run ingest"}
	}
	m, err := newMetrics(d.reg, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("regions: registering metrics: %w", err)
	}
	d.m = m
	d.health = Health{Status: "starting", Region: cfg.Name, Loops: map[string]string{}}
	for loop, on := range map[string]bool{"ingest": d.ingest, "egress": d.egress} {
		if on {
			d.health.Loops[loop] = "starting"
		}
	}
	return d, nil
}

// Addr returns the HTTP endpoint's address once Run listens ("" before,
// or when the endpoint is disabled).
func (d *Daemon) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Health returns the daemon's current health, as served on /healthz.
func (d *Daemon) Health() Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.health
	h.Loops = make(map[string]string, len(d.health.Loops))
	for k, v := range d.health.Loops {
		h.Loops[k] = v
	}
	return h
}

func (d *Daemon) setLoop(loop, state string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.health.Loops[loop] = state
	if err != nil {
		d.loopErr = loop + ": " + err.Error()
	}
	d.updateStatusLocked()
	up := 0.0
	if state == "running" {
		up = 1
	}
	d.m.loopUp.WithLabelValues(loop).Set(up)
}

func (d *Daemon) updateStatusLocked() {
	h := &d.health
	h.Error = d.loopErr
	if d.lagErr != "" {
		if h.Error != "" {
			h.Error += "; "
		}
		h.Error += d.lagErr
	}
	if h.Status == "stopping" {
		return
	}
	status := "ok"
	for _, s := range h.Loops {
		switch s {
		case "running":
		case "failed", "stopped":
			status = "failing"
		default:
			if status == "ok" {
				status = "starting"
			}
		}
	}
	if status == "ok" && d.lagWatched && h.LastCheck.IsZero() {
		status = "starting"
	}
	if status == "ok" && d.lagErr != "" {
		status = "failing"
	}
	h.Status = status
}

// buckets are the locations a daemon opens.
type buckets struct {
	landing, regional, central storage.Bucket
	cleanTo                    storage.Bucket // ingest's cleanSource move destination
}

func (b *buckets) close() {
	for _, x := range []storage.Bucket{b.landing, b.regional, b.central, b.cleanTo} {
		if x != nil {
			x.Close()
		}
	}
}

func (d *Daemon) open(ctx context.Context) (*buckets, error) {
	var b buckets
	open := func(location, url string) (storage.Bucket, error) {
		if url == "" {
			return nil, nil
		}
		bk, err := storage.Open(ctx, url, &storage.Options{
			Logger: d.log,
			OnRetry: func(op, _ string, _ int, _ error) {
				d.m.storageRetries.WithLabelValues(location, op).Inc()
			},
		})
		if err != nil {
			return nil, fmt.Errorf("regions: opening the %s location %s: %w", location, storage.RedactURL(url), err)
		}
		// Export every series at 0 from the start: a counter that appears
		// only after the first retry cannot be graphed or alerted on.
		for _, op := range []string{"Get", "NewReader", "Stat", "Put", "PutIfAbsent", "Upload", "List", "Delete", "Copy"} {
			d.m.storageRetries.WithLabelValues(location, op)
		}
		return bk, nil
	}
	var err error
	if d.ingest {
		if b.landing, err = open("landing", d.cfg.Landing); err != nil {
			b.close()
			return nil, err
		}
		if b.cleanTo, err = open("clean_destination", d.cfg.Ingest.CleanDestination); err != nil {
			b.close()
			return nil, err
		}
	}
	if b.regional, err = open("regional", d.cfg.Table); err != nil {
		b.close()
		return nil, err
	}
	if d.cfg.Central != "" {
		if b.central, err = open("central", d.cfg.Central); err != nil {
			b.close()
			return nil, err
		}
	}
	return &b, nil
}

// Run runs the region until ctx is done, then lets each loop finish its
// current batch (at most the configuration's shutdown_timeout), stops the
// HTTP endpoint and returns nil. It returns an error when the region cannot
// start (bad location, port in use) or a loop fails in a way retrying
// cannot fix (an invalid predicate, a central table whose schema does not
// fit); the other loop is then drained too.
func (d *Daemon) Run(ctx context.Context) error {
	bk, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer bk.close()

	var srv *http.Server
	if d.cfg.Metrics.Address != "" {
		ln, err := net.Listen("tcp", d.cfg.Metrics.Address)
		if err != nil {
			return fmt.Errorf("regions: metrics endpoint: %w", err)
		}
		d.mu.Lock()
		d.addr = ln.Addr().String()
		d.mu.Unlock()
		srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics endpoint stopped", "err", err)
			}
		}()
		d.log.Info("metrics endpoint listening", "addr", d.addr)
		if d.listen != nil {
			d.listen(d.addr)
		}
	}
	started := time.Now()
	d.log.Info("region starting", "ingest", d.ingest, "egress", d.egress,
		"landing", storage.RedactURL(d.cfg.Landing), "table", storage.RedactURL(d.cfg.Table), "central", storage.RedactURL(d.cfg.Central))
	// Say when a stop was asked for: draining can take up to
	// shutdown_timeout, and a silent daemon looks hung. The watcher is
	// waited for before "region stopped", so a stop that was asked for is
	// always logged, after "region starting" and before "region stopped",
	// even when the loops drain before the watcher runs.
	stopped, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
		case <-stopped:
			if ctx.Err() == nil {
				return
			}
		}
		d.log.Info("stop requested; letting the current batches finish", "shutdown_timeout", d.cfg.ShutdownTimeout.String())
	}()
	endWatch := sync.OnceFunc(func() { close(stopped); <-watched })
	defer endWatch()

	// loops is cancelled by ctx or by a loop's fatal error; each loop then
	// drains its current batch on its own.
	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	d.mu.Lock()
	d.lagWatched = d.egress || bk.central != nil // set before a loop can report running
	d.mu.Unlock()
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		stopLoops()
	}
	if d.ingest {
		wg.Go(func() {
			if err := d.runIngest(loops, bk); err != nil {
				fail(err)
			}
		})
	}
	if d.egress {
		wg.Go(func() {
			if err := d.runEgress(loops, bk); err != nil {
				fail(err)
			}
		})
	}
	if d.cfg.Maintenance.Enabled {
		wg.Go(func() { d.runMaintenance(loops, bk) })
	}
	// The lag monitor and latency observer stop with the loops; they are
	// not drained.
	aux, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	var auxWG sync.WaitGroup
	if d.egress && d.cfg.File != "" {
		auxWG.Go(func() { d.watchConfig(loops) })
	}
	if d.egress || bk.central != nil {
		auxWG.Go(func() { d.monitorLag(loops, bk) })
		auxWG.Go(func() { d.observeLatency(aux, bk) })
	}
	wg.Wait()
	d.mu.Lock()
	d.health.Status = "stopping"
	d.mu.Unlock()
	stopAux()
	auxWG.Wait()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	endWatch()
	d.mu.Lock()
	totals := []any{"uptime", time.Since(started).Round(time.Millisecond).String(),
		"ingestBatches", d.totals.ingestBatches, "ingestFiles", d.totals.ingestFiles, "ingestRows", d.totals.ingestRows,
		"egressCommits", d.totals.egressCommits, "egressRows", d.totals.egressRows}
	d.mu.Unlock()
	if firstErr != nil {
		d.log.Error("region stopped", append(totals, "err", firstErr)...)
		return firstErr
	}
	d.log.Info("region stopped", totals...)
	return nil
}

func (d *Daemon) runIngest(ctx context.Context, bk *buckets) error {
	opts := d.cfg.IngestOptions()
	opts.Logger = d.log.With("loop", "ingest")
	opts.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"region": d.cfg.Name}, d.reg)
	opts.TableOptions = &table.Options{
		Logger: opts.Logger,
		Hooks: table.Hooks{
			Committed: func(_ int64, attempts int) {
				d.m.regionalCommits.Inc()
				d.m.regionalCommitRetries.Add(float64(max(attempts-1, 0)))
			},
			Conflict: func(int64) { d.m.regionalConflicts.Inc() },
		},
		// The regional log is cleaned by the maintenance loop only, never
		// past what egress has read (see Maintain).
		NoLogCleanup: d.cfg.egressed(),
	}
	opts.OnCommit = func(r ingest.BatchResult) {
		d.mu.Lock()
		d.totals.ingestBatches++
		d.totals.ingestFiles += int64(r.Files)
		d.totals.ingestRows += r.Rows
		d.mu.Unlock()
	}
	opts.CleanDestination = bk.cleanTo
	in, err := ingest.New(bk.landing, bk.regional, opts)
	if err != nil {
		d.setLoop("ingest", "failed", err)
		return loopError("ingest", err)
	}
	d.setLoop("ingest", "running", nil)
	err = in.Run(ctx, d.cfg.Ingest.Interval)
	if err != nil {
		d.setLoop("ingest", "failed", err)
		return loopError("ingest", err)
	}
	d.setLoop("ingest", "stopped", nil)
	return nil
}

// egressOptions returns the egress options of the configuration.
func (c *Config) egressOptions(log *slog.Logger) egress.Options {
	return egress.Options{
		Region:      c.Name,
		Predicate:   c.Egress.Predicate,
		MaxRows:     c.Egress.MaxRows,
		MaxBytes:    int64(c.Egress.MaxBytes),
		MaxVersions: c.Egress.MaxVersions,
		SchemaMode:  egress.SchemaMode(c.Egress.SchemaMode),
		// Defaults and validation live in egress (Options).
		MaxNewColumns: c.Egress.MaxNewColumns,
		MaxColumns:    c.Egress.MaxColumns,
		DrainTimeout:  c.ShutdownTimeout,
		Logger:        log,
	}
}

// openTarget opens an egress route's target table location, counting its
// storage retries like the daemon's own locations.
func (d *Daemon) openTarget(ctx context.Context, url string) (storage.Bucket, error) {
	return storage.Open(ctx, url, &storage.Options{
		Logger: d.log,
		OnRetry: func(op, _ string, _ int, _ error) {
			d.m.storageRetries.WithLabelValues("central", op).Inc()
		},
	})
}

func (d *Daemon) runEgress(ctx context.Context, bk *buckets) error {
	// egress adds the region to its log records itself.
	opts := egress.RouterOptions{Options: d.cfg.egressOptions(d.base.With("loop", "egress")), Open: d.openTarget}
	opts.Registerer = d.reg
	opts.Committed = d.egressCommitted
	r, err := egress.NewRouter(bk.regional, d.cfg.Routes(), opts)
	if err != nil {
		d.setLoop("egress", "failed", err)
		return loopError("egress", err)
	}
	defer r.Close()
	d.mu.Lock()
	d.router = r
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.router = nil
		d.mu.Unlock()
	}()
	d.setLoop("egress", "running", nil)
	if err := r.Run(ctx, d.cfg.Egress.Interval); err != nil {
		d.setLoop("egress", "failed", err)
		return loopError("egress", err)
	}
	d.setLoop("egress", "stopped", nil)
	return nil
}

// Reload re-reads the configuration file and applies what a running
// daemon can change: the egress routes (recorded as the region's new route
// set, in force at one regional version for every instance; see
// docs/egress.md). Other changes take effect at the next start. An invalid
// file changes nothing.
func (d *Daemon) Reload() {
	select {
	case d.reload <- struct{}{}:
	default:
	}
}

// reloadPoll is how often the daemon checks its configuration file for
// changes (a reload without SIGHUP, e.g. a Kubernetes ConfigMap update).
var reloadPoll = 2 * time.Second

// watchConfig reloads the configuration on Reload and whenever the file's
// content changes.
func (d *Daemon) watchConfig(ctx context.Context) {
	last, _ := os.ReadFile(d.cfg.File)
	t := time.NewTicker(reloadPoll)
	defer t.Stop()
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-d.reload:
			forced = true
		case <-t.C:
		}
		data, err := os.ReadFile(d.cfg.File)
		if err != nil {
			d.log.Warn("configuration file unreadable; keeping the running configuration", "file", d.cfg.File, "err", err)
			continue
		}
		if !forced && bytes.Equal(data, last) {
			continue
		}
		last = data
		cfg, err := Parse(data, d.cfg.File)
		if err != nil {
			d.log.Error("reloaded configuration is invalid; keeping the running one", "file", d.cfg.File, "err", err)
			continue
		}
		if cfg.Name != d.cfg.Name || cfg.Table != d.cfg.Table {
			d.log.Error("reloaded configuration names another region or table; restart to apply it", "name", cfg.Name)
			continue
		}
		d.mu.Lock()
		r := d.router
		d.mu.Unlock()
		if r == nil {
			continue
		}
		if err := r.SetRoutes(cfg.Routes()); err != nil {
			d.log.Error("reloaded egress routes are invalid; keeping the running ones", "err", err)
			continue
		}
		d.log.Info("configuration reloaded: egress routes applied (other changes take effect at restart)", "routes", len(cfg.Routes()))
	}
}

// EgressOnce forwards everything the region's regional table has now to
// the central table (possibly in several commits) and returns the totals:
// `loglake egress --once`. log may be nil.
func EgressOnce(ctx context.Context, cfg *Config, log *slog.Logger) (egress.Summary, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !cfg.EgressEnabled() {
		return egress.Summary{}, &ConfigError{File: cfg.File, Field: "egress.enabled", Line: cfg.Line("egress.enabled"),
			Msg: "is false: this region does not egress (its stream would be unguarded by maintenance and reported as disabled)"}
	}
	routes := cfg.Routes()
	if len(routes) == 0 {
		return egress.Summary{}, &ConfigError{File: cfg.File, Field: "central", Msg: "required to run egress (or egress.routes)"}
	}
	src, err := storage.Open(ctx, cfg.Table, &storage.Options{Logger: log})
	if err != nil {
		return egress.Summary{}, err
	}
	defer src.Close()
	open := func(ctx context.Context, url string) (storage.Bucket, error) {
		return storage.Open(ctx, url, &storage.Options{Logger: log})
	}
	r, err := egress.NewRouter(src, routes, egress.RouterOptions{Options: cfg.egressOptions(log.With("loop", "egress")), Open: open})
	if err != nil {
		return egress.Summary{}, err
	}
	defer r.Close()
	return r.RunOnce(ctx)
}

// loopError names the loop an error came from, once: ingest's and
// egress's errors usually name their package already, and
// "regions: egress: egress: …" helps no one.
func loopError(loop string, err error) error {
	if strings.HasPrefix(err.Error(), loop+": ") {
		return fmt.Errorf("regions: %w", err)
	}
	return fmt.Errorf("regions: %s: %w", loop, err)
}
