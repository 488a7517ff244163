package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

// Sleep waits its duration, and returns the context's error at once when
// the context ends first (an hour's wait would time the test out).
func TestSleep(t *testing.T) {
	if err := storage.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := storage.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled sleep: %v", err)
	}
	if err := storage.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep on a done context: %v", err)
	}
}

// Drain's work context outlives ctx by its grace, ends when the grace
// runs out, and ends at once on release (an hour's grace would time the
// test out).
func TestDrain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	work, release := storage.Drain(ctx, time.Hour)
	cancel()
	if err := storage.Sleep(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if work.Err() != nil {
		t.Fatalf("work ended with ctx, inside its grace: %v", work.Err())
	}
	release()
	<-work.Done()

	ctx, cancel = context.WithCancel(context.Background())
	work, release = storage.Drain(ctx, 10*time.Millisecond)
	defer release()
	cancel()
	<-work.Done() // the grace runs out
	if !errors.Is(work.Err(), context.Canceled) {
		t.Fatalf("work after the grace: %v", work.Err())
	}

	work, release = storage.Drain(context.Background(), time.Millisecond)
	if err := storage.Sleep(context.Background(), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if work.Err() != nil {
		t.Fatalf("work ended while ctx is live: %v", work.Err())
	}
	release()
	<-work.Done()
}
