package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/loglake/loglake/internal/render"
)

// outputFlag is the one output convention of every command that prints a
// result: --output (-o) table|json|ndjson|csv, with --json and --format kept
// as aliases where a command had them. Without a flag the output is a table
// on a terminal and the command's script format otherwise, so that pipes
// keep getting what they always got.
type outputFlag struct {
	output, format string
	json           bool
	script         render.Format
}

// addOutput registers --output on cmd. script is the format used when stdout
// is not a terminal; aliases are "json" (--json) and "format" (--format).
func addOutput(cmd *cobra.Command, script render.Format, aliases ...string) *outputFlag {
	o := &outputFlag{script: script}
	f := cmd.Flags()
	def := "table"
	if script != render.Table {
		def = fmt.Sprintf("table on a terminal, else %s", script)
	}
	f.StringVarP(&o.output, "output", "o", "", "output format: table, json, ndjson or csv (default: "+def+")")
	for _, a := range aliases {
		switch a {
		case "json":
			f.BoolVar(&o.json, "json", false, "same as --output json")
		case "format":
			f.StringVar(&o.format, "format", "", "same as --output")
		default:
			panic("unknown output alias " + a)
		}
		f.SetAnnotation(a, noEnv, nil)
	}
	return o
}

// resolve returns the format asked for. A flag given on the command line
// wins over one set from the environment; two different formats on the
// command line are a usage error.
func (o *outputFlag) resolve(cmd *cobra.Command) (render.Format, error) {
	var chosen, chosenFlag string
	var chosenEnv bool
	pick := func(flag, value string) error {
		if !cmd.Flags().Changed(flag) {
			return nil
		}
		env := fromEnv[flag]
		switch {
		case chosen == "" || chosenEnv && !env:
			chosen, chosenFlag, chosenEnv = value, flag, env
		case chosen != value && env == chosenEnv:
			return usagef("--%s %s and --%s %s disagree", chosenFlag, chosen, flag, value)
		}
		return nil
	}
	if err := pick("output", o.output); err != nil {
		return "", err
	}
	if err := pick("format", o.format); err != nil {
		return "", err
	}
	if o.json {
		if err := pick("json", string(render.JSON)); err != nil {
			return "", err
		}
	}
	if chosen == "" {
		if stdoutIsTerminal() {
			return render.Table, nil
		}
		return o.script, nil
	}
	f, err := render.ParseFormat(chosen)
	if err != nil {
		return "", usageError{err}
	}
	return f, nil
}

func stdoutIsTerminal() bool { return term.IsTerminal(int(os.Stdout.Fd())) }

// stderrIsTerminal reports whether progress bars should be drawn.
func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// writeObject prints one result object (a summary, a description) in
// format f: indented JSON, one NDJSON line, a one-row CSV with nested
// values as JSON, or for a table human's text (nil: "key  value" lines).
func writeObject(w io.Writer, f render.Format, v any, human func(io.Writer) error) error {
	switch f {
	case render.JSON:
		return writeJSON(w, v)
	case render.Table:
		if human != nil {
			return human(w)
		}
	}
	b, err := render.Marshal(v)
	if err != nil {
		return err
	}
	if f == render.NDJSON {
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	keys, vals, err := topLevel(b)
	if err != nil {
		return err
	}
	if f == render.CSV {
		rw, err := render.NewWriter(w, render.CSV, keys)
		if err != nil {
			return err
		}
		if err := rw.Row(vals); err != nil {
			return err
		}
		return rw.Close()
	}
	rw, err := render.NewWriter(w, render.Table, []string{"FIELD", "VALUE"})
	if err != nil {
		return err
	}
	for i, k := range keys {
		if err := rw.Row([]any{k, vals[i]}); err != nil {
			return err
		}
	}
	return rw.Close()
}

// topLevel splits a JSON object into its keys, in order, and values.
func topLevel(b []byte) ([]string, []any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return []string{"value"}, []any{json.RawMessage(b)}, nil
	}
	var keys []string
	var vals []any
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, t.(string))
		vals = append(vals, v)
	}
	return keys, vals, nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// splitList splits a comma-separated flag value, trimming spaces around
// each item ("level, service" is two columns, not " service").
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
