package regions_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/loglake/loglake/regions"
)

func TestParseReplica(t *testing.T) {
	for _, tc := range []struct {
		in       string
		src, dst string
		err      bool
	}{
		{in: "file:///a=file:///b", src: "file:///a", dst: "file:///b"},
		{in: "s3://b/x?endpoint=http://127.0.0.1:7070&region=us-east-1=gs://dr/central",
			src: "s3://b/x?endpoint=http://127.0.0.1:7070&region=us-east-1", dst: "gs://dr/central"},
		{in: "s3://b/x=azblob://c/y?k=v", src: "s3://b/x", dst: "azblob://c/y?k=v"},
		{in: "./central=./dr/central", src: "./central", dst: "./dr/central"},
		{in: "central=s3://dr/central", src: "central", dst: "s3://dr/central"},
		{in: "s3://b/central=/dr/central", src: "s3://b/central", dst: "/dr/central"},
		{in: "s3://b/x?region=us-east-1=./dr/central", src: "s3://b/x?region=us-east-1", dst: "./dr/central"},
		{in: "./date=2026-11-24=./dr", src: "./date=2026-11-24", dst: "./dr"},
		{in: "./a=", err: true},
		{in: "file:///a", err: true},
		{in: "=file:///b", err: true},
		{in: "file:///a=http://b", err: true},
	} {
		r, err := regions.ParseReplica(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("ParseReplica(%q) = %+v, want an error", tc.in, r)
			}
			continue
		}
		if err != nil || r.Source != tc.src || r.Replica != tc.dst {
			t.Errorf("ParseReplica(%q) = %+v, %v; want %s = %s", tc.in, r, err, tc.src, tc.dst)
		}
	}
}

func TestBreaches(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	rep := &regions.Report{
		Regions: []regions.RegionStatus{
			{Name: "ok", Egress: &regions.EgressStatus{LagVersions: i(1), LagSeconds: f(2)}, Ingest: &regions.IngestStatus{BacklogFiles: n(0)}},
			{Name: "slow", Egress: &regions.EgressStatus{LagVersions: i(50), LagSeconds: f(600)}, Ingest: &regions.IngestStatus{BacklogFiles: n(9)}},
			{Name: "dark", Egress: &regions.EgressStatus{}, Ingest: &regions.IngestStatus{}},
			{Name: "noegress"},
		},
		Replicas: []regions.ReplicaStatus{{Replica: "s3://dr/t", LagVersions: i(3), LagSeconds: f(30)}},
	}
	for _, tc := range []struct {
		th   regions.Thresholds
		want []string
	}{
		{th: regions.Thresholds{}, want: nil},
		{th: regions.Thresholds{MaxBacklogFiles: n(0)}, want: []string{
			"region slow ingest: backlog 9 files > 0",
			"region dark ingest: backlog unknown"}},
		{th: regions.Thresholds{MaxLagVersions: i(10)}, want: []string{
			"region slow egress: lag 50 versions > 10",
			"region dark egress: lag in versions unknown"}},
		{th: regions.Thresholds{MaxLagSeconds: f(20), MaxBacklogFiles: n(5)}, want: []string{
			"region slow egress: lag 10m0s > 20s",
			"region slow ingest: backlog 9 files > 5",
			"region dark egress: lag in seconds unknown",
			"region dark ingest: backlog unknown",
			"replica s3://dr/t: lag 30s > 20s"}},
	} {
		got := rep.Breaches(tc.th)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("Breaches(%+v):\n%s\nwant:\n%s", tc.th, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// TestDeployConfigMap validates the region config inside the example
// Kubernetes ConfigMap (deploy/k8s) with the daemon's own loader.
func TestDeployConfigMap(t *testing.T) {
	data, err := os.ReadFile("../deploy/k8s/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	cfg, err := regions.Parse([]byte(cm.Data["region.yaml"]), "configmap.yaml:region.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "eu-west-1" || cfg.Metrics.Address != "0.0.0.0:9464" {
		t.Fatalf("region %q metrics %q", cfg.Name, cfg.Metrics.Address)
	}
}

// docs/status.md: the JSON report's keys are never left out; a route's
// start and stop are there when they are 0 (review: omitted).
func TestEgressStatusJSONKeys(t *testing.T) {
	data, err := json.Marshal(&regions.EgressStatus{Route: "central"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"start":0`, `"stop":0`, `"forwardedVersion":null`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("%s: no %s", data, key)
		}
	}
}
