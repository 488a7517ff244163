package regions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Consumer is a stream that reads a regional table's change feed and
// records how far it got as a txn in its target table, in the same commit
// as its rows: an egress route. Its progress bounds what may be cleaned
// from the regional table (VACUUM, log cleanup) and when an erasure may
// proceed in the target.
type Consumer struct {
	// Target is the table holding the stream's txn.
	Target storage.Bucket
	// AppID names the stream (egress:<region>, or egress:<region>:<route>).
	AppID string
	// Start is the first source version the stream reads (a route added by
	// a switch starts at the switch): it never needs the versions before.
	Start int64
}

// ConsumerProgress is one consumer's recorded position.
type ConsumerProgress struct {
	Target string `json:"target"`
	AppID  string `json:"appId"`
	// Version is the last source version the stream recorded; -1 when it
	// has recorded none (or its target table does not exist yet).
	Version int64 `json:"version"`
}

// Progress is the recorded position of every consumer of one regional
// table.
type Progress struct {
	Consumers []ConsumerProgress `json:"consumers"`
}

// EgressConsumers lists the egress streams of cfg's regional table, opening
// their target tables' locations (close them with the returned func). A
// region with egress disabled has none.
func EgressConsumers(ctx context.Context, cfg *Config) ([]Consumer, func(), error) {
	var out []Consumer
	closeAll := func() {}
	err := withEgressed(ctx, cfg, func(regional, single storage.Bucket) (err error) {
		out, closeAll, err = egressConsumers(ctx, cfg.Name, regional, single, openLocation)
		return err
	})
	return out, closeAll, err
}

// EgressGuard is the guard of cfg's regional table: what its egress
// streams have not read yet, read once from their targets (for a one-off
// cleanup; an erasure, which polls, uses EgressConsumers). A region with
// egress disabled has an inactive guard.
func EgressGuard(ctx context.Context, cfg *Config) (*Guard, error) {
	guard := newGuard(&Progress{Consumers: []ConsumerProgress{}})
	err := withEgressed(ctx, cfg, func(regional, single storage.Bucket) (err error) {
		guard, err = egressGuard(ctx, cfg.Name, regional, single, openLocation)
		return err
	})
	return guard, err
}

// withEgressed opens cfg's regional table and its single-target central
// table (nil without one) for f, when the region has egress streams.
func withEgressed(ctx context.Context, cfg *Config, f func(regional, single storage.Bucket) error) error {
	if !cfg.egressed() {
		return nil
	}
	regional, err := openLocation(ctx, cfg.Table)
	if err != nil {
		return fmt.Errorf("regions: %s: regional table: %w", cfg.Name, err)
	}
	defer regional.Close()
	var single storage.Bucket
	if cfg.Central != "" {
		if single, err = openLocation(ctx, cfg.Central); err != nil {
			return fmt.Errorf("regions: %s: central: %w", cfg.Name, err)
		}
		defer single.Close()
	}
	return f(regional, single)
}

// egressConsumers lists the unfinished egress streams of the regional
// table in regional (see egressStreams), opening their targets so that
// their progress can be read again later (an erasure polls it).
func egressConsumers(ctx context.Context, region string, regional, single storage.Bucket, open openFunc) ([]Consumer, func(), error) {
	streams, err := egressStreams(ctx, region, regional, single, open)
	if err != nil {
		return nil, func() {}, err
	}
	var out []Consumer
	closeAll := func() {
		for _, c := range out {
			c.Target.Close()
		}
	}
	for _, st := range streams {
		b, err := open(ctx, st.Table)
		if err != nil {
			closeAll()
			return nil, func() {}, fmt.Errorf("regions: %s: route %s: %w", region, st.Route, err)
		}
		out = append(out, Consumer{Target: b, AppID: st.AppID, Start: st.Start})
	}
	return out, closeAll, nil
}

// egressStreams reads how far each unfinished egress stream of the
// regional table in regional has forwarded, as its recorded route sets
// define them (before any is recorded: the single-target route into
// single, if not nil). A route removed by a switch stops counting once it
// has forwarded everything before the switch; a route added by one has
// nothing to read before it. open opens a route's table location.
func egressStreams(ctx context.Context, region string, regional, single storage.Bucket, open openFunc) ([]egress.StreamProgress, error) {
	streams, err := egress.Progress(ctx, regional, region, single, open)
	if err != nil {
		return nil, fmt.Errorf("regions: %s: egress routes: %w", region, err)
	}
	return slices.DeleteFunc(streams, func(st egress.StreamProgress) bool { return st.Finished }), nil
}

// egressGuard is the cleanup guard of the regional table in regional,
// built from one read of its streams' txns: the same positions
// ReadProgress would read again from each target (maintenance needs them
// once, not polled).
func egressGuard(ctx context.Context, region string, regional, single storage.Bucket, open openFunc) (*Guard, error) {
	streams, err := egressStreams(ctx, region, regional, single, open)
	if err != nil {
		return nil, err
	}
	p := &Progress{Consumers: make([]ConsumerProgress, 0, len(streams))}
	for _, st := range streams {
		cp := ConsumerProgress{Target: storage.RedactURL(st.Table), AppID: st.AppID, Version: st.Forwarded}
		if st.NoTable {
			cp.Version = -1 // as ReadProgress counts a target not created yet
		}
		p.Consumers = append(p.Consumers, cp)
	}
	return newGuard(p), nil
}

// openFunc opens a table location by URL.
type openFunc = func(ctx context.Context, url string) (storage.Bucket, error)

// openLocation opens a table location with default storage options.
func openLocation(ctx context.Context, url string) (storage.Bucket, error) {
	return storage.Open(ctx, url, nil)
}

// egressed reports whether the region's table has egress streams: then
// every instance of the region, also one that runs no egress loop itself
// (NoEgress), must keep what they have not read.
func (c *Config) egressed() bool { return c.EgressEnabled() && len(c.Routes()) > 0 }

// ReadProgress reads every consumer's txn from its target's latest
// snapshot. A target table that does not exist yet counts as "nothing
// recorded"; any other failure is an error, never a guess.
func ReadProgress(ctx context.Context, consumers []Consumer) (*Progress, error) {
	p := &Progress{Consumers: make([]ConsumerProgress, 0, len(consumers))}
	for _, c := range consumers {
		cp := ConsumerProgress{Target: storage.RedactURL(c.Target.URL()), AppID: c.AppID, Version: -1}
		t, err := table.Open(ctx, c.Target, &table.Options{ReadOnly: true})
		switch {
		case errors.Is(err, table.ErrNoTable):
		case err != nil:
			return nil, fmt.Errorf("regions: progress of %s: %w", c.AppID, err)
		default:
			snap, err := t.Snapshot(ctx)
			if err != nil {
				return nil, fmt.Errorf("regions: progress of %s: %w", c.AppID, err)
			}
			if v, ok := snap.AppVersion(c.AppID); ok {
				cp.Version = v
			}
			cp.Version = max(cp.Version, c.Start-1)
		}
		p.Consumers = append(p.Consumers, cp)
	}
	return p, nil
}

// KeepFrom is the oldest source version some consumer still has to read
// (the lowest recorded version + 1; 0 when one has recorded nothing), and
// false when there is no consumer at all.
func (p *Progress) KeepFrom() (int64, bool) {
	if len(p.Consumers) == 0 {
		return 0, false
	}
	keep := p.Consumers[0].Version + 1
	for _, c := range p.Consumers[1:] {
		keep = min(keep, c.Version+1)
	}
	return keep, true
}

// Behind lists the consumers that have not yet recorded source version v.
func (p *Progress) Behind(v int64) []ConsumerProgress {
	var out []ConsumerProgress
	for _, c := range p.Consumers {
		if c.Version < v {
			out = append(out, c)
		}
	}
	return out
}

// String names each consumer and its position, for messages.
func (p *Progress) String() string {
	parts := make([]string, len(p.Consumers))
	for i, c := range p.Consumers {
		v := "nothing"
		if c.Version >= 0 {
			v = fmt.Sprintf("version %d", c.Version)
		}
		parts[i] = fmt.Sprintf("%s in %s has recorded %s", c.AppID, c.Target, v)
	}
	return strings.Join(parts, "; ")
}

// Guard is what a regional table's consumers still need, as options for
// the operations that clean it. The zero Guard (no consumer) guards
// nothing.
type Guard struct {
	Progress *Progress
	// KeepFrom is the oldest version a consumer still has to read (valid
	// when Active).
	KeepFrom int64
	Active   bool
}

// NewGuard reads the consumers' progress.
func NewGuard(ctx context.Context, consumers []Consumer) (*Guard, error) {
	p, err := ReadProgress(ctx, consumers)
	if err != nil {
		return nil, err
	}
	return newGuard(p), nil
}

func newGuard(p *Progress) *Guard {
	g := &Guard{Progress: p}
	g.KeepFrom, g.Active = p.KeepFrom()
	return g
}

// Vacuum bounds VACUUM: files removed at or after KeepFrom stay, whatever
// the retention.
func (g *Guard) Vacuum(o *table.VacuumOptions) *table.VacuumOptions {
	out := table.VacuumOptions{}
	if o != nil {
		out = *o
	}
	if g.Active {
		out.KeepRemovedFrom = &g.KeepFrom
	}
	return &out
}

// LogCleanup bounds log cleanup: every version from KeepFrom on stays. ok
// is false when no cleanup may run at all (a consumer has read nothing).
func (g *Guard) LogCleanup(o *table.LogCleanupOptions) (_ *table.LogCleanupOptions, ok bool) {
	out := table.LogCleanupOptions{}
	if o != nil {
		out = *o
	}
	if !g.Active {
		return &out, true
	}
	if g.KeepFrom == 0 {
		return nil, false
	}
	out.KeepFrom = g.KeepFrom
	return &out, true
}

// CleanupLog runs t's log cleanup bounded by the guard. heldBack counts the
// commits the retention alone would have deleted and the guard kept for a
// consumer that has not read them yet.
func (g *Guard) CleanupLog(ctx context.Context, t *table.Table, o *table.LogCleanupOptions) (res *table.LogCleanupResult, heldBack int, err error) {
	bounded, ok := g.LogCleanup(o)
	if g.Active {
		dry := table.LogCleanupOptions{}
		if o != nil {
			dry = *o
		}
		dry.DryRun = true
		all, err := t.CleanupLog(ctx, &dry)
		if err != nil {
			return nil, 0, err
		}
		heldBack = all.CommitsDeleted
	}
	if !ok {
		return &table.LogCleanupResult{OldestVersion: -1}, heldBack, nil
	}
	res, err = t.CleanupLog(ctx, bounded)
	if err != nil {
		return nil, 0, err
	}
	return res, max(heldBack-res.CommitsDeleted, 0), nil
}
