package egress_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

func fileBucket(b testing.TB, dir string) storage.Bucket {
	b.Helper()
	bk, err := storage.Open(context.Background(), "file://"+dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	return bk
}

// benchRegions creates n regional tables under dir with `versions` versions
// of rowsPer rows each.
func benchRegions(b *testing.B, dir string, n, versions, rowsPer int) []storage.Bucket {
	b.Helper()
	out := make([]storage.Bucket, n)
	var wg sync.WaitGroup
	for i := range out {
		out[i] = fileBucket(b, fmt.Sprintf("%s/r%02d", dir, i))
		wg.Go(func() {
			tb, err := egresstest.CreateRegion(context.Background(), out[i])
			if err != nil {
				b.Error(err)
				return
			}
			for v := range versions {
				if _, err := egresstest.Append(context.Background(), tb, egresstest.Rows(int64(v*rowsPer), rowsPer)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkCentralCommits50Regions measures the central table's commit
// throughput under contention: 50 regions on file://, each with 10 source
// versions already written, egress at once with one central commit per
// source version (MaxVersions 1), so 500 commits race for the central log.
func BenchmarkCentralCommits50Regions(b *testing.B) {
	const nRegions, versions, rowsPer = 50, 10, 300
	var commits, rows int64
	var conflicts float64
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		sources := benchRegions(b, dir+"/regions", nRegions, versions, rowsPer)
		central := fileBucket(b, dir+"/central")
		prom := prometheus.NewRegistry()
		reg := make([]*egress.Egress, nRegions)
		for i := range reg {
			var err error
			if reg[i], err = egress.New(context.Background(), sources[i], central, egress.Options{
				Region: fmt.Sprintf("r%02d", i), MaxVersions: 1, Registerer: prom}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		var nCommits, nRows atomic.Int64
		for _, e := range reg {
			wg.Go(func() {
				sum, err := e.RunOnce(context.Background())
				if err != nil {
					b.Error(err)
				}
				nCommits.Add(int64(sum.Commits))
				nRows.Add(sum.Rows)
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
		b.StopTimer()
		commits += nCommits.Load()
		rows += nRows.Load()
		tb, err := table.Open(context.Background(), central, nil)
		if err != nil {
			b.Fatal(err)
		}
		snap, _ := tb.Snapshot(context.Background())
		if snap.Version() != nCommits.Load() {
			b.Fatalf("central at version %d after %d commits", snap.Version(), nCommits.Load())
		}
		mfs, err := prom.Gather()
		if err != nil {
			b.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "loglake_egress_commit_conflicts_total" {
				for _, m := range mf.GetMetric() {
					conflicts += m.GetCounter().GetValue()
				}
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(commits)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(conflicts/float64(commits), "lost-races/commit")
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkLatency10Regions measures how long a source commit takes to be
// visible in the central table: 10 regions on file:// write a version every
// 100ms each while their egress Run loops poll every 100ms; the latency of a
// source version is from its commit timestamp to the central commit that
// carries it. Reports p50 and p99.
func BenchmarkLatency10Regions(b *testing.B) {
	const nRegions, versions, rowsPer = 10, 30, 200
	var lat []time.Duration
	var mu sync.Mutex
	for range b.N {
		dir := b.TempDir()
		central := fileBucket(b, dir+"/central")
		ctx, cancel := context.WithCancel(context.Background())
		var writers, runners sync.WaitGroup
		for i := range nRegions {
			src := fileBucket(b, fmt.Sprintf("%s/regions/r%02d", dir, i))
			tb, err := egresstest.CreateRegion(ctx, src)
			if err != nil {
				b.Fatal(err)
			}
			e, err := egress.New(ctx, src, central, egress.Options{Region: fmt.Sprintf("r%02d", i),
				Committed: func(s egress.Summary) {
					now := time.Now()
					mu.Lock()
					for _, sc := range s.Sources {
						lat = append(lat, now.Sub(sc.Timestamp))
					}
					mu.Unlock()
				}})
			if err != nil {
				b.Fatal(err)
			}
			runners.Go(func() {
				if err := e.Run(ctx, 100*time.Millisecond); err != nil {
					b.Error(err)
				}
			})
			writers.Go(func() {
				for v := range versions {
					if _, err := egresstest.Append(ctx, tb, egresstest.Rows(int64(v*rowsPer), rowsPer)); err != nil {
						b.Error(err)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
		writers.Wait()
		deadline := time.Now().Add(time.Minute)
		for {
			mu.Lock()
			n := len(lat)
			mu.Unlock()
			if n >= (b.N)*nRegions*versions || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		runners.Wait()
	}
	b.ReportMetric(float64(percentile(lat, 0.50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Milliseconds()), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
