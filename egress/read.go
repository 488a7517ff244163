package egress

import (
	"bytes"
	"context"
	"encoding/json"
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
// predicate to it: a column the source gained after this version is NULL in
// its rows, as a scan of the newest version reads them (that the column
// exists at all was checked against the newest schema, see checkPredicate).
func (s *sourceState) setMetadata(md *table.Metadata, parsed expr.Expr) error {
	sch, err := table.ParseSchema(md.SchemaString)
	if err != nil {
		return err
	}
	pred, err := expr.BindMissingNull(parsed, sch.Arrow())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPredicate, err)
	}
	s.schema, s.parts, s.pred, s.plan = sch, md.PartitionColumns, pred, nil
	return nil
}

// plan maps the columns of source records onto the central table's schema:
// by name (exactly, else case-insensitively), central columns the source
// lacks read as null, the region column is stamped, and — unless the schema
// mode is fail — values the central table cannot hold go to its
// _rescued_data column as JSON (docs/egress.md, "Schema changes").
type plan struct {
	central, srcSchema *arrow.Schema
	// key is the central schemaString the plan was built for: the central
	// schema evolves while egress runs, and a plan is rebuilt when it does.
	key string
	// src[i] is the source column of central field i, or colNull/colRegion/
	// colRescued.
	src []int
	// convert[i] is set when central field i has another type than its
	// source column: values are converted one by one, or rescued.
	convert []bool
	// rescueWhole lists the source columns the central table lacks: their
	// values are rescued.
	rescueWhole []int
	// srcRescued is the source's own _rescued_data column (string), merged
	// into the central one; -1 if none.
	srcRescued int
	region     string
	// regionArr caches the last region column built (records of one batch
	// mostly share a length).
	regionArr arrow.Array
}

const (
	colNull    = -1
	colRegion  = -2
	colRescued = -3 // the central _rescued_data column, built per row
)

// newPlan maps src onto central. In SchemaFail mode every source column
// must have a central column of the same type; otherwise the error is
// ErrSchemaMismatch naming every offending column. In the other modes
// missing columns are rescued and differing types converted (or rescued),
// which needs a string _rescued_data column in the central table.
func newPlan(src, central *arrow.Schema, key, region string, mode SchemaMode) (*plan, error) {
	p := &plan{central: central, srcSchema: src, key: key, src: make([]int, central.NumFields()),
		convert: make([]bool, central.NumFields()), region: region, srcRescued: -1}
	var mismatched []string
	rescuedAt := -1
	for i, f := range central.Fields() {
		if f.Name == RegionColumn {
			if !arrow.TypeEqual(f.Type, arrow.BinaryTypes.String) {
				return nil, fmt.Errorf("%w: central column %q is %s, not string", ErrSchemaMismatch, RegionColumn, f.Type)
			}
			p.src[i] = colRegion
			continue
		}
		j := fieldIndex(src, f.Name)
		if mode != SchemaFail && f.Name == RescuedColumn && arrow.TypeEqual(f.Type, arrow.BinaryTypes.String) {
			rescuedAt = i
			if j >= 0 && arrow.TypeEqual(src.Field(j).Type, arrow.BinaryTypes.String) {
				p.srcRescued = j
			} else if j >= 0 {
				p.rescueWhole = append(p.rescueWhole, j)
			}
			p.src[i] = colRescued
			continue
		}
		switch {
		case j < 0:
			p.src[i] = colNull
		case !arrow.TypeEqual(src.Field(j).Type, f.Type):
			if mode == SchemaFail {
				mismatched = append(mismatched, fmt.Sprintf("%s (source %s, central %s)", f.Name, src.Field(j).Type, f.Type))
				continue
			}
			if convertible(src.Field(j).Type, f.Type) {
				p.src[i], p.convert[i] = j, true
			} else {
				p.src[i] = colNull
				p.rescueWhole = append(p.rescueWhole, j)
			}
		default:
			p.src[i] = j
		}
	}
	var unknown []string
	for j, f := range src.Fields() {
		if f.Name != RegionColumn && !strings.EqualFold(f.Name, RegionColumn) && fieldIndex(central, f.Name) < 0 {
			unknown = append(unknown, f.Name)
			p.rescueWhole = append(p.rescueWhole, j)
		}
	}
	if mode == SchemaFail {
		var msgs []string
		if len(unknown) > 0 {
			msgs = append(msgs, "source columns missing from the central table: "+strings.Join(unknown, ", "))
		}
		if len(mismatched) > 0 {
			msgs = append(msgs, "columns whose types differ: "+strings.Join(mismatched, ", "))
		}
		if len(msgs) > 0 {
			return nil, fmt.Errorf("%w: %s (schema mode %s; %s or %s would forward them)",
				ErrSchemaMismatch, strings.Join(msgs, "; "), SchemaFail, SchemaRescue, SchemaAddNewColumns)
		}
		return p, nil
	}
	switch {
	case p.mayRescue() && rescuedAt < 0:
		return nil, fmt.Errorf("%w: the central table has no string %s column to rescue into (source columns it lacks: %s)",
			ErrSchemaMismatch, RescuedColumn, strings.Join(unknown, ", "))
	case !p.mayRescue() && rescuedAt >= 0:
		// Nothing to rescue: the source's own rescued data passes as it is.
		p.src[rescuedAt] = colNull
		if p.srcRescued >= 0 {
			p.src[rescuedAt] = p.srcRescued
		}
	}
	return p, nil
}

// mayRescue reports whether some value may have to be rescued.
func (p *plan) mayRescue() bool {
	if len(p.rescueWhole) > 0 {
		return true
	}
	for i, c := range p.convert {
		if c && !alwaysConverts(p.srcType(i), p.central.Field(i).Type) {
			return true
		}
	}
	return false
}

func (p *plan) srcType(i int) arrow.DataType { return p.srcSchema.Field(p.src[i]).Type }

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

// apply returns rec in the central schema and the number of rows into whose
// _rescued_data it put values. The caller releases the result.
func (p *plan) apply(rec arrow.Record) (arrow.Record, int64) {
	n := int(rec.NumRows())
	cols := make([]arrow.Array, len(p.src))
	var rescue rescuer
	for i, j := range p.src {
		switch {
		case j == colRegion:
			cols[i] = p.regionColumn(n)
		case j == colNull || j == colRescued:
			// colRescued is filled below, once every failed conversion is known.
		case p.convert[i]:
			var failed []int
			cols[i], failed = convertArray(rec.Column(j), p.central.Field(i).Type)
			for _, r := range failed {
				rescue.add(r, rec.Schema().Field(j).Name, rec.Column(j))
			}
		default:
			cols[i] = rec.Column(j)
			cols[i].Retain()
		}
	}
	for _, j := range p.rescueWhole {
		c := rec.Column(j)
		for r := range n {
			if c.IsValid(r) {
				rescue.add(r, rec.Schema().Field(j).Name, c)
			}
		}
	}
	var rescued int64
	for i, j := range p.src {
		switch {
		case j == colRescued:
			var srcRescued *array.String
			if p.srcRescued >= 0 {
				srcRescued = rec.Column(p.srcRescued).(*array.String)
			}
			cols[i], rescued = rescue.build(n, srcRescued)
		case j == colNull:
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, p.central.Field(i).Type, n)
		}
	}
	out := array.NewRecord(p.central, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return out, rescued
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
	rows, kept, rescued int64
	pruned              bool
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
			out, rescued := st.plan.apply(kept)
			c.rescued += rescued
			err = write(out)
			out.Release()
		}
		kept.Release()
		if err != nil {
			return c, err
		}
	}
}

// rescuer collects, per row, the values a plan could not put into their
// central columns, and builds the central _rescued_data column from them.
type rescuer struct {
	rows map[int][]rescuedValue
}

type rescuedValue struct {
	name string
	arr  arrow.Array
}

func (r *rescuer) add(row int, name string, arr arrow.Array) {
	if r.rows == nil {
		r.rows = map[int][]rescuedValue{}
	}
	r.rows[row] = append(r.rows[row], rescuedValue{name, arr})
}

// build returns the central _rescued_data column of n rows and how many rows
// it rescued values of. A row's value is the source's own _rescued_data
// object (src, may be nil) with the rescued columns added as keys, values as
// JSON; NULL when there is neither. When the source's value is not a JSON
// object, or already has a key of the same name, it is kept whole under the
// key "_rescued_data" instead, so nothing is overwritten.
func (r *rescuer) build(n int, src *array.String) (arrow.Array, int64) {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.Reserve(n)
	var buf []byte
	for row := range n {
		vals := r.rows[row]
		srcValid := src != nil && src.IsValid(row)
		if len(vals) == 0 {
			if srcValid {
				b.Append(src.Value(row))
			} else {
				b.AppendNull()
			}
			continue
		}
		buf = append(buf[:0], '{')
		if srcValid {
			buf = mergeRescued(buf, src.Value(row), vals)
		}
		for _, v := range vals {
			if len(buf) > 1 {
				buf = append(buf, ',')
			}
			buf = appendJSON(buf, v.name)
			buf = append(buf, ':')
			buf = appendJSONValue(buf, v.arr, row)
		}
		buf = append(buf, '}')
		b.BinaryBuilder.Append(buf)
	}
	return b.NewArray(), int64(len(r.rows))
}

// mergeRescued appends the members of the source's _rescued_data object s
// to buf (which holds "{"), or s whole under "_rescued_data" when s is not
// an object or shares a key with vals.
func mergeRescued(buf []byte, s string, vals []rescuedValue) []byte {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err == nil && obj != nil {
		clash := false
		for _, v := range vals {
			if _, ok := obj[v.name]; ok {
				clash = true
			}
		}
		if !clash {
			body := bytes.TrimSpace([]byte(s))
			body = bytes.TrimSpace(body[1 : len(body)-1]) // valid JSON object: {…}
			return append(buf, body...)
		}
	}
	buf = appendJSON(buf, RescuedColumn)
	buf = append(buf, ':')
	if json.Valid([]byte(s)) {
		return append(buf, bytes.TrimSpace([]byte(s))...)
	}
	return appendJSON(buf, s)
}

func appendJSON(buf []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(v))
	}
	return append(buf, b...)
}

// appendJSONValue appends row i of arr as JSON: numbers, strings, booleans,
// dates and timestamps as text, binary as base64, nested values as objects
// and arrays (table.Value); NaN and infinities, which JSON lacks, as text.
func appendJSONValue(buf []byte, arr arrow.Array, i int) []byte {
	b, err := json.Marshal(table.Value(arr, i))
	if err != nil {
		b, _ = json.Marshal(arr.ValueStr(i))
	}
	return append(buf, b...)
}
