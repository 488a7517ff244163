// Package faultproxy is an HTTP reverse proxy that injects network faults
// between a storage client and a storage service (or its emulator): resets
// before and during a response, 500/503 SlowDown answers, stalls, added
// latency, and faults after the service has applied the request (lost
// responses). The game-day tests put it in front of the S3, GCS and Azure
// emulators to check that loglake stays exact when the network is not.
//
// Faults are drawn from a rand seeded with Options.Seed, one draw per
// request in arrival order, so a run with the same seed and the same
// request order makes the same decisions. Concurrent clients make the
// arrival order vary; the seed still fixes the fault rate and mix.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is a kind of injected fault.
type Kind string

// The faults the proxy injects. "Before" faults never reach the service;
// "after" faults reach it, so the request was applied but the client does
// not learn it.
const (
	// ResetBefore resets the connection without forwarding the request.
	ResetBefore Kind = "reset-before"
	// SlowDown answers 503 SlowDown (or 500 InternalError) without
	// forwarding, in the service's error format.
	SlowDown Kind = "slowdown"
	// Stall holds the request for Options.Stall, then resets the
	// connection without forwarding: a timeout as a load balancer gives it.
	Stall Kind = "stall"
	// Latency delays the request by up to Options.MaxLatency, then forwards
	// it normally.
	Latency Kind = "latency"
	// CutBody forwards the request and sends the response's headers and a
	// part of its body, then closes the connection.
	CutBody Kind = "cut-body"
	// ResetBody is CutBody ending with a reset instead of a close.
	ResetBody Kind = "reset-body"
	// LostReset forwards the request (the service applies it) and resets
	// the connection instead of answering.
	LostReset Kind = "lost-reset"
	// Lost500 forwards the request (the service applies it) and answers
	// 500 InternalError instead of the service's response.
	Lost500 Kind = "lost-500"
)

// AllKinds lists every fault kind.
var AllKinds = []Kind{ResetBefore, SlowDown, Stall, Latency, CutBody, ResetBody, LostReset, Lost500}

// Flavor selects the error format of injected 500/503 answers.
type Flavor string

// Error formats.
const (
	S3    Flavor = "s3"    // XML <Error><Code>SlowDown</Code>…
	GCS   Flavor = "gcs"   // JSON {"error":{…}} on the JSON API, XML elsewhere
	Azure Flavor = "azure" // XML with the x-ms-error-code header
)

// Options configures a Proxy. The zero value forwards everything.
type Options struct {
	// Seed seeds the fault draws.
	Seed uint64
	// Rate is the probability in [0,1] that a request gets a fault.
	Rate float64
	// Kinds are the faults to draw from, uniformly; nil: AllKinds.
	Kinds []Kind
	// Flavor is the service's error format; "": S3.
	Flavor Flavor
	// Stall is how long a Stall fault holds a request; 0: 2s.
	Stall time.Duration
	// MaxLatency bounds a Latency fault's delay; 0: 300ms.
	MaxLatency time.Duration
	// TargetHost sends the target's host:port as the Host header instead of
	// the client's, for services that route by Host (fake-gcs-server serves
	// downloads only on its own host). Leave it off for S3: SigV4 signs Host.
	TargetHost bool
	// OnFault, if set, is called for each fault as it is injected, with the
	// request's arrival number (1-based). CutBody and ResetBody on a
	// response without a body are injected (and reported) as LostReset.
	OnFault func(n int64, k Kind, method, path string)
}

// Stats counts what a Proxy did.
type Stats struct {
	Requests int64          // requests received
	Faults   map[Kind]int64 // faults injected, by kind
}

// Total is the number of faults injected.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// String formats the stats for a test log, kinds in AllKinds order.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d faults", s.Requests, s.Total())
	for _, k := range AllKinds {
		if n := s.Faults[k]; n > 0 {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	return b.String()
}

// Proxy is a running fault-injecting reverse proxy on 127.0.0.1.
type Proxy struct {
	opts   Options
	target *url.URL
	ln     net.Listener
	srv    *http.Server

	mu    sync.Mutex
	rng   *rand.Rand
	rate  float64
	n     int64
	burst burst

	faults sync.Map // Kind -> *atomic.Int64
}

// Start listens on a free port of 127.0.0.1 and forwards to target (an
// http:// base URL such as "http://127.0.0.1:7070").
func Start(target string, opts Options) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an http://host:port URL", target)
	}
	if opts.Kinds == nil {
		opts.Kinds = AllKinds
	}
	if opts.Flavor == "" {
		opts.Flavor = S3
	}
	if opts.Stall <= 0 {
		opts.Stall = 2 * time.Second
	}
	if opts.MaxLatency <= 0 {
		opts.MaxLatency = 300 * time.Millisecond
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{opts: opts, target: u, ln: ln, rng: rand.New(rand.NewPCG(opts.Seed, 0x6661756c74)), rate: opts.Rate}
	quiet := log.New(io.Discard, "", 0) // aborted copies are the point, not news
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			if !opts.TargetHost {
				// Keep the client's Host: S3 signs it (SigV4) and the
				// service checks the signature against what it receives.
				pr.Out.Host = pr.In.Host
			}
		},
		Transport:      &faultTransport{rt: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       quiet,
		// Flush every write: otherwise the head of a cut response can sit
		// in the server's buffer and be discarded with the connection, and
		// the client would see no response at all instead of a cut one.
		FlushInterval: -1,
	}
	p.srv = &http.Server{
		Handler:  p.handler(rp),
		ErrorLog: quiet,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	go p.srv.Serve(ln)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's base URL, "http://127.0.0.1:port".
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// SetRate changes the fault rate, e.g. to 0 to let a test check results
// through the same proxy without faults.
func (p *Proxy) SetRate(r float64) {
	p.mu.Lock()
	p.rate = r
	p.mu.Unlock()
}

// Stats returns what the proxy has done so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	s := Stats{Requests: p.n, Faults: map[Kind]int64{}}
	p.mu.Unlock()
	p.faults.Range(func(k, v any) bool {
		s.Faults[k.(Kind)] = v.(*atomic.Int64).Load()
		return true
	})
	return s
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error { return p.srv.Close() }

// burst is a run of faults forced on the next matching requests.
type burst struct {
	n     int
	kind  Kind
	match func(method, path string) bool
}

// FailNext gives the next n requests that match (nil: every request) the
// fault k, whatever the rate: a burst long enough to outlast an SDK's own
// retries, so that the caller's handling of the error is what is tested.
// The seeded draws go on meanwhile, so the rest of the run is unchanged.
func (p *Proxy) FailNext(n int, k Kind, match func(method, path string) bool) {
	p.mu.Lock()
	p.burst = burst{n: n, kind: k, match: match}
	p.mu.Unlock()
}

type connKey struct{}
type faultKey struct{}

// fault is the decision for one request.
type fault struct {
	n     int64
	kind  Kind    // "" for none
	param float64 // in [0,1): where to cut, how long to wait, 500 or 503
}

func (p *Proxy) draw(r *http.Request) fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	f := fault{n: p.n}
	// Always draw the same number of values, so one request's decision does
	// not shift the next one's.
	hit, which, param := p.rng.Float64(), p.rng.IntN(len(p.opts.Kinds)), p.rng.Float64()
	switch {
	case p.burst.n > 0 && (p.burst.match == nil || p.burst.match(r.Method, r.URL.Path)):
		p.burst.n--
		f.kind, f.param = p.burst.kind, param
	case hit < p.rate:
		f.kind, f.param = p.opts.Kinds[which], param
	}
	return f
}

func (p *Proxy) count(f fault, k Kind, r *http.Request) {
	v, _ := p.faults.LoadOrStore(k, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if p.opts.OnFault != nil {
		p.opts.OnFault(f.n, k, r.Method, r.URL.Path)
	}
}

func (p *Proxy) handler(rp *httputil.ReverseProxy) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.draw(r)
		switch f.kind {
		case ResetBefore:
			p.count(f, f.kind, r)
			reset(r.Context())
		case SlowDown:
			p.count(f, f.kind, r)
			p.writeError(w, r, f.param < 0.5)
			return
		case Stall:
			p.count(f, f.kind, r)
			sleep(r.Context(), p.opts.Stall)
			reset(r.Context())
		case Latency:
			p.count(f, f.kind, r)
			sleep(r.Context(), time.Duration(f.param*float64(p.opts.MaxLatency)))
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), faultKey{}, f)))
	})
}

func faultOf(ctx context.Context) fault {
	f, _ := ctx.Value(faultKey{}).(fault)
	return f
}

// reset aborts the request's connection with a TCP RST (SO_LINGER 0), so
// the client sees "connection reset by peer" rather than a clean close.
func reset(ctx context.Context) {
	if c, ok := ctx.Value(connKey{}).(*net.TCPConn); ok {
		c.SetLinger(0)
	}
	panic(http.ErrAbortHandler)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// errLost is returned by faultTransport for a request the service applied
// whose response is to be lost.
var errLost = errors.New("faultproxy: response lost")

// faultTransport forwards requests and drops the response of those drawn
// for a lost-response fault (after the service has fully answered).
type faultTransport struct{ rt http.RoundTripper }

func (t *faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	switch faultOf(r.Context()).kind {
	case LostReset, Lost500:
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errLost
	}
	return resp, nil
}

// modifyResponse cuts the body of responses drawn for a body fault. A
// response without a body has nothing to cut: its headers are lost instead.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	f := faultOf(resp.Request.Context())
	if f.kind != CutBody && f.kind != ResetBody {
		return nil
	}
	if resp.Request.Method == http.MethodHead || resp.ContentLength == 0 {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return errNoBody
	}
	n := int64(0)
	if resp.ContentLength > 0 {
		n = int64(f.param * float64(resp.ContentLength)) // < ContentLength
	} else {
		n = int64(f.param * 4096) // chunked: cut within the first chunk or so
	}
	req := resp.Request
	resp.Body = &cutReader{r: resp.Body, left: n, reset: f.kind == ResetBody, ctx: req.Context(),
		onCut: func() { p.count(f, f.kind, req) }}
	return nil
}

var errNoBody = errors.New("faultproxy: no body to cut")

// cutReader ends a response body after left bytes; ReverseProxy then aborts
// the connection (http.ErrAbortHandler), so the client sees the declared
// length unmet.
type cutReader struct {
	r     io.ReadCloser
	left  int64
	reset bool
	ctx   context.Context
	onCut func() // called once, when the cut happens (a short body may end first)
}

func (c *cutReader) Read(b []byte) (int, error) {
	if c.left <= 0 {
		if c.onCut != nil {
			c.onCut()
			c.onCut = nil
		}
		if c.reset {
			if conn, ok := c.ctx.Value(connKey{}).(*net.TCPConn); ok {
				conn.SetLinger(0)
			}
		}
		return 0, errCut
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.r.Read(b)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.r.Close() }

var errCut = errors.New("faultproxy: body cut")

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	f := faultOf(r.Context())
	switch {
	case errors.Is(err, errLost) && f.kind == Lost500:
		p.count(f, Lost500, r)
		p.writeError(w, r, true)
	case errors.Is(err, errLost), errors.Is(err, errNoBody):
		p.count(f, LostReset, r)
		reset(r.Context())
	default:
		// The service itself is unreachable: say so as a gateway would.
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
	}
}

// writeError answers as the service does when it is overloaded (503
// SlowDown / ServerBusy) or failing (500 InternalError).
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, internal bool) {
	status, code, msg := http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."
	if internal {
		status, code, msg = http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."
	}
	h := w.Header()
	var body string
	switch {
	case p.opts.Flavor == GCS && (strings.HasPrefix(r.URL.Path, "/storage/") || strings.HasPrefix(r.URL.Path, "/upload/")):
		reason := "backendError"
		if !internal {
			reason = "rateLimitExceeded"
		}
		h.Set("Content-Type", "application/json; charset=UTF-8")
		body = fmt.Sprintf(`{"error":{"code":%d,"message":%q,"errors":[{"reason":%q,"message":%q}]}}`, status, msg, reason, msg)
	case p.opts.Flavor == Azure:
		if !internal {
			code = "ServerBusy"
		}
		h.Set("x-ms-error-code", code)
		h.Set("Content-Type", "application/xml")
		body = fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
	default:
		h.Set("Content-Type", "application/xml")
		body = fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, code, msg)
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}
