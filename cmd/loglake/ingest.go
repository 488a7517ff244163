package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/storage"
)

// defaultIngestMemoryLimit is the soft memory limit of `loglake ingest`:
// with it the heap stays near the live set (open Parquet encoders and the
// records in flight) instead of growing to twice it, so a batch fits the
// 512 MiB budget of issue #3 with headroom.
const defaultIngestMemoryLimit = 384 << 20

// stderrIsTerminal reports whether progress bars should be drawn.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func init() {
	var (
		landing, tableURL, stream, format, schemaFile, schemaMode, onChange, epochUnit string
		include, exclude                                                               []string
		once, quiet                                                                    bool
		interval                                                                       time.Duration
		maxFiles, workers                                                              int
		maxBytes, targetSize, memLimit                                                 int64
	)
	cmd := &cobra.Command{
		Use:   "ingest --landing URL --table URL",
		Short: "Auto-load landing files into a Delta table, exactly once",
		Long: `Discovers new files under --landing (NDJSON, text or CSV; .gz/.zst by
extension) and appends them to the Delta table at --table (created if absent),
exactly once per stream. With --once it ingests everything discoverable now,
prints a JSON summary and exits; otherwise it polls every --interval until
SIGTERM, then stops after the current batch. See docs/ingest.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if landing == "" || tableURL == "" {
				return usageError{fmt.Errorf("--landing and --table are required")}
			}
			// A soft limit makes the GC collect before GOGC's 2x headroom
			// would take the heap past it. GOMEMLIMIT wins unless the flag is
			// given explicitly.
			if memLimit > 0 && (os.Getenv("GOMEMLIMIT") == "" || cmd.Flags().Changed("memory-limit")) {
				debug.SetMemoryLimit(memLimit)
			}
			opts := &ingest.Options{
				Stream: stream, Format: ingest.Format(format), SchemaMode: ingest.SchemaMode(schemaMode),
				OnChange: ingest.ChangeRule(onChange), EpochUnit: epochUnit, Include: include, Exclude: exclude,
				MaxFiles: maxFiles, MaxBytes: maxBytes, TargetFileSize: targetSize, Workers: workers,
				Logger: slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}
			if !once {
				opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
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
			if !quiet && stderrIsTerminal() {
				var bar *progressbar.ProgressBar
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
			lb, err := storage.Open(ctx, landing, nil)
			if err != nil {
				return err
			}
			defer lb.Close()
			tb, err := storage.Open(ctx, tableURL, nil)
			if err != nil {
				return err
			}
			defer tb.Close()
			in, err := ingest.New(lb, tb, opts)
			if err != nil {
				return usageError{err}
			}
			if once {
				sum, err := in.RunOnce(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(os.Stderr)
				return writeJSON(cmd.OutOrStdout(), sum)
			}
			return in.Run(ctx, interval)
		},
	}
	f := cmd.Flags()
	f.StringVar(&landing, "landing", "", "landing location URL (file://, mem://, s3://, gs://, azblob://)")
	f.StringVar(&tableURL, "table", "", "Delta table URL (created if absent)")
	f.StringVar(&stream, "stream", "default", "stream name: the txn appId is ingest:<stream>")
	f.StringVar(&format, "format", "ndjson", "input format: ndjson, text or csv")
	f.StringVar(&schemaFile, "schema", "", "schema file for a new table (Delta schema JSON or \"name type, …\")")
	f.StringVar(&schemaMode, "schema-mode", "rescue", "unknown fields: rescue (into _rescued_data) or addNewColumns")
	f.StringVar(&onChange, "on-change", "ignore", "a file changed after ingestion: ignore or reingest")
	f.StringVar(&epochUnit, "epoch-unit", "auto", "unit of numeric timestamps: auto, s, ms, us, ns")
	f.StringSliceVar(&include, "include", nil, "glob of landing keys to ingest (repeatable; ** crosses folders)")
	f.StringSliceVar(&exclude, "exclude", nil, "glob of landing keys to skip (repeatable)")
	f.BoolVar(&once, "once", false, "ingest everything discoverable now, print a JSON summary and exit")
	f.DurationVar(&interval, "interval", 10*time.Second, "polling interval without --once")
	f.IntVar(&maxFiles, "max-files", ingest.DefaultMaxFiles, "most files per batch")
	f.Int64Var(&maxBytes, "max-bytes", ingest.DefaultMaxBytes, "most landing bytes per batch")
	f.Int64Var(&targetSize, "target-file-size", ingest.DefaultTargetFileSize, "Parquet data file size to roll at")
	f.IntVar(&workers, "workers", 0, "decoding goroutines (default: GOMAXPROCS)")
	f.Int64Var(&memLimit, "memory-limit", defaultIngestMemoryLimit,
		"soft Go memory limit in bytes (debug.SetMemoryLimit); 0: none (GOMEMLIMIT, if set, wins over the default)")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	root.AddCommand(cmd)
}
