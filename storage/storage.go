package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Error classes. Every error returned by a Bucket wraps exactly one of them
// (except context errors), so callers branch with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists: a put-if-absent lost the race; another writer created the key.
	ErrExists = errors.New("storage: already exists")
	// ErrTransient: a failure that may succeed when retried (throttling,
	// timeouts, 5xx, connection resets).
	ErrTransient = errors.New("storage: transient failure")
	// ErrPermanent: a failure that retrying will not fix (permissions, bad
	// URL, invalid argument).
	ErrPermanent = errors.New("storage: permanent failure")
)

// Object describes one stored object.
type Object struct {
	Key     string    // relative to the bucket's prefix, '/'-separated
	Size    int64     // bytes
	ModTime time.Time // last modification, UTC
	ETag    string    // opaque version tag where the backend exposes one, else ""
	MD5     []byte    // content MD5 where the backend exposes one, else nil
}

// Bucket is a location: a bucket plus a key prefix. Keys passed to its methods
// are relative to that prefix. Implementations are safe for concurrent use.
type Bucket interface {
	// URL is the location's URL with credentials removed, safe to log.
	URL() string
	// Get returns the whole object.
	Get(ctx context.Context, key string) ([]byte, error)
	// NewReader streams the object; length < 0 reads to the end.
	NewReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Stat returns the object's attributes.
	Stat(ctx context.Context, key string) (Object, error)
	// Put writes data to key, replacing any object there. Only for keys that
	// are designed to be overwritten (e.g. _delta_log/_last_checkpoint).
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent writes data to key atomically iff key does not exist.
	// Exactly one of several racing writers succeeds; the others get ErrExists.
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// Upload streams r to key, replacing any object there. Used for large,
	// uniquely named data files.
	Upload(ctx context.Context, key string, r io.Reader) error
	// List returns the objects whose keys start with prefix and sort strictly
	// after startAfter ("" for all), in lexicographic key order, on every backend.
	List(ctx context.Context, prefix, startAfter string) ListIterator
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Copy copies srcKey of src into dstKey of this bucket, server-side when
	// both are in the same backend bucket, otherwise by streaming.
	Copy(ctx context.Context, dstKey string, src Bucket, srcKey string) error
	// Close releases the bucket's resources.
	Close() error
}

// ListIterator yields objects in lexicographic key order.
type ListIterator interface {
	// Next returns the next object, or io.EOF when done.
	Next(ctx context.Context) (Object, error)
}
