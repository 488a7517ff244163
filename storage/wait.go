package storage

import (
	"context"
	"sync"
	"time"
)

// The waits of the loops above storage (ingest, egress, the region
// daemon): one copy each, so every loop stops and drains the same way.

// Sleep waits d, or less when ctx is done first; it returns ctx.Err() then.
// It is the one wait of every retry, poll and backoff loop, so none of them
// outlives its context by a whole interval.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Drain returns a context for the work of a loop that must not stop
// mid-write when ctx is done: it is canceled d after ctx is done (or by
// release), so a batch in flight can finish its commit when asked to stop,
// but not hang the stop forever. Call release when the work is over.
func Drain(ctx context.Context, d time.Duration) (work context.Context, release func()) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var timer *time.Timer
	var mu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(d, cancel)
		mu.Unlock()
	})
	return work, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}
