package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Ingester loads one landing location into one table as one stream.
// RunOnce and Run must not be called concurrently on the same Ingester;
// several Ingesters (in one process or many) may run the same stream.
type Ingester struct {
	landing, tbl storage.Bucket
	opts         Options
	log          *slog.Logger
	match        *matcher
	metrics      *metrics

	mu       sync.Mutex
	t        *table.Table
	idx      *index
	pending  map[string]ManifestFile
	warned   map[string]bool // keys warned about once per process (changed, not UTF-8)
	skipped  int
	lastFull time.Time
	cleaned  int64 // cleanSource progress as last read (0: unknown)
	// committedAt holds when this process committed a batch long after its
	// plan (resumed): its clean retention starts then, not when it was
	// planned (Manifest.Created). Entries go once the batch is cleaned.
	committedAt map[int64]time.Time
	// corrupt holds the landing keys whose compressed data failed its
	// checksum in the batch being run (key → error text): their rows were
	// already decoded, so the batch is run again without them.
	corrupt sync.Map
}

// AppID returns the txn appId of a stream's commits.
func AppID(stream string) string { return "ingest:" + stream }

// New returns an Ingester from landing into the table at tbl. Nothing is
// read or written until RunOnce or Run.
func New(landing, tbl storage.Bucket, opts *Options) (*Ingester, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	mt, err := newMatcher(o.Include, o.Exclude)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if landing != nil && o.CleanSource == CleanMove {
		if o.CleanDestination == nil {
			return nil, fmt.Errorf("%w: clean source move needs a destination", ErrConfig)
		}
		if storage.Overlap(landing.URL(), o.CleanDestination.URL()) {
			return nil, fmt.Errorf("%w: the clean source destination %s overlaps the landing location %s: moved files would be ingested again",
				ErrConfig, o.CleanDestination.URL(), landing.URL())
		}
	}
	met, err := newMetrics(o.Registerer, o.Stream)
	if err != nil {
		return nil, fmt.Errorf("ingest: registering metrics: %w", err)
	}
	in := &Ingester{landing: landing, tbl: tbl, opts: o, log: o.Logger.With("stream", o.Stream), match: mt,
		metrics: met, idx: newIndex(), pending: map[string]ManifestFile{}, warned: map[string]bool{}}
	// Validate a custom schema now rather than at the first batch.
	sch := completeSchema(o.Schema)
	if _, err := newMapping(sch.Arrow(), o.TimeColumn, []string{ColDate}); err != nil {
		return nil, err
	}
	if o.Format == FormatText && sch.Field("message") == nil {
		return nil, fmt.Errorf("%w: format text needs a string column \"message\"", ErrConfig)
	}
	return in, nil
}

// Table opens the target table, creating it if absent.
func (in *Ingester) Table(ctx context.Context) (*table.Table, error) {
	if in.t != nil {
		return in.t, nil
	}
	t, err := table.Open(ctx, in.tbl, in.opts.TableOptions)
	if errors.Is(err, table.ErrNoTable) {
		t, err = table.Create(ctx, in.tbl, table.CreateOptions{
			Schema:           completeSchema(in.opts.Schema),
			PartitionColumns: []string{ColDate},
			Description:      "loglake ingest table",
		}, in.opts.TableOptions)
		if errors.Is(err, table.ErrExists) {
			// Another instance created it first.
			t, err = table.Open(ctx, in.tbl, in.opts.TableOptions)
		}
	}
	if err != nil {
		return nil, err
	}
	in.t = t
	return t, nil
}

// existingTable opens the target table, or returns nil if it does not
// exist yet.
func (in *Ingester) existingTable(ctx context.Context) (*table.Table, error) {
	if in.t != nil {
		return in.t, nil
	}
	t, err := table.Open(ctx, in.tbl, in.opts.TableOptions)
	if errors.Is(err, table.ErrNoTable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	in.t = t
	return t, nil
}

// version returns the table's current version, -1 if it does not exist.
func (in *Ingester) version(ctx context.Context) (int64, error) {
	t, err := in.existingTable(ctx)
	if t == nil || err != nil {
		return -1, err
	}
	snap, err := t.Snapshot(ctx)
	if err != nil {
		return -1, err
	}
	return snap.Version(), nil
}

// errRetryBatch asks the step loop to run the same batch again (the schema
// evolved, or a concurrent metadata change made the commit conflict).
var errRetryBatch = errors.New("ingest: retry batch")

// maxBatchRetries bounds errRetryBatch loops within one RunOnce.
const maxBatchRetries = 10

// RunOnce ingests everything discoverable now: it finishes a batch left
// planned by an earlier run, lists the landing location once, and commits
// batches until every file found is ingested. It stops at the first error;
// calling it again resumes exactly where it stopped.
func (in *Ingester) RunOnce(ctx context.Context) (sum Summary, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	sum = Summary{Version: -1}
	skipped := in.skipped
	defer func() { sum.Skipped = in.skipped - skipped }()
	discovered := false
	retries := 0
	for {
		res, did, err := in.step(ctx, &discovered)
		if errors.Is(err, errRetryBatch) && retries < maxBatchRetries {
			retries++
			continue
		}
		if err != nil {
			in.metrics.failures.Inc()
			return sum, err
		}
		if !did {
			if err := in.cleanSource(ctx); err != nil {
				in.metrics.failures.Inc()
				return sum, err
			}
			if sum.Commits == 0 {
				// Nothing new: report the version the table is at, not -1.
				if v, err := in.version(ctx); err == nil {
					sum.Version = v
				}
			}
			return sum, nil
		}
		sum.add(res)
		retries = 0 // the budget is per batch
	}
}

// Run ingests until ctx is done, polling the landing location every
// interval (default DefaultInterval). When ctx is done it lets the current batch finish (at most
// DrainTimeout) and returns nil. Failed batches are logged and retried
// after interval (with backoff up to 10 intervals); errors that a retry
// cannot fix (ErrConfig, e.g. a table ingest cannot write; table.Permanent)
// are returned.
func (in *Ingester) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultInterval
	}
	// Batches run on a context that outlives ctx by DrainTimeout, so a
	// SIGTERM stops the loop after the current batch rather than mid-way.
	work, release := storage.Drain(ctx, in.opts.DrainTimeout)
	defer release()
	failures := 0
	for ctx.Err() == nil {
		sum, err := in.runBatches(ctx, work)
		wait := interval
		if err != nil {
			if ctx.Err() != nil && work.Err() != nil {
				return nil
			}
			if permanent(err) {
				in.log.Error("ingest cannot continue", "err", err)
				return err
			}
			failures++
			wait = interval * time.Duration(min(failures, 10))
			in.log.Error("ingest batch failed; will retry", "err", err, "retry_in", wait)
		} else {
			failures = 0
			if sum.Commits > 0 {
				in.log.Info("ingested", "files", sum.Files, "rows", sum.Rows, "rescued", sum.Rescued, "rejected", sum.Rejected, "commits", sum.Commits, "version", sum.Version)
			}
		}
		if storage.Sleep(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

// otherLandingError is the ErrConfig of a batch planned on another landing.
type otherLandingError struct{ error }

func (e otherLandingError) Unwrap() error { return e.error }

// permanent reports errors that retrying cannot fix: a table the options do
// not fit (ErrConfig) and the table errors of table.Permanent. A batch
// planned on another landing is not one: the instance that planned it may
// still commit it.
func permanent(err error) bool {
	return errors.Is(err, ErrConfig) && !errors.As(err, new(otherLandingError)) || table.Permanent(err)
}

// runBatches is RunOnce for Run: it checks stop between batches and runs
// each batch on work.
func (in *Ingester) runBatches(stop, work context.Context) (Summary, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	sum := Summary{Version: -1}
	discovered := false
	retries := 0
	for stop.Err() == nil {
		res, did, err := in.step(work, &discovered)
		if errors.Is(err, errRetryBatch) && retries < maxBatchRetries {
			retries++
			continue
		}
		if err != nil {
			in.metrics.failures.Inc()
			return sum, err
		}
		if !did {
			if err := in.cleanSource(work); err != nil {
				in.metrics.failures.Inc()
				return sum, err
			}
			break
		}
		sum.add(res)
		retries = 0 // the budget is per batch
	}
	return sum, nil
}

// step runs one batch: the planned-but-uncommitted one if there is one,
// else a new one from pending files (listing first if *discovered is
// false). did is false when there was nothing to do.
func (in *Ingester) step(ctx context.Context, discovered *bool) (res BatchResult, did bool, err error) {
	// The table is created only once there is something to put in it: a
	// run over an empty or mistyped landing location leaves no trace.
	t, err := in.existingTable(ctx)
	if err != nil {
		return res, false, err
	}
	var snap *table.Snapshot
	var committed int64
	if t != nil {
		if snap, err = t.Snapshot(ctx); err != nil {
			return res, false, err
		}
		committed, _ = snap.AppVersion(AppID(in.opts.Stream))
	}
	now := in.opts.Now()
	if err := in.idx.load(ctx, in.tbl, in.opts.Stream, committed, now); err != nil {
		return res, false, err
	}
	in.idx.expire(in.opts.cutoff(now))
	for k, f := range in.pending {
		if ref, ok := in.idx.get(k); ok && !ref.changed(f) {
			delete(in.pending, k)
		}
	}
	batch := committed + 1
	m, err := ReadManifest(ctx, in.tbl, in.opts.Stream, batch)
	switch {
	case err == nil:
		if err := in.checkLanding(m); err != nil {
			return res, false, err
		}
		in.log.Info("resuming planned batch", "batch", batch, "files", len(m.Files))
	case errors.Is(err, storage.ErrNotFound):
		// A manifest is deleted only once a segment covers its batch, so
		// that batch is committed and this snapshot is behind: planning it
		// again would replace its manifest. Take a fresh snapshot instead.
		if in.idx.batch > committed {
			return res, false, errRetryBatch
		}
		if covered, err := segmentCovers(ctx, in.tbl, in.opts.Stream, batch); err != nil {
			return res, false, err
		} else if covered {
			return res, false, errRetryBatch
		}
		if !*discovered {
			now := in.opts.Now()
			full := in.lastFull.IsZero() || now.Sub(in.lastFull) >= in.opts.BackfillInterval
			if err := in.discover(ctx, full); err != nil {
				return res, false, err
			}
			if full {
				in.lastFull = now
			}
			*discovered = true
		}
		files := in.plan()
		if len(files) == 0 {
			return res, false, nil
		}
		m, err = writeManifest(ctx, in.tbl, &Manifest{Stream: in.opts.Stream, Batch: batch, Created: in.opts.Now().UTC(),
			Landing: in.landing.URL(), Files: files})
		if err != nil {
			return res, false, err
		}
		if err := in.checkLanding(m); err != nil { // another instance stored its plan first
			return res, false, err
		}
	default:
		return res, false, err
	}
	if t == nil {
		if t, err = in.Table(ctx); err != nil {
			return res, false, err
		}
		if snap, err = t.Snapshot(ctx); err != nil {
			return res, false, err
		}
		if v, _ := snap.AppVersion(AppID(in.opts.Stream)); v != committed {
			return res, false, errRetryBatch // another instance created the table and committed
		}
	}
	res, err = in.runBatch(ctx, t, snap, m)
	if err != nil {
		return res, false, err
	}
	in.corrupt.Clear() // only the retry of this batch needed them
	if in.opts.OnCommit != nil {
		in.opts.OnCommit(res)
	}
	for _, f := range m.Files {
		if p, ok := in.pending[f.Key]; ok && !refOf(f, batch).changed(p) {
			delete(in.pending, f.Key)
		}
	}
	if in.idx.batch == batch-1 {
		in.idx.apply(m)
		if batch%int64(in.opts.IndexEvery) == 0 {
			in.storeIndex(ctx)
		}
	}
	return res, true, nil
}

// storeIndex stores an index segment ending at the batch just committed
// and deletes the state it makes unnecessary. The index is only a cache of
// the manifests: failures are logged, never fatal.
func (in *Ingester) storeIndex(ctx context.Context) {
	now := in.opts.Now()
	if err := in.idx.compact(ctx, in.tbl, in.opts.Stream, now); err != nil {
		in.log.Warn("storing an index segment failed (it is only a cache)", "batch", in.idx.batch, "err", err)
		return
	}
	// Manifests stay until cleanSource has cleaned their files.
	limit := in.idx.batch
	if in.opts.CleanSource != CleanOff {
		limit = in.cleaned
	}
	if err := in.idx.gc(ctx, in.tbl, in.opts.Stream, in.opts.Now(), in.opts.StateRetention, limit); err != nil {
		in.log.Warn("deleting superseded ingest state failed; a later pass retries", "err", err)
	}
}

// batchStats are a batch's counters, updated by its goroutines.
type batchStats struct {
	rows, rescued, newColsSeen atomic.Int64
	rejected                   atomic.Int64
	quarantined                atomic.Int64
	bytesRead                  atomic.Int64
	filesDone                  atomic.Int64
}

// runBatch decodes and writes the batch's files and commits them with the
// stream's txn.
func (in *Ingester) runBatch(ctx context.Context, t *table.Table, snap *table.Snapshot, m *Manifest) (BatchResult, error) {
	start := in.opts.Now()
	res := BatchResult{Batch: m.Batch, Version: -1, Files: len(m.Files)}
	for _, f := range m.Files {
		res.Bytes += f.Size
	}
	probe, err := t.NewWriter(snap, nil)
	if err != nil {
		return res, err
	}
	sch := probe.Schema()
	if _, err := probe.Close(); err != nil {
		return res, err
	}
	mp, err := newMapping(sch, in.opts.TimeColumn, snap.Metadata().PartitionColumns)
	if err != nil {
		return res, err
	}
	if in.opts.Format == FormatText && mp.message < 0 {
		return res, fmt.Errorf("%w: format text needs a string column \"message\"", ErrConfig)
	}

	cons, err := snap.Constraints()
	if err != nil {
		return res, err
	}
	var st batchStats
	newCols := map[string]valueKind{}
	rej := newRejects(in.tbl, in.opts.Stream, m.Batch)
	adds, err := in.pipeline(ctx, t, snap, mp, m, start, &st, newCols, cons, rej)
	if err == nil {
		err = rej.flush(ctx)
	}
	if err != nil {
		in.discard(adds, rej)
		return res, err
	}
	res.Rows, res.Rescued, res.Quarantined = st.rows.Load(), st.rescued.Load(), int(st.quarantined.Load())
	res.Rejected = st.rejected.Load()

	if in.opts.SchemaMode == SchemaAddNewColumns && len(newCols) > 0 {
		in.discard(adds, rej)
		if err := in.evolve(ctx, t, snap, newCols); err != nil {
			return res, err
		}
		return res, errRetryBatch
	}

	var outBytes int64
	for _, a := range adds {
		outBytes += a.Add.Size
	}
	params := map[string]any{"outputMode": "Append", "queryId": AppID(in.opts.Stream),
		"epochId": strconv.FormatInt(m.Batch, 10)}
	if len(rej.parts) > 0 {
		params["rejectedFiles"] = rej.parts
		in.log.Warn("rows violate the table's constraints; kept out of the table", "batch", m.Batch,
			"rows", res.Rejected, "first", rej.first, "rejected_files", rej.parts)
	}
	v, err := t.Commit(ctx, snap, &table.Commit{
		Actions:    adds,
		Operation:  "STREAMING UPDATE",
		Parameters: params,
		Metrics: map[string]any{
			"numAddedFiles":   strconv.Itoa(len(adds)),
			"numOutputRows":   strconv.FormatInt(res.Rows, 10),
			"numOutputBytes":  strconv.FormatInt(outBytes, 10),
			"numRescuedRows":  strconv.FormatInt(res.Rescued, 10),
			"numRejectedRows": strconv.FormatInt(res.Rejected, 10),
			"numSourceFiles":  strconv.Itoa(len(m.Files)),
			"numSourceBytes":  strconv.FormatInt(res.Bytes, 10),
			"numQuarantined":  strconv.Itoa(res.Quarantined),
			"batchDurationMs": strconv.FormatInt(in.opts.Now().Sub(start).Milliseconds(), 10),
		},
		AppID:      AppID(in.opts.Stream),
		AppVersion: m.Batch,
	})
	now := in.opts.Now()
	res.Committed, res.Duration = now.UTC(), now.Sub(start)
	res.DurationMs = res.Duration.Milliseconds()
	switch {
	case errors.Is(err, table.ErrAlreadyCommitted):
		in.log.Info("batch was committed by another instance; discarding this copy", "batch", m.Batch)
		in.discard(adds, rej)
		res.AlreadyCommitted = true
		return res, nil
	case errors.Is(err, table.ErrConflict):
		in.log.Warn("batch commit conflicted with a metadata change; re-running it", "batch", m.Batch, "err", err)
		in.discard(adds, rej)
		return res, errRetryBatch
	case err != nil:
		// The commit may or may not have landed (e.g. a lost response that
		// the table could not confirm): keep the files, the next attempt
		// finds out from the txn.
		return res, err
	}
	res.Version = v
	in.noteCommitted(m, now)
	for _, f := range m.Files {
		l := now.Sub(f.ModTime)
		res.Latencies = append(res.Latencies, l)
		res.MaxLatency = max(res.MaxLatency, l)
		in.metrics.arrivalSeconds.Observe(l.Seconds())
	}
	res.MaxLatencyMs = res.MaxLatency.Milliseconds()
	in.metrics.files.Add(float64(res.Files))
	in.metrics.rows.Add(float64(res.Rows))
	in.metrics.rescued.Add(float64(res.Rescued))
	in.metrics.rejected.Add(float64(res.Rejected))
	in.metrics.bytes.Add(float64(res.Bytes))
	in.metrics.quarantined.Add(float64(res.Quarantined))
	in.metrics.commits.Inc()
	in.metrics.batchSeconds.Observe(res.Duration.Seconds())
	in.log.Debug("batch committed", "batch", m.Batch, "version", v, "files", res.Files, "rows", res.Rows, "rescued", res.Rescued)
	return res, nil
}

// discard deletes data files and rejected-row objects that will never be
// committed (best effort: VACUUM removes the data files left).
func (in *Ingester) discard(adds []table.Action, rej *rejects) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := table.DiscardFiles(ctx, in.tbl, adds); err != nil {
		in.log.Debug("deleting uncommitted data files failed", "err", err)
	}
	if err := rej.discard(ctx); err != nil {
		in.log.Debug("deleting uncommitted rejected rows failed", "err", err)
	}
}

// pipeline reads, decodes and writes the batch's files in parallel and
// returns the Add actions of the data files written.
func (in *Ingester) pipeline(ctx context.Context, t *table.Table, snap *table.Snapshot, mp *mapping, m *Manifest,
	start time.Time, st *batchStats, newCols map[string]valueKind, cons *table.Constraints, rej *rejects) ([]table.Action, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}

	workers := in.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var rawEstimate int64
	for _, f := range m.Files {
		n := f.Size
		if strings.HasSuffix(f.Key, ".gz") || strings.HasSuffix(f.Key, ".zst") || strings.HasSuffix(f.Key, ".gzip") || strings.HasSuffix(f.Key, ".zstd") {
			n *= 8
		}
		rawEstimate += n
	}
	// Enough encoders to keep up with the decoders on big batches, few
	// enough that every writer's files stay large.
	// (Profiling showed zstd Parquet encoding costs about twice the NDJSON
	// decoding, so encoders get as many cores as decoders.)
	nWriters := int(min(max(rawEstimate/(64<<20), 1), int64(workers)))
	nReaders := min(len(m.Files), max(workers, 2))

	var progMu sync.Mutex
	var totalBytes int64
	for _, f := range m.Files {
		totalBytes += f.Size
	}
	onBytes := func(n int64) {
		done := st.bytesRead.Add(n)
		if in.opts.Progress != nil {
			progMu.Lock()
			in.opts.Progress(Progress{Batch: m.Batch, FilesDone: int(st.filesDone.Load()), FilesTotal: len(m.Files),
				BytesDone: done, BytesTotal: totalBytes})
			progMu.Unlock()
		}
	}
	fr := &fileReader{landing: in.landing, m: mp, format: in.opts.Format, maxLine: in.opts.MaxLineBytes,
		retries: in.opts.FileRetries, onBytes: onBytes, retryGap: 200 * time.Millisecond, corrupt: &in.corrupt,
		reingest: in.opts.OnChange == ChangeReingest, log: in.log,
		quarant: func(ctx context.Context, key string, err error) {
			st.quarantined.Add(1)
			in.log.Error("landing file unreadable; quarantined", "key", key, "batch", m.Batch, "err", err)
			rec, _ := json.Marshal(quarantineRecord{Key: key, Batch: m.Batch, Error: err.Error(), Time: in.opts.Now().UTC()})
			if perr := in.tbl.Put(ctx, quarantineKey(in.opts.Stream, key), rec); perr != nil {
				in.log.Warn("recording a quarantined file failed", "key", key, "err", perr)
			}
		}}

	files := make(chan *fileCtx)
	chunks := make(chan *chunk, 2*workers)
	recs := make(chan arrow.Record, workers)

	// Readers.
	var rwg sync.WaitGroup
	for range nReaders {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for f := range files {
				if err := fr.read(ctx, f, chunks); err != nil {
					fail(err)
				}
				st.filesDone.Add(1)
			}
		}()
	}
	go func() {
		defer close(files)
		for _, f := range m.Files {
			fc := newFileCtx(f.Key)
			fc.listed = f
			fc.pathVals = pathValues(mp, f.Key)
			select {
			case files <- fc:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { rwg.Wait(); close(chunks) }()

	// Decoders.
	var dwg sync.WaitGroup
	var colsMu sync.Mutex
	for range workers {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			b := newBuilder(mp, memory.DefaultAllocator, start, in.opts.EpochUnit)
			defer b.release()
			b.trackLines = !cons.Empty()
			if cons.Empty() {
				// Rows refused by constraints are split off plain columns.
				b.encodeDicts()
			}
			if in.opts.SchemaMode == SchemaAddNewColumns {
				b.newCols = map[string]valueKind{}
			}
			for c := range chunks {
				if ctx.Err() != nil {
					putChunk(c)
					continue
				}
				b.stats = lineStats{}
				b.lines = b.lines[:0]
				b.reserve(len(c.ends))
				decodeChunk(b, c, in.opts.Format)
				putChunk(c)
				rec := b.finish()
				if b.trackLines {
					kept, dropped, rescued, err := rej.split(ctx, cons, mp, rec, b.lines)
					rec.Release()
					if err != nil {
						fail(err)
						continue
					}
					rec = kept
					b.stats.rows -= dropped
					b.stats.rescued -= rescued
					st.rejected.Add(dropped)
				}
				st.rows.Add(b.stats.rows)
				st.rescued.Add(b.stats.rescued)
				select {
				case recs <- rec:
				case <-ctx.Done():
					rec.Release()
				}
			}
			if len(b.newCols) > 0 {
				colsMu.Lock()
				for k, v := range b.newCols {
					if prev, ok := newCols[k]; ok {
						v = widen(prev, v)
					}
					newCols[k] = v
				}
				colsMu.Unlock()
			}
		}()
	}
	go func() { dwg.Wait(); close(recs) }()

	// Encoders: each writer owns its open files.
	wopts := &table.WriteOptions{TargetFileSize: in.opts.TargetFileSize,
		// Row groups are buffered in memory until cut: 128Ki rows (DuckDB
		// writes 122880) keeps that to a few MiB per open file. zstd level 1:
		// compression was the largest cost of ingest (a third of its CPU at
		// level 3), and level 1 costs about a fifth less CPU in all for a
		// few percent larger files. Low-cardinality string columns are
		// dictionary-encoded by the writer (DictLowCardinality), which
		// spares the Parquet encoder hashing every value.
		Writer: &table.WriterOptions{RowGroupRows: 128 << 10, RowGroupBytes: 32 << 20, CompressionLevel: 1, DeltaTimestamps: true, PlainDistinct: true, DictLowCardinality: true}}
	var wwg sync.WaitGroup
	var addsMu sync.Mutex
	var adds []table.Action
	for range nWriters {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			w, err := t.NewWriter(snap, wopts)
			if err != nil {
				fail(err)
			}
			for rec := range recs {
				if w != nil && ctx.Err() == nil {
					if err := w.Write(ctx, rec); err != nil {
						fail(err)
					}
				}
				rec.Release()
			}
			if w == nil {
				return
			}
			a, err := w.Close()
			addsMu.Lock()
			adds = append(adds, a...)
			addsMu.Unlock()
			if err != nil {
				fail(err)
			}
		}()
	}
	wwg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	slices.SortFunc(adds, func(a, b table.Action) int { return strings.Compare(a.Add.Path, b.Add.Path) })
	return adds, firstErr
}

// decodeChunk decodes every line of c into b.
func decodeChunk(b *builder, c *chunk, format Format) {
	ni := 0
	for i := range c.ends {
		line := c.line(i)
		num := c.nums[i]
		if ni < len(c.notes) && c.notes[ni].idx == i {
			n := c.notes[ni]
			ni++
			b.badLine(c.file, num, line, n.err, n.size)
			continue
		}
		switch format {
		case FormatNDJSON:
			if isBlank(line) {
				continue
			}
			b.ndjsonLine(c.file, num, line)
		case FormatText:
			if isBlank(line) {
				continue
			}
			b.textLine(c.file, num, line)
		case FormatCSV:
			switch {
			case c.csvBad || c.csv == nil && !isBlank(line):
				b.badLine(c.file, num, line, "file has no valid CSV header", 0)
			case isBlank(line):
			default:
				b.csvLine(c.file, num, line, c.csv)
			}
		}
	}
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// pathValues returns the string columns named by key=value segments of
// the key's directories (service=api/…), for rows that lack them.
func pathValues(m *mapping, key string) map[int][]byte {
	var out map[int][]byte
	segs := strings.Split(key, "/")
	for _, seg := range segs[:len(segs)-1] {
		name, val, ok := strings.Cut(seg, "=")
		if !ok || val == "" {
			continue
		}
		col := m.lookup([]byte(name))
		if col < 0 || m.cols[col].kind != kString || m.cols[col].system {
			continue
		}
		if out == nil {
			out = map[int][]byte{}
		}
		out[col] = []byte(table.UnescapePathName(val))
	}
	return out
}

// evolve adds a column for every new field (SchemaAddNewColumns), through
// table.AddColumns, which merges with concurrent schema changes and lands
// while other writers append.
func (in *Ingester) evolve(ctx context.Context, t *table.Table, snap *table.Snapshot, newCols map[string]valueKind) error {
	// Names differing only in case are one column (fields map to columns
	// case-insensitively, as table.FoldName keys them): it gets the
	// spelling that sorts last, so lower case wins, whichever worker saw
	// which first.
	folded := map[string]string{}
	for name, vk := range newCols {
		key := table.FoldName(name)
		if prev, ok := folded[key]; ok && prev != name {
			vk = widen(newCols[prev], vk)
			name = max(prev, name)
		}
		folded[key] = name
		newCols[name] = vk
	}
	var fields []*table.Field
	for _, name := range slices.Sorted(maps.Values(folded)) { // valid names: see noteNewCol
		var typ table.DataType = table.TypeString
		switch newCols[name] {
		case vNumber:
			typ = table.TypeLong
		case vNumberFloat:
			typ = table.TypeDouble
		case vBool:
			typ = table.TypeBoolean
		}
		fields = append(fields, &table.Field{Name: name, Type: typ, Nullable: true})
	}
	added, _, err := t.AddColumns(ctx, snap, func(*table.Schema) ([]*table.Field, error) { return fields, nil }, nil)
	if errors.Is(err, table.ErrConflict) {
		return errRetryBatch
	}
	if err != nil {
		return fmt.Errorf("ingest: evolving the schema: %w", err)
	}
	if len(added) > 0 {
		in.log.Info("schema evolved: added columns", "columns", added)
	}
	return nil
}

// validColumnName accepts names Parquet and Delta (without column mapping)
// store safely.
func validColumnName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	return !strings.ContainsAny(s, " ,;{}()\n\t=.\"'`") && !strings.HasPrefix(s, "_")
}

// checkLanding refuses to resume planned batch m on another landing: the
// manifest names its files by key in the landing location it was planned
// on, and read from another one they would be missing, be quarantined and
// count as ingested.
func (in *Ingester) checkLanding(m *Manifest) error {
	if m.Landing != "" && !sameLocation(m.Landing, in.landing.URL()) {
		return otherLandingError{fmt.Errorf("%w: batch %d of stream %q was planned on landing %s, not %s: finish it with that --landing (or start a new --stream)",
			ErrConfig, m.Batch, in.opts.Stream, m.Landing, in.landing.URL())}
	}
	return nil
}

// sameLocation reports whether two storage URLs name the same place:
// their query parameters (endpoint, region) may differ.
func sameLocation(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ua.Scheme == ub.Scheme && ua.Host == ub.Host &&
		strings.TrimSuffix(ua.Path, "/") == strings.TrimSuffix(ub.Path, "/")
}
