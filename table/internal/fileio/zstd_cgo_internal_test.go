//go:build cgo

package fileio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// TestCZstdCodec checks that the registered zstd codec is the C one and
// that every block it writes, whatever dst it is given, is a standard zstd
// frame the Go decoders (arrow-go's, which reads the pages back, and
// klauspost's streaming one) return byte for byte; at level 1 it must
// compress repetitive data well and stay within the compress bound.
func TestCZstdCodec(t *testing.T) {
	codec, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := codec.(cZstdCodec); !ok {
		t.Fatalf("registered zstd codec is %T, want cZstdCodec", codec)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var logLike []byte
	for len(logLike) < 300<<10 {
		logLike = fmt.Appendf(logLike, "ip-10-%d-%d-%d", r.IntN(8), r.IntN(40), r.IntN(250))
	}
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	inputs := map[string][]byte{"empty": {}, "one byte": {'x'}, "log-like": logLike, "random": random}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	for name, src := range inputs {
		for _, level := range []int{1, compress.DefaultCompressionLevel, 9} {
			bound := codec.CompressBound(int64(max(len(src), 1)))
			dsts := map[string][]byte{"nil": nil, "small": make([]byte, 0, 8), "bound": make([]byte, 0, bound)}
			for dname, dst := range dsts {
				got := codec.EncodeLevel(dst, src, level)
				if int64(len(got)) > bound {
					t.Errorf("%s level %d dst %s: %d bytes, over the bound %d", name, level, dname, len(got), bound)
				}
				back, err := compress.Decode(codec, nil, got)
				if err != nil || !bytes.Equal(back, src) {
					t.Fatalf("%s level %d dst %s: arrow-go decode: %v (equal %v)", name, level, dname, err, bytes.Equal(back, src))
				}
				back, err = dec.DecodeAll(got, nil)
				if err != nil || !bytes.Equal(back, src) {
					t.Fatalf("%s level %d dst %s: zstd decode: %v", name, level, dname, err)
				}
				if name == "log-like" && level == 1 && len(got) > len(src)/3 {
					t.Errorf("log-like level 1: %d of %d bytes, want under a third", len(got), len(src))
				}
			}
		}
	}
	back, err := dec.DecodeAll(codec.Encode(nil, logLike), nil)
	if err != nil || !bytes.Equal(back, logLike) {
		t.Errorf("Encode (default level) does not round-trip: %v", err)
	}
}
