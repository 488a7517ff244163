package regions

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// Defaults of the configuration fields that are not required. The
// defaults of ingest and egress options are declared once, by the package
// that owns the option; these names only re-export them for the config
// reference.
const (
	// DefaultIngestInterval is how often the ingest loop lists the landing
	// location when it is idle.
	DefaultIngestInterval = ingest.DefaultInterval
	// DefaultEgressInterval is how often the egress loop polls the regional
	// table's change feed when it is idle.
	DefaultEgressInterval = egress.DefaultInterval
	// DefaultPredicate selects the rows egress forwards.
	DefaultPredicate = egress.DefaultPredicate
	// DefaultEgressMaxRows bounds the rows of one central commit.
	DefaultEgressMaxRows = egress.DefaultMaxRows
	// DefaultEgressMaxBytes bounds the source bytes read for one central commit.
	DefaultEgressMaxBytes = egress.DefaultMaxBytes
	// DefaultEgressMaxVersions bounds the source versions of one central commit.
	DefaultEgressMaxVersions = egress.DefaultMaxVersions
	// DefaultShutdownTimeout bounds how long a stopping daemon lets its
	// loops finish their current batch.
	DefaultShutdownTimeout = time.Minute
	// DefaultLagInterval is how often the daemon measures egress lag.
	DefaultLagInterval = 5 * time.Second
)

// Clouds a region may run in; the landing and regional table URLs must use
// the cloud's scheme.
var cloudSchemes = map[string][]string{
	"local": {"file", "mem"},
	"aws":   {"s3"},
	"gcp":   {"gs"},
	"azure": {"azblob"},
}

// Config is one region's configuration, as read from its YAML file. See
// docs/regions.md for the reference; Load fills in the defaults.
type Config struct {
	// Name identifies the region: it is stamped into the central table's
	// region column and names the egress appId "egress:<name>". Required.
	Name string `yaml:"name"`
	// Cloud is local, aws, gcp or azure; default: derived from Table's
	// scheme. Landing and Table must use the cloud's URL scheme.
	Cloud string `yaml:"cloud"`
	// Landing is the URL the region's log files land in. Required when
	// ingest is enabled.
	Landing string `yaml:"landing"`
	// Table is the regional Delta table's URL. Required.
	Table string `yaml:"table"`
	// Central is the central Delta table's URL: the single-target egress
	// (the route named egress.DefaultRoute). Required when egress is
	// enabled, unless egress.routes lists the targets.
	Central string `yaml:"central"`
	// Ingest configures the ingest loop.
	Ingest IngestConfig `yaml:"ingest"`
	// Egress configures the egress loop.
	Egress EgressConfig `yaml:"egress"`
	// Metrics configures the HTTP endpoint.
	Metrics MetricsConfig `yaml:"metrics"`
	// Log configures the daemon's logs.
	Log LogConfig `yaml:"log"`
	// Maintenance configures the daemon's table maintenance.
	Maintenance MaintenanceConfig `yaml:"maintenance"`
	// ShutdownTimeout bounds how long a stopping daemon waits for its loops
	// to finish their current batch (default DefaultShutdownTimeout).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// File is the path the configuration was loaded from.
	File string `yaml:"-"`
	// IngestSchema is the schema read from Ingest.Schema (nil: ingest's
	// default schema).
	IngestSchema *table.Schema `yaml:"-"`
	lines        map[string]int
}

// IngestConfig configures the ingest loop; zero values take ingest's
// defaults (see ingest.Options).
type IngestConfig struct {
	// Enabled runs the ingest loop (default true).
	Enabled *bool `yaml:"enabled"`
	// Stream names the ingest stream (appId "ingest:<stream>"; default "default").
	Stream string `yaml:"stream"`
	// Format is ndjson (default), text or csv.
	Format string `yaml:"format"`
	// Schema is a schema file for a new regional table, relative to the
	// configuration file (default: ingest's log schema).
	Schema string `yaml:"schema"`
	// TimeColumn is the event time column the date partition comes from (default ts).
	TimeColumn string `yaml:"time_column"`
	// EpochUnit of numeric timestamps: auto (default), s, ms, us, ns.
	EpochUnit string `yaml:"epoch_unit"`
	// SchemaMode is rescue (default) or addNewColumns.
	SchemaMode string `yaml:"schema_mode"`
	// OnChange is ignore (default) or reingest.
	OnChange string `yaml:"on_change"`
	// Include and Exclude are landing key globs.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Interval between polls of the landing location (default DefaultIngestInterval).
	Interval time.Duration `yaml:"interval"`
	// BackfillInterval between full listings of the landing location.
	BackfillInterval time.Duration `yaml:"backfill_interval"`
	// MaxFiles and MaxBytes bound a batch.
	MaxFiles int  `yaml:"max_files"`
	MaxBytes Size `yaml:"max_bytes"`
	// TargetFileSize is the Parquet file size to roll at.
	TargetFileSize Size `yaml:"target_file_size"`
	// Workers is the number of decoding goroutines (default GOMAXPROCS).
	Workers int `yaml:"workers"`
	// MaxFileAge bounds the ingested-files index: files older are
	// forgotten, and ignored if never seen (ingest.Options.MaxFileAge;
	// default 0: keep every file).
	MaxFileAge time.Duration `yaml:"max_file_age"`
	// CleanSource is off (default), move or delete: what happens to a
	// landing file once its batch is committed and CleanRetention passed.
	CleanSource string `yaml:"clean_source"`
	// CleanRetention is that wait (ingest.DefaultCleanRetention).
	CleanRetention time.Duration `yaml:"clean_retention"`
	// CleanDestination is the URL moved files go to (clean_source: move).
	CleanDestination string `yaml:"clean_destination"`
}

// EgressConfig configures the egress loop.
type EgressConfig struct {
	// Enabled runs the egress loop (default true).
	Enabled *bool `yaml:"enabled"`
	// Predicate selects the rows forwarded (default DefaultPredicate).
	Predicate string `yaml:"predicate"`
	// Interval between polls of the regional change feed (default DefaultEgressInterval).
	Interval time.Duration `yaml:"interval"`
	// MaxRows, MaxBytes and MaxVersions bound one central commit (defaults
	// DefaultEgressMaxRows, DefaultEgressMaxBytes, DefaultEgressMaxVersions).
	MaxRows     int64 `yaml:"max_rows"`
	MaxBytes    Size  `yaml:"max_bytes"`
	MaxVersions int   `yaml:"max_versions"`
	// SchemaMode is what happens to regional columns the central table
	// lacks: rescue (default), addNewColumns or fail (egress.SchemaMode).
	SchemaMode string `yaml:"schema_mode"`
	// MaxNewColumns and MaxColumns cap addNewColumns (0: egress's
	// defaults, egress.DefaultMaxNewColumns and egress.DefaultMaxColumns).
	MaxNewColumns int `yaml:"max_new_columns"`
	MaxColumns    int `yaml:"max_columns"`
	// Routes lists the egress targets, each its own exactly-once stream
	// (instead of central and predicate). A change reaches running daemons
	// on SIGHUP or when the file changes, and takes effect at one regional
	// version for every instance (see docs/egress.md).
	Routes []RouteConfig `yaml:"routes"`
}

// RouteConfig is one egress route: egress.Route in YAML.
type RouteConfig struct {
	// Name names the route's stream (appId "egress:<region>:<name>";
	// "central" is the single-target route, appId "egress:<region>").
	Name string `yaml:"name"`
	// Predicate selects the rows the route forwards (default DefaultPredicate).
	Predicate string `yaml:"predicate"`
	// Table is the target table's URL.
	Table string `yaml:"table"`
	// SchemaMode overrides egress.schema_mode for this route ("": that one).
	SchemaMode string `yaml:"schema_mode"`
}

// MetricsConfig configures the daemon's HTTP endpoint.
type MetricsConfig struct {
	// Address is host:port for /metrics and /healthz; "" disables the
	// endpoint; port 0 picks a free port (logged at start).
	Address string `yaml:"address"`
	// LagInterval is how often egress lag is measured (default DefaultLagInterval).
	LagInterval time.Duration `yaml:"lag_interval"`
}

// LogConfig configures the daemon's slog output on stderr.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}

// IngestEnabled reports whether the ingest loop runs.
func (c *Config) IngestEnabled() bool { return c.Ingest.Enabled == nil || *c.Ingest.Enabled }

// EgressEnabled reports whether the egress loop runs.
func (c *Config) EgressEnabled() bool { return c.Egress.Enabled == nil || *c.Egress.Enabled }

// Line returns the line of field (a dotted path such as "egress.predicate")
// in the configuration file, or 0 if it was not set there.
func (c *Config) Line(field string) int { return c.lines[field] }

// Load reads, validates and completes the configuration in file. Relative
// file:// URLs and the ingest schema path are resolved against file's
// directory. Errors wrap ErrConfig and are ConfigErrors naming each bad
// field and its line.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return Parse(data, file)
}

// Parse is Load for a configuration already in memory; file names it in
// errors and anchors relative paths ("" : the working directory).
func Parse(data []byte, file string) (*Config, error) {
	return parse(data, file, lookupEnv)
}

func parse(data []byte, file string, getenv func(string) (string, bool)) (*Config, error) {
	d := &decoder{file: file, lines: map[string]int{}, getenv: getenv}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			_, msg, _ = strings.Cut(msg, ": ")
		}
		if errors.Is(err, io.EOF) {
			msg = "the file is empty"
		}
		return nil, ConfigErrors{{File: file, Line: line, Msg: msg}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ConfigErrors{{File: file, Line: extra.Line, Msg: "more than one YAML document; a region config is one document"}}
	}
	c := &Config{File: file}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.decodeStruct(root, reflect.ValueOf(c).Elem(), "")
	c.lines = d.lines
	// Validate even after decoding errors so that one run reports every
	// problem, but only once per field.
	failed := map[string]bool{}
	for _, e := range d.errs {
		failed[e.Field] = true
	}
	for _, e := range c.validate(nil) {
		if !failed[e.Field] {
			d.errs = append(d.errs, e)
		}
	}
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	return c, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// validate checks values, resolves relative paths and fills in defaults.
func (c *Config) validate(errs ConfigErrors) ConfigErrors {
	bad := func(field, format string, args ...any) {
		line := c.lines[field]
		if line == 0 {
			// A missing field: point at its parent, or the top of the file.
			if i := strings.LastIndexByte(field, '.'); i > 0 {
				line = c.lines[field[:i]]
			}
		}
		errs = append(errs, &ConfigError{File: c.File, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	base := "."
	if c.File != "" {
		base = filepath.Dir(c.File)
	}

	switch {
	case c.Name == "":
		bad("name", "required: the region's name, e.g. eu-west")
	case !namePattern.MatchString(c.Name):
		bad("name", "%q: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit", c.Name)
	}

	urlField := func(field string, v *string, required bool, why string) string {
		if *v == "" {
			if required {
				bad(field, "required: %s", why)
			}
			return ""
		}
		resolved, scheme, err := resolveURL(*v, base)
		if err != nil {
			bad(field, "%v", err)
			return ""
		}
		*v = resolved
		return scheme
	}
	landingScheme := urlField("landing", &c.Landing, c.IngestEnabled(), "the URL log files land in (or set ingest.enabled: false)")
	tableScheme := urlField("table", &c.Table, true, "the regional Delta table's URL")
	urlField("central", &c.Central, c.EgressEnabled() && len(c.Egress.Routes) == 0,
		"the central Delta table's URL (or list egress.routes, or set egress.enabled: false)")
	if c.Central != "" && c.Central == c.Table {
		bad("central", "is the regional table itself; egress needs a separate central table")
	}
	if c.Landing != "" && c.Table != "" && storage.Overlap(c.Landing, c.Table) {
		bad("landing", "overlaps the regional table (one is inside the other); landing files need their own location")
	}
	// ingest checks the rest of cleanSource; it has no bucket to check here.
	urlField("ingest.clean_destination", &c.Ingest.CleanDestination, c.Ingest.CleanSource == string(ingest.CleanMove),
		"the URL landing files are moved to with clean_source: move")
	if c.Ingest.CleanDestination != "" && c.Ingest.CleanSource != string(ingest.CleanMove) {
		bad("ingest.clean_destination", "only for clean_source: move")
	}
	if d := c.Ingest.CleanDestination; d != "" && c.Landing != "" && storage.Overlap(d, c.Landing) {
		bad("ingest.clean_destination", "overlaps the landing location: moved files would be ingested again")
	}
	if c.Central != "" && c.Table != "" && c.Central != c.Table && storage.Overlap(c.Central, c.Table) {
		bad("central", "overlaps the regional table (one is inside the other); give each table its own location")
	}
	if c.Central != "" && c.Landing != "" && storage.Overlap(c.Central, c.Landing) {
		bad("central", "overlaps the landing location: ingest would load the central table's files")
	}

	if c.Cloud == "" && tableScheme != "" {
		for cloud, schemes := range cloudSchemes {
			for _, s := range schemes {
				if s == tableScheme {
					c.Cloud = cloud
				}
			}
		}
	}
	if schemes, ok := cloudSchemes[c.Cloud]; !ok {
		if c.Cloud != "" {
			bad("cloud", "unknown cloud %q: want local, aws, gcp or azure", c.Cloud)
		}
	} else {
		for _, f := range []struct{ field, scheme string }{{"landing", landingScheme}, {"table", tableScheme}} {
			if f.scheme != "" && !containsString(schemes, f.scheme) {
				bad(f.field, "a %s:// URL does not belong to cloud %q (want %s://)", f.scheme, c.Cloud, strings.Join(schemes, ":// or "))
			}
		}
	}

	// A zero the file spells out for a setting where zero has no meaning
	// of its own is refused: it would silently stand for the default.
	for _, f := range []struct {
		field string
		zero  bool
	}{
		{"ingest.interval", c.Ingest.Interval == 0}, {"ingest.backfill_interval", c.Ingest.BackfillInterval == 0},
		{"ingest.max_files", c.Ingest.MaxFiles == 0}, {"ingest.max_bytes", c.Ingest.MaxBytes == 0},
		{"ingest.target_file_size", c.Ingest.TargetFileSize == 0},
		{"egress.interval", c.Egress.Interval == 0}, {"egress.max_rows", c.Egress.MaxRows == 0},
		{"egress.max_bytes", c.Egress.MaxBytes == 0}, {"egress.max_versions", c.Egress.MaxVersions == 0},
		{"metrics.lag_interval", c.Metrics.LagInterval == 0}, {"shutdown_timeout", c.ShutdownTimeout == 0},
		{"maintenance.interval", c.Maintenance.Interval == 0}, {"maintenance.min_files", c.Maintenance.MinFiles == 0},
		{"maintenance.target_file_size", c.Maintenance.TargetFileSize == 0},
	} {
		if f.zero && c.lines[f.field] > 0 {
			bad(f.field, "must be above 0 (leave it out for the default)")
		}
	}

	in := &c.Ingest
	checkEnum := func(field, v string, allowed ...string) {
		if v != "" && !containsString(allowed, v) {
			bad(field, "unknown value %q: want %s", v, strings.Join(allowed, ", "))
		}
	}
	checkEnum("ingest.format", in.Format, "ndjson", "text", "csv")
	checkEnum("ingest.schema_mode", in.SchemaMode, "rescue", "addNewColumns")
	checkEnum("ingest.on_change", in.OnChange, "ignore", "reingest")
	checkEnum("ingest.epoch_unit", in.EpochUnit, "auto", "s", "ms", "us", "ns")
	if in.Stream != "" && !namePattern.MatchString(in.Stream) {
		bad("ingest.stream", "%q: use letters, digits, '-', '_' or '.'", in.Stream)
	}
	if in.Schema != "" {
		p := in.Schema
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			bad("ingest.schema", "%v", err)
		} else if c.IngestSchema, err = ingest.ParseSchema(data); err != nil {
			bad("ingest.schema", "%s: %v", p, err)
		} else {
			in.Schema = p
		}
	}
	if in.Interval == 0 {
		in.Interval = DefaultIngestInterval
	}
	if c.IngestEnabled() && len(errs) == 0 {
		// ingest validates the rest (globs, schema against format).
		if _, err := ingest.New(nil, nil, c.IngestOptions()); err != nil {
			bad("ingest", "%v", err)
		}
	}

	eg := &c.Egress
	if len(eg.Routes) > 0 {
		if c.Central != "" || c.lines["egress.predicate"] > 0 {
			bad("egress.routes", "list the targets either in egress.routes or with central and egress.predicate, not both (the route named %q is the single target)", egress.DefaultRoute)
		}
		routes := make([]egress.Route, len(eg.Routes))
		for i := range eg.Routes {
			r := &eg.Routes[i]
			field := fmt.Sprintf("egress.routes[%d]", i)
			if r.Table == "" {
				bad(field+".table", "required: the route's target table URL")
			} else if urlField(field+".table", &r.Table, true, "") != "" {
				if r.Table == c.Table || storage.Overlap(r.Table, c.Table) {
					bad(field+".table", "overlaps the regional table; give each table its own location")
				}
				if c.Landing != "" && storage.Overlap(r.Table, c.Landing) {
					bad(field+".table", "overlaps the landing location: ingest would load the route table's files")
				}
			}
			routes[i] = egress.Route{Name: r.Name, Predicate: r.Predicate, Table: r.Table, SchemaMode: egress.SchemaMode(r.SchemaMode)}
		}
		// egress owns the rules (names, predicates, defaults).
		if _, err := egress.CheckRoutes(routes); err != nil {
			bad("egress.routes", "%v", err)
		}
	}
	if eg.Predicate == "" {
		eg.Predicate = DefaultPredicate
	}
	if _, err := expr.Parse(eg.Predicate); err != nil {
		bad("egress.predicate", "%v", err)
	}
	if _, err := egress.ParseSchemaMode(eg.SchemaMode); err != nil {
		bad("egress.schema_mode", "%v", err)
	}
	if eg.Interval == 0 {
		eg.Interval = DefaultEgressInterval
	}
	if eg.MaxRows == 0 {
		eg.MaxRows = DefaultEgressMaxRows
	}
	if eg.MaxBytes == 0 {
		eg.MaxBytes = DefaultEgressMaxBytes
	}
	if eg.MaxVersions == 0 {
		eg.MaxVersions = DefaultEgressMaxVersions
	}

	if a := c.Metrics.Address; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad("metrics.address", "%q: want host:port, e.g. 127.0.0.1:9464 or :9464", a)
		} else if _, err := net.LookupPort("tcp", port); err != nil { // a number to 65535, or a service name
			bad("metrics.address", "%q: port %q is not a number from 0 to 65535", a, port)
		}
	}
	if c.Metrics.LagInterval == 0 {
		c.Metrics.LagInterval = DefaultLagInterval
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	checkEnum("log.level", c.Log.Level, "debug", "info", "warn", "error")
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	checkEnum("log.format", c.Log.Format, "json", "text")
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	mt := &c.Maintenance
	if mt.Interval == 0 {
		mt.Interval = DefaultMaintenanceInterval
	}
	if mt.MinFiles == 0 {
		mt.MinFiles = DefaultMaintenanceMinFiles
	}
	if mt.MinFiles < 2 {
		bad("maintenance.min_files", "%d: want 2 or more (a single file is never compacted)", mt.MinFiles)
	}
	if mt.TargetFileSize == 0 {
		mt.TargetFileSize = 128 << 20
	}
	if mt.Central && c.Central == "" && len(eg.Routes) > 0 {
		bad("maintenance.central", "with egress.routes, maintain each target table where it is written (its own region or a loglake maintain job)")
	} else if mt.Central && c.Central == "" {
		bad("maintenance.central", "needs central: the central table's URL")
	}
	return errs
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// resolveURL checks a storage URL and makes a relative path or file://
// URL absolute against base, as storage.ParseLocation does for the command
// line: credentials in the URL are refused, they belong in each cloud's
// standard credential chain, never in a config file.
func resolveURL(raw, base string) (resolved, scheme string, err error) {
	resolved, err = storage.ParseLocation(raw, base)
	if err != nil {
		return "", "", err
	}
	u, err := url.Parse(resolved)
	if err != nil {
		return "", "", err
	}
	return resolved, u.Scheme, nil
}

// Routes returns the region's egress routes: egress.routes, or the single
// target (central and egress.predicate) as the route egress.DefaultRoute.
// Predicates are as written (egress fills in its default).
func (c *Config) Routes() []egress.Route {
	if len(c.Egress.Routes) == 0 {
		if c.Central == "" {
			return nil
		}
		return []egress.Route{{Name: egress.DefaultRoute, Predicate: c.Egress.Predicate, Table: c.Central}}
	}
	out := make([]egress.Route, len(c.Egress.Routes))
	for i, r := range c.Egress.Routes {
		out[i] = egress.Route{Name: r.Name, Predicate: r.Predicate, Table: r.Table, SchemaMode: egress.SchemaMode(r.SchemaMode)}
	}
	return out
}

// IngestOptions returns the ingest options the configuration asks for;
// the daemon adds its logger, registerer and table hooks.
func (c *Config) IngestOptions() *ingest.Options {
	in := c.Ingest
	return &ingest.Options{
		Stream:           in.Stream,
		Format:           ingest.Format(in.Format),
		Schema:           c.IngestSchema,
		TimeColumn:       in.TimeColumn,
		EpochUnit:        in.EpochUnit,
		SchemaMode:       ingest.SchemaMode(in.SchemaMode),
		OnChange:         ingest.ChangeRule(in.OnChange),
		Include:          in.Include,
		Exclude:          in.Exclude,
		MaxFiles:         in.MaxFiles,
		MaxBytes:         int64(in.MaxBytes),
		TargetFileSize:   int64(in.TargetFileSize),
		Workers:          in.Workers,
		BackfillInterval: in.BackfillInterval,
		MaxFileAge:       in.MaxFileAge,
		CleanSource:      ingest.CleanMode(in.CleanSource),
		CleanRetention:   in.CleanRetention,
		DrainTimeout:     c.ShutdownTimeout,
	}
}

// IngestStream returns the ingest stream name (ingest's default if unset).
func (c *Config) IngestStream() string {
	if c.Ingest.Stream == "" {
		return ingest.DefaultStream
	}
	return c.Ingest.Stream
}
