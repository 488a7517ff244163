package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// fileLanding opens a fresh file:// landing location, where tests can set
// the files' ModTimes.
func fileLanding(t testing.TB) (storage.Bucket, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := storage.Open(context.Background(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

// land writes an NDJSON file of n distinct lines named after key, with the
// given ModTime, and returns its lines.
func land(t testing.TB, dir, key string, n int, mod time.Time) [][]byte {
	t.Helper()
	var lines [][]byte
	var data []byte
	for i := range n {
		l := fmt.Appendf(nil, `{"ts":"2026-11-24T10:00:00Z","service":"api","trace_id":"%s-%d","message":"line %d of %s"}`, key, i, i, key)
		lines = append(lines, l)
		data = append(append(data, l...), '\n')
	}
	p := filepath.Join(dir, key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mod, mod); err != nil {
		t.Fatal(err)
	}
	return lines
}

// clock is a test clock that moves one second per reading, so that state
// written at one step is older than the next.
type clock struct{ now atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.now.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Add(int64(time.Second))).UTC() }
func (c *clock) Set(t time.Time)         { c.now.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func listKeys(t testing.TB, b storage.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	it := b.List(context.Background(), prefix, "")
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
}

func planReasons(t *testing.T, in *ingest.Ingester) map[string]string {
	t.Helper()
	p, err := in.Plan(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range p.Files {
		out[f.Key] = f.Reason
	}
	return out
}

// TestMaxFileAge: a landing file older than MaxFileAge that was never
// ingested is ignored (Plan says "expired", the backlog leaves it out);
// an ingested file is forgotten once it is that old, and is not ingested
// again.
func TestMaxFileAge(t *testing.T) {
	ctx := ctxT(t)
	landing, dir := fileLanding(t)
	tbl := memBucket(t, "table")
	t0 := time.Now().UTC().Truncate(time.Second)
	clk := newClock(t0)
	opts := func() *ingest.Options {
		return &ingest.Options{MaxFileAge: 14 * 24 * time.Hour, IndexEvery: 1, MaxFiles: 1, StateRetention: time.Nanosecond, Now: clk.Now}
	}
	land(t, dir, "a.json", 3, t0.Add(-20*24*time.Hour)) // too old: ignored
	lines := land(t, dir, "b.json", 3, t0.Add(-time.Hour))
	if r := planReasons(t, mustNew(t, landing, tbl, opts())); r["a.json"] != ingest.PlanExpired || r["b.json"] != ingest.PlanIngest {
		t.Fatalf("plan: %v", r)
	}
	sum, err := mustNew(t, landing, tbl, opts()).RunOnce(ctx)
	if err != nil || sum.Files != 1 {
		t.Fatalf("run: %+v, %v", sum, err)
	}
	checkMultiset(t, tbl, lines)

	// Fifteen days later b is older than MaxFileAge: forgotten by the
	// index (Plan says expired, not ingested), and not ingested again.
	clk.Set(t0.Add(15 * 24 * time.Hour))
	lines = append(lines, land(t, dir, "c.json", 2, t0.Add(15*24*time.Hour-time.Hour))...)
	in := mustNew(t, landing, tbl, opts())
	if sum, err = in.RunOnce(ctx); err != nil || sum.Files != 1 {
		t.Fatalf("run 15 days later: %+v, %v", sum, err)
	}
	checkMultiset(t, tbl, lines)
	// Once more, after the state of batch 2 is stored: b stays forgotten.
	sum, err = mustNew(t, landing, tbl, opts()).RunOnce(ctx)
	if err != nil || sum.Commits != 0 {
		t.Fatalf("third run: %+v, %v", sum, err)
	}
	if r := planReasons(t, mustNew(t, landing, tbl, opts())); r["b.json"] != ingest.PlanExpired || r["c.json"] != ingest.PlanIngested {
		t.Fatalf("plan 15 days later: %v", r)
	}
	tb, err := table.Open(ctx, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := ingest.Pending(ctx, landing, tbl, snap, opts(), 0)
	if err != nil || bl.Files != 0 {
		t.Fatalf("backlog %+v, %v", bl, err)
	}
	// Manifests covered by stored segments were deleted.
	if m := listKeys(t, tbl, ingest.StatePrefix("default")+"batches/"); len(m) > 1 {
		t.Fatalf("manifests left: %v", m)
	}

	for _, bad := range []time.Duration{time.Hour, -time.Second} {
		if _, err := ingest.New(landing, tbl, &ingest.Options{MaxFileAge: bad}); !errors.Is(err, ingest.ErrConfig) {
			t.Errorf("MaxFileAge %v: %v", bad, err)
		}
	}
}

// TestExactlyOnceWithStateExpiry fails each storage call of a run in which
// index segments are stored and merged, superseded segments and covered
// manifests are deleted, and ingested files expire (as after a crash
// there), then restarts: every line is in the table exactly once.
func TestExactlyOnceWithStateExpiry(t *testing.T) {
	t0 := time.Now().UTC().Truncate(time.Second)
	later := t0.Add(15 * 24 * time.Hour)
	// setup ingests the first files at t0 and lands more files for the run
	// at 'later', when the first ones have expired.
	setup := func(t *testing.T, tbl storage.Bucket) (storage.Bucket, *clock, func() *ingest.Options, [][]byte) {
		landing, dir := fileLanding(t)
		clk := newClock(t0)
		opts := func() *ingest.Options {
			return &ingest.Options{MaxFileAge: 14 * 24 * time.Hour, IndexEvery: 1, MaxFiles: 1, StateRetention: time.Nanosecond, Now: clk.Now}
		}
		var lines [][]byte
		for i := range 3 {
			lines = append(lines, land(t, dir, fmt.Sprintf("a/%d.json", i), 2, t0.Add(-time.Hour))...)
		}
		if _, err := mustNew(t, landing, tbl, opts()).RunOnce(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		clk.Set(later)
		for i := range 3 {
			lines = append(lines, land(t, dir, fmt.Sprintf("b/%d.json", i), 2, later.Add(-time.Minute))...)
		}
		return landing, clk, opts, lines
	}
	// Fail each call on the stream's state (index segments, manifests,
	// their deletion): TestCrashAtEveryStep covers the data and log calls.
	state := ingest.StatePrefix("default")
	raw := memBucket(t, "table")
	landing, _, opts, _ := setup(t, raw)
	f := storage.NewFaulty(raw, storage.Faults{})
	if _, err := mustNew(t, landing, f, opts()).RunOnce(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if len(listKeys(t, raw, state+"batches/")) > 1 {
		t.Fatal("the run deleted no manifests: nothing was expired")
	}
	for _, after := range []bool{false, true} {
		for n := 1; ; n++ {
			injected := false
			t.Run(fmt.Sprintf("after=%v/call=%d", after, n), func(t *testing.T) {
				ctx := ctxT(t)
				raw := memBucket(t, "table")
				landing, _, opts, lines := setup(t, raw)
				f := storage.NewFaulty(raw, storage.Faults{KeyPrefix: state, Nth: n, After: after, Err: storage.ErrPermanent})
				_, _ = mustNew(t, landing, f, opts()).RunOnce(ctx)
				for _, op := range []string{storage.OpGet, storage.OpNewReader, storage.OpRead, storage.OpPutIfAbsent, storage.OpList, storage.OpDelete, storage.OpPut} {
					injected = injected || f.Injected(op) > 0
				}
				f.SetFaults(storage.Faults{})
				if _, err := mustNew(t, landing, f, opts()).RunOnce(ctx); err != nil {
					t.Fatalf("restart: %v", err)
				}
				checkMultiset(t, raw, lines)
			})
			if !injected || n > 200 {
				break
			}
		}
	}
}

// TestCleanSourceMove moves ingested files out of the landing location
// after their batch commits, and only then.
func TestCleanSourceMove(t *testing.T) {
	ctx := ctxT(t)
	landing, dir := fileLanding(t)
	archive, tbl := memBucket(t, "archive"), memBucket(t, "table")
	t0 := time.Now().UTC().Truncate(time.Second)
	clk := newClock(t0)
	opts := func() *ingest.Options {
		return &ingest.Options{CleanSource: ingest.CleanMove, CleanDestination: archive, CleanRetention: time.Hour,
			MaxFiles: 1, Now: clk.Now}
	}
	var lines [][]byte
	for _, k := range []string{"x/1.json", "x/2.json", "y/3.json"} {
		lines = append(lines, land(t, dir, k, 2, t0.Add(-time.Minute))...)
	}
	if _, err := mustNew(t, landing, tbl, opts()).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	checkMultiset(t, tbl, lines)
	if got := listKeys(t, landing, ""); len(got) != 3 {
		t.Fatalf("within the retention, landing holds %v", got)
	}
	clk.Advance(2 * time.Hour)
	if _, err := mustNew(t, landing, tbl, opts()).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, landing, ""); len(got) != 0 {
		t.Fatalf("after the retention, landing still holds %v", got)
	}
	if got := listKeys(t, archive, ""); strings.Join(got, ",") != "x/1.json,x/2.json,y/3.json" {
		t.Fatalf("archive holds %v", got)
	}
	if got := listKeys(t, tbl, ingest.StatePrefix("default")+"clean/"); len(got) != 1 {
		t.Fatalf("clean progress records: %v", got)
	}
	checkMultiset(t, tbl, lines)

	for _, o := range []*ingest.Options{
		{CleanSource: ingest.CleanMove},                              // no destination
		{CleanSource: ingest.CleanMove, CleanDestination: landing},   // moved files would come back
		{CleanSource: ingest.CleanDelete, CleanRetention: time.Hour}, // shorter than Auto Loader's 7 days
		{CleanSource: "archive"},
		{CleanDestination: archive}, // destination without move
	} {
		if _, err := ingest.New(landing, tbl, o); !errors.Is(err, ingest.ErrConfig) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestCleanSourceAfterCrash: a crash leaves batch 2 planned but not
// committed; the restarted stream commits it, every line once, and
// cleanSource deletes each file only once its batch is committed and the
// retention has passed. (clean_internal_test.go runs a pass while batch 2
// is still planned.)
func TestCleanSourceAfterCrash(t *testing.T) {
	ctx := ctxT(t)
	landing, dir := fileLanding(t)
	raw := memBucket(t, "table")
	t0 := time.Now().UTC().Truncate(time.Second)
	clk := newClock(t0)
	opts := func() *ingest.Options {
		return &ingest.Options{CleanSource: ingest.CleanDelete, CleanRetention: 7 * 24 * time.Hour, MaxFiles: 1, Now: clk.Now}
	}
	lines := land(t, dir, "1.json", 2, t0.Add(-time.Minute))
	lines = append(lines, land(t, dir, "2.json", 2, t0.Add(-time.Minute))...)
	// Batch 1 commits as table version 1 (version 0 creates the table);
	// batch 2's commit fails.
	f := storage.NewFaulty(raw, storage.Faults{Ops: []string{storage.OpPutIfAbsent},
		KeyPrefix: "_delta_log/00000000000000000002.json", Nth: 1, Count: 1 << 20, Err: storage.ErrPermanent})
	if _, err := mustNew(t, landing, f, opts()).RunOnce(ctx); err == nil {
		t.Fatal("the run did not fail")
	}
	if _, err := ingest.ReadManifest(ctx, raw, "default", 2); err != nil {
		t.Fatalf("batch 2 is not planned: %v", err)
	}
	clk.Advance(24 * time.Hour)
	f.SetFaults(storage.Faults{})
	if _, err := mustNew(t, landing, f, opts()).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	checkMultiset(t, raw, lines)
	if got := listKeys(t, landing, ""); strings.Join(got, ",") != "1.json,2.json" {
		t.Fatalf("within the retention, landing holds %v", got)
	}
	clk.Advance(7 * 24 * time.Hour)
	if _, err := mustNew(t, landing, f, opts()).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, landing, ""); len(got) != 0 {
		t.Fatalf("after the retention, landing holds %v", got)
	}
	checkMultiset(t, raw, lines)
}

// TestConcurrentInstancesWithStateExpiry runs several Ingesters of one
// stream at once, each storing index segments and deleting the segments
// and manifests they supersede: every line lands once, and a fresh
// instance afterwards finds nothing left to ingest.
func TestConcurrentInstancesWithStateExpiry(t *testing.T) {
	ctx := ctxT(t)
	landing, dir := fileLanding(t)
	tbl := memBucket(t, "table")
	t0 := time.Now().UTC().Truncate(time.Second)
	clk := newClock(t0)
	opts := func() *ingest.Options {
		return &ingest.Options{MaxFiles: 1, IndexEvery: 1, StateRetention: time.Nanosecond, Workers: 1, Now: clk.Now}
	}
	var lines [][]byte
	for i := range 16 {
		lines = append(lines, land(t, dir, fmt.Sprintf("f/%02d.json", i), 2, t0.Add(-time.Minute))...)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := mustNew(t, landing, tbl, opts()).RunOnce(ctx)
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	checkMultiset(t, tbl, lines)
	sum, err := mustNew(t, landing, tbl, opts()).RunOnce(ctx)
	if err != nil || sum.Commits != 0 {
		t.Fatalf("a fresh instance: %+v, %v", sum, err)
	}
	if m := listKeys(t, tbl, ingest.StatePrefix("default")+"batches/"); len(m) > 4 {
		t.Fatalf("%d manifests left", len(m))
	}
}
