package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	gcs "cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
	"google.golang.org/api/option"
)

// listPageSize is the page size used for listings. S3 caps pages at 1000;
// a smaller page keeps the first result quick and memory flat.
const listPageSize = 1000

// cloudRoot is one opened backend bucket, shared by the prefixes on it.
type cloudRoot struct {
	bucket *blob.Bucket
	// id identifies the backend bucket (scheme, host, endpoint) so Copy can
	// tell when a server-side copy is possible.
	id     string
	scheme string
	shared bool // process-wide (mem://): Close must not close it
}

// blobBucket is a Bucket on gocloud.dev/blob: mem, s3, gs and azblob.
type blobBucket struct {
	root   *cloudRoot
	prefix string // "" or ends in "/"
	url    string // redacted
	closed atomic.Bool
}

func openMem(u *url.URL) (Bucket, error) {
	prefix, err := keyPrefix(u.Path)
	if err != nil {
		return nil, newError("Open", "", ErrPermanent, err)
	}
	name := u.Host
	memMu.Lock()
	root := memBuckets[name]
	if root == nil {
		root = &cloudRoot{bucket: memblob.OpenBucket(nil), id: "mem://" + name, scheme: "mem", shared: true}
		memBuckets[name] = root
	}
	memMu.Unlock()
	return &blobBucket{root: root, prefix: prefix, url: RedactURL(u.String())}, nil
}

// openCloud opens s3://, gs:// and azblob:// URLs through gocloud's drivers.
func openCloud(ctx context.Context, u *url.URL) (Bucket, error) {
	if u.Host == "" {
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("URL %q has no bucket name", RedactURL(u.String())))
	}
	prefix, err := keyPrefix(u.Path)
	if err != nil {
		return nil, newError("Open", "", ErrPermanent, err)
	}
	rootURL := *u
	rootURL.Path, rootURL.RawPath = "", ""
	b, err := openCloudRoot(ctx, &rootURL)
	if err != nil {
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("open %s: %w", RedactURL(rootURL.String()), err))
	}
	q := rootURL.Query()
	id := u.Scheme + "://" + u.Host + "?" + q.Encode()
	if u.Scheme == "gs" {
		id += "&emulator=" + os.Getenv("STORAGE_EMULATOR_HOST")
	}
	root := &cloudRoot{bucket: b, id: id, scheme: u.Scheme}
	return &blobBucket{root: root, prefix: prefix, url: RedactURL(u.String())}, nil
}

func openCloudRoot(ctx context.Context, u *url.URL) (*blob.Bucket, error) {
	switch u.Scheme {
	case "s3":
		o := &s3blob.URLOpener{}
		return o.OpenBucketURL(ctx, u)
	case "gs":
		q := u.Query()
		anonymous := os.Getenv("STORAGE_EMULATOR_HOST") != ""
		for k, v := range q {
			switch k {
			case "anonymous":
				a, err := strconv.ParseBool(v[0])
				if err != nil {
					return nil, fmt.Errorf("invalid value for anonymous: %w", err)
				}
				anonymous = anonymous || a
			default:
				return nil, fmt.Errorf("unsupported query parameter %q", k)
			}
		}
		var copts []option.ClientOption
		if anonymous {
			// An emulator (fake-gcs-server) takes no credentials; the
			// storage client reads STORAGE_EMULATOR_HOST for the endpoint.
			copts = append(copts, option.WithoutAuthentication())
		}
		c, err := gcs.NewClient(ctx, copts...)
		if err != nil {
			return nil, err
		}
		return gcsblob.OpenBucket(ctx, nil, u.Host, &gcsblob.Options{Client: c})
	case "azblob":
		o := &azureblob.URLOpener{
			MakeClient:        azureblob.NewDefaultClient,
			ServiceURLOptions: *azureblob.NewDefaultServiceURLOptions(),
		}
		return o.OpenBucketURL(ctx, u)
	}
	return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

func (b *blobBucket) URL() string { return b.url }

func (b *blobBucket) full(key string) string { return b.prefix + key }

// check validates a key, the bucket's state and ctx (memblob ignores ctx).
func (b *blobBucket) check(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return ctxError(ctx, op, key, err)
	}
	if b.closed.Load() {
		return newError(op, key, ErrPermanent, errClosed)
	}
	if key == "" || strings.HasPrefix(key, "/") {
		return newError(op, key, ErrPermanent, fmt.Errorf("invalid key %q", key))
	}
	return nil
}

func (b *blobBucket) Get(ctx context.Context, key string) ([]byte, error) {
	if err := b.check(ctx, "Get", key); err != nil {
		return nil, err
	}
	r, err := b.root.bucket.NewRangeReader(ctx, b.full(key), 0, -1, readerOptions)
	if err != nil {
		return nil, classifyBlob(ctx, "Get", key, err, false)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, classifyBlob(ctx, "Get", key, err, false)
	}
	return data, nil
}

func (b *blobBucket) NewReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, "NewReader", key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, newError("NewReader", key, ErrPermanent, fmt.Errorf("negative offset %d", offset))
	}
	r, err := b.root.bucket.NewRangeReader(ctx, b.full(key), offset, length, readerOptions)
	if err != nil {
		return nil, classifyBlob(ctx, "NewReader", key, err, false)
	}
	return &classifyingReader{ctx: ctx, key: key, rc: r, classify: func(ctx context.Context, err error) error {
		return classifyBlob(ctx, "Read", key, err, false)
	}}, nil
}

// readerOptions silences the AWS SDK's warning, printed on every read of a
// multipart upload, that it cannot validate a composite checksum: it goes
// straight to stderr, bypassing our logger.
var readerOptions = &blob.ReaderOptions{BeforeRead: func(as func(any) bool) error {
	var opts *[]func(*s3.Options)
	if as(&opts) {
		*opts = append(*opts, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	}
	return nil
}}

// classifyingReader gives Read errors (other than io.EOF) their class.
type classifyingReader struct {
	ctx      context.Context // the NewReader call's ctx, only to classify errors
	key      string
	rc       io.ReadCloser
	classify func(context.Context, error) error
}

func (r *classifyingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = r.classify(r.ctx, err)
	}
	return n, err
}

func (r *classifyingReader) Close() error { return r.rc.Close() }

func (b *blobBucket) Stat(ctx context.Context, key string) (Object, error) {
	if err := b.check(ctx, "Stat", key); err != nil {
		return Object{}, err
	}
	a, err := b.root.bucket.Attributes(ctx, b.full(key))
	if err != nil {
		return Object{}, classifyBlob(ctx, "Stat", key, err, false)
	}
	return Object{Key: key, Size: a.Size, ModTime: a.ModTime.UTC(), ETag: a.ETag, MD5: a.MD5}, nil
}

var octetStream = &blob.WriterOptions{ContentType: "application/octet-stream"}

func (b *blobBucket) Put(ctx context.Context, key string, data []byte) error {
	if err := b.check(ctx, "Put", key); err != nil {
		return err
	}
	err := b.root.bucket.Upload(ctx, b.full(key), bytes.NewReader(data), octetStream)
	return classifyBlob(ctx, "Put", key, err, false)
}

// PutIfAbsent uses Bucket.Upload with IfNotExist: it is a single conditional
// request on every backend for small objects (If-None-Match: * on S3 and
// Azure, ifGenerationMatch=0 on GCS), and on Azure it avoids the
// Writer.Close path that panics on refused writes in gocloud v0.47.
func (b *blobBucket) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := b.check(ctx, "PutIfAbsent", key); err != nil {
		return err
	}
	opts := &blob.WriterOptions{ContentType: "application/octet-stream", IfNotExist: true}
	err := b.root.bucket.Upload(ctx, b.full(key), bytes.NewReader(data), opts)
	return classifyBlob(ctx, "PutIfAbsent", key, err, true)
}

func (b *blobBucket) Upload(ctx context.Context, key string, r io.Reader) error {
	if err := b.check(ctx, "Upload", key); err != nil {
		return err
	}
	err := b.root.bucket.Upload(ctx, b.full(key), r, octetStream)
	return classifyBlob(ctx, "Upload", key, err, false)
}

func (b *blobBucket) Delete(ctx context.Context, key string) error {
	if err := b.check(ctx, "Delete", key); err != nil {
		return err
	}
	err := classifyBlob(ctx, "Delete", key, b.root.bucket.Delete(ctx, b.full(key)), false)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

func (b *blobBucket) Copy(ctx context.Context, dstKey string, src Bucket, srcKey string) error {
	if err := b.check(ctx, "Copy", dstKey); err != nil {
		return err
	}
	if sb, ok := unwrapBucket(src).(*blobBucket); ok && sb.root.id == b.root.id {
		// Same backend bucket: copy server-side through our own handle.
		err := b.root.bucket.Copy(ctx, b.full(dstKey), sb.full(srcKey), nil)
		return classifyBlob(ctx, "Copy", dstKey, err, false)
	}
	return streamCopy(ctx, b, dstKey, src, srcKey)
}

// streamCopy copies across backends by streaming src into dst.
func streamCopy(ctx context.Context, dst Bucket, dstKey string, src Bucket, srcKey string) error {
	r, err := src.NewReader(ctx, srcKey, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	return dst.Upload(ctx, dstKey, r)
}

func (b *blobBucket) List(ctx context.Context, prefix, startAfter string) ListIterator {
	if err := b.check(ctx, "List", "x"); err != nil {
		return &errIterator{err: err}
	}
	return &blobIterator{b: b, prefix: prefix, startAfter: startAfter}
}

func (b *blobBucket) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.root.shared {
		return nil
	}
	if err := b.root.bucket.Close(); err != nil {
		return newError("Close", "", ErrPermanent, err)
	}
	return nil
}

// blobIterator pages through a flat listing. Pages are fetched on demand,
// so memory stays at one page however large the listing.
type blobIterator struct {
	b          *blobBucket
	prefix     string
	startAfter string
	page       []*blob.ListObject
	token      []byte
	started    bool
	done       bool
}

func (it *blobIterator) Next(ctx context.Context) (Object, error) {
	for {
		for len(it.page) > 0 {
			o := it.page[0]
			it.page = it.page[1:]
			if o.IsDir || !strings.HasPrefix(o.Key, it.b.prefix) {
				continue
			}
			key := strings.TrimPrefix(o.Key, it.b.prefix)
			if key <= it.startAfter {
				continue
			}
			return Object{Key: key, Size: o.Size, ModTime: o.ModTime.UTC(), MD5: o.MD5}, nil
		}
		if it.done {
			return Object{}, io.EOF
		}
		if err := it.fetch(ctx); err != nil {
			return Object{}, err
		}
	}
}

func (it *blobIterator) fetch(ctx context.Context) error {
	full := it.b.prefix + it.prefix
	after := ""
	if it.startAfter != "" {
		after = it.b.prefix + it.startAfter
	}
	opts := &blob.ListOptions{Prefix: full}
	if !it.started && after > full && plainKey(after) {
		// Let the service skip ahead; results are filtered again above.
		opts.BeforeList = func(as func(any) bool) error {
			var s3in *s3.ListObjectsV2Input
			if as(&s3in) {
				s3in.StartAfter = &after
				return nil
			}
			var q *gcs.Query
			if as(&q) {
				q.StartOffset = after
			}
			return nil
		}
	}
	it.started = true
	token := it.token
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	objs, next, err := it.b.root.bucket.ListPage(ctx, token, listPageSize, opts)
	if err != nil {
		return classifyBlob(ctx, "List", it.prefix, err, false)
	}
	it.page = objs
	it.token = next
	if len(next) == 0 {
		it.done = true
	}
	return nil
}

// plainKey reports whether key is sent to every backend unescaped (gocloud
// escapes control characters, "../" and "__0x" sequences on some drivers),
// so a service-side start-after on it is safe.
func plainKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] >= 0x7f {
			return false
		}
	}
	return !strings.Contains(key, "../") && !strings.Contains(key, "__")
}

// errIterator is an iterator that fails at once.
type errIterator struct{ err error }

func (it *errIterator) Next(context.Context) (Object, error) { return Object{}, it.err }
