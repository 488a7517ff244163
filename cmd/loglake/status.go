package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/regions"
)

// exitLag is the exit code of `loglake status` when a lag breaks a
// threshold (1 stays "the command failed", 2 "bad usage").
const exitLag = 3

func init() {
	var (
		replicas  []string
		asJSON    bool
		th        regions.Thresholds
		maxLag    time.Duration
		smallSize string
		opts      regions.StatusOptions
	)
	cmd := &cobra.Command{
		Use:   "status [CONFIG.yaml | TABLE_URL]...",
		Short: "Show lag, freshness, backlog, replica progress and maintenance state, read from the tables",
		Long: `Reads every region configuration and table URL given, and each --replica,
from the tables themselves (no daemon needed; it works from a DR region) and
prints per region the regional table's version and age, the central table's
progress for it (its egress:<region> txn) and the lag in versions and
seconds, the ingest batch and backlog; per replica its lag behind its source
(its clone:<source id> txn); per table its files, small files and last
OPTIMIZE and VACUUM. A location that cannot be read is an error in its row;
figures that cannot be known read "unknown" (null in --json).

With --max-lag-versions, --max-lag or --max-backlog-files it is a probe: it
exits 3 when any lag is over its threshold or cannot be read, listing each
breach on stderr. See docs/status.md.`,
		Example: `  loglake status configs/demo/*.yaml
  loglake status configs/demo/*.yaml --replica file:///data/central=s3://dr/central --json
  loglake status configs/demo/eu-west.yaml --max-lag 2m --max-lag-versions 50`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var req regions.StatusRequest
			for _, a := range args {
				if strings.Contains(a, "://") {
					req.Tables = append(req.Tables, a)
					continue
				}
				cfg, err := regions.Load(a)
				if err != nil {
					return usageError{err}
				}
				req.Regions = append(req.Regions, cfg)
			}
			for _, r := range replicas {
				rp, err := regions.ParseReplica(r)
				if err != nil {
					return usageError{err}
				}
				req.Replicas = append(req.Replicas, rp)
			}
			if len(req.Regions)+len(req.Tables)+len(req.Replicas) == 0 {
				return usageError{fmt.Errorf("nothing to report on: give region config files, table URLs or --replica")}
			}
			if smallSize != "" {
				n, err := regions.ParseSize(smallSize)
				if err != nil {
					return usageError{fmt.Errorf("--small-file-size: %w", err)}
				}
				opts.SmallFileSize = int64(n)
			}
			th.MaxLagSeconds = maxLag.Seconds()
			rep := regions.Status(cmd.Context(), req, &opts)
			var err error
			if asJSON {
				err = writeJSON(cmd.OutOrStdout(), rep)
			} else {
				err = rep.WriteText(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			if b := rep.Breaches(th); len(b) > 0 {
				for _, line := range b {
					fmt.Fprintln(cmd.ErrOrStderr(), "loglake: status:", line)
				}
				os.Exit(exitLag)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&replicas, "replica", nil, "SOURCE_URL=REPLICA_URL: a clone to report the lag of (repeatable)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.Int64Var(&th.MaxLagVersions, "max-lag-versions", 0, "exit 3 if an egress or replica lag exceeds this many versions")
	f.DurationVar(&maxLag, "max-lag", 0, "exit 3 if an egress or replica lag exceeds this duration (e.g. 2m)")
	f.IntVar(&th.MaxBacklogFiles, "max-backlog-files", 0, "exit 3 if a region's ingest backlog exceeds this many files")
	f.IntVar(&opts.History, "history", regions.DefaultStatusHistory, "newest commits read per table to find the last OPTIMIZE and VACUUM (-1: skip)")
	f.IntVar(&opts.BacklogLimit, "backlog-limit", regions.DefaultBacklogLimit, "landing objects listed at most to count a backlog (-1: skip)")
	f.StringVar(&smallSize, "small-file-size", "", "data files below this size count as small (default 32MiB)")
	f.DurationVar(&opts.Timeout, "timeout", regions.DefaultStatusTimeout, "time allowed to read one table or location")
	root.AddCommand(cmd)
}
