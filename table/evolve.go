package table

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// maxEvolveAttempts bounds how many concurrent schema changes AddColumns
// merges with before it gives up with ErrConflict. Each attempt that fails
// does so because another writer changed the metadata, so the bound is only
// reached under a storm of schema changes.
const maxEvolveAttempts = 64

// AddColumns adds nullable top-level columns to the table's schema with an
// ADD COLUMNS metaData commit that is safe while other writers append.
//
// columns is called with the table's current schema and returns the columns
// it should gain; names it already has (matched case-insensitively, as
// Delta resolves names) are skipped, and every new column is made nullable.
// When another writer changes the metadata first (two regions adding
// columns at once), AddColumns reads the new snapshot, calls columns again
// with the new schema and commits the union — it never fails because of
// that race, and never because of concurrent appends (see checkConflict).
// It returns the names it added (none when the schema already had them) and
// the snapshot that includes them.
//
// A column name Delta cannot store without column mapping (one of " ,;{}()\n\t=")
// and a column carrying Delta field metadata (invariants, generation or
// identity expressions, …) are refused with ErrSchema: AddColumns only ever
// makes changes under which data written with the old schema stays valid.
func (t *Table) AddColumns(ctx context.Context, read *Snapshot, columns func(cur *Schema) ([]*Field, error), params map[string]any) ([]string, *Snapshot, error) {
	if read == nil {
		return nil, nil, errors.New("table: AddColumns needs a read snapshot")
	}
	for attempt := 1; ; attempt++ {
		cur, err := read.Schema()
		if err != nil {
			return nil, nil, err
		}
		want, err := columns(cur)
		if err != nil {
			return nil, nil, err
		}
		next := &Schema{Fields: slices.Clone(cur.Fields)}
		var added []string
		for _, f := range want {
			if next.Field(f.Name) != nil {
				continue
			}
			if NeedsColumnMapping(f.Name) {
				return nil, nil, fmt.Errorf("%w: column name %q needs column mapping, which loglake does not write", ErrSchema, f.Name)
			}
			cp := *f
			cp.Nullable = true
			next.Fields = append(next.Fields, &cp)
			added = append(added, f.Name)
		}
		if len(added) == 0 {
			return nil, read, nil
		}
		md := *read.Metadata()
		md.SchemaString = next.String()
		if !appendsStayValid(read.Metadata(), &md) {
			return nil, nil, fmt.Errorf("%w: columns %s: new columns must not carry Delta field metadata", ErrSchema, strings.Join(added, ", "))
		}
		p := maps.Clone(params)
		if p == nil {
			p = map[string]any{}
		}
		p["columns"] = added
		_, err = t.Commit(ctx, read, &Commit{Actions: []Action{{MetaData: &md}}, Operation: "ADD COLUMNS", Parameters: p})
		if err == nil {
			snap, err := t.Snapshot(ctx)
			return added, snap, err
		}
		if !errors.Is(err, ErrConflict) || attempt >= maxEvolveAttempts {
			return nil, nil, fmt.Errorf("table: adding columns %s: %w", strings.Join(added, ", "), err)
		}
		// Another writer changed the metadata (maybe adding the same
		// columns): merge with what it did and try again.
		t.log.Debug("schema changed concurrently; merging and retrying", "columns", added, "attempt", attempt)
		if read, err = t.Snapshot(ctx); err != nil {
			return nil, nil, err
		}
	}
}

// NeedsColumnMapping reports whether a column name cannot be stored in a
// table without column mapping (Delta forbids " ,;{}()\n\t=" in physical
// names, and an empty name), which loglake does not write.
func NeedsColumnMapping(name string) bool {
	return name == "" || strings.ContainsAny(name, " ,;{}()\n\t=")
}

// appendsStayValid reports whether data files written under metadata old are
// still valid, read as they are, under metadata next: the same table and
// partitioning, every old column unchanged (name, type, nullability, field
// metadata), new columns nullable at the top level and free of Delta field
// metadata (no invariants, generated or identity expressions), and the same
// CHECK constraints and column mapping mode (other properties may change:
// retention, checkpoint interval, appendOnly — the last is re-checked per
// commit by checkCommit). Old files lack the new columns,
// and Delta readers read a missing nullable column as NULL, so such a change
// is invisible to a concurrent append: it is a pure ADD COLUMNS. Anything else
// (a type change, NOT NULL, a new constraint, repartitioning) may make an
// append written under old invalid.
func appendsStayValid(old, next *Metadata) bool {
	if old == nil || next == nil || old.ID != next.ID || old.Format.Provider != next.Format.Provider ||
		!slices.Equal(old.PartitionColumns, next.PartitionColumns) {
		return false
	}
	for _, m := range []*Metadata{old, next} {
		other := next
		if m == next {
			other = old
		}
		for k, v := range m.Configuration {
			if (strings.HasPrefix(k, "delta.constraints.") || k == "delta.columnMapping.mode") && other.Configuration[k] != v {
				return false
			}
		}
	}
	if old.SchemaString == next.SchemaString {
		return true
	}
	os, err := ParseSchema(old.SchemaString)
	if err != nil {
		return false
	}
	ns, err := ParseSchema(next.SchemaString)
	if err != nil {
		return false
	}
	kept := 0
	for _, f := range ns.Fields {
		var was *Field
		for _, o := range os.Fields {
			if o.Name == f.Name {
				was = o
				break
			}
		}
		switch {
		case was != nil:
			if !reflect.DeepEqual(was, f) {
				return false
			}
			kept++
		case os.Field(f.Name) != nil: // differs from an old column only in case
			return false
		case !f.Nullable || hasDeltaMetadata([]*Field{f}):
			return false
		}
	}
	return kept == len(os.Fields)
}

// hasDeltaMetadata reports whether any field, nested ones included, carries
// field metadata in Delta's namespace ("delta.*"): invariants, generation and
// identity expressions, column mapping ids, type changes.
func hasDeltaMetadata(fields []*Field) bool {
	for _, f := range fields {
		for k := range f.Metadata {
			if strings.HasPrefix(k, "delta.") {
				return true
			}
		}
		switch t := f.Type.(type) {
		case *StructType:
			if hasDeltaMetadata(t.Fields) {
				return true
			}
		case *ArrayType:
			if st, ok := t.ElementType.(*StructType); ok && hasDeltaMetadata(st.Fields) {
				return true
			}
		case *MapType:
			for _, e := range []DataType{t.KeyType, t.ValueType} {
				if st, ok := e.(*StructType); ok && hasDeltaMetadata(st.Fields) {
					return true
				}
			}
		}
	}
	return false
}
