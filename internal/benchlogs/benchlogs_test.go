package benchlogs

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TestShapes generates a little of every shape and checks that each line is
// one valid JSON object, of about the documented size, and that output is
// deterministic.
func TestShapes(t *testing.T) {
	for _, s := range Shapes() {
		t.Run(s.Name, func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir()}
			var lens [2]int64
			for k, dir := range dirs {
				n, err := Generate(context.Background(), dir, s, 400<<10, 200<<10, 7, 2)
				if err != nil {
					t.Fatal(err)
				}
				lens[k] = n
			}
			if lens[0] != lens[1] || lens[0] == 0 {
				t.Fatalf("line counts %v: want equal and non-zero", lens)
			}
			files, _ := filepath.Glob(filepath.Join(dirs[0], "*"+s.Ext()))
			if len(files) != 2 {
				t.Fatalf("files %v: want 2", files)
			}
			var lines, bytes int64
			for _, name := range files {
				f, err := os.Open(name)
				if err != nil {
					t.Fatal(err)
				}
				var r io.Reader = f
				switch s.Compression {
				case "gzip":
					if r, err = gzip.NewReader(f); err != nil {
						t.Fatal(err)
					}
				case "zstd":
					zr, err := zstd.NewReader(f)
					if err != nil {
						t.Fatal(err)
					}
					defer zr.Close()
					r = zr
				}
				sc := bufio.NewScanner(r)
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var obj map[string]any
					if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
						t.Fatalf("line %d: %v: %s", lines+1, err, sc.Bytes())
					}
					if _, ok := obj["ts"]; !ok {
						t.Fatalf("line without ts: %s", sc.Bytes())
					}
					lines++
					bytes += int64(len(sc.Bytes())) + 1
				}
				f.Close()
			}
			if lines != lens[0] {
				t.Fatalf("read %d lines, Generate said %d", lines, lens[0])
			}
			t.Logf("%s: %d lines, %.0f B/line", s.Name, lines, float64(bytes)/float64(lines))
		})
	}
}
