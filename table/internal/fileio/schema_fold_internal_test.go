package fileio

import (
	"strings"
	"testing"
	"unicode"
)

// FoldName agrees with strings.EqualFold, which Field lookups use, on
// names where lower-casing does not (the long s, final sigma, Kelvin sign).
func TestFoldName(t *testing.T) {
	names := []string{"level", "LEVEL", "Level", "message", "meſſage", "MESSAGE", "aσ", "aς", "AΣ",
		"k", "K", "\u212a", "straße", "STRASSE", "ǅ", "ǆ", "Ǆ", "x\xffy", "x\xfey", "", "_rescued_data"}
	for _, a := range names {
		for _, b := range names {
			if got, want := FoldName(a) == FoldName(b), strings.EqualFold(a, b); got != want {
				t.Errorf("FoldName(%q) == FoldName(%q) is %v, EqualFold %v", a, b, got, want)
			}
		}
	}
}

// FuzzFoldName compares FoldName with strings.EqualFold on a name and a
// copy whose runes are moved along their case-folding orbits as mask says.
func FuzzFoldName(f *testing.F) {
	f.Add("meſſage", uint64(5))
	f.Add("aσς\u212a", uint64(0xff))
	f.Fuzz(func(t *testing.T, a string, mask uint64) {
		var b strings.Builder
		for i, r := range []rune(a) {
			for range (mask >> (2 * (i % 32))) & 3 {
				r = unicode.SimpleFold(r)
			}
			b.WriteRune(r)
		}
		for _, c := range []string{b.String(), strings.ToUpper(a), strings.ToLower(a)} {
			if got, want := FoldName(a) == FoldName(c), strings.EqualFold(a, c); got != want {
				t.Fatalf("FoldName(%q) == FoldName(%q) is %v, EqualFold %v", a, c, got, want)
			}
		}
	})
}
