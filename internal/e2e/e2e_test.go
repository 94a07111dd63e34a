// Package e2e runs the real binaries (cmd/enqueuer, cmd/worker) against real servers.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSizesThroughTwoWorkerProcesses is the demo's data set through the real binaries.
func TestSizesThroughTwoWorkerProcesses(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.startWorker(t, "worker-1", "--concurrency", "4")
	s.startWorker(t, "worker-2", "--concurrency", "4")

	sizes := []int64{0, 1, 5*mib - 1, 5 * mib, 5*mib + 1, 200 * mib}
	type upload struct {
		key, sum string
		res      chan result
	}
	var uploads []upload
	for _, size := range sizes {
		name := fmt.Sprintf("data/%d.bin", size)
		u := upload{key: "out/" + name, sum: s.writeFile(t, name, size), res: make(chan result, 1)}
		go func() {
			u.res <- s.enqueuer(t, "put", "--source", name, "--bucket", s.bucket, "--key", u.key,
				"--part-size", "5MiB", "--wait", "--json")
		}()
		uploads = append(uploads, u)
	}
	for i, u := range uploads {
		r := <-u.res
		require.Equal(t, 0, r.code, "put of %d bytes: %s", sizes[i], r.stderr)
		var st struct {
			State string `json:"state"`
			Size  int64  `json:"size"`
			Parts int    `json:"parts"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &st), r.stdout)
		require.Equal(t, "completed", st.State)
		require.Equal(t, sizes[i], st.Size)
		require.Equal(t, u.sum, s.objectSHA256(t, u.key), "object %s must be byte-identical", u.key)
	}
	s.requireNoMultipart(t)
}

func TestEnqueuerRejectsBadInput(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	cases := []struct {
		args    []string
		message string
	}{
		{[]string{"put", "--source", "../etc/passwd", "--bucket", s.bucket, "--key", "k"}, "contains '..'"},
		{[]string{"put", "--source", "/etc/passwd", "--bucket", s.bucket, "--key", "k"}, "is absolute"},
		{[]string{"put", "--source", "a", "--bucket", "Bad_Bucket", "--key", "k"}, "invalid bucket name"},
		{[]string{"put", "--source", "a", "--bucket", s.bucket, "--key", ""}, "empty object key"},
		{[]string{"put", "--source", "a", "--bucket", s.bucket, "--key", "k", "--part-size", "1MiB"}, "part size"},
		{[]string{"put", "--source", "a", "--bucket", s.bucket, "--key", "k", "--part-size", "lots"}, "bad --part-size"},
		{[]string{"status", "no{such}.thing"}, "invalid upload ID"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		r := s.enqueuer(t, c.args...)
		require.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.message, c.args)
	}
	keys, err := s.redisKeys()
	require.NoError(t, err)
	require.Empty(t, keys, "invalid input must enqueue nothing")

	r := s.enqueuer(t, "status", "nosuchmigration")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "no migration nosuchmigration")
}

func TestWorkerMarksBadSourcesFailed(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.volume, "escape")))
	require.NoError(t, os.Mkdir(filepath.Join(s.volume, "dir"), 0o755))
	s.writeFile(t, "ok", 10)
	s.startWorker(t, "worker")

	cases := []struct{ src, bucket, message string }{
		{"escape", s.bucket, "escapes the volume root"},
		{"missing", s.bucket, "no such file on the volume"},
		{"dir", s.bucket, "is a directory"},
		{"ok", "no-such-bucket", "bucket does not exist"},
	}
	for _, c := range cases {
		// Without --volume-root the enqueuer leaves the source to the worker (with it, it
		// would refuse the first three at once: TestPutChecksVolumeFileAtOnce).
		r := s.enqueuer(t, "put", "--volume-root=", "--source", c.src, "--bucket", c.bucket, "--key", "k", "--wait")
		require.Equal(t, 1, r.code, "%s: %s %s", c.src, r.stdout, r.stderr)
		require.Contains(t, r.stdout, "failed", c.src)
		require.Contains(t, r.stdout, c.message, c.src)
	}
}

func TestWorkerExitsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	sum := s.writeFile(t, "big", 64*mib)
	w := s.startWorker(t, "worker-1", "--concurrency", "2", "--shutdown-timeout", "20s")
	r := s.enqueuer(t, "put", "--source", "big", "--bucket", s.bucket, "--key", "big", "--part-size", "5MiB")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)

	// Let the upload get going, then stop the worker.
	require.Eventually(t, func() bool {
		st := s.enqueuer(t, "status", id, "--json")
		var u struct {
			PartsDone int `json:"parts_done"`
		}
		return st.code == 0 && json.Unmarshal([]byte(st.stdout), &u) == nil && u.PartsDone > 0
	}, time.Minute, 50*time.Millisecond, "waiting for the first part of %s", id)
	require.NoError(t, w.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "the worker must exit 0 after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not exit within its shutdown timeout")
	}

	s.startWorker(t, "worker-2")
	r = s.enqueuer(t, "status", id, "--watch", "--json")
	require.Equal(t, 0, r.code, "another worker must complete the upload: %s %s", r.stdout, r.stderr)
	require.Equal(t, sum, s.objectSHA256(t, "big"))
}
