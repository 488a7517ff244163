package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// DefaultVacuumParallel is how many files Vacuum deletes at once by
// default (the one default of the API and `loglake vacuum`).
const DefaultVacuumParallel = 32

// VacuumOptions configure Vacuum. The zero value is the default.
type VacuumOptions struct {
	// Retain is the retention period: removed files stay while a version
	// younger than it may read them. nil: the table's
	// delta.deletedFileRetentionDuration (default 7 days).
	Retain *time.Duration
	// Force allows a Retain shorter than the table's retention (Delta's
	// retentionDurationCheck). Readers time-travelling past it, or still
	// reading an old snapshot, may then fail.
	Force bool
	// Grace protects files no commit names yet (in-flight writers' files)
	// younger than it, whatever Retain and Force say (default 1h).
	Grace time.Duration
	// DryRun lists what would be deleted without deleting.
	DryRun bool
	// Now is the clock the log's timestamps are compared with (default
	// the table's, Options.Now); tests inject one.
	Now func() time.Time
	// Parallel is the number of concurrent deletes (default
	// DefaultVacuumParallel).
	Parallel int
	// KeepRemovedFrom, when set, keeps every file removed by a commit at
	// or after this version, whatever its age: a consumer of the change
	// feed (an egress route) that resumes at this version still reads the
	// files those versions' earlier commits added. Judged by version, read
	// from the commits themselves, so neither clock skew nor tombstones
	// expired from checkpoints can let such a file go. nil: no consumer.
	KeepRemovedFrom *int64
}

// VacuumResult reports what Vacuum deleted (or, with DryRun, would delete).
type VacuumResult struct {
	Version int64 `json:"version"`
	// Retain is the retention applied; Cutoff is now minus Retain.
	Retain time.Duration `json:"retainNs"`
	Cutoff time.Time     `json:"cutoff"`
	// FilesDeleted/BytesDeleted count the deleted (DryRun: deletable)
	// files: Removed are tombstoned files past retention, Orphans are files
	// no version ever committed.
	FilesDeleted   int64 `json:"numDeletedFiles"`
	BytesDeleted   int64 `json:"sizeOfDeletedFiles"`
	RemovedDeleted int64 `json:"numExpiredRemovedFiles"`
	OrphansDeleted int64 `json:"numOrphanFiles"`
	// FilesListed is the number of data files examined.
	FilesListed int64 `json:"numFilesListed"`
	// KeptForConsumers counts files past the cutoff that were kept only
	// because KeepRemovedFrom protects them.
	KeptForConsumers int64 `json:"numKeptForConsumers"`
	DryRun           bool  `json:"dryRun"`
	// Paths are the keys deleted (DryRun: to delete), only with DryRun.
	Paths []string `json:"paths,omitempty"`
}

// ErrRetention: a VACUUM retention shorter than the table's was asked for
// without Force.
var ErrRetention = errors.New("table: retention shorter than the table's")

// vacuumStateKey is where the last VACUUM is recorded: never in the log, so
// a replica stays an exact replica of its source.
const vacuumStateKey = "_loglake/maintenance/vacuum.json"

// DefaultVacuumGrace is how young a file no commit names yet must be for
// VACUUM to keep it whatever the retention: an in-flight writer's. Commit
// keeps its side of it: a commit that has waited half of it for a free
// version gives up (ErrConflict) instead of naming files VACUUM may delete.
const DefaultVacuumGrace = time.Hour

// Vacuum deletes the data files that no version inside the retention window
// needs, and orphans (files no commit ever named) older than the retention
// and the grace period. Its clock is the log's: a removed file's age is its
// remove's deletionTimestamp, not the object's modification time (which
// differs between clouds and is reset by copies). It never deletes a live
// file, a file removed after the cutoff, anything under _delta_log/ or
// _loglake/ (or any other hidden path), or a never-committed file younger
// than Grace. It only deletes keys it listed: a path in the log can never
// make it delete anything else. It writes nothing to the log; the last run
// is recorded under _loglake/.
//
// The table's writer protocol is checked first, which is what the
// vacuumProtocolCheck feature requires: a table with a writer feature
// loglake does not implement is refused by name.
func (t *Table) Vacuum(ctx context.Context, opts *VacuumOptions) (*VacuumResult, error) {
	if err := t.writable("vacuum"); err != nil {
		return nil, err
	}
	o := VacuumOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = t.now
	}
	if o.Grace <= 0 {
		o.Grace = DefaultVacuumGrace
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultVacuumParallel
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkWrite(snap.protocol, snap.metadata); err != nil {
		return nil, err
	}
	tableRetain, err := snap.DeletedFileRetention()
	if err != nil {
		return nil, err
	}
	retain := tableRetain
	if o.Retain != nil {
		if *o.Retain < 0 {
			return nil, fmt.Errorf("table: negative retention %s", *o.Retain)
		}
		retain = *o.Retain
	}
	if retain < tableRetain && !o.Force {
		return nil, fmt.Errorf("%w: %s < delta.deletedFileRetentionDuration %s; readers of older versions would fail", ErrRetention, retain, tableRetain)
	}
	now := o.Now()
	cutoff := now.Add(-retain)
	res := &VacuumResult{Version: snap.version, Retain: retain, Cutoff: cutoff.UTC(), DryRun: o.DryRun}

	protected, err := t.removedSince(ctx, snap, o.KeepRemovedFrom)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, f := range snap.Files() {
		key, err := FileKey(f.Path)
		if err != nil {
			return nil, err
		}
		live[key] = true
	}
	// A tombstone's time is its deletionTimestamp; without one, the
	// snapshot's commit time (the remove is at most that old).
	removedAt := map[string]int64{}
	tombstones, err := snap.Tombstones()
	if err != nil {
		return nil, err
	}
	for _, r := range tombstones {
		key, err := FileKey(r.Path)
		if err != nil {
			return nil, err
		}
		ts := snap.commitTime
		if r.DeletionTimestamp != nil {
			ts = *r.DeletionTimestamp
		}
		removedAt[key] = max(removedAt[key], ts)
	}

	type victim struct {
		key  string
		size int64
	}
	var victims []victim
	it := t.bucket.List(ctx, "", "")
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("table: vacuum listing: %w", err)
		}
		if hiddenKey(obj.Key, snap.metadata.PartitionColumns) {
			continue
		}
		res.FilesListed++
		if live[obj.Key] {
			continue
		}
		if ts, ok := removedAt[obj.Key]; ok {
			switch {
			case ts >= cutoff.UnixMilli():
			case protected[obj.Key]:
				res.KeptForConsumers++
			default:
				victims = append(victims, victim{obj.Key, obj.Size})
				res.RemovedDeleted++
			}
			continue
		}
		// Never committed (or its tombstone expired from the checkpoints):
		// only its modification time tells its age.
		if obj.ModTime.Before(cutoff) && obj.ModTime.Before(now.Add(-o.Grace)) {
			if protected[obj.Key] {
				res.KeptForConsumers++
				continue
			}
			victims = append(victims, victim{obj.Key, obj.Size})
			res.OrphansDeleted++
		}
	}
	// A writer may have committed files the listing saw as orphans after
	// the snapshot was taken: look again before deleting anything.
	if fresh, err := t.Snapshot(ctx); err != nil {
		return nil, err
	} else if fresh.version != snap.version {
		now := map[string]bool{}
		for _, f := range fresh.Files() {
			if key, err := FileKey(f.Path); err == nil {
				now[key] = true
			}
		}
		kept := victims[:0]
		for _, v := range victims {
			if !now[v.key] {
				kept = append(kept, v)
			}
		}
		victims = kept
	}
	for _, v := range victims {
		res.FilesDeleted++
		res.BytesDeleted += v.size
	}
	if o.DryRun {
		for _, v := range victims {
			res.Paths = append(res.Paths, v.key)
		}
		return res, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Parallel)
	var failed atomic.Int64
	for _, v := range victims {
		g.Go(func() error {
			if err := t.bucket.Delete(gctx, v.key); err != nil {
				failed.Add(1)
				return fmt.Errorf("table: vacuum deleting %s: %w", v.key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// Deletes are idempotent: a rerun finishes the job.
		return nil, err
	}
	state, _ := json.Marshal(VacuumRun{Time: now.UTC(), Version: snap.version, Retain: retain.String(),
		FilesDeleted: res.FilesDeleted, BytesDeleted: res.BytesDeleted})
	if err := t.bucket.Put(ctx, vacuumStateKey, state); err != nil {
		t.log.Warn("vacuum: recording the run under _loglake/ failed", "err", err)
	}
	return res, nil
}

// removedSince returns the keys of files removed by the commits from
// version from on (nil from: none). Those commits must still be in the log:
// a consumer that resumes at from reads them too, so their absence means it
// has already lost data, and VACUUM refuses to guess.
func (t *Table) removedSince(ctx context.Context, snap *Snapshot, from *int64) (map[string]bool, error) {
	if from == nil || *from > snap.version {
		return nil, nil
	}
	changes, err := t.Changes(ctx, max(*from, 0)-1, snap.version, 0)
	if err != nil {
		return nil, fmt.Errorf("table: vacuum: the commits from version %d a consumer still reads: %w", *from, err)
	}
	keys := map[string]bool{}
	for _, ch := range changes {
		for _, a := range ch.Actions {
			if a.Remove == nil {
				continue
			}
			key, err := FileKey(a.Remove.Path)
			if err != nil {
				return nil, err
			}
			keys[key] = true
		}
	}
	return keys, nil
}

// hiddenKey reports whether a key is outside VACUUM's reach: any path
// segment starting with '_' or '.' (_delta_log/, _loglake/, temp files),
// as Delta skips hidden files and directories, except the directories of
// partition columns whose names start with '_'.
func hiddenKey(key string, partCols []string) bool {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		if !strings.HasPrefix(seg, "_") && !strings.HasPrefix(seg, ".") {
			continue
		}
		name, _, isDir := strings.Cut(seg, "=")
		if i < len(segs)-1 && isDir && slices.Contains(partCols, UnescapePathName(name)) {
			continue
		}
		return true
	}
	return false
}
