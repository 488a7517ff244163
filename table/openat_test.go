package table_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// TestOpenAt: time travel reads the log only up to the version asked for,
// so a damaged later commit does not block it; an empty location is no
// table, not a missing version.
func TestOpenAt(t *testing.T) {
	ctx := context.Background()
	b, err := storage.Open(ctx, "mem://openat-"+t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := table.OpenAt(ctx, b, nil, 0); !errors.Is(err, table.ErrNoTable) {
		t.Fatalf("OpenAt on an empty location: %v, want ErrNoTable", err)
	}
	tabletest.Create(t, b, nil)
	if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("garbage{\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := table.Open(ctx, b, nil); err == nil {
		t.Fatal("Open read past a damaged commit")
	}
	_, s, err := table.OpenAt(ctx, b, nil, 0)
	if err != nil || s.Version() != 0 {
		t.Fatalf("OpenAt(0) under a damaged commit 1: %v", err)
	}
	if _, _, err := table.OpenAt(ctx, b, nil, 5); err == nil {
		t.Errorf("OpenAt(5) succeeded")
	}
}
