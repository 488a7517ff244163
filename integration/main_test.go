package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// Environment variables that configure the integration tests. They are
// printed by `scripts/emulators.sh env`.
const (
	// EnvIntegration must be "1" for this package to run at all.
	EnvIntegration = "LOGLAKE_INTEGRATION"
	// EnvS3URL is the base URL of an S3 bucket (versitygw in CI).
	EnvS3URL = "LOGLAKE_TEST_S3_URL"
	// EnvGCSURL is the base URL of a GCS bucket (fake-gcs-server in CI).
	EnvGCSURL = "LOGLAKE_TEST_GCS_URL"
	// EnvAzureURL is the base URL of an Azure Blob container (Azurite in CI).
	EnvAzureURL = "LOGLAKE_TEST_AZURE_URL"
)

// cloudEnv lists the cloud backends in the order Backends returns them.
var cloudEnv = []struct{ name, env string }{
	{"s3", EnvS3URL},
	{"gcs", EnvGCSURL},
	{"azure", EnvAzureURL},
}

func TestMain(m *testing.M) {
	if os.Getenv(EnvIntegration) != "1" {
		fmt.Printf("integration: skipped: %s is not 1 (run `make test`, or: scripts/emulators.sh start && eval \"$(scripts/emulators.sh env)\")\n", EnvIntegration)
		os.Exit(0)
	}
	if err := checkCloudBackends(context.Background()); err != nil {
		// Fail, never skip: under `make test` a missing emulator is a broken
		// test setup, not a reason to pass without testing.
		fmt.Fprintf(os.Stderr, "integration: FAIL: %s=1 but %v\n", EnvIntegration, err)
		fmt.Fprintln(os.Stderr, "integration: start the emulators with scripts/emulators.sh start and eval \"$(scripts/emulators.sh env)\"")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// checkCloudBackends requires every cloud URL to be set and its bucket to be
// reachable, so that no backend is silently left out. The checks run in
// parallel so that a missing emulator costs one timeout, not three.
func checkCloudBackends(ctx context.Context) error {
	problems := make([]string, len(cloudEnv))
	var wg sync.WaitGroup
	for i, c := range cloudEnv {
		raw := os.Getenv(c.env)
		if raw == "" {
			problems[i] = c.env + " is not set"
			continue
		}
		wg.Go(func() {
			if err := reachable(ctx, raw); err != nil {
				problems[i] = fmt.Sprintf("%s (%s): %v", c.env, c.name, err)
			}
		})
	}
	wg.Wait()
	var msgs []string
	for _, p := range problems {
		if p != "" {
			msgs = append(msgs, p)
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("emulators not usable:\n  %s", strings.Join(msgs, "\n  "))
	}
	return nil
}

func reachable(ctx context.Context, raw string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	b, err := blob.OpenBucket(ctx, raw)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer b.Close()
	ok, err := b.IsAccessible(ctx)
	if err != nil {
		return fmt.Errorf("not reachable: %w", err)
	}
	if !ok {
		return fmt.Errorf("bucket does not exist (scripts/emulators.sh start creates it)")
	}
	return nil
}

// Backend is one storage location the integration tests run against.
type Backend struct {
	// Name is "mem", "file", "s3", "gcs" or "azure"; use it as the subtest name.
	Name string
	// BaseURL locates a bucket, possibly with a prefix and query parameters,
	// that tests share. Write under UniqueURL(t, BaseURL), never at BaseURL
	// itself, so tests and reruns do not see each other's objects.
	BaseURL string
}

// Backends returns every backend the integration tests must cover: mem://,
// file:// in a temporary directory removed when t ends, and the S3, GCS and
// Azure emulators from the environment (TestMain has checked they are set).
//
// Run a test on all of them with:
//
//	for _, be := range Backends(t) {
//		t.Run(be.Name, func(t *testing.T) { url := UniqueURL(t, be.BaseURL); ... })
//	}
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{
		{Name: "mem", BaseURL: "mem://loglake-test"},
		{Name: "file", BaseURL: fileURL(t.TempDir())},
	}
	for _, c := range cloudEnv {
		raw := os.Getenv(c.env)
		if raw == "" {
			t.Fatalf("%s is not set", c.env)
		}
		bs = append(bs, Backend{Name: c.name, BaseURL: raw})
	}
	return bs
}

// UniqueURL returns a location under baseURL that no other test or run uses:
// baseURL's path with "it/<test name>-<random hex>" appended, its query kept.
// For file:// URLs the directory is created.
func UniqueURL(t testing.TB, baseURL string) string {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("UniqueURL: parse %q: %v", baseURL, err)
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("UniqueURL: %v", err)
	}
	leaf := sanitize(t.Name()) + "-" + hex.EncodeToString(rnd[:])
	u.Path = path.Join("/", u.Path, "it", leaf)
	u.RawPath = ""
	if u.Scheme == "file" {
		if err := os.MkdirAll(filepath.FromSlash(u.Path), 0o755); err != nil {
			t.Fatalf("UniqueURL: %v", err)
		}
	}
	return u.String()
}

// sanitize maps a test name to characters that are safe in every backend's
// keys and in a URL path segment.
func sanitize(name string) string {
	var sb strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	s := sb.String()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// fileURL turns an absolute directory into a file:// URL.
func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

// TestBackends checks the harness itself: every backend is present, UniqueURL
// gives distinct locations under the base URL, and an object written at one
// is read back there, refused a second put-if-absent, and invisible from
// another.
func TestBackends(t *testing.T) {
	bs := Backends(t)
	var names []string
	for _, be := range bs {
		names = append(names, be.Name)
	}
	if got, want := strings.Join(names, ","), "mem,file,s3,gcs,azure"; got != want {
		t.Fatalf("Backends names = %s, want %s", got, want)
	}
	for _, be := range bs {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			u1, u2 := UniqueURL(t, be.BaseURL), UniqueURL(t, be.BaseURL)
			if u1 == u2 {
				t.Fatalf("UniqueURL returned %q twice", u1)
			}
			base, _ := url.Parse(be.BaseURL)
			got, err := url.Parse(u1)
			if err != nil {
				t.Fatal(err)
			}
			if got.Scheme != base.Scheme || got.Host != base.Host || got.RawQuery != base.RawQuery {
				t.Fatalf("UniqueURL(%q) = %q: scheme, host or query changed", be.BaseURL, u1)
			}
			if !strings.HasPrefix(got.Path, strings.TrimSuffix(base.Path, "/")+"/it/TestBackends_"+be.Name+"-") {
				t.Fatalf("UniqueURL(%q) = %q: path not under base/it/<test name>-", be.BaseURL, u1)
			}
			// Both prefixes live in one bucket; open the bucket once so
			// mem:// (a new bucket per gocloud open) shares it too.
			b := openPrefixed(ctx, t, be.BaseURL)
			p1, p2 := relPrefix(t, base, u1), relPrefix(t, base, u2)
			data := []byte("hello " + be.Name)
			opts := &blob.WriterOptions{IfNotExist: true}
			if err := b.WriteAll(ctx, p1+"k", data, opts); err != nil {
				t.Fatalf("put-if-absent: %v", err)
			}
			err = b.WriteAll(ctx, p1+"k", []byte("again"), opts)
			if gcerrors.Code(err) != gcerrors.FailedPrecondition {
				t.Fatalf("second put-if-absent: got %v (code %v), want FailedPrecondition", err, gcerrors.Code(err))
			}
			back, err := b.ReadAll(ctx, p1+"k")
			if err != nil || string(back) != string(data) {
				t.Fatalf("read back = %q, %v; want %q", back, err, data)
			}
			if ok, err := b.Exists(ctx, p2+"k"); err != nil || ok {
				t.Fatalf("other UniqueURL sees the object: exists=%v err=%v", ok, err)
			}
			if err := b.Delete(ctx, p1+"k"); err != nil {
				t.Fatalf("delete: %v", err)
			}
		})
	}
}

// openPrefixed opens rawURL's bucket (with its query) rooted at the bucket,
// closing it when t ends.
func openPrefixed(ctx context.Context, t *testing.T, rawURL string) *blob.Bucket {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "file" {
		u.Path = ""
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// relPrefix returns the key prefix of sub inside base's bucket: the whole
// path for buckets, the part below base's directory for file://.
func relPrefix(t *testing.T, base *url.URL, sub string) string {
	t.Helper()
	u, err := url.Parse(sub)
	if err != nil {
		t.Fatal(err)
	}
	p := u.Path
	if base.Scheme == "file" {
		p = strings.TrimPrefix(p, base.Path)
	}
	return strings.TrimPrefix(p, "/") + "/"
}
