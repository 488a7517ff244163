package table

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/loglake/loglake/storage"
)

// Writing a classic single-file checkpoint: the actions of a reconciled
// snapshot are appended row by row to Arrow builders in the V1 schema and
// written as one Parquet file. Reading one is in checkpoint.go and
// checkpoint_decode.go.

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
		parquet.WithMaxRowGroupLength(checkpointRowGroupRows),
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
