package table

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"

	"github.com/loglake/loglake/table/internal/fileio"
)

// The Parquet/Arrow file layer lives in table/internal/fileio (see its package
// doc). Its names are re-exported here unchanged, so that callers above table
// keep one import and never reach below the log layer; the aliases are the
// same types, and the errors the same values, so errors.Is and type
// assertions hold across the two packages.

// Schema and type names (fileio/schema.go).
type (
	DataType      = fileio.DataType
	PrimitiveType = fileio.PrimitiveType
	DecimalType   = fileio.DecimalType
	StructType    = fileio.StructType
	ArrayType     = fileio.ArrayType
	MapType       = fileio.MapType
	Field         = fileio.Field
	Schema        = fileio.Schema
)

// The Delta primitive types.
const (
	TypeString       = fileio.TypeString
	TypeLong         = fileio.TypeLong
	TypeInteger      = fileio.TypeInteger
	TypeShort        = fileio.TypeShort
	TypeByte         = fileio.TypeByte
	TypeFloat        = fileio.TypeFloat
	TypeDouble       = fileio.TypeDouble
	TypeBoolean      = fileio.TypeBoolean
	TypeBinary       = fileio.TypeBinary
	TypeDate         = fileio.TypeDate
	TypeTimestamp    = fileio.TypeTimestamp
	TypeTimestampNTZ = fileio.TypeTimestampNTZ
)

// Data file writing and reading (fileio/write.go, read.go), statistics
// (fileio/stats.go) and partitions (fileio/partition.go).
type (
	WriterOptions     = fileio.WriterOptions
	FileWriter        = fileio.FileWriter
	ReadOptions       = fileio.ReadOptions
	RecordReader      = fileio.RecordReader
	Stats             = fileio.Stats
	PartitionedRecord = fileio.PartitionedRecord
)

// Defaults of WriterOptions and ReadOptions, and the fixed names of the file
// layer.
const (
	DefaultRowGroupRows  = fileio.DefaultRowGroupRows
	DefaultRowGroupBytes = fileio.DefaultRowGroupBytes
	DefaultBatchRows     = fileio.DefaultBatchRows
	HiveDefaultPartition = fileio.HiveDefaultPartition
	StatsStringPrefix    = fileio.StatsStringPrefix
)

// Errors of the file layer.
var (
	ErrSchema         = fileio.ErrSchema
	ErrStats          = fileio.ErrStats
	ErrPartitionValue = fileio.ErrPartitionValue
)

// ParseSchema parses a Delta schema string (metaData.schemaString).
func ParseSchema(s string) (*Schema, error) { return fileio.ParseSchema(s) }

// FoldName is the key under which column names match case-insensitively
// (strings.EqualFold, as Schema.Field matches them).
func FoldName(s string) string { return fileio.FoldName(s) }

// SchemaFromArrow converts an Arrow schema to a Delta schema.
func SchemaFromArrow(s *arrow.Schema) (*Schema, error) { return fileio.SchemaFromArrow(s) }

// ArrowType returns the Arrow type for a Delta type.
func ArrowType(t DataType) arrow.DataType { return fileio.ArrowType(t) }

// TypeJSON returns the Delta JSON encoding of a data type.
func TypeJSON(t DataType) string { return fileio.TypeJSON(t) }

// NewFileWriter returns a writer of a Parquet data file onto w.
func NewFileWriter(w io.Writer, sch *arrow.Schema, opts *WriterOptions) (*FileWriter, error) {
	return fileio.NewFileWriter(w, sch, opts)
}

// ReadFile opens a Parquet data file for reading in the table schema.
func ReadFile(ctx context.Context, r parquet.ReaderAtSeeker, size int64, opts *ReadOptions) (RecordReader, error) {
	return fileio.ReadFile(ctx, r, size, opts)
}

// ParseStats decodes add.stats; absent statistics give (nil, nil).
func ParseStats(s string) (*Stats, error) { return fileio.ParseStats(s) }

// StatsPart names the part of add.stats a reader needs (see ParseStatsOf).
type StatsPart = fileio.StatsPart

// ParseStatsOf is ParseStats keeping only part of the statistics (nil: all).
func ParseStatsOf(s string, part *StatsPart) (*Stats, error) { return fileio.ParseStatsOf(s, part) }

// NumRecords is the file's row count from its stats, decoding no column's
// statistics; ok is false when it has none or they do not decode.
func (a *Add) NumRecords() (n int64, ok bool) {
	st, err := ParseStatsOf(a.Stats, &StatsPart{NoBounds: true})
	if err != nil || st == nil {
		return 0, false
	}
	return st.NumRecords, true
}

// StatValue converts a raw statistics value of a column of type t to a Go value.
func StatValue(raw any, t DataType) (any, error) { return fileio.StatValue(raw, t) }

// PartitionPath returns the Hive-style directory of a partition.
func PartitionPath(cols []string, values map[string]*string) string {
	return fileio.PartitionPath(cols, values)
}

// UnescapePathName reverses the escaping of PartitionPath.
func UnescapePathName(s string) string { return fileio.UnescapePathName(s) }

// PartitionValue is the one rule for a partition column's value in
// add.partitionValues.
func PartitionValue(values map[string]*string, column string) (value *string, ok bool) {
	return fileio.PartitionValue(values, column)
}

// FormatPartitionValue serializes row i of arr the way Delta stores partition
// values.
func FormatPartitionValue(arr arrow.Array, i int) *string { return fileio.FormatPartitionValue(arr, i) }

// ParsePartitionValue parses a serialized partition value as type t.
func ParsePartitionValue(s *string, t DataType) (any, error) { return fileio.ParsePartitionValue(s, t) }

// SplitByPartition groups the rows of rec by the values of partCols.
func SplitByPartition(rec arrow.Record, partCols []string) ([]PartitionedRecord, error) {
	return fileio.SplitByPartition(rec, partCols)
}

// Value returns row i of arr as a plain Go value ready for JSON.
func Value(arr arrow.Array, i int) any { return fileio.Value(arr, i) }
