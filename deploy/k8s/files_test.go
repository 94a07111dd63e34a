package k8s_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

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
			if name := str(get(d, "metadata", "name")); name == "" && d["kind"] != "Kustomization" && d["kind"] != "Component" {
				t.Errorf("%s: document %d (%v) has no metadata.name", f, i+1, d["kind"])
			}
		}
	}
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

// TestKustomizationReferencesExist checks that every YAML file here is used by some
// kustomization (a file none uses is silently left out of `kubectl apply -k`); kustomize
// itself fails the render on a reference that does not exist.
func TestKustomizationReferencesExist(t *testing.T) {
	referenced := map[string]bool{}
	for _, dir := range kustomizationDirs(t) {
		docs, err := parseFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil || len(docs) != 1 {
			t.Errorf("%s/kustomization.yaml: %v", dir, err)
			continue
		}
		k := docs[0]
		referenced[filepath.ToSlash(filepath.Join(dir, "kustomization.yaml"))] = true
		var paths []string
		for _, r := range append(asList(k["resources"]), asList(k["components"])...) {
			paths = append(paths, str(r))
		}
		for _, p := range asList(k["patches"]) {
			if path := str(asMap(p)["path"]); path != "" {
				paths = append(paths, path)
			}
		}
		for _, r := range paths {
			p := filepath.Join(dir, r)
			st, err := os.Stat(p)
			switch {
			case err != nil:
				t.Errorf("%s: %s: %v", dir, r, err)
			case !st.IsDir():
				referenced[filepath.ToSlash(filepath.Clean(p))] = true
			}
		}
	}
	for _, f := range yamlFiles(t) {
		if !referenced[f] && f != exampleSecret {
			t.Errorf("%s is referenced by no kustomization (nor is it %s)", f, exampleSecret)
		}
	}
}

func TestSecretExampleIsAPlaceholder(t *testing.T) {
	docs, err := parseFile(exampleSecret)
	if err != nil {
		t.Fatal(err)
	}
	consumer := map[string]string{workerSecret: "worker", monitorSecret: "monitor", redisAuthSecret: "keda"}
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
		accepted := map[string]bool{"password": true} // KEDA's TriggerAuthentication reads the key "password"
		if bin != "keda" {
			accepted = acceptedEnv(t, bin)
		}
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
