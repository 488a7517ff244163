package table

import (
	"context"
	"fmt"
	"time"
)

// The change feed: the commits after a version, in order, with each
// commit's protocol and metaData applied as it comes. A commit that needs a
// feature loglake cannot read stops the feed with a *FeatureError naming
// it, so a tailing reader (egress, clone) can never read data written under
// rules it does not know — the same gate Open applies to the latest
// snapshot, applied at every version.

// Change is one commit of the change feed.
type Change struct {
	Version   int64
	Timestamp time.Time
	// Actions is the caller's own slice, but what its elements point to is
	// shared with every reader of the commit in this process (snapshots
	// included): callers must not modify it.
	Actions []Action
	// Protocol and Metadata are the table's protocol and metadata in force
	// after this commit, as a Feed tracked them (nil from Changes, or when
	// a Feed started without a known state and the log has not set them
	// since). They are shared: callers must not modify them.
	Protocol *Protocol
	Metadata *Metadata
}

// CommitInfo returns the commit's commitInfo action, nil if it has none.
func (c Change) CommitInfo() *CommitInfo {
	for _, a := range c.Actions {
		if a.CommitInfo != nil {
			return a.CommitInfo
		}
	}
	return nil
}

// Changes returns the raw commits after version `after` up to and including
// `upTo` (upTo < 0: the latest), oldest first, at most max commits (max <= 0:
// no limit). It returns ErrVersionNotFound if commit after+1 is no longer in
// the log. Nothing in them is gated: a reader that acts on their files or
// data uses a Feed, which refuses a commit that needs a feature loglake does
// not read. Changes is for callers that look at commit provenance only
// (timestamps, commitInfo, txns).
func (t *Table) Changes(ctx context.Context, after, upTo int64, max int) ([]Change, error) {
	if upTo >= 0 {
		if n := int(upTo - after); max <= 0 || n < max {
			max = n
		}
		if max <= 0 {
			return nil, nil
		}
	}
	commits, err := readCommitsFrom(ctx, t.bucket, after+1, max)
	if err != nil {
		return nil, err
	}
	if len(commits) == 0 {
		// Either nothing new, or commit after+1 was cleaned up while later
		// ones exist: tell them apart, since the second loses data.
		files, err := listLog(ctx, t.bucket, after+1, -1)
		if err != nil {
			return nil, err
		}
		cleaned := false
		for _, f := range files {
			switch {
			case f.isCheckpoint():
			case f.version == after+1:
				// It landed after the probe: a new commit, not a gap.
				return t.Changes(ctx, after, upTo, max)
			case f.version > after+1:
				cleaned = true
			}
		}
		if cleaned {
			return nil, fmt.Errorf("%w: commit %d is no longer in the log", ErrVersionNotFound, after+1)
		}
		return nil, nil
	}
	out := make([]Change, len(commits))
	for i, c := range commits {
		if c.version > 0 && stateCommit(c.actions, c.version) {
			return nil, fmt.Errorf("%w: version %d is where this table's log starts, holding a clone's copy of "+
				"its source's state (every live file), not the change its source made at that version: changes "+
				"up to it are in the source's log", ErrVersionNotFound, c.version)
		}
		out[i] = Change{Version: c.version, Timestamp: time.UnixMilli(c.timestamp).UTC(), Actions: c.actions}
	}
	return out, nil
}

// stateCommit reports whether a commit at version v holds a table's whole
// state at v rather than a change: an initial clone's CLONE commit read at
// its own version (a change is read at an earlier one). Read as a change,
// its files would pass for new rows.
func stateCommit(actions []Action, v int64) bool {
	for _, a := range actions {
		if ci := a.CommitInfo; ci != nil {
			return ci.Operation == "CLONE" && ci.ReadVersion != nil && *ci.ReadVersion == v
		}
	}
	return false
}

// Feed is a gated change feed over a table; see Table.Feed. A Feed is not
// safe for concurrent use.
type Feed struct {
	t        *Table
	version  int64
	protocol *Protocol
	metadata *Metadata
}

// FeedOptions tune Table.Feed. The zero value (and nil) loads the state at
// the start version.
type FeedOptions struct {
	// Start, if set, is the snapshot whose protocol and metadata the feed
	// starts gating from instead of the snapshot at the start version (a
	// caller that has it already, or a later one when the start version is
	// no longer reconstructible).
	Start *Snapshot
	// Unloaded starts the feed without loading any state: the caller
	// vouches that the table is readable at the start version (an exact
	// replica, every commit of which went through a feed when it was
	// written). Protocol and metaData changes after it are gated all the
	// same, each against what the feed has seen.
	Unloaded bool
}

// Feed returns the change feed of the commits after version `after` (-1:
// from version 0). Unless opts says otherwise it loads the snapshot at
// `after` to know the protocol and metadata in force, and refuses a table
// already unreadable there.
func (t *Table) Feed(ctx context.Context, after int64, opts *FeedOptions) (*Feed, error) {
	f := &Feed{t: t, version: after}
	var o FeedOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Start != nil:
		f.protocol, f.metadata = o.Start.protocol, o.Start.metadata
	case o.Unloaded || after < 0:
	default:
		snap, err := t.SnapshotAt(ctx, after)
		if err != nil {
			return nil, err
		}
		f.protocol, f.metadata = snap.protocol, snap.metadata
	}
	if err := gate(f.protocol, f.metadata); err != nil {
		return nil, fmt.Errorf("version %d: %w", after, err)
	}
	return f, nil
}

// Version is the last version the feed returned (its start version before
// the first Next).
func (f *Feed) Version() int64 { return f.version }

// Protocol is the protocol in force at Version (nil when unknown).
func (f *Feed) Protocol() *Protocol { return f.protocol }

// Metadata is the metadata in force at Version (nil when unknown).
func (f *Feed) Metadata() *Metadata { return f.metadata }

// Next returns the commits after Version up to and including upTo (upTo < 0:
// the latest), at most max (max <= 0: no limit), each with the protocol and
// metadata in force after it. When a commit needs a feature loglake cannot
// read (a protocol or table property, or a file with a deletion vector),
// Next returns the commits before it; the call that would return it returns
// a *FeatureError naming the feature (wrapped with the version), and so does
// every later call: the feed does not move past it. It returns
// ErrVersionNotFound when commit Version+1 is no longer in the log.
func (f *Feed) Next(ctx context.Context, upTo int64, max int) ([]Change, error) {
	changes, err := f.t.Changes(ctx, f.version, upTo, max)
	if err != nil {
		return nil, err
	}
	for i := range changes {
		ch := &changes[i]
		if ch.Version != f.version+1 {
			return nil, fmt.Errorf("%w: change feed gave version %d after %d", ErrCorrupt, ch.Version, f.version)
		}
		p, m := f.protocol, f.metadata
		dv := false
		for _, a := range ch.Actions {
			switch {
			case a.Protocol != nil:
				p = a.Protocol
			case a.MetaData != nil:
				m = a.MetaData
			case a.Add != nil && a.Add.DeletionVector != nil:
				dv = true
			}
		}
		err := gate(p, m)
		if err == nil && dv {
			err = &FeatureError{Feature: "deletionVectors", Op: "read"}
		}
		if err != nil {
			if i > 0 {
				return changes[:i], nil
			}
			return nil, fmt.Errorf("version %d: %w", ch.Version, err)
		}
		f.version, f.protocol, f.metadata = ch.Version, p, m
		ch.Protocol, ch.Metadata = p, m
	}
	return changes, nil
}

// gate is the read gate of a state that may be partly unknown (nil).
func gate(p *Protocol, m *Metadata) error {
	if p == nil {
		p = &Protocol{MinReaderVersion: 1, MinWriterVersion: 1}
	}
	return checkRead(p, m)
}
