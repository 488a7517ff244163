package table

import (
	"context"
	"errors"
	"testing"
)

// A commit past a missing one is a damaged log (ErrCorrupt), unless a
// checkpoint past the gap shows the log was contiguous when it was written:
// then log cleanup deleted what this stale snapshot would read next, and the
// rewrite re-plans (ErrConflict).
func TestCheckNoGapAfter(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket(t)
	put := func(key string) {
		if err := b.Put(ctx, key, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	put(CommitKey(3))
	put(CommitKey(7))
	if err := checkNoGapAfter(ctx, b, 3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit 7 after missing 4-6: %v, want ErrCorrupt", err)
	}
	put(CommitKey(5))
	put("_delta_log/00000000000000000005.checkpoint.parquet")
	if err := checkNoGapAfter(ctx, b, 3); !errors.Is(err, ErrConflict) {
		t.Fatalf("log cleaned up to checkpoint 5: %v, want ErrConflict", err)
	}
	put(CommitKey(4))
	if err := checkNoGapAfter(ctx, b, 3); err != nil {
		t.Fatalf("contiguous: %v", err)
	}
}
