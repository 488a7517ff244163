package ingest

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// valueDict dictionary-encodes one string column while it is decoded: a
// row stages the index of its value instead of a copy of it, and the
// record carries the column as dictionary<int32, string>, which the table
// writer maps onto its file dictionary once per distinct value instead of
// hashing every row again (low-cardinality columns: service, level, org,
// short messages, a file's constant _source_file). The dictionary lives as long as the
// decoder and only grows; a column whose values are not few (trace ids,
// free text) leaves it (index reports false) and is staged plain.
//
// The values are kept in the layout of an Arrow string array, and each
// record's dictionary is a view of the first entries: entries are only
// ever appended, so a view handed to a writer never changes under it.
type valueDict struct {
	offs  []int32 // entry k is data[offs[k]:offs[k+1]]
	data  []byte
	memo  map[string]int32
	slots []valueSlot // direct-mapped by edgeKey.hash
	rows  int         // values looked up
}

// valueSlot caches the entry k of a value by its edgeKey.
type valueSlot struct {
	edge edgeKey // zero for an empty slot
	k    int32
}

// A column stays dictionary-encoded while its dictionary holds at most
// maxValueDictEntries entries and maxValueDictBytes bytes and, past
// minDistinctRule entries, at most one distinct value in 16 rows (the
// table writer's rule for a dictionary column is the same share).
const (
	maxValueDictEntries = 4096
	maxValueDictBytes   = 128 << 10
	minDistinctRule     = 256
	valueDictSlots      = 512 // a power of two
)

func newValueDict() *valueDict {
	return &valueDict{offs: []int32{0}, memo: map[string]int32{}, slots: make([]valueSlot, valueDictSlots)}
}

// value returns entry k.
func (d *valueDict) value(k int32) []byte { return d.data[d.offs[k]:d.offs[k+1]] }

// index returns v's entry, adding it when it is new; false when the
// column has too many distinct values to stay dictionary-encoded.
func (d *valueDict) index(v []byte) (int32, bool) {
	d.rows++
	// A slot chosen by a cheap hash is tried before the map: a few word
	// compares instead of hashing every byte.
	e := edgeKeyOf(v)
	s := &d.slots[e.hash()&(valueDictSlots-1)]
	if s.edge == e && (e.whole() || string(d.value(s.k)) == string(v)) {
		return s.k, true
	}
	k, ok := d.memo[string(v)]
	if !ok {
		n := len(d.offs) - 1
		if n >= maxValueDictEntries || len(d.data)+len(v) > maxValueDictBytes || n >= minDistinctRule && n*16 > d.rows {
			return 0, false
		}
		k = int32(n)
		d.data = append(d.data, v...)
		d.offs = append(d.offs, int32(len(d.data)))
		d.memo[string(v)] = k
	}
	*s = valueSlot{edge: e, k: k}
	return k, true
}

// values returns the entries so far as Arrow string data; the caller
// releases it.
func (d *valueDict) values() *array.Data {
	bufs := []*memory.Buffer{nil, memory.NewBufferBytes(asBytes(d.offs)), memory.NewBufferBytes(d.data)}
	return array.NewData(arrow.BinaryTypes.String, len(d.offs)-1, bufs, nil, 0, 0)
}
