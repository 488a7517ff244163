package table

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/loglake/loglake/storage"
)

// Classic (V1 spec) Parquet checkpoints: one row per action, one nullable
// top-level struct column per action type. See "Checkpoints" and
// "Checkpoint Schema" in the Delta PROTOCOL.md.

// checkpointKey is the key of the single-file classic checkpoint of version v.
func checkpointKey(v int64) string { return fmt.Sprintf("%s%020d.checkpoint.parquet", logDir, v) }

// checkpointBatchRows bounds the rows decoded per Arrow record batch, so the
// decoded working set stays small next to the checkpoint bytes themselves.
const checkpointBatchRows = 1 << 14

// readCheckpoint reads the parts of a classic single- or multi-part
// checkpoint and returns its protocol, metaData, txn, add and remove actions
// in file order. Other actions (commitInfo, cdc, domainMetadata) are skipped.
// A checkpoint that carries V2-spec actions (checkpointMetadata, sidecar) is
// refused with a *FeatureError; undecodable bytes give an error wrapping
// ErrCorrupt.
func readCheckpoint(ctx context.Context, b storage.Bucket, parts []logFile) ([]Action, error) {
	var out []Action
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := b.Get(ctx, p.key)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %s: %w", p.key, err)
		}
		actions, err := decodeCheckpoint(ctx, data)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", p.key, err)
		}
		for i := range actions {
			if err := actions[i].checkPaths(); err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", p.key, err)
			}
		}
		if out == nil {
			out = actions
		} else {
			out = append(out, actions...)
		}
	}
	return out, nil
}

// decodeCheckpoint decodes one checkpoint file. It first tries with the
// add.stats_parsed column (needed only when add.stats is missing); if that
// column defeats the Arrow reader (an exotic stats type), it retries without
// it rather than failing the whole checkpoint.
func decodeCheckpoint(ctx context.Context, data []byte) ([]Action, error) {
	actions, usedParsed, err := decodeCheckpointFile(ctx, data, true)
	var fe *FeatureError
	if err != nil && usedParsed && !errors.As(err, &fe) && ctx.Err() == nil {
		if actions2, _, err2 := decodeCheckpointFile(ctx, data, false); err2 == nil {
			return actions2, nil
		}
	}
	return actions, err
}

// decodeCheckpointFile reads the action columns of one checkpoint file.
// usedParsed reports whether add.stats_parsed was among the columns read.
// The Arrow and Parquet readers are trusted with untrusted bytes only behind
// a recover: a panic on malformed input becomes ErrCorrupt.
func decodeCheckpointFile(ctx context.Context, data []byte, withParsed bool) (actions []Action, usedParsed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			actions = nil
			err = fmt.Errorf("%w: checkpoint reader failed: %v", ErrCorrupt, r)
		}
	}()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return nil, false, fmt.Errorf("%w: not a Parquet file: %v", ErrCorrupt, err)
	}
	defer pf.Close()

	leaves, usedParsed := checkpointLeaves(pf, withParsed)
	if len(leaves) == 0 {
		return nil, false, fmt.Errorf("%w: checkpoint has no action columns", ErrCorrupt)
	}
	if pf.NumRows() == 0 {
		return nil, usedParsed, nil
	}
	// Drop the footer's key-value metadata before pqarrow sees it: it would
	// decode an embedded Arrow IPC schema ("ARROW:schema", written by
	// delta-rs) that we do not need, and a corrupt one can send the IPC
	// decoder into an effectively endless loop (found by FuzzReadCheckpoint).
	pf.MetaData().FileMetaData.KeyValueMetadata = nil
	if err := probeColumnChunks(pf, leaves); err != nil {
		return nil, usedParsed, err
	}
	// Not Parallel: a panic in the reader's own goroutines could not be
	// recovered here.
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: checkpointBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return nil, usedParsed, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, usedParsed, ctx.Err()
		}
		return nil, usedParsed, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer rr.Release()

	// The footer's row count is untrusted: size the hint by the bytes too.
	actions = make([]Action, 0, min(pf.NumRows(), int64(len(data)/16)))
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return nil, usedParsed, err
		}
		if actions, err = decodeCheckpointBatch(rr.RecordBatch(), actions); err != nil {
			return nil, usedParsed, err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		if ctx.Err() != nil {
			return nil, usedParsed, ctx.Err()
		}
		return nil, usedParsed, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return actions, usedParsed, nil
}

// probeColumnChunks opens the page readers of the first row group's
// selected columns in this goroutine. pqarrow builds its column readers in
// goroutines of its own, where a panic on a corrupt column chunk (a negative
// length, say) cannot be recovered and would take the process down; here the
// same panic is caught by decodeCheckpointFile. Later row groups are opened
// by the record reader in the caller's goroutine.
func probeColumnChunks(pf *file.Reader, leaves []int) error {
	if pf.NumRowGroups() == 0 {
		return nil
	}
	rg := pf.RowGroup(0)
	for _, i := range leaves {
		if _, err := rg.GetColumnPageReader(i); err != nil {
			return fmt.Errorf("%w: column %d: %v", ErrCorrupt, i, err)
		}
	}
	return nil
}

// checkpointFields lists, per top-level action column, the child fields the
// reader needs (nil: all of them). Reading only these keeps the cost of a
// checkpoint independent of its partitionValues_parsed and of columns that
// other engines add.
var checkpointFields = map[string]map[string]bool{
	"protocol": nil,
	"metaData": nil,
	"txn":      nil,
	"add": {
		"path": true, "partitionValues": true, "size": true, "modificationTime": true,
		"dataChange": true, "stats": true, "tags": true, "deletionVector": true,
		"baseRowId": true, "defaultRowCommitVersion": true, "clusteringProvider": true,
		"stats_parsed": true,
	},
	"remove": {
		"path": true, "deletionTimestamp": true, "dataChange": true,
		"extendedFileMetadata": true, "partitionValues": true, "size": true,
		"deletionVector": true,
	},
	// V2-spec actions: read only to refuse them.
	"checkpointMetadata": nil,
	"sidecar":            nil,
}

// checkpointLeaves returns the Parquet leaf column indices to read.
func checkpointLeaves(pf *file.Reader, withParsed bool) (leaves []int, usedParsed bool) {
	sc := pf.MetaData().Schema
	for i := 0; i < sc.NumColumns(); i++ {
		path := sc.Column(i).ColumnPath()
		if len(path) < 2 {
			continue
		}
		children, ok := checkpointFields[path[0]]
		if !ok {
			continue
		}
		if children != nil && !children[path[1]] {
			continue
		}
		if path[0] == "add" && path[1] == "stats_parsed" {
			if !withParsed {
				continue
			}
			usedParsed = true
		}
		leaves = append(leaves, i)
	}
	return leaves, usedParsed
}

// kind is the logical shape a checkpoint field must have.
type kind int

const (
	kindString kind = iota
	kindInt
	kindBool
	kindStringMap
	kindStringList
	kindStruct
)

// structView gives access to the children of a struct column by name.
type structView struct {
	arr *array.Struct
	typ *arrow.StructType
}

// topStruct returns the named top-level struct column of rec, or a zero
// view when the column is absent.
func topStruct(rec arrow.RecordBatch, name string) (structView, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return structView{}, nil
	}
	arr, ok := rec.Column(idx[0]).(*array.Struct)
	if !ok {
		return structView{}, fmt.Errorf("%w: checkpoint column %s is %s, not a struct", ErrCorrupt, name, rec.Column(idx[0]).DataType())
	}
	return structView{arr: arr, typ: arr.DataType().(*arrow.StructType)}, nil
}

// valid reports whether row i holds this action.
func (s structView) valid(i int) bool { return s.arr != nil && s.arr.IsValid(i) }

// field returns child name checked against k, or nil when it is absent.
func (s structView) field(name string, k kind) (arrow.Array, error) {
	if s.arr == nil {
		return nil, nil
	}
	idx, ok := s.typ.FieldIdx(name)
	if !ok {
		return nil, nil
	}
	a := s.arr.Field(idx)
	if !hasKind(a, k) {
		return nil, fmt.Errorf("%w: checkpoint field %s has type %s", ErrCorrupt, name, a.DataType())
	}
	return a, nil
}

// child returns a nested struct's view (zero view when absent).
func (s structView) child(name string) (structView, error) {
	a, err := s.field(name, kindStruct)
	if err != nil || a == nil {
		return structView{}, err
	}
	st := a.(*array.Struct)
	return structView{arr: st, typ: st.DataType().(*arrow.StructType)}, nil
}

func hasKind(a arrow.Array, k kind) bool {
	switch k {
	case kindString:
		switch a.(type) {
		case *array.String, *array.LargeString, *array.Binary, *array.LargeBinary, *array.StringView:
			return true
		}
	case kindInt:
		switch a.(type) {
		case *array.Int8, *array.Int16, *array.Int32, *array.Int64,
			*array.Uint8, *array.Uint16, *array.Uint32:
			return true
		}
	case kindBool:
		_, ok := a.(*array.Boolean)
		return ok
	case kindStringMap:
		if m, ok := a.(*array.Map); ok {
			return hasKind(m.Keys(), kindString) && hasKind(m.Items(), kindString)
		}
	case kindStringList:
		switch l := a.(type) {
		case *array.List:
			return hasKind(l.ListValues(), kindString)
		case *array.LargeList:
			return hasKind(l.ListValues(), kindString)
		}
	case kindStruct:
		_, ok := a.(*array.Struct)
		return ok
	}
	return false
}

// str returns a string value; ok is false for an absent column or a null.
func str(a arrow.Array, i int) (string, bool) {
	if a == nil || a.IsNull(i) {
		return "", false
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	case *array.StringView:
		return a.Value(i), true
	case *array.Binary:
		return string(a.Value(i)), true
	case *array.LargeBinary:
		return string(a.Value(i)), true
	}
	return "", false
}

// strPtr is str as a pointer, nil for absent or null.
func strPtr(a arrow.Array, i int) *string {
	if s, ok := str(a, i); ok {
		return &s
	}
	return nil
}

// integer returns an integer value; ok is false for an absent column or a null.
func integer(a arrow.Array, i int) (int64, bool) {
	if a == nil || a.IsNull(i) {
		return 0, false
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i), true
	case *array.Int32:
		return int64(a.Value(i)), true
	case *array.Int16:
		return int64(a.Value(i)), true
	case *array.Int8:
		return int64(a.Value(i)), true
	case *array.Uint32:
		return int64(a.Value(i)), true
	case *array.Uint16:
		return int64(a.Value(i)), true
	case *array.Uint8:
		return int64(a.Value(i)), true
	}
	return 0, false
}

func intPtr(a arrow.Array, i int) *int64 {
	if v, ok := integer(a, i); ok {
		return &v
	}
	return nil
}

func boolean(a arrow.Array, i int) (bool, bool) {
	if a == nil || a.IsNull(i) {
		return false, false
	}
	return a.(*array.Boolean).Value(i), true
}

// stringMap decodes a map<string,string> value; null values stay nil
// pointers (a null partition value). ok is false for a null map.
func stringMap(a arrow.Array, i int) (map[string]*string, bool) {
	if a == nil || a.IsNull(i) {
		return nil, false
	}
	m := a.(*array.Map)
	start, end := m.ValueOffsets(i)
	keys, items := m.Keys(), m.Items()
	out := make(map[string]*string, end-start)
	for j := int(start); j < int(end); j++ {
		k, _ := str(keys, j)
		out[k] = strPtr(items, j)
	}
	return out, true
}

// plainMap is stringMap for maps whose null values mean "absent" (tags,
// configuration, format options).
func plainMap(a arrow.Array, i int) map[string]string {
	if a == nil || a.IsNull(i) {
		return nil
	}
	m := a.(*array.Map)
	start, end := m.ValueOffsets(i)
	keys, items := m.Keys(), m.Items()
	out := make(map[string]string, end-start)
	for j := int(start); j < int(end); j++ {
		k, _ := str(keys, j)
		v, _ := str(items, j)
		out[k] = v
	}
	return out
}

// stringList decodes a list<string>; ok is false for a null list. Null
// elements are dropped: no field in the protocol has meaningful nulls there.
func stringList(a arrow.Array, i int) ([]string, bool) {
	if a == nil || a.IsNull(i) {
		return nil, false
	}
	var start, end int64
	var vals arrow.Array
	switch l := a.(type) {
	case *array.List:
		start, end = l.ValueOffsets(i)
		vals = l.ListValues()
	case *array.LargeList:
		start, end = l.ValueOffsets(i)
		vals = l.ListValues()
	}
	out := make([]string, 0, end-start)
	for j := int(start); j < int(end); j++ {
		if s, ok := str(vals, j); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// fieldSet resolves several fields of one struct, remembering the first
// error so call sites stay flat.
type fieldSet struct {
	s   structView
	err error
}

func (f *fieldSet) get(name string, k kind) arrow.Array {
	if f.err != nil {
		return nil
	}
	a, err := f.s.field(name, k)
	if err != nil {
		f.err = fmt.Errorf("%w (in %s)", err, name)
	}
	return a
}

func (f *fieldSet) child(name string) structView {
	if f.err != nil {
		return structView{}
	}
	c, err := f.s.child(name)
	if err != nil {
		f.err = err
	}
	return c
}

// decodeCheckpointBatch appends the actions of one record batch to out.
func decodeCheckpointBatch(rec arrow.RecordBatch, out []Action) ([]Action, error) {
	var tops [7]structView
	for i, name := range []string{"protocol", "metaData", "txn", "add", "remove", "checkpointMetadata", "sidecar"} {
		s, err := topStruct(rec, name)
		if err != nil {
			return nil, err
		}
		tops[i] = s
	}
	protocol, metaData, txn, add, remove := tops[0], tops[1], tops[2], tops[3], tops[4]
	for _, v2 := range []struct {
		s    structView
		name string
	}{{tops[5], "checkpointMetadata"}, {tops[6], "sidecar"}} {
		if v2.s.arr != nil && v2.s.arr.NullN() < v2.s.arr.Len() {
			return nil, &FeatureError{Feature: "v2Checkpoint", Op: "read"}
		}
	}

	pf := fieldSet{s: protocol}
	pReader, pWriter := pf.get("minReaderVersion", kindInt), pf.get("minWriterVersion", kindInt)
	pRF, pWF := pf.get("readerFeatures", kindStringList), pf.get("writerFeatures", kindStringList)

	mf := fieldSet{s: metaData}
	mID, mName, mDesc := mf.get("id", kindString), mf.get("name", kindString), mf.get("description", kindString)
	mSchema, mParts := mf.get("schemaString", kindString), mf.get("partitionColumns", kindStringList)
	mConf, mCreated := mf.get("configuration", kindStringMap), mf.get("createdTime", kindInt)
	mFormat := mf.child("format")
	ff := fieldSet{s: mFormat}
	fProvider, fOptions := ff.get("provider", kindString), ff.get("options", kindStringMap)

	tf := fieldSet{s: txn}
	tApp, tVersion, tLast := tf.get("appId", kindString), tf.get("version", kindInt), tf.get("lastUpdated", kindInt)

	af := fieldSet{s: add}
	aPath, aPV, aSize := af.get("path", kindString), af.get("partitionValues", kindStringMap), af.get("size", kindInt)
	aMod, aDC := af.get("modificationTime", kindInt), af.get("dataChange", kindBool)
	aStats, aTags := af.get("stats", kindString), af.get("tags", kindStringMap)
	aBaseRow, aDefRow := af.get("baseRowId", kindInt), af.get("defaultRowCommitVersion", kindInt)
	aClust := af.get("clusteringProvider", kindString)
	aDV, aParsed := af.child("deletionVector"), af.child("stats_parsed")

	rf := fieldSet{s: remove}
	rPath, rTS, rDC := rf.get("path", kindString), rf.get("deletionTimestamp", kindInt), rf.get("dataChange", kindBool)
	rExt, rPV, rSize := rf.get("extendedFileMetadata", kindBool), rf.get("partitionValues", kindStringMap), rf.get("size", kindInt)
	rDV := rf.child("deletionVector")

	for _, f := range []*fieldSet{&pf, &mf, &ff, &tf, &af, &rf} {
		if f.err != nil {
			return nil, f.err
		}
	}

	var scratch bytes.Buffer
	n := int(rec.NumRows())
	for i := 0; i < n; i++ {
		if protocol.valid(i) {
			p := &Protocol{}
			v, _ := integer(pReader, i)
			p.MinReaderVersion = int(v)
			v, _ = integer(pWriter, i)
			p.MinWriterVersion = int(v)
			p.ReaderFeatures, _ = stringList(pRF, i)
			p.WriterFeatures, _ = stringList(pWF, i)
			out = append(out, Action{Protocol: p})
		}
		if metaData.valid(i) {
			m := &Metadata{
				Name:        strPtr(mName, i),
				Description: strPtr(mDesc, i),
				CreatedTime: intPtr(mCreated, i),
			}
			m.ID, _ = str(mID, i)
			m.SchemaString, _ = str(mSchema, i)
			m.Format.Provider, _ = str(fProvider, i)
			// The commit JSON always carries these as {} / []; keep the same
			// shape whether the state came from JSON or from a checkpoint.
			if mFormat.valid(i) {
				m.Format.Options = plainMap(fOptions, i)
			}
			if m.Format.Options == nil {
				m.Format.Options = map[string]string{}
			}
			if m.PartitionColumns, _ = stringList(mParts, i); m.PartitionColumns == nil {
				m.PartitionColumns = []string{}
			}
			if m.Configuration = plainMap(mConf, i); m.Configuration == nil {
				m.Configuration = map[string]string{}
			}
			out = append(out, Action{MetaData: m})
		}
		if txn.valid(i) {
			t := &Txn{LastUpdated: intPtr(tLast, i)}
			t.AppID, _ = str(tApp, i)
			t.Version, _ = integer(tVersion, i)
			out = append(out, Action{Txn: t})
		}
		if add.valid(i) {
			a := &Add{
				Tags:             plainMap(aTags, i),
				BaseRowID:        intPtr(aBaseRow, i),
				DefaultRowCommit: intPtr(aDefRow, i),
				ClusteringProv:   strPtr(aClust, i),
			}
			a.Path, _ = str(aPath, i)
			if a.PartitionValues, _ = stringMap(aPV, i); a.PartitionValues == nil {
				a.PartitionValues = map[string]*string{}
			}
			a.Size, _ = integer(aSize, i)
			a.ModificationTime, _ = integer(aMod, i)
			a.DataChange, _ = boolean(aDC, i)
			a.Stats, _ = str(aStats, i)
			if a.Stats == "" && aParsed.valid(i) {
				a.Stats = structJSON(&scratch, aParsed.arr, i)
			}
			if aDV.valid(i) {
				a.DeletionVector = json.RawMessage(structJSON(&scratch, aDV.arr, i))
			}
			out = append(out, Action{Add: a})
		}
		if remove.valid(i) {
			r := &Remove{
				DeletionTimestamp: intPtr(rTS, i),
				Size:              intPtr(rSize, i),
			}
			r.Path, _ = str(rPath, i)
			r.DataChange, _ = boolean(rDC, i)
			if e, ok := boolean(rExt, i); ok {
				r.ExtendedFileMetadata = &e
			}
			r.PartitionValues, _ = stringMap(rPV, i)
			if rDV.valid(i) {
				r.DeletionVector = json.RawMessage(structJSON(&scratch, rDV.arr, i))
			}
			out = append(out, Action{Remove: r})
		}
	}
	for i := range out {
		if err := out[i].validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	return out, nil
}

// structJSON renders row i of a struct column as a JSON object, the way the
// commit JSON would carry it: null fields are omitted, dates are
// "2006-01-02", timestamps RFC 3339 with microseconds, decimals numbers.
// Values JSON cannot carry (binary, NaN, infinities) are omitted too, which
// for statistics only means "no bound known".
func structJSON(buf *bytes.Buffer, s *array.Struct, i int) string {
	buf.Reset()
	writeStructJSON(buf, s, i)
	return buf.String()
}

func writeStructJSON(buf *bytes.Buffer, s *array.Struct, i int) {
	typ := s.DataType().(*arrow.StructType)
	buf.WriteByte('{')
	first := true
	for f := 0; f < s.NumField(); f++ {
		child := s.Field(f)
		if child.IsNull(i) {
			continue
		}
		mark := buf.Len()
		if !first {
			buf.WriteByte(',')
		}
		writeJSONString(buf, typ.Field(f).Name)
		buf.WriteByte(':')
		if !writeJSONValue(buf, child, i) {
			buf.Truncate(mark)
			continue
		}
		first = false
	}
	buf.WriteByte('}')
}

// writeJSONValue writes element i of a; false means it has no JSON form and
// nothing useful was written.
func writeJSONValue(buf *bytes.Buffer, a arrow.Array, i int) bool {
	switch a := a.(type) {
	case *array.Struct:
		writeStructJSON(buf, a, i)
	case *array.Boolean:
		buf.WriteString(strconv.FormatBool(a.Value(i)))
	case *array.String, *array.LargeString, *array.StringView:
		s, _ := str(a, i)
		writeJSONString(buf, s)
	case *array.Int8, *array.Int16, *array.Int32, *array.Int64,
		*array.Uint8, *array.Uint16, *array.Uint32:
		v, _ := integer(a, i)
		buf.WriteString(strconv.FormatInt(v, 10))
	case *array.Uint64:
		buf.WriteString(strconv.FormatUint(a.Value(i), 10))
	case *array.Float32:
		return writeFloat(buf, float64(a.Value(i)), 32)
	case *array.Float64:
		return writeFloat(buf, a.Value(i), 64)
	case *array.Date32:
		buf.WriteByte('"')
		buf.WriteString(a.Value(i).ToTime().Format(time.DateOnly))
		buf.WriteByte('"')
	case *array.Date64:
		buf.WriteByte('"')
		buf.WriteString(a.Value(i).ToTime().Format(time.DateOnly))
		buf.WriteByte('"')
	case *array.Timestamp:
		typ := a.DataType().(*arrow.TimestampType)
		t := a.Value(i).ToTime(typ.Unit).UTC()
		layout := "2006-01-02T15:04:05.000000"
		if typ.TimeZone != "" {
			layout += "Z07:00"
		}
		buf.WriteByte('"')
		buf.WriteString(t.Format(layout))
		buf.WriteByte('"')
	case *array.Decimal32, *array.Decimal64, *array.Decimal128, *array.Decimal256:
		s := a.ValueStr(i)
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return false
		}
		buf.WriteString(s)
	default:
		return false
	}
	return true
}

func writeFloat(buf *bytes.Buffer, f float64, bits int) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	buf.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
	return true
}

func writeJSONString(buf *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	buf.Write(b)
}

// checkpointSchema is the Arrow schema of the checkpoints loglake writes: the
// classic V1 checkpoint schema of PROTOCOL.md, every field nullable, in the
// column order Spark uses.
var checkpointSchema = func() *arrow.Schema {
	str := arrow.BinaryTypes.String
	i64 := arrow.PrimitiveTypes.Int64
	i32 := arrow.PrimitiveTypes.Int32
	boolean := arrow.FixedWidthTypes.Boolean
	strMap := arrow.MapOf(str, str)
	strList := arrow.ListOfField(arrow.Field{Name: "element", Type: str, Nullable: true})
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	return arrow.NewSchema([]arrow.Field{
		f("txn", arrow.StructOf(f("appId", str), f("version", i64), f("lastUpdated", i64))),
		f("add", arrow.StructOf(
			f("path", str), f("partitionValues", strMap), f("size", i64), f("modificationTime", i64),
			f("dataChange", boolean), f("stats", str), f("tags", strMap),
			f("baseRowId", i64), f("defaultRowCommitVersion", i64), f("clusteringProvider", str),
		)),
		f("remove", arrow.StructOf(
			f("path", str), f("deletionTimestamp", i64), f("dataChange", boolean),
			f("extendedFileMetadata", boolean), f("partitionValues", strMap), f("size", i64),
		)),
		f("metaData", arrow.StructOf(
			f("id", str), f("name", str), f("description", str),
			f("format", arrow.StructOf(f("provider", str), f("options", strMap))),
			f("schemaString", str), f("partitionColumns", strList), f("configuration", strMap),
			f("createdTime", i64),
		)),
		f("protocol", arrow.StructOf(
			f("minReaderVersion", i32), f("minWriterVersion", i32),
			f("readerFeatures", strList), f("writerFeatures", strList),
		)),
	}, nil)
}()

// WriteCheckpoint writes the classic single-file Parquet checkpoint of
// version (`_delta_log/%020d.checkpoint.parquet`) holding actions, which must
// be the complete reconciled state of that version: one protocol, one
// metaData, and the txn, add and remove actions. commitInfo and cdc actions
// are skipped. The checkpoint is written put-if-absent; one that already
// exists (another writer made it) counts as success and is left alone, hint
// included. Otherwise WriteCheckpoint then points `_delta_log/_last_checkpoint`
// at it, unless that already names a newer checkpoint.
//
// The file is readable by Spark, delta-rs and DuckDB. Actions this schema
// cannot carry (deletion vectors, domain metadata, V2 checkpoint actions) are
// refused with a *FeatureError rather than dropped.
func WriteCheckpoint(ctx context.Context, b storage.Bucket, version int64, actions []Action) error {
	if version < 0 {
		return fmt.Errorf("table: checkpoint version %d is negative", version)
	}
	data, size, numAdds, err := encodeCheckpoint(actions)
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", version, err)
	}
	key := checkpointKey(version)
	if err := b.PutIfAbsent(ctx, key, data); errors.Is(err, storage.ErrExists) {
		// Another writer checkpointed this version first; the hint is its
		// to write (a stale hint only lengthens the listing readers do).
		return nil
	} else if err != nil {
		return fmt.Errorf("checkpoint %d: %w", version, err)
	}
	if lc, ok, err := readLastCheckpoint(ctx, b); err == nil && ok && lc.Version > version {
		return nil
	}
	hint, err := json.Marshal(struct {
		Version       int64 `json:"version"`
		Size          int64 `json:"size"`
		SizeInBytes   int64 `json:"sizeInBytes"`
		NumOfAddFiles int64 `json:"numOfAddFiles"`
	}{version, size, int64(len(data)), numAdds})
	if err != nil {
		return err
	}
	if err := b.Put(ctx, lastCheckpointKey, hint); err != nil {
		return fmt.Errorf("checkpoint %d: update _last_checkpoint: %w", version, err)
	}
	return nil
}

// checkpointBuilders holds the Arrow builders of checkpointSchema's columns.
type checkpointBuilders struct {
	txn, add, remove, meta, proto *array.StructBuilder

	txnApp                               *array.StringBuilder
	txnVersion, txnLast                  *array.Int64Builder
	addPath, addStats, addClust          *array.StringBuilder
	addPV, addTags                       *array.MapBuilder
	addSize, addMod, addBaseRow, addDefR *array.Int64Builder
	addDC                                *array.BooleanBuilder
	rmPath                               *array.StringBuilder
	rmTS, rmSize                         *array.Int64Builder
	rmDC, rmExt                          *array.BooleanBuilder
	rmPV                                 *array.MapBuilder
	mID, mName, mDesc, mSchema           *array.StringBuilder
	mFormat                              *array.StructBuilder
	mProvider                            *array.StringBuilder
	mOptions, mConf                      *array.MapBuilder
	mParts                               *array.ListBuilder
	mCreated                             *array.Int64Builder
	pReader, pWriter                     *array.Int32Builder
	pRF, pWF                             *array.ListBuilder
}

func newCheckpointBuilders(rb *array.RecordBuilder) *checkpointBuilders {
	c := &checkpointBuilders{
		txn:    rb.Field(0).(*array.StructBuilder),
		add:    rb.Field(1).(*array.StructBuilder),
		remove: rb.Field(2).(*array.StructBuilder),
		meta:   rb.Field(3).(*array.StructBuilder),
		proto:  rb.Field(4).(*array.StructBuilder),
	}
	c.txnApp = c.txn.FieldBuilder(0).(*array.StringBuilder)
	c.txnVersion = c.txn.FieldBuilder(1).(*array.Int64Builder)
	c.txnLast = c.txn.FieldBuilder(2).(*array.Int64Builder)

	c.addPath = c.add.FieldBuilder(0).(*array.StringBuilder)
	c.addPV = c.add.FieldBuilder(1).(*array.MapBuilder)
	c.addSize = c.add.FieldBuilder(2).(*array.Int64Builder)
	c.addMod = c.add.FieldBuilder(3).(*array.Int64Builder)
	c.addDC = c.add.FieldBuilder(4).(*array.BooleanBuilder)
	c.addStats = c.add.FieldBuilder(5).(*array.StringBuilder)
	c.addTags = c.add.FieldBuilder(6).(*array.MapBuilder)
	c.addBaseRow = c.add.FieldBuilder(7).(*array.Int64Builder)
	c.addDefR = c.add.FieldBuilder(8).(*array.Int64Builder)
	c.addClust = c.add.FieldBuilder(9).(*array.StringBuilder)

	c.rmPath = c.remove.FieldBuilder(0).(*array.StringBuilder)
	c.rmTS = c.remove.FieldBuilder(1).(*array.Int64Builder)
	c.rmDC = c.remove.FieldBuilder(2).(*array.BooleanBuilder)
	c.rmExt = c.remove.FieldBuilder(3).(*array.BooleanBuilder)
	c.rmPV = c.remove.FieldBuilder(4).(*array.MapBuilder)
	c.rmSize = c.remove.FieldBuilder(5).(*array.Int64Builder)

	c.mID = c.meta.FieldBuilder(0).(*array.StringBuilder)
	c.mName = c.meta.FieldBuilder(1).(*array.StringBuilder)
	c.mDesc = c.meta.FieldBuilder(2).(*array.StringBuilder)
	c.mFormat = c.meta.FieldBuilder(3).(*array.StructBuilder)
	c.mProvider = c.mFormat.FieldBuilder(0).(*array.StringBuilder)
	c.mOptions = c.mFormat.FieldBuilder(1).(*array.MapBuilder)
	c.mSchema = c.meta.FieldBuilder(4).(*array.StringBuilder)
	c.mParts = c.meta.FieldBuilder(5).(*array.ListBuilder)
	c.mConf = c.meta.FieldBuilder(6).(*array.MapBuilder)
	c.mCreated = c.meta.FieldBuilder(7).(*array.Int64Builder)

	c.pReader = c.proto.FieldBuilder(0).(*array.Int32Builder)
	c.pWriter = c.proto.FieldBuilder(1).(*array.Int32Builder)
	c.pRF = c.proto.FieldBuilder(2).(*array.ListBuilder)
	c.pWF = c.proto.FieldBuilder(3).(*array.ListBuilder)
	return c
}

// appendString appends s, or null when s is empty (absent optional string).
func appendString(b *array.StringBuilder, s string) {
	if s == "" {
		b.AppendNull()
		return
	}
	b.Append(s)
}

func appendStringPtr(b *array.StringBuilder, s *string) {
	if s == nil {
		b.AppendNull()
		return
	}
	b.Append(*s)
}

func appendInt64Ptr(b *array.Int64Builder, v *int64) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(*v)
}

// appendNullableMap appends m; a nil m is a null map unless emptyForNil.
func appendNullableMap(b *array.MapBuilder, m map[string]*string, emptyForNil bool) {
	if m == nil && !emptyForNil {
		b.AppendNull()
		return
	}
	b.Append(true)
	kb := b.KeyBuilder().(*array.StringBuilder)
	ib := b.ItemBuilder().(*array.StringBuilder)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kb.Append(k)
		appendStringPtr(ib, m[k])
	}
}

func appendPlainMap(b *array.MapBuilder, m map[string]string, emptyForNil bool) {
	if m == nil && !emptyForNil {
		b.AppendNull()
		return
	}
	b.Append(true)
	kb := b.KeyBuilder().(*array.StringBuilder)
	ib := b.ItemBuilder().(*array.StringBuilder)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kb.Append(k)
		ib.Append(m[k])
	}
}

// appendList appends l; a nil l is a null list unless emptyForNil.
func appendList(b *array.ListBuilder, l []string, emptyForNil bool) {
	if l == nil && !emptyForNil {
		b.AppendNull()
		return
	}
	b.Append(true)
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, s := range l {
		vb.Append(s)
	}
}

func (c *checkpointBuilders) appendTxn(t *Txn) {
	if t == nil {
		c.txn.AppendNull()
		return
	}
	c.txn.Append(true)
	c.txnApp.Append(t.AppID)
	c.txnVersion.Append(t.Version)
	appendInt64Ptr(c.txnLast, t.LastUpdated)
}

func (c *checkpointBuilders) appendAdd(f *Add) {
	if f == nil {
		c.add.AppendNull()
		return
	}
	c.add.Append(true)
	c.addPath.Append(f.Path)
	appendNullableMap(c.addPV, f.PartitionValues, true)
	c.addSize.Append(f.Size)
	c.addMod.Append(f.ModificationTime)
	c.addDC.Append(f.DataChange)
	appendString(c.addStats, f.Stats)
	appendPlainMap(c.addTags, f.Tags, false)
	appendInt64Ptr(c.addBaseRow, f.BaseRowID)
	appendInt64Ptr(c.addDefR, f.DefaultRowCommit)
	appendStringPtr(c.addClust, f.ClusteringProv)
}

func (c *checkpointBuilders) appendRemove(r *Remove) {
	if r == nil {
		c.remove.AppendNull()
		return
	}
	c.remove.Append(true)
	c.rmPath.Append(r.Path)
	appendInt64Ptr(c.rmTS, r.DeletionTimestamp)
	c.rmDC.Append(r.DataChange)
	if r.ExtendedFileMetadata == nil {
		c.rmExt.AppendNull()
	} else {
		c.rmExt.Append(*r.ExtendedFileMetadata)
	}
	appendNullableMap(c.rmPV, r.PartitionValues, false)
	appendInt64Ptr(c.rmSize, r.Size)
}

func (c *checkpointBuilders) appendMetadata(m *Metadata) {
	if m == nil {
		c.meta.AppendNull()
		return
	}
	c.meta.Append(true)
	c.mID.Append(m.ID)
	appendStringPtr(c.mName, m.Name)
	appendStringPtr(c.mDesc, m.Description)
	c.mFormat.Append(true)
	c.mProvider.Append(m.Format.Provider)
	appendPlainMap(c.mOptions, m.Format.Options, true)
	c.mSchema.Append(m.SchemaString)
	appendList(c.mParts, m.PartitionColumns, true)
	appendPlainMap(c.mConf, m.Configuration, true)
	appendInt64Ptr(c.mCreated, m.CreatedTime)
}

func (c *checkpointBuilders) appendProtocol(p *Protocol) {
	if p == nil {
		c.proto.AppendNull()
		return
	}
	c.proto.Append(true)
	c.pReader.Append(int32(p.MinReaderVersion))
	c.pWriter.Append(int32(p.MinWriterVersion))
	appendList(c.pRF, p.ReaderFeatures, false)
	appendList(c.pWF, p.WriterFeatures, false)
}

// encodeCheckpoint renders actions, the complete state of a version, as a
// checkpoint Parquet file and returns it with its number of actions and of
// add actions.
func encodeCheckpoint(actions []Action) (data []byte, size, numAdds int64, err error) {
	var haveProtocol, haveMeta bool
	for i := range actions {
		haveProtocol = haveProtocol || actions[i].Protocol != nil
		haveMeta = haveMeta || actions[i].MetaData != nil
	}
	if !haveProtocol || !haveMeta {
		return nil, 0, 0, errors.New("table: a checkpoint needs a protocol and a metaData action")
	}
	return encodeCheckpointRows(actions)
}

// encodeCheckpointRows renders actions as checkpoint rows (one part of a
// checkpoint: no completeness check).
func encodeCheckpointRows(actions []Action) (data []byte, size, numAdds int64, err error) {
	for i := range actions {
		a := &actions[i]
		if err := a.validate(); err != nil {
			return nil, 0, 0, fmt.Errorf("invalid action %d: %v", i, err)
		}
		switch {
		case a.CheckpointMetadata != nil || a.Sidecar != nil:
			return nil, 0, 0, &FeatureError{Feature: "v2Checkpoint", Op: "write"}
		case a.Domain != nil:
			return nil, 0, 0, &FeatureError{Feature: "domainMetadata", Op: "write"}
		case a.Add != nil && a.Add.DeletionVector != nil,
			a.Remove != nil && a.Remove.DeletionVector != nil:
			return nil, 0, 0, &FeatureError{Feature: "deletionVectors", Op: "write"}
		}
	}

	mem := memory.DefaultAllocator
	rb := array.NewRecordBuilder(mem, checkpointSchema)
	defer rb.Release()
	rb.Reserve(len(actions))
	c := newCheckpointBuilders(rb)
	for i := range actions {
		a := &actions[i]
		if a.Txn == nil && a.Add == nil && a.Remove == nil && a.MetaData == nil && a.Protocol == nil {
			continue // commitInfo, cdc: not part of a table's state
		}
		size++
		c.appendTxn(a.Txn)
		c.appendAdd(a.Add)
		c.appendRemove(a.Remove)
		c.appendMetadata(a.MetaData)
		c.appendProtocol(a.Protocol)
		if a.Add != nil {
			numAdds++
		}
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()

	var buf bytes.Buffer
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithAllocator(mem),
		// Unique per row: a dictionary only costs time on both sides.
		parquet.WithDictionaryFor("add.path", false),
		parquet.WithDictionaryFor("add.stats", false),
		parquet.WithDictionaryFor("remove.path", false),
	)
	w, err := pqarrow.NewFileWriter(checkpointSchema, &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return nil, 0, 0, err
	}
	if err := w.Write(rec); err != nil {
		w.Close()
		return nil, 0, 0, err
	}
	if err := w.Close(); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), size, numAdds, nil
}
