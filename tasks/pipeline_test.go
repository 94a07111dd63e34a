package tasks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

func TestSizesRoundTrip(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.startWorker(t)
	sizes := []int{0, 1, 5*mib - 1, 5 * mib, 5*mib + 1, 17 * mib}
	ids := map[int]state.UploadID{}
	sums := map[int]string{}
	for _, size := range sizes {
		name := fmt.Sprintf("in/%d.bin", size)
		sums[size] = e.writeFile(t, name, size)
		ids[size] = e.put(t, name, fmt.Sprintf("out/%d.bin", size), storage.MinPartSize)
	}
	for _, size := range sizes {
		u := e.wait(t, ids[size])
		require.Equal(t, state.Completed, u.State, "size %d: %s", size, u.Error)
		require.EqualValues(t, size, u.Size)
		require.Equal(t, sums[size], e.objectSHA256(t, fmt.Sprintf("out/%d.bin", size)), "size %d", size)
	}
	u, err := e.store.GetUpload(e.ctx, ids[17*mib])
	require.NoError(t, err)
	require.Equal(t, 4, u.Parts, "17 MiB in 5 MiB parts")
	require.Equal(t, 2, e.proxy.Count(testenv.OpCompleteMultipartUpload), "5 MiB+1 and 17 MiB go as multipart, one Complete each")
	require.Equal(t, 4, e.proxy.Count(testenv.OpPutObject), "objects of at most one part go as single PUTs")
	e.requireNoMultipart(t)
}

func TestPartRedeliveryRecordsOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sum := e.writeFile(t, "f", 3*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	require.Equal(t, state.Uploading, u.State)
	require.Equal(t, 3, u.Parts)

	// Part 1 twice in a row, part 2 five times at once, part 3 once.
	require.NoError(t, e.runPart(id, 1))
	require.NoError(t, e.runPart(id, 1))
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() { errs <- e.runPart(id, 2) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a concurrent delivery of part 2")
	}
	require.NoError(t, e.runPart(id, 3))

	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, 3, u.PartsDone, "each part recorded once")
	require.EqualValues(t, 15*mib, u.BytesDone, "bytes counted once")
	require.LessOrEqual(t, e.proxy.Count(testenv.OpUploadPart), 1+5+1, "a recorded part is not uploaded again")

	require.NoError(t, e.runFinalize(id))
	require.NoError(t, e.runFinalize(id), "a finalizer after completion is a no-op")
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	require.Equal(t, 1, e.proxy.Count(testenv.OpCompleteMultipartUpload))
}

func TestRedeliveredLastPartEnqueuesFinalizer(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "f", 2*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	e.plan(t, id)
	require.NoError(t, e.runPart(id, 1))
	require.NoError(t, e.runPart(id, 2))

	// Simulate a crash between recording the last part and enqueueing the finalizer.
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	require.NoError(t, insp.DeleteTask(tasks.QueueHigh, id.String()+":finalize"))
	require.NoError(t, e.runPart(id, 2), "redelivery of the recorded last part")
	info, err := insp.GetTaskInfo(tasks.QueueHigh, id.String()+":finalize")
	require.NoError(t, err, "the redelivered part must enqueue the finalizer again")
	require.Equal(t, tasks.TypeFinalize, info.Type)
}

func TestCorruptedPartIsRejectedAndRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var corrupted atomic.Int32
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		// The first two attempts at part 2 lose a bit on the wire.
		return testenv.Fault{CorruptBody: r.Op == testenv.OpUploadPart && r.PartNumber == 2 && corrupted.Add(1) <= 2}
	})
	e.startWorker(t)
	sum := e.writeFile(t, "f", 3*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.wait(t, id)
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	require.Equal(t, 2, e.proxy.CountStatus(testenv.OpUploadPart, 400), "both corrupted attempts must be refused (BadDigest)")
}

func TestSourceChangedBetweenPartsFailsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.writeFile(t, "f", 3*5*mib)
	id := e.put(t, "f", "k", storage.MinPartSize)
	e.plan(t, id)
	require.NoError(t, e.runPart(id, 1))

	path := filepath.Join(e.dir, "f")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("changed"), 6*mib)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, os.Chtimes(path, time.Now(), time.Now().Add(time.Second)))

	err = e.runPart(id, 2)
	require.ErrorIs(t, err, asynq.SkipRetry)
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Failed, u.State)
	require.Contains(t, u.Error, "source changed")

	require.NoError(t, e.runPart(id, 3), "a late part of a failed upload does nothing")
	e.requireNoObject(t, "k")
	e.requireNoMultipart(t)
}

func TestBadSourcesFailWithAReason(t *testing.T) {
	t.Parallel()
	e := setup(t)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(e.dir, "escape")))
	require.NoError(t, os.Mkdir(filepath.Join(e.dir, "adir"), 0o755))
	e.writeFile(t, "small", 10)
	e.writeFile(t, "big", 6*mib)
	e.startWorker(t)

	cases := []struct{ src, bucket, reason string }{
		{"escape", e.bucket, "escapes the volume root"},
		{"missing.bin", e.bucket, "no such file"},
		{"adir", e.bucket, "is a directory"},
		{"small", "no-such-bucket-pf", "bucket"},
		{"big", "no-such-bucket-pf", "bucket"},
	}
	for _, c := range cases {
		id, err := e.client.Put(e.ctx, clientReq(c.src, c.bucket))
		require.NoError(t, err)
		u := e.wait(t, state.UploadID(id))
		require.Equal(t, state.Failed, u.State, c.src)
		require.Contains(t, u.Error, c.reason, c.src)
	}

	// A record that bypassed validation (written by hand, or by an older enqueuer).
	for _, src := range []string{"../etc/passwd", "/etc/passwd"} {
		mid := state.NewMigrationID()
		_, err := e.store.CreateMigration(e.ctx, state.NewMigration{ID: mid, Bucket: e.bucket, Queue: tasks.QueueDefault})
		require.NoError(t, err)
		id := state.DeriveUploadID(mid, src)
		_, err = e.store.CreateUpload(e.ctx, state.NewUpload{ID: id, Source: src, Bucket: e.bucket, Key: "k"})
		require.NoError(t, err)
		_, err = e.queue.Enqueue(tasks.NewStartTask(id))
		require.NoError(t, err)
		u := e.wait(t, id)
		require.Equal(t, state.Failed, u.State, src)
		require.Regexp(t, `contains '\.\.'|is absolute`, u.Error, src)
	}
}

func TestMalformedPayloadsAreArchivedNotCrashing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.startWorker(t)
	garbage := []*asynq.Task{
		asynq.NewTask(tasks.TypePart, []byte("not json"), asynq.TaskID("g1")),
		asynq.NewTask(tasks.TypePart, []byte(`{"upload_id":"x{y}:z","part":1}`), asynq.TaskID("g2")),
		asynq.NewTask(tasks.TypeStart, []byte(`{"upload_id":"abc.0123456789abcdef"}`), asynq.TaskID("g3")),
		asynq.NewTask(tasks.TypeFinalize, nil, asynq.TaskID("g4")),
	}
	for _, task := range garbage {
		_, err := e.queue.Enqueue(task, asynq.Queue(tasks.QueueDefault))
		require.NoError(t, err)
	}
	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	require.Eventually(t, func() bool {
		archived, err := insp.ListArchivedTasks(tasks.QueueDefault)
		return err == nil && len(archived) == len(garbage)
	}, time.Minute, 20*time.Millisecond, "waiting for all %d malformed tasks to be archived without retries", len(garbage))
	archived, err := insp.ListArchivedTasks(tasks.QueueDefault)
	require.NoError(t, err)
	for _, a := range archived {
		require.Zero(t, a.Retried, a.ID)
		require.Regexp(t, "malformed|does not exist", a.LastErr, a.ID)
	}

	// The worker is still alive: a real upload goes through.
	sum := e.writeFile(t, "ok", 100)
	u := e.wait(t, e.put(t, "ok", "ok", 0))
	require.Equal(t, state.Completed, u.State, u.Error)
	require.Equal(t, sum, e.objectSHA256(t, "ok"))
}
