package egress

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultPredicate    = "egress_approved = true"
	DefaultMaxRows      = 1_000_000
	DefaultMaxBytes     = 256 << 20
	DefaultMaxVersions  = 1000
	DefaultMaxBatchTime = 10 * time.Second
	DefaultAdvanceEvery = 100
	DefaultAdvanceAfter = 5 * time.Minute
	DefaultDrainTimeout = time.Minute
	// DefaultInterval is how often Run polls the source when it is idle.
	DefaultInterval = time.Second
	// RegionColumn is the central table column stamped with Options.Region.
	RegionColumn = "region"
	// RescuedColumn is the column of values that did not fit their table
	// (JSON), the one ingest fills: egress merges into the central table's
	// the source columns it lacks and the values its types cannot hold.
	RescuedColumn = "_rescued_data"
	// DefaultMaxNewColumns bounds the columns one egress stream adds to the
	// central table in SchemaAddNewColumns mode.
	DefaultMaxNewColumns = 32
	// DefaultMaxColumns bounds the central table's columns: beyond it, no
	// stream adds any (their values are rescued instead).
	DefaultMaxColumns = 512
	// AddedByKey is the central field metadata key naming the egress stream
	// (its appId) that added the column; MaxNewColumns counts them.
	AddedByKey = "loglake.addedBy"
	// DefaultRoute names the route of the single-target configuration
	// (`central:` and `egress.predicate`); its appId is "egress:<region>",
	// the appId egress had before routes existed.
	DefaultRoute = "central"
)

// SchemaMode says what egress does with source columns the central table
// lacks, as ingest's schema modes (Auto Loader's schemaEvolutionMode) do
// for fields the regional table lacks. See docs/egress.md, "Schema changes".
type SchemaMode string

// Schema modes.
const (
	// SchemaRescue (the default) writes the values of columns the central
	// table lacks, and values its column types cannot hold, into its
	// _rescued_data column as JSON: nothing is blocked, nothing lost.
	SchemaRescue SchemaMode = "rescue"
	// SchemaAddNewColumns adds the columns the central table lacks (nullable,
	// the source's type) with an ADD COLUMNS commit, at most MaxNewColumns
	// per stream and MaxColumns in all; beyond those, it rescues.
	SchemaAddNewColumns SchemaMode = "addNewColumns"
	// SchemaFail stops egress with ErrSchemaMismatch when the source has a
	// column the central table lacks or of another type.
	SchemaFail SchemaMode = "fail"
)

// ParseSchemaMode returns the schema mode named s ("" is the default,
// SchemaRescue), or an ErrConfig error.
func ParseSchemaMode(s string) (SchemaMode, error) {
	switch m := SchemaMode(s); m {
	case "":
		return SchemaRescue, nil
	case SchemaRescue, SchemaAddNewColumns, SchemaFail:
		return m, nil
	}
	return "", fmt.Errorf("%w: unknown schema mode %q (want %s, %s or %s)", ErrConfig, s, SchemaRescue, SchemaAddNewColumns, SchemaFail)
}

// Errors callers branch on with errors.Is.
var (
	// ErrConfig: the Options are invalid.
	ErrConfig = errors.New("egress: invalid options")
	// ErrPredicate: the egress predicate does not parse, or names a column
	// the source table does not have or compares it with a literal of the
	// wrong type.
	ErrPredicate = errors.New("egress: invalid egress predicate")
	// ErrSchemaMismatch: the source table has columns the central table does
	// not have, or a column of a different type.
	ErrSchemaMismatch = errors.New("egress: source schema does not fit the central table")
	// ErrSourceLogCleaned: the source commits after the last version
	// forwarded are no longer in the source table's log (log retention
	// removed them before egress read them). Resuming would lose data, so
	// egress stops; see docs/egress.md for the way out.
	ErrSourceLogCleaned = errors.New("egress: source commits to forward were cleaned from the source log")
	// ErrForeignStream: the target's txn of this stream was written from
	// another source table (two regions of one name, or a regional table
	// created anew): its version says nothing of this table, and
	// forwarding from it would skip rows.
	ErrForeignStream = errors.New("egress: the target's stream was written from another source table")
)

// Options configure an Egress. Zero values take the documented defaults.
type Options struct {
	// Region names the region (required). It is stamped into the central
	// table's region column and names the stream: appId "egress:<Region>".
	// Letters, digits, '-', '_' and '.' only.
	Region string
	// Route names the stream within the region (default DefaultRoute): its
	// appId is RouteAppID(Region, Route). Same character set as Region.
	Route string
	// Start is the first source version the stream forwards when the
	// central table holds no txn for it yet (default 0: the table's
	// history). A route added by a route switch starts at the switch
	// version.
	Start int64
	// Stop, when positive, ends the stream: it forwards source versions
	// below Stop only, records Stop-1 in its txn once it has passed it, and
	// Run then returns. A route removed (or retargeted) by a switch stops
	// at the switch version.
	Stop int64
	// Switches change the predicate from a source version on (ascending
	// versions): the rows of source version v are matched with the
	// predicate of the last switch at or before v, or with Predicate.
	Switches []PredicateSwitch
	// Predicate selects the rows that may leave the region, in the
	// table/expr language (default DefaultPredicate). Rows for which it is
	// FALSE or NULL are never written to the central table.
	Predicate string
	// MaxRows bounds the source rows read for one central commit (default
	// DefaultMaxRows). A commit always covers at least one source version,
	// whatever its size.
	MaxRows int64
	// MaxBytes bounds the source data-file bytes read for one central
	// commit (default DefaultMaxBytes).
	MaxBytes int64
	// MaxVersions bounds the source versions covered by one central commit
	// (default DefaultMaxVersions).
	MaxVersions int
	// MaxBatchTime stops adding source versions to a batch once it has
	// been reading for this long, so a backlog is forwarded in commits that
	// each become visible quickly (default DefaultMaxBatchTime).
	MaxBatchTime time.Duration
	// AdvanceEvery and AdvanceAfter decide when source versions with no
	// matching rows are recorded in the central table with a commit that
	// carries only the txn: once AdvanceEvery such versions have
	// accumulated (default DefaultAdvanceEvery), or the oldest of them was
	// committed AdvanceAfter ago (default DefaultAdvanceAfter). Until
	// then the position is kept in memory only, and a restarted Egress
	// re-reads (and again drops) those versions.
	AdvanceEvery int
	AdvanceAfter time.Duration
	// TargetFileSize is the size at which central data files roll (default:
	// the table's default, 128 MiB).
	TargetFileSize int64
	// DrainTimeout bounds how long Run lets the current batch finish after
	// its context is done (default DefaultDrainTimeout).
	DrainTimeout time.Duration
	// SchemaMode says what happens to source columns the central table
	// lacks and to values its column types cannot hold (default
	// SchemaRescue).
	SchemaMode SchemaMode
	// MaxNewColumns bounds the columns this stream adds to the central
	// table in SchemaAddNewColumns mode (default DefaultMaxNewColumns);
	// MaxColumns bounds the central table's columns in all (default
	// DefaultMaxColumns). Columns beyond either are rescued.
	MaxNewColumns int
	MaxColumns    int
	// CentralProperties are the table properties used when the Egress
	// creates the central table (ignored when it exists).
	CentralProperties map[string]string
	// Registerer receives the egress metrics (nil: no metrics).
	Registerer prometheus.Registerer
	// Logger receives progress and warnings (nil: discard).
	Logger *slog.Logger
	// Committed, if set, is called after each central commit this Egress
	// writes, with that commit's Summary (Commits == 1; Sources lists the
	// source versions it covers and their commit timestamps), so a daemon
	// can observe end-to-end latency.
	Committed func(s Summary)
	// Now returns the current time (default time.Now); tests fix it.
	Now func() time.Time
}

// PredicateSwitch is a predicate in force from a source version on.
type PredicateSwitch struct {
	Version   int64
	Predicate string
}

// Summary describes what an Egress forwarded.
type Summary struct {
	Region string `json:"region"`
	Route  string `json:"route,omitempty"`
	// FromVersion (exclusive) and ToVersion (inclusive) delimit the source
	// versions forwarded or passed over. FromVersion == ToVersion when there
	// was nothing new.
	FromVersion int64 `json:"fromVersion"`
	ToVersion   int64 `json:"toVersion"`
	// CentralVersion is the central version of the last commit written, or
	// the central version last read when nothing was committed.
	CentralVersion int64 `json:"centralVersion"`
	// Commits counts central commits written (with rows, or advancing the
	// txn only).
	Commits int `json:"commits"`
	// Rows were appended to the central table; RowsFiltered were read from
	// the source but did not match the predicate (including the rows of
	// files skipped by their statistics).
	Rows         int64 `json:"rows"`
	RowsFiltered int64 `json:"rowsFiltered"`
	// SourceBytes is the size of the source data files read.
	SourceBytes int64 `json:"sourceBytes"`
	// Rescued counts rows into whose central _rescued_data egress put
	// values: of source columns the central table lacks, or that its column
	// types cannot hold.
	Rescued int64 `json:"rescued"`
	// ColumnsAdded names the columns this Egress added to the central table
	// (SchemaAddNewColumns).
	ColumnsAdded []string `json:"columnsAdded,omitempty"`
	// SkippedCommits counts source commits skipped because they delete or
	// rewrite data (removes with dataChange=true).
	SkippedCommits int `json:"skippedCommits"`
	// Superseded counts batches discarded because another instance of the
	// region committed first (their rows are in the central table once).
	Superseded int `json:"superseded"`
	// LagVersions is how many source versions were not yet forwarded when
	// the run ended.
	LagVersions int64 `json:"lagVersions"`
	// OldestSourceCommit is the timestamp of the oldest source commit whose
	// rows were included (zero when none).
	OldestSourceCommit time.Time `json:"oldestSourceCommit,omitzero"`
	// Sources lists the source versions with rows that a central commit
	// covers; set only in the Summary given to Options.Committed.
	Sources []SourceCommit `json:"sources,omitempty"`
	// CommitDuration is how long the central commit took, version races
	// and their retries included (not the data files); set only in the
	// Summary given to Options.Committed.
	CommitDuration time.Duration `json:"-"`
}

// SourceCommit is one source version forwarded by a central commit.
type SourceCommit struct {
	Version   int64     `json:"version"`
	Timestamp time.Time `json:"timestamp"`
	// Rows of this version that were appended to the central table.
	Rows int64 `json:"rows"`
}

func (s *Summary) add(o Summary) {
	s.ToVersion = max(s.ToVersion, o.ToVersion)
	s.CentralVersion = o.CentralVersion
	s.Commits += o.Commits
	s.Rows += o.Rows
	s.RowsFiltered += o.RowsFiltered
	s.SourceBytes += o.SourceBytes
	s.SkippedCommits += o.SkippedCommits
	s.Rescued += o.Rescued
	s.ColumnsAdded = append(s.ColumnsAdded, o.ColumnsAdded...)
	s.Superseded += o.Superseded
	if !o.OldestSourceCommit.IsZero() && (s.OldestSourceCommit.IsZero() || o.OldestSourceCommit.Before(s.OldestSourceCommit)) {
		s.OldestSourceCommit = o.OldestSourceCommit
	}
}

// AppID returns the central table's txn appId of a region's egress stream
// to its default route (the single-target configuration).
func AppID(region string) string { return "egress:" + region }

// sourceAppID is the appId of the txn that names, by a hash of its table
// id (sourceHash), the source table a stream's txn appID forwards from.
func sourceAppID(appID string) string { return "source-of:" + appID }

// sourceHash is a table id as a txn version: 63 bits of its FNV-1a hash.
func sourceHash(tableID string) int64 {
	h := fnv.New64a()
	h.Write([]byte(tableID))
	return int64(h.Sum64() & math.MaxInt64)
}

// RouteAppID returns the txn appId of one route of a region's egress:
// "egress:<region>" for DefaultRoute (so a single-target region upgraded
// to routes forwards nothing twice), "egress:<region>:<route>" otherwise.
func RouteAppID(region, route string) string {
	if route == "" || route == DefaultRoute {
		return AppID(region)
	}
	return AppID(region) + ":" + route
}

// checkName validates a region or route name.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s is required", ErrConfig, what)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%w: %s %q: only letters, digits, '-', '_' and '.'", ErrConfig, what, name)
		}
	}
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if err := checkName("Region", o.Region); err != nil {
		return o, err
	}
	if o.Route == "" {
		o.Route = DefaultRoute
	}
	if err := checkName("Route", o.Route); err != nil {
		return o, err
	}
	if o.Predicate == "" {
		o.Predicate = DefaultPredicate
	}
	if o.Start < 0 || o.Stop < 0 || (o.Stop > 0 && o.Stop <= o.Start) {
		return o, fmt.Errorf("%w: Start %d and Stop %d: want 0 <= Start < Stop (or Stop 0: no end)", ErrConfig, o.Start, o.Stop)
	}
	for i, s := range o.Switches {
		if s.Predicate == "" || (i > 0 && s.Version <= o.Switches[i-1].Version) {
			return o, fmt.Errorf("%w: Switches must have predicates and ascending versions", ErrConfig)
		}
	}
	for _, c := range []struct {
		name string
		bad  bool
	}{
		{"MaxRows", o.MaxRows < 0}, {"MaxBytes", o.MaxBytes < 0}, {"MaxVersions", o.MaxVersions < 0},
		{"MaxBatchTime", o.MaxBatchTime < 0}, {"AdvanceEvery", o.AdvanceEvery < 0},
		{"AdvanceAfter", o.AdvanceAfter < 0}, {"TargetFileSize", o.TargetFileSize < 0},
		{"DrainTimeout", o.DrainTimeout < 0}, {"MaxNewColumns", o.MaxNewColumns < 0},
		{"MaxColumns", o.MaxColumns < 0},
	} {
		if c.bad {
			return o, fmt.Errorf("%w: %s must not be negative", ErrConfig, c.name)
		}
	}
	mode, err := ParseSchemaMode(string(o.SchemaMode))
	if err != nil {
		return o, err
	}
	o.SchemaMode = mode
	if o.MaxNewColumns == 0 {
		o.MaxNewColumns = DefaultMaxNewColumns
	}
	if o.MaxColumns == 0 {
		o.MaxColumns = DefaultMaxColumns
	}
	if o.MaxRows == 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxVersions == 0 {
		o.MaxVersions = DefaultMaxVersions
	}
	if o.MaxBatchTime == 0 {
		o.MaxBatchTime = DefaultMaxBatchTime
	}
	if o.AdvanceEvery == 0 {
		o.AdvanceEvery = DefaultAdvanceEvery
	}
	if o.AdvanceAfter == 0 {
		o.AdvanceAfter = DefaultAdvanceAfter
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}
