package regions_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/erasetest"
	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/replicate"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// Erase in the right order: regional DELETE, then (only once egress has
// passed it) central DELETE, replicas replay it, VACUUM everywhere; no
// erased row is left in any Parquet file of any location. A first run
// with egress lagging refuses to erase the central table: the rows egress
// had not yet forwarded reach it after the regional DELETE, and the rerun
// erases them too.
func TestErase(t *testing.T) {
	ctx := context.Background()
	n := maintSeq.Add(1)
	url := func(s string) string { return fmt.Sprintf("mem://erase-%d-%s", n, s) }
	open := func(s string) storage.Bucket {
		b, err := storage.Open(ctx, url(s), nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	landing, regional, central := open("landing"), open("regional"), open("central")
	cfg := &regions.Config{Name: "r1", Table: url("regional"), Central: url("central")}
	in, err := ingest.New(landing, regional, &ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eg, err := egress.New(ctx, regional, central, egress.Options{Region: "r1", AdvanceEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	land := func(key string, first int) int {
		data, victims, _ := erasetest.Lines(first, 60)
		if err := landing.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		if _, err := in.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		return victims
	}
	victims := land("a.ndjson", 0)
	if _, err := eg.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	victims += land("b.ndjson", 60) // not forwarded yet: egress lags
	replicas := []regions.Replica{{Source: url("regional"), Replica: url("regional-dr")}, {Source: url("central"), Replica: url("central-dr")},
		{Source: url("central-dr"), Replica: url("central-dr2")}} // a chain
	for _, pair := range [][2]string{{"regional", "regional-dr"}, {"central", "central-dr"}, {"central-dr", "central-dr2"}} {
		if _, err := replicate.Clone(ctx, open(pair[0]), open(pair[1]), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := regions.Erase(ctx, &regions.EraseRequest{Regions: []*regions.Config{cfg}}); err == nil {
		t.Fatal("erase without a predicate accepted")
	}
	if got, _ := erasetest.Stored(t, regional); got != victims {
		t.Fatalf("%d matching rows stored before the erasure, want %d", got, victims)
	}

	// A query host has cached every file of every table (as `loglake
	// query` does for remote tables).
	cacheDir := t.TempDir()
	cache, err := query.NewCache(cacheDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cached := 0
	for _, s := range []string{"regional", "central", "regional-dr", "central-dr", "central-dr2"} {
		b := open(s)
		_, snap := tabletest.Latest(t, b)
		for _, f := range snap.Files() {
			key, err := table.FileKey(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			p, _, err := cache.Fetch(ctx, b, key, f.Size)
			if err != nil {
				t.Fatal(err)
			}
			cache.Unpin(p)
			cached++
		}
	}
	cacheB, err := storage.Open(ctx, "file://"+filepath.ToSlash(cacheDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := erasetest.Stored(t, cacheB); n == 0 {
		t.Fatalf("the cache (%d files) holds no org-7 row before the erasure", cached)
	}

	req := &regions.EraseRequest{Where: erasetest.Where, CacheDir: cacheDir, Regions: []*regions.Config{cfg}, Replicas: replicas,
		Wait: 100 * time.Millisecond, Poll: 10 * time.Millisecond, Retain: new(time.Duration), Force: true}
	rep, err := regions.Erase(ctx, req)
	if !errors.Is(err, regions.ErrEgressBehind) || len(rep.Tables) != 1 || rep.Tables[0].Delete.NumDeletedRows != int64(victims) {
		t.Fatalf("erase with egress behind: %v; %+v", err, rep)
	}
	// Egress forwards what it had not (from the commit before the
	// DELETE): org-7 rows reach central after the regional erasure.
	sum, err := eg.RunOnce(ctx)
	if err != nil || sum.SkippedCommits != 1 || sum.Rows == 0 {
		t.Fatalf("egress after the regional DELETE: %+v %v", sum, err)
	}
	req.Wait = time.Minute
	rep, err = regions.Erase(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{}
	for _, e := range rep.Tables {
		roles = append(roles, e.Role)
		if e.Remaining == nil || *e.Remaining != 0 || e.Vacuum == nil || e.Vacuum.KeptForConsumers != 0 {
			t.Fatalf("%s: %+v", e.URL, e)
		}
	}
	if strings.Join(roles, ",") != "regional,central,replica,replica,replica" {
		t.Fatalf("order %v", roles)
	}
	if c := rep.Tables[1]; c.Delete.NumDeletedRows == 0 || c.Where != "("+erasetest.Where+") AND region IN ('r1')" {
		t.Fatalf("central: %+v", c)
	}
	// Replicas replay the DELETE: they copy only the new files still live
	// at their source (the DELETE's rewrites and egress's later commits),
	// never a file holding erased rows.
	for i, e := range rep.Tables[2:] {
		src := open([]string{"regional", "central", "central-dr"}[i])
		if want := erasetest.LiveAddedBytes(t, src, e.Clone.PreviousSourceVersion); e.Clone.CommitsWritten == 0 || e.Clone.Metrics.CopiedFilesSize != want {
			t.Fatalf("replica %s: copied %d bytes, want %d: %+v", e.URL, e.Clone.Metrics.CopiedFilesSize, want, e.Clone)
		}
	}
	for _, s := range []string{"regional", "central", "regional-dr", "central-dr", "central-dr2"} {
		if got, sample := erasetest.Stored(t, open(s)); got != 0 {
			t.Fatalf("%s: %d erased rows still stored, e.g. %s", s, got, sample)
		}
	}
	if n, sample := erasetest.Stored(t, cacheB); n != 0 {
		t.Fatalf("query cache: %d erased rows still cached, e.g. %s", n, sample)
	}
	// Other rows are all there: approved non-victims in central.
	_, snap := tabletest.Latest(t, central)
	if got, ok := snap.NumRecords(); !ok || got != int64(erasetest.ApprovedKept(0, 120)) {
		t.Fatalf("central holds %d rows, want %d", got, erasetest.ApprovedKept(0, 120))
	}
}
