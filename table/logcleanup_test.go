package table_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

func logKeys(t *testing.T, b storage.Bucket) (commits, checkpoints int) {
	t.Helper()
	for _, k := range keys(t, b) {
		switch {
		case len(k) > 11 && k[:11] == "_delta_log/" && len(k) == 11+25 && k[len(k)-5:] == ".json":
			commits++
		case len(k) > 11 && k[:11] == "_delta_log/" && len(k) > 30 && k[len(k)-8:] == ".parquet":
			checkpoints++
		}
	}
	return
}

// After a checkpoint, commits and checkpoints older than the log retention
// are deleted; every version from the kept checkpoint on stays readable.
func TestLogCleanupAfterCheckpoint(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{
		"delta.checkpointInterval":           "5",
		"delta.logRetentionDuration":         "interval 0 seconds",
		"delta.deletedFileRetentionDuration": "interval 0 seconds",
	})
	for i := 0; i < 12; i++ {
		appendN(t, tbl, int64(i*10), 10)
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := tbl.Optimize(ctx, nil); err != nil { // version 13, with tombstones
		t.Fatal(err)
	}
	for i := 12; i < 15; i++ { // versions 14-16; checkpoint at 15
		appendN(t, tbl, int64(i*10), 10)
	}
	commits, checkpoints := logKeys(t, b)
	if commits != 2 || checkpoints != 1 {
		t.Fatalf("%d commits and %d checkpoints left, want 15-16 and checkpoint 15", commits, checkpoints)
	}
	fresh, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := latest(t, fresh)
	if snap.Version() != 16 || len(tabletest.IDs(t, snap, "")) != 150 {
		t.Fatalf("version %d", snap.Version())
	}
	// The checkpoint dropped the expired tombstones of the OPTIMIZE.
	cp, err := fresh.SnapshotAt(ctx, 15)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tombstones(t, cp)); n != 0 {
		t.Fatalf("checkpoint kept %d expired tombstones", n)
	}
	if _, err := fresh.SnapshotAt(ctx, 14); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("cleaned version 14: %v, want ErrVersionNotFound", err)
	}
}

// Default retention: nothing young is cleaned, tombstones stay in
// checkpoints; KeepFrom protects versions a consumer still needs.
func TestLogCleanupRetention(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{"delta.checkpointInterval": "4"})
	for i := 0; i < 9; i++ {
		appendN(t, tbl, int64(i*10), 10)
	}
	if _, err := tbl.Optimize(ctx, nil); err != nil { // version 10
		t.Fatal(err)
	}
	for i := 9; i < 12; i++ {
		appendN(t, tbl, int64(i*10), 10)
	}
	if c, _ := logKeys(t, b); c != 14 {
		t.Fatalf("%d commits: default 30-day retention must keep all", c)
	}
	cp, err := tbl.SnapshotAt(ctx, 12)
	if err != nil || len(tombstones(t, cp)) != 27 {
		t.Fatalf("checkpoint 12 tombstones: %v", err)
	}
	future := func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	res, err := tbl.CleanupLog(ctx, &table.LogCleanupOptions{Now: future, KeepFrom: 6})
	if err != nil || res.OldestVersion != 4 || res.CommitsDeleted != 4 {
		t.Fatalf("cleanup bounded by KeepFrom 6: %+v %v", res, err)
	}
	if _, err := tbl.SnapshotAt(ctx, 6); err != nil {
		t.Fatalf("version 6 protected by KeepFrom: %v", err)
	}
	res, err = tbl.CleanupLog(ctx, &table.LogCleanupOptions{Now: future})
	if err != nil || res.OldestVersion != 12 || res.CheckpointsDeleted != 2 {
		t.Fatalf("cleanup 31 days later: %+v %v", res, err)
	}
	if ids := tabletest.IDs(t, latest(t, tbl), ""); len(ids) != 120 {
		t.Fatalf("%d rows", len(ids))
	}
}

// Options.Now is the table's clock: commit timestamps, tombstones and the
// retention checks all follow it, so the default retentions (30 days of log,
// 7 days of tombstones) apply to a history that lived through 60 fake days.
func TestFakeClockRetention(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return day }
	if _, err := table.Create(ctx, b, table.CreateOptions{Schema: tabletest.Schema(),
		PartitionColumns: []string{"date"}, Properties: map[string]string{"delta.checkpointInterval": "5"}},
		&table.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, b, &table.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ { // versions 1-12, two days apart
		day = day.Add(48 * time.Hour)
		appendN(t, tbl, int64(i*10), 10)
	}
	day = day.Add(48 * time.Hour)
	if _, err := tbl.Optimize(ctx, nil); err != nil { // version 13: tombstones dated day 26
		t.Fatal(err)
	}
	hist, err := tbl.History(ctx, 1)
	if err != nil || !hist[0].Timestamp.Equal(day) {
		t.Fatalf("latest commit at %v (%v), want the fake clock's %v", hist[0].Timestamp, err, day)
	}
	for i := 12; i < 22; i++ { // versions 14-23, checkpoints at 15 and 20
		day = day.Add(48 * time.Hour)
		appendN(t, tbl, int64(i*10), 10)
	}
	// Now is day 46: versions committed before day 16 (1-7) are past the 30
	// days, the checkpoint at 20 (day 40) drops tombstones of day 26.
	cp, err := tbl.SnapshotAt(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tombstones(t, cp)); n != 0 {
		t.Fatalf("checkpoint 20 kept %d tombstones older than 7 days", n)
	}
	if _, err := tbl.SnapshotAt(ctx, 4); !errors.Is(err, table.ErrVersionNotFound) {
		t.Fatalf("version 4 (day 8, older than 30 days): %v, want ErrVersionNotFound", err)
	}
	if s, err := tbl.SnapshotAt(ctx, 8); err != nil || len(tabletest.IDs(t, s, "")) != 80 {
		t.Fatalf("version 8 (day 16, inside the window): %v", err)
	}
}

// Two cleanups at once (the daemon's pass and a writer's after-checkpoint
// one): the one with the older clock finds the log start already deleted
// past its own cutoff by the other, oldest first. It has nothing left to do
// and must not fail.
func TestLogCleanupBehindAnother(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return day }
	if _, err := table.Create(ctx, b, table.CreateOptions{Schema: tabletest.Schema(),
		PartitionColumns: []string{"date"}, Properties: map[string]string{"delta.checkpointInterval": "5"}},
		&table.Options{Now: clock, NoLogCleanup: true}); err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, b, &table.Options{Now: clock, NoLogCleanup: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ { // versions 1-12 on days 1-12, checkpoints 5 and 10
		day = day.Add(24 * time.Hour)
		appendN(t, tbl, int64(i*10), 10)
	}
	// The other cleanup (cutoff at version 10) got as far as version 6.
	for v := int64(0); v <= 6; v++ {
		for _, k := range []string{table.CommitKey(v), fmt.Sprintf("_delta_log/%020d.checkpoint.parquet", v)} {
			if err := b.Delete(ctx, k); err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
	// This one's clock puts its cutoff at version 8 (day 8 + 30 days).
	res, err := tbl.CleanupLog(ctx, &table.LogCleanupOptions{Now: func() time.Time { return time.Date(2026, 2, 8, 12, 0, 0, 0, time.UTC) }})
	if err != nil || res.CommitsDeleted+res.CheckpointsDeleted != 0 {
		t.Fatalf("cleanup behind another: %+v %v", res, err)
	}
	// A later clock finishes the other's job.
	res, err = tbl.CleanupLog(ctx, &table.LogCleanupOptions{Now: func() time.Time { return time.Date(2026, 2, 11, 12, 0, 0, 0, time.UTC) }})
	if err != nil || res.CommitsDeleted != 3 || res.OldestVersion != 10 {
		t.Fatalf("cleanup at version 10: %+v %v", res, err)
	}
	if s, err := tbl.SnapshotAt(ctx, 10); err != nil || len(tabletest.IDs(t, s, "")) != 100 {
		t.Fatalf("version 10: %v", err)
	}
}

// A writer slower than the log retention: while it was in flight, other
// writers went on and log cleanup deleted its version under a newer
// checkpoint. Its put-if-absent of that version succeeds (the key is free
// again), but no reader would ever see the commit: it must fail with
// ErrConflict instead of reporting success, and a retry lands.
func TestCommitBelowCleanedLog(t *testing.T) {
	commitBelowCleanedLog(t, 3, nil)
}

// Two writers slower than the log retention at once: the first one's stray
// commit stands in cleaned version 3 (it has not yet found out and deleted
// it) when the second, read at version 2, loses version 3 to it and puts
// version 4, also cleaned. Commit 3 existing must not pass for proof that
// version 4 was free: the second commit must fail with ErrConflict too. (The
// fleet benchmark, 50 writers on a fake day, lost commits this way.)
func TestCommitBelowCleanedLogBehindStray(t *testing.T) {
	commitBelowCleanedLog(t, 2, func(ctx context.Context, b storage.Bucket) {
		// The other slow writer's stray commit: a blind append, as its
		// put of the cleaned version 3 left it.
		stray, err := b.Get(ctx, table.CommitKey(12))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.PutIfAbsent(ctx, table.CommitKey(3), stray); err != nil {
			t.Fatal(err)
		}
	})
}

// commitBelowCleanedLog sets up a slow writer that read the table at
// version readAt, an hour apart, while a fast one went on to version 12 a
// day apart (cleanup keeps from a later checkpoint, so version 4 is gone);
// beforeCommit runs just before the slow writer commits. The slow commit
// must fail with ErrConflict, leave no stray commit 4 and land as version
// 13 on a fresh snapshot.
func commitBelowCleanedLog(t *testing.T, readAt int, beforeCommit func(context.Context, storage.Bucket)) {
	t.Helper()
	ctx := context.Background()
	b := openMem(t)
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return day }
	if _, err := table.Create(ctx, b, table.CreateOptions{Schema: tabletest.Schema(), PartitionColumns: []string{"date"},
		Properties: map[string]string{"delta.checkpointInterval": "5", "delta.logRetentionDuration": "interval 1 day"}},
		&table.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	slow, err := table.Open(ctx, b, &table.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := table.Open(ctx, b, &table.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < readAt; i++ {
		day = day.Add(time.Hour)
		appendN(t, fast, int64(i*10), 10)
	}
	read, err := slow.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := readAt; i < 12; i++ {
		day = day.Add(24 * time.Hour)
		appendN(t, fast, int64(i*10), 10)
	}
	if _, err := b.Stat(ctx, table.CommitKey(4)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("version 4 not cleaned (%v): the test does not set up the race", err)
	}
	if beforeCommit != nil {
		beforeCommit(ctx, b)
	}
	w, err := slow.NewWriter(read, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := tabletest.Rows(1000, 10)
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	adds, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := slow.Commit(ctx, read, &table.Commit{Actions: adds}); !errors.Is(err, table.ErrConflict) {
		t.Fatalf("commit below the cleaned log: version %d, %v; want ErrConflict", v, err)
	}
	if _, err := b.Stat(ctx, table.CommitKey(4)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the stray commit 4 is left behind: %v", err)
	}
	fresh, err := slow.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := slow.Commit(ctx, fresh, &table.Commit{Actions: adds})
	if err != nil || v != 13 {
		t.Fatalf("retry on a fresh snapshot: %d %v", v, err)
	}
	if s := latest(t, slow); len(tabletest.IDs(t, s, "")) != 130 {
		t.Fatalf("%d rows, want 130", len(tabletest.IDs(t, s, "")))
	}
}

// A long-lived handle never reloads a checkpoint: it derives each snapshot
// from the last one, after its own commits (afterCommit) and when it
// refreshes. Its tombstones must expire as a checkpoint's do; they used to
// stay for the handle's lifetime, so a writer's memory and the cost of each
// of its commits (which clones them) grew with the whole history.
func TestHandleTombstonesExpire(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	if _, err := table.Create(ctx, b, table.CreateOptions{Schema: tabletest.Schema(),
		PartitionColumns: []string{"date"}, Properties: map[string]string{
			"delta.checkpointInterval":           "1000", // no checkpoint: only the handles' own state
			"delta.deletedFileRetentionDuration": "interval 1 hour"}},
		&table.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	writer, err := table.Open(ctx, b, &table.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := table.Open(ctx, b, &table.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		now = now.Add(time.Minute)
		appendN(t, writer, int64(i*10), 10)
	}
	now = now.Add(time.Minute)
	res, err := writer.Optimize(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	removed := int(res.NumRemovedFiles)
	if n := len(tombstones(t, latest(t, writer))); removed == 0 || n != removed {
		t.Fatalf("writer: %d tombstones right after OPTIMIZE, want its %d removes", n, removed)
	}
	if n := len(tombstones(t, latest(t, reader))); n != removed {
		t.Fatalf("reader: %d tombstones right after OPTIMIZE, want %d", n, removed)
	}
	now = now.Add(30 * time.Minute)
	appendN(t, writer, 50, 10)
	if n := len(tombstones(t, latest(t, writer))); n != removed {
		t.Fatalf("writer: %d tombstones 30 minutes on, want %d (inside the hour)", n, removed)
	}
	now = now.Add(31 * time.Minute)
	appendN(t, writer, 60, 10)
	if n := len(tombstones(t, latest(t, writer))); n != 0 {
		t.Fatalf("writer: %d tombstones 61 minutes after OPTIMIZE, want 0 (past the hour)", n)
	}
	snap := latest(t, reader) // a refresh over the last two commits
	if n := len(tombstones(t, snap)); n != 0 {
		t.Fatalf("reader: %d tombstones after refreshing past the hour, want 0", n)
	}
	if n := len(tabletest.IDs(t, snap, "")); n != 70 {
		t.Fatalf("reader: %d rows, want 70", n)
	}
}

// Cleanup searches the oldest three checkpoint intervals (at least 64
// commits) of the log for the retention boundary; past them (cleanup was
// off, or held back) it lists the whole log and searches it. Both find the
// same boundary.
func TestLogCleanupManyExpired(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{40, 150} { // boundary found by the walk; by the search
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := openMem(t)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			if _, err := table.Create(ctx, b, table.CreateOptions{Schema: tabletest.Schema(),
				PartitionColumns: []string{"date"}, Properties: map[string]string{
					"delta.checkpointInterval":   "20",
					"delta.logRetentionDuration": "interval 1 hour"}},
				&table.Options{Now: clock}); err != nil {
				t.Fatal(err)
			}
			tbl, err := table.Open(ctx, b, &table.Options{Now: clock, NoLogCleanup: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= n+10; i++ { // version i at minute i
				now = now.Add(time.Minute)
				appendN(t, tbl, int64(i), 1)
			}
			// Versions up to n are older than the hour: keep the checkpoint
			// at or below n and everything from it.
			now = now.Add(50 * time.Minute)
			res, err := tbl.CleanupLog(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			cp := int64(n / 20 * 20)
			if res.OldestVersion != cp || res.CommitsDeleted != int(cp) || res.CheckpointsDeleted != int(cp/20-1) {
				t.Fatalf("%+v, want versions below checkpoint %d deleted", res, cp)
			}
			if _, err := tbl.SnapshotAt(ctx, cp-1); !errors.Is(err, table.ErrVersionNotFound) {
				t.Fatalf("version %d: %v, want ErrVersionNotFound", cp-1, err)
			}
			if s, err := tbl.SnapshotAt(ctx, cp); err != nil || len(tabletest.IDs(t, s, "")) != int(cp) {
				t.Fatalf("version %d: %v", cp, err)
			}
		})
	}
}

// delta.enableExpiredLogCleanup=false (in any case) keeps the whole log,
// both after checkpoints and when CleanupLog is called directly, as the
// region daemon's maintenance does.
func TestLogCleanupDisabledByTable(t *testing.T) {
	ctx := context.Background()
	for _, v := range []string{"false", "FALSE", " False "} {
		t.Run(v, func(t *testing.T) {
			b := openMem(t)
			tbl := tabletest.Create(t, b, map[string]string{
				"delta.checkpointInterval":      "3",
				"delta.logRetentionDuration":    "interval 0 seconds",
				"delta.enableExpiredLogCleanup": v,
			})
			for i := 0; i < 7; i++ {
				appendN(t, tbl, int64(i*10), 10)
			}
			later := time.Now().Add(time.Hour)
			res, err := tbl.CleanupLog(ctx, &table.LogCleanupOptions{Retain: new(time.Duration), Now: func() time.Time { return later }})
			if err != nil {
				t.Fatal(err)
			}
			if commits, _ := logKeys(t, b); commits != 8 || res.CommitsDeleted != 0 || res.CheckpointsDeleted != 0 {
				t.Fatalf("%d commits left (%+v), want all 8", commits, res)
			}
			if _, err := tbl.SnapshotAt(ctx, 0); err != nil {
				t.Fatalf("version 0: %v", err)
			}
		})
	}
	// The same table with cleanup on loses its old commits: the test can fail.
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{"delta.checkpointInterval": "3", "delta.logRetentionDuration": "interval 0 seconds"})
	for i := 0; i < 7; i++ {
		appendN(t, tbl, int64(i*10), 10)
	}
	if commits, _ := logKeys(t, b); commits == 8 {
		t.Fatal("cleanup on: nothing was cleaned")
	}
}

// A writer slower than a 0-second log retention can put its commit into a
// version cleanup deleted under a checkpoint ("stray", deleted again by
// checkNotCleaned when it finds out). A reader whose snapshot predates the
// checkpoint must not apply it when it catches up, even though the genuine
// commits after the checkpoint follow it (a concurrent DELETE caught up
// through a stray and wrote a checkpoint holding its rows: duplicates).
func TestRefreshSkipsStrayCommit(t *testing.T) {
	ctx := context.Background()
	b, tbl, reader := behindCleanup(t)
	if v := latest(t, reader).Version(); v != 3 {
		t.Fatalf("reader at version %d", v)
	}
	for i := 3; i < 7; i++ { // versions 4-7: checkpoint 5 and cleanup of 0-4
		appendN(t, tbl, int64(i*10), 10)
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := b.Stat(ctx, table.CommitKey(4)); err == nil {
		t.Fatal("commit 4 was not cleaned")
	}
	genuine, err := b.Get(ctx, table.CommitKey(6))
	if err != nil {
		t.Fatal(err)
	}
	stray := bytes.ReplaceAll(genuine, []byte("part-"), []byte("part-stray-"))
	if err := b.PutIfAbsent(ctx, table.CommitKey(4), stray); err != nil {
		t.Fatal(err)
	}
	snap := latest(t, reader)
	for _, f := range snap.Files() {
		if strings.Contains(f.Path, "stray") {
			t.Fatalf("reader applied the stray commit 4: live file %s at version %d", f.Path, snap.Version())
		}
	}
	if snap.Version() != 7 {
		t.Fatalf("reader at version %d, want 7", snap.Version())
	}
}

// Two writers of the same batch (one txn version), the slower one behind a
// 0-second log retention: its put-if-absent lands in the version cleanup
// freed under a checkpoint. The txn the latest snapshot shows is the other
// writer's; this commit's own file is not there, so it is a stray: it is
// removed and the writer told, not told it committed (its files then
// surfaced in a rewrite and duplicated the batch's rows).
func TestStrayCommitOfACommittedBatch(t *testing.T) {
	ctx := context.Background()
	b, tbl, slow := behindCleanup(t)
	read := latest(t, slow)                                                           // version 3
	tabletest.Append(t, tbl, 30, 10, &table.Commit{AppID: "ingest:s", AppVersion: 1}) // version 4
	for i := 4; i < 7; i++ {                                                          // versions 5-7: checkpoint 5, commits 0-4 cleaned
		appendN(t, tbl, int64(i*10), 10)
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := b.Stat(ctx, table.CommitKey(4)); err == nil {
		t.Fatal("commit 4 was not cleaned")
	}
	day := "2026-11-22"
	_, err := slow.Commit(ctx, read, &table.Commit{AppID: "ingest:s", AppVersion: 1, Operation: "STREAMING UPDATE",
		Actions: []table.Action{{Add: &table.Add{Path: "date=" + day + "/part-stray.parquet",
			PartitionValues: map[string]*string{"date": &day}, Size: 1, ModificationTime: 1, DataChange: true}}}})
	if err == nil {
		t.Fatal("a stray commit of a batch another writer committed was reported committed")
	}
	if _, err := b.Stat(ctx, table.CommitKey(4)); err == nil {
		t.Fatal("the stray commit 4 was left in the log")
	}
}

// A reader whose next commits were cleaned finds the table moved on even
// when _last_checkpoint lags (a slow writer of an older checkpoint put it
// back): the listing shows the newer checkpoint.
func TestRefreshPastLaggingHint(t *testing.T) {
	ctx := context.Background()
	b, tbl, reader := behindCleanup(t)
	latest(t, reader)        // version 3
	for i := 3; i < 7; i++ { // versions 4-7: checkpoint 5, commits 0-4 cleaned
		appendN(t, tbl, int64(i*10), 10)
		time.Sleep(2 * time.Millisecond)
	}
	if err := b.Put(ctx, "_delta_log/_last_checkpoint", []byte(`{"version":3,"size":1}`)); err != nil {
		t.Fatal(err)
	}
	if v := latest(t, reader).Version(); v != 7 {
		t.Fatalf("reader refreshed to version %d, want 7", v)
	}
}

// behindCleanup returns a table at version 3 whose log is cleaned as soon
// as a checkpoint (every 5 versions) is written, and a second handle on
// it: one whose snapshot cleanup will leave behind.
func behindCleanup(t *testing.T) (storage.Bucket, *table.Table, *table.Table) {
	t.Helper()
	b := openMem(t)
	tbl := tabletest.Create(t, b, map[string]string{
		"delta.checkpointInterval":   "5",
		"delta.logRetentionDuration": "interval 0 seconds",
	})
	for i := range 3 { // versions 1-3
		appendN(t, tbl, int64(i*10), 10)
	}
	other, err := table.Open(context.Background(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, tbl, other
}
