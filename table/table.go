package table

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/loglake/loglake/storage"
)

// Engine is recorded as commitInfo.engineInfo.
var Engine = "loglake/0.1.0"

// Options configure a Table. The zero value is the documented default.
type Options struct {
	// Logger receives commit retries and checkpoint failures (default: discard).
	Logger *slog.Logger
	// Hooks observe commits; used for metrics.
	Hooks Hooks
	// NoLogCleanup turns off the expired-log cleanup that follows each
	// checkpoint; the region daemon sets it and runs CleanupLog itself,
	// bounded by what its egress routes have read.
	NoLogCleanup bool
	// Now is the clock of commit timestamps, txn lastUpdated, tombstones'
	// deletionTimestamp, checkpoint tombstone expiry and the default of
	// VACUUM and log cleanup (default time.Now). Simulations inject one to
	// live through days of history in minutes.
	Now func() time.Time
	// ReadOnly opens the table for reading only: its snapshots skip the
	// tombstones (the remove actions a checkpoint keeps for VACUUM until
	// delta.deletedFileRetentionDuration passes — after an OPTIMIZE most of
	// its rows, and most of the cost of opening the table), and Commit
	// (so Append, Optimize and Delete), Vacuum, CleanupLog and Tombstones
	// return ErrReadOnly.
	ReadOnly bool
}

// Hooks are called on commit events; any may be nil.
type Hooks struct {
	// Committed is called after a commit landed at version with attempts tries.
	Committed func(version int64, attempts int)
	// Conflict is called each time a commit attempt lost a version race.
	Conflict func(version int64)
}

// Table is a Delta table at one location. It caches the latest snapshot and
// refreshes it incrementally. Safe for concurrent use.
type Table struct {
	bucket       storage.Bucket
	log          *slog.Logger
	hooks        Hooks
	noLogCleanup bool
	readOnly     bool
	now          func() time.Time

	mu     sync.Mutex
	latest *Snapshot
}

func newTable(b storage.Bucket, opts *Options) *Table {
	t := &Table{bucket: b, log: slog.New(slog.DiscardHandler), now: time.Now}
	if opts != nil {
		if opts.Now != nil {
			t.now = opts.Now
		}
		if opts.Logger != nil {
			t.log = opts.Logger
		}
		t.hooks = opts.Hooks
		t.noLogCleanup = opts.NoLogCleanup
		t.readOnly = opts.ReadOnly
	}
	return t
}

// Open opens the table stored in b. It returns ErrNoTable when b has no
// Delta log, and ErrUnsupportedFeature when the table needs a feature
// loglake cannot read.
func Open(ctx context.Context, b storage.Bucket, opts *Options) (*Table, error) {
	t := newTable(b, opts)
	if _, err := t.Snapshot(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// OpenAt opens the table in b for time travel to version v: it reads the
// log only up to v, so commits after v (even a damaged one) do not stop a
// read of an older version.
func OpenAt(ctx context.Context, b storage.Bucket, opts *Options, v int64) (*Table, *Snapshot, error) {
	t := newTable(b, opts)
	s, err := t.SnapshotAt(ctx, v)
	if errors.Is(err, ErrVersionNotFound) {
		// An empty log is no table, not a missing version.
		if logged, lerr := HasLog(ctx, b); lerr == nil && !logged {
			return nil, nil, ErrNoTable
		}
	}
	if err != nil {
		return nil, nil, err
	}
	return t, s, nil
}

// CreateOptions describe a new table.
type CreateOptions struct {
	Schema           *Schema
	PartitionColumns []string
	Properties       map[string]string
	Name             string
	Description      string
}

// Create writes version 0 of a new table in b: the lowest protocol its
// columns and properties need (reader 1 / writer 2 by default; reader 3 /
// writer 7 with the timestampNtz feature for a timestamp_ntz column; writer
// 3 or 4 for CHECK constraints or the change data feed) and metaData. It
// returns ErrExists if a table is already there, and refuses before writing
// anything a table loglake could not then write correctly (a generated
// column, an invariant it cannot evaluate, …).
func Create(ctx context.Context, b storage.Bucket, c CreateOptions, opts *Options) (*Table, error) {
	if c.Schema == nil || len(c.Schema.Fields) == 0 {
		return nil, errors.New("table: create needs a schema with at least one field")
	}
	for _, p := range c.PartitionColumns {
		if c.Schema.Field(p) == nil {
			return nil, fmt.Errorf("table: partition column %q is not in the schema", p)
		}
	}
	t := newTable(b, opts)
	now := t.now().UnixMilli()
	md := &Metadata{
		ID:               uuid.NewString(),
		Format:           Format{Provider: "parquet", Options: map[string]string{}},
		SchemaString:     c.Schema.String(),
		PartitionColumns: append([]string{}, c.PartitionColumns...),
		Configuration:    map[string]string{},
		CreatedTime:      &now,
	}
	if md.PartitionColumns == nil {
		md.PartitionColumns = []string{}
	}
	for k, v := range c.Properties {
		md.Configuration[k] = v
	}
	if c.Name != "" {
		md.Name = &c.Name
	}
	if c.Description != "" {
		md.Description = &c.Description
	}
	proto := requiredProtocol(nil, md, c.Schema)
	if err := checkWrite(proto, md); err != nil {
		return nil, err
	}
	// A table no append of loglake's could write to is refused up front.
	if err := checkColumnFeatures(c.Schema.Fields, ""); err != nil {
		return nil, err
	}
	actions := []Action{{Protocol: proto}, {MetaData: md}}
	ci := t.commitInfo(&Commit{Operation: "CREATE TABLE", Parameters: map[string]any{
		"partitionBy": md.PartitionColumns, "properties": md.Configuration}}, -1, true)
	data, err := encodeCommit(append([]Action{{CommitInfo: ci}}, actions...))
	if err != nil {
		return nil, err
	}
	if err := b.PutIfAbsent(ctx, CommitKey(0), data); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return nil, ErrExists
		}
		return nil, err
	}
	if _, err := t.Snapshot(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// Handle returns a Table for b without reading its log. Methods that need
// state load it on first use; Changes, LatestVersion, History and Commit with
// ExactVersion never do, so a caller that only tails or replays the log pays
// for the new commits alone, whatever the size of the table.
func Handle(b storage.Bucket, opts *Options) *Table { return newTable(b, opts) }

// LatestVersion returns the newest committed version, found from the
// _last_checkpoint hint and a listing of the log after it (not a snapshot).
func (t *Table) LatestVersion(ctx context.Context) (int64, error) {
	t.mu.Lock()
	cur := t.latest
	t.mu.Unlock()
	from := int64(0)
	if cur != nil {
		from = cur.version
	} else if lc, ok, err := readLastCheckpoint(ctx, t.bucket); err != nil {
		return -1, err
	} else if ok {
		from = lc.Version
	}
	latest := int64(-1)
	for {
		files, err := listLog(ctx, t.bucket, from, -1)
		if err != nil {
			return -1, err
		}
		for _, f := range files {
			if !f.isCheckpoint() {
				latest = max(latest, f.version)
			}
		}
		if latest >= 0 || from == 0 {
			break
		}
		from = 0 // stale hint: the log after it is gone; list it all
	}
	if latest < 0 {
		// A replica's log may start at a checkpoint with its commit.
		return -1, ErrNoTable
	}
	return latest, nil
}

// writable refuses op on a table opened with Options.ReadOnly.
func (t *Table) writable(op string) error {
	if t.readOnly {
		return fmt.Errorf("%w: cannot %s", ErrReadOnly, op)
	}
	return nil
}

// Bucket is the table's storage location.
func (t *Table) Bucket() storage.Bucket { return t.bucket }

// Snapshot returns the latest snapshot, refreshing the cached one with only
// the commits written since.
func (t *Table) Snapshot(ctx context.Context) (*Snapshot, error) {
	t.mu.Lock()
	cur := t.latest
	t.mu.Unlock()
	var next *Snapshot
	var err error
	if cur == nil {
		next, err = t.load(ctx, -1)
	} else {
		next, err = t.refresh(ctx, cur)
	}
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.latest == nil || next.version > t.latest.version {
		t.latest = next
	}
	next = t.latest
	t.mu.Unlock()
	return next, nil
}

// load builds the snapshot at version (-1: latest) from checkpoint + commits.
func (t *Table) load(ctx context.Context, version int64) (*Snapshot, error) {
	if version < 0 {
		if lc, ok, err := readLastCheckpoint(ctx, t.bucket); err != nil {
			return nil, err
		} else if ok {
			s, err := loadFromHint(ctx, t.bucket, lc, t.now(), !t.readOnly)
			if err == nil || ctx.Err() != nil {
				return s, err
			}
			t.log.Debug("opening from _last_checkpoint failed; listing the log", "err", err)
		}
	}
	for attempt := 1; ; attempt++ {
		seg, err := findSegment(ctx, t.bucket, version)
		if err != nil {
			return nil, err
		}
		s, err := loadSnapshot(ctx, t.bucket, seg, !t.readOnly)
		if version < 0 && errors.Is(err, ErrVersionNotFound) && attempt < 3 {
			// Log cleanup deleted a listed commit under a newer checkpoint
			// while it was being read (a short delta.logRetentionDuration):
			// list again, from that checkpoint.
			t.log.Debug("a listed commit was cleaned while loading; listing the log again", "err", err)
			continue
		}
		return s, err
	}
}

// refresh applies the commits after cur, read by probing the next commit
// files, so refreshing costs the number of new commits, not the history.
func (t *Table) refresh(ctx context.Context, cur *Snapshot) (*Snapshot, error) {
	commits, err := readCommitsFrom(ctx, t.bucket, cur.version+1, 0)
	if err != nil {
		return nil, err
	}
	if t.mayBeCleaned(cur) {
		// Log cleanup may have deleted the commits after cur under a newer
		// checkpoint: probing then finds nothing, or strays — a writer
		// slower than the log retention puts its commit into a version
		// cleanup deleted and deletes it only once it finds out
		// (checkNotCleaned), and the genuine commits from the checkpoint on
		// may follow it. Any checkpoint past cur may stand on versions
		// cleaned since cur: start over from the newest one, which never
		// holds a stray. The listing, not _last_checkpoint, tells: a slow
		// writer of an older checkpoint may have put the hint back. Only a
		// snapshot older than half the retention pays this listing.
		files, err := listLog(ctx, t.bucket, cur.version+1, -1)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(files, logFile.isCheckpoint) {
			return t.load(ctx, -1)
		}
	}
	if len(commits) == 0 {
		return cur, nil
	}
	next := cur.clone()
	for _, c := range commits {
		next.apply(c.actions)
		next.version, next.commitTime = c.version, c.timestamp
	}
	next.expireTombstones(t.now())
	return next, next.validate()
}

// mayBeCleaned reports whether log cleanup may have deleted the commits
// right after s: cleanup deletes a commit only once a checkpoint past it is
// older than the log retention, so not before half the retention (half:
// room for clock skew between writers) has passed since s was committed.
func (t *Table) mayBeCleaned(s *Snapshot) bool {
	if s.commitTime <= 0 {
		return true
	}
	retain, err := s.LogRetention()
	return err != nil || !t.now().Before(s.Timestamp().Add(retain/2))
}

// SnapshotAt returns the snapshot at version v (time travel).
func (t *Table) SnapshotAt(ctx context.Context, v int64) (*Snapshot, error) {
	if v < 0 {
		return nil, fmt.Errorf("%w: negative version %d", ErrVersionNotFound, v)
	}
	t.mu.Lock()
	cur := t.latest
	t.mu.Unlock()
	if cur != nil && cur.version == v {
		return cur, nil
	}
	return t.load(ctx, v)
}

// SnapshotAsOf returns the snapshot of the latest version committed at or
// before ts (time travel by timestamp).
func (t *Table) SnapshotAsOf(ctx context.Context, ts time.Time) (*Snapshot, error) {
	v, err := t.VersionAsOf(ctx, ts)
	if err != nil {
		return nil, err
	}
	return t.SnapshotAt(ctx, v)
}

// VersionAsOf finds the latest version whose commit timestamp is at or
// before ts, by binary search over the commits still in the log. A ts after
// the last commit is ErrVersionNotFound, as in Delta: the table may yet get
// a commit at that time, so the latest version would not be what the same
// read returns later.
func (t *Table) VersionAsOf(ctx context.Context, ts time.Time) (int64, error) {
	v, last, err := t.versionAtOrBefore(ctx, ts)
	if err != nil {
		return 0, err
	}
	if last > 0 && ts.UnixMilli() > last {
		return 0, fmt.Errorf("%w: %s is after the last commit (version %d at %s)", ErrVersionNotFound,
			ts.UTC().Format(time.RFC3339Nano), v, time.UnixMilli(last).UTC().Format(time.RFC3339Nano))
	}
	return v, nil
}

// versionAtOrBefore is VersionAsOf without the bound: a ts after the last
// commit is the last version. last is that version's commit time when v is
// the last version, else 0.
func (t *Table) versionAtOrBefore(ctx context.Context, ts time.Time) (v, last int64, err error) {
	files, err := listLog(ctx, t.bucket, 0, -1)
	if err != nil {
		return 0, 0, err
	}
	var commits []logFile
	for _, f := range files {
		if !f.isCheckpoint() {
			commits = append(commits, f)
		}
	}
	i, before, err := t.searchCommitTime(ctx, commits, ts.UnixMilli())
	if err != nil {
		return 0, 0, err
	}
	if i == 0 {
		return 0, 0, fmt.Errorf("%w: no version at or before %s", ErrVersionNotFound, ts.UTC().Format(time.RFC3339Nano))
	}
	if i == len(commits) {
		last = before
	}
	return commits[i-1].version, last, nil
}

func (t *Table) commitTime(ctx context.Context, f logFile) (int64, error) {
	actions, err := readCommit(ctx, t.bucket, f.version)
	if err != nil {
		return 0, err
	}
	return commitTimestamp(actions, f.modTime), nil
}

// Entry is one version in the table's history.
type Entry struct {
	Version   int64
	Timestamp time.Time
	// CommitInfo is nil when the commit has none. It is shared with every
	// reader of the commit in this process: callers must not modify it.
	CommitInfo *CommitInfo
}

// History returns the commits still in the log, newest first. limit <= 0
// means all.
func (t *Table) History(ctx context.Context, limit int) ([]Entry, error) {
	files, err := listLog(ctx, t.bucket, 0, -1)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for i := len(files) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		f := files[i]
		if f.isCheckpoint() {
			continue
		}
		actions, err := readCommit(ctx, t.bucket, f.version)
		if err != nil {
			return nil, err
		}
		e := Entry{Version: f.version, Timestamp: time.UnixMilli(commitTimestamp(actions, f.modTime)).UTC()}
		for _, a := range actions {
			if a.CommitInfo != nil {
				e.CommitInfo = a.CommitInfo
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// checkpointInterval reads delta.checkpointInterval (default 100).
func checkpointInterval(md *Metadata) int64 {
	if md != nil {
		if n, err := strconv.ParseInt(md.Configuration["delta.checkpointInterval"], 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// searchCommitTime returns the index i of the first of commits (in version
// order) whose commit time is after target milliseconds, and the commit
// time of commits[i-1] (0 when i is 0), reading as few commits as a binary
// search needs.
func (t *Table) searchCommitTime(ctx context.Context, commits []logFile, target int64) (int, int64, error) {
	var firstErr error
	var before int64
	i := sort.Search(len(commits), func(i int) bool {
		ct, err := t.commitTime(ctx, commits[i])
		if err != nil && firstErr == nil {
			firstErr = err
		}
		// The indices sort.Search finds at or before target only grow,
		// and the last of them is the result's i-1.
		if ct <= target {
			before = ct
		}
		return ct > target
	})
	return i, before, firstErr
}
