package fileio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// TestStringMinMaxMatchesPerValue checks that folding only a batch's
// extremes (stringMinMax) leaves exactly the bounds and truncation flag that
// observing every value would, over random batches mixing empty, short,
// long, multi-byte and U+10FFFF-continued strings; and that it refuses a
// truncated max exactly when a value under it goes on with U+10FFFF (value
// by value, a value that is the max only for a while can refuse it too).
func TestStringMinMaxMatchesPerValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"", "a", "b", "f", "0", "é", "\U0010FFFF", "z", "~", "\x00"}
	word := func() string {
		var sb strings.Builder
		n := r.IntN(3)
		if r.IntN(4) == 0 {
			n = StatsStringPrefix - 2 + r.IntN(6)
		}
		for range n {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for trial := range 3000 {
		vals := make([]string, 1+r.IntN(12))
		valid := make([]bool, len(vals))
		for i := range vals {
			vals[i] = word()
			valid[i] = r.IntN(5) != 0
		}
		allValid := r.IntN(2) == 0
		isValid := func(i int) bool { return valid[i] }
		var want, got colStats
		for _, batch := range [][2]int{{0, len(vals) / 2}, {len(vals) / 2, len(vals)}} {
			part := vals[batch[0]:batch[1]]
			for i, v := range part {
				if allValid || valid[batch[0]+i] {
					want.observeString(v)
				}
			}
			// Offsets as a sliced Arrow array has them: not starting at 0.
			data := []byte("prefix")
			offs := []int32{int32(len(data))}
			for _, v := range part {
				data = append(data, v...)
				offs = append(offs, int32(len(data)))
			}
			stringMinMax(&got, offs, data[offs[0]:], allValid, func(i int) bool { return isValid(batch[0] + i) })
		}
		mustRefuse := false
		for i, v := range vals {
			if p, long := stringPrefix(v); (allValid || valid[i]) && long && p == want.maxS &&
				strings.HasPrefix(v[len(p):], "\U0010FFFF") {
				mustRefuse = true
			}
		}
		if want.seen != got.seen || want.minS != got.minS || want.maxS != got.maxS ||
			want.maxTrunc != got.maxTrunc || got.invalid && !want.invalid || mustRefuse && !got.invalid {
			t.Fatalf("trial %d, values %q (allValid %v, valid %v): per value min %q max %q trunc %v invalid %v; extremes min %q max %q trunc %v invalid %v",
				trial, vals, allValid, valid, want.minS, want.maxS, want.maxTrunc, want.invalid,
				got.minS, got.maxS, got.maxTrunc, got.invalid)
		}
	}
}

// plainASCII's eight-bytes-at-a-time test agrees with a byte-at-a-time one
// on every byte value at every position of strings of 0–24 bytes.
func TestPlainASCII(t *testing.T) {
	slow := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x80 || c == '\\' {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				if n > 0 {
					b[pos] = byte(c)
				}
				if got, want := plainASCII(string(b)), slow(string(b)); got != want {
					t.Fatalf("plainASCII(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestWriterStringStatsFromPages checks a file's string statistics, which
// the column writer takes from the Parquet page statistics where a chunk
// fit in one page, against stringMinMax over every record: records of
// random strings (multi-byte, U+10FFFF-continued, longer than the prefix,
// long enough that pages fill in the middle of a record), with nulls and
// all-null records, and that both ways of folding a chunk in were taken.
func TestWriterStringStatsFromPages(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", "é", "\U0010FFFF", "z", "~", "0", "\xff"}
	word := func() string {
		var sb strings.Builder
		n := r.IntN(StatsStringPrefix + 8)
		if r.IntN(50) == 0 {
			n = 8000 // a few of these fill a 256 KiB page
		}
		for range n {
			sb.WriteString(alphabet[r.IntN(len(alphabet)-1)])
		}
		if r.IntN(2000) == 0 {
			sb.WriteString("\xff") // not UTF-8: no bounds from then on
		}
		return sb.String()
	}
	sch := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	for trial := range 4 {
		var buf bytes.Buffer
		w, err := NewFileWriter(&buf, sch, nil)
		if err != nil {
			t.Fatal(err)
		}
		var want colStats
		want.kind = statString
		var fromPages, byValue int
		for k := range 40 {
			b := array.NewStringBuilder(memory.DefaultAllocator)
			rows := 1 + r.IntN(3000)
			for range rows {
				if k%7 == 3 || r.IntN(4) == 0 {
					b.AppendNull()
					continue
				}
				v := word()
				if trial%2 == 0 {
					v = strings.ReplaceAll(v, "\xff", "")
				}
				b.Append(v)
			}
			col := b.NewArray()
			b.Release()
			want.update(col, nil)
			rec := array.NewRecordBatch(sch, []arrow.Array{col}, int64(col.Len()))
			col.Release()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			if w.skip != nil && w.skip[0] {
				fromPages++
			} else {
				byValue++
			}
		}
		st, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		min, hasMin := st.MinValues["s"]
		max, hasMax := st.MaxValues["s"]
		if fmt.Sprint(st.NullCount["s"]) != fmt.Sprint(want.nulls) {
			t.Errorf("trial %d: nullCount %v, want %d", trial, st.NullCount["s"], want.nulls)
		}
		wantMax := want.maxS
		if want.maxTrunc {
			wantMax += string(utf8.MaxRune)
		}
		switch {
		case want.invalid:
			if hasMin || hasMax {
				t.Errorf("trial %d: bounds %q..%q, want none", trial, min, max)
			}
		case min != want.minS || max != wantMax:
			t.Errorf("trial %d: bounds %q..%q, want %q..%q", trial, min, max, want.minS, wantMax)
		}
		if fromPages == 0 || byValue == 0 {
			t.Errorf("trial %d: %d chunks from page statistics, %d value by value: want both", trial, fromPages, byValue)
		}
	}
}

// The two edges of taking a chunk's string extremes from page statistics:
// a page filled in the middle of a chunk (its first values went out with
// the flushed page) and a chunk split over two row groups (extremes from
// both parts).
func TestWriterStringStatsPageEdges(t *testing.T) {
	sch := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	write := func(opts *WriterOptions, records ...[]string) *Stats {
		t.Helper()
		var buf bytes.Buffer
		w, err := NewFileWriter(&buf, sch, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, vals := range records {
			b := array.NewStringBuilder(memory.DefaultAllocator)
			b.AppendValues(vals, nil)
			col := b.NewArray()
			b.Release()
			rec := array.NewRecordBatch(sch, []arrow.Array{col}, int64(col.Len()))
			col.Release()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		st, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	fill := func(n int, v string) []string { return slices.Repeat([]string{v}, n) }

	// The extremes and a value larger than a page in the first batch of
	// values the writer encodes, more values after it.
	flushed := append([]string{"a", "z", strings.Repeat("k", 300<<10)}, fill(2000, "m")...)
	st := write(nil, fill(100, "m"), flushed)
	if st.MinValues["s"] != "a" || st.MaxValues["s"] != "z" {
		t.Errorf("page flushed mid-chunk: bounds %q..%q, want a..z", st.MinValues["s"], st.MaxValues["s"])
	}

	// Empty strings in a value buffer holding a nil slice (arrow-go's
	// statistics skip a nil value): the min is "", in the Delta and the
	// Parquet statistics.
	var buf bytes.Buffer
	w, err := NewFileWriter(&buf, sch, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := array.NewStringBuilder(memory.DefaultAllocator)
	first.AppendValues([]string{"b", "c"}, nil)
	col := first.NewArray()
	first.Release()
	offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 0, 0}))
	empty := array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, offs, memory.NewBufferBytes(nil)}, nil, 0, 0)
	for _, c := range []arrow.Array{col, array.MakeFromData(empty)} {
		rec := array.NewRecordBatch(sch, []arrow.Array{c}, int64(c.Len()))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		c.Release()
	}
	empty.Release()
	if st, err = w.Close(); err != nil {
		t.Fatal(err)
	}
	if st.MinValues["s"] != "" || st.MaxValues["s"] != "c" {
		t.Errorf("empty strings in a nil value buffer: Delta bounds %q..%q, want \"\"..c", st.MinValues["s"], st.MaxValues["s"])
	}
	pf, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	if ps, err := cc.Statistics(); err != nil || !ps.HasMinMax() || string(ps.(*metadata.ByteArrayStatistics).Min()) != "" {
		t.Errorf("empty strings in a nil value buffer: Parquet statistics %v (%v), want min \"\"", ps, err)
	}

	// The max in the first row group, the min in the second.
	split := append(append(fill(500, "m"), "y"), fill(1000, "m")...)
	split[1200] = "b"
	st = write(&WriterOptions{RowGroupRows: 1000}, fill(10, "m"), split)
	if st.MinValues["s"] != "b" || st.MaxValues["s"] != "y" {
		t.Errorf("chunk over two row groups: bounds %q..%q, want b..y", st.MinValues["s"], st.MaxValues["s"])
	}
}
