package ingest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/table"
)

// System column names. _source_file is the landing key, _ingested_at the
// batch's start time, _rescued_data the JSON of whatever did not fit.
const (
	ColSourceFile = "_source_file"
	ColIngestedAt = "_ingested_at"
	ColRescued    = "_rescued_data"
	// ColDate is the partition column: the UTC date of the time column, or
	// of _ingested_at when the event has no usable time.
	ColDate = "date"
)

// DefaultSchema returns the default log schema: ts, service, host, level,
// message, trace_id, org_id, attrs (nested objects as a JSON string),
// egress_approved, the system columns and the date partition column.
func DefaultSchema() *table.Schema {
	f := func(name string, t table.DataType) *table.Field {
		return &table.Field{Name: name, Type: t, Nullable: true}
	}
	return &table.Schema{Fields: []*table.Field{
		f("ts", table.TypeTimestamp),
		f("service", table.TypeString),
		f("host", table.TypeString),
		f("level", table.TypeString),
		f("message", table.TypeString),
		f("trace_id", table.TypeString),
		f("org_id", table.TypeString),
		f("attrs", table.TypeString),
		f("egress_approved", table.TypeBoolean),
		f(ColSourceFile, table.TypeString),
		f(ColIngestedAt, table.TypeTimestamp),
		f(ColRescued, table.TypeString),
		f(ColDate, table.TypeDate),
	}}
}

// ParseSchema reads a custom schema: either a Delta schema JSON document
// (as in metaData.schemaString) or a column list "name type, name type, …"
// (commas or newlines; '#' starts a comment) with the Delta primitive type
// names and map<string,string>. System and partition columns that are
// missing are added by the Ingester.
func ParseSchema(data []byte) (*table.Schema, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		s, err := table.ParseSchema(string(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
		return s, nil
	}
	var s table.Schema
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, item := range splitTopLevel(line) {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, typ, ok := strings.Cut(item, " ")
			if !ok {
				return nil, fmt.Errorf("%w: schema column %q: want \"name type\"", ErrConfig, item)
			}
			typ = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(typ), " ", ""))
			var t table.DataType
			switch typ {
			case "map<string,string>":
				t = &table.MapType{KeyType: table.TypeString, ValueType: table.TypeString, ValueContainsNull: true}
			case "int":
				t = table.TypeInteger
			case "bigint":
				t = table.TypeLong
			case "bool":
				t = table.TypeBoolean
			default:
				p, err := table.ParseSchema(fmt.Sprintf(`{"type":"struct","fields":[{"name":"x","type":%q}]}`, typ))
				if err != nil {
					return nil, fmt.Errorf("%w: schema column %q: %v", ErrConfig, name, err)
				}
				t = p.Fields[0].Type
			}
			s.Fields = append(s.Fields, &table.Field{Name: name, Type: t, Nullable: true})
		}
	}
	if len(s.Fields) == 0 {
		return nil, fmt.Errorf("%w: empty schema", ErrConfig)
	}
	return &s, nil
}

// completeSchema adds the system and partition columns s lacks.
func completeSchema(s *table.Schema) *table.Schema {
	out := &table.Schema{Fields: append([]*table.Field{}, s.Fields...)}
	for _, f := range DefaultSchema().Fields {
		switch f.Name {
		case ColSourceFile, ColIngestedAt, ColRescued, ColDate:
			if out.Field(f.Name) == nil {
				out.Fields = append(out.Fields, f)
			}
		}
	}
	return out
}

// kind is how a column's values are decoded.
type kind int

const (
	kString kind = iota
	kLong
	kInt
	kShort
	kByte
	kDouble
	kFloat
	kBool
	kTimestamp // µs, UTC or NTZ
	kDate
	kBinary // base64 text
	kMap    // map<string,string>
)

// column is one data column of the table as the decoders see it.
type column struct {
	name   string
	kind   kind
	system bool // filled by the ingester, never from input
}

// mapping maps input field names to the table's Arrow columns.
type mapping struct {
	schema  *arrow.Schema
	cols    []column
	byName  map[string]int // exact names of input columns
	byFold  map[string]int // table.FoldName keys, for case-insensitive matching
	ts      int            // event time column, -1 if none
	date    int            // date partition column
	source  int
	ingest  int
	rescued int
	message int // for FormatText, -1 if none
}

func kindOf(t arrow.DataType) (kind, bool) {
	switch t.ID() {
	case arrow.STRING:
		return kString, true
	case arrow.INT64:
		return kLong, true
	case arrow.INT32:
		return kInt, true
	case arrow.INT16:
		return kShort, true
	case arrow.INT8:
		return kByte, true
	case arrow.FLOAT64:
		return kDouble, true
	case arrow.FLOAT32:
		return kFloat, true
	case arrow.BOOL:
		return kBool, true
	case arrow.TIMESTAMP:
		return kTimestamp, true
	case arrow.DATE32:
		return kDate, true
	case arrow.BINARY:
		return kBinary, true
	case arrow.MAP:
		m := t.(*arrow.MapType)
		if m.KeyType().ID() == arrow.STRING && m.ItemType().ID() == arrow.STRING {
			return kMap, true
		}
	}
	return 0, false
}

// newMapping checks that sch (the table's Arrow schema, partition columns
// included) can be ingested into and indexes its columns.
func newMapping(sch *arrow.Schema, timeCol string, partitions []string) (*mapping, error) {
	m := &mapping{schema: sch, byName: map[string]int{}, byFold: map[string]int{},
		ts: -1, date: -1, source: -1, ingest: -1, rescued: -1, message: -1}
	for i, f := range sch.Fields() {
		k, ok := kindOf(f.Type)
		if !ok {
			return nil, fmt.Errorf("%w: column %q has type %s, which ingest cannot fill", ErrConfig, f.Name, f.Type)
		}
		c := column{name: f.Name, kind: k}
		switch f.Name {
		case ColSourceFile:
			c.system, m.source = true, i
		case ColIngestedAt:
			c.system, m.ingest = true, i
		case ColRescued:
			c.system, m.rescued = true, i
		case ColDate:
			c.system, m.date = true, i
		}
		if c.system && (f.Name == ColDate && k != kDate || f.Name == ColIngestedAt && k != kTimestamp ||
			(f.Name == ColSourceFile || f.Name == ColRescued) && k != kString) {
			return nil, fmt.Errorf("%w: system column %q has type %s", ErrConfig, f.Name, f.Type)
		}
		if f.Name == timeCol {
			if k != kTimestamp {
				return nil, fmt.Errorf("%w: time column %q has type %s, want timestamp", ErrConfig, f.Name, f.Type)
			}
			m.ts = i
		}
		if f.Name == "message" && k == kString {
			m.message = i
		}
		m.cols = append(m.cols, c)
		if !c.system {
			m.byName[f.Name] = i
			if _, dup := m.byFold[table.FoldName(f.Name)]; !dup {
				m.byFold[table.FoldName(f.Name)] = i
			}
		}
	}
	for _, need := range []struct {
		idx  int
		name string
	}{{m.source, ColSourceFile}, {m.ingest, ColIngestedAt}, {m.rescued, ColRescued}, {m.date, ColDate}} {
		if need.idx < 0 {
			return nil, fmt.Errorf("%w: table has no %q column", ErrConfig, need.name)
		}
	}
	if len(partitions) != 1 || partitions[0] != ColDate {
		return nil, fmt.Errorf("%w: table is partitioned by %v; ingest writes tables partitioned by [%s]", ErrConfig, partitions, ColDate)
	}
	return m, nil
}

// lookup finds the input column called name ([]byte to avoid allocating).
func (m *mapping) lookup(name []byte) int {
	if i, ok := m.byName[string(name)]; ok {
		return i
	}
	if i, ok := m.byFold[table.FoldName(string(name))]; ok {
		return i
	}
	return -1
}

// splitTopLevel splits s at commas outside <…>.
func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
