package table

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/loglake/loglake/storage"
)

// Commit is one transaction to write.
type Commit struct {
	// Actions are the data actions: add, remove, and metaData/protocol for
	// schema or property changes. commitInfo and txn are added by Commit.
	Actions []Action
	// Operation, Parameters and Metrics go to commitInfo (e.g. "WRITE",
	// "STREAMING UPDATE", "OPTIMIZE").
	Operation  string
	Parameters map[string]any
	Metrics    map[string]any
	// AppID and AppVersion, when AppID is set, add txn{AppID, AppVersion} to
	// the commit. If the table already holds a txn for AppID at AppVersion or
	// later, Commit returns ErrAlreadyCommitted and writes nothing.
	AppID      string
	AppVersion int64
	// ExactVersion demands the commit land at exactly Version; losing that
	// race returns ErrConflict (replicas keep their source's versions).
	ExactVersion bool
	Version      int64
	// CommitInfo, when set, is written instead of a generated one (a clone
	// replays the source commit's provenance); txnId is still set.
	CommitInfo *CommitInfo
	// ReadFiles are the paths of live files the transaction read to decide
	// what to write (DELETE reads the files its predicate may match and
	// rewrites only some of them). A concurrent remove of any of them, or of
	// a file the commit removes, is a conflict: see checkConflict.
	ReadFiles []string
	// CatchUp reads the commits that landed after the read snapshot before
	// the first attempt, checking them as if a race had been lost, so the
	// first put-if-absent goes to the head of the log. For callers whose
	// read snapshot is likely stale by the time they commit (egress writes
	// its data files in between, while other regions commit): it saves a
	// lost PUT per commit, at one GET when nothing landed. Ignored with
	// ExactVersion.
	CatchUp bool
	// WrittenSince is when the caller began writing the data files the
	// commit adds (zero: when Commit is called). A commit whose files are
	// older than half the table's deleted-file retention (at least the
	// VACUUM grace) is refused (ErrConflict) rather than name files a
	// VACUUM may have deleted as orphans: see filesFresh.
	WrittenSince time.Time
}

// Commit writes c as the next version after read, with optimistic
// concurrency: the commit file is created put-if-absent; when another writer
// won that version, the winning commit is checked for logical conflicts and
// the commit is retried at the following version with jittered backoff. It
// never gives up silently: it returns the version it committed at, or an
// error (ErrConflict, ErrAlreadyCommitted, storage or context errors).
//
// read may be nil only with ExactVersion: the commit is then checked against
// whatever landed at that version and nothing else, which lets a replica
// replay commits without loading its snapshot (the caller vouches that the
// table's protocol is writable, as the replayed source's was).
func (t *Table) Commit(ctx context.Context, read *Snapshot, c *Commit) (int64, error) {
	if err := t.writable("commit"); err != nil {
		return -1, err
	}
	if read != nil && read.noTombstones {
		return -1, fmt.Errorf("%w: cannot commit on a snapshot read without its tombstones", ErrReadOnly)
	}
	if read == nil && !c.ExactVersion {
		return -1, errors.New("table: Commit without a read snapshot needs ExactVersion")
	}
	readVersion := c.Version - 1
	var md, readMD *Metadata
	var proto *Protocol
	if read != nil {
		readVersion, md, readMD, proto = read.version, read.metadata, read.metadata, read.protocol
		if err := checkWrite(read.protocol, read.metadata); err != nil {
			return -1, err
		}
		if c.AppID != "" {
			if v, ok := read.AppVersion(c.AppID); ok && v >= c.AppVersion {
				return -1, fmt.Errorf("%w: %s version %d (table has %d)", ErrAlreadyCommitted, c.AppID, c.AppVersion, v)
			}
		}
	}
	dataActions, err := t.upgradeProtocol(read, c, proto)
	if err != nil {
		return -1, err
	}
	for i, a := range dataActions {
		if a.MetaData != nil {
			md = a.MetaData
		}
		// Never write a path every reader (this one included) refuses.
		if err := dataActions[i].checkPaths(); err != nil {
			return -1, err
		}
	}
	for _, a := range dataActions {
		if a.Protocol != nil {
			if err := checkWrite(a.Protocol, md); err != nil {
				return -1, err
			}
		}
	}
	if read != nil {
		// The table's rules as they stand and as this commit leaves them.
		if err := checkCommit(dataActions, readMD, md); err != nil {
			return -1, err
		}
	}
	ci := c.CommitInfo
	if ci == nil {
		ci = t.commitInfo(c, readVersion, isBlindAppend(c.Actions))
	} else {
		cp := *ci
		ci = &cp
	}
	ci.TxnID = uuid.NewString()
	// A replayed commit (ExactVersion) keeps its source's timestamp;
	// a new one comes after the commits before it.
	stampAfter := func(prev int64) bool { return !c.ExactVersion && ci.after(prev) }
	if read != nil {
		stampAfter(read.commitTime)
	}
	actions := make([]Action, 0, len(c.Actions)+2)
	actions = append(actions, Action{CommitInfo: ci})
	if c.AppID != "" {
		now := t.now().UnixMilli()
		actions = append(actions, Action{Txn: &Txn{AppID: c.AppID, Version: c.AppVersion, LastUpdated: &now}})
	}
	actions = append(actions, dataActions...)
	if !c.ExactVersion {
		stampRemoves(actions, ci.Timestamp)
	}
	data, err := encodeCommit(actions)
	if err != nil {
		return -1, err
	}

	version := readVersion + 1
	if c.ExactVersion {
		version = c.Version
	}
	cst := newConflictState(c, readMD)
	// winners are the commits other writers landed after read, as the
	// conflict checks read them: the snapshot after this commit is read's
	// state plus them plus this commit, so none is read twice.
	var winners []commit
	transient, races := 0, 0
	// restamp moves the commit's timestamp past the winners' and encodes
	// it again when a writer with a later clock got there first.
	restamp := func(ws []commit) error {
		moved := false
		for _, w := range ws {
			moved = stampAfter(w.timestamp) || moved
		}
		if moved {
			stampRemoves(actions, ci.Timestamp)
			data, err = encodeCommit(actions)
		}
		return err
	}
	if c.CatchUp && !c.ExactVersion && read != nil {
		if winners, err = t.catchUp(ctx, c, cst, version); err != nil {
			return -1, err
		}
		version += int64(len(winners))
		if err := restamp(winners); err != nil {
			return -1, err
		}
	}
	started := t.now()
	for attempt := 1; ; attempt++ {
		if err := t.filesFresh(read, c, started); err != nil {
			return -1, err
		}
		put := time.Now()
		err := t.bucket.PutIfAbsent(ctx, CommitKey(version), data)
		rtt := time.Since(put)
		if err == nil {
			if err := t.checkNotCleaned(ctx, read, version, c, dataActions); err != nil {
				return -1, err
			}
			t.committed(ctx, version, attempt, commitMD(md, cst), read, winners, data, len(actions))
			return version, nil
		}
		if !errors.Is(err, storage.ErrExists) {
			// A transient failure may hide a write that landed: look before
			// trying again, so the commit is never written twice.
			if transient++; !errors.Is(err, storage.ErrTransient) || transient > maxTransient {
				return -1, fmt.Errorf("commit version %d: %w", version, err)
			}
			if err := sleepJitter(ctx, transient+4); err != nil {
				return -1, err
			}
		}
		winner, err := readCommitAt(ctx, t.bucket, version)
		if errors.Is(err, ErrVersionNotFound) {
			continue // the failed write did not land; try the same version again
		}
		if err != nil {
			return -1, fmt.Errorf("commit version %d: reading the winning commit: %w", version, err)
		}
		if commitTxnID(winner.actions) == ci.TxnID {
			// Our own earlier attempt landed but its response was lost.
			t.committed(ctx, version, attempt, commitMD(md, cst), read, winners, data, len(actions))
			return version, nil
		}
		if t.hooks.Conflict != nil {
			t.hooks.Conflict(version)
		}
		if err := checkConflict(c, cst, winner.actions, version); err != nil {
			return -1, err
		}
		winners = append(winners, winner)
		if c.ExactVersion {
			return -1, fmt.Errorf("%w: version %d was written by another writer", ErrConflict, version)
		}
		// Back off, then jump to the head of the log, checking every commit
		// on the way, so a writer that lost a race retries at a free version
		// instead of walking the log one version at a time.
		if err := sleepRace(ctx, races, rtt); err != nil {
			return -1, err
		}
		races++
		caught, err := t.catchUp(ctx, c, cst, version+1)
		if err != nil {
			return -1, err
		}
		winners = append(winners, caught...)
		version += 1 + int64(len(caught))
		if err := restamp(append(caught, winner)); err != nil {
			return -1, err
		}
		t.log.Debug("commit lost a version race; retrying", "version", version, "attempt", attempt)
	}
}

// upgradeProtocol returns c's actions, with a protocol action added (or
// raised) when a metaData action in them needs a higher protocol than the
// table's (proto) — a timestamp_ntz column, a CHECK constraint, … — so
// schema evolution always writes the protocol its columns need. Commits
// replayed from another table (no read snapshot, or the source's
// commitInfo) are kept exactly as they are.
func (t *Table) upgradeProtocol(read *Snapshot, c *Commit, proto *Protocol) ([]Action, error) {
	if read == nil || c.CommitInfo != nil {
		return c.Actions, nil
	}
	mdIdx, protoIdx := -1, -1
	for i, a := range c.Actions {
		if a.MetaData != nil {
			mdIdx = i
		}
		if a.Protocol != nil {
			protoIdx, proto = i, a.Protocol
		}
	}
	if mdIdx < 0 {
		return c.Actions, nil
	}
	sch, err := ParseSchema(c.Actions[mdIdx].MetaData.SchemaString)
	if err != nil {
		return nil, err
	}
	req := requiredProtocol(proto, c.Actions[mdIdx].MetaData, sch)
	if protocolEqual(req, proto) {
		return c.Actions, nil
	}
	out := make([]Action, 0, len(c.Actions)+1)
	if protoIdx < 0 {
		out = append(out, Action{Protocol: req})
	}
	for i, a := range c.Actions {
		if i == protoIdx {
			a = Action{Protocol: req}
		}
		out = append(out, a)
	}
	return out, nil
}

// checkNotCleaned catches a writer slower than the log retention: log
// cleanup may have deleted its version (and the ones before) under a newer
// checkpoint while it was in flight, so its put-if-absent "won" a version
// every reader skips, and the commit would be silently lost. Cleanup deletes
// version v-1 only once a checkpoint past it is older than the retention,
// so the check (one Stat) is made only when this commit comes later than
// half the retention after its read version was committed (half: room for
// clock skew between writers). Cleanup deletes only below a checkpoint and
// never deletes the newest one, so no checkpoint past the version (one
// listing of the log from it) proves the version was never cleaned, hence
// free. (Commit v-1 existing proves nothing: another slow writer's stray
// commit may stand in a cleaned v-1 until it deletes it — the fleet
// benchmark lost commits that way.) Otherwise the commit counts only if
// the latest snapshot shows it; if not, it fails with ErrConflict and the
// caller retries on a fresh snapshot (the commits in between are gone, so
// conflicts with them cannot be checked).
func (t *Table) checkNotCleaned(ctx context.Context, read *Snapshot, version int64, c *Commit, actions []Action) error {
	if version == 0 {
		return nil
	}
	if read != nil && !t.mayBeCleaned(read) {
		return nil
	}
	files, err := listLog(ctx, t.bucket, version+1, -1)
	if err != nil || !slices.ContainsFunc(files, logFile.isCheckpoint) {
		return nil // never cleaned (or unknown: the usual case, assume so)
	}
	latest, err := newTable(t.bucket, &Options{Now: t.now, NoLogCleanup: true}).Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("commit version %d: the log before it is gone; reading the latest snapshot: %w", version, err)
	}
	if latest.version >= version && shows(latest, c, actions) {
		return nil
	}
	// Below a checkpoint no reader looks at it; the next cleanup would
	// delete it anyway.
	_ = t.bucket.Delete(ctx, CommitKey(version))
	return fmt.Errorf("%w: version %d had been cleaned from the log (a checkpoint past it exists) while this commit was in flight; retry on a fresh snapshot", ErrConflict, version)
}

// shows reports whether snap holds the effect of a commit of c's actions:
// its txn, if it has one, and its first added file (live or since
// removed). A commit with neither is taken as shown (nothing tells it
// apart).
func shows(snap *Snapshot, c *Commit, actions []Action) bool {
	if c.AppID != "" {
		if v, ok := snap.AppVersion(c.AppID); !ok || v < c.AppVersion {
			return false
		}
		// The txn may stand for another writer's commit of the same
		// batch (two ingesters racing, one into a cleaned version): only
		// this commit's own first file proves it is the one that counts.
		// (A file since compacted away with its tombstone expired reads
		// as not shown: the caller retries, and the txn makes that a
		// no-op.)
	}
	for _, a := range actions {
		if a.Add == nil {
			continue
		}
		_, live := snap.files.Get(a.Add.Path)
		_, removed := snap.tombstones.Get(a.Add.Path)
		return live || removed
	}
	return true
}

// catchUp checks the commits from version `from` to the head of the log for
// conflicts with c and returns them; the next free version follows them.
func (t *Table) catchUp(ctx context.Context, c *Commit, cst *conflictState, from int64) ([]commit, error) {
	commits, err := readCommitsFrom(ctx, t.bucket, from, 0)
	if err != nil {
		return nil, err
	}
	for _, w := range commits {
		if err := checkConflict(c, cst, w.actions, w.version); err != nil {
			return nil, err
		}
	}
	return commits, nil
}

// commitMD is the table's metadata after a commit: c's own, else the one a
// tolerated concurrent ADD COLUMNS installed, else the one c read.
func commitMD(md *Metadata, cst *conflictState) *Metadata {
	if cst.ownMD != nil || cst.md == nil {
		return md
	}
	return cst.md
}

// maxTransient bounds consecutive transient storage failures in one commit;
// the storage layer has already retried each of them.
const maxTransient = 8

// bigCommitActions is the number of actions from which a commit is
// checkpointed whatever its version (see bigCommit).
const bigCommitActions = 1000

// bigCommit reports whether a commit of n actions leaving snap should be
// checkpointed although its version is not a multiple of the interval. Every
// reader until the next checkpoint decodes the commit's JSON, several times
// the cost per action of a checkpoint row: an OPTIMIZE of 10,000 small
// files would otherwise add ~0.2 CPU-s to every snapshot load for up to 99
// versions. Writing a checkpoint at any version is legal (PROTOCOL.md: any
// writer may checkpoint any version); the bound on the checkpoint's size
// keeps a large append to a much larger table from rewriting all of it.
func bigCommit(n int, snap *Snapshot) bool {
	return n >= bigCommitActions && snap.files.Len()+snap.tombstones.Len() <= 3*n
}

// committed runs after a successful commit of n actions: hooks, the cached
// snapshot moved to version, and a checkpoint every delta.checkpointInterval
// versions or after a big commit (bigCommit). Checkpoint failures are
// logged, not returned: the commit itself is durable and a later writer
// checkpoints.
func (t *Table) committed(ctx context.Context, version int64, attempts int, md *Metadata, read *Snapshot, winners []commit, data []byte, n int) {
	if t.hooks.Committed != nil {
		t.hooks.Committed(version, attempts)
	}
	t.mu.Lock()
	cached := t.latest != nil
	t.mu.Unlock()
	periodic := version > 0 && version%checkpointInterval(md) == 0
	// A big commit is considered only when the snapshot it read already
	// shows the checkpoint would be small enough: a writer without one (a
	// Handle replaying commits) never loads a snapshot for it.
	due := periodic || (version > 0 && read != nil && bigCommit(n, read))
	if !cached && !due {
		return // a Handle: keep commits at the cost of the commit alone
	}
	var err error
	var snap *Snapshot
	if len(winners) == 0 || read == nil || !t.mayBeCleaned(read) {
		// Winners read from a snapshot older than half the log retention
		// may include a stray commit (see refresh): the snapshot, and a
		// checkpoint of it, then come from a fresh read of the log.
		snap = afterCommit(read, winners, version, data, t.now())
	}
	if snap != nil {
		t.mu.Lock()
		if t.latest == nil || snap.version > t.latest.version {
			t.latest = snap
		}
		t.mu.Unlock()
	} else if snap, err = t.Snapshot(ctx); err != nil {
		t.log.Warn("refresh after commit failed", "version", version, "err", err)
		return
	}
	if !due {
		return
	}
	if snap.version != version {
		if snap, err = t.SnapshotAt(ctx, version); err != nil {
			t.log.Warn("checkpoint: loading snapshot failed", "version", version, "err", err)
			return
		}
	}
	if !periodic && !bigCommit(n, snap) {
		return
	}
	actions, err := snap.checkpointActions(t.now())
	if err == nil {
		err = WriteCheckpoint(ctx, t.bucket, version, actions)
	}
	if err != nil {
		t.log.Warn("checkpoint failed", "version", version, "err", err)
		return
	}
	if !t.noLogCleanup {
		if _, err := t.CleanupLog(ctx, nil); err != nil {
			t.log.Warn("log cleanup failed", "version", version, "err", err)
		}
	}
}

// conflictState is what checkConflict carries from one winning commit to the
// next while a commit catches up with the log.
type conflictState struct {
	// md is the table's metadata as of the last commit checked: the one c
	// was planned against at first, then any a winner tolerated installed.
	md *Metadata
	// ownMD is c's own metaData action, if any; ownMDAdditive reports that
	// it only adds columns (appendsStayValid against c's read metadata).
	ownMD         *Metadata
	ownMDAdditive bool
}

func newConflictState(c *Commit, readMD *Metadata) *conflictState {
	st := &conflictState{md: readMD}
	for _, a := range c.Actions {
		if a.MetaData != nil {
			st.ownMD = a.MetaData
		}
	}
	st.ownMDAdditive = st.ownMD != nil && appendsStayValid(readMD, st.ownMD)
	return st
}

// afterCommit derives the snapshot at version, which this writer just
// committed (data), from the snapshot it read and the winners it read on the
// way, without reading anything again. It returns nil when they do not
// reach from read to version (no read snapshot, an exact-version commit
// past it) or the result is not a readable table; the caller then refreshes.
// Tombstones expired at now go, as a checkpoint written at now drops them.
func afterCommit(read *Snapshot, winners []commit, version int64, data []byte, now time.Time) *Snapshot {
	if read == nil || read.version+int64(len(winners))+1 != version {
		return nil
	}
	// Through the cache: the other handles on this table (other regions in
	// this process) will read these same bytes and share this decode.
	own, err := commits.decode(data)
	if err != nil {
		return nil
	}
	next := read.clone()
	for _, w := range winners {
		next.apply(w.actions)
		next.version, next.commitTime = w.version, w.timestamp
	}
	next.apply(own)
	next.version, next.commitTime = version, commitTimestamp(own, time.Time{})
	next.expireTombstones(now)
	if next.validate() != nil {
		return nil
	}
	return next
}

// checkConflict decides whether c can be retried after winner took version.
// These are Delta's WriteSerializable rules (Delta's ConflictChecker), which
// loglake documents in docs/maintenance.md and docs/egress.md:
//
//   - A protocol change by the winner conflicts with every commit: c was
//     planned against features that changed.
//   - A metaData change by the winner conflicts with c, except when it only
//     adds nullable columns or changes properties other than constraints
//     and column mapping (appendsStayValid: same partitioning, constraints
//     and existing columns) and c changes no metadata itself:
//     c's files, written with the old schema, read the new columns as NULL
//     and stay valid, so c commits as it is (re-checked against the new
//     metadata's per-commit rules). Delta fails c here
//     (MetadataChangedException); loglake's finer rule lets an ADD COLUMNS
//     land while 50 regions append without making all of them re-plan.
//     Two metadata changes always conflict: the loser re-reads the schema
//     and recomputes its change (AddColumns does).
//   - A txn of c's own appId at or past c's version means c is already in
//     (ErrAlreadyCommitted); at a lower version, another instance of the
//     same stream moved on and c must re-plan (ErrConflict).
//   - A remove by the winner of a file c removes or read (ReadFiles)
//     conflicts: c's rewrite would resurrect or duplicate rows the winner
//     already rewrote or deleted. Two OPTIMIZEs or an OPTIMIZE and a DELETE
//     over the same files: exactly one wins.
//   - Adds by a winning blind append never conflict. Not for appends, not for
//     a rearrangement (every action dataChange=false: OPTIMIZE), not for a
//     DELETE, and not for a metadata change that only adds columns: rows
//     appended while a DELETE runs were not in the snapshot it read and
//     survive it, as in Delta under WriteSerializable. This is what lets
//     OPTIMIZE, DELETE and ADD COLUMNS commit while 50 regions append.
//   - Adds with dataChange=true conflict with a metadata change by c that
//     does more than add columns (a constraint, NOT NULL, a type or
//     partitioning change): the winner's rows were never checked against it,
//     as Delta's ADD CONSTRAINT reads the whole table.
//   - Adds with dataChange=true by a winner that is itself not a blind
//     append (another DELETE's rewritten files, a foreign UPDATE) conflict
//     with a data-changing, non-blind c: those rows were read by neither
//     side's predicate check, so c cannot show they do not match. A
//     rearrangement is never affected: it changes no data.
func checkConflict(c *Commit, st *conflictState, winner []Action, version int64) error {
	touched := map[string]bool{}
	hasProtocol := false
	for _, a := range c.Actions {
		if a.Remove != nil {
			touched[a.Remove.Path] = true
		}
		if a.Protocol != nil {
			hasProtocol = true
		}
	}
	for _, p := range c.ReadFiles {
		touched[p] = true
	}
	rewrite := !isBlindAppend(c.Actions) && changesData(c.Actions)
	winnerBlind := isBlindAppend(winner)
	var winnerMD *Metadata
	for _, w := range winner {
		switch {
		case w.Txn != nil && c.AppID != "" && w.Txn.AppID == c.AppID && w.Txn.Version >= c.AppVersion:
			return fmt.Errorf("%w: %s version %d committed concurrently at table version %d", ErrAlreadyCommitted, c.AppID, w.Txn.Version, version)
		case w.Txn != nil && c.AppID != "" && w.Txn.AppID == c.AppID:
			// Another instance of the same stream moved it on: our batch may
			// overlap what it wrote, so the caller must re-plan.
			return fmt.Errorf("%w: %s advanced to version %d concurrently at table version %d", ErrConflict, c.AppID, w.Txn.Version, version)
		case w.Protocol != nil:
			return fmt.Errorf("%w: protocol changed at version %d", ErrConflict, version)
		case w.MetaData != nil:
			winnerMD = w.MetaData
		case w.Remove != nil && touched[w.Remove.Path]:
			return fmt.Errorf("%w: %s, which this transaction read, was removed concurrently at version %d", ErrConflict, w.Remove.Path, version)
		case w.Add != nil && w.Add.DataChange && st.ownMD != nil && !st.ownMDAdditive:
			return fmt.Errorf("%w: data added concurrently at version %d to a table whose metadata this transaction changes", ErrConflict, version)
		case w.Add != nil && w.Add.DataChange && rewrite && !winnerBlind:
			return fmt.Errorf("%w: data rewritten concurrently at version %d", ErrConflict, version)
		}
	}
	if winnerMD != nil {
		if st.ownMD != nil || hasProtocol || !appendsStayValid(st.md, winnerMD) {
			return fmt.Errorf("%w: metadata changed at version %d", ErrConflict, version)
		}
		// The winner only added columns: c's data stays valid; the new
		// metadata's per-commit rules still apply to it.
		if err := checkCommit(c.Actions, winnerMD); err != nil {
			return fmt.Errorf("%w: metadata changed at version %d: %v", ErrConflict, version, err)
		}
		st.md = winnerMD
	}
	return nil
}

// changesData reports whether any add or remove of actions changes data
// (dataChange=true). A commit that only rearranges files (OPTIMIZE) does not.
func changesData(actions []Action) bool {
	for _, a := range actions {
		if (a.Add != nil && a.Add.DataChange) || (a.Remove != nil && a.Remove.DataChange) {
			return true
		}
	}
	return false
}

// isBlindAppend reports whether actions only add data.
func isBlindAppend(actions []Action) bool {
	for _, a := range actions {
		if a.Remove != nil || a.MetaData != nil || a.Protocol != nil {
			return false
		}
	}
	return true
}

func commitTxnID(actions []Action) string {
	for _, a := range actions {
		if a.CommitInfo != nil {
			return a.CommitInfo.TxnID
		}
	}
	return ""
}

// filesFresh refuses (ErrConflict) a commit whose data files may have been
// vacuumed as orphans before it lands: VACUUM keeps an orphan younger than
// both its retention and DefaultVacuumGrace. A commit that has waited half
// the grace for a free version gives up (a VACUUM forced down to the grace
// may run meanwhile); the files' whole life since c.WrittenSince (a long
// OPTIMIZE or DELETE) may reach half the table's deleted-file retention,
// which an unforced VACUUM keeps to. The caller writes its files again.
func (t *Table) filesFresh(read *Snapshot, c *Commit, started time.Time) error {
	now := t.now()
	if waited := now.Sub(started); waited > DefaultVacuumGrace/2 {
		return fmt.Errorf("%w: the commit waited %s for a free version; its files may be vacuumed as never committed, write them again", ErrConflict, waited.Round(time.Second))
	}
	if c.WrittenSince.IsZero() {
		return nil
	}
	limit := DefaultVacuumGrace
	if read != nil {
		if r, err := read.DeletedFileRetention(); err == nil {
			limit = max(limit, r)
		}
	}
	if age := now.Sub(c.WrittenSince); age > limit/2 {
		return fmt.Errorf("%w: the commit's files were written over %s, more than half the table's deleted-file retention (%s): they may be vacuumed as never committed, write them again", ErrConflict, age.Round(time.Second), limit)
	}
	return nil
}

// stampRemoves makes the deletion time of the commit's removes at least
// its timestamp ts. VACUUM measures the retention of a removed file from
// it: a remove stamped when its commit was planned (a DELETE that then
// lost version races for minutes) would expire before versions committed
// meanwhile, which still read the file. The caller's removes are copied,
// not changed.
func stampRemoves(actions []Action, ts int64) {
	for i, a := range actions {
		if r := a.Remove; r != nil && (r.DeletionTimestamp == nil || *r.DeletionTimestamp < ts) {
			cp := *r
			cp.DeletionTimestamp = &ts
			actions[i].Remove = &cp
		}
	}
}

// after moves ci's timestamp past prev (Unix ms) and reports whether it
// did. Time travel by timestamp searches commit times as a sorted sequence
// (as Delta's in-commit timestamps require of writers); the 50 writers of
// a central table stamp them with 50 clocks.
func (ci *CommitInfo) after(prev int64) bool {
	if ci.Timestamp > prev {
		return false
	}
	ci.Timestamp = prev + 1
	return true
}

func (t *Table) commitInfo(c *Commit, readVersion int64, blind bool) *CommitInfo {
	ci := &CommitInfo{
		Timestamp:           t.now().UnixMilli(),
		Operation:           c.Operation,
		OperationParameters: c.Parameters,
		OperationMetrics:    c.Metrics,
		EngineInfo:          Engine,
		IsBlindAppend:       &blind,
	}
	if ci.Operation == "" {
		ci.Operation = "WRITE"
	}
	if readVersion >= 0 {
		ci.ReadVersion = &readVersion
	}
	return ci
}

// maxRaceBackoff caps the backoff after a lost version race.
const maxRaceBackoff = 2 * time.Second

// sleepRace backs off after this writer lost `lost` version races in a row
// (0 for the first) and its put-if-absent took rtt: full jitter over a
// window of rtt, doubling with each race lost (capped at maxRaceBackoff).
// A round trip is how long one commit holds the head of the log, so the
// losers spread over about as many slots as there are writers contending —
// on a local disk (1 ms) as on a cloud store (50-100 ms) — instead of all
// retrying at once and losing again. A fixed millisecond window was three
// orders of magnitude too short for a cloud store.
func sleepRace(ctx context.Context, lost int, rtt time.Duration) error {
	window := min(max(rtt, time.Millisecond)<<min(lost, 16), maxRaceBackoff)
	d := time.Duration(rand.Int64N(int64(window) + 1))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// sleepJitter backs off between commit attempts: full jitter over an
// exponentially growing window capped at 250ms.
func sleepJitter(ctx context.Context, attempt int) error {
	window := time.Duration(1<<min(attempt, 8)) * time.Millisecond
	d := time.Duration(rand.Int64N(int64(window) + 1))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
