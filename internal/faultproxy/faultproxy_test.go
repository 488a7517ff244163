package faultproxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loglake/loglake/internal/faultproxy"
)

// backend is a stand-in service: it counts the requests it applied and
// answers GET with a 64 KiB body, PUT with an empty 200.
type backend struct {
	srv     *httptest.Server
	applied atomic.Int64
	host    atomic.Value // Host header of the last request
}

var payload = bytes.Repeat([]byte("0123456789abcdef"), 4096)

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		b.applied.Add(1)
		b.host.Store(r.Host)
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Length", fmt.Sprint(len(payload)))
			w.Write(payload)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func start(t *testing.T, target string, o faultproxy.Options) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// client opens a new connection per request so that no fault is hidden by
// net/http's retry of requests on reused connections.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// outcome is what a client saw for one request.
type outcome struct {
	reqErr  error // error before a response arrived
	status  int
	body    int   // body bytes read
	bodyErr error // error while reading the body
}

func do(t *testing.T, method, url string) outcome {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("data"))
	resp, err := client.Do(req)
	if err != nil {
		return outcome{reqErr: err}
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return outcome{status: resp.StatusCode, body: int(n), bodyErr: err}
}

// TestKinds injects each fault on every request and checks what the client
// and the service each saw.
func TestKinds(t *testing.T) {
	be := newBackend(t)
	isReset := func(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
	tests := []struct {
		kind    faultproxy.Kind
		method  string
		applied int64 // requests the service applied
		check   func(o outcome) error
	}{
		{faultproxy.ResetBefore, "GET", 0, func(o outcome) error {
			if !isReset(o.reqErr) {
				return fmt.Errorf("want a connection reset, got %+v", o)
			}
			return nil
		}},
		{faultproxy.SlowDown, "PUT", 0, func(o outcome) error {
			if o.reqErr != nil || (o.status != 503 && o.status != 500) {
				return fmt.Errorf("want 500 or 503, got %+v", o)
			}
			return nil
		}},
		{faultproxy.Stall, "GET", 0, func(o outcome) error {
			if !isReset(o.reqErr) {
				return fmt.Errorf("want a reset after the stall, got %+v", o)
			}
			return nil
		}},
		{faultproxy.Latency, "GET", 1, func(o outcome) error {
			if o.reqErr != nil || o.status != 200 || o.body != len(payload) || o.bodyErr != nil {
				return fmt.Errorf("want the whole response, got %+v", o)
			}
			return nil
		}},
		{faultproxy.CutBody, "GET", 1, func(o outcome) error {
			if o.status != 200 || o.body >= len(payload) || !errors.Is(o.bodyErr, io.ErrUnexpectedEOF) {
				return fmt.Errorf("want 200 and a body cut short (unexpected EOF), got %+v", o)
			}
			return nil
		}},
		{faultproxy.ResetBody, "GET", 1, func(o outcome) error {
			// The reset may overtake bytes still in flight; either way the
			// body is short and its read fails.
			if o.status != 200 || o.body >= len(payload) || o.bodyErr == nil {
				return fmt.Errorf("want 200 and a failed short body, got %+v", o)
			}
			return nil
		}},
		{faultproxy.CutBody, "PUT", 1, func(o outcome) error { // nothing to cut: the answer is lost
			if !isReset(o.reqErr) {
				return fmt.Errorf("want a reset, got %+v", o)
			}
			return nil
		}},
		{faultproxy.LostReset, "PUT", 1, func(o outcome) error {
			if !isReset(o.reqErr) {
				return fmt.Errorf("want a reset, got %+v", o)
			}
			return nil
		}},
		{faultproxy.Lost500, "PUT", 1, func(o outcome) error {
			if o.reqErr != nil || o.status != 500 {
				return fmt.Errorf("want 500, got %+v", o)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"-"+tt.method, func(t *testing.T) {
			p := start(t, be.srv.URL, faultproxy.Options{Rate: 1, Kinds: []faultproxy.Kind{tt.kind},
				Stall: 50 * time.Millisecond, MaxLatency: 20 * time.Millisecond})
			before := be.applied.Load()
			o := do(t, tt.method, p.URL()+"/bucket/key")
			if err := tt.check(o); err != nil {
				t.Error(err)
			}
			if got := be.applied.Load() - before; got != tt.applied {
				t.Errorf("service applied %d requests, want %d", got, tt.applied)
			}
			st := p.Stats()
			if st.Requests != 1 || st.Total() != 1 {
				t.Errorf("stats %v, want 1 request and 1 fault", st)
			}
		})
	}
}

// TestPassThrough: with rate 0 responses are the service's, byte for byte,
// and the client's Host header reaches the service (S3 signs it).
func TestPassThrough(t *testing.T) {
	be := newBackend(t)
	p := start(t, be.srv.URL, faultproxy.Options{})
	for range 20 {
		if o := do(t, "GET", p.URL()+"/k"); o.reqErr != nil || o.status != 200 || o.body != len(payload) || o.bodyErr != nil {
			t.Fatalf("rate 0: %+v", o)
		}
	}
	if h := be.host.Load(); h != p.Addr() {
		t.Errorf("service saw Host %v, want the proxy's %s", h, p.Addr())
	}
	if st := p.Stats(); st.Requests != 20 || st.Total() != 0 {
		t.Errorf("stats %v", st)
	}
}

// TestSeedReplays: the same seed gives the same faults for the same request
// sequence, another seed other faults, and the rate is about right.
func TestSeedReplays(t *testing.T) {
	be := newBackend(t)
	run := func(seed uint64) (string, faultproxy.Stats) {
		var log strings.Builder
		p := start(t, be.srv.URL, faultproxy.Options{Seed: seed, Rate: 0.2,
			Stall: time.Millisecond, MaxLatency: time.Millisecond,
			OnFault: func(n int64, k faultproxy.Kind, method, path string) {
				fmt.Fprintf(&log, "%d:%s:%s ", n, k, path)
			}})
		for i := range 300 {
			method := "GET"
			if i%3 == 0 {
				method = "PUT"
			}
			do(t, method, fmt.Sprintf("%s/k%d", p.URL(), i))
		}
		return log.String(), p.Stats()
	}
	a, sa := run(7)
	b, sb := run(7)
	c, _ := run(8)
	if a != b {
		t.Errorf("seed 7 twice gave different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 gave the same faults: %s", a)
	}
	if n := sa.Total(); n < 30 || n > 90 {
		t.Errorf("%d faults in 300 requests at rate 0.2", n)
	}
	if fmt.Sprint(sa) != fmt.Sprint(sb) {
		t.Errorf("stats differ: %v vs %v", sa, sb)
	}
	for _, k := range faultproxy.AllKinds {
		if k != faultproxy.CutBody && k != faultproxy.ResetBody && sa.Faults[k] == 0 {
			t.Errorf("no %s fault in 300 requests: %v", k, sa)
		}
	}
	t.Logf("seed 7: %v", sa)
}

// TestStartRejectsBadTarget: only http://host:port targets.
func TestStartRejectsBadTarget(t *testing.T) {
	for _, target := range []string{"", "127.0.0.1:7070", "https://x", "http://"} {
		if p, err := faultproxy.Start(target, faultproxy.Options{}); err == nil {
			p.Close()
			t.Errorf("Start(%q) accepted", target)
		}
	}
}

// TestFailNext: a burst hits exactly the next n matching requests.
func TestFailNext(t *testing.T) {
	be := newBackend(t)
	p := start(t, be.srv.URL, faultproxy.Options{})
	p.FailNext(3, faultproxy.Lost500, func(method, path string) bool { return method == "PUT" })
	var got []int
	for i := range 8 {
		method := "GET"
		if i%2 == 1 {
			method = "PUT"
		}
		got = append(got, do(t, method, p.URL()+"/k").status)
	}
	if want := "[200 500 200 500 200 500 200 200]"; fmt.Sprint(got) != want {
		t.Errorf("statuses %v, want %s", got, want)
	}
	if st := p.Stats(); st.Faults[faultproxy.Lost500] != 3 || be.applied.Load() != 8 {
		t.Errorf("stats %v, %d applied; want 3 lost-500 and all 8 applied", st, be.applied.Load())
	}
}
