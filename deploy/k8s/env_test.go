package k8s_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

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
