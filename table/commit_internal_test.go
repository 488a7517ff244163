package table

// Internal test: checkConflict is unexported; the rules are exercised through
// the exported API by the OPTIMIZE and DELETE tests too.

import (
	"errors"
	"testing"
)

func TestCheckConflictWriteSerializable(t *testing.T) {
	add := func(p string, dc bool) Action { return Action{Add: &Add{Path: p, DataChange: dc}} }
	rm := func(p string, dc bool) Action { return Action{Remove: &Remove{Path: p, DataChange: dc}} }
	blindAppend := []Action{add("new", true)}
	optimize := &Commit{Actions: []Action{rm("a", false), rm("b", false), add("ab", false)}}
	deleteWhole := &Commit{Actions: []Action{rm("a", true)}, ReadFiles: []string{"a", "c"}}
	deleteCOW := &Commit{Actions: []Action{rm("a", true), add("a2", true)}, ReadFiles: []string{"a"}}
	appendC := &Commit{Actions: blindAppend}
	cases := []struct {
		name   string
		c      *Commit
		winner []Action
		want   error
	}{
		{"append vs append", appendC, blindAppend, nil},
		{"optimize vs blind append", optimize, blindAppend, nil},
		{"delete vs blind append", deleteWhole, blindAppend, nil},
		{"cow delete vs blind append", deleteCOW, blindAppend, nil},
		{"optimize vs optimize of the same file", optimize, []Action{rm("b", false), add("bc", false)}, ErrConflict},
		{"optimize vs optimize of other files", optimize, []Action{rm("x", false), add("xy", false)}, nil},
		{"optimize vs delete of a file it compacts", optimize, []Action{rm("a", true)}, ErrConflict},
		{"delete vs optimize of a file it read", deleteWhole, []Action{rm("c", false), add("cd", false)}, ErrConflict},
		{"delete vs optimize of other files", deleteWhole, []Action{rm("x", false), add("xy", false)}, nil},
		{"delete vs another delete's rewrite", deleteCOW, []Action{rm("z", true), add("z2", true)}, ErrConflict},
		{"optimize vs another delete's rewrite", optimize, []Action{rm("z", true), add("z2", true)}, nil},
		{"append vs remove", appendC, []Action{rm("a", true)}, nil},
		{"optimize vs metadata change", optimize, []Action{{MetaData: &Metadata{}}}, ErrConflict},
		{"append vs protocol change", appendC, []Action{{Protocol: &Protocol{MinReaderVersion: 1}}}, ErrConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkConflict(tc.c, tc.winner, 7)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("checkConflict = %v, want %v", err, tc.want)
			}
		})
	}
}
