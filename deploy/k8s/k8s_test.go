// Package k8s_test keeps the Kubernetes manifests in deploy/k8s honest. Each deployable tree
// (the base and every overlay) is rendered with the real kustomize that `make tools` installs,
// and the rendered objects must keep the rules the manifests explain in their comments.
// The checks are split by concern:
//
//   - files_test.go: every YAML file parses and is used by a kustomization; the secrets example
//     stays a placeholder.
//   - env_test.go: every environment variable the manifests set is one the binaries read.
//   - policy_test.go: grace periods, memory, probes, the volume, the monitor, KEDA's scaling
//     rule, pod security and disruption budgets.
//   - extras_test.go: Prometheus scraping and alerts, NetworkPolicies, KEDA's Redis password,
//     Pod Security Admission labels and image tags.
package k8s_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Names of the objects the checks look for.
const (
	workerName      = "partflow-worker"
	monitorName     = "partflow-monitor"
	workerSecret    = "partflow-worker-secrets"
	monitorSecret   = "partflow-monitor-secrets"
	volumeClaim     = "partflow-volume"
	exampleSecret   = "secrets.example.yaml"
	redisAuthSecret = "partflow-redis-auth"
)

// minShutdownMargin is how much longer than the process's shutdown timeout a pod's
// terminationGracePeriodSeconds must be: room for asynq to requeue what still runs, the
// metrics server to close (up to 5s) and the process to exit before the kubelet's SIGKILL.
const minShutdownMargin = 10 * time.Second

// extraEnv are variables in the manifests that partflow's binaries do not read, with who does.
var extraEnv = map[string]string{
	"GOMAXPROCS":         "the Go runtime",
	"GOGC":               "the Go runtime",
	"KEDA_REDIS_ADDRESS": "KEDA's redis scaler (addressFromEnv), read from the worker's environment",
}

// binaries maps a container name to the Go source directories (relative to the repository
// root) whose string literals are the environment variables that binary reads.
var binaries = map[string][]string{
	"worker":  {"cmd/worker", "internal/cli", "internal/s3source"}, // s3source names the source store's credential variables
	"monitor": {"cmd/monitor", "internal/cli"},
}

type doc = map[string]any

// rendered caches render's output by directory: the trees do not change during a test run.
var rendered sync.Map

// render builds the kustomization in dir with kustomize from .tools/bin (or PATH); without
// one the test fails, naming `make tools`. Callers must not change the documents.
func render(t *testing.T, dir string) []doc {
	t.Helper()
	if docs, ok := rendered.Load(dir); ok {
		return docs.([]doc)
	}
	bin := filepath.Join(repoRoot(t), ".tools", "bin", "kustomize")
	if !isExecutable(bin) {
		p, err := exec.LookPath("kustomize")
		if err != nil {
			t.Fatalf("kustomize is missing: run `make tools` (installs it into .tools/bin)")
		}
		bin = p
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	c := exec.CommandContext(ctx, bin, "build", dir)
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	docs, err := parseYAML(stdout.Bytes())
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	rendered.Store(dir, docs)
	return docs
}

// kinds returns the documents of kind.
func kinds(docs []doc, kind string) []doc {
	var out []doc
	for _, d := range docs {
		if d["kind"] == kind {
			out = append(out, d)
		}
	}
	return out
}

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

func asList(v any) []any { l, _ := v.([]any); return l }

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
			errorf("%v: envFrom prefix is not supported by these tests", c["name"])
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

func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', -1, 64) + "Mi" }
