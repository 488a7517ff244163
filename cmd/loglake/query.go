package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

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
		Use:   "query [--table NAME=URL[@VERSION|@TIMESTAMP]]... SQL",
		Short: "Run SQL (DuckDB) over table snapshots",
		Long: `Run SQL on embedded DuckDB. Each --table NAME=URL[@VERSION|@TIMESTAMP] makes
NAME a view of that table's snapshot (latest, VERSION, or the latest commit at or
before TIMESTAMP), partition columns included. Filters in the SQL on partition
columns and columns with statistics prune files before DuckDB reads them.
FROM NAME AT (VERSION => n) and AT (TIMESTAMP => t) travel in time inside the SQL.
Several statements separated by ; run in order and each result is printed.
Remote tables are read through a local file cache. See docs/query.md.`,
		Example: `  loglake query --table logs=s3://lake/central "SELECT level, count(*) FROM logs GROUP BY 1"
  loglake query --table old=file:///data/logs@12 --table new=file:///data/logs \
      "SELECT (SELECT count(*) FROM new) - (SELECT count(*) FROM old) AS added"
  loglake query --table logs=file:///data/logs@2026-11-24T10:00:00Z "SELECT count(*) FROM logs"
  loglake query --table logs=file:///data/logs \
      "SELECT count(*) FROM logs AT (VERSION => 3) WHERE date = '2026-11-24'"`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.Table, "format")
	fl := cmd.Flags()
	sizeVar(fl, &memLimitBytes, "memory-limit", 0, "DuckDB memory_limit, e.g. 4GB or 2GiB (default and 0: "+query.DefaultMemoryLimit+")")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		specs := make([]query.Spec, len(tables))
		seen := map[string]string{}
		for i, s := range tables {
			if specs[i], err = query.ParseSpec(s); err != nil {
				return usageError{err}
			}
			// The same locations as every other command: plain paths,
			// and no credentials in the URL.
			if specs[i].URL, err = location(specs[i].URL); err != nil {
				return usageError{fmt.Errorf("--table %s: %w", specs[i].Name, err)}
			}
			// Names are case-insensitive in SQL: a second --table of the
			// same name would silently replace the first.
			key := strings.ToLower(specs[i].Name)
			if prev, ok := seen[key]; ok {
				return usageError{fmt.Errorf("--table %s: name %s is already --table %s", s, specs[i].Name, prev)}
			}
			seen[key] = s
		}
		stmts := query.SplitStatements(args[0])
		if len(stmts) == 0 {
			return usageError{errors.New("no SQL statement given")}
		}
		if where != "" && len(specs) != 1 {
			return usageError{errors.New("--where needs exactly one --table")}
		}
		// Bytes, as loglake parsed them: the YAML's units are the only ones.
		ml := ""
		if memLimitBytes > 0 {
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
		out := cmd.OutOrStdout()
		printed := 0
		for _, st := range stmts {
			if err := runStatement(ctx, e, st, out, f, &printed); err != nil {
				return err
			}
		}
		return nil
	}
	fl.StringArrayVar(&tables, "table", nil, "make NAME a view of a table: NAME=URL[@VERSION|@TIMESTAMP] (repeatable, names distinct)")
	predicateVar(fl, &where, "where", "with one --table: keep only rows matching this filter (table/expr language), pruning files by partition values and stats")
	countVar(fl, &threads, "threads", 0, 0, "DuckDB threads (default GOMAXPROCS)")
	fl.StringVar(&cacheDir, "cache-dir", "", "local cache of remote data files (default ${XDG_CACHE_HOME:-~/.cache}/loglake/files)")
	sizeVar(fl, &cacheMax, "cache-max-bytes", query.DefaultCacheBytes, "bound of the file cache, e.g. 10GiB; least recently used files are evicted")
	root.AddCommand(cmd)
}

// runStatement runs one statement and prints its result, if it has
// columns; results after the first are separated by a blank line (csv and
// table) so that each keeps its own header.
func runStatement(ctx context.Context, e *query.Engine, st string, out io.Writer, f query.Format, printed *int) error {
	rows, err := e.Query(ctx, st)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return rows.Err()
	}
	if *printed > 0 && (f == query.FormatTable || f == query.FormatCSV) {
		fmt.Fprintln(out)
	}
	*printed++
	if _, err := query.WriteRows(out, rows, f); err != nil {
		return err
	}
	return rows.Close()
}
