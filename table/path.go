package table

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrInvalidPath: a file path taken from the log does not name a data file
// inside the table root (it escapes the root, points into the log or
// loglake's own state, or is an absolute URL or path).
var ErrInvalidPath = errors.New("table: invalid file path in the log")

// PathError is a file path from the log that FileKey refused, with why.
type PathError struct {
	Path   string // as written in the log
	Reason string
	// absolute is set for absolute URLs and paths: valid Delta (shallow
	// clones use them) but outside what loglake reads or writes.
	absolute bool
}

func (e *PathError) Error() string {
	return fmt.Sprintf("table: file path %q in the log: %s", e.Path, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidPath) hold, and ErrCorrupt for a
// path no Delta writer produces or ErrUnsupportedFeature for an absolute
// one (allowed by the protocol, refused by loglake).
func (e *PathError) Unwrap() []error {
	if e.absolute {
		return []error{ErrInvalidPath, ErrUnsupportedFeature}
	}
	return []error{ErrInvalidPath, ErrCorrupt}
}

// reservedDirs are the table root's directories no log path may name: the
// Delta log and loglake's own state. Compared case-insensitively, since
// some file systems are.
var reservedDirs = []string{"_delta_log", "_loglake"}

// FileKey returns the storage key, relative to the table root, of a file
// path from the log (add, remove, cdc, deletion vector). It is the one
// validator of such paths: every reader of the log and every command that
// copies or deletes what a log names goes through it. It refuses (with a
// *PathError wrapping ErrInvalidPath) a path that is empty, absolute (a URL
// or a leading '/'), escapes the table root or is not canonical ('..', '.'
// or empty segments, also when percent-encoded), or lies under _delta_log/
// or _loglake/.
func FileKey(path string) (string, error) {
	bad := func(reason string) (string, error) { return "", &PathError{Path: path, Reason: reason} }
	if path == "" {
		return bad("empty")
	}
	if strings.Contains(path, "://") || strings.HasPrefix(path, "/") || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, `\`) {
		return "", &PathError{Path: path, Reason: "absolute paths are not supported: loglake tables are self-contained", absolute: true}
	}
	key := path
	if strings.IndexByte(path, '%') >= 0 { // a checkpoint checks every path: most have no escapes
		var err error
		if key, err = url.PathUnescape(path); err != nil {
			return bad("bad percent-encoding: " + err.Error())
		}
	}
	if strings.HasPrefix(key, "/") {
		return "", &PathError{Path: path, Reason: "absolute paths are not supported: loglake tables are self-contained", absolute: true}
	}
	if strings.ContainsRune(key, 0) {
		return bad("contains a NUL byte")
	}
	first, _, _ := strings.Cut(key, "/")
	for s := range strings.SplitSeq(key, "/") {
		switch s {
		case "..":
			return bad("escapes the table root")
		case ".", "":
			return bad("is not a canonical relative path")
		}
	}
	for _, d := range reservedDirs {
		if strings.EqualFold(first, d) {
			return bad("lies under " + d + "/, which only the table's own log machinery may touch")
		}
	}
	return key, nil
}

// checkPaths validates every file path an action names (see FileKey).
func (a *Action) checkPaths() error {
	var path string
	var dv json.RawMessage
	switch {
	case a.Add != nil:
		path, dv = a.Add.Path, a.Add.DeletionVector
	case a.Remove != nil:
		path, dv = a.Remove.Path, a.Remove.DeletionVector
	case a.CDC != nil:
		path = a.CDC.Path
	default:
		return nil
	}
	if _, err := FileKey(path); err != nil {
		return err
	}
	return checkDVPath(dv)
}

// checkDVPath validates the file a deletion vector descriptor names:
// storageType "p" is an absolute path (refused), "u" a file under a
// relative prefix of the table root, "i" inline (no file).
func checkDVPath(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var dv struct {
		StorageType    string `json:"storageType"`
		PathOrInlineDv string `json:"pathOrInlineDv"`
	}
	if err := json.Unmarshal(raw, &dv); err != nil {
		return fmt.Errorf("%w: deletion vector: %v", ErrCorrupt, err)
	}
	switch dv.StorageType {
	case "i":
		return nil
	case "p":
		return &PathError{Path: dv.PathOrInlineDv, Reason: "absolute deletion vector paths are not supported", absolute: true}
	case "u":
		// <random prefix><20-character Z85 UUID>: the file is
		// <prefix>/deletion_vector_<uuid>.bin.
		if len(dv.PathOrInlineDv) < 20 {
			return &PathError{Path: dv.PathOrInlineDv, Reason: "deletion vector descriptor too short"}
		}
		prefix := dv.PathOrInlineDv[:len(dv.PathOrInlineDv)-20]
		if prefix == "" {
			return nil
		}
		if _, err := FileKey(prefix + "/deletion_vector.bin"); err != nil {
			return err
		}
		return nil
	default:
		return fmt.Errorf("%w: deletion vector storageType %q", ErrCorrupt, dv.StorageType)
	}
}
