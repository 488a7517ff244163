package table

import (
	"errors"
	"fmt"

	"github.com/loglake/loglake/table/internal/fileio"
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
	// ErrCorrupt: the log, a checkpoint or a data file cannot be decoded.
	ErrCorrupt = fileio.ErrCorrupt
	// ErrUnsupportedFeature: the table needs a protocol feature loglake does
	// not implement; the error text names the feature.
	ErrUnsupportedFeature = errors.New("table: unsupported feature")
	// ErrAlreadyCommitted: the transaction's txn{appId, version} is already in
	// the table, so its data is too. Writers treat it as success.
	ErrAlreadyCommitted = errors.New("table: transaction already committed")
	// ErrAppendOnly: a commit would remove data from a table with
	// delta.appendOnly=true.
	ErrAppendOnly = errors.New("table: appendOnly table (delta.appendOnly=true): data cannot be removed")
	// ErrConstraint: rows violate a NOT NULL column, a column invariant
	// (delta.invariants) or a CHECK constraint (delta.constraints.*).
	ErrConstraint = errors.New("table: constraint violated")
	// ErrReadOnly: a table opened with Options.ReadOnly was asked to write,
	// vacuum, clean its log or list its tombstones.
	ErrReadOnly = errors.New("table: opened read-only")
)

// FeatureError names the protocol feature that made the table unreadable or
// unwritable.
type FeatureError struct {
	Feature string // e.g. "deletionVectors", "columnMapping", "readerVersion 3"
	Op      string // "read" or "write"
	Detail  string // optional: what in the table uses the feature
}

func (e *FeatureError) Error() string {
	msg := fmt.Sprintf("table: unsupported feature %q: loglake cannot %s this table", e.Feature, e.Op)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrUnsupportedFeature) hold.
func (e *FeatureError) Unwrap() error { return ErrUnsupportedFeature }

// AppendOnlyError is ErrAppendOnly with what the commit tried to remove.
type AppendOnlyError struct {
	Removes int    // dataChange=true removes in the commit
	Path    string // one of them
}

func (e *AppendOnlyError) Error() string {
	return fmt.Sprintf("%v: the commit removes %d file(s) with dataChange=true (e.g. %s); only rearranging (dataChange=false) is allowed",
		ErrAppendOnly, e.Removes, e.Path)
}

// Unwrap makes errors.Is(err, ErrAppendOnly) hold.
func (e *AppendOnlyError) Unwrap() error { return ErrAppendOnly }

// ConstraintError reports rows that violate a constraint; nothing of the
// write that found them was stored.
type ConstraintError struct {
	Constraint string // e.g. "invariant x > 0 (column x)", "NOT NULL column msg", "CHECK positive: x > 0"
	Rows       int    // rows that violate it
	Row        int    // index of the first violating row in the record
}

func (e *ConstraintError) Error() string {
	return fmt.Sprintf("%v: %d row(s) violate %s (first: row %d)", ErrConstraint, e.Rows, e.Constraint, e.Row)
}

// Unwrap makes errors.Is(err, ErrConstraint) hold.
func (e *ConstraintError) Unwrap() error { return ErrConstraint }

// Permanent reports table errors that retrying cannot fix: the table needs
// a protocol feature loglake does not implement, or its log names a file
// outside the table. Loops that retry everything else stop on these.
func Permanent(err error) bool {
	return errors.Is(err, ErrUnsupportedFeature) || errors.Is(err, ErrInvalidPath)
}
