package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/loglake/loglake/storage"
)

func TestRedactURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"s3://b/p?region=eu-west-1&endpoint=http://127.0.0.1:7070", "s3://b/p?region=eu-west-1&endpoint=http://127.0.0.1:7070"},
		{"azblob://c/p?sas_token=sv%3Dabc&protocol=http", "azblob://c/p?protocol=http"},
		{"s3://user:secret@b/p", "s3://b/p"},
		{"gs://b/p?access_key=AKIA&x=1", "gs://b/p?x=1"},
		{"file:///tmp/x", "file:///tmp/x"},
	}
	for _, c := range cases {
		if got := storage.RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	for _, raw := range []string{
		"", "ftp://host/x", "file:relative/dir", "file://otherhost/dir", "s3:///prefix",
		"mem://x/../y", "gs://b/p?unknown=1", "://bad",
	} {
		b, err := storage.Open(context.Background(), raw, nil)
		if err == nil {
			b.Close()
			t.Errorf("Open(%q) succeeded", raw)
			continue
		}
		if !errors.Is(err, storage.ErrPermanent) {
			t.Errorf("Open(%q) = %v, want ErrPermanent", raw, err)
		}
	}
}

func TestOpenMemIsProcessWide(t *testing.T) {
	ctx := context.Background()
	name := uniqueMem(t)
	b1 := openT(t, name, nil)
	b2 := openT(t, name, nil)
	sub := openT(t, name+"/tables/t1", nil)
	if err := b1.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := sub.Put(ctx, "_delta_log/0.json", []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing one handle leaves the shared bucket usable by others.
	if got, err := b2.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("second handle Get = %q, %v", got, err)
	}
	if got, err := b2.Get(ctx, "tables/t1/_delta_log/0.json"); err != nil || string(got) != "c" {
		t.Fatalf("prefixed write seen from the root = %q, %v", got, err)
	}
	if _, err := sub.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("prefixed handle sees keys outside its prefix: %v", err)
	}
	if _, err := b1.Get(ctx, "k"); !errors.Is(err, storage.ErrPermanent) {
		t.Fatalf("closed handle Get = %v, want ErrPermanent", err)
	}
	other := openT(t, uniqueMem(t), nil)
	if _, err := other.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a different mem name shares keys: %v", err)
	}
}
