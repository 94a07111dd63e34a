package tasks_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/tasks"
)

// TestCancelOfATenThousandPartUploadDropsEveryTask: cancelling an upload of 10,000 parts whose
// part tasks are all queued (pending, retrying and archived) finishes and leaves none of them.
// (Cancel drops them in batches; how long it takes is measured, not asserted.)
func TestCancelOfATenThousandPartUploadDropsEveryTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const parts = 10000
	id, err := e.client.Put(e.ctx, clientReq("f", e.bucket))
	require.NoError(t, err)
	u, err := e.store.Get(e.ctx, id)
	require.NoError(t, err)
	out, err := e.store.StartUploading(e.ctx, id, u.Version, state.Plan{Size: parts * 5 * mib, Fingerprint: "fp",
		PartSize: 5 * mib, Parts: parts, S3UploadID: "s3-upload-id"})
	require.NoError(t, err)
	require.Equal(t, state.OK, out.Result)
	u, err = e.store.Get(e.ctx, id)
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
