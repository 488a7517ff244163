package replicate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/loglake/loglake/table"
)

// Sync: the fallback when the source's log no longer holds the commits
// after the version the destination recorded.

// sync is the fallback when the source's log no longer has the commits
// after the recorded version: compare the source's live files at the target
// with the destination's, copy what is missing, and commit one CLONE with
// the adds and removes. In a pure replica every destination file came from
// the source, so every file the source no longer has is removed; in a fork
// only files the source's log still remembers removing are, so the fork's
// own files are kept.
func (c *cloner) sync(ctx context.Context, dstT *table.Table) error {
	srcSnap, err := c.sourceSnapshot(ctx)
	if err != nil {
		return err
	}
	srcTombstones, err := srcSnap.Tombstones()
	if err != nil {
		return err
	}
	replica := c.res.Mode == ModeReplica
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
		removedBySource := map[string]bool{}
		for _, r := range srcTombstones {
			removedBySource[r.Path] = true
		}
		now := time.Now().UnixMilli()
		var removes []table.Action
		var removedSize int64
		for _, f := range dstSnap.Files() {
			if srcFiles[f.Path] || (!replica && !removedBySource[f.Path]) {
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
				"source": c.src.URL(), "sourceVersion": c.target, "isShallow": false,
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
