package localstack_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
)

// fakeWorkerArg as the first argument makes the test binary a fake cmd/worker: it prints the
// variables the real worker reads and runs an asynq server until SIGTERM.
const fakeWorkerArg = "localstack-test-fake-worker"

var workerVars = []string{"PARTFLOW_REDIS_URL", "PARTFLOW_S3_ENDPOINT", "PARTFLOW_VOLUME_ROOT",
	"PARTFLOW_LOG_FORMAT", "PARTFLOW_METRICS_ADDR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}

func fakeWorker() int {
	for _, name := range workerVars {
		fmt.Printf("%s=%s\n", name, os.Getenv(name))
	}
	fmt.Printf("args=%s\n", strings.Join(os.Args[2:], " "))
	opt, err := asynq.ParseRedisURI(os.Getenv("PARTFLOW_REDIS_URL"))
	if err != nil {
		fmt.Println(err)
		return 1
	}
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, LogLevel: asynq.WarnLevel})
	if err := srv.Run(asynq.NewServeMux()); err != nil { // until SIGTERM
		fmt.Println(err)
		return 1
	}
	return 0
}

// workersConfig starts a redis-server and returns it with a config that starts the test
// binary as fake workers using it.
func workersConfig(t *testing.T, count int) (localstack.WorkersConfig, *localstack.Redis) {
	t.Helper()
	r, err := localstack.StartRedis(ctx(t), localstack.RedisConfig{Dir: t.TempDir(), Password: "pw"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Stop() })
	self, err := os.Executable()
	require.NoError(t, err)
	return localstack.WorkersConfig{
		Bin: self, Count: count, Args: []string{fakeWorkerArg, "--concurrency", "3"},
		RedisURL: r.URL(), VolumeRoot: "volume", LogDir: t.TempDir(),
		S3: &localstack.S3{Endpoint: "http://127.0.0.1:1", AccessKey: "ak", SecretKey: "sk"},
	}, r
}

// logVars returns the NAME=value lines a fake worker printed.
func logVars(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	vars := map[string]string{}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			vars[k] = v
		}
	}
	return vars
}

func TestStartWorkers(t *testing.T) {
	t.Parallel()
	cfg, r := workersConfig(t, 2)
	workers, err := localstack.StartWorkers(ctx(t), cfg)
	require.NoError(t, err)
	require.Len(t, workers, 2)

	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr(), Password: r.Password()})
	defer insp.Close()
	servers, err := insp.Servers()
	require.NoError(t, err)
	var pids []int
	for _, s := range servers {
		pids = append(pids, s.PID)
	}
	metricsAddrs := map[string]bool{}
	absVolume, err := filepath.Abs("volume")
	require.NoError(t, err)
	for i, w := range workers {
		name := fmt.Sprintf("worker-%d", i+1)
		require.Equal(t, name, w.Name())
		require.Equal(t, filepath.Join(cfg.LogDir, name+".log"), w.LogPath())
		require.Contains(t, pids, w.Pid(), "StartWorkers returns once every worker registered")
		require.False(t, w.Exited())

		vars := logVars(t, w.LogPath())
		require.Equal(t, r.URL(), vars["PARTFLOW_REDIS_URL"])
		require.Equal(t, "http://127.0.0.1:1", vars["PARTFLOW_S3_ENDPOINT"])
		require.Equal(t, absVolume, vars["PARTFLOW_VOLUME_ROOT"])
		require.Equal(t, "text", vars["PARTFLOW_LOG_FORMAT"])
		require.Equal(t, "ak", vars["AWS_ACCESS_KEY_ID"])
		require.Equal(t, "sk", vars["AWS_SECRET_ACCESS_KEY"])
		require.Equal(t, "us-east-1", vars["AWS_REGION"])
		require.Equal(t, "--concurrency 3", vars["args"])
		addr := vars["PARTFLOW_METRICS_ADDR"]
		require.Regexp(t, regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`), addr)
		metricsAddrs[addr] = true
	}
	require.Len(t, metricsAddrs, 2, "every worker gets its own metrics address")

	for _, err := range localstack.StopAll(10*time.Second, workers...) {
		require.NoError(t, err)
	}
	for _, w := range workers {
		require.NoError(t, w.Wait(), "the fake worker shuts down cleanly on SIGTERM")
	}
}

func TestStartWorkersExitAtStart(t *testing.T) {
	t.Parallel()
	cfg, _ := workersConfig(t, 1)
	cfg.Bin, cfg.Args = "/bin/sh", []string{"-c", "echo no such flag >&2; exit 2"}
	workers, err := localstack.StartWorkers(ctx(t), cfg)
	require.Nil(t, workers)
	require.ErrorContains(t, err, "worker-1 exited at start (exit status 2); its log "+filepath.Join(cfg.LogDir, "worker-1.log")+":\nno such flag")
}

func TestStartWorkersCanceled(t *testing.T) {
	t.Parallel()
	cfg, _ := workersConfig(t, 1)
	cfg.Bin, cfg.Args = "/bin/sh", []string{"-c", "echo $$; exec sleep 60"} // never registers
	c, cancel := context.WithTimeout(ctx(t), 500*time.Millisecond)
	defer cancel()
	workers, err := localstack.StartWorkers(c, cfg)
	require.Nil(t, workers)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	b, err := os.ReadFile(filepath.Join(cfg.LogDir, "worker-1.log"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "StartWorkers stopped the worker it started")
}

func TestStartWorkersBadConfig(t *testing.T) {
	t.Parallel()
	_, err := localstack.StartWorkers(ctx(t), localstack.WorkersConfig{Bin: "/bin/true", Count: 1})
	require.ErrorContains(t, err, "WorkersConfig needs")
}
