package localstack_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
)

// startSh starts `sh -c script` logging to a file in a temp dir.
func startSh(t *testing.T, script string) *localstack.Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "sh.log")
	p, err := localstack.StartProcess(localstack.ProcessConfig{Bin: "/bin/sh", Args: []string{"-c", script}, LogPath: logPath})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	return p
}

// waitLog waits until the process's log contains s.
func waitLog(t *testing.T, p *localstack.Process, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(p.LogTail(), s) }, 10*time.Second, 10*time.Millisecond,
		"waited for %q in %s", s, p.LogPath())
}

func TestProcessStop(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "sleep.log")
	require.NoError(t, os.WriteFile(logPath, []byte("from an earlier run\n"), 0o644))
	p, err := localstack.StartProcess(localstack.ProcessConfig{Bin: "/bin/sh",
		Args: []string{"-c", "echo one; echo two >&2; exec sleep 60"}, LogPath: logPath})
	require.NoError(t, err)
	require.Equal(t, "sh", p.Name(), "the name defaults to the binary's")
	require.Equal(t, logPath, p.LogPath())
	require.Positive(t, p.Pid())

	waitLog(t, p, "two")
	require.Equal(t, "one\ntwo", p.LogTail(), "stdout and stderr, only what this process wrote")
	require.False(t, p.Exited())

	require.NoError(t, p.Stop(5*time.Second))
	require.True(t, p.Exited())
	var exitErr *exec.ExitError
	require.ErrorAs(t, p.Wait(), &exitErr)
	require.Equal(t, "signal: terminated", exitErr.Error())
	require.NoError(t, p.Stop(5*time.Second), "Stop is idempotent")

	b, err := os.ReadFile(logPath)
	require.NoError(t, err)
	require.Equal(t, "from an earlier run\none\ntwo\n", string(b), "the log is appended to")
}

func TestProcessStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	p := startSh(t, `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	waitLog(t, p, "ready")
	start := time.Now()
	require.NoError(t, p.Stop(300*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "SIGKILL only after the grace period")
	require.EqualError(t, p.Wait(), "signal: killed")
}

func TestProcessExitedOnItsOwn(t *testing.T) {
	t.Parallel()
	p := startSh(t, "echo boom >&2; exit 3")
	require.Eventually(t, p.Exited, 10*time.Second, 10*time.Millisecond)
	var exitErr *exec.ExitError
	require.ErrorAs(t, p.Wait(), &exitErr)
	require.Equal(t, 3, exitErr.ExitCode())

	err := p.Stop(time.Second)
	require.ErrorContains(t, err, "localstack: sh exited before it was stopped (exit status 3)")
	require.ErrorContains(t, err, "boom", "the error carries the log tail")
	require.NoError(t, p.Stop(time.Second), "only the first Stop reports it")
}

func TestProcessLogTailLastLines(t *testing.T) {
	t.Parallel()
	// 30 lines of 1000 bytes: more than LogTail reads, so the read starts inside a line.
	p := startSh(t, `i=1; while [ $i -le 30 ]; do printf "%04d%0996d\n" $i 0; i=$((i+1)); done; echo done`)
	require.Eventually(t, p.Exited, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Wait())
	lines := strings.Split(p.LogTail(), "\n")
	require.Len(t, lines, 17, "16 KiB hold 16 whole lines of 1000 bytes and the last one")
	require.Equal(t, "done", lines[len(lines)-1])
	for _, l := range lines[:len(lines)-1] {
		require.Len(t, l, 1000, "no partial line")
	}
	require.True(t, strings.HasPrefix(lines[0], "0015"))
}

func TestStartProcessFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := localstack.StartProcess(localstack.ProcessConfig{Name: "nope", Bin: filepath.Join(dir, "missing"),
		LogPath: filepath.Join(dir, "nope.log")})
	require.ErrorContains(t, err, "localstack: start nope:")
	_, err = localstack.StartProcess(localstack.ProcessConfig{Bin: "/bin/sh"})
	require.ErrorContains(t, err, "LogPath is empty")
}

func TestStopAll(t *testing.T) {
	t.Parallel()
	running := startSh(t, "exec sleep 60")
	exited := startSh(t, "exit 0")
	require.Eventually(t, exited.Exited, 10*time.Second, 10*time.Millisecond)
	errs := localstack.StopAll(5*time.Second, running, nil, exited)
	require.Len(t, errs, 3)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1], "nil processes are skipped")
	require.ErrorContains(t, errs[2], "exited before it was stopped")
	require.True(t, running.Exited())
}

func TestIsolatedEnv(t *testing.T) {
	t.Setenv("PARTFLOW_REDIS_URL", "redis://elsewhere:6379/0")
	t.Setenv("AWS_PROFILE", "prod")
	t.Setenv("LOCALSTACK_TEST_KEEP", "1")
	env := localstack.IsolatedEnv("PARTFLOW_REDIS_URL=redis://127.0.0.1:1/0")
	require.Contains(t, env, "LOCALSTACK_TEST_KEEP=1")
	require.NotContains(t, env, "AWS_PROFILE=prod")
	require.Equal(t, []string{"PARTFLOW_REDIS_URL=redis://127.0.0.1:1/0"},
		slices.DeleteFunc(env, func(kv string) bool { return !strings.HasPrefix(kv, "PARTFLOW_") }))
}
