package regions_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/regions"
)

const minimal = `name: eu-west
landing: file:///data/landing
table: file:///data/regional
central: file:///data/central
`

func TestParseDefaults(t *testing.T) {
	c, err := regions.Parse([]byte(minimal), "")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"cloud derived from table scheme", c.Cloud, "local"},
		{"ingest enabled", c.IngestEnabled(), true},
		{"egress enabled", c.EgressEnabled(), true},
		{"ingest interval", c.Ingest.Interval, regions.DefaultIngestInterval},
		{"egress interval", c.Egress.Interval, regions.DefaultEgressInterval},
		{"predicate", c.Egress.Predicate, regions.DefaultPredicate},
		{"max rows", c.Egress.MaxRows, int64(regions.DefaultEgressMaxRows)},
		{"max bytes", c.Egress.MaxBytes, regions.Size(regions.DefaultEgressMaxBytes)},
		{"max versions", c.Egress.MaxVersions, regions.DefaultEgressMaxVersions},
		{"metrics address", c.Metrics.Address, ""},
		{"lag interval", c.Metrics.LagInterval, regions.DefaultLagInterval},
		{"log level", c.Log.Level, "info"},
		{"log format", c.Log.Format, "json"},
		{"shutdown timeout", c.ShutdownTimeout, regions.DefaultShutdownTimeout},
		{"stream", c.IngestStream(), "default"},
		{"line of table", c.Line("table"), 3},
		{"line of unset field", c.Line("egress.predicate"), 0},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseFull(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "schema.txt"), []byte("ts timestamp, level string, egress_approved boolean\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "sub", "r.yaml")
	yaml := `# full config
name: ap-south
cloud: aws
landing: s3://landing-bucket/logs?region=ap-south-1
table: s3://lake/regional?region=ap-south-1&endpoint=http://127.0.0.1:7070&use_path_style=true
central: file://../central   # relative to the config file
ingest:
  enabled: true
  stream: main
  format: csv
  schema: ../schema.txt
  time_column: ts
  epoch_unit: ms
  schema_mode: addNewColumns
  on_change: reingest
  include: ["**/*.csv"]
  exclude: ["tmp/**"]
  interval: 250ms
  backfill_interval: 10m
  max_files: 50
  max_bytes: 1.5GiB
  target_file_size: 64MiB
  workers: 2
  max_file_age: 2160h
  clean_source: move
  clean_retention: 1h
  clean_destination: file://../archive
egress:
  predicate: "level IN ('WARN', 'ERROR') AND NOT org_id IS NULL"
  interval: 2s
  max_rows: 1_000
  max_bytes: 10MB
  max_versions: 20
  schema_mode: addNewColumns
  max_new_columns: 8
metrics:
  address: ":0"
  lag_interval: 1s
log:
  level: debug
  format: text
shutdown_timeout: 30s
`
	c, err := regions.Parse([]byte(yaml), file)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"central resolved against the config dir", c.Central, "file://" + filepath.ToSlash(filepath.Join(dir, "central"))},
		{"table kept", c.Table, "s3://lake/regional?region=ap-south-1&endpoint=http://127.0.0.1:7070&use_path_style=true"},
		{"schema path", c.Ingest.Schema, filepath.Join(dir, "schema.txt")},
		{"schema parsed", c.IngestSchema != nil && c.IngestSchema.Field("level") != nil, true},
		{"max bytes", c.Ingest.MaxBytes, regions.Size(3 << 29)},
		{"target size", c.Ingest.TargetFileSize, regions.Size(64 << 20)},
		{"interval", c.Ingest.Interval, 250 * time.Millisecond},
		{"backfill", c.Ingest.BackfillInterval, 10 * time.Minute},
		{"include", strings.Join(c.Ingest.Include, ","), "**/*.csv"},
		{"egress max rows", c.Egress.MaxRows, int64(1000)},
		{"egress max bytes", c.Egress.MaxBytes, regions.Size(10_000_000)},
		{"egress max versions", c.Egress.MaxVersions, 20},
		{"egress schema mode", c.Egress.SchemaMode, "addNewColumns"},
		{"egress max new columns", c.Egress.MaxNewColumns, 8},
		{"predicate", c.Egress.Predicate, "level IN ('WARN', 'ERROR') AND NOT org_id IS NULL"},
		{"log", c.Log.Level + "/" + c.Log.Format, "debug/text"},
		{"shutdown", c.ShutdownTimeout, 30 * time.Second},
		{"line of egress.max_versions", c.Line("egress.max_versions"), 33},
		{"clean destination resolved", c.Ingest.CleanDestination, "file://" + filepath.ToSlash(filepath.Join(dir, "archive"))},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	o := c.IngestOptions()
	if o.Stream != "main" || o.Format != "csv" || o.MaxFiles != 50 || o.Workers != 2 || o.EpochUnit != "ms" || o.DrainTimeout != 30*time.Second ||
		o.MaxFileAge != 90*24*time.Hour || o.CleanSource != ingest.CleanMove || o.CleanRetention != time.Hour {
		t.Errorf("IngestOptions = %+v", o)
	}
}

// TestParseErrors checks that each mistake is reported with its file, line
// and field, and that one run reports all of them.
func TestParseErrors(t *testing.T) {
	t.Setenv("LOGLAKE_TEST_BUCKET", "bkt")
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error, in this order
	}{
		{"empty file", "", []string{"r.yaml: the file is empty"}},
		{"syntax error", "name: a\n  bad: [\n", []string{"r.yaml:"}},
		{"not a mapping", "- a\n- b\n", []string{"r.yaml:1: want a mapping of fields"}},
		{"two documents", minimal + "---\nname: b\n", []string{"r.yaml:5: more than one YAML document"}},
		{"missing everything", "cloud: local\n", []string{
			"name: required", "landing: required", "table: required", "central: required"}},
		{"unknown top-level field", minimal + "regoin: x\n", []string{"r.yaml:5: regoin: unknown field (known fields: name, cloud,"}},
		{"unknown nested field", minimal + "egress:\n  predicat: x\n", []string{"r.yaml:6: egress.predicat: unknown field (known fields of egress: enabled, predicate"}},
		{"duplicate key", minimal + "name: again\n", []string{"r.yaml:5: name: defined twice (first on line 1)"}},
		{"bad name", strings.Replace(minimal, "eu-west", "eu west!", 1), []string{"r.yaml:1: name: \"eu west!\": use 1-63 letters"}},
		{"bad cloud", minimal + "cloud: ibm\n", []string{"r.yaml:5: cloud: unknown cloud \"ibm\""}},
		{"scheme does not fit cloud", minimal + "cloud: gcp\n", []string{
			"r.yaml:2: landing: a file:// URL does not belong to cloud \"gcp\" (want gs://)",
			"r.yaml:3: table: a file:// URL does not belong to cloud \"gcp\""}},
		{"credentials in the URL", strings.Replace(minimal, "file:///data/regional", "s3://AKIA:secret@bucket/x", 1), []string{
			"r.yaml:3: table: s3://bucket/x: credentials must not be in the URL"}},
		{"credential query parameter", strings.Replace(minimal, "file:///data/central", "azblob://c/x?sas_token=abc", 1), []string{
			"r.yaml:4: central: azblob://c/x: query parameter \"sas_token\" looks like a credential"}},
		{"unknown scheme", strings.Replace(minimal, "file:///data/central", "ftp://h/x", 1), []string{
			"r.yaml:4: central: unsupported scheme \"ftp\""}},
		{"mistyped scheme", strings.Replace(minimal, "file:///data/central", "s3:bucket/central", 1), []string{
			"r.yaml:4: central: \"s3:bucket/central\" is neither a path nor a URL"}},
		{"table inside landing", strings.Replace(minimal, "file:///data/regional", "file:///data/landing/t", 1), []string{
			"r.yaml:2: landing: overlaps the regional table"}},
		{"central is the regional table", strings.Replace(minimal, "file:///data/central", "file:///data/regional", 1), []string{
			"r.yaml:4: central: is the regional table itself"}},
		{"bad duration", minimal + "ingest:\n  interval: 5\n", []string{"r.yaml:6: ingest.interval: want a non-negative duration like 500ms"}},
		{"negative duration", minimal + "egress:\n  interval: -1s\n", []string{"r.yaml:6: egress.interval: want a non-negative duration"}},
		{"bad size", minimal + "egress:\n  max_bytes: 12XB\n", []string{"r.yaml:6: egress.max_bytes: want a size like 64MiB"}},
		{"bad integer", minimal + "egress:\n  max_rows: many\n", []string{"r.yaml:6: egress.max_rows: want a non-negative integer, got \"many\""}},
		{"bad bool", minimal + "egress:\n  enabled: yes\n", []string{"r.yaml:6: egress.enabled: want true or false, got \"yes\""}},
		{"list wanted", minimal + "ingest:\n  include: \"*.json\"\n", []string{"r.yaml:6: ingest.include: want a list"}},
		{"mapping wanted", minimal + "egress: fast\n", []string{"r.yaml:5: egress: want a mapping of fields, got \"fast\""}},
		{"bad enum", minimal + "ingest:\n  format: ndjsn\n", []string{"r.yaml:6: ingest.format: unknown value \"ndjsn\": want ndjson, text, csv"}},
		{"bad egress schema mode", minimal + "egress:\n  schema_mode: evolve\n", []string{"r.yaml:6: egress.schema_mode: egress: invalid options: unknown schema mode \"evolve\""}},
		{"bad predicate", minimal + "egress:\n  predicate: egress_approved = = true\n", []string{"r.yaml:6: egress.predicate: expr: syntax error"}},
		{"bad glob", minimal + "ingest:\n  include: [\"{a,b\"]\n", []string{"r.yaml:5: ingest: ", "unbalanced braces"}},
		{"clean_source move without a destination", minimal + "ingest:\n  clean_source: move\n", []string{"ingest.clean_destination: required"}},
		{"clean destination inside landing", minimal + "ingest:\n  clean_source: move\n  clean_destination: file:///data/landing/archive\n", []string{
			"r.yaml:7: ingest.clean_destination: overlaps the landing location"}},
		{"clean destination without move", minimal + "ingest:\n  clean_destination: file:///data/archive\n", []string{"ingest.clean_destination: only for clean_source: move"}},
		{"bad clean source", minimal + "ingest:\n  clean_source: archive\n", []string{"r.yaml:5: ingest: ", "unknown clean source mode \"archive\""}},
		{"short max file age", minimal + "ingest:\n  max_file_age: 24h\n", []string{"r.yaml:5: ingest: ", "max file age 24h0m0s"}},
		{"bad metrics address", minimal + "metrics:\n  address: \"9090\"\n", []string{"r.yaml:6: metrics.address: \"9090\": want host:port"}},
		{"metrics port out of range", minimal + "metrics:\n  address: \":99999\"\n", []string{"r.yaml:6: metrics.address: \":99999\": port \"99999\" is not a number from 0 to 65535"}},
		// Zero would silently stand for the default.
		{"explicit zero", minimal + "egress:\n  max_rows: 0\n  interval: 0s\nshutdown_timeout: 0s\n", []string{
			"r.yaml:6: egress.max_rows: must be above 0 (leave it out for the default)", "r.yaml:7: egress.interval: must be above 0",
			"r.yaml:8: shutdown_timeout: must be above 0"}},
		{"size rounding to zero", minimal + "egress:\n  max_bytes: 0.5B\n", []string{"r.yaml:6: egress.max_bytes: must be above 0"}},
		// Ingest would load the tables' own files.
		{"central inside landing", strings.Replace(minimal, "file:///data/central", "file:///data/landing/central", 1), []string{
			"r.yaml:4: central: overlaps the landing location"}},
		{"route table inside landing", minimal[:strings.Index(minimal, "central:")] + "egress:\n  routes:\n    - name: c\n      table: file:///data/landing/c\n", []string{
			"egress.routes[0].table: overlaps the landing location"}},
		{"bad route schema mode", minimal[:strings.Index(minimal, "central:")] + "egress:\n  routes:\n    - name: c\n      table: file:///data/c\n      schema_mode: rescu\n", []string{
			"egress.routes: route \"c\": ", "unknown schema mode \"rescu\""}},
		{"bad log level", minimal + "log:\n  level: verbose\n", []string{"r.yaml:6: log.level: unknown value \"verbose\""}},
		{"missing schema file", minimal + "ingest:\n  schema: nope.txt\n", []string{"r.yaml:6: ingest.schema: open "}},
		{"unset environment variable", strings.Replace(minimal, "file:///data/central", "s3://${LOGLAKE_TEST_UNSET_VAR}/c", 1), []string{
			"r.yaml:4: central: environment variable LOGLAKE_TEST_UNSET_VAR is not set"}},
		{"several problems, in line order", "name: ''\ncloud: mars\ntable: file:///t\ningest:\n  max_files: -3\negress:\n  enabled: false\n", []string{
			"r.yaml:1: name: required", "r.yaml:2: cloud: unknown cloud", "r.yaml:5: ingest.max_files: want a non-negative integer", "landing: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := regions.Parse([]byte(tt.yaml), "/etc/loglake/r.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want an error containing %q", tt.want)
			}
			if !errors.Is(err, regions.ErrConfig) {
				t.Errorf("errors.Is(err, ErrConfig) = false for %v", err)
			}
			var ce *regions.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("errors.As(err, *ConfigError) = false for %v", err)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error\n  %s\ndoes not contain (in order) %q", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	t.Setenv("LOGLAKE_TEST_BUCKET", "lake-prod")
	t.Setenv("LOGLAKE_TEST_EMPTY", "")
	y := `name: us-east
table: s3://${LOGLAKE_TEST_BUCKET}/regional/us-east
landing: s3://${LOGLAKE_TEST_LANDING:-landing}/us-east
central: gs://${LOGLAKE_TEST_EMPTY:-central}/t
egress:
  predicate: "message = 'costs $$5'"
`
	c, err := regions.Parse([]byte(y), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []struct{ got, want string }{
		{c.Table, "s3://lake-prod/regional/us-east"},
		{c.Landing, "s3://landing/us-east"},
		{c.Central, "gs://central/t"},
		{c.Egress.Predicate, "message = 'costs $5'"},
		{c.Cloud, "aws"},
	} {
		if ch.got != ch.want {
			t.Errorf("got %q, want %q", ch.got, ch.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want regions.Size
		bad  bool
	}{
		{"0", 0, false},
		{"1048576", 1 << 20, false},
		{"1_000", 1000, false},
		{"64MiB", 64 << 20, false},
		{"1.5 GiB", 3 << 29, false},
		{"10KB", 10_000, false},
		{"2TB", 2e12, false},
		{"512B", 512, false},
		{"-1", 0, true},
		{"-1MiB", 0, true},
		{"1.5", 0, true},
		{"MiB", 0, true},
		{"12XB", 0, true},
		{"8388608TiB", 0, true}, // 2^63 bytes: one past the largest
		{"8388607TiB", 8388607 << 40, false},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := regions.ParseSize(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "eu.yaml")
	if err := os.WriteFile(f, []byte("name: eu\nlanding: file://./landing\ntable: file://./t\ncentral: mem://central\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := regions.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(filepath.Join(dir, "landing")); c.Landing != want {
		t.Errorf("Landing = %q, want %q", c.Landing, want)
	}
	if c.File != f {
		t.Errorf("File = %q, want %q", c.File, f)
	}
	_, err = regions.Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, regions.ErrConfig) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load(missing) = %v, want ErrConfig naming the file", err)
	}
}

// TestRepoConfigs loads every configuration shipped in configs/.
func TestRepoConfigs(t *testing.T) {
	files, err := filepath.Glob("../configs/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d configs under configs/, want the 3 demo regions and 3 cloud examples", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := regions.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(filepath.Base(filepath.Dir(f)), "demo") && c.Cloud != "local" {
				t.Errorf("demo config %s has cloud %q, want local", f, c.Cloud)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic, that every failure is
// a ConfigError, and that every success has the required fields set.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "egress:\n  predicate: a IN (1, 2) AND NOT b IS NULL\n  max_bytes: 1.5GiB\n"))
	f.Add([]byte("name: &a x\ntable: *a\n"))
	f.Add([]byte("name: ${X:-y}\n"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := regions.Parse(data, "f.yaml")
		if err != nil {
			var ce *regions.ConfigError
			if !errors.Is(err, regions.ErrConfig) || !errors.As(err, &ce) {
				t.Fatalf("error %v is not a ConfigError", err)
			}
			return
		}
		if c.Name == "" || c.Table == "" || c.Egress.Predicate == "" || c.Cloud == "" {
			t.Fatalf("Parse succeeded with missing fields: %+v", c)
		}
	})
}

func TestParseRoutes(t *testing.T) {
	base := `name: eu-west
landing: file:///data/landing
table: file:///data/regional
`
	c, err := regions.Parse([]byte(base+`egress:
  routes:
    - name: payments
      table: file:///data/fork
      predicate: "egress_approved = true AND service = 'payments'"
    - name: central
      table: file:///data/central
`), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []egress.Route{
		{Name: "payments", Table: "file:///data/fork", Predicate: "egress_approved = true AND service = 'payments'"},
		{Name: "central", Table: "file:///data/central"},
	}
	if got := c.Routes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("routes %+v, want %+v", got, want)
	}
	// The single target is the route named central.
	single, err := regions.Parse([]byte(minimal), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := single.Routes(); len(got) != 1 || got[0].Name != egress.DefaultRoute || got[0].Table != "file:///data/central" ||
		got[0].Predicate != regions.DefaultPredicate {
		t.Fatalf("single-target routes %+v", got)
	}
	for _, c := range []struct{ name, yaml, field string }{
		{"both", "central: file:///data/central\negress:\n  routes:\n    - {name: a, table: file:///data/a}\n", "egress.routes"},
		{"no table", "egress:\n  routes:\n    - {name: a}\n", "egress.routes[0].table"},
		{"regional table", "egress:\n  routes:\n    - {name: a, table: file:///data/regional}\n", "egress.routes[0].table"},
		{"duplicate", "egress:\n  routes:\n    - {name: a, table: file:///data/a}\n    - {name: a, table: file:///data/b}\n", "egress.routes"},
		{"bad predicate", "egress:\n  routes:\n    - {name: a, table: file:///data/a, predicate: \"x =\"}\n", "egress.routes"},
		{"unknown field", "egress:\n  routes:\n    - {name: a, table: file:///data/a, target: x}\n", "egress.routes[0].target"},
		{"not a list", "egress:\n  routes: {name: a}\n", "egress.routes"},
	} {
		_, err := regions.Parse([]byte(base+c.yaml), "r.yaml")
		var ce regions.ConfigErrors
		if !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want ConfigErrors", c.name, err)
			continue
		}
		found := false
		for _, e := range ce {
			found = found || e.Field == c.field
		}
		if !found {
			t.Errorf("%s: %v: no error for field %s", c.name, err, c.field)
		}
	}
}
