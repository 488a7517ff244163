package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// statusJSON is the part of `loglake status --json` the tests check.
type statusJSON struct {
	Regions []struct {
		Name       string   `json:"name"`
		Version    *int64   `json:"version"`
		AgeSeconds *float64 `json:"ageSeconds"`
		Error      string   `json:"error"`
		Egress     *struct {
			AppID       string   `json:"appId"`
			Forwarded   *int64   `json:"forwardedVersion"`
			LagVersions *int64   `json:"lagVersions"`
			LagSeconds  *float64 `json:"lagSeconds"`
			Error       string   `json:"error"`
		} `json:"egress"`
		Ingest *struct {
			Batch        *int64 `json:"batch"`
			BacklogFiles *int   `json:"backlogFiles"`
			BacklogBytes *int64 `json:"backlogBytes"`
			Error        string `json:"error"`
		} `json:"ingest"`
	} `json:"regions"`
	Replicas []struct {
		Replica       string   `json:"replica"`
		AppID         string   `json:"appId"`
		SourceVersion *int64   `json:"sourceVersion"`
		Replicated    *int64   `json:"replicatedVersion"`
		LagVersions   *int64   `json:"lagVersions"`
		LagSeconds    *float64 `json:"lagSeconds"`
		Error         string   `json:"error"`
	} `json:"replicas"`
	Tables []struct {
		URL          string  `json:"url"`
		Version      *int64  `json:"version"`
		Files        *int    `json:"files"`
		SmallFiles   *int    `json:"smallFiles"`
		LastOptimize *string `json:"lastOptimize"`
		LastVacuum   *string `json:"lastVacuum"`
		HistoryRead  int     `json:"historyRead"`
		Error        string  `json:"error"`
	} `json:"tables"`
}

// status runs `loglake status --json args...` and decodes its report.
func status(t *testing.T, wantCode int, args ...string) (statusJSON, string) {
	t.Helper()
	out, errOut, code := run(t, append([]string{"status", "--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("status %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, out, errOut)
	}
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return s, errOut
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("loglake %v: exit %d: %s", args, code, errOut)
	}
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestStatusCLI drives a region through ingest, egress and a clone with the
// real binary on file:// and checks each figure `loglake status` reports,
// its probe exit codes, and that an unreachable table is an error in its
// row, not a failure of the report.
func TestStatusCLI(t *testing.T) {
	ctx := context.Background()
	base := fileURL(t.TempDir())
	r := rgNewRegions(t, base, "eu")[0]
	replica := rgSub(base, "dr/central")

	// Nothing exists yet: every figure that depends on the tables is
	// unknown, and a probe with a threshold fails.
	s, _ := status(t, 0, r.config)
	if rg := s.Regions[0]; rg.Version != nil || !strings.Contains(rg.Error, "no Delta table") || rg.Egress == nil || rg.Egress.LagVersions != nil {
		t.Fatalf("before ingest: %+v", rg)
	}
	_, errOut := status(t, 3, r.config, "--max-lag-versions", "5")
	if !strings.Contains(errOut, "region eu egress: lag in versions unknown") {
		t.Fatalf("probe stderr: %s", errOut)
	}

	// Two landing waves of 3 files; ingest the first only, in batches of 4
	// files at most (the config's max_files), so the table has 1 batch.
	if err := r.land(ctx, 3); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ingest", "--once", "--quiet", "--landing", r.landing, "--table", r.table)
	if err := r.land(ctx, 3); err != nil {
		t.Fatal(err)
	}
	s, _ = status(t, 0, r.config)
	rg := s.Regions[0]
	if rg.Version == nil || *rg.Version != 1 || rg.Error != "" {
		t.Fatalf("after ingest: version %v error %q, want 1 (create + one batch)", deref(rg.Version), rg.Error)
	}
	if in := rg.Ingest; in == nil || deref(in.Batch) != int64(1) || deref(in.BacklogFiles) != 3 || deref(in.BacklogBytes) == int64(0) {
		t.Fatalf("ingest status: %+v", in)
	}
	// The CREATE commit adds no data, so egress lag counts only the batch.
	if e := rg.Egress; deref(e.Forwarded) != int64(-1) || deref(e.LagVersions) != int64(1) || e.LagSeconds == nil || *e.LagSeconds <= 0 {
		t.Fatalf("egress before egress ran: forwarded %v lag %v/%v err %q", deref(e.Forwarded), deref(e.LagVersions), deref(e.LagSeconds), e.Error)
	}
	_, errOut = status(t, 3, r.config, "--max-lag-versions", "0", "--max-backlog-files", "2")
	for _, want := range []string{"region eu egress: lag 1 version > 0", "region eu ingest: backlog 3 files > 2"} {
		if !strings.Contains(errOut, want) {
			t.Fatalf("probe stderr lacks %q: %s", want, errOut)
		}
	}

	// Ingest the rest and forward everything: no lag, no backlog.
	mustRun(t, "ingest", "--once", "--quiet", "--landing", r.landing, "--table", r.table)
	mustRun(t, "egress", "--once", "--config", r.config)
	s, _ = status(t, 0, r.config, "--max-lag-versions", "1", "--max-lag", "1h", "--max-backlog-files", "0")
	rg = s.Regions[0]
	// Caught up: forwarded through the regional head (two batches and the
	// switch commit egress records its route set 0 with, docs/egress.md).
	if e := rg.Egress; deref(e.Forwarded) != deref(rg.Version) || deref(rg.Version) != int64(3) || deref(e.LagVersions) != int64(0) || deref(e.LagSeconds) != 0.0 {
		t.Fatalf("after egress: forwarded %v lag %v/%v err %q", deref(e.Forwarded), deref(e.LagVersions), deref(e.LagSeconds), e.Error)
	}
	if in := rg.Ingest; deref(in.Batch) != int64(2) || deref(in.BacklogFiles) != 0 {
		t.Fatalf("ingest after the second batch: %+v", in)
	}

	// A replica of the central table, then one more central commit: the
	// replica is one version behind.
	mustRun(t, "clone", r.central, replica)
	rep := r.central + "=" + replica
	s, _ = status(t, 0, "--replica", rep, "--max-lag-versions", "1")
	if rp := s.Replicas[0]; deref(rp.Replicated) != deref(rp.SourceVersion) || deref(rp.LagVersions) != int64(0) || !strings.HasPrefix(rp.AppID, "clone:") {
		t.Fatalf("replica after clone: %+v", rp)
	}
	if err := r.land(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ingest", "--once", "--quiet", "--landing", r.landing, "--table", r.table)
	mustRun(t, "egress", "--once", "--config", r.config)
	s, errOut = status(t, 3, r.config, "--replica", rep, "--max-lag", "1ms")
	rp := s.Replicas[0]
	if deref(rp.LagVersions) != int64(1) || rp.LagSeconds == nil || *rp.LagSeconds <= 0 {
		t.Fatalf("replica behind by one central commit: %+v", rp)
	}
	if !strings.Contains(errOut, "replica "+replica+": lag") || strings.Contains(errOut, "region eu") {
		t.Fatalf("probe stderr should name the replica only: %s", errOut)
	}

	// Maintenance columns: every file of this small table is small; no
	// OPTIMIZE in its history.
	for _, tb := range s.Tables {
		if tb.Error != "" || tb.Files == nil || *tb.Files == 0 || deref(tb.SmallFiles) != *tb.Files || tb.LastOptimize != nil || tb.HistoryRead == 0 {
			t.Fatalf("table %s: %+v", tb.URL, tb)
		}
	}

	// OPTIMIZE on the regional table shows as its last optimize.
	var opt struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "optimize", r.table, "--json")), &opt); err != nil || opt.Version < 0 {
		t.Fatalf("optimize: version %d, %v", opt.Version, err)
	}
	s, _ = status(t, 0, r.config)
	if tb := s.Tables[0]; deref(tb.Version) != opt.Version || tb.LastOptimize == nil || s.Tables[1].LastOptimize != nil {
		t.Fatalf("after OPTIMIZE of the regional table: %+v; central %+v", tb, s.Tables[1])
	}

	// VACUUM records its run under _loglake/; status shows it.
	mustRun(t, "vacuum", r.table)
	s, _ = status(t, 0, r.config, "--history", "-1")
	if tb := s.Tables[0]; tb.LastVacuum == nil || tb.LastOptimize != nil || tb.HistoryRead != 0 || s.Tables[1].LastVacuum != nil {
		t.Fatalf("after VACUUM of the regional table (history not read): %+v; central %+v", tb, s.Tables[1])
	}

	// Unreachable and missing tables are errors in their rows; the rest of
	// the report is intact, and the text output says "unknown".
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreachable := "s3://loglake-status-test/t?endpoint=http://127.0.0.1:1&region=us-east-1&use_path_style=true"
	s, _ = status(t, 0, r.config, fileURL(notDir), unreachable, "--timeout", "3s")
	if s.Regions[0].Egress.LagVersions == nil || s.Regions[0].Error != "" || len(s.Tables) != 4 {
		t.Fatalf("report with bad tables: %+v", s)
	}
	for _, tb := range s.Tables[2:] {
		if tb.Error == "" || tb.Version != nil {
			t.Fatalf("bad table %s: error %q version %v", tb.URL, tb.Error, deref(tb.Version))
		}
	}
	out := mustRun(t, "status", r.config, unreachable, "--timeout", "3s")
	if !strings.Contains(out, "unknown") || !strings.Contains(out, "REGION") || !strings.Contains(out, "eu ") {
		t.Fatalf("text report:\n%s", out)
	}
}

// TestStatusEmulators reads a region whose landing, regional and central
// tables are on S3 and a replica of the central table on GCS, through the
// binary, as a DR probe would.
func TestStatusEmulators(t *testing.T) {
	ctx := context.Background()
	r := rgNewRegions(t, UniqueURL(t, os.Getenv(EnvS3URL)), "s3r")[0]
	replica := UniqueURL(t, os.Getenv(EnvGCSURL))
	if err := r.land(ctx, 2); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ingest", "--once", "--quiet", "--landing", r.landing, "--table", r.table)
	mustRun(t, "egress", "--once", "--config", r.config)
	mustRun(t, "clone", r.central, replica)
	if err := r.land(ctx, 1); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ingest", "--once", "--quiet", "--landing", r.landing, "--table", r.table)
	mustRun(t, "egress", "--once", "--config", r.config)

	s, errOut := status(t, 3, r.config, "--replica", r.central+"="+replica, "--max-lag-versions", "0", "--max-lag", "1ms")
	rg := s.Regions[0]
	// Two batches and the switch commit of egress's route set 0 (docs/egress.md).
	if rg.Error != "" || deref(rg.Version) != int64(3) || deref(rg.Egress.Forwarded) != int64(3) || deref(rg.Egress.LagVersions) != int64(0) ||
		deref(rg.Ingest.Batch) != int64(2) || deref(rg.Ingest.BacklogFiles) != 0 {
		t.Fatalf("region on S3: version %v egress %v/%v %+v ingest %+v", deref(rg.Version), deref(rg.Egress.Forwarded), deref(rg.Egress.LagVersions), rg.Egress, rg.Ingest)
	}
	rp := s.Replicas[0]
	if rp.Error != "" || deref(rp.LagVersions) != int64(1) || deref(rp.Replicated) != deref(rp.SourceVersion).(int64)-1 {
		t.Fatalf("replica on GCS: %+v", rp)
	}
	if !strings.Contains(errOut, "replica ") || strings.Contains(errOut, "region s3r") {
		t.Fatalf("probe stderr: %s", errOut)
	}
	for _, tb := range s.Tables {
		if tb.Error != "" || tb.Version == nil {
			t.Fatalf("table %s: %+v", tb.URL, tb)
		}
	}
}
