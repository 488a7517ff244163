package fileio

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// The fast stats decoder must decode exactly what encoding/json decodes,
// and refuse what it refuses (decodeStats then asks encoding/json, so a
// refusal only costs time; an acceptance it would not make, or a different
// value, would change pruning).
func FuzzDecodeStats(f *testing.F) {
	for _, s := range []string{
		`{"numRecords":1,"minValues":{"integer":0,"double":1.234,"decimal":-5.67800,"string":"string","date":"2022-10-24","timestamp":"2022-10-24T22:59:32.846Z","struct":{"struct_element":"struct_value"}},"maxValues":{"integer":0},"nullCount":{"integer":0,"array":1}}`,
		`{"numRecords":0}`,
		`{"numRecords":3,"minValues":{"a":{"b":1e400}},"nullCount":{"a":"x"},"tightBounds":true}`,
		`{"NUMRECORDS":3,"numRecords":4,"minValues":{"a":1},"minValues":{"b":2}}`,
		`{"numRecords":3} trailing`,
		`{"numRecords":"3"}`,
		`{"numRecords":3,"maxValues":{"s":"a\u0000b\ud800\"\\"}}`,
		`{"numRecords":3,"maxValues":null,"nullCount":[1]}`,
		`[1,2]`,
		`{"numRecords":1e2}`,
		`{"numRecords":-0,"minValues":{"x":-0.0e-5}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) || !json.Valid([]byte(in)) {
			return // decodeStats never gives those to the fast decoder
		}
		fast, ok := decodeStatsFast(in)
		std, err := decodeStatsStd(in)
		switch {
		case ok && err != nil:
			t.Fatalf("fast decoder accepts what encoding/json refuses (%v): %q", err, in)
		case ok && !reflect.DeepEqual(fast, std):
			t.Fatalf("decoders differ on %q:\nfast %#v\nstd  %#v", in, fast, std)
		}
	})
}
