package tabletest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/loglake/loglake/storage"
)

// RawRows reads every Parquet data file stored in b — found by listing the
// location, not through the log, so files a snapshot no longer names are
// read too — and returns, per key, each row's values of cols as text (""
// for NULL or a column the file lacks). It is for tests that must prove
// what storage holds (an erasure), not what a snapshot shows. Checkpoints
// under _delta_log/ are not data files and are skipped.
func RawRows(t testing.TB, b storage.Bucket, cols ...string) map[string][][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][][]string{}
	it := b.List(ctx, "", "")
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("listing %s: %v", b.URL(), err)
		}
		if !strings.HasSuffix(obj.Key, ".parquet") || strings.HasPrefix(obj.Key, "_delta_log/") {
			continue
		}
		r, err := b.NewReader(ctx, obj.Key, 0, -1)
		if err != nil {
			t.Fatalf("reading %s: %v", obj.Key, err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("reading %s: %v", obj.Key, err)
		}
		pf, err := file.NewParquetReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s is not Parquet: %v", obj.Key, err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
		if err != nil {
			t.Fatalf("%s: %v", obj.Key, err)
		}
		tbl, err := fr.ReadTable(ctx)
		pf.Close()
		if err != nil {
			t.Fatalf("%s: %v", obj.Key, err)
		}
		rows := make([][]string, tbl.NumRows())
		for i := range rows {
			rows[i] = make([]string, len(cols))
		}
		for j, name := range cols {
			idx := tbl.Schema().FieldIndices(name)
			if len(idx) == 0 {
				continue
			}
			row := 0
			for _, chunk := range tbl.Column(idx[0]).Data().Chunks() {
				for i := 0; i < chunk.Len(); i++ {
					if chunk.IsValid(i) {
						rows[row][j] = chunk.ValueStr(i)
					}
					row++
				}
			}
		}
		tbl.Release()
		out[obj.Key] = rows
	}
}
