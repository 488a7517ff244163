package regions

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// stderr is where the default logger writes.
var stderr = os.Stderr

// Handler serves /metrics (Prometheus text format) and /healthz (Health as
// JSON; 200 when the status is "ok", else 503).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{Registry: d.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := d.Health()
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	return mux
}

// monitorLag measures egress lag from the tables themselves every
// lag_interval: the regional table's head version minus the version in the
// txn of the most lagging egress route (egress:<region> in the central
// table for the single target), and the age of the oldest
// regional commit past that txn. It is independent of the egress loop, so
// it shows a stuck or dead egress (of any instance) as growing lag. A
// failed measurement marks the daemon unhealthy until the next success.
func (d *Daemon) monitorLag(ctx context.Context, bk *buckets) {
	var src *table.Table
	check := func() error {
		var err error
		if src == nil {
			if src, err = table.Open(ctx, bk.regional, &table.Options{ReadOnly: true}); err != nil {
				src = nil
				if errors.Is(err, table.ErrNoTable) {
					return nil // nothing ingested yet: no lag
				}
				return err
			}
		}
		// Read the targets first: a source version committed after this
		// read can only make the lag look larger, never negative. With
		// several routes, the lag is the most lagging route's.
		forwarded, err := egress.Consumed(ctx, bk.regional, d.cfg.Name, bk.central, d.openTarget)
		if err != nil {
			return err
		}
		ss, err := src.Snapshot(ctx)
		if err != nil {
			return err
		}
		lag, age, err := streamLag(ctx, src, ss.Version(), forwarded, time.Now(), true)
		if err != nil {
			return err
		}
		d.m.lagVersions.Set(float64(lag))
		d.m.lagSeconds.Set(age.Seconds())
		d.mu.Lock()
		d.health.LagVersions, d.health.LagSeconds, d.health.LastCheck = lag, age.Seconds(), time.Now().UTC()
		d.mu.Unlock()
		return nil
	}
	for {
		d.m.lagChecks.Inc()
		err := check()
		d.mu.Lock()
		if err != nil && ctx.Err() == nil {
			d.m.lagCheckFailures.Inc()
			d.lagErr = "lag check: " + err.Error()
			d.log.Warn("lag check failed", "err", err)
		} else if err == nil {
			if d.health.LastCheck.IsZero() {
				d.health.LastCheck = time.Now().UTC()
			}
			d.lagErr = ""
		}
		d.updateStatusLocked()
		d.mu.Unlock()
		if storage.Sleep(ctx, d.cfg.Metrics.LagInterval) != nil {
			return
		}
	}
}

// latencyEvent is one central commit, for the end-to-end latency observer.
type latencyEvent struct {
	at      time.Time
	sources []egress.SourceCommit
}

// egressCommitted is the egress Committed callback. It must not block the
// egress loop: the event is queued for observeLatency, or dropped (and
// counted) when the observer is behind.
func (d *Daemon) egressCommitted(s egress.Summary) {
	d.mu.Lock()
	d.totals.egressCommits++
	d.totals.egressRows += s.Rows
	d.mu.Unlock()
	// At INFO, like ingest's batches: a central commit is the event an
	// operator follows.
	d.log.Info("committed to the central table", "loop", "egress", "centralVersion", s.CentralVersion,
		"sourceFrom", s.FromVersion, "sourceTo", s.ToVersion, "rows", s.Rows)
	if len(s.Sources) == 0 {
		return
	}
	ev := latencyEvent{at: time.Now(), sources: slices.Clone(s.Sources)}
	select {
	case d.latency <- ev:
	default:
		d.m.latencyDropped.Inc()
	}
}

// observeLatency turns central commits into end-to-end latency
// observations. For each regional version a central commit forwarded, it
// reads that regional commit's txn{ingest:<stream>, batch}, then the
// batch's manifest, which lists every landing file of the batch with its
// arrival time (ModTime); each file is one observation of
// central commit time - arrival time. This works whichever instance
// ingested the batch, and across restarts.
func (d *Daemon) observeLatency(ctx context.Context, bk *buckets) {
	var src *table.Table
	stream := d.cfg.IngestStream()
	appID := ingest.AppID(stream)
	for {
		var ev latencyEvent
		select {
		case <-ctx.Done():
			return
		case ev = <-d.latency:
		}
		if src == nil {
			t, err := table.Open(ctx, bk.regional, &table.Options{ReadOnly: true})
			if err != nil {
				d.m.latencyDropped.Inc()
				continue
			}
			src = t
		}
		lo, hi := ev.sources[0].Version, ev.sources[0].Version
		want := map[int64]bool{}
		for _, s := range ev.sources {
			lo, hi = min(lo, s.Version), max(hi, s.Version)
			want[s.Version] = true
		}
		changes, err := src.Changes(ctx, lo-1, hi, 0)
		if err != nil {
			d.log.Debug("latency: reading regional commits", "err", err)
			d.m.latencyDropped.Inc()
			continue
		}
		for _, ch := range changes {
			if !want[ch.Version] {
				continue
			}
			for _, a := range ch.Actions {
				if a.Txn == nil || a.Txn.AppID != appID {
					continue
				}
				m, err := ingest.ReadManifest(ctx, bk.regional, stream, a.Txn.Version)
				if err != nil {
					if !errors.Is(err, storage.ErrNotFound) {
						d.log.Debug("latency: reading a batch manifest", "batch", a.Txn.Version, "err", err)
					}
					d.m.latencyDropped.Inc()
					continue
				}
				for _, f := range m.Files {
					d.m.endToEnd.Observe(max(ev.at.Sub(f.ModTime), 0).Seconds())
				}
			}
		}
	}
}
