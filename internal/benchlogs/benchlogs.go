// Package benchlogs generates the service logs the ingest benchmark runs on.
// It is written independently of internal/loggen on purpose: a benchmark on
// the data of the generator the decoder was tuned against proves little. The
// shapes differ in what costs a decoder time: field order, message length,
// width of the nested attrs object, epoch numbers versus ISO text, missing
// and unknown fields, and compressed input.
//
// Output is deterministic: file i of a shape comes from its own random
// stream (seed, shape, i).
package benchlogs

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// Shape is one kind of log data set.
type Shape struct {
	// Name identifies the shape (a directory name).
	Name string
	// Desc says what the shape holds, for reports.
	Desc string
	// Compression is "", "gzip" or "zstd".
	Compression string
	line        func(g *gen, dst []byte) []byte
}

// Ext is the file name extension of the shape's files.
func (s Shape) Ext() string {
	switch s.Compression {
	case "gzip":
		return ".json.gz"
	case "zstd":
		return ".json.zst"
	}
	return ".json"
}

// Shapes returns every shape, in report order.
func Shapes() []Shape {
	return []Shape{
		{Name: "iso-nested", Desc: "ISO-8601 µs timestamps, 32-hex trace ids, small nested attrs, ~350 B lines", line: isoNested},
		{Name: "epoch-short", Desc: "epoch-millisecond numbers, short messages, field order varies per line, ~185 B lines", line: epochShort},
		{Name: "wide-attrs", Desc: "attrs with 12-30 keys (nested, mixed types), long messages with escapes and UTF-8, ~1.5 KB lines", line: wideAttrs},
		{Name: "sparse", Desc: "missing fields, shuffled order, unknown fields (rescued), zone offsets, nulls, ~225 B lines", line: sparse},
		{Name: "iso-gzip", Desc: "iso-nested lines, gzip files", Compression: "gzip", line: isoNested},
		{Name: "wide-zstd", Desc: "wide-attrs lines, zstd files", Compression: "zstd", line: wideAttrs},
	}
}

// ShapeByName returns the shape called name.
func ShapeByName(name string) (Shape, bool) {
	for _, s := range Shapes() {
		if s.Name == name {
			return s, true
		}
	}
	return Shape{}, false
}

// Generate writes about total uncompressed bytes of shape s into dir, in
// files of about fileBytes, using up to workers goroutines. It returns the
// number of lines written.
func Generate(ctx context.Context, dir string, s Shape, total, fileBytes int64, seed uint64, workers int) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	files := int(max((total+fileBytes-1)/fileBytes, 1))
	lines := make([]int64, files)
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(max(workers, 1))
	for i := range files {
		size := min(fileBytes, total-int64(i)*fileBytes)
		eg.Go(func() error {
			n, err := writeFile(ctx, filepath.Join(dir, fmt.Sprintf("part-%05d%s", i, s.Ext())), s, size, seed, i)
			lines[i] = n
			return err
		})
	}
	err := eg.Wait()
	var n int64
	for _, l := range lines {
		n += l
	}
	return n, err
}

func writeFile(ctx context.Context, path string, s Shape, size int64, seed uint64, idx int) (int64, error) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var w io.Writer = f
	var closer io.Closer
	switch s.Compression {
	case "gzip":
		zw := gzip.NewWriter(f)
		w, closer = zw, zw
	case "zstd":
		zw, err := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return 0, err
		}
		w, closer = zw, zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	h := fnv(s.Name)
	g := &gen{r: rand.New(rand.NewPCG(seed, h^uint64(idx)*0x9e3779b97f4a7c15)),
		// Each file covers its own hour range of one day, so ingest writes
		// a few date partitions overall, as hourly landing files do.
		t: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(idx) * 7 * time.Hour).UnixMicro()}
	var line []byte
	var written, n int64
	for written < size {
		if n%65536 == 0 && ctx.Err() != nil {
			return n, ctx.Err()
		}
		line = s.line(g, line[:0])
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return n, err
		}
		written += int64(len(line))
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	if closer != nil {
		if err := closer.Close(); err != nil {
			return n, err
		}
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	return n, os.Rename(path+".tmp", path)
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// gen is one file's random stream and clock.
type gen struct {
	r *rand.Rand
	t int64 // µs; advances a few ms per line
}

func (g *gen) tick() int64 {
	g.t += int64(g.r.IntN(4000))
	return g.t
}

func (g *gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

// level is skewed like real traffic: mostly INFO, some DEBUG/WARN, few ERROR.
func (g *gen) level(lower bool) string {
	x := g.r.IntN(100)
	l := "INFO"
	switch {
	case x < 12:
		l = "DEBUG"
	case x < 82:
	case x < 95:
		l = "WARN"
	default:
		l = "ERROR"
	}
	if lower {
		return strings.ToLower(l)
	}
	return l
}

func (g *gen) hex(dst []byte, n int) []byte {
	var b [16]byte
	for i := 0; i < n/2; i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8; j++ {
			b[j] = byte(v >> (8 * j))
		}
		dst = hex.AppendEncode(dst, b[:min(8, n/2-i)])
	}
	return dst
}

func (g *gen) host(dst []byte) []byte {
	dst = append(dst, "ip-10-"...)
	dst = strconv.AppendInt(dst, int64(g.r.IntN(8)), 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(g.r.IntN(40)), 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(g.r.IntN(250)), 10)
	return dst
}

var (
	services = []string{"checkout", "payments", "auth", "search", "catalog", "cart", "shipping", "notifications",
		"gateway", "inventory", "recommendations", "billing", "accounts", "media", "ledger", "fraud"}
	orgs    = []string{"org-acme", "org-globex", "org-initech", "org-umbrella", "org-hooli", "org-vandelay", "org-stark", "org-wayne"}
	methods = []string{"GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH"}
	routes  = []string{"/api/v1/orders", "/api/v1/orders/{id}", "/api/v2/cart", "/healthz", "/api/v1/users/{id}/sessions",
		"/api/v1/search", "/api/v1/payments/authorize", "/internal/metrics", "/api/v3/catalog/items"}
	verbs    = []string{"processed", "rejected", "retried", "queued", "completed", "timed out", "cached", "forwarded"}
	nouns    = []string{"request", "payment", "order", "session", "token refresh", "batch", "webhook", "cache lookup"}
	words    = []string{"upstream", "connection", "reset", "by", "peer", "while", "reading", "response", "header", "from", "pool", "exhausted", "retry", "after", "backoff", "deadline", "exceeded", "context", "canceled", "tls", "handshake", "failed", "for", "user", "tenant", "shard", "replica", "lagging", "behind", "primary"}
	regions  = []string{"us-east-1", "eu-west-1", "ap-south-1", "us-west-2"}
	versions = []string{"1.42.0", "1.42.1", "1.43.0-rc1", "2.0.3"}
)

func appendISO(dst []byte, us int64, sep byte, zone string) []byte {
	t := time.UnixMicro(us).UTC()
	if zone != "Z" {
		loc := time.FixedZone(zone, map[string]int{"+02:00": 7200, "-05:00": -18000, "+05:30": 19800}[zone])
		t = t.In(loc)
	}
	dst = t.AppendFormat(dst, "2006-01-02")
	dst = append(dst, sep)
	dst = t.AppendFormat(dst, "15:04:05.000000")
	if zone == "Z" {
		return append(dst, 'Z')
	}
	return append(dst, zone...)
}

func (g *gen) message(dst []byte, minWords, maxWords int, escapes bool) []byte {
	n := minWords + g.r.IntN(maxWords-minWords+1)
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, g.pick(words)...)
		if escapes && g.r.IntN(40) == 0 {
			switch g.r.IntN(4) {
			case 0:
				dst = append(dst, `\"quoted\"`...)
			case 1:
				dst = append(dst, `\n\tat com.example.Handler.run(Handler.java:`...)
				dst = strconv.AppendInt(dst, int64(g.r.IntN(900)), 10)
				dst = append(dst, ')')
			case 2:
				dst = append(dst, "café ü ✓"...)
			default:
				dst = append(dst, `C:\\temp\\x`...)
			}
		}
	}
	return dst
}

// isoNested: the shape of issue 12's measurement.
func isoNested(g *gen, d []byte) []byte {
	d = append(d, `{"ts":"`...)
	d = appendISO(d, g.tick(), 'T', "Z")
	d = append(d, `","level":"`...)
	d = append(d, g.level(false)...)
	d = append(d, `","service":"`...)
	d = append(d, g.pick(services)...)
	d = append(d, `","host":"`...)
	d = g.host(d)
	d = append(d, `","trace_id":"`...)
	d = g.hex(d, 32)
	d = append(d, `","org_id":"`...)
	d = append(d, g.pick(orgs)...)
	d = append(d, `","message":"`...)
	d = append(d, g.pick(methods)...)
	d = append(d, ' ')
	d = append(d, g.pick(routes)...)
	d = append(d, ' ')
	d = append(d, g.pick(verbs)...)
	d = append(d, " in "...)
	d = strconv.AppendInt(d, int64(g.r.IntN(2000)), 10)
	d = append(d, `ms","attrs":{"http":{"method":"`...)
	d = append(d, g.pick(methods)...)
	d = append(d, `","status":`...)
	d = strconv.AppendInt(d, int64([]int{200, 200, 200, 201, 204, 400, 404, 500, 503}[g.r.IntN(9)]), 10)
	d = append(d, `},"duration_ms":`...)
	d = strconv.AppendFloat(d, float64(g.r.IntN(200000))/100, 'f', -1, 64)
	d = append(d, `,"user_id":"u-`...)
	d = strconv.AppendInt(d, int64(g.r.IntN(1_000_000)), 10)
	d = append(d, `","region":"`...)
	d = append(d, g.pick(regions)...)
	d = append(d, `"},"egress_approved":`...)
	d = strconv.AppendBool(d, g.r.IntN(2) == 0)
	return append(d, '}')
}

// epochShort: numeric epoch-ms timestamps, short messages, three field
// orders, lower-case levels.
func epochShort(g *gen, d []byte) []byte {
	ts := g.tick() / 1000
	emit := func(d []byte, k int) []byte {
		switch k {
		case 0:
			d = append(d, `"ts":`...)
			d = strconv.AppendInt(d, ts, 10)
		case 1:
			d = append(d, `"level":"`...)
			d = append(d, g.level(true)...)
			d = append(d, '"')
		case 2:
			d = append(d, `"service":"`...)
			d = append(d, g.pick(services)...)
			d = append(d, '"')
		case 3:
			d = append(d, `"message":"`...)
			d = append(d, g.pick(nouns)...)
			d = append(d, ' ')
			d = append(d, g.pick(verbs)...)
			d = append(d, '"')
		case 4:
			d = append(d, `"host":"`...)
			d = g.host(d)
			d = append(d, '"')
		case 5:
			d = append(d, `"org_id":"`...)
			d = append(d, g.pick(orgs)...)
			d = append(d, '"')
		case 6:
			d = append(d, `"egress_approved":`...)
			d = strconv.AppendBool(d, g.r.IntN(3) != 0)
		case 7:
			d = append(d, `"trace_id":"`...)
			d = g.hex(d, 16)
			d = append(d, '"')
		}
		return d
	}
	orders := [3][8]int{{0, 1, 2, 3, 4, 5, 6, 7}, {1, 0, 3, 2, 5, 4, 7, 6}, {2, 4, 0, 1, 3, 7, 5, 6}}
	o := orders[g.r.IntN(3)]
	d = append(d, '{')
	for i, k := range o {
		if i > 0 {
			d = append(d, ',')
		}
		d = emit(d, k)
	}
	return append(d, '}')
}

// wideAttrs: long messages with escapes and a wide attrs object.
func wideAttrs(g *gen, d []byte) []byte {
	d = append(d, `{"ts":"`...)
	d = appendISO(d, g.tick(), 'T', "Z")
	d = append(d, `","service":"`...)
	d = append(d, g.pick(services)...)
	d = append(d, `","level":"`...)
	d = append(d, g.level(false)...)
	d = append(d, `","message":"`...)
	d = g.message(d, 20, 160, true)
	d = append(d, `","trace_id":"`...)
	d = g.hex(d, 32)
	d = append(d, `","host":"`...)
	d = g.host(d)
	d = append(d, `","attrs":{`...)
	n := 12 + g.r.IntN(19)
	for i := 0; i < n; i++ {
		if i > 0 {
			d = append(d, ',')
		}
		d = append(d, `"k`...)
		d = strconv.AppendInt(d, int64(i), 10)
		d = append(d, '_')
		d = append(d, g.pick(words)...)
		d = append(d, `":`...)
		switch g.r.IntN(6) {
		case 0:
			d = strconv.AppendInt(d, g.r.Int64N(1e9), 10)
		case 1:
			d = strconv.AppendFloat(d, g.r.Float64()*1000, 'g', 8, 64)
		case 2:
			d = strconv.AppendBool(d, g.r.IntN(2) == 0)
		case 3:
			d = append(d, `{"id":"`...)
			d = g.hex(d, 16)
			d = append(d, `","n":`...)
			d = strconv.AppendInt(d, int64(g.r.IntN(100)), 10)
			d = append(d, '}')
		case 4:
			d = append(d, `["`...)
			d = append(d, g.pick(regions)...)
			d = append(d, `","`...)
			d = append(d, g.pick(versions)...)
			d = append(d, `"]`...)
		default:
			d = append(d, '"')
			d = append(d, g.pick(words)...)
			d = append(d, '-')
			d = append(d, g.pick(words)...)
			d = append(d, '"')
		}
	}
	d = append(d, `},"org_id":"`...)
	d = append(d, g.pick(orgs)...)
	d = append(d, `","egress_approved":`...)
	d = strconv.AppendBool(d, g.r.IntN(2) == 0)
	return append(d, '}')
}

// sparse: fields present with different probabilities, shuffled, unknown
// fields that land in _rescued_data, zone offsets and space separators,
// explicit nulls.
func sparse(g *gen, d []byte) []byte {
	var order [10]int
	for i := range order {
		order[i] = i
	}
	g.r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	d = append(d, '{')
	first := true
	sep := func(d []byte) []byte {
		if !first {
			d = append(d, ',')
		}
		first = false
		return d
	}
	for _, k := range order {
		switch k {
		case 0: // always: a time
			d = sep(d)
			d = append(d, `"ts":"`...)
			sepc := byte('T')
			if g.r.IntN(4) == 0 {
				sepc = ' '
			}
			d = appendISO(d, g.tick(), sepc, []string{"Z", "Z", "+02:00", "-05:00", "+05:30"}[g.r.IntN(5)])
			d = append(d, '"')
		case 1:
			if g.r.IntN(10) < 9 {
				d = sep(d)
				d = append(d, `"level":"`...)
				d = append(d, g.level(g.r.IntN(2) == 0)...)
				d = append(d, '"')
			}
		case 2:
			if g.r.IntN(10) < 7 {
				d = sep(d)
				d = append(d, `"service":"`...)
				d = append(d, g.pick(services)...)
				d = append(d, '"')
			}
		case 3:
			d = sep(d)
			d = append(d, `"message":"`...)
			d = g.message(d, 3, 18, false)
			d = append(d, '"')
		case 4:
			if g.r.IntN(10) < 4 {
				d = sep(d)
				d = append(d, `"trace_id":"`...)
				d = g.hex(d, 32)
				d = append(d, '"')
			} else if g.r.IntN(4) == 0 {
				d = sep(d)
				d = append(d, `"trace_id":null`...)
			}
		case 5:
			if g.r.IntN(10) < 5 {
				d = sep(d)
				d = append(d, `"host":"`...)
				d = g.host(d)
				d = append(d, '"')
			}
		case 6:
			if g.r.IntN(10) < 2 {
				d = sep(d)
				d = append(d, `"org_id":"`...)
				d = append(d, g.pick(orgs)...)
				d = append(d, '"')
			}
		case 7: // unknown to the default schema: rescued
			if g.r.IntN(10) < 3 {
				d = sep(d)
				d = append(d, `"pid":`...)
				d = strconv.AppendInt(d, int64(1000+g.r.IntN(60000)), 10)
			}
		case 8:
			if g.r.IntN(10) < 3 {
				d = sep(d)
				d = append(d, `"attrs":{"retry":`...)
				d = strconv.AppendInt(d, int64(g.r.IntN(5)), 10)
				d = append(d, `,"peer":"`...)
				d = g.host(d)
				d = append(d, `"}`...)
			}
		case 9:
			if g.r.IntN(10) < 6 {
				d = sep(d)
				d = append(d, `"egress_approved":`...)
				d = strconv.AppendBool(d, g.r.IntN(2) == 0)
			}
		}
	}
	return append(d, '}')
}
