package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/query"
)

func init() {
	var tables []string
	var where, cacheDir string
	var cacheMax, memLimitBytes int64
	var threads int
	cmd := &cobra.Command{
		Use:   "query [--table NAME=URL[@VERSION]]... SQL",
		Short: "Run SQL (DuckDB) over table snapshots",
		Long: `Run SQL on embedded DuckDB. Each --table NAME=URL[@VERSION] registers a view
NAME over that table's snapshot (latest, or VERSION), partition columns included.
Remote tables are read through a local file cache. See docs/query.md.`,
		Example: `  loglake query --table logs=s3://lake/central "SELECT level, count(*) FROM logs GROUP BY 1"
  loglake query --table old=file:///data/logs@12 --table new=file:///data/logs \
      "SELECT (SELECT count(*) FROM new) - (SELECT count(*) FROM old) AS added"`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.Table, "format")
	fl := cmd.Flags()
	memLimit := sizeVar(fl, &memLimitBytes, "memory-limit", 0, "DuckDB memory_limit, e.g. 4GB or 2GiB (default "+query.DefaultMemoryLimit+")")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		specs := make([]query.Spec, len(tables))
		for i, s := range tables {
			if specs[i], err = query.ParseSpec(s); err != nil {
				return usageError{err}
			}
		}
		if where != "" && len(specs) != 1 {
			return usageError{errors.New("--where needs exactly one --table")}
		}
		// Bytes, as loglake parsed them: the YAML's units are the only ones.
		ml := ""
		if memLimit.text != "" {
			ml = fmt.Sprintf("%dB", memLimitBytes)
		}
		e, err := query.Open(ctx, &query.Options{Threads: threads, MemoryLimit: ml,
			CacheDir: cacheDir, CacheMaxBytes: cacheMax,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			return err
		}
		defer e.Close()
		for _, sp := range specs {
			if err := e.RegisterSpec(ctx, sp, where); err != nil {
				return err
			}
		}
		rows, err := e.Query(ctx, args[0])
		if err != nil {
			return err
		}
		defer rows.Close()
		_, err = query.WriteRows(cmd.OutOrStdout(), rows, f)
		return err
	}
	fl.StringArrayVar(&tables, "table", nil, "register a view: NAME=URL[@VERSION] (repeatable)")
	fl.StringVar(&where, "where", "", "with one --table: keep only rows matching this filter (table/expr language), pruning files by partition values and stats")
	fl.IntVar(&threads, "threads", 0, "DuckDB threads (default GOMAXPROCS)")
	fl.StringVar(&cacheDir, "cache-dir", "", "local cache of remote data files (default ${XDG_CACHE_HOME:-~/.cache}/loglake/files)")
	sizeVar(fl, &cacheMax, "cache-max-bytes", query.DefaultCacheBytes, "bound of the file cache, e.g. 10GiB; least recently used files are evicted")
	root.AddCommand(cmd)
}
