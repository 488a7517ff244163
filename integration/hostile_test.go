package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/tabletest"
)

// TestHostileCorpusCLI runs every case of the hostile corpus through the
// real binary: `loglake describe`, `loglake scan` and `loglake clone` (into
// a fresh file:// location). Each gives a one-line error with a non-zero
// exit, or the correct rows; never a panic, and nothing is written beside
// either table root.
func TestHostileCorpusCLI(t *testing.T) {
	ctx := context.Background()
	loglakeBinary(t)
	for _, hc := range tabletest.HostileCorpus() {
		t.Run(hc.Name, func(t *testing.T) {
			parent := t.TempDir()
			src := fileURL(filepath.Join(parent, "table"))
			b, err := storage.Open(ctx, src, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			tabletest.HostileBase(t, b)
			if err := hc.Break(ctx, b); err != nil {
				t.Fatalf("break: %v", err)
			}
			clean := func(what, errOut string, code int) {
				t.Helper()
				if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
					t.Fatalf("%s panicked: %s", what, errOut)
				}
				if code != 0 && (strings.TrimSpace(errOut) == "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0) {
					t.Errorf("%s: exit %d with stderr %q, want one line", what, code, errOut)
				}
			}
			_, errOut, code := run(t, "describe", src, "--json")
			clean("describe", errOut, code)
			if hc.Want == nil && code != 0 {
				t.Errorf("describe: exit %d: %s", code, errOut)
			}
			out, errOut, scode := run(t, "scan", src, "--columns", "id")
			clean("scan", errOut, scode)
			switch {
			case hc.Want != nil && code == 0 && scode == 0:
				t.Errorf("describe and scan succeeded, want an error wrapping %v", hc.Want)
			case hc.Want == nil && scode != 0:
				t.Errorf("scan: exit %d: %s", scode, errOut)
			case hc.Want == nil:
				var ids []int64
				sc := bufio.NewScanner(strings.NewReader(out))
				for sc.Scan() {
					var row struct{ ID int64 }
					if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
						t.Fatalf("scan line %q: %v", sc.Text(), err)
					}
					ids = append(ids, row.ID)
				}
				slices.Sort(ids)
				if !slices.Equal(ids, hc.IDs) {
					t.Errorf("scan: ids %v, want %v", ids, hc.IDs)
				}
			}

			dstParent := t.TempDir()
			dst := fileURL(filepath.Join(dstParent, "table"))
			_, errOut, code = run(t, "clone", src, dst)
			clean("clone", errOut, code)
			if hc.Writable != (code == 0) {
				t.Errorf("clone: exit %d (%s), want success %v", code, strings.TrimSpace(errOut), hc.Writable)
			}
			for _, p := range []string{parent, dstParent} {
				if es, _ := os.ReadDir(p); len(es) > 1 {
					t.Errorf("%d entries beside the table root in %s", len(es), p)
				}
			}
		})
	}
}
