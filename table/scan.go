package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/expr"
)

// ScanOptions select what a scan returns. The zero value scans every row and
// column.
type ScanOptions struct {
	// Columns to return, in this order (nil: all, partition columns included).
	Columns []string
	// Filter is a predicate in the expr language (e.g. "level = 'ERROR' AND
	// date >= '2026-11-01'"). Files that cannot match are skipped using
	// partition values and stats; rows are filtered exactly.
	Filter string
	// Limit stops the scan after this many rows (0: no limit).
	Limit int64
	// BatchRows bounds the rows per returned record (default 64Ki).
	BatchRows int
}

// Scanner iterates a scan's records.
type Scanner struct {
	snap    *Snapshot
	opts    ScanOptions
	schema  *Schema
	pred    *expr.Predicate
	read    []string // columns read: requested ∪ filter columns
	files   []*Add
	next    int
	cur     RecordReader
	emitted int64
}

// Scan starts a scan of the snapshot.
func (s *Snapshot) Scan(ctx context.Context, opts *ScanOptions) (*Scanner, error) {
	sch, err := s.Schema()
	if err != nil {
		return nil, err
	}
	sc := &Scanner{snap: s, schema: sch}
	if opts != nil {
		sc.opts = *opts
	}
	if sc.opts.BatchRows <= 0 {
		sc.opts.BatchRows = 64 << 10
	}
	if sc.opts.Columns == nil {
		for _, f := range sch.Fields {
			sc.opts.Columns = append(sc.opts.Columns, f.Name)
		}
	}
	for _, c := range sc.opts.Columns {
		if sch.Field(c) == nil {
			return nil, fmt.Errorf("table: unknown column %q", c)
		}
	}
	sc.read = sc.opts.Columns
	if sc.opts.Filter != "" {
		if sc.pred, err = s.Predicate(sc.opts.Filter); err != nil {
			return nil, err
		}
		for _, c := range expr.Columns(sc.pred.Expr()) {
			if !slices.Contains(sc.read, c) {
				sc.read = append(slices.Clip(sc.read), c)
			}
		}
	}
	sc.files = s.PruneFiles(sc.pred)
	return sc, nil
}

// Predicate parses and binds a filter against the table schema.
func (s *Snapshot) Predicate(filter string) (*expr.Predicate, error) {
	sch, err := s.Schema()
	if err != nil {
		return nil, err
	}
	e, err := expr.Parse(filter)
	if err != nil {
		return nil, err
	}
	return expr.Bind(e, sch.Arrow())
}

// PruneFiles returns the live files that may contain rows matching pred
// (all files when pred is nil), judged by partition values and stats. Only
// the statistics of the columns pred names are decoded, once per snapshot
// (see statsOf).
func (s *Snapshot) PruneFiles(pred *expr.Predicate) []*Add {
	if pred == nil {
		return s.Files()
	}
	files := s.Files()
	part := &StatsPart{Columns: pred.Columns()}
	var out []*Add
	keep := func(from int, stats []*Stats) {
		may := make([]bool, len(stats))
		inChunks(len(stats), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				may[i] = pred.MayMatch(fileInfo{add: files[from+i], stats: stats[i]})
			}
		})
		for i, ok := range may {
			if ok {
				out = append(out, files[from+i])
			}
		}
	}
	if stats := s.statsOf(part); stats != nil {
		keep(0, stats)
		return out
	}
	// Too many files to keep their stats: parse a chunk at a time.
	for from := 0; from < len(files); from += statsChunk {
		to := min(from+statsChunk, len(files))
		keep(from, parseStats(files[from:to], part))
	}
	return out
}

// statsCacheFiles is the largest snapshot whose parsed file stats are kept
// for the snapshot's lifetime (a few KB per file for a table of ten
// columns). Larger snapshots parse them again on every PruneFiles, a chunk
// at a time, so memory stays bounded whatever the table's size.
var statsCacheFiles = 200_000

// statsCacheParts bounds how many parts of the file stats (see StatsPart)
// a snapshot keeps: one per set of filter columns its statements used. A
// statement with one more set decodes all stats once, which then serve
// every part, and the parts are dropped: memory stays within a few decodes
// of the snapshot's stats however many column sets its statements use.
const statsCacheParts = 4

// statsChunk is how many files' stats an uncached PruneFiles parses at once.
const statsChunk = 4096

// StatsOf returns the statistics of files, live files of the snapshot,
// each holding at least part (nil: all): the snapshot's decoded stats when
// it keeps them (see statsOf), else decoded now on every CPU and not
// kept, so that a statement reading a few files of a large snapshot pays
// for those files only.
func (s *Snapshot) StatsOf(files []*Add, part *StatsPart) []*Stats {
	kept := s.keptStats(part)
	if kept == nil {
		return parseStats(files, part)
	}
	out := make([]*Stats, len(files))
	for i, f := range files {
		if j, ok := s.fileIndex(f); ok {
			out[i] = kept[j]
		} else {
			out[i], _ = ParseStatsOf(f.Stats, part)
		}
	}
	return out
}

// fileIndex finds f in Files().
func (s *Snapshot) fileIndex(f *Add) (int, bool) {
	files := s.Files()
	i, ok := slices.BinarySearchFunc(files, f.Path, func(a *Add, p string) int { return cmpString(a.Path, p) })
	return i, ok && files[i] == f
}

// keptStats returns the decoded stats of Files() holding at least part when
// the snapshot has decoded them already, else nil.
func (s *Snapshot) keptStats(part *StatsPart) []*Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	for _, k := range []string{"", statsPartKey(part)} {
		if ps := s.statsParts[k]; ps != nil && ps.stats != nil {
			return ps.stats
		}
	}
	return nil
}

// partStats are the stats of Files() (same order) restricted to one part.
type partStats struct {
	once  sync.Once
	stats []*Stats
}

// statsOf returns the parsed stats of Files() (same order) holding at least
// part (nil: all), or nil when the snapshot has more than statsCacheFiles
// files. All stats, once decoded, serve every part.
func (s *Snapshot) statsOf(part *StatsPart) []*Stats {
	files := s.Files()
	if len(files) > statsCacheFiles {
		return nil
	}
	if kept := s.keptStats(part); kept != nil {
		return kept
	}
	key := statsPartKey(part)
	s.statsMu.Lock()
	ps := s.statsParts[key]
	if ps == nil && len(s.statsParts) >= statsCacheParts {
		key, part = "", nil
		ps = s.statsParts[key]
	}
	if ps == nil {
		if s.statsParts == nil {
			s.statsParts = map[string]*partStats{}
		}
		ps = &partStats{}
		s.statsParts[key] = ps
	}
	s.statsMu.Unlock()
	ps.once.Do(func() {
		stats := parseStats(files, part)
		s.statsMu.Lock()
		ps.stats = stats
		if key == "" {
			// All stats serve every part: drop the parts.
			s.statsParts = map[string]*partStats{"": ps}
		}
		s.statsMu.Unlock()
	})
	return ps.stats
}

// statsPartKey names a part: "" for all stats, else its columns (lower
// case, sorted) and whether bounds are left out.
func statsPartKey(part *StatsPart) string {
	if part == nil {
		return ""
	}
	cols := make([]string, len(part.Columns))
	for i, c := range part.Columns {
		cols[i] = strings.ToLower(c)
	}
	slices.Sort(cols)
	return fmt.Sprintf("%t\x00%s", part.NoBounds, strings.Join(slices.Compact(cols), "\x00"))
}

// parseStats parses part of the stats of files (see ParseStatsOf) on every
// CPU: the first statement over a large snapshot waits for it.
func parseStats(files []*Add, part *StatsPart) []*Stats {
	out := make([]*Stats, len(files))
	inChunks(len(files), func(from, to int) {
		for i := from; i < to; i++ {
			out[i], _ = ParseStatsOf(files[i].Stats, part)
		}
	})
	return out
}

// inChunks runs fn over [0, n) split into one contiguous chunk per
// core (at least 256 items a chunk), concurrently.
func inChunks(n int, fn func(from, to int)) {
	workers := min(runtime.GOMAXPROCS(0), (n+255)/256)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for from := 0; from < n; from += per {
		wg.Go(func() { fn(from, min(from+per, n)) })
	}
	wg.Wait()
}

// Columns returns the names of the columns of the records Next returns, in
// order, as the table's schema spells them.
func (sc *Scanner) Columns() []string {
	names := make([]string, len(sc.opts.Columns))
	for i, c := range sc.opts.Columns {
		names[i] = sc.schema.Field(c).Name
	}
	return names
}

// Next returns the next record, or io.EOF. The caller releases it.
func (sc *Scanner) Next(ctx context.Context) (arrow.Record, error) {
	for {
		if sc.opts.Limit > 0 && sc.emitted >= sc.opts.Limit {
			return nil, io.EOF
		}
		if sc.cur == nil {
			if sc.next >= len(sc.files) {
				return nil, io.EOF
			}
			f := sc.files[sc.next]
			sc.next++
			r, err := sc.openFile(ctx, f)
			if err != nil {
				return nil, err
			}
			sc.cur = r
		}
		rec, err := sc.cur.Next()
		if err == io.EOF {
			sc.cur.Close()
			sc.cur = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec, err = sc.shape(rec); err != nil {
			return nil, err
		}
		if rec.NumRows() == 0 {
			rec.Release()
			continue
		}
		sc.emitted += rec.NumRows()
		return rec, nil
	}
}

// shape drops filter-only columns and applies the limit (OpenDataFile
// filtered the rows).
func (sc *Scanner) shape(rec arrow.Record) (arrow.Record, error) {
	if len(sc.read) != len(sc.opts.Columns) {
		cols := make([]arrow.Array, len(sc.opts.Columns))
		fields := make([]arrow.Field, len(sc.opts.Columns))
		for i := range sc.opts.Columns {
			cols[i], fields[i] = rec.Column(i), rec.Schema().Field(i)
		}
		projected := array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
		rec.Release()
		rec = projected
	}
	if left := sc.opts.Limit - sc.emitted; sc.opts.Limit > 0 && rec.NumRows() > left {
		sliced := rec.NewSlice(0, left)
		rec.Release()
		rec = sliced
	}
	return rec, nil
}

func (sc *Scanner) openFile(ctx context.Context, f *Add) (RecordReader, error) {
	return OpenDataFile(ctx, sc.snap.bucket, f, &FileScan{
		Schema:           sc.schema,
		PartitionColumns: sc.snap.metadata.PartitionColumns,
		Columns:          sc.read,
		Predicate:        sc.pred,
		BatchRows:        sc.opts.BatchRows,
	})
}

// FileScan says how OpenDataFile reads one data file.
type FileScan struct {
	// Schema and PartitionColumns are the table's as of the version that
	// added the file (a change feed reader reads each file with the schema
	// in force when it was added).
	Schema           *Schema
	PartitionColumns []string
	// Columns projects the output (nil: every column of Schema). Columns
	// the Predicate needs must be among them.
	Columns []string
	// Predicate, if set, filters the rows exactly (see MayMatch for the
	// file-level pruning callers do first).
	Predicate *expr.Predicate
	// BatchRows bounds the rows per record (0: the reader's default).
	BatchRows int
	// RowsRead, if set, is incremented by the rows read from the file
	// before the Predicate filters them.
	RowsRead *int64
}

// OpenDataFile reads the data file of add: its path validated by FileKey,
// its size checked against the log's, its records in the table schema with
// partition columns materialized (see PartitionValue), filtered by the
// predicate. Scan and every change-feed reader read data through it. The
// returned reader's records may be empty after filtering.
func OpenDataFile(ctx context.Context, b storage.Bucket, add *Add, o *FileScan) (RecordReader, error) {
	key, err := FileKey(add.Path)
	if err != nil {
		return nil, err
	}
	src, err := OpenFile(ctx, b, key, add.Size)
	if err != nil {
		return nil, DataFileError(key, err)
	}
	rr, err := ReadFile(ctx, src, add.Size, &ReadOptions{
		Schema:           o.Schema,
		Columns:          o.Columns,
		PartitionValues:  add.PartitionValues,
		PartitionColumns: o.PartitionColumns,
		BatchRows:        o.BatchRows,
	})
	if err != nil {
		return nil, fmt.Errorf("data file %s: %w", key, err)
	}
	if o.Predicate == nil && o.RowsRead == nil {
		return rr, nil
	}
	return &filterReader{rr: rr, pred: o.Predicate, key: key, rows: o.RowsRead}, nil
}

// DataFileError describes a failure to open data file key; a missing file
// says what usually removed it.
func DataFileError(key string, err error) error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data file %s is missing (VACUUM deletes the files only versions older than "+
			"the table's deleted-file retention read: such a version can no longer be read): %w", key, err)
	}
	return fmt.Errorf("data file %s: %w", key, err)
}

// filterReader counts and filters a data file's records.
type filterReader struct {
	rr   RecordReader
	pred *expr.Predicate
	key  string
	rows *int64
}

func (f *filterReader) Next() (arrow.Record, error) {
	rec, err := f.rr.Next()
	if err != nil {
		if err != io.EOF {
			err = fmt.Errorf("data file %s: %w", f.key, err)
		}
		return nil, err
	}
	if f.rows != nil {
		*f.rows += rec.NumRows()
	}
	if f.pred == nil {
		return rec, nil
	}
	out, err := f.pred.Filter(rec)
	rec.Release()
	return out, err
}

func (f *filterReader) Close() error { return f.rr.Close() }

// MayMatch reports whether add's file may hold rows matching pred, judged
// by its partition values (PartitionValue) and stats; always true for a nil
// pred. Scan prunes with it, and so does every change-feed reader.
func MayMatch(add *Add, pred *expr.Predicate) bool {
	return pred == nil || pred.MayMatch(newFileInfo(add))
}

// Close releases the scanner's open file.
func (sc *Scanner) Close() error {
	if sc.cur != nil {
		err := sc.cur.Close()
		sc.cur = nil
		return err
	}
	return nil
}

// smallFile is the size under which a data file is fetched in one GET rather
// than with ranged reads.
const smallFile = 16 << 20

// OpenFile gives random access to a stored file: small files are fetched
// whole, larger ones are read with ranged GETs as the Parquet reader seeks.
func OpenFile(ctx context.Context, b storage.Bucket, key string, size int64) (ReaderAtSeeker, error) {
	if size >= 0 && size <= smallFile {
		data, err := b.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if int64(len(data)) != size {
			// The log's size is what a ranged reader seeks from: a file that
			// does not match it is not the file the log added.
			return nil, fmt.Errorf("%w: data file %s has %d bytes, the log says %d", ErrCorrupt, key, len(data), size)
		}
		return bytes.NewReader(data), nil
	}
	if size < 0 {
		o, err := b.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		size = o.Size
	}
	return &rangeReader{ctx: ctx, b: b, key: key, size: size}, nil
}

// ReaderAtSeeker is what the Parquet reader needs of a file.
type ReaderAtSeeker interface {
	io.ReaderAt
	io.ReadSeeker
}

// rangeReader serves ReadAt with ranged GETs. The ctx is held only for the
// duration of one scan of one file.
type rangeReader struct {
	ctx  context.Context
	b    storage.Bucket
	key  string
	size int64
	off  int64
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	rc, err := r.b.NewReader(r.ctx, r.key, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	m, err := io.ReadFull(rc, p[:n])
	if err == nil && int64(m) < int64(len(p)) {
		err = io.EOF
	}
	return m, err
}

func (r *rangeReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	return n, err
}

func (r *rangeReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("table: seek to negative offset")
	}
	r.off = offset
	return offset, nil
}

// fileInfo adapts an Add's partition values and stats for pruning.
type fileInfo struct {
	add   *Add
	stats *Stats
}

func newFileInfo(a *Add) fileInfo {
	st, _ := ParseStats(a.Stats)
	return fileInfo{add: a, stats: st}
}

func (f fileInfo) Partition(col string) (*string, bool) {
	return PartitionValue(f.add.PartitionValues, col)
}

func (f fileInfo) Min(path []string) (any, bool) { return f.stats.Min(path...) }

func (f fileInfo) Max(path []string) (any, bool) { return f.stats.Max(path...) }

func (f fileInfo) NullCount(path []string) (int64, bool) { return f.stats.Nulls(path...) }

func (f fileInfo) NumRecords() (int64, bool) {
	if f.stats == nil {
		return 0, false
	}
	return f.stats.NumRecords, true
}
