package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// objects are the decoded manifests, by kind.
type objects struct {
	configMaps      map[string]*corev1.ConfigMap // by namespace/name
	serviceAccounts map[string]*corev1.ServiceAccount
	services        []*corev1.Service
	deployments     []*appsv1.Deployment
}

// checkManifests decodes every YAML document under dir strictly (unknown
// or duplicate fields are errors, as `kubectl apply --validate=strict`
// makes them) into its Kubernetes API type, then checks that the objects
// fit together: selectors, service account, ConfigMap volume and keys,
// probe ports, the --config path, the metrics port in the region config.
func checkManifests(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml files in %s", dir)
	}
	o := &objects{configMaps: map[string]*corev1.ConfigMap{}, serviceAccounts: map[string]*corev1.ServiceAccount{}}
	var problems []string
	for _, f := range files {
		p, err := o.decodeFile(f)
		if err != nil {
			return nil, err
		}
		problems = append(problems, p...)
	}
	if len(o.deployments) == 0 {
		problems = append(problems, "no Deployment found")
	}
	for _, d := range o.deployments {
		problems = append(problems, o.checkDeployment(d)...)
	}
	return problems, nil
}

func (o *objects) decodeFile(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var problems []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return problems, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			problems = append(problems, fmt.Sprintf("%s: document %d: %v", file, n, err))
			continue
		}
		var obj any
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1/ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "v1/Service":
			obj = &corev1.Service{}
		case "apps/v1/Deployment":
			obj = &appsv1.Deployment{}
		default:
			problems = append(problems, fmt.Sprintf("%s: document %d: apiVersion %q kind %q is not one this check knows", file, n, tm.APIVersion, tm.Kind))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			problems = append(problems, fmt.Sprintf("%s: document %d (%s): %v", file, n, tm.Kind, err))
			continue
		}
		where := fmt.Sprintf("%s: %s", file, tm.Kind)
		switch x := obj.(type) {
		case *corev1.ConfigMap:
			problems = append(problems, needName(where, x.ObjectMeta)...)
			o.configMaps[x.Namespace+"/"+x.Name] = x
		case *corev1.ServiceAccount:
			problems = append(problems, needName(where, x.ObjectMeta)...)
			o.serviceAccounts[x.Namespace+"/"+x.Name] = x
		case *corev1.Service:
			problems = append(problems, needName(where, x.ObjectMeta)...)
			o.services = append(o.services, x)
		case *appsv1.Deployment:
			problems = append(problems, needName(where, x.ObjectMeta)...)
			o.deployments = append(o.deployments, x)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

func needName(where string, m metav1.ObjectMeta) []string {
	var p []string
	if m.Name == "" {
		p = append(p, where+": metadata.name is empty")
	}
	if m.Namespace == "" {
		p = append(p, where+" "+m.Name+": metadata.namespace is empty (name it: these manifests are applied as a set)")
	}
	return p
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func (o *objects) checkDeployment(d *appsv1.Deployment) []string {
	var problems []string
	bad := func(format string, a ...any) {
		problems = append(problems, fmt.Sprintf("Deployment %s: ", d.Name)+fmt.Sprintf(format, a...))
	}
	ns := d.Namespace
	pod := d.Spec.Template
	if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, pod.Labels) {
		bad("spec.selector does not select the pod template's labels")
	}
	if sa := pod.Spec.ServiceAccountName; sa != "" && o.serviceAccounts[ns+"/"+sa] == nil {
		bad("serviceAccountName %q: no such ServiceAccount in namespace %q", sa, ns)
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		bad("the pod's securityContext must set runAsNonRoot: true")
	}
	if len(pod.Spec.Containers) != 1 {
		bad("want one container, found %d", len(pod.Spec.Containers))
		return problems
	}
	c := pod.Spec.Containers[0]
	if img := c.Image; !strings.Contains(img[strings.LastIndex(img, "/")+1:], ":") || strings.HasSuffix(img, ":latest") {
		bad("image %q is not pinned to a tag other than latest", img)
	}

	// Ports and probes: every probe GETs /healthz on a declared port.
	metricsPort := int32(0)
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if metricsPort == 0 {
		bad("container %s declares no port named metrics", c.Name)
	}
	for name, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		switch {
		case pr == nil || pr.HTTPGet == nil:
			bad("%s: want an httpGet probe on /healthz", name)
		case pr.HTTPGet.Path != "/healthz":
			bad("%s: path %q, want /healthz", name, pr.HTTPGet.Path)
		case !portMatches(pr.HTTPGet.Port.String(), c.Ports, metricsPort):
			bad("%s: port %s is not the container's metrics port", name, pr.HTTPGet.Port.String())
		}
	}
	if a := pod.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(int(metricsPort)) {
		bad("pod annotations prometheus.io/scrape=%q prometheus.io/port=%q, want \"true\" and %d", a["prometheus.io/scrape"], a["prometheus.io/port"], metricsPort)
	}

	// --config names a file that a ConfigMap volume provides.
	cfgPath := ""
	for i, a := range c.Args {
		if a == "--config" && i+1 < len(c.Args) {
			cfgPath = c.Args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = v
		}
	}
	if len(c.Args) == 0 || c.Args[0] != "run" || cfgPath == "" {
		bad("args %q: want run --config FILE", c.Args)
		return problems
	}
	var regionYAML string
	found := false
	for _, m := range c.VolumeMounts {
		vi := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if vi < 0 {
			bad("volumeMount %q: no such volume", m.Name)
			continue
		}
		v := pod.Spec.Volumes[vi]
		rel, ok := strings.CutPrefix(cfgPath, strings.TrimSuffix(m.MountPath, "/")+"/")
		if v.ConfigMap == nil || !ok {
			continue
		}
		cm := o.configMaps[ns+"/"+v.ConfigMap.Name]
		if cm == nil {
			bad("volume %q: no ConfigMap %q in namespace %q", v.Name, v.ConfigMap.Name, ns)
			continue
		}
		key := rel
		for _, it := range v.ConfigMap.Items {
			if it.Path == rel {
				key = it.Key
			}
		}
		data, ok := cm.Data[key]
		if !ok {
			bad("--config %s: ConfigMap %s has no key %q", cfgPath, cm.Name, key)
			continue
		}
		regionYAML, found = data, true
	}
	if !found {
		bad("--config %s is not in a mounted ConfigMap", cfgPath)
		return problems
	}
	var region struct {
		Metrics struct {
			Address string `json:"address"`
		} `json:"metrics"`
		ShutdownTimeout string `json:"shutdown_timeout"`
	}
	if err := yaml.Unmarshal([]byte(regionYAML), &region); err != nil {
		bad("region config: %v", err)
		return problems
	}
	if _, port, err := net.SplitHostPort(region.Metrics.Address); err != nil || port != strconv.Itoa(int(metricsPort)) {
		bad("region config metrics.address %q does not listen on the metrics port %d", region.Metrics.Address, metricsPort)
	} else if host, _, _ := net.SplitHostPort(region.Metrics.Address); host != "" && host != "0.0.0.0" && host != "::" {
		bad("region config metrics.address %q: probes and scrapes come from outside the pod; listen on 0.0.0.0", region.Metrics.Address)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; region.ShutdownTimeout != "" && g != nil {
		st, err := time.ParseDuration(region.ShutdownTimeout)
		if err != nil {
			bad("region config shutdown_timeout %q: %v", region.ShutdownTimeout, err)
		} else if st >= time.Duration(*g)*time.Second {
			bad("terminationGracePeriodSeconds %d does not exceed the region's shutdown_timeout %s: the kubelet would SIGKILL a draining daemon", *g, st)
		}
	}

	// A Service in the namespace selects these pods on the metrics port.
	served := false
	for _, s := range o.services {
		if s.Namespace != ns || !subset(s.Spec.Selector, pod.Labels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if portMatches(p.TargetPort.String(), c.Ports, metricsPort) {
				served = true
			}
		}
	}
	if !served {
		bad("no Service in namespace %q selects its pods with a port targeting metrics", ns)
	}
	return problems
}

// portMatches reports whether a probe or service port (a name or number)
// is the container's port want.
func portMatches(port string, ports []corev1.ContainerPort, want int32) bool {
	if n, err := strconv.Atoi(port); err == nil {
		return int32(n) == want
	}
	for _, p := range ports {
		if p.Name == port {
			return p.ContainerPort == want
		}
	}
	return false
}
