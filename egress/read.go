package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// sourceState is the source table's schema and the predicate bound to it, as
// of source version `version`. It moves forward with the change feed, so each
// data file is read with the schema that was in force when it was added.
type sourceState struct {
	version int64 // -1: before version 0 (no schema yet)
	schema  *table.Schema
	parts   []string
	pred    *expr.Predicate
	plan    *plan // to the central schema; nil until needed
}

// setMetadata installs the schema of a metaData action and binds the
// predicate to it.
func (s *sourceState) setMetadata(md *table.Metadata, parsed expr.Expr) error {
	sch, err := table.ParseSchema(md.SchemaString)
	if err != nil {
		return err
	}
	pred, err := expr.Bind(parsed, sch.Arrow())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPredicate, err)
	}
	s.schema, s.parts, s.pred, s.plan = sch, md.PartitionColumns, pred, nil
	return nil
}

// plan maps the columns of source records onto the central table's schema:
// by name (exactly, else case-insensitively), central columns the source
// lacks read as null, and the region column is stamped.
type plan struct {
	central *arrow.Schema
	// src[i] is the source column of central field i, or colNull/colRegion.
	src    []int
	region string
	// regionArr caches the last region column built (records of one batch
	// mostly share a length).
	regionArr arrow.Array
}

const (
	colNull   = -1
	colRegion = -2
)

// newPlan checks that every source column has a central column of the same
// type and returns the mapping, or an ErrSchemaMismatch error naming every
// offending column.
func newPlan(src, central *arrow.Schema, region string) (*plan, error) {
	p := &plan{central: central, src: make([]int, central.NumFields()), region: region}
	var mismatched []string
	for i, f := range central.Fields() {
		if f.Name == RegionColumn {
			if !arrow.TypeEqual(f.Type, arrow.BinaryTypes.String) {
				return nil, fmt.Errorf("%w: central column %q is %s, not string", ErrSchemaMismatch, RegionColumn, f.Type)
			}
			p.src[i] = colRegion
			continue
		}
		j := fieldIndex(src, f.Name)
		switch {
		case j < 0:
			p.src[i] = colNull
		case !arrow.TypeEqual(src.Field(j).Type, f.Type):
			mismatched = append(mismatched, fmt.Sprintf("%s (source %s, central %s)", f.Name, src.Field(j).Type, f.Type))
		default:
			p.src[i] = j
		}
	}
	var unknown []string
	for _, f := range src.Fields() {
		if f.Name != RegionColumn && !strings.EqualFold(f.Name, RegionColumn) && fieldIndex(central, f.Name) < 0 {
			unknown = append(unknown, f.Name)
		}
	}
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, "source columns missing from the central table: "+strings.Join(unknown, ", "))
	}
	if len(mismatched) > 0 {
		msgs = append(msgs, "columns whose types differ: "+strings.Join(mismatched, ", "))
	}
	if len(msgs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrSchemaMismatch, strings.Join(msgs, "; "))
	}
	return p, nil
}

// fieldIndex finds a top-level field: an exact match, else the first
// case-insensitive one (Delta column names are case-insensitive).
func fieldIndex(s *arrow.Schema, name string) int {
	if idx := s.FieldIndices(name); len(idx) > 0 {
		return idx[0]
	}
	for i, f := range s.Fields() {
		if strings.EqualFold(f.Name, name) {
			return i
		}
	}
	return -1
}

// apply returns rec in the central schema. The caller releases the result.
func (p *plan) apply(rec arrow.Record) arrow.Record {
	n := int(rec.NumRows())
	cols := make([]arrow.Array, len(p.src))
	for i, j := range p.src {
		switch j {
		case colRegion:
			cols[i] = p.regionColumn(n)
		case colNull:
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, p.central.Field(i).Type, n)
		default:
			cols[i] = rec.Column(j)
			cols[i].Retain()
		}
	}
	out := array.NewRecord(p.central, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return out
}

// regionColumn returns a retained string array of n copies of the region.
func (p *plan) regionColumn(n int) arrow.Array {
	if p.regionArr == nil || p.regionArr.Len() != n {
		if p.regionArr != nil {
			p.regionArr.Release()
		}
		b := array.NewStringBuilder(memory.DefaultAllocator)
		b.ReserveData(n * len(p.region))
		b.Reserve(n)
		for range n {
			b.Append(p.region)
		}
		p.regionArr = b.NewArray()
		b.Release()
	}
	p.regionArr.Retain()
	return p.regionArr
}

// release frees the cached region column.
func (p *plan) release() {
	if p != nil && p.regionArr != nil {
		p.regionArr.Release()
		p.regionArr = nil
	}
}

// fileCounts is what reading one source data file produced.
type fileCounts struct {
	rows, kept int64
	pruned     bool
}

// readFile reads one added source file through the table's own data file
// reader (the code Scan uses: path validation, partition values, pruning,
// row filtering) and passes the matching rows, in the central schema, to
// write.
func readFile(ctx context.Context, b storage.Bucket, st *sourceState, add *table.Add, write func(arrow.Record) error) (fileCounts, error) {
	var c fileCounts
	if !table.MayMatch(add, st.pred) {
		c.pruned = true
		if s, _ := table.ParseStats(add.Stats); s != nil {
			c.rows = s.NumRecords
		}
		return c, nil
	}
	rr, err := table.OpenDataFile(ctx, b, add, &table.FileScan{
		Schema:           st.schema,
		PartitionColumns: st.parts,
		Predicate:        st.pred,
		RowsRead:         &c.rows,
	})
	if err != nil {
		return c, fmt.Errorf("source %w", err)
	}
	defer rr.Close()
	for {
		kept, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return c, fmt.Errorf("source %w", err)
		}
		c.kept += kept.NumRows()
		if kept.NumRows() > 0 {
			out := st.plan.apply(kept)
			err = write(out)
			out.Release()
		}
		kept.Release()
		if err != nil {
			return c, err
		}
	}
}
