package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// ErrBacklogTooLarge: the landing location holds more objects than the
// caller allowed Pending to list, so the backlog is not known.
var ErrBacklogTooLarge = errors.New("ingest: landing listing exceeds the limit")

// Backlog is what a stream has not ingested yet, as of one snapshot of its
// table and one listing of its landing location.
type Backlog struct {
	// Batch is the stream's last committed batch (0: none yet).
	Batch int64
	// Files and Bytes count the landing files that match the stream's
	// include/exclude globs and are not in any committed batch (with
	// OnChange=reingest, also those that changed since they were ingested).
	Files int
	Bytes int64
	// Oldest is the arrival time (ModTime) of the oldest such file; zero
	// when there is none.
	Oldest time.Time
}

// Pending lists landing and counts the files the stream opts names has not
// ingested as of snap (a snapshot of its table, tbl). It reads the stream's
// index the way a starting Ingester does, keeping only the listed keys, and
// lists at most maxList landing objects (<= 0: no limit); past that it
// returns ErrBacklogTooLarge, since a partial count would understate the
// backlog. It writes nothing.
func Pending(ctx context.Context, landing, tbl storage.Bucket, snap *table.Snapshot, opts *Options, maxList int) (Backlog, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Backlog{}, err
	}
	batch, _ := snap.AppVersion(AppID(o.Stream))
	bl, _, err := pending(ctx, landing, tbl, batch, &o, maxList)
	return bl, err
}

// pending is Pending as of the stream's batch, also returning the index it
// loaded (for tests).
func pending(ctx context.Context, landing, tbl storage.Bucket, batch int64, o *Options, maxList int) (Backlog, *index, error) {
	mt, err := newMatcher(o.Include, o.Exclude)
	if err != nil {
		return Backlog{}, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	// The listing comes first: one past maxList ends here, before the
	// index is read, and the index then keeps only the listed keys. At
	// 10 M ingested keys, materializing the whole index took ≈15 CPU-s a
	// call.
	var listed []ManifestFile
	only := map[keyHash]bool{}
	it := landing.List(ctx, "", "")
	for n := 1; ; n++ {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return Backlog{}, nil, fmt.Errorf("ingest: listing %s: %w", landing.URL(), err)
		}
		if maxList > 0 && n > maxList {
			return Backlog{}, nil, fmt.Errorf("%w: more than %d objects under %s", ErrBacklogTooLarge, maxList, landing.URL())
		}
		if mt.match(obj.Key) {
			f := fileFromObject(obj)
			listed = append(listed, f)
			only[hashKey(f.Key)] = true
		}
	}
	bl := Backlog{Batch: batch}
	idx := newIndex()
	idx.only = only
	if len(listed) == 0 {
		return bl, idx, nil // nothing landed: nothing to look up
	}
	now := o.Now()
	if err := idx.load(ctx, tbl, o.Stream, batch, now); err != nil {
		return Backlog{}, nil, err
	}
	idx.expire(o.cutoff(now))
	for _, f := range listed {
		ref, ok := idx.get(f.Key)
		if ok && (o.OnChange == ChangeIgnore || !ref.changed(f)) || !ok && idx.expired(f) {
			continue
		}
		bl.Files++
		bl.Bytes += f.Size
		if bl.Oldest.IsZero() || f.ModTime.Before(bl.Oldest) {
			bl.Oldest = f.ModTime
		}
	}
	return bl, idx, nil
}
