package tasks_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/internal/testenv"
	"github.com/partflow/partflow/tasks"
)

// TestCancelOfATenThousandPartUploadDropsEveryTask: cancelling an upload of 10,000 parts whose
// part tasks are all queued (pending, retrying and archived) finishes and leaves none of them.
// (Cancel drops them in batches; how long it takes is measured, not asserted.)
func TestCancelOfATenThousandPartUploadDropsEveryTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const parts = 10000
	pid, err := e.client.Put(e.ctx, clientReq("f", e.bucket))
	require.NoError(t, err)
	id := state.UploadID(pid)
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	out, err := e.store.StartUploading(e.ctx, id, u.Version, state.UploadPlan{Size: parts * 5 * mib, Fingerprint: "fp",
		PartSize: 5 * mib, Parts: parts, S3UploadID: "s3-upload-id"})
	require.NoError(t, err)
	require.Equal(t, state.ResultOK, out.Result)
	u, err = e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)

	insp := asynq.NewInspectorFromRedisClient(e.rdb)
	for n := 1; n <= parts; n++ {
		_, err := e.queue.EnqueueContext(e.ctx, tasks.NewPartTask(u, n, tasks.QueueDefault))
		require.NoError(t, err)
	}
	for n := 1; n <= 100; n++ { // some are archived, as after a failure
		require.NoError(t, insp.ArchiveTask(tasks.QueueDefault, tasks.PartTaskID(u, n)))
	}

	begin := time.Now()
	res, err := e.client.Cancel(e.ctx, id.String())
	require.NoError(t, err)
	t.Logf("cancel of a %d-part upload took %v", parts, time.Since(begin))
	require.Equal(t, 1, res.Changed)
	info, err := insp.GetQueueInfo(tasks.QueueDefault)
	require.NoError(t, err)
	require.Zero(t, info.Size, "every task of the cancelled upload is gone (pending %d, archived %d)", info.Pending, info.Archived)
}

// TestCancelRacingASinglePutEndsInARecordThatMatchesS3: a cancel that arrives while an object's
// single PutObject is in flight cannot stop it; once it lands, the record must say what S3
// holds: completed with the object's ETag (partflow does not delete the object, which could
// destroy what the key held before), counted completed in its migration, not cancelled.
func TestCancelRacingASinglePutEndsInARecordThatMatchesS3(t *testing.T) {
	t.Parallel()
	e := setup(t)
	sum := e.writeFile(t, "small", 1000)
	id := e.put(t, "small", "k", 0)

	arrived, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	e.proxy.SetFault(func(r testenv.Request) testenv.Fault {
		if r.Op == testenv.OpPutObject && r.Seq == 1 {
			close(arrived)
			<-release
		}
		return testenv.Fault{}
	})
	done := make(chan error, 1)
	go func() { done <- e.handlers.HandleStartTask(e.ctx, tasks.NewStartTask(id)) }()
	select {
	case <-arrived:
	case <-time.After(time.Minute):
		t.Fatal("the PUT never reached S3")
	}
	_, err := e.client.Cancel(e.ctx, id.String())
	require.NoError(t, err, "the upload is planned: cancel accepts it")
	letGo()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the start task never returned")
	}
	require.NoError(t, err)

	require.Equal(t, sum, e.objectSHA256(t, "k"), "the PUT landed")
	u, err := e.store.GetUpload(e.ctx, id)
	require.NoError(t, err)
	require.Equal(t, state.Completed, u.State, "the record says what S3 holds")
	require.NotEmpty(t, u.ETag)
	require.Empty(t, u.Error)
	m, err := e.store.GetMigration(e.ctx, id.Migration)
	require.NoError(t, err)
	require.Equal(t, [5]int64{1, 1, 0, 1000, 1000}, [5]int64{m.Total, m.Completed, m.Cancelled, m.BytesTotal, m.BytesDone},
		"total, completed, cancelled, bytes total, bytes done")
}
