package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Maintenance commands: thin wrappers over table.Optimize, table.Delete and
// table.Vacuum. See docs/maintenance.md.

func init() {
	root.AddCommand(optimizeCmd(), deleteCmd(), vacuumCmd())
}

// defaultOptimizeMemoryLimit is the soft memory limit of `loglake
// optimize`: compacting 2 GiB must stay under 512 MiB RSS (issue 10), and
// the limit leaves room for memory the Go heap does not count.
const defaultOptimizeMemoryLimit = 384 << 20

// applyMemoryLimit sets a soft Go memory limit of limit bytes (0: none), so
// that the GC collects before GOGC's 2x headroom would take the heap past
// it. GOMEMLIMIT wins unless the --memory-limit flag is given explicitly.
func applyMemoryLimit(cmd *cobra.Command, limit int64) {
	if limit > 0 && (os.Getenv("GOMEMLIMIT") == "" || cmd.Flags().Changed("memory-limit")) {
		debug.SetMemoryLimit(limit)
	}
}

func optimizeCmd() *cobra.Command {
	var rg regionalGuard
	var where, sortBy string
	var target, memLimit int64
	var minFiles int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "optimize URL",
		Short: "Compact small files of each partition (bin-packing, optional clustering)",
		Long: `optimize rewrites the small files of each partition into files near
--target-size, in one OPTIMIZE commit whose actions are all dataChange=false:
concurrent appends never conflict with it and egress skips it. --sort-by
clusters the rewritten rows (e.g. region,ts) so min/max stats keep pruning.
See docs/maintenance.md.`,
		Example: `  loglake optimize ./central --sort-by region,ts
  loglake optimize s3://lake/central --where "date >= '2026-11-01'" --dry-run`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.Table, "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		if target <= 0 {
			return usagef("--target-size must be positive")
		}
		if minFiles < 0 {
			return usagef("--min-files %d: want 0 or more", minFiles)
		}
		applyMemoryLimit(cmd, memLimit)
		ctx := cmd.Context()
		t, guard, err := rg.open(ctx, args[0])
		if err != nil {
			return err
		}
		res, err := t.Optimize(ctx, &table.OptimizeOptions{
			Where: where, TargetSize: target, MinFiles: minFiles,
			SortBy: splitList(sortBy), DryRun: dryRun,
		})
		if err != nil {
			return err
		}
		if err := rg.cleanupLog(cmd, t, guard, dryRun); err != nil {
			return err
		}
		return writeObject(cmd.OutOrStdout(), f, res, func(w io.Writer) error {
			switch {
			case res.NumRemovedFiles == 0:
				_, err = fmt.Fprintln(w, "nothing to optimize")
			case dryRun:
				_, err = fmt.Fprintf(w, "dry run: would compact %d files (%d bytes, %d rows) in %d partitions\n",
					res.NumRemovedFiles, res.NumRemovedBytes, res.Rows, res.Partitions)
			default:
				_, err = fmt.Fprintf(w, "version %d: compacted %d files (%d bytes) into %d files (%d bytes), %d rows in %d partitions\n",
					res.Version, res.NumRemovedFiles, res.NumRemovedBytes, res.NumAddedFiles, res.NumAddedBytes, res.Rows, res.Partitions)
			}
			return err
		})
	}
	fl := cmd.Flags()
	predicateVar(fl, &where, "where", "only partitions matching this predicate over partition columns")
	sizeVar(fl, &target, "target-size", 128<<20, "size to pack files toward; larger files are left alone (e.g. 128MiB)")
	countVar(fl, &minFiles, "min-files", 2, 1, "compact a partition only when it has at least this many small files")
	fl.StringVar(&sortBy, "sort-by", "", "comma-separated columns to cluster rewritten rows by (e.g. region,ts); large partitions spill sorted runs to the temp dir ($TMPDIR)")
	sizeVar(fl, &memLimit, "memory-limit", defaultOptimizeMemoryLimit,
		"soft Go memory limit (debug.SetMemoryLimit), e.g. 512MiB; 0: none (GOMEMLIMIT, if set, wins over the default)")
	fl.BoolVar(&dryRun, "dry-run", false, "report what would be compacted; write nothing")
	rg.register(fl)
	return cmd
}

func deleteCmd() *cobra.Command {
	var rg regionalGuard
	var where string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "delete URL --where EXPR",
		Short: "Delete the rows matching a predicate (whole-file removes, else copy-on-write)",
		Long: `delete removes the rows for which --where is true. Files whose rows all
match are removed whole; others are rewritten without the matching rows. Rows
appended while it runs survive it. Refused on delta.appendOnly tables. The
removed files stay in storage until VACUUM. See docs/maintenance.md.`,
		Example: `  loglake delete ./central --where "org_id = '42'" --dry-run
  loglake delete s3://lake/central --where "date < '2026-01-01'"`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.Table, "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		if where == "" {
			return usagef("--where is required")
		}
		ctx := cmd.Context()
		t, guard, err := rg.open(ctx, args[0])
		if err != nil {
			return err
		}
		res, err := t.Delete(ctx, &table.DeleteOptions{Where: where, DryRun: dryRun})
		if err != nil {
			return err
		}
		if err := rg.cleanupLog(cmd, t, guard, dryRun); err != nil {
			return err
		}
		return writeObject(cmd.OutOrStdout(), f, res, func(w io.Writer) error {
			switch {
			case res.NumDeletedRows == 0:
				_, err = fmt.Fprintln(w, "no rows match")
			case dryRun:
				_, err = fmt.Fprintf(w, "dry run: would delete %s: %s touched, %s to copy\n",
					plural(res.NumDeletedRows, "row", "rows"), plural(res.NumRemovedFiles, "file", "files"), plural(res.NumCopiedRows, "row", "rows"))
			default:
				_, err = fmt.Fprintf(w, "version %d: deleted %s; removed %s, added %d, copied %s\n",
					res.Version, plural(res.NumDeletedRows, "row", "rows"), plural(res.NumRemovedFiles, "file", "files"), res.NumAddedFiles, plural(res.NumCopiedRows, "row", "rows"))
			}
			return err
		})
	}
	predicateVar(cmd.Flags(), &where, "where", "predicate of the rows to delete (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted; write nothing")
	rg.register(cmd.Flags())
	return cmd
}

func vacuumCmd() *cobra.Command {
	var rg regionalGuard
	var retain string
	var dryRun, force bool
	var parallel int
	cmd := &cobra.Command{
		Use:   "vacuum URL",
		Short: "Delete data files no version inside the retention window needs, and old orphans",
		Long: `vacuum deletes removed files whose remove is older than --retain (default: the
table's delta.deletedFileRetentionDuration, 7 days) and never-committed files
older than that. It never touches live files, _delta_log/, _loglake/, or
never-committed files younger than an hour, and writes nothing to the log.
A --retain shorter than the table's needs --force. See docs/maintenance.md.`,
		Example: `  loglake vacuum ./central --dry-run
  loglake vacuum s3://lake/central --retain "interval 2 days" --force`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.Table, "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		opts := &table.VacuumOptions{Force: force, DryRun: dryRun, Parallel: parallel}
		if retain != "" {
			d, err := table.ParseInterval(retain)
			if err != nil {
				return usageError{fmt.Errorf("--retain: %w", err)}
			}
			opts.Retain = &d
		}
		ctx := cmd.Context()
		t, guard, err := rg.open(ctx, args[0])
		if err != nil {
			return err
		}
		res, err := t.Vacuum(ctx, guard.Vacuum(opts))
		if err != nil {
			return forceHint(err)
		}
		if res.KeptForConsumers > 0 {
			rg.warn(cmd, guard, fmt.Sprintf("kept %d removed files past the retention that egress has not read yet (from version %d on); a later vacuum deletes them once it has",
				res.KeptForConsumers, guard.KeepFrom))
		}
		return writeObject(cmd.OutOrStdout(), f, res, func(w io.Writer) error {
			verb := "deleted"
			if dryRun {
				verb = "would delete"
				for _, p := range res.Paths {
					fmt.Fprintln(w, p)
				}
			}
			_, err := fmt.Fprintf(w, "%s %s (%d bytes): %d removed before %s, %d never committed; %d data files listed\n",
				verb, plural(res.FilesDeleted, "file", "files"), res.BytesDeleted, res.RemovedDeleted, res.Cutoff.Format("2006-01-02T15:04:05Z"), res.OrphansDeleted, res.FilesListed)
			return err
		})
	}
	fl := cmd.Flags()
	fl.StringVar(&retain, "retain", "", `retention, e.g. 168h or "interval 7 days" (default: the table's delta.deletedFileRetentionDuration)`)
	fl.BoolVar(&force, "force", false, "allow a retention shorter than the table's")
	fl.BoolVar(&dryRun, "dry-run", false, "list what would be deleted; delete nothing")
	countVar(fl, &parallel, "parallel", table.DefaultVacuumParallel, 1, "concurrent deletes")
	rg.register(fl)
	return cmd
}

// regionalGuard is --config of the commands that clean a table: with the
// region's configuration, cleaning its regional table never goes past what
// the region's egress streams have read (their txns in their targets), and
// a warning on stderr says what was kept. Without it the CLI cannot know
// the table has consumers (docs/maintenance.md).
type regionalGuard struct{ config string }

func (rg *regionalGuard) register(fl *pflag.FlagSet) {
	fl.StringVar(&rg.config, "config", "", "region configuration whose regional table URL is: keep what its egress has not read yet, and warn")
}

// open opens the table at url; with --config, also the guard of its
// egress progress (an inactive guard for the central table).
func (rg *regionalGuard) open(ctx context.Context, url string) (*table.Table, *regions.Guard, error) {
	if rg.config == "" {
		t, err := openTable(ctx, url, nil)
		return t, &regions.Guard{}, err
	}
	cfg, err := regions.Load(rg.config)
	if err != nil {
		return nil, nil, usageError{err}
	}
	b, err := openLocation(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	same := func(other string) bool {
		if other == "" {
			return false
		}
		ob, err := storage.Open(ctx, other, nil)
		if err != nil {
			return false
		}
		defer ob.Close()
		return ob.URL() == b.URL()
	}
	guard := &regions.Guard{}
	switch {
	case same(cfg.Table):
		if guard, err = regions.EgressGuard(ctx, cfg); err != nil {
			return nil, nil, err
		}
	case slices.ContainsFunc(cfg.Routes(), func(r egress.Route) bool { return same(r.Table) }):
		// A target of the region's egress (central): nothing reads it here.
	default:
		return nil, nil, usagef("%s is neither the regional nor the central table of %s", storage.RedactURL(b.URL()), rg.config)
	}
	// The log is cleaned below, bounded, rather than after a checkpoint
	// this command writes.
	t, err := table.Open(ctx, b, &table.Options{NoLogCleanup: guard.Active})
	if errors.Is(err, table.ErrNoTable) {
		return nil, nil, fmt.Errorf("%s: %w", b.URL(), err)
	}
	return t, guard, err
}

// cleanupLog runs the log cleanup the command's commit would have run,
// bounded by the guard, and warns about commits it kept.
func (rg *regionalGuard) cleanupLog(cmd *cobra.Command, t *table.Table, guard *regions.Guard, dryRun bool) error {
	if !guard.Active {
		return nil
	}
	_, held, err := guard.CleanupLog(cmd.Context(), t, &table.LogCleanupOptions{DryRun: dryRun})
	if err != nil {
		return err
	}
	if held > 0 {
		rg.warn(cmd, guard, fmt.Sprintf("log cleanup kept %d commits past the log retention that egress has not read yet", held))
	}
	return nil
}

func (rg *regionalGuard) warn(cmd *cobra.Command, guard *regions.Guard, msg string) {
	fmt.Fprintf(cmd.ErrOrStderr(), "loglake: %s: warning: %s (%s)\n", cmd.Name(), msg, storage.RedactText(guard.Progress.String()))
}

// forceHint makes a retention shorter than the table's bad usage that says
// how to go ahead anyway.
func forceHint(err error) error {
	if errors.Is(err, table.ErrRetention) {
		return usagef("%v (--force vacuums anyway)", err)
	}
	return err
}
