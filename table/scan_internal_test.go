package table

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/benbjohnson/immutable"
)

// PruneFiles keeps the same files whether the snapshot's parsed stats are
// cached or parsed a chunk at a time (a snapshot over statsCacheFiles), and
// the same as MayMatch judging each file from its own stats JSON.
func TestPruneFilesCachedAndChunked(t *testing.T) {
	n := statsChunk + 300
	files := map[string]*Add{}
	for i := 0; i < n; i++ {
		st := fmt.Sprintf(`{"numRecords":10,"minValues":{"id":%d,"name":"a"},"maxValues":{"id":%d,"name":"z"},"nullCount":{"id":0,"name":1}}`, i*10, i*10+9)
		switch {
		case i%97 == 0:
			st = "" // no stats: never pruned
		case i%89 == 0:
			st = `{"numRecords":10,"minValues":` // undecodable: never pruned
		}
		p := fmt.Sprintf("part-%06d.parquet", i)
		files[p] = &Add{Path: p, Size: 1, Stats: st}
	}
	newSnap := func() *Snapshot {
		return &Snapshot{files: immutable.NewSortedMapOf(pathOrder{}, files), metadata: &Metadata{
			SchemaString: `{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}}]}`}}
	}
	pred, err := newSnap().Predicate("id >= 5000 AND id < 120000")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range newSnap().Files() {
		if MayMatch(f, pred) {
			want = append(want, f.Path)
		}
	}
	if len(want) == 0 || len(want) == n {
		t.Fatalf("the predicate must prune some files and keep some: kept %d of %d", len(want), n)
	}
	paths := func(fs []*Add) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return out
	}
	cached := newSnap()
	if got := paths(cached.PruneFiles(pred)); !reflect.DeepEqual(got, want) {
		t.Errorf("cached: kept %d files, want %d", len(got), len(want))
	}
	if ps := cached.statsParts[statsPartKey(&StatsPart{Columns: []string{"id"}})]; ps == nil || len(ps.stats) != n {
		t.Error("stats of a small snapshot are not kept")
	} else if st := ps.stats[1]; st == nil || st.MinValues["name"] != nil || st.NullCount["name"] != nil || st.MinValues["id"] == nil {
		t.Errorf("pruning on id decoded %+v, want id's stats only", st)
	}
	// Pruning again reads the kept stats.
	if got := paths(cached.PruneFiles(pred)); !reflect.DeepEqual(got, want) {
		t.Errorf("cached, second statement: kept %d files, want %d", len(got), len(want))
	}
	// Once all stats are decoded, they answer every part.
	f := cached.Files()[1]
	ref, _ := ParseStats(f.Stats)
	if got := cached.fileStats(f); !reflect.DeepEqual(got, ref) {
		t.Errorf("fileStats(%s) = %+v, want %+v", f.Path, got, ref)
	}
	if got := cached.fileStatsOf(f, &StatsPart{Columns: []string{"id"}}); got != cached.fileStats(f) {
		t.Errorf("fileStatsOf(%s) after fileStats = %+v, want all stats", f.Path, got)
	}
	// StatsOf: the kept stats, or a fresh decode of just the files asked.
	some := cached.Files()[:3]
	if got := cached.StatsOf(some, &StatsPart{NoBounds: true}); len(got) != 3 || got[1] != cached.fileStats(some[1]) {
		t.Errorf("StatsOf after fileStats = %+v, want the kept stats", got)
	}
	fresh := newSnap()
	nulls := &StatsPart{Columns: []string{"name"}, NoBounds: true}
	got := fresh.StatsOf(some, nulls)
	for i, f := range some {
		if ref, _ := ParseStatsOf(f.Stats, nulls); !reflect.DeepEqual(got[i], ref) {
			t.Errorf("StatsOf(%s) = %+v, want %+v", f.Path, got[i], ref)
		}
	}
	if len(fresh.statsParts) != 0 {
		t.Error("StatsOf kept the stats of a few files")
	}
	defer func(old int) { statsCacheFiles = old }(statsCacheFiles)
	statsCacheFiles = n - 1
	chunked := newSnap()
	if got := paths(chunked.PruneFiles(pred)); !reflect.DeepEqual(got, want) {
		t.Errorf("chunked: kept %d files, want %d", len(got), len(want))
	}
	if len(chunked.statsParts) != 0 {
		t.Error("stats of a snapshot over the bound are kept")
	}
	for _, s := range []*Snapshot{cached, chunked} {
		for _, i := range []int{0, 1, 89, 178, n - 1} {
			f := s.Files()[i]
			ref, _ := ParseStats(f.Stats)
			nulls := &StatsPart{Columns: []string{"NAME"}, NoBounds: true}
			refNulls, _ := ParseStatsOf(f.Stats, nulls)
			if got := s.fileStatsOf(f, nulls); !reflect.DeepEqual(got, refNulls) {
				t.Errorf("fileStatsOf(%s, name's null count) = %+v, want %+v", f.Path, got, refNulls)
			}
			if got := s.fileStats(f); !reflect.DeepEqual(got, ref) {
				t.Errorf("fileStats(%s) = %+v, want %+v", f.Path, got, ref)
			}

			// An Add that is not the snapshot's (same path, other stats)
			// is parsed, not answered from the cache.
			other := &Add{Path: f.Path, Stats: `{"numRecords":3}`}
			if got := s.fileStats(other); got == nil || got.NumRecords != 3 {
				t.Errorf("fileStats of a foreign add = %+v", got)
			}
		}
	}
}

// fileStats returns the parsed statistics of f, a live file of the
// snapshot, from the stats the snapshot keeps (see statsOf).
func (s *Snapshot) fileStats(f *Add) *Stats { return s.fileStatsOf(f, nil) }

// fileStatsOf is fileStats holding at least the statistics part asks for
// (nil: all of them); it may hold more.
func (s *Snapshot) fileStatsOf(f *Add, part *StatsPart) *Stats {
	if stats := s.statsOf(part); stats != nil {
		if i, ok := s.fileIndex(f); ok {
			return stats[i]
		}
	}
	st, _ := ParseStatsOf(f.Stats, part)
	return st
}
