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

// FuzzParseStatsOf: decoding part of the statistics gives what decoding all
// of them and dropping the rest gives, and the same error, whichever
// decoder answers.
func FuzzParseStatsOf(f *testing.F) {
	for _, s := range []string{
		`{"numRecords":200,"minValues":{"host":"h","TS":"2026-11-10T23:02:27.595Z","n":-1.5e3},"maxValues":{"message":"m","s":{"a":true,"b":null}},"nullCount":{"host":0,"ts":0,"s":{"a":1}},"tightBounds":false}`,
		`{"numRecords":3,"minValues":{"a":1,"a":2,"b":{"c":[1]}},"nullCount":{"a":0,"b":"x"}}`,
		`{"numRecords":3,"minValues":{"a":1},"minValues":{"b":2}}`,
		`{"numRecords":3,"maxValues":{"s":"a\u0000b","t":1},"nullCount":{"s":0,"t":0}}`,
		`{"numRecords":3,"minValues":{"a":tru},"nullCount":{"a":0}}`,
		`{"numRecords":3,"minValues":"x"}`,
		`{"numRecords":3,"minValues":{"a":{"b":{"c":1}}}} x`,
		`{"numRecords":null,"nullCount":{"a":0}}`,
	} {
		f.Add(s)
	}
	parts := []*StatsPart{{}, {Columns: []string{"a", "ts"}}, {Columns: []string{"host", "s", "t"}, NoBounds: true}, {NoBounds: true}}
	f.Fuzz(func(t *testing.T, in string) {
		_, errAll := ParseStats(in)
		for _, part := range parts {
			got, err := ParseStatsOf(in, part)
			if (err == nil) != (errAll == nil) || err != nil && err.Error() != errAll.Error() {
				t.Fatalf("%q %+v: error %v, ParseStats's %v", in, part, err, errAll)
			}
			var want *Stats
			if a, _ := ParseStats(in); a != nil {
				r := rawStats{MinValues: a.MinValues, MaxValues: a.MaxValues, NullCount: a.NullCount}.only(part)
				want = &Stats{NumRecords: a.NumRecords, MinValues: r.MinValues, MaxValues: r.MaxValues, NullCount: r.NullCount, TightBounds: a.TightBounds}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q %+v:\ngot  %#v\nwant %#v", in, part, got, want)
			}
		}
	})
}

// FuzzDecodeStatsPlain: whatever the plain decoder accepts is valid JSON
// that encoding/json decodes to the same value.
func FuzzDecodeStatsPlain(f *testing.F) {
	for _, s := range []string{
		`{"numRecords":200,"minValues":{"host":"region-00-svc-00-1","ts":"2026-11-10T23:02:27.595Z","n":-1.5e3},"maxValues":{"message":"request 926944124247237604 handl` + "\U0010FFFF" + `","s":{"a":true,"b":null}},"nullCount":{"host":0,"ts":0},"tightBounds":false}`,
		`{"numRecords":1,"minValues":{"integer":0,"double":1.234,"decimal":-5.67800,"string":"string","date":"2022-10-24","timestamp":"2022-10-24T22:59:32.846Z","struct":{"struct_element":"struct_value"}},"maxValues":{"integer":0},"nullCount":{"integer":0,"array":1}}`,
		` { "numRecords" : 0 , "minValues" : { } } `,
		`{"numRecords":null,"minValues":null,"tightBounds":null}`,
		`{"numRecords":3,"minValues":{"a":1,"a":2}}`,
		`{"numRecords":3,"minValues":{"a":1},"minValues":{"b":2}}`,
		`{"NUMRECORDS":3}`,
		`{"numRecords":3,"maxValues":{"s":"a\u0000b"}}`,
		`{"numRecords":3} trailing`,
		`{"numRecords":01}`,
		`{"numRecords":1.}`,
		`{"numRecords":3,"nullCount":[1]}`,
		"{\"numRecords\":3,\"maxValues\":{\"s\":\"\xff\"}}",
		"{\"numRecords\":3,\"maxValues\":{\"s\":\"a\tb\"}}",
		`{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		plain, ok := decodeStatsPlain(in, nil)
		if !ok {
			return
		}
		if !utf8.ValidString(in) || !json.Valid([]byte(in)) {
			t.Fatalf("plain decoder accepts what is not valid JSON: %q", in)
		}
		std, err := decodeStatsStd(in)
		if err != nil {
			t.Fatalf("plain decoder accepts what encoding/json refuses (%v): %q", err, in)
		}
		if !reflect.DeepEqual(plain, std) {
			t.Fatalf("decoders differ on %q:\nplain %#v\nstd   %#v", in, plain, std)
		}
	})
}
