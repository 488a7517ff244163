package regions

import (
	"testing"

	"github.com/loglake/loglake/table"
)

// TestHasData: only commits that add rows count towards lag age, so a
// new region whose table holds just its CREATE commit shows no lag.
func TestHasData(t *testing.T) {
	for _, c := range []struct {
		name string
		ch   table.Change
		want bool
	}{
		{"create", table.Change{Actions: []table.Action{{MetaData: &table.Metadata{}}, {Protocol: &table.Protocol{}}}}, false},
		{"optimize", table.Change{Actions: []table.Action{{Add: &table.Add{Path: "a", DataChange: false}}}}, false},
		{"append", table.Change{Actions: []table.Action{{Txn: &table.Txn{}}, {Add: &table.Add{Path: "a", DataChange: true}}}}, true},
	} {
		if got := hasData(c.ch); got != c.want {
			t.Errorf("%s: hasData = %v, want %v", c.name, got, c.want)
		}
	}
}
