package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotClone: the destination holds a table that is not a clone of the
	// source (it has no clone txn for the source's table id).
	ErrNotClone = errors.New("replicate: destination is a table that is not a clone of the source")
	// ErrAhead: the destination already reflects a newer source version
	// than the one requested; a clone never moves a destination back.
	ErrAhead = errors.New("replicate: destination already reflects a newer source version")
	// ErrVerify: a copied file does not match its source (size or checksum).
	ErrVerify = errors.New("replicate: copied file does not match its source")
	// ErrSameLocation: source and destination are the same location.
	ErrSameLocation = errors.New("replicate: source and destination are the same location")
	// ErrMissingFile: a data file the source's log references is missing
	// from the source's storage.
	ErrMissingFile = errors.New("replicate: source data file is missing")
)

// AppIDPrefix starts the txn appId of a clone: "clone:<source table id>".
const AppIDPrefix = "clone:"

// Commit tags written into every commitInfo a clone writes.
const (
	TagSource          = "loglake.clone.source"          // source URL (credentials removed)
	TagSourceVersion   = "loglake.clone.sourceVersion"   // source version this commit reflects
	TagSourceTimestamp = "loglake.clone.sourceTimestamp" // source commit time (Unix ms), in forks
	// The source's live files at the version a replica commit reflects
	// (count and bytes), so the next run reports them without loading the
	// source's state.
	TagSourceNumFiles  = "loglake.clone.sourceNumOfFiles"
	TagSourceTableSize = "loglake.clone.sourceTableSize"
)

// Mode is how Clone brought the destination up to date.
type Mode string

const (
	// ModeInitial: the destination had no table; it now holds the source's
	// live files at the chosen version V, as its own version V.
	ModeInitial Mode = "initial"
	// ModeReplica: the destination is an exact replica; source commit N was
	// replayed as destination version N.
	ModeReplica Mode = "replica"
	// ModeFork: the destination has commits of its own; source commits were
	// replayed as new destination versions.
	ModeFork Mode = "fork"
	// ModeSync: the source's log was cleaned past the recorded version, so
	// live file sets were compared and one CLONE commit written.
	ModeSync Mode = "sync"
)

// DefaultParallel is the number of concurrent file transfers by default.
const DefaultParallel = 8

// replayBatch bounds the commits whose files are copied together before
// they are committed one by one.
const replayBatch = 256

// Options tune Clone. The zero value (and nil) clones the latest source
// version with DefaultParallel transfers.
type Options struct {
	// Version clones the source as of this version (nil: latest).
	Version *int64
	// Timestamp clones the latest source version committed at or before
	// this time (nil: latest). Exclusive with Version.
	Timestamp *time.Time
	// Parallel is the number of concurrent file transfers (<= 0: DefaultParallel).
	Parallel int
	// DryRun plans without writing anything: Result.Planned lists the files
	// that would be copied, and the counts describe what would happen.
	DryRun bool
	// Progress, if set, is called after each file is copied or found
	// present. Calls are serialized and their counts never decrease.
	Progress func(Progress)
	// Logger receives warnings and progress messages (nil: slog.Default()).
	Logger *slog.Logger
}

// Progress is the state of a clone's file transfers.
type Progress struct {
	Files, TotalFiles int
	Bytes, TotalBytes int64
}

// Metrics are Delta's CLONE metrics for one run; the JSON names are those of
// Delta's CLONE result columns (commitInfo uses the camelCase forms).
type Metrics struct {
	// SourceTableSize and SourceNumOfFiles describe the source's live files
	// at the cloned version.
	SourceTableSize  int64 `json:"source_table_size"`
	SourceNumOfFiles int64 `json:"source_num_of_files"`
	// NumRemovedFiles and RemovedFilesSize count the remove actions the run
	// committed to the destination (sizes where the log records them).
	NumRemovedFiles  int64 `json:"num_removed_files"`
	RemovedFilesSize int64 `json:"removed_files_size"`
	// NumCopiedFiles and CopiedFilesSize count the files this run actually
	// transferred (files already present at the destination excluded).
	NumCopiedFiles  int64 `json:"num_copied_files"`
	CopiedFilesSize int64 `json:"copied_files_size"`
}

// commitMetrics renders m as Delta's CLONE operationMetrics.
func (m Metrics) commitMetrics() map[string]any {
	s := func(n int64) string { return strconv.FormatInt(n, 10) }
	return map[string]any{
		"sourceTableSize":  s(m.SourceTableSize),
		"sourceNumOfFiles": s(m.SourceNumOfFiles),
		"numRemovedFiles":  s(m.NumRemovedFiles),
		"numCopiedFiles":   s(m.NumCopiedFiles),
		"removedFilesSize": s(m.RemovedFilesSize),
		"copiedFilesSize":  s(m.CopiedFilesSize),
	}
}

// PlannedFile is a file a dry run would copy.
type PlannedFile struct {
	Path string `json:"path"` // relative to the table root, as in the log
	Size int64  `json:"size"`
}

// Result reports one Clone run.
type Result struct {
	Source        string `json:"source"`
	Destination   string `json:"destination"`
	SourceTableID string `json:"sourceTableId"`
	Mode          Mode   `json:"mode"`
	// PreviousSourceVersion is the source version the destination reflected
	// before the run (-1: none).
	PreviousSourceVersion int64 `json:"previousSourceVersion"`
	// SourceVersion is the source version the destination reflects now.
	SourceVersion int64 `json:"sourceVersion"`
	// DestinationVersion is the destination's latest version after the run
	// (in a dry run: before it).
	DestinationVersion int64 `json:"destinationVersion"`
	// CommitsWritten counts the destination commits this run wrote;
	// CommitsSkipped those another clone had already written (a race).
	CommitsWritten int `json:"commitsWritten"`
	CommitsSkipped int `json:"commitsSkipped"`
	// FilesPresent counts referenced files that were already at the
	// destination with the right size (a resumed or raced clone) and were
	// not copied again.
	FilesPresent int `json:"filesPresent"`
	// FilesMissing counts files of replayed commits that the source no
	// longer has (vacuumed after being removed); they are not live at the
	// cloned version, so they are skipped with a warning.
	FilesMissing int     `json:"filesMissing"`
	Metrics      Metrics `json:"metrics"`
	DryRun       bool    `json:"dryRun"`
	// Fast is set when the whole run took the replica fast path: it read
	// the new source commits and wrote them, without loading either table's
	// state (except the replica's, once per source checkpoint, to write the
	// replica's checkpoint). See docs/replicate.md.
	Fast       bool          `json:"fast"`
	Planned    []PlannedFile `json:"planned,omitempty"`
	DurationMS int64         `json:"durationMs"`
}

// Clone brings the table in dst up to date with the table in src, as of the
// latest source version or the one opts selects. See the package comment for
// the three destination states and what each run does in them.
//
// Clone is safe to rerun after any failure and safe to run concurrently with
// another Clone into the same destination: files are copied and verified
// before the commit that references them, and every destination commit
// carries the clone txn, so a commit is never written twice.
func Clone(ctx context.Context, src, dst storage.Bucket, opts *Options) (*Result, error) {
	start := time.Now()
	c := newCloner(src, dst, opts)
	if src.URL() == dst.URL() {
		return nil, fmt.Errorf("%w: %s", ErrSameLocation, src.URL())
	}
	if c.opts.Version != nil && c.opts.Timestamp != nil {
		return nil, errors.New("replicate: Version and Timestamp are mutually exclusive")
	}
	if err := c.run(ctx); err != nil {
		return nil, err
	}
	c.res.DurationMS = time.Since(start).Milliseconds()
	return c.res, nil
}

// cloner holds one run's state.
type cloner struct {
	src, dst storage.Bucket
	opts     Options
	log      *slog.Logger
	res      *Result

	srcT      *table.Table
	srcLatest *table.Snapshot
	appID     string
	target    int64
	// sizesKnown: Result.Metrics holds the source's live files at the
	// target, which the target's commit then records in its tags.
	sizesKnown bool
	// handedOff: the fast path replayed some commits, then left the rest
	// to the full path.
	handedOff bool
}

func newCloner(src, dst storage.Bucket, opts *Options) *cloner {
	c := &cloner{src: src, dst: dst}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Parallel <= 0 {
		c.opts.Parallel = DefaultParallel
	}
	c.log = c.opts.Logger
	if c.log == nil {
		c.log = slog.Default()
	}
	c.res = &Result{Source: src.URL(), Destination: dst.URL(), PreviousSourceVersion: -1, DestinationVersion: -1, DryRun: c.opts.DryRun}
	return c
}

// run tries the replica fast path, which costs the new commits only, and
// otherwise (or from where the fast path stopped) takes the full path.
func (c *cloner) run(ctx context.Context) error {
	done, err := c.fastReplica(ctx)
	if err != nil || done {
		return err
	}
	prev := c.res.PreviousSourceVersion
	if err := c.full(ctx); err != nil {
		return err
	}
	if c.handedOff {
		// The fast path replayed a prefix before handing over: report the
		// source version the destination reflected before this run.
		c.res.PreviousSourceVersion = prev
	}
	return nil
}

// full brings the destination up to date with both tables opened: it
// handles every destination state.
func (c *cloner) full(ctx context.Context) error {
	var err error
	topts := &table.Options{Logger: c.log}
	if c.srcT, err = table.Open(ctx, c.src, topts); err != nil {
		return fmt.Errorf("replicate: open source %s: %w", c.src.URL(), err)
	}
	if c.srcLatest, err = c.srcT.Snapshot(ctx); err != nil {
		return fmt.Errorf("replicate: source %s: %w", c.src.URL(), err)
	}
	switch {
	case c.opts.Version != nil:
		c.target = *c.opts.Version
		if c.target < 0 || c.target > c.srcLatest.Version() {
			return fmt.Errorf("replicate: source %s: %w: version %d (latest is %d)", c.src.URL(), table.ErrVersionNotFound, c.target, c.srcLatest.Version())
		}
	case c.opts.Timestamp != nil:
		if c.target, err = c.srcT.VersionAsOf(ctx, *c.opts.Timestamp); err != nil {
			return fmt.Errorf("replicate: source %s: %w", c.src.URL(), err)
		}
	default:
		c.target = c.srcLatest.Version()
	}
	c.res.SourceTableID = c.srcLatest.Metadata().ID
	c.appID = AppIDPrefix + c.res.SourceTableID
	c.res.SourceVersion = c.target

	dstT, err := table.Open(ctx, c.dst, topts)
	if errors.Is(err, table.ErrNoTable) {
		c.res.Mode = ModeInitial
		return c.initial(ctx)
	}
	if err != nil {
		return fmt.Errorf("replicate: open destination %s: %w", c.dst.URL(), err)
	}
	dstSnap, err := dstT.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
	c.res.DestinationVersion = dstSnap.Version()
	recorded, ok := dstSnap.AppVersion(c.appID)
	if !ok {
		return fmt.Errorf("%w: %s has no txn for %s (table id %s)", ErrNotClone, c.dst.URL(), c.appID, dstSnap.Metadata().ID)
	}
	c.res.PreviousSourceVersion = recorded
	c.res.Mode = ModeFork
	if dstSnap.Version() == recorded {
		c.res.Mode = ModeReplica
		if err := c.ensureCloneCommit(ctx, dstSnap); err != nil {
			return err
		}
	}
	if c.target < recorded {
		return fmt.Errorf("%w: %s reflects source version %d, requested %d", ErrAhead, c.dst.URL(), recorded, c.target)
	}
	c.metricsFromSource(ctx)
	if c.target == recorded {
		c.log.Info("clone: destination is up to date", "source", c.src.URL(), "destination", c.dst.URL(), "version", recorded)
		return nil
	}
	return c.replay(ctx, dstT, recorded)
}

// metricsFromSource fills the source-size metrics from the cloned version's
// snapshot. For an older version that costs a snapshot load, which is only
// worth it when the caller asked for that version.
func (c *cloner) metricsFromSource(ctx context.Context) {
	snap := c.srcLatest
	if c.target != snap.Version() {
		s, err := c.srcT.SnapshotAt(ctx, c.target)
		if err != nil {
			c.log.Warn("clone: cannot load source snapshot for metrics", "version", c.target, "err", err)
			return
		}
		snap = s
	}
	c.res.Metrics.SourceTableSize = snap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(snap.Files()))
	c.sizesKnown = true
}

// sourceSnapshot returns the source snapshot at the target version.
func (c *cloner) sourceSnapshot(ctx context.Context) (*table.Snapshot, error) {
	if c.target == c.srcLatest.Version() {
		return c.srcLatest, nil
	}
	s, err := c.srcT.SnapshotAt(ctx, c.target)
	if err != nil {
		return nil, fmt.Errorf("replicate: source %s version %d: %w", c.src.URL(), c.target, err)
	}
	return s, nil
}

// tags are the clone tags of a commit reflecting source version v.
func (c *cloner) tags(base map[string]string, v int64) map[string]string {
	t := maps.Clone(base)
	if t == nil {
		t = map[string]string{}
	}
	t[TagSource] = c.src.URL()
	t[TagSourceVersion] = strconv.FormatInt(v, 10)
	return t
}

// initial clones the source's state at the target version into an empty
// destination: copy the live files, then write checkpoint V (V > 0: the log
// starts there, as the Delta protocol allows), then commit V put-if-absent.
// Commit V is the "clone done" marker; the checkpoint alone already makes
// the table readable at V, which a rerun detects and completes
// (ensureCloneCommit).
func (c *cloner) initial(ctx context.Context) error {
	snap, err := c.sourceSnapshot(ctx)
	if err != nil {
		return err
	}
	files := snap.Files()
	c.res.Metrics.SourceTableSize = snap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(files))
	var jobs []copyJob
	for _, f := range files {
		jobs = append(jobs, copyJob{path: f.Path, size: f.Size})
	}
	if err := c.copyFiles(ctx, jobs, nil); err != nil {
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
	written, err := c.writeCloneCommit(ctx, c.target, c.commitTime(ctx, snap), state)
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

// commitTime is the source's commit time of snap's version, read from that
// commit (a snapshot loaded from a checkpoint of its version only knows the
// checkpoint file's time). The replica fast path checks it against the
// source's commit to recognize its source.
func (c *cloner) commitTime(ctx context.Context, snap *table.Snapshot) int64 {
	v := snap.Version()
	if chs, err := c.srcT.Changes(ctx, v-1, v, 1); err == nil && len(chs) == 1 && chs[0].Version == v {
		return chs[0].Timestamp.UnixMilli()
	}
	return snap.Timestamp().UnixMilli()
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
	_, err := c.dst.Stat(ctx, table.CommitKey(v))
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
	c.log.Warn("clone: completing an interrupted initial clone", "destination", c.dst.URL(), "version", v)
	if c.opts.DryRun {
		return nil
	}
	c.res.Metrics.SourceTableSize = dstSnap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(dstSnap.Files()))
	state := stateActions(dstSnap, c.appID, v)
	written, err := c.writeCloneCommit(ctx, v, dstSnap.Timestamp().UnixMilli(), state)
	if written {
		c.res.CommitsWritten++
	}
	return err
}

// replay copies and commits the source commits after `recorded` up to the
// target, a batch at a time: the batch's files are copied in parallel, then
// its commits are written one by one, in order.
func (c *cloner) replay(ctx context.Context, dstT *table.Table, recorded int64) error {
	after := recorded
	for after < c.target {
		changes, err := c.srcT.Changes(ctx, after, c.target, replayBatch)
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
		for _, r := range srcSnap.Tombstones() {
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
