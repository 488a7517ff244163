package query

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loglake/loglake/storage"
)

// ErrCache reports a local cache failure (unwritable directory, a download
// whose size differs from the size the Delta log records, …).
var ErrCache = errors.New("query: file cache")

// DefaultCacheBytes bounds the cache when CacheOptions.MaxBytes is zero.
const DefaultCacheBytes int64 = 10 << 30

// cacheExt names complete cache entries; downloads in progress are written
// to ".tmp-*" files and renamed, so a reader never sees a partial file.
const cacheExt = ".parquet"

// staleTemp is the age after which an abandoned download (".tmp-*", left by a
// crashed process) is removed.
const staleTemp = time.Hour

// CacheOptions configure a Cache. The zero value is the documented default.
type CacheOptions struct {
	// MaxBytes bounds the cache's size (default DefaultCacheBytes). The files
	// a caller has pinned are kept even when they alone exceed it.
	MaxBytes int64
	// Logger receives evictions and downloads (default: discard).
	Logger *slog.Logger
}

// Cache is a directory of local copies of immutable remote files. An entry
// is named by a hash of (location URL, path, size); Delta data files are
// never overwritten under the same name, so an entry never goes stale. The
// cache is bounded: when it grows past MaxBytes, the least recently used
// entries (by modification time, which Fetch refreshes on every hit) are
// deleted. Several processes may share one directory: entries appear by
// atomic rename, and a process only evicts what it has not pinned.
type Cache struct {
	dir string
	max int64
	log *slog.Logger

	mu     sync.Mutex
	pinned map[string]int // entry path -> pin count
	stats  CacheStats
}

// CacheStats count a Cache's work since it was opened: what pruning saves
// on a remote table shows up as fewer downloads.
type CacheStats struct {
	Hits            int64 // files found in the cache
	Downloads       int64 // files downloaded
	DownloadedBytes int64 // bytes downloaded
}

// Stats returns the counts so far.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// DefaultCacheDir is ${XDG_CACHE_HOME:-~/.cache}/loglake/files.
func DefaultCacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("%w: no cache directory: %v", ErrCache, err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "loglake", "files"), nil
}

// NewCache opens (creating it if needed) the cache directory dir; "" means
// DefaultCacheDir.
func NewCache(dir string, opts *CacheOptions) (*Cache, error) {
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCache, err)
	}
	c := &Cache{dir: dir, max: DefaultCacheBytes, log: slog.New(slog.DiscardHandler), pinned: map[string]int{}}
	if opts != nil {
		if opts.MaxBytes > 0 {
			c.max = opts.MaxBytes
		}
		if opts.Logger != nil {
			c.log = opts.Logger
		}
	}
	return c, nil
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// entryPath is where the copy of key (size bytes) of the location at url
// lives.
func (c *Cache) entryPath(url, key string, size int64) string {
	h := sha256.New()
	io.WriteString(h, url)
	h.Write([]byte{0})
	io.WriteString(h, key)
	h.Write([]byte{0})
	io.WriteString(h, strconv.FormatInt(size, 10))
	return filepath.Join(c.dir, hex.EncodeToString(h.Sum(nil)[:20])+cacheExt)
}

// Fetch returns the local path of a copy of key in b, downloading it on a
// miss. size is the file's size as the Delta log records it (< 0: unknown,
// then it is asked of the store); a download of another size is an error,
// never a cache entry. The entry is pinned, so this Cache does not evict it,
// until Unpin.
func (c *Cache) Fetch(ctx context.Context, b storage.Bucket, key string, size int64) (path string, hit bool, err error) {
	if size < 0 {
		o, err := b.Stat(ctx, key)
		if err != nil {
			return "", false, err
		}
		size = o.Size
	}
	p := c.entryPath(b.URL(), key, size)
	c.pin(p)
	defer func() {
		if err != nil {
			c.Unpin(p)
		}
	}()
	if fi, err := os.Stat(p); err == nil && fi.Size() == size {
		now := time.Now()
		_ = os.Chtimes(p, now, now) // LRU by mtime: atime is often not maintained
		c.mu.Lock()
		c.stats.Hits++
		c.mu.Unlock()
		return p, true, nil
	}
	if err := c.download(ctx, b, key, size, p); err != nil {
		return "", false, err
	}
	c.mu.Lock()
	c.stats.Downloads++
	c.stats.DownloadedBytes += size
	c.mu.Unlock()
	c.log.Debug("query: cached file", "url", b.URL(), "key", key, "bytes", size)
	return p, false, nil
}

func (c *Cache) download(ctx context.Context, b storage.Bucket, key string, size int64, dst string) error {
	r, err := b.NewReader(ctx, key, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCache, err)
	}
	tmp := f.Name()
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%w: %s of %s is %d bytes, the Delta log says %d", ErrCache, key, b.URL(), n, size)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (c *Cache) pin(p string) {
	c.mu.Lock()
	c.pinned[p]++
	c.mu.Unlock()
}

// Unpin releases one pin of an entry returned by Fetch.
func (c *Cache) Unpin(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pinned[path] <= 1 {
		delete(c.pinned, path)
	} else {
		c.pinned[path]--
	}
}

// Evict deletes the least recently used unpinned entries until the cache
// holds at most MaxBytes, and abandoned downloads. It returns the bytes
// freed.
func (c *Cache) Evict() (int64, error) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCache, err)
	}
	type entry struct {
		path  string
		size  int64
		mtime time.Time
	}
	var all []entry
	var total int64
	now := time.Now()
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue // vanished under another process's eviction
		}
		p := filepath.Join(c.dir, e.Name())
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if now.Sub(info.ModTime()) > staleTemp {
				os.Remove(p)
			}
			continue
		}
		if !strings.HasSuffix(e.Name(), cacheExt) {
			continue
		}
		all = append(all, entry{p, info.Size(), info.ModTime()})
		total += info.Size()
	}
	if total <= c.max {
		return 0, nil
	}
	slices.SortFunc(all, func(a, b entry) int { return a.mtime.Compare(b.mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	var freed int64
	for _, e := range all {
		if total <= c.max {
			break
		}
		if c.pinned[e.path] > 0 {
			continue
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, fmt.Errorf("%w: %v", ErrCache, err)
		}
		total -= e.size
		freed += e.size
	}
	if freed > 0 {
		c.log.Info("query: evicted cached files", "bytes", freed, "remaining", total, "max", c.max)
	}
	if total > c.max {
		c.log.Warn("query: cache over its bound: the files in use alone exceed it", "bytes", total, "max", c.max)
	}
	return freed, nil
}

// Forget deletes the cached copy of key (size bytes) of the location at url,
// if there is one: an erasure must not leave a copy of an erased file
// behind in a cache. It reports whether a copy was deleted. Entries are
// named by a hash, so only a caller that knows the file can find it.
func (c *Cache) Forget(url, key string, size int64) (bool, error) {
	err := os.Remove(c.entryPath(url, key, size))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("%w: %v", ErrCache, err)
	}
}
