// Command loglake moves service logs from cloud regions into Delta Lake
// tables, forwards approved rows to a central table, clones tables across
// clouds and queries them with SQL. See README.md and docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	// Storage drivers: the only place they are imported.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

var root = &cobra.Command{
	Use:   "loglake",
	Short: "Service logs from many regions into one Delta lakehouse",
	Long: `loglake moves service logs from cloud regions into Delta Lake tables,
forwards approved rows to a central table, clones tables across clouds and
queries them with SQL.

Locations are URLs (file:///dir, s3://bucket/prefix, gs://…, azblob://…) or
plain local paths (./t). Every flag can also be set in the environment, as
each flag's help says: LOGLAKE_<COMMAND>_<FLAG> (LOGLAKE_INGEST_MAX_BYTES=1GiB),
or LOGLAKE_<FLAG> for the settings every command shares (LOGLAKE_OUTPUT=json,
LOGLAKE_MEMORY_LIMIT, LOGLAKE_CACHE_DIR, …). A flag on the command line wins
over the environment, which wins over the YAML configuration.

Exit codes: 0 success, 1 failure, 2 bad usage, 3 a lag over its threshold
(loglake status), 130 interrupted.`,
	Example: `  loglake gen ./landing --files 4
  loglake ingest --landing ./landing --table ./regional --once
  loglake scan ./regional --limit 5
  loglake describe ./regional`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func init() {
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		started = true
		return applyEnv(cmd)
	}
}

func main() {
	root.InitDefaultCompletionCmd()
	documentEnv(root)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	os.Exit(report(os.Stderr, err, interrupted))
}
