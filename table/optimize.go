package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
)

// OptimizeOptions configure Optimize. The zero value is the default.
type OptimizeOptions struct {
	// Where restricts OPTIMIZE to partitions matching this predicate over
	// partition columns only (e.g. "date >= '2026-11-01'"). Empty: all.
	Where string
	// TargetSize is the size files are packed toward; files at least this
	// large are left alone (default 128 MiB).
	TargetSize int64
	// MinFiles is how many small files a partition must have before it is
	// compacted (default 2; a single file is never rewritten).
	MinFiles int
	// SortBy clusters the rewritten rows of each partition by these
	// columns (e.g. region, ts) so the new files cover narrow ranges and
	// their min/max stats keep pruning selective queries. Empty: rows keep
	// their file order.
	SortBy []string
	// SortMemory bounds the decoded bytes sorted at once with SortBy
	// (default DefaultSortMemory). A partition larger than that is sorted
	// in runs spilled to SpillDir and merged, so its files still cover
	// adjacent key ranges; the merge holds one small batch per run.
	SortMemory int64
	// SpillDir is the local directory for the sorted runs of SortBy
	// (default os.TempDir()). They are removed when Optimize returns; a
	// killed process leaves them behind there, never in the table.
	SpillDir string
	// Writer configures the Parquet encoding of the new files (nil: the
	// append writer's defaults but zstd level
	// DefaultOptimizeCompressionLevel).
	Writer *WriterOptions
	// DryRun plans without writing anything.
	DryRun bool
}

// OptimizeResult reports what Optimize did (or, with DryRun, would do).
type OptimizeResult struct {
	// Version is the OPTIMIZE commit's version, -1 when nothing was
	// committed (nothing to do, or DryRun).
	Version int64 `json:"version"`
	// Partitions is the number of partitions compacted.
	Partitions int `json:"numPartitionsOptimized"`
	// NumRemovedFiles/NumRemovedBytes are the small files replaced;
	// NumAddedFiles/NumAddedBytes the files written (0 for DryRun).
	NumRemovedFiles int   `json:"numRemovedFiles"`
	NumAddedFiles   int   `json:"numAddedFiles"`
	NumRemovedBytes int64 `json:"numRemovedBytes"`
	NumAddedBytes   int64 `json:"numAddedBytes"`
	// Rows is the number of rows rewritten.
	Rows int64 `json:"numRows"`
	// Attempts counts plans: more than 1 when a concurrent rewrite of the
	// same files won and Optimize re-planned on the newer snapshot.
	Attempts int `json:"attempts"`
	// DryRun is set when nothing was written on purpose.
	DryRun bool `json:"dryRun"`
	// Metrics are the commitInfo operationMetrics (Delta's names).
	Metrics map[string]any `json:"operationMetrics,omitempty"`
}

// DefaultSortMemory is OptimizeOptions.SortMemory's default: small enough
// that one run, its concatenation and the Go heap's headroom stay well
// inside the 512 MiB a 2 GiB OPTIMIZE may use (docs/maintenance.md).
const DefaultSortMemory = 64 << 20

// DefaultOptimizeCompressionLevel is the zstd level of the files OPTIMIZE
// writes when OptimizeOptions.Writer is nil. The codec is two thirds of
// OPTIMIZE's CPU at the codec's default (3); level 1 takes a quarter less
// CPU for files 2% larger (measured on log rows, docs/maintenance.md).
const DefaultOptimizeCompressionLevel = 1

// optimizeBin is one partition's files to compact together.
type optimizeBin struct {
	files []*Add
	bytes int64
}

// Optimize compacts the small files of each partition into files near
// TargetSize, in one commit of removes and adds all marked dataChange=false
// (operation OPTIMIZE), so readers of the change feed and concurrent blind
// appends are unaffected (see checkConflict). The rows are read with the
// scan reader (one record ahead, on its own goroutine) and written with the
// append writer, one partition at a time, so memory is bounded by one row
// group per column plus, with SortBy, one sort run of SortMemory (an
// external merge sort: see optimize_sort.go). When a concurrent OPTIMIZE or DELETE removed files it planned
// to compact, it re-plans on the newer snapshot, and reports nothing to do
// when nothing is left.
func (t *Table) Optimize(ctx context.Context, opts *OptimizeOptions) (*OptimizeResult, error) {
	if err := t.writable("optimize"); err != nil {
		return nil, err
	}
	o := OptimizeOptions{}
	if opts != nil {
		o = *opts
	}
	if o.TargetSize <= 0 {
		o.TargetSize = 128 << 20
	}
	if o.MinFiles < 2 {
		o.MinFiles = 2
	}
	if o.SortMemory <= 0 {
		o.SortMemory = DefaultSortMemory
	}
	if o.Writer == nil {
		o.Writer = &WriterOptions{CompressionLevel: DefaultOptimizeCompressionLevel}
	}
	res := &OptimizeResult{Version: -1, DryRun: o.DryRun}
	for {
		res.Attempts++
		snap, err := t.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		if err := checkWrite(snap.protocol, snap.metadata); err != nil {
			return nil, err
		}
		sortIdx, err := sortColumns(snap, o.SortBy)
		if err != nil {
			return nil, err
		}
		plan, err := planOptimize(snap, &o)
		if err != nil {
			return nil, err
		}
		res.Partitions, res.NumRemovedFiles, res.NumRemovedBytes, res.Rows = len(plan), 0, 0, 0
		var removed []*Add
		for _, bins := range plan {
			for _, b := range bins {
				removed = append(removed, b.files...)
				res.NumRemovedBytes += b.bytes
			}
		}
		res.NumRemovedFiles = len(removed)
		for _, f := range removed {
			res.Rows += max(numRecords(f), 0)
		}
		if len(removed) == 0 || o.DryRun {
			return res, nil
		}
		written := t.now()
		adds, err := t.compact(ctx, snap, plan, &o, sortIdx)
		if t.replanAfterVanished(ctx, err, removed, res.Attempts) {
			continue
		}
		if err != nil {
			return nil, err
		}
		now := t.nowMillis()
		actions := make([]Action, 0, len(removed)+len(adds))
		for _, f := range removed {
			actions = append(actions, removeOf(f, false, now))
		}
		sizes := make([]int64, len(adds))
		res.NumAddedBytes, res.Rows = 0, 0
		for i, a := range adds {
			a.Add.DataChange = false
			sizes[i] = a.Add.Size
			res.NumAddedBytes += a.Add.Size
			// The rows written, counted by the writer: the removed files'
			// stats may not say (a table written without them).
			res.Rows += max(numRecords(a.Add), 0)
		}
		res.NumAddedFiles = len(adds)
		actions = append(actions, adds...)
		res.Metrics = map[string]any{
			"numRemovedFiles":        strconv.Itoa(res.NumRemovedFiles),
			"numAddedFiles":          strconv.Itoa(res.NumAddedFiles),
			"numRemovedBytes":        strconv.FormatInt(res.NumRemovedBytes, 10),
			"numAddedBytes":          strconv.FormatInt(res.NumAddedBytes, 10),
			"numPartitionsOptimized": strconv.Itoa(res.Partitions),
			"numBatches":             "1",
			"totalConsideredFiles":   strconv.Itoa(len(snap.Files())),
		}
		fileSizeMetrics(res.Metrics, sizes)
		v, retry, err := t.commitRewrite(ctx, snap, &Commit{
			Actions:   actions,
			Operation: "OPTIMIZE",
			Parameters: map[string]any{
				"predicate": jsonList(o.Where),
				"zOrderBy":  "[]",
				"sortBy":    jsonList(o.SortBy...),
				"auto":      false,
			},
			Metrics:      res.Metrics,
			WrittenSince: written,
		}, adds, res.Attempts)
		if retry {
			continue
		}
		if err != nil {
			return nil, err
		}
		res.Version = v
		return res, nil
	}
}

// replanAfterVanished reports whether a rewrite whose read of a planned
// file failed with err should plan again: the file is gone because a
// concurrent rewrite removed it and VACUUM deleted it since this plan's
// snapshot (a rewrite that outlives the retention), which is the same
// conflict commitRewrite resolves by re-planning. A file still live that
// cannot be found is damage, reported as it is.
func (t *Table) replanAfterVanished(ctx context.Context, err error, planned []*Add, attempt int) bool {
	if !errors.Is(err, storage.ErrNotFound) || attempt >= maxReplans {
		return false
	}
	fresh, serr := t.Snapshot(ctx)
	if serr != nil {
		return false
	}
	for _, f := range planned {
		if _, live := fresh.files.Get(f.Path); !live {
			t.log.Info("a file to rewrite was removed and vacuumed concurrently; re-planning", "path", f.Path, "attempt", attempt)
			return true
		}
	}
	return false
}

// commitRewrite commits a rewrite (OPTIMIZE, DELETE) planned on snap. When
// a concurrent rewrite removed files it read, its own new files are never
// committed: it discards them and, while attempts remain, says retry so the
// caller re-plans from the winner's snapshot.
func (t *Table) commitRewrite(ctx context.Context, snap *Snapshot, c *Commit, adds []Action, attempt int) (v int64, retry bool, err error) {
	err = checkNoGapAfter(ctx, t.bucket, snap.Version())
	if errors.Is(err, ErrCorrupt) {
		_ = DiscardFiles(ctx, t.bucket, adds)
		return 0, false, err
	}
	if err == nil {
		v, err = t.Commit(ctx, snap, c)
	}
	if err == nil {
		return v, false, nil
	}
	if !errors.Is(err, ErrConflict) {
		// Other errors may hide a commit that landed: the files stay, and
		// VACUUM removes them if it did not.
		return 0, false, err
	}
	if derr := DiscardFiles(ctx, t.bucket, adds); derr != nil {
		t.log.Warn("discarding the files of a lost rewrite", "op", c.Operation, "err", derr)
	}
	if attempt < maxReplans {
		t.log.Info("lost to a concurrent rewrite; re-planning", "op", c.Operation, "err", err, "attempt", attempt)
		return 0, true, nil
	}
	return 0, false, err
}

// checkNoGapAfter refuses a log with a commit beyond a missing one after
// version v. A reader stops at the gap, but committing v+1 would close it and
// bring the stray later commits (whatever they add or remove) into the
// table. A rewrite is rare enough to afford the listing this takes.
func checkNoGapAfter(ctx context.Context, b storage.Bucket, v int64) error {
	files, err := listLog(ctx, b, v+1, -1)
	if err != nil {
		return err
	}
	for _, f := range files { // in version order
		if f.isCheckpoint() {
			continue
		}
		if f.version > v+1 {
			// A checkpoint past v was written over a contiguous log: the
			// gap is log cleanup's, which went past this stale snapshot.
			for _, g := range files {
				if g.isCheckpoint() {
					return fmt.Errorf("%w: the log was cleaned past version %d while this rewrite ran", ErrConflict, v)
				}
			}
			return fmt.Errorf("%w: the log has commit %d but no commit %d", ErrCorrupt, f.version, v+1)
		}
		return nil // v+1 exists: a concurrent commit, which Commit handles
	}
	return nil
}

// planOptimize picks, per partition, the files smaller than the target and
// packs them into bins of at most TargetSize bytes. With SortBy the files
// are ordered by their minimum sort key first, so each bin covers a narrow
// key range; otherwise by path (stable across re-plans).
func planOptimize(snap *Snapshot, o *OptimizeOptions) ([][]optimizeBin, error) {
	pred, err := snap.partitionPredicate(o.Where)
	if err != nil {
		return nil, err
	}
	byPart := map[string][]*Add{}
	var order []string
	for _, f := range snap.PruneFiles(pred) {
		if f.Size >= o.TargetSize {
			continue
		}
		dir := PartitionPath(snap.metadata.PartitionColumns, f.PartitionValues)
		if _, ok := byPart[dir]; !ok {
			order = append(order, dir)
		}
		byPart[dir] = append(byPart[dir], f)
	}
	slices.Sort(order)
	var plan [][]optimizeBin
	for _, dir := range order {
		files := byPart[dir]
		if len(files) < o.MinFiles {
			continue
		}
		if len(o.SortBy) > 0 {
			slices.SortStableFunc(files, func(a, b *Add) int { return compareMinKeys(a, b, o.SortBy) })
		}
		var bins []optimizeBin
		var cur optimizeBin
		for _, f := range files {
			if len(cur.files) > 0 && cur.bytes+f.Size > o.TargetSize {
				bins = append(bins, cur)
				cur = optimizeBin{}
			}
			cur.files = append(cur.files, f)
			cur.bytes += f.Size
		}
		bins = append(bins, cur)
		// A bin of one file would be rewritten into itself.
		bins = slices.DeleteFunc(bins, func(b optimizeBin) bool { return len(b.files) < 2 })
		if len(bins) > 0 {
			plan = append(plan, bins)
		}
	}
	return plan, nil
}

// compareMinKeys orders files by the minimum values of cols in their stats;
// files without stats sort last.
func compareMinKeys(a, b *Add, cols []string) int {
	sa, _ := ParseStats(a.Stats)
	sb, _ := ParseStats(b.Stats)
	for _, c := range cols {
		va, oka := sa.Min(c)
		vb, okb := sb.Min(c)
		switch {
		case !oka && !okb:
			continue
		case !oka:
			return 1
		case !okb:
			return -1
		}
		if r := compareStatValues(va, vb); r != 0 {
			return r
		}
	}
	return 0
}

// compareStatValues compares two JSON-decoded stats values of one column:
// numbers numerically, strings (incl. ISO-8601 timestamps and dates, which
// sort lexically in the format the stats use) lexically.
func compareStatValues(a, b any) int {
	switch x := a.(type) {
	case float64:
		if y, ok := b.(float64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case string:
		if y, ok := b.(string); ok {
			return cmpString(x, y)
		}
	}
	return 0
}

// sortColumns resolves SortBy to column indexes of the table schema.
func sortColumns(snap *Snapshot, cols []string) ([]int, error) {
	if len(cols) == 0 {
		return nil, nil
	}
	sch, err := snap.Schema()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(cols))
	for i, c := range cols {
		out[i] = slices.IndexFunc(sch.Fields, func(f *Field) bool { return f.Name == c })
		if out[i] < 0 {
			return nil, fmt.Errorf("table: sort column %q is not in the schema", c)
		}
		if _, ok := sch.Fields[out[i]].Type.(PrimitiveType); !ok {
			return nil, fmt.Errorf("table: cannot sort by %q of type %s", c, sch.Fields[out[i]].Type)
		}
	}
	return out, nil
}

// compact rewrites the planned bins, one partition (one Writer) at a time,
// and returns the new files' adds.
func (t *Table) compact(ctx context.Context, snap *Snapshot, plan [][]optimizeBin, o *OptimizeOptions, sortIdx []int) (adds []Action, err error) {
	defer func() {
		if err != nil && len(adds) > 0 {
			_ = DiscardFiles(ctx, t.bucket, adds)
			adds = nil
		}
	}()
	for _, bins := range plan {
		w, err := t.NewWriter(snap, &WriteOptions{TargetFileSize: o.TargetSize, Writer: o.Writer, Rewrite: true})
		if err != nil {
			return adds, err
		}
		err = t.compactPartition(ctx, snap, w, bins, o, sortIdx)
		out, cerr := w.Close()
		adds = append(adds, out...)
		if err = errors.Join(err, cerr); err != nil {
			return adds, err
		}
	}
	return adds, nil
}

func (t *Table) compactPartition(ctx context.Context, snap *Snapshot, w *Writer, bins []optimizeBin, o *OptimizeOptions, sortIdx []int) error {
	var sorter *partitionSorter
	if sortIdx != nil {
		order, err := newRowOrder(w.Schema(), sortIdx)
		if err != nil {
			return err
		}
		sorter = &partitionSorter{w: w, order: order, mem: memory.DefaultAllocator, runMemory: o.SortMemory, spillDir: o.SpillDir}
		for _, b := range bins {
			for _, f := range b.files {
				sorter.totalRows += max(numRecords(f), 0)
			}
		}
		defer sorter.release()
	}
	recs, stop := prefetch(ctx, snap, bins)
	defer stop()
	for it := range recs {
		if it.err != nil {
			return it.err
		}
		var err error
		if sorter != nil {
			err = sorter.add(ctx, it.rec)
		} else {
			err = w.Write(ctx, it.rec)
			it.rec.Release()
		}
		if err != nil {
			return err
		}
	}
	// The reader stops without a word when ctx ends: never take that for
	// the end of the rows.
	if err := ctx.Err(); err != nil {
		return err
	}
	if sorter != nil {
		return sorter.finish(ctx)
	}
	return nil
}

// scanned is one record (or the error) of prefetch.
type scanned struct {
	rec arrow.Record
	err error
}

// prefetch reads the rows of bins on its own goroutine, one record ahead
// of the caller, so that decoding the next record overlaps encoding the
// last one (each is about half of a compaction's CPU). The caller owns the
// records it receives; an error is the last item. stop ends the reader and
// releases what it had read ahead; it must be called.
func prefetch(ctx context.Context, snap *Snapshot, bins []optimizeBin) (recs <-chan scanned, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan scanned, 1)
	done := make(chan struct{})
	send := func(it scanned) bool {
		select {
		case ch <- it:
			return true
		case <-ctx.Done():
			if it.rec != nil {
				it.rec.Release()
			}
			return false
		}
	}
	go func() {
		defer close(done)
		defer close(ch)
		for _, b := range bins {
			sc, err := snap.scanFiles(b.files, nil)
			if err != nil {
				send(scanned{err: err})
				return
			}
			for {
				rec, err := sc.Next(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					sc.Close()
					send(scanned{err: err})
					return
				}
				if !send(scanned{rec: rec}) {
					sc.Close()
					return
				}
			}
			sc.Close()
		}
	}()
	return ch, func() {
		cancel()
		for it := range ch {
			if it.rec != nil {
				it.rec.Release()
			}
		}
		<-done
	}
}

// jsonList renders values as the JSON array string Delta stores in
// operationParameters (an empty string adds nothing).
func jsonList(values ...string) string {
	vs := []string{}
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	b, _ := json.Marshal(vs)
	return string(b)
}

// recordBytes is the memory held by rec's buffers, for SortMemory.
func recordBytes(rec arrow.Record) int64 {
	var n int64
	var walk func(d arrow.ArrayData)
	walk = func(d arrow.ArrayData) {
		for _, b := range d.Buffers() {
			if b != nil {
				n += int64(b.Len())
			}
		}
		for _, c := range d.Children() {
			walk(c)
		}
	}
	for _, c := range rec.Columns() {
		walk(c.Data())
	}
	return n
}
