package table

// Internal test: readCheckpoint and the checkpoint encoder are unexported.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/storage"
)

// checkpointCorpus is the read-compatibility corpus (written by Spark and
// delta-rs), relative to this package directory.
const checkpointCorpus = "../../shared/testdata/delta"

var memBucketSeq atomic.Int64

// newMemBucket opens a fresh, empty in-memory bucket.
func newMemBucket(t testing.TB) storage.Bucket {
	t.Helper()
	name := fmt.Sprintf("mem://checkpoint-test-%d-%d", os.Getpid(), memBucketSeq.Add(1))
	b, err := storage.Open(context.Background(), name, nil)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// loadCorpusLog copies a corpus table's _delta_log into a fresh bucket.
func loadCorpusLog(t *testing.T, table string) storage.Bucket {
	t.Helper()
	dir := filepath.Join(checkpointCorpus, table, "_delta_log")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("corpus table %s not present at %s", table, dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := newMemBucket(t)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Put(context.Background(), logDir+e.Name(), data); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// checkpointParts lists the parts of the checkpoint of version v.
func checkpointParts(t testing.TB, b storage.Bucket, v int64) []logFile {
	t.Helper()
	files, err := listLog(context.Background(), b, v, v)
	if err != nil {
		t.Fatal(err)
	}
	var parts []logFile
	for _, f := range files {
		if f.isCheckpoint() {
			parts = append(parts, f)
		}
	}
	if len(parts) == 0 {
		t.Fatalf("no checkpoint at version %d", v)
	}
	return parts
}

// replayState is a table state rebuilt independently of the checkpoint
// reader, from the JSON commits.
type replayState struct {
	protocol   *Protocol
	metadata   *Metadata
	files      map[string]*Add
	tombstones map[string]*Remove
	txns       map[string]int64
}

func newReplayState() *replayState {
	return &replayState{files: map[string]*Add{}, tombstones: map[string]*Remove{}, txns: map[string]int64{}}
}

func (s *replayState) apply(actions []Action) {
	for _, a := range actions {
		switch {
		case a.Protocol != nil:
			s.protocol = a.Protocol
		case a.MetaData != nil:
			s.metadata = a.MetaData
		case a.Txn != nil:
			s.txns[a.Txn.AppID] = a.Txn.Version
		case a.Add != nil:
			s.files[a.Add.Path] = a.Add
			delete(s.tombstones, a.Add.Path)
		case a.Remove != nil:
			delete(s.files, a.Remove.Path)
			s.tombstones[a.Remove.Path] = a.Remove
		}
	}
}

// TestReadCheckpointCorpus reads every classic checkpoint of the corpus and
// checks it against the table state replayed from the JSON commits (from
// version 0, or from the previous checkpoint where the log was cleaned), plus
// values spot-checked by hand.
func TestReadCheckpointCorpus(t *testing.T) {
	type spot struct {
		path      string
		size      int64
		partition map[string]*string
	}
	red := "red"
	tests := []struct {
		table          string
		version        int64
		base           int64 // replay starts after this checkpoint; -1: from commit 0; -2: no replay
		adds, removes  int
		txns           int
		statsFromParse bool // add.stats synthesized from stats_parsed
		spot           *spot
	}{
		// Commit 0 was cleaned up: spot checks only.
		{table: "checkpoint_with_partitions", version: 2, base: -2, adds: 2, spot: &spot{
			path: "8ac7d8e1-daab-48ef-9d05-ec22fb4b0d2f", size: 100, partition: map[string]*string{"color": nil}}},
		{table: "checkpoint_with_partitions", version: 2, base: -2, adds: 2, spot: &spot{
			path: "f62d8868-d952-4f9d-8bb2-fd4e011ebf36", size: 100, partition: map[string]*string{"color": &red}}},
		{table: "checkpoints_vacuumed", version: 5, base: -2, adds: 5},
		{table: "checkpoints_vacuumed", version: 10, base: 5, adds: 10},
		{table: "delta-0.2.0", version: 3, base: -1, adds: 3, removes: 4, txns: 1, spot: &spot{
			path: "part-00000-cb6b150b-30b8-4662-ad28-ff32ddab96d2-c000.snappy.parquet", size: 404, partition: map[string]*string{}}},
		{table: "delta-1.2.1-only-struct-stats", version: 10, base: -1, adds: 10, statsFromParse: true},
		{table: "delta-checkpoint-stats-optional", version: 2, base: -1, adds: 2, statsFromParse: true},
		{table: "latest_not_checkpointed", version: 2, base: -1, adds: 1, removes: 1},
		{table: "python-0.25.5-checkpoint", version: 0, base: -1, adds: 1},
		{table: "simple_table_with_checkpoint", version: 10, base: -1, adds: 11},
		{table: "table_failed_last_checkpoint_update", version: 1, base: -1, adds: 2},
		{table: "table_failed_last_checkpoint_update", version: 3, base: -1, adds: 4},
		{table: "with_checkpoint_no_last_checkpoint", version: 2, base: -1, adds: 1, removes: 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s@%d", tc.table, tc.version), func(t *testing.T) {
			ctx := context.Background()
			b := loadCorpusLog(t, tc.table)
			got, err := readCheckpoint(ctx, b, checkpointParts(t, b, tc.version), true)
			if err != nil {
				t.Fatalf("readCheckpoint: %v", err)
			}
			cp := newReplayState()
			cp.apply(got)
			var adds, removes, txns, protocols, metas int
			for _, a := range got {
				switch {
				case a.Add != nil:
					adds++
				case a.Remove != nil:
					removes++
				case a.Txn != nil:
					txns++
				case a.Protocol != nil:
					protocols++
				case a.MetaData != nil:
					metas++
				default:
					t.Errorf("unexpected action %+v", a)
				}
			}
			if adds != tc.adds || removes != tc.removes || txns != tc.txns || protocols != 1 || metas != 1 {
				t.Errorf("got %d adds, %d removes, %d txns, %d protocol, %d metaData; want %d, %d, %d, 1, 1",
					adds, removes, txns, protocols, metas, tc.adds, tc.removes, tc.txns)
			}
			// Read-only (no remove columns): the same actions, less the removes.
			noRemoves, err := readCheckpoint(ctx, b, checkpointParts(t, b, tc.version), false)
			if err != nil {
				t.Fatalf("readCheckpoint without removes: %v", err)
			}
			if want := slices.DeleteFunc(slices.Clone(got), func(a Action) bool { return a.Remove != nil }); !reflect.DeepEqual(noRemoves, want) {
				t.Errorf("without removes: %d actions, want the %d others", len(noRemoves), len(want))
			}
			if tc.spot != nil {
				f := cp.files[tc.spot.path]
				if f == nil {
					t.Fatalf("add %s missing", tc.spot.path)
				}
				if f.Size != tc.spot.size || !reflect.DeepEqual(f.PartitionValues, tc.spot.partition) {
					t.Errorf("add %s: size %d, partitions %v; want %d, %v", f.Path, f.Size, fmtPV(f.PartitionValues), tc.spot.size, fmtPV(tc.spot.partition))
				}
			}
			if tc.base == -2 {
				return // log cleaned before this checkpoint: nothing to replay
			}

			want := newReplayState()
			from := int64(0)
			if tc.base >= 0 {
				base, err := readCheckpoint(ctx, b, checkpointParts(t, b, tc.base), true)
				if err != nil {
					t.Fatal(err)
				}
				want.apply(base)
				from = tc.base + 1
			}
			for v := from; v <= tc.version; v++ {
				actions, err := readCommit(ctx, b, v)
				if err != nil {
					t.Fatal(err)
				}
				want.apply(actions)
			}
			compareState(t, cp, want, tc.statsFromParse)
		})
	}
}

func fmtPV(m map[string]*string) string {
	var parts []string
	for k, v := range m {
		if v == nil {
			parts = append(parts, k+"=<null>")
		} else {
			parts = append(parts, k+"="+*v)
		}
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// compareState checks a checkpoint's state against the replayed one.
func compareState(t *testing.T, got, want *replayState, statsFromParse bool) {
	t.Helper()
	if !reflect.DeepEqual(got.protocol, want.protocol) {
		t.Errorf("protocol %+v, want %+v", got.protocol, want.protocol)
	}
	gm, wm := *got.metadata, *want.metadata
	if gm.ID != wm.ID || gm.SchemaString != wm.SchemaString || !slices.Equal(gm.PartitionColumns, wm.PartitionColumns) ||
		!reflect.DeepEqual(gm.Configuration, wm.Configuration) || gm.Format.Provider != wm.Format.Provider {
		t.Errorf("metaData %+v, want %+v", gm, wm)
	}
	if !reflect.DeepEqual(got.txns, want.txns) {
		t.Errorf("txns %v, want %v", got.txns, want.txns)
	}
	if len(got.files) != len(want.files) {
		t.Errorf("%d files, want %d", len(got.files), len(want.files))
	}
	for path, w := range want.files {
		g := got.files[path]
		if g == nil {
			t.Errorf("file %s missing from checkpoint", path)
			continue
		}
		if g.Size != w.Size || g.ModificationTime != w.ModificationTime || fmtPV(g.PartitionValues) != fmtPV(w.PartitionValues) {
			t.Errorf("file %s: size %d mod %d pv %s; want %d %d %s", path, g.Size, g.ModificationTime, fmtPV(g.PartitionValues),
				w.Size, w.ModificationTime, fmtPV(w.PartitionValues))
		}
		if (w.Stats == "") != (g.Stats == "") {
			t.Errorf("file %s: stats %q, want %q", path, g.Stats, w.Stats)
			continue
		}
		if w.Stats == "" {
			continue
		}
		if statsFromParse {
			if err := sameJSONStats(g.Stats, w.Stats); err != nil {
				t.Errorf("file %s: synthesized stats differ: %v\n got %s\nwant %s", path, err, g.Stats, w.Stats)
			}
		} else if g.Stats != w.Stats {
			t.Errorf("file %s: stats %s, want %s", path, g.Stats, w.Stats)
		}
	}
	// Tombstones may have expired before the checkpoint, never appeared.
	for path := range got.tombstones {
		if want.tombstones[path] == nil {
			t.Errorf("tombstone %s not in the replayed log", path)
		}
	}
}

// sameJSONStats compares two stats documents by meaning: numbers
// numerically, timestamps as instants (to the millisecond Spark writes).
func sameJSONStats(got, want string) error {
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return fmt.Errorf("got: %v", err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		return fmt.Errorf("want: %v", err)
	}
	return sameJSON("", g, w)
}

func sameJSON(path string, g, w any) error {
	switch w := w.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %v, want object", path, g)
		}
		for k := range w {
			if _, ok := gm[k]; !ok {
				return fmt.Errorf("%s.%s missing", path, k)
			}
		}
		for k := range gm {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s.%s unexpected", path, k)
			}
			if err := sameJSON(path+"."+k, gm[k], w[k]); err != nil {
				return err
			}
		}
		return nil
	case float64:
		if gf, ok := g.(float64); !ok || math.Abs(gf-w) > 1e-9*math.Max(1, math.Abs(w)) {
			return fmt.Errorf("%s: got %v, want %v", path, g, w)
		}
		return nil
	case string:
		gs, ok := g.(string)
		if !ok {
			return fmt.Errorf("%s: got %v, want %q", path, g, w)
		}
		if gs == w {
			return nil
		}
		gt, err1 := time.Parse(time.RFC3339Nano, gs)
		wt, err2 := time.Parse(time.RFC3339Nano, w)
		if err1 == nil && err2 == nil && gt.Truncate(time.Millisecond).Equal(wt.Truncate(time.Millisecond)) {
			return nil
		}
		return fmt.Errorf("%s: got %q, want %q", path, gs, w)
	default:
		if !reflect.DeepEqual(g, w) {
			return fmt.Errorf("%s: got %v, want %v", path, g, w)
		}
		return nil
	}
}

// sampleCheckpointActions builds the state of a table with n partitioned
// files (some partition values null), tombstones and txns.
func sampleCheckpointActions(n int) []Action {
	r := rand.New(rand.NewPCG(1, 2))
	name, desc := "logs", "service logs"
	created := int64(1_700_000_000_000)
	actions := []Action{
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{MetaData: &Metadata{
			ID: "5f8e4a8e-0d7c-4e7a-9a8b-1c2d3e4f5a6b", Name: &name, Description: &desc,
			Format:           Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString:     `{"type":"struct","fields":[{"name":"ts","type":"timestamp","nullable":true,"metadata":{}},{"name":"date","type":"date","nullable":true,"metadata":{}},{"name":"region","type":"string","nullable":true,"metadata":{}}]}`,
			PartitionColumns: []string{"date", "region"},
			Configuration:    map[string]string{"delta.checkpointInterval": "100", "delta.appendOnly": "false"},
			CreatedTime:      &created,
		}},
		{CommitInfo: &CommitInfo{Operation: "WRITE"}}, // not table state: skipped
	}
	for i := 0; i < 5; i++ {
		last := created + int64(i)
		actions = append(actions, Action{Txn: &Txn{AppID: fmt.Sprintf("ingest:stream-%d", i), Version: int64(i * 1000), LastUpdated: &last}})
	}
	actions = append(actions, Action{Txn: &Txn{AppID: "egress:eu-west-1", Version: 42}})
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	for i := 0; i < n; i++ {
		date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%90).Format(time.DateOnly)
		pv := map[string]*string{"date": &date}
		if i%7 == 0 {
			pv["region"] = nil // null partition value
		} else {
			reg := regions[i%3]
			pv["region"] = &reg
		}
		add := &Add{
			Path:             fmt.Sprintf("date=%s/part-%05d-%016x.zstd.parquet", date, i, r.Uint64()),
			PartitionValues:  pv,
			Size:             int64(1000 + r.IntN(1<<20)),
			ModificationTime: created + int64(i),
			DataChange:       i%2 == 0,
			Stats:            fmt.Sprintf(`{"numRecords":%d,"minValues":{"ts":"2024-01-01T00:00:00.000000Z"},"maxValues":{"ts":"2024-01-01T23:59:59.999999Z"},"nullCount":{"ts":0}}`, r.IntN(100000)),
		}
		if i%10 == 0 {
			add.Stats = ""
		}
		if i%13 == 0 {
			add.Tags = map[string]string{"INSERTION_TIME": fmt.Sprint(created + int64(i)), "empty": ""}
		}
		actions = append(actions, Action{Add: add})
	}
	for i := 0; i < 50; i++ {
		ts := created - int64(i)
		rm := &Remove{Path: fmt.Sprintf("old/part-%05d.parquet", i), DeletionTimestamp: &ts, DataChange: true}
		if i%2 == 0 {
			ext, size := true, int64(4096+i)
			d := "2023-12-31"
			rm.ExtendedFileMetadata, rm.Size = &ext, &size
			rm.PartitionValues = map[string]*string{"date": &d, "region": nil}
		}
		actions = append(actions, Action{Remove: rm})
	}
	return actions
}

// stateActions drops what a checkpoint does not keep.
func stateActions(actions []Action) []Action {
	var out []Action
	for _, a := range actions {
		if a.CommitInfo == nil && a.CDC == nil {
			out = append(out, a)
		}
	}
	return out
}

func TestCheckpointRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		version int64
		actions []Action
	}{
		{"10k partitioned adds", 100, sampleCheckpointActions(10_000)},
		{"metadata only", 0, sampleCheckpointActions(0)[:2]},
		{"table features", 7, []Action{
			{Protocol: &Protocol{MinReaderVersion: 3, MinWriterVersion: 7, ReaderFeatures: []string{"timestampNtz"}, WriterFeatures: []string{"timestampNtz", "appendOnly"}}},
			{MetaData: &Metadata{ID: "x", Format: Format{Provider: "parquet", Options: map[string]string{"k": "v"}},
				SchemaString: `{"type":"struct","fields":[]}`, PartitionColumns: []string{}, Configuration: map[string]string{}}},
			{Add: &Add{Path: "a b%20c.parquet", PartitionValues: map[string]*string{}, Size: 1, ModificationTime: 2,
				BaseRowID: ptr(int64(10)), DefaultRowCommit: ptr(int64(3)), ClusteringProv: ptr("liquid"), Tags: map[string]string{}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemBucket(t)
			if err := WriteCheckpoint(ctx, b, tc.version, tc.actions); err != nil {
				t.Fatalf("WriteCheckpoint: %v", err)
			}
			parts := checkpointParts(t, b, tc.version)
			if len(parts) != 1 || parts[0].key != checkpointKey(tc.version) || parts[0].parts != 1 {
				t.Fatalf("checkpoint files %+v, want one %s", parts, checkpointKey(tc.version))
			}
			got, err := readCheckpoint(ctx, b, parts, true)
			if err != nil {
				t.Fatalf("readCheckpoint: %v", err)
			}
			want := stateActions(tc.actions)
			// Row groups are decoded in parallel and must come back in order.
			if data, _ := b.Get(ctx, parts[0].key); len(want) > checkpointRowGroupRows {
				pf, err := file.NewParquetReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				if pf.NumRowGroups() < 2 {
					t.Errorf("%d actions in %d row groups", len(want), pf.NumRowGroups())
				}
			}
			if len(got) != len(want) {
				t.Fatalf("read %d actions, want %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					g, _ := json.Marshal(got[i])
					w, _ := json.Marshal(want[i])
					t.Fatalf("action %d:\n got %s\nwant %s", i, g, w)
				}
			}

			lc, ok, err := readLastCheckpoint(ctx, b)
			if err != nil || !ok {
				t.Fatalf("_last_checkpoint: ok=%v err=%v", ok, err)
			}
			var raw map[string]any
			data, _ := b.Get(ctx, lastCheckpointKey)
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			var adds int64
			for _, a := range want {
				if a.Add != nil {
					adds++
				}
			}
			o, err := b.Stat(ctx, checkpointKey(tc.version))
			if err != nil {
				t.Fatal(err)
			}
			if lc.Version != tc.version || lc.Size != int64(len(want)) || lc.NumOfAddFiles == nil || *lc.NumOfAddFiles != adds ||
				raw["sizeInBytes"] != float64(o.Size) || lc.Parts != nil {
				t.Errorf("_last_checkpoint %s; want version %d size %d numOfAddFiles %d sizeInBytes %d", data, tc.version, len(want), adds, o.Size)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestWriteCheckpointIdempotent(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket(t)
	actions := sampleCheckpointActions(10)
	if err := WriteCheckpoint(ctx, b, 200, actions); err != nil {
		t.Fatal(err)
	}
	first, _ := b.Get(ctx, checkpointKey(200))
	// A second writer checkpointing the same version is not an error, and
	// leaves the first file alone.
	if err := WriteCheckpoint(ctx, b, 200, sampleCheckpointActions(3)); err != nil {
		t.Fatalf("second WriteCheckpoint: %v", err)
	}
	again, _ := b.Get(ctx, checkpointKey(200))
	if !bytes.Equal(first, again) {
		t.Error("existing checkpoint was overwritten")
	}
	// An older checkpoint written late does not move _last_checkpoint back.
	if err := WriteCheckpoint(ctx, b, 100, actions); err != nil {
		t.Fatal(err)
	}
	lc, ok, err := readLastCheckpoint(ctx, b)
	if err != nil || !ok || lc.Version != 200 || lc.Size != int64(len(stateActions(actions))) {
		t.Errorf("_last_checkpoint = %+v (ok=%v, err=%v), want version 200 size %d", lc, ok, err, len(stateActions(actions)))
	}
	if _, err := b.Stat(ctx, checkpointKey(100)); err != nil {
		t.Errorf("checkpoint 100 not written: %v", err)
	}
}

func TestWriteCheckpointRefuses(t *testing.T) {
	ctx := context.Background()
	base := sampleCheckpointActions(1)
	with := func(a Action) []Action { return append(slices.Clone(base), a) }
	tests := []struct {
		name    string
		version int64
		actions []Action
		feature string // a *FeatureError naming this; "" for a plain error
	}{
		{"deletion vector", 1, with(Action{Add: &Add{Path: "p", DeletionVector: json.RawMessage(`{"storageType":"u"}`)}}), "deletionVectors"},
		{"tombstone with deletion vector", 1, with(Action{Remove: &Remove{Path: "p", DeletionVector: json.RawMessage(`{}`)}}), "deletionVectors"},
		{"domain metadata", 1, with(Action{Domain: json.RawMessage(`{"domain":"d"}`)}), "domainMetadata"},
		{"sidecar", 1, with(Action{Sidecar: json.RawMessage(`{"path":"x"}`)}), "v2Checkpoint"},
		{"no protocol", 1, base[1:], ""},
		{"no metaData", 1, base[:1], ""},
		{"add without path", 1, with(Action{Add: &Add{}}), ""},
		{"negative version", -1, base, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemBucket(t)
			err := WriteCheckpoint(ctx, b, tc.version, tc.actions)
			if err == nil {
				t.Fatal("WriteCheckpoint succeeded")
			}
			var fe *FeatureError
			if tc.feature != "" && (!errors.As(err, &fe) || fe.Feature != tc.feature || fe.Op != "write" || !errors.Is(err, ErrUnsupportedFeature)) {
				t.Errorf("err = %v, want a FeatureError for %s", err, tc.feature)
			}
			if tc.feature == "" && errors.As(err, &fe) {
				t.Errorf("err = %v, want no FeatureError", err)
			}
			if objs := listAll(t, b); len(objs) != 0 {
				t.Errorf("refused checkpoint left objects %v", objs)
			}
		})
	}
}

func listAll(t *testing.T, b storage.Bucket) []string {
	t.Helper()
	it := b.List(context.Background(), "", "")
	var keys []string
	for {
		o, err := it.Next(context.Background())
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
}

// TestReadMultiPartCheckpoint splits a state over three part files.
func TestReadMultiPartCheckpoint(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket(t)
	actions := stateActions(sampleCheckpointActions(100))
	splits := [][]Action{actions[:2], actions[2:60], actions[60:]}
	for i, part := range splits {
		data, _, _, err := encodeCheckpointRows(part)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%s%020d.checkpoint.%010d.%010d.parquet", logDir, 9, i+1, len(splits))
		if err := b.PutIfAbsent(ctx, key, data); err != nil {
			t.Fatal(err)
		}
	}
	parts := checkpointParts(t, b, 9)
	if len(parts) != 3 {
		t.Fatalf("listed %d parts, want 3", len(parts))
	}
	got, err := readCheckpoint(ctx, b, parts, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, actions) {
		t.Errorf("multi-part read returned %d actions differing from the %d written", len(got), len(actions))
	}
}

// writeParquet writes one record with schema sc, columns built by fill, and
// footer key-value metadata kv (key, value, key, value, ...).
func writeParquet(t testing.TB, sc *arrow.Schema, rows int, fill func(rb *array.RecordBuilder), kv ...string) []byte {
	t.Helper()
	rb := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer rb.Release()
	fill(rb)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	if rec.NumRows() != int64(rows) {
		t.Fatalf("built %d rows, want %d", rec.NumRows(), rows)
	}
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &buf, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := w.AppendKeyValueMetadata(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// v2Checkpoint builds a checkpoint with protocol, metaData and (when
// sidecar) a sidecar row; the sidecar column exists either way.
func v2Checkpoint(t testing.TB, sidecar bool, kv ...string) []byte {
	str := arrow.BinaryTypes.String
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "protocol", Nullable: true, Type: arrow.StructOf(arrow.Field{Name: "minReaderVersion", Type: arrow.PrimitiveTypes.Int32, Nullable: true})},
		{Name: "metaData", Nullable: true, Type: arrow.StructOf(arrow.Field{Name: "id", Type: str, Nullable: true}, arrow.Field{Name: "schemaString", Type: str, Nullable: true})},
		{Name: "sidecar", Nullable: true, Type: arrow.StructOf(arrow.Field{Name: "path", Type: str, Nullable: true}, arrow.Field{Name: "sizeInBytes", Type: arrow.PrimitiveTypes.Int64, Nullable: true})},
	}, nil)
	return writeParquet(t, sc, 3, func(rb *array.RecordBuilder) {
		p, m, s := rb.Field(0).(*array.StructBuilder), rb.Field(1).(*array.StructBuilder), rb.Field(2).(*array.StructBuilder)
		p.Append(true)
		p.FieldBuilder(0).(*array.Int32Builder).Append(3)
		m.AppendNull()
		s.AppendNull()
		p.AppendNull()
		m.Append(true)
		m.FieldBuilder(0).(*array.StringBuilder).Append("id")
		m.FieldBuilder(1).(*array.StringBuilder).Append(`{"type":"struct","fields":[]}`)
		s.AppendNull()
		p.AppendNull()
		m.AppendNull()
		if sidecar {
			s.Append(true)
			s.FieldBuilder(0).(*array.StringBuilder).Append("_sidecars/x.parquet")
			s.FieldBuilder(1).(*array.Int64Builder).Append(10)
		} else {
			s.AppendNull()
		}
	}, kv...)
}

func TestReadCheckpointV2Refused(t *testing.T) {
	ctx := context.Background()
	for _, sidecar := range []bool{true, false} {
		t.Run(fmt.Sprint("sidecar=", sidecar), func(t *testing.T) {
			got, err := decodeCheckpoint(ctx, v2Checkpoint(t, sidecar), true)
			var fe *FeatureError
			if sidecar {
				if !errors.As(err, &fe) || fe.Feature != "v2Checkpoint" || fe.Op != "read" || !errors.Is(err, ErrUnsupportedFeature) {
					t.Fatalf("err = %v, want FeatureError v2Checkpoint/read", err)
				}
				return
			}
			// An all-null sidecar column is just a wide V1 schema.
			if err != nil || len(got) != 2 || got[0].Protocol == nil || got[0].Protocol.MinReaderVersion != 3 || got[1].MetaData == nil {
				t.Fatalf("got %+v, %v; want protocol and metaData", got, err)
			}
		})
	}
}

// TestReadCheckpointIgnoresArrowSchema: the embedded Arrow schema some
// writers leave in the footer is not needed, so a broken one does not make
// the checkpoint unreadable (a fuzzed one once sent the IPC decoder into a
// near-endless loop).
func TestReadCheckpointIgnoresArrowSchema(t *testing.T) {
	data := v2Checkpoint(t, false, "ARROW:schema", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff, 0x10, 0, 0}, 64)))
	got, err := decodeCheckpoint(context.Background(), data, true)
	if err != nil || len(got) != 2 || got[0].Protocol == nil || got[1].MetaData == nil {
		t.Fatalf("got %+v, %v; want protocol and metaData", got, err)
	}
}

func TestReadCheckpointCorrupt(t *testing.T) {
	ctx := context.Background()
	good, _, _, err := encodeCheckpoint(stateActions(sampleCheckpointActions(200)))
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(good)
	for i := 64; i < len(flipped)-200; i += 97 {
		flipped[i] ^= 0x5a
	}
	str := arrow.BinaryTypes.String
	intPath := writeParquet(t, arrow.NewSchema([]arrow.Field{{Name: "add", Nullable: true,
		Type: arrow.StructOf(arrow.Field{Name: "path", Type: arrow.PrimitiveTypes.Int64, Nullable: true})}}, nil), 1,
		func(rb *array.RecordBuilder) {
			s := rb.Field(0).(*array.StructBuilder)
			s.Append(true)
			s.FieldBuilder(0).(*array.Int64Builder).Append(7)
		})
	nullPath := writeParquet(t, arrow.NewSchema([]arrow.Field{{Name: "add", Nullable: true,
		Type: arrow.StructOf(arrow.Field{Name: "path", Type: str, Nullable: true})}}, nil), 1,
		func(rb *array.RecordBuilder) {
			s := rb.Field(0).(*array.StructBuilder)
			s.Append(true)
			s.FieldBuilder(0).(*array.StringBuilder).AppendNull()
		})
	noActions := writeParquet(t, arrow.NewSchema([]arrow.Field{{Name: "x", Type: str, Nullable: true}}, nil), 1,
		func(rb *array.RecordBuilder) { rb.Field(0).(*array.StringBuilder).Append("y") })
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not parquet", []byte("{\"add\":{\"path\":\"x\"}}\n")},
		{"magic only", []byte("PAR1PAR1")},
		{"truncated footer", good[:len(good)-10]},
		{"truncated body", append(slices.Clone(good[:len(good)/2]), good[len(good)-8:]...)},
		{"flipped bytes", flipped},
		{"add.path not a string", intPath},
		{"add without path", nullPath},
		{"no action columns", noActions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemBucket(t)
			key := checkpointKey(5)
			if err := b.Put(ctx, key, tc.data); err != nil {
				t.Fatal(err)
			}
			got, err := readCheckpoint(ctx, b, []logFile{{version: 5, key: key, part: 1, parts: 1}}, true)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("readCheckpoint = %d actions, %v; want ErrCorrupt", len(got), err)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name %s", err, key)
			}
		})
	}
}

func TestReadCheckpointMissingPart(t *testing.T) {
	b := newMemBucket(t)
	_, err := readCheckpoint(context.Background(), b, []logFile{{version: 1, key: checkpointKey(1), part: 1, parts: 1}}, true)
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("err = %v, want storage.ErrNotFound", err)
	}
}

// TestCheckpointReadableByDuckDB checks the file WriteCheckpoint produces
// with an independent Parquet reader.
func TestCheckpointReadableByDuckDB(t *testing.T) {
	ctx := context.Background()
	b := newMemBucket(t)
	actions := sampleCheckpointActions(1000)
	if err := WriteCheckpoint(ctx, b, 100, actions); err != nil {
		t.Fatal(err)
	}
	data, err := b.Get(ctx, checkpointKey(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "00000000000000000100.checkpoint.parquet")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lit := "'" + strings.ReplaceAll(path, "'", "''") + "'"

	rows, err := db.QueryContext(ctx, "SELECT add.path, add.partitionValues['region'], add.size FROM read_parquet("+lit+") WHERE add IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		region *string
		size   int64
	}
	got := map[string]file{}
	for rows.Next() {
		var p string
		var region sql.NullString
		var size int64
		if err := rows.Scan(&p, &region, &size); err != nil {
			t.Fatal(err)
		}
		f := file{size: size}
		if region.Valid {
			f.region = &region.String
		}
		got[p] = f
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var want int
	for _, a := range actions {
		if a.Add == nil {
			continue
		}
		want++
		g, ok := got[a.Add.Path]
		if !ok {
			t.Fatalf("DuckDB does not see add %s", a.Add.Path)
		}
		if wr := a.Add.PartitionValues["region"]; g.size != a.Add.Size || (wr == nil) != (g.region == nil) || (wr != nil && *wr != *g.region) {
			t.Fatalf("DuckDB reads add %s as %+v, want size %d region %v", a.Add.Path, g, a.Add.Size, wr)
		}
	}
	if len(got) != want {
		t.Errorf("DuckDB sees %d adds, want %d", len(got), want)
	}

	var txns, removes, protocols, minReader, metas int
	var partCols, conf string
	err = db.QueryRowContext(ctx, `SELECT count(txn), count(remove), count(protocol), max(protocol.minReaderVersion), count(metaData),
		max(array_to_string(metaData.partitionColumns, ',')), max(metaData.configuration['delta.checkpointInterval'])
		FROM read_parquet(`+lit+`)`).Scan(&txns, &removes, &protocols, &minReader, &metas, &partCols, &conf)
	if err != nil {
		t.Fatal(err)
	}
	if txns != 6 || removes != 50 || protocols != 1 || minReader != 1 || metas != 1 || partCols != "date,region" || conf != "100" {
		t.Errorf("DuckDB: %d txns, %d removes, %d protocols (minReader %d), %d metaData (partitionColumns %q, interval %q)",
			txns, removes, protocols, minReader, metas, partCols, conf)
	}
}

// reportCPU reports the process CPU time per operation: on a loaded
// machine wall time says more about the neighbours than about the code.
func reportCPU(b *testing.B) func() {
	var start syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	return func() {
		var end syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &end)
		cpu := time.Duration(end.Utime.Nano() + end.Stime.Nano() - start.Utime.Nano() - start.Stime.Nano())
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func benchCheckpoint(b *testing.B) (storage.Bucket, []logFile) {
	ctx := context.Background()
	bucket := newMemBucket(b)
	if err := WriteCheckpoint(ctx, bucket, 100, sampleCheckpointActions(10_000)); err != nil {
		b.Fatal(err)
	}
	return bucket, checkpointParts(b, bucket, 100)
}

func BenchmarkReadCheckpoint(b *testing.B) {
	ctx := context.Background()
	bucket, parts := benchCheckpoint(b)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		actions, err := readCheckpoint(ctx, bucket, parts, true)
		if err != nil || len(actions) != 10_000+2+6+50 {
			b.Fatalf("%d actions, %v", len(actions), err)
		}
	}
}

func BenchmarkWriteCheckpoint(b *testing.B) {
	ctx := context.Background()
	actions := sampleCheckpointActions(10_000)
	bucket := newMemBucket(b)
	b.ReportAllocs()
	defer reportCPU(b)()
	v := int64(0)
	for b.Loop() {
		v++
		if err := WriteCheckpoint(ctx, bucket, v, actions); err != nil {
			b.Fatal(err)
		}
	}
}

// A read without the removes skips the row groups of removes only (an
// OPTIMIZE's tombstones, stored last) and returns every other action; a
// remove in a row group with other actions does not make it skipped.
func TestReadCheckpointSkipsRemoveRowGroups(t *testing.T) {
	ctx := context.Background()
	actions := stateActions(sampleCheckpointActions(20))
	for i := range 3 * checkpointRowGroupRows {
		ts := int64(1_700_000_000_000 + i)
		size := int64(1000 + i)
		d := "2024-01-01"
		actions = append(actions, Action{Remove: &Remove{Path: fmt.Sprintf("date=%s/part-%05d.parquet", d, i), DeletionTimestamp: &ts,
			DataChange: true, Size: &size, PartitionValues: map[string]*string{"date": &d}}})
	}
	data, _, _, err := encodeCheckpoint(actions)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	leaves, _ := checkpointLeaves(pf, checkpointColumns{parsed: true})
	groups := nonRemoveRowGroups(pf, leaves)
	if total := pf.NumRowGroups(); total < 4 || !slices.Equal(groups, []int{0}) {
		t.Fatalf("row groups read without removes: %v of %d, want [0] (the one with the adds)", groups, total)
	}
	b := newMemBucket(t)
	if err := b.Put(ctx, checkpointKey(9), data); err != nil {
		t.Fatal(err)
	}
	parts := []logFile{{version: 9, key: checkpointKey(9), part: 1, parts: 1}}
	all, err := readCheckpoint(ctx, b, parts, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readCheckpoint(ctx, b, parts, false)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(all), func(a Action) bool { return a.Remove != nil })
	if len(all) != len(actions) || len(want) != 2+6+20 || !reflect.DeepEqual(got, want) {
		t.Fatalf("without removes: %d actions of %d; want the %d others", len(got), len(all), len(want))
	}
}
