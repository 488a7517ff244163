package storage_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/storage/storagetest"
)

// Emulator (or real cloud) locations, set by `eval "$(scripts/emulators.sh env)"`.
var cloudEnv = []struct{ name, env string }{
	{"S3", "LOGLAKE_TEST_S3_URL"},
	{"GCS", "LOGLAKE_TEST_GCS_URL"},
	{"Azure", "LOGLAKE_TEST_AZURE_URL"},
}

var runID = fmt.Sprintf("storagetest-%d-%d", time.Now().Unix(), os.Getpid())

// withPath returns base with p appended to its path, keeping the query.
func withPath(t *testing.T, base, p string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("bad URL %q: %v", base, err)
	}
	u.Path = "/" + path.Join(u.Path, p)
	return u.String()
}

// withBucket returns base with its bucket (host) replaced.
func withBucket(t *testing.T, base, bucket string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("bad URL %q: %v", base, err)
	}
	u.Host = bucket
	return u.String()
}

// cleanup deletes everything under b, best effort.
func cleanup(t *testing.T, b storage.Bucket) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	it := b.List(ctx, "", "")
	keys := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range keys {
				if err := b.Delete(ctx, k); err != nil {
					t.Logf("cleanup: %v", err)
				}
			}
		})
	}
	for {
		o, err := it.Next(ctx)
		if err != nil {
			if err != io.EOF {
				t.Logf("cleanup list: %v", err)
			}
			break
		}
		keys <- o.Key
	}
	close(keys)
	wg.Wait()
}

func TestConformanceCloud(t *testing.T) {
	for _, c := range cloudEnv {
		t.Run(c.name, func(t *testing.T) {
			base := os.Getenv(c.env)
			if base == "" {
				t.Skipf("%s not set (eval \"$(scripts/emulators.sh env)\")", c.env)
			}
			ctx := context.Background()
			if err := storage.EnsureBucket(ctx, base); err != nil {
				t.Fatalf("EnsureBucket(%s): %v", storage.RedactURL(base), err)
			}
			var n atomic.Int64
			storagetest.Run(t, func(t *testing.T) storage.Bucket {
				b := openT(t, withPath(t, base, fmt.Sprintf("%s/%d", runID, n.Add(1))), nil)
				t.Cleanup(func() { cleanup(t, b) })
				return b
			})
		})
	}
}

// TestCloudCrossBucketCopy copies between two buckets of one backend, which
// cannot be done server-side through one handle and so streams.
func TestCloudCrossBucketCopy(t *testing.T) {
	for _, c := range cloudEnv {
		t.Run(c.name, func(t *testing.T) {
			base := os.Getenv(c.env)
			if base == "" {
				t.Skipf("%s not set", c.env)
			}
			ctx := context.Background()
			u, _ := url.Parse(base)
			other := withBucket(t, base, u.Host+"-other")
			for _, raw := range []string{base, other} {
				if err := storage.EnsureBucket(ctx, raw); err != nil {
					t.Fatalf("EnsureBucket: %v", err)
				}
			}
			b1 := openT(t, withPath(t, base, runID+"/x1"), nil)
			b2 := openT(t, withPath(t, other, runID+"/x2"), nil)
			t.Cleanup(func() { cleanup(t, b1); cleanup(t, b2) })
			if err := b1.Put(ctx, "k", []byte("cross")); err != nil {
				t.Fatal(err)
			}
			if err := b2.Copy(ctx, "copied/k", b1, "k"); err != nil {
				t.Fatalf("Copy: %v", err)
			}
			got, err := b2.Get(ctx, "copied/k")
			if err != nil || string(got) != "cross" {
				t.Fatalf("Get copy = %q, %v", got, err)
			}
			// EnsureBucket is idempotent.
			if err := storage.EnsureBucket(ctx, other); err != nil {
				t.Fatalf("second EnsureBucket: %v", err)
			}
		})
	}
}
