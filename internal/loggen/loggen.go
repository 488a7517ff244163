// Package loggen generates realistic, deterministic NDJSON service logs for
// tests, demos and benchmarks: ~300-byte lines with nested attrs objects,
// mixed levels, services, hosts, trace and org ids, egress_approved about
// half true, timestamps spread over a configurable span, and optionally a
// fraction of malformed lines of every class ingest must rescue.
//
// Output is a pure function of Options: file i is generated from its own
// random stream (Seed, i), so files can be generated in parallel and any
// one of them regenerated alone.
package loggen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/loglake/loglake/storage"
)

// Options describe a generated landing data set. The zero value generates
// one uncompressed 1 MiB file with seed 0 and no malformed lines.
type Options struct {
	// Seed makes the output reproducible.
	Seed uint64
	// Files is the number of files (default 1).
	Files int
	// FileBytes is the uncompressed size each file grows to, in bytes
	// (default 1 MiB). A file ends after the line that reaches it.
	FileBytes int64
	// Compression is "" (none), "gzip" or "zstd"; it sets the key suffix.
	Compression string
	// Malformed is the fraction of lines in [0,1] that are bad input:
	// broken JSON, plain text, invalid UTF-8, wrong types, unknown fields.
	Malformed float64
	// Start is the earliest event time (default 2026-11-24T00:00:00Z).
	Start time.Time
	// Span is the time range events cover (default 48h). File i covers the
	// i-th slice of it, in order.
	Span time.Duration
	// Prefix is a folder every key goes under (e.g. "landing" or
	// "landing/"); may be "".
	Prefix string
}

func (o Options) withDefaults() Options {
	if o.Files <= 0 {
		o.Files = 1
	}
	if o.FileBytes <= 0 {
		o.FileBytes = 1 << 20
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	}
	if o.Span <= 0 {
		o.Span = 48 * time.Hour
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/" // a folder, not the start of the first segment's name
	}
	if o.Compression == "none" {
		o.Compression = ""
	}
	return o
}

// Stats count what was generated.
type Stats struct {
	Files     int   `json:"files"`
	Lines     int64 `json:"lines"`
	Malformed int64 `json:"malformed"` // lines that are not a well-formed, well-typed record
	Bytes     int64 `json:"bytes"`     // uncompressed
	Stored    int64 `json:"stored"`    // bytes written to storage (compressed)
}

func (s *Stats) add(o Stats) {
	s.Files += o.Files
	s.Lines += o.Lines
	s.Malformed += o.Malformed
	s.Bytes += o.Bytes
	s.Stored += o.Stored
}

// Generator produces the files of one data set.
type Generator struct {
	o Options
}

// New returns a generator for opts.
func New(opts Options) (*Generator, error) {
	o := opts.withDefaults()
	switch o.Compression {
	case "", "gzip", "zstd":
	default:
		return nil, fmt.Errorf("loggen: unknown compression %q (want gzip, zstd or none)", o.Compression)
	}
	if o.Malformed < 0 || o.Malformed > 1 {
		return nil, fmt.Errorf("loggen: malformed fraction %v not in [0,1]", o.Malformed)
	}
	return &Generator{o: o}, nil
}

// Options returns the generator's options with defaults applied.
func (g *Generator) Options() Options { return g.o }

var services = []string{"api", "checkout", "search", "auth", "billing-legacy", "payments", "inventory", "notifier"}
var levels = []string{"DEBUG", "INFO", "INFO", "INFO", "INFO", "INFO", "WARN", "ERROR"}
var methods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
var paths = []string{"/api/v1/orders", "/api/v1/users", "/api/v2/search", "/healthz", "/api/v1/carts", "/login", "/api/v1/payments"}
var agents = []string{"Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5.0", "okhttp/4.12.0", "Go-http-client/2.0", "python-requests/2.32"}
var regions = []string{"eu-west-1", "us-east-1", "ap-south-1"}
var words = []string{"request", "completed", "user", "cache", "miss", "retrying", "upstream", "timeout", "order", "created",
	"payment", "authorized", "café", "naïve", "☕", "résumé", "日本語", "\"quoted\"", "back\\slash", "tab\there", "line\nbreak", "emoji 🚀"}

// FileKey returns the key of file i: service=S/date=D/hour=H/part-NNNNN.json[.gz|.zst].
func (g *Generator) FileKey(i int) string {
	t := g.fileStart(i)
	svc := services[i%len(services)]
	ext := ".json"
	switch g.o.Compression {
	case "gzip":
		ext += ".gz"
	case "zstd":
		ext += ".zst"
	}
	return fmt.Sprintf("%sservice=%s/date=%s/hour=%02d/part-%05d%s", g.o.Prefix, svc, t.Format(time.DateOnly), t.Hour(), i, ext)
}

func (g *Generator) fileStart(i int) time.Time {
	slice := g.o.Span / time.Duration(g.o.Files)
	return g.o.Start.Add(time.Duration(i) * slice)
}

// WriteFile writes the uncompressed content of file i to w.
func (g *Generator) WriteFile(w io.Writer, i int) (Stats, error) {
	r := rand.New(rand.NewPCG(g.o.Seed, uint64(i)+1))
	svc := services[i%len(services)]
	start := g.fileStart(i)
	slice := g.o.Span / time.Duration(g.o.Files)
	// About 300 bytes a line: spread the lines evenly over the slice.
	nLines := max(g.o.FileBytes/300, 1)
	step := slice / time.Duration(nLines)
	var st Stats
	st.Files = 1
	buf := make([]byte, 0, 1024)
	ts := start
	for st.Bytes < g.o.FileBytes {
		ts = ts.Add(step/2 + time.Duration(r.Int64N(int64(step)+1)))
		buf = buf[:0]
		bad := g.o.Malformed > 0 && r.Float64() < g.o.Malformed
		if bad {
			buf = appendBad(buf, r, svc, ts)
			st.Malformed++
		} else {
			buf = appendLine(buf, r, svc, ts)
		}
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return st, err
		}
		st.Lines++
		st.Bytes += int64(len(buf))
	}
	return st, nil
}

func hexID(b []byte, r *rand.Rand, n int) []byte {
	const digits = "0123456789abcdef"
	for range n {
		b = append(b, digits[r.IntN(16)])
	}
	return b
}

// appendLine appends one well-formed record.
func appendLine(b []byte, r *rand.Rand, svc string, ts time.Time) []byte {
	b = append(b, `{"ts":`...)
	if svc == "billing-legacy" {
		// A legacy service logs epoch milliseconds.
		b = strconv.AppendInt(b, ts.UnixMilli(), 10)
	} else {
		b = append(b, '"')
		b = ts.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, '"')
	}
	level := levels[r.IntN(len(levels))]
	b = append(b, `,"level":"`...)
	b = append(b, level...)
	b = append(b, `","service":"`...)
	b = append(b, svc...)
	b = append(b, `","host":"ip-10-`...)
	b = strconv.AppendInt(b, int64(r.IntN(4)), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(r.IntN(32)), 10)
	b = append(b, '.')
	b = append(b, regions[r.IntN(len(regions))]...)
	b = append(b, `.internal","trace_id":"`...)
	b = hexID(b, r, 32)
	b = append(b, `","org_id":"org-`...)
	b = fmt.Appendf(b, "%05d", r.IntN(500))
	method, p := methods[r.IntN(len(methods))], paths[r.IntN(len(paths))]
	status := 200
	switch x := r.IntN(20); {
	case level == "ERROR" || x == 0:
		status = 500 + r.IntN(4)
	case x < 3:
		status = 400 + r.IntN(5)
	}
	dur := float64(r.IntN(200000)) / 100
	id := r.IntN(1000000)
	b = append(b, `","message":`...)
	msg := fmt.Sprintf("%s %s/%d %d %.2fms", method, p, id, status, dur)
	if r.IntN(4) == 0 {
		msg += " " + words[r.IntN(len(words))] + " " + words[r.IntN(len(words))]
	}
	b = strconv.AppendQuote(b, msg)
	b = append(b, `,"egress_approved":`...)
	b = strconv.AppendBool(b, r.IntN(2) == 0)
	b = append(b, `,"attrs":{"http":{"method":"`...)
	b = append(b, method...)
	b = append(b, `","path":"`...)
	b = append(b, p...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `},"duration_ms":`...)
	b = strconv.AppendFloat(b, dur, 'f', 2, 64)
	b = append(b, `,"user_agent":"`...)
	b = append(b, agents[r.IntN(len(agents))]...)
	b = append(b, `","span_id":"`...)
	b = hexID(b, r, 16)
	b = append(b, `","retry":`...)
	b = strconv.AppendInt(b, int64(r.IntN(3)), 10)
	b = append(b, "}}"...)
	return b
}

// appendBad appends one line from the bad-input classes.
func appendBad(b []byte, r *rand.Rand, svc string, ts time.Time) []byte {
	switch r.IntN(6) {
	case 0: // truncated JSON
		line := appendLine(nil, r, svc, ts)
		return append(b, line[:len(line)/2]...)
	case 1: // plain text
		return fmt.Appendf(b, "%s panic: runtime error: index out of range [%d] with length 0", ts.Format(time.RFC3339), r.IntN(9))
	case 2: // invalid UTF-8 inside a string
		line := appendLine(nil, r, svc, ts)
		i := bytes.Index(line, []byte(`"message":"`)) + len(`"message":"`)
		return append(append(append(b, line[:i]...), 0xff, 0xfe, 'x'), line[i:]...)
	case 3: // wrong type for a known field
		line := appendLine(nil, r, svc, ts)
		return append(b, bytes.Replace(line, []byte(`"egress_approved":`), []byte(`"egress_approved":"maybe","x_was":`), 1)...)
	case 4: // unknown extra field (well-formed, but rescued)
		line := appendLine(nil, r, svc, ts)
		b = append(b, line[:len(line)-1]...)
		return fmt.Appendf(b, `,"unexpected_field":{"n":%d,"s":"extra"}}`, r.IntN(100))
	default: // a JSON value that is not an object
		return fmt.Appendf(b, `["not","an","object",%d]`, r.IntN(100))
	}
}

// Encode writes file i, compressed as configured, to w.
func (g *Generator) Encode(w io.Writer, i int) (Stats, error) {
	cw := &countWriter{w: w}
	var st Stats
	var err error
	switch g.o.Compression {
	case "gzip":
		zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
		st, err = g.WriteFile(zw, i)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	case "zstd":
		zw, zerr := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if zerr != nil {
			return st, zerr
		}
		st, err = g.WriteFile(zw, i)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	default:
		st, err = g.WriteFile(cw, i)
	}
	st.Stored = cw.n
	return st, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Generate writes every file to b, using up to parallel goroutines
// (<= 0: 1). Existing keys are overwritten.
func (g *Generator) Generate(ctx context.Context, b storage.Bucket, parallel int, progress func(Stats)) (Stats, error) {
	parallel = max(parallel, 1)
	var (
		mu    sync.Mutex
		total Stats
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				pr, pw := io.Pipe()
				var st Stats
				done := make(chan struct{})
				go func() {
					defer close(done)
					var err error
					st, err = g.Encode(pw, i)
					pw.CloseWithError(err)
				}()
				err := b.Upload(ctx, g.FileKey(i), pr)
				pr.CloseWithError(err) // stops the encoder if the upload failed
				<-done
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("loggen: file %s: %w", g.FileKey(i), err)
				}
				total.add(st)
				if progress != nil {
					progress(st)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range g.o.Files {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return total, first
}

// Lines returns every line of the data set, in file order, without their
// newlines: what a test expects to find ingested.
func (g *Generator) Lines() ([][]byte, error) {
	var lines [][]byte
	for i := range g.o.Files {
		var buf bytes.Buffer
		if _, err := g.WriteFile(&buf, i); err != nil {
			return nil, err
		}
		for l := range bytes.Lines(buf.Bytes()) {
			lines = append(lines, bytes.TrimSuffix(l, []byte{'\n'}))
		}
	}
	return lines, nil
}

// GenerateLines writes the data set of opts to b (parallel files at once)
// and returns its lines (Lines): the landing a test ingests, and what it
// expects to find.
func GenerateLines(ctx context.Context, b storage.Bucket, opts Options, parallel int) ([][]byte, error) {
	g, err := New(opts)
	if err != nil {
		return nil, err
	}
	if _, err := g.Generate(ctx, b, parallel, nil); err != nil {
		return nil, err
	}
	return g.Lines()
}

// LineKey identifies a generated line: trace_id|message for a JSON object
// with valid UTF-8 (it becomes a row), else its raw bytes (a rescued line).
func LineKey(line []byte) string {
	var m map[string]any
	if utf8.Valid(line) && json.Unmarshal(line, &m) == nil && m != nil {
		return fmt.Sprintf("row:%v|%v", m["trace_id"], m["message"])
	}
	return "raw:" + string(line)
}
