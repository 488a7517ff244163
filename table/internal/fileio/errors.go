package fileio

import "errors"

// ErrCorrupt: a data file, or the log or a checkpoint above it, cannot be
// decoded. It is defined here, at the bottom, so that package table can
// re-export the same value and errors.Is holds whichever layer found the
// damage.
var ErrCorrupt = errors.New("table: corrupt table")
