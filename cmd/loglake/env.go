package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loglake/loglake/storage"
)

// envPrefix starts the environment variable of every flag: --max-bytes is
// LOGLAKE_MAX_BYTES. Precedence is flag > environment > YAML.
const envPrefix = "LOGLAKE_"

// fromEnv records which flags of the running command were set from the
// environment rather than the command line.
var fromEnv = map[string]bool{}

// envName returns the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of cmd that the command line left unset from
// its LOGLAKE_* variable. Values that carry credentials are refused as they
// are in URLs and YAML; a bad value is a usage error naming the variable.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" || f.Name == "version" && cmd == root {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if strings.Contains(v, "://") {
			if _, err := storage.ParseLocation(v, ""); errors.Is(err, storage.ErrCredentials) {
				errs = append(errs, usagef("%s: %v", name, err))
				return
			}
		}
		if err := cmd.Flags().Set(f.Name, v); err != nil {
			errs = append(errs, usagef("%s=%q: %v", name, storage.RedactText(v), err))
			return
		}
		fromEnv[f.Name] = true
	})
	return errors.Join(errs...)
}
