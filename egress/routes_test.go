package egress_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

func TestStreams(t *testing.T) {
	all := egress.Route{Name: "central", Predicate: "a", Table: "mem://main"}
	sub := egress.Route{Name: "central", Predicate: "b", Table: "mem://main"}
	fork := egress.Route{Name: "fork", Predicate: "c", Table: "mem://fork"}
	moved := egress.Route{Name: "fork", Predicate: "c", Table: "mem://elsewhere"}
	sets := []egress.RouteSet{
		{N: 0, Version: 3, Routes: []egress.Route{all}},
		{N: 1, Version: 10, Routes: []egress.Route{sub, fork}},
		{N: 2, Version: 20, Routes: []egress.Route{all}},
		{N: 3, Version: 30, Routes: []egress.Route{all, fork, moved}[0:2]},
		{N: 4, Version: 40, Routes: []egress.Route{all, moved}},
		{N: 5, Version: -1, Routes: []egress.Route{sub}}, // not switched yet: ignored
	}
	want := []egress.Stream{
		// Set 0 covers the history; the predicate switches at 10 and back at 20.
		{Route: "central", Table: "mem://main", Start: 0, Predicate: "a",
			Switches: []egress.PredicateSwitch{{Version: 10, Predicate: "b"}, {Version: 20, Predicate: "a"}}},
		// Added at 10, removed at 20, back at 30 (nothing in between),
		// retargeted at 40.
		{Route: "fork", Table: "mem://fork", Start: 10, Stop: 40, Predicate: "c",
			Switches: []egress.PredicateSwitch{{Version: 20, Predicate: egress.NoRows}, {Version: 30, Predicate: "c"}}},
		{Route: "fork", Table: "mem://elsewhere", Start: 40, Predicate: "c"},
	}
	if got := egress.Streams(sets); !reflect.DeepEqual(got, want) {
		t.Fatalf("streams:\n got %+v\nwant %+v", got, want)
	}

	// A route's schema mode is the newest set's.
	strict := all
	strict.SchemaMode = egress.SchemaFail
	sets = []egress.RouteSet{{N: 0, Version: 1, Routes: []egress.Route{all}}, {N: 1, Version: 5, Routes: []egress.Route{strict}}}
	if got := egress.Streams(sets); len(got) != 1 || got[0].SchemaMode != egress.SchemaFail {
		t.Fatalf("streams with a schema mode change: %+v", got)
	}

	// One table spelled another way (a trailing slash, a connection
	// parameter) is the same stream, opened with the newest spelling: two
	// streams of one name there would share its txn (review: rows lost).
	s3 := egress.Route{Name: "central", Predicate: "a", Table: "s3://b/central"}
	respelled := egress.Route{Name: "central", Predicate: "a", Table: "s3://b/central/?region=eu-west-1"}
	sets = []egress.RouteSet{{N: 0, Version: 1, Routes: []egress.Route{s3}}, {N: 1, Version: 5, Routes: []egress.Route{respelled}}}
	want = []egress.Stream{{Route: "central", Table: respelled.Table, Start: 0, Predicate: "a"}}
	if got := egress.Streams(sets); !reflect.DeepEqual(got, want) {
		t.Fatalf("streams of one table spelled two ways:\n got %+v\nwant %+v", got, want)
	}
}

func TestCheckRoutes(t *testing.T) {
	for _, c := range []struct {
		name   string
		routes []egress.Route
		want   error
	}{
		{"none", nil, egress.ErrConfig},
		{"bad name", []egress.Route{{Name: "a b", Table: "mem://x"}}, egress.ErrConfig},
		{"twice", []egress.Route{{Name: "a", Table: "mem://x"}, {Name: "a", Table: "mem://y"}}, egress.ErrConfig},
		{"no table", []egress.Route{{Name: "a"}}, egress.ErrConfig},
		{"bad predicate", []egress.Route{{Name: "a", Table: "mem://x", Predicate: "x = "}}, egress.ErrPredicate},
		{"bad schema mode", []egress.Route{{Name: "a", Table: "mem://x", SchemaMode: "merge"}}, egress.ErrConfig},
	} {
		if _, err := egress.CheckRoutes(c.routes); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	got, err := egress.CheckRoutes([]egress.Route{{Name: "b", Table: "mem://x"}, {Name: "a", Table: "mem://y", Predicate: "level = 'x'"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []egress.Route{{Name: "a", Table: "mem://y", Predicate: "level = 'x'"}, {Name: "b", Table: "mem://x", Predicate: egress.DefaultPredicate}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestRouteSwitchLive switches a region from one route to two while rows
// keep arriving and two instances run: only one of them is reloaded, the
// other learns the switch from the regional log. Every approved row must
// be in exactly the targets whose predicates match it as of its version.
func TestRouteSwitchLive(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	fork := memBucket(t, "fork")
	targets := map[string]storage.Bucket{"mem://main": f.dst, "mem://fork": fork}
	open := func(_ context.Context, url string) (storage.Bucket, error) { return targets[url], nil }
	before := []egress.Route{{Name: egress.DefaultRoute, Table: "mem://main"}}
	after := []egress.Route{
		{Name: egress.DefaultRoute, Table: "mem://main", Predicate: "egress_approved = true AND level <> 'ERROR'"},
		{Name: "errors", Table: "mem://fork", Predicate: "egress_approved = true AND level = 'ERROR'"},
	}
	f.appendRows(t, 40) // history: set 0 covers it
	opts := egress.RouterOptions{Options: egress.Options{Region: "eu-1", AdvanceEvery: 3}, Open: open}
	a, err := egress.NewRouter(f.src, before, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := egress.NewRouter(f.src, before, opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, r := range []*egress.Router{a, b} {
		wg.Go(func() {
			if err := r.Run(runCtx, 5*time.Millisecond); err != nil {
				t.Error(err)
			}
		})
	}
	// Rows keep arriving; version[id] is the regional version of row id.
	version := map[int64]int64{}
	add := func(n int) {
		first := int64(len(f.rows))
		v := f.appendRows(t, n)
		for id := first; id < first+int64(n); id++ {
			version[id] = v
		}
	}
	for range 15 {
		add(8)
		time.Sleep(2 * time.Millisecond)
	}
	if err := a.SetRoutes(after); err != nil { // a reload of one instance
		t.Fatal(err)
	}
	for range 15 {
		add(8)
		time.Sleep(2 * time.Millisecond)
	}
	// Let both drain, then stop them and finish with a third instance.
	time.Sleep(100 * time.Millisecond)
	stop()
	wg.Wait()
	c, err := egress.NewRouter(f.src, after, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}

	sets, err := egress.ReadRouteSets(ctx, f.src)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[1].Version < 0 {
		t.Fatalf("route sets %+v: want 2, both switched", sets)
	}
	sw := sets[1].Version
	var wantMain, wantFork []int64
	for _, r := range f.rows {
		if r.Approved == nil || !*r.Approved {
			continue
		}
		v, ok := version[r.ID]
		if !ok {
			v = 0
		}
		switch {
		case v < sw:
			wantMain = append(wantMain, r.ID)
		case r.Level == "ERROR":
			wantFork = append(wantFork, r.ID)
		default:
			wantMain = append(wantMain, r.ID)
		}
	}
	if len(wantFork) == 0 {
		t.Fatalf("switch at version %d: no ERROR row came after it; the test proves nothing", sw)
	}
	if d := egresstest.Diff(readCentral(t, f.dst), map[string][]int64{"eu-1": wantMain}); d != "" {
		t.Errorf("main (switch at %d):\n%s", sw, d)
	}
	if d := egresstest.Diff(readCentral(t, fork), map[string][]int64{"eu-1": wantFork}); d != "" {
		t.Errorf("fork (switch at %d):\n%s", sw, d)
	}
	// The old route keeps its appId; the new one has its own.
	for _, c := range []struct {
		b     storage.Bucket
		appID string
	}{{f.dst, "egress:eu-1"}, {fork, "egress:eu-1:errors"}} {
		if _, ok := centralSnap(t, c.b).AppVersion(c.appID); !ok {
			t.Errorf("%s: no txn for %s", c.b.URL(), c.appID)
		}
	}
	t.Logf("switch at regional version %d (%d rows written); main %d rows, fork %d rows", sw, len(version), len(wantMain), len(wantFork))
}

// TestRecordRoutesFinishesHalfDone: an instance that dies after writing a
// route set but before its switch commit, or after the switch commit but
// before its version file, leaves it for any other instance to finish, at
// one version.
func TestRecordRoutesFinishesHalfDone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendRows(t, 10)
	one := []egress.Route{{Name: egress.DefaultRoute, Table: "mem://main"}}
	two := append(slices.Clone(one), egress.Route{Name: "fork", Table: "mem://fork"})
	set0, err := egress.RecordRoutes(ctx, f.src, one, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set0.N != 0 || set0.Version != 2 {
		t.Fatalf("set 0 = %+v, want N 0 at version 2 (after CREATE and one append)", set0)
	}
	// Died after writing set 1: nothing switched yet.
	data, _ := json.Marshal(map[string]any{"routes": mustCheck(t, two)})
	if err := f.src.PutIfAbsent(ctx, "_loglake/egress/routes/00000000000000000001.json", data); err != nil {
		t.Fatal(err)
	}
	sets, err := egress.ReadRouteSets(ctx, f.src)
	if err != nil || len(sets) != 2 || sets[1].Version != -1 || len(egress.Streams(sets)) != 1 {
		t.Fatalf("half-recorded set: %+v, %v", sets, err)
	}
	f.appendRows(t, 5)
	// Another instance, with the old routes, finishes it first: the set
	// in force is the one recorded, at the next regional version.
	sets, err = egress.CompleteRouteSets(ctx, f.src, f.region)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 2 || sets[1].Version != 4 {
		t.Fatalf("finished set 1 at %+v, want version 4", sets)
	}
	// Died after the switch commit of set 2, before its version file.
	data, _ = json.Marshal(map[string]any{"routes": mustCheck(t, one)})
	if err := f.src.PutIfAbsent(ctx, "_loglake/egress/routes/00000000000000000002.json", data); err != nil {
		t.Fatal(err)
	}
	snap := centralSnap(t, f.src)
	v, err := f.region.Commit(ctx, snap, &table.Commit{Operation: "SET EGRESS ROUTES", AppID: egress.RoutesAppID, AppVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.appendRows(t, 5)
	got, err := egress.RecordRoutes(ctx, f.src, one, nil) // the same routes: found, not recorded again
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 2 || got.Version != v {
		t.Fatalf("set in force %+v, want set 2 at its switch commit %d", got, v)
	}
	sets, _ = egress.ReadRouteSets(ctx, f.src)
	st := egress.Streams(sets)
	if len(sets) != 3 || len(st) != 2 || st[1].Route != "fork" || st[1].Start != 4 || st[1].Stop != v {
		t.Fatalf("sets %+v streams %+v", sets, st)
	}
}

func mustCheck(t *testing.T, routes []egress.Route) []egress.Route {
	t.Helper()
	r, err := egress.CheckRoutes(routes)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRouteRemovedAndAddedBack: a route removed and later added back
// forwards nothing for the versions in between (its gap predicate is
// FALSE, which must parse) and carries on after its return.
func TestRouteRemovedAndAddedBack(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	side := memBucket(t, "side")
	targets := map[string]storage.Bucket{"mem://main": f.dst, "mem://side": side}
	open := func(_ context.Context, url string) (storage.Bucket, error) { return targets[url], nil }
	both := []egress.Route{{Name: egress.DefaultRoute, Table: "mem://main"}, {Name: "side", Table: "mem://side"}}
	r, err := egress.NewRouter(f.src, both, egress.RouterOptions{Options: egress.Options{Region: "eu-1"}, Open: open})
	if err != nil {
		t.Fatal(err)
	}
	version := map[int64]int64{} // row id -> regional version
	for i, routes := range [][]egress.Route{both, both[:1], both} {
		if i > 0 {
			if err := r.SetRoutes(routes); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			first := int64(len(f.rows))
			v := f.appendRows(t, 10)
			for id := first; id < int64(len(f.rows)); id++ {
				version[id] = v
			}
			if _, err := r.RunOnce(ctx); err != nil {
				t.Fatalf("phase %d: %v", i, err)
			}
		}
	}
	sets, err := egress.ReadRouteSets(ctx, f.src)
	if err != nil {
		t.Fatal(err)
	}
	if len(sets) != 3 || sets[2].Version < 0 {
		t.Fatalf("route sets %+v: want 3, all switched", sets)
	}
	gone, back := sets[1].Version, sets[2].Version
	var wantMain, wantSide []int64
	for _, row := range f.rows {
		if row.Approved == nil || !*row.Approved {
			continue
		}
		wantMain = append(wantMain, row.ID)
		if v := version[row.ID]; v < gone || v >= back {
			wantSide = append(wantSide, row.ID)
		}
	}
	if len(wantSide) == len(wantMain) {
		t.Fatalf("no approved row between versions %d and %d: the test proves nothing", gone, back)
	}
	if d := egresstest.Diff(readCentral(t, f.dst), map[string][]int64{"eu-1": wantMain}); d != "" {
		t.Errorf("main:\n%s", d)
	}
	if d := egresstest.Diff(readCentral(t, side), map[string][]int64{"eu-1": wantSide}); d != "" {
		t.Errorf("side (removed from version %d to %d):\n%s", gone, back, d)
	}
}

// TestRecordRoutesRefusesUnknownColumn: a route filter on a column the
// regional table does not have is refused before anything is recorded
// (review: recorded, it failed its versions for good, even after the
// configuration was corrected).
func TestRecordRoutesRefusesUnknownColumn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.appendRows(t, 10)
	_, err := egress.RecordRoutes(ctx, f.src, []egress.Route{{Name: "errors", Table: "mem://fork", Predicate: "levle = 'ERROR'"}}, nil)
	if !errors.Is(err, egress.ErrPredicate) || !strings.Contains(err.Error(), "levle") {
		t.Fatalf("RecordRoutes with a misspelled column: %v, want ErrPredicate naming it", err)
	}
	if sets, err := egress.ReadRouteSets(ctx, f.src); err != nil || len(sets) != 0 {
		t.Fatalf("route sets after the refusal: %+v, %v; want none", sets, err)
	}
	if _, err := egress.RecordRoutes(ctx, f.src, []egress.Route{{Name: "errors", Table: "mem://fork", Predicate: "level = 'ERROR'"}}, nil); err != nil {
		t.Fatalf("the corrected route: %v", err)
	}
}
