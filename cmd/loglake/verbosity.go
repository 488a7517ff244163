package main

import (
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// verbosity is --quiet/-q and --verbose/-v of every long-running command:
// -q drops progress bars and logs only errors; each -v lowers the log level
// one step (warn → info → debug).
type verbosity struct {
	quiet   bool
	verbose int
}

func addVerbosity(cmd *cobra.Command) *verbosity {
	v := &verbosity{}
	cmd.Flags().BoolVarP(&v.quiet, "quiet", "q", false, "no progress bar; log errors only")
	cmd.Flags().CountVarP(&v.verbose, "verbose", "v", "log more (-v info, -vv debug)")
	return v
}

// level returns the log level for a command whose default is base.
func (v *verbosity) level(base slog.Level) slog.Level {
	if v.quiet {
		return slog.LevelError
	}
	l := base - slog.Level(4*v.verbose)
	if l < slog.LevelDebug {
		l = slog.LevelDebug
	}
	return l
}

// progress reports whether to draw progress bars on stderr.
func (v *verbosity) progress() bool { return !v.quiet && stderrIsTerminal() }

// logger returns a JSON logger on w at the command's level.
func (v *verbosity) logger(w io.Writer, base slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: v.level(base)}))
}
