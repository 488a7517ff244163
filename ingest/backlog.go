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
// index the way a starting Ingester does, and lists at most maxList landing
// objects (<= 0: no limit); past that it returns ErrBacklogTooLarge, since a
// partial count would understate the backlog. It writes nothing.
func Pending(ctx context.Context, landing, tbl storage.Bucket, snap *table.Snapshot, opts *Options, maxList int) (Backlog, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Backlog{}, err
	}
	mt, err := newMatcher(o.Include, o.Exclude)
	if err != nil {
		return Backlog{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var bl Backlog
	bl.Batch, _ = snap.AppVersion(AppID(o.Stream))
	idx := newIndex()
	now := o.Now()
	if err := idx.load(ctx, tbl, o.Stream, bl.Batch, now); err != nil {
		return Backlog{}, err
	}
	idx.expire(o.cutoff(now))
	it := landing.List(ctx, "", "")
	for n := 1; ; n++ {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return bl, nil
		}
		if err != nil {
			return Backlog{}, fmt.Errorf("ingest: listing %s: %w", landing.URL(), err)
		}
		if maxList > 0 && n > maxList {
			return Backlog{}, fmt.Errorf("%w: more than %d objects under %s", ErrBacklogTooLarge, maxList, landing.URL())
		}
		if !mt.match(obj.Key) {
			continue
		}
		f := fileFromObject(obj)
		ref, ok := idx.get(obj.Key)
		if ok && (o.OnChange == ChangeIgnore || !ref.changed(f)) || !ok && idx.expired(f) {
			continue
		}
		bl.Files++
		bl.Bytes += f.Size
		if bl.Oldest.IsZero() || f.ModTime.Before(bl.Oldest) {
			bl.Oldest = f.ModTime
		}
	}
}
