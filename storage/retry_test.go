package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

var fastRetry = storage.RetryPolicy{MaxAttempts: 4, InitialInterval: 100 * time.Microsecond, MaxInterval: time.Millisecond}

// faultyMem returns a retrying bucket over a Faulty over a fresh mem bucket.
func faultyMem(t *testing.T, f storage.Faults, p storage.RetryPolicy) (storage.Bucket, *storage.Faulty, storage.Bucket) {
	t.Helper()
	raw, err := storage.Open(context.Background(), uniqueMem(t), &storage.Options{Retry: storage.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	fb := storage.NewFaulty(raw, f)
	return storage.WithRetry(fb, &storage.Options{Retry: p}), fb, raw
}

func TestRetryTransient(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		failures  int   // consecutive injected failures from the first call
		inject    error // class injected
		wantCalls int
		wantErr   error
	}{
		{"no failure", 0, nil, 1, nil},
		{"one transient", 1, nil, 2, nil},
		{"three transient, four attempts", 3, nil, 4, nil},
		{"four transient exhaust four attempts", 4, nil, 4, storage.ErrTransient},
		{"permanent not retried", 1, storage.ErrPermanent, 1, storage.ErrPermanent},
		{"not found not retried", 1, storage.ErrNotFound, 1, storage.ErrNotFound},
		{"exists not retried", 1, storage.ErrExists, 1, storage.ErrExists},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var retries atomic.Int64
			raw, err := storage.Open(ctx, uniqueMem(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			f := storage.NewFaulty(raw, storage.Faults{Ops: []string{storage.OpPutIfAbsent}, Nth: 1, Count: c.failures, Err: c.inject})
			if c.failures == 0 {
				f.SetFaults(storage.Faults{})
			}
			b := storage.WithRetry(f, &storage.Options{Retry: fastRetry, OnRetry: func(op, key string, attempt int, err error) {
				if op != storage.OpPutIfAbsent || key != "k" || !errors.Is(err, storage.ErrTransient) {
					t.Errorf("OnRetry(%q, %q, %d, %v)", op, key, attempt, err)
				}
				retries.Add(1)
			}})
			err = b.PutIfAbsent(ctx, "k", []byte("v"))
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("PutIfAbsent error = %v, want %v", err, c.wantErr)
			}
			if got := f.Calls(storage.OpPutIfAbsent); got != c.wantCalls {
				t.Errorf("calls = %d, want %d", got, c.wantCalls)
			}
			if got := retries.Load(); got != int64(c.wantCalls-1) {
				t.Errorf("OnRetry called %d times, want %d", got, c.wantCalls-1)
			}
			_, gerr := raw.Get(ctx, "k")
			if stored := gerr == nil; stored != (c.wantErr == nil) {
				t.Errorf("object stored = %v (Get err %v), want %v", stored, gerr, c.wantErr == nil)
			}
		})
	}
}

// A PutIfAbsent whose response is lost is retried and reports ErrExists,
// with our own data stored: the documented contract the table layer uses.
func TestRetryLostResponsePutIfAbsent(t *testing.T) {
	ctx := context.Background()
	b, f, raw := faultyMem(t, storage.Faults{Ops: []string{storage.OpPutIfAbsent}, Nth: 1, After: true}, fastRetry)
	err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000001.json", []byte("mine"))
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if got, _ := raw.Get(ctx, "_delta_log/00000000000000000001.json"); string(got) != "mine" {
		t.Fatalf("stored %q, want our own data", got)
	}
	if f.Calls(storage.OpPutIfAbsent) != 2 {
		t.Fatalf("calls = %d, want 2", f.Calls(storage.OpPutIfAbsent))
	}
}

func TestRetryUpload(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 10000)
	cases := []struct {
		name    string
		after   bool
		replay  int64 // Options.UploadReplay
		reader  func() io.Reader
		wantErr error
	}{
		// The fault hits before the upload reads anything: always retryable.
		{"fail before, plain reader", false, 0, func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, nil},
		// The upload consumed the reader: a seekable reader is rewound, a
		// plain one (a pipe from the Parquet encoder) replayed from the
		// bytes kept, while they fit the replay limit.
		{"fail after, seekable reader", true, -1, func() io.Reader { return bytes.NewReader(data) }, nil},
		{"fail after, plain reader", true, 0, func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, nil},
		{"fail after, plain reader, exact limit", true, int64(len(data)), func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, nil},
		// Past the limit the attempt's own transient error comes back, not retried.
		{"fail after, plain reader past the limit", true, int64(len(data)) - 1, func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, storage.ErrTransient},
		{"fail after, plain reader, no replay", true, -1, func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, storage.ErrTransient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, f, raw := faultyMem(t, storage.Faults{Ops: []string{storage.OpUpload}, Nth: 1, After: c.after}, fastRetry)
			b := storage.WithRetry(f, &storage.Options{Retry: fastRetry, UploadReplay: c.replay})
			err := b.Upload(ctx, "data/f.parquet", c.reader())
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("Upload error = %v, want %v", err, c.wantErr)
			}
			if c.wantErr != nil && f.Calls(storage.OpUpload) != 1 {
				t.Errorf("calls = %d, want 1 (not retried)", f.Calls(storage.OpUpload))
			}
			if c.wantErr == nil {
				if f.Calls(storage.OpUpload) != 2 {
					t.Errorf("calls = %d, want 2", f.Calls(storage.OpUpload))
				}
				if got, _ := raw.Get(ctx, "data/f.parquet"); !bytes.Equal(got, data) {
					t.Errorf("stored %d bytes, want %d identical", len(got), len(data))
				}
			}
		})
	}
}

func TestRetryReaderResumes(t *testing.T) {
	ctx := context.Background()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, after := range []bool{false, true} {
		// Fail reads 3, 4 and 10; with After the bytes of those reads are lost
		// in transit and must be fetched again from the right offset.
		b, f, raw := faultyMem(t, storage.Faults{Ops: []string{storage.OpRead}, Nth: 3, Count: 2, After: after}, fastRetry)
		if err := raw.Put(ctx, "obj", data); err != nil {
			t.Fatal(err)
		}
		rc, err := b.NewReader(ctx, "obj", 1000, 500000)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, 4096)
		for i := 0; ; i++ {
			if i == 8 {
				f.SetFaults(storage.Faults{Ops: []string{storage.OpRead}, Nth: 2, After: after})
			}
			n, err := rc.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after=%v: Read: %v", after, err)
			}
		}
		rc.Close()
		if !bytes.Equal(got, data[1000:501000]) {
			t.Fatalf("after=%v: read %d bytes, want the 500000 at offset 1000", after, len(got))
		}
		if f.Injected(storage.OpRead) != 3 || f.Calls(storage.OpNewReader) != 4 {
			t.Fatalf("after=%v: injected %d read faults, %d opens; want 3 and 4", after, f.Injected(storage.OpRead), f.Calls(storage.OpNewReader))
		}
	}
}

func TestRetryListResumes(t *testing.T) {
	ctx := context.Background()
	b, f, raw := faultyMem(t, storage.Faults{}, fastRetry)
	var want []string
	for _, k := range []string{"a", "b/c", "b/d", "e", "f.g"} {
		if err := raw.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	for _, after := range []bool{false, true} {
		f.SetFaults(storage.Faults{Ops: []string{storage.OpList}, Nth: 1, After: after})
		it := b.List(ctx, "", "")
		var got []string
		for {
			o, err := it.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("after=%v: %v", after, err)
			}
			got = append(got, o.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after=%v: List = %q, want %q", after, got, want)
		}
	}
	if f.Injected(storage.OpList) != 2 {
		t.Errorf("injected %d list faults, want 2", f.Injected(storage.OpList))
	}
}

func TestRetryStopsOnContext(t *testing.T) {
	b, _, _ := faultyMem(t, storage.Faults{Rate: 1}, storage.RetryPolicy{MaxAttempts: 100, InitialInterval: time.Second, MaxInterval: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.Get(ctx, "k")
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Fatalf("Get took %v after its ctx ended", d)
	}
	if !errors.Is(err, storage.ErrTransient) || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("err = %v, want the last transient failure", err)
	}
}
