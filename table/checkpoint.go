package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/loglake/loglake/storage"
)

// Classic (V1 spec) Parquet checkpoints: one row per action, one nullable
// top-level struct column per action type. See "Checkpoints" and
// "Checkpoint Schema" in the Delta PROTOCOL.md.

// checkpointKey is the key of the single-file classic checkpoint of version v.
func checkpointKey(v int64) string { return fmt.Sprintf("%s%020d.checkpoint.parquet", logDir, v) }

// checkpointBatchRows bounds the rows decoded per Arrow record batch, so the
// decoded working set stays small next to the checkpoint bytes themselves.
const checkpointBatchRows = 1 << 14

// checkpointRowGroupRows is the row group length of the checkpoints we
// write: row groups decode in parallel. Each group costs its own column
// readers, so groups are not smaller (a 10,000-add checkpoint opened in
// 28.0 ms with 1,024-row groups, 24.0 with 2,048, 23.0 with 4,096, 29.0 as
// one group).
const checkpointRowGroupRows = 1 << 12

// readCheckpoint reads the parts of a classic single- or multi-part
// checkpoint and returns its protocol, metaData, txn, add and (with
// removes) remove actions in file order. Other actions (commitInfo, cdc,
// domainMetadata) are skipped.
// A checkpoint that carries V2-spec actions (checkpointMetadata, sidecar) is
// refused with a *FeatureError; undecodable bytes give an error wrapping
// ErrCorrupt.
func readCheckpoint(ctx context.Context, b storage.Bucket, parts []logFile, removes bool) ([]Action, error) {
	var out []Action
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := b.Get(ctx, p.key)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint %s: %w", p.key, err)
		}
		actions, err := decodeCheckpoint(ctx, data, removes)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", p.key, err)
		}
		for i := range actions {
			if err := actions[i].checkPaths(); err != nil {
				return nil, fmt.Errorf("checkpoint %s: %w", p.key, err)
			}
		}
		if out == nil {
			out = actions
		} else {
			out = append(out, actions...)
		}
	}
	return out, nil
}

// decodeCheckpoint decodes one checkpoint file, its remove actions only
// with removes. It first tries with the add.stats_parsed column (needed only
// when add.stats is missing); if that column defeats the Arrow reader (an
// exotic stats type), it retries without it rather than failing the whole
// checkpoint.
func decodeCheckpoint(ctx context.Context, data []byte, removes bool) ([]Action, error) {
	actions, usedParsed, err := decodeCheckpointFile(ctx, data, checkpointColumns{parsed: true, removes: removes})
	var fe *FeatureError
	if err != nil && usedParsed && !errors.As(err, &fe) && ctx.Err() == nil {
		if actions2, _, err2 := decodeCheckpointFile(ctx, data, checkpointColumns{removes: removes}); err2 == nil {
			return actions2, nil
		}
	}
	return actions, err
}

// decodeCheckpointFile reads the action columns of one checkpoint file.
// usedParsed reports whether add.stats_parsed was among the columns read.
// The Arrow and Parquet readers are trusted with untrusted bytes only behind
// a recover: a panic on malformed input becomes ErrCorrupt.
func decodeCheckpointFile(ctx context.Context, data []byte, cols checkpointColumns) (actions []Action, usedParsed bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			actions = nil
			err = fmt.Errorf("%w: checkpoint reader failed: %v", ErrCorrupt, r)
		}
	}()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return nil, false, fmt.Errorf("%w: not a Parquet file: %v", ErrCorrupt, err)
	}
	defer pf.Close()

	leaves, usedParsed := checkpointLeaves(pf, cols)
	if len(leaves) == 0 {
		return nil, false, fmt.Errorf("%w: checkpoint has no action columns", ErrCorrupt)
	}
	if pf.NumRows() == 0 {
		return nil, usedParsed, nil
	}
	// Drop the footer's key-value metadata before pqarrow sees it: it would
	// decode an embedded Arrow IPC schema ("ARROW:schema", written by
	// delta-rs) that we do not need, and a corrupt one can send the IPC
	// decoder into an effectively endless loop (found by FuzzReadCheckpoint).
	pf.MetaData().FileMetaData.KeyValueMetadata = nil
	if err := probeColumnChunks(pf, leaves); err != nil {
		return nil, usedParsed, err
	}
	// The footer's row count is untrusted: size the hint by the bytes too.
	hint := min(pf.NumRows(), int64(len(data)/16))
	groups := allRowGroups(pf)
	if !cols.removes {
		groups = nonRemoveRowGroups(pf, leaves)
	}
	actions, err = decodeRowGroups(ctx, pf, leaves, groups, hint)
	if err != nil {
		return nil, usedParsed, err
	}
	return actions, usedParsed, nil
}

// decodeRowGroups decodes the row groups of pf on up to GOMAXPROCS
// goroutines (every open of a table waits for its checkpoint, and ours
// has a row group per checkpointRowGroupRows actions) and returns the
// actions in file order.
func decodeRowGroups(ctx context.Context, pf *file.Reader, leaves, groups []int, hint int64) ([]Action, error) {
	n := len(groups)
	parts := make([][]Action, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), n)) {
		wg.Go(func() {
			var fr *pqarrow.FileReader
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if parts[i], fr, errs[i] = decodeRowGroup(ctx, pf, fr, leaves, groups[i], hint/int64(pf.NumRowGroups())); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return slices.Concat(parts...), nil
}

// decodeRowGroup decodes row group g of pf through fr, a reader of pf made
// here when nil and returned for the goroutine's next group. The Arrow and
// Parquet readers are trusted with untrusted bytes only behind a recover
// (here, on the goroutine that runs them).
func decodeRowGroup(ctx context.Context, pf *file.Reader, fr *pqarrow.FileReader, leaves []int, g int, hint int64) (actions []Action, _ *pqarrow.FileReader, err error) {
	defer func() {
		if r := recover(); r != nil {
			actions = nil
			err = fmt.Errorf("%w: checkpoint reader failed: %v", ErrCorrupt, r)
		}
	}()
	if fr == nil {
		// Not Parallel: a panic in the reader's own goroutines could not
		// be recovered here.
		if fr, err = pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: checkpointBatchRows}, memory.DefaultAllocator); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	rr, err := fr.GetRecordReader(ctx, leaves, []int{g})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer rr.Release()
	actions = make([]Action, 0, hint)
	for rr.Next() {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if actions, err = decodeCheckpointBatch(rr.RecordBatch(), actions); err != nil {
			return nil, nil, err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return actions, fr, nil
}

func allRowGroups(pf *file.Reader) []int {
	groups := make([]int, pf.NumRowGroups())
	for g := range groups {
		groups[g] = g
	}
	return groups
}

// nonRemoveRowGroups returns the row groups of pf that may hold an action
// other than remove, for a read without the removes. The statistics of a
// row group of removes only (our checkpoints store them last, so after an
// OPTIMIZE most row groups are such) show remove.path set in every row and
// every other selected non-repeated leaf null in every row; it is skipped.
// A row group without statistics is read.
func nonRemoveRowGroups(pf *file.Reader, leaves []int) []int {
	md := pf.MetaData()
	removePath := md.Schema.ColumnIndexByName("remove.path")
	var groups []int
	for g := range md.NumRowGroups() {
		rg := md.RowGroup(g)
		if removePath < 0 || nullCount(rg, removePath) != 0 || !allNull(rg, md.Schema, leaves) {
			groups = append(groups, g)
		}
	}
	return groups
}

// allNull reports whether the statistics of rg show each of the
// non-repeated leaves null in every row (a repeated leaf's null count is not
// per row).
func allNull(rg *metadata.RowGroupMetaData, sc *schema.Schema, leaves []int) bool {
	for _, i := range leaves {
		if sc.Column(i).MaxRepetitionLevel() == 0 && nullCount(rg, i) != rg.NumRows() {
			return false
		}
	}
	return true
}

// nullCount is the null count of column i in rg's statistics, -1 when
// they have none.
func nullCount(rg *metadata.RowGroupMetaData, i int) int64 {
	cc, err := rg.ColumnChunk(i)
	if err != nil {
		return -1
	}
	st, err := cc.Statistics()
	if err != nil || st == nil || !st.HasNullCount() {
		return -1
	}
	return st.NullCount()
}

// probeColumnChunks opens the page readers of the first row group's
// selected columns in this goroutine. pqarrow builds its column readers in
// goroutines of its own, where a panic on a corrupt column chunk (a negative
// length, say) cannot be recovered and would take the process down; here the
// same panic is caught by decodeCheckpointFile. Later row groups are opened
// by the record reader in the caller's goroutine.
func probeColumnChunks(pf *file.Reader, leaves []int) error {
	if pf.NumRowGroups() == 0 {
		return nil
	}
	rg := pf.RowGroup(0)
	for _, i := range leaves {
		if _, err := rg.GetColumnPageReader(i); err != nil {
			return fmt.Errorf("%w: column %d: %v", ErrCorrupt, i, err)
		}
	}
	return nil
}

// checkpointFields lists, per top-level action column, the child fields the
// reader needs (nil: all of them). Reading only these keeps the cost of a
// checkpoint independent of its partitionValues_parsed and of columns that
// other engines add.
var checkpointFields = map[string]map[string]bool{
	"protocol": nil,
	"metaData": nil,
	"txn":      nil,
	"add": {
		"path": true, "partitionValues": true, "size": true, "modificationTime": true,
		"dataChange": true, "stats": true, "tags": true, "deletionVector": true,
		"baseRowId": true, "defaultRowCommitVersion": true, "clusteringProvider": true,
		"stats_parsed": true,
	},
	"remove": {
		"path": true, "deletionTimestamp": true, "dataChange": true,
		"extendedFileMetadata": true, "partitionValues": true, "size": true,
		"deletionVector": true,
	},
	// V2-spec actions: read only to refuse them.
	"checkpointMetadata": nil,
	"sidecar":            nil,
}

// checkpointColumns chooses the optional columns a checkpoint is read with.
type checkpointColumns struct {
	parsed  bool // add.stats_parsed
	removes bool // remove.*: a read-only snapshot does without
}

// checkpointLeaves returns the Parquet leaf column indices to read.
func checkpointLeaves(pf *file.Reader, cols checkpointColumns) (leaves []int, usedParsed bool) {
	sc := pf.MetaData().Schema
	for i := 0; i < sc.NumColumns(); i++ {
		path := sc.Column(i).ColumnPath()
		if len(path) < 2 {
			continue
		}
		children, ok := checkpointFields[path[0]]
		if !ok {
			continue
		}
		if children != nil && !children[path[1]] {
			continue
		}
		if path[0] == "remove" && !cols.removes {
			continue
		}
		if path[0] == "add" && path[1] == "stats_parsed" {
			if !cols.parsed {
				continue
			}
			usedParsed = true
		}
		leaves = append(leaves, i)
	}
	return leaves, usedParsed
}
