package main

import (
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loglake/loglake/storage"
)

// envPrefix starts the environment variable of every flag. Precedence is
// flag > environment > YAML.
const envPrefix = "LOGLAKE_"

// sharedSettings are the flags that say how a command runs, not what it
// does, and mean the same on every command that has them: these read
// LOGLAKE_<FLAG> (LOGLAKE_OUTPUT=json). Every other flag reads
// LOGLAKE_<COMMAND>_<FLAG> (LOGLAKE_INGEST_MAX_BYTES), so that a variable
// set for one command never changes another: --format is the input format
// of ingest but the output format of scan, and --where, --version or --force
// set once for a shell must not reach delete, describe or vacuum.
var sharedSettings = map[string]bool{
	"output": true, "quiet": true, "verbose": true,
	"cache-dir": true, "cache-max-bytes": true, "memory-limit": true,
	"metrics-address": true, "threads": true, "workers": true, "parallel": true,
}

// noEnv marks a flag that reads no variable: an alias (--json, scan's
// --format) of a flag that reads one (--output).
const noEnv = "loglake_no_env"

// fromEnv records which flags of the running command were set from the
// environment rather than the command line.
var fromEnv = map[string]bool{}

// envName returns the environment variable of flag on cmd.
func envName(cmd *cobra.Command, flag string) string {
	name := flag
	if !sharedSettings[flag] {
		// "loglake completion bash" → "completion-bash-"
		path := strings.TrimPrefix(cmd.CommandPath(), root.Name())
		name = strings.ReplaceAll(strings.TrimSpace(path), " ", "-") + "-" + flag
	}
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// readsEnv reports whether flag f of cmd can be set from the environment.
func readsEnv(cmd *cobra.Command, f *pflag.Flag) bool {
	_, alias := f.Annotations[noEnv]
	return !alias && f.Name != "help" && !(f.Name == "version" && cmd == root)
}

// applyEnv sets every flag of cmd that the command line left unset from
// its variable. Values that carry credentials are refused as they are in
// URLs and YAML; a bad value is a usage error naming the variable.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed || !readsEnv(cmd, f) {
			return
		}
		name := envName(cmd, f.Name)
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

// documentEnv appends its variable to the help of every flag of cmd and its
// subcommands, so that --help says which one a flag reads.
func documentEnv(cmd *cobra.Command) {
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if readsEnv(cmd, f) && !strings.Contains(f.Usage, "[$"+envPrefix) {
			f.Usage += " [$" + envName(cmd, f.Name) + "]"
		}
	})
	for _, c := range cmd.Commands() {
		documentEnv(c)
	}
}
