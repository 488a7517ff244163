package table

import (
	"errors"
	"fmt"
)

var (
	// ErrNoTable: the location has no Delta log.
	ErrNoTable = errors.New("table: no Delta table at this location")
	// ErrExists: Create found a table already there.
	ErrExists = errors.New("table: table already exists")
	// ErrVersionNotFound: the requested version or timestamp is not in the log
	// (not yet written, or cleaned up).
	ErrVersionNotFound = errors.New("table: version not found")
	// ErrConflict: a concurrent commit made this transaction's reads stale
	// (metadata or protocol change, or files it removes were removed).
	ErrConflict = errors.New("table: conflicting concurrent commit")
	// ErrCorrupt: the log or a checkpoint cannot be decoded.
	ErrCorrupt = errors.New("table: corrupt table")
	// ErrUnsupportedFeature: the table needs a protocol feature loglake does
	// not implement; the error text names the feature.
	ErrUnsupportedFeature = errors.New("table: unsupported feature")
	// ErrAlreadyCommitted: the transaction's txn{appId, version} is already in
	// the table, so its data is too. Writers treat it as success.
	ErrAlreadyCommitted = errors.New("table: transaction already committed")
)

// FeatureError names the protocol feature that made the table unreadable or
// unwritable.
type FeatureError struct {
	Feature string // e.g. "deletionVectors", "columnMapping", "readerVersion 3"
	Op      string // "read" or "write"
}

func (e *FeatureError) Error() string {
	return fmt.Sprintf("table: unsupported feature %q: loglake cannot %s this table", e.Feature, e.Op)
}

// Unwrap makes errors.Is(err, ErrUnsupportedFeature) hold.
func (e *FeatureError) Unwrap() error { return ErrUnsupportedFeature }
