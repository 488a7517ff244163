package regions

import (
	"cmp"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes. In YAML it is an integer or a string with a
// unit: "64MiB", "1.5GiB", "500KB" (KiB/MiB/GiB/TiB are powers of 1024,
// KB/MB/GB/TB powers of 1000, B bytes).
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseSize parses a Size as written in a configuration file.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return Size(n), nil
	}
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		// float64(MaxInt64) is 2^63: a product equal to it overflows too.
		if err != nil || f < 0 || math.IsNaN(f) || f*u.mult >= math.MaxInt64 {
			break
		}
		return Size(f * u.mult), nil
	}
	return 0, fmt.Errorf("want a size like 64MiB, 1GB or 1048576, got %q", s)
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

// decoder fills a struct from a yaml.Node tree, strictly: unknown and
// duplicate keys are errors, every value is checked against its field's
// type, and every problem is reported with its line and dotted field path.
// It also records the line of every key it sees, for later validation
// errors, and expands ${VAR} references in scalar values.
type decoder struct {
	file   string
	lines  map[string]int
	errs   ConfigErrors
	getenv func(string) (string, bool)
}

func (d *decoder) errorf(line int, field, format string, args ...any) {
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps a struct type's yaml keys to field indexes.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	m := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		m[tag] = i
		names = append(names, tag)
	}
	return m, names
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// decodeStruct decodes mapping n into the struct v.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "want a mapping of fields, got %s", describe(n))
		return
	}
	fields, names := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "keys must be plain names")
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k.Line, field, "unknown field (known fields%s: %s)", at(path), strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.errorf(k.Line, field, "defined twice (first on line %d)", d.lines[field])
			continue
		}
		seen[k.Value] = true
		d.lines[field] = k.Line
		d.decodeValue(val, v.Field(idx), field)
	}
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return " of " + path
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// scalar returns n's value with ${VAR} references expanded, or ok=false
// after recording an error.
func (d *decoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, field, "want a single value, got %s", describe(n))
		return "", false
	}
	if n.Tag != "!!str" {
		// Numbers and booleans are used as written.
		return n.Value, true
	}
	s, err := expandEnv(n.Value, d.getenv)
	if err != nil {
		d.errorf(n.Line, field, "%v", err)
		return "", false
	}
	return s, true
}

func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return // keep the default
	}
	t := v.Type()
	switch {
	case t == durationType:
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil || dur < 0 {
			d.errorf(n.Line, field, "want a non-negative duration like 500ms, 2s or 1m, got %q", s)
			return
		}
		v.SetInt(int64(dur))
		return
	case t == sizeType:
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		sz, err := ParseSize(s)
		if err != nil {
			d.errorf(n.Line, field, "%v", err)
			return
		}
		v.SetInt(int64(sz))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, field)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		d.decodeValue(n, p.Elem(), field)
		v.Set(p)
	case reflect.String:
		if s, ok := d.scalar(n, field); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.errorf(n.Line, field, "want true or false, got %q", s)
		}
	case reflect.Int, reflect.Int64:
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil || i < 0 {
			d.errorf(n.Line, field, "want a non-negative integer, got %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Slice:
		if k := t.Elem().Kind(); k != reflect.String && k != reflect.Struct {
			panic("regions: unsupported config field type " + t.String())
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n.Line, field, "want a list, got %s", describe(n))
			return
		}
		if t.Elem().Kind() == reflect.Struct {
			out := reflect.MakeSlice(t, len(n.Content), len(n.Content))
			for i, e := range n.Content {
				elem := fmt.Sprintf("%s[%d]", field, i)
				d.lines[elem] = e.Line
				d.decodeStruct(e, out.Index(i), elem)
			}
			v.Set(out)
			return
		}
		out := make([]string, 0, len(n.Content))
		for i, e := range n.Content {
			if s, ok := d.scalar(e, fmt.Sprintf("%s[%d]", field, i)); ok {
				out = append(out, s)
			}
		}
		v.Set(reflect.ValueOf(out))
	default:
		panic("regions: unsupported config field type " + t.String())
	}
}

// expandEnv replaces ${VAR} and ${VAR:-default} in s with environment
// values; "$$" is a literal "$". A reference to an unset variable without a
// default is an error, so that a typo does not silently become "".
func expandEnv(s string, getenv func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			b.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if name == "" || strings.IndexFunc(name, func(r rune) bool {
			return !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r))
		}) >= 0 {
			return "", fmt.Errorf("bad environment reference ${%s}: want ${NAME} or ${NAME:-default}", ref)
		}
		val, ok := getenv(name)
		switch {
		case ok && val != "":
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case ok:
		default:
			return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)
		}
		i += end
	}
	return b.String(), nil
}

func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }

// sortErrors orders errors by line, those without a line (missing
// fields) last, keeping the order of equal lines.
func sortErrors(es ConfigErrors) {
	key := func(e *ConfigError) int {
		if e.Line == 0 {
			return math.MaxInt
		}
		return e.Line
	}
	slices.SortStableFunc(es, func(a, b *ConfigError) int { return cmp.Compare(key(a), key(b)) })
}
