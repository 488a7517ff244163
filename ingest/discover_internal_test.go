package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/loglake/loglake/storage"
)

// Globs match whole characters: a non-ASCII letter in a pattern was quoted
// byte by byte as other characters, so an include never matched (its files
// were never ingested) and an exclude never excluded. ** crosses newlines.
func TestGlobCharacters(t *testing.T) {
	for _, tc := range []struct {
		glob, key string
		want      bool
	}{
		{"données/*.json", "données/a.json", true},
		{"données/*.json", "donnees/a.json", false},
		{"tmp-é/**", "tmp-é/a/b.json", true},
		{"?.json", "é.json", true},
		{"**", "a\nb.json", true},
		{"{é,ü}/*.json", "ü/x.json", true},
	} {
		re, err := compileGlob(tc.glob)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tc.key); got != tc.want {
			t.Errorf("glob %q on %q: %v, want %v", tc.glob, tc.key, got, tc.want)
		}
	}
}

// A file:// key that is not valid UTF-8 cannot be held by the batch state
// (JSON): a restart read another key and ingested the file again, every
// time. Such a file is left out, with an error logged; the others go in.
func TestNonUTF8KeyLeftOut(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	landing, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer landing.Close()
	for _, k := range []string{"caf\xe9.json", "cafe.json"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(`{"message":"one"}`+"\n"+`{"message":"two"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tbl := memTable(t)
	var rows int64
	for range 2 { // two process lifetimes
		in, err := New(landing, tbl, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := in.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows += sum.Rows
		// The dry run says so too (it said "ingest", and the backlog
		// counted the file for good).
		if p, err := in.Plan(ctx); err != nil || p.Skipped[PlanBadKey] != 1 || p.Ingest != 0 {
			t.Fatalf("plan: %+v, %v; want the key skipped as %s", p, err, PlanBadKey)
		}
	}
	if rows != 2 {
		t.Fatalf("%d rows over two runs, want cafe.json's 2 once", rows)
	}
}
