package fileio

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Defaults of WriterOptions and ReadOptions.
const (
	DefaultRowGroupRows  = 1 << 20
	DefaultRowGroupBytes = 32 << 20
	DefaultBatchRows     = 64 << 10
)

// writeChunkRows bounds how many rows go into the row group between checks
// of its size, so a huge record cannot overshoot RowGroupBytes by much.
const writeChunkRows = 64 << 10

// WriterOptions configure a FileWriter. The zero value is the default.
type WriterOptions struct {
	// Compression is the Parquet codec: "zstd" (default), "snappy",
	// "gzip", "lz4", "brotli" or "none".
	Compression string
	// CompressionLevel is passed to the codec; 0 is the codec's default.
	CompressionLevel int
	// RowGroupRows caps the rows of a row group (default DefaultRowGroupRows).
	RowGroupRows int64
	// RowGroupBytes starts a new row group once the current one holds this
	// many encoded, compressed bytes (default DefaultRowGroupBytes). A row
	// group is buffered in memory until it is cut, so this bounds memory.
	RowGroupBytes int64
	// Allocator for Arrow and Parquet buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
	// DeltaTimestamps stores top-level timestamp columns DELTA_BINARY_PACKED
	// without a dictionary. Log event times are nearly all distinct and
	// nearly sorted: a dictionary only costs hashing until the encoder gives
	// up on it, while deltas take a few bits a value and leave zstd far less
	// to compress (measured on ingest: 8-19% less CPU). Not the default
	// because arrow-go's delta decoder does not release a buffer to its
	// allocator, which a leak-checking allocator reports; the Go allocator
	// collects it.
	DeltaTimestamps bool
	// PlainDistinct stores top-level string columns without a dictionary
	// when most values of the first record written are distinct (trace
	// ids, request ids, free-text messages). The encoder would hash each
	// value into a dictionary until the dictionary page outgrows its
	// limit, write that page, and fall back to plain encoding in every row
	// group: work whose output is no smaller.
	PlainDistinct bool
	// DictLowCardinality dictionary-encodes, in the writer itself, the
	// string columns of a flat schema (no struct, list or map) with few
	// distinct values in the first record written (service, level, a
	// constant source file name): it
	// keeps one dictionary per column for the whole file and hands the
	// Parquet encoder dictionary indices, which it writes as they are.
	// Otherwise the encoder hashes every value into its own dictionary
	// (with an allocation per value in arrow-go): measured as the largest
	// single cost of encoding short log lines. The file is the same
	// Parquet (dictionary pages, RLE indices, exact page statistics).
	DictLowCardinality bool
}

// distinctSample is how many leading values of a string column
// PlainDistinct looks at, and plainDistinctShare the share of them that
// must be distinct for the column to go without a dictionary.
const (
	distinctSample     = 4096
	plainDistinctShare = 0.5
)

// A string column is dictionary-encoded by DictLowCardinality when at most
// lowCardShare of the first distinctSample values are distinct. Its
// dictionary stops growing at maxDictEntries entries or maxDictBytes bytes
// (under the dictionary page limit); values past that are written through a
// dictionary of their own chunk, which the encoder stores plain.
const (
	lowCardShare   = 1.0 / 16
	maxDictEntries = 4096
	maxDictBytes   = 128 << 10
	// maxDictCuts bounds the row groups a file ends early because a
	// dictionary grew; later growth is written plain until the row group
	// ends (correct, only larger).
	maxDictCuts = 16
)

func codecFor(name string) (compress.Compression, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		return compress.Codecs.Zstd, nil
	case "snappy":
		return compress.Codecs.Snappy, nil
	case "gzip":
		return compress.Codecs.Gzip, nil
	case "lz4", "lz4_raw":
		return compress.Codecs.Lz4Raw, nil
	case "brotli":
		return compress.Codecs.Brotli, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("table: unknown compression %q", name)
}

// FileWriter streams Arrow records into one Parquet data file and collects
// the Delta statistics of what it wrote. Row groups are flushed to the
// underlying writer as they fill, so memory stays bounded by one row group
// whatever the file size. A FileWriter is not safe for concurrent use.
type FileWriter struct {
	pw      parquetWriter // nil until the first Write with PlainDistinct or DictLowCardinality
	pprops  []parquet.WriterProperty
	aprops  pqarrow.ArrowWriterProperties
	sink    *countingWriter
	schema  *arrow.Schema
	stats   *statsCollector
	rgRows  int64
	rgBytes int64
	cut     bool // start a new row group before the next write
	closed  bool
	err     error

	plainDistinct, dictLowCard bool
	dicts                      []*dictColumn // DictLowCardinality columns, by record column
	dictSkip                   []bool        // by record column: in dicts
	skip                       []bool        // by column: statistics folded in by hand (statsSkip)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// NewFileWriter returns a writer of a Parquet file with Arrow schema sch onto
// w. Timestamps are stored as INT64 TIMESTAMP_MICROS (isAdjustedToUTC when
// the Arrow type has a zone), dictionary encoding is tried on every column
// (but see PlainDistinct and DeltaTimestamps) and dropped by the encoder for
// columns whose dictionary grows too large.
func NewFileWriter(w io.Writer, sch *arrow.Schema, opts *WriterOptions) (*FileWriter, error) {
	var o WriterOptions
	if opts != nil {
		o = *opts
	}
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = DefaultRowGroupRows
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = DefaultRowGroupBytes
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	codec, err := codecFor(o.Compression)
	if err != nil {
		return nil, err
	}
	pprops := []parquet.WriterProperty{
		parquet.WithAllocator(o.Allocator),
		parquet.WithCompression(codec),
		parquet.WithDictionaryDefault(true),
		parquet.WithDataPageVersion(parquet.DataPageV1),
		parquet.WithVersion(parquet.V2_6),
		parquet.WithMaxRowGroupLength(o.RowGroupRows),
		parquet.WithStats(true),
		// Small pages bound the encoders' buffers: every open file holds
		// one page and one dictionary per column (measured: 2 GiB ingest
		// peaks at 284 MiB instead of 580 MiB, with slightly smaller files).
		parquet.WithDataPageSize(256 << 10),
		parquet.WithDictionaryPageSizeLimit(256 << 10),
		parquet.WithCreatedBy("loglake (parquet-go arrow-go v18)"),
	}
	if o.CompressionLevel != 0 {
		pprops = append(pprops, parquet.WithCompressionLevel(o.CompressionLevel))
	}
	for _, f := range sch.Fields() {
		if o.DeltaTimestamps && f.Type.ID() == arrow.TIMESTAMP {
			pprops = append(pprops, parquet.WithDictionaryFor(f.Name, false),
				parquet.WithEncodingFor(f.Name, parquet.Encodings.DeltaBinaryPacked))
		}
	}
	aprops := pqarrow.NewArrowWriterProperties(
		pqarrow.WithAllocator(o.Allocator),
		pqarrow.WithCoerceTimestamps(arrow.Microsecond),
		pqarrow.WithTruncatedTimestamps(true),
	)
	pprops = append(pprops, noFloatStats(sch, pprops, aprops)...)
	fw := &FileWriter{pprops: pprops, aprops: aprops,
		sink: &countingWriter{w: w}, schema: sch, stats: newStatsCollector(sch),
		rgRows: o.RowGroupRows, rgBytes: o.RowGroupBytes,
		plainDistinct: o.PlainDistinct, dictLowCard: o.DictLowCardinality}
	if !o.PlainDistinct && !o.DictLowCardinality {
		if err := fw.open(nil); err != nil {
			return nil, err
		}
	}
	return fw, nil
}

// noFloatStats turns off the Parquet statistics of float and double
// columns. The format leaves NaN out of min and max, and DuckDB (1.5)
// trusts them anyway: a file holding NaN and -0 has min -0 and max 0, and
// DuckDB's "score = 0" returned the NaN row, "score > 1" lost it. The
// table's own statistics (the add action's) handle NaN, and prune files.
func noFloatStats(sch *arrow.Schema, pprops []parquet.WriterProperty, aprops pqarrow.ArrowWriterProperties) []parquet.WriterProperty {
	ps, err := pqarrow.ToParquet(sch, parquet.NewWriterProperties(pprops...), aprops)
	if err != nil {
		return nil // the writer reports it
	}
	var out []parquet.WriterProperty
	for i := range ps.NumColumns() {
		c := ps.Column(i)
		if t := c.PhysicalType(); t == parquet.Types.Float || t == parquet.Types.Double {
			out = append(out, parquet.WithStatsPath(c.ColumnPath(), false))
		}
	}
	return out
}

// open starts the Parquet file, with dictionaries off for the string
// columns of first (nil: none) whose values are mostly distinct
// (PlainDistinct) and dictionary indices built here for those with few
// distinct values (DictLowCardinality, in a flat schema). A flat schema is
// written by colWriter, any other by pqarrow.
func (w *FileWriter) open(first arrow.Record) error {
	pprops := w.pprops
	flat := isFlat(w.schema)
	if first != nil {
		for i, f := range w.schema.Fields() {
			distinct, n := sampleDistinct(first.Column(i))
			switch {
			case n < distinctSample/4:
				// Too few values say nothing about the column.
			case w.plainDistinct && float64(distinct) >= plainDistinctShare*float64(n):
				pprops = append(slices.Clip(pprops), parquet.WithDictionaryFor(f.Name, false))
			case w.dictLowCard && flat && float64(distinct) <= lowCardShare*float64(n):
				w.dicts = append(w.dicts, &dictColumn{col: i, memo: map[string]int32{}})
			}
		}
		if len(w.dicts) > 0 {
			w.dictSkip = make([]bool, w.schema.NumFields())
			for _, d := range w.dicts {
				w.dictSkip[d.col] = true
			}
		}
	}
	props := parquet.NewWriterProperties(pprops...)
	var pw parquetWriter
	var err error
	if flat {
		pw, err = newColWriter(w.sink, w.schema, props, w.aprops, w.dicts)
	} else {
		pw, err = pqarrow.NewFileWriter(w.schema, w.sink, props, w.aprops)
	}
	if err != nil {
		return fmt.Errorf("table: parquet writer: %w", err)
	}
	w.pw = pw
	return nil
}

// sampleDistinct counts the distinct values among the first distinctSample
// non-null values of arr, and those values (n); n is 0 when arr is not a
// string column.
func sampleDistinct(arr arrow.Array) (distinct, n int) {
	if d, ok := arr.(*array.Dictionary); ok && isDictString(d.DataType()) {
		return sampleDistinctIndices(d)
	}
	a, ok := arr.(*array.String)
	if !ok {
		return 0, 0
	}
	seen := make(map[string]struct{}, min(a.Len(), distinctSample))
	for i := 0; i < a.Len() && n < distinctSample; i++ {
		if a.IsValid(i) {
			seen[a.Value(i)] = struct{}{}
			n++
		}
	}
	return len(seen), n
}

// sampleDistinctIndices is sampleDistinct of a dictionary<int32, string>
// column, whose dictionary is taken to hold distinct values: it counts
// distinct indices.
func sampleDistinctIndices(a *array.Dictionary) (distinct, n int) {
	idx := a.Indices().(*array.Int32).Int32Values()
	seen := make(map[int32]struct{}, min(a.Len(), distinctSample))
	for i := 0; i < a.Len() && n < distinctSample; i++ {
		if a.IsValid(i) {
			seen[idx[i]] = struct{}{}
			n++
		}
	}
	return len(seen), n
}

// Write appends rec, whose schema must equal the writer's, except that a
// string column may come as dictionary<int32, string> (SchemaMatches). It
// does not keep a reference to rec.
func (w *FileWriter) Write(rec arrow.Record) error {
	if w.closed {
		return errors.New("table: write on closed FileWriter")
	}
	if w.err != nil {
		return w.err
	}
	if !SchemaMatches(rec.Schema(), w.schema) {
		return fmt.Errorf("%w: record schema %s does not match file schema %s", ErrSchema, rec.Schema(), w.schema)
	}
	for i, f := range w.schema.Fields() {
		if !f.Nullable && rec.Column(i).NullN() > 0 {
			return fmt.Errorf("%w: null values in non-nullable column %q", ErrSchema, f.Name)
		}
	}
	if w.pw == nil {
		if err := w.open(rec); err != nil {
			w.err = err
			return err
		}
	}
	// Dictionary-encoded input stays so only in this file's dictionary
	// columns, where it spares hashing every value.
	rec, err := DenseStrings(rec, w.dictSkip)
	if err != nil {
		return err
	}
	defer rec.Release()
	n := rec.NumRows()
	for off := int64(0); off < n; off += writeChunkRows {
		end := min(off+writeChunkRows, n)
		chunk := rec
		if off != 0 || end != n {
			chunk = rec.NewSlice(off, end)
		}
		err := w.writeChunk(chunk)
		if chunk != rec {
			chunk.Release()
		}
		if err != nil {
			w.err = fmt.Errorf("table: write parquet: %w", err)
			return w.err
		}
	}
	return nil
}

func (w *FileWriter) writeChunk(rec arrow.Record) error {
	if w.cut {
		if err := w.pw.NewBufferedRowGroupChecked(); err != nil {
			return err
		}
		w.cut = false
	}
	if err := w.pw.WriteBuffered(rec); err != nil {
		return err
	}
	// A string column's statistics are the extremes the column writer
	// found, where it knows them (see colWriter.extremes).
	var skip []bool
	if cw, ok := w.pw.(*colWriter); ok {
		skip = w.statsSkip(cw)
		for i, hand := range skip {
			if x := &cw.extremes[i]; hand {
				w.stats.cols[i].observeUsed(rec.Column(i).NullN(), string(x.lo), string(x.hi), x.found)
			}
		}
	}
	w.stats.addExcept(rec, skip)
	rows, err := w.pw.RowGroupNumRows()
	if err != nil {
		return err
	}
	if int64(rows) >= w.rgRows || w.pw.RowGroupTotalCompressedBytes() >= w.rgBytes {
		w.cut = true
	}
	return nil
}

// statsSkip returns, by column, whether the column's statistics of the
// chunk cw just wrote are folded in by hand: a string column whose extremes
// cw knows.
func (w *FileWriter) statsSkip(cw *colWriter) []bool {
	if w.skip == nil {
		w.skip = make([]bool, len(w.stats.cols))
	}
	for i, cs := range w.stats.cols {
		w.skip[i] = cs.kind == statString && cw.extremes[i].ok
	}
	return w.skip
}

// NumRows returns the rows written so far.
func (w *FileWriter) NumRows() int64 { return w.stats.numRecords }

// EstimatedSize returns the bytes the file would have if closed now, not
// counting the footer: flushed row groups plus the buffered one, compressed.
// Callers use it to roll files at a target size.
func (w *FileWriter) EstimatedSize() int64 {
	if w.pw == nil {
		return w.sink.n
	}
	return w.sink.n + w.pw.RowGroupTotalCompressedBytes()
}

// Close flushes the last row group and the footer and returns the file's
// statistics. It does not close the underlying io.Writer.
func (w *FileWriter) Close() (*Stats, error) {
	if w.closed {
		return nil, errors.New("table: FileWriter closed twice")
	}
	w.closed = true
	if w.pw == nil && w.err == nil {
		// Nothing was written: an empty file still gets its footer.
		w.err = w.open(nil)
	}
	if w.pw == nil {
		return nil, w.err
	}
	err := w.pw.Close()
	for _, d := range w.dicts {
		if d.dict != nil {
			d.dict.Release()
		}
	}
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("table: close parquet: %w", err)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.stats.stats(), nil
}

// BytesWritten returns the bytes written to the underlying writer; after
// Close it is the file size.
func (w *FileWriter) BytesWritten() int64 { return w.sink.n }
