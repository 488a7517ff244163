package integration

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/internal/faultproxy"
	rt "github.com/loglake/loglake/replicate/replicatetest"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/tabletest"
)

// Game days (issue 8) as tests: the storage network misbehaving under the
// pipeline (gameday_net_test.go), kill -9 at random points across the
// whole pipeline (gameday_kill_test.go) and credentials kept out of every
// output (gameday_secrets_test.go). This file has their shared harness: the
// seed every randomized test prints and takes back for a replay, and the
// fault-injecting proxies in front of the emulators.

// EnvGameDaySeed replays a randomized game day: set it to the seed the test
// printed. Unset, each run draws a new seed.
const EnvGameDaySeed = "LOGLAKE_GAMEDAY_SEED"

// gdSeed returns the seed of a randomized test and prints how to replay it.
func gdSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv(EnvGameDaySeed); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", EnvGameDaySeed, s, err)
		}
		t.Logf("seed %d (from %s)", seed, EnvGameDaySeed)
		return seed
	}
	var b [8]byte
	rand.Read(b[:])
	seed := binary.LittleEndian.Uint64(b[:]) >> 1 // fits an int64 flag too
	t.Logf("seed %d (replay: %s=%d go test ./integration -run '^%s$')", seed, EnvGameDaySeed, seed, strings.SplitN(t.Name(), "/", 2)[0])
	return seed
}

// gdNet is the three cloud emulators behind fault proxies.
type gdNet struct {
	proxies map[string]*faultproxy.Proxy // by backend name: s3, gcs, azure
	// base holds each backend's base URL through its proxy.
	base map[string]string
}

// gdStartProxies puts a fault proxy in front of each emulator and points
// this process (and the loglake processes it starts, which inherit its
// environment) at the proxies: S3 through the endpoint in the URL, GCS
// through STORAGE_EMULATOR_HOST, Azure through AZURE_STORAGE_DOMAIN. Each
// proxy draws from its own seed derived from seed.
func gdStartProxies(t *testing.T, seed uint64, o faultproxy.Options) *gdNet {
	t.Helper()
	n := &gdNet{proxies: map[string]*faultproxy.Proxy{}, base: map[string]string{}}
	start := func(name, target string, flavor faultproxy.Flavor, i uint64) *faultproxy.Proxy {
		po := o
		po.Seed, po.Flavor, po.TargetHost = seed+i, flavor, flavor == faultproxy.GCS
		p, err := faultproxy.Start(target, po)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		n.proxies[name] = p
		return p
	}
	s3URL, err := url.Parse(os.Getenv(EnvS3URL))
	if err != nil {
		t.Fatal(err)
	}
	q := s3URL.Query()
	p := start("s3", q.Get("endpoint"), faultproxy.S3, 1)
	q.Set("endpoint", p.URL())
	s3URL.RawQuery = q.Encode()
	n.base["s3"] = s3URL.String()

	p = start("gcs", "http://"+os.Getenv("STORAGE_EMULATOR_HOST"), faultproxy.GCS, 2)
	t.Setenv("STORAGE_EMULATOR_HOST", p.Addr())
	n.base["gcs"] = os.Getenv(EnvGCSURL)

	p = start("azure", os.Getenv("AZURE_STORAGE_PROTOCOL")+"://"+os.Getenv("AZURE_STORAGE_DOMAIN"), faultproxy.Azure, 3)
	t.Setenv("AZURE_STORAGE_DOMAIN", p.Addr())
	n.base["azure"] = os.Getenv(EnvAzureURL)
	return n
}

// setRate changes every proxy's fault rate.
func (n *gdNet) setRate(r float64) {
	for _, p := range n.proxies {
		p.SetRate(r)
	}
}

// report logs each proxy's counts and returns the total faults injected.
func (n *gdNet) report(t *testing.T) (requests, faults int64) {
	t.Helper()
	for _, name := range []string{"s3", "gcs", "azure"} {
		st := n.proxies[name].Stats()
		t.Logf("proxy %s: %v", name, st)
		requests += st.Requests
		faults += st.Total()
	}
	return requests, faults
}

// gdMetricSum scrapes a Prometheus text endpoint and sums the samples of
// the named metric (all label sets). ok is false if the metric is absent.
func gdMetricSum(addr, name string) (sum float64, ok bool, err error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.e+-]+)$`)
	for _, m := range re.FindAllStringSubmatch(string(text), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return 0, false, err
		}
		sum += v
		ok = true
	}
	if !ok && strings.Contains(string(text), "# TYPE "+name+" ") {
		ok = true // declared, no sample yet (a vector with no label set used)
	}
	return sum, ok, nil
}

// TestGameDayCutResponses is the regression test of issue 8 defect 8.
//
// "burst" forces runs of faults on S3 longer than the SDK's own three
// attempts, so the error reaches loglake's retry layer: a listing whose body
// is cut (before the fix: "deserialization failed, failed to decode response
// body, unexpected EOF", classified permanent, and the command failed), a
// table open over cut reads, and commits whose data upload and whose
// put-if-absent commit each lose their response (the commit must land
// exactly once: the table recognises its own commit by its txnId).
//
// "mix" runs concurrent writers and readers on each emulator with 15 % of
// responses cut mid-body, reset mid-body or lost after the service applied
// the request: every commit lands once, every read is exact.
func TestGameDayCutResponses(t *testing.T) {
	seed := gdSeed(t)
	cut := []faultproxy.Kind{faultproxy.CutBody, faultproxy.ResetBody, faultproxy.LostReset, faultproxy.Lost500}
	net := gdStartProxies(t, seed, faultproxy.Options{Kinds: cut})
	ctx := context.Background()
	open := func(t *testing.T, name string) (storage.Bucket, *atomic.Int64) {
		var retries atomic.Int64
		opts := &storage.Options{OnRetry: func(string, string, int, error) { retries.Add(1) }}
		b, err := storage.Open(ctx, UniqueURL(t, net.base[name]), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, &retries
	}

	t.Run("burst", func(t *testing.T) {
		p := net.proxies["s3"]
		b, retries := open(t, "s3")
		tbl := tabletest.Create(t, b, nil)
		tabletest.Append(t, tbl, 0, 10, &table.Commit{Operation: "WRITE", AppID: "gameday:burst", AppVersion: 1})
		const sdkAttempts = 3 // the AWS SDK's default retryer
		isList := func(method, path string) bool { return method == "GET" && !strings.Contains(path, "_delta_log/0") }
		isLog := func(method, path string) bool { return method == "PUT" && strings.Contains(path, "/_delta_log/") }
		isData := func(method, path string) bool { return method == "PUT" && strings.Contains(path, ".parquet") }
		steps := []struct {
			name  string
			kind  faultproxy.Kind
			match func(method, path string) bool
			do    func() error
		}{
			{"cut listing", faultproxy.CutBody, isList, func() error {
				it := b.List(ctx, "_delta_log/", "")
				n := 0
				for {
					_, err := it.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
					n++
				}
				if n != 2 {
					return fmt.Errorf("listed %d commits, want 2", n)
				}
				return nil
			}},
			{"reset reads on open", faultproxy.ResetBody, nil, func() error {
				_, err := table.Open(ctx, b, nil)
				return err
			}},
			{"lost data upload responses", faultproxy.LostReset, isData, func() error {
				rec := tabletest.Rows(10, 10)
				defer rec.Release()
				_, err := tbl.Append(ctx, []arrow.Record{rec}, &table.Commit{Operation: "WRITE", AppID: "gameday:burst", AppVersion: 2})
				return err
			}},
			{"lost commit responses", faultproxy.Lost500, isLog, func() error {
				rec := tabletest.Rows(20, 10)
				defer rec.Release()
				_, err := tbl.Append(ctx, []arrow.Record{rec}, &table.Commit{Operation: "WRITE", AppID: "gameday:burst", AppVersion: 3})
				return err
			}},
			{"reset commit responses", faultproxy.LostReset, isLog, func() error {
				rec := tabletest.Rows(30, 10)
				defer rec.Release()
				_, err := tbl.Append(ctx, []arrow.Record{rec}, &table.Commit{Operation: "WRITE", AppID: "gameday:burst", AppVersion: 4})
				return err
			}},
		}
		for _, s := range steps {
			before, retried := p.Stats().Faults[s.kind], retries.Load()
			p.FailNext(sdkAttempts+1, s.kind, s.match)
			if err := s.do(); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
			p.FailNext(0, "", nil)
			if got := p.Stats().Faults[s.kind] - before; got != sdkAttempts+1 {
				t.Errorf("%s: %d faults injected, want %d", s.name, got, sdkAttempts+1)
			}
			if retries.Load() == retried {
				t.Errorf("%s: loglake's retry layer saw no failure: the SDK absorbed the burst, the test proved nothing", s.name)
			}
		}
		snap := rt.Latest(t, openTable(t, b))
		if snap.Version() != 4 {
			t.Errorf("version %d, want 4: a commit was duplicated or lost", snap.Version())
		}
		if ids := tabletest.IDs(t, snap, ""); fmt.Sprint(ids) != fmt.Sprint(seqIDs(0, 40)) {
			t.Errorf("ids %v, want 0..39 once each", ids)
		}
		t.Logf("s3 bursts: %v; %d retries by loglake's retry layer", p.Stats(), retries.Load())
	})

	t.Run("mix", func(t *testing.T) {
		for _, name := range []string{"s3", "gcs", "azure"} {
			t.Run(name, func(t *testing.T) {
				b, retries := open(t, name)
				tabletest.Create(t, b, nil) // Create is not under test here
				p := net.proxies[name]
				before := p.Stats()
				p.SetRate(0.15)
				defer p.SetRate(0)

				const writers, commits, rows = 2, 3, 10
				var wg sync.WaitGroup
				errs := make(chan error, writers*commits)
				for w := range writers {
					wg.Go(func() {
						tbl, err := table.Open(ctx, b, nil)
						if err != nil {
							errs <- fmt.Errorf("writer %d: open: %w", w, err)
							return
						}
						for c := range commits {
							rec := tabletest.Rows(int64((w*commits+c)*rows), rows)
							_, err := tbl.Append(ctx, []arrow.Record{rec}, &table.Commit{Operation: "WRITE", AppID: fmt.Sprintf("gameday:w%d", w), AppVersion: int64(c + 1)})
							rec.Release()
							if err != nil {
								errs <- fmt.Errorf("writer %d commit %d: %w", w, c, err)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				// Read back through the faults with a fresh table.
				tbl, err := table.Open(ctx, b, nil)
				if err != nil {
					t.Fatalf("open under faults: %v", err)
				}
				snap := rt.Latest(t, tbl)
				if snap.Version() != writers*commits {
					t.Errorf("version %d, want %d: a commit was duplicated or lost", snap.Version(), writers*commits)
				}
				for w := range writers {
					if v, ok := snap.AppVersion(fmt.Sprintf("gameday:w%d", w)); !ok || v != commits {
						t.Errorf("writer %d txn = %d %v, want %d", w, v, ok, commits)
					}
				}
				if ids := tabletest.IDs(t, snap, ""); fmt.Sprint(ids) != fmt.Sprint(seqIDs(0, writers*commits*rows)) {
					t.Errorf("ids %v, want 0..%d once each", ids, writers*commits*rows-1)
				}
				st := p.Stats()
				faults := st.Total() - before.Total()
				t.Logf("%s: %d requests, %d faults injected, %d retries by loglake's retry layer (proxy so far: %v)", name, st.Requests-before.Requests, faults, retries.Load(), st)
				if faults == 0 {
					t.Errorf("no fault was injected: the test proved nothing")
				}
			})
		}
	})
}
