package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ingest counters, labeled with the stream as a constant
// label so several Ingesters can share one registry.
type metrics struct {
	files, rows, rescued, rejected, bytes, commits, quarantined, changed, failures, cleaned prometheus.Counter
	batchSeconds, arrivalSeconds                                                            prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, stream string) (*metrics, error) {
	labels := prometheus.Labels{"stream": stream}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "loglake", Subsystem: "ingest", Name: name, Help: help, ConstLabels: labels})
	}
	m := &metrics{
		files:   counter("files_total", "Landing files ingested (committed)."),
		rows:    counter("rows_total", "Rows committed."),
		rescued: counter("rescued_rows_total", "Committed rows with _rescued_data set (unknown fields, wrong types, malformed lines)."),
		rejected: counter("rejected_rows_total", "Rows kept out of the table because they break a NOT NULL column, "+
			"invariant or CHECK constraint; committed to _loglake/ingest/<stream>/rejected/."),
		bytes:       counter("bytes_total", "Landing bytes (stored size) ingested."),
		commits:     counter("commits_total", "Batches committed by this process."),
		quarantined: counter("quarantined_files_total", "Landing files that could not be read and were quarantined."),
		changed:     counter("changed_files_total", "Landing files seen changed after ingestion."),
		failures:    counter("batch_failures_total", "Batch attempts that failed and will be retried."),
		cleaned:     counter("cleaned_files_total", "Landing files moved or deleted by cleanSource after their batch committed."),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "loglake", Subsystem: "ingest",
			Name: "batch_duration_seconds", Help: "Time from planning a batch to its commit.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
		arrivalSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "loglake", Subsystem: "ingest",
			Name: "arrival_to_commit_seconds", Help: "Per file: landing ModTime to the commit that ingested it.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 16)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.files, m.rows, m.rescued, m.rejected, m.bytes, m.commits, m.quarantined,
			m.changed, m.failures, m.cleaned, m.batchSeconds, m.arrivalSeconds} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
