package e2e

// This file holds the stack every end-to-end test of the real binaries runs on: its servers,
// volume and bucket, the commands built once by TestMain, and the helpers that run them and
// check what they wrote.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/redis/go-redis/v9"
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
	extraEnv     []string // appended to every command's environment (later entries win)
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
	return append(append(os.Environ(), "PARTFLOW_REDIS_URL="+s.redisURL, "PARTFLOW_S3_ENDPOINT="+s.s3.Endpoint,
		"PARTFLOW_VOLUME_ROOT="+s.volume, "AWS_ACCESS_KEY_ID="+s.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.s3.SecretKey,
		"PARTFLOW_REDIS_CLUSTER="+strconv.FormatBool(s.redisCluster)), s.extraEnv...)
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

// enqueuer runs the enqueuer command to its end (up to five minutes), without stdin.
func (s *stack) enqueuer(t *testing.T, args ...string) result {
	t.Helper()
	return s.run(t, nil, args...)
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
	return testenv.ObjectSHA256(t, s.direct, s.bucket, key)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
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

func (s *stack) redisKeys() ([]string, error) {
	out, err := exec.Command("redis-cli", "-u", s.redis.URL(), "--raw", "KEYS", "*").Output()
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// run runs the enqueuer with stdin to its end (up to five minutes).
func (s *stack) run(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "enqueuer"), args...)
	cmd.Env = s.env()
	cmd.Stdin = stdin
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

// stopWorker stops a worker process with SIGTERM and waits for it.
func stopWorker(t *testing.T, w *exec.Cmd) {
	t.Helper()
	require.NoError(t, w.Process.Signal(syscall.SIGTERM))
	_, _ = w.Process.Wait()
}

func (s *stack) rdb(t *testing.T) *redis.Client {
	t.Helper()
	return testenv.RedisClient(t, s.redis)
}

// sha256Of reads an object back (safe to call from any goroutine, unlike objectSHA256).
func (s *stack) sha256Of(key string) (string, error) {
	sum, _, err := localstack.ObjectSHA256(context.Background(), s.direct, s.bucket, key)
	return sum, err
}

// logCount counts the worker log lines (of every worker of the test so far) with event msg.
func (s *stack) logCount(t *testing.T, msg string) int {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(s.logs, "*.log"))
	require.NoError(t, err)
	n := 0
	for _, l := range logs {
		b, err := os.ReadFile(l)
		require.NoError(t, err)
		n += bytes.Count(b, []byte(`"msg":"`+msg+`"`))
	}
	return n
}
