package table

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// OPTIMIZE --sort-by is an external merge sort per partition: rows are
// gathered into runs of at most SortMemory decoded bytes; each run is sorted
// by row index (no copy of the rows but one concatenation) and, when the
// partition does not fit in one run, spilled to a local temporary file in
// sorted order (Arrow IPC, LZ4); the runs are then merged into the table
// writer. The output of a partition is therefore one sorted sequence, and
// the files the writer rolls cover adjacent, non-overlapping key ranges
// whatever the partition's size. Memory is one run (plus its concatenation
// while it is built) in the first phase and one small batch per run in the
// merge, never a copy of the whole partition.

// Sizes of the external sort.
const (
	// sortOutRows is the rows per record handed to the writer.
	sortOutRows = 4 << 10
	// mergeMemory bounds the decoded bytes the merge holds across all runs
	// (one batch each); it sets the batch size runs are spilled in.
	mergeMemory = 32 << 20
	// spillMinRows and spillMaxRows clamp that batch size: tiny batches
	// compress badly, big ones are memory the merge need not hold.
	spillMinRows = 256
	spillMaxRows = 16 << 10
)

// keyCompare compares row i of x with row j of y, two arrays of one sort
// column's type: ascending, nulls last.
type keyCompare func(x arrow.Array, i int, y arrow.Array, j int) int

// compareFor returns the keyCompare of a primitive Arrow type (sortColumns
// admits only primitive Delta types).
func compareFor(t arrow.DataType) (keyCompare, error) {
	var c keyCompare
	switch t.ID() {
	case arrow.STRING:
		c = func(x arrow.Array, i int, y arrow.Array, j int) int {
			return strings.Compare(x.(*array.String).Value(i), y.(*array.String).Value(j))
		}
	case arrow.BINARY:
		c = func(x arrow.Array, i int, y arrow.Array, j int) int {
			return bytes.Compare(x.(*array.Binary).Value(i), y.(*array.Binary).Value(j))
		}
	case arrow.BOOL:
		c = func(x arrow.Array, i int, y arrow.Array, j int) int {
			a, b := x.(*array.Boolean).Value(i), y.(*array.Boolean).Value(j)
			switch {
			case a == b:
				return 0
			case b:
				return -1
			}
			return 1
		}
	case arrow.INT8:
		c = ordered[int8, *array.Int8]()
	case arrow.INT16:
		c = ordered[int16, *array.Int16]()
	case arrow.INT32:
		c = ordered[int32, *array.Int32]()
	case arrow.INT64:
		c = ordered[int64, *array.Int64]()
	case arrow.FLOAT32:
		c = ordered[float32, *array.Float32]()
	case arrow.FLOAT64:
		c = ordered[float64, *array.Float64]()
	case arrow.DATE32:
		c = ordered[arrow.Date32, *array.Date32]()
	case arrow.TIMESTAMP:
		c = ordered[arrow.Timestamp, *array.Timestamp]()
	case arrow.DECIMAL128:
		c = func(x arrow.Array, i int, y arrow.Array, j int) int {
			return x.(*array.Decimal128).Value(i).Cmp(y.(*array.Decimal128).Value(j))
		}
	default:
		return nil, fmt.Errorf("table: cannot sort by a column of Arrow type %s", t)
	}
	return func(x arrow.Array, i int, y arrow.Array, j int) int {
		xn, yn := x.IsNull(i), y.IsNull(j)
		switch {
		case xn && yn:
			return 0
		case xn:
			return 1
		case yn:
			return -1
		}
		return c(x, i, y, j)
	}, nil
}

// ordered compares arrays whose Value is a cmp.Ordered (NaN first, as
// cmp.Compare does: any consistent order keeps the rows, and NaN keys are
// rare).
func ordered[T cmp.Ordered, A interface{ Value(int) T }]() keyCompare {
	return func(x arrow.Array, i int, y arrow.Array, j int) int {
		return cmp.Compare(x.(A).Value(i), y.(A).Value(j))
	}
}

// rowOrder compares rows of records in the table schema by the sort columns.
type rowOrder struct {
	idx  []int
	cmps []keyCompare
}

func newRowOrder(sch *arrow.Schema, sortIdx []int) (*rowOrder, error) {
	o := &rowOrder{idx: sortIdx, cmps: make([]keyCompare, len(sortIdx))}
	for k, c := range sortIdx {
		var err error
		if o.cmps[k], err = compareFor(sch.Field(c).Type); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func (o *rowOrder) compare(a arrow.Record, i int, b arrow.Record, j int) int {
	for k, c := range o.idx {
		if r := o.cmps[k](a.Column(c), i, b.Column(c), j); r != 0 {
			return r
		}
	}
	return 0
}

// partitionSorter is the external sort of one partition's rows into w.
type partitionSorter struct {
	w         *Writer
	order     *rowOrder
	mem       memory.Allocator
	runMemory int64
	totalRows int64 // rows of the partition, from the files' stats (0: unknown)
	spillDir  string

	pending      []arrow.Record
	pendingBytes int64
	runs         []string // spilled runs, in the order written
	spillRows    int      // batch size of spilled runs, set by the first run
}

// add takes ownership of rec.
func (s *partitionSorter) add(ctx context.Context, rec arrow.Record) error {
	if rec.NumRows() == 0 {
		rec.Release()
		return nil
	}
	s.pending = append(s.pending, rec)
	if s.pendingBytes += recordBytes(rec); s.pendingBytes >= s.runMemory {
		return s.spill(ctx)
	}
	return nil
}

// release drops what the sorter holds: pending records and spill files.
func (s *partitionSorter) release() {
	for _, r := range s.pending {
		r.Release()
	}
	s.pending, s.pendingBytes = nil, 0
	for _, p := range s.runs {
		os.Remove(p)
	}
	s.runs = nil
}

// sortPending concatenates the pending records into one, releasing them as
// it goes, and returns it with the permutation that sorts it (stable).
func (s *partitionSorter) sortPending() (arrow.Record, []int32, error) {
	recs := s.pending
	s.pending, s.pendingBytes = nil, 0
	rec, err := concatRecords(s.mem, recs)
	if err != nil {
		return nil, nil, err
	}
	n := int(rec.NumRows())
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	cols := make([]arrow.Array, len(s.order.idx))
	for k, c := range s.order.idx {
		cols[k] = rec.Column(c)
	}
	slices.SortStableFunc(perm, func(a, b int32) int {
		for k, c := range cols {
			if r := s.order.cmps[k](c, int(a), c, int(b)); r != 0 {
				return r
			}
		}
		return 0
	})
	return rec, perm, nil
}

// emitSorted hands rec's rows in perm order to sink in records of batch
// rows, gathered with Arrow's take.
func emitSorted(ctx context.Context, mem memory.Allocator, rec arrow.Record, perm []int32, batch int, sink func(arrow.Record) error) error {
	for off := 0; off < len(perm); off += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := takeRows(ctx, mem, rec, perm[off:min(off+batch, len(perm))])
		if err != nil {
			return err
		}
		err = sink(out)
		out.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// spill sorts the pending rows and writes them to a new run file.
func (s *partitionSorter) spill(ctx context.Context) error {
	rows := int64(0)
	for _, r := range s.pending {
		rows += r.NumRows()
	}
	if s.spillRows == 0 {
		// The merge holds one batch per run: size batches so that all runs
		// the partition will need fit in mergeMemory together.
		rowBytes := max(s.pendingBytes/max(rows, 1), 1)
		runs := max(s.totalRows*rowBytes/s.runMemory+1, 2)
		s.spillRows = int(min(max(mergeMemory/runs/rowBytes, spillMinRows), spillMaxRows))
	}
	rec, perm, err := s.sortPending()
	if err != nil {
		return err
	}
	defer rec.Release()
	f, err := os.CreateTemp(s.spillDir, "loglake-optimize-run-*.arrows")
	if err != nil {
		return fmt.Errorf("table: sort spill: %w", err)
	}
	s.runs = append(s.runs, f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	iw := ipc.NewWriter(bw, ipc.WithSchema(rec.Schema()), ipc.WithAllocator(s.mem), ipc.WithLZ4())
	err = emitSorted(ctx, s.mem, rec, perm, s.spillRows, func(r arrow.Record) error { return iw.Write(r) })
	err = errors.Join(err, iw.Close(), bw.Flush(), f.Close())
	if err != nil {
		return fmt.Errorf("table: sort spill %s: %w", f.Name(), err)
	}
	return nil
}

// finish writes every row added, in order, to the writer.
func (s *partitionSorter) finish(ctx context.Context) error {
	if len(s.runs) == 0 {
		// One run: sort it in memory and write it, no spill.
		if len(s.pending) == 0 {
			return nil
		}
		rec, perm, err := s.sortPending()
		if err != nil {
			return err
		}
		defer rec.Release()
		return emitSorted(ctx, s.mem, rec, perm, sortOutRows, func(r arrow.Record) error { return s.w.Write(ctx, r) })
	}
	if len(s.pending) > 0 {
		if err := s.spill(ctx); err != nil {
			return err
		}
	}
	return s.merge(ctx)
}

// runCursor is a spilled run being merged: its current batch and row.
type runCursor struct {
	n     int // run number: ties go to the earlier run (a stable sort)
	f     *os.File
	rd    *ipc.Reader
	rec   arrow.Record
	row   int
	piece int // index of rec's piece in the output batch being built, -1: none
}

// next loads the run's next batch; false at its end.
func (c *runCursor) next() (bool, error) {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	c.row, c.piece = 0, -1
	for c.rd.Next() {
		if r := c.rd.Record(); r.NumRows() > 0 {
			r.Retain()
			c.rec = r
			return true, nil
		}
	}
	return false, c.rd.Err()
}

func (c *runCursor) close() {
	if c.rec != nil {
		c.rec.Release()
		c.rec = nil
	}
	if c.rd != nil {
		c.rd.Release()
	}
	c.f.Close()
}

// cursorHeap orders runs by their current row.
type cursorHeap struct {
	order *rowOrder
	cs    []*runCursor
}

func (h *cursorHeap) Len() int { return len(h.cs) }
func (h *cursorHeap) Less(i, j int) bool {
	a, b := h.cs[i], h.cs[j]
	if r := h.order.compare(a.rec, a.row, b.rec, b.row); r != 0 {
		return r < 0
	}
	return a.n < b.n
}
func (h *cursorHeap) Swap(i, j int) { h.cs[i], h.cs[j] = h.cs[j], h.cs[i] }
func (h *cursorHeap) Push(x any)    { h.cs = append(h.cs, x.(*runCursor)) }
func (h *cursorHeap) Pop() any {
	c := h.cs[len(h.cs)-1]
	h.cs = h.cs[:len(h.cs)-1]
	return c
}

// piece is a contiguous slice of one run's batch taken by an output batch:
// a run's rows leave the merge in order, so each batch contributes one
// range.
type piece struct {
	rec        arrow.Record
	start, end int
}

// merge streams the spilled runs, k-way merged, into the writer. Each
// output batch is the concatenation of the pieces it took from each run,
// permuted into merge order with Arrow's take.
func (s *partitionSorter) merge(ctx context.Context) (err error) {
	h := &cursorHeap{order: s.order}
	var all []*runCursor
	defer func() {
		for _, c := range all {
			c.close()
		}
	}()
	for i, p := range s.runs {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("table: sort merge: %w", err)
		}
		c := &runCursor{n: i, f: f, piece: -1}
		all = append(all, c)
		if c.rd, err = ipc.NewReader(bufio.NewReaderSize(f, 256<<10), ipc.WithAllocator(s.mem)); err != nil {
			return fmt.Errorf("table: sort merge %s: %w", p, err)
		}
		ok, err := c.next()
		if err != nil {
			return fmt.Errorf("table: sort merge %s: %w", p, err)
		}
		if ok {
			h.cs = append(h.cs, c)
		}
	}
	heap.Init(h)

	var pieces []piece
	// Output row r is row at[r] of piece pieceOf[r].
	var pieceOf, at []int32
	releasePieces := func() {
		for _, p := range pieces {
			p.rec.Release()
		}
		pieces, at, pieceOf = pieces[:0], at[:0], pieceOf[:0]
	}
	defer releasePieces()
	flush := func() error {
		if len(at) == 0 {
			return nil
		}
		out, err := gatherPieces(ctx, s.mem, pieces, pieceOf, at)
		if err != nil {
			return err
		}
		err = s.w.Write(ctx, out)
		out.Release()
		releasePieces()
		for _, c := range h.cs {
			c.piece = -1
		}
		return err
	}
	for h.Len() > 0 {
		c := h.cs[0]
		if c.piece < 0 {
			c.rec.Retain()
			pieces = append(pieces, piece{rec: c.rec, start: c.row, end: c.row})
			c.piece = len(pieces) - 1
		}
		p := &pieces[c.piece]
		pieceOf = append(pieceOf, int32(c.piece))
		at = append(at, int32(c.row-p.start))
		p.end = c.row + 1
		c.row++
		if c.row == int(c.rec.NumRows()) {
			ok, err := c.next()
			if err != nil {
				return fmt.Errorf("table: sort merge: %w", err)
			}
			if !ok {
				heap.Pop(h)
			} else {
				heap.Fix(h, 0)
			}
		} else {
			heap.Fix(h, 0)
		}
		if len(at) >= sortOutRows {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// gatherPieces builds the record whose row r is row at[r] of piece
// pieceOf[r].
func gatherPieces(ctx context.Context, mem memory.Allocator, pieces []piece, pieceOf, at []int32) (arrow.Record, error) {
	recs := make([]arrow.Record, len(pieces))
	base := make([]int32, len(pieces))
	var n int32
	for i, p := range pieces {
		recs[i] = p.rec.NewSlice(int64(p.start), int64(p.end))
		base[i] = n
		n += int32(p.end - p.start)
	}
	cat, err := concatRecords(mem, recs)
	if err != nil {
		return nil, err
	}
	defer cat.Release()
	perm := make([]int32, len(at))
	for r := range at {
		perm[r] = base[pieceOf[r]] + at[r]
	}
	return takeRows(ctx, mem, cat, perm)
}

// concatRecords concatenates recs (one schema) column by column into one
// record, and releases them: each column's pieces are dropped as soon as it
// is copied, so the rows are held about once, not twice.
func concatRecords(mem memory.Allocator, recs []arrow.Record) (arrow.Record, error) {
	defer func() {
		for _, r := range recs {
			if r != nil {
				r.Release()
			}
		}
	}()
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	sch := recs[0].Schema()
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	// Each column holds its own reference, so a record can go once all its
	// columns are read.
	ncol := int(sch.NumFields())
	cols := make([][]arrow.Array, ncol)
	for c := range cols {
		cols[c] = make([]arrow.Array, len(recs))
		for i, r := range recs {
			cols[c][i] = r.Column(c)
			cols[c][i].Retain()
		}
	}
	for i, r := range recs {
		r.Release()
		recs[i] = nil
	}
	out := make([]arrow.Array, ncol)
	var err error
	for c := range cols {
		if err == nil {
			out[c], err = array.Concatenate(cols[c], mem)
		}
		for _, a := range cols[c] {
			a.Release()
		}
	}
	if err != nil {
		for _, a := range out {
			if a != nil {
				a.Release()
			}
		}
		return nil, fmt.Errorf("table: concatenating rows to sort: %w", err)
	}
	rec := array.NewRecordBatch(sch, out, rows)
	for _, a := range out {
		a.Release()
	}
	return rec, nil
}

// takeRows returns the rows of rec at perm, in that order.
func takeRows(ctx context.Context, mem memory.Allocator, rec arrow.Record, perm []int32) (arrow.Record, error) {
	b := array.NewInt32Builder(mem)
	b.AppendValues(perm, nil)
	idx := b.NewArray()
	b.Release()
	defer idx.Release()
	cctx := compute.WithAllocator(ctx, mem)
	cols := make([]arrow.Array, rec.NumCols())
	release := func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}
	for i, c := range rec.Columns() {
		var err error
		if cols[i], err = compute.TakeArray(cctx, c, idx); err != nil {
			release()
			return nil, fmt.Errorf("table: reordering rows: %w", err)
		}
	}
	out := array.NewRecordBatch(rec.Schema(), cols, int64(len(perm)))
	release()
	return out, nil
}
