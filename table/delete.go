package table

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/table/expr"
)

// DeleteOptions configure Delete.
type DeleteOptions struct {
	// Where is the predicate of the rows to delete (required), in the expr
	// language used by scans. Rows for which it is NULL are kept, as in SQL.
	Where string
	// DryRun counts what would be deleted without writing.
	DryRun bool
}

// DeleteResult reports what Delete did (or, with DryRun, would do).
type DeleteResult struct {
	// Version is the DELETE commit's version; -1 when nothing matched or
	// DryRun.
	Version         int64 `json:"version"`
	NumDeletedRows  int64 `json:"numDeletedRows"`
	NumRemovedFiles int   `json:"numRemovedFiles"`
	NumAddedFiles   int   `json:"numAddedFiles"`
	// NumCopiedRows are the rows of partly matching files rewritten into
	// new files (copy-on-write).
	NumCopiedRows   int64 `json:"numCopiedRows"`
	NumRemovedBytes int64 `json:"numRemovedBytes"`
	NumAddedBytes   int64 `json:"numAddedBytes"`
	// Attempts counts plans: more than 1 when a concurrent rewrite removed
	// a file this one read and Delete re-planned on the newer snapshot.
	Attempts int            `json:"attempts"`
	DryRun   bool           `json:"dryRun"`
	Metrics  map[string]any `json:"operationMetrics,omitempty"`
}

// Delete removes the rows matching opts.Where. Files whose rows all match
// are removed whole, without being rewritten; files where only some rows
// match are rewritten without them (copy-on-write) through the append
// writer; files with no matching rows are untouched. Which rows match is
// decided by reading only the predicate's columns (for a predicate over
// partition columns that is the file footer alone).
//
// Rows appended while Delete runs survive it (WriteSerializable, see
// checkConflict). A concurrent OPTIMIZE or DELETE that removed a file this
// one read makes it re-plan on the newer snapshot. Append-only tables
// (delta.appendOnly=true) are refused before anything is read.
func (t *Table) Delete(ctx context.Context, opts *DeleteOptions) (*DeleteResult, error) {
	if err := t.writable("delete"); err != nil {
		return nil, err
	}
	if opts == nil || opts.Where == "" {
		return nil, errors.New("table: DELETE needs a predicate (to delete everything, say so: e.g. WHERE date IS NULL OR date IS NOT NULL)")
	}
	start := time.Now()
	res := &DeleteResult{Version: -1, DryRun: opts.DryRun}
	for {
		res.Attempts++
		snap, err := t.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		if err := checkWrite(snap.protocol, snap.metadata); err != nil {
			return nil, err
		}
		if propTrue(snap.metadata, "delta.appendOnly") {
			// The commit path refuses it too; saying so before reading
			// anything spares the work and names the operation.
			return nil, fmt.Errorf("DELETE refused: %w", ErrAppendOnly)
		}
		pred, err := snap.Predicate(opts.Where)
		if err != nil {
			return nil, err
		}
		plan, err := planDelete(ctx, snap, pred)
		if t.replanAfterVanished(ctx, err, snap.Files(), res.Attempts) {
			continue // a file it counted rows in was removed and vacuumed meanwhile
		}
		if err != nil {
			return nil, err
		}
		res.NumDeletedRows, res.NumRemovedFiles, res.NumRemovedBytes, res.NumCopiedRows = 0, 0, 0, 0
		for _, f := range plan.whole {
			res.NumDeletedRows += f.rows
		}
		for _, f := range plan.partial {
			res.NumDeletedRows += f.matched
			res.NumCopiedRows += f.rows - f.matched
		}
		res.NumRemovedFiles = len(plan.whole) + len(plan.partial)
		for _, f := range append(append([]deleteFile{}, plan.whole...), plan.partial...) {
			res.NumRemovedBytes += f.add.Size
		}
		if res.NumRemovedFiles == 0 || opts.DryRun {
			return res, nil
		}
		if len(plan.partial) > 0 {
			// Refused before any file is rewritten, not by the commit
			// after (which would leave the rewritten files behind).
			if err := checkRewrite(snap.metadata); err != nil {
				return nil, err
			}
		}
		written := t.now()
		adds, err := t.rewriteWithout(ctx, snap, plan.partial, pred)
		if t.replanAfterVanished(ctx, err, addsOf(plan.partial), res.Attempts) {
			continue
		}
		if err != nil {
			return nil, err
		}
		now := t.nowMillis()
		var actions []Action
		for _, f := range plan.whole {
			actions = append(actions, removeOf(f.add, true, now))
		}
		for _, f := range plan.partial {
			actions = append(actions, removeOf(f.add, true, now))
		}
		res.NumAddedBytes = 0
		for _, a := range adds {
			res.NumAddedBytes += a.Add.Size
		}
		res.NumAddedFiles = len(adds)
		actions = append(actions, adds...)
		res.Metrics = map[string]any{
			"numDeletedRows":      strconv.FormatInt(res.NumDeletedRows, 10),
			"numRemovedFiles":     strconv.Itoa(res.NumRemovedFiles),
			"numAddedFiles":       strconv.Itoa(res.NumAddedFiles),
			"numCopiedRows":       strconv.FormatInt(res.NumCopiedRows, 10),
			"numRemovedBytes":     strconv.FormatInt(res.NumRemovedBytes, 10),
			"numAddedBytes":       strconv.FormatInt(res.NumAddedBytes, 10),
			"numAddedChangeFiles": "0",
			"executionTimeMs":     strconv.FormatInt(time.Since(start).Milliseconds(), 10),
		}
		v, retry, err := t.commitRewrite(ctx, snap, &Commit{
			Actions:      actions,
			Operation:    "DELETE",
			Parameters:   map[string]any{"predicate": jsonList(pred.String())},
			Metrics:      res.Metrics,
			ReadFiles:    plan.read,
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

type deleteFile struct {
	add           *Add
	rows, matched int64
}

func addsOf(files []deleteFile) []*Add {
	out := make([]*Add, len(files))
	for i, f := range files {
		out[i] = f.add
	}
	return out
}

type deletePlan struct {
	whole, partial []deleteFile
	read           []string // every file whose rows were checked
}

// planDelete counts, for each file the predicate may match (by partition
// values and stats), how many of its rows match, reading only the
// predicate's columns.
func planDelete(ctx context.Context, snap *Snapshot, pred *expr.Predicate) (*deletePlan, error) {
	plan := &deletePlan{}
	cols := expr.Columns(pred.Expr())
	for _, f := range snap.PruneFiles(pred) {
		plan.read = append(plan.read, f.Path)
		sc, err := snap.scanFiles([]*Add{f}, cols)
		if err != nil {
			return nil, err
		}
		df := deleteFile{add: f}
		for {
			rec, err := sc.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				sc.Close()
				return nil, err
			}
			n, err := pred.Count(rec)
			df.rows += rec.NumRows()
			df.matched += int64(n)
			rec.Release()
			if err != nil {
				sc.Close()
				return nil, err
			}
		}
		sc.Close()
		switch {
		case df.matched == 0:
		case df.matched == df.rows:
			plan.whole = append(plan.whole, df)
		default:
			plan.partial = append(plan.partial, df)
		}
	}
	return plan, nil
}

// rewriteWithout copies the rows of files that do not match pred into new
// files (dataChange=true: the table's data changes).
func (t *Table) rewriteWithout(ctx context.Context, snap *Snapshot, files []deleteFile, pred *expr.Predicate) ([]Action, error) {
	if len(files) == 0 {
		return nil, nil
	}
	w, err := t.NewWriter(snap, &WriteOptions{Rewrite: true})
	if err != nil {
		return nil, err
	}
	if err := copyUnmatched(ctx, snap, w, files, pred); err != nil {
		// Files already uploaded were never committed: VACUUM removes them.
		_, _ = w.Close()
		return nil, err
	}
	return w.Close()
}

func copyUnmatched(ctx context.Context, snap *Snapshot, w *Writer, files []deleteFile, pred *expr.Predicate) error {
	in := make([]*Add, len(files))
	for i, f := range files {
		in[i] = f.add
	}
	sc, err := snap.scanFiles(in, nil)
	if err != nil {
		return err
	}
	defer sc.Close()
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		kept, err := keepUnmatched(ctx, rec, pred)
		rec.Release()
		if err != nil {
			return err
		}
		if kept.NumRows() > 0 {
			err = w.Write(ctx, kept)
		}
		kept.Release()
		if err != nil {
			return err
		}
	}
}

// keepUnmatched returns the rows of rec for which pred is not TRUE (FALSE or
// NULL: SQL DELETE keeps rows whose condition is unknown).
func keepUnmatched(ctx context.Context, rec arrow.Record, pred *expr.Predicate) (arrow.Record, error) {
	mask, err := pred.Mask(rec)
	if err != nil {
		return nil, err
	}
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(len(mask))
	for _, m := range mask {
		b.UnsafeAppend(!m)
	}
	keep := b.NewBooleanArray()
	defer keep.Release()
	return compute.FilterRecordBatch(ctx, rec, keep, compute.DefaultFilterOptions())
}
