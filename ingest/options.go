package ingest

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Format is the landing files' format.
type Format string

// Supported formats.
const (
	// FormatNDJSON is one JSON object per line (the default).
	FormatNDJSON Format = "ndjson"
	// FormatText puts each whole line into the message column.
	FormatText Format = "text"
	// FormatCSV is RFC 4180 CSV with a header record naming the columns.
	FormatCSV Format = "csv"
)

// SchemaMode says what happens to fields the table schema does not have,
// as Auto Loader's cloudFiles.schemaEvolutionMode.
type SchemaMode string

// Schema evolution modes.
const (
	// SchemaRescue keeps the table schema and puts unknown fields into
	// _rescued_data as JSON (the default).
	SchemaRescue SchemaMode = "rescue"
	// SchemaAddNewColumns adds a nullable column for every new top-level
	// field (type inferred from its JSON value: string, long, double or
	// boolean; objects and arrays become JSON strings) with a metaData
	// commit, then writes the batch with the evolved schema.
	SchemaAddNewColumns SchemaMode = "addNewColumns"
)

// ChangeRule says what happens when a file that was already ingested is
// seen again with a different size or ETag.
type ChangeRule string

// File change rules.
const (
	// ChangeIgnore keeps the first version: the change is logged once and
	// counted in the changed_files metric, the new content is not ingested
	// (the default; a file is ingested once, ever).
	ChangeIgnore ChangeRule = "ignore"
	// ChangeReingest ingests the new version as a new file: every line of
	// it is appended again. Use it when landing files are replaced with
	// entirely new content, never when they are appended to.
	ChangeReingest ChangeRule = "reingest"
)

// CleanMode says what happens to a landing file once the batch that
// ingested it has committed, as Auto Loader's cloudFiles.cleanSource.
type CleanMode string

// Clean modes.
const (
	// CleanOff leaves landing files where they are (the default).
	CleanOff CleanMode = "off"
	// CleanMove moves each ingested file to CleanDestination (same key)
	// CleanRetention after its batch.
	CleanMove CleanMode = "move"
	// CleanDelete deletes each ingested file CleanRetention after its batch.
	CleanDelete CleanMode = "delete"
)

// Defaults.
const (
	DefaultMaxFiles       = 1000
	DefaultMaxBytes       = 10 << 30
	DefaultTargetFileSize = 128 << 20
	DefaultMaxLineBytes   = 1 << 20
	// maxLineLimit bounds MaxLineBytes so that a bad line's rescued copy
	// (escaped, 6 bytes for an invalid byte, plus base64: up to 7.4 times
	// its size) fits the 32-bit offsets of an Arrow string column.
	maxLineLimit            = 256 << 20
	DefaultFileRetries      = 3
	DefaultIndexEvery       = 50
	DefaultBackfillInterval = time.Minute
	DefaultDrainTimeout     = time.Minute
	// DefaultCleanRetention is how long a landing file stays after its
	// batch before cleanSource moves or deletes it (Auto Loader's
	// cloudFiles.cleanSource.retentionDuration default).
	DefaultCleanRetention = 30 * 24 * time.Hour
	// MinCleanDeleteRetention is the shortest retention CleanDelete accepts
	// (Auto Loader's rule): a deleted landing file cannot be ingested again
	// after a bad batch is found and undone.
	MinCleanDeleteRetention = 7 * 24 * time.Hour
	// MinMaxFileAge is the smallest MaxFileAge accepted (Auto Loader's
	// minimum for cloudFiles.maxFileAge): a shorter one risks ignoring
	// files that arrive late or are listed late.
	MinMaxFileAge = 14 * 24 * time.Hour
	// DefaultStateRetention is how long superseded index segments and
	// covered manifests stay before they are deleted.
	DefaultStateRetention = time.Hour
	// DefaultInterval is how often Run lists the landing location when it
	// is idle: the one default of `loglake ingest`, the region daemon and
	// Run itself.
	DefaultInterval = time.Second
	// DefaultStream is the stream of an Ingester (and a region, and
	// `loglake ingest`) that names none.
	DefaultStream = "default"
)

// Options configure an Ingester. The zero value (and nil) is the
// documented default for every field.
type Options struct {
	// Stream names the ingest stream; its commits carry the txn appId
	// "ingest:<Stream>" and its state lives under _loglake/ingest/<Stream>/
	// in the table location. Default DefaultStream. Letters, digits, '-',
	// '_' and '.' only.
	Stream string
	// Format of the landing files (default FormatNDJSON). Files ending in
	// .gz or .zst are decompressed whatever the format.
	Format Format
	// Schema is the table schema used when the table does not exist yet
	// (default DefaultSchema()). Missing system columns (_source_file,
	// _ingested_at, _rescued_data) and the date partition column are added.
	// An existing table's schema always wins.
	Schema *table.Schema
	// TimeColumn is the event time column the date partition is derived
	// from (default "ts").
	TimeColumn string
	// EpochUnit fixes the unit of numeric timestamps: "s", "ms", "us", "ns";
	// "" or "auto" infers it from the magnitude.
	EpochUnit string
	// SchemaMode is SchemaRescue (default) or SchemaAddNewColumns.
	SchemaMode SchemaMode
	// OnChange is the rule for files that change after ingestion
	// (default ChangeIgnore).
	OnChange ChangeRule
	// Include and Exclude are glob patterns on the key relative to the
	// landing location: '*' matches within a path segment, '**' across
	// segments, '?' one character. A file is a candidate when it matches
	// some Include pattern (none: all) and no Exclude pattern. Keys with a
	// path segment starting with '.' or '_' are always skipped.
	Include, Exclude []string
	// MaxFiles and MaxBytes bound a batch (defaults DefaultMaxFiles and
	// DefaultMaxBytes of stored size); a batch always takes at least one file.
	MaxFiles int
	MaxBytes int64
	// TargetFileSize is the Parquet data file size to roll at (default
	// DefaultTargetFileSize).
	TargetFileSize int64
	// MaxLineBytes is the longest line decoded (default DefaultMaxLineBytes,
	// at most 256 MiB); a longer line becomes a rescued row holding its first MaxLineBytes
	// bytes and its real length.
	MaxLineBytes int
	// Workers is the number of decoding goroutines (default GOMAXPROCS).
	Workers int
	// FileRetries is how many times a file that cannot be opened (not
	// found, permission denied) is retried within its batch before it is
	// quarantined (default DefaultFileRetries). Transient storage errors
	// are not retried here: they fail the batch, which is retried whole.
	FileRetries int
	// BackfillInterval is how often a full listing of the landing location
	// runs, to catch late files whose keys sort before the listing cursor
	// (default DefaultBackfillInterval; the first discovery of an Ingester
	// is always a full listing).
	BackfillInterval time.Duration
	// IndexEvery is how many batches pass between stored segments of the
	// ingested-files index (default DefaultIndexEvery).
	IndexEvery int
	// MaxFileAge bounds the ingested-files index, as Auto Loader's
	// cloudFiles.maxFileAge: files whose landing ModTime is older than
	// MaxFileAge are dropped from the index (memory and storage), and a
	// landing file that old which is not in the index is ignored, never
	// ingested. 0 (the default, as Auto Loader's) keeps every file forever;
	// otherwise at least MinMaxFileAge (90 days is a conservative choice).
	MaxFileAge time.Duration
	// CleanSource moves or deletes landing files after ingestion (default
	// CleanOff). A file is touched only once the batch that ingested it is
	// committed in the table and CleanRetention has passed since that batch
	// was planned, and only if it is unchanged since.
	CleanSource CleanMode
	// CleanRetention is the wait before cleaning (default
	// DefaultCleanRetention; at least MinCleanDeleteRetention for
	// CleanDelete; a negative value means 0, for CleanMove only).
	CleanRetention time.Duration
	// CleanDestination receives moved files under their landing key
	// (CleanMove only; required then). It must not overlap the landing
	// location, or moved files would be ingested again.
	CleanDestination storage.Bucket
	// StateRetention is how long an index segment exists before the objects
	// it supersedes (older segments, covered manifests) are deleted
	// (default DefaultStateRetention).
	StateRetention time.Duration
	// DrainTimeout bounds how long Run lets the current batch finish after
	// its context is done (default DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Logger receives progress and warnings (default: discard).
	Logger *slog.Logger
	// Registerer receives the ingest metrics (nil: none).
	Registerer prometheus.Registerer
	// TableOptions are passed to table.Open and table.Create.
	TableOptions *table.Options
	// Progress, when set, is called as landing bytes are read, from several
	// goroutines but never concurrently.
	Progress func(Progress)
	// OnCommit, when set, is called after each batch this Ingester commits
	// (so that an interrupted `ingest --once` can say what it committed).
	OnCommit func(BatchResult)
	// Now returns the current time (default time.Now); tests fix it.
	Now func() time.Time
}

// Progress reports a running batch.
type Progress struct {
	Batch                 int64
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64 // stored (compressed) bytes
}

func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	for _, r := range c.Stream {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return c, fmt.Errorf("%w: stream name %q: only letters, digits, '-', '_' and '.'", ErrConfig, c.Stream)
		}
	}
	if strings.Trim(c.Stream, ".") == "" {
		// "." and ".." would be path segments of the stream's state keys.
		return c, fmt.Errorf("%w: stream name %q: needs a letter, digit, '-' or '_'", ErrConfig, c.Stream)
	}
	switch c.Format {
	case "":
		c.Format = FormatNDJSON
	case FormatNDJSON, FormatText, FormatCSV:
	default:
		return c, fmt.Errorf("%w: unknown format %q (want ndjson, text or csv)", ErrConfig, c.Format)
	}
	switch c.SchemaMode {
	case "":
		c.SchemaMode = SchemaRescue
	case SchemaRescue, SchemaAddNewColumns:
	default:
		return c, fmt.Errorf("%w: unknown schema mode %q (want rescue or addNewColumns)", ErrConfig, c.SchemaMode)
	}
	switch c.OnChange {
	case "":
		c.OnChange = ChangeIgnore
	case ChangeIgnore, ChangeReingest:
	default:
		return c, fmt.Errorf("%w: unknown file change rule %q (want ignore or reingest)", ErrConfig, c.OnChange)
	}
	switch c.EpochUnit {
	case "", "auto", "s", "ms", "us", "ns":
	default:
		return c, fmt.Errorf("%w: unknown epoch unit %q", ErrConfig, c.EpochUnit)
	}
	for _, g := range append(append([]string{}, c.Include...), c.Exclude...) {
		if _, err := compileGlob(g); err != nil {
			return c, fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	if c.Schema == nil {
		c.Schema = DefaultSchema()
	}
	if c.TimeColumn == "" {
		c.TimeColumn = "ts"
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = DefaultMaxFiles
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.TargetFileSize <= 0 {
		c.TargetFileSize = DefaultTargetFileSize
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.MaxLineBytes > maxLineLimit {
		return c, fmt.Errorf("%w: max line bytes %d: at most %d", ErrConfig, c.MaxLineBytes, maxLineLimit)
	}
	if c.FileRetries <= 0 {
		c.FileRetries = DefaultFileRetries
	}
	if c.BackfillInterval <= 0 {
		c.BackfillInterval = DefaultBackfillInterval
	}
	if c.IndexEvery <= 0 {
		c.IndexEvery = DefaultIndexEvery
	}
	if c.MaxFileAge < 0 || c.MaxFileAge > 0 && c.MaxFileAge < MinMaxFileAge {
		return c, fmt.Errorf("%w: max file age %v: 0 (keep every file) or at least %v", ErrConfig, c.MaxFileAge, MinMaxFileAge)
	}
	switch c.CleanSource {
	case "":
		c.CleanSource = CleanOff
	case CleanOff, CleanMove, CleanDelete:
	default:
		return c, fmt.Errorf("%w: unknown clean source mode %q (want off, move or delete)", ErrConfig, c.CleanSource)
	}
	switch {
	case c.CleanRetention == 0:
		c.CleanRetention = DefaultCleanRetention
	case c.CleanRetention < 0:
		c.CleanRetention = 0
	}
	if c.CleanSource == CleanDelete && c.CleanRetention < MinCleanDeleteRetention {
		return c, fmt.Errorf("%w: clean source delete needs a retention of at least %v (got %v)", ErrConfig, MinCleanDeleteRetention, c.CleanRetention)
	}
	// A missing destination for move is refused by New when it has a
	// landing location: a configuration check has no bucket to give.
	if c.CleanSource != CleanMove && c.CleanDestination != nil {
		return c, fmt.Errorf("%w: a clean source destination is only for clean source move", ErrConfig)
	}
	if c.StateRetention <= 0 {
		c.StateRetention = DefaultStateRetention
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// cutoff returns the index horizon MaxFileAge asks for at now, in Unix
// seconds (0 without MaxFileAge). It moves in steps of MaxFileAge/64 (at
// least a minute), because each move scans the whole index.
func (o *Options) cutoff(now time.Time) int64 {
	if o.MaxFileAge <= 0 {
		return 0
	}
	step := int64(max(o.MaxFileAge/64, time.Minute) / time.Second)
	c := now.Add(-o.MaxFileAge).Unix()
	return c - c%step
}

// Summary is what RunOnce did.
type Summary struct {
	Files       int           `json:"files"`       // landing files ingested
	Rows        int64         `json:"rows"`        // rows appended
	Rescued     int64         `json:"rescued"`     // rows with _rescued_data set
	Rejected    int64         `json:"rejected"`    // rows kept out: they break a table constraint
	Bytes       int64         `json:"bytes"`       // landing bytes read (stored size)
	Commits     int           `json:"commits"`     // batches committed by this Ingester
	Version     int64         `json:"version"`     // table version after the run (-1: the table does not exist)
	Quarantined int           `json:"quarantined"` // files that could not be read
	Skipped     int           `json:"skipped"`     // changed files ignored by the change rule
	Batches     []BatchResult `json:"batches,omitempty"`
}

// BatchResult describes one committed batch.
type BatchResult struct {
	Batch       int64     `json:"batch"`
	Version     int64     `json:"version"` // table version (-1 when another instance committed it)
	Files       int       `json:"files"`
	Rows        int64     `json:"rows"`
	Rescued     int64     `json:"rescued"`
	Rejected    int64     `json:"rejected"` // rows written to the rejected area instead
	Bytes       int64     `json:"bytes"`
	Quarantined int       `json:"quarantined"`
	Committed   time.Time `json:"committed"`
	// Duration is how long the batch took from planning to commit.
	Duration time.Duration `json:"-"`
	// DurationMs is Duration in milliseconds, for JSON.
	DurationMs int64 `json:"durationMs"`
	// Latencies are, per file, its arrival (ModTime) to commit time: the
	// end-to-end latency a daemon exports as a histogram.
	Latencies []time.Duration `json:"-"`
	// MaxLatency is the largest of Latencies.
	MaxLatency time.Duration `json:"-"`
	// MaxLatencyMs is MaxLatency in milliseconds, for JSON.
	MaxLatencyMs int64 `json:"maxLatencyMs"`
	// AlreadyCommitted is true when another instance committed the batch
	// first; its counts are then this instance's discarded work.
	AlreadyCommitted bool `json:"already_committed,omitempty"`
}

func (s *Summary) add(b BatchResult) {
	s.Batches = append(s.Batches, b)
	if b.AlreadyCommitted {
		return
	}
	s.Files += b.Files
	s.Rows += b.Rows
	s.Rescued += b.Rescued
	s.Rejected += b.Rejected
	s.Bytes += b.Bytes
	s.Commits++
	s.Quarantined += b.Quarantined
	s.Version = b.Version
}
