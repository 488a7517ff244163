package query_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table"
)

// Partition values reach the view as typed constants whatever their
// spelling: nulls (and "", which Delta cannot tell from null), spaces,
// quotes, path separators, escapes, glob characters and non-ASCII text, on
// a string and an integer partition column.
func TestPartitionValues(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"file", "file-glob", "mem"} {
		t.Run(kind, func(t *testing.T) {
			sch, err := table.ParseSchema(`{"type":"struct","fields":[
				{"name":"id","type":"long","nullable":false,"metadata":{}},
				{"name":"region","type":"string","nullable":true,"metadata":{}},
				{"name":"shard","type":"integer","nullable":true,"metadata":{}},
				{"name":"msg","type":"string","nullable":true,"metadata":{}}]}`)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := table.Create(ctx, source(t, kind), table.CreateOptions{Schema: sch, PartitionColumns: []string{"region", "shard"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			regions := []*string{nil, ptr(""), ptr("eu-west"), ptr("a b"), ptr("x=y/z"), ptr("it's"), ptr("%41"),
				ptr(`[glob]*?{a,b}`), ptr("ünïcødé"), ptr("tab\there"), ptr(`back\slash"quote`)}
			shards := []*int32{nil, i32(0), i32(-5)}
			b := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
			defer b.Release()
			want := map[string][2]int64{} // "region|shard" -> rows, sum(id)
			var id int64
			for ri, r := range regions {
				for si, s := range shards {
					n := 1 + ri + si // distinct counts per partition
					for k := 0; k < n; k++ {
						b.Field(0).(*array.Int64Builder).Append(id)
						key := "NULL"
						if r == nil {
							b.Field(1).(*array.StringBuilder).AppendNull()
						} else {
							b.Field(1).(*array.StringBuilder).Append(*r)
							if *r != "" {
								key = *r
							}
						}
						if s == nil {
							b.Field(2).(*array.Int32Builder).AppendNull()
							key += "|NULL"
						} else {
							b.Field(2).(*array.Int32Builder).Append(*s)
							key += fmt.Sprintf("|%d", *s)
						}
						b.Field(3).(*array.StringBuilder).Append("m")
						w := want[key]
						want[key] = [2]int64{w[0] + 1, w[1] + id}
						id++
					}
				}
			}
			rec := b.NewRecord()
			defer rec.Release()
			if _, err := tbl.Append(ctx, []arrow.Record{rec}, nil); err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, "")
			if err := e.Register(ctx, "t", tbl, nil, ""); err != nil {
				t.Fatal(err)
			}
			var wantRows []string
			for k, v := range want {
				wantRows = append(wantRows, fmt.Sprintf("%s|%d|%d", k, v[0], v[1]))
			}
			sort.Strings(wantRows)
			got := rowsOf(t, e, `SELECT region, shard, count(*), sum(id) FROM t GROUP BY ALL`)
			sort.Strings(got)
			if !slices.Equal(got, wantRows) {
				t.Errorf("per partition (region, shard, rows, sum id):\n got  %q\n want %q", got, wantRows)
			}
			if got, want := rowsOf(t, e, `SELECT column_type FROM (DESCRIBE t) WHERE column_name = 'shard'`), []string{"INTEGER"}; !slices.Equal(got, want) {
				t.Errorf("shard type %v, want %v", got, want)
			}
			// Filters on partition constants work like on stored columns.
			if got := rowsOf(t, e, `SELECT count(*) FROM t WHERE region = 'it''s' AND shard = -5`); !slices.Equal(got, []string{fmt.Sprint(want["it's|-5"][0])}) {
				t.Errorf("filter on partition values: %v, want %d", got, want["it's|-5"][0])
			}
		})
	}
}

func ptr(s string) *string { return &s }
func i32(v int32) *int32   { return &v }
