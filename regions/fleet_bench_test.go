//go:build bench

package regions_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

const fleetSchema = `{"type":"struct","fields":[
{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
{"name":"region","type":"string","nullable":true,"metadata":{}},
{"name":"service","type":"string","nullable":true,"metadata":{}},
{"name":"level","type":"string","nullable":true,"metadata":{}},
{"name":"message","type":"string","nullable":true,"metadata":{}},
{"name":"org_id","type":"long","nullable":true,"metadata":{}},
{"name":"date","type":"date","nullable":true,"metadata":{}}]}`

// fleetClock is the simulation's day: every commit of any region moves it
// by day/total, so the whole run covers exactly one day of fake time.
type fleetClock struct {
	start time.Time
	n     atomic.Int64
	total int64
}

func (c *fleetClock) now() time.Time {
	return c.start.Add(time.Duration(c.n.Load()) * 24 * time.Hour / time.Duration(c.total))
}

// fleetRecord is one egress batch of region r: rows log lines at ts.
func fleetRecord(sch *arrow.Schema, r, i, rows int, ts time.Time) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	services := []string{"api", "auth", "billing", "search", "web", "worker"}
	levels := []string{"DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"}
	for j := 0; j < rows; j++ {
		k := i*rows + j
		at := ts.Add(time.Duration(j) * time.Millisecond)
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))
		b.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("region-%02d", r))
		b.Field(2).(*array.StringBuilder).Append(services[(k+r)%len(services)])
		b.Field(3).(*array.StringBuilder).Append(levels[k%len(levels)])
		b.Field(4).(*array.StringBuilder).Append(fmt.Sprintf("request %d handled in %d ms for /v1/items/%d", k, k%977, k%10007))
		b.Field(5).(*array.Int64Builder).Append(int64((k + r) % 500))
		b.Field(6).(*array.Date32Builder).Append(arrow.Date32FromTime(at))
	}
	return b.NewRecord()
}

// fleetStats is what one simulated day left behind.
type fleetStats struct {
	commits, attempts, conflicts int64
	runs, skipped, busy          int64 // maintenance passes that ran / found the lease taken / found an earlier pass running
	optimizeCommits, replans     int64
	stale                        int64 // appends written again after ErrConflict: the log was cleaned past their snapshot, or they waited past half VACUUM's grace
	overlap                      int   // most maintenance passes ever running at once
	maxFiles                     int   // most live files seen at a phase end
}

// BenchmarkFleet simulates the central table of LOGLAKE_BENCH_FLEET_REGIONS
// (default 50) regions, each committing LOGLAKE_BENCH_FLEET_COMMITS (default
// 20, to fit make bench on 2 shared cores; the scale is 2,000) egress batches of 50 rows over one fake day, on file:// (tmpfs), once
// without and once with the daemon's maintenance (every region configured
// alike: hourly, central: true, min_files 50, 128 MiB target, sort by
// region and ts). Retention is on and scaled to the day (log 2 h, deleted
// files 1 h). Each region is a goroutine with its own table handle and,
// as in the daemon, its own maintenance loop beside its appends. Reported:
// append conflict rate, maintenance passes run and skipped (the lease),
// most passes running at once, live files and bytes, checkpoint size and
// open time, and wall and CPU time per commit, at 10, 25, 50, 75 and 100%
// of the commits (a cost growing with history shows), and a GROUP BY over the
// result through the query engine.
func BenchmarkFleet(b *testing.B) {
	regionsN := envInt("LOGLAKE_BENCH_FLEET_REGIONS", 50)
	perRegion := envInt("LOGLAKE_BENCH_FLEET_COMMITS", 20)
	for _, maint := range []bool{false, true} {
		name := "nomaintenance"
		if maint {
			name = "maintenance"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runFleet(b, regionsN, perRegion, maint)
			}
		})
	}
}

// benchDir is a fresh directory on tmpfs (/dev/shm) when there is one: these
// benchmarks measure loglake's log and commit path, and file:// on a disk
// would measure its fsyncs (one per commit) instead. Elsewhere, a temp dir.
func benchDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "loglake-bench-"); err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

// fakeModTimes stamps every data file it uploads with the fake clock's
// time, as a cloud stamps an object with the real one. VACUUM ages files
// whose tombstones have expired from the checkpoints (as Delta's do after
// delta.deletedFileRetentionDuration) by their modification time; with the
// wall clock's stamps they would look newer than the fake day and never be
// deleted, and stamps older than the fake now would make files in flight
// look like orphans.
type fakeModTimes struct {
	storage.Bucket
	dir string
	now func() time.Time
}

func (f *fakeModTimes) Upload(ctx context.Context, key string, r io.Reader) error {
	if err := f.Bucket.Upload(ctx, key, r); err != nil {
		return err
	}
	at := f.now()
	return os.Chtimes(filepath.Join(f.dir, filepath.FromSlash(key)), at, at)
}

func runFleet(b *testing.B, regionsN, perRegion int, maint bool) {
	const rows = 50
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := benchDir(b)
	clk := &fleetClock{start: time.Now().Add(-72 * time.Hour).Truncate(24 * time.Hour), total: int64(regionsN * perRegion)}
	files, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	bucket := &fakeModTimes{Bucket: files, dir: dir, now: clk.now}
	sch, err := table.ParseSchema(fleetSchema)
	if err != nil {
		b.Fatal(err)
	}
	asch := sch.Arrow()
	if _, err := table.Create(ctx, bucket, table.CreateOptions{Schema: sch, PartitionColumns: []string{"date"},
		Properties: map[string]string{
			"delta.logRetentionDuration":         "interval 2 hours",
			"delta.deletedFileRetentionDuration": "interval 1 hour",
		}}, &table.Options{Now: clk.now}); err != nil {
		b.Fatal(err)
	}
	cfg := &regions.Config{Name: "sim", Maintenance: regions.MaintenanceConfig{Enabled: true, Interval: time.Hour,
		MinFiles: 50, TargetFileSize: 128 << 20, SortBy: []string{"region", "ts"}, Central: true}}

	var st fleetStats
	tables := make([]*table.Table, regionsN)
	for r := range tables {
		tables[r], err = table.Open(ctx, bucket, &table.Options{Now: clk.now, Hooks: table.Hooks{
			Committed: func(_ int64, attempts int) {
				atomic.AddInt64(&st.commits, 1)
				atomic.AddInt64(&st.attempts, int64(attempts))
			},
			Conflict: func(int64) { atomic.AddInt64(&st.conflicts, 1) },
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	// Real-time spans of the passes that took a lease, to find the most
	// that ever ran at once.
	type span struct{ from, to time.Time }
	var spansMu sync.Mutex
	var spans []span
	var longest time.Duration // a pass's length on the fake clock
	pass := func() {
		t0, f0 := time.Now(), clk.now()
		rep, err := regions.Maintain(ctx, cfg, bucket, nil, clk.now, log)
		if err != nil {
			b.Error(err)
			return
		}
		if rep.Busy {
			atomic.AddInt64(&st.busy, 1)
		}
		if rep.Skipped {
			atomic.AddInt64(&st.skipped, 1)
			return
		}
		spansMu.Lock()
		spans = append(spans, span{t0, time.Now()})
		longest = max(longest, clk.now().Sub(f0))
		spansMu.Unlock()
		atomic.AddInt64(&st.runs, 1)
		if rep.Optimize != nil && rep.Optimize.Version >= 0 {
			atomic.AddInt64(&st.optimizeCommits, 1)
			atomic.AddInt64(&st.replans, int64(rep.Optimize.Attempts-1))
		}
	}

	start, cpu0 := time.Now(), cpuTime(b)
	next := make([]int, regionsN)
	// versions[r][i] is the table version region r's batch i committed at,
	// for fleetLost to follow a lost batch.
	versions := make([][]int64, regionsN)
	for r := range versions {
		versions[r] = make([]int64, perRegion)
	}
	b.Logf("%s: %d regions x %d commits of %d rows", map[bool]string{false: "no maintenance", true: "maintenance"}[maint], regionsN, perRegion, rows)
	stop := fleetProgress(b, &st, regionsN*perRegion)
	defer stop()
	// Five phases, so the cost per commit can be followed as the history
	// grows (a cost that grows with it shows as rising ms per commit).
	done := 0
	for _, frac := range []float64{0.1, 0.25, 0.5, 0.75, 1} {
		t0, c0 := time.Now(), cpuTime(b)
		var wg sync.WaitGroup
		for r := 0; r < regionsN; r++ {
			upto := int(frac * float64(perRegion))
			wg.Go(func() {
				var mwg sync.WaitGroup
				busy := false
				var busyMu sync.Mutex
				slot := clk.now().UnixNano() / int64(time.Hour)
				for i := next[r]; i < upto; i++ {
					ts := clk.now()
					clk.n.Add(1)
					rec := fleetRecord(asch, r, i, rows, ts)
					v, err := tables[r].Append(ctx, []arrow.Record{rec}, &table.Commit{AppID: fmt.Sprintf("egress:region-%02d", r), AppVersion: int64(i)})
					for try := 0; errors.Is(err, table.ErrConflict) && try < 20; try++ {
						// The log was cleaned past this writer's snapshot (the
						// fake day's short retention), or its commit waited so
						// long for a free version that VACUUM could take its
						// file for an orphan (at small scales a commit is 86
						// fake seconds): egress writes its batch again.
						atomic.AddInt64(&st.stale, 1)
						v, err = tables[r].Append(ctx, []arrow.Record{rec}, &table.Commit{AppID: fmt.Sprintf("egress:region-%02d", r), AppVersion: int64(i)})
					}
					versions[r][i] = v
					rec.Release()
					if err != nil {
						b.Error(err)
						return
					}
					if s := clk.now().UnixNano() / int64(time.Hour); maint && s != slot {
						slot = s
						// The daemon's maintenance loop runs beside egress: one
						// pass at a time per region.
						busyMu.Lock()
						if !busy {
							busy = true
							mwg.Go(func() {
								pass()
								busyMu.Lock()
								busy = false
								busyMu.Unlock()
							})
						}
						busyMu.Unlock()
					}
				}
				mwg.Wait()
			})
		}
		wg.Wait()
		if b.Failed() {
			return
		}
		for r := range next {
			next[r] = int(frac * float64(perRegion))
		}
		n := regionsN*next[0] - done
		done += n
		// One log line per phase: testing keeps only 10 lines of a
		// benchmark's log.
		rate := fmt.Sprintf("%d commits in %s, %.1f ms wall and %.1f ms CPU per commit, load average %s",
			n, time.Since(t0).Round(time.Second), float64(time.Since(t0).Microseconds())/1000/float64(max(n, 1)),
			float64((cpuTime(b)-c0).Microseconds())/1000/float64(max(n, 1)), loadAvg())
		fleetPhase(b, bucket, clk, frac, rate, &st)
	}
	stop()
	b.ReportMetric(100*float64(st.conflicts)/float64(st.attempts), "races-lost-%")
	b.ReportMetric(float64(st.stale), "stale-retries")
	b.Logf("simulated day took %s (%.0f CPU-s); %d commits, %.3f attempts per commit, %d version races lost (%.1f%% of attempts), %d appends written again after a conflict (log cleaned past them, or waited past half VACUUM's grace)",
		time.Since(start).Round(time.Second), (cpuTime(b) - cpu0).Seconds(), st.commits, float64(st.attempts)/float64(st.commits), st.conflicts,
		100*float64(st.conflicts)/float64(st.attempts), st.stale)
	for _, x := range spans {
		n := 0
		for _, y := range spans {
			if !y.from.After(x.from) && y.to.After(x.from) {
				n++
			}
		}
		st.overlap = max(st.overlap, n)
	}
	if maint {
		b.Logf("maintenance: %d passes ran, %d skipped (%d of them won the hour's lease but an earlier pass was still running), %d OPTIMIZE commits, %d re-plans after losing to a rewrite, at most %d passes at once (timed from the call, before the lease); longest pass %s of fake time",
			st.runs, st.skipped, st.busy, st.optimizeCommits, st.replans, st.overlap, longest.Round(time.Minute))
		b.ReportMetric(float64(st.overlap), "max-concurrent-passes")
		b.ReportMetric(float64(st.runs), "passes")
		b.ReportMetric(float64(st.optimizeCommits), "optimize-commits")
		b.ReportMetric(float64(st.replans), "optimize-replans")
	}
	fleetQuery(b, bucket, int64(regionsN*perRegion*rows), func(e *query.Engine, snap *table.Snapshot) {
		fleetLost(b, e, bucket, snap, versions, rows)
	})
}

// fleetLost says, when the GROUP BY came out short, which batches are
// missing and what became of each: the version its append returned, whether
// that commit is still in the log and what it holds, and what the final
// snapshot and the log's oldest commit and newest checkpoint are.
func fleetLost(b *testing.B, e *query.Engine, bucket storage.Bucket, snap *table.Snapshot, versions [][]int64, rows int) {
	ctx := context.Background()
	q := fmt.Sprintf("SELECT region, CAST(split_part(message, ' ', 2) AS BIGINT) // %d, count(*) FROM central GROUP BY ALL", rows)
	res, err := e.Query(ctx, q)
	if err != nil {
		b.Logf("lost rows: %v", err)
		return
	}
	got := map[string]int64{}
	for res.Next() {
		var region string
		var batch, n int64
		if err := res.Scan(&region, &batch, &n); err != nil {
			b.Logf("lost rows: %v", err)
			res.Close()
			return
		}
		got[fmt.Sprintf("%s/%d", region, batch)] = n
	}
	res.Close()
	oldest, newestCP := int64(-1), int64(-1)
	it := bucket.List(ctx, "_delta_log/", "")
	for {
		o, err := it.Next(ctx)
		if err != nil {
			break
		}
		name := strings.TrimPrefix(o.Key, "_delta_log/")
		v, err := strconv.ParseInt(name[:min(20, len(name))], 10, 64)
		if err != nil {
			continue
		}
		if strings.HasSuffix(name, ".json") && oldest < 0 {
			oldest = v
		}
		if strings.Contains(name, ".checkpoint") {
			newestCP = max(newestCP, v)
		}
	}
	b.Logf("lost rows: final snapshot version %d, oldest commit in the log %d, newest checkpoint %d", snap.Version(), oldest, newestCP)
	lost := 0
	for r := range versions {
		app := fmt.Sprintf("egress:region-%02d", r)
		for i, v := range versions[r] {
			n := got[fmt.Sprintf("region-%02d/%d", r, i)]
			if n == int64(rows) {
				continue
			}
			lost++
			if lost > 20 {
				continue
			}
			inLog := "absent from the log"
			if data, err := bucket.Get(ctx, table.CommitKey(v)); err == nil {
				inLog = "in the log, not holding " + app
				if strings.Contains(string(data), fmt.Sprintf(`"appId":%q,"version":%d`, app, i)) {
					inLog = "in the log, holding it"
				}
			}
			av, _ := snap.AppVersion(app)
			b.Logf("lost rows: %s batch %d (%d of %d rows) committed at version %d: commit %s; final snapshot has %s at %d", app, i, n, rows, v, inLog, app, av)
		}
	}
	b.Logf("lost rows: %d batches short", lost)
}

// fleetProgress prints a line to stderr every LOGLAKE_BENCH_FLEET_PROGRESS
// (default 1m) while the day runs: commits so far, and wall and CPU time per
// commit over the last interval, so a run of hours shows whether the cost
// per commit stays flat, and a run cut short still tells how far it got
// (testing prints a benchmark's log only when it ends). stop is idempotent.
func fleetProgress(b *testing.B, st *fleetStats, total int) (stop func()) {
	every := time.Minute
	if v := os.Getenv("LOGLAKE_BENCH_FLEET_PROGRESS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("LOGLAKE_BENCH_FLEET_PROGRESS=%q: want a positive duration", v)
		}
		every = d
	}
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		start, last, lastCPU, lastN := time.Now(), time.Now(), cpuTime(b), atomic.LoadInt64(&st.commits)
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n, cpu := atomic.LoadInt64(&st.commits), cpuTime(b)
				if n == lastN {
					// A phase end: every region waits for the maintenance
					// passes still running (or the table report).
					fmt.Fprintf(os.Stderr, "fleet progress %s: %d/%d commits, none in the last %s (phase end); load average %s\n",
						now.Sub(start).Round(time.Second), n, total, now.Sub(last).Round(time.Second), loadAvg())
					last, lastCPU = now, cpu
					continue
				}
				d := n - lastN
				fmt.Fprintf(os.Stderr, "fleet progress %s: %d/%d commits (%.1f%%), %.1f%% of attempts lost a race; last %s: %d commits, %.1f ms wall and %.1f ms CPU per commit; load average %s\n",
					now.Sub(start).Round(time.Second), n, total, 100*float64(n)/float64(total), 100*float64(atomic.LoadInt64(&st.conflicts))/float64(max(atomic.LoadInt64(&st.attempts), 1)),
					now.Sub(last).Round(time.Second), n-lastN, float64(now.Sub(last).Microseconds())/1000/float64(d),
					float64((cpu-lastCPU).Microseconds())/1000/float64(d), loadAvg())
				last, lastCPU, lastN = now, cpu, n
			}
		}
	})
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the machine's 1, 5 and 15 minute load averages (Linux), or
// "unknown": the phase timings only mean something beside them.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// fleetPhase reports the table at a phase end: live files and bytes, data
// objects stored, log objects, the newest checkpoint's size and the time a
// fresh handle takes to open the table (best of 3).
func fleetPhase(b *testing.B, bucket storage.Bucket, clk *fleetClock, frac float64, rate string, st *fleetStats) {
	ctx := context.Background()
	var openTime time.Duration
	var snap *table.Snapshot
	for k := 0; k < 3; k++ {
		t0 := time.Now()
		tbl, err := table.Open(ctx, bucket, &table.Options{Now: clk.now, NoLogCleanup: true})
		if err != nil {
			b.Fatal(err)
		}
		if d := time.Since(t0); k == 0 || d < openTime {
			openTime = d
		}
		if snap, err = tbl.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
	}
	var liveBytes int64
	for _, f := range snap.Files() {
		liveBytes += f.Size
	}
	var stored, logObjects int
	var storedBytes int64
	cpVersion := int64(-1)
	var cpBytes int64
	it := bucket.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		switch {
		case strings.HasPrefix(o.Key, "_delta_log/"):
			logObjects++
			name := strings.TrimPrefix(o.Key, "_delta_log/")
			if i := strings.Index(name, ".checkpoint"); i == 20 {
				v, _ := strconv.ParseInt(name[:20], 10, 64)
				if v > cpVersion {
					cpVersion, cpBytes = v, 0
				}
				if v == cpVersion {
					cpBytes += o.Size
				}
			}
		case !strings.HasPrefix(o.Key, "_"):
			stored++
			storedBytes += o.Size
		}
	}
	st.maxFiles = max(st.maxFiles, len(snap.Files()))
	tombstones, err := snap.Tombstones()
	if err != nil {
		b.Fatal(err)
	}
	logf := b.Logf
	if len(os.Getenv("LOGLAKE_BENCH_FLEET_COMMITS")) > 0 {
		// A long run: print the phase now as well, so a run cut short
		// still shows it.
		logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "fleet "+format+"\n", args...)
			b.Logf(format, args...)
		}
	}
	logf("at %3.0f%% (%d commits, version %d, fake %s): %d live files, %.1f MiB live; %d data objects stored (%.1f MiB); %d log objects; checkpoint %d: %.1f KiB, %d tombstones; open %s; phase: %s",
		frac*100, clk.n.Load(), snap.Version(), clk.now().Format("15:04"), len(snap.Files()), float64(liveBytes)/(1<<20),
		stored, float64(storedBytes)/(1<<20), logObjects, cpVersion, float64(cpBytes)/1024, len(tombstones),
		openTime.Round(time.Millisecond), rate)
	if frac == 1 {
		b.ReportMetric(float64(len(snap.Files())), "files")
		b.ReportMetric(float64(liveBytes)/(1<<20), "live-MiB")
		b.ReportMetric(float64(cpBytes)/1024, "checkpoint-KiB")
		b.ReportMetric(float64(openTime.Microseconds())/1000, "open-ms")
	}
}

// fleetQuery runs a GROUP BY over the whole table through the query engine
// (best of 3, or one run when it takes over 20 s) and checks every row is counted once.
func fleetQuery(b *testing.B, bucket storage.Bucket, want int64, lost func(*query.Engine, *table.Snapshot)) {
	ctx := context.Background()
	tbl, err := table.Open(ctx, bucket, nil)
	if err != nil {
		b.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	e, err := query.Open(ctx, &query.Options{CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := e.Register(ctx, "central", tbl, snap, ""); err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	for k := 0; k < 3; k++ {
		t0 := time.Now()
		rows, err := e.Query(ctx, "SELECT region, level, count(*) FROM central GROUP BY ALL")
		if err != nil {
			b.Fatal(err)
		}
		var total int64
		for rows.Next() {
			var region, level string
			var n int64
			if err := rows.Scan(&region, &level, &n); err != nil {
				b.Fatal(err)
			}
			total += n
		}
		rows.Close()
		times = append(times, time.Since(t0))
		if total != want {
			lost(e, snap)
			b.Fatalf("GROUP BY counted %d rows, want %d", total, want)
		}
		if times[k] > 20*time.Second {
			break // over 100,000 small files one run says enough
		}
	}
	slices.Sort(times)
	b.Logf("GROUP BY region, level over %d files: best of %d %s", len(snap.Files()), len(times), times[0].Round(time.Millisecond))
	b.ReportMetric(float64(times[0].Microseconds())/1000, "groupby-ms")
}
