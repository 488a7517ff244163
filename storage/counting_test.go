package storage_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/loglake/loglake/storage"
)

func TestCountingCountsRequests(t *testing.T) {
	ctx := context.Background()
	group := func(key string) string {
		if strings.HasPrefix(key, "log/") {
			return "log"
		}
		return "data"
	}
	c := storage.NewCounting(openT(t, uniqueMem(t), nil), group)
	if err := c.PutIfAbsent(ctx, "log/1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := c.PutIfAbsent(ctx, "log/1", []byte("b")); err == nil {
		t.Fatal("second PutIfAbsent succeeded")
	}
	if _, err := c.Get(ctx, "log/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "log/2"); err == nil {
		t.Fatal("Get of a missing key succeeded")
	}
	if _, err := c.Stat(ctx, "log/1"); err != nil {
		t.Fatal(err)
	}
	// 2,500 objects list in three pages of 1,000.
	for i := range 2500 {
		if err := c.Put(ctx, fmt.Sprintf("d/%05d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	before := c.Counts()
	it := c.List(ctx, "d/", "")
	n := 0
	for {
		if _, err := it.Next(ctx); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2500 {
		t.Fatalf("listed %d objects, want 2500", n)
	}
	if got := c.Counts().Sub(before).Sum(storage.CountKey{Kind: storage.KindList}, true); got != 3 {
		t.Fatalf("LIST requests for 2,500 objects = %d, want 3 pages", got)
	}
	cases := []struct {
		key        storage.CountKey
		anyOutcome bool
		want       int64
	}{
		{storage.CountKey{Kind: storage.KindPut, Group: "log"}, false, 1},
		{storage.CountKey{Kind: storage.KindPut, Group: "log", Outcome: storage.OutcomeExists}, false, 1},
		{storage.CountKey{Kind: storage.KindPut, Group: "data"}, false, 2500},
		{storage.CountKey{Kind: storage.KindGet}, false, 1},
		{storage.CountKey{Kind: storage.KindGet, Outcome: storage.OutcomeNotFound}, false, 1},
		{storage.CountKey{Kind: storage.KindGet}, true, 2},
		{storage.CountKey{Kind: storage.KindHead}, true, 1},
		{storage.CountKey{}, true, 2500 + 2 + 2 + 1 + 3},
	}
	counts := c.Counts()
	for _, tc := range cases {
		if got := counts.Sum(tc.key, tc.anyOutcome); got != tc.want {
			t.Errorf("Sum(%+v, %v) = %d, want %d", tc.key, tc.anyOutcome, got, tc.want)
		}
	}
}
