package main

import (
	"io"

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
		if limit < 0 {
			return usagef("--limit %d: want 0 or more", limit)
		}
		opts := &table.ScanOptions{Filter: where, Limit: limit}
		if columns != "" {
			if opts.Columns = splitList(columns); len(opts.Columns) == 0 {
				return usagef("--columns %q names no column", columns)
			}
		}
		snap, err := sf.open(ctx, args[0])
		if err != nil {
			return err
		}
		var rw *render.Writer
		finish := func() error {
			if rw == nil {
				if f != render.JSON {
					return nil
				}
				// No rows, so no columns either: an empty array.
				if rw, err = render.NewWriter(cmd.OutOrStdout(), f, nil); err != nil {
					return err
				}
			}
			return rw.Close()
		}
		if cmd.Flags().Changed("limit") && limit == 0 {
			return finish()
		}
		sc, err := snap.Scan(ctx, opts)
		if err != nil {
			return err
		}
		defer sc.Close()
		var vals []any
		for {
			rec, err := sc.Next(ctx)
			if err == io.EOF {
				return finish()
			}
			if err != nil {
				return err
			}
			if rw == nil {
				names := make([]string, rec.NumCols())
				for i := range names {
					names[i] = rec.ColumnName(i)
				}
				if rw, err = render.NewWriter(cmd.OutOrStdout(), f, names); err != nil {
					rec.Release()
					return err
				}
				vals = make([]any, len(names))
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
	cmd.Flags().StringVar(&where, "where", "", "row filter, e.g. \"level = 'ERROR' AND date >= '2026-11-01'\"")
	cmd.Flags().StringVar(&columns, "columns", "", "comma-separated columns to print (default: all)")
	cmd.Flags().Int64Var(&limit, "limit", 0, "print at most this many rows (default: all)")
	root.AddCommand(cmd)
}
