package main

import (
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/storage"
)

func init() {
	var (
		o        loggen.Options
		start    string
		parallel int
	)
	cmd := &cobra.Command{
		Use:   "gen URL",
		Short: "Generate realistic NDJSON service logs into a landing location",
		Long: `Writes --files files of about --file-bytes uncompressed bytes each under URL,
as service=S/date=D/hour=H/part-N.json[.gz|.zst]. The output depends only on
the flags (deterministic from --seed). Prints a JSON summary.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if start != "" {
				t, err := parseTime(start)
				if err != nil {
					return usageError{err}
				}
				o.Start = t
			}
			g, err := loggen.New(o)
			if err != nil {
				return usageError{err}
			}
			b, err := storage.Open(ctx, args[0], nil)
			if err != nil {
				return err
			}
			defer b.Close()
			var progress func(loggen.Stats)
			if stderrIsTerminal() {
				bar := progressbar.Default(int64(g.Options().Files), "generating")
				progress = func(loggen.Stats) { bar.Add(1) }
			}
			st, err := g.Generate(ctx, b, parallel, progress)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), st)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.IntVar(&o.Files, "files", 8, "number of files")
	f.Int64Var(&o.FileBytes, "file-bytes", 8<<20, "uncompressed bytes per file")
	f.StringVar(&o.Compression, "compress", "", "compression: gzip, zstd or none")
	f.Float64Var(&o.Malformed, "malformed", 0, "fraction of bad lines in [0,1]")
	f.StringVar(&start, "start", "2026-11-24T00:00:00Z", "earliest event time (RFC 3339)")
	f.DurationVar(&o.Span, "span", 48*time.Hour, "time range of the events")
	f.StringVar(&o.Prefix, "prefix", "", "key prefix under URL")
	f.IntVar(&parallel, "parallel", runtime.GOMAXPROCS(0), "files generated at once")
	root.AddCommand(cmd)
}
