package tasks_test

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/partflow/partflow/internal/state"
	"github.com/partflow/partflow/storage"
	"github.com/partflow/partflow/tasks"
)

// TestLastPartFinalizesInline: the part that completes the set completes the upload in its own
// task (no upload:finalize goes through the queue), exactly once: the same part redelivered
// afterwards finds it completed and changes nothing.
func TestLastPartFinalizesInline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h, err := tasks.NewHandlers(tasks.Config{Store: e.store, S3: e.storage, Sources: e.volume, Queue: e.queue,
		Logger: quietLogger(), Tasks: asynq.NewInspectorFromRedisClient(e.rdb)})
	require.NoError(t, err)
	sum := e.writeFile(t, "f", 2*5*mib+123)
	id := e.put(t, "f", "k", storage.MinPartSize)
	u := e.plan(t, id)
	count := completedEvents(t, e.rdb, id)
	for run := range 2 { // the second run is a redelivery of every part
		for n := 1; n <= u.Parts; n++ {
			require.NoError(t, h.HandlePartTask(e.ctx, tasks.NewPartTask(t.Context(), u, n, tasks.QueueDefault)), "run %d part %d", run, n)
		}
		got, err := e.store.GetUpload(e.ctx, id)
		require.NoError(t, err)
		require.Equal(t, state.Completed, got.State, "run %d: %s", run, got.Error)
	}
	require.Equal(t, sum, e.objectSHA256(t, "k"))
	_, err = asynq.NewInspectorFromRedisClient(e.rdb).GetTaskInfo(tasks.QueueHigh, tasks.FinalizeTaskID(id))
	require.ErrorIs(t, err, asynq.ErrTaskNotFound, "no finalizer task was enqueued")
	require.Equal(t, 1, count(), "one transition to completed")
}
