package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// Route switches.
//
// A region's route set is recorded in its regional table, so that every
// instance of the region applies one switch at one regional version,
// whenever each of them reloads its configuration:
//
//	_loglake/egress/routes/%020d.json     route set n (put-if-absent)
//	_loglake/egress/routes/%020d.at.json  {"version": V}: where set n took effect
//
// Set n takes effect at the regional commit that carries
// txn{RoutesAppID, n} (its switch commit, version V): rows of versions
// before V follow set n-1, rows of V and later follow set n. The switch
// commit is the linearization point: it is in the regional log every
// instance tails, so an instance that has not heard of set n yet stops
// forwarding before V the moment its change feed shows the commit, and
// none can forward a version at or after V under the old rules. The
// .at.json file only spares readers a scan of the log for V.
//
// Recording a set is three idempotent steps, each of which any instance
// may finish for another that died half-way: write the set put-if-absent,
// commit the switch (the txn makes a second commit of set n impossible),
// write the .at.json file put-if-absent.

// RoutesAppID is the regional table's txn appId of route switches.
const RoutesAppID = "egress-routes"

const routesPrefix = "_loglake/egress/routes/"

// NoRows is the predicate of a route between its removal and its return.
const NoRows = "FALSE"

// Route is one egress target of a region.
type Route struct {
	// Name names the stream: appId RouteAppID(region, Name). DefaultRoute
	// is the single-target configuration's route.
	Name string `json:"name"`
	// Predicate selects the rows the route forwards (default
	// DefaultPredicate).
	Predicate string `json:"predicate"`
	// Table is the target table's URL.
	Table string `json:"table"`
	// SchemaMode, when set, overrides Options.SchemaMode for this route: the
	// targets of one region may differ in how they take schema changes.
	// Recorded with the set, so a change takes effect at one version.
	SchemaMode SchemaMode `json:"schemaMode,omitempty"`
}

// RouteSet is a recorded route set.
type RouteSet struct {
	// N numbers the sets of a region from 0.
	N int64 `json:"-"`
	// Version is the regional version of its switch commit (-1: not
	// committed yet).
	Version int64   `json:"-"`
	Routes  []Route `json:"routes"`
}

// Stream is one route's exactly-once stream over the regional table's
// versions, as the recorded route sets define it.
type Stream struct {
	Route string
	Table string
	// Start is its first regional version: 0 for the routes of set 0 (they
	// cover the table's history, as the single-target egress always did),
	// the switch version for routes added later.
	Start int64
	// Stop, when positive, is the switch version at which the route was
	// removed or retargeted.
	Stop      int64
	Predicate string
	Switches  []PredicateSwitch
	// SchemaMode is the route's schema mode in the newest set that lists
	// it ("": the Options' mode).
	SchemaMode SchemaMode
}

// CheckRoutes fills in the defaults of routes (Predicate) and validates
// them: names valid and unique, predicates that parse, tables given and
// distinct per name. It returns them sorted by name.
func CheckRoutes(routes []Route) ([]Route, error) {
	if len(routes) == 0 {
		return nil, fmt.Errorf("%w: no routes", ErrConfig)
	}
	out := slices.Clone(routes)
	seen := map[string]bool{}
	for i := range out {
		r := &out[i]
		if err := checkName("route name", r.Name); err != nil {
			return nil, err
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("%w: route %q is listed twice", ErrConfig, r.Name)
		}
		seen[r.Name] = true
		if r.Predicate == "" {
			r.Predicate = DefaultPredicate
		}
		if _, err := expr.Parse(r.Predicate); err != nil {
			return nil, fmt.Errorf("%w: route %q: %v", ErrPredicate, r.Name, err)
		}
		if r.SchemaMode != "" {
			if _, err := ParseSchemaMode(string(r.SchemaMode)); err != nil {
				return nil, fmt.Errorf("route %q: %w", r.Name, err)
			}
		}
		if r.Table == "" {
			return nil, fmt.Errorf("%w: route %q: table is required", ErrConfig, r.Name)
		}
	}
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func routesKey(n int64) string   { return fmt.Sprintf("%s%020d.json", routesPrefix, n) }
func routesAtKey(n int64) string { return fmt.Sprintf("%s%020d.at.json", routesPrefix, n) }

// ReadRouteSets returns the route sets recorded in the regional table in
// source, oldest first (none: the region never recorded one). The last
// may not be committed yet (Version -1).
func ReadRouteSets(ctx context.Context, source storage.Bucket) ([]RouteSet, error) {
	return readRouteSets(ctx, source, nil)
}

// readRouteSets is ReadRouteSets with a cache of the files already read
// (nil: none): they are written put-if-absent and never change, so a
// poller costs one listing when nothing changed.
func readRouteSets(ctx context.Context, source storage.Bucket, cache map[string][]byte) ([]RouteSet, error) {
	var sets []RouteSet
	at := map[int64]int64{}
	it := source.List(ctx, routesPrefix, "")
	for {
		o, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("egress: listing route sets: %w", err)
		}
		name := strings.TrimPrefix(o.Key, routesPrefix)
		num, isAt := strings.CutSuffix(name, ".at.json")
		if !isAt {
			num = strings.TrimSuffix(name, ".json")
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || len(num) != 20 {
			continue // not ours
		}
		data, ok := cache[o.Key]
		if !ok {
			if data, err = source.Get(ctx, o.Key); err != nil {
				return nil, fmt.Errorf("egress: reading route set %d: %w", n, err)
			}
			if cache != nil {
				cache[o.Key] = data
			}
		}
		if isAt {
			var v struct {
				Version *int64 `json:"version"`
			}
			if err := json.Unmarshal(data, &v); err != nil || v.Version == nil {
				return nil, fmt.Errorf("%w: %s: not a route switch version", table.ErrCorrupt, o.Key)
			}
			at[n] = *v.Version
			continue
		}
		s := RouteSet{N: n, Version: -1}
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", table.ErrCorrupt, o.Key, err)
		}
		if s.Routes, err = CheckRoutes(s.Routes); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Key, err)
		}
		sets = append(sets, s)
	}
	for i := range sets {
		if sets[i].N != int64(i) {
			return nil, fmt.Errorf("%w: route set %d is missing", table.ErrCorrupt, i)
		}
		if v, ok := at[sets[i].N]; ok {
			sets[i].Version = v
		}
	}
	return sets, nil
}

// Streams returns the streams the committed route sets define (sets with
// Version -1 are ignored). A route is one stream per (name, table): a
// predicate change is a switch within it; a route removed and added back
// later forwards nothing in between. A table is its location, however
// spelled (storage.LocationKey: a trailing slash, a connection parameter):
// two streams of one name into one table would share its txn, and the
// older one, seeing the newer one's progress, would stop short.
func Streams(sets []RouteSet) []Stream {
	type key struct{ name, table string }
	var out []Stream
	open := map[key]int{}
	for _, s := range sets {
		if s.Version < 0 {
			break
		}
		now := map[key]bool{}
		for _, r := range s.Routes {
			k := key{r.Name, storage.LocationKey(r.Table)}
			if k.table == "" {
				k.table = r.Table
			}
			now[k] = true
			i, ok := open[k]
			if !ok {
				start := s.Version
				if s.N == 0 {
					start = 0
				}
				open[k] = len(out)
				out = append(out, Stream{Route: r.Name, Table: r.Table, Start: start, Predicate: r.Predicate, SchemaMode: r.SchemaMode})
				continue
			}
			st := &out[i]
			// The newest set's spelling of the table and schema mode.
			st.Table, st.SchemaMode = r.Table, r.SchemaMode
			if st.Stop > 0 { // back after a gap: nothing forwarded in it
				st.Switches = append(st.Switches, PredicateSwitch{Version: st.Stop, Predicate: NoRows})
				st.Stop = 0
			}
			if cur := st.predicateAt(s.Version); cur != r.Predicate {
				st.Switches = append(st.Switches, PredicateSwitch{Version: s.Version, Predicate: r.Predicate})
			}
		}
		for k, i := range open {
			if st := &out[i]; !now[k] && st.Stop == 0 {
				st.Stop = s.Version
			}
		}
	}
	return out
}

// predicateAt is the stream's predicate at version v.
func (s *Stream) predicateAt(v int64) string {
	p := s.Predicate
	for _, sw := range s.Switches {
		if sw.Version <= v {
			p = sw.Predicate
		}
	}
	return p
}

// switchIn reports the route set a regional commit switches to.
func switchIn(c table.Change) (int64, bool) {
	for _, a := range c.Actions {
		if a.Txn != nil && a.Txn.AppID == RoutesAppID {
			return a.Txn.Version, true
		}
	}
	return 0, false
}

// equalRoutes compares two normalized route lists.
func equalRoutes(a, b []Route) bool { return slices.Equal(a, b) }

// RecordRoutes makes routes the region's current route set: when the last
// recorded set differs, it records a new one and commits its switch to the
// regional table (source). It first finishes whatever another instance
// left half-done. It returns the set in force, with its version. The
// regional table must exist (table.ErrNoTable otherwise).
func RecordRoutes(ctx context.Context, source storage.Bucket, routes []Route, topts *table.Options) (RouteSet, error) {
	routes, err := CheckRoutes(routes)
	if err != nil {
		return RouteSet{}, err
	}
	var t *table.Table
	open := func() (*table.Table, error) {
		var err error
		if t == nil {
			t, err = table.Open(ctx, source, topts)
		}
		return t, err
	}
	if _, err := open(); err != nil {
		return RouteSet{}, err
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return RouteSet{}, err
	}
	for _, r := range routes {
		// A filter on a column the table does not have would be recorded
		// for good (its versions keep it after a corrected set).
		p, _ := expr.Parse(r.Predicate) // checked by CheckRoutes
		if err := checkPredicate(snap, p); err != nil {
			return RouteSet{}, fmt.Errorf("route %q: %w", r.Name, err)
		}
	}
	data, err := json.Marshal(RouteSet{Routes: routes})
	if err != nil {
		return RouteSet{}, err
	}
	for attempt := 0; ; attempt++ {
		sets, err := completeRouteSets(ctx, source, open, nil)
		if err != nil {
			return RouteSet{}, err
		}
		n := int64(len(sets))
		if n > 0 && equalRoutes(sets[n-1].Routes, routes) {
			return sets[n-1], nil
		}
		if attempt == 5 {
			return RouteSet{}, fmt.Errorf("egress: recording the route set lost %d races to other instances with other routes; is the configuration rolled out twice at once?", attempt)
		}
		err = source.PutIfAbsent(ctx, routesKey(n), data)
		if errors.Is(err, storage.ErrExists) {
			continue // another instance proposed set n: finish it, compare again
		}
		if err != nil {
			return RouteSet{}, fmt.Errorf("egress: recording route set %d: %w", n, err)
		}
	}
}

// CompleteRouteSets reads the recorded route sets and finishes the last
// one if an instance left it half-recorded: commits its switch and writes
// its version. Every set it returns has its Version.
func CompleteRouteSets(ctx context.Context, source storage.Bucket, t *table.Table) ([]RouteSet, error) {
	return completeRouteSets(ctx, source, func() (*table.Table, error) { return t, nil }, nil)
}

// completeRouteSets is CompleteRouteSets opening the regional table only
// when a set needs finishing, with readRouteSets' cache.
func completeRouteSets(ctx context.Context, source storage.Bucket, open func() (*table.Table, error), cache map[string][]byte) ([]RouteSet, error) {
	sets, err := readRouteSets(ctx, source, cache)
	if err != nil || len(sets) == 0 || sets[len(sets)-1].Version >= 0 {
		return sets, err
	}
	t, err := open()
	if err != nil {
		return nil, err
	}
	last := &sets[len(sets)-1]
	for _, s := range sets[:len(sets)-1] {
		if s.Version < 0 {
			return nil, fmt.Errorf("%w: route set %d has no switch version but set %d exists", table.ErrCorrupt, s.N, last.N)
		}
	}
	v, err := commitSwitch(ctx, t, last.N)
	if errors.Is(err, table.ErrAlreadyCommitted) {
		after := int64(-1)
		if last.N > 0 {
			after = sets[len(sets)-2].Version
		}
		v, err = findSwitch(ctx, t, after, last.N)
	}
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]int64{"version": v})
	if err := source.PutIfAbsent(ctx, routesAtKey(last.N), body); err != nil && !errors.Is(err, storage.ErrExists) {
		return nil, fmt.Errorf("egress: recording route set %d's version: %w", last.N, err)
	}
	// Re-read: with ErrExists another instance wrote it (the same version:
	// the switch commit is unique).
	got, err := source.Get(ctx, routesAtKey(last.N))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(bytes.TrimSpace(got), body) {
		var x struct{ Version int64 }
		if json.Unmarshal(got, &x) != nil || x.Version != v {
			return nil, fmt.Errorf("%w: %s says %s, the log says version %d", table.ErrCorrupt, routesAtKey(last.N), got, v)
		}
	}
	last.Version = v
	return sets, nil
}

// commitSwitch commits route set n's switch to the regional table.
func commitSwitch(ctx context.Context, t *table.Table, n int64) (int64, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return -1, err
	}
	if cur, ok := snap.AppVersion(RoutesAppID); ok && cur >= n {
		return -1, fmt.Errorf("%w: route set %d", table.ErrAlreadyCommitted, n)
	} else if n > 0 && (!ok || cur != n-1) {
		return -1, fmt.Errorf("%w: route set %d is recorded but the regional table switched to %d", table.ErrCorrupt, n, cur)
	}
	return t.Commit(ctx, snap, &table.Commit{
		Operation:  "SET EGRESS ROUTES",
		Parameters: map[string]any{"routeSet": n},
		AppID:      RoutesAppID,
		AppVersion: n,
	})
}

// findSwitch finds the regional version of route set n's switch commit,
// after version `after` (the previous switch).
func findSwitch(ctx context.Context, t *table.Table, after, n int64) (int64, error) {
	for {
		ch, err := t.Changes(ctx, after, -1, 1000)
		if err != nil {
			return -1, fmt.Errorf("egress: looking for route set %d's switch commit: %w", n, err)
		}
		for _, c := range ch {
			if m, ok := switchIn(c); ok && m == n {
				return c.Version, nil
			}
		}
		if len(ch) < 1000 {
			return -1, fmt.Errorf("%w: the regional table has route set %d's switch in its txn but not in its log after version %d", table.ErrCorrupt, n, after)
		}
		after = ch[len(ch)-1].Version
	}
}

// StreamProgress is how far one route stream has forwarded.
type StreamProgress struct {
	Stream
	// AppID is the stream's txn appId in its table.
	AppID string
	// Forwarded is the last regional version forwarded (its txn, or
	// Start-1 before its first commit).
	Forwarded int64
	// Finished: the route was removed (Stop) and has forwarded everything
	// before its stop.
	Finished bool
	// NoTable: the stream's table does not exist yet (nothing recorded).
	// Cleanup guards count such a stream as having read nothing, whatever
	// its Start.
	NoTable bool
}

// Progress reads, from the tables alone, how far each route stream of the
// region whose regional table is in source has forwarded. Before any route
// set is recorded it reports the single-target route (DefaultRoute) with
// target single (nil: no stream). open opens a route's table location;
// Progress closes what it opens. It writes nothing.
func Progress(ctx context.Context, source storage.Bucket, region string, single storage.Bucket,
	open func(ctx context.Context, url string) (storage.Bucket, error)) ([]StreamProgress, error) {
	sets, err := ReadRouteSets(ctx, source)
	if err != nil {
		return nil, err
	}
	streams := Streams(sets)
	if len(streams) == 0 {
		if single == nil {
			return nil, nil
		}
		p := StreamProgress{Stream: Stream{Route: DefaultRoute, Table: single.URL()}, AppID: AppID(region)}
		p.Forwarded, p.NoTable, err = forwarded(ctx, single, p.AppID)
		return []StreamProgress{p}, err
	}
	out := make([]StreamProgress, 0, len(streams))
	for _, st := range streams {
		p := StreamProgress{Stream: st, AppID: RouteAppID(region, st.Route)}
		b, err := open(ctx, st.Table)
		if err != nil {
			return nil, fmt.Errorf("egress: route %s: %w", st.Route, err)
		}
		txn, noTable, err := forwarded(ctx, b, p.AppID)
		b.Close()
		if err != nil {
			return nil, fmt.Errorf("egress: route %s: %w", st.Route, err)
		}
		p.Forwarded, p.NoTable = max(txn, st.Start-1), noTable
		p.Finished = st.Stop > 0 && p.Forwarded >= st.Stop-1
		out = append(out, p)
	}
	return out, nil
}

// forwarded reads appID's txn in the table in b (-1: none, or no table;
// noTable: there is no table).
func forwarded(ctx context.Context, b storage.Bucket, appID string) (v int64, noTable bool, err error) {
	t, err := table.Open(ctx, b, nil)
	if errors.Is(err, table.ErrNoTable) {
		return -1, true, nil
	}
	if err != nil {
		return -1, false, err
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return -1, false, err
	}
	if v, ok := snap.AppVersion(appID); ok {
		return v, false, nil
	}
	return -1, false, nil
}

// Consumed is the last regional version every unfinished route stream has
// forwarded (see Progress): what maintenance may clean up to. -1 when some
// stream has forwarded nothing.
func Consumed(ctx context.Context, source storage.Bucket, region string, single storage.Bucket,
	open func(ctx context.Context, url string) (storage.Bucket, error)) (int64, error) {
	ps, err := Progress(ctx, source, region, single, open)
	if err != nil {
		return -1, err
	}
	consumed := int64(-1)
	first := true
	for _, p := range ps {
		if p.Finished {
			continue
		}
		if first || p.Forwarded < consumed {
			consumed, first = p.Forwarded, false
		}
	}
	return consumed, nil
}
