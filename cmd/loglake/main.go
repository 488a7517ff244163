// Command loglake moves service logs from cloud regions into Delta Lake
// tables, forwards approved rows to a central table, clones tables across
// clouds and queries them with SQL. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/query"

	// Storage drivers: the only place they are imported.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

var root = &cobra.Command{
	Use:           "loglake",
	Short:         "Service logs from many regions into one Delta lakehouse",
	Version:       version,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loglake:", oneLine(err))
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError marks bad command-line input (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// oneLine keeps error output to one line, as scripts expect; DuckDB's own
// errors keep their lines, as their caret points into the line above it.
func oneLine(err error) string {
	s := err.Error()
	if errors.Is(err, query.ErrSQL) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
	}
	return string(out)
}
