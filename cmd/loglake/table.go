package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/table"
)

// readOnly opens a table for the commands that only read it: its
// tombstones (after an OPTIMIZE most of a checkpoint) are not decoded.
var readOnly = &table.Options{ReadOnly: true}

// openTable opens the Delta table at url.
// Reading never creates anything: a mistyped location is an error, not a
// new directory.
func openTable(ctx context.Context, url string, opts *table.Options) (*table.Table, error) {
	b, err := openLocation(ctx, url)
	if err != nil {
		return nil, err
	}
	t, err := table.Open(ctx, b, opts)
	if errors.Is(err, table.ErrNoTable) {
		return nil, fmt.Errorf("%s: %w", b.URL(), err)
	}
	return t, err
}

// snapshotFlags select a version for time travel.
type snapshotFlags struct {
	version   int64
	timestamp string
}

func (f *snapshotFlags) register(cmd *cobra.Command) {
	countVar(cmd.Flags(), &f.version, "version", -1, 0, "table version to read (default: latest; not loglake's version, see 'loglake version')")
	cmd.Flags().StringVar(&f.timestamp, "timestamp", "", "read the latest version at or before this RFC 3339 time (one after the last commit is an error)")
}

// open opens the table at url and picks the snapshot the flags name.
func (f *snapshotFlags) open(ctx context.Context, url string) (*table.Snapshot, error) {
	switch {
	case f.version >= 0 && f.timestamp != "":
		return nil, usagef("--version and --timestamp are mutually exclusive")
	case f.version >= 0:
		// Read the log only up to the version asked for.
		b, err := openLocation(ctx, url)
		if err != nil {
			return nil, err
		}
		_, s, err := table.OpenAt(ctx, b, readOnly, f.version)
		if errors.Is(err, table.ErrNoTable) {
			return nil, fmt.Errorf("%s: %w", b.URL(), err)
		}
		return s, err
	}
	t, err := openTable(ctx, url, readOnly)
	if err != nil {
		return nil, err
	}
	switch {
	case f.timestamp != "":
		ts, err := parseTime(f.timestamp)
		if err != nil {
			return nil, usageError{err}
		}
		return t.SnapshotAsOf(ctx, ts)
	}
	return t.Snapshot(ctx)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q: want RFC 3339, e.g. 2026-11-24T10:00:00Z", s)
}

func init() {
	var sf snapshotFlags
	var files bool
	describe := &cobra.Command{
		Use:   "describe URL",
		Short: "Show a table's version, protocol, schema, partitioning and size",
		Example: `  loglake describe ./regional
  loglake describe s3://lake/central --version 12 -o json
  loglake describe ./regional --files`,
		Args: cobra.ExactArgs(1),
	}
	dOut := addOutput(describe, render.Table, "json")
	describe.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := dOut.resolve(cmd)
		if err != nil {
			return err
		}
		snap, err := sf.open(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		d := describeSnapshot(snap, files)
		return writeObject(cmd.OutOrStdout(), f, d, func(w io.Writer) error { return printDescription(w, d) })
	}
	sf.register(describe)
	describe.Flags().BoolVar(&files, "files", false, "list the live data files")
	root.AddCommand(describe)

	var limit int
	history := &cobra.Command{
		Use:   "history URL",
		Short: "List the table's versions, newest first",
		Example: `  loglake history ./regional
  loglake history s3://lake/central --limit 10 -o json`,
		Args: cobra.ExactArgs(1),
	}
	hOut := addOutput(history, render.Table, "json")
	history.RunE = func(cmd *cobra.Command, args []string) error {
		ctx := cmd.Context()
		f, err := hOut.resolve(cmd)
		if err != nil {
			return err
		}
		t, err := openTable(ctx, args[0], readOnly)
		if err != nil {
			return err
		}
		var entries []table.Entry
		if !cmd.Flags().Changed("limit") || limit > 0 {
			if entries, err = t.History(ctx, limit); err != nil {
				return err
			}
		}
		out := make([]historyEntry, len(entries))
		for i, e := range entries {
			out[i] = historyEntry{Version: e.Version, Timestamp: e.Timestamp.Format(time.RFC3339Nano)}
			if ci := e.CommitInfo; ci != nil {
				out[i].Operation, out[i].OperationParameters, out[i].OperationMetrics = ci.Operation, ci.OperationParameters, ci.OperationMetrics
				out[i].EngineInfo = ci.EngineInfo
			}
		}
		w := cmd.OutOrStdout()
		if f == render.JSON {
			// A JSON array of entries, as before the output convention.
			return writeJSON(w, out)
		}
		cols := []string{"version", "timestamp", "operation", "operationParameters", "operationMetrics", "engineInfo"}
		if f == render.Table {
			cols = []string{"VERSION", "TIMESTAMP", "OPERATION", "METRICS"}
		}
		rw, err := render.NewWriter(w, f, cols)
		if err != nil {
			return err
		}
		for _, e := range out {
			row := []any{e.Version, e.Timestamp, e.Operation, e.OperationParameters, e.OperationMetrics, e.EngineInfo}
			if f == render.Table {
				row = []any{e.Version, e.Timestamp, e.Operation, e.OperationMetrics}
			}
			if err := rw.Row(row); err != nil {
				return err
			}
		}
		return rw.Close()
	}
	countVar(history.Flags(), &limit, "limit", 0, 0, "show at most this many versions (default: all)")
	root.AddCommand(history)
}

type historyEntry struct {
	Version             int64          `json:"version"`
	Timestamp           string         `json:"timestamp"`
	Operation           string         `json:"operation"`
	OperationParameters map[string]any `json:"operationParameters"`
	OperationMetrics    map[string]any `json:"operationMetrics"`
	EngineInfo          string         `json:"engineInfo,omitempty"`
}

// description is describe's JSON contract.
type description struct {
	Version          int64             `json:"version"`
	Timestamp        string            `json:"timestamp"`
	ID               string            `json:"id"`
	Protocol         protocolJSON      `json:"protocol"`
	Schema           json.RawMessage   `json:"schema"`
	PartitionColumns []string          `json:"partitionColumns"`
	Properties       map[string]string `json:"properties"`
	NumFiles         int               `json:"numFiles"`
	SizeBytes        int64             `json:"sizeBytes"`
	NumRecords       *int64            `json:"numRecords"`
	Files            []fileJSON        `json:"files,omitempty"`
}

type protocolJSON struct {
	MinReaderVersion int      `json:"minReaderVersion"`
	MinWriterVersion int      `json:"minWriterVersion"`
	ReaderFeatures   []string `json:"readerFeatures"`
	WriterFeatures   []string `json:"writerFeatures"`
}

type fileJSON struct {
	Path            string             `json:"path"`
	Size            int64              `json:"size"`
	PartitionValues map[string]*string `json:"partitionValues"`
	NumRecords      *int64             `json:"numRecords"`
}

func describeSnapshot(s *table.Snapshot, withFiles bool) description {
	p, m := s.Protocol(), s.Metadata()
	d := description{
		Version:          s.Version(),
		Timestamp:        s.Timestamp().Format(time.RFC3339Nano),
		ID:               m.ID,
		Protocol:         protocolJSON{p.MinReaderVersion, p.MinWriterVersion, nonNil(p.ReaderFeatures), nonNil(p.WriterFeatures)},
		Schema:           json.RawMessage(m.SchemaString),
		PartitionColumns: nonNil(m.PartitionColumns),
		Properties:       m.Configuration,
		NumFiles:         len(s.Files()),
		SizeBytes:        s.SizeBytes(),
	}
	if !json.Valid(d.Schema) {
		d.Schema, _ = json.Marshal(m.SchemaString)
	}
	if n, ok := s.NumRecords(); ok {
		d.NumRecords = &n
	}
	if withFiles {
		d.Files = make([]fileJSON, 0, len(s.Files()))
		for _, f := range s.Files() {
			fj := fileJSON{Path: f.Path, Size: f.Size, PartitionValues: f.PartitionValues}
			if st, err := table.ParseStats(f.Stats); err == nil && st != nil {
				n := st.NumRecords
				fj.NumRecords = &n
			}
			d.Files = append(d.Files, fj)
		}
	}
	return d
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printDescription(w io.Writer, d description) error {
	fmt.Fprintf(w, "version:     %d (%s)\n", d.Version, d.Timestamp)
	fmt.Fprintf(w, "id:          %s\n", d.ID)
	fmt.Fprintf(w, "protocol:    reader %d, writer %d\n", d.Protocol.MinReaderVersion, d.Protocol.MinWriterVersion)
	fmt.Fprintf(w, "partitions:  %v\n", d.PartitionColumns)
	fmt.Fprintf(w, "files:       %d (%d bytes)\n", d.NumFiles, d.SizeBytes)
	if d.NumRecords != nil {
		fmt.Fprintf(w, "records:     %d\n", *d.NumRecords)
	} else {
		fmt.Fprintf(w, "records:     unknown (files without stats)\n")
	}
	var sch struct {
		Fields []struct {
			Name     string          `json:"name"`
			Type     json.RawMessage `json:"type"`
			Nullable bool            `json:"nullable"`
		} `json:"fields"`
	}
	if json.Unmarshal(d.Schema, &sch) == nil {
		fmt.Fprintln(w, "schema:")
		for _, f := range sch.Fields {
			fmt.Fprintf(w, "  %-20s %s\n", f.Name, typeString(f.Type))
		}
	}
	for _, f := range d.Files {
		fmt.Fprintf(w, "  %s  %d\n", f.Path, f.Size)
	}
	return nil
}

// typeString prints a schema field's type: primitive types bare (string,
// not "string"), nested types as compact JSON.
func typeString(t json.RawMessage) string {
	var s string
	if json.Unmarshal(t, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, t) == nil {
		return b.String()
	}
	return string(t)
}
