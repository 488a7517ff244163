package table_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// logSchema mirrors ingest's default log schema, so append numbers speak for
// the product's real workload.
const logSchema = `{"type":"struct","fields":[
{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
{"name":"service","type":"string","nullable":true,"metadata":{}},
{"name":"host","type":"string","nullable":true,"metadata":{}},
{"name":"level","type":"string","nullable":true,"metadata":{}},
{"name":"message","type":"string","nullable":true,"metadata":{}},
{"name":"trace_id","type":"string","nullable":true,"metadata":{}},
{"name":"org_id","type":"long","nullable":true,"metadata":{}},
{"name":"attrs","type":"string","nullable":true,"metadata":{}},
{"name":"egress_approved","type":"boolean","nullable":true,"metadata":{}},
{"name":"date","type":"date","nullable":true,"metadata":{}}]}`

// benchLogRecord builds n log rows over one day and reports their raw size (sum
// of string lengths plus 8 bytes per fixed-width value) for MB/s.
func benchLogRecord(sch *arrow.Schema, n int, seed int) (arrow.Record, int64) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	services := []string{"api", "auth", "billing", "search", "web", "worker"}
	levels := []string{"DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"}
	var raw int64
	str := func(i int, s string) {
		b.Field(i).(*array.StringBuilder).Append(s)
		raw += int64(len(s))
	}
	for i := 0; i < n; i++ {
		k := seed*n + i
		ts := base.Add(time.Duration(k) * time.Millisecond)
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
		str(1, services[k%len(services)])
		str(2, "host-"+strconv.Itoa(k%64))
		str(3, levels[k%len(levels)])
		str(4, fmt.Sprintf("request %d handled in %d ms for /v1/items/%d with status %d and a payload of average length for a log line", k, k%977, k%10007, 200+k%5))
		str(5, fmt.Sprintf("%016x%016x", k*7919, k*104729))
		b.Field(6).(*array.Int64Builder).Append(int64(k % 500))
		str(7, fmt.Sprintf(`{"region":"eu-west-1","status":%d,"bytes":%d}`, 200+k%5, k%65536))
		b.Field(8).(*array.BooleanBuilder).Append(k%2 == 0)
		b.Field(9).(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
		raw += 8 * 4
	}
	return b.NewRecord(), raw
}

// randomLogRecord builds n log rows of one day with random hosts, trace
// ids, messages and attributes, so they compress about as well as real logs
// (benchLogRecord's rows are sequential and compress ~15x).
func randomLogRecord(sch *arrow.Schema, n int, seed uint64) arrow.Record {
	r := rand.New(rand.NewPCG(seed, 7))
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC).UnixMicro()
	services := []string{"api", "auth", "billing", "search", "ingest", "egress", "web", "worker"}
	levels := []string{"DEBUG", "INFO", "INFO", "INFO", "WARN", "ERROR"}
	words := strings.Fields("request completed user session cache miss upstream timeout retry payload bytes latency ms handler route status ok failed queue partition offset commit")
	var msg strings.Builder
	for i := 0; i < n; i++ {
		us := base + int64(seed)*int64(n)*1000 + int64(i)*1000 + r.Int64N(1000)
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(us))
		svc := services[r.IntN(len(services))]
		b.Field(1).(*array.StringBuilder).Append(svc)
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d.eu-west-1.internal", svc, r.IntN(40)))
		b.Field(3).(*array.StringBuilder).Append(levels[r.IntN(len(levels))])
		msg.Reset()
		for msg.Len() < 120 {
			msg.WriteString(words[r.IntN(len(words))])
			msg.WriteByte(' ')
			if r.IntN(4) == 0 {
				fmt.Fprintf(&msg, "%d ", r.IntN(100000))
			}
		}
		b.Field(4).(*array.StringBuilder).Append(msg.String())
		b.Field(5).(*array.StringBuilder).Append(fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()))
		b.Field(6).(*array.Int64Builder).Append(int64(1000 + r.IntN(200)))
		b.Field(7).(*array.StringBuilder).Append(fmt.Sprintf(`{"http.status":%d,"duration_ms":%d,"region":"eu-west-1"}`, []int{200, 200, 200, 404, 500}[r.IntN(5)], r.IntN(3000)))
		b.Field(8).(*array.BooleanBuilder).Append(r.IntN(4) != 0)
		b.Field(9).(*array.Date32Builder).Append(arrow.Date32FromTime(time.UnixMicro(us).UTC()))
	}
	return b.NewRecord()
}

// BenchmarkAppend measures appending 64Ki-row batches of log rows to a
// file:// table: rows/s and MB/s of raw row data.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	sch, err := table.ParseSchema(logSchema)
	if err != nil {
		b.Fatal(err)
	}
	bucket, err := storage.Open(ctx, "file://"+b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := table.Create(ctx, bucket, table.CreateOptions{Schema: sch, PartitionColumns: []string{"date"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	const rows = 64 << 10
	rec, raw := benchLogRecord(sch.Arrow(), rows, 1)
	defer rec.Release()
	b.SetBytes(raw)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCommitContention measures commit latency with 8 writers appending
// small batches to one file:// table at once.
func BenchmarkCommitContention(b *testing.B) {
	ctx := context.Background()
	bucket, err := storage.Open(ctx, "file://"+b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	tabletest.Create(b, bucket, nil)
	const writers = 8
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	per := max(b.N/writers, 1)
	b.ResetTimer()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tbl, err := table.Open(ctx, bucket, nil)
			if err != nil {
				b.Error(err)
				return
			}
			rec := tabletest.Rows(int64(w), 10)
			defer rec.Release()
			for i := 0; i < per; i++ {
				start := time.Now()
				if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "commits/s")
	}
}

// BenchmarkOpen measures opening the latest snapshot of a table with 1,000
// live files and a history of 1,000 or 10,000 commits (checkpointed every
// 100): the cost must depend on the live state, not on the history. Set
// LOGLAKE_BENCH_OPEN_DIR to keep the generated tables between runs
// (scripts/bench.sh keeps them in its fixture cache). b.Loop, not b.N: the
// function then runs once, so the 10,000-commit table is built once, not
// once per round of b.N's ramp-up.
func BenchmarkOpen(b *testing.B) {
	for _, commits := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("commits=%d", commits), func(b *testing.B) {
			ctx := context.Background()
			bucket := historyTable(b, commits, 1000)
			for b.Loop() {
				tbl, err := table.Open(ctx, bucket, nil)
				if err != nil {
					b.Fatal(err)
				}
				snap, _ := tbl.Snapshot(ctx)
				if snap.Version() != int64(commits) || len(snap.Files()) != 1000 {
					b.Fatalf("version %d, %d files", snap.Version(), len(snap.Files()))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/open")
		})
	}
}

// historyTable builds (or reuses) a table with n commits: the first `files`
// each add one file, the rest record a stream's progress (txn), as egress
// does. The adds reference no real files: opening reads only the log.
func historyTable(b *testing.B, n, files int) storage.Bucket {
	ctx := context.Background()
	dir := b.TempDir()
	if keep := os.Getenv("LOGLAKE_BENCH_OPEN_DIR"); keep != "" {
		dir = fmt.Sprintf("%s/history-%d-%d", keep, n, files)
	}
	bucket, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	if tbl, err := table.Open(ctx, bucket, nil); err == nil {
		if snap, _ := tbl.Snapshot(ctx); snap != nil && snap.Version() == int64(n) {
			return bucket
		}
		// A kept table left unfinished (a run stopped at its budget):
		// start it again.
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	tbl := tabletest.Create(b, bucket, nil)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for v := 1; v <= n; v++ {
		c := &table.Commit{AppID: "bench", AppVersion: int64(v)}
		if v <= files {
			d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, v%365).Format(time.DateOnly)
			c.Actions = []table.Action{{Add: &table.Add{Path: fmt.Sprintf("date=%s/part-%06d.zstd.parquet", d, v), Size: 1 << 20,
				PartitionValues: map[string]*string{"date": &d}, DataChange: true, ModificationTime: time.Now().UnixMilli(),
				Stats: `{"numRecords":1000,"minValues":{"id":0},"maxValues":{"id":999},"nullCount":{"id":0}}`}}}
		}
		if _, err := tbl.Commit(ctx, snap, c); err != nil {
			b.Fatal(err)
		}
		if snap, err = tbl.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return bucket
}
