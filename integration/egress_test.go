package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"path"
	"slices"
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

// egressBackends are the backends the egress tests run on: file:// and the
// S3 emulator (the central table's log sees 50 concurrent writers there).
func egressBackends(t *testing.T) []Backend {
	var out []Backend
	for _, be := range Backends(t) {
		if be.Name == "file" || be.Name == "s3" {
			out = append(out, be)
		}
	}
	return out
}

// egSub returns the location elem below base (query kept).
func egSub(t testing.TB, base, elem string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = path.Join(u.Path, elem)
	u.RawPath = ""
	return u.String()
}

func egOpen(t testing.TB, rawURL string) storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), rawURL, nil)
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// egRegion is one region of a test: its regional table and what it wrote.
type egRegion struct {
	name   string
	bucket storage.Bucket
	tbl    *table.Table
	// versions[i] holds the rows of source version i+1.
	versions [][]egresstest.Row
	mu       sync.Mutex
}

// allApproved is the approved ids of every version the region will write,
// in the order they are written.
func egAllApproved(versions, rowsPer int) []int64 {
	return egresstest.Approved(egresstest.Rows(0, versions*rowsPer))
}

func newEgRegions(t *testing.T, base string, n int) []*egRegion {
	t.Helper()
	ctx := context.Background()
	regions := make([]*egRegion, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range regions {
		r := &egRegion{name: fmt.Sprintf("r%02d", i)}
		r.bucket = egOpen(t, egSub(t, base, "regions/"+r.name))
		regions[i] = r
		wg.Go(func() {
			var err error
			if r.tbl, err = egresstest.CreateRegion(ctx, r.bucket); err != nil {
				errs <- fmt.Errorf("region %s: %w", r.name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return regions
}

// write appends `versions` source versions of rowsPer rows each, ids in
// order, pausing up to maxPause between them.
func (r *egRegion) write(ctx context.Context, versions, rowsPer int, maxPause time.Duration) error {
	for v := range versions {
		rows := egresstest.Rows(int64(v*rowsPer), rowsPer)
		if _, err := egresstest.Append(ctx, r.tbl, rows); err != nil {
			return fmt.Errorf("region %s version %d: %w", r.name, v+1, err)
		}
		r.mu.Lock()
		r.versions = append(r.versions, rows)
		r.mu.Unlock()
		if maxPause > 0 {
			time.Sleep(rand.N(maxPause))
		}
	}
	return nil
}

// egReader scans the central table repeatedly while the regions egress and
// checks that every snapshot is consistent: per region, the ids are exactly
// the approved rows of a prefix of the region's source versions (no
// duplicates, no unapproved row, no gap, commits are atomic), and no
// region's count ever decreases.
type egReader struct {
	// boundaries are the approved-row counts of the first k source
	// versions, k = 0..versions: the only counts a region may show.
	boundaries []int
	scans      atomic.Int64
	lastVer    int64
	last       map[string]int
}

func (rd *egReader) check(ctx context.Context, central storage.Bucket, want map[string][]int64) error {
	tbl, err := table.Open(ctx, central, nil)
	if err != nil {
		return err
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		return err
	}
	if snap.Version() < rd.lastVer {
		return fmt.Errorf("central version went back from %d to %d", rd.lastVer, snap.Version())
	}
	got, err := egresstest.ReadCentral(ctx, snap)
	if err != nil {
		return fmt.Errorf("scan of version %d: %w", snap.Version(), err)
	}
	for region, ids := range got {
		all, ok := want[region]
		if !ok {
			return fmt.Errorf("version %d: unexpected region %q", snap.Version(), region)
		}
		if len(ids) > len(all) || !slices.Equal(ids, all[:len(ids)]) || !slices.Contains(rd.boundaries, len(ids)) {
			return fmt.Errorf("version %d: region %s holds %d rows that are not the approved rows of a prefix of its versions",
				snap.Version(), region, len(ids))
		}
		if len(ids) < rd.last[region] {
			return fmt.Errorf("version %d: region %s went from %d to %d rows", snap.Version(), region, rd.last[region], len(ids))
		}
		rd.last[region] = len(ids)
	}
	for region, n := range rd.last {
		if len(got[region]) < n {
			return fmt.Errorf("version %d: region %s went from %d to %d rows", snap.Version(), region, n, len(got[region]))
		}
	}
	rd.lastVer = snap.Version()
	rd.scans.Add(1)
	return nil
}

// egWait polls the central table until it holds want exactly (or times out)
// and returns the last difference.
func egWait(ctx context.Context, t *testing.T, central storage.Bucket, want map[string][]int64, timeout time.Duration, errs <-chan error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	diff := "central table not read yet"
	for time.Now().Before(deadline) {
		select {
		case err := <-errs:
			t.Fatalf("while waiting for the central table: %v", err)
		default:
		}
		tbl, err := table.Open(ctx, central, nil)
		if err == nil {
			var snap *table.Snapshot
			if snap, err = tbl.Snapshot(ctx); err == nil {
				var got egresstest.Central
				if got, err = egresstest.ReadCentral(ctx, snap); err == nil {
					if diff = egresstest.Diff(got, want); diff == "" {
						return
					}
				}
			}
		}
		if err != nil {
			diff = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("central table after %s:\n%s", timeout, diff)
}

// TestEgress50Regions: 50 regions, each with its own regional table being
// written, egress concurrently into one central table while a reader scans
// it: every snapshot the reader sees is consistent, and in the end every
// approved row is there exactly once, per region, and nothing else.
func TestEgress50Regions(t *testing.T) {
	const (
		nRegions = 50
		versions = 6
		rowsPer  = 30
	)
	for _, be := range egressBackends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			base := UniqueURL(t, be.BaseURL)
			regions := newEgRegions(t, base, nRegions)
			centralURL := egSub(t, base, "central")
			central := egOpen(t, centralURL)
			want := map[string][]int64{}
			for _, r := range regions {
				want[r.name] = egAllApproved(versions, rowsPer)
			}

			runCtx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			errs := make(chan error, 3*nRegions)
			var commits, superseded atomic.Int64
			reg := prometheus.NewRegistry()
			logs := &egLog{}
			defer func() {
				if t.Failed() {
					t.Logf("egress warnings:\n%s", logs.tail(40))
				}
			}()
			start := time.Now()
			for i, r := range regions {
				e, err := egress.New(ctx, r.bucket, egOpen(t, centralURL), egress.Options{
					Region: r.name, MaxVersions: 1 + i%3, Registerer: reg, Logger: logs.logger(),
					Committed: func(s egress.Summary) { commits.Add(1) },
				})
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					if err := r.write(ctx, versions, rowsPer, 100*time.Millisecond); err != nil {
						errs <- err
					}
				})
				wg.Go(func() {
					if err := e.Run(runCtx, 100*time.Millisecond); err != nil {
						errs <- fmt.Errorf("region %s: %w", r.name, err)
					}
				})
			}
			rd := &egReader{lastVer: -1, last: map[string]int{}, boundaries: []int{0}}
			for v := range versions {
				n := len(egresstest.Approved(egresstest.Rows(int64(v*rowsPer), rowsPer)))
				rd.boundaries = append(rd.boundaries, rd.boundaries[len(rd.boundaries)-1]+n)
			}
			readerDone := make(chan error, 1)
			go func() {
				for runCtx.Err() == nil {
					if err := rd.check(ctx, central, want); err != nil && !errors.Is(err, table.ErrNoTable) {
						readerDone <- err
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				readerDone <- nil
			}()

			egWait(ctx, t, central, want, 3*time.Minute, errs)
			elapsed := time.Since(start)
			stop()
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if err := <-readerDone; err != nil {
				t.Fatalf("reader: %v", err)
			}
			if err := rd.check(ctx, central, want); err != nil {
				t.Fatal(err)
			}
			if rd.scans.Load() < 3 {
				t.Fatalf("the reader completed only %d scans", rd.scans.Load())
			}
			// Every region's txn records its last source version.
			snap, err := openTable(t, central).Snapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range regions {
				if v, ok := snap.AppVersion(egress.AppID(r.name)); !ok || v != versions {
					t.Errorf("txn %s = %d, %v; want %d", egress.AppID(r.name), v, ok, versions)
				}
			}
			superseded.Store(int64(egSum(t, reg, "loglake_egress_superseded_batches_total")))
			t.Logf("%s: %d regions, %d rows in %d central commits (%.0f lost version races, %d superseded batches) in %s; reader did %d consistent scans",
				be.Name, nRegions, nRegions*len(want["r00"]), commits.Load(), egSum(t, reg, "loglake_egress_commit_conflicts_total"),
				superseded.Load(), elapsed.Round(time.Millisecond), rd.scans.Load())
		})
	}
}

// egLog collects the egress warnings of a test, to show when it fails.
type egLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *egLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *egLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (l *egLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "")
}

// egSum adds up a counter over every region in reg.
func egSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestEgressCrashRestart: regions egress through central buckets that fail
// uploads and commits (some commits land and still report failure), and
// every egress process is "killed" at random moments (its context canceled
// mid-batch, no drain) and restarted as a new Egress, with two instances of
// each region running at once: every approved row arrives exactly once.
func TestEgressCrashRestart(t *testing.T) {
	const (
		nRegions = 10
		versions = 8
		rowsPer  = 15
	)
	for _, be := range egressBackends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			base := UniqueURL(t, be.BaseURL)
			regions := newEgRegions(t, base, nRegions)
			centralURL := egSub(t, base, "central")
			central := egOpen(t, centralURL)
			want := map[string][]int64{}
			for _, r := range regions {
				want[r.name] = egAllApproved(versions, rowsPer)
				if err := r.write(ctx, versions, rowsPer, 0); err != nil {
					t.Fatal(err)
				}
			}
			var injected, kills, failures atomic.Int64
			var wg sync.WaitGroup
			deadline := time.Now().Add(3 * time.Minute)
			for i, r := range regions {
				for inst := range 2 {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(uint64(i), uint64(inst)))
						faulty := storage.NewFaulty(egOpen(t, centralURL), storage.Faults{
							Ops:  []string{storage.OpPutIfAbsent, storage.OpUpload},
							Rate: 0.2, Seed: int64(i*10 + inst), After: inst == 0,
						})
						defer func() {
							injected.Add(int64(faulty.Injected(storage.OpPutIfAbsent) + faulty.Injected(storage.OpUpload)))
						}()
						// A process lives for a random time, then dies
						// wherever it is. Lifetimes grow with consecutive
						// kills so that slow backends make progress too.
						maxLife := 100 * time.Millisecond
						for time.Now().Before(deadline) {
							e, err := egress.New(ctx, r.bucket, faulty, egress.Options{Region: r.name, MaxVersions: 1 + rng.IntN(3)})
							if err != nil {
								failures.Add(1)
								continue
							}
							life, cancel := context.WithTimeout(ctx, 5*time.Millisecond+time.Duration(rng.Int64N(int64(maxLife))))
							sum, err := e.RunOnce(life)
							cancel()
							if err != nil {
								if life.Err() != nil {
									kills.Add(1)
									maxLife = min(2*maxLife, 10*time.Second)
								} else {
									failures.Add(1)
								}
								continue
							}
							maxLife = 100 * time.Millisecond
							if sum.LagVersions == 0 && sum.ToVersion == versions {
								return
							}
						}
					})
				}
			}
			wg.Wait()
			// A clean run finds nothing left to do.
			for _, r := range regions {
				e, err := egress.New(ctx, r.bucket, central, egress.Options{Region: r.name})
				if err != nil {
					t.Fatal(err)
				}
				sum, err := e.RunOnce(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if sum.Rows != 0 {
					t.Errorf("region %s: a clean run still forwarded %d rows", r.name, sum.Rows)
				}
			}
			egWait(ctx, t, central, want, 10*time.Second, nil)
			if injected.Load() == 0 || kills.Load() == 0 {
				t.Fatalf("faults injected %d, kills %d: the test did not exercise failures", injected.Load(), kills.Load())
			}
			t.Logf("%s: %d faults injected, %d kills, %d failed runs; exactly once", be.Name, injected.Load(), kills.Load(), failures.Load())
		})
	}
}
