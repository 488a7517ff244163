package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// ErrTimestamp reports time travel to a timestamp the table cannot serve:
// after its last commit, or before its first.
var ErrTimestamp = errors.New("no version at that timestamp")

// Spec names a table to attach: NAME=URL[@VERSION|@TIMESTAMP].
type Spec struct {
	Name    string
	URL     string
	Version int64 // -1: latest (or At)
	// At, if not zero, selects the latest version committed at or before
	// it (Version is then -1).
	At time.Time
}

// ParseSpec parses "NAME=URL[@VERSION|@TIMESTAMP]", e.g.
// "logs=s3://bucket/tables/logs@42" or
// "logs=file:///data/logs@2026-11-24T10:00:00Z". A trailing @digits is a
// version; a trailing @ followed by an RFC 3339 timestamp (or a date,
// meaning its midnight UTC) is a timestamp. An @ elsewhere in the URL is
// kept.
func ParseSpec(s string) (Spec, error) {
	name, u, ok := strings.Cut(s, "=")
	if !ok || name == "" || u == "" {
		return Spec{}, fmt.Errorf("%w: %q: want NAME=URL[@VERSION|@TIMESTAMP]", ErrName, s)
	}
	if !identRe.MatchString(name) {
		return Spec{}, fmt.Errorf("%w: %q (want letters, digits and _)", ErrName, name)
	}
	sp := Spec{Name: name, URL: u, Version: -1}
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		return sp, nil
	}
	suffix := u[at+1:]
	if suffix != "" && strings.Trim(suffix, "0123456789") == "" {
		v, err := strconv.ParseInt(suffix, 10, 64)
		if err != nil {
			return Spec{}, fmt.Errorf("%w: version in %q: %v", ErrName, s, err)
		}
		sp.URL, sp.Version = u[:at], v
		return sp, nil
	}
	if digits := strings.TrimLeft(suffix, "+- "); digits != suffix && digits != "" && strings.Trim(digits, "0123456789") == "" {
		// "@-1", "@+1", "@ 3": a version, mistyped; not part of the path.
		return Spec{}, fmt.Errorf("%w: %q: version %q: want a whole number from 0", ErrName, s, suffix)
	}
	if ts, ok := parseTravelTime(suffix); ok {
		if ts.IsZero() {
			// The zero time.Time is "no timestamp" in a Spec; as a
			// timestamp it is before any commit.
			return Spec{}, fmt.Errorf("%w: %q: %w: %s is before the first commit", ErrName, s, ErrTimestamp, suffix)
		}
		sp.URL, sp.At = u[:at], ts
		return sp, nil
	}
	if len(suffix) >= 10 && suffix[4] == '-' && strings.Trim(suffix[:4], "0123456789") == "" {
		// Looks like a timestamp but does not parse: say so, instead of
		// taking it as part of the path.
		return Spec{}, fmt.Errorf("%w: %q: timestamp %q is not RFC 3339 (2026-11-24T10:00:00Z) or a date (2026-11-24)", ErrName, s, suffix)
	}
	return sp, nil
}

func parseTravelTime(s string) (time.Time, bool) {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	for _, l := range []string{time.DateOnly, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// String renders the spec as ParseSpec reads it.
func (sp Spec) String() string {
	switch {
	case !sp.At.IsZero():
		return sp.Name + "=" + sp.URL + "@" + sp.At.UTC().Format(time.RFC3339Nano)
	case sp.Version >= 0:
		return sp.Name + "=" + sp.URL + "@" + strconv.FormatInt(sp.Version, 10)
	}
	return sp.Name + "=" + sp.URL
}

// SnapshotAsOf returns t's snapshot at ts: the latest version committed at
// or before ts. A ts after the last commit or before the first one still in
// the log is ErrTimestamp.
func SnapshotAsOf(ctx context.Context, t *table.Table, ts time.Time) (*table.Snapshot, error) {
	snap, err := t.SnapshotAsOf(ctx, ts)
	if errors.Is(err, table.ErrVersionNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrTimestamp, err)
	}
	return snap, err
}

// RegisterSpec opens the table at spec.URL, resolves its version and
// attaches it as spec.Name (see Attach): no data file is read until a
// statement needs it. The table's location stays open until the engine
// closes or the name is attached again.
func (e *Engine) RegisterSpec(ctx context.Context, spec Spec, where string) error {
	b, err := storage.Open(ctx, spec.URL, nil)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	opts := &table.Options{Logger: e.log, ReadOnly: true}
	var t *table.Table
	var snap *table.Snapshot
	if spec.Version >= 0 && spec.At.IsZero() {
		// Read the log only up to the version asked for: commits after it
		// (even a damaged one) do not stop a read of an older version.
		t, snap, err = table.OpenAt(ctx, b, opts, spec.Version)
		if errors.Is(err, table.ErrNoTable) {
			return fmt.Errorf("query: open %s: %w", storage.RedactURL(spec.URL), err)
		}
		if err != nil {
			return fmt.Errorf("query: table %s (%s) at version %d: %w", spec.Name, storage.RedactURL(spec.URL), spec.Version, err)
		}
	} else {
		if t, err = table.Open(ctx, b, opts); err != nil {
			return fmt.Errorf("query: open %s: %w", storage.RedactURL(spec.URL), err)
		}
		if !spec.At.IsZero() {
			if snap, err = SnapshotAsOf(ctx, t, spec.At); err != nil {
				return fmt.Errorf("query: table %s (%s) at %s: %w", spec.Name, storage.RedactURL(spec.URL), spec.At.UTC().Format(time.RFC3339Nano), err)
			}
		} else if snap, err = t.Snapshot(ctx); err != nil {
			return fmt.Errorf("query: %s: %w", storage.RedactURL(spec.URL), err)
		}
	}
	e.qmu.Lock()
	defer e.qmu.Unlock()
	if _, err := e.attach(ctx, spec.Name, t, snap, where, b.Close); err != nil {
		return err
	}
	ok = true
	return nil
}
