package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/benbjohnson/immutable"
)

// LogCleanupOptions configure CleanupLog. The zero value is the default.
type LogCleanupOptions struct {
	// Retain is how long commits stay readable; nil: the table's
	// delta.logRetentionDuration (default 30 days).
	Retain *time.Duration
	// KeepFrom, when > 0, protects every version at or after it (and the
	// checkpoint needed to read it) whatever the retention: the region
	// daemon passes the oldest version an egress route or clone still has
	// to read.
	KeepFrom int64
	// Now is the clock commit timestamps are compared with (default
	// the table's, Options.Now).
	Now func() time.Time
	// DryRun counts without deleting.
	DryRun bool
}

// LogCleanupResult reports what CleanupLog deleted.
type LogCleanupResult struct {
	// OldestVersion is the oldest version still readable afterwards (-1:
	// nothing was cleaned).
	OldestVersion      int64 `json:"oldest_version"`
	CommitsDeleted     int   `json:"num_deleted_commits"`
	CheckpointsDeleted int   `json:"num_deleted_checkpoints"`
}

// CleanupLog deletes commits and checkpoints that no version inside the log
// retention window needs, as Delta's expired-log cleanup. The version that
// was current at now − retention stays readable, and so does every later
// one: cleanup keeps the newest complete checkpoint at or before that
// version and every commit from it on, and deletes only what is older. The
// log stays one contiguous run of commits after a checkpoint. Time travel
// to a cleaned version then fails with ErrVersionNotFound.
//
// It runs after each checkpoint (see committed) unless Options.NoLogCleanup
// is set. A table that sets delta.enableExpiredLogCleanup=false (any case,
// as Delta reads it) keeps its whole log: CleanupLog then deletes nothing,
// whoever calls it.
func (t *Table) CleanupLog(ctx context.Context, opts *LogCleanupOptions) (*LogCleanupResult, error) {
	if err := t.writable("clean the log"); err != nil {
		return nil, err
	}
	o := LogCleanupOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = t.now
	}
	res := &LogCleanupResult{OldestVersion: -1}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// Deleting log files is a write: a writer feature loglake does not
	// honour (checkpointProtection restricts exactly this) is refused by
	// name, as VACUUM and OPTIMIZE refuse it.
	if err := checkWrite(snap.protocol, snap.metadata); err != nil {
		return nil, err
	}
	if propIs(snap.metadata, "delta.enableExpiredLogCleanup", "false") {
		return res, nil
	}
	retain, err := snap.LogRetention()
	if err != nil {
		return nil, err
	}
	if o.Retain != nil {
		retain = *o.Retain
	}
	keep, files, err := t.expiredLog(ctx, o.Now().Add(-retain), checkpointInterval(snap.metadata))
	if errors.Is(err, ErrVersionNotFound) {
		return res, nil // every commit is inside the window
	}
	if err != nil {
		return nil, err
	}
	if o.KeepFrom > 0 && o.KeepFrom < keep {
		keep = o.KeepFrom
		files = slices.DeleteFunc(files, func(f logFile) bool { return f.version > keep })
	}
	seg, err := buildSegment(files, keep)
	if errors.Is(err, ErrVersionNotFound) && len(files) > 0 && files[0].version > 0 {
		// Another cleanup, with a later clock, is deleting oldest first
		// past keep right now: what this one would delete is already gone.
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("table: log cleanup: version %d: %w", keep, err)
	}
	if len(seg.checkpoint) == 0 {
		return res, nil // no checkpoint to start from: nothing may go
	}
	cp := seg.checkpoint[0].version
	// Oldest first, so a crash midway leaves a contiguous log.
	for _, f := range files {
		if f.version >= cp {
			break
		}
		if !o.DryRun {
			if err := t.bucket.Delete(ctx, f.key); err != nil {
				return nil, fmt.Errorf("table: log cleanup: %w", err)
			}
		}
		if f.isCheckpoint() {
			res.CheckpointsDeleted++
		} else {
			res.CommitsDeleted++
		}
	}
	if res.CommitsDeleted+res.CheckpointsDeleted > 0 {
		res.OldestVersion = cp
	}
	return res, nil
}

// expiredLog returns keep, the newest version committed at or before cutoff
// (ErrVersionNotFound: none is), and the log files up to it, oldest first.
// Commit timestamps grow with the version and a cleanup after each
// checkpoint leaves only the commits since the last one or two checkpoints
// expired, so it lists the oldest few intervals' worth of the log (the
// listing stops there) and binary-searches their commits: a cleanup then
// costs a short listing and a few reads, not a listing of the whole window
// (43,200 commits at one a minute; BenchmarkLogGrowth). When the boundary
// lies past that prefix (cleanup was off, or KeepFrom held it back), it
// lists the whole log and searches it as VersionAsOf does.
func (t *Table) expiredLog(ctx context.Context, cutoff time.Time, interval int64) (int64, []logFile, error) {
	walk := int(max(64, 3*interval))
	target := cutoff.UnixMilli()
	it := t.bucket.List(ctx, logDir, "")
	var files, commits []logFile
	complete := false
	for len(commits) < walk {
		o, err := it.Next(ctx)
		if err == io.EOF {
			complete = true
			break
		}
		if err != nil {
			return 0, nil, err
		}
		f, ok := parseLogKey(o)
		if !ok {
			continue
		}
		files = append(files, f)
		if !f.isCheckpoint() {
			commits = append(commits, f)
		}
	}
	if !complete && len(commits) > 0 {
		ct, err := t.commitTime(ctx, commits[len(commits)-1])
		if err != nil {
			return 0, nil, err
		}
		if ct <= target { // the boundary lies past the prefix
			keep, _, err := t.versionAtOrBefore(ctx, cutoff)
			if err != nil {
				return 0, nil, err
			}
			files, err = listLog(ctx, t.bucket, 0, keep)
			return keep, files, err
		}
	}
	i, _, err := t.searchCommitTime(ctx, commits, target)
	if err != nil {
		return 0, nil, err
	}
	if i == 0 {
		return 0, nil, fmt.Errorf("%w: no version at or before %s", ErrVersionNotFound, cutoff.UTC().Format(time.RFC3339))
	}
	keep := commits[i-1].version
	return keep, slices.DeleteFunc(files, func(f logFile) bool { return f.version > keep }), nil
}

// checkpointActions are the snapshot's actions for a checkpoint written at
// now: tombstones older than delta.deletedFileRetentionDuration are dropped
// (VACUUM may already have deleted their files, and keeping them forever
// makes checkpoints grow with history). A table whose retention property
// does not parse keeps every tombstone.
func (s *Snapshot) checkpointActions(now time.Time) ([]Action, error) {
	all, err := s.actions()
	if err != nil {
		return nil, err
	}
	expired, ok := s.tombstoneExpiry(now)
	if !ok {
		return all, nil
	}
	out := all[:0]
	for _, a := range all {
		if a.Remove != nil && expired(a.Remove) {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

// tombstoneExpiry reports which tombstones are older than
// delta.deletedFileRetentionDuration at now; ok is false when the property
// does not parse (then every tombstone is kept).
func (s *Snapshot) tombstoneExpiry(now time.Time) (expired func(*Remove) bool, ok bool) {
	retain, err := s.DeletedFileRetention()
	if err != nil {
		return nil, false
	}
	cutoff := now.Add(-retain).UnixMilli()
	return func(r *Remove) bool { return r.DeletionTimestamp != nil && *r.DeletionTimestamp < cutoff }, true
}

// expireTombstones drops from an unshared snapshot the tombstones a
// checkpoint written at now would drop. A writer's handle derives each
// snapshot from the previous one (afterCommit) and never reloads a
// checkpoint: without this its tombstones, its memory and the cost of every
// commit (which clones them) grow with the whole history, while a fresh
// reader's stay within the retention.
func (s *Snapshot) expireTombstones(now time.Time) {
	retain, err := s.DeletedFileRetention()
	if err != nil {
		return
	}
	cutoff := now.Add(-retain).UnixMilli()
	if s.tombstoneFloor != 0 && cutoff <= s.tombstoneFloor {
		return // none is old enough: no scan, so a commit does not cost every tombstone twice
	}
	s.seal()
	floor := int64(math.MaxInt64)
	var expired []string
	for it := s.tombstones.Iterator(); !it.Done(); {
		p, r, _ := it.Next()
		switch {
		case r.DeletionTimestamp == nil:
		case *r.DeletionTimestamp < cutoff:
			expired = append(expired, p)
		default:
			floor = min(floor, *r.DeletionTimestamp)
		}
	}
	s.tombstoneFloor = floor
	if 4*len(expired) < s.tombstones.Len() {
		for _, p := range expired {
			s.tombstones = s.tombstones.Delete(p)
		}
		return
	}
	// Most tombstones go (an OPTIMIZE's thousands expire together):
	// building the rest anew is cheaper than a copied path per delete.
	b := immutable.NewSortedMapBuilder[string, *Remove](pathOrder{})
	for it := s.tombstones.Iterator(); !it.Done(); {
		p, r, _ := it.Next()
		if r.DeletionTimestamp == nil || *r.DeletionTimestamp >= cutoff {
			b.Set(p, r)
		}
	}
	s.tombstones = b.Map()
}
