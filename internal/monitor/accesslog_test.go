package monitor_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/monitor"
	"github.com/partflow/partflow/internal/testenv"
)

// TestAccessLog: one "Request" line per request with method, path, status, duration and
// bytes; no query string, token or Authorization value; health checks only at debug level.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	b := setup(t, func(c *monitor.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	const secret = "query-secret-value"
	b.get(t, "/api/migrations?limit=5&token="+secret)
	res, _ := b.do(t, request{path: "/api/migrations", noAuth: true,
		header: http.Header{"Authorization": {"Bearer wrong-token-" + secret}}})
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	b.do(t, request{path: "/healthz"})

	type line struct {
		Msg      string   `json:"msg"`
		Method   string   `json:"method"`
		Path     string   `json:"path"`
		Status   int      `json:"status"`
		Duration *float64 `json:"duration_ms"`
		Bytes    int64    `json:"bytes"`
	}
	var got []line
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = got[:0]
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var ln line
			if json.Unmarshal([]byte(l), &ln) == nil && ln.Msg == "Request" {
				got = append(got, ln)
			}
		}
		if len(got) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Len(t, got, 2, "waited for two access log lines (the health check is at debug); log:\n%s", logs.String())
	for i, status := range []int{http.StatusOK, http.StatusUnauthorized} {
		require.Equal(t, http.MethodGet, got[i].Method)
		require.Equal(t, "/api/migrations", got[i].Path, "no query string")
		require.Equal(t, status, got[i].Status)
		require.NotNil(t, got[i].Duration)
		require.Positive(t, got[i].Bytes)
	}
	all := logs.String()
	require.NotContains(t, all, secret)
	require.NotContains(t, all, testToken)
	require.NotContains(t, all, "Bearer")
}
