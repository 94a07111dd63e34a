package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
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

// PARTFLOW_MONITOR_READ_ONLY=true gives a read-only monitor, --metrics-addr serves the fleet's
// queue depths (partflow's and the asynq series asynqmon's metrics tab reads) and
// partflow_build_info, and --prometheus-url reaches asynqmon.
func TestReadOnlyFromEnvironmentAndMetrics(t *testing.T) {
	r := testenv.Redis(t)
	t.Setenv(tokenEnv, token)
	t.Setenv("PARTFLOW_MONITOR_READ_ONLY", "true")
	port, err := localstack.FreePort()
	require.NoError(t, err)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	t.Setenv("PARTFLOW_METRICS_ADDR", fmt.Sprintf("127.0.0.1:%d", port))
	// One pending task, so that the queue series have a queue to show.
	enq := asynq.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	_, err = enq.Enqueue(asynq.NewTask("test:noop", nil), asynq.Queue("default"))
	require.NoError(t, err)
	require.NoError(t, enq.Close())
	run := start(t, "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--log-format", "json",
		"--prometheus-url", "http://prometheus.example:9090")
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
	require.Contains(t, string(body), `partflow_queue_tasks{queue="default",state="pending"} 1`)
	// The series asynqmon's metrics tab asks Prometheus for.
	require.Contains(t, string(body), `asynq_queue_size{queue="default"} 1`)
	require.Contains(t, string(body), `asynq_tasks_enqueued_total{queue="default",state="pending"} 1`)

	// asynqmon's page knows where Prometheus is (its metrics tab).
	req, err = http.NewRequest(http.MethodGet, base+"/monitoring/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(page), "prometheus.example:9090", "asynqmon is given the Prometheus address")
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
