package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runWorker runs the command with args and the environment env (on top of a volume root, so
// that only the variable under test can be wrong); the test's context stops it should it
// get as far as serving.
func runWorker(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("PARTFLOW_VOLUME_ROOT", t.TempDir())
	t.Setenv("PARTFLOW_REDIS_URL", "redis://127.0.0.1:1/0") // never reached: config fails first
	t.Setenv("PARTFLOW_S3_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("PARTFLOW_METRICS_ADDR", "127.0.0.1:0")
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Each variable type rejects a bad value with exit 2 and a message naming the variable,
// instead of falling back to the default as it used to.
func TestWorkerRejectsBadVariables(t *testing.T) {
	for _, tc := range []struct{ kind, name, value string }{
		{"bool", "PARTFLOW_REDIS_CLUSTER", "yes"},
		{"int", "PARTFLOW_CONCURRENCY", "eight"},
		{"duration", "PARTFLOW_SHUTDOWN_TIMEOUT", "60"},
		{"size", "PARTFLOW_BWLIMIT", "ten megs"},
		{"list", "PARTFLOW_URL_ALLOW_ADDRS", "10.0.0.0/8,not-an-address"},
		{"choice", "PARTFLOW_LOG_LEVEL", "verbose"},
		{"string", "PARTFLOW_S3_ENDPOINT", "ftp://s3.example.com"},
		{"address", "PARTFLOW_METRICS_ADDR", "no-port"},
		{"path", "PARTFLOW_VOLUME_ROOT", "/nonexistent/partflow"},
		{"share or size", "PARTFLOW_FEED_MAX_REDIS_MEMORY", "120%"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			env := map[string]string{tc.name: tc.value}
			if tc.kind == "list" {
				env["PARTFLOW_ALLOW_URL_HOSTS"] = "files.example.com"
			}
			code, _, stderr := runWorker(t, env)
			require.Equal(t, 2, code, "a bad %s must stop the worker: %s", tc.name, stderr)
			require.Contains(t, stderr, tc.name, "the message names the variable")
		})
	}
}

// A bad flag value is refused too, naming the flag.
func TestWorkerRejectsBadFlags(t *testing.T) {
	code, _, stderr := runWorker(t, nil, "--shutdown-timeout", "60")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "-shutdown-timeout")
	code, _, stderr = runWorker(t, nil, "--concurrency", "0")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--concurrency")
}

// Good values reach the configuration; a flag beats its variable, and a repeated list flag
// replaces the variable's list.
func TestWorkerConfigFromEnvironmentAndFlags(t *testing.T) {
	t.Setenv("PARTFLOW_VOLUME_ROOT", t.TempDir())
	t.Setenv("PARTFLOW_REDIS_CLUSTER", "true")
	t.Setenv("PARTFLOW_CONCURRENCY", "3")
	t.Setenv("PARTFLOW_SHUTDOWN_TIMEOUT", "45s")
	t.Setenv("PARTFLOW_BWLIMIT", "10MiB")
	t.Setenv("PARTFLOW_ALLOW_URL_HOSTS", "a.example.com, b.example.com")
	t.Setenv("PARTFLOW_JANITOR_MANAGED", "archive/in,scratch")
	var out, errOut bytes.Buffer
	cfg, code, ok := parseConfig([]string{"--concurrency", "5", "--allow-url-host", "c.example.com"}, &out, &errOut)
	require.True(t, ok, "code %d: %s", code, errOut.String())
	require.True(t, cfg.redis.Cluster)
	require.Equal(t, 5, cfg.run.concurrency, "the flag beats PARTFLOW_CONCURRENCY")
	require.Equal(t, 45*time.Second, cfg.run.shutdownTimeout)
	require.EqualValues(t, 10<<20, cfg.run.bwlimit)
	require.Equal(t, []string{"c.example.com"}, cfg.url.AllowHosts, "the flag replaces the variable's list")
	require.Len(t, cfg.janitor.Managed, 2)
	require.Equal(t, "archive", cfg.janitor.Managed[0].Bucket)
	require.Equal(t, "in", cfg.janitor.Managed[0].Prefix)
	require.InDelta(t, 0.8, cfg.feed.MaxMemoryFraction, 1e-9, "--feed-max-redis-memory's default")

	t.Setenv("PARTFLOW_FEED_MAX_REDIS_MEMORY", "4GiB")
	cfg, code, ok = parseConfig(nil, &out, &errOut)
	require.True(t, ok, "code %d: %s", code, errOut.String())
	require.EqualValues(t, 4<<30, cfg.feed.MaxMemoryBytes)
}

func TestWorkerVersion(t *testing.T) {
	code, stdout, stderr := runWorker(t, nil, "--version")
	require.Equal(t, 0, code, stderr)
	require.True(t, strings.HasPrefix(stdout, "partflow-worker "), stdout)
	require.Contains(t, stdout, "revision")
	require.Contains(t, stdout, "go1.")
}
