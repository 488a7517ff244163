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
	// Metadata: the table as read, one that only adds a nullable column, and
	// changes under which appended data may be invalid.
	sch := func(fields string) string { return `{"type":"struct","fields":[` + fields + `]}` }
	x := `{"name":"x","type":"long","nullable":true,"metadata":{}}`
	y := `{"name":"y","type":"string","nullable":true,"metadata":{}}`
	md := func(schema string, conf map[string]string, parts ...string) *Metadata {
		return &Metadata{ID: "t", Format: Format{Provider: "parquet"}, SchemaString: schema, PartitionColumns: parts, Configuration: conf}
	}
	readMD := md(sch(x), nil)
	addY := md(sch(x+","+y), nil)
	addYNotNull := md(sch(x+`,{"name":"y","type":"string","nullable":false,"metadata":{}}`), nil)
	addYInvariant := md(sch(x+`,{"name":"y","type":"string","nullable":true,"metadata":{"delta.invariants":"{}"}}`), nil)
	addYCase := md(sch(x+`,{"name":"X","type":"string","nullable":true,"metadata":{}}`), nil)
	retype := md(sch(`{"name":"x","type":"string","nullable":true,"metadata":{}}`), nil)
	constraint := md(sch(x), map[string]string{"delta.constraints.pos": "x > 0"})
	props := md(sch(x), map[string]string{"delta.logRetentionDuration": "interval 1 day"})
	repartition := md(sch(x), nil, "x")
	appendOnly := md(sch(x+","+y), map[string]string{"delta.appendOnly": "true"})
	mdc := func(m *Metadata) *Commit { return &Commit{Actions: []Action{{MetaData: m}}} }
	w := func(m *Metadata, more ...Action) []Action { return append([]Action{{MetaData: m}}, more...) }
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
		// Schema changes (docs/egress.md "Schema changes").
		{"append vs add column", appendC, w(addY), nil},
		{"append vs add column with data", appendC, w(addY, add("w", true)), nil},
		{"optimize vs add column", optimize, w(addY), nil},
		{"delete vs add column", deleteCOW, w(addY), nil},
		{"append vs add NOT NULL column", appendC, w(addYNotNull), ErrConflict},
		{"append vs add column with an invariant", appendC, w(addYInvariant), ErrConflict},
		{"append vs add column differing only in case", appendC, w(addYCase), ErrConflict},
		{"append vs type change", appendC, w(retype), ErrConflict},
		{"append vs new constraint", appendC, w(constraint), ErrConflict},
		{"append vs property change", appendC, w(props), nil},
		{"property change vs blind append", mdc(props), blindAppend, nil},
		{"append vs repartition", appendC, w(repartition), ErrConflict},
		{"delete vs add column making the table append-only", deleteWhole, w(appendOnly), ErrConflict},
		{"add column vs add column", mdc(addY), w(addY), ErrConflict},
		{"add column vs blind append", mdc(addY), blindAppend, nil},
		{"add column vs delete", mdc(addY), []Action{rm("a", true)}, nil},
		{"new constraint vs blind append", mdc(constraint), blindAppend, ErrConflict},
		{"type change vs blind append", mdc(retype), blindAppend, ErrConflict},
		{"new constraint vs optimize", mdc(constraint), []Action{rm("a", false), add("a2", false)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkConflict(tc.c, newConflictState(tc.c, readMD), tc.winner, 7)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("checkConflict = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestCheckConflictTracksMetadata: after tolerating one ADD COLUMNS, the next
// winner is judged against the metadata it installed.
func TestCheckConflictTracksMetadata(t *testing.T) {
	sch := func(fields string) string { return `{"type":"struct","fields":[` + fields + `]}` }
	f := func(n string) string { return `{"name":"` + n + `","type":"long","nullable":true,"metadata":{}}` }
	md := func(s string) *Metadata {
		return &Metadata{ID: "t", Format: Format{Provider: "parquet"}, SchemaString: s}
	}
	c := &Commit{Actions: []Action{{Add: &Add{Path: "p", DataChange: true}}}}
	st := newConflictState(c, md(sch(f("a"))))
	for v, next := range []string{sch(f("a") + "," + f("b")), sch(f("a") + "," + f("b") + "," + f("c"))} {
		if err := checkConflict(c, st, []Action{{MetaData: md(next)}}, int64(v)); err != nil {
			t.Fatalf("winner %d: %v", v, err)
		}
	}
	// Dropping c again relative to the tracked schema is not additive.
	if err := checkConflict(c, st, []Action{{MetaData: md(sch(f("a") + "," + f("b")))}}, 3); !errors.Is(err, ErrConflict) {
		t.Fatalf("dropping a column: %v, want ErrConflict", err)
	}
}
