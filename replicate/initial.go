package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// The initial clone: an empty destination receives the source's state at
// one version as its own version.

// initial clones the source's state at the target version into an empty
// destination: copy the live files, then write checkpoint V (V > 0: the log
// starts there, as the Delta protocol allows), then commit V put-if-absent.
// Commit V is the "clone done" marker; the checkpoint alone already makes
// the table readable at V, which a rerun detects and completes
// (ensureCloneCommit).
func (c *cloner) initial(ctx context.Context) error {
	snap, err := c.writableSourceSnapshot(ctx)
	if err != nil {
		return err
	}
	want := c.target
	c.initialAt = want
	if err := c.claimDestination(ctx); err != nil {
		return err
	}
	if c.initialAt != want {
		if c.initialAt > want {
			return fmt.Errorf("%w: %s is an interrupted initial clone of source version %d, requested %d", ErrAhead, c.dst.URL(), c.initialAt, want)
		}
		c.log.Info("clone: another initial clone of this source claimed the destination at an earlier version; cloning that one first",
			"version", c.initialAt, "requested", want)
		c.target = c.initialAt
		if snap, err = c.writableSourceSnapshot(ctx); err != nil {
			return err
		}
	}
	err = c.initialAtTarget(ctx, snap)
	if errors.Is(err, ErrMissingFile) && c.target < want {
		if err = c.moveClaim(ctx, want); err != nil {
			return err
		}
		if snap, err = c.writableSourceSnapshot(ctx); err != nil {
			return err
		}
		err = c.initialAtTarget(ctx, snap)
	}
	if err != nil {
		return err
	}
	if want == c.target || c.opts.DryRun {
		return nil
	}
	// Then on to the requested version, commit by commit.
	dstT, err := table.Open(ctx, c.dst, &table.Options{Logger: c.log})
	if err != nil {
		return fmt.Errorf("replicate: open destination %s: %w", c.dst.URL(), err)
	}
	recorded := c.target
	c.target, c.res.SourceVersion = want, want
	c.metricsFromSource(ctx)
	return c.replay(ctx, dstT, recorded)
}

// writableSourceSnapshot is the source's snapshot at c.target, refused when
// loglake cannot write it faithfully (a writer feature it does not honour):
// decided before anything is written, while the destination is untouched.
func (c *cloner) writableSourceSnapshot(ctx context.Context) (*table.Snapshot, error) {
	snap, err := c.sourceSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	if err := table.CheckWrite(snap.Protocol(), snap.Metadata()); err != nil {
		return nil, fmt.Errorf("replicate: source %s version %d: %w", c.src.URL(), snap.Version(), err)
	}
	return snap, nil
}

// initialAtTarget copies snap (the source at c.target) into the claimed,
// empty destination and commits it there as version c.target.
func (c *cloner) initialAtTarget(ctx context.Context, snap *table.Snapshot) error {
	files := snap.Files()
	c.res.Metrics.SourceTableSize = snap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(files))
	var jobs []copyJob
	for _, f := range files {
		jobs = append(jobs, copyJob{path: f.Path, size: f.Size})
	}
	if err := c.copyFiles(ctx, jobs, nil); err != nil {
		if c.claimed {
			c.releaseClaim(ctx)
		}
		return err
	}
	if c.opts.DryRun {
		c.res.CommitsWritten = 1
		return nil
	}
	state := stateActions(snap, c.appID, c.target)
	if c.target > 0 {
		if err := table.WriteCheckpoint(ctx, c.dst, c.target, state); err != nil {
			return fmt.Errorf("replicate: checkpoint %d of %s: %w", c.target, c.dst.URL(), err)
		}
	}
	written, err := c.writeCloneCommit(ctx, c.target, c.sourceCommitTime(ctx, c.target, snap.Timestamp()), state)
	if err != nil {
		return err
	}
	if written {
		c.res.CommitsWritten = 1
	} else {
		c.res.CommitsSkipped = 1
	}
	c.res.DestinationVersion = c.target
	c.log.Info("clone: initial clone done", "source", c.src.URL(), "destination", c.dst.URL(), "version", c.target,
		"copied_files", c.res.Metrics.NumCopiedFiles, "copied_bytes", c.res.Metrics.CopiedFilesSize)
	return nil
}

// moveClaim moves the destination's claim from c.target, whose files are
// gone from the source (its VACUUM: that initial clone can never complete),
// to version want, and retargets this run there. What was copied and is
// still live is kept. Only while nothing of a table is at the destination
// and the claim still names c.target: a racing clone that moved it first is
// joined, and one that has begun the log is left to finish (this run then
// fails, and its rerun replays).
func (c *cloner) moveClaim(ctx context.Context, want int64) error {
	c.log.Warn("clone: the interrupted initial clone's version lost source files; cloning the requested version instead",
		"claimed", c.target, "requested", want)
	claimed := c.target
	if _, err := c.claimOwner(ctx); err != nil {
		return err
	}
	if c.initialAt != claimed { // moved by a racing clone: join it
		if c.initialAt > want {
			return fmt.Errorf("%w: %s is an interrupted initial clone of source version %d, requested %d", ErrAhead, c.dst.URL(), c.initialAt, want)
		}
		c.target = c.initialAt
		return nil
	}
	switch logged, err := table.HasLog(ctx, c.dst); {
	case err != nil:
		return fmt.Errorf("replicate: list destination %s: %w", c.dst.URL(), err)
	case logged:
		return fmt.Errorf("%w: %s: another clone began the table at a later version meanwhile; rerun", ErrMissingFile, c.dst.URL())
	}
	if !c.opts.DryRun {
		if err := c.dst.Put(ctx, initialCloneKey, fmt.Appendf(nil, "%s@%d", c.res.SourceTableID, want)); err != nil {
			return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
	}
	c.target, c.initialAt = want, want
	return nil
}

// initialCloneKey names, in a destination without a table, the source table
// an initial clone is copying into it. It is written before the first file:
// a clone killed between its first copy and its commit leaves files and no
// log, and the rerun must resume it, not refuse a "not empty" destination.
const initialCloneKey = "_loglake/clone/initial"

// claimDestination makes sure the destination (which holds no table) is
// either empty or an interrupted initial clone of this source, and marks it
// as this source's. Anything else (a landing folder, another table's files)
// is refused with ErrNotEmpty before a file is copied.
func (c *cloner) claimDestination(ctx context.Context) error {
	owner, err := c.claimOwner(ctx)
	switch {
	case err != nil:
		return err
	case owner == c.res.SourceTableID:
		return nil // resume an interrupted clone of this source
	case owner != "":
		return fmt.Errorf("%w: %s is an interrupted clone of table %s, not of %s", ErrNotEmpty, c.dst.URL(), owner, c.res.SourceTableID)
	}
	it := c.dst.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("replicate: list destination %s: %w", c.dst.URL(), err)
		}
		// A log without a readable table (a checkpoint written before a
		// killed clone's commit) is the clone's to complete.
		if table.IsLogKey(o.Key) {
			continue
		}
		// A concurrent clone of this source may have claimed the
		// destination and started copying since the first look.
		if owner, err := c.claimOwner(ctx); err != nil || owner == c.res.SourceTableID {
			return err
		}
		return fmt.Errorf("%w: %s holds %s", ErrNotEmpty, c.dst.URL(), o.Key)
	}
	if c.opts.DryRun {
		return nil
	}
	// Put-if-absent: of clones racing into one empty destination, one
	// claims it (and may remove the claim if it fails before copying);
	// the others join that claim or are refused.
	err = c.dst.PutIfAbsent(ctx, initialCloneKey, fmt.Appendf(nil, "%s@%d", c.res.SourceTableID, c.target))
	if errors.Is(err, storage.ErrExists) {
		if owner, err := c.claimOwner(ctx); err != nil || owner == c.res.SourceTableID {
			return err // joined a racing clone of this source
		}
		return fmt.Errorf("%w: %s is being cloned from another table", ErrNotEmpty, c.dst.URL())
	}
	if err != nil {
		return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
	c.claimed = true
	return nil
}

// releaseClaim removes this run's claim from a destination it failed to
// copy anything into (a source file is missing or damaged), leaving it
// as it was — unless anything else is there now (a joined clone's copies):
// then the claim stays, so a rerun resumes them.
func (c *cloner) releaseClaim(ctx context.Context) {
	it := c.dst.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil || o.Key != initialCloneKey {
			return
		}
	}
	_ = c.dst.Delete(ctx, initialCloneKey)
}

// claimOwner returns the source table id an initial clone claimed the
// destination for ("" when unclaimed).
func (c *cloner) claimOwner(ctx context.Context) (string, error) {
	claim, err := c.dst.Get(ctx, initialCloneKey)
	switch {
	case err == nil:
		owner, at, ok := strings.Cut(string(claim), "@")
		if v, err := strconv.ParseInt(at, 10, 64); ok && err == nil && owner == c.res.SourceTableID {
			// Clones of one source into one destination build one log:
			// a second initial clone at another version would leave a gap
			// between the two. The claim's version is every joiner's
			// initial version; a joiner wanting a later one replays up to
			// it afterwards.
			c.initialAt = v
		}
		return owner, nil
	case errors.Is(err, storage.ErrNotFound):
		return "", nil
	default:
		return "", fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
}

// stateActions is snap's reconciled state plus the clone txn at version v:
// protocol, metaData, txns, adds. Tombstones are left out: their files are
// not copied, so the destination has nothing to vacuum.
func stateActions(snap *table.Snapshot, appID string, v int64) []table.Action {
	now := time.Now().UnixMilli()
	txns := snap.Txns()
	txns[appID] = table.Txn{AppID: appID, Version: v, LastUpdated: &now}
	out := make([]table.Action, 0, 2+len(txns)+len(snap.Files()))
	out = append(out, table.Action{Protocol: snap.Protocol()}, table.Action{MetaData: snap.Metadata()})
	for _, id := range slices.Sorted(maps.Keys(txns)) {
		t := txns[id]
		out = append(out, table.Action{Txn: &t})
	}
	for _, f := range snap.Files() {
		out = append(out, table.Action{Add: f})
	}
	return out
}

// sourceCommitTime is the source's commit time of version v, read from
// that commit, or fallback when the source's log no longer has it (a
// snapshot loaded from a checkpoint of its version only knows the
// checkpoint file's time). The replica fast path checks it against the
// source's commit to recognize its source.
func (c *cloner) sourceCommitTime(ctx context.Context, v int64, fallback time.Time) int64 {
	if ch, err := c.srcT.CommitHead(ctx, v); err == nil {
		return ch.Timestamp.UnixMilli()
	}
	return fallback.UnixMilli()
}

// writeCloneCommit writes commit v of the destination: a CLONE commitInfo
// and the full state. Its timestamp is the source version's commit time so
// that time travel by timestamp on a replica matches the source's. It
// returns false when another clone wrote the same commit first.
func (c *cloner) writeCloneCommit(ctx context.Context, v int64, ts int64, state []table.Action) (bool, error) {
	blind := false
	readVersion := v
	ci := &table.CommitInfo{
		Timestamp: ts,
		Operation: "CLONE",
		OperationParameters: map[string]any{
			"source":        c.src.URL(),
			"sourceVersion": v,
			"isShallow":     false,
			paramWholeState: true,
		},
		OperationMetrics: c.res.Metrics.commitMetrics(),
		ReadVersion:      &readVersion,
		IsBlindAppend:    &blind,
		EngineInfo:       table.Engine,
		Tags:             c.tags(nil, v),
	}
	setSizeTags(ci.Tags, c.res.Metrics.SourceNumOfFiles, c.res.Metrics.SourceTableSize)
	// The clone txn is written by table.Commit from AppID/AppVersion.
	actions := make([]table.Action, 0, len(state))
	for _, a := range state {
		if a.Txn == nil || a.Txn.AppID != c.appID {
			actions = append(actions, a)
		}
	}
	written, err := c.commitExact(ctx, &table.Commit{Actions: actions, CommitInfo: ci,
		AppID: c.appID, AppVersion: v, Version: v})
	if err != nil {
		return false, fmt.Errorf("replicate: commit %d of %s: %w", v, c.dst.URL(), err)
	}
	if !written {
		c.log.Info("clone: a concurrent clone wrote this commit first", "version", v)
	}
	return written, nil
}

// ensureCloneCommit completes an initial clone that crashed between its
// checkpoint and its commit: the replica's latest version then has a
// checkpoint but no commit file. One Stat per run.
func (c *cloner) ensureCloneCommit(ctx context.Context, dstSnap *table.Snapshot) error {
	v := dstSnap.Version()
	if ok, err := table.Handle(c.dst, nil).HasCommit(ctx, v); err != nil {
		return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	} else if ok {
		return nil
	}
	c.log.Warn("clone: completing an interrupted initial clone", "destination", c.dst.URL(), "version", v)
	if c.opts.DryRun {
		return nil
	}
	c.res.Metrics.SourceTableSize = dstSnap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(dstSnap.Files()))
	state := stateActions(dstSnap, c.appID, v)
	written, err := c.writeCloneCommit(ctx, v, c.sourceCommitTime(ctx, v, dstSnap.Timestamp()), state)
	if written {
		c.res.CommitsWritten++
	}
	return err
}
