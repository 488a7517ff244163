package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/loglake/loglake/replicate"
	"github.com/loglake/loglake/storage"
)

func init() {
	var version int64
	var timestamp string
	var parallel int
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "clone SRC DST",
		Short: "Bring a deep copy of a Delta table up to date at another URL (DR replicas, live forks)",
		Long: `clone copies the table at SRC to DST, which may be on another cloud.

The first run copies SRC's live files at the chosen version; later runs copy
only SRC's new commits, each as its own DST commit. A DST with no commits of
its own is an exact replica with SRC's version numbers; a DST with commits of
its own is a live fork and keeps them. See docs/replicate.md.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts := &replicate.Options{Parallel: parallel, DryRun: dryRun, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			switch {
			case version >= 0 && timestamp != "":
				return usageError{fmt.Errorf("--version and --timestamp are mutually exclusive")}
			case version >= 0:
				opts.Version = &version
			case timestamp != "":
				ts, err := parseTime(timestamp)
				if err != nil {
					return usageError{err}
				}
				opts.Timestamp = &ts
			}
			if parallel < 0 {
				return usageError{fmt.Errorf("--parallel must be positive")}
			}
			src, err := storage.Open(ctx, args[0], nil)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := storage.Open(ctx, args[1], nil)
			if err != nil {
				return err
			}
			defer dst.Close()
			var bar *termProgress
			if !dryRun && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = &termProgress{}
				opts.Progress = bar.update
			}
			res, err := replicate.Clone(ctx, src, dst, opts)
			bar.finish()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			if dryRun {
				for _, f := range res.Planned {
					fmt.Fprintf(w, "copy %s (%d bytes)\n", f.Path, f.Size)
				}
				fmt.Fprintf(w, "dry run: %s clone, source version %d -> %d: %d commits, %d files (%d bytes) to copy, %d already present\n",
					res.Mode, res.PreviousSourceVersion, res.SourceVersion, res.CommitsWritten, len(res.Planned), plannedBytes(res), res.FilesPresent)
				return nil
			}
			m := res.Metrics
			mode := string(res.Mode)
			if res.Fast {
				mode += " (fast path)"
			}
			fmt.Fprintf(w, "%s clone of %s version %d into %s (version %d): %d commits written, %d skipped\n",
				mode, res.Source, res.SourceVersion, res.Destination, res.DestinationVersion, res.CommitsWritten, res.CommitsSkipped)
			fmt.Fprintf(w, "copied %d files (%d bytes), %d already present; removed %d files (%d bytes); source %d files (%d bytes); %d ms\n",
				m.NumCopiedFiles, m.CopiedFilesSize, res.FilesPresent, m.NumRemovedFiles, m.RemovedFilesSize, m.SourceNumOfFiles, m.SourceTableSize, res.DurationMS)
			return nil
		},
	}
	cmd.Flags().Int64Var(&version, "version", -1, "clone this source version (default: latest)")
	cmd.Flags().StringVar(&timestamp, "timestamp", "", "clone the latest source version at or before this RFC 3339 time")
	cmd.Flags().IntVar(&parallel, "parallel", replicate.DefaultParallel, "concurrent file transfers")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be copied; write nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result and Delta's clone metrics as JSON")
	root.AddCommand(cmd)
}

func plannedBytes(r *replicate.Result) int64 {
	var n int64
	for _, f := range r.Planned {
		n += f.Size
	}
	return n
}

// termProgress draws one byte progress bar (rate and ETA) per batch of
// transfers on a terminal's stderr.
type termProgress struct {
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	total int64
	files int
}

func (t *termProgress) update(p replicate.Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar == nil || p.TotalBytes != t.total || p.Files < t.files {
		if t.bar != nil {
			t.bar.Finish()
		}
		t.bar = progressbar.DefaultBytes(p.TotalBytes, fmt.Sprintf("copying %d files", p.TotalFiles))
		t.total = p.TotalBytes
	}
	t.files = p.Files
	t.bar.Set64(p.Bytes)
}

func (t *termProgress) finish() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		t.bar.Finish()
	}
}
