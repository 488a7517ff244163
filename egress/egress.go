package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// Egress forwards one region's approved rows from its regional table to the
// central table. RunOnce and Run serialize on the Egress; several Egresses
// (in one process or many) may run the same region at once without
// duplicating a row.
type Egress struct {
	source, central storage.Bucket
	opts            Options
	appID           string
	log             *slog.Logger
	met             *metrics
	// parsed is the predicate of the segment being read; preds lists every
	// segment (Options.Predicate from Start, then Options.Switches).
	parsed expr.Expr
	preds  []segment
	seg    int // index of parsed in preds
	// fence is the route set this Egress was built from (-1: none): it
	// forwards nothing at or after a later route switch in the source log,
	// whose version fenceAt is, once seen (-1: not seen).
	fence, fenceAt int64

	mu  sync.Mutex
	src *table.Table
	dst *table.Table
	// srcHash identifies the source table (sourceHash of its id) in the
	// target's source-of txn; set with src.
	srcHash int64
	// cursor is the last source version forwarded or passed over; it is
	// ahead of the central txn only by versions that had no rows to forward.
	// -2: not read yet.
	cursor int64
	// txn and centralVersion are the region's txn and the version of the
	// central snapshot last read.
	txn, centralVersion int64
	// pendingSince is when the cursor first moved past the central txn
	// without a commit (zero when it is not ahead).
	pendingSince time.Time
	st           sourceState
	// feed is the source's change feed, positioned at the last version
	// read from it.
	feed *table.Feed
}

// segment is a predicate in force from a source version on.
type segment struct {
	from int64
	pred expr.Expr
}

// segmentAt returns the index of the segment source version v belongs to.
func (e *Egress) segmentAt(v int64) int {
	i := 0
	for j, s := range e.preds {
		if s.from <= v {
			i = j
		}
	}
	return i
}

// limit is the last source version this Egress may forward (-1: none).
func (e *Egress) limit() int64 {
	lim := int64(-1)
	if e.opts.Stop > 0 {
		lim = e.opts.Stop - 1
	}
	if e.fenceAt >= 0 && (lim < 0 || e.fenceAt-1 < lim) {
		lim = e.fenceAt - 1
	}
	return lim
}

// Finished reports whether a stream with a Stop has forwarded (and
// recorded in its txn) every version below it.
func (e *Egress) Finished() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.finished()
}

func (e *Egress) finished() bool {
	return e.opts.Stop > 0 && e.txn >= e.opts.Stop-1
}

// errNoSource: the regional table does not exist yet; there is nothing to
// forward.
var errNoSource = errors.New("egress: source table does not exist yet")

// New returns an Egress from the regional table in source to the central
// table in central. It validates opts and parses the predicate; when the
// regional table exists it also checks the predicate against its schema and
// creates the central table if absent (source schema, all columns nullable,
// plus a string `region` column, partitioned by `date` when the source has
// that column). When the regional table does not exist yet (its ingest has
// not committed), both happen at the first run that finds it.
func New(ctx context.Context, source, central storage.Bucket, opts Options) (*Egress, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	met, err := newMetrics(o.Registerer, o.Region, o.Route)
	if err != nil {
		return nil, fmt.Errorf("egress: registering metrics: %w", err)
	}
	return newEgress(ctx, source, central, o, met, -1)
}

// newEgress is New with validated options and metrics of its own; fence is
// the route set the Egress belongs to (-1: not routed).
func newEgress(ctx context.Context, source, central storage.Bucket, o Options, met *metrics, fence int64) (*Egress, error) {
	preds := []segment{{from: 0}}
	var err error
	if preds[0].pred, err = expr.Parse(o.Predicate); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPredicate, err)
	}
	for _, sw := range o.Switches {
		p, err := expr.Parse(sw.Predicate)
		if err != nil {
			return nil, fmt.Errorf("%w: from source version %d: %v", ErrPredicate, sw.Version, err)
		}
		preds = append(preds, segment{from: sw.Version, pred: p})
	}
	e := &Egress{source: source, central: central, opts: o, appID: RouteAppID(o.Region, o.Route),
		log: o.Logger.With("region", o.Region, "route", o.Route), met: met, parsed: preds[0].pred, preds: preds,
		fence: fence, fenceAt: -1, cursor: -2, txn: -1, centralVersion: -1}
	e.seg = e.segmentAt(o.Start)
	e.parsed = preds[e.seg].pred
	if err := e.open(ctx); err != nil && !errors.Is(err, errNoSource) {
		return nil, err
	}
	return e, nil
}

// open opens the source table and opens or creates the central table.
func (e *Egress) open(ctx context.Context) error {
	if e.src == nil {
		t, err := table.Open(ctx, e.source, e.tableOptions())
		if errors.Is(err, table.ErrNoTable) {
			return errNoSource
		}
		if err != nil {
			return fmt.Errorf("egress: source table %s: %w", e.source.URL(), err)
		}
		snap, err := t.Snapshot(ctx)
		if err != nil {
			return err
		}
		for _, s := range e.preds {
			if err := checkPredicate(snap, s.pred); err != nil {
				return fmt.Errorf("%w (source table %s)", err, e.source.URL())
			}
		}
		e.src, e.srcHash = t, sourceHash(snap.Metadata().ID)
	}
	if e.dst == nil {
		t, err := table.Open(ctx, e.central, e.tableOptions())
		if errors.Is(err, table.ErrNoTable) {
			t, err = e.createCentral(ctx)
		}
		if err != nil {
			return fmt.Errorf("egress: central table %s: %w", e.central.URL(), err)
		}
		e.dst = t
	}
	return nil
}

// checkPredicate binds p to the newest schema of the source: a column no
// version has (a misspelling) is an error, not a filter that matches no
// row.
func checkPredicate(snap *table.Snapshot, p expr.Expr) error {
	sch, err := snap.Schema()
	if err != nil {
		return err
	}
	if _, err := expr.Bind(p, sch.Arrow()); err != nil {
		return fmt.Errorf("%w: %v", ErrPredicate, err)
	}
	return nil
}

// createCentral creates the central table from the source schema.
func (e *Egress) createCentral(ctx context.Context) (*table.Table, error) {
	snap, err := e.src.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	ssch, err := snap.Schema()
	if err != nil {
		return nil, err
	}
	sch := CentralSchema(ssch)
	var parts []string
	if f := sch.Field("date"); f != nil {
		parts = []string{f.Name}
	}
	t, err := table.Create(ctx, e.central, table.CreateOptions{
		Schema:           sch,
		PartitionColumns: parts,
		Properties:       e.opts.CentralProperties,
		Description:      "loglake central table",
	}, e.tableOptions())
	if errors.Is(err, table.ErrExists) {
		// Another region created it first.
		return table.Open(ctx, e.central, e.tableOptions())
	}
	if err == nil {
		e.log.Info("created the central table", "url", e.central.URL(), "partitionBy", parts)
	}
	return t, err
}

// CentralSchema is the central table schema egress derives from a regional
// table's: every column nullable (other regions may lack it), plus a string
// `region` column unless the source already has one.
func CentralSchema(src *table.Schema) *table.Schema {
	out := &table.Schema{}
	hasRegion := false
	for _, f := range src.Fields {
		cp := *f
		cp.Nullable = true
		if f.Name == RegionColumn {
			hasRegion = true
			cp.Type = table.TypeString
		}
		out.Fields = append(out.Fields, &cp)
	}
	if !hasRegion {
		out.Fields = append(out.Fields, &table.Field{Name: RegionColumn, Type: table.TypeString, Nullable: true})
	}
	return out
}

// RunOnce forwards every source version committed before it started,
// writing as many central commits as the batch bounds require, and returns
// the totals. It stops at the first error; calling it again resumes from the
// central table's txn, so no row is lost or duplicated.
func (e *Egress) RunOnce(ctx context.Context) (Summary, error) {
	return e.run(ctx, ctx)
}

// Run forwards new source versions until ctx is done, polling every
// interval (default DefaultInterval). When ctx is done it lets the current batch finish
// and commit (for at most DrainTimeout) and returns nil. Failed runs are
// logged and retried with backoff; errors that a retry cannot fix
// (ErrSourceLogCleaned, ErrSchemaMismatch, ErrPredicate,
// table.ErrUnsupportedFeature, table.ErrInvalidPath) are returned.
func (e *Egress) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	wait := interval
	for {
		work, release := storage.Drain(ctx, e.opts.DrainTimeout)
		sum, err := e.run(ctx, work)
		release()
		if ctx.Err() != nil {
			if err != nil {
				e.log.Warn("egress stopped with an unfinished batch; the next run resumes it", "err", err)
			}
			return nil
		}
		switch {
		case err != nil && permanent(err):
			e.log.Error("egress cannot continue", "err", err)
			return err
		case err != nil:
			e.log.Warn("egress run failed; retrying", "err", err, "retryIn", wait)
		default:
			if sum.Commits > 0 || sum.Superseded > 0 {
				e.log.Debug("egress run", "from", sum.FromVersion, "to", sum.ToVersion, "rows", sum.Rows,
					"commits", sum.Commits, "lag", sum.LagVersions)
			}
			wait = interval
		}
		if err == nil && e.Finished() {
			e.log.Info("route finished: every source version before its stop is forwarded", "stop", e.opts.Stop)
			return nil
		}
		if storage.Sleep(ctx, wait) != nil {
			return nil
		}
		if err != nil {
			wait = min(2*wait, max(time.Minute, interval))
		}
	}
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	return errors.Is(err, ErrSourceLogCleaned) || errors.Is(err, ErrSchemaMismatch) ||
		errors.Is(err, ErrPredicate) || table.Permanent(err)
}

// run forwards the source versions committed before it started (and those
// that arrive while it catches up). It starts no new batch once stop is
// done; ctx bounds the I/O. An idle run costs one probe of the source log:
// the central snapshot is refreshed only when there is something to forward.
func (e *Egress) run(stop, ctx context.Context) (sum Summary, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sum = Summary{Region: e.opts.Region, FromVersion: -1, ToVersion: -1, CentralVersion: -1}
	defer func() {
		if err != nil {
			e.met.failures.Inc()
		}
	}()
	if err := e.open(ctx); errors.Is(err, errNoSource) {
		e.log.Debug("no regional table yet", "url", e.source.URL())
		return sum, nil
	} else if err != nil {
		return sum, err
	}
	if e.cursor == -2 {
		csnap, err := e.dst.Snapshot(ctx)
		if err != nil {
			return sum, err
		}
		if _, err := e.checkStream(csnap); err != nil {
			return sum, err
		}
		e.position(csnap)
	}
	sum.Route = e.opts.Route
	sum.FromVersion, sum.ToVersion, sum.CentralVersion = e.cursor, e.cursor, e.centralVersion
	// head is the last source version this run forwards: the newest one
	// seen once a read of the change feed returns less than a full batch.
	head, seen := int64(-1), e.cursor
	var pending []table.Change
	for stop.Err() == nil {
		if head >= 0 && e.cursor >= head {
			break
		}
		if lim := e.limit(); lim >= 0 && e.cursor >= lim {
			break
		}
		pending = dropThrough(pending, e.cursor)
		if len(pending) == 0 {
			if pending, err = e.changes(ctx, e.cursor, head); err != nil {
				return sum, err
			}
			if len(pending) > 0 {
				seen = max(seen, pending[len(pending)-1].Version)
			}
			if head < 0 && len(pending) < e.opts.MaxVersions {
				head = seen
			}
			if len(pending) == 0 {
				break
			}
		}
		csnap, err := e.dst.Snapshot(ctx)
		if err != nil {
			return sum, err
		}
		if _, err := e.checkStream(csnap); err != nil {
			return sum, err
		}
		txn := e.position(csnap)
		if pending = dropThrough(pending, e.cursor); len(pending) == 0 {
			continue // another instance forwarded them
		}
		res, err := e.batch(ctx, csnap, txn, pending)
		sum.add(res)
		if err != nil {
			return sum, err
		}
	}
	// A stream that reached its Stop records it at once: its txn then says
	// it is finished, and nothing keeps the source log for it.
	done := e.opts.Stop > 0 && e.cursor >= e.opts.Stop-1
	if e.cursor > e.txn && (e.advanceDue(e.txn) || done) {
		csnap, err := e.dst.Snapshot(ctx)
		if err != nil {
			return sum, err
		}
		if txn := e.position(csnap); e.cursor > txn {
			res, err := e.commit(ctx, csnap, &batch{from: txn, to: e.cursor, start: e.opts.Now()}, nil)
			sum.add(res)
			if err != nil {
				return sum, err
			}
		}
	}
	sum.ToVersion = max(sum.ToVersion, e.cursor)
	if sum.Commits == 0 {
		sum.CentralVersion = e.centralVersion
	}
	// Lag, from what the change feed showed: versions seen but not
	// forwarded, and the age of the oldest of them.
	sum.LagVersions = max(seen-e.cursor, 0)
	e.met.lagVersions.Set(float64(sum.LagVersions))
	secs := 0.0
	if rest := dropThrough(pending, e.cursor); sum.LagVersions > 0 && len(rest) > 0 {
		secs = max(e.opts.Now().Sub(rest[0].Timestamp).Seconds(), 0)
	}
	e.met.lagSeconds.Set(secs)
	return sum, nil
}

// changes reads the source change feed after version `after`. The feed
// applies each commit's protocol and metaData in order and stops at the
// first commit that needs a feature loglake cannot read, so a source that
// switches on column mapping (or anything else it cannot read) while egress
// runs stops egress with an error naming the feature, before any of its
// data is read.
func (e *Egress) changes(ctx context.Context, after, upTo int64) ([]table.Change, error) {
	if lim := e.limit(); lim >= 0 && (upTo < 0 || lim < upTo) {
		upTo = lim
	}
	if e.feed == nil || e.feed.Version() != after {
		f, err := e.src.Feed(ctx, after, nil)
		if errors.Is(err, table.ErrVersionNotFound) && after >= 0 {
			// Version `after` is no longer reconstructible but the commits
			// after it are: gate from the latest state, which Open checked.
			var snap *table.Snapshot
			if snap, err = e.src.Snapshot(ctx); err == nil {
				f, err = e.src.Feed(ctx, after, &table.FeedOptions{Start: snap})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("egress: source %s: %w", e.source.URL(), err)
		}
		e.feed = f
		if md := f.Metadata(); md != nil && (e.st.schema == nil || e.st.version != after) {
			// The feed loaded the state at `after`: batch needs no second load.
			e.st.plan.release()
			e.st = sourceState{version: after}
			if err := e.st.setMetadata(md, e.parsed); err != nil {
				return nil, err
			}
		}
	}
	ch, err := e.feed.Next(ctx, upTo, e.opts.MaxVersions)
	if errors.Is(err, table.ErrVersionNotFound) {
		return nil, fmt.Errorf("%w: region %s: source %s: the central table holds versions up to %d, but %v",
			ErrSourceLogCleaned, e.opts.Region, e.source.URL(), after, err)
	}
	if e.fence >= 0 {
		for i, c := range ch {
			if n, ok := switchIn(c); ok && n > e.fence {
				// A later route set takes effect here: this Egress's rules
				// end before it, whatever instance recorded it.
				e.fenceAt = c.Version
				e.feed = nil // it has read past the fence
				e.log.Info("route switch in the source log; stopping before it", "version", c.Version, "routeSet", n)
				return ch[:i], err
			}
		}
	}
	return ch, err
}

// dropThrough drops the changes at or before version v.
func dropThrough(changes []table.Change, v int64) []table.Change {
	for len(changes) > 0 && changes[0].Version <= v {
		changes = changes[1:]
	}
	return changes
}

// checkStream refuses (ErrForeignStream) a target whose txn of this stream
// another source table's egress wrote: its version counts that table's
// versions, and this one would skip its own rows as forwarded. named
// reports whether the target names the stream's source table at all.
func (e *Egress) checkStream(csnap *table.Snapshot) (named bool, err error) {
	id, ok := csnap.AppVersion(sourceAppID(e.appID))
	if ok && id != e.srcHash {
		return true, fmt.Errorf("%w: %s holds stream %s of another source table than %s (two regions of one name, "+
			"or a regional table created anew); give the region another name, or see docs/egress.md",
			ErrForeignStream, e.central.URL(), e.appID, e.source.URL())
	}
	return ok, nil
}

// position reconciles the in-memory cursor with the central txn and returns
// the txn (-1 when the region never committed).
func (e *Egress) position(csnap *table.Snapshot) int64 {
	txn, ok := csnap.AppVersion(e.appID)
	if !ok || txn < e.opts.Start-1 {
		// Versions before Start are not this stream's, whatever a txn
		// copied into its table (a clone of another route's table) says.
		txn = e.opts.Start - 1
	}
	e.txn, e.centralVersion = txn, csnap.Version()
	if txn >= e.cursor {
		if e.cursor != -2 && txn > e.cursor {
			e.log.Debug("another instance forwarded ahead of this one", "txn", txn, "cursor", e.cursor)
		}
		e.cursor = txn
		e.pendingSince = time.Time{}
	}
	return txn
}

// passedSince is when the first of the versions a batch passes over was
// committed (now, if later): the age `loglake status` gives the stream's
// lag. They are recorded AdvanceAfter after it — also by `egress --once`
// runs that each live shorter than that, whose lag status would otherwise
// show for good.
func (e *Egress) passedSince(changes []table.Change) time.Time {
	now := e.opts.Now()
	if len(changes) > 0 && changes[0].Timestamp.Before(now) {
		return changes[0].Timestamp
	}
	return now
}

// advanceDue reports whether the versions passed over since txn should be
// recorded in the central table now.
func (e *Egress) advanceDue(txn int64) bool {
	return e.cursor-txn >= int64(e.opts.AdvanceEvery) ||
		(!e.pendingSince.IsZero() && e.opts.Now().Sub(e.pendingSince) >= e.opts.AdvanceAfter)
}

// centralPlan is the central schema a batch writes, and its schemaString,
// which keys the source state's cached plan.
type centralPlan struct {
	schema *arrow.Schema
	key    string
}

// batch is one central commit being assembled.
type batch struct {
	from, to       int64 // source versions covered: (from, to]
	start          time.Time
	srcRows, bytes int64
	rows, filtered int64
	rescued        int64
	skipped        int
	sources        []SourceCommit
}

// usePredicate makes segment i's predicate the one rows are matched with.
func (e *Egress) usePredicate(i int) error {
	if i == e.seg {
		return nil
	}
	p := e.preds[i].pred
	e.seg, e.parsed = i, p
	if e.st.schema == nil {
		return nil
	}
	pred, err := expr.BindMissingNull(p, e.st.schema.Arrow())
	if err != nil {
		return fmt.Errorf("%w: from source version %d: %v", ErrPredicate, e.preds[i].from, err)
	}
	e.st.pred = pred
	return nil
}

// syncSchema makes e.st describe source version v.
func (e *Egress) syncSchema(ctx context.Context, v int64) error {
	if e.st.schema != nil && e.st.version == v {
		return nil
	}
	e.st.plan.release()
	e.st = sourceState{version: v}
	if v < 0 {
		return nil // version 0 carries the metaData
	}
	snap, err := e.src.SnapshotAt(ctx, v)
	if errors.Is(err, table.ErrVersionNotFound) {
		// Version v is no longer reconstructible but the commits after it
		// are: columns are only ever added, so the latest schema reads the
		// older files too (new columns as null).
		e.log.Warn("source version not reconstructible; reading with the latest schema", "version", v)
		snap, err = e.src.Snapshot(ctx)
	}
	if err != nil {
		return err
	}
	if err := e.st.setMetadata(snap.Metadata(), e.parsed); err != nil {
		return err
	}
	e.st.version = v
	return nil
}

// changeSize estimates a source commit's rows and bytes from its adds.
func changeSize(c table.Change) (rows, bytes int64) {
	for _, a := range c.Actions {
		if a.Add != nil && a.Add.DataChange {
			bytes += a.Add.Size
			if n, ok := a.Add.NumRecords(); ok {
				rows += n
			}
		}
	}
	return rows, bytes
}

// batch reads source changes (the versions right after the cursor, within
// the batch bounds), writes their matching rows to new central files and
// commits them, or only moves the cursor when no row matched.
func (e *Egress) batch(ctx context.Context, csnap *table.Snapshot, txn int64, changes []table.Change) (Summary, error) {
	b := &batch{from: e.cursor, to: e.cursor, start: e.opts.Now()}
	res := Summary{Region: e.opts.Region, Route: e.opts.Route, FromVersion: b.from, ToVersion: b.from, CentralVersion: csnap.Version()}
	if changes[0].Version != b.from+1 {
		return res, fmt.Errorf("egress: source change feed gave version %d after %d", changes[0].Version, b.from)
	}
	if err := e.syncSchema(ctx, b.from); err != nil {
		return res, err
	}
	seg := e.segmentAt(b.from + 1)
	if err := e.usePredicate(seg); err != nil {
		return res, err
	}
	sources, err := sourceSchemas(e.st.schema, changes)
	if err != nil {
		return res, err
	}
	evolved, added, err := e.evolveCentral(ctx, csnap, sources)
	if err != nil {
		return res, err
	}
	res.ColumnsAdded = added
	if evolved != csnap {
		// Plan on the evolved schema; if another instance of this stream
		// moved the txn meanwhile, let the caller re-plan from it.
		csnap = evolved
		if t := e.position(csnap); t != txn {
			return res, nil
		}
		res.CentralVersion = csnap.Version()
	}

	var w *table.Writer
	discard := func() {
		if w != nil {
			if adds, err := w.Close(); err == nil {
				e.discard(adds)
			}
		}
	}
	write := func(rec arrow.Record) error {
		if w == nil {
			var err error
			if w, err = e.dst.NewWriter(csnap, &table.WriteOptions{TargetFileSize: e.opts.TargetFileSize}); err != nil {
				return err
			}
		}
		return w.Write(ctx, rec)
	}
	centralSchema, err := csnap.Schema()
	if err != nil {
		return res, err
	}
	central := centralPlan{schema: centralSchema.Arrow(), key: csnap.Metadata().SchemaString}
	for _, c := range changes {
		if e.segmentAt(c.Version) != seg {
			break // a predicate switch: the next batch reads with the new one
		}
		rows, bytes := changeSize(c)
		if b.to > b.from && (b.srcRows+rows > e.opts.MaxRows || b.bytes+bytes > e.opts.MaxBytes ||
			e.opts.Now().Sub(b.start) >= e.opts.MaxBatchTime) {
			break
		}
		if err := e.readChange(ctx, c, b, central, write); err != nil {
			discard()
			return res, err
		}
		b.to = c.Version
		e.st.version = c.Version
	}
	res.ToVersion = b.to
	res.RowsFiltered, res.SkippedCommits, res.SourceBytes = b.filtered, b.skipped, b.bytes

	var adds []table.Action
	if w != nil {
		if adds, err = w.Close(); err != nil {
			e.discard(adds)
			return res, err
		}
	}
	e.met.filtered.Add(float64(b.filtered))
	e.met.skipped.Add(float64(b.skipped))
	e.met.sourceBytes.Add(float64(b.bytes))
	if b.rows == 0 {
		// Nothing to forward: move the cursor; record it in the central
		// table only when enough has accumulated (see Options.AdvanceEvery).
		e.discard(adds)
		e.met.sourceVersions.Add(float64(b.to - b.from))
		e.cursor = b.to
		if e.pendingSince.IsZero() {
			e.pendingSince = e.passedSince(changes)
		}
		if !e.advanceDue(txn) {
			return res, nil
		}
		b.from = txn
	}
	out, err := e.commit(ctx, csnap, b, adds)
	out.FromVersion, out.ColumnsAdded = res.FromVersion, res.ColumnsAdded
	out.RowsFiltered, out.SkippedCommits, out.SourceBytes = res.RowsFiltered, res.SkippedCommits, res.SourceBytes
	return out, err
}

// Forwardable reports whether a source commit carries rows egress
// forwards: data added (dataChange) by a commit that removes none. A commit
// that removes data (DELETE, a rewrite) is skipped — rows forwarded stay,
// rewritten rows are not forwarded again —, and one that adds no data
// (OPTIMIZE, metadata, a txn) has none: neither is egress lag.
func Forwardable(actions []table.Action) bool {
	if removesData(actions) {
		return false
	}
	for _, a := range actions {
		if a.Add != nil && a.Add.DataChange {
			return true
		}
	}
	return false
}

func removesData(actions []table.Action) bool {
	for _, a := range actions {
		if a.Remove != nil && a.Remove.DataChange {
			return true
		}
	}
	return false
}

// readChange forwards one source commit's new rows into the batch.
func (e *Egress) readChange(ctx context.Context, c table.Change, b *batch, central centralPlan, write func(arrow.Record) error) error {
	var adds []*table.Add
	at := map[string]int{} // path -> index in adds: a later add of a path replaces an earlier one
	for _, a := range c.Actions {
		switch {
		case a.MetaData != nil:
			if err := e.st.setMetadata(a.MetaData, e.parsed); err != nil {
				return fmt.Errorf("source version %d: %w", c.Version, err)
			}
		case a.Add != nil && a.Add.DataChange:
			if i, ok := at[a.Add.Path]; ok {
				adds[i] = a.Add
				continue
			}
			at[a.Add.Path] = len(adds)
			adds = append(adds, a.Add)
		}
	}
	if removesData(c.Actions) {
		// skipChangeCommits: rows already forwarded stay; rewritten rows are
		// not forwarded again.
		b.skipped++
		e.log.Info("skipping a source commit that deletes or rewrites data", "version", c.Version)
		return nil
	}
	if len(adds) == 0 {
		return nil // dataChange=false (OPTIMIZE), metadata, txn-only
	}
	if e.st.schema == nil {
		return fmt.Errorf("%w: source version %d adds files before any metaData", table.ErrCorrupt, c.Version)
	}
	if e.st.plan == nil || e.st.plan.key != central.key {
		// The central schema evolves while egress runs (other regions add
		// columns): plan against the one this batch writes.
		p, err := newPlan(e.st.schema.Arrow(), central.schema, central.key, e.opts.Region, e.opts.SchemaMode)
		if err != nil {
			return fmt.Errorf("region %s, source version %d: %w", e.opts.Region, c.Version, err)
		}
		e.st.plan.release()
		e.st.plan = p
	}
	var kept int64
	for _, a := range adds {
		n, err := readFile(ctx, e.source, &e.st, a, write)
		if err != nil {
			return fmt.Errorf("source version %d: %w", c.Version, err)
		}
		b.srcRows += n.rows
		b.filtered += n.rows - n.kept
		b.rescued += n.rescued
		if !n.pruned {
			b.bytes += a.Size
		}
		kept += n.kept
	}
	b.rows += kept
	if kept > 0 {
		b.sources = append(b.sources, SourceCommit{Version: c.Version, Timestamp: c.Timestamp, Rows: kept})
	}
	return nil
}

// commit writes the batch's adds with txn{appId, b.to} at the head of the
// central log. On success it moves the cursor to b.to.
func (e *Egress) commit(ctx context.Context, csnap *table.Snapshot, b *batch, adds []table.Action) (Summary, error) {
	res := Summary{Region: e.opts.Region, Route: e.opts.Route, FromVersion: b.from, ToVersion: b.from, CentralVersion: csnap.Version()}
	var outBytes int64
	for _, a := range adds {
		outBytes += a.Add.Size
	}
	// The stream's txn version counts this source table's versions only: a
	// txn another table's egress wrote (two regions of one name, a regional
	// table created anew) would make this one skip its rows. The source
	// table is named beside the txn, once, and checked on every commit.
	actions := adds
	named, err := e.checkStream(csnap)
	if err != nil {
		e.discard(adds)
		return res, err
	}
	if !named {
		actions = append(slices.Clip(adds), table.Action{Txn: &table.Txn{AppID: sourceAppID(e.appID), Version: e.srcHash}})
	}
	c := &table.Commit{
		Actions:   actions,
		Operation: "STREAMING UPDATE",
		Parameters: map[string]any{"outputMode": "Append", "queryId": e.appID,
			"epochId": strconv.FormatInt(b.to, 10)},
		Metrics: map[string]any{
			"numAddedFiles":       strconv.Itoa(len(adds)),
			"numOutputRows":       strconv.FormatInt(b.rows, 10),
			"numOutputBytes":      strconv.FormatInt(outBytes, 10),
			"numFilteredRows":     strconv.FormatInt(b.filtered, 10),
			"numSourceVersions":   strconv.FormatInt(b.to-b.from, 10),
			"numSkippedCommits":   strconv.Itoa(b.skipped),
			"sourceStartVersion":  strconv.FormatInt(b.from+1, 10),
			"sourceEndVersion":    strconv.FormatInt(b.to, 10),
			"batchDurationMs":     strconv.FormatInt(e.opts.Now().Sub(b.start).Milliseconds(), 10),
			"numSourceBytesRead":  strconv.FormatInt(b.bytes, 10),
			"numSourceRowsRead":   strconv.FormatInt(b.srcRows, 10),
			"numSourceDataCommit": strconv.Itoa(len(b.sources)),
			"numRescuedRows":      strconv.FormatInt(b.rescued, 10),
		},
		AppID:      e.appID,
		AppVersion: b.to,
		// csnap was read before the batch's files were written; other
		// regions have committed since.
		CatchUp: true,
	}
	// table.Commit retries lost version races; a concurrent commit of this
	// region (its txn at any version) or a metadata change comes back as
	// ErrConflict / ErrAlreadyCommitted: the batch may overlap it, so plan
	// again from the central table's txn.
	started := time.Now()
	v, err := e.dst.Commit(ctx, csnap, c)
	took := time.Since(started)
	switch {
	case errors.Is(err, table.ErrConflict), errors.Is(err, table.ErrAlreadyCommitted):
		e.discard(adds)
		res.Superseded = 1
		e.met.superseded.Inc()
		e.log.Info("batch superseded by a concurrent commit; replanning", "from", b.from, "to", b.to, "reason", err)
		return res, nil
	case err != nil:
		// The commit may have landed (a lost response the table could not
		// confirm): keep the files; the next run learns the truth from the
		// txn.
		return res, err
	}
	now := e.opts.Now()
	e.cursor, e.pendingSince, e.txn, e.centralVersion = b.to, time.Time{}, b.to, v
	res.ToVersion, res.CentralVersion, res.Commits, res.Rows, res.Rescued = b.to, v, 1, b.rows, b.rescued
	res.Sources = b.sources
	if len(b.sources) > 0 {
		res.OldestSourceCommit = b.sources[0].Timestamp
	}
	e.met.commits.Inc()
	e.met.rows.Add(float64(b.rows))
	e.met.rescued.Add(float64(b.rescued))
	if b.rows > 0 {
		e.met.sourceVersions.Add(float64(b.to - b.from))
	}
	e.met.batchSeconds.Observe(now.Sub(b.start).Seconds())
	for _, s := range b.sources {
		e.met.latencySeconds.Observe(max(now.Sub(s.Timestamp).Seconds(), 0))
	}
	e.log.Debug("committed to the central table", "version", v, "sourceFrom", b.from, "sourceTo", b.to, "rows", b.rows)
	if e.opts.Committed != nil {
		res.CommitDuration = took
		e.opts.Committed(res)
	}
	res.Sources, res.CommitDuration = nil, 0
	return res, nil
}

// discard deletes central data files that will never be committed (best
// effort: VACUUM removes what is left).
func (e *Egress) discard(adds []table.Action) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := table.DiscardFiles(ctx, e.central, adds); err != nil {
		e.log.Debug("deleting uncommitted central files failed", "err", err)
	}
}

// tableOptions are the options egress opens both tables with: central
// commits that lose a version race are counted as conflicts.
func (e *Egress) tableOptions() *table.Options {
	return &table.Options{Logger: e.opts.Logger, Hooks: table.Hooks{Conflict: func(int64) { e.met.conflicts.Inc() }}}
}
