package replicate_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/replicate"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// Benchmark sizes, configurable for quick runs:
//
//	LOGLAKE_BENCH_CLONE_MB       full-clone table size in MiB (default 1024)
//	LOGLAKE_BENCH_CLONE_FILES    full-clone table files (default 200)
//	LOGLAKE_BENCH_INCR_FILES     comma-separated file counts of the tables the
//	                             incremental clone is timed on (default 1000,10000)
//	LOGLAKE_TEST_S3_URL          S3 (emulator) base URL; without it the S3 half
//	                             of BenchmarkCloneFull is skipped
//	LOGLAKE_BENCH_CLONE_DIR      where the full-clone table is kept between
//	                             runs (default: a temp dir per run)
func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func randHex(b *testing.B) string {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		b.Fatal(err)
	}
	return fmt.Sprintf("%x", r)
}

var (
	fullOnce sync.Once
	fullDir  string
	fullSnap *table.Snapshot
	fullErr  error
)

// fullTable writes (once per process) a file:// table of real zstd Parquet
// files holding incompressible payloads: LOGLAKE_BENCH_CLONE_MB in
// LOGLAKE_BENCH_CLONE_FILES files. Under LOGLAKE_BENCH_CLONE_DIR it is
// written once and reused by later runs (a clone only reads its source);
// a marker beside it, written last, says it is complete.
func fullTable(b *testing.B) (string, *table.Snapshot) {
	mb, files := envInt(b, "LOGLAKE_BENCH_CLONE_MB", 1024), envInt(b, "LOGLAKE_BENCH_CLONE_FILES", 200)
	fullOnce.Do(func() {
		keep := os.Getenv("LOGLAKE_BENCH_CLONE_DIR")
		if keep == "" {
			fullDir, fullErr = os.MkdirTemp("", "loglake-bench-clone-")
			if fullErr != nil {
				return
			}
			fullSnap, fullErr = writeFullTable(fullDir, int64(mb)<<20, files)
			return
		}
		fullDir = filepath.Join(keep, fmt.Sprintf("full-%dmb-%d", mb, files))
		marker := fullDir + ".complete"
		if _, err := os.Stat(marker); err == nil {
			fullSnap, fullErr = latestSnapshot(fullDir)
			return
		}
		if fullErr = os.RemoveAll(fullDir); fullErr != nil {
			return
		}
		if fullErr = os.MkdirAll(fullDir, 0o755); fullErr != nil {
			return
		}
		if fullSnap, fullErr = writeFullTable(fullDir, int64(mb)<<20, files); fullErr == nil {
			fullErr = os.WriteFile(marker, nil, 0o644)
		}
	})
	if fullErr != nil {
		b.Fatal(fullErr)
	}
	return fullDir, fullSnap
}

// latestSnapshot opens the file:// table in dir.
func latestSnapshot(dir string) (*table.Snapshot, error) {
	ctx := context.Background()
	bkt, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
	if err != nil {
		return nil, err
	}
	tbl, err := table.Open(ctx, bkt, nil)
	if err != nil {
		return nil, err
	}
	return tbl.Snapshot(ctx)
}

func writeFullTable(dir string, size int64, files int) (*table.Snapshot, error) {
	ctx := context.Background()
	bkt, err := storage.Open(ctx, "file://"+filepath.ToSlash(dir), nil)
	if err != nil {
		return nil, err
	}
	sch, err := table.ParseSchema(`{"type":"struct","fields":[
		{"name":"id","type":"long","nullable":false,"metadata":{}},
		{"name":"payload","type":"binary","nullable":true,"metadata":{}}]}`)
	if err != nil {
		return nil, err
	}
	tbl, err := table.Create(ctx, bkt, table.CreateOptions{Schema: sch}, nil)
	if err != nil {
		return nil, err
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	// One writer per file, so the table has exactly `files` files.
	perFile := size / int64(files)
	const rowSize = 64 << 10
	buf := make([]byte, rowSize)
	var adds []table.Action
	var id int64
	for range files {
		w, err := tbl.NewWriter(snap, &table.WriteOptions{TargetFileSize: 2 * perFile})
		if err != nil {
			return nil, err
		}
		for written := int64(0); written < perFile; {
			bld := array.NewRecordBuilder(memory.DefaultAllocator, w.Schema())
			for range 16 {
				if _, err := rand.Read(buf); err != nil {
					return nil, err
				}
				bld.Field(0).(*array.Int64Builder).Append(id)
				bld.Field(1).(*array.BinaryBuilder).Append(buf)
				id++
				written += rowSize
			}
			rec := bld.NewRecord()
			bld.Release()
			err := w.Write(ctx, rec)
			rec.Release()
			if err != nil {
				return nil, err
			}
		}
		a, err := w.Close()
		if err != nil {
			return nil, err
		}
		adds = append(adds, a...)
	}
	if _, err := tbl.Commit(ctx, snap, &table.Commit{Actions: adds, Operation: "WRITE"}); err != nil {
		return nil, err
	}
	return tbl.Snapshot(ctx)
}

// s3Target returns a fresh loglake URL and the matching rclone remote path
// (rclone configured through RCLONE_S3_* variables) under LOGLAKE_TEST_S3_URL.
func s3Target(b *testing.B, base, leaf string) (string, string, []string) {
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	p := path.Join(u.Path, "bench", leaf)
	u.Path = "/" + strings.TrimPrefix(p, "/")
	env := []string{"RCLONE_S3_PROVIDER=Other", "RCLONE_S3_ENV_AUTH=true"}
	if e := q.Get("endpoint"); e != "" {
		env = append(env, "RCLONE_S3_ENDPOINT="+e)
	}
	if r := q.Get("region"); r != "" {
		env = append(env, "RCLONE_S3_REGION="+r)
	}
	if q.Get("use_path_style") == "true" {
		env = append(env, "RCLONE_S3_FORCE_PATH_STYLE=true")
	}
	return u.String(), ":s3:" + u.Host + "/" + strings.TrimPrefix(p, "/"), env
}

// rcloneCopy times `rclone copy src dst` with the same parallelism as the
// clone; ok is false when rclone is not installed.
func rcloneCopy(b *testing.B, src, dst string, env []string, parallel int) (time.Duration, bool) {
	bin, err := exec.LookPath("rclone")
	if err != nil {
		b.Logf("rclone not installed (scripts/install-rclone.sh): no ratio")
		return 0, false
	}
	cmd := exec.Command(bin, "copy", "--transfers", strconv.Itoa(parallel), "--checkers", strconv.Itoa(parallel), src, dst)
	for _, kv := range os.Environ() {
		// rclone's S3 backend refuses AWS_CA_BUNDLE with its own transport.
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("rclone copy %s %s: %v\n%s", src, dst, err, out)
	}
	return time.Since(start), true
}

// BenchmarkCloneFull: a full clone of a large table (default 1 GiB in 200
// files) to another file:// location and to the S3 emulator, side by side
// with `rclone copy` of the same directory in the same run.
func BenchmarkCloneFull(b *testing.B) {
	dir, snap := fullTable(b)
	srcURL := "file://" + filepath.ToSlash(dir)
	size := snap.SizeBytes()
	b.Logf("source: %d files, %d bytes", len(snap.Files()), size)
	// file-link: same file system, where file:// copies are hard links
	// (the storage layer's server-side copy); file-stream: the bytes are
	// streamed, as between two volumes or clouds.
	targets := []string{"file-link", "file-stream"}
	if os.Getenv("LOGLAKE_TEST_S3_URL") != "" {
		targets = append(targets, "s3")
	} else {
		b.Logf("LOGLAKE_TEST_S3_URL not set (eval \"$(scripts/emulators.sh env)\"): S3 half skipped")
	}
	for _, target := range targets {
		b.Run(target, func(b *testing.B) {
			ctx := context.Background()
			src, err := storage.Open(ctx, srcURL, nil)
			if err != nil {
				b.Fatal(err)
			}
			var cloneTime, rcloneTime time.Duration
			ratioOK := true
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				leaf := randHex(b)
				var dstURL, rcloneDst string
				var env []string
				if target != "s3" {
					dstURL = "file://" + filepath.ToSlash(b.TempDir())
					rcloneDst = b.TempDir()
				} else {
					dstURL, rcloneDst, env = s3Target(b, os.Getenv("LOGLAKE_TEST_S3_URL"), "clone-"+leaf)
					_, rcloneDst, _ = s3Target(b, os.Getenv("LOGLAKE_TEST_S3_URL"), "rclone-"+leaf)
				}
				dst, err := storage.Open(ctx, dstURL, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				from := src
				if target != "file-link" {
					from = streamOnly{src}
				}
				res, err := replicate.Clone(ctx, from, dst, &replicate.Options{Logger: quietLogger()})
				cloneTime += time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Metrics.CopiedFilesSize != size {
					b.Fatalf("clone copied %d bytes, table has %d", res.Metrics.CopiedFilesSize, size)
				}
				d, ok := rcloneCopy(b, dir, rcloneDst, env, replicate.DefaultParallel)
				rcloneTime += d
				ratioOK = ratioOK && ok
				dst.Close()
				b.StartTimer()
			}
			b.StopTimer()
			secs := cloneTime.Seconds() / float64(b.N)
			b.ReportMetric(float64(size)/secs/1e6, "clone-MB/s")
			if ratioOK {
				rs := rcloneTime.Seconds() / float64(b.N)
				b.ReportMetric(float64(size)/rs/1e6, "rclone-MB/s")
				b.ReportMetric(secs/rs, "clone/rclone-time")
			}
		})
	}
}

// BenchmarkCloneIncremental times the clone of one small append into an
// up-to-date replica, for tables of different file counts (default 1,000
// and 10,000 files): the time must not grow with the table.
func BenchmarkCloneIncremental(b *testing.B) {
	counts := strings.Split(os.Getenv("LOGLAKE_BENCH_INCR_FILES"), ",")
	if counts[0] == "" {
		counts = []string{"1000", "10000"}
	}
	for _, c := range counts {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			b.Fatalf("LOGLAKE_BENCH_INCR_FILES=%q", os.Getenv("LOGLAKE_BENCH_INCR_FILES"))
		}
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			ctx := context.Background()
			srcB := benchBucket(b)
			dstB := benchBucket(b)
			src := manyFileTable(b, srcB, n)
			if _, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{Logger: quietLogger(), Parallel: 16}); err != nil {
				b.Fatal(err)
			}
			// b.Loop, not b.N: the function runs once, so each table (and
			// its first full clone) is built once, not once per round of
			// b.N's ramp-up.
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				tabletest.Append(b, src, int64(1_000_000+i*10), 10, nil)
				b.StartTimer()
				res, err := replicate.Clone(ctx, srcB, dstB, &replicate.Options{Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				if res.Mode != replicate.ModeReplica || res.CommitsWritten != 1 || !res.Fast {
					b.Fatalf("incremental clone: %+v", res)
				}
			}
		})
	}
}

func benchBucket(b *testing.B) storage.Bucket {
	bkt, err := storage.Open(context.Background(), "file://"+filepath.ToSlash(b.TempDir()), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bkt.Close() })
	return bkt
}

// manyFileTable builds a table of n real Parquet files: one small file is
// written, then copied under n distinct names and committed in one commit,
// followed by a checkpoint (as a long-lived table would have).
func manyFileTable(b *testing.B, bkt storage.Bucket, n int) *table.Table {
	ctx := context.Background()
	tbl, err := table.Create(ctx, bkt, table.CreateOptions{Schema: tabletest.Schema()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	snap := rt.Latest(b, tbl)
	w, err := tbl.NewWriter(snap, nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := tabletest.Rows(0, 20)
	err = w.Write(ctx, rec)
	rec.Release()
	if err != nil {
		b.Fatal(err)
	}
	one, err := w.Close()
	if err != nil || len(one) != 1 {
		b.Fatalf("seed file: %v (%d files)", err, len(one))
	}
	seedKey, err := table.FileKey(one[0].Add.Path)
	if err != nil {
		b.Fatal(err)
	}
	adds := make([]table.Action, n)
	for i := range n {
		a := *one[0].Add
		a.Path = fmt.Sprintf("part-%06d-%s", i, path.Base(seedKey))
		if err := bkt.Copy(ctx, a.Path, bkt, seedKey); err != nil {
			b.Fatal(err)
		}
		adds[i] = table.Action{Add: &a}
	}
	v, err := tbl.Commit(ctx, snap, &table.Commit{Actions: adds, Operation: "WRITE"})
	if err != nil {
		b.Fatal(err)
	}
	snap = rt.Latest(b, tbl)
	state := []table.Action{{Protocol: snap.Protocol()}, {MetaData: snap.Metadata()}}
	for _, f := range snap.Files() {
		state = append(state, table.Action{Add: f})
	}
	if err := table.WriteCheckpoint(ctx, bkt, v, state); err != nil {
		b.Fatal(err)
	}
	return tbl
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// streamOnly hides the backend of a bucket from Copy, so copies from it
// stream their bytes instead of linking (file://) or copying server-side.
type streamOnly struct{ storage.Bucket }
