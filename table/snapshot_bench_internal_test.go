package table

import (
	"fmt"
	"testing"
)

// snapshotAdds are n adds as egress writes them, one partition per day.
func snapshotAdds(n int) []Action {
	out := make([]Action, n)
	for i := range out {
		d := fmt.Sprintf("2026-01-%02d", 1+i%28)
		out[i] = Action{Add: &Add{Path: fmt.Sprintf("date=%s/part-%08d.zstd.parquet", d, i), Size: 3000,
			PartitionValues: map[string]*string{"date": &d}, DataChange: true,
			Stats: `{"numRecords":50,"minValues":{"org_id":0},"maxValues":{"org_id":499},"nullCount":{"org_id":0}}`}}
	}
	return out
}

// builtSnapshot is a sealed snapshot holding adds, as a load leaves it.
func builtSnapshot(adds []Action) *Snapshot {
	s := emptySnapshot(nil, true)
	s.apply(adds)
	s.seal()
	return s
}

// BenchmarkSnapshotAdvance measures deriving the next snapshot from one with
// n live files by one commit (one add, one txn), as every table handle does
// for every commit it reads: the cost must not grow with n.
func BenchmarkSnapshotAdvance(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			s := builtSnapshot(snapshotAdds(n))
			more := snapshotAdds(n + b.N)[n:]
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				next := s.clone()
				next.apply([]Action{more[i], {Txn: &Txn{AppID: "egress:region-01", Version: int64(i)}}})
				next.version++
				s = next
			}
		})
	}
}

// BenchmarkSnapshotLoad measures building a snapshot of 100,000 files from
// a checkpoint's actions (opening a table), and listing them in path order
// (Files, which scans, queries and checkpoints use).
func BenchmarkSnapshotLoad(b *testing.B) {
	const n = 100_000
	adds := snapshotAdds(n)
	b.Run("build", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			builtSnapshot(adds)
		}
	})
	b.Run("files", func(b *testing.B) {
		s := builtSnapshot(adds)
		b.ReportAllocs()
		for b.Loop() {
			if got := len(s.clone().Files()); got != n {
				b.Fatalf("%d files", got)
			}
		}
	})
}
