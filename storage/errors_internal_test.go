package storage

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"google.golang.org/api/googleapi"
)

// s3Err builds an error shaped like the AWS SDK v2's: an operation error
// around an HTTP response error around the API error.
func s3Err(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: code},
	}}
}

// s3Cut builds the SDK's error for a response whose body could not be
// decoded: a deserialization error inside the response error of the status
// that had been read.
func s3Cut(status int, cause error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "ListObjectsV2", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", cause)},
	}}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyBlob(t *testing.T) {
	ctx := context.Background()
	mem := memblob.OpenBucket(nil)
	defer mem.Close()
	_, notFound := mem.ReadAll(ctx, "missing")
	mem.WriteAll(ctx, "k", []byte("v"), nil)
	precond := mem.WriteAll(ctx, "k", []byte("v"), &blob.WriterOptions{IfNotExist: true})
	if precond == nil {
		t.Fatal("memblob accepted a second IfNotExist write")
	}
	cases := []struct {
		name        string
		err         error
		putIfAbsent bool
		want        error
	}{
		{"gocloud NotFound", notFound, false, ErrNotFound},
		{"gocloud FailedPrecondition, put-if-absent", precond, true, ErrExists},
		{"gocloud FailedPrecondition, other op", precond, false, ErrPermanent},
		{"S3 412 PreconditionFailed", s3Err(412, "PreconditionFailed"), true, ErrExists},
		{"S3 409 ConditionalRequestConflict", s3Err(409, "ConditionalRequestConflict"), true, ErrExists},
		{"S3 409 other conflict is not a lost race", s3Err(409, "OperationAborted"), true, ErrPermanent},
		{"S3 503 SlowDown", s3Err(503, "SlowDown"), false, ErrTransient},
		{"S3 500", s3Err(500, "InternalError"), true, ErrTransient},
		{"S3 403", s3Err(403, "SignatureDoesNotMatch"), false, ErrPermanent},
		{"S3 400", s3Err(400, "InvalidArgument"), false, ErrPermanent},
		{"Azure 503", &azcore.ResponseError{StatusCode: 503, ErrorCode: "ServerBusy"}, false, ErrTransient},
		{"Azure 412 put-if-absent", &azcore.ResponseError{StatusCode: 412}, true, ErrExists},
		{"GCS 429", &googleapi.Error{Code: 429}, false, ErrTransient},
		{"GCS 412 put-if-absent", &googleapi.Error{Code: 412}, true, ErrExists},
		{"network error", fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), false, ErrTransient},
		// Issue 8: a response body cut mid-stream after a 200 status.
		{"S3 200 with a cut XML body", s3Cut(200, &xml.SyntaxError{Msg: "unexpected EOF", Line: 3}), false, ErrTransient},
		{"S3 200 with a cut body, put-if-absent", s3Cut(200, io.ErrUnexpectedEOF), true, ErrTransient},
		{"S3 200 body reset", s3Cut(200, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false, ErrTransient},
		{"S3 403 with a cut error body stays permanent", s3Cut(403, &xml.SyntaxError{Msg: "unexpected EOF"}), false, ErrPermanent},
		{"read cut mid-body", fmt.Errorf("blob read: %w", io.ErrUnexpectedEOF), false, ErrTransient},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true, ErrTransient},
		{"client timeout", &url.Error{Op: "Get", URL: "http://x", Err: timeoutErr{}}, false, ErrTransient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := classifyBlob(ctx, "Op", "key", c.err, c.putIfAbsent)
			if !errors.Is(got, c.want) {
				t.Fatalf("classify(%v) = %v, want class %v", c.err, got, c.want)
			}
			for _, other := range []error{ErrNotFound, ErrExists, ErrTransient, ErrPermanent} {
				if other != c.want && errors.Is(got, other) {
					t.Errorf("also classified as %v", other)
				}
			}
			if !errors.Is(got, c.err) {
				t.Errorf("the cause is not wrapped")
			}
		})
	}
}

func TestClassifyContext(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(live)
	cancel()
	cases := []struct {
		name      string
		ctx       context.Context
		err       error
		wantCtx   error
		wantClass error
	}{
		{"our ctx canceled", done, fmt.Errorf("wrapped: %w", context.Canceled), context.Canceled, nil},
		{"our ctx canceled, odd error", done, errors.New("connection closed"), context.Canceled, nil},
		{"client-side timeout, ctx alive", live, fmt.Errorf("http: %w", context.DeadlineExceeded), nil, ErrTransient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := classifyBlob(c.ctx, "Get", "k", c.err, false)
			if c.wantCtx != nil && !errors.Is(got, c.wantCtx) {
				t.Errorf("got %v, want %v", got, c.wantCtx)
			}
			for _, cl := range []error{ErrNotFound, ErrExists, ErrTransient, ErrPermanent} {
				if errors.Is(got, cl) != (cl == c.wantClass) {
					t.Errorf("got %v: class %v is %v, want %v", got, cl, errors.Is(got, cl), cl == c.wantClass)
				}
			}
		})
	}
}

func TestClassifyOS(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		err  error
		want error
	}{
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, ErrNotFound},
		{&fs.PathError{Op: "link", Path: "/x", Err: syscall.EEXIST}, ErrExists},
		{&fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, ErrPermanent},
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.EIO}, ErrTransient},
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, ErrPermanent},
	}
	for _, c := range cases {
		if got := classifyOS(ctx, "Put", "x", c.err); !errors.Is(got, c.want) {
			t.Errorf("classifyOS(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	err := newError("PutIfAbsent", "_delta_log/1.json", ErrExists, errors.New("412"))
	want := "storage: PutIfAbsent _delta_log/1.json: already exists: 412"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}
