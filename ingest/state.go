package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/loglake/loglake/storage"
)

// Stream state lives in the table's location, next to _delta_log:
//
//	_loglake/ingest/<stream>/batches/%020d.json      batch manifests (put-if-absent)
//	_loglake/ingest/<stream>/index/%020d-%020d.seg   ingested-files index segments (index.go)
//	_loglake/ingest/<stream>/index/%020d.json.gz     legacy full index snapshots (read, then deleted)
//	_loglake/ingest/<stream>/clean/%020d.json        cleanSource progress (clean.go)
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

// quarantineRecord is stored for a file that could not be read.
type quarantineRecord struct {
	Key   string    `json:"key"`
	Batch int64     `json:"batch"`
	Error string    `json:"error"`
	Time  time.Time `json:"time"`
}
