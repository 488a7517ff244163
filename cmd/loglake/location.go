package main

import (
	"context"

	"github.com/loglake/loglake/storage"
)

// location checks a location given on the command line: a URL or a plain
// (also relative) local path, without credentials (see
// storage.ParseLocation). A bad location is a usage error.
func location(raw string) (string, error) {
	u, err := storage.ParseLocation(raw, "")
	if err != nil {
		return "", usageError{err}
	}
	return u, nil
}

// openLocation checks raw and opens it. Opening never creates anything.
func openLocation(ctx context.Context, raw string) (storage.Bucket, error) {
	u, err := location(raw)
	if err != nil {
		return nil, err
	}
	return storage.Open(ctx, u, nil)
}

// overlaps reports whether two checked locations share keys.
func overlaps(a, b string) bool { return storage.Overlap(a, b) }
