package table

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/storage"
)

const (
	logDir            = "_delta_log/"
	lastCheckpointKey = logDir + "_last_checkpoint"
)

// IsLogKey reports whether key is in the table's log (_delta_log/).
func IsLogKey(key string) bool { return strings.HasPrefix(key, logDir) }

// HasLog reports whether b holds any object of a table's log: a commit, a
// checkpoint or the hint, readable as a table or not (a checkpoint written
// before its commit).
func HasLog(ctx context.Context, b storage.Bucket) (bool, error) {
	_, err := b.List(ctx, logDir, "").Next(ctx)
	switch {
	case err == io.EOF:
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// CommitKey is the storage key of commit v: _delta_log/%020d.json.
func CommitKey(v int64) string { return fmt.Sprintf("%s%020d.json", logDir, v) }

// versionPrefix sorts just before every log file of version v, so listing
// after it yields versions >= v.
func versionPrefix(v int64) string { return fmt.Sprintf("%s%020d", logDir, v) }

// logFile is one file of _delta_log/ that log replay uses.
type logFile struct {
	version int64
	key     string
	// checkpoint part numbering: parts == 0 for commits, 1 for a single-file
	// checkpoint, n for multi-part checkpoints.
	part, parts int
	modTime     time.Time
	size        int64
	// v2 marks a V2-spec checkpoint (checkpoint.<uuid>.json|parquet), which
	// loglake does not read: a segment that would need it is refused naming
	// v2Checkpoint.
	v2 bool
}

func (f logFile) isCheckpoint() bool { return f.parts > 0 || f.v2 }

// isV2Checkpoint recognises the part after "<version>." of a V2 checkpoint's
// name: checkpoint.<uuid>.json or checkpoint.<uuid>.parquet.
func isV2Checkpoint(rest string) bool {
	mid, ok := strings.CutPrefix(rest, "checkpoint.")
	if !ok {
		return false
	}
	if m, ok := strings.CutSuffix(mid, ".json"); ok {
		mid = m
	} else if m, ok := strings.CutSuffix(mid, ".parquet"); ok {
		mid = m
	} else {
		return false
	}
	return len(mid) == 36 && strings.Count(mid, "-") == 4
}

// parseLogKey recognises commit and classic checkpoint files; everything else
// (crc, _last_checkpoint, compacted logs, temp files) is ignored.
func parseLogKey(o storage.Object) (logFile, bool) {
	name, ok := strings.CutPrefix(o.Key, logDir)
	if !ok || len(name) < 21 || strings.Contains(name, "/") {
		return logFile{}, false
	}
	v, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil || name[20] != '.' {
		return logFile{}, false
	}
	f := logFile{version: v, key: o.Key, modTime: o.ModTime, size: o.Size}
	rest := name[21:]
	if isV2Checkpoint(rest) {
		f.v2 = true
		return f, true
	}
	switch {
	case rest == "json":
		return f, true
	case rest == "checkpoint.parquet":
		f.part, f.parts = 1, 1
		return f, true
	case strings.HasPrefix(rest, "checkpoint.") && strings.HasSuffix(rest, ".parquet"):
		// multi-part: checkpoint.%010d.%010d.parquet (v2 UUID checkpoints
		// have a different shape and are not matched).
		nums := strings.Split(strings.TrimSuffix(strings.TrimPrefix(rest, "checkpoint."), ".parquet"), ".")
		if len(nums) != 2 || len(nums[0]) != 10 || len(nums[1]) != 10 {
			return logFile{}, false
		}
		p, err1 := strconv.Atoi(nums[0])
		n, err2 := strconv.Atoi(nums[1])
		if err1 != nil || err2 != nil || p < 1 || p > n {
			return logFile{}, false
		}
		f.part, f.parts = p, n
		return f, true
	}
	return logFile{}, false
}

// lastCheckpoint is the _last_checkpoint hint.
type lastCheckpoint struct {
	Version int64 `json:"version"`
	Size    int64 `json:"size"`
	Parts   *int  `json:"parts,omitempty"`
	// NumOfAddFiles lets readers size their state up front.
	NumOfAddFiles *int64 `json:"numOfAddFiles,omitempty"`
}

// readLastCheckpoint returns the hint, or ok=false when it is missing or
// unreadable (a stale or broken hint is never fatal: listing corrects it).
func readLastCheckpoint(ctx context.Context, b storage.Bucket) (lastCheckpoint, bool, error) {
	data, err := b.Get(ctx, lastCheckpointKey)
	if errors.Is(err, storage.ErrNotFound) {
		return lastCheckpoint{}, false, nil
	}
	if err != nil {
		return lastCheckpoint{}, false, err
	}
	var lc lastCheckpoint
	if json.Unmarshal(data, &lc) != nil || lc.Version < 0 ||
		lc.Parts != nil && (*lc.Parts < 0 || *lc.Parts > maxHintParts) {
		return lastCheckpoint{}, false, nil
	}
	return lc, true, nil
}

// maxHintParts bounds the part count a _last_checkpoint hint may name:
// opening from the hint builds one key per part before reading any, so a
// corrupt "parts":1e12 would exhaust memory. No real checkpoint has more
// (Spark writes millions of actions per part); a hint beyond it is
// ignored and the log is listed, which sees only the parts that exist.
const maxHintParts = 100_000

// segment is what log replay reads to build version `version`: a checkpoint
// (optional) and the contiguous commits after it.
type segment struct {
	version    int64
	checkpoint []logFile // parts of the checkpoint, empty if none
	commits    []logFile // ascending, contiguous, ending at version
}

// listLog lists log files of versions >= from, up to and including `to`
// (to < 0: no upper bound).
func listLog(ctx context.Context, b storage.Bucket, from, to int64) ([]logFile, error) {
	start := ""
	if from > 0 {
		start = versionPrefix(from)
	}
	it := b.List(ctx, logDir, start)
	var out []logFile
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		f, ok := parseLogKey(o)
		if !ok || f.version < from {
			continue
		}
		if to >= 0 && f.version > to {
			return out, nil
		}
		out = append(out, f)
	}
}

// findSegment locates the newest complete checkpoint at or below target
// (target < 0: the latest version) and the commits after it. It lists from the
// _last_checkpoint hint when that hint is usable, so its cost does not grow
// with the table's history.
func findSegment(ctx context.Context, b storage.Bucket, target int64) (segment, error) {
	from := int64(0)
	if lc, ok, err := readLastCheckpoint(ctx, b); err != nil {
		return segment{}, err
	} else if ok && (target < 0 || lc.Version <= target) {
		from = lc.Version
	}
	files, err := listLog(ctx, b, from, target)
	if err != nil {
		return segment{}, err
	}
	seg, err := buildSegment(files, target)
	if err != nil && from > 0 {
		// The hint does not hold up (it points past what is listable, or
		// names a checkpoint that is gone): a stale hint is corrected by
		// listing the whole log.
		if files, err = listLog(ctx, b, 0, target); err != nil {
			return segment{}, err
		}
		return buildSegment(files, target)
	}
	return seg, err
}

// buildSegment picks the checkpoint and commits for target out of a sorted
// listing.
func buildSegment(files []logFile, target int64) (segment, error) {
	var seg segment
	seg.version = -1
	// The newest complete checkpoint. Parts are grouped by version and
	// number of parts: a crashed writer's incomplete 3-part set must not
	// hide a complete 2-part set of the same version.
	type partSet struct {
		version int64
		parts   int
	}
	sets := map[partSet]map[int]logFile{}
	var best []logFile
	v2 := int64(-1)
	for _, f := range files {
		if f.v2 {
			v2 = max(v2, f.version)
			continue
		}
		if !f.isCheckpoint() {
			continue
		}
		k := partSet{f.version, f.parts}
		if sets[k] == nil {
			sets[k] = map[int]logFile{}
		}
		sets[k][f.part] = f
		// parseLogKey admits only parts 1..parts: a set of that many is
		// complete.
		if len(sets[k]) == f.parts && (best == nil || f.version > best[0].version) {
			best = make([]logFile, f.parts)
			for i := range best {
				best[i] = sets[k][i+1]
			}
		}
	}
	cpVersion := int64(-1)
	if best != nil {
		seg.checkpoint = best
		cpVersion = best[0].version
		seg.version = cpVersion
	}
	if v2 > cpVersion && !contiguousFrom(files, cpVersion+1, v2) {
		// Only the V2 checkpoint reaches back far enough: refuse by name
		// rather than report a version as missing.
		return segment{}, &FeatureError{Feature: "v2Checkpoint", Op: "read"}
	}
	for _, f := range files {
		if f.isCheckpoint() || f.version <= cpVersion {
			continue
		}
		if f.version != seg.version+1 {
			if seg.version < 0 {
				return segment{}, fmt.Errorf("%w: log starts at version %d with no checkpoint before it", ErrVersionNotFound, f.version)
			}
			return segment{}, fmt.Errorf("%w: commit %d missing from the log", ErrCorrupt, seg.version+1)
		}
		seg.commits = append(seg.commits, f)
		seg.version = f.version
	}
	if seg.version < 0 {
		if target >= 0 || len(files) > 0 {
			return segment{}, fmt.Errorf("%w: version %d is no longer reconstructible from the log", ErrVersionNotFound, target)
		}
		return segment{}, ErrNoTable
	}
	if target >= 0 && seg.version != target {
		return segment{}, fmt.Errorf("%w: version %d (latest is %d)", ErrVersionNotFound, target, seg.version)
	}
	return seg, nil
}

// contiguousFrom reports whether files hold every commit from version
// `from` through `to`.
func contiguousFrom(files []logFile, from, to int64) bool {
	next := from
	for _, f := range files {
		if f.isCheckpoint() || f.version < next {
			continue
		}
		if f.version != next {
			return false
		}
		if next++; next > to {
			return true
		}
	}
	return next > to
}

// readCommit reads and decodes commit v. The actions it returns are shared
// with every other reader of the same commit bytes (see commitCache).
func readCommit(ctx context.Context, b storage.Bucket, v int64) ([]Action, error) {
	data, err := commitBytes(ctx, b, v, -1)
	if err != nil {
		return nil, err
	}
	actions, err := commits.decode(data)
	if err != nil {
		return nil, fmt.Errorf("commit %d: %w", v, err)
	}
	return actions, nil
}

// commit is one decoded commit file.
type commit struct {
	version   int64
	actions   []Action
	timestamp int64 // Unix ms, see commitTimestamp
}

// probeWindow is how many versions ProbeLatest tests at once.
const probeWindow = 8

// maxReadWindow caps how many commit files readCommitsFrom fetches at once.
const maxReadWindow = 16

// readCommitsFrom reads the commits from version `from` on, in order, until
// the first version that does not exist, at most max (max <= 0: no bound).
// It probes commit files directly instead of listing _delta_log/, so its cost
// is the number of new commits, never the length of the history. It fetches
// one file, then twice as many at a time while every one exists (up to
// maxReadWindow): a refresh that finds nothing new costs one GET, and k new
// commits cost about k GETs plus at most k that find nothing, in about
// log2(k) round trips.
func readCommitsFrom(ctx context.Context, b storage.Bucket, from int64, max int) ([]commit, error) {
	var out []commit
	for window := 1; ; window = min(2*window, maxReadWindow) {
		n := window
		if max > 0 {
			n = min(n, max-len(out))
		}
		if n <= 0 {
			return out, nil
		}
		batch := make([]commit, n)
		errs := make([]error, n)
		done := make(chan int, n)
		for i := range n {
			go func() {
				batch[i], errs[i] = readCommitAt(ctx, b, from+int64(i))
				done <- i
			}()
		}
		for range n {
			<-done
		}
		for i := range n {
			if errors.Is(errs[i], ErrVersionNotFound) {
				return out, nil
			}
			if errs[i] != nil {
				return nil, errs[i]
			}
			out = append(out, batch[i])
		}
		from += int64(n)
	}
}

// readCommitAt reads commit v with its timestamp.
func readCommitAt(ctx context.Context, b storage.Bucket, v int64) (commit, error) {
	actions, err := readCommit(ctx, b, v)
	if err != nil {
		return commit{}, err
	}
	c := commit{version: v, actions: actions, timestamp: commitTimestamp(actions, time.Time{})}
	if c.timestamp <= 0 { // no commitInfo timestamp: fall back to the file's
		o, err := b.Stat(ctx, CommitKey(v))
		if err != nil {
			return commit{}, err
		}
		c.timestamp = o.ModTime.UnixMilli()
	}
	return c, nil
}

// commitHead bounds how much of a commit readCommitHeadTime reads.
const commitHead = 64 << 10

// commitBytes reads the first n bytes of commit v (n < 0: all of it). A
// missing commit gives an error wrapping ErrVersionNotFound.
func commitBytes(ctx context.Context, b storage.Bucket, v, n int64) ([]byte, error) {
	var data []byte
	var err error
	if n < 0 {
		data, err = b.Get(ctx, CommitKey(v))
	} else {
		var r io.ReadCloser
		if r, err = b.NewReader(ctx, CommitKey(v), 0, n); err == nil {
			data, err = io.ReadAll(r)
			r.Close()
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: commit %d", ErrVersionNotFound, v)
	}
	return data, err
}

// readCommitHeadTime returns commit v's commitInfo timestamp when the
// commitInfo is a whole line within the commit's first 64 KiB (writers put
// it first), else 0 (unknown); whole reports that those bytes were the
// entire commit. It is a bounded read for a version whose state comes from
// a checkpoint: its commit may be an OPTIMIZE's megabytes of removes. A
// missing commit gives an error wrapping ErrVersionNotFound, an
// undecodable line one wrapping ErrCorrupt.
func readCommitHeadTime(ctx context.Context, b storage.Bucket, v int64) (ts int64, whole bool, err error) {
	return commitTimeWithin(ctx, b, v, commitHead)
}

// commitTimeWithin is the commitInfo timestamp found in the whole lines of
// commit v's first n bytes (n < 0: all of them), 0 if none; whole reports
// that those were all of its bytes.
func commitTimeWithin(ctx context.Context, b storage.Bucket, v, n int64) (ts int64, whole bool, err error) {
	data, err := commitBytes(ctx, b, v, n)
	if err != nil {
		return 0, false, err
	}
	whole = n < 0 || int64(len(data)) < n
	if !whole { // cut: the last line may be partial
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	// Whole lines only, so an undecodable one is the commit's own error.
	if ts, err = commitTimeOf(data); err != nil {
		return 0, whole, fmt.Errorf("commit %d: %w", v, err)
	}
	return max(ts, 0), whole, nil
}

// readCommitTime returns the timestamp of commit v as readCommitAt does,
// decoding only the actions that can carry it (commitTimeOf). It is for a
// version whose state comes from a checkpoint: the commit is read whole
// only when its head does not hold the timestamp.
func readCommitTime(ctx context.Context, b storage.Bucket, v int64) (int64, error) {
	ts, whole, err := readCommitHeadTime(ctx, b, v)
	if err == nil && ts == 0 && !whole {
		ts, _, err = commitTimeWithin(ctx, b, v, -1)
	}
	if err != nil || ts > 0 {
		return ts, err
	}
	o, err := b.Stat(ctx, CommitKey(v))
	if err != nil {
		return 0, err
	}
	return o.ModTime.UnixMilli(), nil
}

// commitTimeOf is the commitInfo timestamp of a commit's lines (0: none),
// decoding only the actions that can carry it: a line holding an add or a
// remove is skipped unread (each line is one action, named by its only key).
func commitTimeOf(data []byte) (int64, error) {
	var kept []byte
	for line := range bytes.Lines(data) {
		raw := bytes.TrimSpace(line)
		if bytes.HasPrefix(raw, []byte(`{"add":`)) || bytes.HasPrefix(raw, []byte(`{"remove":`)) {
			continue
		}
		kept = append(append(kept, raw...), '\n')
	}
	actions, err := decodeCommit(kept)
	if err != nil {
		return 0, err
	}
	return commitTimestamp(actions, time.Time{}), nil
}
