package egress_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/egress/egresstest"
	"github.com/loglake/loglake/storage"
)

// Several instances of one region, with different batch bounds so their
// batches overlap without coinciding, run while the region keeps writing:
// every approved row reaches the central table exactly once.
func TestConcurrentInstancesOfOneRegion(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var superseded, commits int
	var mu sync.Mutex
	for i, maxVersions := range []int{1, 2, 3, 7} {
		e := f.egress(t, egress.Options{MaxVersions: maxVersions, AdvanceEvery: 1})
		wg.Go(func() {
			for {
				sum, err := e.RunOnce(ctx)
				if err != nil {
					errs <- fmt.Errorf("instance %d: %w", i, err)
					return
				}
				mu.Lock()
				superseded += sum.Superseded
				commits += sum.Commits
				mu.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	for range 25 {
		f.appendRows(t, 6)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Finish what the instances may have left.
	if _, err := f.egress(t, egress.Options{}).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
	t.Logf("%d commits, %d superseded batches", commits, superseded)
}

// Faults on the central bucket: lost responses, commits that land but
// report failure, failed uploads. Whatever happens, retrying (with the same
// or a new Egress) ends with every approved row exactly once.
func TestCentralFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults storage.Faults
		// wantErr: the first RunOnce must fail.
		wantErr bool
	}{
		{"commit lands, response lost (transient)", storage.Faults{Ops: []string{storage.OpPutIfAbsent},
			KeyPrefix: "_delta_log/", Nth: 2, After: true}, false},
		{"commit lands, reported as permanent failure", storage.Faults{Ops: []string{storage.OpPutIfAbsent},
			KeyPrefix: "_delta_log/", Nth: 2, After: true, Err: storage.ErrPermanent}, true},
		{"commit refused", storage.Faults{Ops: []string{storage.OpPutIfAbsent},
			KeyPrefix: "_delta_log/", Nth: 2, Err: storage.ErrPermanent}, true},
		{"upload fails", storage.Faults{Ops: []string{storage.OpUpload}, Nth: 1, Err: storage.ErrPermanent}, true},
		{"random faults everywhere", storage.Faults{Rate: 0.15, Seed: 7}, false},
		{"random faults after the write", storage.Faults{Rate: 0.15, Seed: 3, After: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			for range 6 {
				f.appendRows(t, 10)
			}
			faulty := storage.NewFaulty(f.dst, storage.Faults{})
			newEgress := func() (*egress.Egress, error) {
				return egress.New(ctx, f.src, faulty, egress.Options{Region: "eu-1", MaxVersions: 1})
			}
			// Create the central table (version 0) before the faults start.
			if _, err := newEgress(); err != nil {
				t.Fatal(err)
			}
			faulty.SetFaults(tc.faults)
			var firstErr error
			done := false
			// A failed run is retried by the same Egress (as Run does), and
			// every third attempt by a new one (a restarted process).
			var e *egress.Egress
			for attempt := 0; attempt < 100 && !done; attempt++ {
				var err error
				if e == nil || attempt%3 == 2 {
					e, err = newEgress()
				}
				if err == nil {
					_, err = e.RunOnce(ctx)
				}
				if attempt == 0 {
					firstErr = err
				}
				if err == nil {
					done = true
				} else if !errors.Is(err, storage.ErrInjected) && !errors.Is(err, storage.ErrPermanent) && !errors.Is(err, storage.ErrTransient) {
					t.Fatalf("attempt %d: unexpected error %v", attempt, err)
				}
				if attempt == 0 && tc.faults.Nth > 0 {
					faulty.SetFaults(storage.Faults{})
				}
			}
			if !done {
				t.Fatal("RunOnce never succeeded")
			}
			if tc.wantErr && firstErr == nil {
				t.Fatal("the first RunOnce succeeded; the fault was not exercised")
			}
			if !tc.wantErr && tc.faults.Nth > 0 && firstErr != nil {
				t.Fatalf("first RunOnce = %v, want the fault absorbed", firstErr)
			}
			faulty.SetFaults(storage.Faults{})
			injected := 0
			for _, op := range []string{storage.OpGet, storage.OpNewReader, storage.OpRead, storage.OpStat, storage.OpPut,
				storage.OpPutIfAbsent, storage.OpUpload, storage.OpList, storage.OpDelete, storage.OpCopy} {
				injected += faulty.Injected(op)
			}
			if injected == 0 {
				t.Fatal("no fault was injected")
			}
			t.Logf("%d faults injected", injected)
			sum, err := f.egress(t, egress.Options{}).RunOnce(ctx)
			if err != nil || sum.Rows != 0 || sum.ToVersion != 6 {
				t.Fatalf("final RunOnce = %+v, %v; want nothing left to forward", sum, err)
			}
			checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
		})
	}
}

// Faults on the source bucket only fail runs; they never lose or duplicate.
func TestSourceFaults(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 6 {
		f.appendRows(t, 12)
	}
	faulty := storage.NewFaulty(f.src, storage.Faults{Rate: 0.2, Seed: 11})
	var failures int
	deadline := time.Now().Add(30 * time.Second)
	for {
		e, err := egress.New(ctx, faulty, f.dst, egress.Options{Region: "eu-1", MaxVersions: 2})
		if err == nil {
			_, err = e.RunOnce(ctx)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("unexpected error %v", err)
		}
		if failures++; time.Now().After(deadline) {
			t.Fatalf("no success after %d failures", failures)
		}
	}
	if failures == 0 {
		t.Fatal("no run failed; the faults were not exercised")
	}
	checkCentral(t, f.dst, map[string][]int64{"eu-1": egresstest.Approved(f.rows)})
}
