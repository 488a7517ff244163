package table

import (
	"container/list"
	"errors"
	"sync"
)

// Every handle on a table reads every commit, and 50 region processes
// sharing one central table each decode each other's commits: in one
// process holding 50 handles (BenchmarkFleet) that decoding was 42% of the
// CPU, and every handle kept its own copy of every live file's add. The
// cache below decodes each distinct commit file once per process and hands
// every reader the same decoded actions.
//
// It is keyed by the commit's bytes themselves, not by table URL and
// version: decodeCommit is a pure function of those bytes, so a hit can
// never serve a wrong commit, whatever table, version or recreation of a
// table at the same URL the bytes came from. The GET is still made every
// time; what is saved is the JSON decoding, and the memory of every
// handle's own copy. Go's map compares the key bytes in full on a hash
// match, so there is no collision to reason about.
//
// The decoded actions are shared, read-only: snapshots already share a
// commit's *Add and *Remove between versions of one handle, and now between
// handles too. Every reader gets its own []Action (a copy of the slice), so
// replacing an element is safe; nothing may modify what the elements point
// to.

// commitCacheBytes bounds the commit bytes the process-wide cache keeps (the
// decoded actions take a few times that). A hit is only needed while the
// other handles catch up with a commit, seconds after it was written; the
// adds stay shared by the snapshots that hold them after eviction.
const commitCacheBytes = 32 << 20

// commitCacheMaxEntry keeps one large commit (an OPTIMIZE of thousands of
// files) from flushing the cache: larger commits are decoded uncached.
const commitCacheMaxEntry = 4 << 20

// commits is the process-wide cache of decoded commit files.
var commits = newCommitCache(commitCacheBytes, commitCacheMaxEntry)

// commitCache is a bounded LRU of decoded commit files keyed by their bytes.
// Concurrent readers of the same missing commit wait for one decode.
type commitCache struct {
	maxBytes, maxEntry int

	mu      sync.Mutex
	entries map[string]*list.Element // value: *cachedCommit
	lru     list.List                // front: most recently used
	bytes   int                      // sum of len(key) over entries
}

// cachedCommit is one entry; done is closed once actions and err are set.
type cachedCommit struct {
	key     string
	done    chan struct{}
	actions []Action
	err     error
}

func newCommitCache(maxBytes, maxEntry int) *commitCache {
	return &commitCache{maxBytes: maxBytes, maxEntry: maxEntry, entries: map[string]*list.Element{}}
}

// decode returns decodeCommit(data), decoding each distinct data once while
// it stays cached. The returned slice is the caller's; the actions' pointers
// are shared and must not be modified through.
func (c *commitCache) decode(data []byte) ([]Action, error) {
	if len(data) > c.maxEntry {
		return decodeCommit(data)
	}
	c.mu.Lock()
	if el, ok := c.entries[string(data)]; ok { // no allocation: Go looks up string(data) in place
		c.lru.MoveToFront(el)
		e := el.Value.(*cachedCommit)
		c.mu.Unlock()
		<-e.done
		return copyActions(e.actions, e.err)
	}
	e := &cachedCommit{key: string(data), done: make(chan struct{})}
	c.entries[e.key] = c.lru.PushFront(e)
	c.bytes += len(e.key)
	c.evict()
	c.mu.Unlock()

	e.err = errDecodeAborted
	defer func() {
		if e.err != nil {
			// A corrupt commit is not worth keeping (nor a decode that
			// panicked): the error is returned to the readers already
			// waiting and recomputed for later ones.
			c.remove(e)
		}
		close(e.done) // even if decodeCommit panicked: waiters never hang
	}()
	e.actions, e.err = decodeCommit(data)
	return copyActions(e.actions, e.err)
}

// errDecodeAborted is what waiters get when the decode they waited for
// panicked.
var errDecodeAborted = errors.New("table: decoding the commit failed")

// evict drops least recently used entries beyond the byte bound. An entry
// still being decoded may go: its waiters hold it and are served all the
// same. Called with mu held.
func (c *commitCache) evict() {
	for c.bytes > c.maxBytes {
		el := c.lru.Back()
		e := el.Value.(*cachedCommit)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= len(e.key)
	}
}

// remove drops e if it is still the cached entry for its key.
func (c *commitCache) remove(e *cachedCommit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.key]; ok && el.Value.(*cachedCommit) == e {
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.bytes -= len(e.key)
	}
}

// copyActions gives a reader its own slice of the shared actions.
func copyActions(actions []Action, err error) ([]Action, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Action, len(actions))
	copy(out, actions)
	return out, nil
}
