package fileio_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/table/internal/fileio"
)

// protocolExample is the "JSON Encoded Table Schema" example of PROTOCOL.md,
// compacted, with a few more types.
const protocolExample = `{"type":"struct","fields":[` +
	`{"name":"a","type":"integer","nullable":false,"metadata":{}},` +
	`{"name":"b","type":{"type":"struct","fields":[{"name":"d","type":"integer","nullable":false,"metadata":{}}]},"nullable":true,"metadata":{}},` +
	`{"name":"c","type":{"type":"array","elementType":"integer","containsNull":false},"nullable":true,"metadata":{}},` +
	`{"name":"e","type":{"type":"array","elementType":{"type":"struct","fields":[{"name":"d","type":"integer","nullable":false,"metadata":{}}]},"containsNull":true},"nullable":true,"metadata":{}},` +
	`{"name":"f","type":{"type":"map","keyType":"string","valueType":"string","valueContainsNull":true},"nullable":true,"metadata":{}},` +
	`{"name":"ts","type":"timestamp","nullable":true,"metadata":{"delta.columnMapping.id":5,"comment":"event time"}},` +
	`{"name":"ntz","type":"timestamp_ntz","nullable":true,"metadata":{}},` +
	`{"name":"day","type":"date","nullable":true,"metadata":{}},` +
	`{"name":"amount","type":"decimal(12,3)","nullable":true,"metadata":{}},` +
	`{"name":"l","type":"long","nullable":true,"metadata":{}},` +
	`{"name":"s","type":"short","nullable":true,"metadata":{}},` +
	`{"name":"y","type":"byte","nullable":true,"metadata":{}},` +
	`{"name":"fl","type":"float","nullable":true,"metadata":{}},` +
	`{"name":"db","type":"double","nullable":true,"metadata":{}},` +
	`{"name":"ok","type":"boolean","nullable":true,"metadata":{}},` +
	`{"name":"raw","type":"binary","nullable":true,"metadata":{}},` +
	`{"name":"str","type":"string","nullable":true,"metadata":{}}]}`

func TestParseSchemaTypes(t *testing.T) {
	s, err := fileio.ParseSchema(protocolExample)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		typ      fileio.DataType
		nullable bool
		arrow    arrow.DataType
	}{
		{"a", fileio.TypeInteger, false, arrow.PrimitiveTypes.Int32},
		{"b", &fileio.StructType{Fields: []*fileio.Field{{Name: "d", Type: fileio.TypeInteger}}}, true,
			arrow.StructOf(arrow.Field{Name: "d", Type: arrow.PrimitiveTypes.Int32})},
		{"c", &fileio.ArrayType{ElementType: fileio.TypeInteger}, true,
			arrow.ListOfField(arrow.Field{Name: "element", Type: arrow.PrimitiveTypes.Int32})},
		{"f", &fileio.MapType{KeyType: fileio.TypeString, ValueType: fileio.TypeString, ValueContainsNull: true}, true,
			arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)},
		{"ts", fileio.TypeTimestamp, true, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{"ntz", fileio.TypeTimestampNTZ, true, &arrow.TimestampType{Unit: arrow.Microsecond}},
		{"day", fileio.TypeDate, true, arrow.FixedWidthTypes.Date32},
		{"amount", fileio.DecimalType{Precision: 12, Scale: 3}, true, &arrow.Decimal128Type{Precision: 12, Scale: 3}},
		{"l", fileio.TypeLong, true, arrow.PrimitiveTypes.Int64},
		{"s", fileio.TypeShort, true, arrow.PrimitiveTypes.Int16},
		{"y", fileio.TypeByte, true, arrow.PrimitiveTypes.Int8},
		{"fl", fileio.TypeFloat, true, arrow.PrimitiveTypes.Float32},
		{"db", fileio.TypeDouble, true, arrow.PrimitiveTypes.Float64},
		{"ok", fileio.TypeBoolean, true, arrow.FixedWidthTypes.Boolean},
		{"raw", fileio.TypeBinary, true, arrow.BinaryTypes.Binary},
		{"str", fileio.TypeString, true, arrow.BinaryTypes.String},
	}
	as := s.Arrow()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := s.Field(tc.name)
			if f == nil {
				t.Fatalf("field %q missing", tc.name)
			}
			if f.Nullable != tc.nullable {
				t.Errorf("nullable = %v, want %v", f.Nullable, tc.nullable)
			}
			if fileio.TypeJSON(f.Type) != fileio.TypeJSON(tc.typ) {
				t.Errorf("type = %s, want %s", fileio.TypeJSON(f.Type), fileio.TypeJSON(tc.typ))
			}
			idx := as.FieldIndices(tc.name)
			if len(idx) != 1 {
				t.Fatalf("arrow field %q missing", tc.name)
			}
			if got := as.Field(idx[0]).Type; !arrow.TypeEqual(got, tc.arrow) {
				t.Errorf("arrow type = %s, want %s", got, tc.arrow)
			}
		})
	}
	if md := s.Field("ts").Metadata; md["comment"] != "event time" || md["delta.columnMapping.id"] != json.Number("5") {
		t.Errorf("metadata = %#v", md)
	}
	if s.Field("STR") == nil {
		t.Error("case-insensitive lookup failed")
	}
	if s.Field("nope") != nil {
		t.Error("found a field that does not exist")
	}
}

func TestSchemaStringCanonical(t *testing.T) {
	s, err := fileio.ParseSchema(protocolExample)
	if err != nil {
		t.Fatal(err)
	}
	// Our fixture is in Spark's canonical form apart from metadata key order,
	// which encoding/json sorts; "comment" < "delta…" already.
	want := strings.Replace(protocolExample, `{"delta.columnMapping.id":5,"comment":"event time"}`, `{"comment":"event time","delta.columnMapping.id":5}`, 1)
	if got := s.String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back fileio.Schema
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.String() != s.String() {
		t.Errorf("JSON round trip changed the schema:\n%s\n%s", back.String(), s.String())
	}
}

func TestSchemaFromArrowRoundTrip(t *testing.T) {
	s, err := fileio.ParseSchema(protocolExample)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fileio.SchemaFromArrow(s.Arrow())
	if err != nil {
		t.Fatal(err)
	}
	// Arrow carries no Delta field metadata; compare without it.
	for _, f := range s.Fields {
		f.Metadata = nil
	}
	if back.String() != s.String() {
		t.Errorf("SchemaFromArrow(Arrow()) =\n%s\nwant\n%s", back.String(), s.String())
	}
}

func TestParseSchemaErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown primitive", `{"type":"struct","fields":[{"name":"x","type":"varchar2","nullable":true,"metadata":{}}]}`, `unknown type "varchar2"`},
		{"unknown nested", `{"type":"struct","fields":[{"name":"x","type":{"type":"union"},"nullable":true,"metadata":{}}]}`, `unknown nested type "union"`},
		{"bad decimal", `{"type":"struct","fields":[{"name":"x","type":"decimal(40,2)","nullable":true,"metadata":{}}]}`, `bad decimal`},
		{"not struct", `{"type":"array","elementType":"long","containsNull":true}`, `want struct`},
		{"bad json", `{"type":"struct",`, `invalid schema`},
		{"no name", `{"type":"struct","fields":[{"type":"long"}]}`, `without a name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fileio.ParseSchema(tc.in)
			if !errors.Is(err, fileio.ErrSchema) {
				t.Fatalf("err = %v, want ErrSchema", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSchemaFromArrowErrors(t *testing.T) {
	for _, dt := range []arrow.DataType{arrow.FixedWidthTypes.Time64us, arrow.PrimitiveTypes.Uint64, arrow.FixedWidthTypes.MonthInterval} {
		_, err := fileio.SchemaFromArrow(arrow.NewSchema([]arrow.Field{{Name: "x", Type: dt}}, nil))
		if !errors.Is(err, fileio.ErrSchema) {
			t.Errorf("%s: err = %v, want ErrSchema", dt, err)
		}
	}
}

// TestParseSchemaCorpus parses the schema of every table in the shared
// corpus and checks the canonical form parses back to itself.
func TestParseSchemaCorpus(t *testing.T) {
	dir := sharedCorpusDir(t)
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "_delta_log", "00000000000000000000.json"))
	if len(logs) == 0 {
		t.Skip("no commit 0 files in corpus")
	}
	parsed := 0
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var a struct {
				MetaData *struct {
					SchemaString string `json:"schemaString"`
				} `json:"metaData"`
			}
			if json.Unmarshal(sc.Bytes(), &a) != nil || a.MetaData == nil {
				continue
			}
			s, err := fileio.ParseSchema(a.MetaData.SchemaString)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				continue
			}
			again, err := fileio.ParseSchema(s.String())
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Errorf("%s: canonical form does not round-trip: %v", p, err)
			}
			_ = s.Arrow()
			parsed++
		}
		f.Close()
	}
	if parsed < 10 {
		t.Errorf("parsed only %d schemas", parsed)
	}
}

// sharedCorpusDir returns the shared Delta corpus or skips the test.
func sharedCorpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "..", "shared", "testdata", "delta")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Delta corpus not found at %s (see DESIGN.md): %v", dir, err)
	}
	return dir
}

func TestSchemaWithout(t *testing.T) {
	s, err := fileio.ParseSchema(protocolExample)
	if err != nil {
		t.Fatal(err)
	}
	d := s.Without("DAY", "ts", "absent")
	if len(d.Fields) != len(s.Fields)-2 || d.Field("day") != nil || d.Field("ts") != nil || d.Field("a") == nil {
		t.Errorf("Without: %s", d)
	}
	if len(s.Fields) != 17 {
		t.Errorf("Without modified the receiver: %d fields", len(s.Fields))
	}
}

func FuzzParseSchema(f *testing.F) {
	f.Add(protocolExample)
	f.Add(`{"type":"struct","fields":[]}`)
	f.Add(`{"type":"struct","fields":[{"name":"x","type":"decimal(5,2)","nullable":true,"metadata":{"k":[1,{"a":null}]}}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		s, err := fileio.ParseSchema(in)
		if err != nil {
			if !errors.Is(err, fileio.ErrSchema) {
				t.Fatalf("error %v is not ErrSchema", err)
			}
			return
		}
		again, err := fileio.ParseSchema(s.String())
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", s, err)
		}
		if again.String() != s.String() {
			t.Fatalf("canonical form is not stable:\n%s\n%s", s, again)
		}
		_ = s.Arrow()
	})
}
