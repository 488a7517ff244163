package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cenkalti/backoff/v4"
)

// Wrapper is implemented by Buckets that wrap another Bucket (the retry
// layer, Faulty). Copy uses it to find the backend under the wrappers.
type Wrapper interface {
	Unwrap() Bucket
}

// unwrapBucket strips wrappers down to the backend Bucket.
func unwrapBucket(b Bucket) Bucket {
	for {
		w, ok := b.(Wrapper)
		if !ok {
			return b
		}
		b = w.Unwrap()
	}
}

// WithRetry returns b with transient failures retried according to
// opts.Retry (nil: DefaultRetry). Open applies it already; it is exported
// so tests can put it over a Faulty bucket.
//
// Only ErrTransient is retried; ErrExists, ErrNotFound, ErrPermanent and
// context errors are returned at once.
//
// A PutIfAbsent whose first attempt landed but whose response was lost is
// retried and then sees ErrExists, which is returned as is: the caller
// cannot tell "I lost the race" from "my own earlier attempt won" without
// reading the object, and a Delta commit does exactly that (it compares the
// stored commit with its own before treating ErrExists as a conflict).
//
// Upload rewinds a reader that is an io.Seeker; any other reader is replayed
// from the bytes the failed attempt consumed, kept up to
// Options.UploadReplay. A reader from NewReader
// is resumed at the failed position when a Read fails transiently.
func WithRetry(b Bucket, opts *Options) Bucket {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Retry = o.Retry.withDefaults()
	o.Logger = opts.logger()
	return &retryBucket{inner: b, opts: o}
}

type retryBucket struct {
	inner Bucket
	opts  Options
}

// Unwrap returns the bucket under the retry layer.
func (r *retryBucket) Unwrap() Bucket { return r.inner }

func (r *retryBucket) newBackOff() *backoff.ExponentialBackOff {
	p := r.opts.Retry
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = p.InitialInterval
	bo.MaxInterval = p.MaxInterval
	bo.MaxElapsedTime = p.MaxElapsed
	bo.RandomizationFactor = p.Jitter
	bo.Multiplier = 2
	bo.Reset()
	return bo
}

// do runs f until it succeeds, fails with a non-transient error, or the
// policy gives up; the last error is returned.
func (r *retryBucket) do(ctx context.Context, op, key string, f func() error) error {
	bo := r.newBackOff()
	for attempt := 1; ; attempt++ {
		err := f()
		if _, ok := err.(noRetry); err == nil || ok || !errors.Is(err, ErrTransient) || ctx.Err() != nil {
			return err
		}
		if attempt >= r.opts.Retry.MaxAttempts {
			return err
		}
		d := bo.NextBackOff()
		if d == backoff.Stop {
			return err
		}
		if r.opts.OnRetry != nil {
			r.opts.OnRetry(op, key, attempt, err)
		}
		r.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "storage: retrying",
			slog.String("op", op), slog.String("key", key), slog.Int("attempt", attempt),
			slog.Duration("backoff", d), slog.String("url", r.inner.URL()), slog.Any("err", err))
		if Sleep(ctx, d) != nil {
			return err
		}
	}
}

func (r *retryBucket) URL() string { return r.inner.URL() }

func (r *retryBucket) Get(ctx context.Context, key string) (data []byte, err error) {
	err = r.do(ctx, "Get", key, func() error {
		data, err = r.inner.Get(ctx, key)
		return err
	})
	return data, err
}

func (r *retryBucket) NewReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := r.do(ctx, "NewReader", key, func() (err error) {
		rc, err = r.inner.NewReader(ctx, key, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &retryReader{ctx: ctx, b: r, key: key, rc: rc, off: offset, remaining: length}, nil
}

// retryReader reopens the object at the current offset when a Read fails
// transiently, so a long download survives a dropped connection.
type retryReader struct {
	ctx       context.Context // the NewReader call's ctx
	b         *retryBucket
	key       string
	rc        io.ReadCloser
	off       int64 // offset of the next byte to read
	remaining int64 // bytes left to read; <0 means to the end
	broken    bool  // the last Read failed transiently: reopen first
	fails     int   // consecutive transient Read failures
}

func (rr *retryReader) Read(p []byte) (int, error) {
	if rr.remaining == 0 {
		return 0, io.EOF
	}
	if rr.broken {
		if err := rr.reopen(); err != nil {
			return 0, err
		}
	}
	if rr.remaining > 0 && int64(len(p)) > rr.remaining {
		p = p[:rr.remaining]
	}
	n, err := rr.rc.Read(p)
	if err == nil && n > 0 {
		rr.fails = 0
	}
	rr.off += int64(n)
	if rr.remaining > 0 {
		rr.remaining -= int64(n)
	}
	if err == nil || err == io.EOF || !errors.Is(err, ErrTransient) {
		return n, err
	}
	// Transient read failure: reopen at rr.off on the next Read (now, if
	// this one returned nothing). Failures without progress are bounded.
	if n > 0 {
		rr.fails = 0
	}
	rr.fails++
	if rr.fails >= rr.b.opts.Retry.MaxAttempts {
		return n, err
	}
	rr.broken = true
	if n > 0 {
		return n, nil
	}
	return rr.Read(p)
}

// reopen replaces the broken stream with a new one at the current offset.
func (rr *retryReader) reopen() error {
	rr.rc.Close()
	rr.rc = io.NopCloser(errReader{io.ErrClosedPipe})
	err := rr.b.do(rr.ctx, "Read", rr.key, func() error {
		rc, err := rr.b.inner.NewReader(rr.ctx, rr.key, rr.off, rr.remaining)
		if err != nil {
			return err
		}
		rr.rc = rc
		return nil
	})
	if err != nil {
		return err
	}
	rr.broken = false
	return nil
}

func (rr *retryReader) Close() error { return rr.rc.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (r *retryBucket) Stat(ctx context.Context, key string) (o Object, err error) {
	err = r.do(ctx, "Stat", key, func() error {
		o, err = r.inner.Stat(ctx, key)
		return err
	})
	return o, err
}

func (r *retryBucket) Put(ctx context.Context, key string, data []byte) error {
	return r.do(ctx, "Put", key, func() error { return r.inner.Put(ctx, key, data) })
}

func (r *retryBucket) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return r.do(ctx, "PutIfAbsent", key, func() error { return r.inner.PutIfAbsent(ctx, key, data) })
}

func (r *retryBucket) Upload(ctx context.Context, key string, src io.Reader) error {
	seeker, _ := src.(io.Seeker)
	var start int64
	if seeker != nil {
		var err error
		if start, err = seeker.Seek(0, io.SeekCurrent); err != nil {
			seeker = nil
		}
	}
	if seeker == nil {
		return r.uploadStream(ctx, key, src)
	}
	first := true
	return r.do(ctx, "Upload", key, func() error {
		if !first {
			if _, err := seeker.Seek(start, io.SeekStart); err != nil {
				return newError("Upload", key, ErrPermanent, err)
			}
		}
		first = false
		return r.inner.Upload(ctx, key, src)
	})
}

// uploadStream uploads a reader that cannot seek (a Parquet encoder writing
// into a pipe). The bytes an attempt consumed are kept, up to
// Options.UploadReplay, so the next attempt replays them and then goes on
// with the stream: a reset in the middle of a data file upload no longer
// fails the commit. Past the limit the failed attempt's error is returned
// as it is, still transient: only the caller can recreate the stream.
func (r *retryBucket) uploadStream(ctx context.Context, key string, src io.Reader) error {
	rp := &replayReader{src: src, limit: r.opts.UploadReplay}
	if rp.limit == 0 {
		rp.limit = DefaultUploadReplay
	}
	defer rp.release()
	var last error
	err := r.do(ctx, "Upload", key, func() error {
		if !rp.rewind() {
			return noRetry{fmt.Errorf("%w (not retried: the stream had gone past the %d bytes kept to replay it)", last, rp.limit)}
		}
		last = r.inner.Upload(ctx, key, rp)
		return last
	})
	if nr, ok := err.(noRetry); ok {
		return nr.err
	}
	return err
}

// DefaultUploadReplay is how many bytes of a non-seekable Upload source
// are kept to replay a failed attempt when Options.UploadReplay is 0. It
// is about one S3 multipart part (5 MiB, which the SDK buffers anyway), so
// small data files, the common case, are always retried.
const DefaultUploadReplay = 8 << 20

// noRetry carries an error out of retryBucket.do without another attempt.
type noRetry struct{ err error }

func (n noRetry) Error() string { return n.err.Error() }

// replayReader reads src and keeps what it read (up to limit bytes) so that
// rewind can serve it again. The bytes are kept in pooled blocks of
// replayBlock bytes: a slice grown by append copied every byte of a data
// file about twice more and zeroed fresh memory each time it grew
// (measured: 3-8% of ingest CPU).
type replayReader struct {
	src      io.Reader
	limit    int64    // <0: keep nothing
	kept     [][]byte // the first bytes of src in blocks, while they fit in limit
	keptN    int64    // bytes in kept
	pos      int64    // next byte of kept to serve
	overflow bool     // more than limit bytes were read: kept is gone
	read     int64    // bytes read from src
}

const replayBlock = 256 << 10

var replayBlocks = sync.Pool{New: func() any { b := make([]byte, replayBlock); return &b }}

// rewind makes the next Read start at the first byte again; false if the
// bytes read so far were not all kept.
func (p *replayReader) rewind() bool {
	if p.read == 0 {
		return true
	}
	if p.overflow {
		return false
	}
	p.pos = 0
	return true
}

func (p *replayReader) Read(b []byte) (int, error) {
	if p.pos < p.keptN {
		blk := p.kept[p.pos/replayBlock]
		n := copy(b, blk[p.pos%replayBlock:min(int64(len(blk)), p.keptN-p.pos/replayBlock*replayBlock)])
		p.pos += int64(n)
		return n, nil
	}
	n, err := p.src.Read(b)
	p.read += int64(n)
	if n > 0 && !p.overflow {
		if p.limit < 0 || p.keptN+int64(n) > p.limit {
			p.overflow = true
			p.release()
		} else {
			p.keep(b[:n])
		}
		p.pos = p.keptN
	}
	return n, err
}

func (p *replayReader) keep(b []byte) {
	for len(b) > 0 {
		o := int(p.keptN % replayBlock)
		if o == 0 {
			p.kept = append(p.kept, *replayBlocks.Get().(*[]byte))
		}
		c := copy(p.kept[len(p.kept)-1][o:], b)
		b = b[c:]
		p.keptN += int64(c)
	}
}

// release returns the kept blocks to the pool; the reader keeps nothing
// from then on.
func (p *replayReader) release() {
	for i, blk := range p.kept {
		replayBlocks.Put(&blk)
		p.kept[i] = nil
	}
	p.kept, p.keptN = nil, 0
}

func (r *retryBucket) List(ctx context.Context, prefix, startAfter string) ListIterator {
	return &retryIterator{b: r, prefix: prefix, after: startAfter}
}

// retryIterator restarts the listing after the last key it returned when
// the underlying iterator fails transiently.
type retryIterator struct {
	b      *retryBucket
	prefix string
	after  string // last key returned (or the caller's startAfter)
	it     ListIterator
}

func (ri *retryIterator) Next(ctx context.Context) (Object, error) {
	var o Object
	err := ri.b.do(ctx, "List", ri.prefix, func() error {
		if ri.it == nil {
			ri.it = ri.b.inner.List(ctx, ri.prefix, ri.after)
		}
		var err error
		o, err = ri.it.Next(ctx)
		if err != nil && errors.Is(err, ErrTransient) {
			ri.it = nil // restart after ri.after
		}
		return err
	})
	if err != nil {
		return Object{}, err
	}
	ri.after = o.Key
	return o, nil
}

func (r *retryBucket) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "Delete", key, func() error { return r.inner.Delete(ctx, key) })
}

func (r *retryBucket) Copy(ctx context.Context, dstKey string, src Bucket, srcKey string) error {
	return r.do(ctx, "Copy", dstKey, func() error { return r.inner.Copy(ctx, dstKey, src, srcKey) })
}

func (r *retryBucket) Close() error { return r.inner.Close() }
