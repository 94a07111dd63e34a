package tasks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/internal/worker"
	"github.com/partflow/partflow/tasks"
)

// A worker with a 64 MiB budget running 16 MiB parts at concurrency 8 holds at most four
// parts' buffers at once; the other tasks wait for their share. Every part is held up at the
// S3 proxy, so without the budget all eight would hold their buffers together.
func TestMemoryBudgetBoundsPartBuffersInFlight(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const partSize, parts = 16 * mib, 8
	sum := writeLargeFile(t, filepath.Join(e.dir, "big"), parts*partSize)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpUploadPart {
			return testenv.Fault{Delay: 500 * time.Millisecond}
		}
		return testenv.Fault{}
	})
	w, err := worker.New(worker.Config{Redis: e.rdb, S3: e.storage, Sources: e.volume, Logger: quietLogger(),
		Concurrency: 8, MemoryBudget: 64 * mib, ShutdownTimeout: 5 * time.Second, Retention: time.Hour,
		PollInterval: 50 * time.Millisecond, JanitorInterval: -1,
		RetryDelay: func(int, error, *asynq.Task) time.Duration { return 50 * time.Millisecond }})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Shutdown)

	id := e.put(t, "big", "big", partSize)
	u := e.wait(t, id)
	require.Equal(t, state.Completed, u.State, "upload ended %s: %s", u.State, u.Error)
	require.Equal(t, parts, u.Parts)
	require.Equal(t, sum, e.objectSHA256(t, "big"))

	peak := w.Budget().Peak()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	t.Logf("peak part buffers in flight: %d MiB of a %d MiB budget; test process peak RSS: %d MiB",
		peak/mib, w.Budget().Size()/mib, ru.Maxrss/1024)
	require.LessOrEqual(t, peak, int64(4*partSize), "at most four 16 MiB parts may be held at once")
	require.GreaterOrEqual(t, peak, int64(partSize), "the parts went through the budget")
	require.Zero(t, w.Budget().InUse(), "every buffer was given back")
}

// writeLargeFile writes size pseudo-random bytes a MiB at a time (so the test's own memory
// stays out of the worker's peak RSS) and returns their SHA-256.
func writeLargeFile(t *testing.T, path string, size int) string {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	chunk := make([]byte, mib)
	for written := 0; written < size; written += len(chunk) {
		_, _ = rng.Read(chunk)
		h.Write(chunk)
		_, err := f.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	return hex.EncodeToString(h.Sum(nil))
}

// An upload whose parts (or single PUT) cannot fit the worker's memory budget fails when it is
// planned, with the reason, before any byte is read or sent.
func TestPlanRefusesPartsLargerThanMemoryBudget(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), MemoryBudget: tasks.NewMemoryBudget(8 * mib)})
	require.NoError(t, err)
	e.writeFile(t, "multipart", 12*mib)
	e.writeFile(t, "single", 9*mib)

	for _, c := range []struct {
		name     string
		partSize int64
	}{{"multipart", 10 * mib}, {"single", 16 * mib}} {
		id := e.put(t, c.name, c.name, c.partSize)
		err := h.HandleStartTask(e.ctx, tasks.NewStartTask(t.Context(), id))
		require.ErrorIs(t, err, asynq.SkipRetry, c.name)
		require.ErrorIs(t, err, tasks.ErrPartTooLarge, c.name)
		u, err := e.store.GetUpload(e.ctx, id)
		require.NoError(t, err)
		require.Equal(t, state.Failed, u.State, c.name)
		require.Contains(t, u.Error, "larger than the worker's memory budget of 8.0 MiB", c.name)
		require.Empty(t, u.S3UploadID, "%s: no multipart upload was started", c.name)
		e.requireNoObject(t, c.name)
	}
	require.Zero(t, e.proxy.Count(testenv.OpCreateMultipartUpload)+e.proxy.Count(testenv.OpPutObject),
		"nothing was sent to S3")
}
