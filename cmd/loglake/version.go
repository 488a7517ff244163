package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
)

// versionInfo is what `loglake version` reports, from the binary's build
// information.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	ArrowGo  string `json:"arrowGo"`
	DuckDBGo string `json:"duckdbGo"`
	DuckDB   string `json:"duckdb"`
}

func buildVersion(ctx context.Context) versionInfo {
	v := versionInfo{Version: version, Commit: "unknown", Go: runtime.Version(), ArrowGo: "unknown", DuckDBGo: "unknown", DuckDB: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			switch d.Path {
			case "github.com/apache/arrow-go/v18":
				v.ArrowGo = d.Version
			case "github.com/duckdb/duckdb-go/v2":
				v.DuckDBGo = d.Version
			}
		}
	}
	// The DuckDB library's own version: the driver is linked in for query.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if db, err := sql.Open("duckdb", ""); err == nil {
		var lib, src string
		if db.QueryRowContext(ctx, "SELECT library_version, source_id FROM pragma_version()").Scan(&lib, &src) == nil {
			v.DuckDB = lib + " (" + src + ")"
		}
		db.Close()
	}
	return v
}

func (v versionInfo) text(w io.Writer) error {
	commit := v.Commit
	if v.Modified {
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(w, "loglake %s\ncommit:   %s\ngo:       %s\narrow-go: %s\nduckdb:   %s (duckdb-go %s)\n",
		v.Version, commit, v.Go, v.ArrowGo, v.DuckDB, v.DuckDBGo)
	return err
}

func init() {
	root.Version = version
	cobra.AddTemplateFunc("loglakeVersion", func() string {
		var b strings.Builder
		buildVersion(context.Background()).text(&b)
		return b.String()
	})
	root.SetVersionTemplate("{{loglakeVersion}}")

	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print loglake's version, commit, and its Go, arrow-go and DuckDB versions",
		Long: `Prints the version of loglake and of what it is built with, from the
binary's build information. 'loglake --version' prints the same. (On table
commands, --version N selects a table version instead.)`,
		Example: `  loglake version
  loglake version -o json`,
		Args: cobra.NoArgs,
	}
	out := addOutput(cmd, render.JSON)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		v := buildVersion(cmd.Context())
		return writeObject(cmd.OutOrStdout(), f, v, v.text)
	}
	root.AddCommand(cmd)
}
