//go:build linux

// Package rsstest measures the peak resident memory of the real loglake
// binary: tests that hold a command to a memory budget (ingest, optimize)
// build it once, run it as a child process and read the child's rusage, so
// the number is the whole process's, runtime and C allocations included.
package rsstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Budget is the peak RSS the issues allow a 2 GiB ingest or OPTIMIZE.
const Budget = 512 << 20

// Build compiles cmd/loglake into a temporary directory of t and returns
// the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loglake")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/loglake/loglake/cmd/loglake")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building loglake: %v\n%s", err, out)
	}
	return bin
}

// Result is what a child run printed and used.
type Result struct {
	Stdout, Stderr []byte
	Elapsed        time.Duration
	PeakRSS        int64         // bytes (rusage maxrss)
	CPU            time.Duration // user + system
}

// Run runs bin with args to completion and fails t if it does not exit 0.
func Run(ctx context.Context, t testing.TB, bin string, args ...string) Result {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("loglake %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return Result{
		Stdout: stdout.Bytes(), Stderr: stderr.Bytes(),
		Elapsed: time.Since(start),
		PeakRSS: ru.Maxrss << 10, // KiB on Linux
		CPU:     time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)),
	}
}

// Size is the byte count in the environment variable env, def when it is
// unset; t fails on anything but a count of at least 64 MiB.
func Size(t testing.TB, env string, def int64) int64 {
	t.Helper()
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 64<<20 {
		t.Fatalf("%s=%q: want a byte count of at least 64 MiB", env, s)
	}
	return n
}

// MiB renders a byte count in MiB.
func MiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// LoadAvg is the 1/5/15-minute load average, for the log of a measurement
// taken on a shared machine.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
