package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestValueDict decodes the same lines with and without dictionary-encoded
// string columns and checks that every record holds the same values: a
// small vocabulary with escapes and nulls (level), values that agree in
// their first and last 8 bytes (message), a column that turns out to have
// too many distinct values in the middle of a record (service), distinct
// values (trace_id), and the file's constant _source_file.
func TestValueDict(t *testing.T) {
	m, err := newMapping(completeSchema(DefaultSchema()).Arrow(), "ts", []string{ColDate})
	if err != nil {
		t.Fatal(err)
	}
	plain := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
	defer plain.release()
	dict := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
	defer dict.release()
	dict.encodeDicts()
	levels := []string{`"INFO"`, `"WARN"`, `"\u00e9rror"`, `"a-level-name-longer-than-16-bytes"`, `null`}
	line := func(k int) []byte {
		svc := fmt.Sprintf("svc-%d", k%7)
		if k >= 3000 {
			svc = fmt.Sprintf("svc-%d", k) // from here on, too many to stay a dictionary
		}
		return fmt.Appendf(nil, `{"level":%s,"message":"aaaaaaaa-%d-bbbbbbbb","service":%q,"trace_id":"%032x"}`,
			levels[k%len(levels)], k%13, svc, k*7919)
	}
	row := 0
	for _, n := range []int{1, 1000, 2500, 1700} {
		for _, b := range []*builder{plain, dict} {
			b.reserve(n)
			f := newFileCtx(fmt.Sprint("landing/f-", n))
			for k := row; k < row+n; k++ {
				b.ndjsonLine(f, int64(k+1), line(k))
			}
		}
		want, got := plain.finish(), dict.finish()
		for c, fld := range m.schema.Fields() {
			if v, ok := got.Column(c).(interface{ ValidateFull() error }); ok {
				if err := v.ValidateFull(); err != nil {
					t.Fatalf("rows from %d: column %s: %v", row, fld.Name, err)
				}
			}
			for i := range n {
				w, g := valueText(want.Column(c), i), valueText(got.Column(c), i)
				if w != g {
					t.Fatalf("row %d column %s = %s, want %s", row+i, fld.Name, g, w)
				}
			}
		}
		isDict := func(name string) bool {
			return got.Schema().Field(got.Schema().FieldIndices(name)[0]).Type.ID() == arrow.DICTIONARY
		}
		if !isDict("level") || !isDict("message") || !isDict(ColSourceFile) {
			t.Errorf("rows from %d: schema %s, want level, message and %s dictionary-encoded", row, got.Schema(), ColSourceFile)
		}
		if row > 0 && isDict("trace_id") || row+n > 3000 && isDict("service") {
			t.Errorf("rows from %d: schema %s, want trace_id and past row 3000 service plain", row, got.Schema())
		}
		want.Release()
		got.Release()
		row += n
	}
}

// valueText is row i of a string or dictionary column (or any other
// column's text), "null" for null.
func valueText(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "null"
	}
	if d, ok := a.(*array.Dictionary); ok {
		return fmt.Sprintf("%q", d.Dictionary().(*array.String).Value(d.GetValueIndex(i)))
	}
	if s, ok := a.(*array.String); ok {
		return fmt.Sprintf("%q", s.Value(i))
	}
	return strings.TrimSpace(a.ValueStr(i))
}
