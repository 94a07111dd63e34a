package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A bad PARTFLOW_REDIS_CLUSTER used to mean "not a cluster"; now it stops every command
// with exit 2, naming the variable.
func TestEnqueuerRejectsBadVariable(t *testing.T) {
	t.Setenv("PARTFLOW_REDIS_CLUSTER", "yes")
	var stdout, stderr bytes.Buffer
	code := run([]string{"list"}, &stdout, &stderr)
	require.Equal(t, exitUsage, code, stderr.String())
	require.Contains(t, stderr.String(), "PARTFLOW_REDIS_CLUSTER")
}

// A malformed --redis-url is bad configuration (exit 2, naming the flag), not an unreachable
// Redis (exit 3), in every command that connects.
func TestEnqueuerRejectsBadRedisURL(t *testing.T) {
	for _, args := range [][]string{{"list"}, {"status", "x"}, {"report", "x"}, {"cancel", "x"}} {
		var stdout, stderr bytes.Buffer
		code := run(append(args, "--redis-url", "bogus://host"), &stdout, &stderr)
		require.Equal(t, exitUsage, code, "%v: %s", args, stderr.String())
		require.Contains(t, stderr.String(), "--redis-url (PARTFLOW_REDIS_URL)", args)
	}
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitRuntime, run([]string{"list", "--redis-url", "redis://127.0.0.1:1"}, &stdout, &stderr),
		"a Redis that does not answer: %s", stderr.String())
}

func TestEnqueuerVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"list", "--version"}} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, exitOK, run(args, &stdout, &stderr), stderr.String())
		require.True(t, strings.HasPrefix(stdout.String(), "partflow-enqueuer "), stdout.String())
	}
}

// The enqueuer flags the README gives an environment fallback read it: migrate's
// --volume-root and --allow-url-host (a dry run needs no Redis).
func TestEnqueuerEnvironmentFallbacks(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "set"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "set", "a.txt"), []byte("a"), 0o644))
	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(manifest, []byte(`{"source":"https://files.example.com/a","key":"a"}`+"\n"), 0o644))

	migrate := func(args ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"migrate", "--bucket", "archive", "--dry-run", "--json"}, args...), &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	code, out := migrate("--source", "set")
	require.Equal(t, exitUsage, code, "without a volume root: %s", out)
	code, out = migrate("--manifest", manifest)
	require.Equal(t, exitUsage, code, "a URL source without allowed hosts is invalid: %s", out)

	t.Setenv("PARTFLOW_VOLUME_ROOT", root)
	t.Setenv("PARTFLOW_ALLOW_URL_HOSTS", "files.example.com")
	code, out = migrate("--source", "set")
	require.Equal(t, exitOK, code, "PARTFLOW_VOLUME_ROOT: %s", out)
	code, out = migrate("--manifest", manifest)
	require.Equal(t, exitOK, code, "PARTFLOW_ALLOW_URL_HOSTS: %s", out)
}
