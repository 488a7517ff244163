// Package erasetest holds the fixtures the erasure tests share (regions'
// in-memory test and integration's test across clouds): log lines with a
// known set of rows to erase, the predicate that finds them, and checks of
// what storage still holds. One copy, so both tests prove the same thing.
package erasetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/tabletest"
)

// Where is the erasure's predicate: org-7's rows, whether org-7 is in the
// org_id column or only in _rescued_data.
const Where = "org_id = 'org-7' OR _rescued_data LIKE '%org-7%'"

// Lines returns n NDJSON log lines numbered from first: every third
// belongs to org-7, every fifth names org-7 only in a field the schema
// lacks (it lands in _rescued_data), and a final malformed line mentions
// org-7 (its raw text lands in _rescued_data). Even lines are approved for
// egress. It returns how many rows match Where (the malformed line
// included), and how many of those are approved.
func Lines(first, n int) (data []byte, victims, approved int) {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		org := "org-1"
		if i%3 == 0 {
			org = "org-7"
		}
		extra := ""
		if i%5 == 0 {
			extra = `,"customer":"org-7"`
		}
		if org == "org-7" || extra != "" {
			victims++
			if i%2 == 0 {
				approved++
			}
		}
		fmt.Fprintf(&b, `{"ts":"2026-11-2%dT10:00:%02dZ","service":"api","level":"INFO","message":"line %d","org_id":"%s","egress_approved":%t%s}`+"\n",
			i%2, i%60, i, org, i%2 == 0, extra)
	}
	fmt.Fprintf(&b, `{"ts":"2026-11-20T11:00:00Z","org_id":"org-7", broken %d`+"\n", first)
	return []byte(b.String()), victims + 1, approved
}

// ApprovedKept counts the lines of Lines(first, n) that are approved and
// do not match Where: what the central table holds after the erasure.
func ApprovedKept(first, n int) int {
	k := 0
	for i := first; i < first+n; i++ {
		if i%2 == 0 && i%3 != 0 && i%5 != 0 {
			k++
		}
	}
	return k
}

// Stored counts org-7's rows in every Parquet data file stored at b
// (listed, not found through the log, so files no snapshot names count
// too), and names one of them.
func Stored(t testing.TB, b storage.Bucket) (n int, sample string) {
	t.Helper()
	for key, rows := range tabletest.RawRows(t, b, "org_id", "_rescued_data") {
		for _, r := range rows {
			if r[0] == "org-7" || strings.Contains(r[1], "org-7") {
				n++
				sample = fmt.Sprintf("%s: %q", key, r)
			}
		}
	}
	return n, sample
}

// LiveAddedBytes is the size of the files added to b's table after version
// `after` that are still live: what a replica replaying those commits must
// copy, and no more.
func LiveAddedBytes(t testing.TB, b storage.Bucket, after int64) int64 {
	t.Helper()
	tbl, snap := tabletest.Latest(t, b)
	live := map[string]bool{}
	for _, f := range snap.Files() {
		live[f.Path] = true
	}
	changes, err := tbl.Changes(context.Background(), after, -1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, ch := range changes {
		for _, a := range ch.Actions {
			if a.Add != nil && live[a.Add.Path] {
				n += a.Add.Size
			}
		}
	}
	return n
}
