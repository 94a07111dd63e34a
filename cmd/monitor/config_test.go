package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/testenv"
)

// A bad value in a variable stops the monitor with exit 2 and a message naming it. It used
// to fall back to the default: PARTFLOW_MONITOR_READ_ONLY=yes gave a writable monitor and
// PARTFLOW_SHUTDOWN_TIMEOUT=60 a 10 s timeout.
func TestRefusesBadVariables(t *testing.T) {
	for _, tc := range []struct{ kind, name, value string }{
		{"bool", "PARTFLOW_MONITOR_READ_ONLY", "yes"},
		{"duration", "PARTFLOW_SHUTDOWN_TIMEOUT", "60"},
		{"choice", "PARTFLOW_LOG_FORMAT", "yaml"},
		{"url", "PARTFLOW_PROMETHEUS_URL", "prometheus:9090"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			t.Setenv(tokenEnv, token)
			t.Setenv(tc.name, tc.value)
			code, out := start(t, "--redis-url", "redis://127.0.0.1:1/0", "--listen", "127.0.0.1:0").exit(t)
			require.Equal(t, 2, code, out)
			require.Contains(t, out, tc.name)
		})
	}
}

// PARTFLOW_MONITOR_READ_ONLY=true gives a read-only monitor, and --metrics-addr serves the
// fleet's queue depths and partflow_build_info.
func TestReadOnlyFromEnvironmentAndMetrics(t *testing.T) {
	r := testenv.Redis(t)
	t.Setenv(tokenEnv, token)
	t.Setenv("PARTFLOW_MONITOR_READ_ONLY", "true")
	port, err := localstack.FreePort()
	require.NoError(t, err)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	t.Setenv("PARTFLOW_METRICS_ADDR", fmt.Sprintf("127.0.0.1:%d", port))
	run := start(t, "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--log-format", "json")
	base := run.listening(t)
	req, err := http.NewRequest(http.MethodPost, base+"/actions/resume", strings.NewReader("id=m1"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, "read-only refuses actions")

	res, err = http.Get(metricsURL)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), `partflow_build_info{build_date=`)
	require.Contains(t, string(body), `program="monitor"`)
	require.Contains(t, string(body), "partflow_queue_inspector_up 1", "the monitor reads the queue depths")
	run.cancel()
	code, out := run.exit(t)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"read_only":true`)
}

func TestVersion(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, 0, run(t.Context(), []string{"--version"}, f, io.Discard, nil))
	out, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), "partflow-monitor "), string(out))
}
