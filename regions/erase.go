package regions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/replicate"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Erase defaults.
const (
	// DefaultEraseWait bounds how long Erase waits for egress to pass a
	// regional DELETE. Egress records a version with nothing to forward
	// lazily (egress.Options.AdvanceAfter, 5 minutes), so a quiet region
	// may take that long.
	DefaultEraseWait = 10 * time.Minute
	// DefaultErasePoll is how often Erase re-reads egress progress.
	DefaultErasePoll = 2 * time.Second
)

// ErrEgressBehind: egress has not passed the regional DELETE within
// EraseRequest.Wait, so the central table was not erased (erasing it now
// would let egress bring the rows back). Rerun once egress has caught up.
var ErrEgressBehind = errors.New("regions: egress has not passed the regional erasure")

// EraseRequest erases the rows matching Where from the regional tables of
// Regions, from their egress targets, and from Replicas, then vacuums all
// of them. See docs/erasure.md for the procedure and its limits.
type EraseRequest struct {
	// Where is the predicate of the rows to erase (table/expr language),
	// e.g. "org_id = '42' OR _rescued_data LIKE '%42%'". Required.
	Where string
	// Regions whose regional tables (and egress targets) are erased. In a
	// target, only rows stamped with one of these regions are erased.
	Regions []*Config
	// Replicas are clones of the regional or central tables (or of other
	// replicas listed before them): each replays the erasure from its
	// source, and is vacuumed.
	Replicas []Replica
	// Wait bounds the wait for egress to pass each regional DELETE
	// (default DefaultEraseWait); Poll is the interval between reads of its
	// progress (default DefaultErasePoll).
	Wait, Poll time.Duration
	// Retain is VACUUM's retention (nil: each table's
	// delta.deletedFileRetentionDuration, 7 days by default: the erased
	// files then stay until a later VACUUM). Force allows one shorter than
	// the table's, as `loglake vacuum --force`.
	Retain *time.Duration
	Force  bool
	// NoVacuum skips VACUUM (the erased rows stay in removed files).
	NoVacuum bool
	// DryRun counts the matching rows in the regional and central tables
	// and changes nothing.
	DryRun bool
	// CacheDir, when set, is a query file cache (query.Cache) on this host
	// whose copies of the files the erased tables removed are deleted.
	CacheDir string
	// Now is VACUUM's clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Erased is what the erasure did to one table.
type Erased struct {
	URL string `json:"table"`
	// Role is regional, central or replica.
	Role string `json:"role"`
	// Regions are the regions this table was erased for.
	Regions []string `json:"regions,omitempty"`
	// Where is the predicate applied to this table (central: restricted to
	// Regions).
	Where string `json:"where,omitempty"`
	// Missing: the table does not exist (nothing to erase).
	Missing bool                `json:"missing,omitempty"`
	Delete  *table.DeleteResult `json:"delete,omitempty"`
	// Egress is the progress egress had recorded when the central table
	// was erased (regional tables only); WaitedMS how long Erase waited
	// for it.
	Egress   *Progress `json:"egress,omitempty"`
	WaitedMS int64     `json:"waitedMs,omitempty"`
	// Clone is the replica's catch-up run, which replays the DELETE.
	Clone  *replicate.Result   `json:"clone,omitempty"`
	Vacuum *table.VacuumResult `json:"vacuum,omitempty"`
	// CachePurged counts the cached copies of removed files deleted from
	// EraseRequest.CacheDir.
	CachePurged int `json:"cachePurged,omitempty"`
	// Remaining counts the rows still matching Where in the latest
	// snapshot after the erasure: rows appended while it ran (they
	// survive a DELETE) — rerun to erase them. nil: not counted (a dry
	// run, or the erasure stopped before this table's last step).
	Remaining *int64 `json:"remaining"`
}

// EraseReport lists the tables in the order they were erased.
type EraseReport struct {
	Where  string    `json:"where"`
	Tables []*Erased `json:"tables"`
	DryRun bool      `json:"dryRun"`
}

// Erase runs the erasure procedure, in the order that keeps erased rows
// from coming back:
//
//  1. DELETE in each regional table;
//  2. wait until every egress stream of the region has recorded (in its
//     target) the regional version after that DELETE: rows it had not yet
//     forwarded would otherwise reach the central table after its DELETE;
//  3. DELETE in each central table, restricted to the erased regions;
//  4. VACUUM the regional and central tables (the regional one bounded by
//     what egress still has to read), so the removed files holding the
//     rows are deleted;
//  5. each replica replays its source's commits (the DELETE), copying only
//     the files still live at the source — never the erased ones, which
//     are gone by then (with the default retention they are copied and
//     tombstoned, and go with a later VACUUM) — and is vacuumed in turn.
//
// It is safe to rerun: a rerun finds nothing left to delete and waits for
// egress to pass the regional table's latest version before erasing the
// central table again. The report lists what was done up to a failure.
func Erase(ctx context.Context, req *EraseRequest) (*EraseReport, error) {
	r := *req
	if r.Where == "" {
		return nil, errors.New("regions: erase needs a predicate (--where)")
	}
	if len(r.Regions) == 0 {
		return nil, errors.New("regions: erase needs at least one region configuration")
	}
	if r.Wait <= 0 {
		r.Wait = DefaultEraseWait
	}
	if r.Poll <= 0 {
		r.Poll = DefaultErasePoll
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	e := &eraser{req: &r, rep: &EraseReport{Where: r.Where, DryRun: r.DryRun}, buckets: map[string]storage.Bucket{}}
	defer e.close()
	err := e.run(ctx)
	return e.rep, err
}

type eraser struct {
	req     *EraseRequest
	rep     *EraseReport
	buckets map[string]storage.Bucket // by URL as configured
	erased  []erasedTable             // tables erased so far, replica sources
	cache   *query.Cache              // EraseRequest.CacheDir, once opened
}

type erasedTable struct {
	url   string // storage's normalised URL
	entry *Erased
	b     storage.Bucket
	guard []Consumer // regional tables: the egress streams bounding VACUUM
}

func (e *eraser) close() {
	closed := map[storage.Bucket]bool{} // one bucket may be cached under two spellings
	for _, b := range e.buckets {
		if !closed[b] {
			closed[b] = true
			b.Close()
		}
	}
}

func (e *eraser) open(ctx context.Context, url string) (storage.Bucket, error) {
	if b, ok := e.buckets[url]; ok {
		return b, nil
	}
	b, err := storage.Open(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	e.buckets[url] = b
	return b, nil
}

func (e *eraser) run(ctx context.Context) error {
	req := e.req
	// 1. Regional tables.
	type pending struct {
		cfg       *Config
		entry     *Erased
		consumers []Consumer
		upTo      int64 // the regional version egress must pass
	}
	var regional []pending
	centrals := map[string][]string{} // central URL -> regions
	var centralOrder []string
	for _, cfg := range req.Regions {
		b, err := e.open(ctx, cfg.Table)
		if err != nil {
			return fmt.Errorf("regions: %s: %w", cfg.Name, err)
		}
		ent := &Erased{URL: storage.RedactURL(b.URL()), Role: "regional", Regions: []string{cfg.Name}, Where: req.Where}
		e.rep.Tables = append(e.rep.Tables, ent)
		consumers, closeFn, err := EgressConsumers(ctx, cfg)
		if err != nil {
			return err
		}
		defer closeFn()
		upTo, err := e.delete(ctx, b, ent, len(consumers) > 0)
		if err != nil {
			return fmt.Errorf("regions: %s: regional table: %w", cfg.Name, err)
		}
		e.erased = append(e.erased, erasedTable{url: b.URL(), entry: ent, b: b, guard: consumers})
		regional = append(regional, pending{cfg, ent, consumers, upTo})
		if !cfg.EgressEnabled() {
			continue
		}
		// Every route's target (the central table of the single-target
		// config): one DELETE per table, however its URL is spelled.
		for _, r := range cfg.Routes() {
			cb, err := e.open(ctx, r.Table)
			if err != nil {
				return fmt.Errorf("regions: %s: route %s: %w", cfg.Name, r.Name, err)
			}
			if _, ok := centrals[cb.URL()]; !ok {
				centralOrder = append(centralOrder, cb.URL())
				e.buckets[cb.URL()] = cb
			}
			if !slices.Contains(centrals[cb.URL()], cfg.Name) {
				centrals[cb.URL()] = append(centrals[cb.URL()], cfg.Name)
			}
		}
	}
	if req.DryRun {
		return e.dryRunCentrals(ctx, centralOrder, centrals)
	}
	// 2. Egress must have passed every regional DELETE.
	for _, p := range regional {
		if p.upTo < 0 || len(p.consumers) == 0 {
			continue
		}
		start := time.Now()
		prog, err := e.waitEgress(ctx, p.cfg.Name, p.consumers, p.upTo)
		if err != nil {
			return err // the report shows no egress progress: it did not pass
		}
		p.entry.Egress, p.entry.WaitedMS = prog, time.Since(start).Milliseconds()
	}
	// 3. Central tables, restricted to the erased regions' rows.
	for _, url := range centralOrder {
		b, err := e.open(ctx, url)
		if err != nil {
			return fmt.Errorf("regions: central: %w", err)
		}
		names := centrals[url]
		ent := &Erased{URL: storage.RedactURL(b.URL()), Role: "central", Regions: names, Where: centralWhere(req.Where, names)}
		e.rep.Tables = append(e.rep.Tables, ent)
		if _, err := e.delete(ctx, b, ent, false); err != nil {
			return fmt.Errorf("regions: central table: %w", err)
		}
		e.erased = append(e.erased, erasedTable{url: b.URL(), entry: ent, b: b})
	}
	// 4. VACUUM them, so the removed files holding the rows are gone
	// before any replica catches up: a replica then cannot copy them.
	for _, t := range e.erased {
		if t.entry.Missing {
			continue
		}
		if err := e.vacuum(ctx, t); err != nil {
			return fmt.Errorf("regions: vacuum %s: %w", t.entry.URL, err)
		}
	}
	// 5. Replicas replay their source's commits (the DELETE), then vacuum.
	return e.replicas(ctx)
}

// delete erases ent.Where from the table at b and returns the version
// egress must pass before the central table may be erased: the latest
// version after the DELETE (-1: no table). Not the DELETE's own version:
// a rerun that finds nothing left must still wait for a DELETE an earlier
// run committed.
//
// A table with consumers is opened without log cleanup, as the daemon's
// writers open it: a checkpoint the DELETE writes must not clean commits
// egress has not read.
func (e *eraser) delete(ctx context.Context, b storage.Bucket, ent *Erased, consumed bool) (int64, error) {
	t, err := table.Open(ctx, b, &table.Options{NoLogCleanup: consumed})
	if errors.Is(err, table.ErrNoTable) {
		ent.Missing = true
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	res, err := t.Delete(ctx, &table.DeleteOptions{Where: ent.Where, DryRun: e.req.DryRun})
	if err != nil {
		return -1, err
	}
	ent.Delete = res
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return -1, err
	}
	if e.req.DryRun {
		e.req.Logger.Info("erase: would delete (dry run)", "table", ent.URL, "rows", res.NumDeletedRows)
	} else {
		e.req.Logger.Info("erase: deleted", "table", ent.URL, "version", res.Version, "rows", res.NumDeletedRows)
	}
	return snap.Version(), nil
}

func (e *eraser) dryRunCentrals(ctx context.Context, order []string, centrals map[string][]string) error {
	for _, url := range order {
		b, err := e.open(ctx, url)
		if err != nil {
			return fmt.Errorf("regions: central: %w", err)
		}
		ent := &Erased{URL: storage.RedactURL(b.URL()), Role: "central", Regions: centrals[url], Where: centralWhere(e.req.Where, centrals[url])}
		e.rep.Tables = append(e.rep.Tables, ent)
		if _, err := e.delete(ctx, b, ent, false); err != nil {
			return fmt.Errorf("regions: central table: %w", err)
		}
	}
	return nil
}

// centralWhere restricts the predicate to the rows the regions forwarded:
// other regions' rows are erased with their own regional tables (region
// names are validated to letters, digits, '-', '_' and '.').
func centralWhere(where string, regions []string) string {
	q := make([]string, len(regions))
	for i, r := range regions {
		q[i] = "'" + strings.ReplaceAll(r, "'", "''") + "'"
	}
	return fmt.Sprintf("(%s) AND %s IN (%s)", where, egress.RegionColumn, strings.Join(q, ", "))
}

// waitEgress polls the consumers' progress until each has recorded
// version upTo, or the wait runs out.
func (e *eraser) waitEgress(ctx context.Context, region string, consumers []Consumer, upTo int64) (*Progress, error) {
	deadline := time.Now().Add(e.req.Wait)
	for {
		p, err := ReadProgress(ctx, consumers)
		if err != nil {
			return nil, err
		}
		behind := p.Behind(upTo)
		if len(behind) == 0 {
			return p, nil
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("%w: region %s: waited %s for regional version %d: %s; the central table was not erased (run the region's egress, then rerun)",
				ErrEgressBehind, region, e.req.Wait, upTo, (&Progress{Consumers: behind}).String())
		}
		e.req.Logger.Info("erase: waiting for egress", "region", region, "version", upTo, "progress", p.String())
		if err := storage.Sleep(ctx, e.req.Poll); err != nil {
			return p, err
		}
	}
}

// replicas brings every replica up to date with its source, in an order
// where each source has been erased first.
func (e *eraser) replicas(ctx context.Context) error {
	todo := slices.Clone(e.req.Replicas)
	for len(todo) > 0 {
		progressed := false
		for i := 0; i < len(todo); i++ {
			rp := todo[i]
			src, err := e.open(ctx, rp.Source)
			if err != nil {
				return fmt.Errorf("regions: replica source: %w", err)
			}
			idx := slices.IndexFunc(e.erased, func(t erasedTable) bool { return t.url == src.URL() })
			if idx < 0 {
				continue // its source is a replica not caught up yet
			}
			dst, err := e.open(ctx, rp.Replica)
			if err != nil {
				return fmt.Errorf("regions: replica: %w", err)
			}
			ent := &Erased{URL: storage.RedactURL(dst.URL()), Role: "replica", Regions: e.erased[idx].entry.Regions, Where: e.erased[idx].entry.Where}
			e.rep.Tables = append(e.rep.Tables, ent)
			res, err := replicate.Clone(ctx, src, dst, &replicate.Options{Logger: e.req.Logger})
			if err != nil {
				return fmt.Errorf("regions: replica %s of %s: %w", ent.URL, e.erased[idx].entry.URL, err)
			}
			ent.Clone = res
			et := erasedTable{url: dst.URL(), entry: ent, b: dst}
			if err := e.vacuum(ctx, et); err != nil {
				return fmt.Errorf("regions: vacuum %s: %w", ent.URL, err)
			}
			e.erased = append(e.erased, et)
			todo = slices.Delete(todo, i, i+1)
			i--
			progressed = true
		}
		if !progressed {
			names := make([]string, len(todo))
			for i, rp := range todo {
				names[i] = storage.RedactURL(rp.Source) + "=" + storage.RedactURL(rp.Replica)
			}
			return fmt.Errorf("regions: replicas whose source is neither an erased table nor another replica: %s", strings.Join(names, ", "))
		}
	}
	return nil
}

// vacuum deletes the removed files (the erased rows among them) and counts
// the rows still matching.
func (e *eraser) vacuum(ctx context.Context, et erasedTable) error {
	t, err := table.Open(ctx, et.b, nil)
	if err != nil {
		return err
	}
	if err := e.purgeCache(ctx, t, et); err != nil {
		return err
	}
	if !e.req.NoVacuum {
		guard, err := NewGuard(ctx, et.guard)
		if err != nil {
			return err
		}
		et.entry.Vacuum, err = t.Vacuum(ctx, guard.Vacuum(&table.VacuumOptions{Retain: e.req.Retain, Force: e.req.Force, Now: e.req.Now}))
		if err != nil {
			return err
		}
		if k := et.entry.Vacuum.KeptForConsumers; k > 0 {
			e.req.Logger.Warn("erase: vacuum kept files egress has not read yet; rerun the vacuum once it has", "table", et.entry.URL, "files", k)
		}
	}
	left, err := t.Delete(ctx, &table.DeleteOptions{Where: et.entry.Where, DryRun: true})
	if err != nil {
		return err
	}
	et.entry.Remaining = &left.NumDeletedRows
	return nil
}

// purgeCache deletes the query cache's copies of the files the table
// removed (the erased ones among them), keyed as the query engine keys
// them: location URL, file key and size.
func (e *eraser) purgeCache(ctx context.Context, t *table.Table, et erasedTable) error {
	if e.req.CacheDir == "" {
		return nil
	}
	if e.cache == nil {
		c, err := query.NewCache(e.req.CacheDir, nil)
		if err != nil {
			return err
		}
		e.cache = c
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return err
	}
	tombstones, err := snap.Tombstones()
	if err != nil {
		return err
	}
	for _, r := range tombstones {
		if r.Size == nil {
			continue // no size in the log: the query engine never cached it under one either
		}
		key, err := table.FileKey(r.Path)
		if err != nil {
			return err
		}
		gone, err := e.cache.Forget(et.b.URL(), key, *r.Size)
		if err != nil {
			return err
		}
		if gone {
			et.entry.CachePurged++
		}
	}
	return nil
}
