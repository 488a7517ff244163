package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// openTable opens the Delta table at url.
func openTable(ctx context.Context, url string) (*table.Table, error) {
	b, err := storage.Open(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	return table.Open(ctx, b, nil)
}

// snapshotFlags select a version for time travel.
type snapshotFlags struct {
	version   int64
	timestamp string
}

func (f *snapshotFlags) register(cmd *cobra.Command) {
	cmd.Flags().Int64Var(&f.version, "version", -1, "table version to read (default: latest)")
	cmd.Flags().StringVar(&f.timestamp, "timestamp", "", "read the latest version at or before this RFC 3339 time")
}

// open opens the table at url and picks the snapshot the flags name.
func (f *snapshotFlags) open(ctx context.Context, url string) (*table.Snapshot, error) {
	t, err := openTable(ctx, url)
	if err != nil {
		return nil, err
	}
	switch {
	case f.version >= 0 && f.timestamp != "":
		return nil, usageError{fmt.Errorf("--version and --timestamp are mutually exclusive")}
	case f.version >= 0:
		return t.SnapshotAt(ctx, f.version)
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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func init() {
	var sf snapshotFlags
	var files, asJSON bool
	describe := &cobra.Command{
		Use:   "describe URL",
		Short: "Show a table's version, protocol, schema, partitioning and size",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := sf.open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d := describeSnapshot(snap, files)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), d)
			}
			return printDescription(cmd.OutOrStdout(), d)
		},
	}
	sf.register(describe)
	describe.Flags().BoolVar(&files, "files", false, "list the live data files")
	describe.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	root.AddCommand(describe)

	var histJSON bool
	var limit int
	history := &cobra.Command{
		Use:   "history URL",
		Short: "List the table's versions, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := openTable(ctx, args[0])
			if err != nil {
				return err
			}
			entries, err := t.History(ctx, limit)
			if err != nil {
				return err
			}
			out := make([]historyEntry, len(entries))
			for i, e := range entries {
				out[i] = historyEntry{Version: e.Version, Timestamp: e.Timestamp.Format(time.RFC3339Nano)}
				if ci := e.CommitInfo; ci != nil {
					out[i].Operation, out[i].OperationParameters, out[i].OperationMetrics = ci.Operation, ci.OperationParameters, ci.OperationMetrics
					out[i].EngineInfo = ci.EngineInfo
				}
			}
			if histJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-8s %-30s %-20s %s\n", "VERSION", "TIMESTAMP", "OPERATION", "METRICS")
			for _, e := range out {
				m, _ := json.Marshal(e.OperationMetrics)
				fmt.Fprintf(w, "%-8d %-30s %-20s %s\n", e.Version, e.Timestamp, e.Operation, m)
			}
			return nil
		},
	}
	history.Flags().BoolVar(&histJSON, "json", false, "print JSON")
	history.Flags().IntVar(&limit, "limit", 0, "show at most this many versions")
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
			fmt.Fprintf(w, "  %-20s %s\n", f.Name, string(f.Type))
		}
	}
	for _, f := range d.Files {
		fmt.Fprintf(w, "  %s  %d\n", f.Path, f.Size)
	}
	return nil
}
