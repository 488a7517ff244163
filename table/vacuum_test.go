package table_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

func keys(t testing.TB, b storage.Bucket) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	it := b.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(o.Key, "_loglake/maintenance/") { // VACUUM's own record
			out = append(out, o.Key)
		}
	}
}

func dur(d time.Duration) *time.Duration { return &d }

func TestVacuum(t *testing.T) {
	for name, open := range map[string]func(*testing.T) storage.Bucket{"mem": openMem, "file": openFile} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			tbl := tabletest.Create(t, b, nil)
			for i := 0; i < 4; i++ {
				appendN(t, tbl, int64(i*30), 30)
			}
			if _, err := tbl.Optimize(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id < 10"}); err != nil {
				t.Fatal(err)
			}
			// An orphan (a batch that never committed) and exactly-once state.
			for _, k := range []string{"date=2026-11-22/part-orphan.zstd.parquet", "_loglake/ingest/s/batches/1.json", "_delta_log/_tmp"} {
				if err := b.Put(ctx, k, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			snap := latest(t, tbl)
			rows := rowStrings(t, snap)
			stored := keys(t, b)

			// Young tombstones and a young orphan: the default retention keeps all.
			res, err := tbl.Vacuum(ctx, nil)
			if err != nil || res.FilesDeleted != 0 || !slices.Equal(keys(t, b), stored) {
				t.Fatalf("default vacuum: %+v %v", res, err)
			}
			if _, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(time.Hour)}); !errors.Is(err, table.ErrRetention) {
				t.Fatalf("short retention without force: %v", err)
			}
			// Zero retention with force: tombstones go, the young orphan stays
			// (grace period).
			dry, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(0), Force: true, DryRun: true})
			if err != nil || dry.RemovedDeleted != 12+3 || dry.OrphansDeleted != 0 || !slices.Equal(keys(t, b), stored) {
				t.Fatalf("dry run: %+v %v", dry, err)
			}
			res, err = tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(0), Force: true})
			if err != nil || res.FilesDeleted != dry.FilesDeleted || res.BytesDeleted != dry.BytesDeleted || res.BytesDeleted == 0 {
				t.Fatalf("forced vacuum: %+v %v (dry run said %+v)", res, err, dry)
			}
			// Eight days later the orphan is past retention and grace.
			later := time.Now().Add(8 * 24 * time.Hour)
			res, err = tbl.Vacuum(ctx, &table.VacuumOptions{Now: func() time.Time { return later }})
			if err != nil || res.OrphansDeleted != 1 || res.RemovedDeleted != 0 {
				t.Fatalf("vacuum 8 days later: %+v %v", res, err)
			}
			var want []string
			for _, f := range snap.Files() {
				want = append(want, f.Path)
			}
			var got []string
			for _, k := range keys(t, b) {
				if !strings.HasPrefix(k, "_") {
					got = append(got, k)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("data files left %v, want the live ones %v", got, want)
			}
			for _, k := range []string{"_loglake/ingest/s/batches/1.json", "_delta_log/_tmp", "_loglake/maintenance/vacuum.json"} {
				if _, err := b.Stat(ctx, k); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
			}
			// Nothing was written to the log, and the table reads the same.
			if v, _ := tbl.LatestVersion(ctx); v != snap.Version() {
				t.Fatalf("vacuum committed: version %d", v)
			}
			fresh, err := table.Open(ctx, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := rowStrings(t, latest(t, fresh)); !slices.Equal(got, rows) {
				t.Fatal("rows changed after vacuum")
			}
		})
	}
}

// A remove naming log or state files never makes VACUUM delete them: it only
// deletes data files it listed.
func TestVacuumHostileRemove(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, nil)
	appendN(t, tbl, 0, 10)
	if err := b.Put(ctx, "_loglake/ingest/s/index", []byte("x")); err != nil {
		t.Fatal(err)
	}
	old := int64(1)
	snap := latest(t, tbl)
	var actions []table.Action
	for _, p := range []string{"_delta_log/00000000000000000000.json", "_loglake/ingest/s/index"} {
		actions = append(actions, table.Action{Remove: &table.Remove{Path: p, DeletionTimestamp: &old, DataChange: true}})
	}
	// table.Commit refuses to write such paths; a hostile writer does not.
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: actions, Operation: "DELETE"}); !errors.Is(err, table.ErrInvalidPath) {
		t.Fatalf("commit of removes into _delta_log/ and _loglake/: %v, want ErrInvalidPath", err)
	}
	var raw []byte
	for _, a := range actions {
		line, _ := json.Marshal(a)
		raw = append(append(raw, line...), '\n')
	}
	if err := b.PutIfAbsent(ctx, table.CommitKey(snap.Version()+1), raw); err != nil {
		t.Fatal(err)
	}
	res, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(0), Force: true, Now: func() time.Time { return time.Now().Add(1000 * time.Hour) }})
	if err != nil {
		// Refusing the table outright (a path validator rejecting the
		// remove) is as good as ignoring it; deleting it is not.
		t.Logf("vacuum refused: %v", err)
	} else if res.FilesDeleted != 0 {
		t.Fatalf("vacuum deleted %d files", res.FilesDeleted)
	}
	for _, k := range []string{"_delta_log/00000000000000000000.json", "_loglake/ingest/s/index"} {
		if _, err := b.Stat(ctx, k); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	// The log with those removes is refused by name, never read.
	if _, err := table.Open(ctx, b, nil); !errors.Is(err, table.ErrInvalidPath) {
		t.Fatalf("open: %v, want ErrInvalidPath", err)
	}
}

// vacuumProtocolCheck: VACUUM checks the writer protocol and refuses a
// table with a writer feature loglake does not implement, by name.
func TestVacuumProtocolCheck(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	commit := `{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["vacuumProtocolCheck"],"writerFeatures":["vacuumProtocolCheck","rowTracking"]}}` + "\n" +
		fmt.Sprintf(`{"metaData":{"id":"x","format":{"provider":"parquet","options":{}},"schemaString":%q,"partitionColumns":[],"configuration":{}}}`, tabletest.Schema().String()) + "\n"
	if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte(commit)); err != nil {
		t.Fatal(err)
	}
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Vacuum(ctx, nil); !errors.Is(err, table.ErrUnsupportedFeature) || !strings.Contains(err.Error(), "rowTracking") {
		t.Fatalf("vacuum: %v, want a refusal naming rowTracking", err)
	}
}

func TestParseInterval(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "interval 7 days", want: 7 * day},
		{in: "interval 1 week", want: 7 * day},
		{in: "INTERVAL 30 DAYS", want: 30 * day},
		{in: "interval 1 day 12 hours", want: 36 * time.Hour},
		{in: "2 hours", want: 2 * time.Hour},
		{in: "168h", want: 168 * time.Hour},
		{in: "interval 0 seconds", want: 0},
		{in: "interval", bad: true},
		{in: "interval 7 fortnights", bad: true},
		{in: "interval -1 days", bad: true},
		{in: "seven days", bad: true},
		// Each term fits, their sum does not: it must not wrap negative
		// (a negative retention would vacuum every removed file now).
		{in: "interval 4611686018 seconds 4611686018 seconds 4611686018 seconds", bad: true},
		{in: "interval 3000 weeks 3000 weeks", want: 2 * 3000 * 7 * day},
	} {
		got, err := table.ParseInterval(tc.in)
		if tc.bad != (err != nil) || !tc.bad && got != tc.want {
			t.Errorf("ParseInterval(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// Property: after any sequence of appends, optimizes, deletes and vacuums,
// every version whose commit is inside the retention window (and the latest)
// reads exactly the rows it read when it was written.
func TestVacuumProperty(t *testing.T) {
	// One seed in make test; LOGLAKE_VACUUM_SEEDS=n runs n (make bench).
	seeds := 1
	if n, err := strconv.Atoi(os.Getenv("LOGLAKE_VACUUM_SEEDS")); err == nil && n > 0 {
		seeds = n
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(seed, 99))
			b := openMem(t)
			tbl := tabletest.Create(t, b, nil)
			read := map[int64][]int64{}
			record := func() {
				s := latest(t, tbl)
				read[s.Version()] = tabletest.IDs(t, s, "")
			}
			record()
			next := int64(0)
			var vacuumed int64
			for step := 0; step < 30; step++ {
				time.Sleep(2 * time.Millisecond) // distinct commit timestamps
				op := rng.IntN(10)
				if step == 29 {
					op = 9 // end with a vacuum
				}
				switch {
				case op < 5:
					n := 1 + rng.IntN(20)
					appendN(t, tbl, next, n)
					next += int64(n)
				case op < 7:
					if _, err := tbl.Optimize(ctx, &table.OptimizeOptions{MinFiles: 2}); err != nil {
						t.Fatal(err)
					}
				case op < 9:
					where := fmt.Sprintf("id >= %d AND id < %d", rng.Int64N(next+1), rng.Int64N(next+1))
					if _, err := tbl.Delete(ctx, &table.DeleteOptions{Where: where}); err != nil {
						t.Fatal(err)
					}
				default:
					// Retain back to a random version's commit time.
					hist, err := tbl.History(ctx, 0)
					if err != nil {
						t.Fatal(err)
					}
					pick := hist[rng.IntN(len(hist))]
					if step == 29 {
						pick = hist[0]
					}
					now := time.Now()
					res, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: dur(now.Sub(pick.Timestamp)), Force: true,
						Now: func() time.Time { return now }})
					if err != nil {
						t.Fatal(err)
					}
					vacuumed += res.FilesDeleted
					for _, e := range hist {
						if e.Timestamp.Before(pick.Timestamp) && e.Version != hist[0].Version {
							delete(read, e.Version) // outside the window: may be gone
						}
					}
				}
				record()
				for v, want := range read {
					s, err := tbl.SnapshotAt(ctx, v)
					if err != nil {
						t.Fatalf("step %d: version %d: %v", step, v, err)
					}
					if got := tabletest.IDs(t, s, ""); !slices.Equal(got, want) {
						t.Fatalf("step %d: version %d reads %d rows, want %d", step, v, len(got), len(want))
					}
				}
			}
			if vacuumed == 0 {
				t.Fatal("no vacuum deleted anything: the property was not exercised")
			}
			t.Logf("%d files vacuumed; %d versions still checked", vacuumed, len(read))
		})
	}
}

// KeepRemovedFrom protects, by version and whatever the retention, the files
// removed at or after the version a lagging consumer resumes at; files
// removed before it go.
func TestVacuumKeepRemovedFrom(t *testing.T) {
	ctx := context.Background()
	b := openMem(t)
	tbl := tabletest.Create(t, b, nil)
	for i := 0; i < 3; i++ {
		appendN(t, tbl, int64(i*30), 30) // v1-v3
	}
	opt, err := tbl.Optimize(ctx, nil) // v4 removes the files of v1-v3
	if err != nil || opt.Version != 4 {
		t.Fatalf("optimize: %+v %v", opt, err)
	}
	appendN(t, tbl, 90, 30) // v5
	appendN(t, tbl, 120, 30)
	del, err := tbl.Delete(ctx, &table.DeleteOptions{Where: "id >= 90"}) // v7 removes the files of v5-v6
	if err != nil || del.Version != 7 || del.NumAddedFiles != 0 {
		t.Fatalf("delete: %+v %v", del, err)
	}
	o, d := int64(opt.NumRemovedFiles), int64(del.NumRemovedFiles)
	zero := dur(0)
	// A minute on: every remove is older than the zero retention's cutoff,
	// also one made within the same millisecond.
	later := func() time.Time { return time.Now().Add(time.Minute) }
	for _, tc := range []struct {
		from          int64
		kept, deleted int64
	}{
		{from: 1, kept: o + d, deleted: 0}, // the consumer still reads v1: nothing removed since may go
		{from: 5, kept: d, deleted: o},     // it resumes at v5: OPTIMIZE's removes (v4) go, DELETE's stay
		{from: 8, kept: 0, deleted: o + d}, // it has read everything
	} {
		res, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: zero, Force: true, DryRun: true, KeepRemovedFrom: &tc.from, Now: later})
		if err != nil || res.KeptForConsumers != tc.kept || res.RemovedDeleted != tc.deleted {
			t.Fatalf("from %d: %+v %v; want %d kept, %d deleted (o=%d d=%d)", tc.from, res, err, tc.kept, tc.deleted, o, d)
		}
	}
	from := int64(5)
	res, err := tbl.Vacuum(ctx, &table.VacuumOptions{Retain: zero, Force: true, KeepRemovedFrom: &from, Now: later})
	if err != nil || res.FilesDeleted != o || res.KeptForConsumers != d {
		t.Fatalf("vacuum: %+v %v", res, err)
	}
	// The consumer resuming at v5 still reads every file v5 and v6 added.
	for v := int64(5); v <= 6; v++ {
		snap, err := tbl.SnapshotAt(ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(rowStrings(t, snap)); n != 90+int(v-4)*30 {
			t.Fatalf("version %d after vacuum: %d rows", v, n)
		}
	}
}
