package replicate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/table"
)

// The replica fast path brings an exact replica up to date at the cost of
// the source commits it replays, whatever the size of the table: neither
// table is opened (no checkpoint decoded, no snapshot built), nothing is
// listed, and no old commit is read again. It reads the logs only through
// table's API (no _delta_log/ key is built here). What it reads:
//
//   - the destination's _last_checkpoint hint, a few Stats of commit files
//     after it to find the latest commit (table.ProbeLatest), and the head
//     of that commit (table.CommitHead: its actions before the first file
//     action);
//   - the head of the source's commit at the same version, to check it is
//     the commit the replica holds (same commit timestamp; same table id if
//     it carries metaData);
//   - the source's commits after it, through its gated change feed
//     (table.Feed), until the first missing one (one Stat tells "nothing
//     new" apart without a listing);
//   - a Stat (and a copy) per file those commits add, and the source's
//     _last_checkpoint hint.
//
// It applies only when the destination's latest commit says "I am an exact
// replica of this source": a clone txn whose version is that commit's own
// version, the TagSource and TagSourceVersion tags a clone writes naming
// this source URL and that version, and the source's live-file totals
// (TagSourceNumFiles, TagSourceTableSize). The source's table id is the one
// in that clone txn's appId; it is checked against every metaData action
// the fast path reads, and the source commit at the replica's version must
// carry the same timestamp as the replica's, which a recreated or different
// table at the same URL does not. Anything it cannot settle cheaply — no
// such commit, another source URL, a differing source commit, a protocol
// change, a commit the feed refuses, deletion vectors, a file the source no
// longer has, a file already at the destination with another size, a
// commit of the destination's own landing meanwhile — goes to the full
// path, from the first commit the fast path did not write.

// replicaHead is what the destination's latest commit says about the
// replica.
type replicaHead struct {
	version   int64
	timestamp time.Time
	appID     string
	sourceID  string
	files     int64 // source's live files at version
	size      int64 // and their bytes
}

// parseHead recognizes the latest destination commit ch as one a clone of
// this source wrote into an exact replica.
func (c *cloner) parseHead(ch table.Change) (replicaHead, bool) {
	h := replicaHead{version: ch.Version, timestamp: ch.Timestamp}
	var ci *table.CommitInfo
	mdID := ""
	for _, a := range ch.Actions {
		switch {
		case a.CommitInfo != nil:
			ci = a.CommitInfo
		case a.MetaData != nil:
			mdID = a.MetaData.ID
		case a.Txn != nil && strings.HasPrefix(a.Txn.AppID, AppIDPrefix) && a.Txn.Version == ch.Version:
			if h.appID != "" {
				return h, false // two candidate clone txns: let the full path decide
			}
			h.appID = a.Txn.AppID
		}
	}
	h.sourceID = strings.TrimPrefix(h.appID, AppIDPrefix)
	if h.sourceID == "" || ci == nil || (mdID != "" && mdID != h.sourceID) {
		return h, false
	}
	if ci.Tags[TagSource] != c.src.URL() || ci.Tags[TagSourceVersion] != strconv.FormatInt(ch.Version, 10) {
		return h, false
	}
	var err1, err2 error
	h.files, err1 = strconv.ParseInt(ci.Tags[TagSourceNumFiles], 10, 64)
	h.size, err2 = strconv.ParseInt(ci.Tags[TagSourceTableSize], 10, 64)
	return h, err1 == nil && err2 == nil && h.files >= 0 && h.size >= 0
}

// fastReplica runs the fast path. It returns true when it brought the
// destination up to date; false (with nothing or a prefix of the commits
// written) when the full path must take over.
func (c *cloner) fastReplica(ctx context.Context) (bool, error) {
	if c.opts.DryRun {
		return false, nil // a plan is rare and needs no speed; the full path plans it
	}
	topts := &table.Options{Logger: c.log}
	decline := func(why string, args ...any) (bool, error) {
		c.log.Debug("clone: not an exact replica of this source, or not cheaply provable; taking the full path",
			append([]any{"reason", why, "destination", c.dst.URL()}, args...)...)
		return false, nil
	}
	dstH := table.Handle(c.dst, topts)
	latest, ok, err := dstH.ProbeLatest(ctx)
	if err != nil {
		return false, fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
	if !ok {
		// The probe has no commit to start from (no table, or an
		// interrupted initial clone, or a cleaned-up hint): list the log.
		if latest, err = dstH.LatestVersion(ctx); err != nil {
			return decline("destination latest version", "err", err)
		}
	}
	headCh, err := dstH.CommitHead(ctx, latest)
	if err != nil {
		return decline("destination latest commit", "err", err)
	}
	head, ok := c.parseHead(headCh)
	if !ok {
		return decline("latest commit is not an exact-replica clone commit", "version", latest)
	}

	// The source is read forward from the replica's version: its commit
	// there (to check it is the one the replica holds), then the new ones
	// until the first missing one. No listing: log cleanup deletes a prefix
	// of the log, so while commit R is there, R+1.. are all there.
	srcH := table.Handle(c.src, topts)
	upTo := int64(-1) // -1: the latest
	switch {
	case c.opts.Version != nil:
		upTo = *c.opts.Version
		if ok, err := srcH.HasCommit(ctx, upTo); !ok || err != nil {
			return decline("requested version not in the source", "err", err)
		}
	case c.opts.Timestamp != nil:
		if upTo, err = srcH.VersionAsOf(ctx, *c.opts.Timestamp); err != nil {
			return decline("requested timestamp", "err", err)
		}
	}
	if upTo >= 0 && upTo < head.version {
		return decline("requested version is older than the replica's")
	}
	srcHead, err := srcH.CommitHead(ctx, head.version)
	if err != nil {
		return decline("source commit at the replica's version", "version", head.version, "err", err)
	}
	if !srcHead.Timestamp.Equal(head.timestamp) || !sameTable(srcHead, head.sourceID) {
		return decline("source commit differs from the replica's", "version", head.version)
	}

	c.appID = head.appID
	c.target = -1
	c.res.SourceTableID = head.sourceID
	c.res.Mode = ModeReplica
	c.res.PreviousSourceVersion = head.version
	c.res.SourceVersion = head.version
	c.res.DestinationVersion = head.version
	c.res.Metrics.SourceNumOfFiles, c.res.Metrics.SourceTableSize = head.files, head.size
	c.sizesKnown = true

	// The replica's state at its version went through a feed when it was
	// written, so the source's feed starts there without loading it; every
	// protocol and metaData change after it is gated.
	feed, err := srcH.Feed(ctx, head.version, &table.FeedOptions{Unloaded: true})
	if err != nil {
		return c.handOff("source change feed", head.version)
	}
	after := head.version
	for upTo < 0 || after < upTo {
		// One Stat tells "nothing new" from "new commits" without the
		// listing the feed would do to tell "nothing new" from "cleaned up".
		if ok, err := srcH.HasCommit(ctx, after+1); err != nil {
			return false, fmt.Errorf("replicate: source %s: %w", c.src.URL(), err)
		} else if !ok {
			if upTo >= 0 {
				return c.handOff("source log changed under the clone", after)
			}
			break
		}
		changes, err := feed.Next(ctx, upTo, replayBatch)
		if err != nil || len(changes) == 0 || changes[0].Version != after+1 {
			// A feature the feed refuses, or a log that changed: the full
			// path opens both tables and reports it.
			return c.handOff("source change feed stopped", after)
		}
		n, why := fastPrefix(changes, head.sourceID)
		if n > 0 {
			last, stop, err := c.fastBatch(ctx, changes[:n])
			if err != nil {
				return false, err
			}
			if stop != "" {
				return c.handOff(stop, last)
			}
			after = last
		}
		if n < len(changes) {
			return c.handOff(why, after)
		}
	}
	c.target = after
	c.res.SourceVersion = after
	c.res.Fast = true
	c.mirrorCheckpoint(ctx)
	if !c.sizesKnown {
		c.sourceSizes(ctx, srcH)
	}
	c.log.Info("clone: replica replay done", "source", c.src.URL(), "destination", c.dst.URL(),
		"from", head.version, "to", after, "commits", c.res.CommitsWritten, "copied_files", c.res.Metrics.NumCopiedFiles,
		"copied_bytes", c.res.Metrics.CopiedFilesSize)
	return true, nil
}

// handOff leaves the commits after `after` to the full path.
func (c *cloner) handOff(why string, after int64) (bool, error) {
	c.log.Info("clone: handing the rest of the replay to the full path", "reason", why, "after", after, "destination", c.dst.URL())
	c.handedOff = true
	c.sizesKnown = false
	return false, nil
}

// sameTable reports whether ch does not contradict that the source is the
// table with id: a metaData action in it must carry that id.
func sameTable(ch table.Change, id string) bool {
	for _, a := range ch.Actions {
		if a.MetaData != nil && a.MetaData.ID != id {
			return false
		}
	}
	return true
}

// fastPrefix returns how many of changes the fast path may replay: it stops
// at the first protocol change (the full path checks it against what
// loglake can write), deletion vector (whose files the clone does not copy,
// and which the full path refuses), or metaData of another table.
func fastPrefix(changes []table.Change, id string) (int, string) {
	for i, ch := range changes {
		if !sameTable(ch, id) {
			return i, "source commit carries another table's metaData"
		}
		for _, a := range ch.Actions {
			switch {
			case a.Protocol != nil:
				return i, "protocol change"
			case a.Add != nil && a.Add.DeletionVector != nil, a.Remove != nil && a.Remove.DeletionVector != nil:
				return i, "deletion vector"
			}
		}
	}
	return len(changes), ""
}

// fastBatch copies the files of changes, then writes each change at
// exactly its version. It returns the last version written (or found
// written by a racing clone), and why it stopped early when the full path
// must take over from there.
func (c *cloner) fastBatch(ctx context.Context, changes []table.Change) (last int64, stop string, err error) {
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
	present := c.res.FilesPresent
	if err := c.copyFiles(ctx, jobs, nil); errors.Is(err, ErrMissingFile) {
		// Removed and vacuumed later, or damage: only the source's
		// snapshot tells, so the full path judges it.
		c.log.Info("clone: a replayed file is gone from the source", "err", err)
		return changes[0].Version - 1, "a replayed file is gone from the source", nil
	} else if errors.Is(err, errNeedDestinationState) {
		c.log.Info("clone: a replayed file differs at the destination", "err", err)
		return changes[0].Version - 1, "a replayed file differs at the destination", nil
	} else if err != nil {
		return 0, "", err
	}
	if c.res.FilesPresent != present {
		// A file already there may be a re-added live file (not a new
		// one), so the running totals are no longer certain.
		c.sizesKnown = false
	}
	last = changes[0].Version - 1
	for _, ch := range changes {
		removes, removedSize := countRemoves(ch.Actions)
		c.advanceSizes(ch)
		commit := c.replayCommit(ch, nil)
		if c.sizesKnown {
			setSizeTags(commit.CommitInfo.Tags, c.res.Metrics.SourceNumOfFiles, c.res.Metrics.SourceTableSize)
		}
		written, err := c.commitExact(ctx, commit)
		switch {
		case errors.Is(err, table.ErrConflict):
			c.log.Warn("clone: destination received a commit of its own; continuing as a fork",
				"destination", c.dst.URL(), "version", ch.Version)
			return last, "the destination received a commit of its own", nil
		case err != nil:
			return last, "", err
		case written:
			c.res.CommitsWritten++
			c.res.Metrics.NumRemovedFiles += removes
			c.res.Metrics.RemovedFilesSize += removedSize
		default:
			c.res.CommitsSkipped++ // a racing clone wrote it first
		}
		last = ch.Version
		c.res.DestinationVersion = last
	}
	return last, "", nil
}

// advanceSizes moves the running source totals across ch: adds count in,
// removes count out. A remove without a size makes them unknown.
func (c *cloner) advanceSizes(ch table.Change) {
	if !c.sizesKnown {
		return
	}
	m := &c.res.Metrics
	for _, a := range ch.Actions {
		switch {
		case a.Add != nil:
			m.SourceNumOfFiles++
			m.SourceTableSize += a.Add.Size
		case a.Remove != nil && a.Remove.Size == nil:
			c.sizesKnown = false
			return
		case a.Remove != nil:
			m.SourceNumOfFiles--
			m.SourceTableSize -= *a.Remove.Size
		}
	}
	if m.SourceNumOfFiles < 0 || m.SourceTableSize < 0 {
		c.sizesKnown = false
	}
}

// sourceSizes computes the source's live totals at the target from its
// snapshot: only when the running totals became uncertain.
func (c *cloner) sourceSizes(ctx context.Context, srcH *table.Table) {
	snap, err := srcH.SnapshotAt(ctx, c.target)
	if err != nil {
		c.log.Warn("clone: cannot load source snapshot for metrics", "version", c.target, "err", err)
		c.res.Metrics.SourceNumOfFiles, c.res.Metrics.SourceTableSize = -1, -1
		return
	}
	c.res.Metrics.SourceTableSize = snap.SizeBytes()
	c.res.Metrics.SourceNumOfFiles = int64(len(snap.Files()))
}

func setSizeTags(tags map[string]string, files, size int64) {
	tags[TagSourceNumFiles] = strconv.FormatInt(files, 10)
	tags[TagSourceTableSize] = strconv.FormatInt(size, 10)
}

// commitExact writes cm at exactly destination version cm.Version through a
// table.Handle, which reads nothing of the destination but the commit that
// may already be at that version: our own earlier attempt whose response was
// lost (written), a racing clone's (not written, no error: the table holds
// our txn), or another writer's (table.ErrConflict).
func (c *cloner) commitExact(ctx context.Context, cm *table.Commit) (bool, error) {
	cm.ExactVersion = true
	_, err := table.Handle(c.dst, &table.Options{Logger: c.log}).Commit(ctx, nil, cm)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, table.ErrAlreadyCommitted):
		return false, nil
	}
	return false, err
}

// mirrorCheckpoint gives the replica a checkpoint where the source has its
// latest one, so readers of the replica replay as few commits as readers of
// the source (the fast path writes commits itself and so does not get
// table.Commit's checkpoints). Writing one loads the replica's state at
// that version: that cost comes once per source checkpoint interval. A
// failure is logged, not returned: checkpoints only speed up reading.
func (c *cloner) mirrorCheckpoint(ctx context.Context) {
	l, ok := table.Handle(c.src, nil).LastCheckpointVersion(ctx)
	if !ok || l > c.res.DestinationVersion {
		return
	}
	dstH := table.Handle(c.dst, &table.Options{Logger: c.log})
	if d, ok := dstH.LastCheckpointVersion(ctx); ok && d >= l {
		return
	}
	snap, err := dstH.SnapshotAt(ctx, l)
	if err != nil {
		c.log.Warn("clone: cannot load the replica's state for its checkpoint", "version", l, "err", err)
		return
	}
	if err := snap.WriteCheckpoint(ctx); err != nil {
		c.log.Warn("clone: checkpoint of the replica failed", "version", l, "err", err)
	}
}
