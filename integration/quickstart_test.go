package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEQuickstart runs the README's quickstart block exactly as
// written, one command at a time, in an empty directory with the freshly
// built loglake first on PATH, and checks that it ends in a queried central
// table and a cloned copy.
func TestREADMEQuickstart(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- quickstart -->\n```sh\n")
	if !ok {
		t.Fatal("README.md has no <!-- quickstart --> block")
	}
	block, _, ok = strings.Cut(block, "```\n<!-- /quickstart -->")
	if !ok {
		t.Fatal("README.md's quickstart block is not closed")
	}
	var cmds []string
	for _, l := range strings.Split(strings.TrimSpace(block), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			cmds = append(cmds, l)
		}
	}
	if len(cmds) > 10 {
		t.Errorf("the quickstart has %d commands; the promise is ten", len(cmds))
	}
	bin := loglakeBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var last string
	for _, c := range cmds {
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", c)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s\n%s\n%v", c, out, err)
		}
		last = c
		if strings.HasPrefix(c, "loglake query") {
			if !strings.Contains(string(out), "eu-west") || !strings.Contains(string(out), "ERROR") {
				t.Errorf("query printed no eu-west rows:\n%s", out)
			}
		}
	}
	if !strings.HasPrefix(last, "loglake history ./dr/central") {
		t.Errorf("the quickstart should end by reading the clone, ends with %q", last)
	}
	if _, err := os.Stat(filepath.Join(dir, "dr", "central", "_delta_log")); err != nil {
		t.Errorf("no clone: %v", err)
	}
}
