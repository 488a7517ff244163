package storage

import (
	"context"
	"errors"
	"io"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"time"
)

// Operation names, as used in Error.Op and by Faulty.
const (
	OpGet         = "Get"
	OpNewReader   = "NewReader"
	OpRead        = "Read" // a Read on a reader returned by NewReader
	OpStat        = "Stat"
	OpPut         = "Put"
	OpPutIfAbsent = "PutIfAbsent"
	OpUpload      = "Upload"
	OpList        = "List"
	OpDelete      = "Delete"
	OpCopy        = "Copy"
)

// ErrInjected is the cause of every error Faulty injects (unless
// Faults.Err is a custom error), so tests can tell injected from real
// failures.
var ErrInjected = errors.New("injected fault")

// Faults says which calls a Faulty bucket fails and how. A call "matches"
// when its op is in Ops (or Ops is empty) and its key starts with KeyPrefix;
// only matching calls are counted for Nth, drawn for Rate, and delayed.
type Faults struct {
	// Ops restricts faults to these operations (Op* constants); empty: all.
	Ops []string
	// KeyPrefix restricts faults to keys with this prefix (for List, the
	// listing prefix; for Copy, the destination key).
	KeyPrefix string
	// Nth fails the Nth matching call (1-based); 0 disables.
	Nth int
	// Count extends Nth to Count consecutive matching calls (0 means 1).
	Count int
	// Rate fails each matching call with this probability in [0,1],
	// drawn from a rand seeded with Seed, so runs are reproducible.
	Rate float64
	Seed int64
	// Latency delays each matching call (respecting ctx).
	Latency time.Duration
	// After performs the operation and then returns the error: the write
	// landed but the caller sees a failure, as when a response is lost.
	After bool
	// Err is the error to inject. nil: ErrTransient. A class sentinel
	// (ErrTransient, ErrPermanent, ErrNotFound, ErrExists) is returned as an
	// *Error of that class caused by ErrInjected; anything else as is.
	Err error
}

// Faulty wraps a Bucket and injects failures into its calls, for tests.
// It counts calls and injected failures per operation. Safe for concurrent use.
type Faulty struct {
	inner Bucket

	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	matched  int
	calls    map[string]int
	injected map[string]int
}

// NewFaulty returns b wrapped with the faults f.
func NewFaulty(b Bucket, f Faults) *Faulty {
	return &Faulty{
		inner:    b,
		f:        f,
		rng:      rand.New(rand.NewSource(f.Seed)),
		calls:    map[string]int{},
		injected: map[string]int{},
	}
}

// SetFaults replaces the faults (e.g. to stop failing) and restarts the
// matching-call count used by Nth. Call counters are kept.
func (f *Faulty) SetFaults(fl Faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.f = fl
	f.rng = rand.New(rand.NewSource(fl.Seed))
	f.matched = 0
}

// Calls returns how many times op was called (injected or not).
func (f *Faulty) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Injected returns how many calls of op got an injected failure.
func (f *Faulty) Injected(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[op]
}

// Unwrap returns the wrapped bucket.
func (f *Faulty) Unwrap() Bucket { return f.inner }

// fault is the decision for one call.
type fault struct {
	err   error // nil: no failure
	after bool
}

// decide counts the call, sleeps its latency and decides its fate.
func (f *Faulty) decide(ctx context.Context, op, key string) (fault, error) {
	f.mu.Lock()
	f.calls[op]++
	fl := f.f
	match := (len(fl.Ops) == 0 || slices.Contains(fl.Ops, op)) && strings.HasPrefix(key, fl.KeyPrefix)
	var inject bool
	if match {
		f.matched++
		n := max(fl.Count, 1)
		inject = fl.Nth > 0 && f.matched >= fl.Nth && f.matched < fl.Nth+n
		if fl.Rate > 0 && f.rng.Float64() < fl.Rate {
			inject = true
		}
		if inject {
			f.injected[op]++
		}
	}
	f.mu.Unlock()

	if match && fl.Latency > 0 {
		t := time.NewTimer(fl.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return fault{}, ctxError(ctx, op, key, ctx.Err())
		case <-t.C:
		}
	}
	if !inject {
		return fault{}, nil
	}
	var err error
	switch fl.Err {
	case nil:
		err = newError(op, key, ErrTransient, ErrInjected)
	case ErrTransient, ErrPermanent, ErrNotFound, ErrExists:
		err = newError(op, key, fl.Err, ErrInjected)
	default:
		err = fl.Err
	}
	return fault{err: err, after: fl.After}, nil
}

// run applies the fault around a call without results.
func (f *Faulty) run(ctx context.Context, op, key string, call func() error) error {
	ft, err := f.decide(ctx, op, key)
	if err != nil {
		return err
	}
	if ft.err != nil && !ft.after {
		return ft.err
	}
	if err := call(); err != nil {
		return err
	}
	return ft.err
}

// URL returns the wrapped bucket's URL.
func (f *Faulty) URL() string { return f.inner.URL() }

// Get implements Bucket.
func (f *Faulty) Get(ctx context.Context, key string) (data []byte, err error) {
	err = f.run(ctx, OpGet, key, func() error {
		data, err = f.inner.Get(ctx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// NewReader implements Bucket. Reads on the returned reader are op "Read".
func (f *Faulty) NewReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := f.run(ctx, OpNewReader, key, func() (err error) {
		rc, err = f.inner.NewReader(ctx, key, offset, length)
		return err
	})
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, err
	}
	return &faultyReader{ctx: ctx, f: f, key: key, rc: rc}, nil
}

type faultyReader struct {
	ctx context.Context // the NewReader call's ctx
	f   *Faulty
	key string
	rc  io.ReadCloser
}

func (r *faultyReader) Read(p []byte) (n int, err error) {
	err = r.f.run(r.ctx, OpRead, r.key, func() error {
		n, err = r.rc.Read(p)
		return err
	})
	if err != nil && n > 0 && err != io.EOF {
		// With After, the bytes were consumed from the stream and are lost,
		// like a connection dropping mid-transfer.
		return 0, err
	}
	return n, err
}

func (r *faultyReader) Close() error { return r.rc.Close() }

// Stat implements Bucket.
func (f *Faulty) Stat(ctx context.Context, key string) (o Object, err error) {
	err = f.run(ctx, OpStat, key, func() error {
		o, err = f.inner.Stat(ctx, key)
		return err
	})
	if err != nil {
		return Object{}, err
	}
	return o, nil
}

// Put implements Bucket.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	return f.run(ctx, OpPut, key, func() error { return f.inner.Put(ctx, key, data) })
}

// PutIfAbsent implements Bucket.
func (f *Faulty) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return f.run(ctx, OpPutIfAbsent, key, func() error { return f.inner.PutIfAbsent(ctx, key, data) })
}

// Upload implements Bucket.
func (f *Faulty) Upload(ctx context.Context, key string, r io.Reader) error {
	return f.run(ctx, OpUpload, key, func() error { return f.inner.Upload(ctx, key, r) })
}

// Delete implements Bucket.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	return f.run(ctx, OpDelete, key, func() error { return f.inner.Delete(ctx, key) })
}

// Copy implements Bucket.
func (f *Faulty) Copy(ctx context.Context, dstKey string, src Bucket, srcKey string) error {
	return f.run(ctx, OpCopy, dstKey, func() error { return f.inner.Copy(ctx, dstKey, src, srcKey) })
}

// List implements Bucket. An injected failure is returned by the first
// Next, or with After, by the Next that would have returned io.EOF.
func (f *Faulty) List(ctx context.Context, prefix, startAfter string) ListIterator {
	ft, err := f.decide(ctx, OpList, prefix)
	if err != nil {
		return &errIterator{err: err}
	}
	if ft.err != nil && !ft.after {
		return &errIterator{err: ft.err}
	}
	return &faultyIterator{it: f.inner.List(ctx, prefix, startAfter), err: ft.err}
}

type faultyIterator struct {
	it  ListIterator
	err error // returned instead of io.EOF
}

func (fi *faultyIterator) Next(ctx context.Context) (Object, error) {
	o, err := fi.it.Next(ctx)
	if err == io.EOF && fi.err != nil {
		return Object{}, fi.err
	}
	return o, err
}

// Close implements Bucket.
func (f *Faulty) Close() error { return f.inner.Close() }
