package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/testenv"
)

// TestKeepPrintsCommandsThatWork runs the demo with --keep (small files) in a directory of
// its own, reads the commands it suggests, runs them in bash from that directory as a user
// would, then stops the demo with Ctrl-C.
func TestKeepPrintsCommandsThatWork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the printed commands in")
	}
	versitygw, err := localstack.VersitygwPath() // found from the module root: the demo runs elsewhere
	require.NoError(t, err)
	dir := t.TempDir()
	build := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(dir, "bin")+"/",
		"github.com/partflow/partflow/cmd/enqueuer", "github.com/partflow/partflow/cmd/worker",
		"github.com/partflow/partflow/internal/demo")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build: %s", out)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	demo := exec.CommandContext(ctx, filepath.Join(dir, "bin", "demo"), "--keep", "--bin", "bin", "--big-size", "7MiB")
	demo.Dir = dir
	demo.Env = localstack.IsolatedEnv("PARTFLOW_VERSITYGW=" + versitygw)
	stdout, err := demo.StdoutPipe()
	require.NoError(t, err)
	var stderr testenv.Buffer // exec copies into it while the test reads it
	demo.Stderr = &stderr
	require.NoError(t, demo.Start())
	exited := make(chan struct{})
	var waitErr error
	t.Cleanup(func() {
		_ = demo.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = demo.Process.Kill()
			<-exited
		}
	})

	// Read the output up to the end of the suggested commands; the rest is drained.
	var seen strings.Builder
	var commands []string
	lines := bufio.NewScanner(stdout)
	inCommands := false
	for lines.Scan() {
		line := lines.Text()
		seen.WriteString(line + "\n")
		if strings.HasPrefix(line, "try, in another shell") {
			inCommands = true
			continue
		}
		if inCommands {
			if strings.TrimSpace(line) == "" {
				break
			}
			commands = append(commands, strings.TrimSpace(line))
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout); waitErr = demo.Wait(); close(exited) }()
	require.NotEmpty(t, commands, "waited for the demo's suggested commands; it printed:\n%s\nstderr:\n%s", seen.String(), stderr.String())
	require.Contains(t, seen.String(), "every object matches its file")

	run := exec.CommandContext(ctx, bash, "-e", "-c", strings.Join(commands, "\n"))
	run.Dir = dir
	run.Env = localstack.IsolatedEnv() // the env file the commands source sets what they need
	got, err := run.CombinedOutput()
	require.NoError(t, err, "the suggested commands:\n%s\nprinted:\n%s", strings.Join(commands, "\n"), got)
	require.Contains(t, string(got), "completed partflow-demo/again/big.bin: 7.0 MiB")
	require.Contains(t, string(got), "(completed)", "status of the demo's migration")

	require.NoError(t, demo.Process.Signal(syscall.SIGINT))
	select {
	case <-exited:
		require.NoError(t, waitErr, "the demo exits 0 after Ctrl-C once every object matched")
	case <-ctx.Done():
		t.Fatal("waited for the demo to stop after Ctrl-C")
	}
}
