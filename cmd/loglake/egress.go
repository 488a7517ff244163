package main

import (
	"github.com/spf13/cobra"

	"github.com/loglake/loglake/internal/render"
	"github.com/loglake/loglake/regions"
)

func init() {
	var configFile, metricsAddr string
	var once bool
	cmd := &cobra.Command{
		Use:   "egress --config FILE [--once]",
		Short: "Forward a region's approved rows to the central table, exactly once",
		Long: `Runs only the egress loop of the region described by --config: rows of the
regional table matching egress.predicate are stamped with the region and
appended to the central table. With --once it forwards everything available
now, prints a summary and exits; otherwise it polls like 'loglake run'
(with /metrics and /healthz) until SIGTERM.`,
		Example: `  loglake egress --config configs/eu-west.yaml --once
  loglake egress --config configs/eu-west.yaml --metrics-address :9464`,
		Args: cobra.NoArgs,
	}
	out := addOutput(cmd, render.JSON)
	vb := addVerbosity(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := out.resolve(cmd)
		if err != nil {
			return err
		}
		cfg, err := loadRegion(cmd, configFile, metricsAddr, vb, once)
		if err != nil {
			return err
		}
		if once {
			log := regions.NewLogger(cfg.Log, cmd.ErrOrStderr())
			sum, err := regions.EgressOnce(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			return writeObject(cmd.OutOrStdout(), f, sum, nil)
		}
		d, err := regions.NewDaemon(cfg, &regions.DaemonOptions{NoIngest: true})
		if err != nil {
			return usageError{err}
		}
		return d.Run(cmd.Context())
	}
	cmd.Flags().StringVar(&configFile, "config", "", "region configuration file (YAML)")
	cmd.Flags().BoolVar(&once, "once", false, "forward everything available now, print a summary and exit")
	cmd.Flags().StringVar(&metricsAddr, "metrics-address", "", "override metrics.address (host:port; port 0 picks one)")
	root.AddCommand(cmd)
}
