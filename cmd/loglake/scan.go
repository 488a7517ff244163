package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/table"
)

func init() {
	var sf snapshotFlags
	var where, columns string
	var limit int64
	cmd := &cobra.Command{
		Use:   "scan URL",
		Short: "Print a table's rows (partition columns included; timestamps RFC 3339 UTC)",
		Example: `  loglake scan ./regional --limit 10
  loglake scan ./regional --where "level = 'ERROR'" --columns "ts, service, msg"
  loglake scan s3://lake/central --version 3 -o csv > rows.csv`,
		Args: cobra.ExactArgs(1),
	}
	out := addOutput(cmd, render.NDJSON, "format", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		opts := &table.ScanOptions{Filter: where, Limit: limit}
		if columns != "" {
			if opts.Columns = splitList(columns); len(opts.Columns) == 0 {
				return usagef("--columns %q names no column", columns)
			}
			seen := map[string]bool{}
			for _, c := range opts.Columns {
				if seen[strings.ToLower(c)] {
					return usagef("--columns names %s twice", c)
				}
				seen[strings.ToLower(c)] = true
			}
		}
		snap, err := sf.open(ctx, args[0])
		if err != nil {
			return err
		}
		sc, err := snap.Scan(ctx, opts)
		if err != nil {
			return err
		}
		defer sc.Close()
		// The header comes from the schema, so that no rows still print
		// one (CSV, table) and an empty array (JSON).
		names := sc.Columns()
		rw, err := render.NewWriter(cmd.OutOrStdout(), f, names)
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("limit") && limit == 0 {
			return rw.Close()
		}
		vals := make([]any, len(names))
		for {
			rec, err := sc.Next(ctx)
			if err == io.EOF {
				return rw.Close()
			}
			if err != nil {
				return err
			}
			for r := 0; r < int(rec.NumRows()) && err == nil; r++ {
				for c := range vals {
					vals[c] = table.Value(rec.Column(c), r)
				}
				err = rw.Row(vals)
			}
			rec.Release()
			if err != nil {
				return err
			}
		}
	}
	sf.register(cmd)
	predicateVar(cmd.Flags(), &where, "where", "row filter, e.g. \"level = 'ERROR' AND date >= '2026-11-01'\"")
	cmd.Flags().StringVar(&columns, "columns", "", "comma-separated columns to print (default: all)")
	countVar(cmd.Flags(), &limit, "limit", 0, 0, "print at most this many rows (default: all)")
	root.AddCommand(cmd)
}
