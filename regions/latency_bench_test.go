package regions_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/internal/loggen"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkEndToEndLatency10Regions measures what a user of the central
// table sees: the time from a log file landing in a region to its approved
// rows being visible in the central table. 10 regions on file:// run their
// daemons (ingest and egress polling every 250ms) in this process; each
// region lands one ~100-line file per second for LOGLAKE_BENCH_SECONDS
// (default 20). A watcher polls the central table every 50ms and reads the
// _source_file column of every new data file, so a file counts as visible
// at the first poll that finds its rows. Reports p50, p99 and max in
// seconds, and the central commits per second.
//
// One call runs the whole scenario whatever b.N (run it with -benchtime 1x).
func BenchmarkEndToEndLatency10Regions(b *testing.B) {
	nRegions := envInt("LOGLAKE_BENCH_REGIONS", 10)
	seconds := envInt("LOGLAKE_BENCH_SECONDS", 20)
	ctx := context.Background()
	dir := b.TempDir()
	central := "file://" + filepath.ToSlash(filepath.Join(dir, "central"))

	var (
		mu      sync.Mutex
		landed  = map[string]time.Time{} // region|key of files with approved rows
		visible = map[string]time.Time{}
	)
	var daemons sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	landings := make([]string, nRegions)
	for i := range nRegions {
		name := fmt.Sprintf("r%02d", i)
		rd := filepath.Join(dir, name)
		landings[i] = "file://" + filepath.ToSlash(filepath.Join(rd, "landing"))
		y := fmt.Sprintf(`name: %s
landing: %s
table: file://%s
central: %s
ingest:
  interval: 250ms
egress:
  interval: 250ms
metrics:
  lag_interval: 2s
`, name, landings[i], filepath.ToSlash(filepath.Join(rd, "regional")), central)
		cfg, err := regions.Parse([]byte(y), "")
		if err != nil {
			b.Fatal(err)
		}
		d, err := regions.NewDaemon(cfg, &regions.DaemonOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		daemons.Go(func() {
			if err := d.Run(runCtx); err != nil {
				b.Error(err)
			}
		})
	}

	// Landers: one file per region per second, keys in landing order.
	g, _ := loggen.New(loggen.Options{Seed: 42, Files: 1000, FileBytes: 30_000})
	var landers sync.WaitGroup
	start := time.Now()
	for i := range nRegions {
		landers.Go(func() {
			lb, err := storage.Open(ctx, landings[i], nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer lb.Close()
			time.Sleep(time.Duration(i) * time.Second / time.Duration(nRegions))
			for n := 0; time.Since(start) < time.Duration(seconds)*time.Second; n++ {
				var buf bytes.Buffer
				fileNo := (i*7919 + n) % 1000
				if _, err := g.WriteFile(&buf, fileNo); err != nil {
					b.Error(err)
					return
				}
				approved := bytes.Count(buf.Bytes(), []byte(`"egress_approved":true`))
				key := fmt.Sprintf("f%06d.json", n)
				if err := lb.Put(ctx, key, buf.Bytes()); err != nil {
					b.Error(err)
					return
				}
				if approved > 0 {
					mu.Lock()
					landed[fmt.Sprintf("r%02d|%s", i, key)] = time.Now()
					mu.Unlock()
				}
				time.Sleep(time.Second)
			}
		})
	}

	// Watcher.
	cb, err := storage.Open(ctx, central, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cb.Close()
	seenFiles := map[string]bool{}
	var tb *table.Table
	var lastVersion int64 = -1
	poll := func() error {
		if tb == nil {
			t, err := table.Open(ctx, cb, nil)
			if errors.Is(err, table.ErrNoTable) {
				return nil
			}
			if err != nil {
				return err
			}
			tb = t
		}
		snap, err := tb.Snapshot(ctx)
		if err != nil {
			return err
		}
		lastVersion = snap.Version()
		now := time.Now()
		sch, err := snap.Schema()
		if err != nil {
			return err
		}
		for _, f := range snap.Files() {
			if seenFiles[f.Path] {
				continue
			}
			seenFiles[f.Path] = true
			keys, err := sourceFiles(ctx, cb, sch, snap.Metadata().PartitionColumns, f)
			if err != nil {
				return err
			}
			mu.Lock()
			for _, k := range keys {
				if _, ok := visible[k]; !ok {
					visible[k] = now
				}
			}
			mu.Unlock()
		}
		return nil
	}
	landDone := make(chan struct{})
	go func() {
		landers.Wait()
		close(landDone)
	}()
	deadline := start.Add(time.Duration(seconds)*time.Second + 2*time.Minute)
	for {
		if err := poll(); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		done := true
		select {
		case <-landDone:
		default:
			done = false
		}
		for k := range landed {
			if _, ok := visible[k]; !ok {
				done = false
				break
			}
		}
		mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	daemons.Wait()

	var lat []time.Duration
	missing := 0
	for k, at := range landed {
		v, ok := visible[k]
		if !ok {
			missing++
			continue
		}
		lat = append(lat, v.Sub(at))
	}
	if missing > 0 {
		b.Fatalf("%d of %d landed files never became visible in central", missing, len(landed))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
	b.ReportMetric(pct(0.50), "p50-s")
	b.ReportMetric(pct(0.99), "p99-s")
	b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s")
	b.ReportMetric(float64(lastVersion)/time.Since(start).Seconds(), "central-commits/s")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d regions, %d files with approved rows, %ds of landing: p50 %.2fs p99 %.2fs max %.2fs; central at version %d",
		nRegions, len(lat), seconds, pct(0.5), pct(0.99), lat[len(lat)-1].Seconds(), lastVersion)
}

// sourceFiles returns "region|_source_file" of the rows of one data file.
func sourceFiles(ctx context.Context, b storage.Bucket, sch *table.Schema, parts []string, f *table.Add) ([]string, error) {
	key, err := table.FileKey(f.Path)
	if err != nil {
		return nil, err
	}
	r, err := table.OpenFile(ctx, b, key, f.Size)
	if err != nil {
		return nil, err
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	rr, err := table.ReadFile(ctx, r, f.Size, &table.ReadOptions{Schema: sch, Columns: []string{"region", "_source_file"},
		PartitionColumns: parts, PartitionValues: f.PartitionValues})
	if err != nil {
		return nil, err
	}
	defer rr.Close()
	set := map[string]bool{}
	for {
		rec, err := rr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		for i := range int(rec.NumRows()) {
			set[fmt.Sprint(table.Value(rec.Column(0), i), "|", table.Value(rec.Column(1), i))] = true
		}
		rec.Release()
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out, nil
}
