package expr_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table/expr"
)

// file is a FileInfo over Delta-style stats: a partition map and the stats
// JSON as encoding/json decodes it.
type file struct {
	part  map[string]*string
	stats map[string]any
}

func (f file) Partition(c string) (*string, bool) { v, ok := f.part[c]; return v, ok }

func (f file) stat(kind string, path []string) (any, bool) {
	m, ok := f.stats[kind].(map[string]any)
	if !ok {
		return nil, false
	}
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

func (f file) Min(path []string) (any, bool) { return f.stat("minValues", path) }
func (f file) Max(path []string) (any, bool) { return f.stat("maxValues", path) }
func (f file) NullCount(path []string) (int64, bool) {
	v, ok := f.stat("nullCount", path)
	n, isNum := v.(float64)
	return int64(n), ok && isNum
}
func (f file) NumRecords() (int64, bool) {
	n, ok := f.stats["numRecords"].(float64)
	return int64(n), ok
}

func statsFile(t testing.TB, part map[string]*string, statsJSON string) file {
	t.Helper()
	f := file{part: part}
	if statsJSON != "" {
		if err := json.Unmarshal([]byte(statsJSON), &f.stats); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func strp(s string) *string { return &s }

var pruneSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "p", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "attrs", Type: attrsType, Nullable: true},
}, nil)

func TestMayMatch(t *testing.T) {
	const stats = `{"numRecords": 10,
		"minValues": {"i": 1, "u": 3, "f": 2.5, "s": "c", "ts": "2026-11-24T10:00:00.000Z", "d": "2026-11-24", "b": false, "attrs": {"status": 200}},
		"maxValues": {"i": 5, "u": 9, "f": 5, "s": "ma", "ts": "2026-11-24T11:00:00.000Z", "d": "2026-11-26", "b": false, "attrs": {"status": 404}},
		"nullCount": {"i": 0, "u": 2, "f": 0, "s": 1, "ts": 0, "d": 0, "b": 0, "attrs": {"status": 3}}}`
	onePart := map[string]*string{"p": strp("eu")}
	tests := []struct {
		where string
		part  map[string]*string
		stats string
		want  bool
	}{
		{"i > 5", nil, stats, false},
		{"FALSE", nil, stats, false},
		{"NOT TRUE", nil, stats, false},
		{"TRUE", nil, stats, true},
		{"FALSE OR i = 3", nil, stats, true},
		{"TRUE AND i > 5", nil, stats, false},
		{"i > 4", nil, stats, true},
		{"i >= 5", nil, stats, true},
		{"i < 1", nil, stats, false},
		{"i <= 1", nil, stats, true},
		{"i = 0", nil, stats, false},
		{"i = 3", nil, stats, true},
		{"NOT i <= 5", nil, stats, false},
		{"i != 3", nil, stats, true},
		{"i IN (0, 6)", nil, stats, false},
		{"i IN (0, 5)", nil, stats, true},
		{"i NOT IN (1, NULL)", nil, stats, false},
		{"i = NULL", nil, stats, false},
		{"i IS NULL", nil, stats, false},
		{"i IS NOT NULL", nil, stats, true},
		{"u IS NULL", nil, stats, true},
		{"u > 250", nil, stats, false},
		{"u < 0", nil, stats, false},
		{"u > -1", nil, stats, true},
		{"f > 100", nil, stats, true}, // float maxima are not trusted (NaN)
		{"f < 2.5", nil, stats, false},
		{"f = 'NaN'", nil, stats, true},
		{"s < 'c'", nil, stats, false},
		{"s = 'b'", nil, stats, false},
		{"s > 'ma'", nil, stats, true}, // max may be a truncated prefix
		{"s > 'mb'", nil, stats, false},
		{"s >= 'maz'", nil, stats, true},
		{"s LIKE 'b%'", nil, stats, false},
		{"s LIKE 'mat%'", nil, stats, true},
		{"s LIKE 'n%'", nil, stats, false},
		{"s LIKE '%z'", nil, stats, true},
		{"s NOT LIKE 'c%'", nil, stats, true},
		{"s LIKE 'c%'", nil, `{"numRecords": 2, "minValues": {"s": "cat"}}`, true},
		{"s LIKE 'c%'", nil, `{"numRecords": 2, "minValues": {"s": "d"}}`, false},
		{"s != 'c'", nil, stats, true},
		{"ts < '2026-11-24T10:00:00Z'", nil, stats, false},
		{"ts <= '2026-11-24T10:00:00Z'", nil, stats, true},
		{"ts > '2026-11-24T11:00:00.0005Z'", nil, stats, true}, // max has ms granularity
		{"ts > '2026-11-24T11:00:00.001Z'", nil, stats, false},
		{"ts >= '2026-11-24T11:00:00.000999Z'", nil, stats, true},
		{"ts >= '2026-11-25'", nil, stats, false},
		{"d = '2026-11-23'", nil, stats, false},
		{"d = '2026-11-25'", nil, stats, true},
		{"d > '2026-11-26'", nil, stats, false},
		{"b", nil, stats, false},
		{"NOT b", nil, stats, true},
		{"attrs.status > 404", nil, stats, false},
		{"attrs.status = 404", nil, stats, true},
		{"i > 5 OR s = 'd'", nil, stats, true},
		{"i > 5 OR s = 'a'", nil, stats, false},
		{"i > 1 AND s = 'a'", nil, stats, false},
		{"NOT (i <= 5 OR s = 'a')", nil, stats, false},
		{"p = 'eu'", onePart, stats, true},
		{"p = 'us'", onePart, stats, false},
		{"p != 'eu'", onePart, stats, false},
		{"p IN ('us', 'eu')", onePart, stats, true},
		{"p LIKE 'e%'", onePart, stats, true},
		{"p NOT LIKE 'e%'", onePart, stats, false},
		{"p IS NULL", onePart, stats, false},
		{"p IS NULL", map[string]*string{"p": nil}, stats, true},
		{"p = 'eu'", map[string]*string{"p": nil}, stats, false},
		// An empty partition value is NULL, as readers take it.
		{"p IS NULL", map[string]*string{"p": strp("")}, stats, true},
		{"p IS NOT NULL", map[string]*string{"p": strp("")}, stats, false},
		{"p = ''", map[string]*string{"p": strp("")}, stats, false},
		{"d IS NULL", map[string]*string{"d": strp("")}, stats, true},
		// A date partition value with a time: the date as written, as readers take it.
		{"d = '2026-11-24'", map[string]*string{"d": strp("2026-11-24 22:00:00-05:00")}, stats, true},
		{"d = '2026-11-25'", map[string]*string{"d": strp("2026-11-24 22:00:00-05:00")}, stats, false},
		{"d = '2026-11-24'", map[string]*string{"d": strp("2026-11-24T23:00:00")}, stats, true},
		{"p != 'eu'", map[string]*string{"p": nil}, stats, false},
		{"p = 'us' OR i > 4", onePart, stats, true},
		{"p = 'us' OR i > 5", onePart, stats, false},
		{"d >= '2026-11-24'", map[string]*string{"d": strp("2026-11-23")}, "", false},
		{"d >= '2026-11-24'", map[string]*string{"d": strp("2026-11-24")}, "", true},
		{"ts = '2026-11-24T10:00:00Z'", map[string]*string{"ts": strp("2026-11-24 10:00:00")}, "", true},
		{"ts = '2026-11-24T10:00:00Z'", map[string]*string{"ts": strp("2026-11-24 10:00:00.000001")}, "", false},
		{"i = 3", map[string]*string{"i": strp("3")}, "", true},
		{"i = 3", map[string]*string{"i": strp("4")}, "", false},
		{"b", map[string]*string{"b": strp("false")}, "", false},
		{"f > 1", map[string]*string{"f": strp("NaN")}, "", true},
		{"i > 100", nil, "", true}, // no stats
		{"i > 100", nil, `{"numRecords": 0}`, true == false},
		{"i IS NULL", nil, `{"numRecords": 4, "nullCount": {"i": 4}}`, true},
		{"i IS NOT NULL", nil, `{"numRecords": 4, "nullCount": {"i": 4}}`, false},
		{"i != 7", nil, `{"numRecords": 4, "nullCount": {"i": 4}}`, false},
		{"i NOT IN (7)", nil, `{"numRecords": 4, "nullCount": {"i": 4}}`, false},
		{"i NOT IN (7)", nil, `{"numRecords": 4, "minValues": {"i": 7}, "maxValues": {"i": 7}}`, false},
		{"i NOT IN (7, 8)", nil, `{"numRecords": 4, "minValues": {"i": 7}, "maxValues": {"i": 8}}`, true},
		{"i < 9007199254740993", nil, `{"numRecords": 4, "minValues": {"i": 9007199254740993}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.where+" "+fmt.Sprint(tt.part), func(t *testing.T) {
			p := mustBind(t, tt.where, pruneSchema)
			if got := p.MayMatch(statsFile(t, tt.part, tt.stats)); got != tt.want {
				t.Errorf("MayMatch = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMayMatchSound generates small files, computes their stats the way a
// writer would (JSON, ms-truncated timestamps, truncated strings, NaN left
// out of float bounds, some stats missing) and checks that a file MayMatch
// rejects never has a row Filter keeps.
func TestMayMatchSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	files, preds := 500, 150
	if testing.Short() {
		files = 100
	}
	predicates := make([]*expr.Predicate, preds)
	for i := range predicates {
		s := genPred(rng, 3)
		e, err := expr.Parse(s)
		if err != nil {
			t.Fatalf("generated %q: %v", s, err)
		}
		if predicates[i], err = expr.Bind(e, pruneSchema); err != nil {
			t.Fatalf("generated %q: %v", s, err)
		}
	}
	pruned, checked := 0, 0
	for range files {
		rec, fi := genFile(t, rng)
		for _, p := range predicates {
			checked++
			if p.MayMatch(fi) {
				continue
			}
			pruned++
			n, err := p.Count(rec)
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("MayMatch pruned a file where %q keeps %d rows\nstats: %v\npartition: %v\nrows: %v",
					p, n, fi.stats, fi.part, rec)
			}
		}
		rec.Release()
	}
	t.Logf("pruned %d of %d file/predicate pairs", pruned, checked)
	if pruned < checked/10 {
		t.Errorf("pruned only %d of %d: the generator does not exercise pruning", pruned, checked)
	}
}

var (
	baseTS  = mustTime("2026-11-24T10:00:00Z")
	floats  = []string{"-1.5", "0", "0.5", "2", "'NaN'", "'Infinity'", "3e0"}
	alpha   = "ab"
	ops     = []string{"=", "!=", "<", "<=", ">", ">="}
	columns = []string{"i", "u", "f", "s", "ts", "d", "b", "p", "attrs.status"}
)

func randStr(rng *rand.Rand, max int) string {
	n := rng.IntN(max + 1)
	var b strings.Builder
	for range n {
		b.WriteByte(alpha[rng.IntN(len(alpha))])
	}
	return b.String()
}

func genLit(rng *rand.Rand, c string) string {
	if rng.IntN(30) == 0 {
		return "NULL"
	}
	switch c {
	case "i", "attrs.status":
		if rng.IntN(4) == 0 {
			return fmt.Sprintf("%d.5", rng.IntN(14)-7)
		}
		return fmt.Sprint(rng.IntN(14) - 7)
	case "u":
		return fmt.Sprint(rng.IntN(14) - 1)
	case "f":
		return floats[rng.IntN(len(floats))]
	case "s", "p":
		return "'" + randStr(rng, 3) + "'"
	case "ts":
		t := baseTS.Add(time.Duration(rng.IntN(6000)-500) * time.Microsecond)
		return "'" + t.Format(time.RFC3339Nano) + "'"
	case "d":
		return "'" + baseTS.AddDate(0, 0, rng.IntN(7)-1).Format("2006-01-02") + "'"
	default:
		if rng.IntN(2) == 0 {
			return "TRUE"
		}
		return "FALSE"
	}
}

func genPred(rng *rand.Rand, depth int) string {
	if depth > 0 && rng.IntN(3) > 0 {
		switch rng.IntN(3) {
		case 0:
			return "(" + genPred(rng, depth-1) + " AND " + genPred(rng, depth-1) + ")"
		case 1:
			return "(" + genPred(rng, depth-1) + " OR " + genPred(rng, depth-1) + ")"
		default:
			return "NOT (" + genPred(rng, depth-1) + ")"
		}
	}
	c := columns[rng.IntN(len(columns))]
	switch r := rng.IntN(10); {
	case r == 0:
		return c + " IS NULL"
	case r == 1:
		return c + " IS NOT NULL"
	case r == 2:
		not := ""
		if rng.IntN(2) == 0 {
			not = " NOT"
		}
		list := []string{genLit(rng, c)}
		for rng.IntN(2) == 0 {
			list = append(list, genLit(rng, c))
		}
		return c + not + " IN (" + strings.Join(list, ", ") + ")"
	case r >= 3 && r <= 5 && (c == "s" || c == "p"):
		pat := randStr(rng, 2)
		switch rng.IntN(3) {
		case 0:
			pat += "%"
		case 1:
			pat = "_" + pat + "%"
		}
		return c + " LIKE '" + pat + "'"
	case r == 4 && c == "b":
		return "b"
	}
	return c + " " + ops[rng.IntN(len(ops))] + " " + genLit(rng, c)
}

// genFile builds a small record and the Delta partition values and stats a
// writer would record for it.
func genFile(t testing.TB, rng *rand.Rand) (arrow.RecordBatch, file) {
	n := rng.IntN(6)
	rb := array.NewRecordBuilder(memory.NewGoAllocator(), pruneSchema)
	defer rb.Release()
	null := func() bool { return rng.IntN(5) == 0 }
	mins, maxs, nulls := map[string]any{}, map[string]any{}, map[string]any{}
	track := func(c string, isNull bool, v any, less func(a, b any) bool) {
		if isNull {
			nulls[c] = nulls[c].(int) + 1
			return
		}
		if v == nil {
			return // NaN: left out of the bounds
		}
		if m, ok := mins[c]; !ok || less(v, m) {
			mins[c] = v
		}
		if m, ok := maxs[c]; !ok || less(maxs[c], v) {
			_ = m
			maxs[c] = v
		}
	}
	for _, c := range []string{"i", "u", "f", "s", "ts", "d", "b", "status"} {
		nulls[c] = 0
	}
	lessI := func(a, b any) bool { return a.(int64) < b.(int64) }
	lessF := func(a, b any) bool { return a.(float64) < b.(float64) }
	lessS := func(a, b any) bool { return a.(string) < b.(string) }
	lessB := func(a, b any) bool { return !a.(bool) && b.(bool) }
	var part *string
	if rng.IntN(4) > 0 {
		s := randStr(rng, 2)
		part = &s
	}
	fvals := []float64{-1.5, 0, 0.5, 2, math.NaN(), math.Inf(1), math.Inf(-1)}
	for range n {
		isNull := null()
		v := int64(rng.IntN(11) - 5)
		appendOr(rb.Field(0), isNull, func() { rb.Field(0).(*array.Int64Builder).Append(v) })
		track("i", isNull, v, lessI)

		isNull = null()
		uv := int64(rng.IntN(11))
		appendOr(rb.Field(1), isNull, func() { rb.Field(1).(*array.Uint8Builder).Append(uint8(uv)) })
		track("u", isNull, uv, lessI)

		isNull = null()
		fv := fvals[rng.IntN(len(fvals))]
		appendOr(rb.Field(2), isNull, func() { rb.Field(2).(*array.Float64Builder).Append(fv) })
		var fstat any = fv
		if math.IsNaN(fv) || math.IsInf(fv, 0) {
			fstat = nil // JSON cannot carry them; writers leave them out
		}
		track("f", isNull, fstat, lessF)

		isNull = null()
		sv := randStr(rng, 3) + "b" // never empty, so that minima have prefixes to truncate
		appendOr(rb.Field(3), isNull, func() { rb.Field(3).(*array.StringBuilder).Append(sv) })
		track("s", isNull, sv, lessS)

		isNull = null()
		tv := baseTS.Add(time.Duration(rng.IntN(5000)) * time.Microsecond).UnixMicro()
		appendOr(rb.Field(4), isNull, func() { rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(tv)) })
		track("ts", isNull, tv, lessI)

		isNull = null()
		dv := int64(arrow.Date32FromTime(baseTS)) + int64(rng.IntN(5))
		appendOr(rb.Field(5), isNull, func() { rb.Field(5).(*array.Date32Builder).Append(arrow.Date32(dv)) })
		track("d", isNull, dv, lessI)

		isNull = null()
		bv := rng.IntN(2) == 0
		appendOr(rb.Field(6), isNull, func() { rb.Field(6).(*array.BooleanBuilder).Append(bv) })
		track("b", isNull, bv, lessB)

		if part == nil || *part == "" { // an empty partition value reads as NULL
			rb.Field(7).AppendNull()
		} else {
			rb.Field(7).(*array.StringBuilder).Append(*part)
		}

		sb := rb.Field(8).(*array.StructBuilder)
		if null() {
			sb.AppendNull()
			nulls["status"] = nulls["status"].(int) + 1
		} else {
			sb.Append(true)
			isNull = null()
			st := int64(rng.IntN(11) - 5)
			appendOr(sb.FieldBuilder(0), isNull, func() { sb.FieldBuilder(0).(*array.Int32Builder).Append(int32(st)) })
			sb.FieldBuilder(1).AppendNull()
			track("status", isNull, st, lessI)
		}
	}
	// Serialize as a writer would.
	ser := func(m map[string]any, upper bool) map[string]any {
		out := map[string]any{}
		for c, v := range m {
			switch c {
			case "ts":
				v = time.UnixMicro(v.(int64)).UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
			case "d":
				v = time.Unix(v.(int64)*86400, 0).UTC().Format("2006-01-02")
			case "s":
				if s, keep := v.(string), 1+rng.IntN(3); len(s) > keep {
					v = s[:keep] // naive truncation, for both bounds
				}
			case "status":
				out["attrs"] = map[string]any{"status": v}
				continue
			}
			if rng.IntN(12) == 0 {
				continue // a stat the writer did not record
			}
			out[c] = v
		}
		return out
	}
	nc := map[string]any{}
	for c, v := range nulls {
		if c == "status" {
			nc["attrs"] = map[string]any{"status": v}
		} else {
			nc[c] = v
		}
	}
	raw, err := json.Marshal(map[string]any{
		"numRecords": n, "minValues": ser(mins, false), "maxValues": ser(maxs, true), "nullCount": nc,
	})
	if err != nil {
		t.Fatal(err)
	}
	fi := statsFile(t, map[string]*string{"p": part}, string(raw))
	return rb.NewRecordBatch(), fi
}

func appendOr(b array.Builder, isNull bool, add func()) {
	if isNull {
		b.AppendNull()
		return
	}
	add()
}

// Columns names every top-level column MayMatch can ask about, once, so
// that decoding only their statistics prunes the same files.
func TestPredicateColumns(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us},
		{Name: "Region", Type: arrow.BinaryTypes.String},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64})},
		{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	for _, c := range []struct {
		filter string
		want   string
	}{
		{"n = 1", "n"},
		{"ts >= '2026-01-01T00:00:00Z' AND region = 'x' OR NOT (n < 3 AND ts IS NULL)", "ts,region,n"},
		{"s.a IN (1, 2)", "s"},
		{"n > 1 AND n < 3", "n"},
	} {
		p := mustBind(t, c.filter, sch)
		if got := strings.Join(p.Columns(), ","); got != c.want {
			t.Errorf("%s: Columns() = %s, want %s", c.filter, got, c.want)
		}
	}
}

// A top-level column whose name holds a dot is not the field of a struct
// of the same path: each is pruned by its own statistics.
func TestMayMatchDottedName(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "a.b", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "a", Type: arrow.StructOf(arrow.Field{Name: "b", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), Nullable: true},
	}, nil)
	f := statsFile(t, nil, `{"numRecords": 3, "minValues": {"a.b": 100, "a": {"b": 1}},
		"maxValues": {"a.b": 200, "a": {"b": 5}}, "nullCount": {"a.b": 0, "a": {"b": 1}}}`)
	for where, want := range map[string]bool{
		`"a.b" = 150`:              true,
		`"a.b" = 3`:                false,
		`a.b = 3`:                  true,
		`a.b = 150`:                false,
		`"a.b" = 150 AND a.b = 3`:  true,
		`"a.b" IS NULL`:            false,
		`a.b IS NULL`:              true,
		`"a.b" > 150 OR a.b > 100`: true,
		`"a.b" > 250 OR a.b > 100`: false,
	} {
		e, err := expr.Parse(where)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		p, err := expr.Bind(e, sch)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if got := p.MayMatch(f); got != want {
			t.Errorf("MayMatch(%s) = %v, want %v", where, got, want)
		}
	}
}
