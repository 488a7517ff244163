package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// query is one PromQL expression of a dashboard or rule file.
type query struct {
	where, expr string
}

func checkMetricsCmd(args []string) ([]string, error) {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	bin := fs.String("loglake", "", "the loglake binary to run and scrape")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *bin == "" || fs.NArg() == 0 {
		usage()
	}
	var queries []query
	var problems []string
	for _, f := range fs.Args() {
		q, p, err := readQueries(f)
		if err != nil {
			return nil, err
		}
		queries, problems = append(queries, q...), append(problems, p...)
	}
	names, p := metricNames(queries)
	problems = append(problems, p...)
	scraped, err := scrapeDaemon(*bin)
	if err != nil {
		return nil, err
	}
	for _, n := range slices.Sorted(mapsKeys(names)) {
		if !scraped[n] {
			problems = append(problems, fmt.Sprintf("%s (used by %s) is not in the daemon's /metrics", n, strings.Join(names[n], ", ")))
		}
	}
	fmt.Printf("check metrics: %d queries name %d metrics; %d series names scraped from a running daemon\n", len(queries), len(names), len(scraped))
	return problems, nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// readQueries returns the PromQL of a Grafana dashboard (.json: every
// target's expr, every label_values() variable) or a Prometheus rule file
// (.yaml: every rule's expr).
func readQueries(file string) ([]query, []string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	base := filepath.Base(file)
	if strings.HasSuffix(file, ".json") {
		return dashboardQueries(base, data)
	}
	var rf struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	var out []query
	if err := yaml.Unmarshal(data, &rf); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			out = append(out, query{fmt.Sprintf("%s %s/%s%s", base, g.Name, r.Alert, r.Record), r.Expr})
		}
	}
	return out, nil, nil
}

var labelValues = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// dashboard is the part of a Grafana dashboard model this check reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

// dashboardQueries returns a dashboard's PromQL (every target's expr and
// every label_values() variable) and what is wrong with its structure:
// missing uid or titles, duplicate panel ids, panels off the 24-column
// grid or not on the dashboard's datasource variable, targets without refId
// or expr.
func dashboardQueries(base string, data []byte) ([]query, []string, error) {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", base, err)
	}
	var out []query
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, base+": "+fmt.Sprintf(format, a...)) }
	if d.UID == "" || d.Title == "" {
		bad("the dashboard needs a uid and a title")
	}
	hasDS := false
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			hasDS = hasDS || v.Name == "datasource"
		case "query":
			q, _ := v.Query.(string)
			if m, ok := v.Query.(map[string]any); ok {
				q, _ = m["query"].(string)
			}
			sel := labelValues.FindStringSubmatch(q)
			if sel == nil {
				bad("variable %s: query %q is not label_values(metric, label)", v.Name, q)
				continue
			}
			out = append(out, query{base + " variable " + v.Name, sel[1]})
		}
	}
	if !hasDS {
		bad("no datasource variable named datasource: panels would be bound to one Grafana's datasource uid")
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID == 0 || ids[p.ID] {
				bad("%s: missing or duplicate id", where)
			}
			ids[p.ID] = true
			if p.Title == "" {
				bad("%s: no title", where)
			}
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				bad("%s: gridPos %+v is off the 24-column grid", where, g)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource["uid"] != "${datasource}" {
				bad("%s: datasource %v, want uid ${datasource}", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				bad("%s: no targets", where)
			}
			for _, t := range p.Targets {
				if t.RefID == "" || t.Expr == "" {
					bad("%s: a target without refId or expr", where)
					continue
				}
				out = append(out, query{base + " " + where + " " + t.RefID, t.Expr})
			}
		}
	}
	walk(d.Panels)
	return out, problems, nil
}

// grafanaVar matches a dashboard variable: $name, ${name} or ${name:fmt}.
var grafanaVar = regexp.MustCompile(`\$(?:\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}|[A-Za-z_][A-Za-z0-9_]*)`)

// metricNames parses every query with Prometheus' own PromQL parser
// (Grafana's interval variables become a duration, other variables a
// label value) and returns the metric names each selects.
func metricNames(queries []query) (map[string][]string, []string) {
	p := parser.NewParser(parser.Options{})
	names := map[string][]string{}
	var problems []string
	for _, q := range queries {
		expr := grafanaVar.ReplaceAllStringFunc(q.expr, func(v string) string {
			switch strings.Trim(v, "${}") {
			case "__rate_interval", "__interval", "__range":
				return "5m"
			}
			return "value"
		})
		e, err := p.ParseExpr(expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %q: %v", q.where, q.expr, err))
			continue
		}
		n := 0
		parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				problems = append(problems, fmt.Sprintf("%s: %q selects no metric by name", q.where, q.expr))
				return nil
			}
			n++
			if !slices.Contains(names[name], q.where) {
				names[name] = append(names[name], q.where)
			}
			return nil
		})
		if n == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q names no metric", q.where, q.expr))
		}
	}
	return names, problems
}

// scrapeDaemon runs a real region daemon on a small generated landing set
// in a temporary directory, waits until /healthz says ok (both loops run,
// so ingest's and egress's metrics are registered), scrapes /metrics and
// stops the daemon with SIGTERM. It returns every series name scraped
// (histograms as their _bucket, _sum and _count series).
func scrapeDaemon(bin string) (map[string]bool, error) {
	dir, err := os.MkdirTemp("", "loglake-check-metrics-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	landing := "file://" + filepath.Join(dir, "landing")
	if out, err := exec.CommandContext(ctx, bin, "gen", landing, "--files", "2", "--file-bytes", "20000").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("loglake gen: %v: %s", err, out)
	}
	cfg := filepath.Join(dir, "region.yaml")
	if err := os.WriteFile(cfg, []byte(`name: check
landing: file://./landing
table: file://./regional
central: file://./central
ingest: {interval: 200ms}
egress: {interval: 200ms}
metrics: {address: "127.0.0.1:0", lag_interval: 200ms}
`), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	// The daemon logs the address it listens on (port 0 picks one).
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "metrics endpoint listening" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-ctx.Done():
		return nil, fmt.Errorf("the daemon did not report its metrics address")
	}
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the daemon's /healthz did not become ok")
		case <-time.After(200 * time.Millisecond):
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return seriesNames(resp.Body)
}

// seriesNames parses a Prometheus text exposition with Prometheus' parser.
func seriesNames(r io.Reader) (map[string]bool, error) {
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	out := map[string]bool{}
	for name, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue // declared but without a series: a query would find nothing
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out, nil
}
