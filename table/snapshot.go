package table

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/benbjohnson/immutable"

	"github.com/loglake/loglake/storage"
)

// pathOrder orders the persistent maps by path, as Files and checkpoints list
// them.
type pathOrder struct{}

func (pathOrder) Compare(a, b string) int { return cmpString(a, b) }

// fileMap and tombstoneMap are persistent (structurally shared) maps by path:
// a snapshot derived from another shares every node its commits did not
// touch, so advancing a snapshot costs O(actions × log files), not a copy of
// every live file, and the older snapshot, which readers may still hold,
// never changes. They are B+trees, so Files and checkpoints list them in
// path order without sorting.
type (
	fileMap      = immutable.SortedMap[string, *Add]
	tombstoneMap = immutable.SortedMap[string, *Remove]
)

// Snapshot is the immutable state of a table at one version.
type Snapshot struct {
	bucket     storage.Bucket
	version    int64
	protocol   *Protocol
	metadata   *Metadata
	files      *fileMap
	tombstones *tombstoneMap
	// noTombstones: the snapshot was loaded read-only (Options.ReadOnly)
	// without the checkpoint's tombstones, so tombstones holds only those of
	// the commits after it.
	noTombstones bool
	txns         map[string]Txn
	// While a snapshot is built from nothing (a checkpoint and the commits
	// after it), nothing else sees it: fb and tb then build files and
	// tombstones in place, without the copy per insert that sharing needs.
	// seal turns them into the maps.
	fb *immutable.SortedMapBuilder[string, *Add]
	tb *immutable.SortedMapBuilder[string, *Remove]
	// commitTime is the version's commit timestamp (commitInfo.timestamp or
	// the file's modification time), Unix ms.
	commitTime int64
	// deletionVectors is set when a live file may carry a deletion vector.
	deletionVectors bool
	// tombstoneFloor is at or below every tombstone's deletionTimestamp
	// (Unix ms; 0: not known), so expireTombstones skips its scan while
	// nothing can have expired.
	tombstoneFloor int64

	// The schema and the sorted file list are built on first use, apart:
	// every append asks for the schema, and sorting all live files for it
	// made each commit cost O(n log n) in the table's file count (the
	// fleet benchmark's 100,000-file central table).
	once     sync.Once
	schema   *Schema
	schemaEr error

	sortOnce sync.Once
	sorted   []*Add

	statsMu    sync.Mutex
	statsParts map[string]*partStats // by statsPartKey (see statsOf)
}

// Version is the snapshot's table version.
func (s *Snapshot) Version() int64 { return s.version }

// Protocol is the table's protocol at this version.
func (s *Snapshot) Protocol() *Protocol { return s.protocol }

// Metadata is the table's metadata at this version.
func (s *Snapshot) Metadata() *Metadata { return s.metadata }

// Timestamp is the commit time of this version.
func (s *Snapshot) Timestamp() time.Time { return time.UnixMilli(s.commitTime).UTC() }

// Schema is the table's logical schema.
func (s *Snapshot) Schema() (*Schema, error) {
	s.init()
	return s.schema, s.schemaEr
}

// Files returns the live data files, sorted by path. The slice is shared:
// callers must not modify it.
func (s *Snapshot) Files() []*Add {
	s.sortOnce.Do(func() {
		s.sorted = make([]*Add, 0, s.files.Len())
		for it := s.files.Iterator(); !it.Done(); {
			_, f, _ := it.Next()
			s.sorted = append(s.sorted, f)
		}
	})
	return s.sorted
}

// Live reports whether path is a live data file of the snapshot.
func (s *Snapshot) Live(path string) bool {
	_, ok := s.files.Get(path)
	return ok
}

// Tombstones returns the removed files still remembered by the log, sorted by
// path (VACUUM and checkpoints use them). A snapshot of a table opened
// read-only does not know them: ErrReadOnly.
func (s *Snapshot) Tombstones() ([]*Remove, error) {
	if s.noTombstones {
		return nil, fmt.Errorf("%w: the snapshot was read without its tombstones", ErrReadOnly)
	}
	return s.tombstoneList(), nil
}

func (s *Snapshot) tombstoneList() []*Remove {
	out := make([]*Remove, 0, s.tombstones.Len())
	for it := s.tombstones.Iterator(); !it.Done(); {
		_, r, _ := it.Next()
		out = append(out, r)
	}
	return out
}

// AppVersion returns the latest version committed by appID's stream.
func (s *Snapshot) AppVersion(appID string) (int64, bool) {
	t, ok := s.txns[appID]
	return t.Version, ok
}

// Txns returns every application's latest transaction.
func (s *Snapshot) Txns() map[string]Txn { return maps.Clone(s.txns) }

// NumRecords sums numRecords over the files' stats; ok is false when any file
// lacks stats. No column's statistics are decoded for it.
func (s *Snapshot) NumRecords() (n int64, ok bool) {
	for _, st := range s.StatsOf(s.Files(), &StatsPart{NoBounds: true}) {
		if st == nil {
			return 0, false
		}
		n += st.NumRecords
	}
	return n, true
}

// SizeBytes sums the live files' sizes.
func (s *Snapshot) SizeBytes() int64 {
	var n int64
	for _, f := range s.Files() {
		n += f.Size
	}
	return n
}

func (s *Snapshot) init() {
	s.once.Do(func() {
		if s.metadata != nil {
			s.schema, s.schemaEr = ParseSchema(s.metadata.SchemaString)
		} else {
			s.schemaEr = fmt.Errorf("%w: no metaData action", ErrCorrupt)
		}
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// actions returns the snapshot's state as actions, in the order a checkpoint
// stores them; a snapshot without its tombstones has no such state.
func (s *Snapshot) actions() ([]Action, error) {
	if s.noTombstones {
		return nil, fmt.Errorf("%w: no checkpoint of a snapshot read without its tombstones", ErrReadOnly)
	}
	out := make([]Action, 0, 2+len(s.txns)+s.files.Len()+s.tombstones.Len())
	out = append(out, Action{Protocol: s.protocol}, Action{MetaData: s.metadata})
	for _, id := range slices.Sorted(maps.Keys(s.txns)) {
		t := s.txns[id]
		out = append(out, Action{Txn: &t})
	}
	for _, f := range s.Files() {
		out = append(out, Action{Add: f})
	}
	for _, r := range s.tombstoneList() {
		out = append(out, Action{Remove: r})
	}
	return out, nil
}

// clone starts a newer snapshot derived from s without touching s: files
// and tombstones are shared (apply replaces them by changed copies); txns,
// one entry per writing application, is copied.
func (s *Snapshot) clone() *Snapshot {
	s.seal()
	return &Snapshot{
		bucket:     s.bucket,
		version:    s.version,
		protocol:   s.protocol,
		metadata:   s.metadata,
		files:      s.files,
		tombstones: s.tombstones,
		txns:       maps.Clone(s.txns),
		commitTime: s.commitTime,

		noTombstones: s.noTombstones,

		deletionVectors: s.deletionVectors,
		tombstoneFloor:  s.tombstoneFloor,
	}
}

// apply replays one commit's actions onto a snapshot no reader holds yet
// (one from emptySnapshot or clone).
func (s *Snapshot) apply(actions []Action) {
	for i := range actions {
		a := &actions[i]
		switch {
		case a.Add != nil:
			if s.fb != nil {
				s.fb.Set(a.Add.Path, a.Add)
				s.tb.Delete(a.Add.Path)
			} else {
				s.files = s.files.Set(a.Add.Path, a.Add)
				s.tombstones = s.tombstones.Delete(a.Add.Path)
			}
			if a.Add.DeletionVector != nil {
				s.deletionVectors = true
			}
		case a.Remove != nil:
			if s.fb != nil {
				s.fb.Delete(a.Remove.Path)
				s.tb.Set(a.Remove.Path, a.Remove)
			} else {
				s.files = s.files.Delete(a.Remove.Path)
				s.tombstones = s.tombstones.Set(a.Remove.Path, a.Remove)
			}
			if ts := a.Remove.DeletionTimestamp; ts != nil && *ts < s.tombstoneFloor {
				s.tombstoneFloor = *ts
			}
		case a.Txn != nil:
			s.txns[a.Txn.AppID] = *a.Txn
		case a.MetaData != nil:
			s.metadata = a.MetaData
		case a.Protocol != nil:
			s.protocol = a.Protocol
		}
	}
}

// commitTimestamp is a commit's timestamp: inCommitTimestamp, else
// commitInfo.timestamp, else the file's modification time.
// A zero modTime yields 0 when the commit carries no timestamp.
func commitTimestamp(actions []Action, modTime time.Time) int64 {
	for _, a := range actions {
		if ci := a.CommitInfo; ci != nil {
			if ci.InCommitTimestamp != nil {
				return *ci.InCommitTimestamp
			}
			if ci.Timestamp > 0 {
				return ci.Timestamp
			}
		}
	}
	if modTime.IsZero() {
		return 0
	}
	return modTime.UnixMilli()
}

// emptySnapshot is the state before version 0, to be built up by apply and
// sealed before anyone else sees it; without tombstones, it is to be built
// from a checkpoint read without them (a read-only table's).
func emptySnapshot(b storage.Bucket, tombstones bool) *Snapshot {
	return &Snapshot{
		bucket:       b,
		version:      -1,
		fb:           immutable.NewSortedMapBuilder[string, *Add](pathOrder{}),
		tb:           immutable.NewSortedMapBuilder[string, *Remove](pathOrder{}),
		txns:         map[string]Txn{},
		noTombstones: !tombstones,
	}
}

// seal ends building in place: from here on files and tombstones only
// change by copy, so the snapshot can be shared.
func (s *Snapshot) seal() {
	if s.fb != nil {
		s.files, s.tombstones = s.fb.Map(), s.tb.Map()
		s.fb, s.tb = nil, nil
	}
}

// loadFromHint builds the latest snapshot from the checkpoint that
// _last_checkpoint names and the commits probed after it, without listing
// the log: on stores where listing reads the whole directory (file://),
// that keeps opening independent of the history's length. A hint that does
// not hold up (missing parts, no commit at or after it) is an error; the
// caller then lists.
func loadFromHint(ctx context.Context, b storage.Bucket, lc lastCheckpoint, now time.Time, tombstones bool) (*Snapshot, error) {
	parts := []logFile{{version: lc.Version, key: fmt.Sprintf("%s%020d.checkpoint.parquet", logDir, lc.Version), part: 1, parts: 1}}
	if lc.Parts != nil && *lc.Parts > 1 {
		parts = parts[:0]
		for i := 1; i <= *lc.Parts; i++ {
			parts = append(parts, logFile{version: lc.Version, part: i, parts: *lc.Parts,
				key: fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", logDir, lc.Version, i, *lc.Parts)})
		}
	}
	s := emptySnapshot(b, tombstones)
	actions, err := readCheckpoint(ctx, b, parts, tombstones)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", lc.Version, err)
	}
	s.apply(actions)
	s.version = lc.Version
	commits, err := readCommitsFrom(ctx, b, lc.Version+1, 0)
	if err != nil {
		return nil, err
	}
	// Log cleanup removes the oldest commits only, so the log is one
	// contiguous run of commits: if commit C+1 exists, the probe saw the
	// whole tail; if C+1 is missing but C exists, C is the latest version.
	// Otherwise the hint is stale and its successors were cleaned up.
	var hintTime int64
	if len(commits) == 0 {
		// The checkpoint already holds commit C's state: only its
		// existence and timestamp are needed, not its actions (after an
		// OPTIMIZE, tens of thousands of removes).
		ts, err := readCommitTime(ctx, b, lc.Version)
		if err != nil {
			return nil, fmt.Errorf("stale _last_checkpoint %d: %w", lc.Version, err)
		}
		s.commitTime, hintTime = ts, ts
	} else {
		hintTime, _, _ = readCommitHeadTime(ctx, b, lc.Version) // 0: unknown
	}
	for _, c := range commits {
		s.apply(c.actions)
		s.version, s.commitTime = c.version, c.timestamp
	}
	// A hint can lag behind the newest checkpoint (it is written after the
	// checkpoint, by whichever writer got there, and may be an older one's),
	// and log cleanup deletes oldest first while this probe reads: commits
	// read after a lagging hint may end at a gap cleanup has just made, or
	// at a stray (a writer slower than the retention put it into a cleaned
	// version, see checkNotCleaned). The snapshot would then stop short of
	// the table, with a stray's fresh timestamp that tells a writer its log
	// cannot have been cleaned, and every commit it made next went into
	// cleaned versions, reported as committed and lost (BenchmarkFleet lost
	// whole regions' batches so). A checkpoint past the snapshot shows the
	// hint was overtaken: the caller then lists the log. The listing costs
	// the length of the log on backends that cannot start a listing at a
	// key (Azure, file://), so it is skipped when cleanup cannot have
	// touched the commits after the hint (hintInsideRetention).
	if !s.hintInsideRetention(hintTime, now) {
		files, err := listLog(ctx, b, s.version+1, -1)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(files, logFile.isCheckpoint) {
			return nil, fmt.Errorf("stale _last_checkpoint %d: a checkpoint past version %d exists", lc.Version, s.version)
		}
	}
	s.seal()
	return s, s.validate()
}

// hintInsideRetention reports whether log cleanup cannot have deleted a
// commit after the hint's version, committed at hintTime (Unix ms, 0:
// unknown). Cleanup deletes a version only when it or a later one was
// committed before its now minus delta.logRetentionDuration, and commit
// times grow with the version; so if the hint's commit is younger than
// half the retention by this reader's clock (the other half absorbs clock
// skew between writers), every commit after it is still there: the ones
// read are the whole tail, and none of them can be a stray in a cleaned
// version.
func (s *Snapshot) hintInsideRetention(hintTime int64, now time.Time) bool {
	retain, err := s.LogRetention()
	if err != nil || hintTime <= 0 {
		return false
	}
	return now.Sub(time.UnixMilli(hintTime)) < retain/2
}

// loadSnapshot replays a segment into a snapshot, with or without its
// tombstones.
func loadSnapshot(ctx context.Context, b storage.Bucket, seg segment, tombstones bool) (*Snapshot, error) {
	s := emptySnapshot(b, tombstones)
	if len(seg.checkpoint) > 0 {
		actions, err := readCheckpoint(ctx, b, seg.checkpoint, tombstones)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", seg.checkpoint[0].version, err)
		}
		s.apply(actions)
		s.version = seg.checkpoint[0].version
		if len(seg.commits) == 0 {
			// The version's commit time, as every other load has it: the
			// next commit's timestamp is stamped after it (not the
			// checkpoint file's time, written later by any writer's clock).
			ts, err := readCommitTime(ctx, b, s.version)
			if err != nil {
				// The commit may be cleaned up already: the checkpoint's
				// time is the best left.
				ts = seg.checkpoint[0].modTime.UnixMilli()
			}
			s.commitTime = ts
		}
	}
	if err := s.replay(ctx, seg.commits); err != nil {
		return nil, err
	}
	s.seal()
	return s, s.validate()
}

// replay applies commits in order. Commits are fetched up to 16 at a time
// because object stores reward parallel GETs; they are applied strictly in
// order.
func (s *Snapshot) replay(ctx context.Context, commits []logFile) error {
	type result struct {
		actions []Action
		err     error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan result, len(commits))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	go func() {
		sem := make(chan struct{}, 16)
		for i, f := range commits {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				a, err := readCommit(ctx, s.bucket, f.version)
				results[i] <- result{a, err}
				<-sem
			}()
		}
	}()
	for i, f := range commits {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		s.apply(r.actions)
		s.version = f.version
		s.commitTime = commitTimestamp(r.actions, f.modTime)
	}
	return nil
}

// validate checks the replayed state is a readable table.
func (s *Snapshot) validate() error {
	if s.protocol == nil || s.metadata == nil {
		return fmt.Errorf("%w: version %d has no protocol or metaData", ErrCorrupt, s.version)
	}
	if err := checkRead(s.protocol, s.metadata); err != nil {
		return err
	}
	if s.deletionVectors {
		return &FeatureError{Feature: "deletionVectors", Op: "read"}
	}
	return nil
}
