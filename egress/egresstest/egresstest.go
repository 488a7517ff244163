// Package egresstest builds regional tables and checks central tables for the
// tests and benchmarks of package egress and the integration tests: a small
// log schema, deterministic rows whose approval is known, appends, and an
// exact per-region comparison of what the central table holds.
package egresstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Schema is the regional test schema: id, ts, level, msg, egress_approved
// and the date partition column.
func Schema() *table.Schema {
	f := func(name string, t table.DataType) *table.Field {
		return &table.Field{Name: name, Type: t, Nullable: true}
	}
	return &table.Schema{Fields: []*table.Field{
		f("id", table.TypeLong),
		f("ts", table.TypeTimestamp),
		f("level", table.TypeString),
		f("msg", table.TypeString),
		f("egress_approved", table.TypeBoolean),
		f("date", table.TypeDate),
	}}
}

// CreateRegion creates a regional table with Schema, partitioned by date.
func CreateRegion(ctx context.Context, b storage.Bucket) (*table.Table, error) {
	return table.Create(ctx, b, table.CreateOptions{Schema: Schema(), PartitionColumns: []string{"date"}}, nil)
}

// Row is one regional log row. Approved nil is a null egress_approved.
type Row struct {
	ID       int64
	TS       time.Time
	Level    string
	Approved *bool
}

var levels = []string{"DEBUG", "INFO", "WARN", "ERROR"}

// Approval is the deterministic egress_approved of row id: true for id%3 ==
// 0, false for 1, null for 2.
func Approval(id int64) *bool {
	switch id % 3 {
	case 0:
		t := true
		return &t
	case 1:
		f := false
		return &f
	}
	return nil
}

// Rows returns n rows with ids from first on, over two days so that they
// fall in two date partitions; level cycles with id%4.
func Rows(first int64, n int) []Row {
	base := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	out := make([]Row, n)
	for i := range out {
		id := first + int64(i)
		out[i] = Row{ID: id, TS: base.Add(time.Duration(id%48) * time.Hour).Add(time.Duration(id) * time.Microsecond),
			Level: levels[id%4], Approved: Approval(id)}
	}
	return out
}

// Approved returns the ids of rows with egress_approved = true.
func Approved(rows []Row) []int64 {
	var ids []int64
	for _, r := range rows {
		if r.Approved != nil && *r.Approved {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Record builds rows in sch, which must be Schema().Arrow() (the writer's
// schema of a table created by CreateRegion, possibly with extra nullable
// columns, which stay null). The caller releases it.
func Record(sch *arrow.Schema, rows []Row) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for i, f := range sch.Fields() {
		fb := b.Field(i)
		for _, r := range rows {
			switch f.Name {
			case "id":
				fb.(*array.Int64Builder).Append(r.ID)
			case "ts":
				fb.(*array.TimestampBuilder).Append(arrow.Timestamp(r.TS.UnixMicro()))
			case "level":
				fb.(*array.StringBuilder).Append(r.Level)
			case "msg":
				fb.(*array.StringBuilder).Append(fmt.Sprintf("message %d", r.ID))
			case "egress_approved":
				if r.Approved == nil {
					fb.AppendNull()
				} else {
					fb.(*array.BooleanBuilder).Append(*r.Approved)
				}
			case "date":
				fb.(*array.Date32Builder).Append(arrow.Date32FromTime(r.TS.UTC().Truncate(24 * time.Hour)))
			default:
				fb.AppendNull()
			}
		}
	}
	return b.NewRecord()
}

// Append commits rows to t as one blind append and returns its version.
func Append(ctx context.Context, t *table.Table, rows []Row) (int64, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return -1, err
	}
	w, err := t.NewWriter(snap, nil)
	if err != nil {
		return -1, err
	}
	rec := Record(w.Schema(), rows)
	defer rec.Release()
	return t.Append(ctx, []arrow.Record{rec}, nil)
}

// Central is what a central table holds: per region, the ids of its rows in
// ascending order (duplicates kept, so that they can be detected).
type Central map[string][]int64

// Rows is the total number of rows.
func (c Central) Rows() int {
	n := 0
	for _, ids := range c {
		n += len(ids)
	}
	return n
}

// ReadCentral scans a central snapshot's region and id columns.
func ReadCentral(ctx context.Context, snap *table.Snapshot) (Central, error) {
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"region", "id"}})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	out := Central{}
	for {
		rec, err := sc.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		regions := rec.Column(0).(*array.String)
		ids := rec.Column(1).(*array.Int64)
		for i := range int(rec.NumRows()) {
			if regions.IsNull(i) || ids.IsNull(i) {
				rec.Release()
				return nil, fmt.Errorf("central row with null region or id")
			}
			out[regions.Value(i)] = append(out[regions.Value(i)], ids.Value(i))
		}
		rec.Release()
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out, nil
}

// Diff compares got with want (per region, ids in any order) and describes
// the first differences: missing ids, duplicated ids, unexpected ids. It
// returns "" when they are equal.
func Diff(got Central, want map[string][]int64) string {
	var msg string
	note := func(format string, args ...any) {
		if len(msg) < 2000 {
			msg += fmt.Sprintf(format, args...) + "\n"
		}
	}
	for region, ids := range want {
		w := slices.Sorted(slices.Values(ids))
		g := got[region]
		counts := map[int64]int{}
		for _, id := range g {
			counts[id]++
		}
		for _, id := range w {
			switch counts[id] {
			case 0:
				note("region %s: id %d missing", region, id)
			case 1:
			default:
				note("region %s: id %d present %d times", region, id, counts[id])
			}
			delete(counts, id)
		}
		for id, n := range counts {
			note("region %s: unexpected id %d (%d times)", region, id, n)
		}
		if len(g) != len(w) {
			note("region %s: %d rows, want %d", region, len(g), len(w))
		}
	}
	for region, ids := range got {
		if _, ok := want[region]; !ok {
			note("unexpected region %q with %d rows", region, len(ids))
		}
	}
	return msg
}
