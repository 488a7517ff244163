package tabletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table"
)

// Hostile is one crafted or broken table of the hostile corpus: a healthy
// base table (HostileBase) that Break then damages the way a hostile writer,
// a buggy engine or a half-finished copy would. Every command that reads a
// log (open, describe, scan, clone, egress, and the maintenance commands)
// must give either a clear error or a correct result on it: never a panic,
// never a read, write or delete outside the table root, never damage to a
// destination.
type Hostile struct {
	Name string
	// Covers says what the case exercises.
	Covers string
	// Break damages the base table in b.
	Break func(ctx context.Context, b storage.Bucket) error
	// Want is the error class (errors.Is) that opening or scanning the
	// broken table gives; nil when it reads correctly, returning IDs.
	Want error
	IDs  []int64
	// Writable is set when loglake may also write the broken table (a
	// clone of it, an append to it) and get a correct result; when it is
	// false a writer must refuse with an error.
	Writable bool
	// Refed marks a commit that adds, with dataChange=true, a path that is
	// already live: a snapshot reader sees it once, while a change-feed
	// reader that treats every such add as new data (Delta's streaming
	// source does) reads its rows again.
	Refed bool
	// FeedErr, when set, is the error class a change-feed reader that
	// already read the base gives on meeting the damage, where a snapshot
	// reader gets a correct result (Want nil).
	FeedErr error
}

func sortedIDs(a, b []int64) []int64 {
	out := append(append([]int64{}, a...), b...)
	slices.Sort(out)
	return out
}

// HostileBaseIDs are the ids of the base table's rows.
var HostileBaseIDs = seq(0, 20)

// HostileBase builds the base table of the hostile corpus in b: the suite's
// schema partitioned by date, ids 0-9 at version 1 and 10-19 at version 2,
// with a checkpoint (and _last_checkpoint) at version 2.
func HostileBase(t testing.TB, b storage.Bucket) *table.Table {
	t.Helper()
	tbl := Create(t, b, map[string]string{"delta.checkpointInterval": "2"})
	Append(t, tbl, 0, 10, nil)
	Append(t, tbl, 10, 10, nil)
	return tbl
}

// HostileCorpus returns every case of the hostile corpus.
func HostileCorpus() []Hostile {
	add := func(path string, size int64) string {
		return fmt.Sprintf(`{"add":{"path":%q,"partitionValues":{"date":"2026-11-22"},"size":%d,"modificationTime":1,"dataChange":true}}`, path, size)
	}
	commit3 := func(lines ...string) func(context.Context, storage.Bucket) error {
		return func(ctx context.Context, b storage.Bucket) error { return putCommit(ctx, b, 3, lines...) }
	}
	// sizeOf builds commit 3 from the size of an existing key.
	sizeOf := func(key string, line func(size int64) []string) func(context.Context, storage.Bucket) error {
		return func(ctx context.Context, b storage.Bucket) error {
			o, err := b.Stat(ctx, key)
			if err != nil {
				return err
			}
			return putCommit(ctx, b, 3, line(o.Size)...)
		}
	}
	invalid := func(name, covers, path string) Hostile {
		return Hostile{Name: name, Covers: covers, Break: commit3(add(path, 100)), Want: table.ErrInvalidPath}
	}
	return []Hostile{
		{
			Name:   "add-into-delta-log",
			Covers: "add.path naming the log's own commit 1, with that commit's exact size (issue 8 defect 1)",
			Break: sizeOf(table.CommitKey(1), func(n int64) []string {
				return []string{add("_delta_log/00000000000000000001.json", n)}
			}),
			Want: table.ErrInvalidPath,
		},
		{
			Name:   "add-into-delta-log-wrong-size",
			Covers: "add.path naming commit 2 with a wrong size (defect 1: a failed verification deleted the destination's commit)",
			Break:  commit3(add("_delta_log/00000000000000000002.json", 7)),
			Want:   table.ErrInvalidPath,
		},
		{
			Name:   "add-into-delta-log-escaped",
			Covers: "add.path into _delta_log/ spelled with percent-escapes and another case",
			Break:  commit3(add("%5Fdelta%5Flog/00000000000000000001.json", 1), add("_DELTA_LOG/x.json", 1)),
			Want:   table.ErrInvalidPath,
		},
		invalid("add-into-loglake-state", "add.path under _loglake/ (ingest state)", "_loglake/ingest/state.json"),
		invalid("add-dotdot", "add.path escaping the table root with ..", "../outside/part-0.parquet"),
		invalid("add-dotdot-encoded", "add.path escaping the root with percent-encoded ..", "date=2026-11-22/%2E%2E/%2E%2E/outside.parquet"),
		invalid("add-absolute-url", "add.path an absolute URL to another bucket", "s3://elsewhere/part-0.parquet"),
		invalid("add-absolute-path", "add.path an absolute file path", "/etc/passwd"),
		invalid("add-file-url", "add.path a file: URL", "file:/etc/passwd"),
		invalid("add-double-slash", "add.path with an empty segment (aliases another key on file://)", "date=2026-11-22//part-0.parquet"),
		{
			Name:   "remove-into-delta-log",
			Covers: "remove.path naming commit 0 (what VACUUM/DELETE would delete)",
			Break:  commit3(`{"remove":{"path":"_delta_log/00000000000000000000.json","deletionTimestamp":1,"dataChange":true}}`),
			Want:   table.ErrInvalidPath,
		},
		{
			Name:   "cdc-dotdot",
			Covers: "cdc.path escaping the table root",
			Break:  commit3(`{"cdc":{"path":"../cdc.parquet","partitionValues":{},"size":1,"dataChange":false}}`),
			Want:   table.ErrInvalidPath,
		},
		{
			Name:   "deletion-vector-absolute",
			Covers: "a deletion vector with an absolute path (storageType p)",
			Break: firstAdd(func(a *table.Add) []string {
				a.DeletionVector = json.RawMessage(`{"storageType":"p","pathOrInlineDv":"s3://elsewhere/dv.bin","offset":1,"sizeInBytes":10,"cardinality":1}`)
				return []string{actionLine(table.Action{Add: a})}
			}),
			Want: table.ErrInvalidPath,
		},
		{
			Name:   "deletion-vector-dotdot",
			Covers: "a deletion vector whose relative prefix escapes the root (storageType u)",
			Break: firstAdd(func(a *table.Add) []string {
				a.DeletionVector = json.RawMessage(`{"storageType":"u","pathOrInlineDv":"../..ab^-aqEH.-t@S}K{vb[*k^","offset":1,"sizeInBytes":10,"cardinality":1}`)
				return []string{actionLine(table.Action{Add: a})}
			}),
			Want: table.ErrInvalidPath,
		},
		{
			Name:   "add-empty-path",
			Covers: "an add without a path",
			Break:  commit3(add("", 1)),
			Want:   table.ErrCorrupt,
		},
		{
			Name:   "duplicate-adds",
			Covers: "commit 3 adds one new file twice (the second add replaces the first: its rows appear once)",
			Break:  copiedAdd("2026-11-24", "date=2026-11-24/part-dup.zstd.parquet", 2, func(*table.Add) {}),
			IDs:    sortedIDs(HostileBaseIDs, []int64{2, 5, 8}), Writable: true,
		},
		{
			Name:   "readd-live-file",
			Covers: "commit 3 adds commit 1's live file again under the same path (replaces it: rows are not doubled)",
			Break: firstAdd(func(a *table.Add) []string {
				return []string{actionLine(table.Action{Add: a})}
			}),
			IDs: HostileBaseIDs, Writable: true, Refed: true,
		},
		{
			Name:   "unknown-actions",
			Covers: "commit 3 holds only actions of a future protocol and an unknown field on commitInfo (ignored)",
			Break:  commit3(`{"someFutureAction":{"x":1}}`, `{"checkpointHint":{"v":9}}`),
			IDs:    HostileBaseIDs, Writable: true,
		},
		{
			Name:   "bad-json",
			Covers: "commit 3 cut mid-line",
			Break:  commit3(`{"add":{"path":"date=2026-11-22/x.parquet","size":`),
			Want:   table.ErrCorrupt,
		},
		{
			Name:   "wrong-size",
			Covers: "commit 3 adds a real data file copied under a new name with a size larger than the file",
			Break: copiedAdd("2026-11-22", "date=2026-11-22/part-copied.zstd.parquet", 1, func(a *table.Add) {
				a.Size += 1000
			}),
			Want: table.ErrCorrupt,
		},
		{
			Name:   "missing-data-file",
			Covers: "commit 3 adds a file that does not exist",
			Break:  commit3(add("date=2026-11-22/part-missing.zstd.parquet", 1234)),
			Want:   storage.ErrNotFound,
		},
		{
			Name:   "truncated-checkpoint",
			Covers: "checkpoint 2 cut to half its bytes (named by _last_checkpoint)",
			Break: func(ctx context.Context, b storage.Bucket) error {
				key := "_delta_log/00000000000000000002.checkpoint.parquet"
				data, err := b.Get(ctx, key)
				if err != nil {
					return err
				}
				return b.Put(ctx, key, data[:len(data)/2])
			},
			Want: table.ErrCorrupt,
		},
		{
			Name:   "stale-last-checkpoint",
			Covers: "_last_checkpoint names checkpoint 2, which is gone; every commit is there (defect 6)",
			Break: func(ctx context.Context, b storage.Bucket) error {
				return b.Delete(ctx, "_delta_log/00000000000000000002.checkpoint.parquet")
			},
			IDs: HostileBaseIDs, Writable: true,
		},
		{
			Name:   "gap-without-checkpoint",
			Covers: "commit 1 deleted, no checkpoint to start from (version gap)",
			Break: func(ctx context.Context, b storage.Bucket) error {
				return errors.Join(b.Delete(ctx, table.CommitKey(1)),
					b.Delete(ctx, "_delta_log/00000000000000000002.checkpoint.parquet"),
					b.Delete(ctx, "_delta_log/_last_checkpoint"))
			},
			Want: table.ErrCorrupt,
		},
		{
			Name:   "gap-after-checkpoint",
			Covers: "commit 4 written without commit 3: the table ends at 2 (a conforming writer cannot write 4 before 3)",
			Break: func(ctx context.Context, b storage.Bucket) error {
				return putCommit(ctx, b, 4, add("date=2026-11-22/part-after-gap.parquet", 1))
			},
			IDs: HostileBaseIDs, Writable: true, FeedErr: table.ErrVersionNotFound,
		},
		{
			Name:   "v2-checkpoint",
			Covers: "the log starts at a V2 checkpoint (commits 0-2 cleaned up; defect 6)",
			Break: func(ctx context.Context, b storage.Bucket) error {
				return errors.Join(
					b.Put(ctx, "_delta_log/00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json",
						[]byte(`{"checkpointMetadata":{"version":2}}`+"\n")),
					b.Put(ctx, "_delta_log/_last_checkpoint", []byte(`{"version":2,"size":1,"v2Checkpoint":{"path":"00000000000000000002.checkpoint.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json"}}`)),
					b.Delete(ctx, "_delta_log/00000000000000000002.checkpoint.parquet"),
					b.Delete(ctx, table.CommitKey(0)), b.Delete(ctx, table.CommitKey(1)), b.Delete(ctx, table.CommitKey(2)))
			},
			Want: table.ErrUnsupportedFeature,
		},
		{
			Name:   "column-mapping-switched-on",
			Covers: "commit 3 turns on column mapping (defect 2: must be refused by name, never read as NULLs)",
			Break:  metadataChange(map[string]string{"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "5"}),
			Want:   table.ErrUnsupportedFeature,
		},
		{
			Name:   "unsupported-writer-feature",
			Covers: "commit 3 raises the protocol to writer 7 with a writer feature loglake does not write (domainMetadata): readable, not writable (defect 5)",
			Break: commit3(`{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["domainMetadata"]}}`,
				`{"domainMetadata":{"domain":"delta.rowTracking","configuration":"{}","removed":false}}`),
			IDs: HostileBaseIDs,
		},
	}
}

// putCommit writes commit v from raw lines, with a commitInfo first.
func putCommit(ctx context.Context, b storage.Bucket, v int64, lines ...string) error {
	ci := fmt.Sprintf(`{"commitInfo":{"timestamp":%d,"operation":"WRITE","engineInfo":"hostile"}}`, time.Now().UnixMilli())
	return b.Put(ctx, table.CommitKey(v), []byte(ci+"\n"+strings.Join(lines, "\n")+"\n"))
}

func actionLine(a table.Action) string {
	data, err := json.Marshal(a)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// firstAdd writes commit 3 from the lines lines returns for a copy of
// commit 1's add of 2026-11-22.
func firstAdd(lines func(*table.Add) []string) func(context.Context, storage.Bucket) error {
	return func(ctx context.Context, b storage.Bucket) error {
		a, err := commitOneAdd(ctx, b, "2026-11-22")
		if err != nil {
			return err
		}
		return putCommit(ctx, b, 3, lines(a)...)
	}
}

// copiedAdd copies commit 1's data file of date (2026-11-22: ids 0, 3, 6,
// 9; 2026-11-24: ids 2, 5, 8) to key and commits n adds of it at version 3,
// altered by edit.
func copiedAdd(date, key string, n int, edit func(*table.Add)) func(context.Context, storage.Bucket) error {
	return func(ctx context.Context, b storage.Bucket) error {
		a, err := commitOneAdd(ctx, b, date)
		if err != nil {
			return err
		}
		src, err := table.FileKey(a.Path)
		if err != nil {
			return err
		}
		if err := b.Copy(ctx, key, b, src); err != nil {
			return err
		}
		a.Path = key
		edit(a)
		lines := make([]string, n)
		for i := range lines {
			lines[i] = actionLine(table.Action{Add: a})
		}
		return putCommit(ctx, b, 3, lines...)
	}
}

func commitOneAdd(ctx context.Context, b storage.Bucket, date string) (*table.Add, error) {
	chs, err := table.Handle(b, nil).Changes(ctx, 0, 1, 1)
	if err != nil {
		return nil, err
	}
	for _, ch := range chs {
		for _, a := range ch.Actions {
			if a.Add != nil && a.Add.PartitionValues["date"] != nil && *a.Add.PartitionValues["date"] == date {
				cp := *a.Add
				return &cp, nil
			}
		}
	}
	return nil, errors.New("tabletest: commit 1 has no add")
}

// metadataChange writes commit 3 with the latest metaData plus conf.
func metadataChange(conf map[string]string) func(context.Context, storage.Bucket) error {
	return func(ctx context.Context, b storage.Bucket) error {
		tbl, err := table.Open(ctx, b, nil)
		if err != nil {
			return err
		}
		snap, err := tbl.Snapshot(ctx)
		if err != nil {
			return err
		}
		md := *snap.Metadata()
		md.Configuration = map[string]string{}
		for k, v := range snap.Metadata().Configuration {
			md.Configuration[k] = v
		}
		for k, v := range conf {
			md.Configuration[k] = v
		}
		return putCommit(ctx, b, 3, actionLine(table.Action{MetaData: &md}))
	}
}

// ReadAll opens the table in b and scans every id: the result a correct
// reader gives, or the first error of open or scan.
func ReadAll(ctx context.Context, b storage.Bucket) ([]int64, error) {
	tbl, err := table.Open(ctx, b, nil)
	if err != nil {
		return nil, err
	}
	snap, err := tbl.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := snap.Scan(ctx, &table.ScanOptions{Columns: []string{"id"}})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	var ids []int64
	for {
		rec, err := sc.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, idValues(rec)...)
		rec.Release()
	}
	slices.Sort(ids)
	return ids, nil
}

func idValues(rec arrow.Record) []int64 {
	var out []int64
	col := rec.Column(0)
	for i := 0; i < col.Len(); i++ {
		out = append(out, col.(interface{ Value(int) int64 }).Value(i))
	}
	return out
}

// Objects is every object in b with its content, for checking that a
// command left a location undamaged.
func Objects(t testing.TB, b storage.Bucket) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	it := b.List(ctx, "", "")
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("list %s: %v", b.URL(), err)
		}
		data, err := b.Get(ctx, o.Key)
		if err != nil {
			t.Fatalf("get %s: %v", o.Key, err)
		}
		out[o.Key] = string(data)
	}
}

// Undamaged fails t when a key of before is gone from after or changed.
// New keys are allowed only where allowNew says so.
func Undamaged(t testing.TB, before, after map[string]string, allowNew func(key string) bool) {
	t.Helper()
	for k, v := range before {
		w, ok := after[k]
		switch {
		case !ok:
			t.Errorf("%s was deleted", k)
		case w != v:
			t.Errorf("%s was overwritten (%d bytes, was %d)", k, len(w), len(v))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok && (allowNew == nil || !allowNew(k)) {
			t.Errorf("%s was written", k)
		}
	}
}
