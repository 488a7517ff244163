package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/storage"
)

// Exit codes, the same for every command (see `loglake --help`).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2   // bad flags, arguments, configuration or environment
	exitInterrupted = 130 // SIGINT/SIGTERM stopped a command (128 + SIGINT), as shells do
)

// exitCoder is an error that picks its own exit code: `loglake status`
// exits 3 when a lag is over its threshold, after printing its report.
type exitCoder interface {
	error
	ExitCode() int
}

// usageError marks bad command-line input (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// usagef returns a usageError.
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// started is set once cobra has parsed the command line and is about to run
// a command. Every error before that point comes from cobra itself: an
// unknown command, a wrong number of arguments, an unknown flag or a bad
// flag value, all of which are usage errors. Cobra returns them untyped,
// so this is how they get exit code 2.
var started bool

// interruptSummary, when set by a command, says what the command had
// already committed when it was interrupted; main prints it with exit code
// 130, so that Ctrl-C never leaves the user guessing.
var interruptSummary func() string

// report prints err (one line, URLs redacted) and returns the exit code.
func report(stderr io.Writer, err error, interrupted bool) int {
	if interrupted {
		if err == nil && interruptSummary == nil {
			return exitOK // a daemon that drained cleanly on SIGTERM
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "loglake:", errorLine(err))
		}
		msg := "interrupted"
		if interruptSummary != nil {
			msg += "; " + interruptSummary()
		}
		fmt.Fprintln(stderr, "loglake:", msg)
		return exitInterrupted
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "loglake:", errorLine(err))
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	var ue usageError
	if errors.As(err, &ue) || !started {
		if !started {
			fmt.Fprintln(stderr, "Run 'loglake --help' (or 'loglake COMMAND --help') for usage.")
		}
		return exitUsage
	}
	return exitFailure
}

// keepLines is implemented by errors whose line breaks carry meaning (a
// SQL engine's caret under the offending token): they are printed as they
// are, still redacted.
type keepLines interface{ KeepLines() bool }

// errorLine keeps error output to one line, as scripts expect, with every
// URL redacted.
func errorLine(err error) string {
	s := storage.RedactText(err.Error())
	var kl keepLines
	if errors.Is(err, query.ErrSQL) || errors.As(err, &kl) && kl.KeepLines() {
		// DuckDB's own errors keep their lines: their caret points into the
		// line above it.
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
}
