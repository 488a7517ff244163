package main

import (
	"errors"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

func init() {
	var (
		o         loggen.Options
		start     string
		parallel  int
		fileBytes int64
		overwrite bool
	)
	cmd := &cobra.Command{
		Use:   "gen URL",
		Short: "Generate realistic NDJSON service logs into a landing location",
		Long: `Writes --files files of about --file-bytes uncompressed bytes each under URL
(and --prefix), as service=S/date=D/hour=H/part-N.json[.gz|.zst], with
events spread over --span from --start. Lines average about 415 bytes. The
output depends only on the flags (deterministic from --seed). Existing
files are never replaced unless --overwrite is given: an ingested file that
changes is skipped by ingest, so a second batch of logs needs another
--prefix. Prints a summary.`,
		Example: `  loglake gen ./landing --files 4 --file-bytes 1MiB
  loglake gen ./landing --prefix day2 --seed 2 --compress gzip
  loglake gen s3://logs/eu --files 100 --malformed 0.01`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.JSON)
	vb := addVerbosity(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		if o.Files < 1 {
			return usagef("--files %d: want 1 or more", o.Files)
		}
		if fileBytes < 1 {
			return usagef("--file-bytes must be positive")
		}
		if parallel < 0 {
			return usagef("--parallel %d: want 1 or more (0: GOMAXPROCS)", parallel)
		}
		if parallel == 0 {
			parallel = runtime.GOMAXPROCS(0)
		}
		o.FileBytes = fileBytes
		if o.Compression == "" {
			o.Compression = "none"
		}
		t, err := parseTime(start)
		if err != nil {
			return usageError{err}
		}
		o.Start = t
		g, err := loggen.New(o)
		if err != nil {
			return usageError{err}
		}
		b, err := openLocation(ctx, args[0])
		if err != nil {
			return err
		}
		defer b.Close()
		// Landing files inside a table would be its orphans, which VACUUM
		// deletes: a table is never a landing location.
		if v, err := table.Handle(b, nil).LatestVersion(ctx); err == nil && v >= 0 {
			return usagef("%s is a Delta table (version %d): gen writes landing files; give a landing location", b.URL(), v)
		}
		if !overwrite {
			for i := range g.Options().Files {
				k := g.FileKey(i)
				_, err := b.Stat(ctx, k)
				if err == nil {
					return usagef("%s already exists under %s: choose another --prefix (or --overwrite; ingest skips files that change after ingestion)", k, b.URL())
				}
				if !errors.Is(err, storage.ErrNotFound) {
					return err
				}
			}
		}
		var progress func(loggen.Stats)
		if vb.progress() {
			bar := progressbar.Default(int64(g.Options().Files), "generating")
			progress = func(loggen.Stats) { bar.Add(1) }
		}
		st, err := g.Generate(ctx, b, parallel, progress)
		if err != nil {
			return err
		}
		return writeObject(cmd.OutOrStdout(), f, st, nil)
	}
	fl := cmd.Flags()
	fl.Uint64Var(&o.Seed, "seed", 1, "random seed")
	countVar(fl, &o.Files, "files", 8, 1, "number of files")
	sizeVar(fl, &fileBytes, "file-bytes", 8<<20, "uncompressed bytes per file (e.g. 64MiB)")
	fl.StringVar(&o.Compression, "compress", "none", "compression: none, gzip or zstd")
	fl.Float64Var(&o.Malformed, "malformed", 0, "fraction of bad lines in [0,1]")
	fl.StringVar(&start, "start", "2026-11-24T00:00:00Z", "earliest event time (RFC 3339)")
	durationVar(fl, &o.Span, "span", 48*time.Hour, "time range of the events")
	fl.StringVar(&o.Prefix, "prefix", "", "folder under URL to write into")
	countVar(fl, &parallel, "parallel", 0, 0, "files generated at once (default: GOMAXPROCS)")
	fl.BoolVar(&overwrite, "overwrite", false, "replace files that already exist")
	root.AddCommand(cmd)
}
