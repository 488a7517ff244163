package regions

import (
	"errors"
	"fmt"
	"strings"
)

// ErrConfig is wrapped by every configuration error: a file that cannot be
// parsed, an unknown field, a missing or invalid value.
var ErrConfig = errors.New("regions: invalid configuration")

// ConfigError is one problem in a configuration file, located by field and
// line so that the fix is obvious.
type ConfigError struct {
	// File is the configuration file ("" when parsed from bytes without a name).
	File string
	// Line is the 1-based line of the offending key or value; 0 when the
	// problem has no line of its own.
	Line int
	// Field is the dotted path of the field, e.g. "egress.predicate"; "" for
	// problems with the document as a whole.
	Field string
	// Msg says what is wrong and what is expected.
	Msg string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrConfig) true.
func (e *ConfigError) Unwrap() error { return ErrConfig }

// ConfigErrors are all the problems found in one file, in line order. Load
// reports them together so that one run shows every mistake.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the individual errors, so errors.As finds the first
// *ConfigError and errors.Is finds ErrConfig.
func (es ConfigErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
