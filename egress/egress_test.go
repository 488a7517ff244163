package egress_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// memBucket opens a fresh in-memory location.
func memBucket(t testing.TB, name string) storage.Bucket {
	t.Helper()
	var rnd [6]byte
	rand.Read(rnd[:])
	b, err := storage.Open(context.Background(), "mem://egress-"+name+"-"+hex.EncodeToString(rnd[:]), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fixture struct {
	src, dst storage.Bucket
	region   *table.Table
	// want holds the approved ids appended so far, per region.
	rows []egresstest.Row
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{src: memBucket(t, "src"), dst: memBucket(t, "dst")}
	var err error
	if f.region, err = egresstest.CreateRegion(context.Background(), f.src); err != nil {
		t.Fatal(err)
	}
	return f
}

// appendRows appends n rows with ids following the previous ones.
func (f *fixture) appendRows(t testing.TB, n int) int64 {
	t.Helper()
	rows := egresstest.Rows(int64(len(f.rows)), n)
	v, err := egresstest.Append(context.Background(), f.region, rows)
	if err != nil {
		t.Fatal(err)
	}
	f.rows = append(f.rows, rows...)
	return v
}

func (f *fixture) egress(t testing.TB, opts egress.Options) *egress.Egress {
	t.Helper()
	if opts.Region == "" {
		opts.Region = "eu-1"
	}
	e, err := egress.New(context.Background(), f.src, f.dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func centralSnap(t testing.TB, b storage.Bucket) *table.Snapshot {
	t.Helper()
	ct, err := table.Open(context.Background(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := ct.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func readCentral(t testing.TB, b storage.Bucket) egresstest.Central {
	t.Helper()
	got, err := egresstest.ReadCentral(context.Background(), centralSnap(t, b))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func checkCentral(t testing.TB, b storage.Bucket, want map[string][]int64) {
	t.Helper()
	if d := egresstest.Diff(readCentral(t, b), want); d != "" {
		t.Fatalf("central table:\n%s", d)
	}
}

func TestRunOnceForwardsApprovedRowsOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 3 {
		f.appendRows(t, 30)
	}
	var calls []egress.Summary
	e := f.egress(t, egress.Options{Committed: func(s egress.Summary) { calls = append(calls, s) }})
	sum, err := e.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	approved := egresstest.Approved(f.rows)
	want := egress.Summary{Region: "eu-1", Route: egress.DefaultRoute, FromVersion: -1, ToVersion: 3, CentralVersion: 1, Commits: 1,
		Rows: int64(len(approved)), RowsFiltered: int64(len(f.rows) - len(approved))}
	got := sum
	got.OldestSourceCommit, got.SourceBytes = time.Time{}, 0
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("summary = %+v\nwant      %+v", got, want)
	}
	if sum.OldestSourceCommit.IsZero() || sum.SourceBytes <= 0 {
		t.Fatalf("summary lacks OldestSourceCommit/SourceBytes: %+v", sum)
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": approved})

	// The commit records the stream position and the streaming provenance.
	snap := centralSnap(t, f.dst)
	if v, ok := snap.AppVersion("egress:eu-1"); !ok || v != 3 {
		t.Fatalf("txn egress:eu-1 = %d, %v; want 3", v, ok)
	}
	ct, _ := table.Open(ctx, f.dst, nil)
	hist, err := ct.History(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ci := hist[0].CommitInfo
	if ci.Operation != "STREAMING UPDATE" || ci.OperationParameters["outputMode"] != "Append" ||
		ci.OperationParameters["epochId"] != "3" || ci.OperationMetrics["numOutputRows"] != fmt.Sprint(len(approved)) {
		t.Fatalf("commitInfo = %+v", ci)
	}
	// The central schema is the source's plus region, partitioned by date.
	sch, _ := snap.Schema()
	var names []string
	for _, fl := range sch.Fields {
		names = append(names, fl.Name)
	}
	if got := strings.Join(names, ","); got != "id,ts,level,msg,egress_approved,date,region" {
		t.Fatalf("central columns = %s", got)
	}
	if got := snap.Metadata().PartitionColumns; !slices.Equal(got, []string{"date"}) {
		t.Fatalf("central partition columns = %v", got)
	}
	// Committed saw the three source versions with their row counts.
	if len(calls) != 1 || len(calls[0].Sources) != 3 || calls[0].Sources[0].Version != 1 || calls[0].Sources[2].Version != 3 ||
		calls[0].Sources[0].Rows+calls[0].Sources[1].Rows+calls[0].Sources[2].Rows != int64(len(approved)) {
		t.Fatalf("Committed calls = %+v", calls)
	}

	// Nothing new: nothing written.
	sum, err = e.RunOnce(ctx)
	if err != nil || sum.Commits != 0 || sum.Rows != 0 || sum.FromVersion != 3 || sum.ToVersion != 3 {
		t.Fatalf("second RunOnce = %+v, %v", sum, err)
	}
	// A new Egress (a restart) resumes from the txn.
	f.appendRows(t, 9)
	sum, err = f.egress(t, egress.Options{}).RunOnce(ctx)
	if err != nil || sum.FromVersion != 3 || sum.ToVersion != 4 || sum.Rows != 3 {
		t.Fatalf("after restart RunOnce = %+v, %v", sum, err)
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
}

func TestPredicates(t *testing.T) {
	rows := egresstest.Rows(0, 120)
	isTrue := func(b *bool) bool { return b != nil && *b }
	tests := []struct {
		pred string
		keep func(r egresstest.Row) bool
	}{
		{"", func(r egresstest.Row) bool { return isTrue(r.Approved) }},
		{"egress_approved", func(r egresstest.Row) bool { return isTrue(r.Approved) }},
		{"NOT egress_approved", func(r egresstest.Row) bool { return r.Approved != nil && !*r.Approved }},
		{"egress_approved IS NULL", func(r egresstest.Row) bool { return r.Approved == nil }},
		{"level IN ('ERROR', 'WARN')", func(r egresstest.Row) bool { return r.Level == "ERROR" || r.Level == "WARN" }},
		{"egress_approved = true AND level = 'ERROR' OR id < 5", func(r egresstest.Row) bool {
			return isTrue(r.Approved) && r.Level == "ERROR" || r.ID < 5
		}},
		{"ts >= '2026-11-25' AND NOT (level = 'DEBUG')", func(r egresstest.Row) bool {
			return !r.TS.Before(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) && r.Level != "DEBUG"
		}},
		{"date = '2026-11-24'", func(r egresstest.Row) bool { return r.TS.Day() == 24 }},
		{"msg LIKE 'message 1%'", func(r egresstest.Row) bool { return strings.HasPrefix(fmt.Sprintf("message %d", r.ID), "message 1") }},
		{"id > 1000", func(egresstest.Row) bool { return false }},
	}
	for _, tc := range tests {
		t.Run(tc.pred, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			if _, err := egresstest.Append(ctx, f.region, rows[:60]); err != nil {
				t.Fatal(err)
			}
			if _, err := egresstest.Append(ctx, f.region, rows[60:]); err != nil {
				t.Fatal(err)
			}
			sum, err := f.egress(t, egress.Options{Predicate: tc.pred, AdvanceEvery: 1}).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var want []int64
			for _, r := range rows {
				if tc.keep(r) {
					want = append(want, r.ID)
				}
			}
			if sum.Rows != int64(len(want)) || sum.Rows+sum.RowsFiltered != int64(len(rows)) {
				t.Fatalf("summary rows %d filtered %d, want %d and %d", sum.Rows, sum.RowsFiltered, len(want), len(rows)-len(want))
			}
			checkCentral(t, f.dst, map[string][]int64{"eu-1": want})
			if v, ok := centralSnap(t, f.dst).AppVersion("egress:eu-1"); !ok || v != 2 {
				t.Fatalf("txn = %d, %v; want 2", v, ok)
			}
		})
	}
}

func TestCoalescingBounds(t *testing.T) {
	tests := []struct {
		name        string
		opts        egress.Options
		wantCommits int
	}{
		{"defaults coalesce everything", egress.Options{}, 1},
		{"MaxVersions 2", egress.Options{MaxVersions: 2}, 3}, // versions 0..5: 0-1, 2-3, 4-5
		{"MaxRows one version", egress.Options{MaxRows: 15}, 5},
		{"MaxRows two versions", egress.Options{MaxRows: 20}, 3},
		{"MaxBytes one version", egress.Options{MaxBytes: 1}, 5},
		{"MaxBatchTime", egress.Options{MaxBatchTime: time.Nanosecond}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			for range 5 {
				f.appendRows(t, 10)
			}
			sum, err := f.egress(t, tc.opts).RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Commits != tc.wantCommits || sum.ToVersion != 5 || sum.LagVersions != 0 {
				t.Fatalf("summary = %+v, want %d commits up to version 5", sum, tc.wantCommits)
			}
			checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
			if got := centralSnap(t, f.dst).Version(); got != int64(tc.wantCommits) {
				t.Fatalf("central version = %d, want %d", got, tc.wantCommits)
			}
		})
	}
}

// rewrite replaces file with a new one holding keep's rows, as DELETE (data
// change) or OPTIMIZE (no data change) would.
func rewrite(t *testing.T, tb *table.Table, keep []egresstest.Row, dataChange bool) int64 {
	t.Helper()
	ctx := context.Background()
	snap, err := tb.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := tb.NewWriter(snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := egresstest.Record(w.Schema(), keep)
	defer rec.Release()
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	adds, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var actions []table.Action
	now := time.Now().UnixMilli()
	for _, old := range snap.Files() {
		size := old.Size
		actions = append(actions, table.Action{Remove: &table.Remove{Path: old.Path, DeletionTimestamp: &now,
			DataChange: dataChange, PartitionValues: old.PartitionValues, Size: &size}})
	}
	for _, a := range adds {
		a.Add.DataChange = dataChange
		actions = append(actions, a)
	}
	op := "DELETE"
	if !dataChange {
		op = "OPTIMIZE"
	}
	v, err := tb.Commit(ctx, snap, &table.Commit{Actions: actions, Operation: op})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSkipChangeCommits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendRows(t, 30) // v1
	e := f.egress(t, egress.Options{AdvanceEvery: 1})
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// v2: OPTIMIZE rewrites every row with dataChange=false: nothing new.
	rewrite(t, f.region, f.rows, false)
	// v3: DELETE keeps only the first 10 rows: skipped, nothing retracted.
	rewrite(t, f.region, f.rows[:10], true)
	// v4: new rows are forwarded.
	f.appendRows(t, 12)
	sum, err := e.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.SkippedCommits != 1 || sum.FromVersion != 1 || sum.ToVersion != 4 || sum.Rows != 4 || sum.Commits != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
}

func TestVersionsWithoutMatchesAdvanceLazily(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e := f.egress(t, egress.Options{Predicate: "id < 0", AdvanceEvery: 4, AdvanceAfter: time.Minute, Now: clock})
	txn := func() int64 {
		ct, err := table.Open(ctx, f.dst, nil)
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := ct.Snapshot(ctx)
		v, ok := snap.AppVersion("egress:eu-1")
		if !ok {
			return -1
		}
		return v
	}
	f.appendRows(t, 5) // v1
	f.appendRows(t, 5) // v2
	sum, err := e.RunOnce(ctx)
	if err != nil || sum.Commits != 0 || sum.ToVersion != 2 || sum.LagVersions != 0 || sum.RowsFiltered != 10 {
		t.Fatalf("RunOnce = %+v, %v", sum, err)
	}
	if got := txn(); got != -1 {
		t.Fatalf("txn after versions 0..2 without rows = %d, want none yet", got)
	}
	f.appendRows(t, 5) // v3: 4 versions (0..3) passed over: advance
	if sum, err = e.RunOnce(ctx); err != nil || sum.Commits != 1 || sum.Rows != 0 {
		t.Fatalf("RunOnce = %+v, %v", sum, err)
	}
	if got := txn(); got != 3 {
		t.Fatalf("txn = %d, want 3", got)
	}
	f.appendRows(t, 5) // v4: one version pending, not due
	if sum, err = e.RunOnce(ctx); err != nil || sum.Commits != 0 {
		t.Fatalf("RunOnce = %+v, %v", sum, err)
	}
	now = now.Add(2 * time.Minute) // ... until AdvanceAfter passes
	if sum, err = e.RunOnce(ctx); err != nil || sum.Commits != 1 || sum.ToVersion != 4 {
		t.Fatalf("RunOnce = %+v, %v", sum, err)
	}
	if got := txn(); got != 4 {
		t.Fatalf("txn = %d, want 4", got)
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": nil})
}

// A run that passes over versions committed more than AdvanceAfter ago
// records them at once: `egress --once` runs from cron each live shorter
// than AdvanceAfter, and status would show their lag for good (review).
func TestOldVersionsWithoutMatchesAdvanceAtOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		later   time.Duration // the egress clock ahead of the source's commits
		commits int
	}{{0, 0}, {10 * time.Minute, 1}} {
		f := newFixture(t)
		f.appendRows(t, 5)
		f.appendRows(t, 5)
		clock := func() time.Time { return time.Now().Add(tc.later) }
		sum, err := f.egress(t, egress.Options{Predicate: "id < 0", Now: clock}).RunOnce(ctx)
		if err != nil || sum.Commits != tc.commits || sum.Rows != 0 || sum.LagVersions != 0 {
			t.Fatalf("versions %s old: RunOnce = %+v, %v; want %d commits", tc.later, sum, err, tc.commits)
		}
	}
}

func TestSourceLogCleaned(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 3 {
		f.appendRows(t, 6)
	}
	snap, err := f.region.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Checkpoint version 3 and clean the commits before it.
	var actions []table.Action
	actions = append(actions, table.Action{Protocol: snap.Protocol()}, table.Action{MetaData: snap.Metadata()})
	for _, a := range snap.Files() {
		actions = append(actions, table.Action{Add: a})
	}
	if err := table.WriteCheckpoint(ctx, f.src, 3, actions); err != nil {
		t.Fatal(err)
	}
	for v := range 3 {
		if err := f.src.Delete(ctx, fmt.Sprintf("_delta_log/%020d.json", v)); err != nil {
			t.Fatal(err)
		}
	}
	e := f.egress(t, egress.Options{})
	_, err = e.RunOnce(ctx)
	if !errors.Is(err, egress.ErrSourceLogCleaned) || !strings.Contains(err.Error(), "eu-1") {
		t.Fatalf("RunOnce = %v, want ErrSourceLogCleaned naming the region", err)
	}
	// Run gives up on it rather than retrying forever.
	runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := e.Run(runCtx, 10*time.Millisecond); !errors.Is(err, egress.ErrSourceLogCleaned) {
		t.Fatalf("Run = %v, want ErrSourceLogCleaned", err)
	}
}

func TestSchemas(t *testing.T) {
	ctx := context.Background()
	extra := func(s *table.Schema, f *table.Field) *table.Schema {
		return &table.Schema{Fields: append(slices.Clone(s.Fields), f)}
	}
	t.Run("central has an extra column: null", func(t *testing.T) {
		f := newFixture(t)
		f.appendRows(t, 9)
		cs := extra(egress.CentralSchema(egresstest.Schema()), &table.Field{Name: "tenant", Type: table.TypeString, Nullable: true})
		if _, err := table.Create(ctx, f.dst, table.CreateOptions{Schema: cs, PartitionColumns: []string{"date"}}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := f.egress(t, egress.Options{}).RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
		snap := centralSnap(t, f.dst)
		sc, err := snap.Scan(ctx, &table.ScanOptions{Filter: "tenant IS NOT NULL"})
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if rec, err := sc.Next(ctx); err == nil {
			rec.Release()
			t.Fatal("tenant is not null in some central row")
		}
	})
	t.Run("fail: source has a column the central lacks", func(t *testing.T) {
		f := newFixture(t)
		f.appendRows(t, 9)
		cs := egress.CentralSchema(egresstest.Schema()).Without("msg", "level")
		if _, err := table.Create(ctx, f.dst, table.CreateOptions{Schema: cs, PartitionColumns: []string{"date"}}, nil); err != nil {
			t.Fatal(err)
		}
		_, err := f.egress(t, egress.Options{SchemaMode: egress.SchemaFail}).RunOnce(ctx)
		if !errors.Is(err, egress.ErrSchemaMismatch) || !strings.Contains(err.Error(), "level, msg") {
			t.Fatalf("RunOnce = %v, want ErrSchemaMismatch naming level, msg", err)
		}
	})
	t.Run("fail: type differs", func(t *testing.T) {
		f := newFixture(t)
		f.appendRows(t, 9)
		cs := egress.CentralSchema(egresstest.Schema())
		cs.Field("id").Type = table.TypeString
		if _, err := table.Create(ctx, f.dst, table.CreateOptions{Schema: cs}, nil); err != nil {
			t.Fatal(err)
		}
		_, err := f.egress(t, egress.Options{SchemaMode: egress.SchemaFail}).RunOnce(ctx)
		if !errors.Is(err, egress.ErrSchemaMismatch) || !strings.Contains(err.Error(), "id (source int64, central utf8)") {
			t.Fatalf("RunOnce = %v, want ErrSchemaMismatch naming id", err)
		}
	})
	t.Run("source schema evolves", func(t *testing.T) {
		f := newFixture(t)
		f.appendRows(t, 9) // v1, before the new column
		e := f.egress(t, egress.Options{})
		if _, err := e.RunOnce(ctx); err != nil { // creates the central table
			t.Fatal(err)
		}
		// The central table gets the column first (as an operator would),
		// then the region adds it and writes a row with it.
		col := &table.Field{Name: "tenant", Type: table.TypeString, Nullable: true}
		for _, tb := range []storage.Bucket{f.dst, f.src} {
			tt, err := table.Open(ctx, tb, nil)
			if err != nil {
				t.Fatal(err)
			}
			snap, _ := tt.Snapshot(ctx)
			sch, _ := snap.Schema()
			md := *snap.Metadata()
			md.SchemaString = extra(sch, col).String()
			if _, err := tt.Commit(ctx, snap, &table.Commit{Actions: []table.Action{{MetaData: &md}}, Operation: "ADD COLUMNS"}); err != nil {
				t.Fatal(err)
			}
		}
		f.appendRows(t, 9) // v3, tenant null
		rows := egresstest.Rows(100, 3)
		snap, _ := f.region.Snapshot(ctx)
		w, _ := f.region.NewWriter(snap, nil)
		rec := egresstest.Record(w.Schema(), rows)
		w.Close()
		// Put a tenant value into the last column.
		if _, err := f.region.Append(ctx, []arrowRecord{withTenant(t, rec, "acme")}, nil); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		sum, err := e.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum.FromVersion != 1 || sum.ToVersion != 4 {
			t.Fatalf("summary = %+v", sum)
		}
		want := append(egresstest.Approved(f.rows), egresstest.Approved(rows)...)
		checkCentral(t, f.dst, map[string][]int64{"eu-1": want})
		sc, err := centralSnap(t, f.dst).Scan(ctx, &table.ScanOptions{Columns: []string{"id"}, Filter: "tenant = 'acme'"})
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		n := 0
		for {
			rec, err := sc.Next(ctx)
			if err != nil {
				break
			}
			n += int(rec.NumRows())
			rec.Release()
		}
		if n != len(egresstest.Approved(rows)) {
			t.Fatalf("%d central rows with tenant acme, want %d", n, len(egresstest.Approved(rows)))
		}
	})
}

func TestNoSourceTableYet(t *testing.T) {
	ctx := context.Background()
	src, dst := memBucket(t, "src"), memBucket(t, "dst")
	e, err := egress.New(ctx, src, dst, egress.Options{Region: "late"})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := e.RunOnce(ctx)
	if err != nil || sum.Commits != 0 {
		t.Fatalf("RunOnce without a source table = %+v, %v", sum, err)
	}
	if _, err := table.Open(ctx, dst, nil); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("central table was created without a source schema: %v", err)
	}
	tb, err := egresstest.CreateRegion(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	rows := egresstest.Rows(0, 12)
	if _, err := egresstest.Append(ctx, tb, rows); err != nil {
		t.Fatal(err)
	}
	if sum, err = e.RunOnce(ctx); err != nil || sum.Rows != 4 {
		t.Fatalf("RunOnce = %+v, %v", sum, err)
	}
	checkCentral(t, dst, map[string][]int64{"late": egresstest.Approved(rows)})
}

func TestNewValidates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name string
		opts egress.Options
		want error
		text string
	}{
		{"no region", egress.Options{}, egress.ErrConfig, "Region is required"},
		{"bad region", egress.Options{Region: "eu 1"}, egress.ErrConfig, `"eu 1"`},
		{"negative MaxRows", egress.Options{Region: "r", MaxRows: -1}, egress.ErrConfig, "MaxRows"},
		{"syntax", egress.Options{Region: "r", Predicate: "egress_approved = "}, egress.ErrPredicate, ""},
		{"unknown column", egress.Options{Region: "r", Predicate: "approved = true"}, egress.ErrPredicate, "approved"},
		{"wrong literal type", egress.Options{Region: "r", Predicate: "id = 'x'"}, egress.ErrPredicate, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := egress.New(ctx, f.src, f.dst, tc.opts)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("New = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendRows(t, 30)
	f.appendRows(t, 30)
	reg := prometheus.NewRegistry()
	e := f.egress(t, egress.Options{Registerer: reg})
	if _, err := e.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	f.appendRows(t, 3) // unforwarded: lag 1
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if m.GetLabel()[0].GetValue() != "eu-1" {
			t.Fatalf("%s: label %v", mf.GetName(), m.GetLabel())
		}
		switch {
		case m.Counter != nil:
			got[mf.GetName()] = m.Counter.GetValue()
		case m.Gauge != nil:
			got[mf.GetName()] = m.Gauge.GetValue()
		case m.Histogram != nil:
			got[mf.GetName()] = float64(m.Histogram.GetSampleCount())
		}
	}
	want := map[string]float64{
		"loglake_egress_rows_total":                20,
		"loglake_egress_rows_filtered_total":       40,
		"loglake_egress_commits_total":             1,
		"loglake_egress_source_versions_total":     3,
		"loglake_egress_lag_versions":              0,
		"loglake_egress_batch_duration_seconds":    1,
		"loglake_egress_source_to_central_seconds": 2,
		"loglake_egress_commit_conflicts_total":    0,
		"loglake_egress_skipped_commits_total":     0,
		"loglake_egress_superseded_batches_total":  0,
		"loglake_egress_failures_total":            0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got["loglake_egress_source_bytes_total"] <= 0 {
		t.Errorf("source_bytes_total = %v", got["loglake_egress_source_bytes_total"])
	}
	// Registering the same region twice in one registry is an error.
	if _, err := egress.New(ctx, f.src, f.dst, egress.Options{Region: "eu-1", Registerer: reg}); err == nil {
		t.Fatal("second New with the same region and registry succeeded")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t)
	var mu sync.Mutex
	var rows int64
	e := f.egress(t, egress.Options{Committed: func(s egress.Summary) { mu.Lock(); rows += s.Rows; mu.Unlock() }})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, 5*time.Millisecond) }()
	f.appendRows(t, 30)
	f.appendRows(t, 30)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := rows
		mu.Unlock()
		if n == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run forwarded %d rows, want 20", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
}

type arrowRecord = arrow.Record

// withTenant returns rec with its "tenant" column set to value on every row.
func withTenant(t *testing.T, rec arrow.Record, value string) arrow.Record {
	t.Helper()
	idx := rec.Schema().FieldIndices("tenant")
	if len(idx) != 1 {
		t.Fatalf("record has no tenant column: %v", rec.Schema())
	}
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for range rec.NumRows() {
		b.Append(value)
	}
	col := b.NewArray()
	defer col.Release()
	cols := slices.Clone(rec.Columns())
	cols[idx[0]] = col
	return array.NewRecord(rec.Schema(), cols, rec.NumRows())
}

// A second regional table egressing under a region name another table's
// egress already used in the central table is refused: the stream's txn
// counts the other table's versions, and its rows were skipped (lost) while
// the second egress reported success. The first table's stream goes on.
func TestForeignStreamRefused(t *testing.T) {
	ctx := context.Background()
	a := newFixture(t)
	a.appendRows(t, 30)
	a.appendRows(t, 30)
	if _, err := a.egress(t, egress.Options{}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	b := newFixture(t) // another table: same region name, same central table
	b.dst = a.dst
	b.appendRows(t, 40)
	if _, err := b.egress(t, egress.Options{}).RunOnce(ctx); !errors.Is(err, egress.ErrForeignStream) {
		t.Fatalf("egress of another table under the same name: %v, want ErrForeignStream", err)
	}
	a.appendRows(t, 30)
	if _, err := a.egress(t, egress.Options{}).RunOnce(ctx); err != nil {
		t.Fatalf("the stream's own table after the refusal: %v", err)
	}
	checkCentral(t, a.dst, map[string][]int64{"eu-1": egresstest.Approved(a.rows)})
}
