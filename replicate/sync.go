package replicate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Sync: the fallback when the source's log no longer holds the commits
// after the version the destination recorded.

// sync is the fallback when the source's log no longer has the commits
// after the recorded version: compare the source's live files at the target
// with the destination's, copy what is missing, and commit one CLONE with
// the adds and removes: every destination file the source no longer has is
// removed. That is right only while every destination file came from the
// source, so a destination with commits of its own is refused (syncable).
func (c *cloner) sync(ctx context.Context, dstT *table.Table) error {
	if c.res.Mode == ModeFork {
		if err := c.syncable(ctx, dstT); err != nil {
			return err
		}
	}
	srcSnap, err := c.sourceSnapshot(ctx)
	if err != nil {
		return err
	}
	c.res.Mode = ModeSync
	c.res.Metrics.SourceTableSize = srcSnap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(srcSnap.Files()))
	for attempt := 1; ; attempt++ {
		dstSnap, err := dstT.Snapshot(ctx)
		if err != nil {
			return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
		if v, ok := dstSnap.AppVersion(c.appID); ok && v >= c.target {
			c.res.CommitsSkipped++
			return nil
		}
		dstFiles := map[string]*table.Add{}
		for _, f := range dstSnap.Files() {
			dstFiles[f.Path] = f
		}
		srcFiles := map[string]bool{}
		var adds []table.Action
		var jobs []copyJob
		for _, f := range srcSnap.Files() {
			srcFiles[f.Path] = true
			if d := dstFiles[f.Path]; d == nil || d.Size != f.Size {
				adds = append(adds, table.Action{Add: f})
				jobs = append(jobs, copyJob{path: f.Path, size: f.Size})
			}
		}
		now := time.Now().UnixMilli()
		var removes []table.Action
		var removedSize int64
		for _, f := range dstSnap.Files() {
			if srcFiles[f.Path] {
				continue
			}
			size := f.Size
			removes = append(removes, table.Action{Remove: &table.Remove{Path: f.Path, DeletionTimestamp: &now,
				DataChange: true, PartitionValues: f.PartitionValues, Size: &size}})
			removedSize += size
		}
		if attempt == 1 {
			if err := c.copyFiles(ctx, jobs, srcSnap); err != nil {
				return err
			}
		}
		c.res.Metrics.NumRemovedFiles = int64(len(removes))
		c.res.Metrics.RemovedFilesSize = removedSize
		if c.opts.DryRun {
			c.res.CommitsWritten = 1
			return nil
		}
		var actions []table.Action
		if !reflect.DeepEqual(srcSnap.Protocol(), dstSnap.Protocol()) {
			actions = append(actions, table.Action{Protocol: srcSnap.Protocol()})
		}
		if !reflect.DeepEqual(srcSnap.Metadata(), dstSnap.Metadata()) {
			actions = append(actions, table.Action{MetaData: srcSnap.Metadata()})
		}
		txns := srcSnap.Txns()
		for _, id := range slices.Sorted(maps.Keys(txns)) {
			t := txns[id]
			if v, ok := dstSnap.AppVersion(id); id == c.appID || (ok && v >= t.Version) {
				continue
			}
			actions = append(actions, table.Action{Txn: &t})
		}
		actions = append(append(actions, removes...), adds...)
		_, err = dstT.Commit(ctx, dstSnap, &table.Commit{
			Actions:   actions,
			Operation: "CLONE",
			Parameters: map[string]any{
				"source": c.src.URL(), "sourceVersion": c.target, "isShallow": false, paramWholeState: true,
			},
			Metrics:    c.res.Metrics.commitMetrics(),
			AppID:      c.appID,
			AppVersion: c.target,
		})
		switch {
		case err == nil:
			c.res.CommitsWritten = 1
			snap, err := dstT.Snapshot(ctx)
			if err != nil {
				return err
			}
			c.res.DestinationVersion = snap.Version()
			return nil
		case errors.Is(err, table.ErrAlreadyCommitted):
			c.res.CommitsSkipped++
			return nil
		case errors.Is(err, table.ErrConflict) && attempt < maxForkAttempts:
			continue
		default:
			return fmt.Errorf("replicate: commit to %s: %w", c.dst.URL(), err)
		}
	}
}

// syncable refuses, with ErrDiverged, to sync a fork that may hold files of
// its own. Without the source's commits after the recorded version, the
// live files alone cannot tell apart a source file the fork compacted or
// deleted (which the sync would add back) from one added since, nor a fork
// file of its own from a source file whose tombstone the source has
// expired (which the sync would keep): either duplicates or resurrects
// rows. A destination whose state a clone set whole (the initial CLONE, a
// sync) with only clone commits after it is a replica in all but its
// version numbers, and is synced like one.
func (c *cloner) syncable(ctx context.Context, dstT *table.Table) error {
	refuse := func(why string) error {
		return fmt.Errorf("%w: %s %s, and the source's log no longer holds the commits after the version it "+
			"recorded: comparing live files would duplicate or resurrect rows. Clone into a new location "+
			"to re-fork (docs/live-fork.md), and keep the source's delta.logRetentionDuration longer than "+
			"the interval between clones", ErrDiverged, c.dst.URL(), why)
	}
	head := c.res.DestinationVersion
	whole, err := c.walkBack(ctx, dstT, head, func(ch table.Change) (bool, error) {
		if !c.byClone(ch) {
			op := ""
			if ci := ch.CommitInfo(); ci != nil {
				op = ci.Operation
			}
			return false, refuse(fmt.Sprintf("has commits of its own (version %d, %s)", ch.Version, op))
		}
		return c.setsWholeState(ch), nil
	})
	if err == nil && !whole {
		err = refuse("no longer has the clone commit that set its state in its log")
	}
	return err
}

// setsWholeState reports whether ch is a CLONE commit of this source that
// set the destination's whole state (the initial clone's, a sync's), not a
// replayed source commit that was itself a CLONE of another table. Such
// commits say so (paramWholeState); an older one without the parameter
// counts only as an initial clone (written at its source version): an
// older sync into a fork kept the fork's own files.
func (c *cloner) setsWholeState(ch table.Change) bool {
	ci := ch.CommitInfo()
	if ci == nil || ci.Operation != "CLONE" {
		return false
	}
	p := ci.OperationParameters
	if src, _ := p["source"].(string); src == "" || storage.LocationKey(src) != storage.LocationKey(c.src.URL()) {
		return false
	}
	if whole, ok := p[paramWholeState].(bool); ok {
		return whole
	}
	v, ok := p["sourceVersion"].(float64) // decoded JSON
	return ok && int64(v) == ch.Version
}

// paramWholeState marks, in a CLONE commit's operationParameters, one that
// set the destination's whole state to the source's (the initial clone, a
// sync of a destination holding the source's files alone).
const paramWholeState = "loglakeWholeState"
