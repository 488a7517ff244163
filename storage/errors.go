package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"
)

// Error records a failed storage operation, in the style of fs.PathError.
// It wraps both its class (one of ErrNotFound, ErrExists, ErrTransient,
// ErrPermanent) and the backend's own error, so errors.Is works for the
// class and errors.As still reaches the driver's error type.
type Error struct {
	Op    string // operation, e.g. "PutIfAbsent"
	Key   string // key relative to the bucket's prefix ("" when not applicable)
	Class error  // ErrNotFound, ErrExists, ErrTransient or ErrPermanent
	Err   error  // underlying cause, may be nil
}

// Error formats as "storage: <op> <key>: <class>: <cause>".
func (e *Error) Error() string {
	s := "storage: " + e.Op
	if e.Key != "" {
		s += " " + e.Key
	}
	s += ": " + classText(e.Class)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the class sentinel and the underlying cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.Err}
}

func classText(c error) string {
	switch c {
	case ErrNotFound:
		return "not found"
	case ErrExists:
		return "already exists"
	case ErrTransient:
		return "transient failure"
	case ErrPermanent:
		return "permanent failure"
	}
	if c == nil {
		return "error"
	}
	return c.Error()
}

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// newError builds an *Error of the given class.
func newError(op, key string, class, cause error) error {
	return &Error{Op: op, Key: key, Class: class, Err: cause}
}

// ctxError returns a wrapped context error if err is (or was caused by) the
// context ending. Context errors are not classified: the caller gave up, the
// backend did not fail.
func ctxError(ctx context.Context, op, key string, err error) error {
	var cerr error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if ctx.Err() != nil {
			cerr = ctx.Err()
		} else {
			// A deadline inside the client (e.g. an HTTP timeout) with our
			// ctx still alive: that is a transient backend failure.
			return nil
		}
	case ctx.Err() != nil:
		cerr = ctx.Err()
	default:
		return nil
	}
	return &ctxErr{op: op, key: key, ctx: cerr, err: err}
}

// ctxErr wraps a context error with op and key, without a class.
type ctxErr struct {
	op, key string
	ctx     error
	err     error
}

func (e *ctxErr) Error() string {
	s := "storage: " + e.op
	if e.key != "" {
		s += " " + e.key
	}
	return s + ": " + e.ctx.Error()
}

func (e *ctxErr) Unwrap() []error { return []error{e.ctx, e.err} }

// classifyBlob maps an error from a gocloud.dev/blob bucket to our classes.
// putIfAbsent selects the conditional-write interpretation of precondition
// and conflict codes.
func classifyBlob(ctx context.Context, op, key string, err error, putIfAbsent bool) error {
	if err == nil {
		return nil
	}
	if e := ctxError(ctx, op, key, err); e != nil {
		return e
	}
	status := httpStatus(err)
	if brokenResponse(err, status) {
		return newError(op, key, ErrTransient, err)
	}
	code := gcerrors.Code(err)
	if putIfAbsent {
		// S3 answers a refused If-None-Match with 412 PreconditionFailed, and
		// a concurrent conditional write with 409 ConditionalRequestConflict
		// (gocloud maps that to Unknown). Azure uses 409 BlobAlreadyExists or
		// 412 ConditionNotMet; GCS 412.
		if code == gcerrors.FailedPrecondition || code == gcerrors.AlreadyExists ||
			status == http.StatusPreconditionFailed || apiCode(err) == "ConditionalRequestConflict" {
			return newError(op, key, ErrExists, err)
		}
	}
	switch code {
	case gcerrors.NotFound:
		return newError(op, key, ErrNotFound, err)
	case gcerrors.AlreadyExists:
		return newError(op, key, ErrExists, err)
	case gcerrors.ResourceExhausted, gcerrors.Internal, gcerrors.DeadlineExceeded, gcerrors.Canceled:
		return newError(op, key, ErrTransient, err)
	case gcerrors.InvalidArgument, gcerrors.PermissionDenied, gcerrors.Unimplemented,
		gcerrors.FailedPrecondition:
		return newError(op, key, ErrPermanent, err)
	}
	// Unknown: decide by the HTTP status when there is one; without one it
	// is almost always the network (resets, refused connections, EOF).
	switch {
	case status == 0:
		return newError(op, key, ErrTransient, err)
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return newError(op, key, ErrTransient, err)
	case status == http.StatusNotFound:
		return newError(op, key, ErrNotFound, err)
	default:
		return newError(op, key, ErrPermanent, err)
	}
}

// brokenResponse reports whether err says the connection or the response
// broke in transit rather than that the service refused the request: a
// reset or a body cut mid-stream. The SDKs report these with the status of
// the response they had started to read (often 200), so the status alone
// would call them permanent; the whole request is worth retrying instead
// (issue 8: "deserialization failed, failed to decode response body,
// unexpected EOF" failed an `egress --once`).
func brokenResponse(err error, status int) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ETIMEDOUT) {
		// io.EOF here is wrapped inside an SDK error: the stream ended
		// before the response did (a bare io.EOF from Read never gets here).
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// A body the SDK could not decode after a success status was cut or
	// garbled on the way (XML decoders report a cut as a syntax error, not
	// as io.ErrUnexpectedEOF). An error status keeps its own meaning.
	var de *smithy.DeserializationError
	return errors.As(err, &de) && status < 400
}

// httpStatus digs the HTTP status code out of an SDK error, 0 if none.
func httpStatus(err error) int {
	var smithyResp interface{ HTTPStatusCode() int }
	if errors.As(err, &smithyResp) {
		return smithyResp.HTTPStatusCode()
	}
	var azErr *azcore.ResponseError
	if errors.As(err, &azErr) {
		return azErr.StatusCode
	}
	var gErr *googleapi.Error
	if errors.As(err, &gErr) {
		return gErr.Code
	}
	return 0
}

// apiCode returns the service error code of an AWS (smithy) error, "" if none.
func apiCode(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// classifyOS maps an error from the os package to our classes.
func classifyOS(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	if e := ctxError(ctx, op, key, err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return newError(op, key, ErrNotFound, err)
	case errors.Is(err, fs.ErrExist):
		return newError(op, key, ErrExists, err)
	case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EBUSY),
		errors.Is(err, syscall.EIO), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.ESTALE):
		return newError(op, key, ErrTransient, err)
	}
	return newError(op, key, ErrPermanent, err)
}
