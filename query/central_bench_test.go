//go:build bench

package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	dir := os.Getenv("LOGLAKE_BENCH_CENTRAL_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	trace := centralTable(b, dir, sh)
	ctx := context.Background()
	day := benchStart.AddDate(0, 0, sh.days/2)
	hour := day.Add(10 * time.Hour)
	iso := func(t time.Time) string { return t.Format(time.RFC3339) }
	queries := []struct{ name, sql string }{
		{"a_one_day", fmt.Sprintf("SELECT level, count(*) FROM logs WHERE ts >= '%s' AND ts < '%s' GROUP BY level ORDER BY level",
			iso(day), iso(day.AddDate(0, 0, 1)))},
		{"b_region_hour", fmt.Sprintf("SELECT service, count(*) FROM logs WHERE region = 'region-07' AND ts >= '%s' AND ts < '%s' GROUP BY service ORDER BY service",
			iso(hour), iso(hour.Add(time.Hour)))},
		{"c_service", "SELECT date, count(*) FROM logs WHERE service = 'svc-11' GROUP BY date ORDER BY date"},
		{"d_trace", fmt.Sprintf("SELECT region, service, ts FROM logs WHERE trace_id = '%s' ORDER BY ts", trace)},
		{"e_group_by", "SELECT region, level, count(*) FROM logs GROUP BY region, level ORDER BY region, level"},
	}
	glob := "read_parquet(" + quoteSQL(filepath.Join(dir, "date=*", "*.parquet")) + ", hive_partitioning=true)"
	var logs *prunedLog // set: count the files each reference reads
	loglake := func(q string) ([]string, time.Duration) {
		t0 := time.Now()
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
		return out, time.Since(t0)
	}
	duck := func(q string) ([]string, time.Duration) {
		t0 := time.Now()
		db, err := sql.Open("duckdb", "")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "SET TimeZone = 'UTC'"); err != nil {
			b.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, strings.ReplaceAll(q, "FROM logs", "FROM "+glob))
		if err != nil {
			b.Fatal(err)
		}
		out := drain(b, rows)
		return out, time.Since(t0)
	}
	for i := 0; i < b.N; i++ {
		fmt.Printf("\ncentral table: %d regions x %d commits = %d files, %d rows/file, %d days; %d rounds, medians\n",
			sh.regions, sh.commits, sh.regions*sh.commits, sh.rows, sh.days, rounds)
		fmt.Printf("%-14s %12s %12s %9s %14s\n", "query", "loglake", "duckdb-glob", "speedup", "files read")
		for _, q := range queries {
			var lt, dt []time.Duration
			var lr, dr []string
			for r := 0; r < rounds; r++ {
				var d time.Duration
				if r%2 == 0 {
					lr, d = loglake(q.sql)
					lt = append(lt, d)
					dr, d = duck(q.sql)
					dt = append(dt, d)
				} else {
					dr, d = duck(q.sql)
					dt = append(dt, d)
					lr, d = loglake(q.sql)
					lt = append(lt, d)
				}
			}
			logs = &prunedLog{}
			loglake(q.sql)
			kept, of := logs.take(nil)
			logs = nil
			if !slices.Equal(lr, dr) {
				b.Fatalf("%s: results differ:\n loglake %v\n duckdb  %v", q.name, lr, dr)
			}
			lm, dm := median(lt), median(dt)
			speed := float64(dm) / float64(lm)
			fmt.Printf("%-14s %12s %12s %8.2fx %14s\n", q.name, lm.Round(100*time.Microsecond), dm.Round(100*time.Microsecond), speed,
				fmt.Sprintf("%d/%d", kept, of))
			b.ReportMetric(speed, q.name+"-x")
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func drain(b *testing.B, rows *sql.Rows) []string {
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
