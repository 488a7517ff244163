package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/loglake/loglake/query"
	"github.com/loglake/loglake/table"
)

// corpusDir is the Delta read-compatibility corpus (tables written by Spark
// and delta-rs), relative to this package directory.
const corpusDir = "../../shared/testdata/delta"

// corpusEntry is the part of table/testdata/corpus.json this test uses:
// expected values derived without loglake (see table/corpus_test.go).
type corpusEntry struct {
	Name             string `json:"name"`
	NumRows          *int64 `json:"numRows"`
	DataFilesPresent bool   `json:"dataFilesPresent"`
	Refuse           string `json:"refuse"`
	Spot             []struct {
		Column string   `json:"column"`
		Sum    *float64 `json:"sum"`
		Count  *int64   `json:"count"`
		Value  *string  `json:"value"`
		IsNull bool     `json:"isNull"`
		Min    *int64   `json:"min"`
		Max    *int64   `json:"max"`
	} `json:"spot"`
}

// Every corpus table loglake can read gives, through its view, the row
// count and the spot values (sums, null counts, value counts, min/max)
// recorded in the corpus manifest; tables with features loglake refuses are
// refused by Register too.
func TestCorpus(t *testing.T) {
	dir, err := filepath.Abs(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Delta corpus not found at %s (../shared/testdata/delta next to the project root): %v", dir, err)
	}
	data, err := os.ReadFile("../table/testdata/corpus.json")
	if err != nil {
		t.Skipf("corpus manifest table/testdata/corpus.json: %v", err)
	}
	var manifest struct {
		Tables []corpusEntry `json:"tables"`
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := newEngine(t, "")
	checked := 0
	for _, ct := range manifest.Tables {
		if !ct.DataFilesPresent || ct.NumRows == nil {
			continue
		}
		t.Run(ct.Name, func(t *testing.T) {
			spec := query.Spec{Name: "c", URL: "file://" + filepath.ToSlash(filepath.Join(dir, ct.Name)), Version: -1}
			err := e.RegisterSpec(ctx, spec, "")
			if ct.Refuse != "" {
				if !errors.Is(err, table.ErrUnsupportedFeature) {
					t.Errorf("table needing %s: Register gave %v, want ErrUnsupportedFeature", ct.Refuse, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checked++
			if got, want := rowsOf(t, e, "SELECT count(*) FROM c"), fmt.Sprint(*ct.NumRows); len(got) != 1 || got[0] != want {
				t.Errorf("count(*) = %v, want %s", got, want)
			}
			for _, s := range ct.Spot {
				col := `"` + s.Column + `"`
				switch {
				case s.Sum != nil:
					got := rowsOf(t, e, "SELECT CAST(sum("+col+") AS DOUBLE) FROM c")
					f, err := strconv.ParseFloat(got[0], 64)
					if err != nil || math.Abs(f-*s.Sum) > 1e-9*math.Max(1, math.Abs(*s.Sum)) {
						t.Errorf("sum(%s) = %v, want %v", s.Column, got, *s.Sum)
					}
				case s.Count != nil && s.IsNull:
					if got, want := rowsOf(t, e, "SELECT count(*) FILTER (WHERE "+col+" IS NULL) FROM c"), fmt.Sprint(*s.Count); got[0] != want {
						t.Errorf("nulls in %s = %v, want %s", s.Column, got, want)
					}
				case s.Count != nil && s.Value != nil:
					q := fmt.Sprintf("SELECT count(*) FILTER (WHERE CAST(%s AS VARCHAR) = '%s') FROM c", col, *s.Value)
					if got, want := rowsOf(t, e, q), fmt.Sprint(*s.Count); got[0] != want {
						t.Errorf("rows with %s = %q: %v, want %s", s.Column, *s.Value, got, want)
					}
				case s.Min != nil || s.Max != nil:
					agg, want := "min", s.Min
					if s.Max != nil {
						agg, want = "max", s.Max
					}
					// Dates count days, timestamps microseconds since the epoch.
					typ := rowsOf(t, e, fmt.Sprintf("SELECT column_type FROM (DESCRIBE c) WHERE column_name = '%s'", s.Column))
					q := fmt.Sprintf("SELECT CAST(%s(%s) AS BIGINT) FROM c", agg, col)
					switch {
					case len(typ) != 1:
						t.Fatalf("column %s: DESCRIBE gives %v", s.Column, typ)
					case typ[0] == "DATE":
						q = fmt.Sprintf("SELECT %s(%s) - DATE '1970-01-01' FROM c", agg, col)
					case typ[0] == "TIMESTAMP WITH TIME ZONE" || typ[0] == "TIMESTAMP":
						q = fmt.Sprintf("SELECT epoch_us(%s(%s)) FROM c", agg, col)
					}
					if got := rowsOf(t, e, q); got[0] != fmt.Sprint(*want) {
						t.Errorf("%s(%s) = %v, want %d", agg, s.Column, got, *want)
					}
				}
			}
		})
	}
	if checked == 0 {
		t.Error("no corpus table was checked")
	}
}
