package main

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the commands")

// referencePath is the committed CLI reference.
const referencePath = "../../docs/cli.md"

// TestCLIReference fails when docs/cli.md is not what the commands
// generate. Regenerate it with
//
//	go test ./cmd/loglake -run TestCLIReference -update
func TestCLIReference(t *testing.T) {
	got := reference(t)
	if *update {
		if err := os.WriteFile(referencePath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/cli.md is stale: run go test ./cmd/loglake -run TestCLIReference -update")
	}
}

// reference renders every command's help as one Markdown page. Defaults
// that depend on the machine (GOMAXPROCS) are shown as such.
func reference(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated from the cobra commands by `go test ./cmd/loglake -run TestCLIReference -update`; do not edit. -->\n\n")
	b.WriteString("# loglake command reference\n\n")
	var shared []string
	for _, f := range slices.Sorted(maps.Keys(sharedSettings)) {
		shared = append(shared, "`--"+f+"`")
	}
	b.WriteString("Every flag can also be set in the environment, in the variable its help names: `LOGLAKE_<COMMAND>_<FLAG>` (`ingest --max-bytes` is `LOGLAKE_INGEST_MAX_BYTES`), or `LOGLAKE_<FLAG>` for the settings every command shares (" + strings.Join(shared, ", ") + "), so that a variable meant for one command never changes another. A flag on the command line wins over the environment, which wins over the YAML configuration. Sizes take the YAML's units (`128MiB`, `10GiB`, `500KB`), durations Go's (`500ms`, `30s`, `1m`). Exit codes: 0 success, 1 failure, 2 bad usage, 3 a lag over its threshold (`loglake status`), 130 interrupted.\n\n")
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root || c.IsAdditionalHelpTopicCommand() {
			return
		}
		var page bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &page, func(name string) string {
			return "#" + strings.ReplaceAll(strings.TrimSuffix(filepath.Base(name), ".md"), "_", "-")
		}); err != nil {
			t.Fatal(err)
		}
		s := page.String()
		// One page: demote headings below the page title.
		s = strings.ReplaceAll(s, "\n### ", "\n#### ")
		s = strings.Replace(s, "## "+c.CommandPath(), "## "+c.CommandPath(), 1)
		b.WriteString(s)
		b.WriteString("\n")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	documentEnv(root)
	walk(root)
	return b.Bytes()
}

// TestEveryCommandHasExample: every command's --help shows examples.
func TestEveryCommandHasExample(t *testing.T) {
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.IsAvailableCommand() && c.Example == "" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Name() != "completion" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
