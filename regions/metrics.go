package regions

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the daemon's own series. ingest and egress register theirs
// (loglake_ingest_*, loglake_egress_*) in the same registry.
type metrics struct {
	endToEnd                    prometheus.Histogram
	lagVersions, lagSeconds     prometheus.Gauge
	lagChecks, lagCheckFailures prometheus.Counter
	regionalCommits             prometheus.Counter
	regionalCommitRetries       prometheus.Counter
	regionalConflicts           prometheus.Counter
	storageRetries              *prometheus.CounterVec
	loopUp                      *prometheus.GaugeVec
	latencyDropped              prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, region string) (*metrics, error) {
	labels := prometheus.Labels{"region": region}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "loglake", Subsystem: "region", Name: name, Help: help, ConstLabels: labels}
	}
	m := &metrics{
		endToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "loglake", Subsystem: "region",
			Name: "end_to_end_latency_seconds", ConstLabels: labels,
			Help: "Per landing file: its arrival (landing ModTime) to the central commit that made its approved rows visible.",
			// Fine around the seconds the pipeline targets, coarse beyond.
			Buckets: []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 15, 20, 30, 60, 120, 300, 600, 1800, 3600}}),
		lagVersions:      prometheus.NewGauge(prometheus.GaugeOpts(opts("lag_versions", "Regional table versions newer than the central table's txn for egress:<region> (measured every lag_interval)."))),
		lagSeconds:       prometheus.NewGauge(prometheus.GaugeOpts(opts("lag_seconds", "Age of the oldest regional commit not yet recorded in the central table (0 when caught up)."))),
		lagChecks:        prometheus.NewCounter(prometheus.CounterOpts(opts("lag_checks_total", "Lag measurements attempted."))),
		lagCheckFailures: prometheus.NewCounter(prometheus.CounterOpts(opts("lag_check_failures_total", "Lag measurements that failed (tables unreadable)."))),
		regionalCommits:  prometheus.NewCounter(prometheus.CounterOpts(opts("regional_commits_total", "Commits this process wrote to the regional table."))),
		regionalCommitRetries: prometheus.NewCounter(prometheus.CounterOpts(opts("regional_commit_retries_total",
			"Extra attempts the regional table's commits needed (attempts - 1, summed)."))),
		regionalConflicts: prometheus.NewCounter(prometheus.CounterOpts(opts("regional_commit_conflicts_total",
			"Regional commit attempts that lost a version race (another writer took the version)."))),
		storageRetries: prometheus.NewCounterVec(prometheus.CounterOpts(opts("storage_retries_total",
			"Storage operations retried after a transient failure, by location (landing, regional, central) and operation.")), []string{"location", "op"}),
		loopUp: prometheus.NewGaugeVec(prometheus.GaugeOpts(opts("loop_up", "1 while the loop (ingest, egress) runs.")), []string{"loop"}),
		latencyDropped: prometheus.NewCounter(prometheus.CounterOpts(opts("latency_observations_dropped_total",
			"Central commits whose end-to-end latency was not observed (the observer fell behind or could not read the batch's manifest)."))),
	}
	for _, c := range []prometheus.Collector{m.endToEnd, m.lagVersions, m.lagSeconds, m.lagChecks, m.lagCheckFailures,
		m.regionalCommits, m.regionalCommitRetries, m.regionalConflicts, m.storageRetries, m.loopUp, m.latencyDropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// undoRegisterer remembers what was registered through it so that a failed
// constructor's metrics can be unregistered before it is tried again.
type undoRegisterer struct {
	prometheus.Registerer
	done []prometheus.Collector
}

func (u *undoRegisterer) Register(c prometheus.Collector) error {
	if err := u.Registerer.Register(c); err != nil {
		return err
	}
	u.done = append(u.done, c)
	return nil
}

func (u *undoRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := u.Register(c); err != nil {
			panic(err)
		}
	}
}

func (u *undoRegisterer) undo() {
	for _, c := range u.done {
		u.Registerer.Unregister(c)
	}
	u.done = nil
}
