package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/render"
)

// defaultIngestMemoryLimit is the soft memory limit of `loglake ingest`:
// with it the heap stays near the live set (open Parquet encoders and the
// records in flight) instead of growing to twice it, so a batch fits the
// 512 MiB budget of issue #3 with headroom.
const defaultIngestMemoryLimit = 384 << 20

func init() {
	var (
		landing, tableURL, stream, format, schemaFile, schemaMode, onChange, epochUnit string
		cleanSource, cleanDest                                                         string
		include, exclude                                                               []string
		once, dryRun                                                                   bool
		interval, maxFileAge, cleanRetention                                           time.Duration
		maxFiles, workers                                                              int
		maxBytes, targetSize, memLimit                                                 int64
	)
	cmd := &cobra.Command{
		Use:   "ingest --landing URL --table URL",
		Short: "Auto-load landing files into a Delta table, exactly once",
		Long: `Discovers new files under --landing (NDJSON, text or CSV; .gz/.zst by
extension) and appends them to the Delta table at --table (created when
there is something to ingest), exactly once per stream. With --once it
ingests everything discoverable now, prints a summary and exits; otherwise
it polls every --interval until SIGTERM, then stops after the current batch.
--dry-run lists what would be ingested and why other files are skipped
(hidden, glob, ingested, changed), writing nothing. See docs/ingest.md.`,
		Example: `  loglake ingest --landing ./landing --table ./regional --once
  loglake ingest --landing ./landing --table ./regional --dry-run
  loglake ingest --landing s3://logs/eu --table s3://lake/eu --include '**/*.json.gz' --max-bytes 1GiB`,
		Args: cobra.NoArgs,
	}
	out := addOutput(cmd, render.JSON)
	vb := addVerbosity(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		if landing == "" || tableURL == "" {
			return usagef("--landing and --table are required")
		}
		if once && dryRun {
			return usagef("--once and --dry-run are mutually exclusive")
		}
		if maxBytes <= 0 || targetSize <= 0 {
			return usagef("--max-bytes and --target-file-size take a size above 0")
		}
		lu, err := location(landing)
		if err != nil {
			return err
		}
		tu, err := location(tableURL)
		if err != nil {
			return err
		}
		if overlaps(lu, tu) {
			return usagef("--landing %s and --table %s overlap: the table would ingest its own files; give each its own location", landing, tableURL)
		}
		applyMemoryLimit(cmd, memLimit)
		base := slog.LevelWarn
		if !once && !dryRun {
			base = slog.LevelInfo
		}
		opts := &ingest.Options{
			Stream: stream, Format: ingest.Format(format), SchemaMode: ingest.SchemaMode(schemaMode),
			OnChange: ingest.ChangeRule(onChange), EpochUnit: epochUnit, Include: include, Exclude: exclude,
			MaxFiles: maxFiles, MaxBytes: maxBytes, TargetFileSize: targetSize, Workers: workers,
			MaxFileAge: maxFileAge, CleanSource: ingest.CleanMode(cleanSource), CleanRetention: cleanRetention,
			Logger: vb.logger(os.Stderr, base),
		}
		if schemaFile != "" {
			data, err := os.ReadFile(schemaFile)
			if err != nil {
				return usageError{err}
			}
			if opts.Schema, err = ingest.ParseSchema(data); err != nil {
				return usageError{err}
			}
		}
		var bar *progressbar.ProgressBar
		if vb.progress() && !dryRun {
			var barBatch int64
			opts.Progress = func(p ingest.Progress) {
				if bar == nil || barBatch != p.Batch {
					if bar != nil {
						bar.Finish()
					}
					barBatch = p.Batch
					bar = progressbar.DefaultBytes(p.BytesTotal, fmt.Sprintf("batch %d (%d files)", p.Batch, p.FilesTotal))
				}
				bar.Set64(p.BytesDone)
			}
		}
		lb, err := openLocation(ctx, lu)
		if err != nil {
			return err
		}
		defer lb.Close()
		tb, err := openLocation(ctx, tu)
		if err != nil {
			return err
		}
		defer tb.Close()
		if cleanDest != "" {
			du, err := location(cleanDest)
			if err != nil {
				return err
			}
			db, err := openLocation(ctx, du)
			if err != nil {
				return err
			}
			defer db.Close()
			opts.CleanDestination = db
		}
		// Batches committed so far, for the summary printed on Ctrl-C.
		var mu sync.Mutex
		var committed []ingest.BatchResult
		opts.OnCommit = func(r ingest.BatchResult) {
			mu.Lock()
			committed = append(committed, r)
			mu.Unlock()
		}
		in, err := ingest.New(lb, tb, opts)
		if err != nil {
			return usageError{err}
		}
		if dryRun {
			p, err := in.Plan(ctx)
			if err != nil {
				return configUsage(err)
			}
			return writePlan(cmd.OutOrStdout(), f, p)
		}
		interruptSummary = func() string {
			mu.Lock()
			defer mu.Unlock()
			if len(committed) == 0 {
				return "no batch was committed"
			}
			var files int
			var rows int64
			for _, r := range committed {
				files, rows = files+r.Files, rows+r.Rows
			}
			last := committed[len(committed)-1]
			return fmt.Sprintf("%s committed (%d files, %d rows), table at version %d; rerun to continue exactly where it stopped",
				plural(len(committed), "batch", "batches"), files, rows, last.Version)
		}
		if !once {
			err := in.Run(ctx, interval)
			interruptSummary = nil // Run drains on SIGTERM: a clean stop
			return configUsage(err)
		}
		sum, err := in.RunOnce(ctx)
		if bar != nil {
			bar.Finish()
			fmt.Fprintln(os.Stderr)
		}
		if err != nil {
			return configUsage(err)
		}
		interruptSummary = nil
		return writeObject(cmd.OutOrStdout(), f, sum, nil)
	}
	fl := cmd.Flags()
	fl.StringVar(&landing, "landing", "", "landing location: a path or URL (file://, mem://, s3://, gs://, azblob://)")
	fl.StringVar(&tableURL, "table", "", "Delta table location (created when the first batch commits)")
	fl.StringVar(&stream, "stream", ingest.DefaultStream, "stream name: the txn appId is ingest:<stream>")
	fl.StringVar(&format, "format", string(ingest.FormatNDJSON), "input format: ndjson, text or csv")
	fl.StringVar(&schemaFile, "schema", "", "file holding the schema of a new table: Delta schema JSON, or \"name type\" pairs separated by commas or lines")
	fl.StringVar(&schemaMode, "schema-mode", string(ingest.SchemaRescue), "unknown fields: rescue (into _rescued_data) or addNewColumns")
	fl.StringVar(&onChange, "on-change", string(ingest.ChangeIgnore), "a file changed after ingestion: ignore or reingest")
	fl.StringVar(&epochUnit, "epoch-unit", "auto", "unit of numeric timestamps: auto, s, ms, us, ns")
	fl.StringSliceVar(&include, "include", nil, "glob of landing keys to ingest (repeatable; ** crosses folders)")
	fl.StringSliceVar(&exclude, "exclude", nil, "glob of landing keys to skip (repeatable)")
	fl.BoolVar(&once, "once", false, "ingest everything discoverable now, print a summary and exit")
	fl.BoolVar(&dryRun, "dry-run", false, "list what would be ingested and why other files are skipped; write nothing")
	durationVar(fl, &interval, "interval", ingest.DefaultInterval, "polling interval without --once")
	countVar(fl, &maxFiles, "max-files", ingest.DefaultMaxFiles, 1, "most files per batch")
	sizeVar(fl, &maxBytes, "max-bytes", ingest.DefaultMaxBytes, "most landing bytes per batch (e.g. 10GiB)")
	sizeVar(fl, &targetSize, "target-file-size", ingest.DefaultTargetFileSize, "Parquet data file size to roll at (e.g. 128MiB)")
	countVar(fl, &workers, "workers", 0, 0, "decoding goroutines (default: GOMAXPROCS)")
	durationVar(fl, &maxFileAge, "max-file-age", 0,
		"forget ingested files older than this and ignore unseen ones as old (0: keep all; else at least 336h, e.g. 2160h)")
	fl.StringVar(&cleanSource, "clean-source", string(ingest.CleanOff), "after a batch commits and --clean-retention passes: off, move (to --clean-destination) or delete its landing files")
	durationVar(fl, &cleanRetention, "clean-retention", ingest.DefaultCleanRetention, "wait before --clean-source moves or deletes a file (delete: at least 168h)")
	fl.StringVar(&cleanDest, "clean-destination", "", "where --clean-source move puts landing files (same keys); must not overlap --landing")
	sizeVar(fl, &memLimit, "memory-limit", defaultIngestMemoryLimit,
		"soft Go memory limit (debug.SetMemoryLimit), e.g. 512MiB; 0: none (GOMEMLIMIT, if set, wins over the default)")
	root.AddCommand(cmd)
}

// writePlan prints an ingest dry run: one row per landing file, or the
// whole plan as one JSON object.
func writePlan(w io.Writer, f render.Format, p *ingest.Plan) error {
	if f == render.JSON {
		return writeJSON(w, p)
	}
	rw, err := render.NewWriter(w, f, []string{"key", "size", "reason", "batch"})
	if err != nil {
		return err
	}
	for _, pf := range p.Files {
		var batch any
		if pf.Batch > 0 {
			batch = pf.Batch
		}
		if err := rw.Row([]any{pf.Key, pf.Size, pf.Reason, batch}); err != nil {
			return err
		}
	}
	if err := rw.Close(); err != nil {
		return err
	}
	if f == render.Table {
		var skipped []string
		for _, r := range []string{ingest.PlanPlanned, ingest.PlanIngested, ingest.PlanChanged, ingest.PlanExpired, ingest.PlanHidden, ingest.PlanGlob, ingest.PlanBadKey} {
			if n := p.Skipped[r]; n > 0 {
				skipped = append(skipped, fmt.Sprintf("%d %s", n, r))
			}
		}
		tv := "does not exist yet"
		if p.TableVersion >= 0 {
			tv = fmt.Sprintf("at version %d", p.TableVersion)
		}
		fmt.Fprintf(w, "dry run: %s (%s) in %s; skipped: %s; table %s\n",
			plural(p.Ingest, "file", "files"), formatSize(p.IngestBytes), plural(p.Batches, "batch", "batches"),
			orNone(strings.Join(skipped, ", ")), tv)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// plural prints "1 commit", "2 commits".
func plural[T int | int64](n T, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// configUsage makes a run-time ingest.ErrConfig (a batch planned on another
// --landing, a --table ingest cannot write) a usage error: the arguments
// are wrong, and running again unchanged cannot succeed.
func configUsage(err error) error {
	if errors.Is(err, ingest.ErrConfig) {
		return usageError{err}
	}
	return err
}
