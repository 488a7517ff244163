//go:build ignore

// emuctl prepares and checks the storage emulators that scripts/emulators.sh
// starts. It is run with `go run scripts/emuctl.go <command>` and reads the
// same LOGLAKE_TEST_*_URL variables (and cloud credential variables) that the
// integration tests read, so a passing `verify` means the tests' environment
// really reaches each emulator through gocloud.dev URLs.
//
// Commands:
//
// Several commands may be given; they run in order.
//
//	setup   create the bucket/container named by each URL (idempotent), retrying
//	        while the emulator is still coming up
//	verify  write, put-if-absent, read, list and delete an object on each URL
//
// The ignore build tag keeps it out of ./... and out of `go mod tidy`.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	gcstorage "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"
)

// backends lists the env vars holding each emulator's bucket URL.
var backends = []struct{ name, env string }{
	{"s3", "LOGLAKE_TEST_S3_URL"},
	{"gcs", "LOGLAKE_TEST_GCS_URL"},
	{"azure", "LOGLAKE_TEST_AZURE_URL"},
}

func main() {
	cmds := os.Args[1:]
	for _, c := range cmds {
		if c != "setup" && c != "verify" {
			cmds = nil
		}
	}
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/emuctl.go setup|verify ...")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range cmds {
		if !run(ctx, c) {
			os.Exit(1)
		}
	}
}

// run applies cmd to every backend and reports whether all succeeded.
func run(ctx context.Context, cmd string) bool {
	failed := false
	for _, be := range backends {
		raw := os.Getenv(be.env)
		if raw == "" {
			fmt.Fprintf(os.Stderr, "emuctl: %s is not set (run: eval \"$(scripts/emulators.sh env)\")\n", be.env)
			failed = true
			continue
		}
		start := time.Now()
		var err error
		switch cmd {
		case "setup":
			err = setup(ctx, be.name, raw)
		case "verify":
			err = verify(ctx, raw)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "emuctl: %s %s: %v\n", cmd, be.name, err)
			failed = true
			continue
		}
		fmt.Printf("emuctl: %s %s ok (%s)\n", cmd, be.name, time.Since(start).Round(time.Millisecond))
	}
	return !failed
}

// setup creates the URL's bucket, retrying for up to 30s because an emulator
// may accept connections a moment before it serves requests.
func setup(ctx context.Context, name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last error
	for {
		last = createBucket(ctx, name, raw, u.Host)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after 30s: %w", last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func createBucket(ctx context.Context, name, raw, bucketName string) error {
	b, err := blob.OpenBucket(ctx, raw)
	if err != nil {
		return err
	}
	defer b.Close()
	switch name {
	case "s3":
		var c *s3.Client
		if !b.As(&c) {
			return errors.New("s3 bucket does not expose *s3.Client")
		}
		_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucketName)})
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "BucketAlreadyOwnedByYou" || ae.ErrorCode() == "BucketAlreadyExists") {
			err = nil
		}
	case "gcs":
		var c *gcstorage.Client
		if !b.As(&c) {
			return errors.New("gcs bucket does not expose *storage.Client")
		}
		err = c.Bucket(bucketName).Create(ctx, "loglake-test", nil)
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == 409 {
			err = nil
		}
	case "azure":
		var c *container.Client
		if !b.As(&c) {
			return errors.New("azure bucket does not expose *container.Client")
		}
		_, err = c.Create(ctx, nil)
		if bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", bucketName, err)
	}
	ok, err := b.IsAccessible(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("bucket %q not accessible after create", bucketName)
	}
	return nil
}

// verify exercises the operations loglake relies on: a put-if-absent that
// must win once and then be refused, a read back, a prefix listing, a delete.
func verify(ctx context.Context, raw string) error {
	b, err := blob.OpenBucket(ctx, raw)
	if err != nil {
		return err
	}
	defer b.Close()
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	prefix := "emuctl-verify/" + hex.EncodeToString(rnd[:]) + "/"
	key := prefix + "obj.json"
	data := []byte(`{"hello":"emulator"}`)
	opts := &blob.WriterOptions{IfNotExist: true, ContentType: "application/json"}
	if err := b.WriteAll(ctx, key, data, opts); err != nil {
		return fmt.Errorf("put-if-absent: %w", err)
	}
	err = b.WriteAll(ctx, key, []byte("second writer"), opts)
	if err == nil {
		return errors.New("second put-if-absent succeeded; want a refusal")
	}
	if code := gcerrors.Code(err); code != gcerrors.FailedPrecondition {
		return fmt.Errorf("second put-if-absent: got code %v (%v), want FailedPrecondition", code, err)
	}
	got, err := b.ReadAll(ctx, key)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("read back %q, want %q", got, data)
	}
	it := b.List(&blob.ListOptions{Prefix: prefix})
	var keys []string
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		keys = append(keys, obj.Key)
	}
	if len(keys) != 1 || keys[0] != key {
		return fmt.Errorf("list %q = [%s], want [%s]", prefix, strings.Join(keys, " "), key)
	}
	if err := b.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if ok, err := b.Exists(ctx, key); err != nil || ok {
		return fmt.Errorf("exists after delete = %v, %v; want false, nil", ok, err)
	}
	return nil
}
