package table_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// A writer and a VACUUM race; each test runs the VACUUM (or another
// writer's commit) from a hook at a chosen moment of the writer's work.

// hookBucket runs before() once, ahead of the first commit PutIfAbsent
// whose content holds marker, and onUpload() ahead of every data upload.
type hookBucket struct {
	storage.Bucket
	marker   string
	once     sync.Once
	before   func()
	onUpload func()
}

func (h *hookBucket) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "_delta_log/") && bytes.Contains(data, []byte(h.marker)) && h.before != nil {
		h.once.Do(h.before)
	}
	return h.Bucket.PutIfAbsent(ctx, key, data)
}

func (h *hookBucket) Upload(ctx context.Context, key string, r io.Reader) error {
	if h.onUpload != nil && !strings.HasPrefix(key, "_") {
		h.onUpload()
	}
	return h.Bucket.Upload(ctx, key, r)
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// An OPTIMIZE whose rewrite took longer than half the table's deleted-file
// retention (here 1 hour, as a fleet sets it) does not commit its files: a
// VACUUM keeping to that retention may have taken them for orphans
// meanwhile (one did, and the OPTIMIZE committed the deleted files: the
// table lost every row). The whole rewrite counts, not only the wait for a
// free version: the OPTIMIZE discards its files, re-plans and writes again.
// With the default 7-day retention the same 2-hour rewrite commits.
func TestLongRewriteNotCommittedAfterVacuumGrace(t *testing.T) {
	for _, tc := range []struct {
		retention string
		attempts  int
	}{{"interval 1 hour", 2}, {"", 1}} {
		ctx := context.Background()
		inner := openMem(t)
		var props map[string]string
		if tc.retention != "" {
			props = map[string]string{"delta.deletedFileRetentionDuration": tc.retention}
		}
		tbl := tabletest.Create(t, inner, props)
		for i := range 4 {
			appendN(t, tbl, int64(i*30), 30)
		}
		want := rowStrings(t, latest(t, tbl))
		clock := &fakeClock{t: time.Now()}
		var moved sync.Once
		hb := &hookBucket{Bucket: inner, onUpload: func() { // the rewrite's first file: it then takes 2 hours
			moved.Do(func() { clock.set(clock.now().Add(2 * time.Hour)) })
		}}
		otbl, err := table.Open(ctx, hb, &table.Options{Now: clock.now})
		if err != nil {
			t.Fatal(err)
		}
		res, err := otbl.Optimize(ctx, nil)
		if err != nil || res.Attempts != tc.attempts {
			t.Fatalf("retention %q: optimize %+v, %v; want %d attempts", tc.retention, res, err, tc.attempts)
		}
		if got := rowStrings(t, latest(t, tbl)); !slices.Equal(got, want) {
			t.Fatalf("after OPTIMIZE: %d rows, want %d", len(got), len(want))
		}
		var data []string
		for _, k := range keys(t, inner) {
			if strings.HasPrefix(k, "date=") {
				data = append(data, k)
			}
		}
		if live := len(latest(t, tbl).Files()); len(data) != 12+live {
			t.Fatalf("%d data objects: want the 12 compacted and %d live, a refused attempt's discarded", len(data), live)
		}
	}
}

// A commit's removes carry its commit time: a DELETE planned at T that lost
// a version race to an append at T+10 min, then committed, had its removes
// stamped T, and a VACUUM at T+65 min (retention 1 h) deleted files the
// append's version, inside the window, still reads.
func TestRemovesStampedAtCommitTime(t *testing.T) {
	ctx := context.Background()
	base := time.Now()
	clock := &fakeClock{t: base}
	inner := openMem(t)
	tabletest.Create(t, inner, map[string]string{"delta.deletedFileRetentionDuration": "interval 1 hour"})
	w, err := table.Open(ctx, inner, &table.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 0, 30)
	var appended int64
	hb := &hookBucket{Bucket: inner, marker: `"DELETE"`}
	hb.before = func() {
		clock.set(base.Add(10 * time.Minute))
		o, err := table.Open(ctx, inner, &table.Options{Now: clock.now})
		if err != nil {
			t.Error(err)
			return
		}
		rec := tabletest.Rows(100, 3)
		defer rec.Release()
		if appended, err = o.Append(ctx, []arrow.Record{rec}, nil); err != nil {
			t.Error(err)
		}
	}
	d, err := table.Open(ctx, hb, &table.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Delete(ctx, &table.DeleteOptions{Where: "id < 5"}); err != nil {
		t.Fatal(err)
	}
	_, before, err := table.OpenAt(ctx, inner, nil, appended)
	if err != nil {
		t.Fatal(err)
	}
	want := rowStrings(t, before)
	later := base.Add(65 * time.Minute)
	if _, err := w.Vacuum(ctx, &table.VacuumOptions{Now: func() time.Time { return later }}); err != nil {
		t.Fatal(err)
	}
	_, after, err := table.OpenAt(ctx, inner, nil, appended)
	if err != nil {
		t.Fatal(err)
	}
	if got := rowStrings(t, after); !slices.Equal(got, want) {
		t.Fatalf("version %d, inside the retention window, after VACUUM: %d rows, want %d", appended, len(got), len(want))
	}
}

// Log cleanup deletes log files: a writer feature loglake does not honour
// (checkpointProtection restricts exactly that) is refused by name, as
// VACUUM and OPTIMIZE refuse it, and nothing is deleted.
func TestCleanupLogRefusesUnknownWriterFeature(t *testing.T) {
	ctx := context.Background()
	for _, feat := range []string{"checkpointProtection", "fancyFutureFeature"} {
		b := openMem(t)
		tabletest.Create(t, b, map[string]string{"delta.checkpointInterval": "2"})
		tbl, err := table.Open(ctx, b, &table.Options{NoLogCleanup: true})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			appendN(t, tbl, int64(i*10), 10)
		}
		v, _ := tbl.LatestVersion(ctx)
		line := `{"commitInfo":{"timestamp":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `,"operation":"UPGRADE PROTOCOL"}}` + "\n" +
			`{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["appendOnly","invariants","` + feat + `"]}}` + "\n"
		if err := b.PutIfAbsent(ctx, table.CommitKey(v+1), []byte(line)); err != nil {
			t.Fatal(err)
		}
		fresh, err := table.Open(ctx, b, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fresh.CleanupLog(ctx, &table.LogCleanupOptions{Retain: dur(0)})
		var fe *table.FeatureError
		if !errors.As(err, &fe) || fe.Feature != feat {
			t.Errorf("%s: log cleanup %+v, %v; want a FeatureError naming it", feat, res, err)
		}
	}
}
