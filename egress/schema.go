package egress

import (
	"context"
	"fmt"
	"strings"

	"github.com/loglake/loglake/table"
)

// evolveCentral prepares the central table for source schemas before a
// batch is read: in SchemaAddNewColumns mode it adds the columns the central
// table lacks (within MaxNewColumns and MaxColumns); in that mode and in
// SchemaRescue it adds a _rescued_data column when values will need
// rescuing and the central table has none. It returns the snapshot to plan
// the batch on (csnap when nothing changed) and the columns it added.
//
// The change is one ADD COLUMNS commit through table.AddColumns, which
// merges with other regions' concurrent changes (recomputing what to add
// from the schema they left) and lands while every region appends: appends
// planned before it stay valid and commit unchanged.
func (e *Egress) evolveCentral(ctx context.Context, csnap *table.Snapshot, sources []*table.Schema) (*table.Snapshot, []string, error) {
	if e.opts.SchemaMode == SchemaFail || len(sources) == 0 {
		return csnap, nil, nil
	}
	cur, err := csnap.Schema()
	if err != nil {
		return nil, nil, err
	}
	want, capped := e.newColumns(cur, sources)
	if len(want) == 0 {
		return csnap, nil, nil // the common case: nothing to change
	}
	if len(capped) > 0 {
		e.log.Warn("central column caps reached; rescuing these columns instead", "columns", capped,
			"maxNewColumns", e.opts.MaxNewColumns, "maxColumns", e.opts.MaxColumns)
	}
	added, snap, err := e.dst.AddColumns(ctx, csnap, func(cur *table.Schema) ([]*table.Field, error) {
		want, _ := e.newColumns(cur, sources)
		return want, nil
	}, map[string]any{"queryId": e.appID})
	if err != nil {
		return nil, nil, fmt.Errorf("egress: central table %s: %w", e.central.URL(), err)
	}
	if len(added) > 0 {
		e.log.Info("added columns to the central table", "columns", added, "version", snap.Version())
		e.met.columnsAdded.Add(float64(len(added)))
	}
	return snap, added, nil
}

// newColumns returns the columns the central schema cur should gain for the
// source schemas, and the names of source columns that stay rescued because
// of the caps. It is recomputed from the latest schema on every attempt of
// an ADD COLUMNS commit.
func (e *Egress) newColumns(cur *table.Schema, sources []*table.Schema) (want []*table.Field, capped []string) {
	mine := 0
	for _, f := range cur.Fields {
		if by, _ := f.Metadata[AddedByKey].(string); by == e.appID {
			mine++
		}
	}
	room := min(e.opts.MaxNewColumns-mine, e.opts.MaxColumns-len(cur.Fields))
	needRescue := false
	seen := map[string]bool{}
	for _, src := range sources {
		for _, f := range src.Fields {
			key := strings.ToLower(f.Name)
			if strings.EqualFold(f.Name, RegionColumn) || seen[key] {
				continue
			}
			seen[key] = true
			c := cur.Field(f.Name)
			switch {
			case c != nil:
				if !alwaysConverts(table.ArrowType(f.Type), table.ArrowType(c.Type)) {
					needRescue = true
				}
			case f.Name == RescuedColumn || e.opts.SchemaMode != SchemaAddNewColumns || table.NeedsColumnMapping(f.Name):
				needRescue = true
			case room > 0:
				room--
				want = append(want, &table.Field{Name: f.Name, Type: f.Type, Nullable: true,
					Metadata: map[string]any{AddedByKey: e.appID}})
			default:
				capped = append(capped, f.Name)
				needRescue = true
			}
		}
	}
	if needRescue && cur.Field(RescuedColumn) == nil {
		// Not counted against the caps: it is what makes them safe.
		want = append(want, &table.Field{Name: RescuedColumn, Type: table.TypeString, Nullable: true,
			Metadata: map[string]any{AddedByKey: e.appID}})
	}
	return want, capped
}

// sourceSchemas returns the source schemas in force while changes are read:
// the one at the batch start and those of the metaData actions in them.
func sourceSchemas(start *table.Schema, changes []table.Change) ([]*table.Schema, error) {
	var out []*table.Schema
	if start != nil {
		out = append(out, start)
	}
	for _, c := range changes {
		for _, a := range c.Actions {
			if a.MetaData == nil {
				continue
			}
			s, err := table.ParseSchema(a.MetaData.SchemaString)
			if err != nil {
				return nil, fmt.Errorf("source version %d: %w", c.Version, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}
