package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/regions"
)

// exitLag is the exit code of `loglake status` when a lag breaks a
// threshold (1 stays "the command failed", 2 "bad usage").
const exitLag = 3

// lagError reports the breaches of a probe; main exits with exitLag.
type lagError struct{ breaches []string }

func (e lagError) Error() string {
	return fmt.Sprintf("status: %d over a threshold or unknown (listed above)", len(e.breaches))
}

func (lagError) ExitCode() int { return exitLag }

func init() {
	var (
		replicas []string
		th       regions.Thresholds
		maxLagV  int64
		maxLag   time.Duration
		maxFiles int
		opts     regions.StatusOptions
	)
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "status [CONFIG.yaml | TABLE]...",
		Short: "Show lag, freshness, backlog, replica progress and maintenance state, read from the tables",
		Long: `Reads every region configuration and table URL given, and each --replica,
from the tables themselves (no daemon needed; it works from a DR region) and
prints per region the regional table's version and age, the central table's
progress for it (its egress:<region> txn) and the lag in versions and
seconds, the ingest batch and backlog; per replica its lag behind its source
(its clone:<source id> txn); per table its files, small files and last
OPTIMIZE and VACUUM. A location that cannot be read is an error in its row;
figures that cannot be known read "unknown" (null in JSON).

With --max-lag-versions, --max-lag or --max-backlog-files it is a probe: it
exits 3 when any lag is over its threshold or cannot be read, listing each
breach on stderr. See docs/status.md.`,
		Example: `  loglake status configs/demo/*.yaml
  loglake status configs/demo/*.yaml --replica file:///data/central=s3://dr/central --json
  loglake status configs/demo/eu-west.yaml --max-lag 2m --max-lag-versions 50`,
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := out.resolve(cmd)
			if err != nil {
				return err
			}
			var req regions.StatusRequest
			for _, a := range args {
				if isTableArg(a) {
					u, err := location(a)
					if err != nil {
						return err
					}
					req.Tables = append(req.Tables, u)
					continue
				}
				cfg, err := regions.Load(a)
				if err != nil {
					return usageError{err}
				}
				req.Regions = append(req.Regions, cfg)
			}
			if req.Replicas, err = parseReplicas(replicas); err != nil {
				return err
			}
			if len(req.Regions)+len(req.Tables)+len(req.Replicas) == 0 {
				return usageError{fmt.Errorf("nothing to report on: give region config files, table URLs or --replica")}
			}
			// Zero commits read or objects listed is skipping them (the
			// options' zero is their default); a zero size or timeout
			// means nothing.
			if opts.History == 0 {
				opts.History = -1
			}
			if opts.BacklogLimit == 0 {
				opts.BacklogLimit = -1
			}
			if opts.Timeout == 0 || opts.SmallFileSize == 0 {
				return usageError{fmt.Errorf("--timeout and --small-file-size take a value above 0")}
			}
			// A threshold given as 0 means "fully caught up"; one not given is
			// not checked.
			if f := cmd.Flags(); f.Changed("max-lag-versions") {
				th.MaxLagVersions = &maxLagV
			}
			if f := cmd.Flags(); f.Changed("max-lag") {
				sec := maxLag.Seconds()
				th.MaxLagSeconds = &sec
			}
			if f := cmd.Flags(); f.Changed("max-backlog-files") {
				th.MaxBacklogFiles = &maxFiles
			}
			rep := regions.Status(cmd.Context(), req, &opts)
			if err := writeObject(cmd.OutOrStdout(), format, rep, rep.WriteText); err != nil {
				return err
			}
			if b := rep.Breaches(th); len(b) > 0 {
				// One line per breach first: the error main prints is one line.
				for _, line := range b {
					fmt.Fprintln(cmd.ErrOrStderr(), "loglake: status:", line)
				}
				return lagError{b}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&replicas, "replica", nil, "SOURCE=REPLICA (URLs or paths): a clone to report the lag of (repeatable)")
	out = addOutput(cmd, render.Table, "json")
	countVar(f, &maxLagV, "max-lag-versions", 0, 0, "exit 3 if an egress or replica lag exceeds this many versions")
	durationVar(f, &maxLag, "max-lag", 0, "exit 3 if an egress or replica lag exceeds this duration (e.g. 2m)")
	countVar(f, &maxFiles, "max-backlog-files", 0, 0, "exit 3 if a region's ingest backlog exceeds this many files")
	countVar(f, &opts.History, "history", regions.DefaultStatusHistory, -1, "newest commits read per table to find the last OPTIMIZE and VACUUM (0 or -1: skip)")
	countVar(f, &opts.BacklogLimit, "backlog-limit", regions.DefaultBacklogLimit, -1, "landing objects listed at most to count a backlog (0 or -1: skip)")
	sizeVar(f, &opts.SmallFileSize, "small-file-size", regions.DefaultSmallFileSize, "data files below this size count as small")
	durationVar(f, &opts.Timeout, "timeout", regions.DefaultStatusTimeout, "time allowed to read one table or location")
	root.AddCommand(cmd)
}

// parseReplicas parses --replica SOURCE=REPLICA values (of status
// and erase), resolving both locations.
func parseReplicas(values []string) ([]regions.Replica, error) {
	var out []regions.Replica
	for _, v := range values {
		rp, err := regions.ParseReplica(v)
		if err != nil {
			return nil, usageError{err}
		}
		if rp.Source, err = location(rp.Source); err != nil {
			return nil, err
		}
		if rp.Replica, err = location(rp.Replica); err != nil {
			return nil, err
		}
		out = append(out, rp)
	}
	return out, nil
}

// isTableArg reports whether a status argument names a table: a URL, a
// directory, or a path that does not exist and is not a .yaml or .yml file
// (a mistyped table path is then a table that is not there, as its URL
// would be). Anything else is a region configuration file.
func isTableArg(a string) bool {
	if strings.Contains(a, "://") {
		return true
	}
	st, err := os.Stat(a)
	if errors.Is(err, fs.ErrNotExist) {
		ext := strings.ToLower(filepath.Ext(a))
		return ext != ".yaml" && ext != ".yml"
	}
	return err == nil && st.IsDir()
}
