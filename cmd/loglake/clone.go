package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/replicate"
)

func init() {
	var version int64
	var timestamp string
	var parallel int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "clone SRC DST",
		Short: "Bring a deep copy of a Delta table up to date at another URL (DR replicas, live forks)",
		Long: `clone copies the table at SRC to DST, which may be on another cloud.

The first run copies SRC's live files at the chosen version; later runs copy
only SRC's new commits, each as its own DST commit. A DST with no commits of
its own is an exact replica with SRC's version numbers; a DST with commits of
its own is a live fork and keeps them. DST must be empty or a Delta table:
cloning into a folder of other files (a landing location) is refused. See
docs/replicate.md.`,
		Example: `  loglake clone ./central s3://dr/central
  loglake clone s3://lake/central gs://dr/central --dry-run
  loglake clone ./central ./copy --version 3 -o json`,
		Args: cobra.ExactArgs(2),
	}
	out := addOutput(cmd, render.Table, "json")
	vb := addVerbosity(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		opts := &replicate.Options{Parallel: parallel, DryRun: dryRun, Logger: vb.logger(os.Stderr, slog.LevelWarn)}
		switch {
		case version >= 0 && timestamp != "":
			return usagef("--version and --timestamp are mutually exclusive")
		case version >= 0:
			opts.Version = &version
		case timestamp != "":
			ts, err := parseTime(timestamp)
			if err != nil {
				return usageError{err}
			}
			opts.Timestamp = &ts
		}
		su, err := location(args[0])
		if err != nil {
			return err
		}
		du, err := location(args[1])
		if err != nil {
			return err
		}
		if overlaps(su, du) {
			return usagef("SRC %s and DST %s overlap: a table cannot be cloned into or next to itself", args[0], args[1])
		}
		src, err := openLocation(ctx, su)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := openLocation(ctx, du)
		if err != nil {
			return err
		}
		defer dst.Close()
		var bar *termProgress
		if !dryRun && vb.progress() {
			bar = &termProgress{}
			opts.Progress = bar.update
		}
		res, err := replicate.Clone(ctx, src, dst, opts)
		bar.finish()
		if errors.Is(err, replicate.ErrNotEmpty) {
			return usageError{fmt.Errorf("DST: %w: clone into an empty location or an existing clone", err)}
		}
		if err != nil {
			return err
		}
		return writeObject(cmd.OutOrStdout(), f, res, func(w io.Writer) error { return printClone(w, res) })
	}
	countVar(cmd.Flags(), &version, "version", -1, 0, "clone this source version (default: latest)")
	cmd.Flags().StringVar(&timestamp, "timestamp", "", "clone the latest source version at or before this RFC 3339 time (one after the last commit is an error)")
	countVar(cmd.Flags(), &parallel, "parallel", replicate.DefaultParallel, 1, "concurrent file transfers")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be copied; write nothing")
	root.AddCommand(cmd)
}

func printClone(w io.Writer, res *replicate.Result) error {
	if res.DryRun {
		for _, f := range res.Planned {
			fmt.Fprintf(w, "copy %s (%d bytes)\n", f.Path, f.Size)
		}
		from := "none"
		if res.PreviousSourceVersion >= 0 {
			from = fmt.Sprint(res.PreviousSourceVersion)
		}
		_, err := fmt.Fprintf(w, "dry run: %s clone, source version %s -> %d: %s, %s (%d bytes) to copy, %d already present\n",
			res.Mode, from, res.SourceVersion, plural(res.CommitsWritten, "commit", "commits"), plural(len(res.Planned), "file", "files"), plannedBytes(res), res.FilesPresent)
		return err
	}
	m := res.Metrics
	mode := string(res.Mode)
	if res.Fast {
		mode += " (fast path)"
	}
	fmt.Fprintf(w, "%s clone of %s version %d into %s (version %d): %s written, %d skipped\n",
		mode, res.Source, res.SourceVersion, res.Destination, res.DestinationVersion, plural(res.CommitsWritten, "commit", "commits"), res.CommitsSkipped)
	_, err := fmt.Fprintf(w, "copied %s (%d bytes), %d already present; removed %s (%d bytes); source %s (%d bytes); %d ms\n",
		plural(int(m.NumCopiedFiles), "file", "files"), m.CopiedFilesSize, res.FilesPresent, plural(int(m.NumRemovedFiles), "file", "files"), m.RemovedFilesSize,
		plural(int(m.SourceNumOfFiles), "file", "files"), m.SourceTableSize, res.DurationMS)
	return err
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
