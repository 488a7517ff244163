//go:build bench

package ingest

// Decode-only benchmarks over the shapes of internal/benchlogs: NDJSON
// lines into Arrow records, without reading files or writing Parquet, so a
// profile shows the decoder's own costs:
//
//	go test -tags bench -run '^$' -bench BenchmarkDecodeShapes -cpuprofile cpu.out ./ingest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/internal/benchlogs"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

func BenchmarkDecodeShapes(b *testing.B) {
	for _, s := range benchlogs.Shapes() {
		if s.Compression != "" {
			continue // same lines as an uncompressed shape
		}
		b.Run(s.Name, func(b *testing.B) {
			dir := filepath.Join(os.TempDir(), "loglake-bench-decode-"+s.Name)
			if _, err := os.Stat(filepath.Join(dir, "_complete")); err != nil {
				os.RemoveAll(dir)
				if _, err := benchlogs.Generate(context.Background(), dir, s, 16<<20, 16<<20, 1, 1); err != nil {
					b.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, "_complete"), nil, 0o644)
			}
			ents, _ := os.ReadDir(dir)
			var data []byte
			for _, e := range ents {
				if e.Name() != "_complete" {
					d, err := os.ReadFile(filepath.Join(dir, e.Name()))
					if err != nil {
						b.Fatal(err)
					}
					data = append(data, d...)
				}
			}
			// Chunks as the reader cuts them.
			f := newFileCtx("landing/x.json")
			var chunks []*chunk
			c := &chunk{file: f}
			var n int64
			for l := range bytes.Lines(data) {
				n++
				c.data = append(c.data, bytes.TrimSuffix(l, []byte{'\n'})...)
				c.ends = append(c.ends, len(c.data))
				c.nums = append(c.nums, n)
				if len(c.data) >= chunkBytes {
					chunks, c = append(chunks, c), &chunk{file: f}
				}
			}
			if len(c.ends) > 0 {
				chunks = append(chunks, c)
			}
			m, err := newMapping(completeSchema(DefaultSchema()).Arrow(), "ts", []string{ColDate})
			if err != nil {
				b.Fatal(err)
			}
			bl := newBuilder(m, memory.DefaultAllocator, time.Unix(0, 0), "")
			defer bl.release()
			bl.encodeDicts() // as ingest does
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			cpu0 := processCPU()
			for range b.N {
				for _, c := range chunks {
					bl.reserve(len(c.ends))
					decodeChunk(bl, c, FormatNDJSON)
					bl.finish().Release()
				}
			}
			// CPU time of the process: far steadier than wall time on a
			// shared machine.
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(int64(b.N)*n), "CPU-ns/row")
		})
	}
}
