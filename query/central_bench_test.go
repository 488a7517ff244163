//go:build bench

package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// The central-table benchmark (issue 12): a table shaped like the one
// egress writes — one Parquet file per region commit, `date` partitions —
// queried through `loglake query`'s path (open the table, attach, SQL with
// pruning) and through DuckDB's own Hive glob over the same files, in the
// same run, alternating, medians.
//
// Settings: LOGLAKE_BENCH_CENTRAL_DIR keeps (and reuses) the table there;
// LOGLAKE_BENCH_CENTRAL_REGIONS (default 20), _COMMITS (commits per region,
// default 500), _ROWS (rows per file, default 200), _DAYS (default 10),
// _ROUNDS (default 3).

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

var centralSchema = func() *table.Schema {
	s, err := table.ParseSchema(`{"type":"struct","fields":[
		{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
		{"name":"region","type":"string","nullable":true,"metadata":{}},
		{"name":"service","type":"string","nullable":true,"metadata":{}},
		{"name":"host","type":"string","nullable":true,"metadata":{}},
		{"name":"level","type":"string","nullable":true,"metadata":{}},
		{"name":"message","type":"string","nullable":true,"metadata":{}},
		{"name":"trace_id","type":"string","nullable":true,"metadata":{}},
		{"name":"date","type":"date","nullable":true,"metadata":{}}]}`)
	if err != nil {
		panic(err)
	}
	return s
}()

var benchStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

type centralShape struct{ regions, commits, rows, days int }

// centralTable writes (or reuses) the benchmark table under dir and
// returns one trace_id that occurs in it.
func centralTable(b *testing.B, dir string, sh centralShape) string {
	ctx := context.Background()
	bk, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	marker := filepath.Join(dir, "_loglake_bench_done")
	if tr, err := os.ReadFile(marker); err == nil {
		return string(tr)
	}
	tbl, err := table.Create(ctx, bk, table.CreateOptions{Schema: centralSchema, PartitionColumns: []string{"date"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	services := make([]string, 30)
	for i := range services {
		services[i] = fmt.Sprintf("svc-%02d", i)
	}
	levels := []string{"INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "WARN", "ERROR"}
	rng := rand.New(rand.NewPCG(1, 2))
	span := time.Duration(sh.days) * 24 * time.Hour
	slot := span / time.Duration(sh.commits)
	var someTrace string
	t0 := time.Now()
	for c := 0; c < sh.commits; c++ {
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var adds []table.Action
		for r := 0; r < sh.regions; r++ {
			// One region commit: rows of one time slot, one region. A slot
			// crossing midnight is split by the writer as egress's is.
			rb := array.NewRecordBuilder(memory.DefaultAllocator, centralSchema.Arrow())
			region := fmt.Sprintf("region-%02d", r)
			from := benchStart.Add(time.Duration(c) * slot)
			for i := 0; i < sh.rows; i++ {
				ts := from.Add(time.Duration(rng.Int64N(int64(slot))))
				tr := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
				if someTrace == "" && c == sh.commits/2 {
					someTrace = tr
				}
				svc := services[rng.IntN(len(services))]
				rb.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
				rb.Field(1).(*array.StringBuilder).Append(region)
				rb.Field(2).(*array.StringBuilder).Append(svc)
				rb.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("%s-%s-%d", region, svc, rng.IntN(8)))
				rb.Field(4).(*array.StringBuilder).Append(levels[rng.IntN(len(levels))])
				rb.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("request %d handled in %d ms for user %d path /api/v1/items/%d status %d",
					rng.Int64(), rng.IntN(900), rng.IntN(100000), rng.IntN(5000), 200+rng.IntN(4)*100))
				rb.Field(6).(*array.StringBuilder).Append(tr)
				rb.Field(7).(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
			}
			rec := rb.NewRecord()
			rb.Release()
			w, err := tbl.NewWriter(snap, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := w.Write(ctx, rec); err != nil {
				b.Fatal(err)
			}
			rec.Release()
			a, err := w.Close()
			if err != nil {
				b.Fatal(err)
			}
			adds = append(adds, a...)
		}
		if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: adds, Operation: "STREAMING UPDATE"}); err != nil {
			b.Fatal(err)
		}
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("central table: %d files, %d commits, written in %s", len(snap.Files()), snap.Version()+1, time.Since(t0).Round(time.Second))
	if err := os.WriteFile(marker, []byte(someTrace), 0o644); err != nil {
		b.Fatal(err)
	}
	return someTrace
}

func BenchmarkCentralQueries(b *testing.B) {
	sh := centralShape{
		regions: envInt("LOGLAKE_BENCH_CENTRAL_REGIONS", 20),
		commits: envInt("LOGLAKE_BENCH_CENTRAL_COMMITS", 500),
		rows:    envInt("LOGLAKE_BENCH_CENTRAL_ROWS", 200),
		days:    envInt("LOGLAKE_BENCH_CENTRAL_DAYS", 10),
	}
	rounds := envInt("LOGLAKE_BENCH_CENTRAL_ROUNDS", 3)
	target := int64(envInt("LOGLAKE_BENCH_CENTRAL_OPTIMIZE_MB", 8)) << 20
	dir := os.Getenv("LOGLAKE_BENCH_CENTRAL_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	trace := centralTable(b, dir, sh)
	day := benchStart.AddDate(0, 0, sh.days/2)
	hour := day.Add(10 * time.Hour)
	iso := func(t time.Time) string { return t.Format(time.RFC3339) }
	queries := []centralQuery{
		{"a_one_day", fmt.Sprintf("SELECT level, count(*) FROM logs WHERE ts >= '%s' AND ts < '%s' GROUP BY level ORDER BY level",
			iso(day), iso(day.AddDate(0, 0, 1)))},
		{"b_region_hour", fmt.Sprintf("SELECT service, count(*) FROM logs WHERE region = 'region-07' AND ts >= '%s' AND ts < '%s' GROUP BY service ORDER BY service",
			iso(hour), iso(hour.Add(time.Hour)))},
		{"c_service", "SELECT date, count(*) FROM logs WHERE service = 'svc-11' GROUP BY date ORDER BY date"},
		{"d_trace", fmt.Sprintf("SELECT region, service, ts FROM logs WHERE trace_id = '%s' ORDER BY ts", trace)},
		{"e_group_by", "SELECT region, level, count(*) FROM logs GROUP BY region, level ORDER BY region, level"},
	}
	for i := 0; i < b.N; i++ {
		fmt.Printf("\ncentral table: %d regions x %d commits = %d files, %d rows/file, %d days; %d rounds, medians\n",
			sh.regions, sh.commits, sh.regions*sh.commits, sh.rows, sh.days, rounds)
		runCentral(b, "as egress writes it", dir, queries, rounds, true)
		if u := os.Getenv("LOGLAKE_TEST_S3_URL"); u != "" {
			centralS3Bytes(b, dir, u, queries)
		}
		for _, v := range []struct {
			name string
			sort []string
		}{{"optimized", nil}, {"optimized-sorted", []string{"region", "ts"}}} {
			od := optimizedCopy(b, dir, v.name, target, v.sort)
			label := fmt.Sprintf("after OPTIMIZE --target-size %dMiB", target>>20)
			if v.sort != nil {
				label += " --sort-by " + strings.Join(v.sort, ",")
			}
			runCentral(b, label, od, queries, rounds, false)
		}
	}
}

type centralQuery struct{ name, sql string }

// cpuTime is the process's user+system CPU so far: DuckDB's threads run
// in this process, so a query's CPU is the difference around it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runCentral runs the queries on the table in dir through loglake and
// through DuckDB's Hive glob over its directory (which must hold only live
// files), alternating, and prints medians of wall time and CPU time; with
// report, also the glob's wall time with DuckDB's external file cache off,
// as the engine runs DuckDB.
func runCentral(b *testing.B, label, dir string, queries []centralQuery, rounds int, report bool) {
	ctx := context.Background()
	glob := "read_parquet(" + quoteSQL(filepath.Join(dir, "date=*", "*.parquet")) + ", hive_partitioning=true)"
	var logs *prunedLog // set: count the files each reference reads
	loglake := func(q string) ([]string, time.Duration, time.Duration) {
		c0, t0 := cpuTime(), time.Now()
		o := &query.Options{CacheDir: b.TempDir()}
		if logs != nil {
			o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		e, err := query.Open(ctx, o)
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		sp, err := query.ParseSpec("logs=file://" + filepath.ToSlash(dir))
		if err != nil {
			b.Fatal(err)
		}
		if err := e.RegisterSpec(ctx, sp, ""); err != nil {
			b.Fatal(err)
		}
		rows, err := e.Query(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		out := drain(b, rows)
		return out, time.Since(t0), cpuTime() - c0
	}
	// duckWith runs DuckDB's glob with its defaults, or with settings
	// (the engine's own choice of enable_external_file_cache, so that the
	// ratio it gives owes nothing to that setting).
	duckWith := func(q string, settings ...string) ([]string, time.Duration, time.Duration) {
		c0, t0 := cpuTime(), time.Now()
		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1) // the settings hold for the statement's connection
		for _, set := range append([]string{"SET TimeZone = 'UTC'"}, settings...) {
			if _, err := db.ExecContext(ctx, set); err != nil {
				b.Fatal(err)
			}
		}
		rows, err := db.QueryContext(ctx, strings.ReplaceAll(q, "FROM logs", "FROM "+glob))
		if err != nil {
			b.Fatal(err)
		}
		out := drain(b, rows)
		return out, time.Since(t0), cpuTime() - c0
	}
	const noFileCache = "SET enable_external_file_cache = false"
	fmt.Printf("\n%s:\n", label)
	fmt.Printf("%-14s %10s %10s %8s %9s %9s %8s %13s", "query", "loglake", "duckdb", "speedup", "cpu-s ll", "cpu-s dd", "cpu-x", "files read")
	if report {
		fmt.Printf(" %10s %8s", "dd no-efc", "speedup")
	}
	fmt.Println()
	for _, q := range queries {
		var lt, dt, lc, dc, tt []time.Duration
		var lr, dr, tr []string
		for r := 0; r < rounds; r++ {
			var d, c time.Duration
			if r%2 == 0 {
				lr, d, c = loglake(q.sql)
				lt, lc = append(lt, d), append(lc, c)
				dr, d, c = duckWith(q.sql)
				dt, dc = append(dt, d), append(dc, c)
			} else {
				dr, d, c = duckWith(q.sql)
				dt, dc = append(dt, d), append(dc, c)
				lr, d, c = loglake(q.sql)
				lt, lc = append(lt, d), append(lc, c)
			}
			if report {
				tr, d, _ = duckWith(q.sql, noFileCache)
				tt = append(tt, d)
				if !slices.Equal(tr, dr) {
					b.Fatalf("%s: DuckDB's results differ with its external file cache off", q.name)
				}
			}
		}
		logs = &prunedLog{}
		loglake(q.sql)
		kept, of := logs.take(nil)
		logs = nil
		if !slices.Equal(lr, dr) {
			b.Fatalf("%s (%s): results differ:\n loglake %v\n duckdb  %v", q.name, label, lr, dr)
		}
		lm, dm := median(lt), median(dt)
		lcm, dcm := median(lc), median(dc)
		speed := float64(dm) / float64(lm)
		fmt.Printf("%-14s %10s %10s %7.2fx %9.2f %9.2f %7.2fx %13s", q.name, lm.Round(time.Millisecond), dm.Round(time.Millisecond), speed,
			lcm.Seconds(), dcm.Seconds(), dcm.Seconds()/lcm.Seconds(), fmt.Sprintf("%d/%d", kept, of))
		if report {
			tm := median(tt)
			fmt.Printf(" %10s %7.2fx", tm.Round(time.Millisecond), float64(tm)/float64(lm))
		}
		fmt.Println()
		if report {
			b.ReportMetric(speed, q.name+"-x")
		}
	}
}

// centralS3Bytes copies the table in dir to the S3 emulator (once per
// run) and reports, per query, the bytes loglake downloads into an empty
// file cache: pruning must cut them.
func centralS3Bytes(b *testing.B, dir, base string, queries []centralQuery) {
	ctx := context.Background()
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/bench-central-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	dst, err := storage.Open(ctx, u.String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	var keys []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !strings.HasPrefix(rel, "_loglake") {
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for _, k := range keys {
		g.Go(func() error {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(k)))
			if err != nil {
				return err
			}
			return dst.Put(gctx, k, data)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		// The emulator's disk is shared: the copy goes when the run does.
		dg, dctx := errgroup.WithContext(ctx)
		dg.SetLimit(32)
		for _, k := range keys {
			dg.Go(func() error { return dst.Delete(dctx, k) })
		}
		_ = dg.Wait()
	}()
	fmt.Printf("\nthe same table on the S3 emulator (%d objects copied in %s): bytes each query downloads into an empty cache\n",
		len(keys), time.Since(t0).Round(time.Second))
	fmt.Printf("%-14s %10s %14s %14s\n", "query", "time", "files fetched", "MB downloaded")
	for _, q := range queries {
		c, err := query.NewCache(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		e, err := query.Open(ctx, &query.Options{Cache: c})
		if err != nil {
			b.Fatal(err)
		}
		sp, err := query.ParseSpec("logs=" + u.String())
		if err != nil {
			b.Fatal(err)
		}
		if err := e.RegisterSpec(ctx, sp, ""); err != nil {
			b.Fatal(err)
		}
		rows, err := e.Query(ctx, q.sql)
		if err != nil {
			b.Fatal(err)
		}
		drain(b, rows)
		e.Close()
		st := c.Stats()
		fmt.Printf("%-14s %10s %14d %14.3f\n", q.name, time.Since(t1).Round(time.Millisecond), st.Downloads, float64(st.DownloadedBytes)/1e6)
	}
}

// optimizedCopy returns a copy of the table in dir after OPTIMIZE (sortBy
// nil: plain bin-packing) and a VACUUM that leaves only live files, so the
// Hive glob reads what the snapshot holds. Data files are hard-linked
// (immutable; VACUUM unlinks only the copy's names), the log is copied.
// The copy is kept beside dir and reused.
func optimizedCopy(b testing.TB, dir, name string, target int64, sortBy []string) string {
	ctx := context.Background()
	od := filepath.Clean(dir) + "-" + name + "-" + strconv.FormatInt(target>>20, 10) + "mb"
	marker := filepath.Join(od, "_loglake_bench_done")
	if _, err := os.Stat(marker); err == nil {
		return od
	}
	if err := os.RemoveAll(od); err != nil {
		b.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		to := filepath.Join(od, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case strings.HasSuffix(p, ".parquet") && !strings.HasPrefix(rel, "_delta_log"):
			return os.Link(p, to)
		case rel == "_loglake_bench_done":
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
	bk, err := storage.Open(ctx, "file://"+filepath.ToSlash(od), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	tbl, err := table.Open(ctx, bk, nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	res, err := tbl.Optimize(ctx, &table.OptimizeOptions{TargetSize: target, SortBy: sortBy})
	if err != nil {
		b.Fatal(err)
	}
	// Zero retention, and a clock a minute ahead so that the removes just
	// committed are past it too.
	zero := time.Duration(0)
	if _, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: &zero, Force: true,
		Now: func() time.Time { return time.Now().Add(time.Minute) }}); err != nil {
		b.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if on, _ := filepath.Glob(filepath.Join(od, "date=*", "*.parquet")); len(on) != len(snap.Files()) {
		b.Fatalf("%s: %d Parquet files on disk after VACUUM, the snapshot has %d", name, len(on), len(snap.Files()))
	}
	b.Logf("%s: %d files -> %d in %s", name, res.NumRemovedFiles, res.NumAddedFiles, time.Since(t0).Round(time.Second))
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return od
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func drain(b testing.TB, rows *sql.Rows) []string {
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if t, ok := v.(time.Time); ok {
				parts[i] = t.UTC().Format(time.RFC3339Nano)
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}
