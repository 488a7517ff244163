package fileio

import (
	"math/rand/v2"
	"strings"
	"testing"
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
