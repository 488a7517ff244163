package egress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/table"
)

// Issue 8 defect 2: a running egress whose source switches on column
// mapping stops with an error naming columnMapping, and forwards nothing
// written under the mapping (which it would read as NULLs).
func TestRunStopsWhenSourceSwitchesOnColumnMapping(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var mu sync.Mutex
	var rows int64
	e := f.egress(t, egress.Options{Committed: func(s egress.Summary) { mu.Lock(); rows += s.Rows; mu.Unlock() }})
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, 5*time.Millisecond) }()
	f.appendRows(t, 30)
	v := f.appendRows(t, 30)
	want := int64(len(egresstest.Approved(f.rows)))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := rows
		mu.Unlock()
		if n == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run forwarded %d rows, want %d", n, want)
		}
	}

	// Spark's ALTER TABLE ... SET TBLPROPERTIES (columnMapping.mode = name)
	// then a write whose msg column has the physical name col-msg.
	snap, err := f.region.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md := *snap.Metadata()
	var sch struct {
		Type   string           `json:"type"`
		Fields []map[string]any `json:"fields"`
	}
	if err := json.Unmarshal([]byte(md.SchemaString), &sch); err != nil {
		t.Fatal(err)
	}
	for i, fl := range sch.Fields {
		phys := fl["name"].(string)
		if phys == "msg" {
			phys = "col-msg"
		}
		fl["metadata"] = map[string]any{"delta.columnMapping.id": i + 1, "delta.columnMapping.physicalName": phys}
	}
	schema, _ := json.Marshal(sch)
	md.SchemaString = string(schema)
	md.Configuration = map[string]string{"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": fmt.Sprint(len(sch.Fields))}
	mdLine, _ := json.Marshal(table.Action{MetaData: &md})
	put := func(v int64, lines ...string) {
		t.Helper()
		ci := fmt.Sprintf(`{"commitInfo":{"timestamp":%d,"operation":"WRITE"}}`, time.Now().UnixMilli())
		if err := f.src.PutIfAbsent(ctx, table.CommitKey(v), []byte(ci+"\n"+strings.Join(lines, "\n")+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	put(v+1, `{"protocol":{"minReaderVersion":2,"minWriterVersion":5}}`, string(mdLine))

	// The mapped write: all rows approved, msg stored as col-msg.
	later := egresstest.Rows(1000, 20)
	for i := range later {
		yes := true
		later[i].Approved = &yes
		later[i].TS = later[0].TS
	}
	var logical []arrow.Field
	for _, fl := range egresstest.Schema().Arrow().Fields() {
		if fl.Name != "date" {
			logical = append(logical, fl)
		}
	}
	rec := egresstest.Record(arrow.NewSchema(logical, nil), later)
	defer rec.Release()
	physical := make([]arrow.Field, len(logical))
	for i, fl := range logical {
		if fl.Name == "msg" {
			fl.Name = "col-msg"
		}
		physical[i] = fl
	}
	mapped := array.NewRecord(arrow.NewSchema(physical, nil), rec.Columns(), rec.NumRows())
	defer mapped.Release()
	var buf bytes.Buffer
	fw, err := table.NewFileWriter(&buf, mapped.Schema(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(mapped); err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	date := later[0].TS.UTC().Format("2006-01-02")
	key := "date=" + date + "/part-mapped.zstd.parquet"
	if err := f.src.Put(ctx, key, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	add, _ := json.Marshal(table.Action{Add: &table.Add{Path: key, Size: int64(buf.Len()), DataChange: true,
		PartitionValues: map[string]*string{"date": &date}, ModificationTime: 1}})
	put(v+2, string(add))

	select {
	case err := <-done:
		var fe *table.FeatureError
		if !errors.As(err, &fe) || fe.Feature != "columnMapping" || !strings.Contains(err.Error(), "columnMapping") {
			t.Fatalf("Run = %v, want an error naming columnMapping", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run kept going after the source switched on column mapping")
	}
	got := readCentral(t, f.dst)
	if n := int64(got.Rows()); n != want {
		t.Errorf("central holds %d rows, want %d (none written under column mapping)", n, want)
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
	// --once on a fresh Egress refuses the same way.
	e2, err := egress.New(ctx, f.src, f.dst, egress.Options{Region: "eu-2"})
	if err == nil {
		_, err = e2.RunOnce(ctx)
	}
	if !errors.Is(err, table.ErrUnsupportedFeature) || !strings.Contains(err.Error(), "columnMapping") {
		t.Errorf("a fresh egress: %v, want an error naming columnMapping", err)
	}
}
