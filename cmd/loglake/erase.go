package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/table"
)

// erase is a thin wrapper over regions.Erase. See docs/erasure.md.
func init() {
	var (
		where, retain      string
		cacheDir           string
		replicas           []string
		wait               time.Duration
		force, dry, noVacu bool
	)
	cmd := &cobra.Command{
		Use:   "erase --where EXPR CONFIG.yaml... [--replica SRC=DST]...",
		Short: "Erase rows everywhere: regional tables, central table, replicas, then VACUUM",
		Long: `erase deletes the rows matching --where from the regional table of each
region configuration given, then — once each region's egress has recorded the
regional version after that DELETE, so that no row it had not yet forwarded
can reach the central table afterwards — from the central table (only the
rows of those regions), vacuums both, and brings every --replica up to date
with its source (which replays the DELETE and copies only live files) and
vacuums it. It waits up to --wait for egress (a region daemon or 'loglake
egress' must be running). Removed files go only with a retention the tables
allow: pass --retain 0 --force to delete them now. --cache-dir purges a
query file cache on this host. Landing files, other hosts' caches and the
Delta logs' statistics are outside its reach: see docs/erasure.md for the
whole procedure.`,
		Example: `  loglake erase --where "org_id = 'org-7'" configs/demo/eu-west.yaml --dry-run
  loglake erase --where "org_id = 'org-7' OR _rescued_data LIKE '%org-7%'" configs/demo/*.yaml \
      --replica file:///data/central=s3://dr/central --retain 0 --force`,
		Args: cobra.MinimumNArgs(1),
	}
	vb := addVerbosity(cmd)
	out := addOutput(cmd, render.Table, "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		if where == "" {
			return usagef("--where is required")
		}
		req := &regions.EraseRequest{Where: where, Wait: wait, Force: force, DryRun: dry, NoVacuum: noVacu, CacheDir: cacheDir,
			Logger: vb.logger(cmd.ErrOrStderr(), slog.LevelInfo)}
		if retain != "" {
			d, err := table.ParseInterval(retain)
			if err != nil {
				return usageError{fmt.Errorf("--retain: %w", err)}
			}
			req.Retain = &d
		}
		for _, a := range args {
			cfg, err := regions.Load(a)
			if err != nil {
				return usageError{err}
			}
			req.Regions = append(req.Regions, cfg)
		}
		if req.Replicas, err = parseReplicas(replicas); err != nil {
			return err
		}
		rep, err := regions.Erase(cmd.Context(), req)
		if rep != nil && len(rep.Tables) > 0 {
			if werr := writeObject(cmd.OutOrStdout(), f, rep, func(w io.Writer) error { return writeErase(w, rep) }); werr != nil && err == nil {
				err = werr
			}
		}
		return err
	}
	fl := cmd.Flags()
	predicateVar(fl, &where, "where", "predicate of the rows to erase (required), e.g. \"org_id = 'org-7'\"")
	fl.StringArrayVar(&replicas, "replica", nil, "SOURCE=REPLICA (URLs or paths): a clone of an erased table (or of a replica listed before it) to bring up to date and vacuum (repeatable)")
	durationVar(fl, &wait, "wait", regions.DefaultEraseWait, "how long to wait for each region's egress to pass its regional DELETE")
	fl.StringVar(&retain, "retain", "", `VACUUM retention, e.g. 0 or "interval 7 days" (default: each table's delta.deletedFileRetentionDuration)`)
	fl.BoolVar(&force, "force", false, "allow a retention shorter than the tables' (needed to delete the erased files now)")
	fl.BoolVar(&noVacu, "no-vacuum", false, "do not vacuum (the erased rows stay in removed files until a VACUUM)")
	fl.StringVar(&cacheDir, "cache-dir", "", "delete the removed files' copies from this query file cache on this host (e.g. ~/.cache/loglake/files, loglake query's default)")
	fl.BoolVar(&dry, "dry-run", false, "count the matching rows in the regional and central tables; change nothing")
	root.AddCommand(cmd)
}

func writeErase(w io.Writer, rep *regions.EraseReport) error {
	for _, e := range rep.Tables {
		line := fmt.Sprintf("%-8s %s:", e.Role, e.URL)
		switch {
		case e.Missing:
			line += " no table"
		case e.Delete != nil && rep.DryRun:
			line += fmt.Sprintf(" would delete %d rows in %d files", e.Delete.NumDeletedRows, e.Delete.NumRemovedFiles)
		case e.Delete != nil && e.Delete.Version >= 0:
			line += fmt.Sprintf(" version %d deleted %d rows", e.Delete.Version, e.Delete.NumDeletedRows)
		case e.Delete != nil:
			line += " no rows match"
		}
		if e.Egress != nil {
			line += fmt.Sprintf("; egress read past the DELETE after %.1fs", float64(e.WaitedMS)/1000)
		}
		if c := e.Clone; c != nil {
			line += fmt.Sprintf(" replayed %d commits (source version %d), copied %d files (%d bytes)",
				c.CommitsWritten, c.SourceVersion, c.Metrics.NumCopiedFiles, c.Metrics.CopiedFilesSize)
		}
		if v := e.Vacuum; v != nil {
			line += fmt.Sprintf("; vacuum deleted %d files (%d bytes)", v.FilesDeleted, v.BytesDeleted)
			if v.KeptForConsumers > 0 {
				line += fmt.Sprintf(", kept %d egress has not read", v.KeptForConsumers)
			}
		}
		if e.CachePurged > 0 {
			line += fmt.Sprintf("; %d cached copies deleted", e.CachePurged)
		}
		if e.Remaining != nil {
			line += fmt.Sprintf("; %d matching rows remain", *e.Remaining)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
