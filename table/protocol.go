package table

import (
	"slices"
	"strconv"
	"strings"
)

// readerFeatures are the table features (reader version 3) that loglake reads
// correctly. Anything else is refused by name.
var readerFeatures = map[string]bool{
	"timestampNtz":        true,
	"vacuumProtocolCheck": true,
}

// legacyWriterFeatures are the writer features a legacy writer version
// (below 7) implies, with the version that introduced each.
var legacyWriterFeatures = []struct {
	name    string
	version int
}{
	{"appendOnly", 2}, {"invariants", 2}, {"checkConstraints", 3}, {"changeDataFeed", 4},
	{"generatedColumns", 4}, {"columnMapping", 5}, {"identityColumns", 6},
}

// legacyReaderFeatures: reader version 2 implies column mapping.
var legacyReaderFeatures = []struct {
	name    string
	version int
}{{"columnMapping", 2}}

// checkRead returns a FeatureError when p or the table configuration needs a
// reader feature loglake does not implement.
func checkRead(p *Protocol, m *Metadata) error { return checkReadAs(p, m, "read") }

func checkReadAs(p *Protocol, m *Metadata, op string) error {
	if p == nil {
		return nil
	}
	if m != nil {
		if mode := m.Configuration["delta.columnMapping.mode"]; mode != "" && mode != "none" {
			return &FeatureError{Feature: "columnMapping", Op: op}
		}
	}
	switch {
	case p.MinReaderVersion > 3:
		return &FeatureError{Feature: "readerVersion " + strconv.Itoa(p.MinReaderVersion), Op: op}
	case p.MinReaderVersion == 3:
		for _, f := range p.ReaderFeatures {
			if !readerFeatures[f] {
				return &FeatureError{Feature: f, Op: op}
			}
		}
	}
	return nil
}

// enabledWriterFeatures lists the writer features p turns on: those listed
// at writer version 7, those implied by a legacy version below it.
func enabledWriterFeatures(p *Protocol) []string {
	if p.MinWriterVersion >= 7 {
		return p.WriterFeatures
	}
	var out []string
	for _, f := range legacyWriterFeatures {
		if p.MinWriterVersion >= f.version {
			out = append(out, f.name)
		}
	}
	return out
}

// checkWrite returns an error when loglake cannot write a table with
// protocol p and metadata m correctly: a FeatureError naming a writer
// feature it does not honour (or a use of one, such as a generated column),
// or an invariant or CHECK constraint it cannot evaluate. Every writer
// feature is either honoured or refused here, before anything is written:
//
//   - appendOnly, changeDataFeed: checked per commit (checkCommit).
//   - invariants, checkConstraints and NOT NULL columns: every row written
//     is checked (Constraints), so their expressions must compile.
//   - timestampNtz, vacuumProtocolCheck: nothing more to do when writing.
//   - generatedColumns, identityColumns: honoured only vacuously, when no
//     column uses them; a column that does is refused by name.
//   - columnMapping: only mode none (no mapping).
//   - anything else, and writer versions above 7: refused.
func checkWrite(p *Protocol, m *Metadata) error {
	if err := checkReadAs(p, m, "write"); err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	if p.MinWriterVersion > 7 {
		return &FeatureError{Feature: "writerVersion " + strconv.Itoa(p.MinWriterVersion), Op: "write"}
	}
	for _, f := range enabledWriterFeatures(p) {
		switch f {
		case "appendOnly", "invariants", "checkConstraints", "changeDataFeed", "timestampNtz",
			"vacuumProtocolCheck", "columnMapping", "generatedColumns", "identityColumns":
		default:
			return &FeatureError{Feature: f, Op: "write"}
		}
	}
	if m == nil {
		return nil
	}
	sch, err := ParseSchema(m.SchemaString)
	if err != nil {
		return err
	}
	_, err = compileConstraints(m, sch)
	return err
}

// checkColumnFeatures refuses columns whose values loglake would have to
// compute for new rows: generated columns and identity columns, whatever
// the protocol says (a writer that ignored them would store wrong values).
// Rows that OPTIMIZE or DELETE copy keep the values they have, and a clone
// or VACUUM writes no rows, so only appends of new rows call it.
func checkColumnFeatures(fields []*Field, prefix string) error {
	for _, f := range fields {
		name := prefix + f.Name
		for k := range f.Metadata {
			switch {
			case k == "delta.generationExpression":
				return &FeatureError{Feature: "generatedColumns", Op: "write", Detail: "column " + name + " is generated"}
			case strings.HasPrefix(k, "delta.identity."):
				return &FeatureError{Feature: "identityColumns", Op: "write", Detail: "column " + name + " is an identity column"}
			}
		}
		if st, ok := f.Type.(*StructType); ok {
			if err := checkColumnFeatures(st.Fields, name+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCommit applies the per-commit rules of the table's properties to the
// actions of a commit: delta.appendOnly refuses removing data
// (dataChange=true removes) and allows rearranging it (dataChange=false, as
// OPTIMIZE does); with delta.enableChangeDataFeed a commit that removes and
// adds data is a rewrite whose change data would need cdc files, which
// loglake does not write (whole-file removes and appends need none: readers
// derive their change data from the add and remove actions). A rewrite that
// carries its cdc files (another writer's UPDATE or MERGE, as a clone
// replays it) is complete and passes.
func checkCommit(actions []Action, mds ...*Metadata) error {
	var removes, adds, cdcs int
	var removed string
	for _, a := range actions {
		switch {
		case a.Remove != nil && a.Remove.DataChange:
			removes++
			removed = a.Remove.Path
		case a.Add != nil && a.Add.DataChange:
			adds++
		case a.CDC != nil:
			cdcs++
		}
	}
	if removes == 0 {
		return nil
	}
	for _, md := range mds {
		if md == nil {
			continue
		}
		if propTrue(md, "delta.appendOnly") {
			return &AppendOnlyError{Removes: removes, Path: removed}
		}
		if err := checkRewrite(md); adds > 0 && cdcs == 0 && err != nil {
			return err
		}
	}
	return nil
}

// checkRewrite refuses a commit that rewrites data (removes files and adds
// their remaining rows) in a table with the change data feed on.
func checkRewrite(md *Metadata) error {
	if propTrue(md, "delta.enableChangeDataFeed") {
		return &FeatureError{Feature: "changeDataFeed", Op: "write",
			Detail: "a commit that rewrites data needs change data (cdc) files, which loglake does not write"}
	}
	return nil
}

func propTrue(md *Metadata, key string) bool { return propIs(md, key, "true") }

// propIs reports whether table property key is value, as Delta compares
// them: case and surrounding blanks do not matter.
func propIs(md *Metadata, key, value string) bool {
	return strings.EqualFold(strings.TrimSpace(md.Configuration[key]), value)
}

// requiredProtocol returns the lowest protocol that is at least cur (nil:
// none yet) and covers what metadata md and its schema sch use: writer 2 for
// appendOnly and invariants, 3 for CHECK constraints, 4 for the change data
// feed, and reader 3 / writer 7 with the timestampNtz feature for a
// timestamp_ntz column. Upgrading a legacy protocol to 3/7 lists the
// features its old versions implied, so no guarantee is lost.
func requiredProtocol(cur *Protocol, md *Metadata, sch *Schema) *Protocol {
	out := &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
	if cur != nil {
		out = &Protocol{MinReaderVersion: max(cur.MinReaderVersion, 1), MinWriterVersion: max(cur.MinWriterVersion, 2),
			ReaderFeatures: slices.Clone(cur.ReaderFeatures), WriterFeatures: slices.Clone(cur.WriterFeatures)}
	}
	var legacy []string // writer features md uses that legacy versions express
	legacyVersion := 2
	need := func(name string, version int) {
		legacy = append(legacy, name)
		legacyVersion = max(legacyVersion, version)
	}
	if propTrue(md, "delta.appendOnly") {
		need("appendOnly", 2)
	}
	if hasFieldMetadata(sch.Fields, "delta.invariants") {
		need("invariants", 2)
	}
	for k := range md.Configuration {
		if strings.HasPrefix(k, "delta.constraints.") {
			need("checkConstraints", 3)
			break
		}
	}
	if propTrue(md, "delta.enableChangeDataFeed") {
		need("changeDataFeed", 4)
	}
	ntz := hasType(sch.Fields, TypeTimestampNTZ)

	if !ntz && out.MinWriterVersion < 7 {
		out.MinWriterVersion = max(out.MinWriterVersion, legacyVersion)
		return out
	}
	// Table features: reader 3 only when a reader feature is needed.
	if out.MinWriterVersion < 7 {
		if cur != nil { // a new table has no old guarantees to keep
			out.WriterFeatures = enabledWriterFeatures(out)
		}
		out.MinWriterVersion = 7
	}
	for _, f := range legacy {
		out.WriterFeatures = addFeature(out.WriterFeatures, f)
	}
	if ntz {
		if out.MinReaderVersion < 3 {
			for _, f := range legacyReaderFeatures {
				if out.MinReaderVersion >= f.version {
					out.ReaderFeatures = addFeature(out.ReaderFeatures, f.name)
				}
			}
			out.MinReaderVersion = 3
		}
		out.ReaderFeatures = addFeature(out.ReaderFeatures, "timestampNtz")
		out.WriterFeatures = addFeature(out.WriterFeatures, "timestampNtz")
	}
	return out
}

func addFeature(list []string, f string) []string {
	if slices.Contains(list, f) {
		return list
	}
	return append(list, f)
}

// protocolEqual reports whether a and b are the same protocol.
func protocolEqual(a, b *Protocol) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.MinReaderVersion == b.MinReaderVersion && a.MinWriterVersion == b.MinWriterVersion &&
		slices.Equal(a.ReaderFeatures, b.ReaderFeatures) && slices.Equal(a.WriterFeatures, b.WriterFeatures)
}

func hasFieldMetadata(fields []*Field, key string) bool {
	for _, f := range fields {
		if _, ok := f.Metadata[key]; ok {
			return true
		}
		if st, ok := f.Type.(*StructType); ok && hasFieldMetadata(st.Fields, key) {
			return true
		}
	}
	return false
}

// hasType reports whether t occurs anywhere in the fields, nested included.
func hasType(fields []*Field, t DataType) bool {
	for _, f := range fields {
		if typeContains(f.Type, t) {
			return true
		}
	}
	return false
}

func typeContains(dt, t DataType) bool {
	switch x := dt.(type) {
	case *StructType:
		return hasType(x.Fields, t)
	case *ArrayType:
		return typeContains(x.ElementType, t)
	case *MapType:
		return typeContains(x.KeyType, t) || typeContains(x.ValueType, t)
	}
	return dt == t
}
