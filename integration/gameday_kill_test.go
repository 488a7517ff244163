package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
)

// gdKillWorld is what the kill game day's processes work on.
type gdKillWorld struct {
	regs   []*rgRegion
	clones [][2]string // source, destination
}

func (w *gdKillWorld) region(rnd *rand.Rand) *rgRegion { return w.regs[rnd.IntN(len(w.regs))] }

// gdKillTarget is one kind of process the kill game day starts and kills.
type gdKillTarget struct {
	name string
	// weight is the target's share of the trials, relative to the others.
	weight int
	// instances is the most processes of this kind started at once with the
	// same arguments (several daemons of one region, racing clones).
	instances int
	// maxDelay bounds the random time from start to SIGKILL until a process
	// of this kind has been seen to end on its own; from then on the kill is
	// drawn within that observed run time, so that it lands mid-work even
	// when the tables are small enough for a one-shot command to finish fast.
	maxDelay time.Duration
	// oneShot commands that end on their own before the kill must exit 0.
	oneShot bool
	args    func(w *gdKillWorld, rnd *rand.Rand) []string
}

// gdKillTargets are the processes killed at random points. Adding a command
// to the game day is one line here.
var gdKillTargets = []gdKillTarget{
	{"run", 3, 3, 2000 * time.Millisecond, false, func(w *gdKillWorld, rnd *rand.Rand) []string {
		return []string{"run", "--config", w.region(rnd).config}
	}},
	{"egress --once", 1, 2, 700 * time.Millisecond, true, func(w *gdKillWorld, rnd *rand.Rand) []string {
		return []string{"egress", "--config", w.region(rnd).config, "--once"}
	}},
	{"clone", 2, 2, 700 * time.Millisecond, true, func(w *gdKillWorld, rnd *rand.Rand) []string {
		c := w.clones[rnd.IntN(len(w.clones))]
		return []string{"clone", c[0], c[1]}
	}},
	{"optimize", 1, 2, 700 * time.Millisecond, true, func(w *gdKillWorld, rnd *rand.Rand) []string {
		return []string{"optimize", w.region(rnd).table}
	}},
	{"vacuum", 1, 1, 300 * time.Millisecond, true, func(w *gdKillWorld, rnd *rand.Rand) []string {
		return []string{"vacuum", w.region(rnd).table}
	}},
	// Not `delete`: it removes rows by design, which "every landed line
	// once" would count as a loss; its crash safety is table's to test.
}

// EnvGameDayTrials overrides the number of kill trials (default 100).
const EnvGameDayTrials = "LOGLAKE_GAMEDAY_TRIALS"

// TestGameDayKill9 is the game day "kill -9 across the whole pipeline":
// region daemons (up to three instances of one region at once), `egress
// --once`, clones, `optimize` and `vacuum` are started and SIGKILLed at
// random points, trial
// after trial, while files land. Each trial prints its seed (the master
// seed plus its number) and what it did; LOGLAKE_GAMEDAY_SEED replays the
// sequence of choices (the kill lands wherever the processes are by then).
// Afterwards, with one daemon per region left to finish, every landed line
// is once in its regional table and every approved line once in central,
// and every clone, rerun to completion, equals its source.
func TestGameDayKill9(t *testing.T) {
	seed := gdSeed(t)
	trials := 100
	if s := os.Getenv(EnvGameDayTrials); s != "" {
		var err error
		if trials, err = strconv.Atoi(s); err != nil {
			t.Fatalf("%s=%q: %v", EnvGameDayTrials, s, err)
		}
	}
	bin := loglakeBinary(t)
	ctx := context.Background()
	// Regions on file:// keep a trial cheap; central and one clone are on
	// the S3 emulator so that cloud put-if-absent is under the kills too.
	central := rgSub(UniqueURL(t, os.Getenv(EnvS3URL)), "central")
	regs := gdRegionsOn(t, map[string]string{"file": fileURL(t.TempDir())}, central,
		[]string{"eu-west", "us-east", "ap-south"}, []string{"file", "file", "file"})
	w := &gdKillWorld{regs: regs, clones: [][2]string{
		{regs[0].table, rgSub(UniqueURL(t, os.Getenv(EnvS3URL)), "clone-eu-west")},
		{central, rgSub(fileURL(t.TempDir()), "clone-central")},
	}}
	logDir := t.TempDir()
	// The tables exist before the first trial, so that a clone or an
	// egress that ends on its own has no reason to fail.
	for _, r := range regs {
		if err := r.land(ctx, 2); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := run(t, "ingest", "--landing", r.landing, "--table", r.table, "--once", "--quiet"); code != 0 {
			t.Fatalf("ingest --once %s: exit %d: %s%s", r.name, code, out, errOut)
		}
		if out, errOut, code := run(t, "egress", "--config", r.config, "--once"); code != 0 {
			t.Fatalf("egress --once %s: exit %d: %s%s", r.name, code, out, errOut)
		}
	}

	began := time.Now()
	type tally struct{ trials, started, killed, exited int }
	byTarget := map[string]*tally{}
	// ranFor is, per target, how long its last process that ended on its
	// own ran: the window the next kill is drawn in.
	ranFor := map[string]time.Duration{}
	var failures []string
	procs := 0
	for i := range trials {
		tseed := seed + uint64(i)
		rnd := rand.New(rand.NewPCG(tseed, 0))
		if i%3 == 2 {
			r := regs[(i/3)%len(regs)]
			if err := r.land(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		tg := gdPickTarget(rnd)
		n := 1 + rnd.IntN(tg.instances)
		args := tg.args(w, rnd)
		window := tg.maxDelay
		if d, ok := ranFor[tg.name]; ok {
			window = max(d, time.Millisecond)
		}
		delay := time.Duration(rnd.Int64N(int64(window)))
		var ps []*gdProc
		for range n {
			procs++
			ps = append(ps, gdStartProc(t, bin, filepath.Join(logDir, fmt.Sprintf("%03d-%d.log", i, procs)), args))
		}
		time.Sleep(delay)
		killed := 0
		for _, p := range ps {
			running, err := p.kill()
			if running {
				killed++
				continue
			}
			ranFor[tg.name] = p.ran
			if tg.oneShot && err != nil {
				failures = append(failures, fmt.Sprintf("trial %d (seed %d): loglake %s exited on its own with %v: %s",
					i, tseed, strings.Join(args, " "), err, p.tail()))
			}
		}
		tl := byTarget[tg.name]
		if tl == nil {
			tl = &tally{}
			byTarget[tg.name] = tl
		}
		tl.trials++
		tl.started += n
		tl.killed += killed
		tl.exited += n - killed
		t.Logf("trial %d seed %d: %s ×%d, SIGKILL after %v (%d still running)", i, tseed, tg.name, n, delay.Round(time.Millisecond), killed)
	}
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d trials took %v", trials, time.Since(began).Round(time.Millisecond))
	began = time.Now()

	// Recovery: one daemon per region finishes the work.
	var daemons []*rgDaemon
	for i, r := range regs {
		daemons = append(daemons, rgStart(t, bin, r, logDir, 1000+i))
	}
	defer func() {
		for _, d := range daemons {
			d.kill()
		}
		if t.Failed() {
			rgDumpLogs(t, logDir)
		}
	}()
	centralB, err := storage.Open(ctx, central, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer centralB.Close()
	rgWaitConverged(ctx, t, centralB, regs, 3*time.Minute)
	t.Logf("recovery converged in %v", time.Since(began).Round(time.Millisecond))
	for i, d := range daemons {
		if err := d.term(60 * time.Second); err != nil {
			t.Errorf("daemon %d after SIGTERM: %v", i, err)
		}
	}
	daemons = nil
	// Every clone, rerun to completion after all those kills, equals its source.
	for _, c := range w.clones {
		if out, errOut, code := run(t, "clone", c[0], c[1]); code != 0 {
			t.Fatalf("clone %s %s after the kills: exit %d: %s%s", c[0], c[1], code, out, errOut)
		}
		src := rt.Latest(t, openTable(t, openBucket(t, c[0])))
		dst := rt.Latest(t, openTable(t, openBucket(t, c[1])))
		if dst.Version() != src.Version() {
			t.Errorf("clone %s at version %d, source at %d", c[1], dst.Version(), src.Version())
		}
		rt.SameRows(t, src, dst)
	}
	var lines, approved int64
	for _, r := range regs {
		lines += r.lines
		approved += r.approved
	}
	var summary []string
	killedTotal := 0
	for _, tg := range gdKillTargets {
		if tl := byTarget[tg.name]; tl != nil {
			summary = append(summary, fmt.Sprintf("%s: %d trials, %d processes, %d killed running, %d had exited", tg.name, tl.trials, tl.started, tl.killed, tl.exited))
			killedTotal += tl.killed
		}
	}
	t.Logf("kill game day: %d trials, %d processes, %d SIGKILLed while running; %d lines landed, %d approved, all exactly once; %d clones equal to their sources\n  %s",
		trials, procs, killedTotal, lines, approved, len(w.clones), strings.Join(summary, "\n  "))
	if trials >= 100 && killedTotal < trials/2 {
		t.Errorf("only %d of %d processes were still running at the kill: the trials prove little", killedTotal, procs)
	}
}

// gdPickTarget draws a kill target by weight.
func gdPickTarget(rnd *rand.Rand) gdKillTarget {
	total := 0
	for _, tg := range gdKillTargets {
		total += tg.weight
	}
	n := rnd.IntN(total)
	for _, tg := range gdKillTargets {
		if n < tg.weight {
			return tg
		}
		n -= tg.weight
	}
	panic("unreachable")
}

// gdProc is one loglake process of the kill game day.
type gdProc struct {
	cmd  *exec.Cmd
	done chan error
	log  string
	ran  time.Duration // from start to exit; set before done is sent
}

func gdStartProc(t *testing.T, bin, logFile string, args []string) *gdProc {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gdProc{cmd: cmd, done: make(chan error, 1), log: logFile}
	started := time.Now()
	go func() {
		err := cmd.Wait()
		p.ran = time.Since(started)
		p.done <- err
		f.Close()
	}()
	return p
}

// kill SIGKILLs the process if it is still running and waits for it.
// running says whether the kill ended it; otherwise err is how it exited.
func (p *gdProc) kill() (running bool, err error) {
	select {
	case err := <-p.done:
		return false, err
	default:
	}
	p.cmd.Process.Kill()
	err = <-p.done
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		return true, nil // ended by our signal
	}
	return false, err // it exited just before the signal
}

// tail is the last lines of the process's output.
func (p *gdProc) tail() string {
	data, _ := os.ReadFile(p.log)
	lines := strings.Split(string(bytes.TrimSpace(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}
