package main

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/partflow/partflow/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const token = "cmd-test-token-0123456789"

// monitorRun is one run of the command.
type monitorRun struct {
	addr   chan string
	code   chan int
	stderr string // path of its stderr
	cancel context.CancelFunc
}

// start runs the command with args in the background until the test stops it.
func start(t *testing.T, args ...string) *monitorRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &monitorRun{addr: make(chan string, 1), code: make(chan int, 1), cancel: cancel,
		stderr: filepath.Join(t.TempDir(), "stderr")}
	f, err := os.Create(r.stderr)
	require.NoError(t, err)
	go func() {
		defer f.Close()
		r.code <- run(ctx, args, f, f, func(a string) { r.addr <- a })
	}()
	t.Cleanup(cancel)
	return r
}

// exit waits for the command to end and returns its exit code and stderr.
func (r *monitorRun) exit(t *testing.T) (int, string) {
	t.Helper()
	select {
	case code := <-r.code:
		out, err := os.ReadFile(r.stderr)
		require.NoError(t, err)
		return code, string(out)
	case <-time.After(30 * time.Second):
		t.Fatal("monitor did not exit within 30s")
		return 0, ""
	}
}

// listening waits for the address the command serves on.
func (r *monitorRun) listening(t *testing.T) string {
	t.Helper()
	select {
	case a := <-r.addr:
		return "http://" + a
	case code := <-r.code:
		out, _ := os.ReadFile(r.stderr)
		t.Fatalf("monitor exited with %d before listening: %s", code, out)
	case <-time.After(30 * time.Second):
		t.Fatal("monitor did not start listening within 30s")
	}
	return ""
}

func get(t *testing.T, url string, auth string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	return res.StatusCode
}

func TestRefusesToStartWithoutToken(t *testing.T) {
	t.Setenv(tokenEnv, "")
	code, out := start(t, "--redis-url", "redis://127.0.0.1:1/0", "--listen", "127.0.0.1:0").exit(t)
	require.Equal(t, 2, code)
	require.Contains(t, out, "refusing to start without a token: set PARTFLOW_MONITOR_TOKEN")
	require.Contains(t, out, "--no-auth")
}

func TestRefusesBadSettings(t *testing.T) {
	r := testenv.Redis(t)
	for name, tc := range map[string]struct {
		token string
		args  []string
		code  int
		want  string
	}{
		"no-auth with a token": {token, []string{"--no-auth"}, 2, "exclude each other"},
		"short token":          {"short", nil, 2, "PARTFLOW_MONITOR_TOKEN must be at least 16 characters"},
		"bad origin":           {token, []string{"--trusted-origins", "ops.example.com"}, 2, "PARTFLOW_MONITOR_TRUSTED_ORIGINS"},
		"unreachable redis":    {token, []string{"--redis-url", "redis://127.0.0.1:1/0"}, 3, "cannot reach Redis"},
		"bad redis url":        {token, []string{"--redis-url", "mysql://x"}, 2, "redisconn"},
		"extra argument":       {token, []string{"serve"}, 2, "unexpected arguments"},
		"bad listen address":   {token, []string{"--listen", "127.0.0.1:99999"}, 2, "listen"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(tokenEnv, tc.token)
			args := append([]string{"--redis-url", r.URL(), "--listen", "127.0.0.1:0"}, tc.args...)
			code, out := start(t, args...).exit(t)
			require.Equal(t, tc.code, code, out)
			require.Contains(t, out, tc.want)
		})
	}
}

// The command serves with the token from the environment and shuts down on its context (the
// signal) even while an event stream is open.
func TestServesAndShutsDownGracefully(t *testing.T) {
	r := testenv.Redis(t)
	t.Setenv(tokenEnv, token)
	run := start(t, "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--log-format", "json", "--read-only")
	base := run.listening(t)

	require.Equal(t, http.StatusOK, get(t, base+"/healthz", ""))
	require.Equal(t, http.StatusOK, get(t, base+"/readyz", ""))
	require.Equal(t, http.StatusUnauthorized, get(t, base+"/", ""))
	require.Equal(t, http.StatusUnauthorized, get(t, base+"/monitoring/api/queues", ""))
	require.Equal(t, http.StatusOK, get(t, base+"/", "Bearer "+token))
	require.Equal(t, http.StatusOK, get(t, base+"/monitoring/api/queues", "Bearer "+token))
	res, err := http.Post(base+"/actions/resume", "application/x-www-form-urlencoded", strings.NewReader("id=m1"))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)

	req, err := http.NewRequest(http.MethodGet, base+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	stream, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	line, err := bufio.NewReader(stream.Body).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "retry: 3000\n", line)

	begin := time.Now()
	run.cancel() // as SIGTERM does
	code, out := run.exit(t)
	require.Equal(t, 0, code, out)
	require.Less(t, time.Since(begin), 5*time.Second, "an open event stream must not hold up the shutdown")
	require.Contains(t, out, `"msg":"MonitorStarted"`)
	require.Contains(t, out, `"read_only":true`)
	require.Contains(t, out, `"msg":"MonitorStopped"`)
	require.NotContains(t, out, token, "the token is never logged")
}

func TestNoAuthWarnsLoudly(t *testing.T) {
	r := testenv.Redis(t)
	t.Setenv(tokenEnv, "")
	run := start(t, "--redis-url", r.URL(), "--listen", "127.0.0.1:0", "--no-auth", "--log-format", "text")
	base := run.listening(t)
	require.Equal(t, http.StatusOK, get(t, base+"/", ""))
	require.Equal(t, http.StatusOK, get(t, base+"/monitoring/api/queues", ""))
	run.cancel()
	code, out := run.exit(t)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "level=WARN msg=AuthenticationDisabled")
	require.Contains(t, out, "ANYONE WHO CAN REACH")
}
