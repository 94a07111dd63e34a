// Package k8s_test keeps the Kubernetes manifests in deploy/k8s honest: every YAML file parses,
// every kustomization's references exist, every environment variable is one the binaries read,
// and each deployable tree (the base and every overlay), rendered, keeps the rules the manifests
// explain in their comments: grace period > shutdown timeout + margin, memory >= concurrency ×
// part size + overhead, KEDA never scales below one worker and watches every queue's pending
// list on the Redis the workers use, and so on.
//
// The rendering is a small, pure-Go subset of kustomize (resources, strategic-merge patches by
// kind and name, configMapGenerator literals, namespace, images) that always runs. When a real
// kustomize is at hand (.tools/bin/kustomize, or kubectl on PATH for `kubectl kustomize`), the
// same checks also run on its output, and both renderings must agree on the facts checked.
package k8s_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/partflow/partflow/tasks"
)

// Names of the objects the checks look for.
const (
	workerName    = "partflow-worker"
	monitorName   = "partflow-monitor"
	workerSecret  = "partflow-worker-secrets"
	monitorSecret = "partflow-monitor-secrets"
	volumeClaim   = "partflow-volume"
	exampleSecret = "secrets.example.yaml"
)

// minShutdownMargin is how much longer than the process's shutdown timeout a pod's
// terminationGracePeriodSeconds must be: room for asynq to requeue what still runs, the
// metrics server to close (up to 5s) and the process to exit before the kubelet's SIGKILL.
const minShutdownMargin = 10 * time.Second

// extraEnv are variables in the manifests that partflow's binaries do not read, with who does.
var extraEnv = map[string]string{
	"GOMEMLIMIT":         "the Go runtime",
	"GOMAXPROCS":         "the Go runtime",
	"GOGC":               "the Go runtime",
	"KEDA_REDIS_ADDRESS": "KEDA's redis scaler (addressFromEnv), read from the worker's environment",
}

// binaries maps a container name to the Go source directories (relative to the repository
// root) whose string literals are the environment variables that binary reads.
var binaries = map[string][]string{
	"worker":  {"cmd/worker", "internal/cli"},
	"monitor": {"cmd/monitor", "internal/cli"},
}

type doc = map[string]any

// ---------------------------------------------------------------------------------------------
// Files

// yamlFiles lists the YAML files under deploy/k8s, skipping hidden folders and git-ignored
// *.local.yaml files (filled-in secrets).
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) &&
			!strings.HasSuffix(p, ".local.yaml") {
			out = append(out, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no YAML files under deploy/k8s")
	}
	return out
}

// parseFile returns the documents of a YAML file; comment-only documents are dropped.
func parseFile(path string) ([]doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseYAML(b)
}

func parseYAML(b []byte) ([]doc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []doc
	for i := 1; ; i++ {
		var d doc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

func TestEveryYAMLDocumentHasAPIVersionAndKind(t *testing.T) {
	for _, f := range yamlFiles(t) {
		docs, err := parseFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
		for i, d := range docs {
			if s, _ := d["apiVersion"].(string); s == "" {
				t.Errorf("%s: document %d has no apiVersion", f, i+1)
			}
			if s, _ := d["kind"].(string); s == "" {
				t.Errorf("%s: document %d has no kind", f, i+1)
			}
			if name := str(get(d, "metadata", "name")); name == "" && d["kind"] != "Kustomization" {
				t.Errorf("%s: document %d (%v) has no metadata.name", f, i+1, d["kind"])
			}
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Kustomizations

// kustomization is the subset of kustomize's Kustomization that these manifests use; the mini
// renderer below implements exactly this subset.
type kustomization struct {
	APIVersion         string `yaml:"apiVersion"`
	Kind               string `yaml:"kind"`
	Namespace          string `yaml:"namespace"`
	Resources          []string
	Patches            []struct{ Path string }
	ConfigMapGenerator []struct {
		Name     string
		Behavior string
		Literals []string
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name    string
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	}
}

func loadKustomization(dir string) (*kustomization, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a kustomize feature the mini renderer lacks must fail here
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("%s/kustomization.yaml (only resources, patches with path, configMapGenerator literals, namespace and images are supported here; extend manifests_test.go to use more): %w", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("%s/kustomization.yaml: want apiVersion kustomize.config.k8s.io/v1beta1, kind Kustomization", dir)
	}
	return &k, nil
}

func kustomizationDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, f := range yamlFiles(t) {
		if filepath.Base(f) == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	return dirs
}

func TestKustomizationReferencesExist(t *testing.T) {
	referenced := map[string]bool{}
	for _, dir := range kustomizationDirs(t) {
		k, err := loadKustomization(dir)
		if err != nil {
			t.Error(err)
			continue
		}
		referenced[filepath.ToSlash(filepath.Join(dir, "kustomization.yaml"))] = true
		for _, r := range k.Resources {
			p := filepath.Join(dir, r)
			st, err := os.Stat(p)
			switch {
			case err != nil:
				t.Errorf("%s: resource %s: %v", dir, r, err)
			case st.IsDir():
				if _, err := os.Stat(filepath.Join(p, "kustomization.yaml")); err != nil {
					t.Errorf("%s: resource %s is a directory without kustomization.yaml", dir, r)
				}
			default:
				referenced[filepath.ToSlash(filepath.Clean(p))] = true
			}
		}
		for _, p := range k.Patches {
			if p.Path == "" {
				t.Errorf("%s: a patch without path (inline patches are not supported here)", dir)
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, p.Path)); err != nil {
				t.Errorf("%s: patch %s: %v", dir, p.Path, err)
			}
			referenced[filepath.ToSlash(filepath.Clean(filepath.Join(dir, p.Path)))] = true
		}
		for _, g := range k.ConfigMapGenerator {
			if g.Name == "" || len(g.Literals) == 0 {
				t.Errorf("%s: configMapGenerator entries need a name and literals", dir)
			}
			if !slices.Contains([]string{"", "create", "merge", "replace"}, g.Behavior) {
				t.Errorf("%s: configMapGenerator %s: unknown behavior %q", dir, g.Name, g.Behavior)
			}
		}
	}
	// A YAML file no kustomization uses would be silently ignored by `kubectl apply -k`.
	for _, f := range yamlFiles(t) {
		if !referenced[f] && f != exampleSecret {
			t.Errorf("%s is referenced by no kustomization (nor is it %s)", f, exampleSecret)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// The mini renderer

// render builds the kustomization in dir the way kustomize would, for the subset it supports.
func render(dir string) ([]doc, error) {
	k, err := loadKustomization(dir)
	if err != nil {
		return nil, err
	}
	var docs []doc
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			sub, err := render(p)
			if err != nil {
				return nil, err
			}
			docs = append(docs, sub...)
			continue
		}
		ds, err := parseFile(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		docs = append(docs, ds...)
	}
	for _, g := range k.ConfigMapGenerator {
		data := map[string]any{}
		for _, l := range g.Literals {
			key, val, ok := strings.Cut(l, "=")
			if !ok || key == "" {
				return nil, fmt.Errorf("%s: configMapGenerator %s: literal %q is not KEY=VALUE", dir, g.Name, l)
			}
			data[key] = val
		}
		existing := find(docs, "ConfigMap", g.Name)
		switch g.Behavior {
		case "", "create":
			if existing != nil {
				return nil, fmt.Errorf("%s: configMapGenerator %s exists already; use behavior merge", dir, g.Name)
			}
			docs = append(docs, doc{"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": g.Name}, "data": data})
		case "merge", "replace":
			if existing == nil {
				return nil, fmt.Errorf("%s: configMapGenerator %s (behavior %s) has nothing to merge into", dir, g.Name, g.Behavior)
			}
			if g.Behavior == "replace" {
				existing["data"] = data
				break
			}
			old, _ := existing["data"].(map[string]any)
			if old == nil {
				old = map[string]any{}
				existing["data"] = old
			}
			for k, v := range data {
				old[k] = v
			}
		}
	}
	for _, p := range k.Patches {
		path := filepath.Join(dir, p.Path)
		patches, err := parseFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, patch := range patches {
			kind, name := str(patch["kind"]), str(get(patch, "metadata", "name"))
			target := find(docs, kind, name)
			if target == nil {
				return nil, fmt.Errorf("%s: patch target %s/%s not found", path, kind, name)
			}
			if err := mergeInto(target, patch, kind, ""); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	if k.Namespace != "" {
		for _, d := range docs {
			if d["kind"] == "Namespace" {
				continue
			}
			md, _ := d["metadata"].(map[string]any)
			md["namespace"] = k.Namespace
		}
	}
	for _, img := range k.Images {
		for _, d := range docs {
			for _, c := range podContainers(d) {
				if c["image"] == img.Name {
					name := orDefault(img.NewName, img.Name)
					if img.NewTag != "" {
						name += ":" + img.NewTag
					}
					c["image"] = name
				}
			}
		}
	}
	return docs, nil
}

// mergeKeys are the strategic-merge keys of the pod-spec lists the patches touch; kustomize
// replaces other lists whole (always for custom resources such as ScaledObject).
var mergeKeys = map[string]string{
	"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
	"volumeMounts": "name", "topologySpreadConstraints": "topologyKey",
}

var builtinKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "Job": true}

func mergeInto(dst, src doc, kind, path string) error {
	for k, sv := range src {
		if strings.HasPrefix(k, "$") {
			return fmt.Errorf("%s: patch directive %s is not supported by manifests_test.go", path, k)
		}
		dv := dst[k]
		switch s := sv.(type) {
		case map[string]any:
			if d, ok := dv.(map[string]any); ok {
				if err := mergeInto(d, s, kind, path+"."+k); err != nil {
					return err
				}
				continue
			}
			dst[k] = s
		case []any:
			key := mergeKeys[k]
			d, ok := dv.([]any)
			if key == "" || !builtinKinds[kind] || !ok {
				dst[k] = s
				continue
			}
			for _, item := range s {
				im, _ := item.(map[string]any)
				if im == nil || im[key] == nil {
					return fmt.Errorf("%s.%s: every item needs %s", path, k, key)
				}
				merged := false
				for _, old := range d {
					if om, _ := old.(map[string]any); om != nil && om[key] == im[key] {
						if err := mergeInto(om, im, kind, path+"."+k); err != nil {
							return err
						}
						merged = true
					}
				}
				if !merged {
					d = append(d, im) // the checks never depend on the order of these lists
				}
			}
			dst[k] = d
		default:
			dst[k] = sv
		}
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Checks on a rendered tree

// facts are what the checks read from a rendering; the mini renderer and kustomize must agree.
type facts struct {
	WorkerEnv, MonitorEnv     map[string]string
	WorkerGrace, MonitorGrace int
	WorkerResources           any
	Min, Max                  int
	Triggers                  []any
	Kinds                     []string
}

func checkRendered(t *testing.T, name string, docs []doc) facts {
	t.Helper()
	errorf := func(format string, args ...any) { t.Helper(); t.Errorf(name+": "+format, args...) }
	var f facts
	for _, d := range docs {
		f.Kinds = append(f.Kinds, str(d["kind"])+"/"+str(get(d, "metadata", "name")))
	}
	slices.Sort(f.Kinds)

	configMaps := map[string]map[string]string{}
	for _, d := range docs {
		switch d["kind"] {
		case "ConfigMap":
			data := map[string]string{}
			for k, v := range asMap(d["data"]) {
				s, ok := v.(string)
				if !ok {
					errorf("ConfigMap %s: %s must be a string, got %T", get(d, "metadata", "name"), k, v)
				}
				data[k] = s
			}
			configMaps[str(get(d, "metadata", "name"))] = data
		case "Secret":
			errorf("Secret %v is part of the rendered manifests: secrets are created by hand (see %s)",
				get(d, "metadata", "name"), exampleSecret)
		}
	}

	for _, d := range docs {
		if d["kind"] == "Deployment" {
			checkPodSecurity(errorf, d)
			checkSelectors(errorf, d)
		}
	}

	worker := find(docs, "Deployment", workerName)
	monitor := find(docs, "Deployment", monitorName)
	if worker == nil || monitor == nil {
		errorf("want Deployments %s and %s", workerName, monitorName)
		return f
	}
	wc := container(worker, "worker")
	mc := container(monitor, "monitor")
	if wc == nil || mc == nil {
		errorf("want containers worker and monitor in their Deployments")
		return f
	}
	wenv, wsecrets := containerEnv(errorf, wc, configMaps)
	menv, msecrets := containerEnv(errorf, mc, configMaps)
	f.WorkerEnv, f.MonitorEnv = wenv, menv
	checkEnvNames(t, errorf, "worker", wenv)
	checkEnvNames(t, errorf, "monitor", menv)
	for _, s := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PARTFLOW_MONITOR_TOKEN"} {
		if _, ok := wenv[s]; ok {
			errorf("worker: %s must come from a Secret, not a ConfigMap or a literal value", s)
		}
		if _, ok := menv[s]; ok {
			errorf("monitor: %s must come from a Secret, not a ConfigMap or a literal value", s)
		}
	}
	if !slices.Contains(wsecrets, workerSecret) {
		errorf("worker: want envFrom secretRef %s (S3 credentials)", workerSecret)
	}
	if !slices.Contains(msecrets, monitorSecret) {
		errorf("monitor: want envFrom secretRef %s (PARTFLOW_MONITOR_TOKEN)", monitorSecret)
	}
	for _, key := range []string{"PARTFLOW_REDIS_URL", "PARTFLOW_S3_ENDPOINT", "PARTFLOW_VOLUME_ROOT",
		"PARTFLOW_CONCURRENCY", "PARTFLOW_SHUTDOWN_TIMEOUT", "PARTFLOW_METRICS_ADDR", "PARTFLOW_QUEUES"} {
		if _, ok := wenv[key]; !ok {
			errorf("worker: %s is not set (the manifests rely on it being explicit)", key)
		}
	}

	f.WorkerGrace = checkGrace(errorf, "worker", worker, wenv["PARTFLOW_SHUTDOWN_TIMEOUT"])
	f.MonitorGrace = checkGrace(errorf, "monitor", monitor, menv["PARTFLOW_SHUTDOWN_TIMEOUT"])
	checkWorkerHTTP(errorf, worker, wc, wenv)
	f.WorkerResources = checkWorkerMemory(errorf, worker, wc, wenv)
	checkWorkerVolume(errorf, docs, worker, wc, wenv)
	checkMonitor(errorf, docs, monitor, mc, menv)
	f.Min, f.Max, f.Triggers = checkScaledObject(errorf, docs, worker, wenv)
	checkPDBs(errorf, docs)
	return f
}

func checkGrace(errorf func(string, ...any), what string, dep doc, shutdown string) int {
	grace, ok := get(dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if !ok {
		errorf("%s: terminationGracePeriodSeconds must be set explicitly", what)
		return 0
	}
	if shutdown == "" {
		errorf("%s: PARTFLOW_SHUTDOWN_TIMEOUT must be set explicitly", what)
		return grace
	}
	d, err := time.ParseDuration(shutdown)
	if err != nil {
		errorf("%s: PARTFLOW_SHUTDOWN_TIMEOUT=%q: %v", what, shutdown, err)
		return grace
	}
	if time.Duration(grace)*time.Second < d+minShutdownMargin {
		errorf("%s: terminationGracePeriodSeconds %d must be at least PARTFLOW_SHUTDOWN_TIMEOUT %v + %v, "+
			"or the kubelet SIGKILLs the process before it has requeued its running tasks", what, grace, d, minShutdownMargin)
	}
	return grace
}

func checkWorkerHTTP(errorf func(string, ...any), dep, c doc, env map[string]string) {
	host, port, err := net.SplitHostPort(env["PARTFLOW_METRICS_ADDR"])
	if err != nil {
		errorf("worker: PARTFLOW_METRICS_ADDR=%q: %v", env["PARTFLOW_METRICS_ADDR"], err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		errorf("worker: PARTFLOW_METRICS_ADDR=%q must listen on all interfaces, or the probes cannot reach it", env["PARTFLOW_METRICS_ADDR"])
	}
	cp := containerPort(c, "metrics")
	if strconv.Itoa(cp) != port {
		errorf("worker: container port metrics is %d, PARTFLOW_METRICS_ADDR says %s", cp, port)
	}
	checkProbe(errorf, "worker", c, "readinessProbe", "/readyz", "metrics", cp)
	checkProbe(errorf, "worker", c, "livenessProbe", "/healthz", "metrics", cp)
	ann := asMap(get(dep, "spec", "template", "metadata", "annotations"))
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != port || ann["prometheus.io/path"] != "/metrics" {
		errorf("worker: want pod annotations prometheus.io/scrape \"true\", prometheus.io/port %q, prometheus.io/path /metrics; got %v", port, ann)
	}
}

func checkProbe(errorf func(string, ...any), what string, c doc, probe, path, portName string, portNum int) {
	p := asMap(get(c, probe, "httpGet"))
	if p == nil {
		errorf("%s: want an httpGet %s", what, probe)
		return
	}
	if p["path"] != path {
		errorf("%s: %s path is %v, want %s", what, probe, p["path"], path)
	}
	if p["port"] != portName && p["port"] != portNum {
		errorf("%s: %s port is %v, want %s (%d)", what, probe, p["port"], portName, portNum)
	}
}

// checkWorkerMemory checks requests.memory >= PARTFLOW_CONCURRENCY × part size + overhead and
// need <= GOMEMLIMIT < limits.memory.
func checkWorkerMemory(errorf func(string, ...any), dep, c doc, env map[string]string) any {
	res := get(c, "resources")
	ann := asMap(get(dep, "metadata", "annotations"))
	partSize, err1 := parseQuantity(str(ann["partflow.io/part-size"]))
	overhead, err2 := parseQuantity(str(ann["partflow.io/memory-overhead"]))
	concurrency, err3 := strconv.Atoi(env["PARTFLOW_CONCURRENCY"])
	if err := errors.Join(err1, err2, err3); err != nil {
		errorf("worker: memory sizing needs annotations partflow.io/part-size and partflow.io/memory-overhead and PARTFLOW_CONCURRENCY: %v", err)
		return res
	}
	if concurrency < 1 {
		errorf("worker: PARTFLOW_CONCURRENCY=%d", concurrency)
	}
	need := int64(concurrency)*partSize + overhead
	req, err1 := parseQuantity(str(get(c, "resources", "requests", "memory")))
	lim, err2 := parseQuantity(str(get(c, "resources", "limits", "memory")))
	if err := errors.Join(err1, err2); err != nil {
		errorf("worker: resources.requests.memory and resources.limits.memory: %v", err)
		return res
	}
	for _, k := range []string{"requests", "limits"} {
		if str(get(c, "resources", k, "cpu")) == "" {
			errorf("worker: resources.%s.cpu is not set", k)
		}
	}
	if req < need {
		errorf("worker: requests.memory %s is below PARTFLOW_CONCURRENCY × part size + overhead = %d × %s + %s = %s",
			mib(req), concurrency, mib(partSize), mib(overhead), mib(need))
	}
	if lim < req {
		errorf("worker: limits.memory %s is below requests.memory %s", mib(lim), mib(req))
	}
	var gml string
	for _, e := range asList(c["env"]) {
		if em := asMap(e); em["name"] == "GOMEMLIMIT" {
			gml = str(em["value"])
		}
	}
	g, err := parseGoMemLimit(gml)
	switch {
	case err != nil:
		errorf("worker: GOMEMLIMIT (a literal value in the container's env): %v", err)
	case g < need || g >= lim:
		errorf("worker: GOMEMLIMIT %s must be at least the need (%s) and below limits.memory (%s)", mib(g), mib(need), mib(lim))
	}
	return res
}

func checkWorkerVolume(errorf func(string, ...any), docs []doc, dep, c doc, env map[string]string) {
	root := env["PARTFLOW_VOLUME_ROOT"]
	var volName string
	for _, m := range asList(c["volumeMounts"]) {
		mm := asMap(m)
		if mm["mountPath"] == root {
			volName = str(mm["name"])
			if mm["readOnly"] != true {
				errorf("worker: the volume at %s must be mounted readOnly: true", root)
			}
		}
	}
	if volName == "" {
		errorf("worker: nothing is mounted at PARTFLOW_VOLUME_ROOT=%q", root)
		return
	}
	for _, v := range asList(get(dep, "spec", "template", "spec", "volumes")) {
		vm := asMap(v)
		if vm["name"] != volName {
			continue
		}
		pvc := asMap(vm["persistentVolumeClaim"])
		if pvc["claimName"] != volumeClaim || pvc["readOnly"] != true {
			errorf("worker: volume %s must be persistentVolumeClaim %s with readOnly: true, got %v", volName, volumeClaim, vm)
		}
	}
	if find(docs, "PersistentVolumeClaim", volumeClaim) == nil {
		errorf("no PersistentVolumeClaim %s", volumeClaim)
	}
}

func checkMonitor(errorf func(string, ...any), docs []doc, dep, c doc, env map[string]string) {
	listen := env["PARTFLOW_MONITOR_LISTEN"]
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		errorf("monitor: PARTFLOW_MONITOR_LISTEN=%q (its default is loopback, unreachable in a pod): %v", listen, err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		errorf("monitor: PARTFLOW_MONITOR_LISTEN=%q must listen on all interfaces", listen)
	}
	cp := containerPort(c, "http")
	if strconv.Itoa(cp) != port {
		errorf("monitor: container port http is %d, PARTFLOW_MONITOR_LISTEN says %s", cp, port)
	}
	checkProbe(errorf, "monitor", c, "livenessProbe", "/healthz", "http", cp)
	checkProbe(errorf, "monitor", c, "readinessProbe", "/readyz", "http", cp)
	for _, a := range asList(get(c, "args")) {
		if a == "--no-auth" {
			errorf("monitor: --no-auth is for a monitor on loopback on your own machine only")
		}
	}
	svc := find(docs, "Service", monitorName)
	if svc == nil {
		errorf("no Service %s", monitorName)
		return
	}
	if typ := str(get(svc, "spec", "type")); typ != "" && typ != "ClusterIP" {
		errorf("Service %s: type %s, want ClusterIP", monitorName, typ)
	}
	if !selects(asMap(get(svc, "spec", "selector")), podLabels(dep)) {
		errorf("Service %s: selector does not match the monitor's pod labels", monitorName)
	}
	for _, p := range asList(get(svc, "spec", "ports")) {
		if tp := asMap(p)["targetPort"]; tp != "http" && tp != cp {
			errorf("Service %s: targetPort %v, want http (%d)", monitorName, tp, cp)
		}
	}
}

// checkScaledObject checks the KEDA ScaledObject: it scales the worker, never below 1, with one
// redis trigger per queue the workers serve, each watching asynq:{Q}:pending on the Redis
// PARTFLOW_REDIS_URL names (same host:port, database and TLS).
func checkScaledObject(errorf func(string, ...any), docs []doc, worker doc, env map[string]string) (int, int, []any) {
	so := find(docs, "ScaledObject", workerName)
	if so == nil {
		errorf("no ScaledObject %s", workerName)
		return 0, 0, nil
	}
	if v := str(so["apiVersion"]); v != "keda.sh/v1alpha1" {
		errorf("ScaledObject: apiVersion %s, want keda.sh/v1alpha1", v)
	}
	spec := asMap(so["spec"])
	ref := asMap(spec["scaleTargetRef"])
	if ref["name"] != get(worker, "metadata", "name") || (ref["kind"] != nil && ref["kind"] != "Deployment") {
		errorf("ScaledObject: scaleTargetRef %v does not name the worker Deployment", ref)
	}
	if n := ref["envSourceContainerName"]; n != nil && n != "worker" {
		errorf("ScaledObject: envSourceContainerName %v, want worker", n)
	}
	if cs := podContainers(worker); ref["envSourceContainerName"] == nil && (len(cs) == 0 || cs[0]["name"] != "worker") {
		errorf("ScaledObject: KEDA reads the first container's environment, which is not the worker")
	}
	minR, ok := spec["minReplicaCount"].(int)
	if !ok {
		errorf("ScaledObject: minReplicaCount must be set (KEDA's default is 0)")
	} else if minR < 1 {
		errorf("ScaledObject: minReplicaCount %d: keep at least 1 worker, only a running worker moves retry and scheduled tasks back to pending", minR)
	}
	maxR, ok := spec["maxReplicaCount"].(int)
	if !ok || maxR < minR {
		errorf("ScaledObject: maxReplicaCount %v must be set and >= minReplicaCount %d", spec["maxReplicaCount"], minR)
	}
	if _, ok := spec["idleReplicaCount"]; ok {
		errorf("ScaledObject: idleReplicaCount would scale the workers to 0")
	}

	// The queues: every queue partflow enqueues to must be served and watched.
	served := map[string]bool{}
	for _, item := range strings.Split(env["PARTFLOW_QUEUES"], ",") {
		q, _, _ := strings.Cut(strings.TrimSpace(item), "=")
		served[q] = true
	}
	for q := range tasks.Queues() {
		if !served[q] {
			errorf("worker: PARTFLOW_QUEUES=%q does not serve queue %q, which partflow enqueues to", env["PARTFLOW_QUEUES"], q)
		}
	}

	u, err := url.Parse(env["PARTFLOW_REDIS_URL"])
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		errorf("PARTFLOW_REDIS_URL=%q: the ScaledObject's redis triggers need a redis:// or rediss:// URL (%v)", env["PARTFLOW_REDIS_URL"], err)
		return minR, maxR, nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "0"
	}
	wantTLS := strconv.FormatBool(u.Scheme == "rediss")
	if !strings.Contains(u.Hostname(), ".") && net.ParseIP(u.Hostname()) == nil {
		errorf("PARTFLOW_REDIS_URL host %q: use a fully qualified name (svc.namespace.svc.cluster.local): KEDA connects from its own namespace", u.Hostname())
	}

	watched := map[string]int{}
	triggers := asList(spec["triggers"])
	for i, tr := range triggers {
		tm := asMap(tr)
		if tm["type"] != "redis" {
			errorf("ScaledObject: trigger %d has type %v, want redis", i, tm["type"])
			continue
		}
		md := asMap(tm["metadata"])
		for k, v := range md {
			if _, ok := v.(string); !ok {
				errorf("ScaledObject: trigger %d: metadata %s must be a string (quote it), got %T", i, k, v)
			}
		}
		m := regexp.MustCompile(`^asynq:\{([^}]+)\}:pending$`).FindStringSubmatch(str(md["listName"]))
		if m == nil {
			errorf("ScaledObject: trigger %d: listName %v is not an asynq pending list asynq:{QUEUE}:pending", i, md["listName"])
			continue
		}
		watched[m[1]]++
		if n, err := strconv.Atoi(str(md["listLength"])); err != nil || n < 1 {
			errorf("ScaledObject: trigger %s: listLength %v must be a positive integer", m[1], md["listLength"])
		}
		got := str(md["address"])
		if name := str(md["addressFromEnv"]); name != "" {
			v, ok := env[name]
			if !ok {
				errorf("ScaledObject: trigger %s: addressFromEnv %s is not in the worker's environment", m[1], name)
			}
			got = v
		}
		if got != addr {
			errorf("ScaledObject: trigger %s: address %q, but PARTFLOW_REDIS_URL points at %q", m[1], got, addr)
		}
		if d := orDefault(str(md["databaseIndex"]), "0"); d != db {
			errorf("ScaledObject: trigger %s: databaseIndex %s, but PARTFLOW_REDIS_URL uses database %s", m[1], d, db)
		}
		if tls := orDefault(str(md["enableTLS"]), "false"); tls != wantTLS {
			errorf("ScaledObject: trigger %s: enableTLS %s, but PARTFLOW_REDIS_URL is %s://", m[1], tls, u.Scheme)
		}
	}
	for q := range served {
		if watched[q] != 1 {
			errorf("ScaledObject: want exactly one trigger on asynq:{%s}:pending, have %d", q, watched[q])
		}
	}
	for q := range watched {
		if !served[q] {
			errorf("ScaledObject: trigger on queue %q, which the workers do not serve (PARTFLOW_QUEUES)", q)
		}
	}
	return minR, maxR, triggers
}

func checkPodSecurity(errorf func(string, ...any), dep doc) {
	name := get(dep, "metadata", "name")
	pod := asMap(get(dep, "spec", "template", "spec"))
	if pod["automountServiceAccountToken"] != false {
		errorf("%s: automountServiceAccountToken must be false (partflow never talks to the API server)", name)
	}
	podNonRoot := get(pod, "securityContext", "runAsNonRoot") == true
	for _, c := range asList(pod["containers"]) {
		cm := asMap(c)
		sc := asMap(cm["securityContext"])
		if !podNonRoot && sc["runAsNonRoot"] != true {
			errorf("%s/%v: runAsNonRoot must be true", name, cm["name"])
		}
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
			errorf("%s/%v: want readOnlyRootFilesystem: true and allowPrivilegeEscalation: false", name, cm["name"])
		}
		if !slices.Contains(asList(get(sc, "capabilities", "drop")), any("ALL")) {
			errorf("%s/%v: capabilities.drop must contain ALL", name, cm["name"])
		}
	}
}

func checkSelectors(errorf func(string, ...any), dep doc) {
	name := get(dep, "metadata", "name")
	labels := podLabels(dep)
	if !selects(asMap(get(dep, "spec", "selector", "matchLabels")), labels) {
		errorf("%s: spec.selector.matchLabels does not match the pod labels", name)
	}
	for _, c := range asList(get(dep, "spec", "template", "spec", "topologySpreadConstraints")) {
		if !selects(asMap(get(c, "labelSelector", "matchLabels")), labels) {
			errorf("%s: topologySpreadConstraint %v does not select its own pods", name, get(c, "topologyKey"))
		}
	}
}

func checkPDBs(errorf func(string, ...any), docs []doc) {
	for _, pdb := range docs {
		if pdb["kind"] != "PodDisruptionBudget" {
			continue
		}
		sel := asMap(get(pdb, "spec", "selector", "matchLabels"))
		matched := false
		for _, d := range docs {
			if d["kind"] == "Deployment" && selects(sel, podLabels(d)) {
				matched = true
			}
		}
		if !matched {
			errorf("PodDisruptionBudget %v selects no Deployment's pods", get(pdb, "metadata", "name"))
		}
	}
}

// ---------------------------------------------------------------------------------------------
// Environment variable names

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// acceptedEnv returns the environment variable names the binary reads: the string literals
// shaped like one in the non-test Go files of its source directories.
func acceptedEnv(t *testing.T, binary string) map[string]bool {
	t.Helper()
	dirs, ok := binaries[binary]
	if !ok {
		t.Fatalf("no binary for container %q", binary)
	}
	out := map[string]bool{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(repoRoot(t), dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(s) {
						out[s] = true
					}
				}
				return true
			})
		}
	}
	return out
}

func checkEnvNames(t *testing.T, errorf func(string, ...any), binary string, env map[string]string) {
	accepted := acceptedEnv(t, binary)
	for name := range env {
		if _, ok := extraEnv[name]; ok && !strings.HasPrefix(name, "PARTFLOW_") {
			continue
		}
		if !accepted[name] {
			errorf("%s: environment variable %s is read by neither cmd/%s nor internal/cli", binary, name, binary)
		}
	}
}

func TestBinariesReadTheEnvironmentTheManifestsExpect(t *testing.T) {
	// The checks above need these to be real; if one is renamed, the manifests must follow.
	for bin, names := range map[string][]string{
		"worker": {"PARTFLOW_REDIS_URL", "PARTFLOW_S3_ENDPOINT", "PARTFLOW_VOLUME_ROOT", "PARTFLOW_CONCURRENCY",
			"PARTFLOW_SHUTDOWN_TIMEOUT", "PARTFLOW_METRICS_ADDR", "PARTFLOW_QUEUES", "AWS_ACCESS_KEY_ID",
			"AWS_SECRET_ACCESS_KEY", "AWS_REGION"},
		"monitor": {"PARTFLOW_REDIS_URL", "PARTFLOW_MONITOR_LISTEN", "PARTFLOW_MONITOR_TOKEN", "PARTFLOW_SHUTDOWN_TIMEOUT"},
	} {
		accepted := acceptedEnv(t, bin)
		for _, n := range names {
			if !accepted[n] {
				t.Errorf("%s no longer reads %s", bin, n)
			}
		}
	}
}

// TestEveryPARTFLOWNameExists scans the text of every file here (comments and the README too)
// for PARTFLOW_* names: each must be read by the worker or the monitor.
func TestEveryPARTFLOWNameExists(t *testing.T) {
	accepted := acceptedEnv(t, "worker")
	for n := range acceptedEnv(t, "monitor") {
		accepted[n] = true
	}
	files := append(yamlFiles(t), "README.md")
	re := regexp.MustCompile(`PARTFLOW_[A-Z0-9_]*[A-Z0-9]`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, n := range re.FindAllString(string(b), -1) {
			if !accepted[n] {
				t.Errorf("%s: %s is read by neither cmd/worker, cmd/monitor nor internal/cli", f, n)
			}
		}
	}
}

// ---------------------------------------------------------------------------------------------
// The trees

// trees are the deployable kustomizations: the base and every overlay.
func trees(t *testing.T) []string {
	t.Helper()
	out := []string{"base"}
	overlays, err := filepath.Glob("overlays/*/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overlays {
		out = append(out, filepath.ToSlash(filepath.Dir(o)))
	}
	for _, want := range []string{"overlays/dev", "overlays/prod"} {
		if !slices.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	return out
}

func TestRenderedTrees(t *testing.T) {
	for _, dir := range trees(t) {
		t.Run(dir, func(t *testing.T) {
			docs, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			f := checkRendered(t, dir, docs)
			switch dir {
			case "base":
				pvc := find(docs, "PersistentVolumeClaim", volumeClaim)
				if pvc == nil || !slices.Contains(asList(get(pvc, "spec", "accessModes")), any("ReadOnlyMany")) {
					t.Errorf("base: PersistentVolumeClaim %s must be ReadOnlyMany", volumeClaim)
				}
			case "overlays/dev":
				if f.Min < 1 || f.Max > 3 {
					t.Errorf("dev: want 1-3 workers, have %d-%d", f.Min, f.Max)
				}
			case "overlays/prod":
				if f.Min < 2 {
					t.Errorf("prod: want at least 2 workers, have %d", f.Min)
				}
				if !slices.ContainsFunc(docs, func(d doc) bool { return d["kind"] == "PodDisruptionBudget" }) {
					t.Error("prod: want a PodDisruptionBudget for the workers")
				}
				if asList(get(find(docs, "Deployment", workerName), "spec", "template", "spec", "topologySpreadConstraints")) == nil {
					t.Error("prod: want topologySpreadConstraints on the workers")
				}
			}
			if dir != "base" {
				ns := ""
				for _, d := range docs {
					if d["kind"] == "Namespace" {
						ns = str(get(d, "metadata", "name"))
					}
				}
				for _, d := range docs {
					if d["kind"] != "Namespace" && str(get(d, "metadata", "namespace")) != ns {
						t.Errorf("%s: %v/%v is not in the overlay's Namespace %q", dir, d["kind"], get(d, "metadata", "name"), ns)
					}
				}
			}
		})
	}
}

// TestKustomizeBuild renders every tree with a real kustomize, when one is at hand, and runs
// the same checks on its output; both renderings must agree on the facts checked.
func TestKustomizeBuild(t *testing.T) {
	var cmd []string
	if p := filepath.Join(repoRoot(t), ".tools", "bin", "kustomize"); isExecutable(p) {
		cmd = []string{p, "build"}
	} else if p, err := exec.LookPath("kubectl"); err == nil {
		cmd = []string{p, "kustomize"}
	} else {
		t.Skip("no kustomize: neither .tools/bin/kustomize nor kubectl on PATH; the pure-Go checks ran")
	}
	for _, dir := range trees(t) {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			c := exec.CommandContext(ctx, cmd[0], append(cmd[1:], dir)...)
			c.Stdout, c.Stderr = &stdout, &stderr
			if err := c.Run(); err != nil {
				t.Fatalf("%s %s: %v\n%s", strings.Join(cmd, " "), dir, err, stderr.String())
			}
			built, err := parseYAML(stdout.Bytes())
			if err != nil {
				t.Fatalf("kustomize output: %v", err)
			}
			got := checkRendered(t, dir+" (kustomize)", built)
			mini, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := checkRendered(t, dir, mini)
			// Generated ConfigMaps carry a content hash in kustomize's output.
			for i, k := range got.Kinds {
				if m := regexp.MustCompile(`^(ConfigMap/.+)-[a-z0-9]{10}$`).FindStringSubmatch(k); m != nil {
					got.Kinds[i] = m[1]
				}
			}
			slices.Sort(got.Kinds)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("kustomize and manifests_test.go render %s differently:\nkustomize: %+v\nhere:      %+v", dir, got, want)
			}
		})
	}
}

func TestSecretExampleIsAPlaceholder(t *testing.T) {
	docs, err := parseFile(exampleSecret)
	if err != nil {
		t.Fatal(err)
	}
	consumer := map[string]string{workerSecret: "worker", monitorSecret: "monitor"}
	seen := map[string]bool{}
	for _, d := range docs {
		name := str(get(d, "metadata", "name"))
		bin, ok := consumer[name]
		if d["kind"] != "Secret" || !ok {
			t.Errorf("%s: %v/%s is not one of the Secrets the Deployments use", exampleSecret, d["kind"], name)
			continue
		}
		seen[name] = true
		if d["data"] != nil || get(d, "metadata", "namespace") != nil {
			t.Errorf("%s: %s: use stringData and no namespace (kubectl -n NAMESPACE apply)", exampleSecret, name)
		}
		accepted := acceptedEnv(t, bin)
		for k, v := range asMap(d["stringData"]) {
			if !accepted[k] {
				t.Errorf("%s: %s: %s is not read by the %s", exampleSecret, name, k, bin)
			}
			if s := str(v); !strings.Contains(s, "REPLACE_ME") {
				t.Errorf("%s: %s: %s=%q is not a REPLACE_ME placeholder", exampleSecret, name, k, s)
			}
		}
		// The monitor refuses tokens under 16 characters: the placeholder must never work.
		if tok := str(get(d, "stringData", "PARTFLOW_MONITOR_TOKEN")); len(tok) >= 16 {
			t.Errorf("%s: the placeholder token %q is long enough to be accepted", exampleSecret, tok)
		}
	}
	for name := range consumer {
		if !seen[name] {
			t.Errorf("%s: no example for Secret %s", exampleSecret, name)
		}
	}
	gi, err := os.ReadFile(".gitignore")
	if err != nil || !strings.Contains(string(gi), "*.local.yaml") {
		t.Errorf(".gitignore must ignore *.local.yaml, where filled-in secrets go (%v)", err)
	}
}

// ---------------------------------------------------------------------------------------------
// Helpers

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func find(docs []doc, kind, name string) doc {
	for _, d := range docs {
		if d["kind"] == kind && get(d, "metadata", "name") == name {
			return d
		}
	}
	return nil
}

func podContainers(d doc) []map[string]any {
	var out []map[string]any
	for _, c := range asList(get(d, "spec", "template", "spec", "containers")) {
		if m := asMap(c); m != nil {
			out = append(out, m)
		}
	}
	return out
}

func container(d doc, name string) doc {
	for _, c := range podContainers(d) {
		if c["name"] == name {
			return c
		}
	}
	return nil
}

func containerPort(c doc, name string) int {
	for _, p := range asList(c["ports"]) {
		if pm := asMap(p); pm["name"] == name {
			n, _ := pm["containerPort"].(int)
			return n
		}
	}
	return 0
}

func podLabels(d doc) map[string]any { return asMap(get(d, "spec", "template", "metadata", "labels")) }

func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// containerEnv resolves a container's environment from its envFrom ConfigMaps and literal env
// values (later entries win, as in Kubernetes); it returns the names of its envFrom Secrets.
// Variables from a valueFrom are listed with an empty value.
func containerEnv(errorf func(string, ...any), c doc, configMaps map[string]map[string]string) (map[string]string, []string) {
	env := map[string]string{}
	var secrets []string
	for _, ef := range asList(c["envFrom"]) {
		efm := asMap(ef)
		if efm["prefix"] != nil {
			errorf("%v: envFrom prefix is not supported by manifests_test.go", c["name"])
		}
		if name := str(get(efm, "configMapRef", "name")); name != "" {
			data, ok := configMaps[name]
			if !ok {
				errorf("%v: envFrom ConfigMap %s does not exist", c["name"], name)
			}
			for k, v := range data {
				env[k] = v
			}
		}
		if name := str(get(efm, "secretRef", "name")); name != "" {
			secrets = append(secrets, name)
		}
	}
	for _, e := range asList(c["env"]) {
		em := asMap(e)
		if em["valueFrom"] != nil {
			if get(em, "valueFrom", "secretKeyRef") != nil {
				continue // from a Secret: not visible here, and allowed
			}
			env[str(em["name"])] = ""
			continue
		}
		env[str(em["name"])] = str(em["value"])
	}
	return env, secrets
}

// parseQuantity parses a Kubernetes memory quantity (plain bytes, k/M/G/T or Ki/Mi/Gi/Ti).
func parseQuantity(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok && num != "" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("bad quantity %q", s)
			}
			return int64(math.Round(f * u.mult)), nil
		}
	}
	return 0, fmt.Errorf("bad quantity %q", s)
}

// parseGoMemLimit parses GOMEMLIMIT as the Go runtime does: bytes with an optional B, KiB,
// MiB, GiB or TiB suffix.
func parseGoMemLimit(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}, {"", 1}} {
		if num, ok := strings.CutSuffix(s, u.suffix); ok && num != "" {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, fmt.Errorf("bad GOMEMLIMIT %q", s)
			}
			return n * u.mult, nil
		}
	}
	return 0, fmt.Errorf("bad GOMEMLIMIT %q", s)
}

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + "Mi" }
