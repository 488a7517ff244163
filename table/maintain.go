package table

import (
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/loglake/loglake/table/expr"
)

// This file holds what the maintenance operations (optimize.go, delete.go,
// vacuum.go) share: reading chosen files through the scan path, turning
// live files into removes, re-planning after a lost conflict, and metrics.

// maxReplans bounds how often OPTIMIZE and DELETE re-plan after losing to a
// concurrent rewrite of the same files. Each re-plan starts from the newer
// snapshot, so it only repeats while another rewrite keeps winning; after
// this many the caller gets ErrConflict, never a silent partial result.
const maxReplans = 10

// scanFiles reads exactly files through the same Scanner as Snapshot.Scan,
// so maintenance never has a second reader: in the table schema, partition
// columns materialized, the columns cols (nil: all) in that order.
func (s *Snapshot) scanFiles(files []*Add, cols []string) (*Scanner, error) {
	sch, err := s.Schema()
	if err != nil {
		return nil, err
	}
	if cols == nil {
		for _, f := range sch.Fields {
			cols = append(cols, f.Name)
		}
	}
	return &Scanner{snap: s, schema: sch, files: files, read: cols,
		opts: ScanOptions{Columns: cols, BatchRows: DefaultBatchRows}}, nil
}

// removeOf is the tombstone of a live file, carrying its partition values,
// size and stats (extendedFileMetadata) as Delta writers do, so VACUUM and
// the change feed know what was removed without the add.
func removeOf(a *Add, dataChange bool, now int64) Action {
	ext := true
	size := a.Size
	return Action{Remove: &Remove{
		Path:                 a.Path,
		DeletionTimestamp:    &now,
		DataChange:           dataChange,
		ExtendedFileMetadata: &ext,
		PartitionValues:      a.PartitionValues,
		Size:                 &size,
		Stats:                a.Stats,
		Tags:                 a.Tags,
	}}
}

// partitionPredicate parses where and checks it names only partition
// columns: OPTIMIZE selects whole files, and only partition values say
// exactly which files a predicate covers (Delta refuses the same).
func (s *Snapshot) partitionPredicate(where string) (*expr.Predicate, error) {
	if where == "" {
		return nil, nil
	}
	pred, err := s.Predicate(where)
	if err != nil {
		return nil, err
	}
	for _, c := range expr.Columns(pred.Expr()) {
		if !slices.Contains(s.metadata.PartitionColumns, c) {
			return nil, fmt.Errorf("table: predicate column %q is not a partition column (partition columns: %v)", c, s.metadata.PartitionColumns)
		}
	}
	return pred, nil
}

// fileSizeMetrics are Delta's minFileSize, p25FileSize, p50FileSize,
// p75FileSize and maxFileSize over sizes, as commitInfo strings.
func fileSizeMetrics(m map[string]any, sizes []int64) {
	if len(sizes) == 0 {
		return
	}
	s := slices.Clone(sizes)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) string { return strconv.FormatInt(s[int(q*float64(len(s)-1))], 10) }
	m["minFileSize"], m["p25FileSize"], m["p50FileSize"], m["p75FileSize"], m["maxFileSize"] =
		at(0), at(0.25), at(0.5), at(0.75), at(1)
}

// nowMillis is the table's clock for tombstones.
func (t *Table) nowMillis() int64 { return t.now().UnixMilli() }

// numRecords is a file's row count from its stats (-1 when unknown).
func numRecords(a *Add) int64 {
	if n, ok := a.NumRecords(); ok {
		return n
	}
	return -1
}
