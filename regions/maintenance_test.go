package regions_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

var maintSeq atomic.Int64

func memBucket(t *testing.T) storage.Bucket {
	b, err := storage.Open(context.Background(), fmt.Sprintf("mem://maint-%d", maintSeq.Add(1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// One pass per interval (the lease), OPTIMIZE of small files, and VACUUM and
// log cleanup bounded by what egress has read from the regional table.
func TestMaintainBoundedByEgress(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	regional, central := memBucket(t), memBucket(t)
	tbl := tabletest.Create(t, regional, map[string]string{"delta.checkpointInterval": "4"})
	tabletest.AppendBatches(t, tbl, 12, 10)
	// Egress has forwarded regional versions up to 5.
	ct := tabletest.Create(t, central, nil)
	tabletest.Append(t, ct, 0, 1, &table.Commit{AppID: "egress:r1", AppVersion: 5})
	cfg := &regions.Config{Name: "r1", Maintenance: regions.MaintenanceConfig{
		Enabled: true, Interval: time.Hour, MinFiles: 2, TargetFileSize: 128 << 20}}

	now := time.Now().Add(40 * 24 * time.Hour) // past both retentions
	rep, err := regions.Maintain(ctx, cfg, regional, central, func() time.Time { return now }, log)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped || rep.Optimize.NumRemovedFiles != 36 || rep.KeepFrom != 6 {
		t.Fatalf("report %+v", rep)
	}
	// Egress has not read the versions that added the compacted files:
	// nothing is vacuumed, and the log keeps every version from 6 on.
	if rep.Vacuum.FilesDeleted != 0 {
		t.Fatalf("vacuum deleted %d files egress still needs", rep.Vacuum.FilesDeleted)
	}
	if rep.Log.CommitsDeleted != 4 {
		t.Fatalf("log cleanup %+v, want commits 0-3 (checkpoint 4 reads version 6)", rep.Log)
	}
	h := table.Handle(regional, nil)
	if ch, err := h.Changes(ctx, 5, -1, 0); err != nil || len(ch) != 8 {
		t.Fatalf("egress's changes after 5: %d, %v", len(ch), err)
	}
	// Same interval: another instance finds the lease taken.
	again, err := regions.Maintain(ctx, cfg, regional, central, func() time.Time { return now }, log)
	if err != nil || !again.Skipped {
		t.Fatalf("second pass in the same interval: %+v %v", again, err)
	}
	// 8 days on (the pass's clock dated the OPTIMIZE's tombstones) they are
	// past the retention, but egress still has not read them: kept.
	later := now.Add(8 * 24 * time.Hour)
	kept, err := regions.Maintain(ctx, cfg, regional, central, func() time.Time { return later }, log)
	if err != nil || kept.Skipped || kept.Vacuum.FilesDeleted != 0 || kept.Vacuum.KeptForConsumers != 36 {
		t.Fatalf("pass past the retention, egress behind: %+v (vacuum %+v) %v", kept, kept.Vacuum, err)
	}
	// Once egress has read past the OPTIMIZE (v13), the next interval
	// vacuums the files it removed: the bound is by version, so no margin of
	// time holds them back.
	tabletest.Append(t, ct, 1, 1, &table.Commit{AppID: "egress:r1", AppVersion: 13})
	next, err := regions.Maintain(ctx, cfg, regional, central, func() time.Time { return later.Add(time.Hour) }, log)
	if err != nil || next.Skipped || next.Vacuum.FilesDeleted != 36 {
		t.Fatalf("unbounded pass: %+v %v", next, err)
	}
	fresh, err := table.Open(ctx, regional, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := fresh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tabletest.IDs(t, snap, ""); len(ids) != 120 {
		t.Fatalf("%d rows after maintenance", len(ids))
	}
}

func TestParseMaintenance(t *testing.T) {
	cfg, err := regions.Parse([]byte(`name: r1
table: mem://r
central: mem://c
ingest:
  enabled: false
maintenance:
  enabled: true
  interval: 30m
  min_files: 20
  target_file_size: 64MiB
  sort_by: [region, ts]
  central: true
`), "r1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Maintenance
	if !m.Enabled || m.Interval != 30*time.Minute || m.MinFiles != 20 || m.TargetFileSize != 64<<20 || len(m.SortBy) != 2 || !m.Central {
		t.Fatalf("%+v", m)
	}
	def, err := regions.Parse([]byte("name: r1\ntable: mem://r\ncentral: mem://c\ningest:\n  enabled: false\n"), "r1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := def.Maintenance; d.Enabled || d.Interval != regions.DefaultMaintenanceInterval || d.MinFiles != regions.DefaultMaintenanceMinFiles {
		t.Fatalf("defaults %+v", d)
	}
	if _, err := regions.Parse([]byte("name: r1\ntable: mem://r\ncentral: mem://c\ningest:\n  enabled: false\nmaintenance:\n  min_files: 1\n"), "r1.yaml"); err == nil {
		t.Fatal("min_files 1 accepted")
	}
}

// Guard.CleanupLog keeps the commits an egress stream has not read and says
// how many the retention alone would have deleted (what `loglake optimize
// --config` warns about); once the stream has read them they go.
func TestGuardCleanupLog(t *testing.T) {
	ctx := context.Background()
	regional, central := memBucket(t), memBucket(t)
	tabletest.Create(t, regional, map[string]string{"delta.checkpointInterval": "2", "delta.logRetentionDuration": "interval 0 seconds"})
	noLog := &table.Options{NoLogCleanup: true} // as the daemon's ingest opens it
	tbl, err := table.Open(ctx, regional, noLog)
	if err != nil {
		t.Fatal(err)
	}
	tabletest.AppendBatches(t, tbl, 6, 10) // v1-v6, checkpoints 2, 4, 6
	ct := tabletest.Create(t, central, nil)
	consumers := []regions.Consumer{{Target: central, AppID: "egress:r1"}}
	for _, tc := range []struct {
		read           int64 // the stream's recorded version (-1: none)
		deleted, held  int
		oldestReadable int64
	}{
		{read: -1, deleted: 0, held: 6, oldestReadable: 0},
		{read: 2, deleted: 2, held: 4, oldestReadable: 2}, // resumes at 3: checkpoint 2 and commits from it stay
		{read: 6, deleted: 4, held: 0, oldestReadable: 6}, // commits 2-5 (0-1 went above)
	} {
		if tc.read >= 0 {
			tabletest.Append(t, ct, 0, 1, &table.Commit{AppID: "egress:r1", AppVersion: tc.read})
		}
		g, err := regions.NewGuard(ctx, consumers)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := table.Open(ctx, regional, noLog)
		if err != nil {
			t.Fatal(err)
		}
		res, held, err := g.CleanupLog(ctx, rt, nil)
		if err != nil || res.CommitsDeleted != tc.deleted || held != tc.held {
			t.Fatalf("stream at %d: %+v held %d, %v; want %d deleted, %d held", tc.read, res, held, err, tc.deleted, tc.held)
		}
		if _, err := rt.SnapshotAt(ctx, tc.oldestReadable); err != nil {
			t.Fatalf("stream at %d: version %d unreadable: %v", tc.read, tc.oldestReadable, err)
		}
	}
}

// With egress routes, every route's progress bounds the cleanup: the most
// lagging one decides.
func TestMaintainBoundedByEveryRoute(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	regional, central, fork := memBucket(t), memBucket(t), memBucket(t)
	tbl := tabletest.Create(t, regional, map[string]string{"delta.checkpointInterval": "4"})
	tabletest.AppendBatches(t, tbl, 12, 10)
	// (tabletest's schema has no egress_approved: a route filter must name its columns.)
	routes := []egress.Route{{Name: "central", Predicate: "id IS NOT NULL", Table: central.URL()}, {Name: "fork", Predicate: "id IS NOT NULL", Table: fork.URL()}}
	if _, err := egress.RecordRoutes(ctx, regional, routes, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		b     storage.Bucket
		appID string
		v     int64
	}{{central, "egress:r1", 10}, {fork, "egress:r1:fork", 5}} {
		ct := tabletest.Create(t, c.b, nil)
		tabletest.Append(t, ct, 0, 1, &table.Commit{AppID: c.appID, AppVersion: c.v})
	}
	cfg := &regions.Config{Name: "r1", Egress: regions.EgressConfig{Routes: []regions.RouteConfig{
		{Name: "central", Table: central.URL()}, {Name: "fork", Table: fork.URL()}}},
		Maintenance: regions.MaintenanceConfig{Enabled: true, Interval: time.Hour, MinFiles: 2, TargetFileSize: 128 << 20}}
	rep, err := regions.Maintain(ctx, cfg, regional, nil, func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }, log)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KeepFrom != 6 || rep.Vacuum.FilesDeleted != 0 {
		t.Fatalf("report %+v (vacuum %+v): want the fork route's progress (5) to bound it", rep, rep.Vacuum)
	}
}

// One pass per table at a time: a pass that outlasts its interval keeps the
// next slots' winners from running beside it, until it is done or (a dead
// process) staleSlots intervals old.
func TestMaintainOneAtATime(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	b := memBucket(t)
	tbl := tabletest.Create(t, b, nil)
	tabletest.AppendBatches(t, tbl, 3, 10)
	cfg := &regions.Config{Name: "r1", Maintenance: regions.MaintenanceConfig{
		Enabled: true, Interval: time.Hour, MinFiles: 2, TargetFileSize: 128 << 20}}
	hour := time.Now().Truncate(time.Hour)
	lease := func(at time.Time) string {
		return fmt.Sprintf("_loglake/maintenance/lease/%020d", at.UnixNano()/int64(time.Hour))
	}
	at := func(t time.Time) func() time.Time { return func() time.Time { return t } }
	// A pass took the lease an hour ago and is still running.
	if err := b.Put(ctx, lease(hour.Add(-time.Hour)), []byte("0")); err != nil {
		t.Fatal(err)
	}
	rep, err := regions.Maintain(ctx, cfg, b, nil, at(hour.Add(time.Minute)), log)
	if err != nil || !rep.Skipped || !rep.Busy {
		t.Fatalf("beside a running pass: %+v %v", rep, err)
	}
	// It finishes: the next slot runs.
	if err := b.Put(ctx, lease(hour.Add(-time.Hour))+".done", nil); err != nil {
		t.Fatal(err)
	}
	rep, err = regions.Maintain(ctx, cfg, b, nil, at(hour.Add(time.Hour)), log)
	if err != nil || rep.Skipped || rep.Optimize.NumRemovedFiles != 9 {
		t.Fatalf("after it finished: %+v %v", rep, err)
	}
	// A pass that died without finishing blocks only staleSlots intervals.
	if err := b.Put(ctx, lease(hour.Add(2*time.Hour)), []byte("0")); err != nil {
		t.Fatal(err)
	}
	if rep, err = regions.Maintain(ctx, cfg, b, nil, at(hour.Add(3*time.Hour)), log); err != nil || !rep.Busy {
		t.Fatalf("one interval after a dead pass: %+v %v", rep, err)
	}
	if rep, err = regions.Maintain(ctx, cfg, b, nil, at(hour.Add(7*time.Hour)), log); err != nil || rep.Skipped {
		t.Fatalf("five intervals after a dead pass: %+v %v", rep, err)
	}
}
