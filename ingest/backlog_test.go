package ingest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/table"
)

// TestPending counts the files a stream has not ingested: everything
// before the first batch, nothing after it, the new files of a later
// wave (not the excluded one), and refuses to guess past the list limit.
func TestPending(t *testing.T) {
	ctx := context.Background()
	landing, tbl := memBucket(t, "landing"), memBucket(t, "table")
	generate(t, landing, loggen.Options{Seed: 1, Files: 3, FileBytes: 4000, Prefix: "a/"})
	opts := &ingest.Options{Exclude: []string{"skip/**"}}
	pending := func(maxList int) (ingest.Backlog, error) {
		t.Helper()
		h := table.Handle(tbl, nil)
		s, err := h.Snapshot(ctx)
		if errors.Is(err, table.ErrNoTable) {
			t.Fatal("no table yet")
		}
		if err != nil {
			t.Fatal(err)
		}
		return ingest.Pending(ctx, landing, tbl, s, opts, maxList)
	}

	in, err := ingest.New(landing, tbl, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if bl, err := pending(0); err != nil || bl.Files != 0 || bl.Batch != 1 || !bl.Oldest.IsZero() {
		t.Fatalf("after ingesting everything: %+v, %v", bl, err)
	}

	generate(t, landing, loggen.Options{Seed: 2, Files: 2, FileBytes: 4000, Prefix: "b/"})
	generate(t, landing, loggen.Options{Seed: 3, Files: 1, FileBytes: 4000, Prefix: "skip/"})
	bl, err := pending(0)
	if err != nil || bl.Files != 2 || bl.Bytes < 2*4000 || bl.Oldest.IsZero() || bl.Batch != 1 {
		t.Fatalf("two new files (one excluded): %+v, %v", bl, err)
	}
	if _, err := pending(5); !errors.Is(err, ingest.ErrBacklogTooLarge) {
		t.Fatalf("6 objects with a limit of 5: %v, want ErrBacklogTooLarge", err)
	}
	if bl, err := pending(6); err != nil || bl.Files != 2 {
		t.Fatalf("6 objects with a limit of 6: %+v, %v", bl, err)
	}
}
