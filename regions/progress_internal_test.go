package regions

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

var progressSeq atomic.Int64

// countingOpener opens locations like openLocation, counting every request
// made through any bucket it opened.
type countingOpener struct {
	mu     sync.Mutex
	opened []*storage.Counting
}

func (o *countingOpener) open(ctx context.Context, url string) (storage.Bucket, error) {
	b, err := openLocation(ctx, url)
	if err != nil {
		return nil, err
	}
	c := storage.NewCounting(b, nil)
	o.mu.Lock()
	o.opened = append(o.opened, c)
	o.mu.Unlock()
	return c, nil
}

// reads is the number of GET, HEAD and LIST requests made so far.
func (o *countingOpener) reads() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for _, c := range o.opened {
		counts := c.Counts()
		for _, kind := range []string{storage.KindGet, storage.KindHead, storage.KindList} {
			n += counts.Sum(storage.CountKey{Kind: kind}, true)
		}
	}
	return n
}

// Maintenance builds its cleanup guard from the one read of the route
// txns that egress.Progress makes (the routes and how far each got): no
// second snapshot read of each target, as listing the consumers and then
// reading their progress (what an erasure polls) costs. The guard is the
// same either way, including a route added by a switch whose table does
// not exist yet (it has read nothing).
func TestEgressGuardReadsTargetsOnce(t *testing.T) {
	ctx := context.Background()
	n := progressSeq.Add(1)
	url := func(s string) string { return fmt.Sprintf("mem://progress-%d-%s", n, s) }
	open := func(s string) storage.Bucket {
		b, err := openLocation(ctx, url(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	regional := open("regional")
	tbl := tabletest.Create(t, regional, nil)
	tabletest.AppendBatches(t, tbl, 6, 10)
	// (tabletest's schema has no egress_approved: a route filter must name its columns.)
	routes := []egress.Route{{Name: "central", Predicate: "id IS NOT NULL", Table: url("central")}, {Name: "fork", Predicate: "id IS NOT NULL", Table: url("fork")}}
	if _, err := egress.RecordRoutes(ctx, regional, routes, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, appID string
		v           int64
	}{{"central", "egress:r1", 6}, {"fork", "egress:r1:fork", 3}} {
		ct := tabletest.Create(t, open(c.name), nil)
		tabletest.Append(t, ct, 0, 1, &table.Commit{AppID: c.appID, AppVersion: c.v})
	}
	tabletest.AppendBatches(t, tbl, 2, 10)
	// A third route from a later switch, its table not created yet.
	routes = append(routes, egress.Route{Name: "late", Predicate: "id IS NOT NULL", Table: url("late")})
	if _, err := egress.RecordRoutes(ctx, regional, routes, nil); err != nil {
		t.Fatal(err)
	}

	bare := &countingOpener{}
	streams, err := egress.Progress(ctx, regional, "r1", nil, bare.open)
	if err != nil || len(streams) != 3 {
		t.Fatalf("progress: %+v %v", streams, err)
	}

	twice := &countingOpener{}
	consumers, closeAll, err := egressConsumers(ctx, "r1", regional, nil, twice.open)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	polled, err := NewGuard(ctx, consumers)
	if err != nil {
		t.Fatal(err)
	}

	once := &countingOpener{}
	guard, err := egressGuard(ctx, "r1", regional, nil, once.open)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("target reads: egress.Progress %d; consumers then ReadProgress %d; egressGuard %d", bare.reads(), twice.reads(), once.reads())
	if once.reads() != bare.reads() || twice.reads() <= bare.reads() {
		t.Fatalf("target reads: egressGuard %d, want egress.Progress's %d (consumers then ReadProgress: %d)", once.reads(), bare.reads(), twice.reads())
	}
	if !reflect.DeepEqual(guard, polled) {
		t.Fatalf("guard from one read %+v (%+v), from a second read %+v (%+v)", guard, guard.Progress, polled, polled.Progress)
	}
	if guard.KeepFrom != 0 || !guard.Active || len(guard.Progress.Consumers) != 3 || guard.Progress.Consumers[2].Version != -1 {
		t.Fatalf("guard %+v %+v: want the late route (no table) to keep everything", guard, guard.Progress)
	}
}
