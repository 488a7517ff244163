package ingest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/loglake/loglake/storage"
)

// Stream state lives in the table's location, next to _delta_log:
//
//	_loglake/ingest/<stream>/batches/%020d.json      batch manifests (put-if-absent)
//	_loglake/ingest/<stream>/index/%020d.json.gz     ingested-files index snapshots
//	_loglake/ingest/<stream>/quarantine/<key>.json   unreadable files
//
// Manifest N is written before batch N's data and only after batch N-1 is
// committed, so manifests 1..txn are exactly the committed batches, and the
// index (every file ever ingested) is their union.

// StatePrefix returns the key prefix of a stream's state in the table location.
func StatePrefix(stream string) string { return "_loglake/ingest/" + stream + "/" }

// ManifestKey returns the key of batch's manifest in the table location.
func ManifestKey(stream string, batch int64) string {
	return fmt.Sprintf("%sbatches/%020d.json", StatePrefix(stream), batch)
}

func indexKey(stream string, batch int64) string {
	return fmt.Sprintf("%sindex/%020d.json.gz", StatePrefix(stream), batch)
}

func quarantineKey(stream, key string) string {
	return StatePrefix(stream) + "quarantine/" + url.PathEscape(key) + ".json"
}

// Manifest is the plan of one batch: the files it ingests, as listed.
type Manifest struct {
	Stream  string         `json:"stream"`
	Batch   int64          `json:"batch"`
	Created time.Time      `json:"created"`
	Landing string         `json:"landing"`
	Files   []ManifestFile `json:"files"`
}

// ManifestFile is one landing file of a batch.
type ManifestFile struct {
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	ETag    string    `json:"etag,omitempty"`
	MD5     string    `json:"md5,omitempty"`
	ModTime time.Time `json:"modTime"`
}

func fileFromObject(o storage.Object) ManifestFile {
	f := ManifestFile{Key: o.Key, Size: o.Size, ETag: o.ETag, ModTime: o.ModTime.UTC()}
	if len(o.MD5) > 0 {
		f.MD5 = hex.EncodeToString(o.MD5)
	}
	return f
}

// ReadManifest reads batch's manifest; storage.ErrNotFound if absent.
func ReadManifest(ctx context.Context, tbl storage.Bucket, stream string, batch int64) (*Manifest, error) {
	data, err := tbl.Get(ctx, ManifestKey(stream, batch))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest %d: %v", ErrCorruptState, batch, err)
	}
	if m.Stream != stream || m.Batch != batch {
		return nil, fmt.Errorf("%w: manifest at %s is for stream %q batch %d", ErrCorruptState, ManifestKey(stream, batch), m.Stream, m.Batch)
	}
	return &m, nil
}

// writeManifest writes m put-if-absent. If another instance wrote the
// batch first, its manifest is returned instead (the loser adopts it).
func writeManifest(ctx context.Context, tbl storage.Bucket, m *Manifest) (*Manifest, error) {
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	err = tbl.PutIfAbsent(ctx, ManifestKey(m.Stream, m.Batch), data)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, storage.ErrExists) {
		return nil, fmt.Errorf("ingest: writing manifest %d: %w", m.Batch, err)
	}
	// Lost the race, or our own write landed and its response was lost:
	// either way the stored manifest is the plan.
	return ReadManifest(ctx, tbl, m.Stream, m.Batch)
}

// fileRef is what the index keeps per ingested file, to detect changes.
type fileRef struct {
	Size int64
	ETag string
	MD5  string
}

func (r fileRef) changed(f ManifestFile) bool {
	if r.Size != f.Size {
		return true
	}
	if r.ETag != "" && f.ETag != "" && r.ETag != f.ETag {
		return true
	}
	return r.MD5 != "" && f.MD5 != "" && r.MD5 != f.MD5
}

// index is the set of files a stream has ingested, as of a batch.
type index struct {
	batch  int64
	files  map[string]fileRef
	cursor string // the largest key: lexical listings start after it
}

func newIndex() *index { return &index{files: map[string]fileRef{}} }

func (x *index) apply(m *Manifest) {
	for _, f := range m.Files {
		x.files[f.Key] = fileRef{Size: f.Size, ETag: f.ETag, MD5: f.MD5}
		if f.Key > x.cursor {
			x.cursor = f.Key
		}
	}
	x.batch = m.Batch
}

type indexJSON struct {
	Stream string     `json:"stream"`
	Batch  int64      `json:"batch"`
	Files  [][]string `json:"files"` // [key, size, etag, md5]
}

// load brings x up to batch upTo: from the newest index snapshot at or
// before it, then the manifests after that.
func (x *index) load(ctx context.Context, tbl storage.Bucket, stream string, upTo int64) error {
	if x.batch > upTo {
		*x = *newIndex()
	}
	if x.batch == 0 && upTo > 0 {
		if err := x.loadSnapshot(ctx, tbl, stream, upTo); err != nil {
			return err
		}
	}
	for b := x.batch + 1; b <= upTo; b++ {
		m, err := ReadManifest(ctx, tbl, stream, b)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("%w: manifest of committed batch %d is missing", ErrCorruptState, b)
			}
			return err
		}
		x.apply(m)
	}
	return nil
}

func (x *index) loadSnapshot(ctx context.Context, tbl storage.Bucket, stream string, upTo int64) error {
	prefix := StatePrefix(stream) + "index/"
	it := tbl.List(ctx, prefix, "")
	best := int64(0)
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(path.Base(o.Key), ".json.gz")
		b, err := strconv.ParseInt(name, 10, 64)
		if err != nil || b > upTo {
			continue
		}
		best = max(best, b)
	}
	if best == 0 {
		return nil
	}
	data, err := tbl.Get(ctx, indexKey(stream, best))
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: index %d: %v", ErrCorruptState, best, err)
	}
	var ij indexJSON
	if err := json.NewDecoder(zr).Decode(&ij); err != nil {
		return fmt.Errorf("%w: index %d: %v", ErrCorruptState, best, err)
	}
	if ij.Stream != stream || ij.Batch != best {
		return fmt.Errorf("%w: index %d is for stream %q batch %d", ErrCorruptState, best, ij.Stream, ij.Batch)
	}
	fresh := newIndex()
	for _, f := range ij.Files {
		if len(f) != 4 {
			return fmt.Errorf("%w: index %d: bad entry", ErrCorruptState, best)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: index %d: bad size %q", ErrCorruptState, best, f[1])
		}
		fresh.files[f[0]] = fileRef{Size: size, ETag: f[2], MD5: f[3]}
		if f[0] > fresh.cursor {
			fresh.cursor = f[0]
		}
	}
	fresh.batch = best
	*x = *fresh
	return nil
}

// writeSnapshot stores x as an index snapshot, put-if-absent (another
// instance may have written the same one).
func (x *index) writeSnapshot(ctx context.Context, tbl storage.Bucket, stream string) error {
	ij := indexJSON{Stream: stream, Batch: x.batch, Files: make([][]string, 0, len(x.files))}
	for k, r := range x.files {
		ij.Files = append(ij.Files, []string{k, strconv.FormatInt(r.Size, 10), r.ETag, r.MD5})
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(ij); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	err := tbl.PutIfAbsent(ctx, indexKey(stream, x.batch), buf.Bytes())
	if errors.Is(err, storage.ErrExists) {
		return nil
	}
	return err
}

// quarantineRecord is stored for a file that could not be read.
type quarantineRecord struct {
	Key   string    `json:"key"`
	Batch int64     `json:"batch"`
	Error string    `json:"error"`
	Time  time.Time `json:"time"`
}
