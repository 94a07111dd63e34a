package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/client"
	"github.com/partflow/partflow/internal/testenv"
)

// migrate --wait --timeout exits 4 when the deadline passes (no worker runs here), leaving the
// migration enqueued; pause makes status --watch exit 5 with the reason; resume un-pauses it.
func TestWaitTimeoutAndPauseExitCodes(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	rdb := testenv.RedisClient(t, r)
	path := filepath.Join(t.TempDir(), "m.jsonl")
	require.NoError(t, os.WriteFile(path, []byte("{\"source\":\"a\",\"key\":\"k1\"}\n{\"source\":\"b\",\"key\":\"k2\"}\n"), 0o644))

	var stdout, stderr strings.Builder
	start := time.Now()
	code := run([]string{"migrate", "--redis-url", r.URL(), "--bucket", "bkt", "--manifest", path, "--id", "m-timeout",
		"--wait", "--timeout", "1s", "--max-failures", "5%", "--report-to", "s3://reports/m.csv"}, &stdout, &stderr)
	require.Equal(t, exitTimeout, code, "stderr %s", stderr.String())
	require.GreaterOrEqual(t, time.Since(start), time.Second)
	require.Contains(t, stderr.String(), "--timeout passed")

	c, err := client.New(rdb, client.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	m, err := c.Migration(t.Context(), "m-timeout")
	require.NoError(t, err, "the migration stays")
	require.EqualValues(t, 2, m.Total)
	require.InDelta(t, 5.0, m.Controls.MaxFailuresPercent, 1e-9)
	require.Equal(t, "s3://reports/m.csv", m.Controls.ReportTo)

	stdout.Reset()
	stderr.Reset()
	require.Equal(t, exitOK, run([]string{"pause", "m-timeout", "--redis-url", r.URL(), "--reason", "maintenance window"}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "paused migration m-timeout")
	require.Equal(t, exitPaused, run([]string{"status", "--redis-url", r.URL(), "--watch", "m-timeout"}, &stdout, &stderr))
	require.Contains(t, stderr.String(), "paused: maintenance window")
	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"status", "--redis-url", r.URL(), "m-timeout"}, &stdout, &stderr))
	require.Contains(t, stdout.String(), "(paused)")
	require.Contains(t, stdout.String(), "maintenance window")

	stdout.Reset()
	require.Equal(t, exitOK, run([]string{"resume", "--redis-url", r.URL(), "m-timeout"}, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "resumed 2 upload(s)")
	m, err = c.Migration(t.Context(), "m-timeout")
	require.NoError(t, err)
	require.False(t, m.Paused())

	for _, bad := range [][]string{
		{"--max-failures", "0"}, {"--max-failures", "150%"}, {"--max-failures", "x"},
		{"--report-to", "http://x/y"}, {"--report-to", "s3://bucket-only"}, {"--timeout", "1s"},
	} {
		code := run(append([]string{"migrate", "--redis-url", r.URL(), "--bucket", "bkt", "--manifest", path}, bad...), &stdout, &stderr)
		require.Equal(t, exitUsage, code, "%v", bad)
	}
}
