package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
	"github.com/loglake/loglake/table/expr"
)

// ErrName reports a view name that is not a plain SQL identifier.
var ErrName = errors.New("query: invalid table name")

// DefaultMemoryLimit is DuckDB's memory_limit when Options.MemoryLimit is "".
const DefaultMemoryLimit = "4GB"

// Options configure an Engine. The zero value is the documented default.
type Options struct {
	// Threads is DuckDB's worker thread count (default GOMAXPROCS).
	Threads int
	// MemoryLimit is DuckDB's memory_limit, e.g. "4GB" (default
	// DefaultMemoryLimit). Operators beyond it spill to TempDir.
	MemoryLimit string
	// TempDir is where DuckDB spills (default: DuckDB's own choice).
	TempDir string
	// CacheDir holds local copies of remote data files (default
	// DefaultCacheDir). Ignored when Cache is set.
	CacheDir string
	// CacheMaxBytes bounds CacheDir (default DefaultCacheBytes).
	CacheMaxBytes int64
	// Cache, if set, is used instead of opening CacheDir.
	Cache *Cache
	// Downloads is how many remote files are fetched at once (default 8).
	Downloads int
	// Logger receives registrations and cache activity (default: discard).
	Logger *slog.Logger
	// NoPrune makes Query read all files of attached tables, whatever the
	// statement's filters (for comparison and debugging).
	NoPrune bool
}

// Engine is an embedded DuckDB database with views over table snapshots.
// Its methods are safe for concurrent use.
type Engine struct {
	db        *sql.DB
	cache     *Cache // opened lazily: a purely local session never creates it
	opts      Options
	log       *slog.Logger
	linkDir   string // symlinks for local files whose names DuckDB would glob
	cacheOnce sync.Once
	cacheErr  error

	mu    sync.Mutex
	views map[string][]string // view name -> pinned cache entries

	qmu sync.Mutex // serializes view changes with statement binding
	ran int        // statements given to Query so far (under qmu)
	// meaningChanged is set once a statement changed a setting a filter's
	// meaning depends on (see changesMeaning): later statements are not
	// pruned (under qmu).
	meaningChanged bool
	tables         map[string]*attached   // by lower-cased name
	pruned         map[string]*prunedBody // (table, version, files, literal) -> table expression (see prunedView)
}

// Open starts an in-memory DuckDB with threads, memory limit, UTC session
// time zone and extension autoload/autoinstall off. DuckDB starts in the
// background: an error starting it (an invalid MemoryLimit or TempDir) is
// returned by the first call that needs it.
func Open(ctx context.Context, opts *Options) (*Engine, error) {
	e := &Engine{log: slog.New(slog.DiscardHandler), views: map[string][]string{},
		tables: map[string]*attached{}, pruned: map[string]*prunedBody{}}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.Logger != nil {
		e.log = e.opts.Logger
	}
	if e.opts.Threads <= 0 {
		e.opts.Threads = runtime.GOMAXPROCS(0)
	}
	if e.opts.MemoryLimit == "" {
		e.opts.MemoryLimit = DefaultMemoryLimit
	}
	if e.opts.Downloads <= 0 {
		e.opts.Downloads = 8
	}
	e.cache = e.opts.Cache
	dsn := url.Values{}
	dsn.Set("threads", strconv.Itoa(e.opts.Threads))
	dsn.Set("memory_limit", e.opts.MemoryLimit)
	dsn.Set("autoinstall_known_extensions", "false")
	dsn.Set("autoload_known_extensions", "false")
	// Every file DuckDB reads here is local (remote ones are fetched into
	// the engine's cache first), so the OS page cache already holds it;
	// DuckDB's own file cache would copy each file into its buffer pool
	// again: 15 % of the CPU of reading 1,000 small files.
	dsn.Set("enable_external_file_cache", "false")
	if e.opts.TempDir != "" {
		dsn.Set("temp_directory", e.opts.TempDir)
	}
	e.db = sql.OpenDB(startDuckDB("?" + dsn.Encode()))
	return e, nil
}

// startingDuckDB is a driver.Connector for a DuckDB database that starts
// in the background: the engine's first statement waits for it, so
// opening tables (reading their logs) overlaps DuckDB's start-up.
type startingDuckDB struct {
	done chan struct{}
	conn *duckdb.Connector
	err  error
}

func startDuckDB(dsn string) *startingDuckDB {
	s := &startingDuckDB{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.conn, s.err = duckdb.NewConnector(dsn, func(ex driver.ExecerContext) error {
			// Session settings: every pooled connection must read timestamps
			// in UTC, or TIMESTAMPTZ values would print in the host's zone.
			_, err := ex.ExecContext(context.Background(), "SET TimeZone = 'UTC'", nil)
			return err
		})
		if s.err != nil {
			s.err = fmt.Errorf("query: start DuckDB: %w", s.err)
		}
	}()
	return s
}

func (s *startingDuckDB) Connect(ctx context.Context) (driver.Conn, error) {
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.err != nil {
		return nil, s.err
	}
	return s.conn.Connect(ctx)
}

func (s *startingDuckDB) Driver() driver.Driver {
	<-s.done
	if s.err != nil {
		return failedDriver{s.err}
	}
	return s.conn.Driver()
}

type failedDriver struct{ err error }

func (d failedDriver) Open(string) (driver.Conn, error) { return nil, d.err }

// Close is called by sql.DB.Close.
func (s *startingDuckDB) Close() error {
	<-s.done
	if s.err != nil {
		return nil
	}
	return s.conn.Close()
}

// DB is the underlying database, for callers that need database/sql
// directly (prepared statements, transactions). What runs through it is
// not seen by Query, so a setting it changes would go unnoticed: Query does
// not prune once DB has been called.
func (e *Engine) DB() *sql.DB {
	e.qmu.Lock()
	e.meaningChanged = true
	e.qmu.Unlock()
	return e.db
}

// Query runs a SQL statement and returns its rows. Tables given to Attach
// get views over only the files the statement can read (see prepare).
func (e *Engine) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	// Views are replaced per statement: no other statement may bind in
	// between. The lock is held until DuckDB has bound the statement (its
	// plan then holds the file lists), not while rows are read.
	e.qmu.Lock()
	defer e.qmu.Unlock()
	if e.ran++; e.ran == 2 {
		// Data files are immutable, so DuckDB may keep their footers for
		// later statements; filling that cache costs ~10 % of a scan over
		// many small files, wasted on an engine that runs one statement
		// (the CLI's usual case): it is turned on for the second.
		if _, err := e.db.ExecContext(ctx, "SET parquet_metadata_cache = true"); err != nil {
			return nil, fmt.Errorf("query: configure DuckDB: %w", err)
		}
	}
	if changesMeaning(query) {
		e.meaningChanged = true
	}
	text, lists, err := e.prepare(ctx, query, len(args) > 0)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		args = lists
	}
	rows, err := e.db.QueryContext(ctx, text, args...)
	if err != nil {
		return nil, sqlError(err, text, query)
	}
	return rows, nil
}

// Close drops the views, releases their cache entries and stops DuckDB.
func (e *Engine) Close() error {
	err := e.db.Close()
	e.mu.Lock()
	for name, pins := range e.views {
		e.unpin(pins)
		delete(e.views, name)
	}
	e.mu.Unlock()
	e.qmu.Lock()
	for _, a := range e.tables {
		if a.close != nil {
			a.close()
		}
	}
	e.tables = map[string]*attached{}
	e.qmu.Unlock()
	if e.linkDir != "" {
		os.RemoveAll(e.linkDir)
	}
	return err
}

func (e *Engine) unpin(pins []string) {
	for _, p := range pins {
		e.cache.Unpin(p)
	}
}

func (e *Engine) fileCache() (*Cache, error) {
	e.cacheOnce.Do(func() {
		if e.cache == nil {
			e.cache, e.cacheErr = NewCache(e.opts.CacheDir, &CacheOptions{MaxBytes: e.opts.CacheMaxBytes, Logger: e.log})
		}
	})
	return e.cache, e.cacheErr
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// attached is a table the engine's SQL may name: its snapshot and the
// --where predicate every view of it applies.
type attached struct {
	name      string
	t         *table.Table
	snap      *table.Snapshot
	sch       *table.Schema
	whereExpr expr.Expr // nil: no predicate
	filter    string    // whereExpr as DuckDB SQL
	close     func() error
	full      bool // the view named after the table holds all its files
}

// Register creates (or replaces) the view name over snap, a snapshot of t
// (nil: t's latest), holding all of its files (see Attach for views built
// per query from only the files a statement can read). where, if not "",
// is a predicate in the table/expr language: files that cannot match it
// are pruned by partition values and statistics, and the view keeps
// exactly the rows where it is TRUE. The view has the table's columns in
// schema order with their Delta types (see SQLType), partition columns
// included.
func (e *Engine) Register(ctx context.Context, name string, t *table.Table, snap *table.Snapshot, where string) error {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	a, err := e.attach(ctx, name, t, snap, where, nil)
	if err != nil {
		return err
	}
	return e.buildFull(ctx, a)
}

// Attach makes the table t at snap (nil: latest) known to the engine's SQL
// as name, without reading any data file. Each statement given to Query
// then gets views over only the files it can read: filters on partition
// columns and on columns with statistics are found in the statement
// (with DuckDB's own parser) and prune files as --where does. where is as
// for Register.
func (e *Engine) Attach(ctx context.Context, name string, t *table.Table, snap *table.Snapshot, where string) error {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	_, err := e.attach(ctx, name, t, snap, where, nil)
	return err
}

func (e *Engine) attach(ctx context.Context, name string, t *table.Table, snap *table.Snapshot, where string, closeFn func() error) (*attached, error) {
	if !identRe.MatchString(name) {
		return nil, fmt.Errorf("%w: %q (want letters, digits and _)", ErrName, name)
	}
	if snap == nil {
		var err error
		if snap, err = t.Snapshot(ctx); err != nil {
			return nil, err
		}
	}
	sch, err := snap.Schema()
	if err != nil {
		return nil, err
	}
	a := &attached{name: name, t: t, snap: snap, sch: sch, close: closeFn}
	if where != "" {
		if _, err := snap.Predicate(where); err != nil {
			return nil, fmt.Errorf("query: --where %q: %w", where, err)
		}
		if a.whereExpr, err = expr.Parse(where); err != nil {
			return nil, err
		}
		if a.filter, err = whereSQL(a.whereExpr, sch); err != nil {
			return nil, err
		}
	}
	key := strings.ToLower(name)
	if old := e.tables[key]; old != nil && old.close != nil {
		old.close()
	}
	e.tables[key] = a
	// A previous view of that name is stale until rebuilt.
	if _, err := e.db.ExecContext(ctx, "DROP VIEW IF EXISTS "+quoteIdent(name)); err != nil {
		return nil, fmt.Errorf("query: attach %s: %w", name, err)
	}
	e.dropView(name)
	return a, nil
}

// buildFull (re)creates the view named after a over all of its files.
func (e *Engine) buildFull(ctx context.Context, a *attached) error {
	files := a.snap.Files()
	if a.whereExpr != nil {
		pred, err := expr.Bind(a.whereExpr, a.sch.Arrow())
		if err != nil {
			return err
		}
		files = a.snap.PruneFiles(pred)
	}
	if err := e.createView(ctx, a.name, a, a.snap, files); err != nil {
		return err
	}
	a.full = true
	return nil
}

// createView creates (or replaces) view name over files of snap, a
// snapshot of a's table, applying a's --where filter.
func (e *Engine) createView(ctx context.Context, name string, a *attached, snap *table.Snapshot, files []*table.Add) error {
	body, pins, err := e.viewBody(ctx, a, snap, files, literalList, nil)
	if err != nil {
		return err
	}
	stmt := "CREATE OR REPLACE VIEW " + quoteIdent(name) + " AS " + body
	if _, err := e.db.ExecContext(ctx, stmt); err != nil {
		e.unpin(pins)
		return fmt.Errorf("query: register %s: %w", a.name, err)
	}
	e.keepPins(name, pins)
	e.log.Debug("query: view", "name", name, "table", a.name, "url", a.t.Bucket().URL(), "version", snap.Version(),
		"files", len(files), "of", len(snap.Files()))
	return nil
}

// viewBody returns the SELECT over files of snap, a snapshot of a's table,
// applying a's --where filter and not reading the columns el elides (nil:
// none), and the cache entries it reads (pinned: the caller keeps them with
// keepPins or releases them). list renders the file lists.
func (e *Engine) viewBody(ctx context.Context, a *attached, snap *table.Snapshot, files []*table.Add, list fileList, el *elision) (string, []string, error) {
	sch, err := snap.Schema()
	if err != nil {
		return "", nil, err
	}
	paths, pins, err := e.localFiles(ctx, a.t.Bucket(), files)
	if err != nil {
		return "", nil, err
	}
	groups, err := e.groupElided(ctx, snap, sch, files, paths, el)
	if err != nil {
		e.unpin(pins)
		return "", nil, err
	}
	body, err := viewSQL(sch, snap.Metadata().PartitionColumns, groups, list)
	if err != nil {
		e.unpin(pins)
		return "", nil, err
	}
	if a.filter != "" {
		body = "SELECT * FROM (" + body + ") WHERE " + a.filter
	}
	return body, pins, nil
}

// keepPins records pins as held by name (a view, or a pruned body that
// statements embed), releasing those name held before, and trims the
// cache to its bound around them.
func (e *Engine) keepPins(name string, pins []string) {
	e.mu.Lock()
	old := e.views[name]
	e.views[name] = pins
	e.mu.Unlock()
	e.unpin(old)
	if len(pins) > 0 {
		if _, err := e.cache.Evict(); err != nil {
			e.log.Warn("query: cache eviction failed", "err", err)
		}
	}
}

// dropView forgets a view's pins.
func (e *Engine) dropView(name string) {
	e.mu.Lock()
	old := e.views[name]
	delete(e.views, name)
	e.mu.Unlock()
	e.unpin(old)
}

// localFiles returns a local path for each file: in place for file://
// tables, else a cache entry (pinned; the pins are returned).
func (e *Engine) localFiles(ctx context.Context, b storage.Bucket, files []*table.Add) (paths, pins []string, err error) {
	paths = make([]string, len(files))
	keys := make([]string, len(files))
	for i, f := range files {
		if keys[i], err = table.FileKey(f.Path); err != nil {
			return nil, nil, err
		}
	}
	if root, ok := localRoot(b.URL()); ok {
		for i, k := range keys {
			p := filepath.Join(root, filepath.FromSlash(k))
			if hasGlob(p) {
				if p, err = e.literalPath(p); err != nil {
					return nil, nil, err
				}
			}
			paths[i] = p
		}
		return paths, nil, nil
	}
	if len(files) == 0 {
		return paths, nil, nil
	}
	c, err := e.fileCache()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		hits     int
		next     = make(chan int)
	)
	for w := 0; w < min(e.opts.Downloads, len(files)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				p, hit, err := c.Fetch(ctx, b, keys[i], files[i].Size)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("query: fetch %s: %w", keys[i], err)
						cancel()
					}
				} else {
					paths[i] = p
					pins = append(pins, p)
					if hit {
						hits++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range files {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		for _, p := range pins {
			c.Unpin(p)
		}
		return nil, nil, firstErr
	}
	e.log.Debug("query: remote files", "url", b.URL(), "files", len(files), "cached", hits)
	return paths, pins, nil
}

// literalPath gives a glob-free path to a local file whose name DuckDB would
// expand as a pattern (a symlink in the engine's private directory).
func (e *Engine) literalPath(p string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.linkDir == "" {
		d, err := os.MkdirTemp("", "loglake-query-")
		if err != nil {
			return "", err
		}
		e.linkDir = d
	}
	f, err := os.CreateTemp(e.linkDir, "f-*.parquet")
	if err != nil {
		return "", err
	}
	link := f.Name()
	f.Close()
	os.Remove(link)
	if hasGlob(link) {
		return "", fmt.Errorf("query: temporary directory %s has glob characters", e.linkDir)
	}
	return link, os.Symlink(p, link)
}

// localRoot returns the directory of a file:// location.
func localRoot(u string) (string, bool) {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "file" {
		return "", false
	}
	return filepath.FromSlash(pu.Path), true
}

// groupFiles groups files by partition values (in order of first file) and
// finds which columns each group's files store. A file whose statistics
// show a non-null value in every column stores them all; only groups with
// a file not proven so have their files' Parquet footers read (the cost
// per file that registration would otherwise pay for every file).
func (e *Engine) groupFiles(ctx context.Context, snap *table.Snapshot, sch *table.Schema, files []*table.Add, paths []string) ([]*fileGroup, error) {
	partCols := snap.Metadata().PartitionColumns
	var dataCols []string
	for _, f := range sch.Fields {
		if !slices.ContainsFunc(partCols, func(p string) bool { return strings.EqualFold(p, f.Name) }) {
			dataCols = append(dataCols, f.Name)
		}
	}
	// Null counts are all storesAll reads: bounds (most of the stats
	// bytes) are not decoded for it.
	nulls := &table.StatsPart{Columns: dataCols, NoBounds: true}
	stats := snap.StatsOf(files, nulls)
	byKey := map[string]*fileGroup{}
	var out []*fileGroup
	var idx [][]int // file indexes per group
	for i, f := range files {
		k := groupKey(partCols, f.PartitionValues)
		g := byKey[k]
		if g == nil {
			g = &fileGroup{values: f.PartitionValues, columns: map[string]bool{}, uniform: true}
			byKey[k] = g
			out = append(out, g)
			idx = append(idx, nil)
		}
		gi := slices.Index(out, g)
		idx[gi] = append(idx[gi], i)
		g.paths = append(g.paths, paths[i])
		if g.uniform && !storesAll(stats[i], sch, dataCols) {
			g.uniform = false
		}
	}
	var footers []int
	for gi, g := range out {
		if g.uniform {
			for _, c := range dataCols {
				g.columns[strings.ToLower(c)] = true
			}
		} else {
			footers = append(footers, idx[gi]...)
		}
	}
	cols := make([]map[string]bool, len(files))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for w := 0; w < min(e.opts.Threads, len(footers)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := fileColumns(paths[i])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				cols[i] = c
				mu.Unlock()
			}
		}()
	}
	for _, i := range footers {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for gi, g := range out {
		for _, i := range idx[gi] {
			for c := range cols[i] {
				g.columns[c] = true
			}
		}
	}
	return out, nil
}

// storesAll reports whether a file's statistics prove that it stores every
// one of cols: a null count below the row count means the file has values
// for the column. Nested columns and missing statistics prove nothing.
func storesAll(st *table.Stats, sch *table.Schema, cols []string) bool {
	if st == nil || st.NumRecords <= 0 {
		return false
	}
	for _, c := range cols {
		fld := sch.Field(c)
		if fld == nil || isNested(fld.Type) {
			return false
		}
		n, ok := statCount(st.NullCount[fld.Name])
		if !ok || n >= st.NumRecords {
			return false
		}
	}
	return true
}

func statCount(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return int64(x), x == float64(int64(x))
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case int64:
		return x, true
	}
	return 0, false
}
