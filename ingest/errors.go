package ingest

import "errors"

var (
	// ErrConfig reports invalid Options or a table the ingester cannot
	// write (e.g. no _rescued_data column).
	ErrConfig = errors.New("ingest: invalid configuration")
	// ErrCorruptState reports a manifest or index object that cannot be
	// decoded or does not belong to this stream.
	ErrCorruptState = errors.New("ingest: corrupt stream state")
)
