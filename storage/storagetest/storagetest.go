// Package storagetest is the conformance suite every storage backend must
// pass: object round trips, error classes, ranged reads, large streamed
// uploads, lexicographic listings with nesting, pagination and start-after,
// put-if-absent under races, and copies within and across buckets.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loglake/loglake/storage"
)

// RaceRoundsEnv overrides the number of rounds of the put-if-absent race
// (default 200), e.g. for slow emulators. It never raises the default.
const RaceRoundsEnv = "LOGLAKE_STORAGETEST_RACE_ROUNDS"

const (
	raceWriters = 16
	raceRounds  = 200
)

// Run runs the conformance suite. open must return a new, empty location
// on each call (distinct from all earlier ones) and arrange its cleanup
// with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) storage.Bucket) {
	t.Run("PutGetStat", func(t *testing.T) { testPutGetStat(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("ErrorCarriesOpAndKey", func(t *testing.T) { testErrorDetail(t, open(t)) })
	t.Run("Canceled", func(t *testing.T) { testCanceled(t, open(t)) })
	t.Run("NewReaderRanges", func(t *testing.T) { testRanges(t, open(t)) })
	t.Run("UploadLarge", func(t *testing.T) { testUploadLarge(t, open(t)) })
	t.Run("ListOrder", func(t *testing.T) { testListOrder(t, open(t)) })
	t.Run("ListEmpty", func(t *testing.T) { testListEmpty(t, open(t)) })
	t.Run("ListPagination", func(t *testing.T) { testListPagination(t, open(t)) })
	t.Run("PutIfAbsent", func(t *testing.T) { testPutIfAbsent(t, open(t)) })
	t.Run("PutIfAbsentRace", func(t *testing.T) { testRace(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open(t)) })
	t.Run("CopySameBucket", func(t *testing.T) { testCopySame(t, open(t)) })
	t.Run("CopyCrossBucket", func(t *testing.T) { testCopyCross(t, open(t), open(t)) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustPut(t *testing.T, b storage.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.Put(ctxT(t), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, b storage.Bucket, key string) []byte {
	t.Helper()
	data, err := b.Get(ctxT(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return data
}

// classOf names the error class of err, for messages and comparisons.
func classOf(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, storage.ErrNotFound):
		return "ErrNotFound"
	case errors.Is(err, storage.ErrExists):
		return "ErrExists"
	case errors.Is(err, storage.ErrTransient):
		return "ErrTransient"
	case errors.Is(err, storage.ErrPermanent):
		return "ErrPermanent"
	}
	return "unclassified"
}

func testPutGetStat(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	if b.URL() == "" {
		t.Error("URL() is empty")
	}
	cases := []struct {
		key  string
		data []byte
	}{
		{"plain", []byte("hello")},
		{"nested/dir/deep/obj.json", []byte(`{"a":1}`)},
		{"empty", []byte{}},
		{"binary", []byte{0, 1, 2, 255, 254, '\n', 0}},
		{"spaces and = signs/x y=z", []byte("odd key")},
		{"_delta_log/00000000000000000000.json", []byte("commit\n")},
	}
	start := time.Now()
	for _, c := range cases {
		mustPut(t, b, c.key, c.data)
	}
	for _, c := range cases {
		got := mustGet(t, b, c.key)
		if !bytes.Equal(got, c.data) {
			t.Errorf("Get(%q) = %q, want %q", c.key, got, c.data)
		}
		st, err := b.Stat(ctx, c.key)
		if err != nil {
			t.Fatalf("Stat(%q): %v", c.key, err)
		}
		if st.Key != c.key || st.Size != int64(len(c.data)) {
			t.Errorf("Stat(%q) = key %q size %d, want key %q size %d", c.key, st.Key, st.Size, c.key, len(c.data))
		}
		// Clocks of emulators and hosts may differ a little; a wrong zone
		// or a zero time would be off by far more.
		if d := st.ModTime.Sub(start); d < -10*time.Minute || d > 10*time.Minute {
			t.Errorf("Stat(%q).ModTime = %v, want near %v", c.key, st.ModTime, start)
		}
		if st.ModTime.Location() != time.UTC {
			t.Errorf("Stat(%q).ModTime location = %v, want UTC", c.key, st.ModTime.Location())
		}
	}
	// Put replaces.
	mustPut(t, b, "plain", []byte("second version, longer"))
	if got := mustGet(t, b, "plain"); string(got) != "second version, longer" {
		t.Errorf("Get after overwrite = %q", got)
	}
	st, err := b.Stat(ctx, "plain")
	if err != nil || st.Size != int64(len("second version, longer")) {
		t.Errorf("Stat after overwrite = %+v, %v", st, err)
	}
}

func testNotFound(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	mustPut(t, b, "dir/present", []byte("x"))
	for _, key := range []string{"missing", "dir/missing", "dir", "nodir/missing"} {
		_, err := b.Get(ctx, key)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%q) error = %v (%s), want ErrNotFound", key, err, classOf(err))
		}
		_, err = b.Stat(ctx, key)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q) error = %v (%s), want ErrNotFound", key, err, classOf(err))
		}
		rc, err := b.NewReader(ctx, key, 0, -1)
		if err == nil {
			// Some backends defer the request to the first Read.
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("NewReader(%q) error = %v (%s), want ErrNotFound", key, err, classOf(err))
		}
		for _, class := range []error{storage.ErrExists, storage.ErrTransient, storage.ErrPermanent} {
			if errors.Is(err, class) {
				t.Errorf("NewReader(%q) error is also %v", key, class)
			}
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing key = %v, want nil", key, err)
		}
	}
	if err := b.Copy(ctx, "copy-dst", b, "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Copy from a missing key: %v (%s), want ErrNotFound", err, classOf(err))
	}
}

func testErrorDetail(t *testing.T, b storage.Bucket) {
	_, err := b.Get(ctxT(t), "no/such/key")
	var se *storage.Error
	if !errors.As(err, &se) {
		t.Fatalf("Get error %v (%T) is not a *storage.Error", err, err)
	}
	if se.Op != "Get" || se.Key != "no/such/key" || se.Class != storage.ErrNotFound {
		t.Errorf("Error = {Op:%q Key:%q Class:%v}, want {Get no/such/key ErrNotFound}", se.Op, se.Key, se.Class)
	}
	if msg := err.Error(); !strings.Contains(msg, "no/such/key") || !strings.Contains(msg, "Get") {
		t.Errorf("error message %q lacks op or key", msg)
	}
}

func testCanceled(t *testing.T, b storage.Bucket) {
	mustPut(t, b, "k", []byte("v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := map[string]func() error{
		"Get": func() error { _, err := b.Get(ctx, "k"); return err },
		"Put": func() error { return b.Put(ctx, "k2", []byte("v")) },
		"PutIfAbsent": func() error {
			return b.PutIfAbsent(ctx, "k3", []byte("v"))
		},
	}
	for name, op := range ops {
		err := op()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled ctx: %v, want context.Canceled", name, err)
		}
		if errors.Is(err, storage.ErrTransient) {
			t.Errorf("%s with a canceled ctx is classified transient: %v", name, err)
		}
	}
}

func testRanges(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	mustPut(t, b, "r", data)
	cases := []struct {
		off, n int64
		want   []byte
	}{
		{0, -1, data},
		{0, 100, data},
		{0, 5, data[:5]},
		{10, 5, data[10:15]},
		{95, -1, data[95:]},
		{95, 50, data[95:]}, // length past the end is clipped
		{99, 1, data[99:]},
		{10, 0, []byte{}},
	}
	for _, c := range cases {
		rc, err := b.NewReader(ctx, "r", c.off, c.n)
		if err != nil {
			t.Errorf("NewReader(off=%d, n=%d): %v", c.off, c.n, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Errorf("read(off=%d, n=%d): %v", c.off, c.n, err)
			continue
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("NewReader(off=%d, n=%d) = %q, want %q", c.off, c.n, got, c.want)
		}
	}
}

// patternReader yields n deterministic pseudo-random bytes without holding
// them in memory.
type patternReader struct {
	rng *rand.Rand
	n   int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	p.rng.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

func testUploadLarge(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	const size = 20 << 20
	h := sha256.New()
	src := io.TeeReader(&patternReader{rng: rand.New(rand.NewSource(7)), n: size}, h)
	// Hide any io.Seeker/WriterTo so the backend must stream.
	if err := b.Upload(ctx, "big/data.bin", struct{ io.Reader }{src}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	want := h.Sum(nil)
	st, err := b.Stat(ctx, "big/data.bin")
	if err != nil || st.Size != size {
		t.Fatalf("Stat = %+v, %v; want size %d", st, err, size)
	}
	rc, err := b.NewReader(ctx, "big/data.bin", 0, -1)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	h2 := sha256.New()
	n, err := io.Copy(h2, rc)
	rc.Close()
	if err != nil || n != size {
		t.Fatalf("read back %d bytes, err %v; want %d", n, err, size)
	}
	if !bytes.Equal(h2.Sum(nil), want) {
		t.Fatal("read back content differs from uploaded content")
	}
	// A range near the end matches the generator's bytes there.
	full := make([]byte, size)
	rand.New(rand.NewSource(7)).Read(full)
	rc, err = b.NewReader(ctx, "big/data.bin", size-1000, 600)
	if err != nil {
		t.Fatalf("NewReader range: %v", err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, full[size-1000:size-400]) {
		t.Fatalf("range read near the end: %d bytes, err %v, equal=%v", len(got), err, bytes.Equal(got, full[size-1000:size-400]))
	}
}

// listKeys drains a listing.
func listKeys(t *testing.T, b storage.Bucket, prefix, startAfter string) []string {
	t.Helper()
	ctx := ctxT(t)
	it := b.List(ctx, prefix, startAfter)
	var keys []string
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatalf("List(%q, %q) after %d keys: %v", prefix, startAfter, len(keys), err)
		}
		keys = append(keys, o.Key)
		if len(keys) > 100000 {
			t.Fatalf("List(%q, %q) does not end", prefix, startAfter)
		}
	}
}

// listKeysObjects drains a listing, returning the objects.
func listObjects(t *testing.T, b storage.Bucket, prefix string) []storage.Object {
	t.Helper()
	ctx := ctxT(t)
	it := b.List(ctx, prefix, "")
	var objs []storage.Object
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return objs
		}
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		objs = append(objs, o)
	}
}

// listOrderKeys mixes nesting levels with the characters that sort around
// '/': '-' and '.' sort before it, '0' and letters after. No key is both an
// object and a prefix of another ("a" with "a/b"), which a file system
// cannot store.
var listOrderKeys = []string{
	"a/b", "a.txt", "a/c/d", "a0", "a-b", "a/c.txt", "a/c0", "a/c/e/f", "a/c/e.g",
	"b", "a/b0/x", "a/b.y", "_delta_log/00000000000000000001.json",
	"_delta_log/00000000000000000000.json", "_delta_log/_last_checkpoint", "z/z/z/z",
}

func testListOrder(t *testing.T, b storage.Bucket) {
	for i, k := range listOrderKeys {
		mustPut(t, b, k, []byte(strconv.Itoa(i)))
	}
	// The fixed expectation guards the reference computation below.
	wantAll := []string{
		"_delta_log/00000000000000000000.json", "_delta_log/00000000000000000001.json",
		"_delta_log/_last_checkpoint", "a-b", "a.txt", "a/b", "a/b.y", "a/b0/x", "a/c.txt",
		"a/c/d", "a/c/e.g", "a/c/e/f", "a/c0", "a0", "b", "z/z/z/z",
	}
	if got := listKeys(t, b, "", ""); !slices.Equal(got, wantAll) {
		t.Fatalf("List all =\n%q\nwant\n%q", got, wantAll)
	}
	objs := listObjects(t, b, "a/c")
	for _, o := range objs {
		i := slices.Index(listOrderKeys, o.Key)
		if i < 0 || o.Size != int64(len(strconv.Itoa(i))) {
			t.Errorf("List object %+v: wrong key or size", o)
		}
		if o.ModTime.IsZero() {
			t.Errorf("List object %q has zero ModTime", o.Key)
		}
	}
	sorted := slices.Clone(listOrderKeys)
	slices.Sort(sorted)
	cases := []struct{ prefix, startAfter string }{
		{"", ""},
		{"a/", ""},
		{"a/c", ""},
		{"a/c/", ""},
		{"a/c/e", ""},
		{"_delta_log/", ""},
		{"_delta_log/", "_delta_log/00000000000000000000.json"},
		{"", "a/b"},
		{"", "a/c"},
		{"", "a/c/"},
		{"a/", "a/b0/x"},
		{"", "a0"},
		{"", "a/c/e/f"},
		{"", "b"},
		{"", "z/z/z/z"},
		{"", "zz"},
		{"", "0"},
		{"a/", "a/zzz"},
		{"b", ""},
		{"nope", ""},
		{"a/c/e/f/", ""},
	}
	for _, c := range cases {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, c.prefix) && k > c.startAfter {
				want = append(want, k)
			}
		}
		got := listKeys(t, b, c.prefix, c.startAfter)
		if !slices.Equal(got, want) {
			t.Errorf("List(prefix=%q, startAfter=%q) =\n%q\nwant\n%q", c.prefix, c.startAfter, got, want)
		}
	}
}

func testListEmpty(t *testing.T, b storage.Bucket) {
	if got := listKeys(t, b, "", ""); len(got) != 0 {
		t.Errorf("List of a new location = %q, want nothing", got)
	}
	if got := listKeys(t, b, "x/", "a"); len(got) != 0 {
		t.Errorf("List(x/, a) of a new location = %q, want nothing", got)
	}
}

// parallel runs f(i) for i in [0,n) on a few goroutines.
func parallel(t *testing.T, n, workers int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testListPagination(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	const n = 1234
	keys := make([]string, n)
	for i := range keys {
		// Mix nesting so pages cut across levels.
		if i%3 == 0 {
			keys[i] = fmt.Sprintf("many/%04d/x", i)
		} else {
			keys[i] = fmt.Sprintf("many/%04d.json", i)
		}
	}
	parallel(t, n, 16, func(i int) error {
		return b.Put(ctx, keys[i], []byte{byte(i)})
	})
	mustPut(t, b, "other", []byte("not in the prefix"))
	want := slices.Clone(keys)
	slices.Sort(want)
	got := listKeys(t, b, "many/", "")
	if !slices.Equal(got, want) {
		t.Fatalf("List of %d keys returned %d keys (first difference at %d)", n, len(got), firstDiff(got, want))
	}
	mid := want[1001]
	got = listKeys(t, b, "many/", mid)
	if !slices.Equal(got, want[1002:]) {
		t.Fatalf("List startAfter %q returned %d keys, want %d", mid, len(got), n-1002)
	}
	if all := listKeys(t, b, "", ""); len(all) != n+1 || all[n] != "other" {
		t.Fatalf("List all returned %d keys, want %d ending in \"other\"", len(all), n+1)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testPutIfAbsent(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		want    string // content of "c" afterwards; "" = absent
	}{
		{"first create", func() error { return b.PutIfAbsent(ctx, "c", []byte("one")) }, nil, "one"},
		{"second create refused", func() error { return b.PutIfAbsent(ctx, "c", []byte("two")) }, storage.ErrExists, "one"},
		{"delete", func() error { return b.Delete(ctx, "c") }, nil, ""},
		{"create after delete", func() error { return b.PutIfAbsent(ctx, "c", []byte("three")) }, nil, "three"},
		{"put overwrites", func() error { return b.Put(ctx, "c", []byte("four")) }, nil, "four"},
		{"create over put refused", func() error { return b.PutIfAbsent(ctx, "c", []byte("five")) }, storage.ErrExists, "four"},
	}
	for _, s := range steps {
		err := s.do()
		if s.wantErr == nil && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.wantErr != nil && !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: error %v (%s), want %v", s.name, err, classOf(err), s.wantErr)
		}
		got, err := b.Get(ctx, "c")
		switch {
		case s.want == "" && !errors.Is(err, storage.ErrNotFound):
			t.Fatalf("%s: Get = %q, %v; want ErrNotFound", s.name, got, err)
		case s.want != "" && (err != nil || string(got) != s.want):
			t.Fatalf("%s: Get = %q, %v; want %q", s.name, got, err, s.want)
		}
	}
	// Nested keys and empty content.
	if err := b.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", nil); err != nil {
		t.Fatalf("PutIfAbsent nested empty: %v", err)
	}
	if got := mustGet(t, b, "_delta_log/00000000000000000000.json"); len(got) != 0 {
		t.Fatalf("empty PutIfAbsent stored %q", got)
	}
	if got := listKeys(t, b, "", ""); !slices.Equal(got, []string{"_delta_log/00000000000000000000.json", "c"}) {
		t.Fatalf("List after PutIfAbsent = %q (temporary files must not show)", got)
	}
}

// raceRounds is the number of race rounds: raceRounds, or less from the env.
func raceRoundsFor(t *testing.T) int {
	n := raceRounds
	if s := os.Getenv(RaceRoundsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive integer", RaceRoundsEnv, s)
		}
		n = min(n, v)
	}
	return n
}

func testRace(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	rounds := raceRoundsFor(t)
	for r := range rounds {
		key := fmt.Sprintf("race/%020d.json", r)
		payload := func(w int) []byte {
			// Distinct sizes too, so a torn or mixed write cannot pass.
			return []byte(fmt.Sprintf("round %d writer %d %s", r, w, strings.Repeat("x", w*13)))
		}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results = make([]error, raceWriters)
		)
		for w := range raceWriters {
			wg.Go(func() {
				<-start
				results[w] = b.PutIfAbsent(ctx, key, payload(w))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range results {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won", r, winner, w)
				}
				winner = w
			case !errors.Is(err, storage.ErrExists):
				t.Fatalf("round %d: writer %d: %v (%s), want nil or ErrExists", r, w, err, classOf(err))
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", r)
		}
		got := mustGet(t, b, key)
		if !bytes.Equal(got, payload(winner)) {
			t.Fatalf("round %d: stored %q, winner %d wrote %q", r, got, winner, payload(winner))
		}
	}
	if got := listKeys(t, b, "race/", ""); len(got) != rounds {
		t.Fatalf("List after the race = %d keys, want %d", len(got), rounds)
	}
}

func testDelete(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	for _, k := range []string{"d/1", "d/2", "d/sub/3", "e"} {
		mustPut(t, b, k, []byte(k))
	}
	for _, k := range []string{"d/2", "d/sub/3"} {
		if err := b.Delete(ctx, k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
		if _, err := b.Stat(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q) after Delete: %v, want ErrNotFound", k, err)
		}
	}
	if got, want := listKeys(t, b, "", ""), []string{"d/1", "e"}; !slices.Equal(got, want) {
		t.Errorf("List after Delete = %q, want %q", got, want)
	}
	// Deleting twice is fine.
	if err := b.Delete(ctx, "d/2"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func testCopySame(t *testing.T, b storage.Bucket) {
	ctx := ctxT(t)
	mustPut(t, b, "src/a.parquet", []byte("original"))
	if err := b.Copy(ctx, "dst/nested/a.parquet", b, "src/a.parquet"); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if got := mustGet(t, b, "dst/nested/a.parquet"); string(got) != "original" {
		t.Fatalf("copy = %q", got)
	}
	// The copy is independent of the source afterwards.
	mustPut(t, b, "src/a.parquet", []byte("changed"))
	if got := mustGet(t, b, "dst/nested/a.parquet"); string(got) != "original" {
		t.Fatalf("copy changed with its source: %q", got)
	}
	// Copy replaces an existing destination.
	if err := b.Copy(ctx, "dst/nested/a.parquet", b, "src/a.parquet"); err != nil {
		t.Fatalf("second Copy: %v", err)
	}
	if got := mustGet(t, b, "dst/nested/a.parquet"); string(got) != "changed" {
		t.Fatalf("copy over existing = %q", got)
	}
	if got, want := listKeys(t, b, "", ""), []string{"dst/nested/a.parquet", "src/a.parquet"}; !slices.Equal(got, want) {
		t.Errorf("List after Copy = %q, want %q", got, want)
	}
}

var memSeq struct {
	sync.Mutex
	n int
}

func testCopyCross(t *testing.T, b1, b2 storage.Bucket) {
	ctx := ctxT(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	mustPut(t, b1, "f/one", []byte("from b1"))
	mustPut(t, b2, "f/two", big)
	if err := b2.Copy(ctx, "g/one", b1, "f/one"); err != nil {
		t.Fatalf("Copy b1→b2: %v", err)
	}
	if err := b1.Copy(ctx, "g/two", b2, "f/two"); err != nil {
		t.Fatalf("Copy b2→b1: %v", err)
	}
	if got := mustGet(t, b2, "g/one"); string(got) != "from b1" {
		t.Errorf("b2 g/one = %q", got)
	}
	if got := mustGet(t, b1, "g/two"); !bytes.Equal(got, big) {
		t.Errorf("b1 g/two differs (%d bytes)", len(got))
	}
	if err := b2.Copy(ctx, "g/x", b1, "f/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Copy of a missing key across buckets: %v (%s), want ErrNotFound", err, classOf(err))
	}
	// Across backends: from an in-memory bucket.
	memSeq.Lock()
	memSeq.n++
	name := fmt.Sprintf("storagetest-copy-%d-%d", os.Getpid(), memSeq.n)
	memSeq.Unlock()
	m, err := storage.Open(ctx, "mem://"+name, nil)
	if err != nil {
		t.Fatalf("Open mem: %v", err)
	}
	defer m.Close()
	mustPut(t, m, "m/obj", big[:1000])
	if err := b1.Copy(ctx, "g/mem", m, "m/obj"); err != nil {
		t.Fatalf("Copy mem→b1: %v", err)
	}
	if got := mustGet(t, b1, "g/mem"); !bytes.Equal(got, big[:1000]) {
		t.Errorf("b1 g/mem differs")
	}
	if err := m.Copy(ctx, "back", b1, "g/one"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Copy of a key only in b2 from b1: %v, want ErrNotFound", err)
	}
}
