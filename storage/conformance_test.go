package storage_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/storage/storagetest"
)

var memSeq atomic.Int64

// uniqueMem returns a mem:// URL no other test uses.
func uniqueMem(t *testing.T) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("mem://%s-%d", name, memSeq.Add(1))
}

func openT(t *testing.T, rawURL string, opts *storage.Options) storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), rawURL, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformanceMem(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return openT(t, uniqueMem(t), nil) })
}

func TestConformanceMemPrefixed(t *testing.T) {
	// Several locations under one in-memory bucket: prefixes must isolate them.
	name := uniqueMem(t)
	var n atomic.Int64
	storagetest.Run(t, func(t *testing.T) storage.Bucket {
		return openT(t, fmt.Sprintf("%s/tables/t%d", name, n.Add(1)), nil)
	})
}

func TestConformanceFile(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket {
		return openT(t, "file://"+filepath.ToSlash(t.TempDir()), nil)
	})
}

// TestConformanceFaulty runs the suite over a bucket that fails 5% of all
// calls (and reads) before performing them: the retry layer must hide
// every one of them.
func TestConformanceFaulty(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var seed atomic.Int64
	var injected atomic.Int64
	storagetest.Run(t, func(t *testing.T) storage.Bucket {
		raw, err := storage.Open(context.Background(), uniqueMem(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		f := storage.NewFaulty(raw, storage.Faults{Rate: 0.05, Seed: seed.Add(1)})
		b := storage.WithRetry(f, &storage.Options{Retry: storage.RetryPolicy{
			MaxAttempts: 20, InitialInterval: 100 * time.Microsecond, MaxInterval: time.Millisecond,
		}})
		t.Cleanup(func() {
			b.Close()
			for _, op := range []string{storage.OpGet, storage.OpPut, storage.OpPutIfAbsent, storage.OpRead, storage.OpList, storage.OpNewReader} {
				injected.Add(int64(f.Injected(op)))
			}
		})
		return b
	})
	if injected.Load() < 100 {
		t.Errorf("only %d faults were injected; the test did not exercise retries", injected.Load())
	}
}
