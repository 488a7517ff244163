package table_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// byKey counts requests per key, so a test can tell a file read twice.
func byKey(key string) string { return key }

// logGETs returns the successful GETs per commit file in c.
func logGETs(c storage.Counts) map[string]int64 {
	out := map[string]int64{}
	for k, n := range c {
		if k.Kind == storage.KindGet && k.Outcome == storage.OutcomeOK && strings.HasPrefix(k.Group, "_delta_log/") {
			out[k.Group] += n
		}
	}
	return out
}

// A writer that lost version races reads each winning commit once — for
// the conflict checks — and derives its snapshot after the commit from them
// and its own commit, without reading any of them again; the snapshot is
// the one a fresh reader builds.
func TestCommitReadsEachWinnerOnce(t *testing.T) {
	ctx := context.Background()
	inner := openMem(t)
	tabletest.Create(t, inner, nil)
	b := storage.NewCounting(inner, byKey)
	loser, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	read, err := loser.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	winner, err := table.Open(ctx, inner, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rec := tabletest.Rows(int64(i*10), 10)
		_, err := winner.Append(ctx, []arrow.Record{rec}, &table.Commit{AppID: "winner", AppVersion: int64(i)})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	before := b.Counts()
	v, err := loser.Commit(ctx, read, &table.Commit{AppID: "loser", AppVersion: 7})
	if err != nil || v != 6 {
		t.Fatalf("commit after 5 winners: v=%d err=%v, want version 6", v, err)
	}
	snap, err := loser.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	calls := b.Counts().Sub(before)
	gets := logGETs(calls)
	want := map[string]int64{}
	for v := int64(1); v <= 5; v++ {
		want[table.CommitKey(v)] = 1
	}
	if !maps.Equal(gets, want) {
		t.Errorf("commit files read (successful GETs per key) = %v, want each winner once and not the own commit: %v", gets, want)
	}
	if n := calls.Sum(storage.CountKey{Kind: storage.KindList}, true); n != 0 {
		t.Errorf("%d LIST requests; committing after lost races must not list the log", n)
	}
	// Missed probes stay bounded by what was found (5 winners): the read
	// window grows from 1.
	if n := calls.Sum(storage.CountKey{Kind: storage.KindGet, Outcome: storage.OutcomeNotFound}, false); n > 5 {
		t.Errorf("%d GETs of missing commit files, want at most 5", n)
	}
	fresh, err := table.Open(ctx, inner, nil)
	if err != nil {
		t.Fatal(err)
	}
	want2, err := fresh.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version() != want2.Version() || !maps.EqualFunc(snap.Txns(), want2.Txns(), sameTxn) ||
		!slices.Equal(paths(snap), paths(want2)) || !snap.Timestamp().Equal(want2.Timestamp()) {
		t.Fatalf("snapshot after commit: version %d, txns %v, %d files, at %v; a fresh reader sees version %d, txns %v, %d files, at %v",
			snap.Version(), snap.Txns(), len(snap.Files()), snap.Timestamp(), want2.Version(), want2.Txns(), len(want2.Files()), want2.Timestamp())
	}
}

func sameTxn(a, b table.Txn) bool {
	return a.AppID == b.AppID && a.Version == b.Version && (a.LastUpdated == nil) == (b.LastUpdated == nil) &&
		(a.LastUpdated == nil || *a.LastUpdated == *b.LastUpdated)
}

func paths(s *table.Snapshot) []string {
	var out []string
	for _, f := range s.Files() {
		out = append(out, f.Path)
	}
	return out
}

// Refreshing a snapshot that is up to date costs one GET (of the next
// commit, which is missing) and no listing.
func TestRefreshUpToDateCostsOneGET(t *testing.T) {
	ctx := context.Background()
	inner := openMem(t)
	tabletest.Create(t, inner, nil)
	b := storage.NewCounting(inner, nil)
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := b.Counts()
	if _, err := tbl.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	calls := b.Counts().Sub(before)
	if n := calls.Sum(storage.CountKey{}, true); n != 1 || calls.Sum(storage.CountKey{Kind: storage.KindGet, Outcome: storage.OutcomeNotFound}, false) != 1 {
		t.Fatalf("refresh with nothing new made requests %v, want one GET that finds nothing", calls)
	}
}

// With CatchUp, a commit whose read snapshot is stale reads the commits
// after it first and checks them as if it had lost a race: it loses no
// race, and a winner carrying its own stream's txn still stops it before
// anything is written.
func TestCommitCatchUp(t *testing.T) {
	ctx := context.Background()
	inner := openMem(t)
	tabletest.Create(t, inner, nil)
	b := storage.NewCounting(inner, nil)
	races := 0
	stale, err := table.Open(ctx, b, &table.Options{Hooks: table.Hooks{Conflict: func(int64) { races++ }}})
	if err != nil {
		t.Fatal(err)
	}
	read, err := stale.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := table.Open(ctx, inner, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cur, err := other.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Commit(ctx, cur, &table.Commit{AppID: "other", AppVersion: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := b.Counts()
	v, err := stale.Commit(ctx, read, &table.Commit{AppID: "stale", AppVersion: 1, CatchUp: true})
	if err != nil || v != 4 {
		t.Fatalf("commit with CatchUp after 3 others: v=%d err=%v, want version 4", v, err)
	}
	calls := b.Counts().Sub(before)
	if races != 0 || calls.Sum(storage.CountKey{Kind: storage.KindPut}, true) != 1 {
		t.Fatalf("%d races lost, requests %v: want one PUT and no race", races, calls)
	}
	// Another instance of "other" with a stale snapshot: replaying its
	// version 0, which landed after the read version, is already in.
	_, err = stale.Commit(ctx, read, &table.Commit{AppID: "other", AppVersion: 0, CatchUp: true})
	if !errors.Is(err, table.ErrAlreadyCommitted) {
		t.Fatalf("stale replay of other's version 0 with CatchUp: %v, want ErrAlreadyCommitted", err)
	}
	_, err = stale.Commit(ctx, read, &table.Commit{AppID: "other", AppVersion: 5, CatchUp: true})
	if !errors.Is(err, table.ErrConflict) {
		t.Fatalf("stale instance of other moving to 5 over its concurrent 0..2 with CatchUp: %v, want ErrConflict", err)
	}
	if latest, err := table.Open(ctx, inner, nil); err != nil {
		t.Fatal(err)
	} else if s, _ := latest.Snapshot(ctx); s.Version() != 4 {
		t.Fatalf("table at version %d after refused commits, want 4", s.Version())
	}
}

// Opening a table from a _last_checkpoint hint younger than half the log
// retention lists nothing: cleanup cannot have touched the commits after
// it, and a listing costs the length of the log where a backend cannot
// start one at a key (Azure, file://). An older hint is checked by a
// listing (TestStaleHintStrayCommit).
func TestOpenFreshHintListsNothing(t *testing.T) {
	ctx := context.Background()
	inner := openMem(t)
	tbl := tabletest.Create(t, inner, map[string]string{"delta.checkpointInterval": "3"})
	for i := range 4 { // versions 1-4, checkpoint 3
		appendN(t, tbl, int64(i*10), 10)
	}
	lists := func(now time.Time) int64 {
		b := storage.NewCounting(inner, nil)
		fresh, err := table.Open(ctx, b, &table.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		if v := latest(t, fresh).Version(); v != 4 {
			t.Fatalf("opened at version %d, want 4", v)
		}
		return b.Counts().Sum(storage.CountKey{Kind: storage.KindList}, false)
	}
	if n := lists(time.Now()); n != 0 {
		t.Fatalf("opening from a fresh hint listed %d pages, want none", n)
	}
	if n := lists(time.Now().Add(20 * 24 * time.Hour)); n == 0 {
		t.Fatal("opening from a hint older than half the 30-day log retention listed nothing")
	}
}
