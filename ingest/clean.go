package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/loglake/loglake/storage"
)

// cleanSource (Auto Loader's cloudFiles.cleanSource) moves or deletes the
// landing files of committed batches once CleanRetention has passed since
// the batch was planned (its manifest's Created time, which is before its
// commit). Progress is the highest batch whose files are all cleaned,
// stored as clean/%020d.json; the manifests after it stay until it passes
// them (gc's limit), so a restart cleans exactly what is left. Moving or
// deleting is idempotent, so instances racing on the same batch are safe.

// cleanBatchesPerPass bounds the work of one pass, so that enabling
// cleanSource on a stream with a long history does not stall ingestion.
const cleanBatchesPerPass = 100

// cleanWorkers is how many files are moved or deleted at once.
const cleanWorkers = 8

func cleanKey(stream string, batch int64) string {
	return fmt.Sprintf("%sclean/%020d.json", StatePrefix(stream), batch)
}

type cleanRecord struct {
	Stream string    `json:"stream"`
	Batch  int64     `json:"batch"`
	Mode   CleanMode `json:"mode"`
	Time   time.Time `json:"time"`
}

// cleanProgress returns the highest batch recorded as cleaned (0: none)
// and the keys of the progress records.
func cleanProgress(ctx context.Context, tbl storage.Bucket, stream string) (int64, []string, error) {
	var done int64
	var keys []string
	it := tbl.List(ctx, StatePrefix(stream)+"clean/", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return done, keys, nil
		}
		if err != nil {
			return 0, nil, err
		}
		b, err := strconv.ParseInt(strings.TrimSuffix(path.Base(o.Key), ".json"), 10, 64)
		if err != nil {
			continue
		}
		done = max(done, b)
		keys = append(keys, o.Key)
	}
}

// cleanSource runs one pass over the committed batches not cleaned yet.
// Only batches up to in.idx.batch — the table's committed txn when the
// last step loaded it — are considered: a planned batch's files are never
// touched.
func (in *Ingester) cleanSource(ctx context.Context) error {
	if in.opts.CleanSource == CleanOff || in.idx.batch == 0 {
		return nil
	}
	committed := in.idx.batch
	done, keys, err := cleanProgress(ctx, in.tbl, in.opts.Stream)
	if err != nil {
		return fmt.Errorf("ingest: reading clean source progress: %w", err)
	}
	in.cleaned = done
	now := in.opts.Now()
	last := done
	for b := done + 1; b <= committed && b <= done+cleanBatchesPerPass; b++ {
		m, err := ReadManifest(ctx, in.tbl, in.opts.Stream, b)
		if errors.Is(err, storage.ErrNotFound) {
			// Expired before cleanSource was enabled: its files are unknown.
			in.log.Warn("clean source: the manifest of a committed batch is gone (expired before clean source was on); its files stay", "batch", b)
			last = b
			continue
		}
		if err != nil {
			return err
		}
		if now.Sub(in.cleanFrom(m)) < in.opts.CleanRetention {
			break
		}
		if err := in.cleanFiles(ctx, m); err != nil {
			return fmt.Errorf("ingest: clean source, batch %d: %w", b, err)
		}
		last = b
	}
	if last == done {
		return nil
	}
	rec, _ := json.Marshal(cleanRecord{Stream: in.opts.Stream, Batch: last, Mode: in.opts.CleanSource, Time: now.UTC()})
	if err := in.tbl.PutIfAbsent(ctx, cleanKey(in.opts.Stream, last), rec); err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("ingest: recording clean source progress: %w", err)
	}
	in.cleaned = last
	for b := range in.committedAt {
		if b <= last {
			delete(in.committedAt, b) // cleaned: no longer asked about
		}
	}
	for _, k := range keys {
		if err := in.tbl.Delete(ctx, k); err != nil {
			in.log.Debug("deleting an old clean source record failed", "key", k, "err", err)
		}
	}
	return nil
}

// noteCommitted records that this process committed batch m at t (under
// in.mu, as a run holds it), when that matters to cleanSource: a batch
// committed within a minute of its plan keeps the plan's time.
func (in *Ingester) noteCommitted(m *Manifest, t time.Time) {
	if in.opts.CleanSource == CleanOff || t.Sub(m.Created) < time.Minute {
		return
	}
	if in.committedAt == nil {
		in.committedAt = map[int64]time.Time{}
	}
	in.committedAt[m.Batch] = t
}

// cleanFrom is when batch m's clean retention starts: when it was planned,
// or, later, when this process committed it (a batch resumed from an old
// plan, whose files were deleted in the run that first committed them).
func (in *Ingester) cleanFrom(m *Manifest) time.Time {
	if t, ok := in.committedAt[m.Batch]; ok && t.After(m.Created) {
		return t
	}
	return m.Created
}

// cleanFiles moves or deletes the landing files of m that are still as m
// lists them. A file that changed since (replaced with new content) is
// left alone: its new content may not be ingested yet; so is a quarantined
// one (unreadable: none of its lines is in the table).
func (in *Ingester) cleanFiles(ctx context.Context, m *Manifest) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(cleanWorkers)
	for _, f := range m.Files {
		g.Go(func() error {
			o, err := in.landing.Stat(ctx, f.Key)
			if errors.Is(err, storage.ErrNotFound) {
				return nil // cleaned already
			}
			if err != nil {
				return err
			}
			if refOf(f, m.Batch).changed(fileFromObject(o)) {
				in.log.Warn("clean source: landing file changed since it was ingested; left in place", "key", f.Key, "batch", m.Batch)
				return nil
			}
			if _, err := in.tbl.Stat(ctx, quarantineKey(in.opts.Stream, f.Key)); err == nil {
				in.log.Warn("clean source: landing file was quarantined (unreadable); left in place", "key", f.Key, "batch", m.Batch)
				return nil
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if in.opts.CleanSource == CleanMove {
				if err := in.opts.CleanDestination.Copy(ctx, f.Key, in.landing, f.Key); err != nil {
					return fmt.Errorf("moving %s: %w", f.Key, err)
				}
			}
			if err := in.landing.Delete(ctx, f.Key); err != nil {
				return fmt.Errorf("deleting %s: %w", f.Key, err)
			}
			in.metrics.cleaned.Inc()
			return nil
		})
	}
	return g.Wait()
}
