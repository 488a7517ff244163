package fileio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
)

// ErrSchema reports a Delta schema that cannot be parsed, converted or
// matched: an unknown type name, malformed JSON, or an Arrow type with no
// Delta counterpart.
var ErrSchema = errors.New("table: invalid schema")

// DataType is a Delta column type: a PrimitiveType, a DecimalType, or one of
// the nested *StructType, *ArrayType and *MapType.
type DataType interface {
	// String returns the Delta type name ("long", "decimal(10,2)", "struct", …).
	String() string
	isDataType()
}

// PrimitiveType is a Delta primitive type, named as in the schema JSON.
type PrimitiveType string

// The Delta primitive types.
const (
	TypeString       PrimitiveType = "string"
	TypeLong         PrimitiveType = "long"
	TypeInteger      PrimitiveType = "integer"
	TypeShort        PrimitiveType = "short"
	TypeByte         PrimitiveType = "byte"
	TypeFloat        PrimitiveType = "float"
	TypeDouble       PrimitiveType = "double"
	TypeBoolean      PrimitiveType = "boolean"
	TypeBinary       PrimitiveType = "binary"
	TypeDate         PrimitiveType = "date"
	TypeTimestamp    PrimitiveType = "timestamp"
	TypeTimestampNTZ PrimitiveType = "timestamp_ntz"
)

var primitiveTypes = map[string]PrimitiveType{
	"string": TypeString, "long": TypeLong, "integer": TypeInteger, "short": TypeShort,
	"byte": TypeByte, "float": TypeFloat, "double": TypeDouble, "boolean": TypeBoolean,
	"binary": TypeBinary, "date": TypeDate, "timestamp": TypeTimestamp,
	"timestamp_ntz": TypeTimestampNTZ,
}

// String returns the type name.
func (p PrimitiveType) String() string { return string(p) }
func (PrimitiveType) isDataType()      {}

// DecimalType is decimal(Precision, Scale), Precision at most 38.
type DecimalType struct {
	Precision int
	Scale     int
}

// String returns "decimal(p,s)".
func (d DecimalType) String() string { return fmt.Sprintf("decimal(%d,%d)", d.Precision, d.Scale) }
func (DecimalType) isDataType()      {}

// StructType is a nested struct column.
type StructType struct {
	Fields []*Field
}

// String returns "struct".
func (*StructType) String() string { return "struct" }
func (*StructType) isDataType()    {}

// Field returns the field called name, or nil.
func (s *StructType) Field(name string) *Field { return findField(s.Fields, name) }

// ArrayType is an array column.
type ArrayType struct {
	ElementType  DataType
	ContainsNull bool
}

// String returns "array".
func (*ArrayType) String() string { return "array" }
func (*ArrayType) isDataType()    {}

// MapType is a map column.
type MapType struct {
	KeyType           DataType
	ValueType         DataType
	ValueContainsNull bool
}

// String returns "map".
func (*MapType) String() string { return "map" }
func (*MapType) isDataType()    {}

// Field is one column of a Schema or StructType. Metadata holds the
// field's JSON metadata (column mapping, invariants, …) as decoded JSON
// with numbers kept as json.Number.
type Field struct {
	Name     string
	Type     DataType
	Nullable bool
	Metadata map[string]any
}

// Schema is a Delta table schema, serialized as metaData.schemaString.
type Schema struct {
	Fields []*Field
}

// Field returns the top-level field called name, or nil. An exact match wins;
// otherwise names are matched case-insensitively, as Spark resolves them.
func (s *Schema) Field(name string) *Field { return findField(s.Fields, name) }

// Without returns a copy of the schema without the named top-level columns
// (matched as Field matches them). Data files hold the table schema without
// its partition columns.
func (s *Schema) Without(names ...string) *Schema {
	out := &Schema{Fields: make([]*Field, 0, len(s.Fields))}
	for _, f := range s.Fields {
		drop := false
		for _, n := range names {
			if f.Name == n || strings.EqualFold(f.Name, n) {
				drop = true
				break
			}
		}
		if !drop {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

// FoldName is the key under which column names match case-insensitively:
// two names have the same key exactly when strings.EqualFold, the rule
// Field lookups use, holds for them. Each rune becomes the smallest of its
// simple case-folding orbit ('k', 'K' and the Kelvin sign all become 'K').
func FoldName(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s) // an ASCII letter's orbit starts with its upper case
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

func findField(fields []*Field, name string) *Field {
	for _, f := range fields {
		if f.Name == name {
			return f
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// ParseSchema parses a Delta schema string (metaData.schemaString).
func ParseSchema(s string) (*Schema, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	t, err := parseType(raw)
	if err != nil {
		return nil, err
	}
	st, ok := t.(*StructType)
	if !ok {
		return nil, fmt.Errorf("%w: top-level type is %s, want struct", ErrSchema, t)
	}
	return &Schema{Fields: st.Fields}, nil
}

var decimalRe = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$`)

func parseType(v any) (DataType, error) {
	switch t := v.(type) {
	case string:
		if p, ok := primitiveTypes[t]; ok {
			return p, nil
		}
		if t == "decimal" {
			return DecimalType{Precision: 10, Scale: 0}, nil
		}
		if m := decimalRe.FindStringSubmatch(t); m != nil {
			p, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2])
			if p < 1 || p > 38 || s < 0 || s > p {
				return nil, fmt.Errorf("%w: bad decimal %q", ErrSchema, t)
			}
			return DecimalType{Precision: p, Scale: s}, nil
		}
		return nil, fmt.Errorf("%w: unknown type %q", ErrSchema, t)
	case map[string]any:
		kind, _ := t["type"].(string)
		switch kind {
		case "struct":
			rawFields, ok := t["fields"].([]any)
			if !ok && t["fields"] != nil {
				return nil, fmt.Errorf("%w: struct fields is not an array", ErrSchema)
			}
			st := &StructType{Fields: make([]*Field, 0, len(rawFields))}
			for _, rf := range rawFields {
				f, err := parseField(rf)
				if err != nil {
					return nil, err
				}
				st.Fields = append(st.Fields, f)
			}
			return st, nil
		case "array":
			et, err := parseType(t["elementType"])
			if err != nil {
				return nil, err
			}
			cn, _ := t["containsNull"].(bool)
			return &ArrayType{ElementType: et, ContainsNull: cn}, nil
		case "map":
			kt, err := parseType(t["keyType"])
			if err != nil {
				return nil, err
			}
			vt, err := parseType(t["valueType"])
			if err != nil {
				return nil, err
			}
			vcn, _ := t["valueContainsNull"].(bool)
			return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: vcn}, nil
		default:
			return nil, fmt.Errorf("%w: unknown nested type %q", ErrSchema, kind)
		}
	case nil:
		return nil, fmt.Errorf("%w: missing type", ErrSchema)
	default:
		return nil, fmt.Errorf("%w: type must be a string or an object, got %T", ErrSchema, v)
	}
}

func parseField(v any) (*Field, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: field is %T, want object", ErrSchema, v)
	}
	name, ok := m["name"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: field without a name", ErrSchema)
	}
	t, err := parseType(m["type"])
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", name, err)
	}
	f := &Field{Name: name, Type: t, Nullable: true}
	if n, ok := m["nullable"].(bool); ok {
		f.Nullable = n
	}
	if md, ok := m["metadata"].(map[string]any); ok && len(md) > 0 {
		f.Metadata = md
	}
	return f, nil
}

// String returns the schema as canonical compact JSON, the form Spark writes
// into metaData.schemaString.
func (s *Schema) String() string {
	b, err := json.Marshal(s)
	if err != nil {
		// Only unencodable metadata values can fail; keep String total.
		return fmt.Sprintf(`{"type":"struct","fields":[],"error":%q}`, err.Error())
	}
	return string(b)
}

// MarshalJSON encodes the schema as a Delta struct type.
func (s *Schema) MarshalJSON() ([]byte, error) {
	return json.Marshal(typeJSON(&StructType{Fields: s.Fields}))
}

// UnmarshalJSON decodes a Delta struct type.
func (s *Schema) UnmarshalJSON(b []byte) error {
	p, err := ParseSchema(string(b))
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

type schemaFieldJSON struct {
	Name     string         `json:"name"`
	Type     any            `json:"type"`
	Nullable bool           `json:"nullable"`
	Metadata map[string]any `json:"metadata"`
}

type schemaStructJSON struct {
	Type   string            `json:"type"`
	Fields []schemaFieldJSON `json:"fields"`
}

type schemaArrayJSON struct {
	Type         string `json:"type"`
	ElementType  any    `json:"elementType"`
	ContainsNull bool   `json:"containsNull"`
}

type schemaMapJSON struct {
	Type              string `json:"type"`
	KeyType           any    `json:"keyType"`
	ValueType         any    `json:"valueType"`
	ValueContainsNull bool   `json:"valueContainsNull"`
}

// typeJSON returns a value whose encoding/json form is the Delta JSON of t,
// with keys in the order Spark writes them.
func typeJSON(t DataType) any {
	switch t := t.(type) {
	case *StructType:
		out := schemaStructJSON{Type: "struct", Fields: make([]schemaFieldJSON, 0, len(t.Fields))}
		for _, f := range t.Fields {
			md := f.Metadata
			if md == nil {
				md = map[string]any{}
			}
			out.Fields = append(out.Fields, schemaFieldJSON{Name: f.Name, Type: typeJSON(f.Type), Nullable: f.Nullable, Metadata: md})
		}
		return out
	case *ArrayType:
		return schemaArrayJSON{Type: "array", ElementType: typeJSON(t.ElementType), ContainsNull: t.ContainsNull}
	case *MapType:
		return schemaMapJSON{Type: "map", KeyType: typeJSON(t.KeyType), ValueType: typeJSON(t.ValueType), ValueContainsNull: t.ValueContainsNull}
	case nil:
		return nil
	default:
		return t.String()
	}
}

// TypeJSON returns the Delta JSON encoding of a data type: a quoted name for
// primitives and decimals, an object for nested types.
func TypeJSON(t DataType) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(typeJSON(t)); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// Arrow returns the Arrow schema data files of this table are written and
// read with: timestamp is Timestamp(µs, "UTC"), timestamp_ntz is
// Timestamp(µs) without zone, date is Date32, decimal is Decimal128, arrays
// are lists with an "element" item, maps are Arrow maps.
func (s *Schema) Arrow() *arrow.Schema {
	fields := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		fields[i] = f.Arrow()
	}
	return arrow.NewSchema(fields, nil)
}

// Arrow returns the Arrow field for f (see Schema.Arrow).
func (f *Field) Arrow() arrow.Field {
	return arrow.Field{Name: f.Name, Type: ArrowType(f.Type), Nullable: f.Nullable}
}

// ArrowType returns the Arrow type for a Delta type (see Schema.Arrow).
func ArrowType(t DataType) arrow.DataType {
	switch t := t.(type) {
	case PrimitiveType:
		switch t {
		case TypeString:
			return arrow.BinaryTypes.String
		case TypeLong:
			return arrow.PrimitiveTypes.Int64
		case TypeInteger:
			return arrow.PrimitiveTypes.Int32
		case TypeShort:
			return arrow.PrimitiveTypes.Int16
		case TypeByte:
			return arrow.PrimitiveTypes.Int8
		case TypeFloat:
			return arrow.PrimitiveTypes.Float32
		case TypeDouble:
			return arrow.PrimitiveTypes.Float64
		case TypeBoolean:
			return arrow.FixedWidthTypes.Boolean
		case TypeBinary:
			return arrow.BinaryTypes.Binary
		case TypeDate:
			return arrow.FixedWidthTypes.Date32
		case TypeTimestamp:
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		case TypeTimestampNTZ:
			return &arrow.TimestampType{Unit: arrow.Microsecond}
		}
	case DecimalType:
		return &arrow.Decimal128Type{Precision: int32(t.Precision), Scale: int32(t.Scale)}
	case *StructType:
		fields := make([]arrow.Field, len(t.Fields))
		for i, f := range t.Fields {
			fields[i] = f.Arrow()
		}
		return arrow.StructOf(fields...)
	case *ArrayType:
		return arrow.ListOfField(arrow.Field{Name: "element", Type: ArrowType(t.ElementType), Nullable: t.ContainsNull})
	case *MapType:
		m := arrow.MapOf(ArrowType(t.KeyType), ArrowType(t.ValueType))
		m.SetItemNullable(t.ValueContainsNull)
		return m
	}
	panic(fmt.Sprintf("table: no Arrow type for Delta type %v", t))
}

// SchemaFromArrow converts an Arrow schema to a Delta schema. Unsigned
// integers widen to the next signed type; Arrow types with no Delta
// counterpart (time of day, intervals, uint64, …) are an ErrSchema.
func SchemaFromArrow(s *arrow.Schema) (*Schema, error) {
	out := &Schema{Fields: make([]*Field, 0, s.NumFields())}
	for _, af := range s.Fields() {
		f, err := fieldFromArrow(af)
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, f)
	}
	return out, nil
}

func fieldFromArrow(af arrow.Field) (*Field, error) {
	t, err := typeFromArrow(af.Type)
	if err != nil {
		return nil, fmt.Errorf("field %q: %w", af.Name, err)
	}
	return &Field{Name: af.Name, Type: t, Nullable: af.Nullable}, nil
}

func typeFromArrow(t arrow.DataType) (DataType, error) {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return TypeString, nil
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return TypeBinary, nil
	case arrow.INT64, arrow.UINT32:
		return TypeLong, nil
	case arrow.INT32, arrow.UINT16:
		return TypeInteger, nil
	case arrow.INT16, arrow.UINT8:
		return TypeShort, nil
	case arrow.INT8:
		return TypeByte, nil
	case arrow.FLOAT32, arrow.FLOAT16:
		return TypeFloat, nil
	case arrow.FLOAT64:
		return TypeDouble, nil
	case arrow.BOOL:
		return TypeBoolean, nil
	case arrow.DATE32, arrow.DATE64:
		return TypeDate, nil
	case arrow.TIMESTAMP:
		if t.(*arrow.TimestampType).TimeZone == "" {
			return TypeTimestampNTZ, nil
		}
		return TypeTimestamp, nil
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128, arrow.DECIMAL256:
		d := t.(arrow.DecimalType)
		if d.GetPrecision() > 38 {
			return nil, fmt.Errorf("%w: %s exceeds Delta's precision 38", ErrSchema, t)
		}
		return DecimalType{Precision: int(d.GetPrecision()), Scale: int(d.GetScale())}, nil
	case arrow.STRUCT:
		st := t.(*arrow.StructType)
		out := &StructType{Fields: make([]*Field, 0, st.NumFields())}
		for _, af := range st.Fields() {
			f, err := fieldFromArrow(af)
			if err != nil {
				return nil, err
			}
			out.Fields = append(out.Fields, f)
		}
		return out, nil
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW:
		ef := t.(arrow.ListLikeType).ElemField()
		et, err := typeFromArrow(ef.Type)
		if err != nil {
			return nil, err
		}
		return &ArrayType{ElementType: et, ContainsNull: ef.Nullable}, nil
	case arrow.MAP:
		mt := t.(*arrow.MapType)
		kt, err := typeFromArrow(mt.KeyType())
		if err != nil {
			return nil, err
		}
		vt, err := typeFromArrow(mt.ItemType())
		if err != nil {
			return nil, err
		}
		return &MapType{KeyType: kt, ValueType: vt, ValueContainsNull: mt.ItemField().Nullable}, nil
	case arrow.DICTIONARY:
		return typeFromArrow(t.(*arrow.DictionaryType).ValueType)
	case arrow.EXTENSION:
		return typeFromArrow(t.(arrow.ExtensionType).StorageType())
	}
	return nil, fmt.Errorf("%w: Arrow type %s has no Delta counterpart", ErrSchema, t)
}
