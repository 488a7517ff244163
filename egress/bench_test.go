package egress_test

import (
	"context"
	"fmt"
	neturl "net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
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

// BenchmarkCentralCommitRate measures the central table's commit rate under
// contention on each storage protocol: 50 regions (sources on file://), each
// with 10 source versions already written, egress at once into one central
// table with one central commit per source version (MaxVersions 1), so 500
// commits race for the central log. The central table is on file:// and, when
// `scripts/emulators.sh env` is in the environment, on the S3, GCS and Azure
// emulators (a fresh prefix per run). It reports central commits/s, p50/p99
// commit latency (table.Commit, races included), lost version races per
// commit, and the central storage requests per commit by kind — the figure
// that carries to a real cloud — split into the log's and the data files';
// then it checks every region's txn and every row id (none lost, none
// duplicated). LOGLAKE_BENCH_COMMIT_REGIONS and _VERSIONS scale it.
func BenchmarkCentralCommitRate(b *testing.B) {
	nRegions := envInt(b, "LOGLAKE_BENCH_COMMIT_REGIONS", 50)
	versions := envInt(b, "LOGLAKE_BENCH_COMMIT_VERSIONS", 10)
	backends := []struct{ name, env string }{
		{"file", ""}, {"s3", "LOGLAKE_TEST_S3_URL"}, {"gcs", "LOGLAKE_TEST_GCS_URL"}, {"azure", "LOGLAKE_TEST_AZURE_URL"},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			base := ""
			if be.env != "" {
				if base = os.Getenv(be.env); base == "" {
					b.Skipf("%s not set: run eval \"$(scripts/emulators.sh env)\"", be.env)
				}
			}
			for range b.N {
				b.StopTimer()
				centralCommitRate(b, base, nRegions, versions)
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// logGroup counts central requests as the log's or the data files'.
func logGroup(key string) string {
	if strings.HasPrefix(key, "_delta_log/") {
		return "log"
	}
	return "data"
}

// centralCommitRate runs one round of BenchmarkCentralCommitRate with the
// central table under base (a cloud URL; "" for file://).
func centralCommitRate(b *testing.B, base string, nRegions, versions int) {
	const rowsPer = 90
	ctx := context.Background()
	dir := b.TempDir()
	sources := benchRegions(b, dir+"/regions", nRegions, versions, rowsPer)
	url := "file://" + dir + "/central"
	if base != "" {
		u, err := neturl.Parse(base)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = path.Join(u.Path, fmt.Sprintf("commitrate-%d-%d", time.Now().UnixNano(), os.Getpid()))
		url = u.String()
	}
	raw, err := storage.Open(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if base != "" {
			deleteAll(b, raw)
		}
	}()
	central := storage.NewCounting(raw, logGroup)
	prom := prometheus.NewRegistry()
	var mu sync.Mutex
	var lat []time.Duration
	reg := make([]*egress.Egress, nRegions)
	for i := range reg {
		if reg[i], err = egress.New(ctx, sources[i], central, egress.Options{
			Region: fmt.Sprintf("r%02d", i), MaxVersions: 1, Registerer: prom,
			Committed: func(s egress.Summary) {
				mu.Lock()
				lat = append(lat, s.CommitDuration)
				mu.Unlock()
			}}); err != nil {
			b.Fatal(err)
		}
	}
	before := central.Counts()
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var nCommits, nRows atomic.Int64
	for _, e := range reg {
		wg.Go(func() {
			sum, err := e.RunOnce(ctx)
			if err != nil {
				b.Error(err)
			}
			nCommits.Add(int64(sum.Commits))
			nRows.Add(sum.Rows)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	calls := central.Counts().Sub(before)
	if b.Failed() {
		b.FailNow()
	}

	// Exactly once: every region's txn is at its last source version, and
	// the central table holds each approved source row once.
	tb, err := table.Open(ctx, raw, nil)
	if err != nil {
		b.Fatal(err)
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	commits := nCommits.Load()
	if snap.Version() != commits {
		b.Fatalf("central at version %d after %d commits", snap.Version(), commits)
	}
	want := map[string][]int64{}
	for i := range nRegions {
		region := fmt.Sprintf("r%02d", i)
		if v, ok := snap.AppVersion(egress.AppID(region)); !ok || v != int64(versions) {
			b.Fatalf("region %s: central txn %d (present %v), want %d", region, v, ok, versions)
		}
		want[region] = egresstest.Approved(egresstest.Rows(0, versions*rowsPer))
	}
	got, err := egresstest.ReadCentral(ctx, snap)
	if err != nil {
		b.Fatal(err)
	}
	if d := egresstest.Diff(got, want); d != "" {
		b.Fatalf("central rows differ from the approved source rows:\n%s", d)
	}
	if int64(got.Rows()) != nRows.Load() {
		b.Fatalf("central holds %d rows, egress reported %d", got.Rows(), nRows.Load())
	}

	var conflicts float64
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
	n := float64(commits)
	per := func(kind, group string) float64 {
		return float64(calls.Sum(storage.CountKey{Kind: kind, Group: group}, true)) / n
	}
	b.ReportMetric(n/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(conflicts/n, "races/commit")
	b.ReportMetric(float64(calls.Sum(storage.CountKey{}, true))/n, "req/commit")
	b.ReportMetric(per(storage.KindGet, "log"), "log-GET/commit")
	b.ReportMetric(float64(calls.Sum(storage.CountKey{Kind: storage.KindGet, Group: "log", Outcome: storage.OutcomeNotFound}, false))/n, "log-GET404/commit")
	b.ReportMetric(per(storage.KindList, "log"), "log-LIST/commit")
	b.ReportMetric(per(storage.KindPut, "log"), "log-PUT/commit")
	b.ReportMetric(per(storage.KindHead, ""), "HEAD/commit")
	b.ReportMetric(per(storage.KindPut, "data"), "data-PUT/commit")
	b.ReportMetric(per(storage.KindGet, "data")+per(storage.KindList, "data")+per(storage.KindDelete, ""), "data-other/commit")
	b.Logf("%s: %d commits, %d rows in %v; requests %v", url, commits, got.Rows(), elapsed.Round(time.Millisecond), calls)
}

// deleteAll removes everything under b (best effort: a benchmark's leftovers
// on a shared emulator).
func deleteAll(b *testing.B, bk storage.Bucket) {
	ctx := context.Background()
	it := bk.List(ctx, "", "")
	keys := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				_ = bk.Delete(ctx, k)
			}
		})
	}
	for {
		o, err := it.Next(ctx)
		if err != nil {
			break
		}
		keys <- o.Key
	}
	close(keys)
	wg.Wait()
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
