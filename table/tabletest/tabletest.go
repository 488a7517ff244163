// Package tabletest is the table conformance suite: the behaviour every
// storage backend must give package table — commits that never lose or
// duplicate under concurrent writers, exactly-once txns, checkpoints, time
// travel, incremental refresh and the change feed. It runs against mem:// and
// file:// in every `go test`, and against the S3, GCS and Azure emulators in
// the integration tests.
package tabletest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Options scale the suite for slow backends.
type Options struct {
	// Writers and CommitsPerWriter size the concurrent-commit test
	// (default 16 x 25 = 400 commits).
	Writers, CommitsPerWriter int
}

// Schema is the suite's table schema: id, ts, level, msg and the partition
// column date.
func Schema() *table.Schema {
	s, err := table.ParseSchema(`{"type":"struct","fields":[
		{"name":"id","type":"long","nullable":false,"metadata":{}},
		{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},
		{"name":"level","type":"string","nullable":true,"metadata":{}},
		{"name":"msg","type":"string","nullable":true,"metadata":{}},
		{"name":"date","type":"date","nullable":true,"metadata":{}}]}`)
	if err != nil {
		panic(err)
	}
	return s
}

// Rows builds a record of n rows with ids [first, first+n), spread over three
// dates, matching Schema.
func Rows(first int64, n int) arrow.Record {
	sch := Schema().Arrow()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	levels := []string{"INFO", "WARN", "ERROR"}
	for i := 0; i < n; i++ {
		id := first + int64(i)
		ts := base.Add(time.Duration(id%3)*24*time.Hour + time.Duration(id)*time.Millisecond)
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMicro()))
		b.Field(2).(*array.StringBuilder).Append(levels[id%3])
		if id%7 == 0 {
			b.Field(3).(*array.StringBuilder).AppendNull()
		} else {
			b.Field(3).(*array.StringBuilder).Append(fmt.Sprintf("message %d", id))
		}
		b.Field(4).(*array.Date32Builder).Append(arrow.Date32FromTime(ts))
	}
	return b.NewRecord()
}

// Run runs the suite; open returns a fresh, empty location per call.
func Run(t *testing.T, open func(t *testing.T) storage.Bucket, opts *Options) {
	o := Options{Writers: 16, CommitsPerWriter: 25}
	if opts != nil {
		if opts.Writers > 0 {
			o.Writers = opts.Writers
		}
		if opts.CommitsPerWriter > 0 {
			o.CommitsPerWriter = opts.CommitsPerWriter
		}
	}
	t.Run("CreateAppendScan", func(t *testing.T) { testCreateAppendScan(t, open(t)) })
	t.Run("CreateTwice", func(t *testing.T) { testCreateTwice(t, open(t)) })
	t.Run("ConcurrentCommits", func(t *testing.T) { testConcurrentCommits(t, open(t), o) })
	t.Run("ExactlyOnceTxn", func(t *testing.T) { testTxn(t, open(t)) })
	t.Run("TimeTravel", func(t *testing.T) { testTimeTravel(t, open(t)) })
	t.Run("IncrementalRefresh", func(t *testing.T) { testRefresh(t, open(t)) })
	t.Run("ScanFilter", func(t *testing.T) { testScanFilter(t, open(t)) })
	t.Run("Maintenance", func(t *testing.T) { testMaintenance(t, open(t)) })
}

// Create makes the suite's table in b.
func Create(t testing.TB, b storage.Bucket, props map[string]string) *table.Table {
	t.Helper()
	tbl, err := table.Create(context.Background(), b, table.CreateOptions{
		Schema: Schema(), PartitionColumns: []string{"date"}, Properties: props}, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return tbl
}

// Latest opens the table in b and returns it with its latest snapshot.
func Latest(t testing.TB, b storage.Bucket) (*table.Table, *table.Snapshot) {
	t.Helper()
	ctx := context.Background()
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatalf("open %s: %v", b.URL(), err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot of %s: %v", b.URL(), err)
	}
	return tbl, snap
}

// IDs scans snap and returns every id, sorted.
func IDs(t testing.TB, snap *table.Snapshot, filter string) []int64 {
	t.Helper()
	ctx := context.Background()
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"id"}, Filter: filter})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer sc.Close()
	var ids []int64
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("scan next: %v", err)
		}
		col := rec.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			ids = append(ids, col.Value(i))
		}
		rec.Release()
	}
	slices.Sort(ids)
	return ids
}

func seq(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// AppendBatches commits batches appends of rows rows each, ids 0 on in
// order, and returns the last version: a table with history.
func AppendBatches(t testing.TB, tbl *table.Table, batches, rows int) int64 {
	t.Helper()
	v := int64(-1)
	for i := range batches {
		v = Append(t, tbl, int64(i*rows), rows, nil)
	}
	return v
}

// Append commits Rows(first, n) to tbl as one commit (c: its txn and
// options, may be nil) and returns its version.
func Append(t testing.TB, tbl *table.Table, first int64, n int, c *table.Commit) int64 {
	t.Helper()
	rec := Rows(first, n)
	defer rec.Release()
	v, err := tbl.Append(context.Background(), []arrow.Record{rec}, c)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return v
}

// WriteFiles writes rec through a Writer on snap (opts may be nil) and
// returns the add actions of its files, not committed.
func WriteFiles(t testing.TB, tbl *table.Table, snap *table.Snapshot, opts *table.WriteOptions, rec arrow.Record) []table.Action {
	t.Helper()
	ctx := context.Background()
	w, err := tbl.NewWriter(snap, opts)
	if err != nil {
		t.Fatalf("writer: %v", err)
	}
	if err := w.Write(ctx, rec); err != nil {
		t.Fatalf("write: %v", err)
	}
	adds, err := w.Close()
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	return adds
}

func testCreateAppendScan(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	tbl := Create(t, b, nil)
	if v := Append(t, tbl, 0, 1000, nil); v != 1 {
		t.Fatalf("first append at version %d, want 1", v)
	}
	reopened, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := reopened.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != 1 || len(snap.Files()) != 3 {
		t.Fatalf("version %d with %d files, want 1 with 3 (one per date)", snap.Version(), len(snap.Files()))
	}
	if n, ok := snap.NumRecords(); !ok || n != 1000 {
		t.Fatalf("stats numRecords = %d (ok=%v), want 1000", n, ok)
	}
	if got := IDs(t, snap, ""); !slices.Equal(got, seq(0, 1000)) {
		t.Fatalf("scan returned %d ids, want 0..999", len(got))
	}
	for _, f := range snap.Files() {
		d := f.PartitionValues["date"]
		if d == nil || len(*d) != 10 {
			t.Fatalf("file %s has partition value %v", f.Path, d)
		}
	}
}

func testCreateTwice(t *testing.T, b storage.Bucket) {
	Create(t, b, nil)
	_, err := table.Create(context.Background(), b, table.CreateOptions{Schema: Schema()}, nil)
	if !errors.Is(err, table.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
}

func testConcurrentCommits(t *testing.T, b storage.Bucket, o Options) {
	ctx := context.Background()
	Create(t, b, nil)
	const rowsPer = 10
	var wg sync.WaitGroup
	errs := make(chan error, o.Writers)
	for w := 0; w < o.Writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tbl, err := table.Open(ctx, b, nil) // each writer is its own client
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < o.CommitsPerWriter; i++ {
				first := int64((w*o.CommitsPerWriter + i) * rowsPer)
				rec := Rows(first, rowsPer)
				_, err := tbl.Append(ctx, []arrow.Record{rec}, nil)
				rec.Release()
				if err != nil {
					errs <- fmt.Errorf("writer %d commit %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := o.Writers * o.CommitsPerWriter
	if snap.Version() != int64(total) {
		t.Fatalf("latest version %d, want %d data commits after create", snap.Version(), total)
	}
	if got := IDs(t, snap, ""); !slices.Equal(got, seq(0, total*rowsPer)) {
		t.Fatalf("got %d rows, want %d, each once", len(got), total*rowsPer)
	}
	hist, err := tbl.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != total+1 {
		t.Fatalf("history has %d entries, want %d", len(hist), total+1)
	}
}

func testTxn(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	tbl := Create(t, b, nil)
	c := &table.Commit{Operation: "STREAMING UPDATE", AppID: "ingest:test", AppVersion: 1}
	Append(t, tbl, 0, 10, c)
	rec := Rows(0, 10)
	defer rec.Release()
	if _, err := tbl.Append(ctx, []arrow.Record{rec}, c); !errors.Is(err, table.ErrAlreadyCommitted) {
		t.Fatalf("replayed batch: %v, want ErrAlreadyCommitted", err)
	}
	// A stale client that has not seen the first commit must be refused too.
	stale, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap0, err := stale.SnapshotAt(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := stale.NewWriter(snap0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	adds, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	c2 := *c
	c2.Actions = adds
	if _, err := stale.Commit(ctx, snap0, &c2); !errors.Is(err, table.ErrAlreadyCommitted) {
		t.Fatalf("stale replay: %v, want ErrAlreadyCommitted", err)
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := snap.AppVersion("ingest:test"); !ok || v != 1 {
		t.Fatalf("AppVersion = %d, %v; want 1, true", v, ok)
	}
	if got := IDs(t, snap, ""); len(got) != 10 {
		t.Fatalf("%d rows after replays, want 10", len(got))
	}
}

func testTimeTravel(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	tbl := Create(t, b, map[string]string{"delta.checkpointInterval": "5"})
	var times []time.Time
	for i := 0; i < 12; i++ {
		Append(t, tbl, int64(i*10), 10, nil)
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, snap.Timestamp())
		time.Sleep(2 * time.Millisecond)
	}
	for _, v := range []int64{0, 1, 4, 5, 6, 10, 12} {
		snap, err := tbl.SnapshotAt(ctx, v)
		if err != nil {
			t.Fatalf("SnapshotAt(%d): %v", v, err)
		}
		if got := IDs(t, snap, ""); len(got) != int(v)*10 {
			t.Fatalf("version %d has %d rows, want %d", v, len(got), v*10)
		}
	}
	if _, err := tbl.SnapshotAt(ctx, 13); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("SnapshotAt(13): %v, want ErrVersionNotFound", err)
	}
	snap, err := tbl.SnapshotAsOf(ctx, times[6])
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != 7 {
		t.Fatalf("as of commit 7's time: version %d", snap.Version())
	}
	// The last commit's own time is the last version; a moment later is no
	// version yet (Delta's rule), not silently the latest.
	if snap, err := tbl.SnapshotAsOf(ctx, times[11]); err != nil || snap.Version() != 12 {
		t.Fatalf("as of the last commit's time: %v, %v", snap, err)
	}
	if _, err := tbl.SnapshotAsOf(ctx, times[11].Add(time.Millisecond)); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("after the last commit: %v, want ErrVersionNotFound", err)
	}
	// Checkpoints were written at 5 and 10; a reader must use them and still
	// open when _last_checkpoint is missing.
	if _, err := b.Stat(ctx, "_delta_log/00000000000000000010.checkpoint.parquet"); err != nil {
		t.Fatalf("checkpoint 10: %v", err)
	}
	if err := b.Delete(ctx, "_delta_log/_last_checkpoint"); err != nil {
		t.Fatal(err)
	}
	fresh, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err = fresh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := IDs(t, snap, ""); snap.Version() != 12 || len(got) != 120 {
		t.Fatalf("without _last_checkpoint: version %d, %d rows", snap.Version(), len(got))
	}
	changes, err := tbl.Changes(ctx, 9, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[0].Version != 10 || changes[2].Version != 12 {
		t.Fatalf("changes after 9: %d commits", len(changes))
	}
}

func testRefresh(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	writer := Create(t, b, nil)
	reader, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		Append(t, writer, int64(i*5), 5, nil)
		snap, err := reader.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version() != int64(i+1) || len(IDs(t, snap, "")) != (i+1)*5 {
			t.Fatalf("refresh %d: version %d", i, snap.Version())
		}
	}
}

func testScanFilter(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	tbl := Create(t, b, nil)
	Append(t, tbl, 0, 300, nil)
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := snap.Predicate("date = '2026-11-23'")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.PruneFiles(pred)); n != 1 {
		t.Fatalf("partition pruning kept %d files, want 1", n)
	}
	got := IDs(t, snap, "level = 'ERROR' AND id < 30")
	var want []int64
	for id := int64(0); id < 30; id++ {
		if id%3 == 2 {
			want = append(want, id)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("filtered ids %v, want %v", got, want)
	}
	if got := IDs(t, snap, "msg IS NULL"); len(got) != 43 {
		t.Fatalf("msg IS NULL: %d rows, want 43", len(got))
	}
}
