package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/localstack"
)

// startSlowUpload enqueues a 60 MiB upload in 5 MiB parts and waits until some of its parts
// are recorded, so that a fault injected next lands mid-upload.
func (s *stack) startSlowUpload(t *testing.T) (id, sum string) {
	t.Helper()
	sum = s.writeFile(t, "big", 60*mib)
	r := s.enqueuer(t, "put", "--source", "big", "--bucket", s.bucket, "--key", "big", "--part-size", "5MiB")
	require.Equal(t, 0, r.code, r.stderr)
	id = strings.TrimSpace(r.stdout)
	require.Eventually(t, func() bool {
		st := s.enqueuer(t, "status", id, "--json")
		var u struct {
			PartsDone int `json:"parts_done"`
		}
		return st.code == 0 && json.Unmarshal([]byte(st.stdout), &u) == nil && u.PartsDone >= 2
	}, time.Minute, 20*time.Millisecond, "waiting for 2 parts of %s to be recorded", id)
	return id, sum
}

// finish waits for the upload to end and checks it completed once and byte-identical.
func (s *stack) finish(t *testing.T, id, sum string) {
	t.Helper()
	r := s.enqueuer(t, "status", id, "--watch", "--json")
	require.Equal(t, 0, r.code, "the upload must complete: %s %s", r.stdout, r.stderr)
	var u struct {
		State     string `json:"state"`
		Parts     int    `json:"parts"`
		PartsDone int    `json:"parts_done"`
		BytesDone int64  `json:"bytes_done"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &u))
	require.Equal(t, "completed", u.State)
	require.Equal(t, u.Parts, u.PartsDone, "every part recorded exactly once")
	require.EqualValues(t, 60*mib, u.BytesDone, "no byte counted twice")
	require.Equal(t, sum, s.objectSHA256(t, "big"), "the object must be byte-identical")
	require.Equal(t, 1, s.logCount(t, "UploadCompleted"), "completed exactly once across all workers")
}

// TestKilledWorkerDelaysButLosesNothing SIGKILLs a worker in the middle of an upload. The
// surviving worker sees the dead one's heartbeat stop and reruns its parts (internal/liveness)
// instead of waiting 60–120 s for asynq's lease recovery; the upload completes once,
// byte-identical. The test logs how long the rerun took after the kill.
func TestKilledWorkerDelaysButLosesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	w := s.startWorker(t, "worker-1", "--concurrency", "2", "--bwlimit", "10MiB")
	id, sum := s.startSlowUpload(t)

	port, err := localstack.FreePort()
	require.NoError(t, err)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", port)
	s.startWorker(t, "worker-2", "--concurrency", "4", "--metrics-addr", metricsAddr)
	killed := time.Now()
	require.NoError(t, w.Process.Signal(syscall.SIGKILL))
	_ = w.Wait()
	s.finish(t, id, sum)
	done := time.Since(killed)

	rescued := s.logLines(t, "worker-2", "TaskRescued")
	require.NotEmpty(t, rescued, "worker-2 should have rerun the killed worker's parts")
	var at time.Time
	require.NoError(t, json.Unmarshal([]byte(rescued[0]), &struct {
		Time *time.Time `json:"time"`
	}{&at}))
	t.Logf("SIGKILL → first part rerun on worker-2: %v; → upload completed: %v (%d task(s) rescued)",
		at.Sub(killed).Round(100*time.Millisecond), done.Round(100*time.Millisecond), len(rescued))

	res, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Regexp(t, `(?m)^partflow_tasks_rescued_total\{task="upload:part"\} [1-9]`, string(body),
		"worker-2's metrics count the rescues")
}

// TestRedisRestartDelaysButLosesNothing restarts redis-server (AOF on) in the middle of an
// upload; the workers reconnect and the upload completes.
func TestRedisRestartDelaysButLosesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.startWorker(t, "worker-1", "--concurrency", "2", "--bwlimit", "10MiB")
	s.startWorker(t, "worker-2", "--concurrency", "2", "--bwlimit", "10MiB")
	id, sum := s.startSlowUpload(t)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, s.redis.Restart(ctx))
	s.finish(t, id, sum)
}

// logLines returns the JSON log lines of worker name whose message is msg, in order.
func (s *stack) logLines(t *testing.T, name, msg string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.logs, name+".log"))
	require.NoError(t, err)
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, `"msg":"`+msg+`"`) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}
