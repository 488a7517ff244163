package integration

import (
	"context"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/tabletest"
)

// TestTableConformance runs the table conformance suite — including 16
// writers x 25 concurrent appends to one table, every row present once — on
// every backend, the S3, GCS and Azure emulators among them.
func TestTableConformance(t *testing.T) {
	for _, be := range Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			tabletest.Run(t, func(t *testing.T) storage.Bucket {
				ctx := context.Background()
				u := UniqueURL(t, be.BaseURL)
				if err := storage.EnsureBucket(ctx, u); err != nil {
					t.Fatalf("ensure bucket: %v", err)
				}
				b, err := storage.Open(ctx, u, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}, nil)
		})
	}
}
