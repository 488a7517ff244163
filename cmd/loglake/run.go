package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/loglake/loglake/regions"
)

func init() {
	var configFile, metricsAddr string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run a region's daemon: ingest and egress loops, /metrics and /healthz",
		Long: `Runs the region described by --config (see docs/regions.md): the ingest
loop (landing files into the regional table) and the egress loop (approved
rows into the central table), with Prometheus /metrics and /healthz on the
configured address. Logs are slog JSON on stderr. SIGTERM or SIGINT lets both
loops finish their current batch, then exits 0. Several daemons of the same
region may run at once: no row is ever duplicated. SIGHUP (or a change of the
file) reloads the egress routes without a restart (docs/egress.md).`,
		Example: `  loglake run --config configs/eu-west.yaml
  LOGLAKE_METRICS_ADDRESS=:9464 loglake run --config configs/eu-west.yaml -v`,
		Args: cobra.NoArgs,
	}
	vb := addVerbosity(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := loadRegion(cmd, configFile, metricsAddr, vb, false)
		if err != nil {
			return err
		}
		d, err := regions.NewDaemon(cfg, nil)
		if err != nil {
			return usageError{err}
		}
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer func() {
			signal.Stop(hup)
			close(hup)
		}()
		go func() {
			for range hup {
				d.Reload()
			}
		}()
		return d.Run(cmd.Context())
	}
	cmd.Flags().StringVar(&configFile, "config", "", "region configuration file (YAML)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-address", "", "override metrics.address (host:port; port 0 picks one)")
	root.AddCommand(cmd)
}

// loadRegion loads --config, then applies what the command line and the
// environment override (flag > environment > YAML): --metrics-address and
// the log level (-q, -v).
func loadRegion(cmd *cobra.Command, file, metricsAddr string, vb *verbosity, oneShot bool) (*regions.Config, error) {
	if file == "" {
		return nil, usagef("--config is required")
	}
	cfg, err := regions.Load(file)
	if err != nil {
		return nil, usageError{err}
	}
	if oneShot && cfg.Line("log.level") == 0 {
		// A one-shot command logs warnings and errors unless asked (-v),
		// as every command does; the file's level is for the daemon.
		cfg.Log.Level = "warn"
	}
	if cmd.Flags().Changed("metrics-address") {
		cfg.Metrics.Address = metricsAddr
	}
	if vb.quiet || vb.verbose > 0 {
		var base slog.Level
		if err := base.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
			return nil, usageError{err}
		}
		var l slog.Level = vb.level(base)
		switch {
		case l <= slog.LevelDebug:
			cfg.Log.Level = "debug"
		case l <= slog.LevelInfo:
			cfg.Log.Level = "info"
		case l <= slog.LevelWarn:
			cfg.Log.Level = "warn"
		default:
			cfg.Log.Level = "error"
		}
	}
	return cfg, nil
}
