package table

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Decoding a checkpoint's record batches into actions. Other writers vary the
// classic schema (extra fields, absent optional columns, other integer and
// string widths), so fields are looked up by name and checked for their
// logical shape rather than read by position.
// Reading the file and choosing its columns is in checkpoint.go, writing one
// in checkpoint_write.go.

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
