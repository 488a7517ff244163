package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/table"
)

func init() {
	var sf snapshotFlags
	var where, columns, format string
	var limit int64
	cmd := &cobra.Command{
		Use:   "scan URL",
		Short: "Print a table's rows (partition columns included; timestamps RFC 3339 UTC)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			snap, err := sf.open(ctx, args[0])
			if err != nil {
				return err
			}
			opts := &table.ScanOptions{Filter: where, Limit: limit}
			if columns != "" {
				opts.Columns = strings.Split(columns, ",")
			}
			sc, err := snap.Scan(ctx, opts)
			if err != nil {
				return err
			}
			defer sc.Close()
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
			defer out.Flush()
			p, err := newRowPrinter(format, out)
			if err != nil {
				return err
			}
			for {
				rec, err := sc.Next(ctx)
				if err == io.EOF {
					return p.close()
				}
				if err != nil {
					return err
				}
				err = p.print(rec)
				rec.Release()
				if err != nil {
					return err
				}
			}
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&where, "where", "", "row filter, e.g. \"level = 'ERROR' AND date >= '2026-11-01'\"")
	cmd.Flags().StringVar(&columns, "columns", "", "comma-separated columns to print (default: all)")
	cmd.Flags().Int64Var(&limit, "limit", 0, "print at most this many rows")
	cmd.Flags().StringVar(&format, "format", "ndjson", "output format: ndjson, csv or table")
	root.AddCommand(cmd)
}

// rowPrinter writes records in one of scan's output formats.
type rowPrinter struct {
	format string
	w      io.Writer
	csv    *csv.Writer
	tab    *tabwriter.Writer
	header bool
}

func newRowPrinter(format string, w io.Writer) (*rowPrinter, error) {
	p := &rowPrinter{format: format, w: w}
	switch format {
	case "ndjson":
	case "csv":
		p.csv = csv.NewWriter(w)
	case "table":
		p.tab = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	default:
		return nil, usageError{fmt.Errorf("unknown --format %q: want ndjson, csv or table", format)}
	}
	return p, nil
}

func (p *rowPrinter) print(rec arrow.Record) error {
	names := make([]string, rec.NumCols())
	for i := range names {
		names[i] = rec.ColumnName(i)
	}
	if !p.header {
		p.header = true
		switch {
		case p.csv != nil:
			if err := p.csv.Write(names); err != nil {
				return err
			}
		case p.tab != nil:
			fmt.Fprintln(p.tab, strings.Join(names, "\t"))
		}
	}
	enc := json.NewEncoder(p.w)
	enc.SetEscapeHTML(false)
	row := make(map[string]any, len(names))
	cells := make([]string, len(names))
	for r := 0; r < int(rec.NumRows()); r++ {
		if p.format == "ndjson" {
			for c, n := range names {
				row[n] = table.Value(rec.Column(c), r)
			}
			if err := enc.Encode(orderedRow{names, row}); err != nil {
				return err
			}
			continue
		}
		for c := range names {
			cells[c] = cellString(table.Value(rec.Column(c), r))
		}
		if p.csv != nil {
			if err := p.csv.Write(cells); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(p.tab, strings.Join(cells, "\t"))
		}
	}
	return nil
}

func (p *rowPrinter) close() error {
	switch {
	case p.csv != nil:
		p.csv.Flush()
		return p.csv.Error()
	case p.tab != nil:
		return p.tab.Flush()
	}
	return nil
}

// cellString renders a value for csv and table output.
func cellString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return fmt.Sprint(v)
}

// orderedRow marshals a row with its columns in table order.
type orderedRow struct {
	names []string
	vals  map[string]any
}

func (o orderedRow) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range o.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		v, err := json.Marshal(o.vals[n])
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
