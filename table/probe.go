package table

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/loglake/loglake/storage"
)

// Cheap looks at the log for callers that must not pay for a snapshot (the
// clone's replica fast path): each costs a few requests whatever the
// table's size or history, and lists nothing.

// LastCheckpointVersion is the version the _last_checkpoint hint names;
// ok is false when there is no usable hint.
func (t *Table) LastCheckpointVersion(ctx context.Context) (int64, bool) {
	lc, ok, err := readLastCheckpoint(ctx, t.bucket)
	if err != nil || !ok {
		return 0, false
	}
	return lc.Version, true
}

// HasCommit reports whether commit v is in the log.
func (t *Table) HasCommit(ctx context.Context, v int64) (bool, error) {
	if v < 0 {
		return false, nil
	}
	_, err := t.bucket.Stat(ctx, CommitKey(v))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, err
}

// ProbeLatest finds the newest commit without listing the log (on some
// backends a listing costs the number of objects beside the log): from the
// _last_checkpoint hint (or version 0) it Stats commit files, galloping
// forward then bisecting, probeWindow at a time: a few round trips for the
// commits since the last checkpoint. It relies on the log being contiguous
// after a commit that exists (log cleanup deletes a prefix), so it returns
// ok=false when the commit it starts from is missing; LatestVersion lists.
func (t *Table) ProbeLatest(ctx context.Context) (int64, bool, error) {
	lo, ok := t.LastCheckpointVersion(ctx)
	if !ok {
		lo = 0
	}
	probe := func(vs []int64) ([]bool, error) {
		found := make([]bool, len(vs))
		g, gctx := errgroup.WithContext(ctx)
		for i, v := range vs {
			g.Go(func() error {
				var err error
				found[i], err = t.HasCommit(gctx, v)
				return err
			})
		}
		return found, g.Wait()
	}
	// Gallop: lo, lo+1, lo+2, lo+4, ... until one is missing.
	hi := int64(-1)
	for first, step := true, int64(1); hi < 0; first = false {
		vs := make([]int64, 0, probeWindow)
		if first {
			vs = append(vs, lo)
		}
		for len(vs) < probeWindow {
			vs = append(vs, lo+step)
			step *= 2
		}
		found, err := probe(vs)
		if err != nil {
			return 0, false, err
		}
		if first && !found[0] {
			return 0, false, nil
		}
		for i, v := range vs {
			if !found[i] {
				hi = v
				break
			}
			lo = v
		}
	}
	// Bisect (lo exists, hi does not), probeWindow points at a time.
	for hi-lo > 1 {
		n := min(int64(probeWindow), hi-lo-1)
		vs := make([]int64, n)
		for i := range vs {
			vs[i] = lo + (hi-lo)*int64(i+1)/(n+1)
		}
		found, err := probe(vs)
		if err != nil {
			return 0, false, err
		}
		for i, v := range vs {
			if !found[i] {
				hi = v
				break
			}
			lo = v
		}
	}
	return lo, true, nil
}

// CommitHead reads commit v up to its first file action (add, remove, cdc):
// its commitInfo, protocol, metaData and txns, which come first in the
// commits loglake writes (and in those of most writers); the rest of a
// large commit (a CLONE commit lists every file) is not fetched. The
// timestamp is the commit's as Changes gives it: when the commitInfo comes
// after the files (Spark's order), the rest of the commit is read for it.
// The actions are decoded and validated like any commit's; nothing is
// gated (see Feed).
func (t *Table) CommitHead(ctx context.Context, v int64) (Change, error) {
	ch := Change{Version: v}
	r, err := t.bucket.NewReader(ctx, CommitKey(v), 0, -1)
	if errors.Is(err, storage.ErrNotFound) {
		return ch, fmt.Errorf("%w: commit %d", ErrVersionNotFound, v)
	}
	if err != nil {
		return ch, err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		raw, rerr := br.ReadBytes('\n')
		if raw = bytes.TrimSpace(raw); len(raw) > 0 {
			a, err := decodeAction(raw)
			if err != nil {
				return ch, fmt.Errorf("%w: commit %d line %d: %v", ErrCorrupt, v, line, err)
			}
			if a.Add != nil || a.Remove != nil || a.CDC != nil {
				break
			}
			if err := a.validate(); err != nil {
				return ch, fmt.Errorf("%w: commit %d line %d: %v", ErrCorrupt, v, line, err)
			}
			ch.Actions = append(ch.Actions, a)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ch, rerr
		}
	}
	ts := commitTimestamp(ch.Actions, time.Time{})
	if ts <= 0 {
		// Spark writes commitInfo after the files: read it there.
		if ts, err = readCommitTime(ctx, t.bucket, v); err != nil {
			return ch, err
		}
	}
	ch.Timestamp = time.UnixMilli(ts).UTC()
	return ch, nil
}

// WriteCheckpoint writes a checkpoint of s (and the _last_checkpoint hint)
// into its table: for writers that commit at exact versions and so do not
// get Commit's checkpoints (a replica mirrors its source's).
func (s *Snapshot) WriteCheckpoint(ctx context.Context) error {
	actions, err := s.actions()
	if err != nil {
		return err
	}
	return WriteCheckpoint(ctx, s.bucket, s.version, actions)
}

// CheckWrite returns a *FeatureError naming what loglake cannot honour
// when writing a table with protocol p and metadata m (nil: unknown). A
// writer that copies a table (clone) calls it before writing anything.
func CheckWrite(p *Protocol, m *Metadata) error {
	if p == nil {
		p = &Protocol{MinReaderVersion: 1, MinWriterVersion: 1}
	}
	return checkWrite(p, m)
}
