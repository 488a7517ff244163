package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/loglake/loglake/table"
)

// Reasons a landing file is or is not in a Plan.
const (
	// PlanIngest: the file would be ingested by the next RunOnce.
	PlanIngest = "ingest"
	// PlanPlanned: the file is in a batch already planned (its manifest is
	// written) but not committed; the next run finishes that batch.
	PlanPlanned = "planned"
	// PlanIngested: the file was ingested already.
	PlanIngested = "ingested"
	// PlanChanged: the file was ingested and has changed since; with
	// OnChange ignore it is skipped, with reingest it is ingested again.
	PlanChanged = "changed"
	// PlanHidden: a path segment starts with '.' or '_'.
	PlanHidden = "hidden"
	// PlanGlob: the Include/Exclude globs leave the file out.
	PlanGlob = "glob"
	// PlanBadKey: the key is not valid UTF-8 (possible on file:// only),
	// which the batch state cannot hold; rename the file.
	PlanBadKey = "bad-key"
	// PlanExpired: the file is not in the ingested-files index and its
	// ModTime is older than MaxFileAge, so it is ignored.
	PlanExpired = "expired"
)

// PlanFile is one landing file and what a run would do with it.
type PlanFile struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	Reason string `json:"reason"`
	// Batch is the batch the file would be (or is planned to be) ingested
	// in; 0 for skipped files.
	Batch int64 `json:"batch,omitempty"`
}

// Plan is what RunOnce would do now, computed without writing anything.
type Plan struct {
	// TableVersion is the table's current version, -1 if it does not exist
	// yet (RunOnce would create it, but only if it has files to ingest).
	TableVersion int64 `json:"tableVersion"`
	// Committed is the stream's last committed batch (0: none).
	Committed int64 `json:"committedBatch"`
	// Files lists every landing file in key order.
	Files []PlanFile `json:"files"`
	// Ingest, IngestBytes and Batches total the files that would be ingested.
	Ingest      int   `json:"ingest"`
	IngestBytes int64 `json:"ingestBytes"`
	Batches     int   `json:"batches"`
	// Skipped counts the other files by reason.
	Skipped map[string]int `json:"skipped"`
}

// Plan lists the whole landing location and says, for every file, whether
// RunOnce would ingest it now and in which batch, or why not. It reads the
// table and the stream's state but writes nothing, not even the table.
func (in *Ingester) Plan(ctx context.Context) (*Plan, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p := &Plan{TableVersion: -1, Skipped: map[string]int{}}
	idx := newIndex()
	var planned *Manifest
	t, err := table.Open(ctx, in.tbl, in.opts.TableOptions)
	switch {
	case errors.Is(err, table.ErrNoTable):
	case err != nil:
		return nil, err
	default:
		snap, err := t.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		p.TableVersion = snap.Version()
		p.Committed, _ = snap.AppVersion(AppID(in.opts.Stream))
		if err := idx.load(ctx, in.tbl, in.opts.Stream, p.Committed, in.opts.Now()); err != nil {
			return nil, err
		}
	}
	idx.expire(in.opts.cutoff(in.opts.Now()))
	m, err := ReadManifest(ctx, in.tbl, in.opts.Stream, p.Committed+1)
	if err == nil {
		if err := in.checkLanding(m); err != nil {
			return nil, err // as RunOnce would refuse
		}
		planned = m
	}
	inPlanned := map[string]bool{}
	if planned != nil {
		for _, f := range planned.Files {
			inPlanned[f.Key] = true
		}
	}
	var pending []ManifestFile
	it := in.landing.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ingest: listing %s: %w", in.landing.URL(), err)
		}
		pf := PlanFile{Key: o.Key, Size: o.Size}
		f := fileFromObject(o)
		ref, ingested := idx.get(o.Key)
		switch skip := in.match.skip(o.Key); {
		case skip != "":
			pf.Reason = skip
		case inPlanned[o.Key]:
			pf.Reason, pf.Batch = PlanPlanned, p.Committed+1
		case !ingested && idx.expired(f):
			pf.Reason = PlanExpired
		case ingested && !ref.changed(f):
			pf.Reason = PlanIngested
		case ingested && in.opts.OnChange == ChangeIgnore:
			pf.Reason = PlanChanged
		default:
			pf.Reason = PlanIngest
			pending = append(pending, f)
		}
		if pf.Reason != PlanIngest {
			p.Skipped[pf.Reason]++
		}
		p.Files = append(p.Files, pf)
	}
	// Batch the pending files as plan() would: key order, bounded by
	// MaxFiles and MaxBytes.
	batch := p.Committed + 1
	if planned != nil {
		batch++
		p.Batches++
	}
	batchOf := map[string]int64{}
	n, bytes := 0, int64(0)
	for _, f := range pending {
		if n > 0 && (n >= in.opts.MaxFiles || bytes+f.Size > in.opts.MaxBytes) {
			batch++
			n, bytes = 0, 0
		}
		if n == 0 {
			p.Batches++
		}
		batchOf[f.Key] = batch
		n++
		bytes += f.Size
		p.Ingest++
		p.IngestBytes += f.Size
	}
	for i := range p.Files {
		if b, ok := batchOf[p.Files[i].Key]; ok {
			p.Files[i].Batch = b
		}
	}
	slices.SortStableFunc(p.Files, func(a, b PlanFile) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return p, nil
}
