package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/uuid"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Rows that decode but break one of the table's constraints (a NOT NULL
// column without a value, a delta.invariants expression, a CHECK constraint)
// cannot go into the table, not even as a rescued row: the table would refuse
// it, and nulling the offending value would break NOT NULL or the rule
// itself. They go instead, one JSON object per line, to
//
//	_loglake/ingest/<stream>/rejected/<batch %020d>/<uuid>.ndjson
//
// as {"_file": landing key, "_line": n, "_error": "…the constraint…",
// "row": {column: value, …}}, and the batch's commit names those objects
// (commitInfo.operationParameters.rejectedFiles) and counts the rows
// (operationMetrics.numRejectedRows). So they are counted, visible, and
// recoverable exactly once: an object no commit names is the leftover of an
// attempt that did not commit, and is deleted like its data files.

// rejectPartBytes bounds the memory a batch's rejected rows take before they
// are written out as one object.
const rejectPartBytes = 4 << 20

// rejectKeyPrefix is where batch's rejected rows go.
func rejectKeyPrefix(stream string, batch int64) string {
	return fmt.Sprintf("%srejected/%020d/", StatePrefix(stream), batch)
}

// rejects collects a batch's rejected rows from all decoders.
type rejects struct {
	bucket storage.Bucket
	prefix string

	mu    sync.Mutex
	buf   bytes.Buffer
	parts []string
	rows  int64
	first string // the first rejection, for the log
}

func newRejects(b storage.Bucket, stream string, batch int64) *rejects {
	return &rejects{bucket: b, prefix: rejectKeyPrefix(stream, batch)}
}

// split checks rec against cons. It records the violating rows and returns
// the others (rec itself, retained, when all pass); dropped is how many rows
// it took out and rescued how many of those had _rescued_data.
func (r *rejects) split(ctx context.Context, cons *table.Constraints, m *mapping, rec arrow.Record, lines []int64) (
	out arrow.Record, dropped, rescued int64, err error) {
	vs, err := cons.Check(rec)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(vs) == 0 {
		rec.Retain()
		return rec, 0, 0, nil
	}
	var buf bytes.Buffer
	keep := make([]bool, rec.NumRows())
	for i := range keep {
		keep[i] = true
	}
	sch := rec.Schema()
	var first string
	for _, v := range vs {
		keep[v.Row] = false
		row := make(map[string]any, sch.NumFields())
		for c, f := range sch.Fields() {
			row[f.Name] = table.Value(rec.Column(c), v.Row)
		}
		if !rec.Column(m.rescued).IsNull(v.Row) {
			rescued++
		}
		var line int64
		if v.Row < len(lines) {
			line = lines[v.Row]
		}
		file, _ := row[ColSourceFile].(string)
		if first == "" {
			first = fmt.Sprintf("%s line %d: violates %s", file, line, v.Constraint)
		}
		b, err := json.Marshal(map[string]any{"_file": file, "_line": line, "_error": "violates " + v.Constraint, "row": row})
		if err != nil {
			return nil, 0, 0, fmt.Errorf("ingest: encoding a rejected row: %w", err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := r.add(ctx, buf.Bytes(), int64(len(vs)), first); err != nil {
		return nil, 0, 0, err
	}
	mb := array.NewBooleanBuilder(memory.DefaultAllocator)
	mb.AppendValues(keep, nil)
	mask := mb.NewBooleanArray()
	mb.Release()
	defer mask.Release()
	out, err = compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
	if err != nil {
		return nil, 0, 0, fmt.Errorf("ingest: separating rejected rows: %w", err)
	}
	return out, int64(len(vs)), rescued, nil
}

// add appends encoded rows, writing a part out when the buffer is full.
func (r *rejects) add(ctx context.Context, data []byte, n int64, first string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == "" {
		r.first = first
	}
	r.rows += n
	r.buf.Write(data)
	if r.buf.Len() >= rejectPartBytes {
		return r.flushLocked(ctx)
	}
	return nil
}

// flush writes what is buffered; after it, keys lists every part.
func (r *rejects) flush(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushLocked(ctx)
}

func (r *rejects) flushLocked(ctx context.Context) error {
	if r.buf.Len() == 0 {
		return nil
	}
	key := r.prefix + uuid.NewString() + ".ndjson"
	if err := r.bucket.Put(ctx, key, r.buf.Bytes()); err != nil {
		return fmt.Errorf("ingest: writing rejected rows: %w", err)
	}
	r.parts = append(r.parts, key)
	r.buf.Reset()
	return nil
}

// discard deletes the parts written (best effort: the commit that would
// have named them did not happen).
func (r *rejects) discard(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first error
	for _, k := range r.parts {
		if err := r.bucket.Delete(ctx, k); err != nil && first == nil {
			first = err
		}
	}
	r.parts, r.rows, r.first = nil, 0, ""
	r.buf.Reset()
	return first
}
