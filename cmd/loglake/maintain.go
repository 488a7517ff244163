package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/table"
)

// Maintenance commands: thin wrappers over table.Optimize, table.Delete and
// table.Vacuum. See docs/maintenance.md.

func init() {
	var where, target, sortBy string
	var minFiles int
	var dryRun, asJSON bool
	optimize := &cobra.Command{
		Use:     "optimize URL",
		Example: `  loglake optimize ./lake/eu-west`,
		Short:   "Compact small files of each partition (bin-packing, optional clustering)",
		Long: `optimize rewrites the small files of each partition into files near
--target-size, in one OPTIMIZE commit whose actions are all dataChange=false:
concurrent appends never conflict with it and egress skips it. --sort-by
clusters the rewritten rows (e.g. region,ts) so min/max stats keep pruning.
See docs/maintenance.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			size, err := regions.ParseSize(target)
			if err != nil || size <= 0 {
				return usageError{fmt.Errorf("--target-size: want a size like 128MiB, got %q", target)}
			}
			if minFiles < 0 {
				return usageError{fmt.Errorf("--min-files must not be negative")}
			}
			ctx := cmd.Context()
			t, err := openTable(ctx, args[0])
			if err != nil {
				return err
			}
			res, err := t.Optimize(ctx, &table.OptimizeOptions{
				Where: where, TargetSize: int64(size), MinFiles: minFiles,
				SortBy: splitList(sortBy), DryRun: dryRun,
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			switch {
			case res.NumRemovedFiles == 0:
				fmt.Fprintln(w, "nothing to optimize")
			case dryRun:
				fmt.Fprintf(w, "dry run: would compact %d files (%d bytes, %d rows) in %d partitions\n",
					res.NumRemovedFiles, res.NumRemovedBytes, res.Rows, res.Partitions)
			default:
				fmt.Fprintf(w, "version %d: compacted %d files (%d bytes) into %d files (%d bytes), %d rows in %d partitions\n",
					res.Version, res.NumRemovedFiles, res.NumRemovedBytes, res.NumAddedFiles, res.NumAddedBytes, res.Rows, res.Partitions)
			}
			return nil
		},
	}
	f := optimize.Flags()
	f.StringVar(&where, "where", "", "only partitions matching this predicate over partition columns")
	f.StringVar(&target, "target-size", "128MiB", "size to pack files toward; larger files are left alone")
	f.IntVar(&minFiles, "min-files", 2, "compact a partition only when it has at least this many small files")
	f.StringVar(&sortBy, "sort-by", "", "comma-separated columns to cluster rewritten rows by (e.g. region,ts)")
	f.BoolVar(&dryRun, "dry-run", false, "report what would be compacted without writing")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	root.AddCommand(optimize)

	var delWhere string
	var delDry, delJSON bool
	del := &cobra.Command{
		Use:     "delete URL --where EXPR",
		Example: `  loglake delete ./lake/eu-west --where "org_id = 'acme'"`,
		Short:   "Delete the rows matching a predicate (whole-file removes, else copy-on-write)",
		Long: `delete removes the rows for which --where is true. Files whose rows all
match are removed whole; others are rewritten without the matching rows. Rows
appended while it runs survive it. Refused on delta.appendOnly tables. Files
stay in storage until VACUUM. See docs/maintenance.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if delWhere == "" {
				return usageError{fmt.Errorf("--where is required")}
			}
			ctx := cmd.Context()
			t, err := openTable(ctx, args[0])
			if err != nil {
				return err
			}
			res, err := t.Delete(ctx, &table.DeleteOptions{Where: delWhere, DryRun: delDry})
			if err != nil {
				return err
			}
			if delJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			switch {
			case res.NumDeletedRows == 0:
				fmt.Fprintln(w, "no rows match")
			case delDry:
				fmt.Fprintf(w, "dry run: would delete %d rows: %d files touched, %d rows to copy\n",
					res.NumDeletedRows, res.NumRemovedFiles, res.NumCopiedRows)
			default:
				fmt.Fprintf(w, "version %d: deleted %d rows; removed %d files, added %d, copied %d rows\n",
					res.Version, res.NumDeletedRows, res.NumRemovedFiles, res.NumAddedFiles, res.NumCopiedRows)
			}
			return nil
		},
	}
	del.Flags().StringVar(&delWhere, "where", "", "predicate of the rows to delete (required)")
	del.Flags().BoolVar(&delDry, "dry-run", false, "count what would be deleted without writing")
	del.Flags().BoolVar(&delJSON, "json", false, "print JSON")
	root.AddCommand(del)

	var retain string
	var vacDry, vacForce, vacJSON bool
	var vacParallel int
	vacuum := &cobra.Command{
		Use:     "vacuum URL",
		Example: `  loglake vacuum ./lake/eu-west`,
		Short:   "Delete data files no version inside the retention window needs, and old orphans",
		Long: `vacuum deletes removed files whose remove is older than --retain (default: the
table's delta.deletedFileRetentionDuration, 7 days) and never-committed files
older than that. It never touches live files, _delta_log/, _loglake/, or
never-committed files younger than an hour, and writes nothing to the log.
A --retain shorter than the table's needs --force. See docs/maintenance.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &table.VacuumOptions{Force: vacForce, DryRun: vacDry, Parallel: vacParallel}
			if retain != "" {
				d, err := table.ParseInterval(retain)
				if err != nil {
					return usageError{fmt.Errorf("--retain: %w", err)}
				}
				opts.Retain = &d
			}
			ctx := cmd.Context()
			t, err := openTable(ctx, args[0])
			if err != nil {
				return err
			}
			res, err := t.Vacuum(ctx, opts)
			if err != nil {
				return err
			}
			if vacJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			verb := "deleted"
			if vacDry {
				verb = "would delete"
				for _, p := range res.Paths {
					fmt.Fprintln(w, p)
				}
			}
			fmt.Fprintf(w, "%s %d files (%d bytes): %d removed before %s, %d never committed; %d data files listed\n",
				verb, res.FilesDeleted, res.BytesDeleted, res.RemovedDeleted, res.Cutoff.Format("2006-01-02T15:04:05Z"), res.OrphansDeleted, res.FilesListed)
			return nil
		},
	}
	vf := vacuum.Flags()
	vf.StringVar(&retain, "retain", "", "retention, e.g. 168h or \"interval 7 days\" (default: the table's delta.deletedFileRetentionDuration)")
	vf.BoolVar(&vacForce, "force", false, "allow a retention shorter than the table's")
	vf.BoolVar(&vacDry, "dry-run", false, "list what would be deleted without deleting")
	vf.IntVar(&vacParallel, "parallel", 32, "concurrent deletes")
	vf.BoolVar(&vacJSON, "json", false, "print JSON")
	root.AddCommand(vacuum)
}
