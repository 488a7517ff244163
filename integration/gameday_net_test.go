package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/internal/faultproxy"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// gdWaitTable waits until a Delta table exists at url (reading it through
// the faulty network, so a failed attempt is retried).
func gdWaitTable(ctx context.Context, t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := storage.Open(ctx, url, nil)
		if err == nil {
			_, err = table.Open(ctx, b, nil)
			b.Close()
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no table at %s after %v: %v", storage.RedactURL(url), timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gdStorageRetries is the daemon's counter of storage operations retried
// after a transient failure.
const gdStorageRetries = "loglake_region_storage_retries_total"

// gdRegionsOn makes one region per entry of clouds ("s3", "gcs",
// "azure"), each with its landing prefix and regional table on that cloud's
// base URL in bases, all forwarding to the one central table.
func gdRegionsOn(t *testing.T, bases map[string]string, central string, names, clouds []string) []*rgRegion {
	t.Helper()
	var regs []*rgRegion
	for i, name := range names {
		r := rgNewRegions(t, UniqueURL(t, bases[clouds[i]]), name)[0]
		cfg, err := os.ReadFile(r.config)
		if err != nil {
			t.Fatal(err)
		}
		cfg = bytes.Replace(cfg, []byte("central: "+r.central+"\n"), []byte("central: "+central+"\n"), 1)
		if err := os.WriteFile(r.config, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		r.central, r.seed = central, uint64(1000*(i+1))
		regs = append(regs, r)
	}
	return regs
}

// gdMetricsAddr waits for the daemon's "metrics endpoint listening" log
// record and returns its address.
func gdMetricsAddr(t *testing.T, d *rgDaemon, timeout time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		data, _ := os.ReadFile(d.log)
		for _, l := range strings.Split(string(data), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "metrics endpoint listening" {
				return rec.Addr
			}
		}
	}
	t.Fatalf("%s: no 'metrics endpoint listening' record within %v", d.log, timeout)
	return ""
}

// gdOnce runs a one-shot loglake command and records its outcome.
type gdOnce struct {
	mu       sync.Mutex
	runs     int
	failures []string
}

func (o *gdOnce) run(bin string, args ...string) {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.runs++
	if err != nil {
		o.failures = append(o.failures, fmt.Sprintf("loglake %s: %v: %s", strings.Join(args[:min(len(args), 2)], " "), err, strings.TrimSpace(stderr.String())))
	}
}

// TestGameDayNetworkFaults is the game day "storage faults at the network
// level": three regions, one on each emulator, each emulator behind a fault
// proxy injecting on 5 % of requests (resets before and mid-response,
// SlowDown, stalls, latency, lost responses). While files land, the region
// daemons run (two instances of one region), and `egress --once`,
// `ingest --once` and `clone` (each region's table into another cloud) run
// beside them. Every one-shot command must succeed; afterwards every landed
// line is once in its regional table, every approved line once in central,
// every clone equals its source, and the daemons counted retries.
func TestGameDayNetworkFaults(t *testing.T) {
	seed := gdSeed(t)
	bin := loglakeBinary(t)
	net := gdStartProxies(t, seed, faultproxy.Options{Rate: 0.05, Stall: time.Second})
	ctx := context.Background()
	central := rgSub(UniqueURL(t, net.base["s3"]), "central")
	clouds := []string{"s3", "gcs", "azure"}
	regs := gdRegionsOn(t, net.base, central, []string{"eu-west", "us-east", "ap-south"}, clouds)
	// Each region's table is cloned into the next cloud.
	clones := make([]string, len(regs))
	for i := range regs {
		clones[i] = rgSub(UniqueURL(t, net.base[clouds[(i+1)%len(clouds)]]), "clone")
	}
	logDir := t.TempDir()
	var daemons []*rgDaemon
	defer func() {
		for _, d := range daemons {
			d.kill()
		}
		if t.Failed() {
			rgDumpLogs(t, logDir)
		}
	}()
	for i, r := range regs {
		daemons = append(daemons, rgStart(t, bin, r, logDir, i))
	}
	daemons = append(daemons, rgStart(t, bin, regs[0], logDir, len(regs))) // a second eu-west

	var once gdOnce
	const waves = 3
	for wave := range waves {
		for _, r := range regs {
			if err := r.land(ctx, 3); err != nil {
				t.Fatalf("landing wave %d in %s: %v", wave, r.name, err)
			}
		}
		if wave == 0 {
			// A daemon creates its regional table with its first batch
			// (nothing is created before there is data): clone a source
			// only once it exists.
			for _, r := range regs {
				gdWaitTable(ctx, t, r.table, 2*time.Minute)
			}
		}
		var wg sync.WaitGroup
		for i, r := range regs {
			wg.Go(func() { once.run(bin, "egress", "--config", r.config, "--once") })
			wg.Go(func() { once.run(bin, "clone", r.table, clones[i]) })
			if wave == 1 {
				wg.Go(func() {
					once.run(bin, "ingest", "--landing", r.landing, "--table", r.table, "--once", "--quiet")
				})
			}
		}
		wg.Wait()
		t.Logf("wave %d: %d one-shot commands so far, %d failed", wave, once.runs, len(once.failures))
	}
	centralB, err := storage.Open(ctx, central, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer centralB.Close()
	rgWaitConverged(ctx, t, centralB, regs, 3*time.Minute)

	// Retries are counted: together the daemons retried something (at 5 %
	// faults over thousands of requests) and exported it. A daemon that
	// retried nothing has no sample: the counter is a vector by location
	// and operation, and an empty vector is not exported.
	var retries float64
	exported := 0
	for _, d := range daemons {
		sum, ok, err := gdMetricSum(gdMetricsAddr(t, d, 30*time.Second), gdStorageRetries)
		if err != nil {
			t.Errorf("%s: scraping /metrics: %v", d.log, err)
		}
		if ok {
			exported++
		}
		retries += sum
	}
	if exported == 0 {
		t.Errorf("no daemon's /metrics has %s", gdStorageRetries)
	}
	requests, faults := net.report(t)

	// Last clone runs (still under faults), then compare without faults.
	var wg sync.WaitGroup
	for i, r := range regs {
		wg.Go(func() { once.run(bin, "clone", r.table, clones[i]) })
	}
	wg.Wait()
	for _, f := range once.failures {
		t.Errorf("one-shot command failed under faults: %s", f)
	}
	net.setRate(0)
	for i, d := range daemons {
		if err := d.term(60 * time.Second); err != nil {
			t.Errorf("daemon %d after SIGTERM: %v", i, err)
		}
	}
	daemons = nil
	for i, r := range regs {
		src := rt.Latest(t, openTable(t, openBucket(t, r.table)))
		dst := rt.Latest(t, openTable(t, openBucket(t, clones[i])))
		if dst.Version() != src.Version() {
			t.Errorf("clone of %s at version %d, source at %d", r.name, dst.Version(), src.Version())
		}
		rt.SameRows(t, src, dst)
	}
	t.Logf("network game day: %d requests, %d faults injected; %d one-shot commands, %d failed; daemons counted %.0f storage retries",
		requests, faults, once.runs, len(once.failures), retries)
	if faults < 20 {
		t.Errorf("only %d faults injected: the game day proved little", faults)
	}
	if retries == 0 {
		t.Errorf("the daemons counted no storage retry under %d faults", faults)
	}
}
