// Command ingestbench compares `loglake ingest --once` with DuckDB's
// COPY (FROM read_json(…)) TO … (FORMAT parquet, COMPRESSION zstd) on the
// shapes of package benchlogs. Fair by construction: each side runs in its
// own process (DuckDB in a re-executed copy of this program, through the
// pinned duckdb-go driver), both with the same thread count (GOMAXPROCS for
// loglake, SET threads for DuckDB), zstd at level 1 on both sides (loglake
// ingest's level; COMPRESSION_LEVEL 1 for DuckDB, whose default is 3; -level
// changes DuckDB's), row groups of 122,880 (DuckDB) and 131,072 (loglake) rows. Runs alternate
// which side goes first; the report gives medians of wall time and of
// CPU-seconds (user+sys from rusage), peak RSS and output sizes, and the
// speed ratio DuckDB/loglake per shape with the geometric mean.
//
//	go run ./internal/benchlogs/ingestbench -loglake bin/loglake -bytes 300000000 -runs 3
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/internal/benchlogs"
)

func main() {
	var (
		dataDir   = flag.String("data", filepath.Join(os.TempDir(), "loglake-benchlogs"), "where generated data sets are kept between runs")
		size      = flag.Int64("bytes", 300_000_000, "uncompressed bytes per shape")
		fileBytes = flag.Int64("file-bytes", 64<<20, "uncompressed bytes per landing file")
		runs      = flag.Int("runs", 3, "runs per side and shape (medians are reported)")
		shapeList = flag.String("shapes", "", "comma-separated shapes (default: all)")
		bin       = flag.String("loglake", "bin/loglake", "loglake binary")
		threads   = flag.Int("threads", 2, "threads for each side")
		level     = flag.Int("level", 1, "DuckDB's zstd COMPRESSION_LEVEL")
		duckCopy  = flag.Bool("duckdb-copy", false, "internal: run DuckDB's COPY on -glob into -out")
		glob      = flag.String("glob", "", "internal: input glob for -duckdb-copy")
		out       = flag.String("out", "", "internal: output file for -duckdb-copy")
	)
	flag.Parse()
	if *duckCopy {
		if err := runDuckDB(*glob, *out, *threads, *level); err != nil {
			fmt.Fprintln(os.Stderr, "ingestbench:", err)
			os.Exit(1)
		}
		return
	}
	shapes := benchlogs.Shapes()
	if *shapeList != "" {
		shapes = nil
		for _, name := range strings.Split(*shapeList, ",") {
			s, ok := benchlogs.ShapeByName(strings.TrimSpace(name))
			if !ok {
				fatalf("unknown shape %q", name)
			}
			shapes = append(shapes, s)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	binAbs, err := filepath.Abs(*bin)
	if err != nil {
		fatalf("%v", err)
	}
	work, err := os.MkdirTemp("", "ingestbench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(work)

	fmt.Printf("ingest vs DuckDB: %d threads each, %s per shape, %d runs per side (alternating), medians; DuckDB zstd level %d\n\n",
		*threads, human(*size), *runs, *level)
	var results []result
	for _, s := range shapes {
		dir, lines, err := dataset(*dataDir, s, *size, *fileBytes)
		if err != nil {
			fatalf("generating %s: %v", s.Name, err)
		}
		r := result{shape: s, lines: lines, stored: dirSize(dir)}
		for i := range *runs {
			sides := []func() error{
				func() error {
					m, err := runLoglake(binAbs, dir, filepath.Join(work, "table"), *threads, lines)
					r.ll = append(r.ll, m)
					return err
				},
				func() error {
					m, err := runDuck(self, dir, s.Ext(), filepath.Join(work, "duck.parquet"), *threads, *level, lines)
					r.dk = append(r.dk, m)
					return err
				},
			}
			if i%2 == 1 {
				slices.Reverse(sides)
			}
			for _, f := range sides {
				if err := f(); err != nil {
					fatalf("%s: %v", s.Name, err)
				}
			}
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%s done\n", s.Name)
	}
	report(results, *size)
}

type measure struct {
	wall, cpu time.Duration
	rss, out  int64
}

type result struct {
	shape         benchlogs.Shape
	lines, stored int64
	ll, dk        []measure
}

// dataset returns the directory of shape s at this size, generating it once.
func dataset(root string, s benchlogs.Shape, size, fileBytes int64) (string, int64, error) {
	dir := filepath.Join(root, fmt.Sprintf("%s-%d", s.Name, size))
	done := filepath.Join(dir, "_complete")
	if b, err := os.ReadFile(done); err == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return dir, n, err
	}
	os.RemoveAll(dir)
	start := time.Now()
	n, err := benchlogs.Generate(context.Background(), dir, s, size, fileBytes, 12, runtime.GOMAXPROCS(0))
	if err != nil {
		return "", 0, err
	}
	fmt.Fprintf(os.Stderr, "generated %s (%d lines) in %v\n", dir, n, time.Since(start).Round(time.Millisecond))
	return dir, n, os.WriteFile(done, []byte(strconv.FormatInt(n, 10)), 0o644)
}

// run executes cmd and measures it from the outside.
func run(cmd *exec.Cmd) (measure, []byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	m := measure{wall: time.Since(start)}
	if err != nil {
		return m, nil, fmt.Errorf("%s: %v: %s", cmd.Args[0], err, stderr.Bytes())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m.cpu = time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	m.rss = ru.Maxrss << 10
	return m, stdout.Bytes(), nil
}

func runLoglake(bin, landing, table string, threads int, lines int64) (measure, error) {
	os.RemoveAll(table)
	defer os.RemoveAll(table)
	cmd := exec.Command(bin, "ingest", "--landing", "file://"+landing, "--table", "file://"+table, "--once", "--quiet")
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(threads))
	m, out, err := run(cmd)
	if err != nil {
		return m, err
	}
	var sum struct{ Rows int64 }
	if err := json.Unmarshal(out, &sum); err != nil {
		return m, fmt.Errorf("loglake summary %q: %v", out, err)
	}
	if sum.Rows != lines {
		return m, fmt.Errorf("loglake wrote %d rows, the input has %d lines", sum.Rows, lines)
	}
	m.out = dirSize(table)
	return m, nil
}

func runDuck(self, landing, ext, out string, threads, level int, lines int64) (measure, error) {
	os.Remove(out)
	defer os.Remove(out)
	cmd := exec.Command(self, "-duckdb-copy", "-glob", filepath.Join(landing, "*"+ext), "-out", out, "-threads", strconv.Itoa(threads), "-level", strconv.Itoa(level))
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(threads))
	m, stdout, err := run(cmd)
	if err != nil {
		return m, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(stdout)), 10, 64)
	if err != nil || n != lines {
		return m, fmt.Errorf("DuckDB wrote %q rows, the input has %d lines", stdout, lines)
	}
	m.out = dirSize(out)
	return m, nil
}

// runDuckDB is the child process of the DuckDB side.
func runDuckDB(glob, out string, threads, level int) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("SET threads = %d", threads)); err != nil {
		return err
	}
	res, err := db.Exec(fmt.Sprintf(`COPY (FROM read_json('%s', format = 'newline_delimited')) TO '%s' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL %d)`, glob, out, level))
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	fmt.Println(n)
	return nil
}

func median(ms []measure, f func(measure) float64) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = f(m)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func report(rs []result, size int64) {
	wall := func(m measure) float64 { return m.wall.Seconds() }
	cpu := func(m measure) float64 { return m.cpu.Seconds() }
	rss := func(m measure) float64 { return float64(m.rss) / (1 << 20) }
	outMiB := func(m measure) float64 { return float64(m.out) / (1 << 20) }
	fmt.Println("| shape | input | lines | loglake wall / CPU-s / peak RSS / output | DuckDB wall / CPU-s / peak RSS / output | speed ratio by CPU-s | by wall |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	lc, lw := 0.0, 0.0
	for _, r := range rs {
		rc := median(r.dk, cpu) / median(r.ll, cpu)
		rw := median(r.dk, wall) / median(r.ll, wall)
		lc += math.Log(rc)
		lw += math.Log(rw)
		in := human(size)
		if r.shape.Compression != "" {
			in += " (" + human(r.stored) + " " + r.shape.Compression + ")"
		}
		fmt.Printf("| %s | %s | %d | %.2f s / %.2f / %.0f MiB / %.1f MiB | %.2f s / %.2f / %.0f MiB / %.1f MiB | **%.2f×** | %.2f× |\n",
			r.shape.Name, in, r.lines,
			median(r.ll, wall), median(r.ll, cpu), median(r.ll, rss), median(r.ll, outMiB),
			median(r.dk, wall), median(r.dk, cpu), median(r.dk, rss), median(r.dk, outMiB), rc, rw)
	}
	n := float64(len(rs))
	fmt.Printf("\ngeometric mean of the speed ratio (DuckDB time / loglake time; >1: loglake faster): by CPU-s %.2f×, by wall %.2f×\n",
		math.Exp(lc/n), math.Exp(lw/n))
	fmt.Println("\nshapes:")
	for _, r := range rs {
		fmt.Printf("  %-12s %s\n", r.shape.Name, r.shape.Desc)
	}
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%d B", n)
}

func dirSize(path string) int64 {
	var n int64
	filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ingestbench: "+format+"\n", args...)
	os.Exit(1)
}
