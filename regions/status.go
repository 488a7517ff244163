package regions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/replicate"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Defaults of StatusOptions.
const (
	// DefaultSmallFileSize: live data files below it count as small (a
	// quarter of the 128 MiB files ingest and OPTIMIZE aim for).
	DefaultSmallFileSize = 32 << 20
	// DefaultStatusHistory is how many of a table's newest commits Status
	// reads to find its last OPTIMIZE and VACUUM.
	DefaultStatusHistory = 100
	// DefaultBacklogLimit bounds the landing objects Status lists to count
	// a region's ingest backlog.
	DefaultBacklogLimit = 100_000
	// DefaultStatusTimeout bounds the reads of one table or location, so
	// that one unreachable location costs its row, not the report.
	DefaultStatusTimeout = 30 * time.Second
	// DefaultStatusParallel is how many regions and replicas are read at once.
	DefaultStatusParallel = 8
)

// StatusRequest names what Status reports on.
type StatusRequest struct {
	// Regions are region configurations (as returned by Load).
	Regions []*Config
	// Replicas are declared clones: each Replica is expected to be a clone
	// of its Source (`loglake clone SOURCE REPLICA`).
	Replicas []Replica
	// Tables are further table URLs to report on (version, age, files,
	// maintenance).
	Tables []string
}

// Replica declares that the table at Replica is a clone of the table at Source.
type Replica struct {
	Source  string `json:"source"`
	Replica string `json:"replica"`
}

// replicaSep finds the '=' between the two URLs of "SOURCE=REPLICA": the
// first one followed by a storage scheme (a query value such as
// endpoint=http://… is not one).
var replicaSep = regexp.MustCompile(`=(?:file|mem|s3|gs|azblob)://`)

// ParseReplica parses "SOURCE=REPLICA": two table URLs, or a URL or plain
// path and a plain path.
func ParseReplica(s string) (Replica, error) {
	if loc := replicaSep.FindStringIndex(s); loc != nil && loc[0] > 0 {
		return Replica{Source: s[:loc[0]], Replica: s[loc[0]+1:]}, nil
	}
	// Without a URL after it, the last '=' separates a location (which may
	// hold '=' itself: s3://b/x?region=r, ./date=2026-11-24) from a plain
	// path (./central=./dr/central).
	if i := strings.LastIndexByte(s, '='); i > 0 && i < len(s)-1 && !strings.Contains(s[i+1:], ":") {
		return Replica{Source: s[:i], Replica: s[i+1:]}, nil
	}
	return Replica{}, fmt.Errorf("replica %q: want SOURCE=REPLICA (URLs or paths)", s)
}

// StatusOptions tune Status. The zero value (and nil) is the default.
type StatusOptions struct {
	// Now is the clock ages and lags are measured against (default time.Now).
	Now func() time.Time
	// SmallFileSize: live data files below it are counted as small
	// (default DefaultSmallFileSize).
	SmallFileSize int64
	// History is how many of each table's newest commits are read to find
	// its last OPTIMIZE and VACUUM (default DefaultStatusHistory; < 0: none,
	// and both are reported unknown).
	History int
	// BacklogLimit bounds the landing objects listed per region to count
	// its ingest backlog (default DefaultBacklogLimit; < 0: the backlog is
	// not counted and is reported unknown).
	BacklogLimit int
	// Timeout bounds the reads of one table or landing location (default
	// DefaultStatusTimeout).
	Timeout time.Duration
	// Parallel is how many regions and replicas are read at once (default
	// DefaultStatusParallel).
	Parallel int
	// Logger receives storage retry messages (default: discarded; errors
	// are reported in the rows).
	Logger *slog.Logger
}

func (o *StatusOptions) withDefaults() StatusOptions {
	var c StatusOptions
	if o != nil {
		c = *o
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SmallFileSize <= 0 {
		c.SmallFileSize = DefaultSmallFileSize
	}
	if c.History == 0 {
		c.History = DefaultStatusHistory
	}
	if c.BacklogLimit == 0 {
		c.BacklogLimit = DefaultBacklogLimit
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultStatusTimeout
	}
	if c.Parallel <= 0 {
		c.Parallel = DefaultStatusParallel
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Report is the fleet's state as read from its tables at Time. Figures that
// could not be known are nil (null in JSON, "unknown" on a terminal); the
// reason is in the row's Error.
type Report struct {
	Time     time.Time       `json:"time"`
	Regions  []RegionStatus  `json:"regions"`
	Replicas []ReplicaStatus `json:"replicas"`
	// Tables has every table the report read, once per URL, in the order
	// first met: regional tables, central tables, replicas, then the
	// requested tables.
	Tables []TableStatus `json:"tables"`
}

// TableStatus is one table's version, age and maintenance state.
type TableStatus struct {
	URL string `json:"url"`
	// Version is the latest version; Timestamp its commit time; AgeSeconds
	// the time since.
	Version    *int64     `json:"version"`
	Timestamp  *time.Time `json:"timestamp"`
	AgeSeconds *float64   `json:"ageSeconds"`
	// Files and Bytes are the live data files; SmallFiles those below the
	// small-file size (candidates for OPTIMIZE).
	Files      *int   `json:"files"`
	Bytes      *int64 `json:"bytes"`
	SmallFiles *int   `json:"smallFiles"`
	// LastOptimize is the newest OPTIMIZE commit among the HistoryRead
	// newest commits; LastVacuum the last VACUUM, from loglake's record
	// under _loglake/ or a VACUUM commit (other engines) among them. nil
	// when there is none (HistoryRead 0: the history was not read).
	LastOptimize *time.Time `json:"lastOptimize"`
	LastVacuum   *time.Time `json:"lastVacuum"`
	HistoryRead  int        `json:"historyRead"`
	Error        string     `json:"error,omitempty"`
}

// RegionStatus is one region's progress through the pipeline.
type RegionStatus struct {
	Name   string `json:"name"`
	Config string `json:"config"`
	// Table is the regional table's URL (its details are in Report.Tables);
	// Version and AgeSeconds are repeated here from there.
	Table      string   `json:"table"`
	Version    *int64   `json:"version"`
	AgeSeconds *float64 `json:"ageSeconds"`
	// Egress is nil when the region's egress is disabled; with several
	// routes it is the most lagging route's (the region's lag).
	Egress *EgressStatus `json:"egress"`
	// Routes has one entry per egress route stream recorded in the
	// regional table (see docs/egress.md), including routes a switch
	// removed that have not finished; empty before any is recorded.
	Routes []*EgressStatus `json:"routes,omitempty"`
	// Ingest is nil when the region's ingest is disabled.
	Ingest *IngestStatus `json:"ingest"`
	// Error is the regional table's error, if it could not be read.
	Error string `json:"error,omitempty"`
}

// EgressStatus is how far the central table is behind a regional table.
type EgressStatus struct {
	// Route names the route ("central" for the single target); Central is
	// its target table.
	Route   string `json:"route,omitempty"`
	Central string `json:"central"`
	AppID   string `json:"appId"`
	// Start and Stop are the regional versions the route's stream covers
	// (Stop 0: no end; a route removed by a switch stops there).
	Start int64 `json:"start"`
	Stop  int64 `json:"stop"`
	// Forwarded is the regional version recorded in the central table's
	// txn for AppID: everything up to it has been forwarded (-1: nothing yet).
	Forwarded *int64 `json:"forwardedVersion"`
	// LagVersions is the regional versions not yet forwarded; LagSeconds
	// the age of the oldest of them (0 when caught up).
	LagVersions *int64   `json:"lagVersions"`
	LagSeconds  *float64 `json:"lagSeconds"`
	Error       string   `json:"error,omitempty"`
}

// IngestStatus is what a region's ingest has and has not done.
type IngestStatus struct {
	Landing string `json:"landing"`
	Stream  string `json:"stream"`
	// Batch is the last committed batch (0: none yet).
	Batch *int64 `json:"batch"`
	// BacklogFiles and BacklogBytes count the landing files not yet
	// ingested; BacklogAgeSeconds is the age of the oldest (0: none).
	BacklogFiles      *int     `json:"backlogFiles"`
	BacklogBytes      *int64   `json:"backlogBytes"`
	BacklogAgeSeconds *float64 `json:"backlogAgeSeconds"`
	Error             string   `json:"error,omitempty"`
}

// ReplicaStatus is how far a replica is behind its source.
type ReplicaStatus struct {
	Source  string `json:"source"`
	Replica string `json:"replica"`
	// AppID is the replica's clone txn for the source ("clone:<source id>").
	AppID string `json:"appId"`
	// SourceVersion is the source's latest version; Replicated the source
	// version the replica reflects (its clone txn).
	SourceVersion *int64 `json:"sourceVersion"`
	Replicated    *int64 `json:"replicatedVersion"`
	// LagVersions is the source versions not yet replicated; LagSeconds the
	// age of the oldest of them (0 when caught up).
	LagVersions *int64   `json:"lagVersions"`
	LagSeconds  *float64 `json:"lagSeconds"`
	Error       string   `json:"error,omitempty"`
}

// Status reads every region, replica and table of req from the tables
// themselves (no daemon needed: it works as well from a DR region) and
// returns the report. It never fails as a whole: a location that cannot
// be read is an error in its rows, and the figures that depend on it are
// unknown. It writes nothing.
func Status(ctx context.Context, req StatusRequest, opts *StatusOptions) *Report {
	o := opts.withDefaults()
	s := &statusRun{o: o, now: o.Now().UTC(), tables: map[string]*tableEntry{}}
	defer s.close()
	rep := &Report{Time: s.now, Regions: make([]RegionStatus, len(req.Regions)), Replicas: make([]ReplicaStatus, len(req.Replicas))}

	// Register the tables in report order first; they are read on demand.
	for _, c := range req.Regions {
		s.entry(c.Table)
	}
	for _, c := range req.Regions {
		if c.EgressEnabled() {
			for _, r := range c.Routes() {
				s.entry(r.Table)
			}
		}
	}
	for _, r := range req.Replicas {
		s.entry(r.Source)
		s.entry(r.Replica)
	}
	for _, u := range req.Tables {
		s.entry(u)
	}

	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	do := func(f func()) {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				f() // runs into ctx's error and records it
				return
			}
			defer func() { <-sem }()
			f()
		})
	}
	for i, c := range req.Regions {
		do(func() { rep.Regions[i] = s.region(ctx, c) })
	}
	for i, r := range req.Replicas {
		do(func() { rep.Replicas[i] = s.replica(ctx, r) })
	}
	for _, u := range req.Tables {
		do(func() { s.table(ctx, u) })
	}
	wg.Wait()
	sharedStreams(req.Regions, rep.Regions)
	// Tables only met as replicas or sources are complete now too.
	for _, u := range s.order {
		e := s.tables[u]
		s.table(ctx, u)
		rep.Tables = append(rep.Tables, e.st)
	}
	return rep
}

// sharedStreams marks regions that share a name but not a regional table
// and egress into one target: their streams are one (txn egress:<name>),
// so the rows of whichever forwards second are skipped as already
// forwarded, and each would show lag 0. Their lag is made unknown (a
// threshold then breaches) and the clash is their error.
func sharedStreams(cfgs []*Config, sts []RegionStatus) {
	type stream struct{ appID, target string }
	tables := map[stream]map[string]bool{}
	for _, c := range cfgs {
		if !c.EgressEnabled() {
			continue
		}
		for _, r := range c.Routes() {
			k := stream{egress.RouteAppID(c.Name, r.Name), storage.LocationKey(r.Table)}
			if tables[k] == nil {
				tables[k] = map[string]bool{}
			}
			tables[k][storage.LocationKey(c.Table)] = true
		}
	}
	for i, c := range cfgs {
		if !c.EgressEnabled() {
			continue
		}
		for _, r := range c.Routes() {
			if len(tables[stream{egress.RouteAppID(c.Name, r.Name), storage.LocationKey(r.Table)}]) < 2 {
				continue
			}
			st := &sts[i]
			msg := fmt.Sprintf("another region config is also named %q and egresses another regional table into %s: "+
				"both write stream %s there, and the second one's rows are skipped; give each region its own name", c.Name, r.Table, egress.RouteAppID(c.Name, r.Name))
			if st.Error == "" {
				st.Error = msg
			}
			for _, e := range append([]*EgressStatus{st.Egress}, st.Routes...) {
				if e != nil {
					e.LagVersions, e.LagSeconds = nil, nil
				}
			}
			break
		}
	}
}

// statusRun is one Status call: its options and the tables it has read,
// each read once however many rows need it (a central table is shared by
// every region).
type statusRun struct {
	o   StatusOptions
	now time.Time

	mu     sync.Mutex
	tables map[string]*tableEntry
	order  []string
}

type tableEntry struct {
	once   sync.Once
	bucket storage.Bucket
	t      *table.Table
	snap   *table.Snapshot
	err    error
	st     TableStatus
}

func (s *statusRun) entry(url string) *tableEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.tables[url]
	if !ok {
		e = &tableEntry{st: TableStatus{URL: storage.RedactURL(url)}}
		s.tables[url] = e
		s.order = append(s.order, url)
	}
	return e
}

func (s *statusRun) close() {
	for _, e := range s.tables {
		if e.bucket != nil {
			e.bucket.Close()
		}
	}
}

func (s *statusRun) open(ctx context.Context, url string) (storage.Bucket, error) {
	return storage.Open(ctx, url, &storage.Options{Logger: s.o.Logger,
		// Give up on a location within the per-table timeout rather than
		// retrying for minutes: the report is what an operator is waiting for.
		Retry: storage.RetryPolicy{MaxAttempts: 4, MaxElapsed: s.o.Timeout / 2}})
}

// table reads url's table once: its latest snapshot and maintenance state.
func (s *statusRun) table(ctx context.Context, url string) *tableEntry {
	e := s.entry(url)
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
		e.err = s.readTable(ctx, url, e)
		if e.err != nil {
			e.st.Error = errText(e.err)
		}
	})
	return e
}

func (s *statusRun) readTable(ctx context.Context, url string, e *tableEntry) error {
	b, err := s.open(ctx, url)
	if err != nil {
		return err
	}
	e.bucket = b
	t, err := table.Open(ctx, b, &table.Options{Logger: s.o.Logger, ReadOnly: true})
	if err != nil {
		return err
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return err
	}
	e.t, e.snap = t, snap
	st := &e.st
	v, ts := snap.Version(), snap.Timestamp()
	st.Version, st.Timestamp, st.AgeSeconds = &v, &ts, ptr(s.since(ts))
	var small int
	for _, f := range snap.Files() {
		if f.Size < s.o.SmallFileSize {
			small++
		}
	}
	st.Files, st.Bytes, st.SmallFiles = ptr(len(snap.Files())), ptr(snap.SizeBytes()), &small
	// loglake's VACUUM records its last run under _loglake/, not in the log.
	if run, ok, err := t.LastVacuum(ctx); err != nil {
		st.Error = "vacuum record: " + errText(err)
	} else if ok {
		st.LastVacuum = &run.Time
	}
	if s.o.History > 0 {
		// A failure here costs the maintenance columns, not the table.
		hist, err := t.History(ctx, s.o.History)
		if err != nil {
			st.Error = "history: " + errText(err)
			return nil
		}
		st.HistoryRead = len(hist)
		for _, h := range hist { // newest first
			if h.CommitInfo == nil {
				continue
			}
			at := h.Timestamp
			switch op := h.CommitInfo.Operation; {
			case op == "OPTIMIZE" && st.LastOptimize == nil:
				st.LastOptimize = &at
			case strings.HasPrefix(op, "VACUUM") && (st.LastVacuum == nil || at.After(*st.LastVacuum)):
				// Other engines (Spark) log VACUUM START/END commits.
				st.LastVacuum = &at
			}
		}
	}
	return nil
}

func (s *statusRun) since(t time.Time) float64 {
	return math.Max(s.now.Sub(t).Seconds(), 0)
}

func (s *statusRun) region(ctx context.Context, c *Config) RegionStatus {
	rs := RegionStatus{Name: c.Name, Config: c.File, Table: storage.RedactURL(c.Table)}
	reg := s.table(ctx, c.Table)
	if reg.err != nil {
		rs.Error = reg.st.Error
	} else {
		rs.Version, rs.AgeSeconds = reg.st.Version, reg.st.AgeSeconds
	}
	if c.EgressEnabled() {
		rs.Egress, rs.Routes = s.egress(ctx, c, reg)
	}
	if c.IngestEnabled() {
		rs.Ingest = s.ingest(ctx, c, reg)
	}
	return rs
}

// egress reports each recorded route stream of the region (or the
// single target of the configuration before any is recorded) and returns
// the most lagging one too.
func (s *statusRun) egress(ctx context.Context, c *Config, reg *tableEntry) (*EgressStatus, []*EgressStatus) {
	var streams []egress.Stream
	var routesErr error
	if reg.err == nil {
		rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		sets, err := egress.ReadRouteSets(rctx, reg.bucket)
		cancel()
		streams, routesErr = egress.Streams(sets), err
	}
	if len(streams) == 0 {
		// Nothing recorded (or unreadable): the configuration's routes.
		for _, r := range c.Routes() {
			streams = append(streams, egress.Stream{Route: r.Name, Table: r.Table})
		}
	}
	if len(streams) == 0 {
		return &EgressStatus{Error: "no central table or routes in the configuration"}, nil
	}
	var all []*EgressStatus
	var worst *EgressStatus
	for _, st := range streams {
		es := s.route(ctx, c, reg, st)
		if routesErr != nil && es.Error == "" {
			es.Error = "route sets: " + errText(routesErr)
		}
		all = append(all, es)
		if worst == nil || (es.LagVersions != nil && (worst.LagVersions == nil || *es.LagVersions > *worst.LagVersions)) ||
			(es.LagVersions == nil && worst.LagVersions != nil) {
			worst = es
		}
	}
	if len(all) == 1 && all[0].Route == egress.DefaultRoute {
		return worst, nil // the single target: nothing more to show
	}
	return worst, all
}

// route reports one route stream's progress.
func (s *statusRun) route(ctx context.Context, c *Config, reg *tableEntry, st egress.Stream) *EgressStatus {
	es := &EgressStatus{Route: st.Route, Central: storage.RedactURL(st.Table), AppID: egress.RouteAppID(c.Name, st.Route),
		Start: st.Start, Stop: st.Stop}
	central := s.table(ctx, st.Table)
	switch {
	case errors.Is(central.err, table.ErrNoTable):
		// Egress creates the central table with its first commit.
		es.Forwarded = ptr(int64(-1))
	case central.err != nil:
		es.Error = "central: " + central.st.Error
		return es
	default:
		f, ok := central.snap.AppVersion(es.AppID)
		if !ok {
			f = -1
		}
		es.Forwarded = &f
	}
	*es.Forwarded = max(*es.Forwarded, st.Start-1)
	if reg.err != nil {
		es.Error = "regional: " + reg.st.Error
		return es
	}
	head := reg.snap.Version()
	if st.Stop > 0 {
		head = min(head, st.Stop-1) // a removed route is done at its stop
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	versions, age, err := streamLag(ctx, reg.t, head, *es.Forwarded, s.now, true)
	es.LagVersions = &versions
	if err != nil {
		es.Error = "lag: " + errText(err)
		return es
	}
	es.LagSeconds = ptr(age.Seconds())
	return es
}

func (s *statusRun) ingest(ctx context.Context, c *Config, reg *tableEntry) *IngestStatus {
	is := &IngestStatus{Landing: storage.RedactURL(c.Landing), Stream: c.IngestStream()}
	if reg.err != nil {
		is.Error = "regional: " + reg.st.Error
		return is
	}
	b, _ := reg.snap.AppVersion(ingest.AppID(is.Stream))
	is.Batch = &b
	if s.o.BacklogLimit < 0 || c.Landing == "" {
		return is
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	landing, err := s.open(ctx, c.Landing)
	if err != nil {
		is.Error = "landing: " + errText(err)
		return is
	}
	defer landing.Close()
	bl, err := ingest.Pending(ctx, landing, reg.bucket, reg.snap, c.IngestOptions(), s.o.BacklogLimit)
	if err != nil {
		is.Error = "backlog: " + errText(err)
		return is
	}
	is.BacklogFiles, is.BacklogBytes = &bl.Files, &bl.Bytes
	age := 0.0
	if bl.Files > 0 {
		age = s.since(bl.Oldest)
	}
	is.BacklogAgeSeconds = &age
	return is
}

func (s *statusRun) replica(ctx context.Context, r Replica) ReplicaStatus {
	rs := ReplicaStatus{Source: storage.RedactURL(r.Source), Replica: storage.RedactURL(r.Replica)}
	src := s.table(ctx, r.Source)
	dst := s.table(ctx, r.Replica)
	if src.err != nil {
		rs.Error = "source: " + src.st.Error
		return rs
	}
	rs.SourceVersion = src.st.Version
	rs.AppID = replicate.AppIDPrefix + src.snap.Metadata().ID
	if dst.err != nil {
		rs.Error = "replica: " + dst.st.Error
		return rs
	}
	v, ok := dst.snap.AppVersion(rs.AppID)
	if !ok {
		rs.Error = fmt.Sprintf("replica: not a clone of the source (no txn for %s)", rs.AppID)
		return rs
	}
	rs.Replicated = &v
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	versions, age, err := streamLag(ctx, src.t, src.snap.Version(), v, s.now, false)
	rs.LagVersions = &versions
	if err != nil {
		rs.Error = "lag: " + errText(err)
		return rs
	}
	rs.LagSeconds = ptr(age.Seconds())
	return rs
}

// streamLag measures a stream (egress, clone) that has applied src's
// versions up to done (-1: none) while src is at head: the versions it is
// behind, and the age at now of the oldest version it has not applied (0
// when caught up). The daemon's lag gauges and `loglake status` both use it.
//
// With dataOnly (egress), commits egress does not forward (see
// egress.Forwardable) — the table's CREATE, OPTIMIZE's rearrangements,
// DELETEs, also copy-on-write ones that add rewritten files — are not lag:
// egress commits only when it forwards rows, so an idle region's txn stays
// behind them while there is nothing to forward. Up to lagScan such commits are looked
// through; past that the lag counts from the first commit not looked at.
func streamLag(ctx context.Context, src *table.Table, head, done int64, now time.Time, dataOnly bool) (int64, time.Duration, error) {
	lag := max(head-done, 0)
	if lag == 0 {
		return 0, 0, nil
	}
	n := 1
	if dataOnly {
		n = lagScan
	}
	chs, err := src.Changes(ctx, done, head, n)
	if err != nil {
		return lag, 0, err
	}
	if len(chs) == 0 {
		return lag, 0, fmt.Errorf("commit %d is not in the log", done+1)
	}
	for _, ch := range chs {
		if !dataOnly || egress.Forwardable(ch.Actions) {
			return head - ch.Version + 1, max(now.Sub(ch.Timestamp), 0), nil
		}
	}
	last := chs[len(chs)-1]
	if last.Version >= head {
		return 0, 0, nil
	}
	return head - last.Version, max(now.Sub(last.Timestamp), 0), nil
}

// lagScan bounds how many data-less commits streamLag looks through.
const lagScan = 64

// Thresholds are the lags a report must stay within; nil fields are not
// checked (0 is a threshold: "fully caught up").
type Thresholds struct {
	// MaxLagVersions bounds every egress and replica lag in versions.
	MaxLagVersions *int64
	// MaxLagSeconds bounds every egress and replica lag in seconds.
	MaxLagSeconds *float64
	// MaxBacklogFiles bounds every region's ingest backlog.
	MaxBacklogFiles *int
}

// Breaches returns one line per lag over its threshold, and per lag that a
// threshold applies to but that is unknown: a probe cannot vouch for what
// it cannot read.
func (r *Report) Breaches(th Thresholds) []string {
	var out []string
	check := func(what string, versions *int64, seconds *float64) {
		if m := th.MaxLagVersions; m != nil {
			switch {
			case versions == nil:
				out = append(out, what+": lag in versions unknown")
			case *versions > *m:
				unit := "versions"
				if *versions == 1 {
					unit = "version"
				}
				out = append(out, fmt.Sprintf("%s: lag %d %s > %d", what, *versions, unit, *m))
			}
		}
		if m := th.MaxLagSeconds; m != nil {
			switch {
			case seconds == nil:
				out = append(out, what+": lag in seconds unknown")
			case *seconds > *m:
				out = append(out, fmt.Sprintf("%s: lag %s > %s", what, fmtSeconds(*seconds), fmtSeconds(*m)))
			}
		}
	}
	for _, rg := range r.Regions {
		if rg.Egress != nil {
			check("region "+rg.Name+" egress", rg.Egress.LagVersions, rg.Egress.LagSeconds)
		}
		for _, rt := range rg.Routes {
			if rt != rg.Egress {
				check("region "+rg.Name+" route "+rt.Route, rt.LagVersions, rt.LagSeconds)
			}
		}
		if m := th.MaxBacklogFiles; m != nil && rg.Ingest != nil {
			switch b := rg.Ingest.BacklogFiles; {
			case b == nil:
				out = append(out, "region "+rg.Name+" ingest: backlog unknown")
			case *b > *m:
				out = append(out, fmt.Sprintf("region %s ingest: backlog %d files > %d", rg.Name, *b, *m))
			}
		}
	}
	for _, rp := range r.Replicas {
		check("replica "+rp.Replica, rp.LagVersions, rp.LagSeconds)
	}
	return out
}

// WriteText writes the report as aligned tables for a terminal: regions,
// replicas, then tables; unknown figures read "unknown".
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }
	if len(r.Regions) > 0 {
		row("REGION", "VERSION", "AGE", "FORWARDED", "LAG", "LAG AGE", "BATCH", "BACKLOG", "ERROR")
		for _, rg := range r.Regions {
			fwd, lag, lagAge := "disabled", "-", "-"
			var errs []string
			if rg.Error != "" {
				errs = append(errs, rg.Error)
			}
			if e := rg.Egress; e != nil {
				fwd, lag, lagAge = fmtInt(e.Forwarded), fmtInt(e.LagVersions), fmtSecondsPtr(e.LagSeconds)
				if e.Error != "" && e.Error != "regional: "+rg.Error {
					errs = append(errs, "egress "+e.Error)
				}
			}
			batch, backlog := "disabled", "-"
			if in := rg.Ingest; in != nil {
				batch, backlog = fmtInt(in.Batch), "unknown"
				if in.BacklogFiles != nil {
					backlog = fmt.Sprintf("%d files", *in.BacklogFiles)
					if *in.BacklogFiles > 0 {
						backlog += fmt.Sprintf(" (%s, oldest %s)", fmtBytes(*in.BacklogBytes), fmtSecondsPtr(in.BacklogAgeSeconds))
					}
				}
				if in.Error != "" && in.Error != "regional: "+rg.Error {
					errs = append(errs, "ingest "+in.Error)
				}
			}
			row(rg.Name, fmtInt(rg.Version), fmtSecondsPtr(rg.AgeSeconds), fwd, lag, lagAge, batch, backlog, strings.Join(errs, "; "))
			for _, rt := range rg.Routes {
				name := "  route " + rt.Route
				if rt.Stop > 0 {
					name += fmt.Sprintf(" (stops at %d)", rt.Stop)
				}
				row(name, "", "", fmtInt(rt.Forwarded), fmtInt(rt.LagVersions), fmtSecondsPtr(rt.LagSeconds), "", "", rt.Error)
			}
		}
		row()
	}
	if len(r.Replicas) > 0 {
		row("REPLICA", "SOURCE", "SOURCE VERSION", "REPLICATED", "LAG", "LAG AGE", "ERROR")
		for _, rp := range r.Replicas {
			row(rp.Replica, rp.Source, fmtInt(rp.SourceVersion), fmtInt(rp.Replicated), fmtInt(rp.LagVersions), fmtSecondsPtr(rp.LagSeconds), rp.Error)
		}
		row()
	}
	row("TABLE", "VERSION", "AGE", "FILES", "SIZE", "SMALL FILES", "LAST OPTIMIZE", "LAST VACUUM", "ERROR")
	for _, t := range r.Tables {
		size := "unknown"
		if t.Bytes != nil {
			size = fmtBytes(*t.Bytes)
		}
		row(t.URL, fmtInt(t.Version), fmtSecondsPtr(t.AgeSeconds), fmtInt(t.Files), size, fmtInt(t.SmallFiles),
			r.fmtMaint(t, t.LastOptimize), r.fmtMaint(t, t.LastVacuum), t.Error)
	}
	return tw.Flush()
}

// fmtMaint says when a maintenance operation last ran: "3h ago", "none in
// last 100 commits", or "unknown" when the history was not read.
func (r *Report) fmtMaint(t TableStatus, at *time.Time) string {
	switch {
	case at != nil:
		return fmtSeconds(math.Max(r.Time.Sub(*at).Seconds(), 0)) + " ago"
	case t.HistoryRead == 1:
		return "none in last commit"
	case t.HistoryRead > 0:
		return fmt.Sprintf("none in last %d commits", t.HistoryRead)
	}
	return "unknown"
}

type integer interface{ ~int | ~int64 }

func fmtInt[T integer](p *T) string {
	if p == nil {
		return "unknown"
	}
	return fmt.Sprint(*p)
}

func fmtSecondsPtr(p *float64) string {
	if p == nil {
		return "unknown"
	}
	return fmtSeconds(*p)
}

// fmtSeconds renders a duration for people: 0s, 850ms, 42s, 3m10s, 5h2m, 3d4h.
func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func ptr[T any](v T) *T { return &v }

// errText keeps an error to one line for a report cell.
func errText(err error) string {
	if errors.Is(err, table.ErrNoTable) {
		return "no Delta table here"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
