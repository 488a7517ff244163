package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configures Open. The zero value (and nil) is the default.
type Options struct {
	// Logger receives retry and diagnostic messages. nil: slog.Default().
	Logger *slog.Logger
	// Retry is the retry policy for ErrTransient failures. The zero value
	// is DefaultRetry.
	Retry RetryPolicy
	// OnRetry, if set, is called before each retry (e.g. to count retries
	// in a metric). attempt is the number of the attempt that failed (1-based).
	OnRetry func(op, key string, attempt int, err error)
	// UploadReplay is how many bytes of an Upload source that cannot seek
	// are kept in memory to retry a failed attempt (0: DefaultUploadReplay,
	// <0: none). An upload that failed further into its stream is not
	// retried and returns its (transient) error.
	UploadReplay int64
}

// RetryPolicy bounds the retries of transient failures with jittered
// exponential backoff. Zero fields take DefaultRetry's values.
type RetryPolicy struct {
	// MaxAttempts is the total number of tries, including the first.
	// 1 disables retries.
	MaxAttempts int
	// InitialInterval is the first backoff delay.
	InitialInterval time.Duration
	// MaxInterval caps a single delay.
	MaxInterval time.Duration
	// MaxElapsed caps the total time spent retrying one operation.
	MaxElapsed time.Duration
	// Jitter is the randomization factor in [0,1): each delay is drawn from
	// delay*(1±Jitter).
	Jitter float64
}

// DefaultRetry is the retry policy used when Options.Retry is zero.
var DefaultRetry = RetryPolicy{
	MaxAttempts:     8,
	InitialInterval: 50 * time.Millisecond,
	MaxInterval:     5 * time.Second,
	MaxElapsed:      2 * time.Minute,
	Jitter:          0.5,
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetry
	if p.MaxAttempts > 0 {
		d.MaxAttempts = p.MaxAttempts
	}
	if p.InitialInterval > 0 {
		d.InitialInterval = p.InitialInterval
	}
	if p.MaxInterval > 0 {
		d.MaxInterval = p.MaxInterval
	}
	if p.MaxElapsed > 0 {
		d.MaxElapsed = p.MaxElapsed
	}
	if p.Jitter > 0 && p.Jitter < 1 {
		d.Jitter = p.Jitter
	}
	return d
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Open opens the location rawURL and returns a Bucket that retries
// transient failures according to opts (nil: defaults).
//
// Supported URLs:
//
//	file:///abs/dir                       local directory (own implementation, atomic put-if-absent via link(2))
//	mem://name                            in-memory; the same name is the same bucket process-wide
//	s3://bucket/prefix?region=&endpoint=&use_path_style=true
//	gs://bucket/prefix                    honors STORAGE_EMULATOR_HOST
//	azblob://container/prefix             honors AZURE_STORAGE_* environment variables
//
// Credentials come from each cloud's standard chain and are never logged.
func Open(ctx context.Context, rawURL string, opts *Options) (Bucket, error) {
	b, err := openRaw(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return WithRetry(b, opts), nil
}

// openRaw opens the backend without the retry layer.
func openRaw(ctx context.Context, rawURL string) (Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("parse URL: %w", err))
	}
	switch u.Scheme {
	case "file":
		return openFile(u)
	case "mem":
		return openMem(u)
	case "s3", "gs", "azblob":
		return openCloud(ctx, u)
	case "":
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("URL %q has no scheme", RedactURL(rawURL)))
	default:
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("unsupported URL scheme %q", u.Scheme))
	}
}

func openFile(u *url.URL) (Bucket, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("file URL must have an empty host: %q", u.String()))
	}
	p := u.Path
	if p == "" || !filepath.IsAbs(filepath.FromSlash(p)) {
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("file URL needs an absolute path: %q", u.String()))
	}
	return newFileBucket(filepath.Clean(filepath.FromSlash(p)))
}

// keyPrefix turns a URL path into a key prefix: "" or "a/b/".
func keyPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." || p == "." {
		return "", fmt.Errorf("invalid path prefix %q", p)
	}
	return p + "/", nil
}

// RedactURL returns rawURL without credentials: the userinfo password and
// query parameters that look like secrets are removed. It is what
// Bucket.URL returns and what may be logged.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User != nil {
		// The user name may be an access key id (s3://AKIA…:secret@bucket):
		// drop all of it.
		u.User = nil
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretParam(k) {
			q.Del(k)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// errClosed is returned by operations on a closed bucket.
var errClosed = errors.New("bucket is closed")

// mem registry: one memblob per name, process-wide.
var (
	memMu      sync.Mutex
	memBuckets = map[string]*cloudRoot{}
)
