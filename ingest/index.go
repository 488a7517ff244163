package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/loglake/loglake/storage"
)

// The ingested-files index is the set of landing files a stream has
// ingested: the union of the manifests of its committed batches, minus the
// files older than its horizon (MaxFileAge). It is a cache: exactly-once
// rests on the table's txn and the manifest of the planned batch, never on
// the index. It is stored as segments, each holding the files of a range
// of batches (from, to]:
//
//	index/%020d-%020d.seg   a segment (binary, below)
//	index/%020d.json.gz     a legacy full snapshot (0, to] of loglake
//	                        before segments; read, never written
//
// A loader takes, from the batch it has, the stored segment that reaches
// furthest, else the next batch's manifest (load). Every IndexEvery batches
// a writer stores one segment that ends at the batch just committed and
// starts where the newest segments must be rewritten: it merges them while
// the older one is at most twice the size of what is merged so far (the
// logarithmic method), so a file is rewritten O(log n) times and a load
// reads O(log n) segments — not a full snapshot every IndexEvery batches,
// which grows quadratically. A segment whose files all fell behind the
// horizon counts as empty, so it is merged away and the stored index
// shrinks to the live files.
//
// Keys are kept as 128-bit SHA-256 prefixes and ETag/MD5 as 64-bit ones
// (108 bytes of heap per file at 10 M files, against 188 with the keys as
// strings); a collision needs a second preimage, not luck.

// keyHash identifies a landing key in the index.
type keyHash [16]byte

func hashKey(k string) keyHash {
	s := sha256.Sum256([]byte(k))
	return keyHash(s[:16])
}

// tagHash is a 64-bit hash of an ETag or MD5; 0 means none.
func tagHash(s string) uint64 {
	if s == "" {
		return 0
	}
	h := sha256.Sum256([]byte(s))
	return max(binary.LittleEndian.Uint64(h[:8]), 1)
}

// fileRef is what the index keeps per ingested file: enough to notice a
// change, to expire it by age, and to place it in a segment.
type fileRef struct {
	Size      int64
	Mod       int64 // landing ModTime, Unix seconds
	ETag, MD5 uint64
	Batch     int64
}

func refOf(f ManifestFile, batch int64) fileRef {
	return fileRef{Size: f.Size, Mod: f.ModTime.Unix(), ETag: tagHash(f.ETag), MD5: tagHash(f.MD5), Batch: batch}
}

func (r fileRef) changed(f ManifestFile) bool {
	if r.Size != f.Size {
		return true
	}
	if e := tagHash(f.ETag); r.ETag != 0 && e != 0 && r.ETag != e {
		return true
	}
	m := tagHash(f.MD5)
	if r.MD5 != 0 && m != 0 && r.MD5 != m {
		return true
	}
	// A file recorded without a tag (by a store that has none, or file://
	// before its listings carried one) and rewritten at the same size shows
	// only in its modification time, to the second, as Auto Loader sees it.
	untagged := r.ETag == 0 && r.MD5 == 0
	return untagged && r.Mod != 0 && !f.ModTime.IsZero() && f.ModTime.Unix() != r.Mod
}

// segment describes one stored index segment: the files of batches
// (From, To] that were not behind Horizon when it was written.
type segment struct {
	Stream  string    `json:"stream"`
	From    int64     `json:"from"`
	To      int64     `json:"to"`
	Count   int64     `json:"count"`
	Cursor  string    `json:"cursor"`
	Horizon int64     `json:"horizon"` // Unix seconds; files older were dropped
	MaxMod  int64     `json:"maxMod"`  // newest file's ModTime, Unix seconds
	Created time.Time `json:"created"`
	legacy  bool
	stored  time.Time // the object's ModTime, from a listing
}

func segmentKey(stream string, from, to int64) string {
	return fmt.Sprintf("%sindex/%020d-%020d.seg", StatePrefix(stream), from, to)
}

func legacyIndexKey(stream string, to int64) string {
	return fmt.Sprintf("%sindex/%020d.json.gz", StatePrefix(stream), to)
}

func (s segment) key(stream string) string {
	if s.legacy {
		return legacyIndexKey(stream, s.To)
	}
	return segmentKey(stream, s.From, s.To)
}

// parseIndexName returns the batch range an index object covers.
func parseIndexName(name string) (seg segment, ok bool) {
	if n, found := strings.CutSuffix(name, ".json.gz"); found {
		to, err := strconv.ParseInt(n, 10, 64)
		return segment{To: to, legacy: true}, err == nil && to > 0
	}
	n, found := strings.CutSuffix(name, ".seg")
	if !found {
		return seg, false
	}
	a, b, found := strings.Cut(n, "-")
	from, err1 := strconv.ParseInt(a, 10, 64)
	to, err2 := strconv.ParseInt(b, 10, 64)
	return segment{From: from, To: to}, found && err1 == nil && err2 == nil && from >= 0 && to > from
}

// index is the set of files a stream has ingested, as of a batch.
type index struct {
	batch  int64
	files  map[keyHash]fileRef
	cursor string // the largest key: lexical listings start after it
	// horizon (Unix seconds) only grows: every ingested file is in files or
	// has a ModTime before it, so a landing file older than the horizon and
	// not in files is never ingested.
	horizon int64
	segs    []segment // the segments loaded or stored, in batch order: the merge candidates
	// only, when not nil, is the set of keys a lookup-only reader
	// (Pending) asks about: the others are not kept, so a load costs the
	// stored bytes, not a map of every file ever ingested.
	only map[keyHash]bool
}

func newIndex() *index { return &index{files: map[keyHash]fileRef{}} }

// get returns key's entry.
func (x *index) get(key string) (fileRef, bool) {
	r, ok := x.files[hashKey(key)]
	return r, ok
}

// expired reports whether a landing file not in the index is behind the
// horizon, so that it is ignored.
func (x *index) expired(f ManifestFile) bool { return f.ModTime.Unix() < x.horizon }

// put records r for k unless the index has a later batch's entry:
// segments may overlap and are read in any order, and the newest batch's
// entry of a file is the one that counts.
func (x *index) put(k keyHash, r fileRef) {
	if r.Mod < x.horizon || x.only != nil && !x.only[k] {
		return
	}
	if old, ok := x.files[k]; ok && old.Batch > r.Batch {
		return
	}
	x.files[k] = r
}

func (x *index) apply(m *Manifest) {
	for _, f := range m.Files {
		x.put(hashKey(f.Key), refOf(f, m.Batch))
		if f.Key > x.cursor {
			x.cursor = f.Key
		}
	}
	x.batch = m.Batch
}

// expire moves the horizon up to cutoff (Unix seconds) and forgets the files
// behind it. Each move scans the whole index, so callers move it in steps.
func (x *index) expire(cutoff int64) {
	if cutoff <= x.horizon {
		return
	}
	x.horizon = cutoff
	for k, r := range x.files {
		if r.Mod < cutoff {
			delete(x.files, k)
		}
	}
}

// load brings x up to batch upTo. From x.batch on, it takes the stored
// segment that starts at or before the next batch and reaches furthest
// (not past upTo), else the next batch's manifest: a manifest is deleted
// only once a segment covers its batch (gc), so one of the two exists.
// Segments may overlap; entries of later batches win whatever the order.
func (x *index) load(ctx context.Context, tbl storage.Bucket, stream string, upTo int64, now time.Time) error {
	if x.batch > upTo {
		only := x.only
		*x = *newIndex()
		x.only = only
	}
	if x.batch == upTo {
		return nil
	}
	var segs []segment
	listed := false
	for attempt := 0; x.batch < upTo; {
		if !listed {
			var err error
			if segs, err = listSegments(ctx, tbl, stream); err != nil {
				return err
			}
			listed = true
		}
		var next *segment
		for i, sg := range segs {
			if sg.From <= x.batch && sg.To > x.batch && sg.To <= upTo && (next == nil || sg.To > next.To) {
				next = &segs[i]
			}
		}
		var err error
		if next != nil {
			err = x.readAny(ctx, tbl, stream, *next, now)
		} else {
			var m *Manifest
			if m, err = ReadManifest(ctx, tbl, stream, x.batch+1); err == nil {
				x.apply(m)
			} else if errors.Is(err, storage.ErrNotFound) {
				// The caller's table snapshot is behind a segment that covers
				// this batch and replaced its manifest. A segment is stored only
				// after its last batch committed, so its files are ingested:
				// take it, and the index is ahead of the snapshot.
				for i, sg := range segs {
					if sg.From <= x.batch && sg.To > x.batch && (next == nil || sg.To > next.To) {
						next = &segs[i]
					}
				}
				if next != nil {
					err = x.readAny(ctx, tbl, stream, *next, now)
				}
			}
		}
		if errors.Is(err, storage.ErrNotFound) && attempt < 3 {
			// Deleted since the listing: superseded by a segment that covers
			// it, stored before the deletion. List again.
			attempt++
			listed = false
			continue
		}
		if errors.Is(err, storage.ErrNotFound) && next == nil {
			return fmt.Errorf("%w: manifest of committed batch %d is missing and no index segment covers it", ErrCorruptState, x.batch+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readAny adds a stored segment or legacy snapshot to x and moves x to
// its last batch.
func (x *index) readAny(ctx context.Context, tbl storage.Bucket, stream string, sg segment, now time.Time) error {
	var got segment
	var err error
	if sg.legacy {
		got, err = x.readLegacy(ctx, tbl, stream, sg.To, now)
	} else {
		got, err = x.readSegment(ctx, tbl, stream, sg)
	}
	if err != nil {
		return err
	}
	x.segs = append(x.segs, got)
	x.batch = got.To
	return nil
}

// segmentCovers reports whether a stored segment covers batch: then the
// batch is committed, whatever a table snapshot says.
func segmentCovers(ctx context.Context, tbl storage.Bucket, stream string, batch int64) (bool, error) {
	segs, err := listSegments(ctx, tbl, stream)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(segs, func(s segment) bool { return s.From < batch && batch <= s.To }), nil
}

// listSegments returns the stored index objects of stream, with their
// storage ModTimes.
func listSegments(ctx context.Context, tbl storage.Bucket, stream string) ([]segment, error) {
	var out []segment
	it := tbl.List(ctx, StatePrefix(stream)+"index/", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if s, ok := parseIndexName(path.Base(o.Key)); ok {
			s.stored = o.ModTime
			out = append(out, s)
		}
	}
}

const segMagic = "LLIDX1\n"

// Segment format: segMagic, a JSON segment header and '\n', Count records,
// then the CRC-32 (IEEE, big-endian) of everything before it. A record is a
// flags byte (1: ETag present, 2: MD5 present), the 16-byte key hash, the
// present 8-byte tag hashes, then uvarint size, uvarint MaxMod - ModTime,
// uvarint batch - From.

// writeSegment stores the files of batches (from, x.batch] as a segment,
// put-if-absent (another instance may have stored the same range).
func (x *index) writeSegment(ctx context.Context, tbl storage.Bucket, stream string, from int64, now time.Time) (segment, error) {
	s := segment{Stream: stream, From: from, To: x.batch, Cursor: x.cursor, Horizon: x.horizon, Created: now.UTC(), MaxMod: math.MinInt64}
	in := func(r fileRef) bool { return r.Batch > from && r.Batch <= x.batch }
	for _, r := range x.files {
		if in(r) {
			s.Count++
			s.MaxMod = max(s.MaxMod, r.Mod)
		}
	}
	var recs bytes.Buffer
	recs.Grow(int(s.Count) * 40)
	var tmp [maxRecord]byte
	for k, r := range x.files {
		if !in(r) {
			continue
		}
		b := tmp[:1]
		b[0] = 0
		b = append(b, k[:]...)
		if r.ETag != 0 {
			b[0] |= 1
			b = binary.LittleEndian.AppendUint64(b, r.ETag)
		}
		if r.MD5 != 0 {
			b[0] |= 2
			b = binary.LittleEndian.AppendUint64(b, r.MD5)
		}
		b = binary.AppendUvarint(b, uint64(r.Size))
		b = binary.AppendUvarint(b, uint64(s.MaxMod-r.Mod))
		b = binary.AppendUvarint(b, uint64(r.Batch-from))
		recs.Write(b)
	}
	hdr, err := json.Marshal(s)
	if err != nil {
		return s, err
	}
	out := make([]byte, 0, len(segMagic)+len(hdr)+1+recs.Len()+4)
	out = append(out, segMagic...)
	out = append(out, hdr...)
	out = append(out, '\n')
	out = append(out, recs.Bytes()...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
	err = tbl.PutIfAbsent(ctx, segmentKey(stream, from, x.batch), out)
	if errors.Is(err, storage.ErrExists) {
		err = nil
	}
	return s, err
}

// maxRecord is the longest segment record.
const maxRecord = 1 + 16 + 8 + 8 + 3*binary.MaxVarintLen64

// readSegment adds a stored segment's files to x (later segments win).
// Records are parsed from the reader's buffer, not byte by byte: a restart
// reads millions of them.
func (x *index) readSegment(ctx context.Context, tbl storage.Bucket, stream string, want segment) (segment, error) {
	key := segmentKey(stream, want.From, want.To)
	rc, err := tbl.NewReader(ctx, key, 0, -1)
	if err != nil {
		return want, err
	}
	defer rc.Close()
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("%w: index segment %s: %s", ErrCorruptState, key, fmt.Sprintf(format, a...))
	}
	br := bufio.NewReaderSize(rc, 1<<20)
	crc := crc32.NewIEEE()
	line, err := br.ReadBytes('\n')
	if err != nil || string(line) != segMagic {
		return want, corrupt("bad magic (%v)", err)
	}
	crc.Write(line)
	if line, err = br.ReadBytes('\n'); err != nil {
		return want, corrupt("header: %v", err)
	}
	crc.Write(line)
	var s segment
	if err := json.Unmarshal(line, &s); err != nil {
		return want, corrupt("header: %v", err)
	}
	if s.Stream != stream || s.From != want.From || s.To != want.To || s.Count < 0 {
		return want, corrupt("header is for stream %q batches (%d, %d]", s.Stream, s.From, s.To)
	}
	if len(x.files) == 0 && s.Count > 0 && x.only == nil {
		x.files = make(map[keyHash]fileRef, s.Count)
	}
	for range s.Count {
		buf, err := br.Peek(maxRecord)
		if len(buf) == 0 {
			return want, corrupt("truncated: %v", err)
		}
		r, k, n := parseRecord(buf, s)
		if n <= 0 {
			return want, corrupt("bad record")
		}
		if r.Batch <= s.From || r.Batch > s.To {
			return want, corrupt("record of batch %d", r.Batch)
		}
		x.put(k, r)
		crc.Write(buf[:n])
		br.Discard(n)
	}
	var trailer [4]byte
	if _, err := io.ReadFull(br, trailer[:]); err != nil {
		return want, corrupt("no checksum: %v", err)
	}
	if binary.BigEndian.Uint32(trailer[:]) != crc.Sum32() {
		return want, corrupt("checksum mismatch")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return want, corrupt("trailing bytes")
	}
	if s.Cursor > x.cursor {
		x.cursor = s.Cursor
	}
	// Files behind a segment's horizon were dropped from it, so they are
	// forgotten for the whole index.
	x.expire(s.Horizon)
	return s, nil
}

// parseRecord decodes the record at the start of b; n <= 0 if it is not
// a whole record.
func parseRecord(b []byte, s segment) (r fileRef, k keyHash, n int) {
	if len(b) < 17 {
		return r, k, 0
	}
	flags := b[0]
	copy(k[:], b[1:17])
	n = 17
	if flags&1 != 0 {
		if len(b) < n+8 {
			return r, k, 0
		}
		r.ETag = binary.LittleEndian.Uint64(b[n:])
		n += 8
	}
	if flags&2 != 0 {
		if len(b) < n+8 {
			return r, k, 0
		}
		r.MD5 = binary.LittleEndian.Uint64(b[n:])
		n += 8
	}
	size, m1 := binary.Uvarint(b[n:])
	if m1 <= 0 {
		return r, k, 0
	}
	n += m1
	age, m2 := binary.Uvarint(b[n:])
	if m2 <= 0 {
		return r, k, 0
	}
	n += m2
	batch, m3 := binary.Uvarint(b[n:])
	if m3 <= 0 {
		return r, k, 0
	}
	n += m3
	r.Size, r.Mod, r.Batch = int64(size), s.MaxMod-int64(age), s.From+int64(batch)
	return r, k, n
}

// legacyIndex is the full snapshot loglake wrote before segments.
type legacyIndex struct {
	Stream string     `json:"stream"`
	Batch  int64      `json:"batch"`
	Files  [][]string `json:"files"` // [key, size, etag, md5]
}

// readLegacy adds a legacy snapshot's files to x. It did not record
// ModTimes: its files count as arriving now, which is later than they did,
// so they expire later than their age says — never earlier.
func (x *index) readLegacy(ctx context.Context, tbl storage.Bucket, stream string, to int64, now time.Time) (segment, error) {
	s := segment{Stream: stream, To: to, legacy: true, Created: time.Time{}, Horizon: x.horizon}
	data, err := tbl.Get(ctx, legacyIndexKey(stream, to))
	if err != nil {
		return s, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return s, fmt.Errorf("%w: index %d: %v", ErrCorruptState, to, err)
	}
	var ij legacyIndex
	if err := json.NewDecoder(zr).Decode(&ij); err != nil {
		return s, fmt.Errorf("%w: index %d: %v", ErrCorruptState, to, err)
	}
	if ij.Stream != stream || ij.Batch != to {
		return s, fmt.Errorf("%w: index %d is for stream %q batch %d", ErrCorruptState, to, ij.Stream, ij.Batch)
	}
	mod := now.Unix()
	for _, f := range ij.Files {
		if len(f) != 4 {
			return s, fmt.Errorf("%w: index %d: bad entry", ErrCorruptState, to)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return s, fmt.Errorf("%w: index %d: bad size %q", ErrCorruptState, to, f[1])
		}
		x.put(hashKey(f[0]), fileRef{Size: size, Mod: mod, ETag: tagHash(f[2]), MD5: tagHash(f[3]), Batch: to})
		if f[0] > x.cursor {
			x.cursor = f[0]
		}
	}
	s.Count, s.MaxMod = int64(len(ij.Files)), mod
	return s, nil
}

// compact stores a segment ending at x.batch, merging the newest segments
// of the chain into it by the logarithmic rule.
func (x *index) compact(ctx context.Context, tbl storage.Bucket, stream string, now time.Time) error {
	end := int64(0)
	if n := len(x.segs); n > 0 {
		end = x.segs[n-1].To
	}
	if x.batch <= end {
		return nil
	}
	var acc int64
	for _, r := range x.files {
		if r.Batch > end {
			acc++
		}
	}
	live := func(s segment) int64 {
		if s.MaxMod < x.horizon {
			return 0
		}
		return s.Count
	}
	i := len(x.segs)
	for i > 0 && live(x.segs[i-1]) <= 2*acc {
		i--
		acc += live(x.segs[i])
	}
	from := int64(0)
	if i > 0 {
		from = x.segs[i-1].To
	}
	s, err := x.writeSegment(ctx, tbl, stream, from, now)
	if err != nil {
		return err
	}
	x.segs = append(x.segs[:i:i], s)
	return nil
}

// gc deletes the index objects and manifests that stored segments older
// than grace make unnecessary, manifests only up to batch limit:
//
//   - a segment contained in another one (its range inside the other's);
//   - the manifest of a batch that a segment covers.
//
// Only segments older than grace (by their storage ModTime) count, so a
// reader that listed before they existed still finds what it listed. A
// deleted segment is inside a surviving one, and a segment that contains
// it can only be deleted for one that contains both: what the segments
// cover never shrinks, so every batch stays covered by a segment or by its
// manifest whatever several instances delete at once. Best effort: what
// fails to go is deleted by a later pass.
func (x *index) gc(ctx context.Context, tbl storage.Bucket, stream string, now time.Time, grace time.Duration, limit int64) error {
	stored, err := listSegments(ctx, tbl, stream)
	if err != nil {
		return err
	}
	var safe []segment
	for _, s := range stored {
		if !s.stored.After(now.Add(-grace)) {
			safe = append(safe, s)
		}
	}
	if len(safe) == 0 {
		return nil
	}
	var errs []error
	for _, o := range stored {
		if slices.ContainsFunc(safe, func(s segment) bool {
			return s.key(stream) != o.key(stream) && s.From <= o.From && o.To <= s.To
		}) {
			errs = append(errs, tbl.Delete(ctx, o.key(stream)))
		}
	}
	it := tbl.List(ctx, StatePrefix(stream)+"batches/", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, err)
			break
		}
		b, err := strconv.ParseInt(strings.TrimSuffix(path.Base(o.Key), ".json"), 10, 64)
		if err != nil {
			continue
		}
		if b > limit {
			break
		}
		if slices.ContainsFunc(safe, func(s segment) bool { return s.From < b && b <= s.To }) {
			errs = append(errs, tbl.Delete(ctx, o.Key))
		}
	}
	return errors.Join(errs...)
}
