package storage_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loglake/loglake/storage"
)

func TestParseLocation(t *testing.T) {
	base := t.TempDir()
	for _, c := range []struct{ in, want string }{
		{"t", "file://" + filepath.ToSlash(filepath.Join(base, "t"))},
		{"./a/b", "file://" + filepath.ToSlash(filepath.Join(base, "a/b"))},
		{"../up", "file://" + filepath.ToSlash(filepath.Join(filepath.Dir(base), "up"))},
		{"/abs/dir", "file:///abs/dir"},
		{"file://./rel", "file://" + filepath.ToSlash(filepath.Join(base, "rel"))},
		{"file:///abs", "file:///abs"},
		{"s3://b/p?region=eu-west-1&endpoint=http://127.0.0.1:7070", "s3://b/p?region=eu-west-1&endpoint=http://127.0.0.1:7070"},
		{"mem://x", "mem://x"},
	} {
		got, err := storage.ParseLocation(c.in, base)
		if err != nil || got != c.want {
			t.Errorf("ParseLocation(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in    string
		creds bool
	}{
		{"s3://AKIAEXAMPLE:abc@bucket/p", true},
		{"s3://bucket/p?region=x&secret=abc", true},
		{"azblob://c/p?sas_token=abc", true},
		{"ftp://h/x", false},
		{"s3:///p", false},
		{"s3:bucket", false},
		{"", false},
	} {
		_, err := storage.ParseLocation(c.in, base)
		if err == nil {
			t.Errorf("ParseLocation(%q) succeeded", c.in)
			continue
		}
		if got := errors.Is(err, storage.ErrCredentials); got != c.creds {
			t.Errorf("ParseLocation(%q): %v; ErrCredentials = %v, want %v", c.in, err, got, c.creds)
		}
		for _, secret := range []string{"abc", "AKIAEXAMPLE"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseLocation(%q): error %q shows the secret", c.in, err)
			}
		}
	}
}

func TestRedactText(t *testing.T) {
	in := `open "s3://AKIA:abc@b/p?region=x&secret=abc": table s3://b/q not found; gs://b/p?token=zzz.`
	got := storage.RedactText(in)
	for _, secret := range []string{"abc", "AKIA", "zzz"} {
		if strings.Contains(got, secret) {
			t.Errorf("RedactText kept %q: %s", secret, got)
		}
	}
	if !strings.Contains(got, "s3://b/q") || !strings.Contains(got, "region=x") {
		t.Errorf("RedactText lost the harmless parts: %s", got)
	}
	// A bare scheme names a cloud, not a location: kept as written.
	if s := `a gs:// URL does not belong to cloud "azure" (want azblob://)`; storage.RedactText(s) != s {
		t.Errorf("RedactText(%q) = %q", s, storage.RedactText(s))
	}
}

// TestOpenCreatesNothing: opening and reading a missing file:// location
// leaves no directory behind; the first write creates it.
func TestOpenCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "typo")
	b, err := storage.Open(ctx, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Get(ctx, "_delta_log/00000000000000000000.json"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if _, err := b.List(ctx, "_delta_log/", "").Next(ctx); err != io.EOF {
		t.Errorf("List = %v, want EOF", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reading created %s (%v)", dir, err)
	}
	if err := b.PutIfAbsent(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "a", "b")); err != nil || string(data) != "x" {
		t.Errorf("after write: %q, %v", data, err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if b, err := storage.Open(ctx, "file://"+f, nil); err == nil {
		b.Close()
		t.Errorf("Open of a regular file succeeded")
	}
}

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"file:///x/landing", "file:///x/landing", true},
		{"file:///x/landing", "file:///x/landing/table", true},
		{"file:///x/landing/t", "file:///x/landing", true},
		{"file:///x/landing", "file:///x/landing2", false},
		{"s3://b/a", "s3://b/a/b?region=x", true},
		{"s3://b", "s3://b/t", true},
		{"s3://b/a", "s3://c/a", false},
		{"s3://b/a", "gs://b/a", false},
		{"azblob://c/x?storage_account=a", "azblob://c/x?storage_account=b", false},
		{"s3://b?endpoint=http://minio-a:9000", "s3://b/t?endpoint=http://minio-a:9000&region=x", true},
	} {
		if got := storage.Overlap(c.a, c.b); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestLocationKey(t *testing.T) {
	same := [][]string{
		{"file:///x/central", "file:///x/central/", "file://localhost/x/central", "file:///x/./central", "file:///x//central"},
		{"s3://b/t", "s3://b/t/?region=us-east-1", "s3://b//t?use_path_style=true&region=eu-west-1"},
		{"s3://b/t?endpoint=http://127.0.0.1:7070&use_path_style=true", "s3://b/t/?region=x&endpoint=http%3A%2F%2F127.0.0.1%3A7070"},
		{"azblob://c", "azblob://c/"},
	}
	for _, group := range same {
		for _, loc := range group[1:] {
			if a, b := storage.LocationKey(group[0]), storage.LocationKey(loc); a != b || a == "" {
				t.Errorf("LocationKey(%q) = %q, LocationKey(%q) = %q: want the same", group[0], a, loc, b)
			}
		}
	}
	differ := [][2]string{
		{"file:///x/central", "file:///x/central2"},
		{"s3://b/t", "gs://b/t"},
		{"s3://b/t", "s3://c/t"},
		{"s3://b/t", "s3://b/T"},
		{"s3://b/a/t", "s3://b/t"},
		// The store itself differs (review: one stream for two accounts).
		{"azblob://lake/central?storage_account=old", "azblob://lake/central?storage_account=new"},
		{"s3://b/t?endpoint=http://minio-a:9000", "s3://b/t?endpoint=http://minio-b:9000"},
		{"s3://b/t?endpoint=http://minio-a:9000", "s3://b/t"},
	}
	for _, d := range differ {
		if storage.LocationKey(d[0]) == storage.LocationKey(d[1]) {
			t.Errorf("LocationKey(%q) = LocationKey(%q): want them different", d[0], d[1])
		}
	}
	if k := storage.LocationKey("::"); k != "" {
		t.Errorf(`LocationKey("::") = %q, want ""`, k)
	}
}
