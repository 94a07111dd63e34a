package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
)

// TestUnreachableRedisPrintsOnlyOurMessage: with nothing listening on the Redis port, the
// enqueuer's stderr holds its own message and none of go-redis's log lines.
func TestUnreachableRedisPrintsOnlyOurMessage(t *testing.T) {
	t.Parallel()
	port, err := localstack.FreePort() // closed again: nothing listens there
	require.NoError(t, err)
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	for _, args := range [][]string{
		{"put", "--source", "a", "--bucket", "bucket", "--key", "k"},
		{"status", "m-0123456789abcdef0123"},
		{"list"},
	} {
		cmd := exec.Command(filepath.Join(binDir, "enqueuer"), append(args, "--redis-url", url)...)
		cmd.Env = localstack.IsolatedEnv()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%v", args)
		require.Equal(t, 3, exit.ExitCode(), "%v: %s", args, stderr.String())
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		require.Len(t, lines, 1, "%v: one line of stderr, ours; got:\n%s", args, stderr.String())
		require.True(t, strings.HasPrefix(lines[0], "enqueuer: "), "%v: %s", args, lines[0])
		require.Contains(t, lines[0], "cannot reach Redis")
		require.NotContains(t, stderr.String(), "pool.go")
	}
}

// TestWorkerRefusesConcurrencyBelowOne: asynq would take 0 as one task per CPU; the worker
// refuses it (and negative values), from the flag and from the environment.
func TestWorkerRefusesConcurrencyBelowOne(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		env  string
	}{
		{args: []string{"--concurrency", "0"}},
		{args: []string{"--concurrency=-3"}},
		{env: "PARTFLOW_CONCURRENCY=0"},
	} {
		cmd := exec.Command(filepath.Join(binDir, "worker"), append(c.args, "--volume-root", t.TempDir())...)
		cmd.Env = localstack.IsolatedEnv()
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%v %s: %s", c.args, c.env, out)
		require.Equal(t, 2, exit.ExitCode(), "%v %s: %s", c.args, c.env, out)
		require.Contains(t, string(out), "--concurrency (PARTFLOW_CONCURRENCY) must be at least 1")
	}
}

// TestPutChecksVolumeFileAtOnce: an enqueuer that sees the volume (--volume-root, here from
// PARTFLOW_VOLUME_ROOT) refuses a put of a file that is not there with exit 2, and enqueues
// nothing; a file that is there, and a URL, are enqueued.
func TestPutChecksVolumeFileAtOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.writeFile(t, "there/file", 10)
	require.NoError(t, os.Symlink("/etc/hostname", filepath.Join(s.volume, "escape")))
	for _, c := range []struct{ src, message string }{
		{"missing", "missing: no such file below the volume root"},
		{"there/missing", "no such file below the volume root"},
		{"there", "there is a directory"},
		{"escape", "symlink leads outside the volume root"},
	} {
		r := s.enqueuer(t, "put", "--source", c.src, "--bucket", s.bucket, "--key", "k")
		require.Equal(t, 2, r.code, "%s: %s", c.src, r.stderr)
		require.Contains(t, r.stderr, c.message, c.src)
	}
	keys, err := s.redisKeys()
	require.NoError(t, err)
	require.Empty(t, keys, "a refused put enqueues nothing")

	r := s.enqueuer(t, "put", "--source", "there/file", "--bucket", s.bucket, "--key", "k")
	require.Equal(t, 0, r.code, r.stderr)
	r = s.enqueuer(t, "put", "--source", "https://example.com/x", "--bucket", s.bucket, "--key", "k")
	require.Equal(t, 0, r.code, r.stderr)
}

// TestResumeCountsEachUploadOnce: a manifest migration with failed uploads (the issue had 5;
// more make the race below certain), re-run with the same (derived) ID, then resumed while a
// worker fails the resumed uploads again at once: resume says how many it resumed, each once,
// however fast they fail again (it counted re-failed ones again as it paged on).
func TestResumeCountsEachUploadOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.writeFile(t, "ok", 10)
	s.startWorker(t, "worker", "--concurrency", "4")
	var manifest strings.Builder
	manifest.WriteString(`{"source":"ok","key":"ok"}` + "\n")
	const failing = 100
	for i := range failing {
		fmt.Fprintf(&manifest, `{"source":"missing/%d","key":"gone/%d"}`+"\n", i, i)
	}
	args := []string{"migrate", "--bucket", s.bucket, "--manifest", "-", "--wait", "--json"}
	r := s.run(t, strings.NewReader(manifest.String()), args...)
	require.Equal(t, 1, r.code, r.stderr)
	first := decodeMigrate(t, r)
	require.EqualValues(t, failing, first.Report.Failed)

	r = s.run(t, strings.NewReader(manifest.String()), args...)
	require.Equal(t, 1, r.code, r.stderr)
	again := decodeMigrate(t, r)
	require.Equal(t, first.MigrationID, again.MigrationID, "a re-run carries on the same migration")
	require.EqualValues(t, failing+1, again.Enqueue.Existing)
	require.EqualValues(t, failing, again.Report.Failed)

	for range 3 {
		r = s.run(t, nil, "resume", first.MigrationID)
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, fmt.Sprintf("resumed %d upload(s) of %s; 0 left alone\n", failing, first.MigrationID), r.stdout)
		r = s.run(t, nil, "status", first.MigrationID, "--watch", "--json")
		require.Equal(t, 1, r.code, r.stderr)
		var rep reportOutput
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
		require.EqualValues(t, failing, rep.Failed, "the missing files fail again")
	}
}

// TestEnqueuerQuietAndVerbose: -q leaves stderr empty (results still on stdout), -v adds a
// progress line per change and the Redis client's own log lines; both at once is a usage error.
func TestEnqueuerQuietAndVerbose(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.writeFile(t, "f", 6*mib)
	s.writeFile(t, "tree/a", 10)
	s.startWorker(t, "worker")

	r := s.enqueuer(t, "put", "-q", "--source", "f", "--bucket", s.bucket, "--key", "quiet", "--part-size", "5MiB", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr, "-q: nothing on stderr")
	require.Contains(t, r.stdout, "completed "+s.bucket+"/quiet")
	r = s.enqueuer(t, "migrate", "-q", "--bucket", s.bucket, "--source", "tree", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr, "-q: nothing on stderr")
	require.Contains(t, r.stdout, "uploads    1: 1 completed")

	r = s.enqueuer(t, "put", "--source", "f", "--bucket", s.bucket, "--key", "normal", "--part-size", "5MiB", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "enqueued upload")

	r = s.enqueuer(t, "migrate", "-v", "--bucket", s.bucket, "--source", "tree", "--id", "verbose", "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stderr, "checked 1 items")
	// Every change is a line; without -v the first and the last would be (5s apart at most).
	require.Contains(t, r.stderr, "migration verbose: 1/1 objects")

	port, err := localstack.FreePort()
	require.NoError(t, err)
	r = s.enqueuer(t, "list", "-v", "--redis-url", fmt.Sprintf("redis://127.0.0.1:%d/0", port))
	require.Equal(t, 3, r.code, r.stderr)
	require.Contains(t, r.stderr, "component=go-redis", "-v shows the Redis client's own lines")
	require.Contains(t, r.stderr, "enqueuer: cannot reach Redis")

	r = s.enqueuer(t, "list", "-q", "-v")
	require.Equal(t, 2, r.code, r.stderr)
	require.Contains(t, r.stderr, "-q and -v exclude each other")
}
