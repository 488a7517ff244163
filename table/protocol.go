package table

import "strconv"

// Protocol versions loglake writes for new tables.
const (
	writeReaderVersion = 1
	writeWriterVersion = 2
)

// readerFeatures are the table features (reader version 3) that loglake reads
// correctly. Anything else is refused by name.
var readerFeatures = map[string]bool{
	"timestampNtz":        true,
	"vacuumProtocolCheck": true,
}

// writerFeatures are the writer features (writer version 7) loglake honours
// when it writes.
var writerFeatures = map[string]bool{
	"appendOnly":          true,
	"invariants":          true,
	"timestampNtz":        true,
	"vacuumProtocolCheck": true,
}

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

// checkWrite returns a FeatureError when p needs a writer feature loglake
// does not implement. Writer versions 3-6 imply constraints, generated
// columns, change data feed or column mapping, which an append must honour.
func checkWrite(p *Protocol, m *Metadata) error {
	if err := checkReadAs(p, m, "write"); err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	switch {
	case p.MinWriterVersion <= 2:
		return nil
	case p.MinWriterVersion == 7:
		for _, f := range p.WriterFeatures {
			if !writerFeatures[f] {
				return &FeatureError{Feature: f, Op: "write"}
			}
		}
		return nil
	default:
		return &FeatureError{Feature: "writerVersion " + strconv.Itoa(p.MinWriterVersion), Op: "write"}
	}
}
