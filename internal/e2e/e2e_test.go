// Package e2e runs the real binaries (cmd/enqueuer, cmd/worker) against real servers.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
	"github.com/partflow/partflow/internal/testenv"
)

const mib = 1 << 20

var binDir string // where TestMain built the commands

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "partflow-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/partflow/partflow/cmd/enqueuer",
		"github.com/partflow/partflow/cmd/worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build commands:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one test's servers, volume and bucket.
type stack struct {
	redis *localstack.Redis // nil for a Redis Cluster or Sentinel stack (see redisURL)
	// redisURL is what the commands get as PARTFLOW_REDIS_URL, with
	// PARTFLOW_REDIS_CLUSTER=true when redisCluster.
	redisURL     string
	redisCluster bool
	s3           *localstack.S3
	direct       *minio.Client
	bucket       string
	volume       string
	logs         string
	extraEnv     []string // more environment for the commands (after the rest: it wins)
}

func newStack(t *testing.T) *stack {
	t.Helper()
	r := testenv.Redis(t)
	s := newStackWith(t, r.URL(), false)
	s.redis = r
	return s
}

// newStackWith is newStack with a Redis that the test started (a cluster, sentinels).
func newStackWith(t *testing.T, redisURL string, cluster bool) *stack {
	t.Helper()
	s := &stack{redisURL: redisURL, redisCluster: cluster, s3: testenv.S3(t), volume: t.TempDir(), logs: t.TempDir()}
	s.direct = testenv.MinioClient(t, s.s3.Endpoint, s.s3)
	s.bucket = testenv.Bucket(t, s.s3)
	return s
}

func (s *stack) env() []string {
	env := append(os.Environ(), "PARTFLOW_REDIS_URL="+s.redisURL, "PARTFLOW_S3_ENDPOINT="+s.s3.Endpoint,
		"PARTFLOW_VOLUME_ROOT="+s.volume, "AWS_ACCESS_KEY_ID="+s.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.s3.SecretKey,
		"PARTFLOW_REDIS_CLUSTER="+strconv.FormatBool(s.redisCluster))
	env = append(env, s.extraEnv...)
	return env
}

// startWorker starts a worker process; it is stopped with SIGTERM when the test ends.
func (s *stack) startWorker(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(s.logs, name+".log"))
	require.NoError(t, err)
	port, err := localstack.FreePort()
	require.NoError(t, err)
	cmd := exec.Command(filepath.Join(binDir, "worker"), args...)
	cmd.Env = append(s.env(), "PARTFLOW_LOG_FORMAT=json", fmt.Sprintf("PARTFLOW_METRICS_ADDR=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, tail(b, 4000))
		}
	})
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
}

// enqueuer runs the enqueuer command to its end.
func (s *stack) enqueuer(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "enqueuer"), args...)
	cmd.Env = s.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err, "running enqueuer %v", args)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// writeFile writes size pseudo-random bytes into the volume and returns their SHA-256.
func (s *stack) writeFile(t *testing.T, name string, size int64) string {
	t.Helper()
	path := filepath.Join(s.volume, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16), byte(size >> 24)})
	_, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(src, size))
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

func (s *stack) objectSHA256(t *testing.T, key string) string {
	t.Helper()
	obj, err := s.direct.GetObject(context.Background(), s.bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	h := sha256.New()
	_, err = io.Copy(h, obj)
	require.NoError(t, err, "reading back %s", key)
	return hex.EncodeToString(h.Sum(nil))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

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

// requireNoMultipart checks that no incomplete multipart upload is left in the bucket.
func (s *stack) requireNoMultipart(t *testing.T) {
	t.Helper()
	var left []string
	for info := range s.direct.ListIncompleteUploads(context.Background(), s.bucket, "", true) {
		left = append(left, info.Key)
	}
	require.Empty(t, left, "no incomplete multipart upload may be left")
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

func (s *stack) redisKeys() ([]string, error) {
	out, err := exec.Command("redis-cli", "-u", s.redis.URL(), "--raw", "KEYS", "*").Output()
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
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
