package replicate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/loglake/loglake/table"
)

// Replay: each new source commit becomes one destination commit, at the
// same version in an exact replica, at the next version in a fork.

// replay copies and commits the source commits after `recorded` up to the
// target, a batch at a time: the batch's files are copied in parallel, then
// its commits are written one by one, in order.
func (c *cloner) replay(ctx context.Context, dstT *table.Table, recorded int64) error {
	// The feed gates every replayed commit's protocol and metaData; it
	// starts from the latest snapshot Open checked, not from the one at
	// `recorded`, whose load would cost as much as the whole replay.
	feed, err := c.srcT.Feed(ctx, recorded, &table.FeedOptions{Start: c.srcLatest})
	if err != nil {
		return fmt.Errorf("replicate: source %s: %w", c.src.URL(), err)
	}
	after := recorded
	var proto *table.Protocol // the last protocol a replayed commit set
	for after < c.target {
		changes, err := feed.Next(ctx, c.target, replayBatch)
		if errors.Is(err, table.ErrVersionNotFound) && after == recorded {
			c.log.Warn("clone: source log no longer holds the commits after the recorded version; comparing live files",
				"recorded", recorded, "source", c.src.URL())
			return c.sync(ctx, dstT)
		}
		if err != nil {
			return fmt.Errorf("replicate: source %s change feed after %d: %w", c.src.URL(), after, err)
		}
		if len(changes) == 0 {
			return fmt.Errorf("replicate: source %s: %w: no commits after %d up to %d", c.src.URL(), table.ErrVersionNotFound, after, c.target)
		}
		// Decide before writing: a commit loglake cannot write (a writer
		// feature it does not honour) stops the replay before any of its
		// files is copied; the commits before it are replayed.
		var refuse error
		for i, ch := range changes {
			// The destination's protocol at `recorded` was written by a
			// clone, so only protocols the replayed commits set need the
			// check (the feed's start state is the source's latest, which
			// may be newer than these commits).
			for _, a := range ch.Actions {
				if a.Protocol != nil {
					proto = a.Protocol
				}
			}
			if err := table.CheckWrite(proto, ch.Metadata); err != nil {
				refuse = fmt.Errorf("replicate: source %s version %d: %w", c.src.URL(), ch.Version, err)
				changes = changes[:i]
				break
			}
		}
		var jobs []copyJob
		for _, ch := range changes {
			for _, a := range ch.Actions {
				switch {
				case a.Add != nil:
					jobs = append(jobs, copyJob{path: a.Add.Path, size: a.Add.Size})
				case a.CDC != nil:
					jobs = append(jobs, copyJob{path: a.CDC.Path, size: a.CDC.Size})
				}
			}
		}
		if err := c.copyFiles(ctx, jobs, c.srcLatest); err != nil {
			return err
		}
		for _, ch := range changes {
			if err := c.commitChange(ctx, dstT, ch); err != nil {
				return err
			}
		}
		if refuse != nil {
			return refuse
		}
		after = changes[len(changes)-1].Version
	}
	if !c.opts.DryRun {
		snap, err := dstT.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
		c.res.DestinationVersion = snap.Version()
	}
	c.log.Info("clone: replay done", "mode", c.res.Mode, "source", c.src.URL(), "destination", c.dst.URL(),
		"from", recorded, "to", c.target, "commits", c.res.CommitsWritten, "copied_files", c.res.Metrics.NumCopiedFiles,
		"copied_bytes", c.res.Metrics.CopiedFilesSize)
	return nil
}

// maxForkAttempts bounds the retries of a fork commit that lost to the
// fork's own writers with a logical conflict (table.Commit already retries
// plain version races on its own).
const maxForkAttempts = 16

// commitChange writes one source commit to the destination: as the same
// version in a replica, as the next version in a fork.
func (c *cloner) commitChange(ctx context.Context, dstT *table.Table, ch table.Change) error {
	removes, removedSize := countRemoves(ch.Actions)
	if c.opts.DryRun {
		if c.res.Mode == ModeFork {
			// Refused now as the real run would refuse it.
			if err := c.checkPlanned(ctx, dstT, ch); err != nil {
				return err
			}
		}
		c.res.CommitsWritten++
		c.res.Metrics.NumRemovedFiles += removes
		c.res.Metrics.RemovedFilesSize += removedSize
		return nil
	}
	for attempt := 1; ; attempt++ {
		snap, err := dstT.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
		if v, ok := snap.AppVersion(c.appID); ok && v >= ch.Version {
			c.res.CommitsSkipped++ // a concurrent clone got here first
			return nil
		}
		commit := c.replayCommit(ch, snap)
		if c.res.Mode == ModeFork {
			schema, err := snap.Schema()
			if err != nil {
				return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
			}
			skip, err := c.checkFork(ch, schema, snap.Live)
			if err != nil {
				return err
			}
			if skip {
				commit.Actions = slices.DeleteFunc(commit.Actions, func(a table.Action) bool { return a.Add != nil || a.Remove != nil })
			}
		}
		_, err = dstT.Commit(ctx, snap, commit)
		switch {
		case err == nil:
			c.res.CommitsWritten++
			c.res.Metrics.NumRemovedFiles += removes
			c.res.Metrics.RemovedFilesSize += removedSize
			return nil
		case errors.Is(err, table.ErrAlreadyCommitted):
			c.res.CommitsSkipped++
			return nil
		case errors.Is(err, table.ErrConflict) && c.res.Mode == ModeReplica:
			// Someone other than a clone took version N: the destination
			// has commits of its own now, so it is a fork from here on.
			c.log.Warn("clone: destination received a commit of its own; continuing as a fork",
				"destination", c.dst.URL(), "version", ch.Version)
			c.res.Mode = ModeFork
			// That commit is refused as the next run would refuse it: once
			// a clone commit follows it, checkDiverged stops before it.
			head, err := dstT.Snapshot(ctx)
			if err != nil {
				return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
			}
			if err := c.checkDiverged(ctx, dstT, head.Version()); err != nil {
				return err
			}
		case errors.Is(err, table.ErrConflict) && attempt < maxForkAttempts:
			c.log.Info("clone: fork commit conflicted with the fork's own writers; retrying", "source_version", ch.Version, "err", err)
		default:
			return fmt.Errorf("replicate: commit source version %d to %s: %w", ch.Version, c.dst.URL(), err)
		}
	}
}

// replayCommit builds the destination commit for source commit ch.
//
// Replica: the source's actions verbatim (minus its commitInfo, which is
// passed as the commit's provenance, and any clone txn of the same source,
// which table.Commit writes itself), at exactly the source's version, with
// the source's operation and timestamp.
//
// Fork: the same data actions at the next version; commitInfo keeps the
// source's operation but takes the current time (so the fork's timestamps
// stay monotonic for time travel), the source's time going to a tag; and a
// source txn is kept only if it moves that application forward in the fork
// (a stream re-routed to the fork is never moved back by its source's
// older progress).
func (c *cloner) replayCommit(ch table.Change, dstSnap *table.Snapshot) *table.Commit {
	fork := c.res.Mode == ModeFork
	var ci *table.CommitInfo
	actions := make([]table.Action, 0, len(ch.Actions))
	for _, a := range ch.Actions {
		switch {
		case a.CommitInfo != nil:
			cp := *a.CommitInfo
			ci = &cp
		case a.Txn != nil && a.Txn.AppID == c.appID:
		case a.Txn != nil && fork:
			if v, ok := dstSnap.AppVersion(a.Txn.AppID); ok && v >= a.Txn.Version {
				continue
			}
			actions = append(actions, a)
		default:
			actions = append(actions, a)
		}
	}
	if ci == nil {
		ci = &table.CommitInfo{Timestamp: ch.Timestamp.UnixMilli()}
	}
	ci.Tags = c.tags(ci.Tags, ch.Version)
	if !fork && c.sizesKnown && ch.Version == c.target {
		setSizeTags(ci.Tags, c.res.Metrics.SourceNumOfFiles, c.res.Metrics.SourceTableSize)
	}
	commit := &table.Commit{Actions: actions, AppID: c.appID, AppVersion: ch.Version, CommitInfo: ci}
	if fork {
		ci.Tags[TagSourceTimestamp] = strconv.FormatInt(ch.Timestamp.UnixMilli(), 10)
		ci.Timestamp = time.Now().UnixMilli()
		ci.InCommitTimestamp = nil
		rv := dstSnap.Version()
		ci.ReadVersion = &rv
	} else {
		commit.ExactVersion = true
		commit.Version = ch.Version
	}
	return commit
}

// checkFork checks a source commit against the fork it is replayed into.
//
// A source schema replaces the fork's: a column the fork added on its own
// (its ingest's addNewColumns) and the source's schema lacks would vanish
// with its values, so that is ErrDiverged.
//
// A file the fork rewrote on its own (its OPTIMIZE) is no longer live
// there, and the source's rewrite of it would add its rows
// a second time (or bring back the rows a source DELETE dropped): that is
// ErrDiverged. One exception is safe: a source OPTIMIZE (no action
// changes data) of files the fork has all compacted itself holds no row
// the fork lacks, so its files are skipped (skip) and only its txn and
// commitInfo are written.
//
// schema is the fork's schema, live reports whether a file is live there.
func (c *cloner) checkFork(ch table.Change, schema *table.Schema, live func(path string) bool) (skip bool, err error) {
	if err := c.checkForkSchema(ch, schema); err != nil {
		return false, err
	}
	var removes, gone int
	first := ""
	dataChange := false
	for _, a := range ch.Actions {
		switch {
		case a.Remove != nil:
			removes++
			dataChange = dataChange || a.Remove.DataChange
			if !live(a.Remove.Path) {
				gone++
				if first == "" {
					first = a.Remove.Path
				}
			}
		case a.Add != nil:
			dataChange = dataChange || a.Add.DataChange
		}
	}
	switch {
	case gone == 0:
		return false, nil
	case gone == removes && !dataChange:
		c.log.Info("clone: the fork compacted the files this source OPTIMIZE rewrites; skipping its files",
			"source_version", ch.Version, "files", removes)
		return true, nil
	}
	return false, fmt.Errorf("%w: source version %d of %s rewrites %s (and %d more), which %s rewrote on its own "+
		"(its OPTIMIZE or DELETE); replaying it would duplicate or resurrect rows. A diverged fork is not cloned into: "+
		"clone into a new location to re-fork, and run maintenance on the source, not on its replicas (docs/live-fork.md)",
		ErrDiverged, ch.Version, c.src.URL(), first, gone-1, c.dst.URL())
}

// plannedFork is a fork as a dry run's planned commits would leave it:
// its snapshot before them, the files they add and remove, and its schema
// after them.
type plannedFork struct {
	snap           *table.Snapshot
	added, removed map[string]bool
	schema         *table.Schema
}

func (p *plannedFork) live(path string) bool {
	return p.added[path] || !p.removed[path] && p.snap.Live(path)
}

// checkPlanned runs the fork checks of a real replay on source commit ch,
// planned in a dry run after the commits planned before it.
func (c *cloner) checkPlanned(ctx context.Context, dstT *table.Table, ch table.Change) error {
	if c.planned == nil {
		snap, err := dstT.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
		schema, err := snap.Schema()
		if err != nil {
			return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
		c.planned = &plannedFork{snap: snap, added: map[string]bool{}, removed: map[string]bool{}, schema: schema}
	}
	p := c.planned
	skip, err := c.checkFork(ch, p.schema, p.live)
	if err != nil {
		return err
	}
	for _, a := range ch.Actions {
		switch {
		case a.MetaData != nil:
			if p.schema, err = table.ParseSchema(a.MetaData.SchemaString); err != nil {
				return fmt.Errorf("replicate: source version %d of %s: %w", ch.Version, c.src.URL(), err)
			}
		case skip:
		case a.Add != nil:
			p.added[a.Add.Path], p.removed[a.Add.Path] = true, false
		case a.Remove != nil:
			p.added[a.Remove.Path], p.removed[a.Remove.Path] = false, true
		}
	}
	return nil
}

func (c *cloner) checkForkSchema(ch table.Change, cur *table.Schema) error {
	for _, a := range ch.Actions {
		if a.MetaData == nil {
			continue
		}
		next, err := table.ParseSchema(a.MetaData.SchemaString)
		if err != nil {
			return fmt.Errorf("replicate: source version %d of %s: %w", ch.Version, c.src.URL(), err)
		}
		for _, f := range cur.Fields {
			if next.Field(f.Name) == nil {
				return fmt.Errorf("%w: source version %d of %s sets a schema without column %q, which %s added on its own; "+
					"replaying it would drop the column and its values. A diverged fork is not cloned into: "+
					"clone into a new location to re-fork (docs/live-fork.md)",
					ErrDiverged, ch.Version, c.src.URL(), f.Name, c.dst.URL())
			}
		}
	}
	return nil
}

func countRemoves(actions []table.Action) (n, size int64) {
	for _, a := range actions {
		if a.Remove != nil {
			n++
			if a.Remove.Size != nil {
				size += *a.Remove.Size
			}
		}
	}
	return n, size
}
