package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loglake/loglake/table"
)

// A planned batch names its files by key in its landing location: resumed
// with another --landing, its files would be missing there, quarantined and
// counted as ingested. It is refused, and the right landing finishes it.
func TestResumeRefusesAnotherLanding(t *testing.T) {
	ctx := context.Background()
	landA, landB, tbl := memTable(t), memTable(t), memTable(t)
	if err := landA.Put(ctx, "a.json", []byte(`{"message":"one"}`+"\n"+`{"message":"two"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	obj, err := landA.List(ctx, "", "").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Stream: DefaultStream, Batch: 1, Created: time.Now().UTC(), Landing: landA.URL(),
		Files: []ManifestFile{fileFromObject(obj)}}
	if _, err := writeManifest(ctx, tbl, m); err != nil {
		t.Fatal(err)
	}
	wrong, err := New(landB, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Plan(ctx); !errors.Is(err, ErrConfig) {
		t.Fatalf("plan (--dry-run) on another landing: err = %v, want ErrConfig", err)
	}
	if _, err := wrong.RunOnce(ctx); !errors.Is(err, ErrConfig) {
		t.Fatalf("resume on another landing: err = %v, want ErrConfig", err)
	}
	// The polling loop keeps waiting: the instance that planned the batch
	// may still commit it.
	runCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := wrong.Run(runCtx, time.Millisecond); err != nil {
		t.Fatalf("Run on another landing: err = %v, want it to retry until stopped", err)
	}
	if o, err := tbl.List(ctx, StatePrefix(DefaultStream)+"quarantine/", "").Next(ctx); err == nil {
		t.Fatalf("refused resume quarantined %s", o.Key)
	}
	right, err := New(landA, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := right.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 2 {
		t.Fatalf("resumed batch ingested %d rows, want 2", sum.Rows)
	}
}

func TestSameLocation(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"s3://b/landing?region=us-east-1", "s3://b/landing/?endpoint=http://x", true},
		{"file:///data/landA", "file:///data/landB", false},
		{"s3://b/landing", "gs://b/landing", false},
	} {
		if got := sameLocation(c.a, c.b); got != c.want {
			t.Errorf("sameLocation(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// Errors that retrying cannot fix stop the polling loop: here a table
// partitioned by another column than ingest writes.
func TestRunStopsOnPermanentError(t *testing.T) {
	ctx := context.Background()
	landing, tbl := memTable(t), memTable(t)
	if err := landing.Put(ctx, "a.json", []byte(`{"message":"one"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	sch := &table.Schema{Fields: []*table.Field{{Name: "message", Type: table.TypeString, Nullable: true},
		{Name: "part", Type: table.TypeString, Nullable: true}}}
	if _, err := table.Create(ctx, tbl, table.CreateOptions{Schema: sch, PartitionColumns: []string{"part"}}, nil); err != nil {
		t.Fatal(err)
	}
	in, err := New(landing, tbl, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := in.Run(runCtx, time.Millisecond); !errors.Is(err, ErrConfig) || runCtx.Err() != nil {
		t.Fatalf("Run into a table partitioned by part: err = %v (timed out: %v), want ErrConfig at once", err, runCtx.Err() != nil)
	}
}
