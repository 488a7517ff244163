package main

import (
	"fmt"

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
region may run at once: no row is ever duplicated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadRegion(cmd, configFile, metricsAddr)
			if err != nil {
				return err
			}
			d, err := regions.NewDaemon(cfg, nil)
			if err != nil {
				return usageError{err}
			}
			return d.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "region configuration file (YAML)")
	cmd.Flags().StringVar(&metricsAddr, "metrics-address", "", "override metrics.address (host:port; port 0 picks one)")
	root.AddCommand(cmd)
}

// loadRegion loads --config, applying a --metrics-address override.
func loadRegion(cmd *cobra.Command, file, metricsAddr string) (*regions.Config, error) {
	if file == "" {
		return nil, usageError{fmt.Errorf("--config is required")}
	}
	cfg, err := regions.Load(file)
	if err != nil {
		return nil, usageError{err}
	}
	if cmd.Flags().Changed("metrics-address") {
		cfg.Metrics.Address = metricsAddr
	}
	return cfg, nil
}
