package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/google/uuid"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/internal/fileio"
)

// WriteOptions tune data file writing. The zero value is the default.
type WriteOptions struct {
	// TargetFileSize rolls to a new file once a file's compressed size
	// reaches it (default 128 MiB).
	TargetFileSize int64
	// Writer configures Parquet encoding (nil: zstd defaults).
	Writer *WriterOptions
	// Rewrite says the records are rows read from the table's own files
	// (OPTIMIZE, DELETE): their generated and identity columns hold the
	// values they were written with, so such columns need no computing.
	// Without it, a table with such a column is refused by name.
	Rewrite bool
}

// Writer streams Arrow records into new data files of a table, one open file
// per partition, each uploaded while it is written so memory stays bounded.
// The files become visible only when their Add actions are committed.
type Writer struct {
	t        *Table
	schema   *arrow.Schema // table schema, partition columns included
	fileSch  *arrow.Schema // data file schema: without partition columns
	parts    []string
	opts     WriteOptions
	cons     *Constraints
	open     map[string]*openFile
	keepDict []bool // columns that may stay dictionary-encoded (nil: none)
	adds     []*Add
	writeErr error
}

type openFile struct {
	key    string
	values map[string]*string
	fw     *FileWriter
	pw     *io.PipeWriter
	count  *sizeCounter
	done   chan error
}

// NewWriter returns a Writer for data matching snap's schema. A read-only
// table refuses before any data file is written.
func (t *Table) NewWriter(snap *Snapshot, opts *WriteOptions) (*Writer, error) {
	if err := t.writable("write"); err != nil {
		return nil, err
	}
	if err := checkWrite(snap.protocol, snap.metadata); err != nil {
		return nil, err
	}
	sch, err := snap.Schema()
	if err != nil {
		return nil, err
	}
	if opts == nil || !opts.Rewrite {
		if err := checkColumnFeatures(sch.Fields, ""); err != nil {
			return nil, err
		}
	}
	cons, err := compileConstraints(snap.metadata, sch)
	if err != nil {
		return nil, err
	}
	w := &Writer{t: t, schema: sch.Arrow(), parts: snap.metadata.PartitionColumns, cons: cons, open: map[string]*openFile{}}
	if opts != nil {
		w.opts = *opts
	}
	if w.opts.TargetFileSize <= 0 {
		w.opts.TargetFileSize = 128 << 20
	}
	var fields []arrow.Field
	for _, f := range w.schema.Fields() {
		if !slices.Contains(w.parts, f.Name) {
			fields = append(fields, f)
		}
	}
	w.fileSch = arrow.NewSchema(fields, nil)
	if cons.Empty() {
		w.keepDict = make([]bool, w.schema.NumFields())
		for i, f := range w.schema.Fields() {
			w.keepDict[i] = !slices.Contains(w.parts, f.Name)
		}
	}
	return w, nil
}

// Schema is the Arrow schema records passed to Write must have.
func (w *Writer) Schema() *arrow.Schema { return w.schema }

// Write adds rec's rows to the table's pending files. rec has the Schema,
// except that a string column may come dictionary-encoded as
// dictionary<int32, string> (its values then need not be copied or hashed
// again when the file writer dictionary-encodes the column). A record with a row
// that violates the table's constraints (NOT NULL columns, invariants, CHECK
// constraints) is refused whole with a ConstraintError and nothing of it is
// written; the Writer stays usable. Callers that must keep the good rows
// split them off first with Constraints.Check.
func (w *Writer) Write(ctx context.Context, rec arrow.Record) error {
	if w.writeErr != nil {
		return w.writeErr
	}
	if !fileio.SchemaMatches(rec.Schema(), w.schema) {
		return fmt.Errorf("table: record schema %v does not match the table schema %v", rec.Schema(), w.schema)
	}
	// Partition values and constraints are read from plain columns.
	dense, err := fileio.DenseStrings(rec, w.keepDict)
	if err != nil {
		return err
	}
	defer dense.Release()
	rec = dense
	if !w.cons.Empty() {
		vs, err := w.cons.Check(rec)
		if err != nil {
			return err
		}
		if len(vs) > 0 {
			return ViolationError(vs)
		}
	}
	groups, err := SplitByPartition(rec, w.parts)
	if err != nil {
		return err
	}
	defer func() {
		for _, g := range groups {
			g.Record.Release()
		}
	}()
	for _, g := range groups {
		if err := w.writePart(ctx, g); err != nil {
			w.writeErr = err
			return err
		}
	}
	return nil
}

func (w *Writer) writePart(ctx context.Context, g PartitionedRecord) error {
	dir := PartitionPath(w.parts, g.Values)
	f := w.open[dir]
	if f == nil {
		var err error
		if f, err = w.openFile(ctx, dir, g.Values); err != nil {
			return err
		}
		w.open[dir] = f
	}
	if err := f.fw.Write(g.Record); err != nil {
		return err
	}
	if f.fw.EstimatedSize() >= w.opts.TargetFileSize {
		delete(w.open, dir)
		return w.finish(f)
	}
	return nil
}

func (w *Writer) openFile(ctx context.Context, dir string, values map[string]*string) (*openFile, error) {
	key := dir + "part-" + uuid.NewString() + ".zstd.parquet"
	pr, pw := io.Pipe()
	f := &openFile{key: key, values: values, pw: pw, count: &sizeCounter{w: pw}, done: make(chan error, 1)}
	go func() { // started first: the encoder writes the Parquet header at once
		err := w.t.bucket.Upload(ctx, key, pr)
		pr.CloseWithError(err) // unblock the encoder if the upload failed
		f.done <- err
	}()
	fw, err := NewFileWriter(f.count, w.fileSch, w.opts.Writer)
	if err != nil {
		pw.CloseWithError(err)
		<-f.done
		return nil, err
	}
	f.fw = fw
	return f, nil
}

// finish closes a file and records its Add.
func (w *Writer) finish(f *openFile) error {
	stats, err := f.fw.Close()
	f.pw.CloseWithError(err)
	upErr := <-f.done
	if err = errors.Join(err, upErr); err != nil {
		return fmt.Errorf("table: writing %s: %w", f.key, err)
	}
	add := &Add{
		Path:             escapePath(f.key),
		PartitionValues:  f.values,
		Size:             f.count.n.Load(),
		ModificationTime: time.Now().UnixMilli(),
		DataChange:       true,
	}
	if add.PartitionValues == nil {
		add.PartitionValues = map[string]*string{}
	}
	if stats != nil {
		add.Stats = stats.JSON()
	}
	w.adds = append(w.adds, add)
	return nil
}

// Close finishes every open file and returns the Add actions to commit.
func (w *Writer) Close() ([]Action, error) {
	err := w.writeErr
	for dir, f := range w.open {
		delete(w.open, dir)
		if e := w.finish(f); e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]Action, len(w.adds))
	for i, a := range w.adds {
		out[i] = Action{Add: a}
	}
	return out, nil
}

// Append writes records as new files and commits them in one blind append.
// It is the simple path for callers without a stream identity.
func (t *Table) Append(ctx context.Context, recs []arrow.Record, c *Commit) (int64, error) {
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return -1, err
	}
	written := t.now()
	w, err := t.NewWriter(snap, nil)
	if err != nil {
		return -1, err
	}
	for _, r := range recs {
		if err := w.Write(ctx, r); err != nil {
			w.Close()
			return -1, err
		}
	}
	adds, err := w.Close()
	if err != nil {
		return -1, err
	}
	if c == nil {
		c = &Commit{Operation: "WRITE", Parameters: map[string]any{"mode": "Append"}}
	}
	cc := *c
	cc.Actions = append(append([]Action{}, c.Actions...), adds...)
	cc.WrittenSince = written
	if cc.Metrics == nil {
		cc.Metrics = fileMetrics(adds)
	}
	return t.Commit(ctx, snap, &cc)
}

// fileMetrics are Delta's WRITE operation metrics for a set of adds.
func fileMetrics(adds []Action) map[string]any {
	var rows, bytes int64
	for _, a := range adds {
		bytes += a.Add.Size
		if n, ok := a.Add.NumRecords(); ok {
			rows += n
		}
	}
	return map[string]any{
		"numFiles":       fmt.Sprint(len(adds)),
		"numOutputRows":  fmt.Sprint(rows),
		"numOutputBytes": fmt.Sprint(bytes),
	}
}

// escapePath turns a storage key into an add.path URI (RFC 2396): each
// segment is percent-encoded, so Hive escapes like %3A become %253A.
func escapePath(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

type sizeCounter struct {
	w io.Writer
	n atomic.Int64
}

func (c *sizeCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// DiscardFiles deletes the data files of adds that will never be committed
// (a batch another writer already committed, or a failed commit). It is best
// effort and returns every failure joined: VACUUM removes what is left.
func DiscardFiles(ctx context.Context, b storage.Bucket, adds []Action) error {
	var errs []error
	for _, a := range adds {
		if a.Add == nil {
			continue
		}
		key, err := FileKey(a.Add.Path)
		if err == nil {
			err = b.Delete(ctx, key)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
