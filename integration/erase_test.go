package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/loglake/loglake/egress"
	"github.com/loglake/loglake/ingest"
	"github.com/loglake/loglake/internal/erasetest"
	"github.com/loglake/loglake/regions"
	"github.com/loglake/loglake/storage"
	"github.com/loglake/loglake/table/tabletest"
)

// erObjectsMentioning lists the objects at b whose bytes contain s.
func erObjectsMentioning(t *testing.T, b storage.Bucket, s string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	it := b.List(ctx, "", "")
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		r, err := b.NewReader(ctx, obj.Key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(s)) {
			out = append(out, obj.Key)
		}
	}
}

// TestEraseAcrossClouds runs the erasure procedure (regions.Erase, what
// `loglake erase` runs) over a regional table on S3, the central table on
// GCS, replicas of both on Azure and a replica of a replica on file://, with
// the region's egress lagging behind the regional DELETE and catching up
// while the erasure waits. Afterwards no Parquet file stored in any of the
// five locations holds a row of org-7, found by listing and opening every
// file rather than through a snapshot; the replicas replayed the DELETE
// and copied only files still live at their source (bytes checked), never
// the erased ones.
func TestEraseAcrossClouds(t *testing.T) {
	ctx := context.Background()
	base := map[string]string{}
	for _, be := range Backends(t) {
		base[be.Name] = be.BaseURL
	}
	urls := map[string]string{
		"landing":     UniqueURL(t, fileURL(t.TempDir())),
		"regional":    UniqueURL(t, base["s3"]),
		"central":     UniqueURL(t, base["gcs"]),
		"regional-dr": UniqueURL(t, base["azure"]),
		"central-dr":  UniqueURL(t, base["azure"]),
		"central-dr2": UniqueURL(t, fileURL(t.TempDir())),
	}
	bk := map[string]storage.Bucket{}
	for name, u := range urls {
		bk[name] = openBucket(t, u)
	}
	cfg := &regions.Config{Name: "eu-1", Table: urls["regional"], Central: urls["central"]}
	in, err := ingest.New(bk["landing"], bk["regional"], &ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	land := func(key string, first int) (int, int) {
		data, victims, approved := erasetest.Lines(first, 90)
		if err := bk["landing"].Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		if _, err := in.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		return victims, approved
	}
	newEgress := func() *egress.Egress {
		eg, err := egress.New(ctx, bk["regional"], bk["central"], egress.Options{Region: "eu-1", AdvanceEvery: 1})
		if err != nil {
			t.Fatal(err)
		}
		return eg
	}
	v1, a1 := land("a.ndjson", 0)
	if _, err := newEgress().RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"regional", "regional-dr"}, {"central", "central-dr"}, {"central-dr", "central-dr2"}} {
		cloneOK(t, bk[pair[0]], bk[pair[1]], nil)
	}
	v2, a2 := land("b.ndjson", 90) // egress has not forwarded this one
	if got, _ := erasetest.Stored(t, bk["regional"]); got != v1+v2 {
		t.Fatalf("regional stores %d org-7 rows before the erasure, want %d", got, v1+v2)
	}

	// The region's egress starts only after the erasure has deleted the
	// regional rows: it forwards b.ndjson's rows (read from the commit
	// before the DELETE), skips the DELETE, and the erasure must wait for
	// it before erasing central.
	egCtx, stopEgress := context.WithCancel(ctx)
	defer stopEgress()
	egDone := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		egDone <- newEgress().Run(egCtx, 100*time.Millisecond)
	}()
	replicas := []regions.Replica{
		{Source: urls["central-dr"], Replica: urls["central-dr2"]}, // a chain, listed first on purpose
		{Source: urls["regional"], Replica: urls["regional-dr"]},
		{Source: urls["central"], Replica: urls["central-dr"]},
	}
	rep, err := regions.Erase(ctx, &regions.EraseRequest{Where: erasetest.Where, Regions: []*regions.Config{cfg}, Replicas: replicas,
		Wait: 2 * time.Minute, Poll: 200 * time.Millisecond, Retain: new(time.Duration), Force: true})
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	stopEgress()
	if err := <-egDone; err != nil {
		t.Fatalf("egress: %v", err)
	}
	for i, e := range rep.Tables {
		line := fmt.Sprintf("%d %s %s:", i, e.Role, e.URL)
		if e.Delete != nil {
			line += fmt.Sprintf(" deleted %d rows (removed %d files, added %d); waited %d ms for egress", e.Delete.NumDeletedRows, e.Delete.NumRemovedFiles, e.Delete.NumAddedFiles, e.WaitedMS)
		}
		if c := e.Clone; c != nil {
			line += fmt.Sprintf(" replayed %d commits: copied %d files, %d bytes; %d erased files skipped", c.CommitsWritten, c.Metrics.NumCopiedFiles, c.Metrics.CopiedFilesSize, c.FilesMissing)
		}
		if v := e.Vacuum; v != nil {
			line += fmt.Sprintf("; vacuum deleted %d files, %d bytes", v.FilesDeleted, v.BytesDeleted)
		}
		t.Log(line)
		if e.Remaining == nil || *e.Remaining != 0 {
			t.Fatalf("%s: rows still match after the erasure", e.URL)
		}
	}
	if len(rep.Tables) != 5 || rep.Tables[0].Role != "regional" || rep.Tables[1].Role != "central" {
		t.Fatalf("order: %+v", rep.Tables)
	}
	if r := rep.Tables[0]; r.Delete.NumDeletedRows != int64(v1+v2) || r.WaitedMS < 500 {
		t.Fatalf("regional: deleted %d rows (want %d), waited %d ms for egress", r.Delete.NumDeletedRows, v1+v2, r.WaitedMS)
	}
	// Central lost both files' approved org-7 rows: b.ndjson's arrived
	// after the regional DELETE, and were erased because Erase waited.
	if c := rep.Tables[1]; c.Delete.NumDeletedRows != int64(a1+a2) {
		t.Fatalf("central: deleted %d rows, want %d", c.Delete.NumDeletedRows, a1+a2)
	}
	for _, e := range rep.Tables[2:] {
		src := map[string]string{storage.RedactURL(bk["regional-dr"].URL()): "regional", storage.RedactURL(bk["central-dr"].URL()): "central",
			storage.RedactURL(bk["central-dr2"].URL()): "central-dr"}[e.URL]
		if src == "" {
			t.Fatalf("unexpected replica %s", e.URL)
		}
		want := erasetest.LiveAddedBytes(t, bk[src], e.Clone.PreviousSourceVersion)
		if e.Clone.CommitsWritten == 0 || e.Clone.Metrics.CopiedFilesSize != want || e.Clone.DestinationVersion != e.Clone.SourceVersion {
			t.Fatalf("replica %s: copied %d bytes, want %d (the live new files of %s only): %+v", e.URL, e.Clone.Metrics.CopiedFilesSize, want, src, e.Clone)
		}
		// The replica keeps its source's version numbers: the DELETE is
		// at the same version on both.
		if h := erOperation(bk[src], rep); h >= 0 && erOpAt(t, openBucketByURL(t, bk, e.URL), h) != "DELETE" {
			t.Fatalf("replica %s: version %d is not the DELETE", e.URL, h)
		}
	}
	for _, name := range []string{"regional", "central", "regional-dr", "central-dr", "central-dr2"} {
		if n, sample := erasetest.Stored(t, bk[name]); n != 0 {
			t.Fatalf("%s (%s): %d org-7 rows still stored, e.g. %s", name, bk[name].URL(), n, sample)
		}
		// Outside the Delta log, no object mentions org-7 at all; inside it,
		// the DELETE's predicate and old statistics do until log cleanup
		// (docs/erasure.md).
		for _, key := range erObjectsMentioning(t, bk[name], "org-7") {
			if !strings.HasPrefix(key, "_delta_log/") {
				t.Fatalf("%s: %s mentions org-7", name, key)
			}
		}
	}
	// Every other approved row is still in central, exactly once.
	_, snap := tabletest.Latest(t, bk["central"])
	if n, ok := snap.NumRecords(); !ok || n != int64(erasetest.ApprovedKept(0, 180)) {
		t.Fatalf("central holds %d rows, want %d", n, erasetest.ApprovedKept(0, 180))
	}
}

// erOperation is the version of the erasure's DELETE in the table named
// src (-1 when it deleted nothing there).
func erOperation(b storage.Bucket, rep *regions.EraseReport) int64 {
	for _, e := range rep.Tables {
		if e.URL == storage.RedactURL(b.URL()) && e.Delete != nil {
			return e.Delete.Version
		}
	}
	return -1
}

func openBucketByURL(t *testing.T, bk map[string]storage.Bucket, redacted string) storage.Bucket {
	t.Helper()
	for _, b := range bk {
		if storage.RedactURL(b.URL()) == redacted {
			return b
		}
	}
	t.Fatalf("no bucket %s", redacted)
	return nil
}

func erOpAt(t *testing.T, b storage.Bucket, v int64) string {
	t.Helper()
	ch, err := openTable(t, b).Changes(context.Background(), v-1, v, 1)
	if err != nil || len(ch) != 1 {
		t.Fatalf("version %d of %s: %v", v, b.URL(), err)
	}
	for _, a := range ch[0].Actions {
		if a.CommitInfo != nil {
			return a.CommitInfo.Operation
		}
	}
	return ""
}

// TestEraseCLI runs the real binary on file://: `vacuum --config` on a
// regional table whose egress lags keeps the files egress has not read and
// warns on stderr (egress then still forwards them), and `loglake erase`
// leaves no org-7 row in either table's stored Parquet files.
func TestEraseCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	u := func(s string) string { return fileURL(dir + "/" + s) }
	cfgPath := dir + "/eu-1.yaml"
	cfgYAML := fmt.Sprintf("name: eu-1\nlanding: %s\ntable: %s\ncentral: %s\n", u("landing"), u("regional"), u("central"))
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	landing := openBucket(t, u("landing"))
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := run(t, args...)
		if code != 0 {
			t.Fatalf("loglake %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	land := func(key string, first int) (victims, approved int) {
		data, victims, approved := erasetest.Lines(first, 60)
		if err := landing.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		ok("ingest", "--landing", u("landing"), "--table", u("regional"), "--once")
		return victims, approved
	}
	v1, a1 := land("a.ndjson", 0)
	ok("egress", "--config", cfgPath, "--once")
	v2, a2 := land("b.ndjson", 60) // egress lags behind this one
	ok("delete", u("regional"), "--where", erasetest.Where, "--config", cfgPath)
	_, errOut, code := run(t, "vacuum", u("regional"), "--retain", "0", "--force", "--config", cfgPath)
	if code != 0 || !strings.Contains(errOut, "loglake: vacuum: warning: kept ") || !strings.Contains(errOut, "egress:eu-1") {
		t.Fatalf("vacuum past egress: exit %d, stderr %q", code, errOut)
	}
	// What the vacuum kept, egress still reads: b.ndjson's approved rows.
	var sum struct{ Rows, SkippedCommits int64 }
	if err := json.Unmarshal([]byte(ok("egress", "--config", cfgPath, "--once", "-o", "json")), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Rows != int64(30) || sum.SkippedCommits != 1 {
		t.Fatalf("egress after the guarded vacuum: %+v", sum)
	}
	var rep regions.EraseReport
	if err := json.Unmarshal([]byte(ok("erase", "--where", erasetest.Where, cfgPath, "--retain", "0", "--force", "--wait", "30s", "-o", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 2 || rep.Tables[0].Delete.NumDeletedRows != 0 || rep.Tables[1].Delete.NumDeletedRows != int64(a1+a2) {
		t.Fatalf("erase: %+v (regional victims %d, approved %d)", rep.Tables, v1+v2, a1+a2)
	}
	for _, name := range []string{"regional", "central"} {
		if n, sample := erasetest.Stored(t, openBucket(t, u(name))); n != 0 {
			t.Fatalf("%s: %d org-7 rows still stored, e.g. %s", name, n, sample)
		}
	}
}
