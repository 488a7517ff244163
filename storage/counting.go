package storage

import (
	"context"
	"errors"
	"io"
	"maps"
	"sync"
)

// Request kinds, as an object store bills and rate-limits them. A count of
// these per operation is the figure that carries from an emulator to a real
// cloud (latency does not).
const (
	KindGet    = "GET"    // Get, NewReader
	KindHead   = "HEAD"   // Stat
	KindPut    = "PUT"    // Put, PutIfAbsent, Upload
	KindList   = "LIST"   // one per page of a listing
	KindDelete = "DELETE" // Delete
	KindCopy   = "COPY"   // Copy
)

// Outcomes of a counted call besides success.
const (
	OutcomeOK       = ""
	OutcomeNotFound = "notfound" // ErrNotFound: a probe that found nothing
	OutcomeExists   = "exists"   // ErrExists: a lost put-if-absent
	OutcomeError    = "error"    // any other failure
)

// CountKey is what a call is counted under.
type CountKey struct {
	Kind    string // Kind* constant
	Group   string // from the Counting's group function ("" without one)
	Outcome string // Outcome* constant
}

// Counts are request counts by CountKey.
type Counts map[CountKey]int64

// Sum adds up the counts whose key matches: an empty field of match matches
// any value, except Outcome, which must equal match.Outcome unless
// anyOutcome is set.
func (c Counts) Sum(match CountKey, anyOutcome bool) int64 {
	var n int64
	for k, v := range c {
		if (match.Kind == "" || k.Kind == match.Kind) && (match.Group == "" || k.Group == match.Group) &&
			(anyOutcome || k.Outcome == match.Outcome) {
			n += v
		}
	}
	return n
}

// Sub returns c minus old, key by key (for counting one phase of a run).
func (c Counts) Sub(old Counts) Counts {
	out := maps.Clone(c)
	for k, v := range old {
		out[k] -= v
		if out[k] == 0 {
			delete(out, k)
		}
	}
	return out
}

// Counting wraps a Bucket and counts its calls as object-store requests by
// kind, key group and outcome, for benchmarks and tests that state what an
// operation costs in requests. A listing is counted as one LIST per page of
// listPageSize objects, as S3, GCS and Azure page them. Safe for concurrent
// use.
type Counting struct {
	inner Bucket
	group func(key string) string

	mu     sync.Mutex
	counts Counts
}

// NewCounting returns b wrapped with request counting. group, if not nil,
// names the group a key is counted under (e.g. log files vs data files);
// for a List the key is the listing prefix.
func NewCounting(b Bucket, group func(key string) string) *Counting {
	return &Counting{inner: b, group: group, counts: Counts{}}
}

// Counts returns a copy of the counts so far.
func (c *Counting) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Unwrap returns the wrapped bucket.
func (c *Counting) Unwrap() Bucket { return c.inner }

func (c *Counting) count(kind, key string, n int64, err error) {
	k := CountKey{Kind: kind}
	if c.group != nil {
		k.Group = c.group(key)
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		k.Outcome = OutcomeNotFound
	case errors.Is(err, ErrExists):
		k.Outcome = OutcomeExists
	default:
		k.Outcome = OutcomeError
	}
	c.mu.Lock()
	c.counts[k] += n
	c.mu.Unlock()
}

// URL returns the wrapped bucket's URL.
func (c *Counting) URL() string { return c.inner.URL() }

// Get implements Bucket.
func (c *Counting) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := c.inner.Get(ctx, key)
	c.count(KindGet, key, 1, err)
	return data, err
}

// NewReader implements Bucket: one GET per reader, whatever its reads.
func (c *Counting) NewReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := c.inner.NewReader(ctx, key, offset, length)
	c.count(KindGet, key, 1, err)
	return rc, err
}

// Stat implements Bucket.
func (c *Counting) Stat(ctx context.Context, key string) (Object, error) {
	o, err := c.inner.Stat(ctx, key)
	c.count(KindHead, key, 1, err)
	return o, err
}

// Put implements Bucket.
func (c *Counting) Put(ctx context.Context, key string, data []byte) error {
	err := c.inner.Put(ctx, key, data)
	c.count(KindPut, key, 1, err)
	return err
}

// PutIfAbsent implements Bucket.
func (c *Counting) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	err := c.inner.PutIfAbsent(ctx, key, data)
	c.count(KindPut, key, 1, err)
	return err
}

// Upload implements Bucket.
func (c *Counting) Upload(ctx context.Context, key string, r io.Reader) error {
	err := c.inner.Upload(ctx, key, r)
	c.count(KindPut, key, 1, err)
	return err
}

// Delete implements Bucket.
func (c *Counting) Delete(ctx context.Context, key string) error {
	err := c.inner.Delete(ctx, key)
	c.count(KindDelete, key, 1, err)
	return err
}

// Copy implements Bucket.
func (c *Counting) Copy(ctx context.Context, dstKey string, src Bucket, srcKey string) error {
	err := c.inner.Copy(ctx, dstKey, src, srcKey)
	c.count(KindCopy, dstKey, 1, err)
	return err
}

// List implements Bucket. The first page is counted when the listing
// starts, each further page when its first object is returned.
func (c *Counting) List(ctx context.Context, prefix, startAfter string) ListIterator {
	c.count(KindList, prefix, 1, nil)
	return &countingIterator{c: c, prefix: prefix, it: c.inner.List(ctx, prefix, startAfter)}
}

type countingIterator struct {
	c      *Counting
	prefix string
	it     ListIterator
	n      int
}

func (ci *countingIterator) Next(ctx context.Context) (Object, error) {
	o, err := ci.it.Next(ctx)
	if err == nil {
		if ci.n > 0 && ci.n%listPageSize == 0 {
			ci.c.count(KindList, ci.prefix, 1, nil)
		}
		ci.n++
	}
	return o, err
}

// Close implements Bucket.
func (c *Counting) Close() error { return c.inner.Close() }
