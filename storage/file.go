package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// tmpPrefix starts the names of in-flight temporary files. Keys may not
// have a path segment starting with it, and List never shows such files.
const tmpPrefix = ".loglake-tmp-"

// fileBucket is a Bucket on a local directory. It does not use fileblob:
// fileblob's IfNotExist is a check-then-write (two winners under racing
// writers) and its nested listings are neither complete nor ordered.
//
// Every write goes to a temporary file in the destination directory first,
// then becomes visible atomically: rename(2) for Put/Upload/Copy, link(2)
// for PutIfAbsent (link fails with EEXIST if the name exists, which is the
// atomic test-and-set). Readers never see a partial object.
//
// Unlike an object store, a key cannot be both an object and a "directory"
// of other keys ("a" and "a/b"): the second write fails with ErrPermanent.
type fileBucket struct {
	root   string
	url    string
	closed atomic.Bool
}

// newFileBucket opens root without creating it: opening a location to read
// it must leave no trace (a mistyped path is not a new, empty table).
// Writes create the directories they need.
func newFileBucket(root string) (*fileBucket, error) {
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, newError("Open", "", ErrPermanent, fmt.Errorf("%s is a file, not a directory", root))
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(root)}
	return &fileBucket{root: root, url: u.String()}, nil
}

func (b *fileBucket) URL() string { return b.url }

// path validates key and returns its file path.
func (b *fileBucket) path(op, key string) (string, error) {
	if b.closed.Load() {
		return "", newError(op, key, ErrPermanent, errClosed)
	}
	if err := validFileKey(key); err != nil {
		return "", newError(op, key, ErrPermanent, err)
	}
	return filepath.Join(b.root, filepath.FromSlash(key)), nil
}

func validFileKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "", seg == ".", seg == "..":
			return fmt.Errorf("invalid key %q: empty, . or .. path segment", key)
		case strings.HasPrefix(seg, tmpPrefix):
			return fmt.Errorf("invalid key %q: segment prefix %q is reserved", key, tmpPrefix)
		case strings.ContainsRune(seg, 0):
			return fmt.Errorf("invalid key %q: NUL byte", key)
		}
	}
	return nil
}

// open opens key for reading inside the bucket's directory: a symbolic
// link that leads out of it is refused (ErrPermanent), so a table or
// landing directory holding one cannot make loglake read, or clone to
// another cloud, a file outside it. Relative links that stay within it are
// followed; absolute ones are refused (os.Root).
func (b *fileBucket) open(key string) (*os.File, error) {
	root, err := os.OpenRoot(b.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(filepath.FromSlash(key))
}

// lstat describes key without following it if it is a link, refusing a
// path through a linked directory that leads out of the bucket (see open).
func (b *fileBucket) lstat(key string) (fs.FileInfo, error) {
	root, err := os.OpenRoot(b.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Lstat(filepath.FromSlash(key))
}

// classify maps file-system errors; a directory where an object is expected
// means the object does not exist.
func (b *fileBucket) classify(ctx context.Context, op, key string, err error) error {
	if errors.Is(err, syscall.EISDIR) {
		return newError(op, key, ErrNotFound, err)
	}
	return classifyOS(ctx, op, key, err)
}

func (b *fileBucket) Get(ctx context.Context, key string) ([]byte, error) {
	_, err := b.path("Get", key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(ctx, "Get", key, err)
	}
	root, err := os.OpenRoot(b.root)
	if err != nil {
		return nil, b.classify(ctx, "Get", key, err)
	}
	defer root.Close()
	data, err := root.ReadFile(filepath.FromSlash(key)) // inside the directory: see open
	if err != nil {
		return nil, b.classify(ctx, "Get", key, err)
	}
	return data, nil
}

func (b *fileBucket) NewReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	_, err := b.path("NewReader", key)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, newError("NewReader", key, ErrPermanent, fmt.Errorf("negative offset %d", offset))
	}
	f, err := b.open(key)
	if err != nil {
		return nil, b.classify(ctx, "NewReader", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, b.classify(ctx, "NewReader", key, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, newError("NewReader", key, ErrNotFound, fs.ErrNotExist)
	}
	n := fi.Size() - offset
	if n < 0 {
		n = 0
	}
	if length >= 0 && length < n {
		n = length
	}
	return &fileReader{ctx: ctx, key: key, r: io.NewSectionReader(f, offset, n), f: f}, nil
}

type fileReader struct {
	ctx context.Context // the NewReader call's ctx: reads stop when it ends
	key string
	r   io.Reader
	f   *os.File
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, ctxError(r.ctx, "Read", r.key, err)
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = classifyOS(r.ctx, "Read", r.key, err)
	}
	return n, err
}

func (r *fileReader) Close() error { return r.f.Close() }

func (b *fileBucket) Stat(ctx context.Context, key string) (Object, error) {
	p, err := b.path("Stat", key)
	if err != nil {
		return Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return Object{}, b.classify(ctx, "Stat", key, err)
	}
	if fi.IsDir() {
		return Object{}, newError("Stat", key, ErrNotFound, fs.ErrNotExist)
	}
	return fileObject(key, fi), nil
}

// fileObject describes a file. Its ETag is the modification time to the
// nanosecond and the size, so a rewrite within the same second still shows
// as a new version (ModTime is compared in whole seconds, as object stores
// report it).
func fileObject(key string, fi fs.FileInfo) Object {
	mod := fi.ModTime()
	etag := strconv.FormatInt(mod.UnixNano(), 16) + "-" + strconv.FormatInt(fi.Size(), 16)
	return Object{Key: key, Size: fi.Size(), ModTime: mod.UTC(), ETag: etag}
}

// writeTemp writes r to a new temporary file in dir (created if needed)
// and syncs it. The caller renames or links it into place.
func (b *fileBucket) writeTemp(ctx context.Context, dir string, r io.Reader) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return "", err
	}
	err = f.Chmod(fs.FileMode(filePerm))
	if err == nil {
		_, err = io.Copy(f, &ctxReader{ctx: ctx, r: r})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// replace writes r to p atomically, replacing any file there.
func (b *fileBucket) replace(ctx context.Context, op, key, p string, r io.Reader) error {
	tmp, err := b.writeTemp(ctx, filepath.Dir(p), r)
	if err != nil {
		return b.classify(ctx, op, key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			// Renaming onto a non-empty directory: the key is a "directory".
			return newError(op, key, ErrPermanent, err)
		}
		return b.classify(ctx, op, key, err)
	}
	return nil
}

func (b *fileBucket) Put(ctx context.Context, key string, data []byte) error {
	p, err := b.path("Put", key)
	if err != nil {
		return err
	}
	return b.replace(ctx, "Put", key, p, bytes.NewReader(data))
}

func (b *fileBucket) Upload(ctx context.Context, key string, r io.Reader) error {
	p, err := b.path("Upload", key)
	if err != nil {
		return err
	}
	return b.replace(ctx, "Upload", key, p, r)
}

func (b *fileBucket) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	const op = "PutIfAbsent"
	p, err := b.path(op, key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		// Cheap early answer; the link below is what decides.
		return newError(op, key, ErrExists, fs.ErrExist)
	}
	dir := filepath.Dir(p)
	tmp, err := b.writeTemp(ctx, dir, bytes.NewReader(data))
	if err != nil {
		return b.classify(ctx, op, key, err)
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, p)
	switch {
	case err == nil:
		syncDir(dir)
		return nil
	case errors.Is(err, fs.ErrExist):
		return newError(op, key, ErrExists, err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EOPNOTSUPP):
		// The file system has no hard links: fall back to O_EXCL, which is
		// still exclusive, though a reader may briefly see a short file.
		return b.putExcl(ctx, op, key, p, data)
	}
	return b.classify(ctx, op, key, err)
}

func (b *fileBucket) putExcl(ctx context.Context, op, key, p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return b.classify(ctx, op, key, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// The key exists with bad content; removing it lets a retry win.
		os.Remove(p)
		return b.classify(ctx, op, key, err)
	}
	return nil
}

// syncDir makes a new directory entry durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (b *fileBucket) Delete(ctx context.Context, key string) error {
	p, err := b.path("Delete", key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return b.classify(ctx, "Delete", key, err)
	}
	return nil
}

func (b *fileBucket) Copy(ctx context.Context, dstKey string, src Bucket, srcKey string) error {
	dp, err := b.path("Copy", dstKey)
	if err != nil {
		return err
	}
	sb, ok := unwrapBucket(src).(*fileBucket)
	if !ok {
		return streamCopy(ctx, b, dstKey, src, srcKey)
	}
	sp, err := sb.path("Copy", srcKey)
	if err != nil {
		return err
	}
	if fi, err := sb.lstat(srcKey); err != nil {
		return b.classify(ctx, "Copy", srcKey, err)
	} else if fi.IsDir() {
		return newError("Copy", srcKey, ErrNotFound, fs.ErrNotExist)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		// A hard link would copy the link itself, pointing wherever it
		// points: copy the bytes it leads to, read inside the source.
		return streamCopy(ctx, b, dstKey, src, srcKey)
	}
	// Objects are never modified in place (writes rename a new inode over
	// the name), so sharing the inode with a hard link is a true copy.
	dir := filepath.Dir(dp)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return b.classify(ctx, "Copy", dstKey, err)
	}
	tmp := filepath.Join(dir, tmpPrefix+randomHex())
	if err := os.Link(sp, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return b.classify(ctx, "Copy", srcKey, err)
		}
		// Other device or no hard links: copy the bytes.
		return streamCopy(ctx, b, dstKey, src, srcKey)
	}
	if err := os.Rename(tmp, dp); err != nil {
		os.Remove(tmp)
		return b.classify(ctx, "Copy", dstKey, err)
	}
	return nil
}

func randomHex() string {
	var buf [12]byte
	rand.Read(buf[:])
	return hex.EncodeToString(buf[:])
}

func (b *fileBucket) Close() error {
	b.closed.Store(true)
	return nil
}

func (b *fileBucket) List(ctx context.Context, prefix, startAfter string) ListIterator {
	if b.closed.Load() {
		return &errIterator{err: newError("List", prefix, ErrPermanent, errClosed)}
	}
	return &fileIterator{b: b, prefix: prefix, startAfter: startAfter}
}

// fileIterator walks the directory tree depth first, visiting each
// directory's entries sorted as if directory names ended in "/". Every key
// under directory "d" starts with "d/", so this order is exactly the
// lexicographic order of the full keys ("a.txt" < "a/b" < "a0"), without
// holding more than one directory listing per level in memory.
type fileIterator struct {
	b                  *fileBucket
	prefix, startAfter string
	stack              []*dirFrame
	started            bool
}

type dirFrame struct {
	key     string // "" for the root, else "a/b/"
	entries []dirEntry
	i       int
}

type dirEntry struct {
	name string
	dir  bool
	sort string // name, plus "/" for directories
}

func (it *fileIterator) Next(ctx context.Context) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, ctxError(ctx, "List", it.prefix, err)
	}
	if !it.started {
		it.started = true
		// Start at the prefix's deepest directory: listing _delta_log/ must
		// not read the names of every data file beside it.
		f, err := it.readDir(ctx, it.prefix[:strings.LastIndex(it.prefix, "/")+1])
		if err != nil {
			return Object{}, err
		}
		if f != nil {
			it.stack = append(it.stack, f)
		}
	}
	for len(it.stack) > 0 {
		top := it.stack[len(it.stack)-1]
		if top.i >= len(top.entries) {
			it.stack = it.stack[:len(it.stack)-1]
			continue
		}
		e := top.entries[top.i]
		top.i++
		key := top.key + e.name
		if e.dir {
			dkey := key + "/"
			if !strings.HasPrefix(dkey, it.prefix) && !strings.HasPrefix(it.prefix, dkey) {
				continue
			}
			if it.startAfter > dkey && !strings.HasPrefix(it.startAfter, dkey) {
				continue // every key below sorts before startAfter
			}
			f, err := it.readDir(ctx, dkey)
			if err != nil {
				return Object{}, err
			}
			if f != nil {
				it.stack = append(it.stack, f)
			}
			continue
		}
		if !strings.HasPrefix(key, it.prefix) || key <= it.startAfter {
			continue
		}
		fi, err := os.Stat(filepath.Join(it.b.root, filepath.FromSlash(key)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while we were listing
			}
			return Object{}, classifyOS(ctx, "List", key, err)
		}
		return fileObject(key, fi), nil
	}
	return Object{}, io.EOF
}

// readDir lists one directory, sorted for the walk; nil if it vanished.
func (it *fileIterator) readDir(ctx context.Context, dkey string) (*dirFrame, error) {
	des, err := os.ReadDir(filepath.Join(it.b.root, filepath.FromSlash(dkey)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil // nothing can be below a missing path or a file
		}
		return nil, classifyOS(ctx, "List", dkey, err)
	}
	f := &dirFrame{key: dkey, entries: make([]dirEntry, 0, len(des))}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		isDir := de.IsDir()
		if de.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(it.b.root, filepath.FromSlash(dkey), name)); err == nil {
				isDir = fi.IsDir()
			}
		}
		s := name
		if isDir {
			s += "/"
		}
		f.entries = append(f.entries, dirEntry{name: name, dir: isDir, sort: s})
	}
	slices.SortFunc(f.entries, func(a, b dirEntry) int { return strings.Compare(a.sort, b.sort) })
	return f, nil
}
