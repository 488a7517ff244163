package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

func TestFaultySelection(t *testing.T) {
	ctx := context.Background()
	custom := errors.New("custom failure")
	cases := []struct {
		name   string
		faults storage.Faults
		// calls made in order: op and key; want marks which fail.
		calls []struct {
			op, key string
			fail    bool
		}
		wantErr error
	}{
		{
			name:   "nth call of any op",
			faults: storage.Faults{Nth: 2},
			calls: []struct {
				op, key string
				fail    bool
			}{{storage.OpPut, "a", false}, {storage.OpGet, "a", true}, {storage.OpGet, "a", false}},
			wantErr: storage.ErrTransient,
		},
		{
			name:   "only PutIfAbsent, count 2",
			faults: storage.Faults{Ops: []string{storage.OpPutIfAbsent}, Nth: 1, Count: 2},
			calls: []struct {
				op, key string
				fail    bool
			}{{storage.OpPut, "a", false}, {storage.OpPutIfAbsent, "b", true}, {storage.OpGet, "a", false}, {storage.OpPutIfAbsent, "c", true}, {storage.OpPutIfAbsent, "d", false}},
			wantErr: storage.ErrTransient,
		},
		{
			name:   "key prefix",
			faults: storage.Faults{KeyPrefix: "_delta_log/", Nth: 2, Err: storage.ErrPermanent},
			calls: []struct {
				op, key string
				fail    bool
			}{{storage.OpPut, "_delta_log/1", false}, {storage.OpPut, "data/x", false}, {storage.OpPut, "_delta_log/2", true}, {storage.OpPut, "_delta_log/3", false}},
			wantErr: storage.ErrPermanent,
		},
		{
			name:   "custom error",
			faults: storage.Faults{Nth: 1, Err: custom},
			calls: []struct {
				op, key string
				fail    bool
			}{{storage.OpPut, "x", true}, {storage.OpPut, "x", false}},
			wantErr: custom,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := openT(t, uniqueMem(t), nil)
			f := storage.NewFaulty(raw, c.faults)
			counts := map[string]int{}
			for i, call := range c.calls {
				var err error
				switch call.op {
				case storage.OpPut:
					err = f.Put(ctx, call.key, []byte("v"))
				case storage.OpPutIfAbsent:
					err = f.PutIfAbsent(ctx, call.key, []byte("v"))
				case storage.OpGet:
					_, err = f.Get(ctx, call.key)
				}
				counts[call.op]++
				if call.fail != (err != nil) {
					t.Fatalf("call %d (%s %s): err = %v, want failure %v", i, call.op, call.key, err, call.fail)
				}
				if call.fail && !errors.Is(err, c.wantErr) {
					t.Fatalf("call %d: err = %v, want %v", i, err, c.wantErr)
				}
				if call.fail && c.wantErr != custom && !errors.Is(err, storage.ErrInjected) {
					t.Fatalf("call %d: err = %v does not wrap ErrInjected", i, err)
				}
				if call.fail && !c.faults.After && call.op != storage.OpGet {
					// Failed before performing: nothing was written.
					if _, gerr := raw.Get(ctx, call.key); gerr == nil && call.op == storage.OpPutIfAbsent {
						t.Fatalf("call %d: the failed write landed", i)
					}
				}
			}
			for op, n := range counts {
				if f.Calls(op) != n {
					t.Errorf("Calls(%s) = %d, want %d", op, f.Calls(op), n)
				}
			}
		})
	}
}

func TestFaultyAfterPerformsTheWrite(t *testing.T) {
	ctx := context.Background()
	raw := openT(t, uniqueMem(t), nil)
	f := storage.NewFaulty(raw, storage.Faults{Ops: []string{storage.OpPutIfAbsent}, Nth: 1, After: true})
	if err := f.PutIfAbsent(ctx, "k", []byte("landed")); !errors.Is(err, storage.ErrTransient) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}
	if got, err := raw.Get(ctx, "k"); err != nil || string(got) != "landed" {
		t.Fatalf("Get = %q, %v; the write should have landed", got, err)
	}
}

func TestFaultyRateIsSeeded(t *testing.T) {
	ctx := context.Background()
	pattern := func(seed int64) string {
		f := storage.NewFaulty(openT(t, uniqueMem(t), nil), storage.Faults{Rate: 0.3, Seed: seed})
		s := ""
		for i := range 200 {
			if err := f.Put(ctx, fmt.Sprint(i), nil); err != nil {
				s += "x"
			} else {
				s += "."
			}
		}
		if f.Injected(storage.OpPut) != countX(s) {
			t.Errorf("Injected = %d, pattern has %d", f.Injected(storage.OpPut), countX(s))
		}
		return s
	}
	a, b, c := pattern(1), pattern(1), pattern(2)
	if a != b {
		t.Errorf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same faults")
	}
	if n := countX(a); n < 30 || n > 90 {
		t.Errorf("rate 0.3 over 200 calls failed %d", n)
	}
}

func countX(s string) int {
	n := 0
	for _, r := range s {
		if r == 'x' {
			n++
		}
	}
	return n
}

func TestFaultyLatency(t *testing.T) {
	raw := openT(t, uniqueMem(t), nil)
	f := storage.NewFaulty(raw, storage.Faults{Ops: []string{storage.OpGet}, Latency: 30 * time.Millisecond})
	ctx := context.Background()
	start := time.Now()
	if err := f.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 30*time.Millisecond {
		t.Errorf("Put (not selected) took %v", d)
	}
	start = time.Now()
	if _, err := f.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("Get took %v, want >= 30ms", d)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	if _, err := f.Get(cctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with a short deadline: %v, want DeadlineExceeded", err)
	}
}
