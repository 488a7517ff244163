package main

import (
	"testing"

	"github.com/spf13/cobra"
)

func command(t *testing.T, path ...string) *cobra.Command {
	t.Helper()
	c, _, err := root.Find(path)
	if err != nil || c == root {
		t.Fatalf("no command %v: %v", path, err)
	}
	return c
}

func TestEnvName(t *testing.T) {
	root.InitDefaultCompletionCmd()
	for _, c := range []struct {
		path []string
		flag string
		want string
	}{
		{[]string{"ingest"}, "format", "LOGLAKE_INGEST_FORMAT"},
		{[]string{"ingest"}, "max-bytes", "LOGLAKE_INGEST_MAX_BYTES"},
		{[]string{"scan"}, "output", "LOGLAKE_OUTPUT"},
		{[]string{"query"}, "memory-limit", "LOGLAKE_MEMORY_LIMIT"},
		{[]string{"completion", "bash"}, "no-descriptions", "LOGLAKE_COMPLETION_BASH_NO_DESCRIPTIONS"},
	} {
		if got := envName(command(t, c.path...), c.flag); got != c.want {
			t.Errorf("%v --%s: %s, want %s", c.path, c.flag, got, c.want)
		}
	}
}

// TestEnvNotForAliases: --output's aliases read no variable, so that
// LOGLAKE_OUTPUT is the one way to set the output format.
func TestEnvNotForAliases(t *testing.T) {
	for _, c := range []struct{ cmd, flag string }{{"scan", "format"}, {"scan", "json"}, {"describe", "json"}} {
		cmd := command(t, c.cmd)
		if readsEnv(cmd, cmd.Flags().Lookup(c.flag)) {
			t.Errorf("%s --%s reads %s", c.cmd, c.flag, envName(cmd, c.flag))
		}
	}
	if cmd := command(t, "scan"); !readsEnv(cmd, cmd.Flags().Lookup("output")) {
		t.Error("scan --output reads no variable")
	}
}

// TestEnvScopedToCommand: a variable of one command's flag does not reach
// another command's flag of the same name (LOGLAKE_FORMAT=csv once made
// ingest read NDJSON as CSV and rescue every line).
func TestEnvScopedToCommand(t *testing.T) {
	ingest := command(t, "ingest")
	f := ingest.Flags().Lookup("format")
	defer func() { f.Value.Set(f.DefValue); f.Changed = false }()

	t.Setenv("LOGLAKE_FORMAT", "csv")
	if err := applyEnv(ingest); err != nil {
		t.Fatal(err)
	}
	if f.Changed || f.Value.String() != f.DefValue {
		t.Fatalf("LOGLAKE_FORMAT set ingest --format to %s", f.Value)
	}
	t.Setenv("LOGLAKE_INGEST_FORMAT", "csv")
	if err := applyEnv(ingest); err != nil {
		t.Fatal(err)
	}
	if f.Value.String() != "csv" {
		t.Fatalf("LOGLAKE_INGEST_FORMAT=csv: --format is %s", f.Value)
	}
}
