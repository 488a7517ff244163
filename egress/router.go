package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// RouterOptions configure a Router.
type RouterOptions struct {
	// Options is the template of every route's Egress: Region, the batch
	// bounds, DrainTimeout, Registerer, Logger, Committed and Now apply to
	// all routes; Route, Predicate, Start, Stop and Switches are set per
	// stream from the recorded route sets.
	Options
	// Open opens a route's target table location (required). The Router
	// closes what it opened in Close.
	Open func(ctx context.Context, url string) (storage.Bucket, error)
}

// Router runs a region's egress routes: one Egress per stream of the route
// sets recorded in the regional table (see RecordRoutes), rebuilt whenever
// a new set is recorded, by this instance or any other.
type Router struct {
	source storage.Bucket
	o      RouterOptions
	log    *slog.Logger

	mu      sync.Mutex
	want    []Route
	pending bool // want is not recorded yet
	met     map[string]*metrics
	targets map[string]storage.Bucket
	wake    chan struct{}
	cache   map[string][]byte // route set files read (immutable)
}

// NewRouter returns a Router over the regional table in source that
// records routes as the region's route set once it can (the regional table
// exists), then forwards along the recorded sets.
func NewRouter(source storage.Bucket, routes []Route, opts RouterOptions) (*Router, error) {
	o, err := opts.Options.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Open == nil {
		return nil, fmt.Errorf("%w: RouterOptions.Open is required", ErrConfig)
	}
	opts.Options = o
	r := &Router{source: source, o: opts, log: o.Logger.With("region", o.Region),
		met: map[string]*metrics{}, targets: map[string]storage.Bucket{}, wake: make(chan struct{}, 1),
		cache: map[string][]byte{}}
	if err := r.SetRoutes(routes); err != nil {
		return nil, err
	}
	return r, nil
}

// SetRoutes validates routes and has the running Router record them as the
// region's route set (a configuration reload).
func (r *Router) SetRoutes(routes []Route) error {
	routes, err := CheckRoutes(routes)
	if err != nil {
		return err
	}
	// Each wanted route's series exist from now on (at zero), so a scrape
	// and the dashboards see them before the first batch.
	for _, rt := range routes {
		if _, err := r.metrics(rt.Name); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.want, r.pending = routes, true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close closes the target locations the Router opened.
func (r *Router) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.targets {
		b.Close()
	}
	r.targets = map[string]storage.Bucket{}
}

func (r *Router) target(ctx context.Context, url string) (storage.Bucket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.targets[url]; ok {
		return b, nil
	}
	b, err := r.o.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	r.targets[url] = b
	return b, nil
}

func (r *Router) metrics(route string) (*metrics, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.met[route]; ok {
		return m, nil
	}
	m, err := newMetrics(r.o.Registerer, r.o.Region, route)
	if err != nil {
		return nil, fmt.Errorf("egress: registering metrics of route %s: %w", route, err)
	}
	r.met[route] = m
	return m, nil
}

// sync records the wanted routes if they are pending and returns the
// recorded sets (nil while the regional table does not exist).
func (r *Router) sync(ctx context.Context) ([]RouteSet, error) {
	r.mu.Lock()
	want, pending := r.want, r.pending
	r.mu.Unlock()
	topts := &table.Options{Logger: r.o.Logger}
	if pending {
		set, err := RecordRoutes(ctx, r.source, want, topts)
		if errors.Is(err, table.ErrNoTable) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if equalRoutes(r.want, want) {
			r.pending = false
		}
		r.mu.Unlock()
		r.log.Info("egress route set in force", "routeSet", set.N, "version", set.Version, "routes", len(set.Routes))
	}
	// The regional table is opened only when a set needs finishing: an
	// idle poll costs one listing.
	open := func() (*table.Table, error) { return table.Open(ctx, r.source, topts) }
	sets, err := completeRouteSets(ctx, r.source, open, r.cache)
	if errors.Is(err, table.ErrNoTable) {
		return nil, nil
	}
	return sets, err
}

// egress builds the Egress of one stream of route set n.
func (r *Router) egress(ctx context.Context, st Stream, n int64) (*Egress, error) {
	o := r.o.Options
	o.Route, o.Predicate, o.Start, o.Stop, o.Switches = st.Route, st.Predicate, st.Start, st.Stop, st.Switches
	if st.SchemaMode != "" {
		o.SchemaMode = st.SchemaMode
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	met, err := r.metrics(st.Route)
	if err != nil {
		return nil, err
	}
	central, err := r.target(ctx, st.Table)
	if err != nil {
		return nil, fmt.Errorf("egress: route %s: opening %s: %w", st.Route, storage.RedactURL(st.Table), err)
	}
	return newEgress(ctx, r.source, central, o, met, n)
}

// RunOnce records the wanted routes if needed and forwards, along every
// stream, the regional versions committed before it started. It returns
// the totals over the streams (Route is set when there is one stream).
func (r *Router) RunOnce(ctx context.Context) (Summary, error) {
	total := Summary{Region: r.o.Region, FromVersion: -1, ToVersion: -1, CentralVersion: -1}
	sets, err := r.sync(ctx)
	if err != nil || len(sets) == 0 {
		return total, err
	}
	n := sets[len(sets)-1].N
	for i, st := range Streams(sets) {
		e, err := r.egress(ctx, st, n)
		if err != nil {
			return total, err
		}
		s, err := e.RunOnce(ctx)
		if i == 0 {
			total = s
		} else {
			total.Route = ""
			total.FromVersion = min(total.FromVersion, s.FromVersion)
			total.LagVersions = max(total.LagVersions, s.LagVersions)
			total.add(s)
		}
		if err != nil {
			return total, fmt.Errorf("route %s: %w", st.Route, err)
		}
	}
	return total, nil
}

// Run forwards along the recorded route sets until ctx is done, checking
// for a new set every interval (and at once after SetRoutes). A new set
// stops the running streams (each finishes its batch) and starts the new
// set's. It returns nil when ctx is done, or the first error a retry
// cannot fix.
func (r *Router) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	cur := int64(-1)
	var (
		wg     sync.WaitGroup
		stop   context.CancelFunc = func() {}
		failed                    = make(chan error, 1)
	)
	defer func() {
		stop()
		wg.Wait()
	}()
	wait := interval
	for {
		sets, err := r.sync(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && (permanent(err) || errors.Is(err, ErrConfig) || errors.Is(err, table.ErrCorrupt)):
			return err
		case err != nil:
			r.log.Warn("reading the egress route sets failed; retrying", "err", err, "retryIn", wait)
			wait = min(2*wait, max(time.Minute, interval))
		case len(sets) > 0 && sets[len(sets)-1].N != cur:
			wait = interval
			stop()
			wg.Wait()
			cur = sets[len(sets)-1].N
			sctx, cancel := context.WithCancel(ctx)
			stop = cancel
			for _, st := range Streams(sets) {
				wg.Go(func() {
					if err := r.runStream(sctx, st, cur, interval); err != nil {
						select {
						case failed <- fmt.Errorf("route %s: %w", st.Route, err):
						default:
						}
					}
				})
			}
		default:
			wait = interval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case err := <-failed:
			t.Stop()
			return err
		case <-r.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// runStream runs one stream until ctx is done or it is finished, retrying
// its start with backoff.
func (r *Router) runStream(ctx context.Context, st Stream, n int64, interval time.Duration) error {
	wait := interval
	for {
		e, err := r.egress(ctx, st, n)
		if err == nil {
			return e.Run(ctx, interval)
		}
		if ctx.Err() != nil {
			return nil
		}
		if permanent(err) || errors.Is(err, ErrConfig) {
			return err
		}
		r.log.Warn("egress route cannot start; retrying", "route", st.Route, "err", err, "retryIn", wait)
		if storage.Sleep(ctx, wait) != nil {
			return nil
		}
		wait = min(2*wait, 30*time.Second)
	}
}
