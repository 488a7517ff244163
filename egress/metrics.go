package egress

import "github.com/prometheus/client_golang/prometheus"

// metrics are the egress series, labeled with the region as a constant label
// so several Egresses can share one registry.
type metrics struct {
	rows, filtered, sourceBytes, commits, conflicts, superseded, sourceVersions, skipped, failures prometheus.Counter
	rescued, columnsAdded                                                                          prometheus.Counter
	lagVersions, lagSeconds                                                                        prometheus.Gauge
	batchSeconds, latencySeconds                                                                   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, region string) (*metrics, error) {
	labels := prometheus.Labels{"region": region}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "loglake", Subsystem: "egress", Name: name, Help: help, ConstLabels: labels})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "loglake", Subsystem: "egress", Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		rows:           counter("rows_total", "Rows appended to the central table."),
		filtered:       counter("rows_filtered_total", "Source rows that did not match the egress predicate and stayed in the region."),
		sourceBytes:    counter("source_bytes_total", "Bytes of source data files read."),
		commits:        counter("commits_total", "Central commits written by this process (with rows or advancing the txn only)."),
		conflicts:      counter("commit_conflicts_total", "Central commit attempts that lost the version race and were retried."),
		superseded:     counter("superseded_batches_total", "Batches discarded because another instance of the region committed first."),
		sourceVersions: counter("source_versions_total", "Source versions forwarded or passed over."),
		skipped:        counter("skipped_commits_total", "Source commits skipped because they delete or rewrite data (skipChangeCommits)."),
		failures:       counter("failures_total", "Egress runs that failed and will be retried."),
		rescued:        counter("rescued_rows_total", "Rows appended with values in _rescued_data that the central schema could not hold."),
		columnsAdded:   counter("columns_added_total", "Columns this process added to the central table (schema mode addNewColumns)."),
		lagVersions:    gauge("lag_versions", "Source versions not yet forwarded at the end of the last run."),
		lagSeconds:     gauge("lag_seconds", "Age of the oldest source commit not yet forwarded (0 when caught up)."),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "loglake", Subsystem: "egress",
			Name: "batch_duration_seconds", Help: "Time from planning a batch to its central commit.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		latencySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "loglake", Subsystem: "egress",
			Name: "source_to_central_seconds", Help: "Per source version with rows: source commit to the central commit that forwarded it.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.rows, m.filtered, m.sourceBytes, m.commits, m.conflicts, m.superseded,
			m.sourceVersions, m.skipped, m.failures, m.rescued, m.columnsAdded, m.lagVersions, m.lagSeconds, m.batchSeconds, m.latencySeconds} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
