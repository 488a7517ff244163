package replicate_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/replicate"
	"github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// The disaster-recovery runbook: after the source's writers stop, ingest
// takes over on the replica where the source's left off. The replica
// carries the stream's state (which landing files are in the table), so
// files ingested into the source are not ingested again and new ones are
// ingested once. Without it, ingest refused the replica as corrupt state.
func TestCloneCarriesIngestState(t *testing.T) {
	ctx := context.Background()
	landing, srcB, dstB := location(t, "mem"), location(t, "mem"), location(t, "file")
	put := func(name string, n int) {
		var data []byte
		for i := range n {
			data = fmt.Appendf(data, `{"message":"%s-%d"}`+"\n", name, i)
		}
		if err := landing.Put(ctx, name, data); err != nil {
			t.Fatal(err)
		}
	}
	run := func(tbl storage.Bucket) ingest.Summary {
		t.Helper()
		in, err := ingest.New(landing, tbl, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := in.RunOnce(ctx)
		if err != nil {
			t.Fatalf("ingest into %s: %v", tbl.URL(), err)
		}
		return sum
	}
	put("a.json", 10)
	run(srcB)
	if res := clone(t, srcB, dstB, nil); res.StateFilesCopied == 0 {
		t.Fatalf("initial clone copied no pipeline state: %+v", res)
	}
	put("b.json", 5)
	run(srcB)
	if res := clone(t, srcB, dstB, nil); res.Mode != replicate.ModeReplica || res.StateFilesCopied == 0 {
		t.Fatalf("incremental clone: %+v, want a replica with the new batch's state", res)
	}
	// Failover: the source's writers stop, ingest runs on the replica.
	put("c.json", 3)
	if sum := run(dstB); sum.Rows != 3 || sum.Files != 1 {
		t.Fatalf("ingest on the replica after failover: %+v, want c.json's 3 rows only", sum)
	}
	dst, err := table.Open(ctx, dstB, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(replicatetest.Rows(t, replicatetest.Latest(t, dst))); n != 18 {
		t.Fatalf("replica holds %d rows after failover, want 18", n)
	}
}
