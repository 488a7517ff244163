package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// ErrNotEmpty: the destination holds files but no Delta table and is
	// not an interrupted clone of the source (cloning into a landing
	// folder would mix Parquet files into its logs).
	ErrNotEmpty = errors.New("replicate: destination is not empty and is not a Delta table")
	// ErrVerify: a copied file does not match its source (size or checksum).
	ErrVerify = errors.New("replicate: copied file does not match its source")
	// ErrSameLocation: source and destination are the same location.
	ErrSameLocation = errors.New("replicate: source and destination are the same location")
	// ErrMissingFile: a data file the source's log references is missing
	// from the source's storage.
	ErrMissingFile = errors.New("replicate: source data file is missing")
	// ErrDestinationFile: a file the clone would copy is already at the
	// destination, referenced by the destination's log, with other bytes
	// than the source's. A clone never overwrites or deletes such a file.
	ErrDestinationFile = errors.New("replicate: destination file referenced by its log differs from the source's")
	// ErrDiverged: the destination is a fork that removed data on its own
	// (DELETE, UPDATE, MERGE, overwrite) since the clone last wrote to it:
	// replaying the source's commits would bring back, or delete, rows the
	// fork decided about itself. A diverged fork is no longer cloned into;
	// see docs/live-fork.md.
	ErrDiverged = errors.New("replicate: destination has diverged from the source")
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
	FilesMissing int `json:"filesMissing"`
	// StateFilesCopied counts the objects of the source's pipeline state
	// (ingest manifests and index, egress route sets) copied into an exact
	// replica, so its writers can take over after a failover.
	StateFilesCopied int     `json:"stateFilesCopied"`
	Metrics          Metrics `json:"metrics"`
	DryRun           bool    `json:"dryRun"`
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
	// claimed: this run marked an empty destination as its initial clone's
	// (initialCloneKey).
	claimed bool
	// initialAt is the source version an initial clone copies: the target,
	// or the version another initial clone of the source claimed the
	// destination at (see claimOwner).
	initialAt int64
	// dstRefs holds the keys of the files the destination's log
	// references; nil until the destination's state is loaded.
	dstRefs map[string]bool
	// planned is, in a dry run into a fork, the destination as the commits
	// planned so far would leave it; nil before the first.
	planned *plannedFork
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
	if err != nil {
		return err
	}
	if !done {
		prev := c.res.PreviousSourceVersion
		if err := c.full(ctx); err != nil {
			return err
		}
		if c.handedOff {
			// The fast path replayed a prefix before handing over: report
			// the source version the destination reflected before this run.
			c.res.PreviousSourceVersion = prev
		}
	}
	if c.opts.DryRun || c.res.Mode != ModeInitial && c.res.Mode != ModeReplica {
		return nil
	}
	return c.syncPipelineState(ctx)
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
		c.setDestinationRefs(nil)
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
	if err := c.setDestinationRefs(dstSnap); err != nil {
		return fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
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
	if c.res.Mode == ModeFork && c.target > recorded {
		if err := c.checkDiverged(ctx, dstT, dstSnap.Version()); err != nil {
			return err
		}
	}
	if c.target == recorded {
		c.log.Info("clone: destination is up to date", "source", c.src.URL(), "destination", c.dst.URL(), "version", recorded)
		return nil
	}
	return c.replay(ctx, dstT, recorded)
}

// checkDiverged walks the destination's log back from head to the last
// commit a clone wrote (it carries the clone txn) and refuses, with
// ErrDiverged, a commit of the fork's own in between that removes data.
// Appends of its own (a live fork's egress route) are what a fork is for
// and are kept; what a removal of its own decided, a replay would undo.
func (c *cloner) checkDiverged(ctx context.Context, dstT *table.Table, head int64) error {
	_, err := c.walkBack(ctx, dstT, head, func(ch table.Change) (bool, error) {
		if c.byClone(ch) {
			return true, nil // the last clone commit
		}
		removes := slices.ContainsFunc(ch.Actions, func(a table.Action) bool { return a.Remove != nil && a.Remove.DataChange })
		if removes {
			op := ""
			if ci := ch.CommitInfo(); ci != nil {
				op = ci.Operation
			}
			return false, fmt.Errorf("%w: %s version %d (%s) removes data on its own since the last clone commit; "+
				"cloning %s again would resurrect or delete rows the fork decided about. A diverged fork is "+
				"not cloned into: clone into a new location to re-fork (docs/live-fork.md)",
				ErrDiverged, c.dst.URL(), ch.Version, op, c.src.URL())
		}
		return false, nil
	})
	return err
}

// byClone reports whether a clone of this source wrote commit ch.
func (c *cloner) byClone(ch table.Change) bool {
	for _, a := range ch.Actions {
		if a.Txn != nil && a.Txn.AppID == c.appID {
			return true
		}
	}
	return false
}

// walkBack calls visit on the destination's commits from head back to the
// first its log holds, newest first, until visit reports done or fails. It
// reports whether visit was done.
func (c *cloner) walkBack(ctx context.Context, dstT *table.Table, head int64, visit func(table.Change) (done bool, err error)) (bool, error) {
	const chunk = 100
	for hi := head; hi >= 0; {
		lo := max(hi-chunk+1, 0)
		chs, err := dstT.Changes(ctx, lo-1, hi, 0)
		first := false // the log's first commit is in this chunk
		if errors.Is(err, table.ErrVersionNotFound) {
			first = true
			// The log starts inside this chunk (an initial clone starts it
			// at the source's version; cleanup removes a prefix): read it
			// one commit at a time down to its first.
			chs = nil
			for v := lo; v <= hi; v++ {
				one, err := dstT.Changes(ctx, v-1, v, 1)
				if errors.Is(err, table.ErrVersionNotFound) {
					continue
				}
				if err != nil {
					return false, fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
				}
				chs = append(chs, one...)
			}
		} else if err != nil {
			return false, fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
		}
		for i := len(chs) - 1; i >= 0; i-- {
			if done, err := visit(chs[i]); done || err != nil {
				return done, err
			}
		}
		if first {
			return false, nil
		}
		hi = lo - 1
	}
	return false, nil
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
