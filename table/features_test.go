package table_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// featSchema is x long (with an optional invariant), msg string (NOT NULL
// when notNull) and ts.
func featSchema(t *testing.T, invariant string, notNull bool) *table.Schema {
	t.Helper()
	md := "{}"
	if invariant != "" {
		md = fmt.Sprintf(`{"delta.invariants":%q}`, fmt.Sprintf(`{"expression":{"expression":%q}}`, invariant))
	}
	s, err := table.ParseSchema(fmt.Sprintf(`{"type":"struct","fields":[
		{"name":"x","type":"long","nullable":true,"metadata":%s},
		{"name":"msg","type":"string","nullable":%v,"metadata":{}},
		{"name":"ts","type":"timestamp","nullable":true,"metadata":{}}]}`, md, !notNull))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func jsonRecord(t *testing.T, sch *arrow.Schema, rows string) arrow.Record {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sch, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func createFeat(t *testing.T, c table.CreateOptions) (*table.Table, storage.Bucket) {
	t.Helper()
	b := openMem(t)
	tbl, err := table.Create(context.Background(), b, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tbl, b
}

func appendJSON(t *testing.T, tbl *table.Table, rows string) (int64, error) {
	t.Helper()
	snap, err := tbl.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sch, _ := snap.Schema()
	rec := jsonRecord(t, sch.Arrow(), rows)
	defer rec.Release()
	return tbl.Append(context.Background(), []arrow.Record{rec}, nil)
}

// dictStrings returns rec with its string columns dictionary-encoded, as
// ingest's decoders hand them to a Writer.
func dictStrings(t *testing.T, rec arrow.Record) arrow.Record {
	t.Helper()
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	fields := rec.Schema().Fields()
	cols := make([]arrow.Array, len(fields))
	for i, f := range fields {
		if f.Type.ID() != arrow.STRING {
			cols[i] = rec.Column(i)
			cols[i].Retain()
			continue
		}
		b := array.NewDictionaryBuilder(memory.DefaultAllocator, typ)
		if err := b.AppendArray(rec.Column(i)); err != nil {
			t.Fatal(err)
		}
		cols[i] = b.NewArray()
		b.Release()
		fields[i].Type = typ
	}
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// Defect 3 (appendOnly): a dataChange remove is refused before anything is
// written; rearranging (dataChange=false) is allowed.
func TestAppendOnly(t *testing.T) {
	ctx := context.Background()
	tbl, _ := createFeat(t, table.CreateOptions{Schema: featSchema(t, "", false),
		Properties: map[string]string{"delta.appendOnly": "true"}})
	if _, err := appendJSON(t, tbl, `[{"x":1,"msg":"a"},{"x":2,"msg":"b"}]`); err != nil {
		t.Fatal(err)
	}
	snap := latest(t, tbl)
	f := snap.Files()[0]
	_, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "DELETE", Actions: []table.Action{
		{Remove: &table.Remove{Path: f.Path, DataChange: true, Size: &f.Size}}}})
	if !errors.Is(err, table.ErrAppendOnly) || !strings.Contains(err.Error(), "appendOnly") {
		t.Fatalf("remove on an appendOnly table: err = %v, want ErrAppendOnly naming appendOnly", err)
	}
	if v, _ := tbl.LatestVersion(ctx); v != snap.Version() {
		t.Fatalf("refused commit wrote version %d", v)
	}
	// Rearrangement: the same file removed and re-added without data change.
	re := *f
	re.DataChange = false
	v, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "OPTIMIZE", Actions: []table.Action{
		{Remove: &table.Remove{Path: f.Path, DataChange: false, Size: &f.Size}}, {Add: &re}}})
	if err != nil || v != snap.Version()+1 {
		t.Fatalf("dataChange=false rearrangement: v=%d err=%v", v, err)
	}
	// Turning appendOnly off in the same commit as a delete is still refused.
	snap = latest(t, tbl)
	md := *snap.Metadata()
	md.Configuration = map[string]string{"delta.appendOnly": "false"}
	_, err = tbl.Commit(ctx, snap, &table.Commit{Actions: []table.Action{{MetaData: &md},
		{Remove: &table.Remove{Path: f.Path, DataChange: true}}}})
	if !errors.Is(err, table.ErrAppendOnly) {
		t.Fatalf("delete while switching appendOnly off: err = %v", err)
	}
}

// Defect 3 (invariants) and 7 (NOT NULL): violating rows are never
// committed; the error names the rule.
func TestConstraintsRefuseRows(t *testing.T) {
	cases := []struct {
		name      string
		invariant string
		notNull   bool
		props     map[string]string
		bad, good string
		want      string
		writer    int
	}{
		{"invariant", "x > 0", false, nil, `[{"x":3,"msg":"a"},{"x":-5,"msg":"b"}]`, `[{"x":3,"msg":"a"}]`, "invariant x > 0 (column x)", 2},
		// Spark: an invariant whose result is NULL is violated.
		{"invariant null", "x > 0", false, nil, `[{"x":null,"msg":"b"}]`, `[{"x":1}]`, "invariant x > 0", 2},
		{"check constraint", "", false, map[string]string{"delta.constraints.positive": "x > 0 AND msg <> 'bad'"},
			`[{"x":1,"msg":"bad"}]`, `[{"x":1,"msg":"ok"}]`, "CHECK constraint positive: x > 0 AND msg <> 'bad'", 3},
		{"not null", "", true, nil, `[{"x":1,"msg":"a"},{"x":2}]`, `[{"x":2,"msg":""}]`, "NOT NULL column msg", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tbl, _ := createFeat(t, table.CreateOptions{Schema: featSchema(t, tc.invariant, tc.notNull), Properties: tc.props})
			if p := latest(t, tbl).Protocol(); p.MinReaderVersion != 1 || p.MinWriterVersion != tc.writer {
				t.Fatalf("protocol %+v, want 1/%d", p, tc.writer)
			}
			// The rows with their strings dictionary-encoded are checked
			// the same.
			sch, _ := latest(t, tbl).Schema()
			bad := jsonRecord(t, sch.Arrow(), tc.bad)
			dict := dictStrings(t, bad)
			bad.Release()
			_, err := tbl.Append(context.Background(), []arrow.Record{dict}, nil)
			dict.Release()
			var ce *table.ConstraintError
			if !errors.Is(err, table.ErrConstraint) || !errors.As(err, &ce) || !strings.Contains(ce.Constraint, tc.want) {
				t.Fatalf("dictionary-encoded: err = %v, want a ConstraintError naming %q", err, tc.want)
			}
			_, err = appendJSON(t, tbl, tc.bad)
			if !errors.Is(err, table.ErrConstraint) || !errors.As(err, &ce) || !strings.Contains(ce.Constraint, tc.want) {
				t.Fatalf("err = %v, want a ConstraintError naming %q", err, tc.want)
			}
			if v := latest(t, tbl).Version(); v != 0 {
				t.Fatalf("violating rows committed: version %d", v)
			}
			if v, err := appendJSON(t, tbl, tc.good); err != nil || v != 1 {
				t.Fatalf("good rows: v=%d err=%v", v, err)
			}
		})
	}
}

// An invariant or CHECK constraint the predicate language cannot evaluate
// is refused by name before anything is written, on create and on write.
func TestConstraintsUnevaluable(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	_, err := table.Create(ctx, b, table.CreateOptions{Schema: featSchema(t, "length(msg) > 3", false)}, nil)
	if !errors.Is(err, table.ErrUnsupportedFeature) || !strings.Contains(err.Error(), `"invariants"`) || !strings.Contains(err.Error(), "length(msg) > 3") {
		t.Fatalf("create: err = %v, want unsupported feature invariants naming the expression", err)
	}
	if _, err := b.Stat(ctx, table.CommitKey(0)); err == nil {
		t.Fatal("refused create wrote a commit")
	}
	// The same table written by another engine: writes are refused.
	commit := `{"protocol":{"minReaderVersion":1,"minWriterVersion":3}}` + "\n" +
		fmt.Sprintf(`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":%q,"partitionColumns":[],"configuration":{"delta.constraints.c1":"x %% 2 = 0"}}}`,
			featSchema(t, "", false).String()) + "\n"
	if err := b.PutIfAbsent(ctx, table.CommitKey(0), []byte(commit)); err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatalf("reading is fine: %v", err)
	}
	_, err = appendJSON(t, tbl, `[{"x":2}]`)
	if !errors.Is(err, table.ErrUnsupportedFeature) || !strings.Contains(err.Error(), "checkConstraints") || !strings.Contains(err.Error(), "c1") {
		t.Fatalf("append: err = %v, want unsupported checkConstraints naming c1", err)
	}
}

// Audit: features loglake cannot honour are refused by name on write.
func TestRefuseWriterFeatures(t *testing.T) {
	ctx := context.Background()
	gen, _ := table.ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},
		{"name":"y","type":"long","nullable":true,"metadata":{"delta.generationExpression":"x + 1"}}]}`)
	ident, _ := table.ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":false,
		"metadata":{"delta.identity.start":1,"delta.identity.step":1,"delta.identity.allowExplicitInsert":false}}]}`)
	for _, tc := range []struct {
		name    string
		sch     *table.Schema
		feature string
	}{{"generated column", gen, "generatedColumns"}, {"identity column", ident, "identityColumns"}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := table.Create(ctx, openMem(t), table.CreateOptions{Schema: tc.sch}, nil)
			var fe *table.FeatureError
			if !errors.As(err, &fe) || fe.Feature != tc.feature {
				t.Fatalf("err = %v, want FeatureError %s", err, tc.feature)
			}
		})
	}
	for _, f := range []string{"deletionVectors", "rowTracking", "domainMetadata", "v2Checkpoint", "icebergCompatV2", "typeWidening", "clustering"} {
		t.Run(f, func(t *testing.T) {
			b := openMem(t)
			commit := fmt.Sprintf(`{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":[%q]}}`, f) + "\n" +
				fmt.Sprintf(`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":%q,"partitionColumns":[],"configuration":{}}}`,
					featSchema(t, "", false).String()) + "\n"
			if err := b.PutIfAbsent(ctx, table.CommitKey(0), []byte(commit)); err != nil {
				t.Fatal(err)
			}
			tbl, err := table.Open(ctx, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = appendJSON(t, tbl, `[{"x":2}]`)
			var fe *table.FeatureError
			if !errors.As(err, &fe) || fe.Feature != f || fe.Op != "write" {
				t.Fatalf("err = %v, want FeatureError %s on write", err, f)
			}
		})
	}
	// Change data feed: appends and whole-file removes are honoured (readers
	// derive their change data), a rewrite (remove + add) is refused.
	tbl, _ := createFeat(t, table.CreateOptions{Schema: featSchema(t, "", false),
		Properties: map[string]string{"delta.enableChangeDataFeed": "true"}})
	if p := latest(t, tbl).Protocol(); p.MinWriterVersion != 4 {
		t.Fatalf("CDF table protocol %+v, want writer 4", p)
	}
	if _, err := appendJSON(t, tbl, `[{"x":1}]`); err != nil {
		t.Fatal(err)
	}
	snap := latest(t, tbl)
	f := snap.Files()[0]
	add := *f
	add.Path = "other.parquet"
	_, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "DELETE", Actions: []table.Action{
		{Remove: &table.Remove{Path: f.Path, DataChange: true}}, {Add: &add}}})
	var fe *table.FeatureError
	if !errors.As(err, &fe) || fe.Feature != "changeDataFeed" {
		t.Fatalf("CDF rewrite: err = %v, want FeatureError changeDataFeed", err)
	}
	// The same rewrite with its change data (another writer's UPDATE, as
	// a clone replays it) is complete.
	cdc := []table.Action{{Remove: &table.Remove{Path: f.Path, DataChange: true}}, {Add: &add},
		{CDC: &table.CDC{Path: "_change_data/cdc-0.parquet", Size: 1}}}
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "UPDATE", Actions: cdc}); err != nil {
		t.Fatalf("CDF rewrite with cdc files: %v", err)
	}
	snap = latest(t, tbl)
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "DELETE", Actions: []table.Action{
		{Remove: &table.Remove{Path: add.Path, DataChange: true}}}}); err != nil {
		t.Fatalf("CDF whole-file delete: %v", err)
	}
	// DELETE that would rewrite a file is refused before it writes any.
	tbl, b := createFeat(t, table.CreateOptions{Schema: featSchema(t, "", false),
		Properties: map[string]string{"delta.enableChangeDataFeed": "true"}})
	if _, err := appendJSON(t, tbl, `[{"x":1},{"x":2}]`); err != nil {
		t.Fatal(err)
	}
	before := len(keys(t, b))
	_, err = tbl.Delete(ctx, &table.DeleteOptions{Where: "x = 1"})
	if !errors.As(err, &fe) || fe.Feature != "changeDataFeed" {
		t.Fatalf("CDF DELETE rewrite: err = %v, want FeatureError changeDataFeed", err)
	}
	if after := len(keys(t, b)); after != before {
		t.Fatalf("refused DELETE left %d new objects", after-before)
	}
}

// Defect 4: the lowest protocol the columns need, on create and when a later
// metaData adds a timestamp_ntz column.
func TestProtocolWritten(t *testing.T) {
	ctx := context.Background()
	ntz, _ := table.ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},
		{"name":"t","type":"timestamp_ntz","nullable":true,"metadata":{}}]}`)
	tbl, _ := createFeat(t, table.CreateOptions{Schema: ntz})
	p := latest(t, tbl).Protocol()
	if p.MinReaderVersion != 3 || p.MinWriterVersion != 7 || !slices.Equal(p.ReaderFeatures, []string{"timestampNtz"}) ||
		!slices.Equal(p.WriterFeatures, []string{"timestampNtz"}) {
		t.Fatalf("create with timestamp_ntz: protocol %+v", p)
	}
	if _, err := appendJSON(t, tbl, `[{"x":1,"t":"2026-11-24T10:30:00"}]`); err != nil {
		t.Fatal(err)
	}

	tbl, _ = createFeat(t, table.CreateOptions{Schema: featSchema(t, "", false)})
	snap := latest(t, tbl)
	if p := snap.Protocol(); p.MinReaderVersion != 1 || p.MinWriterVersion != 2 || p.ReaderFeatures != nil || p.WriterFeatures != nil {
		t.Fatalf("default protocol %+v, want 1/2", p)
	}
	sch, _ := snap.Schema()
	sch.Fields = append(sch.Fields, &table.Field{Name: "t", Type: table.TypeTimestampNTZ, Nullable: true})
	md := *snap.Metadata()
	md.SchemaString = sch.String()
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "ADD COLUMNS", Actions: []table.Action{{MetaData: &md}}}); err != nil {
		t.Fatal(err)
	}
	p = latest(t, tbl).Protocol()
	if p.MinReaderVersion != 3 || p.MinWriterVersion != 7 || !slices.Equal(p.ReaderFeatures, []string{"timestampNtz"}) ||
		!slices.Equal(p.WriterFeatures, []string{"appendOnly", "invariants", "timestampNtz"}) {
		t.Fatalf("after adding a timestamp_ntz column: protocol %+v", p)
	}
}

// Defect 4: timestamp partition values are written ISO-8601 UTC and read
// back, pruned and filtered as the same instant; a zone-less value written
// by an older loglake reads as UTC.
func TestTimestampPartitionValues(t *testing.T) {
	ctx := context.Background()
	sch, _ := table.ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},
		{"name":"hour","type":"timestamp","nullable":true,"metadata":{}}]}`)
	tbl, b := createFeat(t, table.CreateOptions{Schema: sch, PartitionColumns: []string{"hour"}})
	if _, err := appendJSON(t, tbl, `[{"x":1,"hour":"2026-11-24T10:30:00.000500Z"},{"x":2,"hour":"2026-11-24T11:00:00Z"}]`); err != nil {
		t.Fatal(err)
	}
	snap := latest(t, tbl)
	var vals []string
	for _, f := range snap.Files() {
		vals = append(vals, *f.PartitionValues["hour"])
	}
	slices.Sort(vals)
	if want := []string{"2026-11-24T10:30:00.000500Z", "2026-11-24T11:00:00.000000Z"}; !slices.Equal(vals, want) {
		t.Fatalf("partition values %q, want %q", vals, want)
	}
	// An older loglake's zone-less value, committed beside them.
	old := *snap.Files()[0]
	old.Path = "old.parquet"
	zoneless := "2026-11-24 12:00:00"
	old.PartitionValues = map[string]*string{"hour": &zoneless}
	if err := copyObject(ctx, b, snap.Files()[0].Path, old.Path); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: []table.Action{{Add: &old}}}); err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string]int{
		"hour = '2026-11-24T10:30:00.000500Z'":      1,
		"hour = '2026-11-24 11:30:00.000500+01:00'": 1,
		"hour = '2026-11-24T12:00:00Z'":             1,
		"hour >= '2026-11-24T11:00:00Z'":            2,
	} {
		sc, err := latest(t, tbl).Scan(ctx, &table.ScanOptions{Filter: filter})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			rec, err := sc.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", filter, err)
			}
			n += int(rec.NumRows())
			rec.Release()
		}
		sc.Close()
		if n != want {
			t.Errorf("%s: %d rows, want %d", filter, n, want)
		}
	}
}

func copyObject(ctx context.Context, b storage.Bucket, from, to string) error {
	key, err := table.FileKey(from)
	if err != nil {
		return err
	}
	data, err := b.Get(ctx, key)
	if err != nil {
		return err
	}
	return b.Put(ctx, to, data)
}

// NOT NULL nested fields: a null inside a non-null parent violates, a null
// parent does not (its children are absent, not null).
func TestConstraintsNested(t *testing.T) {
	sch, err := table.ParseSchema(`{"type":"struct","fields":[
		{"name":"s","type":{"type":"struct","fields":[{"name":"a","type":"long","nullable":false,"metadata":{}}]},"nullable":true,"metadata":{}},
		{"name":"l","type":{"type":"array","elementType":"string","containsNull":false},"nullable":true,"metadata":{}},
		{"name":"m","type":{"type":"map","keyType":"string","valueType":"long","valueContainsNull":false},"nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	tbl, _ := createFeat(t, table.CreateOptions{Schema: sch})
	cons, err := latest(t, tbl).Constraints()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"NOT NULL column s.a", "NOT NULL column l.element", "NOT NULL column m.value"}; !slices.Equal(cons.Names(), want) {
		t.Fatalf("names %q, want %q", cons.Names(), want)
	}
	rec := jsonRecord(t, sch.Arrow(), `[
		{"s":{"a":1},"l":["x"],"m":[{"key":"k","value":1}]},
		{"s":null,"l":null,"m":null},
		{"s":{"a":null}},
		{"l":["x",null]}]`)
	defer rec.Release()
	vs, err := cons.Check(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := []table.Violation{{Row: 2, Constraint: "NOT NULL column s.a"}, {Row: 3, Constraint: "NOT NULL column l.element"}}
	if !slices.Equal(vs, want) {
		t.Fatalf("violations %+v, want %+v", vs, want)
	}
	// Sliced records are checked at their own offsets.
	sl := rec.NewSlice(2, 4)
	defer sl.Release()
	if vs, _ := cons.Check(sl); len(vs) != 2 || vs[0].Row != 0 || vs[1].Row != 1 {
		t.Fatalf("slice: %+v", vs)
	}
}

// TestRewritesKeepComputedColumns: OPTIMIZE and DELETE copy rows with the
// values their generated and identity columns were written with, and VACUUM
// writes none, so they work on such tables; an append of new rows, whose
// values loglake would have to compute, is still refused by name.
func TestRewritesKeepComputedColumns(t *testing.T) {
	ctx := context.Background()
	tbl, _ := createFeat(t, table.CreateOptions{Schema: featSchemaXY(t)})
	for _, rows := range []string{`[{"x":1,"y":2}]`, `[{"x":2,"y":3}]`, `[{"x":3,"y":4}]`} {
		if _, err := appendJSON(t, tbl, rows); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md := *snap.Metadata()
	md.SchemaString = `{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},` +
		`{"name":"y","type":"long","nullable":true,"metadata":{"delta.generationExpression":"x + 1"}}]}`
	proto := &table.Protocol{MinReaderVersion: 1, MinWriterVersion: 4}
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Operation: "SET TBLPROPERTIES",
		Actions: []table.Action{{Protocol: proto}, {MetaData: &md}}}); err != nil {
		t.Fatal(err)
	}

	_, err = appendJSON(t, tbl, `[{"x":9,"y":0}]`)
	var fe *table.FeatureError
	if !errors.As(err, &fe) || fe.Feature != "generatedColumns" {
		t.Fatalf("append: %v, want FeatureError generatedColumns", err)
	}
	if _, err := tbl.Optimize(ctx, &table.OptimizeOptions{}); err != nil {
		t.Fatalf("optimize: %v", err)
	}
	if _, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "x = 2"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := tbl.Vacuum(ctx, &table.VacuumOptions{DryRun: true}); err != nil {
		t.Fatalf("vacuum: %v", err)
	}
	snap, err = tbl.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := rowStrings(t, snap); !slices.Equal(got, []string{"1|2|", "3|4|"}) {
		t.Fatalf("rows after optimize and delete: %v", got)
	}
}

func featSchemaXY(t *testing.T) *table.Schema {
	t.Helper()
	sch, err := table.ParseSchema(`{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{}},{"name":"y","type":"long","nullable":true,"metadata":{}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}
