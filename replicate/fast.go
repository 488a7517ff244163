package replicate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// The replica fast path brings an exact replica up to date at the cost of
// the source commits it replays, whatever the size of the table: neither
// table is opened (no checkpoint decoded, no snapshot built), nothing is
// listed, and no old commit is read again. What it reads:
//
//   - the destination's _last_checkpoint hint, a few Stats of commit files
//     after it to find the latest commit (probeLatest), and the head of that
//     commit (its actions before the first file action);
//   - the head of the source's commit at the same version, to check it is
//     the commit the replica holds (same commit timestamp; same table id if
//     it carries metaData);
//   - the source's commits after it, until the first missing one (one Stat
//     tells "nothing new" apart without a listing);
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
// change, deletion vectors, a file the source no longer has, a commit of
// the destination's own landing meanwhile — goes to the full path, from the
// first commit the fast path did not write.

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
	latest, ok, err := probeLatest(ctx, c.dst)
	if err != nil {
		return false, fmt.Errorf("replicate: destination %s: %w", c.dst.URL(), err)
	}
	if !ok {
		// The probe has no commit to start from (no table, or an
		// interrupted initial clone, or a cleaned-up hint): list the log.
		if latest, err = table.Handle(c.dst, topts).LatestVersion(ctx); err != nil {
			return decline("destination latest version", "err", err)
		}
	}
	headCh, err := readHead(ctx, c.dst, latest)
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
		if _, err := c.src.Stat(ctx, table.CommitKey(upTo)); upTo < 0 || err != nil {
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
	srcHead, err := readHead(ctx, c.src, head.version)
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

	after := head.version
	for upTo < 0 || after < upTo {
		// One Stat tells "nothing new" from "new commits" without the
		// listing Changes would do to tell "nothing new" from "cleaned up".
		if _, err := c.src.Stat(ctx, table.CommitKey(after+1)); errors.Is(err, storage.ErrNotFound) {
			if upTo >= 0 {
				return c.handOff("source log changed under the clone", after)
			}
			break
		} else if err != nil {
			return false, fmt.Errorf("replicate: source %s: %w", c.src.URL(), err)
		}
		changes, err := srcH.Changes(ctx, after, upTo, replayBatch)
		if err != nil || len(changes) == 0 || changes[0].Version != after+1 {
			return c.handOff("source log changed under the clone", after)
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

// probeWindow is how many commit files probeLatest Stats at once.
const probeWindow = 8

// probeLatest finds the newest commit of the log in b without listing it
// (on some backends a listing costs the number of objects beside the log,
// and the replica's data files are never to be listed): from the
// _last_checkpoint hint (or version 0) it Stats commit files, galloping
// forward then bisecting, probeWindow at a time — a few round trips for the
// commits since the last checkpoint. It relies on the log being contiguous
// after a commit that exists (log cleanup deletes a prefix), so it returns
// ok=false when the commit it starts from is missing.
func probeLatest(ctx context.Context, b storage.Bucket) (int64, bool, error) {
	lo, ok := lastCheckpointVersion(ctx, b)
	if !ok {
		lo = 0
	}
	probe := func(vs []int64) ([]bool, error) {
		found := make([]bool, len(vs))
		g, gctx := errgroup.WithContext(ctx)
		for i, v := range vs {
			g.Go(func() error {
				_, err := b.Stat(gctx, table.CommitKey(v))
				switch {
				case err == nil:
					found[i] = true
				case !errors.Is(err, storage.ErrNotFound):
					return err
				}
				return nil
			})
		}
		return found, g.Wait()
	}
	// Gallop: lo, lo+1, lo+2, lo+4, ... until one is missing.
	hi := int64(-1)
	for first, step := true, int64(1); hi < 0; first = false {
		vs := make([]int64, 0, probeWindow)
		if first {
			vs = append(vs, lo)
		}
		for len(vs) < probeWindow {
			vs = append(vs, lo+step)
			step *= 2
		}
		found, err := probe(vs)
		if err != nil {
			return 0, false, err
		}
		if first && !found[0] {
			return 0, false, nil
		}
		for i, v := range vs {
			if !found[i] {
				hi = v
				break
			}
			lo = v
		}
	}
	// Bisect (lo exists, hi does not), probeWindow points at a time.
	for hi-lo > 1 {
		n := min(int64(probeWindow), hi-lo-1)
		vs := make([]int64, n)
		for i := range vs {
			vs[i] = lo + (hi-lo)*int64(i+1)/(n+1)
		}
		found, err := probe(vs)
		if err != nil {
			return 0, false, err
		}
		for i, v := range vs {
			if !found[i] {
				hi = v
				break
			}
			lo = v
		}
	}
	return lo, true, nil
}

// readHead reads commit v of b up to its first file action (add, remove,
// cdc). commitInfo, protocol, metaData and txns come before the file actions
// in the commits loglake writes (and in those of most writers), and the rest
// of a large commit (a CLONE commit lists every file) is not needed, so it
// is not fetched. The timestamp is the commit's as table.Changes gives it,
// provided the commitInfo comes before the files.
func readHead(ctx context.Context, b storage.Bucket, v int64) (table.Change, error) {
	ch := table.Change{Version: v}
	r, err := b.NewReader(ctx, table.CommitKey(v), 0, -1)
	if err != nil {
		return ch, err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var a table.Action
			if err := json.Unmarshal(line, &a); err != nil {
				return ch, fmt.Errorf("%w: commit %d: %v", table.ErrCorrupt, v, err)
			}
			if a.Add != nil || a.Remove != nil || a.CDC != nil {
				break
			}
			ch.Actions = append(ch.Actions, a)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return ch, rerr
		}
	}
	for _, a := range ch.Actions {
		if ci := a.CommitInfo; ci != nil {
			switch {
			case ci.InCommitTimestamp != nil:
				ch.Timestamp = time.UnixMilli(*ci.InCommitTimestamp).UTC()
			case ci.Timestamp > 0:
				ch.Timestamp = time.UnixMilli(ci.Timestamp).UTC()
			}
			break
		}
	}
	if ch.Timestamp.IsZero() {
		o, err := b.Stat(ctx, table.CommitKey(v))
		if err != nil {
			return ch, err
		}
		ch.Timestamp = time.UnixMilli(o.ModTime.UnixMilli()).UTC()
	}
	return ch, nil
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
			case a.Add != nil && len(a.Add.DeletionVector) > 0, a.Remove != nil && len(a.Remove.DeletionVector) > 0:
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

// lastCheckpointVersion reads the version of b's _last_checkpoint hint.
func lastCheckpointVersion(ctx context.Context, b storage.Bucket) (int64, bool) {
	data, err := b.Get(ctx, "_delta_log/_last_checkpoint")
	if err != nil {
		return 0, false
	}
	var lc struct {
		Version *int64 `json:"version"`
	}
	if json.Unmarshal(data, &lc) != nil || lc.Version == nil || *lc.Version < 0 {
		return 0, false
	}
	return *lc.Version, true
}

// mirrorCheckpoint gives the replica a checkpoint where the source has its
// latest one, so readers of the replica replay as few commits as readers of
// the source (the fast path writes commits itself and so does not get
// table.Commit's checkpoints). Writing one loads the replica's state at
// that version: that cost comes once per source checkpoint interval. A
// failure is logged, not returned: checkpoints only speed up reading.
func (c *cloner) mirrorCheckpoint(ctx context.Context) {
	l, ok := lastCheckpointVersion(ctx, c.src)
	if !ok || l > c.res.DestinationVersion {
		return
	}
	if d, ok := lastCheckpointVersion(ctx, c.dst); ok && d >= l {
		return
	}
	snap, err := table.Handle(c.dst, &table.Options{Logger: c.log}).SnapshotAt(ctx, l)
	if err != nil {
		c.log.Warn("clone: cannot load the replica's state for its checkpoint", "version", l, "err", err)
		return
	}
	if err := table.WriteCheckpoint(ctx, c.dst, l, checkpointActions(snap)); err != nil {
		c.log.Warn("clone: checkpoint of the replica failed", "version", l, "err", err)
	}
}

// checkpointActions is snap's full state, as a checkpoint stores it.
func checkpointActions(snap *table.Snapshot) []table.Action {
	txns := snap.Txns()
	tomb := snap.Tombstones()
	out := make([]table.Action, 0, 2+len(txns)+len(snap.Files())+len(tomb))
	out = append(out, table.Action{Protocol: snap.Protocol()}, table.Action{MetaData: snap.Metadata()})
	for _, id := range slices.Sorted(maps.Keys(txns)) {
		t := txns[id]
		out = append(out, table.Action{Txn: &t})
	}
	for _, f := range snap.Files() {
		out = append(out, table.Action{Add: f})
	}
	for _, r := range tomb {
		out = append(out, table.Action{Remove: r})
	}
	return out
}
