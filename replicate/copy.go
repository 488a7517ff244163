package replicate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// copyJob is one data file to bring to the destination under the same
// relative path.
type copyJob struct {
	path string // add.path as in the log (URL-escaped)
	size int64  // add.size: what the copy must measure
}

// copyFiles brings every job's file to the destination, opts.Parallel at a
// time. A file already there with the expected size is not copied again
// (that is how a rerun resumes: a Stat per file, never a listing). Each copy
// is verified before copyFiles returns, so the commits that follow never
// reference a missing or partial file.
//
// live, if set, is the source snapshot used to judge a file the source no
// longer has: not live there means it was removed and vacuumed after the
// commit that added it, so it is skipped with a warning; live means the
// source is damaged (ErrMissingFile).
func (c *cloner) copyFiles(ctx context.Context, jobs []copyJob, live *table.Snapshot) error {
	seen := make(map[string]bool, len(jobs))
	uniq := jobs[:0:0]
	var total int64
	for _, j := range jobs {
		if seen[j.path] {
			continue
		}
		seen[j.path] = true
		uniq = append(uniq, j)
		total += j.size
	}
	if len(uniq) == 0 {
		return nil
	}
	var liveSet map[string]bool
	if live != nil {
		liveSet = make(map[string]bool, len(live.Files()))
		for _, f := range live.Files() {
			liveSet[f.Path] = true
		}
	}

	var mu sync.Mutex
	prog := Progress{TotalFiles: len(uniq), TotalBytes: total}
	done := func(j copyJob, o outcome) {
		mu.Lock()
		defer mu.Unlock()
		switch o {
		case copied:
			c.res.Metrics.NumCopiedFiles++
			c.res.Metrics.CopiedFilesSize += j.size
		case present:
			c.res.FilesPresent++
		case planned:
			c.res.Planned = append(c.res.Planned, PlannedFile{Path: j.path, Size: j.size})
		case missing:
			c.res.FilesMissing++
		}
		prog.Files++
		prog.Bytes += j.size
		if c.opts.Progress != nil {
			c.opts.Progress(prog)
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Parallel)
	for _, j := range uniq {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err // a sibling failed: start nothing new
			}
			// A started copy finishes under the caller's ctx, so that what it
			// transferred is counted; cancelled halfway, it would be left at
			// the destination unverified and counted as already present by
			// the next attempt.
			o, err := c.copyOne(ctx, j, liveSet)
			if err != nil {
				return err
			}
			done(j, o)
			return nil
		})
	}
	return g.Wait()
}

// errNeedDestinationState: a file to copy is already at the destination
// with another size, and only the destination's state tells whether its log
// references it.
var errNeedDestinationState = errors.New("replicate: destination file differs; the destination's state decides")

// setDestinationRefs records the files the destination's log references
// (live and tombstoned), which a clone never overwrites or deletes.
func (c *cloner) setDestinationRefs(snap *table.Snapshot) error {
	c.dstRefs = map[string]bool{}
	if snap == nil {
		return nil
	}
	for _, f := range snap.Files() {
		key, err := table.FileKey(f.Path)
		if err != nil {
			return err
		}
		c.dstRefs[key] = true
	}
	tombstones, err := snap.Tombstones()
	if err != nil {
		return err
	}
	for _, r := range tombstones {
		key, err := table.FileKey(r.Path)
		if err != nil {
			return err
		}
		c.dstRefs[key] = true
	}
	return nil
}

type outcome int

const (
	copied  outcome = iota // transferred and verified
	present                // already at the destination
	planned                // dry run: would be transferred
	missing                // not in the source, and not live there
)

// copyOne transfers one file unless it is already there, then verifies it.
func (c *cloner) copyOne(ctx context.Context, j copyJob, live map[string]bool) (outcome, error) {
	key, err := table.FileKey(j.path)
	if err != nil {
		return 0, fmt.Errorf("replicate: %w", err)
	}
	switch o, err := c.dst.Stat(ctx, key); {
	case err == nil && o.Size == j.size:
		return present, nil
	case err == nil && c.dstRefs == nil:
		// Without the destination's state the file cannot be told apart
		// from one its log references: the caller loads it and retries.
		return 0, fmt.Errorf("%w: %s", errNeedDestinationState, key)
	case err == nil && c.dstRefs[key]:
		// Never overwrite what the destination's log references (nor,
		// after a failed verification, delete it).
		return 0, fmt.Errorf("%w: %s in %s has %d bytes, the source's log says %d", ErrDestinationFile, key, c.dst.URL(), o.Size, j.size)
	case err == nil:
		c.log.Warn("clone: replacing an unreferenced leftover of an interrupted run", "path", key, "size", o.Size, "want", j.size)
	case !errors.Is(err, storage.ErrNotFound):
		return 0, fmt.Errorf("replicate: stat %s in %s: %w", key, c.dst.URL(), err)
	}
	if c.opts.DryRun {
		return planned, nil
	}
	if err := c.dst.Copy(ctx, key, c.src, key); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			if live != nil && !live[j.path] {
				c.log.Warn("clone: file of a replayed commit is gone from the source and no longer live; skipped",
					"path", key, "source", c.src.URL())
				return missing, nil
			}
			return 0, fmt.Errorf("%w: %s in %s: %v", ErrMissingFile, key, c.src.URL(), err)
		}
		return 0, fmt.Errorf("replicate: copy %s from %s to %s: %w", key, c.src.URL(), c.dst.URL(), err)
	}
	if err := c.verify(ctx, key, j.size); err != nil {
		// Leave no unverified file behind: a rerun copies it again.
		if derr := c.dst.Delete(ctx, key); derr != nil {
			c.log.Warn("clone: cannot delete a copy that failed verification", "path", key, "err", derr)
		}
		return 0, err
	}
	return copied, nil
}

// verify checks the copy's size against the log's, and its MD5 against the
// source's when both backends expose one.
func (c *cloner) verify(ctx context.Context, key string, size int64) error {
	d, err := c.dst.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("replicate: verify %s in %s: %w", key, c.dst.URL(), err)
	}
	if d.Size != size {
		return fmt.Errorf("%w: %s has %d bytes in %s, the log says %d", ErrVerify, key, d.Size, c.dst.URL(), size)
	}
	if len(d.MD5) == 0 {
		return nil
	}
	s, err := c.src.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("replicate: verify %s in %s: %w", key, c.src.URL(), err)
	}
	if len(s.MD5) > 0 && !bytes.Equal(s.MD5, d.MD5) {
		return fmt.Errorf("%w: %s: MD5 %x in %s, %x in %s", ErrVerify, key, s.MD5, c.src.URL(), d.MD5, c.dst.URL())
	}
	return nil
}
